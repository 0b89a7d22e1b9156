//! Hyper-parameter search: a grid over listed values, or seeded random draws over lists and
//! ranges (log-uniform for the learning rate and the L2 rate), each trial a short training on a
//! validation split carved from the training data — never the test split. Two experiments can be
//! searched ([`Experiment`]): the table's ([`Search`], trials scored by validation accuracy, AUC
//! beside it; the split from
//! [`Prepared::carve_validation`](crate::data::tabular::Prepared::carve_validation)) and the
//! playground's ([`PlaygroundSearch`], scored by validation loss, the number that page shows; the
//! split from [`Trainer::for_search`](crate::train::Trainer::for_search)). Both run as small pieces of work ([`Trials::advance`]) so a
//! page can run them in frame slices and pause them.
//!
//! A search is written as one link value ([`SearchSpec::encode`]):
//! `random,6,2,lr=0.0001..0.01,width=32|64|128,dropout=0..0.5` — the mode, the number of trials,
//! epochs per trial, then each setting searched with a range (`lo..hi`) or a list (`a|b|c`).

mod runs;

use serde::Serialize;

use super::images::ImageConfig;
use super::tabular::TabularConfig;
use super::{Config, Regularization};
use crate::engine::{Rng, Stream};
use crate::models::Activation;
pub use runs::{IMAGE_SEARCH_IMAGES, ImageSearch, PlaygroundSearch, Search};

/// Grid or random.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Mode {
    /// Every combination of the listed values (a range counts as its two ends), up to the number
    /// of trials, in order.
    Grid,
    /// Independent seeded draws.
    Random,
}

/// A setting a search varies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Param {
    /// Learning rate (log scale).
    Lr,
    /// Units of each hidden layer.
    Width,
    /// Hidden layers (0: logistic regression).
    Depth,
    /// Dropout rate.
    Dropout,
    /// Batch size.
    Batch,
    /// L2 rate (log scale; 0 is allowed in a list).
    L2,
}

impl Param {
    /// Every one, in link order.
    pub const ALL: [Param; 6] = [Param::Lr, Param::Width, Param::Depth, Param::Dropout, Param::Batch, Param::L2];

    /// Its key.
    pub fn key(&self) -> &'static str {
        match self {
            Param::Lr => "lr",
            Param::Width => "width",
            Param::Depth => "depth",
            Param::Dropout => "dropout",
            Param::Batch => "batch",
            Param::L2 => "l2",
        }
    }

    fn integer(&self) -> bool {
        matches!(self, Param::Width | Param::Depth | Param::Batch)
    }

    fn log(&self) -> bool {
        matches!(self, Param::Lr | Param::L2)
    }

}

/// An experiment's settings a search can vary.
pub trait Experiment: Clone {
    /// The most epochs a trial may train.
    const MAX_EPOCHS: usize;
    /// The settings this experiment has (a search over another is refused).
    const SEARCHED: &'static [Param] = &Param::ALL;
    /// The values `p` may take here (the limits of this experiment's own settings).
    fn bounds(p: Param) -> (f64, f64);
    /// The settings a search varies, to read and write.
    fn knobs(&mut self) -> Knobs<'_>;
    /// Sets the epochs a trial trains, where the settings hold them (the table's do; the
    /// playground's trials count their steps from the spec instead).
    fn set_epochs(&mut self, _epochs: usize) {}
    /// The value of `p`.
    fn value(&self, p: Param) -> f64 {
        self.clone().knobs().value(p)
    }
    /// Sets `p` (see [`Knobs::set`]).
    fn set(&mut self, p: Param, v: f64) {
        self.knobs().set(p, v);
    }
}

/// What a search reads and writes in an experiment's settings.
/// A setting the experiment does not have is `None` (and not in [`Experiment::SEARCHED`]).
pub struct Knobs<'a> {
    lr: &'a mut f64,
    hidden: Option<&'a mut Vec<usize>>,
    /// One per hidden layer, where the experiment chooses them (the playground).
    activations: Option<&'a mut Vec<Activation>>,
    /// The one hidden layer's width, where the depth is fixed (the MNIST models).
    width: Option<&'a mut usize>,
    /// The width of a layer added to a net with none.
    default_width: usize,
    dropout: Option<&'a mut f64>,
    batch: &'a mut usize,
    /// The regularisation and its rate.
    l2: Option<(&'a mut Regularization, &'a mut f64)>,
}

