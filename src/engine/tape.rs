//! The tape: every node of one forward pass, in the order it was computed, and after
//! [`Tape::backward`] the gradients.
//!
//! Nodes are appended in evaluation order, so the reverse of the tape is a valid reverse
//! topological order: backward is one loop over the nodes from the end, one `Op::backward` call
//! each. A tape runs in one of two [`Mode`]s:
//! - **trace** keeps everything: every node's value, its upstream gradient and the gradient it
//!   passed to each input, so the step-by-step view can walk every number afterwards;
//! - **train** keeps only what the backward still needs: a node's value and gradient are dropped
//!   as soon as its own backward has run (every consumer comes later on the tape, so it has run
//!   before), gradients nobody uses (a data input's, an image's through the first convolution)
//!   are never computed, and nothing is kept per op. Parameters keep their gradients, the loss
//!   its value.
//!
//! Both count the bytes the tape holds ([`Tape::memory`]) to report a step's peak.

use super::op::{Leaf, Op, Saved, T};
use super::shape::{Shape, ShapeError};
use super::tag::Tag;

/// Index of a node on its tape.
pub type NodeId = usize;

/// How much a tape keeps (see the module documentation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Every value and gradient, for the step-by-step view.
    #[default]
    Trace,
    /// Only what the backward needs, freed as it goes.
    Train,
}

/// One recorded computation.
#[derive(Clone, Debug)]
pub struct Node {
    /// What was computed.
    pub op: Op,
    /// The nodes it read, in the op's argument order.
    pub inputs: Vec<NodeId>,
    /// Its true shape (the stored tensor is this, padded on the left with 1s).
    pub shape: Shape,
    value: Option<T>,
    /// What the forward kept for the backward (max-pooling's indices).
    saved: Saved,
    /// What it is in its model (role, layer, name): see [`Tag`].
    pub tag: Tag,
    /// Whether any gradient flows to this node (a parameter, or anything computed from one).
    pub requires_grad: bool,
    /// `∂L/∂value` after backward (the upstream gradient, summed over all uses).
    pub grad: Option<T>,
    /// The gradient this node passed to each of its inputs during backward (trace mode only).
    pub input_grads: Vec<Option<T>>,
}

impl Node {
    /// Its output. Panics when a train-mode backward has freed it (a bug: only the loss and
    /// leaves are read after a training step).
    pub fn value(&self) -> &T {
        self.value.as_ref().unwrap_or_else(|| panic!("the value of {} was freed by a train-mode backward", self.label()))
    }

    /// Whether it is a parameter leaf.
    pub fn is_param(&self) -> bool {
        self.op == Op::Leaf(Leaf::Param)
    }

    /// Its name, made from its tag (only when shown).
    pub fn label(&self) -> std::borrow::Cow<'static, str> {
        self.tag.label()
    }
}

/// Bytes the tape holds now and at most, counting values, gradients and saved indices.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    /// Held now.
    pub live: usize,
    /// The most held at any point since the tape was made.
    pub peak: usize,
}

/// A recording of one forward (and, after `backward`, one backward) pass.
#[derive(Clone, Debug, Default)]
pub struct Tape {
    nodes: Vec<Node>,
    mode: Mode,
    memory: Memory,
}

impl Tape {
    /// An empty tape in trace mode.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty tape in the given mode.
    pub fn with_mode(mode: Mode) -> Self {
        Self { mode, ..Self::default() }
    }

