//! The playground's training in the page's worker: a run.
//!
//! Key decision: the worker trains without waiting for the page. A request and its reply per slice
//! left the worker idle while the reply waited for the page's thread (busy drawing), and the page's
//! frame waited for the reply: training at 60–75% of the worker's pace, or frames lost. Instead
//! the page starts a run from its trainer's state; the worker trains it slice after slice and
//! sends the state after each, and the page takes the newest into its trainer at each frame and
//! draws it. The page's trainer stays the one truth: when it moves on its own (a setting changed
//! mid-run, recorded in the link at the page's step), the page starts a new run from there and the
//! old run's states are dropped — so a run trained in the worker replays exactly from its link.

use std::cell::{Cell, RefCell};

use js_sys::{Array, Object, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use super::{TrainWorker, bytes_of, get, set, settings_in, settings_text};
use crate::train::{Config, PlayState, Trainer, schema};

/// How the worker divides its time: it trains `share` of each `period_ms` and rests for the rest,
/// then sends its state. A state comes every period whatever the share, so the page has a new
/// state to draw at each frame while the worker leaves it CPU time (see `ui::play`'s `OffPage`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(in crate::ui) struct Duty {
    /// The share of each period spent training, 0.05 to 1.
    pub share: f64,
    /// The period (ms), 2 to 100: about half a frame, so that each frame has a new state.
    pub period_ms: f64,
}

impl Duty {
    /// Training all the time, a state every 8 ms (half a frame at 60 frames/s).
    pub(in crate::ui) const FULL: Duty = Duty { share: 1.0, period_ms: 8.0 };

    fn put(self, message: &Object) {
        set(message, "share", self.share);
        set(message, "period", self.period_ms);
    }

    /// A message's duty; missing or odd values read as [`Duty::FULL`]'s, out-of-range ones clamped.
    fn of(message: &JsValue) -> Duty {
        let read = |key, default: f64, lo, hi| get(message, key).as_f64().filter(|v| v.is_finite()).unwrap_or(default).clamp(lo, hi);
        Duty { share: read("share", 1.0, 0.05, 1.0), period_ms: read("period", Duty::FULL.period_ms, 2.0, 100.0) }
    }
}

impl TrainWorker {
    /// Starts a run from the playground's `state` (of a trainer of `config`), replacing the run
    /// before, trained at `duty` (see [`TrainWorker::pace`]); returns its number (see
    /// [`TrainWorker::latest`]).
    pub(in crate::ui) fn run(&self, config: &Config, state: &PlayState, duty: Duty) -> Result<u32, String> {
        if let Some(why) = self.failed.borrow().clone() {
            return Err(why);
        }
        let run = self.next_id.get();
        self.next_id.set(run.wrapping_add(1));
        let message = Object::new();
        set(&message, "op", "run");
        set(&message, "run", run);
        duty.put(&message);
        set(&message, "config", settings_text(schema::settings_of(config)));
        let bytes = Uint8Array::from(&state.to_bytes()[..]);
        set(&message, "state", &bytes);
        self.worker.post_message_with_transfer(&message, &Array::of1(&bytes.buffer())).map_err(|e| format!("could not reach the worker: {e:?}"))?;
        Ok(run)
    }

    /// Sets the share of its time the worker trains, and how often it sends a state: on a
    /// machine with few cores its training competes with the page's drawing for them.
    pub(in crate::ui) fn pace(&self, duty: Duty) {
        let message = Object::new();
        set(&message, "op", "pace");
        duty.put(&message);
        let _ = self.worker.post_message(&message);
    }

    /// Ends run `run` if it is still the worker's (a newer run, started by a play loop that began
    /// before this one's end was seen, goes on); its states still on their way are dropped by
    /// `latest`.
    pub(in crate::ui) fn stop(&self, run: u32) {
        let message = Object::new();
        set(&message, "op", "stop");
        set(&message, "run", run);
        let _ = self.worker.post_message(&message);
    }

    /// The newest state of run `run` not taken yet (`None`: none came since); `Err` when the run
    /// failed or the worker stopped.
    pub(in crate::ui) fn latest(&self, run: u32) -> Option<Result<PlayState, String>> {
        let data = self.latest.borrow_mut().take()?;
        // Another run's state or failure (one that ended before this began) is not this run's;
        // a message without a run (the worker itself failed) is every run's.
        if get(&data, "run").as_f64().is_some_and(|r| r != run as f64) {
            return None;
        }
        if let Some(why) = get(&data, "error").as_string() {
            return Some(Err(why));
        }
        Some(PlayState::from_bytes(&bytes_of(&data, "state")).map_err(|e| e.to_string()))
    }
}

// ---- The worker's side ----

thread_local! {
    /// The run trained now (its number), and the trainer with the settings text it was built for
    /// (kept after a run for the next one of the same config).
    static RUN: Cell<Option<u32>> = const { Cell::new(None) };
    /// Whether the training loop is alive (it may be resting between slices with no run current:
    /// a stop and a new run can both come during one rest, and one loop then trains the new run).
    static ALIVE: Cell<bool> = const { Cell::new(false) };
    /// The share of the time trained, and the period (see `TrainWorker::pace`).
    static DUTY: Cell<Duty> = const { Cell::new(Duty::FULL) };
    static TRAINER: RefCell<Option<(String, Trainer)>> = const { RefCell::new(None) };
}

