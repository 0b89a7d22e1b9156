//! The GAN on the command line: `gradlab train --preset gan-small|gan-essay` (the page's training,
//! with the weights saved as safetensors, f32 or f16) and `gradlab generate` (a sample grid as a
//! PNG, and the sample's inception score, MSE and SSIM to the nearest training digits).

use std::path::PathBuf;
use std::time::Instant;

use clap::{Arg, ArgAction, ArgMatches, Command};

use super::{CliError, backend_of, device_for, json_f32, value};
use crate::data::images::{ImageData, ImageDataset, Verify, parse_bundle};
use crate::engine::{block_on, read, read_many};
use crate::models::gan::GanPreset;
use crate::share::weights::{Stored, gan_state_dict, load_gan_safetensors, state_dict_to_safetensors_as};
use crate::train::gan::{GAN_SETTINGS, GanConfig, GanTrainer, Half, apply_gan_settings, sample_z};
use crate::train::quality::{NearestSearch, inception_score};

/// Flags of the GAN experiment and the schema keys (`train::gan::GAN_SETTINGS`) they set;
/// `--preset`, `--lr`, `--batch`, `--seed` and `--train-limit` are the image experiment's flags too,
/// `--dropout` the playground's (here: the discriminator's dropout).
pub(super) const GAN_FLAGS: [(&str, &str); 14] = [
    ("preset", "gan.preset"),
    ("recipe", "gan.recipe"),
    ("lr", "gan.lr"),
    ("beta1", "gan.beta1"),
    ("batch", "gan.batch"),
    ("train-limit", "gan.limit"),
    ("seed", "gan.seed"),
    ("start", "gan.start"),
    ("dropout", "gan.dropout"),
    ("smooth", "gan.smooth"),
    ("instance-noise", "gan.noise"),
    ("init", "gan.init"),
    ("match", "gan.match"),
    ("g-lr", "gan.glr"),
];

/// Flags only a GAN run takes (refused elsewhere).
pub(super) const GAN_ONLY: [&str; 10] = ["recipe", "beta1", "dtype", "start", "smooth", "instance-noise", "init", "match", "g-lr", "save-every"];

/// The GAN-only arguments of `train`.
pub(super) fn train_args(train: Command) -> Command {
    // A flag of the schema: its help is the setting's `expected` text and default.
    let schema = |flag: &'static str, value_name: &'static str, note: &str| {
        let key = GAN_FLAGS.iter().find(|(f, _)| *f == flag).expect("a GAN flag").1;
        let field = GAN_SETTINGS.iter().find(|s| s.key == key).expect("a GAN schema key");
        Arg::new(flag).long(flag).value_name(value_name).help(format!("{}{note} [default: {}]", field.expected, field.default))
    };
    train
        .next_help_heading("GAN (with --preset gan-small or gan-essay; --steps counts steps, each a D and a G half; --dropout is the discriminator's)")
        .arg(schema("recipe", "VALUE", ""))
        .arg(schema("beta1", "VALUE", ""))
        .arg(schema("smooth", "VALUE", ""))
        .arg(schema("instance-noise", "SIGMA", ""))
        .arg(schema("match", "LAMBDA", ""))
        .arg(schema("g-lr", "VALUE", ""))
        .arg(schema("init", "VALUE", ""))
        .arg(schema("start", "VALUE", " (read from www/weights/)"))
        .arg(Arg::new("save-every").long("save-every").value_name("N").help("with --save FILE: also write the weights every N steps, as FILE-N (FILE's extension kept)"))
        .arg(dtype_arg())
}

/// `--dtype`, of `train` and of `generate`.
fn dtype_arg() -> Arg {
    Arg::new("dtype").long("dtype").value_name("f32|f16|int8").help("how --save stores the weights: f32, f16, or int8 weights with a scale per output unit [default: f32]")
}

/// How `--save` stores the weights (`--dtype`).
fn stored_of(m: &ArgMatches) -> Result<Stored, CliError> {
    match value(m, "dtype").unwrap_or("f32") {
        "f32" => Ok(Stored::F32),
        "f16" => Ok(Stored::F16),
        "int8" => Ok(Stored::Int8),
        v => Err(super::bad("--dtype", v, "f32, f16 or int8")),
    }
}

