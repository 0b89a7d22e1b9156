//! The table page's compression panel: once the network has trained, prune it to a chosen
//! sparsity (global or per layer, optionally fine-tuned with the mask held) and quantize its
//! weights to int8 (per tensor or per channel); accuracy and size before and after, the curve of
//! accuracy against sparsity (no fine-tuning), the first layer's weight histograms, and the
//! int8 model as a safetensors file. Every long piece runs in frame slices.

use std::cell::RefCell;

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::super::chart::LineChart;
use super::super::play::next_frame;
use super::super::{download, now_ms};
use super::MODELS;
use crate::share::weights::tabular_int8;
use crate::train::compress::{Granularity, Quantized, Scope};
use crate::train::tabular::{TabularTrainer, Work};

/// Sparsities of the accuracy curve.
const CURVE: [f64; 12] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98];

thread_local! {
    /// The compressed copy and, when quantized, its int8 matrices (for the file).
    static COMPRESSED: RefCell<Option<(TabularTrainer, Option<Vec<Quantized>>)>> = const { RefCell::new(None) };
}

/// One column of the before/after table.
#[derive(Clone, Debug, PartialEq)]
struct Figures {
    accuracy: f64,
    auc: f64,
    nonzero: usize,
    weights: usize,
    bytes: usize,
    /// The first layer's weights.
    histogram: Vec<f32>,
}

/// `scales`: int8 scales stored (`None`: not quantized).
fn figures(t: &mut TabularTrainer, scales: Option<usize>) -> Figures {
    let r = t.report();
    let bytes = t.stored_bytes(scales);
    let w = t.weights();
    Figures {
        accuracy: r.test_accuracy,
        auc: r.auc,
        nonzero: w.iter().map(|w| w.iter().filter(|&&x| x != 0.0).count()).sum(),
        weights: w.iter().map(|w| w.len()).sum(),
        bytes,
        histogram: w[0].to_vec(),
    }
}

/// Bars of a weight histogram (41 bins, symmetric about 0), the zero bin's count written.
fn histogram(values: &[f32], lim: f32, testid: &'static str) -> impl IntoView + use<> {
    const BINS: usize = 41;
    let mut counts = [0usize; BINS];
    for &v in values {
        let b = (((v / lim) + 1.0) / 2.0 * BINS as f32).floor().clamp(0.0, BINS as f32 - 1.0) as usize;
        counts[b] += 1;
    }
    let zero = values.iter().filter(|&&v| v == 0.0).count();
    // The zero bin is drawn to the height of the tallest other bin, and its count written.
    let max = counts.iter().enumerate().filter(|(i, _)| *i != BINS / 2 || zero == 0).map(|(_, &c)| c).max().unwrap_or(1).max(1) as f64;
    let (w, h) = (240.0, 60.0);
    let bw = w / BINS as f64;
    view! {
        <svg class="weight-hist" data-testid=testid viewBox=format!("0 0 {w} {}", h + 12.0) width=w height=h + 12.0>
            {counts.iter().enumerate().map(|(i, &c)| {
                let bh = (c as f64 / max).min(1.0) * h;
                view! { <rect x=i as f64 * bw y=h - bh width=bw - 0.5 height=bh class="bar"/> }
            }).collect_view()}
            <text x=0 y=h + 10.0 class="tick">{format!("−{lim:.2}")}</text>
            <text x=w / 2.0 y=h + 10.0 class="tick" text-anchor="middle">{if zero > 0 { format!("0 ({zero} zeros)") } else { "0".into() }}</text>
            <text x=w y=h + 10.0 class="tick" text-anchor="end">{format!("{lim:.2}")}</text>
        </svg>
    }
}

