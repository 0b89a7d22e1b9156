//! The closed set of operations our tape can record.
//!
//! Every op keeps four things side by side, so that the step-by-step view can name and explain
//! every node: its forward computation, its backward rule (the gradient it passes to each input,
//! given the upstream gradient), a display name, and its formulas. Kernels come from burn; the
//! calculus is ours.
//!
//! All values are rank-2 tensors (`[rows, cols]`): a batch of row vectors, a weight matrix, a bias
//! row `[1, n]` broadcast over rows, a column `[m, 1]` broadcast over columns, or a scalar `[1, 1]`
//! (losses). Ops never create tensors of a
//! fixed dtype from scratch; they derive them from their inputs, so the same code runs in f32 (the
//! app) and f64 (the gradient checks).

use burn::Tensor;
use burn::tensor::activation;

/// A rank-2 tensor: the one value type of the tape.
pub type T = Tensor<2>;

/// What a leaf of the tape holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leaf {
    /// Data fed in (a batch of inputs): no gradient is kept.
    Input,
    /// A trainable parameter: its gradient is the point of the backward pass.
    Param,
    /// Targets and other constants (labels, dropout masks): no gradient.
    Constant,
}

/// One operation of the closed op set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    /// A value that enters the graph from outside.
    Leaf(Leaf),
    /// `[m,k] · [k,n] → [m,n]`.
    MatMul,
    /// Elementwise sum; either input may be a row `[1,n]`, a column `[m,1]` or a scalar `[1,1]`
    /// broadcast over the other's shape.
    Add,
    /// Elementwise product; either input may be broadcast like in `Add`.
    Mul,
    /// Sum of all elements → `[1,1]`.
    Sum,
    /// Mean of all elements → `[1,1]`.
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
    /// Row-wise softmax.
    Softmax,
    /// Row-wise log-softmax (stable: `x − max − log Σ e^{x − max}`).
    LogSoftmax,
    /// `(prediction, target) → ½·mean((p − t)²)`, the loss TF Playground and the essays use.
    Mse,
    /// `(logits, targets) → mean over rows of −Σ t·log softmax(z)`, computed stably. Targets need
    /// not be one-hot nor sum to 1 (label smoothing, weighted rows): the gradient is exact for any.
    SoftmaxCrossEntropy,
    /// `(logits, targets in [0,1]) → mean of max(z,0) − z·t + log(1 + e^{−|z|})`, stable.
    BceWithLogits,
    /// `(x, mask) → x·mask / (1 − rate)`: inverted dropout with a seeded 0/1 mask.
    Dropout { rate: f32 },
    /// `w → rate·Σ|w|`.
    L1 { rate: f32 },
    /// `w → rate·½·Σw²`.
    L2 { rate: f32 },
}

/// Text that explains an op in the step-by-step view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Formula {
    /// The forward computation, e.g. `y = tanh(x)`.
    pub forward: &'static str,
    /// The backward rule, e.g. `∂L/∂x = ∂L/∂y · (1 − y²)`.
    pub backward: &'static str,
}

impl Op {
    /// How many inputs the op takes.
    pub fn arity(&self) -> usize {
        match self {
            Op::Leaf(_) => 0,
            Op::MatMul
            | Op::Add
            | Op::Mul
            | Op::Mse
            | Op::SoftmaxCrossEntropy
            | Op::BceWithLogits
            | Op::Dropout { .. } => 2,
            _ => 1,
        }
    }

