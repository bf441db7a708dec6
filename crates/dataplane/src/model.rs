//! The desired state of the load balancer, built from the configuration and
//! the checkers' verdicts, in the shape both IPVS and nftables can program.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;

use keepalived_config::model::{Config, GroupMember, ServiceAddress, Tunnel, VirtualServer};

/// Layer-4 protocol of an address service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    Tcp,
    Udp,
    Sctp,
}

impl Proto {
    /// IANA protocol number.
    pub fn number(self) -> u8 {
        match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
            Proto::Sctp => 132,
        }
    }
    /// Lower-case name as nft spells it.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }
    pub fn from_name(s: &str) -> Option<Proto> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Some(Proto::Tcp),
            "udp" => Some(Proto::Udp),
            "sctp" => Some(Proto::Sctp),
            _ => None,
        }
    }
}

/// Address family of a fwmark service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(a: &IpAddr) -> Family {
        if a.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        }
    }
}

/// What identifies a virtual service (IPVS: protocol/address/port or fwmark/family).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServiceKey {
    Ip {
        addr: IpAddr,
        port: u16,
        proto: Proto,
    },
    Fwmark {
        mark: u32,
        family: Family,
    },
}

impl ServiceKey {
    pub fn family(&self) -> Family {
        match self {
            ServiceKey::Ip { addr, .. } => Family::of(addr),
            ServiceKey::Fwmark { family, .. } => *family,
        }
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Ip {
                addr: IpAddr::V6(a),
                port,
                proto,
            } => write!(f, "{} [{a}]:{port}", proto.name()),
            ServiceKey::Ip { addr, port, proto } => write!(f, "{} {addr}:{port}", proto.name()),
            ServiceKey::Fwmark { mark, family } => write!(f, "fwmark {mark} {family:?}"),
        }
    }
}

/// A real server of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DestKey {
    pub addr: IpAddr,
    /// 0 for a fwmark service means "the packet's own port".
    pub port: u16,
}

impl fmt::Display for DestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addr {
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.port),
            a => write!(f, "{a}:{}", self.port),
        }
    }
}

/// Forwarding method (IPVS: masq / droute / tunnel).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Nat,
    Dr,
    Tun {
        /// ipip, gue or gre.
        kind: String,
        /// The GUE port.
        port: Option<u16>,
        /// nocsum, csum or remcsum.
        csum: Option<String>,
    },
}

/// A destination's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dest {
    /// 0: quiesced (no new connections, existing ones go on).
    pub weight: u32,
    pub method: Method,
    /// Maximum connections (0: none).
    pub u_threshold: u32,
    /// Minimum connections (0: none).
    pub l_threshold: u32,
}

impl Dest {
    pub fn nat(weight: u32) -> Dest {
        Dest {
            weight,
            method: Method::Nat,
            u_threshold: 0,
            l_threshold: 0,
        }
    }
}

/// Client affinity (IPVS persistent service).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Persistence {
    pub timeout_s: u32,
    /// Prefix length of the client mask (`persistence_granularity`): 32 / 128 by default.
    pub granularity: u8,
}

/// A virtual service and its destinations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub key: ServiceKey,
    /// rr wrr lc wlc lblc lblcr dh sh sed nq mh fo ovf twos.
    pub scheduler: String,
    /// Scheduler flags (sh-port, sh-fallback, mh-port, mh-fallback, flag-N) and `ops`.
    pub flags: Vec<String>,
    pub persistence: Option<Persistence>,
    pub destinations: BTreeMap<DestKey, Dest>,
}

impl Service {
    pub fn new(key: ServiceKey, scheduler: &str) -> Service {
        Service {
            key,
            scheduler: scheduler.to_string(),
            flags: Vec::new(),
            persistence: None,
            destinations: BTreeMap::new(),
        }
    }

    /// The same service without its destinations (what IPVS NEW_SERVICE / SET_SERVICE carry).
    pub fn header(&self) -> Service {
        Service {
            destinations: BTreeMap::new(),
            ..self.clone()
        }
    }

    /// True when everything but the destinations is equal.
    pub fn same_header(&self, o: &Service) -> bool {
        self.key == o.key
            && self.scheduler == o.scheduler
            && self.flags == o.flags
            && self.persistence == o.persistence
    }
}

