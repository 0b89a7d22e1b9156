//! The native command line: `gradlab train | step | bench | generate`, on the same engine and
//! trainer as the page (the GAN's commands in [`gan`], a user's table in [`tabular`]). clap parses the command line (help for every command, `--flag=value`, `--version`);
//! the experiment's flags are strings that go through the share schema, exactly as link keys do,
//! so the schema stays the one place that checks a setting (and its help text comes from there).
//! Every mistake is a one-line message naming the flag, and exit code 2.

use std::time::Instant;

use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::backend::{self, BackendKind};
use crate::engine::Kernels;
use crate::share::{self, ShareState};
use crate::train::{Config, StepPath, Trainer, read_scalar};

/// A command-line mistake, shown as one line.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// clap refused the command line (unknown flag, missing value, …): its own message.
    #[error("{0}")]
    Usage(String),
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
    /// A dataset file is missing or refused.
    #[error("{0}")]
    Data(String),
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

mod gan;
mod tabular;

/// Experiment flags and the schema keys (`train::schema::SETTINGS`) they set: the schema parses, checks
/// and applies them, exactly as it does for links, and its `expected` text is their help.
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

/// Flags of the image experiment and the schema keys (`train::images::IMAGE_SETTINGS`) they set.
/// `--optimizer`, `--lr`, `--batch`, `--seed`, `--dropout`, `--reg` and `--reg-rate` are shared
/// with the playground: with `--preset` they go to the image schema.
const IMAGE_FLAGS: [(&str, &str, &str); 11] = [
    ("--preset", "mnist.preset", "train an image model (or a GAN: gan-small, gan-essay): "),
    ("--width", "mnist.width", ""),
    ("--images", "mnist.data", ""),
    ("--epochs", "mnist.epochs", ""),
    ("--train-limit", "mnist.limit", ""),
    ("--momentum", "mnist.momentum", ""),
    ("--schedule", "mnist.sched", "learning-rate schedule: "),
    ("--warmup", "mnist.warmup", ""),
    ("--decay-every", "mnist.decayevery", ""),
    ("--decay", "mnist.decay", ""),
    ("--augment", "mnist.augment", ""),
];

