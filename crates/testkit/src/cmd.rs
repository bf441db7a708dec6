//! Commands a test sets up or observes with (`ip`, `nft`, `ipvsadm`, ...).

use std::io::Write;
use std::process::{Command, Stdio};

/// Runs `argv` and returns its stdout; panics with its stderr unless it
/// succeeds, since a test cannot go on from a failed setup step.
pub fn run(argv: &[&str]) -> String {
    run_in(argv, "")
}

/// [`run`] with `input` on the command's stdin (`ipvsadm -R`, `ip -batch -`).
pub fn run_in(argv: &[&str], input: &str) -> String {
    let (program, args) = argv.split_first().expect("a command");
    let stdin = match input {
        "" => Stdio::null(),
        _ => Stdio::piped(),
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        // written before reading: the inputs are a few lines, far below a pipe's buffer
        stdin
            .write_all(input.as_bytes())
            .unwrap_or_else(|e| panic!("{argv:?}: stdin: {e}"));
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    assert!(
        out.status.success(),
        "{argv:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
