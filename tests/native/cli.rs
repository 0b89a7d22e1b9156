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
