//! The three searches that run: the table's ([`Search`]), the playground's ([`PlaygroundSearch`])
//! and the MNIST page's ([`ImageSearch`]), each a [`Trials`] a page advances a piece at a time.

use super::{Rank, SearchSpec, Trial, Trials, VALIDATION, best_of};
use crate::data::images::ImageData;
use crate::train::images::{Evaluation, ImageConfig, ImageTrainer, Split};
use crate::train::tabular::TabularConfig;
use crate::train::{Config, Trainer};

/// A search in progress: its trials run one after another, each as short pieces of work
/// ([`Search::advance`]), so a page can run it in frame slices and pause it.
#[derive(Clone, Debug)]
pub struct Search {
    /// The search.
    pub spec: SearchSpec,
    configs: Vec<TabularConfig>,
    data: std::sync::Arc<crate::data::tabular::Prepared>,
    current: Option<crate::train::tabular::TabularTrainer>,
    /// The trials done, in order.
    pub trials: Vec<Trial>,
}

impl Search {
    /// A search from `base` (the experiment's settings) on `data`'s training split, with its
    /// validation split carved from it (seeded by the experiment's seed).
    pub fn new(spec: SearchSpec, base: &TabularConfig, data: &crate::data::tabular::Prepared) -> Self {
        let configs = spec.configs(base, base.seed);
        let data = std::sync::Arc::new(data.carve_validation(VALIDATION, base.seed));
        Search { spec, configs, data, current: None, trials: Vec::new() }
    }

    /// Trials to run.
    pub fn len(&self) -> usize {
        self.configs.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.configs.is_empty()
    }

    /// Whether every trial has run.
    pub fn done(&self) -> bool {
        self.trials.len() >= self.configs.len()
    }

    /// The settings of trial `k` (from 0).
    pub fn config(&self, k: usize) -> &TabularConfig {
        &self.configs[k]
    }

    /// Rows the trials train on and are scored on.
    pub fn split_sizes(&self) -> (usize, usize) {
        (self.data.train.len(), self.data.test.len())
    }

    /// The next piece of work of the current trial (or starts the next); `false` when done.
    pub fn advance(&mut self) -> bool {
        if self.done() {
            return false;
        }
        let k = self.trials.len();
        let trainer = self.current.get_or_insert_with(|| crate::train::tabular::TabularTrainer::on(self.configs[k].clone(), std::sync::Arc::clone(&self.data)));
        if trainer.advance() == crate::train::tabular::Work::Done {
            let r = trainer.report();
            let values = self.spec.values_of(&self.configs[k]);
            self.trials.push(Trial { number: k + 1, values, accuracy: r.test_accuracy, auc: r.auc, loss: r.test_loss });
            self.current = None;
        }
        true
    }

    /// Runs every trial (the CLI and the tests).
    pub fn run(&mut self) {
        while self.advance() {}
    }

    /// The best trial so far ([`best_of`] by accuracy).
    pub fn best(&self) -> Option<&Trial> {
        best_of(&self.trials, Rank::Accuracy)
    }

    /// `base` with the best trial's values (its own epochs kept).
    pub fn apply_best(&self, base: &TabularConfig) -> Option<TabularConfig> {
        let best = self.best()?;
        let mut c = base.clone();
        self.spec.apply(&mut c, &best.values);
        Some(c)
    }
}

impl Trials for Search {
    fn spec(&self) -> &SearchSpec {
        &self.spec
    }
    fn advance(&mut self) -> bool {
        Search::advance(self)
    }
    fn trials(&self) -> &[Trial] {
        &self.trials
    }
    fn len(&self) -> usize {
        Search::len(self)
    }
    fn split_sizes(&self) -> (usize, usize) {
        Search::split_sizes(self)
    }
    fn rank(&self) -> Rank {
        Rank::Accuracy
    }
}

