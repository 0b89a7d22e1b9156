//! Model weights in and out of the app: safetensors files whose tensor names are the model's
//! parameter paths (`l1.w`, `l1.b`, …), and a compact f16 form that fits in a link (with f32 for
//! any tensor f16 cannot hold within [`F16_RELATIVE_ERROR`]).
//!
//! Both are untrusted on the way in: every check (format, names, shapes, dtype, finiteness)
//! happens before anything is returned, so a bad file leaves the current model untouched.

use half::f16;
use safetensors::tensor::{Dtype, SafeTensors, TensorView, serialize};

use crate::engine::{EngineError, Precision, Shape, T, read_many, tensor};
use crate::models::gan::Gan;
use crate::train::gan::GanTrainer;
use crate::train::compress::{Granularity, quantize};
use crate::train::quality::Classifier;
use crate::models::image::{Arch, ImageModel};

/// Largest relative error of a weight stored as f16 in a link (half an f16 ulp, normal range).
pub const F16_RELATIVE_ERROR: f64 = 1.0 / 2048.0;

/// What was wrong with weights offered to the app.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WeightsError {
    /// Not a readable file or encoding.
    #[error("not a valid weights file: {0}")]
    Corrupt(String),
    /// Readable, but for another network.
    #[error("these weights are for a different network: {0}")]
    Mismatch(String),
    /// A NaN or infinite value.
    #[error("{0} holds a NaN or infinite value")]
    NotFinite(String),
}

/// The parameters of a model: names, shapes and values, in the model's order.
pub struct Params<'a> {
    /// Parameter paths.
    pub names: &'a [String],
    /// `[rows, cols]` of each.
    pub shapes: &'a [[usize; 2]],
}

/// Writes the values as a safetensors file (f32, one tensor per parameter).
/// `metadata` goes into the file's header (e.g. the experiment's link). Values that do not fit
/// the shapes (stale values of another network) are refused, never written.
pub fn to_safetensors(params: &Params<'_>, values: &[Vec<f32>], metadata: &[(&str, &str)]) -> Result<Vec<u8>, WeightsError> {
    if values.len() != params.names.len() || params.shapes.len() != params.names.len() {
        return Err(WeightsError::Mismatch(format!("{} tensors of values for {} parameters", values.len(), params.names.len())));
    }
    let tensors = params.names.iter().zip(params.shapes).zip(values).map(|((n, s), v)| (n.clone(), Shape::from(*s), v.clone())).collect();
    state_dict_to_safetensors(&StateDict { tensors, counts: Vec::new() }, metadata)
}

/// Reads a safetensors file, checking it holds exactly the expected parameters.
pub fn from_safetensors(bytes: &[u8], params: &Params<'_>) -> Result<Vec<Vec<f32>>, WeightsError> {
    let expected: Vec<(String, Shape)> = params.names.iter().zip(params.shapes).map(|(n, s)| (n.clone(), Shape::from(*s))).collect();
    Ok(state_dict_from_safetensors(bytes, &expected, &[])?.tensors.into_iter().map(|(_, _, v)| v).collect())
}

/// What PyTorch's `state_dict()` holds for our models: f32 tensors (parameters and buffers such
/// as batch norm's running statistics) by name, and integer counters (`num_batches_tracked`,
/// stored as i64 scalars, as PyTorch does).
#[derive(Clone, Debug, PartialEq)]
pub struct StateDict {
    /// Name, true shape and values of each f32 tensor.
    pub tensors: Vec<(String, Shape, Vec<f32>)>,
    /// Name and value of each counter.
    pub counts: Vec<(String, i64)>,
}

/// Writes a state dict as a safetensors file that `safetensors.torch.load_file` and
/// `load_state_dict(strict=True)` accept. Values that do not fit their shapes are refused.
pub fn state_dict_to_safetensors(dict: &StateDict, metadata: &[(&str, &str)]) -> Result<Vec<u8>, WeightsError> {
    state_dict_to_safetensors_as(dict, metadata, Stored::F32)
}

