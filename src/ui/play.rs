//! The play loop: trains and draws, frame after frame, until its generation is no longer current.
//!
//! Key decision: on the CPU the steps run in the page's Web Worker (`OffPage`), so the page's
//! thread only draws: on 2 cores with CPU raster the default net trains 1.6–1.9× the steps at as
//! many frames or up to 15% more than when it trained on the page, 6 × 16 2.4–5× the steps (see the
//! notes; in a browser whose raster runs on the CPU in its GPU process the worker costs frames). Until the
//! worker has started, or where it cannot, or when a test asks for the page, a frame is an
//! animation frame that `Pace` divides: training gets what drawing leaves of an 11 ms work budget.
//! The worker trains a share of each period (half a frame) and rests the rest: where the browser's
//! frames fall short of smooth, the share is cut and the cut kept only where frames came back
//! (`OffPage::pace`: on 2 cores with CPU raster the default net drew 58 frames/s at 0.7–0.8 of the
//! time against 51–53 at all of it, same runs).
//! Either way the maps are redrawn only when their last redraw is paid off and the edges back off
//! when the browser falls behind, so the largest network keeps its frame rate. On a GPU a frame
//! is 400 ms: it pays a readback round trip.

use std::rc::Rc;

use leptos::prelude::*;

use super::worker::{Duty, Place, TrainWorker, asked_place, give_up_worker, worker_now};
use super::{BackendKind, Redraw, Ui, now_ms, refresh_with, sync_url, with_lab, yield_now};
use crate::train::Config;

/// How often the play loop adds a point to the loss chart (ms): the chart is redrawn with each.
const CHART_EVERY_MS: f64 = 100.0;
/// How often the play loop writes the address bar (ms).
const LINK_EVERY_MS: f64 = 1000.0;

/// The play loop: train (or take the worker's newest state), read back and draw, yield; ends when
/// its generation is no longer current.
///
/// On the CPU a frame is one animation frame. With the worker it draws the newest state the worker
/// sent (nothing, when none came since the last frame); without it, it trains for a share of the
/// frame that adapts to what drawing costs. Then it draws losses, chart and edges, and the maps
/// (the output and a thumbnail per neuron: a forward pass over the whole grid, the costly part on
/// big networks) only when their last redraw is paid off: at most a quarter of the time goes to
/// them. On a GPU each frame pays a fixed readback round trip, so frames are long (400 ms) and the
/// maps are redrawn at most every 800 ms.
pub(super) async fn run(ui: Ui, generation: u64) {
    let gpu = ui.backend.get_untracked() == BackendKind::Gpu;
    let mut pace = Pace::new(ui.backend.get_untracked());
    let mut last_link = now_ms();
    let mut next_point = 0.0;
    let mut window: (f64, u64, u64, u64) = (now_ms(), ui.step.get_untracked(), ui.frames.get_untracked(), 0);
    // Animation frames seen (drawn or not).
    let mut ticks = 0u64;
    // On the CPU the steps go to the page's worker once it has started (the page trains meanwhile),
    // unless a test or benchmark asks for the page.
    let mut off_page = OffPage::new(!gpu && asked_place() != Some(Place::Page));
    ui.place.set(Place::Page);
    ui.worker_share.set(1.0);
    let mut drawn = false;
    loop {
        if with_lab(|l| l.generation) != generation {
            return;
        }
        ticks += 1;
        let started = now_ms();
        let stepped = match off_page.frame() {
            Ok(true) => {
                if ui.place.get_untracked() != Place::Worker {
                    ui.place.set(Place::Worker);
                }
                // Nothing new since the last frame drawn (the worker's first slice is not in yet):
                // nothing to draw.
                let step = with_lab(|l| l.trainer.as_ref().map(|t| t.step));
                if drawn && step == Some(ui.step.get_untracked()) {
                    next_frame().await;
                    continue;
                }
                Some("host")
            }
            Ok(false) => {
                let chunk = pace.chunk;
                with_lab(|l| {
                    let t = l.trainer.as_mut()?;
                    for _ in 0..chunk {
                        t.train_step();
                    }
                    Some(super::kernels_of(t))
                })
            }
            Err(why) => {
                // Training goes on here, from where the page's trainer is.
                give_up_worker(&why);
                off_page = OffPage::new(false);
                ui.place.set(Place::Page);
                ui.worker_share.set(1.0);
                pace.chunk = 1;
                continue;
            }
        };
        if let Some(k) = stepped.filter(|&k| k != ui.kernels.get_untracked()) {
            ui.kernels.set(k);
        }
        let trained = now_ms();
        let draw = Redraw { maps: trained >= pace.next_grid, edges: trained >= pace.next_edges, chart: trained >= next_point };
        if draw.chart {
            next_point = trained + CHART_EVERY_MS;
        }
        if stepped.is_none() || !refresh_with(ui, draw).await {
            return;
        }
        ui.frames.update(|f| *f += 1);
        drawn = true;
        let t = now_ms();
        pace.after_frame(started, trained - started, t - trained, draw, t);
        if t - window.0 > 500.0 {
            let steps = ui.step.get_untracked().saturating_sub(window.1);
            let frames = ui.frames.get_untracked() - window.2;
            ui.steps_per_sec.set(steps as f64 * 1000.0 / (t - window.0));
            ui.frames_per_sec.set(frames as f64 * 1000.0 / (t - window.0));
            // A window that spans a hidden tab (no animation frames at all) measures nothing.
            if ui.place.get_untracked() == Place::Worker && t - window.0 < 2000.0 {
                // The browser's frames (a frame with no new state is not drawn, so the frames
                // drawn would also count the worker's rests).
                let share = off_page.pace((ticks - window.3) as f64 * 1000.0 / (t - window.0));
                if share != ui.worker_share.get_untracked() {
                    ui.worker_share.set(share);
                }
            }
            window = (t, ui.step.get_untracked(), ui.frames.get_untracked(), ticks);
        }
        // The address bar holds the steps trained while playing too (replaceState: cheap, no
        // history entries), so a link copied mid-run replays to where it was.
        if t - last_link > LINK_EVERY_MS {
            sync_url(ui);
            last_link = t;
        }
        if gpu {
            yield_now().await;
        } else {
            next_frame().await;
        }
    }
}

