//! Making a trained network smaller: magnitude pruning and int8 post-training quantization of
//! its weight matrices (biases stay f32; activations stay float).
//!
//! - **Pruning** zeroes the weights of smallest magnitude until a chosen share (the sparsity) is
//!   zero — over all weight matrices at once (global: layers that matter less lose more) or in
//!   each matrix alike (per layer). Exactly `⌊sparsity · n⌋` weights go (ties by position), so the
//!   sparsity asked for is the sparsity got. A pruned network can be fine-tuned with its mask
//!   held: pruned weights stay zero after every update.
//! - **Quantization** is symmetric: `q = round(w / s)` clamped to [−127, 127], `w ≈ q · s`, with one
//!   scale `s = max|w| / 127` per matrix (per tensor) or per output unit (per channel). The
//!   network then runs on the dequantized weights (what an int8 kernel with float activations
//!   computes, up to its accumulation order).
//!
//! Sizes are counted as stored: dense f32 is 4 bytes a weight; a pruned matrix stores each
//! non-zero weight with a 4-byte index (COO); int8 is 1 byte a weight plus 4 per scale.

use serde::Serialize;

/// Which weights compete for pruning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Scope {
    /// All weight matrices together.
    Global,
    /// Each matrix on its own, at the same sparsity.
    PerLayer,
}

impl Scope {
    /// Both.
    pub const ALL: [Scope; 2] = [Scope::Global, Scope::PerLayer];

    /// Its key.
    pub fn key(&self) -> &'static str {
        match self {
            Scope::Global => "global",
            Scope::PerLayer => "layer",
        }
    }
}

/// One scale per what.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Granularity {
    /// One per matrix.
    PerTensor,
    /// One per output unit.
    PerChannel,
}

impl Granularity {
    /// Both.
    pub const ALL: [Granularity; 2] = [Granularity::PerTensor, Granularity::PerChannel];

    /// Its key.
    pub fn key(&self) -> &'static str {
        match self {
            Granularity::PerTensor => "tensor",
            Granularity::PerChannel => "channel",
        }
    }
}

/// Which weights to keep (`true`) so that `⌊sparsity · n⌋` of them, the smallest in magnitude
/// within `scope`, are pruned. `sparsity` is clamped to [0, 1].
pub fn magnitude_masks(weights: &[&[f32]], sparsity: f64, scope: Scope) -> Vec<Vec<bool>> {
    let sparsity = sparsity.clamp(0.0, 1.0);
    let mut masks: Vec<Vec<bool>> = weights.iter().map(|w| vec![true; w.len()]).collect();
    let prune = |entries: &mut Vec<(f32, usize, usize)>, masks: &mut Vec<Vec<bool>>| {
        let k = (sparsity * entries.len() as f64).floor() as usize;
        // Smallest magnitude first; ties by layer, then position: the same cut every time.
        entries.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        for &(_, layer, i) in &entries[..k] {
            masks[layer][i] = false;
        }
    };
    let entries = |layer: usize| weights[layer].iter().enumerate().map(move |(i, w)| (w.abs(), layer, i));
    match scope {
        Scope::Global => prune(&mut (0..weights.len()).flat_map(entries).collect(), &mut masks),
        Scope::PerLayer => {
            for layer in 0..weights.len() {
                prune(&mut entries(layer).collect(), &mut masks);
            }
        }
    }
    masks
}

/// Zeroes the pruned weights.
pub fn apply_mask(w: &mut [f32], mask: &[bool]) {
    for (w, &keep) in w.iter_mut().zip(mask) {
        if !keep {
            *w = 0.0;
        }
    }
}

/// Share of zero entries.
pub fn sparsity(weights: &[&[f32]]) -> f64 {
    let n: usize = weights.iter().map(|w| w.len()).sum();
    let zeros: usize = weights.iter().map(|w| w.iter().filter(|&&x| x == 0.0).count()).sum();
    zeros as f64 / n.max(1) as f64
}

/// A weight matrix in int8 with its scales.
#[derive(Clone, Debug, PartialEq)]
pub struct Quantized {
    /// `[rows, cols]`, as the float matrix.
    pub shape: [usize; 2],
    /// The axis of the output units (`1` for gradlab's `[in, out]` layout, `0` for PyTorch's
    /// `[out, in]`): per-channel scales run along it.
    pub channel_axis: usize,
    /// Row-major values in [−127, 127].
    pub q: Vec<i8>,
    /// One scale (per tensor), or one per output unit.
    pub scales: Vec<f32>,
}

/// Quantizes a `[rows, cols]` matrix (see the module documentation).
pub fn quantize(w: &[f32], shape: [usize; 2], channel_axis: usize, granularity: Granularity) -> Quantized {
    let [rows, cols] = shape;
    assert_eq!(w.len(), rows * cols, "a matrix of its shape");
    let channel = |i: usize| if channel_axis == 0 { i / cols } else { i % cols };
    let channels = if channel_axis == 0 { rows } else { cols };
    let mut max = vec![0f32; if granularity == Granularity::PerChannel { channels } else { 1 }];
    for (i, &x) in w.iter().enumerate() {
        let c = if granularity == Granularity::PerChannel { channel(i) } else { 0 };
        max[c] = max[c].max(x.abs());
    }
    // An all-zero channel keeps scale 1 (its values are 0 either way).
    let scales: Vec<f32> = max.iter().map(|&m| if m > 0.0 { m / 127.0 } else { 1.0 }).collect();
    let q = w
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let s = scales[if granularity == Granularity::PerChannel { channel(i) } else { 0 }];
            (x / s).round().clamp(-127.0, 127.0) as i8
        })
        .collect();
    Quantized { shape, channel_axis, q, scales }
}

