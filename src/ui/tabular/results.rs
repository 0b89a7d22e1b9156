//! The table page's results: the network beside the logistic baseline (accuracy, AUC, loss), the
//! ROC curves, the confusion matrix; and the fairness report — per group of the sensitive
//! column, a table and a bar chart per metric, the differences, and their definitions.

use leptos::prelude::*;

use crate::train::scores::{Fairness, MIN_RELIABLE_GROUP};
use crate::train::tabular::Report;

fn pct(x: f64) -> String {
    if x.is_finite() { format!("{:.2}%", 100.0 * x) } else { "—".into() }
}

fn rate(x: Option<f64>) -> String {
    x.map_or("—".into(), |x| format!("{x:.3}"))
}

/// The ROC curves of both models, with the diagonal.
fn roc_svg(model: &Report, baseline: &Report) -> impl IntoView + use<> {
    let (s, pad) = (220.0, 26.0);
    let path = |points: &[(f64, f64)]| {
        // At most ~400 points drawn: every k-th, and the last.
        let k = (points.len() / 400).max(1);
        let mut d = String::new();
        for (i, (x, y)) in points.iter().enumerate().filter(|(i, _)| i % k == 0 || *i + 1 == points.len()) {
            d.push_str(&format!("{}{:.1},{:.1}", if i == 0 { "M" } else { " L" }, pad + x * s, pad / 2.0 + (1.0 - y) * s));
        }
        d
    };
    let (w, h) = (s + pad + 8.0, s + pad + 6.0);
    view! {
        <svg class="roc" data-testid="tab-roc" viewBox=format!("0 0 {w} {h}") width=w height=h>
            <rect x=pad y=pad / 2.0 width=s height=s class="frame"/>
            <path d=format!("M{pad},{} L{},{}", pad / 2.0 + s, pad + s, pad / 2.0) class="diagonal"/>
            <path d=path(&baseline.roc) class="series-b"/>
            <path d=path(&model.roc) class="series-a"/>
            <text x=pad + s / 2.0 y=h - 2.0 text-anchor="middle" class="tick">"false-positive rate"</text>
            <text x=10 y=pad / 2.0 + s / 2.0 text-anchor="middle" class="tick" transform=format!("rotate(-90 10 {})", pad / 2.0 + s / 2.0)>"true-positive rate"</text>
            <text x=pad - 3.0 y=pad / 2.0 + s + 4.0 text-anchor="end" class="tick">"0"</text>
            <text x=pad - 3.0 y=pad / 2.0 + 8.0 text-anchor="end" class="tick">"1"</text>
            <text x=pad + s y=pad / 2.0 + s + 12.0 text-anchor="end" class="tick">"1"</text>
        </svg>
    }
}

/// The network's and the baseline's scores, the ROC curves and the confusion matrix.
#[component]
pub(super) fn ResultsPanel(reports: RwSignal<Option<(Report, Report)>>) -> impl IntoView {
    view! {
        <section class="panel tab-results">
            <h2>"Results " <span class="sub">"on the test split"</span></h2>
            {move || match reports.get() {
                None => view! { <p class="hint" data-testid="tab-results-empty">"Train to see the network's test accuracy, AUC, ROC curve and confusion matrix beside a logistic regression's."</p> }.into_any(),
                Some((m, b)) => {
                    let c = m.confusion;
                    view! {
                        <table class="scores" data-testid="tab-scores">
                            <tr><th></th><th>"test accuracy"</th><th>"AUC"</th><th>"test loss"</th></tr>
                            <tr><td><span class="swatch series-a"></span>"network"</td>
                                <td data-testid="tab-accuracy" data-value=m.test_accuracy.to_string()>{pct(m.test_accuracy)}</td>
                                <td data-testid="tab-auc" data-value=m.auc.to_string()>{format!("{:.4}", m.auc)}</td>
                                <td>{format!("{:.4}", m.test_loss)}</td></tr>
                            <tr><td><span class="swatch series-b"></span>"logistic regression"</td>
                                <td data-testid="tab-base-accuracy" data-value=b.test_accuracy.to_string()>{pct(b.test_accuracy)}</td>
                                <td data-testid="tab-base-auc">{format!("{:.4}", b.auc)}</td>
                                <td>{format!("{:.4}", b.test_loss)}</td></tr>
                        </table>
                        <div class="results-row">
                            <div>
                                <h3>"ROC curve"</h3>
                                {roc_svg(&m, &b)}
                            </div>
                            <div>
                                <h3>"Confusion matrix " <span class="sub">"network, at P ≥ 0.5"</span></h3>
                                <table class="confusion" data-testid="tab-confusion">
                                    <tr><th></th><th>"predicted positive"</th><th>"predicted negative"</th></tr>
                                    <tr><th>"positive"</th><td class="good" data-testid="tab-tp">{c.tp}</td><td class="bad">{c.fn_}</td></tr>
                                    <tr><th>"negative"</th><td class="bad">{c.fp}</td><td class="good">{c.tn}</td></tr>
                                </table>
                                <p class="hint">"AUC: the chance that a random positive row scores above a random negative one (ties count half)."</p>
                            </div>
                        </div>
                    }.into_any()
                }
            }}
        </section>
    }
}

