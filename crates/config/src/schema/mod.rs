//! The keyword schema: for every block of keepalived.conf, the keywords it accepts,
//! their argument shapes, and whether keepalived-rs implements them yet. The checker
//! in [`check`] walks the tree against it, so unknown words and bad values are found
//! in one generic place, with did-you-mean hints.

pub mod check;
mod tables;

pub use tables::*;

/// The shape of a keyword's arguments (everything after the keyword on its line).
#[derive(Debug, Clone, Copy)]
pub enum Arg {
    /// No argument.
    Flag,
    /// No argument, or one `<BOOL>` (on|off|true|false|yes|no).
    OptBool,
    /// Exactly one `<BOOL>`.
    Bool,
    /// One integer in `min..=max`.
    Int(i64, i64),
    /// No value (keepalived's default applies) or one integer in `min..=max`.
    OptInt(i64, i64),
    /// One `<TIMER>`: seconds with up to microsecond fractions, in `min..=max`.
    Timer(f64, f64),
    /// One word, anything.
    Word,
    /// Zero or one word.
    OptWord,
    /// One or more words.
    Words,
    /// Zero or more words (checked, if at all, by the model).
    Any,
    /// One of the listed words (case-sensitive, as keepalived).
    Enum(&'static [&'static str]),
    /// One IPv4 or IPv6 address.
    Ip,
    /// One address with optional `/prefix`.
    IpPrefix,
    /// A port number 0..=65535 (or a service name, as keepalived accepts).
    Port,
    /// A command line: one or more words, quotes and escapes as keepalived's scripts.
    Script,
    /// One interface name (checked against the host when the model is built).
    Interface,
}

/// What follows the keyword line.
#[derive(Debug, Clone, Copy)]
pub enum Body {
    /// Nothing: a `{` after it is an error.
    None,
    /// A block of keywords, checked against that block's schema.
    Block(&'static BlockSchema),
    /// A block whose lines are items (addresses, names, routes), not keywords.
    List,
    /// A block is optional: either arguments or a list.
    OptList,
}

/// Whether keepalived-rs acts on a keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Parsed into the model and implemented (or being implemented) by keepalived-rs.
    Supported,
    /// Documented by keepalived; parsed, but keepalived-rs ignores it for now (warning).
    NotYet,
    /// Accepted for compatibility; the string says what to use instead (warning).
    Deprecated(&'static str),
}

/// One keyword of a block.
#[derive(Debug, Clone, Copy)]
pub struct Keyword {
    pub name: &'static str,
    pub arg: Arg,
    pub body: Body,
    pub status: Status,
}

impl Keyword {
    /// A supported keyword taking `arg` and no block.
    pub const fn new(name: &'static str, arg: Arg) -> Keyword {
        Keyword {
            name,
            arg,
            body: Body::None,
            status: Status::Supported,
        }
    }
    pub const fn block(mut self, b: &'static BlockSchema) -> Keyword {
        self.body = Body::Block(b);
        self
    }
    pub const fn list(mut self) -> Keyword {
        self.body = Body::List;
        self
    }
    pub const fn opt_list(mut self) -> Keyword {
        self.body = Body::OptList;
        self
    }
    pub const fn not_yet(mut self) -> Keyword {
        self.status = Status::NotYet;
        self
    }
    pub const fn deprecated(mut self, instead: &'static str) -> Keyword {
        self.status = Status::Deprecated(instead);
        self
    }
}

/// Shorthand for [`Keyword::new`] in the tables.
pub const fn kw(name: &'static str, arg: Arg) -> Keyword {
    Keyword::new(name, arg)
}

/// The keywords of one block kind.
#[derive(Debug)]
pub struct BlockSchema {
    /// The block's keyword as written (`vrrp_instance`, `real_server`, `HTTP_GET`).
    pub name: &'static str,
    pub keywords: &'static [Keyword],
}

impl BlockSchema {
    pub fn get(&self, name: &str) -> Option<&Keyword> {
        self.keywords.iter().find(|k| k.name == name)
    }
}

/// Every block schema, for "this keyword belongs in another block" hints.
pub fn all_blocks() -> Vec<&'static BlockSchema> {
    let mut out: Vec<&'static BlockSchema> = vec![&TOP];
    let mut i = 0;
    while i < out.len() {
        for k in out[i].keywords {
            if let Body::Block(b) = k.body {
                if !out.iter().any(|o| std::ptr::eq(*o, b)) {
                    out.push(b);
                }
            }
        }
        i += 1;
    }
    out
}
