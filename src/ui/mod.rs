//! The web app (the only module that touches leptos and web_sys): the 2-D playground.
//!
//! Key decisions: the engine state (trainer, devices) lives in a thread-local [`Lab`], because
//! burn tensors are not `Send` and leptos signals hold plain data; no `RefCell` borrow is ever held
//! across an `.await` (reads go through `Trainer::pending` → `Pending::read`). The play loop is
//! cancelled by a generation counter, so Reset or a settings change never leaves two loops alive.
//! Every readback is async: nothing blocks the page.

mod chart;
mod devices;
mod digits;
mod draw;
mod gan;
mod heap;
mod mnist;
mod mnist_step;
mod network;
mod play;
mod play_search;
mod search;
mod step;
mod tabular;

use std::cell::RefCell;

use burn::tensor::Device;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;

use crate::backend::BackendKind;
use devices::{device, lost_device, start, switch_backend};
use crate::data::{DatasetKind, Point, Task};
use crate::engine::{EngineError, OptimizerKind, read_many};
use crate::share::{self, BackendChoice, Page, ShareState, View};
use crate::train::schema::{self, Change};
use crate::train::gan::{GanConfig, Start, StepLog};
use crate::train::images::ImageConfig;
use crate::train::{BinaryLoss, Config, Head, Regularization, Trainer, optimizer_from_key};

/// Side of the maps' grid: at least this, and on a GPU exactly this (each cell is read back).
const GRID: usize = 48;
/// The finest grid the CPU path draws the maps at, where the network is cheap enough.
const GRID_MAX: usize = 128;
/// Multiply-adds a map refresh may cost on the CPU: 48 × 48 cells through the largest network (6 × 16,
/// all features, 3 classes: 1,440 weights), so a small network gets a crisper map for the same cost.
const GRID_MACS: usize = GRID * GRID * 1440;

/// The maps' grid side for `config`: finer for small networks on the CPU, 48 otherwise.
fn grid_side(config: &Config, backend: BackendKind) -> usize {
    if backend == BackendKind::Gpu {
        return GRID;
    }
    let macs = config.sizes().windows(2).map(|w| w[0] * w[1]).sum::<usize>().max(1);
    let side = ((GRID_MACS / macs) as f64).sqrt() as usize;
    (side / 8 * 8).clamp(GRID, GRID_MAX)
}
/// Side of the feature thumbnails' grid.
const THUMB: usize = 20;
/// Loss history points kept for the chart.
const HISTORY: usize = 400;

/// Engine state that cannot live in signals.
#[derive(Default)]
struct Lab {
    trainer: Option<Trainer>,
    cpu: Option<Device>,
    gpu: Option<Device>,
    /// Bumped to cancel the running play loop.
    generation: u64,
    points: (Vec<Point>, Vec<Point>),
    /// Weights a link or file brought, loaded by the next rebuild.
    pending_weights: Option<Vec<Vec<f32>>>,
    /// The stepper view a link asked for, opened after the next rebuild.
    pending_view: Option<View>,
    /// The maps last read (and the head that reads the prediction): redrawn at once when the
    /// pointer moves over a neuron or "discretize" changes.
    grid: Option<(crate::train::GridOutputs, Head)>,
}

thread_local! {
    static LAB: RefCell<Lab> = RefCell::new(Lab::default());
    /// The page's signals, for callbacks that cannot capture them (the GPU's device-lost
    /// callback must be `Send`).
    static PAGE: std::cell::Cell<Option<Ui>> = const { std::cell::Cell::new(None) };
}

fn with_lab<R>(f: impl FnOnce(&mut Lab) -> R) -> R {
    LAB.with(|lab| f(&mut lab.borrow_mut()))
}

/// Reactive state of the page (all `Copy` handles).
#[derive(Clone, Copy)]
pub struct Ui {
    /// The settings in force now (what the controls show).
    config: RwSignal<Config>,
    /// The settings training started with (step 0); `changes` leads from them to `config`.
    initial: RwSignal<Config>,
    /// Settings changed while training, with their steps (the link's `changes`).
    changes: RwSignal<Vec<Change>>,
    backend: RwSignal<BackendKind>,
    backend_choice: RwSignal<BackendChoice>,
    gpu_available: RwSignal<bool>,
    backend_note: RwSignal<String>,
    playing: RwSignal<bool>,
    step: RwSignal<u64>,
    epoch: RwSignal<f64>,
    train_loss: RwSignal<Option<f32>>,
    test_loss: RwSignal<Option<f32>>,
    steps_per_sec: RwSignal<f64>,
    /// Frames the play loop has drawn (the page's `data-frames`; tests and benchmarks read it).
    frames: RwSignal<u64>,
    /// Frames drawn per second while playing.
    frames_per_sec: RwSignal<f64>,
    /// Which kernels the last training step ran: `host` (ours, on the CPU) or `burn`.
    kernels: RwSignal<&'static str>,
    /// The neuron or feature under the pointer: its map is shown large in the output panel.
    hover: RwSignal<Option<network::Hover>>,
    /// The output map shows the decision only (each cell in its class's full colour).
    discretize: RwSignal<bool>,
    /// The link as last written to the address bar (`sync_url`).
    link: RwSignal<String>,
    /// Set when the weights were asked for but make the link too long: its length with them.
    link_too_long: RwSignal<Option<usize>>,
    history: RwSignal<Vec<(u64, f32, f32)>>,
    params: RwSignal<Vec<Vec<f32>>>,
    error: RwSignal<Option<String>>,
    notice: RwSignal<Option<String>>,
    show_test: RwSignal<bool>,
    include_weights: RwSignal<bool>,
    page: RwSignal<Page>,
    stepper: step::StepUi,
    /// The MNIST page's experiment (its `mnist.*` link keys).
    mnist: RwSignal<ImageConfig>,
    /// The MNIST run this page's link points to (`mnist.trained`): the opened link's, until a run
    /// here finishes an epoch (or a reset drops it).
    mnist_trained: RwSignal<Option<share::TrainedRun>>,
    /// What the opened link said of its MNIST run (the page offers to train it again).
    mnist_from_link: RwSignal<Option<(share::TrainedRun, ImageConfig)>>,
    /// The GAN page's experiment (its `gan.*` link keys) and the halves it has taken.
    gan: RwSignal<GanConfig>,
    gan_steps: RwSignal<StepLog>,
    /// The tabular experiment (the table page's settings, `tab.*`) and its table's source.
    tab: RwSignal<crate::train::tabular::TabularConfig>,
    tab_data: RwSignal<share::TableSource>,
    /// The user's table, packed for the link (`tab.csv`), when it is small enough.
    tab_csv: RwSignal<Option<String>>,
    tab_search: RwSignal<crate::train::search::SearchSpec>,
    /// The playground's hyper-parameter search (the link's `search`).
    search: RwSignal<crate::train::search::SearchSpec>,
    /// The MNIST page's hyper-parameter search (`mnist.search`).
    mnist_search: RwSignal<crate::train::search::SearchSpec>,
}

