//! Training in a Web Worker, so that no step holds a frame: a CNN batch of 100 takes ≈ 90 ms on the
//! CPU here, longer than the 50 ms a frame may take, and a step cannot be cut in two.
//!
//! The worker runs this same wasm module a second time (no second build, and the compiled module
//! is handed over, not compiled again): the program's `main` finds no `window` and calls [`serve`]
//! instead of mounting the app. The page's trainer stays the one truth. Each request carries its
//! whole training state (`TrainerState`, one byte buffer, transferred) and a step to stop at; the
//! worker takes the state in, trains for a slice of time, and sends the state back, which the
//! page takes in. So pausing, the stepper's step, exporting weights, the pictures and the
//! evaluations all read the page's trainer as before, and a run trained off the page is bit for
//! bit the run trained on it: the same code on the same CPU backend, the same random streams.
//!
//! The playground trains there too, as a run the worker goes on with without waiting for the
//! page (`playground`): its steps take microseconds, so a request per slice would leave the worker
//! idle while its reply waits for the page's thread.
//!
//! Only CPU training goes there: on WebGPU the page only queues the work, the GPU computes it.
//! Where the worker cannot start (no module workers, the program's script not found), the page
//! trains on its own thread as before and says so.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

mod playground;

pub(super) use playground::Duty;

use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use crate::data::images::{ImageData, ImageSet};
use crate::engine::read;
use crate::train::images::{ImageConfig, ImageTrainer, TrainerState, apply_image_settings, image_defaults, image_settings_of};

/// How long the worker may take to start (fetching nothing: the module is handed over).
const START_TIMEOUT_MS: i32 = 20_000;

fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

fn set(o: &Object, key: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(o, &key.into(), &value.into());
}

/// Where training steps run (the MNIST page's `mnist-where`, the playground's `data-where`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Place {
    /// Not training yet.
    Nowhere,
    /// On the page's own thread, a slice per frame (WebGPU, or no worker).
    Page,
    /// In the page's Web Worker.
    Worker,
}

impl Place {
    /// The name tests read (`data-value`, `data-where`).
    pub(super) fn key(self) -> &'static str {
        match self {
            Place::Nowhere => "nowhere",
            Place::Page => "page",
            Place::Worker => "worker",
        }
    }
}

/// Where a test or benchmark asks the steps to run (`window.gradlabTrainIn = 'worker' | 'page'`),
/// to compare the two; `None`: the page's own rule.
pub(super) fn asked_place() -> Option<Place> {
    let asked = web_sys::window().and_then(|w| js_sys::Reflect::get(&w, &"gradlabTrainIn".into()).ok()).and_then(|v| v.as_string());
    match asked.as_deref() {
        Some("worker") => Some(Place::Worker),
        Some("page") => Some(Place::Page),
        _ => None,
    }
}

/// The page's side: the worker, and the replies awaited (by request id).
pub(super) struct TrainWorker {
    worker: web_sys::Worker,
    waiting: Rc<RefCell<HashMap<u32, js_sys::Function>>>,
    next_id: Cell<u32>,
    /// The dataset the worker holds (its key).
    data: RefCell<Option<String>>,
    /// The playground run's last state sent (`playground`), or the worker's failure.
    latest: Rc<RefCell<Option<JsValue>>>,
    /// Why the worker stopped, once it has: a request sent after that is refused at once (the
    /// error event has come and gone: nothing would ever answer it).
    failed: Rc<RefCell<Option<String>>>,
    _on_message: Closure<dyn FnMut(web_sys::MessageEvent)>,
    _on_error: Closure<dyn FnMut(JsValue)>,
}

impl Drop for TrainWorker {
    /// Ends the worker (and its copy of the images) with the last handle to it; its handlers go
    /// first, so nothing calls a dropped closure.
    fn drop(&mut self) {
        self.worker.set_onmessage(None);
        self.worker.set_onerror(None);
        self.worker.set_onmessageerror(None);
        self.worker.terminate();
    }
}

/// A slice of training done in the worker.
pub(super) struct Slice {
    /// The trainer's state after it.
    pub state: TrainerState,
    /// Images trained on.
    pub samples: u64,
    /// The last batch's loss.
    pub loss: f32,
}

