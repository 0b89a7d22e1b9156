//! Training: an experiment [`Config`], and the [`Trainer`] that turns it into data, a model and
//! an optimizer on one device and advances it one batch at a time.
//!
//! The trainer never blocks on the device: `train_step` only enqueues work and returns the loss
//! tensor; values are read with `engine::read` (async), so the same code drives the browser's
//! WebGPU path, its CPU path and the native CLI. The same seed and settings give the same data,
//! initial weights, batch order and dropout masks on every backend.

pub mod gan;
mod host;
pub use host::HostTrace;
pub use host::state::PlayState;
pub mod images;
pub mod quality;
pub mod compress;
pub mod schema;
pub mod scores;
pub mod search;
pub mod state_bytes;
pub mod tabular;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::data::{self, DatasetKind, Feature, Point, Task};
use crate::engine::{EngineError, Leaf, NodeId, Op, Optimizer, OptimizerConfig, OptimizerKind, Precision, Rng, Role, Shape, Stream, T, Tag, Tape, read, read_many, tensor};
use crate::models::{Activation, Dropout, Mlp, MlpNodes};

/// Loss for binary classification (the other tasks have one natural loss each).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BinaryLoss {
    /// Binary cross-entropy on one logit; the prediction is σ(z).
    Bce,
    /// TF Playground's: a tanh output against targets ±1, ½·mean squared error.
    Mse,
}

/// Regularisation penalty added to the loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Regularization {
    /// None.
    None,
    /// rate·Σ|w| over the weight matrices.
    L1,
    /// rate·½Σw² over the weight matrices.
    L2,
}

/// Everything that defines a playground experiment. `Default` is the playground's start state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Which dataset.
    pub dataset: DatasetKind,
    /// Number of points generated (train + test).
    pub points: usize,
    /// Noise level, 0 to 0.5.
    pub noise: f64,
    /// Share of the points used for training, 0.1 to 0.9.
    pub train_ratio: f64,
    /// Input features.
    pub features: Vec<Feature>,
    /// Units of each hidden layer (0 to 6 layers of 1 to 16 units).
    pub hidden: Vec<usize>,
    /// Activation of each hidden layer.
    pub activations: Vec<Activation>,
    /// Dropout rate after each hidden layer while training, 0 to 0.9.
    pub dropout: f64,
    /// Regularisation kind.
    pub regularization: Regularization,
    /// Regularisation rate λ.
    pub reg_rate: f64,
    /// Loss used for binary classification.
    pub binary_loss: BinaryLoss,
    /// Update rule.
    pub optimizer: OptimizerKind,
    /// Learning rate.
    pub lr: f64,
    /// Samples per step.
    pub batch_size: usize,
    /// Seed of data, init, batch order and dropout.
    pub seed: u64,
}

impl Default for Config {
    /// The playground's start state: the defaults of the schema ([`schema::SETTINGS`]).
    fn default() -> Self {
        schema::defaults()
    }
}

/// A setting that is not valid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{setting}: {message}")]
pub struct ConfigError {
    /// The setting, by its link/CLI key.
    pub setting: String,
    /// What is wrong.
    pub message: String,
}

impl Config {
    /// Checks every setting against the schema ([`schema::SETTINGS`]: its ranges are the only ones).
    pub fn validate(&self) -> Result<(), ConfigError> {
        schema::validate(self)
    }

    /// This config with the settings that may change while training (optimizer, learning rate,
    /// dropout, regularisation and its rate, batch size) taken from `other`. `other` is a change
    /// that training can carry on through exactly when this equals it.
    pub fn with_live_settings_of(&self, other: &Config) -> Config {
        Config {
            optimizer: other.optimizer,
            lr: other.lr,
            dropout: other.dropout,
            regularization: other.regularization,
            reg_rate: other.reg_rate,
            batch_size: other.batch_size,
            ..self.clone()
        }
    }

    /// Units per layer, inputs first.
    pub fn sizes(&self) -> Vec<usize> {
        let mut sizes = vec![self.features.len()];
        sizes.extend(&self.hidden);
        sizes.push(self.dataset.task().outputs());
        sizes
    }

    /// FLOPs of one training step (a batch): per sample ≈ 3 forward passes of multiply-adds
    /// (forward, input and weight gradients), less the first layer's input gradient, which is
    /// never computed — the count the MNIST page uses too.
    pub fn train_flops_per_step(&self) -> f64 {
        let sizes = self.sizes();
        let macs: usize = sizes.windows(2).map(|w| w[0] * w[1]).sum();
        let first = sizes[0] * sizes.get(1).copied().unwrap_or(0);
        2.0 * (3.0 * macs as f64 - first as f64) * self.batch_size as f64
    }
}

