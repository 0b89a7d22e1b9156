//! The MNIST page, its training half: choose a preset and its hyper-parameters (every control is
//! a setting of `train::images::IMAGE_SETTINGS`), train / pause / reset, and watch it learn —
//! progress per epoch with samples/s, GFLOP/s and ETA, loss and accuracy charts, the confusion
//! matrix, misclassified test digits, first-layer weights or conv filters and feature maps, and
//! the class probabilities of the digit on the draw pad.
//!
//! Nothing blocks a frame for long: the loop trains for a slice of each frame (≈ 20 ms, at least
//! one step), reads the last loss back (which on WebGPU also keeps the queue short), and yields;
//! where a step on the CPU is itself too long for a frame (the CNN's), the steps move to a Web
//! Worker (`ui::worker`), a slice of time per request, and the page takes the state back.
//! Evaluations run in chunks between frames. A generation counter cancels a loop on reset, as the
//! playground's player does. The trainer lives in a thread-local (it holds the device data).

mod compress;
mod prepare;
mod search;
mod training;
mod weights;

use prepare::{Prepared, ensure_trainer, ready_for};
use training::{evaluate, train_loop};

pub(in crate::ui) use compress::CompressPanel;
pub(in crate::ui) use search::MnistSearch;

use std::cell::RefCell;

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::chart::LineChart;
use super::devices::device;
use super::draw::{diverging, put_image};
use super::digits::{loaded, thousands};
use super::worker::Place;
use weights::{export_weights, import_weights, load_shipped};
use crate::backend::BackendKind;
use crate::data::images::{ImageData, ImageDataset};
use crate::engine::{read, read_many};
use crate::models::image::{Arch, CLASSES, SIDE};
use crate::share::TrainedRun;
use crate::train::images::{ImageConfig, ImageTrainer, image_setting};

/// Misclassified test digits shown.
const MISSED: usize = 24;
/// First-layer weight images or filters shown.
const FILTERS: usize = 32;
thread_local! {
    static TRAINER: RefCell<Option<ImageTrainer>> = const { RefCell::new(None) };
}

fn with_trainer<R>(f: impl FnOnce(&mut ImageTrainer) -> R) -> Option<R> {
    TRAINER.with(|t| t.borrow_mut().as_mut().map(f))
}

/// What training is doing.
#[derive(Clone, Debug, PartialEq)]
enum Run {
    /// No trainer yet (or reset).
    Idle,
    /// Uploading the data and building the model.
    Preparing,
    Training,
    Paused,
    Evaluating,
    Done,
    Failed(String),
}

/// One chart point: `(epoch, train loss, test loss, train accuracy, test accuracy)`; NaN where a
/// value is not measured.
type Point = (f64, f64, f64, f64, f64);

/// The training panel's signals, shared with the draw pad's prediction.
#[derive(Clone, Copy)]
pub(super) struct MnistUi {
    config: RwSignal<ImageConfig>,
    /// This page's finished run, as the link points to it (set when a run from the seed has trained
    /// all its epochs).
    trained: RwSignal<Option<TrainedRun>>,
    /// The opened link's run: "train it again" and the comparison.
    from_link: RwSignal<Option<(TrainedRun, ImageConfig)>>,
    /// The model holds weights from a file: no run from the seed, so the link gets no pointer.
    from_file: RwSignal<bool>,
    /// The device asked for: `None` chooses by measuring this model on both.
    backend: RwSignal<Option<BackendKind>>,
    /// The device training runs on, and why.
    device_note: RwSignal<String>,
    /// Where the steps run.
    place: RwSignal<Place>,
    run: RwSignal<Run>,
    generation: RwSignal<u64>,
    /// Steps done and steps per epoch.
    progress: RwSignal<(u64, usize)>,
    /// While preparing: images on the device and in all.
    uploaded: RwSignal<(usize, usize)>,
    /// The step of the last chart point (a point is due once a quarter epoch has passed since).
    evaluated: RwSignal<u64>,
    /// Bumped by reset: whatever belongs to the old model (the stepper's step) is dropped.
    resets: RwSignal<u64>,
    samples_per_sec: RwSignal<f64>,
    gflops: RwSignal<f64>,
    history: RwSignal<Vec<Point>>,
    /// The last full test evaluation: accuracy, confusion, misclassified `(index, predicted)`.
    test: RwSignal<Option<(f64, [[u32; CLASSES]; CLASSES], Vec<(usize, u8)>)>>,
    /// Bumped when the weights change (the prediction and the pictures follow).
    weights_version: RwSignal<u64>,
    /// Class probabilities of the drawn digit.
    prediction: RwSignal<Option<Vec<f32>>>,
    /// What the last weights import or export did (`Err`: why it failed).
    file_note: RwSignal<Option<Result<String, String>>>,
}

