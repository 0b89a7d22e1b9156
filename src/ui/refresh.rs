//! After training: the losses, parameters and maps read back from the trainer and drawn (the
//! points, the heatmaps, the edges, the chart), and what happens when the loss stops being finite.

use leptos::prelude::*;

use super::devices::lost_device;
use super::link::{sync_url, thin};
use super::{Ui, draw, grid_side, network, pause, with_lab};
use crate::backend::BackendKind;
use crate::engine::EngineError;
use crate::train::Head;

pub(super) fn draw_points(ui: Ui) {
    let head = Head::of(ui.config.get_untracked().dataset.task(), ui.config.get_untracked().binary_loss);
    with_lab(|l| draw::points(&l.points.0, &l.points.1, head, ui.show_test.get_untracked()));
}

/// What a refresh redraws besides the losses and the chart.
#[derive(Clone, Copy)]
pub(super) struct Redraw {
    /// The output heatmap and every neuron's thumbnail (a forward pass over the whole grid).
    pub(super) maps: bool,
    /// The network's edges.
    pub(super) edges: bool,
    /// A new point on the loss chart (its SVG is redrawn with every point).
    pub(super) chart: bool,
}

/// Reads losses and parameters back (and with `draw.maps`, the heatmaps) and redraws. Returns false on
/// failure (the failure is handled here: a diverged run goes back to its last finite weights, a
/// lost GPU hands over to the CPU).
pub(super) async fn refresh_with(ui: Ui, draw: Redraw) -> bool {
    let grid = draw.maps.then(|| grid_side(&ui.config.get_untracked(), ui.backend.get_untracked()));
    let Some((pending, epoch, head)) =
        with_lab(|l| l.trainer.as_mut().map(|t| (t.pending(grid), t.epoch(), t.head())))
    else {
        return false;
    };
    let on_gpu = ui.backend.get_untracked() == BackendKind::Gpu;
    match pending.read().await {
        Ok((readout, grid)) => {
            // The trainer was rebuilt while this read was in flight: these values are another
            // network's, so nothing is shown (the new trainer's own refresh follows).
            let kept = with_lab(|l| l.trainer.as_mut().filter(|t| t.id() == readout.trainer).map(|t| t.keep(&readout)));
            match kept {
                None => return true,
                Some(false) => {
                    diverged(ui).await;
                    return false;
                }
                Some(true) => {}
            }
            ui.step.set(readout.step);
            ui.epoch.set(epoch);
            ui.train_loss.set(Some(readout.train_loss));
            ui.test_loss.set(Some(readout.test_loss));
            if draw.chart {
                ui.history.update(|h| {
                    if h.last().is_some_and(|last| last.0 == readout.step) {
                        return;
                    }
                    h.push((readout.step, readout.train_loss, readout.test_loss));
                    thin(h);
                });
            }
            ui.params.set(readout.params);
            if draw.edges {
                network::update_edges(ui);
            }
            if let Some(grid) = grid {
                draw::output_units(&grid, head);
                draw::neurons(&grid);
                with_lab(|l| l.grid = Some((grid, head)));
                draw_output(ui);
            }
            true
        }
        Err(EngineError::NotFinite) => {
            diverged(ui).await;
            false
        }
        Err(e) if on_gpu => {
            lost_device(ui, &e.to_string()).await;
            false
        }
        Err(e) => {
            pause(ui);
            ui.error.set(Some(format!("Could not read the model's values: {e}")));
            false
        }
    }
}

/// Draws the output heatmap from the last maps read: the network's prediction, or the map of the
/// neuron or feature under the pointer.
pub(super) fn draw_output(ui: Ui) {
    let shading = if ui.discretize.get_untracked() { draw::Shading::Discrete } else { draw::Shading::Continuous };
    let hover = ui.hover.get_untracked();
    with_lab(|l| {
        let Some((grid, head)) = &l.grid else { return };
        match hover {
            Some(network::Hover::Neuron { layer, unit }) if grid.hidden.get(layer.wrapping_sub(1)).is_some() => {
                draw::neuron("heatmap", grid, layer, unit)
            }
            Some(network::Hover::Feature(f)) => draw::feature("heatmap", f, grid.n),
            _ => draw::output(grid, *head, shading),
        }
    });
}

/// Full refresh, heatmaps included.
pub(super) async fn refresh(ui: Ui) -> bool {
    refresh_with(ui, Redraw { maps: true, edges: true, chart: true }).await
}

/// The loss stopped being finite: stop, go back to the last finite weights (read at the last
/// refresh), and say what happened and what to do. Nothing non-finite is ever shown: the losses,
/// chart, weights and maps on the page are still those of the last finite readout.
pub(super) async fn diverged(ui: Ui) {
    pause(ui);
    let saved = with_lab(|l| {
        l.trainer.as_mut().map(|t| {
            let device = t.device().clone();
            t.restore_saved(&device);
            t.step
        })
    });
    let Some(saved) = saved else { return };
    let lr = ui.config.get_untracked().lr;
    ui.error.set(Some(format!(
        "Training diverged: the loss became NaN or infinite after step {saved} — the learning rate ({lr}) is too high \
         for this network. Training stopped and went back to the weights of step {saved}, the last finite ones. Lower \
         the learning rate and press play to go on from these weights, or reset to start again."
    )));
    ui.step.set(saved);
    Box::pin(refresh(ui)).await;
    sync_url(ui);
}