/// The whole command line: `train`, `step`, `bench`, with help for each (`-h`, `--help`,
/// `gradlab help train`) and `--version`.
fn command() -> Command {
    let backend = || {
        Arg::new("backend")
            .long("backend")
            .value_name("cpu|wgpu")
            .default_value("cpu")
            .help("cpu (burn's flex backend) or wgpu (burn's wgpu backend: Vulkan, Metal or DX12)")
    };
    let json = |what: &'static str| Arg::new("json").long("json").action(ArgAction::SetTrue).help(what);
    let mut train = Command::new("train")
        .about("Train a playground network (or, with --preset, an MNIST model) and print its losses (the page's numbers, on the CPU path bit for bit)")
        .arg(Arg::new("steps").long("steps").value_name("N").default_value("500").help("steps (batches) to train"))
        .arg(Arg::new("eval-every").long("eval-every").value_name("N").default_value("50").help("print the losses every N steps"))
        .arg(backend())
        .arg(json("one JSON object per evaluation: step, train_loss, test_loss"))
        .next_help_heading("Experiment (the playground's settings; defaults are the page's)");
    for (flag, key) in SETTING_FLAGS {
        let field = crate::train::schema::setting(key).expect("every flag names a schema key");
        train = train.arg(
            Arg::new(key)
                .long(&flag[2..])
                .value_name("VALUE")
                .allow_hyphen_values(true)
                .help(format!("{} [default: {}]", field.expected, field.default)),
        );
    }
    train = train.next_help_heading("Image experiment (with --preset; defaults are the preset's)");
    for (flag, key, help) in IMAGE_FLAGS {
        let field = crate::train::images::image_setting(key).expect("every image flag names a schema key");
        train = train.arg(
            Arg::new(&flag[2..])
                .long(&flag[2..])
                .value_name("VALUE")
                .allow_hyphen_values(true)
                .help(format!("{help}{} [default: {}]", field.expected, field.default)),
        );
    }
    train = train.arg(
        Arg::new("save")
            .long("save")
            .value_name("FILE")
            .help("after training, write the weights as a PyTorch state dict (safetensors) to FILE"),
    );
    train = gan::train_args(train);
    train = tabular::train_args(train);
    train = train.arg(
        Arg::new("data-dir")
            .long("data-dir")
            .value_name("DIR")
            .help("where mnist.idx.gz and fashion.idx.gz are (built by ./x data) [default: $GRADLAB_DATA, else target/data]"),
    );
    let presets = crate::stepper::PRESETS.iter().map(|p| p.key).collect::<Vec<_>>().join(", ");
    let step = Command::new("step")
        .about("One training step of a stepper preset: every stage, every gradient with its finite-difference check")
        .arg(Arg::new("preset").long("preset").value_name("NAME").required(true).help(format!("one of {presets}")))
        .arg(Arg::new("optimizer").long("optimizer").value_name("sgd|momentum|adam").help("the update rule [default: the preset's]"))
        .arg(backend())
        .arg(json("one JSON document with every parameter's value, gradient, update and finite difference"));
    let bench = Command::new("bench")
        .about("Steps/s of the playground net on the CPU and the GPU, and which optimizer kernels ran")
        .arg(json("one JSON object per measurement"))
        .arg(
            Arg::new("ops")
                .long("ops")
                .action(ArgAction::SetTrue)
                .help("instead: milliseconds per call of each op of a cnn-torch training step (batch 100), forward and backward, on each device"),
        )
        .arg(
            Arg::new("gan")
                .long("gan")
                .action(ArgAction::SetTrue)
                .help("instead: one GAN training step (a discriminator and a generator half, batch 64) of gan-essay and gan-small on each device"),
        );
    Command::new("gradlab")
        .version(env!("CARGO_PKG_VERSION"))
        .about("gradlab — train the playground's networks natively, on the same engine as the web app")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommands([train, step, bench, gan::generate_command()])
}

/// Parses the command line (without the program name).
fn matches(args: &[String]) -> Result<ArgMatches, clap::Error> {
    command().try_get_matches_from(std::iter::once("gradlab").chain(args.iter().map(String::as_str)))
}

/// Runs the command line; returns the process exit code.
pub fn run(args: &[String]) -> i32 {
    let m = match matches(args) {
        Ok(m) => m,
        Err(e) => {
            use clap::error::ErrorKind;
            // Help and the version go to stdout with exit 0 (`gradlab` alone too); mistakes to
            // stderr with exit 2.
            return match e.kind() {
                ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    use std::io::Write as _;
                    let _ = write!(std::io::stdout().lock(), "{}", command().render_help());
                    0
                }
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    let _ = e.print();
                    0
                }
                _ => {
                    let _ = e.print();
                    2
                }
            };
        }
    };
    let result = match m.subcommand() {
        Some(("train", m)) if value(m, "csv").is_some() => tabular::train(m),
        Some(("train", m)) if tabular::TABULAR_ONLY.iter().map(|(f, _)| *f).chain(tabular::TABULAR_EXTRA).any(|f| value(m, f).is_some()) => {
            let flag = tabular::TABULAR_ONLY.iter().map(|(f, _)| *f).chain(tabular::TABULAR_EXTRA).find(|f| value(m, f).is_some()).expect("found above");
            Err(CliError::Setting { flag: format!("--{flag}"), message: "applies only to a table (--csv FILE)".into() })
        }
        Some(("train", m)) if value(m, "preset").is_some_and(|p| p.starts_with("gan-")) => gan::train(m),
        Some(("train", m)) if gan::GAN_ONLY.iter().any(|f| value(m, f).is_some()) => {
            let flag = gan::GAN_ONLY.iter().find(|f| value(m, f).is_some()).expect("found above");
            Err(CliError::Setting { flag: format!("--{flag}"), message: "applies only to a GAN (--preset gan-small or gan-essay)".into() })
        }
        Some(("train", m)) if value(m, "preset").is_some() => parse_image_train(m).and_then(train_images),
        Some(("train", m)) => parse_train(m).and_then(train),
        Some(("step", m)) => step(m),
        Some(("bench", m)) if m.get_flag("ops") => bench_ops(m.get_flag("json")),
        Some(("bench", m)) if m.get_flag("gan") => bench_gan(m.get_flag("json")),
        Some(("bench", m)) => bench(m.get_flag("json")),
        Some(("generate", m)) => gan::generate(m),
        _ => unreachable!("clap requires one of the subcommands"),
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

/// The value clap holds for `id` (every argument with a value is a string here).
fn value<'a>(m: &'a ArgMatches, id: &str) -> Option<&'a str> {
    m.get_one::<String>(id).map(String::as_str)
}

