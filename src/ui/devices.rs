//! Devices on the page: opening the CPU and WebGPU, the start-up choice between them (the CPU at
//! once; a hardware WebGPU measured later while the page is idle, a software one only offered),
//! switching by hand with the weights kept,
//! and what a lost GPU does (training carries on on the CPU from the last weights read back).

use super::*;
use crate::backend;

pub(super) fn device(kind: BackendKind) -> Option<Device> {
    with_lab(|l| match kind {
        BackendKind::Cpu => l.cpu.clone(),
        BackendKind::Gpu => l.gpu.clone(),
    })
}

/// Steps per second of a fresh trainer on `device`, timed until a readback.
async fn measure(config: &Config, device: &Device, steps: usize) -> Result<f64, String> {
    let mut t = Trainer::new(config.clone(), device).map_err(|e| e.to_string())?;
    timed(&mut t, 3, steps, 0).await
}

/// Steps per second of `t`: `warm_up` steps and a readback first, then `steps` timed until the
/// last one's loss is read; with `losses_every` > 0, the train and test losses are read after
/// every so many steps too.
async fn timed(t: &mut Trainer, warm_up: usize, steps: usize, losses_every: usize) -> Result<f64, String> {
    for _ in 0..warm_up {
        t.train_step();
    }
    t.train_step().read().await.map_err(|e| e.to_string())?;
    let start = now_ms();
    let mut last = None;
    for i in 1..=steps {
        last = Some(t.train_step());
        if losses_every > 0 && i % losses_every == 0 {
            let (a, b) = t.losses();
            read_many(vec![a, b]).await.map_err(|e| e.to_string())?;
        }
    }
    if let Some(l) = last {
        l.read().await.map_err(|e| e.to_string())?;
    }
    Ok(steps as f64 * 1000.0 / (now_ms() - start).max(1e-3))
}

/// Opens the devices, picks a backend and builds the trainer. The page is interactive on the
/// CPU at once unless the link asks for WebGPU: with `backend=auto` the GPU is opened afterwards
/// and, unless it is the browser's software fallback, measured in the background (see
/// [`measure_gpu_later`]) and switched to, weights kept, only if it trains this network faster.
pub(super) async fn start(ui: Ui) {
    with_lab(|l| l.cpu = Some(backend::cpu()));
    let steps = apply_link(ui);
    listen_for_new_links(ui);
    let forced = ui.backend_choice.get_untracked().forced();
    if forced == Some(BackendKind::Gpu) {
        let choice = if open_gpu(ui).await {
            ui.backend_note.set("chosen in the link".into());
            BackendKind::Gpu
        } else {
            ui.backend_note.set("WebGPU was asked for but is not available: using the CPU".into());
            BackendKind::Cpu
        };
        ui.backend.set(choice);
        rebuild_then(ui, steps);
        return;
    }
    ui.backend.set(BackendKind::Cpu);
    ui.backend_note.set(if forced.is_some() { "chosen in the link".into() } else { "the CPU; WebGPU is measured when the page is idle".into() });
    rebuild_then(ui, steps);
    // Opening WebGPU initialises its runtime, which can hold the page: only once it is up.
    while !page_ready() {
        sleep(100).await;
    }
    if open_gpu(ui).await && forced.is_none() {
        if software_adapter().await {
            // A software WebGPU (SwiftShader, the browser's fallback adapter) trains these nets
            // ~50× slower than the CPU path (measured: 104 vs 5,469 steps/s on the default net),
            // and measuring it compiles every kernel on the main thread (1–2 s frozen). Offer it
            // by hand; do not measure it.
            ui.backend_note.set("the CPU; this browser's WebGPU is a software fallback, offered but not measured".into());
        } else {
            measure_gpu_later(ui).await;
        }
    } else if forced.is_none() {
        ui.backend_note.set("the CPU (no WebGPU)".into());
    }
}

/// Whether the browser's WebGPU adapter is its software fallback (`GPUAdapterInfo.isFallbackAdapter`,
/// or SwiftShader by name where the flag is missing). Asked of a fresh adapter: wgpu does not pass
/// the flag on.
pub(super) async fn software_adapter() -> bool {
    use js_sys::Reflect;
    let get = |o: &wasm_bindgen::JsValue, k: &str| Reflect::get(o, &k.into()).unwrap_or(wasm_bindgen::JsValue::UNDEFINED);
    let Some(window) = web_sys::window() else { return false };
    let gpu = get(&window.navigator(), "gpu");
    let Ok(request) = get(&gpu, "requestAdapter").dyn_into::<js_sys::Function>() else { return false };
    let Ok(promise) = request.call0(&gpu).and_then(|p| p.dyn_into::<js_sys::Promise>()) else { return false };
    let Ok(adapter) = wasm_bindgen_futures::JsFuture::from(promise).await else { return false };
    if adapter.is_null() || adapter.is_undefined() {
        return false;
    }
    let info = get(&adapter, "info");
    get(&info, "isFallbackAdapter").as_bool() == Some(true)
        || get(&adapter, "isFallbackAdapter").as_bool() == Some(true)
        || get(&info, "architecture").as_string().is_some_and(|a| a.to_ascii_lowercase().contains("swiftshader"))
}

