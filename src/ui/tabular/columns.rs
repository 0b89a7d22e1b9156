//! The table view: one row per column with its type (inferred, and overridable from number to
//! category), missing cells, range or top values, a histogram, and its part in the experiment
//! (target, feature, sensitive, ignored); and the controls that depend on the columns: the
//! positive class and the product features.

use leptos::prelude::*;

use super::{ColumnView, TabUi, set, set_config, thousands};
use crate::data::table::Kind;
use crate::train::tabular::{join_names, products_key};

/// A column's part in the experiment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Target,
    Feature,
    Sensitive,
    SensitiveFeature,
    Ignored,
}

const ROLES: [(Role, &str, &str); 5] = [
    (Role::Feature, "feature", "feature"),
    (Role::Target, "target", "target (to predict)"),
    (Role::Sensitive, "sensitive", "sensitive (groups; not a feature)"),
    (Role::SensitiveFeature, "sensitive+feature", "sensitive, and a feature"),
    (Role::Ignored, "ignored", "ignored"),
];

/// The target's column name: the config's, or the last column when it names none.
fn target_name(t: TabUi) -> String {
    let c = t.config.get();
    if c.prep.target.is_empty() { t.columns.with(|cols| cols.last().map(|c| c.name.clone()).unwrap_or_default()) } else { c.prep.target }
}

fn role_of(t: TabUi, name: &str) -> Role {
    let c = t.config.get();
    if target_name(t) == name {
        return Role::Target;
    }
    if c.prep.sensitive.as_deref() == Some(name) {
        return if c.prep.sensitive_as_feature { Role::SensitiveFeature } else { Role::Sensitive };
    }
    match &c.prep.features {
        None => Role::Feature,
        Some(f) if f.iter().any(|n| n == name) => Role::Feature,
        Some(_) => Role::Ignored,
    }
}

/// Gives column `name` a part; the others keep theirs (a new target or sensitive column takes
/// the part from the one that had it).
fn set_role(t: TabUi, name: &str, role: Role, on_change: impl Fn()) {
    let mut c = t.config.get_untracked();
    let all: Vec<String> = t.columns.with_untracked(|cols| cols.iter().map(|c| c.name.clone()).collect());
    let target = if c.prep.target.is_empty() { all.last().cloned().unwrap_or_default() } else { c.prep.target.clone() };
    // The features as a list (None means every other column).
    let mut features: Vec<String> =
        c.prep.features.clone().unwrap_or_else(|| all.iter().filter(|n| **n != target && Some(n.as_str()) != c.prep.sensitive.as_deref()).cloned().collect());
    features.retain(|n| n != name);
    match role {
        Role::Target => {
            c.prep.target = name.to_string();
            c.prep.positive = None;
            if c.prep.sensitive.as_deref() == Some(name) {
                c.prep.sensitive = None;
            }
            // The old target becomes a feature only if the user says so.
        }
        // The target keeps its part until another column takes it (else the last column, often
        // this one, would silently stay the target).
        _ if target == name && role != Role::Target => {
            t.note.set(Some(format!("'{name}' is the target: make another column the target first")));
            t.config.update(|_| {}); // the select shows the column's part again
            return;
        }
        Role::Sensitive | Role::SensitiveFeature => {
            c.prep.sensitive = Some(name.to_string());
            c.prep.sensitive_as_feature = role == Role::SensitiveFeature;
        }
        Role::Feature => features.push(name.to_string()),
        Role::Ignored => {}
    }
    if c.prep.sensitive.as_deref() == Some(name) && matches!(role, Role::Feature | Role::Ignored | Role::Target) {
        c.prep.sensitive = None;
    }
    let new_target = if c.prep.target.is_empty() { all.last().cloned().unwrap_or_default() } else { c.prep.target.clone() };
    features.retain(|n| *n != new_target && Some(n.as_str()) != c.prep.sensitive.as_deref());
    features.sort_by_key(|n| all.iter().position(|a| a == n));
    let every_other: Vec<String> = all.iter().filter(|n| **n != new_target && Some(n.as_str()) != c.prep.sensitive.as_deref()).cloned().collect();
    c.prep.features = if features == every_other { None } else { Some(features) };
    if c != t.config.get_untracked() {
        t.note.set(None);
        set_config(t, c);
        on_change();
    }
}