fn backend_of(m: &ArgMatches) -> Result<BackendKind, CliError> {
    let v = value(m, "backend").unwrap_or("cpu");
    BackendKind::from_key(v).ok_or_else(|| bad("--backend", v, "cpu or wgpu"))
}

/// The run's own flags are typed here; the experiment's go through the schema, over its
/// defaults.
fn parse_train(m: &ArgMatches) -> Result<TrainOptions, CliError> {
    let steps = number("--steps", value(m, "steps").unwrap_or("500"), "a whole number ≥ 0")?;
    let every = value(m, "eval-every").unwrap_or("50");
    let eval_every: u64 = number("--eval-every", every, "a whole number ≥ 1")?;
    if eval_every == 0 {
        return Err(bad("--eval-every", every, "a whole number ≥ 1"));
    }
    let settings: Vec<(String, String)> =
        SETTING_FLAGS.iter().filter_map(|(_, key)| value(m, key).map(|v| (key.to_string(), v.to_string()))).collect();
    let mut state = ShareState::default();
    if let Some(problem) = share::apply(&mut state, &settings).into_iter().next() {
        let (flag, _) = SETTING_FLAGS.iter().find(|(_, k)| *k == problem.key).expect("problems name schema keys");
        return Err(CliError::Setting { flag: flag.to_string(), message: problem.message });
    }
    Ok(TrainOptions { config: state.config, steps, eval_every, backend: backend_of(m)?, json: m.get_flag("json") })
}

/// Options of `train --preset`.
struct ImageTrainOptions {
    config: crate::train::images::ImageConfig,
    data_dir: std::path::PathBuf,
    save: Option<std::path::PathBuf>,
    backend: BackendKind,
    json: bool,
}

/// The image experiment's flags through its schema: the preset first, then the flags that
/// override it (shared ones included). Playground-only flags are refused by name.
fn parse_image_train(m: &ArgMatches) -> Result<ImageTrainOptions, CliError> {
    use crate::train::images::{ImageConfig, apply_image_settings};
    const SHARED: [(&str, &str); 7] = [
        ("opt", "mnist.opt"),
        ("lr", "mnist.lr"),
        ("batch", "mnist.batch"),
        ("seed", "mnist.seed"),
        ("dropout", "mnist.dropout"),
        ("reg", "mnist.reg"),
        ("regrate", "mnist.regrate"),
    ];
    if let Some((flag, _)) = SETTING_FLAGS.iter().find(|(_, key)| value(m, key).is_some() && !SHARED.iter().any(|(k, _)| k == key)) {
        return Err(CliError::Setting { flag: flag.to_string(), message: "is a playground setting; it does not apply with --preset".into() });
    }
    if m.value_source("steps") == Some(clap::parser::ValueSource::CommandLine) {
        return Err(CliError::Setting { flag: "--steps".into(), message: "counts playground steps; with --preset use --epochs".into() });
    }
    let mut pairs: Vec<(String, String)> = IMAGE_FLAGS.iter().filter_map(|(flag, key, _)| value(m, &flag[2..]).map(|v| (key.to_string(), v.to_string()))).collect();
    pairs.extend(SHARED.iter().filter_map(|(flag_key, key)| value(m, flag_key).map(|v| (key.to_string(), v.to_string()))));
    let mut config = ImageConfig::default();
    apply_image_settings(&mut config, &pairs).map_err(|e| {
        let flag = IMAGE_FLAGS.iter().find(|(_, k, _)| *k == e.setting).map(|(f, _, _)| f.to_string())
            .or_else(|| {
                let shared = SHARED.iter().find(|(_, k)| *k == e.setting).map(|(k, _)| *k)?;
                SETTING_FLAGS.iter().find(|(_, k)| *k == shared).map(|(f, _)| f.to_string())
            })
            .unwrap_or(e.setting.clone());
        CliError::Setting { flag, message: e.message }
    })?;
    let data_dir = value(m, "data-dir").map(std::path::PathBuf::from).or_else(|| std::env::var_os("GRADLAB_DATA").map(Into::into)).unwrap_or_else(|| "target/data".into());
    let save = value(m, "save").map(std::path::PathBuf::from);
    Ok(ImageTrainOptions { config, data_dir, save, backend: backend_of(m)?, json: m.get_flag("json") })
}

