//! Share links: state → link → state round trips, a mutation fuzzer over links (100k cases here;
//! `GRADLAB_FUZZ_CASES=1000000` for a long run), the messages bad links give, and replay.

use gradlab::data::{DatasetKind, Feature};
use gradlab::engine::{OptimizerKind, Rng, Stream};
use gradlab::models::Activation;
use gradlab::share::{BackendChoice, FIELDS, MAX_LINK, ShareState, decode, encode, validate};
use gradlab::train::{BinaryLoss, Config, Regularization, Trainer, read_scalar};

fn pick<X: Copy>(rng: &mut Rng, all: &[X]) -> X {
    all[rng.below(all.len())]
}

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
    let config = Config {
        dataset: DatasetKind::ALL[rng.below(7)],
        points: 10 + rng.below(4991),
        noise: awkward(rng, 0.0, 0.5),
        train_ratio: awkward(rng, 0.1, 0.9),
        features,
        hidden,
        activations,
        dropout: awkward(rng, 0.0, 0.9),
        regularization: pick(rng, &[Regularization::None, Regularization::L1, Regularization::L2]),
        reg_rate: awkward(rng, 0.0, 1.0),
        binary_loss: pick(rng, &[BinaryLoss::Bce, BinaryLoss::Mse]),
        optimizer: pick(rng, &OptimizerKind::ALL),
        lr: awkward(rng, 1e-6, 10.0),
        batch_size: 1 + rng.below(1000),
        seed: rng.next_u64() % (u32::MAX as u64 + 1),
    };
    ShareState {
        config,
        backend: pick(rng, &[BackendChoice::Auto, BackendChoice::Cpu, BackendChoice::Webgpu]),
        steps: rng.next_u64() % 1_000_001,
    }
}

#[test]
fn defaults_come_from_the_schema_and_are_valid() {
    let state = ShareState::default();
    assert_eq!(state.config, Config::default());
    assert!(validate(&state.config).is_ok());
    let parsed = decode("");
    assert_eq!(parsed.state, state);
    assert!(parsed.problems.is_empty());
    // Every setting of the experiment is in the link.
    let link = encode(&state);
    for field in FIELDS {
        assert!(link.contains(&format!("&{}=", field.key)), "{} missing from {link}", field.key);
    }
    assert!(link.starts_with("v=1&"));
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
        ("lr=NaN&seed=9", "lr", "not a finite number"),
        ("lr=0&seed=9", "lr", "above 0"),
        ("lr=1e999&seed=9", "lr", "not a finite number"),
        ("layers=4,99&seed=9", "layers", "outside 1 to 16"),
        ("layers=1,1,1,1,1,1,1&seed=9", "layers", "more than 6"),
        ("layers=4,2&act=tanh,relu,relu&seed=9", "act", "3 activations for 2 hidden layers"),
        ("features=&seed=9", "features", "not one of"),
        ("features=x1,x1&seed=9", "features", "appears twice"),
        ("steps=-1&seed=9", "steps", "not a whole number"),
        ("batch=0&seed=9", "batch", "outside 1 to 1000"),
        ("noise=0.7&seed=9", "noise", "outside 0 to 0.5"),
        ("frobnicate=1&seed=9", "frobnicate", "unknown setting"),
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
    let long = format!("seed=9&x={}", "a".repeat(MAX_LINK));
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
                    let field = &FIELDS[rng.below(FIELDS.len())];
                    link.extend(format!("&{}={}", field.key, pick(&mut rng, &hostile)).bytes());
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
