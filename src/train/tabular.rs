//! The tabular experiment (essay 003): a binary classifier on a user's table, its settings
//! ([`TabularConfig`], one schema table [`TABULAR_SETTINGS`] for defaults, link keys, CLI flags
//! and validation), and the [`TabularTrainer`].
//!
//! The networks are small (tens to hundreds of inputs, a hidden layer of 128) and the batches
//! smaller (the essay's 32), so a step is a few dozen ops on tensors of a few thousand values:
//! burn's per-op cost would dominate. The trainer therefore always runs on the host kernels —
//! the step recorded once on a tape (so its graph is the tape's, node for node), compiled into a
//! [`Plan`], run for every batch — the same f32 arithmetic in wasm and natively, so the page and
//! the CLI agree bit for bit. The parameters and the optimizer's state live on the host.
//!
//! Training follows Keras' `fit`: each epoch reshuffles the training rows (the batches stream)
//! and walks them in batches, the last one short; dropout masks come from the dropout stream.
//! The training loss of an epoch is the mean of its batch losses weighted by their rows (Keras'
//! running average); after each epoch the test split is evaluated (no dropout).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::schema::{Field, REGULARIZATIONS, above_zero, choice, float, int, regularization_key, shown};
use super::compress;
use super::scores::{Confusion, Fairness, auc, fairness, log_loss, roc_curve};
use super::{ConfigError, Regularization};
use crate::backend;
use crate::data::table::Table;
use crate::data::tabular::{Missing, PrepConfig, PrepError, Prepared, prepare};
use crate::engine::{Leaf, NodeId, Op, Optimizer, OptimizerConfig, OptimizerKind, Plan, Precision, Rng, Role, Stream, Tag, Tape, tensor};
use crate::models::{Activation, Dropout, Mlp};

/// A tabular experiment's settings: how the table is prepared, the network, and its training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TabularConfig {
    /// Columns, cleaning and split.
    pub prep: PrepConfig,
    /// Units of each hidden layer (none: logistic regression).
    pub hidden: Vec<usize>,
    /// Dropout rate after each hidden layer while training.
    pub dropout: f64,
    /// Update rule.
    pub optimizer: OptimizerKind,
    /// Learning rate.
    pub lr: f64,
    /// Rows per batch.
    pub batch_size: usize,
    /// Passes over the training split.
    pub epochs: usize,
    /// Weight penalty.
    pub regularization: Regularization,
    /// Its rate λ.
    pub reg_rate: f64,
    /// Seed of the split, init, batch order and dropout.
    pub seed: u64,
}

impl Default for TabularConfig {
    /// The schema's defaults: essay 003's network and training on any table (target: the last
    /// column; features: every other one).
    fn default() -> Self {
        let mut c = TabularConfig {
            prep: PrepConfig {
                target: String::new(),
                positive: None,
                features: None,
                sensitive: None,
                sensitive_as_feature: false,
                missing: Missing::Drop,
                products: Vec::new(),
                categorical: Vec::new(),
                test_fraction: 0.2,
            },
            hidden: vec![128],
            dropout: 0.5,
            optimizer: OptimizerKind::Adam,
            lr: 1e-3,
            batch_size: 32,
            epochs: 10,
            regularization: Regularization::None,
            reg_rate: 0.0,
            seed: 1,
        };
        for s in TABULAR_SETTINGS {
            (s.set)(&mut c, s.default).unwrap_or_else(|e| panic!("default of {}: {e}", s.key));
        }
        c
    }
}

impl TabularConfig {
    /// The Adult census table's choices over the defaults: income above 50K is the positive
    /// class, `sex` is the sensitive column, and the product feature is `age × hours_per_week`
    /// (the essay multiplies two unnamed features; these two are our choice for Adult).
    pub fn adult() -> Self {
        let mut c = Self::default();
        c.prep.positive = Some(">50K".into());
        c.prep.sensitive = Some("sex".into());
        c.prep.products = vec![("age".into(), "hours_per_week".into())];
        c
    }