/// The whole load balancer.
pub type Pool = BTreeMap<ServiceKey, Service>;

/// A real server's state as the checkers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Alive, configured weight.
    Up,
    /// Failed.
    Down,
    /// Alive with a weight set at run time (MISC_CHECK misc_dynamic).
    Weight(u32),
}

/// keepalived's default scheduler (`lb_algo`), as ipvsadm's.
pub const DEFAULT_SCHEDULER: &str = "wlc";
/// keepalived's default `persistence_timeout` when the keyword has no value.
pub const DEFAULT_PERSISTENCE_TIMEOUT: u32 = 360;
/// Addresses a single `virtual_server_group` range may expand to.
pub const MAX_RANGE: u128 = 65_536;

/// Quorum state per virtual server (index in `Config::virtual_servers`), kept
/// between calls so that `hysteresis` damps flapping.
#[derive(Debug, Clone, Default)]
pub struct QuorumMemory {
    /// false: quorum lost. Missing: up (the initial state).
    pub up: HashMap<usize, bool>,
}

/// Desired pool for `cfg` given the checkers' `health(vs_index, rs_index)`,
/// assuming every quorum was up before (so a quorum is lost only when the
/// live weight falls below `quorum - hysteresis`).
pub fn desired(cfg: &Config, health: &impl Fn(usize, usize) -> Health) -> Pool {
    desired_with(cfg, health, &mut QuorumMemory::default())
}

/// Like [`desired`], remembering each virtual server's quorum state in `mem`:
/// an up quorum goes down below `quorum - hysteresis`, a down quorum comes back
/// up at `quorum + hysteresis`.
pub fn desired_with(
    cfg: &Config,
    health: &impl Fn(usize, usize) -> Health,
    mem: &mut QuorumMemory,
) -> Pool {
    let mut pool = Pool::new();
    for vi in 0..cfg.virtual_servers.len() {
        // a later virtual server with the same key replaces an earlier one
        for svc in desired_vs(cfg, vi, health, mem) {
            pool.insert(svc.key, svc);
        }
    }
    pool
}

/// The services of virtual server `vi` alone (one per key of a group), its
/// quorum state in `mem` updated: what [`desired_with`] puts in the pool for
/// it, so that a checker verdict recomputes one virtual server, not all.
pub fn desired_vs(
    cfg: &Config,
    vi: usize,
    health: &impl Fn(usize, usize) -> Health,
    mem: &mut QuorumMemory,
) -> Vec<Service> {
    let Some(vs) = cfg.virtual_servers.get(vi) else {
        return Vec::new();
    };
    let Some(template) = service_template(vs) else {
        return Vec::new();
    };
    let dests = destinations(vs, vi, health, mem);
    let in_group = matches!(vs.service, ServiceAddress::Group(_));
    keys(cfg, vs)
        .into_iter()
        .map(|key| {
            let mut svc = template.clone();
            svc.key = key;
            svc.destinations = dests
                .iter()
                .map(|(k, d)| {
                    // keepalived gives a port-less real server the service's port,
                    // except in a virtual_server_group, where it stays 0.
                    let port = if k.port == 0 && !in_group {
                        key_port(&key)
                    } else {
                        k.port
                    };
                    (DestKey { addr: k.addr, port }, d.clone())
                })
                .collect();
            svc
        })
        .collect()
}

/// The service keys of virtual server `vi` (they depend on the configuration
/// alone, not on any checker).
pub fn vs_keys(cfg: &Config, vi: usize) -> Vec<ServiceKey> {
    cfg.virtual_servers
        .get(vi)
        .map(|vs| keys(cfg, vs))
        .unwrap_or_default()
}

fn key_port(k: &ServiceKey) -> u16 {
    match k {
        ServiceKey::Ip { port, .. } => *port,
        ServiceKey::Fwmark { .. } => 0,
    }
}

