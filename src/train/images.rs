//! The image experiment (MNIST, Fashion-MNIST): its settings ([`ImageConfig`], one schema table
//! [`IMAGE_SETTINGS`] for defaults, link keys, CLI flags and validation), its presets (the
//! essays' models), learning-rate schedules, and the [`ImageTrainer`].
//!
//! Data lives on the device: each split is uploaded once (pixels / 255 as `[n, 1, 28, 28]`,
//! one-hot labels `[n, 10]`) and every batch is gathered there by index — only the batch's
//! indices cross from the host per step. The exception is augmentation, which is drawn on the
//! host (seeded, the same in wasm and natively) and uploads the batch it made. Steps run on a
//! train-mode tape; evaluation runs in chunks ([`ImageTrainer::eval_chunk`]) so a page can yield
//! between them.

mod state;

pub use state::{HostTensor, PendingState, StateError, TrainerState};

use burn::Tensor;
use serde::{Deserialize, Serialize};
use burn::tensor::{DType, Device, Int, TensorData};

use super::ConfigError;
use super::Regularization;
use super::schema::{Field, REGULARIZATIONS, above_zero, apply_fields, choice, fields_of, float, int, regularization_key, shown};
use crate::data::digits::Augment;
use crate::data::images::{ImageData, ImageDataset, ImageSet};
use crate::engine::{EngineError, Leaf, Mode, Op, Optimizer, OptimizerConfig, OptimizerKind, Precision, Rng, Role, Shape, Stream, T, Tag, Tape, read_many, tensor, tensor_from_vec};
use crate::models::image::{Arch, CLASSES, ImageModel, ImageNodes, Init, Phase, SIDE};

/// The essays' models and their variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// Essay 000's Keras MLP: Flatten → Dense 128 ReLU → Dropout 0.2 → Dense 10; Adam 1e-3, batch 128.
    MlpKeras,
    /// Essay 002's `SimpleFCN` (with padding 2, see [`Preset::erratum`]); SGD 0.001, momentum 0.9, batch 100.
    CnnTorch,
    /// The same CNN at learning rate 0.01.
    CnnTuned,
    /// The same CNN with batch norm after the convolution.
    CnnBn,
}

impl Preset {
    /// Every preset, in menu order.
    pub const ALL: [Preset; 4] = [Preset::MlpKeras, Preset::CnnTorch, Preset::CnnTuned, Preset::CnnBn];

    /// The link/CLI key.
    pub fn key(&self) -> &'static str {
        match self {
            Preset::MlpKeras => "mlp-keras",
            Preset::CnnTorch => "cnn-torch",
            Preset::CnnTuned => "cnn-tuned",
            Preset::CnnBn => "cnn-bn",
        }
    }

    /// A one-line description for menus.
    pub fn title(&self) -> &'static str {
        match self {
            Preset::MlpKeras => "Keras MLP (essay 000): 784 → 128 ReLU → dropout 0.2 → 10",
            Preset::CnnTorch => "PyTorch CNN (essay 002): conv 5×5 ×32 → ReLU → pool 2 → 10 → ReLU → 10",
            Preset::CnnTuned => "The essay's CNN at learning rate 0.01",
            Preset::CnnBn => "The essay's CNN with batch norm after the convolution",
        }
    }

    /// What had to change from the essay's code, shown with the preset.
    pub fn erratum(&self) -> Option<&'static str> {
        match self {
            Preset::MlpKeras => None,
            _ => Some(
                "Erratum: the essay's code cannot run — a 5×5 convolution without padding on 28×28, then 2×2 pooling, \
                 gives 32×12×12, which view(-1, 32*7*7) cannot reshape. Padding 2 keeps 28×28 → pooled 14×14, \
                 so fc1 is Linear(32·14·14, 10).",
            ),
        }
    }

    /// The network as the essay has it (an experiment may change its width and dropout:
    /// [`ImageConfig::arch`]).
    pub fn arch(&self) -> Arch {
        match self {
            Preset::MlpKeras => Arch::Mlp { hidden: 128, dropout: 0.2 },
            Preset::CnnTorch | Preset::CnnTuned => Arch::Cnn { channels: 32, kernel: 5, padding: 2, hidden: 10, batch_norm: false, dropout: 0.0 },
            Preset::CnnBn => Arch::Cnn { channels: 32, kernel: 5, padding: 2, hidden: 10, batch_norm: true, dropout: 0.0 },
        }
    }

    /// How its weights start: the framework the essay used.
    pub fn init(&self) -> Init {
        match self {
            Preset::MlpKeras => Init::Keras,
            _ => Init::Torch,
        }
    }

    /// The settings it starts from, as `(key, value)` pairs of [`IMAGE_SETTINGS`].
    fn defaults(&self) -> &'static [(&'static str, &'static str)] {
        match self {
            Preset::MlpKeras => &[
                ("width", "128"), ("dropout", "0.2"), ("reg", "none"), ("regrate", "0"),
                ("opt", "adam"), ("lr", "0.001"), ("momentum", "0.9"), ("batch", "128"), ("epochs", "10"),
            ],
            Preset::CnnTorch | Preset::CnnBn => &[
                ("width", "10"), ("dropout", "0"), ("reg", "none"), ("regrate", "0"),
                ("opt", "momentum"), ("lr", "0.001"), ("momentum", "0.9"), ("batch", "100"), ("epochs", "10"),
            ],
            Preset::CnnTuned => &[
                ("width", "10"), ("dropout", "0"), ("reg", "none"), ("regrate", "0"),
                ("opt", "momentum"), ("lr", "0.01"), ("momentum", "0.9"), ("batch", "100"), ("epochs", "10"),
            ],
        }
    }
}