    /// Records integer ids (tokens, classes) for an [`Op::Embedding`] over a vocabulary of
    /// `vocab`, checked here: an id outside `0..vocab` is named in the error and nothing is
    /// recorded. Stored exactly in the float storage every value shares (`vocab` ≤ 2²⁴).
    pub fn ids(&mut self, tag: impl Into<Tag>, ids: &[u32], shape: impl Into<Shape>, vocab: usize, device: &burn::tensor::Device, precision: super::Precision) -> Result<NodeId, ShapeError> {
        let shape = shape.into();
        let fail = |message: String| Err(ShapeError { op: "ids", message });
        if vocab > 1 << 24 {
            return fail(format!("a vocabulary of {vocab} is more than a float holds exactly (2²⁴)"));
        }
        if ids.len() != shape.numel() {
            return fail(format!("{} ids for a {shape} leaf", ids.len()));
        }
        if let Some((at, id)) = ids.iter().enumerate().find(|&(_, &id)| id as usize >= vocab) {
            return fail(format!("id {id} at position {at} is not below the vocabulary's {vocab}"));
        }
        let values: Vec<f64> = ids.iter().map(|&id| id as f64).collect();
        Ok(self.leaf(Leaf::Ids, tag, super::tensor_f64(&values, shape, device, precision), shape))
    }

    /// Records a leaf of the given true shape: data, a parameter or a constant.
    pub fn leaf(&mut self, kind: Leaf, tag: impl Into<Tag>, value: T, shape: impl Into<Shape>) -> NodeId {
        let shape = shape.into();
        assert_eq!(value.dims(), shape.storage(), "a leaf of shape {shape} stored as {:?}", value.dims());
        self.push(Op::Leaf(kind), Vec::new(), shape, value, Saved::Nothing, tag.into(), kind == Leaf::Param)
    }

    /// Computes `op` on the given nodes and records it. Panics with the op's shape error when the
    /// inputs do not fit (models are built in code: that is a bug); see [`Tape::try_apply`].
    pub fn apply(&mut self, op: Op, inputs: &[NodeId], tag: impl Into<Tag>) -> NodeId {
        let tag = tag.into();
        self.try_apply(op, inputs, tag).unwrap_or_else(|e| panic!("{}: {e}", tag.label()))
    }

    /// Computes `op` on the given nodes and records it, or says why their shapes do not fit.
    pub fn try_apply(&mut self, op: Op, inputs: &[NodeId], tag: impl Into<Tag>) -> Result<NodeId, ShapeError> {
        let shapes: Vec<Shape> = inputs.iter().map(|&i| self.nodes[i].shape).collect();
        let shape = op.shape(&shapes)?;
        let values: Vec<&T> = inputs.iter().map(|&i| self.nodes[i].value()).collect();
        let (value, saved) = op.forward(&values);
        let requires_grad = inputs
            .iter()
            .enumerate()
            .any(|(k, &i)| op.differentiable_input(k) && self.nodes[i].requires_grad);
        Ok(self.push(op, inputs.to_vec(), shape, value, saved, tag.into(), requires_grad))
    }

    #[allow(clippy::too_many_arguments)]
    fn push(&mut self, op: Op, inputs: Vec<NodeId>, shape: Shape, value: T, saved: Saved, tag: Tag, requires_grad: bool) -> NodeId {
        self.hold(shape.numel() * value.dtype().size() + saved_bytes(&saved));
        self.nodes.push(Node { op, inputs, shape, value: Some(value), saved, tag, requires_grad, grad: None, input_grads: Vec::new() });
        self.nodes.len() - 1
    }

    fn hold(&mut self, n: usize) {
        self.memory.live += n;
        self.memory.peak = self.memory.peak.max(self.memory.live);
    }

    fn release(&mut self, n: usize) {
        self.memory.live = self.memory.live.saturating_sub(n);
    }

    /// Bytes of a tensor of node `id`'s shape (a value or a gradient).
    fn bytes(&self, id: NodeId, t: &T) -> usize {
        self.nodes[id].shape.numel() * t.dtype().size()
    }

