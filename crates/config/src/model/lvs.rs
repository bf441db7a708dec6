//! LVS blocks: virtual_server_group, virtual_server, real_server.

use super::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, Default, Serialize)]
pub struct VirtualServerGroup {
    pub name: String,
    /// Each member line's words, as written.
    pub members: Vec<Vec<String>>,
    /// The same members, typed (lines that do not parse are left out).
    pub entries: Vec<GroupMember>,
}

/// A virtual_server_group member.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum GroupMember {
    /// `IP [PORT]`.
    Ip { address: IpAddr, port: Option<u16> },
    /// `A.B.C.D-E`, `A-B` or `A/PREFIX` (both ends included) `[PORT]`.
    Range {
        first: IpAddr,
        last: IpAddr,
        port: Option<u16>,
    },
    /// `fwmark N [inet|inet6]`.
    Fwmark { mark: u32, family: Option<String> },
}

impl GroupMember {
    pub fn parse(w: &[String]) -> Option<GroupMember> {
        let first = w.first()?;
        let port = w.get(1).and_then(|p| p.parse().ok());
        if first == "fwmark" {
            return Some(GroupMember::Fwmark {
                mark: w.get(1)?.parse().ok()?,
                family: w.get(2).cloned(),
            });
        }
        if let Ok(address) = first.parse() {
            return Some(GroupMember::Ip { address, port });
        }
        let (first, last) = ip_range(first)?;
        Some(GroupMember::Range { first, last, port })
    }
}

/// `A.B.C.D-E` (the last octet, or IPv6 group, ends the range), `A-B`, or `A/PREFIX`.
fn ip_range(s: &str) -> Option<(IpAddr, IpAddr)> {
    if let Some((a, p)) = s.split_once('/') {
        let a: IpAddr = a.parse().ok()?;
        let p: u32 = p.parse().ok()?;
        return Some(match a {
            IpAddr::V4(a) => {
                let host = u32::MAX.checked_shr(p).unwrap_or(0);
                let n = u32::from(a) & !host;
                (Ipv4Addr::from(n).into(), Ipv4Addr::from(n | host).into())
            }
            IpAddr::V6(a) => {
                let host = u128::MAX.checked_shr(p).unwrap_or(0);
                let n = u128::from(a) & !host;
                (Ipv6Addr::from(n).into(), Ipv6Addr::from(n | host).into())
            }
        });
    }
    let (a, b) = s.split_once('-')?;
    let first: IpAddr = a.parse().ok()?;
    if let Ok(last) = b.parse() {
        return Some((first, last));
    }
    let last = match first {
        IpAddr::V4(f) => {
            let mut o = f.octets();
            o[3] = b.parse().ok()?;
            IpAddr::from(o)
        }
        IpAddr::V6(f) => {
            let mut g = f.segments();
            g[7] = u16::from_str_radix(b, 16).ok()?;
            IpAddr::from(g)
        }
    };
    Some((first, last))
}

