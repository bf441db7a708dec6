//! VRRP blocks: vrrp_script, vrrp_sync_group, vrrp_instance, track files and
//! processes, addresses, routes and rules, garp_group, bfd_instance, track_group.

use super::*;
use std::net::{IpAddr, Ipv4Addr};

/// `weight N [reverse]` on its own line, into (weight, reverse).
fn weight(k: &Node) -> (Option<i32>, bool) {
    weight_reverse(&words(k))
}

keyword_struct! {
    #[derive(Debug, Clone, Default, Serialize)]
    pub struct VrrpScript {
        name: String,
        ;
        script: Option<String> = "script" => line,
        /// Seconds between runs (default 1).
        interval: Option<f64> = "interval" => num,
        /// Seconds before a run counts as failed (default: interval).
        timeout: Option<f64> = "timeout" => num,
        /// -253..253 (default 0: failure means FAULT).
        weight: Option<i32> = "weight" => num,
        /// `weight N reverse`: the adjustment applies while the script fails.
        reverse: bool = "weight" => |k: &Node| weight(k).1,
        /// Successes to count as OK (default 1).
        rise: Option<u32> = "rise" => num,
        /// Failures to count as KO (default 1).
        fall: Option<u32> = "fall" => num,
        /// Run as `USER [GROUP]`, the words as written (default: global script_user).
        user: Option<Vec<String>> = "user" => some_words,
        /// Start in the failed state (default: OK after `rise` successes).
        init_fail: bool = "init_fail" => flag,
        other: Other,
    }
}

/// A tracked interface, script, file, process or BFD instance in a `track_*` list:
/// `NAME [weight N [reverse|noreverse]]`.
#[derive(Debug, Clone, Serialize)]
pub struct Track {
    pub name: String,
    /// Default: the tracked object's own weight (0 for interfaces: down means FAULT).
    pub weight: Option<i32>,
    /// `reverse`: the weight applies in the opposite direction.
    pub reverse: bool,
}

pub(crate) fn tracks(n: &Node) -> Vec<Track> {
    n.children()
        .iter()
        .map(|c| {
            let w = words(c);
            Track {
                name: c.name().to_string(),
                weight: after(&w, "weight"),
                reverse: w.iter().any(|a| a == "reverse"),
            }
        })
        .collect()
}

