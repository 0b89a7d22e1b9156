//! The MNIST page's training loop: a slice of training per frame on the page, or slices in the
//! page's Web Worker where a step is too long for a frame (see `ui::worker`); a chart point every
//! quarter epoch and a full test evaluation at each epoch's end, in chunks between frames.

use super::super::play::next_frame;
use super::super::draw::put_image;
use super::super::now_ms;
use super::super::worker::{Place, TrainWorker, asked_place, give_up_worker, train_worker};
use super::{MISSED, MnistUi, Point, Run, with_trainer};
use crate::data::images::ImageData;
use crate::engine::{read, read_many};
use crate::models::image::SIDE;
use crate::share::TrainedRun;
use crate::train::images::{Metrics, Split};
use leptos::prelude::*;

/// Test images evaluated for each point between epochs (all 10,000 at an epoch's end).
const QUICK_EVAL: usize = 1000;
/// Images of the first evaluation chunk; later chunks are sized to take about [`FRAME_BUDGET`].
const FIRST_CHUNK: usize = 50;
/// Points on the charts per epoch.
const POINTS_PER_EPOCH: usize = 4;
/// Training time per frame, in milliseconds: a step is taken only if the last one's time still
/// fits (one at least), so a frame's work stays near this, not this plus a step.
const FRAME_BUDGET: f64 = 20.0;
/// A step time (ms, on the page) above which training moves to the worker: with a frame's drawing,
/// a longer step makes a frame longer than 50 ms. The MLP's steps (≈ 10 ms) stay on the page, where
/// they cost nothing to hand over; the CNN's (≈ 90 ms) go. It takes [`SLOW_SLICES`] slices in a
/// row of such steps (a run's first steps are slower).
const LONG_STEP: f64 = 30.0;
/// Page slices in a row with steps over [`LONG_STEP`] before training moves to the worker.
const SLOW_SLICES: u32 = 3;
/// Training FLOPs per step from which the steps go to the worker at once: the CNN at batch 100
/// (≈ 290 MFLOP, ≈ 90 ms at this browser's 3–5 GFLOP/s) or 50; the MLP at batch 128 (≈ 52 MFLOP)
/// stays.
const LONG_STEP_FLOPS: f64 = 100e6;
/// Training time per request to the worker, in milliseconds: the state crosses twice per request
/// (≈ 1 MB each way for the MLP), so slices are longer than a frame's; progress shows per slice.
const WORKER_SLICE: f64 = 150.0;