/// `gradlab generate`.
pub(super) fn generate_command() -> Command {
    Command::new("generate")
        .about("Sample digits from a GAN's weights: a grid as a PNG, and the sample's inception score (cnn-tuned as the classifier), MSE and SSIM to the nearest training digits")
        .arg(Arg::new("preset").long("preset").value_name("NAME").default_value("gan-small").help("gan-small or gan-essay"))
        .arg(Arg::new("weights").long("weights").value_name("FILE").help("the GAN's weights [default: www/weights/<preset>.safetensors, the shipped ones]"))
        .arg(Arg::new("n").long("n").value_name("N").default_value("64").help("how many samples, 1 to 1024"))
        .arg(Arg::new("seed").long("seed").value_name("N").default_value("1").help("the seed of the sample's z (the page's grid uses the experiment's seed)"))
        .arg(Arg::new("out").long("out").value_name("FILE").help("write the samples as a PNG grid"))
        .arg(Arg::new("classifier").long("classifier").value_name("FILE").default_value("www/weights/cnn-tuned.safetensors").help("cnn-tuned weights for the inception score"))
        .arg(Arg::new("data-dir").long("data-dir").value_name("DIR").help("where mnist.idx.gz is (./x data) [default: $GRADLAB_DATA, else target/data]"))
        .arg(Arg::new("backend").long("backend").value_name("cpu|wgpu").default_value("cpu").help("cpu or wgpu"))
        .arg(Arg::new("json").long("json").action(ArgAction::SetTrue).help("one JSON object: inception_score, modes, class_counts, mse, ssim"))
        .arg(Arg::new("save").long("save").value_name("FILE").help("also write the weights read, stored as --dtype, with the same metadata (e.g. a trained f32 checkpoint made into the int8 file gradlab ships)"))
        .arg(dtype_arg())
}

fn data_dir(m: &ArgMatches) -> PathBuf {
    value(m, "data-dir").map(PathBuf::from).or_else(|| std::env::var_os("GRADLAB_DATA").map(Into::into)).unwrap_or_else(|| "target/data".into())
}

/// MNIST, read from `dir` and checked against its published sums.
fn mnist(dir: &std::path::Path) -> Result<ImageData, CliError> {
    let kind = ImageDataset::Mnist;
    let path = dir.join(kind.file_name());
    let gz = std::fs::read(&path).map_err(|e| CliError::Data(format!("{}: {e} (./x data builds it)", path.display())))?;
    parse_bundle(&gz, Verify::Sums(&kind.sums())).map_err(|e| CliError::Data(format!("{}: {e}", path.display())))
}

fn read_file(flag: &str, path: &str) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::Data(format!("{flag} {path}: {e}")))
}