pub(crate) fn group(n: &Node) -> VirtualServerGroup {
    let members: Vec<Vec<String>> = n.children().iter().map(item_words).collect();
    VirtualServerGroup {
        name: arg(n).unwrap_or_default(),
        entries: members
            .iter()
            .filter_map(|m| GroupMember::parse(m))
            .collect(),
        members,
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceAddress {
    Ip { address: IpAddr, port: u16 },
    Fwmark(u32),
    Group(String),
}

/// The tunnel options of `lvs_method TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Tunnel {
    /// ipip (default), gue or gre.
    pub kind: String,
    /// The GUE port.
    pub port: Option<u16>,
    /// nocsum (default), csum or remcsum.
    pub checksum: Option<String>,
}

/// The tunnel of an `lvs_method` line, if the method is TUN.
pub(crate) fn tunnel(k: &Node) -> Option<Tunnel> {
    let w = words(k);
    (w.first()? == "TUN").then(|| Tunnel {
        kind: after(&w, "type").unwrap_or_else(|| "ipip".into()),
        port: after(&w, "port"),
        checksum: w
            .iter()
            .find(|a| matches!(a.as_str(), "nocsum" | "csum" | "remcsum"))
            .cloned(),
    })
}

/// `sorry_server IP [PORT]`.
#[derive(Debug, Clone, Serialize)]
pub struct SorryServer {
    pub address: IpAddr,
    /// Default: the virtual server's port.
    pub port: Option<u16>,
}

fn sorry(k: &Node) -> Option<SorryServer> {
    Some(SorryServer {
        address: num(k)?,
        port: k.args.get(1).and_then(|p| p.text.parse().ok()),
    })
}

/// Scheduler flag keywords, kept in `VirtualServer::scheduler_flags`.
const SCHED_FLAGS: &[&str] = &[
    "flag-1",
    "flag-2",
    "flag-3",
    "sh-port",
    "sh-fallback",
    "mh-port",
    "mh-fallback",
];

keyword_struct! {
    #[derive(Debug, Clone, Serialize)]
    pub struct VirtualServer {
        service: ServiceAddress,
        ;
        /// Seconds between checks (default 60).
        delay_loop: Option<f64> = "delay_loop" => num,
        /// `lb_algo`/`lvs_sched` (default wlc).
        lb_algo: Option<String> = "lb_algo" | "lvs_sched" => arg,
        /// `lb_kind`/`lvs_method`: NAT (default), DR, TUN.
        lb_kind: Option<String> = "lb_kind" | "lvs_method" => arg,
        /// The tunnel options when lb_kind is TUN.
        lvs_tunnel: Option<Tunnel> = "lvs_method" => tunnel,
        /// TCP (default), UDP, SCTP.
        protocol: Option<String> = "protocol" => |k: &Node| arg(k).map(|p| p.to_ascii_uppercase()),
        /// Seconds (default 360 when persistence is on; unset: no persistence).
        /// Bare keyword: keepalived's default of 360 s.
        persistence_timeout: Option<u32> = "persistence_timeout" => |k: &Node| num(k).or(k.args.is_empty().then_some(360)),
        /// Netmask or prefix length (default /32, /128).
        persistence_granularity: Option<String> = "persistence_granularity" => arg,
        persistence_engine: Option<String> = "persistence_engine" => arg,
        /// Default HTTP Host for HTTP_GET/SSL_GET checkers.
        virtualhost: Option<String> = "virtualhost" => arg,
        /// Minimum total weight of live real servers (default 1).
        quorum: Option<u32> = "quorum" => num,
        quorum_up: Option<ScriptLine> = "quorum_up" => script_line,
        quorum_down: Option<ScriptLine> = "quorum_down" => script_line,
        quorum_up_delay: Option<f64> = "quorum_up_delay" => num,
        /// Default 0.
        hysteresis: Option<u32> = "hysteresis" => num,
        /// `sorry_server` words as written.
        sorry_server: Option<Vec<String>> = "sorry_server" => some_words,
        /// `sorry_server`, typed.
        sorry_server_addr: Option<SorryServer> = "sorry_server" => sorry,
        sorry_server_inhibit: Option<bool> = "sorry_server_inhibit" => opt_bool,
        /// Default: lb_kind.
        sorry_server_lvs_method: Option<String> = "sorry_server_lvs_method" => arg,
        sorry_server_tunnel: Option<Tunnel> = "sorry_server_lvs_method" => tunnel,
        /// Real servers start down until their checkers succeed (default false).
        alpha: Option<bool> = "alpha" => opt_bool,
        /// Run quorum_down and clear the pool on exit (default false).
        omega: Option<bool> = "omega" => opt_bool,
        /// Set weight 0 instead of removing failed real servers (default false).
        inhibit_on_failure: Option<bool> = "inhibit_on_failure" => opt_bool,
        ha_suspend: bool = "ha_suspend" => flag,
        /// One-packet scheduling (UDP).
        ops: bool = "ops" => flag,
        one_packet_scheduler: bool = "one_packet_scheduler" => flag,
        /// Checker defaults for the real servers (see `Checker`).
        retry: Option<u32> = "retry" => num,
        delay_before_retry: Option<f64> = "delay_before_retry" => num,
        warmup: Option<f64> = "warmup" => num,
        connect_timeout: Option<f64> = "connect_timeout" => num,
        /// Default: global smtp_alert_checker / smtp_alert.
        smtp_alert: Option<bool> = "smtp_alert" => opt_bool,
        /// flag-1..3, sh-port, sh-fallback, mh-port, mh-fallback, as given.
        scheduler_flags: Vec<String>,
        /// inet (default) or inet6, for fwmark services.
        ip_family: Option<String> = "ip_family" => arg,
        lvs_timeouts: Option<LvsTimeouts> = "lvs_timeouts" => global::lvs_timeouts,
        snmp_name: Option<String> = "snmp_name" => line,
        real_servers: Vec<RealServer>,
        other: Other,
    }
}

pub(crate) fn virtual_server(n: &Node) -> Option<VirtualServer> {
    let a = &n.args;
    let service = match a.first().map(|t| t.text.as_str()) {
        Some("fwmark") => ServiceAddress::Fwmark(a.get(1)?.text.parse().ok()?),
        Some("group") => ServiceAddress::Group(a.get(1)?.text.clone()),
        _ => ServiceAddress::Ip {
            address: a.first()?.text.parse().ok()?,
            port: a.get(1).and_then(|p| p.text.parse().ok()).unwrap_or(0),
        },
    };
    let mut vs = VirtualServer::blank(service);
    for k in n.children() {
        match k.name() {
            "real_server" => vs.real_servers.extend(real_server(k)),
            f if SCHED_FLAGS.contains(&f) => vs.scheduler_flags.push(f.to_string()),
            _ => {
                if !vs.set(k) {
                    keep(&mut vs.other, k)
                }
            }
        }
    }
    Some(vs)
}

keyword_struct! {
    #[derive(Debug, Clone, Serialize)]
    pub struct RealServer {
        address: IpAddr,
        port: Option<u16>,
        ;
        /// Default 1.
        weight: Option<u32> = "weight" => num,
        /// Default: the virtual server's lb_kind.
        lvs_method: Option<String> = "lvs_method" => arg,
        lvs_tunnel: Option<Tunnel> = "lvs_method" => tunnel,
        notify_up: Option<ScriptLine> = "notify_up" => script_line,
        notify_down: Option<ScriptLine> = "notify_down" => script_line,
        /// Default: the virtual server's.
        inhibit_on_failure: Option<bool> = "inhibit_on_failure" => opt_bool,
        /// Maximum connections (default 0: none).
        uthreshold: Option<u32> = "uthreshold" => num,
        /// Minimum connections (default 0: none).
        lthreshold: Option<u32> = "lthreshold" => num,
        /// Checker defaults for this server (default: the virtual server's).
        alpha: Option<bool> = "alpha" => opt_bool,
        retry: Option<u32> = "retry" => num,
        delay_before_retry: Option<f64> = "delay_before_retry" => num,
        warmup: Option<f64> = "warmup" => num,
        delay_loop: Option<f64> = "delay_loop" => num,
        connect_timeout: Option<f64> = "connect_timeout" => num,
        smtp_alert: Option<bool> = "smtp_alert" => opt_bool,
        virtualhost: Option<String> = "virtualhost" => arg,
        snmp_name: Option<String> = "snmp_name" => line,
        checkers: Vec<Checker>,
        other: Other,
    }
}

fn real_server(n: &Node) -> Option<RealServer> {
    let mut rs = RealServer::blank(
        n.args.first()?.text.parse().ok()?,
        n.args.get(1).and_then(|p| p.text.parse().ok()),
    );
    for k in n.children() {
        if CHECKERS.contains(&k.name()) {
            rs.checkers.push(checker(k));
        } else if !rs.set(k) {
            keep(&mut rs.other, k);
        }
    }
    Some(rs)
}