impl MnistUi {
    /// Counts resets (for panels that hold something of the old model).
    pub(super) fn resets(&self) -> RwSignal<u64> {
        self.resets
    }

    /// The panel's state around `config`, the experiment the page's link carries.
    pub(super) fn new(config: RwSignal<ImageConfig>, trained: RwSignal<Option<TrainedRun>>, from_link: RwSignal<Option<(TrainedRun, ImageConfig)>>) -> Self {
        Self {
            config,
            trained,
            from_link,
            from_file: RwSignal::new(false),
            backend: RwSignal::new(None),
            device_note: RwSignal::new(String::new()),
            place: RwSignal::new(Place::Nowhere),
            run: RwSignal::new(Run::Idle),
            generation: RwSignal::new(0),
            progress: RwSignal::new((0, 0)),
            uploaded: RwSignal::new((0, 0)),
            evaluated: RwSignal::new(0),
            resets: RwSignal::new(0),
            samples_per_sec: RwSignal::new(0.0),
            gflops: RwSignal::new(0.0),
            history: RwSignal::new(Vec::new()),
            test: RwSignal::new(None),
            weights_version: RwSignal::new(0),
            prediction: RwSignal::new(None),
            file_note: RwSignal::new(None),
        }
    }
}

/// Stops any loop and drops the trainer.
fn reset(m: MnistUi) {
    m.generation.update(|g| *g += 1);
    TRAINER.with(|t| *t.borrow_mut() = None);
    m.run.set(Run::Idle);
    m.progress.set((0, 0));
    m.uploaded.set((0, 0));
    m.evaluated.set(0);
    m.resets.update(|r| *r += 1);
    m.samples_per_sec.set(0.0);
    m.gflops.set(0.0);
    m.place.set(Place::Nowhere);
    m.history.set(Vec::new());
    m.test.set(None);
    m.prediction.set(None);
    m.weights_version.update(|v| *v += 1);
    // The link no longer points to a run of this page (a link's own run stays on offer).
    m.trained.set(None);
    m.from_file.set(false);
}

/// Train (or go on after a pause).
fn start(m: MnistUi, data: std::rc::Rc<ImageData>) {
    if matches!(m.run.get_untracked(), Run::Training | Run::Preparing | Run::Evaluating) {
        return;
    }
    m.generation.update(|g| *g += 1);
    let generation = m.generation.get_untracked();
    spawn_local(async move {
        if !ready_for(m, &data, generation).await {
            return;
        }
        m.run.set(Run::Training);
        if let Err(why) = train_loop(m, generation, &data).await {
            if m.generation.get_untracked() == generation {
                m.run.set(Run::Failed(why));
            }
        }
    });
}

/// Pauses training and takes the trainer's next step for real on a trace tape, for the stepper
/// (the trainer is built first if there is none). The panel's progress and pictures follow.
pub(super) async fn traced_step(m: MnistUi, data: &ImageData) -> Result<crate::stepper::model::ModelStep, String> {
    if m.run.get_untracked() == Run::Preparing {
        return Err("the model is being prepared: try again in a moment".into());
    }
    if matches!(m.run.get_untracked(), Run::Training | Run::Evaluating) {
        m.generation.update(|g| *g += 1);
        m.run.set(Run::Paused);
    }
    if let Prepared::Abandoned = ensure_trainer(m, data).await? {
        return Err("the model was reset meanwhile".into());
    }
    let (step, progress) =
        with_trainer(|t| (crate::stepper::model::ModelStep::from_trainer(t), (t.step, t.steps_per_epoch()))).ok_or("no model yet")?;
    m.progress.set(progress);
    if matches!(m.run.get_untracked(), Run::Idle | Run::Preparing) {
        m.run.set(Run::Paused);
    }
    m.weights_version.update(|v| *v += 1);
    Ok(step)
}

