//! The image experiment: presets and settings through their schema, training on a subset of
//! MNIST (a floor on accuracy, determinism, CPU vs wgpu), and weights that load as PyTorch's.

use burn::tensor::Device;
use gradlab::engine::{Mode, block_on, read, read_many};
use gradlab::share::weights::{self, image_state_dict, load_image_safetensors, state_dict_to_safetensors};
use gradlab::train::images::{ImageConfig, ImageTrainer, Preset, Schedule, Split, apply_image_settings, image_defaults, validate_image};

use crate::support::mnist;

fn config(pairs: &[(&str, &str)]) -> ImageConfig {
    let mut c = image_defaults();
    let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (format!("mnist.{k}"), v.to_string())).collect();
    apply_image_settings(&mut c, &pairs).expect("valid settings");
    c
}

#[test]
fn presets_set_their_hyper_parameters_and_settings_are_checked() {
    let d = image_defaults();
    assert_eq!((d.preset, d.batch_size, d.epochs, d.lr), (Preset::MlpKeras, 128, 10, 0.001));
    let c = config(&[("preset", "cnn-torch")]);
    assert_eq!((c.optimizer.key(), c.lr, c.momentum, c.batch_size), ("momentum", 0.001, 0.9, 100));
    // A later key overrides the preset's value, whatever the order given.
    let c = config(&[("lr", "0.05"), ("preset", "cnn-tuned"), ("sched", "cosine"), ("warmup", "0.5")]);
    assert_eq!((c.lr, c.schedule), (0.05, Schedule::Cosine));
    assert!(validate_image(&c).is_ok());
    let mut c = image_defaults();
    let bad = |c: &mut ImageConfig, k: &str, v: &str| apply_image_settings(c, &[(format!("mnist.{k}"), v.into())]).unwrap_err().to_string();
    assert!(bad(&mut c, "preset", "resnet").contains("preset"));
    assert!(bad(&mut c, "limit", "50").contains("fewer than 100"));
    assert!(bad(&mut c, "lr", "0").contains("above 0"));
    assert!(bad(&mut c, "layers", "4").contains("not a setting"));
    assert_eq!(c, image_defaults(), "a refused value changes nothing before it");
    assert!(Preset::CnnTorch.erratum().unwrap().contains("32×12×12"));
    // The hidden layer's width, the dropout and the penalty: each preset's own, then the link's.
    let d = image_defaults();
    assert_eq!((d.width, d.dropout, d.reg_rate, d.arch()), (128, 0.2, 0.0, Preset::MlpKeras.arch()));
    let c = config(&[("width", "64"), ("preset", "cnn-bn")]);
    assert_eq!((c.width, c.dropout), (64, 0.0), "the link's width, the preset's dropout");
    assert_eq!(c.describe(), "conv 5×5 ×32 → batch norm → ReLU → pool 2 → 64 → ReLU → 10");
    let c = config(&[("preset", "cnn-torch"), ("dropout", "0.25"), ("reg", "l2"), ("regrate", "0.001")]);
    assert_eq!(c.describe(), "conv 5×5 ×32 → ReLU → pool 2 → 10 → ReLU → dropout 0.25 → 10, L2 λ = 0.001");
    assert_eq!(config(&[("width", "300")]).describe(), "784 → 300 ReLU → dropout 0.2 → 10");
    let mut c = image_defaults();
    assert!(bad(&mut c, "width", "0").contains("out of range"));
    assert!(bad(&mut c, "dropout", "1").contains("out of range"));
    assert!(bad(&mut c, "reg", "l3").contains("not one of"));
    // A preset chosen later puts back its own.
    let c = config(&[("preset", "mlp-keras"), ("width", "32")]);
    let mut again = c.clone();
    apply_image_settings(&mut again, &[("mnist.preset".into(), "cnn-tuned".into())]).unwrap();
    assert_eq!((again.width, again.dropout), (10, 0.0));
}

