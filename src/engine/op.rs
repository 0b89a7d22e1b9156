//! The closed set of operations our tape can record.
//!
//! Every op keeps its pieces side by side, so that the step-by-step view can name and explain
//! every node: the shape it produces (checked before anything runs, so a mistake names the true
//! shapes), its forward computation, its backward rule (the gradient it passes to each input,
//! given the upstream gradient), a display name, and its formulas. Kernels come from burn; the
//! calculus is ours.
//!
//! Values are `Tensor<4>`s holding a true shape of rank 0–4 padded on the left with 1s (see
//! [`shape`](super::shape) for why). Consequences used below: the last logical axis is storage
//! axis 3; broadcasting is burn's (NumPy rules); an input that was broadcast gets its gradient
//! summed over the storage axes where it had size 1 ([`unbroadcast`]). Ops never create tensors
//! of a fixed dtype from scratch; they derive them from their inputs, so the same code runs in f32
//! (the app) and f64 (the gradient checks).

use burn::Tensor;
use burn::tensor::activation;
use burn::tensor::module::{conv_transpose2d, conv2d, max_pool2d_with_indices, max_pool2d_with_indices_backward};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions, MaxPoolOptions};
use burn::tensor::{IndexingUpdateOp, Int};

use super::fused::{self, Activation};
use super::kernels::{WeightGradient, linear};
use super::shape::{MAX_RANK, Shape, ShapeError, broadcast};
use super::real::Real;

/// The storage of every tape value: a true shape of rank ≤ 4, padded on the left with 1s.
pub type T = Tensor<4>;

/// What a leaf of the tape holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leaf {
    /// Data fed in (a batch of inputs): no gradient is kept.
    Input,
    /// A trainable parameter: its gradient is the point of the backward pass.
    Param,
    /// Targets and other constants (labels, dropout masks): no gradient.
    Constant,
    /// Integer ids (tokens, classes) that an [`Op::Embedding`] looks up: whole numbers below 2²⁴,
    /// held exactly in the float storage every value shares; no gradient.
    Ids,
}

/// One operation of the closed op set. Variants carry what their forward and backward need.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    /// A value that enters the graph from outside.
    Leaf(Leaf),
    /// `[…, m, k] · […, k, n] → […, m, n]`; leading (batch) axes broadcast, so a `[b, t, d]`
    /// activation times a `[d, e]` weight is one op.
    MatMul,
    /// Elementwise sum; the inputs broadcast like NumPy's (a bias `[n]` over `[batch, n]`).
    Add,
    /// Elementwise product; broadcast like `Add`.
    Mul,
    /// Sum of all elements → a scalar.
    Sum,
    /// Mean of all elements → a scalar.
    Mean,
    /// `max(0, x)`.
    Relu,
    /// `x` if `x > 0`, else `slope·x`.
    LeakyRelu { slope: f32 },
    /// `1 / (1 + e^{−x})`.
    Sigmoid,
    /// `tanh x`.
    Tanh,
    /// The linear (identity) activation.
    Identity,
    /// `x·Φ(x)` with the exact normal CDF (PyTorch's default GELU).
    Gelu,
    /// Softmax over the last axis.
    Softmax,
    /// Log-softmax over the last axis (stable: `x − max − log Σ e^{x − max}`).
    LogSoftmax,
    /// `(prediction, target) → ½·mean((p − t)²)`, the loss TF Playground and the essays use.
    Mse,
    /// `(logits, targets) → mean over rows of −Σ t·log softmax(z)`, softmax over the last axis and
    /// every other axis a row; computed stably. Targets need not be one-hot nor sum to 1 (label
    /// smoothing, weighted rows): the gradient is exact for any.
    SoftmaxCrossEntropy,
    /// `(logits, targets in [0,1]) → mean of max(z,0) − z·t + log(1 + e^{−|z|})`, stable.
    BceWithLogits,
    /// `(x, mask) → x·mask / (1 − rate)`: inverted dropout with a seeded 0/1 mask of x's shape.
    Dropout { rate: f32 },
    /// `w → rate·Σ|w|`.
    L1 { rate: f32 },
    /// `w → rate·½·Σw²`.
    L2 { rate: f32 },
    /// The same values in another shape of as many elements (flatten is `[n, c, h, w] → [n, c·h·w]`).
    Reshape { to: Shape },
    /// Reorders the axes: output axis `i` is input axis `axes[i]` (true axes, outermost first).
    /// Made by [`Op::permute`]: entries past the value's rank are `u8::MAX`.
    Permute { axes: [u8; MAX_RANK] },
    /// `(x [n, c, h, w], weight [o, c, k, k], bias [o]) → [n, o, h′, w′]`, cross-correlation as in
    /// PyTorch's `Conv2d`, with `h′ = (h + 2·padding − k) / stride + 1`.
    Conv2d { stride: u8, padding: u8 },
    /// Max over `kernel × kernel` windows moved by `stride` on `[n, c, h, w]`; the position of
    /// each maximum is kept (on the node) for the backward.
    MaxPool2d { kernel: u8, stride: u8 },
    /// `(x, mask) → x where mask = 0, value where mask = 1` (a causal mask before softmax).
    MaskedFill { value: f32 },
    /// The identity forward; no gradient flows back through it (a GAN's frozen half).
    StopGradient,
    /// `(x [.., in], weight [out, in], bias [out]) → x·Wᵀ + b [.., out]`: PyTorch's `Linear`,
    /// with its weight layout (so a weight file loads into `nn.Linear` as it is).
    Linear,
    /// `(x [n, c, h, w], γ [c], β [c]) → γ·(x − μ)/√(σ² + ε) + β` per channel, with `μ`, `σ²` the
    /// batch's (training: kept on the node, for the backward and the running averages) or, with
    /// [`Stats::Running`], two more inputs: the running mean and variance `[c]` (evaluation).
    BatchNorm2d { eps: f32, stats: Stats },
    /// `(ids [..], table [vocab, d]) → [.., d]`: row `ids[i]` of the table for every id (a token
    /// embedding). Ids are whole numbers in `0..vocab`, made by [`Tape::ids`](super::Tape::ids),
    /// which checks them on the host (a kernel cannot say which id was out of range: the CPU
    /// would panic, a GPU clamp); at most three id axes.
    Embedding,
    /// `(x [.., d], γ [d], β [d]) → γ·(x − μ)/√(σ² + ε) + β` with `μ`, `σ²` the mean and biased
    /// variance of each row of the last axis (kept on the node for the backward).
    LayerNorm { eps: f32 },
    /// `x[.., start .. start + len, ..]` along one axis, counted from the end (`0` is the last;
    /// made by [`Op::slice`] from a true axis).
    Slice { from_end: u8, start: u32, len: u32 },
    /// The `count` inputs joined along one axis, counted from the end (made by [`Op::concat`]);
    /// every other axis agrees.
    Concat { from_end: u8, count: u8 },
}

/// Which statistics a batch norm normalises with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stats {
    /// The batch's own mean and (biased) variance: training.
    Batch,
    /// Running averages given as inputs: evaluation.
    Running,
}

/// Text that explains an op in the step-by-step view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Formula {
    /// The forward computation, e.g. `y = tanh(x)`.
    pub forward: &'static str,
    /// The backward rule, e.g. `∂L/∂x = ∂L/∂y · (1 − y²)`.
    pub backward: &'static str,
}

