//! Share links: state → link → state round trips, a mutation fuzzer over links (100k cases here;
//! `GRADLAB_FUZZ_CASES=1000000` for a long run), the messages bad links give, and replay.

use gradlab::data::{DatasetKind, Feature};
use gradlab::engine::{OptimizerKind, Rng, Stream};

use crate::support::{fuzz_cases, mutate, pick};
use gradlab::models::Activation;
use gradlab::share::weights::{self, F16_RELATIVE_ERROR, Params, WeightsError};
use gradlab::share::{BackendChoice, MAX_LINK, MAX_READ, ShareState, decode, encode, keys, param_shapes};
use gradlab::train::schema::{Change, LIVE_KEYS, apply_change, live_changes, validate};

/// A float as links write it.
fn num(x: f64) -> String {
    format!("{x}")
}
use gradlab::train::{BinaryLoss, Config, Regularization, Trainer, read_scalar};


/// A float in [lo, hi] with many digits, or one of the bounds.
fn awkward(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
    if rng.uniform() < 0.2 { pick(rng, &[lo, hi]) } else { rng.range(lo, hi) }
}

/// A random valid state, with awkward floats (many digits, tiny, boundary values).
fn random_state(rng: &mut Rng) -> ShareState {
    let layers = rng.below(7);
    let hidden: Vec<usize> = (0..layers).map(|_| 1 + rng.below(16)).collect();
    let activations = if rng.uniform() < 0.5 {
        vec![pick(rng, &Activation::ALL); layers]
    } else {
        (0..layers).map(|_| pick(rng, &Activation::ALL)).collect()
    };
    let mut features: Vec<Feature> = Feature::ALL.iter().copied().filter(|_| rng.uniform() < 0.5).collect();
    if features.is_empty() {
        features.push(pick(rng, &Feature::ALL));
    }
    let dataset = DatasetKind::ALL[rng.below(7)];
    let config = Config {
        dataset,
        points: 10 + rng.below(4991),
        noise: awkward(rng, 0.0, 0.5),
        train_ratio: awkward(rng, 0.1, 0.9),
        features,
        hidden,
        activations,
        dropout: awkward(rng, 0.0, 0.9),
        regularization: pick(rng, &[Regularization::None, Regularization::L1, Regularization::L2]),
        reg_rate: awkward(rng, 0.0, 1.0),
        // Only two-class data has a choice of loss (the others' `loss` key names their one loss).
        binary_loss: if dataset.task() == gradlab::data::Task::Binary { pick(rng, &[BinaryLoss::Bce, BinaryLoss::Mse]) } else { BinaryLoss::Bce },
        optimizer: pick(rng, &OptimizerKind::ALL),
        lr: awkward(rng, 1e-6, 10.0),
        batch_size: 1 + rng.below(1000),
        seed: rng.next_u64() % (u32::MAX as u64 + 1),
    };
    let steps = rng.next_u64() % 1_000_001;
    // A few live changes, in step order, each valid where it applies.
    let mut changes = Vec::new();
    let mut now = config.clone();
    let mut at = 0;
    for _ in 0..rng.below(4) {
        at += rng.next_u64() % (steps / 4 + 1);
        let (key, value) = match rng.below(6) {
            0 => ("lr", num(awkward(rng, 1e-6, 10.0))),
            1 => ("opt", pick(rng, &OptimizerKind::ALL).key().to_string()),
            2 => ("dropout", num(awkward(rng, 0.0, 0.9))),
            3 => ("reg", pick(rng, &["none", "l1", "l2"]).to_string()),
            4 => ("regrate", num(awkward(rng, 0.0, 1.0))),
            _ => ("batch", (1 + rng.below(1000)).to_string()),
        };
        let change = Change { step: at.min(steps), key: key.into(), value };
        now = apply_change(&now, &change).unwrap();
        changes.push(change);
    }
    use gradlab::share::Page;
    let page = pick(rng, &[Page::Play, Page::Step, Page::Mnist, Page::Gan, Page::Table]);
    // The image experiment's keys are written only in a link to its page.
    let mnist = if page == gradlab::share::Page::Mnist { random_image_config(rng) } else { Default::default() };
    use gradlab::share::TableSource;
    let tab_data = if page == Page::Table { pick(rng, &[TableSource::Adult, TableSource::File, TableSource::Link]) } else { Default::default() };
    let tab_csv = (tab_data == TableSource::Link).then(|| {
        let rows: String = (0..1 + rng.below(40)).map(|i| format!("{},\"{}, x\",{}\n", rng.below(1000), i % 7, pick(rng, &["yes", "no"]))).collect();
        gradlab::share::table::pack(format!("n,quoted note,label\n{rows}").as_bytes()).unwrap()
    });
    ShareState {
        config,
        backend: pick(rng, &[BackendChoice::Auto, BackendChoice::Cpu, BackendChoice::Webgpu]),
        steps,
        changes,
        weights: None,
        view: gradlab::share::View {
            page,
            preset: pick(rng, &[None, Some("xor-2-2-1"), Some("essay-relu"), Some("essay-sigmoid")]).map(String::from),
            stage: rng.below(100_001) as u32,
        },
        mnist,
        mnist_trained: (page == Page::Mnist && rng.uniform() < 0.5)
            .then(|| gradlab::share::TrainedRun { epochs: 1 + rng.below(100) as u32, accuracy: rng.below(10_001) as f64 / 100.0 }),
        gan: if page == gradlab::share::Page::Gan { random_gan_config(rng) } else { Default::default() },
        gan_steps: if page == gradlab::share::Page::Gan { random_step_log(rng) } else { Default::default() },
        tab: if page == Page::Table { random_tabular_config(rng) } else { gradlab::train::tabular::TabularConfig::adult() },
        tab_data,
        tab_csv,
        search: if page == Page::Play {
            let spec = pick(rng, &["grid,4,10,lr=0.001|0.01,depth=0|1|2", "random,200,2000,batch=1..1000,l2=0|0.0001,width=1..16", gradlab::train::search::PLAYGROUND_SPEC]);
            gradlab::train::search::SearchSpec::decode_for::<gradlab::train::Config>(spec).unwrap()
        } else {
            gradlab::train::search::SearchSpec::playground()
        },
        tab_search: if page == Page::Table {
            let spec = pick(rng, &["grid,4,1,lr=0.001|0.01,depth=0|1|2", "random,200,50,batch=8..512,l2=0|0.0001", gradlab::train::search::DEFAULT_SPEC]);
            gradlab::train::search::SearchSpec::decode(spec).unwrap()
        } else {
            Default::default()
        },
        mnist_search: if page == Page::Mnist {
            let spec = pick(rng, &["grid,4,1,lr=0.001|0.01,batch=64", "random,200,10,batch=1..1000,lr=0.000001..10", gradlab::train::search::MNIST_SPEC]);
            gradlab::train::search::SearchSpec::decode_for::<gradlab::train::images::ImageConfig>(spec).unwrap()
        } else {
            gradlab::train::search::SearchSpec::mnist()
        },
    }
}

