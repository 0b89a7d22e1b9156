//! Sharing an experiment as a link: one schema table, [`FIELDS`], drives the defaults, the URL
//! encoding and the validation of every setting (the CLI, the page and links all validate
//! through it).
//!
//! A link is untrusted input. Parsing has two steps: raw `key=value` pairs (percent-decoded,
//! bounded in size), then each known key is parsed, range-checked and applied in table order on
//! top of the defaults. A bad value never aborts the parse: it becomes a [`Problem`] naming the
//! key, what was wrong and what was used instead, and the default stays. Unknown keys are
//! reported too. Nothing here can panic on any input (fuzzed in the tests).
//!
//! Links are versioned (`v=1`) and write every key, so a link replays the same experiment even
//! after defaults change in a later version.

pub mod weights;

use serde::{Deserialize, Serialize};

use crate::backend::BackendKind;
use crate::data::{DatasetKind, Feature, Task};
use crate::engine::OptimizerKind;
use crate::models::Activation;
use crate::train::{BinaryLoss, Config, Regularization};

/// The link format's version; bump it when the meaning of an existing key changes.
pub const VERSION: u32 = 1;

/// Longest link (the part after `#`) we read; longer ones are refused with a message.
pub const MAX_LINK: usize = 8 * 1024;

/// Largest experiment or weights file we open (32 MiB); a larger one is refused by its size,
/// before it is read into memory.
pub const MAX_FILE: usize = 32 << 20;

/// Refuses a file by its size (in bytes, as the browser reports it) before it is read.
pub fn check_file_size(bytes: f64) -> Result<(), String> {
    if bytes.is_finite() && bytes <= MAX_FILE as f64 {
        return Ok(());
    }
    Err(format!("it is {:.1} MB, more than the {} MB a file may have here", bytes / 1e6, MAX_FILE >> 20))
}

/// Which backend the link asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// Measure at start-up and pick the faster.
    #[default]
    Auto,
    /// Always the CPU path.
    Cpu,
    /// WebGPU where available.
    Webgpu,
}

impl BackendChoice {
    /// The backend forced, if any.
    pub fn forced(&self) -> Option<BackendKind> {
        match self {
            BackendChoice::Auto => None,
            BackendChoice::Cpu => Some(BackendKind::Cpu),
            BackendChoice::Webgpu => Some(BackendKind::Gpu),
        }
    }
}

/// Which page a link opens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Page {
    /// The playground.
    #[default]
    Play,
    /// The step-by-step view of one training step.
    Step,
}

/// What the step-by-step view shows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    /// The page.
    pub page: Page,
    /// A stepper preset's key (`None`: the playground's network and its next batch).
    pub preset: Option<String>,
    /// The stage shown, counted from 0.
    pub stage: u32,
}

/// The settings that can change while training without a reset (the weights, and for a new
/// learning rate the optimizer state, carry on); each change is recorded in the link's `changes`.
/// Everything else (data, features, architecture, loss, seed) starts training afresh.
/// Must name exactly the fields `Config::with_live_settings_of` copies (a test checks it).
pub const LIVE_KEYS: [&str; 6] = ["opt", "lr", "dropout", "reg", "regrate", "batch"];

/// Most changes a link records.
pub const MAX_CHANGES: usize = 200;

/// A setting changed while training: after `step` steps (before step `step + 1`), `key` became
/// `value` (as written in a link).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Steps trained when the change was made.
    pub step: u64,
    /// One of [`LIVE_KEYS`].
    pub key: String,
    /// The new value, in the link's terms.
    pub value: String,
}