/// How the learning rate moves over training.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// The same rate throughout.
    Constant,
    /// Multiplied by `decay` every `decay_every` epochs.
    Step,
    /// Linear warm-up over `warmup` epochs, then half a cosine down to 0 at the last step.
    Cosine,
}

impl Schedule {
    /// Every schedule.
    pub const ALL: [Schedule; 3] = [Schedule::Constant, Schedule::Step, Schedule::Cosine];

    /// The link/CLI key.
    pub fn key(&self) -> &'static str {
        match self {
            Schedule::Constant => "constant",
            Schedule::Step => "step",
            Schedule::Cosine => "cosine",
        }
    }
}

/// Everything that defines an image experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// The model (and the hyper-parameters it starts from).
    pub preset: Preset,
    /// Which dataset.
    pub dataset: ImageDataset,
    /// Units of the hidden dense layer `fc1` (the preset's: 128 in the MLP, 10 in the CNN).
    pub width: usize,
    /// Dropout rate after `fc1` while training (the preset's: 0.2 in the MLP, none in the CNN).
    pub dropout: f64,
    /// Weight penalty on the weight matrices and filters (not biases or batch norm).
    pub regularization: Regularization,
    /// Its rate λ.
    pub reg_rate: f64,
    /// The update rule.
    pub optimizer: OptimizerKind,
    /// Peak learning rate.
    pub lr: f64,
    /// Momentum μ (momentum SGD).
    pub momentum: f64,
    /// Images per batch.
    pub batch_size: usize,
    /// Passes over the training images.
    pub epochs: usize,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Warm-up epochs of the cosine schedule (may be fractional).
    pub warmup: f64,
    /// Epochs between decays of the step schedule.
    pub decay_every: usize,
    /// Factor of each decay.
    pub decay: f64,
    /// Random shifts (±2 px) and rotations (±10°) of training images.
    pub augment: bool,
    /// Train on the first N training images only (0: all of them).
    pub train_limit: usize,
    /// The experiment seed (weights, batch order, dropout, augmentation).
    pub seed: u64,
}

impl Default for ImageConfig {
    fn default() -> Self {
        image_defaults()
    }
}

/// One setting of an [`ImageConfig`].
pub type ImageSetting = Field<ImageConfig>;

