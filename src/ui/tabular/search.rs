//! The table page's hyper-parameter search: which settings vary (a range `lo..hi` or a list
//! `a|b|c` each), grid or random, how many trials of how many epochs; the trials run one after
//! another in frame slices on a validation split carved from the training data (never the test
//! split), can pause and resume, fill a sortable table and a scatter plot of a setting against
//! validation accuracy, and the best can be applied to the model. The search is in the link
//! (`tab.search`); its results are computed again when it runs.

use std::cell::RefCell;

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::super::now_ms;
use super::super::play::next_frame;
use super::{TabUi, prepared, set_config};
use crate::train::search::{Mode, Param, Search, SearchSpec, Trial, Values, best_of};

thread_local! {
    static SEARCH: RefCell<Option<Search>> = const { RefCell::new(None) };
}

/// What the search is doing.
#[derive(Clone, Copy, Debug, PartialEq)]
enum State {
    Idle,
    Running,
    Paused,
    Done,
}

fn values_text(v: &Values) -> String {
    match v {
        Values::List(l) => l.iter().map(|x| format!("{x}")).collect::<Vec<_>>().join("|"),
        Values::Range(a, b) => format!("{a}..{b}"),
    }
}

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

fn label(p: Param) -> &'static str {
    match p {
        Param::Lr => "learning rate",
        Param::Width => "width (units a layer)",
        Param::Depth => "depth (hidden layers)",
        Param::Dropout => "dropout",
        Param::Batch => "batch",
        Param::L2 => "L2 rate",
    }
}

/// A scatter plot of one setting against validation accuracy.
fn scatter(trials: &[Trial], k: usize, param: Param, best: Option<usize>) -> impl IntoView + use<> {
    let (w, h, left, bottom) = (300.0, 150.0, 44.0, 20.0);
    let log = matches!(param, Param::Lr | Param::L2) && trials.iter().all(|t| t.values[k] > 0.0);
    let sx = |v: f64| if log { v.log10() } else { v };
    let xs: Vec<f64> = trials.iter().map(|t| sx(t.values[k])).collect();
    let ys: Vec<f64> = trials.iter().map(|t| 100.0 * t.accuracy).collect();
    let (x0, x1) = (xs.iter().copied().fold(f64::MAX, f64::min), xs.iter().copied().fold(f64::MIN, f64::max));
    let (y0, y1) = (ys.iter().copied().fold(f64::MAX, f64::min), ys.iter().copied().fold(f64::MIN, f64::max));
    let (x1, y1) = (if x1 - x0 < 1e-12 { x0 + 1.0 } else { x1 }, if y1 - y0 < 1e-9 { y0 + 1.0 } else { y1 });
    let px = move |x: f64| left + 6.0 + (x - x0) / (x1 - x0) * (w - left - 14.0);
    let py = move |y: f64| 6.0 + (1.0 - (y - y0) / (y1 - y0)) * (h - bottom - 12.0);
    let tick = move |v: f64| if log { format!("{:.0e}", 10f64.powf(v)) } else { format!("{}", (v * 1000.0).round() / 1000.0) };
    view! {
        <svg class="scatter" data-testid="tab-search-plot" viewBox=format!("0 0 {w} {h}") width=w height=h>
            <line x1=left y1=4 x2=left y2=h - bottom class="axis"/>
            <line x1=left y1=h - bottom x2=w - 4.0 y2=h - bottom class="axis"/>
            <text x=left - 3.0 y=py(y1) + 3.0 text-anchor="end" class="tick">{format!("{y1:.1}%")}</text>
            <text x=left - 3.0 y=py(y0) + 3.0 text-anchor="end" class="tick">{format!("{y0:.1}%")}</text>
            <text x=px(x0) y=h - 6.0 class="tick">{tick(x0)}</text>
            <text x=px(x1) y=h - 6.0 text-anchor="end" class="tick">{tick(x1)}</text>
            <text x=(left + w) / 2.0 y=h - 6.0 text-anchor="middle" class="tick">{format!("{}{}", label(param), if log { " (log)" } else { "" })}</text>
            {trials.iter().zip(xs.iter().zip(&ys)).map(|(t, (&x, &y))| view! {
                <circle cx=px(x) cy=py(y) r=if Some(t.number) == best { 5.0 } else { 3.5 } class="dot" class:best=Some(t.number) == best>
                    <title>{format!("trial {}: {:.2}%", t.number, y)}</title></circle>
            }).collect_view()}
        </svg>
    }
}