/// How a weights file stores its float tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    /// 4 bytes a value, exact.
    F32,
    /// 2 bytes a value: half the size, within 2⁻¹¹ relative (values below 6.1e-5 lose precision,
    /// above 65504 are refused). Readers here widen them back to f32.
    F16,
    /// 1 byte a weight: every tensor of rank ≥ 2 as int8 with one f32 scale per output unit (its
    /// first axis, PyTorch's `out`) in a companion `NAME_scale` (`w = q · scale`, symmetric,
    /// `|q| ≤ 127`); vectors (biases) stay f32. Readers here dequantize.
    Int8,
    /// As [`Stored::Int8`] with one scale for the whole tensor (`NAME_scale` of shape `[1]`).
    Int8PerTensor,
}

/// The companion tensor holding an int8 tensor's scales.
fn scale_name(name: &str) -> String {
    format!("{name}_scale")
}

/// [`state_dict_to_safetensors`] with the float tensors stored as `stored`; f16 refuses a value
/// it cannot hold (above 65504) instead of writing an infinity.
pub fn state_dict_to_safetensors_as(dict: &StateDict, metadata: &[(&str, &str)], stored: Stored) -> Result<Vec<u8>, WeightsError> {
    let f32_bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    // (name, dtype, shape, bytes) of every tensor the file holds.
    let mut entries: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, shape, v) in &dict.tensors {
        if v.len() != shape.numel() {
            return Err(WeightsError::Mismatch(format!("{name} has {} values, its shape {shape} needs {}", v.len(), shape.numel())));
        }
        let dims = shape.dims().to_vec();
        match stored {
            Stored::F32 => entries.push((name.clone(), Dtype::F32, dims, f32_bytes(v))),
            Stored::Int8 | Stored::Int8PerTensor if dims.len() < 2 => entries.push((name.clone(), Dtype::F32, dims, f32_bytes(v))),
            Stored::F16 => {
                let mut bytes = Vec::with_capacity(2 * v.len());
                for &x in v {
                    let h = f16::from_f32(x);
                    if !h.is_finite() {
                        return Err(WeightsError::Mismatch(format!("{name} holds {x}, beyond f16's range")));
                    }
                    bytes.extend(h.to_le_bytes());
                }
                entries.push((name.clone(), Dtype::F16, dims, bytes));
            }
            Stored::Int8 | Stored::Int8PerTensor => {
                if let Some(x) = v.iter().find(|x| !x.is_finite()) {
                    return Err(WeightsError::Mismatch(format!("{name} holds {x}, which int8 cannot scale")));
                }
                let granularity = if stored == Stored::Int8 { Granularity::PerChannel } else { Granularity::PerTensor };
                let q = quantize(v, [dims[0], v.len() / dims[0].max(1)], 0, granularity);
                entries.push((name.clone(), Dtype::I8, dims, q.q.iter().map(|&x| x as u8).collect()));
                entries.push((scale_name(name), Dtype::F32, vec![q.scales.len()], f32_bytes(&q.scales)));
            }
        }
    }
    for (name, c) in &dict.counts {
        entries.push((name.clone(), Dtype::I64, vec![], c.to_le_bytes().to_vec()));
    }
    let views = entries
        .iter()
        .map(|(name, dtype, shape, data)| TensorView::new(*dtype, shape.clone(), data).map(|v| (name.clone(), v)).map_err(|e| WeightsError::Mismatch(format!("{name}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let mut metadata: Vec<(String, String)> = metadata.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    match stored {
        Stored::Int8 => metadata.push(("quantization".into(), "int8 symmetric per output unit: NAME = q * NAME_scale, one scale per index of the first axis; vectors are f32".into())),
        Stored::Int8PerTensor => metadata.push(("quantization".into(), "int8 symmetric per tensor: NAME = q * NAME_scale, one scale (shape [1]); vectors are f32".into())),
        Stored::F32 | Stored::F16 => {}
    }
    serialize(views, Some(metadata.into_iter().collect())).map_err(|e| WeightsError::Corrupt(e.to_string()))
}

/// Reads a safetensors file that must hold exactly the `expected` f32 tensors (name, shape) and
/// the named counters; anything missing, extra, misshapen, of another dtype or not finite is an
/// error that names it.
pub fn state_dict_from_safetensors(bytes: &[u8], expected: &[(String, Shape)], counts: &[&str]) -> Result<StateDict, WeightsError> {
    super::check_file_size(bytes.len() as f64).map_err(WeightsError::Corrupt)?;
    let file = SafeTensors::deserialize(bytes).map_err(|e| WeightsError::Corrupt(e.to_string()))?;
    let known = |n: &str| expected.iter().any(|(p, _)| p == n || scale_name(p) == n) || counts.contains(&n);
    let mut extra: Vec<&str> = file.names().into_iter().filter(|n| !known(n)).collect();
    extra.sort_unstable();
    if !extra.is_empty() {
        return Err(WeightsError::Mismatch(format!("it has tensors this network does not: {}", extra.join(", "))));
    }
    let missing = |name: &str| WeightsError::Mismatch(format!("it has no tensor {name}"));
    let mut tensors = Vec::with_capacity(expected.len());
    for (name, shape) in expected {
        let t = file.tensor(name).map_err(|_| missing(name))?;
        if t.shape() != shape.dims() {
            return Err(WeightsError::Mismatch(format!("{name} is {}, this network's is {shape}", Shape::new(&t.shape()[..t.shape().len().min(4)]))));
        }
        let values: Vec<f32> = match t.dtype() {
            Dtype::F32 => t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            Dtype::F16 => t.data().chunks_exact(2).map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            // Stored::Int8: one scale per index of the first axis, in `NAME_scale`; per tensor: one.
            Dtype::I8 if shape.dims().len() >= 2 => {
                let s = file.tensor(&scale_name(name)).map_err(|_| missing(&scale_name(name)))?;
                let rows = shape.dims()[0];
                if s.dtype() != Dtype::F32 || (s.shape() != [rows] && s.shape() != [1]) {
                    return Err(WeightsError::Mismatch(format!("{} is {:?} {:?}, expected F32 [{rows}] or [1]", scale_name(name), s.dtype(), s.shape())));
                }
                let scales: Vec<f32> = s.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
                let per_scale = shape.numel() / scales.len().max(1);
                t.data().iter().enumerate().map(|(i, &q)| q as i8 as f32 * scales[i / per_scale.max(1)]).collect()
            }
            Dtype::I8 => return Err(WeightsError::Mismatch(format!("{name} is I8, but a vector must be F32 or F16"))),
            other => return Err(WeightsError::Mismatch(format!("{name} is {other:?}, expected F32, F16 or I8 (with {})", scale_name(name)))),
        };
        if values.iter().any(|v| !v.is_finite()) {
            return Err(WeightsError::NotFinite(name.clone()));
        }
        tensors.push((name.clone(), *shape, values));
    }
    let mut found = Vec::with_capacity(counts.len());
    for &name in counts {
        let t = file.tensor(name).map_err(|_| missing(name))?;
        if t.dtype() != Dtype::I64 || !t.shape().is_empty() {
            return Err(WeightsError::Mismatch(format!("{name} is {:?} {:?}, expected a scalar I64", t.dtype(), t.shape())));
        }
        let b = t.data();
        found.push((name.to_string(), i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])));
    }
    Ok(StateDict { tensors, counts: found })
}

