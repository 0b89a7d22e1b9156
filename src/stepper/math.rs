//! MathML for the stepper: each op's formula at one element, with the traced numbers
//! substituted (`h1[0,1] = σ(z1[0,1]) = 1 / (1 + e^−(2)) = 0.8808`). MathML is native in the
//! browser, so the page needs no maths library; this module only builds strings, so it is
//! tested natively like the rest.

mod backward;

pub use backward::backward;

use super::{Local, Matrix, Trace, TraceNode};
use crate::engine::{Op, OptimizerKind, Precision};

/// A number to 5 significant digits (trailing zeros trimmed; scientific when very small or large).
pub fn sig(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    if !x.is_finite() {
        return format!("{x}");
    }
    let a = x.abs();
    let s = if !(1e-4..1e6).contains(&a) {
        let s = format!("{x:.4e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = trim(m);
        format!("{m}e{e}")
    } else {
        let decimals = (4 - a.log10().floor() as i32).max(0) as usize;
        trim(&format!("{x:.decimals$}"))
    };
    s.replace('-', "−")
}

fn trim(s: &str) -> String {
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s.to_string() }
}

/// The full value, as the precision it was computed in reads it (shown on hover).
pub fn full(x: f64, precision: Precision) -> String {
    match precision {
        Precision::F32 => format!("{}", x as f32),
        Precision::F64 => format!("{x}"),
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

pub(super) fn mi(s: &str) -> String {
    format!("<mi>{}</mi>", esc(s))
}

pub(super) fn mo(s: &str) -> String {
    format!("<mo>{}</mo>", esc(s))
}

pub(super) fn mn(s: &str) -> String {
    format!("<mn>{}</mn>", esc(s))
}

/// `∑` with its index beneath it.
pub(super) fn sum_over(index: &str) -> String {
    format!("<munder><mo>∑</mo>{}</munder>", indices(index))
}

/// Indices such as `i,j`: each an identifier, the commas operators (one `<mi>i,j</mi>` would be a
/// single upright name).
fn indices(index: &str) -> String {
    let parts: Vec<String> = index.split(',').map(mi).collect();
    if parts.len() == 1 {
        return parts.into_iter().next().unwrap_or_default();
    }
    let mut out = Vec::new();
    for (k, p) in parts.into_iter().enumerate() {
        if k > 0 {
            out.push(mo(","));
        }
        out.push(p);
    }
    row(&out)
}

/// A node's element at symbolic indices, `W₂[i,j]`: what a sum over `index` adds up.
fn indexed(label: &str, index: &str) -> String {
    row(&[name(label), mo("["), indices(index), mo("]")])
}

/// `x` with the indices as a subscript (`softmax(z)ᵢⱼ`).
fn sub_index(x: &str, index: &str) -> String {
    format!("<msub>{x}{}</msub>", indices(index))
}

/// A node's name as read in a formula: `l2.w` → W₂, `l2.b` → b₂, `h1` → h₁, `h1′` → h₁′ (a layer
/// number becomes a subscript), anything else as it is. `name` gives the same in MathML.
pub fn pretty(label: &str) -> String {
    let (base, digits, rest) = split_name(label);
    if digits.is_empty() {
        return label.to_string();
    }
    let sub: String = digits.chars().map(|c| super::rule::subscript(c).unwrap_or(c)).collect();
    format!("{base}{sub}{rest}")
}

fn name(label: &str) -> String {
    let (base, digits, rest) = split_name(label);
    if digits.is_empty() {
        return mi(label);
    }
    let sub = format!("<msub>{}{}</msub>", mi(&base), mn(&digits));
    if rest.is_empty() { sub } else { row(&[sub, mo(&rest)]) }
}

/// `l2.w` → ("W", "2", ""); `h1′` → ("h", "1", "′"); `ŷ` → ("ŷ", "", "").
fn split_name(label: &str) -> (String, String, String) {
    if let Some(tail) = label.strip_prefix('l') {
        let digits: String = tail.chars().take_while(char::is_ascii_digit).collect();
        let after = &tail[digits.len()..];
        let base = match after.get(..2) {
            Some(".w") => Some("W"),
            Some(".b") => Some("b"),
            _ => None,
        };
        if let (Some(base), false) = (base, digits.is_empty()) {
            return (base.into(), digits, after[2..].into());
        }
    }
    let rest_len: usize = label.chars().rev().take_while(|c| !c.is_ascii_digit() && !c.is_alphabetic()).map(char::len_utf8).sum();
    let (head, rest) = label.split_at(label.len() - rest_len);
    let digits_len = head.chars().rev().take_while(char::is_ascii_digit).count();
    let (base, digits) = head.split_at(head.len() - digits_len);
    if base.is_empty() || digits.is_empty() {
        return (label.into(), String::new(), String::new());
    }
    (base.into(), digits.into(), rest.into())
}

pub(super) fn row(parts: &[String]) -> String {
    format!("<mrow>{}</mrow>", parts.concat())
}

pub(super) fn frac(a: &str, b: &str) -> String {
    format!("<mfrac>{a}{b}</mfrac>")
}

fn sup(a: &str, b: &str) -> String {
    format!("<msup>{a}{b}</msup>")
}

fn msqrt(a: &str) -> String {
    format!("<msqrt>{a}</msqrt>")
}

fn paren(a: &str) -> String {
    row(&[mo("("), a.to_string(), mo(")")])
}

/// A number as an operand: negative numbers get parentheses.
fn num(x: f64) -> String {
    let s = sig(x);
    if x < 0.0 { paren(&mn(&s)) } else { mn(&s) }
}

/// A number inside brackets that are already there.
fn bare(x: f64) -> String {
    mn(&sig(x))
}

/// A result number.
fn res(x: f64) -> String {
    mn(&sig(x))
}

/// `label[r,c]`, or just `label` for a `[1,1]` value.
fn at(label: &str, m: &Matrix, r: usize, c: usize) -> String {
    // A broadcast input (a row, a column or a scalar) is named at the index it is read from.
    let (r, c) = (if m.rows == 1 { 0 } else { r }, if m.cols == 1 { 0 } else { c });
    if m.rows == 1 && m.cols == 1 {
        name(label)
    } else {
        row(&[name(label), mo("["), mn(&r.to_string()), mo(","), mn(&c.to_string()), mo("]")])
    }
}

/// `∂L/∂label[r,c]`.
fn d(label: &str, m: &Matrix, r: usize, c: usize) -> String {
    frac(&row(&[mi("∂"), mi("L")]), &row(&[mi("∂"), at(label, m, r, c)]))
}

fn eq(parts: &[String]) -> String {
    let mut out = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push(mo("="));
        }
        out.push(p.clone());
    }
    format!("<math display=\"block\">{}</math>", row(&out))
}