/// Mounts the app on the page.
pub fn mount() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}

fn now_ms() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map(|p| p.now()).unwrap_or(0.0)
}

/// Lets the browser render and handle input: `scheduler.yield()` where the browser has it (Chrome
/// 129, Firefox 142), which resumes as soon as that work is done; else a `setTimeout` of 0, which
/// browsers clamp to ≥ 4 ms once timers nest (a replay yielding every 12 ms lost a quarter of its
/// time to that).
async fn yield_now() {
    let global = js_sys::global();
    let scheduler = js_sys::Reflect::get(&global, &"scheduler".into()).ok().filter(|s| s.is_object());
    let yielded = scheduler.and_then(|s| {
        let f = js_sys::Reflect::get(&s, &"yield".into()).ok()?.dyn_into::<js_sys::Function>().ok()?;
        f.call0(&s).ok()?.dyn_into::<js_sys::Promise>().ok()
    });
    match yielded {
        Some(promise) => {
            let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
        }
        None => sleep(0).await,
    }
}

/// Waits `ms` milliseconds without blocking (a `setTimeout` promise).
async fn sleep(ms: u32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms as i32);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

fn location_hash() -> String {
    web_sys::window().and_then(|w| w.location().hash().ok()).unwrap_or_default()
}

/// Reads the link in the address bar into the settings; reports what was wrong with it.
/// Returns the number of steps the link asks to replay.
fn apply_link(ui: Ui) -> u64 {
    let parsed = share::decode(&location_hash());
    ui.error.set(problems_banner("This link", &parsed.problems));
    apply_state(ui, parsed.state)
}

/// The banner text for what was wrong with a link or file (`None` if nothing was).
fn problems_banner(source: &str, problems: &[share::Problem]) -> Option<String> {
    if problems.is_empty() {
        return None;
    }
    let list: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    Some(format!("{source} had problems; the rest of it was used. {}", list.join(" · ")))
}

/// Takes over a shared state (from a link or a file); returns the steps to replay or show.
fn apply_state(ui: Ui, state: ShareState) -> u64 {
    // The controls show the settings in force at the link's step; training starts from the
    // link's starting settings and the replay applies its changes at their steps.
    ui.config.set(state.config_at(state.steps));
    ui.initial.set(state.config);
    ui.changes.set(state.changes);
    ui.backend_choice.set(state.backend);
    ui.include_weights.set(state.weights.is_some());
    ui.page.set(state.view.page);
    ui.mnist_trained.set(state.mnist_trained);
    ui.mnist_from_link.set(state.mnist_trained.map(|r| (r, state.mnist.clone())));
    ui.mnist.set(state.mnist);
    // A link to the GAN page says where its weights start; opened from the tabs, the page starts
    // from the shipped weights (digits at once).
    let mut gan = state.gan;
    if state.view.page != Page::Gan && crate::train::gan::shipped_weights(gan.preset).is_some() {
        gan.start = Start::Shipped;
    }
    ui.gan.set(gan);
    ui.gan_steps.set(state.gan_steps);
    ui.tab.set(state.tab);
    ui.tab_data.set(state.tab_data);
    ui.tab_csv.set(state.tab_csv);
    ui.tab_search.set(state.tab_search);
    ui.search.set(state.search);
    ui.mnist_search.set(state.mnist_search);
    with_lab(|l| {
        l.pending_weights = state.weights;
        l.pending_view = (state.view.page == Page::Step).then_some(state.view);
    });
    state.steps
}

/// Writes the current experiment into the address bar (replaceState: no history entries) and the
/// share box. The link is encoded here only — after a change, a pause, and once a second while
/// playing — never once a frame.
fn sync_url(ui: Ui) {
    let (link, too_long) = link_and_overflow(ui);
    if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&format!("#{link}")));
    }
    ui.link.set(link);
    ui.link_too_long.set(too_long);
}

/// The experiment as it is now, steps trained included (and the weights, if asked for).
fn current_state(ui: Ui, weights: bool) -> ShareState {
    let config = ui.config.get_untracked();
    // The weights are the trainer's last saved ones, and only if that trainer is this config's.
    let params = with_lab(|l| l.trainer.as_ref().filter(|t| t.config == config).map(|t| t.saved().params.clone()));
    let (config, changes) = (ui.initial.get_untracked(), ui.changes.get_untracked());
    // The stepper shows the playground's step n (taken from step n − 1): its link replays n − 1
    // steps and takes that step again.
    let stepping_playground = ui.page.get_untracked() == Page::Step
        && ui.stepper.preset.get_untracked().is_none()
        && ui.stepper.trace.with_untracked(Option::is_some);
    ShareState {
        config,
        backend: ui.backend_choice.get_untracked(),
        steps: if stepping_playground { ui.step.get_untracked().saturating_sub(1) } else { ui.step.get_untracked() },
        changes,
        weights: params.filter(|_| weights),
        view: View {
            page: ui.page.get_untracked(),
            preset: ui.stepper.preset.get_untracked().map(String::from),
            stage: ui.stepper.stage.get_untracked() as u32,
        },
        mnist: ui.mnist.get_untracked(),
        mnist_trained: ui.mnist_trained.get_untracked(),
        gan: ui.gan.get_untracked(),
        gan_steps: ui.gan_steps.get_untracked(),
        tab: ui.tab.get_untracked(),
        tab_data: ui.tab_data.get_untracked(),
        tab_csv: ui.tab_csv.get_untracked(),
        tab_search: ui.tab_search.get_untracked(),
        search: ui.search.get_untracked(),
        mnist_search: ui.mnist_search.get_untracked(),
    }
}

/// The link of the experiment as it is now. With "include weights", the weights ride along
/// unless that makes the link longer than `share::MAX_LINK` (then `link_and_overflow` says so).
fn current_link(ui: Ui) -> String {
    link_and_overflow(ui).0
}

/// The link as it is now and, when the weights were asked for but do not fit, the length the
/// link would have with them.
fn link_and_overflow(ui: Ui) -> (String, Option<usize>) {
    if !ui.include_weights.get_untracked() {
        return (share::encode(&current_state(ui, false)), None);
    }
    let with = share::encode(&current_state(ui, true));
    if with.len() <= share::MAX_LINK {
        return (with, None);
    }
    (share::encode(&current_state(ui, false)), Some(with.len()))
}

