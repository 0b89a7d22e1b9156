//! gradlab's autodiff: a tape of nodes from a closed [`Op`] set, our optimizers, and the seeded
//! RNG. Tensors and kernels are burn's (`burn::Tensor` on a runtime-chosen `Device`: flex on the
//! CPU, wgpu on WebGPU/Vulkan); the differentiation is ours, so that every node can be shown.

pub mod fused;
pub mod host;
pub mod kernels;
pub mod op;
pub mod optim;
pub mod real;
pub mod rng;
pub mod shape;
pub mod tag;
pub mod tape;

pub use kernels::WeightGradient;
pub use host::{Plan, Unsupported};
pub use op::{Formula, HostArg, Leaf, Op, Saved, Stats, T};
pub use real::{Real, exp_wide};
pub use shape::{Shape, ShapeError};
pub use fused::UpdatePath;
pub use optim::{Kernels, Optimizer, OptimizerConfig, OptimizerKind};
pub use rng::{Rng, RngPosition, Stream};
pub use tag::{Role, Tag};
pub use tape::{Memory, Mode, Node, NodeId, Tape};

use burn::tensor::Device;
use burn::tensor::{DType, TensorData};

/// Float precision of a computation: f32 in the app, f64 for gradient checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// 32-bit floats (every backend).
    F32,
    /// 64-bit floats (CPU only; used by the numerical checks).
    F64,
}

/// Uploads `values` (row-major) as a tensor of the given true shape (stored padded to rank 4).
pub fn tensor(values: &[f32], shape: impl Into<Shape>, device: &Device, precision: Precision) -> T {
    let shape = shape.into();
    assert_eq!(values.len(), shape.numel(), "{} values for a {shape} tensor", values.len());
    match precision {
        Precision::F32 => T::from_data(TensorData::new(values.to_vec(), shape.storage()), (device, DType::F32)),
        Precision::F64 => {
            let wide: Vec<f64> = values.iter().map(|&v| v as f64).collect();
            T::from_data(TensorData::new(wide, shape.storage()), (device, DType::F64))
        }
    }
}

/// Takes `values` as an f32 tensor of the given true shape: on the CPU the vector becomes the
/// tensor's storage without a copy (the MNIST training set is 188 MB).
pub fn tensor_from_vec(values: Vec<f32>, shape: impl Into<Shape>, device: &Device) -> T {
    let shape = shape.into();
    assert_eq!(values.len(), shape.numel(), "{} values for a {shape} tensor", values.len());
    T::from_data(TensorData::new(values, shape.storage()), (device, DType::F32))
}

/// Uploads f64 values as a tensor of the given true shape and precision.
pub fn tensor_f64(values: &[f64], shape: impl Into<Shape>, device: &Device, precision: Precision) -> T {
    let shape = shape.into();
    assert_eq!(values.len(), shape.numel(), "{} values for a {shape} tensor", values.len());
    let dtype = match precision {
        Precision::F32 => DType::F32,
        Precision::F64 => DType::F64,
    };
    T::from_data(TensorData::new(values.to_vec(), shape.storage()), (device, dtype))
}

/// Reads a tensor back as f32 values, without blocking (required in the browser).
pub async fn read(t: &T) -> Result<Vec<f32>, EngineError> {
    let data = t.to_data_async().await.map_err(|e| EngineError::Readback(format!("{e:?}")))?;
    data.convert::<f32>().try_to_vec::<f32>().map_err(|e| EngineError::Readback(format!("{e:?}")))
}

/// Reads a tensor back as f64 values (for the numerical checks).
pub async fn read_f64(t: &T) -> Result<Vec<f64>, EngineError> {
    let data = t.to_data_async().await.map_err(|e| EngineError::Readback(format!("{e:?}")))?;
    data.convert::<f64>().try_to_vec::<f64>().map_err(|e| EngineError::Readback(format!("{e:?}")))
}

/// Reads many tensors back in one transfer: each is flattened into one row on the device and
/// the rows concatenated, because every readback costs a round trip (on WebGPU a `mapAsync`),
/// far more than the copy. All must have the same dtype.
pub async fn read_many(parts: Vec<T>) -> Result<Vec<Vec<f64>>, EngineError> {
    if parts.is_empty() {
        return Ok(Vec::new());
    }
    let sizes: Vec<usize> = parts.iter().map(|t| t.dims().iter().product()).collect();
    let total: usize = sizes.iter().sum();
    let flat = T::cat(parts.into_iter().zip(&sizes).map(|(t, &n)| t.reshape([1, 1, 1, n])).collect(), 3);
    let all = read_f64(&flat).await?;
    if all.len() != total {
        return Err(EngineError::Readback(format!("read {} values, expected {total}", all.len())));
    }
    let mut offset = 0;
    Ok(sizes
        .iter()
        .map(|&n| {
            offset += n;
            all[offset - n..offset].to_vec()
        })
        .collect())
}

/// Runs a future to completion on native targets (the CLI and tests).
#[cfg(not(target_arch = "wasm32"))]
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    pollster::block_on(f)
}

/// Errors of the engine layer.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A value could not be read back from the device (e.g. the GPU was lost).
    #[error("could not read a value back from the device: {0}")]
    Readback(String),
    /// A computation produced NaN or infinity.
    #[error("the loss is not a finite number (NaN or infinity): lower the learning rate or reset")]
    NotFinite,
}
