//! The GAN page's weights files: the shipped ones downloaded once with progress and kept in
//! memory, and both networks saved as a safetensors state dict or loaded back from one.

use super::*;

/// The largest weights file the page downloads (gan-small's f16 weights are 0.84 MB; the essay's
/// would be ≈ 15 MB).
const MAX_WEIGHTS: usize = 64_000_000;

/// A weights file served beside the app, downloaded once (with progress) and kept in memory.
pub(super) async fn fetch_file(url: &str, progress: impl Fn(usize, Option<f64>)) -> Result<Rc<Vec<u8>>, String> {
    if let Some(bytes) = FILES.with(|f| f.borrow().iter().find(|(u, _)| u == url).map(|(_, b)| b.clone())) {
        return Ok(bytes);
    }
    let bytes = Rc::new(fetch_bytes(url, MAX_WEIGHTS, "", progress).await?);
    FILES.with(|f| f.borrow_mut().push((url.to_string(), bytes.clone())));
    Ok(bytes)
}

/// Downloads both networks' weights (safetensors, f32, PyTorch's names; the link in the header).
pub(super) async fn export_weights(g: GanUi) {
    // The link in the file's header is these weights' own (the address bar may lag a frame).
    let Some((gan, preset, state)) = with_trainer(|t| {
        let view = crate::share::View { page: crate::share::Page::Gan, ..Default::default() };
        (t.gan.clone(), t.config.preset.key(), crate::share::ShareState { view, gan: t.config.clone(), gan_steps: t.log.clone(), ..Default::default() })
    }) else {
        return g.note.set(Some("nothing to save yet".into()));
    };
    let link = crate::share::encode(&state);
    let result = async {
        let dict = crate::share::weights::gan_state_dict(&gan).await.map_err(|e| e.to_string())?;
        crate::share::weights::state_dict_to_safetensors(&dict, &[("gradlab", &link), ("preset", preset)]).map_err(|e| e.to_string())
    }
    .await;
    match result {
        Ok(bytes) => {
            super::super::download(&format!("{preset}.safetensors"), "application/octet-stream", &bytes);
            g.note.set(Some(format!("saved {preset}.safetensors ({:.1} MB): load it here to go on from these weights", bytes.len() as f64 / 1e6)));
        }
        Err(why) => g.note.set(Some(format!("could not save the weights: {why}"))),
    }
}

/// Loads a weights file into both networks (fresh optimizer state); a file for another preset is
/// refused by name and changes nothing.
pub(super) async fn import_weights(g: GanUi, input: wasm_bindgen::JsValue) {
    let (name, bytes) = match super::super::chosen_file(&input).await {
        Ok(Some(file)) => file,
        Ok(None) => return,
        Err(why) => return g.note.set(Some(why)),
    };
    if paused(g).await.is_none() {
        return g.note.set(Some("wait until the networks are built".into()));
    }
    match with_trainer(|t| crate::share::weights::load_gan_weights(t, &bytes)) {
        Some(Ok(())) => {
            g.note.set(Some(format!("loaded {name}: training goes on from these weights (a link replays from its start, not from a file: keep the file)")));
            draw_samples(g).await;
        }
        Some(Err(e)) => g.note.set(Some(format!("{name}: {e}; nothing changed"))),
        None => g.note.set(Some("wait until the networks are built".into())),
    }
}