/// `gradlab train --preset gan-…`.
pub(super) fn train(m: &ArgMatches) -> Result<(), CliError> {
    // Every experiment flag by its clap id (a playground flag's id is its schema key, an image
    // flag's its name) and as the user typed it; those a GAN does not take are refused by name.
    let playground = super::SETTING_FLAGS.iter().map(|&(flag, key)| (key, flag));
    let image = super::IMAGE_FLAGS.iter().map(|&(flag, _, _)| (&flag[2..], flag));
    let refused = playground.chain(image).filter(|(id, _)| !GAN_FLAGS.iter().any(|(g, _)| g == id));
    for (id, flag) in refused {
        if m.value_source(id) == Some(clap::parser::ValueSource::CommandLine) {
            return Err(CliError::Setting { flag: flag.to_string(), message: "does not apply to a GAN (--preset gan-…)".into() });
        }
    }
    let pairs: Vec<(String, String)> = GAN_FLAGS.iter().filter_map(|(flag, key)| value(m, flag).map(|v| (key.to_string(), v.to_string()))).collect();
    let mut config = GanConfig::default();
    apply_gan_settings(&mut config, &pairs).map_err(|e| {
        let flag = GAN_FLAGS.iter().find(|(_, k)| *k == e.setting).map_or(e.setting.clone(), |(f, _)| format!("--{f}"));
        // A bad value says what the setting takes (a problem between settings already says why).
        let value = pairs.iter().find(|(k, _)| *k == e.setting).map(|(_, v)| v.as_str());
        let bad_value = |s: &&crate::train::gan::GanSetting| value.is_some_and(|v| (s.set)(&mut GanConfig::default(), v).is_err());
        let expected = GAN_SETTINGS.iter().filter(|s| s.key == e.setting).find(bad_value).map(|s| s.expected);
        let message = expected.map_or_else(|| e.message.clone(), |x| format!("{}; expected {x}", e.message));
        CliError::Setting { flag, message }
    })?;
    let steps: u64 = super::number("--steps", value(m, "steps").unwrap_or("500"), "a whole number of steps")?;
    let every: u64 = super::number::<u64>("--eval-every", value(m, "eval-every").unwrap_or("50"), "a whole number above 0")?.max(1);
    let stored = stored_of(m)?;
    let json = m.get_flag("json");
    let checkpoints: Option<u64> = value(m, "save-every").map(|v| super::number::<u64>("--save-every", v, "a whole number of steps above 0")).transpose()?;
    let save_to = value(m, "save");
    if checkpoints.is_some() && save_to.is_none() {
        return Err(CliError::Setting { flag: "--save-every".into(), message: "needs --save FILE (checkpoints are written as FILE-STEP)".into() });
    }
    let checkpoints = checkpoints.filter(|&n| n > 0);
    let data = mnist(&data_dir(m))?;
    let device = device_for(backend_of(m)?)?;
    let mut trainer = GanTrainer::new(config, &data.train, &device);
    if trainer.config.start == crate::train::gan::Start::Shipped {
        let path = format!("www/{}", crate::train::gan::shipped_weights(trainer.config.preset));
        let bytes = read_file("--start shipped", &path)?;
        crate::share::weights::load_gan_weights(&mut trainer, &bytes).map_err(|e| CliError::Data(format!("{path}: {e}")))?;
    }
    let start = Instant::now();
    for step in 1..=steps {
        let out = trainer.take(Half::Both);
        if step % every == 0 || step == steps {
            let parts = [out.d_loss, out.g_loss, out.d_real, out.d_fake].map(|t| t.expect("a full step measures all four"));
            let [d, g, real, fake] = block_on(read_many(parts.to_vec())).map_err(|e| CliError::Gpu(e.to_string()))?.try_into().expect("four tensors");
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
            let seconds = start.elapsed().as_secs_f64();
            let rate = step as f64 / seconds;
            if json {
                out!(
                    "{{\"step\":{step},\"d_loss\":{},\"g_loss\":{},\"d_real\":{:.5},\"d_fake\":{:.5},\"seconds\":{seconds:.3},\"steps_per_sec\":{rate:.2}}}",
                    json_f32(d[0] as f32),
                    json_f32(g[0] as f32),
                    mean(&real),
                    mean(&fake)
                );
            } else {
                out!("step {step:>7}  D loss {:.4}  G loss {:.4}  D(x) {:.3}  D(G(z)) {:.3}  {rate:.1} steps/s", d[0], g[0], mean(&real), mean(&fake));
            }
        }
        if let (Some(every), Some(path)) = (checkpoints, save_to) {
            if step % every == 0 && step != steps {
                save(&trainer, &checkpoint_path(path, step), stored)?;
            }
        }
    }
    if let Some(path) = value(m, "save") {
        save(&trainer, path, stored)?;
    }
    Ok(())
}

/// Writes the trainer's weights (both networks) as safetensors, with the link that replays them.
fn save(trainer: &GanTrainer, path: &str, stored: Stored) -> Result<(), CliError> {
    let dict = block_on(gan_state_dict(&trainer.gan)).map_err(|e| CliError::Gpu(e.to_string()))?;
    let state = crate::share::ShareState {
        view: crate::share::View { page: crate::share::Page::Gan, ..Default::default() },
        gan: trainer.config.clone(),
        gan_steps: trainer.log.clone(),
        ..Default::default()
    };
    let bytes = state_dict_to_safetensors_as(&dict, &[("gradlab", &crate::share::encode(&state)), ("preset", trainer.config.preset.key())], stored)
        .map_err(|e| CliError::Data(e.to_string()))?;
    std::fs::write(path, &bytes).map_err(|e| CliError::Data(format!("{path}: {e}")))?;
    eprintln!("gradlab: wrote {path} ({} bytes)", bytes.len());
    Ok(())
}

/// `FILE` with `-STEP` before its extension: `gan.safetensors` → `gan-2000.safetensors`.
fn checkpoint_path(path: &str, step: u64) -> String {
    match path.rfind('.').filter(|&dot| !path[dot..].contains('/')) {
        Some(dot) => format!("{}-{step}{}", &path[..dot], &path[dot..]),
        None => format!("{path}-{step}"),
    }
}

