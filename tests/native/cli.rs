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
    std::fs::remove_file(&save).ok();
}
