//! Tokenizer for one preprocessed line, keeping each token's origin column.

use crate::source::{FileId, Span};

/// One word of a configuration line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Token {
    /// The word with quotes removed and escapes (inside quotes) applied.
    pub text: String,
    pub span: Span,
    /// Whether any part of the word was quoted (a quoted `{` is not a brace).
    pub quoted: bool,
}

impl Token {
    pub fn is_open(&self) -> bool {
        !self.quoted && self.text == "{"
    }
    pub fn is_close(&self) -> bool {
        !self.quoted && self.text == "}"
    }
}

/// A string whose characters remember their source column and width, so that text
/// produced by `$VAR` substitution points back at the reference.
#[derive(Debug, Clone, Default)]
pub struct LocStr {
    pub chars: Vec<char>,
    /// (1-based column, width in columns) of each character's origin.
    pub origin: Vec<(u32, u32)>,
}

impl LocStr {
    pub fn from_source(text: &str) -> Self {
        let chars: Vec<char> = text.chars().collect();
        let origin = (1..=chars.len() as u32).map(|c| (c, 1)).collect();
        LocStr { chars, origin }
    }

    pub fn push_str_at(&mut self, s: &str, at: (u32, u32)) {
        for c in s.chars() {
            self.chars.push(c);
            self.origin.push(at);
        }
    }

    pub fn push_slice(&mut self, other: &LocStr, from: usize, to: usize) {
        self.chars.extend_from_slice(&other.chars[from..to]);
        self.origin.extend_from_slice(&other.origin[from..to]);
    }

    pub fn slice(&self, from: usize, to: usize) -> LocStr {
        LocStr {
            chars: self.chars[from..to].to_vec(),
            origin: self.origin[from..to].to_vec(),
        }
    }

    pub fn len(&self) -> usize {
        self.chars.len()
    }

    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    pub fn text(&self) -> String {
        self.chars.iter().collect()
    }

    /// Without leading and trailing white space.
    pub fn trim(&self) -> LocStr {
        let start = self
            .chars
            .iter()
            .position(|c| !c.is_whitespace())
            .unwrap_or(self.chars.len());
        let end = self
            .chars
            .iter()
            .rposition(|c| !c.is_whitespace())
            .map_or(start, |e| e + 1);
        self.slice(start, end.max(start))
    }

    /// Like [`LocStr::trim`], reusing this string's buffers.
    pub fn into_trimmed(mut self) -> LocStr {
        let end = self
            .chars
            .iter()
            .rposition(|c| !c.is_whitespace())
            .map_or(0, |e| e + 1);
        self.chars.truncate(end);
        self.origin.truncate(end);
        let start = self
            .chars
            .iter()
            .position(|c| !c.is_whitespace())
            .unwrap_or(self.chars.len());
        if start > 0 {
            self.chars.drain(..start);
            self.origin.drain(..start);
        }
        self
    }

    /// Split at '\n' characters (produced by multi-line variable values).
    pub fn split_lines(&self) -> Vec<LocStr> {
        let mut out = Vec::new();
        let mut start = 0;
        for (i, c) in self.chars.iter().enumerate() {
            if *c == '\n' {
                out.push(self.slice(start, i));
                start = i + 1;
            }
        }
        out.push(self.slice(start, self.chars.len()));
        out
    }

    /// Span covering characters `from..to`.
    pub fn span(&self, file: FileId, line: u32, from: usize, to: usize) -> Span {
        if self.origin.is_empty() {
            return Span {
                file,
                line,
                col: 1,
                len: 1,
            };
        }
        let from = from.min(self.origin.len() - 1);
        let to = to.clamp(from + 1, self.origin.len());
        let (c0, _) = self.origin[from];
        let (c1, w1) = self.origin[to - 1];
        let end = (c1 + w1).max(c0 + 1);
        Span {
            file,
            line,
            col: c0,
            len: end - c0,
        }
    }
}

/// Removes a `#` or `!` comment that is outside quotes.
pub fn strip_comment(mut s: LocStr) -> LocStr {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, &c) in s.chars.iter().enumerate() {
        if escaped {
            escaped = false;
            continue;
        }
        match (quote, c) {
            (Some(_), '\\') => escaped = true,
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"') | (None, '\'') => quote = Some(c),
            (None, '#') | (None, '!') => {
                s.chars.truncate(i);
                s.origin.truncate(i);
                return s;
            }
            _ => {}
        }
    }
    s
}

