//! Routes and policy-routing rules through rtnetlink: keepalived's
//! `virtual_routes` / `virtual_rules` (added on MASTER, removed on leaving
//! it) and `static_routes` / `static_rules`.
//!
//! [`RouteSpec`] and [`RuleSpec`] are plain descriptions; [`add_route`],
//! [`del_route`], [`add_rule`] and [`del_rule`] program them on a
//! [`Netlink`] connection and are idempotent (adding what exists or deleting
//! what is absent succeeds). `from_model` builds them from the typed config
//! (`keepalived_config::model::{Route, Rule}`).

use std::fs;
use std::io;
use std::net::IpAddr;

use keepalived_config::model::{Prefix, Route, Rule};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteNextHop, RouteProtocol, RouteScope, RouteType,
};
use rtnetlink::packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use rtnetlink::packet_route::AddressFamily;

use crate::addr::Netlink;

/// `RTPROT_KEEPALIVED`: the protocol keepalived marks its routes and rules
/// with (and [`RouteSpec::from_model`] / [`RuleSpec::from_model`] default to).
pub const RTPROT_KEEPALIVED: u8 = 18;

/// `RT_TABLE_MAIN`.
pub const RT_TABLE_MAIN: u32 = 254;
/// `RT_TABLE_LOCAL`.
pub const RT_TABLE_LOCAL: u32 = 255;
/// `RT_TABLE_DEFAULT`.
pub const RT_TABLE_DEFAULT: u32 = 253;

const RT_TABLE_COMPAT: u8 = 252;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RT_SCOPE_LINK: u8 = 253;
const RT_SCOPE_HOST: u8 = 254;
const RT_SCOPE_NOWHERE: u8 = 255;

/// Route type (`RTN_*`), the optional first word of an `ip route` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RouteKind {
    /// A normal route (the default).
    #[default]
    Unicast,
    /// Local delivery (`local`).
    Local,
    /// `broadcast`.
    Broadcast,
    /// `anycast`.
    Anycast,
    /// `multicast`.
    Multicast,
    /// Silently drop (`blackhole`).
    Blackhole,
    /// Drop with ICMP unreachable (`unreachable`).
    Unreachable,
    /// Drop with ICMP prohibited (`prohibit`).
    Prohibit,
    /// Continue lookup in the next rule (`throw`).
    Throw,
    /// `nat` (obsolete; kept for completeness).
    Nat,
}

impl RouteKind {
    /// Parse an `ip route` type word.
    pub fn parse(s: &str) -> Option<RouteKind> {
        Some(match s {
            "unicast" => RouteKind::Unicast,
            "local" => RouteKind::Local,
            "broadcast" => RouteKind::Broadcast,
            "anycast" => RouteKind::Anycast,
            "multicast" => RouteKind::Multicast,
            "blackhole" => RouteKind::Blackhole,
            "unreachable" => RouteKind::Unreachable,
            "prohibit" => RouteKind::Prohibit,
            "throw" => RouteKind::Throw,
            "nat" => RouteKind::Nat,
            _ => return None,
        })
    }

    fn rtn(self) -> RouteType {
        match self {
            RouteKind::Unicast => RouteType::Unicast,
            RouteKind::Local => RouteType::Local,
            RouteKind::Broadcast => RouteType::Broadcast,
            RouteKind::Anycast => RouteType::Anycast,
            RouteKind::Multicast => RouteType::Multicast,
            RouteKind::Blackhole => RouteType::BlackHole,
            RouteKind::Unreachable => RouteType::Unreachable,
            RouteKind::Prohibit => RouteType::Prohibit,
            RouteKind::Throw => RouteType::Throw,
            RouteKind::Nat => RouteType::Nat,
        }
    }

    /// Types that take no gateway or device (packets never leave).
    fn is_reject(self) -> bool {
        matches!(
            self,
            RouteKind::Blackhole | RouteKind::Unreachable | RouteKind::Prohibit | RouteKind::Throw
        )
    }
}

