//! The MNIST page's stepper: the model's next real training step walked stage by stage — each
//! forward op, the loss, each backward op in reverse, each parameter update — with the op's
//! formula and, per tensor the stage shows, its statistics, a histogram and a picture (feature
//! maps, filters, 28 × 28 weight images or a heatmap). The step stays on the device
//! ([`ModelStep`]); a stage's tensors are read when it is shown. A parameter's gradient can be
//! checked against a finite difference of the f64 replay.

use std::cell::RefCell;
use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::digits::loaded;
use super::draw::{diverging, put_image};
use super::mnist::{MnistUi, traced_step};
use super::play::next_frame;
use super::sleep;
use crate::data::images::ImageDataset;
use crate::stepper::StageKind;
use crate::stepper::model::{Histogram, HostTensor, ModelStep, Part, Picture, Replay, Summary, read_parts};

/// Bars of a histogram.
const BINS: usize = 24;

/// The traced step on show: a number of its own (a later step, or a reset, makes earlier async
/// work stale), the step, and its f64 replay once built.
struct Held {
    id: u64,
    step: ModelStep,
    replay: Option<Rc<Replay>>,
}

thread_local! {
    static STEP: RefCell<Option<Held>> = const { RefCell::new(None) };
}

/// The id of the step on show, if any.
fn held_id() -> Option<u64> {
    STEP.with(|s| s.borrow().as_ref().map(|h| h.id))
}

/// One tensor of the shown stage, read back.
#[derive(Clone, Debug, PartialEq)]
struct Shown {
    title: String,
    part: Part,
    tensor: HostTensor,
    /// Its statistics, histogram and picture, computed once when read (a conv output has millions
    /// of values; the view may render again).
    summary: Summary,
    histogram: Histogram,
    picture: Picture,
}

/// The panel's state.
#[derive(Clone, Copy)]
struct StepPanelUi {
    /// Stages of the traced step (0: none taken yet).
    stages: RwSignal<usize>,
    stage: RwSignal<usize>,
    /// Names of every stage, for the list.
    names: RwSignal<Vec<String>>,
    shown: RwSignal<Vec<Shown>>,
    /// What is happening, or what went wrong.
    status: RwSignal<String>,
    /// The last gradient check, in words.
    check: RwSignal<Option<String>>,
    /// Bumped on each read, so a late read of an earlier stage is dropped.
    generation: RwSignal<u64>,
    /// A step is being taken.
    busy: RwSignal<bool>,
    /// A gradient is being checked.
    checking: RwSignal<bool>,
    /// Steps taken (each step's id).
    taken: RwSignal<u64>,
}

fn with_step<R>(f: impl FnOnce(&ModelStep) -> R) -> Option<R> {
    STEP.with(|s| s.borrow().as_ref().map(|h| f(&h.step)))
}

/// Drops the step (the model it belongs to was reset) and empties the panel.
fn forget(p: StepPanelUi) {
    STEP.with(|s| *s.borrow_mut() = None);
    p.generation.update(|g| *g += 1);
    p.stages.set(0);
    p.stage.set(0);
    p.names.set(Vec::new());
    p.shown.set(Vec::new());
    p.check.set(None);
    p.status.set(String::new());
}

/// Takes the model's next training step and shows its first stage.
async fn take(p: StepPanelUi, m: MnistUi, kind: ImageDataset) {
    let Some(data) = loaded(kind) else { return };
    if p.busy.get_untracked() {
        return;
    }
    p.busy.set(true);
    p.status.set("taking the next training step…".into());
    p.check.set(None);
    sleep(20).await;
    match traced_step(m, &data).await {
        Ok(step) => {
            let names: Vec<String> = (0..step.stages.len()).map(|i| step.stage_name(i)).collect();
            p.taken.update(|t| *t += 1);
            let id = p.taken.get_untracked();
            p.stages.set(step.stages.len());
            p.names.set(names);
            STEP.with(|s| *s.borrow_mut() = Some(Held { id, step, replay: None }));
            show(p, 0).await;
        }
        Err(why) => p.status.set(format!("could not take a step: {why}")),
    }
    p.busy.set(false);
}