/// What a forward keeps for its backward besides the inputs and the output.
#[derive(Clone, Debug, Default)]
pub enum Saved {
    /// Nothing (most ops).
    #[default]
    Nothing,
    /// Where each pooled maximum came from (flat `h·w` positions per channel).
    Indices(Tensor<4, Int>),
    /// A batch norm's batch mean and biased variance per channel, `[1, c, 1, 1]`, or a layer
    /// norm's per row (`[.., 1]`).
    Moments { mean: T, var: T },
}

impl Op {
    /// How many inputs the op takes.
    pub fn arity(&self) -> usize {
        match self {
            Op::Leaf(_) => 0,
            Op::Conv2d { .. } | Op::Linear | Op::BatchNorm2d { stats: Stats::Batch, .. } | Op::LayerNorm { .. } => 3,
            Op::Concat { count, .. } => *count as usize,
            Op::BatchNorm2d { stats: Stats::Running, .. } => 5,
            Op::MatMul
            | Op::Add
            | Op::Mul
            | Op::Mse
            | Op::SoftmaxCrossEntropy
            | Op::BceWithLogits
            | Op::Dropout { .. }
            | Op::MaskedFill { .. }
            | Op::Embedding => 2,
            _ => 1,
        }
    }

    /// Display name.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Leaf(Leaf::Input) => "input",
            Op::Leaf(Leaf::Param) => "parameter",
            Op::Leaf(Leaf::Constant) => "constant",
            Op::Leaf(Leaf::Ids) => "ids",
            Op::MatMul => "matmul",
            Op::Add => "add",
            Op::Mul => "mul",
            Op::Sum => "sum",
            Op::Mean => "mean",
            Op::Relu => "ReLU",
            Op::LeakyRelu { .. } => "leaky ReLU",
            Op::Sigmoid => "sigmoid",
            Op::Tanh => "tanh",
            Op::Identity => "linear",
            Op::Gelu => "GELU",
            Op::Softmax => "softmax",
            Op::LogSoftmax => "log-softmax",
            Op::Mse => "MSE loss",
            Op::SoftmaxCrossEntropy => "cross-entropy loss",
            Op::BceWithLogits => "BCE loss",
            Op::Dropout { .. } => "dropout",
            Op::L1 { .. } => "L1 penalty",
            Op::L2 { .. } => "L2 penalty",
            Op::Reshape { .. } => "reshape",
            Op::Permute { .. } => "permute",
            Op::Conv2d { .. } => "conv2d",
            Op::MaxPool2d { .. } => "max-pool",
            Op::MaskedFill { .. } => "masked fill",
            Op::StopGradient => "stop-gradient",
            Op::Linear => "linear layer",
            Op::BatchNorm2d { .. } => "batch norm",
            Op::Embedding => "embedding",
            Op::LayerNorm { .. } => "layer norm",
            Op::Slice { .. } => "slice",
            Op::Concat { .. } => "concat",
        }
    }

    /// Forward and backward formulas, for the step-by-step view.
    pub fn formula(&self) -> Formula {
        let (forward, backward) = match self {
            Op::Leaf(_) => ("x", "∂L/∂x is accumulated from every use of x"),
            Op::MatMul => ("Y = A·B", "∂L/∂A = ∂L/∂Y·Bᵀ,  ∂L/∂B = Aᵀ·∂L/∂Y"),
            Op::Add => ("y = a + b", "∂L/∂a = Σ_broadcast ∂L/∂y,  ∂L/∂b = Σ_broadcast ∂L/∂y"),
            Op::Mul => ("y = a ⊙ b", "∂L/∂a = Σ_broadcast ∂L/∂y ⊙ b,  ∂L/∂b = Σ_broadcast ∂L/∂y ⊙ a"),
            Op::Sum => ("y = Σᵢ xᵢ", "∂L/∂xᵢ = ∂L/∂y"),
            Op::Mean => ("y = (1/N) Σᵢ xᵢ", "∂L/∂xᵢ = ∂L/∂y / N"),
            Op::Relu => ("y = max(0, x)", "∂L/∂x = ∂L/∂y · [x > 0]"),
            Op::LeakyRelu { .. } => ("y = x if x > 0 else α·x", "∂L/∂x = ∂L/∂y · (1 if x > 0 else α)"),
            Op::Sigmoid => ("y = 1 / (1 + e^(−x))", "∂L/∂x = ∂L/∂y · y(1 − y)"),
            Op::Tanh => ("y = tanh(x)", "∂L/∂x = ∂L/∂y · (1 − y²)"),
            Op::Identity => ("y = x", "∂L/∂x = ∂L/∂y"),
            Op::Gelu => ("y = x · Φ(x),  Φ(x) = ½(1 + erf(x/√2))", "∂L/∂x = ∂L/∂y · (Φ(x) + x · e^(−x²/2)/√(2π))"),
            Op::Softmax => ("yᵢ = e^(xᵢ) / Σⱼ e^(xⱼ)", "∂L/∂xᵢ = yᵢ (∂L/∂yᵢ − Σⱼ ∂L/∂yⱼ yⱼ)"),
            Op::LogSoftmax => ("yᵢ = xᵢ − log Σⱼ e^(xⱼ)", "∂L/∂xᵢ = ∂L/∂yᵢ − softmax(x)ᵢ Σⱼ ∂L/∂yⱼ"),
            Op::Mse => ("L = ½ · mean((ŷ − y)²)", "∂L/∂ŷ = (ŷ − y) / N"),
            Op::SoftmaxCrossEntropy => (
                "L = −(1/m) Σ_rows Σᵢ yᵢ log softmax(z)ᵢ",
                "∂L/∂z = (softmax(z) · Σᵢ yᵢ − y) / m",
            ),
            Op::BceWithLogits => (
                "L = mean(max(z,0) − z·y + log(1 + e^(−|z|)))",
                "∂L/∂z = (σ(z) − y) / N",
            ),
            Op::Dropout { .. } => ("y = x ⊙ mask / (1 − p)", "∂L/∂x = ∂L/∂y ⊙ mask / (1 − p)"),
            Op::L1 { .. } => ("L = λ Σ|w|", "∂L/∂w = λ · sign(w)"),
            Op::L2 { .. } => ("L = λ · ½ Σ w²", "∂L/∂w = λ · w"),
            Op::Reshape { .. } => ("y = x in a new shape (same order of elements)", "∂L/∂x = ∂L/∂y in x's shape"),
            Op::Permute { .. } => ("y[i₀ i₁ …] = x[i_axes]", "∂L/∂x = ∂L/∂y with the inverse permutation"),
            Op::Conv2d { .. } => (
                "y[n,o,i,j] = b[o] + Σ_c,u,v W[o,c,u,v] · x[n, c, s·i+u−p, s·j+v−p]",
                "∂L/∂x = conv_transpose2d(∂L/∂y, W),  ∂L/∂W[o,c,u,v] = Σ_n,i,j ∂L/∂y[n,o,i,j] · x[n,c,s·i+u−p,s·j+v−p],  ∂L/∂b[o] = Σ_n,i,j ∂L/∂y[n,o,i,j]",
            ),
            Op::MaxPool2d { .. } => (
                "y[n,c,i,j] = max over the k×k window at (s·i, s·j)",
                "∂L/∂x = ∂L/∂y routed to the position of each window's maximum, 0 elsewhere",
            ),
            Op::MaskedFill { .. } => ("y = value where mask, else x", "∂L/∂x = ∂L/∂y where not mask, else 0"),
            Op::StopGradient => ("y = x", "no gradient flows to x"),
            Op::Linear => ("y = x·Wᵀ + b", "∂L/∂x = ∂L/∂y·W,  ∂L/∂W = (∂L/∂y)ᵀ·x,  ∂L/∂b = Σ_rows ∂L/∂y"),
            Op::BatchNorm2d { stats: Stats::Batch, .. } => (
                "x̂ = (x − μ_batch)/√(σ²_batch + ε),  y = γ·x̂ + β  (per channel, over n, h, w)",
                "∂L/∂x = γ/(M·√(σ² + ε)) · (M·∂L/∂y − Σ∂L/∂y − x̂·Σ(∂L/∂y·x̂)),  ∂L/∂γ = Σ ∂L/∂y·x̂,  ∂L/∂β = Σ ∂L/∂y",
            ),
            Op::BatchNorm2d { stats: Stats::Running, .. } => (
                "y = γ·(x − running mean)/√(running var + ε) + β",
                "∂L/∂x = ∂L/∂y · γ/√(running var + ε),  ∂L/∂γ = Σ ∂L/∂y·x̂,  ∂L/∂β = Σ ∂L/∂y",
            ),
            Op::Embedding => ("y[i, :] = E[ids[i], :]", "∂L/∂E[v, :] = Σ_{i: ids[i] = v} ∂L/∂y[i, :]  (ids get no gradient)"),
            Op::LayerNorm { .. } => (
                "x̂ = (x − μ_row)/√(σ²_row + ε),  y = γ·x̂ + β  (per row, over the last axis of d)",
                "∂L/∂x = 1/(d·√(σ² + ε)) · (d·ĝ − Σĝ − x̂·Σ(ĝ·x̂)) with ĝ = γ·∂L/∂y,  ∂L/∂γ = Σ_rows ∂L/∂y·x̂,  ∂L/∂β = Σ_rows ∂L/∂y",
            ),
            Op::Slice { .. } => ("y = x[…, start : start + len, …]", "∂L/∂x = ∂L/∂y in the sliced positions, 0 elsewhere"),
            Op::Concat { .. } => ("y = [x₁ | x₂ | …] along one axis", "∂L/∂xₖ = the part of ∂L/∂y where xₖ went"),
        };
        Formula { forward, backward }
    }

    /// The shape of the output for inputs of these shapes, or what does not fit.
    pub fn shape(&self, inputs: &[Shape]) -> Result<Shape, ShapeError> {
        let op = self.name();
        let fail = |message: String| Err(ShapeError { op, message });
        if inputs.len() != self.arity() {
            return fail(format!("takes {} inputs, got {}", self.arity(), inputs.len()));
        }
        let same = |a: Shape, b: Shape, what: &str| {
            if a == b { Ok(a) } else { fail(format!("{what} {a} and {b} differ")) }
        };
        match *self {
            Op::Leaf(_) => fail("a leaf has no inputs to infer a shape from".into()),
            Op::MatMul => {
                let (a, b) = (inputs[0], inputs[1]);
                if a.rank() < 2 || b.rank() < 2 {
                    return fail(format!("{a} · {b}: both need at least two axes"));
                }
                let (ad, bd) = (a.storage(), b.storage());
                if ad[3] != bd[2] {
                    return fail(format!("{a} · {b}: inner sizes {} and {} differ", ad[3], bd[2]));
                }
                let batch = |s: Shape| Shape::new(&s.dims()[..s.rank() - 2]);
                let Some(batch) = broadcast(batch(a), batch(b)) else {
                    return fail(format!("{a} · {b}: the leading axes do not broadcast"));
                };
                let mut dims = batch.dims().to_vec();
                dims.extend([ad[2], bd[3]]);
                Ok(Shape::new(&dims))
            }
            Op::Add | Op::Mul => {
                broadcast(inputs[0], inputs[1]).map_or_else(|| fail(format!("{} and {} do not broadcast", inputs[0], inputs[1])), Ok)
            }
            Op::Sum | Op::Mean | Op::L1 { .. } | Op::L2 { .. } => Ok(Shape::scalar()),
            Op::Mse | Op::BceWithLogits => same(inputs[0], inputs[1], "prediction and target").map(|_| Shape::scalar()),
            Op::SoftmaxCrossEntropy => same(inputs[0], inputs[1], "logits and targets").map(|_| Shape::scalar()),
            Op::Dropout { .. } | Op::MaskedFill { .. } => same(inputs[0], inputs[1], "value and mask"),
            Op::Relu
            | Op::LeakyRelu { .. }
            | Op::Sigmoid
            | Op::Tanh
            | Op::Identity
            | Op::Gelu
            | Op::Softmax
            | Op::LogSoftmax
            | Op::StopGradient => Ok(inputs[0]),
            Op::Linear => {
                let (x, w, b) = (inputs[0], inputs[1], inputs[2]);
                if x.rank() < 1 || w.rank() != 2 || b.rank() != 1 {
                    return fail(format!("needs x [.., in], weight [out, in], bias [out]; got {x}, {w}, {b}"));
                }
                let [_, _, out, inp] = w.storage();
                if x.last() != inp {
                    return fail(format!("input {x} has {} features, the weight {w} expects {inp}", x.last()));
                }
                if b.dims()[0] != out {
                    return fail(format!("bias {b} for a weight of {out} outputs {w}"));
                }
                let mut dims = x.dims().to_vec();
                *dims.last_mut().expect("rank ≥ 1") = out;
                Ok(Shape::new(&dims))
            }
            Op::BatchNorm2d { .. } => {
                let x = inputs[0];
                if x.rank() != 4 {
                    return fail(format!("needs [n, c, h, w], got {x}"));
                }
                let c = x.dims()[1];
                if let Some(bad) = inputs[1..].iter().find(|s| s.dims() != [c]) {
                    return fail(format!("{x} has {c} channels, a per-channel input is {bad}"));
                }
                Ok(x)
            }
            Op::Reshape { to } => {
                if to.numel() == inputs[0].numel() {
                    Ok(to)
                } else {
                    fail(format!("{} has {} elements, {to} has {}", inputs[0], inputs[0].numel(), to.numel()))
                }
            }
            Op::Permute { axes } => {
                let x = inputs[0];
                if permutation_rank(axes) != x.rank() {
                    return fail(format!("a permutation of {} axes for {x}", permutation_rank(axes)));
                }
                let axes = &axes[..x.rank()];
                let mut seen = [false; MAX_RANK];
                for &a in axes {
                    if a as usize >= x.rank() || seen[a as usize] {
                        return fail(format!("{axes:?} is not a permutation of the {} axes of {x}", x.rank()));
                    }
                    seen[a as usize] = true;
                }
                let dims: Vec<usize> = axes.iter().map(|&a| x.dims()[a as usize]).collect();
                Ok(Shape::new(&dims))
            }
            Op::Conv2d { stride, padding } => {
                let (x, w, b) = (inputs[0], inputs[1], inputs[2]);
                if x.rank() != 4 || w.rank() != 4 || b.rank() != 1 {
                    return fail(format!("needs x [n, c, h, w], weight [o, c, k, k], bias [o]; got {x}, {w}, {b}"));
                }
                let ([n, c, h, wd], [o, wc, kh, kw]) = (x.storage(), w.storage());
                if c != wc {
                    return fail(format!("input {x} has {c} channels, the weight {w} expects {wc}"));
                }
                if b.dims()[0] != o {
                    return fail(format!("bias {b} for a weight of {o} output channels {w}"));
                }
                if stride == 0 {
                    return fail("stride 0".into());
                }
                let p = padding as usize;
                if h + 2 * p < kh || wd + 2 * p < kw {
                    return fail(format!("a {kh}×{kw} kernel does not fit {h}×{wd} with padding {p}"));
                }
                let out = |len: usize, k: usize| (len + 2 * p - k) / stride as usize + 1;
                Ok(Shape::from([n, o, out(h, kh), out(wd, kw)]))
            }
            Op::Embedding => {
                let (ids, table) = (inputs[0], inputs[1]);
                if table.rank() != 2 || ids.rank() > MAX_RANK - 1 {
                    return fail(format!("needs ids of at most {} axes and a table [vocab, d]; got {ids}, {table}", MAX_RANK - 1));
                }
                let mut dims = ids.dims().to_vec();
                dims.push(table.last());
                Ok(Shape::new(&dims))
            }
            Op::LayerNorm { .. } => {
                let x = inputs[0];
                if x.rank() < 1 {
                    return fail(format!("needs at least one axis, got {x}"));
                }
                if let Some(bad) = inputs[1..].iter().find(|s| s.dims() != [x.last()]) {
                    return fail(format!("{x} has {} features in its last axis, a per-feature input is {bad}", x.last()));
                }
                Ok(x)
            }
            Op::Slice { from_end, start, len } => {
                let x = inputs[0];
                let Some(axis) = true_axis(x, from_end) else {
                    return fail(format!("axis −{} of {x}", from_end as usize + 1));
                };
                let size = x.dims()[axis];
                if len == 0 || start as usize + len as usize > size {
                    return fail(format!("{start}..{} of axis {axis} of {x} (size {size})", start as usize + len as usize));
                }
                let mut dims = x.dims().to_vec();
                dims[axis] = len as usize;
                Ok(Shape::new(&dims))
            }
            Op::Concat { from_end, .. } => {
                let first = inputs[0];
                let Some(axis) = true_axis(first, from_end) else {
                    return fail(format!("axis −{} of {first}", from_end as usize + 1));
                };
                let mut dims = first.dims().to_vec();
                for &other in &inputs[1..] {
                    let agrees = other.rank() == first.rank() && (0..first.rank()).all(|a| a == axis || other.dims()[a] == first.dims()[a]);
                    if !agrees {
                        return fail(format!("{first} and {other} differ on an axis other than {axis}"));
                    }
                    dims[axis] += other.dims()[axis];
                }
                Ok(Shape::new(&dims))
            }
            Op::MaxPool2d { kernel, stride } => {
                let x = inputs[0];
                if x.rank() != 4 {
                    return fail(format!("needs [n, c, h, w], got {x}"));
                }
                let [n, c, h, w] = x.storage();
                let (k, s) = (kernel as usize, stride as usize);
                if k == 0 || s == 0 || h < k || w < k {
                    return fail(format!("a {k}×{k} window (stride {s}) does not fit {x}"));
                }
                Ok(Shape::from([n, c, (h - k) / s + 1, (w - k) / s + 1]))
            }
        }
    }

    /// Computes the op's output from its inputs, and what its backward needs besides them.
    /// Leaves have no forward: the tape stores them. Shapes are checked by [`Op::shape`] first.
    pub fn forward(&self, inputs: &[&T]) -> (T, Saved) {
        debug_assert_eq!(inputs.len(), self.arity(), "{} takes {} inputs", self.name(), self.arity());
        let x = || inputs[0].clone();
        let y = || inputs[1].clone();
        let value = match *self {
            Op::Leaf(_) => unreachable!("a leaf has no forward computation"),
            Op::MatMul => x().matmul(y()),
            Op::Add => x().add(y()),
            Op::Mul => x().mul(y()),
            Op::Sum => scalar(x().sum()),
            Op::Mean => scalar(x().mean()),
            Op::Relu => activation::relu(x()),
            Op::LeakyRelu { slope } => activation::leaky_relu(x(), slope as f64),
            Op::Sigmoid => activation::sigmoid(x()),
            Op::Tanh => x().tanh(),
            Op::Identity => x(),
            // Detached too, so that burn-autodiff (the tests' oracle) stops there as our backward does.
            Op::StopGradient => x().detach(),
            Op::Gelu => x().mul(normal_cdf(x())),
            Op::Softmax => activation::softmax(x(), 3),
            Op::LogSoftmax => activation::log_softmax(x(), 3),
            Op::Mse => scalar(x().sub(y()).powi_scalar(2).mean()).mul_scalar(0.5),
            // On the GPU, our kernel: the whole loss in one dispatch (`shaders/softmax_ce_forward.wgsl`).
            Op::SoftmaxCrossEntropy => fused::softmax_ce(inputs[0], inputs[1]).unwrap_or_else(|_| {
                let picked = activation::log_softmax(x(), 3).mul(y());
                scalar(picked.sum()).mul_scalar(-1.0 / rows(inputs[0]))
            }),
            // On the GPU, our kernel: the whole loss in one dispatch (`shaders/bce_logits_forward.wgsl`).
            Op::BceWithLogits => fused::bce_logits(inputs[0], inputs[1]).unwrap_or_else(|_| {
                let z = x();
                let softplus_neg_abs = z.clone().abs().neg().exp().log1p();
                let per = z.clone().clamp_min(0.0).sub(z.mul(y())).add(softplus_neg_abs);
                scalar(per.mean())
            }),
            Op::Dropout { rate } => x().mul(y()).mul_scalar(1.0 / (1.0 - rate as f64)),
            Op::L1 { rate } => scalar(x().abs().sum()).mul_scalar(rate as f64),
            Op::L2 { rate } => scalar(x().powi_scalar(2).sum()).mul_scalar(0.5 * rate as f64),
            Op::Reshape { to } => x().reshape(to.storage()),
            Op::Permute { axes } => x().permute(storage_permutation(axes)),
            Op::Conv2d { stride, padding } => {
                let bias = inputs[2].clone().reshape([inputs[2].dims()[3]]);
                conv2d(x(), y(), Some(bias), conv_options(stride, padding))
            }
            Op::MaxPool2d { kernel, stride } => {
                let (out, indices) = max_pool2d_with_indices(x(), pool_options(kernel, stride));
                return (out, Saved::Indices(indices));
            }
            Op::MaskedFill { value } => x().mask_fill(y().greater_elem(0.5), value as f64),
            Op::Linear => linear(inputs[0], inputs[1]).add(inputs[2].clone()),
            Op::BatchNorm2d { eps, stats } => {
                let (gamma, beta) = (channels(inputs[1]), channels(inputs[2]));
                let (mean, var) = match stats {
                    Stats::Batch => batch_moments(inputs[0]),
                    Stats::Running => (channels(inputs[3]), channels(inputs[4])),
                };
                let normalised = x().sub(mean.clone()).div(var.clone().add_scalar(eps as f64).sqrt());
                let out = normalised.mul(gamma).add(beta);
                return (out, if stats == Stats::Batch { Saved::Moments { mean, var } } else { Saved::Nothing });
            }
            Op::Embedding => {
                let [_, a, b, c] = inputs[0].dims();
                let [_, _, vocab, d] = inputs[1].dims();
                let rows = y().reshape([vocab, d]).select(0, ids(inputs[0]));
                rows.reshape([a, b, c, d])
            }
            Op::LayerNorm { eps } => {
                let mean = x().mean_dim(3);
                let var = x().sub(mean.clone()).powi_scalar(2).mean_dim(3);
                let normalised = x().sub(mean.clone()).div(var.clone().add_scalar(eps as f64).sqrt());
                return (normalised.mul(y()).add(inputs[2].clone()), Saved::Moments { mean, var });
            }
            Op::Slice { from_end, start, len } => x().narrow(3 - from_end as usize, start as usize, len as usize),
            Op::Concat { from_end, .. } => T::cat(inputs.iter().map(|&t| t.clone()).collect(), 3 - from_end as usize),
        };
        (value, Saved::Nothing)
    }

    /// Whether the backward rule of input `index` is defined (targets and masks get none).
    pub fn differentiable_input(&self, index: usize) -> bool {
        match self {
            Op::SoftmaxCrossEntropy | Op::BceWithLogits | Op::Dropout { .. } | Op::MaskedFill { .. } => index == 0,
            Op::BatchNorm2d { .. } => index < 3,
            Op::StopGradient => false,
            Op::Embedding => index == 1,
            _ => true,
        }
    }

    /// Gradients with respect to each input, given the inputs, the output, what the forward
    /// saved, and the upstream gradient `∂L/∂output` (the output's shape). `wanted[k]` says
    /// whether input `k`'s gradient is used: an unwanted one may come back `None` without being
    /// computed (an image's, through the first convolution). `None` for inputs that get no
    /// gradient.
    pub fn backward(&self, inputs: &[&T], output: &T, saved: &Saved, upstream: &T, wanted: &[bool]) -> Vec<Option<T>> {
        let want = |k: usize| wanted.get(k).copied().unwrap_or(true);
        let x = || inputs[0].clone();
        let y = || inputs[1].clone();
        let g = || upstream.clone();
        let numel = |t: &T| t.dims().iter().product::<usize>() as f64;
        match *self {
            Op::Leaf(_) => vec![],
            Op::MatMul => vec![
                want(0).then(|| unbroadcast(g().matmul(y().swap_dims(2, 3)), inputs[0])),
                want(1).then(|| unbroadcast(x().swap_dims(2, 3).matmul(g()), inputs[1])),
            ],
            Op::Add => vec![want(0).then(|| unbroadcast(g(), inputs[0])), want(1).then(|| unbroadcast(g(), inputs[1]))],
            Op::Mul => vec![
                want(0).then(|| unbroadcast(g().mul(y()), inputs[0])),
                want(1).then(|| unbroadcast(g().mul(x()), inputs[1])),
            ],
            // The upstream is a scalar: broadcasting it over the input's shape.
            Op::Sum => vec![Some(x().zeros_like().add(g()))],
            Op::Mean => vec![Some(x().zeros_like().add(g()).div_scalar(numel(inputs[0])))],
            // Each activation's rule on the GPU is one dispatch of ours
            // (`shaders/activation_backward.wgsl`); else burn's element-wise ops.
            Op::Relu => vec![Some(fused::activation_backward(Activation::Relu, inputs[0], upstream).unwrap_or_else(|_| g().mask_fill(x().lower_equal_elem(0.0), 0.0)))],
            Op::LeakyRelu { slope } => vec![Some(fused::activation_backward(Activation::LeakyRelu(slope), inputs[0], upstream).unwrap_or_else(|_| {
                let scaled = g().mul_scalar(slope as f64);
                g().mask_where(x().lower_equal_elem(0.0), scaled)
            }))],
            Op::Sigmoid => vec![Some(fused::activation_backward(Activation::Sigmoid, output, upstream).unwrap_or_else(|_| {
                let s = output.clone();
                g().mul(s.clone().mul(s.neg().add_scalar(1.0)))
            }))],
            Op::Tanh => vec![Some(fused::activation_backward(Activation::Tanh, output, upstream).unwrap_or_else(|_| {
                let t = output.clone();
                g().mul(t.clone().mul(t).neg().add_scalar(1.0))
            }))],
            Op::Identity => vec![Some(g())],
            Op::StopGradient => vec![None],
            Op::Gelu => {
                let density = x().powi_scalar(2).mul_scalar(-0.5).exp().mul_scalar(1.0 / (2.0 * std::f64::consts::PI).sqrt());
                vec![Some(g().mul(normal_cdf(x()).add(x().mul(density))))]
            }
            Op::Softmax => {
                let s = output.clone();
                let dot = g().mul(s.clone()).sum_dim(3);
                vec![Some(s.mul(g().sub(dot)))]
            }
            Op::LogSoftmax => {
                let s = output.clone().exp();
                vec![Some(g().sub(s.mul(g().sum_dim(3))))]
            }
            Op::Mse => {
                let diff = x().sub(y()).div_scalar(numel(inputs[0])).mul(g());
                vec![Some(diff.clone()), Some(diff.neg())]
            }
            Op::SoftmaxCrossEntropy => {
                // −Σᵢ tᵢ log softmax(z)ᵢ = −Σᵢ tᵢ zᵢ + (Σᵢ tᵢ)·log Σⱼ e^{zⱼ}: the second term gives
                // softmax·Σt, which is just softmax only when each row of targets sums to 1.
                let d = fused::softmax_ce_backward(inputs[0], inputs[1], upstream).unwrap_or_else(|_| {
                    let row_mass = y().sum_dim(3);
                    activation::softmax(x(), 3).mul(row_mass).sub(y()).div_scalar(rows(inputs[0])).mul(g())
                });
                vec![Some(d), None]
            }
            Op::BceWithLogits => {
                let d = fused::bce_logits_backward(inputs[0], inputs[1], upstream)
                    .unwrap_or_else(|_| activation::sigmoid(x()).sub(y()).div_scalar(numel(inputs[0])).mul(g()));
                vec![Some(d), None]
            }
            Op::Dropout { rate } => {
                vec![Some(g().mul(y()).mul_scalar(1.0 / (1.0 - rate as f64))), None]
            }
            Op::L1 { rate } => vec![Some(x().sign().mul(g()).mul_scalar(rate as f64))],
            Op::L2 { rate } => vec![Some(x().mul(g()).mul_scalar(rate as f64))],
            Op::Reshape { .. } => vec![Some(g().reshape(inputs[0].dims()))],
            Op::Permute { axes } => {
                let forward = storage_permutation(axes);
                let mut inverse = [0usize; MAX_RANK];
                for (i, &a) in forward.iter().enumerate() {
                    inverse[a] = i;
                }
                vec![Some(g().permute(inverse))]
            }
            Op::Conv2d { stride, padding } => {
                let ([_, _, h, w], [_, _, kh, kw]) = (inputs[0].dims(), inputs[1].dims());
                let (s, p) = (stride as usize, padding as usize);
                // The rows and columns the forward's stride skipped at the far edge come back as
                // the transposed convolution's extra output padding.
                let extra = [(h + 2 * p - kh) % s, (w + 2 * p - kw) % s];
                let transposed = ConvTransposeOptions::new([s, s], [p, p], extra, [1, 1], 1);
                let dx = want(0).then(|| conv_transpose2d(g(), y(), None, transposed));
                let dw = want(1).then(|| WeightGradient::Im2col.compute(inputs[0], inputs[1], upstream, s, p));
                let db = want(2).then(|| channel_sums(g()).reshape(inputs[2].dims()));
                vec![dx, dw, db]
            }
            Op::MaxPool2d { kernel, stride } => {
                let Saved::Indices(indices) = saved else { unreachable!("max-pool's forward keeps its indices") };
                let (k, s) = (kernel as usize, stride as usize);
                vec![Some(max_pool2d_with_indices_backward(x(), [k, k], [s, s], [0, 0], [1, 1], false, g(), indices.clone()))]
            }
            Op::MaskedFill { .. } => vec![Some(g().mask_fill(y().greater_elem(0.5), 0.0)), None],
            Op::Linear => vec![
                want(0).then(|| g().matmul(y())),
                want(1).then(|| unbroadcast(g().swap_dims(2, 3).matmul(x()), inputs[1])),
                want(2).then(|| unbroadcast(g(), inputs[2])),
            ],
            Op::BatchNorm2d { eps, stats } => {
                let (mean, var) = match (stats, saved) {
                    (Stats::Batch, Saved::Moments { mean, var }) => (mean.clone(), var.clone()),
                    (Stats::Running, _) => (channels(inputs[3]), channels(inputs[4])),
                    _ => unreachable!("a training batch norm keeps its moments"),
                };
                let inv_std = var.add_scalar(eps as f64).sqrt().recip();
                let normalised = x().sub(mean).mul(inv_std.clone());
                let sum_g = channel_sums(g());
                let sum_g_xhat = channel_sums(g().mul(normalised.clone()));
                let gamma = channels(inputs[1]);
                let dx = want(0).then(|| match stats {
                    Stats::Batch => {
                        let [n, _, h, w] = inputs[0].dims();
                        let m = (n * h * w) as f64;
                        let centred = g().mul_scalar(m).sub(sum_g.clone()).sub(normalised.clone().mul(sum_g_xhat.clone()));
                        centred.mul(gamma.mul(inv_std).div_scalar(m))
                    }
                    Stats::Running => g().mul(gamma.mul(inv_std)),
                });
                let back = |t: T, like: &T| t.reshape(like.dims());
                let mut grads = vec![dx, want(1).then(|| back(sum_g_xhat, inputs[1])), want(2).then(|| back(sum_g, inputs[2]))];
                if stats == Stats::Running {
                    grads.extend([None, None]);
                }
                grads
            }
            Op::Embedding => {
                let [_, _, vocab, d] = inputs[1].dims();
                let rows = g().reshape([ids_len(inputs[0]), d]);
                // Each feature column is one sequential pass over the ids (burn's select_assign):
                // repeated ids add up in the order they occur, on every backend.
                let table = y().reshape([vocab, d]).zeros_like().select_assign(0, ids(inputs[0]), rows, IndexingUpdateOp::Add);
                vec![None, want(1).then(|| table.reshape([1, 1, vocab, d]))]
            }
            Op::LayerNorm { .. } => {
                let Saved::Moments { mean, var } = saved else { unreachable!("layer norm's forward keeps its moments") };
                let Op::LayerNorm { eps } = *self else { unreachable!() };
                let d = inputs[0].dims()[3] as f64;
                let inv_std = var.clone().add_scalar(eps as f64).sqrt().recip();
                let normalised = x().sub(mean.clone()).mul(inv_std.clone());
                let scaled = g().mul(y());
                let dx = want(0).then(|| {
                    let centred = scaled.clone().mul_scalar(d).sub(scaled.clone().sum_dim(3)).sub(normalised.clone().mul(scaled.clone().mul(normalised.clone()).sum_dim(3)));
                    centred.mul(inv_std).div_scalar(d)
                });
                let dgamma = want(1).then(|| unbroadcast(g().mul(normalised), inputs[1]));
                let dbeta = want(2).then(|| unbroadcast(g(), inputs[2]));
                vec![dx, dgamma, dbeta]
            }
            Op::Slice { from_end, start, len } => {
                let axis = 3 - from_end as usize;
                let mut ranges = inputs[0].dims().map(|n| 0..n);
                ranges[axis] = start as usize..(start + len) as usize;
                vec![Some(x().zeros_like().slice_assign(ranges, g()))]
            }
            Op::Concat { from_end, .. } => {
                let axis = 3 - from_end as usize;
                let mut at = 0;
                inputs
                    .iter()
                    .enumerate()
                    .map(|(k, t)| {
                        let len = t.dims()[axis];
                        let part = want(k).then(|| g().narrow(axis, at, len));
                        at += len;
                        part
                    })
                    .collect()
            }
        }
    }
}

