//! Reading `ipvsadm` listings and preparing keepalived configurations, for
//! the tests that compare our IPVS tables with keepalived's.

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

/// `text` without its checker blocks (`*_CHECK`, `HTTP_GET`, `SSL_GET`), so
/// that keepalived keeps every real server up, as `Health::Up` does.
pub fn strip_checkers(text: &str) -> String {
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
