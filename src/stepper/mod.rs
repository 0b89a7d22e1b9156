//! The step-by-step view of one training step, as plain data: which stages there are and every
//! number each stage shows. Read straight from the tape — each forward node in order, the loss,
//! each backward node in reverse order, then each parameter update — so what the page shows is
//! what the engine computed, not a re-derivation.
//!
//! A [`StepRecord`] is one step on the device (tape after backward, optimizer before and after);
//! [`Trace::read`] copies every value to the host in one transfer (async: WebGPU never blocks).
//! Gradient checks replay the traced graph on the CPU in f64 ([`Trace::loss_with`]), so they are
//! independent of the backend and of the backward rules being checked.

mod local;
pub mod math;
pub mod model;
pub mod presets;
pub mod rule;


use crate::engine::{EngineError, Leaf, NodeId, Op, Optimizer, OptimizerConfig, Precision, Role, Shape, T, Tag, Tape, read_many};
use crate::train::{HostTrace, Trainer};

pub use local::{Local, local_derivatives};
pub use presets::{Erratum, PRESETS, Preset, preset};

/// A host copy of a rank-2 tensor, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// `rows · cols` values.
    pub values: Vec<f64>,
}

/// Summary statistics of a tensor too large to print.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Mean.
    pub mean: f64,
    /// Euclidean (Frobenius) norm.
    pub norm: f64,
}

impl Matrix {
    /// A matrix from row-major values.
    pub fn new(rows: usize, cols: usize, values: Vec<f64>) -> Self {
        assert_eq!(values.len(), rows * cols, "{} values for [{rows}, {cols}]", values.len());
        Self { rows, cols, values }
    }

    /// The value at row `r`, column `c`.
    pub fn at(&self, r: usize, c: usize) -> f64 {
        self.values[r * self.cols + c]
    }

    /// The value at `(r, c)` read with broadcasting: a row `[1, n]` or scalar `[1, 1]` repeats.
    pub fn broadcast_at(&self, r: usize, c: usize) -> f64 {
        self.at(if self.rows == 1 { 0 } else { r }, if self.cols == 1 { 0 } else { c })
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether it holds no values.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Row `r`.
    pub fn row(&self, r: usize) -> &[f64] {
        &self.values[r * self.cols..(r + 1) * self.cols]
    }

    /// min / max / mean / norm.
    pub fn stats(&self) -> Stats {
        let n = self.values.len().max(1) as f64;
        Stats {
            min: self.values.iter().copied().fold(f64::INFINITY, f64::min),
            max: self.values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            mean: self.values.iter().sum::<f64>() / n,
            norm: self.values.iter().map(|v| v * v).sum::<f64>().sqrt(),
        }
    }

    /// `"[rows × cols]"`.
    pub fn shape(&self) -> String {
        format!("[{} × {}]", self.rows, self.cols)
    }

    /// The transpose.
    pub fn transpose(&self) -> Matrix {
        let mut values = Vec::with_capacity(self.len());
        for c in 0..self.cols {
            for r in 0..self.rows {
                values.push(self.at(r, c));
            }
        }
        Matrix::new(self.cols, self.rows, values)
    }

    fn map(&self, f: impl Fn(f64) -> f64) -> Matrix {
        Matrix::new(self.rows, self.cols, self.values.iter().map(|&v| f(v)).collect())
    }
}

/// Tensors with more values than this are shown as a heatmap with statistics, not as numbers.
pub const PRINT_LIMIT: usize = 64;

/// One node of the traced tape, on the host.
#[derive(Clone, Debug)]
pub struct TraceNode {
    /// The op.
    pub op: Op,
    /// Input node ids.
    pub inputs: Vec<NodeId>,
    /// What it is in its model (role, layer, name).
    pub tag: Tag,
    /// Its name (`l1.w`, `z1`, `h1`, `loss`), made from the tag once.
    pub label: String,
    /// Its true shape (the value below folds every axis but the last into rows).
    pub shape: Shape,
    /// Its value.
    pub value: Matrix,
    /// `∂L/∂value`, if a gradient reached it.
    pub grad: Option<Matrix>,
    /// What it passed to each input during backward.
    pub input_grads: Vec<Option<Matrix>>,
}

/// One parameter's update.
#[derive(Clone, Debug)]
pub struct ParamUpdate {
    /// Its path (`l1.w`).
    pub name: String,
    /// Its leaf on the tape.
    pub node: NodeId,
    /// The value before the step.
    pub before: Matrix,
    /// Its gradient (zeros if none reached it).
    pub grad: Matrix,
    /// Optimizer state before: `[]`, `[v]` or `[m, v]` (zeros at the first step).
    pub state_before: Vec<Matrix>,
    /// Optimizer state after.
    pub state_after: Vec<Matrix>,
    /// The value after the step.
    pub after: Matrix,
}

impl ParamUpdate {
    /// Parameter leaf `p`'s update: its value and gradient from the traced nodes, the optimizer's
    /// state before and after (none before the first step: zeros of the state's shapes), and its
    /// value after.
    fn of(nodes: &[TraceNode], p: NodeId, mut state_before: Vec<Matrix>, state_after: Vec<Matrix>, after: Matrix) -> Self {
        if state_before.is_empty() {
            state_before = state_after.iter().map(|m| m.map(|_| 0.0)).collect();
        }
        ParamUpdate {
            name: nodes[p].label.clone(),
            node: p,
            before: nodes[p].value.clone(),
            grad: nodes[p].grad.clone().unwrap_or_else(|| nodes[p].value.map(|_| 0.0)),
            state_before,
            state_after,
            after,
        }
    }
}

/// What a stage shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StageKind {
    /// A forward op of the network.
    Forward,
    /// A forward op of the loss.
    Loss,
    /// A backward op (the op's node, walked in reverse).
    Backward,
    /// A parameter update.
    Update,
}

