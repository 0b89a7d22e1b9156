//! Every op's backward rule against central finite differences (f64) and against burn-autodiff
//! (our independent oracle) on random shapes that are not multiples of 4 or 64.

use burn::tensor::Device;
use gradlab::engine::{HostArg, Leaf, Op, Precision, Rng, Shape, Stats, Stream, T, Tape, WeightGradient, block_on, read_f64, tensor_f64};

/// A test input: values, shape, and whether a gradient is checked for it.
struct Input {
    values: Vec<f64>,
    shape: Shape,
    checked: bool,
}

fn upload(values: &[f64], shape: impl Into<Shape>, device: &Device) -> T {
    tensor_f64(values, shape, device, Precision::F64)
}

fn values(t: &T) -> Vec<f64> {
    block_on(read_f64(t)).unwrap()
}

/// L(inputs) = Σ op(inputs) ⊙ R for a fixed random R: ∂L/∂output = R.
fn weighted_output(op: Op, inputs: &[Input], r: &[f64], device: &Device) -> f64 {
    let ts: Vec<T> = inputs.iter().map(|i| upload(&i.values, i.shape, device)).collect();
    let refs: Vec<&T> = ts.iter().collect();
    values(&op.forward(&refs).0).iter().zip(r).map(|(a, b)| a * b).sum()
}

