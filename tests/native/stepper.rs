//! The stepper: every number it would show, for each preset and for random small nets, against
//! hand-computed values, burn-autodiff (an independent differentiation of the same net, with a
//! zero "probe" added at every node to read that node's gradient) and finite differences.
//!
//! Tolerance for f32 traces against f64 references: |a − b| ≤ 1e-5 · max(|a|, |b|, 0.1), i.e.
//! 1e-5 relative, with an absolute floor of 1e-6 for values near zero (where relative error of
//! f32 rounding is meaningless).

use std::collections::HashMap;

use burn::tensor::Device;
use gradlab::engine::{Optimizer, OptimizerConfig, OptimizerKind, Precision, Rng, Stream, T, block_on, read_f64, tensor_f64};
use gradlab::models::Activation;
use gradlab::stepper::{self, Local, Matrix, PRESETS, Preset, StageKind, StepRecord, Trace, math, rule};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-5 * a.abs().max(b.abs()).max(0.1)
}

fn assert_close(what: &str, ours: &[f64], reference: &[f64]) {
    assert_eq!(ours.len(), reference.len(), "{what}: sizes differ");
    for (i, (a, b)) in ours.iter().zip(reference).enumerate() {
        assert!(close(*a, *b), "{what}[{i}]: stepper shows {a}, reference {b}");
    }
}

/// The preset's traces for `steps` consecutive steps on `device` (f32, as the app runs).
fn traces(preset: &Preset, kind: OptimizerKind, steps: usize, device: &Device) -> Vec<Trace> {
    let mut params = preset.initial_params(device, Precision::F32);
    let mut optimizer = Optimizer::new(OptimizerConfig::new(kind, preset.lr));
    (0..steps)
        .map(|_| {
            let record = StepRecord::from_preset(preset, &params, &mut optimizer);
            params = record.new_params.clone();
            block_on(Trace::read(record)).expect("trace")
        })
        .collect()
}

fn by_label<'a>(trace: &'a Trace, label: &str) -> &'a stepper::TraceNode {
    trace.nodes.iter().find(|n| n.label == label).unwrap_or_else(|| panic!("no node {label}"))
}

fn grad_of(trace: &Trace, name: &str) -> Vec<f64> {
    trace.params.iter().find(|p| p.name == name).unwrap().grad.values.clone()
}

fn after(trace: &Trace, name: &str) -> Vec<f64> {
    trace.params.iter().find(|p| p.name == name).unwrap().after.values.clone()
}

#[test]
fn essay_relu_matches_the_hand_computation() {
    let t = &traces(stepper::preset("essay-relu").unwrap(), OptimizerKind::Sgd, 1, &Device::flex())[0];
    // z = x·W + b with x = (1, 2): z1 = 0.1·1 + 0.2·2 + 0.5 = 1.0 (the essay printed 1.1),
    // z2 = 0.3·1 + 0.4·2 + 0.6 = 1.7. Both positive, so ReLU passes them: h = (1.0, 1.7).
    assert_close("z1", &by_label(t, "z1").value.values, &[1.0, 1.7]);
    assert_close("h1", &by_label(t, "h1").value.values, &[1.0, 1.7]);
    // Our output unit: ŷ = 0.5·1.0 + 0.5·1.7 + 0 = 1.35; L = ½(1.35 − 1)² = ½·0.1225 = 0.06125.
    assert_close("ŷ", &by_label(t, "z2").value.values, &[1.35]);
    assert_close("loss", &[t.loss_value()], &[0.06125]);
    // ∂L/∂ŷ = ŷ − y = 0.35. ∂L/∂v = 0.35·h = (0.35, 0.595); ∂L/∂c = 0.35.
    assert_close("∂L/∂ŷ", &by_label(t, "z2").grad.as_ref().unwrap().values, &[0.35]);
    assert_close("∂L/∂l2.w", &grad_of(t, "l2.w"), &[0.35, 0.595]);
    assert_close("∂L/∂l2.b", &grad_of(t, "l2.b"), &[0.35]);
    // ∂L/∂h = 0.35·v = (0.175, 0.175); ReLU is active (z > 0), so ∂L/∂z = (0.175, 0.175).
    assert_close("∂L/∂z1", &by_label(t, "z1").grad.as_ref().unwrap().values, &[0.175, 0.175]);
    // ∂L/∂W[i][j] = x_i · ∂L/∂z_j: row x1 = 1 → (0.175, 0.175); row x2 = 2 → (0.35, 0.35).
    assert_close("∂L/∂l1.w", &grad_of(t, "l1.w"), &[0.175, 0.175, 0.35, 0.35]);
    assert_close("∂L/∂l1.b", &grad_of(t, "l1.b"), &[0.175, 0.175]);
    // SGD, η = 0.01: w − 0.01·g.
    assert_close("l1.w′", &after(t, "l1.w"), &[0.1 - 0.00175, 0.3 - 0.00175, 0.2 - 0.0035, 0.4 - 0.0035]);
    assert_close("l1.b′", &after(t, "l1.b"), &[0.5 - 0.00175, 0.6 - 0.00175]);
    assert_close("l2.w′", &after(t, "l2.w"), &[0.5 - 0.0035, 0.5 - 0.00595]);
    assert_close("l2.b′", &after(t, "l2.b"), &[-0.0035]);
}