/// Trains the `steps` a link asks for, in chunks that let the page breathe, applying the link's
/// setting changes at their steps; collects the loss history on the way (one point a chunk);
/// then redraws.
async fn replay(ui: Ui, steps: u64) {
    let state = ShareState { steps, changes: ui.changes.get_untracked(), ..ShareState::default() };
    let mut replay = share::Replay::new(&state);
    if with_lab(|l| l.trainer.as_ref().is_none_or(|t| replay.done(t))) {
        return;
    }
    let generation = with_lab(|l| l.generation);
    ui.notice.set(Some(format!("Replaying the {steps} steps of this link…")));
    // The page breathes once per ~40 ms of work (input and drawing wait no longer than that; each
    // breath costs a frame's drawing, which at 12 ms slices took about half of a 100,000-step
    // replay); a GPU chunk waits for its readback anyway.
    let mut breathed = now_ms();
    // History points reach the chart every ~250 ms, not at every breath: each redraws it.
    let mut points: Vec<(u64, f32, f32)> = Vec::new();
    let mut shown = now_ms();
    let show = |points: &mut Vec<(u64, f32, f32)>| {
        if !points.is_empty() {
            ui.history.update(|h| h.append(points));
        }
    };
    loop {
        if with_lab(|l| l.generation) != generation {
            return; // reset or a new link while replaying
        }
        // Small enough for ~200 history points, large enough that a long replay is quick.
        let chunk = if ui.backend.get_untracked() == BackendKind::Gpu { 20 } else { (steps / 200).clamp(10, 500) };
        let advanced = with_lab(|l| {
            let t = l.trainer.as_mut()?;
            let trained = replay.advance(t, chunk);
            // On the CPU the losses are read at once; a GPU's are read back below.
            let losses = t.losses_now();
            Some(trained.map(|n| (n, t.step, losses, replay.done(t))))
        });
        let (at, losses, done) = match advanced {
            None => return,
            Some(Err(e)) => {
                ui.error.set(Some(format!("A change in this link could not be replayed ({e}); the replay stopped there.")));
                break;
            }
            Some(Ok((_, at, losses, done))) => (at, losses, done),
        };
        // A GPU's: waits for the device to finish this chunk before more is queued.
        let losses = match losses {
            Ok(now) => now,
            Err((train, test)) => match read_many(vec![train, test]).await {
                Ok(v) => (v[0][0] as f32, v[1][0] as f32),
                Err(e) => {
                    lost_device(ui, &e.to_string()).await;
                    return;
                }
            },
        };
        // One history point a chunk.
        let (train, test) = losses;
        let last = points.last().map(|p| p.0).or_else(|| ui.history.with_untracked(|h| h.last().map(|p| p.0)));
        if train.is_finite() && test.is_finite() && last.is_none_or(|l| l < at) {
            points.push((at, train, test));
        }
        if done {
            break;
        }
        if ui.backend.get_untracked() == BackendKind::Gpu || now_ms() - breathed > REPLAY_SLICE_MS {
            if now_ms() - shown > REPLAY_CHART_MS {
                show(&mut points);
                shown = now_ms();
            }
            yield_now().await;
            breathed = now_ms();
        }
    }
    show(&mut points);
    ui.history.update(thin);
    ui.notice.set(None);
    refresh(ui).await;
    sync_url(ui);
}

/// The most a replay works before it lets the page handle events and draw (ms).
const REPLAY_SLICE_MS: f64 = 40.0;

/// How often a replay hands its history points to the chart (ms).
const REPLAY_CHART_MS: f64 = 250.0;

/// Keeps the loss history within [`HISTORY`] points: the older half is thinned, so the chart
/// keeps its whole span.
fn thin(h: &mut Vec<(u64, f32, f32)>) {
    while h.len() > HISTORY {
        *h = h.iter().enumerate().filter(|(i, _)| i % 2 == 0 || *i >= HISTORY / 2).map(|(_, v)| *v).collect();
    }
}

/// A link pasted into the address bar of an open page is read like a fresh one.
fn listen_for_new_links(ui: Ui) {
    use wasm_bindgen::closure::Closure;
    let on_change = Closure::<dyn FnMut()>::new(move || {
        if location_hash().trim_start_matches('#') != current_link(ui) {
            let steps = apply_link(ui);
            if let Some(kind) = ui.backend_choice.get_untracked().forced() {
                if device(kind).is_some() && kind != ui.backend.get_untracked() {
                    ui.backend.set(kind);
                }
            }
            rebuild_then(ui, steps);
        }
    });
    if let Some(w) = web_sys::window() {
        let _ = w.add_event_listener_with_callback("hashchange", on_change.as_ref().unchecked_ref());
    }
    on_change.forget(); // lives as long as the page
}

/// Stops the play loop and builds a fresh trainer from the settings (same seed → same start).
fn rebuild(ui: Ui) {
    rebuild_then(ui, 0);
}

/// As `rebuild`, then trains `steps` steps (a link's replay).
fn rebuild_then(ui: Ui, steps: u64) {
    pause(ui);
    // The diagram is rebuilt: what the pointer was over may be gone.
    ui.hover.set(None);
    with_lab(|l| l.grid = None);
    let Some(device) = device(ui.backend.get_untracked()) else { return };
    // Weights from a link or file are at its last step: built with the settings in force then.
    // Otherwise training starts from the starting settings and the replay applies the changes.
    let weights = with_lab(|l| l.pending_weights.take());
    let config = if weights.is_some() { ui.config.get_untracked() } else { ui.initial.get_untracked() };
    let steps_to_replay = match Trainer::new(config, &device) {
        Ok(mut t) => {
            let loaded = with_lab(|l| {
                // Checked against this network's shapes when the link or file was read, and
                // again by the trainer.
                let loaded = weights.map(|w| {
                    t.set_step(steps);
                    let result = t.load_params(&w);
                    if result.is_err() {
                        t.set_step(0);
                    }
                    result
                });
                l.points = (t.train_points().to_vec(), t.test_points().to_vec());
                l.trainer = Some(t);
                loaded
            });
            match loaded {
                Some(Ok(())) => {
                    ui.notice.set(Some("Opened the weights carried by this link or file; the optimizer starts afresh from them.".into()));
                    Some(0)
                }
                Some(Err(e)) => {
                    ui.error.set(Some(format!("The weights of this link or file were not used ({e}); replaying its steps instead.")));
                    None
                }
                None => Some(steps),
            }
        }
        Err(e) => {
            ui.error.set(Some(format!("Invalid settings: {e}")));
            return;
        }
    };
    let Some(steps_to_replay) = steps_to_replay else {
        // The weights did not fit: start again from the link's starting settings and replay.
        return rebuild_then(ui, steps);
    };
    ui.history.set(Vec::new());
    ui.steps_per_sec.set(0.0);
    ui.step.set(0);
    spawn_local(async move {
        refresh(ui).await;
        draw_points(ui);
        sync_url(ui);
        replay(ui, steps_to_replay).await;
        if let Some(view) = with_lab(|l| l.pending_view.take()) {
            let preset = view.preset.as_deref().and_then(crate::stepper::preset).map(|p| p.key);
            step::open(ui, ui.stepper, preset, view.stage as usize);
        }
        if let Some(body) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.body()) {
            let _ = body.dataset().set("ready", "1");
        }
    });
}

fn draw_points(ui: Ui) {
    let head = Head::of(ui.config.get_untracked().dataset.task(), ui.config.get_untracked().binary_loss);
    with_lab(|l| draw::points(&l.points.0, &l.points.1, head, ui.show_test.get_untracked()));
}

