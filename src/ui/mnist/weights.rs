//! The MNIST page's weights files: save the model as a PyTorch state dict, load one (a file, or
//! the weights gradlab ships for `mlp-keras`) and evaluate it. A file for another network is
//! refused by name and changes nothing.

use leptos::prelude::*;

use super::{MnistUi, Run, evaluate, ready_for, with_trainer};
use crate::data::images::ImageData;
use crate::models::image::ImageModel;
use crate::share::weights::{Stored, image_state_dict, load_image_safetensors, state_dict_to_safetensors_as};

/// Downloads `model`'s state dict as `name`, its matrices stored as `stored`, the page's link and
/// the preset in the header; the file's size in bytes.
pub(super) async fn save_model(model: &ImageModel, preset: &str, stored: Stored, name: &str) -> Result<usize, String> {
    let dict = image_state_dict(model).await.map_err(|e| e.to_string())?;
    let link = super::super::location_hash();
    let bytes = state_dict_to_safetensors_as(&dict, &[("gradlab", link.trim_start_matches('#')), ("preset", preset)], stored).map_err(|e| e.to_string())?;
    super::super::download(name, "application/octet-stream", &bytes);
    Ok(bytes.len())
}

/// Downloads the current weights as a PyTorch state dict (safetensors; the experiment's link in
/// its header), e.g. `mnist-mlp-keras.safetensors`.
pub(super) async fn export_weights(m: MnistUi) {
    let Some((model, preset)) = with_trainer(|t| (t.model.clone(), t.config.preset.key())) else {
        m.file_note.set(Some(Err("train (or load) a model first: there are no weights yet".into())));
        return;
    };
    let name = format!("mnist-{preset}.safetensors");
    match save_model(&model, preset, Stored::F32, &name).await {
        Ok(bytes) => {
            m.file_note.set(Some(Ok(format!("saved {name} ({:.0} kB): load it in PyTorch with load_state_dict", bytes as f64 / 1e3))));
        }
        Err(why) => m.file_note.set(Some(Err(format!("could not save the weights: {why}")))),
    }
}

/// Loads a weights file (a state dict of this preset's network) into the model, then evaluates
/// it on the test set. A file for another network is refused by name and changes nothing.
pub(super) async fn import_weights(m: MnistUi, input: wasm_bindgen::JsValue, data: std::rc::Rc<ImageData>) {
    let (name, bytes) = match super::super::chosen_file(&input).await {
        Ok(Some(file)) => file,
        Ok(None) => return,
        Err(why) => return m.file_note.set(Some(Err(why))),
    };
    load_weights(m, name, bytes, data).await;
}

/// The weights gradlab ships for `mlp-keras`: trained natively with
/// `gradlab train --preset mlp-keras --save www/weights/mlp-keras.safetensors` (10 epochs, full
/// data, 97.75% on the test set), served beside the app.
pub(super) async fn load_shipped(m: MnistUi, data: std::rc::Rc<ImageData>) {
    let url = "weights/mlp-keras.safetensors";
    let bytes = super::super::digits::fetch_bytes(url, crate::share::MAX_FILE, "", |_, _| {}).await;
    match bytes {
        Ok(bytes) => load_weights(m, "the shipped mlp-keras weights".into(), bytes, data).await,
        Err(why) => m.file_note.set(Some(Err(why))),
    }
}

/// Puts a weights file into the model (building the trainer first if need be) and evaluates it.
async fn load_weights(m: MnistUi, name: String, bytes: Vec<u8>, data: std::rc::Rc<ImageData>) {
    if matches!(m.run.get_untracked(), Run::Training | Run::Evaluating | Run::Preparing) {
        m.generation.update(|g| *g += 1);
    }
    // Weights from a file are no run from the seed: the link stops pointing to one, and training on
    // from them (until a reset) will not point to one either.
    m.trained.set(None);
    m.from_file.set(true);
    if !ready_for(m, &data, m.generation.get_untracked()).await {
        return;
    }
    match with_trainer(|t| load_image_safetensors(&mut t.model, &bytes)).expect("built above") {
        Ok(()) => {
            m.run.set(Run::Evaluating);
            let generation = m.generation.get_untracked();
            match evaluate(m, generation, true, &data).await {
                Ok(_) => {
                    m.file_note.set(Some(Ok(format!("loaded {name}"))));
                    m.weights_version.update(|v| *v += 1);
                }
                Err(why) => m.file_note.set(Some(Err(format!("loaded {name}, but evaluating it failed: {why}")))),
            }
            m.run.set(Run::Paused);
        }
        Err(e) => {
            m.file_note.set(Some(Err(format!("could not load {name}: {e}; the model is unchanged"))));
            if m.run.get_untracked() == Run::Preparing {
                m.run.set(Run::Paused);
            }
        }
    }
}