#[test]
fn xor_matches_the_hand_computation() {
    let t = &traces(stepper::preset("xor-2-2-1").unwrap(), OptimizerKind::Sgd, 1, &Device::flex())[0];
    // Row (0,0): z = b = (0.35, 0.35), h = σ(0.35) = 0.586618 each;
    //   z_out = 0.40·0.586618 + 0.45·0.586618 + 0.60 = 1.098625, ŷ = σ(1.098625) = 0.750002.
    // Row (1,1): z = (0.15 + 0.20 + 0.35, 0.25 + 0.30 + 0.35) = (0.70, 0.90).
    assert_close("z1", &by_label(t, "z1").value.values, &[0.35, 0.35, 0.55, 0.65, 0.5, 0.6, 0.7, 0.9]);
    assert_close("h1[0]", &by_label(t, "h1").value.row(0).to_vec(), &[0.586_617_578_9, 0.586_617_578_9]);
    assert_close("ŷ", &by_label(t, "ŷ").value.values, &[0.750_002_372_5, 0.759_384_670_2, 0.757_593_165_2, 0.766_240_339_7]);
    // L = ½·¼·Σ(ŷ − y)² = ⅛(0.750002² + 0.240615² + 0.242407² + 0.766240²) = 0.158286.
    assert_close("loss", &[t.loss_value()], &[0.158_285_578_4]);
    // ∂L/∂ŷ_r = (ŷ_r − y_r)/4; ∂L/∂z_out = that · ŷ(1 − ŷ); ∂L/∂c = Σ_r ∂L/∂z_out,r = 0.047347.
    assert_close("∂L/∂l2.b", &grad_of(t, "l2.b"), &[0.047_347_099_88]);
    // ∂L/∂v_j = Σ_r ∂L/∂z_out,r · h_rj.
    assert_close("∂L/∂l2.w", &grad_of(t, "l2.w"), &[0.029_652_260_45, 0.030_609_890_14]);
    // ∂L/∂W[i][j] = Σ_r x_ri · ∂L/∂z_out,r · v_j · h_rj(1 − h_rj).
    assert_close("∂L/∂l1.w", &grad_of(t, "l1.w"), &[0.001_996_754_036, 0.002_027_171_612, 0.002_022_895_035, 0.002_058_372_643]);
    assert_close("∂L/∂l1.b", &grad_of(t, "l1.b"), &[0.004_386_838_128, 0.004_748_956_740]);
    // SGD, η = 0.5: l1.w[0][1] = 0.25 − 0.5·0.0020272 = 0.248986.
    assert!(close(after(t, "l1.w")[1], 0.248_986_414_2));
}

#[test]
fn essay_sigmoid_shows_the_corrected_values() {
    let t = &traces(stepper::preset("essay-sigmoid").unwrap(), OptimizerKind::Sgd, 1, &Device::flex())[0];
    // Hidden z = 1·1 + 1·0 + 1 = 2 (the essay printed 4); σ(2) = 0.880797 (it printed 1).
    assert_close("z1", &by_label(t, "z1").value.values, &[2.0; 3]);
    assert_close("h1", &by_label(t, "h1").value.values, &[0.880_797_077_98; 3]);
    // Output z = 3·0.880797 + 1 = 3.642391, ŷ = σ(3.642391) = 0.974479.
    assert_close("z2", &by_label(t, "z2").value.values, &[3.642_391_233_9]);
    assert_close("ŷ", &by_label(t, "ŷ").value.values, &[0.974_478_748_9]);
    // ∂L/∂z_out = (ŷ − 0)·ŷ(1 − ŷ) = 0.024235; ∂L/∂(x1 → hidden j) = 0.024235·1·σ′(2)·1 = 0.0025445.
    assert_close("∂L/∂z2", &by_label(t, "z2").grad.as_ref().unwrap().values, &[0.024_235_205_36]);
    assert_close("∂L/∂l1.w", &grad_of(t, "l1.w"), &[0.002_544_541_104, 0.002_544_541_104, 0.002_544_541_104, 0.0, 0.0, 0.0]);
    // Every number in the errata panel is the traced one.
    let errata = stepper::preset("essay-sigmoid").unwrap().errata;
    assert!(errata.iter().any(|e| e.right.contains("0.880797")));
    assert!(errata.iter().any(|e| e.right.contains("0.974479")));
    assert!(errata.iter().any(|e| e.right.contains("0.024235") && e.right.contains("0.002545")));
}