#[test]
fn schedules_follow_their_formulas() {
    let c = config(&[("sched", "step"), ("decayevery", "2"), ("decay", "0.5"), ("lr", "0.1")]);
    assert_eq!([c.lr_at(0, 10), c.lr_at(19, 10), c.lr_at(20, 10), c.lr_at(45, 10)], [0.1, 0.1, 0.05, 0.025]);
    let c = config(&[("sched", "cosine"), ("warmup", "1"), ("lr", "0.1"), ("epochs", "3")]);
    assert!((c.lr_at(0, 10) - 0.01).abs() < 1e-12 && (c.lr_at(9, 10) - 0.1).abs() < 1e-12, "linear warm-up over one epoch");
    assert!((c.lr_at(10, 10) - 0.1).abs() < 1e-12 && (c.lr_at(20, 10) - 0.05).abs() < 1e-12 && c.lr_at(30, 10).abs() < 1e-12);
}

/// The MLP on 2,000 digits for 2 epochs is well above chance, the same seed gives the same
/// weights bit for bit, and the test-set evaluation in chunks equals one pass.
#[test]
fn mlp_learns_a_subset_deterministically() {
    let Some(data) = mnist() else { return };
    let cpu = Device::flex();
    let c = config(&[("preset", "mlp-keras"), ("limit", "2000"), ("epochs", "2")]);
    let run = || {
        let mut t = ImageTrainer::new(c.clone(), &data, &cpu).unwrap();
        for _ in 0..2 * t.steps_per_epoch() {
            t.train_step();
        }
        t
    };
    let (a, b) = (run(), run());
    let read_all = |t: &ImageTrainer| block_on(read_many(t.model.params.clone())).unwrap();
    assert_eq!(read_all(&a), read_all(&b), "same seed, same weights");
    let m = block_on(a.evaluate(Split::Test, 1000)).unwrap();
    let m2 = block_on(a.evaluate(Split::Test, 777)).unwrap();
    assert!(m.accuracy > 0.8, "test accuracy {} after 2 epochs on 2,000 digits (82.8% when written)", m.accuracy);
    assert_eq!(m.predictions, m2.predictions);
    assert!((m.loss - m2.loss).abs() < 1e-5);
    assert_eq!(m.confusion.iter().flatten().sum::<u32>(), 10_000);
    eprintln!("mlp-keras, 2,000 digits, 2 epochs: test accuracy {:.4}, loss {:.4}", m.accuracy, m.loss);
}

/// The page uploads the images a slice per frame: a trainer built that way (slices of 37, which
/// divide neither split) trains and evaluates exactly as one uploaded at once.
#[test]
fn a_trainer_uploaded_in_slices_is_the_one_uploaded_at_once() {
    let Some(data) = mnist() else { return };
    let cpu = Device::flex();
    let c = config(&[("preset", "mlp-keras"), ("limit", "300"), ("batch", "64")]);
    let mut pending = ImageTrainer::begin(c.clone(), &data, &cpu).unwrap();
    let all = 300 + data.test.len();
    assert_eq!(pending.progress(), (0, all));
    let mut slices = 0;
    loop {
        let before = pending.progress().0;
        let done = pending.upload(37);
        slices += 1;
        assert_eq!(pending.progress(), ((before + 37).min(all), all), "slice {slices}");
        if done {
            break;
        }
    }
    assert_eq!(slices, all.div_ceil(37));
    let (mut sliced, mut whole) = (pending.finish(), ImageTrainer::new(c.clone(), &data, &cpu).unwrap());
    for _ in 0..6 {
        // Six batches of 64 over 300 images: the fifth is short and the sixth starts a new pass.
        let (a, b) = (block_on(read(&sliced.train_step())).unwrap(), block_on(read(&whole.train_step())).unwrap());
        assert_eq!(a, b, "the same batch losses");
    }
    let (a, b) = (block_on(sliced.evaluate(Split::Test, 1000)).unwrap(), block_on(whole.evaluate(Split::Test, 1000)).unwrap());
    assert_eq!((&a.predictions, a.loss), (&b.predictions, b.loss), "the same test images, in the same order");
    // On a GPU the slices are written into zeroed device tensors: the same images in the same
    // places (a misplaced slice would change thousands of predictions).
    if let Some(gpu) = crate::support::gpu() {
        let mut pending = ImageTrainer::begin(c.clone(), &data, &gpu).unwrap();
        while !pending.upload(1000) {}
        let on_gpu = block_on(pending.finish().evaluate(Split::Test, 1000)).unwrap();
        let on_cpu = block_on(ImageTrainer::new(c, &data, &cpu).unwrap().evaluate(Split::Test, 1000)).unwrap();
        let differ = on_gpu.predictions.iter().zip(&on_cpu.predictions).filter(|(x, y)| x != y).count();
        assert!(differ <= 20 && (on_gpu.loss - on_cpu.loss).abs() < 1e-4 * on_cpu.loss, "{differ} predictions differ; loss {} vs {}", on_gpu.loss, on_cpu.loss);
    }
    // A bad config is refused before anything is allocated.
    assert!(ImageTrainer::begin(ImageConfig { lr: -1.0, ..image_defaults() }, &data, &cpu).is_err());
}

