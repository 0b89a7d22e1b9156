//! The essay's quality measures of generated digits, on a fixed sample: for each digit its nearest
//! real training digit (by mean squared error over the pixels), the MSE and the SSIM to it, and a
//! classifier-based inception score with the class histogram (how many of the ten digits the
//! generator covers).
//!
//! The usual MNIST practice stands in for Inception-v3: the classifier is this project's `cnn-tuned`
//! model, trained natively and shipped (`www/weights/cnn-tuned.safetensors`). The nearest-neighbour
//! search is cut into slices ([`NearestSearch::advance`]) so that a page can yield between them.
//! Everything here is plain f32/f64 on the host, the same in wasm and natively.

use burn::tensor::Device;

use crate::data::images::ImageSet;
use crate::engine::{Leaf, Mode, Op, Precision, Role, T, Tag, Tape, tensor};
use crate::models::image::{ImageModel, Phase};
use crate::train::images::Preset;

/// SSIM's window (7 × 7, uniform: scikit-image's `structural_similarity` default).
pub const SSIM_WINDOW: usize = 7;
const K1: f64 = 0.01;
const K2: f64 = 0.03;

/// The structural similarity of two `side × side` images with pixels in [0, 1] (data range 1):
/// Wang et al.'s `(2μₐμ_b + C₁)(2σ_ab + C₂) / ((μₐ² + μ_b² + C₁)(σₐ² + σ_b² + C₂))` on every
/// `window × window` window that lies inside the image, averaged; C₁ = (0.01)², C₂ = (0.03)², the
/// variances and covariance with the sample divisor n − 1. With the 7 × 7 window this is
/// scikit-image's `structural_similarity(a, b, data_range=1)` (its mean over the windows away from
/// the border, where its filter reads no padding).
pub fn ssim(a: &[f32], b: &[f32], side: usize, window: usize) -> f64 {
    assert!(a.len() == side * side && b.len() == side * side && (1..=side).contains(&window) && window > 1, "two {side}×{side} images, window 2..={side}");
    let (c1, c2) = (K1 * K1, K2 * K2);
    let n = (window * window) as f64;
    let mut total = 0.0;
    let positions = side - window + 1;
    for top in 0..positions {
        for left in 0..positions {
            let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for r in top..top + window {
                for c in left..left + window {
                    let (x, y) = (a[r * side + c] as f64, b[r * side + c] as f64);
                    sa += x;
                    sb += y;
                    saa += x * x;
                    sbb += y * y;
                    sab += x * y;
                }
            }
            let (ma, mb) = (sa / n, sb / n);
            let va = (saa - n * ma * ma) / (n - 1.0);
            let vb = (sbb - n * mb * mb) / (n - 1.0);
            let cov = (sab - n * ma * mb) / (n - 1.0);
            total += (2.0 * ma * mb + c1) * (2.0 * cov + c2) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
        }
    }
    total / (positions * positions) as f64
}

/// A nearest-neighbour search of generated images among a set of real ones, done a slice at a time.
pub struct NearestSearch {
    samples: Vec<f32>,
    norms: Vec<f64>,
    best: Vec<(f64, usize)>,
    next: usize,
}

/// Each sample's nearest real image, and how close it is.
#[derive(Clone, Debug, PartialEq)]
pub struct Nearest {
    /// Index of the nearest training image, per sample.
    pub index: Vec<usize>,
    /// Mean squared pixel difference to it, per sample (pixels in [0, 1]).
    pub mse: Vec<f64>,
    /// SSIM to it, per sample.
    pub ssim: Vec<f64>,
}

impl Nearest {
    /// The mean MSE and mean SSIM over the sample.
    pub fn means(&self) -> (f64, f64) {
        let n = self.mse.len().max(1) as f64;
        (self.mse.iter().sum::<f64>() / n, self.ssim.iter().sum::<f64>() / n)
    }
}

const PIXELS: usize = 784;

impl NearestSearch {
    /// A search for these images (`n × 784`, pixels in [0, 1]).
    pub fn new(samples: Vec<f32>) -> Self {
        assert_eq!(samples.len() % PIXELS, 0, "whole 28 × 28 images");
        let norms = samples.chunks_exact(PIXELS).map(|s| s.iter().map(|&x| x as f64 * x as f64).sum()).collect();
        let n = samples.len() / PIXELS;
        Self { samples, norms, best: vec![(f64::INFINITY, 0); n], next: 0 }
    }