/// Reference values of every node by label, from burn-autodiff in f64.
struct Reference {
    nodes: HashMap<String, (Vec<f64>, Vec<f64>)>,
    params: Vec<Vec<f64>>,
    loss: f64,
}

fn act(a: Activation, t: T) -> T {
    use burn::tensor::activation;
    match a {
        Activation::Relu => activation::relu(t),
        Activation::LeakyRelu => activation::leaky_relu(t, 0.01),
        Activation::Tanh => t.tanh(),
        Activation::Sigmoid => activation::sigmoid(t),
        Activation::Linear => t,
    }
}

/// The preset's net written directly with burn's tensor ops (not our `Op`s), differentiated by
/// burn-autodiff. A zero probe added to every node gives that node's gradient.
fn reference(p: &Preset, params: &[Vec<f64>]) -> Reference {
    let ad = Device::flex().autodiff();
    let up = |v: &[f64], s: [usize; 2]| tensor_f64(v, s, &ad, Precision::F64);
    let rows = p.rows();
    let shapes = gradlab::models::param_shapes(p.sizes);
    let leaves: Vec<T> = params.iter().zip(&shapes).map(|(v, &s)| up(v, s).require_grad()).collect();
    let mut probes: Vec<(String, T, T)> = Vec::new();
    let mut probe = |label: String, t: T| -> T {
        let z = t.zeros_like().require_grad();
        probes.push((label, t.clone(), z.clone()));
        t.add(z)
    };
    let mut h = up(p.x, [rows, p.sizes[0]]);
    let layers = p.sizes.len() - 1;
    for l in 0..layers {
        let m = probe(format!("a{}", l + 1), h.matmul(leaves[2 * l].clone()));
        let z = probe(format!("z{}", l + 1), m.add(leaves[2 * l + 1].clone()));
        h = if l + 1 < layers { probe(format!("h{}", l + 1), act(p.hidden, z)) } else { z };
    }
    if p.output != Activation::Linear {
        h = probe("ŷ".into(), act(p.output, h));
    }
    let y = up(p.y, [rows, *p.sizes.last().unwrap()]);
    let loss = h.sub(y).powi_scalar(2).mean().mul_scalar(0.5);
    let grads = loss.backward();
    let read = |t: &T| block_on(read_f64(t)).unwrap();
    let nodes = probes.iter().map(|(l, v, z)| (l.clone(), (read(v), read(&z.grad(&grads).unwrap())))).collect();
    Reference {
        nodes,
        params: leaves.iter().map(|t| read(&t.grad(&grads).unwrap())).collect(),
        loss: read(&loss.reshape([1, 1, 1, 1]))[0],
    }
}

/// The f64 loss of the directly written net (no autodiff), for finite differences.
fn reference_loss(p: &Preset, params: &[Vec<f64>]) -> f64 {
    let cpu = Device::flex();
    let up = |v: &[f64], s: [usize; 2]| tensor_f64(v, s, &cpu, Precision::F64);
    let shapes = gradlab::models::param_shapes(p.sizes);
    let mut h = up(p.x, [p.rows(), p.sizes[0]]);
    let layers = p.sizes.len() - 1;
    for l in 0..layers {
        let z = h.matmul(up(&params[2 * l], shapes[2 * l])).add(up(&params[2 * l + 1], shapes[2 * l + 1]));
        h = if l + 1 < layers { act(p.hidden, z) } else { act(p.output, z) };
    }
    let y = up(p.y, [p.rows(), *p.sizes.last().unwrap()]);
    block_on(read_f64(&h.sub(y).powi_scalar(2).mean().mul_scalar(0.5).reshape([1, 1, 1, 1]))).unwrap()[0]
}

fn host_matmul(a: &Matrix, b: &Matrix) -> Vec<f64> {
    let mut out = vec![0.0; a.rows * b.cols];
    for i in 0..a.rows {
        for j in 0..b.cols {
            out[i * b.cols + j] = (0..a.cols).map(|k| a.at(i, k) * b.at(k, j)).sum();
        }
    }
    out
}