/// A tabular experiment with column names that need escaping (commas, stars, backslashes,
/// non-ASCII letters, spaces, `&`, `=`, `%`).
fn random_tabular_config(rng: &mut Rng) -> gradlab::train::tabular::TabularConfig {
    use gradlab::data::tabular::Missing;
    let names = ["age", "a,b", "x*y", "back\\slash", "née", "hours per week", "a&b=c", "50%", "收入"];
    let name = |rng: &mut Rng| pick(rng, &names).to_string();
    let mut c = gradlab::train::tabular::TabularConfig::adult();
    c.prep.target = if rng.uniform() < 0.3 { String::new() } else { name(rng) };
    c.prep.positive = if rng.uniform() < 0.5 { None } else { Some(name(rng)) };
    c.prep.features = if rng.uniform() < 0.5 { None } else { Some((0..1 + rng.below(4)).map(|_| name(rng)).collect()) };
    c.prep.sensitive = if rng.uniform() < 0.3 { None } else { Some(name(rng)) };
    c.prep.sensitive_as_feature = rng.uniform() < 0.5;
    c.prep.missing = pick(rng, &Missing::ALL);
    c.prep.products = (0..rng.below(3)).map(|_| (name(rng), name(rng))).collect();
    c.prep.test_fraction = pick(rng, &[0.05, 0.2, 0.25, 0.5]);
    c.hidden = (0..rng.below(5)).map(|_| 1 + rng.below(512)).collect();
    c.dropout = pick(rng, &[0.0, 0.5, 0.9]);
    c.optimizer = pick(rng, &gradlab::engine::OptimizerKind::ALL);
    c.lr = pick(rng, &[1e-3, 0.05, 10.0]);
    c.batch_size = 1 + rng.below(4096);
    c.epochs = 1 + rng.below(200);
    c.reg_rate = pick(rng, &[0.0, 1e-4]);
    c.seed = rng.below(1 << 31) as u64;
    c
}

/// A valid GAN experiment with every setting drawn at random.
fn random_gan_config(rng: &mut Rng) -> gradlab::train::gan::GanConfig {
    use gradlab::models::gan::{GanPreset, Recipe};
    let preset = pick(rng, &GanPreset::ALL);
    let starts: &[gradlab::train::gan::Start] = if preset == GanPreset::Small { &gradlab::train::gan::Start::ALL } else { &[gradlab::train::gan::Start::Seed] };
    gradlab::train::gan::GanConfig {
        preset,
        recipe: pick(rng, &Recipe::ALL),
        batch_size: 1 + rng.below(512),
        lr: pick(rng, &[2e-4, 1e-3, 0.05]),
        beta1: pick(rng, &[0.0, 0.5, 0.9]),
        train_limit: rng.below(60_001),
        seed: rng.below(1 << 31) as u64,
        start: pick(rng, starts),
        dropout: pick(rng, &[0.0, 0.3, 0.5]),
        smoothing: pick(rng, &[0.0, 0.1]),
        noise: pick(rng, &[0.0, 0.1, 0.35]),
        matching: pick(rng, &[0.0, 1.0, 20.0]),
        g_lr: pick(rng, &[0.0, 2e-5]),
        init: pick(rng, &gradlab::models::gan::Init::ALL),
    }
}

/// A GAN step log of a few runs of random halves.
fn random_step_log(rng: &mut Rng) -> gradlab::train::gan::StepLog {
    use gradlab::train::gan::{Half, StepLog};
    let mut log = StepLog::default();
    for _ in 0..rng.below(4) {
        let half = pick(rng, &[Half::Both, Half::Discriminator, Half::Generator]);
        for _ in 0..1 + rng.below(3) {
            log.push(half);
        }
    }
    log
}

/// A valid image experiment with every setting drawn at random.
fn random_image_config(rng: &mut Rng) -> gradlab::train::images::ImageConfig {
    use gradlab::data::images::ImageDataset;
    use gradlab::train::images::{Preset, Schedule};
    let mut c = gradlab::train::images::ImageConfig::default();
    let preset = pick(rng, &Preset::ALL);
    gradlab::train::images::apply_image_settings(&mut c, &[("mnist.preset".into(), preset.key().into())]).unwrap();
    c.dataset = pick(rng, &ImageDataset::ALL);
    c.optimizer = pick(rng, &gradlab::engine::OptimizerKind::ALL);
    c.lr = (rng.range(1e-4, 1.0) * 1e4).round() / 1e4;
    c.momentum = (rng.range(0.0, 0.99) * 100.0).round() / 100.0;
    c.batch_size = 1 + rng.below(1000);
    c.epochs = 1 + rng.below(100);
    c.schedule = pick(rng, &Schedule::ALL);
    c.warmup = rng.below(11) as f64 / 2.0;
    c.decay_every = 1 + rng.below(10);
    c.decay = 0.5;
    c.augment = rng.uniform() < 0.5;
    c.train_limit = if rng.uniform() < 0.5 { 0 } else { 100 + rng.below(59_901) };
    c.seed = rng.below(1 << 20) as u64;
    c
}

