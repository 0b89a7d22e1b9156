//! The local derivatives a backward stage shows: for each input of a traced node, the factor its
//! upstream gradient is multiplied by (elementwise, or a matrix product's other operand), computed
//! from the traced values — or why there is none to show (a Jacobian, an input without gradient).

use super::{Matrix, Trace};
use crate::engine::{NodeId, Op};

/// The local derivative a backward stage multiplies the upstream gradient by, per input.
#[derive(Clone, Debug, PartialEq)]
pub enum Local {
    /// Elementwise: `∂L/∂x = ∂L/∂y ⊙ local` (same shape as the input, before any broadcast sum).
    Elementwise(Matrix),
    /// A matrix product: `∂L/∂A = ∂L/∂Y · M` or `∂L/∂B = M · ∂L/∂Y`, with M shown.
    MatMulRight(Matrix),
    /// See `MatMulRight`.
    MatMulLeft(Matrix),
    /// No simple local factor (softmax Jacobians); the formula says how it is applied.
    Jacobian,
    /// The input gets no gradient (targets, masks).
    None,
}

/// The local derivatives of node `id`'s op with respect to each input, from the traced values.
pub fn local_derivatives(trace: &Trace, id: NodeId) -> Vec<Local> {
    let node = &trace.nodes[id];
    let input = |k: usize| &trace.nodes[node.inputs[k]].value;
    let y = &node.value;
    let ones = |m: &Matrix| m.map(|_| 1.0);
    match node.op {
        Op::Leaf(_) => vec![],
        Op::MatMul => vec![Local::MatMulRight(input(1).transpose()), Local::MatMulLeft(input(0).transpose())],
        Op::Add => vec![Local::Elementwise(ones(y)), Local::Elementwise(ones(y))],
        Op::Mul => {
            let (a, b) = (input(0), input(1));
            let grid = |m: &Matrix| Matrix::new(y.rows, y.cols, (0..y.len()).map(|i| m.broadcast_at(i / y.cols, i % y.cols)).collect());
            vec![Local::Elementwise(grid(b)), Local::Elementwise(grid(a))]
        }
        Op::Sum => vec![Local::Elementwise(ones(input(0)))],
        Op::Mean => {
            let n = input(0).len() as f64;
            vec![Local::Elementwise(input(0).map(|_| 1.0 / n))]
        }
        Op::Relu => vec![Local::Elementwise(input(0).map(|x| if x > 0.0 { 1.0 } else { 0.0 }))],
        Op::LeakyRelu { slope } => vec![Local::Elementwise(input(0).map(|x| if x > 0.0 { 1.0 } else { slope as f64 }))],
        Op::Sigmoid => vec![Local::Elementwise(y.map(|s| s * (1.0 - s)))],
        Op::Tanh => vec![Local::Elementwise(y.map(|t| 1.0 - t * t))],
        Op::Identity => vec![Local::Elementwise(ones(y))],
        Op::Softmax | Op::LogSoftmax => vec![Local::Jacobian],
        Op::Mse => {
            let (p, t) = (input(0), input(1));
            let n = p.len() as f64;
            let d = Matrix::new(p.rows, p.cols, p.values.iter().zip(&t.values).map(|(a, b)| (a - b) / n).collect());
            let neg = d.map(|v| -v);
            vec![Local::Elementwise(d), Local::Elementwise(neg)]
        }
        Op::SoftmaxCrossEntropy | Op::BceWithLogits => {
            // The upstream of a loss is the scalar 1 (or the sum's 1): its local derivative is
            // the gradient it passes on.
            let local = node.input_grads.first().cloned().flatten().map(Local::Elementwise).unwrap_or(Local::Jacobian);
            vec![local, Local::None]
        }
        Op::Dropout { rate } => {
            let mask = input(1);
            vec![Local::Elementwise(mask.map(|m| m / (1.0 - rate as f64))), Local::None]
        }
        Op::L1 { rate } => vec![Local::Elementwise(input(0).map(|w| rate as f64 * w.signum() * (w != 0.0) as u8 as f64))],
        Op::L2 { rate } => vec![Local::Elementwise(input(0).map(|w| rate as f64 * w))],
        Op::Gelu => vec![Local::Elementwise(input(0).map(|x| {
            let cdf = 0.5 * (1.0 + libm::erf(x * std::f64::consts::FRAC_1_SQRT_2));
            cdf + x * (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
        }))],
        Op::StopGradient => vec![Local::None],
        Op::Reshape { .. }
        | Op::Permute { .. }
        | Op::Conv2d { .. }
        | Op::MaxPool2d { .. }
        | Op::Linear
        | Op::BatchNorm2d { .. }
        | Op::LayerNorm { .. }
        | Op::Slice { .. }
        | Op::Concat { .. } => node.inputs.iter().map(|_| Local::Jacobian).collect(),
        Op::Embedding => vec![Local::None, Local::Jacobian],
        Op::MaskedFill { .. } => {
            let mask = input(1);
            vec![Local::Elementwise(mask.map(|m| if m > 0.5 { 0.0 } else { 1.0 })), Local::None]
        }
    }
}
