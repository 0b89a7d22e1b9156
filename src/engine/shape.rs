//! The true shape of a tape value, and the errors of ops given shapes that do not fit.
//!
//! **Representation (decided for #10).** Every value on the tape is stored as a burn `Tensor<4>`
//! whose dimensions are the value's true shape padded on the left with 1s (`[m, n]` is stored as
//! `[1, 1, m, n]`, a scalar as `[1, 1, 1, 1]`), and the node keeps the true shape beside it
//! ([`Shape`]: up to four dimensions and a rank). Why this and not a rank enum or burn's
//! primitive with a shape:
//! - one storage type means one set of op bodies: a convolution's `[N, C, H, W]`, attention's
//!   `[B, H, T, D]`, a dense layer's `[batch, features]` and a loss's scalar all go through the same
//!   `forward`/`backward`, with no `match` on rank in every op;
//! - left-padding *is* NumPy/PyTorch broadcasting: a bias `[10]` stored as `[1, 1, 1, 10]` adds
//!   to `[1, 1, 128, 10]` with burn's own broadcast, and its gradient is summed back over exactly
//!   the padded axes ([`unbroadcast`](super::op)); the last logical axis is always storage axis 3,
//!   so softmax, cross-entropy and layer norm need no rank;
//! - the optimizers, the fused Adam kernel and the readbacks are elementwise and never care;
//! - rank 4 covers every model this project plans (images, attention heads); nothing needs 5.
//!
//! The cost per op is the same as for `Tensor<2>` (burn's CPU backend works on strides either
//! way: the playground's net measured within noise, see the note of #10). A speed issue that wants
//! our own CPU kernels for tiny tensors can keep this storage and add kernels per op.

use std::fmt;

/// The largest rank a tape value can have.
pub const MAX_RANK: usize = 4;

/// A value's true shape: up to [`MAX_RANK`] dimensions, outermost first.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shape {
    /// The storage dimensions: the true ones right-aligned, 1s before them.
    storage: [usize; MAX_RANK],
    rank: u8,
}

impl Shape {
    /// The shape with these dimensions. Panics above rank 4 (a bug: models are built in code).
    pub fn new(dims: &[usize]) -> Self {
        assert!(dims.len() <= MAX_RANK, "rank {} is more than the tape's {MAX_RANK}", dims.len());
        let mut storage = [1; MAX_RANK];
        storage[MAX_RANK - dims.len()..].copy_from_slice(dims);
        Self { storage, rank: dims.len() as u8 }
    }

    /// A scalar (rank 0): what losses are.
    pub fn scalar() -> Self {
        Self::new(&[])
    }

    /// The true dimensions, outermost first.
    pub fn dims(&self) -> &[usize] {
        &self.storage[MAX_RANK - self.rank as usize..]
    }

    /// How many dimensions.
    pub fn rank(&self) -> usize {
        self.rank as usize
    }

    /// The dimensions of the stored `Tensor<4>`.
    pub fn storage(&self) -> [usize; MAX_RANK] {
        self.storage
    }

    /// The number of elements.
    pub fn numel(&self) -> usize {
        self.storage.iter().product()
    }

    /// The size of the last axis (1 for a scalar).
    pub fn last(&self) -> usize {
        self.storage[MAX_RANK - 1]
    }

    /// The value seen as a matrix: every axis but the last folded into rows (a scalar is 1 × 1,
    /// a vector one row). What the step-by-step view prints and heat-maps.
    pub fn matrix(&self) -> (usize, usize) {
        (self.numel() / self.last().max(1), self.last())
    }

    /// The storage axis of logical axis `axis` (0 = outermost).
    pub fn storage_axis(&self, axis: usize) -> usize {
        MAX_RANK - self.rank as usize + axis
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (i, d) in self.dims().iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{d}")?;
        }
        write!(f, "]")
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl<const N: usize> From<[usize; N]> for Shape {
    fn from(dims: [usize; N]) -> Self {
        Self::new(&dims)
    }
}

impl From<&[usize]> for Shape {
    fn from(dims: &[usize]) -> Self {
        Self::new(dims)
    }
}

/// An op given inputs whose shapes it cannot combine. The message names the op and the true
/// shapes (`conv2d: input [100, 3, 28, 28] has 3 channels, the weight [32, 1, 5, 5] expects 1`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{op}: {message}")]
pub struct ShapeError {
    /// The op's display name.
    pub op: &'static str,
    /// What does not fit.
    pub message: String,
}

/// The broadcast of two shapes (NumPy rules: right-aligned, each pair equal or one of them 1).
pub fn broadcast(a: Shape, b: Shape) -> Option<Shape> {
    let mut storage = [1; MAX_RANK];
    for (i, out) in storage.iter_mut().enumerate() {
        let (x, y) = (a.storage[i], b.storage[i]);
        *out = match (x, y) {
            _ if x == y => x,
            (1, _) => y,
            (_, 1) => x,
            _ => return None,
        };
    }
    Some(Shape { storage, rank: a.rank.max(b.rank) })
}
