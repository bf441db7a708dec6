//! Diagnostics: every problem carries file:line:col, the source line and a hint.

use crate::source::{SourceMap, Span};
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};
use std::fmt;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// Which of keepalived's `-t` exit codes an error maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// A configuration error: exit 5.
    Config,
    /// A missing file or a fatal condition: exit 4.
    Fatal,
    /// A script security violation: exit 6.
    Security,
}

/// One finding about the configuration.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub class: Class,
    pub message: String,
    #[serde(skip)]
    pub span: Option<Span>,
    /// Short text under the caret.
    pub label: Option<String>,
    pub hint: Option<String>,
    /// Other places worth showing (e.g. the first definition of a duplicate).
    #[serde(skip)]
    pub related: Vec<(Span, String)>,
    /// Something keepalived corrects at run time (the daemon does the same and
    /// warns), but which `-t` counts as a configuration error, as keepalived does.
    pub fixup: bool,
}

impl Diagnostic {
    pub fn error(span: impl Into<Option<Span>>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            class: Class::Config,
            message: message.into(),
            span: span.into(),
            label: None,
            hint: None,
            related: Vec::new(),
            fixup: false,
        }
    }

    pub fn warning(span: impl Into<Option<Span>>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(span, message)
        }
    }

    /// A warning that keepalived's `-t` counts as a configuration error.
    pub fn fixup(span: impl Into<Option<Span>>, message: impl Into<String>) -> Self {
        Diagnostic {
            fixup: true,
            ..Diagnostic::warning(span, message)
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn class(mut self, class: Class) -> Self {
        self.class = class;
        self
    }

    pub fn related(mut self, span: Span, text: impl Into<String>) -> Self {
        self.related.push((span, text.into()));
        self
    }
}

/// The findings of one parse, in source order of discovery.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|d| d.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Warning)
    }

    /// keepalived's `-t` exit code (errors and fix-ups count): 0 valid, 4 fatal / missing file, 5 config errors,
    /// 6 script security.
    pub fn exit_code(&self) -> i32 {
        let mut code = 0;
        for d in self
            .items
            .iter()
            .filter(|d| d.severity == Severity::Error || d.fixup)
        {
            let c = match d.class {
                Class::Fatal => 4,
                Class::Config => 5,
                Class::Security => 6,
            };
            // A fatal error wins over config errors, as keepalived stops reading then.
            code = match (code, c) {
                (0, c) => c,
                (_, 4) | (4, _) => 4,
                (a, b) => a.max(b),
            };
        }
        code
    }
}

/// Renders diagnostics for people: the first line is `file:line:col: severity: message`
/// (grep- and editor-friendly), then the source line with a caret and the hint.
pub struct Renderer<'a> {
    pub sources: &'a SourceMap,
    pub color: bool,
}

impl Renderer<'_> {
    pub fn render(&self, d: &Diagnostic) -> String {
        let sev = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut out = String::new();
        match d.span {
            Some(span) => out.push_str(&format!(
                "{}: {}: {}\n",
                self.sources.locate(span),
                sev,
                d.message
            )),
            None => out.push_str(&format!("{}: {}\n", sev, d.message)),
        }
        if let Some(snippet) = self.snippet(d) {
            out.push_str(&snippet);
        } else if let Some(h) = &d.hint {
            out.push_str(&format!("  help: {h}\n"));
        }
        out
    }

    fn snippet(&self, d: &Diagnostic) -> Option<String> {
        let span = d.span?;
        let file = self.sources.get(span.file)?;
        let report = Snippet::new(d, span, file)?;
        let theme = if self.color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        let handler = GraphicalReportHandler::new_themed(theme)
            .with_width(100)
            .with_context_lines(1)
            .without_cause_chain();
        let mut s = String::new();
        handler.render_report(&mut s, &report).ok()?;
        Some(s)
    }
}

/// Adapter from our diagnostic to miette's report type, for one source file.
#[derive(Debug)]
struct Snippet {
    message: String,
    severity: miette::Severity,
    hint: Option<String>,
    source: NamedSource<String>,
    labels: Vec<LabeledSpan>,
}

