//! Every op's backward rule against central finite differences (f64) and against burn-autodiff
//! (our independent oracle) on random shapes that are not multiples of 4 or 64.

use burn::tensor::Device;
use gradlab::engine::{Leaf, Op, Precision, Rng, Stream, T, Tape, block_on, read_f64, tensor_f64};

/// A test input: values, shape, and whether a gradient is checked for it.
struct Input {
    values: Vec<f64>,
    shape: [usize; 2],
    checked: bool,
}

fn upload(values: &[f64], shape: [usize; 2], device: &Device) -> T {
    tensor_f64(values, shape, device, Precision::F64)
}

fn values(t: &T) -> Vec<f64> {
    block_on(read_f64(t)).unwrap()
}

/// L(inputs) = Σ op(inputs) ⊙ R for a fixed random R: ∂L/∂output = R.
fn weighted_output(op: Op, inputs: &[Input], r: &[f64], device: &Device) -> f64 {
    let ts: Vec<T> = inputs.iter().map(|i| upload(&i.values, i.shape, device)).collect();
    let refs: Vec<&T> = ts.iter().collect();
    values(&op.forward(&refs)).iter().zip(r).map(|(a, b)| a * b).sum()
}

/// Checks `op`'s backward against finite differences and burn-autodiff.
fn check(op: Op, inputs: Vec<Input>, rng: &mut Rng) {
    let cpu = Device::flex();
    let ts: Vec<T> = inputs.iter().map(|i| upload(&i.values, i.shape, &cpu)).collect();
    let refs: Vec<&T> = ts.iter().collect();
    let out = op.forward(&refs);
    let [orow, ocol] = out.dims();
    let r: Vec<f64> = (0..orow * ocol).map(|_| rng.range(-1.0, 1.0)).collect();
    let ours = op.backward(&refs, &out, &upload(&r, [orow, ocol], &cpu));

    // burn-autodiff on the same forward computation.
    let ad = Device::flex().autodiff();
    let leaves: Vec<T> = inputs.iter().map(|i| upload(&i.values, i.shape, &ad).require_grad()).collect();
    let leaf_refs: Vec<&T> = leaves.iter().collect();
    let weighted = op.forward(&leaf_refs).mul(upload(&r, [orow, ocol], &ad)).sum();
    let grads = weighted.backward();

    for (k, input) in inputs.iter().enumerate() {
        if !input.checked {
            continue;
        }
        let g = values(ours[k].as_ref().unwrap_or_else(|| panic!("{}: no gradient for input {k}", op.name())));
        assert_eq!(g.len(), input.values.len(), "{}: gradient {k} has the wrong size", op.name());
        let oracle = values(&leaves[k].grad(&grads).expect("burn-autodiff gradient"));
        for j in 0..g.len() {
            let h = 1e-6;
            let mut plus: Vec<Input> = inputs.iter().map(|i| Input { values: i.values.clone(), ..*i }).collect();
            plus[k].values[j] += h;
            let mut minus: Vec<Input> = inputs.iter().map(|i| Input { values: i.values.clone(), ..*i }).collect();
            minus[k].values[j] -= h;
            let fd = (weighted_output(op, &plus, &r, &cpu) - weighted_output(op, &minus, &r, &cpu)) / (2.0 * h);
            let scale = g[j].abs().max(fd.abs()).max(1e-3);
            assert!((g[j] - fd).abs() / scale < 1e-5, "{} input {k}[{j}]: ours {} vs finite difference {fd}", op.name(), g[j]);
            assert!(
                (g[j] - oracle[j]).abs() / scale < 1e-9,
                "{} input {k}[{j}]: ours {} vs burn-autodiff {}",
                op.name(),
                g[j],
                oracle[j]
            );
        }
    }
}

/// An odd size, never a multiple of 4.
fn size(rng: &mut Rng) -> usize {
    [1, 2, 3, 5, 6, 7, 9, 11, 13][rng.below(9)]
}