/// `gradlab generate`.
pub(super) fn generate(m: &ArgMatches) -> Result<(), CliError> {
    let preset_key = value(m, "preset").unwrap_or("gan-small");
    let preset = GanPreset::ALL.into_iter().find(|p| p.key() == preset_key).ok_or_else(|| super::bad("--preset", preset_key, "gan-small or gan-essay"))?;
    let n: usize = super::number("--n", value(m, "n").unwrap_or("64"), "1 to 1024")?;
    if !(1..=1024).contains(&n) {
        return Err(super::bad("--n", &n.to_string(), "1 to 1024"));
    }
    let seed: u64 = super::number("--seed", value(m, "seed").unwrap_or("1"), "a whole number")?;
    let device = device_for(backend_of(m)?)?;
    let default_weights = format!("www/weights/{}.safetensors", preset.key());
    let weights_path = value(m, "weights").unwrap_or(&default_weights);
    let stored = stored_of(m)?;
    let mut gan = crate::models::gan::Gan::init(preset, 0, &device, crate::engine::Precision::F32);
    let weights = read_file("--weights", weights_path)?;
    load_gan_safetensors(&mut gan, &weights).map_err(|e| CliError::Data(format!("--weights {weights_path}: {e}")))?;
    if let Some(path) = value(m, "save") {
        // The file's metadata (its link, its preset) goes along; the writer says how it is stored.
        let metadata = safetensors::SafeTensors::read_metadata(&weights).ok().and_then(|(_, header)| header.metadata().clone()).unwrap_or_default();
        let mut pairs: Vec<(&str, &str)> = metadata.iter().filter(|(k, _)| *k != "quantization").map(|(k, v)| (k.as_str(), v.as_str())).collect();
        pairs.sort();
        let dict = block_on(gan_state_dict(&gan)).map_err(|e| CliError::Gpu(e.to_string()))?;
        let bytes = state_dict_to_safetensors_as(&dict, &pairs, stored).map_err(|e| CliError::Data(e.to_string()))?;
        std::fs::write(path, &bytes).map_err(|e| CliError::Data(format!("--save {path}: {e}")))?;
        eprintln!("gradlab: wrote {path} ({} bytes)", bytes.len());
    }
    let classifier_path = value(m, "classifier").unwrap_or("www/weights/cnn-tuned.safetensors");
    let classifier = crate::share::weights::load_classifier(&read_file("--classifier", classifier_path)?, &device).map_err(|e| CliError::Data(format!("--classifier {classifier_path}: {e}")))?;
    let z = sample_z(preset, seed, n);
    let zt = crate::engine::tensor(&z, [n, preset.latent()], &device, crate::engine::Precision::F32);
    let images = block_on(read(&gan.generate(zt))).map_err(|e| CliError::Gpu(e.to_string()))?;
    let probs = block_on(read_many(vec![classifier.probabilities(&images)])).map_err(|e| CliError::Gpu(e.to_string()))?.remove(0);
    let inception = inception_score(&probs);
    let data = mnist(&data_dir(m))?;
    let mut search = NearestSearch::new(images.clone());
    search.advance(&data.train, data.train.len());
    let (mse, ssim) = search.finish(&data.train).means();
    if let Some(out) = value(m, "out") {
        let columns = (n as f64).sqrt().ceil() as usize;
        std::fs::write(out, crate::data::png::grid_png(&images, 28, columns, 2)).map_err(|e| CliError::Data(format!("--out {out}: {e}")))?;
        eprintln!("gradlab: wrote {out}");
    }
    let counts = inception.class_counts.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(",");
    if m.get_flag("json") {
        out!(
            "{{\"preset\":\"{}\",\"n\":{n},\"inception_score\":{:.4},\"modes\":{},\"class_counts\":[{counts}],\"mse\":{mse:.5},\"ssim\":{ssim:.4}}}",
            preset.key(),
            inception.score,
            inception.modes
        );
    } else {
        out!("{} · {n} samples · inception score {:.3} (cnn-tuned) · {} of 10 classes [{counts}] · nearest training digit: MSE {mse:.4}, SSIM {ssim:.3}", preset.key(), inception.score, inception.modes);
    }
    Ok(())
}