/// `gradlab train --preset …`: one line (or JSON object) per epoch with the train loss, the
/// test loss and accuracy, samples/s and achieved GFLOP/s.
fn train_images(o: ImageTrainOptions) -> Result<(), CliError> {
    use crate::data::images::{Verify, parse_bundle};
    use crate::engine::block_on;
    use crate::train::images::{ImageTrainer, Split};
    let kind = o.config.dataset;
    let path = o.data_dir.join(kind.file_name());
    let gz = std::fs::read(&path).map_err(|e| CliError::Data(format!("{}: {e} (./x data builds it)", path.display())))?;
    let data = parse_bundle(&gz, Verify::Sums(&kind.sums())).map_err(|e| CliError::Data(format!("{}: {e}", path.display())))?;
    let device = device_for(o.backend)?;
    let mut trainer = ImageTrainer::new(o.config, &data, &device)?;
    let flops_per_sample = trainer.config.arch().train_flops_per_sample();
    let per_epoch = trainer.steps_per_epoch();
    for epoch in 1..=trainer.config.epochs {
        let start = Instant::now();
        for _ in 0..per_epoch {
            trainer.train_step();
        }
        let (mean, right, _) = trainer.take_epoch_means().expect("an epoch has batches");
        let means = block_on(crate::engine::read_many(vec![mean, right])).map_err(|e| CliError::Gpu(e.to_string()))?;
        let (train_loss, train_accuracy) = (means[0][0], means[1][0]);
        let seconds = start.elapsed().as_secs_f64();
        let samples_per_sec = trainer.train_len() as f64 / seconds;
        let test = block_on(trainer.evaluate(Split::Test, 1000)).map_err(|e| CliError::Gpu(e.to_string()))?;
        let gflops = samples_per_sec * flops_per_sample / 1e9;
        if o.json {
            out!(
                "{{\"epoch\":{epoch},\"train_loss\":{},\"train_accuracy\":{},\"test_loss\":{},\"test_accuracy\":{},\"samples_per_sec\":{:.1},\"gflops\":{:.3},\"seconds\":{:.3}}}",
                json_f32(train_loss as f32),
                train_accuracy,
                json_f32(test.loss as f32),
                test.accuracy,
                samples_per_sec,
                gflops,
                seconds
            );
        } else {
            out!(
                "epoch {epoch:>3}  train loss {train_loss:.4}  train accuracy {:.2}%  test loss {:.4}  test accuracy {:.2}%  {samples_per_sec:.0} samples/s  {gflops:.2} GFLOP/s",
                100.0 * train_accuracy,
                test.loss,
                100.0 * test.accuracy
            );
        }
    }
    if let Some(path) = &o.save {
        use crate::share::weights::{image_state_dict, state_dict_to_safetensors};
        let state = ShareState { view: share::View { page: share::Page::Mnist, ..Default::default() }, mnist: trainer.config.clone(), ..Default::default() };
        let dict = block_on(image_state_dict(&trainer.model)).map_err(|e| CliError::Gpu(e.to_string()))?;
        let bytes = state_dict_to_safetensors(&dict, &[("gradlab", &share::encode(&state)), ("preset", trainer.config.preset.key())])
            .map_err(|e| CliError::Data(e.to_string()))?;
        std::fs::write(path, bytes).map_err(|e| CliError::Data(format!("{}: {e}", path.display())))?;
        eprintln!("gradlab: wrote {}", path.display());
    }
    Ok(())
}