impl StageKind {
    /// Display name.
    pub fn name(&self) -> &'static str {
        match self {
            StageKind::Forward => "forward",
            StageKind::Loss => "loss",
            StageKind::Backward => "backward",
            StageKind::Update => "update",
        }
    }

    /// What a stage of this kind does, in one line of plain words.
    pub fn caption(&self) -> &'static str {
        match self {
            StageKind::Forward => "Forward: compute this layer's value from the previous one.",
            StageKind::Loss => "Loss: measure how far the prediction is from the target, as one number.",
            StageKind::Backward => {
                "Backward: from how the loss changes with this value (upstream), find how it changes with each input."
            }
            StageKind::Update => "Update: move the parameter against its gradient, by the optimizer's rule.",
        }
    }
}

/// One stage of the walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stage {
    /// Which part of the step.
    pub kind: StageKind,
    /// The node (forward, loss, backward) or the parameter index (update).
    pub index: usize,
}

/// One training step on the device, before it is read back.
pub struct StepRecord {
    /// The tape after backward.
    pub tape: Tape,
    /// The total-loss node.
    pub loss: NodeId,
    /// The parameter leaves, in the model's order.
    pub params: Vec<NodeId>,
    /// The optimizer before the update.
    pub before: Optimizer,
    /// The optimizer after the update.
    pub after: Optimizer,
    /// The parameters after the update.
    pub new_params: Vec<T>,
}

impl StepRecord {
    /// Back-propagates `loss` on `tape` and applies `optimizer` to the parameters, keeping the
    /// optimizer before and after. Returns the record; `optimizer` is advanced.
    pub fn take(mut tape: Tape, loss: NodeId, params: Vec<NodeId>, optimizer: &mut Optimizer) -> Self {
        tape.backward(loss);
        let before = optimizer.clone();
        let mut values: Vec<T> = params.iter().map(|&p| tape.value(p).clone()).collect();
        optimizer.update(&mut values, &tape.grads_or_zeros(&params));
        Self { tape, loss, params, before, after: optimizer.clone(), new_params: values }
    }

