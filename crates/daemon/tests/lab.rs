//! `keepalived-rs lab` runs to its table: every narrated step happened (the lab
//! checks each one and exits non-zero otherwise). Root only.

#[test]
fn lab_runs_to_its_table() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: the lab needs root");
        return;
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keepalived-rs"))
        .arg("lab")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "lb1 is MASTER for VI_1",
        "Removing service [10.200.0.12]:tcp:80",
        "[LB1] Realserver [10.200.0.12]:tcp:80 of virtual server [10.100.0.100]:tcp:80 - DOWN",
        "[LB2] VRRP Instance VI_1 - Entering MASTER state",
        "lb1 is MASTER again",
        "reload refused",
        "requests answered",
        "mails received",
    ] {
        assert!(text.contains(line), "missing `{line}` in:\n{text}");
    }
    // Nothing of the lab is left.
    let ns = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    let pid_prefix = "lab";
    assert!(
        !String::from_utf8_lossy(&ns.stdout)
            .lines()
            .any(|l| l.starts_with(pid_prefix) && l.contains('-') && l.contains("lb1")),
        "namespaces left behind"
    );
}
