//! The network diagram: input features (click to toggle), hidden layers with a thumbnail per
//! neuron and per-layer controls, the output; edges coloured by the weight's sign and as thick
//! as its magnitude, with the exact value on hover.
//!
//! Positions are computed, not laid out by CSS, so that the SVG edges meet the node boxes.

use leptos::prelude::*;

use super::{Ui, edit};
use super::draw::css;
use crate::data::Feature;
use crate::models::Activation;

const NODE: f64 = 40.0;
const ROW: f64 = 50.0;
const COL: f64 = 120.0;
const TOP: f64 = 56.0;
/// Room left of the input column for the feature labels.
const LEFT: f64 = 56.0;

fn node_y(i: usize) -> f64 {
    TOP + i as f64 * ROW
}

fn col_x(c: usize) -> f64 {
    LEFT + c as f64 * COL
}

/// The whole diagram.
#[component]
pub fn Network() -> impl IntoView {
    let ui = expect_context::<Ui>();
    let structure = move || {
        let config = ui.config.get();
        let layers = config.hidden.len();
        let outputs = config.dataset.task().outputs();
        let rows = Feature::ALL.len().max(config.hidden.iter().copied().max().unwrap_or(0)).max(outputs);
        let width = col_x(layers + 1) + NODE + 40.0;
        let height = node_y(rows) + 8.0;

        let features = Feature::ALL
            .into_iter()
            .enumerate()
            .map(|(i, f)| {
                let active = config.features.contains(&f);
                view! {
                    <div class="node feature" class:inactive=!active
                        style=format!("left:{}px;top:{}px", col_x(0), node_y(i))
                        title=format!("{} — click to {}", f.title(), if active { "remove" } else { "add" })
                        data-testid=format!("feature-{}", f.key())
                        on:click=move |_| toggle_feature(ui, f)>
                        <canvas id=format!("feature-{}", f.key()) width="20" height="20"></canvas>
                        <span class="node-label">{f.title()}</span>
                    </div>
                }
            })
            .collect_view();

        let hidden = config
            .hidden
            .iter()
            .enumerate()
            .map(|(l, &units)| {
                let layer = l + 1;
                let neurons = (0..units)
                    .map(|u| {
                        view! {
                            <div class="node" style=format!("left:{}px;top:{}px", col_x(layer), node_y(u))
                                title=format!("layer {layer}, neuron {}", u + 1)>
                                <canvas id=format!("neuron-{layer}-{u}") width="20" height="20"></canvas>
                            </div>
                        }
                    })
                    .collect_view();
                let act = config.activations[l];
                view! {
                    <div class="layer-head" style=format!("left:{}px;top:0px", col_x(layer) - 30.0)>
                        <div class="layer-buttons">
                            <button title="remove a neuron" disabled={units <= 1} on:click=move |_| resize_layer(ui, l, -1)>"−"</button>
                            <span>{units}</span>
                            <button title="add a neuron (16 at most)" disabled={units >= 16} on:click=move |_| resize_layer(ui, l, 1)>"+"</button>
                        </div>
                        <select title="activation" data-testid=format!("act-{layer}")
                            on:change=move |ev| set_activation(ui, l, &event_target_value(&ev))>
                            {Activation::ALL.into_iter().map(|a| view! {
                                <option value=a.key() selected=a == act>{a.key()}</option>
                            }).collect_view()}
                        </select>
                    </div>
                    {neurons}
                }
            })
            .collect_view();

        let out_label = if outputs == 1 { "output".to_string() } else { format!("{outputs} outputs") };
        let outputs_view = (0..outputs)
            .map(|o| {
                view! {
                    <div class="node output" style=format!("left:{}px;top:{}px", col_x(layers + 1), node_y(o))
                        title=if outputs == 1 { "the network's output".to_string() } else { format!("P(class {o})") }>
                        <canvas id=format!("output-{o}") width="20" height="20"></canvas>
                        <span class="out-label">{if outputs == 1 { "ŷ".to_string() } else { format!("ŷ{o}") }}</span>
                    </div>
                }
            })
            .collect_view();

        view! {
            <div class="net" style=format!("width:{width}px;height:{height}px")>
                <svg class="edges" width=width height=height>{move || edges(ui)}</svg>
                <div class="layer-head" style=format!("left:{}px;top:0px", col_x(0))><span class="col-title">"features"</span></div>
                {features}
                {hidden}
                <div class="layer-head" style=format!("left:{}px;top:0px", col_x(layers + 1))><span class="col-title">{out_label}</span></div>
                {outputs_view}
            </div>
        }
    };
    view! {
        <div class="network-controls">
            <button data-testid="layer-remove" title="remove a hidden layer" disabled=move || ui.config.get().hidden.is_empty()
                on:click=move |_| change_layers(ui, -1)>"−"</button>
            <span data-testid="layer-count">{move || match ui.config.get().hidden.len() {
                1 => "1 hidden layer".to_string(),
                n => format!("{n} hidden layers"),
            }}</span>
            <button data-testid="layer-add" title="add a hidden layer (6 at most)" disabled=move || { ui.config.get().hidden.len() >= 6 }
                on:click=move |_| change_layers(ui, 1)>"+"</button>
        </div>
        <div class="network-scroll">{structure}</div>
    }
}

