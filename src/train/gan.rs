//! Training the essay's GAN: the real images uploaded to the device once (batches gathered there
//! by index, as the image trainer does), one Adam per network (the essay's lr 2e-4; β₁ 0.5, the
//! usual choice for GANs), and a step of either [`Recipe`]: the corrected loop or the essay's as
//! printed. A step is a discriminator half then a generator half; the page can also take either
//! half alone (GAN Lab's slow motion), and the link records the order ([`StepLog`]).
//!
//! Seeded: initial weights from the init stream, batch order from the batches stream, every z
//! (and the essay's noise "real" batch) from the latent stream, the page's fixed sample z from the
//! data stream — the same seed and step log give the same losses bit for bit on the CPU path.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::images::{DeviceSplit, EpochOrder, LastBatch};
use super::schema::{Field, choice, float, int, shown};
use super::ConfigError;
use crate::data::images::ImageSet;
use crate::engine::{Mode, Op, Optimizer, OptimizerConfig, OptimizerKind, Precision, Rng, Stream, T, tensor};
use crate::models::gan::{Gan, GanPreset, HalfStep, Init, Recipe, Restraint};

/// A GAN experiment's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GanConfig {
    /// Which networks.
    pub preset: GanPreset,
    /// The essay's loop as printed, or corrected.
    pub recipe: Recipe,
    /// Images per batch (and fakes per batch).
    pub batch_size: usize,
    /// Adam's learning rate: the discriminator's, and the generator's unless `g_lr` is set.
    pub lr: f64,
    /// The generator's own learning rate (0: `lr`, as in the essay).
    #[serde(default)]
    pub g_lr: f64,
    /// Adam's β₁, both networks.
    pub beta1: f64,
    /// Train on the first N images (0: all).
    pub train_limit: usize,
    /// The experiment's seed.
    pub seed: u64,
    /// Where the weights start: the seed's fresh draw, or the weights gradlab ships.
    #[serde(default)]
    pub start: Start,
    /// Dropout after the discriminator's hidden layers while training (0: none, the essay's).
    #[serde(default)]
    pub dropout: f64,
    /// One-sided label smoothing: D's target for a real image is `1 − smoothing` (0: none).
    #[serde(default)]
    pub smoothing: f64,
    /// Instance noise: σ of the Gaussian noise added to every image D sees, real and generated
    /// (0: none, the essay's).
    #[serde(default)]
    pub noise: f64,
    /// Feature matching: λ of the term that pulls G's batch's average D features towards a real
    /// batch's (0: none, the essay's).
    #[serde(default)]
    pub matching: f64,
    /// How the weights are first drawn (PyTorch's default, the essay's, or scaled to the activations).
    #[serde(default)]
    pub init: Init,
}

/// Where a GAN's weights start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Start {
    /// Drawn from the seed (PyTorch's `Linear` initialisation).
    #[default]
    Seed,
    /// The weights shipped with the app for this preset (`www/weights/<preset>.safetensors`,
    /// trained natively with `gradlab train --preset … --start seed --save …`): training continues
    /// from them, with fresh optimizer state.
    Shipped,
}

impl Start {
    /// Both.
    pub const ALL: [Start; 2] = [Start::Seed, Start::Shipped];

    /// Its key in links and on the command line.
    pub fn key(&self) -> &'static str {
        match self {
            Start::Seed => "seed",
            Start::Shipped => "shipped",
        }
    }
}

/// Where the app serves (and the repository keeps, under `www/`) a preset's shipped weights.
/// gan-essay's: the corrected loop at the essay's settings (Adam 2e-4, β₁ 0.5, batch 64) with the
/// discriminator's dropout at 0.3, trained natively for 24,000 steps and stored as int8 (`gradlab
/// generate --save … --dtype int8`). Without the dropout, or for fewer steps, the net collapses
/// onto a few speckled shapes (as it does in JAX: `tests/python/gan_reference.py`); with it the
/// samples stay a few speckled shapes until ≈ 6,000 steps and become varied digits from ≈ 10,000.
pub fn shipped_weights(preset: GanPreset) -> String {
    format!("weights/{}.safetensors", preset.key())
}

impl Default for GanConfig {
    fn default() -> Self {
        let mut c = GanConfig {
            preset: GanPreset::Small,
            recipe: Recipe::Corrected,
            batch_size: 64,
            lr: 2e-4,
            g_lr: 0.0,
            beta1: 0.5,
            train_limit: 0,
            seed: 1,
            start: Start::Seed,
            dropout: 0.0,
            smoothing: 0.0,
            noise: 0.0,
            matching: 0.0,
            init: Init::PyTorch,
        };
        for s in GAN_SETTINGS {
            (s.set)(&mut c, s.default).unwrap_or_else(|e| panic!("default of {}: {e}", s.key));
        }
        c
    }
}