/// Checks `op`'s backward against finite differences and burn-autodiff, and its output's stored
/// dimensions against the shape it declares.
fn check(op: Op, inputs: Vec<Input>, rng: &mut Rng) {
    let cpu = Device::flex();
    let ts: Vec<T> = inputs.iter().map(|i| upload(&i.values, i.shape, &cpu)).collect();
    let refs: Vec<&T> = ts.iter().collect();
    let shapes: Vec<Shape> = inputs.iter().map(|i| i.shape).collect();
    let out_shape = op.shape(&shapes).unwrap_or_else(|e| panic!("{e}"));
    let (out, saved) = op.forward(&refs);
    assert_eq!(out.dims(), out_shape.storage(), "{}: declared {out_shape}", op.name());
    let r: Vec<f64> = (0..out_shape.numel()).map(|_| rng.range(-1.0, 1.0)).collect();
    let wanted = vec![true; inputs.len()];
    let ours = op.backward(&refs, &out, &saved, &upload(&r, out_shape, &cpu), &wanted);

    // burn-autodiff on the same forward computation.
    let ad = Device::flex().autodiff();
    let leaves: Vec<T> = inputs.iter().map(|i| upload(&i.values, i.shape, &ad).require_grad()).collect();
    let leaf_refs: Vec<&T> = leaves.iter().collect();
    let weighted = op.forward(&leaf_refs).0.mul(upload(&r, out_shape, &ad)).sum();
    let grads = weighted.backward();

    // The host kernel, where the op has one for these shapes: its forward equals burn's, and its
    // gradients are checked below like ours.
    let host = op.host_support(&shapes).is_ok().then(|| {
        let args: Vec<HostArg<'_, f64>> = inputs.iter().map(|i| HostArg { values: &i.values, shape: i.shape }).collect();
        let mut forward = vec![0.0; out_shape.numel()];
        op.forward_host(&args, &mut forward);
        for (j, (a, b)) in forward.iter().zip(values(&out)).enumerate() {
            assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{} {out_shape} host forward [{j}]: {a} vs burn {b}", op.name());
        }
        let mut buffers: Vec<Vec<f64>> = inputs.iter().map(|i| vec![f64::NAN; i.values.len()]).collect();
        let mut outs: Vec<&mut [f64]> = buffers.iter_mut().map(|b| b.as_mut_slice()).collect();
        let wanted: Vec<bool> = inputs.iter().enumerate().map(|(k, i)| i.checked && op.differentiable_input(k)).collect();
        op.backward_host(&args, &forward, &r, &wanted, &mut outs);
        buffers
    });

    for (k, input) in inputs.iter().enumerate() {
        if !input.checked {
            continue;
        }
        let g = values(ours[k].as_ref().unwrap_or_else(|| panic!("{}: no gradient for input {k}", op.name())));
        assert_eq!(g.len(), input.values.len(), "{}: gradient {k} has the wrong size", op.name());
        let oracle = values(&leaves[k].grad(&grads).expect("burn-autodiff gradient"));
        let host_grad = host.as_ref().map(|h| &h[k]);
        for j in 0..g.len() {
            let h = 1e-6;
            let mut plus: Vec<Input> = inputs.iter().map(|i| Input { values: i.values.clone(), ..*i }).collect();
            plus[k].values[j] += h;
            let mut minus: Vec<Input> = inputs.iter().map(|i| Input { values: i.values.clone(), ..*i }).collect();
            minus[k].values[j] -= h;
            let fd = (weighted_output(op, &plus, &r, &cpu) - weighted_output(op, &minus, &r, &cpu)) / (2.0 * h);
            let scale = g[j].abs().max(fd.abs()).max(1e-3);
            assert!((g[j] - fd).abs() / scale < 1e-5, "{} {out_shape} input {k}[{j}]: ours {} vs finite difference {fd}", op.name(), g[j]);
            if let Some(h) = host_grad {
                assert!((h[j] - fd).abs() / scale < 1e-5, "{} {out_shape} input {k}[{j}]: host {} vs finite difference {fd}", op.name(), h[j]);
                assert!((h[j] - g[j]).abs() / scale < 1e-12, "{} {out_shape} input {k}[{j}]: host {} vs burn path {}", op.name(), h[j], g[j]);
            }
            // burn-autodiff loses digits on batch norm's chain (≈ 1e-8 relative; ours agrees with a
            // fourth-order finite difference to ≈ 1e-12: `batch_norm_matches_a_fourth_order_difference`).
            let tolerance = if matches!(op, Op::BatchNorm2d { .. }) { 1e-6 } else { 1e-9 };
            assert!(
                (g[j] - oracle[j]).abs() / scale < tolerance,
                "{op:?} input {k}[{j}]: ours {} vs burn-autodiff {}",
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

fn free(shape: impl Into<Shape>, rng: &mut Rng) -> Input {
    let shape = shape.into();
    Input { values: (0..shape.numel()).map(|_| rng.range(-2.0, 2.0)).collect(), shape, checked: true }
}

fn kinked(shape: impl Into<Shape>, rng: &mut Rng) -> Input {
    let shape = shape.into();
    Input { values: away_from_zero(shape.numel(), rng), shape, checked: true }
}

fn constant(values: Vec<f64>, shape: impl Into<Shape>) -> Input {
    Input { values, shape: shape.into(), checked: false }
}

fn one_hot(rows: usize, cols: usize, rng: &mut Rng) -> Vec<f64> {
    (0..rows).flat_map(|_| {
        let c = rng.below(cols);
        (0..cols).map(move |j| if j == c { 1.0 } else { 0.0 })
    })
    .collect()
}

fn mask(n: usize, rate: f64, rng: &mut Rng) -> Vec<f64> {
    (0..n).map(|_| if rng.uniform() < rate { 0.0 } else { 1.0 }).collect()
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

/// The host kernels cover the playground's op set, so `check` above compared them (a kernel that
/// silently declined would prove nothing), and decline, saying why, what they do not cover.
#[test]
fn host_kernels_cover_the_playground_ops_and_name_what_they_do_not() {
    let (m, n) = (Shape::new(&[5, 3]), Shape::new(&[3, 7]));
    let row = Shape::new(&[1, 7]);
    let out = Shape::new(&[5, 7]);
    let covered = [
        (Op::MatMul, vec![m, n]),
        (Op::Add, vec![out, row]),
        (Op::Add, vec![out, Shape::new(&[1, 1])]),
        (Op::Add, vec![Shape::scalar(), Shape::scalar()]),
        (Op::Mul, vec![out, out]),
        (Op::Sum, vec![out]),
        (Op::Mean, vec![out]),
        (Op::Relu, vec![out]),
        (Op::LeakyRelu { slope: 0.01 }, vec![out]),
        (Op::Sigmoid, vec![out]),
        (Op::Tanh, vec![out]),
        (Op::Identity, vec![out]),
        (Op::Mse, vec![out, out]),
        (Op::SoftmaxCrossEntropy, vec![out, out]),
        (Op::BceWithLogits, vec![out, out]),
        (Op::Dropout { rate: 0.5 }, vec![out, out]),
        (Op::L1 { rate: 0.1 }, vec![out]),
        (Op::L2 { rate: 0.1 }, vec![out]),
    ];
    for (op, shapes) in covered {
        assert_eq!(op.host_support(&shapes), Ok(()), "{op:?} on {shapes:?}");
    }
    assert_eq!(Op::Add.host_support(&[row, out]), Err("a broadcast other than the second input repeated"));
    assert_eq!(Op::Add.host_support(&[out, Shape::new(&[5, 1])]), Err("a broadcast other than the second input repeated"));
    assert_eq!(Op::MatMul.host_support(&[Shape::new(&[2, 5, 3]), n]), Err("a batched matmul"));
    assert_eq!(Op::Conv2d { stride: 1, padding: 0 }.host_support(&[Shape::new(&[1, 1, 5, 5]); 3]), Err("an op without a host kernel"));
}

/// NaN goes through the host kernels as through burn's: a diverged layer never looks finite, and
/// its gradient is not silently zeroed.
#[test]
fn host_kernels_pass_nan_on_as_burn_does() {
    let shape = Shape::new(&[1, 3]);
    let x = [f32::NAN, -1.0, 2.0];
    let arg = [HostArg { values: &x[..], shape }];
    for op in [Op::Relu, Op::LeakyRelu { slope: 0.01 }, Op::Sigmoid, Op::Tanh] {
        let mut out = [0.0f32; 3];
        op.forward_host(&arg, &mut out);
        assert!(out[0].is_nan(), "{op:?} forward turned NaN into {}", out[0]);
        let mut dx = [0.0f32; 3];
        op.backward_host(&arg, &out, &[1.0, 1.0, 1.0], &[true], &mut [&mut dx[..]]);
        let cpu = Device::flex();
        let t = tensor_f64(&[f64::NAN, -1.0, 2.0], shape, &cpu, Precision::F32);
        let (y, saved) = op.forward(&[&t]);
        let burn = values(op.backward(&[&t], &y, &saved, &y.ones_like(), &[true])[0].as_ref().unwrap());
        assert_eq!(dx[0].is_nan(), burn[0].is_nan(), "{op:?} backward at NaN: host {} vs burn {}", dx[0], burn[0]);
        if !burn[0].is_nan() {
            assert_eq!(dx[0] as f64, burn[0], "{op:?} backward at NaN");
        }
    }
}

/// The ops of image and sequence models, on shapes that are not multiples of 4, 8 or 64:
/// batch 3, 5 channels, 13×11 images, stride 2, padding 1 (and odd kernels, strides, pools).
#[test]
fn rank_n_ops_match_finite_differences_and_burn_autodiff() {
    let mut rng = Rng::new(77, Stream::Data);
    let r = &mut rng;
    // Convolutions: the shape, a 5×5 "same" one, and one whose stride skips edge pixels.
    check(Op::Conv2d { stride: 2, padding: 1 }, vec![free([3, 5, 13, 11], r), free([4, 5, 3, 3], r), free([4], r)], r);
    check(Op::Conv2d { stride: 1, padding: 2 }, vec![free([2, 1, 7, 9], r), free([3, 1, 5, 5], r), free([3], r)], r);
    check(Op::Conv2d { stride: 3, padding: 0 }, vec![free([1, 2, 8, 10], r), free([2, 2, 2, 3], r), free([2], r)], r);
    // Max-pooling, 2×2 and overlapping 3×3 windows with stride 2, odd sizes.
    check(Op::MaxPool2d { kernel: 2, stride: 2 }, vec![free([3, 5, 13, 11], r)], r);
    check(Op::MaxPool2d { kernel: 3, stride: 2 }, vec![free([2, 3, 7, 9], r)], r);
    // Shapes: flatten, and permutations of rank 2, 3 and 4.
    check(Op::Reshape { to: Shape::from([3, 5 * 7 * 2]) }, vec![free([3, 5, 7, 2], r)], r);
    check(Op::Reshape { to: Shape::from([5, 3, 7]) }, vec![free([15, 7], r)], r);
    check(Op::transpose(2), vec![free([5, 7], r)], r);
    check(Op::transpose(4), vec![free([2, 3, 5, 7], r)], r);
    check(Op::permute(&[0, 2, 1, 3]), vec![free([2, 3, 5, 7], r)], r);
    check(Op::permute(&[2, 0, 1]), vec![free([3, 5, 7], r)], r);
    // Batched and broadcast matmul: attention's [b, h, t, d]·[b, h, d, t], and [b, t, d]·[d, e].
    check(Op::MatMul, vec![free([2, 3, 5, 7], r), free([2, 3, 7, 6], r)], r);
    check(Op::MatMul, vec![free([3, 5, 7], r), free([7, 6], r)], r);
    check(Op::MatMul, vec![free([5, 7], r), free([3, 7, 2], r)], r);
    // Broadcasting over higher ranks: a PyTorch-style bias [n] over [b, t, n], a [c, 1, 1] over
    // [n, c, h, w].
    check(Op::Add, vec![free([3, 5, 7], r), free([7], r)], r);
    check(Op::Mul, vec![free([2, 3, 5, 7], r), free([3, 1, 1], r)], r);
    // Last-axis ops on rank 3 and 4.
    check(Op::Softmax, vec![free([2, 3, 7], r)], r);
    check(Op::LogSoftmax, vec![free([2, 3, 5, 7], r)], r);
    let targets = one_hot(2 * 3, 7, r);
    check(Op::SoftmaxCrossEntropy, vec![free([2, 3, 7], r), constant(targets, [2, 3, 7])], r);
    // Elementwise ops on rank 4, dropout and the causal mask's fill on any shape.
    check(Op::Gelu, vec![free([2, 3, 5, 7], r)], r);
    check(Op::Relu, vec![kinked([3, 5, 2, 3], r)], r);
    let m = mask(3 * 5 * 7, 0.2, r);
    check(Op::Dropout { rate: 0.2 }, vec![free([3, 5, 7], r), constant(m, [3, 5, 7])], r);
    let causal: Vec<f64> = (0..2 * 5 * 5).map(|i| if (i % 5) > (i / 5) % 5 { 1.0 } else { 0.0 }).collect();
    check(Op::MaskedFill { value: -30.0 }, vec![free([2, 5, 5], r), constant(causal, [2, 5, 5])], r);
    check(Op::Mean, vec![free([3, 5, 2, 3], r)], r);
    // PyTorch's Linear on a batch and on a sequence; batch norm with batch and running statistics.
    check(Op::Linear, vec![free([5, 7], r), free([3, 7], r), free([3], r)], r);
    check(Op::Linear, vec![free([2, 5, 7], r), free([3, 7], r), free([3], r)], r);
    check(Op::BatchNorm2d { eps: 1e-5, stats: Stats::Batch }, vec![free([3, 5, 4, 3], r), free([5], r), free([5], r)], r);
    let (mean, var) = (free([5], r), Input { values: (0..5).map(|_| r.range(0.5, 2.0)).collect(), shape: Shape::from([5]), checked: false });
    check(
        Op::BatchNorm2d { eps: 1e-5, stats: Stats::Running },
        vec![free([3, 5, 4, 3], r), free([5], r), free([5], r), Input { checked: false, ..mean }, var],
        r,
    );
    // The transformer's: embedding lookups with repeated ids (their gradients add up), layer norm
    // over the last axis, slices and concatenations along inner and last axes.
    let ids: Vec<f64> = [3, 0, 6, 3, 3, 1, 6, 2, 0, 5].iter().map(|&i| i as f64).collect();
    check(Op::Embedding, vec![Input { values: ids.clone(), shape: Shape::from([2, 5]), checked: false }, free([7, 3], r)], r);
    check(Op::Embedding, vec![Input { values: ids[..4].to_vec(), shape: Shape::from([4]), checked: false }, free([7, 6], r)], r);
    check(Op::Embedding, vec![Input { values: ids[..6].to_vec(), shape: Shape::from([1, 2, 3]), checked: false }, free([7, 5], r)], r);
    check(Op::LayerNorm { eps: 1e-5 }, vec![free([3, 5, 7], r), free([7], r), free([7], r)], r);
    check(Op::LayerNorm { eps: 1e-5 }, vec![free([5, 6], r), free([6], r), free([6], r)], r);
    check(Op::slice(3, 1, 2, 3), vec![free([3, 7, 5], r)], r);
    check(Op::slice(3, 2, 4, 1), vec![free([3, 7, 5], r)], r);
    check(Op::slice(4, 0, 1, 1), vec![free([3, 2, 5, 3], r)], r);
    check(Op::concat(3, 1, 2), vec![free([3, 2, 5], r), free([3, 4, 5], r)], r);
    check(Op::concat(2, 1, 3), vec![free([3, 2], r), free([3, 5], r), free([3, 1], r)], r);
}

/// Layer norm against its textbook forward, and an embedding against a plain table lookup.
#[test]
fn layer_norm_and_embedding_forwards_equal_their_definitions() {
    let cpu = Device::flex();
    let mut rng = Rng::new(5, Stream::Data);
    let (rows, d) = (3, 7);
    let x: Vec<f64> = (0..rows * d).map(|_| rng.range(-3.0, 3.0)).collect();
    let gamma: Vec<f64> = (0..d).map(|_| rng.range(0.5, 1.5)).collect();
    let beta: Vec<f64> = (0..d).map(|_| rng.range(-1.0, 1.0)).collect();
    let (xt, gt, bt) = (upload(&x, [rows, d], &cpu), upload(&gamma, [d], &cpu), upload(&beta, [d], &cpu));
    let got = values(&Op::LayerNorm { eps: 1e-5 }.forward(&[&xt, &gt, &bt]).0);
    for r in 0..rows {
        let row = &x[r * d..(r + 1) * d];
        let mean = row.iter().sum::<f64>() / d as f64;
        let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / d as f64;
        for j in 0..d {
            let want = gamma[j] * (row[j] - mean) / (var + 1e-5).sqrt() + beta[j];
            assert!((got[r * d + j] - want).abs() < 1e-12, "row {r} feature {j}: {} vs {want}", got[r * d + j]);
        }
    }
    // Ids enter the tape checked: one outside the vocabulary is named, and nothing is recorded.
    let mut tape = Tape::new();
    let e = tape.ids("tokens", &[1, 4, 5, 0], [2, 2], 5, &cpu, Precision::F64).unwrap_err();
    assert_eq!(e.to_string(), "ids: id 5 at position 2 is not below the vocabulary's 5");
    assert!(tape.nodes().is_empty());
    let ok = tape.ids("tokens", &[4, 0, 4, 2], [2, 2], 5, &cpu, Precision::F64).unwrap();
    assert_eq!(tape.node(ok).op, Op::Leaf(Leaf::Ids));
    let table: Vec<f64> = (0..5 * 2).map(|i| i as f64 * 0.5).collect();
    let ids = [4.0, 0.0, 4.0, 2.0];
    let out = values(&Op::Embedding.forward(&[&upload(&ids, [2, 2], &cpu), &upload(&table, [5, 2], &cpu)]).0);
    let want: Vec<f64> = ids.iter().flat_map(|&i| table[i as usize * 2..i as usize * 2 + 2].to_vec()).collect();
    assert_eq!(out, want);
}

/// The two kernels of a convolution's weight gradient agree — im2col, which the op uses and the
/// checks above test, and burn's own — on the same odd shapes, strides and padding.
#[test]
fn conv_weight_gradient_kernels_agree() {
    let cpu = Device::flex();
    let mut rng = Rng::new(9, Stream::Data);
    for (x, w, stride, padding) in [([3, 5, 13, 11], [4, 5, 3, 3], 2, 1), ([2, 1, 7, 9], [3, 1, 5, 5], 1, 2), ([1, 2, 8, 10], [2, 2, 2, 3], 3, 0)] {
        let (xi, wi) = (free(x, &mut rng), free(w, &mut rng));
        let (xt, wt) = (upload(&xi.values, xi.shape, &cpu), upload(&wi.values, wi.shape, &cpu));
        let out = Op::Conv2d { stride: stride as u8, padding: padding as u8 }.shape(&[xi.shape, wi.shape, Shape::from([w[0]])]).unwrap();
        let g: Vec<f64> = (0..out.numel()).map(|_| rng.range(-1.0, 1.0)).collect();
        let gt = upload(&g, out, &cpu);
        let burn = values(&WeightGradient::Burn.compute(&xt, &wt, &gt, stride, padding));
        let im2col = values(&WeightGradient::Im2col.compute(&xt, &wt, &gt, stride, padding));
        for (j, (a, b)) in burn.iter().zip(&im2col).enumerate() {
            assert!((a - b).abs() <= 1e-10 * a.abs().max(1.0), "{x:?} * {w:?} stride {stride} padding {padding}: [{j}] burn {a} vs im2col {b}");
        }
    }
}

/// A linear layer with a long inner dimension splits it on a GPU (and not on the CPU), with the
/// same result: cnn-torch's fc1 at batch 100, and a batch of sequences. The split itself is also
/// checked on the CPU, so it is tested where no GPU is.
#[test]
fn a_long_linear_layer_splits_its_inner_dimension_on_a_gpu() {
    use gradlab::engine::kernels::{linear_chunks, linear_split};
    let mut rng = Rng::new(11, Stream::Data);
    let cpu = Device::flex();
    for (x_shape, w_shape) in [(vec![100, 6272], [10, 6272]), (vec![2, 3, 4096], [5, 4096])] {
        let x = free(Shape::new(&x_shape), &mut rng);
        let (w, b) = (free(w_shape, &mut rng), free([w_shape[0]], &mut rng));
        let on = |d: &Device| {
            let t = |i: &Input| gradlab::engine::tensor(&i.values.iter().map(|&v| v as f32).collect::<Vec<_>>(), i.shape, d, Precision::F32);
            let (xt, wt, bt) = (t(&x), t(&w), t(&b));
            (linear_chunks(&xt, w_shape[1]), values(&Op::Linear.forward(&[&xt, &wt, &bt]).0))
        };
        let (cpu_chunks, expected) = on(&cpu);
        assert_eq!(cpu_chunks, 1, "the CPU keeps one product");
        let (xt, wt) = (upload(&x.values, x.shape, &cpu), upload(&w.values, w.shape, &cpu));
        let bt = upload(&b.values, b.shape, &cpu);
        let split = values(&linear_split(&xt, &wt, if w_shape[1] == 6272 { 49 } else { 32 }).add(bt));
        for (j, (a, s)) in expected.iter().zip(&split).enumerate() {
            assert!((a - s).abs() <= 1e-4 * a.abs().max(1.0), "{x_shape:?}: [{j}] one product {a} vs split {s}");
        }
        let Some(gpu) = crate::support::gpu() else { continue };
        let (chunks, got) = on(&gpu);
        assert_eq!(chunks, if w_shape[1] == 6272 { 49 } else { 32 }, "a GPU splits {} into parts of about 128", w_shape[1]);
        for (j, (a, b)) in expected.iter().zip(&got).enumerate() {
            assert!((a - b).abs() <= 1e-4 * a.abs().max(1.0), "{x_shape:?}: [{j}] cpu {a} vs gpu {b}");
        }
    }
}

/// Our op kernels on the GPU (`shaders/activation_backward.wgsl`, `bce_logits_*.wgsl`,
/// `softmax_ce_*.wgsl`) against the generic burn ops they replace, on shapes that are not
/// multiples of a workgroup and logits far out on both sides; that the kernels ran is asserted,
/// and a batch too large for the one-workgroup loss, or one tensor given as both inputs, falls
/// back and says so.
#[test]
fn fused_op_kernels_match_the_generic_path() {
    use gradlab::engine::fused::{bce_logits, launches, set_op_kernels};
    let Some(gpu) = crate::support::gpu() else { return };
    let mut rng = Rng::new(17, Stream::Data);
    let ops = [Op::Tanh, Op::Sigmoid, Op::Relu, Op::LeakyRelu { slope: 0.2 }, Op::BceWithLogits, Op::SoftmaxCrossEntropy];
    for dims in [[3usize, 67], [65, 1], [1, 1], [13, 7], [250, 10]] {
        let n = dims[0] * dims[1];
        let t = |v: Vec<f64>| gradlab::engine::tensor(&v.iter().map(|&x| x as f32).collect::<Vec<_>>(), dims, &gpu, Precision::F32);
        let x: Vec<f64> = (0..n).map(|i| if i % 5 == 0 { rng.range(-30.0, 30.0) } else { rng.range(-3.0, 3.0) }).collect();
        let targets: Vec<f64> = (0..n).map(|_| if rng.uniform() < 0.3 { rng.uniform() } else { rng.below(2) as f64 }).collect();
        let g: Vec<f64> = (0..n).map(|_| rng.range(-1.0, 1.0)).collect();
        for op in ops {
            let bce = matches!(op, Op::BceWithLogits | Op::SoftmaxCrossEntropy);
            let (xt, tt) = (t(x.clone()), t(targets.clone()));
            let inputs: Vec<&T> = if bce { vec![&xt, &tt] } else { vec![&xt] };
            let upstream = if bce { gradlab::engine::tensor(&[0.7], [1, 1, 1, 1], &gpu, Precision::F32) } else { t(g.clone()) };
            let run = |on: bool| {
                let was = set_op_kernels(on);
                let before = launches();
                let (out, saved) = op.forward(&inputs);
                let grad = op.backward(&inputs, &out, &saved, &upstream, &[true, false]).remove(0).expect("a gradient");
                let (out, grad) = (values(&out), values(&grad));
                let launched = launches() - before;
                set_op_kernels(was);
                (out, grad, launched)
            };
            let (generic_out, generic_grad, _) = run(false);
            let (out, grad, launched) = run(true);
            // The backward always, the loss's forward too: exactly our dispatches (counted per thread).
            assert_eq!(launched, if bce { 2 } else { 1 }, "{} {dims:?}: our kernels ran {launched} times", op.name());
            for (what, a, b) in [("value", &generic_out, &out), ("gradient", &generic_grad, &grad)] {
                for (j, (a, b)) in a.iter().zip(b).enumerate() {
                    assert!((a - b).abs() <= 2e-6 * a.abs().max(1e-3) + 1e-9, "{} {dims:?}: {what}[{j}] generic {a} vs ours {b}", op.name());
                }
            }
        }
    }
    // One tensor as both inputs: WebGPU would refuse the buffer bound twice, so burn's ops.
    let z = gradlab::engine::tensor(&[0.5, -1.0, 2.0], [3, 1], &gpu, Precision::F32);
    assert_eq!(bce_logits(&z, &z).err(), Some("inputs share a buffer"));
    let big = gradlab::engine::tensor(&vec![0.5; 70_000], [70_000, 1], &gpu, Precision::F32);
    assert_eq!(bce_logits(&big, &big).err(), Some("too many logits for one workgroup"));
    assert_eq!(gradlab::engine::fused::softmax_ce(&big, &big).err(), Some("too many logits for one workgroup"));
}

/// Bad shapes are errors that name the op and the true shapes, never a panic in a kernel.
#[test]
fn shape_errors_name_the_true_shapes() {
    let err = |op: Op, shapes: &[&[usize]]| op.shape(&shapes.iter().map(|&s| Shape::new(s)).collect::<Vec<_>>()).unwrap_err().to_string();
    assert_eq!(err(Op::Conv2d { stride: 1, padding: 0 }, &[&[100, 3, 28, 28], &[32, 1, 5, 5], &[32]]), "conv2d: input [100, 3, 28, 28] has 3 channels, the weight [32, 1, 5, 5] expects 1");
    assert_eq!(err(Op::MatMul, &[&[3, 5], &[4, 2]]), "matmul: [3, 5] · [4, 2]: inner sizes 5 and 4 differ");
    assert_eq!(err(Op::Reshape { to: Shape::from([100, 1568]) }, &[&[100, 32, 12, 12]]), "reshape: [100, 32, 12, 12] has 460800 elements, [100, 1568] has 156800");
    assert!(err(Op::Add, &[&[3, 5], &[4, 5]]).contains("do not broadcast"));
    assert!(err(Op::MaxPool2d { kernel: 2, stride: 2 }, &[&[1, 1, 1, 5]]).contains("does not fit"));
    assert!(err(Op::permute(&[0, 1]), &[&[2, 3, 4]]).contains("permutation of 2 axes"));
    assert_eq!(err(Op::Embedding, &[&[2, 5], &[7, 3, 1]]), "embedding: needs ids of at most 3 axes and a table [vocab, d]; got [2, 5], [7, 3, 1]");
    assert_eq!(err(Op::slice(3, 1, 5, 3), &[&[3, 7, 5]]), "slice: 5..8 of axis 1 of [3, 7, 5] (size 7)");
    assert_eq!(err(Op::concat(2, 1, 2), &[&[3, 2], &[4, 5]]), "concat: [3, 2] and [4, 5] differ on an axis other than 1");
    assert!(err(Op::LayerNorm { eps: 1e-5 }, &[&[3, 7], &[6], &[7]]).contains("7 features"));
    assert_eq!(Shape::from([100, 32, 28, 28]).to_string(), "[100, 32, 28, 28]");
    // The tape says it too, with the node's label.
    let cpu = Device::flex();
    let mut tape = Tape::new();
    let x = tape.leaf(Leaf::Input, "x", upload(&[0.0; 6], [2, 3], &cpu), [2, 3]);
    let w = tape.leaf(Leaf::Param, "w", upload(&[0.0; 8], [4, 2], &cpu), [4, 2]);
    let e = tape.try_apply(Op::MatMul, &[x, w], "a1").unwrap_err();
    assert_eq!(e.to_string(), "matmul: [2, 3] · [4, 2]: inner sizes 3 and 4 differ");
}

/// Loss forward values against plain f64 formulas (the gradients above check consistency with
/// the forward; these check the forward itself).
#[test]
fn loss_forwards_equal_their_textbook_formulas() {
    let cpu = Device::flex();
    let z = [2.0, -1.0, 0.5, 30.0, -30.0, 0.0];
    let y = [1.0, 0.0, 1.0, 0.0, 1.0, 0.5];
    let t = |v: &[f64], s: [usize; 2]| upload(v, s, &cpu);
    let bce = values(&Op::BceWithLogits.forward(&[&t(&z, [6, 1]), &t(&y, [6, 1])]).0)[0];
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
    let ce = values(&Op::SoftmaxCrossEntropy.forward(&[&t(&logits, [2, 3]), &t(&onehot, [2, 3])]).0)[0];
    let row0 = -(3.0 - (1f64.exp() + 2f64.exp() + 3f64.exp()).ln());
    assert!((ce - row0 / 2.0).abs() < 1e-9, "CE {ce} (a huge logit must not overflow)");

    let mse = values(&Op::Mse.forward(&[&t(&[1.0, 2.0], [2, 1]), &t(&[0.0, 4.0], [2, 1])]).0)[0];
    assert!((mse - 0.5 * (1.0 + 4.0) / 2.0).abs() < 1e-12);

    let sm = values(&Op::Softmax.forward(&[&t(&logits, [2, 3])]).0);
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
            let xn = tape.leaf(Leaf::Input, "x", upload(&x, [rows, sizes[0]], device), [rows, sizes[0]]);
            let yn = tape.leaf(Leaf::Constant, "y", upload(&y, [rows, width], device), [rows, width]);
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
        ad_model.params = model.params.iter().map(|p| upload(&values(p), Shape::from(p.dims()), &ad).require_grad()).collect();
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
                    m.params[i] = upload(&v, Shape::from(model.params[i].dims()), &cpu);
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
    let x = tape.leaf(Leaf::Param, "x", upload(&[3.0], [1, 1], &cpu), [1, 1]);
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

/// A train-mode tape gives the same parameter gradients as a trace-mode one on a small CNN, holds
/// less at its peak, and keeps only the leaves and the loss afterwards.
#[test]
fn train_mode_keeps_less_and_computes_the_same() {
    use gradlab::engine::Mode;
    let cpu = Device::flex();
    let mut rng = Rng::new(5, Stream::Data);
    let r = &mut rng;
    let (x, w, b) = (free([3, 2, 9, 7], r), free([4, 2, 3, 3], r), free([4], r));
    let (w2, b2) = (free([4 * 4 * 3, 5], r), free([5], r));
    let targets = one_hot(3, 5, r);
    let run = |mode: Mode| {
        let mut tape = Tape::with_mode(mode);
        let leaf = |tape: &mut Tape, kind, label: &'static str, i: &Input| tape.leaf(kind, label, upload(&i.values, i.shape, &cpu), i.shape);
        let xn = leaf(&mut tape, Leaf::Input, "x", &x);
        let params = [leaf(&mut tape, Leaf::Param, "conv1.weight", &w), leaf(&mut tape, Leaf::Param, "conv1.bias", &b)];
        let fc = [leaf(&mut tape, Leaf::Param, "fc1.weight", &w2), leaf(&mut tape, Leaf::Param, "fc1.bias", &b2)];
        let y = tape.leaf(Leaf::Constant, "y", upload(&targets, [3, 5], &cpu), [3, 5]);
        let c = tape.apply(Op::Conv2d { stride: 1, padding: 1 }, &[xn, params[0], params[1]], "conv1");
        let a = tape.apply(Op::Relu, &[c], "relu");
        let p = tape.apply(Op::MaxPool2d { kernel: 2, stride: 2 }, &[a], "pool");
        let f = tape.apply(Op::Reshape { to: Shape::from([3, 48]) }, &[p], "flatten");
        let z = tape.apply(Op::MatMul, &[f, fc[0]], "fc1·x");
        let z = tape.apply(Op::Add, &[z, fc[1]], "fc1");
        let loss = tape.apply(Op::SoftmaxCrossEntropy, &[z, y], "loss");
        tape.backward(loss);
        let grads: Vec<Vec<f64>> = params.iter().chain(&fc).map(|&p| values(tape.grad(p).unwrap())).collect();
        (grads, tape.memory(), tape, c, xn, loss)
    };
    let (trace_grads, trace_memory, trace, _, trace_x, _) = run(Mode::Trace);
    let (train_grads, train_memory, train, conv, train_x, loss) = run(Mode::Train);
    assert_eq!(trace_grads, train_grads, "the two modes compute the same gradients");
    assert!(train_memory.peak < trace_memory.peak, "train peak {} vs trace peak {}", train_memory.peak, trace_memory.peak);
    assert!(trace.grad(trace_x).is_none(), "no gradient is computed for data");
    assert!(train.node(conv).grad.is_none() && train.nodes().iter().all(|n| n.input_grads.is_empty()));
    assert!(train.grad(train_x).is_none());
    assert!(values(train.value(loss))[0].is_finite());
    assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| train.value(conv).clone())).is_err(), "an op's value is freed");
}

/// Batch norm's input gradient against a fourth-order central difference, which is accurate to
/// ≈ 1e-12 here: tighter than burn-autodiff is on this op.
#[test]
fn batch_norm_matches_a_fourth_order_difference() {
    let mut rng = Rng::new(3, Stream::Data);
    let r = &mut rng;
    let inputs = vec![free([3, 5, 4, 3], r), free([5], r), free([5], r)];
    let op = Op::BatchNorm2d { eps: 1e-5, stats: Stats::Batch };
    let cpu = Device::flex();
    let ts: Vec<T> = inputs.iter().map(|i| upload(&i.values, i.shape, &cpu)).collect();
    let refs: Vec<&T> = ts.iter().collect();
    let (out, saved) = op.forward(&refs);
    let weights: Vec<f64> = (0..180).map(|_| r.range(-1.0, 1.0)).collect();
    let ours = op.backward(&refs, &out, &saved, &upload(&weights, [3, 5, 4, 3], &cpu), &[true, true, true]);
    for (k, grad) in ours.iter().enumerate() {
        let grad = values(grad.as_ref().expect("every input of a training batch norm gets a gradient"));
        for j in 0..grad.len() {
            let at = |d: f64| {
                let mut v: Vec<Input> = inputs.iter().map(|i| Input { values: i.values.clone(), ..*i }).collect();
                v[k].values[j] += d;
                weighted_output(op, &v, &weights, &cpu)
            };
            let h = 1e-3;
            let fd = (-at(2.0 * h) + 8.0 * at(h) - 8.0 * at(-h) + at(-2.0 * h)) / (12.0 * h);
            assert!((grad[j] - fd).abs() < 1e-9 * grad[j].abs().max(1e-2), "input {k}[{j}]: ours {} vs {fd}", grad[j]);
        }
    }
}

/// The host kernels' f32 tanh (ours: f64 arithmetic rounded once, not `libm::tanhf`) stays within
/// ½·ε·|tanh x| of the true value (within an ulp), keeps the sign of zero and passes NaN on (a
/// diverged run must show).
#[test]
fn the_host_f32_tanh_is_within_an_ulp() {
    use gradlab::engine::Real;
    let mut worst: f64 = 0.0;
    let mut x = -12.0f32;
    while x < 12.0 {
        for v in [x, x * 1e-3, x * 1e-7] {
            let ours = Real::tanh(v) as f64;
            let exact = (v as f64).tanh();
            let ulp = (f32::EPSILON as f64) * exact.abs().max(f32::MIN_POSITIVE as f64);
            worst = worst.max((ours - exact).abs() / ulp);
        }
        x += 0.000_73;
    }
    println!("host f32 tanh: worst error {worst:.3} × ε·|tanh x|");
    assert!(worst <= 0.51, "worst error {worst} × ε·|tanh x|");
    assert!(Real::tanh(-0.0f32).is_sign_negative() && Real::tanh(0.0f32) == 0.0);
    assert!(Real::tanh(f32::NAN).is_nan());
    assert_eq!((Real::tanh(f32::INFINITY), Real::tanh(f32::NEG_INFINITY)), (1.0, -1.0));
}

/// f32's `exp` on the host (ours: [`exp_wide`] in f64, rounded once) is within ½·ε of the true
/// value over the whole range (an ulp), overflows to ∞, underflows through the subnormals to 0 and
/// passes NaN on; `exp_wide` itself is within 2⁻³⁹ over [−708, 709].
#[test]
fn the_host_f32_exp_is_within_an_ulp() {
    use gradlab::engine::{Real, exp_wide};
    let mut worst: f64 = 0.0;
    let mut x = -103.0f32;
    while x < 88.7 {
        let (ours, exact) = (Real::exp(x) as f64, (x as f64).exp());
        // An ulp: ε·e^x, and 2⁻¹⁴⁹ among the subnormals (below e^−87.3).
        worst = worst.max((ours - exact).abs() / (f32::EPSILON as f64 * exact.max(f32::MIN_POSITIVE as f64)));
        x += 0.000_93;
    }
    println!("host f32 exp: worst error {worst:.3} × ε·e^x");
    assert!(worst <= 0.51, "worst error {worst} × ε·e^x");
    assert_eq!((Real::exp(0.0f32), Real::exp(89.0f32), Real::exp(f32::INFINITY), Real::exp(f32::NEG_INFINITY)), (1.0, f32::INFINITY, f32::INFINITY, 0.0));
    assert_eq!(Real::exp(-104.0f32), (-104f64).exp() as f32, "a subnormal, rounded once");
    assert!(Real::exp(f32::NAN).is_nan());
    let mut t = -708.0;
    while t < 709.0 {
        let relative = (exp_wide(t) - t.exp()).abs() / t.exp();
        assert!(relative < 2f64.powi(-39), "exp_wide({t}) off by {relative}");
        t += 0.0137;
    }
    // At t = j·ln 2/32 (r ≈ 0) it is its table entry 2^(j/32), within an ulp.
    for j in 0..32 {
        let exact = libm::exp2(j as f64 / 32.0);
        assert_eq!(exp_wide(j as f64 / 32.0 * std::f64::consts::LN_2).to_bits().abs_diff(exact.to_bits()) <= 1, true, "2^({j}/32)");
    }
}