/// A route to add or delete (`ip route add|del ...`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RouteSpec {
    /// Destination network address.
    pub dst: IpAddr,
    /// Destination prefix length.
    pub prefix: u8,
    /// Gateway (`via`/`gw`), same family as `dst`.
    pub via: Option<IpAddr>,
    /// Alternative gateway (`or`, keepalived extension): with `via`, the
    /// route is a two-nexthop multipath route.
    pub or: Option<IpAddr>,
    /// Preferred source address (`src`).
    pub src: Option<IpAddr>,
    /// Output interface index (`dev`).
    pub dev: Option<u32>,
    /// Routing table (default main, 254).
    pub table: Option<u32>,
    /// Metric (`metric`/`priority`/`preference`).
    pub metric: Option<u32>,
    /// Scope (`RT_SCOPE_*`); on add, defaults like `ip route`: host for
    /// local/nat, link for broadcast/multicast/anycast and for unicast
    /// routes without gateway, universe otherwise. Ignored on delete.
    pub scope: Option<u8>,
    /// Protocol (`RTPROT_*`); on add the kernel's default is boot (3).
    /// On delete, only routes with this protocol match when set.
    pub protocol: Option<u8>,
    /// Route type.
    pub kind: RouteKind,
}

impl RouteSpec {
    /// A unicast route to `dst/prefix` with nothing else set.
    pub fn new(dst: IpAddr, prefix: u8) -> Self {
        RouteSpec {
            dst,
            prefix,
            via: None,
            or: None,
            src: None,
            dev: None,
            table: None,
            metric: None,
            scope: None,
            protocol: None,
            kind: RouteKind::Unicast,
        }
    }

    /// Build from a config `virtual_routes` / `static_routes` line.
    ///
    /// `resolve_ifindex` maps `dev` names to interface indexes.
    /// `default_dev` is used only for a unicast route with neither `dev` nor
    /// gateway (a directly connected route, which needs a device); keepalived
    /// itself adds no device otherwise and lets the kernel resolve the
    /// gateway. Names of tables (`main`, `local`, `default`, or from
    /// `/etc/iproute2/rt_tables`), scopes and protocols are resolved here.
    /// The protocol defaults to [`RTPROT_KEEPALIVED`] as keepalived does.
    /// Options outside this struct (mtu, realms, …) are ignored; multi
    /// `nexthop` routes are refused.
    pub fn from_model(
        r: &Route,
        resolve_ifindex: impl Fn(&str) -> Option<u32>,
        default_dev: Option<u32>,
    ) -> Result<Self, String> {
        if r.words.iter().any(|w| w == "nexthop") {
            return Err("multipath 'nexthop' routes are not supported".into());
        }
        let dst = r.dst.as_ref().ok_or("route has no destination")?;
        let (dst, prefix) = prefix_of(dst);
        let kind = match &r.kind {
            None => RouteKind::Unicast,
            Some(k) => RouteKind::parse(k).ok_or_else(|| format!("unknown route type '{k}'"))?,
        };
        let family = |what: &str, a: &IpAddr| -> Result<(), String> {
            if a.is_ipv4() == dst.is_ipv4() {
                Ok(())
            } else {
                Err(format!("{what} {a} is not the family of {dst}"))
            }
        };
        if let Some(v) = &r.via {
            family("gateway", v)?;
        }
        if let Some(v) = &r.or {
            family("gateway", v)?;
            if r.via.is_none() {
                return Err("'or' needs 'via'".into());
            }
        }
        if let Some(s) = &r.src {
            family("source", s)?;
        }
        let dev = match &r.dev {
            Some(name) => {
                Some(resolve_ifindex(name).ok_or_else(|| format!("unknown interface '{name}'"))?)
            }
            None if kind == RouteKind::Unicast && r.via.is_none() => default_dev,
            None => None,
        };
        let table = r.table.as_deref().map(parse_table).transpose()?;
        let scope = r.scope.as_deref().map(parse_scope).transpose()?;
        let protocol = match r.protocol.as_deref() {
            Some(p) => parse_protocol(p)?,
            None => RTPROT_KEEPALIVED,
        };
        Ok(RouteSpec {
            dst,
            prefix,
            via: r.via,
            or: r.or,
            src: r.src,
            dev,
            table,
            metric: r.metric,
            scope,
            protocol: Some(protocol),
            kind,
        })
    }

