//! The network diagram: input features (click to toggle), hidden layers with a thumbnail per
//! neuron and per-layer controls, the output; edges coloured by the weight's sign and as thick
//! as its magnitude, with the exact value on hover.
//!
//! Positions are computed, not laid out by CSS, so that the SVG edges meet the node boxes.
//! Key decision: the edges are drawn on one canvas (`update_edges`), redrawn only when some edge's
//! look changed; a 6 × 16 network has 1,440 of them, and as SVG paths (rebuilt, or even only
//! restyled, every frame) they froze the page. The canvas finds the edge under the pointer itself
//! and puts its exact weight in the tooltip.

use std::cell::RefCell;

use leptos::prelude::*;
use wasm_bindgen::JsCast;

use super::{Ui, draw_output, edit};
use crate::data::Feature;
use crate::models::Activation;

/// What the pointer is over in the diagram: its map is drawn large in the output panel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hover {
    Feature(Feature),
    /// A hidden neuron: `layer` counts from 1, `unit` from 0.
    Neuron { layer: usize, unit: usize },
}

/// Shows `hover`'s map in the output panel (or the prediction again, with `None`).
fn set_hover(ui: Ui, hover: Option<Hover>) {
    ui.hover.set(hover);
    draw_output(ui);
}

/// A hidden neuron's bias (layer from 1), from the latest parameters.
fn bias(ui: Ui, layer: usize, unit: usize) -> Option<f32> {
    ui.params.with(|p| p.get(2 * (layer - 1) + 1).and_then(|b| b.get(unit)).copied())
}

/// The line above the output map: what it shows.
pub fn caption(ui: Ui) -> String {
    match ui.hover.get() {
        None => "the network's prediction over the plane".into(),
        Some(Hover::Feature(f)) => format!("input {}: its value over the plane", f.title()),
        Some(Hover::Neuron { layer, unit }) => {
            let bias = bias(ui, layer, unit).map(|b| format!(" · bias {b:.4}")).unwrap_or_default();
            format!("layer {layer}, neuron {}: its output over the plane{bias}", unit + 1)
        }
    }
}

const NODE: f64 = 40.0;
const ROW: f64 = 50.0;
/// Column pitch: the widest, and the narrowest the layer controls fit in.
const COL_MAX: f64 = 120.0;
const COL_MIN: f64 = 66.0;
const TOP: f64 = 56.0;
/// Room left of the input column for the feature labels.
const LEFT: f64 = 56.0;
/// Room right of the output column for its labels.
const RIGHT: f64 = 40.0;

fn node_y(i: usize) -> f64 {
    TOP + i as f64 * ROW
}

/// The column pitch that fits `layers` hidden layers in `room` pixels (within its bounds: on a
/// narrow screen the diagram scrolls sideways rather than crushing the nodes together).
fn col_width(room: f64, layers: usize) -> f64 {
    ((room - LEFT - NODE - RIGHT) / (layers + 1) as f64).clamp(COL_MIN, COL_MAX)
}

fn col_x(c: usize, col: f64) -> f64 {
    LEFT + c as f64 * col
}