impl Quantized {
    /// The float matrix the int8 values stand for.
    pub fn dequantize(&self) -> Vec<f32> {
        let cols = self.shape[1];
        let per_channel = self.scales.len() > 1;
        self.q
            .iter()
            .enumerate()
            .map(|(i, &q)| {
                let c = if !per_channel { 0 } else if self.channel_axis == 0 { i / cols } else { i % cols };
                q as f32 * self.scales[c]
            })
            .collect()
    }
}

/// Bytes of a network's weight matrices and biases stored as described in the module
/// documentation: `(dense f32, pruned f32 with indices, int8 with scales)` — the int8 figure
/// dense or, when a share is zero, whichever of dense and indexed is smaller.
pub fn sizes(weights: &[&[f32]], biases: usize, per_channel_scales: usize) -> (usize, usize, usize) {
    let n: usize = weights.iter().map(|w| w.len()).sum();
    let nonzero: usize = weights.iter().map(|w| w.iter().filter(|&&x| x != 0.0).count()).sum();
    let bias_bytes = 4 * biases;
    let dense = 4 * n + bias_bytes;
    let pruned = (8 * nonzero).min(4 * n) + bias_bytes;
    let int8 = n.min(5 * nonzero) + 4 * per_channel_scales + bias_bytes;
    (dense, pruned, int8)
}

/// Bytes of the weights as they would be stored: int8 when quantized (`scales`: how many scales),
/// else pruned with indices when any weight is zero, else dense f32 ([`sizes`]' three figures).
pub fn stored_bytes(weights: &[&[f32]], biases: usize, scales: Option<usize>) -> usize {
    let (dense, pruned, int8) = sizes(weights, biases, scales.unwrap_or(0));
    if scales.is_some() {
        int8
    } else if sparsity(weights) > 0.0 {
        pruned
    } else {
        dense
    }
}

/// A compressed copy of an image model and its figures.
#[derive(Clone, Debug)]
pub struct CompressedImage {
    /// The model with its weights pruned and/or quantized (biases and batch norm untouched).
    pub model: crate::models::image::ImageModel,
    /// Non-zero weights after pruning.
    pub nonzero: usize,
    /// Weights in all (the matrices and filters compressed).
    pub weights: usize,
    /// Dense f32 bytes of the model's weights and biases.
    pub dense_bytes: usize,
    /// Bytes of the compressed copy as stored ([`stored_bytes`]).
    pub stored_bytes: usize,
}

/// Prunes (to `sparsity`, over `scope`) and optionally quantizes an image model's weights —
/// every `….weight` of rank 2 or more except batch norm's, each seen as `[out, rest]` (PyTorch's
/// layout: output channels along the first axis) — given its parameters' values read back
/// (`values`, in [`ImageModel::names`](crate::models::image::ImageModel::names) order).
pub fn compress_image_model(
    model: &crate::models::image::ImageModel,
    values: &[Vec<f64>],
    sparsity: f64,
    scope: Scope,
    quantize: Option<Granularity>,
) -> CompressedImage {
    let shapes = model.arch.shapes();
    let names = model.names();
    let picked: Vec<usize> = (0..names.len()).filter(|&i| names[i].ends_with(".weight") && !names[i].starts_with("bn") && shapes[i].rank() >= 2).collect();
    let weights: Vec<Vec<f32>> = picked.iter().map(|&i| values[i].iter().map(|&v| v as f32).collect()).collect();
    let refs: Vec<&[f32]> = weights.iter().map(Vec::as_slice).collect();
    let masks = magnitude_masks(&refs, sparsity, scope);
    let mut out = model.clone();
    let mut compressed = Vec::new();
    let mut scales = quantize.map(|_| 0);
    for ((&i, w), mask) in picked.iter().zip(&weights).zip(&masks) {
        let mut w = w.clone();
        apply_mask(&mut w, mask);
        let dims = shapes[i].dims();
        let shape = [dims[0], dims[1..].iter().product()];
        if let Some(g) = quantize {
            // PyTorch's layout: output channels along the rows.
            let q = self::quantize(&w, shape, 0, g);
            *scales.as_mut().expect("counted when quantizing") += q.scales.len();
            w = q.dequantize();
        }
        let device = out.params[i].device();
        let v: Vec<f64> = w.iter().map(|&x| x as f64).collect();
        out.params[i] = crate::engine::tensor_f64(&v, shapes[i], &device, crate::models::precision_of(&model.params[i]));
        compressed.push(w);
    }
    let refs: Vec<&[f32]> = compressed.iter().map(Vec::as_slice).collect();
    let biases: usize = (0..names.len()).filter(|i| !picked.contains(i)).map(|i| shapes[i].numel()).sum();
    CompressedImage {
        model: out,
        nonzero: refs.iter().map(|w| w.iter().filter(|&&x| x != 0.0).count()).sum(),
        weights: refs.iter().map(|w| w.len()).sum(),
        dense_bytes: sizes(&refs, biases, 0).0,
        stored_bytes: stored_bytes(&refs, biases, scales),
    }
}
