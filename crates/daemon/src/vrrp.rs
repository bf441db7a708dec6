//! The VRRP side of the daemon: a thin tokio shell around the sans-IO state
//! machines of `keepalived_vrrp`. One task owns every instance (sync groups need
//! them together) and reacts to packets, timers and tracking; a worker task
//! applies address changes and gratuitous ARPs in order, so the protocol loop
//! never waits on netlink.

use crate::notify::{self, Fifo, Kind, RunAs, Script, Scripts};
use crate::timer::PreciseTimer;
use keepalived_config::model::{self, Config, VrrpInstance};
use keepalived_netif::addr::{Netlink, VipSpec};
use keepalived_netif::firewall::NoAccept;
use keepalived_netif::garp::{self, PacketSocket};
use keepalived_netif::raw::{RawPacket, VrrpSocket};
use keepalived_netif::routes::{self, RouteSpec, RuleSpec};
use keepalived_vrrp::fsm::{Action, GarpConfig, Input, Instance, InstanceConfig, State};
use keepalived_vrrp::sync::SyncGroup;
use keepalived_vrrp::track::{ScriptFilter, TrackSet, Tracked};
use keepalived_vrrp::{encode, Auth, DecodeOptions, Version};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

const MCAST4: IpAddr = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18));
const MCAST6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12));

/// Socket key: one raw socket per interface and family.
type SockKey = (String, bool);

/// The interface a VIP lives on: the instance's, or its own `dev`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct VipIf {
    ifindex: u32,
    ifname: String,
    mac: [u8; 6],
}

/// What the daemon knows about an instance beyond its state machine.
struct Ctx {
    /// Everything of the configuration this instance depends on: equal prints
    /// over a reload mean the instance keeps running untouched.
    fingerprint: String,
    /// What tracking depends on: equal prints let a reconfigured instance keep
    /// its tracked objects' states.
    track_print: String,
    /// Interface adverts go out of (the VMAC when use_vmac without vmac_xmit_base).
    sock: SockKey,
    /// Interface that carries the VIPs and GARPs.
    vip_ifindex: u32,
    vips: Vec<VipSpec>,
    excluded: Vec<VipSpec>,
    /// Where each of `vips` then `excluded` goes.
    vip_ifs: Vec<VipIf>,
    routes: Vec<RouteSpec>,
    rules: Vec<RuleSpec>,
    /// no_accept: packets to the VIPs are dropped while we hold them.
    no_accept: bool,
    peers: Vec<IpAddr>,
    scripts: Scripts,
    garp_interval: Duration,
    track: TrackSet,
    /// Owned VMAC interface, deleted on stop.
    vmac: Option<String>,
    smtp_alert: bool,
}

/// A change to apply, in order, outside the protocol loop.
enum Work {
    Add(usize),
    Remove(usize),
    Garp(usize, u32),
    /// Remove leftover VIPs of a previous run (crash) before starting.
    Clean(usize),
    /// A reconfigured MASTER's addresses, routes and rules that the new
    /// configuration no longer has.
    Drop {
        k: usize,
        vips: Vec<(u32, VipSpec)>,
        routes: Vec<RouteSpec>,
        rules: Vec<RuleSpec>,
    },
    /// Barrier: reply once everything before it is done; on the final stop
    /// the no_accept table goes too.
    Flush {
        done: tokio::sync::oneshot::Sender<()>,
        remove_firewall: bool,
    },
}

/// Things the tracking tasks report.
enum TrackEvent {
    Script { name: String, up: bool },
    Link { ifindex: u32, up: bool },
    File { name: String, value: i64 },
    Process { name: String, up: bool },
}

/// A transition, as the status view and the mailer see it.
#[allow(dead_code)] // read by the mailer and status (operations issue)
#[derive(Debug, Clone)]
pub struct TransitionEvent {
    pub instance: String,
    pub from: State,
    pub to: State,
    pub reason: String,
    pub priority: u8,
    pub smtp_alert: bool,
}

/// Everything needed to run the VRRP part, resolved from the config.
pub struct Vrrp {
    instances: Vec<Instance>,
    ctx: Vec<Ctx>,
    groups: Vec<(SyncGroup, Scripts, bool)>,
    names: HashMap<String, usize>,
    scripts: Vec<model::VrrpScript>,
    fifos: Vec<Arc<Fifo>>,
    run_as: RunAs,
    /// Tracked objects: which (instance, object index) each name feeds.
    script_users: HashMap<String, Vec<(usize, usize)>>,
    link_users: HashMap<u32, Vec<(usize, usize)>>,
    file_users: HashMap<String, Vec<(usize, usize)>>,
    track_files: Vec<model::TrackFile>,
    processes: Vec<model::TrackProcess>,
    process_users: HashMap<String, Vec<(usize, usize)>>,
    drops: BTreeMap<&'static str, u64>,
    decode: DecodeOptions,
    nl: Arc<Netlink>,
    transitions: Option<mpsc::UnboundedSender<TransitionEvent>>,
    firewall_table: String,
    /// enable_script_security: insecure root scripts are not run.
    secure_only: bool,
    status: Option<crate::state::Shared>,
    /// When the status was last published.
    published: Instant,
    mailer: Option<crate::smtp::Mailer>,
    history: Vec<std::collections::VecDeque<crate::state::Transition>>,
    /// lvs_sync_daemon: IPVS connection sync following one instance's state.
    syncd: Option<SyncDaemon>,
}

/// keepalived's lvs_sync_daemon: the IPVS master sync daemon runs while the
/// instance is MASTER, the backup one otherwise; both stop with the instance.
struct SyncDaemon {
    instance: usize,
    cfg: keepalived_dataplane::ipvs::SyncConfig,
    ipvs: Option<keepalived_dataplane::ipvs::IpvsBackend>,
}

/// The sync daemon role an instance state calls for.
fn sync_role(state: State) -> Option<keepalived_dataplane::ipvs::SyncState> {
    use keepalived_dataplane::ipvs::SyncState;
    match state {
        State::Master => Some(SyncState::Master),
        State::Backup | State::Fault => Some(SyncState::Backup),
        State::Init | State::Stop => None,
    }
}

