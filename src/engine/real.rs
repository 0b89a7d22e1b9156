//! The float types the host kernels ([`Op::forward_host`](super::Op::forward_host)) run in:
//! f32 in the app, f64 for the gradient checks.
//!
//! Every transcendental function is pure Rust — `libm`, or ours below — never the platform's
//! maths library: the same bits in wasm and natively, so a link replays alike in the page and the
//! CLI. f32's `exp` and `tanh` are ours ([`exp_wide`]): computed in f64 with IEEE operations only
//! (no table, no branch on the value), then rounded once, they are within an ulp and about twice as
//! fast as `libm`'s — a playground step is mostly tanh, and a branch on the value there was
//! mispredicted half the time.

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

/// `e^t` in f64 for `t` in [−708, 709] (callers clamp): `t = k·ln 2 + r` with `k` an integer
/// and `|r| ≤ ½ ln 2`, `e^r` by its Taylor series to `r¹⁰`, and `2^k` written into the exponent:
/// within 2⁻⁴¹ of `e^t` (the series' rest, 2⁻⁴², and the reduction's rounding), far inside f32's 2⁻²⁴. `k` is rounded by adding 1.5·2⁵² (the sum's low bits are `k`), so
/// there is no float-to-integer conversion and no branch: the compiler keeps it all in registers.
#[inline(always)]
pub fn exp_wide(t: f64) -> f64 {
    const ROUND: f64 = 6_755_399_441_055_744.0; // 1.5·2⁵²
    let shifted = t * std::f64::consts::LOG2_E + ROUND;
    let k = shifted.to_bits(); // low bits: k + 2⁵¹ (two's complement for k < 0)
    let r = t - (shifted - ROUND) * std::f64::consts::LN_2;
    // 1 + r + r²/2! + … + r¹⁰/10!, by Horner's rule (written out: constants folded, no loop).
    const F: [f64; 11] = [1.0, 1.0, 1.0 / 2.0, 1.0 / 6.0, 1.0 / 24.0, 1.0 / 120.0, 1.0 / 720.0, 1.0 / 5_040.0, 1.0 / 40_320.0, 1.0 / 362_880.0, 1.0 / 3_628_800.0];
    let p = F[0] + r * (F[1] + r * (F[2] + r * (F[3] + r * (F[4] + r * (F[5] + r * (F[6] + r * (F[7] + r * (F[8] + r * (F[9] + r * F[10])))))))));
    // 2^k: k + 1023 in the exponent's 11 bits (the shift drops everything above them).
    p * f64::from_bits(k.wrapping_add(1023) << 52)
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
    /// Within an ulp (see [`exp_wide`]): 0 below e^−150, ∞ above e^100, NaN passed on.
    fn exp(self) -> Self {
        if self.is_nan() {
            return self;
        }
        exp_wide((self as f64).clamp(-150.0, 100.0)) as f32
    }
    fn ln(self) -> Self {
        libm::logf(self)
    }
    fn ln_1p(self) -> Self {
        libm::log1pf(self)
    }
    /// `tanh x` within an ulp: `1 − 2/(e^{2|x|} + 1)` in f64, rounded once. Near 0 it cancels, but
    /// f64 keeps 40 bits of the difference at |x| = 2⁻¹²; below that tanh x rounds to x (its next
    /// term, x³/3, is under 2⁻²⁵ of it). From |x| = 20 the value is 1 (the clamp keeps `e` finite).
    /// No branch on the value but NaN's: the selects compile to selects.
    fn tanh(self) -> Self {
        let a = self.abs() as f64;
        let y = 1.0 - 2.0 / (exp_wide((2.0 * a).min(40.0)) + 1.0);
        let y = if a < 1.0 / 4096.0 { a } else { y };
        if self.is_nan() { self } else { (y as f32).copysign(self) }
    }
    fn sqrt(self) -> Self {
        libm::sqrtf(self)
    }
    fn abs(self) -> Self {
        f32::abs(self)
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