    /// The baseline beside it: the same data and training with no hidden layer (logistic
    /// regression).
    pub fn baseline(&self) -> Self {
        TabularConfig { hidden: Vec::new(), dropout: 0.0, ..self.clone() }
    }
}

/// One setting of a [`TabularConfig`].
pub type TabularSetting = Field<TabularConfig>;

/// Writes column names as a list: `,` separates, `\` escapes `,`, `*` and itself.
pub fn join_names<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names.into_iter().map(|n| n.replace('\\', "\\\\").replace(',', "\\,").replace('*', "\\*")).collect::<Vec<_>>().join(",")
}

/// Reads a list written by [`join_names`], splitting also at unescaped `sep2` when given (the
/// factors of a product). Empty items are refused.
fn split_names(v: &str, sep: char) -> Result<Vec<String>, String> {
    let mut out = vec![String::new()];
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.last_mut().expect("one item").push(chars.next().ok_or("a list ends with '\\'")?),
            c if c == sep => out.push(String::new()),
            c => out.last_mut().expect("one item").push(c),
        }
    }
    if out.iter().any(String::is_empty) {
        return Err("a list has an empty name in it".into());
    }
    Ok(out)
}

/// Product features as `tab.products` writes them: `a*b,c*d`, names escaped as [`join_names`].
pub fn products_key(products: &[(String, String)]) -> String {
    products.iter().map(|(a, b)| format!("{}*{}", join_names([a.as_str()]), join_names([b.as_str()]))).collect::<Vec<_>>().join(",")
}

fn hidden_key(h: &[usize]) -> String {
    if h.is_empty() { "none".into() } else { h.iter().map(usize::to_string).collect::<Vec<_>>().join(",") }
}

const YES_NO: [bool; 2] = [false, true];
fn yes_no(b: &bool) -> &'static str {
    if *b { "yes" } else { "no" }
}