/// What a refresh redraws besides the losses and the chart.
#[derive(Clone, Copy)]
struct Redraw {
    /// The output heatmap and every neuron's thumbnail (a forward pass over the whole grid).
    maps: bool,
    /// The network's edges.
    edges: bool,
    /// A new point on the loss chart (its SVG is redrawn with every point).
    chart: bool,
}

/// Reads losses and parameters back (and with `draw.maps`, the heatmaps) and redraws. Returns false on
/// failure (the failure is handled here: a diverged run goes back to its last finite weights, a
/// lost GPU hands over to the CPU).
async fn refresh_with(ui: Ui, draw: Redraw) -> bool {
    let grid = draw.maps.then(|| grid_side(&ui.config.get_untracked(), ui.backend.get_untracked()));
    let Some((pending, epoch, head)) =
        with_lab(|l| l.trainer.as_mut().map(|t| (t.pending(grid), t.epoch(), t.head())))
    else {
        return false;
    };
    let on_gpu = ui.backend.get_untracked() == BackendKind::Gpu;
    match pending.read().await {
        Ok((readout, grid)) => {
            // The trainer was rebuilt while this read was in flight: these values are another
            // network's, so nothing is shown (the new trainer's own refresh follows).
            let kept = with_lab(|l| l.trainer.as_mut().filter(|t| t.id() == readout.trainer).map(|t| t.keep(&readout)));
            match kept {
                None => return true,
                Some(false) => {
                    diverged(ui).await;
                    return false;
                }
                Some(true) => {}
            }
            ui.step.set(readout.step);
            ui.epoch.set(epoch);
            ui.train_loss.set(Some(readout.train_loss));
            ui.test_loss.set(Some(readout.test_loss));
            if draw.chart {
                ui.history.update(|h| {
                    if h.last().is_some_and(|last| last.0 == readout.step) {
                        return;
                    }
                    h.push((readout.step, readout.train_loss, readout.test_loss));
                    thin(h);
                });
            }
            ui.params.set(readout.params);
            if draw.edges {
                network::update_edges(ui);
            }
            if let Some(grid) = grid {
                draw::output_units(&grid, head);
                draw::neurons(&grid);
                with_lab(|l| l.grid = Some((grid, head)));
                draw_output(ui);
            }
            true
        }
        Err(EngineError::NotFinite) => {
            diverged(ui).await;
            false
        }
        Err(e) if on_gpu => {
            lost_device(ui, &e.to_string()).await;
            false
        }
        Err(e) => {
            pause(ui);
            ui.error.set(Some(format!("Could not read the model's values: {e}")));
            false
        }
    }
}

/// Draws the output heatmap from the last maps read: the network's prediction, or the map of the
/// neuron or feature under the pointer.
fn draw_output(ui: Ui) {
    let shading = if ui.discretize.get_untracked() { draw::Shading::Discrete } else { draw::Shading::Continuous };
    let hover = ui.hover.get_untracked();
    with_lab(|l| {
        let Some((grid, head)) = &l.grid else { return };
        match hover {
            Some(network::Hover::Neuron { layer, unit }) if grid.hidden.get(layer.wrapping_sub(1)).is_some() => {
                draw::neuron("heatmap", grid, layer, unit)
            }
            Some(network::Hover::Feature(f)) => draw::feature("heatmap", f, grid.n),
            _ => draw::output(grid, *head, shading),
        }
    });
}

/// Full refresh, heatmaps included.
async fn refresh(ui: Ui) -> bool {
    refresh_with(ui, Redraw { maps: true, edges: true, chart: true }).await
}

/// The loss stopped being finite: stop, go back to the last finite weights (read at the last
/// refresh), and say what happened and what to do. Nothing non-finite is ever shown: the losses,
/// chart, weights and maps on the page are still those of the last finite readout.
async fn diverged(ui: Ui) {
    pause(ui);
    let saved = with_lab(|l| {
        l.trainer.as_mut().map(|t| {
            let device = t.device().clone();
            t.restore_saved(&device);
            t.step
        })
    });
    let Some(saved) = saved else { return };
    let lr = ui.config.get_untracked().lr;
    ui.error.set(Some(format!(
        "Training diverged: the loss became NaN or infinite after step {saved} — the learning rate ({lr}) is too high \
         for this network. Training stopped and went back to the weights of step {saved}, the last finite ones. Lower \
         the learning rate and press play to go on from these weights, or reset to start again."
    )));
    ui.step.set(saved);
    Box::pin(refresh(ui)).await;
    sync_url(ui);
}

fn pause(ui: Ui) {
    with_lab(|l| l.generation += 1);
    ui.playing.set(false);
}

fn play(ui: Ui) {
    if ui.playing.get_untracked() {
        return;
    }
    let generation = with_lab(|l| {
        l.generation += 1;
        l.generation
    });
    ui.playing.set(true);
    spawn_local(play::run(ui, generation));
}

/// The `data-kernels` of the backend readout: which kernels `t`'s last step ran.
fn kernels_of(t: &Trainer) -> &'static str {
    match t.path() {
        crate::train::StepPath::Host => "host",
        crate::train::StepPath::Burn(_) => "burn",
        crate::train::StepPath::None => "",
    }
}

fn step_once(ui: Ui) {
    pause(ui);
    let kernels = with_lab(|l| {
        let t = l.trainer.as_mut()?;
        t.train_step();
        Some(kernels_of(t))
    });
    ui.kernels.set(kernels.unwrap_or(""));
    spawn_local(async move {
        refresh(ui).await;
        sync_url(ui);
    });
}

/// Number text: 6 significant digits.
fn sig(x: f32) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let digits = (5 - x.abs().log10().floor() as i32).clamp(0, 12) as usize;
    format!("{x:.digits$}")
}