/// Everything a link carries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShareState {
    /// The experiment as it started (step 0); `changes` says what changed since.
    pub config: Config,
    /// Backend preference.
    pub backend: BackendChoice,
    /// Steps trained so far: opening the link trains this many steps with the same seed.
    pub steps: u64,
    /// Settings changed while training, in step order: replaying applies each at its step.
    #[serde(default)]
    pub changes: Vec<Change>,
    /// A snapshot of the parameters (f16 in the link), in the model's order. When present the
    /// link opens this model as is instead of replaying `steps`.
    #[serde(default)]
    pub weights: Option<Vec<Vec<f32>>>,
    /// The page, and what the stepper shows.
    #[serde(default)]
    pub view: View,
}

impl Default for ShareState {
    fn default() -> Self {
        let mut state =
            ShareState { config: skeleton(), backend: BackendChoice::Auto, steps: 0, changes: Vec::new(), weights: None, view: View::default() };
        for field in FIELDS {
            // The defaults are part of the table; a default that does not parse is a bug.
            (field.set)(&mut state, field.default).unwrap_or_else(|e| panic!("default of {}: {e}", field.key));
        }
        state
    }
}

/// A config with every field set, to be overwritten by the table's defaults.
fn skeleton() -> Config {
    Config {
        dataset: DatasetKind::Circle,
        points: 500,
        noise: 0.0,
        train_ratio: 0.5,
        features: vec![Feature::X1, Feature::X2],
        hidden: vec![],
        activations: vec![],
        dropout: 0.0,
        regularization: Regularization::None,
        reg_rate: 0.0,
        binary_loss: BinaryLoss::Bce,
        optimizer: OptimizerKind::Sgd,
        lr: 0.03,
        batch_size: 10,
        seed: 1,
    }
}

/// One setting: its key, default, how to write it and how to read it back (with range checks).
pub struct Field {
    /// The URL key.
    pub key: &'static str,
    /// The default value, as written in a link.
    pub default: &'static str,
    /// What a valid value looks like (shown in messages).
    pub expected: &'static str,
    /// Writes the current value.
    pub get: fn(&ShareState) -> String,
    /// Parses, checks and applies a value; `Err` says what is wrong.
    pub set: fn(&mut ShareState, &str) -> Result<(), String>,
}

fn float(v: &str, min: f64, max: f64) -> Result<f64, String> {
    let x: f64 = v.parse().map_err(|_| format!("'{v}' is not a number"))?;
    if !x.is_finite() {
        return Err(format!("'{v}' is not a finite number"));
    }
    if x < min || x > max {
        return Err(format!("{x} is out of range"));
    }
    Ok(x)
}

fn int(v: &str, min: u64, max: u64) -> Result<u64, String> {
    let x: u64 = v.parse().map_err(|_| format!("'{v}' is not a whole number"))?;
    if x < min || x > max {
        return Err(format!("{x} is out of range"));
    }
    Ok(x)
}

fn choice<X: Copy>(v: &str, all: &[X], key: fn(&X) -> &'static str) -> Result<X, String> {
    // The valid keys are listed once, by the caller ("expected …").
    all.iter().copied().find(|x| key(x) == v).ok_or_else(|| format!("'{}' is not one of the choices", shown(v)))
}

/// Formats a float the shortest way that reads back to the same value.
fn num(x: f64) -> String {
    format!("{x}")
}

const REGULARIZATIONS: [Regularization; 3] = [Regularization::None, Regularization::L1, Regularization::L2];
const BINARY_LOSSES: [BinaryLoss; 2] = [BinaryLoss::Bce, BinaryLoss::Mse];
const BACKENDS: [BackendChoice; 3] = [BackendChoice::Auto, BackendChoice::Cpu, BackendChoice::Webgpu];

fn regularization_key(r: &Regularization) -> &'static str {
    match r {
        Regularization::None => "none",
        Regularization::L1 => "l1",
        Regularization::L2 => "l2",
    }
}

fn binary_loss_key(l: &BinaryLoss) -> &'static str {
    match l {
        BinaryLoss::Bce => "bce",
        BinaryLoss::Mse => "mse",
    }
}

const PAGES: [Page; 2] = [Page::Play, Page::Step];