/// The training settings (`key=value`, as a link writes them) in which `trained` differs from
/// `config`: how the weights a file holds were trained, where that is not how `config` goes on
/// (the seed, the start and the preset say nothing of that and are left out).
pub fn settings_apart(config: &GanConfig, trained: &GanConfig) -> Vec<String> {
    GAN_SETTINGS
        .iter()
        .filter(|s| !matches!(s.key, "gan.preset" | "gan.seed" | "gan.start"))
        .filter(|s| (s.get)(config) != (s.get)(trained))
        .map(|s| format!("{}={}", s.key, (s.get)(trained)))
        .collect()
}

/// One setting of a [`GanConfig`].
pub type GanSetting = Field<GanConfig>;

/// The GAN experiment's schema (keys `gan.*`, so one link holds it beside the others): links, the
/// page's controls and the command line's flags all go through it.
pub static GAN_SETTINGS: &[GanSetting] = &[
    GanSetting {
        key: "gan.preset",
        default: "gan-small",
        expected: "gan-small or gan-essay",
        get: |c| c.preset.key().into(),
        set: |c, v| Ok(c.preset = choice(v, &GanPreset::ALL, GanPreset::key)?),
    },
    GanSetting {
        key: "gan.recipe",
        default: "corrected",
        expected: "corrected or essay (the essay's loop as printed)",
        get: |c| c.recipe.key().into(),
        set: |c, v| Ok(c.recipe = choice(v, &Recipe::ALL, Recipe::key)?),
    },
    GanSetting {
        key: "gan.lr",
        default: "0.0002",
        expected: "Adam's learning rate, above 0 and at most 1",
        get: |c| format!("{}", c.lr),
        set: |c, v| Ok(c.lr = super::schema::above_zero(v, 1.0, "the learning rate")?),
    },
    GanSetting {
        key: "gan.glr",
        default: "0",
        expected: "the generator's own learning rate, 0 (the same as the discriminator's, as in the essay) to 1",
        get: |c| format!("{}", c.g_lr),
        set: |c, v| Ok(c.g_lr = float(v, 0.0, 1.0)?),
    },
    GanSetting {
        key: "gan.beta1",
        default: "0.5",
        expected: "Adam's β₁, 0 to 0.999",
        get: |c| format!("{}", c.beta1),
        set: |c, v| Ok(c.beta1 = float(v, 0.0, 0.999)?),
    },
    GanSetting {
        key: "gan.batch",
        default: "64",
        expected: "images per batch, 1 to 512",
        get: |c| c.batch_size.to_string(),
        set: |c, v| Ok(c.batch_size = int(v, 1, 512)? as usize),
    },
    GanSetting {
        key: "gan.limit",
        default: "0",
        expected: "train on the first N images, 0 (all) to 60000",
        get: |c| c.train_limit.to_string(),
        set: |c, v| Ok(c.train_limit = int(v, 0, 60_000)? as usize),
    },
    GanSetting {
        key: "gan.seed",
        default: "1",
        expected: "a whole number, 0 to 4294967295",
        get: |c| c.seed.to_string(),
        set: |c, v| Ok(c.seed = int(v, 0, u32::MAX as u64)?),
    },
    GanSetting {
        key: "gan.start",
        default: "seed",
        expected: "seed (fresh weights) or shipped (continue from the weights gradlab ships)",
        get: |c| c.start.key().into(),
        set: |c, v| Ok(c.start = choice(v, &Start::ALL, Start::key)?),
    },
    GanSetting {
        key: "gan.dropout",
        default: "0",
        expected: "dropout after the discriminator's hidden layers, 0 (none, the essay's) to 0.9",
        get: |c| format!("{}", c.dropout),
        set: |c, v| Ok(c.dropout = float(v, 0.0, 0.9)?),
    },
    GanSetting {
        key: "gan.smooth",
        default: "0",
        expected: "one-sided label smoothing (D's target for real images is 1 − s), 0 (none, the essay's) to 0.5",
        get: |c| format!("{}", c.smoothing),
        set: |c, v| Ok(c.smoothing = float(v, 0.0, 0.5)?),
    },
    GanSetting {
        key: "gan.noise",
        default: "0",
        expected: "instance noise: σ of the Gaussian noise added to every image the discriminator sees, real and generated, 0 (none, the essay's) to 1",
        get: |c| format!("{}", c.noise),
        set: |c, v| Ok(c.noise = float(v, 0.0, 1.0)?),
    },
    GanSetting {
        key: "gan.match",
        default: "0",
        expected: "feature matching: λ of ½·mean (mean f(x) − mean f(G(z)))² added to G's loss, f = what enters D's last layer, 0 (none, the essay's) to 100",
        get: |c| format!("{}", c.matching),
        set: |c, v| Ok(c.matching = float(v, 0.0, 100.0)?),
    },
    GanSetting {
        key: "gan.init",
        default: "pytorch",
        expected: "pytorch (nn.Linear's default, the essay's) or scaled (each layer keeps its input's deviation: He et al.)",
        get: |c| c.init.key().into(),
        set: |c, v| Ok(c.init = choice(v, &Init::ALL, Init::key)?),
    },
];

