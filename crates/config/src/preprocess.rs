//! keepalived's line preprocessing: comments, `@id` / `@^id` conditionals,
//! `$NAME=value` definitions (also multi-line), `$NAME` / `${NAME}` expansion,
//! `~SEQ` / `~SEQx` / `~LST` repetition and `include` with globs and braces.
//! Its output is a flat list of tokenized lines, each token pointing at its source.

use crate::diag::{Class, Diagnostic, Diagnostics};
use crate::lexer::{strip_comment, tokenize, LocStr, Token};
use crate::source::{FileId, SourceMap, Span};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One logical configuration line after preprocessing.
#[derive(Debug, Clone)]
pub struct Line {
    pub file: FileId,
    pub line: u32,
    pub tokens: Vec<Token>,
}

/// Knobs of the preprocessor.
#[derive(Debug, Clone)]
pub struct Options {
    /// keepalived's config id (`-i`), default the host name up to the first dot.
    pub config_id: String,
    /// At most this many lines come out (protects against ~SEQ and include bombs).
    pub max_lines: usize,
    /// At most this many files are read.
    pub max_files: usize,
    /// Whether `include` reads files (the fuzzer turns it off).
    pub includes: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            config_id: default_config_id(),
            max_lines: 2_000_000,
            max_files: 10_000,
            includes: true,
        }
    }
}

/// The host name up to its first dot, as keepalived's default config id.
pub fn default_config_id() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .map(|h| h.split('.').next().unwrap_or("").to_string())
        .unwrap_or_default()
}

#[derive(Debug, Clone)]
enum Value {
    Single(String),
    Multi(Vec<String>),
}

/// The most names one `include` argument may expand to by braces.
const MAX_INCLUDE_PATTERNS: usize = 1024;

/// The largest configuration file read.
const MAX_FILE_BYTES: u64 = 64 << 20;

/// How deep `$VAR` and multi-line definitions may nest before we call it a loop.
const MAX_DEPTH: usize = 64;

/// Where the lines of the file being read are coming from.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    file: FileId,
    line: u32,
    dir: &'a Path,
}

pub struct Preprocessor<'a> {
    opts: Options,
    pub sources: &'a mut SourceMap,
    pub diags: &'a mut Diagnostics,
    vars: HashMap<String, Value>,
    /// (canonical path for cycle detection, path as the user named it).
    include_stack: Vec<(PathBuf, PathBuf)>,
    out: Vec<Line>,
    multi_stack: Vec<String>,
    overflow: bool,
    files_read: usize,
    /// Every file read so far; once a cycle is found, files read before are
    /// not read again (files including each other by glob would otherwise be
    /// read in every order).
    seen: std::collections::HashSet<PathBuf>,
    cycle_found: bool,
    /// Product of the row counts of the sequences being expanded.
    seq_factor: usize,
}

/// Reads `path` and everything it includes into preprocessed lines.
pub fn preprocess(
    path: &Path,
    opts: Options,
    sources: &mut SourceMap,
    diags: &mut Diagnostics,
) -> Option<Vec<Line>> {
    let mut p = Preprocessor::new(opts, sources, diags);
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            p.diags.push(
                Diagnostic::error(
                    None,
                    format!("cannot read configuration file {}: {e}", path.display()),
                )
                .class(Class::Fatal)
                .hint("give an existing, readable file with -f"),
            );
            return None;
        }
    };
    p.read_file(path, text);
    Some(p.out)
}

/// Preprocesses text that is not on disk (tests, fuzzing); includes resolve from cwd.
pub fn preprocess_str(
    name: &str,
    text: &str,
    opts: Options,
    sources: &mut SourceMap,
    diags: &mut Diagnostics,
) -> Vec<Line> {
    let mut p = Preprocessor::new(opts, sources, diags);
    p.read_file(Path::new(name), text.to_string());
    p.out
}

impl<'a> Preprocessor<'a> {
    fn new(opts: Options, sources: &'a mut SourceMap, diags: &'a mut Diagnostics) -> Self {
        Preprocessor {
            opts,
            sources,
            diags,
            vars: HashMap::new(),
            include_stack: Vec::new(),
            out: Vec::new(),
            multi_stack: Vec::new(),
            overflow: false,
            files_read: 0,
            seen: Default::default(),
            cycle_found: false,
            seq_factor: 1,
        }
    }

