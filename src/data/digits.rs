//! Transforms of digit-sized grey images (u8, 0 = background, 255 = ink), in plain Rust:
//!
//! - **seeded augmentation** ([`Augment`]): a random shift of up to ±`max_shift` pixels and a random
//!   rotation of up to ±`max_degrees` about the image centre, sampled bilinearly, zero outside;
//! - **a drawn digit made like MNIST's** ([`digit_from_drawing`]): the ink's bounding box, scaled
//!   (area-averaged, so the edges come out grey as in MNIST) to fit 20 × 20 with its aspect kept,
//!   then placed in 28 × 28 with its centre of mass on pixel (14, 14) — the normalisation LeCun,
//!   Cortes and Burges describe for MNIST (MNIST test digits drawn large come back exactly).
//!
//! Random draws come from the experiment's `Augment` stream and all arithmetic is f64 with `libm`,
//! so a seed gives the same images in wasm and natively.

use crate::engine::Rng;

/// Random shifts and rotations for training images.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Augment {
    /// Largest shift in pixels, each axis (drawn uniformly from `−max..=max`).
    pub max_shift: usize,
    /// Largest rotation in degrees (drawn uniformly from `[−max, max)`).
    pub max_degrees: f64,
}

impl Augment {
    /// No augmentation.
    pub const NONE: Augment = Augment { max_shift: 0, max_degrees: 0.0 };
    /// The MNIST presets' augmentation: ±2 px and ±10°.
    pub const DIGITS: Augment = Augment { max_shift: 2, max_degrees: 10.0 };

    /// Whether this changes anything.
    pub fn is_none(&self) -> bool {
        self.max_shift == 0 && self.max_degrees == 0.0
    }

    /// Writes a randomly shifted and rotated copy of `image` (`rows × cols`) into `out`. Draws
    /// exactly three numbers from `rng` (row shift, column shift, angle), whatever the settings, so
    /// the stream stays aligned when a setting changes.
    pub fn apply(&self, image: &[u8], rows: usize, cols: usize, rng: &mut Rng, out: &mut [u8]) {
        let span = 2 * self.max_shift + 1;
        let dy = rng.below(span) as f64 - self.max_shift as f64;
        let dx = rng.below(span) as f64 - self.max_shift as f64;
        let degrees = rng.range(-self.max_degrees, self.max_degrees);
        transform(image, rows, cols, dy, dx, degrees, out);
    }
}

/// `out` = `image` rotated by `degrees` (counter-clockwise as displayed, rows growing downwards)
/// about its centre, then shifted by `dy` rows and `dx` columns; bilinear, zero outside. Integer
/// shifts without rotation move pixels exactly.
pub fn transform(image: &[u8], rows: usize, cols: usize, dy: f64, dx: f64, degrees: f64, out: &mut [u8]) {
    assert_eq!(image.len(), rows * cols, "image of {} pixels for {rows} × {cols}", image.len());
    assert_eq!(out.len(), rows * cols, "output of {} pixels for {rows} × {cols}", out.len());
    let (cy, cx) = ((rows as f64 - 1.0) / 2.0, (cols as f64 - 1.0) / 2.0);
    let theta = degrees.to_radians();
    let (sin, cos) = (libm::sin(theta), libm::cos(theta));
    let at = |r: isize, c: isize| -> f64 {
        if r < 0 || c < 0 || r >= rows as isize || c >= cols as isize { 0.0 } else { image[r as usize * cols + c as usize] as f64 }
    };
    for r in 0..rows {
        for c in 0..cols {
            // The source of output pixel (r, c): undo the shift, then the rotation.
            let (y, x) = (r as f64 - dy - cy, c as f64 - dx - cx);
            let sy = cos * y + sin * x + cy;
            let sx = -sin * y + cos * x + cx;
            let (y0, x0) = (libm::floor(sy), libm::floor(sx));
            let (fy, fx) = (sy - y0, sx - x0);
            let (y0, x0) = (y0 as isize, x0 as isize);
            let v = (1.0 - fy) * ((1.0 - fx) * at(y0, x0) + fx * at(y0, x0 + 1))
                + fy * ((1.0 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1));
            out[r * cols + c] = libm::round(v).clamp(0.0, 255.0) as u8;
        }
    }
}