const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Whether every value of a tensor survives f16 within [`F16_RELATIVE_ERROR`]: false for
/// magnitudes above f16's range (65504) and for the subnormal range (below 2⁻¹⁴ ≈ 6.1e-5, where
/// f16 loses relative precision); zero is exact.
fn fits_f16(values: &[f32]) -> bool {
    values.iter().all(|&x| {
        let back = f16::from_f32(x).to_f32();
        x == 0.0 || (back.is_finite() && ((back - x).abs() as f64) <= F16_RELATIVE_ERROR * x.abs() as f64)
    })
}

/// Encodes the values for a link: f16, little-endian, base64url without padding (2.67
/// characters a weight). A tensor that f16 cannot hold within the stated error goes as f32
/// instead, never clamped: then every tensor is its own segment, segments joined by `.`, an f32
/// one marked by a leading `+` (characters base64url does not use, so old links read as before).
pub fn to_link(values: &[Vec<f32>]) -> String {
    let half = |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|&x| f16::from_f32(x).to_le_bytes()).collect() };
    if values.iter().all(|v| fits_f16(v)) {
        return base64(&values.iter().flat_map(|v| half(v)).collect::<Vec<u8>>());
    }
    let segments: Vec<String> = values
        .iter()
        .map(|v| {
            if fits_f16(v) {
                base64(&half(v))
            } else {
                format!("+{}", base64(&v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>()))
            }
        })
        .collect();
    segments.join(".")
}

