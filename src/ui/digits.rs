//! The MNIST page, its data half: the image datasets in the browser. A bundle
//! (`data/<name>.idx.gz`, built by `./x data`) is downloaded once with a progress bar and kept in
//! the Cache API, so a reload reads it from the cache; either way it is checked against the
//! published SHA-256 sums (`data::images`) before anything is shown, and a truncated or damaged
//! file gives a message, never a hang. Shown: the first hundred test images with their labels,
//! the class counts, the seeded augmentation training will use (`data::digits::Augment`), and a
//! draw pad that shows a drawing made like MNIST's digits — what a network is given — with the
//! class probabilities the trained network gives it. Training itself is `mnist`'s.
//!
//! The images are too large for signals (MNIST: 55 MB): they live in a thread-local, and signals
//! carry what the page shows (the load state, labels, counts).

use std::cell::RefCell;
use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::PointerEvent;

use super::draw::{canvas, put_image};
use super::mnist::{CompressPanel, MnistSearch, MnistUi, Prediction, TrainPanel};
use super::{now_ms, sleep};
use crate::data::digits::{Augment, SIDE, digit_from_drawing};
use crate::data::images::{DataError, ImageData, ImageDataset, MAX_GZIP_BYTES, Verify, parse_bundle};
use crate::engine::{Rng, Stream};

/// Cache API name; bump when the bundle format changes.
const CACHE: &str = "gradlab-data-v1";
/// Test images shown in the grid.
const GRID: usize = 100;
/// Augmented copies shown beside the original.
const AUGMENTED: usize = 9;
/// Side of the draw pad in pixels.
const PAD: u32 = 280;

thread_local! {
    static LOADED: RefCell<Vec<(ImageDataset, Rc<ImageData>)>> = const { RefCell::new(Vec::new()) };
}

/// The dataset of this kind, if it is loaded.
pub(super) fn loaded(kind: ImageDataset) -> Option<Rc<ImageData>> {
    LOADED.with(|l| l.borrow().iter().find(|(k, _)| *k == kind).map(|(_, d)| d.clone()))
}

/// Where a dataset is in its loading.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Load {
    Idle,
    Downloading { loaded: f64, total: Option<f64> },
    Checking,
    Ready { source: Source, train: usize, test: usize, ms: f64 },
    Failed(String),
}

/// Where a loaded dataset came from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Source {
    Downloaded,
    Cache,
    Memory,
}

/// The page's signals.
#[derive(Clone, Copy)]
struct DigitsUi {
    kind: RwSignal<ImageDataset>,
    load: RwSignal<Load>,
    labels: RwSignal<Vec<u8>>,
    counts: RwSignal<Option<([usize; 10], [usize; 10])>>,
    augment_seed: RwSignal<u64>,
    drawing: RwSignal<bool>,
    /// The drawing made like MNIST's digits (28 × 28, ink high), when something is drawn.
    digit: RwSignal<Option<Vec<u8>>>,
}

/// A dataset for another page (the GAN's): from memory, this browser's cache or a download,
/// checked as here; `load` follows the loading ([`load_text`] says it in words).
pub(super) async fn load_dataset(kind: ImageDataset, load: RwSignal<Load>) -> Result<Rc<ImageData>, String> {
    if let Some(data) = loaded(kind) {
        load.set(Load::Ready { source: Source::Memory, train: data.train.len(), test: data.test.len(), ms: 0.0 });
        return Ok(data);
    }
    let d = DigitsUi {
        kind: RwSignal::new(kind),
        load,
        labels: RwSignal::new(Vec::new()),
        counts: RwSignal::new(None),
        augment_seed: RwSignal::new(1),
        drawing: RwSignal::new(false),
        digit: RwSignal::new(None),
    };
    let start = now_ms();
    load.set(Load::Downloading { loaded: 0.0, total: None });
    match fetch_bundle(d, kind).await {
        Ok((data, from_cache)) => {
            let data = loaded(kind).unwrap_or_else(|| {
                let data = Rc::new(data);
                LOADED.with(|l| l.borrow_mut().push((kind, data.clone())));
                data
            });
            let source = if from_cache { Source::Cache } else { Source::Downloaded };
            load.set(Load::Ready { source, train: data.train.len(), test: data.test.len(), ms: now_ms() - start });
            Ok(data)
        }
        Err(why) => {
            load.set(Load::Failed(why.clone()));
            Err(why)
        }
    }
}

