//! Our optimizers against their formulas computed by hand in f64.

use burn::tensor::Device;
use gradlab::engine::{Optimizer, OptimizerConfig, OptimizerKind, Precision, block_on, read_f64, tensor_f64};

fn run(kind: OptimizerKind, weight_decay: f64, grads: &[[f64; 2]]) -> Vec<f64> {
    let cpu = Device::flex();
    let mut params = vec![tensor_f64(&[0.5, -1.5], [1, 2], &cpu, Precision::F64)];
    let mut opt = Optimizer::new(OptimizerConfig { weight_decay, ..OptimizerConfig::new(kind, 0.1) });
    for g in grads {
        opt.update(&mut params, &[tensor_f64(g, [1, 2], &cpu, Precision::F64)]);
    }
    block_on(read_f64(&params[0])).unwrap()
}

const GRADS: [[f64; 2]; 3] = [[1.0, -2.0], [0.5, 0.25], [-3.0, 1.0]];

#[test]
fn sgd_momentum_and_adam_follow_their_formulas() {
    let (lr, wd) = (0.1, 0.01);
    // SGD: w ← w − η(g + λw)
    let mut w = [0.5, -1.5];
    for g in GRADS {
        for i in 0..2 {
            w[i] -= lr * (g[i] + wd * w[i]);
        }
    }
    assert_close(&run(OptimizerKind::Sgd, wd, &GRADS), &w);

    // Momentum: v ← μv + g + λw; w ← w − ηv
    let (mut w, mut v) = ([0.5, -1.5], [0.0; 2]);
    for (t, g) in GRADS.iter().enumerate() {
        for i in 0..2 {
            let gi = g[i] + wd * w[i];
            v[i] = if t == 0 { gi } else { 0.9 * v[i] + gi };
            w[i] -= lr * v[i];
        }
    }
    assert_close(&run(OptimizerKind::Momentum, wd, &GRADS), &w);

    // Adam with bias correction and decoupled weight decay.
    let (mut w, mut m, mut s) = ([0.5, -1.5], [0.0; 2], [0.0; 2]);
    for (t, g) in GRADS.iter().enumerate() {
        let t = (t + 1) as i32;
        for i in 0..2 {
            m[i] = 0.9 * m[i] + 0.1 * g[i];
            s[i] = 0.999 * s[i] + 0.001 * g[i] * g[i];
            let mh = m[i] / (1.0 - 0.9f64.powi(t));
            let sh = s[i] / (1.0 - 0.999f64.powi(t));
            w[i] -= lr * (mh / (sh.sqrt() + 1e-8) + wd * w[i]);
        }
    }
    assert_close(&run(OptimizerKind::Adam, wd, &GRADS), &w);
}

/// The same updates on the host (`Optimizer::update_host`, the CPU path of small nets).
fn run_host(kind: OptimizerKind, weight_decay: f64, grads: &[[f64; 2]]) -> Vec<f64> {
    let mut w = vec![0.5, -1.5];
    let mut state = Vec::new();
    let mut opt = Optimizer::new(OptimizerConfig { weight_decay, ..OptimizerConfig::new(kind, 0.1) });
    for g in grads {
        opt.update_host(&mut [w.as_mut_slice()], &[g.as_slice()], &mut state);
    }
    assert_eq!(opt.paths(), &[gradlab::engine::UpdatePath::Host]);
    assert_eq!(opt.t, grads.len() as u64);
    w
}

#[test]
fn host_updates_equal_the_tensor_updates() {
    for kind in OptimizerKind::ALL {
        for wd in [0.0, 0.01] {
            assert_close(&run_host(kind, wd, &GRADS), &run(kind, wd, &GRADS));
        }
    }
}

fn assert_close(a: &[f64], b: &[f64]) {
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-12, "{a:?} vs {b:?}");
    }
}

/// shaders/adam.wgsl and shaders/sgd.wgsl (one dispatch per tensor: Adam, SGD, SGD with
/// momentum) against the generic tensor-op path they replace, on the wgpu backend, over several
/// steps and shapes that are not multiples of the workgroup (64).
#[test]
fn fused_optimizer_kernels_match_the_generic_path() {
    let gpu = match gradlab::backend::native_gpu() {
        Ok(d) => d,
        Err(e) if std::env::var("GRADLAB_SKIP_GPU").is_ok() => return eprintln!("skipping: {e}"),
        Err(e) => panic!("no GPU backend ({e}); install mesa-vulkan-drivers or set GRADLAB_SKIP_GPU=1"),
    };
    for kind in [OptimizerKind::Adam, OptimizerKind::Sgd, OptimizerKind::Momentum] {
        optimizer_kernel_matches_the_generic_path(kind, &gpu);
    }
}