/// Values away from 0 (kinks of ReLU, |x|, sign).
fn away_from_zero(n: usize, rng: &mut Rng) -> Vec<f64> {
    (0..n).map(|_| {
        let v = rng.range(0.1, 2.0);
        if rng.uniform() < 0.5 { -v } else { v }
    })
    .collect()
}

fn free(shape: [usize; 2], rng: &mut Rng) -> Input {
    Input { values: (0..shape[0] * shape[1]).map(|_| rng.range(-2.0, 2.0)).collect(), shape, checked: true }
}

fn kinked(shape: [usize; 2], rng: &mut Rng) -> Input {
    Input { values: away_from_zero(shape[0] * shape[1], rng), shape, checked: true }
}

fn constant(values: Vec<f64>, shape: [usize; 2]) -> Input {
    Input { values, shape, checked: false }
}

fn one_hot(rows: usize, cols: usize, rng: &mut Rng) -> Vec<f64> {
    (0..rows).flat_map(|_| {
        let c = rng.below(cols);
        (0..cols).map(move |j| if j == c { 1.0 } else { 0.0 })
    })
    .collect()
}

#[test]
fn every_op_matches_finite_differences_and_burn_autodiff() {
    let mut rng = Rng::new(2024, Stream::Data);
    for round in 0..3 {
        let (m, k, n) = (size(&mut rng), size(&mut rng), size(&mut rng));
        let r = &mut rng;
        check(Op::MatMul, vec![free([m, k], r), free([k, n], r)], r);
        check(Op::Add, vec![free([m, n], r), free([m, n], r)], r);
        check(Op::Add, vec![free([m, n], r), free([1, n], r)], r);
        check(Op::Add, vec![free([m, n], r), free([1, 1], r)], r);
        check(Op::Mul, vec![free([m, n], r), free([m, n], r)], r);
        check(Op::Mul, vec![free([m, n], r), free([1, n], r)], r);
        // Broadcast on the first input too (it used to get the full-shape gradient), and columns.
        check(Op::Add, vec![free([1, n], r), free([m, n], r)], r);
        check(Op::Add, vec![free([1, 1], r), free([m, n], r)], r);
        check(Op::Add, vec![free([m, 1], r), free([m, n], r)], r);
        check(Op::Mul, vec![free([1, n], r), free([m, n], r)], r);
        check(Op::Mul, vec![free([m, n], r), free([m, 1], r)], r);
        // Both broadcast: a row and a column make a matrix.
        check(Op::Add, vec![free([1, n], r), free([m, 1], r)], r);
        check(Op::Mul, vec![free([1, n], r), free([m, 1], r)], r);
        check(Op::Sum, vec![free([m, n], r)], r);
        check(Op::Mean, vec![free([m, n], r)], r);
        check(Op::Relu, vec![kinked([m, n], r)], r);
        check(Op::LeakyRelu { slope: 0.01 }, vec![kinked([m, n], r)], r);
        check(Op::Sigmoid, vec![free([m, n], r)], r);
        check(Op::Tanh, vec![free([m, n], r)], r);
        check(Op::Identity, vec![free([m, n], r)], r);
        check(Op::Softmax, vec![free([m, n], r)], r);
        check(Op::LogSoftmax, vec![free([m, n], r)], r);
        check(Op::Mse, vec![free([m, n], r), free([m, n], r)], r);
        let targets = one_hot(m, n.max(2), r);
        check(Op::SoftmaxCrossEntropy, vec![free([m, n.max(2)], r), constant(targets, [m, n.max(2)])], r);
        // Targets whose rows do not sum to 1 (the gradient used to assume they did).
        let loose: Vec<f64> = (0..m * n.max(2)).map(|_| r.range(0.0, 0.7)).collect();
        check(Op::SoftmaxCrossEntropy, vec![free([m, n.max(2)], r), constant(loose, [m, n.max(2)])], r);
        let soft: Vec<f64> = (0..m * n).map(|_| r.uniform()).collect();
        check(Op::BceWithLogits, vec![free([m, n], r), constant(soft, [m, n])], r);
        let mask: Vec<f64> = (0..m * n).map(|_| if r.uniform() < 0.3 { 0.0 } else { 1.0 }).collect();
        check(Op::Dropout { rate: 0.3 }, vec![free([m, n], r), constant(mask, [m, n])], r);
        check(Op::L1 { rate: 0.01 }, vec![kinked([m, n], r)], r);
        check(Op::L2 { rate: 0.03 }, vec![free([m, n], r)], r);
        if round == 0 {
            // One shape just past a workgroup multiple.
            check(Op::MatMul, vec![free([65, 3], r), free([3, 67], r)], r);
        }
    }
}