impl Snippet {
    fn new(d: &Diagnostic, span: Span, file: &crate::source::SourceFile) -> Option<Self> {
        let at = |s: Span, text: Option<String>| -> Option<LabeledSpan> {
            if s.file != span.file {
                return None;
            }
            let off = file.offset(s.line, s.col);
            let len = file.byte_len(s.line, s.col, s.len.max(1)).max(1);
            Some(LabeledSpan::new(text, off, len))
        };
        let mut labels = vec![at(span, d.label.clone().or(Some("here".into())))?];
        for (s, t) in &d.related {
            if let Some(l) = at(*s, Some(t.clone())) {
                labels.push(l);
            }
        }
        Some(Snippet {
            message: d.message.clone(),
            severity: match d.severity {
                Severity::Error => miette::Severity::Error,
                Severity::Warning => miette::Severity::Warning,
            },
            hint: d.hint.clone(),
            source: NamedSource::new(file.path.display().to_string(), file.text.clone()),
            labels,
        })
    }
}

impl fmt::Display for Snippet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Snippet {}

impl miette::Diagnostic for Snippet {
    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.hint
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }
}

/// Words longer than this get no hint: no keyword comes close to their length.
const MAX_HINT_WORD: usize = 64;

/// The closest of `candidates` to `word`, for "did you mean" hints.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    if word.len() > MAX_HINT_WORD {
        return None;
    }
    let hist = word.is_ascii().then(|| byte_histogram(word));
    let mut best: Option<(&str, f64)> = None;
    for c in candidates {
        if let Some(h) = &hist {
            if c.is_ascii() && !may_be_close(h, word.len(), c) {
                continue;
            }
        }
        let score = strsim::jaro_winkler(word, c);
        if score > 0.8 && best.is_none_or(|(_, s)| score > s) {
            best = Some((c, score));
        }
    }
    best.map(|(c, _)| c)
}

fn byte_histogram(s: &str) -> [u8; 128] {
    let mut h = [0u8; 128];
    for b in s.bytes() {
        h[usize::from(b & 0x7f)] = h[usize::from(b & 0x7f)].saturating_add(1);
    }
    h
}

/// Whether Jaro-Winkler of two ASCII words can pass 0.8, by counting the
/// characters they share: a bound, so that most candidates cost a histogram
/// instead of the quadratic Jaro match. Jaro-Winkler adds at most
/// 0.4 * (1 - jaro), so it passes 0.8 only if jaro > 2/3; jaro is at most
/// (m/la + m/lb + 1) / 3 with m matches, and m is at most the shared count.
fn may_be_close(word_hist: &[u8; 128], la: usize, candidate: &str) -> bool {
    let mut h = *word_hist;
    let mut shared = 0usize;
    for b in candidate.bytes() {
        let slot = &mut h[usize::from(b & 0x7f)];
        if *slot > 0 {
            *slot -= 1;
            shared += 1;
        }
    }
    let lb = candidate.len();
    if la == 0 || lb == 0 {
        return true;
    }
    // shared/la + shared/lb > 1, in integers.
    shared * (la + lb) > la * lb
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The prefilter only skips candidates that could not have passed anyway.
    #[test]
    fn hint_prefilter_is_a_bound() {
        let words = [
            "virtual_server",
            "real_server",
            "delay_loop",
            "lb_algo",
            "lb_kind",
            "persistence_timeout",
            "vrrp_instance",
            "virtual_ipaddress",
            "priority",
            "advert_int",
            "authentication",
            "auth_pass",
            "notify_master",
            "track_script",
        ];
        // Deterministic pseudo-random mutations of the keywords.
        let mut x: u32 = 12345;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        for _ in 0..20_000 {
            let base = words[(next() as usize) % words.len()];
            let mut w: Vec<u8> = base.bytes().collect();
            for _ in 0..(next() % 6) {
                let at = (next() as usize) % (w.len() + 1);
                match next() % 3 {
                    0 if at < w.len() => {
                        w.remove(at);
                    }
                    1 => w.insert(at, b'a' + (next() % 26) as u8),
                    _ if at < w.len() => w[at] = b'a' + (next() % 26) as u8,
                    _ => {}
                }
            }
            let w = String::from_utf8(w).unwrap();
            let h = byte_histogram(&w);
            for c in words {
                if strsim::jaro_winkler(&w, c) > 0.8 {
                    assert!(may_be_close(&h, w.len(), c), "{w:?} vs {c:?}");
                }
            }
        }
        assert_eq!(did_you_mean("virtual_servr", words), Some("virtual_server"));
        assert_eq!(did_you_mean(&"x".repeat(100), words), None);
    }
}