/// One metric per group as bars (0 to 1).
fn bars(title: &'static str, values: Vec<(String, Option<f64>, bool)>) -> impl IntoView + use<> {
    let (w, row) = (200.0, 16.0);
    let label_w = 74.0;
    let h = row * values.len() as f64 + 4.0;
    view! {
        <div class="metric-bars">
            <h4>{title}</h4>
            <svg viewBox=format!("0 0 {} {h}", w + label_w + 44.0) width=w + label_w + 44.0 height=h>
                {values.into_iter().enumerate().map(|(i, (g, v, unreliable))| {
                    let y = 2.0 + i as f64 * row;
                    let bw = v.unwrap_or(0.0) * w;
                    view! {
                        <text x=label_w - 4.0 y=y + 11.0 text-anchor="end" class="tick">{g}</text>
                        <rect x=label_w y=y + 2.0 width=bw.max(0.5) height=row - 5.0 class="bar" class:unreliable=unreliable/>
                        <text x=label_w + bw + 3.0 y=y + 11.0 class="tick">{rate(v)}</text>
                    }
                }).collect_view()}
            </svg>
        </div>
    }
}

fn fairness_view(f: &Fairness, testid: &'static str) -> impl IntoView + use<> {
    view! {
        <table class="fairness" data-testid=testid>
            <tr><th>"group"</th><th>"count"</th><th>"accuracy"</th><th>"positive rate"</th><th>"TPR"</th><th>"FPR"</th><th></th></tr>
            {f.groups.iter().map(|g| view! {
                <tr data-group=g.group.clone() data-accuracy=g.accuracy.to_string()>
                    <td>{g.group.clone()}</td><td class="num">{g.count}</td><td class="num">{format!("{:.4}", g.accuracy)}</td>
                    <td class="num">{format!("{:.4}", g.positive_rate)}</td><td class="num">{rate(g.tpr)}</td><td class="num">{rate(g.fpr)}</td>
                    <td>{g.unreliable.then_some("⚠ few rows: unreliable")}</td>
                </tr>
            }).collect_view()}
        </table>
    }
}

/// The fairness report.
#[component]
pub(super) fn FairnessPanel(reports: RwSignal<Option<(Report, Report)>>) -> impl IntoView {
    view! {
        <section class="panel tab-fairness">
            <h2>"Fairness " <span class="sub">"per group of the sensitive column, on the test split"</span></h2>
            {move || match reports.get() {
                None => view! { <p class="hint">"Choose a sensitive column (its part: sensitive) and train: each group's accuracy, positive rate, true- and false-positive rates appear here."</p> }.into_any(),
                Some((m, b)) => {
                    let f = &m.fairness;
                    let per = |pick: fn(&crate::train::scores::GroupReport) -> Option<f64>| f.groups.iter().map(|g| (g.group.clone(), pick(g), g.unreliable)).collect::<Vec<_>>();
                    view! {
                        <h3>"Network"</h3>
                        {fairness_view(f, "tab-fairness")}
                        <table class="scores" data-testid="tab-fairness-summary">
                            <tr><th></th><th>"mean of per-group accuracies"</th><th>"demographic-parity difference"</th><th>"equalized-odds difference"</th></tr>
                            <tr><td>"network"</td><td data-testid="tab-mean-group-accuracy" data-value=f.mean_group_accuracy.to_string()>{format!("{:.4}", f.mean_group_accuracy)}</td>
                                <td data-testid="tab-dp">{format!("{:.4}", f.demographic_parity_difference)}</td><td data-testid="tab-eo">{format!("{:.4}", f.equalized_odds_difference)}</td></tr>
                            <tr><td>"logistic regression"</td><td>{format!("{:.4}", b.fairness.mean_group_accuracy)}</td>
                                <td>{format!("{:.4}", b.fairness.demographic_parity_difference)}</td><td>{format!("{:.4}", b.fairness.equalized_odds_difference)}</td></tr>
                        </table>
                        <div class="bars-row">
                            {bars("accuracy", per(|g| Some(g.accuracy)))}
                            {bars("positive rate (selection rate)", per(|g| Some(g.positive_rate)))}
                            {bars("true-positive rate", per(|g| g.tpr))}
                            {bars("false-positive rate", per(|g| g.fpr))}
                        </div>
                        <details>
                            <summary>"Logistic regression's groups"</summary>
                            {fairness_view(&b.fairness, "tab-base-fairness")}
                        </details>
                    }.into_any()
                }
            }}
            <p class="hint definitions">
                "Definitions (Fairlearn's): positive rate = share of the group predicted positive; TPR = TP/(TP+FN); FPR = FP/(FP+TN). "
                "Demographic-parity difference = largest minus smallest positive rate over the groups; equalized-odds difference = the larger of the TPR difference and the FPR difference. "
                "Essay 003's fairness score is the mean of the per-group accuracies. "
                {format!("Groups with fewer than {MIN_RELIABLE_GROUP} test rows are marked unreliable (their accuracy is known to ±7 points at best).")}
            </p>
        </section>
    }
}
