//! The step-by-step page: one training step walked stage by stage — each forward op, the loss,
//! each backward op in reverse, each parameter update — with the op highlighted on a diagram,
//! its formula in MathML with the traced numbers, its tensors, and a gradient check beside every
//! parameter gradient. All numbers come from a [`Trace`] (plain Rust, `crate::stepper`); this
//! module only lays them out.
//!
//! The step is either a preset's (its parameters and optimizer live here, so "next training
//! step" continues from the update) or the playground's next real step (taken on its trainer).

use std::cell::RefCell;
use std::sync::Arc;

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;

use super::{Ui, device, draw, refresh, sleep, sync_url, with_lab};
use crate::backend::BackendKind;
use crate::engine::{Optimizer, OptimizerConfig, OptimizerKind, Precision, T};
use crate::share::Page;
use crate::stepper::{self, GradientCheck, Local, Matrix, PRESETS, PRINT_LIMIT, Place, StageKind, StepRecord, TakenStep, Trace, math};

/// A preset's device state between steps (not `Send`: lives outside signals).
#[derive(Default)]
struct Engine {
    params: Vec<T>,
    optimizer: Option<Optimizer>,
    backend: Option<BackendKind>,
    /// Bumped to cancel a running animation.
    generation: u64,
}

thread_local! {
    static ENGINE: RefCell<Engine> = RefCell::new(Engine::default());
}

/// Reactive state of the stepper page.
#[derive(Clone, Copy)]
pub struct StepUi {
    /// The traced step.
    pub trace: RwSignal<Option<Arc<Trace>>>,
    /// The stage shown (position in `trace.stages`).
    pub stage: RwSignal<usize>,
    /// The element the formulas are shown for.
    pub focus: RwSignal<(usize, usize)>,
    /// The preset (`None`: the playground's network).
    pub preset: RwSignal<Option<&'static str>>,
    /// The preset's update rule.
    pub optimizer: RwSignal<OptimizerKind>,
    /// Training steps taken on this page since the preset was opened.
    pub taken: RwSignal<u64>,
    /// A step is being computed.
    pub busy: RwSignal<bool>,
    /// The walk is animating.
    pub playing: RwSignal<bool>,
    /// Milliseconds per stage while animating.
    pub speed: RwSignal<u32>,
    /// Whether the nudge is shown.
    pub nudge: RwSignal<bool>,
    /// The nudge ε.
    pub nudge_eps: RwSignal<f64>,
    /// The nudged parameter value: (parameter, element).
    pub nudge_at: RwSignal<(usize, usize)>,
    /// Row drilled into in heatmaps.
    pub drill: RwSignal<usize>,
    /// What went wrong computing a step.
    pub error: RwSignal<Option<String>>,
}

impl StepUi {
    /// Fresh signals; `provide_context` them beside `Ui`.
    pub fn new() -> Self {
        Self {
            trace: RwSignal::new(None),
            stage: RwSignal::new(0),
            focus: RwSignal::new((0, 0)),
            preset: RwSignal::new(None),
            optimizer: RwSignal::new(OptimizerKind::Sgd),
            taken: RwSignal::new(0),
            busy: RwSignal::new(false),
            playing: RwSignal::new(false),
            speed: RwSignal::new(600),
            nudge: RwSignal::new(false),
            nudge_eps: RwSignal::new(1e-3),
            nudge_at: RwSignal::new((0, 0)),
            drill: RwSignal::new(0),
            error: RwSignal::new(None),
        }
    }
}

/// Opens the stepper on a preset (or the playground's network with `None`), from its start,
/// showing `stage`.
pub fn open(ui: Ui, s: StepUi, preset: Option<&'static str>, stage: usize) {
    s.preset.set(preset);
    if let Some(p) = preset.and_then(stepper::preset) {
        s.optimizer.set(p.optimizer);
    }
    ui.page.set(Page::Step);
    spawn_local(take_step(ui, s, true, stage));
}