/// The play loop: a slice of training per frame on the page, or a slice per request in the worker
/// (the page draws while it waits); a chart point every quarter epoch (on the first 1,000 test
/// images) and a full test evaluation at each epoch's end.
pub(super) async fn train_loop(m: MnistUi, generation: u64, data: &ImageData) -> Result<(), String> {
    let live = || m.generation.get_untracked() == generation;
    let (per_epoch, epochs, flops) = with_trainer(|t| (t.steps_per_epoch(), t.config.epochs, t.config.arch().train_flops_per_sample())).ok_or("no trainer")?;
    let point_every = per_epoch.div_ceil(POINTS_PER_EPOCH).max(1) as u64;
    // A point is due once a point's or an epoch's boundary has been passed since the last one
    // (also by a step the stepper took while training was paused).
    let due = |step: u64| {
        let last = m.evaluated.get_untracked();
        step / point_every > last / point_every || step / per_epoch as u64 > last / per_epoch as u64
    };
    // The step of the next chart point.
    let next_due = || {
        let last = m.evaluated.get_untracked();
        ((last / point_every + 1) * point_every).min((last / per_epoch as u64 + 1) * per_epoch as u64)
    };
    // The worker from the start for a step too costly for a frame (the CNN's); else the page, unless
    // its steps turn out too long there (a slow machine): then the worker after a few.
    let batch = with_trainer(|t| t.batch_len()).unwrap_or(1);
    let costly = flops * batch as f64 > LONG_STEP_FLOPS;
    let asked = asked_place();
    let mut worker = match asked {
        Some(Place::Worker) => off_page(data).await,
        None if costly => off_page(data).await,
        _ => None,
    };
    let mut may_move = asked.is_none() && worker.is_none();
    let mut slow_slices = 0;
    if !live() {
        return Ok(());
    }
    m.place.set(if worker.is_some() { Place::Worker } else { Place::Page });
    // Samples/s over the last few seconds of training (evaluation time excluded).
    let mut window: Vec<(f64, u64)> = Vec::new();
    while live() && m.run.get_untracked() == Run::Training {
        let start = now_ms();
        let (samples, loss) = match worker.clone() {
            Some(w) => {
                let (pending, config, step) = with_trainer(|t| (t.pending_state(), t.config.clone(), t.step)).ok_or("no trainer")?;
                let state = pending.read().await.map_err(|e| e.to_string())?;
                let slice = w.train(&config, &state, next_due().max(step + 1), WORKER_SLICE).await;
                // A pause, a reset or the stepper came meanwhile: the slice is dropped (the page's
                // trainer is where the page last showed it).
                if !live() {
                    return Ok(());
                }
                // The worker failed (it stopped, or refused the state): go on here, from where
                // the page's trainer is.
                let taken = slice.and_then(|slice| {
                    with_trainer(|t| t.restore(slice.state)).ok_or("no trainer")?.map_err(|e| e.to_string())?;
                    Ok((slice.samples, slice.loss))
                });
                match taken {
                    Ok(done) => done,
                    Err(why) => {
                        give_up_worker(&why);
                        worker = None;
                        m.place.set(Place::Page);
                        continue;
                    }
                }
            }
            None => {
                // Up to the next chart point, and on while the last step's time still fits the budget.
                let mut began = start;
                let fits = || {
                    let now = now_ms();
                    let step_ms = now - std::mem::replace(&mut began, now);
                    now - start + step_ms <= FRAME_BUDGET
                };
                let (last, steps, batch) = with_trainer(|t| {
                    let (last, steps) = t.train_until(next_due().max(t.step + 1), fits);
                    (last, steps, t.batch_len() as u64)
                })
                .ok_or("no trainer")?;
                let samples = steps as u64 * batch;
                // Wait for the device (WebGPU runs ahead of the host otherwise).
                let loss = read(&last).await.map_err(|e| e.to_string())?[0];
                // Steps too long for a frame go to the worker from here on (a few slices in a row
                // tell: the first steps are slower).
                slow_slices = if (now_ms() - start) / steps as f64 > LONG_STEP { slow_slices + 1 } else { 0 };
                if may_move && slow_slices >= SLOW_SLICES {
                    may_move = false;
                    worker = off_page(data).await;
                    if worker.is_some() {
                        m.place.set(Place::Worker);
                    }
                }
                (samples, loss)
            }
        };
        if !loss.is_finite() {
            return Err("the loss is not a finite number: lower the learning rate and reset".into());
        }
        // A pause, a reset or the stepper may have come during the read: then this loop is over
        // (it must not set the status again).
        if !live() {
            return Ok(());
        }
        let now = now_ms();
        window.push((now - start, samples));
        if window.len() > 120 {
            window.remove(0);
        }
        let (ms, n): (f64, u64) = window.iter().fold((0.0, 0), |(a, b), (c, d)| (a + c, b + d));
        let rate = n as f64 * 1000.0 / ms.max(1e-3);
        m.samples_per_sec.set(rate);
        m.gflops.set(rate * flops / 1e9);
        let step = with_trainer(|t| t.step).unwrap_or(0);
        m.progress.set((step, per_epoch));
        if due(step) {
            let epoch_end = step / per_epoch as u64 > m.evaluated.get_untracked() / per_epoch as u64;
            m.run.set(Run::Evaluating);
            let point = evaluate(m, generation, epoch_end, data).await?;
            if !live() {
                return Ok(());
            }
            m.evaluated.set(step);
            let finished = epoch_end && step as usize / per_epoch >= epochs;
            if finished && !m.from_file.get_untracked() {
                // The link now points to this run: all its epochs from the seed (a schedule spans
                // them all, so a run stopped earlier could not be repeated from its link).
                let accuracy = (point.4 * 100.0).round() / 100.0;
                m.trained.set(Some(TrainedRun { epochs: (step / per_epoch as u64) as u32, accuracy }));
            }
            m.history.update(|h| h.push(point));
            m.weights_version.update(|v| *v += 1);
            if finished {
                m.run.set(Run::Done);
                return Ok(());
            }
            m.run.set(Run::Training);
        }
        // The page drew while the worker trained: the next request goes at once (a frame's wait
        // here would leave the worker idle for it every slice).
        if worker.is_none() {
            next_frame().await;
        }
    }
    Ok(())
}