/// Side of an MNIST image.
pub const SIDE: usize = 28;
/// Side of the box the ink is fitted into.
pub const FIT: usize = 20;
/// Grey levels at or below this are background when looking for the ink.
const INK: u8 = 8;

/// A hand-drawn digit (`rows × cols` grey levels, ink high) as a 28 × 28 MNIST-style image, or
/// `None` when nothing is drawn.
pub fn digit_from_drawing(pixels: &[u8], rows: usize, cols: usize) -> Option<Vec<u8>> {
    assert_eq!(pixels.len(), rows * cols, "drawing of {} pixels for {rows} × {cols}", pixels.len());
    // The ink's bounding box.
    let (mut top, mut bottom, mut left, mut right) = (usize::MAX, 0, usize::MAX, 0);
    for r in 0..rows {
        for c in 0..cols {
            if pixels[r * cols + c] > INK {
                (top, bottom, left, right) = (top.min(r), bottom.max(r), left.min(c), right.max(c));
            }
        }
    }
    if top == usize::MAX {
        return None;
    }
    let (h, w) = (bottom - top + 1, right - left + 1);
    // Fit the longer side to 20 pixels, keeping the aspect (at least one pixel each way).
    let scale = FIT as f64 / h.max(w) as f64;
    let (fh, fw) = (((h as f64 * scale).round() as usize).clamp(1, FIT), ((w as f64 * scale).round() as usize).clamp(1, FIT));
    let fitted = area_resample(pixels, cols, (top, left, h, w), fh, fw);
    // Place it so that its centre of mass is the image centre (as far as the frame allows).
    let (mut mass, mut my, mut mx) = (0.0, 0.0, 0.0);
    for r in 0..fh {
        for c in 0..fw {
            let v = fitted[r * fw + c];
            mass += v;
            my += v * (r as f64 + 0.5);
            mx += v * (c as f64 + 0.5);
        }
    }
    // MNIST puts the centre of mass on pixel (14, 14) (pixel indices, so half a pixel right of and
    // below the geometric centre): measured, this reproduces MNIST's own placement exactly.
    let centre = SIDE as f64 / 2.0 + 0.5;
    let place = |m: f64, len: usize| -> usize { libm::round(centre - m / mass).clamp(0.0, (SIDE - len) as f64) as usize };
    let (oy, ox) = (place(my, fh), place(mx, fw));
    let mut out = vec![0u8; SIDE * SIDE];
    for r in 0..fh {
        for c in 0..fw {
            out[(oy + r) * SIDE + ox + c] = libm::round(fitted[r * fw + c]).clamp(0.0, 255.0) as u8;
        }
    }
    Some(out)
}

/// The box `(top, left, h, w)` of an image `cols` wide resampled to `th × tw` by area averaging:
/// each target pixel is the mean of the source area it covers (fractional pixels weighted).
fn area_resample(pixels: &[u8], cols: usize, (top, left, h, w): (usize, usize, usize, usize), th: usize, tw: usize) -> Vec<f64> {
    let (sy, sx) = (h as f64 / th as f64, w as f64 / tw as f64);
    // Source pixels overlapping [a, b) with their overlap, along one axis.
    let spans = |a: f64, b: f64, n: usize| -> Vec<(usize, f64)> {
        let first = libm::floor(a) as usize;
        let last = (libm::ceil(b) as usize).min(n);
        (first..last).map(|i| (i, b.min(i as f64 + 1.0) - a.max(i as f64))).filter(|(_, f)| *f > 0.0).collect()
    };
    let mut out = vec![0.0; th * tw];
    for r in 0..th {
        let ys = spans(r as f64 * sy, (r + 1) as f64 * sy, h);
        for c in 0..tw {
            let xs = spans(c as f64 * sx, (c + 1) as f64 * sx, w);
            let mut sum = 0.0;
            for &(y, fy) in &ys {
                for &(x, fx) in &xs {
                    sum += fy * fx * pixels[(top + y) * cols + left + x] as f64;
                }
            }
            out[r * tw + c] = sum / (sy * sx);
        }
    }
    out
}
