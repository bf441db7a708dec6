//! Reading `ipvsadm` listings and preparing keepalived configurations, for
//! the tests that compare our IPVS tables with keepalived's.

use std::path::PathBuf;

/// Whether a line of `table` starts with the words of `words` (blanks
/// collapsed): `ipvsadm` pads its columns.
pub fn has_line(table: &str, words: &str) -> bool {
    let want: Vec<&str> = words.split_whitespace().collect();
    table.lines().any(|l| {
        l.split_whitespace()
            .take(want.len())
            .eq(want.iter().copied())
    })
}

/// keepalived's sample configurations (`shared/fixtures/keepalived-samples`)
/// that declare virtual servers, as (file name, text without checkers), in
/// name order: real configurations for comparing tables with keepalived's.
pub fn vs_samples() -> Vec<(String, String)> {
    // this crate sits at the same depth as the tested ones
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/keepalived-samples");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|path| {
            let text = std::fs::read_to_string(&path).ok()?;
            let name = path.file_name()?.to_string_lossy().into_owned();
            (name.starts_with("keepalived.conf") && text.contains("virtual_server"))
                .then(|| (name, strip_checkers(&text)))
        })
        .collect()
}

/// `text` without its checker blocks (`*_CHECK`, `HTTP_GET`, `SSL_GET`), so
/// that keepalived keeps every real server up, as `Health::Up` does.
fn strip_checkers(text: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize; // > 0: inside a checker block
    for line in text.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if depth == 0 && (first.ends_with("_CHECK") || first.ends_with("_GET")) {
            depth = line
                .matches('{')
                .count()
                .saturating_sub(line.matches('}').count());
            continue;
        }
        if depth > 0 {
            depth += line.matches('{').count();
            depth = depth.saturating_sub(line.matches('}').count());
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}