#[test]
fn defaults_come_from_the_schema_and_are_valid() {
    let state = ShareState::default();
    assert_eq!(state.config, Config::default());
    assert!(validate(&state.config).is_ok());
    let parsed = decode("");
    assert_eq!(parsed.state, state);
    assert!(parsed.problems.is_empty());
    // Every setting of the experiment is in the link; the image experiment's, the GAN's, the
    // table's and the playground's search only in a link to their page.
    let link = encode(&state);
    let on = |page| encode(&ShareState { view: gradlab::share::View { page, ..Default::default() }, ..state.clone() });
    let (mnist, gan, table) = (on(gradlab::share::Page::Mnist), on(gradlab::share::Page::Gan), on(gradlab::share::Page::Table));
    for key in keys() {
        let (image, of_gan, of_tab) = (key.name().starts_with("mnist."), key.name().starts_with("gan."), key.name().starts_with("tab."));
        // The playground's and the MNIST page's searches only when they are not the default.
        let of_play = key.name() == "search";
        let image_search = key.name() == "mnist.search";
        // The table itself only when the link carries it.
        let table_itself = key.name() == "tab.csv";
        assert!(link.contains(&format!("&{}=", key.name())) != (image || of_gan || of_tab || of_play), "{} in {link}", key.name());
        assert!(mnist.contains(&format!("&{}=", key.name())) != (of_gan || of_tab || of_play || image_search), "{} in {mnist}", key.name());
        assert!(gan.contains(&format!("&{}=", key.name())) != (image || of_tab || of_play), "{} in {gan}", key.name());
        assert!(table.contains(&format!("&{}=", key.name())) != (image || of_gan || of_play || table_itself), "{} in {table}", key.name());
    }
    assert!(link.starts_with("v=2&"));
    // A version-1 link reads without a problem.
    assert!(decode("v=1&dataset=xor").problems.is_empty());
}

#[test]
fn random_states_round_trip_exactly() {
    let mut rng = Rng::new(5, Stream::Data);
    for _ in 0..20_000 {
        let state = random_state(&mut rng);
        assert!(validate(&state.config).is_ok(), "generator made an invalid state: {state:?}");
        let link = encode(&state);
        let parsed = decode(&format!("#{link}"));
        assert!(parsed.problems.is_empty(), "{link}: {:?}", parsed.problems);
        assert_eq!(parsed.state, state, "{link}");
    }
}

#[test]
fn a_human_written_link_reads_as_written() {
    let parsed = decode("#dataset=spiral&layers=8,8&act=tanh&lr=0.03&seed=7");
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    let c = &parsed.state.config;
    assert_eq!((c.dataset, c.hidden.clone(), c.lr, c.seed), (DatasetKind::Spiral, vec![8, 8], 0.03, 7));
    assert_eq!(c.activations, vec![Activation::Tanh; 2]);
}

/// Each bad link names the key, says what was wrong and what was used instead; the rest of the
/// link still applies.
#[test]
fn bad_values_are_reported_by_key_and_replaced_by_defaults() {
    let cases: &[(&str, &str, &str)] = &[
        ("v=1&dataset=spi&seed=9", "dataset", "'spi' is not one of"),
        ("lr=NaN&seed=9", "lr", "'NaN' is not finite (expected a number above 0"),
        ("lr=0&seed=9", "lr", "above 0"),
        ("lr=1e999&seed=9", "lr", "not finite"),
        ("layers=4,99&seed=9", "layers", "99 is out of range (expected 0 to 6 comma-separated neuron counts from 1 to 16"),
        ("layers=1,1,1,1,1,1,1&seed=9", "layers", "more than 6"),
        ("layers=4,2&act=tanh,relu,relu&seed=9", "act", "3 activations for 2 hidden layers"),
        ("features=&seed=9", "features", "not one of"),
        ("features=x1,x1&seed=9", "features", "appears twice"),
        ("steps=-1&seed=9", "steps", "'-1' is not valid (expected a whole number"),
        ("batch=0&seed=9", "batch", "0 is out of range (expected a whole number from 1 to 1000)"),
        ("noise=0.7&seed=9", "noise", "0.7 is out of range (expected a number from 0 to 0.5); using 0"),
        ("dataset=spiral3&loss=mse&seed=9", "loss", "'mse' is not used: 3-class data always trains with cross-entropy"),
        ("frobnicate=1&seed=9", "frobnicate", "unknown setting"),
        ("page=mnist&mnist.trained=10&seed=9", "mnist.trained", "'10' has no '_' (expected none, or EPOCHS_ACCURACY"),
        ("page=mnist&mnist.trained=0_97.5&seed=9", "mnist.trained", "0 is out of range"),
        ("page=mnist&mnist.trained=3_101&seed=9", "mnist.trained", "101 is out of range"),
        ("v=7&seed=9", "v", "newer than this app"),
        ("seed=1&seed=9", "seed", "more than once"),
        ("dataset=%E2%28&seed=9", "dataset", "broken"),
        ("%ZZ=1&seed=9", "%ZZ", "broken"),
    ];
    for (link, key, what) in cases {
        let parsed = decode(link);
        let problem = parsed.problems.iter().find(|p| p.key == *key).unwrap_or_else(|| panic!("{link}: no problem for {key}: {:?}", parsed.problems));
        assert!(problem.message.contains(what), "{link}: {problem}");
        assert_eq!(parsed.state.config.seed, 9, "{link}: the rest of the link must still apply");
        assert!(validate(&parsed.state.config).is_ok());
    }
    let long = format!("seed=9&x={}", "a".repeat(MAX_READ));
    assert_eq!(decode(&long).problems[0].key, "link");
}