#[component]
fn App() -> impl IntoView {
    let ui = Ui {
        config: RwSignal::new(Config::default()),
        initial: RwSignal::new(Config::default()),
        changes: RwSignal::new(Vec::new()),
        backend: RwSignal::new(BackendKind::Cpu),
        backend_choice: RwSignal::new(BackendChoice::Auto),
        gpu_available: RwSignal::new(false),
        backend_note: RwSignal::new("starting…".into()),
        playing: RwSignal::new(false),
        step: RwSignal::new(0),
        epoch: RwSignal::new(0.0),
        train_loss: RwSignal::new(None),
        test_loss: RwSignal::new(None),
        steps_per_sec: RwSignal::new(0.0),
        frames: RwSignal::new(0),
        frames_per_sec: RwSignal::new(0.0),
        kernels: RwSignal::new(""),
        hover: RwSignal::new(None),
        discretize: RwSignal::new(false),
        link: RwSignal::new(String::new()),
        link_too_long: RwSignal::new(None),
        history: RwSignal::new(Vec::new()),
        params: RwSignal::new(Vec::new()),
        error: RwSignal::new(None),
        notice: RwSignal::new(None),
        show_test: RwSignal::new(false),
        include_weights: RwSignal::new(false),
        page: RwSignal::new(Page::Play),
        stepper: step::StepUi::new(),
        mnist: RwSignal::new(ImageConfig::default()),
        mnist_trained: RwSignal::new(None),
        mnist_from_link: RwSignal::new(None),
        gan: RwSignal::new(GanConfig { start: Start::Shipped, ..GanConfig::default() }),
        gan_steps: RwSignal::new(StepLog::default()),
        tab: RwSignal::new(crate::train::tabular::TabularConfig::adult()),
        tab_data: RwSignal::new(share::TableSource::Adult),
        tab_csv: RwSignal::new(None),
        tab_search: RwSignal::new(crate::train::search::SearchSpec::default()),
        search: RwSignal::new(crate::train::search::SearchSpec::playground()),
        mnist_search: RwSignal::new(crate::train::search::SearchSpec::mnist()),
    };
    provide_context(ui);
    provide_context(ui.stepper);
    PAGE.with(|p| p.set(Some(ui)));
    spawn_local(start(ui));
    step::listen_for_keys(ui, ui.stepper);
    let on_play = move || ui.page.get() == Page::Play;
    let on_mnist = move || ui.page.get() == Page::Mnist;
    let on_gan = move || ui.page.get() == Page::Gan;
    let on_table = move || ui.page.get() == Page::Table;
    // The MNIST, GAN and table pages are built the first time they are shown, then kept (hidden
    // when another page is): built at once, their ~1,000 elements and their effects made the
    // playground's start-up task longer. A memo changes once (false → true), so a page is never
    // built twice.
    let seen = |page: Page| Memo::new(move |before: Option<&bool>| before.copied().unwrap_or(false) || ui.page.get() == page);
    let (mnist_seen, gan_seen, table_seen) = (seen(Page::Mnist), seen(Page::Gan), seen(Page::Table));

    view! {
        <header class="top">
            <h1>"gradlab"</h1>
            <nav class="tabs">
                <button data-testid="page-play" class:active=on_play on:click=move |_| { ui.page.set(Page::Play); sync_url(ui) }>"playground"</button>
                <button data-testid="page-step" class:active=move || ui.page.get() == Page::Step on:click=move |_| {
                    if ui.stepper.trace.get_untracked().is_some() { ui.page.set(Page::Step); sync_url(ui) } else { step::open(ui, ui.stepper, None, 0) }
                }>"step through backprop"</button>
                <button data-testid="page-mnist" class:active=on_mnist on:click=move |_| { ui.page.set(Page::Mnist); sync_url(ui) }>"MNIST"</button>
                <button data-testid="page-gan" class:active=on_gan on:click=move |_| { ui.page.set(Page::Gan); sync_url(ui) }>"GAN"</button>
                <button data-testid="page-table" class:active=on_table on:click=move |_| { ui.page.set(Page::Table); sync_url(ui) }>"your table"</button>
            </nav>
            <div class="transport" class:hidden=move || !on_play()>
                <button data-testid="reset" title="reset: same seed, same initial weights" on:click=move |_| {
                    // A fresh start answers whatever the banners said (a diverged run, a lost GPU).
                    ui.error.set(None);
                    ui.notice.set(None);
                    ui.initial.set(ui.config.get_untracked());
                    ui.changes.set(Vec::new());
                    rebuild(ui)
                }>"⟲ reset"</button>
                <button data-testid="play" class="primary" disabled=move || ui.playing.get() on:click=move |_| play(ui)>"▶ play"</button>
                <button data-testid="pause" disabled=move || !ui.playing.get() on:click=move |_| {
                    pause(ui);
                    spawn_local(async move {
                        refresh(ui).await;
                        sync_url(ui);
                    });
                }>"❚❚ pause"</button>
                <button data-testid="step" title="train one batch" on:click=move |_| step_once(ui)>"step"</button>
                <button data-testid="open-stepper" title="take the next step stage by stage: every op forward and backward"
                    on:click=move |_| step::open(ui, ui.stepper, None, 0)>"step through ▸"</button>
            </div>
            <div class="counters" class:on-step=move || !on_play() data-frames=move || ui.frames.get().to_string()>
                <div><span class="k">"epoch"</span><span data-testid="epoch">{move || format!("{}", ui.epoch.get().floor() as u64)}</span></div>
                <div><span class="k">"step"</span><span data-testid="step-count">{move || ui.step.get().to_string()}</span></div>
                <div title=move || format!("{:.0} frames/s", ui.frames_per_sec.get())><span class="k">"steps/s"</span><span data-testid="steps-per-sec">{move || format!("{:.0}", ui.steps_per_sec.get())}</span></div>
                <div title="floating-point operations per second spent training: ≈ 6 per weight per sample"><span class="k">"GFLOP/s"</span><span data-testid="gflops">{move || {
                    let g = ui.steps_per_sec.get() * ui.config.with(Config::train_flops_per_step) / 1e9;
                    // Three significant digits: a tiny net on WebGPU does ≈ 0.0002.
                    match g {
                        g if g >= 0.1 => format!("{g:.2}"),
                        g if g > 0.0 => format!("{g:.*}", (2 - g.log10().floor() as i32).max(0) as usize),
                        _ => "0".into(),
                    }
                }}</span></div>
                <div><span class="k">"backend"</span><span data-testid="backend" data-kernels=move || ui.kernels.get() title=move || format!("{}{}", ui.backend_note.get(), if ui.kernels.get() == "host" { " · small networks train on gradlab's own fast CPU path" } else { "" })>{move || ui.backend.get().key()}</span>
                    {move || ui.backend_note.with(|n| n.contains("measuring")).then(|| view! {
                        <span class="measuring" data-testid="backend-measuring" title="WebGPU is being timed against the CPU in the background; training stays on the CPU meanwhile">"⏳ timing WebGPU…"</span>
                    })}</div>
            </div>
        </header>
        {move || ui.error.get().map(|e| view! {
            <div class="banner error" data-testid="app-error" role="alert">{e}
                <button class="dismiss" data-testid="dismiss-error" title="dismiss" on:click=move |_| ui.error.set(None)>"×"</button></div>
        })}
        {move || ui.notice.get().map(|n| view! {
            <div class="banner notice" data-testid="notice">{n}
                <button class="dismiss" data-testid="dismiss-notice" title="dismiss" on:click=move |_| ui.notice.set(None)>"×"</button></div>
        })}
        <div class="step-page" class:hidden=move || ui.page.get() != Page::Step><step::StepPage/></div>
        <div class="digits-page" class:hidden=move || !on_mnist()>{move || mnist_seen.get().then(|| view! {
            <digits::DigitsPage active=Signal::derive(on_mnist) config=ui.mnist trained=ui.mnist_trained from_link=ui.mnist_from_link on_change=move || sync_url(ui)/>
        })}</div>
        <div class="table-page" class:hidden=move || !on_table()>{move || table_seen.get().then(|| view! {
            <tabular::TablePage active=Signal::derive(on_table) config=ui.tab source=ui.tab_data packed=ui.tab_csv search=ui.tab_search on_change=move || sync_url(ui)/>
        })}</div>
        <div class="gan-page" class:hidden=move || !on_gan()>{move || gan_seen.get().then(|| view! {
            <gan::GanPage active=Signal::derive(on_gan) config=ui.gan log=ui.gan_steps on_change=move || sync_url(ui)/>
        })}</div>
        <main class="lab" class:hidden=move || !on_play()>
            <section class="panel data-panel"><DataPanel/></section>
            <section class="panel net-panel">
                <HyperParams/>
                <network::Network/>
            </section>
            <section class="panel out-panel"><OutputPanel/></section>
        </main>
        <div class="play-search-row" class:hidden=move || !on_play()><play_search::PlaySearch/></div>
        <footer>"Everything trains here, in your browser. Training runs on: "
            <span data-testid="backend-note">{move || ui.backend_note.get()}</span>"."</footer>
    }
}