    fn message(&self, add: bool) -> RouteMessage {
        let mut m = RouteMessage::default();
        let h = &mut m.header;
        h.address_family = family(self.dst);
        h.destination_prefix_length = self.prefix;
        h.kind = self.kind.rtn();
        let table = self.table.unwrap_or(RT_TABLE_MAIN);
        h.table = u8::try_from(table).unwrap_or(RT_TABLE_COMPAT);
        if add {
            h.protocol = RouteProtocol::from(self.protocol.unwrap_or(3));
            h.scope = RouteScope::from(self.scope.unwrap_or_else(|| self.default_scope()));
        } else {
            h.protocol = RouteProtocol::from(self.protocol.unwrap_or(0));
            h.scope = RouteScope::from(RT_SCOPE_NOWHERE);
        }
        let a = &mut m.attributes;
        a.push(RouteAttribute::Table(table));
        if !is_unspecified_default(self.dst, self.prefix) {
            a.push(RouteAttribute::Destination(RouteAddress::from(self.dst)));
        }
        match (self.via, self.or) {
            (Some(g1), Some(g2)) if !self.kind.is_reject() => {
                let hop = |g: IpAddr| {
                    let mut nh = RouteNextHop::default();
                    nh.interface_index = self.dev.unwrap_or(0);
                    nh.attributes
                        .push(RouteAttribute::Gateway(RouteAddress::from(g)));
                    nh
                };
                a.push(RouteAttribute::MultiPath(vec![hop(g1), hop(g2)]));
            }
            (Some(g), _) if !self.kind.is_reject() => {
                a.push(RouteAttribute::Gateway(RouteAddress::from(g)));
                if let Some(d) = self.dev {
                    a.push(RouteAttribute::Oif(d));
                }
            }
            _ => {
                if let Some(d) = self.dev {
                    a.push(RouteAttribute::Oif(d));
                }
            }
        }
        if let Some(s) = self.src {
            a.push(RouteAttribute::PrefSource(RouteAddress::from(s)));
        }
        if let Some(p) = self.metric {
            a.push(RouteAttribute::Priority(p));
        }
        m
    }

    fn default_scope(&self) -> u8 {
        match self.kind {
            RouteKind::Local | RouteKind::Nat => RT_SCOPE_HOST,
            RouteKind::Broadcast | RouteKind::Multicast | RouteKind::Anycast => RT_SCOPE_LINK,
            RouteKind::Unicast if self.via.is_none() && self.dst.is_ipv4() => RT_SCOPE_LINK,
            _ => RT_SCOPE_UNIVERSE,
        }
    }
}

/// Whether this is `0.0.0.0/0` / `::/0`, sent without `RTA_DST`.
fn is_unspecified_default(a: IpAddr, prefix: u8) -> bool {
    prefix == 0 && a.is_unspecified()
}

fn family(a: IpAddr) -> AddressFamily {
    if a.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    }
}

fn prefix_of(p: &Prefix) -> (IpAddr, u8) {
    let host = if p.address.is_ipv4() { 32 } else { 128 };
    (p.address, p.prefix.unwrap_or(host))
}

/// Rule action (`FR_ACT_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RuleKind {
    /// Look up a table (`table`/`lookup`, the default).
    #[default]
    Table,
    /// Jump to the rule with this priority (`goto`).
    Goto(u32),
    /// Do nothing (`nop`).
    Nop,
    /// Drop silently (`blackhole`).
    Blackhole,
    /// Drop with ICMP unreachable (`unreachable`).
    Unreachable,
    /// Drop with ICMP prohibited (`prohibit`).
    Prohibit,
}

/// A policy-routing rule to add or delete (`ip [-6] rule add|del ...`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RuleSpec {
    /// IPv6 rule (`ip -6 rule`) rather than IPv4.
    pub ipv6: bool,
    /// Source selector (`from PREFIX`).
    pub from: Option<(IpAddr, u8)>,
    /// Destination selector (`to PREFIX`).
    pub to: Option<(IpAddr, u8)>,
    /// Table to look up (default main for [`RuleKind::Table`]).
    pub table: Option<u32>,
    /// Priority (`priority`/`preference`/`pref`); the kernel picks one when unset.
    pub priority: Option<u32>,
    /// Input interface name (`iif`).
    pub iif: Option<String>,
    /// Output interface name (`oif`).
    pub oif: Option<String>,
    /// Firewall mark and optional mask (`fwmark MARK[/MASK]`).
    pub fwmark: Option<(u32, Option<u32>)>,
    /// Type of service (`tos`).
    pub tos: Option<u8>,
    /// Protocol (`RTPROT_*`, `FRA_PROTOCOL`, kernel 4.17+).
    pub protocol: Option<u8>,
    /// Action.
    pub action: RuleKind,
}