/// Reads stage `i`'s tensors and draws them.
async fn show(p: StepPanelUi, i: usize) {
    p.generation.update(|g| *g += 1);
    let generation = p.generation.get_untracked();
    let Some((titles, pending)) = with_step(|s| {
        let parts = s.parts(i);
        let pending = s.pending(&parts.iter().map(|(_, part)| *part).collect::<Vec<_>>());
        let titles: Vec<(String, bool, Part)> = parts.into_iter().map(|(title, part)| (title, s.holds_weights(part), part)).collect();
        (titles, pending)
    }) else {
        return;
    };
    p.stage.set(i);
    p.check.set(None);
    p.status.set("reading this stage's tensors…".into());
    match read_parts(pending).await {
        Ok(tensors) if p.generation.get_untracked() == generation => {
            let shown = titles
                .into_iter()
                .zip(tensors)
                .map(|((title, weights, part), tensor)| {
                    let summary = tensor.summary();
                    let histogram = tensor.histogram(BINS, &summary);
                    Shown { title, part, summary, histogram, picture: tensor.picture(weights), tensor }
                })
                .collect();
            p.shown.set(shown);
            p.status.set(String::new());
            next_frame().await;
            draw(p);
        }
        Ok(_) => {}
        Err(e) => p.status.set(format!("reading failed: {e}")),
    }
}

/// Colours every picture of the shown stage, each on its own symmetric scale.
fn draw(p: StepPanelUi) {
    p.shown.with_untracked(|shown| {
        for (k, s) in shown.iter().enumerate() {
            let scale = s.summary.min.abs().max(s.summary.max.abs()).max(1e-12);
            let colour = |v: f64| diverging((v / scale) as f32);
            let (rows, cols) = s.tensor.matrix();
            match s.picture {
                Picture::Numbers => {}
                Picture::Images { count, h, w, stride, .. } => {
                    for j in 0..count {
                        let start = j * stride;
                        put_image(&format!("mstep-{k}-{j}"), h, w, |i| colour(s.tensor.values[start + i]));
                    }
                }
                Picture::Heat { rows: r, cols: c } => {
                    debug_assert!(r <= rows && c <= cols);
                    put_image(&format!("mstep-{k}-0"), r, c, |i| colour(s.tensor.values[(i / c) * cols + i % c]));
                }
            }
        }
    });
}

/// Checks the gradient of the shown update's parameter at its largest entry against a central
/// difference of the f64 replay (built on first use: the step's leaves are read once). A result
/// for a step or stage no longer shown is dropped.
async fn check(p: StepPanelUi) {
    let Some(grad) = p.shown.with_untracked(|s| s.iter().find(|s| matches!(s.part, Part::Gradient(_))).cloned()) else { return };
    let Part::Gradient(param) = grad.part else { return };
    let (Some(id), false) = (held_id(), p.checking.get_untracked()) else { return };
    let generation = p.generation.get_untracked();
    let current = move || held_id() == Some(id) && p.generation.get_untracked() == generation;
    p.checking.set(true);
    let element = (0..grad.tensor.values.len()).max_by(|&a, &b| grad.tensor.values[a].abs().total_cmp(&grad.tensor.values[b].abs())).unwrap_or(0);
    p.check.set(Some("replaying the step in f64 on the CPU…".into()));
    sleep(20).await;
    let replay = match STEP.with(|s| s.borrow().as_ref().and_then(|h| h.replay.clone())) {
        Some(r) => Some(r),
        None => match with_step(ModelStep::replay) {
            Some((mut replay, leaves)) => match read_parts(leaves).await {
                Ok(values) if current() => {
                    replay.fill(values);
                    let replay = Rc::new(replay);
                    STEP.with(|s| {
                        if let Some(h) = s.borrow_mut().as_mut().filter(|h| h.id == id) {
                            h.replay = Some(replay.clone());
                        }
                    });
                    Some(replay)
                }
                Ok(_) => None,
                Err(e) => {
                    p.check.set(Some(format!("reading the leaves failed: {e}")));
                    None
                }
            },
            None => None,
        },
    };
    if let (Some(replay), Some(node), true) = (replay, with_step(|s| s.params.get(param).copied()).flatten(), current()) {
        let c = replay.gradient_check(node, element, 1e-3, grad.tensor.values[element]);
        p.check.set(Some(format!(
            "element {element} (the largest |gradient|): traced {:.6e}, finite difference {:.6e}, relative error {:.1e}",
            c.analytic, c.numeric, c.relative_error
        )));
    }
    p.checking.set(false);
}