/// Inputs and targets of one split, on the host, ready to upload.
#[derive(Clone, Debug)]
struct Split {
    points: Vec<Point>,
    x: Vec<f32>,
    y: Vec<f32>,
}

impl Split {
    /// Inputs and targets as tensors on `device`.
    fn upload(&self, head: Head, device: &Device, precision: Precision) -> (T, T) {
        let n = self.points.len();
        let features = self.x.len() / n;
        (tensor(&self.x, [n, features], device, precision), tensor(&self.y, [n, head.target_width()], device, precision))
    }
}

/// How targets are encoded and the output read, for the config's task and loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Head {
    /// One logit, BCE; prediction σ(z) = P(class 1).
    Sigmoid,
    /// One tanh output against ±1, MSE; prediction (y+1)/2.
    TanhMse,
    /// k logits, softmax cross-entropy; prediction = softmax.
    Softmax(usize),
    /// One linear output, MSE.
    Linear,
}

impl Head {
    /// The head for a task and binary loss choice.
    pub fn of(task: Task, binary_loss: BinaryLoss) -> Self {
        match (task, binary_loss) {
            (Task::Binary, BinaryLoss::Bce) => Head::Sigmoid,
            (Task::Binary, BinaryLoss::Mse) => Head::TanhMse,
            (Task::MultiClass(k), _) => Head::Softmax(k),
            (Task::Regression, _) => Head::Linear,
        }
    }

    /// Width of the target row.
    fn target_width(&self) -> usize {
        match self {
            Head::Softmax(k) => *k,
            _ => 1,
        }
    }

    /// Encodes a label as a target row.
    fn encode(&self, label: f64, out: &mut Vec<f32>) {
        match self {
            Head::Sigmoid | Head::Linear => out.push(label as f32),
            Head::TanhMse => out.push(if label > 0.5 { 1.0 } else { -1.0 }),
            Head::Softmax(k) => out.extend((0..*k).map(|c| if c as f64 == label { 1.0 } else { 0.0 })),
        }
    }

    /// Records the data loss of `output` against `target` on the tape.
    pub fn loss(&self, tape: &mut Tape, output: NodeId, target: NodeId) -> NodeId {
        match self {
            Head::Sigmoid => tape.apply(Op::BceWithLogits, &[output, target], Tag::of(Role::Loss)),
            Head::TanhMse => {
                let y = tape.apply(Op::Tanh, &[output], Tag::of(Role::Output));
                tape.apply(Op::Mse, &[y, target], Tag::of(Role::Loss))
            }
            Head::Softmax(_) => tape.apply(Op::SoftmaxCrossEntropy, &[output, target], Tag::of(Role::Loss)),
            Head::Linear => tape.apply(Op::Mse, &[output, target], Tag::of(Role::Loss)),
        }
    }

    /// The displayed prediction from the output layer: P(class 1), class probabilities, or the
    /// regression value.
    pub fn predict(&self, output: T) -> T {
        match self {
            Head::Sigmoid => Op::Sigmoid.forward(&[&output]).0,
            Head::TanhMse => Op::Tanh.forward(&[&output]).0.add_scalar(1.0).mul_scalar(0.5),
            Head::Softmax(_) => Op::Softmax.forward(&[&output]).0,
            Head::Linear => output,
        }
    }

    /// [`Head::predict`] on the host, from the output layer's values (rows of `target_width`):
    /// σ and tanh through their ops' host kernels; softmax per row, its largest logit subtracted
    /// first, as burn's does.
    pub fn predict_host(&self, output: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0; output.len()];
        let arg = [crate::engine::HostArg { values: output, shape: Shape::from([output.len(), 1]) }];
        match self {
            Head::Sigmoid => Op::Sigmoid.forward_host(&arg, &mut out),
            Head::TanhMse => {
                Op::Tanh.forward_host(&arg, &mut out);
                out.iter_mut().for_each(|y| *y = (*y + 1.0) * 0.5);
            }
            Head::Softmax(k) => {
                for (row, logits) in out.chunks_mut(*k).zip(output.chunks(*k)) {
                    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let mut sum = 0.0;
                    for (p, &z) in row.iter_mut().zip(logits) {
                        *p = (z - max).exp();
                        sum += *p;
                    }
                    row.iter_mut().for_each(|p| *p /= sum);
                }
            }
            Head::Linear => out.copy_from_slice(output),
        }
        out
    }
}