    fn read_file(&mut self, path: &Path, text: String) {
        self.files_read += 1;
        let canon = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        self.seen.insert(canon.clone());
        self.include_stack.push((canon, path.to_path_buf()));
        let file = self.sources.add(path, text);
        let dir = path
            .parent()
            .map(|d| {
                if d.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    d
                }
            })
            .unwrap_or(Path::new("."))
            .to_path_buf();
        // Owned copy of the lines, since `self.sources` is borrowed mutably while reading.
        let lines: Vec<String> = self
            .sources
            .get(file)
            .map(|f| f.text.lines().map(str::to_string).collect())
            .unwrap_or_default();
        let mut pending: Option<(String, Vec<String>, Span)> = None;
        for (i, raw) in lines.iter().enumerate() {
            if self.overflow {
                break;
            }
            let lineno = i as u32 + 1;
            let ctx = Ctx {
                file,
                line: lineno,
                dir: &dir,
            };
            let src = strip_comment(LocStr::from_source(raw)).into_trimmed();
            if let Some((name, mut body, span)) = pending.take() {
                if src.is_empty() {
                    pending = Some((name, body, span));
                    continue;
                }
                let t = src.text();
                match t.strip_suffix('\\') {
                    Some(part) => {
                        body.push(part.trim_end().to_string());
                        pending = Some((name, body, span));
                    }
                    None => {
                        body.push(t);
                        self.vars.insert(name, Value::Multi(body));
                    }
                }
                continue;
            }
            if let Some((name, span)) = multiline_start(&src, file, lineno) {
                pending = Some((name, Vec::new(), span));
                continue;
            }
            self.process(src, ctx, 0);
        }
        if let Some((name, body, span)) = pending {
            // A definition whose last line still ends in '\': keep what was read.
            self.diags.push(
                Diagnostic::warning(
                    span,
                    format!("multi-line definition of ${name} runs to the end of the file"),
                )
                .hint("the last line of a multi-line definition must not end with '\\'"),
            );
            self.vars.insert(name, Value::Multi(body));
        }
        self.include_stack.pop();
    }

    /// Runs one line through conditionals, definitions, sequences, expansion and
    /// include handling; emits the resulting tokenized line(s).
    fn process(&mut self, src: LocStr, ctx: Ctx<'_>, depth: usize) {
        if self.overflow {
            return;
        }
        let src = src.into_trimmed();
        if src.is_empty() {
            return;
        }
        let Some(src) = self.conditional(src, ctx) else {
            return;
        };
        if src.is_empty() {
            return;
        }
        if self.definition(&src) {
            return;
        }
        if src.chars.starts_with(&['~', 'S', 'E', 'Q'])
            || src.chars.starts_with(&['~', 'L', 'S', 'T'])
        {
            self.sequence(&src, ctx, depth);
            return;
        }
        let substituted = src.chars.contains(&'$');
        let src_span = src.span(ctx.file, ctx.line, 0, src.len());
        let Some(expanded) = self.expand(src, ctx, depth) else {
            return;
        };
        if expanded.chars.contains(&'\n') {
            if depth >= MAX_DEPTH {
                self.diags.push(Diagnostic::error(
                    src_span,
                    "multi-line definitions nest too deeply (a definition that includes itself?)",
                ));
                return;
            }
            for part in expanded.split_lines() {
                self.process(part, ctx, depth + 1);
            }
            return;
        }
        let expanded = expanded.into_trimmed();
        // `$X=@id` then `$X line` makes a conditional line after expansion.
        let expanded = if expanded.chars.first() == Some(&'@') && substituted {
            match self.conditional(expanded, ctx) {
                Some(e) => e,
                None => return,
            }
        } else {
            expanded
        };
        let tokens = match tokenize(&expanded, ctx.file, ctx.line) {
            Ok(t) => t,
            Err(e) => {
                self.diags.push(Diagnostic::error(
                    expanded.span(ctx.file, ctx.line, e.at, e.at + 1),
                    e.message,
                ));
                return;
            }
        };
        if tokens.is_empty() {
            return;
        }
        if is_include(&tokens[0].text) {
            self.include(&tokens, ctx);
            return;
        }
        if self.out.len() >= self.opts.max_lines {
            self.overflow = true;
            self.diags.push(
                Diagnostic::error(
                    tokens[0].span,
                    format!(
                        "the configuration expands to more than {} lines",
                        self.opts.max_lines
                    ),
                )
                .class(Class::Fatal)
                .hint("check ~SEQ / ~LST ranges and include globs"),
            );
            return;
        }
        self.out.push(Line {
            file: ctx.file,
            line: ctx.line,
            tokens,
        });
    }

    /// Applies a leading `@id` / `@^id`: returns the rest of the line if selected.
    fn conditional(&mut self, src: LocStr, _ctx: Ctx<'_>) -> Option<LocStr> {
        if src.chars.first() != Some(&'@') {
            return Some(src);
        }
        let end = src
            .chars
            .iter()
            .position(|c| c.is_whitespace())
            .unwrap_or(src.len());
        let word: String = src.chars[1..end].iter().collect();
        let (negate, id) = match word.strip_prefix('^') {
            Some(id) => (true, id),
            None => (false, word.as_str()),
        };
        let selected = (id == self.opts.config_id) != negate;
        selected.then(|| src.slice(end, src.len()).trim())
    }

    /// Handles `$NAME=value`; returns whether the line was a definition.
    fn definition(&mut self, src: &LocStr) -> bool {
        let Some((name, value_at)) = parse_def_head(&src.chars) else {
            return false;
        };
        let value: String = src.chars[value_at..].iter().collect();
        self.vars
            .insert(name, Value::Single(value.trim().to_string()));
        true
    }

    /// `~SEQ(var, start, step, end) rest`, `~SEQx(...)`, `~LST(var, v1, v2, ...)`.
    fn sequence(&mut self, src: &LocStr, ctx: Ctx<'_>, depth: usize) {
        let text = src.text();
        let span = src.span(ctx.file, ctx.line, 0, text.find(')').map_or(4, |p| p + 1));
        let Some(close) = text.find(')') else {
            self.diags.push(
                Diagnostic::error(span, "~SEQ / ~LST without a closing ')'")
                    .hint("write ~SEQ(VAR, START, STEP, END) or ~LST(VAR, V1, V2, ...)"),
            );
            return;
        };
        // ~LST values may contain {a,b} groups, so find the ')' that closes at depth 0.
        let close = if text.starts_with("~LST") {
            match matching_paren(&text) {
                Some(c) => c,
                None => close,
            }
        } else {
            close
        };
        let chars_before_close = text[..close].chars().count();
        let rest = src.slice((chars_before_close + 1).min(src.len()), src.len());
        let result = if let Some(spec) = text.strip_prefix("~SEQx(") {
            parse_seq(&spec[..close - 6], true)
        } else if let Some(spec) = text.strip_prefix("~SEQ(") {
            parse_seq(&spec[..close - 5], false)
        } else if let Some(spec) = text.strip_prefix("~LST(") {
            parse_lst(&spec[..close - 5])
        } else {
            Err("expected ~SEQ(, ~SEQx( or ~LST(".to_string())
        };
        let (names, rows) = match result {
            Ok(v) => v,
            Err(e) => {
                self.diags.push(
                    Diagnostic::error(span, format!("invalid sequence: {e}"))
                        .hint("write ~SEQ(VAR, START, STEP, END) or ~LST(VAR, V1, V2, ...)"),
                );
                return;
            }
        };
        // Nested sequences multiply: refuse before generating any of it.
        let total = self.seq_factor.saturating_mul(rows.len());
        if self.out.len().saturating_add(total) > self.opts.max_lines {
            self.overflow = true;
            self.diags.push(
                Diagnostic::error(
                    span,
                    format!(
                        "this sequence gives {total} lines, more than the {} a configuration may have",
                        self.opts.max_lines
                    ),
                )
                .hint("check the ~SEQ / ~LST ranges")
                .class(Class::Fatal),
            );
            return;
        }
        let outer = std::mem::replace(&mut self.seq_factor, total);
        for row in rows {
            if self.overflow {
                break;
            }
            for (n, v) in names.iter().zip(row) {
                self.vars.insert(n.clone(), Value::Single(v));
            }
            self.process(rest.clone(), ctx, depth + 1);
        }
        self.seq_factor = outer;
    }

    /// Expands `$NAME` / `${NAME}` references. Multi-line values are inserted as
    /// '\n'-separated raw lines, to be processed line by line by the caller.
    fn expand(&mut self, src: LocStr, ctx: Ctx<'_>, depth: usize) -> Option<LocStr> {
        if !src.chars.contains(&'$') {
            return Some(src);
        }
        let src = &src;
        let mut out = LocStr::default();
        let chars = &src.chars;
        let mut i = 0;
        let mut stack = Vec::new();
        while i < chars.len() {
            if chars[i] != '$' {
                out.push_slice(src, i, i + 1);
                i += 1;
                continue;
            }
            let Some((name, args, end)) = parse_ref(&chars[i..]) else {
                out.push_slice(src, i, i + 1);
                i += 1;
                continue;
            };
            let at = (
                src.origin[i].0,
                src.origin[i + end - 1].0 + 1 - src.origin[i].0,
            );
            let span = src.span(ctx.file, ctx.line, i, i + end);
            match self.resolve(&name, args.as_deref(), ctx, span, &mut stack)? {
                Some(Resolved::Single(v)) => out.push_str_at(&v, at),
                Some(Resolved::Multi(lines)) => {
                    if self.multi_stack.contains(&name) || depth >= MAX_DEPTH {
                        self.diags.push(
                            Diagnostic::error(
                                span,
                                format!("the definition of ${name} refers to itself"),
                            )
                            .label("expanding this never ends")
                            .hint("keepalived would loop forever here; break the cycle"),
                        );
                        return None;
                    }
                    // The caller processes each line; remember we are inside `name`.
                    out.push_str_at("\n", at);
                    for l in lines {
                        out.push_str_at(&l, at);
                        out.push_str_at("\n", at);
                    }
                    self.multi_stack.push(name.clone());
                    let rest = src.slice(i + end, src.len());
                    let tail = self.expand(rest, ctx, depth + 1);
                    self.multi_stack.pop();
                    let tail = tail?;
                    out.push_slice(&tail, 0, tail.len());
                    return Some(out);
                }
                None => out.push_slice(src, i, i + end),
            }
            i += end;
        }
        Some(out)
    }

    /// The value of one reference, expanded recursively; `None` in the outer
    /// option means an error was reported; `Ok(None)` leaves the text literal.
    fn resolve(
        &mut self,
        name: &str,
        args: Option<&str>,
        ctx: Ctx<'_>,
        span: Span,
        stack: &mut Vec<String>,
    ) -> Option<Option<Resolved>> {
        if let Some(v) = self.predefined(name, args, ctx) {
            return Some(Some(Resolved::Single(v)));
        }
        let Some(value) = self.vars.get(name).cloned() else {
            return Some(None);
        };
        match value {
            Value::Multi(lines) => Some(Some(Resolved::Multi(lines))),
            Value::Single(v) => {
                if stack.iter().any(|n| n == name) || stack.len() >= MAX_DEPTH {
                    let chain = stack
                        .iter()
                        .chain(std::iter::once(&name.to_string()))
                        .map(|n| format!("${n}"))
                        .collect::<Vec<_>>()
                        .join(" → ");
                    self.diags.push(
                        Diagnostic::error(
                            span,
                            format!("the definition of ${} refers to itself ({chain})", stack[0]),
                        )
                        .label("expanding this never ends")
                        .hint("keepalived 2.2.7 hangs on this; give the variable a value that does not use itself"),
                    );
                    return None;
                }
                stack.push(name.to_string());
                let inner = LocStr::from_source(&v);
                let mut out = String::new();
                let chars = &inner.chars;
                let mut i = 0;
                while i < chars.len() {
                    if chars[i] == '$' {
                        if let Some((n, a, end)) = parse_ref(&chars[i..]) {
                            match self.resolve(&n, a.as_deref(), ctx, span, stack)? {
                                Some(Resolved::Single(s)) => out.push_str(&s),
                                Some(Resolved::Multi(lines)) => {
                                    out.push_str(&lines.join("\n"));
                                }
                                None => out.extend(&chars[i..i + end]),
                            }
                            i += end;
                            continue;
                        }
                    }
                    out.push(chars[i]);
                    i += 1;
                }
                stack.pop();
                Some(Some(Resolved::Single(out)))
            }
        }
    }

    fn predefined(&self, name: &str, args: Option<&str>, ctx: Ctx<'_>) -> Option<String> {
        match name {
            "_PWD" => Some(
                std::fs::canonicalize(ctx.dir)
                    .unwrap_or_else(|_| ctx.dir.to_path_buf())
                    .display()
                    .to_string(),
            ),
            "_INSTANCE" => Some(self.opts.config_id.clone()),
            "_HASH" => Some("#".into()),
            "_BANG" => Some("!".into()),
            "_ENV" => args.map(|v| std::env::var(v.trim()).unwrap_or_default()),
            "_RANDOM" => {
                let mut it = args.unwrap_or("").split_whitespace();
                let min: u64 = it.next().and_then(|v| v.parse().ok()).unwrap_or(0);
                let max: u64 = it.next().and_then(|v| v.parse().ok()).unwrap_or(32767);
                let seed = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos() as u64)
                    .unwrap_or(0);
                let span = max.saturating_sub(min) + 1;
                Some((min + seed % span).to_string())
            }
            _ => None,
        }
    }

    fn include(&mut self, tokens: &[Token], ctx: Ctx<'_>) {
        let kw = &tokens[0];
        if tokens.len() != 2 {
            self.diags.push(
                Diagnostic::error(kw.span, format!("{} takes exactly one file name", kw.text))
                    .hint("write: include FILE (quote a name that has spaces)"),
            );
            return;
        }
        let arg = &tokens[1];
        if !self.opts.includes {
            self.diags
                .push(Diagnostic::error(kw.span, "include is disabled here"));
            return;
        }
        let base = ctx.dir;
        let mut matched = 0;
        let mut missing_plain = Vec::new();
        let Some(patterns) = expand_braces(&arg.text, MAX_INCLUDE_PATTERNS) else {
            self.diags.push(
                Diagnostic::error(
                    arg.span,
                    format!(
                        "include pattern '{}' expands to more than {MAX_INCLUDE_PATTERNS} names",
                        arg.text
                    ),
                )
                .hint("list the files, or use a glob such as DIR/*.conf"),
            );
            return;
        };
        for pattern in patterns {
            let full = if Path::new(&pattern).is_absolute() {
                PathBuf::from(&pattern)
            } else {
                base.join(&pattern)
            };
            let has_glob = pattern.contains(['*', '?', '[']);
            let paths: Vec<PathBuf> = if has_glob {
                // glob(3), which keepalived uses, has no recursive `**`: it is `*`.
                let mut pat = full.to_string_lossy().into_owned();
                while pat.contains("**") {
                    pat = pat.replace("**", "*");
                }
                match glob::glob(&pat) {
                    Ok(paths) => {
                        let limit = self.opts.max_files;
                        let mut v: Vec<PathBuf> =
                            paths.filter_map(Result::ok).take(limit + 1).collect();
                        if v.len() > limit {
                            self.diags.push(
                                Diagnostic::error(
                                    arg.span,
                                    format!(
                                        "include pattern '{}' matches more than {limit} paths",
                                        arg.text
                                    ),
                                )
                                .hint("narrow the glob, e.g. DIR/*.conf")
                                .class(Class::Fatal),
                            );
                            return;
                        }
                        v.sort();
                        v
                    }
                    Err(e) => {
                        self.diags.push(Diagnostic::error(
                            arg.span,
                            format!("bad include pattern '{}': {e}", arg.text),
                        ));
                        return;
                    }
                }
            } else if full.exists() {
                vec![full.clone()]
            } else {
                missing_plain.push(full.display().to_string());
                continue;
            };
            for p in paths {
                if p.is_dir() {
                    if !has_glob {
                        self.diags.push(
                            Diagnostic::error(
                                arg.span,
                                format!("include {} is a directory", p.display()),
                            )
                            .hint("include the files in it with a glob, e.g. DIR/*.conf"),
                        );
                    }
                    continue;
                }
                matched += 1;
                self.include_one(&p, arg.span);
                if self.overflow {
                    return;
                }
            }
        }
        for m in missing_plain {
            self.diags.push(
                Diagnostic::error(arg.span, format!("included file {m} does not exist"))
                    .label("no such file")
                    .hint("keepalived only warns and goes on without it; keepalived-rs refuses, since the file was surely meant to be there. Use a glob (e.g. conf.d/*.conf) for optional files"),
            );
        }
        if matched == 0 && arg.text.contains(['*', '?', '[']) {
            self.diags.push(Diagnostic::warning(
                arg.span,
                format!("include pattern '{}' matches no file", arg.text),
            ));
        }
    }

    fn include_one(&mut self, path: &Path, span: Span) {
        let canon = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if self.cycle_found && self.seen.contains(&canon) {
            return;
        }
        if let Some(pos) = self.include_stack.iter().position(|(c, _)| *c == canon) {
            self.cycle_found = true;
            let chain = self.include_stack[pos..]
                .iter()
                .map(|(_, shown)| shown)
                .chain(std::iter::once(&path.to_path_buf()))
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" → ");
            self.diags.push(
                Diagnostic::error(span, format!("include cycle: {chain}"))
                    .label("this includes a file that is already being read")
                    .hint("remove one of the includes in the cycle"),
            );
            return;
        }
        if self.files_read >= self.opts.max_files {
            self.overflow = true;
            self.diags.push(
                Diagnostic::error(
                    span,
                    format!(
                        "more than {} configuration files included",
                        self.opts.max_files
                    ),
                )
                .class(Class::Fatal),
            );
            return;
        }
        // Only regular files of sane size: never /dev/zero or a FIFO.
        match std::fs::metadata(path) {
            Ok(m) if m.is_file() && m.len() <= MAX_FILE_BYTES => {}
            Ok(_) => {
                self.diags.push(
                    Diagnostic::error(
                        span,
                        format!(
                            "included {} is not a regular file of at most 64 MiB",
                            path.display()
                        ),
                    )
                    .hint("include configuration files only"),
                );
                return;
            }
            Err(e) => {
                self.diags.push(Diagnostic::error(
                    span,
                    format!("cannot read included file {}: {e}", path.display()),
                ));
                return;
            }
        }
        match std::fs::read_to_string(path) {
            Ok(text) => self.read_file(path, text),
            Err(e) => self.diags.push(Diagnostic::error(
                span,
                format!("cannot read included file {}: {e}", path.display()),
            )),
        }
    }
}