impl Knobs<'_> {
    fn value(&self, p: Param) -> f64 {
        match p {
            Param::Lr => *self.lr,
            Param::Width => self.hidden.as_deref().and_then(|h| h.first().copied()).or(self.width.as_deref().copied()).unwrap_or(0) as f64,
            Param::Depth => self.hidden.as_deref().map_or(0, |h| h.len()) as f64,
            Param::Dropout => self.dropout.as_deref().copied().unwrap_or(0.0),
            Param::Batch => *self.batch as f64,
            Param::L2 => match &self.l2 {
                Some((r, rate)) if **r == Regularization::L2 => **rate,
                _ => 0.0,
            },
        }
    }

    /// Sets `p`: width and depth keep each other (`depth` layers of `width` units; new layers
    /// take the first layer's activation); an L2 rate of 0 turns L2 off. A setting the
    /// experiment does not have is left alone.
    fn set(&mut self, p: Param, v: f64) {
        match p {
            Param::Lr => *self.lr = v,
            Param::Width => {
                if let Some(h) = self.hidden.as_deref_mut() {
                    *h = vec![v as usize; h.len()];
                }
                if let Some(w) = self.width.as_deref_mut() {
                    *w = v as usize;
                }
            }
            Param::Depth => {
                let depth = v as usize;
                if let Some(h) = self.hidden.as_deref_mut() {
                    *h = vec![h.first().copied().unwrap_or(self.default_width); depth];
                }
                if let Some(a) = self.activations.as_deref_mut() {
                    *a = vec![a.first().copied().unwrap_or(Activation::Tanh); depth];
                }
            }
            Param::Dropout => {
                if let Some(d) = self.dropout.as_deref_mut() {
                    *d = v;
                }
            }
            Param::Batch => *self.batch = v as usize,
            Param::L2 => {
                if let Some((r, rate)) = self.l2.as_mut() {
                    **r = if v > 0.0 { Regularization::L2 } else { Regularization::None };
                    **rate = v;
                }
            }
        }
    }
}

impl Experiment for TabularConfig {
    const MAX_EPOCHS: usize = 50;
    fn bounds(p: Param) -> (f64, f64) {
        match p {
            Param::Lr => (1e-6, 10.0),
            Param::Width => (1.0, 512.0),
            Param::Depth => (0.0, 4.0),
            Param::Dropout => (0.0, 0.9),
            Param::Batch => (1.0, 4096.0),
            Param::L2 => (0.0, 10.0),
        }
    }
    fn knobs(&mut self) -> Knobs<'_> {
        Knobs {
            lr: &mut self.lr,
            hidden: Some(&mut self.hidden),
            activations: None,
            width: None,
            default_width: 128,
            dropout: Some(&mut self.dropout),
            batch: &mut self.batch_size,
            l2: Some((&mut self.regularization, &mut self.reg_rate)),
        }
    }
    fn set_epochs(&mut self, epochs: usize) {
        self.epochs = epochs;
    }
}

/// The playground's limits are its schema's: 0–6 layers of 1–16 units, batch 1–1000, L2 rate 0–1.
impl Experiment for Config {
    const MAX_EPOCHS: usize = 2_000;
    fn bounds(p: Param) -> (f64, f64) {
        match p {
            Param::Lr => (1e-6, 10.0),
            Param::Width => (1.0, 16.0),
            Param::Depth => (0.0, 6.0),
            Param::Dropout => (0.0, 0.9),
            Param::Batch => (1.0, 1000.0),
            Param::L2 => (0.0, 1.0),
        }
    }
    fn knobs(&mut self) -> Knobs<'_> {
        Knobs {
            lr: &mut self.lr,
            hidden: Some(&mut self.hidden),
            activations: Some(&mut self.activations),
            width: None,
            default_width: 4,
            dropout: Some(&mut self.dropout),
            batch: &mut self.batch_size,
            l2: Some((&mut self.regularization, &mut self.reg_rate)),
        }
    }
}

