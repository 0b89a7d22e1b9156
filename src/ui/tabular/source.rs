//! Where the table page's table comes from: the Adult census table (downloaded, checked and
//! parsed), a CSV the user chose or dropped, or the one a link carries (packed by the browser's
//! zlib). A table that cannot be read or prepared leaves the page's table and experiment as they
//! were, and the page's note says why.

use std::rc::Rc;
use std::sync::Arc;

use leptos::prelude::*;

use super::super::digits::fetch_bytes;
use super::super::file_in;
use super::super::play::next_frame;
use super::{Run, TabUi, likely_target, show_table, table};
use crate::data::table::{Table, check_size};
use crate::data::tabular::{ADULT_FILE, MAX_ADULT_GZ, adult_csv, prepare};
use crate::share::TableSource;
use crate::train::tabular::TabularConfig;

/// Downloads, checks and parses the Adult table.
pub(super) async fn load_adult(t: TabUi) {
    // A file chosen meanwhile wins: this load then says nothing more.
    let wanted = move || t.source.get_untracked() == TableSource::Adult;
    t.run.set(Run::Loading("downloading the Adult census table…".into()));
    let result = async {
        let gz = fetch_bytes(ADULT_FILE, MAX_ADULT_GZ, " (./x data builds it)", |n, total| {
            let of = total.map_or(String::new(), |t| format!(" of {:.2} MB", t / 1e6));
            if wanted() {
                t.run.set(Run::Loading(format!("downloading the Adult census table: {:.2}{of} MB…", n as f64 / 1e6)));
            }
        })
        .await?;
        if wanted() {
            t.run.set(Run::Loading("checking and reading the table…".into()));
        }
        next_frame().await;
        let csv = adult_csv(&gz)?;
        Table::parse(&csv).map_err(|e| format!("{ADULT_FILE}: {e}"))
    }
    .await;
    match result {
        _ if !wanted() => {}
        Ok(table) => show_table(t, Rc::new(table), None, None),
        Err(why) => t.run.set(Run::Failed(format!("could not load the Adult table: {why}"))),
    }
}

/// Reads a CSV file the user chose or dropped (`holder.files[0]`); a file that cannot be read
/// leaves the table and the experiment as they were.
pub(super) async fn open_file(t: TabUi, holder: wasm_bindgen::JsValue, on_change: impl Fn() + Copy + 'static) {
    let file = file_in(&holder, |size| check_size(size).map_err(|e| e.to_string())).await;
    let (name, bytes) = match file {
        Ok(Some(file)) => file,
        Ok(None) => return,
        Err(why) => {
            t.note.set(Some(why));
            return;
        }
    };
    t.note.set(Some(format!("reading {name} ({:.1} MB)…", bytes.len() as f64 / 1e6)));
    next_frame().await;
    let packed = pack(&bytes).await;
    adopt(t, &name, &bytes, packed, on_change);
}

#[wasm_bindgen::prelude::wasm_bindgen(inline_js = "export async function zlib(bytes) {
    const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream('deflate'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
}")]
extern "C" {
    /// The browser's zlib (RFC 1950) compression of `bytes`: `CompressionStream('deflate')`.
    #[wasm_bindgen::prelude::wasm_bindgen(catch)]
    async fn zlib(bytes: &[u8]) -> Result<wasm_bindgen::JsValue, wasm_bindgen::JsValue>;
}

/// A CSV packed for the link ([`crate::share::table`]), compressed by the browser (the wasm holds
/// no compressor); `Err` says why it cannot ride in a link.
async fn pack(csv: &[u8]) -> Result<String, String> {
    use crate::share::table::{fits, pack_zlib};
    fits(csv.len())?;
    let z = zlib(csv).await.map_err(|e| format!("the browser could not compress it ({e:?})"))?;
    pack_zlib(&js_sys::Uint8Array::new(&z).to_vec())
}

