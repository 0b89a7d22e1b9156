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
    // The help goes through the same writer.
    let out = Command::new(env!("CARGO_BIN_EXE_gradlab")).arg("help").output().unwrap();
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("USAGE"));
}