/// The play loop's use of the page's worker: on 2 cores, training there leaves the page's thread
/// only drawing, and the worker trains while the page draws.
///
/// The worker trains a run (see `ui::worker::playground`) from the page's trainer's state without
/// waiting for the page, and sends its state every few milliseconds; at each frame the play loop
/// takes the newest into the page's trainer and draws it. When the page's trainer has moved on
/// its own since the last state taken (a setting changed mid-run, which the link records at the
/// page's step), a new run starts from there and the old run's states are dropped: the page's
/// trainer stays the one truth, so a run trained in the worker replays exactly from its link.
struct OffPage {
    /// Whether to use the worker (false: the page trains; also once the worker failed).
    wanted: bool,
    worker: Option<Rc<TrainWorker>>,
    /// The run in the worker, and where the page's trainer is if nothing else moved it: the
    /// trainer, its step and its optimizer's update count (a new optimizer starts from 0: chosen
    /// and chosen back within a frame, the config is the same again), and its config.
    run: Option<(u32, u64, (u64, u64), Config)>,
    /// The share of its time the worker trains, and how often it sends a state: see
    /// [`OffPage::pace`].
    duty: Duty,
    /// A descent of the share on trial: the browser's frames per second when it began, and the
    /// share then (taken back when the descent brought no frames).
    descent: Option<(f64, f64)>,
    /// Windows to wait before the next descent.
    calm: u32,
}

/// The browser's frames per second: under `FEW_FRAMES` the worker trains less of the time, down
/// to `LEAST_SHARE` (a struggling browser: a software GPU); from `TRY_FRAMES` to `SMOOTH_FRAMES`
/// (nearly smooth) it tries training less, down to `LEAST_TRIED_SHARE`, and keeps the cut only
/// where it brought frames, and tries more again after `CALM_WINDOWS`; at `SMOOTH_FRAMES` and over
/// it trains more again, and from `ENOUGH_FRAMES` to `TRY_FRAMES` too.
const FEW_FRAMES: f64 = 20.0;
const ENOUGH_FRAMES: f64 = 30.0;
const TRY_FRAMES: f64 = 40.0;
const SMOOTH_FRAMES: f64 = 57.0;
const LEAST_SHARE: f64 = 0.25;
const LEAST_TRIED_SHARE: f64 = 0.5;
/// A descent is kept when the frames per second rose by this much (or reached `SMOOTH_FRAMES`).
const DESCENT_GAIN: f64 = 3.0;
/// Windows (half seconds) after a descent before the next.
const CALM_WINDOWS: u32 = 20;

impl Drop for OffPage {
    /// The play loop ended (a pause, a reset, the stepper): so does the run.
    fn drop(&mut self) {
        if let (Some(worker), Some((run, ..))) = (&self.worker, &self.run) {
            worker.stop(*run);
        }
    }
}