fn device_for(kind: BackendKind) -> Result<burn::tensor::Device, CliError> {
    match kind {
        BackendKind::Cpu => Ok(backend::cpu()),
        BackendKind::Gpu => backend::native_gpu().map_err(CliError::Gpu),
    }
}

fn train(o: TrainOptions) -> Result<(), CliError> {
    let device = device_for(o.backend)?;
    let mut trainer = Trainer::new(o.config, &device)?;
    let report = |t: &mut Trainer| -> Result<(), CliError> {
        let (train, test) = t.losses();
        let (train, test) = (read_scalar(&train), read_scalar(&test));
        if o.json {
            out!("{{\"step\":{},\"train_loss\":{},\"test_loss\":{}}}", t.step, json_f32(train), json_f32(test));
        } else {
            out!("step {:>6}  epoch {:>7.2}  train loss {:.6}  test loss {:.6}", t.step, t.epoch(), train, test);
        }
        Ok(())
    };
    report(&mut trainer)?;
    while trainer.step < o.steps {
        trainer.train_step();
        if trainer.step % o.eval_every == 0 || trainer.step == o.steps {
            report(&mut trainer)?;
        }
    }
    Ok(())
}

/// `gradlab step`: the stepper's numbers for a preset, natively (the browser test compares the
/// page's gradients with these).
fn step(m: &ArgMatches) -> Result<(), CliError> {
    use crate::engine::{Optimizer, OptimizerConfig, Precision};
    use crate::stepper::{self, StepRecord, Trace};
    let names = || stepper::PRESETS.iter().map(|p| p.key).collect::<Vec<_>>().join(", ");
    let key = value(m, "preset").unwrap_or_default();
    let preset = stepper::preset(key).ok_or_else(|| bad("--preset", key, &names()))?;
    let kind = match value(m, "optimizer") {
        Some(v) => Some(crate::train::optimizer_from_key(v).ok_or_else(|| bad("--optimizer", v, "sgd, momentum or adam"))?),
        None => None,
    };
    let (backend, json) = (backend_of(m)?, m.get_flag("json"));
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
    if !paths.is_empty() && paths.iter().all(|p| *p == UpdatePath::Host) {
        return format!("host kernels ({} tensors)", paths.len());
    }
    match (fused, why.first()) {
        (_, None) if paths.is_empty() => "none (no parameters)".to_string(),
        (n, None) => format!("fused ({n}/{n} tensors)"),
        (0, Some(w)) => format!("generic ({w})"),
        (n, Some(w)) => format!("fused {n}/{} tensors, generic for the rest ({w})", paths.len()),
    }
}

/// JSON has no NaN: non-finite losses print as null.
fn json_f32(x: f32) -> String {
    if x.is_finite() { format!("{x}") } else { "null".to_string() }
}

/// The devices of these kinds that open; one that does not is skipped with a line on stderr.
fn bench_devices(what: &str, kinds: &[BackendKind]) -> Vec<(BackendKind, burn::tensor::Device)> {
    kinds
        .iter()
        .filter_map(|&kind| match device_for(kind) {
            Ok(d) => Some((kind, d)),
            Err(e) => {
                eprintln!("gradlab {what}: skipping {}: {e}", kind.key());
                None
            }
        })
        .collect()
}