    /// The trainer's next training step (its next batch and dropout mask), taken for real, on the
    /// path `train_step` takes (the host kernels on the CPU, else burn's): the trainer's
    /// parameters, optimizer and step count advance exactly as `train_step` would.
    pub fn from_trainer(trainer: &mut Trainer) -> TakenStep {
        if let Some(host) = trainer.host_traced_step() {
            return TakenStep::Host(Box::new(host));
        }
        let (tape, nodes, loss) = trainer.record_step();
        let record = Self::take(tape, loss, nodes.params, &mut trainer.optimizer);
        trainer.model.params = record.new_params.clone();
        trainer.step += 1;
        TakenStep::Device(record)
    }

    /// A preset's step from the given parameters and optimizer (advanced).
    pub fn from_preset(preset: &Preset, params: &[T], optimizer: &mut Optimizer) -> Self {
        let (tape, loss, nodes) = preset.record(params);
        Self::take(tape, loss, nodes, optimizer)
    }
}

/// A training step taken for the step-by-step view, on the path the trainer takes.
pub enum TakenStep {
    /// Through burn on a device: read back with [`Trace::read`].
    Device(StepRecord),
    /// By the host kernels: every number is already on the host.
    Host(Box<HostTrace>),
}

impl TakenStep {
    /// Every number of the step, on the host (async: a device step is read back in one transfer).
    pub async fn read(self) -> Result<Trace, EngineError> {
        match self {
            TakenStep::Device(record) => Trace::read(record).await,
            TakenStep::Host(host) => Ok(Trace::from_host(*host)),
        }
    }
}

/// Every number of one training step, on the host, and the stages that show them.
#[derive(Clone, Debug)]
pub struct Trace {
    /// The tape's nodes.
    pub nodes: Vec<TraceNode>,
    /// The total-loss node.
    pub loss: NodeId,
    /// One update per parameter.
    pub params: Vec<ParamUpdate>,
    /// The optimizer's settings.
    pub optimizer: OptimizerConfig,
    /// The optimizer's step count after this update (Adam's t).
    pub t: u64,
    /// The precision the step ran in.
    pub precision: Precision,
    /// The walk: forward, loss, backward, update.
    pub stages: Vec<Stage>,
}

fn is_loss_op(op: &Op) -> bool {
    matches!(op, Op::Mse | Op::SoftmaxCrossEntropy | Op::BceWithLogits | Op::L1 { .. } | Op::L2 { .. })
}

impl Trace {
    /// Stage `i` with its position, clamped to the last stage: a stage number from a link, or
    /// one meant for the trace this one replaced, never indexes past the end. `None` only for a
    /// trace without stages.
    pub fn stage(&self, i: usize) -> Option<(usize, Stage)> {
        let i = i.min(self.stages.len().checked_sub(1)?);
        Some((i, self.stages[i]))
    }