/// A search over the playground's settings. Each trial is a fresh [`Trainer::for_search`] — the
/// experiment's training points less a validation share, seeded, on the CPU (small nets: the host
/// path) — trained `epochs` passes over its points and scored by its validation loss.
pub struct PlaygroundSearch {
    /// The search.
    pub spec: SearchSpec,
    configs: Vec<Config>,
    /// The trial running and the steps it has left.
    current: Option<(Trainer, u64)>,
    /// The trials done, in order.
    pub trials: Vec<Trial>,
    sizes: (usize, usize),
}

/// The work of a piece of a playground trial, in FLOPs (~1–3 ms in wasm), and the most steps in one:
/// 250 steps of the default net; one step of 6 × 16 at batch 1000 (8 MFLOP) is a piece of its own.
const PIECE_FLOPS: f64 = 1e6;
const PIECE_STEPS: u64 = 250;

impl PlaygroundSearch {
    /// A search from `base` (the page's settings); fails when they are not valid.
    pub fn new(spec: SearchSpec, base: &Config) -> Result<Self, crate::train::ConfigError> {
        let probe = Trainer::for_search(base.clone(), VALIDATION)?;
        let sizes = (probe.train.points.len(), probe.test.points.len());
        let configs = spec.configs(base, base.seed);
        Ok(PlaygroundSearch { spec, configs, current: None, trials: Vec::new(), sizes })
    }

    /// The settings of trial `k` (from 0).
    pub fn config(&self, k: usize) -> &Config {
        &self.configs[k]
    }

    /// Runs every trial (the tests).
    pub fn run(&mut self) {
        while self.advance() {}
    }
}

impl Trials for PlaygroundSearch {
    fn spec(&self) -> &SearchSpec {
        &self.spec
    }
    fn advance(&mut self) -> bool {
        let k = self.trials.len();
        if k >= self.configs.len() {
            return false;
        }
        if self.current.is_none() {
            match Trainer::for_search(self.configs[k].clone(), VALIDATION) {
                Ok(t) => {
                    let steps = self.spec.epochs as u64 * t.train.points.len().div_ceil(t.config.batch_size) as u64;
                    self.current = Some((t, steps));
                }
                // Every searched value is within the schema's limits, so this is a bug; the trial
                // shows as diverged rather than stopping the search.
                Err(_) => {
                    let values = self.spec.values_of(&self.configs[k]);
                    self.trials.push(Trial { number: k + 1, values, accuracy: f64::NAN, auc: f64::NAN, loss: f64::NAN });
                    return true;
                }
            }
        }
        let (t, left) = self.current.as_mut().expect("made above");
        let steps = (PIECE_FLOPS / t.config.train_flops_per_step().max(1.0)) as u64;
        let piece = steps.clamp(1, PIECE_STEPS).min(*left);
        for _ in 0..piece {
            t.train_step();
        }
        *left -= piece;
        if *left == 0 {
            let loss = t.losses_now().map_or(f64::NAN, |(_, validation)| validation as f64);
            // (On the CPU the losses are always read at once; NaN would show as diverged.)
            let values = self.spec.values_of(&self.configs[k]);
            self.trials.push(Trial { number: k + 1, values, accuracy: f64::NAN, auc: f64::NAN, loss });
            self.current = None;
        }
        true
    }
    fn trials(&self) -> &[Trial] {
        &self.trials
    }
    fn len(&self) -> usize {
        self.configs.len()
    }
    fn split_sizes(&self) -> (usize, usize) {
        self.sizes
    }
    fn rank(&self) -> Rank {
        Rank::Loss
    }
}

/// Most training images a MNIST search uses: a trial is a short training beside the page's run,
/// not a second one (the first images of the page's limit, or of the whole set).
pub const IMAGE_SEARCH_IMAGES: usize = 5_000;

/// Images a MNIST trial evaluates in one piece of work.
const IMAGE_EVAL_CHUNK: usize = 250;

/// A MNIST trial: training, then scoring on the validation images a chunk at a time.
enum ImageTrial {
    Training { trainer: ImageTrainer, left: u64 },
    Scoring { trainer: ImageTrainer, eval: Evaluation },
}