/// Applies `(key, value)` pairs over `config`, in schema order; the first problem is an error
/// naming its key, unknown keys too.
pub fn apply_gan_settings(config: &mut GanConfig, pairs: &[(String, String)]) -> Result<(), ConfigError> {
    if let Some((key, _)) = pairs.iter().find(|(k, _)| !GAN_SETTINGS.iter().any(|s| s.key == k)) {
        return Err(ConfigError { setting: shown(key), message: "is not a setting of the GAN experiment".into() });
    }
    for s in GAN_SETTINGS {
        if let Some((_, v)) = pairs.iter().find(|(k, _)| k == s.key) {
            (s.set)(config, v).map_err(|message| ConfigError { setting: s.key.into(), message })?;
        }
    }
    Ok(())
}

/// Which halves a step takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Half {
    /// The discriminator's half, then the generator's.
    Both,
    /// The discriminator's half only.
    Discriminator,
    /// The generator's half only.
    Generator,
}

/// The order of the halves taken so far, run-length coded, as a link writes it: `300` (300 full
/// steps), `d2` (two discriminator halves), `g1`, joined by `+` — e.g. `100+d3+g1+50`. Replaying
/// the log from the seed gives the same networks bit for bit on the CPU path.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepLog(pub Vec<(Half, u64)>);

/// Most steps a link may ask to replay (a full step and a lone half count one each).
pub const MAX_LOGGED: u64 = 1_000_000;

impl StepLog {
    /// Notes one more step of `half`.
    pub fn push(&mut self, half: Half) {
        match self.0.last_mut() {
            Some((h, n)) if *h == half => *n += 1,
            _ => self.0.push((half, 1)),
        }
    }

    /// Halves taken by (discriminator, generator).
    pub fn counts(&self) -> (u64, u64) {
        self.0.iter().fold((0, 0), |(d, g), &(h, n)| match h {
            Half::Both => (d + n, g + n),
            Half::Discriminator => (d + n, g),
            Half::Generator => (d, g + n),
        })
    }

    /// The link's form (empty for no steps).
    pub fn encode(&self) -> String {
        let part = |&(h, n): &(Half, u64)| match h {
            Half::Both => n.to_string(),
            Half::Discriminator => format!("d{n}"),
            Half::Generator => format!("g{n}"),
        };
        self.0.iter().map(part).collect::<Vec<_>>().join("+")
    }

    /// Reads the link's form; a bad part is named.
    pub fn decode(text: &str) -> Result<Self, String> {
        let mut log = StepLog::default();
        let mut total = 0u64;
        for part in text.split('+').filter(|p| !p.is_empty()) {
            let (half, digits) = match part.as_bytes()[0] {
                b'd' => (Half::Discriminator, &part[1..]),
                b'g' => (Half::Generator, &part[1..]),
                _ => (Half::Both, part),
            };
            let n: u64 = digits.parse().ok().filter(|&n| n > 0).ok_or_else(|| format!("'{}' is not a count of steps (N, dN or gN)", shown(part)))?;
            total = total.saturating_add(n);
            if total > MAX_LOGGED {
                return Err(format!("more than {MAX_LOGGED} steps to replay"));
            }
            for _ in 0..n.min(2) {
                log.push(half);
            }
            if let Some(last) = log.0.last_mut() {
                last.1 += n.saturating_sub(2);
            }
        }
        Ok(log)
    }
}

