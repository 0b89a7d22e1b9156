//! The one seeded random number generator of gradlab: ChaCha8, so that data, initial weights,
//! batch order and dropout masks are the same for the same seed in wasm and natively.
//!
//! Every derived value goes through integer arithmetic and `libm` (pure Rust), never through the
//! platform's maths library, so a seed means the same numbers everywhere.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// A seeded, portable random stream.
#[derive(Clone, Debug)]
pub struct Rng(ChaCha8Rng);

/// Independent streams derived from one experiment seed, so that changing e.g. the batch size
/// does not change the initial weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Dataset generation.
    Data = 1,
    /// Parameter initialisation.
    Init = 2,
    /// Batch order.
    Batches = 3,
    /// Dropout masks.
    Dropout = 4,
    /// Image augmentation (shifts and rotations).
    Augment = 5,
    /// A GAN's latent noise z.
    Latent = 6,
    /// A hyper-parameter search's draws and its validation split.
    Search = 7,
}

/// A [`Rng`]'s place in its stream (see [`Rng::position`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RngPosition {
    /// ChaCha's key.
    pub seed: [u8; 32],
    /// The stream number.
    pub stream: u64,
    /// 32-bit words drawn so far.
    pub word: u128,
}

impl Rng {
    /// The stream `stream` of experiment seed `seed`.
    pub fn new(seed: u64, stream: Stream) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream as u64);
        Rng(rng)
    }

    /// Where this stream stands: its key, stream number and position (ChaCha's word count),
    /// enough to go on drawing the same numbers elsewhere (the page's Web Worker).
    pub fn position(&self) -> RngPosition {
        RngPosition { seed: self.0.get_seed(), stream: self.0.get_stream(), word: self.0.get_word_pos() }
    }

    /// The stream at a [`Rng::position`] taken earlier.
    pub fn at(position: &RngPosition) -> Self {
        let mut rng = ChaCha8Rng::from_seed(position.seed);
        rng.set_stream(position.stream);
        rng.set_word_pos(position.word);
        Rng(rng)
    }

    /// A uniform `u64`.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Standard normal (Box–Muller, with `libm`).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(2.0 * std::f64::consts::PI * u2)
    }

    /// Uniform integer in `0..n` (n > 0), without modulo bias.
    pub fn below(&mut self, n: usize) -> usize {
        let n = n as u64;
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let x = self.next_u64();
            if x < zone {
                return (x % n) as usize;
            }
        }
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<X>(&mut self, items: &mut [X]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_is_repeatable_and_streams_differ() {
        let a: Vec<u64> = (0..4).map({ let mut r = Rng::new(7, Stream::Init); move |_| r.next_u64() }).collect();
        let b: Vec<u64> = (0..4).map({ let mut r = Rng::new(7, Stream::Init); move |_| r.next_u64() }).collect();
        let c: Vec<u64> = (0..4).map({ let mut r = Rng::new(7, Stream::Data); move |_| r.next_u64() }).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn a_position_goes_on_with_the_same_numbers() {
        let mut r = Rng::new(11, Stream::Dropout);
        for _ in 0..5 {
            r.next_u64();
        }
        r.uniform();
        let mut copy = Rng::at(&r.position());
        let ahead: Vec<u64> = (0..40).map(|_| r.next_u64()).collect();
        let again: Vec<u64> = (0..40).map(|_| copy.next_u64()).collect();
        assert_eq!(ahead, again);
    }

    #[test]
    fn uniform_and_normal_have_the_right_moments() {
        let mut r = Rng::new(1, Stream::Data);
        let n = 20_000;
        let u: Vec<f64> = (0..n).map(|_| r.uniform()).collect();
        let z: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        assert!((mean(&u) - 0.5).abs() < 0.01);
        assert!(mean(&z).abs() < 0.03);
        let var = z.iter().map(|x| x * x).sum::<f64>() / n as f64;
        assert!((var - 1.0).abs() < 0.05, "variance {var}");
        assert!(u.iter().all(|&x| (0.0..1.0).contains(&x)));
    }
}