impl OffPage {
    fn new(wanted: bool) -> Self {
        OffPage { wanted, worker: None, run: None, duty: Duty::FULL, descent: None, calm: 0 }
    }

    /// Drawing comes first: on a machine with few cores the worker's training takes CPU time the
    /// page's drawing (and the browser's) needs. After each half second with `frames_per_sec`
    /// animation frames, the worker's share of training time follows the rules at `FEW_FRAMES`,
    /// and its period is half a frame (each frame has a new state to draw, whatever the share).
    /// What a cut buys depends on the machine and the network (on a big network the page's own
    /// drawing holds the frames back), so a descent (×0.85 a window) is kept only where the frames
    /// came back, and taken back otherwise.
    /// Returns the share.
    fn pace(&mut self, frames_per_sec: f64) -> f64 {
        let mut share = self.duty.share;
        if frames_per_sec < FEW_FRAMES {
            share = (share * 0.75).max(LEAST_SHARE);
            self.descent = None;
        } else if frames_per_sec >= SMOOTH_FRAMES {
            // Smooth: a descent that got here is kept; otherwise train a little more.
            if self.descent.take().is_none() {
                share = (share * 1.05).min(1.0);
            }
        } else if frames_per_sec < TRY_FRAMES {
            self.descent = None;
            if frames_per_sec >= ENOUGH_FRAMES {
                share = (share * 1.1).min(1.0);
            }
        } else if let Some((began, back)) = self.descent {
            if share * 0.85 >= LEAST_TRIED_SHARE {
                share *= 0.85;
            } else {
                // At the floor: keep the cut if it brought frames, else take it back.
                if frames_per_sec < began + DESCENT_GAIN {
                    share = back;
                }
                self.descent = None;
                self.calm = CALM_WINDOWS;
            }
        } else if self.calm > 0 {
            self.calm -= 1;
        } else if share < 1.0 {
            // A cut kept (or one made when frames were few) is tried back up, in time.
            share = (share * 1.1).min(1.0);
        } else {
            self.descent = Some((frames_per_sec, share));
            share *= 0.85;
        }
        let duty = Duty { share, period_ms: (500.0 / frames_per_sec.max(1.0)).clamp(Duty::FULL.period_ms, 40.0) };
        if let (Some(worker), true) = (&self.worker, duty != self.duty) {
            worker.pace(duty);
        }
        self.duty = duty;
        share
    }

    /// At each frame: whether the worker trains (then its newest state is now the page's
    /// trainer's); the page trains until the worker has started (the first call starts it). `Err`
    /// when the worker failed.
    fn frame(&mut self) -> Result<bool, String> {
        if !self.wanted {
            return Ok(false);
        }
        let worker = match (&self.worker, worker_now()) {
            (Some(worker), _) => worker.clone(),
            (None, Ok(Some(worker))) => {
                self.worker = Some(worker.clone());
                worker
            }
            (None, Ok(None)) => return Ok(false),
            (None, Err(_)) => {
                self.wanted = false;
                return Ok(false);
            }
        };
        let page = with_lab(|l| l.trainer.as_ref().map(|t| (t.id(), (t.step, t.optimizer.t), t.config.clone())));
        if let Some((run, trainer, step, config)) = self.run.as_mut().filter(|(_, t, s, c)| page.as_ref() == Some(&(*t, *s, c.clone()))) {
            if let Some(state) = worker.latest(*run) {
                let state = state?;
                let taken = (state.step, state.optimizer_t);
                with_lab(|l| match l.trainer.as_mut().filter(|t| t.id() == *trainer && t.config == *config) {
                    Some(t) => t.restore_play_state(state).map_err(|e| e.to_string()),
                    None => Ok(()),
                })?;
                *step = taken;
            }
            return Ok(true);
        }
        // No run yet, or the page's trainer moved: a run from where it is.
        let sent = with_lab(|l| {
            let t = l.trainer.as_mut()?;
            let state = t.play_state()?;
            Some((state, t.id(), (t.step, t.optimizer.t), t.config.clone()))
        });
        let (state, trainer, step, config) = sent.ok_or("the playground's trainer is not on the host path")?;
        self.run = Some((worker.run(&config, &state, self.duty)?, trainer, step, config));
        Ok(true)
    }
}