/// What one step (or half) measured, still on the device.
pub struct StepOutcome {
    /// The discriminator's loss, if its half ran.
    pub d_loss: Option<T>,
    /// The generator's loss, if its half ran.
    pub g_loss: Option<T>,
    /// D(x) on the real batch, `[batch, 1]`, if the discriminator's half ran.
    pub d_real: Option<T>,
    /// D(G(z)) on the fakes, `[batch, 1]`, from whichever half saw them last.
    pub d_fake: Option<T>,
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
    /// The halves taken so far, in order.
    pub log: StepLog,
    images: DeviceSplit,
    order: EpochOrder,
    latent: Rng,
    /// The discriminator's dropout masks.
    masks: Rng,
    /// The essay's `z`, drawn once (the as-written recipe only).
    fixed_z: Option<T>,
    device: Device,
}

impl GanTrainer {
    /// Uploads the training images (pixels / 255, as the classifiers see them) and draws both
    /// networks.
    pub fn new(config: GanConfig, train: &ImageSet, device: &Device) -> Self {
        let images = DeviceSplit::upload(train, config.train_limit, device);
        Self::with_images(config, images, device)
    }

    /// The same, on images already on the device (the page uploads them a slice per frame).
    pub(crate) fn with_images(config: GanConfig, images: DeviceSplit, device: &Device) -> Self {
        let gan = Gan::init_with(config.preset, config.seed, config.init, device, Precision::F32);
        let mut trainer = Self {
            gan,
            generator_optimizer: Optimizer::new(adam(&config, Network::Generator)),
            discriminator_optimizer: Optimizer::new(adam(&config, Network::Discriminator)),
            log: StepLog::default(),
            order: EpochOrder::new(images.len(), config.seed, LastBatch::Dropped),
            images,
            latent: Rng::new(config.seed, Stream::Latent),
            masks: Rng::new(config.seed, Stream::Dropout),
            fixed_z: None,
            device: device.clone(),
            config,
        };
        if trainer.config.recipe == Recipe::AsWritten {
            let batch = trainer.config.batch_size.min(trainer.images.len());
            trainer.fixed_z = Some(trainer.noise(batch));
        }
        trainer
    }

    /// The device it trains on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Full steps taken (discriminator halves; the page's step counter).
    pub fn step(&self) -> u64 {
        self.log.counts().0
    }

    /// `rows` latent vectors from the latent stream, `[rows, latent]`, standard normal.
    pub fn noise(&mut self, rows: usize) -> T {
        self.normal(rows, self.config.preset.latent())
    }

    fn normal(&mut self, rows: usize, cols: usize) -> T {
        let values: Vec<f32> = (0..rows * cols).map(|_| self.latent.normal() as f32).collect();
        tensor(&values, [rows, cols], &self.device, Precision::F32)
    }

    /// The next batch of real images, `[batch, 784]`, whole batches in a fresh shuffled order
    /// each pass.
    fn next_real(&mut self) -> T {
        let indices = self.order.next(self.config.batch_size.min(self.images.len()));
        let (images, _) = self.images.gather(&indices, &self.device);
        images.reshape([1, 1, indices.len(), 784])
    }

    /// One step: the discriminator's half, then the generator's. Returns both losses (on the
    /// device, not read back).
    pub fn train_step(&mut self) -> (T, T) {
        let out = self.take(Half::Both);
        (out.d_loss.expect("both halves ran"), out.g_loss.expect("both halves ran"))
    }

    /// Records the discriminator's half of the next step without taking it (trace mode, for the
    /// stepper): the batch it draws is used up, as the real step would.
    pub fn record_discriminator(&mut self, mode: Mode) -> HalfStep {
        let batch = self.config.batch_size.min(self.images.len());
        match self.config.recipe {
            Recipe::Corrected => {
                let real = self.next_real();
                let z = self.noise(batch);
                self.gan.discriminator_half(real, z, mode, Recipe::Corrected, self.restraint(), &mut self.masks)
            }
            Recipe::AsWritten => {
                // The essay: real = torch.randn(batch, 784); fake = G(z) with its one z.
                let real = self.normal(batch, 784).reshape([1, 1, batch, 784]);
                let z = self.fixed_z.clone().expect("drawn at the start");
                self.gan.discriminator_half(real, z, mode, Recipe::AsWritten, self.restraint(), &mut self.masks)
            }
        }
    }

    /// Records the generator's half of the next step (see [`GanTrainer::record_discriminator`]).
    pub fn record_generator(&mut self, mode: Mode) -> HalfStep {
        let batch = self.config.batch_size.min(self.images.len());
        match self.config.recipe {
            Recipe::Corrected => {
                let z = self.noise(batch);
                let real = (self.config.matching > 0.0).then(|| self.next_real());
                self.gan.generator_half(z, real, mode, self.restraint(), &mut self.masks)
            }
            Recipe::AsWritten => {
                let real = self.next_real();
                let z = self.fixed_z.clone().expect("drawn at the start");
                self.gan.essay_generator_step(z, real, mode)
            }
        }
    }