/// `loss` plus the weight penalty `regularization` at `rate` on each of `weights` (none at rate 0);
/// returns the total-loss node.
pub(crate) fn penalised(tape: &mut Tape, mut loss: NodeId, weights: &[NodeId], regularization: Regularization, rate: f64) -> NodeId {
    let rate = rate as f32;
    let penalty = match regularization {
        Regularization::L1 if rate > 0.0 => Some(Op::L1 { rate }),
        Regularization::L2 if rate > 0.0 => Some(Op::L2 { rate }),
        _ => None,
    };
    if let Some(op) = penalty {
        for &w in weights {
            let p = tape.apply(op, &[w], Tag::layer(Role::Penalty, tape.node(w).tag.layer as usize));
            loss = tape.apply(Op::Add, &[loss, p], Tag::of(Role::Total));
        }
    }
    loss
}

/// The outputs of the network over the heatmap grid, read back to the host.
#[derive(Clone, Debug, Default)]
pub struct GridOutputs {
    /// Grid side.
    pub n: usize,
    /// Prediction per cell (`n·n × outputs`, row-major).
    pub prediction: Vec<f32>,
    /// Per hidden layer, every neuron's activation per cell (`n·n × units`, row-major).
    pub hidden: Vec<Vec<f32>>,
}

/// A host copy of a trainer's parameters at one step: what training falls back on when its
/// device is lost or its loss stops being finite. At first, the initial parameters (computed on
/// the host, so there is one before anything was read from a device).
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// Steps trained when these parameters were current.
    pub step: u64,
    /// Every parameter's values, in `Mlp::names` order.
    pub params: Vec<Vec<f32>>,
    /// The optimizer's state at that step (`None`: start it over).
    pub optimizer: Option<OptimizerState>,
}

/// An optimizer's state read back to the host: its update count (Adam's t) and its tensors in
/// `Optimizer::state_tensors` order (velocities, or Adam's m and v), with their shapes.
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerState {
    /// Updates done.
    pub t: u64,
    /// Each state tensor's values and shape.
    pub tensors: Vec<(Vec<f32>, Shape)>,
}

/// Parameters and losses read back after some steps, for display.
#[derive(Clone, Debug, Default)]
pub struct Readout {
    /// The [`Trainer::id`] of the trainer read: a readout of a trainer since replaced (a rebuild
    /// while the read was in flight) belongs to another network and must not be shown.
    pub trainer: u64,
    /// Step count at the time of the readout.
    pub step: u64,
    /// Data loss on the whole training split.
    pub train_loss: f32,
    /// Data loss on the test split.
    pub test_loss: f32,
    /// Every parameter's values, in `Mlp::names` order.
    pub params: Vec<Vec<f32>>,
    /// The optimizer's state at that step, so that training can carry on elsewhere (a lost GPU)
    /// with it rather than with a fresh one.
    pub optimizer: Option<OptimizerState>,
}

/// What [`Trainer::pending`] gathered for a display: enqueued on the device, not read yet; or, on
/// the host path, the values themselves.
pub struct Pending(Enqueued);

/// Where a [`Pending`]'s values are.
enum Enqueued {
    /// On the trainer's device.
    Device {
        trainer: u64,
        step: u64,
        train_loss: T,
        test_loss: T,
        params: Vec<T>,
        optimizer: (u64, Vec<T>),
        grid: Option<(usize, T, Vec<T>)>,
    },
    /// Already on the host (the host path).
    Host(Readout, Option<GridOutputs>),
}

impl Pending {
    /// Whether its values were taken from the host path's own (nothing to read back).
    pub fn on_host(&self) -> bool {
        matches!(self.0, Enqueued::Host(..))
    }