/// Base64url without padding (RFC 4648 §5).
pub fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 3);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..chunk.len() + 1 {
            out.push(BASE64URL[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// Reads [`base64`]'s text.
pub fn unbase64(text: &str) -> Result<Vec<u8>, WeightsError> {
    let digits: Vec<u32> = text
        .bytes()
        .map(|c| BASE64URL.iter().position(|&d| d == c).map(|p| p as u32))
        .collect::<Option<_>>()
        .ok_or_else(|| WeightsError::Corrupt("a character outside base64url".into()))?;
    if digits.len() % 4 == 1 {
        return Err(WeightsError::Corrupt("truncated".into()));
    }
    let mut bytes = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &d)| n | d << (18 - 6 * i));
        for i in 0..chunk.len() - 1 {
            bytes.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Ok(bytes)
}

/// Decodes `to_link`'s form for a network of the given shapes.
pub fn from_link(text: &str, shapes: &[[usize; 2]]) -> Result<Vec<Vec<f32>>, WeightsError> {
    let expected: usize = shapes.iter().map(|s| s[0] * s[1]).sum();
    let out: Vec<Vec<f32>> = if text.contains('.') || text.starts_with('+') {
        let segments: Vec<&str> = text.split('.').collect();
        if segments.len() != shapes.len() {
            return Err(WeightsError::Mismatch(format!("{} tensors, this network has {}", segments.len(), shapes.len())));
        }
        let mut out = Vec::with_capacity(shapes.len());
        for (segment, shape) in segments.iter().zip(shapes) {
            let n = shape[0] * shape[1];
            let (wide, digits) = match segment.strip_prefix('+') {
                Some(rest) => (true, rest),
                None => (false, *segment),
            };
            let bytes = unbase64(digits)?;
            let width = if wide { 4 } else { 2 };
            if bytes.len() != width * n {
                return Err(WeightsError::Mismatch(format!("a tensor of {} weights, this network's has {n}", bytes.len() / width)));
            }
            out.push(if wide {
                bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
            } else {
                bytes.chunks_exact(2).map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32()).collect()
            });
        }
        out
    } else {
        let bytes = unbase64(text)?;
        if bytes.len() != 2 * expected {
            return Err(WeightsError::Mismatch(format!("{} weights, this network has {expected}", bytes.len() / 2)));
        }
        let mut values = bytes.chunks_exact(2).map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32());
        shapes.iter().map(|s| values.by_ref().take(s[0] * s[1]).collect()).collect()
    };
    if out.iter().flatten().any(|v| !v.is_finite()) {
        return Err(WeightsError::NotFinite("a weight".into()));
    }
    Ok(out)
}

/// The f32 tensors (parameters, then batch norm's running statistics) and counters an image
/// model's state dict holds, with PyTorch's names.
pub fn image_layout(model: &ImageModel) -> (Vec<(String, Shape)>, Vec<&'static str>) {
    let mut tensors: Vec<(String, Shape)> = model.names().into_iter().map(String::from).zip(model.arch.shapes()).collect();
    let mut counts = Vec::new();
    if let Arch::Cnn { channels, batch_norm: true, .. } = model.arch {
        tensors.push(("bn1.running_mean".into(), Shape::from([channels])));
        tensors.push(("bn1.running_var".into(), Shape::from([channels])));
        counts.push("bn1.num_batches_tracked");
    }
    (tensors, counts)
}