/// The panel; `ready` when the network has trained.
#[component]
pub(super) fn CompressPanel(ready: Signal<bool>) -> impl IntoView {
    let target = RwSignal::new(80.0f64);
    let scope = RwSignal::new(Scope::Global);
    let epochs = RwSignal::new(3usize);
    let quant = RwSignal::new(Some(Granularity::PerChannel));
    let busy = RwSignal::new(None::<String>);
    // Bumped when the trained network goes away: a compression of the old one is dropped.
    let generation = RwSignal::new(0u64);
    let before = RwSignal::new(None::<Figures>);
    let after = RwSignal::new(None::<Figures>);
    let curve = RwSignal::new(Vec::<(f64, f64, f64)>::new());
    // A new training run drops what was measured on the old one.
    Effect::new(move |_| {
        if !ready.get() {
            generation.update(|g| *g += 1);
            busy.set(None);
            before.set(None);
            after.set(None);
            curve.set(Vec::new());
            COMPRESSED.with(|c| *c.borrow_mut() = None);
        }
    });
    let run = move || {
        let Some(mut model) = MODELS.with(|m| m.borrow().as_ref().map(|(model, _)| model.clone())) else { return };
        let (s, sc, e, q) = (target.get_untracked() / 100.0, scope.get_untracked(), epochs.get_untracked(), quant.get_untracked());
        let g0 = generation.get_untracked();
        spawn_local(async move {
            busy.set(Some("measuring the trained network…".into()));
            next_frame().await;
            before.set(Some(figures(&mut model.clone(), None)));
            // The curve: one sparsity a frame.
            let mut points = Vec::new();
            for (k, &p) in CURVE.iter().enumerate() {
                busy.set(Some(format!("accuracy at {:.0}% sparsity…", 100.0 * p)));
                let mut m = model.clone();
                m.prune(p, sc, 0);
                points.push((100.0 * p, f64::NAN, 100.0 * m.report().test_accuracy));
                if generation.get_untracked() != g0 {
                    busy.set(None);
                    return;
                }
                if k > 0 {
                    curve.set(points.clone());
                }
                next_frame().await;
            }
            model.prune(s, sc, e);
            let mut steps = 0;
            loop {
                let start = now_ms();
                let mut done = false;
                while now_ms() - start < 12.0 {
                    match model.advance() {
                        Work::Done => {
                            done = true;
                            break;
                        }
                        Work::Step(_) => steps += 1,
                        Work::Evaluated(_) => {}
                    }
                }
                busy.set(Some(format!("fine-tuning with the mask held: {steps} of {} steps", model.steps_per_epoch() * e)));
                if done {
                    break;
                }
                next_frame().await;
                if generation.get_untracked() != g0 {
                    busy.set(None);
                    return;
                }
            }
            let int8 = q.map(|g| model.quantize(g));
            if generation.get_untracked() != g0 {
                return;
            }
            after.set(Some(figures(&mut model, int8.as_ref().map(|q| q.iter().map(|q| q.scales.len()).sum()))));
            COMPRESSED.with(|c| *c.borrow_mut() = Some((model, int8)));
            busy.set(None);
        });
    };
    let export = move || {
        let bytes = COMPRESSED.with(|c| {
            let c = c.borrow();
            let (m, q) = c.as_ref()?;
            tabular_int8(m, q.as_ref()?).ok()
        });
        if let Some(bytes) = bytes {
            download("gradlab-tabular-int8.safetensors", "application/octet-stream", &bytes);
        }
    };
    let curve_points = Signal::derive(move || curve.get());
    let row = move |label: &'static str, f: fn(&Figures) -> String| {
        view! {
            <tr><td>{label}</td>
                <td>{move || before.get().map(|b| f(&b)).unwrap_or_default()}</td>
                <td>{move || after.get().map(|a| f(&a)).unwrap_or_default()}</td></tr>
        }
    };
    view! {
        <section class="panel tab-compress">
            <h2>"Compression " <span class="sub">"magnitude pruning and int8 quantization of the trained network"</span></h2>
            <div class="controls-row">
                <label>"sparsity %"<input type="text" size="4" data-testid="tab-sparsity" prop:value=move || target.get().to_string()
                    on:change=move |ev| { if let Ok(v) = event_target_value(&ev).parse::<f64>() { target.set(v.clamp(0.0, 99.9)) } }/></label>
                <label>"pruned over"<select data-testid="tab-prune-scope" on:change=move |ev| scope.set(if event_target_value(&ev) == "layer" { Scope::PerLayer } else { Scope::Global })>
                    <option value="global">"all layers together"</option><option value="layer">"each layer alike"</option></select></label>
                <label>"fine-tune epochs"<input type="text" size="3" data-testid="tab-finetune" prop:value=move || epochs.get().to_string()
                    on:change=move |ev| { if let Ok(v) = event_target_value(&ev).parse::<usize>() { epochs.set(v.min(50)) } }/></label>
                <label>"then quantize"<select data-testid="tab-quant" on:change=move |ev| quant.set(match event_target_value(&ev).as_str() {
                        "tensor" => Some(Granularity::PerTensor), "channel" => Some(Granularity::PerChannel), _ => None })>
                    <option value="channel">"int8, a scale per output unit"</option><option value="tensor">"int8, one scale per matrix"</option><option value="none">"no (keep f32)"</option></select></label>
            </div>
            <div class="buttons">
                <button data-testid="tab-compress" class="primary" disabled=move || !ready.get() || busy.get().is_some() on:click=move |_| run()>"prune and quantize"</button>
                <button data-testid="tab-export-int8" disabled=move || after.get().is_none() || quant.get().is_none() || busy.get().is_some() on:click=move |_| export()>"save the int8 model (safetensors)"</button>
                <span data-testid="tab-compress-status">{move || busy.get().unwrap_or_else(|| if ready.get() { String::new() } else { "train the network first".into() })}</span>
            </div>
            <table class="scores" data-testid="tab-compress-table">
                <tr><th></th><th>"trained"</th><th>"compressed"</th></tr>
                {row("test accuracy", |f| format!("{:.2}%", 100.0 * f.accuracy))}
                {row("AUC", |f| format!("{:.4}", f.auc))}
                {row("non-zero weights", |f| format!("{} of {} ({:.0}% zero)", f.nonzero, f.weights, 100.0 * (1.0 - f.nonzero as f64 / f.weights.max(1) as f64)))}
                {row("size", |f| format!("{:.1} kB", f.bytes as f64 / 1000.0))}
            </table>
            <span class="hidden" data-testid="tab-compressed-accuracy" data-value=move || after.get().map(|a| a.accuracy.to_string()).unwrap_or_default()></span>
            <div class="results-row">
                <div class="curve">
                    <h3>"Accuracy against sparsity " <span class="sub">"pruned, not fine-tuned"</span></h3>
                    <LineChart points=curve_points testid="tab-sparsity-chart" x_label="sparsity % " empty="measured when you prune" percent=true names=("", "test accuracy")/>
                </div>
                <div>
                    <h3>"First layer's weights"</h3>
                    {move || before.get().map(|b| {
                        let lim = b.histogram.iter().fold(0.0f32, |m, x| m.max(x.abs())).max(1e-6);
                        view! {
                            <p class="hint">"trained"</p>{histogram(&b.histogram, lim, "tab-hist-before")}
                            {after.get().map(|a| view! { <p class="hint">"compressed"</p>{histogram(&a.histogram, lim, "tab-hist-after")} })}
                        }
                    })}
                </div>
            </div>
            <p class="hint">"Sizes as stored: f32 is 4 bytes a weight; a pruned matrix keeps each non-zero weight with a 4-byte index; int8 is a byte a weight plus 4 per scale (biases stay f32). The network keeps float activations: int8 here is post-training quantization of the weights."</p>
        </section>
    }
}