/// Updates the settings with `f`, if the result is valid. The optimizer, learning rate, dropout,
/// regularisation and batch size change while training goes on (recorded in the link's
/// `changes`, so it replays exactly); any other change starts training afresh.
fn edit(ui: Ui, f: impl FnOnce(&mut Config)) {
    let old = ui.config.get_untracked();
    let mut config = old.clone();
    f(&mut config);
    if let Err(e) = config.validate() {
        ui.error.set(Some(format!("Invalid setting: {e}")));
        return;
    }
    // A change by hand answers whatever the banner said (a bad link, a bad setting).
    ui.error.set(None);
    let step = with_lab(|l| l.trainer.as_ref().filter(|t| t.config == old).map(|t| t.step));
    let live = step.and_then(|step| schema::live_changes(&old, &config, step));
    let room = ui.changes.with_untracked(|c| c.len() < schema::MAX_CHANGES);
    if let (Some(changes), true) = (live, room) {
        let taken = with_lab(|l| l.trainer.as_mut().map(|t| t.change_settings(config.clone())));
        if let Some(Ok(())) = taken {
            ui.changes.update(|log| {
                for c in changes {
                    // Changed twice at the same step: the last value is the one that applied.
                    match log.iter_mut().rev().take_while(|l| l.step == c.step).find(|l| l.key == c.key) {
                        Some(same) => same.value = c.value,
                        None => log.push(c),
                    }
                }
            });
            ui.config.set(config);
            sync_url(ui);
            return;
        }
    }
    ui.initial.set(config.clone());
    ui.changes.set(Vec::new());
    ui.config.set(config);
    rebuild(ui);
}

/// The data panel. The batch size has a slider for the usual 1–30 and a box for any size the
/// schema allows (1–1000), so the page accepts what links and the CLI accept.
#[component]
fn DataPanel() -> impl IntoView {
    let ui = expect_context::<Ui>();
    view! {
        <h2>"Data"</h2>
        <label>"dataset"
            <select data-testid="dataset" on:change=move |ev| {
                if let Some(d) = DatasetKind::from_key(&event_target_value(&ev)) {
                    edit(ui, |c| c.dataset = d);
                }
            }>
                {DatasetKind::ALL.into_iter().map(|d| view! {
                    <option value=d.key() selected=move || ui.config.get().dataset == d>{d.title()}</option>
                }).collect_view()}
            </select>
        </label>
        <label>{move || format!("train / test split: {:.0}% train", ui.config.get().train_ratio * 100.0)}
            <input type="range" min="10" max="90" step="10" data-testid="ratio"
                prop:value=move || (ui.config.get().train_ratio * 100.0).round().to_string()
                on:change=move |ev| { if let Ok(v) = event_target_value(&ev).parse::<f64>() { edit(ui, |c| c.train_ratio = v / 100.0) } }/>
        </label>
        <label>{move || format!("noise: {:.0}", ui.config.get().noise * 100.0)}
            <input type="range" min="0" max="50" step="5" data-testid="noise"
                prop:value=move || (ui.config.get().noise * 100.0).round().to_string()
                on:change=move |ev| { if let Ok(v) = event_target_value(&ev).parse::<f64>() { edit(ui, |c| c.noise = v / 100.0) } }/>
        </label>
        <label>"batch size "
            <input type="number" min="1" max="1000" class="batch-box" data-testid="batch-value"
                prop:value=move || ui.config.get().batch_size.to_string()
                on:change=move |ev| {
                    match event_target_value(&ev).parse::<usize>() {
                        Ok(v) if (1..=1000).contains(&v) => edit(ui, |c| c.batch_size = v),
                        _ => ui.error.set(Some("The batch size must be a whole number from 1 to 1000.".into())),
                    }
                }/>
            <input type="range" min="1" max=move || ui.config.get().batch_size.max(30).to_string() step="1" data-testid="batch"
                prop:value=move || ui.config.get().batch_size.to_string()
                on:change=move |ev| { if let Ok(v) = event_target_value(&ev).parse::<usize>() { edit(ui, |c| c.batch_size = v) } }/>
        </label>
        <label>"seed"
            <input type="number" min="0" data-testid="seed" prop:value=move || ui.config.get().seed.to_string()
                on:change=move |ev| {
                    match event_target_value(&ev).parse::<u64>() {
                        Ok(v) => edit(ui, |c| c.seed = v),
                        Err(_) => ui.error.set(Some("The seed must be a whole number ≥ 0.".into())),
                    }
                }/>
        </label>
        <button data-testid="regenerate" title="a new seed: new data points and new initial weights"
            on:click=move |_| edit(ui, |c| c.seed = c.seed.wrapping_add(1))>"↻ new seed"</button>
    }
}

/// A labelled checkbox bound to a signal; `then` runs after each change.
#[component]
fn Toggle(testid: &'static str, label: &'static str, value: RwSignal<bool>, then: fn(Ui)) -> impl IntoView {
    let ui = expect_context::<Ui>();
    view! {
        <label class="check"><input type="checkbox" data-testid=testid prop:checked=move || value.get()
            on:change=move |ev| {
                value.set(checked(&ev));
                then(ui);
            }/>{label}</label>
    }
}

/// A select of preset numbers for one setting; shows a linked value outside the presets too.
#[component]
fn NumberSelect(
    label: &'static str,
    testid: &'static str,
    presets: &'static [f64],
    get: fn(&Config) -> f64,
    set: fn(&mut Config, f64),
    /// When the setting does not apply (greyed out).
    #[prop(optional)]
    disabled: Option<fn(&Config) -> bool>,
) -> impl IntoView {
    let ui = expect_context::<Ui>();
    view! {
        <label>{label}
            <select data-testid=testid disabled=move || disabled.is_some_and(|d| d(&ui.config.get())) on:change=move |ev| {
                if let Ok(v) = event_target_value(&ev).parse::<f64>() {
                    edit(ui, |c| set(c, v))
                }
            }>
                {move || with_current(presets, get(&ui.config.get())).into_iter().map(|r| view! {
                    <option value=r.to_string() selected=get(&ui.config.get_untracked()) == r>{r.to_string()}</option>
                }).collect_view()}
            </select>
        </label>
    }
}