    /// How the discriminator is held back (the config's dropout, smoothing and instance noise).
    fn restraint(&self) -> Restraint {
        Restraint {
            dropout: self.config.dropout as f32,
            smoothing: self.config.smoothing as f32,
            noise: self.config.noise as f32,
            matching: self.config.matching as f32,
        }
    }

    /// Forgets both optimizers' state (after new weights were put in: `share::weights::load_gan_weights`).
    pub fn reset_optimizers(&mut self) {
        self.generator_optimizer = Optimizer::new(adam(&self.config, Network::Generator));
        self.discriminator_optimizer = Optimizer::new(adam(&self.config, Network::Discriminator));
    }

    /// Takes a step or one half of it; the log notes it.
    pub fn take(&mut self, half: Half) -> StepOutcome {
        self.take_in(half, Mode::Train).0
    }

    /// [`GanTrainer::take`] on trace-mode tapes, returned with every value and gradient (the
    /// page's unrolled step): the discriminator's half first, if it ran.
    pub fn take_traced(&mut self, half: Half) -> (StepOutcome, Vec<HalfStep>) {
        self.take_in(half, Mode::Trace)
    }

    fn take_in(&mut self, half: Half, mode: Mode) -> (StepOutcome, Vec<HalfStep>) {
        let mut out = StepOutcome { d_loss: None, g_loss: None, d_real: None, d_fake: None };
        let mut tapes = Vec::new();
        let sigmoid = |t: &T| Op::Sigmoid.forward(&[t]).0;
        if half != Half::Generator {
            let mut d = self.record_discriminator(mode);
            out.d_real = Some(sigmoid(d.tape.value(d.logits[0])));
            out.d_fake = Some(sigmoid(d.tape.value(d.logits[1])));
            d.tape.backward(d.loss);
            // The essay's backward also reached G; its optimizer's zero_grad drops that, as here.
            self.discriminator_optimizer.update(&mut self.gan.discriminator.params, &d.tape.grads_or_zeros(&d.params));
            out.d_loss = Some(d.tape.value(d.loss).clone());
            if mode == Mode::Trace {
                tapes.push(d);
            }
        }
        if half != Half::Discriminator {
            let mut g = self.record_generator(mode);
            if let Some(&logit) = g.logits.first() {
                out.d_fake = Some(sigmoid(g.tape.value(logit)));
            }
            g.tape.backward(g.loss);
            self.generator_optimizer.update(&mut self.gan.generator.params, &g.tape.grads_or_zeros(&g.params));
            out.g_loss = Some(g.tape.value(g.loss).clone());
            if mode == Mode::Trace {
                tapes.push(g);
            }
        }
        self.log.push(half);
        (out, tapes)
    }

    /// Replays a step log (a link's), half by half.
    pub fn replay(&mut self, log: &StepLog) {
        for &(half, n) in &log.0 {
            for _ in 0..n {
                self.take(half);
            }
        }
    }

    /// The generator's images for `z` (`[rows, latent]`): `[rows, 784]`, pixels in [0, 1].
    pub fn generate(&self, z: T) -> T {
        self.gan.generate(z)
    }
}

/// One of the two networks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Network {
    Generator,
    Discriminator,
}

/// Adam as the config sets it for `network`.
fn adam(config: &GanConfig, network: Network) -> OptimizerConfig {
    let lr = if network == Network::Generator && config.g_lr > 0.0 { config.g_lr } else { config.lr };
    OptimizerConfig { beta1: config.beta1, ..OptimizerConfig::new(OptimizerKind::Adam, lr) }
}

/// 512 images of random pixels: what the GAN benchmarks (CLI and page) train on.
pub fn bench_images() -> ImageSet {
    let mut rng = Rng::new(1, Stream::Data);
    ImageSet { rows: 28, cols: 28, pixels: (0..512 * 784).map(|_| rng.below(256) as u8).collect(), labels: vec![0; 512] }
}

/// The page's fixed sample: `rows` latent vectors from the seed's data stream (not the training
/// stream, so looking at samples never changes training), `[rows, latent]` as f32 values.
pub fn sample_z(preset: GanPreset, seed: u64, rows: usize) -> Vec<f32> {
    let mut rng = Rng::new(seed, Stream::Data);
    (0..rows * preset.latent()).map(|_| rng.normal() as f32).collect()
}