/// The training accuracy a chart point shows (counted on the device, step by step) is the share
/// of the batches' images whose logits pick their label, counted again here on the host from the
/// traced steps' logits.
#[test]
fn training_accuracy_counts_the_batches_right_answers() {
    let Some(data) = mnist() else { return };
    let cpu = Device::flex();
    let c = config(&[("preset", "mlp-keras"), ("limit", "300"), ("batch", "64")]);
    let mut t = ImageTrainer::new(c, &data, &cpu).unwrap();
    for _ in 0..3 {
        t.train_step();
    }
    t.take_epoch_means();
    let (mut right, mut images) = (0, 0);
    for _ in 0..5 {
        // 300 images in batches of 64: the fifth batch is the short one (44).
        let (tape, nodes, loss) = t.step_on(gradlab::engine::Mode::Trace);
        let logits = block_on(read_many(vec![tape.value(nodes.logits).clone()])).unwrap().remove(0);
        let targets = block_on(read_many(vec![tape.value(tape.node(loss).inputs[1]).clone()])).unwrap().remove(0);
        for (l, y) in logits.chunks(10).zip(targets.chunks(10)) {
            right += usize::from(gradlab::train::images::argmax(l) == gradlab::train::images::argmax(y));
            images += 1;
        }
    }
    let (_, accuracy, batches) = t.take_epoch_means().unwrap();
    let accuracy = block_on(read_many(vec![accuracy])).unwrap()[0][0];
    assert_eq!((batches, images), (5, 300));
    assert!((accuracy - right as f64 / images as f64).abs() < 1e-6, "device {accuracy} vs host {right}/{images}");
    assert!(right > 0 && right < images, "a partly trained net gets some right: {right}/{images}");
}

/// The CNN with batch norm learns, updates its running statistics, and gives the same loss on
/// wgpu (lavapipe natively) as on the CPU for its first steps.
#[test]
fn cnn_with_batch_norm_learns_and_matches_on_wgpu() {
    let Some(data) = mnist() else { return };
    let c = config(&[("preset", "cnn-bn"), ("limit", "1000"), ("lr", "0.01")]);
    let cpu = Device::flex();
    let mut t = ImageTrainer::new(c.clone(), &data, &cpu).unwrap();
    let losses: Vec<f32> = (0..30).map(|_| block_on(read(&t.train_step())).unwrap()[0]).collect();
    assert!(losses[25..].iter().sum::<f32>() / 5.0 < 0.6 * losses[..5].iter().sum::<f32>() / 5.0, "losses {losses:?}");
    assert_eq!(t.model.batches_tracked, 30);
    let mean = block_on(read(&t.model.buffers[0])).unwrap();
    assert!(mean.iter().any(|&m| m.abs() > 1e-3), "running mean moved: {mean:?}");
    if let Some(gpu) = crate::support::gpu() {
        let mut a = ImageTrainer::new(c.clone(), &data, &cpu).unwrap();
        let mut g = ImageTrainer::new(c, &data, &gpu).unwrap();
        assert!(format!("{:?}", g.device()).to_lowercase().contains("wgpu"), "the GPU trainer runs on wgpu: {:?}", g.device());
        for step in 0..3 {
            let (x, y) = (block_on(read(&a.train_step())).unwrap()[0], block_on(read(&g.train_step())).unwrap()[0]);
            assert!((x - y).abs() < 1e-3 * x.abs().max(1.0), "step {step}: CPU loss {x} vs wgpu {y}");
        }
    }
}