/// The image experiment's schema, in the order links are written and applied: `mnist.preset`
/// first (it sets the hyper-parameters it comes with), then anything that overrides them. Keys
/// carry the `mnist.` prefix, so one link can hold the playground's settings and these.
pub static IMAGE_SETTINGS: &[ImageSetting] = &[
    ImageSetting {
        key: "mnist.preset",
        default: "mlp-keras",
        expected: "mlp-keras, cnn-torch, cnn-tuned or cnn-bn",
        get: |c| c.preset.key().into(),
        set: |c, v| {
            c.preset = choice(v, &Preset::ALL, Preset::key)?;
            for (key, value) in c.preset.defaults() {
                let s = image_setting(&format!("mnist.{key}")).expect("preset defaults name schema keys");
                (s.set)(c, value).unwrap_or_else(|e| panic!("preset default {key}: {e}"));
            }
            Ok(())
        },
    },
    ImageSetting {
        key: "mnist.width",
        default: "128",
        expected: "units of the hidden layer fc1, a whole number from 1 to 1024",
        get: |c| c.width.to_string(),
        set: |c, v| Ok(c.width = int(v, 1, 1024)? as usize),
    },
    ImageSetting {
        key: "mnist.dropout",
        default: "0.2",
        expected: "the dropout rate after fc1, a number from 0 to 0.9",
        get: |c| format!("{}", c.dropout),
        set: |c, v| Ok(c.dropout = float(v, 0.0, 0.9)?),
    },
    ImageSetting {
        key: "mnist.reg",
        default: "none",
        expected: "none, l1 or l2 (a penalty on the weights and filters)",
        get: |c| regularization_key(&c.regularization).into(),
        set: |c, v| Ok(c.regularization = choice(v, &REGULARIZATIONS, regularization_key)?),
    },
    ImageSetting {
        key: "mnist.regrate",
        default: "0",
        expected: "the penalty's rate λ, a number from 0 to 1",
        get: |c| format!("{}", c.reg_rate),
        set: |c, v| Ok(c.reg_rate = float(v, 0.0, 1.0)?),
    },
    ImageSetting {
        key: "mnist.data",
        default: "mnist",
        expected: "mnist or fashion",
        get: |c| c.dataset.key().into(),
        set: |c, v| Ok(c.dataset = choice(v, &ImageDataset::ALL, ImageDataset::key)?),
    },
    ImageSetting {
        key: "mnist.opt",
        default: "adam",
        expected: "sgd, momentum or adam",
        get: |c| c.optimizer.key().into(),
        set: |c, v| Ok(c.optimizer = choice(v, &OptimizerKind::ALL, OptimizerKind::key)?),
    },
    ImageSetting {
        key: "mnist.lr",
        default: "0.001",
        expected: "a number above 0, at most 10",
        get: |c| format!("{}", c.lr),
        set: |c, v| Ok(c.lr = above_zero(v, 10.0, "the learning rate")?),
    },
    ImageSetting {
        key: "mnist.momentum",
        default: "0.9",
        expected: "a number from 0 to 0.999",
        get: |c| format!("{}", c.momentum),
        set: |c, v| Ok(c.momentum = float(v, 0.0, 0.999)?),
    },
    ImageSetting {
        key: "mnist.batch",
        default: "128",
        expected: "a whole number from 1 to 1000",
        get: |c| c.batch_size.to_string(),
        set: |c, v| Ok(c.batch_size = int(v, 1, 1000)? as usize),
    },
    ImageSetting {
        key: "mnist.epochs",
        default: "10",
        expected: "a whole number from 1 to 100",
        get: |c| c.epochs.to_string(),
        set: |c, v| Ok(c.epochs = int(v, 1, 100)? as usize),
    },
    ImageSetting {
        key: "mnist.sched",
        default: "constant",
        expected: "constant, step or cosine",
        get: |c| c.schedule.key().into(),
        set: |c, v| Ok(c.schedule = choice(v, &Schedule::ALL, Schedule::key)?),
    },
    ImageSetting {
        key: "mnist.warmup",
        default: "0",
        expected: "warm-up epochs of the cosine schedule, a number from 0 to 10",
        get: |c| format!("{}", c.warmup),
        set: |c, v| Ok(c.warmup = float(v, 0.0, 10.0)?),
    },
    ImageSetting {
        key: "mnist.decayevery",
        default: "3",
        expected: "epochs between decays of the step schedule, a whole number from 1 to 100",
        get: |c| c.decay_every.to_string(),
        set: |c, v| Ok(c.decay_every = int(v, 1, 100)? as usize),
    },
    ImageSetting {
        key: "mnist.decay",
        default: "0.1",
        expected: "the step schedule's factor, a number above 0, at most 1",
        get: |c| format!("{}", c.decay),
        set: |c, v| Ok(c.decay = above_zero(v, 1.0, "the decay factor")?),
    },
    ImageSetting {
        key: "mnist.augment",
        default: "none",
        expected: "none or shift-rotate (±2 px, ±10°)",
        get: |c| if c.augment { "shift-rotate" } else { "none" }.into(),
        set: |c, v| match v {
            "none" => Ok(c.augment = false),
            "shift-rotate" => Ok(c.augment = true),
            _ => Err(format!("'{}' is not one of the choices", shown(v))),
        },
    },
    ImageSetting {
        key: "mnist.limit",
        default: "0",
        expected: "train on the first N images, a whole number from 100 to 60000, or 0 for all",
        get: |c| c.train_limit.to_string(),
        set: |c, v| {
            let n = int(v, 0, 60_000)? as usize;
            if n != 0 && n < 100 {
                return Err(format!("{n} images is fewer than 100"));
            }
            Ok(c.train_limit = n)
        },
    },
    ImageSetting {
        key: "mnist.seed",
        default: "1",
        expected: "a whole number from 0 to 4294967295",
        get: |c| c.seed.to_string(),
        set: |c, v| Ok(c.seed = int(v, 0, u32::MAX as u64)?),
    },
];

/// The image setting with this key.
pub fn image_setting(key: &str) -> Option<&'static ImageSetting> {
    IMAGE_SETTINGS.iter().find(|s| s.key == key)
}

/// Every setting at its default (the `mlp-keras` preset on MNIST).
pub fn image_defaults() -> ImageConfig {
    let mut c = ImageConfig {
        preset: Preset::MlpKeras,
        dataset: ImageDataset::Mnist,
        width: 128,
        dropout: 0.2,
        regularization: Regularization::None,
        reg_rate: 0.0,
        optimizer: OptimizerKind::Adam,
        lr: 0.001,
        momentum: 0.9,
        batch_size: 128,
        epochs: 10,
        schedule: Schedule::Constant,
        warmup: 0.0,
        decay_every: 3,
        decay: 0.1,
        augment: false,
        train_limit: 0,
        seed: 1,
    };
    for s in IMAGE_SETTINGS {
        (s.set)(&mut c, s.default).unwrap_or_else(|e| panic!("default of {}: {e}", s.key));
    }
    c
}

/// Applies `(key, value)` pairs over `config`, in schema order; the first problem is an error
/// naming its key. Unknown keys are errors too.
pub fn apply_image_settings(config: &mut ImageConfig, pairs: &[(String, String)]) -> Result<(), ConfigError> {
    apply_fields(IMAGE_SETTINGS, config, pairs, "the image experiment")
}

/// Every setting of `config` as a `(key, value)` pair, in schema order:
/// [`apply_image_settings`] over the defaults gives the same config back, value for value (a
/// number is written in the shortest form that reads back as itself). The page's worker gets its
/// config this way.
pub fn image_settings_of(config: &ImageConfig) -> Vec<(String, String)> {
    fields_of(IMAGE_SETTINGS, config)
}

/// Checks a config against the schema: every value must read back through its setting.
pub fn validate_image(config: &ImageConfig) -> Result<(), ConfigError> {
    for s in IMAGE_SETTINGS.iter().filter(|s| s.key != "mnist.preset") {
        let mut copy = config.clone();
        if let Err(message) = (s.set)(&mut copy, &(s.get)(config)) {
            return Err(ConfigError { setting: s.key.into(), message });
        }
    }
    Ok(())
}

