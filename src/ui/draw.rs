//! Drawing into canvases: the output heatmap with its data points, a thumbnail per hidden neuron
//! and per input feature. Colours follow TF Playground: orange for negative / class 0, blue for
//! positive / class 1, green for class 2, white in between.

use wasm_bindgen::{Clamped, JsCast};
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, ImageData};

use crate::data::{self, DOMAIN, Feature, Point};
use crate::train::{GridOutputs, Head};

const ORANGE: [f32; 3] = [245.0, 147.0, 34.0];
const BLUE: [f32; 3] = [8.0, 119.0, 189.0];
const GREEN: [f32; 3] = [44.0, 160.0, 44.0];
const WHITE: [f32; 3] = [232.0, 234.0, 235.0];

/// Colour of a value in [-1, 1]: orange … white … blue.
pub fn diverging(v: f32) -> [u8; 3] {
    let v = if v.is_finite() { v.clamp(-1.0, 1.0) } else { 0.0 };
    let (end, t) = if v < 0.0 { (ORANGE, -v) } else { (BLUE, v) };
    let mut out = [0u8; 3];
    for i in 0..3 {
        out[i] = (WHITE[i] + (end[i] - WHITE[i]) * t) as u8;
    }
    out
}

/// CSS colour of a value in [-1, 1].
pub fn css(v: f32) -> String {
    let [r, g, b] = diverging(v);
    format!("rgb({r},{g},{b})")
}

fn class_colour(c: usize) -> [f32; 3] {
    [ORANGE, BLUE, GREEN][c.min(2)]
}

/// The canvas with this id and its 2-D context.
pub(super) fn canvas(id: &str) -> Option<(HtmlCanvasElement, CanvasRenderingContext2d)> {
    let el = web_sys::window()?.document()?.get_element_by_id(id)?;
    let canvas: HtmlCanvasElement = el.dyn_into().ok()?;
    let ctx = canvas.get_context("2d").ok()??.dyn_into().ok()?;
    Some((canvas, ctx))
}

/// Writes a `rows × cols` RGB image into the canvas `id` (resizing a canvas clears and reallocates
/// it, so only when its size differs).
pub(super) fn put_image(id: &str, rows: usize, cols: usize, pixel: impl Fn(usize) -> [u8; 3]) {
    let Some((canvas, ctx)) = canvas(id) else { return };
    if canvas.width() != cols as u32 || canvas.height() != rows as u32 {
        canvas.set_width(cols as u32);
        canvas.set_height(rows as u32);
    }
    let mut rgba = vec![255u8; rows * cols * 4];
    for i in 0..rows * cols {
        rgba[4 * i..4 * i + 3].copy_from_slice(&pixel(i));
    }
    if let Ok(image) = ImageData::new_with_u8_clamped_array_and_sh(Clamped(&rgba), cols as u32, rows as u32) {
        let _ = ctx.put_image_data(&image, 0.0, 0.0);
    }
}

/// How the output heatmap shades a prediction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shading {
    /// By confidence: white where the network is unsure, the full colour where it is sure.
    Continuous,
    /// The decision only: each cell takes the predicted class's (or the sign's) full colour.
    Discrete,
}

/// The output heatmap: predicted class colours (mixed by probability) or regression values.
pub fn output(grid: &GridOutputs, head: Head, shading: Shading) {
    let k = head_width(head);
    let discrete = shading == Shading::Discrete;
    put_image("heatmap", grid.n, grid.n, |i| {
        let p = &grid.prediction[i * k..(i + 1) * k];
        match head {
            Head::Softmax(_) => {
                // Mix class colours by probability, fading to white when uncertain.
                let (best, &pmax) = p.iter().enumerate().fold((0, &0.0), |a, b| if b.1 > a.1 { b } else { a });
                let c = class_colour(best);
                let t = if discrete { 1.0 } else { ((pmax - 1.0 / k as f32) / (1.0 - 1.0 / k as f32)).clamp(0.0, 1.0) };
                let mut out = [0u8; 3];
                for j in 0..3 {
                    out[j] = (WHITE[j] + (c[j] - WHITE[j]) * t) as u8;
                }
                out
            }
            Head::Linear if discrete => diverging(p[0].signum()),
            Head::Linear => diverging(p[0]),
            Head::Sigmoid | Head::TanhMse if discrete => diverging(if p[0] >= 0.5 { 1.0 } else { -1.0 }),
            Head::Sigmoid | Head::TanhMse => diverging(2.0 * p[0] - 1.0),
        }
    });
}

/// One hidden neuron's map (layer `layer` from 1, unit `unit`) into canvas `id`, normalised to its
/// largest magnitude: its thumbnail, or drawn large in the output heatmap.
pub fn neuron(id: &str, grid: &GridOutputs, layer: usize, unit: usize) {
    neuron_at(id, grid, layer, unit, grid.n);
}

