//! The trainer end to end: seeded determinism, convergence on every dataset, CPU-vs-GPU parity,
//! moving a trained model between backends, and bad settings.

use gradlab::backend;
use gradlab::data::{DatasetKind, Feature};
use gradlab::engine::{OptimizerKind, block_on};
use gradlab::models::Activation;
use gradlab::train::{Config, Regularization, Trainer, read_scalar};

fn losses(config: &Config, device: &burn::tensor::Device, steps: usize) -> Vec<f32> {
    let mut t = Trainer::new(config.clone(), device).unwrap();
    (0..steps).map(|_| t.train_step().value()).collect()
}

fn test_loss(t: &mut Trainer) -> f32 {
    read_scalar(&t.losses().1)
}

/// The CPU path's host kernels train as burn's kernels do — every optimizer, head and penalty,
/// with dropout, up to the largest net — within f32 rounding over 150 steps; and each trainer took
/// the path it was meant to (a fallback would make this compare burn with itself).
#[test]
fn host_kernels_train_as_burn_does() {
    use gradlab::engine::Kernels;
    use gradlab::train::{BinaryLoss, StepPath};
    let configs = [
        Config::default(),
        Config { dataset: DatasetKind::Xor, binary_loss: BinaryLoss::Bce, regularization: Regularization::L1, reg_rate: 0.001, ..Config::default() },
        Config { dataset: DatasetKind::Spiral3, hidden: vec![7, 5], activations: vec![Activation::Relu, Activation::LeakyRelu], optimizer: OptimizerKind::Adam, dropout: 0.2, ..Config::default() },
        Config { dataset: DatasetKind::Plane, activations: vec![Activation::Sigmoid, Activation::Linear], optimizer: OptimizerKind::Momentum, regularization: Regularization::L2, reg_rate: 0.01, ..Config::default() },
        Config { dataset: DatasetKind::Spiral3, features: Feature::ALL.to_vec(), hidden: vec![16; 6], activations: vec![Activation::Tanh; 6], optimizer: OptimizerKind::Adam, lr: 0.003, batch_size: 7, ..Config::default() },
    ];
    let cpu = backend::cpu();
    for config in configs {
        let mut host = Trainer::new(config.clone(), &cpu).unwrap();
        let mut burn = Trainer::new(config.clone(), &cpu).unwrap();
        burn.set_kernels(Kernels::Generic);
        for step in 0..150 {
            let (a, b) = (host.train_step().value(), burn.train_step().value());
            assert!((a - b).abs() <= 1e-4 * b.abs().max(1e-2), "{:?} step {step}: host {a} vs burn {b}", config.hidden);
        }
        assert_eq!(host.path(), &StepPath::Host);
        assert_eq!(burn.path(), &StepPath::Burn("burn's generic kernels chosen".into()));
        // The model and optimizer read after host steps are the host's, brought up to date.
        assert_eq!(host.optimizer().t, 150);
        let state = |t: &mut Trainer| t.optimizer().state_tensors().into_iter().map(|x| block_on(gradlab::engine::read(x)).unwrap()).collect::<Vec<_>>();
        let (ours, theirs) = (state(&mut host), state(&mut burn));
        assert_eq!(ours.len(), theirs.len(), "state tensors");
        for (p, q) in ours.iter().zip(&theirs) {
            for (x, y) in p.iter().zip(q) {
                assert!((x - y).abs() <= 1e-3 * y.abs().max(1e-3), "optimizer state {x} vs {y}");
            }
        }
        let (ours, theirs) = (test_loss(&mut host), test_loss(&mut burn));
        assert!((ours - theirs).abs() <= 1e-4 * theirs.abs().max(1e-2), "test loss {ours} vs {theirs}");
        let read = |t: &mut Trainer| t.model().params.iter().map(|p| block_on(gradlab::engine::read(p)).unwrap()).collect::<Vec<_>>();
        for (p, q) in read(&mut host).iter().zip(read(&mut burn)) {
            for (x, y) in p.iter().zip(&q) {
                assert!((x - y).abs() <= 1e-3 * y.abs().max(0.1), "weights {x} vs {y}");
            }
        }
    }
}