    /// Reads everything back (async: never blocks the browser) in one transfer: every value is
    /// flattened into one row on the device first, because each readback costs a round trip
    /// (on WebGPU a `mapAsync`), far more than the copy. Non-finite losses are an error.
    pub async fn read(self) -> Result<(Readout, Option<GridOutputs>), EngineError> {
        let (trainer, step, train_loss, test_loss, params, optimizer, grid) = match self.0 {
            Enqueued::Host(readout, _) if !readout.train_loss.is_finite() || !readout.test_loss.is_finite() => {
                return Err(EngineError::NotFinite);
            }
            Enqueued::Host(readout, grid) => return Ok((readout, grid)),
            Enqueued::Device { trainer, step, train_loss, test_loss, params, optimizer, grid } => {
                (trainer, step, train_loss, test_loss, params, optimizer, grid)
            }
        };
        let mut parts = vec![train_loss, test_loss];
        let n_params = params.len();
        parts.extend(params);
        let (t, state) = optimizer;
        let state_dims: Vec<Shape> = state.iter().map(|s| Shape::from(s.dims())).collect();
        parts.extend(state);
        let grid_shape = grid.as_ref().map(|(n, _, hidden)| (*n, hidden.len()));
        if let Some((_, prediction, hidden)) = grid {
            parts.push(prediction);
            parts.extend(hidden);
        }
        let mut pieces = read_many(parts).await?.into_iter().map(|v| v.into_iter().map(|x| x as f32).collect::<Vec<f32>>());
        let mut next = move || pieces.next().expect("one piece per part");
        let (train_loss, test_loss) = (next()[0], next()[0]);
        if !train_loss.is_finite() || !test_loss.is_finite() {
            return Err(EngineError::NotFinite);
        }
        let params = (0..n_params).map(|_| next()).collect();
        let tensors = state_dims.into_iter().map(|dims| (next(), dims)).collect();
        let optimizer = Some(OptimizerState { t, tensors });
        let grid = grid_shape.map(|(n, n_hidden)| {
            let prediction = next();
            let hidden = (0..n_hidden).map(|_| next()).collect();
            GridOutputs { n, prediction, hidden }
        });
        Ok((Readout { trainer, step, train_loss, test_loss, params, optimizer }, grid))
    }
}

/// Which computation the last training step ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepPath {
    /// No step yet.
    None,
    /// The host kernels, through a compiled plan (the CPU path of small nets; see `train::host`).
    Host,
    /// burn's kernels on the trainer's device, and why not the host's.
    Burn(String),
}

/// A training step's loss, not read yet: a number on the host path, a tensor on a device (read
/// asynchronously: never block the browser).
#[derive(Clone, Debug)]
pub enum StepLoss {
    /// Computed by the host kernels.
    Host(f32),
    /// On the trainer's device.
    Device(T),
}

impl StepLoss {
    /// The loss's value.
    pub async fn read(&self) -> Result<f32, EngineError> {
        match self {
            StepLoss::Host(v) => Ok(*v),
            StepLoss::Device(t) => Ok(read(t).await?[0]),
        }
    }

    /// The loss's value, natively (CLI and tests): blocks on a device.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn value(&self) -> f32 {
        crate::engine::block_on(self.read()).expect("readback")
    }
}

/// A model, its optimizer and its data on one device.
///
/// On the CPU, in f32, steps run on the host kernels (`train::host`); `model` and `optimizer`
/// then lag behind until [`Trainer::settle`] (which every reader here calls): outside this crate
/// they are read through [`Trainer::model`] and [`Trainer::optimizer`].
pub struct Trainer {
    /// The experiment.
    pub config: Config,
    /// The network (lags behind host steps: see above).
    pub(crate) model: Mlp,
    /// The optimizer and its state (lags behind host steps: see above).
    pub(crate) optimizer: Optimizer,
    /// Steps (batches) done.
    pub step: u64,
    /// Training samples seen (the batch size may change while training).
    samples: u64,
    id: u64,
    saved: Snapshot,
    head: Head,
    device: Device,
    precision: Precision,
    train: Split,
    test: Split,
    order: Vec<usize>,
    cursor: usize,
    batch_rng: Rng,
    dropout_rng: Rng,
    eval_train: (T, T),
    eval_test: (T, T),
    host: Option<Box<host::HostStep>>,
    path: StepPath,
}

impl Trainer {
    /// Builds data, model and optimizer for `config` on `device`.
    pub fn new(config: Config, device: &Device) -> Result<Self, ConfigError> {
        Self::with_precision(config, device, Precision::F32)
    }

    /// As [`Trainer::new`], in a chosen precision (f64 for checks on the CPU).
    pub fn with_precision(config: Config, device: &Device, precision: Precision) -> Result<Self, ConfigError> {
        Self::build(config, device, precision, None)
    }

    /// A trainer for a hyper-parameter search's trial (`search::PlaygroundSearch`), on the CPU:
    /// `config`'s training points less a `share` of them (drawn with the seed's search stream),
    /// which take the test split's place — the test points are never seen.
    pub fn for_search(config: Config, share: f64) -> Result<Self, ConfigError> {
        Self::build(config, &crate::backend::cpu(), Precision::F32, Some(share))
    }

