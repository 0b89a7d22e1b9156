//! Sharing an experiment as a link. A link writes every [`Key`] ([`keys`]): the experiment's
//! settings, whose defaults, ranges and validation live beside `Config` in `train::schema` (the
//! CLI, the page and links all validate through that one table), then the link's own fields
//! ([`FIELDS`]: backend, steps trained, changes made while training, page and stepper view).
//! This module only encodes, decodes and reports problems.
//!
//! A link is untrusted input. Parsing has two steps: raw `key=value` pairs (percent-decoded,
//! bounded in size), then each known key is parsed, range-checked and applied in table order on
//! top of the defaults. A bad value never aborts the parse: it becomes a [`Problem`] naming the
//! key, what was wrong and what was used instead, and the default stays. Unknown keys are
//! reported too. Nothing here can panic on any input (fuzzed in the tests).
//!
//! Links are versioned (`v=1`) and write every key, so a link replays the same experiment even
//! after defaults change in a later version.

mod keys;
pub mod table;
pub mod weights;

pub use keys::{FIELDS, Field, Key, key, keys};

use serde::{Deserialize, Serialize};

use crate::backend::BackendKind;
use crate::train::Config;
use crate::train::gan::{GAN_SETTINGS, GanConfig, GanSetting, StepLog};
use crate::train::tabular::{TABULAR_SETTINGS, TabularConfig, TabularSetting};
use crate::train::images::{IMAGE_SETTINGS, ImageConfig, ImageSetting, validate_image};
use crate::train::schema::{self, Change, LIVE_KEYS, MAX_CHANGES, Setting, apply_change, choice, int, shown};

/// The link format's version; bump it when the meaning of an existing key changes.
pub const VERSION: u32 = 2;

/// Longest link (the part after `#`) the page writes with weights in it; longer, it leaves the
/// weights out and says so.
pub const MAX_LINK: usize = 8 * 1024;

/// Longest link we read; longer ones are refused with a message. Room for the settings (and
/// weights) and a table of the user's ([`table::MAX_PACKED`]): a page writes a table into its link
/// only while the whole link stays within this.
pub const MAX_READ: usize = MAX_LINK + table::MAX_PACKED;

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
    /// MNIST and Fashion-MNIST: the data, augmentation and a draw pad.
    Mnist,
    /// The essay's GAN trained in the tab.
    Gan,
    /// A table (CSV): a classifier, its accuracy per group.
    Table,
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
    /// The image experiment (the MNIST page): its `mnist.*` keys, written when the link opens
    /// that page.
    #[serde(default)]
    pub mnist: ImageConfig,
    /// The MNIST run the link was made after (`mnist.trained`): MNIST weights are too large for
    /// a link, so the page offers to train it again and compares.
    #[serde(default)]
    pub mnist_trained: Option<TrainedRun>,
    /// The GAN experiment (the GAN page): its `gan.*` keys, written when the link opens that page.
    #[serde(default)]
    pub gan: GanConfig,
    /// The GAN's halves taken so far (`gan.steps`): opening the link replays them.
    #[serde(default)]
    pub gan_steps: StepLog,
    /// The tabular experiment (the table page): its `tab.*` keys, written when the link opens
    /// that page. Starts with the Adult table's choices ([`TabularConfig::adult`]).
    #[serde(default = "TabularConfig::adult")]
    pub tab: TabularConfig,
    /// The playground's hyper-parameter search (`search`), written in a link to the playground.
    #[serde(skip, default = "crate::train::search::SearchSpec::playground")]
    pub search: crate::train::search::SearchSpec,
    /// Which table the tabular experiment used (`tab.data`).
    #[serde(default)]
    pub tab_data: TableSource,
    /// The user's table, packed ([`table::pack`]), when the link carries it (`tab.csv`; with
    /// `tab.data=link`).
    #[serde(default)]
    pub tab_csv: Option<String>,
    /// The table page's hyper-parameter search (`tab.search`).
    #[serde(skip, default)]
    pub tab_search: crate::train::search::SearchSpec,
    /// The MNIST page's hyper-parameter search (`mnist.search`), written in a link to that page.
    #[serde(skip, default = "crate::train::search::SearchSpec::mnist")]
    pub mnist_search: crate::train::search::SearchSpec,
}