/// Opens WebGPU if the browser has it; says so if it cannot. Returns whether it is available.
async fn open_gpu(ui: Ui) -> bool {
    let has_webgpu = web_sys::window()
        .map(|w| js_sys::Reflect::has(&w.navigator(), &"gpu".into()).unwrap_or(false))
        .unwrap_or(false);
    let gpu = if has_webgpu { backend::open_gpu(gpu_lost).await } else { Err("this browser has no WebGPU".to_string()) };
    match gpu {
        Ok(d) => {
            with_lab(|l| l.gpu = Some(d));
            ui.gpu_available.set(true);
            true
        }
        Err(e) => {
            // Said only where WebGPU could have been used: a link that chose the CPU needs no notice.
            if ui.backend_choice.get_untracked().forced() != Some(BackendKind::Cpu) {
                ui.notice.set(Some(format!("WebGPU is not available ({}); training runs on the CPU.", plain_reason(&e))));
            }
            false
        }
    }
}

/// Measures this network on both devices (fresh trainers, so the user's training is untouched)
/// once the page has settled, and moves to WebGPU — weights, steps and optimizer state kept —
/// only if it is faster. The choice is per network: a later rebuild does not measure again.
async fn measure_gpu_later(ui: Ui) {
    // Measure only when the page has been idle for a few seconds: not while training plays, and
    // not right after a click. The GPU's first steps compile its kernels on the main thread (in
    // wasm: ~1–2 s on a slow CPU), which must not land in someone's run.
    let idle = || with_lab(|l| l.trainer.is_some()) && page_ready() && !ui.playing.get_untracked();
    let mut quiet_since = now_ms();
    let mut last_step = ui.step.get_untracked();
    loop {
        sleep(250).await;
        if !idle() || ui.step.get_untracked() != last_step {
            quiet_since = now_ms();
            last_step = ui.step.get_untracked();
        } else if now_ms() - quiet_since > 3000.0 {
            break;
        }
    }
    ui.backend_note.set("the CPU; measuring WebGPU…".into());
    let config = ui.config.get_untracked();
    let (Some(cpu), Some(gpu)) = (device(BackendKind::Cpu), device(BackendKind::Gpu)) else { return };
    let c = measure(&config, &cpu, 60).await;
    while !idle() {
        sleep(200).await;
    }
    // Its first steps compile the GPU's kernels in one go (a frame the page cannot draw): let the
    // indicator paint first.
    ui.backend_note.set("the CPU; measuring WebGPU (compiling its kernels)…".into());
    sleep(60).await;
    let g = measure(&config, &gpu, 10).await;
    if ui.backend_choice.get_untracked() != BackendChoice::Auto {
        return; // chosen by hand meanwhile
    }
    match (c, g) {
        (Ok(c), Ok(g)) if g > c => {
            ui.backend_note.set(format!("measured: cpu {c:.0} steps/s, webgpu {g:.0} steps/s: webgpu"));
            switch_backend(ui, BackendKind::Gpu, false);
        }
        (Ok(c), Ok(g)) => ui.backend_note.set(format!("measured: cpu {c:.0} steps/s, webgpu {g:.0} steps/s: the CPU is faster here")),
        (_, Err(e)) => ui.notice.set(Some(format!("WebGPU failed its first steps ({e}); training runs on the CPU."))),
        (Err(e), _) => ui.backend_note.set(format!("CPU measurement failed: {e}")),
    }
}

/// Whether the page said it is ready (after its first build and replay).
fn page_ready() -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.body())
        .and_then(|b| b.dataset().get("ready"))
        .is_some_and(|r| r == "1")
}

/// The GPU's own device-lost signal (wgpu's callback, which must be `Send`: it reaches the page
/// through `PAGE`). Handled like a failed readback.
fn gpu_lost(why: String) {
    let Some(ui) = PAGE.with(|p| p.get()) else { return };
    spawn_local(async move { lost_device(ui, &why).await });
}

/// A device error in one line for a person: wgpu's nested "Caused by:" chains and backtrace
/// notes folded into their distinct messages, at most ~160 characters.
/// Why WebGPU could not be opened, in words for a newcomer: wgpu's adapter report lists every
/// backend it did not try, which says nothing to them.
fn plain_reason(why: &str) -> String {
    let lower = why.to_ascii_lowercase();
    if lower.contains("no adapter") || lower.contains("no suitable graphics adapter") || lower.contains("found no adapters") {
        "this browser offers no graphics adapter for it".into()
    } else {
        short_reason(why)
    }
}

