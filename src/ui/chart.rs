//! Line charts of two series (train and test) against a step or an epoch, with axes, ticks, a
//! legend and a log scale, as SVG: the playground's loss chart (after a replay it holds the
//! history collected while replaying) and the MNIST page's loss and accuracy charts.

use leptos::prelude::*;

use super::{Ui, checked};

/// A tick label: short, and readable from 1e-6 to 1e6.
fn tick_label(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1e4 || v.abs() < 1e-2 {
        format!("{v:.0e}")
    } else {
        format!("{}", (v * 100.0).round() / 100.0)
    }
}

/// The playground's loss chart: train and test loss against the step, with a log scale on demand
/// (on a linear scale a first spike leaves the rest a flat line).
#[component]
pub fn LossChart() -> impl IntoView {
    let ui = expect_context::<Ui>();
    let points = Signal::derive(move || ui.history.get().iter().map(|&(s, a, b)| (s as f64, a as f64, b as f64)).collect());
    view! { <LineChart points testid="loss-chart" x_label="step " empty="train and test loss appear here" log_option=true/> }
}

/// Two series (train, test) against x, each point `(x, train, test)`; a NaN leaves a value out.
/// With `log_option`, a checkbox switches the y axis to a log scale; `x_label` prefixes the
/// middle x tick ("step ", "epoch "); `percent` writes y ticks as percentages.
#[component]
pub fn LineChart(
    points: Signal<Vec<(f64, f64, f64)>>,
    testid: &'static str,
    x_label: &'static str,
    empty: &'static str,
    #[prop(optional)] log_option: bool,
    #[prop(optional)] percent: bool,
    /// The two series' names in the legend (default train, test).
    #[prop(optional)] names: Option<(&'static str, &'static str)>,
) -> impl IntoView {
    let (first, second) = names.unwrap_or(("train", "test"));
    let legend_second = 18.0 + 5.6 * second.chars().count() as f64;
    let legend_first = legend_second + 24.0 + 5.6 * first.chars().count() as f64;
    let log = RwSignal::new(false);
    let (w, h) = (320.0, 120.0);
    let (left, right, top, bottom) = (40.0, 8.0, 8.0, 18.0);
    let plot = move || {
        let hist = points.get();
        let log = log.get();
        let values: Vec<f64> = hist.iter().flat_map(|p| [p.1, p.2]).filter(|v| v.is_finite() && (!log || *v > 0.0)).collect();
        if hist.len() < 2 || values.is_empty() {
            return view! { <text x=w / 2.0 y=h / 2.0 text-anchor="middle" class="chart-empty">{empty}</text> }.into_any();
        }
        let (s0, s1) = (hist[0].0, hist[hist.len() - 1].0);
        let span = (s1 - s0).max(1.0);
        let hi = values.iter().copied().fold(f64::MIN, f64::max);
        let lo = if log || percent { values.iter().copied().fold(f64::MAX, f64::min) } else { 0.0 };
        let scale = move |v: f64| if log { v.max(lo).log10() } else { v };
        let (a, b) = (scale(lo), scale(hi));
        let b = if b - a < 1e-12 { a + 1.0 } else { b };
        let x = move |step: f64| left + (step - s0) / span * (w - left - right);
        let y = move |v: f64| top + (1.0 - (scale(v) - a) / (b - a)) * (h - top - bottom);
        let y_ticks: Vec<f64> = if log {
            // Every decade in range, and the ends where no decade is near them.
            let mut ticks: Vec<f64> =
                (a.floor() as i32..=b.ceil() as i32).map(|k| 10f64.powi(k)).filter(|v| scale(*v) >= a - 1e-9 && scale(*v) <= b + 1e-9).collect();
            for end in [lo, hi] {
                if ticks.iter().all(|t| (scale(*t) - scale(end)).abs() > 0.15 * (b - a)) {
                    ticks.push(end);
                }
            }
            ticks
        } else {
            vec![lo, (lo + hi) / 2.0, hi]
        };
        let label = move |v: f64| if percent { format!("{}%", (v * 10.0).round() / 10.0) } else { tick_label(v) };
        let pts = |sel: fn(&(f64, f64, f64)) -> f64| {
            hist.iter()
                .filter(|p| sel(p).is_finite() && (!log || sel(p) > 0.0))
                .map(|p| format!("{:.1},{:.1}", x(p.0), y(sel(p))))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let (x0, x1, yb) = (left, w - right, h - bottom);
        view! {
            <g>
                <line class="axis" x1=x0 y1=top x2=x0 y2=yb/>
                <line class="axis" x1=x0 y1=yb x2=x1 y2=yb/>
                {y_ticks.into_iter().map(|v| view! {
                    <line class="grid" x1=x0 y1=y(v) x2=x1 y2=y(v)/>
                    <text class="tick" x=x0 - 3.0 y=y(v) + 3.0 text-anchor="end">{label(v)}</text>
                }).collect_view()}
                // Labelled at the axis' ends and middle (the axis spans at least 1, so a short
                // history's labels do not crowd into its left part); on a long axis the middle is a
                // whole number (not "step 14913.5").
                {[(s0, "start", ""), (s0 + span / 2.0, "middle", x_label), (s0 + span, "end", "")].into_iter().map(|(st, anchor, prefix)| (if span >= 10.0 { st.round() } else { st }, anchor, prefix)).map(|(st, anchor, prefix)| view! {
                    <text class="tick" x=x(st) y=h - 5.0 text-anchor=anchor>{format!("{prefix}{}", (st * 100.0).round() / 100.0)}</text>
                }).collect_view()}
                <polyline points=pts(|p| p.2) class="test-line" fill="none"/>
                <polyline points=pts(|p| p.1) class="train-line" fill="none"/>
                // A series with no values (the accuracy chart has no train series) has no legend.
                <g class="legend-lines">
                    // Placed from the right by the names' lengths (≈ 5.6 units a letter at 9 px).
                    {hist.iter().any(|p| p.1.is_finite()).then(|| view! {
                        <line class="train-line" x1=x1 - legend_first y1=top + 4.0 x2=x1 - legend_first + 12.0 y2=top + 4.0/>
                        <text class="tick" x=x1 - legend_first + 15.0 y=top + 7.0>{first}</text>
                    })}
                    <line class="test-line" x1=x1 - legend_second y1=top + 4.0 x2=x1 - legend_second + 12.0 y2=top + 4.0/>
                    <text class="tick" x=x1 - legend_second + 15.0 y=top + 7.0>{second}</text>
                </g>
            </g>
        }
        .into_any()
    };
    view! {
        <div class="chart-box">
            <svg class="chart" data-testid=testid viewBox=format!("0 0 {w} {h}")>{plot}</svg>
            {log_option.then(|| view! {
                <label class="check chart-log"><input type="checkbox" data-testid=format!("{testid}-log") prop:checked=move || log.get()
                    on:change=move |ev| log.set(checked(&ev))/>" log scale"</label>
            })}
        </div>
    }
}