enum Resolved {
    Single(String),
    Multi(Vec<String>),
}

fn is_include(word: &str) -> bool {
    matches!(
        word,
        "include" | "includer" | "includem" | "includew" | "includeb" | "includea"
    )
}

/// `$NAME=` with nothing (or only `\`) after it starts a multi-line definition.
fn multiline_start(src: &LocStr, file: FileId, line: u32) -> Option<(String, Span)> {
    let (name, at) = parse_def_head(&src.chars)?;
    let rest: String = src.chars[at..].iter().collect();
    (rest.trim() == "\\").then(|| (name, src.span(file, line, 0, at)))
}

/// `$NAME=`: returns the name and the index just after '='.
fn parse_def_head(chars: &[char]) -> Option<(String, usize)> {
    if chars.first() != Some(&'$') {
        return None;
    }
    let first = *chars.get(1)?;
    if !(first.is_ascii_alphabetic() || first == '_') {
        return None;
    }
    let mut i = 1;
    while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
        i += 1;
    }
    (chars.get(i) == Some(&'=')).then(|| (chars[1..i].iter().collect(), i + 1))
}

/// A reference at the start of `chars`: `${NAME}`, `${NAME args}`, or `$NAME` followed
/// by white space or the end. Returns (name, args, characters used).
fn parse_ref(chars: &[char]) -> Option<(String, Option<String>, usize)> {
    if chars.get(1) == Some(&'{') {
        let close = chars.iter().position(|&c| c == '}')?;
        let inner: String = chars[2..close].iter().collect();
        let (name, args) = match inner.split_once(char::is_whitespace) {
            Some((n, a)) => (n.to_string(), Some(a.to_string())),
            None => (inner.clone(), None),
        };
        valid_name(&name).then_some((name, args, close + 1))
    } else {
        let mut i = 1;
        while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
            i += 1;
        }
        let name: String = chars[1..i].iter().collect();
        let followed_ok = i == chars.len() || chars[i].is_whitespace();
        (valid_name(&name) && followed_ok).then_some((name, None, i))
    }
}

