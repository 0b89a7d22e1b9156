//! The essay's GAN: the networks' sizes, and each half of a corrected training step — the
//! discriminator's sends no gradient into the generator, the generator's none into the
//! discriminator — with every gradient checked against burn-autodiff on the same computation.

use burn::tensor::Device;
use gradlab::engine::{Mode, Precision, Rng, Stream, T, block_on, read_f64, tensor_f64};
use gradlab::models::gan::{Gan, GanPreset};

fn values(t: &T) -> Vec<f64> {
    block_on(read_f64(t)).unwrap()
}

#[test]
fn the_essays_networks_have_the_essays_sizes() {
    let gan = Gan::init(GanPreset::Essay, 1, &Device::flex(), Precision::F32);
    // G: 100·256+256 + 256·512+512 + 512·1024+1024 + 1024·3000+3000 + 3000·784+784 ≈ 6.1 M; D ≈ 1.5 M.
    assert_eq!((gan.generator.parameter_count(), gan.discriminator.parameter_count()), (6_110_536, 1_460_225));
    assert_eq!(gan.generator.names()[..2], ["g.fc1.weight", "g.fc1.bias"]);
    assert_eq!(gan.discriminator.names().last(), Some(&"d.fc4.bias"));
    assert_eq!(gan.generator.params[0].dims(), [1, 1, 256, 100], "PyTorch's [out, in]");
}

/// Both halves on gan-small at batch 5 (f64): our tape's gradients for the trained network equal
/// burn-autodiff's on the same forward, and the other network gets none from either.
#[test]
fn each_half_step_trains_only_its_own_network() {
    let ad = Device::flex().autodiff();
    let mut rng = Rng::new(3, Stream::Data);
    let batch = 5;
    let real: Vec<f64> = (0..batch * 784).map(|_| rng.uniform()).collect();
    let z: Vec<f64> = (0..batch * 64).map(|_| rng.range(-1.0, 1.0)).collect();
    for half in ["discriminator", "generator"] {
        let mut gan = Gan::init(GanPreset::Small, 7, &ad, Precision::F64);
        for p in gan.generator.params.iter_mut().chain(gan.discriminator.params.iter_mut()) {
            *p = p.clone().require_grad();
        }
        let zt = tensor_f64(&z, [batch, 64], &ad, Precision::F64);
        let mut step = if half == "discriminator" {
            gan.discriminator_step(tensor_f64(&real, [batch, 784], &ad, Precision::F64), zt, Mode::Trace)
        } else {
            gan.generator_step(zt, Mode::Trace)
        };
        let oracle = step.tape.value(step.loss).clone().sum().backward();
        step.tape.backward(step.loss);
        let (trained, other) = if half == "discriminator" { (&gan.discriminator, &gan.generator) } else { (&gan.generator, &gan.discriminator) };
        for (k, (&leaf, p)) in step.params.iter().zip(&trained.params).enumerate() {
            let ours = values(step.tape.node(leaf).grad.as_ref().unwrap_or_else(|| panic!("{half}: no gradient for {}", trained.names()[k])));
            let theirs = values(&p.grad(&oracle).expect("burn-autodiff's gradient"));
            for (j, (a, b)) in ours.iter().zip(&theirs).enumerate() {
                assert!((a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-3), "{half}: {}[{j}] ours {a} vs burn-autodiff {b}", trained.names()[k]);
            }
        }
        for (k, (&leaf, p)) in step.frozen.iter().zip(&other.params).enumerate() {
            assert!(step.tape.node(leaf).grad.is_none(), "{half}'s step sent a gradient into {}", other.names()[k]);
            // The stop-gradient detaches, so burn-autodiff stops there too; the generator's half
            // holds the discriminator's weights as constants (burn-autodiff, asked, would differentiate them).
            if half == "discriminator" {
                assert!(p.grad(&oracle).is_none(), "burn-autodiff also stops at {}", other.names()[k]);
            }
        }
    }
}

/// gan-small on 1,000 digits: the same seed gives the same losses bit for bit; 300 steps take the
/// generator's images from grey noise (mean pixel ≈ 0.5) towards MNIST's dark background (≈ 0.13),
/// and both losses stay finite.
#[test]
fn the_corrected_gan_learns_from_digits() {
    use gradlab::engine::read;
    use gradlab::train::gan::{GanConfig, GanTrainer};
    let Some(data) = crate::support::mnist() else { return };
    let cpu = Device::flex();
    let config = GanConfig { train_limit: 1000, ..GanConfig::default() };
    let losses = |t: &mut GanTrainer, n: usize| -> Vec<(f32, f32)> {
        (0..n).map(|_| {
            let (d, g) = t.train_step();
            (block_on(read(&d)).unwrap()[0], block_on(read(&g)).unwrap()[0])
        }).collect()
    };
    let mut a = GanTrainer::new(config.clone(), &data.train, &cpu);
    let mut b = GanTrainer::new(config, &data.train, &cpu);
    assert_eq!(losses(&mut a, 5), losses(&mut b, 5), "same seed, same losses");
    let mut fixed = Rng::new(99, Stream::Data);
    let z: Vec<f64> = (0..16 * 64).map(|_| fixed.normal()).collect();
    let z = tensor_f64(&z, [16, 64], &cpu, Precision::F32);
    let mean = |t: &GanTrainer| values(&t.generate(z.clone())).iter().sum::<f64>() / (16.0 * 784.0);
    let before = mean(&a);
    let run = losses(&mut a, 300);
    let after = mean(&a);
    eprintln!("gan-small, 300 steps on 1,000 digits: mean pixel {before:.3} -> {after:.3}; last losses {:?}", &run[295..]);
    assert!(run.iter().all(|(d, g)| d.is_finite() && g.is_finite()), "finite losses");
    assert!((0.4..0.6).contains(&before) && after < 0.3, "mean pixel {before} -> {after}");
}