/// Each op of a cnn-torch training step at batch 100, forward and backward, timed alone on each
/// device: where a step's time goes (the GPU's kernels against PyTorch's, say).
fn bench_ops(json: bool) -> Result<(), CliError> {
    use crate::engine::{Op, T, WeightGradient};
    use burn::tensor::Distribution;
    let (n, c, side, k, classes) = (100, 32, 28, 5, 10);
    for (kind, device) in bench_devices("bench --ops", &[BackendKind::Cpu, BackendKind::Gpu]) {
        let random = |dims: [usize; 4]| T::random(dims, Distribution::Uniform(-1.0, 1.0), &device);
        let x = random([n, 1, side, side]);
        let (w, b) = (random([c, 1, k, k]), random([1, 1, 1, c]));
        let conv = Op::Conv2d { stride: 1, padding: 2 };
        let (y, _) = conv.forward(&[&x, &w, &b]);
        let relu = Op::Relu.forward(&[&y]).0;
        let pool = Op::MaxPool2d { kernel: 2, stride: 2 };
        let (pooled, indices) = pool.forward(&[&relu]);
        let flat = pooled.clone().reshape([1, 1, n, c * 14 * 14]);
        let (fw, fb) = (random([1, 1, classes, c * 14 * 14]), random([1, 1, 1, classes]));
        let logits = Op::Linear.forward(&[&flat, &fw, &fb]).0;
        let targets = random([1, 1, n, classes]).abs();
        let g_y = random([n, c, side, side]);
        let g_pool = random([n, c, 14, 14]);
        let g_logits = random([1, 1, n, classes]);
        let one = random([1, 1, 1, 1]);
        let no_input = [false, true, true];
        let timed: Vec<(&str, Box<dyn Fn() -> T + '_>)> = vec![
            ("conv2d forward", Box::new(|| conv.forward(&[&x, &w, &b]).0)),
            ("conv2d backward (weight, bias)", Box::new(|| conv.backward(&[&x, &w, &b], &y, &crate::engine::Saved::Nothing, &g_y, &no_input)[1].clone().unwrap())),
            ("conv2d weight gradient: burn", Box::new(|| WeightGradient::Burn.compute(&x, &w, &g_y, 1, 2))),
            ("conv2d weight gradient: im2col", Box::new(|| WeightGradient::Im2col.compute(&x, &w, &g_y, 1, 2))),
            ("relu forward", Box::new(|| Op::Relu.forward(&[&y]).0)),
            ("relu backward", Box::new(|| Op::Relu.backward(&[&y], &relu, &crate::engine::Saved::Nothing, &g_y, &[true])[0].clone().unwrap())),
            ("max-pool forward", Box::new(|| pool.forward(&[&relu]).0)),
            ("max-pool backward", Box::new(|| pool.backward(&[&relu], &pooled, &indices, &g_pool, &[true])[0].clone().unwrap())),
            ("linear forward", Box::new(|| Op::Linear.forward(&[&flat, &fw, &fb]).0)),
            ("linear forward as (W·xᵀ)ᵀ", Box::new(|| fw.clone().matmul(flat.clone().swap_dims(2, 3)).swap_dims(2, 3).add(fb.clone()))),
            ("linear forward split-K (64 parts)", Box::new(|| crate::engine::kernels::linear_split(&flat, &fw, 64).add(fb.clone()))),
            ("linear backward", Box::new(|| Op::Linear.backward(&[&flat, &fw, &fb], &logits, &crate::engine::Saved::Nothing, &g_logits, &[true, true, true])[1].clone().unwrap())),
            ("cross-entropy forward", Box::new(|| Op::SoftmaxCrossEntropy.forward(&[&logits, &targets]).0)),
            ("cross-entropy backward", Box::new(|| Op::SoftmaxCrossEntropy.backward(&[&logits, &targets], &one, &crate::engine::Saved::Nothing, &one, &[true, false])[0].clone().unwrap())),
        ];
        for (name, f) in &timed {
            let sync = |t: T| read_scalar(&t.sum().reshape([1, 1, 1, 1]));
            sync(f()); // warm-up: kernel compilation, allocations
            let reps = if kind == BackendKind::Cpu { 5 } else { 50 };
            let start = Instant::now();
            let mut last = None;
            for _ in 0..reps {
                last = Some(f());
            }
            sync(last.expect("at least one call"));
            let ms = 1e3 * start.elapsed().as_secs_f64() / reps as f64;
            if json {
                out!("{{\"where\":\"native\",\"backend\":\"{}\",\"op\":\"{name}\",\"batch\":{n},\"ms\":{ms:.4}}}", kind.key());
            } else {
                out!("native {:<7} {name:<32} {ms:>9.3} ms", kind.key());
            }
        }
    }
    Ok(())
}

