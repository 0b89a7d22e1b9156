//! Files in and out of the page: downloads as data URLs, a chosen or dropped file read with a size
//! check first, the playground's weights file, and copying the link.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;

use super::link::{apply_state, current_link, current_state, problems_banner, sync_url};
use super::{Ui, pause, rebuild_then, refresh, with_lab};
use crate::share;

/// Points the clicked download link at `bytes` (a data URL) just before the browser follows it.
pub(super) fn set_href(ev: &leptos::ev::MouseEvent, mime: &str, bytes: &[u8]) {
    if let Some(target) = ev.current_target() {
        let _ = js_sys::Reflect::set(&target, &"href".into(), &data_url(mime, bytes).into());
    }
}

/// `bytes` as a `data:` URL.
fn data_url(mime: &str, bytes: &[u8]) -> String {
    let mut url = format!("data:{mime},");
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            url.push(b as char);
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

/// Saves `bytes` as a file named `name` (made after an async read, so not from a link's own click).
pub(super) fn download(name: &str, mime: &str, bytes: &[u8]) {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else { return };
    let Ok(a) = document.create_element("a") else { return };
    let _ = a.set_attribute("href", &data_url(mime, bytes));
    let _ = a.set_attribute("download", name);
    if let Ok(a) = a.dyn_into::<web_sys::HtmlElement>() {
        a.click();
    }
}

/// The file chosen in a file input (its name and bytes), refused above `share::MAX_FILE`; the
/// input is cleared so the same file can be chosen again. `Err` says why it could not be read.
pub(super) async fn chosen_file(input: &wasm_bindgen::JsValue) -> Result<Option<(String, Vec<u8>)>, String> {
    file_in(input, share::check_file_size).await
}

/// The first file of `holder.files` (a file input, or a drop's `DataTransfer`), refused by `check`
/// on its size before it is read; a file input is cleared so the same file can be chosen again.
pub(super) async fn file_in(holder: &wasm_bindgen::JsValue, check: impl Fn(f64) -> Result<(), String>) -> Result<Option<(String, Vec<u8>)>, String> {
    let input = holder;
    let file = js_sys::Reflect::get(input, &"files".into()).and_then(|files| js_sys::Reflect::get(&files, &0.into()));
    let Ok(file) = file else { return Ok(None) };
    if file.is_undefined() {
        return Ok(None);
    }
    let name = js_sys::Reflect::get(&file, &"name".into()).ok().and_then(|n| n.as_string()).unwrap_or_default();
    let size = js_sys::Reflect::get(&file, &"size".into()).ok().and_then(|n| n.as_f64()).unwrap_or(0.0);
    let clear = || {
        let _ = js_sys::Reflect::set(input, &"value".into(), &"".into());
    };
    if let Err(e) = check(size) {
        clear();
        return Err(format!("Could not open {name}: {e}. Nothing was changed."));
    }
    let bytes = async {
        let read: js_sys::Function = js_sys::Reflect::get(&file, &"arrayBuffer".into()).ok()?.dyn_into().ok()?;
        let promise: js_sys::Promise = read.call0(&file).ok()?.dyn_into().ok()?;
        let buffer = wasm_bindgen_futures::JsFuture::from(promise).await.ok()?;
        Some(js_sys::Uint8Array::new(&buffer).to_vec())
    }
    .await;
    clear();
    bytes.map(|b| Some((name.clone(), b))).ok_or_else(|| format!("Could not read {name}; nothing was changed."))
}

/// The trainer's parameters (as last read back) as a safetensors file, with the experiment's
/// link in its header. Names, shapes and values all come from the trainer itself, so they always
/// belong together, whatever the settings panel shows at that moment.
pub(super) fn weights_file(ui: Ui) -> Result<Vec<u8>, String> {
    let link = share::encode(&current_state(ui, false));
    with_lab(|l| {
        let t = l.trainer.as_ref().ok_or("the network is not built yet")?;
        let (names, shapes) = t.param_layout();
        share::weights::to_safetensors(&share::weights::Params { names: &names, shapes: &shapes }, &t.saved().params, &[("gradlab", &link)])
            .map_err(|e| e.to_string())
    })
}

/// Reads a chosen file: an experiment (.json) replaces the experiment; weights (.safetensors)
/// replace the current model's parameters. Anything wrong leaves everything as it was.
pub(super) fn open_file(ui: Ui, ev: leptos::ev::Event) {
    let Some(input) = ev.target() else { return };
    spawn_local(async move {
        let (name, bytes) = match chosen_file(&input).await {
            Ok(Some(file)) => file,
            Ok(None) => return,
            Err(why) => {
                ui.error.set(Some(why));
                return;
            }
        };
        if name.ends_with(".json") {
            match share::from_json(&String::from_utf8_lossy(&bytes)) {
                Ok(parsed) => {
                    let banner = problems_banner(&name, &parsed.problems);
                    let steps = apply_state(ui, parsed.state);
                    rebuild_then(ui, steps);
                    if banner.is_some() {
                        ui.error.set(banner);
                    }
                }
                Err(e) => {
                    ui.notice.set(None);
                    ui.error.set(Some(format!("Could not open {name}: {e}. Nothing was changed.")));
                }
            }
            return;
        }
        let config = ui.config.get_untracked();
        let (names, shapes) = (share::param_names(&config), share::param_shapes(&config));
        match share::weights::from_safetensors(&bytes, &share::weights::Params { names: &names, shapes: &shapes }) {
            Ok(values) => {
                pause(ui);
                match with_lab(|l| l.trainer.as_mut().map(|t| t.load_params(&values))) {
                    Some(Ok(())) => {
                        ui.error.set(None);
                        ui.notice.set(Some(format!("Loaded the weights of {name}.")));
                        refresh(ui).await;
                        sync_url(ui);
                    }
                    Some(Err(e)) => ui.error.set(Some(format!("Could not load {name}: {e}. The current model is unchanged."))),
                    None => ui.error.set(Some(format!("Could not load {name}: the network is not built yet."))),
                }
            }
            Err(e) => {
                ui.notice.set(None);
                ui.error.set(Some(format!("Could not load {name}: {e}. The current model is unchanged.")));
            }
        }
    });
}

/// The page address without its fragment.
pub(super) fn page_url() -> String {
    let href = web_sys::window().and_then(|w| w.location().href().ok()).unwrap_or_default();
    href.split('#').next().unwrap_or_default().to_string()
}

pub(super) fn copy_link(ui: Ui) {
    sync_url(ui);
    let link = format!("{}#{}", page_url(), current_link(ui));
    // navigator.clipboard.writeText(link), looked up at run time (absent outside secure pages).
    if let Some(w) = web_sys::window() {
        let clipboard = js_sys::Reflect::get(&w.navigator(), &"clipboard".into()).ok();
        let write = clipboard.as_ref().and_then(|c| js_sys::Reflect::get(c, &"writeText".into()).ok());
        if let (Some(c), Some(f)) = (clipboard, write.and_then(|f| f.dyn_into::<js_sys::Function>().ok())) {
            let _ = f.call1(&c, &link.clone().into());
        }
    }
    ui.notice.set(Some("Link copied: it opens this experiment and replays its steps.".into()));
}
