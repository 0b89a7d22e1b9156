//! The float types the host kernels ([`Op::forward_host`](super::Op::forward_host)) run in:
//! f32 in the app, f64 for the gradient checks.
//!
//! Every transcendental function is pure Rust — `libm`, or ours below — never the platform's
//! maths library: the same bits in wasm and natively, so a link replays alike in the page and the
//! CLI. f32's `exp` and `tanh` are ours ([`exp_wide`]): computed in f64 with IEEE operations only
//! (a 32-entry table, no branch on the value), then rounded once, they are within an ulp; tanh is
//! about 1.4× as fast as before natively and a little faster in wasm — a playground step is mostly
//! tanh, and the branch on the value the old one took was mispredicted half the time.

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

/// `2^(j/32)` for `j` in 0..32, correctly rounded ([`exp_wide`]'s table; a test checks each through it).
const EXP2_32THS: [f64; 32] = [
    f64::from_bits(0x3ff0000000000000), f64::from_bits(0x3ff059b0d3158574), f64::from_bits(0x3ff0b5586cf9890f), f64::from_bits(0x3ff11301d0125b51),
    f64::from_bits(0x3ff172b83c7d517b), f64::from_bits(0x3ff1d4873168b9aa), f64::from_bits(0x3ff2387a6e756238), f64::from_bits(0x3ff29e9df51fdee1),
    f64::from_bits(0x3ff306fe0a31b715), f64::from_bits(0x3ff371a7373aa9cb), f64::from_bits(0x3ff3dea64c123422), f64::from_bits(0x3ff44e086061892d),
    f64::from_bits(0x3ff4bfdad5362a27), f64::from_bits(0x3ff5342b569d4f82), f64::from_bits(0x3ff5ab07dd485429), f64::from_bits(0x3ff6247eb03a5585),
    f64::from_bits(0x3ff6a09e667f3bcd), f64::from_bits(0x3ff71f75e8ec5f74), f64::from_bits(0x3ff7a11473eb0187), f64::from_bits(0x3ff82589994cce13),
    f64::from_bits(0x3ff8ace5422aa0db), f64::from_bits(0x3ff93737b0cdc5e5), f64::from_bits(0x3ff9c49182a3f090), f64::from_bits(0x3ffa5503b23e255d),
    f64::from_bits(0x3ffae89f995ad3ad), f64::from_bits(0x3ffb7f76f2fb5e47), f64::from_bits(0x3ffc199bdd85529c), f64::from_bits(0x3ffcb720dcef9069),
    f64::from_bits(0x3ffd5818dcfba487), f64::from_bits(0x3ffdfc97337b9b5f), f64::from_bits(0x3ffea4afa2a490da), f64::from_bits(0x3fff50765b6e4540),
];

/// `e^t` in f64 for `t` in [−708, 709] (callers clamp): `t = (32k + j)·ln 2/32 + r` with `k`, `j`
/// integers, `0 ≤ j < 32` and `|r| ≤ ln 2/64`; `e^r` by its Taylor series to `r⁴`, `2^(j/32)` from a
/// table and `2^k` added into the exponent: within 2⁻³⁹ of `e^t` (the series' rest), far inside
/// f32's 2⁻²⁴. `32k + j` is rounded by adding 1.5·2⁵² (the sum's low bits are it), so there is no
/// float-to-integer conversion and no branch. (A longer series without the table — fewer loads —
/// was as fast natively but half as fast in wasm.)
#[inline(always)]
pub fn exp_wide(t: f64) -> f64 {
    debug_assert!(!(t > 709.7 || t < -708.3), "exp_wide({t}) is outside its range");
    const ROUND: f64 = 6_755_399_441_055_744.0; // 1.5·2⁵²
    let shifted = t * (32.0 * std::f64::consts::LOG2_E) + ROUND;
    let n = shifted.to_bits(); // low bits: 32k + j + 2⁵¹ (two's complement for k < 0)
    let r = t - (shifted - ROUND) * (std::f64::consts::LN_2 / 32.0);
    // 1 + r + r²/2! + r³/3! + r⁴/4!, by Horner's rule.
    let p = 1.0 + r * (1.0 + r * (1.0 / 2.0 + r * (1.0 / 6.0 + r * (1.0 / 24.0))));
    // 2^(j/32)·2^k: k added to the table entry's exponent (the shift keeps its low 12 bits, so a
    // negative k wraps to a subtraction).
    f64::from_bits(EXP2_32THS[(n & 31) as usize].to_bits().wrapping_add((n >> 5) << 52)) * p
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
    /// Within an ulp (see [`exp_wide`]); for x below −150 it is 0 and above 100 ∞ (as f32 has them
    /// from −103.9 and 88.8 on); NaN is passed on.
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