impl ImageConfig {
    /// The network: the preset's, with this experiment's width and dropout.
    pub fn arch(&self) -> Arch {
        match self.preset.arch() {
            Arch::Mlp { .. } => Arch::Mlp { hidden: self.width, dropout: self.dropout as f32 },
            Arch::Cnn { channels, kernel, padding, batch_norm, .. } => {
                Arch::Cnn { channels, kernel, padding, hidden: self.width, batch_norm, dropout: self.dropout as f32 }
            }
        }
    }

    /// The network and its penalty in a line: `784 → 64 ReLU → dropout 0.3 → 10, L2 λ = 0.001`.
    pub fn describe(&self) -> String {
        let drop = |d: f32| if d > 0.0 { format!(" → dropout {d}") } else { String::new() };
        let net = match self.arch() {
            Arch::Mlp { hidden, dropout } => format!("{} → {hidden} ReLU{} → {CLASSES}", SIDE * SIDE, drop(dropout)),
            Arch::Cnn { channels, kernel, hidden, batch_norm, dropout, .. } => format!(
                "conv {kernel}×{kernel} ×{channels}{} → ReLU → pool 2 → {hidden} → ReLU{} → {CLASSES}",
                if batch_norm { " → batch norm" } else { "" },
                drop(dropout)
            ),
        };
        // (Not `to_uppercase`: its Unicode table costs the wasm 14 kB.)
        let penalty = match self.regularization {
            _ if self.reg_rate == 0.0 => return net,
            Regularization::None => return net,
            Regularization::L1 => "L1",
            Regularization::L2 => "L2",
        };
        format!("{net}, {penalty} λ = {}", self.reg_rate)
    }

    /// The learning rate for step `step` (0-based) of a run of `steps_per_epoch` steps an epoch.
    pub fn lr_at(&self, step: u64, steps_per_epoch: usize) -> f64 {
        let per_epoch = steps_per_epoch.max(1) as f64;
        let epoch = step as f64 / per_epoch;
        match self.schedule {
            Schedule::Constant => self.lr,
            Schedule::Step => self.lr * self.decay.powi((epoch / self.decay_every as f64).floor() as i32),
            Schedule::Cosine => {
                let warm_steps = self.warmup * per_epoch;
                let total = self.epochs as f64 * per_epoch;
                if (step as f64) < warm_steps {
                    self.lr * (step as f64 + 1.0) / warm_steps
                } else {
                    let progress = ((step as f64 - warm_steps) / (total - warm_steps).max(1.0)).min(1.0);
                    self.lr * 0.5 * (1.0 + libm::cos(std::f64::consts::PI * progress))
                }
            }
        }
    }
}

/// Which split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// The training images (after `limit`).
    Train,
    /// The test images.
    Test,
}

/// One split on the device: images `[n, 1, 28, 28]` in `[0, 1]`, one-hot labels `[n, 10]`.
pub(crate) struct DeviceSplit {
    images: T,
    targets: T,
    labels: Vec<u8>,
}

/// A split on its way to the device, a slice of images at a time. The page uploads one slice per
/// frame: all 60,000 training images at once (188 MB as f32) would block the tab for about a
/// second. The result is the one-piece upload's, value for value.
pub(crate) struct SplitUpload<'a> {
    set: &'a ImageSet,
    filling: Filling,
    done: usize,
    len: usize,
}

/// Where a [`SplitUpload`]'s values gather.
enum Filling {
    /// On the CPU: in host vectors reserved once (not zeroed), which then become the tensors
    /// without a copy. A zeroed tensor of the whole set first cost 326 ms in one task in Chromium.
    Host { pixels: Vec<f32>, targets: Vec<f32> },
    /// On a GPU: zeroed tensors on the device, each slice written in place (burn's slice-assign
    /// reuses a tensor nobody else holds); none until the first slice, which is the whole split
    /// when it is uploaded at once.
    Device(Option<(T, T)>),
}

impl<'a> SplitUpload<'a> {
    /// Makes room for the first `limit` images of `set` (all with 0); nothing uploaded yet.
    pub(crate) fn new(set: &'a ImageSet, limit: usize, device: &Device) -> Self {
        let len = if limit == 0 { set.len() } else { limit.min(set.len()) };
        let filling = if *device == Device::flex() {
            Filling::Host { pixels: Vec::with_capacity(len * SIDE * SIDE), targets: Vec::with_capacity(len * CLASSES) }
        } else {
            Filling::Device(None)
        };
        Self { set, filling, done: 0, len }
    }