/// Computes a step and reads it back. `fresh`: a preset starts again from its parameters.
async fn take_step(ui: Ui, s: StepUi, fresh: bool, stage: usize) {
    if s.busy.get_untracked() {
        return;
    }
    stop(s);
    s.busy.set(true);
    s.error.set(None);
    let kind = ui.backend.get_untracked();
    let record = match s.preset.get_untracked().and_then(stepper::preset) {
        Some(p) => match device(kind) {
            Some(dev) => Some(ENGINE.with(|e| {
                let mut e = e.borrow_mut();
                if fresh || e.params.is_empty() || e.backend != Some(kind) {
                    e.params = p.initial_params(&dev, Precision::F32);
                    e.optimizer = Some(Optimizer::new(OptimizerConfig::new(s.optimizer.get_untracked(), p.lr)));
                    e.backend = Some(kind);
                    s.taken.set(0);
                }
                let e = &mut *e;
                let record = StepRecord::from_preset(p, &e.params, e.optimizer.as_mut().expect("set above"));
                e.params = record.new_params.clone();
                TakenStep::Device(record)
            })),
            None => None,
        },
        None => {
            super::pause(ui);
            with_lab(|l| l.trainer.as_mut().map(StepRecord::from_trainer))
        }
    };
    let Some(record) = record else {
        s.error.set(Some("The network is not ready yet (or its settings are invalid).".into()));
        s.busy.set(false);
        return;
    };
    match record.read().await {
        Ok(trace) => {
            let stage = trace.stage(stage).map(|(i, _)| i).unwrap_or(0);
            s.focus.set((0, 0));
            s.drill.set(0);
            let first_weight = trace.params.iter().position(|p| p.name.ends_with(".w")).unwrap_or(0);
            if s.nudge_at.get_untracked().0 >= trace.params.len() || fresh {
                s.nudge_at.set((first_weight, 0));
            }
            // The trace first, then its stage: no view ever pairs a stage with a shorter trace.
            s.trace.set(Some(Arc::new(trace)));
            s.stage.set(stage);
            s.taken.update(|t| *t += 1);
        }
        Err(e) => {
            s.error.set(Some(format!("Could not read the step back from the device: {e}")));
        }
    }
    if s.preset.get_untracked().is_none() {
        // The playground's trainer took this step for real: show it there too.
        let step = with_lab(|l| l.trainer.as_ref().map(|t| t.step)).unwrap_or(0);
        ui.step.set(step);
        refresh(ui).await;
    }
    s.busy.set(false);
    sync_url(ui);
}

fn stage_count(s: StepUi) -> usize {
    s.trace.with_untracked(|t| t.as_ref().map(|t| t.stages.len()).unwrap_or(0))
}

/// Shows stage `i` (clamped).
fn go(ui: Ui, s: StepUi, i: usize) {
    let n = stage_count(s);
    if n == 0 {
        return;
    }
    s.stage.set(i.min(n - 1));
    sync_url(ui);
}

fn stop(s: StepUi) {
    s.playing.set(false);
    ENGINE.with(|e| e.borrow_mut().generation += 1);
}

/// Plays the walk from the current stage to the end, one stage per `speed` ms.
fn animate(ui: Ui, s: StepUi) {
    stop(s);
    if s.stage.get_untracked() + 1 >= stage_count(s) {
        s.stage.set(0);
    }
    s.playing.set(true);
    let generation = ENGINE.with(|e| e.borrow().generation);
    spawn_local(async move {
        loop {
            sleep(s.speed.get_untracked()).await;
            if ENGINE.with(|e| e.borrow().generation) != generation {
                return;
            }
            let next = s.stage.get_untracked() + 1;
            if next >= stage_count(s) {
                s.playing.set(false);
                return;
            }
            go(ui, s, next);
        }
    });
}

/// ←/→ step through the stages, Home/End jump to the ends (not while typing in a field).
pub fn listen_for_keys(ui: Ui, s: StepUi) {
    use wasm_bindgen::closure::Closure;
    let on_key = Closure::<dyn FnMut(web_sys::KeyboardEvent)>::new(move |ev: web_sys::KeyboardEvent| {
        if ui.page.get_untracked() != Page::Step {
            return;
        }
        let typing = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .map(|el| matches!(el.tag_name().as_str(), "INPUT" | "SELECT" | "TEXTAREA"))
            .unwrap_or(false);
        if typing || ev.ctrl_key() || ev.meta_key() || ev.alt_key() {
            return;
        }
        let here = s.stage.get_untracked();
        let target = match ev.key().as_str() {
            "ArrowRight" => here + 1,
            "ArrowLeft" => here.saturating_sub(1),
            "Home" => 0,
            "End" => stage_count(s).saturating_sub(1),
            _ => return,
        };
        ev.prevent_default();
        stop(s);
        go(ui, s, target);
    });
    if let Some(w) = web_sys::window() {
        let _ = w.add_event_listener_with_callback("keydown", on_key.as_ref().unchecked_ref());
    }
    on_key.forget();
}