/// Loss forward values against plain f64 formulas (the gradients above check consistency with
/// the forward; these check the forward itself).
#[test]
fn loss_forwards_equal_their_textbook_formulas() {
    let cpu = Device::flex();
    let z = [2.0, -1.0, 0.5, 30.0, -30.0, 0.0];
    let y = [1.0, 0.0, 1.0, 0.0, 1.0, 0.5];
    let t = |v: &[f64], s| upload(v, s, &cpu);
    let bce = values(&Op::BceWithLogits.forward(&[&t(&z, [6, 1]), &t(&y, [6, 1])]))[0];
    let expected: f64 = z
        .iter()
        .zip(&y)
        .map(|(&z, &y)| {
            // −[y log σ(z) + (1−y) log(1−σ(z))] with log σ(z) = −ln(1+e^(−z)), log(1−σ(z)) = −ln(1+e^z).
            y * (-z).exp().ln_1p() + (1.0 - y) * z.exp().ln_1p()
        })
        .sum::<f64>()
        / 6.0;
    assert!((bce - expected).abs() < 1e-9, "BCE {bce} vs {expected}");

    let logits = [1.0, 2.0, 3.0, 1000.0, 0.0, -1000.0];
    let onehot = [0.0, 0.0, 1.0, 1.0, 0.0, 0.0];
    let ce = values(&Op::SoftmaxCrossEntropy.forward(&[&t(&logits, [2, 3]), &t(&onehot, [2, 3])]))[0];
    let row0 = -(3.0 - (1f64.exp() + 2f64.exp() + 3f64.exp()).ln());
    assert!((ce - row0 / 2.0).abs() < 1e-9, "CE {ce} (a huge logit must not overflow)");

    let mse = values(&Op::Mse.forward(&[&t(&[1.0, 2.0], [2, 1]), &t(&[0.0, 4.0], [2, 1])]))[0];
    assert!((mse - 0.5 * (1.0 + 4.0) / 2.0).abs() < 1e-12);

    let sm = values(&Op::Softmax.forward(&[&t(&logits, [2, 3])]));
    assert!((sm[0] + sm[1] + sm[2] - 1.0).abs() < 1e-12 && (sm[3] - 1.0).abs() < 1e-12);
}