/// The preset values of a select, plus the current one if a link set another.
fn with_current(presets: &[f64], current: f64) -> Vec<f64> {
    let mut values = presets.to_vec();
    if !values.contains(&current) {
        values.push(current);
        values.sort_by(f64::total_cmp);
    }
    values
}

#[component]
fn HyperParams() -> impl IntoView {
    let ui = expect_context::<Ui>();
    const RATES: [f64; 11] = [0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0];
    const REG_RATES: [f64; 8] = [0.0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0];
    const DROPOUT: [f64; 6] = [0.0, 0.1, 0.2, 0.3, 0.5, 0.7];
    view! {
        <div class="hyper">
            <label>"optimizer"
                <select data-testid="optimizer" on:change=move |ev| { if let Some(o) = optimizer_from_key(&event_target_value(&ev)) { edit(ui, |c| c.optimizer = o) } }>
                    {OptimizerKind::ALL.into_iter().map(|o| view! {
                        <option value=o.key() selected=move || ui.config.get().optimizer == o>{o.key()}</option>
                    }).collect_view()}
                </select>
            </label>
            <NumberSelect label="learning rate" testid="lr" presets=&RATES get=|c| c.lr set=|c, v| c.lr = v/>
            <label>"loss"
                <select data-testid="loss" disabled=move || ui.config.get().dataset.task() != Task::Binary
                    on:change=move |ev| { let v = event_target_value(&ev); edit(ui, |c| c.binary_loss = if v == "mse" { BinaryLoss::Mse } else { BinaryLoss::Bce }) }>
                    {move || match ui.config.get().dataset.task() {
                        Task::Binary => {
                            let bce = ui.config.get().binary_loss == BinaryLoss::Bce;
                            view! {
                                <option value="bce" selected=bce>"BCE (sigmoid)"</option>
                                <option value="mse" selected=!bce>"MSE (tanh, ±1)"</option>
                            }.into_any()
                        }
                        Task::MultiClass(_) => view! { <option>"cross-entropy"</option> }.into_any(),
                        Task::Regression => view! { <option>"MSE"</option> }.into_any(),
                    }}
                </select>
            </label>
            <NumberSelect label="dropout" testid="dropout" presets=&DROPOUT get=|c| c.dropout set=|c, v| c.dropout = v/>
            <label>"regularization"
                <select data-testid="reg" on:change=move |ev| {
                    let v = event_target_value(&ev);
                    edit(ui, |c| c.regularization = match v.as_str() { "l1" => Regularization::L1, "l2" => Regularization::L2, _ => Regularization::None })
                }>
                    {[("none", Regularization::None), ("l1", Regularization::L1), ("l2", Regularization::L2)].into_iter().map(|(k, r)| view! {
                        <option value=k selected=move || ui.config.get().regularization == r>{k}</option>
                    }).collect_view()}
                </select>
            </label>
            <NumberSelect label="reg. rate" testid="reg-rate" presets=&REG_RATES get=|c| c.reg_rate set=|c, v| c.reg_rate = v
                disabled={|c: &Config| c.regularization == Regularization::None}/>
            <label>"backend"
                <select data-testid="backend-select" on:change=move |ev| { if let Some(k) = BackendKind::from_key(&event_target_value(&ev)) { switch_backend(ui, k, true) } }>
                    <option value="cpu" selected=move || ui.backend.get() == BackendKind::Cpu>"CPU"</option>
                    <option value="webgpu" disabled=move || !ui.gpu_available.get() selected=move || ui.backend.get() == BackendKind::Gpu>"WebGPU"</option>
                </select>
            </label>
        </div>
    }
}

#[component]
fn OutputPanel() -> impl IntoView {
    let ui = expect_context::<Ui>();
    let loss = |v: RwSignal<Option<f32>>| move || v.get().map(sig).unwrap_or_else(|| "–".into());
    let value = |v: RwSignal<Option<f32>>| move || v.get().map(|x| x.to_string()).unwrap_or_default();
    view! {
        <h2>"Output"</h2>
        <div class="losses">
            <div>"test loss " <b data-testid="loss-test" data-value=value(ui.test_loss)>{loss(ui.test_loss)}</b></div>
            <div>"training loss " <b data-testid="loss-train" data-value=value(ui.train_loss)>{loss(ui.train_loss)}</b></div>
        </div>
        <chart::LossChart/>
        <div class="map-caption" data-testid="map-caption">{move || network::caption(ui)}</div>
        <div class="heatmap-wrap">
            <canvas id="heatmap" width="48" height="48"></canvas>
            <canvas id="points" width="600" height="600"></canvas>
        </div>
        <div class="toggles">
            <Toggle testid="show-test" label=" show test data" value=ui.show_test then=draw_points/>
            <Toggle testid="discretize" label=" discretize output" value=ui.discretize then=draw_output/>
        </div>
        <div class="share">
            <input readonly data-testid="share-link" title="this experiment as a link"
                prop:value=move || format!("{}#{}", page_url(), ui.link.get())/>
            <button data-testid="copy-link" on:click=move |_| copy_link(ui)>"copy link"</button>
        </div>
        <Toggle testid="share-weights" label=" include the weights (rounded to half precision)" value=ui.include_weights then=sync_url/>
        {move || {
            ui.link_too_long.get().map(|n| view! {
                <div class="hint" data-testid="link-too-long">{format!(
                    "With its weights this link would be {:.1} KB, over the {} KB a link may hold: the link carries the settings and steps; download the weights file below to share the exact model.",
                    n as f64 / 1024.0, share::MAX_LINK / 1024)}</div>
            })
        }}
        <div class="files">
            <a href="#" data-testid="download-experiment" download="gradlab-experiment.json"
                on:click=move |ev| set_href(&ev, "application/json", share::to_json(&current_state(ui, true)).as_bytes())>"experiment ⬇"</a>
            <a href="#" data-testid="download-weights" download="gradlab-weights.safetensors"
                on:click=move |ev| match weights_file(ui) {
                    Ok(bytes) => set_href(&ev, "application/octet-stream", &bytes),
                    Err(e) => {
                        ev.prevent_default();
                        ui.error.set(Some(format!("Could not write the weights file: {e}")));
                    }
                }>"weights ⬇"</a>
            <label class="upload">"open file ⬆"
                <input type="file" data-testid="open-file" accept=".json,.safetensors" on:change=move |ev| open_file(ui, ev)/></label>
        </div>
        <div class="legend">{move || match ui.config.get().dataset.task() {
            Task::Regression => view! { <span class="sw neg"></span>"−1"<span class="sw mid"></span>"0"<span class="sw pos"></span>"+1" }.into_any(),
            Task::Binary => view! { <span class="sw neg"></span>"class 0"<span class="sw mid"></span>"unsure"<span class="sw pos"></span>"class 1" }.into_any(),
            Task::MultiClass(_) => view! { <span class="sw neg"></span>"class 0"<span class="sw pos"></span>"class 1"<span class="sw c2"></span>"class 2" }.into_any(),
        }}</div>
    }
}

