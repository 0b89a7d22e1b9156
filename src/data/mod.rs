//! Datasets of the 2-D playground and the input features computed from them.
//!
//! Points live in `[-6, 6]²` like TF Playground's, and are generated from the experiment seed's
//! data stream only, with `libm`, so the same seed gives the same points in wasm and natively.
//! Classification labels are class indices (0, 1, 2); regression targets lie in `[-1, 1]`.
//! Image datasets (MNIST, Fashion-MNIST) are in [`images`], their augmentation and the
//! preprocessing of a hand-drawn digit in [`digits`].

pub mod digits;
pub mod images;
pub mod png;
pub mod table;
pub mod tabular;

use serde::{Deserialize, Serialize};

use crate::engine::{Rng, Stream};

/// Unzips a gzip stream, stopping after `limit` bytes of output (a gzip bomb reads no further).
pub fn gunzip(gz: &[u8], limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(gz).take(limit).read_to_end(&mut out)?;
    Ok(out)
}

/// Half-width of the square the points and the heatmap cover.
pub const DOMAIN: f64 = 6.0;

/// What the network has to learn from a dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// Two classes: one output.
    Binary,
    /// `n` classes: `n` outputs and a softmax.
    MultiClass(usize),
    /// A real target in `[-1, 1]`: one linear output.
    Regression,
}

impl Task {
    /// Number of network outputs.
    pub fn outputs(&self) -> usize {
        match self {
            Task::MultiClass(k) => *k,
            _ => 1,
        }
    }
}

/// The datasets of the playground.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetKind {
    /// A disc of one class inside a ring of the other.
    Circle,
    /// Quadrants: the sign of x·y.
    Xor,
    /// Two gaussian blobs.
    Gauss,
    /// Two interleaved spirals.
    Spiral,
    /// Three interleaved spirals (multi-class).
    Spiral3,
    /// Regression: a tilted plane.
    Plane,
    /// Regression: six gaussian bumps of alternating sign.
    MultiGauss,
}

impl DatasetKind {
    /// Every dataset, in display order.
    pub const ALL: [DatasetKind; 7] = [
        DatasetKind::Circle,
        DatasetKind::Xor,
        DatasetKind::Gauss,
        DatasetKind::Spiral,
        DatasetKind::Spiral3,
        DatasetKind::Plane,
        DatasetKind::MultiGauss,
    ];

    /// The URL/CLI key.
    pub fn key(&self) -> &'static str {
        match self {
            DatasetKind::Circle => "circle",
            DatasetKind::Xor => "xor",
            DatasetKind::Gauss => "gauss",
            DatasetKind::Spiral => "spiral",
            DatasetKind::Spiral3 => "spiral3",
            DatasetKind::Plane => "plane",
            DatasetKind::MultiGauss => "multigauss",
        }
    }

    /// Human name.
    pub fn title(&self) -> &'static str {
        match self {
            DatasetKind::Circle => "Circle",
            DatasetKind::Xor => "XOR",
            DatasetKind::Gauss => "Two gaussians",
            DatasetKind::Spiral => "Spiral",
            DatasetKind::Spiral3 => "Spiral, 3 classes",
            DatasetKind::Plane => "Plane (regression)",
            DatasetKind::MultiGauss => "Multi-gaussian (regression)",
        }
    }

    /// Parses a key.
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.key() == key)
    }

    /// What the network learns on it.
    pub fn task(&self) -> Task {
        match self {
            DatasetKind::Spiral3 => Task::MultiClass(3),
            DatasetKind::Plane | DatasetKind::MultiGauss => Task::Regression,
            _ => Task::Binary,
        }
    }
}

/// One sample: a point and its label (class index, or regression target).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    /// First coordinate.
    pub x: f64,
    /// Second coordinate.
    pub y: f64,
    /// Class index as a float, or the regression target.
    pub label: f64,
}

