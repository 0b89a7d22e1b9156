//! The MNIST page's compression panel: the trained (or loaded) model pruned to a chosen sparsity
//! and/or quantized to int8, measured on all 10,000 test images beside the model as it is — the
//! same `train::compress` as the table page (there with fine-tuning; here post-training only).
//! The evaluation runs in chunks, one per frame. The compressed model saves as a state dict with
//! its quantized matrices as int8 and their scales (`NAME_scale`), PyTorch's names otherwise.

use std::cell::RefCell;

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::super::play::next_frame;
use super::{MnistUi, Run, with_trainer};
use crate::engine::read_many;
use crate::models::image::ImageModel;
use super::weights::save_model;
use crate::share::weights::Stored;
use crate::train::compress::{Granularity, Scope, compress_image_model};
use crate::train::images::Split;

/// Images a chunk of the evaluation takes.
const CHUNK: usize = 500;

thread_local! {
    /// The last compressed model, its preset's key and how its matrices were quantized.
    static COMPRESSED: RefCell<Option<(ImageModel, &'static str, Option<Granularity>)>> = const { RefCell::new(None) };
}

/// How a compressed model's matrices are stored in its file.
fn stored_as(quantized: Option<Granularity>) -> Stored {
    match quantized {
        Some(Granularity::PerChannel) => Stored::Int8,
        Some(Granularity::PerTensor) => Stored::Int8PerTensor,
        None => Stored::F32,
    }
}

/// Saves the last compressed model (int8 where it was quantized; the link in the metadata).
async fn save(status: RwSignal<Option<String>>) {
    let Some((model, preset, quantized)) = COMPRESSED.with(|c| c.borrow().clone()) else { return };
    let name = format!("mnist-{preset}-{}.safetensors", if quantized.is_some() { "int8" } else { "pruned" });
    match save_model(&model, preset, stored_as(quantized), &name).await {
        Ok(bytes) => status.set(Some(format!("saved {name} ({:.1} kB)", bytes as f64 / 1e3))),
        Err(why) => status.set(Some(format!("could not save the compressed model: {why}"))),
    }
}

/// Test accuracy of `model` (this trainer's architecture; `None`: the trainer's own).
async fn accuracy(model: Option<&ImageModel>, status: RwSignal<Option<String>>, what: &str) -> Result<f64, String> {
    let mut eval = with_trainer(|t| t.evaluation(Split::Test)).ok_or("train or load a model first")?;
    let n = with_trainer(|t| t.test_len()).unwrap_or(0);
    let mut start = 0;
    while start < n {
        status.set(Some(format!("measuring {what}: {start} of {n} test images…")));
        let chunk = with_trainer(|t| match model {
            Some(m) => t.eval_chunk_of(m, Split::Test, start, CHUNK),
            None => t.eval_chunk(Split::Test, start, CHUNK),
        })
        .ok_or("the model was reset")?;
        eval.add(chunk).await.map_err(|e| e.to_string())?;
        start += CHUNK;
        next_frame().await;
    }
    Ok(eval.metrics().accuracy)
}

/// The panel.
#[component]
pub(in crate::ui) fn CompressPanel(m: MnistUi) -> impl IntoView {
    let sparsity = RwSignal::new(80.0f64);
    let scope = RwSignal::new(Scope::Global);
    let quant = RwSignal::new(Some(Granularity::PerChannel));
    let status = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    // (accuracy before, accuracy after, non-zero, weights, bytes before, bytes after)
    let result = RwSignal::new(None::<(f64, f64, usize, usize, usize, usize)>);
    Effect::new(move |_| {
        m.weights_version.track();
        m.resets().track();
        result.set(None);
        COMPRESSED.with(|c| *c.borrow_mut() = None);
    });
    let usable = move || matches!(m.run.get(), Run::Done | Run::Paused) && !busy.get();
    let run = move || {
        let (s, sc, q) = (sparsity.get_untracked() / 100.0, scope.get_untracked(), quant.get_untracked());
        busy.set(true);
        spawn_local(async move {
            let outcome = async {
                status.set(Some("reading the weights…".into()));
                let params = with_trainer(|t| t.model.params.clone()).ok_or("train or load a model first")?;
                let values = read_many(params).await.map_err(|e| e.to_string())?;
                let (c, preset) = with_trainer(|t| (compress_image_model(&t.model, &values, s, sc, q), t.config.preset.key())).ok_or("the model was reset")?;
                let before = accuracy(None, status, "the model").await?;
                let after = accuracy(Some(&c.model), status, "the compressed model").await?;
                COMPRESSED.with(|slot| *slot.borrow_mut() = Some((c.model.clone(), preset, q)));
                Ok::<_, String>((before, after, c.nonzero, c.weights, c.dense_bytes, c.stored_bytes))
            }
            .await;
            match outcome {
                Ok(r) => {
                    result.set(Some(r));
                    status.set(None);
                }
                Err(why) => status.set(Some(format!("could not compress: {why}"))),
            }
            busy.set(false);
        });
    };
    view! {
        <section class="panel mnist-compress">
            <h2>"Compression " <span class="sub">"prune and quantize the model, post-training"</span></h2>
            <div class="controls-row">
                <label>"sparsity %"<input type="text" size="4" data-testid="mnist-sparsity" prop:value=move || sparsity.get().to_string()
                    on:change=move |ev| { if let Ok(v) = event_target_value(&ev).parse::<f64>() { sparsity.set(v.clamp(0.0, 99.9)) } }/></label>
                <label>"pruned over"<select data-testid="mnist-prune-scope" on:change=move |ev| scope.set(if event_target_value(&ev) == "layer" { Scope::PerLayer } else { Scope::Global })>
                    <option value="global">"all layers together"</option><option value="layer">"each layer alike"</option></select></label>
                <label>"then quantize"<select data-testid="mnist-quant" on:change=move |ev| quant.set(match event_target_value(&ev).as_str() {
                        "tensor" => Some(Granularity::PerTensor), "channel" => Some(Granularity::PerChannel), _ => None })>
                    <option value="channel">"int8, a scale per output unit"</option><option value="tensor">"int8, one scale per layer"</option><option value="none">"no (keep f32)"</option></select></label>
                <button data-testid="mnist-compress" disabled=move || !usable() on:click=move |_| run()>"prune and quantize"</button>
                <button data-testid="mnist-export-compressed" disabled=move || result.get().is_none() || busy.get()
                    title="a PyTorch state dict; quantized matrices as int8 with their scales in NAME_scale"
                    on:click=move |_| spawn_local(save(status))>"save the compressed model"</button>
            </div>
            <p class="hint" data-testid="mnist-compress-status">{move || status.get().unwrap_or_else(|| if matches!(m.run.get(), Run::Done | Run::Paused) {
                "Weight matrices and filters are pruned by magnitude and quantized symmetrically; biases and batch norm stay f32. On the table page the network can also be fine-tuned after pruning.".into()
            } else {
                "train (or pause, or load weights) first".into()
            })}</p>
            {move || result.get().map(|(before, after, nonzero, weights, b0, b1)| view! {
                <table class="scores" data-testid="mnist-compress-table">
                    <tr><th></th><th>"as trained"</th><th>"compressed"</th></tr>
                    <tr><td>"test accuracy (10,000 images)"</td><td>{format!("{:.2}%", 100.0 * before)}</td>
                        <td data-testid="mnist-compressed-accuracy" data-value=after.to_string() data-before=before.to_string()>{format!("{:.2}%", 100.0 * after)}</td></tr>
                    <tr><td>"non-zero weights"</td><td>{weights}</td><td>{format!("{nonzero} ({:.0}% zero)", 100.0 * (1.0 - nonzero as f64 / weights.max(1) as f64))}</td></tr>
                    <tr><td>"size"</td><td>{format!("{:.1} kB", b0 as f64 / 1000.0)}</td><td>{format!("{:.1} kB", b1 as f64 / 1000.0)}</td></tr>
                </table>
            })}
        </section>
    }
}