fn page_key(p: &Page) -> &'static str {
    match p {
        Page::Play => "play",
        Page::Step => "step",
    }
}

fn preset_keys() -> Vec<&'static str> {
    std::iter::once("none").chain(crate::stepper::PRESETS.iter().map(|p| p.key)).collect()
}

fn backend_key(b: &BackendChoice) -> &'static str {
    match b {
        BackendChoice::Auto => "auto",
        BackendChoice::Cpu => "cpu",
        BackendChoice::Webgpu => "webgpu",
    }
}

/// The schema: every shareable setting, in the order links are written and applied. (`layers`
/// comes before `act`, which must match it.)
pub static FIELDS: &[Field] = &[
    Field {
        key: "dataset",
        default: "circle",
        expected: "circle, xor, gauss, spiral, spiral3, plane or multigauss",
        get: |s| s.config.dataset.key().into(),
        set: |s, v| Ok(s.config.dataset = choice(v, &DatasetKind::ALL, DatasetKind::key)?),
    },
    Field {
        key: "points",
        default: "500",
        expected: "a whole number from 10 to 5000",
        get: |s| s.config.points.to_string(),
        set: |s, v| Ok(s.config.points = int(v, 10, 5000)? as usize),
    },
    Field {
        key: "noise",
        default: "0",
        expected: "a number from 0 to 0.5",
        get: |s| num(s.config.noise),
        set: |s, v| Ok(s.config.noise = float(v, 0.0, 0.5)?),
    },
    Field {
        key: "ratio",
        default: "0.5",
        expected: "the training share, from 0.1 to 0.9",
        get: |s| num(s.config.train_ratio),
        set: |s, v| Ok(s.config.train_ratio = float(v, 0.1, 0.9)?),
    },
    Field {
        key: "features",
        default: "x1,x2",
        expected: "a comma-separated list of x1, x2, x1sq, x2sq, x1x2, sinx1, sinx2 (at least one, no repeats)",
        get: |s| s.config.features.iter().map(Feature::key).collect::<Vec<_>>().join(","),
        set: |s, v| {
            let mut out: Vec<Feature> = Vec::new();
            for part in v.split(',') {
                let f = choice(part, &Feature::ALL, Feature::key)?;
                if out.contains(&f) {
                    return Err(format!("'{part}' appears twice"));
                }
                out.push(f);
            }
            out.sort_by_key(|f| Feature::ALL.iter().position(|g| g == f));
            Ok(s.config.features = out)
        },
    },
    Field {
        key: "layers",
        default: "4,2",
        expected: "0 to 6 comma-separated neuron counts from 1 to 16, or 'none'",
        get: |s| {
            if s.config.hidden.is_empty() { "none".into() } else { s.config.hidden.iter().map(usize::to_string).collect::<Vec<_>>().join(",") }
        },
        set: |s, v| {
            let hidden: Vec<usize> = if v == "none" {
                vec![]
            } else {
                v.split(',').map(|n| int(n, 1, 16).map(|n| n as usize)).collect::<Result<_, _>>()?
            };
            if hidden.len() > 6 {
                return Err(format!("{} layers is more than 6", hidden.len()));
            }
            // Keep one activation per layer: the last one repeats for added layers.
            let last = s.config.activations.last().copied().unwrap_or(Activation::Tanh);
            s.config.activations.resize(hidden.len(), last);
            s.config.hidden = hidden;
            Ok(())
        },
    },
    Field {
        key: "act",
        default: "tanh",
        expected: "relu, leakyrelu, tanh, sigmoid or linear: one for every layer, or one per layer",
        get: |s| {
            let a = &s.config.activations;
            if a.windows(2).all(|w| w[0] == w[1]) {
                a.first().unwrap_or(&Activation::Tanh).key().into()
            } else {
                a.iter().map(Activation::key).collect::<Vec<_>>().join(",")
            }
        },
        set: |s, v| {
            let acts = v.split(',').map(|a| choice(a, &Activation::ALL, Activation::key)).collect::<Result<Vec<_>, _>>()?;
            let layers = s.config.hidden.len();
            s.config.activations = match acts.len() {
                1 => vec![acts[0]; layers],
                n if n == layers => acts,
                n => return Err(format!("{n} activations for {layers} hidden layers")),
            };
            Ok(())
        },
    },
    Field {
        key: "dropout",
        default: "0",
        expected: "a number from 0 to 0.9",
        get: |s| num(s.config.dropout),
        set: |s, v| Ok(s.config.dropout = float(v, 0.0, 0.9)?),
    },
    Field {
        key: "reg",
        default: "none",
        expected: "none, l1 or l2",
        get: |s| regularization_key(&s.config.regularization).into(),
        set: |s, v| Ok(s.config.regularization = choice(v, &REGULARIZATIONS, regularization_key)?),
    },
    Field {
        key: "regrate",
        default: "0",
        expected: "a number from 0 to 1",
        get: |s| num(s.config.reg_rate),
        set: |s, v| Ok(s.config.reg_rate = float(v, 0.0, 1.0)?),
    },
    Field {
        key: "loss",
        default: "bce",
        expected: "bce or mse for two classes; ce for three classes; mse for regression",
        // The loss the dataset trains with, as the page shows it: only two-class data has a choice.
        get: |s| match s.config.dataset.task() {
            Task::Binary => binary_loss_key(&s.config.binary_loss).into(),
            Task::MultiClass(_) => "ce".into(),
            Task::Regression => "mse".into(),
        },
        set: |s, v| match s.config.dataset.task() {
            Task::Binary => Ok(s.config.binary_loss = choice(v, &BINARY_LOSSES, binary_loss_key)?),
            // Links before this key followed the dataset wrote `bce` for every dataset.
            Task::MultiClass(_) if v == "ce" || v == "bce" => Ok(s.config.binary_loss = BinaryLoss::Bce),
            Task::MultiClass(k) => Err(format!("'{}' is not used: {k}-class data always trains with cross-entropy (ce)", shown(v))),
            Task::Regression if v == "mse" || v == "bce" => Ok(s.config.binary_loss = BinaryLoss::Bce),
            Task::Regression => Err(format!("'{}' is not used: regression data always trains with squared error (mse)", shown(v))),
        },
    },
    Field {
        key: "opt",
        default: "sgd",
        expected: "sgd, momentum or adam",
        get: |s| s.config.optimizer.key().into(),
        set: |s, v| Ok(s.config.optimizer = choice(v, &OptimizerKind::ALL, OptimizerKind::key)?),
    },
    Field {
        key: "lr",
        default: "0.03",
        expected: "a number above 0, at most 10",
        get: |s| num(s.config.lr),
        set: |s, v| {
            let x = float(v, 0.0, 10.0)?;
            if x == 0.0 {
                return Err("the learning rate must be above 0".into());
            }
            Ok(s.config.lr = x)
        },
    },
    Field {
        key: "batch",
        default: "10",
        expected: "a whole number from 1 to 1000",
        get: |s| s.config.batch_size.to_string(),
        set: |s, v| Ok(s.config.batch_size = int(v, 1, 1000)? as usize),
    },
    Field {
        key: "seed",
        default: "1",
        expected: "a whole number from 0 to 4294967295",
        get: |s| s.config.seed.to_string(),
        set: |s, v| Ok(s.config.seed = int(v, 0, u32::MAX as u64)?),
    },
    Field {
        key: "backend",
        default: "auto",
        expected: "auto, cpu or webgpu",
        get: |s| backend_key(&s.backend).into(),
        set: |s, v| Ok(s.backend = choice(v, &BACKENDS, backend_key)?),
    },
    Field {
        key: "steps",
        default: "0",
        expected: "a whole number from 0 to 1000000",
        get: |s| s.steps.to_string(),
        set: |s, v| Ok(s.steps = int(v, 0, 1_000_000)?),
    },
    Field {
        key: "changes",
        default: "none",
        expected: "'none', or STEP_KEY_VALUE entries joined by '+' in step order (KEY: opt, lr, dropout, reg, regrate or batch), e.g. 300_lr_0.01",
        get: |s| {
            if s.changes.is_empty() {
                return "none".into();
            }
            s.changes.iter().map(|c| format!("{}_{}_{}", c.step, c.key, c.value)).collect::<Vec<_>>().join("+")
        },
        set: |s, v| {
            let mut changes = Vec::new();
            if v != "none" {
                for entry in v.split('+') {
                    let mut parts = entry.splitn(3, '_');
                    let (Some(step), Some(key), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
                        return Err(format!("'{}' is not STEP_KEY_VALUE", shown(entry)));
                    };
                    let step = int(step, 0, 1_000_000)?;
                    if !LIVE_KEYS.contains(&key) {
                        return Err(format!("'{}' cannot change while training", shown(key)));
                    }
                    if changes.last().is_some_and(|c: &Change| c.step > step) {
                        return Err("the changes are not in step order".into());
                    }
                    changes.push(Change { step, key: key.to_string(), value: value.to_string() });
                }
            }
            if changes.len() > MAX_CHANGES {
                return Err(format!("{} changes is more than {MAX_CHANGES}", changes.len()));
            }
            // Every change must be valid where it applies.
            let mut config = s.config.clone();
            for c in &changes {
                config = apply_change(&config, c)?;
            }
            s.changes = changes;
            Ok(())
        },
    },
    Field {
        key: "page",
        default: "play",
        expected: "play or step",
        get: |s| page_key(&s.view.page).into(),
        set: |s, v| Ok(s.view.page = choice(v, &PAGES, page_key)?),
    },
    Field {
        key: "preset",
        default: "none",
        expected: "none, xor-2-2-1, essay-relu or essay-sigmoid",
        get: |s| s.view.preset.clone().unwrap_or_else(|| "none".into()),
        set: |s, v| {
            let key = choice(v, &preset_keys(), |k| k)?;
            s.view.preset = (key != "none").then(|| key.to_string());
            Ok(())
        },
    },
    Field {
        key: "stage",
        default: "0",
        expected: "a whole number from 0 to 100000 (the stepper's stage, from 0)",
        get: |s| s.view.stage.to_string(),
        set: |s, v| Ok(s.view.stage = int(v, 0, 100_000)? as u32),
    },
];