    /// Uploads up to `images` more; true once all are there.
    pub(crate) fn advance(&mut self, images: usize, device: &Device) -> bool {
        let (start, end) = (self.done, self.done.saturating_add(images).min(self.len));
        if end > start {
            let pixels = &self.set.pixels[start * SIDE * SIDE..end * SIDE * SIDE];
            let labels = &self.set.labels[start..end];
            match &mut self.filling {
                Filling::Host { pixels: p, targets: t } => {
                    p.extend(pixels.iter().map(|&v| unit_pixel(v)));
                    t.extend(one_hot(labels));
                }
                Filling::Device(tensors) => {
                    let n = end - start;
                    let x = tensor(&unit_pixels(pixels), [n, 1, SIDE, SIDE], device, Precision::F32);
                    let y = tensor(&one_hot(labels), [n, CLASSES], device, Precision::F32);
                    *tensors = Some(match tensors.take() {
                        None if start == 0 && end == self.len => (x, y),
                        held => {
                            let (images, targets) = held.unwrap_or_else(|| empty_split(self.len, device));
                            (
                                images.slice_assign([start..end, 0..1, 0..SIDE, 0..SIDE], x),
                                targets.slice_assign([0..1, 0..1, start..end, 0..CLASSES], y),
                            )
                        }
                    });
                }
            }
            self.done = end;
        }
        self.done == self.len
    }

    /// Images uploaded and images in all.
    pub(crate) fn progress(&self) -> (usize, usize) {
        (self.done, self.len)
    }

    /// The split, once [`SplitUpload::advance`] has returned true.
    pub(crate) fn finish(self, device: &Device) -> DeviceSplit {
        assert_eq!(self.done, self.len, "finish before the upload is done");
        let n = self.len;
        let (images, targets) = match self.filling {
            Filling::Host { pixels, targets } => (tensor_from_vec(pixels, [n, 1, SIDE, SIDE], device), tensor_from_vec(targets, [n, CLASSES], device)),
            Filling::Device(tensors) => tensors.unwrap_or_else(|| empty_split(n, device)),
        };
        DeviceSplit { images, targets, labels: self.set.labels[..n].to_vec() }
    }
}

/// Zeroed images `[n, 1, 28, 28]` and targets `[n, 10]` on `device`.
fn empty_split(n: usize, device: &Device) -> (T, T) {
    let zeros = |shape: Shape| T::zeros(shape.storage(), (device, DType::F32));
    (zeros([n, 1, SIDE, SIDE].into()), zeros([n, CLASSES].into()))
}

impl DeviceSplit {
    /// The first `limit` images of `set` (all with 0), uploaded at once.
    pub(crate) fn upload(set: &ImageSet, limit: usize, device: &Device) -> Self {
        let mut upload = SplitUpload::new(set, limit, device);
        upload.advance(usize::MAX, device);
        upload.finish(device)
    }

    pub(crate) fn len(&self) -> usize {
        self.labels.len()
    }

    /// The images and targets at `indices`, gathered on the device.
    pub(crate) fn gather(&self, indices: &[usize], device: &Device) -> (T, T) {
        let ids: Vec<i64> = indices.iter().map(|&i| i as i64).collect();
        let ids = Tensor::<1, Int>::from_data(TensorData::new(ids, [indices.len()]), device);
        (self.images.clone().select(0, ids.clone()), self.targets.clone().select(2, ids))
    }

    /// A contiguous run of images and targets (evaluation chunks).
    fn range(&self, start: usize, len: usize) -> (T, T) {
        (self.images.clone().narrow(0, start, len), self.targets.clone().narrow(2, start, len))
    }
}

/// Pixels as stored (0–255, ink high) as the networks see them: 0 to 1.
fn unit_pixels(pixels: &[u8]) -> Vec<f32> {
    pixels.iter().map(|&p| unit_pixel(p)).collect()
}

fn unit_pixel(p: u8) -> f32 {
    p as f32 / 255.0
}

fn one_hot(labels: &[u8]) -> Vec<f32> {
    let mut out = vec![0.0; labels.len() * CLASSES];
    for (i, &l) in labels.iter().enumerate() {
        out[i * CLASSES + (l as usize).min(CLASSES - 1)] = 1.0;
    }
    out
}

/// Loss, accuracy and the confusion matrix over a split.
#[derive(Clone, Debug, PartialEq)]
pub struct Metrics {
    /// Mean cross-entropy.
    pub loss: f64,
    /// Share of images classified right, 0 to 1.
    pub accuracy: f64,
    /// `confusion[true][predicted]` counts.
    pub confusion: [[u32; CLASSES]; CLASSES],
    /// The predicted class of every image, in split order.
    pub predictions: Vec<u8>,
}

/// A chunk's evaluation, enqueued on the device and not read yet.
pub struct PendingChunk {
    /// Mean loss over the chunk (scalar).
    loss: T,
    /// `[len, 10]` logits.
    logits: T,
    start: usize,
    len: usize,
}

/// Accumulates chunks into [`Metrics`].
#[derive(Clone, Debug)]
pub struct Evaluation {
    loss_sum: f64,
    predictions: Vec<u8>,
    labels: Vec<u8>,
}

impl Evaluation {
    /// An empty accumulator for a split of these labels.
    fn new(labels: &[u8]) -> Self {
        Self { loss_sum: 0.0, predictions: Vec::with_capacity(labels.len()), labels: labels.to_vec() }
    }

    /// Reads a chunk back (async) and adds it.
    pub async fn add(&mut self, chunk: PendingChunk) -> Result<(), EngineError> {
        let mut parts = read_many(vec![chunk.loss, chunk.logits]).await?.into_iter();
        let (loss, logits) = (parts.next().expect("loss")[0], parts.next().expect("logits"));
        if !loss.is_finite() {
            return Err(EngineError::NotFinite);
        }
        debug_assert_eq!(chunk.start, self.predictions.len());
        self.loss_sum += loss * chunk.len as f64;
        self.predictions.extend(logits.chunks(CLASSES).map(argmax));
        Ok(())
    }

