//! The playground trainer's CPU path: its training step compiled into an [`engine::Plan`]
//! (see `engine::host` for why), with the parameters and the optimizer's state on the host.
//!
//! The plan is made from one recorded step of the same experiment, so it is the same graph, node
//! for node, as the burn path's tape; each step then writes the batch and the dropout masks into
//! its leaves, drawn from the same streams in the same order, runs it, and updates the parameters
//! in place with [`Optimizer::update_host`](crate::engine::Optimizer::update_host).
//!
//! While host steps are ahead of the trainer's `model` and `optimizer` (burn tensors), those are
//! stale: every method that reads them calls [`Trainer::settle`] first, and every method that
//! changes them drops the plan (it is made again, from them, at the next step).

pub(super) mod state;

use std::future::Future;
use std::task::{Context, Poll, Waker};

use super::{GridOutputs, OptimizerState, Readout, StepPath, Trainer};
use crate::backend;
use crate::engine::{Kernels, NodeId, Plan, Precision, Role, Shape, T, Tape, read, tensor};

/// A compiled training step and the host state it advances.
#[derive(Clone, Debug)]
pub(super) struct HostStep {
    /// The recording the plan was made from (its structure; shown by the step-by-step view).
    tape: Tape,
    plan: Plan<f32>,
    x: NodeId,
    y: NodeId,
    /// Dropout masks, first layer first (the order `Mlp::forward` draws them in).
    masks: Vec<NodeId>,
    /// Parameter leaves, in `Mlp::names` order: their values are the parameters.
    params: Vec<NodeId>,
    loss: NodeId,
    /// The optimizer's velocities or moments, in `Optimizer::state_tensors` order.
    state: Vec<Vec<f32>>,
    /// Whether steps were taken since `model` and `optimizer` were last written.
    ahead: bool,
    /// The batch's rows (a buffer kept between steps).
    rows: Vec<usize>,
    /// The data loss over the training and the test split (made on first use).
    eval: Option<Box<[EvalPlan; 2]>>,
    /// The forward over the maps' grid (made on first use, again when the grid's side changes).
    grid: Option<Box<GridPlan>>,
}

impl HostStep {
    /// The optimizer's state tensors, each with its parameter's shape (`shapes`, in parameter
    /// order): one tensor (momentum's velocity) or two (Adam's moments) per parameter.
    fn state_shaped<'a>(&'a self, shapes: &'a [[usize; 2]]) -> impl Iterator<Item = (&'a [f32], [usize; 2])> + 'a {
        let per_param = (self.state.len() / self.params.len().max(1)).max(1);
        self.state.iter().enumerate().map(move |(i, s)| (s.as_slice(), shapes[i / per_param]))
    }
}

/// The network's forward over an `n × n` grid of the plane (the output map and every neuron's
/// thumbnail) as a plan: the grid written once, the parameters copied in before each run.
#[derive(Clone, Debug)]
struct GridPlan {
    n: usize,
    plan: Plan<f32>,
    params: Vec<NodeId>,
    /// The output layer's node (the prediction is [`Head::predict_host`](super::Head::predict_host) of it).
    output: NodeId,
    hidden: Vec<NodeId>,
}

/// A split's data loss (no dropout, no penalty) as a plan: its data written once, the parameters
/// copied in before each run.
#[derive(Clone, Debug)]
struct EvalPlan {
    plan: Plan<f32>,
    params: Vec<NodeId>,
    loss: NodeId,
}

/// One host training step with all its numbers: what `stepper::TakenStep` turns into a trace.
#[derive(Clone, Debug)]
pub struct HostTrace {
    /// The step's graph (tags, ops, inputs, shapes; its values are not the step's).
    pub tape: Tape,
    /// Every value and gradient of the step; the parameter leaves hold the values after the update.
    pub plan: Plan<f32>,
    /// The total-loss node.
    pub loss: NodeId,
    /// The parameter leaves, in `Mlp::names` order.
    pub params: Vec<NodeId>,
    /// Each parameter before the update.
    pub before: Vec<Vec<f32>>,
    /// The optimizer's state before and after, in `Optimizer::state_tensors` order (empty before
    /// the first update).
    pub state_before: Vec<Vec<f32>>,
    /// See `state_before`.
    pub state_after: Vec<Vec<f32>>,
    /// The optimizer after the update (its settings and step count).
    pub optimizer: crate::engine::Optimizer,
}