/// Everything of a service but its key and destinations.
fn service_template(vs: &VirtualServer) -> Option<Service> {
    let mut flags = vs.scheduler_flags.clone();
    if vs.ops || vs.one_packet_scheduler {
        flags.push("ops".into());
    }
    let v6 = match &vs.service {
        ServiceAddress::Ip { address, .. } => address.is_ipv6(),
        _ => vs.ip_family.as_deref() == Some("inet6"),
    };
    let persistence = vs.persistence_timeout.map(|t| Persistence {
        timeout_s: if t == 0 {
            DEFAULT_PERSISTENCE_TIMEOUT
        } else {
            t
        },
        granularity: vs
            .persistence_granularity
            .as_deref()
            .and_then(prefix_len)
            .unwrap_or(if v6 { 128 } else { 32 }),
    });
    Some(Service {
        key: ServiceKey::Fwmark {
            mark: 0,
            family: Family::V4,
        },
        scheduler: vs
            .lb_algo
            .clone()
            .unwrap_or_else(|| DEFAULT_SCHEDULER.into())
            .to_ascii_lowercase(),
        flags,
        persistence,
        destinations: BTreeMap::new(),
    })
}

/// `255.255.255.0` or `24` → 24.
pub fn prefix_len(s: &str) -> Option<u8> {
    if let Ok(n) = s.parse::<u8>() {
        return (n <= 128).then_some(n);
    }
    match s.parse::<IpAddr>().ok()? {
        IpAddr::V4(m) => {
            let m = u32::from(m);
            (m.leading_ones() + m.trailing_zeros() == 32).then_some(m.leading_ones() as u8)
        }
        IpAddr::V6(m) => {
            let m = u128::from(m);
            (m.leading_ones() + m.trailing_zeros() == 128).then_some(m.leading_ones() as u8)
        }
    }
}

/// keepalived 2.2.7 defaults a virtual server without `protocol` to UDP (and
/// warns; `-t` reports it).
fn proto(vs: &VirtualServer) -> Proto {
    vs.protocol
        .as_deref()
        .and_then(Proto::from_name)
        .unwrap_or(Proto::Udp)
}

/// The family of a fwmark service: `ip_family`, else the real servers', else IPv4.
fn fwmark_family(vs: &VirtualServer, given: Option<&str>) -> Family {
    match given.or(vs.ip_family.as_deref()) {
        Some("inet6") => Family::V6,
        Some("inet") => Family::V4,
        _ => vs
            .real_servers
            .first()
            .map(|r| Family::of(&r.address))
            .unwrap_or(Family::V4),
    }
}

/// The service keys a virtual server stands for (one per group member address).
fn keys(cfg: &Config, vs: &VirtualServer) -> Vec<ServiceKey> {
    let proto = proto(vs);
    match &vs.service {
        ServiceAddress::Ip { address, port } => vec![ServiceKey::Ip {
            addr: *address,
            port: *port,
            proto,
        }],
        ServiceAddress::Fwmark(mark) => vec![ServiceKey::Fwmark {
            mark: *mark,
            family: fwmark_family(vs, None),
        }],
        ServiceAddress::Group(name) => {
            let Some(g) = cfg.virtual_server_groups.iter().find(|g| &g.name == name) else {
                tracing::warn!("virtual_server group {name}: no such virtual_server_group");
                return Vec::new();
            };
            let mut out = Vec::new();
            for m in &g.entries {
                match m {
                    GroupMember::Ip { address, port } => out.push(ServiceKey::Ip {
                        addr: *address,
                        port: port.unwrap_or(0),
                        proto,
                    }),
                    GroupMember::Range { first, last, port } => {
                        for addr in range(*first, *last) {
                            out.push(ServiceKey::Ip {
                                addr,
                                port: port.unwrap_or(0),
                                proto,
                            });
                        }
                    }
                    GroupMember::Fwmark { mark, family } => out.push(ServiceKey::Fwmark {
                        mark: *mark,
                        family: fwmark_family(vs, family.as_deref()),
                    }),
                }
            }
            out
        }
    }
}

/// Addresses from `first` to `last` inclusive (at most [`MAX_RANGE`]).
fn range(first: IpAddr, last: IpAddr) -> Vec<IpAddr> {
    match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let (a, b) = (u32::from(a), u32::from(b));
            (a..=b)
                .take(MAX_RANGE as usize)
                .map(|n| IpAddr::from(n.to_be_bytes()))
                .collect()
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let (a, b) = (u128::from(a), u128::from(b));
            let n = b.saturating_sub(a).min(MAX_RANGE - 1);
            if b < a {
                return Vec::new();
            }
            (0..=n)
                .map(|i| IpAddr::from((a + i).to_be_bytes()))
                .collect()
        }
        _ => Vec::new(),
    }
}