/// Mutates valid links at random (bytes, truncation, repeated or swapped pairs, hostile values)
/// and checks that decoding never panics and always yields a state the trainer accepts.
#[test]
fn fuzzed_links_never_panic_and_always_give_a_valid_state() {
    let cases: usize = std::env::var("GRADLAB_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let hostile = [
        "NaN", "-inf", "1e309", "-0", "0x10", "", "=", "&&", "%", "%2", "%00", "<script>alert(1)</script>", "\u{202e}",
        "18446744073709551616", "-1", "4,,2", ",", "none,4", "99999999999999999999999", "tanh,", "%F0%9F%92%A9",
    ];
    let mut rng = Rng::new(77, Stream::Data);
    let mut problems_seen = 0usize;
    for case in 0..cases {
        let mut link = encode(&random_state(&mut rng)).into_bytes();
        for _ in 0..1 + rng.below(4) {
            match rng.below(6) {
                0 if !link.is_empty() => {
                    let i = rng.below(link.len());
                    link[i] = rng.below(256) as u8;
                }
                1 if !link.is_empty() => {
                    link.truncate(rng.below(link.len()));
                }
                2 => {
                    let i = rng.below(link.len() + 1);
                    link.insert(i, pick(&mut rng, b"&=%,.-x0"));
                }
                3 => {
                    let all: Vec<_> = keys().collect();
                    let field = all[rng.below(all.len())];
                    link.extend(format!("&{}={}", field.name(), pick(&mut rng, &hostile)).bytes());
                }
                4 if !link.is_empty() => {
                    let i = rng.below(link.len());
                    link.remove(i);
                }
                _ => {
                    let parts: Vec<&[u8]> = link.split(|&b| b == b'&').collect();
                    let mut parts: Vec<Vec<u8>> = parts.into_iter().map(<[u8]>::to_vec).collect();
                    rng.shuffle(&mut parts);
                    link = parts.join(&b'&');
                }
            }
        }
        let text = String::from_utf8_lossy(&link);
        let parsed = std::panic::catch_unwind(|| decode(&text)).unwrap_or_else(|_| panic!("case {case}: decode panicked on {text:?}"));
        assert!(validate(&parsed.state.config).is_ok(), "case {case}: invalid state from {text:?}");
        problems_seen += parsed.problems.len();
    }
    eprintln!("fuzz: {cases} links decoded, {problems_seen} problems reported, no panic");
    assert!(problems_seen > cases / 4, "the mutations should mostly produce problems");
}

/// A link with steps = N replays: the same losses every time (bit-identical on the CPU), equal to
/// training those N steps by hand.
#[test]
fn opening_a_link_with_steps_replays_bit_identically() {
    let state = decode("dataset=xor&layers=5,3&act=relu&opt=adam&lr=0.01&dropout=0.1&seed=3&steps=37").state;
    let link = encode(&state);
    let replay = |link: &str| {
        let s = decode(link).state;
        let mut t = Trainer::new(s.config, &gradlab::backend::cpu()).unwrap();
        for _ in 0..s.steps {
            t.train_step();
        }
        let (a, b) = t.losses();
        (read_scalar(&a).to_bits(), read_scalar(&b).to_bits())
    };
    assert_eq!(replay(&link), replay(&link));
    let mut by_hand = Trainer::new(state.config.clone(), &gradlab::backend::cpu()).unwrap();
    for _ in 0..37 {
        by_hand.train_step();
    }
    assert_eq!(replay(&link).0, read_scalar(&by_hand.losses().0).to_bits());
}

fn trained(config: &Config, steps: usize) -> (Trainer, Vec<Vec<f32>>) {
    let mut t = Trainer::new(config.clone(), &gradlab::backend::cpu()).unwrap();
    for _ in 0..steps {
        t.train_step();
    }
    let values = t.model().params.iter().map(|p| gradlab::engine::block_on(gradlab::engine::read(p)).unwrap()).collect();
    (t, values)
}

/// A safetensors file written from a model has the parameter paths as names, the right shapes and
/// the exact values; loading it into a fresh trainer gives the same losses bit for bit.
#[test]
fn weight_files_round_trip_with_names_shapes_and_values() {
    let config = decode("dataset=spiral3&layers=7,5&act=relu&opt=adam&seed=4").state.config;
    let (mut t, values) = trained(&config, 50);
    let names = t.param_layout().0;
    let shapes = t.param_layout().1;
    let params = Params { names: &names, shapes: &shapes };
    let bytes = weights::to_safetensors(&params, &values, &[]).unwrap();

    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut in_file: Vec<String> = file.names().into_iter().map(String::from).collect();
    in_file.sort();
    assert_eq!(in_file, vec!["l1.b", "l1.w", "l2.b", "l2.w", "l3.b", "l3.w"]);
    assert_eq!(file.tensor("l1.w").unwrap().shape(), &[2, 7]);
    assert_eq!(file.tensor("l3.b").unwrap().shape(), &[1, 3]);

    let loaded = weights::from_safetensors(&bytes, &params).unwrap();
    assert_eq!(loaded, values);
    let mut fresh = Trainer::new(config, &gradlab::backend::cpu()).unwrap();
    fresh.load_params(&loaded).unwrap();
    assert_eq!(read_scalar(&fresh.losses().0).to_bits(), read_scalar(&t.losses().0).to_bits());
}