/// The whole diagram.
#[component]
pub fn Network() -> impl IntoView {
    let ui = expect_context::<Ui>();
    // The diagram's room: its columns spread or close up to fit it (measured on mount and on
    // every resize of the window).
    let scroll = NodeRef::<leptos::html::Div>::new();
    let room = RwSignal::new(COL_MAX * 4.0 + LEFT + NODE + RIGHT);
    let measure = move || {
        if let Some(el) = scroll.get_untracked() {
            let w = el.client_width() as f64;
            if w > 0.0 && (w - room.get_untracked()).abs() >= 1.0 {
                room.set(w);
            }
        }
    };
    Effect::new(move |_| {
        scroll.track();
        measure();
    });
    let resize = window_event_listener(leptos::ev::resize, move |_| measure());
    // A rebuilt diagram has a blank edges canvas and blank feature thumbnails: drawn once it is on
    // the page (the features never change; the edges follow every refresh).
    Effect::new(move |_| {
        ui.config.track();
        room.track();
        leptos::task::spawn_local(async move {
            super::play::next_frame().await;
            super::draw::features(super::THUMB);
            update_edges(ui);
        });
    });
    on_cleanup(move || resize.remove());
    let structure = move || {
        let config = ui.config.get();
        let layers = config.hidden.len();
        let col = col_width(room.get(), layers);
        let outputs = config.dataset.task().outputs();
        let rows = Feature::ALL.len().max(config.hidden.iter().copied().max().unwrap_or(0)).max(outputs);
        let width = col_x(layers + 1, col) + NODE + RIGHT;
        let height = node_y(rows) + 8.0;

        let features = Feature::ALL
            .into_iter()
            .enumerate()
            .map(|(i, f)| {
                let active = config.features.contains(&f);
                view! {
                    <div class="node feature" class:inactive=!active
                        style=format!("left:{}px;top:{}px", col_x(0, col), node_y(i))
                        title=format!("{} — click to {}", f.title(), if active { "remove" } else { "add" })
                        data-testid=format!("feature-{}", f.key())
                        on:mouseenter=move |_| set_hover(ui, Some(Hover::Feature(f)))
                        on:mouseleave=move |_| set_hover(ui, None)
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
                        let hover = Hover::Neuron { layer, unit: u };
                        view! {
                            <div class="node" style=format!("left:{}px;top:{}px", col_x(layer, col), node_y(u))
                                data-testid=format!("neuron-{layer}-{u}")
                                title=format!("layer {layer}, neuron {}", u + 1)
                                on:mouseenter=move |ev| {
                                    // The tooltip gets the bias as it is now.
                                    if let (Some(b), Some(el)) = (bias(ui, layer, u), ev.current_target().and_then(|t| t.dyn_into::<web_sys::Element>().ok())) {
                                        let _ = el.set_attribute("title", &format!("layer {layer}, neuron {} · bias {b}", u + 1));
                                    }
                                    set_hover(ui, Some(hover));
                                }
                                on:mouseleave=move |_| set_hover(ui, None)>
                                <canvas id=format!("neuron-{layer}-{u}") width="20" height="20"></canvas>
                            </div>
                        }
                    })
                    .collect_view();
                let act = config.activations[l];
                view! {
                    <div class="layer-head" style=format!("left:{}px;top:0px;width:{}px", col_x(layer, col) + NODE / 2.0 - (col - 6.0) / 2.0, col - 6.0)>
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
                    <div class="node output" style=format!("left:{}px;top:{}px", col_x(layers + 1, col), node_y(o))
                        title=if outputs == 1 { "the network's output".to_string() } else { format!("P(class {o})") }>
                        <canvas id=format!("output-{o}") width="20" height="20"></canvas>
                        <span class="out-label">{if outputs == 1 { "ŷ".to_string() } else { format!("ŷ{o}") }}</span>
                    </div>
                }
            })
            .collect_view();

        view! {
            <div class="net" style=format!("width:{width}px;height:{height}px")>
                <canvas class="edges" id="edges" data-col=col style=format!("width:{width}px;height:{height}px")
                    on:mousemove=move |ev| edge_tooltip(ui, &ev, col)></canvas>
                <div class="layer-head" style=format!("left:{}px;top:0px;width:{}px", col_x(0, col), NODE + RIGHT)><span class="col-title">"features"</span></div>
                {features}
                {hidden}
                <div class="layer-head" style=format!("left:{}px;top:0px;width:{}px", col_x(layers + 1, col), NODE + RIGHT)><span class="col-title">{out_label}</span></div>
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
        <div class="network-scroll" node_ref=scroll>{structure}</div>
    }
}

/// One weight's edge: layer `l` (0 = inputs → first hidden), from unit `i` to unit `j`.
struct Edge {
    l: usize,
    i: usize,
    j: usize,
}