/// What the page reads on the host path (losses, parameters, the optimizer's state and the maps
/// over a grid, straight from the host's values) is what the same trainer reads through burn:
/// the parameters and state bit for bit, the losses and maps within f32 rounding (burn sums in
/// another order) — for each head (σ, tanh with MSE, softmax, linear); and each read took the
/// path it was meant to.
#[test]
fn a_host_readout_reads_what_burn_reads() {
    use gradlab::engine::Kernels;
    use gradlab::train::{BinaryLoss, StepPath};
    let configs = [
        Config::default(),
        Config { dataset: DatasetKind::Xor, binary_loss: BinaryLoss::Bce, ..Config::default() },
        Config { dataset: DatasetKind::Spiral3, hidden: vec![7, 5], optimizer: OptimizerKind::Adam, dropout: 0.2, ..Config::default() },
        Config { dataset: DatasetKind::Plane, optimizer: OptimizerKind::Momentum, ..Config::default() },
    ];
    let close = |a: &[f32], b: &[f32], what: &str| {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{what}[{i}]: host {x} vs burn {y}");
        }
    };
    for config in configs {
        let mut t = Trainer::new(config.clone(), &backend::cpu()).unwrap();
        for _ in 0..40 {
            t.train_step();
        }
        assert_eq!(t.path(), &StepPath::Host, "{config:?}");
        let pending = t.pending(Some(9));
        assert!(pending.on_host(), "the first read takes the host's values");
        let (host, host_grid) = block_on(pending.read()).unwrap();
        // Settles into burn and leaves the host path: the next read goes through burn.
        t.set_kernels(Kernels::Generic);
        let pending = t.pending(Some(9));
        assert!(!pending.on_host(), "the second read goes through burn: {:?}", t.path());
        let (burn, burn_grid) = block_on(pending.read()).unwrap();
        assert_eq!((host.trainer, host.step), (burn.trainer, burn.step));
        assert_eq!(host.params, burn.params, "{config:?}: parameters");
        let (a, b) = (host.optimizer.unwrap(), burn.optimizer.unwrap());
        assert_eq!(a.t, b.t);
        // (burn's reads give the stored rank-4 shape, the host the true one: the same tensor.)
        let stored = |o: &gradlab::train::OptimizerState| o.tensors.iter().map(|(v, s)| (v.clone(), s.storage())).collect::<Vec<_>>();
        assert_eq!(stored(&a), stored(&b), "{config:?}: the optimizer's state");
        close(&[host.train_loss, host.test_loss], &[burn.train_loss, burn.test_loss], "losses");
        let (a, b) = (host_grid.unwrap(), burn_grid.unwrap());
        assert_eq!((a.n, a.hidden.len()), (b.n, b.hidden.len()));
        close(&a.prediction, &b.prediction, "prediction");
        for (x, y) in a.hidden.iter().zip(&b.hidden) {
            close(x, y, "hidden");
        }
    }
}

/// Reading the trainer between host steps (losses, readouts: read from the host's values or
/// settled into the burn-side model and optimizer) changes nothing of its next steps; and a plan made again from what was settled
/// (weights, Adam's m, v and t) carries on exactly where the old one was — `b` never settles.
#[test]
fn host_steps_interleave_with_readers_and_writers() {
    use gradlab::engine::Kernels;
    let cpu = backend::cpu();
    let config = Config { optimizer: OptimizerKind::Adam, dropout: 0.1, ..Config::default() };
    let mut a = Trainer::new(config.clone(), &cpu).unwrap();
    let mut b = Trainer::new(config, &cpu).unwrap();
    let mut losses = (Vec::new(), Vec::new());
    for i in 0..60 {
        losses.0.push(a.train_step().value().to_bits());
        losses.1.push(b.train_step().value().to_bits());
        if i % 7 == 0 {
            test_loss(&mut a);
            block_on(a.pending(Some(5)).read()).unwrap();
        }
        // Drops `a`'s plan after settling: its next step compiles a new one from the model and
        // the optimizer's tensors.
        if i == 30 {
            a.set_kernels(Kernels::Fused);
        }
    }
    assert_eq!(losses.0, losses.1, "same steps, same bits");
    assert_eq!(a.optimizer().t, 60);
    // b settles only now.
    let read = |t: &mut Trainer| t.optimizer().state_tensors().into_iter().map(|x| block_on(gradlab::engine::read(x)).unwrap()).collect::<Vec<_>>();
    assert_eq!(read(&mut a), read(&mut b), "Adam's moments");
}

#[test]
fn same_seed_gives_bit_identical_losses_on_the_cpu() {
    let config = Config {
        dataset: DatasetKind::Spiral,
        noise: 0.2,
        dropout: 0.2,
        regularization: Regularization::L2,
        reg_rate: 0.003,
        optimizer: OptimizerKind::Adam,
        seed: 42,
        ..Config::default()
    };
    let a = losses(&config, &backend::cpu(), 60);
    let b = losses(&config, &backend::cpu(), 60);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a), bits(&b));
    let c = losses(&Config { seed: 43, ..config }, &backend::cpu(), 60);
    assert_ne!(bits(&a), bits(&c), "the seed must matter");
}