/// The worker that trains this CPU model off the page, holding `data`; `None` on WebGPU or where
/// no worker starts.
async fn off_page(data: &ImageData) -> Option<std::rc::Rc<TrainWorker>> {
    if !with_trainer(|t| *t.device() == burn::tensor::Device::flex())? {
        return None;
    }
    let worker = train_worker().await.ok()?;
    let dataset = with_trainer(|t| t.config.dataset)?;
    let key = format!("{}:{}:{}", dataset.key(), data.train.len(), data.test.len());
    match worker.hold_data(&key, data).await {
        Ok(()) => Some(worker),
        Err(why) => {
            web_sys::console::warn_1(&format!("gradlab: training stays on the page: {why}").into());
            None
        }
    }
}

/// One chart point: the mean batch loss and the training accuracy on the batches since the last
/// point (as Keras' `fit` reports them: with dropout), and the test loss and accuracy on
/// the first 1,000 test images (all of them at an epoch's end, which also fills the confusion
/// matrix and the misclassified digits). Chunks are evaluated one per frame.
pub(super) async fn evaluate(m: MnistUi, generation: u64, full: bool, data: &ImageData) -> Result<Point, String> {
    let (train_loss, train_accuracy, epoch) = match with_trainer(|t| (t.take_epoch_means(), t.epoch())) {
        Some((Some((mean, right, _)), epoch)) => {
            let means = read_many(vec![mean, right]).await.map_err(|e| e.to_string())?;
            (means[0][0], 100.0 * means[1][0], epoch)
        }
        Some((None, epoch)) => (f64::NAN, f64::NAN, epoch),
        None => return Err("no trainer".into()),
    };
    let total = if full { data.test.len() } else { QUICK_EVAL.min(data.test.len()) };
    let mut eval = with_trainer(|t| t.evaluation(Split::Test)).ok_or("no trainer")?;
    let (mut start, mut size) = (0, FIRST_CHUNK);
    while start < total {
        if m.generation.get_untracked() != generation {
            return Err("cancelled".into());
        }
        let began = now_ms();
        let len = size.min(total - start);
        let chunk = with_trainer(|t| t.eval_chunk(Split::Test, start, len)).ok_or("no trainer")?;
        eval.add(chunk).await.map_err(|e| e.to_string())?;
        let per_image = (now_ms() - began) / len as f64;
        size = ((FRAME_BUDGET / per_image.max(1e-3)) as usize).clamp(10, 2000);
        start += len;
        next_frame().await;
    }
    let metrics: Metrics = eval.metrics();
    if full {
        let missed: Vec<(usize, u8)> = metrics
            .predictions
            .iter()
            .enumerate()
            .filter(|(i, p)| **p != data.test.labels[*i])
            .take(MISSED)
            .map(|(i, &p)| (i, p))
            .collect();
        for (k, &(i, _)) in missed.iter().enumerate() {
            put_image(&format!("missed-{k}"), SIDE, SIDE, |j| [255 - data.test.image(i)[j]; 3]);
        }
        m.test.set(Some((metrics.accuracy, metrics.confusion, missed)));
    }
    Ok((epoch, train_loss, metrics.loss, train_accuracy, 100.0 * metrics.accuracy))
}