    /// Reads a step back to the host in one transfer.
    pub async fn read(record: StepRecord) -> Result<Trace, EngineError> {
        let StepRecord { tape, loss, params, before, after, new_params } = record;
        let precision = crate::models::precision_of(tape.value(0));
        // Everything in one list; decoded below in the same order, from the same structure.
        let mut parts: Vec<T> = Vec::new();
        for node in tape.nodes() {
            parts.push(node.value().clone());
            parts.extend(node.grad.clone());
            parts.extend(node.input_grads.iter().flatten().cloned());
        }
        // A parameter's value and gradient are its leaf node's, read above.
        for (i, new) in new_params.iter().enumerate() {
            parts.extend(before.slots(i).into_iter().cloned());
            parts.extend(after.slots(i).into_iter().cloned());
            parts.push(new.clone());
        }
        let shapes: Vec<(usize, usize)> = parts.iter().map(|t| Shape::from(t.dims()).matrix()).collect();
        let mut values = read_many(parts).await?.into_iter().zip(shapes).map(|(v, (r, c))| Matrix::new(r, c, v));
        let mut next = move || values.next().expect("one host copy per tensor");
        let mut nodes = Vec::new();
        for node in tape.nodes() {
            let value = next();
            let grad = node.grad.as_ref().map(|_| next());
            let input_grads = node.input_grads.iter().map(|g| g.as_ref().map(|_| next())).collect();
            nodes.push(TraceNode { op: node.op, inputs: node.inputs.clone(), tag: node.tag, label: node.label().into_owned(), shape: node.shape, value, grad, input_grads });
        }
        let mut updates = Vec::new();
        for (i, &p) in params.iter().enumerate() {
            let slots_before = before.slots(i).len();
            let slots_after = after.slots(i).len();
            let state_before: Vec<Matrix> = (0..slots_before).map(|_| next()).collect();
            let state_after: Vec<Matrix> = (0..slots_after).map(|_| next()).collect();
            updates.push(ParamUpdate::of(&nodes, p, state_before, state_after, next()));
        }
        let stages = stages(&walk(&nodes), loss, updates.len());
        Ok(Trace { nodes, loss, params: updates, optimizer: after.config, t: after.t, precision, stages })
    }

    /// The trace of a host step: the plan's values and gradients, the parameters before and after.
    pub fn from_host(host: HostTrace) -> Trace {
        let HostTrace { tape, plan, loss, params, before, state_before, state_after, optimizer } = host;
        let matrix = |values: &[f32], shape: Shape| {
            let (r, c) = shape.matrix();
            Matrix::new(r, c, values.iter().map(|&v| v as f64).collect())
        };
        let mut nodes: Vec<TraceNode> = tape
            .nodes()
            .iter()
            .enumerate()
            .map(|(id, node)| TraceNode {
                op: node.op,
                inputs: node.inputs.clone(),
                tag: node.tag,
                label: node.label().into_owned(),
                shape: node.shape,
                value: matrix(plan.value(id), node.shape),
                grad: plan.grad(id).map(|g| matrix(g, node.shape)),
                input_grads: node.inputs.iter().enumerate().map(|(k, &i)| plan.input_grad(id, k).map(|g| matrix(g, tape.shape(i)))).collect(),
            })
            .collect();
        // The plan's parameter leaves hold the updated values; the step read the ones before.
        let per_param = state_after.len() / params.len().max(1);
        let mut updates = Vec::new();
        for (i, &p) in params.iter().enumerate() {
            let shape = tape.shape(p);
            nodes[p].value = matrix(&before[i], shape);
            let slots = |state: &[Vec<f32>]| state.iter().skip(i * per_param).take(per_param).map(|v| matrix(v, shape)).collect::<Vec<_>>();
            updates.push(ParamUpdate::of(&nodes, p, slots(&state_before), slots(&state_after), matrix(plan.value(p), shape)));
        }
        let stages = stages(&walk(&nodes), loss, updates.len());
        Trace { nodes, loss, params: updates, optimizer: optimizer.config, t: optimizer.t, precision: Precision::F32, stages }
    }

    /// The loss value.
    pub fn loss_value(&self) -> f64 {
        self.nodes[self.loss].value.values[0]
    }

    /// The stage list's index of the first stage of each kind (forward, loss, backward, update).
    pub fn first_of(&self, kind: StageKind) -> Option<usize> {
        self.stages.iter().position(|s| s.kind == kind)
    }

    /// The parameter index of a parameter node.
    pub fn param_of(&self, node: NodeId) -> Option<usize> {
        self.params.iter().position(|p| p.node == node)
    }

    /// Replays the traced graph on the CPU in f64 with some leaf values changed:
    /// `changes` are `(node, element, new value)`. Returns the loss. The recorded leaves
    /// (inputs, targets, dropout masks, parameters) are reused, so this is exactly the step's
    /// loss as a function of the changed values.
    pub fn loss_with(&self, changes: &[(NodeId, usize, f64)]) -> f64 {
        let nodes = self.nodes[..=self.loss].iter();
        model::Replay::from_host(nodes.map(|n| (n.op, n.inputs.as_slice(), n.shape, matches!(n.op, Op::Leaf(_)).then_some(n.value.values.as_slice()))))
            .loss_with(changes)
    }