/// Draws what the first layer learned: `fc1`'s weights into each of the first hidden units as
/// 28 × 28 images (MLP), or `conv1`'s filters and their feature maps on the first test image
/// (CNN). Reads back once.
async fn draw_weights(data: &ImageData) {
    let Some((arch, params, maps)) = with_trainer(|t| {
        let maps = matches!(t.config.arch(), Arch::Cnn { .. }).then(|| t.conv_maps(data.test.image(0)));
        (t.config.arch(), t.model.params[0].clone(), maps)
    }) else {
        return;
    };
    let mut parts = vec![params];
    parts.extend(maps);
    let Ok(values) = read_many(parts).await else { return };
    let weights = &values[0];
    let per = match arch {
        Arch::Mlp { .. } => SIDE * SIDE,
        Arch::Cnn { kernel, .. } => kernel * kernel,
    };
    let side = (per as f64).sqrt() as usize;
    for k in 0..FILTERS.min(weights.len() / per) {
        let w = &weights[k * per..(k + 1) * per];
        let scale = w.iter().fold(1e-6f64, |a, &b| a.max(b.abs()));
        put_image(&format!("filter-{k}"), side, side, |i| diverging((w[i] / scale) as f32));
    }
    if let Some(maps) = values.get(1) {
        let per = maps.len() / FILTERS.max(1);
        let side = (per as f64).sqrt() as usize;
        for k in 0..FILTERS.min(maps.len() / per.max(1)) {
            let f = &maps[k * per..(k + 1) * per];
            let scale = f.iter().fold(1e-6f64, |a, &b| a.max(b.abs()));
            put_image(&format!("map-{k}"), side, side, |i| diverging((f[i] / scale) as f32));
        }
    }
}

/// Class probabilities of the drawn digit (28 × 28, ink high) under the current weights.
async fn predict(m: MnistUi, digit: Vec<u8>) {
    let Some(probs) = with_trainer(|t| t.probabilities(&digit)) else {
        m.prediction.set(None);
        return;
    };
    if let Ok(p) = read(&probs).await {
        m.prediction.set(Some(p));
    }
}

