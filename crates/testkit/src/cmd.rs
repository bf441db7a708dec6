//! Commands a test sets up or observes with (`ip`, `nft`, `ipvsadm`, ...).

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::thread;

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

/// Starts `cmd` (stdin null, stdout and stderr piped) and hands each line it
/// prints to `line`, from a thread per stream, until `line` returns false: a
/// test waits on a daemon's log lines, not on time.
pub fn spawn_lines<F>(cmd: &mut Command, line: F) -> Child
where
    F: Fn(String) -> bool + Clone + Send + 'static,
{
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let out: Box<dyn Read + Send> = Box::new(child.stdout.take().unwrap());
    let err: Box<dyn Read + Send> = Box::new(child.stderr.take().unwrap());
    for stream in [out, err] {
        let line = line.clone();
        thread::spawn(move || {
            for l in BufReader::new(stream).lines().map_while(Result::ok) {
                if !line(l) {
                    break;
                }
            }
        });
    }
    child
}
