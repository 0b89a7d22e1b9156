//! The MNIST page's side of the hyper-parameter search ([`crate::ui::search`]): the learning
//! rate, the hidden layer's width, the dropout, the batch size and the L2 rate (the models keep
//! their depth), trials on the CPU over at most
//! [`IMAGE_SEARCH_IMAGES`](crate::train::search::IMAGE_SEARCH_IMAGES) of the page's training images, the last fifth of them validating —
//! never a test image — scored by validation accuracy. The best applies to the settings and resets
//! the model, as editing them by hand does.

use leptos::prelude::*;

use super::{MnistUi, Run, reset};
use crate::data::images::ImageDataset;
use crate::train::images::ImageConfig;
use crate::train::search::{Experiment, ImageSearch, Param, SearchSpec};
use crate::ui::digits::loaded;
use crate::ui::search::{SearchHost, SearchPanel, begin};

const ID: &str = "mnist-search";

/// A placeholder for a setting not searched yet.
fn suggestion(p: Param) -> &'static str {
    match p {
        Param::Batch => "32|64|128",
        Param::Width => "16|64|128|256",
        Param::Dropout => "0..0.5",
        Param::L2 => "0|0.0001|0.001",
        _ => "0.0001..0.03",
    }
}

/// The panel, under the training panel; `ready` says whether the page's dataset (`kind`) is loaded,
/// `active` whether the page is shown.
#[component]
pub(in crate::ui) fn MnistSearch(m: MnistUi, kind: Signal<ImageDataset>, ready: Signal<bool>, active: Signal<bool>) -> impl IntoView {
    let ui = expect_context::<crate::ui::Ui>();
    let host = SearchHost {
        id: ID,
        spec: ui.mnist_search,
        unit: "images",
        decode: SearchSpec::decode_for::<ImageConfig>,
        params: <ImageConfig as Experiment>::SEARCHED,
        suggestion,
        ready,
        // Trials share the CPU with training: a search pauses while the model trains.
        active: Signal::derive(move || active.get() && !matches!(m.run.get(), Run::Training | Run::Preparing | Run::Evaluating)),
        // What trials are about beside the settings searched: the data, the model and its update
        // rule, the images, the seed.
        ran_on: Signal::derive(move || {
            m.config.with(|c| format!("{:?} {:?} {:?} {} {:?} {} {} {} {}", c.dataset, c.preset, c.optimizer, c.momentum, c.schedule, c.warmup, c.augment, c.train_limit, c.seed))
        }),
        start: Callback::new(move |spec: SearchSpec| {
            let data = loaded(kind.get_untracked()).ok_or("the dataset is not loaded yet")?;
            begin(ID, Box::new(ImageSearch::new(spec, &m.config.get_untracked(), &data)?));
            Ok(())
        }),
        apply: Callback::new(move |(spec, values): (SearchSpec, Vec<f64>)| {
            reset(m);
            m.config.update(|c| spec.apply(c, &values));
        }),
        on_change: Callback::new(move |_: ()| crate::ui::sync_url(ui)),
    };
    view! { <SearchPanel host/> }
}
