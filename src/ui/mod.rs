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
mod files;
mod gan;
mod heap;
mod link;
mod mnist;
mod mnist_step;
mod network;
mod panels;
mod play;
mod play_search;
mod refresh;
mod search;
mod step;
mod tabular;
mod worker;

use std::cell::RefCell;

use burn::tensor::Device;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;

use crate::backend::BackendKind;
use crate::data::Point;
use crate::engine::read_many;
use crate::share::{self, BackendChoice, Page, View};
use crate::train::gan::{GanConfig, Start, StepLog};
use crate::train::images::ImageConfig;
use crate::train::schema::{self, Change};
use crate::train::{Config, Head, Trainer};
use devices::{device, start};
use files::{chosen_file, download, file_in};
use link::{apply_link, current_state, listen_for_new_links, location_hash, replay, sync_url};
use panels::{DataPanel, HyperParams, OutputPanel, checked};
use refresh::{Redraw, draw_output, draw_points, refresh, refresh_with};

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
    /// Where the play loop's steps run (the counters' `data-where`): the page's worker on the CPU.
    place: RwSignal<worker::Place>,
    /// The share of its time the worker trains (the counters' `data-share`; under 1 where it
    /// leaves the CPU to drawing: see `play::OffPage::pace`).
    worker_share: RwSignal<f64>,
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
    // The same program in the page's training worker (ui::worker) serves steps instead.
    if worker::in_worker() {
        worker::serve();
        return;
    }
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
        place: RwSignal::new(worker::Place::Nowhere),
        worker_share: RwSignal::new(1.0),
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
            <div class="counters" class:on-step=move || !on_play() data-frames=move || ui.frames.get().to_string() data-where=move || ui.place.get().key() data-share=move || format!("{:.2}", ui.worker_share.get())>
                <div><span class="k">"epoch"</span><span data-testid="epoch">{move || format!("{}", ui.epoch.get().floor() as u64)}</span></div>
                <div><span class="k">"step"</span><span data-testid="step-count">{move || ui.step.get().to_string()}</span></div>
                <div title=move || format!("{:.0} frames/s{}", ui.frames_per_sec.get(), match (ui.place.get(), ui.worker_share.get()) {
                    (worker::Place::Worker, s) if s < 0.995 => format!(" · steps in a background worker, training {:.0}% of the time to leave the page smooth", s * 100.0),
                    (worker::Place::Worker, _) => " · steps in a background worker".into(),
                    _ => String::new(),
                })><span class="k">"steps/s"</span><span data-testid="steps-per-sec">{move || format!("{:.0}", ui.steps_per_sec.get())}</span></div>
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
