//! Preparing the MNIST page's trainer: the device chosen by measuring this model on both (unless
//! one is asked for), the images put on it a slice per frame, the model built. A reset while it
//! prepares abandons it quietly.

use leptos::prelude::*;

use super::super::devices::device;
use super::super::play::{in_slices, next_frame};
use super::super::{now_ms, sleep};
use super::{MnistUi, Run, TRAINER, read};
use crate::backend::BackendKind;
use crate::data::images::ImageData;
use crate::train::images::{ImageConfig, ImageTrainer};

/// [`ensure_trainer`] for work started at `generation`: true when the trainer is there and no
/// reset came since; a failure is shown, unless a reset came (then there is nothing to say).
pub(super) async fn ready_for(m: MnistUi, data: &ImageData, generation: u64) -> bool {
    match ensure_trainer(m, data).await {
        Ok(Prepared::Ready) => m.generation.get_untracked() == generation,
        Ok(Prepared::Abandoned) => false,
        Err(why) => {
            if m.generation.get_untracked() == generation {
                m.run.set(Run::Failed(why));
            }
            false
        }
    }
}

/// How [`ensure_trainer`] ended, when nothing went wrong.
pub(super) enum Prepared {
    /// There is a trainer.
    Ready,
    /// A reset (or another preparation) came meanwhile: nothing was built, and there is nothing to say.
    Abandoned,
}

/// Builds the trainer (uploads the data a slice per frame, initialises the model) unless there is
/// one. A reset while it prepares abandons it.
pub(super) async fn ensure_trainer(m: MnistUi, data: &ImageData) -> Result<Prepared, String> {
    if TRAINER.with(|t| t.borrow().is_some()) {
        return Ok(Prepared::Ready);
    }
    let generation = m.generation.get_untracked();
    let live = || m.generation.get_untracked() == generation;
    m.run.set(Run::Preparing);
    m.uploaded.set((0, 0));
    sleep(20).await; // let "preparing…" paint
    if !live() {
        return Ok(Prepared::Abandoned);
    }
    let kind = match m.backend.get_untracked() {
        Some(kind) => {
            m.device_note.set(format!("{}, as chosen", kind.key()));
            kind
        }
        None => choose_device(m, data).await,
    };
    if !live() {
        return Ok(Prepared::Abandoned);
    }
    let dev = device(kind).or_else(|| device(BackendKind::Cpu)).ok_or("no device is open yet")?;
    let mut pending = ImageTrainer::begin(m.config.get_untracked(), data, &dev).map_err(|e| e.to_string())?;
    m.uploaded.set(pending.progress());
    let uploaded = in_slices(
        |n| {
            let done = pending.upload(n);
            m.uploaded.set(pending.progress());
            done
        },
        live,
    )
    .await;
    if !uploaded {
        return Ok(Prepared::Abandoned);
    }
    let t = pending.finish();
    m.progress.set((0, t.steps_per_epoch()));
    TRAINER.with(|slot| *slot.borrow_mut() = Some(t));
    Ok(Prepared::Ready)
}


/// Measures this model on the CPU and on a hardware WebGPU (a few steps on a small subset each,
/// after one warm-up step that compiles the GPU's kernels) and picks the faster: a CNN batch may
/// favour another device than the MLP. A software WebGPU (SwiftShader) is not measured.
async fn choose_device(m: MnistUi, data: &ImageData) -> BackendKind {
    let Some(gpu) = device(BackendKind::Gpu) else {
        m.device_note.set("cpu (no WebGPU)".into());
        return BackendKind::Cpu;
    };
    if super::super::devices::software_adapter().await {
        m.device_note.set("cpu: this browser's WebGPU is a software fallback, not measured".into());
        return BackendKind::Cpu;
    }
    let config = m.config.get_untracked();
    let batch = config.batch_size;
    let small = ImageData { train: data.train.part(0..(4 * batch).min(data.train.len())), test: data.test.part(0..100.min(data.test.len())) };
    let mut rates = Vec::new();
    for (kind, dev) in [(BackendKind::Cpu, device(BackendKind::Cpu)), (BackendKind::Gpu, Some(gpu))] {
        let Some(dev) = dev else { continue };
        let Ok(mut t) = ImageTrainer::new(ImageConfig { train_limit: 0, augment: false, ..config.clone() }, &small, &dev) else { continue };
        if read(&t.train_step()).await.is_err() {
            continue;
        }
        next_frame().await;
        let start = now_ms();
        let mut last = None;
        for _ in 0..3 {
            last = Some(t.train_step());
        }
        if let Some(l) = last {
            if read(&l).await.is_err() {
                continue;
            }
        }
        rates.push((kind, 3.0 * batch as f64 * 1000.0 / (now_ms() - start).max(1e-3)));
        next_frame().await;
    }
    let best = rates.iter().copied().fold((BackendKind::Cpu, 0.0), |b, r| if r.1 > b.1 { r } else { b });
    let text: Vec<String> = rates.iter().map(|(k, r)| format!("{} {r:.0} samples/s", k.key())).collect();
    m.device_note.set(format!("{}: measured {}", best.0.key(), text.join(", ")));
    best.0
}