impl SyncDaemon {
    /// Runs the daemon of `role` only (`None`: neither).
    fn set(&mut self, role: Option<keepalived_dataplane::ipvs::SyncState>) {
        use keepalived_dataplane::ipvs::SyncState;
        let Some(ipvs) = self.ipvs.as_mut() else {
            return;
        };
        for other in [SyncState::Master, SyncState::Backup] {
            if Some(other) != role {
                // Not running is fine (ESRCH).
                let _ = ipvs.stop_sync_daemon(other);
            }
        }
        if let Some(r) = role {
            match ipvs.start_sync_daemon_with(r, &self.cfg) {
                Ok(()) => tracing::info!(
                    "lvs_sync_daemon: {r:?} sync daemon on {} (syncid {})",
                    self.cfg.ifname,
                    self.cfg.syncid
                ),
                // Already running with this role (a reload): fine.
                Err(e) if e.to_string().contains("File exists") => {}
                Err(e) => tracing::warn!("lvs_sync_daemon: {e}"),
            }
        }
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

fn vip_spec(v: &model::VirtualAddress) -> VipSpec {
    let prefix = v
        .prefix
        .unwrap_or(if v.address.is_ipv4() { 32 } else { 128 });
    VipSpec {
        addr: v.address,
        prefix,
        brd: v.brd,
        scope: v.scope.as_deref().and_then(scope_number),
        label: v.label.clone(),
        nodad: v.address.is_ipv6(),
    }
}

fn scope_number(s: &str) -> Option<u8> {
    Some(match s {
        "global" => 0,
        "site" => 200,
        "link" => 253,
        "host" => 254,
        "nowhere" => 255,
        n => n.parse().ok()?,
    })
}

/// The parts of a configuration an instance's tracking depends on.
fn track_fingerprint(cfg: &Config, i: &VrrpInstance) -> String {
    let scripts: Vec<_> = cfg
        .vrrp_scripts
        .iter()
        .filter(|s| i.track_script.iter().any(|t| t.name == s.name))
        .collect();
    let files: Vec<_> = cfg
        .track_files
        .iter()
        .filter(|f| i.track_file.iter().any(|t| t.name == f.name))
        .collect();
    let procs: Vec<_> = cfg
        .track_processes
        .iter()
        .filter(|p| i.track_process.iter().any(|t| t.name == p.name))
        .collect();
    serde_json::json!([
        i.priority,
        i.track_interface,
        i.track_script,
        i.track_file,
        i.track_process,
        scripts,
        files,
        procs
    ])
    .to_string()
}

/// The parts of a configuration an instance depends on (see [`Ctx::fingerprint`]).
fn instance_fingerprint(cfg: &Config, i: &VrrpInstance) -> String {
    let g = serde_json::to_value(&cfg.global_defs).unwrap_or_default();
    let globals: serde_json::Map<String, serde_json::Value> = g
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| {
                    k.starts_with("vrrp_")
                        || k.starts_with("nftables")
                        || ["script_user", "enable_script_security"].contains(&k.as_str())
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    let groups: Vec<_> = cfg
        .sync_groups
        .iter()
        .filter(|g| g.group.contains(&i.name))
        .collect();
    serde_json::json!([i, globals, track_fingerprint(cfg, i), groups]).to_string()
}

/// With enable_script_security, a script run as root that others could change
/// is not run (keepalived disables it too; `-t` reports it).
fn refused(script: &Script, secure_only: bool) -> bool {
    if !secure_only || script.run_as.uid.is_some_and(|u| u != 0) {
        return false;
    }
    let Some(prog) = keepalived_config::security::program(&script.argv[0]) else {
        return false;
    };
    match keepalived_config::security::insecure(&prog) {
        Some(why) => {
            tracing::warn!("not running insecure script {}: {why}", prog.display());
            true
        }
        None => false,
    }
}

fn script_of(line: &Option<model::ScriptLine>, run_as: RunAs, secure_only: bool) -> Option<Script> {
    Script::from_line(line, run_as).filter(|s| !refused(s, secure_only))
}

impl Vrrp {
    /// Resolves interfaces, addresses and tracking for every instance.
    pub async fn new(cfg: &Config) -> Result<Self, String> {
        let nl = Arc::new(Netlink::new().map_err(|e| format!("netlink: {e}"))?);
        let g = &cfg.global_defs;
        let run_as = match &g.script_user {
            Some(u) => RunAs::resolve(&shell_words::split(u).unwrap_or_default())?,
            None => RunAs::default(),
        };
        let mut me = Vrrp {
            instances: Vec::new(),
            ctx: Vec::new(),
            groups: Vec::new(),
            names: HashMap::new(),
            scripts: cfg.vrrp_scripts.clone(),
            fifos: Vec::new(),
            run_as,
            script_users: HashMap::new(),
            link_users: HashMap::new(),
            file_users: HashMap::new(),
            track_files: cfg.track_files.clone(),
            processes: cfg.track_processes.clone(),
            process_users: HashMap::new(),
            drops: BTreeMap::new(),
            decode: DecodeOptions::default(),
            nl,
            transitions: None,
            secure_only: g.enable_script_security,
            status: None,
            published: Instant::now(),
            mailer: None,
            history: Vec::new(),
            syncd: None,
            firewall_table: match g.nftables.as_deref() {
                Some(t) if !t.is_empty() => t.to_string(),
                _ => keepalived_netif::firewall::DEFAULT_TABLE.to_string(),
            },
        };
        for path in [&g.notify_fifo, &g.vrrp_notify_fifo].into_iter().flatten() {
            let f = Fifo::open(std::path::Path::new(&path.path))
                .map_err(|e| format!("notify FIFO {}: {e}", path.path))?;
            me.fifos.push(Arc::new(f));
        }
        for inst in &cfg.vrrp_instances {
            me.add_instance(cfg, inst).await?;
        }
        me.syncd = sync_daemon(cfg, &me.names);
        let secure = me.secure_only;
        for sg in &cfg.sync_groups {
            let members: Vec<usize> = sg
                .group
                .iter()
                .filter_map(|n| me.names.get(n).copied())
                .collect();
            let scripts = Scripts {
                master: script_of(&sg.notify_master, run_as, secure),
                backup: script_of(&sg.notify_backup, run_as, secure),
                fault: script_of(&sg.notify_fault, run_as, secure),
                stop: script_of(&sg.notify_stop, run_as, secure),
                any: script_of(&sg.notify, run_as, secure),
            };
            let smtp = sg
                .smtp_alert
                .or(g.smtp_alert_vrrp)
                .or(g.smtp_alert)
                .unwrap_or(false);
            me.groups.push((
                SyncGroup {
                    name: sg.name.clone(),
                    members,
                },
                scripts,
                smtp,
            ));
        }
        Ok(me)
    }

    async fn add_instance(&mut self, cfg: &Config, i: &VrrpInstance) -> Result<(), String> {
        let g = &cfg.global_defs;
        let idx = self.instances.len();
        let ifname = i
            .interface
            .clone()
            .ok_or_else(|| format!("vrrp_instance {} has no interface", i.name))?;
        let base_ifindex = self
            .nl
            .ifindex(&ifname)
            .await
            .map_err(|e| format!("vrrp_instance {}: interface {ifname}: {e}", i.name))?;
        let ipv6 = i.native_ipv6
            || i.virtual_ipaddress
                .first()
                .is_some_and(|v| v.address.is_ipv6());
        let version = match i.version.or(g.vrrp_version) {
            _ if ipv6 => Version::V3,
            Some(3) => Version::V3,
            _ => Version::V2,
        };
        let vrid = i.virtual_router_id.unwrap_or(0);
        let strict = g.vrrp_strict || i.strict_mode.unwrap_or(false);
        let auth = match (&i.authentication, version, strict) {
            (Some(a), Version::V2, false) if a.auth_type == "PASS" => {
                let mut d = [0u8; 8];
                for (k, b) in a
                    .auth_pass
                    .as_deref()
                    .unwrap_or("")
                    .bytes()
                    .take(8)
                    .enumerate()
                {
                    d[k] = b;
                }
                Auth::Simple(d)
            }
            (Some(a), Version::V2, false) if a.auth_type == "AH" => Auth::Ah,
            _ => Auth::None,
        };
        // use_vmac: a macvlan with the virtual MAC carries the VIPs (and, unless
        // vmac_xmit_base, the adverts).
        let (vip_ifname, vip_ifindex, vmac) = match &i.use_vmac {
            Some(name) => {
                let name = if name.is_empty() {
                    format!("vrrp.{vrid}")
                } else {
                    name.clone()
                };
                let idx = keepalived_netif::vmac::create_vmac(&self.nl, &ifname, &name, vrid, ipv6)
                    .await
                    .map_err(|e| format!("vrrp_instance {}: use_vmac {name}: {e}", i.name))?;
                (name.clone(), idx, Some(name))
            }
            None => (ifname.clone(), base_ifindex, None),
        };
        let sock_if = if vmac.is_some() && !i.vmac_xmit_base {
            vip_ifname.clone()
        } else {
            ifname.clone()
        };
        let local_addr = match i.unicast_src_ip.or(i.mcast_src_ip) {
            Some(a) => a,
            None => self
                .nl
                // keepalived sends from the base interface's address, also
                // through a VMAC.
                .primary_address(base_ifindex, ipv6)
                .await
                .map_err(|e| format!("vrrp_instance {}: {e}", i.name))?
                .ok_or_else(|| {
                    format!(
                        "vrrp_instance {}: interface {ifname} has no {} address to send adverts from",
                        i.name,
                        if ipv6 { "link-local IPv6" } else { "IPv4" }
                    )
                })?,
        };
        let mac = self
            .nl
            .mac(&vip_ifname)
            .await
            .map_err(|e| format!("vrrp_instance {}: {e}", i.name))?;
        let advert_int = secs(i.advert_int.unwrap_or(1.0));
        let garp_interval = secs(if ipv6 {
            i.gna_interval.or(g.vrrp_gna_interval).unwrap_or(0.0)
        } else {
            i.garp_interval.or(g.vrrp_garp_interval).unwrap_or(0.0)
        });
        let garp = GarpConfig {
            delay: secs(
                i.garp_master_delay
                    .or(g.vrrp_garp_master_delay)
                    .unwrap_or(5.0),
            ),
            repeat: i
                .garp_master_repeat
                .or(g.vrrp_garp_master_repeat)
                .unwrap_or(5),
            refresh: i
                .garp_master_refresh
                .or(g.vrrp_garp_master_refresh)
                .filter(|r| *r > 0.0)
                .map(secs),
            refresh_repeat: i
                .garp_master_refresh_repeat
                .or(g.vrrp_garp_master_refresh_repeat)
                .unwrap_or(1),
            interval: garp_interval,
            lower_prio_repeat: 0,
            lower_prio_delay: Duration::ZERO,
        };
        // keepalived: both default to the master values.
        let garp = GarpConfig {
            lower_prio_repeat: i
                .garp_lower_prio_repeat
                .or(g.vrrp_garp_lower_prio_repeat)
                .unwrap_or(garp.repeat),
            lower_prio_delay: i
                .garp_lower_prio_delay
                .or(g.vrrp_garp_lower_prio_delay)
                .map(secs)
                .unwrap_or(garp.delay),
            ..garp
        };
        let vips: Vec<VipSpec> = i.virtual_ipaddress.iter().map(vip_spec).collect();
        let base_priority = i.priority.unwrap_or(100);
        let peers = if strict {
            Vec::new()
        } else {
            i.unicast_peer.clone()
        };
        let fsm = InstanceConfig {
            name: i.name.clone(),
            vrid,
            version,
            ipv6,
            priority: base_priority,
            advert_int,
            preempt: !i.nopreempt,
            preempt_delay: secs(i.preempt_delay.unwrap_or(0.0)),
            start_master: i.state == Some(model::State::Master),
            auth,
            vips: vips.iter().map(|v| v.addr).collect(),
            skip_check_adv_addr: g.vrrp_skip_check_adv_addr,
            unicast_peers: peers.clone(),
            local_addr,
            garp: garp.clone(),
            lower_prio_no_advert: i
                .lower_prio_no_advert
                .or(g.vrrp_lower_prio_no_advert)
                .unwrap_or(false),
            higher_prio_send_advert: i
                .higher_prio_send_advert
                .or(g.vrrp_higher_prio_send_advert)
                .unwrap_or(false),
        };

        // Tracked objects: the instance's own interface(s) unless dont_track_primary,
        // then track_interface, track_script, track_file.
        let mut objects = Vec::new();
        let mut links = Vec::new();
        if !i.dont_track_primary {
            links.push((base_ifindex, ifname.clone(), 0));
            if vip_ifindex != base_ifindex {
                links.push((vip_ifindex, vip_ifname.clone(), 0));
            }
        }
        for t in &i.track_interface {
            let ix = self
                .nl
                .ifindex(&t.name)
                .await
                .map_err(|e| format!("track_interface {}: {e}", t.name))?;
            links.push((ix, t.name.clone(), t.weight.unwrap_or(0)));
        }
        for (ix, name, weight) in links {
            let up = self.nl.link_up(&name).await.unwrap_or(false);
            self.link_users
                .entry(ix)
                .or_default()
                .push((idx, objects.len()));
            objects.push((
                Tracked {
                    name: format!("if{ix}"),
                    weight,
                    reverse: false,
                },
                up,
            ));
        }
        for t in &i.track_script {
            let s = self.scripts.iter().find(|s| s.name == t.name);
            let weight = t.weight.or(s.and_then(|s| s.weight)).unwrap_or(0);
            let reverse = t.reverse || s.is_some_and(|s| s.reverse);
            let init_up = !s.is_some_and(|s| s.init_fail);
            self.script_users
                .entry(t.name.clone())
                .or_default()
                .push((idx, objects.len()));
            objects.push((
                Tracked {
                    name: t.name.clone(),
                    weight,
                    reverse,
                },
                init_up,
            ));
        }
        for t in &i.track_file {
            let f = self.track_files.iter().find(|f| f.name == t.name);
            let weight = t.weight.or(f.and_then(|f| f.weight)).unwrap_or(1);
            let reverse = t.reverse || f.is_some_and(|f| f.reverse);
            self.file_users
                .entry(t.name.clone())
                .or_default()
                .push((idx, objects.len()));
            objects.push((
                Tracked {
                    name: t.name.clone(),
                    // keepalived applies `reverse` to a file by negating the weight.
                    weight: if reverse { -weight } else { weight },
                    reverse: false,
                },
                true,
            ));
        }
        for t in &i.track_process {
            let Some(def) = self.processes.iter().find(|p| p.name == t.name) else {
                continue;
            };
            let weight = t.weight.or(def.weight).unwrap_or(0);
            let reverse = t.reverse || def.reverse;
            let up = crate::process::Matcher::new(def)
                .is_some_and(|m| crate::process::quorum_ok(def, m.count()));
            self.process_users
                .entry(t.name.clone())
                .or_default()
                .push((idx, objects.len()));
            objects.push((
                Tracked {
                    name: t.name.clone(),
                    weight,
                    reverse,
                },
                up,
            ));
        }
        let mut track = TrackSet::new(
            base_priority,
            objects.iter().map(|(t, _)| t.clone()).collect(),
        );
        for (k, (_, up)) in objects.iter().enumerate() {
            track.set(k, *up);
        }
        let mut routes = Vec::new();
        for r in &i.virtual_routes {
            let spec = RouteSpec::from_model(
                r,
                |name| keepalived_netif::link::ifindex(name).ok(),
                Some(vip_ifindex),
            )
            .map_err(|e| format!("vrrp_instance {}: virtual_routes: {e}", i.name))?;
            routes.push(spec);
        }
        let mut rules = Vec::new();
        for r in &i.virtual_rules {
            let spec = RuleSpec::from_model(r)
                .map_err(|e| format!("vrrp_instance {}: virtual_rules: {e}", i.name))?;
            rules.push(spec);
        }
        // keepalived: accept unless no_accept; vrrp_strict clears it below 255.
        let no_accept = match i.accept {
            Some(a) => !a,
            None => strict && base_priority != 255,
        };
        let (run_as, secure) = (self.run_as, self.secure_only);
        let own = VipIf {
            ifindex: vip_ifindex,
            ifname: vip_ifname.clone(),
            mac,
        };
        let mut vip_ifs = Vec::new();
        for v in i
            .virtual_ipaddress
            .iter()
            .chain(&i.virtual_ipaddress_excluded)
        {
            vip_ifs.push(match v.dev.as_deref() {
                Some(dev) if dev != own.ifname => VipIf {
                    ifindex: keepalived_netif::link::ifindex(dev).map_err(|e| {
                        format!("vrrp_instance {}: VIP {} dev {dev}: {e}", i.name, v.address)
                    })?,
                    ifname: dev.to_string(),
                    mac: self
                        .nl
                        .mac(dev)
                        .await
                        .map_err(|e| format!("vrrp_instance {}: {dev}: {e}", i.name))?,
                },
                _ => own.clone(),
            });
        }
        let fingerprint = instance_fingerprint(cfg, i);
        let track_print = track_fingerprint(cfg, i);
        self.ctx.push(Ctx {
            fingerprint,
            track_print,
            sock: (sock_if, ipv6),
            vip_ifindex,
            vips,
            excluded: i.virtual_ipaddress_excluded.iter().map(vip_spec).collect(),
            vip_ifs,
            routes,
            rules,
            no_accept,
            peers,
            scripts: Scripts {
                master: script_of(&i.notify_master, run_as, secure),
                backup: script_of(&i.notify_backup, run_as, secure),
                fault: script_of(&i.notify_fault, run_as, secure),
                stop: script_of(&i.notify_stop, run_as, secure),
                any: script_of(&i.notify, run_as, secure),
            },
            garp_interval,
            track,
            vmac,
            smtp_alert: i
                .smtp_alert
                .or(g.smtp_alert_vrrp)
                .or(g.smtp_alert)
                .unwrap_or(false),
        });
        self.names.insert(i.name.clone(), idx);
        self.instances.push(Instance::new(fsm));
        self.history.push(Default::default());
        Ok(())
    }

    /// Publishes this runtime's state into `status` from now on.
    pub fn publish_to(&mut self, status: crate::state::Shared) {
        self.status = Some(status);
    }

    /// Sends mail alerts through `mailer` (for instances with smtp_alert).
    pub fn mail_with(&mut self, mailer: crate::smtp::Mailer) {
        self.mailer = Some(mailer);
    }

    /// Copies every instance's state into the shared status.
    fn publish(&self) {
        let Some(st) = &self.status else { return };
        let list: Vec<crate::state::InstanceStatus> = self
            .instances
            .iter()
            .zip(&self.ctx)
            .zip(&self.history)
            .map(|((inst, c), h)| {
                let cnt = inst.counters();
                crate::state::InstanceStatus {
                    name: inst.config().name.clone(),
                    interface: c.sock.0.clone(),
                    vrid: inst.config().vrid,
                    state: inst.state().to_string(),
                    priority: inst.config().priority,
                    effective_priority: inst.effective_priority(),
                    master: inst.master_addr().map(|a| a.to_string()),
                    vips: c
                        .vips
                        .iter()
                        .map(|v| format!("{}/{}", v.addr, v.prefix))
                        .collect(),
                    transitions: h.iter().cloned().collect(),
                    transitions_total: cnt.transitions,
                    adverts_rx: cnt.adverts_rx,
                    adverts_tx: cnt.adverts_tx,
                    became_master: cnt.became_master,
                    released_master: cnt.released_master,
                    priority_zero_rx: cnt.priority_zero_rx,
                    priority_zero_tx: cnt.priority_zero_tx,
                    master_adver_int: inst.master_adver_int().as_secs_f64(),
                    drops: cnt.drops.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
                }
            })
            .collect();
        let drops = self
            .drops
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        crate::state::update(st, |s| {
            s.instances = list;
            s.vrrp_drops = drops;
        });
    }

    /// Subscribes to transitions (for the mailer and status).
    #[allow(dead_code)]
    pub fn transitions(&mut self) -> mpsc::UnboundedReceiver<TransitionEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.transitions = Some(tx);
        rx
    }

    /// Opens the sockets this configuration needs that are not open yet; each
    /// gets a reader task feeding `pkt_tx`.
    async fn open_sockets(
        &self,
        sockets: &mut HashMap<SockKey, Arc<VrrpSocket>>,
        pkt_tx: &mpsc::Sender<(SockKey, RawPacket)>,
    ) -> Result<(), String> {
        for c in &self.ctx {
            if sockets.contains_key(&c.sock) {
                continue;
            }
            let s = VrrpSocket::open(&c.sock.0, c.sock.1, true)
                .await
                .map_err(|e| format!("VRRP socket on {}: {e}", c.sock.0))?;
            let s = Arc::new(s);
            sockets.insert(c.sock.clone(), s.clone());
            let tx = pkt_tx.clone();
            let key = c.sock.clone();
            tokio::spawn(async move {
                loop {
                    match s.recv().await {
                        Ok(p) => {
                            if tx.send((key.clone(), p)).await.is_err() {
                                break;
                            }
                        }
                        Err(e) => {
                            tracing::warn!("VRRP receive on {}: {e}", key.0);
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
            });
        }
        Ok(())
    }

    /// Starts the worker that applies address changes in order.
    /// `first`: the daemon's first generation, which clears a crash's leftovers.
    fn start_worker(
        &self,
        first: bool,
    ) -> (mpsc::UnboundedSender<Work>, tokio::task::JoinHandle<()>) {
        let (work_tx, work_rx) = mpsc::unbounded_channel::<Work>();
        let worker_ctx: Vec<WorkerCtx> = self
            .ctx
            .iter()
            .map(|c| WorkerCtx {
                vips: c.vips.iter().chain(&c.excluded).cloned().collect(),
                vip_ifs: c.vip_ifs.clone(),
                routes: c.routes.clone(),
                rules: c.rules.clone(),
                no_accept: c.no_accept,
                interval: c.garp_interval,
            })
            .collect();
        let firewall = self
            .ctx
            .iter()
            .any(|c| c.no_accept)
            .then(|| NoAccept::new(self.firewall_table.clone()));
        let handle = tokio::spawn(worker(
            self.nl.clone(),
            worker_ctx,
            firewall,
            first,
            work_rx,
        ));
        (work_tx, handle)
    }

    /// Runs until `stop` turns true, then stops gracefully (priority 0, VIPs
    /// removed, VMACs deleted). A new configuration on `reload` replaces this
    /// one in place: instances whose configuration did not change keep their
    /// state, VIPs and timers, and send nothing extra; the others are stopped
    /// or started.
    pub async fn run(
        mut self,
        mut stop: watch::Receiver<bool>,
        mut reload: mpsc::Receiver<Vrrp>,
    ) -> Result<(), String> {
        let (pkt_tx, mut pkt_rx) = mpsc::channel::<(SockKey, RawPacket)>(1024);
        let mut sockets: HashMap<SockKey, Arc<VrrpSocket>> = HashMap::new();
        // Instances that start now (false: carried over a reload, running).
        let mut fresh = vec![true; self.instances.len()];
        // Instances carried over a reload with a changed configuration.
        let mut reconfigured: Vec<usize> = Vec::new();
        let mut timer = PreciseTimer::new()
            .inspect_err(|e| tracing::warn!("timerfd: {e}; using tokio's timer (1 ms steps)"))
            .ok();
        loop {
            self.open_sockets(&mut sockets, &pkt_tx).await?;
            let (work_tx, worker) = self.start_worker(fresh.iter().all(|f| *f));
            // VIPs a crash of ours left behind go first (a fresh start only).
            for (k, f) in fresh.iter().enumerate() {
                if *f {
                    let _ = work_tx.send(Work::Clean(k));
                }
            }
            let (gen_stop, gen_rx) = watch::channel(false);
            let (track_tx, mut track_rx) = mpsc::channel::<TrackEvent>(256);
            self.spawn_trackers(track_tx, &gen_rx);

            let mut out: Vec<Vec<Action>> = vec![Vec::new(); self.instances.len()];
            let now = Instant::now();
            for (((inst, c), out), f) in self
                .instances
                .iter_mut()
                .zip(&self.ctx)
                .zip(&mut out)
                .zip(&fresh)
            {
                if !f {
                    continue;
                }
                if c.track.fault() {
                    inst.handle(now, Input::Fault(true), out);
                }
                let p = c.track.effective_priority();
                if p != inst.config().priority {
                    inst.handle(now, Input::Priority(p), out);
                }
                inst.handle(now, Input::Start, out);
            }
            for k in std::mem::take(&mut reconfigured) {
                let (inst, c) = (&mut self.instances[k], &self.ctx[k]);
                if c.track.fault() != (inst.state() == State::Fault) {
                    inst.handle(now, Input::Fault(c.track.fault()), &mut out[k]);
                }
                let p = c.track.effective_priority();
                if p != inst.effective_priority() {
                    inst.handle(now, Input::Priority(p), &mut out[k]);
                }
                if inst.state() == State::Master {
                    // Present addresses are kept; new ones are added and
                    // announced.
                    let _ = work_tx.send(Work::Add(k));
                    let _ = work_tx.send(Work::Garp(k, inst.garp_repeat()));
                }
            }
            self.apply(&mut out, &sockets, &work_tx).await;
            // An instance carried over a reload keeps its state: the sync
            // daemon follows it (a fresh one got its transition above).
            if let Some(d) = self.syncd.as_mut() {
                if !fresh.get(d.instance).copied().unwrap_or(true) {
                    d.set(sync_role(self.instances[d.instance].state()));
                }
            }

            let next = loop {
                let deadline = self
                    .instances
                    .iter()
                    .filter_map(Instance::poll_timeout)
                    .min();
                let sleep = async {
                    match deadline {
                        Some(d) => match timer.as_mut() {
                            Some(t) => {
                                if let Err(e) = t.sleep_until(d).await {
                                    tracing::warn!("timerfd: {e}; using tokio's timer");
                                    tokio::time::sleep_until(d.into()).await
                                }
                            }
                            None => tokio::time::sleep_until(d.into()).await,
                        },
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    biased;
                    _ = stop.changed() => break None,
                    Some(next) = reload.recv() => break Some(next),
                    Some((key, raw)) = pkt_rx.recv() => {
                        self.on_packet(&key, &raw, &mut out);
                    }
                    Some(ev) = track_rx.recv() => self.on_track(ev, &mut out),
                    _ = sleep => {
                        let now = Instant::now();
                        for (k, inst) in self.instances.iter_mut().enumerate() {
                            if inst.poll_timeout().is_some_and(|d| d <= now) {
                                inst.handle_timeout(now, &mut out[k]);
                            }
                        }
                    }
                }
                self.apply(&mut out, &sockets, &work_tx).await;
            };
            let _ = gen_stop.send(true);

            // Carry unchanged instances over to the new configuration.
            let mut next = next;
            let mut kept = vec![false; self.instances.len()];
            let mut carried = Vec::new();
            if let Some(n) = next.as_mut() {
                carried = n
                    .ctx
                    .iter()
                    .map(|c| {
                        (0..self.instances.len())
                            .find(|&j| !kept[j] && self.ctx[j].fingerprint == c.fingerprint)
                            .inspect(|&j| kept[j] = true)
                    })
                    .collect::<Vec<_>>()
                    .into_iter()
                    .enumerate()
                    .map(|(k, j)| {
                        if let Some(j) = j {
                            std::mem::swap(&mut n.instances[k], &mut self.instances[j]);
                            std::mem::swap(&mut n.ctx[k].track, &mut self.ctx[j].track);
                            std::mem::swap(&mut n.history[k], &mut self.history[j]);
                        }
                        j.is_some()
                    })
                    .collect();
            }
            // Changed instances of the same router (name, VRID, interfaces)
            // take their new configuration in place, as keepalived keeps an
            // instance's state over a reload: adding a VIP must not fail over.
            let mut reconf: Vec<usize> = Vec::new();
            if let Some(n) = next.as_mut() {
                for (k, done) in carried.iter_mut().enumerate() {
                    if *done {
                        continue;
                    }
                    let (nc, ni) = (&n.ctx[k], &n.instances[k]);
                    let same = |j: usize| {
                        let (oc, oi) = (&self.ctx[j], &self.instances[j]);
                        !kept[j]
                            && oi.config().name == ni.config().name
                            && oi.config().vrid == ni.config().vrid
                            && oi.config().version == ni.config().version
                            && oc.sock == nc.sock
                            && oc.vip_ifindex == nc.vip_ifindex
                            && oc.vmac == nc.vmac
                            && matches!(oi.state(), State::Master | State::Backup | State::Fault)
                    };
                    let Some(j) = (0..self.instances.len()).find(|&j| same(j)) else {
                        continue;
                    };
                    kept[j] = true;
                    *done = true;
                    reconf.push(k);
                    let cfg = n.instances[k].config().clone();
                    std::mem::swap(&mut n.instances[k], &mut self.instances[j]);
                    n.instances[k].reconfigure(cfg);
                    std::mem::swap(&mut n.history[k], &mut self.history[j]);
                    if n.ctx[k].track_print == self.ctx[j].track_print {
                        std::mem::swap(&mut n.ctx[k].track, &mut self.ctx[j].track);
                    }
                    if n.instances[k].state() == State::Master {
                        let (oc, nc) = (&self.ctx[j], &n.ctx[k]);
                        let _ = work_tx.send(Work::Drop {
                            k: j,
                            vips: oc
                                .vips
                                .iter()
                                .zip(oc.vip_ifs.iter().map(|v| v.ifindex))
                                .filter(|&(v, ix)| {
                                    !nc.vips
                                        .iter()
                                        .zip(nc.vip_ifs.iter().map(|v| v.ifindex))
                                        .any(|(w, iw)| w == v && iw == ix)
                                })
                                .map(|(v, ix)| (ix, v.clone()))
                                .collect(),
                            routes: oc
                                .routes
                                .iter()
                                .filter(|r| !nc.routes.contains(r))
                                .cloned()
                                .collect(),
                            rules: oc
                                .rules
                                .iter()
                                .filter(|r| !nc.rules.contains(r))
                                .cloned()
                                .collect(),
                        });
                    }
                    tracing::info!(
                        "({}) reconfigured in place, {} kept",
                        n.instances[k].config().name,
                        n.instances[k].state()
                    );
                }
            }
            // Stop the others (all of them when stopping).
            let now = Instant::now();
            for (k, inst) in self.instances.iter_mut().enumerate() {
                if !kept[k] {
                    inst.handle(now, Input::Shutdown, &mut out[k]);
                }
            }
            self.apply(&mut out, &sockets, &work_tx).await;
            let (tx, rx) = tokio::sync::oneshot::channel();
            let _ = work_tx.send(Work::Flush {
                done: tx,
                remove_firewall: next.is_none(),
            });
            let _ = rx.await;
            drop(work_tx);
            let _ = worker.await;
            for (k, c) in self.ctx.iter().enumerate() {
                let still = next
                    .as_ref()
                    .is_some_and(|n| n.ctx.iter().any(|o| o.vmac == c.vmac));
                if let (Some(name), false, false) = (&c.vmac, kept[k], still) {
                    if let Err(e) = keepalived_netif::vmac::delete_link(&self.nl, name).await {
                        tracing::warn!("deleting {name}: {e}");
                    }
                }
            }
            let Some(mut n) = next else { return Ok(()) };
            tracing::info!(
                "VRRP reloaded: {} instance(s) kept running, {} started, {} stopped",
                carried.iter().filter(|c| **c).count(),
                carried.iter().filter(|c| !**c).count(),
                kept.iter().filter(|k| !**k).count()
            );
            n.status = self.status.take();
            if n.mailer.is_none() {
                n.mailer = self.mailer.take();
            }
            n.drops = std::mem::take(&mut self.drops);
            fresh = carried.iter().map(|c| !c).collect();
            reconfigured = reconf;
            self = n;
        }
    }

    fn on_packet(&mut self, key: &SockKey, raw: &RawPacket, out: &mut [Vec<Action>]) {
        let rx = match keepalived_netif::raw::decode(raw, self.decode) {
            Ok(r) => r,
            Err(e) => {
                *self.drops.entry(e.reason()).or_default() += 1;
                tracing::debug!("VRRP packet from {} on {} dropped: {e}", raw.src, key.0);
                return;
            }
        };
        let now = Instant::now();
        let mut found = false;
        for (k, inst) in self.instances.iter_mut().enumerate() {
            if self.ctx[k].sock == *key && inst.config().vrid == rx.packet.vrid {
                found = true;
                inst.handle(now, Input::Advert(&rx), &mut out[k]);
            }
        }
        if !found {
            *self.drops.entry("unknown_vrid").or_default() += 1;
        }
    }

    /// Sets one tracked object's state on every instance that tracks it; the
    /// instances whose priority or fault changed.
    fn set_tracked(ctx: &mut [Ctx], users: Option<&Vec<(usize, usize)>>, up: bool) -> Vec<usize> {
        users
            .into_iter()
            .flatten()
            .filter(|&&(k, o)| ctx[k].track.set(o, up))
            .map(|&(k, _)| k)
            .collect()
    }

    fn on_track(&mut self, ev: TrackEvent, out: &mut [Vec<Action>]) {
        let mut touched: Vec<usize> = Vec::new();
        match ev {
            TrackEvent::Script { name, up } => {
                touched = Self::set_tracked(&mut self.ctx, self.script_users.get(&name), up);
                tracing::info!(
                    "VRRP_Script({name}) {}",
                    if up { "succeeded" } else { "failed" }
                );
            }
            TrackEvent::Process { name, up } => {
                touched = Self::set_tracked(&mut self.ctx, self.process_users.get(&name), up);
                tracing::info!(
                    "Track process {name} {}",
                    if up { "quorum gained" } else { "quorum lost" }
                );
            }
            TrackEvent::Link { ifindex, up } => {
                touched = Self::set_tracked(&mut self.ctx, self.link_users.get(&ifindex), up);
            }
            TrackEvent::File { name, value } => {
                for &(k, o) in self.file_users.get(&name).into_iter().flatten() {
                    if self.ctx[k].track.set_value(o, value) {
                        touched.push(k);
                    }
                }
            }
        }
        let now = Instant::now();
        for k in touched {
            let t = &self.ctx[k].track;
            let (fault, prio) = (t.fault(), t.effective_priority());
            let inst = &mut self.instances[k];
            let in_fault = inst.state() == State::Fault;
            if fault != in_fault {
                inst.handle(now, Input::Fault(fault), &mut out[k]);
            }
            if prio != inst.effective_priority() {
                inst.handle(now, Input::Priority(prio), &mut out[k]);
            }
        }
    }

    /// Executes the actions the state machines asked for, then lets sync groups react.
    async fn apply(
        &mut self,
        out: &mut [Vec<Action>],
        sockets: &HashMap<SockKey, Arc<VrrpSocket>>,
        work: &mpsc::UnboundedSender<Work>,
    ) {
        let now = Instant::now();
        for (g, _, _) in &self.groups {
            g.react(now, &mut self.instances, out);
        }
        let mut transitioned = false;
        for (k, actions) in out.iter_mut().enumerate() {
            for a in std::mem::take(actions) {
                match a {
                    Action::SendAdvert { priority } => {
                        let inst = &self.instances[k];
                        let c = &self.ctx[k];
                        let pkt = inst.advert_packet(priority);
                        let src = inst.config().local_addr;
                        let Some(sock) = sockets.get(&c.sock) else {
                            continue;
                        };
                        let dsts: Vec<IpAddr> = if c.peers.is_empty() {
                            vec![if c.sock.1 { MCAST6 } else { MCAST4 }]
                        } else {
                            c.peers.clone()
                        };
                        for dst in dsts {
                            let bytes = encode(&pkt, src, dst);
                            if let Err(e) = sock.send(&bytes, src, dst).await {
                                tracing::warn!(
                                    "({}) sending advert to {dst}: {e}",
                                    inst.config().name
                                );
                            }
                        }
                    }
                    Action::AddVips => {
                        let _ = work.send(Work::Add(k));
                    }
                    Action::RemoveVips => {
                        let _ = work.send(Work::Remove(k));
                    }
                    Action::SendGratuitous => {
                        let repeat = self.instances[k].garp_repeat();
                        let _ = work.send(Work::Garp(k, repeat));
                    }
                    Action::Transition { from, to, reason } => {
                        transitioned = true;
                        self.on_transition(k, from, to, &reason.to_string());
                    }
                }
            }
        }
        // Adverts every few ms must not each copy every instance's state: a
        // transition is published at once, counters at most twice a second.
        let now = Instant::now();
        if transitioned || now.duration_since(self.published) >= Duration::from_millis(500) {
            self.published = now;
            self.publish();
        }
    }

    fn on_transition(&mut self, k: usize, from: State, to: State, reason: &str) {
        let h = &mut self.history[k];
        if h.len() == crate::state::MAX_TRANSITIONS {
            h.pop_front();
        }
        h.push_back(crate::state::Transition {
            at: crate::state::now(),
            from: from.to_string(),
            to: to.to_string(),
            reason: reason.to_string(),
        });
        if let Some(d) = self.syncd.as_mut().filter(|d| d.instance == k) {
            d.set(sync_role(to));
        }
        let inst = &self.instances[k];
        let name = &inst.config().name;
        let prio = inst.effective_priority();
        tracing::info!("({name}) Entering {to} STATE ({reason})");
        let state = to.to_string();
        if matches!(
            to,
            State::Master | State::Backup | State::Fault | State::Stop
        ) {
            self.ctx[k].scripts.run(Kind::Instance, name, &state, prio);
            let line = notify::fifo_line(Kind::Instance, name, &state, prio);
            for f in &self.fifos {
                f.write_line(&line);
            }
        }
        if self.ctx[k].smtp_alert && to != State::Init {
            if let Some(m) = &self.mailer {
                let (subject, body) = crate::smtp::vrrp_alert(m.router_id(), name, &state);
                m.alert(subject, body);
            }
        }
        // A sync group reports its own transition when its first member moves.
        for (g, scripts, smtp) in &self.groups {
            if g.members.first() == Some(&k) && to != State::Stop {
                scripts.run(Kind::Group, &g.name, &state, 0);
                if let (true, Some(m)) = (*smtp, &self.mailer) {
                    let (subject, body) = crate::smtp::group_alert(m.router_id(), &g.name, &state);
                    m.alert(subject, body);
                }
                let line = notify::fifo_line(Kind::Group, &g.name, &state, 0);
                for f in &self.fifos {
                    f.write_line(&line);
                }
            }
        }
        if let Some(tx) = &self.transitions {
            let _ = tx.send(TransitionEvent {
                instance: name.clone(),
                from,
                to,
                reason: reason.to_string(),
                priority: prio,
                smtp_alert: self.ctx[k].smtp_alert,
            });
        }
    }

    fn spawn_trackers(&self, tx: mpsc::Sender<TrackEvent>, stop: &watch::Receiver<bool>) {
        for s in &self.scripts {
            if !self.script_users.contains_key(&s.name) {
                continue;
            }
            let Some(script) = s
                .script
                .as_deref()
                .and_then(|c| Script::parse(c, self.run_as))
            else {
                continue;
            };
            let script = match s.user.as_ref() {
                Some(u) => Script {
                    run_as: RunAs::resolve(u).unwrap_or(self.run_as),
                    ..script
                },
                None => script,
            };
            if refused(&script, self.secure_only) {
                tracing::warn!("Disabling track script {} due to insecure", s.name);
                continue;
            }
            let interval = secs(s.interval.unwrap_or(1.0)).max(Duration::from_millis(10));
            let timeout = secs(s.timeout.unwrap_or(s.interval.unwrap_or(1.0)));
            // Start from the state the instances hold (a reload keeps it).
            let init_up = self
                .script_users
                .get(&s.name)
                .and_then(|u| u.first())
                .and_then(|&(k, o)| self.ctx[k].track.is_up(o))
                .unwrap_or(!s.init_fail);
            let mut filter = ScriptFilter::new(s.rise.unwrap_or(1), s.fall.unwrap_or(1), init_up);
            let name = s.name.clone();
            let tx = tx.clone();
            let mut stop = stop.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(interval);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = stop.changed() => break,
                        _ = tick.tick() => {}
                    }
                    let ok = run_check(&script, timeout).await;
                    if let Some(up) = filter.result(ok) {
                        if tx
                            .send(TrackEvent::Script {
                                name: name.clone(),
                                up,
                            })
                            .await
                            .is_err()
                        {
                            break;
                        }
                    }
                }
            });
        }
        if !self.process_users.is_empty() {
            let defs: Vec<(model::TrackProcess, crate::process::Matcher, bool)> = self
                .processes
                .iter()
                .filter(|p| self.process_users.contains_key(&p.name))
                .filter_map(|p| {
                    let m = crate::process::Matcher::new(p)?;
                    // Start from the state the instances hold.
                    let up = self
                        .process_users
                        .get(&p.name)
                        .and_then(|u| u.first())
                        .and_then(|&(k, o)| self.ctx[k].track.is_up(o))
                        .unwrap_or(false);
                    Some((p.clone(), m, up))
                })
                .collect();
            let tx = tx.clone();
            let mut stop = stop.clone();
            tokio::spawn(async move {
                // keepalived follows process events through the proc connector;
                // a scan of /proc each second is simpler and as timely for the
                // fork_delay / terminate_delay it applies.
                let mut states = defs;
                let mut pending: Vec<Option<(bool, Instant)>> = vec![None; states.len()];
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tokio::select! {
                        _ = stop.changed() => break,
                        _ = tick.tick() => {}
                    }
                    let now = Instant::now();
                    for (k, (def, m, up)) in states.iter_mut().enumerate() {
                        let ok = crate::process::quorum_ok(def, m.count());
                        if ok == *up {
                            pending[k] = None;
                            continue;
                        }
                        let delay = secs(if ok {
                            def.fork_delay.unwrap_or(0.0)
                        } else {
                            def.terminate_delay.unwrap_or(0.0)
                        });
                        let since = match pending[k] {
                            Some((v, t)) if v == ok => t,
                            _ => {
                                pending[k] = Some((ok, now));
                                now
                            }
                        };
                        if now.duration_since(since) >= delay {
                            *up = ok;
                            pending[k] = None;
                            let ev = TrackEvent::Process {
                                name: def.name.clone(),
                                up: ok,
                            };
                            if tx.send(ev).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
        if !self.link_users.is_empty() {
            let nl = self.nl.clone();
            let tx = tx.clone();
            let watched: Vec<u32> = self.link_users.keys().copied().collect();
            let mut stop = stop.clone();
            // Ends with this generation: the netlink sockets it holds go too.
            tokio::spawn(async move {
                tokio::select! {
                    r = watch_links(nl, watched, tx) => {
                        if let Err(e) = r {
                            tracing::warn!("link monitoring stopped: {e}");
                        }
                    }
                    _ = stop.changed() => {}
                }
            });
        }
        for f in &self.track_files {
            if !self.file_users.contains_key(&f.name) {
                continue;
            }
            let Some(path) = f.file.clone() else { continue };
            let name = f.name.clone();
            let tx = tx.clone();
            let mut stop = stop.clone();
            tokio::spawn(async move {
                let mut last = None;
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tokio::select! {
                        _ = stop.changed() => break,
                        _ = tick.tick() => {}
                    }
                    let value = tokio::fs::read_to_string(&path)
                        .await
                        .ok()
                        .and_then(|s| s.split_whitespace().next()?.parse::<i64>().ok())
                        .unwrap_or(0);
                    if last != Some(value) {
                        last = Some(value);
                        if tx
                            .send(TrackEvent::File {
                                name: name.clone(),
                                value,
                            })
                            .await
                            .is_err()
                        {
                            break;
                        }
                    }
                }
            });
        }
    }
}

/// Runs a vrrp_script once: success is exit status 0 within the timeout.
async fn run_check(script: &Script, timeout: Duration) -> bool {
    let mut cmd = tokio::process::Command::new(&script.argv[0]);
    keepalived_check::misc::clean_env(&mut cmd)
        .args(&script.argv[1..])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    if let Some(g) = script.run_as.gid {
        cmd.gid(g);
    }
    if let Some(u) = script.run_as.uid {
        cmd.uid(u);
    }
    let Ok(mut child) = cmd.spawn() else {
        return false;
    };
    matches!(
        tokio::time::timeout(timeout, child.wait()).await,
        Ok(Ok(st)) if st.success()
    )
}

async fn watch_links(
    nl: Arc<Netlink>,
    watched: Vec<u32>,
    tx: mpsc::Sender<TrackEvent>,
) -> std::io::Result<()> {
    let mut events = Netlink::link_events()?;
    let mut known: HashMap<u32, bool> = HashMap::new();
    for &ix in &watched {
        let up = match keepalived_netif::link::ifname(ix) {
            Ok(name) => nl.link_up(&name).await.unwrap_or(false),
            Err(_) => false,
        };
        known.insert(ix, up);
    }
    while let Some(ev) = events.next_event().await {
        let (ix, up) = (ev.ifindex, ev.up && !ev.deleted);
        if !watched.contains(&ix) || known.get(&ix) == Some(&up) {
            continue;
        }
        known.insert(ix, up);
        tracing::info!("interface index {ix} is {}", if up { "UP" } else { "DOWN" });
        if tx.send(TrackEvent::Link { ifindex: ix, up }).await.is_err() {
            break;
        }
    }
    Ok(())
}

struct WorkerCtx {
    vips: Vec<VipSpec>,
    /// Where each of `vips` goes.
    vip_ifs: Vec<VipIf>,
    routes: Vec<RouteSpec>,
    rules: Vec<RuleSpec>,
    no_accept: bool,
    interval: Duration,
}

async fn worker(
    nl: Arc<Netlink>,
    ctx: Vec<WorkerCtx>,
    firewall: Option<NoAccept>,
    first: bool,
    mut rx: mpsc::UnboundedReceiver<Work>,
) {
    if let (Some(fw), true) = (&firewall, first) {
        // A table left by a crash of ours holds stale VIPs: start from empty.
        if let Err(e) = fw.remove().await {
            tracing::warn!("no_accept firewall: {e}");
        }
    }
    let mut sockets: HashMap<u32, Arc<PacketSocket>> = HashMap::new();
    while let Some(w) = rx.recv().await {
        match w {
            Work::Add(k) => {
                let c = &ctx[k];
                if c.no_accept {
                    // Block before the addresses appear, so nothing slips through.
                    let addrs: Vec<IpAddr> = c.vips.iter().map(|v| v.addr).collect();
                    if let Some(f) = &firewall {
                        if let Err(e) = f.block(&addrs).await {
                            tracing::warn!("no_accept firewall: {e}");
                        }
                    }
                }
                for (v, at) in c.vips.iter().zip(&c.vip_ifs) {
                    if let Err(e) = nl.add_address(at.ifindex, v).await {
                        tracing::warn!("adding {}/{} to {}: {e}", v.addr, v.prefix, at.ifname);
                    }
                }
                for r in &c.routes {
                    if let Err(e) = routes::add_route(&nl, r).await {
                        tracing::warn!("adding route {}/{}: {e}", r.dst, r.prefix);
                    }
                }
                for r in &c.rules {
                    if let Err(e) = routes::add_rule(&nl, r).await {
                        tracing::warn!("adding rule {r:?}: {e}");
                    }
                }
            }
            Work::Remove(k) | Work::Clean(k) => {
                let c = &ctx[k];
                for r in &c.rules {
                    if let Err(e) = routes::del_rule(&nl, r).await {
                        tracing::warn!("removing rule {r:?}: {e}");
                    }
                }
                for r in &c.routes {
                    if let Err(e) = routes::del_route(&nl, r).await {
                        tracing::warn!("removing route {}/{}: {e}", r.dst, r.prefix);
                    }
                }
                for (v, at) in c.vips.iter().zip(&c.vip_ifs) {
                    if let Err(e) = nl.del_address(at.ifindex, v).await {
                        tracing::warn!("removing {}/{} from {}: {e}", v.addr, v.prefix, at.ifname);
                    }
                }
                if c.no_accept {
                    let addrs: Vec<IpAddr> = c.vips.iter().map(|v| v.addr).collect();
                    if let Some(f) = &firewall {
                        if let Err(e) = f.unblock(&addrs).await {
                            tracing::warn!("no_accept firewall: {e}");
                        }
                    }
                }
            }
            Work::Drop {
                k,
                vips,
                routes,
                rules,
            } => {
                let c = &ctx[k];
                for r in &rules {
                    if let Err(e) = routes::del_rule(&nl, r).await {
                        tracing::warn!("removing rule {r:?}: {e}");
                    }
                }
                for r in &routes {
                    if let Err(e) = routes::del_route(&nl, r).await {
                        tracing::warn!("removing route {}/{}: {e}", r.dst, r.prefix);
                    }
                }
                for (ix, v) in &vips {
                    if let Err(e) = nl.del_address(*ix, v).await {
                        tracing::warn!("removing {}/{}: {e}", v.addr, v.prefix);
                    }
                }
                if let (true, Some(f)) = (c.no_accept, &firewall) {
                    let addrs: Vec<IpAddr> = vips.iter().map(|(_, v)| v.addr).collect();
                    if let Err(e) = f.unblock(&addrs).await {
                        tracing::warn!("no_accept firewall: {e}");
                    }
                }
            }
            Work::Garp(k, repeat) => {
                let c = &ctx[k];
                // Per interface the VIPs live on (their own `dev`, else the
                // instance's), with that interface's MAC.
                let mut sends: Vec<(Arc<PacketSocket>, Vec<Vec<u8>>)> = Vec::new();
                let mut ifs: Vec<&VipIf> = Vec::new();
                for at in &c.vip_ifs {
                    if !ifs.iter().any(|i| i.ifindex == at.ifindex) {
                        ifs.push(at);
                    }
                }
                for at in ifs {
                    // One packet socket per interface, kept: closing a packet
                    // socket waits for an RCU grace period (milliseconds), which
                    // would stall the protocol loop at short advert intervals.
                    let sock = match sockets.get(&at.ifindex) {
                        Some(s) => s.clone(),
                        None => match PacketSocket::open(at.ifindex, 0) {
                            Ok(s) => {
                                let s = Arc::new(s);
                                sockets.insert(at.ifindex, s.clone());
                                s
                            }
                            Err(e) => {
                                tracing::warn!("gratuitous ARP/NA on {}: {e}", at.ifname);
                                continue;
                            }
                        },
                    };
                    let mine = || {
                        c.vips
                            .iter()
                            .zip(&c.vip_ifs)
                            .filter(|(_, i)| i.ifindex == at.ifindex)
                            .map(|(v, _)| v)
                    };
                    let link_local = match mine().any(|v| v.addr.is_ipv6()) {
                        true => nl.primary_address(at.ifindex, true).await.ok().flatten(),
                        false => None,
                    };
                    let frames: Vec<Vec<u8>> = mine()
                        .filter_map(|v| match (v.addr, link_local) {
                            (IpAddr::V4(a), _) => Some(garp::garp_frame(at.mac, a)),
                            (IpAddr::V6(a), Some(IpAddr::V6(src))) => {
                                Some(garp::na_frame(at.mac, a, src, false))
                            }
                            _ => None,
                        })
                        .collect();
                    sends.push((sock, frames));
                }
                let burst = move || {
                    for (sock, frames) in &sends {
                        for f in frames {
                            if let Err(e) = sock.send(f) {
                                tracing::warn!("gratuitous ARP/NA: {e}");
                            }
                        }
                    }
                };
                if repeat <= 1 || c.interval.is_zero() {
                    for _ in 0..repeat.max(1) {
                        burst();
                    }
                } else {
                    let interval = c.interval;
                    burst();
                    tokio::spawn(async move {
                        for _ in 1..repeat {
                            tokio::time::sleep(interval).await;
                            burst();
                        }
                    });
                }
            }
            Work::Flush {
                done,
                remove_firewall,
            } => {
                if let (Some(f), true) = (&firewall, remove_firewall) {
                    if let Err(e) = f.remove().await {
                        tracing::warn!("no_accept firewall: {e}");
                    }
                }
                let _ = done.send(());
            }
        }
    }
}

/// The lvs_sync_daemon of a configuration: global_defs `lvs_sync_daemon IF
/// INSTANCE ...`, or keepalived's deprecated per-instance
/// `lvs_sync_daemon_interface IF`. The sync id defaults to the instance's
/// virtual_router_id, as keepalived's does.
fn sync_daemon(cfg: &Config, names: &HashMap<String, usize>) -> Option<SyncDaemon> {
    let (ifname, inst, d) = match &cfg.global_defs.lvs_sync_daemon {
        Some(d) => (d.interface.clone(), d.instance.clone()?, Some(d)),
        None => {
            let i = cfg
                .vrrp_instances
                .iter()
                .find(|i| i.lvs_sync_daemon_interface.is_some())?;
            (i.lvs_sync_daemon_interface.clone()?, i.name.clone(), None)
        }
    };
    let Some(&instance) = names.get(&inst) else {
        tracing::warn!("lvs_sync_daemon: no vrrp_instance {inst}");
        return None;
    };
    let vrid = cfg
        .vrrp_instances
        .iter()
        .find(|i| i.name == inst)
        .and_then(|i| i.virtual_router_id)
        .unwrap_or(0);
    let sc = keepalived_dataplane::ipvs::SyncConfig {
        ifname,
        syncid: d.and_then(|d| d.id).unwrap_or(u32::from(vrid)),
        maxlen: d.and_then(|d| d.maxlen).and_then(|m| u16::try_from(m).ok()),
        group: d.and_then(|d| d.group),
        port: d.and_then(|d| d.port),
        ttl: d.and_then(|d| d.ttl),
    };
    let ipvs = match keepalived_dataplane::ipvs::IpvsBackend::new(std::iter::empty()) {
        Ok(b) => Some(b),
        Err(e) => {
            tracing::warn!(
                "lvs_sync_daemon: IPVS is not available ({e}); connections are not synchronised"
            );
            None
        }
    };
    Some(SyncDaemon {
        instance,
        cfg: sc,
        ipvs,
    })
}
