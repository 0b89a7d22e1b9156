//! The link: the address bar read into the settings (with what was wrong with it) and written
//! back from them, and a link's replay: its steps trained in slices between frames, the loss
//! chart's history collected on the way, so a replayed run looks as if it had been watched.

use leptos::prelude::*;
use wasm_bindgen::JsCast;

use super::devices::{device, lost_device};
use super::{HISTORY, Ui, now_ms, rebuild_then, refresh, with_lab, yield_now};
use crate::backend::BackendKind;
use crate::engine::read_many;
use crate::share::{self, Page, ShareState, View};
use crate::train::gan::Start;

pub(super) fn location_hash() -> String {
    web_sys::window().and_then(|w| w.location().hash().ok()).unwrap_or_default()
}

/// Reads the link in the address bar into the settings; reports what was wrong with it.
/// Returns the number of steps the link asks to replay.
pub(super) fn apply_link(ui: Ui) -> u64 {
    let parsed = share::decode(&location_hash());
    ui.error.set(problems_banner("This link", &parsed.problems));
    apply_state(ui, parsed.state)
}

/// The banner text for what was wrong with a link or file (`None` if nothing was).
pub(super) fn problems_banner(source: &str, problems: &[share::Problem]) -> Option<String> {
    if problems.is_empty() {
        return None;
    }
    let list: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    Some(format!("{source} had problems; the rest of it was used. {}", list.join(" · ")))
}

/// Takes over a shared state (from a link or a file); returns the steps to replay or show.
pub(super) fn apply_state(ui: Ui, state: ShareState) -> u64 {
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
    if state.view.page != Page::Gan {
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
pub(super) fn sync_url(ui: Ui) {
    let (link, too_long) = link_and_overflow(ui);
    if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&format!("#{link}")));
    }
    ui.link.set(link);
    ui.link_too_long.set(too_long);
}

/// The experiment as it is now, steps trained included (and the weights, if asked for).
pub(super) fn current_state(ui: Ui, weights: bool) -> ShareState {
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
pub(super) fn current_link(ui: Ui) -> String {
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
pub(super) async fn replay(ui: Ui, steps: u64) {
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
pub(super) fn thin(h: &mut Vec<(u64, f32, f32)>) {
    while h.len() > HISTORY {
        *h = h.iter().enumerate().filter(|(i, _)| i % 2 == 0 || *i >= HISTORY / 2).map(|(_, v)| *v).collect();
    }
}

/// A link pasted into the address bar of an open page is read like a fresh one.
pub(super) fn listen_for_new_links(ui: Ui) {
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