/// Something in a link that was not used as given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The key (or `link` for the link as a whole).
    pub key: String,
    /// What was wrong and what was used instead.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// The result of reading a link: the state to use, and what was wrong with the link.
#[derive(Clone, Debug)]
pub struct Parsed {
    /// The experiment to open (defaults wherever the link was wrong).
    pub state: ShareState,
    /// Every key that was not used as given.
    pub problems: Vec<Problem>,
}

/// Writes a state as a link fragment (without `#`): `v=1&dataset=…&…`, every key.
pub fn encode(state: &ShareState) -> String {
    let mut out = format!("v={VERSION}");
    for field in FIELDS {
        out.push('&');
        out.push_str(field.key);
        out.push('=');
        out.push_str(&escape(&(field.get)(state)));
    }
    if let Some(w) = &state.weights {
        out.push_str("&w=");
        out.push_str(&weights::to_link(w));
    }
    out
}

/// Shapes of the parameters of the network a config describes (`l1.w`, `l1.b`, …).
pub fn param_shapes(config: &Config) -> Vec<[usize; 2]> {
    crate::models::param_shapes(&config.sizes())
}

/// Names of the parameters of the network a config describes.
pub fn param_names(config: &Config) -> Vec<String> {
    crate::models::param_names(&config.sizes())
}