/// Layer sizes (inputs, hidden…, outputs) and every edge, in the order they are drawn.
fn edge_list(config: &crate::train::Config) -> (Vec<usize>, Vec<Edge>) {
    let sizes = config.sizes();
    let mut edges = Vec::new();
    for l in 0..sizes.len() - 1 {
        for i in 0..sizes[l] {
            for j in 0..sizes[l + 1] {
                edges.push(Edge { l, i, j });
            }
        }
    }
    (sizes, edges)
}

/// An edge's curve, from its unit's box to the next layer's: start, the two control points, end.
type Curve = [(f64, f64); 4];

fn edge_curve(config: &crate::train::Config, e: &Edge, col: f64) -> Curve {
    // Inputs sit at their feature's row among all features.
    let from_row = if e.l == 0 { Feature::ALL.iter().position(|g| *g == config.features[e.i]).unwrap_or(0) } else { e.i };
    let (x0, y0) = (col_x(e.l, col) + NODE, node_y(from_row) + NODE / 2.0);
    let (x1, y1) = (col_x(e.l + 1, col), node_y(e.j) + NODE / 2.0);
    let mid = (x0 + x1) / 2.0;
    [(x0, y0), (mid, y0), (mid, y1), (x1, y1)]
}

/// A point of a cubic Bézier curve at `t` in [0, 1].
fn on_curve(c: &Curve, t: f64) -> (f64, f64) {
    let u = 1.0 - t;
    let (a, b, cc, d) = (u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t);
    (a * c[0].0 + b * c[1].0 + cc * c[2].0 + d * c[3].0, a * c[0].1 + b * c[1].1 + cc * c[2].1 + d * c[3].1)
}

/// An edge's look for weight `v` in a layer whose largest |weight| is `max`: its colour (sign and
/// size, in 64 steps from -1 to 1) and its width (in quarter pixels), rounded so that a change the
/// eye cannot see does not cost a redraw.
fn edge_look(v: f32, max: f32) -> ([u8; 3], f32) {
    let scale = max.max(1.0);
    let shade = (32.0 * v / scale).round() / 32.0;
    (super::draw::diverging(shade), (4.0 * (0.5 + 5.0 * v.abs() / scale)).round() / 4.0)
}

impl Edge {
    /// This edge's weight among its layer's weights `w` (`sizes` as from `edge_list`).
    fn weight(&self, w: &[f32], sizes: &[usize]) -> f32 {
        w[self.i * sizes[self.l + 1] + self.j]
    }
}

/// Each layer's weights (if they fit its shape) and their largest magnitude.
fn layer_weights<'a>(params: &'a [Vec<f32>], sizes: &[usize], l: usize) -> Option<(&'a [f32], f32)> {
    let w = params.get(2 * l).filter(|w| w.len() == sizes[l] * sizes[l + 1])?;
    Some((w, w.iter().fold(1e-6f32, |m, v| m.max(v.abs()))))
}

/// The edges' canvas, and the look each edge was last drawn with.
struct Shown {
    canvas: web_sys::HtmlCanvasElement,
    looks: Vec<([u8; 3], f32)>,
}

thread_local! {
    static SHOWN: RefCell<Option<Shown>> = const { RefCell::new(None) };
}