/// Checks one trace against the reference, the update formulas on the host, finite differences,
/// the local-derivative decomposition and the stage list. `state` carries the host optimizer
/// state between steps.
fn check_trace(p: &Preset, trace: &Trace, params: &[Vec<f64>], kind: OptimizerKind, state: &mut Vec<(Vec<f64>, Vec<f64>)>, t: i32) {
    let r = reference(p, params);
    let what = |s: &str| format!("{} ({}, step {t}): {s}", p.key, kind.key());
    assert_close(&what("loss"), &[trace.loss_value()], &[r.loss]);
    for node in trace.nodes.iter().filter(|n| stepper::is_op(n) && n.label != "loss") {
        let (value, grad) = &r.nodes[&node.label];
        assert_close(&what(&format!("value of {}", node.label)), &node.value.values, value);
        assert_close(&what(&format!("upstream ∂L/∂{}", node.label)), &node.grad.as_ref().unwrap().values, grad);
        for (k, passed) in node.input_grads.iter().enumerate() {
            let input = &trace.nodes[node.inputs[k]];
            let expected = if stepper::is_param(input) {
                Some(r.params[trace.param_of(node.inputs[k]).unwrap()].clone())
            } else {
                r.nodes.get(&input.label).map(|(_, g)| g.clone())
            };
            match (passed, expected) {
                (Some(m), Some(e)) => assert_close(&what(&format!("{} passes to {}", node.label, input.label)), &m.values, &e),
                (None, None) => {}
                (a, b) => panic!("{}: gradient passed to {} is {:?}, expected {:?}", what(&node.label), input.label, a.is_some(), b.is_some()),
            }
        }
    }
    // Local derivatives: passed on = upstream × local.
    for stage in trace.stages.iter().filter(|s| s.kind == StageKind::Backward) {
        let node = &trace.nodes[stage.index];
        let g = node.grad.as_ref().unwrap();
        for (k, local) in stepper::local_derivatives(trace, stage.index).into_iter().enumerate() {
            let Some(passed) = &node.input_grads[k] else { continue };
            let product = match local {
                Local::Elementwise(m) => {
                    // A loss's upstream is the scalar ∂L/∂L = 1, broadcast over its input.
                    let shape = if g.len() == 1 { &m } else { g };
                    let full: Vec<f64> =
                        (0..shape.len()).map(|i| g.broadcast_at(i / shape.cols, i % shape.cols) * m.broadcast_at(i / shape.cols, i % shape.cols)).collect();
                    // Sum back over broadcast rows (biases).
                    if passed.rows == 1 && shape.rows > 1 {
                        (0..shape.cols).map(|c| (0..shape.rows).map(|r| full[r * shape.cols + c]).sum()).collect()
                    } else {
                        full
                    }
                }
                Local::MatMulRight(m) => host_matmul(g, &m),
                Local::MatMulLeft(m) => host_matmul(&m, g),
                Local::Jacobian | Local::None => continue,
            };
            assert_close(&what(&format!("{}: upstream × local", node.label)), &passed.values, &product);
        }
    }
    // Parameter gradients, updates (host formulas) and finite differences.
    let c = OptimizerConfig::new(kind, p.lr);
    for (i, u) in trace.params.iter().enumerate() {
        assert_close(&what(&format!("∂L/∂{}", u.name)), &u.grad.values, &r.params[i]);
        assert_close(&what(&format!("{} before", u.name)), &u.before.values, &params[i]);
        let (m, v) = &mut state[i];
        let expected: Vec<f64> = (0..u.grad.len())
            .map(|j| {
                let (w, g) = (params[i][j], r.params[i][j]);
                match kind {
                    OptimizerKind::Sgd => w - c.lr * g,
                    OptimizerKind::Momentum => {
                        m[j] = c.momentum * m[j] + g;
                        w - c.lr * m[j]
                    }
                    OptimizerKind::Adam => {
                        m[j] = c.beta1 * m[j] + (1.0 - c.beta1) * g;
                        v[j] = c.beta2 * v[j] + (1.0 - c.beta2) * g * g;
                        let (mh, vh) = (m[j] / (1.0 - c.beta1.powi(t)), v[j] / (1.0 - c.beta2.powi(t)));
                        w - c.lr * mh / (vh.sqrt() + c.eps)
                    }
                }
            })
            .collect();
        // Adam's step divides by √v̂ ≈ |g|: compare the step, which f32 rounding of tiny
        // gradients can move by more than 1e-5 of w, at the step's own scale.
        assert_close(&what(&format!("{} after", u.name)), &u.after.values, &expected);
        for j in 0..u.grad.len() {
            let h = 1e-6;
            let mut plus = params.to_vec();
            plus[i][j] += h;
            let mut minus = params.to_vec();
            minus[i][j] -= h;
            let fd = (reference_loss(p, &plus) - reference_loss(p, &minus)) / (2.0 * h);
            assert!(close(u.grad.values[j], fd) || (u.grad.values[j] - fd).abs() < 1e-7, "{}: ∂L/∂{}[{j}] {} vs finite difference {fd}", what(""), u.name, u.grad.values[j]);
            let check = trace.gradient_check(i, j, stepper::EPS);
            assert!(check.relative_error < 1e-4 || (check.analytic - check.numeric).abs() < 1e-7, "{}: gradient check of {}[{j}]: {check:?}", what(""), u.name);
        }
    }
    // The walk: every op forward once, backward once in reverse, then every parameter.
    let ops = trace.nodes.iter().filter(|n| stepper::is_op(n)).count();
    let count = |k: StageKind| trace.stages.iter().filter(|s| s.kind == k).count();
    assert_eq!(count(StageKind::Forward) + count(StageKind::Loss), ops);
    assert_eq!(count(StageKind::Backward), ops);
    assert_eq!(count(StageKind::Update), trace.params.len());
    assert!(trace.stages.windows(2).all(|w| w[0].kind != StageKind::Backward || w[1].kind != StageKind::Backward || w[0].index > w[1].index));
    // Every formula renders with the traced numbers.
    assert_every_formula_renders(trace, &what("formula"));
}