/// Escapes what a URL fragment cannot hold as is (our values are plain ASCII words and numbers).
fn escape(v: &str) -> String {
    v.chars()
        .flat_map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | ',' | '-' | '_' | '+' => vec![c],
            _ => format!("%{:02X}", c as u32 & 0xff).chars().collect(),
        })
        .collect()
}

/// Percent-decodes; `None` if the result is not UTF-8 or an escape is broken.
fn unescape(v: &str) -> Option<String> {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Shortens untrusted text for a message (and keeps it on one line).
fn shown(v: &str) -> String {
    let clean: String = v.chars().filter(|c| !c.is_control()).take(40).collect();
    if v.chars().count() > 40 { format!("{clean}…") } else { clean }
}

/// Reads a link fragment (with or without the leading `#`). Never fails: problems are reported
/// and the defaults used for the keys they concern.
pub fn decode(fragment: &str) -> Parsed {
    let mut problems = Vec::new();
    let mut state = ShareState::default();
    let fragment = fragment.strip_prefix('#').unwrap_or(fragment);
    if fragment.is_empty() {
        return Parsed { state, problems };
    }
    if fragment.len() > MAX_LINK {
        problems.push(Problem {
            key: "link".into(),
            message: format!("the link is {} bytes, more than the {MAX_LINK} we read; opened the defaults instead", fragment.len()),
        });
        return Parsed { state, problems };
    }
    // Step one: raw pairs. The last value of a repeated key wins, and the repeat is reported.
    let mut raw: Vec<(String, String)> = Vec::new();
    for pair in fragment.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (Some(k), Some(v)) = (unescape(k), unescape(v)) else {
            problems.push(Problem { key: shown(k), message: "broken %-escape; ignored".into() });
            continue;
        };
        if let Some(prev) = raw.iter_mut().find(|(pk, _)| *pk == k) {
            problems.push(Problem { key: shown(&k), message: "given more than once; the last value is used".into() });
            prev.1 = v;
        } else {
            raw.push((k, v));
        }
    }
    // The version: newer links may carry keys this version does not know.
    if let Some((_, v)) = raw.iter().find(|(k, _)| k == "v") {
        match v.parse::<u32>() {
            Ok(VERSION) => {}
            Ok(n) if n > VERSION => problems.push(Problem {
                key: "v".into(),
                message: format!("this link is version {n}, newer than this app ({VERSION}); read what this version understands"),
            }),
            _ => problems.push(Problem { key: "v".into(), message: format!("'{}' is not a link version; read as version {VERSION}", shown(v)) }),
        }
    }
    for (k, _) in &raw {
        if k != "v" && k != "w" && !FIELDS.iter().any(|f| f.key == k) {
            problems.push(Problem { key: shown(k), message: "unknown setting; ignored".into() });
        }
    }
    // Step two: typed, checked values, applied in table order over the defaults.
    for mut problem in apply(&mut state, &raw) {
        if let Some(field) = FIELDS.iter().find(|f| f.key == problem.key) {
            problem.message.push_str(&format!("; using {}", (field.get)(&state)));
        }
        problems.push(problem);
    }
    // Changes after the last step trained never took effect.
    if state.changes.iter().any(|c| c.step > state.steps) {
        problems.push(Problem { key: "changes".into(), message: format!("changes after step {} were ignored", state.steps) });
        state.changes.retain(|c| c.step <= state.steps);
    }
    // A short link names just a preset (`#preset=essay-relu`): that opens the stepper.
    if state.view.preset.is_some() && !raw.iter().any(|(k, _)| k == "page") {
        state.view.page = Page::Step;
    }
    // Weights last: they must fit the network the rest of the link describes.
    if let Some((_, w)) = raw.iter().find(|(k, _)| k == "w") {
        match weights::from_link(w, &param_shapes(&state.config)) {
            Ok(values) => state.weights = Some(values),
            Err(e) => problems.push(Problem { key: "w".into(), message: format!("{e}; the weights were not loaded") }),
        }
    }
    Parsed { state, problems }
}