/// The FLOPs the playground's GFLOP/s counts: the default 2-4-2-1 net at batch 10 does
/// 8 + 8 + 2 = 18 multiply-adds a sample forward; forward, weight and input gradients (none for the
/// input layer's 8) make 2 · (3 · 18 − 8) = 92 FLOPs a sample.
#[test]
fn a_training_step_counts_its_flops() {
    assert_eq!(Config::default().train_flops_per_step(), 920.0);
    let wide = Config { hidden: vec![16; 6], batch_size: 32, ..Config::default() };
    let macs = 2 * 16 + 5 * 16 * 16 + 16;
    assert_eq!(wide.train_flops_per_step(), 2.0 * (3.0 * macs as f64 - 32.0) * 32.0);
}

#[test]
fn a_two_layer_tanh_net_learns_the_circle() {
    let cpu = backend::cpu();
    for (optimizer, lr, steps) in [(OptimizerKind::Sgd, 0.1, 3000), (OptimizerKind::Adam, 0.03, 600)] {
        let config = Config { optimizer, lr, ..Config::default() };
        let mut t = Trainer::new(config, &cpu).unwrap();
        let before = test_loss(&mut t);
        for _ in 0..steps {
            t.train_step();
        }
        let after = test_loss(&mut t);
        assert!(after < 0.05, "{optimizer:?}: test loss {before} → {after} after {steps} steps");
    }
}

#[test]
fn every_dataset_trains() {
    let cpu = backend::cpu();
    for dataset in DatasetKind::ALL {
        // Every input feature, as a TF Playground user would for the spirals.
        let config = Config {
            dataset,
            features: Feature::ALL.to_vec(),
            hidden: vec![8, 8],
            activations: vec![Activation::Tanh; 2],
            optimizer: OptimizerKind::Adam,
            lr: 0.03,
            ..Config::default()
        };
        let mut t = Trainer::new(config, &cpu).unwrap();
        let before = test_loss(&mut t);
        for _ in 0..1500 {
            t.train_step();
        }
        let after = test_loss(&mut t);
        assert!(after < 0.5 * before, "{dataset:?}: test loss {before} → {after}");
    }
}


use crate::support::gpu;

#[test]
fn cpu_and_gpu_agree() {
    let Some(gpu) = gpu() else { return };
    let config = Config { dataset: DatasetKind::Spiral3, hidden: vec![7, 5], activations: vec![Activation::Relu, Activation::Tanh], optimizer: OptimizerKind::Adam, dropout: 0.1, ..Config::default() };
    let a = losses(&config, &backend::cpu(), 40);
    let b = losses(&config, &gpu, 40);
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!((x - y).abs() <= 1e-4 * x.abs().max(1.0), "step {i}: cpu {x} vs gpu {y}");
    }
}

#[test]
fn moving_between_backends_keeps_weights_and_optimizer_state() {
    let Some(gpu) = gpu() else { return };
    let config = Config { optimizer: OptimizerKind::Adam, ..Config::default() };
    let cpu = backend::cpu();
    let mut stay = Trainer::new(config.clone(), &cpu).unwrap();
    let mut hop = Trainer::new(config, &cpu).unwrap();
    for _ in 0..15 {
        stay.train_step();
        hop.train_step();
    }
    gradlab::engine::block_on(hop.move_to(&gpu)).unwrap();
    for _ in 0..15 {
        stay.train_step();
        hop.train_step();
    }
    gradlab::engine::block_on(hop.move_to(&cpu)).unwrap();
    let (a, b) = (test_loss(&mut stay), test_loss(&mut hop));
    assert!((a - b).abs() < 1e-4, "stayed {a} vs moved {b}");
}

#[test]
fn out_of_range_settings_are_rejected_with_the_setting_named() {
    let cpu = backend::cpu();
    let bad = [
        Config { lr: 0.0, ..Config::default() },
        Config { hidden: vec![4, 17], activations: vec![Activation::Tanh; 2], ..Config::default() },
        Config { hidden: vec![1; 7], activations: vec![Activation::Tanh; 7], ..Config::default() },
        Config { noise: f64::NAN, ..Config::default() },
        Config { features: vec![], ..Config::default() },
        Config { batch_size: 0, ..Config::default() },
    ];
    for config in bad {
        let err = Trainer::new(config.clone(), &cpu).err().unwrap_or_else(|| panic!("accepted {config:?}"));
        assert!(!err.to_string().is_empty());
    }
    // No hidden layer is a valid network (logistic regression).
    let mut t = Trainer::new(Config { hidden: vec![], activations: vec![], ..Config::default() }, &cpu).unwrap();
    assert!(t.train_step().value().is_finite());
}