/// The MNIST models keep their shape (one hidden dense layer, and the CNN's convolution): a
/// search there varies everything else — the learning rate, the hidden layer's width, the
/// dropout, the batch size and the L2 rate — within the schema's limits.
impl Experiment for ImageConfig {
    const MAX_EPOCHS: usize = 10;
    const SEARCHED: &'static [Param] = &[Param::Lr, Param::Width, Param::Dropout, Param::Batch, Param::L2];
    fn bounds(p: Param) -> (f64, f64) {
        match p {
            Param::Lr => (1e-6, 10.0),
            Param::Width => (1.0, 1024.0),
            Param::Depth => (1.0, 1.0),
            Param::Dropout => (0.0, 0.9),
            Param::Batch => (1.0, 1000.0),
            Param::L2 => (0.0, 1.0),
        }
    }
    fn knobs(&mut self) -> Knobs<'_> {
        Knobs {
            lr: &mut self.lr,
            hidden: None,
            activations: None,
            width: Some(&mut self.width),
            default_width: 0,
            dropout: Some(&mut self.dropout),
            batch: &mut self.batch_size,
            l2: Some((&mut self.regularization, &mut self.reg_rate)),
        }
    }
    fn set_epochs(&mut self, epochs: usize) {
        self.epochs = epochs;
    }
}

/// The values a setting takes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Values {
    /// These.
    List(Vec<f64>),
    /// Between these (inclusive).
    Range(f64, f64),
}

/// A search: what varies, how, and how long each trial trains.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SearchSpec {
    /// Grid or random.
    pub mode: Mode,
    /// How many trials.
    pub trials: usize,
    /// Epochs each trial trains.
    pub epochs: usize,
    /// The settings varied.
    pub params: Vec<(Param, Values)>,
}

/// The table's default search ([`SearchSpec::default`]) as a link writes it.
pub const DEFAULT_SPEC: &str = "random,6,2,lr=0.0001..0.01,width=16|64|128|256,dropout=0..0.5";

/// The playground's default search: twelve random trials of 100 epochs over the learning rate,
/// the width and the depth.
pub const PLAYGROUND_SPEC: &str = "random,12,100,lr=0.003..1,width=2|4|6|8,depth=1|2|3";

/// The MNIST page's default search: six random trials of one epoch over the learning rate and the
/// batch size (on at most [`IMAGE_SEARCH_IMAGES`] training images).
pub const MNIST_SPEC: &str = "random,6,1,lr=0.0001..0.03,batch=32|64|128";

/// Most trials a search runs.
pub const MAX_TRIALS: usize = 200;

impl Default for SearchSpec {
    /// Six random trials of two epochs over the learning rate, the width and the dropout.
    fn default() -> Self {
        SearchSpec {
            mode: Mode::Random,
            trials: 6,
            epochs: 2,
            params: vec![
                (Param::Lr, Values::Range(1e-4, 1e-2)),
                (Param::Width, Values::List(vec![16.0, 64.0, 128.0, 256.0])),
                (Param::Dropout, Values::Range(0.0, 0.5)),
            ],
        }
    }
}

/// `x` to three significant digits (a draw reads as `0.00263`, not `0.0026318…`).
fn round3(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let scale = libm::pow(10.0, 2.0 - libm::floor(libm::log10(x.abs())));
    libm::round(x * scale) / scale
}

fn num(x: f64) -> String {
    format!("{x}")
}

impl SearchSpec {
    /// The link's form (see the module documentation).
    pub fn encode(&self) -> String {
        let mut out = format!("{},{},{}", if self.mode == Mode::Grid { "grid" } else { "random" }, self.trials, self.epochs);
        for (p, v) in &self.params {
            let v = match v {
                Values::List(l) => l.iter().map(|x| num(*x)).collect::<Vec<_>>().join("|"),
                Values::Range(a, b) => format!("{}..{}", num(*a), num(*b)),
            };
            out.push_str(&format!(",{}={v}", p.key()));
        }
        out
    }

    /// Reads [`SearchSpec::encode`]'s form for the table's experiment ([`SearchSpec::decode_for`]).
    pub fn decode(s: &str) -> Result<SearchSpec, String> {
        Self::decode_for::<TabularConfig>(s)
    }