/// The class probabilities of the drawn digit (`draw-prediction`), shown under the draw pad.
#[component]
pub(super) fn Prediction(m: MnistUi, digit: Signal<Option<Vec<u8>>>, classes: Signal<[&'static str; 10]>) -> impl IntoView {
    Effect::new(move |_| {
        m.weights_version.track();
        match digit.get() {
            Some(d) => spawn_local(predict(m, d)),
            None => m.prediction.set(None),
        }
    });
    view! {
        <div class="prediction" data-testid="draw-prediction">
            {move || match (m.prediction.get(), digit.with(Option::is_some)) {
                (Some(p), true) => {
                    let best = p.iter().enumerate().fold(0, |b, (i, &v)| if v > p[b] { i } else { b });
                    view! {
                        <p class="predicted">{format!("the network says {} ({:.0}%)", classes.get()[best], 100.0 * p[best])}</p>
                        <div class="bars">
                            {p.iter().enumerate().map(|(i, &v)| view! {
                                <div class="bar-row" class:best={i == best}>
                                    <span class="bar-label">{classes.get()[i]}</span>
                                    <span class="bar" style=format!("width:{:.1}%", 100.0 * v)></span>
                                    <span class="bar-value">{format!("{:.1}%", 100.0 * v)}</span>
                                </div>
                            }).collect_view()}
                        </div>
                    }.into_any()
                }
                (_, true) => view! { <p class="hint">"Train a model (above) to see what it makes of your digit."</p> }.into_any(),
                _ => view! { <p class="hint">"Draw a digit to see the class probabilities."</p> }.into_any(),
            }}
        </div>
    }
}

/// A select for one setting of the image schema.
fn choice_control(m: MnistUi, key: &'static str, label: &'static str, options: &'static [(&'static str, &'static str)]) -> impl IntoView {
    let setting = image_setting(&format!("mnist.{key}")).expect("a schema key");
    view! {
        <label>{label}
            <select data-testid=format!("mnist-{key}") disabled=move || m.run.get() != Run::Idle on:change=move |ev| {
                let v = event_target_value(&ev);
                m.config.update(|c| { let _ = (setting.set)(c, &v); });
            }>
                {options.iter().map(|&(value, text)| view! {
                    <option value=value selected=move || (setting.get)(&m.config.get()) == value>{text}</option>
                }).collect_view()}
            </select>
        </label>
    }
}

/// A text field for one setting; a bad value is named under the controls and changes nothing.
fn number_control(m: MnistUi, key: &'static str, label: &'static str, problem: RwSignal<Option<String>>) -> impl IntoView {
    let setting = image_setting(&format!("mnist.{key}")).expect("a schema key");
    view! {
        <label>{label}
            <input type="text" size="6" data-testid=format!("mnist-{key}") disabled=move || m.run.get() != Run::Idle
                prop:value=move || (setting.get)(&m.config.get())
                on:change=move |ev| {
                    let v = event_target_value(&ev);
                    let mut c = m.config.get_untracked();
                    match (setting.set)(&mut c, &v) {
                        Ok(()) => { m.config.set(c); problem.set(None) }
                        Err(why) => problem.set(Some(format!("{label}: {why} ({})", setting.expected))),
                    }
                }/>
        </label>
    }
}

/// The training panel; `ready` says whether the page's dataset (`kind`) is loaded.
#[component]
pub(super) fn TrainPanel(m: MnistUi, kind: Signal<ImageDataset>, ready: Signal<bool>) -> impl IntoView {
    let data = move || if ready.get() { loaded(kind.get()) } else { None };
    let problem = RwSignal::new(None::<String>);
    // The dataset chosen above is the experiment's; changing it resets training.
    Effect::new(move |_| {
        let k = kind.get();
        if m.config.get_untracked().dataset != k {
            reset(m);
            m.config.update(|c| c.dataset = k);
        }
    });
    Effect::new(move |_| {
        m.weights_version.track();
        if let Some(d) = loaded(kind.get_untracked()) {
            spawn_local(async move { draw_weights(&d).await });
        }
    });
    let presets: &'static [(&'static str, &'static str)] =
        &[("mlp-keras", "mlp-keras: Keras MLP (essay 000)"), ("cnn-torch", "cnn-torch: PyTorch CNN (essay 002)"), ("cnn-tuned", "cnn-tuned: the CNN at lr 0.01"), ("cnn-bn", "cnn-bn: the CNN with batch norm")];
    let progress = move || {
        let (step, per) = m.progress.get();
        let per = per.max(1) as u64;
        let epochs = m.config.get().epochs as u64;
        let epoch = (step / per + 1).min(epochs);
        let within = if step > 0 && step % per == 0 { per } else { step % per };
        (epoch, epochs, within as f64 / per as f64, step)
    };
    let eta = move || {
        let (step, per) = m.progress.get();
        let rate = m.samples_per_sec.get();
        let c = m.config.get();
        let left_steps = (c.epochs * per.max(1)) as f64 - step as f64;
        if rate <= 0.0 || left_steps <= 0.0 {
            return String::new();
        }
        let secs = left_steps * c.batch_size as f64 / rate;
        if secs > 90.0 { format!("about {:.0} min left", secs / 60.0) } else { format!("about {secs:.0} s left") }
    };
    let loss_points = Signal::derive(move || m.history.get().iter().map(|p| (p.0, p.1, p.2)).collect());
    let acc_points = Signal::derive(move || m.history.get().iter().map(|p| (p.0, p.3, p.4)).collect());
    let is_cnn = move || matches!(m.config.get().arch(), Arch::Cnn { .. });
    // The playground's start-up opens WebGPU once the page is idle; its signal says when.
    let ui = expect_context::<super::Ui>();
    let gpu_open = move || ui.gpu_available.get() && device(BackendKind::Gpu).is_some();
    view! {
        <section class="panel mnist-train">
            <h2>"Train"</h2>
            <div class="controls-row">
                {choice_control(m, "preset", "model", presets)}
                {number_control(m, "width", "hidden units", problem)}
                {number_control(m, "dropout", "dropout", problem)}
                {choice_control(m, "reg", "penalty", &[("none", "none"), ("l1", "L1"), ("l2", "L2")])}
                {number_control(m, "regrate", "penalty rate λ", problem)}
                {choice_control(m, "opt", "optimizer", &[("sgd", "SGD"), ("momentum", "SGD + momentum"), ("adam", "Adam")])}
                {number_control(m, "lr", "learning rate", problem)}
                {number_control(m, "batch", "batch", problem)}
                {number_control(m, "epochs", "epochs", problem)}
                {choice_control(m, "sched", "schedule", &[("constant", "constant"), ("step", "step decay"), ("cosine", "cosine + warm-up")])}
                {choice_control(m, "augment", "augmentation", &[("none", "none"), ("shift-rotate", "±2 px, ±10°")])}
                {number_control(m, "limit", "train images (0 = all)", problem)}
                <label>"device"
                    <select data-testid="mnist-device" disabled=move || m.run.get() != Run::Idle on:change=move |ev| {
                        m.backend.set(match event_target_value(&ev).as_str() {
                            "webgpu" => Some(BackendKind::Gpu),
                            "cpu" => Some(BackendKind::Cpu),
                            _ => None,
                        });
                    }>
                        <option value="auto" selected=move || m.backend.get().is_none()>"auto (measured)"</option>
                        <option value="cpu" selected=move || m.backend.get() == Some(BackendKind::Cpu)>"CPU"</option>
                        <option value="webgpu" disabled=move || !gpu_open() selected=move || m.backend.get() == Some(BackendKind::Gpu)>"WebGPU"</option>
                    </select>
                </label>
            </div>
            <p class="hint">{move || m.config.get().preset.title()}</p>
            {move || {
                let c = m.config.get();
                (c.arch() != c.preset.arch() || c.reg_rate > 0.0).then(|| view! { <p class="hint" data-testid="mnist-network">{format!("This run: {}", c.describe())}</p> })
            }}
            {move || m.config.get().preset.erratum().map(|e| view! { <p class="erratum" data-testid="mnist-erratum">{e}</p> })}
            {move || problem.get().map(|p| view! { <p class="error" data-testid="mnist-problem">{p}</p> })}
            // Offered while the settings are the linked run's (all of them, epochs too: a schedule
            // spans them).
            {move || m.from_link.get().filter(|(_, c)| *c == m.config.get()).map(|(r, _)| {
                let again = move || m.test.get().filter(|_| m.run.get() == Run::Done).map(|(acc, _, _)| 100.0 * acc);
                let train_again = move |_| {
                    let Some(d) = loaded(kind.get_untracked()) else { return };
                    // On the CPU: there a browser repeats a run exactly (a WebGPU run may differ in
                    // the last bits).
                    m.backend.set(Some(BackendKind::Cpu));
                    start(m, d);
                };
                view! {
                    <div class="again" data-testid="mnist-again-box">
                        <p data-testid="mnist-again-note">{format!(
                            "This link was made after training {} epoch{} from its seed, reaching {:.2}% on the 10,000 test digits. MNIST weights are too large for a link: train it again with the same settings and seed, on the CPU (where a browser repeats a CPU run exactly).",
                            r.epochs, if r.epochs == 1 { "" } else { "s" }, r.accuracy)}</p>
                        <button data-testid="mnist-again" class="primary" disabled=move || data().is_none() || m.run.get() != Run::Idle on:click=train_again>
                            {format!("▶ train it again ({} epoch{})", r.epochs, if r.epochs == 1 { "" } else { "s" })}</button>
                        {move || again().map(|a| view! {
                            <span class="hint" data-testid="mnist-again-result">{format!(" trained again: {a:.2}% (the link's run: {:.2}%)", r.accuracy)}</span>
                        })}
                    </div>
                }
            })}
            <div class="buttons">
                <button data-testid="mnist-train" disabled=move || data().is_none() || matches!(m.run.get(), Run::Training | Run::Preparing | Run::Evaluating | Run::Done)
                    on:click=move |_| if let Some(d) = loaded(kind.get_untracked()) { start(m, d) }>
                    {move || if m.run.get() == Run::Paused { "resume" } else { "train" }}
                </button>
                <button data-testid="mnist-pause" disabled=move || !matches!(m.run.get(), Run::Training | Run::Evaluating)
                    on:click=move |_| { m.generation.update(|g| *g += 1); m.run.set(Run::Paused) }>"pause"</button>
                <button data-testid="mnist-reset" on:click=move |_| reset(m)>"reset"</button>
                <button data-testid="mnist-export" title="the weights as a PyTorch state dict (safetensors)"
                    disabled=move || matches!(m.run.get(), Run::Idle | Run::Preparing)
                    on:click=move |_| spawn_local(export_weights(m))>"save weights"</button>
                <button data-testid="mnist-shipped" title="weights trained natively by gradlab's CLI on all 60,000 digits (97.75%)"
                    class:hidden=move || m.config.with(|c| c.preset != crate::train::images::Preset::MlpKeras || c.width != 128)
                    disabled=move || data().is_none() || matches!(m.run.get(), Run::Training | Run::Preparing | Run::Evaluating)
                    on:click=move |_| if let Some(d) = loaded(kind.get_untracked()) { spawn_local(load_shipped(m, d)) }>"use trained weights"</button>
                <label class="file-button" title="a safetensors state dict of this model (PyTorch names)">"load weights"
                    <input type="file" accept=".safetensors" data-testid="mnist-import" disabled=move || data().is_none()
                        on:change=move |ev| {
                            let (Some(input), Some(d)) = (ev.target(), loaded(kind.get_untracked())) else { return };
                            spawn_local(import_weights(m, input.into(), d));
                        }/>
                </label>
            </div>
            {move || m.file_note.get().map(|note| match note {
                Ok(text) => view! { <p class="hint" data-testid="mnist-file-note">{text}</p> }.into_any(),
                Err(text) => view! { <p class="error" data-testid="mnist-file-note">{text}</p> }.into_any(),
            })}
            <div class="progress-row">
                <span data-testid="mnist-epoch">{move || { let (e, n, _, _) = progress(); format!("epoch {e} of {n}") }}</span>
                <progress data-testid="mnist-epoch-progress" max="1" prop:value=move || progress().2></progress>
                <span data-testid="mnist-samples-per-sec">{move || format!("{:.0} samples/s", m.samples_per_sec.get())}</span>
                <span data-testid="mnist-gflops">{move || format!("{:.2} GFLOP/s", m.gflops.get())}</span>
                <span data-testid="mnist-eta">{eta}</span>
                <span data-testid="mnist-device-note" class="hint">{move || m.device_note.get()}</span>
                <span data-testid="mnist-where" class="hint" data-value=move || m.place.get().key()>{move || match m.place.get() {
                    Place::Nowhere => "",
                    Place::Page => "steps on the page's thread",
                    Place::Worker => "steps in a background worker",
                }}</span>
            </div>
            <p class="data-status" data-testid="mnist-status" class:error=move || matches!(m.run.get(), Run::Failed(_))>{move || match m.run.get() {
                Run::Idle => "ready: choose a model and press train".to_string(),
                Run::Preparing => match m.uploaded.get() {
                    (0, 0) => "choosing the device…".to_string(),
                    (done, all) if done < all => format!("putting the images on the device: {} of {}…", thousands(done), thousands(all)),
                    _ => "building the model…".to_string(),
                },
                Run::Training => format!("training (step {})", progress().3),
                Run::Paused => "paused".to_string(),
                Run::Evaluating => "evaluating on the test images…".to_string(),
                Run::Done => "done".to_string(),
                Run::Failed(why) => format!("training stopped: {why}"),
            }}</p>
            <div class="mnist-results">
                <div>
                    <h3>"Loss"</h3>
                    <LineChart points=loss_points testid="mnist-loss-chart" x_label="epoch " empty="train and test loss appear here" log_option=true/>
                    <h3>"Test accuracy "<span data-testid="mnist-test-acc">{move || m.test.get().map(|t| format!("{:.2}%", 100.0 * t.0)).unwrap_or_else(|| "—".into())}</span></h3>
                    <LineChart points=acc_points testid="mnist-acc-chart" x_label="epoch " empty="train and test accuracy appear here" percent=true/>
                    <p class="hint">"Points within an epoch are measured on the first 1,000 test images; the figure above on all 10,000 at each epoch's end."</p>
                </div>
                <div>
                    <h3>"Confusion matrix (rows: true, columns: predicted)"</h3>
                    <table class="confusion" data-testid="mnist-confusion">
                        <tr><th></th>{(0..CLASSES).map(|c| view! { <th>{c}</th> }).collect_view()}</tr>
                        {(0..CLASSES).map(|t| view! {
                            <tr><th>{t}</th>{(0..CLASSES).map(|p| view! {
                                <td style=move || m.test.with(|x| x.as_ref().map(|x| {
                                    let row: u32 = x.1[t].iter().sum();
                                    let share = x.1[t][p] as f32 / row.max(1) as f32;
                                    format!("background:{}", super::draw::css(if t == p { share } else { -share.sqrt() }))
                                }).unwrap_or_default())>
                                    {move || m.test.with(|x| x.as_ref().map(|x| x.1[t][p].to_string()).unwrap_or_default())}
                                </td>
                            }).collect_view()}</tr>
                        }).collect_view()}
                    </table>
                    <h3>"Misclassified test digits (predicted / true)"</h3>
                    <div class="digit-grid missed" data-testid="mnist-missed">
                        {(0..MISSED).map(|k| view! {
                            <figure class:hidden=move || m.test.with(|x| x.as_ref().is_none_or(|x| k >= x.2.len()))>
                                <canvas id=format!("missed-{k}") width="28" height="28"></canvas>
                                <figcaption>{move || m.test.with(|x| x.as_ref().and_then(|x| x.2.get(k)).map(|&(i, p)| {
                                    let truth = loaded(kind.get_untracked()).map(|d| d.test.labels[i]).unwrap_or(0);
                                    format!("{p} / {truth}")
                                }).unwrap_or_default())}</figcaption>
                            </figure>
                        }).collect_view()}
                    </div>
                </div>
            </div>
            <h3>{move || if is_cnn() {
                "conv1's 32 filters (5 × 5) and their feature maps on the first test digit".to_string()
            } else {
                let units = m.config.with(|c| c.width);
                match units {
                    1 => "What the hidden unit looks for: fc1's weights from each pixel".to_string(),
                    n if n <= FILTERS => format!("What the {n} hidden units look for: fc1's weights from each pixel"),
                    _ => format!("What the first {FILTERS} hidden units look for: fc1's weights from each pixel"),
                }
            }}</h3>
            // As many pictures as the model has filters or units (up to FILTERS).
            <div class="filters" data-testid="mnist-filters">
                {(0..FILTERS).map(|k| view! {
                    <canvas id=format!("filter-{k}") width="28" height="28" class:hidden=move || { !is_cnn() && k >= m.config.with(|c| c.width) }></canvas>
                }).collect_view()}
            </div>
            <div class="filters" class:hidden=move || !is_cnn() data-testid="mnist-maps">
                {(0..FILTERS).map(|k| view! { <canvas id=format!("map-{k}") width="28" height="28"></canvas> }).collect_view()}
            </div>
        </section>
    }
}