/// Every stage's MathML renders (forward, backward per input, update).
fn assert_every_formula_renders(trace: &Trace, what: &str) {
    for (i, stage) in trace.stages.iter().enumerate() {
        let texts = match stage.kind {
            StageKind::Forward | StageKind::Loss => vec![math::forward(trace, stage.index, (0, 0))],
            StageKind::Backward => math::backward(trace, stage.index, (0, 0)),
            StageKind::Update => math::update(trace, stage.index, 0),
        };
        assert!(!texts.is_empty() && texts.iter().all(|m| m.starts_with("<math") && m.ends_with("</math>")), "{what}: {}", trace.stage_name(i));
    }
}

/// Two steps of every optimizer on the preset, each checked against the references.
fn check_preset(p: &Preset) {
    for kind in OptimizerKind::ALL {
        let traces = traces(p, kind, 2, &Device::flex());
        let mut params: Vec<Vec<f64>> = p.params.iter().map(|v| v.iter().map(|&x| x as f32 as f64).collect()).collect();
        let mut state: Vec<(Vec<f64>, Vec<f64>)> = params.iter().map(|v| (vec![0.0; v.len()], vec![0.0; v.len()])).collect();
        for (t, trace) in traces.iter().enumerate() {
            check_trace(p, trace, &params, kind, &mut state, t as i32 + 1);
            params = trace.params.iter().map(|u| u.after.values.clone()).collect();
        }
    }
}

#[test]
fn every_preset_matches_burn_autodiff_and_finite_differences() {
    for p in PRESETS {
        check_preset(p);
    }
}

fn leak<X: Clone>(v: Vec<X>) -> &'static [X] {
    Box::leak(v.into_boxed_slice())
}

#[test]
fn random_small_nets_match_burn_autodiff_and_finite_differences() {
    let mut rng = Rng::new(7, Stream::Data);
    for case in 0..12 {
        let layers = 1 + rng.below(3);
        let sizes: Vec<usize> = (0..=layers).map(|_| 1 + rng.below(4)).collect();
        let rows = 1 + rng.below(5);
        let shapes = gradlab::models::param_shapes(&sizes);
        let params: Vec<&'static [f64]> = shapes.iter().map(|s| leak((0..s[0] * s[1]).map(|_| rng.range(-1.0, 1.0)).collect())).collect();
        let p = Preset {
            key: "random",
            title: "random",
            about: "",
            sizes: leak(sizes.clone()),
            hidden: Activation::ALL[case % 5],
            output: [Activation::Sigmoid, Activation::Tanh, Activation::Linear][case % 3],
            x: leak((0..rows * sizes[0]).map(|_| rng.range(-2.0, 2.0)).collect()),
            y: leak((0..rows * sizes[layers]).map(|_| rng.range(-1.0, 1.0)).collect()),
            params: leak(params),
            optimizer: OptimizerKind::Sgd,
            lr: 0.1,
            errata: &[],
        };
        check_preset(&p);
    }
}