/// The config after `change`, checked by the schema like any setting.
pub fn apply_change(config: &Config, change: &Change) -> Result<Config, String> {
    let field = FIELDS.iter().find(|f| f.key == change.key).ok_or_else(|| format!("'{}' is not a setting", shown(&change.key)))?;
    let mut state = ShareState { config: config.clone(), ..ShareState::default() };
    (field.set)(&mut state, &change.value).map_err(|why| format!("{} at step {}: {why}", change.key, change.step))?;
    validate(&state.config).map_err(|p| format!("{} at step {}: {}", change.key, change.step, p.message))?;
    Ok(state.config)
}

impl ShareState {
    /// The settings in force after `step` steps: the starting config with every change made at or
    /// before that step.
    pub fn config_at(&self, step: u64) -> Config {
        let mut config = self.config.clone();
        for c in self.changes.iter().take_while(|c| c.step <= step) {
            // Checked when the changes were read; a change that no longer applies is skipped.
            if let Ok(next) = apply_change(&config, c) {
                config = next;
            }
        }
        config
    }
}

/// Replays a link's steps on a trainer built from its starting settings, a chunk at a time (the
/// page yields between chunks), applying each setting change at its step: the same steps in the
/// same order as when the link was made, so the same numbers (bit-identical on the CPU).
pub struct Replay {
    changes: Vec<Change>,
    next: usize,
    steps: u64,
}