/// The whole page.
#[component]
pub fn StepPage() -> impl IntoView {
    let ui = expect_context::<Ui>();
    let s = expect_context::<StepUi>();
    view! {
        <section class="panel step-controls">
            <StepControls/>
        </section>
        {move || s.error.get().map(|e| view! { <div class="banner error" data-testid="step-error" role="alert">{e}</div> })}
        <main class="step-main">
            <section class="panel step-left">
                <h2>"Network"</h2>
                <Diagram/>
                <About/>
            </section>
            <section class="panel stage-panel"><StageView/></section>
            <section class="panel params-panel"><ParamPanel/></section>
        </main>
        <Errata/>
        {move || (ui.page.get() == Page::Step && s.trace.get().is_none() && s.error.get().is_none())
            .then(|| view! { <p class="loading">"Computing the step…"</p> })}
    }
}

#[component]
fn StepControls() -> impl IntoView {
    let ui = expect_context::<Ui>();
    let s = expect_context::<StepUi>();
    let count = move || s.trace.with(|t| t.as_ref().map(|t| t.stages.len()).unwrap_or(0));
    let jump = move |kind: StageKind| {
        let target = s.trace.with_untracked(|t| t.as_ref().and_then(|t| t.first_of(kind)));
        if let Some(i) = target {
            stop(s);
            go(ui, s, i);
        }
    };
    let presets = PRESETS
        .iter()
        .map(|p| view! { <option value=p.key selected=move || s.preset.get() == Some(p.key)>{p.key}" — "{p.title}</option> })
        .collect_view();
    view! {
        <div class="step-row">
            <label>"network"
                <select data-testid="step-source" on:change=move |ev| {
                    let v = event_target_value(&ev);
                    let key = PRESETS.iter().find(|p| p.key == v).map(|p| p.key);
                    open(ui, s, key, 0);
                }>
                    <option value="playground" selected=move || s.preset.get().is_none()>"the playground's network, its next batch"</option>
                    {presets}
                </select>
            </label>
            <label>"optimizer"
                <select data-testid="step-optimizer" disabled=move || s.preset.get().is_none()
                    title="the playground's network uses the playground's optimizer"
                    on:change=move |ev| {
                        let v = event_target_value(&ev);
                        if let Some(k) = OptimizerKind::ALL.into_iter().find(|k| k.key() == v) {
                            s.optimizer.set(k);
                            spawn_local(take_step(ui, s, true, s.stage.get_untracked()));
                        }
                    }>
                    {OptimizerKind::ALL.into_iter().map(|k| view! {
                        <option value=k.key() selected=move || {
                            if s.preset.get().is_some() { s.optimizer.get() == k } else { ui.config.get().optimizer == k }
                        }>{k.key()}</option>
                    }).collect_view()}
                </select>
            </label>
            <button data-testid="step-again" disabled=move || s.busy.get()
                title="take the next training step from the updated parameters"
                on:click=move |_| spawn_local(take_step(ui, s, false, 0))>"next training step ⟳"</button>
            <button data-testid="step-restart" disabled=move || s.busy.get() || s.preset.get().is_none()
                title="back to the preset's starting parameters"
                on:click=move |_| spawn_local(take_step(ui, s, true, 0))>"restart"</button>
            <span class="step-meta">{move || if s.preset.get().is_none() { "the playground's step " } else { "training step " }}
                <b data-testid="step-taken">{move || if s.preset.get().is_none() { ui.step.get() } else { s.taken.get() }}</b>
                " · batch loss "<b data-testid="step-loss" title="the loss on this step's batch only (the playground shows the loss over all its points)">{move || s.trace.with(|t| t.as_ref().map(|t| math::sig(t.loss_value())).unwrap_or_default())}</b>
                " · on "{move || ui.backend.get().key()}</span>
        </div>
        <div class="step-row nav">
            <button data-testid="step-first" title="first stage (Home)" on:click=move |_| { stop(s); go(ui, s, 0) }>"|◀"</button>
            <button data-testid="step-prev" title="←" on:click=move |_| { stop(s); go(ui, s, s.stage.get_untracked().saturating_sub(1)) }>"◀ prev"</button>
            <span class="stage-counter">"stage "<b data-testid="stage-index">{move || if count() == 0 { 0 } else { s.stage.get() + 1 }}</b>
                " of "<b data-testid="stage-count">{count}</b></span>
            <button data-testid="step-next" title="→" on:click=move |_| { stop(s); go(ui, s, s.stage.get_untracked() + 1) }>"next ▶"</button>
            <button data-testid="step-last" title="last stage (End)" on:click=move |_| { stop(s); go(ui, s, count().saturating_sub(1)) }>"▶|"</button>
            <span class="jumps">"jump to "
                <button data-testid="jump-forward" on:click=move |_| jump(StageKind::Forward)>"forward"</button>
                <button data-testid="jump-loss" on:click=move |_| jump(StageKind::Loss)>"loss"</button>
                <button data-testid="jump-backward" on:click=move |_| jump(StageKind::Backward)>"backward"</button>
                <button data-testid="jump-update" on:click=move |_| jump(StageKind::Update)>"update"</button>
            </span>
            <button data-testid="step-play" on:click=move |_| { if s.playing.get_untracked() { stop(s) } else { animate(ui, s) } }>
                {move || if s.playing.get() { "❚❚ pause" } else { "▶ play the step" }}</button>
            <select data-testid="step-speed" title="seconds per stage" on:change=move |ev| {
                if let Ok(ms) = event_target_value(&ev).parse::<u32>() { s.speed.set(ms) }
            }>
                {[(1500u32, "slow"), (600, "normal"), (200, "fast")].into_iter().map(|(ms, name)| view! {
                    <option value=ms.to_string() selected=move || s.speed.get() == ms>{name}</option>
                }).collect_view()}
            </select>
        </div>
        <div class="timeline" role="list">
            // Plain classes, re-rendered with the stage: a reactive class per chip, rebuilt with
            // every new trace, would keep the old chips' effects alive (see ParamPanel).
            {move || s.trace.get().map(|t| {
                let shown = s.stage.get();
                t.stages.iter().enumerate().map(|(i, st)| {
                    let name = t.stage_name(i);
                    view! {
                        <button role="listitem" class=format!("chip {}", st.kind.name()) class:current=shown == i
                            title=name on:click=move |_| { stop(s); go(ui, s, i) }></button>
                    }
                }).collect_view()
            })}
        </div>
    }
}