    /// Images evaluated so far.
    pub fn done(&self) -> usize {
        self.predictions.len()
    }

    /// The metrics of what was added.
    pub fn metrics(&self) -> Metrics {
        let n = self.predictions.len().max(1);
        let mut confusion = [[0u32; CLASSES]; CLASSES];
        let mut right = 0;
        for (&p, &t) in self.predictions.iter().zip(&self.labels) {
            confusion[t as usize][p as usize] += 1;
            right += (p == t) as usize;
        }
        Metrics { loss: self.loss_sum / n as f64, accuracy: right as f64 / n as f64, confusion, predictions: self.predictions.clone() }
    }
}

/// Index of the largest value (the first, on ties).
pub fn argmax(row: &[f64]) -> u8 {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best as u8
}

/// What a pass's last batch is when the batch size does not divide the training set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LastBatch {
    /// The images left, fewer than a batch (the classifier sees every image each epoch).
    Short,
    /// Dropped: every batch is whole (the GAN's discriminator compares equal batches).
    Dropped,
}

/// Batches of a training set's indices, in a fresh shuffled order each pass (the seed's batches
/// stream; the first order is drawn at once).
pub(crate) struct EpochOrder {
    order: Vec<usize>,
    cursor: usize,
    rng: Rng,
    last: LastBatch,
}

impl EpochOrder {
    pub(crate) fn new(len: usize, seed: u64, last: LastBatch) -> Self {
        let mut order = Self { order: (0..len).collect(), cursor: 0, rng: Rng::new(seed, Stream::Batches), last };
        order.rng.shuffle(&mut order.order);
        order
    }

    /// The next batch's indices (at most `batch`, and at most the set).
    pub(crate) fn next(&mut self, batch: usize) -> Vec<usize> {
        let len = self.order.len();
        let batch = batch.min(len);
        let needed = match self.last {
            LastBatch::Short => 1,
            LastBatch::Dropped => batch,
        };
        if self.cursor + needed > len {
            self.order = (0..len).collect();
            self.rng.shuffle(&mut self.order);
            self.cursor = 0;
        }
        let end = (self.cursor + batch).min(len);
        let indices = self.order[self.cursor..end].to_vec();
        self.cursor = end;
        indices
    }
}

/// Trains an image classifier one batch at a time on one device.
pub struct ImageTrainer {
    /// The experiment.
    pub config: ImageConfig,
    /// The network.
    pub model: ImageModel,
    /// Its optimizer.
    pub optimizer: Optimizer,
    /// Steps done.
    pub step: u64,
    device: Device,
    train: DeviceSplit,
    test: DeviceSplit,
    /// The training images on the host, kept only to augment them.
    augment_from: Option<ImageSet>,
    order: EpochOrder,
    dropout_rng: Rng,
    augment_rng: Rng,
    /// Since the last [`ImageTrainer::take_epoch_means`]: the batch losses' sum and the right
    /// answers' count (on the device), batches and images.
    epoch_sums: Option<EpochSums>,
}

/// Running sums of the training batches (on the device: nothing is read back per step).
struct EpochSums {
    loss: T,
    right: T,
    batches: usize,
    images: usize,
}

/// How many rows of `logits` pick their target's class (`[1]`, on the device): argmax of the
/// logits against argmax of the one-hot targets, over the last axis.
fn right_answers(logits: &T, targets: &T) -> T {
    logits.clone().argmax(3).equal(targets.clone().argmax(3)).float().sum().reshape([1, 1, 1, 1])
}

/// An [`ImageTrainer`] whose images are still on their way to the device, a slice at a time (see
/// [`SplitUpload`]): the page uploads a slice per frame and then finishes it.
pub struct PendingTrainer<'a> {
    config: ImageConfig,
    data: &'a ImageData,
    device: Device,
    train: SplitUpload<'a>,
    test: SplitUpload<'a>,
}

impl PendingTrainer<'_> {
    /// Uploads up to `images` more images (the training split first); true once all are there.
    pub fn upload(&mut self, images: usize) -> bool {
        let (done, total) = self.train.progress();
        let to_train = images.min(total - done);
        let train = self.train.advance(to_train, &self.device);
        let test = self.test.advance(images - to_train, &self.device);
        train && test
    }

    /// Images uploaded so far and in all, both splits.
    pub fn progress(&self) -> (usize, usize) {
        let ((a, b), (c, d)) = (self.train.progress(), self.test.progress());
        (a + c, b + d)
    }

    /// Builds the model and its optimizer, once [`PendingTrainer::upload`] has returned true.
    pub fn finish(self) -> ImageTrainer {
        let Self { config, data, device, train, test } = self;
        let (train, test) = (train.finish(&device), test.finish(&device));
        ImageTrainer::with_data(config, data, &device, train, test)
    }
}

impl ImageTrainer {
    /// Uploads the data and builds the model and optimizer for a validated config.
    pub fn new(config: ImageConfig, data: &ImageData, device: &Device) -> Result<Self, ConfigError> {
        let mut pending = Self::begin(config, data, device)?;
        pending.upload(usize::MAX);
        Ok(pending.finish())
    }

