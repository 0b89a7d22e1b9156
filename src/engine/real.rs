//! The float types the host kernels ([`Op::forward_host`](super::Op::forward_host)) run in:
//! f32 in the app, f64 for the gradient checks.
//!
//! Every transcendental function comes from `libm` (pure Rust), never the platform's maths
//! library: the same bits in wasm and natively, so a link replays alike in the page and the CLI.

use std::fmt::Debug;
use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub, SubAssign};

/// A float the host kernels compute in.
pub trait Real:
    Copy
    + Debug
    + Default
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + Send
    + Sync
    + 'static
{
    /// 0
    const ZERO: Self;
    /// 1
    const ONE: Self;
    /// The nearest value to `v` (constants and hyper-parameters are written in f64).
    fn of(v: f64) -> Self;
    /// The value as f64.
    fn wide(self) -> f64;
    /// `e^x`
    fn exp(self) -> Self;
    /// `ln x`
    fn ln(self) -> Self;
    /// `ln(1 + x)`
    fn ln_1p(self) -> Self;
    /// `tanh x`
    fn tanh(self) -> Self;
    /// `√x`
    fn sqrt(self) -> Self;
    /// `|x|`
    fn abs(self) -> Self;
    /// Whether neither NaN nor infinite.
    fn finite(self) -> bool;

    /// The larger of two (`self` when they compare equal or one is NaN).
    fn max(self, other: Self) -> Self {
        if other > self { other } else { self }
    }

    /// −1, 0 or 1 (0 for 0, as burn's `sign`).
    fn signum0(self) -> Self {
        if self > Self::ZERO {
            Self::ONE
        } else if self < Self::ZERO {
            -Self::ONE
        } else {
            Self::ZERO
        }
    }
}

impl Real for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    fn of(v: f64) -> Self {
        v as f32
    }
    fn wide(self) -> f64 {
        self as f64
    }
    fn exp(self) -> Self {
        libm::expf(self)
    }
    fn ln(self) -> Self {
        libm::logf(self)
    }
    fn ln_1p(self) -> Self {
        libm::log1pf(self)
    }
    fn tanh(self) -> Self {
        libm::tanhf(self)
    }
    fn sqrt(self) -> Self {
        libm::sqrtf(self)
    }
    fn abs(self) -> Self {
        libm::fabsf(self)
    }
    fn finite(self) -> bool {
        self.is_finite()
    }
}

impl Real for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    fn of(v: f64) -> Self {
        v
    }
    fn wide(self) -> f64 {
        self
    }
    fn exp(self) -> Self {
        libm::exp(self)
    }
    fn ln(self) -> Self {
        libm::log(self)
    }
    fn ln_1p(self) -> Self {
        libm::log1p(self)
    }
    fn tanh(self) -> Self {
        libm::tanh(self)
    }
    fn sqrt(self) -> Self {
        libm::sqrt(self)
    }
    fn abs(self) -> Self {
        libm::fabs(self)
    }
    fn finite(self) -> bool {
        self.is_finite()
    }
}