/// How the play loop divides its time between training and drawing.
struct Pace {
    /// Which device trains: decides the frame (an animation frame's share, or 400 ms).
    backend: BackendKind,
    /// Steps trained per frame.
    chunk: usize,
    /// What drawing without the maps costs (ms, a running average; CPU).
    draw_ms: f64,
    /// When the maps are next redrawn (ms since page start).
    next_grid: f64,
    /// When the last frame started, and the time between frame starts (ms, a running average).
    last_start: f64,
    interval: f64,
    /// The edges' redraw period (ms) and when they are next redrawn: 0 (every frame) while frames
    /// keep their pace; longer when the browser's own drawing holds them up (a big network on a
    /// software GPU, where every redrawn pixel goes through the GPU process).
    edges_every: f64,
    next_edges: f64,
}

/// The CPU frame: an animation frame (~16.7 ms at 60 Hz), of which training takes what drawing
/// and the browser's own work leave (`FRAME_WORK_MS` of work in all, the rest for the browser).
const FRAME_WORK_MS: f64 = 11.0;
/// A GPU frame (training and its readback round trip), and the maps' redraw period there.
const GPU_FRAME_MS: f64 = 400.0;
const GPU_GRID_EVERY_MS: f64 = 800.0;

impl Pace {
    fn new(backend: BackendKind) -> Self {
        Pace { backend, chunk: 1, draw_ms: 0.0, next_grid: 0.0, last_start: 0.0, interval: 0.0, edges_every: 0.0, next_edges: 0.0 }
    }

    /// Adapts the chunk and the redraw periods after a frame that started at `started`, trained
    /// for `trained` ms and drew `draw` for `drawn` ms, ending at `now`.
    fn after_frame(&mut self, started: f64, trained: f64, drawn: f64, draw: Redraw, now: f64) {
        if self.last_start > 0.0 {
            self.interval = 0.8 * self.interval + 0.2 * (started - self.last_start);
        }
        self.last_start = started;
        let (spent, target) = match self.backend {
            BackendKind::Cpu => {
                // 60 frames/s leave 16.7 ms between starts; well beyond, the edges wait longer (up
                // to a quarter of a second), well within, they come back to every frame.
                self.edges_every = if self.interval > 20.0 {
                    (self.edges_every * 1.25 + 5.0).min(250.0)
                } else if self.interval < 17.5 {
                    self.edges_every * 0.8
                } else {
                    self.edges_every
                };
                if draw.edges {
                    self.next_edges = now + self.edges_every;
                }
                if draw.maps {
                    // The maps' redraw costs `drawn`; the next waits until three times that has
                    // passed, so they take at most a quarter of the time.
                    self.next_grid = now + 3.0 * (drawn - self.draw_ms).max(0.0);
                } else {
                    self.draw_ms = 0.8 * self.draw_ms + 0.2 * drawn;
                }
                (trained, (FRAME_WORK_MS - self.draw_ms).max(2.0))
            }
            BackendKind::Gpu => {
                if draw.maps {
                    self.next_grid = now + GPU_GRID_EVERY_MS;
                }
                (trained + drawn, GPU_FRAME_MS)
            }
        };
        let chunk = self.chunk;
        self.chunk = if spent < 0.7 * target {
            // Well within: as many steps as the target holds at this frame's time per step, at
            // most four times as many a frame (a first chunk of 1 reaches a few hundred steps in
            // four frames, not fourteen: at the suite's 13 frames/s that was a second of play
            // at a few steps a frame). The clock's grain (0.1 ms in a page) can make `spent` 0.
            let fits = target / (spent / chunk as f64).max(1e-4);
            (fits as usize).clamp(chunk + 1, chunk * 4)
        } else if spent > 1.5 * target {
            (chunk * 2 / 3).max(1)
        } else {
            chunk
        }
        .min(2000);
    }
}

/// Runs `slice(n)` (do up to `n` more items, true once all are done) a slice per frame, each sized
/// from the last one's time to take about 12 ms, until it is done. False if `live` turns false
/// between slices (a reset came): the work is then abandoned.
pub(super) async fn in_slices(mut slice: impl FnMut(usize) -> bool, live: impl Fn() -> bool) -> bool {
    const SLICE_MS: f64 = 12.0;
    let mut size = 500;
    loop {
        if !live() {
            return false;
        }
        let began = now_ms();
        if slice(size) {
            return true;
        }
        let per_item = (now_ms() - began) / size as f64;
        size = ((SLICE_MS / per_item.max(1e-5)) as usize).clamp(50, 20_000);
        next_frame().await;
    }
}

/// Waits for the browser's next animation frame (its rendering of the last one included).
pub(super) async fn next_frame() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.request_animation_frame(&resolve);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