fn method(kind: Option<&str>, tun: Option<&Tunnel>) -> Method {
    match kind.map(|k| k.to_ascii_uppercase()).as_deref() {
        Some("DR") => Method::Dr,
        Some("TUN") => {
            let t = tun.cloned().unwrap_or(Tunnel {
                kind: "ipip".into(),
                port: None,
                checksum: None,
            });
            Method::Tun {
                kind: t.kind,
                port: t.port,
                csum: t.checksum,
            }
        }
        _ => Method::Nat,
    }
}

/// The destinations of one virtual server (real server port 0: the service port),
/// after health, inhibit_on_failure, quorum and sorry server.
fn destinations(
    vs: &VirtualServer,
    vi: usize,
    health: &impl Fn(usize, usize) -> Health,
    mem: &mut QuorumMemory,
) -> BTreeMap<DestKey, Dest> {
    let vs_inhibit = vs.inhibit_on_failure.unwrap_or(false);
    // (key, dest, alive, inhibit)
    let mut rs = Vec::new();
    let mut live_weight: u64 = 0;
    for (ri, r) in vs.real_servers.iter().enumerate() {
        let configured = r.weight.unwrap_or(1);
        let kind = r.lvs_method.as_deref().or(vs.lb_kind.as_deref());
        let tun = r.lvs_tunnel.as_ref().or(vs.lvs_tunnel.as_ref());
        let (alive, weight) = match health(vi, ri) {
            Health::Up => (true, configured),
            Health::Weight(w) => (true, w),
            Health::Down => (false, 0),
        };
        if alive {
            live_weight += u64::from(weight);
        }
        let dest = Dest {
            weight,
            method: method(kind, tun),
            u_threshold: r.uthreshold.unwrap_or(0),
            l_threshold: r.lthreshold.unwrap_or(0),
        };
        let key = DestKey {
            addr: r.address,
            port: r.port.unwrap_or(0),
        };
        rs.push((key, dest, alive, r.inhibit_on_failure.unwrap_or(vs_inhibit)));
    }

    let quorum = u64::from(vs.quorum.unwrap_or(1));
    let hysteresis = u64::from(vs.hysteresis.unwrap_or(0));
    let was_up = *mem.up.get(&vi).unwrap_or(&true);
    let up = if was_up {
        live_weight >= quorum.saturating_sub(hysteresis)
    } else {
        live_weight >= quorum + hysteresis
    };
    mem.up.insert(vi, up);

    let mut out = BTreeMap::new();
    let sorry = vs.sorry_server_addr.as_ref();
    let replace_all = !up && sorry.is_some();
    for (key, dest, alive, inhibit) in rs {
        if alive && !replace_all {
            out.insert(key, dest);
        } else if inhibit {
            out.insert(key, Dest { weight: 0, ..dest });
        }
    }
    if let Some(s) = sorry {
        let key = DestKey {
            addr: s.address,
            port: s.port.unwrap_or(0),
        };
        let kind = vs
            .sorry_server_lvs_method
            .as_deref()
            .or(vs.lb_kind.as_deref());
        let tun = vs.sorry_server_tunnel.as_ref().or(vs.lvs_tunnel.as_ref());
        let dest = Dest {
            weight: 1,
            method: method(kind, tun),
            u_threshold: 0,
            l_threshold: 0,
        };
        if replace_all {
            out.insert(key, dest);
        } else if vs.sorry_server_inhibit.unwrap_or(false) {
            out.entry(key).or_insert(Dest { weight: 0, ..dest });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use keepalived_config::{load_str, model::build, LoadOptions};
    use std::net::Ipv4Addr;

    fn cfg(text: &str) -> Config {
        let l = load_str("t.conf", text, &LoadOptions::default());
        build(&l.tree)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn d(a: &str, port: u16) -> DestKey {
        DestKey { addr: ip(a), port }
    }

    const BASIC: &str = r#"
virtual_server 192.0.2.10 80 {
    real_server 10.0.0.1 8080 { weight 2 }
    real_server 10.0.0.2 { }
    real_server 10.0.0.3 80 {
        weight 3
        inhibit_on_failure
    }
}
"#;

    #[test]
    fn defaults() {
        let p = desired(&cfg(BASIC), &|_, _| Health::Up);
        assert_eq!(p.len(), 1);
        let s = p.values().next().unwrap();
        assert_eq!(
            s.key,
            ServiceKey::Ip {
                addr: ip("192.0.2.10"),
                port: 80,
                proto: Proto::Udp
            }
        );
        assert_eq!(s.scheduler, "wlc");
        assert_eq!(s.persistence, None);
        assert_eq!(s.destinations.len(), 3);
        assert_eq!(s.destinations[&d("10.0.0.1", 8080)].weight, 2);
        // port defaults to the VS port, weight to 1, method NAT
        assert_eq!(s.destinations[&d("10.0.0.2", 80)], Dest::nat(1));
    }

    #[test]
    fn down_removed_or_inhibited_and_dynamic_weight() {
        let p = desired(&cfg(BASIC), &|_, r| match r {
            0 => Health::Down,
            1 => Health::Weight(7),
            _ => Health::Down,
        });
        let s = p.values().next().unwrap();
        assert!(!s.destinations.contains_key(&d("10.0.0.1", 8080)));
        assert_eq!(s.destinations[&d("10.0.0.2", 80)].weight, 7);
        assert_eq!(s.destinations[&d("10.0.0.3", 80)].weight, 0);
    }

    const QUORUM: &str = r#"
virtual_server 192.0.2.10 80 {
    lb_algo rr
    quorum 4
    hysteresis 1
    sorry_server 10.9.9.9 8080
    real_server 10.0.0.1 80 { weight 2 }
    real_server 10.0.0.2 80 { weight 2 }
    real_server 10.0.0.3 80 {
        weight 2
        inhibit_on_failure
    }
}
"#;

    #[test]
    fn quorum_hysteresis_sorry() {
        let c = cfg(QUORUM);
        let mut mem = QuorumMemory::default();
        let up_to =
            |n: usize| move |_: usize, r: usize| if r < n { Health::Up } else { Health::Down };
        // all up: 6 >= 4, no sorry server
        let p = desired_with(&c, &up_to(3), &mut mem);
        let s = p.values().next().unwrap();
        assert_eq!(s.scheduler, "rr");
        assert_eq!(s.destinations.len(), 3);
        assert!(!s.destinations.contains_key(&d("10.9.9.9", 8080)));
        // 2 up: 4 >= 4-1 still up; third kept at weight 0 (inhibit)
        let p = desired_with(&c, &up_to(2), &mut mem);
        let s = p.values().next().unwrap();
        assert_eq!(s.destinations[&d("10.0.0.3", 80)].weight, 0);
        assert_eq!(s.destinations.len(), 3);
        // 1 up: 2 < 3: lost: sorry server only (inhibited server kept at 0)
        let p = desired_with(&c, &up_to(1), &mut mem);
        let s = p.values().next().unwrap();
        let live: Vec<_> = s
            .destinations
            .iter()
            .filter(|(_, d)| d.weight > 0)
            .map(|(k, _)| *k)
            .collect();
        assert_eq!(live, vec![d("10.9.9.9", 8080)]);
        assert!(!s.destinations.contains_key(&d("10.0.0.1", 80)));
        // 2 up again: 4 < 4+1: still down (hysteresis)
        let p = desired_with(&c, &up_to(2), &mut mem);
        assert!(p
            .values()
            .next()
            .unwrap()
            .destinations
            .contains_key(&d("10.9.9.9", 8080)));
        // 3 up: 6 >= 5: back up
        let p = desired_with(&c, &up_to(3), &mut mem);
        let s = p.values().next().unwrap();
        assert!(!s.destinations.contains_key(&d("10.9.9.9", 8080)));
        assert_eq!(s.destinations.len(), 3);
        // stateless: 1 up (2 < 3) is lost
        let p = desired(&c, &up_to(1));
        assert!(p
            .values()
            .next()
            .unwrap()
            .destinations
            .contains_key(&d("10.9.9.9", 8080)));
    }

    #[test]
    fn sorry_server_inhibit() {
        let c = cfg(r#"
virtual_server 192.0.2.10 80 {
    sorry_server 10.9.9.9
    sorry_server_inhibit
    real_server 10.0.0.1 80 { }
}
"#);
        let p = desired(&c, &|_, _| Health::Up);
        let s = p.values().next().unwrap();
        assert_eq!(s.destinations[&d("10.9.9.9", 80)].weight, 0);
        let p = desired(&c, &|_, _| Health::Down);
        let s = p.values().next().unwrap();
        assert_eq!(s.destinations.len(), 1);
        assert_eq!(s.destinations[&d("10.9.9.9", 80)].weight, 1);
    }

    #[test]
    fn groups_expand() {
        let c = cfg(r#"
virtual_server_group G {
    192.0.2.10 80
    192.0.2.20-22 443
    fwmark 7
    2001:db8::1 80
}
virtual_server group G {
    lb_algo sh
    protocol UDP
    lb_kind NAT
    persistence_timeout 100
    persistence_granularity 255.255.255.0
    real_server 10.0.0.1 { }
}
"#);
        let p = desired(&c, &|_, _| Health::Up);
        assert_eq!(p.len(), 1 + 3 + 1 + 1, "{:?}", p.keys().collect::<Vec<_>>());
        let k = ServiceKey::Ip {
            addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 21)),
            port: 443,
            proto: Proto::Udp,
        };
        let s = &p[&k];
        assert_eq!(s.scheduler, "sh");
        assert_eq!(
            s.persistence,
            Some(Persistence {
                timeout_s: 100,
                granularity: 24
            })
        );
        // a port-less real server of a group stays at port 0, as keepalived
        assert!(s.destinations.contains_key(&d("10.0.0.1", 0)));
        let f = ServiceKey::Fwmark {
            mark: 7,
            family: Family::V4,
        };
        assert!(p[&f].destinations.contains_key(&d("10.0.0.1", 0)));
    }

    #[test]
    fn fwmark_and_methods() {
        let c = cfg(r#"
virtual_server fwmark 5 {
    lb_kind DR
    real_server 2001:db8::5 80 { lvs_method TUN type gue port 6080 csum }
    real_server 2001:db8::6 80 { }
}
"#);
        let p = desired(&c, &|_, _| Health::Up);
        let s = p.values().next().unwrap();
        assert_eq!(
            s.key,
            ServiceKey::Fwmark {
                mark: 5,
                family: Family::V6
            }
        );
        assert_eq!(s.destinations[&d("2001:db8::6", 80)].method, Method::Dr);
        assert_eq!(
            s.destinations[&d("2001:db8::5", 80)].method,
            Method::Tun {
                kind: "gue".into(),
                port: Some(6080),
                csum: Some("csum".into())
            }
        );
    }

    #[test]
    fn one_virtual_server_as_in_the_whole_pool() {
        let c = cfg(&format!("{BASIC}{QUORUM}"));
        let health = |vi: usize, ri: usize| {
            if vi == 1 && ri > 0 {
                Health::Down
            } else {
                Health::Up
            }
        };
        let mut m1 = QuorumMemory::default();
        let whole = desired_with(&c, &health, &mut m1);
        let mut m2 = QuorumMemory::default();
        for vi in 0..2 {
            let keys = vs_keys(&c, vi);
            let part = desired_vs(&c, vi, &health, &mut m2);
            assert_eq!(part.iter().map(|s| s.key).collect::<Vec<_>>(), keys);
            for s in part {
                // BASIC and QUORUM share 192.0.2.10:80 (UDP): the later one wins
                if vi == 1 {
                    assert_eq!(whole[&s.key], s);
                }
            }
        }
        assert_eq!(m1.up, m2.up);
        assert!(!m2.up[&1]);
    }

    #[test]
    fn masks() {
        assert_eq!(prefix_len("255.255.255.0"), Some(24));
        assert_eq!(prefix_len("255.0.255.0"), None);
        assert_eq!(prefix_len("64"), Some(64));
        assert_eq!(prefix_len("ffff:ffff::"), Some(32));
    }
}