/// The fall-back a lost GPU or a diverged run restores: before anything was read back, the
/// seed's initial weights (computed on the host, so nothing from the lost device is needed);
/// afterwards the last readout kept. Restoring onto the CPU from a GPU trainer that was never
/// read is the "GPU lost before the first readout" case that used to panic.
#[test]
fn a_trainer_falls_back_on_its_last_saved_weights() {
    use gradlab::engine::block_on;
    let config = Config { hidden: vec![5, 3], activations: vec![Activation::Tanh; 2], optimizer: OptimizerKind::Adam, ..Config::default() };
    let cpu = backend::cpu();
    let mut fresh = Trainer::new(config.clone(), &cpu).unwrap();
    let initial = fresh.model().params.iter().map(|p| block_on(gradlab::engine::read(p)).unwrap()).collect::<Vec<_>>();
    assert_eq!(fresh.saved().params, initial, "the host's initial values are exactly what was uploaded");
    assert_eq!(fresh.saved().step, 0);

    let device = gpu().unwrap_or_else(|| cpu.clone());
    let mut t = Trainer::new(config.clone(), &device).unwrap();
    for _ in 0..7 {
        t.train_step();
    }
    // Lost before any readout: back to step 0's weights, on the CPU, and training goes on.
    t.restore_saved(&cpu);
    assert_eq!(t.step, 0);
    assert_eq!(read_scalar(&t.losses().0).to_bits(), read_scalar(&fresh.losses().0).to_bits());
    t.train_step();
    assert_eq!(t.step, 1);

    // After a readout: that readout's weights and step.
    let mut t = Trainer::new(config.clone(), &cpu).unwrap();
    for _ in 0..20 {
        t.train_step();
    }
    let (readout, _) = block_on(t.pending(None).read()).unwrap();
    assert!(t.keep(&readout));
    let at_20 = read_scalar(&t.losses().0);
    for _ in 0..5 {
        t.train_step();
    }
    t.restore_saved(&cpu);
    assert_eq!(t.step, 20);
    assert_eq!(read_scalar(&t.losses().0).to_bits(), at_20.to_bits());
    // Adam's moments and step count came back with the weights: exactly those of a run at step 20
    // (a fresh Adam state made the loss jump by half after a lost GPU: its first update moves
    // every weight by a whole learning rate).
    let mut straight = Trainer::new(config.clone(), &cpu).unwrap();
    for _ in 0..20 {
        straight.train_step();
    }
    let state = |tr: &mut Trainer| tr.optimizer().state_tensors().into_iter().map(|x| block_on(gradlab::engine::read(x)).unwrap()).collect::<Vec<_>>();
    assert_eq!(t.optimizer().t, 20);
    assert_eq!(state(&mut t).len(), 2 * t.model().params.len(), "m and v for every parameter");
    assert_eq!(state(&mut t), state(&mut straight), "the optimizer's state at step 20");

    // Another trainer's readout (a rebuild while a read was in flight) is never kept.
    let mut other = Trainer::new(config, &cpu).unwrap();
    assert!(!other.keep(&readout), "a readout of another trainer");
    let mut bad = readout.clone();
    bad.params[0][0] = f32::NAN;
    assert!(!t.keep(&bad), "non-finite weights");
}

