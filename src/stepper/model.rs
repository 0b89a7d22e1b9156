//! One training step of an image model (the MNIST presets) for the stepper, read stage by stage.
//!
//! A CNN step at batch 100 holds tens of millions of numbers (conv1's output alone is
//! 100 × 32 × 28 × 28), so unlike the playground's [`Trace`](super::Trace) nothing is copied to
//! the host up front: the traced tape stays on the device and a stage's tensors — the node's
//! value, the upstream gradient, what it passes to each input, or a parameter before, its
//! gradient, the optimizer's state and the parameter after — are read when that stage is shown
//! ([`ModelStep::parts`], then [`read_parts`]). What the page shows of them is computed here as
//! plain data: statistics, a histogram, and how to picture it (feature maps, filters, images,
//! a heatmap).
//!
//! The step is the trainer's next real one (its batch, augmentation and dropout mask; the trainer
//! advances as it would have). A gradient can be checked numerically: [`Replay`] re-runs the
//! traced graph on the CPU in f64 from host copies of its leaves.

use burn::tensor::Device;

use super::{GradientCheck, Stage, StageKind, relative_error, stages};
use crate::engine::{EngineError, Mode, Node, NodeId, Op, Optimizer, Precision, Shape, T, Tape, read_many, tensor_f64};
use crate::train::images::ImageTrainer;

/// A tensor read back for display: its true shape and values (row-major).
#[derive(Clone, Debug, PartialEq)]
pub struct HostTensor {
    /// The true shape.
    pub shape: Shape,
    /// Its values.
    pub values: Vec<f64>,
}

/// What a large tensor is like, in numbers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Mean.
    pub mean: f64,
    /// Standard deviation (of the population).
    pub std: f64,
    /// Euclidean norm.
    pub norm: f64,
    /// Share of values that are exactly 0 (dead ReLUs, pooled-away positions).
    pub zeros: f64,
}

/// A histogram: `counts[i]` values fall in `[lo + i·w, lo + (i+1)·w)` with `w = (hi − lo)/bins`
/// (the last bin includes `hi`).
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    /// Left edge.
    pub lo: f64,
    /// Right edge.
    pub hi: f64,
    /// Values per bin.
    pub counts: Vec<u32>,
}

impl HostTensor {
    /// Statistics over every value.
    pub fn summary(&self) -> Summary {
        let v = &self.values;
        let n = v.len().max(1) as f64;
        let mean = v.iter().sum::<f64>() / n;
        Summary {
            min: v.iter().copied().fold(f64::INFINITY, f64::min),
            max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            mean,
            std: (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n).sqrt(),
            norm: v.iter().map(|x| x * x).sum::<f64>().sqrt(),
            zeros: v.iter().filter(|&&x| x == 0.0).count() as f64 / n,
        }
    }

    /// A histogram of the values in `bins` equal bins between the smallest and largest (`s`, this
    /// tensor's [`HostTensor::summary`]: a large tensor is scanned once for both).
    pub fn histogram(&self, bins: usize, s: &Summary) -> Histogram {
        let bins = bins.max(1);
        let (lo, hi) = if s.min.is_finite() && s.max.is_finite() { (s.min, s.max) } else { (0.0, 0.0) };
        let width = (hi - lo) / bins as f64;
        let mut counts = vec![0u32; bins];
        for &x in &self.values {
            if !x.is_finite() {
                continue;
            }
            let i = if width > 0.0 { ((x - lo) / width) as usize } else { 0 };
            counts[i.min(bins - 1)] += 1;
        }
        Histogram { lo, hi, counts }
    }

    /// How to picture it: numbers when few; a weight `[o, c, k, k]` as each output's filter (its
    /// first input channel); a value `[n, c, h, w]` as the first image's channels; rows of 784
    /// as 28 × 28 images; anything else as a heatmap of its first rows and columns. `weights`:
    /// it is a parameter, or a parameter's gradient or optimizer state ([`ModelStep::holds_weights`]).
    pub fn picture(&self, weights: bool) -> Picture {
        if self.values.len() <= 64 {
            return Picture::Numbers;
        }
        let [n, c, h, w] = self.shape.storage();
        if self.shape.rank() == 4 {
            return if weights {
                Picture::Images { count: n.min(PICTURES), h, w, stride: c * h * w, caption: "each output channel's filter" }
            } else {
                Picture::Images { count: c.min(PICTURES), h, w, stride: h * w, caption: "the first image's channels" }
            };
        }
        let (rows, cols) = self.matrix();
        if cols == 28 * 28 {
            return Picture::Images { count: rows.min(PICTURES), h: 28, w: 28, stride: cols, caption: "each row as a 28 × 28 image" };
        }
        Picture::Heat { rows: rows.min(HEAT_ROWS), cols: cols.min(HEAT_COLS) }
    }