/// Serves a run's messages (`run`, `stop`); false for any other.
pub(super) fn serve_run(message: &JsValue) -> bool {
    match get(message, "op").as_string().as_deref() {
        Some("run") | Some("pace") => {
            DUTY.with(|d| d.set(Duty::of(message)));
            if get(message, "op").as_string().as_deref() == Some("pace") {
                return true;
            }
            let run = get(message, "run").as_f64().unwrap_or(0.0) as u32;
            match start(message) {
                Ok(()) => {
                    // One loop trains whichever run is current.
                    RUN.with(|r| r.set(Some(run)));
                    if !ALIVE.with(|a| a.replace(true)) {
                        wasm_bindgen_futures::spawn_local(train());
                    }
                }
                Err(why) => {
                    RUN.with(|r| r.set(None));
                    send(run, Err(why));
                }
            }
            true
        }
        Some("stop") => {
            let run = get(message, "run").as_f64().map(|r| r as u32);
            RUN.with(|r| {
                if r.get() == run {
                    r.set(None);
                }
            });
            true
        }
        _ => false,
    }
}

/// Takes the run's config and state into the worker's trainer.
fn start(message: &JsValue) -> Result<(), String> {
    let text = get(message, "config").as_string().ok_or("no config")?;
    let state = PlayState::from_bytes(&bytes_of(message, "state")).map_err(|e| e.to_string())?;
    TRAINER.with(|kept| {
        let mut kept = kept.borrow_mut();
        if kept.as_ref().is_none_or(|(t, _)| *t != text) {
            let mut config = schema::defaults();
            schema::apply_settings(&mut config, &settings_in(&text)).map_err(|e| format!("a config the worker cannot read: {e}"))?;
            *kept = Some((text, Trainer::new(config, &crate::backend::cpu()).map_err(|e| e.to_string())?));
        }
        let (_, trainer) = kept.as_mut().expect("just made");
        trainer.restore_play_state(state).map_err(|e| e.to_string())
    })
}

/// Trains the current run a slice at a time, sending the state after each and letting the page's
/// messages in between, until no run is current.
async fn train() {
    train_runs().await;
    ALIVE.with(|a| a.set(false));
}

async fn train_runs() {
    while let Some(run) = RUN.with(Cell::get) {
        let duty = DUTY.with(Cell::get);
        let start = js_sys::Date::now();
        let state = TRAINER.with(|kept| {
            let mut kept = kept.borrow_mut();
            let (_, trainer) = kept.as_mut().ok_or("no trainer")?;
            loop {
                trainer.train_step();
                if js_sys::Date::now() - start >= duty.share * duty.period_ms {
                    break;
                }
            }
            trainer.play_state().ok_or("the playground's trainer left the host path")
        });
        if let Err(why) = &state {
            RUN.with(|r| r.set(None));
            send(run, Err(why.to_string()));
            return;
        }
        send(run, state.map_err(str::to_string));
        // The rest of the period (none when training takes all of it).
        let rest = if duty.share < 1.0 { duty.period_ms - (js_sys::Date::now() - start) } else { 0.0 };
        let_messages_in(rest).await;
    }
}

/// Sends run `run`'s state, or why it failed.
fn send(run: u32, state: Result<PlayState, String>) {
    let message = Object::new();
    set(&message, "run", run);
    let transfer = Array::new();
    match state {
        Ok(state) => {
            let bytes = Uint8Array::from(&state.to_bytes()[..]);
            transfer.push(&bytes.buffer());
            set(&message, "state", bytes);
        }
        Err(why) => set(&message, "error", why),
    }
    let scope: web_sys::DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let _ = scope.post_message_with_transfer(&message, &transfer);
}

/// Lets the worker's queued messages (a new run, a stop) be handled, then goes on after `rest`
/// ms: through a message sent to itself on a `MessageChannel`, whose task then goes on at once or
/// starts the rest's timer. A timer started from a timer's task (the training loop runs in one
/// after a rest) is held back to at least 4 ms from the fifth in a row; one started from a
/// message's task is not, so short rests stay short. (All reached through `Reflect`: web-sys's
/// bindings are features not built here.)
async fn let_messages_in(rest: f64) {
    thread_local! {
        /// The channel's two ports.
        static CHANNEL: Option<(JsValue, JsValue)> = {
            let made = js_sys::Reflect::get(&js_sys::global(), &"MessageChannel".into()).ok()
                .and_then(|c| c.dyn_into::<js_sys::Function>().ok())
                .and_then(|c| js_sys::Reflect::construct(&c, &Array::new()).ok());
            made.map(|c| (get(&c, "port1"), get(&c, "port2")))
        };
        /// `(go, ms) => () => setTimeout(go, ms)`.
        static AFTER: js_sys::Function = js_sys::Function::new_with_args("go, ms", "return () => setTimeout(go, ms);");
    }
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let rest_then = || AFTER.with(|after| after.call2(&JsValue::NULL, &resolve, &rest.into()).ok());
        let then = if rest > 0.0 { rest_then() } else { Some(resolve.clone().into()) };
        let posted = CHANNEL.with(|channel| {
            let (port1, port2) = channel.as_ref()?;
            js_sys::Reflect::set(port1, &"onmessage".into(), then.as_ref()?).ok()?;
            let post = get(port2, "postMessage").dyn_into::<js_sys::Function>().ok()?;
            post.call1(port2, &JsValue::NULL).ok()
        });
        if posted.is_none() {
            // No channel: a timer (or at once).
            let go = rest_then().and_then(|f| f.dyn_into::<js_sys::Function>().ok());
            if go.is_none_or(|f| f.call0(&JsValue::NULL).is_err()) {
                let _ = resolve.call0(&JsValue::NULL);
            }
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}