fn stats_line(s: &Summary) -> String {
    format!("min {:.4} · max {:.4} · mean {:.4} · std {:.4} · norm {:.4} · zeros {:.1}%", s.min, s.max, s.mean, s.std, s.norm, 100.0 * s.zeros)
}

/// A histogram as SVG bars.
fn histogram_view(h: &Histogram) -> impl IntoView + use<> {
    let top = h.counts.iter().copied().max().unwrap_or(1).max(1) as f64;
    let bars = h
        .counts
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let height = 40.0 * c as f64 / top;
            view! { <rect x=(i * 6).to_string() y=(40.0 - height).to_string() width="5" height=height.to_string()></rect> }
        })
        .collect_view();
    view! {
        <figure class="histogram">
            <svg viewBox=format!("0 0 {} 40", BINS * 6) width=(BINS * 6).to_string() height="40" role="img">{bars}</svg>
            <figcaption>{format!("{:.3} … {:.3}", h.lo, h.hi)}</figcaption>
        </figure>
    }
}

fn part_view(k: usize, s: &Shown) -> impl IntoView + use<> {
    let body = match s.picture {
        Picture::Numbers => {
            let text: Vec<String> = s.tensor.values.iter().map(|v| format!("{v:.4}")).collect();
            view! { <p class="numbers">{text.join("  ")}</p> }.into_any()
        }
        Picture::Images { count, caption, .. } => view! {
            <p class="hint">{format!("{caption} ({count} shown)")}</p>
            <div class="filters">{(0..count).map(|j| view! { <canvas id=format!("mstep-{k}-{j}") width="1" height="1"></canvas> }).collect_view()}</div>
        }
        .into_any(),
        Picture::Heat { rows, cols } => view! {
            <p class="hint">{format!("the first {rows} rows × {cols} columns")}</p>
            <canvas class="heat" id=format!("mstep-{k}-0") width="1" height="1"></canvas>
        }
        .into_any(),
    };
    view! {
        <div class="step-part" data-testid="mnist-step-part">
            <h4>{s.title.clone()}</h4>
            <p class="stats">{stats_line(&s.summary)}</p>
            {histogram_view(&s.histogram)}
            {body}
        </div>
    }
}