/// Joins terms with an operator, eliding the middle of long sums.
fn join(terms: Vec<String>, op: &str) -> String {
    let mut out = Vec::new();
    let n = terms.len();
    for (i, t) in terms.into_iter().enumerate() {
        if n > 6 && (3..n - 2).contains(&i) {
            if i == 3 {
                out.push(mo(op));
                out.push(mo("⋯"));
            }
            continue;
        }
        if i > 0 {
            out.push(mo(op));
        }
        out.push(t);
    }
    row(&out)
}

fn times(a: String, b: String) -> String {
    row(&[a, mo("·"), b])
}

/// The element of a node's output that the formulas are shown for, clamped to its shape.
pub fn clamp(m: &Matrix, (r, c): (usize, usize)) -> (usize, usize) {
    (r.min(m.rows.saturating_sub(1)), c.min(m.cols.saturating_sub(1)))
}

/// The forward formula of node `id` at output element `focus`, with numbers.
pub fn forward(trace: &Trace, id: usize, focus: (usize, usize)) -> String {
    let node = &trace.nodes[id];
    let y = &node.value;
    let (r, c) = clamp(y, focus);
    let input = |k: usize| -> (&TraceNode, &Matrix) {
        let n = &trace.nodes[node.inputs[k]];
        (n, &n.value)
    };
    let lhs = at(&node.label, y, r, c);
    let out = res(y.at(r, c));
    match node.op {
        Op::Leaf(_) => eq(&[lhs, out]),
        Op::MatMul => {
            let ((a, am), (b, bm)) = (input(0), input(1));
            let k = am.cols;
            let symbolic = row(&[sum_over("k"), idx(&a.label, &r.to_string(), "k"), mo("·"), idx(&b.label, "k", &c.to_string())]);
            let terms = (0..k).map(|j| times(num(am.at(r, j)), num(bm.at(j, c)))).collect();
            eq(&[lhs, symbolic, join(terms, "+"), out])
        }
        Op::Add | Op::Mul => {
            // Either input may be broadcast: each is read where it is broadcast from.
            let ((a, am), (b, bm)) = (input(0), input(1));
            let op = if node.op == Op::Add { "+" } else { "·" };
            eq(&[
                lhs,
                row(&[at(&a.label, am, r, c), mo(op), at(&b.label, bm, r, c)]),
                row(&[num(am.broadcast_at(r, c)), mo(op), num(bm.broadcast_at(r, c))]),
                out,
            ])
        }
        Op::Sum | Op::Mean => {
            let (a, am) = input(0);
            let terms = am.values.iter().map(|&v| num(v)).collect();
            let sum = join(terms, "+");
            let (sym, nums) = if node.op == Op::Sum {
                (row(&[sum_over("i,j"), indexed(&a.label, "i,j")]), sum)
            } else {
                let n = mn(&am.len().to_string());
                (row(&[frac(&mn("1"), &n), sum_over("i,j"), indexed(&a.label, "i,j")]), row(&[frac(&mn("1"), &n), paren(&sum)]))
            };
            eq(&[lhs, sym, nums, out])
        }
        Op::Relu | Op::LeakyRelu { .. } | Op::Sigmoid | Op::Tanh | Op::Identity | Op::Gelu | Op::StopGradient => {
            let (a, am) = input(0);
            let x = am.at(r, c);
            let xs = at(&a.label, am, r, c);
            let (sym, nums) = match node.op {
                Op::Relu => (row(&[mi("max"), paren(&row(&[mn("0"), mo(","), xs]))]), row(&[mi("max"), paren(&row(&[mn("0"), mo(","), bare(x)]))])),
                Op::LeakyRelu { slope } => {
                    let s = mn(&sig(slope as f64));
                    if x > 0.0 {
                        (row(&[xs, mtext(" since it is > 0")]), num(x))
                    } else {
                        (row(&[s.clone(), mo("·"), xs, mtext(" since it is ≤ 0")]), row(&[s, mo("·"), num(x)]))
                    }
                }
                Op::Sigmoid => {
                    let f = |v: String| frac(&mn("1"), &row(&[mn("1"), mo("+"), sup(&mi("e"), &row(&[mo("−"), v]))]));
                    (row(&[mi("σ"), paren(&xs)]), row(&[f(paren(&bare(x)))]))
                }
                Op::Tanh => (row(&[mi("tanh"), paren(&xs)]), row(&[mi("tanh"), paren(&bare(x))])),
                Op::Gelu => (row(&[xs.clone(), mo("·"), mi("Φ"), paren(&xs)]), row(&[num(x), mo("·"), mi("Φ"), paren(&bare(x))])),
                _ => (xs, num(x)),
            };
            eq(&[lhs, sym, nums, out])
        }
        Op::Softmax | Op::LogSoftmax => {
            let (a, am) = input(0);
            let xs = am.row(r);
            let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let denom: f64 = xs.iter().map(|v| (v - max).exp()).sum::<f64>() * max.exp();
            let exps = xs.iter().map(|&v| sup(&mi("e"), &num(v))).collect();
            let sym_x = at(&a.label, am, r, c);
            if node.op == Op::Softmax {
                eq(&[
                    lhs,
                    frac(&sup(&mi("e"), &sym_x), &row(&[sum_over("j"), sup(&mi("e"), &row(&[name(&a.label), mo("["), mn(&r.to_string()), mo(","), mi("j"), mo("]")]))])),
                    frac(&sup(&mi("e"), &num(am.at(r, c))), &join(exps, "+")),
                    frac(&res(am.at(r, c).exp()), &res(denom)),
                    out,
                ])
            } else {
                eq(&[lhs, row(&[sym_x, mo("−"), mi("log"), sum_over("j"), sup(&mi("e"), &mi("x"))]), row(&[num(am.at(r, c)), mo("−"), mi("log"), paren(&join(exps, "+"))]), out])
            }
        }
        Op::Mse => {
            let ((p, pm), (t, tm)) = (input(0), input(1));
            let n = pm.len();
            let terms = (0..n).map(|i| sup(&paren(&row(&[num(pm.values[i]), mo("−"), num(tm.values[i])])), &mn("2"))).collect();
            let half = frac(&mn("1"), &mn("2"));
            let nn = frac(&mn("1"), &mn(&n.to_string()));
            eq(&[
                lhs,
                row(&[half.clone(), nn.clone(), sum_over("i,j"), sup(&paren(&row(&[indexed(&p.label, "i,j"), mo("−"), indexed(&t.label, "i,j")])), &mn("2"))]),
                row(&[half, nn, paren(&join(terms, "+"))]),
                out,
            ])
        }
        Op::SoftmaxCrossEntropy => {
            let ((z, zm), (_, tm)) = (input(0), input(1));
            let m = zm.rows;
            let terms = (0..m)
                .map(|row_i| {
                    let xs = zm.row(row_i);
                    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let lse = max + xs.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
                    let picked: f64 = tm.row(row_i).iter().zip(xs).map(|(t, x)| t * (x - lse)).sum();
                    num(picked)
                })
                .collect();
            eq(&[
                lhs,
                row(&[mo("−"), frac(&mn("1"), &mn(&m.to_string())), sum_over("i"), sum_over("j"), indexed("y", "i,j"), mi("log"), mi("softmax"), sub_index(&paren(&name(&z.label)), "i,j")]),
                row(&[mo("−"), frac(&mn("1"), &mn(&m.to_string())), paren(&join(terms, "+"))]),
                out,
            ])
        }
        Op::BceWithLogits => {
            let ((z, zm), (t, tm)) = (input(0), input(1));
            let n = zm.len();
            let terms = (0..n)
                .map(|i| {
                    let (zv, tv) = (zm.values[i], tm.values[i]);
                    num(zv.max(0.0) - zv * tv + (-zv.abs()).exp().ln_1p())
                })
                .collect();
            eq(&[
                lhs,
                row(&[frac(&mn("1"), &mn(&n.to_string())), sum_over("i"), paren(&row(&[mi("max"), paren(&row(&[indexed(&z.label, "i"), mo(","), mn("0")])), mo("−"), indexed(&z.label, "i"), mo("·"), indexed(&t.label, "i"), mo("+"), mi("log"), paren(&row(&[mn("1"), mo("+"), sup(&mi("e"), &row(&[mo("−"), mo("|"), indexed(&z.label, "i"), mo("|")]))]))]))]),
                row(&[frac(&mn("1"), &mn(&n.to_string())), paren(&join(terms, "+"))]),
                out,
            ])
        }
        Op::Dropout { rate } => {
            let ((a, am), (m, mm)) = (input(0), input(1));
            eq(&[
                lhs,
                frac(&row(&[at(&a.label, am, r, c), mo("·"), at(&m.label, mm, r, c)]), &row(&[mn("1"), mo("−"), mn(&sig(rate as f64))])),
                frac(&row(&[num(am.at(r, c)), mo("·"), num(mm.at(r, c))]), &mn(&sig(1.0 - rate as f64))),
                out,
            ])
        }
        Op::L1 { rate } | Op::L2 { rate } => {
            let (a, am) = input(0);
            let l = mn(&sig(rate as f64));
            let (sym, total) = if let Op::L1 { .. } = node.op {
                (row(&[l.clone(), sum_over("i,j"), mo("|"), indexed(&a.label, "i,j"), mo("|")]), row(&[l, mo("·"), res(am.values.iter().map(|v| v.abs()).sum())]))
            } else {
                let half = frac(&mn("1"), &mn("2"));
                (row(&[l.clone(), mo("·"), half.clone(), sum_over("i,j"), sup(&indexed(&a.label, "i,j"), &mn("2"))]), row(&[l, mo("·"), half, mo("·"), res(am.values.iter().map(|v| v * v).sum())]))
            };
            eq(&[lhs, sym, total, out])
        }
        // Ops of the image and sequence models: the formula, then the number.
        Op::Reshape { .. } | Op::Permute { .. } | Op::Conv2d { .. } | Op::MaxPool2d { .. } | Op::MaskedFill { .. } | Op::Linear | Op::BatchNorm2d { .. } | Op::Embedding | Op::LayerNorm { .. } | Op::Slice { .. } | Op::Concat { .. } => {
            eq(&[lhs, mtext(node.op.formula().forward), out])
        }
    }
}