/// Where the tabular experiment's table comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TableSource {
    /// The Adult census table gradlab serves.
    #[default]
    Adult,
    /// A file of the user's too large for a link: opening the link asks for it.
    File,
    /// A file of the user's that the link carries (`tab.csv`).
    Link,
}

const TABLE_SOURCES: [TableSource; 3] = [TableSource::Adult, TableSource::File, TableSource::Link];

/// A finished stretch of MNIST training: whole epochs trained from the seed and the test accuracy
/// the last one reached. A link carries it as a pointer (`mnist.trained=10_97.75`), not weights.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainedRun {
    /// Whole epochs trained.
    pub epochs: u32,
    /// Test accuracy after the last of them, in percent.
    pub accuracy: f64,
}

impl TrainedRun {
    /// As a link writes it: `EPOCHS_ACCURACY`, the accuracy to two decimals (`_`: a link keeps
    /// it as it is).
    pub fn encode(&self) -> String {
        format!("{}_{:.2}", self.epochs, self.accuracy)
    }

    /// Reads [`TrainedRun::encode`]'s form.
    pub fn decode(v: &str) -> Result<Self, String> {
        let Some((epochs, accuracy)) = v.split_once('_') else {
            return Err(format!("'{}' has no '_'", shown(v)));
        };
        let epochs = int(epochs, 1, 100)? as u32;
        let accuracy = schema::float(accuracy, 0.0, 100.0)?;
        Ok(Self { epochs, accuracy })
    }
}

fn table_source_key(s: &TableSource) -> &'static str {
    match s {
        TableSource::Adult => "adult",
        TableSource::File => "file",
        TableSource::Link => "link",
    }
}