/// A loading state in words.
pub(super) fn load_text(load: &Load) -> String {
    match load.clone() {
        Load::Idle => "not loaded yet".to_string(),
        Load::Downloading { loaded, total: Some(t) } => format!("downloading {:.1} of {:.1} MB…", loaded / 1e6, t / 1e6),
        Load::Downloading { loaded, total: None } => format!("downloading {:.1} MB…", loaded / 1e6),
        Load::Checking => "checking the images against the published checksums…".to_string(),
        Load::Ready { source, train, test, ms } => format!(
            "{} training and {} test images, checked against the published checksums; {}",
            thousands(train),
            thousands(test),
            match source {
                Source::Downloaded => format!("downloaded in {:.1} s and kept in this browser's cache", ms / 1000.0),
                Source::Cache => format!("read from this browser's cache in {:.1} s", ms / 1000.0),
                Source::Memory => "already loaded".to_string(),
            }
        ),
        Load::Failed(why) => format!("could not load the images: {why}"),
    }
}

/// How far a download is, 0 to 1.
pub(super) fn load_fraction(load: &Load) -> f64 {
    match load {
        Load::Downloading { loaded, total: Some(t) } if *t > 0.0 => (loaded / t).min(1.0),
        Load::Downloading { .. } | Load::Idle | Load::Failed(_) => 0.0,
        _ => 1.0,
    }
}

/// Starts loading `kind` unless it is loaded or loading.
fn ensure_loaded(d: DigitsUi, kind: ImageDataset) {
    if let Some(data) = loaded(kind) {
        d.load.set(Load::Ready { source: Source::Memory, train: data.train.len(), test: data.test.len(), ms: 0.0 });
        show(d, &data);
        return;
    }
    if matches!(d.load.get_untracked(), Load::Downloading { .. } | Load::Checking) {
        return;
    }
    d.load.set(Load::Downloading { loaded: 0.0, total: None });
    spawn_local(async move {
        let start = now_ms();
        let result = fetch_bundle(d, kind).await;
        // The page may have moved to another dataset meanwhile: keep this one, show it only if not.
        let current = d.kind.get_untracked() == kind;
        match result {
            Ok((data, from_cache)) => {
                let data = Rc::new(data);
                LOADED.with(|l| l.borrow_mut().push((kind, data.clone())));
                if current {
                    let source = if from_cache { Source::Cache } else { Source::Downloaded };
                    d.load.set(Load::Ready { source, train: data.train.len(), test: data.test.len(), ms: now_ms() - start });
                    show(d, &data);
                }
            }
            Err(why) if current => d.load.set(Load::Failed(why)),
            Err(_) => {}
        }
    });
}

/// The bundle from the Cache API, or downloaded (then cached); checked either way. A cached copy
/// that fails its check is deleted and downloaded again.
async fn fetch_bundle(d: DigitsUi, kind: ImageDataset) -> Result<(ImageData, bool), String> {
    let window = web_sys::window().ok_or("no window")?;
    let url = format!("data/{}", kind.file_name());
    let cache: Option<web_sys::Cache> = match window.caches() {
        Ok(storage) => JsFuture::from(storage.open(CACHE)).await.ok().and_then(|c| c.dyn_into().ok()),
        Err(_) => None, // no Cache API (e.g. not a secure context): download every time
    };
    if let Some(cache) = &cache {
        let hit = JsFuture::from(cache.match_with_str(&url)).await.ok().and_then(|r| r.dyn_into::<web_sys::Response>().ok());
        if let Some(response) = hit {
            let bytes = array_buffer(&response).await?;
            match check(d, kind, &bytes).await {
                Ok(data) => return Ok((data, true)),
                Err(_) => {
                    let _ = JsFuture::from(cache.delete_with_str(&url)).await;
                }
            }
        }
    }
    let hint = "; run ./x data (or ./x serve) to build the datasets";
    let mut bytes = fetch_bytes(&url, MAX_GZIP_BYTES, hint, |n, total| {
        if d.kind.get_untracked() == kind {
            d.load.set(Load::Downloading { loaded: n as f64, total });
        }
    })
    .await?;
    let data = check(d, kind, &bytes).await.map_err(|e| e.to_string())?;
    if let Some(cache) = &cache {
        if let Ok(copy) = web_sys::Response::new_with_opt_u8_array(Some(&mut bytes)) {
            let _ = JsFuture::from(cache.put_with_str(&url, &copy)).await;
        }
    }
    Ok((data, false))
}

