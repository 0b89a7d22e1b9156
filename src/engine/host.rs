//! The CPU path for small networks: a recorded tape compiled into a [`Plan`] that re-runs the same
//! graph step after step on the host, through each op's host kernel
//! ([`Op::forward_host`], [`Op::backward_host`]), in buffers allocated once.
//!
//! Why: the playground's nets are tiny (a 2-4-2-1 net at batch 10 is ~55 ops on tensors of a few
//! dozen values), and through burn every op costs an allocation and a dispatch — about a
//! microsecond each natively, more in wasm — so a step was all overhead and TF Playground's
//! plain-JS loop was many times faster. A plan keeps the tape's structure (the same closed op set,
//! nodes in the same order, so the step-by-step view still walks every node) and replaces only
//! where values live: slices on the host instead of burn tensors. Bigger nets (MNIST) stay on
//! burn, whose kernels win there.
//!
//! A plan holds every value and every gradient of its last run, like a trace-mode tape: after
//! [`Plan::backward`] each node's gradient and the gradient it passed to each input are there to
//! read.

use super::op::{HostArg, Op};
use super::real::Real;
use super::shape::Shape;
use super::tape::{NodeId, Tape};

/// Why a tape cannot run on the host.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{op} on {shapes} has no host kernel ({why})")]
pub struct Unsupported {
    /// The op's display name.
    pub op: &'static str,
    /// Its input shapes.
    pub shapes: String,
    /// What the host kernels lack.
    pub why: &'static str,
}

/// The most inputs a host kernel takes (`Op::host_support` admits no op with more).
const MAX_HOST_ARITY: usize = 2;

/// The inputs of a node as host-kernel arguments, without allocating (a step runs ~50 of these).
#[inline]
fn host_args<'a, F>(steps: &[Step], values: &'a [Vec<F>], inputs: &[NodeId]) -> [HostArg<'a, F>; MAX_HOST_ARITY] {
    let arg = |k: usize| match inputs.get(k) {
        Some(&i) => HostArg { values: &values[i], shape: steps[i].shape },
        None => HostArg { values: &[], shape: Shape::scalar() },
    };
    [arg(0), arg(1)]
}

/// One node of a plan: the tape's structure.
#[derive(Clone, Debug)]
struct Step {
    op: Op,
    inputs: Vec<NodeId>,
    shape: Shape,
    requires_grad: bool,
    /// Which inputs' gradients the backward computes.
    wanted: Vec<bool>,
}

/// A tape's graph, compiled for the host kernels (see the module documentation).
#[derive(Clone, Debug)]
pub struct Plan<F> {
    steps: Vec<Step>,
    values: Vec<Vec<F>>,
    /// `∂L/∂value` per node that requires a gradient (empty otherwise).
    grads: Vec<Vec<F>>,
    /// Per node, the gradient it passed to each input (empty where not wanted). Where the node is
    /// its input's only consumer, the backward swaps this buffer with the input's gradient instead
    /// of copying it (see `sole`), so the passed gradient is then read from `grads`.
    input_grads: Vec<Vec<Vec<F>>>,
    /// Per node, whether exactly one input of one node takes a gradient from it: then that is its
    /// whole gradient.
    sole: Vec<bool>,
    /// Whether a node's gradient has received a contribution in this backward.
    reached: Vec<bool>,
}

impl<F: Real> Plan<F> {
    /// Compiles `tape`'s graph: its nodes, inputs and shapes (not its values: leaves start at
    /// zero, set them with [`Plan::leaf_mut`]). Fails, naming the op, when one has no host kernel
    /// for its shapes.
    pub fn compile(tape: &Tape) -> Result<Self, Unsupported> {
        Self::compile_with(tape, true)
    }

    /// [`Plan::compile`] for forward runs only (an evaluation, the maps' grid): no gradient
    /// buffers (they would double or triple its memory, and wasm memory never shrinks);
    /// [`Plan::backward`] then computes nothing.
    pub fn compile_forward(tape: &Tape) -> Result<Self, Unsupported> {
        Self::compile_with(tape, false)
    }