impl Replay {
    /// A replay of `state`'s steps and changes.
    pub fn new(state: &ShareState) -> Self {
        Self { changes: state.changes.clone(), next: 0, steps: state.steps }
    }

    /// Whether every step was trained and every change applied.
    pub fn done(&self, t: &crate::train::Trainer) -> bool {
        t.step >= self.steps && self.changes.get(self.next).is_none_or(|c| c.step > self.steps)
    }

    /// Applies the changes due at the trainer's step, then trains at most `max` steps (stopping
    /// at the next change). Returns the steps trained; an error if a change cannot be applied.
    pub fn advance(&mut self, t: &mut crate::train::Trainer, max: u64) -> Result<u64, String> {
        while let Some(change) = self.changes.get(self.next).filter(|c| c.step <= t.step) {
            let config = apply_change(&t.config, change)?;
            t.change_settings(config).map_err(|e| e.to_string())?;
            self.next += 1;
        }
        let until = self.changes.get(self.next).map_or(self.steps, |c| c.step.min(self.steps));
        let n = until.saturating_sub(t.step).min(max);
        for _ in 0..n {
            t.train_step();
        }
        Ok(n)
    }
}

/// The live settings (see [`LIVE_KEYS`]) in which `to` differs from `from`, as changes at
/// `step`; `None` if anything else differs too (then training starts afresh).
pub fn live_changes(from: &Config, to: &Config, step: u64) -> Option<Vec<Change>> {
    let (a, b) = (ShareState { config: from.clone(), ..ShareState::default() }, ShareState { config: to.clone(), ..ShareState::default() });
    let mut changes = Vec::new();
    for field in FIELDS {
        let (old, new) = ((field.get)(&a), (field.get)(&b));
        if old != new {
            if !LIVE_KEYS.contains(&field.key) {
                return None;
            }
            changes.push(Change { step, key: field.key.to_string(), value: new });
        }
    }
    Some(changes)
}