impl RuleSpec {
    /// An empty IPv4 or IPv6 rule (matches everything, looks up main).
    pub fn new(ipv6: bool) -> Self {
        RuleSpec {
            ipv6,
            from: None,
            to: None,
            table: None,
            priority: None,
            iif: None,
            oif: None,
            fwmark: None,
            tos: None,
            protocol: None,
            action: RuleKind::Table,
        }
    }

    /// Build from a config `virtual_rules` / `static_rules` line. The family
    /// comes from `from`/`to`, or `inet6`/`-6` in the line (default IPv4).
    /// The action is `goto N`, a `blackhole`/`unreachable`/`prohibit`/`nop`
    /// word, or a table lookup. The protocol defaults to [`RTPROT_KEEPALIVED`].
    /// Options outside this struct (realms, uidrange, ports, …) are ignored.
    pub fn from_model(r: &Rule) -> Result<Self, String> {
        let from = r.from.as_ref().map(prefix_of);
        let to = r.to.as_ref().map(prefix_of);
        let ipv6 = match (from, to) {
            (Some((f, _)), Some((t, _))) if f.is_ipv4() != t.is_ipv4() => {
                return Err(format!("rule mixes families: from {f} to {t}"));
            }
            (Some((a, _)), _) | (None, Some((a, _))) => a.is_ipv6(),
            (None, None) => r
                .words
                .iter()
                .any(|w| w == "inet6" || w == "-6" || w == "ipv6"),
        };
        let has = |k: &str| r.words.iter().any(|w| w == k);
        let action = if let Some(g) = r.goto {
            RuleKind::Goto(g)
        } else if has("blackhole") {
            RuleKind::Blackhole
        } else if has("unreachable") {
            RuleKind::Unreachable
        } else if has("prohibit") {
            RuleKind::Prohibit
        } else if has("nop") {
            RuleKind::Nop
        } else {
            RuleKind::Table
        };
        let table = r.table.as_deref().map(parse_table).transpose()?;
        let fwmark = r.fwmark.as_deref().map(parse_fwmark).transpose()?;
        let tos = match word_after(&r.words, &["tos", "dsfield"]) {
            Some(t) => Some(
                u8::try_from(parse_num(t).ok_or_else(|| format!("bad tos '{t}'"))?)
                    .map_err(|_| format!("bad tos '{t}'"))?,
            ),
            None => None,
        };
        let protocol = match word_after(&r.words, &["protocol", "proto"]) {
            Some(p) => parse_protocol(p)?,
            None => RTPROT_KEEPALIVED,
        };
        Ok(RuleSpec {
            ipv6,
            from,
            to,
            table,
            priority: r.priority,
            iif: r.iif.clone(),
            oif: r.oif.clone(),
            fwmark,
            tos,
            protocol: Some(protocol),
            action,
        })
    }

    fn message(&self, add: bool) -> RuleMessage {
        let mut m = RuleMessage::default();
        let h = &mut m.header;
        h.family = if self.ipv6 {
            AddressFamily::Inet6
        } else {
            AddressFamily::Inet
        };
        h.tos = self.tos.unwrap_or(0);
        h.action = match self.action {
            RuleKind::Table => RuleAction::ToTable,
            RuleKind::Goto(_) => RuleAction::Goto,
            RuleKind::Nop => RuleAction::Nop,
            RuleKind::Blackhole => RuleAction::Blackhole,
            RuleKind::Unreachable => RuleAction::Unreachable,
            RuleKind::Prohibit => RuleAction::Prohibit,
        };
        let table = match (self.table, self.action) {
            (Some(t), _) => Some(t),
            (None, RuleKind::Table) if add => Some(RT_TABLE_MAIN),
            _ => None,
        };
        if let Some(t) = table {
            h.table = u8::try_from(t).unwrap_or(0);
        }
        let a = &mut m.attributes;
        if let Some(t) = table {
            if t > 255 {
                a.push(RuleAttribute::Table(t));
            }
        }
        if let Some((addr, len)) = self.from {
            m.header.src_len = len;
            a.push(RuleAttribute::Source(addr));
        }
        if let Some((addr, len)) = self.to {
            m.header.dst_len = len;
            a.push(RuleAttribute::Destination(addr));
        }
        if let Some(p) = self.priority {
            a.push(RuleAttribute::Priority(p));
        }
        if let Some(i) = &self.iif {
            a.push(RuleAttribute::Iifname(i.clone()));
        }
        if let Some(o) = &self.oif {
            a.push(RuleAttribute::Oifname(o.clone()));
        }
        if let Some((mark, mask)) = self.fwmark {
            a.push(RuleAttribute::FwMark(mark));
            if let Some(mask) = mask {
                a.push(RuleAttribute::FwMask(mask));
            }
        }
        if let RuleKind::Goto(g) = self.action {
            a.push(RuleAttribute::Goto(g));
        }
        if let Some(p) = self.protocol {
            a.push(RuleAttribute::Protocol(RouteProtocol::from(p)));
        }
        m
    }
}