fn valid_name(name: &str) -> bool {
    let mut c = name.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn matching_paren(text: &str) -> Option<usize> {
    let mut depth = 0i32;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// strtol(…, 0)-like: decimal, 0x hex, leading-0 octal, optional sign.
fn parse_c_long(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else if s.len() > 1 && s.starts_with('0') {
        i64::from_str_radix(&s[1..], 8).ok()?
    } else {
        s.parse().ok()?
    };
    Some(if neg { -v } else { v })
}

type Rows = (Vec<String>, Vec<Vec<String>>);

/// At most this many values from one ~SEQ.
const MAX_SEQ: i64 = 1_000_000;

fn parse_seq(spec: &str, hex: bool) -> Result<Rows, String> {
    let parts: Vec<&str> = spec.split(',').map(str::trim).collect();
    let var = parts[0];
    if !valid_name(var) {
        return Err(format!("'{var}' is not a variable name"));
    }
    let nums: Result<Vec<i64>, String> = parts[1..]
        .iter()
        .map(|p| parse_c_long(p).ok_or_else(|| format!("'{p}' is not a number")))
        .collect();
    let nums = nums?;
    let (start, step, end) = match nums.as_slice() {
        [end] => (
            if *end < 0 { -1 } else { 1 },
            if *end < 1 { -1 } else { 1 },
            *end,
        ),
        [start, end] => (*start, if start <= end { 1 } else { -1 }, *end),
        [start, step, end] => (*start, *step, *end),
        _ => return Err("expected 1 to 3 numbers after the variable".into()),
    };
    if step == 0 || (start < end && step < 0) || (start > end && step > 0) {
        return Err(format!("step {step} never goes from {start} to {end}"));
    }
    let count = (end - start) / step + 1;
    if count > MAX_SEQ {
        return Err(format!("{count} values is more than {MAX_SEQ}"));
    }
    let rows = (0..count)
        .map(|k| {
            let v = start + k * step;
            vec![if hex { format!("{v:x}") } else { v.to_string() }]
        })
        .collect();
    Ok((vec![var.to_string()], rows))
}

fn parse_lst(spec: &str) -> Result<Rows, String> {
    let items = split_top(spec);
    let Some((head, values)) = items.split_first() else {
        return Err("empty ~LST".into());
    };
    let names: Vec<String> = unbrace(head).iter().map(|s| s.to_string()).collect();
    if let Some(bad) = names.iter().find(|n| !valid_name(n)) {
        return Err(format!("'{bad}' is not a variable name"));
    }
    if values.is_empty() {
        return Err("~LST needs at least one value".into());
    }
    let mut rows = Vec::new();
    for v in values {
        let vals = unbrace(v);
        if vals.len() != names.len() {
            return Err(format!(
                "'{v}' has {} values for {} variables",
                vals.len(),
                names.len()
            ));
        }
        rows.push(vals.into_iter().map(str::to_string).collect());
    }
    Ok((names, rows))
}

/// Splits at commas that are not inside `{...}`.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s[start..].trim());
    out
}

fn unbrace(s: &str) -> Vec<&str> {
    match s.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
        Some(inner) => inner.split(',').map(str::trim).collect(),
        None => vec![s.trim()],
    }
}

