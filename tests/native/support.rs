//! Helpers shared by the test modules.

use gradlab::backend;

/// The GPU backend (natively: wgpu on Vulkan, lavapipe on a machine without a GPU).
pub fn gpu() -> Option<burn::tensor::Device> {
    match backend::native_gpu() {
        Ok(d) => Some(d),
        Err(e) if std::env::var("GRADLAB_SKIP_GPU").is_ok() => {
            eprintln!("skipping GPU test: {e}");
            None
        }
        Err(e) => panic!("no GPU backend ({e}); install mesa-vulkan-drivers (./x setup) or set GRADLAB_SKIP_GPU=1"),
    }
}