/// Why a line could not be split into words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    pub message: String,
    pub at: usize,
}

/// Splits a line into words: white space separates, `"` and `'` quote (quotes are
/// removed, escapes inside quotes are applied like keepalived's quoted strings).
pub fn tokenize(s: &LocStr, file: FileId, line: u32) -> Result<Vec<Token>, LexError> {
    let chars = &s.chars;
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let mut text = String::new();
        let mut quoted = false;
        let mut quote: Option<(char, usize)> = None;
        while i < chars.len() {
            let c = chars[i];
            match quote {
                None if c.is_whitespace() => break,
                None if c == '"' || c == '\'' => {
                    quote = Some((c, i));
                    quoted = true;
                    i += 1;
                }
                None => {
                    text.push(c);
                    i += 1;
                }
                Some((q, _)) if c == q => {
                    quote = None;
                    i += 1;
                }
                Some(_) if c == '\\' => {
                    let (ch, used) = unescape(&chars[i + 1..]);
                    if used == 0 {
                        return Err(LexError {
                            message: "a '\\' at the end of a quoted string escapes nothing".into(),
                            at: i,
                        });
                    }
                    text.push(ch);
                    i += 1 + used;
                }
                Some(_) => {
                    text.push(c);
                    i += 1;
                }
            }
        }
        if let Some((q, at)) = quote {
            return Err(LexError {
                message: format!("missing terminating {q} for the string started here"),
                at,
            });
        }
        out.push(Token {
            text,
            span: s.span(file, line, start, i),
            quoted,
        });
    }
    Ok(out)
}

/// Decodes one escape after a backslash; returns the character and how many input
/// characters it used (0 at end of input).
fn unescape(rest: &[char]) -> (char, usize) {
    let Some(&c) = rest.first() else {
        return ('\\', 0);
    };
    match c {
        'a' => ('\x07', 1),
        'b' => ('\x08', 1),
        'E' => ('\x1b', 1),
        'f' => ('\x0c', 1),
        'n' => ('\n', 1),
        'r' => ('\r', 1),
        't' => ('\t', 1),
        'v' => ('\x0b', 1),
        'x' if rest.get(1).is_some_and(|c| c.is_ascii_hexdigit()) => {
            let digits: String = rest[1..]
                .iter()
                .take(2)
                .take_while(|c| c.is_ascii_hexdigit())
                .collect();
            let v = u32::from_str_radix(&digits, 16).unwrap_or(0);
            (char::from_u32(v).unwrap_or('?'), 1 + digits.len())
        }
        'c' if rest.len() > 1 => (char::from((rest[1] as u8) & 0x1f), 2),
        '0'..='7' => {
            let digits: String = rest
                .iter()
                .take(3)
                .take_while(|c| ('0'..='7').contains(*c))
                .collect();
            let v = u32::from_str_radix(&digits, 8).unwrap_or(0) & 0xff;
            (char::from_u32(v).unwrap_or('?'), digits.len())
        }
        other => (other, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        tokenize(&LocStr::from_source(s), FileId(0), 1)
            .unwrap()
            .into_iter()
            .map(|t| t.text)
            .collect()
    }

    #[test]
    fn quotes_follow_the_man_page() {
        assert_eq!(
            words(r#"abcd" efg h jkl "mnop"#),
            vec!["abcd efg h jkl mnop"]
        );
        assert_eq!(
            words(r#"abcd "efg h jkl" mnop"#),
            vec!["abcd", "efg h jkl", "mnop"]
        );
        assert_eq!(words(r#""a\x41\101\tb""#), vec!["aAA\tb"]);
    }

    #[test]
    fn columns_are_kept() {
        let t = tokenize(&LocStr::from_source("  priority  100"), FileId(0), 3).unwrap();
        assert_eq!((t[0].span.col, t[0].span.len), (3, 8));
        assert_eq!((t[1].span.col, t[1].span.len), (13, 3));
    }

    #[test]
    fn comments_outside_quotes() {
        let s = strip_comment(LocStr::from_source(r#"a "b # c" ! d"#));
        assert_eq!(s.text(), r#"a "b # c" "#);
    }

    #[test]
    fn unterminated_quote() {
        assert!(tokenize(&LocStr::from_source("a \"b"), FileId(0), 1).is_err());
    }
}