/// Applies `key = value` settings to `state` in the table's order (so `layers` comes before `act`
/// whatever order they were given in). Each value is parsed, range-checked and kept only if the
/// whole config stays valid; otherwise the previous value stays and a [`Problem`] says why. Keys
/// that are not in the table are left to the caller. (`decode` adds what was used instead; the CLI
/// refuses.)
pub fn apply(state: &mut ShareState, settings: &[(String, String)]) -> Vec<Problem> {
    let mut problems = Vec::new();
    for field in FIELDS {
        let Some((_, v)) = settings.iter().find(|(k, _)| k == field.key) else { continue };
        let mut candidate = state.clone();
        let result = (field.set)(&mut candidate, v).and_then(|()| validate(&candidate.config).map_err(|p| p.message));
        match result {
            Ok(()) => *state = candidate,
            Err(why) => problems.push(Problem {
                key: field.key.into(),
                message: format!("{why} (expected {})", field.expected),
            }),
        }
    }
    problems
}

/// Checks a config against the schema: every value must read back through its field.
pub fn validate(config: &Config) -> Result<(), Problem> {
    if config.activations.len() != config.hidden.len() {
        return Err(Problem {
            key: "act".into(),
            message: format!("{} activations for {} hidden layers", config.activations.len(), config.hidden.len()),
        });
    }
    let state = ShareState { config: config.clone(), ..ShareState::default() };
    for field in FIELDS {
        let mut copy = state.clone();
        let value = (field.get)(&state);
        if let Err(message) = (field.set)(&mut copy, &value) {
            return Err(Problem { key: field.key.into(), message });
        }
    }
    Ok(())
}

/// The experiment as a JSON document in the link's terms: `{"gradlab": 1, "link": {key: value},
/// "weights": {"l1.w": {"shape": [r, c], "values": [...]}}}`, weights exact (f32).
pub fn to_json(state: &ShareState) -> String {
    let names = param_names(&state.config);
    let link: serde_json::Map<String, serde_json::Value> = std::iter::once(("v".to_string(), VERSION.to_string().into()))
        .chain(FIELDS.iter().map(|f| (f.key.to_string(), (f.get)(state).into())))
        .collect();
    let mut doc = serde_json::json!({ "gradlab": VERSION, "link": link });
    if let Some(w) = &state.weights {
        let shapes = param_shapes(&state.config);
        let weights: serde_json::Map<String, serde_json::Value> = names
            .iter()
            .zip(shapes.iter().zip(w))
            .map(|(n, (s, v))| (n.clone(), serde_json::json!({ "shape": s, "values": v })))
            .collect();
        doc["weights"] = weights.into();
    }
    serde_json::to_string_pretty(&doc).expect("JSON of plain values")
}

/// Reads `to_json`'s document: the settings go through the same checks as a link (problems are
/// reported the same way); weights must match the network. `Err` if it is not such a document.
pub fn from_json(text: &str) -> Result<Parsed, String> {
    check_file_size(text.len() as f64)?;
    let doc: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON ({e})"))?;
    let link = doc.get("link").and_then(|l| l.as_object()).ok_or("no \"link\" object: not a gradlab experiment")?;
    let fragment: Vec<String> = link
        .iter()
        .map(|(k, v)| format!("{}={}", escape(k), escape(&v.as_str().map(String::from).unwrap_or_else(|| v.to_string()))))
        .collect();
    let mut parsed = decode(&fragment.join("&"));
    if let Some(weights) = doc.get("weights") {
        let shapes = param_shapes(&parsed.state.config);
        let mut values = Vec::new();
        for (name, shape) in param_names(&parsed.state.config).iter().zip(&shapes) {
            let entry = &weights[name.as_str()];
            let got: Option<Vec<f32>> = entry["values"].as_array().and_then(|a| a.iter().map(|x| x.as_f64().map(|x| x as f32)).collect());
            match got {
                Some(v) if v.len() == shape[0] * shape[1] && v.iter().all(|x| x.is_finite()) => values.push(v),
                _ => {
                    parsed.problems.push(Problem {
                        key: "weights".into(),
                        message: format!("{name} is missing, of the wrong size or not finite; the weights were not loaded"),
                    });
                    return Ok(parsed);
                }
            }
        }
        parsed.state.weights = Some(values);
    }
    Ok(parsed)
}
