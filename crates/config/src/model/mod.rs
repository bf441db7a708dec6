//! The typed configuration model that the rest of keepalived-rs reads. Built from a
//! checked tree; keywords not typed here are kept, by name, in `other`, so
//! `config dump` loses nothing.
//!
//! Unset values are left `None` (or `false`, or empty): consumers apply keepalived's
//! defaults, which the doc comments give. Times are seconds (`f64`), counts `u32`.
//! Script lines (`notify_*`, `quorum_up`, …) are the words as written, joined by
//! one space (quotes removed).

mod check;
mod global;
mod lvs;
mod vrrp;

pub use check::*;
pub use global::*;
pub use lvs::*;
pub use vrrp::*;

use crate::parser::Node;
use crate::schema::check::parse_bool;
use crate::values::parse_prefix;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Keywords (with their argument lists, one per occurrence) not typed yet.
pub type Other = BTreeMap<String, Vec<Vec<String>>>;

/// Declares a model struct and its keyword setter. Fields before the `;` are
/// required (the arguments of `blank`); each field after it starts at its
/// `Default` and, if written `field: T = "kw" | "alias" => parse`, is set to
/// `parse(&node)` by `set` when a child keyword `kw` or `alias` is met.
macro_rules! keyword_struct {
    (
        $(#[$sm:meta])*
        pub struct $name:ident {
            $( $(#[$rm:meta])* $req:ident : $rty:ty, )*
            ;
            $( $(#[$fm:meta])* $field:ident : $ty:ty $(= $($kw:literal)|+ => $parse:expr)? , )*
        }
    ) => {
        $(#[$sm])*
        pub struct $name {
            $( $(#[$rm])* pub $req: $rty, )*
            $( $(#[$fm])* pub $field: $ty, )*
        }
        impl $name {
            /// A value with only the required fields set.
            #[allow(dead_code, clippy::too_many_arguments)]
            pub(crate) fn blank($($req: $rty),*) -> Self {
                $name { $($req,)* $($field: Default::default(),)* }
            }
            /// Sets the fields keyword `k` names (one keyword may set several); false if none.
            #[allow(unused_variables)]
            pub(crate) fn set(&mut self, k: &Node) -> bool {
                let mut hit = false;
                $( $(
                    if matches!(k.name(), $($kw)|+) {
                        self.$field = $parse(k);
                        hit = true;
                    }
                )? )*
                hit
            }
        }
    };
}
pub(crate) use keyword_struct;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Config {
    pub global_defs: GlobalDefs,
    pub vrrp_scripts: Vec<VrrpScript>,
    pub sync_groups: Vec<SyncGroup>,
    pub vrrp_instances: Vec<VrrpInstance>,
    pub virtual_server_groups: Vec<VirtualServerGroup>,
    pub virtual_servers: Vec<VirtualServer>,
    /// `track_file NAME { … }` (and its deprecated synonym `vrrp_track_file`).
    pub track_files: Vec<TrackFile>,
    /// `vrrp_track_process NAME { … }`.
    pub track_processes: Vec<TrackProcess>,
    /// `static_ipaddress { … }`: addresses keepalived adds at startup, whatever the VRRP state.
    pub static_ipaddress: Vec<VirtualAddress>,
    /// `static_routes { … }`.
    pub static_routes: Vec<Route>,
    /// `static_rules { … }`.
    pub static_rules: Vec<Rule>,
    /// `garp_group { … }` blocks.
    pub garp_groups: Vec<GarpGroup>,
    /// `bfd_instance NAME { … }` blocks.
    pub bfd_instances: Vec<BfdInstance>,
    /// `track_group NAME { group { … } }` blocks.
    pub track_groups: Vec<TrackGroup>,
    /// `SSL { … }`: the SSL_GET client context.
    pub ssl: Option<Ssl>,
    /// `linkbeat_use_polling` at the top level (default: netlink).
    pub linkbeat_use_polling: bool,
    /// `linkbeat_interfaces { IF … }`: interfaces polled by MII/ethtool.
    pub linkbeat_interfaces: Vec<String>,
    /// `interface_up_down_delays { IF UP [DOWN] … }`.
    pub interface_up_down_delays: Vec<InterfaceDelays>,
    /// `net_namespace NAME`.
    pub net_namespace: Option<String>,
    /// `net_namespace_ipvs [NAME]` (empty name: the default namespace).
    pub net_namespace_ipvs: Option<String>,
    /// `instance NAME`.
    pub instance: Option<String>,
    /// `use_pid_dir`.
    pub use_pid_dir: bool,
    /// `child_wait_time SECS` (keepalived default 5).
    pub child_wait_time: Option<f64>,
    /// Other top-level blocks (none left from keepalived.conf(5)) as trees.
    pub other: BTreeMap<String, Vec<serde_json::Value>>,
}

/// One line of `interface_up_down_delays`.
#[derive(Debug, Clone, Serialize)]
pub struct InterfaceDelays {
    pub interface: String,
    /// Seconds to wait after the link comes up before acting on it.
    pub up_delay: Option<f64>,
    /// Seconds to wait after it goes down (defaults to `up_delay`).
    pub down_delay: Option<f64>,
}

/// An address with an optional prefix length, `ADDRESS[/PREFIX]`.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Prefix {
    pub address: IpAddr,
    pub prefix: Option<u8>,
}

impl Prefix {
    pub fn parse(s: &str) -> Option<Prefix> {
        parse_prefix(s)
            .ok()
            .map(|(address, prefix)| Prefix { address, prefix })
    }
}

// ---- helpers shared by the block builders ----

pub(crate) fn words(n: &Node) -> Vec<String> {
    n.args.iter().map(|a| a.text.clone()).collect()
}

/// The node's keyword and its arguments: a list item's words.
pub(crate) fn item_words(n: &Node) -> Vec<String> {
    std::iter::once(n.name().to_string())
        .chain(words(n))
        .collect()
}

pub(crate) fn arg(n: &Node) -> Option<String> {
    n.args.first().map(|a| a.text.clone())
}

/// The first argument, or `""` if there is none (for `KEYWORD [VALUE]`).
pub(crate) fn opt_word(n: &Node) -> Option<String> {
    Some(arg(n).unwrap_or_default())
}

pub(crate) fn num<T: std::str::FromStr>(n: &Node) -> Option<T> {
    n.args.first().and_then(|a| a.text.parse().ok())
}

/// A flag, or an optional `<BOOL>` after it.
pub(crate) fn flag(n: &Node) -> bool {
    n.args
        .first()
        .is_none_or(|a| parse_bool(&a.text).unwrap_or(true))
}

/// An optional-bool keyword that was written: `Some(true)` unless `off|false|no`.
pub(crate) fn opt_bool(n: &Node) -> Option<bool> {
    Some(flag(n))
}

/// A notify script line: `COMMAND [username [[:]groupname]]`, where COMMAND is one
/// (usually quoted) word holding the program and its arguments.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ScriptLine {
    pub command: String,
    /// `username [groupname]` to run it as; empty = script_user.
    pub user: Vec<String>,
}

pub(crate) fn script_line(n: &Node) -> Option<ScriptLine> {
    let (first, rest) = n.args.split_first()?;
    Some(ScriptLine {
        command: first.text.clone(),
        user: rest.iter().map(|a| a.text.clone()).collect(),
    })
}

/// A script or command line: the words joined by one space.
pub(crate) fn line(n: &Node) -> Option<String> {
    Some(words(n).join(" "))
}

/// All the words, for keywords typed as a word list.
pub(crate) fn some_words(n: &Node) -> Option<Vec<String>> {
    Some(words(n))
}

pub(crate) fn ip(n: &Node) -> Option<IpAddr> {
    num(n)
}

/// The names listed in a block (`group { a b }`, `notification_email { … }`).
pub(crate) fn names(n: &Node) -> Vec<String> {
    n.children().iter().map(|c| c.name().to_string()).collect()
}

pub(crate) fn keep(other: &mut Other, n: &Node) {
    other
        .entry(n.name().to_string())
        .or_default()
        .push(words(n));
}

/// The word after `key` in `w`, parsed.
pub(crate) fn after<T: std::str::FromStr>(w: &[String], key: &str) -> Option<T> {
    w.iter()
        .position(|a| a == key)
        .and_then(|i| w.get(i + 1))
        .and_then(|v| v.parse().ok())
}

/// `weight N [reverse|noreverse]` as written after a keyword (`weight` itself
/// omitted): the weight and whether it is reversed.
pub(crate) fn weight_reverse(w: &[String]) -> (Option<i32>, bool) {
    (
        w.first().and_then(|v| v.parse().ok()),
        w.iter().any(|a| a == "reverse"),
    )
}

/// Builds the model from a checked tree (invalid entries were reported and are skipped).
pub fn build(tree: &[Node]) -> Config {
    let mut c = Config::default();
    for n in tree {
        match n.name() {
            "global_defs" => global::global(&mut c.global_defs, n),
            "vrrp_script" => c.vrrp_scripts.push(vrrp::script(n)),
            "vrrp_sync_group" => c.sync_groups.push(vrrp::sync_group(n)),
            "vrrp_instance" => c.vrrp_instances.push(vrrp::instance(n)),
            "track_file" | "vrrp_track_file" => c.track_files.push(vrrp::track_file(n)),
            "vrrp_track_process" => c.track_processes.push(vrrp::track_process(n)),
            "static_ipaddress" => c.static_ipaddress.extend(vrrp::addresses(n)),
            "static_routes" => c
                .static_routes
                .extend(n.children().iter().map(Route::parse)),
            "static_rules" => c.static_rules.extend(n.children().iter().map(Rule::parse)),
            "garp_group" => c.garp_groups.push(vrrp::garp_group(n)),
            "bfd_instance" => c.bfd_instances.push(vrrp::bfd_instance(n)),
            "track_group" => c.track_groups.push(TrackGroup {
                name: arg(n).unwrap_or_default(),
                group: n
                    .children()
                    .iter()
                    .filter(|g| g.name() == "group")
                    .flat_map(names)
                    .collect(),
            }),
            "SSL" => c.ssl = Some(vrrp::fill!(Ssl::default(), n)),
            "linkbeat_use_polling" => c.linkbeat_use_polling = true,
            "linkbeat_interfaces" => c.linkbeat_interfaces.extend(names(n)),
            "interface_up_down_delays" => {
                c.interface_up_down_delays
                    .extend(n.children().iter().map(|d| InterfaceDelays {
                        interface: d.name().to_string(),
                        up_delay: num(d),
                        down_delay: d.args.get(1).and_then(|a| a.text.parse().ok()),
                    }))
            }
            "net_namespace" => c.net_namespace = arg(n),
            "net_namespace_ipvs" => c.net_namespace_ipvs = opt_word(n),
            "instance" => c.instance = arg(n),
            "use_pid_dir" => c.use_pid_dir = true,
            "child_wait_time" => c.child_wait_time = num(n),
            "virtual_server_group" => c.virtual_server_groups.push(lvs::group(n)),
            "virtual_server" => {
                if let Some(vs) = lvs::virtual_server(n) {
                    c.virtual_servers.push(vs);
                }
            }
            other => c
                .other
                .entry(other.to_string())
                .or_default()
                .push(crate::tree_json(std::slice::from_ref(n))[0].clone()),
        }
    }
    garp_groups(&mut c);
    c
}

/// A garp_group's intervals apply to the instances on its interfaces.
fn garp_groups(c: &mut Config) {
    for g in &c.garp_groups {
        for i in &mut c.vrrp_instances {
            let Some(ifname) = &i.interface else { continue };
            if g.interface.as_ref() == Some(ifname) || g.interfaces.contains(ifname) {
                i.garp_interval = i.garp_interval.or(g.garp_interval);
                i.gna_interval = i.gna_interval.or(g.gna_interval);
            }
        }
    }
}
