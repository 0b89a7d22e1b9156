//! The GAN page: the essay's GAN (or `gan-small`) trained on MNIST in the tab. An 8 × 8 grid of
//! samples from one fixed batch of z updates while it trains; D's and G's losses, mean D(x) and
//! D(G(z)) and their histograms; step D only, G only or both (GAN Lab's slow motion); the essay's
//! loop as printed beside the corrected one, with its errata; latent sliders and an interpolation
//! strip; the quality measures (inception score with `cnn-tuned`, MSE and SSIM to the nearest
//! training digit) on the fixed sample; and one step unrolled, half by half, with a summary of
//! every node — where the discriminator's half sends no gradient into the generator.
//!
//! Opened from the tabs, the page starts from the weights gradlab ships (downloaded with a
//! progress bar), so digits appear at once and training continues from them; "fresh weights"
//! starts from the seed. The link holds the settings, the start and the order of the halves taken
//! (`gan.steps`), and replays them. Training runs for a slice of each animation frame; the
//! nearest-neighbour search runs in slices between frames. The trainer lives in a thread-local.

mod draw;
mod quality;
mod unroll;
mod weights;

use std::cell::RefCell;
use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::chart::LineChart;
use draw::{draw_grid, draw_histograms, draw_samples};
use quality::Quality;
use unroll::Row;
use weights::{export_weights, fetch_file, import_weights};
use super::devices::device;
use super::digits::{Load, fetch_bytes, load_dataset, load_fraction, load_text};
use super::draw::{canvas, put_image};
use super::play::{in_slices, next_frame};
use super::{now_ms, sleep};
use crate::backend::BackendKind;
use crate::data::images::{ImageData, ImageDataset};
use crate::engine::{Precision, T, read, read_many, tensor};
use crate::models::gan::{ERRATA, GanPreset, Recipe};
use crate::train::images::SplitUpload;
use crate::train::gan::{GanConfig, GanTrainer, Half, Start, StepLog, StepOutcome, sample_z, shipped_weights};
use crate::train::quality::{Classifier, NearestSearch, inception_score};

/// Samples in the grid (8 × 8).
const GRID: usize = 64;
/// Training time per frame, in milliseconds (at least one step).
const FRAME_BUDGET: f64 = 20.0;
/// Loss points kept for the chart.
const HISTORY: usize = 400;
/// Images in the interpolation strip.
const STRIP: usize = 10;
/// Bins of the D(x) and D(G(z)) histograms.
const BINS: usize = 20;
/// Latent dimensions with a slider.
const SLIDERS: usize = 4;

thread_local! {
    static TRAINER: RefCell<Option<GanTrainer>> = const { RefCell::new(None) };
    /// The grid's last samples (64 × 784), for the quality measures and the side-by-side.
    static SAMPLES: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// The other recipe's last grid, kept when the recipe changes: (recipe, steps, samples).
    static OTHER: RefCell<Option<(Recipe, u64, Vec<f32>)>> = const { RefCell::new(None) };
    static CLASSIFIER: RefCell<Option<Rc<Classifier>>> = const { RefCell::new(None) };
    /// Downloaded weights files, by path.
    static FILES: RefCell<Vec<(String, Rc<Vec<u8>>)>> = const { RefCell::new(Vec::new()) };
    /// What the running `prepare` builds (settings and steps), to tell a new link from its own.
    static BUILDING: RefCell<Option<(GanConfig, StepLog)>> = const { RefCell::new(None) };
}

fn with_trainer<R>(f: impl FnOnce(&mut GanTrainer) -> R) -> Option<R> {
    TRAINER.with(|t| t.borrow_mut().as_mut().map(f))
}

/// What the page is doing.
#[derive(Clone, Debug, PartialEq)]
enum Run {
    Idle,
    /// Downloading the data or the weights, building the networks.
    Preparing,
    /// Replaying a link's steps: done, total.
    Replaying(u64, u64),
    Ready,
    Playing,
    Failed(String),
}

