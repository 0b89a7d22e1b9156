//! The playground experiment's settings: one table, [`SETTINGS`], of every [`Config`] value's key
//! (as written in links and CLI flags), default, valid form and range, and how to write it and
//! read it back. It is the single source of the defaults ([`defaults`]) and of validation
//! ([`validate`]); `share` encodes and decodes links with it, the CLI makes its flags from it, and
//! training checks every config through it — without calling into `share`.
//!
//! Also here: which settings may change while training ([`LIVE_KEYS`]) and a recorded change
//! ([`Change`], [`apply_change`], [`live_changes`]), so a link can replay a run exactly.

use serde::{Deserialize, Serialize};

use super::{BinaryLoss, Config, ConfigError, Regularization};
use crate::data::{DatasetKind, Feature, Task};
use crate::engine::OptimizerKind;
use crate::models::Activation;

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

/// One value a link carries: its key, default, how to write it and how to read it back (with
/// range checks), on what it lives in, `S`: a [`Config`] for an experiment setting ([`Setting`]),
/// the whole link state for the link's own fields (`share::Field`).
pub struct Field<S: 'static> {
    /// The URL key (and, with `--`, mostly the CLI flag).
    pub key: &'static str,
    /// The default value, as written in a link.
    pub default: &'static str,
    /// What a valid value looks like (shown in messages and CLI help).
    pub expected: &'static str,
    /// Writes the current value.
    pub get: fn(&S) -> String,
    /// Parses, checks and applies a value; `Err` says what is wrong.
    pub set: fn(&mut S, &str) -> Result<(), String>,
}

/// One setting of a [`Config`].
pub type Setting = Field<Config>;

