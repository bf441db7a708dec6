//! keepalived.conf front end: lexer, preprocessor (include, `@id`, `$VAR`, `~SEQ`),
//! block parser, keyword schema, typed model and diagnostics.

pub mod diag;
pub mod lexer;
pub mod model;
pub mod parser;
pub mod preprocess;
pub mod schema;
pub mod security;
pub mod source;
pub mod validate;
pub mod values;

use diag::Diagnostics;
use parser::Node;
use source::SourceMap;
use std::path::Path;

/// Everything known after reading a configuration.
#[derive(Debug)]
pub struct Loaded {
    pub sources: SourceMap,
    pub diags: Diagnostics,
    pub tree: Vec<Node>,
}

/// Options for [`load`].
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    pub preprocess: preprocess::Options,
    pub host: validate::HostChecks,
}

/// Reads, preprocesses, parses and checks a configuration file.
pub fn load(path: &Path, opts: &LoadOptions) -> Loaded {
    let mut sources = SourceMap::default();
    let mut diags = Diagnostics::default();
    let lines = preprocess::preprocess(path, opts.preprocess.clone(), &mut sources, &mut diags);
    let tree = lines
        .map(|l| parser::parse(l, &mut diags))
        .unwrap_or_default();
    finish(sources, diags, tree, opts)
}

/// Like [`load`] for text in memory (tests, fuzzing).
pub fn load_str(name: &str, text: &str, opts: &LoadOptions) -> Loaded {
    let mut sources = SourceMap::default();
    let mut diags = Diagnostics::default();
    let lines = preprocess::preprocess_str(
        name,
        text,
        opts.preprocess.clone(),
        &mut sources,
        &mut diags,
    );
    let tree = parser::parse(lines, &mut diags);
    finish(sources, diags, tree, opts)
}

fn finish(
    sources: SourceMap,
    mut diags: Diagnostics,
    tree: Vec<Node>,
    opts: &LoadOptions,
) -> Loaded {
    // A top-level block that is never closed swallowed what follows it: its
    // contents are not what the user meant, so the brace error stands alone.
    let closed = |n: &Node| n.block.as_ref().is_none_or(|b| b.close.is_some());
    if tree.iter().all(closed) {
        schema::check::check(&tree, &mut diags);
        validate::validate(&tree, opts.host, &mut diags);
    } else {
        let sound: Vec<Node> = tree.iter().filter(|n| closed(n)).cloned().collect();
        schema::check::check(&sound, &mut diags);
        validate::validate(&sound, opts.host, &mut diags);
    }
    Loaded {
        sources,
        diags,
        tree,
    }
}

/// The resolved tree as JSON: what keepalived-rs read after includes, variables and
/// conditionals.
pub fn tree_json(nodes: &[Node]) -> serde_json::Value {
    serde_json::Value::Array(
        nodes
            .iter()
            .map(|n| {
                let mut m = serde_json::Map::new();
                m.insert("keyword".into(), n.keyword.text.clone().into());
                m.insert(
                    "args".into(),
                    n.args
                        .iter()
                        .map(|a| a.text.clone())
                        .collect::<Vec<_>>()
                        .into(),
                );
                if let Some(b) = &n.block {
                    m.insert("block".into(), tree_json(&b.children));
                }
                serde_json::Value::Object(m)
            })
            .collect(),
    )
}