/// The page's worker, as far as it has come.
#[derive(Clone, Default)]
enum Slot {
    #[default]
    Untried,
    Starting,
    Ready(Rc<TrainWorker>),
    /// It could not start, or it stopped: training stays on the page.
    Gone(String),
}

thread_local! {
    static WORKER: RefCell<Slot> = RefCell::default();
}

/// The page's training worker, started on first use (once: a second caller waits for the first's
/// start); `Err` says why there is none, and training stays on the page.
pub(super) async fn train_worker() -> Result<Rc<TrainWorker>, String> {
    loop {
        match WORKER.with(|w| w.borrow().clone()) {
            Slot::Ready(worker) => return Ok(worker),
            Slot::Gone(why) => return Err(why),
            Slot::Starting => super::sleep(50).await,
            Slot::Untried => break,
        }
    }
    WORKER.with(|w| *w.borrow_mut() = Slot::Starting);
    let started = TrainWorker::start().await;
    WORKER.with(|w| {
        *w.borrow_mut() = match &started {
            Ok(worker) => Slot::Ready(worker.clone()),
            Err(why) => Slot::Gone(why.clone()),
        }
    });
    if let Err(why) = &started {
        web_sys::console::warn_1(&format!("gradlab: training stays on the page: {why}").into());
    }
    started
}

/// The worker if it is ready now (never waits); the first call starts it in the background. `Err`
/// says why there is none for good (then training stays on the page).
pub(super) fn worker_now() -> Result<Option<Rc<TrainWorker>>, String> {
    match WORKER.with(|w| w.borrow().clone()) {
        Slot::Ready(worker) => Ok(Some(worker)),
        Slot::Gone(why) => Err(why),
        Slot::Starting => Ok(None),
        Slot::Untried => {
            wasm_bindgen_futures::spawn_local(async {
                let _ = train_worker().await;
            });
            Ok(None)
        }
    }
}

/// Gives the worker up after it failed (it stopped, or refused a request): training stays on the
/// page from now on, and the worker is ended.
pub(super) fn give_up_worker(why: &str) {
    web_sys::console::warn_1(&format!("gradlab: training moves back to the page: {why}").into());
    WORKER.with(|w| *w.borrow_mut() = Slot::Gone(why.to_string()));
}

/// The URL of the program's JavaScript (wasm-bindgen's glue), from the script that started it.
fn glue_url() -> Result<String, String> {
    let document = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
    let mut found = None;
    if let Ok(Some(link)) = document.query_selector("link[rel=modulepreload][href$='.js']") {
        found = link.get_attribute("href");
    }
    if found.is_none() {
        let scripts = document.query_selector_all("script[type=module]").map_err(|_| "no scripts")?;
        for i in 0..scripts.length() {
            let text = scripts.item(i).and_then(|s| s.text_content()).unwrap_or_default();
            // trunk's loader: `import init, * as bindings from '/gradlab-web-….js';`
            if let Some(at) = text.find("from '").or_else(|| text.find("from \"")) {
                let rest = &text[at + 6..];
                if let Some(end) = rest.find(['\'', '"']) {
                    found = Some(rest[..end].to_string());
                    break;
                }
            }
        }
    }
    let href = found.ok_or("the program's script is not named in the page")?;
    web_sys::Url::new_with_base(&href, &document.base_uri().ok().flatten().unwrap_or_default())
        .map(|u| u.href())
        .map_err(|_| format!("not a URL: {href}"))
}

impl TrainWorker {
    async fn start() -> Result<Rc<Self>, String> {
        let glue = glue_url()?;
        // A module worker that loads the program's glue and starts it on the page's own compiled
        // module; the program's `main` then installs its handler and says it is ready.
        let boot = "self.onmessage = async (e) => { self.onmessage = null; \
                    try { const glue = await import(e.data.glue); \
                          await glue.default({ module_or_path: e.data.module }); } \
                    catch (err) { self.postMessage({ ready: String(err) }); } };";
        let parts = Array::of1(&boot.into());
        let options = web_sys::BlobPropertyBag::new();
        options.set_type("text/javascript");
        let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options).map_err(|_| "no Blob")?;
        let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(|_| "no object URL")?;
        let worker_options = web_sys::WorkerOptions::new();
        worker_options.set_type(web_sys::WorkerType::Module);
        let worker = web_sys::Worker::new_with_options(&url, &worker_options).map_err(|e| format!("no module worker: {e:?}"))?;
        let _ = web_sys::Url::revoke_object_url(&url);