keyword_struct! {
    #[derive(Debug, Clone, Default, Serialize)]
    pub struct SyncGroup {
        name: String,
        ;
        /// The member vrrp_instances.
        group: Vec<String> = "group" => names,
        notify_master: Option<ScriptLine> = "notify_master" => script_line,
        notify_backup: Option<ScriptLine> = "notify_backup" => script_line,
        notify_fault: Option<ScriptLine> = "notify_fault" => script_line,
        notify_stop: Option<ScriptLine> = "notify_stop" => script_line,
        notify: Option<ScriptLine> = "notify" => script_line,
        /// `notify_deleted [SCRIPT]`: report DELETED rather than STOP (`""` when bare).
        notify_deleted: Option<String> = "notify_deleted" => line,
        notify_priority_changes: Option<bool> = "notify_priority_changes" => opt_bool,
        /// Default: global smtp_alert_vrrp / smtp_alert.
        smtp_alert: Option<bool> = "smtp_alert" => opt_bool,
        /// Deprecated synonym of sync_group_tracking_weight.
        global_tracking: bool = "global_tracking" => flag,
        /// Members' tracking weights apply to the group (default: weights must be 0).
        sync_group_tracking_weight: bool = "sync_group_tracking_weight" => flag,
        track_interface: Vec<Track> = "track_interface" => tracks,
        track_script: Vec<Track> = "track_script" => tracks,
        track_file: Vec<Track> = "track_file" => tracks,
        track_process: Vec<Track> = "track_process" => tracks,
        track_bfd: Vec<Track> = "track_bfd" => tracks,
        other: Other,
    }
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub enum State {
    #[serde(rename = "MASTER")]
    Master,
    #[serde(rename = "BACKUP")]
    Backup,
}

fn state(k: &Node) -> Option<State> {
    match arg(k).as_deref() {
        Some("MASTER") => Some(State::Master),
        Some("BACKUP") => Some(State::Backup),
        _ => None,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Authentication {
    pub auth_type: String,
    pub auth_pass: Option<String>,
}

fn authentication(k: &Node) -> Option<Authentication> {
    let get = |name: &str| k.children().iter().find(|c| c.name() == name).and_then(arg);
    Some(Authentication {
        auth_type: get("auth_type").unwrap_or_else(|| "PASS".into()),
        // keepalived uses only the first 8 characters.
        auth_pass: get("auth_pass").map(|p| p.chars().take(8).collect()),
    })
}

/// `auth_hmac { … }` (keepalived-rs extension; options as written).
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuthHmac {
    /// One entry per `key` line.
    pub key: Vec<Vec<String>>,
    pub active_key: Option<Vec<String>>,
    pub anti_replay: Option<Vec<String>>,
    pub time_window: Option<Vec<String>>,
    pub mode: Option<Vec<String>>,
}

fn auth_hmac(n: &Node) -> Option<AuthHmac> {
    let mut h = AuthHmac::default();
    for k in n.children() {
        let w = Some(words(k));
        match k.name() {
            "key" => h.key.push(words(k)),
            "active_key" => h.active_key = w,
            "anti_replay" => h.anti_replay = w,
            "time_window" => h.time_window = w,
            _ => h.mode = w,
        }
    }
    Some(h)
}

/// One address line of virtual_ipaddress(_excluded) or static_ipaddress:
/// `IP[/PREFIX] [brd IP] [dev IF] [scope S] [label L] [peer IP] [home] [-nodad] …`.
#[derive(Debug, Clone, Serialize)]
pub struct VirtualAddress {
    pub address: IpAddr,
    pub prefix: Option<u8>,
    /// `dev`, `scope`, `label`, `brd`, … as written.
    pub options: Vec<String>,
    /// Default: the instance's interface (static: default_interface).
    pub dev: Option<String>,
    /// host|link|site|nowhere|global (default global).
    pub scope: Option<String>,
    pub label: Option<String>,
    /// `brd`/`broadcast` (IPv4).
    pub brd: Option<Ipv4Addr>,
    pub peer: Option<Prefix>,
    /// Deleting it does not take the instance out of MASTER.
    pub no_track: bool,
    /// `use_vmac` on the address: put it on a VMAC of `dev`.
    pub use_vmac: bool,
    pub home: bool,
    /// `-nodad` (IPv6).
    pub nodad: bool,
    pub mngtmpaddr: bool,
    pub noprefixroute: bool,
    pub autojoin: bool,
    /// `preferred_lft N|forever` (default 0 for /128 IPv6, else forever).
    pub preferred_lft: Option<String>,
    /// Static addresses only.
    pub track_group: Option<String>,
}

fn address(c: &Node) -> Option<VirtualAddress> {
    let (address, prefix) = parse_prefix(c.name()).ok()?;
    let w = words(c);
    let has = |f: &str| w.iter().any(|a| a == f);
    let val = |k: &str| after::<String>(&w, k);
    Some(VirtualAddress {
        address,
        prefix,
        dev: val("dev"),
        scope: val("scope"),
        label: val("label"),
        brd: after(&w, "brd").or_else(|| after(&w, "broadcast")),
        peer: val("peer").as_deref().and_then(Prefix::parse),
        no_track: has("no_track"),
        use_vmac: has("use_vmac"),
        home: has("home"),
        nodad: has("-nodad"),
        mngtmpaddr: has("mngtmpaddr"),
        noprefixroute: has("noprefixroute"),
        autojoin: has("autojoin"),
        preferred_lft: val("preferred_lft"),
        track_group: val("track_group"),
        options: w,
    })
}

pub(crate) fn addresses(n: &Node) -> Vec<VirtualAddress> {
    n.children().iter().filter_map(address).collect()
}

/// One route line of virtual_routes or static_routes, as `ip route add` takes it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Route {
    /// Route type if given: blackhole, unreachable, prohibit, throw, local, …
    pub kind: Option<String>,
    /// The destination (`[to] PREFIX`).
    pub dst: Option<Prefix>,
    pub src: Option<IpAddr>,
    /// `via`/`gw`.
    pub via: Option<IpAddr>,
    /// `or IP`: an alternative gateway (keepalived extension).
    pub or: Option<IpAddr>,
    pub dev: Option<String>,
    /// Table id or name (default main).
    pub table: Option<String>,
    /// `metric`/`priority`/`preference`.
    pub metric: Option<u32>,
    pub scope: Option<String>,
    /// `protocol`/`proto`.
    pub protocol: Option<String>,
    pub no_track: bool,
    /// Static routes only.
    pub track_group: Option<String>,
    /// The whole line as written (nexthop groups, mtu, … are only here).
    pub words: Vec<String>,
}

const ROUTE_TYPES: &[&str] = &[
    "blackhole",
    "unreachable",
    "prohibit",
    "throw",
    "local",
    "unicast",
    "broadcast",
    "anycast",
    "multicast",
    "nat",
];

impl Route {
    pub fn parse(n: &Node) -> Route {
        let w = item_words(n);
        let mut r = Route::default();
        let mut it = w.iter();
        while let Some(a) = it.next() {
            let it = &mut it;
            match a.as_str() {
                "src" => r.src = next(it),
                "to" => r.dst = it.next().and_then(|v| Prefix::parse(v)),
                "via" | "gw" => r.via = next(it),
                "or" => r.or = next(it),
                "dev" | "oif" => r.dev = next(it),
                "table" => r.table = next(it),
                "metric" | "priority" | "preference" => r.metric = next(it),
                "scope" => r.scope = next(it),
                "protocol" | "proto" => r.protocol = next(it),
                "track_group" => r.track_group = next(it),
                "no_track" => r.no_track = true,
                "nexthop" => break,
                t if ROUTE_TYPES.contains(&t) => r.kind = Some(t.to_string()),
                t if r.dst.is_none() => r.dst = Prefix::parse(t),
                _ => {}
            }
        }
        r.words = w;
        r
    }
}

/// The next word, parsed.
fn next<'a, T: std::str::FromStr>(it: &mut impl Iterator<Item = &'a String>) -> Option<T> {
    it.next().and_then(|v| v.parse().ok())
}

/// One rule line of virtual_rules or static_rules, as `ip rule add` takes it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Rule {
    pub from: Option<Prefix>,
    pub to: Option<Prefix>,
    /// `table`/`lookup`: id or name.
    pub table: Option<String>,
    /// `priority`/`preference`/`pref`/`order`.
    pub priority: Option<u32>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    /// `MARK[/MASK]` as written.
    pub fwmark: Option<String>,
    pub goto: Option<u32>,
    pub no_track: bool,
    /// Static rules only.
    pub track_group: Option<String>,
    /// The whole line as written (tos, realms, uidrange, … are only here).
    pub words: Vec<String>,
}