#[test]
fn playground_steps_are_the_trainers_real_steps() {
    use gradlab::train::{Config, Regularization, Trainer};
    // With dropout and L2, the stepped step is exactly the step `train_step` takes.
    let config = Config { dropout: 0.3, regularization: Regularization::L2, reg_rate: 0.01, ..Config::default() };
    let cpu = Device::flex();
    let mut stepped = Trainer::new(config.clone(), &cpu).unwrap();
    let mut trained = Trainer::new(config, &cpu).unwrap();
    for _ in 0..3 {
        let record = StepRecord::from_trainer(&mut stepped);
        let trace = block_on(record.read()).unwrap();
        let loss = trained.train_step().value();
        assert_eq!(trace.loss_value() as f32, loss);
        for (i, u) in trace.params.iter().enumerate() {
            let theirs: Vec<f64> = block_on(read_f64(&trained.model().params[i])).unwrap();
            assert_eq!(u.after.values, theirs, "{} after the step", u.name);
            let check = trace.gradient_check(i, 0, stepper::EPS);
            assert!(check.relative_error < 1e-3, "{}: {check:?}", u.name);
        }
        // Every formula renders, dropout and penalty stages included.
        assert_every_formula_renders(&trace, "playground step");
        // The loss includes the penalty and a dropout mask leaf.
        assert!(trace.nodes.iter().any(|n| n.label.starts_with("mask")));
        assert!(trace.stages.iter().any(|s| s.kind == StageKind::Loss && trace.nodes[s.index].op.name() == "L2 penalty"));
    }
    assert_eq!(stepped.step, 3);
}

#[test]
fn nudging_a_weight_changes_the_loss_as_the_gradient_predicts() {
    let t = &traces(stepper::preset("essay-relu").unwrap(), OptimizerKind::Sgd, 1, &Device::flex())[0];
    let n = t.nudge(0, 1, 1e-3);
    // l1.w.0.1 is x1 → unit 2: ∂L/∂w = 0.175; Δloss ≈ 0.175·0.001.
    assert!(close(n.predicted, 0.175e-3));
    assert!(((n.nudged - n.base) - n.predicted).abs() < 1e-6, "{n:?}");
}

#[test]
fn numbers_are_shown_to_five_significant_digits() {
    assert_eq!(math::sig(0.880_797_077_98), "0.8808");
    assert_eq!(math::sig(-0.00175), "−0.00175");
    assert_eq!(math::sig(1.0), "1");
    assert_eq!(math::sig(0.024_235_205), "0.024235");
    assert_eq!(math::sig(123_456.7), "123457");
    assert_eq!(math::sig(1_234_567.0), "1.2346e6");
    assert_eq!(math::sig(3.0e-7), "3e−7");
    assert_eq!(math::full(0.1f32 as f64, Precision::F32), "0.1");
    let t = &traces(stepper::preset("essay-relu").unwrap(), OptimizerKind::Sgd, 1, &Device::flex())[0];
    let z1 = t.nodes.iter().position(|n| n.label == "z1").unwrap();
    let m = math::forward(t, z1, (0, 0));
    assert!(m.contains("<mn>0.5</mn>") && m.ends_with("<mn>1</mn></mrow></math>"), "{m}");
}

use crate::support::gpu;

#[test]
fn cpu_and_gpu_traces_agree() {
    let Some(gpu) = gpu() else { return };
    for p in PRESETS {
        for kind in OptimizerKind::ALL {
            let a = traces(p, kind, 2, &Device::flex());
            let b = traces(p, kind, 2, &gpu);
            for (step, (x, y)) in a.iter().zip(&b).enumerate() {
                assert_eq!(x.stages, y.stages);
                // Adam's first update moves every weight by ±η whatever the gradient's size, so
                // the second step starts from weights that agree only to ~1e-5·η: compare it at
                // that scale (below), not node by node.
                if step == 1 && kind == OptimizerKind::Adam {
                    for (u, v) in x.params.iter().zip(&y.params) {
                        for (j, (a, b)) in u.after.values.iter().zip(&v.after.values).enumerate() {
                            assert!((a - b).abs() <= 1e-4 * p.lr, "{} adam step 2: {}[{j}] cpu {a}, gpu {b}", p.key, u.name);
                        }
                    }
                    continue;
                }
                for (n, m) in x.nodes.iter().zip(&y.nodes) {
                    assert_close(&format!("{} {}: {}", p.key, kind.key(), n.label), &m.value.values, &n.value.values);
                    if let (Some(g), Some(h)) = (&n.grad, &m.grad) {
                        assert_close(&format!("{} {}: ∂L/∂{}", p.key, kind.key(), n.label), &h.values, &g.values);
                    }
                }
                // An update moves w by about η (Adam: η·m̂/√v̂ with |m̂/√v̂| ≈ 1), so its f32
                // rounding is relative to η, not to w.
                for (u, v) in x.params.iter().zip(&y.params) {
                    for (j, (a, b)) in u.after.values.iter().zip(&v.after.values).enumerate() {
                        assert!((a - b).abs() <= 1e-5 * a.abs().max(b.abs()).max(p.lr), "{} {}: {}[{j}] after: cpu {a}, gpu {b}", p.key, kind.key(), u.name);
                    }
                }
            }
        }
    }
}