        let waiting: Rc<RefCell<HashMap<u32, js_sys::Function>>> = Rc::default();
        let ready: Rc<RefCell<Option<js_sys::Function>>> = Rc::default();
        let latest: Rc<RefCell<Option<JsValue>>> = Rc::default();
        let on_message = {
            let (waiting, ready, latest) = (waiting.clone(), ready.clone(), latest.clone());
            Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
                let data = e.data();
                if Reflect::has(&data, &"run".into()).unwrap_or(false) {
                    // Only the newest counts: an older one not taken yet is replaced (not the
                    // worker's own failure, which ends every run).
                    let mut latest = latest.borrow_mut();
                    if !latest.as_ref().is_some_and(|l| !Reflect::has(l, &"run".into()).unwrap_or(false)) {
                        *latest = Some(data);
                    }
                    return;
                }
                if Reflect::has(&data, &"ready".into()).unwrap_or(false) {
                    // `true`, or why the program could not start there.
                    if let Some(resolve) = ready.borrow_mut().take() {
                        let _ = resolve.call1(&JsValue::NULL, &get(&data, "ready"));
                    }
                    return;
                }
                let id = get(&data, "id").as_f64().unwrap_or(-1.0) as u32;
                if let Some(resolve) = waiting.borrow_mut().remove(&id) {
                    let _ = resolve.call1(&JsValue::NULL, &data);
                }
            })
        };
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        // The worker stopped (a panic, out of memory): every request waiting gets an error, and so
        // does a start that has not finished.
        let failed: Rc<RefCell<Option<String>>> = Rc::default();
        let on_error = {
            let (waiting, ready, latest, failed) = (waiting.clone(), ready.clone(), latest.clone(), failed.clone());
            Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
                let why = get(&e, "message").as_string().unwrap_or_else(|| "it stopped".into());
                let why = format!("the training worker failed: {why}");
                *failed.borrow_mut() = Some(why.clone());
                if let Some(resolve) = ready.borrow_mut().take() {
                    let _ = resolve.call1(&JsValue::NULL, &why.clone().into());
                }
                let answer = Object::new();
                set(&answer, "error", why.as_str());
                *latest.borrow_mut() = Some(answer.clone().into());
                for (_, resolve) in waiting.borrow_mut().drain() {
                    let _ = resolve.call1(&JsValue::NULL, &answer);
                }
            })
        };
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        worker.set_onmessageerror(Some(on_error.as_ref().unchecked_ref()));
        let started = js_sys::Promise::new(&mut |resolve, _| {
            *ready.borrow_mut() = Some(resolve.clone());
            if let Some(w) = web_sys::window() {
                let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, START_TIMEOUT_MS);
            }
        });
        let hello = Object::new();
        set(&hello, "glue", glue.as_str());
        set(&hello, "module", wasm_bindgen::module());
        let this = Self { worker, waiting, next_id: Cell::new(1), data: RefCell::new(None), latest, failed, _on_message: on_message, _on_error: on_error };
        this.worker.post_message(&hello).map_err(|e| format!("could not reach the worker: {e:?}"))?;
        let answer = wasm_bindgen_futures::JsFuture::from(started).await.unwrap_or(JsValue::UNDEFINED);
        if answer != JsValue::TRUE {
            // Dropping `this` ends the worker.
            return Err(match answer.as_string() {
                Some(why) => format!("the worker could not start: {why}"),
                None => format!("the worker did not start within {} s", START_TIMEOUT_MS / 1000),
            });
        }
        Ok(Rc::new(this))
    }

    /// Sends `message` (its `transfer` list moved, not copied) and awaits the reply; a reply with
    /// `error` becomes `Err`.
    async fn request(&self, message: Object, transfer: Array) -> Result<JsValue, String> {
        self.send(message, transfer)?.await
    }

    /// Sends `message` now (its `transfer` list moved, not copied); the reply is the future's, and
    /// a reply with `error` becomes `Err`. The future holds nothing of `self`: the caller may do
    /// other work (draw) while the worker trains.
    fn send(&self, message: Object, transfer: Array) -> Result<impl Future<Output = Result<JsValue, String>> + 'static, String> {
        if let Some(why) = self.failed.borrow().clone() {
            return Err(why);
        }
        let id = self.next_id.get();
        self.next_id.set(id.wrapping_add(1));
        set(&message, "id", id);
        let reply = js_sys::Promise::new(&mut |resolve, _| {
            self.waiting.borrow_mut().insert(id, resolve);
        });
        if let Err(e) = self.worker.post_message_with_transfer(&message, &transfer) {
            self.waiting.borrow_mut().remove(&id);
            return Err(format!("could not reach the worker: {e:?}"));
        }
        let reply = wasm_bindgen_futures::JsFuture::from(reply);
        Ok(async move {
            let data = reply.await.map_err(|e| format!("{e:?}"))?;
            match get(&data, "error").as_string() {
                Some(why) => Err(why),
                None => Ok(data),
            }
        })
    }

    /// Gives the worker a dataset (once per `key`: the images are 55 MB).
    pub(super) async fn hold_data(&self, key: &str, data: &ImageData) -> Result<(), String> {
        if self.data.borrow().as_deref() == Some(key) {
            return Ok(());
        }
        let message = Object::new();
        set(&message, "op", "data");
        set(&message, "key", key);
        let transfer = Array::new();
        for (name, set_) in [("train", &data.train), ("test", &data.test)] {
            let (pixels, labels) = (Uint8Array::from(&set_.pixels[..]), Uint8Array::from(&set_.labels[..]));
            transfer.push(&pixels.buffer());
            transfer.push(&labels.buffer());
            set(&message, &format!("{name}Pixels"), pixels);
            set(&message, &format!("{name}Labels"), labels);
            set(&message, &format!("{name}Side"), set_.rows as u32);
        }
        *self.data.borrow_mut() = None;
        self.request(message, transfer).await?;
        *self.data.borrow_mut() = Some(key.to_string());
        Ok(())
    }

    /// Trains from `state` (of a trainer of `config` on the data held) until step `until` or for
    /// about `budget_ms`, whichever comes first (one step at least).
    pub(super) async fn train(&self, config: &ImageConfig, state: &TrainerState, until: u64, budget_ms: f64) -> Result<Slice, String> {
        let message = Object::new();
        set(&message, "op", "train");
        set(&message, "config", settings_text(image_settings_of(config)));
        let bytes = Uint8Array::from(&state.to_bytes()[..]);
        set(&message, "state", &bytes);
        set(&message, "until", until as f64);
        set(&message, "budget", budget_ms);
        let reply = self.request(message, Array::of1(&bytes.buffer())).await?;
        let state = TrainerState::from_bytes(&bytes_of(&reply, "state")).map_err(|e| e.to_string())?;
        Ok(Slice { state, samples: get(&reply, "samples").as_f64().unwrap_or(0.0) as u64, loss: get(&reply, "loss").as_f64().unwrap_or(f64::NAN) as f32 })
    }
}