    /// Rows and columns when every axis but the last is folded into rows.
    pub fn matrix(&self) -> (usize, usize) {
        self.shape.matrix()
    }
}

/// Images, filters or maps pictured per tensor at most.
const PICTURES: usize = 32;
/// Rows and columns of a heatmap at most.
const HEAT_ROWS: usize = 32;
const HEAT_COLS: usize = 512;

/// How a tensor is pictured ([`HostTensor::picture`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Picture {
    /// Few enough values to print.
    Numbers,
    /// `count` images of `h × w`, the `j`-th starting at value `j · stride`.
    Images { count: usize, h: usize, w: usize, stride: usize, caption: &'static str },
    /// The first `rows` rows and `cols` columns, every axis but the last folded into rows.
    Heat { rows: usize, cols: usize },
}

/// One tensor a stage shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// A node's value.
    Value(NodeId),
    /// `∂L/∂value` of a node.
    Upstream(NodeId),
    /// The gradient a node passed to its input `input` (an index into its inputs).
    Passed { node: NodeId, input: usize },
    /// Parameter `param` (an index into [`ModelStep::params`]) before the update.
    Before(usize),
    /// Its gradient.
    Gradient(usize),
    /// The optimizer's state slot `slot` for it (momentum's `v`, Adam's `m` and `v`), after.
    State { param: usize, slot: usize },
    /// The parameter after the update.
    After(usize),
}

/// One box of the stepper's network diagram (see [`ModelStep::diagram`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    /// The forward (or loss) stage that shows this op.
    pub stage: usize,
    /// Its node.
    pub node: NodeId,
    /// The op's name (`conv2d`).
    pub op: &'static str,
    /// The node's label (`conv1`).
    pub label: String,
    /// The output's true shape.
    pub shape: Shape,
}

/// A traced training step of an image model, kept on its device.
pub struct ModelStep {
    tape: Tape,
    /// The loss node.
    pub loss: NodeId,
    /// The parameter leaves, in the model's order.
    pub params: Vec<NodeId>,
    after: Optimizer,
    new_params: Vec<T>,
    /// The walk: forward, loss, backward, update (as the playground's stepper).
    pub stages: Vec<Stage>,
}

impl ModelStep {
    /// Takes the trainer's next training step for real, on a trace tape.
    pub fn from_trainer(trainer: &mut ImageTrainer) -> Self {
        let (tape, nodes, loss) = trainer.step_on(Mode::Trace);
        let walk: Vec<_> = tape.nodes().iter().map(|n| (n.op, n.requires_grad && n.grad.is_some())).collect();
        let stages = stages(&walk, loss, nodes.params.len());
        Self { tape, loss, params: nodes.params, after: trainer.optimizer.clone(), new_params: trainer.model.params.clone(), stages }
    }

    /// A node of the tape.
    pub fn node(&self, id: NodeId) -> &Node {
        self.tape.node(id)
    }

    /// The nodes.
    pub fn nodes(&self) -> &[Node] {
        self.tape.nodes()
    }

    /// The optimizer after the step (its settings and state).
    pub fn optimizer(&self) -> &Optimizer {
        &self.after
    }

    /// Stage `i`, clamped to the last.
    pub fn stage(&self, i: usize) -> Option<(usize, Stage)> {
        let i = i.min(self.stages.len().checked_sub(1)?);
        Some((i, self.stages[i]))
    }

    /// A short name of stage `i`: `"forward · conv2d · conv1 [100, 32, 28, 28]"`.
    pub fn stage_name(&self, i: usize) -> String {
        let Some((_, stage)) = self.stage(i) else { return String::new() };
        match stage.kind {
            StageKind::Update => {
                let node = self.node(self.params[stage.index]);
                format!("update · {} · {} {}", self.after.config.kind.key(), node.label(), node.shape)
            }
            kind => {
                let node = self.node(stage.index);
                format!("{} · {} · {} {}", kind.name(), node.op.name(), node.label(), node.shape)
            }
        }
    }