impl Rule {
    pub fn parse(n: &Node) -> Rule {
        let w = item_words(n);
        let prefix = |k: &str| after::<String>(&w, k).as_deref().and_then(Prefix::parse);
        let val = |k: &str| after::<String>(&w, k);
        let first = |ks: &[&str]| ks.iter().find_map(|k| after(&w, k));
        Rule {
            from: prefix("from"),
            to: prefix("to"),
            table: val("table").or_else(|| val("lookup")),
            priority: first(&["priority", "preference", "pref", "order"]),
            iif: val("iif"),
            oif: val("oif"),
            fwmark: val("fwmark"),
            goto: after(&w, "goto"),
            no_track: w.iter().any(|a| a == "no_track"),
            track_group: val("track_group"),
            words: w.clone(),
        }
    }
}

fn routes(n: &Node) -> Vec<Route> {
    n.children().iter().map(Route::parse).collect()
}

fn rules(n: &Node) -> Vec<Rule> {
    n.children().iter().map(Rule::parse).collect()
}

/// A `unicast_peer` line: `IP [min_ttl N] [max_ttl N]`.
#[derive(Debug, Clone, Serialize)]
pub struct UnicastPeer {
    pub address: IpAddr,
    pub min_ttl: Option<u8>,
    pub max_ttl: Option<u8>,
}

fn unicast_peers(n: &Node) -> Vec<UnicastPeer> {
    n.children()
        .iter()
        .filter_map(|p| {
            let w = words(p);
            Some(UnicastPeer {
                address: p.name().parse().ok()?,
                min_ttl: after(&w, "min_ttl"),
                max_ttl: after(&w, "max_ttl"),
            })
        })
        .collect()
}

/// `use_vmac [[name] NAME] [MAC] [netlink_notify_msg] [group ID]`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Vmac {
    /// Interface name (default `vrrp.<VRID>`).
    pub name: Option<String>,
    /// MAC address (default the VRRP virtual MAC 00:00:5e:00:01|02:VRID).
    pub mac: Option<String>,
    pub netlink_notify_msg: bool,
    pub group: Option<u32>,
}