/// The tabular experiment's schema (keys `tab.*`).
pub static TABULAR_SETTINGS: &[TabularSetting] = &[
    TabularSetting {
        key: "tab.target",
        default: "",
        expected: "the target column's name (empty: the last column)",
        get: |c| c.prep.target.clone(),
        set: |c, v| Ok(c.prep.target = v.to_string()),
    },
    TabularSetting {
        key: "tab.positive",
        default: "",
        expected: "the target's positive value (empty: the rarer value)",
        get: |c| c.prep.positive.clone().unwrap_or_default(),
        set: |c, v| Ok(c.prep.positive = (!v.is_empty()).then(|| v.to_string())),
    },
    TabularSetting {
        key: "tab.features",
        default: "",
        expected: "feature column names, comma-separated (empty: every column but the target and the sensitive one)",
        get: |c| c.prep.features.as_ref().map_or(String::new(), |f| join_names(f.iter().map(String::as_str))),
        set: |c, v| Ok(c.prep.features = if v.is_empty() { None } else { Some(split_names(v, ',')?) }),
    },
    TabularSetting {
        key: "tab.sensitive",
        default: "",
        expected: "the sensitive column's name (empty: none)",
        get: |c| c.prep.sensitive.clone().unwrap_or_default(),
        set: |c, v| Ok(c.prep.sensitive = (!v.is_empty()).then(|| v.to_string())),
    },
    TabularSetting {
        key: "tab.sensitive_feature",
        default: "no",
        expected: "yes or no: whether the sensitive column is also a feature",
        get: |c| yes_no(&c.prep.sensitive_as_feature).into(),
        set: |c, v| Ok(c.prep.sensitive_as_feature = choice(v, &YES_NO, yes_no)?),
    },
    TabularSetting {
        key: "tab.missing",
        default: "drop",
        expected: "drop (rows with a missing value) or impute (median / most frequent)",
        get: |c| c.prep.missing.key().into(),
        set: |c, v| Ok(c.prep.missing = choice(v, &Missing::ALL, Missing::key)?),
    },
    TabularSetting {
        key: "tab.products",
        default: "",
        expected: "product features a*b of two number columns, comma-separated (empty: none)",
        get: |c| products_key(&c.prep.products),
        set: |c, v| {
            let mut products = Vec::new();
            if !v.is_empty() {
                // Split at unescaped ',' keeping escapes, then each at its unescaped '*'.
                let mut item = String::new();
                let mut items = Vec::new();
                let mut chars = v.chars();
                while let Some(ch) = chars.next() {
                    match ch {
                        '\\' => {
                            item.push('\\');
                            item.push(chars.next().ok_or("a list ends with '\\'")?);
                        }
                        ',' => items.push(std::mem::take(&mut item)),
                        ch => item.push(ch),
                    }
                }
                items.push(item);
                for it in items {
                    let [a, b]: [String; 2] = split_names(&it, '*')?.try_into().map_err(|_| format!("'{}' is not of the form a*b", shown(&it)))?;
                    products.push((a, b));
                }
            }
            if products.len() > 10 {
                return Err(format!("{} products is more than 10", products.len()));
            }
            Ok(c.prep.products = products)
        },
    },
    TabularSetting {
        key: "tab.categorical",
        default: "",
        expected: "number columns to read as categories, comma-separated (empty: none)",
        get: |c| join_names(c.prep.categorical.iter().map(String::as_str)),
        set: |c, v| Ok(c.prep.categorical = if v.is_empty() { Vec::new() } else { split_names(v, ',')? }),
    },
    TabularSetting {
        key: "tab.test",
        default: "0.2",
        expected: "the test split's share, 0.05 to 0.5",
        get: |c| format!("{}", c.prep.test_fraction),
        set: |c, v| Ok(c.prep.test_fraction = float(v, 0.05, 0.5)?),
    },
    TabularSetting {
        key: "tab.layers",
        default: "128",
        expected: "0 to 4 comma-separated layer widths from 1 to 512, or 'none' (logistic regression)",
        get: |c| hidden_key(&c.hidden),
        set: |c, v| {
            let hidden: Vec<usize> =
                if v == "none" { vec![] } else { v.split(',').map(|n| int(n, 1, 512).map(|n| n as usize)).collect::<Result<_, _>>()? };
            if hidden.len() > 4 {
                return Err(format!("{} layers is more than 4", hidden.len()));
            }
            Ok(c.hidden = hidden)
        },
    },
    TabularSetting {
        key: "tab.dropout",
        default: "0.5",
        expected: "the dropout rate after each hidden layer, 0 to 0.9",
        get: |c| format!("{}", c.dropout),
        set: |c, v| Ok(c.dropout = float(v, 0.0, 0.9)?),
    },
    TabularSetting {
        key: "tab.opt",
        default: "adam",
        expected: "sgd, momentum or adam",
        get: |c| c.optimizer.key().into(),
        set: |c, v| Ok(c.optimizer = choice(v, &OptimizerKind::ALL, OptimizerKind::key)?),
    },
    TabularSetting {
        key: "tab.lr",
        default: "0.001",
        expected: "the learning rate, above 0 and at most 10",
        get: |c| format!("{}", c.lr),
        set: |c, v| Ok(c.lr = above_zero(v, 10.0, "the learning rate")?),
    },
    TabularSetting {
        key: "tab.batch",
        default: "32",
        expected: "rows per batch, 1 to 4096",
        get: |c| c.batch_size.to_string(),
        set: |c, v| Ok(c.batch_size = int(v, 1, 4096)? as usize),
    },
    TabularSetting {
        key: "tab.epochs",
        default: "10",
        expected: "passes over the training split, 1 to 200",
        get: |c| c.epochs.to_string(),
        set: |c, v| Ok(c.epochs = int(v, 1, 200)? as usize),
    },
    TabularSetting {
        key: "tab.reg",
        default: "none",
        expected: "none, l1 or l2",
        get: |c| regularization_key(&c.regularization).into(),
        set: |c, v| Ok(c.regularization = choice(v, &REGULARIZATIONS, regularization_key)?),
    },
    TabularSetting {
        key: "tab.regrate",
        default: "0",
        expected: "the penalty's rate λ, 0 to 10",
        get: |c| format!("{}", c.reg_rate),
        set: |c, v| Ok(c.reg_rate = float(v, 0.0, 10.0)?),
    },
    TabularSetting {
        key: "tab.seed",
        default: "1",
        expected: "a whole number, 0 to 4294967295",
        get: |c| c.seed.to_string(),
        set: |c, v| Ok(c.seed = int(v, 0, u32::MAX as u64)?),
    },
];