fn word_after<'a>(words: &'a [String], keys: &[&str]) -> Option<&'a str> {
    words
        .iter()
        .position(|w| keys.contains(&w.as_str()))
        .and_then(|i| words.get(i + 1))
        .map(String::as_str)
}

fn parse_num(s: &str) -> Option<u32> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn parse_fwmark(s: &str) -> Result<(u32, Option<u32>), String> {
    let bad = || format!("bad fwmark '{s}'");
    match s.split_once('/') {
        Some((m, k)) => Ok((
            parse_num(m).ok_or_else(bad)?,
            Some(parse_num(k).ok_or_else(bad)?),
        )),
        None => Ok((parse_num(s).ok_or_else(bad)?, None)),
    }
}

/// Look `name` up in iproute2's name files (`/etc/iproute2/<file>`,
/// `/usr/share/iproute2/<file>`, `/usr/lib/iproute2/<file>` and the
/// `<file>.d/*.conf` drop-ins).
fn lookup_name(file: &str, name: &str) -> Option<u32> {
    let mut paths = Vec::new();
    for dir in ["/etc/iproute2", "/usr/share/iproute2", "/usr/lib/iproute2"] {
        paths.push(format!("{dir}/{file}"));
        if let Ok(rd) = fs::read_dir(format!("{dir}/{file}.d")) {
            let mut extra: Vec<String> = rd
                .filter_map(|e| e.ok())
                .map(|e| e.path().to_string_lossy().into_owned())
                .filter(|p| p.ends_with(".conf"))
                .collect();
            extra.sort();
            paths.extend(extra);
        }
    }
    paths.iter().find_map(|p| {
        let text = fs::read_to_string(p).ok()?;
        text.lines().find_map(|line| {
            let line = line.split('#').next().unwrap_or("");
            let mut it = line.split_whitespace();
            let id = parse_num(it.next()?)?;
            (it.next()? == name).then_some(id)
        })
    })
}

/// A routing table id from a number or a name (`main`, `local`, `default`,
/// or one in `rt_tables`).
pub fn parse_table(s: &str) -> Result<u32, String> {
    match s {
        "main" => Ok(RT_TABLE_MAIN),
        "local" => Ok(RT_TABLE_LOCAL),
        "default" => Ok(RT_TABLE_DEFAULT),
        "unspec" => Ok(0),
        _ => parse_num(s)
            .or_else(|| lookup_name("rt_tables", s))
            .ok_or_else(|| format!("unknown routing table '{s}'")),
    }
}

/// A route scope from a number or a name (`global`/`universe`, `site`,
/// `link`, `host`, `nowhere`).
pub fn parse_scope(s: &str) -> Result<u8, String> {
    match s {
        "global" | "universe" => Ok(RT_SCOPE_UNIVERSE),
        "site" => Ok(200),
        "link" => Ok(RT_SCOPE_LINK),
        "host" => Ok(RT_SCOPE_HOST),
        "nowhere" => Ok(RT_SCOPE_NOWHERE),
        _ => parse_num(s)
            .or_else(|| lookup_name("rt_scopes", s))
            .and_then(|v| u8::try_from(v).ok())
            .ok_or_else(|| format!("unknown scope '{s}'")),
    }
}

