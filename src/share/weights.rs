//! Model weights in and out of the app: safetensors files whose tensor names are the model's
//! parameter paths (`l1.w`, `l1.b`, …), and a compact f16 form that fits in a link (with f32 for
//! any tensor f16 cannot hold within [`F16_RELATIVE_ERROR`]).
//!
//! Both are untrusted on the way in: every check (format, names, shapes, dtype, finiteness)
//! happens before anything is returned, so a bad file leaves the current model untouched.

use half::f16;
use safetensors::tensor::{Dtype, SafeTensors, TensorView, serialize};

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
    let bytes: Vec<Vec<u8>> = values.iter().map(|v| v.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
    let mut views = Vec::with_capacity(values.len());
    for ((name, shape), data) in params.names.iter().zip(params.shapes).zip(&bytes) {
        let view = TensorView::new(Dtype::F32, shape.to_vec(), data)
            .map_err(|_| WeightsError::Mismatch(format!("{name} has {} values, its shape {shape:?} needs {}", data.len() / 4, shape[0] * shape[1])))?;
        views.push((name.clone(), view));
    }
    let metadata = metadata.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    serialize(views, Some(metadata)).map_err(|e| WeightsError::Corrupt(e.to_string()))
}

/// Reads a safetensors file, checking it holds exactly the expected parameters.
pub fn from_safetensors(bytes: &[u8], params: &Params<'_>) -> Result<Vec<Vec<f32>>, WeightsError> {
    super::check_file_size(bytes.len() as f64).map_err(WeightsError::Corrupt)?;
    let file = SafeTensors::deserialize(bytes).map_err(|e| WeightsError::Corrupt(e.to_string()))?;
    let mut extra: Vec<&str> = file.names().into_iter().filter(|n| !params.names.iter().any(|p| p == n)).collect();
    extra.sort_unstable();
    if !extra.is_empty() {
        return Err(WeightsError::Mismatch(format!("it has tensors this network does not: {}", extra.join(", "))));
    }
    let mut out = Vec::with_capacity(params.names.len());
    for (name, shape) in params.names.iter().zip(params.shapes) {
        let t = file.tensor(name).map_err(|_| WeightsError::Mismatch(format!("it has no tensor {name}")))?;
        if t.shape() != shape {
            return Err(WeightsError::Mismatch(format!("{name} is {:?}, this network's is {shape:?}", t.shape())));
        }
        if t.dtype() != Dtype::F32 {
            return Err(WeightsError::Mismatch(format!("{name} is {:?}, expected F32", t.dtype())));
        }
        let values: Vec<f32> = t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        if values.iter().any(|v| !v.is_finite()) {
            return Err(WeightsError::NotFinite(name.clone()));
        }
        out.push(values);
    }
    Ok(out)
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

fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 3);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..chunk.len() + 1 {
            out.push(BASE64URL[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn unbase64(text: &str) -> Result<Vec<u8>, WeightsError> {
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