/// Applies `(key, value)` pairs over `config`, in schema order; the first problem is an error
/// naming its key, unknown keys too.
pub fn apply_tabular_settings(config: &mut TabularConfig, pairs: &[(String, String)]) -> Result<(), ConfigError> {
    if let Some((key, _)) = pairs.iter().find(|(k, _)| !TABULAR_SETTINGS.iter().any(|s| s.key == k)) {
        return Err(ConfigError { setting: shown(key), message: "is not a setting of the tabular experiment".into() });
    }
    for s in TABULAR_SETTINGS {
        if let Some((_, v)) = pairs.iter().find(|(k, _)| k == s.key) {
            (s.set)(config, v).map_err(|message| ConfigError { setting: s.key.into(), message })?;
        }
    }
    Ok(())
}

/// Rows a compiled evaluation pass takes at once (the last chunk is padded).
pub const EVAL_ROWS: usize = 256;

/// A compiled forward and backward pass for batches of one size.
#[derive(Clone, Debug)]
struct StepPlan {
    plan: Plan<f32>,
    x: NodeId,
    y: NodeId,
    masks: Vec<NodeId>,
    params: Vec<NodeId>,
    loss: NodeId,
}

/// A compiled forward pass over [`EVAL_ROWS`] rows.
#[derive(Clone, Debug)]
struct EvalPlan {
    plan: Plan<f32>,
    x: NodeId,
    params: Vec<NodeId>,
    output: NodeId,
}

/// What one epoch ended with.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EpochRecord {
    /// Epochs done.
    pub epoch: usize,
    /// Mean training loss of the epoch's batches (with the penalty, with dropout).
    pub train_loss: f64,
    /// Test binary cross-entropy.
    pub test_loss: f64,
    /// Test accuracy at 0.5.
    pub test_accuracy: f64,
    /// Test ROC AUC.
    pub auc: f64,
}

/// Which split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// The training split.
    Train,
    /// The test split.
    Test,
}

/// A binary classifier training on a prepared table (see the module documentation).
#[derive(Clone, Debug)]
pub struct TabularTrainer {
    /// The experiment.
    pub config: TabularConfig,
    /// The prepared data (shared with a baseline trained beside it).
    pub data: Arc<Prepared>,
    /// Units per layer, inputs first.
    pub sizes: Vec<usize>,
    /// Parameters (`l1.w`, `l1.b`, … as [`Mlp::names`]), row-major.
    pub params: Vec<Vec<f32>>,
    state: Vec<Vec<f32>>,
    optimizer: Optimizer,
    /// One plan for full batches, one for the epoch's short last batch.
    plans: Vec<(usize, StepPlan)>,
    eval: Option<EvalPlan>,
    order: Vec<usize>,
    cursor: usize,
    batch_rng: Rng,
    dropout_rng: Rng,
    batch: Vec<usize>,
    /// Steps (batches) taken.
    pub step: u64,
    /// Epochs completed (trained and evaluated).
    pub epochs_done: usize,
    epoch_loss: (f64, usize),
    /// The test split's evaluation after an epoch, while it runs: probabilities so far, and the
    /// epoch's training loss.
    pending: Option<(Vec<f32>, f64)>,
    /// The test probabilities of the last evaluation and the step they were taken at.
    last_test: Option<(u64, Vec<f32>)>,
    /// Pruning masks held while fine-tuning, per weight matrix: pruned weights stay zero.
    masks: Option<Vec<Vec<bool>>>,
    /// One record per completed epoch.
    pub history: Vec<EpochRecord>,
}

