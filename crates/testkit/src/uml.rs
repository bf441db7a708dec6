//! A User-Mode Linux guest for the tests that need IPVS: the development and
//! CI hosts' kernel has none.
//!
//! Each such test, started on the host, re-runs itself (the same test binary,
//! `--exact NAME`) inside a throw-away guest booted by `ipvs-vm`
//! (`../shared/tools/ipvs-vm/ipvs-vm` from the workspace root, or
//! `$IPVS_VM_TOOL`), where `IPVS_VM=1` is set. When the tool is missing or
//! `ipvs-vm --check` fails the test prints why and passes (skips), unless
//! `IPVS_VM_REQUIRED=1`.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn in_guest() -> bool {
    std::env::var("IPVS_VM").as_deref() == Ok("1")
}

/// A usable ipvs-vm, or None (skip; reason printed). Checked once per test
/// binary: `--check` boots nothing but is not free.
fn ipvs_vm() -> Option<&'static PathBuf> {
    static VM: OnceLock<Option<PathBuf>> = OnceLock::new();
    VM.get_or_init(|| {
        let path = std::env::var_os("IPVS_VM_TOOL")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                // this crate sits at the same depth as the tested ones
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("../../../shared/tools/ipvs-vm/ipvs-vm")
            });
        let required = std::env::var_os("IPVS_VM_REQUIRED").is_some_and(|v| v == "1");
        let why = if !path.exists() {
            format!("{} not found", path.display())
        } else {
            match Command::new(&path).arg("--check").status() {
                Ok(s) if s.success() => return Some(path),
                Ok(s) if s.code() == Some(77) => {
                    "ipvs-vm --check: a UML guest cannot run on this host (77)".to_string()
                }
                Ok(s) => format!("ipvs-vm --check failed ({s})"),
                Err(e) => format!("ipvs-vm --check: {e}"),
            }
        };
        if required {
            panic!("IPVS_VM_REQUIRED=1 but {why}");
        }
        eprintln!("SKIP: IPVS tests need a UML guest: {why}");
        None
    })
    .as_ref()
}

/// On the host: runs test `name` of the current test binary in a guest (for
/// at most `timeout`), asserts it passed there and returns false, so the
/// caller returns. In the guest: returns true, so the caller runs its body.
pub fn guest(name: &str, timeout: Duration) -> bool {
    if in_guest() {
        return true;
    }
    let Some(vm) = ipvs_vm() else {
        return false;
    };
    let exe = std::env::current_exe().unwrap();
    let started = Instant::now();
    let out = Command::new(vm)
        .args(["--timeout", &timeout.as_secs().to_string(), "--"])
        .arg(&exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .stdin(Stdio::null())
        .output()
        .expect("run ipvs-vm");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // prefixed, so that the guest's own test harness lines are not taken for ours
    let mut shown = format!(
        "[guest {name}] ran {:.1} s, {}\n",
        started.elapsed().as_secs_f64(),
        out.status
    );
    for l in stdout.lines().chain(stderr.lines()) {
        shown.push_str(&format!("[guest {name}] {l}\n"));
    }
    eprint!("{shown}");
    assert!(
        out.status.success(),
        "{name} failed in the guest ({})",
        out.status
    );
    assert!(
        stdout.contains("1 passed"),
        "{name}: the guest ran no test:\n{stdout}"
    );
    false
}
