//! The table page's side of the hyper-parameter search ([`super::super::search`]): trials on the
//! prepared table's training rows, scored by validation accuracy; the best applied to the model's
//! settings (which resets its training).

use leptos::prelude::*;

use super::{TabUi, prepared, set_config};
use crate::train::search::{Param, Search, SearchSpec};
use crate::ui::search::{SearchHost, begin};

const ID: &str = "tab-search";

/// A placeholder for a setting not searched yet.
fn suggestion(p: Param) -> &'static str {
    match p {
        Param::Lr => "0.0001..0.01",
        Param::Width => "16|64|128|256",
        Param::Depth => "0|1|2",
        Param::Dropout => "0..0.5",
        Param::Batch => "16|32|128",
        Param::L2 => "0|0.0001|0.001",
    }
}

/// The panel's host. `spec` is the link's (`tab.search`).
pub(super) fn host(t: TabUi, spec: RwSignal<SearchSpec>, active: Signal<bool>, on_change: impl Fn() + Copy + Send + Sync + 'static) -> SearchHost {
    SearchHost {
        id: ID,
        spec,
        unit: "rows",
        decode: SearchSpec::decode,
        params: &Param::ALL,
        suggestion,
        ready: Signal::derive(move || matches!(t.summary.get(), Some(Ok(_)))),
        active,
        // The data a search ran on: the preparation, the seed and the file.
        ran_on: Signal::derive(move || t.config.with(|c| format!("{:?} {} {:?}", c.prep, c.seed, t.file_name.get()))),
        start: Callback::new(move |spec: SearchSpec| {
            let Some(Ok(data)) = prepared(t) else {
                return Err("the table cannot be prepared with these settings (see Preparation)".to_string());
            };
            begin(ID, Box::new(Search::new(spec, &t.config.get_untracked(), &data)));
            Ok(())
        }),
        apply: Callback::new(move |(spec, values): (SearchSpec, Vec<f64>)| {
            let mut c = t.config.get_untracked();
            spec.apply(&mut c, &values);
            set_config(t, c);
        }),
        on_change: Callback::new(move |_: ()| on_change()),
    }
}