#[test]
fn bad_weight_files_are_refused_with_a_reason() {
    let config = Config::default();
    let (t, values) = trained(&config, 3);
    let (names, shapes) = (t.param_layout().0, t.param_layout().1);
    let params = Params { names: &names, shapes: &shapes };
    let good = weights::to_safetensors(&params, &values, &[]).unwrap();
    let err = |bytes: &[u8]| weights::from_safetensors(bytes, &params).unwrap_err();

    assert!(matches!(err(b""), WeightsError::Corrupt(_)));
    assert!(matches!(err(&good[..good.len() - 5]), WeightsError::Corrupt(_)));
    assert!(matches!(err(&[0xff; 64]), WeightsError::Corrupt(_)));
    // Another network: different shapes, missing and extra tensors.
    let other = decode("layers=3").state.config;
    let (o, ov) = trained(&other, 1);
    let (on, os) = (o.param_layout().0, o.param_layout().1);
    let other_file = weights::to_safetensors(&Params { names: &on, shapes: &os }, &ov, &[]).unwrap();
    let msg = err(&other_file).to_string();
    assert!(msg.contains("different network"), "{msg}");
    // NaN inside.
    let mut nan = values.clone();
    nan[2][0] = f32::NAN;
    assert!(matches!(err(&weights::to_safetensors(&params, &nan, &[]).unwrap()), WeightsError::NotFinite(_)));
    // Every truncation and byte flip of a good file is refused or read; never a panic.
    let mut rng = Rng::new(8, Stream::Data);
    for i in 0..2000 {
        let mut bytes = good.clone();
        if i % 2 == 0 {
            bytes.truncate(rng.below(bytes.len()));
        } else {
            let j = rng.below(bytes.len());
            bytes[j] = rng.below(256) as u8;
        }
        let _ = weights::from_safetensors(&bytes, &params);
    }
}

/// Weights in a link: f16, within the stated error, for the network the link describes.
#[test]
fn weights_ride_in_links_as_f16() {
    let config = decode("layers=6,6,4&features=x1,x2,sinx1&seed=2").state.config;
    let (_, values) = trained(&config, 20);
    let state = ShareState { config: config.clone(), steps: 20, weights: Some(values.clone()), ..ShareState::default() };
    let link = encode(&state);
    let parsed = decode(&link);
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    let back = parsed.state.weights.expect("weights");
    for (a, b) in values.iter().flatten().zip(back.iter().flatten()) {
        assert!(((a - b).abs() as f64) <= F16_RELATIVE_ERROR * (a.abs() as f64) + 1e-7, "{a} → {b}");
    }
    // The weights must fit the network the link describes; otherwise the link opens without them.
    let wrong = link.replace("layers=6,6,4", "layers=6,6");
    let parsed = decode(&wrong);
    assert!(parsed.state.weights.is_none());
    assert!(parsed.problems.iter().any(|p| p.key == "w" && p.message.contains("different network")), "{:?}", parsed.problems);
    assert!(decode(&format!("{link}x")).problems.iter().any(|p| p.key == "w"));
    assert!(decode(&link.replace("&w=", "&w=*")).problems.iter().any(|p| p.key == "w"));
    assert_eq!(param_shapes(&config).len(), 8);
    // The biggest network the playground allows still fits in a link with its weights.
    let biggest = decode("features=x1,x2,x1sq,x2sq,x1x2,sinx1,sinx2&layers=16,16,16,16,16,16&dataset=spiral3").state.config;
    let count: usize = param_shapes(&biggest).iter().map(|s| s[0] * s[1]).sum();
    let full = encode(&ShareState { config: biggest, weights: Some(param_shapes(&decode("features=x1,x2,x1sq,x2sq,x1x2,sinx1,sinx2&layers=16,16,16,16,16,16&dataset=spiral3").state.config).iter().map(|s| vec![0.5; s[0] * s[1]]).collect()), ..ShareState::default() });
    eprintln!("largest network: {count} weights, a {} byte link", full.len());
    assert!(full.len() <= MAX_LINK, "{} bytes", full.len());
}

/// The experiment JSON uses the link's keys and values; weights in it are exact.
#[test]
fn experiment_json_round_trips_and_bad_json_is_refused() {
    let config = decode("dataset=gauss&layers=3,3&opt=momentum&seed=6").state.config;
    let (_, values) = trained(&config, 10);
    let state = ShareState { config, steps: 10, weights: Some(values), ..ShareState::default() };
    let json = gradlab::share::to_json(&state);
    assert!(json.contains("\"dataset\": \"gauss\"") && json.contains("\"l2.w\""), "{json}");
    let parsed = gradlab::share::from_json(&json).unwrap();
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    assert_eq!(parsed.state, state, "JSON keeps f32 weights exactly");
    assert!(gradlab::share::from_json("{").is_err());
    assert!(gradlab::share::from_json("[1,2]").unwrap_err().contains("not a gradlab experiment"));
    let bad = json.replace("\"gauss\"", "\"moon\"");
    assert!(gradlab::share::from_json(&bad).unwrap().problems.iter().any(|p| p.key == "dataset"));
    let short = json.replacen("\"values\": [", "\"values\": [1e40, ", 1);
    assert!(gradlab::share::from_json(&short).unwrap().problems.iter().any(|p| p.key == "weights"));
}

#[test]
fn a_preset_name_alone_opens_the_stepper() {
    let parsed = decode("#preset=essay-relu");
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    assert_eq!(parsed.state.view.page, gradlab::share::Page::Step);
    assert_eq!(parsed.state.view.preset.as_deref(), Some("essay-relu"));
    let parsed = decode("#preset=essay-relu&page=play&stage=7");
    assert_eq!(parsed.state.view.page, gradlab::share::Page::Play);
    assert_eq!(parsed.state.view.stage, 7);
    let parsed = decode("#preset=essay-tanh&stage=-1");
    let keys: Vec<&str> = parsed.problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["preset", "stage"], "{:?}", parsed.problems);
    assert!(parsed.problems[0].message.contains("xor-2-2-1"), "{}", parsed.problems[0].message);
    assert_eq!(parsed.state.view.preset, None);
}