/// The panel. `spec` is the link's (`tab.search`).
#[component]
pub(super) fn SearchPanel(t: TabUi, spec: RwSignal<SearchSpec>, on_change: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let state = RwSignal::new(State::Idle);
    let trials = RwSignal::new(Vec::<Trial>::new());
    let running_spec = RwSignal::new(None::<SearchSpec>);
    // Trials of the search that runs (its spec's count for a random search; a grid may have fewer).
    let total = RwSignal::new(0usize);
    let progress = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let generation = RwSignal::new(0u64);
    let sort = RwSignal::new((usize::MAX, true)); // (column: value index, or MAX for accuracy; descending)
    let plot_param = RwSignal::new(0usize);
    // The data a search ran on (preparation, seed, file): when it changes, the trials no longer
    // belong to the page and go.
    let ran_on = StoredValue::new(None::<(crate::data::tabular::PrepConfig, u64, Option<String>)>);
    Effect::new(move |_| {
        let now = t.config.with(|c| (c.prep.clone(), c.seed, t.file_name.get()));
        if ran_on.get_value().is_some_and(|r| r != now) {
            generation.update(|g| *g += 1);
            SEARCH.with(|x| *x.borrow_mut() = None);
            trials.set(Vec::new());
            running_spec.set(None);
            progress.set(String::new());
            state.set(State::Idle);
            ran_on.set_value(None);
        }
    });
    // Edits: the text of each setting's values, and whether it is searched.
    let texts: Vec<(Param, RwSignal<bool>, RwSignal<String>)> = Param::ALL
        .iter()
        .map(|&p| {
            let current = spec.get_untracked().params.iter().find(|(q, _)| *q == p).map(|(_, v)| values_text(v));
            (p, RwSignal::new(current.is_some()), RwSignal::new(current.unwrap_or_else(|| suggestion(p).into())))
        })
        .collect();
    let texts = StoredValue::new(texts);
    // A link's spec (or a reset) shows in the controls.
    Effect::new(move |_| {
        let s = spec.get();
        texts.with_value(|texts| {
            for (p, on, text) in texts {
                let found = s.params.iter().find(|(q, _)| q == p);
                on.set(found.is_some());
                if let Some((_, v)) = found {
                    text.set(values_text(v));
                }
            }
        });
    });
    let rebuild = move |mode: Option<Mode>, trials_n: Option<usize>, epochs: Option<usize>| {
        let s = spec.get_untracked();
        let mut text = format!(
            "{},{},{}",
            if mode.unwrap_or(s.mode) == Mode::Grid { "grid" } else { "random" },
            trials_n.unwrap_or(s.trials),
            epochs.unwrap_or(s.epochs)
        );
        texts.with_value(|texts| {
            for (p, on, v) in texts {
                if on.get_untracked() {
                    text.push_str(&format!(",{}={}", p.key(), v.get_untracked()));
                }
            }
        });
        match SearchSpec::decode(&text) {
            Ok(next) => {
                error.set(None);
                if next != s {
                    spec.set(next);
                    on_change();
                }
            }
            Err(why) => error.set(Some(why)),
        }
    };
    let run = move || {
        if state.get_untracked() != State::Paused {
            let Some(Ok(data)) = prepared(t) else {
                error.set(Some("the table cannot be prepared with these settings (see Preparation)".into()));
                return;
            };
            let s = Search::new(spec.get_untracked(), &t.config.get_untracked(), &data);
            let (tr, val) = s.split_sizes();
            progress.set(format!("{} trials on {tr} training rows, scored on {val} validation rows carved from the training split", s.len()));
            running_spec.set(Some(s.spec.clone()));
            total.set(s.len());
            ran_on.set_value(Some(t.config.with_untracked(|c| (c.prep.clone(), c.seed, t.file_name.get_untracked()))));
            trials.set(Vec::new());
            SEARCH.with(|x| *x.borrow_mut() = Some(s));
        }
        generation.update(|g| *g += 1);
        let g = generation.get_untracked();
        state.set(State::Running);
        spawn_local(async move {
            loop {
                if generation.get_untracked() != g || state.get_untracked() != State::Running {
                    return;
                }
                let start = now_ms();
                let (more, done_trials, total) = SEARCH.with(|x| {
                    let mut x = x.borrow_mut();
                    let Some(s) = x.as_mut() else { return (false, 0, 0) };
                    let mut more = true;
                    while more && now_ms() - start < 12.0 {
                        more = s.advance();
                    }
                    if s.trials.len() != trials.with_untracked(Vec::len) {
                        trials.set(s.trials.clone());
                    }
                    (more, s.trials.len(), s.len())
                });
                if !more {
                    state.set(State::Done);
                    return;
                }
                state.set(State::Running);
                let _ = (done_trials, total);
                next_frame().await;
            }
        });
    };
    let best = move || {
        trials.with(|tr| best_of(tr).map(|t| t.number))
    };
    let apply_best = move || {
        let c = SEARCH.with(|x| x.borrow().as_ref().and_then(|s| s.apply_best(&t.config.get_untracked())));
        if let Some(c) = c {
            set_config(t, c);
            on_change();
        }
    };
    let shown_params = move || running_spec.get().map(|s| s.params.iter().map(|(p, _)| *p).collect::<Vec<_>>()).unwrap_or_default();
    let sorted = move || {
        let mut tr = trials.get();
        let (col, desc) = sort.get();
        tr.sort_by(|a, b| {
            let (x, y) = if col == usize::MAX { (a.accuracy, b.accuracy) } else if col == usize::MAX - 1 { (a.number as f64, b.number as f64) } else { (a.values[col], b.values[col]) };
            let o = x.total_cmp(&y);
            if desc { o.reverse() } else { o }
        });
        tr
    };
    let header = move |col: usize, text: String| {
        view! {
            <th class="sortable" on:click=move |_| sort.update(|s| *s = if s.0 == col { (col, !s.1) } else { (col, true) })>
                {text}{move || if sort.get().0 == col { if sort.get().1 { " ▾" } else { " ▴" } } else { "" }}</th>
        }
    };
    view! {
        <section class="panel tab-search">
            <h2>"Hyper-parameter search " <span class="sub">"short trainings on a validation split carved from the training data — never the test split"</span></h2>
            <div class="controls-row">
                <label>"mode"<select data-testid="tab-search-mode" on:change=move |ev| rebuild(Some(if event_target_value(&ev) == "grid" { Mode::Grid } else { Mode::Random }), None, None)>
                    <option value="random" selected=move || spec.get().mode == Mode::Random>"random (seeded)"</option>
                    <option value="grid" selected=move || spec.get().mode == Mode::Grid>"grid"</option></select></label>
                <label>"trials"<input type="text" size="4" data-testid="tab-search-trials" prop:value=move || spec.get().trials.to_string()
                    on:change=move |ev| { match event_target_value(&ev).parse::<usize>() { Ok(n) => rebuild(None, Some(n), None), Err(_) => error.set(Some("trials: a whole number".into())) } }/></label>
                <label>"epochs a trial"<input type="text" size="3" data-testid="tab-search-epochs" prop:value=move || spec.get().epochs.to_string()
                    on:change=move |ev| { match event_target_value(&ev).parse::<usize>() { Ok(n) => rebuild(None, None, Some(n)), Err(_) => error.set(Some("epochs: a whole number".into())) } }/></label>
            </div>
            <div class="search-params">
                {texts.get_value().into_iter().map(|(p, on, text)| view! {
                    <label class="check search-param">
                        <input type="checkbox" data-testid=format!("tab-search-on-{}", p.key()) prop:checked=move || on.get()
                            on:change=move |ev| { on.set(event_target_checked(&ev)); rebuild(None, None, None) }/>
                        <span class="param-name">{label(p)}</span>
                        <input type="text" size="16" data-testid=format!("tab-search-{}", p.key()) prop:value=move || text.get() title="a range lo..hi, or values a|b|c"
                            on:change=move |ev| { text.set(event_target_value(&ev)); rebuild(None, None, None) }/>
                    </label>
                }).collect_view()}
            </div>
            {move || error.get().map(|e| view! { <p class="error" data-testid="tab-search-error">{e}</p> })}
            <div class="buttons">
                <button data-testid="tab-search-run" class="primary" disabled=move || state.get() == State::Running || error.get().is_some() || !matches!(t.summary.get(), Some(Ok(_))) on:click=move |_| run()>
                    {move || if state.get() == State::Paused { "▶ resume search" } else { "▶ run the search" }}</button>
                <button data-testid="tab-search-pause" disabled=move || state.get() != State::Running on:click=move |_| state.set(State::Paused)>"❚❚ pause"</button>
                <button data-testid="tab-search-apply" disabled=move || best().is_none() || state.get() == State::Running on:click=move |_| apply_best()>"apply the best to the model"</button>
                <span data-testid="tab-search-status">{move || {
                    let n = trials.get().len();
                    let total = total.get();
                    match state.get() {
                        State::Idle => String::new(),
                        State::Running => format!("trial {} of {total} running…", n + 1),
                        State::Paused => format!("paused after {n} of {total} trials"),
                        State::Done => format!("done: {n} trials"),
                    }
                }}</span>
            </div>
            {move || (!progress.get().is_empty()).then(|| view! { <p class="hint">{progress.get()}</p> })}
            {move || (!trials.get().is_empty()).then(|| {
                let params = shown_params();
                let best = best();
                view! {
                    <div class="results-row">
                        <div class="table-scroll search-table">
                            <table class="scores trials" data-testid="tab-search-table">
                                <tr>{header(usize::MAX - 1, "trial".into())}
                                    {params.iter().enumerate().map(|(k, p)| header(k, label(*p).into())).collect_view()}
                                    {header(usize::MAX, "validation accuracy".into())}<th>"AUC"</th></tr>
                                {sorted().into_iter().map(|tr| view! {
                                    <tr class:best=Some(tr.number) == best data-trial=tr.number data-accuracy=tr.accuracy.to_string()>
                                        <td>{tr.number}</td>
                                        {tr.values.iter().map(|v| view! { <td class="num">{format!("{v}")}</td> }).collect_view()}
                                        <td class="num">{format!("{:.2}%", 100.0 * tr.accuracy)}</td><td class="num">{format!("{:.4}", tr.auc)}</td>
                                    </tr>
                                }).collect_view()}
                            </table>
                        </div>
                        <div>
                            <label>"plot against "<select data-testid="tab-search-x" on:change=move |ev| plot_param.set(event_target_value(&ev).parse().unwrap_or(0))>
                                {params.iter().enumerate().map(|(k, p)| view! { <option value=k.to_string() selected=move || plot_param.get() == k>{label(*p)}</option> }).collect_view()}
                            </select></label>
                            {move || {
                                let k = plot_param.get().min(params.len().saturating_sub(1));
                                params.get(k).map(|p| scatter(&trials.get(), k, *p, best))
                            }}
                        </div>
                    </div>
                }
            })}
        </section>
    }
}