    fn build(config: Config, device: &Device, precision: Precision, validation: Option<f64>) -> Result<Self, ConfigError> {
        config.validate()?;
        let head = Head::of(config.dataset.task(), config.binary_loss);
        let points = data::generate(config.dataset, config.points, config.noise, config.seed);
        let (train, test) = data::split(points, config.train_ratio, config.seed);
        let (train, test) = match validation {
            None => (train, test),
            Some(_) if train.len() < 2 => {
                return Err(ConfigError { setting: "points".into(), message: format!("a search carves validation points from the training points, and there is {} (more points or a larger training share)", train.len()) });
            }
            Some(share) => {
                let mut train = train;
                // Not the seed's own search stream, which draws the trials' settings.
                Rng::new(config.seed ^ 0x7a11_da7e, Stream::Search).shuffle(&mut train);
                let n = ((train.len() as f64 * share).round() as usize).clamp(1, train.len().saturating_sub(1).max(1));
                let validation = train.split_off(train.len() - n);
                (train, validation)
            }
        };
        let encode = |points: Vec<Point>| {
            let x = data::feature_matrix(points.iter().map(|p| (p.x, p.y)), &config.features);
            let mut y = Vec::new();
            points.iter().for_each(|p| head.encode(p.label, &mut y));
            Split { points, x, y }
        };
        let (train, test) = (encode(train), encode(test));
        // The initial weights are drawn once, on the host: uploaded as the model, kept as the
        // snapshot a lost device or a diverged run falls back on.
        let initial = Mlp::initial_values(&config.sizes(), config.seed);
        let model = Mlp::from_values(&config.sizes(), &config.activations, &initial, device, precision);
        let saved = Snapshot { step: 0, params: initial.iter().map(|p| p.iter().map(|&v| v as f32).collect()).collect(), optimizer: None };
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let optimizer = Optimizer::new(OptimizerConfig::new(config.optimizer, config.lr));
        let eval_train = train.upload(head, device, precision);
        let eval_test = test.upload(head, device, precision);
        let order = (0..train.points.len()).collect();
        Ok(Self {
            model,
            optimizer,
            step: 0,
            samples: 0,
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            saved,
            head,
            device: device.clone(),
            precision,
            train,
            test,
            order,
            cursor: usize::MAX, // shuffle before the first batch
            batch_rng: Rng::new(config.seed, Stream::Batches),
            dropout_rng: Rng::new(config.seed, Stream::Dropout),
            eval_train,
            eval_test,
            host: None,
            path: StepPath::None,
            config,
        })
    }

    /// The device the trainer runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The output head.
    pub fn head(&self) -> Head {
        self.head
    }

    /// Training points.
    pub fn train_points(&self) -> &[Point] {
        &self.train.points
    }

    /// Test points.
    pub fn test_points(&self) -> &[Point] {
        &self.test.points
    }

    /// Epochs done, as a fraction: samples seen / training-set size.
    pub fn epoch(&self) -> f64 {
        self.samples as f64 / self.train.points.len() as f64
    }

    /// The next batch's row indices (reshuffled at each pass over the training set).
    fn next_batch(&mut self) -> Vec<usize> {
        let mut rows = Vec::new();
        self.fill_batch(&mut rows);
        rows
    }

    /// [`Trainer::next_batch`] into a buffer (the host path reuses one).
    fn fill_batch(&mut self, rows: &mut Vec<usize>) {
        let n = self.order.len();
        let size = self.config.batch_size.min(n);
        rows.clear();
        while rows.len() < size {
            if self.cursor >= n {
                self.batch_rng.shuffle(&mut self.order);
                self.cursor = 0;
            }
            rows.push(self.order[self.cursor]);
            self.cursor += 1;
        }
        self.samples += rows.len() as u64;
    }

    /// Records the forward pass and loss (data loss + penalty) of the next batch on a fresh tape,
    /// through burn (the step-by-step view's path). Advances the batch order and dropout streams.
    /// Returns the tape, the model's nodes and the total-loss node.
    pub fn record_step(&mut self) -> (Tape, MlpNodes, NodeId) {
        // The caller updates the model and optimizer from this tape: the host's copy would lag.
        self.leave_host();
        let rows = self.next_batch();
        let f = self.config.features.len();
        let w = self.head.target_width();
        let x: Vec<f32> = rows.iter().flat_map(|&r| self.train.x[r * f..(r + 1) * f].iter().copied()).collect();
        let y: Vec<f32> = rows.iter().flat_map(|&r| self.train.y[r * w..(r + 1) * w].iter().copied()).collect();
        let mut rng = self.dropout_rng.clone();
        let (tape, _, nodes, loss) = self.batch_tape(&x, &y, &mut rng);
        self.dropout_rng = rng;
        (tape, nodes, loss)
    }