fn optimizer_kernel_matches_the_generic_path(kind: OptimizerKind, gpu: &burn::tensor::Device) {
    use gradlab::engine::{Kernels, Rng, Stream, UpdatePath, block_on, read, tensor};
    let gpu = gpu.clone();
    let mut rng = Rng::new(11, Stream::Data);
    let shapes = [[3, 67], [65, 1], [1, 1], [13, 7]];
    let mut runs = Vec::new();
    for kernels in [Kernels::Generic, Kernels::Fused] {
        let mut rng = rng.clone();
        let mut params: Vec<_> = shapes
            .iter()
            .map(|&s| tensor(&(0..s[0] * s[1]).map(|_| rng.range(-1.0, 1.0) as f32).collect::<Vec<_>>(), s, &gpu, Precision::F32))
            .collect();
        let mut opt = Optimizer::new(OptimizerConfig { weight_decay: 0.01, ..OptimizerConfig::new(kind, 0.05) });
        opt.kernels = kernels;
        for _ in 0..5 {
            let grads: Vec<_> = shapes
                .iter()
                .map(|&s| tensor(&(0..s[0] * s[1]).map(|_| rng.range(-2.0, 2.0) as f32).collect::<Vec<_>>(), s, &gpu, Precision::F32))
                .collect();
            let launched = gradlab::engine::fused::launches();
            opt.update(&mut params, &grads);
            // Which path ran is asserted, not assumed: the comparison below is fused vs generic.
            let (expected, launches) = match kernels {
                Kernels::Fused => (UpdatePath::Fused, shapes.len() as u64),
                Kernels::Generic => (UpdatePath::Generic("generic kernels chosen"), 0),
            };
            assert_eq!(opt.paths(), vec![expected; shapes.len()].as_slice(), "{kind:?}");
            assert!(gradlab::engine::fused::launches() - launched >= launches, "the kernel was launched once per tensor");
        }
        runs.push(params.iter().map(|p| block_on(read(p)).unwrap()).collect::<Vec<_>>());
    }
    rng.next_u64();
    for (s, (a, b)) in runs[0].iter().zip(&runs[1]).enumerate() {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= 2e-6 * x.abs().max(1.0), "{kind:?}, shape {:?}: generic {x} vs fused {y}", shapes[s]);
        }
    }
}

/// Where the fused kernel does not apply (the CPU backend, f64), the optimizer says so and why.
#[test]
fn the_fused_kernel_reports_why_it_did_not_run() {
    use gradlab::engine::{UpdatePath, tensor};
    let cpu = gradlab::backend::cpu();
    let mut params = vec![tensor(&[1.0, 2.0], [1, 2], &cpu, Precision::F32)];
    let grads = vec![tensor(&[0.5, -0.5], [1, 2], &cpu, Precision::F32)];
    let mut opt = Optimizer::new(OptimizerConfig::new(OptimizerKind::Adam, 0.1));
    assert_eq!(opt.kernels, gradlab::engine::Kernels::Fused, "the default, backed by `gradlab bench`");
    opt.update(&mut params, &grads);
    assert_eq!(opt.paths(), &[UpdatePath::Generic("not on the wgpu backend")]);
    let mut params = vec![tensor(&[1.0, 2.0], [1, 2], &cpu, Precision::F64)];
    let grads = vec![tensor(&[0.5, -0.5], [1, 2], &cpu, Precision::F64)];
    let mut opt = Optimizer::new(OptimizerConfig::new(OptimizerKind::Adam, 0.1));
    opt.update(&mut params, &grads);
    assert_eq!(opt.paths(), &[UpdatePath::Generic("not f32")]);
    let mut sgd = Optimizer::new(OptimizerConfig::new(OptimizerKind::Sgd, 0.1));
    sgd.update(&mut params, &grads);
    assert_eq!(sgd.paths(), &[UpdatePath::Generic("not f32")]);
}