/// A route protocol from a number or a name (`kernel`, `boot`, `static`,
/// `keepalived`, … or one in `rt_protos`).
pub fn parse_protocol(s: &str) -> Result<u8, String> {
    let known = match s {
        "unspec" => Some(0),
        "redirect" => Some(1),
        "kernel" => Some(2),
        "boot" => Some(3),
        "static" => Some(4),
        "gated" => Some(8),
        "ra" => Some(9),
        "mrt" => Some(10),
        "zebra" => Some(11),
        "bird" => Some(12),
        "dnrouted" => Some(13),
        "xorp" => Some(14),
        "ntk" => Some(15),
        "dhcp" => Some(16),
        "mrouted" => Some(17),
        "keepalived" => Some(18),
        "babel" => Some(42),
        "bgp" => Some(186),
        "isis" => Some(187),
        "ospf" => Some(188),
        "rip" => Some(189),
        "eigrp" => Some(192),
        _ => None,
    };
    known
        .or_else(|| parse_num(s))
        .or_else(|| lookup_name("rt_protos", s))
        .and_then(|v| u8::try_from(v).ok())
        .ok_or_else(|| format!("unknown route protocol '{s}'"))
}

fn nl_errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| c.get().abs()),
        _ => None,
    }
}

fn nl_err(e: rtnetlink::Error) -> io::Error {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.to_io(),
        other => io::Error::other(other.to_string()),
    }
}

fn ok_unless(r: Result<(), rtnetlink::Error>, benign: &[i32]) -> io::Result<()> {
    match r {
        Ok(()) => Ok(()),
        Err(e) if nl_errno(&e).is_some_and(|c| benign.contains(&c)) => Ok(()),
        Err(e) => Err(nl_err(e)),
    }
}

/// Add `spec`. An identical route already present is not an error.
pub async fn add_route(nl: &Netlink, spec: &RouteSpec) -> io::Result<()> {
    let r = nl.handle().route().add(spec.message(true)).execute().await;
    ok_unless(r, &[libc::EEXIST])
}

/// Delete `spec` (matched on destination, table, type and, when set,
/// gateway, device, metric and protocol). Absent is not an error.
pub async fn del_route(nl: &Netlink, spec: &RouteSpec) -> io::Result<()> {
    let r = nl.handle().route().del(spec.message(false)).execute().await;
    ok_unless(r, &[libc::ESRCH, libc::ENOENT])
}

/// Add `spec`. An identical rule already present is not an error.
pub async fn add_rule(nl: &Netlink, spec: &RuleSpec) -> io::Result<()> {
    let mut req = nl.handle().rule().add();
    *req.message_mut() = spec.message(true);
    ok_unless(req.execute().await, &[libc::EEXIST])
}