    /// Records a training step's forward pass and total loss (data loss + penalty) on a batch of
    /// inputs `x` and targets `y` (row-major), drawing dropout masks from `rng`. Returns the tape,
    /// its input and target leaves, the model's nodes and the total-loss node.
    fn batch_tape(&self, x: &[f32], y: &[f32], rng: &mut Rng) -> (Tape, [NodeId; 2], MlpNodes, NodeId) {
        let (f, w) = (self.config.features.len(), self.head.target_width());
        let rows = x.len() / f;
        let mut tape = Tape::new();
        let xn = tape.leaf(Leaf::Input, Tag::of(Role::Input), tensor(x, [rows, f], &self.device, self.precision), [rows, f]);
        let yn = tape.leaf(Leaf::Constant, Tag::of(Role::Target), tensor(y, [rows, w], &self.device, self.precision), [rows, w]);
        let nodes = self.model.forward(&mut tape, xn, Some(Dropout { rate: self.config.dropout, rng }));
        let loss = self.penalised(&mut tape, &nodes, yn);
        (tape, [xn, yn], nodes, loss)
    }

    /// Records the data loss of `nodes` against `target` plus the weight penalty; returns the
    /// total-loss node.
    fn penalised(&self, tape: &mut Tape, nodes: &MlpNodes, target: NodeId) -> NodeId {
        let loss = self.head.loss(tape, nodes.output, target);
        let weights: Vec<NodeId> = self.model.weight_indices().map(|i| nodes.params[i]).collect();
        penalised(tape, loss, &weights, self.config.regularization, self.config.reg_rate)
    }

    /// One optimisation step on one batch: on the host kernels where they apply (the CPU, f32),
    /// else through burn on the device. Returns the batch's total loss (not read back).
    pub fn train_step(&mut self) -> StepLoss {
        if self.host_ready() {
            return StepLoss::Host(self.host_step());
        }
        let (mut tape, nodes, loss) = self.record_step();
        tape.backward(loss);
        let grads = tape.grads_or_zeros(&nodes.params);
        self.optimizer.update(&mut self.model.params, &grads);
        self.step += 1;
        StepLoss::Device(tape.value(loss).clone())
    }

    /// Which computation the last step ran (a test or a benchmark that means one path checks it
    /// did not silently take the other).
    pub fn path(&self) -> &StepPath {
        &self.path
    }

    /// Our kernels where they apply (the default), or burn's generic path only (the reference a
    /// benchmark or test compares with): see [`Kernels`](crate::engine::Kernels).
    pub fn set_kernels(&mut self, kernels: crate::engine::Kernels) {
        self.leave_host();
        self.path = StepPath::None;
        self.optimizer.kernels = kernels;
    }

    /// The network, with its parameters current.
    pub fn model(&mut self) -> &Mlp {
        self.settle();
        &self.model
    }

    /// The optimizer, with its state current.
    pub fn optimizer(&mut self) -> &Optimizer {
        self.settle();
        &self.optimizer
    }

    /// Parameter paths (`l1.w`, …) and shapes, in order.
    pub fn param_layout(&self) -> (Vec<String>, Vec<[usize; 2]>) {
        (self.model.names(), self.model.shapes())
    }

    /// Data loss (no penalty, no dropout) of the model on the given inputs and targets.
    fn data_loss(&self, split: &(T, T)) -> T {
        let (tape, _, _, loss) = self.loss_tape(split);
        tape.value(loss).clone()
    }

    /// Records the data loss (no dropout, no penalty) of the model on inputs and targets; returns
    /// the tape, its input and target leaves, the model's nodes and the loss node.
    fn loss_tape(&self, (x, y): &(T, T)) -> (Tape, [NodeId; 2], MlpNodes, NodeId) {
        let mut tape = Tape::new();
        let xn = tape.leaf(Leaf::Input, Tag::of(Role::Input), x.clone(), matrix_shape(x));
        let yn = tape.leaf(Leaf::Constant, Tag::of(Role::Target), y.clone(), matrix_shape(y));
        let nodes = self.model.forward(&mut tape, xn, None);
        let loss = self.head.loss(&mut tape, nodes.output, yn);
        (tape, [xn, yn], nodes, loss)
    }

    /// Train and test data loss, read at once where it can be (the host path, or a device that
    /// answers at once: the CPU); else the loss tensors of [`Trainer::losses`], to read back.
    pub fn losses_now(&mut self) -> Result<(f32, f32), (T, T)> {
        if let Some(losses) = self.host_losses() {
            return Ok(losses);
        }
        let (train, test) = self.losses();
        match (host::read_now(&train), host::read_now(&test)) {
            (Some(a), Some(b)) => Ok((a[0], b[0])),
            _ => Err((train, test)),
        }
    }