fn vmac(k: &Node) -> Option<Vmac> {
    let w = words(k);
    let mut v = Vmac::default();
    let mut it = w.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "name" => v.name = next(&mut it),
            "group" => v.group = next(&mut it),
            "netlink_notify_msg" => v.netlink_notify_msg = true,
            m if m.contains(':') => v.mac = Some(m.to_string()),
            n => v.name = Some(n.to_string()),
        }
    }
    Some(v)
}

keyword_struct! {
    #[derive(Debug, Clone, Default, Serialize)]
    pub struct VrrpInstance {
        name: String,
        ;
        /// Initial state (default BACKUP; MASTER only if priority is 255).
        state: Option<State> = "state" => state,
        interface: Option<String> = "interface" => arg,
        virtual_router_id: Option<u8> = "virtual_router_id" => num,
        /// Default 100.
        priority: Option<u8> = "priority" => num,
        /// Seconds (default 1).
        advert_int: Option<f64> = "advert_int" => num,
        /// Default: global vrrp_version (2).
        version: Option<u8> = "version" => num,
        nopreempt: bool = "nopreempt" => flag,
        /// Deprecated `preempt` (preemption is the default).
        preempt: bool = "preempt" => flag,
        /// Deprecated: keepalived reads it as `lvs_sync_daemon IF THIS_INSTANCE`.
        lvs_sync_daemon_interface: Option<String> = "lvs_sync_daemon_interface" => arg,
        /// Seconds (default 0).
        preempt_delay: Option<f64> = "preempt_delay" => num,
        authentication: Option<Authentication> = "authentication" => authentication,
        auth_hmac: Option<AuthHmac> = "auth_hmac" => auth_hmac,
        virtual_ipaddress: Vec<VirtualAddress> = "virtual_ipaddress" => addresses,
        virtual_ipaddress_excluded: Vec<VirtualAddress> = "virtual_ipaddress_excluded" => addresses,
        /// `no_virtual_ipaddress`: no VIPs is intended.
        no_virtual_ipaddress: bool = "no_virtual_ipaddress" => flag,
        promote_secondaries: bool = "promote_secondaries" => flag,
        virtual_routes: Vec<Route> = "virtual_routes" => routes,
        virtual_rules: Vec<Rule> = "virtual_rules" => rules,
        track_interface: Vec<Track> = "track_interface" => tracks,
        track_script: Vec<Track> = "track_script" => tracks,
        track_file: Vec<Track> = "track_file" => tracks,
        track_process: Vec<Track> = "track_process" => tracks,
        track_bfd: Vec<Track> = "track_bfd" => tracks,
        /// Default: the primary address of `interface`.
        unicast_src_ip: Option<IpAddr> = "unicast_src_ip" => ip,
        unicast_peer: Vec<IpAddr> = "unicast_peer" => |k: &Node| unicast_peers(k).iter().map(|p| p.address).collect(),
        /// The unicast peers with their per-peer TTL checks.
        unicast_peers: Vec<UnicastPeer> = "unicast_peer" => unicast_peers,
        /// TTL of unicast adverts (default 255).
        unicast_ttl: Option<u8> = "unicast_ttl" => num,
        unicast_fault_no_peer: bool = "unicast_fault_no_peer" => flag,
        /// Source of multicast adverts (default: primary address of `interface`).
        mcast_src_ip: Option<IpAddr> = "mcast_src_ip" => ip,
        /// Default 224.0.0.18 / ff02::12 (global vrrp_mcast_group4/6).
        mcast_dst_ip: Option<IpAddr> = "mcast_dst_ip" => ip,
        /// `use_vmac`: the VMAC interface's name, `""` for the default `vrrp.<VRID>`.
        use_vmac: Option<String> = "use_vmac" => |k: &Node| vmac(k).map(|v| v.name.unwrap_or_default()),
        /// All of `use_vmac`'s options.
        use_vmac_options: Option<Vmac> = "use_vmac" => vmac,
        use_vmac_addr: bool = "use_vmac_addr" => flag,
        /// `[[name] NAME] [IP] [bridge|private|vepa] [group ID]` as written.
        use_ipvlan: Option<Vec<String>> = "use_ipvlan" => some_words,
        /// Send and receive adverts on the base interface, not the VMAC.
        vmac_xmit_base: bool = "vmac_xmit_base" => flag,
        native_ipv6: bool = "native_ipv6" => flag,
        dont_track_primary: bool = "dont_track_primary" => flag,
        track_primary_interface: bool = "track_primary_interface" => flag,
        /// Default: global vrrp_skip_check_adv_addr.
        skip_check_adv_addr: Option<bool> = "skip_check_adv_addr" => opt_bool,
        check_unicast_src: bool = "check_unicast_src" => flag,
        /// Default: global vrrp_strict.
        strict_mode: Option<bool> = "strict_mode" => opt_bool,
        /// `accept` → true, `no_accept` → false (default: accept unless strict).
        accept: Option<bool> = "accept" | "no_accept" => |k: &Node| Some(k.name() == "accept"),
        /// Default: global vrrp_garp_master_delay (5).
        garp_master_delay: Option<f64> = "garp_master_delay" => num,
        garp_master_repeat: Option<u32> = "garp_master_repeat" => num,
        garp_master_refresh: Option<f64> = "garp_master_refresh" => num,
        garp_master_refresh_repeat: Option<u32> = "garp_master_refresh_repeat" => num,
        garp_lower_prio_delay: Option<f64> = "garp_lower_prio_delay" => num,
        garp_lower_prio_repeat: Option<u32> = "garp_lower_prio_repeat" => num,
        /// Seconds between gratuitous ARPs: from the garp_group of `interface`
        /// (default: global vrrp_garp_interval).
        garp_interval: Option<f64>,
        /// Seconds between unsolicited NAs: from the garp_group of `interface`
        /// (default: global vrrp_gna_interval).
        gna_interval: Option<f64>,
        /// `garp_extra_if [all] SECS` as written.
        garp_extra_if: Option<Vec<String>> = "garp_extra_if" => some_words,
        garp_extra_if_vmac: Option<Vec<String>> = "garp_extra_if_vmac" => some_words,
        /// Default: global vrrp_lower_prio_no_advert (false).
        lower_prio_no_advert: Option<bool> = "lower_prio_no_advert" => opt_bool,
        higher_prio_send_advert: Option<bool> = "higher_prio_send_advert" => opt_bool,
        /// `old_unicast_checksum [never]`: `""` when bare.
        old_unicast_checksum: Option<String> = "old_unicast_checksum" => opt_word,
        v3_checksum_as_v2: Option<bool> = "v3_checksum_as_v2" => opt_bool,
        kernel_rx_buf_size: Option<u64> = "kernel_rx_buf_size" => num,
        /// `debug [LEVEL]` (`""` when bare).
        debug: Option<String> = "debug" => opt_word,
        linkbeat_use_polling: bool = "linkbeat_use_polling" => flag,
        notify_master: Option<ScriptLine> = "notify_master" => script_line,
        notify_backup: Option<ScriptLine> = "notify_backup" => script_line,
        notify_fault: Option<ScriptLine> = "notify_fault" => script_line,
        notify_stop: Option<ScriptLine> = "notify_stop" => script_line,
        notify: Option<ScriptLine> = "notify" => script_line,
        /// `notify_deleted [SCRIPT]`: report DELETED rather than STOP (`""` when bare).
        notify_deleted: Option<String> = "notify_deleted" => line,
        notify_master_rx_lower_pri: Option<ScriptLine> = "notify_master_rx_lower_pri" => script_line,
        notify_priority_changes: Option<bool> = "notify_priority_changes" => opt_bool,
        /// Default: global smtp_alert_vrrp / smtp_alert.
        smtp_alert: Option<bool> = "smtp_alert" => opt_bool,
        ipsets: Option<Vec<String>> = "ipsets" => some_words,
        iptable: Option<Vec<String>> = "iptable" => some_words,
        vrrp_iptables: Option<Vec<String>> = "vrrp_iptables" => some_words,
        evip_other_family: bool = "evip_other_family" => flag,
        owner_ignore_adverts: bool = "owner_ignore_adverts" => flag,
        vrf: Option<String> = "vrf" => arg,
        track_src_ip: bool = "track_src_ip" => flag,
        /// `[MIN:]MAX` as written.
        down_timer_adverts: Option<Vec<String>> = "down_timer_adverts" => some_words,
        timer_expired_backup: Option<Vec<String>> = "timer_expired_backup" => some_words,
        other: Other,
    }
}