    /// The network as the stepper draws it: the step's forward and loss ops in order, each with the
    /// stage that shows it.
    pub fn diagram(&self) -> Vec<Block> {
        self.op_stages()
            .map(|(stage, s)| {
                let node = self.node(s.index);
                Block { stage, node: s.index, op: node.op.name(), label: node.label().into_owned(), shape: node.shape }
            })
            .collect()
    }

    /// The node of the diagram's block that stage `i` is about: a forward, loss or backward stage's
    /// own node; for an update, the op that reads the parameter.
    pub fn block_of(&self, i: usize) -> Option<NodeId> {
        let (_, stage) = self.stage(i)?;
        match stage.kind {
            StageKind::Update => {
                let param = *self.params.get(stage.index)?;
                self.op_stages().map(|(_, s)| s.index).find(|&id| self.node(id).inputs.contains(&param))
            }
            _ => Some(stage.index),
        }
    }

    /// The forward and loss stages, with their positions in the walk: one per op of the network.
    fn op_stages(&self) -> impl Iterator<Item = (usize, &Stage)> {
        self.stages.iter().enumerate().filter(|(_, s)| matches!(s.kind, StageKind::Forward | StageKind::Loss))
    }

    /// The tensors stage `i` shows, each with a title.
    pub fn parts(&self, i: usize) -> Vec<(String, Part)> {
        let Some((_, stage)) = self.stage(i) else { return Vec::new() };
        match stage.kind {
            StageKind::Forward | StageKind::Loss => {
                let node = self.node(stage.index);
                let mut parts: Vec<(String, Part)> =
                    node.inputs.iter().map(|&k| (format!("input {} {}", self.node(k).label(), self.node(k).shape), Part::Value(k))).collect();
                parts.push((format!("output {} {}", node.label(), node.shape), Part::Value(stage.index)));
                parts
            }
            StageKind::Backward => {
                let node = self.node(stage.index);
                let mut parts = vec![(format!("upstream ∂L/∂{}", node.label()), Part::Upstream(stage.index))];
                for (k, (&input, grad)) in node.inputs.iter().zip(&node.input_grads).enumerate() {
                    if grad.is_some() {
                        parts.push((format!("passed on: ∂L/∂{}", self.node(input).label()), Part::Passed { node: stage.index, input: k }));
                    }
                }
                parts
            }
            StageKind::Update => {
                let p = stage.index;
                let name = self.node(self.params[p]).label();
                let mut parts = vec![(format!("{name} before"), Part::Before(p)), (format!("gradient ∂L/∂{name}"), Part::Gradient(p))];
                let slots = ["m", "v"];
                let names: &[&str] = if self.after.slots(p).len() == 2 { &slots } else { &slots[1..] };
                for (slot, n) in names.iter().enumerate().take(self.after.slots(p).len()) {
                    parts.push((format!("optimizer state {n} after"), Part::State { param: p, slot }));
                }
                parts.push((format!("{name} after"), Part::After(p)));
                parts
            }
        }
    }

    /// Whether a part holds a weight's layout: a parameter (as a stage's input too), its
    /// gradient, optimizer state or new value.
    pub fn holds_weights(&self, part: Part) -> bool {
        match part {
            Part::Value(id) => self.node(id).is_param(),
            Part::Passed { node, input } => self.node(self.node(node).inputs[input]).is_param(),
            Part::Upstream(_) => false,
            Part::Before(_) | Part::Gradient(_) | Part::State { .. } | Part::After(_) => true,
        }
    }

    /// The device tensor of a part and its true shape (an unread gradient: zeros of the shape).
    pub fn tensor(&self, part: Part) -> (T, Shape) {
        let zeros = |id: NodeId| self.tape.value(id).zeros_like();
        match part {
            Part::Value(id) => (self.tape.value(id).clone(), self.node(id).shape),
            Part::Upstream(id) => (self.node(id).grad.clone().unwrap_or_else(|| zeros(id)), self.node(id).shape),
            Part::Passed { node, input } => {
                let id = self.node(node).inputs[input];
                (self.node(node).input_grads[input].clone().unwrap_or_else(|| zeros(id)), self.node(id).shape)
            }
            Part::Before(p) => (self.tape.value(self.params[p]).clone(), self.node(self.params[p]).shape),
            Part::Gradient(p) => {
                let id = self.params[p];
                (self.node(id).grad.clone().unwrap_or_else(|| zeros(id)), self.node(id).shape)
            }
            Part::State { param, slot } => (self.after.slots(param)[slot].clone(), self.node(self.params[param]).shape),
            Part::After(p) => (self.new_params[p].clone(), self.node(self.params[p]).shape),
        }
    }

