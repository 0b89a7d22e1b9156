//! Which device a trainer runs on: the CPU (burn's flex backend) or the GPU (burn's wgpu backend:
//! WebGPU in the browser, Vulkan/Metal/DX12 natively). Opening the GPU can fail (no WebGPU, no
//! adapter); callers then stay on the CPU and say why.

use burn::tensor::Device;

/// A backend choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// burn's flex backend on the CPU.
    Cpu,
    /// burn's wgpu backend (WebGPU in the browser).
    Gpu,
}

impl BackendKind {
    /// The name shown in the UI and used by tests (`cpu` or `webgpu`).
    pub fn key(&self) -> &'static str {
        match self {
            BackendKind::Cpu => "cpu",
            BackendKind::Gpu => "webgpu",
        }
    }

    /// Parses `cpu`, `webgpu` or `wgpu`.
    pub fn from_key(key: &str) -> Option<Self> {
        match key {
            "cpu" => Some(BackendKind::Cpu),
            "webgpu" | "wgpu" | "gpu" => Some(BackendKind::Gpu),
            _ => None,
        }
    }
}

/// The CPU device.
pub fn cpu() -> Device {
    Device::flex()
}

/// Opens the GPU device (async: the browser requires it). Call once; clone the result.
///
/// `on_lost` is called once if the GPU device is lost later (the browser's `GPUDevice.lost`:
/// a driver reset, a destroyed device, a GPU that went away), with the reason in words. Lost
/// devices are otherwise only noticed when a readback fails. In the browser the callback is one
/// more listener beside cubecl's own (which marks the device poisoned); natively wgpu keeps one
/// callback per device, so there cubecl's is left in place and `on_lost` is not registered.
pub async fn open_gpu(on_lost: fn(String)) -> Result<Device, String> {
    let (device, setup) = Device::wgpu_options().init_with_setup_async().await.map_err(|e| format!("{e}"))?;
    if cfg!(target_arch = "wasm32") {
        setup.device.set_device_lost_callback(move |reason, message| on_lost(format!("device lost, {reason:?}: {message}")));
    }
    Ok(device)
}

/// Opens the GPU device natively, once per process; later calls return the same device.
#[cfg(not(target_arch = "wasm32"))]
pub fn native_gpu() -> Result<Device, String> {
    use std::sync::OnceLock;
    static GPU: OnceLock<Result<Device, String>> = OnceLock::new();
    GPU.get_or_init(|| Device::wgpu_options().init().map_err(|e| format!("{e}"))).clone()
}