/// A file served beside the app, read chunk by chunk, telling `progress` the bytes so far and the
/// announced size; refused above `max` bytes (by its announced size before reading, if it has
/// one). `missing` follows the message when the server has no such file.
pub(super) async fn fetch_bytes(url: &str, max: usize, missing: &str, progress: impl Fn(usize, Option<f64>)) -> Result<Vec<u8>, String> {
    let window = web_sys::window().ok_or("no window")?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(|e| format!("could not download {url} ({})", js_text(&e)))?
        .dyn_into()
        .map_err(|_| "the download gave no response".to_string())?;
    if !response.ok() {
        return Err(format!("the server answered {} for {url}{missing}", response.status()));
    }
    let total = response.headers().get("content-length").ok().flatten().and_then(|v| v.parse::<f64>().ok());
    if total.is_some_and(|t| t > max as f64) {
        return Err(format!("{url} is larger than it may be ({} MB)", max / 1_000_000));
    }
    read_body(&response, url, max, |n| progress(n, total)).await
}

/// Reads a response's body chunk by chunk, telling `progress` the bytes so far; refuses a body
/// above `max` bytes (named by `url`).
pub(super) async fn read_body(response: &web_sys::Response, url: &str, max: usize, progress: impl Fn(usize)) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    let body = response.body().ok_or("the download has no body")?;
    let reader: web_sys::ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(|e| format!("the download broke off ({})", js_text(&e)))?;
        if js_sys::Reflect::get(&chunk, &"done".into()).ok().and_then(|v| v.as_bool()).unwrap_or(true) {
            break;
        }
        let value: js_sys::Uint8Array = js_sys::Reflect::get(&chunk, &"value".into()).map_err(|_| "a broken chunk")?.unchecked_into();
        let at = bytes.len();
        bytes.resize(at + value.length() as usize, 0);
        value.copy_to(&mut bytes[at..]);
        if bytes.len() > max {
            return Err(format!("{url} is larger than it may be ({} MB)", max / 1_000_000));
        }
        progress(bytes.len());
    }
    Ok(bytes)
}

/// Says "checking…" (and lets it paint), then unzips and checks the bundle against the published sums.
async fn check(d: DigitsUi, kind: ImageDataset, bytes: &[u8]) -> Result<ImageData, DataError> {
    d.load.set(Load::Checking);
    sleep(30).await;
    parse_bundle(bytes, Verify::Sums(&kind.sums()))
}

