//! The essay's GAN: the networks' sizes, and each half of a corrected training step — the
//! discriminator's sends no gradient into the generator, the generator's none into the
//! discriminator — with every gradient checked against burn-autodiff on the same computation.

use burn::tensor::Device;
use gradlab::engine::{Mode, Precision, Rng, Stream, T, block_on, read_f64, tensor_f64};
use gradlab::models::gan::{Gan, GanPreset, Init, Recipe, Restraint};

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
/// burn-autodiff's on the same forward, and the other network gets none from either. The essay's
/// networks too (batch 2), so that how they train (see `train::gan::shipped_weights`) is theirs,
/// not a wrong gradient's.
#[test]
fn each_half_step_trains_only_its_own_network() {
    check_halves(GanPreset::Small, 5);
    check_halves(GanPreset::Essay, 2);
}

fn check_halves(preset: GanPreset, batch: usize) {
    let ad = Device::flex().autodiff();
    let mut rng = Rng::new(3, Stream::Data);
    let latent = preset.latent();
    let real: Vec<f64> = (0..batch * 784).map(|_| rng.uniform()).collect();
    let z: Vec<f64> = (0..batch * latent).map(|_| rng.range(-1.0, 1.0)).collect();
    let restraint = Restraint { dropout: 0.3, smoothing: 0.1, noise: 0.1, matching: 2.0 };
    let halves = ["discriminator", "generator", "essay's discriminator", "essay's generator", "restrained discriminator", "restrained generator"];
    for half in halves {
        let mut gan = Gan::init(preset, 7, &ad, Precision::F64);
        for p in gan.generator.params.iter_mut().chain(gan.discriminator.params.iter_mut()) {
            *p = p.clone().require_grad();
        }
        let zt = tensor_f64(&z, [batch, latent], &ad, Precision::F64);
        let realt = tensor_f64(&real, [batch, 784], &ad, Precision::F64);
        let mut step = match half {
            "discriminator" => gan.discriminator_step(realt, zt, Mode::Trace),
            "generator" => gan.generator_step(zt, Mode::Trace),
            "essay's discriminator" => gan.discriminator_half(realt, zt, Mode::Trace, Recipe::AsWritten, Restraint::default(), &mut rng.clone()),
            // D's dropout (masks in both halves), smoothed targets and instance noise on every
            // image D sees: still burn-autodiff's gradients.
            "restrained discriminator" => gan.discriminator_half(realt, zt, Mode::Trace, Recipe::Corrected, restraint, &mut rng.clone()),
            "restrained generator" => gan.generator_half(zt, Some(realt), Mode::Trace, restraint, &mut rng.clone()),
            _ => gan.essay_generator_step(zt, realt, Mode::Trace),
        };
        let essay = half == "essay's discriminator";
        // The restrained halves did drop units: a dropout after each of D's hidden layers, on the
        // real and the fake batch in both halves (G's half passes the real batch through D for
        // feature matching); none elsewhere.
        let dropped = step.tape.nodes().iter().filter(|n| matches!(n.op, gradlab::engine::Op::Dropout { .. })).count();
        let hidden = preset.discriminator().len() - 1;
        let expected = match half {
            "restrained discriminator" => 2 * hidden,
            "restrained generator" => 2 * hidden,
            _ => 0,
        };
        assert_eq!(dropped, expected, "{half}: dropout nodes");
        // Instance noise: one noise leaf per batch D judges (real and fake), each of deviation ≈ σ;
        // feature matching: G's loss has its λ-weighted feature gap.
        if half == "restrained generator" {
            assert!(step.tape.nodes().iter().any(|n| n.tag.name == Some("λ·feature gap")), "feature matching is on G's tape");
        }
        let noise: Vec<_> = step.tape.nodes().iter().filter(|n| n.tag.name.is_some_and(|s| s.starts_with("noise on"))).collect();
        assert_eq!(noise.len(), expected / hidden.max(1), "{half}: instance-noise leaves");
        for n in &noise {
            let v = values(n.value());
            let sd = (v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64).sqrt();
            assert!((sd - 0.1).abs() < 0.03, "{half}: the noise's deviation is {sd}, not σ = 0.1");
        }
        if half == "restrained discriminator" {
            let target = step.tape.nodes().iter().find(|n| n.tag.name == Some("1 − smoothing")).expect("a smoothed target");
            assert!(values(target.value()).iter().all(|&v| (v - 0.9).abs() < 1e-7), "D's target for real images is 0.9");
        }
        let half = if half.ends_with("discriminator") { "discriminator" } else { "generator" };
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
            if essay {
                // The essay's D step leaves gradients in G (not detached): they equal
                // burn-autodiff's, which follows the graph into G as PyTorch's would.
                let ours = values(step.tape.node(leaf).grad.as_ref().unwrap_or_else(|| panic!("the essay's D step reaches {}", other.names()[k])));
                let theirs = values(&p.grad(&oracle).expect("burn-autodiff reaches G too"));
                assert!(ours.iter().zip(&theirs).all(|(a, b)| (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-3)), "{}", other.names()[k]);
                continue;
            }
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

/// SSIM on hand-made 8 × 8 images with one 8 × 8 window: the formula of Wang et al. written out
/// here from its definition (means, sample variances and covariance) gives the same number;
/// identical images give 1; the 7 × 7 windows of two 28 × 28 images average the per-window values.
#[test]
fn ssim_matches_its_formula_on_hand_made_images() {
    use gradlab::train::quality::ssim;
    let a: Vec<f32> = (0..64).map(|i| ((i % 8) as f32) / 7.0).collect(); // a left-to-right ramp
    let b: Vec<f32> = (0..64).map(|i| if (i / 8 + i % 8) % 2 == 0 { 0.9 } else { 0.1 }).collect(); // a checkerboard
    let c: Vec<f32> = a.iter().map(|x| 0.5 * x + 0.2).collect(); // the ramp, less contrast
    let by_hand = |x: &[f32], y: &[f32]| {
        let n = 64.0;
        let mx = x.iter().map(|&v| v as f64).sum::<f64>() / n;
        let my = y.iter().map(|&v| v as f64).sum::<f64>() / n;
        let vx = x.iter().map(|&v| (v as f64 - mx).powi(2)).sum::<f64>() / (n - 1.0);
        let vy = y.iter().map(|&v| (v as f64 - my).powi(2)).sum::<f64>() / (n - 1.0);
        let cxy = x.iter().zip(y).map(|(&u, &v)| (u as f64 - mx) * (v as f64 - my)).sum::<f64>() / (n - 1.0);
        let (c1, c2) = (0.01f64.powi(2), 0.03f64.powi(2));
        (2.0 * mx * my + c1) * (2.0 * cxy + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    };
    for (x, y) in [(&a, &b), (&a, &c), (&b, &c)] {
        let (ours, theirs) = (ssim(x, y, 8, 8), by_hand(x, y));
        assert!((ours - theirs).abs() < 1e-12, "ssim {ours} vs the formula {theirs}");
        assert!((ours - ssim(y, x, 8, 8)).abs() < 1e-12, "symmetric");
    }
    assert!((ssim(&a, &a, 8, 8) - 1.0).abs() < 1e-12);
    // Worked by hand: the ramp against itself at half the contrast has perfect structure; the
    // contrast term is 2·σ·σ/2 / (σ² + σ²/4) = 0.8 and the luminance term 2·0.5·0.45/(0.25 + 0.2025)
    // ≈ 0.9945, so SSIM ≈ 0.796 (the constants C₁, C₂ move it by < 0.002). Each column of the
    // checkerboard sums to the same value, so it does not covary with the ramp: SSIM ≈ 0.
    assert!((ssim(&a, &c, 8, 8) - 0.8 * 0.45 / 0.4525).abs() < 2e-3, "{}", ssim(&a, &c, 8, 8));
    assert!(ssim(&a, &b, 8, 8).abs() < 1e-2, "{}", ssim(&a, &b, 8, 8));
    // 28 × 28 with 7 × 7 windows: the mean of the 22 × 22 windows, each by the formula.
    let mut rng = Rng::new(5, Stream::Data);
    let x: Vec<f32> = (0..784).map(|_| rng.uniform() as f32).collect();
    let y: Vec<f32> = x.iter().map(|v| (v + 0.2 * rng.uniform() as f32).min(1.0)).collect();
    let window = |img: &[f32], top: usize, left: usize| -> Vec<f32> { (0..49).map(|k| img[(top + k / 7) * 28 + left + k % 7]).collect() };
    let mean = (0..22 * 22).map(|p| {
        let (wx, wy) = (window(&x, p / 22, p % 22), window(&y, p / 22, p % 22));
        let n = 49.0;
        let m = |w: &[f32]| w.iter().map(|&v| v as f64).sum::<f64>() / n;
        let (mx, my) = (m(&wx), m(&wy));
        let cov = |u: &[f32], v: &[f32], mu: f64, mv: f64| u.iter().zip(v).map(|(&a, &b)| (a as f64 - mu) * (b as f64 - mv)).sum::<f64>() / (n - 1.0);
        let (c1, c2) = (1e-4, 9e-4);
        (2.0 * mx * my + c1) * (2.0 * cov(&wx, &wy, mx, my) + c2) / ((mx * mx + my * my + c1) * (cov(&wx, &wx, mx, mx) + cov(&wy, &wy, my, my) + c2))
    }).sum::<f64>() / 484.0;
    assert!((ssim(&x, &y, 28, 7) - mean).abs() < 1e-9, "{} vs {mean}", ssim(&x, &y, 28, 7));
}

/// The inception score at its two ends: every sample the same certain class → 1; ten certain
/// classes used evenly → 10; unsure everywhere → 1. The histogram counts arg-maxes.
#[test]
fn inception_score_at_its_ends() {
    use gradlab::train::quality::inception_score;
    let one_hot = |c: usize| -> Vec<f64> { (0..10).map(|k| if k == c { 1.0 } else { 0.0 }).collect() };
    let same: Vec<f64> = (0..20).flat_map(|_| one_hot(3)).collect();
    let even: Vec<f64> = (0..20).flat_map(|i| one_hot(i % 10)).collect();
    let unsure = vec![0.1; 200];
    let s = inception_score(&same);
    assert!((s.score - 1.0).abs() < 1e-12 && s.modes == 1 && s.class_counts[3] == 20);
    let e = inception_score(&even);
    assert!((e.score - 10.0).abs() < 1e-9 && e.modes == 10 && e.class_counts == [2; 10], "{e:?}");
    assert!((inception_score(&unsure).score - 1.0).abs() < 1e-12);
    // Two classes, each certain, 3:1 → exp(H(p(y))) = exp(−¾ ln ¾ − ¼ ln ¼).
    let mixed: Vec<f64> = (0..4).flat_map(|i| one_hot(if i == 0 { 1 } else { 2 })).collect();
    let h: f64 = -(0.75f64 * 0.75f64.ln() + 0.25 * 0.25f64.ln());
    assert!((inception_score(&mixed).score - h.exp()).abs() < 1e-12);
}

/// The step log: written and read back; bad parts named; a run of mixed halves (D only, G only,
/// both) replayed from its log gives the same weights bit for bit; both recipes.
#[test]
fn a_step_log_replays_the_same_gan() {
    use gradlab::train::gan::{GanConfig, GanTrainer, Half, StepLog};
    let log = StepLog::decode("3+d2+g1+2").unwrap();
    assert_eq!(log.encode(), "3+d2+g1+2");
    assert_eq!(log.counts(), (7, 6));
    // Runs of the same half merge, as the trainer's own log does.
    assert_eq!(StepLog::decode("3+3").unwrap().encode(), "6");
    assert_eq!(StepLog::decode("d1+d1+g2").unwrap().encode(), "d2+g2");
    for bad in ["x", "d", "g0", "3+-1", "2000000"] {
        assert!(StepLog::decode(bad).is_err(), "{bad}");
    }
    let mut rng = Rng::new(2, Stream::Data);
    let images = gradlab::data::images::ImageSet { rows: 28, cols: 28, pixels: (0..300 * 784).map(|_| rng.below(256) as u8).collect(), labels: vec![0; 300] };
    let cpu = Device::flex();
    // The corrected loop also with D's dropout, smoothing, instance noise and the scaled
    // initialisation: masks and noise come from the seed too.
    let restrained = [(Recipe::Corrected, 0.0, 0.0, 0.0, Init::PyTorch), (Recipe::AsWritten, 0.0, 0.0, 0.0, Init::PyTorch), (Recipe::Corrected, 0.3, 0.1, 0.2, Init::Scaled)];
    for (recipe, dropout, smoothing, noise, init) in restrained {
        let config = GanConfig { recipe, batch_size: 16, dropout, smoothing, noise, init, ..GanConfig::default() };
        let mut live = GanTrainer::new(config.clone(), &images, &cpu);
        for half in [Half::Both, Half::Discriminator, Half::Discriminator, Half::Generator, Half::Both] {
            live.take(half);
        }
        assert_eq!(live.log.encode(), "1+d2+g1+1");
        let mut again = GanTrainer::new(config.clone(), &images, &cpu);
        again.replay(&StepLog::decode(&live.log.encode()).unwrap());
        // The page's unrolled step (trace tapes) is the same step as a training one.
        let mut traced = GanTrainer::new(config, &images, &cpu);
        traced.take(Half::Both);
        let (_, tapes) = traced.take_traced(Half::Discriminator);
        assert_eq!(tapes.len(), 1);
        traced.take(Half::Discriminator);
        let (_, tapes) = traced.take_traced(Half::Generator);
        assert_eq!(tapes.len(), 1);
        traced.take(Half::Both);
        assert_eq!(traced.log, live.log);
        for other in [&again, &traced] {
            for (a, b) in live.gan.generator.params.iter().chain(&live.gan.discriminator.params).zip(other.gan.generator.params.iter().chain(&other.gan.discriminator.params)) {
                assert_eq!(values(a), values(b), "{recipe:?}: replayed weights differ");
            }
        }
    }
}

/// A GAN's weights through a safetensors file, f32 exactly and f16 within half an ulp; a file of
/// the other preset is refused and leaves the networks as they were.
#[test]
fn gan_weights_round_trip_and_bad_files_are_refused() {
    use gradlab::share::weights::{Stored, gan_state_dict, load_gan_safetensors, state_dict_to_safetensors_as};
    let cpu = Device::flex();
    let gan = Gan::init(GanPreset::Small, 4, &cpu, Precision::F32);
    let dict = block_on(gan_state_dict(&gan)).unwrap();
    let f32_size = state_dict_to_safetensors_as(&dict, &[], Stored::F32).unwrap().len();
    for stored in [Stored::F32, Stored::F16, Stored::Int8] {
        let bytes = state_dict_to_safetensors_as(&dict, &[], stored).unwrap();
        if stored == Stored::Int8 {
            // A quarter of f32, plus a scale per output unit.
            assert!(bytes.len() < f32_size / 3, "int8: {} bytes vs f32 {f32_size}", bytes.len());
        }
        let mut other = Gan::init(GanPreset::Small, 9, &cpu, Precision::F32);
        load_gan_safetensors(&mut other, &bytes).unwrap();
        let pairs = gan.generator.params.iter().chain(&gan.discriminator.params).zip(other.generator.params.iter().chain(&other.discriminator.params));
        for (k, (a, b)) in pairs.enumerate() {
            // Parameters alternate weight, bias (a weight [out, in], also when out is 1).
            let (xs, [_, _, _, cols], weight) = (values(a), a.dims(), k % 2 == 0);
            for (i, (x, y)) in xs.iter().zip(values(b)).enumerate() {
                let tol = match stored {
                    Stored::F32 => 0.0,
                    Stored::F16 => x.abs() / 2048.0 + 6e-8,
                    // A weight matrix: within half a step of its row's scale (max |w| / 127);
                    // a bias vector is kept as f32.
                    Stored::Int8 if weight => {
                        let row = &xs[(i / cols) * cols..(i / cols + 1) * cols];
                        row.iter().fold(0f64, |m, v| m.max(v.abs())) / 254.0 + 1e-7
                    }
                    Stored::Int8 => 0.0,
                    Stored::Int8PerTensor => unreachable!("not written here"),
                };
                assert!((x - y).abs() <= tol, "{stored:?}: {x} vs {y}");
            }
        }
    }
    let mut essay = Gan::init(GanPreset::Essay, 1, &cpu, Precision::F32);
    let before = values(&essay.generator.params[0]);
    let err = load_gan_safetensors(&mut essay, &state_dict_to_safetensors_as(&dict, &[], Stored::F16).unwrap()).unwrap_err();
    assert!(err.to_string().contains("different network"), "{err}");
    assert_eq!(values(&essay.generator.params[0]), before, "a refused file changes nothing");
    assert!(load_gan_safetensors(&mut essay, b"not a weights file").is_err());
    // An int8 file without a weight's scales is refused by that name.
    let int8 = state_dict_to_safetensors_as(&dict, &[], Stored::Int8).unwrap();
    let file = safetensors::SafeTensors::deserialize(&int8).unwrap();
    let kept: Vec<(String, safetensors::tensor::TensorView)> = file.tensors().into_iter().filter(|(n, _)| n != "g.fc1.weight_scale").collect();
    let broken = safetensors::serialize(kept, None).unwrap();
    let mut small = Gan::init(GanPreset::Small, 9, &cpu, Precision::F32);
    let err = load_gan_safetensors(&mut small, &broken).unwrap_err();
    assert!(err.to_string().contains("g.fc1.weight_scale"), "{err}");
}

/// The shipped weights: cnn-tuned classifies the test set as trained (≥ 98%), gan-small's samples
/// score above a floor on it and cover every class; the nearest-neighbour search done in slices
/// finds what one pass finds.
#[test]
fn shipped_weights_load_and_score() {
    use gradlab::train::gan::sample_z;
    use gradlab::train::quality::{NearestSearch, inception_score};
    let Some(data) = crate::support::mnist() else { return };
    let cpu = Device::flex();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let classifier = gradlab::share::weights::load_classifier(&std::fs::read(root.join("www/weights/cnn-tuned.safetensors")).unwrap(), &cpu).unwrap();
    let n = 1000;
    let test: Vec<f32> = data.test.pixels[..n * 784].iter().map(|&p| p as f32 / 255.0).collect();
    let probs = block_on(gradlab::engine::read_many(vec![classifier.probabilities(&test)])).unwrap().remove(0);
    let right = probs.chunks_exact(10).zip(&data.test.labels).filter(|(row, l)| gradlab::train::images::argmax(row) == **l).count();
    assert!(right >= 980, "cnn-tuned: {right} of {n} test digits");
    // A preset's shipped weights: 64 samples of z seed 1 (the page's grid) and their inception score.
    let shipped = |preset: GanPreset| {
        let mut gan = Gan::init(preset, 0, &cpu, Precision::F32);
        let file = root.join("www").join(gradlab::train::gan::shipped_weights(preset));
        gradlab::share::weights::load_gan_safetensors(&mut gan, &std::fs::read(file).unwrap()).unwrap();
        let z = sample_z(preset, 1, 64);
        let images = values(&gan.generate(tensor_f64(&z.iter().map(|&v| v as f64).collect::<Vec<_>>(), [64, preset.latent()], &cpu, Precision::F32)));
        let images: Vec<f32> = images.iter().map(|&v| v as f32).collect();
        let probs = block_on(gradlab::engine::read_many(vec![classifier.probabilities(&images)])).unwrap().remove(0);
        let is = inception_score(&probs);
        eprintln!("shipped {}: IS {:.3}, classes {:?}", preset.key(), is.score, is.class_counts);
        (images, is)
    };
    let (images, is) = shipped(GanPreset::Small);
    assert!(is.score > 4.0 && is.modes == 10, "{is:?}");
    // gan-essay's (int8, the corrected loop with D dropout 0.3): varied digits, not one shape.
    let (_, essay_is) = shipped(GanPreset::Essay);
    assert!(essay_is.score > 3.5 && essay_is.modes >= 8, "{essay_is:?}");
    // Each file says how it was trained (its link): gan-small at the defaults, gan-essay with D's
    // dropout at 0.3 — what the page tells someone who goes on from them at the essay's settings.
    use gradlab::train::gan::{GanConfig, settings_apart};
    let trained = |file: &str| gradlab::share::decode(&gradlab::share::weights::link_of(&std::fs::read(root.join(file)).unwrap()).expect("a link")).state.gan;
    let small = trained("www/weights/gan-small.safetensors");
    assert_eq!(settings_apart(&GanConfig { preset: GanPreset::Small, ..GanConfig::default() }, &small), Vec::<String>::new());
    let essay_config = GanConfig { preset: GanPreset::Essay, ..GanConfig::default() };
    assert_eq!(settings_apart(&essay_config, &trained("www/weights/gan-essay.safetensors")), vec!["gan.dropout=0.3".to_string()]);
    let subset = gradlab::data::images::ImageSet { rows: 28, cols: 28, pixels: data.train.pixels[..2000 * 784].to_vec(), labels: data.train.labels[..2000].to_vec() };
    let mut whole = NearestSearch::new(images[..8 * 784].to_vec());
    assert!(whole.advance(&subset, usize::MAX));
    let mut sliced = NearestSearch::new(images[..8 * 784].to_vec());
    let mut slices = 0;
    while !sliced.advance(&subset, 333) {
        slices += 1;
    }
    assert_eq!(slices, 6);
    assert_eq!(whole.finish(&subset), sliced.finish(&subset));
    let near = whole.finish(&subset);
    for (k, &i) in near.index.iter().enumerate() {
        let mse = |j: usize| images[k * 784..(k + 1) * 784].iter().zip(subset.image(j)).map(|(a, &b)| (*a as f64 - b as f64 / 255.0).powi(2)).sum::<f64>() / 784.0;
        assert!((0..2000).all(|j| mse(j) >= mse(i) - 1e-9), "sample {k}: {i} is not the nearest");
    }
}

/// Both presets ship weights, and a link or the command line may start either from them.
#[test]
fn both_gan_presets_ship_weights() {
    use gradlab::train::gan::{GanConfig, Start, apply_gan_settings, shipped_weights};
    for preset in GanPreset::ALL {
        let file = shipped_weights(preset);
        assert!(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("www").join(&file).is_file(), "{file}");
        let pairs = vec![("gan.preset".to_string(), preset.key().to_string()), ("gan.start".to_string(), "shipped".to_string())];
        let mut config = GanConfig::default();
        apply_gan_settings(&mut config, &pairs).unwrap();
        assert_eq!((config.preset, config.start), (preset, Start::Shipped));
        let parsed = gradlab::share::decode(&format!("page=gan&gan.preset={}&gan.start=shipped", preset.key()));
        assert_eq!(parsed.state.gan.start, Start::Shipped, "{:?}", parsed.problems);
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    }
}