/// GAN training steps (batch 64) on random images, per preset and device: milliseconds per step,
/// samples/s and GFLOP/s.
fn bench_gan(json: bool) -> Result<(), CliError> {
    use crate::models::gan::GanPreset;
    use crate::train::gan::{GanConfig, GanTrainer};
    let images = crate::train::gan::bench_images();
    for preset in [GanPreset::Essay, GanPreset::Small] {
        let flops_per_sample = preset.train_flops_per_sample(crate::models::gan::Recipe::Corrected);
        for (kind, device) in bench_devices("bench --gan", &[BackendKind::Cpu, BackendKind::Gpu]) {
            let config = GanConfig { preset, ..GanConfig::default() };
            let batch = config.batch_size;
            let mut trainer = GanTrainer::new(config, &images, &device);
            read_scalar(&trainer.train_step().0);
            let steps = if kind == BackendKind::Cpu && preset == GanPreset::Essay { 10 } else { 50 };
            let start = Instant::now();
            let mut last = None;
            for _ in 0..steps {
                last = Some(trainer.train_step().1);
            }
            read_scalar(&last.expect("at least one step"));
            let ms = 1e3 * start.elapsed().as_secs_f64() / steps as f64;
            let samples = batch as f64 * 1e3 / ms;
            let gflops = samples * flops_per_sample / 1e9;
            if json {
                out!("{{\"where\":\"native\",\"preset\":\"{}\",\"backend\":\"{}\",\"batch\":{batch},\"ms_per_step\":{ms:.3},\"samples_per_sec\":{samples:.1},\"gflops\":{gflops:.3}}}", preset.key(), kind.key());
            } else {
                out!("native {:<9} {:<7} {ms:>9.3} ms/step  {samples:>10.0} samples/s  {gflops:>8.2} GFLOP/s", preset.key(), kind.key());
            }
        }
    }
    Ok(())
}

