//! Walks the block tree against the schema: unknown keywords (with did-you-mean),
//! argument shapes and ranges, blocks where none belong and missing blocks.
//! An unknown keyword's block is skipped whole, so one typo gives one error.

use super::{all_blocks, Arg, BlockSchema, Body, Status, TOP};
use crate::diag::{did_you_mean, Diagnostic, Diagnostics};
use crate::parser::Node;

/// Checks top-level nodes.
pub fn check(nodes: &[Node], diags: &mut Diagnostics) {
    check_block(nodes, &TOP, diags);
}

fn check_block(nodes: &[Node], schema: &'static BlockSchema, diags: &mut Diagnostics) {
    for node in nodes {
        let Some(k) = schema.get(node.name()) else {
            diags.push(unknown(node, schema));
            continue;
        };
        match k.status {
            Status::Supported => {}
            Status::NotYet => diags.push(
                Diagnostic::warning(
                    node.keyword.span,
                    format!(
                        "'{}' is a keepalived keyword that keepalived-rs does not implement yet; it is ignored",
                        k.name
                    ),
                )
                .label("parsed, not acted on"),
            ),
            Status::Deprecated(instead) => diags.push(
                Diagnostic::warning(
                    node.keyword.span,
                    format!("'{}' is deprecated", k.name),
                )
                .hint(format!("use {instead}")),
            ),
        }
        if let (Body::None, Some(b)) = (k.body, &node.block) {
            diags.push(
                Diagnostic::error(b.open, format!("'{}' does not take a block", k.name))
                    .hint(format!("write '{}' and its value on one line", k.name)),
            );
            continue;
        }
        check_args(node, k.arg, diags);
        match (k.body, &node.block) {
            (Body::Block(s), Some(b)) => check_block(&b.children, s, diags),
            (Body::Block(_), None) | (Body::List, None) => diags.push(
                Diagnostic::error(node.span(), format!("'{}' needs a {{ … }} block", k.name)).hint(
                    format!(
                        "write '{} {{' and close the block with '}}'",
                        node.span_text()
                    ),
                ),
            ),
            _ => {}
        }
    }
}

fn unknown(node: &Node, schema: &BlockSchema) -> Diagnostic {
    let word = node.name();
    let msg = if schema.name.is_empty() {
        format!("unknown keyword '{word}' at the top level")
    } else {
        format!("unknown keyword '{word}' in {}", schema.name)
    };
    let mut d = Diagnostic::error(node.keyword.span, msg).label("not a keepalived keyword here");
    let elsewhere = all_blocks()
        .into_iter()
        .find(|b| !std::ptr::eq(*b, schema) && b.get(word).is_some());
    if let Some(other) = elsewhere {
        let place = if other.name.is_empty() {
            "the top level".to_string()
        } else {
            format!("a {} block", other.name)
        };
        d = d.hint(format!("'{word}' belongs in {place}, not here"));
    } else if let Some(m) = did_you_mean(word, schema.keywords.iter().map(|k| k.name)) {
        d = d.hint(format!("did you mean '{m}'?"));
    } else if schema.name.is_empty() {
        d = d.hint(
            "top-level blocks are global_defs, vrrp_instance, vrrp_script, virtual_server, …",
        );
    }
    d
}

