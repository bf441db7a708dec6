//! Source files and positions: every token keeps where it came from.

use std::path::{Path, PathBuf};

/// Index of a file in a [`SourceMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub u32);

/// A place in a source file: 1-based line and column (in characters), and a length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub file: FileId,
    pub line: u32,
    pub col: u32,
    pub len: u32,
}

/// One loaded configuration file.
#[derive(Debug)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// Text of 1-based `line`, without its newline.
    pub fn line_text(&self, line: u32) -> &str {
        let i = line.saturating_sub(1) as usize;
        let Some(&start) = self.line_starts.get(i) else {
            return "";
        };
        let end = self
            .line_starts
            .get(i + 1)
            .copied()
            .unwrap_or(self.text.len());
        self.text[start..end].trim_end_matches(['\n', '\r'])
    }

    /// Byte offset of a span's start within the file text.
    pub fn offset(&self, line: u32, col: u32) -> usize {
        let start = self
            .line_starts
            .get(line.saturating_sub(1) as usize)
            .copied()
            .unwrap_or(self.text.len());
        let text = self.line_text(line);
        let byte_in_line = text
            .char_indices()
            .nth(col.saturating_sub(1) as usize)
            .map(|(b, _)| b)
            .unwrap_or(text.len());
        start + byte_in_line
    }

    /// Byte length of `len` characters starting at (line, col).
    pub fn byte_len(&self, line: u32, col: u32, len: u32) -> usize {
        let text = self.line_text(line);
        text.chars()
            .skip(col.saturating_sub(1) as usize)
            .take(len as usize)
            .map(char::len_utf8)
            .sum()
    }
}

/// All files read for one configuration, in the order they were opened.
#[derive(Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn add(&mut self, path: &Path, text: String) -> FileId {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        self.files.push(SourceFile {
            path: path.to_path_buf(),
            text,
            line_starts,
        });
        FileId(self.files.len() as u32 - 1)
    }

    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }

    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }

    /// `file:line:col` for a span.
    pub fn locate(&self, span: Span) -> String {
        let path = self
            .get(span.file)
            .map(|f| f.path.display().to_string())
            .unwrap_or_else(|| "<unknown>".into());
        format!("{}:{}:{}", path, span.line, span.col)
    }
}
