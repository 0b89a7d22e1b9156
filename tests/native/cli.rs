//! The `gradlab` binary as a user runs it: piped into a reader that stops early.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// `gradlab … | head` used to panic ("failed printing to stdout: Broken pipe"). Closing the pipe
/// after one line must end the command quietly, with exit code 0 and nothing on stderr.
#[test]
fn a_closed_pipe_ends_the_cli_quietly() {
    for args in [
        &["train", "--steps", "100000", "--eval-every", "1"][..],
        &["train", "--steps", "100000", "--eval-every", "1", "--json"][..],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gradlab"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the gradlab binary runs");
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
        assert!(first.contains("loss"), "{first}");
        // The reader is dropped here: the pipe closes, as when `head -1` exits.
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: exit {:?}, stderr: {stderr}", out.status.code());
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
}

/// Help for every command however it is asked for, the version, and one-line mistakes with
/// exit code 2.
#[test]
fn help_version_and_mistakes() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_gradlab")).args(args).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    for args in [&["train", "--help"][..], &["train", "-h"], &["help", "train"]] {
        let (code, stdout, _) = run(args);
        assert_eq!(code, Some(0), "{args:?}");
        assert!(stdout.contains("--dataset") && stdout.contains("[default: circle]"), "{args:?}: {stdout}");
    }
    let (code, stdout, _) = run(&["--version"]);
    assert_eq!((code, stdout.trim()), (Some(0), format!("gradlab {}", env!("CARGO_PKG_VERSION")).as_str()));
    let (code, stdout, _) = run(&[]);
    assert!(code == Some(0) && stdout.contains("train") && stdout.contains("step") && stdout.contains("bench"), "{stdout}");
    let (code, _, stderr) = run(&["train", "--dataset=spiral3", "--loss=mse"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--loss") && stderr.contains("not used"), "{stderr}");
    let (code, _, stderr) = run(&["train", "--layers", "4,99"]);
    assert_eq!(code, Some(2));
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    let (code, stdout, _) = run(&["train", "--steps=3", "--eval-every=3", "--json"]);
    assert_eq!(code, Some(0));
    assert!(stdout.lines().last().unwrap().starts_with("{\"step\":3,"), "{stdout}");
}

/// `train --preset`: an MNIST model from the command line — its mistakes are one line naming the
/// flag; on 1,000 digits it prints one JSON object per epoch and saves a state dict.
#[test]
fn train_an_image_preset() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_gradlab")).args(args).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    let (code, _, stderr) = run(&["train", "--preset", "resnet"]);
    assert!(code == Some(2) && stderr.contains("--preset") && stderr.contains("not one of"), "{stderr}");
    let (code, _, stderr) = run(&["train", "--preset", "mlp-keras", "--dataset", "xor"]);
    assert!(code == Some(2) && stderr.contains("--dataset") && stderr.contains("playground"), "{stderr}");
    let (code, _, stderr) = run(&["train", "--preset", "mlp-keras", "--train-limit", "5"]);
    assert!(code == Some(2) && stderr.contains("--train-limit") && stderr.contains("fewer than 100"), "{stderr}");
    let (code, _, stderr) = run(&["train", "--preset", "mlp-keras", "--dropout", "2"]);
    assert!(code == Some(2) && stderr.contains("--dropout") && stderr.contains("out of range"), "{stderr}");
    let (code, _, stderr) = run(&["train", "--preset", "cnn-torch", "--width", "0"]);
    assert!(code == Some(2) && stderr.contains("--width") && stderr.contains("out of range"), "{stderr}");
    let (code, _, stderr) = run(&["train", "--preset", "mlp-keras", "--data-dir", "/nonexistent"]);
    assert!(code == Some(2) && stderr.contains("./x data"), "{stderr}");
    let Ok(dir) = std::env::var("GRADLAB_DATA") else {
        eprintln!("GRADLAB_DATA is not set: run through ./x test");
        return;
    };
    let save = std::env::temp_dir().join(format!("gradlab-cli-{}.safetensors", std::process::id()));
    let (code, stdout, stderr) = run(&["train", "--preset", "mlp-keras", "--train-limit", "1000", "--epochs", "2", "--json", "--data-dir", &dir, "--save", save.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    for key in ["epoch", "train_loss", "test_loss", "test_accuracy", "samples_per_sec", "gflops"] {
        assert!(lines[1][key].is_number(), "{key} in {}", lines[1]);
    }
    assert!(lines[1]["test_accuracy"].as_f64().unwrap() > 0.6, "{}", lines[1]);
    let bytes = std::fs::read(&save).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(file.tensor("fc1.weight").unwrap().shape(), &[128, 784]);
    // The hidden layer's width and the penalty from flags.
    let (code, _, stderr) = run(&["train", "--preset", "mlp-keras", "--width", "32", "--reg", "l2", "--reg-rate", "0.001", "--train-limit", "500", "--epochs", "1", "--json", "--data-dir", &dir, "--save", save.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    let bytes = std::fs::read(&save).unwrap();
    assert_eq!(safetensors::SafeTensors::deserialize(&bytes).unwrap().tensor("fc1.weight").unwrap().shape(), &[32, 784]);
    std::fs::remove_file(&save).ok();
}

/// The GAN on the command line: bad flags are named; `train --preset gan-small` prints one JSON
/// object per evaluation and saves f16 weights that `generate` reads back into a PNG grid and a
/// JSON line with the inception score, MSE and SSIM.
#[test]
fn train_and_generate_a_gan() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_gradlab")).args(args).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    let (code, _, stderr) = run(&["train", "--preset", "gan-small", "--epochs", "3"]);
    assert!(code == Some(2) && stderr.contains("--epochs") && stderr.contains("GAN"), "{stderr}");
    for flag in [&["--optimizer", "sgd"][..], &["--reg-rate", "0.1"], &["--schedule", "cosine"], &["--dataset", "xor"]] {
        let (code, _, stderr) = run(&[&["train", "--preset", "gan-small"][..], flag].concat());
        assert!(code == Some(2) && stderr.contains(flag[0]) && stderr.contains("does not apply to a GAN"), "{flag:?}: {stderr}");
    }
    let (code, _, stderr) = run(&["train", "--preset", "gan-small", "--recipe", "torch"]);
    assert!(code == Some(2) && stderr.contains("--recipe"), "{stderr}");
    let (code, _, stderr) = run(&["train", "--preset", "mlp-keras", "--recipe", "essay"]);
    assert!(code == Some(2) && stderr.contains("--recipe") && stderr.contains("only to a GAN"), "{stderr}");
    let (code, _, stderr) = run(&["generate", "--weights", "/nonexistent.safetensors"]);
    assert!(code == Some(2) && stderr.contains("--weights"), "{stderr}");
    let Ok(dir) = std::env::var("GRADLAB_DATA") else { return };
    let tmp = std::env::temp_dir();
    let (save, png) = (tmp.join(format!("gradlab-gan-{}.safetensors", std::process::id())), tmp.join(format!("gradlab-gan-{}.png", std::process::id())));
    let (code, _, stderr) = run(&["train", "--preset", "gan-small", "--save-every", "10", "--data-dir", &dir]);
    assert!(code == Some(2) && stderr.contains("--save-every") && stderr.contains("needs --save"), "{stderr}");
    let (code, _, stderr) = run(&["train", "--preset", "gan-small", "--init", "xavier", "--data-dir", &dir]);
    assert!(code == Some(2) && stderr.contains("--init") && stderr.contains("scaled"), "{stderr}");
    let (code, stdout, stderr) = run(&["train", "--preset", "gan-small", "--recipe", "essay", "--steps", "20", "--eval-every", "10", "--train-limit", "500", "--json", "--data-dir", &dir, "--save", save.to_str().unwrap(), "--save-every", "10", "--dtype", "f16"]);
    assert_eq!(code, Some(0), "{stderr}");
    // A checkpoint at step 10 beside the final file (FILE-10, the extension kept).
    let checkpoint = tmp.join(format!("gradlab-gan-{}-10.safetensors", std::process::id()));
    assert!(std::fs::metadata(&checkpoint).is_ok_and(|m| m.len() > 0), "{stderr}");
    std::fs::remove_file(&checkpoint).ok();
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    for key in ["step", "d_loss", "g_loss", "d_real", "d_fake", "steps_per_sec"] {
        assert!(lines[1][key].is_number(), "{key} in {}", lines[1]);
    }
    let file = std::fs::read(&save).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&file).unwrap();
    assert_eq!(tensors.tensor("g.fc2.weight").unwrap().dtype(), safetensors::Dtype::F16);
    let root = env!("CARGO_MANIFEST_DIR");
    let classifier = format!("{root}/www/weights/cnn-tuned.safetensors");
    let (code, stdout, stderr) = run(&["generate", "--weights", save.to_str().unwrap(), "--n", "16", "--out", png.to_str().unwrap(), "--json", "--data-dir", &dir, "--classifier", &classifier]);
    assert_eq!(code, Some(0), "{stderr}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let is = v["inception_score"].as_f64().unwrap();
    assert!((1.0..=10.0).contains(&is) && v["class_counts"].as_array().unwrap().len() == 10, "{v}");
    assert!(v["mse"].as_f64().unwrap() > 0.0 && v["ssim"].as_f64().unwrap() <= 1.0, "{v}");
    let image = std::fs::read(&png).unwrap();
    assert_eq!(&image[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(u32::from_be_bytes(image[16..20].try_into().unwrap()), 4 * 30 + 2, "4 columns of 28 px and 2 px gaps");
    // The same weights stored again as int8 (how a trained checkpoint becomes the shipped file):
    // int8 matrices with their scales, the f16 file's link kept, and a sample scored alike.
    let int8 = tmp.join(format!("gradlab-gan-{}-int8.safetensors", std::process::id()));
    let (code, stdout, stderr) = run(&["generate", "--weights", save.to_str().unwrap(), "--n", "16", "--json", "--data-dir", &dir, "--classifier", &classifier, "--save", int8.to_str().unwrap(), "--dtype", "int8"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(stdout.trim()).unwrap(), v, "the scores are of the weights read");
    let stored = std::fs::read(&int8).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&stored).unwrap();
    assert_eq!(tensors.tensor("g.fc2.weight").unwrap().dtype(), safetensors::Dtype::I8);
    assert!(tensors.tensor("g.fc2.weight_scale").is_ok());
    let meta = |bytes: &[u8]| safetensors::SafeTensors::read_metadata(bytes).unwrap().1.metadata().clone().unwrap();
    let (before, after) = (meta(&file), meta(&stored));
    assert_eq!(after.get("gradlab"), before.get("gradlab"), "the link goes along");
    assert!(after.get("quantization").is_some_and(|q| q.contains("int8")), "{after:?}");
    let (code, stdout, stderr) = run(&["generate", "--weights", int8.to_str().unwrap(), "--n", "16", "--json", "--data-dir", &dir, "--classifier", &classifier]);
    assert_eq!(code, Some(0), "{stderr}");
    let w: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!((w["mse"].as_f64().unwrap() - v["mse"].as_f64().unwrap()).abs() < 0.01, "int8 {w} vs f16 {v}");
    let (code, _, stderr) = run(&["generate", "--weights", save.to_str().unwrap(), "--save", int8.to_str().unwrap(), "--dtype", "bf16", "--data-dir", &dir, "--classifier", &classifier]);
    assert!(code == Some(2) && stderr.contains("--dtype") && stderr.contains("f32, f16 or int8"), "{stderr}");
    std::fs::remove_file(&int8).ok();
    std::fs::remove_file(&save).ok();
    std::fs::remove_file(&png).ok();
}