/// One input of a host kernel: its values, row-major, and its true shape.
#[derive(Clone, Copy, Debug)]
pub struct HostArg<'a, F> {
    /// The values.
    pub values: &'a [F],
    /// The true shape.
    pub shape: Shape,
}

/// How a second input of `Add`/`Mul` lines up with the first on the host: the first is never
/// broadcast; the second either has its shape or repeats it every `period` elements (a bias row
/// `[1, n]` or `[n]` under `[m, n]`, a scalar under anything).
fn host_period(a: Shape, b: Shape) -> Option<usize> {
    let trailing = b.dims().iter().skip_while(|&&d| d == 1).copied().collect::<Vec<_>>();
    let a_dims = a.dims();
    let fits = broadcast(a, b) == Some(a) && trailing.len() <= a_dims.len() && a_dims[a_dims.len() - trailing.len()..] == trailing[..];
    fits.then(|| b.numel())
}

/// The host kernels: the CPU path's arithmetic for the playground's op set, on plain slices.
///
/// burn's CPU backend costs about a microsecond per op whatever the size (an allocation, a trip
/// through its dispatch), so a step of the playground's 2-4-2-1 net — ~55 ops on tensors of a few
/// dozen values — is all overhead there; these kernels write into buffers a [`Plan`](super::host::Plan)
/// allocated once. Each implements the formula of its op above, in the same terms; the tests
/// check each against the burn path and against finite differences, in f64.
impl Op {
    /// Whether the host kernels compute this op on inputs of these shapes, or why not.
    pub fn host_support(&self, inputs: &[Shape]) -> Result<(), &'static str> {
        match self {
            Op::MatMul if inputs.iter().all(|s| s.rank() == 2) => Ok(()),
            Op::MatMul => Err("a batched matmul"),
            Op::Add | Op::Mul if host_period(inputs[0], inputs[1]).is_some() => Ok(()),
            Op::Add | Op::Mul => Err("a broadcast other than the second input repeated"),
            Op::Leaf(_)
            | Op::Sum
            | Op::Mean
            | Op::Relu
            | Op::LeakyRelu { .. }
            | Op::Sigmoid
            | Op::Tanh
            | Op::Identity
            | Op::StopGradient
            | Op::Mse
            | Op::SoftmaxCrossEntropy
            | Op::BceWithLogits
            | Op::Dropout { .. }
            | Op::L1 { .. }
            | Op::L2 { .. } => Ok(()),
            _ => Err("an op without a host kernel"),
        }
    }

    /// [`Op::forward`] on the host: writes the output into `out` (its length is the output's size).
    pub fn forward_host<F: Real>(&self, inputs: &[HostArg<'_, F>], out: &mut [F]) {
        let x = inputs[0].values;
        let y = || inputs[1].values;
        let n = |k: usize| F::of(inputs[k].shape.numel() as f64);
        match *self {
            Op::Leaf(_) => unreachable!("a leaf has no forward computation"),
            // out[i, j] = Σₚ x[i, p]·y[p, j], summed in order of p (in a register: these matrices
            // are a few values wide, and a running sum in memory waited on its own store).
            Op::MatMul => {
                let (m, k) = inputs[0].shape.matrix();
                let cols = inputs[1].shape.last();
                let w = y();
                for i in 0..m {
                    let a = &x[i * k..(i + 1) * k];
                    for j in 0..cols {
                        let mut dot = F::ZERO;
                        for p in 0..k {
                            dot += a[p] * w[p * cols + j];
                        }
                        out[i * cols + j] = dot;
                    }
                }
            }
            Op::Add | Op::Mul => {
                let (b, period) = (y(), inputs[1].shape.numel());
                // out[i] = x[i] ∘ y[i mod period]
                let mut j = 0;
                for i in 0..out.len() {
                    out[i] = if *self == Op::Add { x[i] + b[j] } else { x[i] * b[j] };
                    j += 1;
                    if j == period {
                        j = 0;
                    }
                }
            }
            Op::Sum => out[0] = sum(x),
            Op::Mean => out[0] = sum(x) / n(0),
            // NaN passes (as burn's ReLU): a diverged layer must not look finite.
            Op::Relu => map_into(out, x, |v| if v <= F::ZERO { F::ZERO } else { v }),
            Op::LeakyRelu { slope } => map_into(out, x, |v| if v > F::ZERO { v } else { F::of(slope as f64) * v }),
            Op::Sigmoid => map_into(out, x, sigmoid),
            Op::Tanh => map_into(out, x, |v| v.tanh()),
            Op::Identity | Op::StopGradient => out.copy_from_slice(x),
            // ½·mean((p − t)²)
            Op::Mse => {
                let t = y();
                let mut total = F::ZERO;
                for i in 0..x.len() {
                    total += (x[i] - t[i]) * (x[i] - t[i]);
                }
                out[0] = F::of(0.5) * total / n(0);
            }
            // mean over rows of −Σ t·(z − max − log Σ e^{z − max})
            Op::SoftmaxCrossEntropy => {
                let width = inputs[0].shape.last();
                let mut total = F::ZERO;
                for (z, t) in x.chunks(width).zip(y().chunks(width)) {
                    let (max, log_sum) = log_sum_exp(z);
                    for j in 0..width {
                        total += t[j] * (z[j] - max - log_sum);
                    }
                }
                out[0] = -total / F::of((inputs[0].shape.numel() / width) as f64);
            }
            // mean of max(z, 0) − z·t + log(1 + e^{−|z|})
            Op::BceWithLogits => {
                let t = y();
                let mut total = F::ZERO;
                for i in 0..x.len() {
                    let z = x[i];
                    total += z.max(F::ZERO) - z * t[i] + (-z.abs()).exp().ln_1p();
                }
                out[0] = total / n(0);
            }
            // x·mask / (1 − rate)
            Op::Dropout { rate } => {
                let keep = F::of(1.0 / (1.0 - rate as f64));
                let mask = y();
                fill_with(out, |i| x[i] * mask[i] * keep);
            }
            Op::L1 { rate } => out[0] = F::of(rate as f64) * sum_of(x.len(), |i| x[i].abs()),
            Op::L2 { rate } => out[0] = F::of(0.5 * rate as f64) * sum_of(x.len(), |i| x[i] * x[i]),
            _ => unreachable!("{} has no host kernel (see Op::host_support)", self.name()),
        }
    }

    /// [`Op::backward`] on the host: writes `∂L/∂input k` into `grads[k]` for every `wanted[k]`
    /// (each its input's size), given the inputs, the output and the upstream gradient.
    pub fn backward_host<F: Real>(&self, inputs: &[HostArg<'_, F>], output: &[F], upstream: &[F], wanted: &[bool], grads: &mut [&mut [F]]) {
        let x = inputs[0].values;
        let y = || inputs[1].values;
        let g = upstream;
        let n = |k: usize| F::of(inputs[k].shape.numel() as f64);
        match *self {
            Op::Leaf(_) => {}
            // dx = g·yᵀ, dy = xᵀ·g
            Op::MatMul => {
                let (m, k) = inputs[0].shape.matrix();
                let cols = inputs[1].shape.last();
                if wanted[0] {
                    for i in 0..m {
                        for p in 0..k {
                            let row = &g[i * cols..(i + 1) * cols];
                            let w = &y()[p * cols..(p + 1) * cols];
                            let mut dot = F::ZERO;
                            for j in 0..cols {
                                dot += row[j] * w[j];
                            }
                            grads[0][i * k + p] = dot;
                        }
                    }
                }
                // dy[p, j] = Σᵢ x[i, p]·g[i, j], summed in order of i (in a register).
                if wanted[1] {
                    for p in 0..k {
                        for j in 0..cols {
                            let mut dot = F::ZERO;
                            for i in 0..m {
                                dot += x[i * k + p] * g[i * cols + j];
                            }
                            grads[1][p * cols + j] = dot;
                        }
                    }
                }
            }
            // dx = g (·y); dy = g (·x) summed over the repeats
            Op::Add | Op::Mul => {
                let add = *self == Op::Add;
                let period = inputs[1].shape.numel();
                let b = y();
                if wanted[0] {
                    if add {
                        grads[0].copy_from_slice(g);
                    } else {
                        fill_with(grads[0], |i| g[i] * b[i % period]);
                    }
                }
                if wanted[1] {
                    let d = &mut *grads[1];
                    d.fill(F::ZERO);
                    let mut j = 0;
                    for i in 0..g.len() {
                        d[j] += if add { g[i] } else { g[i] * x[i] };
                        j += 1;
                        if j == period {
                            j = 0;
                        }
                    }
                }
            }
            Op::Sum => fill_with(grads[0], |_| g[0]),
            Op::Mean => fill_with(grads[0], |_| g[0] / n(0)),
            // Masked where x ≤ 0, as burn's backward (a NaN input passes its gradient on).
            Op::Relu => fill_with(grads[0], |i| if x[i] <= F::ZERO { F::ZERO } else { g[i] }),
            Op::LeakyRelu { slope } => fill_with(grads[0], |i| if x[i] <= F::ZERO { g[i] * F::of(slope as f64) } else { g[i] }),
            Op::Sigmoid => fill_with(grads[0], |i| g[i] * (output[i] * (F::ONE - output[i]))),
            Op::Tanh => fill_with(grads[0], |i| g[i] * (F::ONE - output[i] * output[i])),
            Op::Identity => fill_with(grads[0], |i| g[i]),
            Op::StopGradient => {}
            // dp = (p − t)/N · g (the target gets the negation, when wanted)
            Op::Mse => {
                let scale = g[0] / n(0);
                fill_with(grads[0], |i| (x[i] - y()[i]) * scale);
                if wanted[1] {
                    let t = y();
                    fill_with(grads[1], |i| -(x[i] - t[i]) * scale);
                }
            }
            // dz = (softmax(z)·Σt − t) / rows · g
            Op::SoftmaxCrossEntropy => {
                let width = inputs[0].shape.last();
                let scale = g[0] / F::of((inputs[0].shape.numel() / width) as f64);
                for ((d, z), t) in grads[0].chunks_mut(width).zip(x.chunks(width)).zip(y().chunks(width)) {
                    let (max, log_sum) = log_sum_exp(z);
                    let mass = sum(t);
                    for ((d, &zi), &ti) in d.iter_mut().zip(z).zip(t) {
                        *d = ((zi - max - log_sum).exp() * mass - ti) * scale;
                    }
                }
            }
            // dz = (σ(z) − t) / N · g
            Op::BceWithLogits => {
                let scale = g[0] / n(0);
                fill_with(grads[0], |i| (sigmoid(x[i]) - y()[i]) * scale);
            }
            Op::Dropout { rate } => {
                let keep = F::of(1.0 / (1.0 - rate as f64));
                fill_with(grads[0], |i| g[i] * y()[i] * keep);
            }
            Op::L1 { rate } => fill_with(grads[0], |i| x[i].signum0() * g[0] * F::of(rate as f64)),
            Op::L2 { rate } => fill_with(grads[0], |i| x[i] * g[0] * F::of(rate as f64)),
            _ => unreachable!("{} has no host kernel (see Op::host_support)", self.name()),
        }
    }
}

/// `Σᵢ f(i)` for `i` in `0..n`, in order (a plain loop: it needs no inlining to be fast).
#[inline]
fn sum_of<F: Real>(n: usize, f: impl Fn(usize) -> F) -> F {
    let mut total = F::ZERO;
    for i in 0..n {
        total += f(i);
    }
    total
}

/// `out[i] = f(x[i])`.
#[inline]
fn map_into<F: Real>(out: &mut [F], x: &[F], f: impl Fn(F) -> F) {
    for i in 0..out.len() {
        out[i] = f(x[i]);
    }
}

/// `out[i] = f(i)`: an input's gradient, element by element (the element-wise ops, the losses).
#[inline]
fn fill_with<F: Real>(out: &mut [F], f: impl Fn(usize) -> F) {
    for i in 0..out.len() {
        out[i] = f(i);
    }
}

/// Σ of the values, in order.
fn sum<F: Real>(values: &[F]) -> F {
    sum_of(values.len(), |i| values[i])
}

/// `1 / (1 + e^{−x})`
fn sigmoid<F: Real>(x: F) -> F {
    F::ONE / (F::ONE + (-x).exp())
}

/// A row's maximum and `log Σ e^{z − max}`, for a stable softmax.
fn log_sum_exp<F: Real>(z: &[F]) -> (F, F) {
    let mut max = z[0];
    for &v in z {
        max = max.max(v);
    }
    let total = sum_of(z.len(), |j| (z[j] - max).exp());
    (max, total.ln())
}

/// The ids of an [`Op::Embedding`] as burn's integer indices, flattened.
fn ids(t: &T) -> Tensor<1, Int> {
    t.clone().reshape([ids_len(t)]).int()
}

fn ids_len(t: &T) -> usize {
    t.dims().iter().product()
}

/// The true axis of `x` that is `from_end` axes before its last, if it has one.
fn true_axis(x: Shape, from_end: u8) -> Option<usize> {
    (x.rank() > from_end as usize).then(|| x.rank() - 1 - from_end as usize)
}

/// A per-channel vector `[c]` (stored `[1, 1, 1, c]`) as `[1, c, 1, 1]`, to broadcast over
/// `[n, c, h, w]`.
fn channels(t: &T) -> T {
    let c = t.dims()[3];
    t.clone().reshape([1, c, 1, 1])
}

/// Sums of `[n, c, h, w]` over everything but the channel: `[1, c, 1, 1]`.
fn channel_sums(t: T) -> T {
    t.sum_dim(0).sum_dim(2).sum_dim(3)
}

/// The batch mean and biased variance of each channel of `[n, c, h, w]`, as `[1, c, 1, 1]`.
fn batch_moments(x: &T) -> (T, T) {
    let [n, _, h, w] = x.dims();
    let m = (n * h * w) as f64;
    let mean = channel_sums(x.clone()).div_scalar(m);
    let var = channel_sums(x.clone().sub(mean.clone()).powi_scalar(2)).div_scalar(m);
    (mean, var)
}

/// A rank-1 single-element tensor as the tape's scalar (`[1, 1, 1, 1]`).
fn scalar(t: Tensor<1>) -> T {
    t.reshape([1, 1, 1, 1])
}

/// Rows of a value whose last axis holds classes: every other axis folded.
fn rows(t: &T) -> f64 {
    let [a, b, c, _] = t.dims();
    (a * b * c) as f64
}

/// `Φ(x) = ½(1 + erf(x/√2))`, the standard normal CDF.
fn normal_cdf(x: T) -> T {
    x.mul_scalar(std::f64::consts::FRAC_1_SQRT_2).erf().add_scalar(1.0).mul_scalar(0.5)
}

pub(super) fn conv_options(stride: u8, padding: u8) -> ConvOptions<2> {
    let (s, p) = (stride as usize, padding as usize);
    ConvOptions::new([s, s], [p, p], [1, 1], 1)
}

fn pool_options(kernel: u8, stride: u8) -> MaxPoolOptions<2> {
    MaxPoolOptions::new([kernel as usize; 2]).with_stride([stride as usize; 2])
}

/// A permutation of a value's true axes as a permutation of its four storage axes (the padding
/// axes stay in front).
fn storage_permutation(axes: [u8; MAX_RANK]) -> [usize; MAX_RANK] {
    let rank = permutation_rank(axes);
    let pad = MAX_RANK - rank;
    let mut out = [0, 1, 2, 3];
    for i in 0..rank {
        out[pad + i] = pad + axes[i] as usize;
    }
    out
}

/// The rank a permutation was made for (see [`Op::permute`]).
fn permutation_rank(axes: [u8; MAX_RANK]) -> usize {
    (0..=MAX_RANK).rev().find(|&r| r == 0 || axes[r - 1] != u8::MAX).unwrap_or(0)
}

impl Op {
    /// The permutation op for a value of rank `axes.len()`: output axis `i` is input axis
    /// `axes[i]`. Unused entries are marked, so the op knows the rank it was made for.
    pub fn permute(axes: &[usize]) -> Op {
        assert!(axes.len() <= MAX_RANK, "rank {} is more than the tape's {MAX_RANK}", axes.len());
        let mut packed = [u8::MAX; MAX_RANK];
        for (p, &a) in packed.iter_mut().zip(axes) {
            *p = a as u8;
        }
        Op::Permute { axes: packed }
    }

    /// `x[.., start .. start + len, ..]` along true axis `axis` of a value of rank `rank`.
    pub fn slice(rank: usize, axis: usize, start: usize, len: usize) -> Op {
        assert!(axis < rank && rank <= MAX_RANK, "axis {axis} of a rank-{rank} value");
        Op::Slice { from_end: (rank - 1 - axis) as u8, start: start as u32, len: len as u32 }
    }

    /// Joins `count` values of rank `rank` along true axis `axis`.
    pub fn concat(rank: usize, axis: usize, count: usize) -> Op {
        assert!(axis < rank && rank <= MAX_RANK, "axis {axis} of a rank-{rank} value");
        assert!((1..=u8::MAX as usize).contains(&count), "concat of {count} values");
        Op::Concat { from_end: (rank - 1 - axis) as u8, count: count as u8 }
    }

    /// Swaps the last two axes of a value of rank `rank` (`Kᵀ` in attention).
    pub fn transpose(rank: usize) -> Op {
        let mut axes: Vec<usize> = (0..rank).collect();
        axes.swap(rank - 2, rank - 1);
        Op::permute(&axes)
    }
}

/// Sums a broadcast gradient back down to the shape of the input that was broadcast: over every
/// storage axis where the input had size 1 and the gradient does not.
pub fn unbroadcast(grad: T, input: &T) -> T {
    let (gd, id) = (grad.dims(), input.dims());
    let mut out = grad;
    for axis in 0..MAX_RANK {
        if id[axis] == 1 && gd[axis] != 1 {
            out = out.sum_dim(axis);
        }
    }
    out
}
