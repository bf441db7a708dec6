//! Builds the block tree from preprocessed lines: a node is a keyword, its
//! arguments on the same line, and an optional `{ … }` block of child nodes.

use crate::diag::{Class, Diagnostic, Diagnostics};
use crate::lexer::Token;
use crate::preprocess::Line;
use crate::source::Span;

/// One keyword line, with its block if it opens one.
#[derive(Debug, Clone)]
pub struct Node {
    pub keyword: Token,
    pub args: Vec<Token>,
    pub block: Option<Block>,
}

/// A `{ … }` block.
#[derive(Debug, Clone)]
pub struct Block {
    pub open: Span,
    pub close: Option<Span>,
    pub children: Vec<Node>,
}

impl Node {
    /// Span from the keyword to the last argument.
    pub fn span(&self) -> Span {
        let mut s = self.keyword.span;
        if let Some(last) = self.args.last() {
            if last.span.line == s.line && last.span.file == s.file && last.span.col >= s.col {
                s.len = last.span.col + last.span.len - s.col;
            }
        }
        s
    }

    pub fn name(&self) -> &str {
        &self.keyword.text
    }

    /// The keyword and its arguments as written (quotes removed).
    pub fn span_text(&self) -> String {
        std::iter::once(&self.keyword)
            .chain(&self.args)
            .map(|t| t.text.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn children(&self) -> &[Node] {
        self.block.as_ref().map_or(&[], |b| &b.children)
    }
}

struct Open {
    node: Node,
    indent: u32,
}

/// The deepest block nesting accepted. keepalived's own grammar goes five
/// levels deep (virtual_server > real_server > HTTP_GET > url); a file nesting
/// thousands deep is garbage, and every pass over the tree would recurse that
/// deep.
const MAX_NESTING: usize = 32;

fn too_deep(diags: &mut Diagnostics, at: Span) {
    diags.push(
        Diagnostic::error(
            at,
            format!("blocks nest more than {MAX_NESTING} levels deep"),
        )
        .label("this block is too deep")
        .hint("keepalived.conf blocks nest a few levels at most; look for '{' without '}'")
        .class(Class::Fatal),
    );
}

/// Parses lines into top-level nodes. Unbalanced braces give exactly one error,
/// at the brace that is most likely wrong.
pub fn parse(lines: Vec<Line>, diags: &mut Diagnostics) -> Vec<Node> {
    let mut top: Vec<Node> = Vec::new();
    let mut stack: Vec<Open> = Vec::new();
    // The first block whose closing brace is indented unlike its opening line:
    // where a '}' went missing, the braces after it pair up one level off.
    let mut suspect: Option<(Span, String)> = None;
    let mut deep = false;

    fn children<'a>(top: &'a mut Vec<Node>, stack: &'a mut [Open]) -> &'a mut Vec<Node> {
        match stack.last_mut() {
            Some(o) => &mut o.node.block.as_mut().expect("open block").children,
            None => top,
        }
    }

    'lines: for line in lines {
        let indent = line.tokens.first().map_or(1, |t| t.span.col);
        let mut i = 0;
        let mut toks = line.tokens;
        while i < toks.len() {
            let t = &toks[i];
            if t.is_close() {
                match stack.pop() {
                    Some(mut o) => {
                        if let Some(b) = o.node.block.as_mut() {
                            b.close = Some(t.span);
                        }
                        if suspect.is_none()
                            && i == 0
                            && t.span.file == o.node.keyword.span.file
                            && indent != o.indent
                        {
                            suspect = Some((o.node.keyword.span, o.node.keyword.text.clone()));
                        }
                        children(&mut top, &mut stack).push(o.node);
                    }
                    None => diags.push(
                        Diagnostic::error(t.span, "unexpected '}': no block is open here")
                            .label("this closes nothing")
                            .hint("remove it, or look above for a block closed too early"),
                    ),
                }
                i += 1;
                continue;
            }
            if t.is_open() {
                // A '{' at the start of a line opens the block of the keyword above.
                let list = children(&mut top, &mut stack);
                match list.pop() {
                    Some(mut prev) if i == 0 && prev.block.is_none() => {
                        prev.block = Some(Block {
                            open: t.span,
                            close: None,
                            children: Vec::new(),
                        });
                        let indent = prev.keyword.span.col;
                        if stack.len() >= MAX_NESTING {
                            too_deep(diags, t.span);
                            deep = true;
                            children(&mut top, &mut stack).push(prev);
                            break 'lines;
                        }
                        stack.push(Open { node: prev, indent });
                    }
                    other => {
                        if let Some(p) = other {
                            list.push(p);
                        }
                        diags.push(
                            Diagnostic::error(t.span, "unexpected '{' without a keyword")
                                .hint("a block starts after a keyword, e.g. `virtual_ipaddress {`"),
                        );
                    }
                }
                i += 1;
                continue;
            }
            let mut j = i + 1;
            while j < toks.len() && !toks[j].is_open() && !toks[j].is_close() {
                j += 1;
            }
            // Move the words out of the line: the tree owns them from here on.
            let keyword = std::mem::take(&mut toks[i]);
            let args: Vec<Token> = toks[i + 1..j].iter_mut().map(std::mem::take).collect();
            let node = Node {
                keyword,
                args,
                block: None,
            };
            if j < toks.len() && toks[j].is_open() {
                let mut node = node;
                node.block = Some(Block {
                    open: toks[j].span,
                    close: None,
                    children: Vec::new(),
                });
                let ind = if i == 0 {
                    indent
                } else {
                    node.keyword.span.col
                };
                if stack.len() >= MAX_NESTING {
                    too_deep(diags, toks[j].span);
                    deep = true;
                    children(&mut top, &mut stack).push(node);
                    break 'lines;
                }
                stack.push(Open { node, indent: ind });
                i = j + 1;
            } else {
                children(&mut top, &mut stack).push(node);
                i = j;
            }
        }
    }

    if deep {
        // Already reported; keep what was parsed.
        while let Some(o) = stack.pop() {
            children(&mut top, &mut stack).push(o.node);
        }
    }
    if !stack.is_empty() {
        let n = stack.len();
        let innermost = stack.last().map(|o| {
            (
                o.node
                    .block
                    .as_ref()
                    .map(|b| b.open)
                    .unwrap_or(o.node.keyword.span),
                o.node.keyword.text.clone(),
            )
        });
        let (span, what) = match (&suspect, innermost) {
            (Some((s, w)), _) => (*s, w.clone()),
            (None, Some(x)) => x,
            (None, None) => unreachable!(),
        };
        diags.push(
            Diagnostic::error(
                span,
                format!(
                    "unbalanced braces: {n} block{} never closed; the '}}' of this '{what}' block looks missing",
                    if n == 1 { " is" } else { "s are" }
                ),
            )
            .label("this block is not closed where its indentation suggests")
            .hint("add the missing '}' (keepalived says: missing '}'s or extra '{'s)"),
        );
        // Keep what was parsed so later checks still see the blocks.
        while let Some(mut o) = stack.pop() {
            if let Some(b) = o.node.block.as_mut() {
                b.close = None;
            }
            children(&mut top, &mut stack).push(o.node);
        }
    }
    top
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preprocess::{preprocess_str, Options};
    use crate::source::SourceMap;

    fn tree(text: &str) -> (Vec<Node>, Diagnostics) {
        let mut sources = SourceMap::default();
        let mut diags = Diagnostics::default();
        let lines = preprocess_str("t.conf", text, Options::default(), &mut sources, &mut diags);
        let nodes = parse(lines, &mut diags);
        (nodes, diags)
    }

    #[test]
    fn nested_blocks_and_one_line_blocks() {
        let (n, d) = tree("vrrp_instance VI_1 {\n state MASTER\n virtual_ipaddress { 10.0.0.1 10.0.0.2 }\n track_script\n {\n chk\n }\n}\n");
        assert!(!d.has_errors(), "{d:?}");
        assert_eq!(n.len(), 1);
        let c = n[0].children();
        assert_eq!(c.len(), 3);
        assert_eq!(c[1].children()[0].name(), "10.0.0.1");
        assert_eq!(c[2].children()[0].name(), "chk");
    }

    #[test]
    fn missing_brace_points_at_the_right_block() {
        let (_, d) = tree("a {\n  b {\n    x 1\n  c {\n  }\n}\n");
        let e: Vec<_> = d.errors().collect();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].span.unwrap().line, 2);
    }

    #[test]
    fn extra_close() {
        let (_, d) = tree("a {\n}\n}\n");
        assert_eq!(d.errors().count(), 1);
    }
}