/// Stale values (another network's, as after a layer change) are refused by the writer with a
/// reason; it never panics and never writes a file whose tensors do not match their shapes.
#[test]
fn writing_weights_of_another_network_is_refused() {
    let config = Config::default();
    let (t, values) = trained(&config, 2);
    let (names, shapes) = (t.param_layout().0, t.param_layout().1);
    let other = decode("layers=3").state.config;
    let (o, _) = trained(&other, 0);
    let (on, os) = (o.param_layout().0, o.param_layout().1);
    // Old values, new network: the panic this replaced.
    let err = weights::to_safetensors(&Params { names: &on, shapes: &os }, &values, &[]).unwrap_err();
    assert!(matches!(err, WeightsError::Mismatch(_)), "{err}");
    let mut short = values.clone();
    short.pop();
    assert!(weights::to_safetensors(&Params { names: &names, shapes: &shapes }, &short, &[]).is_err());
    let mut wrong = values.clone();
    wrong[0].push(1.0);
    let msg = weights::to_safetensors(&Params { names: &names, shapes: &shapes }, &wrong, &[]).unwrap_err().to_string();
    assert!(msg.contains("l1.w"), "{msg}");
    // A trainer refuses values that do not fit it, and keeps what it had.
    let mut fresh = Trainer::new(other, &gradlab::backend::cpu()).unwrap();
    assert!(fresh.load_params(&values).is_err());
    assert_eq!(fresh.saved().params.len(), os.len());
}

/// Weights that f16 cannot hold within its stated error (|w| > 65504, or in f16's subnormal
/// range) travel as f32 for their tensor, never clamped; every weight comes back within the
/// stated error, and links whose weights all fit f16 keep the old compact form.
#[test]
fn weights_outside_f16_travel_as_f32_in_links() {
    let config = decode("layers=3&seed=3").state.config;
    let shapes = param_shapes(&config);
    let (_, mut values) = trained(&config, 5);
    let compact = weights::to_link(&values);
    assert!(!compact.contains('.') && !compact.starts_with('+'), "all-f16 weights keep the compact form");
    values[0][0] = 1.0e6; // above f16's largest finite value
    values[0][1] = -70_000.0;
    values[2][0] = 3.0e-6; // f16 subnormal: relative error far above 0.05%
    values[2][1] = 1.0e-9; // below f16's smallest subnormal: would become 0
    let text = weights::to_link(&values);
    assert!(text.contains('.') && text.contains('+'), "{text}");
    let back = weights::from_link(&text, &shapes).unwrap();
    for (a, b) in values.iter().flatten().zip(back.iter().flatten()) {
        assert!(((a - b).abs() as f64) <= F16_RELATIVE_ERROR * a.abs() as f64, "{a} → {b}");
    }
    assert_eq!(back[0][0], 1.0e6);
    assert_eq!(back[2][1], 1.0e-9);
    // Through a whole link too.
    let state = ShareState { config: config.clone(), weights: Some(values.clone()), ..ShareState::default() };
    let parsed = decode(&encode(&state));
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    assert_eq!(parsed.state.weights.as_ref().unwrap()[0][0], 1.0e6);
    // Broken segmented forms are refused with a reason.
    for bad in [text.replacen('.', "", 1), format!("{text}.AAAA"), text.replace('+', "")] {
        assert!(weights::from_link(&bad, &shapes).is_err(), "{bad}");
    }
}

/// Weights a reader accepted: one tensor per parameter, of its shape, all finite.
fn assert_weights_fit(w: &[Vec<f32>], shapes: &[[usize; 2]], case: usize) {
    assert!(w.iter().map(Vec::len).eq(shapes.iter().map(|s| s[0] * s[1])), "case {case}: weights of the wrong shapes");
    assert!(w.iter().flatten().all(|v| v.is_finite()), "case {case}: a weight that is not finite");
}

/// The experiment-JSON reader under the same seeded mutation fuzzing as links (100k cases here,
/// `GRADLAB_FUZZ_CASES=1000000` by hand): never a panic, and whatever it accepts is a valid
/// experiment whose weights (if any) fit its network and are finite.
#[test]
fn fuzzed_experiment_files_never_panic() {
    let cases = fuzz_cases();
    let config = decode("dataset=gauss&layers=3,2&opt=momentum&seed=6").state.config;
    let (_, values) = trained(&config, 3);
    let good = gradlab::share::to_json(&ShareState { config, steps: 3, weights: Some(values), ..ShareState::default() }).into_bytes();
    let mut rng = Rng::new(91, Stream::Data);
    let (mut accepted, mut refused) = (0usize, 0usize);
    for case in 0..cases {
        let bytes = mutate(&mut rng, &good, b"{}[]\",:0-e.\\nu");
        let text = String::from_utf8_lossy(&bytes);
        let result = std::panic::catch_unwind(|| gradlab::share::from_json(&text))
            .unwrap_or_else(|_| panic!("case {case}: from_json panicked on {text:?}"));
        match result {
            Ok(parsed) => {
                accepted += 1;
                assert!(validate(&parsed.state.config).is_ok(), "case {case}");
                if let Some(w) = &parsed.state.weights {
                    assert_weights_fit(w, &param_shapes(&parsed.state.config), case);
                }
            }
            Err(_) => refused += 1,
        }
    }
    eprintln!("fuzz: {cases} experiment files: {accepted} read (problems reported), {refused} refused, no panic");
    assert!(refused > cases / 10, "most mutations break the JSON");
}

/// The safetensors reader likewise: never a panic; what it accepts has the network's shapes and
/// finite values.
#[test]
fn fuzzed_weight_files_never_panic() {
    let cases = fuzz_cases();
    let config = decode("layers=4,3&seed=2").state.config;
    let (t, values) = trained(&config, 3);
    let (names, shapes) = (t.param_layout().0, t.param_layout().1);
    let params = Params { names: &names, shapes: &shapes };
    let good = weights::to_safetensors(&params, &values, &[("gradlab", "v=1")]).unwrap();
    let mut rng = Rng::new(92, Stream::Data);
    let (mut accepted, mut refused) = (0usize, 0usize);
    for case in 0..cases {
        let bytes = mutate(&mut rng, &good, b"{}[]\":,0F");
        let result = std::panic::catch_unwind(|| weights::from_safetensors(&bytes, &params))
            .unwrap_or_else(|_| panic!("case {case}: from_safetensors panicked on {bytes:?}"));
        match result {
            Ok(w) => {
                accepted += 1;
                assert_weights_fit(&w, &shapes, case);
            }
            Err(_) => refused += 1,
        }
    }
    eprintln!("fuzz: {cases} weight files: {accepted} read, {refused} refused, no panic");
    assert!(refused > cases / 2, "most mutations break the file");
}

