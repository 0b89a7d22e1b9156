//! The playground's settings panels (data, hyper-parameters, output) and their small controls.

use leptos::prelude::*;
use wasm_bindgen::JsCast;

use super::devices::switch_backend;
use super::files::{copy_link, open_file, page_url, set_href, weights_file};
use super::link::{current_state, sync_url};
use super::{Ui, chart, draw_output, draw_points, edit, network};
use crate::backend::BackendKind;
use crate::data::{DatasetKind, Task};
use crate::engine::OptimizerKind;
use crate::share;
use crate::train::{BinaryLoss, Config, Regularization, optimizer_from_key};

/// The data panel. The batch size has a slider for the usual 1–30 and a box for any size the
/// schema allows (1–1000), so the page accepts what links and the CLI accept.
#[component]
pub(super) fn DataPanel() -> impl IntoView {
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
pub(super) fn HyperParams() -> impl IntoView {
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
pub(super) fn OutputPanel() -> impl IntoView {
    let ui = expect_context::<Ui>();
    let loss = |v: RwSignal<Option<f32>>| move || v.get().map(|x| crate::stepper::math::sig(f64::from(x))).unwrap_or_else(|| "–".into());
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

pub(super) fn checked(ev: &leptos::ev::Event) -> bool {
    ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()).map(|i| i.checked()).unwrap_or(false)
}