    /// The playground's default search ([`PLAYGROUND_SPEC`]).
    pub fn playground() -> SearchSpec {
        Self::decode_for::<Config>(PLAYGROUND_SPEC).expect("the default parses")
    }

    /// The MNIST page's default search ([`MNIST_SPEC`]).
    pub fn mnist() -> SearchSpec {
        Self::decode_for::<ImageConfig>(MNIST_SPEC).expect("the default parses")
    }

    /// Reads [`SearchSpec::encode`]'s form, checking every value against its setting's range in
    /// experiment `E`.
    pub fn decode_for<E: Experiment>(s: &str) -> Result<SearchSpec, String> {
        let mut parts = s.split(',');
        let mode = match parts.next() {
            Some("grid") => Mode::Grid,
            Some("random") => Mode::Random,
            other => return Err(format!("'{}' is not grid or random", other.unwrap_or_default())),
        };
        let count = |p: Option<&str>, what: &str, max: usize| -> Result<usize, String> {
            let v = p.ok_or(format!("the number of {what} is missing"))?;
            v.parse::<usize>().ok().filter(|&n| (1..=max).contains(&n)).ok_or(format!("'{v}' {what}: a whole number from 1 to {max}"))
        };
        let trials = count(parts.next(), "trials", MAX_TRIALS)?;
        let epochs = count(parts.next(), "epochs", E::MAX_EPOCHS)?;
        let mut params: Vec<(Param, Values)> = Vec::new();
        for part in parts {
            let (key, value) = part.split_once('=').ok_or(format!("'{part}' is not setting=values"))?;
            let names = || E::SEARCHED.iter().map(|p| p.key()).collect::<Vec<_>>().join(", ");
            let param = E::SEARCHED.iter().copied().find(|p| p.key() == key).ok_or_else(|| format!("'{key}' is not one of the settings searched here: {}", names()))?;
            if params.iter().any(|(p, _)| *p == param) {
                return Err(format!("'{key}' appears twice"));
            }
            let (lo, hi) = E::bounds(param);
            let check = |x: &str| -> Result<f64, String> {
                let v: f64 = x.parse().map_err(|_| format!("{key}: '{x}' is not a number"))?;
                if !(lo..=hi).contains(&v) || !v.is_finite() {
                    return Err(format!("{key}: {v} is outside {lo} to {hi}"));
                }
                if param.integer() && v.fract() != 0.0 {
                    return Err(format!("{key}: {v} is not a whole number"));
                }
                if param == Param::Lr && v == 0.0 {
                    return Err("lr: must be above 0".into());
                }
                Ok(v)
            };
            let values = match value.split_once("..") {
                Some((a, b)) => {
                    let (a, b) = (check(a)?, check(b)?);
                    if a > b {
                        return Err(format!("{key}: the range {a}..{b} runs backwards"));
                    }
                    if param.log() && a == 0.0 {
                        return Err(format!("{key}: a log-scale range starts above 0 (list 0 instead: {key}=0|…)"));
                    }
                    Values::Range(a, b)
                }
                None => Values::List(value.split('|').map(check).collect::<Result<_, _>>()?),
            };
            params.push((param, values));
        }
        if params.is_empty() {
            return Err("no setting to search".into());
        }
        Ok(SearchSpec { mode, trials, epochs, params })
    }

