//! Compositions of burn's kernels that beat burn's own op where it was measured slow: a
//! convolution's weight gradient as per-image matrix products, and a linear layer's long inner
//! dimension split into parts. Each is one op's computation (its formula is beside the op in
//! [`op`](super::op)), with the measurement that chose it; the tests check each against the
//! straightforward form.

use burn::Tensor;
use burn::tensor::module::{conv2d_weight_backward, unfold4d};
use burn::tensor::ops::{PadMode, UnfoldOptions};

use super::op::{T, conv_options};

/// Two ways to compute a convolution's weight gradient `∂L/∂W[o,c,u,v] = Σ_n,i,j ∂L/∂y[n,o,i,j] ·
/// x[n, c, s·i+u−p, s·j+v−p]`. The op uses [`WeightGradient::Im2col`], faster everywhere it was
/// measured (cnn-torch's conv1 at batch 100: 3.0 ms vs 7.5 ms on this project's 2-core CPU,
/// 0.32 ms vs 8.4 ms on an H200 through wgpu); burn's kernel stays as the tests' second opinion
/// and `gradlab bench --ops` prints both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightGradient {
    /// burn's `conv2d_weight_backward`.
    Burn,
    /// Matrix products per image, summed: `Σ_n ∂L/∂y_n · patches_nᵀ` with `∂L/∂y_n` `[o, h′·w′]`
    /// and the image's `k × k` patches (im2col) `[c·k·k, h′·w′]`. Each product sums over one
    /// image's positions, not the whole batch's: on an H200 through wgpu, one product over all
    /// `n·h′·w′` (78,400 for cnn-torch's conv1 at batch 100) took 24.5 ms and burn's kernel 8.4 ms
    /// (PyTorch: 0.06 ms) — burn's matrix product does not split a long inner dimension.
    Im2col,
}

impl WeightGradient {
    /// `∂L/∂W` `[o, c, k, k]` of a convolution of `x` by `w` with this stride and padding, given
    /// the upstream gradient `g`.
    pub fn compute(self, x: &T, w: &T, g: &T, stride: usize, padding: usize) -> T {
        match self {
            WeightGradient::Burn => conv2d_weight_backward(x.clone(), w.clone(), g.clone(), conv_options(stride as u8, padding as u8)),
            WeightGradient::Im2col => {
                let ([n, c, _, _], [o, _, kh, kw], [_, _, oh, ow]) = (x.dims(), w.dims(), g.dims());
                let padded = if padding > 0 { x.clone().pad([(padding, padding), (padding, padding)], PadMode::Constant(0.0)) } else { x.clone() };
                // [n, c·k·k, h′·w′]: row (c·k + u)·k + v holds W[·, c, u, v]'s input at every output position.
                let patches: Tensor<3> = unfold4d(padded, [kh, kw], UnfoldOptions::new([stride, stride], [0, 0], [1, 1]));
                let upstream: Tensor<3> = g.clone().reshape([n, o, oh * ow]);
                let per_image = upstream.matmul(patches.swap_dims(1, 2)); // [n, o, c·k·k]
                per_image.sum_dim(0).reshape([o, c, kh, kw])
            }
        }
    }
}

/// `x·Wᵀ` for `x` `[.., k]` and a weight `[out, k]`. burn's matrix product does not split a long
/// inner dimension: on an H200 through wgpu, cnn-torch's fc1 (`[100, 6272] · [6272, 10]`) took
/// 2.0 ms as one product and 0.13–0.16 ms in 49–64 parts summed (PyTorch: 0.03 ms). On the CPU
/// one product is as fast, so the CPU path keeps it (and its numbers).
pub(super) fn linear(x: &T, w: &T) -> T {
    let k = x.dims()[3];
    match linear_chunks(x, k) {
        1 => x.clone().matmul(w.clone().swap_dims(2, 3)),
        chunks => linear_split(x, w, chunks),
    }
}

/// `x·Wᵀ` as `chunks` products over parts of the inner dimension `k` (which `chunks` divides),
/// summed.
pub fn linear_split(x: &T, w: &T, chunks: usize) -> T {
    let ([a, b, rows, k], out) = (x.dims(), w.dims()[2]);
    assert_eq!(k % chunks, 0, "{chunks} parts of {k}");
    let xs: Tensor<3> = x.clone().reshape([a * b * rows, chunks, k / chunks]).swap_dims(0, 1);
    let ws: Tensor<3> = w.clone().reshape([out, chunks, k / chunks]).permute([1, 2, 0]);
    xs.matmul(ws).sum_dim(0).reshape([a, b, rows, out])
}

/// Into how many parts a linear layer's forward splits its inner dimension `k` on `x`'s device:
/// 1 on the CPU and below 2,048; otherwise the divisor of `k` nearest `k / 128` (1 if `k` has
/// no divisor between 2 and `k / 16`).
pub fn linear_chunks(x: &T, k: usize) -> usize {
    if k < 2048 || x.device() == burn::tensor::Device::flex() {
        return 1;
    }
    let target = k / 128;
    (2..=k / 16).filter(|d| k % d == 0).min_by_key(|&d| d.abs_diff(target)).unwrap_or(1)
}
