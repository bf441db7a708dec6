//! Snapshot tests of the exact diagnostics for bad configurations: each file under
//! tests/bad has one mistake, and must get exactly one diagnostic, at the right place.

use keepalived_config::diag::Renderer;
use keepalived_config::validate::HostChecks;
use keepalived_config::{load, LoadOptions};
use std::path::Path;

fn render(path: &Path) -> (String, usize, i32) {
    let mut opts = LoadOptions::default();
    opts.preprocess.config_id = "test".into();
    // Snapshots must not depend on this host's interfaces or users.
    opts.host = HostChecks {
        interfaces: false,
        users: false,
        scripts: false,
    };
    let loaded = load(path, &opts);
    let r = Renderer {
        sources: &loaded.sources,
        color: false,
    };
    let text: String = loaded.diags.items.iter().map(|d| r.render(d)).collect();
    let code = loaded.diags.exit_code();
    (
        format!("{text}exit code: {code}\n"),
        loaded.diags.items.len(),
        code,
    )
}

#[test]
fn bad_configs() {
    let dir = Path::new("tests/bad");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    files.sort();
    assert!(files.len() >= 25, "at least 25 bad configs");
    let mut failures = Vec::new();
    for f in files {
        let name = f.file_stem().unwrap().to_string_lossy().to_string();
        let (text, count, code) = render(&f);
        if count != 1 {
            failures.push(format!("{name}: one mistake, one diagnostic:\n{text}"));
        }
        if code == 0 {
            failures.push(format!("{name} must be rejected"));
        }
        insta::assert_snapshot!(name, text);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn seed_config_matches_keepalived_verdict() {
    // keepalived 2.2.7 rejects the seed's `vrrp_garp_interval 0` and
    // `vrrp_gna_interval 0` (range [0.000001, 4294.967295]) and exits 5.
    let (text, count, code) = render(Path::new("tests/configs/seed.conf"));
    assert_eq!(code, 5, "{text}");
    assert_eq!(count, 2, "{text}");
    assert!(text.contains("seed.conf:14:23: error: vrrp_garp_interval 0 is out of range"));
    assert!(text.contains("seed.conf:15:22: error: vrrp_gna_interval 0 is out of range"));
}