    /// The trials' configs: `base` with each trial's values and the trial's epochs. A grid stops
    /// at the number of trials; random draws come from the search stream of `seed`.
    pub fn configs<E: Experiment>(&self, base: &E, seed: u64) -> Vec<E> {
        let mut out = Vec::new();
        match self.mode {
            Mode::Grid => {
                let lists: Vec<Vec<f64>> = self
                    .params
                    .iter()
                    .map(|(_, v)| match v {
                        Values::List(l) => l.clone(),
                        Values::Range(a, b) if a == b => vec![*a],
                        Values::Range(a, b) => vec![*a, *b],
                    })
                    .collect();
                let total = lists.iter().fold(1usize, |n, l| n.saturating_mul(l.len()));
                for k in 0..total.min(self.trials) {
                    let mut c = base.clone();
                    c.set_epochs(self.epochs);
                    let mut rest = k;
                    let mut values = vec![0.0; lists.len()];
                    for (v, l) in values.iter_mut().zip(&lists).rev() {
                        *v = l[rest % l.len()];
                        rest /= l.len();
                    }
                    self.apply(&mut c, &values);
                    out.push(c);
                }
            }
            Mode::Random => {
                let mut rng = Rng::new(seed, Stream::Search);
                for _ in 0..self.trials {
                    let mut c = base.clone();
                    c.set_epochs(self.epochs);
                    let mut values = Vec::new();
                    for (p, v) in &self.params {
                        let x = match v {
                            Values::List(l) => l[rng.below(l.len())],
                            Values::Range(a, b) => {
                                let x = if p.log() { libm::exp(rng.range(libm::log(*a), libm::log(*b))) } else { rng.range(*a, *b) };
                                // Whole numbers for counts; three significant digits for rates.
                                if p.integer() { x.round() } else { round3(x) }.clamp(*a, *b)
                            }
                        };
                        values.push(x);
                    }
                    self.apply(&mut c, &values);
                    out.push(c);
                }
            }
        }
        out
    }
}

impl SearchSpec {
    /// The values of the searched settings in `c`, in the spec's order (a trial's [`Trial::values`]).
    pub fn values_of<E: Experiment>(&self, c: &E) -> Vec<f64> {
        self.params.iter().map(|(p, _)| c.value(*p)).collect()
    }

    /// Sets the searched settings to `values` (in the spec's order) — depth before width, so a
    /// width applies to the layers the trial has.
    pub fn apply<E: Experiment>(&self, c: &mut E, values: &[f64]) {
        let searched = |p: Param| self.params.iter().any(|(q, _)| *q == p);
        // A width searched on a net with no hidden layer (and no depth searched) gives it one.
        if searched(Param::Width) && !searched(Param::Depth) && c.value(Param::Depth) == 0.0 {
            c.set(Param::Depth, 1.0);
        }
        let mut order: Vec<usize> = (0..self.params.len()).collect();
        order.sort_by_key(|&i| self.params[i].0 != Param::Depth);
        for i in order {
            c.set(self.params[i].0, values[i]);
        }
    }
}

/// One finished trial.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Trial {
    /// Counted from 1.
    pub number: usize,
    /// The values of the searched settings, in the spec's order.
    pub values: Vec<f64>,
    /// Validation accuracy.
    pub accuracy: f64,
    /// Validation AUC.
    pub auc: f64,
    /// Validation loss.
    pub loss: f64,
}

/// What makes a trial the best.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Rank {
    /// The highest validation accuracy, then AUC (the table), then the lowest loss (MNIST, whose
    /// trials have no AUC).
    Accuracy,
    /// The lowest validation loss (the playground, whose page shows loss; a diverged trial, whose
    /// loss is not finite, ranks last).
    Loss,
}

/// The best of `trials` by `rank`; the earlier of two equal ones.
pub fn best_of(trials: &[Trial], rank: Rank) -> Option<&Trial> {
    match rank {
        Rank::Accuracy => trials.iter().max_by(|a, b| a.accuracy.total_cmp(&b.accuracy).then(a.auc.total_cmp(&b.auc)).then(b.loss.total_cmp(&a.loss)).then(b.number.cmp(&a.number))),
        // A diverged trial (no finite loss) is never the best.
        Rank::Loss => trials.iter().filter(|t| t.loss.is_finite()).min_by(|a, b| a.loss.total_cmp(&b.loss).then(a.number.cmp(&b.number))),
    }
}

/// A search in progress, as a page runs it: one piece of work at a time.
pub trait Trials {
    /// The search.
    fn spec(&self) -> &SearchSpec;
    /// The next piece of work of the current trial (or starts the next); `false` when done.
    fn advance(&mut self) -> bool;
    /// The trials done, in order.
    fn trials(&self) -> &[Trial];
    /// Trials to run.
    fn len(&self) -> usize;
    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Examples the trials train on and are scored on.
    fn split_sizes(&self) -> (usize, usize);
    /// What makes a trial the best.
    fn rank(&self) -> Rank;
    /// The best trial so far.
    fn best(&self) -> Option<&Trial> {
        best_of(self.trials(), self.rank())
    }
}

/// Share of the training split carved off for validation.
pub const VALIDATION: f64 = 0.2;