/// Files over the stated limit are refused by their size, before they are read; the readers
/// refuse oversized input too.
#[test]
fn oversized_files_are_refused_by_size() {
    use gradlab::share::{MAX_FILE, check_file_size};
    assert!(check_file_size(1000.0).is_ok());
    assert!(check_file_size(MAX_FILE as f64).is_ok());
    let msg = check_file_size(MAX_FILE as f64 + 1.0).unwrap_err();
    assert!(msg.contains("MB"), "{msg}");
    assert!(check_file_size(f64::NAN).is_err());
    assert!(check_file_size(200e6).is_err());
    let huge = " ".repeat(MAX_FILE + 1);
    assert!(gradlab::share::from_json(&huge).unwrap_err().contains("MB"));
    let config = Config::default();
    let (names, shapes) = (gradlab::share::param_names(&config), param_shapes(&config));
    let e = weights::from_safetensors(huge.as_bytes(), &Params { names: &names, shapes: &shapes }).unwrap_err();
    assert!(e.to_string().contains("MB"), "{e}");
}

/// The settings that change while training (LIVE_KEYS in the schema) are exactly those the
/// trainer carries on through (`Config::with_live_settings_of`); every other setting resets.
#[test]
fn live_settings_agree_between_schema_and_trainer() {
    let others: &[(&str, &str)] = &[
        ("dataset", "xor"), ("points", "300"), ("noise", "0.1"), ("ratio", "0.7"), ("features", "x1"), ("layers", "3"),
        ("act", "relu"), ("dropout", "0.2"), ("reg", "l2"), ("regrate", "0.01"), ("loss", "mse"), ("opt", "adam"),
        ("lr", "0.1"), ("batch", "20"), ("seed", "5"),
    ];
    let base = ShareState::default();
    for (key, value) in others {
        let changed = decode(&format!("{key}={value}"));
        assert!(changed.problems.is_empty(), "{key}: {:?}", changed.problems);
        let to = changed.state.config;
        assert_ne!(to, base.config, "{key}={value} changes the config");
        let live = LIVE_KEYS.contains(key);
        let schema = live_changes(&base.config, &to, 7);
        assert_eq!(schema.is_some(), live, "{key}: schema");
        assert_eq!(base.config.with_live_settings_of(&to) == to, live, "{key}: trainer");
        if let Some(changes) = schema {
            assert_eq!(changes, vec![Change { step: 7, key: key.to_string(), value: value.to_string() }]);
        }
    }
}

/// Changes in a link: read back in step order, each checked where it applies; bad ones are named.
#[test]
fn setting_changes_in_links_are_checked() {
    let parsed = decode("steps=500&changes=100_lr_0.01+100_opt_adam+300_batch_25");
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    assert_eq!(parsed.state.changes.len(), 3);
    assert_eq!(parsed.state.config.lr, 0.03, "the link's own keys are the starting settings");
    let at = |s| parsed.state.config_at(s);
    assert_eq!((at(99).lr, at(99).optimizer), (0.03, OptimizerKind::Sgd));
    assert_eq!((at(100).lr, at(100).optimizer, at(100).batch_size), (0.01, OptimizerKind::Adam, 10));
    assert_eq!(at(500).batch_size, 25);
    assert!(encode(&parsed.state).contains("changes=100_lr_0.01+100_opt_adam+300_batch_25"));
    for (link, what) in [
        ("steps=50&changes=5_layers_3", "cannot change while training"),
        ("steps=50&changes=10_lr_0.1+5_lr_0.2", "not in step order"),
        ("steps=50&changes=5_lr_abc", "'abc' is not valid"),
        ("steps=50&changes=5_lr", "STEP_KEY_VALUE"),
        ("steps=50&changes=5_lr_0", "above 0"),
        ("steps=10&changes=50_lr_0.1", "ignored"),
    ] {
        let parsed = decode(link);
        let p = parsed.problems.iter().find(|p| p.key == "changes").unwrap_or_else(|| panic!("{link}: {:?}", parsed.problems));
        assert!(p.message.contains(what), "{link}: {p}");
        assert!(parsed.state.changes.is_empty(), "{link}");
    }
}

/// Lowering the learning rate (and switching optimizer, and the batch size) mid-run keeps the
/// weights and the step count, and the link made afterwards replays to the same numbers, bit for
/// bit on the CPU.
#[test]
fn a_mid_run_change_replays_exactly_from_its_link() {
    let start = decode("dataset=spiral&layers=6,4&seed=3&dropout=0.1").state.config;
    let cpu = gradlab::backend::cpu();
    let mut live = Trainer::new(start.clone(), &cpu).unwrap();
    let mut changes = Vec::new();
    for (at, key, value) in [(40u64, "lr", "0.01"), (70, "opt", "adam"), (70, "batch", "17"), (90, "reg", "l2"), (90, "regrate", "0.003")] {
        while live.step < at {
            live.train_step();
        }
        let before = read_scalar(&live.losses().0);
        let change = Change { step: at, key: key.into(), value: value.into() };
        let next = apply_change(&live.config, &change).unwrap();
        assert!(live_changes(&live.config, &next, at).is_some());
        live.change_settings(next).unwrap();
        assert_eq!(live.step, at, "the step count is kept");
        assert_eq!(read_scalar(&live.losses().0).to_bits(), before.to_bits(), "the weights are kept");
        changes.push(change);
    }
    while live.step < 120 {
        live.train_step();
    }
    let link = encode(&ShareState { config: start, steps: 120, changes, ..ShareState::default() });
    let parsed = decode(&link);
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    let mut again = Trainer::new(parsed.state.config.clone(), &cpu).unwrap();
    let mut replay = gradlab::share::Replay::new(&parsed.state);
    while !replay.done(&again) {
        replay.advance(&mut again, 13).unwrap();
    }
    assert_eq!(again.step, 120);
    assert_eq!(again.config, live.config);
    assert_eq!(again.config, parsed.state.config_at(120));
    assert_eq!(read_scalar(&again.losses().1).to_bits(), read_scalar(&live.losses().1).to_bits());
    // A change of anything else is refused by the trainer.
    let mut other = live.config.clone();
    other.hidden = vec![3];
    other.activations = vec![gradlab::models::Activation::Tanh];
    assert!(live.change_settings(other).is_err());
}