/// The SVG paths of every weight, from the latest parameters.
fn edges(ui: Ui) -> impl IntoView {
    let config = ui.config.get();
    let params = ui.params.get();
    let mut sizes = vec![config.features.len()];
    sizes.extend(&config.hidden);
    sizes.push(config.dataset.task().outputs());
    // Rows of the input column: the position of each active feature among all features.
    let feature_rows: Vec<usize> =
        config.features.iter().map(|f| Feature::ALL.iter().position(|g| g == f).unwrap_or(0)).collect();
    let mut paths = Vec::new();
    for l in 0..sizes.len() - 1 {
        let Some(w) = params.get(2 * l).filter(|w| w.len() == sizes[l] * sizes[l + 1]) else { continue };
        let max = w.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
        for i in 0..sizes[l] {
            let from_row = if l == 0 { feature_rows[i] } else { i };
            let (x0, y0) = (col_x(l) + NODE, node_y(from_row) + NODE / 2.0);
            for j in 0..sizes[l + 1] {
                let v = w[i * sizes[l + 1] + j];
                let (x1, y1) = (col_x(l + 1), node_y(j) + NODE / 2.0);
                let mid = (x0 + x1) / 2.0;
                let d = format!("M{x0},{y0} C{mid},{y0} {mid},{y1} {x1},{y1}");
                let width = 0.5 + 5.0 * (v.abs() / max.max(1.0));
                let title = format!("l{}.w[{i}][{j}] = {v}", l + 1);
                paths.push(view! {
                    <path d=d stroke=css(v / max.max(1.0)) stroke-width=width fill="none" class="edge">
                        <title>{title}</title>
                    </path>
                });
            }
        }
    }
    paths
}

fn toggle_feature(ui: Ui, f: Feature) {
    let config = ui.config.get_untracked();
    if config.features == [f] {
        ui.error.set(Some(format!("The network needs at least one input: add another feature before removing {}.", f.title())));
        return;
    }
    edit(ui, |c| {
        if c.features.contains(&f) {
            if c.features.len() > 1 {
                c.features.retain(|g| *g != f);
            }
        } else {
            c.features.push(f);
            c.features.sort_by_key(|g| Feature::ALL.iter().position(|h| h == g));
        }
    });
}

fn change_layers(ui: Ui, delta: i32) {
    edit(ui, |c| {
        if delta > 0 && c.hidden.len() < 6 {
            c.hidden.push(*c.hidden.last().unwrap_or(&2));
            c.activations.push(*c.activations.last().unwrap_or(&Activation::Tanh));
        } else if delta < 0 && !c.hidden.is_empty() {
            c.hidden.pop();
            c.activations.pop();
        }
    });
}

fn resize_layer(ui: Ui, layer: usize, delta: i32) {
    edit(ui, |c| {
        let n = c.hidden[layer] as i32 + delta;
        c.hidden[layer] = n.clamp(1, 16) as usize;
    });
}

fn set_activation(ui: Ui, layer: usize, key: &str) {
    if let Some(a) = Activation::from_key(key) {
        edit(ui, |c| c.activations[layer] = a);
    }
}
