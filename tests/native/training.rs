//! The trainer end to end: seeded determinism, convergence on every dataset, CPU-vs-GPU parity,
//! moving a trained model between backends, and bad settings.

use gradlab::backend;
use gradlab::data::{DatasetKind, Feature};
use gradlab::engine::OptimizerKind;
use gradlab::models::Activation;
use gradlab::train::{Config, Regularization, Trainer, read_scalar};

fn losses(config: &Config, device: &burn::tensor::Device, steps: usize) -> Vec<f32> {
    let mut t = Trainer::new(config.clone(), device).unwrap();
    (0..steps).map(|_| read_scalar(&t.train_step())).collect()
}

fn test_loss(t: &Trainer) -> f32 {
    read_scalar(&t.losses().1)
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

#[test]
fn a_two_layer_tanh_net_learns_the_circle() {
    let cpu = backend::cpu();
    for (optimizer, lr, steps) in [(OptimizerKind::Sgd, 0.1, 3000), (OptimizerKind::Adam, 0.03, 600)] {
        let config = Config { optimizer, lr, ..Config::default() };
        let mut t = Trainer::new(config, &cpu).unwrap();
        let before = test_loss(&t);
        for _ in 0..steps {
            t.train_step();
        }
        let after = test_loss(&t);
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
        let before = test_loss(&t);
        for _ in 0..1500 {
            t.train_step();
        }
        let after = test_loss(&t);
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
    let (a, b) = (test_loss(&stay), test_loss(&hop));
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
    assert!(read_scalar(&t.train_step()).is_finite());
}