/// Peak bytes of one CNN step at batch 100, trace vs train tape (printed for the notes; the
/// train tape must hold less).
#[test]
fn a_cnn_step_holds_less_on_a_train_tape() {
    let Some(data) = mnist() else { return };
    let c = config(&[("preset", "cnn-torch"), ("limit", "1000")]);
    let cpu = Device::flex();
    let peak = |mode: Mode| {
        let mut t = ImageTrainer::new(c.clone(), &data, &cpu).unwrap();
        let (mut tape, _, loss) = t.record_step(mode);
        tape.backward(loss);
        tape.memory().peak
    };
    let (trace, train) = (peak(Mode::Trace), peak(Mode::Train));
    eprintln!("one cnn-torch step at batch 100: peak {:.1} MB traced, {:.1} MB training", trace as f64 / 1e6, train as f64 / 1e6);
    assert!(train < trace, "train {train} vs trace {trace}");
}

/// The stepper on the CNN: the traced step is the trainer's real next step (the same weights as
/// a training step, bit for bit), its stages walk conv → … → loss → backward → updates, each
/// stage's tensors are read on demand with the true shapes, the update obeys momentum SGD's rule,
/// and the f64 replay's finite differences agree with the traced gradients.
#[test]
fn the_stepper_walks_a_real_cnn_step_stage_by_stage() {
    use gradlab::engine::Role;
    use gradlab::stepper::StageKind;
    use gradlab::stepper::model::{ModelStep, Part, Picture, read_parts};
    let Some(data) = mnist() else { return };
    let c = config(&[("preset", "cnn-torch"), ("limit", "200"), ("batch", "20")]);
    let cpu = Device::flex();
    let (mut a, mut b) = (ImageTrainer::new(c.clone(), &data, &cpu).unwrap(), ImageTrainer::new(c.clone(), &data, &cpu).unwrap());
    a.train_step();
    b.train_step();
    let velocity_before = block_on(read_many(vec![a.optimizer.slots(0)[0].clone()])).unwrap().remove(0);
    let step = ModelStep::from_trainer(&mut a);
    b.train_step();
    assert_eq!(a.step, b.step);
    for (x, y) in a.model.params.iter().zip(&b.model.params) {
        assert_eq!(block_on(read(x)).unwrap(), block_on(read(y)).unwrap(), "the traced step is the real one");
    }
    // The walk: the forward ops in order, the loss, the backward in reverse, one update each.
    let kinds: Vec<StageKind> = step.stages.iter().map(|s| s.kind).collect();
    let forward: Vec<String> = step.stages.iter().filter(|s| s.kind == StageKind::Forward).map(|s| step.node(s.index).label().into_owned()).collect();
    assert_eq!(forward, ["conv1", "relu1", "pool1", "flatten", "fc1", "relu2", "fc2"]);
    assert_eq!(kinds.iter().filter(|&&k| k == StageKind::Loss).count(), 1);
    assert_eq!(kinds.iter().filter(|&&k| k == StageKind::Update).count(), 6);
    assert_eq!(step.stage_name(0), "forward · conv2d · conv1 [20, 32, 28, 28]");
    assert_eq!(step.node(step.stages[0].index).tag.role, Role::PreActivation);
    // The diagram: one box per forward op and the loss, each opening its forward stage; a
    // backward stage lights its own op's box, an update the op that reads the parameter.
    let blocks = step.diagram();
    let boxes: Vec<String> = blocks.iter().map(|b| format!("{} {} {}", b.op, b.label, b.shape)).collect();
    assert_eq!(boxes[..4], ["conv2d conv1 [20, 32, 28, 28]", "ReLU relu1 [20, 32, 28, 28]", "max-pool pool1 [20, 32, 14, 14]", "reshape flatten [20, 6272]"]);
    assert_eq!(blocks.len(), 8, "{boxes:?}");
    assert!(blocks.iter().all(|b| step.block_of(b.stage) == Some(b.node)));
    let back = step.stages.iter().position(|s| s.kind == StageKind::Backward && step.node(s.index).label() == "fc1").unwrap();
    assert_eq!(step.block_of(back), Some(blocks[4].node));
    let fc2_bias = step.stages.iter().position(|s| s.kind == StageKind::Update && step.node(step.params[s.index]).label() == "fc2.bias").unwrap();
    assert_eq!(step.block_of(fc2_bias), Some(blocks[6].node));
    // The convolution's stage: its inputs and output, read when asked, in their true shapes.
    let parts = step.parts(0);
    let titles: Vec<&str> = parts.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(titles, ["input x [20, 1, 28, 28]", "input conv1.weight [32, 1, 5, 5]", "input conv1.bias [32]", "output conv1 [20, 32, 28, 28]"]);
    let fetch = |parts: &[Part]| block_on(read_parts(step.pending(parts))).unwrap();
    let conv = fetch(&[parts[3].1]).remove(0);
    let Picture::Images { count, h, w, stride, .. } = conv.picture(false) else { panic!("rank 4: images") };
    assert_eq!((h, w, count, stride), (28, 28, 32, 28 * 28), "the first image's 32 feature maps");
    let hist = conv.histogram(20, &conv.summary());
    assert_eq!(hist.counts.iter().sum::<u32>() as usize, 20 * 32 * 28 * 28);
    let relu = fetch(&[Part::Value(step.stages[1].index)]).remove(0);
    assert!(relu.summary().min >= 0.0 && relu.summary().zeros > 0.1, "ReLU zeroes the negative half: {:?}", relu.summary());
    // A backward stage passes a gradient of the input's shape.
    let back = step.stages.iter().position(|s| s.kind == StageKind::Backward && step.node(s.index).label() == "pool1").unwrap();
    let passed = fetch(&step.parts(back).iter().map(|p| p.1).collect::<Vec<_>>());
    assert_eq!(passed[1].shape.dims(), [20, 32, 28, 28]);
    // conv1.weight's update, the trainer's second: momentum SGD (v ← μ·v + g; w ← w − lr·v).
    let update = step.stages.iter().position(|s| s.kind == StageKind::Update && s.index == 0).unwrap();
    let parts = step.parts(update);
    let titles: Vec<&str> = parts.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(titles, ["conv1.weight before", "gradient ∂L/∂conv1.weight", "optimizer state v after", "conv1.weight after"]);
    let t = fetch(&parts.iter().map(|p| p.1).collect::<Vec<_>>());
    let (lr, mu) = (c.lr, c.momentum);
    for j in 0..t[0].values.len() {
        assert!((t[2].values[j] - (mu * velocity_before[j] + t[1].values[j])).abs() < 1e-6, "v[{j}]");
        assert!((t[3].values[j] - (t[0].values[j] - lr * t[2].values[j])).abs() < 1e-6, "w[{j}]");
    }
    // Finite differences of the f64 replay against the traced gradients.
    let (mut replay, leaves) = step.replay();
    replay.fill(block_on(read_parts(leaves)).unwrap());
    let loss = block_on(read(step.node(step.loss).value())).unwrap()[0] as f64;
    assert!((replay.loss_with(&[]) - loss).abs() < 1e-5 * loss.abs().max(1.0), "replay {} vs traced {loss}", replay.loss_with(&[]));
    for (param, element) in [(0, 7), (1, 3), (2, 1000), (5, 4)] {
        let grad = fetch(&[Part::Gradient(param)]).remove(0);
        let check = replay.gradient_check(step.params[param], element, 1e-4, grad.values[element]);
        // f32 gradients against f64 differences: they agree to ≈ 1e-7 here.
        assert!(check.relative_error < 1e-4, "param {param}[{element}]: {check:?}");
    }
}