/// Reads an image model's state dict off its device (one transfer, async).
pub async fn image_state_dict(model: &ImageModel) -> Result<StateDict, EngineError> {
    let (layout, counts) = image_layout(model);
    let values = read_many(model.params.iter().chain(&model.buffers).cloned().collect()).await?;
    let tensors = layout.into_iter().zip(values).map(|((n, s), v)| (n, s, v.into_iter().map(|x| x as f32).collect())).collect();
    Ok(StateDict { tensors, counts: counts.into_iter().map(|c| (c.to_string(), model.batches_tracked as i64)).collect() })
}

/// Reads a weights file for this image model (checked against its layout) and puts it on the
/// model's device; a bad file leaves the model as it was.
pub fn load_image_safetensors(model: &mut ImageModel, bytes: &[u8]) -> Result<(), WeightsError> {
    let (layout, counts) = image_layout(model);
    let dict = state_dict_from_safetensors(bytes, &layout, &counts)?;
    let device = model.params[0].device();
    let upload = |(_, shape, v): &(String, Shape, Vec<f32>)| tensor(v, *shape, &device, Precision::F32);
    let n = model.params.len();
    model.params = dict.tensors[..n].iter().map(upload).collect();
    model.buffers = dict.tensors[n..].iter().map(upload).collect();
    model.batches_tracked = dict.counts.first().map_or(0, |(_, c)| (*c).max(0) as u64);
    Ok(())
}

/// A GAN's tensors with their PyTorch names and shapes: the generator's (`g.fc1.weight` `[out,
/// in]`, `g.fc1.bias`, …), then the discriminator's (`d.…`).
pub fn gan_layout(gan: &Gan) -> Vec<(String, Shape)> {
    let stack = |s: &crate::models::gan::Stack| -> Vec<(String, Shape)> {
        let shapes = s.layers.iter().flat_map(|l| [Shape::from([l.outputs, l.inputs]), Shape::from([l.outputs])]);
        s.names().iter().map(|n| n.to_string()).zip(shapes).collect()
    };
    let mut out = stack(&gan.generator);
    out.extend(stack(&gan.discriminator));
    out
}

/// The link a weights file's metadata holds (`gradlab`: the experiment that trained it), if any.
pub fn link_of(bytes: &[u8]) -> Option<String> {
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes).ok()?;
    header.metadata().as_ref()?.get("gradlab").cloned()
}

/// Puts a weights file into a GAN trainer's networks (both, this preset), with fresh optimizer
/// state; a bad file changes nothing. (Before any step: the shipped start; later: a file the user
/// loads, which a link cannot replay.)
pub fn load_gan_weights(trainer: &mut GanTrainer, bytes: &[u8]) -> Result<(), WeightsError> {
    load_gan_safetensors(&mut trainer.gan, bytes)?;
    trainer.reset_optimizers();
    Ok(())
}

/// The inception score's classifier from `cnn-tuned` weights (a state dict).
pub fn load_classifier(bytes: &[u8], device: &burn::tensor::Device) -> Result<Classifier, WeightsError> {
    let mut model = Classifier::blank(device);
    load_image_safetensors(&mut model, bytes)?;
    Ok(Classifier::new(model))
}

/// Reads a GAN's weights off its device (one transfer, async).
pub async fn gan_state_dict(gan: &Gan) -> Result<StateDict, EngineError> {
    let layout = gan_layout(gan);
    let values = read_many(gan.generator.params.iter().chain(&gan.discriminator.params).cloned().collect()).await?;
    let tensors = layout.into_iter().zip(values).map(|((n, s), v)| (n, s, v.into_iter().map(|x| x as f32).collect())).collect();
    Ok(StateDict { tensors, counts: Vec::new() })
}

/// Reads a weights file for this GAN (checked against its layout: the preset must match) and puts
/// it on the networks' device; a bad file leaves the GAN as it was.
pub fn load_gan_safetensors(gan: &mut Gan, bytes: &[u8]) -> Result<(), WeightsError> {
    let dict = state_dict_from_safetensors(bytes, &gan_layout(gan), &[])?;
    let device = gan.generator.params[0].device();
    let mut values = dict.tensors.iter().map(|(_, shape, v)| tensor(v, *shape, &device, Precision::F32));
    let g = gan.generator.params.len();
    let generator: Vec<T> = values.by_ref().take(g).collect();
    gan.generator.params = generator;
    gan.discriminator.params = values.collect();
    Ok(())
}