/// Which part of the diagram the stage concerns.
fn current_place(t: &Trace, i: usize) -> Option<(Place, StageKind)> {
    let layers = t.sizes().len().saturating_sub(1);
    let (_, stage) = t.stage(i)?;
    let node = match stage.kind {
        StageKind::Update => t.params[stage.index].node,
        _ => stage.index,
    };
    Some((stepper::place(t.nodes[node].tag, layers), stage.kind))
}

#[component]
fn Diagram() -> impl IntoView {
    let s = expect_context::<StepUi>();
    move || {
        let t = s.trace.get()?;
        let sizes = t.sizes();
        let (place, kind) = current_place(&t, s.stage.get())?;
        let layers = sizes.len();
        let tallest = sizes.iter().copied().max().unwrap_or(1).min(16);
        let (w, h) = (70.0 + 90.0 * layers as f64, 40.0 + 34.0 * tallest as f64);
        let x = |l: usize| 30.0 + 90.0 * l as f64;
        let y = |l: usize, i: usize| {
            let n = sizes[l].min(16);
            h / 2.0 + (i as f64 - (n as f64 - 1.0) / 2.0) * 34.0
        };
        let mut edges = Vec::new();
        for l in 1..layers {
            let weights = t.params.iter().find(|p| p.name == format!("l{l}.w"));
            let max = weights.map(|p| p.before.values.iter().fold(0.0f64, |m, v| m.max(v.abs()))).unwrap_or(1.0).max(1e-9);
            let hot = place == Place::Edges(l);
            for i in 0..sizes[l - 1].min(16) {
                for j in 0..sizes[l].min(16) {
                    let v = weights.map(|p| p.before.at(i, j)).unwrap_or(0.0);
                    let colour = if hot { "#d73a49".to_string() } else { draw::css((v / max) as f32) };
                    let width = if hot { 3.0 } else { 0.5 + 2.5 * v.abs() / max };
                    edges.push(view! {
                        <line x1=x(l - 1) y1=y(l - 1, i) x2=x(l) y2=y(l, j) stroke=colour stroke-width=width>
                            <title>{format!("l{l}.w[{i},{j}] = {}", v)}</title>
                        </line>
                    });
                }
            }
        }
        let mut units = Vec::new();
        for (l, &n) in sizes.iter().enumerate() {
            let hot = place == Place::Units(l);
            for i in 0..n.min(16) {
                let name = if l == 0 { format!("x{}", i + 1) } else if l + 1 == layers { "ŷ".to_string() } else { format!("h{l}.{}", i + 1) };
                units.push(view! {
                    <g class="unit" class:hot=hot>
                        <circle cx=x(l) cy=y(l, i) r="12"></circle>
                        <text x=x(l) y=y(l, i) + 4.0 text-anchor="middle">{if l == 0 { format!("x{}", i + 1) } else { String::new() }}</text>
                        <title>{name}</title>
                    </g>
                });
            }
        }
        let loss_x = x(layers - 1) + 48.0;
        let arrow = match kind {
            StageKind::Backward => "← gradients flow backward",
            StageKind::Update => "parameters update",
            _ => "forward →",
        };
        Some(view! {
            <svg class="diagram" data-testid="diagram" viewBox=format!("0 0 {} {}", w + 30.0, h + 24.0)>
                {edges}
                {units}
                <g class="unit loss" class:hot=place == Place::Loss>
                    <rect x=loss_x - 14.0 y=h / 2.0 - 12.0 width="34" height="24" rx="4"></rect>
                    <text x=loss_x + 3.0 y=h / 2.0 + 4.0 text-anchor="middle">"L"</text>
                </g>
                <text x="8" y=h + 16.0 class=format!("flow {}", kind.name())>{arrow}</text>
            </svg>
        })
    }
}

