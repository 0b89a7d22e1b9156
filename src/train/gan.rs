//! Training the essay's GAN, corrected: the real images uploaded to the device once (batches
//! gathered there by index, as the image trainer does), one Adam per network (the essay's lr 2e-4;
//! β₁ 0.5, the usual choice for GANs), and each step a discriminator half then a generator half
//! ([`Gan::discriminator_step`], [`Gan::generator_step`]), each on a train-mode tape.
//!
//! Seeded: initial weights from the init stream, batch order from the batches stream, every z
//! from the latent stream — the same seed gives the same losses bit for bit on the CPU path.

use burn::tensor::Device;

use super::images::{DeviceSplit, EpochOrder, LastBatch};
use crate::data::images::ImageSet;
use crate::engine::{Mode, Optimizer, OptimizerConfig, OptimizerKind, Precision, Rng, Stream, T, tensor};
use crate::models::gan::{Gan, GanPreset};

/// A GAN experiment's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct GanConfig {
    /// Which networks.
    pub preset: GanPreset,
    /// Images per batch (and fakes per batch).
    pub batch_size: usize,
    /// Adam's learning rate, both networks.
    pub lr: f64,
    /// Adam's β₁, both networks.
    pub beta1: f64,
    /// Train on the first N images (0: all).
    pub train_limit: usize,
    /// The experiment's seed.
    pub seed: u64,
}

impl Default for GanConfig {
    fn default() -> Self {
        Self { preset: GanPreset::Small, batch_size: 64, lr: 2e-4, beta1: 0.5, train_limit: 0, seed: 1 }
    }
}

/// A GAN being trained.
pub struct GanTrainer {
    /// The settings.
    pub config: GanConfig,
    /// The networks.
    pub gan: Gan,
    /// Adam for the generator.
    pub generator_optimizer: Optimizer,
    /// Adam for the discriminator.
    pub discriminator_optimizer: Optimizer,
    /// Steps taken (each a discriminator and a generator half).
    pub step: u64,
    images: DeviceSplit,
    order: EpochOrder,
    latent: Rng,
    device: Device,
}

impl GanTrainer {
    /// Uploads the training images (pixels / 255, as the classifiers see them) and draws both
    /// networks.
    pub fn new(config: GanConfig, train: &ImageSet, device: &Device) -> Self {
        let images = DeviceSplit::upload(train, config.train_limit, device);
        let gan = Gan::init(config.preset, config.seed, device, Precision::F32);
        let adam = OptimizerConfig { beta1: config.beta1, ..OptimizerConfig::new(OptimizerKind::Adam, config.lr) };
        Self {
            gan,
            generator_optimizer: Optimizer::new(adam),
            discriminator_optimizer: Optimizer::new(adam),
            step: 0,
            order: EpochOrder::new(images.len(), config.seed, LastBatch::Dropped),
            images,
            latent: Rng::new(config.seed, Stream::Latent),
            device: device.clone(),
            config,
        }
    }

    /// `rows` latent vectors from the latent stream, `[rows, latent]`, standard normal.
    pub fn noise(&mut self, rows: usize) -> T {
        let values: Vec<f32> = (0..rows * self.config.preset.latent()).map(|_| self.latent.normal() as f32).collect();
        tensor(&values, [rows, self.config.preset.latent()], &self.device, Precision::F32)
    }

    /// The next batch of real images, `[batch, 784]`, whole batches in a fresh shuffled order
    /// each pass.
    fn next_real(&mut self) -> T {
        let indices = self.order.next(self.config.batch_size);
        let (images, _) = self.images.gather(&indices, &self.device);
        images.reshape([1, 1, indices.len(), 784])
    }

    /// One step: the discriminator's half, then the generator's. Returns both losses (on the
    /// device, not read back).
    pub fn train_step(&mut self) -> (T, T) {
        let real = self.next_real();
        let batch = real.dims()[2];
        let z = self.noise(batch);
        let mut d = self.gan.discriminator_step(real, z, Mode::Train);
        d.tape.backward(d.loss);
        self.discriminator_optimizer.update(&mut self.gan.discriminator.params, &d.tape.grads_or_zeros(&d.params));
        let z = self.noise(batch);
        let mut g = self.gan.generator_step(z, Mode::Train);
        g.tape.backward(g.loss);
        self.generator_optimizer.update(&mut self.gan.generator.params, &g.tape.grads_or_zeros(&g.params));
        self.step += 1;
        (d.tape.value(d.loss).clone(), g.tape.value(g.loss).clone())
    }

    /// The generator's images for `z` (`[rows, latent]`): `[rows, 784]`, pixels in [0, 1].
    pub fn generate(&self, z: T) -> T {
        let rows = z.dims()[2];
        let mut tape = crate::engine::Tape::with_mode(Mode::Train);
        let zn = tape.leaf(crate::engine::Leaf::Input, "z", z, [rows, self.config.preset.latent()]);
        let (out, _) = self.gan.generator.forward(&mut tape, zn, false);
        tape.value(out).clone()
    }
}