impl Default for ShareState {
    fn default() -> Self {
        let mut state = ShareState {
            config: schema::defaults(),
            backend: BackendChoice::Auto,
            steps: 0,
            changes: Vec::new(),
            weights: None,
            view: View::default(),
            mnist: ImageConfig::default(),
            mnist_trained: None,
            gan: GanConfig::default(),
            gan_steps: StepLog::default(),
            tab: TabularConfig::adult(),
            tab_data: TableSource::Adult,
            tab_csv: None,
            tab_search: crate::train::search::SearchSpec::default(),
            search: crate::train::search::SearchSpec::playground(),
            mnist_search: crate::train::search::SearchSpec::mnist(),
        };
        for field in FIELDS {
            // The defaults are part of the table; a default that does not parse is a bug.
            (field.set)(&mut state, field.default).unwrap_or_else(|e| panic!("default of {}: {e}", field.key));
        }
        state
    }
}

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
    // The image experiment's and the GAN's keys only in a link to their page.
    let shown = |k: &Key| match k {
        Key::Image(_) => state.view.page == Page::Mnist,
        Key::Gan(_) => state.view.page == Page::Gan,
        Key::Link(f) if f.key.starts_with("gan.") => state.view.page == Page::Gan,
        // Long, and rarely changed: written only when it differs from the default.
        Key::Link(f) if f.key == "mnist.search" => state.view.page == Page::Mnist && state.mnist_search != crate::train::search::SearchSpec::mnist(),
        Key::Link(f) if f.key.starts_with("mnist.") => state.view.page == Page::Mnist,
        Key::Tab(_) => state.view.page == Page::Table,
        Key::Link(f) if f.key == "tab.csv" => state.view.page == Page::Table && state.tab_csv.is_some(),
        Key::Link(f) if f.key.starts_with("tab.") => state.view.page == Page::Table,
        // Long, and rarely changed: written only when it differs from the default.
        Key::Link(f) if f.key == "search" => state.view.page == Page::Play && state.search != crate::train::search::SearchSpec::playground(),
        _ => true,
    };
    for key in keys().filter(shown) {
        out.push('&');
        out.push_str(key.name());
        out.push('=');
        out.push_str(&escape(&key.get(state)));
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

/// Escapes what a URL fragment cannot hold as is, byte by byte of the UTF-8 (a column name may be
/// any text).
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b',' | b'-' | b'_' | b'+' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
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

/// Reads a link fragment (with or without the leading `#`). Never fails: problems are reported
/// and the defaults used for the keys they concern.
pub fn decode(fragment: &str) -> Parsed {
    let mut problems = Vec::new();
    let mut state = ShareState::default();
    let fragment = fragment.strip_prefix('#').unwrap_or(fragment);
    if fragment.is_empty() {
        return Parsed { state, problems };
    }
    if fragment.len() > MAX_READ {
        problems.push(Problem {
            key: "link".into(),
            message: format!("the link is {} bytes, more than the {MAX_READ} we read; opened the defaults instead", fragment.len()),
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
            // Version 2 added the image experiment's `mnist.*` keys; a version-1 link reads as is.
            Ok(1 | VERSION) => {}
            Ok(n) if n > VERSION => problems.push(Problem {
                key: "v".into(),
                message: format!("this link is version {n}, newer than this app ({VERSION}); read what this version understands"),
            }),
            _ => problems.push(Problem { key: "v".into(), message: format!("'{}' is not a link version; read as version {VERSION}", shown(v)) }),
        }
    }
    for (k, _) in &raw {
        if k != "v" && k != "w" && key(k).is_none() {
            problems.push(Problem { key: shown(k), message: "unknown setting; ignored".into() });
        }
    }
    // Step two: typed, checked values, applied in table order over the defaults.
    for mut problem in apply(&mut state, &raw) {
        if let Some(key) = key(&problem.key) {
            problem.message.push_str(&format!("; using {}", key.get(&state)));
        }
        problems.push(problem);
    }
    // Changes after the last step trained never took effect.
    if state.changes.iter().any(|c| c.step > state.steps) {
        problems.push(Problem { key: "changes".into(), message: format!("changes after step {} were ignored", state.steps) });
        state.changes.retain(|c| c.step <= state.steps);
    }
    // The table goes with `tab.data=link`, and only with it.
    match (state.tab_data, state.tab_csv.is_some()) {
        (TableSource::Link, false) => {
            let why = if raw.iter().any(|(k, _)| k == "tab.csv") { "its tab.csv could not be read" } else { "it has no tab.csv" };
            problems.push(Problem { key: "tab.data".into(), message: format!("the link says it carries its table, but {why}; the page asks for the file") });
            state.tab_data = TableSource::File;
        }
        (TableSource::Adult | TableSource::File, true) => {
            problems.push(Problem { key: "tab.csv".into(), message: format!("a table is given, but tab.data is {}; ignored", table_source_key(&state.tab_data)) });
            state.tab_csv = None;
        }
        _ => {}
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

/// Applies `key = value` settings to `state` in the table's order (so `layers` comes before `act`
/// whatever order they were given in). Each value is parsed, range-checked and kept only if the
/// whole config stays valid; otherwise the previous value stays and a [`Problem`] says why. Keys
/// that are not in the table are left to the caller. (`decode` adds what was used instead; the CLI
/// refuses.)
pub fn apply(state: &mut ShareState, settings: &[(String, String)]) -> Vec<Problem> {
    let mut problems = Vec::new();
    for field in keys() {
        let Some((_, v)) = settings.iter().find(|(k, _)| k == field.name()) else { continue };
        let mut candidate = state.clone();
        let result = field.set(&mut candidate, v).and_then(|()| match field {
            Key::Image(_) => validate_image(&candidate.mnist).map_err(|e| e.message),
            Key::Gan(_) | Key::Tab(_) => Ok(()),
            _ => schema::validate(&candidate.config).map_err(|e| e.message),
        });
        match result {
            Ok(()) => *state = candidate,
            Err(why) => problems.push(Problem {
                key: field.name().into(),
                message: format!("{why} (expected {})", field.expected()),
            }),
        }
    }
    problems
}

/// The experiment as a JSON document in the link's terms: `{"gradlab": 1, "link": {key: value},
/// "weights": {"l1.w": {"shape": [r, c], "values": [...]}}}`, weights exact (f32).
pub fn to_json(state: &ShareState) -> String {
    let names = param_names(&state.config);
    let link: serde_json::Map<String, serde_json::Value> = std::iter::once(("v".to_string(), VERSION.to_string().into()))
        .chain(keys().map(|k| (k.name().to_string(), k.get(state).into())))
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