/// A diverging run (regression, lr 10, SGD: the squared error's gradient grows with the error,
/// so the weights explode to ∞ and then NaN within ~20 steps) is noticed as non-finite at the
/// readout; the last finite weights are kept and restoring them gives finite losses again.
/// (Classification losses on logits stay finite at lr 10: their gradients are bounded.)
#[test]
fn a_diverging_run_is_caught_and_rolled_back_to_finite_weights() {
    use gradlab::engine::{EngineError, block_on};
    let config = Config { dataset: DatasetKind::Plane, lr: 10.0, ..Config::default() };
    let cpu = backend::cpu();
    let mut t = Trainer::new(config, &cpu).unwrap();
    let mut last_finite = None;
    let mut diverged_at = None;
    for round in 0..200 {
        for _ in 0..5 {
            t.train_step();
        }
        match block_on(t.pending(None).read()) {
            Ok((readout, _)) => {
                if t.keep(&readout) {
                    last_finite = Some(readout.step);
                } else {
                    diverged_at = Some(round);
                    break;
                }
            }
            Err(EngineError::NotFinite) => {
                diverged_at = Some(round);
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(diverged_at.is_some(), "lr 10 with SGD diverges on the plane");
    t.restore_saved(&cpu);
    assert_eq!(Some(t.step), last_finite.or(Some(0)));
    let (train, test) = t.losses();
    assert!(read_scalar(&train).is_finite() && read_scalar(&test).is_finite());
    assert!(t.saved().params.iter().flatten().all(|v| v.is_finite()));
}

/// The playground's hyper-parameter search (`train::search::PlaygroundSearch`).
mod search {
    use super::*;
    use gradlab::train::search::{PLAYGROUND_SPEC, Param, PlaygroundSearch, SearchSpec, Trials, best_of, Rank};

    fn key(p: &gradlab::data::Point) -> (u64, u64) {
        (p.x.to_bits(), p.y.to_bits())
    }

    #[test]
    fn a_trial_trains_on_the_training_points_less_a_validation_share_never_the_test_points() {
        let config = Config::default();
        let normal = Trainer::new(config.clone(), &backend::cpu()).unwrap();
        let trial = Trainer::for_search(config, 0.2).unwrap();
        let mut seen: Vec<(u64, u64)> = trial.train_points().iter().chain(trial.test_points()).map(key).collect();
        let mut train: Vec<(u64, u64)> = normal.train_points().iter().map(key).collect();
        seen.sort_unstable();
        train.sort_unstable();
        assert_eq!(seen, train, "a trial's points are exactly the experiment's training points");
        let test: std::collections::HashSet<(u64, u64)> = normal.test_points().iter().map(key).collect();
        assert!(seen.iter().all(|p| !test.contains(p)), "no test point in a trial");
        assert_eq!(trial.test_points().len(), (normal.train_points().len() as f64 * 0.2).round() as usize);
        // Too few training points to carve from: refused with the reason (found in review).
        let tiny = Config { points: 10, train_ratio: 0.1, ..Config::default() };
        let e = Trainer::for_search(tiny.clone(), 0.2).err().expect("one training point cannot be split");
        assert!(e.message.contains("a search carves validation points"), "{e}");
        assert!(PlaygroundSearch::new(SearchSpec::playground(), &tiny).is_err());
    }

    #[test]
    fn playground_specs_use_the_playgrounds_limits() {
        let s = SearchSpec::playground();
        assert_eq!(s.encode(), PLAYGROUND_SPEC);
        assert_eq!(SearchSpec::decode_for::<Config>(&s.encode()).unwrap(), s);
        for (bad, says) in [("grid,4,10,width=32", "outside 1 to 16"), ("grid,4,10,depth=7", "outside 0 to 6"), ("grid,4,10,l2=2", "outside 0 to 1"), ("grid,4,5000,lr=0.1", "from 1 to 2000")] {
            let e = SearchSpec::decode_for::<Config>(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        // The table's limits are its own.
        assert!(SearchSpec::decode("grid,4,1,width=32").is_ok());
        // Depth keeps one activation a layer, the first layer's.
        let base = Config { activations: vec![Activation::Relu, Activation::Tanh], ..Config::default() };
        let configs = SearchSpec::decode_for::<Config>("grid,9,10,depth=0|3,width=5").unwrap().configs(&base, 1);
        assert_eq!(configs.iter().map(|c| (c.hidden.clone(), c.activations.clone())).collect::<Vec<_>>(), [
            (vec![], vec![]),
            (vec![5, 5, 5], vec![Activation::Relu; 3]),
        ]);
        assert!(configs.iter().all(|c| c.validate().is_ok()));
    }

    /// A grid over the learning rate on the circle: a rate that trains beats one too small to
    /// move in 30 epochs and one that blows up; each trial's score is its validation loss, the
    /// same a trainer reports; the best applies to the settings.
    #[test]
    fn a_grid_over_the_learning_rate_finds_one_that_trains() {
        let base = Config::default();
        let spec = SearchSpec::decode_for::<Config>("grid,3,30,lr=0.00001|0.3|10").unwrap();
        let mut search = PlaygroundSearch::new(spec.clone(), &base).unwrap();
        assert_eq!(search.split_sizes(), (200, 50));
        let started = std::time::Instant::now();
        let mut pieces = 0;
        while search.advance() {
            pieces += 1;
        }
        let trials = search.trials().to_vec();
        eprintln!("playground search: {} trials in {pieces} pieces, {:.2} s: {:?}", trials.len(), started.elapsed().as_secs_f64(), trials.iter().map(|t| (t.values[0], t.loss)).collect::<Vec<_>>());
        assert_eq!(trials.len(), 3);
        assert!(pieces > 3, "trials run in pieces");
        let best = search.best().unwrap();
        assert_eq!(best.values, [0.3]);
        assert!(trials[1].loss < 0.6 * trials[0].loss, "{trials:?}");
        // The score is the validation loss of the trial's own trainer after its steps.
        let mut t = Trainer::for_search(Config { lr: 0.3, ..base.clone() }, 0.2).unwrap();
        for _ in 0..30 * 200usize.div_ceil(base.batch_size) {
            t.train_step();
        }
        assert_eq!(t.losses_now().ok().unwrap().1 as f64, trials[1].loss);
        let mut applied = base.clone();
        spec.apply(&mut applied, &best.values);
        assert_eq!(applied, Config { lr: 0.3, ..base });
        // A diverged trial ranks last.
        let nan = gradlab::train::search::Trial { number: 9, values: vec![1.0], accuracy: f64::NAN, auc: f64::NAN, loss: f64::NAN };
        let with_nan: Vec<_> = trials.iter().cloned().chain([nan]).collect();
        assert_eq!(best_of(&with_nan, Rank::Loss).unwrap().values, [0.3]);
        // With every trial diverged there is no best to apply.
        assert!(best_of(&with_nan[3..], Rank::Loss).is_none());
        let _ = Param::Lr;
    }

    /// The MNIST page's search: the learning rate, the hidden layer's width, the dropout, the
    /// batch size and the L2 rate (the models keep their depth), trials on the first training
    /// images with the last fifth of them validating — never a test image — each scored as its
    /// own trainer evaluates those images.
    #[test]
    fn a_mnist_search_varies_its_settings_on_a_carve_of_the_training_images() {
        use gradlab::data::images::{ImageData, ImageSet};
        use gradlab::train::images::{ImageConfig, ImageTrainer, Split, image_defaults};
        use gradlab::train::search::{IMAGE_SEARCH_IMAGES, ImageSearch};
        for (bad, says) in [
            ("grid,2,1,depth=2", "'depth' is not one of the settings searched here: lr, width, dropout, batch, l2"),
            ("grid,2,1,width=2000", "outside 1 to 1024"),
            ("grid,2,1,dropout=0.95", "outside 0 to 0.9"),
            ("grid,2,1,batch=2000", "outside 1 to 1000"),
            ("grid,2,11,lr=0.1", "from 1 to 10"),
        ] {
            let e = SearchSpec::decode_for::<ImageConfig>(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        let Some(data) = crate::support::mnist() else { return };
        let all = ImageSearch::new(SearchSpec::decode_for::<ImageConfig>("grid,1,1,lr=0.001").unwrap(), &image_defaults(), &data).unwrap();
        assert_eq!(all.split_sizes(), (4_000, 1_000), "at most {IMAGE_SEARCH_IMAGES} images");
        let base = ImageConfig { train_limit: 2_000, ..image_defaults() };
        let spec = SearchSpec::decode_for::<ImageConfig>("grid,3,2,lr=0.000001|0.001,batch=64|128").unwrap();
        let mut search = ImageSearch::new(spec.clone(), &base, &data).unwrap();
        assert_eq!(search.split_sizes(), (1_600, 400));
        let started = std::time::Instant::now();
        let mut pieces = 0;
        while search.advance() {
            pieces += 1;
        }
        let trials = search.trials().to_vec();
        eprintln!("mnist search: {pieces} pieces, {:.2} s: {:?}", started.elapsed().as_secs_f64(), trials.iter().map(|t| (t.values.clone(), t.accuracy, t.loss)).collect::<Vec<_>>());
        assert_eq!(trials.len(), 3, "a grid stops at its trials");
        assert_eq!(trials.iter().map(|t| t.values.clone()).collect::<Vec<_>>(), [vec![0.000001, 64.0], vec![0.000001, 128.0], vec![0.001, 64.0]]);
        assert!(trials[2].accuracy > 0.8 && trials[0].accuracy < trials[2].accuracy - 0.2, "{trials:?}");
        assert_eq!(search.best().unwrap().values, [0.001, 64.0]);
        // The score is that of the trial's own trainer on training images 1,600..2,000.
        let part = |r: std::ops::Range<usize>| ImageSet { rows: 28, cols: 28, pixels: data.train.pixels[r.start * 784..r.end * 784].to_vec(), labels: data.train.labels[r].to_vec() };
        let carve = ImageData { train: part(0..1_600), test: part(1_600..2_000) };
        let mut t = ImageTrainer::new(ImageConfig { lr: 0.001, batch_size: 64, epochs: 2, train_limit: 0, ..base.clone() }, &carve, &backend::cpu()).unwrap();
        for _ in 0..2 * t.steps_per_epoch() {
            t.train_step();
        }
        let m = block_on(t.evaluate(Split::Test, 250)).unwrap();
        assert_eq!((m.accuracy, m.loss), (trials[2].accuracy, trials[2].loss));
        let mut applied = base.clone();
        spec.apply(&mut applied, &trials[2].values);
        assert_eq!(applied, ImageConfig { lr: 0.001, batch_size: 64, ..base });
        // Too few images to carve from.
        assert!(ImageSearch::new(spec, &ImageConfig { train_limit: 2, ..image_defaults() }, &data).is_err());
        // The width, the dropout and the L2 rate reach the trials' networks: on the CNN too (whose
        // preset has neither dropout nor a penalty), a trial equals a trainer built by hand.
        let cnn = ImageConfig { train_limit: 500, ..image_defaults() };
        let mut cnn = cnn;
        (gradlab::train::images::image_setting("mnist.preset").unwrap().set)(&mut cnn, "cnn-tuned").unwrap();
        let spec = SearchSpec::decode_for::<ImageConfig>("grid,2,1,width=4|24,dropout=0.3,l2=0.01").unwrap();
        let mut search = ImageSearch::new(spec.clone(), &cnn, &data).unwrap();
        while search.advance() {}
        let trials = search.trials().to_vec();
        assert_eq!(trials.iter().map(|t| t.values.clone()).collect::<Vec<_>>(), [vec![4.0, 0.3, 0.01], vec![24.0, 0.3, 0.01]]);
        let mut applied = cnn.clone();
        spec.apply(&mut applied, &trials[1].values);
        use gradlab::train::Regularization;
        assert_eq!(applied, ImageConfig { width: 24, dropout: 0.3, regularization: Regularization::L2, reg_rate: 0.01, ..cnn.clone() });
        let carve = ImageData { train: part(0..400), test: part(400..500) };
        let mut t = ImageTrainer::new(ImageConfig { train_limit: 0, epochs: 1, ..applied.clone() }, &carve, &backend::cpu()).unwrap();
        assert_eq!(t.model.arch.shapes()[2].dims(), [24, 32 * 14 * 14], "fc1 has the trial's width");
        for _ in 0..t.steps_per_epoch() {
            t.train_step();
        }
        let m = block_on(t.evaluate(Split::Test, 250)).unwrap();
        assert_eq!((m.accuracy, m.loss), (trials[1].accuracy, trials[1].loss));
        // Without the dropout and the penalty the same trial trains differently.
        let mut plain = ImageTrainer::new(ImageConfig { train_limit: 0, epochs: 1, dropout: 0.0, reg_rate: 0.0, regularization: Regularization::None, ..applied }, &carve, &backend::cpu()).unwrap();
        for _ in 0..plain.steps_per_epoch() {
            plain.train_step();
        }
        assert_ne!(block_on(plain.evaluate(Split::Test, 250)).unwrap().loss, m.loss);
    }
}

/// The playground's training handed over mid-run (the page's Web Worker trains it): its state, as
/// bytes, taken in by a trainer of the same config that had trained elsewhere goes on exactly as
/// the first would have — across passes' reshuffles (25 training points, batch 7), with dropout
/// and each optimizer — and comes back the same way. A state that does not fit is refused and
/// changes nothing.
#[test]
fn a_playground_state_goes_on_bit_for_bit_elsewhere() {
    use gradlab::train::PlayState;
    let cpu = backend::cpu();
    for optimizer in [OptimizerKind::Sgd, OptimizerKind::Momentum, OptimizerKind::Adam] {
        let config = Config {
            dataset: DatasetKind::Spiral3,
            points: 50,
            batch_size: 7,
            dropout: 0.2,
            hidden: vec![5, 3],
            activations: vec![Activation::Tanh, Activation::Relu],
            optimizer,
            ..Config::default()
        };
        let mut straight = Trainer::new(config.clone(), &cpu).unwrap();
        let losses: Vec<f32> = (0..12).map(|_| straight.train_step().value()).collect();
        let mut first = Trainer::new(config.clone(), &cpu).unwrap();
        for _ in 0..3 {
            first.train_step();
        }
        // The receiver has trained on its own (other weights, optimizer state, order, streams,
        // step), so whatever the state does not carry would show below.
        let mut second = Trainer::new(config.clone(), &cpu).unwrap();
        for _ in 0..5 {
            second.train_step();
        }
        let bytes = first.play_state().unwrap().to_bytes();
        second.restore_play_state(PlayState::from_bytes(&bytes).unwrap()).unwrap();
        let mut went_on: Vec<f32> = (3..8).map(|_| second.train_step().value()).collect();
        // ... and back to the first, which had stood still.
        first.restore_play_state(PlayState::from_bytes(&second.play_state().unwrap().to_bytes()).unwrap()).unwrap();
        went_on.extend((8..12).map(|_| first.train_step().value()));
        assert_eq!(went_on, losses[3..], "{optimizer:?}: the same batch losses");
        assert_eq!(first.play_state(), straight.play_state(), "{optimizer:?}: the same weights, optimizer, order and streams");
        assert_eq!((first.step, first.epoch()), (12, straight.epoch()));
        // What reads the trainer through burn (the page's display) sees the restored weights.
        assert_eq!(first.losses_now().unwrap(), straight.losses_now().unwrap());
        let weights = |t: &mut Trainer| t.model().params.iter().map(|p| block_on(gradlab::engine::read(p)).unwrap()).collect::<Vec<_>>();
        assert_eq!(weights(&mut first), weights(&mut straight));
    }
    // Another network's state is refused, and so is another optimizer's; the trainer is as it was.
    let mut wide = Trainer::new(Config { hidden: vec![5, 2], ..Config::default() }, &cpu).unwrap();
    wide.train_step();
    let before = wide.play_state().unwrap();
    let narrow = Trainer::new(Config::default(), &cpu).unwrap().play_state().unwrap();
    assert!(wide.restore_play_state(narrow).unwrap_err().to_string().contains("parameters"));
    let mut adam = Trainer::new(Config { hidden: vec![5, 2], optimizer: OptimizerKind::Adam, ..Config::default() }, &cpu).unwrap();
    adam.train_step();
    let mut momentum = Trainer::new(Config { hidden: vec![5, 2], optimizer: OptimizerKind::Momentum, ..Config::default() }, &cpu).unwrap();
    assert!(momentum.restore_play_state(adam.play_state().unwrap()).unwrap_err().to_string().contains("optimizer"));
    let more_points = Trainer::new(Config { hidden: vec![5, 2], points: 100, ..Config::default() }, &cpu).unwrap().play_state().unwrap();
    assert!(wide.restore_play_state(more_points).unwrap_err().to_string().contains("batch order"));
    assert_eq!(wide.play_state().unwrap(), before);
    // A GPU or f64 trainer has no host state to give or take.
    let mut f64_trainer = Trainer::with_precision(Config::default(), &cpu, gradlab::engine::Precision::F64).unwrap();
    assert!(f64_trainer.play_state().is_none());
    assert!(f64_trainer.restore_play_state(before).is_err());
}

/// Bytes that are not a playground state — cut short, extended, flipped, another version — are
/// refused with a reason, never a panic or a huge allocation; one that reads but does not fit is
/// refused by the trainer.
#[test]
fn damaged_playground_state_bytes_are_refused() {
    use gradlab::train::PlayState;
    let config = Config { optimizer: OptimizerKind::Adam, ..Config::default() };
    let mut t = Trainer::new(config, &backend::cpu()).unwrap();
    t.train_step();
    let good = t.play_state().unwrap().to_bytes();
    crate::support::damaged_states_are_refused(&good, PlayState::from_bytes, |state| {
        let _ = t.restore_play_state(state);
    }, 6);
}

/// A playground config written as its settings and read back over the defaults is the same
/// config, value for value (the page's worker gets its config this way).
#[test]
fn a_playground_config_reads_back_from_its_settings() {
    use gradlab::train::schema::{apply_settings, defaults, settings_of};
    let config = Config {
        dataset: DatasetKind::Spiral3,
        features: Feature::ALL.to_vec(),
        hidden: vec![16, 1, 7],
        activations: vec![Activation::Relu, Activation::Sigmoid, Activation::Linear],
        optimizer: OptimizerKind::Adam,
        lr: 0.1 + 0.2,
        noise: 1.0 / 3.0,
        dropout: 0.15,
        regularization: Regularization::L2,
        reg_rate: 1e-7,
        batch_size: 999,
        seed: u32::MAX as u64,
        ..Config::default()
    };
    let mut back = defaults();
    apply_settings(&mut back, &settings_of(&config)).unwrap();
    assert_eq!(back, config);
    let refused = apply_settings(&mut defaults(), &[("lr".into(), "fast".into())]).unwrap_err();
    assert_eq!(refused.setting, "lr");
    assert!(apply_settings(&mut defaults(), &[("nope".into(), "1".into())]).unwrap_err().message.contains("not a setting"));
}