    /// Train and test data loss, as scalar tensors (not read back): on the host kernels when the
    /// trainer takes that path (so a loss shown is computed as its steps are), else on the device.
    pub fn losses(&mut self) -> (T, T) {
        if let Some((train, test)) = self.host_losses() {
            let scalar = |v: f32| tensor(&[v], Shape::scalar(), &self.device, self.precision);
            return (scalar(train), scalar(test));
        }
        self.settle();
        (self.data_loss(&self.eval_train), self.data_loss(&self.eval_test))
    }

    /// Enqueues everything a display needs — losses, parameters and, with `grid = Some(n)`, the
    /// prediction and every hidden activation over an `n × n` grid — without reading anything.
    /// `Pending::read` then reads it back asynchronously, with no borrow of the trainer held. On
    /// the host path the values are computed here, by the host kernels (the maps' grid through a
    /// plan of its own), and `read` only hands them over.
    pub fn pending(&mut self, grid: Option<usize>) -> Pending {
        // On the host path everything is on the host already: nothing goes through burn (at the
        // playground's frame rate, writing the parameters into burn tensors, reading them back
        // and the grid's forward through burn took ~3 ms of each frame on the default net).
        if let Some((readout, grid)) = self.host_readout(grid) {
            return Pending(Enqueued::Host(readout, grid));
        }
        // The parameters, optimizer state and grid below are read from `model` and `optimizer`.
        self.settle();
        let (train_loss, test_loss) = self.losses();
        let grid = grid.map(|n| {
            let (tape, _, _, nodes) = self.grid_tape(n);
            let prediction = self.head.predict(tape.value(nodes.output).clone());
            let hidden = nodes.hidden.iter().map(|&h| tape.value(h).clone()).collect();
            (n, prediction, hidden)
        });
        let optimizer = (self.optimizer.t, self.optimizer.state_tensors().into_iter().cloned().collect());
        Pending(Enqueued::Device { trainer: self.id, step: self.step, train_loss, test_loss, params: self.model.params.clone(), optimizer, grid })
    }

    /// The network's forward over an `n × n` grid of the plane (no dropout), recorded: the tape,
    /// the grid's input leaf and its values (the points' features, row-major), and the model's nodes.
    fn grid_tape(&self, n: usize) -> (Tape, NodeId, Vec<f32>, MlpNodes) {
        let x = data::feature_matrix(data::grid(n).into_iter(), &self.config.features);
        let mut tape = Tape::new();
        let shape = [n * n, self.config.features.len()];
        let xn = tape.leaf(Leaf::Input, Tag::named(Role::Input, 0, "grid"), tensor(&x, shape, &self.device, self.precision), shape);
        let nodes = self.model.forward(&mut tape, xn, None);
        (tape, xn, x, nodes)
    }

    /// Takes new settings while training: the weights carry on; a new learning rate keeps the
    /// optimizer's state (momentum, Adam's moments and step count), a new optimizer starts its
    /// state afresh. Only the live settings may differ (see [`Config::with_live_settings_of`]);
    /// anything else needs a new trainer.
    pub fn change_settings(&mut self, config: Config) -> Result<(), ConfigError> {
        config.validate()?;
        // The graph (batch size, dropout, penalty) or the optimizer may change: the next step
        // makes the plan again.
        self.leave_host();
        if self.config.with_live_settings_of(&config) != config {
            return Err(ConfigError {
                setting: "settings".into(),
                message: "only the optimizer, learning rate, dropout, regularisation and batch size can change while training".into(),
            });
        }
        if config.optimizer != self.config.optimizer {
            let kernels = self.optimizer.kernels;
            self.optimizer = Optimizer::new(OptimizerConfig::new(config.optimizer, config.lr));
            self.optimizer.kernels = kernels;
        }
        self.optimizer.config.lr = config.lr;
        self.config = config;
        Ok(())
    }

    /// This trainer's identity (unique in the process); readouts carry it.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The parameters training falls back on: the last finite ones read from the device, or the
    /// initial (or loaded) ones before any was read.
    pub fn saved(&self) -> &Snapshot {
        &self.saved
    }