/// The side a thumbnail is drawn at, at most: it shows 38 CSS pixels, and a small network's maps
/// are computed on up to 128 × 128 cells (for the large map), so every other cell is drawn there.
/// Drawing all of them cost the page ~4× the pixels each map refresh for nothing visible.
const THUMB_MAX: usize = 64;

/// [`neuron`] with every `step`-th cell of each axis, `step` the least that gives a side of at
/// most `side` (nearest sampling: each drawn pixel is a computed cell).
fn neuron_at(id: &str, grid: &GridOutputs, layer: usize, unit: usize, side: usize) {
    let Some(values) = grid.hidden.get(layer.wrapping_sub(1)) else { return };
    let cells = grid.n * grid.n;
    let units = values.len() / cells.max(1);
    if unit >= units {
        return;
    }
    let max = (0..cells).map(|i| values[i * units + unit].abs()).fold(1e-6f32, f32::max);
    let (drawn, cell) = sampled(grid.n, side);
    put_image(id, drawn, drawn, |i| diverging(values[cell(i) * units + unit] / max));
}

/// A grid of side `n` drawn at a side of at most `side`: the side drawn, and the grid's cell of
/// each drawn pixel.
fn sampled(n: usize, side: usize) -> (usize, impl Fn(usize) -> usize) {
    let step = n.div_ceil(side.max(1)).max(1);
    let drawn = n.div_ceil(step);
    (drawn, move |i: usize| (i / drawn) * step * n + (i % drawn) * step)
}

/// An input feature's map on an `n × n` grid into canvas `id`: its thumbnail, or drawn large.
pub fn feature(id: &str, feature: Feature, n: usize) {
    let values: Vec<f64> = data::grid(n).into_iter().map(|(x, y)| feature.eval(x, y)).collect();
    let max = values.iter().fold(1e-9f64, |m, v| m.max(v.abs()));
    put_image(id, n, n, |i| diverging((values[i] / max) as f32));
}

fn head_width(head: Head) -> usize {
    match head {
        Head::Softmax(k) => k,
        _ => 1,
    }
}

/// One thumbnail per output unit (`output-K`): the prediction, or each class's probability.
pub fn output_units(grid: &GridOutputs, head: Head) {
    let k = head_width(head);
    let (drawn, cell) = sampled(grid.n, THUMB_MAX);
    for o in 0..k {
        put_image(&format!("output-{o}"), drawn, drawn, |i| {
            let p = grid.prediction[cell(i) * k + o];
            match head {
                Head::Linear => diverging(p),
                Head::Sigmoid | Head::TanhMse => diverging(2.0 * p - 1.0),
                Head::Softmax(_) => {
                    let c = class_colour(o);
                    let mut out = [0u8; 3];
                    for j in 0..3 {
                        out[j] = (WHITE[j] + (c[j] - WHITE[j]) * p.clamp(0.0, 1.0)) as u8;
                    }
                    out
                }
            }
        });
    }
}

/// One thumbnail per hidden neuron (`neuron-L-I`, layers from 1), normalised per neuron.
pub fn neurons(grid: &GridOutputs) {
    let cells = grid.n * grid.n;
    for (l, values) in grid.hidden.iter().enumerate() {
        for u in 0..values.len() / cells.max(1) {
            neuron_at(&format!("neuron-{}-{u}", l + 1), grid, l + 1, u, THUMB_MAX);
        }
    }
}

/// One thumbnail per input feature (`feature-KEY`). They never change: drawn when the diagram is
/// built, not with the maps.
pub fn features(n: usize) {
    for f in Feature::ALL {
        feature(&format!("feature-{}", f.key()), f, n);
    }
}

/// The data points over the heatmap (canvas `points`): training points ringed in white, test
/// points (if shown) in black.
pub fn points(train: &[Point], test: &[Point], head: Head, show_test: bool) {
    let Some((canvas, ctx)) = canvas("points") else { return };
    let size = 600.0;
    canvas.set_width(size as u32);
    canvas.set_height(size as u32);
    ctx.clear_rect(0.0, 0.0, size, size);
    let scale = size / (2.0 * DOMAIN);
    let sets: [(&[Point], &str); 2] = [(train, "#fff"), (if show_test { test } else { &[] }, "#000")];
    for (set, ring) in sets {
        for p in set {
            let fill = match head {
                Head::Linear => css(p.label as f32),
                _ => {
                    let [r, g, b] = class_colour(p.label as usize);
                    format!("rgb({r},{g},{b})")
                }
            };
            ctx.begin_path();
            let _ = ctx.arc((p.x + DOMAIN) * scale, (DOMAIN - p.y) * scale, 5.0, 0.0, std::f64::consts::TAU);
            ctx.set_fill_style_str(&fill);
            ctx.fill();
            ctx.set_stroke_style_str(ring);
            ctx.set_line_width(1.5);
            ctx.stroke();
        }
    }
}