/// Why an experiment cannot start.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TabularError {
    /// The table cannot be prepared as asked.
    #[error(transparent)]
    Prep(#[from] PrepError),
    /// A setting is out of range.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

impl TabularTrainer {
    /// Prepares `table` and builds the network (Glorot-uniform weights, zero biases: Keras'
    /// `Dense` defaults) and its optimizer.
    pub fn new(config: TabularConfig, table: &Table) -> Result<Self, TabularError> {
        let data = Arc::new(prepare(table, &config.prep, config.seed)?);
        Ok(Self::on(config, data))
    }

    /// As [`TabularTrainer::new`] on data already prepared (with the same preparation settings):
    /// the baseline shares its model's.
    pub fn on(config: TabularConfig, data: Arc<Prepared>) -> Self {
        let mut sizes = vec![data.width()];
        sizes.extend(&config.hidden);
        sizes.push(1);
        let params = Mlp::initial_values(&sizes, config.seed).into_iter().map(|p| p.into_iter().map(|v| v as f32).collect()).collect();
        let optimizer = Optimizer::new(OptimizerConfig::new(config.optimizer, config.lr));
        let order = (0..data.train.len()).collect();
        Self {
            sizes,
            params,
            state: Vec::new(),
            optimizer,
            plans: Vec::new(),
            eval: None,
            order,
            cursor: usize::MAX,
            batch_rng: Rng::new(config.seed, Stream::Batches),
            dropout_rng: Rng::new(config.seed, Stream::Dropout),
            batch: Vec::new(),
            step: 0,
            epochs_done: 0,
            epoch_loss: (0.0, 0),
            pending: None,
            last_test: None,
            masks: None,
            history: Vec::new(),
            data,
            config,
        }
    }

    /// Floating-point operations of a training step (a full batch): 6 per weight per row (the
    /// forward's multiply-add, and the backward's two for the weight and input gradients), less
    /// the first layer's input gradient, which nobody needs.
    pub fn train_flops_per_step(&self) -> f64 {
        let weights: usize = self.sizes.windows(2).map(|w| w[0] * w[1]).sum();
        let first = self.sizes.get(1).map_or(0, |&h| h * self.sizes[0]);
        (6 * weights - 2 * first) as f64 * self.config.batch_size as f64
    }

    /// Batches per epoch (the last one short).
    pub fn steps_per_epoch(&self) -> usize {
        self.data.train.len().div_ceil(self.config.batch_size)
    }

    /// Steps of the whole run.
    pub fn total_steps(&self) -> u64 {
        (self.steps_per_epoch() * self.config.epochs) as u64
    }

    /// Whether every epoch has run.
    pub fn finished(&self) -> bool {
        self.epochs_done >= self.config.epochs
    }

    /// Epochs done, as a fraction.
    pub fn epoch(&self) -> f64 {
        self.step as f64 / self.steps_per_epoch().max(1) as f64
    }

    /// Records a step's graph for `rows` rows on a tape (zero data; dropout masks from a copy of
    /// the stream, so nothing advances): the graph the plans run.
    pub fn record(&self, rows: usize, train: bool) -> (Tape, NodeId, NodeId, Vec<NodeId>, NodeId) {
        self.record_on(&vec![0.0; rows * self.data.width()], &vec![0.0; rows], train)
    }

    /// [`TabularTrainer::record`] on burn's CPU backend with the data `x` (`[rows, inputs]`) and
    /// targets `y`: returns the tape, its input and target leaves, the parameter leaves, and the
    /// total loss (training) or the output logits (evaluation).
    pub fn record_on(&self, x: &[f32], y: &[f32], train: bool) -> (Tape, NodeId, NodeId, Vec<NodeId>, NodeId) {
        let device = backend::cpu();
        let f = self.data.width();
        let rows = y.len();
        let activations = vec![Activation::Relu; self.config.hidden.len()];
        let values: Vec<Vec<f64>> = self.params.iter().map(|p| p.iter().map(|&v| v as f64).collect()).collect();
        let model = Mlp::from_values(&self.sizes, &activations, &values, &device, Precision::F32);
        let mut tape = Tape::new();
        let x = tape.leaf(Leaf::Input, Tag::of(Role::Input), tensor(x, [rows, f], &device, Precision::F32), [rows, f]);
        let y = tape.leaf(Leaf::Constant, Tag::of(Role::Target), tensor(y, [rows, 1], &device, Precision::F32), [rows, 1]);
        let mut rng = self.dropout_rng.clone();
        let dropout = train.then_some(Dropout { rate: self.config.dropout, rng: &mut rng });
        let nodes = model.forward(&mut tape, x, dropout);
        if !train {
            return (tape, x, y, nodes.params, nodes.output);
        }
        let loss = tape.apply(Op::BceWithLogits, &[nodes.output, y], Tag::of(Role::Loss));
        let weights: Vec<NodeId> = model.weight_indices().map(|i| nodes.params[i]).collect();
        let loss = super::penalised(&mut tape, loss, &weights, self.config.regularization, self.config.reg_rate);
        (tape, x, y, nodes.params, loss)
    }

    fn step_plan(&mut self, rows: usize) -> usize {
        if let Some(i) = self.plans.iter().position(|(r, _)| *r == rows) {
            return i;
        }
        let (tape, x, y, params, loss) = self.record(rows, true);
        let plan = Plan::compile(&tape).expect("the MLP's ops all have host kernels");
        let masks = tape.nodes().iter().enumerate().filter(|(_, n)| n.tag.role == Role::Mask).map(|(id, _)| id).collect();
        self.plans.push((rows, StepPlan { plan, x, y, masks, params, loss }));
        self.plans.len() - 1
    }

    /// The next piece of work: one optimisation step on the next batch, or — after an epoch's
    /// last batch — the test split's evaluation, [`EVAL_ROWS`] rows at a time, after which
    /// [`TabularTrainer::history`] grows. Each piece is short, so a page can run them within a
    /// frame's budget.
    pub fn advance(&mut self) -> Work {
        if self.pending.is_some() {
            return self.evaluate_some();
        }
        if self.finished() {
            return Work::Done;
        }
        Work::Step(self.train_step())
    }

    /// One optimisation step on the next batch; returns its loss. After the epoch's last batch
    /// the test evaluation is pending.
    fn train_step(&mut self) -> f32 {
        let n = self.order.len();
        if self.cursor >= n {
            self.batch_rng.shuffle(&mut self.order);
            self.cursor = 0;
        }
        let rows = self.config.batch_size.min(n - self.cursor);
        self.batch.clear();
        self.batch.extend_from_slice(&self.order[self.cursor..self.cursor + rows]);
        self.cursor += rows;
        let k = self.step_plan(rows);
        let f = self.data.width();
        let rate = self.config.dropout;
        let data = &self.data.train;
        let sp = &mut self.plans[k].1;
        for (dst, &r) in sp.plan.leaf_mut(sp.x).chunks_mut(f).zip(&self.batch) {
            dst.copy_from_slice(&data.x[r * f..(r + 1) * f]);
        }
        for (dst, &r) in sp.plan.leaf_mut(sp.y).iter_mut().zip(&self.batch) {
            *dst = data.y[r];
        }
        for &m in &sp.masks {
            for keep in sp.plan.leaf_mut(m) {
                *keep = if self.dropout_rng.uniform() < rate { 0.0 } else { 1.0 };
            }
        }
        for (&id, p) in sp.params.iter().zip(&self.params) {
            sp.plan.leaf_mut(id).copy_from_slice(p);
        }
        sp.plan.forward();
        sp.plan.backward(sp.loss);
        let grads: Vec<&[f32]> = sp.params.iter().map(|&id| sp.plan.grad(id).unwrap_or(&[])).collect();
        let mut params: Vec<&mut [f32]> = self.params.iter_mut().map(Vec::as_mut_slice).collect();
        self.optimizer.update_host(&mut params, &grads, &mut self.state);
        if let Some(masks) = &self.masks {
            for (w, mask) in params.iter_mut().step_by(2).zip(masks) {
                compress::apply_mask(w, mask);
            }
        }
        let loss = sp.plan.value(sp.loss)[0];
        self.step += 1;
        self.epoch_loss.0 += loss as f64 * rows as f64;
        self.epoch_loss.1 += rows;
        if self.cursor >= n {
            let train_loss = self.epoch_loss.0 / self.epoch_loss.1.max(1) as f64;
            self.epoch_loss = (0.0, 0);
            self.pending = Some((Vec::with_capacity(self.data.test.len()), train_loss));
        }
        loss
    }

    /// Evaluates the next rows of the pending evaluation; at its end, records the epoch.
    fn evaluate_some(&mut self) -> Work {
        let (mut p, train_loss) = self.pending.take().expect("an evaluation is pending");
        let more = self.probabilities_of(Which::Test, p.len(), EVAL_ROWS);
        p.extend(more);
        if p.len() < self.data.test.len() {
            self.pending = Some((p, train_loss));
            return Work::Evaluated(false);
        }
        self.epochs_done += 1;
        let y = &self.data.test.y;
        self.history.push(EpochRecord {
            epoch: self.epochs_done,
            train_loss,
            test_loss: log_loss(&p, y),
            test_accuracy: Confusion::of(&p, y, 0.5).accuracy(),
            auc: auc(&p, y).unwrap_or(f64::NAN),
        });
        self.last_test = Some((self.step, p));
        Work::Evaluated(true)
    }

    /// Trains to the end (the CLI and the tests; the page takes the same pieces in slices).
    pub fn train_to_end(&mut self) {
        while self.advance() != Work::Done {}
    }

    /// P(positive) for rows `start..start + len` of a split, without dropout.
    pub fn probabilities_of(&mut self, which: Which, start: usize, len: usize) -> Vec<f32> {
        if self.eval.is_none() {
            let (tape, x, _, params, output) = self.record(EVAL_ROWS, false);
            let plan = Plan::compile(&tape).expect("the MLP's ops all have host kernels");
            self.eval = Some(EvalPlan { plan, x, params, output });
        }
        let e = self.eval.as_mut().expect("made above");
        for (&id, p) in e.params.iter().zip(&self.params) {
            e.plan.leaf_mut(id).copy_from_slice(p);
        }
        let data = match which {
            Which::Train => &self.data.train,
            Which::Test => &self.data.test,
        };
        let f = self.data.width();
        let end = (start + len).min(data.len());
        let mut out = Vec::with_capacity(end.saturating_sub(start));
        let mut at = start;
        while at < end {
            let rows = EVAL_ROWS.min(end - at);
            let leaf = e.plan.leaf_mut(e.x);
            leaf[..rows * f].copy_from_slice(&data.x[at * f..(at + rows) * f]);
            leaf[rows * f..].fill(0.0);
            e.plan.forward();
            out.extend(e.plan.value(e.output)[..rows].iter().map(|&z| 1.0 / (1.0 + libm::expf(-z))));
            at += rows;
        }
        out
    }

    /// P(positive) for every row of a split.
    pub fn probabilities(&mut self, which: Which) -> Vec<f32> {
        let n = match which {
            Which::Train => self.data.train.len(),
            Which::Test => self.data.test.len(),
        };
        self.probabilities_of(which, 0, n)
    }

    /// The weight matrices (`l1.w`, `l2.w`, …; `[in, out]` row-major), without the biases.
    pub fn weights(&self) -> Vec<&[f32]> {
        self.params.iter().step_by(2).map(Vec::as_slice).collect()
    }

    /// Shapes of the weight matrices.
    pub fn weight_shapes(&self) -> Vec<[usize; 2]> {
        self.sizes.windows(2).map(|p| [p[0], p[1]]).collect()
    }

    /// Replaces the weight matrices (same shapes; the biases stay): what a pruned or quantized
    /// copy evaluates with. Forgets the last evaluation.
    pub fn set_weights(&mut self, weights: Vec<Vec<f32>>) {
        for (p, w) in self.params.iter_mut().step_by(2).zip(weights) {
            assert_eq!(p.len(), w.len(), "a weight matrix of its shape");
            *p = w;
        }
        self.last_test = None;
        self.pending = None;
    }

    /// Prunes to `sparsity` and trains `epochs` more epochs with the mask held (pruned weights
    /// stay zero after every update); with 0 epochs, only prunes.
    pub fn prune(&mut self, sparsity: f64, scope: compress::Scope, epochs: usize) {
        let masks = compress::magnitude_masks(&self.weights(), sparsity, scope);
        let weights = self.weights().iter().zip(&masks).map(|(w, m)| {
            let mut w = w.to_vec();
            compress::apply_mask(&mut w, m);
            w
        }).collect();
        self.set_weights(weights);
        self.masks = Some(masks);
        self.config.epochs = self.epochs_done + epochs;
    }

    /// The weight matrices quantized to int8.
    pub fn quantized(&self, granularity: compress::Granularity) -> Vec<compress::Quantized> {
        self.weights().iter().zip(self.weight_shapes()).map(|(w, shape)| compress::quantize(w, shape, 1, granularity)).collect()
    }

    /// Quantizes the weight matrices and runs on their dequantized values from now on; returns
    /// the int8 matrices (for a file, and their scales' count).
    pub fn quantize(&mut self, granularity: compress::Granularity) -> Vec<compress::Quantized> {
        let q = self.quantized(granularity);
        self.set_weights(q.iter().map(|q| q.dequantize()).collect());
        q
    }

    /// Bytes of the weights as stored ([`compress::stored_bytes`]; `scales`: int8 scales, when
    /// quantized).
    pub fn stored_bytes(&self, scales: Option<usize>) -> usize {
        compress::stored_bytes(&self.weights(), self.sizes[1..].iter().sum(), scales)
    }

    /// The test split's scores for the current weights (from the last evaluation when no step
    /// was taken since).
    pub fn report(&mut self) -> Report {
        let p = match &self.last_test {
            Some((step, p)) if *step == self.step => p.clone(),
            _ => self.probabilities(Which::Test),
        };
        let test = &self.data.test;
        let confusion = Confusion::of(&p, &test.y, 0.5);
        Report {
            test_accuracy: confusion.accuracy(),
            auc: auc(&p, &test.y).unwrap_or(f64::NAN),
            test_loss: log_loss(&p, &test.y),
            confusion,
            roc: roc_curve(&p, &test.y),
            fairness: fairness(&p, &test.y, &test.group, &self.data.groups, 0.5),
            probabilities: p,
        }
    }
}

/// What [`TabularTrainer::advance`] did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Work {
    /// A training step, with its batch's loss.
    Step(f32),
    /// Rows of the test evaluation; `true` when the epoch's record was added.
    Evaluated(bool),
    /// Nothing: every epoch has run.
    Done,
}

/// A trained model's scores on the test split.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// Accuracy at 0.5.
    pub test_accuracy: f64,
    /// ROC AUC.
    pub auc: f64,
    /// Binary cross-entropy.
    pub test_loss: f64,
    /// At 0.5.
    pub confusion: Confusion,
    /// The ROC curve's points.
    #[serde(skip)]
    pub roc: Vec<(f64, f64)>,
    /// Per group of the sensitive column.
    pub fairness: Fairness,
    /// P(positive) per test row.
    #[serde(skip)]
    pub probabilities: Vec<f32>,
}