    /// Validates the config and allocates the data on the device; the images are uploaded by
    /// [`PendingTrainer::upload`], a slice at a time.
    pub fn begin<'a>(config: ImageConfig, data: &'a ImageData, device: &Device) -> Result<PendingTrainer<'a>, ConfigError> {
        validate_image(&config)?;
        Ok(PendingTrainer {
            train: SplitUpload::new(&data.train, config.train_limit, device),
            test: SplitUpload::new(&data.test, 0, device),
            config,
            data,
            device: device.clone(),
        })
    }

    fn with_data(config: ImageConfig, data: &ImageData, device: &Device, train: DeviceSplit, test: DeviceSplit) -> Self {
        let model = ImageModel::init(config.arch(), config.preset.init(), config.seed, device, Precision::F32);
        let mut opt = OptimizerConfig::new(config.optimizer, config.lr);
        opt.momentum = config.momentum;
        if config.preset == Preset::MlpKeras {
            // Keras' Adam: ε = 1e-7.
            opt.eps = 1e-7;
        }
        let augment_from = config.augment.then(|| data.train.clone());
        Self {
            step: 0,
            model,
            optimizer: Optimizer::new(opt),
            device: device.clone(),
            order: EpochOrder::new(train.len(), config.seed, LastBatch::Short),
            dropout_rng: Rng::new(config.seed, Stream::Dropout),
            augment_rng: Rng::new(config.seed, Stream::Augment),
            train,
            test,
            augment_from,
            epoch_sums: None,
            config,
        }
    }

    /// Training images.
    pub fn train_len(&self) -> usize {
        self.train.len()
    }

    /// Test images.
    pub fn test_len(&self) -> usize {
        self.test.len()
    }

    /// Images in a full batch (the batch size, or the whole training set when it is smaller).
    pub fn batch_len(&self) -> usize {
        self.config.batch_size.min(self.train_len())
    }

    /// Batches per epoch (the last may be smaller).
    pub fn steps_per_epoch(&self) -> usize {
        self.train.len().div_ceil(self.config.batch_size)
    }

    /// Epochs done, with the fraction of the current one.
    pub fn epoch(&self) -> f64 {
        self.step as f64 / self.steps_per_epoch() as f64
    }

    /// The device it trains on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The next batch's images and targets, on the device.
    fn next_batch(&mut self) -> (T, T, usize) {
        let indices = self.order.next(self.config.batch_size);
        let n = indices.len();
        match &self.augment_from {
            None => {
                let (x, y) = self.train.gather(&indices, &self.device);
                (x, y, n)
            }
            Some(set) => {
                let mut pixels = vec![0u8; n * SIDE * SIDE];
                for (k, &i) in indices.iter().enumerate() {
                    Augment::DIGITS.apply(set.image(i), SIDE, SIDE, &mut self.augment_rng, &mut pixels[k * SIDE * SIDE..(k + 1) * SIDE * SIDE]);
                }
                let x = unit_pixels(&pixels);
                let labels: Vec<u8> = indices.iter().map(|&i| set.labels[i]).collect();
                let x = tensor(&x, [n, 1, SIDE, SIDE], &self.device, Precision::F32);
                let y = tensor(&one_hot(&labels), [n, CLASSES], &self.device, Precision::F32);
                (x, y, n)
            }
        }
    }

    /// Records one training step's forward pass on a tape of the given mode (the stepper uses a
    /// trace; training a train-mode tape). Returns the tape, the model's nodes and the loss (with
    /// the weight penalty, if any).
    pub fn record_step(&mut self, mode: Mode) -> (Tape, ImageNodes, usize) {
        let (tape, nodes, _, loss) = self.record(mode);
        (tape, nodes, loss)
    }

    /// [`ImageTrainer::record_step`], with the data loss's node (the cross-entropy, before the
    /// penalty is added).
    fn record(&mut self, mode: Mode) -> (Tape, ImageNodes, usize, usize) {
        let (x, y, n) = self.next_batch();
        let mut tape = Tape::with_mode(mode);
        let xn = tape.leaf(Leaf::Input, Tag::of(Role::Input), x, [n, 1, SIDE, SIDE]);
        let yn = tape.leaf(Leaf::Constant, Tag::of(Role::Target), y, [n, CLASSES]);
        let nodes = self.model.forward(&mut tape, xn, Phase::Train(&mut self.dropout_rng));
        let data = tape.apply(Op::SoftmaxCrossEntropy, &[nodes.logits, yn], Tag::of(Role::Loss));
        let weights: Vec<usize> = self.model.arch.tags().iter().zip(&nodes.params).filter(|(t, _)| t.role == Role::Weight).map(|(_, &p)| p).collect();
        let loss = super::penalised(&mut tape, data, &weights, self.config.regularization, self.config.reg_rate);
        self.model.update_running_stats(&tape, &nodes);
        (tape, nodes, data, loss)
    }

    /// One optimisation step on the next batch. Returns the batch's loss (not read back).
    pub fn train_step(&mut self) -> T {
        let (tape, _, loss) = self.step_on(Mode::Train);
        tape.value(loss).clone()
    }

    /// A slice of training: steps until step `until` or until `go_on` (asked after each step)
    /// says stop — one step at least. Returns the last batch's loss (not read back) and the steps
    /// taken. The page's slices and its worker's are this loop with their own clocks.
    pub fn train_until(&mut self, until: u64, mut go_on: impl FnMut() -> bool) -> (T, u32) {
        let mut steps = 0;
        loop {
            let loss = self.train_step();
            steps += 1;
            if self.step >= until || !go_on() {
                return (loss, steps);
            }
        }
    }

    /// One optimisation step on the next batch, recorded on a tape of the given mode (the
    /// stepper's trace keeps every value and gradient): the parameters, optimizer, step count
    /// and epoch loss advance exactly as [`ImageTrainer::train_step`]'s. Returns the tape after
    /// backward, the model's nodes and the loss node.
    pub fn step_on(&mut self, mode: Mode) -> (Tape, ImageNodes, usize) {
        let (mut tape, nodes, data, loss) = self.record(mode);
        // Scored before the backward frees the logits (with dropout, as Keras' `fit` reports it).
        // The epoch's training loss is the data loss (comparable with the test loss).
        let targets = tape.node(data).inputs[1];
        let right = right_answers(tape.value(nodes.logits), tape.value(targets));
        let images = tape.shape(targets).dims()[0];
        let value = tape.value(data).clone();
        tape.backward(loss);
        let grads = tape.grads_or_zeros(&nodes.params);
        self.optimizer.config.lr = self.config.lr_at(self.step, self.steps_per_epoch());
        self.optimizer.update(&mut self.model.params, &grads);
        self.step += 1;
        self.epoch_sums = Some(match self.epoch_sums.take() {
            Some(s) => EpochSums { loss: s.loss.add(value), right: s.right.add(right), batches: s.batches + 1, images: s.images + images },
            None => EpochSums { loss: value, right, batches: 1, images },
        });
        (tape, nodes, loss)
    }

    /// Since the last call: the mean batch loss and the training accuracy (a fraction of the
    /// images seen), both on the device, and how many batches.
    pub fn take_epoch_means(&mut self) -> Option<(T, T, usize)> {
        self.epoch_sums.take().map(|s| (s.loss.div_scalar(s.batches as f64), s.right.div_scalar(s.images as f64), s.batches))
    }

    /// Starts evaluating a split.
    pub fn evaluation(&self, split: Split) -> Evaluation {
        Evaluation::new(&self.split(split).labels)
    }

    fn split(&self, split: Split) -> &DeviceSplit {
        match split {
            Split::Train => &self.train,
            Split::Test => &self.test,
        }
    }

    /// Enqueues the evaluation of images `start..start + len` of a split (no dropout, batch norm
    /// on running statistics); read it with [`Evaluation::add`].
    pub fn eval_chunk(&self, split: Split, start: usize, len: usize) -> PendingChunk {
        self.eval_chunk_of(&self.model, split, start, len)
    }

    /// [`ImageTrainer::eval_chunk`] of another model of this trainer's architecture (a pruned or
    /// quantized copy).
    pub fn eval_chunk_of(&self, model: &ImageModel, split: Split, start: usize, len: usize) -> PendingChunk {
        let set = self.split(split);
        let len = len.min(set.len().saturating_sub(start));
        let (x, y) = set.range(start, len);
        let mut tape = Tape::with_mode(Mode::Train);
        let xn = tape.leaf(Leaf::Input, Tag::of(Role::Input), x, [len, 1, SIDE, SIDE]);
        let yn = tape.leaf(Leaf::Constant, Tag::of(Role::Target), y, [len, CLASSES]);
        let nodes = model.forward(&mut tape, xn, Phase::Eval);
        let loss = tape.apply(Op::SoftmaxCrossEntropy, &[nodes.logits, yn], Tag::of(Role::Loss));
        PendingChunk { loss: tape.value(loss).clone(), logits: tape.value(nodes.logits).clone(), start, len }
    }

    /// Evaluates a whole split in chunks of `chunk` images (natively; the page interleaves the
    /// chunks with frames).
    pub async fn evaluate(&self, split: Split, chunk: usize) -> Result<Metrics, EngineError> {
        let mut eval = self.evaluation(split);
        let n = self.split(split).len();
        let mut start = 0;
        while start < n {
            eval.add(self.eval_chunk(split, start, chunk)).await?;
            start += chunk;
        }
        Ok(eval.metrics())
    }

    /// The evaluation forward pass of images given on the host (28 × 28 each, 0–255, ink high).
    fn forward_host(&self, pixels: &[u8]) -> (Tape, ImageNodes) {
        let n = pixels.len() / (SIDE * SIDE);
        let shape = [n, 1, SIDE, SIDE];
        let mut tape = Tape::with_mode(Mode::Train);
        let xn = tape.leaf(Leaf::Input, Tag::of(Role::Input), tensor(&unit_pixels(pixels), shape, &self.device, Precision::F32), shape);
        let nodes = self.model.forward(&mut tape, xn, Phase::Eval);
        (tape, nodes)
    }

    /// The convolution's feature maps (`[1, channels, h, w]`, before the activation) for one image
    /// given on the host; the logits for an MLP.
    pub fn conv_maps(&self, pixels: &[u8]) -> T {
        let (tape, nodes) = self.forward_host(pixels);
        tape.value(nodes.conv.unwrap_or(nodes.logits)).clone()
    }

    /// Class probabilities `[n, 10]` for images given on the host: the draw pad's prediction.
    pub fn probabilities(&self, pixels: &[u8]) -> T {
        let (tape, nodes) = self.forward_host(pixels);
        Op::Softmax.forward(&[tape.value(nodes.logits)]).0
    }
}