/// Opens the table a link carries (`tab.csv`) with the link's settings; one that cannot be read
/// is said so, and the page asks for the file instead.
pub(super) async fn open_packed(t: TabUi, packed: String, on_change: impl Fn() + Copy + 'static) {
    t.run.set(Run::Loading("reading the table this link carries…".into()));
    next_frame().await;
    match crate::share::table::unpack(&packed) {
        Ok(csv) => adopt(t, "the link's table", &csv, Ok(packed), on_change),
        Err(why) => t.note.set(Some(format!("this link carries a table, but {why}: choose the file or drop it here"))),
    }
    if table().is_none() {
        set_source(t, TableSource::File, None);
        t.run.set(Run::Loading(ASK_FOR_FILE.into()));
        on_change();
    }
}

/// What the page says while it waits for the file a link was made with.
pub(super) const ASK_FOR_FILE: &str = "this link was made with a CSV file of your own: choose it or drop it here, and its settings apply";

/// Sets where the table comes from (the link's `tab.data` and `tab.csv`), recording it first as
/// the table's own, so the effect that opens a link's other table sees no difference.
pub(super) fn set_source(t: TabUi, source: TableSource, packed: Option<String>) {
    t.loaded.set_value(Some((source, packed.clone())));
    t.source.set(source);
    t.packed.set(packed);
}

/// Makes a CSV's bytes the page's table, keeping the settings that fit it; `packed` is the table
/// in the link's form, or why it cannot ride in a link. A table that cannot be read or prepared
/// leaves the table and the experiment as they were, and the note says why.
fn adopt(t: TabUi, name: &str, bytes: &[u8], packed: Result<String, String>, on_change: impl Fn()) {
    let table = match Table::parse(bytes) {
        Err(e) => {
            t.note.set(Some(format!("{name}: {e}. The table and the experiment are unchanged.")));
            return;
        }
        Ok(table) => table,
    };
    // Settings that fit the new table are kept (a link made with this file); otherwise the
    // columns start afresh: the last two-valued column is the target. A table that cannot be
    // prepared even so (one class, too few rows) is refused like an unreadable one.
    let mut c = t.config.get_untracked();
    let mut prepared = prepare(&table, &c.prep, c.seed);
    let mut left_out = Vec::new();
    if prepared.is_err() {
        let target = likely_target(&table);
        // Columns that cannot be features (an id: too many categories) are left out, and said so.
        left_out = table.columns.iter().filter(|col| col.name != target && col.usable_as_feature().is_err()).map(|col| col.name.clone()).collect();
        let features = (!left_out.is_empty())
            .then(|| table.columns.iter().filter(|col| col.name != target && !left_out.contains(&col.name)).map(|col| col.name.clone()).collect());
        c.prep = crate::data::tabular::PrepConfig { target, features, ..TabularConfig::default().prep };
        prepared = prepare(&table, &c.prep, c.seed);
    }
    match prepared {
        Err(e) => t.note.set(Some(format!("{name}: {e}. The table and the experiment are unchanged."))),
        Ok(d) => {
            let why = |n: &String| table.column(n).and_then(|col| col.usable_as_feature().err()).unwrap_or_default();
            let left_out = left_out.iter().map(|n| format!("; left out of the features: {}", why(n))).collect::<String>();
            // The whole link must stay readable (wide tables have long settings too).
            let packed = packed.and_then(|p| {
                let state = crate::share::ShareState { tab: c.clone(), tab_data: TableSource::Link, tab_csv: Some(p), ..super::super::current_state(t.ui, false) };
                match crate::share::encode(&state).len() {
                    n if n <= crate::share::MAX_READ => Ok(state.tab_csv.unwrap_or_default()),
                    n => Err(format!("with it the link would be {n} characters; links are read up to {}", crate::share::MAX_READ)),
                }
            });
            let link = match &packed {
                Ok(p) => format!("; the link carries this table ({:.1} kB)", p.len() as f64 / 1e3),
                Err(why) => format!("; not in the link ({why}): a link to it asks for the file"),
            };
            t.note.set(Some(format!("read {name}: {} rows, {} columns{left_out}{link}", table.rows(), table.columns.len())));
            let source = if packed.is_ok() { TableSource::Link } else { TableSource::File };
            t.linkable.set(packed.clone().ok());
            set_source(t, source, packed.ok());
            t.config.set(c);
            show_table(t, Rc::new(table), Some(name.to_string()), Some(Arc::new(d)));
            on_change();
        }
    }
}