async fn array_buffer(response: &web_sys::Response) -> Result<Vec<u8>, String> {
    let promise = response.array_buffer().map_err(|e| js_text(&e))?;
    let buffer = JsFuture::from(promise).await.map_err(|e| format!("could not read the cached data ({})", js_text(&e)))?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// `60000` → `60,000`.
/// `48842` as `48,842`.
pub(super) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn js_text(v: &JsValue) -> String {
    v.as_string().or_else(|| js_sys::JSON::stringify(v).ok().and_then(|s| s.as_string())).unwrap_or_else(|| "unknown error".into())
}

/// Fills the page from a loaded dataset.
fn show(d: DigitsUi, data: &ImageData) {
    d.labels.set(data.test.labels[..GRID.min(data.test.len())].to_vec());
    d.counts.set(Some((data.train.class_counts(), data.test.class_counts())));
    for i in 0..GRID.min(data.test.len()) {
        put_grey(&format!("digit-{i}"), data.test.rows, data.test.cols, data.test.image(i));
    }
    draw_augmented(d, data);
}

/// The first test image and augmented copies of it (the training stream's seeded draws).
fn draw_augmented(d: DigitsUi, data: &ImageData) {
    let (rows, cols) = (data.test.rows, data.test.cols);
    let image = data.test.image(0);
    put_grey("augment-0", rows, cols, image);
    let mut rng = Rng::new(d.augment_seed.get_untracked(), Stream::Augment);
    let mut out = vec![0u8; rows * cols];
    for i in 1..=AUGMENTED {
        Augment::DIGITS.apply(image, rows, cols, &mut rng, &mut out);
        put_grey(&format!("augment-{i}"), rows, cols, &out);
    }
}

/// Draws grey levels (ink high) as dark ink on white.
fn put_grey(id: &str, rows: usize, cols: usize, pixels: &[u8]) {
    put_image(id, rows, cols, |i| [255 - pixels[i]; 3]);
}

/// The pad's point under the pointer, in canvas pixels.
fn pad_point(ev: &PointerEvent) -> Option<(f64, f64)> {
    let (canvas, _) = canvas("draw-pad")?;
    let rect = canvas.get_bounding_client_rect();
    let sx = canvas.width() as f64 / rect.width().max(1.0);
    let sy = canvas.height() as f64 / rect.height().max(1.0);
    Some(((ev.client_x() as f64 - rect.left()) * sx, (ev.client_y() as f64 - rect.top()) * sy))
}

fn stroke_to(ev: &PointerEvent, start: bool) {
    let (Some((_, ctx)), Some((x, y))) = (canvas("draw-pad"), pad_point(ev)) else { return };
    // About MNIST's stroke once the digit is fitted into 20 × 20 pixels.
    ctx.set_line_width(PAD as f64 / 12.0);
    ctx.set_line_cap("round");
    ctx.set_line_join("round");
    ctx.set_stroke_style_str("#000");
    if start {
        ctx.begin_path();
        ctx.move_to(x, y);
    }
    ctx.line_to(x, y);
    ctx.stroke();
}

/// The drawing made like MNIST's digits, in the preview (blank when nothing is drawn).
fn update_preview(d: DigitsUi) {
    let Some((_, ctx)) = canvas("draw-pad") else { return };
    let Ok(image) = ctx.get_image_data(0.0, 0.0, PAD as f64, PAD as f64) else { return };
    let alpha: Vec<u8> = image.data().0.chunks_exact(4).map(|p| p[3]).collect();
    let digit = digit_from_drawing(&alpha, PAD as usize, PAD as usize);
    put_grey("draw-preview", SIDE, SIDE, digit.as_deref().unwrap_or(&[0; SIDE * SIDE]));
    d.digit.set(digit);
}

fn clear_pad(d: DigitsUi) {
    if let Some((canvas, ctx)) = canvas("draw-pad") {
        ctx.clear_rect(0.0, 0.0, canvas.width() as f64, canvas.height() as f64);
    }
    update_preview(d);
}

/// The page. Loading starts when it is first shown (`active`). `config` is the training panel's
/// experiment (it rides in the link); `on_change` writes the link after a change.
#[component]
pub(super) fn DigitsPage(
    active: Signal<bool>,
    config: RwSignal<crate::train::images::ImageConfig>,
    /// The run the link points to (written by the training panel).
    trained: RwSignal<Option<crate::share::TrainedRun>>,
    /// The opened link's run (read by the training panel).
    from_link: RwSignal<Option<(crate::share::TrainedRun, crate::train::images::ImageConfig)>>,
    on_change: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let d = DigitsUi {
        kind: RwSignal::new(ImageDataset::Mnist),
        load: RwSignal::new(Load::Idle),
        labels: RwSignal::new(Vec::new()),
        counts: RwSignal::new(None),
        augment_seed: RwSignal::new(1),
        drawing: RwSignal::new(false),
        digit: RwSignal::new(None),
    };
    let m = MnistUi::new(config, trained, from_link);
    // The link follows the experiment's settings and the run it points to. The settings change only
    // while no run of this page is on (the controls are disabled otherwise), so a pointer still
    // there is the opened link's: it goes when the settings stop being that run's.
    Effect::new(move |first: Option<()>| {
        config.track();
        trained.track();
        let linked = from_link.with_untracked(|l| l.as_ref().map(|(_, c)| c.clone()));
        if trained.get_untracked().is_some() && linked.is_some_and(|c| c != config.get_untracked()) {
            trained.set(None);
        }
        if first.is_some() {
            on_change();
        }
    });
    let ready = Signal::derive(move || matches!(d.load.get(), Load::Ready { .. }));
    Effect::new(move |_| {
        if active.get() {
            ensure_loaded(d, d.kind.get());
        }
    });
    let status = move || d.load.with(load_text);
    let fraction = move || d.load.with(load_fraction);
    let class_names = move || d.kind.get().classes();
    view! {
        <div class="digits">
            <section class="panel">
                <h2>"Data"</h2>
                <label>"dataset"
                    <select data-testid="image-dataset" on:change=move |ev| {
                        let kind = if event_target_value(&ev) == "fashion" { ImageDataset::FashionMnist } else { ImageDataset::Mnist };
                        d.kind.set(kind);
                        d.load.set(Load::Idle);
                        d.labels.set(Vec::new());
                        d.counts.set(None);
                    }>
                        <option value="mnist" selected=true>"MNIST digits"</option>
                        <option value="fashion">"Fashion-MNIST"</option>
                    </select>
                </label>
                <progress data-testid="data-progress" max="1" prop:value=fraction></progress>
                <p class="data-status" data-testid="data-status" class:error=move || matches!(d.load.get(), Load::Failed(_))>{status}</p>
                {move || matches!(d.load.get(), Load::Failed(_)).then(|| view! {
                    <button class="retry" data-testid="data-retry" on:click=move |_| {
                        d.load.set(Load::Idle);
                        ensure_loaded(d, d.kind.get_untracked());
                    }>"try again"</button>
                })}
                {move || d.counts.get().map(|(train, test)| view! {
                    <table class="counts" data-testid="class-counts">
                        <tr><th>"class"</th><th>"train"</th><th>"test"</th></tr>
                        {(0..10).map(|c| view! {
                            <tr><td>{class_names()[c]}</td><td>{thousands(train[c])}</td><td>{thousands(test[c])}</td></tr>
                        }).collect_view()}
                    </table>
                })}
            </section>
            <TrainPanel m kind=d.kind.into() ready/>
            <CompressPanel m/>
            <MnistSearch m kind=d.kind.into() ready active/>
            <super::mnist_step::StepPanel m kind=d.kind.into() ready/>
            <section class="panel test-images">
                <h2>"The first 100 test images"</h2>
                <div class="digit-grid" data-testid="digit-grid">
                    {(0..GRID).map(|i| view! {
                        <figure>
                            <canvas id=format!("digit-{i}") width="28" height="28"></canvas>
                            <figcaption>{move || d.labels.with(|l| l.get(i).map(|&c| class_names()[c as usize].to_string()).unwrap_or_default())}</figcaption>
                        </figure>
                    }).collect_view()}
                </div>
                <h2>"Augmentation: shifts of ±2 px, rotations of ±10° (seeded)"</h2>
                <div class="augment-row" data-testid="augment-row">
                    {(0..=AUGMENTED).map(|i| view! { <canvas id=format!("augment-{i}") width="28" height="28" class:original={i == 0}></canvas> }).collect_view()}
                    <button data-testid="augment-again" title="the next draws of the augmentation stream" on:click=move |_| {
                        d.augment_seed.update(|s| *s += 1);
                        if let Some(data) = loaded(d.kind.get_untracked()) { draw_augmented(d, &data) }
                    }>"again"</button>
                </div>
            </section>
            <section class="panel">
                <h2>"Draw a digit"</h2>
                <canvas id="draw-pad" data-testid="draw-pad" width=PAD height=PAD
                    on:pointerdown=move |ev: PointerEvent| {
                        d.drawing.set(true);
                        if let Some(t) = ev.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()) {
                            let _ = t.set_pointer_capture(ev.pointer_id());
                        }
                        stroke_to(&ev, true);
                    }
                    on:pointermove=move |ev: PointerEvent| if d.drawing.get_untracked() { stroke_to(&ev, false) }
                    on:pointerup=move |_| { d.drawing.set(false); update_preview(d) }
                    on:pointercancel=move |_| { d.drawing.set(false); update_preview(d) }></canvas>
                <div class="pad-row">
                    <button data-testid="draw-clear" on:click=move |_| clear_pad(d)>"clear"</button>
                    <span>"as a network sees it:"</span>
                    <canvas id="draw-preview" data-testid="draw-preview" width="28" height="28"></canvas>
                </div>
                <Prediction m digit=d.digit.into() classes=Signal::derive(class_names)/>
                <p class="hint" data-testid="draw-hint">{move || if d.digit.with(Option::is_some) {
                    "Your drawing, made like MNIST's digits: its ink fitted into 20 × 20 pixels, centred by its centre of mass in 28 × 28."
                } else {
                    "Draw with the mouse or a finger; it is made into a 28 × 28 digit the way MNIST's were."
                }}</p>
            </section>
        </div>
    }
}