/// `init_file [VALUE] [overwrite]` of a track_file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InitFile {
    /// Default 0.
    pub value: Option<i64>,
    /// Overwrite an existing file (default: only create it).
    pub overwrite: bool,
}

keyword_struct! {
    #[derive(Debug, Clone, Default, Serialize)]
    pub struct TrackFile {
        name: String,
        ;
        file: Option<String> = "file" => arg,
        /// Default 1.
        weight: Option<i32> = "weight" => num,
        reverse: bool = "weight" => |k: &Node| weight(k).1,
        init_file: Option<InitFile> = "init_file" => |k: &Node| Some(InitFile {
            value: num(k),
            overwrite: words(k).iter().any(|w| w == "overwrite"),
        }),
        other: Other,
    }
}

keyword_struct! {
    #[derive(Debug, Clone, Default, Serialize)]
    pub struct TrackProcess {
        name: String,
        ;
        /// The command name then its parameters, as written.
        process: Vec<String> = "process" => words,
        /// `initial|partial` (default: exact match of the parameters given).
        param_match: Option<String> = "param_match" => arg,
        /// Default 0.
        weight: Option<i32> = "weight" => num,
        reverse: bool = "weight" => |k: &Node| weight(k).1,
        /// Default 1.
        quorum: Option<u32> = "quorum" => num,
        /// Default unlimited.
        quorum_max: Option<u32> = "quorum_max" => num,
        /// Seconds (`delay` sets both; default 0).
        fork_delay: Option<f64> = "fork_delay" | "delay" => num,
        terminate_delay: Option<f64> = "terminate_delay" | "delay" => num,
        full_command: bool = "full_command" => flag,
        other: Other,
    }
}