/// Generates `n` points of `kind` with noise level `noise` (0 to 0.5) from `seed`.
pub fn generate(kind: DatasetKind, n: usize, noise: f64, seed: u64) -> Vec<Point> {
    let mut rng = Rng::new(seed, Stream::Data);
    let r = &mut rng;
    let mut points = Vec::with_capacity(n);
    match kind {
        DatasetKind::Circle => {
            let radius = 5.0;
            for i in 0..n {
                let inner = i < n / 2;
                let dist = if inner { r.range(0.0, radius * 0.5) } else { r.range(radius * 0.7, radius) };
                let angle = r.range(0.0, 2.0 * std::f64::consts::PI);
                let (x, y) = (dist * libm::sin(angle), dist * libm::cos(angle));
                // The label follows the noisy position, as in TF Playground.
                let (nx, ny) = (x + r.range(-radius, radius) * noise, y + r.range(-radius, radius) * noise);
                let label = if libm::hypot(nx, ny) < radius * 0.5 { 1.0 } else { 0.0 };
                points.push(Point { x, y, label });
            }
        }
        DatasetKind::Xor => {
            let pad = 0.3;
            for _ in 0..n {
                let mut x = r.range(-5.0, 5.0);
                x += if x > 0.0 { pad } else { -pad };
                let mut y = r.range(-5.0, 5.0);
                y += if y > 0.0 { pad } else { -pad };
                let (nx, ny) = (x + r.range(-5.0, 5.0) * noise, y + r.range(-5.0, 5.0) * noise);
                points.push(Point { x, y, label: if nx * ny >= 0.0 { 1.0 } else { 0.0 } });
            }
        }
        DatasetKind::Gauss => {
            // The spread grows from 0.5 to 4 (variance) as noise goes from 0 to 0.5.
            let variance = 0.5 + 7.0 * noise.clamp(0.0, 0.5);
            let sd = libm::sqrt(variance);
            for i in 0..n {
                let (cx, label) = if i < n / 2 { (2.0, 1.0) } else { (-2.0, 0.0) };
                let x = cx + r.normal() * sd;
                let y = cx + r.normal() * sd;
                points.push(Point { x, y, label });
            }
        }
        DatasetKind::Spiral | DatasetKind::Spiral3 => {
            let classes = if kind == DatasetKind::Spiral { 2 } else { 3 };
            let per = n / classes;
            for c in 0..classes {
                let count = if c == classes - 1 { n - per * (classes - 1) } else { per };
                let delta = 2.0 * std::f64::consts::PI * c as f64 / classes as f64;
                for i in 0..count {
                    let frac = i as f64 / count as f64;
                    let radius = 5.0 * frac;
                    let t = 1.75 * frac * 2.0 * std::f64::consts::PI + delta;
                    let x = radius * libm::sin(t) + r.range(-1.0, 1.0) * noise;
                    let y = radius * libm::cos(t) + r.range(-1.0, 1.0) * noise;
                    points.push(Point { x, y, label: c as f64 });
                }
            }
        }
        DatasetKind::Plane => {
            for _ in 0..n {
                let x = r.range(-DOMAIN, DOMAIN);
                let y = r.range(-DOMAIN, DOMAIN);
                let (nx, ny) = (x + r.range(-DOMAIN, DOMAIN) * noise, y + r.range(-DOMAIN, DOMAIN) * noise);
                points.push(Point { x, y, label: ((nx + ny) / 10.0).clamp(-1.0, 1.0) });
            }
        }
        DatasetKind::MultiGauss => {
            const BUMPS: [(f64, f64, f64); 6] =
                [(-4.0, 2.5, 1.0), (0.0, 2.5, -1.0), (4.0, 2.5, 1.0), (-4.0, -2.5, -1.0), (0.0, -2.5, 1.0), (4.0, -2.5, -1.0)];
            for _ in 0..n {
                let x = r.range(-DOMAIN, DOMAIN);
                let y = r.range(-DOMAIN, DOMAIN);
                let (nx, ny) = (x + r.range(-DOMAIN, DOMAIN) * noise, y + r.range(-DOMAIN, DOMAIN) * noise);
                let mut label: f64 = 0.0;
                for (cx, cy, sign) in BUMPS {
                    // Height falls linearly from 1 at the centre to 0 at distance 2.
                    let h = sign * (1.0 - libm::hypot(nx - cx, ny - cy) / 2.0).max(0.0);
                    if h.abs() > label.abs() {
                        label = h;
                    }
                }
                points.push(Point { x, y, label });
            }
        }
    }
    points
}

/// Shuffles `points` with the data stream and splits them: `train_ratio` of them for training.
pub fn split(mut points: Vec<Point>, train_ratio: f64, seed: u64) -> (Vec<Point>, Vec<Point>) {
    // A second draw from the data stream, after generation's, keeps the split independent of n.
    let mut rng = Rng::new(seed ^ 0x5eed_5911, Stream::Data);
    rng.shuffle(&mut points);
    let n_train = ((points.len() as f64 * train_ratio).round() as usize).clamp(1, points.len().saturating_sub(1).max(1));
    let test = points.split_off(n_train);
    (points, test)
}

/// An input feature computed from a point, as in TF Playground.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Feature {
    /// x₁
    X1,
    /// x₂
    X2,
    /// x₁²
    X1Sq,
    /// x₂²
    X2Sq,
    /// x₁x₂
    X1X2,
    /// sin x₁
    SinX1,
    /// sin x₂
    SinX2,
}

impl Feature {
    /// Every feature, in display order.
    pub const ALL: [Feature; 7] =
        [Feature::X1, Feature::X2, Feature::X1Sq, Feature::X2Sq, Feature::X1X2, Feature::SinX1, Feature::SinX2];