    fn compile_with(tape: &Tape, gradients: bool) -> Result<Self, Unsupported> {
        let nodes = tape.nodes();
        let mut steps = Vec::with_capacity(nodes.len());
        for node in nodes {
            let shapes: Vec<Shape> = node.inputs.iter().map(|&i| nodes[i].shape).collect();
            let arity = if shapes.len() > MAX_HOST_ARITY { Err("more inputs than a host kernel takes") } else { Ok(()) };
            arity.and_then(|_| node.op.host_support(&shapes)).map_err(|why| Unsupported {
                op: node.op.name(),
                shapes: shapes.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", "),
                why,
            })?;
            let wanted = node.inputs.iter().enumerate().map(|(k, &i)| gradients && node.op.differentiable_input(k) && nodes[i].requires_grad).collect();
            steps.push(Step { op: node.op, inputs: node.inputs.clone(), shape: node.shape, requires_grad: gradients && node.requires_grad, wanted });
        }
        let values = steps.iter().map(|s| vec![F::ZERO; s.shape.numel()]).collect();
        let grads = steps.iter().map(|s| if s.requires_grad { vec![F::ZERO; s.shape.numel()] } else { Vec::new() }).collect();
        let input_grads = steps
            .iter()
            .map(|s| s.inputs.iter().zip(&s.wanted).map(|(&i, &w)| if w { vec![F::ZERO; steps[i].shape.numel()] } else { Vec::new() }).collect())
            .collect();
        let reached = vec![false; steps.len()];
        let mut consumers = vec![0usize; steps.len()];
        for step in &steps {
            for (&i, &w) in step.inputs.iter().zip(&step.wanted) {
                consumers[i] += usize::from(w);
            }
        }
        let sole = consumers.iter().map(|&c| c == 1).collect();
        Ok(Self { steps, values, grads, input_grads, sole, reached })
    }

    /// The values of leaf `id`, to write before [`Plan::forward`]. Panics for a computed node (a bug).
    pub fn leaf_mut(&mut self, id: NodeId) -> &mut [F] {
        assert!(matches!(self.steps[id].op, Op::Leaf(_)), "node {id} is computed, not a leaf");
        &mut self.values[id]
    }

    /// Computes every node from the leaves, in tape order.
    pub fn forward(&mut self) {
        for id in 0..self.steps.len() {
            let step = &self.steps[id];
            if matches!(step.op, Op::Leaf(_)) {
                continue;
            }
            let (before, rest) = self.values.split_at_mut(id);
            let args = host_args(&self.steps, before, &step.inputs);
            step.op.forward_host(&args[..step.inputs.len()], &mut rest[0]);
        }
    }

    /// Back-propagates from `loss` (a scalar node): fills the gradient of every node that
    /// requires one (zeros where none reached it) and what each op passed to each input.
    pub fn backward(&mut self, loss: NodeId) {
        self.reached.fill(false);
        self.grads[loss].fill(F::ONE);
        self.reached[loss] = true;
        for id in (0..=loss).rev() {
            let step = &self.steps[id];
            if !step.requires_grad || matches!(step.op, Op::Leaf(_)) || !self.reached[id] {
                continue;
            }
            let args = host_args(&self.steps, &self.values, &step.inputs);
            let mut parts = self.input_grads[id].iter_mut().map(|g| g.as_mut_slice());
            let mut outs: [&mut [F]; MAX_HOST_ARITY] = [parts.next().unwrap_or(&mut []), parts.next().unwrap_or(&mut [])];
            let n = step.inputs.len();
            step.op.backward_host(&args[..n], &self.values[id], &self.grads[id], &step.wanted, &mut outs[..n]);
            for (k, &input) in step.inputs.iter().enumerate() {
                if !step.wanted[k] {
                    continue;
                }
                let part = &mut self.input_grads[id][k];
                let total = &mut self.grads[input];
                if self.sole[input] {
                    // Its only contribution: the buffers trade places (the next backward writes
                    // the part into what was the total).
                    std::mem::swap(part, total);
                    self.reached[input] = true;
                } else if self.reached[input] {
                    for j in 0..total.len() {
                        total[j] += part[j];
                    }
                } else {
                    total.copy_from_slice(part);
                    self.reached[input] = true;
                }
            }
        }
        for (id, grad) in self.grads.iter_mut().enumerate() {
            if !self.reached[id] {
                grad.fill(F::ZERO);
            }
        }
    }

    /// The values of leaves `ids` (in increasing order) to write, and their gradients after
    /// [`Plan::backward`]: what an optimizer updates in place.
    pub fn leaves_and_grads(&mut self, ids: &[NodeId]) -> (Vec<&mut [F]>, Vec<&[F]>) {
        debug_assert!(ids.windows(2).all(|w| w[0] < w[1]), "leaf ids in increasing order");
        debug_assert!(ids.iter().all(|&id| matches!(self.steps[id].op, Op::Leaf(_))), "leaves only");
        let mut wanted = ids.iter().peekable();
        let mut values = Vec::with_capacity(ids.len());
        for (id, v) in self.values.iter_mut().enumerate() {
            if wanted.peek() == Some(&&id) {
                wanted.next();
                values.push(v.as_mut_slice());
            }
        }
        let grads = ids.iter().map(|&id| self.grads[id].as_slice()).collect();
        (values, grads)
    }

    /// The value of node `id` after [`Plan::forward`].
    pub fn value(&self, id: NodeId) -> &[F] {
        &self.values[id]
    }

    /// `∂L/∂value` of node `id` after [`Plan::backward`], if one reached it.
    pub fn grad(&self, id: NodeId) -> Option<&[F]> {
        (self.steps[id].requires_grad && self.reached[id]).then(|| self.grads[id].as_slice())
    }

    /// The gradient node `id` passed to its input `k` in the last backward, if it computed one.
    pub fn input_grad(&self, id: NodeId, k: usize) -> Option<&[F]> {
        let step = &self.steps[id];
        if !(step.wanted.get(k).copied().unwrap_or(false) && self.reached[id]) {
            return None;
        }
        let input = step.inputs[k];
        Some(if self.sole[input] { &self.grads[input] } else { &self.input_grads[id][k] })
    }
}