/// csh-style brace expansion: `a/{b,c}/d` → `a/b/d`, `a/c/d` (nested too).
/// `None` when it would give more than `max` names (`{a,b}` twenty times over
/// is a million).
pub fn expand_braces(s: &str, max: usize) -> Option<Vec<String>> {
    let bytes: Vec<char> = s.chars().collect();
    let Some(open) = bytes.iter().position(|&c| c == '{') else {
        return Some(vec![s.to_string()]);
    };
    let mut depth = 0;
    let mut close = None;
    let mut commas = Vec::new();
    for (i, &c) in bytes.iter().enumerate().skip(open) {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(i);
                    break;
                }
            }
            ',' if depth == 1 => commas.push(i),
            _ => {}
        }
    }
    let Some(close) = close else {
        return Some(vec![s.to_string()]);
    };
    let suffix: String = bytes[close + 1..].iter().collect();
    let rest = expand_braces(&suffix, max)?;
    if commas.is_empty() {
        // `{x}` is literal in glob(3) with GLOB_BRACE only when it has no comma.
        let prefix: String = bytes[..=close].iter().collect();
        return Some(rest.into_iter().map(|t| format!("{prefix}{t}")).collect());
    }
    let prefix: String = bytes[..open].iter().collect();
    let mut bounds = vec![open];
    bounds.extend(&commas);
    bounds.push(close);
    let mut out = Vec::new();
    for w in bounds.windows(2) {
        let alt: String = bytes[w[0] + 1..w[1]].iter().collect();
        for a in expand_braces(&alt, max)? {
            if out.len() + rest.len() > max {
                return None;
            }
            out.extend(rest.iter().map(|t| format!("{prefix}{a}{t}")));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, id: &str) -> (Vec<String>, Diagnostics) {
        let mut sources = SourceMap::default();
        let mut diags = Diagnostics::default();
        let opts = Options {
            config_id: id.into(),
            ..Options::default()
        };
        let lines = preprocess_str("t.conf", text, opts, &mut sources, &mut diags);
        let out = lines
            .iter()
            .map(|l| {
                l.tokens
                    .iter()
                    .map(|t| t.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        (out, diags)
    }

    #[test]
    fn conditionals() {
        let (l, _) = run("@main a 1\n@backup b 2\n@^main c 3\n@^x d 4\n", "main");
        assert_eq!(l, vec!["a 1", "d 4"]);
    }

    #[test]
    fn variables_expand_at_use_time() {
        let text = "$ADDRESS_BASE=10.2.${ADDRESS_BASE_SUB}\n$ADDRESS_BASE_SUB=0\n${ADDRESS_BASE}.100/32\n$ADDRESS_BASE_SUB=10\n${ADDRESS_BASE}.100/32\n$UNDEF x ${UNDEF}\n";
        let (l, d) = run(text, "x");
        assert_eq!(
            l,
            vec!["10.2.0.100/32", "10.2.10.100/32", "$UNDEF x ${UNDEF}"]
        );
        assert!(!d.has_errors());
    }

    #[test]
    fn self_reference_is_an_error_not_a_hang() {
        let (_, d) = run("$IF=${IF}\ninterface ${IF}\n", "x");
        assert!(d.has_errors());
        let (_, d) = run("$A=${B}\n$B=x$A\nfoo $A\n", "x");
        assert!(d.has_errors());
    }

    #[test]
    fn conditional_through_variable() {
        let (l, _) = run("$IF_MAIN=@main\n$IF_MAIN priority 240\n", "main");
        assert_eq!(l, vec!["priority 240"]);
        let (l, _) = run("$IF_MAIN=@main\n$IF_MAIN priority 240\n", "other");
        assert!(l.is_empty());
    }

    #[test]
    fn multiline_nested() {
        let text = "$RS= \\\nreal_server 10.0.${VS}.${RS_NUM} 80 { \\\n weight 1 \\\n}\n$VS= \\\nvirtual_server 10.0.${VS}.4 80 { \\\n$RS_NUM=1 \\\n$RS \\\n$RS_NUM=2 \\\n$RS \\\n}\n$VS=0\n$VS\n";
        // $VS is redefined as single-line 0 before use, so this shows shadowing.
        let (l, _) = run(text, "x");
        assert_eq!(l, vec!["0"]);
        let text = "$RS= \\\nreal_server 10.0.${V}.${RS_NUM} 80 { \\\n weight 1 \\\n}\n$VS= \\\nvirtual_server 10.0.${V}.4 80 { \\\n$RS_NUM=1 \\\n$RS \\\n$RS_NUM=2 \\\n$RS \\\n}\n$V=7\n$VS\n";
        let (l, d) = run(text, "x");
        assert!(!d.has_errors(), "{d:?}");
        assert_eq!(
            l,
            vec![
                "virtual_server 10.0.7.4 80 {",
                "real_server 10.0.7.1 80 {",
                "weight 1",
                "}",
                "real_server 10.0.7.2 80 {",
                "weight 1",
                "}",
                "}"
            ]
        );
    }

    #[test]
    fn seq_and_lst() {
        let (l, _) = run("~SEQ(S, 0, 3) ip 10.0.${S}.1\n", "x");
        assert_eq!(l.len(), 4);
        assert_eq!(l[3], "ip 10.0.3.1");
        let (l, _) = run("~SEQx(S, 0x90, 0x10, 0xc0) fe80::20:${S}:1\n", "x");
        assert_eq!(
            l,
            vec![
                "fe80::20:90:1",
                "fe80::20:a0:1",
                "fe80::20:b0:1",
                "fe80::20:c0:1"
            ]
        );
        let (l, _) = run(
            "~LST({IP, IP1}, {10,1},{20,4}) ~SEQ(IP2,168,2,170) 192.${IP2}.${IP}.${IP1}\n",
            "x",
        );
        assert_eq!(
            l,
            vec![
                "192.168.10.1",
                "192.170.10.1",
                "192.168.20.4",
                "192.170.20.4"
            ]
        );
        let (l, _) = run("~SEQ(N, 3) x$N.y\n", "x");
        assert_eq!(l, vec!["x$N.y", "x$N.y", "x$N.y"]);
        let (l, _) = run("~SEQ(N, 3) x${N}\n~SEQ(M,-2) y${M}\n", "x");
        assert_eq!(l, vec!["x1", "x2", "x3", "y-1", "y-2"]);
    }

    #[test]
    fn braces() {
        let e = |s: &str| expand_braces(s, 100).unwrap();
        assert_eq!(e("/a/{b,c}/d"), vec!["/a/b/d", "/a/c/d"]);
        assert_eq!(e("{x,y}/{1,2}"), vec!["x/1", "x/2", "y/1", "y/2"]);
        assert_eq!(e("a{b}c"), vec!["a{b}c"]);
        // A bomb is refused before it is built.
        assert_eq!(expand_braces(&"{a,b}".repeat(40), 1024), None);
        assert_eq!(
            expand_braces(&"{a,b}".repeat(10), 1024).map(|v| v.len()),
            Some(1024)
        );
    }

    #[test]
    fn token_columns_point_at_variable_reference() {
        let mut sources = SourceMap::default();
        let mut diags = Diagnostics::default();
        let lines = preprocess_str(
            "t.conf",
            "$P=300\n  priority $P\n",
            Options {
                config_id: "x".into(),
                ..Options::default()
            },
            &mut sources,
            &mut diags,
        );
        let t = &lines[0].tokens[1];
        assert_eq!(
            (t.text.as_str(), t.span.line, t.span.col, t.span.len),
            ("300", 2, 12, 2)
        );
    }
}