#[component]
fn About() -> impl IntoView {
    let s = expect_context::<StepUi>();
    move || {
        let p = s.preset.get().and_then(stepper::preset);
        match p {
            None => view! {
                <p class="about">"The playground's network on its next training batch (with its dropout mask and penalty, if any). Walking to the end and taking the next step trains it for real: the playground continues from here."</p>
            }
            .into_any(),
            Some(p) => view! {
                <h3>{p.title}</h3>
                <p class="about" data-testid="preset-about">{p.about}</p>
                {(!p.errata.is_empty()).then(|| view! { <p class="about">"Its errata are listed below the step, full width."</p> })}
            }
            .into_any(),
        }
    }
}

/// An essay preset's errata, below the three columns and as wide as the page: what the essay
/// printed beside what is right, one row each.
#[component]
fn Errata() -> impl IntoView {
    let s = expect_context::<StepUi>();
    move || {
        let p = s.preset.get().and_then(stepper::preset).filter(|p| !p.errata.is_empty())?;
        Some(view! {
            <section class="panel errata" data-testid="errata">
                <h2>"Errata: what the essay printed, and what is right"</h2>
                <ul class="errata-list">
                    {p.errata.iter().map(|e| view! {
                        <li><div class="what">{e.what}</div>
                            <div class="printed-cell"><span class="k">"printed"</span><span class="printed">{e.printed}</span></div>
                            <div class="right-cell"><span class="k">"correct"</span><span class="right">{e.right}</span></div></li>
                    }).collect_view()}
                </ul>
                <p class="note">"The correct values are the ones this page traces: every stage shows them, with the numbers that go in."</p>
            </section>
        })
    }
}

/// A tensor: its numbers (small), or a heatmap with statistics and one drilled-down row (large).
/// `pick` makes elements clickable (they set the formula's focus).
fn tensor_view(m: &Matrix, precision: Precision, focus: Option<(usize, usize)>, pick: Option<Callback<(usize, usize)>>, s: StepUi) -> AnyView {
    if m.len() <= PRINT_LIMIT {
        let rows = (0..m.rows)
            .map(|r| {
                let cells = (0..m.cols)
                    .map(|c| {
                        let v = m.at(r, c);
                        let on = focus == Some((r, c));
                        view! {
                            <td class:focus=on title=math::full(v, precision)
                                on:click=move |_| { if let Some(p) = pick { p.run((r, c)) } }>{math::sig(v)}</td>
                        }
                    })
                    .collect_view();
                view! { <tr>{cells}</tr> }
            })
            .collect_view();
        return view! { <table class="tensor" class:pickable=pick.is_some()>{rows}</table> }.into_any();
    }
    let st = m.stats();
    let max = st.min.abs().max(st.max.abs()).max(1e-12);
    let cell = (240.0 / m.cols.max(1) as f64).clamp(2.0, 14.0);
    let rects = m
        .values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let (r, c) = (i / m.cols, i % m.cols);
            view! { <rect x=c as f64 * cell y=r as f64 * cell width=cell height=cell fill=draw::css((v / max) as f32)></rect> }
        })
        .collect_view();
    // One handler for the whole map (not one per cell): the cell under the pointer, from the
    // click's position in the drawn map (scaled to fit at most 600 px high, centred).
    let (rows, cols) = (m.rows, m.cols);
    let (full_w, full_h) = (cell * cols as f64, cell * rows as f64);
    let on_map = move |ev: leptos::ev::MouseEvent| {
        let k = (600.0 / full_h).min(1.0);
        let x = (ev.offset_x() as f64 - (full_w - k * full_w) / 2.0) / (k * cell);
        let y = ev.offset_y() as f64 / (k * cell);
        if x >= 0.0 && y >= 0.0 && (x as usize) < cols && (y as usize) < rows {
            let (r, c) = (y as usize, x as usize);
            s.drill.set(r);
            if let Some(p) = pick {
                p.run((r, c))
            }
        }
    };
    let drill = s.drill.get_untracked().min(m.rows - 1);
    let row = Matrix::new(1, m.cols.min(PRINT_LIMIT), m.row(drill)[..m.cols.min(PRINT_LIMIT)].to_vec());
    let row_focus = focus.filter(|f| f.0 == drill).map(|f| (0, f.1));
    view! {
        <div class="large">
            <svg class="heat" width=full_w height=full_h.min(600.0) viewBox=format!("0 0 {full_w} {full_h}") on:click=on_map>{rects}</svg>
            <div class="stats">
                "min "{math::sig(st.min)}" · max "{math::sig(st.max)}" · mean "{math::sig(st.mean)}" · norm "{math::sig(st.norm)}
            </div>
            <div class="drill">
                <label class="inline">"row "
                    <input type="number" min="0" max=(m.rows - 1).to_string() value=drill.to_string()
                        on:change=move |ev| { if let Ok(r) = event_target_value(&ev).parse::<usize>() { s.drill.set(r) } }/>
                    {format!(" of {} (click the heatmap to pick one)", m.rows)}
                </label>
                {tensor_view(&row, precision, row_focus, pick.map(|p| Callback::new(move |(_, c)| p.run((drill, c)))), s)}
            </div>
        </div>
    }
    .into_any()
}