    /// The device tensors of these parts, to read with [`read_parts`] (the step need not be
    /// borrowed while the read is under way).
    pub fn pending(&self, parts: &[Part]) -> Vec<(T, Shape)> {
        parts.iter().map(|&p| self.tensor(p)).collect()
    }

    /// The replay's structure and the leaf tensors it needs (read them with [`read_parts`], then
    /// [`Replay::fill`]).
    pub fn replay(&self) -> (Replay, Vec<(T, Shape)>) {
        let nodes = &self.tape.nodes()[..=self.loss];
        let replay = Replay {
            nodes: nodes.iter().map(|n| ReplayNode { op: n.op, inputs: n.inputs.clone(), shape: n.shape, leaf: None }).collect(),
        };
        let leaves = nodes.iter().filter(|n| matches!(n.op, Op::Leaf(_))).map(|n| (n.value().clone(), n.shape)).collect();
        (replay, leaves)
    }
}

/// Reads tensors to the host in one transfer (async: WebGPU never blocks).
pub async fn read_parts(pending: Vec<(T, Shape)>) -> Result<Vec<HostTensor>, EngineError> {
    let shapes: Vec<Shape> = pending.iter().map(|(_, s)| *s).collect();
    let values = read_many(pending.into_iter().map(|(t, _)| t).collect()).await?;
    Ok(values.into_iter().zip(shapes).map(|(values, shape)| HostTensor { shape, values }).collect())
}

/// A traced graph re-run on the CPU in f64 from host copies of its leaves: the loss as a function
/// of any leaf value, independent of the device and of the backward rules being checked.
#[derive(Clone, Debug)]
pub struct Replay {
    nodes: Vec<ReplayNode>,
}

#[derive(Clone, Debug)]
struct ReplayNode {
    op: Op,
    inputs: Vec<NodeId>,
    shape: Shape,
    leaf: Option<Vec<f64>>,
}

impl Replay {
    /// A replay of host nodes: `(op, inputs, shape, the value if a leaf)`, in tape order, ending
    /// at the loss.
    pub fn from_host<'a>(nodes: impl Iterator<Item = (Op, &'a [NodeId], Shape, Option<&'a [f64]>)>) -> Replay {
        Replay { nodes: nodes.map(|(op, inputs, shape, leaf)| ReplayNode { op, inputs: inputs.to_vec(), shape, leaf: leaf.map(<[f64]>::to_vec) }).collect() }
    }

    /// Gives the leaves their values, in tape order (what [`ModelStep::replay`] asked to read).
    pub fn fill(&mut self, leaves: Vec<HostTensor>) {
        let mut leaves = leaves.into_iter();
        for node in self.nodes.iter_mut().filter(|n| matches!(n.op, Op::Leaf(_))) {
            node.leaf = leaves.next().map(|t| t.values);
        }
    }

    /// The loss with some leaf values changed: `(node, element, new value)`.
    pub fn loss_with(&self, changes: &[(NodeId, usize, f64)]) -> f64 {
        let device = Device::flex();
        let mut values: Vec<T> = Vec::with_capacity(self.nodes.len());
        for (id, node) in self.nodes.iter().enumerate() {
            let value = match (&node.op, &node.leaf) {
                (Op::Leaf(_), Some(v)) => {
                    let mut v = v.clone();
                    for &(_, e, x) in changes.iter().filter(|c| c.0 == id) {
                        v[e] = x;
                    }
                    tensor_f64(&v, node.shape, &device, Precision::F64)
                }
                (Op::Leaf(kind), None) => panic!("the replay's {kind:?} leaf {id} was not filled"),
                (op, _) => op.forward(&node.inputs.iter().map(|&i| &values[i]).collect::<Vec<_>>()).0,
            };
            values.push(value);
        }
        let loss = values.pop().expect("the loss node");
        loss.into_data().convert::<f64>().try_to_vec::<f64>().expect("f64 data")[0]
    }

    /// Central finite difference of the loss in leaf `node`'s `element` with step `eps`, against
    /// the traced gradient `analytic`.
    pub fn gradient_check(&self, node: NodeId, element: usize, eps: f64, analytic: f64) -> GradientCheck {
        let w = self.nodes[node].leaf.as_ref().expect("a filled leaf")[element];
        let numeric = (self.loss_with(&[(node, element, w + eps)]) - self.loss_with(&[(node, element, w - eps)])) / (2.0 * eps);
        GradientCheck { analytic, numeric, relative_error: relative_error(analytic, numeric) }
    }
}