    /// The URL/CLI key.
    pub fn key(&self) -> &'static str {
        match self {
            Feature::X1 => "x1",
            Feature::X2 => "x2",
            Feature::X1Sq => "x1sq",
            Feature::X2Sq => "x2sq",
            Feature::X1X2 => "x1x2",
            Feature::SinX1 => "sinx1",
            Feature::SinX2 => "sinx2",
        }
    }

    /// Display label.
    pub fn title(&self) -> &'static str {
        match self {
            Feature::X1 => "x₁",
            Feature::X2 => "x₂",
            Feature::X1Sq => "x₁²",
            Feature::X2Sq => "x₂²",
            Feature::X1X2 => "x₁x₂",
            Feature::SinX1 => "sin x₁",
            Feature::SinX2 => "sin x₂",
        }
    }

    /// Parses a key.
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.key() == key)
    }

    /// The feature's value at `(x, y)`. Squares and products are scaled to keep them in a range
    /// comparable to the coordinates.
    pub fn eval(&self, x: f64, y: f64) -> f64 {
        match self {
            Feature::X1 => x,
            Feature::X2 => y,
            Feature::X1Sq => x * x / DOMAIN,
            Feature::X2Sq => y * y / DOMAIN,
            Feature::X1X2 => x * y / DOMAIN,
            Feature::SinX1 => libm::sin(x),
            Feature::SinX2 => libm::sin(y),
        }
    }
}

/// The feature matrix (row-major, `[points.len(), features.len()]`) of `(x, y)` coordinates.
pub fn feature_matrix(coords: impl Iterator<Item = (f64, f64)>, features: &[Feature]) -> Vec<f32> {
    coords.flat_map(|(x, y)| features.iter().map(move |f| f.eval(x, y) as f32)).collect()
}

/// The `n × n` grid of cell centres over the domain, row by row from the top (y = +6) down.
pub fn grid(n: usize) -> Vec<(f64, f64)> {
    let cell = 2.0 * DOMAIN / n as f64;
    (0..n)
        .flat_map(|row| {
            (0..n).map(move |col| (-DOMAIN + (col as f64 + 0.5) * cell, DOMAIN - (row as f64 + 0.5) * cell))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dataset_is_seeded_in_range_and_labelled_for_its_task() {
        for kind in DatasetKind::ALL {
            let a = generate(kind, 300, 0.1, 3);
            assert_eq!(a, generate(kind, 300, 0.1, 3), "{kind:?} not repeatable");
            assert_ne!(a, generate(kind, 300, 0.1, 4), "{kind:?} ignores the seed");
            assert_eq!(a.len(), 300);
            for p in &a {
                assert!(p.x.abs() <= 7.0 && p.y.abs() <= 7.0, "{kind:?} point out of range: {p:?}");
                match kind.task() {
                    Task::Binary => assert!(p.label == 0.0 || p.label == 1.0),
                    Task::MultiClass(k) => assert!(p.label >= 0.0 && (p.label as usize) < k && p.label.fract() == 0.0),
                    Task::Regression => assert!((-1.0..=1.0).contains(&p.label)),
                }
            }
            if let Task::Binary | Task::MultiClass(_) = kind.task() {
                let classes = kind.task().outputs().max(2);
                for c in 0..classes {
                    let count = a.iter().filter(|p| p.label == c as f64).count();
                    assert!(count > 50, "{kind:?}: class {c} has only {count} points");
                }
            }
        }
    }

    #[test]
    fn circle_without_noise_is_separable_by_radius() {
        for p in generate(DatasetKind::Circle, 200, 0.0, 1) {
            let inside = libm::hypot(p.x, p.y) < 2.5;
            assert_eq!(inside, p.label == 1.0);
        }
    }

    #[test]
    fn split_keeps_every_point_once() {
        let points = generate(DatasetKind::Xor, 101, 0.0, 9);
        let (train, test) = split(points.clone(), 0.5, 9);
        assert_eq!(train.len() + test.len(), 101);
        assert_eq!(train.len(), 51);
        let mut all: Vec<_> = train.iter().chain(&test).map(|p| (p.x.to_bits(), p.y.to_bits())).collect();
        let mut orig: Vec<_> = points.iter().map(|p| (p.x.to_bits(), p.y.to_bits())).collect();
        all.sort();
        orig.sort();
        assert_eq!(all, orig);
    }

    #[test]
    fn grid_covers_the_domain_row_major_from_the_top() {
        let g = grid(4);
        assert_eq!(g.len(), 16);
        assert_eq!(g[0], (-4.5, 4.5));
        assert_eq!(g[3], (4.5, 4.5));
        assert_eq!(g[15], (4.5, -4.5));
    }
}