/// Redraws the edges from the latest parameters, if any edge's look changed since the last
/// drawing (or the diagram was rebuilt). The edges are one canvas, not an SVG path each: where the
/// browser rasterises on a software GPU (SwiftShader here), 1,440 SVG paths of a 6 × 16 network
/// held the page at 3 frames/s; the canvas keeps it above 30. The canvas asks for a CPU-backed
/// context (`willReadFrequently`), whose drawing does not go through that GPU. Does nothing while
/// the canvas is not the current network's.
pub fn update_edges(ui: Ui) {
    let Some(canvas) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("edges"))
        .and_then(|e| e.dyn_into::<web_sys::HtmlCanvasElement>().ok())
    else {
        return;
    };
    let config = ui.config.get_untracked();
    let Some(col) = canvas.get_attribute("data-col").and_then(|c| c.parse::<f64>().ok()) else { return };
    let (sizes, list) = edge_list(&config);
    let looks: Option<Vec<([u8; 3], f32)>> = ui.params.with_untracked(|params| {
        let layers: Vec<Option<(&[f32], f32)>> = (0..sizes.len() - 1).map(|l| layer_weights(params, &sizes, l)).collect();
        list.iter().map(|e| layers[e.l].map(|(w, max)| edge_look(e.weight(w, &sizes), max))).collect()
    });
    let Some(looks) = looks else { return };
    let unchanged = SHOWN.with(|s| s.borrow().as_ref().is_some_and(|s| s.canvas == canvas && s.looks == looks));
    if unchanged {
        return;
    }
    let options = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&options, &"willReadFrequently".into(), &true.into());
    let Some(ctx) = canvas
        .get_context_with_context_options("2d", &options)
        .ok()
        .flatten()
        .and_then(|c| c.dyn_into::<web_sys::CanvasRenderingContext2d>().ok())
    else {
        return;
    };
    let ratio = web_sys::window().map(|w| w.device_pixel_ratio()).unwrap_or(1.0).max(1.0);
    let (w, h) = (canvas.client_width() as f64, canvas.client_height() as f64);
    let (pw, ph) = ((w * ratio).round() as u32, (h * ratio).round() as u32);
    if canvas.width() != pw || canvas.height() != ph {
        canvas.set_width(pw);
        canvas.set_height(ph);
    }
    let _ = ctx.set_transform(ratio, 0.0, 0.0, ratio, 0.0, 0.0);
    ctx.clear_rect(0.0, 0.0, w, h);
    for (e, ([r, g, b], width)) in list.iter().zip(&looks) {
        let c = edge_curve(&config, e, col);
        ctx.begin_path();
        ctx.move_to(c[0].0, c[0].1);
        ctx.bezier_curve_to(c[1].0, c[1].1, c[2].0, c[2].1, c[3].0, c[3].1);
        ctx.set_stroke_style_str(&format!("rgb({r},{g},{b})"));
        ctx.set_line_width(*width as f64);
        ctx.stroke();
    }
    SHOWN.with(|s| *s.borrow_mut() = Some(Shown { canvas, looks }));
}

/// The edge under the pointer (within a few pixels of its curve), if any.
fn edge_at(config: &crate::train::Config, col: f64, x: f64, y: f64) -> Option<Edge> {
    let (_, list) = edge_list(config);
    let mut best: Option<(f64, Edge)> = None;
    for e in list {
        let c = edge_curve(config, &e, col);
        if x < c[0].0 - 4.0 || x > c[3].0 + 4.0 {
            continue;
        }
        let d = (0..=24)
            .map(|k| {
                let (px, py) = on_curve(&c, k as f64 / 24.0);
                (px - x).hypot(py - y)
            })
            .fold(f64::MAX, f64::min);
        if d <= 4.0 && best.as_ref().is_none_or(|(bd, _)| d < *bd) {
            best = Some((d, e));
        }
    }
    best.map(|(_, e)| e)
}

/// The edges canvas's tooltip: the exact weight of the edge under the pointer.
fn edge_tooltip(ui: Ui, ev: &web_sys::MouseEvent, col: f64) {
    let Some(canvas) = ev.current_target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()) else { return };
    let config = ui.config.get_untracked();
    let (sizes, _) = edge_list(&config);
    let found = edge_at(&config, col, ev.offset_x() as f64, ev.offset_y() as f64).and_then(|e| {
        let v = ui.params.with_untracked(|p| layer_weights(p, &sizes, e.l).map(|(w, _)| e.weight(w, &sizes)))?;
        Some(format!("l{}.w[{}][{}] = {v}", e.l + 1, e.i, e.j))
    });
    match found {
        Some(text) => {
            let _ = canvas.set_attribute("title", &text);
        }
        None => {
            let _ = canvas.remove_attribute("title");
        }
    }
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