    /// Central finite-difference estimate of `∂L/∂param[element]` with step `eps` (f64 replay),
    /// and its relative error against the traced (analytic) gradient.
    pub fn gradient_check(&self, param: usize, element: usize, eps: f64) -> GradientCheck {
        let p = &self.params[param];
        let w = p.before.values[element];
        let plus = self.loss_with(&[(p.node, element, w + eps)]);
        let minus = self.loss_with(&[(p.node, element, w - eps)]);
        let numeric = (plus - minus) / (2.0 * eps);
        let analytic = p.grad.values[element];
        GradientCheck { analytic, numeric, relative_error: relative_error(analytic, numeric) }
    }

    /// The loss with `param[element]` nudged by `eps`, against the unchanged loss (both f64
    /// replays), and the first-order prediction `g·eps`.
    pub fn nudge(&self, param: usize, element: usize, eps: f64) -> Nudge {
        let p = &self.params[param];
        let base = self.loss_with(&[]);
        let nudged = self.loss_with(&[(p.node, element, p.before.values[element] + eps)]);
        Nudge { eps, base, nudged, predicted: p.grad.values[element] * eps }
    }
}

/// `|a − b| / max(|a|, |b|)`, 0 when both are 0 (tiny absolute differences count as 0 only
/// when both values are below 1e-12).
pub fn relative_error(a: f64, b: f64) -> f64 {
    let scale = a.abs().max(b.abs());
    if scale < 1e-12 { 0.0 } else { (a - b).abs() / scale }
}

/// A gradient check of one parameter value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GradientCheck {
    /// The traced gradient.
    pub analytic: f64,
    /// `(L(w+ε) − L(w−ε)) / 2ε`.
    pub numeric: f64,
    /// Relative error between them.
    pub relative_error: f64,
}

/// The effect of nudging one parameter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Nudge {
    /// The nudge ε.
    pub eps: f64,
    /// L(w).
    pub base: f64,
    /// L(w + ε).
    pub nudged: f64,
    /// g·ε, the first-order prediction of the change.
    pub predicted: f64,
}

/// The default ε of gradient checks and nudges (f64 replays, so small is fine).
pub const EPS: f64 = 1e-5;

/// The stage list of a step: forward nodes in order (those of the loss marked), backward nodes
/// in reverse order, then one update per parameter.
/// What [`stages`] reads of traced nodes.
fn walk(nodes: &[TraceNode]) -> Vec<(Op, bool)> {
    nodes.iter().map(|n| (n.op, n.grad.is_some())).collect()
}

/// The walk over nodes given as (op, whether a gradient reached it), in tape order.
pub(crate) fn stages(nodes: &[(Op, bool)], loss: NodeId, n_params: usize) -> Vec<Stage> {
    let nodes = &nodes[..=loss];
    let first_loss = nodes.iter().position(|(op, _)| is_loss_op(op)).unwrap_or(loss);
    let mut out = Vec::new();
    for (i, (op, _)) in nodes.iter().enumerate() {
        if matches!(op, Op::Leaf(_)) {
            continue;
        }
        let kind = if i >= first_loss { StageKind::Loss } else { StageKind::Forward };
        out.push(Stage { kind, index: i });
    }
    for (i, (op, reached)) in nodes.iter().enumerate().rev() {
        if !matches!(op, Op::Leaf(_)) && *reached {
            out.push(Stage { kind: StageKind::Backward, index: i });
        }
    }
    out.extend((0..n_params).map(|index| Stage { kind: StageKind::Update, index }));
    out
}

/// Whether a node is an op (not a leaf).
pub fn is_op(node: &TraceNode) -> bool {
    !matches!(node.op, Op::Leaf(_))
}