fn labelled(title: String, m: &Matrix, body: AnyView) -> AnyView {
    let shape = m.shape();
    view! {
        <div class="tensor-box">
            <div class="tensor-title">{title}" "<span class="shape">{shape}</span></div>
            {body}
        </div>
    }
    .into_any()
}

#[component]
fn StageView() -> impl IntoView {
    let s = expect_context::<StepUi>();
    move || {
        let t = s.trace.get()?;
        let (i, stage) = t.stage(s.stage.get())?;
        s.drill.track();
        let focus = s.focus.get();
        let p = t.precision;
        let pick = Some(Callback::new(move |f: (usize, usize)| s.focus.set(f)));
        let name = t.stage_name(i);
        let body = match stage.kind {
            StageKind::Forward | StageKind::Loss => {
                let node = &t.nodes[stage.index];
                let f = math::clamp(&node.value, focus);
                let inputs = node
                    .inputs
                    .iter()
                    .map(|&k| {
                        let n = &t.nodes[k];
                        labelled(format!("{} ({})", math::pretty(&n.label), n.op.name()), &n.value, tensor_view(&n.value, p, None, None, s))
                    })
                    .collect_view();
                view! {
                    <div class="formula-text" data-testid="stage-rule" title=node.op.formula().forward inner_html=stepper::rule::mathml(node.op.formula().forward)></div>
                    <div class="mathml" data-testid="stage-math" inner_html=math::forward(&t, stage.index, f)></div>
                    <div class="tensors">
                        <div class="col"><h3>"inputs"</h3>{inputs}</div>
                        <div class="col"><h3>"output (click a value for its formula)"</h3>
                            {labelled(t.definition(stage.index), &node.value, tensor_view(&node.value, p, Some(f), pick, s))}</div>
                    </div>
                }
                .into_any()
            }
            StageKind::Backward => {
                let node = &t.nodes[stage.index];
                let g = node.grad.clone().unwrap_or_else(|| node.value.clone());
                let f = math::clamp(&g, focus);
                let locals = stepper::local_derivatives(&t, stage.index);
                let per_input = node
                    .inputs
                    .iter()
                    .enumerate()
                    .filter_map(|(k, &input)| {
                        let passed = node.input_grads.get(k).cloned().flatten()?;
                        let n = &t.nodes[input];
                        let local = match &locals[k] {
                            Local::Elementwise(m) => labelled(format!("local ∂{}/∂{} (elementwise)", math::pretty(&node.label), math::pretty(&n.label)), m, tensor_view(m, p, None, None, s)).into_any(),
                            Local::MatMulRight(m) => labelled(format!("local: ∂L/∂{} = ∂L/∂{} · this", math::pretty(&n.label), math::pretty(&node.label)), m, tensor_view(m, p, None, None, s)).into_any(),
                            Local::MatMulLeft(m) => labelled(format!("local: ∂L/∂{} = this · ∂L/∂{}", math::pretty(&n.label), math::pretty(&node.label)), m, tensor_view(m, p, None, None, s)).into_any(),
                            Local::Jacobian => view! { <p class="note">"Jacobian-vector product (see the formula): no elementwise factor."</p> }.into_any(),
                            Local::None => view! { <span></span> }.into_any(),
                        };
                        let fi = math::clamp(&passed, focus);
                        Some(view! {
                            <div class="col">
                                {local}
                                {labelled(format!("passed on: ∂L/∂{}", math::pretty(&n.label)), &passed, tensor_view(&passed, p, Some(fi), pick, s))}
                            </div>
                        })
                    })
                    .collect_view();
                let maths = math::backward(&t, stage.index, f).concat();
                view! {
                    <div class="formula-text" data-testid="stage-rule" title=node.op.formula().backward inner_html=stepper::rule::mathml(node.op.formula().backward)></div>
                    <div class="mathml" data-testid="stage-math" inner_html=maths></div>
                    <div class="tensors">
                        <div class="col"><h3>"upstream"</h3>
                            {labelled(format!("∂L/∂{}", math::pretty(&node.label)), &g, tensor_view(&g, p, Some(f), pick, s))}</div>
                        {per_input}
                    </div>
                }
                .into_any()
            }
            StageKind::Update => {
                let u = &t.params[stage.index];
                let (r, c) = math::clamp(&u.before, focus);
                let element = r * u.before.cols + c;
                let state_names: &[&str] = match u.state_after.len() {
                    1 => &["v (velocity)"],
                    2 => &["m (1st moment)", "v (2nd moment)"],
                    _ => &[],
                };
                let states = state_names
                    .iter()
                    .enumerate()
                    .map(|(k, name)| {
                        view! {
                            {labelled(format!("{name} before"), &u.state_before[k], tensor_view(&u.state_before[k], p, Some((r, c)), pick, s))}
                            {labelled(format!("{name} after"), &u.state_after[k], tensor_view(&u.state_after[k], p, Some((r, c)), pick, s))}
                        }
                    })
                    .collect_view();
                view! {
                    <div class="formula-text" data-testid="stage-rule" title=t.optimizer.kind.formula() inner_html=format!("{}<span class=\"rule-t\">step t = {}</span>", stepper::rule::mathml(t.optimizer.kind.formula()), t.t)></div>
                    <div class="mathml" data-testid="stage-math" inner_html=math::update(&t, stage.index, element).concat()></div>
                    <div class="tensors">
                        <div class="col">
                            {labelled(format!("{} before", math::pretty(&u.name)), &u.before, tensor_view(&u.before, p, Some((r, c)), pick, s))}
                            {labelled(format!("gradient ∂L/∂{}", math::pretty(&u.name)), &u.grad, tensor_view(&u.grad, p, Some((r, c)), pick, s))}
                        </div>
                        <div class="col">{states}</div>
                        <div class="col">{labelled(format!("{} after", math::pretty(&u.name)), &u.after, tensor_view(&u.after, p, Some((r, c)), pick, s))}</div>
                    </div>
                }
                .into_any()
            }
        };
        Some(view! {
            <h2 data-testid="stage-name" class=format!("stage-name {}", stage.kind.name())>{name}</h2>
            <p class="stage-caption" data-testid="stage-caption">{stage.kind.caption()}</p>
            {body}
        })
    }
}