/// A small histogram (numbers) or the top values as bars (categories).
fn sketch(col: &ColumnView, categorical: bool) -> impl IntoView + use<> {
    let p = &col.profile;
    let (w, h) = (120.0, 28.0);
    if !categorical && !p.histogram.is_empty() {
        let max = *p.histogram.iter().max().unwrap_or(&1) as f64;
        let bw = w / p.histogram.len() as f64;
        let bars = p
            .histogram
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let bh = if n == 0 { 0.0 } else { (n as f64 / max * h).max(1.0) };
                view! { <rect x=i as f64 * bw y=h - bh width=(bw - 1.0).max(0.5) height=bh class="bar"/> }
            })
            .collect_view();
        return view! { <svg class="sketch" viewBox=format!("0 0 {w} {h}") width=w height=h>{bars}</svg> }.into_any();
    }
    let total: usize = p.top.iter().map(|(_, n)| n).sum::<usize>().max(1);
    let rows = p
        .top
        .iter()
        .take(4)
        .map(|(v, n)| {
            let share = *n as f64 / total as f64;
            view! { <div class="top-value" title=format!("{v}: {n}")><span class="top-bar" style=format!("width:{:.0}px", 4.0 + share * 60.0)></span>{v.clone()}</div> }
        })
        .collect_view();
    view! { <div class="top-values">{rows}</div> }.into_any()
}

/// The table view.
#[component]
pub(super) fn ColumnsPanel(t: TabUi, on_change: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let forced = move |name: &str| t.config.with(|c| c.prep.categorical.iter().any(|n| n == name));
    let set_kind = move |name: String, categorical: bool| {
        let mut list = t.config.get_untracked().prep.categorical;
        list.retain(|n| *n != name);
        if categorical {
            list.push(name);
        }
        set(t, "tab.categorical", &join_names(list.iter().map(String::as_str)), on_change);
    };
    view! {
        <section class="panel tab-columns">
            <h2>"Columns " <span class="sub">{move || format!("{} columns", t.columns.with(Vec::len))}</span></h2>
            <div class="table-scroll">
                <table class="columns" data-testid="tab-columns">
                    <tr><th>"column"</th><th>"type"</th><th>"missing"</th><th>"values"</th><th>"distribution"</th><th>"part"</th></tr>
                    <For each=move || t.columns.get() key=|c| c.name.clone() let:col>
                        {
                            let name = col.name.clone();
                            let (n1, n2, n3, n4) = (name.clone(), name.clone(), name.clone(), name.clone());
                            let numeric = col.inferred == Kind::Numeric;
                            let p = col.profile.clone();
                            let col2 = col.clone();
                            view! {
                                <tr data-column=name.clone() class:is-target=move || role_of(t, &n1) == Role::Target>
                                    <td class="col-name">{name.clone()}</td>
                                    <td>{if numeric {
                                        view! {
                                            <select data-testid="tab-kind" on:change=move |ev| set_kind(n2.clone(), event_target_value(&ev) == "category")>
                                                <option value="number" selected=move || !forced(&n3)>"number"</option>
                                                <option value="category" selected=move || forced(&n4)>"category"</option>
                                            </select>
                                        }.into_any()
                                    } else {
                                        view! { <span>"category"</span> }.into_any()
                                    }}</td>
                                    <td class="num">{if p.missing > 0 { thousands(p.missing) } else { "—".into() }}</td>
                                    <td class="values">{match p.range {
                                        Some((lo, hi, mean)) => format!("{lo} to {hi}, mean {mean:.4}"),
                                        None => format!("{} values", thousands(p.distinct)),
                                    }}</td>
                                    <td>{
                                        let name = name.clone();
                                        move || sketch(&col2, forced(&name))
                                    }</td>
                                    <td>{
                                        let name = name.clone();
                                        let n5 = name.clone();
                                        view! {
                                            <select data-testid="tab-role" on:change=move |ev| {
                                                let v = event_target_value(&ev);
                                                if let Some((r, _, _)) = ROLES.iter().find(|(_, k, _)| *k == v) { set_role(t, &name, *r, on_change) }
                                            }>
                                                {ROLES.iter().map(|(r, k, text)| {
                                                    let n = n5.clone();
                                                    view! { <option value=*k selected=move || role_of(t, &n) == *r>{*text}</option> }
                                                }).collect_view()}
                                            </select>
                                        }
                                    }</td>
                                </tr>
                            }
                        }
                    </For>
                </table>
            </div>
            <p class="hint">"Numbers become one standardised input each; categories one input per value (one-hot). A column with more than 500 values cannot be a feature. The sensitive column's groups are compared in the fairness report; it is not a feature unless you say so."</p>
        </section>
    }
}

