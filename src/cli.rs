//! The native command line: `gradlab train | bench | help`, on the same engine and trainer as the
//! page. Flags are parsed in two steps: raw `--name value` pairs, then typed and range-checked
//! into a [`Config`]; every mistake is a one-line message naming the flag, and exit code 2.

use std::time::Instant;

use crate::backend::{self, BackendKind};
use crate::engine::Kernels;
use crate::share::{self, ShareState};
use crate::train::{Config, Trainer, read_scalar};

const HELP: &str = "\
gradlab — train the playground's networks natively on the same engine as the web app

USAGE:
  gradlab train [FLAGS]      train and print losses (one JSON object per evaluation with --json)
  gradlab bench [--json]     steps/s of the playground net on the CPU and the GPU backends
  gradlab step --preset xor-2-2-1|essay-relu|essay-sigmoid [--optimizer sgd|momentum|adam] [--backend cpu|wgpu] [--json]
                             one training step of a stepper preset: every stage, every gradient with its check
  gradlab help

TRAIN FLAGS (defaults are the playground's):
  --dataset circle|xor|gauss|spiral|spiral3|plane|multigauss   (circle)
  --seed N (1)   --steps N (500)   --eval-every N (50)   --backend cpu|wgpu (cpu)   --json
  --points N (500)   --noise 0..0.5 (0)   --ratio 0.1..0.9 (0.5)   --features x1,x2,x1sq,x2sq,x1x2,sinx1,sinx2
  --layers 4,2 (\"none\" for no hidden layer)   --act tanh|relu|leakyrelu|sigmoid|linear (one, or one per layer)
  --optimizer sgd|momentum|adam (sgd)   --lr X (0.03)   --batch N (10)   --loss bce|mse (binary tasks)
  --dropout 0..0.9 (0)   --reg none|l1|l2 (none)   --reg-rate X (0)
";

/// A command-line mistake, shown as one line.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Unknown command.
    #[error("unknown command '{0}' (try: gradlab help)")]
    Command(String),
    /// Unknown flag.
    #[error("unknown flag '{0}' (try: gradlab help)")]
    Flag(String),
    /// A flag without its value.
    #[error("flag {0} needs a value")]
    Missing(String),
    /// A value that does not parse or is out of range.
    #[error("bad value for {flag}: '{value}' ({expected})")]
    Value {
        /// The flag.
        flag: String,
        /// What was given.
        value: String,
        /// What is expected.
        expected: String,
    },
    /// An experiment flag the schema refused.
    #[error("{flag}: {message}")]
    Setting {
        /// The flag.
        flag: String,
        /// The schema's account of what is wrong.
        message: String,
    },
    /// The settings do not make a valid experiment.
    #[error("{0}")]
    Config(#[from] crate::train::ConfigError),
    /// The GPU could not be opened.
    #[error("the GPU backend is not available here: {0}")]
    Gpu(String),
    /// Writing to standard output failed (a closed pipe ends the command quietly instead).
    #[error("could not write the output: {0}")]
    Output(#[from] std::io::Error),
}

/// `println!` that returns the write error instead of panicking, so that `gradlab … | head`
/// ends quietly when `head` closes the pipe.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}

/// Runs the command line; returns the process exit code.
pub fn run(args: &[String]) -> i32 {
    let result = match args.first().map(String::as_str) {
        None | Some("help" | "--help" | "-h") => {
            use std::io::Write as _;
            std::io::stdout().lock().write_all(HELP.as_bytes()).map_err(CliError::from)
        }
        Some("train") => train(&args[1..]),
        Some("bench") => bench(&args[1..]),
        Some("step") => step(&args[1..]),
        Some(other) => Err(CliError::Command(other.to_string())),
    };
    match result {
        Ok(()) => 0,
        // The reader went away (`| head`, `| less` quit): nothing more to say, and no error.
        Err(CliError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("gradlab: {e}");
            2
        }
    }
}

/// Options of `train` besides the experiment config.
struct TrainOptions {
    config: Config,
    steps: u64,
    eval_every: u64,
    backend: BackendKind,
    json: bool,
}

fn bad(flag: &str, value: &str, expected: &str) -> CliError {
    CliError::Value { flag: flag.to_string(), value: value.to_string(), expected: expected.to_string() }
}

fn number<N: std::str::FromStr>(flag: &str, value: &str, expected: &str) -> Result<N, CliError> {
    value.parse().map_err(|_| bad(flag, value, expected))
}

/// Experiment flags and the schema keys (`share::FIELDS`) they set: the schema parses, checks
/// and applies them, exactly as it does for links.
const SETTING_FLAGS: [(&str, &str); 15] = [
    ("--dataset", "dataset"),
    ("--points", "points"),
    ("--noise", "noise"),
    ("--ratio", "ratio"),
    ("--features", "features"),
    ("--layers", "layers"),
    ("--act", "act"),
    ("--dropout", "dropout"),
    ("--reg", "reg"),
    ("--reg-rate", "regrate"),
    ("--loss", "loss"),
    ("--optimizer", "opt"),
    ("--lr", "lr"),
    ("--batch", "batch"),
    ("--seed", "seed"),
];

/// Step one: `--flag value` pairs (and bare `--json`); the run's own flags are parsed here.
/// Step two: the experiment's flags go through the schema, over its defaults.
fn parse_train(args: &[String]) -> Result<TrainOptions, CliError> {
    let mut o = TrainOptions { config: Config::default(), steps: 500, eval_every: 50, backend: BackendKind::Cpu, json: false };
    let mut settings: Vec<(String, String)> = Vec::new();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "--json" {
            o.json = true;
            continue;
        }
        if !flag.starts_with("--") {
            return Err(CliError::Flag(flag.clone()));
        }
        let value = it.next().ok_or_else(|| CliError::Missing(flag.clone()))?;
        let v = value.as_str();
        match flag.as_str() {
            "--steps" => o.steps = number(flag, v, "a whole number ≥ 0")?,
            "--eval-every" => {
                o.eval_every = number(flag, v, "a whole number ≥ 1")?;
                if o.eval_every == 0 {
                    return Err(bad(flag, v, "a whole number ≥ 1"));
                }
            }
            "--backend" => o.backend = BackendKind::from_key(v).ok_or_else(|| bad(flag, v, "cpu or wgpu"))?,
            _ => {
                let (_, key) = SETTING_FLAGS.iter().find(|(f, _)| f == flag).ok_or_else(|| CliError::Flag(flag.clone()))?;
                settings.push((key.to_string(), value.clone()));
            }
        }
    }
    let mut state = ShareState::default();
    if let Some(problem) = share::apply(&mut state, &settings).into_iter().next() {
        let (flag, _) = SETTING_FLAGS.iter().find(|(_, k)| *k == problem.key).expect("problems name schema keys");
        return Err(CliError::Setting { flag: flag.to_string(), message: problem.message });
    }
    o.config = state.config;
    Ok(o)
}

fn device_for(kind: BackendKind) -> Result<burn::tensor::Device, CliError> {
    match kind {
        BackendKind::Cpu => Ok(backend::cpu()),
        BackendKind::Gpu => backend::native_gpu().map_err(CliError::Gpu),
    }
}

fn train(args: &[String]) -> Result<(), CliError> {
    let o = parse_train(args)?;
    let device = device_for(o.backend)?;
    let mut trainer = Trainer::new(o.config, &device)?;
    let report = |t: &Trainer| -> Result<(), CliError> {
        let (train, test) = t.losses();
        let (train, test) = (read_scalar(&train), read_scalar(&test));
        if o.json {
            out!("{{\"step\":{},\"train_loss\":{},\"test_loss\":{}}}", t.step, json_f32(train), json_f32(test));
        } else {
            out!("step {:>6}  epoch {:>7.2}  train loss {:.6}  test loss {:.6}", t.step, t.epoch(), train, test);
        }
        Ok(())
    };
    report(&trainer)?;
    while trainer.step < o.steps {
        trainer.train_step();
        if trainer.step % o.eval_every == 0 || trainer.step == o.steps {
            report(&trainer)?;
        }
    }
    Ok(())
}

/// `gradlab step`: the stepper's numbers for a preset, natively (the browser test compares the
/// page's gradients with these).
fn step(args: &[String]) -> Result<(), CliError> {
    use crate::engine::{Optimizer, OptimizerConfig, Precision};
    use crate::stepper::{self, StepRecord, Trace};
    let names = || stepper::PRESETS.iter().map(|p| p.key).collect::<Vec<_>>().join(", ");
    let (mut preset, mut kind, mut backend, mut json) = (None, None, BackendKind::Cpu, false);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "--json" {
            json = true;
            continue;
        }
        let value = it.next().ok_or_else(|| CliError::Missing(flag.clone()))?;
        match flag.as_str() {
            "--preset" => preset = Some(stepper::preset(value).ok_or_else(|| bad(flag, value, &names()))?),
            "--optimizer" => kind = Some(crate::train::optimizer_from_key(value).ok_or_else(|| bad(flag, value, "sgd, momentum or adam"))?),
            "--backend" => backend = BackendKind::from_key(value).ok_or_else(|| bad(flag, value, "cpu or wgpu"))?,
            _ => return Err(CliError::Flag(flag.clone())),
        }
    }
    let preset = preset.ok_or_else(|| CliError::Missing(format!("--preset ({})", names())))?;
    let device = device_for(backend)?;
    let params = preset.initial_params(&device, Precision::F32);
    let mut optimizer = Optimizer::new(OptimizerConfig::new(kind.unwrap_or(preset.optimizer), preset.lr));
    let record = StepRecord::from_preset(preset, &params, &mut optimizer);
    let trace = crate::engine::block_on(Trace::read(record)).map_err(|e| CliError::Gpu(e.to_string()))?;
    let checks = |i: usize| -> Vec<stepper::GradientCheck> {
        (0..trace.params[i].grad.len()).map(|j| trace.gradient_check(i, j, stepper::EPS)).collect()
    };
    if json {
        let params: serde_json::Map<String, serde_json::Value> = trace
            .params
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let fd: Vec<f64> = checks(i).iter().map(|c| c.numeric).collect();
                let entry = serde_json::json!({
                    "shape": [p.before.rows, p.before.cols],
                    "value": p.before.values, "grad": p.grad.values, "after": p.after.values, "finite_difference": fd,
                });
                (p.name.clone(), entry)
            })
            .collect();
        let doc = serde_json::json!({ "preset": preset.key, "loss": trace.loss_value(), "stages": trace.stages.len(), "params": params });
        out!("{doc}");
        return Ok(());
    }
    out!("{} — loss {}", preset.title, stepper::math::sig(trace.loss_value()));
    for (k, stage) in trace.stages.iter().enumerate() {
        let (what, shape) = match stage.kind {
            stepper::StageKind::Update => (trace.params[stage.index].name.clone(), trace.params[stage.index].before.shape()),
            _ => {
                let n = &trace.nodes[stage.index];
                (format!("{} {}", n.op.name(), n.label), n.value.shape())
            }
        };
        out!("{:>3}/{}  {:<8}  {what} {shape}", k + 1, trace.stages.len(), stage.kind.name());
    }
    for (i, p) in trace.params.iter().enumerate() {
        for (j, c) in checks(i).iter().enumerate() {
            out!(
                "∂L/∂{}.{} = {:<12} finite difference {:<12} relative error {:.1e}   {} → {}",
                p.name,
                stepper::math::index_of(&p.before, j).replace(',', "."),
                stepper::math::sig(c.analytic),
                stepper::math::sig(c.numeric),
                c.relative_error,
                stepper::math::sig(p.before.values[j]),
                stepper::math::sig(p.after.values[j]),
            );
        }
    }
    Ok(())
}

