//! The GAN page's unrolled step: the next step taken for real on trace tapes, and every node of
//! each half summarised (network, op, shape, mean |value|, gradient norm) — where the corrected
//! discriminator half sends no gradient into the generator and the essay's does.

use super::*;

/// One row of an unrolled half-step's summary.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Row {
    /// G or D.
    net: &'static str,
    label: String,
    op: &'static str,
    shape: String,
    /// Mean |value|.
    value: f64,
    /// ‖∂L/∂value‖, if a gradient reached it.
    grad: Option<f64>,
    /// A parameter of the network this half does not train.
    other: bool,
}

/// Takes the next step for real on trace tapes and summarises every node of both halves.
async fn unroll(g: GanUi) {
    let Some(generation) = paused(g).await else { return };
    let Some((out, halves)) = with_trainer(|t| t.take_traced(Half::Both)) else { return };
    with_trainer(|t| g.log.set(t.log.clone()));
    let _ = show_outcome(g, out).await;
    let mut tables = Vec::new();
    for (k, half) in halves.iter().enumerate() {
        let trains = if k == 0 { "D" } else { "G" };
        let nodes = half.tape.nodes();
        // Which network a node belongs to: a parameter by its name; a computed node by the
        // parameters it reads, else by its first input.
        let mut net: Vec<&'static str> = Vec::with_capacity(nodes.len());
        for node in nodes {
            let label = node.label();
            let from_inputs = || {
                let reads = |p: &str| node.inputs.iter().any(|&i| nodes[i].label().starts_with(p) && nodes[i].inputs.is_empty());
                if reads("d.") { "D" } else if reads("g.") { "G" } else { node.inputs.first().map_or("", |&i| net[i]) }
            };
            let which = if label.starts_with("d.") || label == "real" || label.contains("randn") {
                "D"
            } else if label.starts_with("g.") || label == "z" || label == "z (fixed)" {
                "G"
            } else if node.tag.role == crate::engine::Role::Target && label == "real" {
                "data"
            } else if node.inputs.is_empty() || node.tag.role == crate::engine::Role::Loss {
                "loss"
            } else {
                from_inputs()
            };
            net.push(which);
        }
        let values: Vec<T> = nodes.iter().map(|n| n.value().clone()).collect();
        let grads: Vec<Option<T>> = nodes.iter().map(|n| n.grad.clone()).collect();
        let Ok(read_values) = read_many(values).await else { return };
        let present: Vec<T> = grads.iter().flatten().cloned().collect();
        let Ok(read_grads) = read_many(present).await else { return };
        let mut grads_iter = read_grads.into_iter();
        let rows = nodes
            .iter()
            .enumerate()
            .map(|(i, node)| {
                let v = &read_values[i];
                let grad = grads[i].as_ref().map(|_| grads_iter.next().unwrap_or_default().iter().map(|x| x * x).sum::<f64>().sqrt());
                let is_param = node.inputs.is_empty() && (node.label().starts_with("g.") || node.label().starts_with("d."));
                Row {
                    net: net[i],
                    label: node.label().to_string(),
                    op: node.op.name(),
                    shape: node.shape.to_string(),
                    value: v.iter().map(|x| x.abs()).sum::<f64>() / v.len().max(1) as f64,
                    grad,
                    other: is_param && net[i] != trains,
                }
            })
            .collect();
        let title = if k == 0 { "the discriminator's half" } else { "the generator's half" };
        tables.push((title.to_string(), rows));
    }
    if g.generation.get_untracked() != generation {
        return;
    }
    g.unrolled.set(Some(tables));
    draw_samples(g).await;
}


/// The unrolled step's panel: the button and both halves' tables with their verdicts.
#[component]
pub(super) fn UnrollPanel(g: GanUi, on_change: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let ready = move || matches!(g.run.get(), Run::Ready | Run::Playing);
    view! {
    <section class="panel gan-unroll">
        <h2>"One step, unrolled"</h2>
        <button data-testid="gan-unroll" disabled=move || !ready() on:click=move |_| spawn_local(async move { unroll(g).await; on_change() })>"take the next step, node by node"</button>
        {move || g.unrolled.get().map(|tables| view! { <div class="unroll-halves">{tables.into_iter().map(|(title, rows)| {
            let leaked: Vec<f64> = rows.iter().filter(|r| r.other).filter_map(|r| r.grad).collect();
            let verdict = if title.contains("discriminator") {
                if leaked.is_empty() { "No gradient reaches the generator's parameters: G(z) is detached.".to_string() }
                else { format!("{} of the generator's parameters got gradients (the essay's missing detach): ‖∇‖ up to {:.3e}, thrown away by zero_grad.", leaked.len(), leaked.iter().copied().fold(0.0, f64::max)) }
            } else if rows.iter().any(|r| r.other && r.grad.is_none()) {
                "The discriminator's weights are constants here: only the generator learns.".to_string()
            } else {
                "The essay's generator step: MSE to the real batch; the discriminator takes no part.".to_string()
            };
            view! {
                <div>
                <h3>{title.clone()}</h3>
                <p data-testid="gan-unroll-verdict">{verdict}</p>
                <table class="unroll" data-testid="gan-unroll-table">
                    <tr><th>"net"</th><th>"node"</th><th>"op"</th><th>"shape"</th><th>"mean |value|"</th><th>"‖∂L/∂·‖"</th></tr>
                    {rows.into_iter().map(|r| view! {
                        <tr class:other=r.other>
                            <td>{r.net}</td><td>{r.label}</td><td>{r.op}</td><td>{r.shape}</td>
                            <td>{format!("{:.4}", r.value)}</td>
                            <td>{r.grad.map_or("no gradient".into(), |x| format!("{x:.3e}"))}</td>
                        </tr>
                    }).collect_view()}
                </table>
                </div>
            }
        }).collect_view()}</div> })}
    </section>
    }
}