/// A quantized network as safetensors: each weight matrix `lK.w` as I8 (its float shape), its
/// scales as `lK.w_scale` (F32, `[1]` per tensor or `[out]` per channel), the biases `lK.b` as
/// F32; the metadata says how to read it back (`w = q · scale`, scales along the output axis).
pub fn quantized_to_safetensors(
    weights: &[crate::train::compress::Quantized],
    biases: &[Vec<f32>],
    metadata: &[(&str, &str)],
) -> Result<Vec<u8>, WeightsError> {
    let mut entries: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (k, (q, b)) in weights.iter().zip(biases).enumerate() {
        let l = k + 1;
        entries.push((format!("l{l}.w"), Dtype::I8, q.shape.to_vec(), q.q.iter().map(|&v| v as u8).collect()));
        entries.push((format!("l{l}.w_scale"), Dtype::F32, vec![q.scales.len()], q.scales.iter().flat_map(|s| s.to_le_bytes()).collect()));
        entries.push((format!("l{l}.b"), Dtype::F32, vec![b.len()], b.iter().flat_map(|s| s.to_le_bytes()).collect()));
    }
    let views = entries
        .iter()
        .map(|(name, dtype, shape, data)| TensorView::new(*dtype, shape.clone(), data).map(|v| (name.clone(), v)).map_err(|e| WeightsError::Mismatch(format!("{name}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let mut meta: Vec<(String, String)> = metadata.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    meta.push(("quantization".into(), "int8 symmetric: w = q * scale; lK.w is [in, out]; lK.w_scale has one value (per tensor) or one per output unit (per channel, axis 1)".into()));
    serialize(views, Some(meta.into_iter().collect())).map_err(|e| WeightsError::Corrupt(e.to_string()))
}

/// The tabular network's int8 file: its quantized weight matrices `q`, its biases, and the
/// input names and positive class in the metadata.
pub fn tabular_int8(trainer: &crate::train::tabular::TabularTrainer, q: &[crate::train::compress::Quantized]) -> Result<Vec<u8>, WeightsError> {
    let biases: Vec<Vec<f32>> = trainer.params.iter().skip(1).step_by(2).cloned().collect();
    quantized_to_safetensors(q, &biases, &[("inputs", &trainer.data.names.join(",")), ("positive", &trainer.data.classes[0])])
}

/// Reads [`quantized_to_safetensors`]'s file back: the dequantized weight matrices and the
/// biases, layer by layer (a check that the file says what it should).
pub fn quantized_from_safetensors(bytes: &[u8]) -> Result<Vec<(Vec<f32>, Vec<f32>)>, WeightsError> {
    let file = SafeTensors::deserialize(bytes).map_err(|e| WeightsError::Corrupt(e.to_string()))?;
    let mut layers = Vec::new();
    for l in 1.. {
        let Ok(w) = file.tensor(&format!("l{l}.w")) else { break };
        let missing = |n: &str| WeightsError::Mismatch(format!("it has no tensor {n}"));
        let s = file.tensor(&format!("l{l}.w_scale")).map_err(|_| missing("w_scale"))?;
        let b = file.tensor(&format!("l{l}.b")).map_err(|_| missing("b"))?;
        if w.dtype() != Dtype::I8 || s.dtype() != Dtype::F32 || b.dtype() != Dtype::F32 || w.shape().len() != 2 {
            return Err(WeightsError::Mismatch(format!("layer {l} is not int8 weights with f32 scales and biases")));
        }
        let f32s = |d: &[u8]| d.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect::<Vec<f32>>();
        let (scales, cols) = (f32s(s.data()), w.shape()[1]);
        if scales.len() != 1 && scales.len() != cols {
            return Err(WeightsError::Mismatch(format!("l{l}.w_scale has {} values; 1 or {cols} expected", scales.len())));
        }
        let weights = w.data().iter().enumerate().map(|(i, &q)| q as i8 as f32 * scales[if scales.len() == 1 { 0 } else { i % cols }]).collect();
        layers.push((weights, f32s(b.data())));
    }
    Ok(layers)
}