/// The schema, in the order links are written and applied (`layers` comes before `act`, which
/// must match it).
pub static SETTINGS: &[Setting] = &[
    Setting {
        key: "dataset",
        default: "circle",
        expected: "circle, xor, gauss, spiral, spiral3, plane or multigauss",
        get: |c| c.dataset.key().into(),
        set: |c, v| Ok(c.dataset = choice(v, &DatasetKind::ALL, DatasetKind::key)?),
    },
    Setting {
        key: "points",
        default: "500",
        expected: "a whole number from 10 to 5000",
        get: |c| c.points.to_string(),
        set: |c, v| Ok(c.points = int(v, 10, 5000)? as usize),
    },
    Setting {
        key: "noise",
        default: "0",
        expected: "a number from 0 to 0.5",
        get: |c| num(c.noise),
        set: |c, v| Ok(c.noise = float(v, 0.0, 0.5)?),
    },
    Setting {
        key: "ratio",
        default: "0.5",
        expected: "the training share, from 0.1 to 0.9",
        get: |c| num(c.train_ratio),
        set: |c, v| Ok(c.train_ratio = float(v, 0.1, 0.9)?),
    },
    Setting {
        key: "features",
        default: "x1,x2",
        expected: "a comma-separated list of x1, x2, x1sq, x2sq, x1x2, sinx1, sinx2 (at least one, no repeats)",
        get: |c| c.features.iter().map(Feature::key).collect::<Vec<_>>().join(","),
        set: |c, v| {
            let mut out: Vec<Feature> = Vec::new();
            for part in v.split(',') {
                let f = choice(part, &Feature::ALL, Feature::key)?;
                if out.contains(&f) {
                    return Err(format!("'{part}' appears twice"));
                }
                out.push(f);
            }
            out.sort_by_key(|f| Feature::ALL.iter().position(|g| g == f));
            Ok(c.features = out)
        },
    },
    Setting {
        key: "layers",
        default: "4,2",
        expected: "0 to 6 comma-separated neuron counts from 1 to 16, or 'none'",
        get: |c| {
            if c.hidden.is_empty() { "none".into() } else { c.hidden.iter().map(usize::to_string).collect::<Vec<_>>().join(",") }
        },
        set: |c, v| {
            let hidden: Vec<usize> = if v == "none" {
                vec![]
            } else {
                v.split(',').map(|n| int(n, 1, 16).map(|n| n as usize)).collect::<Result<_, _>>()?
            };
            if hidden.len() > 6 {
                return Err(format!("{} layers is more than 6", hidden.len()));
            }
            // Keep one activation per layer: the last one repeats for added layers.
            let last = c.activations.last().copied().unwrap_or(Activation::Tanh);
            c.activations.resize(hidden.len(), last);
            c.hidden = hidden;
            Ok(())
        },
    },
    Setting {
        key: "act",
        default: "tanh",
        expected: "relu, leakyrelu, tanh, sigmoid or linear: one for every layer, or one per layer",
        get: |c| {
            let a = &c.activations;
            if a.windows(2).all(|w| w[0] == w[1]) {
                a.first().unwrap_or(&Activation::Tanh).key().into()
            } else {
                a.iter().map(Activation::key).collect::<Vec<_>>().join(",")
            }
        },
        set: |c, v| {
            let acts = v.split(',').map(|a| choice(a, &Activation::ALL, Activation::key)).collect::<Result<Vec<_>, _>>()?;
            let layers = c.hidden.len();
            c.activations = match acts.len() {
                1 => vec![acts[0]; layers],
                n if n == layers => acts,
                n => return Err(format!("{n} activations for {layers} hidden layers")),
            };
            Ok(())
        },
    },
    Setting {
        key: "dropout",
        default: "0",
        expected: "a number from 0 to 0.9",
        get: |c| num(c.dropout),
        set: |c, v| Ok(c.dropout = float(v, 0.0, 0.9)?),
    },
    Setting {
        key: "reg",
        default: "none",
        expected: "none, l1 or l2",
        get: |c| regularization_key(&c.regularization).into(),
        set: |c, v| Ok(c.regularization = choice(v, &REGULARIZATIONS, regularization_key)?),
    },
    Setting {
        key: "regrate",
        default: "0",
        expected: "a number from 0 to 1",
        get: |c| num(c.reg_rate),
        set: |c, v| Ok(c.reg_rate = float(v, 0.0, 1.0)?),
    },
    Setting {
        key: "loss",
        default: "bce",
        expected: "bce or mse for two classes; ce for three classes; mse for regression",
        // The loss the dataset trains with, as the page shows it: only two-class data has a choice.
        get: |c| match c.dataset.task() {
            Task::Binary => binary_loss_key(&c.binary_loss).into(),
            Task::MultiClass(_) => "ce".into(),
            Task::Regression => "mse".into(),
        },
        set: |c, v| match c.dataset.task() {
            Task::Binary => Ok(c.binary_loss = choice(v, &BINARY_LOSSES, binary_loss_key)?),
            // Links before this key followed the dataset wrote `bce` for every dataset.
            Task::MultiClass(_) if v == "ce" || v == "bce" => Ok(c.binary_loss = BinaryLoss::Bce),
            Task::MultiClass(k) => Err(format!("'{}' is not used: {k}-class data always trains with cross-entropy", shown(v))),
            Task::Regression if v == "mse" || v == "bce" => Ok(c.binary_loss = BinaryLoss::Bce),
            Task::Regression => Err(format!("'{}' is not used: regression data always trains with squared error", shown(v))),
        },
    },
    Setting {
        key: "opt",
        default: "sgd",
        expected: "sgd, momentum or adam",
        get: |c| c.optimizer.key().into(),
        set: |c, v| Ok(c.optimizer = choice(v, &OptimizerKind::ALL, OptimizerKind::key)?),
    },
    Setting {
        key: "lr",
        default: "0.03",
        expected: "a number above 0, at most 10",
        get: |c| num(c.lr),
        set: |c, v| Ok(c.lr = above_zero(v, 10.0, "the learning rate")?),
    },
    Setting {
        key: "batch",
        default: "10",
        expected: "a whole number from 1 to 1000",
        get: |c| c.batch_size.to_string(),
        set: |c, v| Ok(c.batch_size = int(v, 1, 1000)? as usize),
    },
    Setting {
        key: "seed",
        default: "1",
        expected: "a whole number from 0 to 4294967295",
        get: |c| c.seed.to_string(),
        set: |c, v| Ok(c.seed = int(v, 0, u32::MAX as u64)?),
    },
];

/// The playground's start state: every setting at its default.
pub fn defaults() -> Config {
    let mut config = skeleton();
    for s in SETTINGS {
        // The defaults are part of the table; a default that does not parse is a bug.
        (s.set)(&mut config, s.default).unwrap_or_else(|e| panic!("default of {}: {e}", s.key));
    }
    config
}

/// Every setting of `config` as a `(key, value)` pair, in schema order: [`apply_settings`] over
/// the defaults gives the same config back, value for value (a number is written in the shortest
/// form that reads back as itself). The page's worker gets its playground config this way.
pub fn settings_of(config: &Config) -> Vec<(String, String)> {
    fields_of(SETTINGS, config)
}

/// Sets each setting named in `pairs` (in schema order, so `layers` comes before `act`), then
/// validates; an unknown key or a bad value is an error, and the config is then partly set.
pub fn apply_settings(config: &mut Config, pairs: &[(String, String)]) -> Result<(), ConfigError> {
    apply_fields(SETTINGS, config, pairs, "the playground")?;
    validate(config)
}

/// Every field of `table` as written from `config`, as `(key, value)` pairs in the table's order.
pub(crate) fn fields_of<S>(table: &[Field<S>], config: &S) -> Vec<(String, String)> {
    table.iter().map(|f| (f.key.to_string(), (f.get)(config))).collect()
}