fn short_reason(why: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for line in why.lines().map(|l| l.trim().trim_end_matches(')').trim()) {
        let skip = line.is_empty() || line.starts_with("Caused by") || line.starts_with("Backtrace") || line.starts_with("No backtrace");
        if !skip && !parts.iter().any(|p| p.contains(line)) {
            parts.push(line);
        }
    }
    let text = parts.join("; ");
    if text.chars().count() > 160 { format!("{}…", text.chars().take(160).collect::<String>()) } else { text }
}

/// The GPU failed (a failed readback, or the device's own "lost" signal; either may come first,
/// both usually come). If training was on it: say so, move the trainer to the CPU with the last
/// weights read back (the initial ones when none was read yet), keep the settings and the link,
/// and carry on playing if it was. WebGPU is no longer offered.
pub(super) async fn lost_device(ui: Ui, why: &str) {
    let had_gpu = with_lab(|l| l.gpu.take().is_some());
    ui.gpu_available.set(false);
    if ui.backend.get_untracked() != BackendKind::Gpu {
        if had_gpu {
            ui.notice.set(Some(format!(
                "The GPU stopped working ({}); WebGPU is no longer offered. Training runs on the CPU as before.",
                short_reason(why)
            )));
        }
        return;
    }
    let was_playing = ui.playing.get_untracked();
    pause(ui);
    let Some(cpu) = device(BackendKind::Cpu) else { return };
    let step = with_lab(|l| {
        l.trainer.as_mut().map(|t| {
            t.restore_saved(&cpu);
            t.step
        })
    });
    ui.backend.set(BackendKind::Cpu);
    ui.kernels.set("");
    ui.backend_note.set("the GPU was lost: on the CPU".into());
    ui.error.set(Some(format!(
        "The GPU stopped working ({}). Training continues on the CPU from the weights of step {}, with the same settings.",
        short_reason(why),
        step.unwrap_or(0)
    )));
    step::backend_changed(ui, ui.stepper);
    if Box::pin(refresh(ui)).await && was_playing {
        play(ui);
    }
}

/// Moves the model to another backend, keeping weights, optimizer state and settings.
/// `by_hand`: the user chose (the link then names the backend); otherwise the start-up
/// measurement chose and the link keeps `backend=auto`.
pub(super) fn switch_backend(ui: Ui, kind: BackendKind, by_hand: bool) {
    if kind == ui.backend.get_untracked() {
        return;
    }
    let Some(target) = device(kind) else {
        ui.error.set(Some("WebGPU is not available in this browser.".into()));
        return;
    };
    let was_playing = ui.playing.get_untracked();
    pause(ui);
    spawn_local(async move {
        let Some(mut trainer) = with_lab(|l| l.trainer.take()) else { return };
        let moved = trainer.move_to(&target).await;
        with_lab(|l| l.trainer = Some(trainer));
        match moved {
            Ok(()) => {
                ui.backend.set(kind);
                // Which kernels train there is known after its next step.
                ui.kernels.set("");
                if by_hand {
                    ui.backend_choice.set(match kind {
                        BackendKind::Cpu => BackendChoice::Cpu,
                        BackendKind::Gpu => BackendChoice::Webgpu,
                    });
                    ui.backend_note.set("chosen by hand".into());
                }
                sync_url(ui);
                ui.steps_per_sec.set(0.0);
                refresh(ui).await;
                step::backend_changed(ui, ui.stepper);
                if was_playing {
                    play(ui);
                }
            }
            Err(e) => lost_device(ui, &e.to_string()).await,
        }
    });
}

/// The benchmark's hook (`tests/e2e/bench-nn.mjs`): trains the playground experiment of `link`
/// (a share link's fragment) on the CPU path of this page, without drawing, and returns steps per
/// second. `kernels` is `ours` (the host kernels) or `generic` (burn's); `losses_every` > 0 adds,
/// after every so many steps, the train and test losses read back — TF Playground's page loop (an
/// epoch of steps, then both losses). Fails with a message on a bad link or a path not taken.
#[wasm_bindgen::prelude::wasm_bindgen]
pub async fn bench_steps(link: String, steps: u32, kernels: String, losses_every: u32) -> Result<f64, String> {
    let parsed = share::decode(&link);
    if let Some(p) = parsed.problems.first() {
        return Err(format!("bad link: {p}"));
    }
    let mut t = Trainer::new(parsed.state.config, &backend::cpu()).map_err(|e| e.to_string())?;
    let kernels = match kernels.as_str() {
        "ours" => crate::engine::Kernels::Fused,
        "generic" => crate::engine::Kernels::Generic,
        other => return Err(format!("kernels: '{other}' is not ours or generic")),
    };
    t.set_kernels(kernels);
    let per_sec = timed(&mut t, 20, steps as usize, losses_every as usize).await?;
    let want_host = kernels == crate::engine::Kernels::Fused;
    if (t.path() == &crate::train::StepPath::Host) != want_host {
        return Err(format!("the trainer took {:?}", t.path()));
    }
    Ok(per_sec)
}