/// Settings as the worker reads them: a `key=value` line each (every value reads back exactly:
/// see [`image_settings_of`], [`crate::train::schema::settings_of`]).
fn settings_text(pairs: Vec<(String, String)>) -> String {
    pairs.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
}

/// [`settings_text`]'s pairs.
fn settings_in(text: &str) -> Vec<(String, String)> {
    text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn config_of(text: &str) -> Result<ImageConfig, String> {
    let mut config = image_defaults();
    apply_image_settings(&mut config, &settings_in(text)).map_err(|e| format!("a config the worker cannot read: {e}"))?;
    Ok(config)
}


/// The bytes of `v[key]` (a `Uint8Array`; none if it is not one).
fn bytes_of(v: &JsValue, key: &str) -> Vec<u8> {
    get(v, key).dyn_ref::<Uint8Array>().map(Uint8Array::to_vec).unwrap_or_default()
}

// ---- The worker's side ----

/// What the worker holds between requests.
#[derive(Default)]
struct Held {
    data: Option<(String, Rc<ImageData>)>,
    /// The last trainer, with the config it was built for (its state is replaced each request).
    trainer: Option<(String, ImageTrainer)>,
}

thread_local! {
    static HELD: RefCell<Held> = RefCell::default();
}

/// True in a worker (no `window`): the program serves training requests there.
pub(crate) fn in_worker() -> bool {
    web_sys::window().is_none() && js_sys::global().dyn_ref::<web_sys::DedicatedWorkerGlobalScope>().is_some()
}

/// The worker's main: answers each request in turn, then says it is ready.
pub(crate) fn serve() {
    let scope: web_sys::DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
        let data = e.data();
        // The playground's run: no reply (its states come as they are trained).
        if playground::serve_run(&data) {
            return;
        }
        let id = get(&data, "id");
        let reply = Object::new();
        set(&reply, "id", id);
        let transfer = Array::new();
        wasm_bindgen_futures::spawn_local(async move {
            let op = get(&data, "op").as_string().unwrap_or_default();
            let done = match op.as_str() {
                "data" => take_data(&data),
                "train" => train(&data, &reply, &transfer).await,
                other => Err(format!("the worker has no '{other}'")),
            };
            if let Err(why) = done {
                set(&reply, "error", why);
            }
            let scope: web_sys::DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
            let _ = scope.post_message_with_transfer(&reply, &transfer);
        });
    });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    let ready = Object::new();
    set(&ready, "ready", true);
    let _ = scope.post_message(&ready);
}

