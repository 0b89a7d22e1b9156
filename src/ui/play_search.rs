//! The playground's hyper-parameter search ([`super::search`]): trials of the page's experiment
//! on its training points less a validation share (never the test points), on the CPU, scored by
//! validation loss — the number the page shows; the best applied as a hand edit would be (a new
//! learning rate carries on training, a new architecture starts afresh).

use leptos::prelude::*;

use super::search::{SearchHost, SearchPanel, begin};
use super::{Ui, edit, sync_url};
use crate::train::search::{Param, PlaygroundSearch, SearchSpec};
use crate::train::Config;

const ID: &str = "play-search";

/// A placeholder for a setting not searched yet.
fn suggestion(p: Param) -> &'static str {
    match p {
        Param::Lr => "0.003..1",
        Param::Width => "2|4|8",
        Param::Depth => "1|2|3",
        Param::Dropout => "0..0.5",
        Param::Batch => "1|10|30",
        Param::L2 => "0|0.001|0.01",
    }
}

/// The panel, under the playground.
#[component]
pub(super) fn PlaySearch() -> impl IntoView {
    let ui = expect_context::<Ui>();
    let host = SearchHost {
        id: ID,
        spec: ui.search,
        unit: "points",
        decode: SearchSpec::decode_for::<Config>,
        params: &Param::ALL,
        suggestion,
        ready: Signal::derive(|| true),
        active: Signal::derive(move || ui.page.get() == super::Page::Play && !ui.playing.get()),
        // What trials are about beside the settings searched: the data, the features, the loss, the
        // optimizer and the seed.
        ran_on: Signal::derive(move || {
            ui.config.with(|c| format!("{:?} {} {} {} {:?} {:?} {:?} {}", c.dataset, c.points, c.noise, c.train_ratio, c.features, c.binary_loss, c.optimizer, c.seed))
        }),
        start: Callback::new(move |spec: SearchSpec| {
            let search = PlaygroundSearch::new(spec, &ui.config.get_untracked()).map_err(|e| format!("these settings cannot be searched: {e}"))?;
            begin(ID, Box::new(search));
            Ok(())
        }),
        apply: Callback::new(move |(spec, values): (SearchSpec, Vec<f64>)| edit(ui, |c| spec.apply(c, &values))),
        on_change: Callback::new(move |_: ()| sync_url(ui)),
    };
    view! { <SearchPanel host/> }
}