/// A whole step of a small network: the tape's parameter gradients against burn-autodiff running
/// the same forward, and against finite differences of the total loss (f64).
#[test]
fn network_gradients_match_burn_autodiff_and_finite_differences() {
    use gradlab::models::{Activation, Mlp};
    use gradlab::train::Head;

    let mut rng = Rng::new(99, Stream::Data);
    let cases: [(&[usize], &[Activation], Head); 3] = [
        (&[3, 5, 7, 1], &[Activation::Tanh, Activation::Sigmoid], Head::Sigmoid),
        (&[2, 6, 3], &[Activation::LeakyRelu], Head::Softmax(3)),
        (&[5, 3, 1], &[Activation::Linear], Head::TanhMse),
    ];
    for (sizes, acts, head) in cases {
        let cpu = Device::flex();
        let model = Mlp::init(sizes, acts, 5, &cpu, Precision::F64);
        let rows = 7;
        let x: Vec<f64> = (0..rows * sizes[0]).map(|_| rng.range(-2.0, 2.0)).collect();
        let width = *sizes.last().unwrap();
        let y: Vec<f64> = match head {
            Head::Softmax(k) => one_hot(rows, k, &mut rng),
            Head::TanhMse => (0..rows).map(|_| if rng.uniform() < 0.5 { -1.0 } else { 1.0 }).collect(),
            _ => (0..rows).map(|_| if rng.uniform() < 0.5 { 0.0 } else { 1.0 }).collect(),
        };
        let loss_of = |model: &Mlp, device: &Device| -> (Tape, gradlab::models::MlpNodes, usize) {
            let mut tape = Tape::new();
            let xn = tape.leaf(Leaf::Input, "x", upload(&x, [rows, sizes[0]], device));
            let yn = tape.leaf(Leaf::Constant, "y", upload(&y, [rows, width], device));
            let nodes = model.forward(&mut tape, xn, None);
            let l = head.loss(&mut tape, nodes.output, yn);
            let p = tape.apply(Op::L2 { rate: 0.01 }, &[nodes.params[0]], "penalty");
            let total = tape.apply(Op::Add, &[l, p], "total");
            (tape, nodes, total)
        };
        let (mut tape, nodes, total) = loss_of(&model, &cpu);
        tape.backward(total);

        // burn-autodiff: same forward on autodiff tensors.
        let ad = Device::flex().autodiff();
        let mut ad_model = model.clone();
        ad_model.params = model.params.iter().map(|p| upload(&values(p), p.dims(), &ad).require_grad()).collect();
        let (ad_tape, _, ad_total) = loss_of(&ad_model, &ad);
        let grads = ad_tape.value(ad_total).backward();

        for (i, name) in model.names().iter().enumerate() {
            let ours = values(tape.grad(nodes.params[i]).expect("parameter gradient"));
            let oracle = values(&ad_model.params[i].grad(&grads).expect("oracle gradient"));
            let base = values(&model.params[i]);
            for j in 0..ours.len() {
                assert!((ours[j] - oracle[j]).abs() < 1e-9 * ours[j].abs().max(1.0), "{name}[{j}]: {} vs autodiff {}", ours[j], oracle[j]);
                let h = 1e-6;
                let shifted = |d: f64| {
                    let mut m = model.clone();
                    let mut v = base.clone();
                    v[j] += d;
                    m.params[i] = upload(&v, model.params[i].dims(), &cpu);
                    let (t, _, l) = loss_of(&m, &cpu);
                    values(t.value(l))[0]
                };
                let fd = (shifted(h) - shifted(-h)) / (2.0 * h);
                assert!((ours[j] - fd).abs() < 1e-6 * ours[j].abs().max(1e-2), "{name}[{j}]: {} vs finite difference {fd}", ours[j]);
            }
        }
    }
}

/// A value used twice accumulates both gradients (y = x·x via Mul, and x feeding two branches).
#[test]
fn gradients_accumulate_over_every_use() {
    let cpu = Device::flex();
    let mut tape = Tape::new();
    let x = tape.leaf(Leaf::Param, "x", upload(&[3.0], [1, 1], &cpu));
    let sq = tape.apply(Op::Mul, &[x, x], "x²");
    let t = tape.apply(Op::Tanh, &[x], "tanh x");
    let y = tape.apply(Op::Add, &[sq, t], "y");
    tape.backward(y);
    let g = values(tape.grad(x).unwrap())[0];
    let expected = 2.0 * 3.0 + (1.0 - 3f64.tanh().powi(2));
    assert!((g - expected).abs() < 1e-12, "{g} vs {expected}");
    // Every op on the way kept what it passed down, for the step-by-step view.
    assert_eq!(tape.node(sq).input_grads.len(), 2);
    assert!(tape.node(y).input_grads.iter().all(Option::is_some));
}