/// The page's signals.
#[derive(Clone, Copy)]
struct GanUi {
    config: RwSignal<GanConfig>,
    log: RwSignal<StepLog>,
    data_load: RwSignal<Load>,
    /// The shipped weights' download: bytes so far and in all.
    weights_load: RwSignal<Option<(f64, Option<f64>)>>,
    run: RwSignal<Run>,
    generation: RwSignal<u64>,
    d_loss: RwSignal<Option<f32>>,
    g_loss: RwSignal<Option<f32>>,
    d_real: RwSignal<Vec<f64>>,
    d_fake: RwSignal<Vec<f64>>,
    history: RwSignal<Vec<(f64, f64, f64)>>,
    steps_per_sec: RwSignal<f64>,
    quality: RwSignal<Option<Quality>>,
    /// The nearest-neighbour search's progress while it runs.
    measuring: RwSignal<Option<f64>>,
    latent: RwSignal<[f32; SLIDERS]>,
    unrolled: RwSignal<Option<Vec<(String, Vec<Row>)>>>,
    note: RwSignal<Option<String>>,
    /// Bumped when the samples are redrawn.
    drawn: RwSignal<u64>,
    /// Bumped by reset: a measurement of the old networks is dropped.
    resets: RwSignal<u64>,
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn cpu() -> Result<burn::tensor::Device, String> {
    device(BackendKind::Cpu).ok_or_else(|| "the CPU device is not open yet".to_string())
}

/// Builds the trainer for the page's settings (data, weights), then replays the link's steps in
/// slices of a frame; draws the samples.
async fn prepare(g: GanUi) {
    g.generation.update(|n| *n += 1);
    let generation = g.generation.get_untracked();
    let live = move || g.generation.get_untracked() == generation;
    BUILDING.with(|b| *b.borrow_mut() = Some((g.config.get_untracked(), g.log.get_untracked())));
    g.run.set(Run::Preparing);
    let result = async {
        let data = load_dataset(ImageDataset::Mnist, g.data_load).await?;
        let config = g.config.get_untracked();
        let shipped = if config.start == Start::Shipped {
            let url = shipped_weights(config.preset);
            let bytes = fetch_file(&url, |n, total| g.weights_load.set(Some((n as f64, total)))).await;
            Some(bytes.map_err(|why| format!("the shipped {} weights: {why}", config.preset.key()))?)
        } else {
            None
        };
        if !live() {
            return Ok(());
        }
        sleep(20).await; // let "building…" paint
        if !live() {
            return Ok(());
        }
        let cpu = cpu()?;
        let mut upload = SplitUpload::new(&data.train, config.train_limit, &cpu);
        if !in_slices(|n| upload.advance(n, &cpu), live).await {
            return Ok(());
        }
        let mut trainer = GanTrainer::with_images(config.clone(), upload.finish(&cpu), &cpu);
        if let Some(bytes) = &shipped {
            crate::share::weights::load_gan_weights(&mut trainer, bytes).map_err(|e| format!("the shipped {} weights: {e}", config.preset.key()))?;
            // How they were trained (their link), where the settings here would go on otherwise.
            let trained = crate::share::weights::link_of(bytes).map(|link| crate::share::decode(&link).state.gan);
            let apart = trained.map(|t| crate::train::gan::settings_apart(&config, &t)).unwrap_or_default();
            g.note.set((!apart.is_empty()).then(|| {
                format!("the shipped {} weights were trained with {}: set that to go on as they were trained", config.preset.key(), apart.join(", "))
            }));
        }
        TRAINER.with(|t| *t.borrow_mut() = Some(trainer));
        let log = g.log.get_untracked();
        let total: u64 = log.0.iter().map(|(_, n)| n).sum();
        let mut done = 0u64;
        for &(half, n) in &log.0 {
            let mut left = n;
            while left > 0 {
                let start = now_ms();
                while left > 0 && (now_ms() - start < 30.0) {
                    with_trainer(|t| t.take(half)).ok_or("no trainer")?;
                    left -= 1;
                    done += 1;
                }
                g.run.set(Run::Replaying(done, total));
                next_frame().await;
                if !live() {
                    return Ok(());
                }
            }
        }
        let _ = data;
        Ok::<_, String>(())
    }
    .await;
    if !live() {
        return;
    }
    match result {
        Ok(()) => {
            with_trainer(|t| g.log.set(t.log.clone()));
            g.run.set(Run::Ready);
            draw_samples(g).await;
        }
        Err(why) => g.run.set(Run::Failed(why)),
    }
}

/// Drops the trainer, its steps and everything shown of it; the page builds a new one when shown.
/// `recipe_changes`: the last grid is kept for the side-by-side with the other loop.
fn reset(g: GanUi, recipe_changes: bool) {
    g.generation.update(|n| *n += 1);
    g.resets.update(|n| *n += 1);
    let (recipe, steps) = (g.config.get_untracked().recipe, g.log.with_untracked(|l| l.counts().0));
    let samples = SAMPLES.with(|s| std::mem::take(&mut *s.borrow_mut()));
    if recipe_changes && !samples.is_empty() && steps > 0 {
        OTHER.with(|o| *o.borrow_mut() = Some((recipe, steps, samples)));
    }
    TRAINER.with(|t| *t.borrow_mut() = None);
    g.log.set(StepLog::default());
    g.run.set(Run::Idle);
    g.d_loss.set(None);
    g.g_loss.set(None);
    g.d_real.set(Vec::new());
    g.d_fake.set(Vec::new());
    g.history.set(Vec::new());
    g.steps_per_sec.set(0.0);
    g.quality.set(None);
    g.unrolled.set(None);
}

/// Reads a step's measurements and shows them.
async fn show_outcome(g: GanUi, out: StepOutcome) -> Result<(), String> {
    let parts: Vec<(usize, T)> = [out.d_loss, out.g_loss, out.d_real, out.d_fake].into_iter().enumerate().filter_map(|(k, t)| t.map(|t| (k, t))).collect();
    let values = read_many(parts.iter().map(|(_, t)| t.clone()).collect()).await.map_err(|e| e.to_string())?;
    for ((k, _), v) in parts.iter().zip(values) {
        match k {
            0 => g.d_loss.set(Some(v[0] as f32)),
            1 => g.g_loss.set(Some(v[0] as f32)),
            2 => g.d_real.set(v),
            _ => g.d_fake.set(v),
        }
    }
    let step = g.log.with_untracked(|l| l.counts().0) as f64;
    let (d, gl) = (g.d_loss.get_untracked().map_or(f64::NAN, |x| x as f64), g.g_loss.get_untracked().map_or(f64::NAN, |x| x as f64));
    if d.is_finite() || gl.is_finite() {
        g.history.update(|h| {
            if h.last().is_some_and(|p| p.0 == step) {
                h.pop();
            }
            h.push((step, d, gl));
            if h.len() > HISTORY {
                // Thin the older half: every other point.
                let half = h.len() / 2;
                let kept: Vec<_> = h[..half].iter().step_by(2).copied().chain(h[half..].iter().copied()).collect();
                *h = kept;
            }
        });
    }
    Ok(())
}

/// Plays: a slice of each frame trains; the readouts follow every frame, the samples every
/// half second (every second and a half for the essay's large generator).
async fn play_loop(g: GanUi, generation: u64, on_change: impl Fn()) -> Result<(), String> {
    let live = || g.generation.get_untracked() == generation && g.run.get_untracked() == Run::Playing;
    let draw_every = if g.config.get_untracked().preset == GanPreset::Essay { 1500.0 } else { 500.0 };
    let (mut last_draw, mut last_link) = (0.0, now_ms());
    let mut window: Vec<(f64, u64)> = Vec::new();
    while live() {
        let start = now_ms();
        let mut n = 0u64;
        let out = loop {
            let out = with_trainer(|t| t.take(Half::Both)).ok_or("no trainer")?;
            n += 1;
            if now_ms() - start > FRAME_BUDGET {
                break out;
            }
        };
        with_trainer(|t| g.log.set(t.log.clone()));
        show_outcome(g, out).await?;
        if !live() {
            return Ok(());
        }
        if !g.d_loss.get_untracked().is_some_and(f32::is_finite) || !g.g_loss.get_untracked().is_some_and(f32::is_finite) {
            return Err("a loss is not a finite number: lower the learning rate and reset".into());
        }
        window.push((now_ms() - start, n));
        if window.len() > 60 {
            window.remove(0);
        }
        let (ms, steps) = window.iter().fold((0.0, 0), |(a, b), (c, d)| (a + c, b + d));
        g.steps_per_sec.set(steps as f64 * 1000.0 / ms.max(1e-3));
        draw_histograms(&g.d_real.get_untracked(), &g.d_fake.get_untracked());
        if now_ms() - last_draw > draw_every {
            last_draw = now_ms();
            draw_samples(g).await;
        }
        if now_ms() - last_link > 1000.0 {
            last_link = now_ms();
            on_change();
        }
        next_frame().await;
    }
    Ok(())
}

/// Pauses a running play (letting its loop see it) before a step by hand; the generation to
/// check after awaits, or `None` when the networks are not ready.
async fn paused(g: GanUi) -> Option<u64> {
    if g.run.get_untracked() == Run::Playing {
        g.run.set(Run::Ready);
        next_frame().await;
    }
    (g.run.get_untracked() == Run::Ready).then(|| g.generation.get_untracked())
}

/// One step or half, by hand (pauses a running play first).
async fn step_by_hand(g: GanUi, half: Half) {
    let Some(generation) = paused(g).await else { return };
    let Some(out) = with_trainer(|t| t.take(half)) else { return };
    with_trainer(|t| g.log.set(t.log.clone()));
    let result = show_outcome(g, out).await;
    if g.generation.get_untracked() != generation {
        return; // reset (or rebuilt) meanwhile
    }
    if let Err(why) = result {
        g.run.set(Run::Failed(why));
        return;
    }
    draw_histograms(&g.d_real.get_untracked(), &g.d_fake.get_untracked());
    draw_samples(g).await;
}

/// For benchmarks (`tests/e2e/bench-gan.mjs`): milliseconds per corrected training step (batch
/// 64) of `preset` on `backend` (`cpu`, or `webgpu` once the page has opened it), on random
/// images, after one warm-up step; the device is waited for at the end.
#[wasm_bindgen::prelude::wasm_bindgen]
pub async fn bench_gan(preset: String, backend: String, steps: u32) -> Result<f64, String> {
    let preset = GanPreset::ALL.into_iter().find(|p| p.key() == preset).ok_or_else(|| format!("preset: '{preset}' is not gan-small or gan-essay"))?;
    let kind = match backend.as_str() {
        "cpu" => BackendKind::Cpu,
        "webgpu" => BackendKind::Gpu,
        other => return Err(format!("backend: '{other}' is not cpu or webgpu")),
    };
    let dev = device(kind).ok_or_else(|| format!("{backend} is not open"))?;
    let mut trainer = GanTrainer::new(GanConfig { preset, ..GanConfig::default() }, &crate::train::gan::bench_images(), &dev);
    read(&trainer.train_step().0).await.map_err(|e| e.to_string())?;
    let start = now_ms();
    let mut last = None;
    for _ in 0..steps.max(1) {
        last = Some(trainer.train_step().1);
    }
    read(&last.expect("a step")).await.map_err(|e| e.to_string())?;
    Ok((now_ms() - start) / steps.max(1) as f64)
}

fn fmt(x: Option<f32>) -> String {
    x.map_or("—".into(), |x| format!("{x:.4}"))
}

/// The page. `config` and `log` are the link's (`gan.*`); `on_change` writes the link.
#[component]
pub(super) fn GanPage(active: Signal<bool>, config: RwSignal<GanConfig>, log: RwSignal<StepLog>, on_change: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let g = GanUi {
        config,
        log,
        data_load: RwSignal::new(Load::Idle),
        weights_load: RwSignal::new(None),
        run: RwSignal::new(Run::Idle),
        generation: RwSignal::new(0),
        d_loss: RwSignal::new(None),
        g_loss: RwSignal::new(None),
        d_real: RwSignal::new(Vec::new()),
        d_fake: RwSignal::new(Vec::new()),
        history: RwSignal::new(Vec::new()),
        steps_per_sec: RwSignal::new(0.0),
        quality: RwSignal::new(None),
        measuring: RwSignal::new(None),
        latent: RwSignal::new([0.0; SLIDERS]),
        unrolled: RwSignal::new(None),
        note: RwSignal::new(None),
        drawn: RwSignal::new(0),
        resets: RwSignal::new(0),
    };
    // Shown: build the trainer (and replay the link's steps) once. A new link (settings or steps
    // that are not the trainer's) rebuilds it; the page's own steps keep the two equal.
    Effect::new(move |_| {
        let (c, l, on) = (config.get(), log.get(), active.get());
        let run = g.run.get_untracked();
        if matches!(run, Run::Preparing | Run::Replaying(..)) {
            // A new link while building: build that instead.
            if BUILDING.with(|b| b.borrow().as_ref() != Some(&(c, l))) && on {
                spawn_local(prepare(g));
            }
            return;
        }
        match TRAINER.with(|t| t.borrow().as_ref().map(|t| t.config == c && t.log == l)) {
            Some(true) => {}
            Some(false) => {
                g.generation.update(|n| *n += 1);
                TRAINER.with(|t| *t.borrow_mut() = None);
                g.run.set(Run::Idle);
                if on {
                    spawn_local(prepare(g));
                }
            }
            None if on && matches!(run, Run::Idle) => spawn_local(prepare(g)),
            None => {}
        }
    });
    // The sliders start at sample 0's own values.
    Effect::new(move |_| {
        let c = config.get();
        let z = sample_z(c.preset, c.seed, 1);
        g.latent.set([z[0], z[1], z[2], z[3]]);
    });
    let set = move |key: &'static str, value: String| {
        let mut c = config.get_untracked();
        let field = crate::train::gan::GAN_SETTINGS.iter().find(|s| s.key == key).expect("a GAN key");
        match (field.set)(&mut c, &value) {
            Ok(()) if c != config.get_untracked() => {
                g.note.set(None);
                reset(g, key == "gan.recipe");
                config.set(c);
                on_change();
            }
            Ok(()) => {}
            Err(why) => g.note.set(Some(format!("{key}: {why} (expected {})", field.expected))),
        }
    };
    let ready = move || matches!(g.run.get(), Run::Ready | Run::Playing);
    let counts = move || g.log.with(StepLog::counts);
    let status = move || match g.run.get() {
        Run::Idle => "not started".to_string(),
        Run::Preparing => match (g.data_load.get(), g.weights_load.get()) {
            (Load::Ready { .. }, Some((n, Some(t)))) if n < t => format!("downloading the shipped weights: {:.1} of {:.1} MB…", n / 1e6, t / 1e6),
            (Load::Ready { .. }, _) => "building the networks…".to_string(),
            (load, _) => load_text(&load),
        },
        Run::Replaying(done, total) => format!("replaying the link's steps: {done} of {total}"),
        Run::Ready => format!("ready · {}", if g.config.get().start == Start::Shipped { "started from the shipped weights" } else { "started from the seed's fresh weights" }),
        Run::Playing => "training".to_string(),
        Run::Failed(why) => why,
    };
    let fraction = move || match (g.run.get(), g.data_load.get(), g.weights_load.get()) {
        (Run::Preparing, Load::Ready { .. }, Some((n, Some(t)))) if t > 0.0 => n / t,
        (Run::Preparing, load, _) => load_fraction(&load),
        (Run::Replaying(d, t), _, _) => d as f64 / t.max(1) as f64,
        _ => 1.0,
    };
    let play = move || {
        if g.run.get_untracked() != Run::Ready {
            return;
        }
        g.run.set(Run::Playing);
        // Each play loop its own generation: a pause and a play within one frame leave one loop.
        g.generation.update(|n| *n += 1);
        let generation = g.generation.get_untracked();
        spawn_local(async move {
            if let Err(why) = play_loop(g, generation, on_change).await {
                if g.generation.get_untracked() == generation {
                    g.run.set(Run::Failed(why));
                }
            }
            on_change();
        });
    };
    let loss_points = Signal::derive(move || g.history.get());
    let d_means = move || (mean(&g.d_real.get()), mean(&g.d_fake.get()));
    // Redraw the latent picture and the strip when a slider moves.
    Effect::new(move |_| {
        g.latent.track();
        if g.run.get_untracked() == Run::Ready {
            spawn_local(draw_samples(g));
        }
    });
    let other = move || {
        g.drawn.track();
        OTHER.with(|o| o.borrow().as_ref().map(|(r, s, px)| (*r, *s, px.clone())))
    };
    Effect::new(move |_| {
        if let Some((_, _, px)) = other() {
            draw_grid("gan-other", &px, 8);
        }
    });
    let select = move |key: &'static str, testid: &'static str, label: &'static str, options: &'static [(&'static str, &'static str)]| {
        let field = crate::train::gan::GAN_SETTINGS.iter().find(|s| s.key == key).expect("a GAN key");
        view! {
            <label>{label}
                <select data-testid=testid on:change=move |ev| set(key, event_target_value(&ev))>
                    {options.iter().map(|(v, text)| view! {
                        <option value=*v selected=move || (field.get)(&config.get()) == *v>{*text}</option>
                    }).collect_view()}
                </select>
            </label>
        }
    };
    let number = move |key: &'static str, testid: &'static str, label: &'static str| {
        let field = crate::train::gan::GAN_SETTINGS.iter().find(|s| s.key == key).expect("a GAN key");
        view! {
            <label>{label}
                <input type="text" size="7" data-testid=testid prop:value=move || (field.get)(&config.get())
                    on:change=move |ev| set(key, event_target_value(&ev))/>
            </label>
        }
    };
    view! {
        <div class="gan">
            <section class="panel gan-controls">
                <h2>"A GAN on MNIST"</h2>
                <div class="controls-row">
                    {select("gan.preset", "gan-preset", "networks", &[("gan-small", "gan-small: G 64→256→784, D 784→256→1"), ("gan-essay", "gan-essay: the essay's (G 6.1 M, D 1.5 M)")])}
                    {select("gan.recipe", "gan-recipe", "training loop", &[("corrected", "corrected"), ("essay", "the essay's, as printed")])}
                    {select("gan.start", "gan-start", "start from", &[("shipped", "the shipped weights"), ("seed", "fresh weights (seed)")])}
                    {number("gan.lr", "gan-lr", "Adam lr")}
                    <span title="the generator's own learning rate (0: Adam lr, for both networks, as in the essay)">{number("gan.glr", "gan-glr", "G lr (0: same)")}</span>
                    {number("gan.beta1", "gan-beta1", "β₁")}
                    <span title="dropout after the discriminator's hidden layers while training (0: none, as in the essay)">{number("gan.dropout", "gan-dropout", "D dropout")}</span>
                    <span title="one-sided label smoothing: D's target for real digits is 1 − s (0: none, as in the essay)">{number("gan.smooth", "gan-smooth", "label smoothing")}</span>
                    <span title="instance noise: Gaussian noise of this deviation added to every image D sees, real and generated, so D cannot tell fakes by their background alone (0: none, as in the essay)">{number("gan.noise", "gan-noise", "noise σ")}</span>
                    <span title="feature matching: G's loss also pays λ × the gap between the average D features of its batch and of a real batch, so giving every z the same digit costs it (0: none, as in the essay)">{number("gan.match", "gan-match", "feature matching λ")}</span>
                    <span title="how the weights are first drawn: PyTorch's nn.Linear default (as in the essay: the deep generator starts out nearly the same for every z) or scaled so that each layer keeps its input's spread">{select("gan.init", "gan-init", "initial weights", &[("pytorch", "PyTorch's default"), ("scaled", "scaled (He)")])}</span>
                    {number("gan.batch", "gan-batch", "batch")}
                    {number("gan.seed", "gan-seed", "seed")}
                </div>
                <div class="buttons">
                    <button data-testid="gan-play" class="primary" disabled=move || !matches!(g.run.get(), Run::Ready) on:click=move |_| play()>"▶ train"</button>
                    <button data-testid="gan-pause" disabled=move || g.run.get() != Run::Playing on:click=move |_| { g.run.set(Run::Ready); on_change() }>"❚❚ pause"</button>
                    <button data-testid="gan-step-d" title="one discriminator step only" disabled=move || !ready() on:click=move |_| spawn_local(async move { step_by_hand(g, Half::Discriminator).await; on_change() })>"step D"</button>
                    <button data-testid="gan-step-g" title="one generator step only" disabled=move || !ready() on:click=move |_| spawn_local(async move { step_by_hand(g, Half::Generator).await; on_change() })>"step G"</button>
                    <button data-testid="gan-step-both" title="a D step, then a G step" disabled=move || !ready() on:click=move |_| spawn_local(async move { step_by_hand(g, Half::Both).await; on_change() })>"step both"</button>
                    <button data-testid="gan-reset" title="back to the start: same seed, same weights" on:click=move |_| { reset(g, false); on_change() }>"⟲ reset"</button>
                    <button data-testid="gan-export" title="both networks as a safetensors state dict (PyTorch names)" disabled=move || !ready() on:click=move |_| spawn_local(export_weights(g))>"save weights"</button>
                    <label class="file-button" title="a safetensors file of this preset's two networks">"load weights"
                        <input type="file" accept=".safetensors" data-testid="gan-import" disabled=move || !ready()
                            on:change=move |ev| if let Some(input) = ev.target() { spawn_local(import_weights(g, input.into())) }/>
                    </label>
                </div>
                <div class="progress-row">
                    <progress data-testid="gan-progress" max="1" prop:value=fraction></progress>
                    <span data-testid="gan-status" class:error=move || matches!(g.run.get(), Run::Failed(_))>{status}</span>
                </div>
                {move || g.note.get().map(|n| view! { <p class="gan-note" data-testid="gan-note">{n}</p> })}
                <div class="gan-readouts">
                    <div><span class="k">"step"</span><span data-testid="gan-step">{move || counts().0.max(counts().1).to_string()}</span></div>
                    <div><span class="k">"D steps"</span><span data-testid="gan-d-steps">{move || counts().0.to_string()}</span></div>
                    <div><span class="k">"G steps"</span><span data-testid="gan-g-steps">{move || counts().1.to_string()}</span></div>
                    <div><span class="k">"D loss"</span><span data-testid="gan-d-loss" data-value=move || g.d_loss.get().map(|x| x.to_string()).unwrap_or_default()>{move || fmt(g.d_loss.get())}</span></div>
                    <div><span class="k">"G loss"</span><span data-testid="gan-g-loss" data-value=move || g.g_loss.get().map(|x| x.to_string()).unwrap_or_default()>{move || fmt(g.g_loss.get())}</span></div>
                    <div><span class="k">"mean D(x)"</span><span data-testid="gan-d-real">{move || d_means().0.map_or("—".into(), |x| format!("{x:.3}"))}</span></div>
                    <div><span class="k">"mean D(G(z))"</span><span data-testid="gan-d-fake">{move || d_means().1.map_or("—".into(), |x| format!("{x:.3}"))}</span></div>
                    <div><span class="k">"steps/s"</span><span data-testid="gan-steps-per-sec">{move || format!("{:.1}", g.steps_per_sec.get())}</span></div>
                    <div title="floating-point operations per second of training (both halves of each step: 2 per multiply-add)"><span class="k">"GFLOP/s"</span><span data-testid="gan-gflops">{move || {
                        let c = g.config.get();
                        format!("{:.2}", g.steps_per_sec.get() * c.batch_size as f64 * c.preset.train_flops_per_sample(c.recipe) / 1e9)
                    }}</span></div>
                </div>
                <LineChart points=loss_points testid="gan-loss-chart" x_label="step " empty="D and G losses appear here" log_option=true names=("D", "G")/>
                <h3>"D on the last batch: D(x) " <span class="swatch real"></span> " and D(G(z)) " <span class="swatch fake"></span></h3>
                <canvas id="gan-hist" data-testid="gan-hist" width="320" height="90"></canvas>
                <p class="hint">"On the CPU (burn's kernels). A GAN trains well when neither wins: D(x) well above D(G(z)) but not 1 and 0."</p>
            </section>
            <section class="panel gan-samples">
                <h2>"Samples " <span class="sub">"one fixed batch of z, updated while training"</span></h2>
                <canvas id="gan-grid" data-testid="gan-grid" class="pixelated gan-grid-canvas"></canvas>
                <h3>"Latent space"</h3>
                <div class="gan-latent-row">
                    <canvas id="gan-latent" data-testid="gan-latent" class="pixelated gan-one"></canvas>
                    <div class="sliders">
                        {(0..SLIDERS).map(|k| view! {
                            <label>{format!("z{}", k + 1)}
                                <input type="range" min="-3" max="3" step="0.05" data-testid=format!("gan-z{}", k + 1)
                                    prop:value=move || g.latent.get()[k].to_string()
                                    on:input=move |ev| { let v: f32 = event_target_value(&ev).parse().unwrap_or(0.0); g.latent.update(|l| l[k] = v) }/>
                            </label>
                        }).collect_view()}
                    </div>
                </div>
                <p class="hint">"From the first sample's z to the second's, in ten steps:"</p>
                <canvas id="gan-interp" data-testid="gan-interp" class="pixelated gan-strip"></canvas>
            </section>
            <quality::QualityPanel g/>
            <section class="panel gan-errata">
                <h2>"The essay's loop, and what is wrong with it"</h2>
                <table class="errata" data-testid="gan-errata">
                    <tr><th>"printed"</th><th>"what it does"</th><th>"the fix"</th></tr>
                    {ERRATA.iter().map(|(printed, does, fix)| view! { <tr><td><code>{*printed}</code></td><td>{*does}</td><td>{*fix}</td></tr> }).collect_view()}
                </table>
                <p class="hint">"Switch the training loop above and train each: the run you leave is kept here, beside the one you train."</p>
                {move || other().map(|(recipe, steps, _)| view! {
                    <p data-testid="gan-other-caption">{format!("{} loop after {steps} steps:", if recipe == Recipe::Corrected { "The corrected" } else { "The essay's" })}</p>
                })}
                <canvas id="gan-other" data-testid="gan-other" class="pixelated gan-grid-canvas" class:hidden=move || other().is_none()></canvas>
            </section>
            <unroll::UnrollPanel g on_change/>
        </div>
    }
}