    /// Back-propagates from `loss` (a scalar node): fills `grad` of every node that requires one
    /// and, in trace mode, `input_grads` of every op on the way.
    pub fn backward(&mut self, loss: NodeId) {
        for id in 0..self.nodes.len() {
            if let Some(g) = self.nodes[id].grad.take() {
                self.release(self.bytes(id, &g));
            }
            self.nodes[id].input_grads.clear();
        }
        let seed = self.nodes[loss].value().ones_like();
        self.hold(self.bytes(loss, &seed));
        self.nodes[loss].grad = Some(seed);
        for id in (0..=loss).rev() {
            let node = &self.nodes[id];
            if let (Some(upstream), true, false) = (node.grad.clone(), node.requires_grad, matches!(node.op, Op::Leaf(_))) {
                let wanted: Vec<bool> = node
                    .inputs
                    .iter()
                    .enumerate()
                    .map(|(k, &i)| node.op.differentiable_input(k) && self.nodes[i].requires_grad)
                    .collect();
                let inputs: Vec<&T> = node.inputs.iter().map(|&i| self.nodes[i].value()).collect();
                let mut grads = node.op.backward(&inputs, node.value(), &node.saved, &upstream, &wanted);
                for (k, &input) in node.inputs.clone().iter().enumerate() {
                    if !wanted[k] {
                        grads[k] = None;
                    }
                    if let Some(g) = &grads[k] {
                        let total = match self.nodes[input].grad.take() {
                            Some(previous) => {
                                self.release(self.bytes(input, &previous));
                                previous.add(g.clone())
                            }
                            None => g.clone(),
                        };
                        self.hold(self.bytes(input, &total));
                        self.nodes[input].grad = Some(total);
                    }
                }
                if self.mode == Mode::Trace {
                    self.nodes[id].input_grads = grads;
                }
            }
            if self.mode == Mode::Train {
                self.free(id, loss);
            }
        }
    }

    /// Train mode: drops what no later step of the backward reads.
    fn free(&mut self, id: NodeId, loss: NodeId) {
        let node = &mut self.nodes[id];
        let is_param = node.is_param();
        let per_element = node.value.as_ref().map_or(0, |v| v.dtype().size());
        let elements = node.shape.numel();
        let mut freed = saved_bytes(&std::mem::take(&mut node.saved));
        if !is_param && node.grad.take().is_some() {
            freed += elements * per_element;
        }
        if !matches!(node.op, Op::Leaf(_)) && id != loss && node.value.take().is_some() {
            freed += elements * per_element;
        }
        self.release(freed);
    }

    /// How this tape keeps values.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Bytes held now and at the peak.
    pub fn memory(&self) -> Memory {
        self.memory
    }

    /// All nodes, in evaluation order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// One node.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }

    /// The value of a node.
    pub fn value(&self, id: NodeId) -> &T {
        self.nodes[id].value()
    }

    /// The true shape of a node.
    pub fn shape(&self, id: NodeId) -> Shape {
        self.nodes[id].shape
    }

    /// What node `id`'s forward kept for its backward (a training batch norm's moments, read to
    /// update the running averages). Empty after a train-mode backward has passed it.
    pub fn saved(&self, id: NodeId) -> &Saved {
        &self.nodes[id].saved
    }

    /// The gradient of a node after backward, if one reached it.
    pub fn grad(&self, id: NodeId) -> Option<&T> {
        self.nodes[id].grad.as_ref()
    }

    /// The gradients of the given nodes after backward, zeros for any that no gradient reached
    /// (what an optimizer expects: one gradient per parameter).
    pub fn grads_or_zeros(&self, ids: &[NodeId]) -> Vec<T> {
        ids.iter().map(|&id| self.grad(id).cloned().unwrap_or_else(|| self.value(id).zeros_like())).collect()
    }

    /// The nodes recorded as parameters, with their labels.
    pub fn params(&self) -> impl Iterator<Item = (NodeId, &Node)> {
        self.nodes.iter().enumerate().filter(|(_, n)| n.is_param())
    }
}

fn saved_bytes(saved: &Saved) -> usize {
    match saved {
        Saved::Nothing => 0,
        Saved::Indices(i) => i.dims().iter().product::<usize>() * i.dtype().size(),
        Saved::Moments { mean, var } => 2 * mean.dims().iter().product::<usize>() * var.dtype().size(),
    }
}