fn checked(ev: &leptos::ev::Event) -> bool {
    ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()).map(|i| i.checked()).unwrap_or(false)
}

/// Points the clicked download link at `bytes` (a data URL) just before the browser follows it.
fn set_href(ev: &leptos::ev::MouseEvent, mime: &str, bytes: &[u8]) {
    if let Some(target) = ev.current_target() {
        let _ = js_sys::Reflect::set(&target, &"href".into(), &data_url(mime, bytes).into());
    }
}

/// `bytes` as a `data:` URL.
fn data_url(mime: &str, bytes: &[u8]) -> String {
    let mut url = format!("data:{mime},");
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            url.push(b as char);
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

/// Saves `bytes` as a file named `name` (made after an async read, so not from a link's own click).
fn download(name: &str, mime: &str, bytes: &[u8]) {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else { return };
    let Ok(a) = document.create_element("a") else { return };
    let _ = a.set_attribute("href", &data_url(mime, bytes));
    let _ = a.set_attribute("download", name);
    if let Ok(a) = a.dyn_into::<web_sys::HtmlElement>() {
        a.click();
    }
}

/// The file chosen in a file input (its name and bytes), refused above `share::MAX_FILE`; the
/// input is cleared so the same file can be chosen again. `Err` says why it could not be read.
async fn chosen_file(input: &wasm_bindgen::JsValue) -> Result<Option<(String, Vec<u8>)>, String> {
    file_in(input, share::check_file_size).await
}

/// The first file of `holder.files` (a file input, or a drop's `DataTransfer`), refused by `check`
/// on its size before it is read; a file input is cleared so the same file can be chosen again.
async fn file_in(holder: &wasm_bindgen::JsValue, check: impl Fn(f64) -> Result<(), String>) -> Result<Option<(String, Vec<u8>)>, String> {
    let input = holder;
    let file = js_sys::Reflect::get(input, &"files".into()).and_then(|files| js_sys::Reflect::get(&files, &0.into()));
    let Ok(file) = file else { return Ok(None) };
    if file.is_undefined() {
        return Ok(None);
    }
    let name = js_sys::Reflect::get(&file, &"name".into()).ok().and_then(|n| n.as_string()).unwrap_or_default();
    let size = js_sys::Reflect::get(&file, &"size".into()).ok().and_then(|n| n.as_f64()).unwrap_or(0.0);
    let clear = || {
        let _ = js_sys::Reflect::set(input, &"value".into(), &"".into());
    };
    if let Err(e) = check(size) {
        clear();
        return Err(format!("Could not open {name}: {e}. Nothing was changed."));
    }
    let bytes = async {
        let read: js_sys::Function = js_sys::Reflect::get(&file, &"arrayBuffer".into()).ok()?.dyn_into().ok()?;
        let promise: js_sys::Promise = read.call0(&file).ok()?.dyn_into().ok()?;
        let buffer = wasm_bindgen_futures::JsFuture::from(promise).await.ok()?;
        Some(js_sys::Uint8Array::new(&buffer).to_vec())
    }
    .await;
    clear();
    bytes.map(|b| Some((name.clone(), b))).ok_or_else(|| format!("Could not read {name}; nothing was changed."))
}

/// The trainer's parameters (as last read back) as a safetensors file, with the experiment's
/// link in its header. Names, shapes and values all come from the trainer itself, so they always
/// belong together, whatever the settings panel shows at that moment.
fn weights_file(ui: Ui) -> Result<Vec<u8>, String> {
    let link = share::encode(&current_state(ui, false));
    with_lab(|l| {
        let t = l.trainer.as_ref().ok_or("the network is not built yet")?;
        let (names, shapes) = t.param_layout();
        share::weights::to_safetensors(&share::weights::Params { names: &names, shapes: &shapes }, &t.saved().params, &[("gradlab", &link)])
            .map_err(|e| e.to_string())
    })
}

/// Reads a chosen file: an experiment (.json) replaces the experiment; weights (.safetensors)
/// replace the current model's parameters. Anything wrong leaves everything as it was.
fn open_file(ui: Ui, ev: leptos::ev::Event) {
    let Some(input) = ev.target() else { return };
    spawn_local(async move {
        let (name, bytes) = match chosen_file(&input).await {
            Ok(Some(file)) => file,
            Ok(None) => return,
            Err(why) => {
                ui.error.set(Some(why));
                return;
            }
        };
        if name.ends_with(".json") {
            match share::from_json(&String::from_utf8_lossy(&bytes)) {
                Ok(parsed) => {
                    let banner = problems_banner(&name, &parsed.problems);
                    let steps = apply_state(ui, parsed.state);
                    rebuild_then(ui, steps);
                    if banner.is_some() {
                        ui.error.set(banner);
                    }
                }
                Err(e) => {
                    ui.notice.set(None);
                    ui.error.set(Some(format!("Could not open {name}: {e}. Nothing was changed.")));
                }
            }
            return;
        }
        let config = ui.config.get_untracked();
        let (names, shapes) = (share::param_names(&config), share::param_shapes(&config));
        match share::weights::from_safetensors(&bytes, &share::weights::Params { names: &names, shapes: &shapes }) {
            Ok(values) => {
                pause(ui);
                match with_lab(|l| l.trainer.as_mut().map(|t| t.load_params(&values))) {
                    Some(Ok(())) => {
                        ui.error.set(None);
                        ui.notice.set(Some(format!("Loaded the weights of {name}.")));
                        refresh(ui).await;
                        sync_url(ui);
                    }
                    Some(Err(e)) => ui.error.set(Some(format!("Could not load {name}: {e}. The current model is unchanged."))),
                    None => ui.error.set(Some(format!("Could not load {name}: the network is not built yet."))),
                }
            }
            Err(e) => {
                ui.notice.set(None);
                ui.error.set(Some(format!("Could not load {name}: {e}. The current model is unchanged.")));
            }
        }
    });
}

/// The page address without its fragment.
fn page_url() -> String {
    let href = web_sys::window().and_then(|w| w.location().href().ok()).unwrap_or_default();
    href.split('#').next().unwrap_or_default().to_string()
}

fn copy_link(ui: Ui) {
    sync_url(ui);
    let link = format!("{}#{}", page_url(), current_link(ui));
    // navigator.clipboard.writeText(link), looked up at run time (absent outside secure pages).
    if let Some(w) = web_sys::window() {
        let clipboard = js_sys::Reflect::get(&w.navigator(), &"clipboard".into()).ok();
        let write = clipboard.as_ref().and_then(|c| js_sys::Reflect::get(c, &"writeText".into()).ok());
        if let (Some(c), Some(f)) = (clipboard, write.and_then(|f| f.dyn_into::<js_sys::Function>().ok())) {
            let _ = f.call1(&c, &link.clone().into());
        }
    }
    ui.notice.set(Some("Link copied: it opens this experiment and replays its steps.".into()));
}