    /// Keeps a readout's parameters as the fall-back, if the readout is this trainer's, of its
    /// shapes, and finite. Returns whether it kept them.
    pub fn keep(&mut self, readout: &Readout) -> bool {
        let fits = readout.params.len() == self.model.params.len()
            && readout.params.iter().zip(self.model.shapes()).all(|(p, [r, c])| p.len() == r * c);
        let finite = readout.params.iter().flatten().all(|v| v.is_finite());
        if readout.trainer != self.id || !fits || !finite {
            return false;
        }
        // The optimizer's state goes with the weights when it is whole and finite.
        let optimizer = readout.optimizer.clone().filter(|o| o.tensors.iter().all(|(v, _)| v.iter().all(|x| x.is_finite())));
        self.saved = Snapshot { step: readout.step, params: readout.params.clone(), optimizer };
        true
    }

    /// Goes back to the saved parameters, on `device` (the same one after a diverged run, the
    /// CPU after a lost GPU): the step count becomes the saved one, and the optimizer's state the
    /// one read with those parameters (it starts over when none was read, or when it no longer
    /// fits: another optimizer chosen since). Needs nothing from the old device, so it works when
    /// that device is gone.
    pub fn restore_saved(&mut self, device: &Device) {
        let Snapshot { step, params, optimizer } = self.saved.clone();
        self.move_to_with(device, &params);
        if let Some(o) = optimizer {
            let state = o.tensors.iter().map(|(v, dims)| tensor(v, *dims, device, self.precision)).collect();
            self.optimizer.restore_state(o.t, state, self.model.params.len());
        }
        self.set_step(step);
    }

    /// Sets the step count (weights from a link or file are at some step; a restore goes back to
    /// one). Samples seen are counted at the current batch size.
    pub fn set_step(&mut self, step: u64) {
        self.step = step;
        self.samples = step * self.config.batch_size as u64;
    }

    /// Moves parameters and optimizer state to another device (via the host), keeping
    /// everything else: used when the user switches backend or the GPU is lost.
    pub async fn move_to(&mut self, device: &Device) -> Result<(), EngineError> {
        self.settle();
        let mut params = Vec::new();
        for (p, shape) in self.model.params.iter().zip(self.model.shapes()) {
            params.push(tensor(&read(p).await?, shape, device, self.precision));
        }
        let mut state = Vec::new();
        for t in self.optimizer.state_tensors() {
            let dims = t.dims();
            state.push(tensor(&read(t).await?, Shape::from(dims), device, self.precision));
        }
        self.restore_on(device, params, state);
        Ok(())
    }

    /// Replaces the parameters with `values` (checked against the model's shapes by the caller:
    /// see `share::weights`); they become the saved snapshot at the current step. Optimizer state
    /// starts over.
    pub fn load_params(&mut self, values: &[Vec<f32>]) -> Result<(), ConfigError> {
        let shapes = self.model.shapes();
        let fits = values.len() == shapes.len() && values.iter().zip(&shapes).all(|(v, [r, c])| v.len() == r * c);
        if !fits || values.iter().flatten().any(|v| !v.is_finite()) {
            return Err(ConfigError {
                setting: "weights".into(),
                message: "they do not fit this network's shapes or are not finite; nothing was loaded".into(),
            });
        }
        let device = self.device.clone();
        self.move_to_with(&device, values);
        self.saved = Snapshot { step: self.step, params: values.to_vec(), optimizer: None };
        Ok(())
    }

    /// As `move_to`, from a host copy of the parameters. Optimizer state is reset.
    fn move_to_with(&mut self, device: &Device, params: &[Vec<f32>]) {
        let params = params.iter().zip(self.model.shapes()).map(|(v, s)| tensor(v, s, device, self.precision)).collect();
        self.restore_on(device, params, Vec::new());
    }

    fn restore_on(&mut self, device: &Device, params: Vec<T>, state: Vec<T>) {
        self.host = None;
        self.path = StepPath::None;
        self.eval_train = self.train.upload(self.head, device, self.precision);
        self.eval_test = self.test.upload(self.head, device, self.precision);
        self.model.params = params;
        self.optimizer.replace_state_tensors(state);
        self.device = device.clone();
    }
}

/// The playground's data: a `[rows, cols]` matrix stored as `[1, 1, rows, cols]`.
fn matrix_shape(t: &T) -> [usize; 2] {
    let [_, _, rows, cols] = t.dims();
    [rows, cols]
}

/// Reads a scalar loss natively (CLI and tests).
#[cfg(not(target_arch = "wasm32"))]
pub fn read_scalar(t: &T) -> f32 {
    crate::engine::block_on(read(t)).expect("readback")[0]
}

/// Parses an optimizer key.
pub fn optimizer_from_key(key: &str) -> Option<OptimizerKind> {
    OptimizerKind::ALL.into_iter().find(|o| o.key() == key)
}
