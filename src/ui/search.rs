//! A hyper-parameter search panel, for the table page and the playground: which settings vary (a
//! range `lo..hi` or a list `a|b|c` each), grid or random, how many trials of how many epochs; the
//! trials run one after another in frame slices on a validation split carved from the training
//! data (never the test split), can pause and resume, fill a sortable table and a scatter plot of a
//! setting against the trials' score, and the best can be applied to the page's settings. The
//! search is in the link (`tab.search`, `search`); its results are computed again when it runs.
//!
//! The page says what differs ([`SearchHost`]): how to read a spec for its experiment, when it can
//! start, what the trials ran on, and how to start a search ([`begin`]) and apply the best.

use std::cell::RefCell;

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::now_ms;
use super::play::next_frame;
use crate::train::search::{Mode, Param, Rank, SearchSpec, Trial, Trials, Values, best_of};

thread_local! {
    /// The search each panel runs, by its id.
    static SEARCHES: RefCell<Vec<(&'static str, Box<dyn Trials>)>> = const { RefCell::new(Vec::new()) };
}

/// Hands a page's new search to its panel `id` (from [`SearchHost::start`]).
pub fn begin(id: &'static str, search: Box<dyn Trials>) {
    SEARCHES.with(|s| {
        let mut s = s.borrow_mut();
        s.retain(|(k, _)| *k != id);
        s.push((id, search));
    });
}

/// Drops panel `id`'s search.
fn end(id: &'static str) {
    SEARCHES.with(|s| s.borrow_mut().retain(|(k, _)| *k != id));
}

fn with_search<R>(id: &'static str, f: impl FnOnce(&mut dyn Trials) -> R) -> Option<R> {
    SEARCHES.with(|s| s.borrow_mut().iter_mut().find(|(k, _)| *k == id).map(|(_, x)| f(x.as_mut())))
}

/// What a page gives its search panel.
#[derive(Clone)]
pub struct SearchHost {
    /// The panel's test-id prefix and name: `tab-search`, `play-search`.
    pub id: &'static str,
    /// The link's search.
    pub spec: RwSignal<SearchSpec>,
    /// What the data's examples are called: `rows`, `points`.
    pub unit: &'static str,
    /// Reads a spec for the page's experiment (its limits).
    pub decode: fn(&str) -> Result<SearchSpec, String>,
    /// The settings the experiment has (`Experiment::SEARCHED`), in the order the panel lists them.
    pub params: &'static [Param],
    /// A placeholder for a setting not searched yet.
    pub suggestion: fn(Param) -> &'static str,
    /// Whether a search can start now.
    pub ready: Signal<bool>,
    /// Whether the page is shown and not training: a running search pauses when it stops being so
    /// (it would share each frame with the page's own work), and waits to be resumed.
    pub active: Signal<bool>,
    /// What trials run on (data, seed): when it changes, the trials shown no longer belong to the
    /// page and go.
    pub ran_on: Signal<String>,
    /// Starts `spec` ([`begin`]); `Err` says why it cannot.
    pub start: Callback<SearchSpec, Result<(), String>>,
    /// Applies the best trial's values (in the spec's order) to the page's settings.
    pub apply: Callback<(SearchSpec, Vec<f64>)>,
    /// After the spec or the settings changed (the page writes its link).
    pub on_change: Callback<()>,
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

/// A trial's score as the table and the plot show it: validation accuracy in %, or validation loss.
fn score(t: &Trial, rank: Rank) -> f64 {
    match rank {
        Rank::Accuracy => 100.0 * t.accuracy,
        Rank::Loss => t.loss,
    }
}

/// A score to sort by: a diverged trial's (not finite) as the worst, whatever its NaN's sign.
fn order(t: &Trial, rank: Rank) -> f64 {
    match (score(t, rank), rank) {
        (v, _) if v.is_finite() => v,
        (_, Rank::Accuracy) => f64::NEG_INFINITY,
        (_, Rank::Loss) => f64::INFINITY,
    }
}

fn score_text(v: f64, rank: Rank) -> String {
    match rank {
        Rank::Accuracy => format!("{v:.2}%"),
        Rank::Loss if v.is_finite() => format!("{v:.4}"),
        Rank::Loss => "diverged".into(),
    }
}

/// The AUC or the loss beside a trial's accuracy (a diverged trial has no loss).
fn second_text(v: f64) -> String {
    if v.is_finite() { format!("{v:.4}") } else { "diverged".into() }
}

/// A scatter plot of one setting against the trials' score (a diverged trial has none).
fn scatter(id: &'static str, trials: &[Trial], k: usize, param: Param, best: Option<usize>, rank: Rank) -> impl IntoView + use<> {
    let (w, h, left, bottom) = (300.0, 150.0, 50.0, 20.0);
    let trials: Vec<&Trial> = trials.iter().filter(|t| score(t, rank).is_finite()).collect();
    let log = matches!(param, Param::Lr | Param::L2) && trials.iter().all(|t| t.values[k] > 0.0);
    let sx = |v: f64| if log { v.log10() } else { v };
    let xs: Vec<f64> = trials.iter().map(|t| sx(t.values[k])).collect();
    let ys: Vec<f64> = trials.iter().map(|t| score(t, rank)).collect();
    let (x0, x1) = (xs.iter().copied().fold(f64::MAX, f64::min), xs.iter().copied().fold(f64::MIN, f64::max));
    let (y0, y1) = (ys.iter().copied().fold(f64::MAX, f64::min), ys.iter().copied().fold(f64::MIN, f64::max));
    let (x1, y1) = (if x1 - x0 < 1e-12 { x0 + 1.0 } else { x1 }, if y1 - y0 < 1e-9 { y0 + 1.0 } else { y1 });
    let px = move |x: f64| left + 6.0 + (x - x0) / (x1 - x0) * (w - left - 14.0);
    let py = move |y: f64| 6.0 + (1.0 - (y - y0) / (y1 - y0)) * (h - bottom - 12.0);
    let tick = move |v: f64| if log { format!("{:.0e}", 10f64.powf(v)) } else { format!("{}", (v * 1000.0).round() / 1000.0) };
    view! {
        <svg class="scatter" data-testid=format!("{id}-plot") viewBox=format!("0 0 {w} {h}") width=w height=h>
            <line x1=left y1=4 x2=left y2=h - bottom class="axis"/>
            <line x1=left y1=h - bottom x2=w - 4.0 y2=h - bottom class="axis"/>
            <text x=left - 3.0 y=py(y1) + 3.0 text-anchor="end" class="tick">{score_text(y1, rank)}</text>
            <text x=left - 3.0 y=py(y0) + 3.0 text-anchor="end" class="tick">{score_text(y0, rank)}</text>
            <text x=px(x0) y=h - 6.0 class="tick">{tick(x0)}</text>
            <text x=px(x1) y=h - 6.0 text-anchor="end" class="tick">{tick(x1)}</text>
            <text x=(left + w) / 2.0 y=h - 6.0 text-anchor="middle" class="tick">{format!("{}{}", label(param), if log { " (log)" } else { "" })}</text>
            {trials.iter().zip(xs.iter().zip(&ys)).map(|(t, (&x, &y))| view! {
                <circle cx=px(x) cy=py(y) r=if Some(t.number) == best { 5.0 } else { 3.5 } class="dot" class:best=Some(t.number) == best>
                    <title>{format!("trial {}: {}", t.number, score_text(y, rank))}</title></circle>
            }).collect_view()}
        </svg>
    }
}

/// The panel.
#[component]
pub fn SearchPanel(host: SearchHost) -> impl IntoView {
    let SearchHost { id, spec, unit, decode, params: searchable, suggestion, ready, active, ran_on, start, apply, on_change } = host;
    let rank = RwSignal::new(Rank::Accuracy);
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
    Effect::new(move |_| {
        if !active.get() && state.get_untracked() == State::Running {
            state.set(State::Paused);
        }
    });
    // What the search ran on: when it changes, the trials no longer belong to the page and go.
    let ran = StoredValue::new(None::<String>);
    Effect::new(move |_| {
        let now = ran_on.get();
        if ran.get_value().is_some_and(|r| r != now) {
            generation.update(|g| *g += 1);
            end(id);
            trials.set(Vec::new());
            running_spec.set(None);
            progress.set(String::new());
            state.set(State::Idle);
            ran.set_value(None);
        }
    });
    // Edits: the text of each setting's values, and whether it is searched.
    let texts: Vec<(Param, RwSignal<bool>, RwSignal<String>)> = searchable
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
        match decode(&text) {
            Ok(next) => {
                error.set(None);
                if next != s {
                    spec.set(next);
                    on_change.run(());
                }
            }
            Err(why) => error.set(Some(why)),
        }
    };
    let run = move || {
        if state.get_untracked() != State::Paused {
            if let Err(why) = start.run(spec.get_untracked()) {
                error.set(Some(why));
                return;
            }
            let Some((s, n, (tr, val), r)) = with_search(id, |s| (s.spec().clone(), s.len(), s.split_sizes(), s.rank())) else { return };
            progress.set(format!("{n} trials on {tr} training {unit}, scored on {val} validation {unit} carved from the training split"));
            running_spec.set(Some(s));
            total.set(n);
            rank.set(r);
            sort.set((usize::MAX, r == Rank::Accuracy));
            ran.set_value(Some(ran_on.get_untracked()));
            trials.set(Vec::new());
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
                let more = with_search(id, |s| {
                    let mut more = true;
                    while more && now_ms() - start < 12.0 {
                        more = s.advance();
                    }
                    if s.trials().len() != trials.with_untracked(Vec::len) {
                        trials.set(s.trials().to_vec());
                    }
                    more
                });
                if more != Some(true) {
                    state.set(State::Done);
                    return;
                }
                next_frame().await;
            }
        });
    };
    let best = move || trials.with(|tr| best_of(tr, rank.get()).map(|t| t.number));
    let apply_best = move || {
        if let Some(Some(best)) = with_search(id, |s| s.best().map(|b| (s.spec().clone(), b.values.clone()))) {
            apply.run(best);
            on_change.run(());
        }
    };
    let shown_params = move || running_spec.get().map(|s| s.params.iter().map(|(p, _)| *p).collect::<Vec<_>>()).unwrap_or_default();
    let sorted = move || {
        let mut tr = trials.get();
        let (col, desc) = sort.get();
        tr.sort_by(|a, b| {
            let r = rank.get_untracked();
            let (x, y) = if col == usize::MAX { (order(a, r), order(b, r)) } else if col == usize::MAX - 1 { (a.number as f64, b.number as f64) } else { (a.values[col], b.values[col]) };
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
        <section class=format!("panel search-panel {id}") data-testid=id>
            <h2>"Hyper-parameter search " <span class="sub">"short trainings on a validation split carved from the training data — never the test split"</span></h2>
            <div class="controls-row">
                <label>"mode"<select data-testid=format!("{id}-mode") on:change=move |ev| rebuild(Some(if event_target_value(&ev) == "grid" { Mode::Grid } else { Mode::Random }), None, None)>
                    <option value="random" selected=move || spec.get().mode == Mode::Random>"random (seeded)"</option>
                    <option value="grid" selected=move || spec.get().mode == Mode::Grid>"grid"</option></select></label>
                <label>"trials"<input type="text" size="4" data-testid=format!("{id}-trials") prop:value=move || spec.get().trials.to_string()
                    on:change=move |ev| { match event_target_value(&ev).parse::<usize>() { Ok(n) => rebuild(None, Some(n), None), Err(_) => error.set(Some("trials: a whole number".into())) } }/></label>
                <label>"epochs a trial"<input type="text" size="3" data-testid=format!("{id}-epochs") prop:value=move || spec.get().epochs.to_string()
                    on:change=move |ev| { match event_target_value(&ev).parse::<usize>() { Ok(n) => rebuild(None, None, Some(n)), Err(_) => error.set(Some("epochs: a whole number".into())) } }/></label>
            </div>
            <div class="search-params">
                {texts.get_value().into_iter().map(|(p, on, text)| view! {
                    <label class="check search-param">
                        <input type="checkbox" data-testid=format!("{id}-on-{}", p.key()) prop:checked=move || on.get()
                            on:change=move |ev| { on.set(event_target_checked(&ev)); rebuild(None, None, None) }/>
                        <span class="param-name">{label(p)}</span>
                        <input type="text" size="16" data-testid=format!("{id}-{}", p.key()) prop:value=move || text.get() title="a range lo..hi, or values a|b|c"
                            on:change=move |ev| { text.set(event_target_value(&ev)); rebuild(None, None, None) }/>
                    </label>
                }).collect_view()}
            </div>
            {move || error.get().map(|e| view! { <p class="error" data-testid=format!("{id}-error")>{e}</p> })}
            <div class="buttons">
                <button data-testid=format!("{id}-run") class="primary" disabled=move || state.get() == State::Running || error.get().is_some() || !ready.get() || !active.get() on:click=move |_| run()>
                    {move || if state.get() == State::Paused { "▶ resume search" } else { "▶ run the search" }}</button>
                <button data-testid=format!("{id}-pause") disabled=move || state.get() != State::Running on:click=move |_| state.set(State::Paused)>"❚❚ pause"</button>
                <button data-testid=format!("{id}-apply") disabled=move || best().is_none() || state.get() == State::Running on:click=move |_| apply_best()>"apply the best settings"</button>
                <span data-testid=format!("{id}-status")>{move || {
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
                // Beside accuracy: the AUC where trials have one (the table's), else the loss (MNIST's).
                let auc = trials.with(|tr| tr.iter().any(|t| t.auc.is_finite()));
                view! {
                    <div class="results-row">
                        <div class="table-scroll search-table">
                            <table class="scores trials" data-testid=format!("{id}-table")>
                                <tr>{header(usize::MAX - 1, "trial".into())}
                                    {params.iter().enumerate().map(|(k, p)| header(k, label(*p).into())).collect_view()}
                                    {header(usize::MAX, if rank.get() == Rank::Accuracy { "validation accuracy" } else { "validation loss" }.into())}
                                    {(rank.get() == Rank::Accuracy).then(|| view! { <th>{if auc { "AUC" } else { "validation loss" }}</th> })}</tr>
                                {sorted().into_iter().map(|tr| view! {
                                    <tr class:best=Some(tr.number) == best data-trial=tr.number data-accuracy=tr.accuracy.to_string() data-loss=tr.loss.to_string()>
                                        <td>{tr.number}</td>
                                        {tr.values.iter().map(|v| view! { <td class="num">{format!("{v}")}</td> }).collect_view()}
                                        <td class="num">{score_text(score(&tr, rank.get()), rank.get())}</td>
                                        {(rank.get() == Rank::Accuracy).then(|| view! { <td class="num">{second_text(if auc { tr.auc } else { tr.loss })}</td> })}
                                    </tr>
                                }).collect_view()}
                            </table>
                        </div>
                        <div>
                            <label>"plot against "<select data-testid=format!("{id}-x") on:change=move |ev| plot_param.set(event_target_value(&ev).parse().unwrap_or(0))>
                                {params.iter().enumerate().map(|(k, p)| view! { <option value=k.to_string() selected=move || plot_param.get() == k>{label(*p)}</option> }).collect_view()}
                            </select></label>
                            {move || {
                                let k = plot_param.get().min(params.len().saturating_sub(1));
                                let scored = trials.with(|tr| tr.iter().any(|t| score(t, rank.get()).is_finite()));
                                params.get(k).filter(|_| scored).map(|p| scatter(id, &trials.get(), k, *p, best, rank.get()))
                            }}
                        </div>
                    </div>
                }
            })}
        </section>
    }
}