    /// Compares every sample with the next `count` images of `set`; true once all are done.
    pub fn advance(&mut self, set: &ImageSet, count: usize) -> bool {
        let end = (self.next + count).min(set.len());
        let mut real = [0f32; PIXELS];
        for i in self.next..end {
            for (r, &p) in real.iter_mut().zip(set.image(i)) {
                *r = p as f32 / 255.0;
            }
            let real_norm: f64 = real.iter().map(|&x| x as f64 * x as f64).sum();
            for (k, sample) in self.samples.chunks_exact(PIXELS).enumerate() {
                let dot: f32 = sample.iter().zip(&real).map(|(a, b)| a * b).sum();
                // ‖a − b‖² = ‖a‖² + ‖b‖² − 2a·b; an exact recomputation of the winner follows.
                let d = self.norms[k] + real_norm - 2.0 * dot as f64;
                if d < self.best[k].0 {
                    self.best[k] = (d, i);
                }
            }
        }
        self.next = end;
        self.done(set)
    }

    /// Whether every image of `set` has been compared.
    pub fn done(&self, set: &ImageSet) -> bool {
        self.next >= set.len()
    }

    /// The fraction of `set` compared so far.
    pub fn progress(&self, set: &ImageSet) -> f64 {
        self.next as f64 / set.len().max(1) as f64
    }

    /// The result (after [`NearestSearch::advance`] has reported done): MSE and SSIM recomputed
    /// exactly against each winner.
    pub fn finish(&self, set: &ImageSet) -> Nearest {
        let mut out = Nearest { index: Vec::new(), mse: Vec::new(), ssim: Vec::new() };
        for (sample, &(_, i)) in self.samples.chunks_exact(PIXELS).zip(&self.best) {
            let real: Vec<f32> = set.image(i).iter().map(|&p| p as f32 / 255.0).collect();
            let mse = sample.iter().zip(&real).map(|(a, b)| (*a as f64 - *b as f64).powi(2)).sum::<f64>() / PIXELS as f64;
            out.index.push(i);
            out.mse.push(mse);
            out.ssim.push(ssim(sample, &real, 28, SSIM_WINDOW));
        }
        out
    }
}

/// What the classifier says about a sample of generated digits.
#[derive(Clone, Debug, PartialEq)]
pub struct Inception {
    /// `exp(E_x KL(p(y|x) ‖ p(y)))`: 1 (every digit alike, or every one unsure) to 10 (each digit
    /// certain of its class, the classes evenly used).
    pub score: f64,
    /// How many samples the classifier puts in each class (its arg-max).
    pub class_counts: [usize; 10],
    /// How many of the ten classes hold at least one sample.
    pub modes: usize,
}

/// The inception score of class probabilities `p(y|x)` (`n × 10`, rows summing to 1).
pub fn inception_score(probs: &[f64]) -> Inception {
    let n = probs.len() / 10;
    assert!(n > 0 && probs.len() == n * 10, "rows of ten probabilities");
    let mut marginal = [0.0; 10];
    let mut class_counts = [0; 10];
    for row in probs.chunks_exact(10) {
        for (m, p) in marginal.iter_mut().zip(row) {
            *m += p / n as f64;
        }
        class_counts[crate::train::images::argmax(row) as usize] += 1;
    }
    let kl: f64 = probs
        .chunks_exact(10)
        .map(|row| row.iter().zip(&marginal).filter(|(p, _)| **p > 0.0).map(|(p, m)| p * (p / m).ln()).sum::<f64>())
        .sum::<f64>()
        / n as f64;
    Inception { score: kl.exp(), class_counts, modes: class_counts.iter().filter(|&&c| c > 0).count() }
}

/// The digit classifier behind the inception score: `cnn-tuned` with shipped weights.
pub struct Classifier {
    model: ImageModel,
}

impl Classifier {
    /// A `cnn-tuned` model to put the classifier's weights into (`share::weights::load_classifier`
    /// reads them: a state dict as `gradlab train --preset cnn-tuned --save` writes).
    pub fn blank(device: &Device) -> ImageModel {
        let preset = Preset::CnnTuned;
        ImageModel::init(preset.arch(), preset.init(), 0, device, Precision::F32)
    }

    /// The classifier of a trained `cnn-tuned` model.
    pub fn new(model: ImageModel) -> Self {
        Self { model }
    }

    /// Class probabilities `[n, 10]` (on the device) of images `n × 784` in [0, 1].
    pub fn probabilities(&self, images: &[f32]) -> T {
        let n = images.len() / PIXELS;
        let shape = [n, 1, 28, 28];
        let device = self.model.params[0].device();
        let mut tape = Tape::with_mode(Mode::Train);
        let x = tape.leaf(Leaf::Input, Tag::of(Role::Input), tensor(images, shape, &device, Precision::F32), shape);
        let nodes = self.model.forward(&mut tape, x, Phase::Eval);
        Op::Softmax.forward(&[tape.value(nodes.logits)]).0
    }
}
