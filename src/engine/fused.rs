//! Our own WGSL kernels (`shaders/`), launched through burn's wgpu runtime on the tensors' own
//! buffers. Each has a reference: the generic tensor-op path it replaces, which stays in use
//! everywhere the kernel does not apply (the CPU backend, f64) and is what the tests compare with.
//!
//! A kernel is used only where a benchmark shows it wins (see `gradlab bench`).

use burn::backend::Wgpu;
use burn::backend::wgpu::{CubeTensor, KernelSource, SourceKernel, SourceTemplate, into_contiguous};
use burn::tensor::DType;
use cubecl::server::KernelArguments;
use cubecl::prelude::KernelId;
use cubecl::{CubeCount, CubeDim};

use std::sync::atomic::{AtomicU64, Ordering};

use super::op::T;

/// Threads per workgroup of the element-wise kernels (must match `@workgroup_size`).
const WORKGROUP: u32 = 64;

/// `shaders/adam.wgsl`.
struct AdamKernel;

impl KernelSource for AdamKernel {
    fn source(&self) -> SourceTemplate {
        SourceTemplate::new(include_str!("../../shaders/adam.wgsl"))
    }

    fn id(&self) -> KernelId {
        KernelId::new::<Self>()
    }

    fn lang(&self) -> &'static str {
        "wgsl"
    }
}

/// Adam's hyper-parameters for one step, as the kernel reads them.
#[derive(Clone, Copy, Debug)]
pub struct AdamStep {
    /// η
    pub lr: f32,
    /// β₁
    pub beta1: f32,
    /// β₂
    pub beta2: f32,
    /// ε
    pub eps: f32,
    /// λ (decoupled)
    pub weight_decay: f32,
    /// 1 − β₁ᵗ
    pub bc1: f32,
    /// 1 − β₂ᵗ
    pub bc2: f32,
}

/// Which kernels ran one parameter's update: observable, so that a test or a benchmark that
/// means to measure the fused kernel can check it did not silently take the generic path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdatePath {
    /// Our fused WGSL kernel (one dispatch).
    Fused,
    /// burn's generic element-wise ops, and why the kernel was not used.
    Generic(&'static str),
    /// Our host kernels, on the CPU (`Optimizer::update_host`).
    Host,
}

static LAUNCHES: AtomicU64 = AtomicU64::new(0);

/// How many times a fused kernel was launched in this process (tests read the difference).
pub fn launches() -> u64 {
    LAUNCHES.load(Ordering::Relaxed)
}

/// One fused Adam update `(w, g, m, v) → (w', m', v')` in a single dispatch, or why the kernel
/// does not apply (not f32, not on the wgpu backend, empty or too large for one 1-D dispatch):
/// the caller then takes the generic path.
pub fn adam(w: &T, g: &T, m: &T, v: &T, step: AdamStep) -> Result<(T, T, T), &'static str> {
    if [w, g, m, v].iter().any(|t| t.dtype() != DType::F32) {
        return Err("not f32");
    }
    let n = w.dims().iter().product::<usize>();
    let groups = (n as u32).div_ceil(WORKGROUP);
    if n == 0 {
        return Err("empty tensor");
    }
    if groups > 65_535 {
        return Err("too large for one dispatch");
    }
    let shape = w.shape();
    let cube = |t: &T| t.clone().try_into_primitive::<Wgpu>().map(into_contiguous).map_err(|_| "not on the wgpu backend");
    let (w, g, m, v) = (cube(w)?, cube(g)?, cube(m)?, cube(v)?);
    let client = w.client.clone();
    let fresh = || {
        CubeTensor::new_contiguous(client.clone(), w.device.clone(), shape.clone(), client.empty(n * 4), DType::F32)
    };
    let (w_out, m_out, v_out) = (fresh(), fresh(), fresh());
    let hyper = [step.lr, step.beta1, step.beta2, step.eps, step.weight_decay, step.bc1, step.bc2];
    let hyper_bytes: Vec<u8> = hyper.iter().flat_map(|x| x.to_le_bytes()).collect();
    let hyper = client.create_from_slice(&hyper_bytes);
    let buffers = [&w.handle, &g.handle, &m.handle, &v.handle, &w_out.handle, &m_out.handle, &v_out.handle, &hyper]
        .into_iter()
        .map(|h| h.clone().binding())
        .collect();
    client.launch(
        Box::new(SourceKernel::new(AdamKernel, CubeDim::new_1d(WORKGROUP))),
        CubeCount::Static(groups, 1, 1),
        KernelArguments::new().with_buffers(buffers),
    );
    LAUNCHES.fetch_add(1, Ordering::Relaxed);
    let wrap = |t: CubeTensor| T::from_primitive::<Wgpu>(t);
    Ok((wrap(w_out), wrap(m_out), wrap(v_out)))
}