/// Whether a node is a parameter leaf.
pub fn is_param(node: &TraceNode) -> bool {
    node.op == Op::Leaf(Leaf::Param)
}

/// Where a node or parameter sits on the network diagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// The weights into layer K (1-based): `lK.w` and its matmul.
    Edges(usize),
    /// The units of layer K (0: inputs): biases, pre-activations, activations, dropout.
    Units(usize),
    /// The loss (targets, loss ops, penalties).
    Loss,
}

/// Where a node with this tag is drawn on a network of `layers` weight layers: a layer's weights
/// and their product on its edges, everything else of a layer on its units, the inputs on layer
/// 0, the prediction on the last, targets, losses and penalties at the loss.
pub fn place(tag: Tag, layers: usize) -> Place {
    let k = tag.layer as usize;
    match tag.role {
        Role::Weight | Role::Product => Place::Edges(k),
        Role::Bias | Role::PreActivation | Role::Activation | Role::Mask | Role::Dropped | Role::Buffer | Role::Stage => Place::Units(k),
        Role::Input => Place::Units(0),
        Role::Output => Place::Units(layers),
        Role::Target | Role::Loss | Role::Penalty | Role::Total => Place::Loss,
    }
}

impl Trace {
    /// Units per layer, inputs first, read from the weight shapes.
    pub fn sizes(&self) -> Vec<usize> {
        let weights: Vec<&ParamUpdate> = self.params.iter().filter(|p| self.nodes[p.node].tag.role == Role::Weight).collect();
        let mut sizes: Vec<usize> = weights.first().map(|w| vec![w.before.rows]).unwrap_or_default();
        sizes.extend(weights.iter().map(|w| w.before.cols));
        sizes
    }

    /// The stage (position in `stages`) at which parameter `param`'s gradient is complete: the
    /// backward stage of the last op (in backward order) that passes it a gradient.
    pub fn gradient_stage(&self, param: usize) -> Option<usize> {
        let node = self.params[param].node;
        self.stages
            .iter()
            .enumerate()
            .filter(|(_, s)| s.kind == StageKind::Backward && self.nodes[s.index].inputs.contains(&node))
            .map(|(i, _)| i)
            .max()
    }

    /// The stage of parameter `param`'s update.
    pub fn update_stage(&self, param: usize) -> Option<usize> {
        self.stages.iter().position(|s| s.kind == StageKind::Update && s.index == param)
    }

    /// A short name of stage `i`: `"backward · tanh · h₁ = tanh(z₁)"`.
    pub fn stage_name(&self, i: usize) -> String {
        let stage = self.stages[i];
        match stage.kind {
            StageKind::Update => format!("update · {} · {}", self.optimizer.kind.key(), math::pretty(&self.params[stage.index].name)),
            kind => format!("{} · {} · {}", kind.name(), self.nodes[stage.index].op.name(), self.definition(stage.index)),
        }
    }

    /// A node's name with what it is made of, where that is short: `a₂ = h₁·W₂`, `z₂ = a₂ + b₂`,
    /// `h₂ = tanh(z₂)`; other nodes by name only.
    pub fn definition(&self, id: usize) -> String {
        let n = &self.nodes[id];
        let y = math::pretty(&n.label);
        let ins: Vec<String> = n.inputs.iter().map(|&k| math::pretty(&self.nodes[k].label)).collect();
        match (n.op, ins.as_slice()) {
            (Op::MatMul, [a, b]) => format!("{y} = {a}·{b}"),
            (Op::Add, [a, b]) => format!("{y} = {a} + {b}"),
            (Op::Mul, [a, b]) => format!("{y} = {a}⊙{b}"),
            (Op::Relu | Op::LeakyRelu { .. } | Op::Sigmoid | Op::Tanh | Op::Identity, [a]) => format!("{y} = {}({a})", n.op.name()),
            _ => y,
        }
    }
}