/// Which of the target's two values is the positive class.
#[component]
pub(super) fn PositiveSelect(t: TabUi, on_change: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let values = move || {
        let target = target_name(t);
        t.columns.with(|cols| cols.iter().find(|c| c.name == target).map(|c| c.profile.top.iter().map(|(v, _)| v.clone()).collect::<Vec<_>>()).unwrap_or_default())
    };
    let current = move || t.summary.with(|s| s.as_ref().and_then(|s| s.as_ref().ok()).map(|s| s.classes[0].clone()));
    view! {
        <label title="the class the network predicts the probability of">"positive class"
            <select data-testid="tab-positive" on:change=move |ev| set(t, "tab.positive", &event_target_value(&ev), on_change)>
                {move || {
                    let values = values();
                    if values.len() != 2 {
                        return view! { <option value="">"(the target needs two values)"</option> }.into_any();
                    }
                    values.into_iter().map(|v| {
                        let (v2, v3) = (v.clone(), v.clone());
                        view! { <option value=v3 selected=move || current().as_deref() == Some(v2.as_str())>{v}</option> }
                    }).collect_view().into_any()
                }}
            </select>
        </label>
    }
}

/// Product features `a×b` of two number columns.
#[component]
pub(super) fn Products(t: TabUi, on_change: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let numbers = move || t.columns.with(|cols| cols.iter().filter(|c| c.inferred == Kind::Numeric).map(|c| c.name.clone()).collect::<Vec<_>>());
    let a = RwSignal::new(String::new());
    let b = RwSignal::new(String::new());
    let write = move |products: Vec<(String, String)>| {
        set(t, "tab.products", &products_key(&products), on_change);
    };
    let options = move |chosen: RwSignal<String>| {
        move || {
            numbers()
                .into_iter()
                .map(|n| {
                    let (n2, n3) = (n.clone(), n.clone());
                    view! { <option value=n3 selected=move || chosen.get() == n2>{n}</option> }
                })
                .collect_view()
        }
    };
    view! {
        <div class="products">
            <span>"product features: "</span>
            {move || t.config.get().prep.products.into_iter().enumerate().map(|(i, (x, y))| view! {
                <span class="product-chip" data-testid="tab-product">{format!("{x}×{y}")}
                    <button title="remove" on:click=move |_| { let mut p = t.config.get_untracked().prep.products; p.remove(i); write(p) }>"×"</button></span>
            }).collect_view()}
            <select data-testid="tab-product-a" on:change=move |ev| a.set(event_target_value(&ev))><option value="">"a"</option>{options(a)}</select>
            "×"
            <select data-testid="tab-product-b" on:change=move |ev| b.set(event_target_value(&ev))><option value="">"b"</option>{options(b)}</select>
            <button data-testid="tab-product-add" disabled=move || a.get().is_empty() || b.get().is_empty() on:click=move |_| {
                let mut p = t.config.get_untracked().prep.products;
                p.push((a.get_untracked(), b.get_untracked()));
                write(p)
            }>"add a×b"</button>
        </div>
    }
}