fn mtext(s: &str) -> String {
    format!("<mtext>{}</mtext>", esc(s))
}

/// `label[i,j]` with symbolic indices.
fn idx(label: &str, i: &str, j: &str) -> String {
    let part = |s: &str| if s.chars().all(|c| c.is_ascii_digit()) { mn(s) } else { mi(s) };
    row(&[name(label), mo("["), part(i), mo(","), part(j), mo("]")])
}

/// The update of parameter `param` at `element`, as the optimizer's formulas with numbers.
/// Returns one line per formula.
pub fn update(trace: &Trace, param: usize, element: usize) -> Vec<String> {
    let p = &trace.params[param];
    let c = trace.optimizer;
    let (w, g, w_new) = (p.before.values[element], p.grad.values[element], p.after.values[element]);
    let eta = mn(&sig(c.lr));
    let index = row(&[mo("["), mn(&index_of(&p.before, element)), mo("]")]);
    let name_new = row(&[name(&format!("{}′", p.name)), index.clone()]);
    let name = row(&[name(&p.name), index]);
    let decay = c.weight_decay != 0.0;
    let g_eff = if decay { g + c.weight_decay * w } else { g };
    let g_term = if decay {
        paren(&row(&[num(g), mo("+"), mn(&sig(c.weight_decay)), mo("·"), num(w)]))
    } else {
        num(g)
    };
    match c.kind {
        OptimizerKind::Sgd => vec![eq(&[
            name_new,
            row(&[name, mo("−"), mi("η"), mo("·"), mi("g")]),
            row(&[num(w), mo("−"), eta, mo("·"), g_term]),
            res(w_new),
        ])],
        OptimizerKind::Momentum => {
            let v0 = p.state_before.first().map(|m| m.values[element]).unwrap_or(0.0);
            let v1 = p.state_after.first().map(|m| m.values[element]).unwrap_or(g_eff);
            let mu = mn(&sig(c.momentum));
            vec![
                eq(&[mi("v′"), row(&[mi("μ"), mo("·"), mi("v"), mo("+"), mi("g")]), row(&[mu, mo("·"), num(v0), mo("+"), g_term]), res(v1)]),
                eq(&[name_new, row(&[name, mo("−"), mi("η"), mo("·"), mi("v′")]), row(&[num(w), mo("−"), eta, mo("·"), num(v1)]), res(w_new)]),
            ]
        }
        OptimizerKind::Adam => {
            let slot = |s: &Vec<super::Matrix>, i: usize| s.get(i).map(|m| m.values[element]).unwrap_or(0.0);
            let (m0, v0) = (slot(&p.state_before, 0), slot(&p.state_before, 1));
            let (m1, v1) = (slot(&p.state_after, 0), slot(&p.state_after, 1));
            let t = trace.t as i32;
            let (bc1, bc2) = (1.0 - c.beta1.powi(t), 1.0 - c.beta2.powi(t));
            let (m_hat, v_hat) = (m1 / bc1, v1 / bc2);
            let b1 = mn(&sig(c.beta1));
            let b2 = mn(&sig(c.beta2));
            let one_minus = |b: f64| mn(&sig(1.0 - b));
            let tt = mn(&t.to_string());
            let mut lines = vec![
                eq(&[mi("m′"), row(&[mi("β₁"), mi("m"), mo("+"), paren(&row(&[mn("1"), mo("−"), mi("β₁")])), mi("g")]), row(&[b1.clone(), mo("·"), num(m0), mo("+"), one_minus(c.beta1), mo("·"), num(g)]), res(m1)]),
                eq(&[mi("v′"), row(&[mi("β₂"), mi("v"), mo("+"), paren(&row(&[mn("1"), mo("−"), mi("β₂")])), sup(&mi("g"), &mn("2"))]), row(&[b2.clone(), mo("·"), num(v0), mo("+"), one_minus(c.beta2), mo("·"), sup(&num(g), &mn("2"))]), res(v1)]),
                eq(&[mi("m̂"), frac(&mi("m′"), &row(&[mn("1"), mo("−"), sup(&mi("β₁"), &mi("t"))])), frac(&num(m1), &row(&[mn("1"), mo("−"), sup(&b1, &tt)])), res(m_hat)]),
                eq(&[mi("v̂"), frac(&mi("v′"), &row(&[mn("1"), mo("−"), sup(&mi("β₂"), &mi("t"))])), frac(&num(v1), &row(&[mn("1"), mo("−"), sup(&b2, &tt)])), res(v_hat)]),
            ];
            let step_sym = frac(&mi("m̂"), &row(&[msqrt(&mi("v̂")), mo("+"), mi("ε")]));
            let step_num = frac(&num(m_hat), &row(&[msqrt(&num(v_hat)), mo("+"), mn(&sig(c.eps))]));
            let (sym, nums) = if decay {
                (row(&[name, mo("−"), mi("η"), paren(&row(&[step_sym, mo("+"), mi("λ"), mi("w")]))]), row(&[num(w), mo("−"), eta, paren(&row(&[step_num, mo("+"), mn(&sig(c.weight_decay)), mo("·"), num(w)]))]))
            } else {
                (row(&[name, mo("−"), mi("η"), step_sym]), row(&[num(w), mo("−"), eta, mo("·"), step_num]))
            };
            lines.push(eq(&[name_new, sym, nums, res(w_new)]));
            lines
        }
    }
}

/// `"r,c"` of a flat index.
pub fn index_of(m: &Matrix, element: usize) -> String {
    format!("{},{}", element / m.cols.max(1), element % m.cols.max(1))
}