/// Runs a future to its end if it is ready when first polled (a CPU readback is); `None` if not.
pub(crate) fn now<F: Future>(f: F) -> Option<F::Output> {
    match std::pin::pin!(f).as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

/// Reads a tensor without waiting when its device answers at once (burn's CPU backend does; a
/// GPU does not): polls the async readback once.
pub(super) fn read_now(t: &T) -> Option<Vec<f32>> {
    now(read(t)).and_then(Result::ok)
}

impl Trainer {
    /// Takes the host path if it can: returns whether the plan is ready, making it on first use.
    /// The reason it cannot is kept in `self.path`.
    pub(super) fn host_ready(&mut self) -> bool {
        if self.host.is_some() {
            return true;
        }
        // Refused once: the reason holds until the device or the kernels change (no reason depends
        // on a live setting).
        if matches!(self.path, StepPath::Burn(_)) {
            return false;
        }
        match self.compile_host() {
            Ok(host) => {
                self.host = Some(Box::new(host));
                true
            }
            Err(why) => {
                self.path = StepPath::Burn(why);
                false
            }
        }
    }

    fn compile_host(&self) -> Result<HostStep, String> {
        if self.precision != Precision::F32 {
            return Err("f64: the numerical checks' path".into());
        }
        if self.device != backend::cpu() {
            return Err("not on the CPU".into());
        }
        if self.optimizer.kernels == Kernels::Generic {
            return Err("burn's generic kernels chosen".into());
        }
        // One step's graph, recorded with zero data and a copy of the dropout stream: nothing of
        // the trainer advances.
        let rows = self.config.batch_size.min(self.train.points.len());
        let (f, w) = (self.config.features.len(), self.head.target_width());
        let (tape, [x, y], nodes, loss) = self.batch_tape(&vec![0.0; rows * f], &vec![0.0; rows * w], &mut self.dropout_rng.clone());
        let mut plan = Plan::compile(&tape).map_err(|e| e.to_string())?;
        for (&id, p) in nodes.params.iter().zip(&self.model.params) {
            let values = read_now(p).ok_or("the parameters cannot be read without waiting")?;
            plan.leaf_mut(id).copy_from_slice(&values);
        }
        let state = self.optimizer.state_tensors().into_iter().map(read_now).collect::<Option<Vec<_>>>().ok_or("the optimizer's state cannot be read without waiting")?;
        let masks = tape.nodes().iter().enumerate().filter(|(_, n)| n.tag.role == Role::Mask).map(|(id, _)| id).collect();
        Ok(HostStep { tape, plan, x, y, masks, params: nodes.params, loss, state, ahead: false, rows: Vec::new(), eval: None, grid: None })
    }

    /// One training step on the host plan (ready: see [`Trainer::host_ready`]). Returns the
    /// batch's total loss.
    pub(super) fn host_step(&mut self) -> f32 {
        let mut rows = std::mem::take(&mut self.host.as_mut().expect("host_ready was checked").rows);
        self.fill_batch(&mut rows);
        let (f, w) = (self.config.features.len(), self.head.target_width());
        let rate = self.config.dropout;
        let host = self.host.as_mut().expect("host_ready was checked");
        let plan = &mut host.plan;
        for (dst, &r) in plan.leaf_mut(host.x).chunks_mut(f).zip(&rows) {
            dst.copy_from_slice(&self.train.x[r * f..(r + 1) * f]);
        }
        for (dst, &r) in plan.leaf_mut(host.y).chunks_mut(w).zip(&rows) {
            dst.copy_from_slice(&self.train.y[r * w..(r + 1) * w]);
        }
        // The masks `Mlp::forward` would draw, in its order: 0 where a unit is dropped.
        for &m in &host.masks {
            for keep in plan.leaf_mut(m) {
                *keep = if self.dropout_rng.uniform() < rate { 0.0 } else { 1.0 };
            }
        }
        plan.forward();
        plan.backward(host.loss);
        let (mut params, grads) = plan.leaves_and_grads(&host.params);
        self.optimizer.update_host(&mut params, &grads, &mut host.state);
        host.ahead = true;
        host.rows = rows;
        self.step += 1;
        self.path = StepPath::Host;
        host.plan.value(host.loss)[0]
    }

    /// The next training step on the host path, with every number the step-by-step view shows
    /// (`None` when the trainer does not take the host path): the same step `train_step` would
    /// take, so the trainer advances exactly as it would.
    pub fn host_traced_step(&mut self) -> Option<HostTrace> {
        if !self.host_ready() {
            return None;
        }
        let host = self.host.as_ref().expect("ready");
        let before: Vec<Vec<f32>> = host.params.iter().map(|&id| host.plan.value(id).to_vec()).collect();
        let state_before = host.state.clone();
        self.host_step();
        let host = self.host.as_ref().expect("ready");
        Some(HostTrace {
            tape: host.tape.clone(),
            plan: host.plan.clone(),
            loss: host.loss,
            params: host.params.clone(),
            before,
            state_before,
            state_after: host.state.clone(),
            optimizer: self.optimizer.clone(),
        })
    }

    /// The train and test data loss on the host path, `None` when the trainer does not take it.
    pub(super) fn host_losses(&mut self) -> Option<(f32, f32)> {
        if !self.host_ready() {
            return None;
        }
        if self.host.as_ref()?.eval.is_none() {
            let eval = [self.compile_eval(&self.eval_train, &self.train), self.compile_eval(&self.eval_test, &self.test)];
            let [Ok(train), Ok(test)] = eval else { return None };
            self.host.as_mut()?.eval = Some(Box::new([train, test]));
        }
        let host = self.host.as_mut()?;
        let eval = host.eval.as_mut()?;
        let mut losses = [0.0; 2];
        for (e, loss) in eval.iter_mut().zip(&mut losses) {
            for (&from, &to) in host.params.iter().zip(&e.params) {
                e.plan.leaf_mut(to).copy_from_slice(host.plan.value(from));
            }
            e.plan.forward();
            *loss = e.plan.value(e.loss)[0];
        }
        Some((losses[0], losses[1]))
    }

    /// What a display reads (see [`Trainer::pending`]) from the host's own values, with no trip
    /// through burn: the losses, the parameters, the optimizer's state and, with `grid = Some(n)`,
    /// the maps over an `n × n` grid. `None` when the trainer does not take the host path.
    pub(super) fn host_readout(&mut self, grid: Option<usize>) -> Option<(Readout, Option<GridOutputs>)> {
        let (train_loss, test_loss) = self.host_losses()?;
        if let Some(n) = grid.filter(|&n| self.host.as_ref().is_some_and(|h| h.grid.as_ref().is_none_or(|g| g.n != n))) {
            let made = self.compile_grid(n).ok()?;
            self.host.as_mut()?.grid = Some(Box::new(made));
        }
        let host = self.host.as_mut()?;
        let params: Vec<Vec<f32>> = host.params.iter().map(|&id| host.plan.value(id).to_vec()).collect();
        let tensors = host.state_shaped(&self.model.shapes()).map(|(s, shape)| (s.to_vec(), Shape::from(shape))).collect();
        let optimizer = Some(OptimizerState { t: self.optimizer.t, tensors });
        let grid = match (grid, host.grid.as_mut()) {
            (Some(_), Some(g)) => {
                for (&to, from) in g.params.iter().zip(&params) {
                    g.plan.leaf_mut(to).copy_from_slice(from);
                }
                g.plan.forward();
                let prediction = self.head.predict_host(g.plan.value(g.output));
                let hidden = g.hidden.iter().map(|&h| g.plan.value(h).to_vec()).collect();
                Some(GridOutputs { n: g.n, prediction, hidden })
            }
            _ => None,
        };
        Some((Readout { trainer: self.id, step: self.step, train_loss, test_loss, params, optimizer }, grid))
    }

    /// The grid's forward plan (see [`GridPlan`]), its points written in.
    fn compile_grid(&self, n: usize) -> Result<GridPlan, String> {
        let (tape, xn, x, nodes) = self.grid_tape(n);
        let mut plan = Plan::compile_forward(&tape).map_err(|e| e.to_string())?;
        plan.leaf_mut(xn).copy_from_slice(&x);
        Ok(GridPlan { n, plan, params: nodes.params, output: nodes.output, hidden: nodes.hidden })
    }

    /// The data-loss plan of one split, its data written in.
    fn compile_eval(&self, data: &(T, T), split: &super::Split) -> Result<EvalPlan, String> {
        let (tape, [xn, yn], nodes, loss) = self.loss_tape(data);
        let mut plan = Plan::compile_forward(&tape).map_err(|e| e.to_string())?;
        plan.leaf_mut(xn).copy_from_slice(&split.x);
        plan.leaf_mut(yn).copy_from_slice(&split.y);
        Ok(EvalPlan { plan, params: nodes.params, loss })
    }

    /// Writes the host's parameters and optimizer state into `model` and `optimizer` when host
    /// steps are ahead of them. Called by everything that reads those.
    pub(super) fn settle(&mut self) {
        let Some(host) = self.host.as_mut().filter(|h| h.ahead) else { return };
        let shapes = self.model.shapes();
        for ((p, &id), &shape) in self.model.params.iter_mut().zip(&host.params).zip(&shapes) {
            *p = tensor(host.plan.value(id), shape, &self.device, self.precision);
        }
        let state: Vec<T> = host.state_shaped(&shapes).map(|(s, shape)| tensor(s, shape, &self.device, self.precision)).collect();
        let t = self.optimizer.t;
        self.optimizer.restore_state(t, state, shapes.len());
        self.optimizer.t = t;
        host.ahead = false;
    }

    /// Settles, then drops the plan: for methods that change the model or the optimizer through
    /// burn (the next step makes the plan again from them).
    pub(super) fn leave_host(&mut self) {
        self.settle();
        self.host = None;
    }
}