/// What the last update ran, in words: `fused (6/6 tensors)`, `generic (not on the wgpu backend)`.
fn ran(paths: &[crate::engine::UpdatePath]) -> String {
    use crate::engine::UpdatePath;
    let fused = paths.iter().filter(|p| **p == UpdatePath::Fused).count();
    let why: Vec<&str> = paths.iter().filter_map(|p| if let UpdatePath::Generic(w) = p { Some(*w) } else { None }).collect();
    match (fused, why.first()) {
        (_, None) if paths.is_empty() => "generic (no fused kernel for this optimizer)".to_string(),
        (n, None) => format!("fused ({n}/{n} tensors)"),
        (0, Some(w)) => format!("generic ({w})"),
        (n, Some(w)) => format!("fused {n}/{} tensors, generic for the rest ({w})", paths.len()),
    }
}

/// JSON has no NaN: non-finite losses print as null.
fn json_f32(x: f32) -> String {
    if x.is_finite() { format!("{x}") } else { "null".to_string() }
}

fn bench(args: &[String]) -> Result<(), CliError> {
    let json = args.iter().any(|a| a == "--json");
    if let Some(other) = args.iter().find(|a| *a != "--json") {
        return Err(CliError::Flag(other.clone()));
    }
    // The playground's default net (SGD), then Adam with our fused kernel against burn's generic
    // element-wise path on the GPU: the kernel is kept only where it wins.
    let sgd = Config::default();
    let adam = Config { optimizer: crate::engine::OptimizerKind::Adam, ..Config::default() };
    let runs = [
        ("sgd", BackendKind::Cpu, &sgd, Kernels::Generic),
        ("sgd", BackendKind::Gpu, &sgd, Kernels::Generic),
        ("adam", BackendKind::Cpu, &adam, Kernels::Generic),
        ("adam", BackendKind::Gpu, &adam, Kernels::Generic),
        ("adam", BackendKind::Gpu, &adam, Kernels::Fused),
    ];
    let mut results: Vec<(&str, BackendKind, Kernels, f64, String)> = Vec::new();
    for (name, kind, config, kernels) in runs {
        let device = match device_for(kind) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("gradlab bench: skipping {}: {e}", kind.key());
                continue;
            }
        };
        let mut trainer = Trainer::new(config.clone(), &device)?;
        trainer.optimizer.kernels = kernels;
        // Warm up (pipeline compilation, allocations), then time whole steps, reading the loss
        // back every 10 steps as the page does.
        for _ in 0..20 {
            trainer.train_step();
        }
        read_scalar(&trainer.train_step());
        let steps = if kind == BackendKind::Cpu { 2000 } else { 300 };
        let start = Instant::now();
        for i in 0..steps {
            let loss = trainer.train_step();
            if i % 10 == 9 {
                read_scalar(&loss);
            }
        }
        let per_sec = steps as f64 / start.elapsed().as_secs_f64();
        results.push((name, kind, kernels, per_sec, ran(trainer.optimizer.paths())));
    }
    for (name, kind, kernels, per_sec, ran) in &results {
        let (name, kind, kernels, per_sec) = (*name, *kind, *kernels, *per_sec);
        let base = |k: BackendKind, kern: Kernels| results.iter().find(|r| r.0 == name && r.1 == k && r.2 == kern).map(|r| r.3);
        let vs_cpu = base(BackendKind::Cpu, Kernels::Generic).map(|c| per_sec / c).unwrap_or(f64::NAN);
        let vs_generic = base(kind, Kernels::Generic).map(|g| per_sec / g).unwrap_or(f64::NAN);
        let kernels = if kernels == Kernels::Fused { "fused" } else { "generic" };
        if json {
            out!(
                "{{\"where\":\"native\",\"optimizer\":\"{name}\",\"backend\":\"{}\",\"kernels\":\"{kernels}\",\"ran\":{},\"steps_per_sec\":{per_sec:.1},\"vs_cpu\":{vs_cpu:.4},\"vs_generic\":{vs_generic:.4}}}",
                kind.key(),
                serde_json::Value::from(ran.as_str())
            );
        } else {
            out!(
                "native {name:<5} {:<7} {kernels:<8} {per_sec:>10.1} steps/s  ({vs_cpu:.3}× the CPU path, {vs_generic:.3}× generic kernels; ran: {ran})",
                kind.key()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::DatasetKind;
    use crate::models::Activation;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn flags_parse_into_the_config() {
        let o = parse_train(&args("--dataset spiral --seed 7 --layers 8,8,3 --act relu --lr 0.1 --optimizer adam --json")).unwrap();
        assert_eq!(o.config.dataset, DatasetKind::Spiral);
        assert_eq!(o.config.seed, 7);
        assert_eq!(o.config.hidden, vec![8, 8, 3]);
        assert_eq!(o.config.activations, vec![Activation::Relu; 3]);
        assert!(o.json);
        // Order does not matter: the schema applies layers before act.
        let o = parse_train(&args("--act relu,tanh --layers 3,3")).unwrap();
        assert_eq!(o.config.activations, vec![Activation::Relu, Activation::Tanh]);
    }

    #[test]
    fn bad_flags_say_which_flag_and_why() {
        let msg = |s: &str| parse_train(&args(s)).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg("--dataset moon").contains("--dataset"), "{}", msg("--dataset moon"));
        assert!(msg("--lr abc").contains("--lr"));
        assert!(msg("--lr 0").contains("learning rate"));
        assert!(msg("--layers 4,99").contains("layers"));
        assert!(msg("--act tanh,relu,relu").contains("--act"));
        assert!(msg("--seed").contains("needs a value"));
        assert!(msg("--frobnicate 1").contains("unknown flag"));
        assert!(msg("--noise NaN").contains("noise"));
        assert_eq!(run(&args("fly")), 2);
    }
}