fn check_args(node: &Node, arg: Arg, diags: &mut Diagnostics) {
    let name = node.name();
    let args = &node.args;
    let count_err = |want: &str| {
        Diagnostic::error(node.span(), format!("'{name}' takes {want}"))
            .label(format!("{} argument(s) given", args.len()))
    };
    let one = |diags: &mut Diagnostics| -> bool {
        if args.len() != 1 {
            diags.push(count_err("exactly one value"));
            return false;
        }
        true
    };
    match arg {
        Arg::Flag => {
            if !args.is_empty() {
                diags.push(
                    Diagnostic::error(args[0].span, format!("'{name}' takes no value"))
                        .hint(format!("write just '{name}'")),
                );
            }
        }
        Arg::OptBool => {
            if args.len() > 1 {
                diags.push(count_err("no value or one of on|off|true|false|yes|no"));
            } else if let Some(a) = args.first() {
                if parse_bool(&a.text).is_none() {
                    diags.push(bad_bool(a.span, &a.text));
                }
            }
        }
        Arg::Bool => {
            if one(diags) && parse_bool(&args[0].text).is_none() {
                diags.push(bad_bool(args[0].span, &args[0].text));
            }
        }
        Arg::OptInt(..) if args.is_empty() => {}
        Arg::Int(min, max) | Arg::OptInt(min, max) => {
            if one(diags) {
                let a = &args[0];
                match a.text.parse::<i64>() {
                    Ok(v) if (min..=max).contains(&v) => {}
                    Ok(v) => diags.push(
                        Diagnostic::error(a.span, format!("{name} {v} is out of range"))
                            .label(format!("must be {min}..={max}"))
                            .hint(format!("{name} takes a whole number from {min} to {max}")),
                    ),
                    Err(_) => diags.push(
                        Diagnostic::error(a.span, format!("'{}' is not a number", a.text))
                            .hint(format!("{name} takes a whole number from {min} to {max}")),
                    ),
                }
            }
        }
        Arg::Timer(min, max) => {
            if one(diags) {
                let a = &args[0];
                match a.text.parse::<f64>() {
                    Ok(v) if v.is_finite() && v >= min && v <= max => {}
                    Ok(_) => diags.push(
                        Diagnostic::error(a.span, format!("{name} {} is out of range", a.text))
                            .hint(format!("{name} takes seconds from {min} to {max}")),
                    ),
                    Err(_) => diags.push(
                        Diagnostic::error(a.span, format!("'{}' is not a time in seconds", a.text))
                            .hint(format!("{name} takes seconds, e.g. 1 or 0.5")),
                    ),
                }
            }
        }
        Arg::Word | Arg::Interface => {
            one(diags);
        }
        Arg::OptWord => {
            if args.len() > 1 {
                diags.push(count_err("at most one value"));
            }
        }
        Arg::Words | Arg::Script => {
            if args.is_empty() {
                diags.push(count_err("a value"));
            }
        }
        Arg::Any => {}
        Arg::Enum(words) => {
            if one(diags) && !words.contains(&args[0].text.as_str()) {
                let a = &args[0];
                let mut d =
                    Diagnostic::error(a.span, format!("'{}' is not a valid {name}", a.text))
                        .label(format!("expected one of: {}", words.join(", ")));
                if let Some(m) = did_you_mean(&a.text, words.iter().copied()) {
                    d = d.hint(format!("did you mean '{m}'?"));
                } else {
                    d = d.hint(format!("{name} is one of: {}", words.join(", ")));
                }
                diags.push(d);
            }
        }
        Arg::Ip => {
            if one(diags) && args[0].text.parse::<std::net::IpAddr>().is_err() {
                diags.push(
                    Diagnostic::error(
                        args[0].span,
                        format!("'{}' is not an IP address", args[0].text),
                    )
                    .hint("write an IPv4 (192.0.2.1) or IPv6 (2001:db8::1) address"),
                );
            }
        }
        Arg::IpPrefix => {
            if one(diags) {
                if let Err(e) = crate::values::parse_prefix(&args[0].text) {
                    diags.push(
                        Diagnostic::error(args[0].span, e).hint("write ADDRESS or ADDRESS/PREFIX"),
                    );
                }
            }
        }
        Arg::Port => {
            if one(diags) && crate::values::parse_port(&args[0].text).is_none() {
                diags.push(
                    Diagnostic::error(args[0].span, format!("'{}' is not a port", args[0].text))
                        .label("must be 0..=65535")
                        .hint("write a port number from 0 to 65535"),
                );
            }
        }
    }
}

fn bad_bool(span: crate::source::Span, text: &str) -> Diagnostic {
    Diagnostic::error(span, format!("'{text}' is not a boolean"))
        .hint("write one of on, off, true, false, yes, no")
}

/// keepalived's `<BOOL>`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "on" | "true" | "yes" => Some(true),
        "off" | "false" | "no" => Some(false),
        _ => None,
    }
}