#[test]
fn stages_are_placed_on_the_diagram() {
    use stepper::Place;
    use gradlab::engine::{Role, Tag};
    let at = |role, k| stepper::place(Tag::layer(role, k), 2);
    assert_eq!(at(Role::Product, 1), Place::Edges(1));
    assert_eq!(at(Role::Product, 2), Place::Edges(2));
    assert_eq!(at(Role::Weight, 2), Place::Edges(2));
    assert_eq!(at(Role::Bias, 1), Place::Units(1));
    assert_eq!(at(Role::PreActivation, 1), Place::Units(1));
    assert_eq!(at(Role::Dropped, 1), Place::Units(1));
    assert_eq!(stepper::place(Tag::of(Role::Output), 2), Place::Units(2));
    assert_eq!(stepper::place(Tag::of(Role::Total), 2), Place::Loss);
    assert_eq!(at(Role::Penalty, 1), Place::Loss);
    // The names made from tags are the ones the stepper has always shown.
    let names: Vec<String> = [(Role::Weight, 2), (Role::Bias, 1), (Role::Product, 1), (Role::PreActivation, 3), (Role::Activation, 1), (Role::Dropped, 1), (Role::Mask, 2), (Role::Penalty, 1)]
        .iter()
        .map(|&(role, k)| Tag::layer(role, k).label().into_owned())
        .collect();
    assert_eq!(names, ["l2.w", "l1.b", "a1", "z3", "h1", "h1′", "mask2", "penalty(l1.w)"]);
    // A traced network: every node carries its structure, placed without reading a label.
    let t = &traces(stepper::preset("essay-sigmoid").unwrap(), OptimizerKind::Sgd, 1, &Device::flex())[0];
    let placed: Vec<(String, Place)> = t.nodes.iter().map(|n| (n.label.clone(), stepper::place(n.tag, 2))).collect();
    let expected = [
        ("x", Place::Units(0)),
        ("y", Place::Loss),
        ("l1.w", Place::Edges(1)),
        ("l1.b", Place::Units(1)),
        ("l2.w", Place::Edges(2)),
        ("l2.b", Place::Units(2)),
        ("a1", Place::Edges(1)),
        ("z1", Place::Units(1)),
        ("h1", Place::Units(1)),
        ("a2", Place::Edges(2)),
        ("z2", Place::Units(2)),
        ("ŷ", Place::Units(2)),
        ("loss", Place::Loss),
    ];
    assert_eq!(placed, expected.map(|(l, p)| (l.to_string(), p)));
    assert_eq!(t.sizes(), [2, 3, 1]);
    // l1.w's gradient is complete at the backward stage of a1 = x·l1.w, the last backward stage.
    let last_backward = t.stages.iter().rposition(|s| s.kind == StageKind::Backward).unwrap();
    assert_eq!(t.gradient_stage(0), Some(last_backward));
    // Names read as names, with what they are made of: no `x·l1.w` that reads as a product.
    assert_eq!(t.stage_name(0), "forward · matmul · a₁ = x·W₁");
    assert_eq!(stepper::math::pretty("h1′"), "h₁′");
    assert_eq!(stepper::math::pretty("l12.b"), "b₁₂");
    assert_eq!(stepper::math::pretty("penalty(l1.w)"), "penalty(l1.w)");
}

/// A stage number past the end (from a link, or meant for a longer trace) gives the last stage;
/// views never index the stage list directly.
#[test]
fn stage_numbers_past_the_end_give_the_last_stage() {
    let p = stepper::preset("essay-relu").unwrap();
    let trace = &traces(p, OptimizerKind::Sgd, 1, &Device::flex())[0];
    let n = trace.stages.len();
    assert_eq!(trace.stage(0).map(|(i, _)| i), Some(0));
    assert_eq!(trace.stage(n - 1).map(|(i, _)| i), Some(n - 1));
    for past in [n, n + 3, 100_000, usize::MAX] {
        let (i, stage) = trace.stage(past).unwrap();
        assert_eq!((i, stage.kind, stage.index), (n - 1, trace.stages[n - 1].kind, trace.stages[n - 1].index));
    }
}