/// Exported weights carry PyTorch's names, shapes and dtypes (a `state_dict()` that
/// `load_state_dict(strict=True)` accepts), reload into gradlab unchanged, and a numpy forward
/// pass of the PyTorch module on them reproduces gradlab's probabilities on 1,000 test digits.
#[test]
fn exported_weights_are_pytorchs_state_dict() {
    let Some(data) = mnist() else { return };
    let cpu = Device::flex();
    let python = std::env::var("GRADLAB_PYTHON").ok();
    if python.is_none() {
        eprintln!("GRADLAB_PYTHON is not set: run through ./x test (it installs numpy and safetensors); checking the reload only");
    }
    let dir = std::env::temp_dir().join(format!("gradlab-weights-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for preset in ["mlp-keras", "cnn-bn"] {
        let c = config(&[("preset", preset), ("limit", "1000"), ("lr", if preset == "cnn-bn" { "0.01" } else { "0.001" })]);
        let mut t = ImageTrainer::new(c.clone(), &data, &cpu).unwrap();
        for _ in 0..t.steps_per_epoch() {
            t.train_step();
        }
        let dict = block_on(image_state_dict(&t.model)).unwrap();
        let bytes = state_dict_to_safetensors(&dict, &[("gradlab", preset)]).unwrap();
        // Back into a fresh model: the same state dict.
        let mut fresh = ImageTrainer::new(c, &data, &cpu).unwrap();
        load_image_safetensors(&mut fresh.model, &bytes).unwrap();
        assert_eq!(block_on(image_state_dict(&fresh.model)).unwrap(), dict);
        // A file for the other architecture is refused by name and changes nothing.
        let err = load_image_safetensors(&mut fresh.model, &weights::to_safetensors(&weights::Params { names: &["fc9.weight".into()], shapes: &[[1, 1]] }, &[vec![0.0]], &[]).unwrap(), ).unwrap_err();
        assert!(err.to_string().contains("fc9.weight"), "{err}");
        assert_eq!(block_on(image_state_dict(&fresh.model)).unwrap(), dict);
        let Some(python) = &python else { continue };
        let n = 1000;
        let probs = block_on(read(&t.probabilities(&data.test.pixels[..n * 784]))).unwrap();
        let (wpath, ppath) = (dir.join(format!("{preset}.safetensors")), dir.join(format!("{preset}.f32")));
        std::fs::write(&wpath, &bytes).unwrap();
        std::fs::write(&ppath, probs.iter().flat_map(|p| p.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
        let bundle = std::path::Path::new(&std::env::var("GRADLAB_DATA").unwrap()).join("mnist.idx.gz");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/check_weights.py");
        let out = std::process::Command::new(python)
            .args([script, preset, wpath.to_str().unwrap(), bundle.to_str().unwrap(), ppath.to_str().unwrap(), &n.to_string()])
            .output()
            .expect("running the Python check");
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        eprintln!("{}", said.trim());
        assert!(out.status.success() && said.contains(&format!("{n}/{n} predictions equal")), "{said}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// `n` images of noise with labels (no dataset needed), seeded.
fn noise_images(n: usize, seed: u64) -> gradlab::data::images::ImageSet {
    let mut rng = gradlab::engine::Rng::new(seed, gradlab::engine::Stream::Data);
    let pixels = (0..n * 28 * 28).map(|_| if rng.below(3) == 0 { rng.below(256) as u8 } else { 0 }).collect();
    let labels = (0..n).map(|_| rng.below(10) as u8).collect();
    gradlab::data::images::ImageSet { rows: 28, cols: 28, pixels, labels }
}

/// Training handed over mid-run (the page's Web Worker): a trainer's state, as bytes, taken in
/// by a fresh trainer of the same config goes on exactly as the first would have — across an
/// epoch's reshuffle, with dropout, augmentation, Adam, momentum and batch norm — and comes back
/// the same way. A state that does not fit is refused and changes nothing.
#[test]
fn a_trainer_state_goes_on_bit_for_bit_elsewhere() {
    use gradlab::train::images::{StateError, TrainerState};
    let data = gradlab::data::images::ImageData { train: noise_images(150, 1), test: noise_images(20, 2) };
    let cpu = Device::flex();
    for pairs in [
        &[("preset", "mlp-keras"), ("width", "16"), ("batch", "32"), ("augment", "shift-rotate")][..],
        &[("preset", "cnn-bn"), ("batch", "32"), ("width", "8")][..],
    ] {
        let c = config(pairs);
        let mut straight = ImageTrainer::new(c.clone(), &data, &cpu).unwrap();
        let mut first = ImageTrainer::new(c.clone(), &data, &cpu).unwrap();
        let losses: Vec<f32> = (0..7).map(|_| block_on(read(&straight.train_step())).unwrap()[0]).collect();
        // A slice stops at its step (`until`), or after one step when asked to stop at once.
        assert_eq!(first.train_until(2, || true).1, 2);
        assert_eq!(first.train_until(100, || false).1, 1);
        assert_eq!(first.step, 3);
        let bytes = block_on(first.state()).unwrap().to_bytes();
        // The receiver is built from another seed (other weights, order and streams), so whatever
        // the state does not carry would show below.
        let mut other_seed = c.clone();
        other_seed.seed += 1;
        let mut second = ImageTrainer::new(other_seed, &data, &cpu).unwrap();
        second.restore(TrainerState::from_bytes(&bytes).unwrap()).unwrap();
        let mut went_on: Vec<f32> = (3..5).map(|_| block_on(read(&second.train_step())).unwrap()[0]).collect();
        // ... and back to the first, which had stood still.
        first.restore(TrainerState::from_bytes(&block_on(second.state()).unwrap().to_bytes()).unwrap()).unwrap();
        went_on.extend((5..7).map(|_| block_on(read(&first.train_step())).unwrap()[0]));
        assert_eq!(went_on, losses[3..], "{pairs:?}: the same batch losses");
        let (a, b) = (block_on(straight.state()).unwrap(), block_on(first.state()).unwrap());
        assert_eq!(a, b, "{pairs:?}: the same weights, optimizer, order, streams and sums");
        assert_eq!(first.step, 7);
        let means = |t: &mut ImageTrainer| t.take_epoch_means().map(|(l, r, n)| (block_on(read(&l)).unwrap(), block_on(read(&r)).unwrap(), n));
        assert_eq!(means(&mut straight), means(&mut first));
    }
    // Another model's state is refused; the trainer is as it was.
    let small = ImageTrainer::new(config(&[("width", "16"), ("batch", "32")]), &data, &cpu).unwrap();
    let mut wide = ImageTrainer::new(config(&[("width", "24"), ("batch", "32")]), &data, &cpu).unwrap();
    let before = block_on(wide.state()).unwrap();
    let refused = wide.restore(block_on(small.state()).unwrap()).unwrap_err();
    assert!(matches!(refused, StateError::Mismatch(_)) && refused.to_string().contains("shapes"), "{refused}");
    assert_eq!(block_on(wide.state()).unwrap(), before);
    // Another optimizer's state (momentum's one velocity per parameter into Adam) is refused too.
    let mut momentum = ImageTrainer::new(config(&[("width", "16"), ("batch", "32"), ("opt", "momentum")]), &data, &cpu).unwrap();
    momentum.train_step();
    let mut adam = ImageTrainer::new(config(&[("width", "16"), ("batch", "32")]), &data, &cpu).unwrap();
    assert!(adam.restore(block_on(momentum.state()).unwrap()).unwrap_err().to_string().contains("optimizer"));
}

/// Bytes that are not a training state — cut short, extended, flipped, another version — are
/// refused with a reason, never a panic or a huge allocation.
#[test]
fn damaged_trainer_state_bytes_are_refused() {
    use gradlab::train::images::TrainerState;
    let data = gradlab::data::images::ImageData { train: noise_images(100, 3), test: noise_images(10, 4) };
    let mut t = ImageTrainer::new(config(&[("width", "4"), ("batch", "50")]), &data, &Device::flex()).unwrap();
    t.train_step();
    let good = block_on(t.state()).unwrap().to_bytes();
    crate::support::damaged_states_are_refused(&good, TrainerState::from_bytes, |state| {
        let _ = t.restore(state);
    }, 5);
}

/// A config written as its settings and read back over the defaults is the same config, value for
/// value (the page's worker gets its config this way): each preset, and numbers with no short
/// decimal form.
#[test]
fn a_config_reads_back_from_its_settings() {
    use gradlab::train::images::image_settings_of;
    for preset in ["mlp-keras", "cnn-torch", "cnn-tuned", "cnn-bn"] {
        let mut c = config(&[("preset", preset), ("sched", "cosine"), ("augment", "shift-rotate"), ("limit", "1234"), ("seed", "4294967295")]);
        c.lr = 0.1 + 0.2;
        c.warmup = 1.0 / 3.0;
        c.momentum = 0.9 - 1e-17;
        let mut back = image_defaults();
        apply_image_settings(&mut back, &image_settings_of(&c)).unwrap();
        assert_eq!(back, c, "{preset}");
    }
}