/// Sets each field of `table` named in `pairs`, in the table's order; the first problem is an
/// error naming its key, an unknown key too (`whose` settings it is not one of).
pub(crate) fn apply_fields<S>(table: &[Field<S>], config: &mut S, pairs: &[(String, String)], whose: &str) -> Result<(), ConfigError> {
    if let Some((key, _)) = pairs.iter().find(|(k, _)| !table.iter().any(|f| f.key == k)) {
        return Err(ConfigError { setting: shown(key), message: format!("is not a setting of {whose}") });
    }
    for f in table {
        if let Some((_, v)) = pairs.iter().find(|(k, _)| k == f.key) {
            (f.set)(config, v).map_err(|message| ConfigError { setting: f.key.into(), message })?;
        }
    }
    Ok(())
}

/// The setting with this key.
pub fn setting(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
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

// The messages below say only what is wrong with the value: every caller adds the setting's
// "(expected …)", which says what kind of number it takes (so "'abc' is not a number (expected a
// number from …)" would say it twice).
pub(crate) fn float(v: &str, min: f64, max: f64) -> Result<f64, String> {
    let x: f64 = v.parse().map_err(|_| format!("'{}' is not valid", shown(v)))?;
    if !x.is_finite() {
        return Err(format!("'{}' is not finite", shown(v)));
    }
    if x < min || x > max {
        return Err(format!("{x} is out of range"));
    }
    Ok(x)
}

/// A number above 0, at most `max`; `what` names it in the message for 0.
pub(crate) fn above_zero(v: &str, max: f64, what: &str) -> Result<f64, String> {
    let x = float(v, 0.0, max)?;
    if x == 0.0 {
        return Err(format!("{what} must be above 0"));
    }
    Ok(x)
}

pub(crate) fn int(v: &str, min: u64, max: u64) -> Result<u64, String> {
    let x: u64 = v.parse().map_err(|_| format!("'{}' is not valid", shown(v)))?;
    if x < min || x > max {
        return Err(format!("{x} is out of range"));
    }
    Ok(x)
}

pub(crate) fn choice<X: Copy>(v: &str, all: &[X], key: fn(&X) -> &'static str) -> Result<X, String> {
    // The valid keys are listed once, by the caller ("expected …").
    all.iter().copied().find(|x| key(x) == v).ok_or_else(|| format!("'{}' is not one of the choices", shown(v)))
}

/// Formats a float the shortest way that reads back to the same value.
fn num(x: f64) -> String {
    format!("{x}")
}

pub(crate) const REGULARIZATIONS: [Regularization; 3] = [Regularization::None, Regularization::L1, Regularization::L2];
const BINARY_LOSSES: [BinaryLoss; 2] = [BinaryLoss::Bce, BinaryLoss::Mse];

pub(crate) fn regularization_key(r: &Regularization) -> &'static str {
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

/// Shortens untrusted text for a message (and keeps it on one line).
pub(crate) fn shown(v: &str) -> String {
    let clean: String = v.chars().filter(|c| !c.is_control()).take(40).collect();
    if v.chars().count() > 40 { format!("{clean}…") } else { clean }
}

/// The config after `change`, checked by the schema like any setting.
pub fn apply_change(config: &Config, change: &Change) -> Result<Config, String> {
    let s = setting(&change.key).ok_or_else(|| format!("'{}' is not a setting", shown(&change.key)))?;
    let mut next = config.clone();
    (s.set)(&mut next, &change.value).map_err(|why| format!("{} at step {}: {why}", change.key, change.step))?;
    validate(&next).map_err(|e| format!("{} at step {}: {}", change.key, change.step, e.message))?;
    Ok(next)
}

/// The live settings (see [`LIVE_KEYS`]) in which `to` differs from `from`, as changes at
/// `step`; `None` if anything else differs too (then training starts afresh).
pub fn live_changes(from: &Config, to: &Config, step: u64) -> Option<Vec<Change>> {
    let mut changes = Vec::new();
    for s in SETTINGS {
        let (old, new) = ((s.get)(from), (s.get)(to));
        if old != new {
            if !LIVE_KEYS.contains(&s.key) {
                return None;
            }
            changes.push(Change { step, key: s.key.to_string(), value: new });
        }
    }
    Some(changes)
}

/// Checks a config against the schema: every value must read back through its setting.
pub fn validate(config: &Config) -> Result<(), ConfigError> {
    if config.activations.len() != config.hidden.len() {
        return Err(ConfigError {
            setting: "act".into(),
            message: format!("{} activations for {} hidden layers", config.activations.len(), config.hidden.len()),
        });
    }
    for s in SETTINGS {
        let mut copy = config.clone();
        if let Err(message) = (s.set)(&mut copy, &(s.get)(config)) {
            return Err(ConfigError { setting: s.key.into(), message });
        }
    }
    Ok(())
}