fn take_data(message: &JsValue) -> Result<(), String> {
    let set_of = |name: &str| {
        let side = get(message, &format!("{name}Side")).as_f64().unwrap_or(0.0) as usize;
        ImageSet { rows: side, cols: side, pixels: bytes_of(message, &format!("{name}Pixels")), labels: bytes_of(message, &format!("{name}Labels")) }
    };
    let data = ImageData { train: set_of("train"), test: set_of("test") };
    let key = get(message, "key").as_string().unwrap_or_default();
    HELD.with(|h| {
        let mut h = h.borrow_mut();
        h.trainer = None;
        h.data = Some((key, Rc::new(data)));
    });
    Ok(())
}

async fn train(message: &JsValue, reply: &Object, transfer: &Array) -> Result<(), String> {
    let config_text = get(message, "config").as_string().ok_or("no config")?;
    let config = config_of(&config_text)?;
    let state = TrainerState::from_bytes(&bytes_of(message, "state")).map_err(|e| e.to_string())?;
    let until = get(message, "until").as_f64().unwrap_or(0.0) as u64;
    let budget = get(message, "budget").as_f64().unwrap_or(50.0);
    // No borrow is held across an await: the trainer is taken out, and put back after (also when
    // the request fails) unless other images came meanwhile.
    let (data, kept) = HELD.with(|h| {
        let mut h = h.borrow_mut();
        (h.data.as_ref().map(|(_, d)| d.clone()), h.trainer.take())
    });
    let data = data.ok_or("the worker holds no images")?;
    let mut trainer = match kept {
        Some((text, t)) if text == config_text => t,
        _ => ImageTrainer::new(config, &data, &burn::tensor::Device::flex()).map_err(|e| e.to_string())?,
    };
    let trained = slice(&mut trainer, state, until, budget).await;
    HELD.with(|h| {
        let mut h = h.borrow_mut();
        if h.data.as_ref().is_some_and(|(_, d)| Rc::ptr_eq(d, &data)) {
            h.trainer = Some((config_text, trainer));
        }
    });
    let (state, samples, loss) = trained?;
    let bytes = Uint8Array::from(&state.to_bytes()[..]);
    transfer.push(&bytes.buffer());
    set(reply, "state", bytes);
    set(reply, "samples", samples as f64);
    set(reply, "loss", loss);
    Ok(())
}

/// From `state`, steps until step `until` or for `budget` ms (one at least): the state after, the
/// images trained on, the last batch's loss.
async fn slice(trainer: &mut ImageTrainer, state: TrainerState, until: u64, budget: f64) -> Result<(TrainerState, u64, f32), String> {
    trainer.restore(state).map_err(|e| e.to_string())?;
    let start = js_sys::Date::now();
    let (last, steps) = trainer.train_until(until, || js_sys::Date::now() - start < budget);
    let samples = steps as u64 * trainer.batch_len() as u64;
    let loss = read(&last).await.map_err(|e| e.to_string())?[0];
    Ok((trainer.state().await.map_err(|e| e.to_string())?, samples, loss))
}