keyword_struct! {
    #[derive(Debug, Clone, Default, Serialize)]
    pub struct GarpGroup {
        ;
        /// Seconds.
        garp_interval: Option<f64> = "garp_interval" => num,
        gna_interval: Option<f64> = "gna_interval" => num,
        interface: Option<String> = "interface" => arg,
        interfaces: Vec<String> = "interfaces" => names,
        other: Other,
    }
}

keyword_struct! {
    #[derive(Debug, Clone, Default, Serialize)]
    pub struct BfdInstance {
        name: String,
        ;
        neighbor_ip: Option<IpAddr> = "neighbor_ip" | "neighbour_ip" => ip,
        source_ip: Option<IpAddr> = "source_ip" => ip,
        /// Milliseconds (default 10).
        min_rx: Option<u32> = "min_rx" => num,
        /// Milliseconds (default 10).
        min_tx: Option<u32> = "min_tx" => num,
        /// Milliseconds (default 1000).
        idle_tx: Option<u32> = "idle_tx" => num,
        /// Default 5.
        multiplier: Option<u8> = "multiplier" => num,
        passive: bool = "passive" => flag,
        /// `ttl`/`hoplimit` (default 255).
        ttl: Option<u8> = "ttl" | "hoplimit" => num,
        max_hops: Option<u8> = "max_hops" => num,
        weight: Option<i32> = "weight" => num,
        reverse: bool = "weight" => |k: &Node| weight(k).1,
        multihop: Option<bool> = "multihop" => opt_bool,
        vrrp: bool = "vrrp" => flag,
        checker: bool = "checker" => flag,
        other: Other,
    }
}

/// `track_group NAME { group { INSTANCE … } }`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TrackGroup {
    pub name: String,
    pub group: Vec<String>,
}

/// Fills a block's struct from its children; untyped keywords go to `other`.
macro_rules! fill {
    ($v:expr, $n:expr) => {{
        let mut v = $v;
        for k in $n.children() {
            if !v.set(k) {
                keep(&mut v.other, k);
            }
        }
        v
    }};
}
pub(crate) use fill;

fn name(n: &Node) -> String {
    arg(n).unwrap_or_default()
}

pub(crate) fn script(n: &Node) -> VrrpScript {
    fill!(VrrpScript::blank(name(n)), n)
}
pub(crate) fn sync_group(n: &Node) -> SyncGroup {
    fill!(SyncGroup::blank(name(n)), n)
}
pub(crate) fn instance(n: &Node) -> VrrpInstance {
    fill!(VrrpInstance::blank(name(n)), n)
}
pub(crate) fn track_file(n: &Node) -> TrackFile {
    fill!(TrackFile::blank(name(n)), n)
}
pub(crate) fn track_process(n: &Node) -> TrackProcess {
    fill!(TrackProcess::blank(name(n)), n)
}
pub(crate) fn garp_group(n: &Node) -> GarpGroup {
    fill!(GarpGroup::blank(), n)
}
pub(crate) fn bfd_instance(n: &Node) -> BfdInstance {
    fill!(BfdInstance::blank(name(n)), n)
}