fn bench(json: bool) -> Result<(), CliError> {
    // The playground's default net (SGD) and its largest (6 × 16, every feature, 3 classes,
    // Adam): on the CPU our host kernels against burn's generic path, on the GPU our fused Adam
    // against burn's element-wise ops. Ours are kept only where they win.
    use crate::data::{DatasetKind, Feature};
    let sgd = Config::default();
    let adam = Config { optimizer: crate::engine::OptimizerKind::Adam, ..Config::default() };
    let largest = Config {
        dataset: DatasetKind::Spiral3,
        features: Feature::ALL.to_vec(),
        hidden: vec![16; 6],
        activations: vec![crate::models::Activation::Tanh; 6],
        optimizer: crate::engine::OptimizerKind::Adam,
        ..Config::default()
    };
    let runs = [
        ("sgd", BackendKind::Cpu, &sgd, Kernels::Generic),
        ("sgd", BackendKind::Cpu, &sgd, Kernels::Fused),
        ("sgd", BackendKind::Gpu, &sgd, Kernels::Generic),
        ("sgd", BackendKind::Gpu, &sgd, Kernels::Fused),
        ("adam", BackendKind::Cpu, &adam, Kernels::Generic),
        ("adam", BackendKind::Cpu, &adam, Kernels::Fused),
        ("adam", BackendKind::Gpu, &adam, Kernels::Generic),
        ("adam", BackendKind::Gpu, &adam, Kernels::Fused),
        ("6x16", BackendKind::Cpu, &largest, Kernels::Generic),
        ("6x16", BackendKind::Cpu, &largest, Kernels::Fused),
    ];
    let mut results: Vec<(&str, BackendKind, Kernels, f64, String)> = Vec::new();
    for (name, kind, config, kernels) in runs {
        let Some((_, device)) = bench_devices("bench", &[kind]).pop() else { continue };
        let mut trainer = Trainer::new(config.clone(), &device)?;
        trainer.set_kernels(kernels);
        // "generic" is burn's ops throughout: the ops' own GPU kernels (activation backward, BCE)
        // are off too, and back on after.
        crate::engine::fused::set_op_kernels(kernels == Kernels::Fused);
        // Warm up (pipeline compilation, allocations), then time whole steps, reading the loss
        // back every 10 steps as the page does.
        for _ in 0..20 {
            trainer.train_step();
        }
        trainer.train_step().value();
        let steps = match (kind, trainer.path()) {
            (_, StepPath::Host) => 50_000,
            (BackendKind::Cpu, _) => 2000,
            _ => 300,
        };
        let start = Instant::now();
        for i in 0..steps {
            let loss = trainer.train_step();
            if i % 10 == 9 {
                loss.value();
            }
        }
        let per_sec = steps as f64 / start.elapsed().as_secs_f64();
        let path = match trainer.path() {
            StepPath::Host => "host kernels".to_string(),
            StepPath::Burn(why) => format!("burn ({why})"),
            StepPath::None => "none".to_string(),
        };
        results.push((name, kind, kernels, per_sec, format!("{path}; update: {}", ran(trainer.optimizer.paths()))));
        crate::engine::fused::set_op_kernels(true);
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

    /// `train` flags as `gradlab train …` would get them.
    fn parse(s: &str) -> Result<TrainOptions, CliError> {
        let m = matches(&args(&format!("train {s}"))).map_err(|e| CliError::Usage(e.to_string()))?;
        let (_, m) = m.subcommand().unwrap();
        parse_train(m)
    }

    #[test]
    fn flags_parse_into_the_config() {
        let o = parse("--dataset spiral --seed 7 --layers 8,8,3 --act relu --lr 0.1 --optimizer adam --json").unwrap();
        assert_eq!(o.config.dataset, DatasetKind::Spiral);
        assert_eq!(o.config.seed, 7);
        assert_eq!(o.config.hidden, vec![8, 8, 3]);
        assert_eq!(o.config.activations, vec![Activation::Relu; 3]);
        assert!(o.json);
        // Order does not matter: the schema applies layers before act.
        let o = parse("--act relu,tanh --layers 3,3").unwrap();
        assert_eq!(o.config.activations, vec![Activation::Relu, Activation::Tanh]);
        // --flag=value works as --flag value.
        let o = parse("--lr=0.1 --layers=none --steps=7").unwrap();
        assert_eq!((o.config.lr, o.config.hidden.len(), o.steps), (0.1, 0, 7));
    }

    #[test]
    fn bad_flags_say_which_flag_and_why() {
        let msg = |s: &str| parse(s).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg("--dataset moon").contains("--dataset"), "{}", msg("--dataset moon"));
        assert!(msg("--lr abc").contains("--lr"));
        assert!(msg("--lr 0").contains("learning rate"));
        assert!(msg("--layers 4,99").contains("layers"));
        assert!(msg("--act tanh,relu,relu").contains("--act"));
        assert!(msg("--seed").contains("value is required"), "{}", msg("--seed"));
        assert!(msg("--frobnicate 1").contains("unexpected argument"), "{}", msg("--frobnicate 1"));
        assert!(msg("--noise NaN").contains("noise"));
        let three = msg("--dataset spiral3 --loss mse");
        assert!(three.contains("not used") && three.contains("cross-entropy"), "{three}");
        // A message says each thing once.
        let moon = msg("--dataset moon");
        assert_eq!(moon.matches("moon").count(), 1, "{moon}");
        assert_eq!(moon.matches("spiral3").count(), 1, "{moon}");
        assert_eq!(msg("--batch abc"), "--batch: 'abc' is not valid (expected a whole number from 1 to 1000)");
        assert_eq!(msg("--noise x"), "--noise: 'x' is not valid (expected a number from 0 to 0.5)");
        assert_eq!(three, "--loss: 'mse' is not used: 3-class data always trains with cross-entropy (expected bce or mse for two classes; ce for three classes; mse for regression)");
        assert_eq!(run(&args("fly")), 2);
        assert_eq!(run(&args("--version")), 0);
        assert_eq!(run(&args("train --help")), 0);
        assert_eq!(run(&args("help step")), 0);
    }
}