/// The stepper panel of the MNIST page.
#[component]
pub(super) fn StepPanel(m: MnistUi, kind: Signal<ImageDataset>, ready: Signal<bool>) -> impl IntoView {
    let p = StepPanelUi {
        stages: RwSignal::new(0),
        stage: RwSignal::new(0),
        names: RwSignal::new(Vec::new()),
        shown: RwSignal::new(Vec::new()),
        status: RwSignal::new(String::new()),
        check: RwSignal::new(None),
        generation: RwSignal::new(0),
        busy: RwSignal::new(false),
        checking: RwSignal::new(false),
        taken: RwSignal::new(0),
    };
    // A reset drops the step of the old model (and the device memory its tape holds).
    let resets = m.resets();
    Effect::new(move |previous: Option<u64>| {
        let now = resets.get();
        if previous.is_some_and(|p| p != now) {
            forget(p);
        }
        now
    });
    let go = move |i: usize| spawn_local(show(p, i));
    let pick = move |value: String| {
        if let Ok(i) = value.parse() {
            go(i)
        }
    };
    let formula = move || {
        p.stages.track();
        let i = p.stage.get();
        with_step(|s| {
            let (_, stage) = s.stage(i)?;
            Some(match stage.kind {
                StageKind::Update => s.optimizer().config.kind.formula().to_string(),
                StageKind::Backward => s.node(stage.index).op.formula().backward.to_string(),
                _ => s.node(stage.index).op.formula().forward.to_string(),
            })
        })
        .flatten()
        .unwrap_or_default()
    };
    let kind_of = move || {
        p.stages.track();
        with_step(|s| s.stage(p.stage.get()).map(|(_, st)| st.kind)).flatten()
    };
    // The network as a strip of boxes (op, name, shape); the box the stage is about is lit, in the
    // stage's colour; a click opens that op's forward stage.
    let diagram = move || {
        p.stages.track();
        let current = p.stage.get();
        with_step(|s| {
            let lit = s.block_of(current);
            let kind = s.stage(current).map(|(_, st)| st.kind.name()).unwrap_or("forward");
            s.diagram()
                .into_iter()
                .enumerate()
                .map(|(k, b)| {
                    let class = if Some(b.node) == lit { format!("block lit {kind}") } else { "block".to_string() };
                    let (stage, title) = (b.stage, format!("{} · {} {}", b.op, b.label, b.shape));
                    view! {
                        {(k > 0).then(|| view! { <span class="arrow" aria-hidden="true">"→"</span> })}
                        <button class=class data-testid="mnist-step-block" title=title on:click=move |_| go(stage)>
                            <span class="op">{b.op}</span>
                            <span class="name">{b.label}</span>
                            <span class="shape">{b.shape.to_string()}</span>
                        </button>
                    }
                })
                .collect_view()
        })
    };
    view! {
        <section class="panel mnist-step">
            <h2>"One training step, unrolled"</h2>
            <p class="hint">"The model's next training step, taken for real (training pauses): every forward op, the loss, every backward op in reverse and every parameter update. Each stage's tensors are read from the device when you open it."</p>
            <div class="buttons">
                <button data-testid="mnist-step" disabled=move || !ready.get() || p.busy.get()
                    on:click=move |_| spawn_local(take(p, m, kind.get_untracked()))>"step through the next training step ▸"</button>
                <button data-testid="mnist-step-prev" disabled=move || p.stages.get() == 0 || p.stage.get() == 0
                    on:click=move |_| go(p.stage.get_untracked().saturating_sub(1))>"←"</button>
                <button data-testid="mnist-step-next" disabled=move || { p.stage.get() + 1 >= p.stages.get() }
                    on:click=move |_| go(p.stage.get_untracked() + 1)>"→"</button>
                <select data-testid="mnist-step-list" disabled=move || p.stages.get() == 0
                    on:change=move |ev| pick(event_target_value(&ev))>
                    {move || p.names.get().into_iter().enumerate().map(|(i, name)| view! {
                        <option value=i.to_string() selected=move || p.stage.get() == i>{format!("{}. {name}", i + 1)}</option>
                    }).collect_view()}
                </select>
            </div>
            <p class=move || format!("stage-name {}", kind_of().map(|k| k.name()).unwrap_or_default()) data-testid="mnist-step-stage">{move || {
                p.stages.track();
                let i = p.stage.get();
                if p.stages.get() == 0 { String::new() } else { format!("stage {} of {} · {}", i + 1, p.stages.get(), with_step(|s| s.stage_name(i)).unwrap_or_default()) }
            }}</p>
            <div class="model-diagram" data-testid="mnist-step-diagram">{diagram}</div>
            <p class="hint">{move || kind_of().map(|k| k.caption()).unwrap_or_default()}</p>
            <div class="formula-text" data-testid="mnist-step-formula" title=formula
                inner_html=move || { let f = formula(); if f.is_empty() { f } else { crate::stepper::rule::mathml(&f) } }></div>
            <p class="data-status" data-testid="mnist-step-status">{move || p.status.get()}</p>
            <div class="step-parts" data-testid="mnist-step-parts">
                {move || p.shown.with(|shown| shown.iter().enumerate().map(|(k, s)| part_view(k, s)).collect_view())}
            </div>
            {move || (kind_of() == Some(StageKind::Update)).then(|| view! {
                <div class="buttons">
                    <button data-testid="mnist-step-check" disabled=move || p.checking.get() on:click=move |_| spawn_local(check(p))>"check this gradient numerically"</button>
                    <span data-testid="mnist-step-check-result">{move || p.check.get().unwrap_or_default()}</span>
                </div>
            })}
        </section>
    }
}