/// A small table of the user's rides in the link (`tab.csv`: zlib, base64url) and comes back byte
/// for byte; a cut, altered or oversized one is refused by name and the page asks for the file;
/// a table too large for a link stays out of it.
#[test]
fn a_small_table_rides_in_its_link() {
    use gradlab::share::table::{MAX_PACKED, MAX_UNPACKED, pack, unpack};
    use gradlab::share::{Page, TableSource};
    let mut csv = "\u{feff}name,\"a \"\"quoted\"\", note\",score,label\n".to_string();
    for i in 0..2_000 {
        csv.push_str(&format!("p{i},\"{},\n≠ {}\",{:.3},{}\n", i % 11, i % 5, (i as f64 * 0.37).sin(), if i % 3 == 0 { "yes" } else { "no" }));
    }
    let packed = pack(csv.as_bytes()).expect("a 60 kB CSV of repeats fits a link");
    assert!(packed.len() < csv.len() / 3, "{} characters for {} bytes", packed.len(), csv.len());
    assert_eq!(unpack(&packed).unwrap(), csv.as_bytes());
    let mut state = ShareState { tab_data: TableSource::Link, tab_csv: Some(packed.clone()), ..ShareState::default() };
    state.view.page = Page::Table;
    let link = encode(&state);
    assert!(link.contains("&tab.data=link&") && link.contains(&format!("&tab.csv={packed}")), "{}", &link[..200]);
    let parsed = decode(&link);
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    assert_eq!(parsed.state, state);
    // Not on another page, nor with another source.
    assert!(!encode(&ShareState { view: gradlab::share::View { page: Page::Play, ..state.view.clone() }, ..state.clone() }).contains("tab.csv"));
    let problem = |link: &str, key: &str| {
        let parsed = decode(link);
        let p = parsed.problems.iter().find(|p| p.key == key).unwrap_or_else(|| panic!("no problem for {key}: {:?}", parsed.problems));
        (p.message.clone(), parsed.state)
    };
    // Cut short (a chat app that truncates long links): the checksum catches what deflate would not.
    for cut in [1, 7, packed.len() / 2] {
        let (message, s) = problem(&link.replace(&packed, &packed[..packed.len() - cut]), "tab.csv");
        assert!(message.contains("damaged") || message.contains("not readable"), "cut {cut}: {message}");
        assert_eq!((s.tab_data, s.tab_csv), (TableSource::File, None), "cut {cut}: the page asks for the file");
    }
    let (message, _) = problem(&link.replace(&packed, &packed[..packed.len() - 7]), "tab.data");
    assert!(message.contains("could not be read; the page asks for the file"), "{message}");
    // One character altered.
    let mut altered = packed.clone().into_bytes();
    let i = altered.len() / 2;
    altered[i] = if altered[i] == b'A' { b'B' } else { b'A' };
    let (message, _) = problem(&link.replace(&packed, std::str::from_utf8(&altered).unwrap()), "tab.csv");
    assert!(message.contains("damaged"), "{message}");
    assert!(problem(&link.replace(&packed, "abc*def"), "tab.csv").0.contains("a character outside base64url"));
    // A small link that would unfold into a huge table.
    let bomb = pack(&vec![b'1'; MAX_UNPACKED]).unwrap();
    let mut bytes = vec![b'1'; MAX_UNPACKED + 1];
    bytes[0] = b'2';
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut z, &bytes).unwrap();
    let over: String = gradlab::share::weights::base64(&z.finish().unwrap());
    assert!(unpack(&bomb).is_ok());
    assert!(unpack(&over).unwrap_err().contains("more than 4 MB"));
    // The source and the table go together.
    assert!(problem("page=table&tab.data=link", "tab.data").0.contains("it has no tab.csv"));
    let (message, s) = problem(&format!("page=table&tab.data=adult&tab.csv={packed}"), "tab.csv");
    assert!(message.contains("tab.data is adult; ignored") && s.tab_csv.is_none(), "{message}");
    // Too large for a link: incompressible bytes say how long they would be.
    let mut rng = Rng::new(3, Stream::Data);
    let noise: Vec<u8> = (0..20_000).map(|_| rng.below(256) as u8).collect();
    let why = pack(&noise).unwrap_err();
    let n: usize = why.strip_prefix("it packs to ").and_then(|w| w.split(' ').next()).and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{why}"));
    assert!(n > MAX_PACKED && n < 28_000, "{why}");
    assert!(pack(&vec![b'a'; MAX_UNPACKED + 1]).unwrap_err().contains("a table in a link may unpack to 4 MB at most"));
    // The page compresses with the browser's zlib: any zlib stream of the table reads the same.
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut z, csv.as_bytes()).unwrap();
    assert_eq!(unpack(&gradlab::share::table::pack_zlib(&z.finish().unwrap()).unwrap()).unwrap(), csv.as_bytes());
    assert!(problem(&format!("page=table&tab.data=link&tab.csv={}", "A".repeat(MAX_PACKED + 1)), "tab.csv").0.contains("more than the 24576 a link may carry"));
}