    /// Display name.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Leaf(Leaf::Input) => "input",
            Op::Leaf(Leaf::Param) => "parameter",
            Op::Leaf(Leaf::Constant) => "constant",
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
            Op::Softmax => "softmax",
            Op::LogSoftmax => "log-softmax",
            Op::Mse => "MSE loss",
            Op::SoftmaxCrossEntropy => "cross-entropy loss",
            Op::BceWithLogits => "BCE loss",
            Op::Dropout { .. } => "dropout",
            Op::L1 { .. } => "L1 penalty",
            Op::L2 { .. } => "L2 penalty",
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
        };
        Formula { forward, backward }
    }

    /// Computes the op's output from its inputs. Leaves have no forward: the tape stores them.
    pub fn forward(&self, inputs: &[&T]) -> T {
        debug_assert_eq!(inputs.len(), self.arity(), "{} takes {} inputs", self.name(), self.arity());
        let x = || inputs[0].clone();
        let y = || inputs[1].clone();
        match *self {
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
            Op::Softmax => activation::softmax(x(), 1),
            Op::LogSoftmax => activation::log_softmax(x(), 1),
            Op::Mse => scalar(x().sub(y()).powi_scalar(2).mean()).mul_scalar(0.5),
            Op::SoftmaxCrossEntropy => {
                let rows = x().dims()[0] as f64;
                let picked = activation::log_softmax(x(), 1).mul(y());
                scalar(picked.sum()).mul_scalar(-1.0 / rows)
            }
            Op::BceWithLogits => {
                let z = x();
                let softplus_neg_abs = z.clone().abs().neg().exp().log1p();
                let per = z.clone().clamp_min(0.0).sub(z.mul(y())).add(softplus_neg_abs);
                scalar(per.mean())
            }
            Op::Dropout { rate } => x().mul(y()).mul_scalar(1.0 / (1.0 - rate as f64)),
            Op::L1 { rate } => scalar(x().abs().sum()).mul_scalar(rate as f64),
            Op::L2 { rate } => scalar(x().powi_scalar(2).sum()).mul_scalar(0.5 * rate as f64),
        }
    }

    /// Whether the backward rule of input `index` is defined (targets and masks get none).
    pub fn differentiable_input(&self, index: usize) -> bool {
        match self {
            Op::SoftmaxCrossEntropy | Op::BceWithLogits | Op::Dropout { .. } => index == 0,
            _ => true,
        }
    }

    /// Gradients with respect to each input, given the inputs, the output and the upstream
    /// gradient `∂L/∂output` (same shape as the output). `None` for inputs that get no gradient.
    pub fn backward(&self, inputs: &[&T], output: &T, upstream: &T) -> Vec<Option<T>> {
        let x = || inputs[0].clone();
        let y = || inputs[1].clone();
        let g = || upstream.clone();
        let numel = |t: &T| t.dims().iter().product::<usize>() as f64;
        match *self {
            Op::Leaf(_) => vec![],
            Op::MatMul => vec![
                Some(g().matmul(y().transpose())),
                Some(x().transpose().matmul(g())),
            ],
            Op::Add => vec![Some(unbroadcast(g(), inputs[0])), Some(unbroadcast(g(), inputs[1]))],
            Op::Mul => vec![
                Some(unbroadcast(g().mul(y()), inputs[0])),
                Some(unbroadcast(g().mul(x()), inputs[1])),
            ],
            // The upstream is [1,1]: broadcasting it over the input's shape.
            Op::Sum => vec![Some(x().zeros_like().add(g()))],
            Op::Mean => vec![Some(x().zeros_like().add(g()).div_scalar(numel(inputs[0])))],
            Op::Relu => vec![Some(g().mask_fill(x().lower_equal_elem(0.0), 0.0))],
            Op::LeakyRelu { slope } => {
                let scaled = g().mul_scalar(slope as f64);
                vec![Some(g().mask_where(x().lower_equal_elem(0.0), scaled))]
            }
            Op::Sigmoid => {
                let s = output.clone();
                vec![Some(g().mul(s.clone().mul(s.neg().add_scalar(1.0))))]
            }
            Op::Tanh => {
                let t = output.clone();
                vec![Some(g().mul(t.clone().mul(t).neg().add_scalar(1.0)))]
            }
            Op::Identity => vec![Some(g())],
            Op::Softmax => {
                let s = output.clone();
                let dot = g().mul(s.clone()).sum_dim(1);
                vec![Some(s.mul(g().sub(dot)))]
            }
            Op::LogSoftmax => {
                let s = output.clone().exp();
                vec![Some(g().sub(s.mul(g().sum_dim(1))))]
            }
            Op::Mse => {
                let diff = x().sub(y()).div_scalar(numel(inputs[0])).mul(g());
                vec![Some(diff.clone()), Some(diff.neg())]
            }
            Op::SoftmaxCrossEntropy => {
                // −Σᵢ tᵢ log softmax(z)ᵢ = −Σᵢ tᵢ zᵢ + (Σᵢ tᵢ)·log Σⱼ e^{zⱼ}: the second term gives
                // softmax·Σt, which is just softmax only when each row of targets sums to 1.
                let rows = x().dims()[0] as f64;
                let row_mass = y().sum_dim(1);
                let d = activation::softmax(x(), 1).mul(row_mass).sub(y()).div_scalar(rows).mul(g());
                vec![Some(d), None]
            }
            Op::BceWithLogits => {
                let d = activation::sigmoid(x()).sub(y()).div_scalar(numel(inputs[0])).mul(g());
                vec![Some(d), None]
            }
            Op::Dropout { rate } => {
                vec![Some(g().mul(y()).mul_scalar(1.0 / (1.0 - rate as f64))), None]
            }
            Op::L1 { rate } => vec![Some(x().sign().mul(g()).mul_scalar(rate as f64))],
            Op::L2 { rate } => vec![Some(x().mul(g()).mul_scalar(rate as f64))],
        }
    }
}

/// A rank-1 single-element tensor as the `[1,1]` scalar of the tape.
fn scalar(t: Tensor<1>) -> T {
    t.reshape([1, 1])
}

/// Sums a broadcast gradient back down to the shape of the input that was broadcast.
fn unbroadcast(grad: T, input: &T) -> T {
    let [gr, gc] = grad.dims();
    let [ir, ic] = input.dims();
    let mut out = grad;
    if ir == 1 && gr != 1 {
        out = out.sum_dim(0);
    }
    if ic == 1 && gc != 1 {
        out = out.sum_dim(1);
    }
    out
}
