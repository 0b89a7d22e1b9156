//! The backward formulas: for each input of a node that gets a gradient, `∂L/∂input` at the focus
//! element as upstream × local = passed on, with the traced numbers substituted.

use super::*;

/// The backward formulas of node `id`: for each input that gets a gradient, `∂L/∂input` at the
/// focus element (clamped to that input's shape) as upstream × local = passed on, with numbers.
pub fn backward(trace: &Trace, id: usize, focus: (usize, usize)) -> Vec<String> {
    let node = &trace.nodes[id];
    let Some(g) = node.grad.as_ref() else { return vec![] };
    let y = &node.value;
    // The local factors' values are `local_derivatives`'; this only writes them out.
    let locals = super::super::local_derivatives(trace, id);
    let local_at = |k: usize, r: usize, c: usize| match &locals[k] {
        Local::Elementwise(m) => m.broadcast_at(r, c),
        other => unreachable!("{} has an elementwise local derivative, not {other:?}", node.op.name()),
    };
    let mut out = Vec::new();
    for (k, passed) in node.input_grads.iter().enumerate() {
        let Some(passed) = passed else { continue };
        let input = &trace.nodes[node.inputs[k]];
        let xm = &input.value;
        let (r, c) = clamp(xm, focus);
        let lhs = d(&input.label, xm, r, c);
        let result = res(passed.at(r, c));
        let up = |rr: usize, cc: usize| num(g.at(rr, cc));
        let dy = |rr: usize, cc: usize| d(&node.label, y, rr, cc);
        let line = match node.op {
            Op::Leaf(_) => continue,
            Op::MatMul => {
                let other = &trace.nodes[node.inputs[1 - k]];
                let om = &other.value;
                if k == 0 {
                    // ∂L/∂A[r,c] = Σ_j ∂L/∂Y[r,j] · B[c,j]
                    let terms = (0..g.cols).map(|j| times(up(r, j), num(om.at(c, j)))).collect();
                    eq(&[lhs, row(&[sum_over("j"), dy_j(&node.label, true, r), mo("·"), idx(&other.label, &c.to_string(), "j")]), join(terms, "+"), result])
                } else {
                    // ∂L/∂B[r,c] = Σ_i A[i,r] · ∂L/∂Y[i,c]
                    let terms = (0..g.rows).map(|i| times(num(om.at(i, r)), up(i, c))).collect();
                    eq(&[lhs, row(&[sum_over("i"), idx(&other.label, "i", &r.to_string()), mo("·"), dy_j(&node.label, false, c)]), join(terms, "+"), result])
                }
            }
            Op::Add | Op::Mul => {
                let broadcast_rows = xm.rows == 1 && g.rows > 1;
                let broadcast_cols = xm.cols == 1 && g.cols > 1;
                let cells: Vec<(usize, usize)> = (0..g.rows)
                    .filter(|&i| if broadcast_rows { true } else { i == r })
                    .flat_map(|i| (0..g.cols).filter(move |&j| if broadcast_cols { true } else { j == c }).map(move |j| (i, j)))
                    .collect();
                let factor = |i: usize, j: usize| -> Option<f64> {
                    (node.op == Op::Mul).then(|| trace.nodes[node.inputs[1 - k]].value.broadcast_at(i, j))
                };
                let terms: Vec<String> = cells
                    .iter()
                    .map(|&(i, j)| match factor(i, j) {
                        Some(f) => times(up(i, j), num(f)),
                        None => up(i, j),
                    })
                    .collect();
                let sym = if cells.len() > 1 {
                    row(&[sum_over("broadcast"), dy(r, c), if node.op == Op::Mul { mtext(" · other") } else { String::new() }])
                } else if node.op == Op::Mul {
                    row(&[dy(r, c), mo("·"), at(&trace.nodes[node.inputs[1 - k]].label, &trace.nodes[node.inputs[1 - k]].value, r, c)])
                } else {
                    row(&[dy(r, c), mo("·"), mn("1")])
                };
                eq(&[lhs, sym, join(terms, "+"), result])
            }
            Op::Sum | Op::Mean => {
                eq(&[lhs, row(&[dy(0, 0), mo("·"), if node.op == Op::Sum { mn("1") } else { frac(&mn("1"), &mn(&xm.len().to_string())) }]), times(up(0, 0), num(local_at(k, r, c))), result])
            }
            Op::Relu | Op::LeakyRelu { .. } | Op::Sigmoid | Op::Tanh | Op::Identity | Op::Dropout { .. } => {
                let x = xm.at(r, c);
                let yv = y.at(r, c);
                let ys = at(&node.label, y, r, c);
                let local = local_at(k, r, c);
                let (sym_local, num_local) = match node.op {
                    Op::Relu => (row(&[mo("["), at(&input.label, xm, r, c), mo(">"), mn("0"), mo("]")]), row(&[mo("["), num(x), mo(">"), mn("0"), mo("]")])),
                    Op::LeakyRelu { .. } => (row(&[mtext(if x > 0.0 { "1 (input > 0)" } else { "α (input ≤ 0)" })]), num(local)),
                    Op::Sigmoid => (row(&[ys.clone(), paren(&row(&[mn("1"), mo("−"), ys]))]), row(&[num(yv), paren(&row(&[mn("1"), mo("−"), num(yv)]))])),
                    Op::Tanh => (row(&[paren(&row(&[mn("1"), mo("−"), sup(&ys, &mn("2"))]))]), paren(&row(&[mn("1"), mo("−"), sup(&num(yv), &mn("2"))]))),
                    Op::Dropout { rate } => {
                        let mask = trace.nodes[node.inputs[1]].value.at(r, c);
                        (frac(&mi("mask"), &row(&[mn("1"), mo("−"), mi("p")])), frac(&num(mask), &mn(&sig(1.0 - rate as f64))))
                    }
                    _ => (mn("1"), mn("1")),
                };
                eq(&[lhs, row(&[dy(r, c), mo("·"), sym_local]), row(&[up(r, c), mo("·"), num_local]), times(up(r, c), num(local)), result])
            }
            Op::Softmax => {
                let s = y.row(r);
                let gr = g.row(r);
                let dot: f64 = s.iter().zip(gr).map(|(a, b)| a * b).sum();
                eq(&[lhs, row(&[at(&node.label, y, r, c), paren(&row(&[dy(r, c), mo("−"), sum_over("j"), mi("g"), mi("y")]))]), row(&[num(y.at(r, c)), paren(&row(&[up(r, c), mo("−"), num(dot)]))]), result])
            }
            Op::LogSoftmax => {
                let sum: f64 = g.row(r).iter().sum();
                let s = y.at(r, c).exp();
                eq(&[lhs, row(&[dy(r, c), mo("−"), mi("softmax"), mo("·"), sum_over("j"), mi("g")]), row(&[up(r, c), mo("−"), num(s), mo("·"), num(sum)]), result])
            }
            Op::Mse => {
                let t = &trace.nodes[node.inputs[1 - k]].value;
                let n = xm.len();
                let (p, q) = if k == 0 { (xm.at(r, c), t.at(r, c)) } else { (t.at(r, c), xm.at(r, c)) };
                let diff = row(&[num(p), mo("−"), num(q)]);
                let sign = if k == 0 { String::new() } else { mo("−") };
                eq(&[lhs, row(&[sign.clone(), dy(0, 0), mo("·"), frac(&row(&[mi("ŷ"), mo("−"), mi("y")]), &mn(&n.to_string()))]), row(&[sign, up(0, 0), mo("·"), frac(&paren(&diff), &mn(&n.to_string()))]), result])
            }
            Op::SoftmaxCrossEntropy => {
                let t = &trace.nodes[node.inputs[1]].value;
                let xs = xm.row(r);
                let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = xs.iter().map(|v| (v - max).exp()).sum();
                let s = (xm.at(r, c) - max).exp() / z;
                let m = xm.rows.to_string();
                // Targets whose row sums to 1 (one-hot) give softmax − y; others softmax·Σy − y.
                let mass: f64 = t.row(r).iter().sum();
                // f32 targets that sum to 1 (one-hot, label smoothing) are off by ~1e-7 at most.
                let (symbol, value) = if (mass - 1.0).abs() < 1e-6 {
                    (row(&[mi("softmax"), mo("−"), mi("y")]), row(&[num(s), mo("−"), num(t.at(r, c))]))
                } else {
                    (
                        row(&[mi("softmax"), mo("·"), mo("∑"), mi("y"), mo("−"), mi("y")]),
                        row(&[num(s), mo("·"), num(mass), mo("−"), num(t.at(r, c))]),
                    )
                };
                eq(&[lhs, row(&[dy(0, 0), mo("·"), frac(&symbol, &mn(&m))]), row(&[up(0, 0), mo("·"), frac(&paren(&value), &mn(&m))]), result])
            }
            Op::BceWithLogits => {
                let t = &trace.nodes[node.inputs[1]].value;
                let z = xm.at(r, c);
                let s = 1.0 / (1.0 + (-z).exp());
                let n = xm.len().to_string();
                eq(&[lhs, row(&[dy(0, 0), mo("·"), frac(&row(&[mi("σ"), paren(&mi("z")), mo("−"), mi("y")]), &mn(&n))]), row(&[up(0, 0), mo("·"), frac(&paren(&row(&[num(s), mo("−"), num(t.at(r, c))])), &mn(&n))]), result])
            }
            Op::L1 { .. } | Op::L2 { .. } => {
                let sym = match node.op {
                    Op::L1 { .. } => row(&[mi("λ"), mo("·"), mi("sign"), paren(&at(&input.label, xm, r, c))]),
                    _ => row(&[mi("λ"), mo("·"), at(&input.label, xm, r, c)]),
                };
                eq(&[lhs, row(&[dy(0, 0), mo("·"), sym]), times(up(0, 0), num(local_at(k, r, c))), result])
            }
            Op::Gelu | Op::Reshape { .. } | Op::Permute { .. } | Op::Conv2d { .. } | Op::MaxPool2d { .. } | Op::MaskedFill { .. } | Op::StopGradient | Op::Linear | Op::BatchNorm2d { .. } | Op::Embedding | Op::LayerNorm { .. } | Op::Slice { .. } | Op::Concat { .. } => {
                eq(&[lhs, mtext(node.op.formula().backward), result])
            }
        };
        out.push(line);
    }
    out
}

/// `∂L/∂Y[r,j]` (row fixed) or `∂L/∂Y[i,c]` (column fixed).
fn dy_j(label: &str, row_fixed: bool, k: usize) -> String {
    let index = if row_fixed { idx(label, &k.to_string(), "j") } else { idx(label, "i", &k.to_string()) };
    frac(&row(&[mi("∂"), mi("L")]), &row(&[mi("∂"), index]))
}
