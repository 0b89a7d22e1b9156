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
    /// `tanh x` to within 2 ulp, about twice as fast as `libm::tanhf` (which spends its time in
    /// `expm1f`; a playground step is a third tanh): the odd Taylor series to x¹⁷ below 0.55
    /// (its next term is under 2⁻²⁴ of the value there), `1 − 2/(e^{2|x|} + 1)` above (no
    /// cancellation: the fraction is at most ½), 1 from 9 on (within an ulp).
    fn tanh(self) -> Self {
        let a = libm::fabsf(self);
        let y = if a < 0.55 {
            // x − x³/3 + 2x⁵/15 − 17x⁷/315 + 62x⁹/2835 − …, by Horner's rule in x².
            const C: [f32; 8] = [
                -1.0 / 3.0,
                2.0 / 15.0,
                -17.0 / 315.0,
                62.0 / 2835.0,
                -1382.0 / 155_925.0,
                21_844.0 / 6_081_075.0,
                -929_569.0 / 638_512_875.0,
                6_404_582.0 / 10_854_718_875.0,
            ];
            let x2 = a * a;
            let mut p = C[7];
            for &c in C[..7].iter().rev() {
                p = p * x2 + c;
            }
            a + a * x2 * p
        } else if a < 9.0 {
            1.0 - 2.0 / (libm::expf(2.0 * a) + 1.0)
        } else if a.is_nan() {
            return self;
        } else {
            1.0
        };
        libm::copysignf(y, self)
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