/// Delete the first rule matching `spec`. Absent is not an error.
pub async fn del_rule(nl: &Netlink, spec: &RuleSpec) -> io::Result<()> {
    let r = nl.handle().rule().del(spec.message(false)).execute().await;
    ok_unless(r, &[libc::ENOENT, libc::ESRCH])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(words: &[&str]) -> Route {
        // Mirrors Route::parse enough for these tests.
        let mut r = Route {
            words: words.iter().map(|s| s.to_string()).collect(),
            ..Route::default()
        };
        let mut it = words.iter();
        while let Some(w) = it.next() {
            match *w {
                "via" | "gw" => r.via = it.next().and_then(|v| v.parse().ok()),
                "or" => r.or = it.next().and_then(|v| v.parse().ok()),
                "src" => r.src = it.next().and_then(|v| v.parse().ok()),
                "dev" => r.dev = it.next().map(|s| s.to_string()),
                "table" => r.table = it.next().map(|s| s.to_string()),
                "metric" => r.metric = it.next().and_then(|v| v.parse().ok()),
                "scope" => r.scope = it.next().map(|s| s.to_string()),
                "proto" => r.protocol = it.next().map(|s| s.to_string()),
                t if RouteKind::parse(t).is_some() => r.kind = Some(t.to_string()),
                t => r.dst = Prefix::parse(t),
            }
        }
        r
    }

    fn dev(n: &str) -> Option<u32> {
        (n == "eth0").then_some(7)
    }

    #[test]
    fn route_from_model() {
        let s = RouteSpec::from_model(
            &route(&[
                "10.9.0.0/16",
                "via",
                "10.0.0.1",
                "dev",
                "eth0",
                "table",
                "100",
            ]),
            dev,
            None,
        )
        .unwrap();
        assert_eq!(s.dst, "10.9.0.0".parse::<IpAddr>().unwrap());
        assert_eq!(s.prefix, 16);
        assert_eq!(s.dev, Some(7));
        assert_eq!(s.table, Some(100));
        assert_eq!(s.protocol, Some(RTPROT_KEEPALIVED));
        assert_eq!(s.kind, RouteKind::Unicast);

        let b =
            RouteSpec::from_model(&route(&["blackhole", "2001:db8::/48"]), dev, Some(3)).unwrap();
        assert_eq!(b.kind, RouteKind::Blackhole);
        assert_eq!(b.dev, None);
        assert_eq!(b.prefix, 48);

        let d = RouteSpec::from_model(&route(&["10.1.1.1"]), dev, Some(3)).unwrap();
        assert_eq!((d.prefix, d.dev), (32, Some(3)));

        let m = RouteSpec::from_model(
            &route(&[
                "0.0.0.0/0",
                "gw",
                "10.0.0.1",
                "table",
                "main",
                "proto",
                "static",
            ]),
            dev,
            Some(3),
        )
        .unwrap();
        assert_eq!((m.table, m.protocol, m.dev), (Some(254), Some(4), None));

        assert!(RouteSpec::from_model(&route(&["10.0.0.0/8", "dev", "nope"]), dev, None).is_err());
        assert!(
            RouteSpec::from_model(&route(&["10.0.0.0/8", "via", "fe80::1"]), dev, None).is_err()
        );
        assert!(RouteSpec::from_model(&route(&["via", "10.0.0.1"]), dev, None).is_err());
    }

    #[test]
    fn route_message_shape() {
        let mut s = RouteSpec::new("0.0.0.0".parse().unwrap(), 0);
        s.via = Some("10.0.0.1".parse().unwrap());
        s.table = Some(1000);
        let m = s.message(true);
        assert_eq!(m.header.table, RT_TABLE_COMPAT);
        assert!(m.attributes.contains(&RouteAttribute::Table(1000)));
        assert!(!m
            .attributes
            .iter()
            .any(|a| matches!(a, RouteAttribute::Destination(_))));
        assert_eq!(m.header.scope, RouteScope::Universe);
        let d = s.message(false);
        assert_eq!(d.header.scope, RouteScope::NoWhere);
        assert_eq!(d.header.protocol, RouteProtocol::Unspec);

        let mut c = RouteSpec::new("10.0.0.0".parse().unwrap(), 8);
        c.dev = Some(2);
        assert_eq!(c.message(true).header.scope, RouteScope::Link);

        c.via = Some("10.0.0.1".parse().unwrap());
        c.or = Some("10.0.0.2".parse().unwrap());
        let mp = c.message(true);
        assert!(mp
            .attributes
            .iter()
            .any(|a| matches!(a, RouteAttribute::MultiPath(v) if v.len() == 2)));
    }

    #[test]
    fn rule_from_model() {
        let r = Rule {
            from: Prefix::parse("10.1.0.0/16"),
            table: Some("100".into()),
            priority: Some(100),
            fwmark: Some("0x10/0xff".into()),
            words: [
                "from",
                "10.1.0.0/16",
                "table",
                "100",
                "fwmark",
                "0x10/0xff",
                "tos",
                "4",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            ..Rule::default()
        };
        let s = RuleSpec::from_model(&r).unwrap();
        assert!(!s.ipv6);
        assert_eq!(s.from, Some(("10.1.0.0".parse().unwrap(), 16)));
        assert_eq!(s.table, Some(100));
        assert_eq!(s.fwmark, Some((0x10, Some(0xff))));
        assert_eq!(s.tos, Some(4));
        assert_eq!(s.action, RuleKind::Table);
        assert_eq!(s.protocol, Some(RTPROT_KEEPALIVED));

        let g = Rule {
            to: Prefix::parse("2001:db8::/32"),
            goto: Some(200),
            ..Rule::default()
        };
        let s = RuleSpec::from_model(&g).unwrap();
        assert!(s.ipv6);
        assert_eq!(s.action, RuleKind::Goto(200));

        let bad = Rule {
            from: Prefix::parse("10.0.0.0/8"),
            to: Prefix::parse("2001:db8::/32"),
            ..Rule::default()
        };
        assert!(RuleSpec::from_model(&bad).is_err());
    }

    #[test]
    fn names() {
        assert_eq!(parse_table("local"), Ok(255));
        assert_eq!(parse_table("0x10"), Ok(16));
        assert!(parse_table("no-such-table-xyz").is_err());
        assert_eq!(parse_scope("link"), Ok(253));
        assert_eq!(parse_protocol("keepalived"), Ok(18));
        assert!(parse_protocol("300").is_err());
    }
}