/// Every op's and optimizer's generic rule, shown above the traced formula, is MathML: well-formed,
/// with derivatives as fractions and scripts as scripts (no `∂L/∂`, `^(` or `Σ_` left as text).
#[test]
fn generic_rules_are_mathml() {
    use gradlab::engine::{Leaf, Op, Stats};
    assert_eq!(rule::mathml("Y = A·B"), "<math display=\"block\"><mrow><mi>Y</mi><mo>=</mo><mi>A</mi><mo>·</mo><mi>B</mi></mrow></math>");
    let matmul = rule::mathml(Op::MatMul.formula().backward);
    assert_eq!(matmul.matches("<mfrac>").count(), 4, "{matmul}");
    assert!(matmul.contains("<msup><mi>B</mi><mi>T</mi></msup>"), "{matmul}");
    assert!(rule::mathml("y = Σᵢ xᵢ").contains("<munder><mo>∑</mo><mi>i</mi></munder>"));
    // Each superscript keeps its own character: y² is y squared, β₁ᵗ is β₁ to the t.
    assert!(rule::mathml(Op::Tanh.formula().backward).contains("<msup><mi>y</mi><mn>2</mn></msup>"));
    assert!(rule::mathml("1−β₁ᵗ").contains("<msubsup><mi>β</mi><mn>1</mn><mi>t</mi></msubsup>"));
    assert!(rule::mathml("y = 1 / (1 + e^(−x))").contains("<msup><mi>e</mi><mrow><mo>−</mo><mi>x</mi></mrow></msup>"));
    // Conv's sums run over several indices, batch norm's statistics carry word subscripts under a
    // root, PyTorch's function names stay whole, an embedding's sum runs over a condition.
    let conv = rule::mathml(Op::Conv2d { stride: 1, padding: 2 }.formula().forward);
    assert!(conv.contains("<munder><mo>∑</mo><mrow><mi>c</mi><mo>,</mo><mi>u</mi><mo>,</mo><mi>v</mi></mrow></munder>"), "{conv}");
    let bn = rule::mathml(Op::BatchNorm2d { eps: 1e-5, stats: Stats::Batch }.formula().forward);
    assert!(bn.contains("<msub><mi>μ</mi><mi>batch</mi></msub>") && bn.contains("<msqrt><mrow><msubsup><mi>σ</mi><mi>batch</mi><mn>2</mn></msubsup>"), "{bn}");
    assert!(rule::mathml(Op::Conv2d { stride: 1, padding: 2 }.formula().backward).contains("<mi>conv_transpose2d</mi>"));
    assert!(rule::mathml(Op::Embedding.formula().backward).contains("<munder><mo>∑</mo><mrow><mi>i</mi><mo>:</mo>"));
    let ops = [
        Op::Leaf(Leaf::Input), Op::MatMul, Op::Add, Op::Mul, Op::Sum, Op::Mean, Op::Relu, Op::LeakyRelu { slope: 0.01 }, Op::Sigmoid,
        Op::Tanh, Op::Identity, Op::Softmax, Op::LogSoftmax, Op::Mse, Op::SoftmaxCrossEntropy, Op::BceWithLogits,
        Op::Dropout { rate: 0.1 }, Op::L1 { rate: 0.1 }, Op::L2 { rate: 0.1 },
        // The image, GAN and sequence models' ops (the MNIST stepper shows them too).
        Op::Gelu, Op::Reshape { to: [2, 3].into() }, Op::Permute { axes: [0, 1, 3, 2] }, Op::Conv2d { stride: 1, padding: 2 },
        Op::MaxPool2d { kernel: 2, stride: 2 }, Op::MaskedFill { value: 0.0 }, Op::StopGradient, Op::Linear,
        Op::BatchNorm2d { eps: 1e-5, stats: Stats::Batch }, Op::BatchNorm2d { eps: 1e-5, stats: Stats::Running }, Op::Embedding,
        Op::LayerNorm { eps: 1e-5 }, Op::Slice { from_end: 0, start: 0, len: 1 }, Op::Concat { from_end: 0, count: 2 },
    ];
    let texts = ops.iter().flat_map(|o| [o.formula().forward, o.formula().backward]).chain(OptimizerKind::ALL.iter().map(|k| k.formula()));
    for text in texts {
        let m = rule::mathml(text);
        for raw in ["∂L/∂", "^(", "Σ_"] {
            assert!(!m.contains(raw), "{text}: {raw} left as text in {m}");
        }
        // Well-formed: every tag closed in order.
        let mut open = Vec::new();
        for tag in m.split('<').skip(1).map(|t| t.split(['>', ' ']).next().unwrap_or("")) {
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(open.pop(), Some(name.to_string()), "{text}: {m}");
            } else if !tag.ends_with('/') && tag != "mspace" {
                open.push(tag.to_string());
            }
        }
        assert!(open.is_empty(), "{text}: unclosed {open:?} in {m}");
    }
}