fn error_class(e: f64) -> &'static str {
    if e < 1e-4 {
        "good"
    } else if e < 1e-2 {
        "fair"
    } else {
        "bad"
    }
}

#[component]
fn ParamPanel() -> impl IntoView {
    let s = expect_context::<StepUi>();
    // Gradient checks of every parameter small enough to print, once per trace.
    let checks = Memo::new(move |_| {
        s.trace.with(|t| {
            t.as_ref().map(|t| {
                (0..t.params.len())
                    .map(|i| {
                        let n = t.params[i].grad.len();
                        (n <= PRINT_LIMIT).then(|| (0..n).map(|j| t.gradient_check(i, j, stepper::EPS)).collect::<Vec<GradientCheck>>())
                    })
                    .collect::<Vec<_>>()
            })
        })
    });
    let nudge = move || {
        let t = s.trace.get()?;
        let (pi, e) = s.nudge_at.get();
        let p = t.params.get(pi)?;
        let eps = s.nudge_eps.get();
        let n = t.nudge(pi, e.min(p.before.len() - 1), eps);
        let delta = n.nudged - n.base;
        Some(view! {
            <p class="nudge-result" data-testid="nudge-delta" data-value=delta.to_string()>
                {format!("{}.{} + ε: L = {} → {}; Δloss = {} (the gradient predicts g·ε = {})",
                    p.name, math::index_of(&p.before, e).replace(',', "."), math::sig(n.base), math::sig(n.nudged), math::sig(delta), math::sig(n.predicted))}
            </p>
        })
    };
    // The heading and the nudge controls are built once; only the tables follow the stage.
    let tables = move || {
        let t = s.trace.get()?;
        let (stage, current) = t.stage(s.stage.get())?;
        let all_checks = checks.get().unwrap_or_default();
        // Read once here (the tables re-render when it changes), not in a closure per row: a
        // reactive closure per row, rebuilt in place at every stage, kept each row's old effect
        // alive — the stepper's memory grew by ~2 MB per walk over a 163-weight network.
        let nudged = s.nudge_at.get();
        let tables = t
            .params
            .iter()
            .enumerate()
            .map(|(pi, u)| {
                let shown = t.gradient_stage(pi).map(|g| stage >= g).unwrap_or(false);
                let updated = t.update_stage(pi).map(|g| stage >= g).unwrap_or(false);
                let hot = current.kind == StageKind::Update && current.index == pi;
                let rows: Vec<usize> = if u.grad.len() <= PRINT_LIMIT {
                    (0..u.grad.len()).collect()
                } else {
                    let r = s.drill.get().min(u.before.rows - 1);
                    (r * u.before.cols..(r + 1) * u.before.cols).take(PRINT_LIMIT).collect()
                };
                let precomputed = all_checks.get(pi).cloned().flatten();
                let body = rows
                    .into_iter()
                    .map(|e| {
                        let path = format!("{}.{}", u.name, math::index_of(&u.before, e).replace(',', "."));
                        let check = precomputed.as_ref().map(|c| c[e]).unwrap_or_else(|| t.gradient_check(pi, e, stepper::EPS));
                        let g = u.grad.values[e];
                        let selected = nudged == (pi, e);
                        view! {
                            <tr class:selected=selected>
                                <td class="path"><label class="inline"><input type="radio" name="nudge" prop:checked=selected
                                    on:change=move |_| s.nudge_at.set((pi, e))/>{path.clone()}</label></td>
                                <td title=math::full(u.before.values[e], t.precision)>{math::sig(u.before.values[e])}</td>
                                <td data-testid=format!("grad-{path}") data-value=if shown { g.to_string() } else { String::new() }
                                    title=math::full(g, t.precision)>{if shown { math::sig(g) } else { "—".into() }}</td>
                                <td title=format!("{}", check.numeric)>{if shown { math::sig(check.numeric) } else { String::new() }}</td>
                                <td class=if shown { error_class(check.relative_error) } else { "" } data-testid=format!("relerr-{path}")>
                                    {if shown { format!("{:.1e}", check.relative_error) } else { String::new() }}</td>
                                <td title=math::full(u.after.values[e], t.precision)>{if updated { math::sig(u.after.values[e]) } else { String::new() }}</td>
                            </tr>
                        }
                    })
                    .collect_view();
                // Small tensors and the one being updated are open; the others fold to a line.
                let open = u.grad.len() <= 16 || hot;
                let norm = u.grad.stats().norm;
                view! {
                    <details class="param" class:hot=hot open=open>
                        <summary><h3>{format!("{} ({})", math::pretty(&u.name), u.name)}" "<span class="shape">{u.before.shape()}</span>
                            {shown.then(|| format!(" · ‖∂L/∂w‖ = {}", math::sig(norm)))}
                            {(u.grad.len() > PRINT_LIMIT).then(|| format!(" — row {} of {} (pick a row in any heatmap)", s.drill.get().min(u.before.rows - 1), u.before.rows))}</h3></summary>
                        <table class="params">
                            <tr><th>"path"</th><th>"w"</th><th>"∂L/∂w"</th><th>"finite diff."</th><th>"rel. error"</th><th>"w′"</th></tr>
                            {body}
                        </table>
                    </details>
                }
            })
            .collect_view();
        Some(tables)
    };
    view! {
        <div class:hidden=move || s.trace.with(Option::is_none)>
            <h2>"Parameters and gradient checks"</h2>
            <p class="note">"∂L/∂w appears when the backward pass reaches it; the finite difference is (L(w+ε) − L(w−ε))/2ε, ε = 1e-5, replayed in f64 on the CPU. Relative error: green < 1e-4, yellow < 1e-2, red above."</p>
            <div class="nudge">
                <label class="inline"><input type="checkbox" data-testid="nudge-toggle" prop:checked=move || s.nudge.get()
                    on:change=move |ev| s.nudge.set(event_target_checked(&ev))/>" nudge the selected weight by ε = "</label>
                <select data-testid="nudge-eps" on:change=move |ev| { if let Ok(v) = event_target_value(&ev).parse::<f64>() { s.nudge_eps.set(v) } }>
                    {[1e-3, 1e-2, 1e-1].into_iter().map(|v| view! { <option value=v.to_string() selected=move || s.nudge_eps.get() == v>{v.to_string()}</option> }).collect_view()}
                </select>
                {move || s.nudge.get().then(nudge)}
            </div>
            {tables}
        </div>
    }
}

/// After the backend changed: a preset's step is taken again on the new device.
pub fn backend_changed(ui: Ui, s: StepUi) {
    if ui.page.get_untracked() == Page::Step && s.preset.get_untracked().is_some() {
        spawn_local(take_step(ui, s, true, s.stage.get_untracked()));
    }
}