/// A search over a MNIST preset's learning rate and batch size. The trials share one carve of the
/// page's training images ([`IMAGE_SEARCH_IMAGES`] at most): the last fifth validates, the rest
/// trains (MNIST's files are not ordered by class, so a contiguous cut is a fair one, and one a
/// reader can check). Each trial is a fresh [`ImageTrainer`] on the CPU, trained one batch per
/// piece of work, scored by validation accuracy (then loss).
pub struct ImageSearch {
    /// The search.
    pub spec: SearchSpec,
    configs: Vec<ImageConfig>,
    data: ImageData,
    current: Option<ImageTrial>,
    /// The trials done, in order.
    pub trials: Vec<Trial>,
}

impl ImageSearch {
    /// A search from `base` (the page's settings) on `data`'s training images.
    pub fn new(spec: SearchSpec, base: &ImageConfig, data: &ImageData) -> Result<Self, String> {
        super::super::images::validate_image(base).map_err(|e| e.to_string())?;
        let limit = if base.train_limit == 0 { data.train.len() } else { base.train_limit.min(data.train.len()) };
        let n = limit.min(IMAGE_SEARCH_IMAGES);
        let validation = (n as f64 * VALIDATION).round() as usize;
        if validation == 0 || validation >= n {
            return Err(format!("{n} training images are too few to carve a validation share from"));
        }
        let data = ImageData { train: data.train.part(0..n - validation), test: data.train.part(n - validation..n) };
        let mut base = base.clone();
        // The carve is the trials' whole training set.
        base.train_limit = 0;
        let configs = spec.configs(&base, base.seed);
        Ok(ImageSearch { spec, configs, data, current: None, trials: Vec::new() })
    }

    fn record(&mut self, k: usize, accuracy: f64, loss: f64) {
        let values = self.spec.values_of(&self.configs[k]);
        self.trials.push(Trial { number: k + 1, values, accuracy, auc: f64::NAN, loss });
        self.current = None;
    }
}

impl Trials for ImageSearch {
    fn spec(&self) -> &SearchSpec {
        &self.spec
    }
    fn advance(&mut self) -> bool {
        let k = self.trials.len();
        if k >= self.configs.len() {
            return false;
        }
        let current = match self.current.take() {
            Some(c) => c,
            None => match ImageTrainer::new(self.configs[k].clone(), &self.data, &crate::backend::cpu()) {
                Ok(trainer) => {
                    let left = self.spec.epochs as u64 * trainer.steps_per_epoch() as u64;
                    ImageTrial::Training { trainer, left }
                }
                // Every searched value is within the schema's limits, so this is a bug; the trial
                // shows as diverged rather than stopping the search.
                Err(_) => {
                    self.record(k, 0.0, f64::NAN);
                    return true;
                }
            },
        };
        self.current = Some(match current {
            ImageTrial::Training { mut trainer, left } if left > 0 => {
                trainer.train_step();
                ImageTrial::Training { trainer, left: left - 1 }
            }
            ImageTrial::Training { trainer, .. } => {
                let eval = trainer.evaluation(Split::Test);
                ImageTrial::Scoring { trainer, eval }
            }
            ImageTrial::Scoring { trainer, mut eval } => {
                let chunk = trainer.eval_chunk(Split::Test, eval.done(), IMAGE_EVAL_CHUNK);
                // A CPU readback is ready at once; a diverged trial's loss is not finite.
                match crate::train::host::now(eval.add(chunk)) {
                    Some(Ok(())) if eval.done() < trainer.test_len() => ImageTrial::Scoring { trainer, eval },
                    Some(Ok(())) => {
                        let m = eval.metrics();
                        self.record(k, m.accuracy, m.loss);
                        return true;
                    }
                    _ => {
                        self.record(k, 0.0, f64::NAN);
                        return true;
                    }
                }
            }
        });
        true
    }
    fn trials(&self) -> &[Trial] {
        &self.trials
    }
    fn len(&self) -> usize {
        self.configs.len()
    }
    fn split_sizes(&self) -> (usize, usize) {
        (self.data.train.len(), self.data.test.len())
    }
    fn rank(&self) -> Rank {
        Rank::Accuracy
    }
}
