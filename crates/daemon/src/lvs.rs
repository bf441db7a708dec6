//! The load-balancing side of the daemon (keepalived's checker process): runs the
//! health checkers, turns their verdicts into the desired pool and reconciles the
//! data plane to it, and notifies (scripts, lvs_notify_fifo) as keepalived does.

use crate::metrics::Metrics;
use crate::notify::{self, Fifo, RunAs, Script};
use crate::state::Shared;
use keepalived_check::engine::Observer;
use keepalived_check::{server_specs, BuildContext, Engine, Event};
use keepalived_config::model::{Config, RealServer, ServiceAddress, VirtualServer};
use keepalived_dataplane::backend::{ipvs_available, AnyBackend, Backend, Reconciler};
use keepalived_dataplane::ipvs::IpvsBackend;
use keepalived_dataplane::model::{
    desired, desired_vs, desired_with, vs_keys, Health, Pool, QuorumMemory, ServiceKey,
};
use keepalived_dataplane::nft::NftBackend;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;

/// Our nftables table for load balancing (the VRRP no_accept table is another).
pub const LB_TABLE: &str = "keepalived_rs_lb";

/// Each virtual server's name with its real servers' names, by index.
fn check_names(cfg: &Config) -> Vec<(String, Vec<String>)> {
    cfg.virtual_servers
        .iter()
        .map(|vs| {
            let rss = vs.real_servers.iter().map(|rs| rs_name(vs, rs)).collect();
            (vs_name(vs), rss)
        })
        .collect()
}

/// `[ip]:proto:port`, as keepalived writes services in logs and FIFO lines.
pub fn vs_name(vs: &VirtualServer) -> String {
    let proto = vs.protocol.as_deref().unwrap_or("UDP").to_ascii_lowercase();
    match &vs.service {
        ServiceAddress::Ip { address, port } => format!("[{address}]:{proto}:{port}"),
        ServiceAddress::Fwmark(m) => format!("FWM {m}"),
        ServiceAddress::Group(g) => format!("group {g}"),
    }
}

pub fn rs_name(vs: &VirtualServer, rs: &RealServer) -> String {
    let proto = vs.protocol.as_deref().unwrap_or("UDP").to_ascii_lowercase();
    let port = rs.port.unwrap_or(match &vs.service {
        ServiceAddress::Ip { port, .. } => *port,
        _ => 0,
    });
    format!("[{}]:{proto}:{port}", rs.address)
}

/// Which data plane `lvs_backend` selects, and why (for the log).
fn choose_backend(cfg: &Config) -> Result<(AnyBackend, &'static str), String> {
    let ipvs = |why| {
        let keys = desired(cfg, &|_, _| Health::Up).into_keys();
        IpvsBackend::new(keys)
            .map(|b| (AnyBackend::Ipvs(b), why))
            .map_err(|e| format!("IPVS: {e}"))
    };
    let nft = |why| {
        let b = NftBackend::new(LB_TABLE).with_background_conntrack();
        Ok((AnyBackend::Nft(b), why))
    };
    match cfg.global_defs.lvs_backend.as_deref().unwrap_or("auto") {
        "nftables" => nft("lvs_backend nftables"),
        "ipvs" => ipvs("lvs_backend ipvs"),
        _ if ipvs_available() => ipvs("the kernel has IPVS (auto)"),
        _ => nft("the kernel has no IPVS (auto)"),
    }
}

/// keepalived's global IPVS settings: lvs_flush, lvs_timeouts.
fn ipvs_settings(cfg: &Config, b: &mut AnyBackend) {
    let AnyBackend::Ipvs(ipvs) = b else { return };
    let g = &cfg.global_defs;
    if g.lvs_flush {
        if let Err(e) = ipvs.flush_all() {
            tracing::warn!("lvs_flush: {e}");
        }
    }
    if let Some(t) = &g.lvs_timeouts {
        let secs = |v: Option<u32>| v.unwrap_or(0);
        if let Err(e) = ipvs.set_timeouts(secs(t.tcp), secs(t.tcpfin), secs(t.udp)) {
            tracing::warn!("lvs_timeouts: {e}");
        }
    }
}

/// What a checker verdict needs to recompute one virtual server alone, built
/// once per configuration.
struct Index {
    /// Per virtual server, its service keys that a later virtual server takes
    /// over (as in the whole pool); mostly empty.
    lost: Vec<HashSet<ServiceKey>>,
    /// Every (virtual server, real server) with a real server address: the
    /// status weight is per address.
    by_addr: HashMap<IpAddr, Vec<(usize, usize)>>,
}

impl Index {
    fn new(cfg: &Config) -> Index {
        let all: Vec<Vec<ServiceKey>> = (0..cfg.virtual_servers.len())
            .map(|vi| vs_keys(cfg, vi))
            .collect();
        let mut owner: HashMap<ServiceKey, usize> = HashMap::new();
        for (vi, ks) in all.iter().enumerate() {
            for k in ks {
                owner.insert(*k, vi);
            }
        }
        let lost = all
            .into_iter()
            .enumerate()
            .map(|(vi, ks)| ks.into_iter().filter(|k| owner[k] != vi).collect())
            .collect();
        let mut by_addr: HashMap<IpAddr, Vec<(usize, usize)>> = HashMap::new();
        for (vi, vs) in cfg.virtual_servers.iter().enumerate() {
            for (ri, rs) in vs.real_servers.iter().enumerate() {
                by_addr.entry(rs.address).or_default().push((vi, ri));
            }
        }
        Index { lost, by_addr }
    }
}

/// A new configuration for a running checker side.
pub struct Reload {
    pub cfg: Config,
    pub mailer: Option<crate::smtp::Mailer>,
}

/// Identifies a checker across configurations: its virtual and real server and
/// its own settings. An unchanged checker keeps its state over a reload.
fn checker_key(vs: &VirtualServer, rs: &RealServer, i: usize) -> String {
    let c = rs
        .checkers
        .get(i)
        .map(|c| serde_json::to_string(c).unwrap_or_default());
    format!(
        "{}|{}|{i}|{}",
        vs_name(vs),
        rs_name(vs, rs),
        c.unwrap_or_default()
    )
}

/// Runs checkers and the data plane until `stop` turns true; then removes what
/// it programmed. A reload keeps the data plane and the state of every
/// unchanged checker: only the difference reaches the kernel.
pub async fn run(
    cfg: Config,
    mut stop: watch::Receiver<bool>,
    mut reload: tokio::sync::mpsc::Receiver<Reload>,
    status: Shared,
    metrics: Option<Arc<Metrics>>,
    mailer: Option<crate::smtp::Mailer>,
) -> Result<(), String> {
    let (mut backend, why) = choose_backend(&cfg)?;
    let name = backend.name();
    tracing::info!(
        "Using the {} data plane: {why}",
        if name == "ipvs" { "IPVS" } else { "nftables" }
    );
    ipvs_settings(&cfg, &mut backend);
    let mut rec = Reconciler::new(backend)
        .await
        .map_err(|e| format!("{name}: {e}"))?;
    if !rec.actual.is_empty() {
        // A restart after a crash: what is there is kept; only the difference
        // will be applied, and live connections are not touched.
        tracing::info!(
            "found {} service(s) of ours in the kernel ({} real servers); reconciling",
            rec.actual.len(),
            rec.actual
                .values()
                .map(|s| s.destinations.len())
                .sum::<usize>()
        );
    }
    crate::state::update(&status, |s| s.dataplane.backend = name.to_string());
    let (mut cfg, mut mailer) = (cfg, mailer);
    // Checker states carried over a reload, by checker_key.
    let mut carried: HashMap<String, bool> = HashMap::new();
    let mut quorum = QuorumMemory::default();
    loop {
        let index = Index::new(&cfg);
        let ctx = BuildContext::from_config(&cfg)?;
        init_status(&cfg, &status);
        let (mut specs, errors) = server_specs(&cfg, &ctx);
        for e in errors {
            tracing::warn!("{e}");
        }
        for spec in &mut specs {
            let (vs, rs) = (
                &cfg.virtual_servers[spec.vs],
                &cfg.virtual_servers[spec.vs].real_servers[spec.rs],
            );
            for (i, c) in spec.checkers.iter_mut().enumerate() {
                if let Some(up) = carried.get(&checker_key(vs, rs, i)) {
                    // `alpha` is "start down": the carried state becomes the start.
                    c.schedule.alpha = !up;
                }
            }
        }
        let run_as = match &cfg.global_defs.script_user {
            Some(u) => RunAs::resolve(&shell_words::split(u).unwrap_or_default())?,
            None => RunAs::default(),
        };
        let fifo = match &cfg.global_defs.lvs_notify_fifo {
            Some(f) => Some(Arc::new(
                Fifo::open(std::path::Path::new(&f.path))
                    .map_err(|e| format!("lvs_notify_fifo {}: {e}", f.path))?,
            )),
            None => None,
        };

        // Every run's outcome goes to the status (and the metrics, if any). The
        // series of the previous configuration go: its engine has stopped.
        let series = metrics.as_ref().map(|m| {
            m.clear();
            m.checkers(check_names(&cfg))
        });
        let st = status.clone();
        let each: Observer = Arc::new(move |vs, rs, kind, o: &keepalived_check::Outcome| {
            crate::state::update(&st, |s| {
                if let Some(r) = s
                    .virtual_servers
                    .get_mut(vs)
                    .and_then(|v| v.real_servers.get_mut(rs))
                {
                    // Mostly the same words as last time: no new string then.
                    let same = r
                        .last_check
                        .as_deref()
                        .and_then(|l| l.strip_prefix(kind))
                        .and_then(|l| l.strip_prefix(": "))
                        == Some(o.detail.as_str());
                    if !same {
                        r.last_check = Some(format!("{kind}: {}", o.detail));
                    }
                    r.last_latency_ms = Some(o.latency.as_secs_f64() * 1000.0);
                    if o.ok {
                        r.checks_ok += 1;
                    } else {
                        r.checks_failed += 1;
                    }
                }
            });
            if let Some(m) = &series {
                m.observe(vs, rs, kind, o.ok, o.latency.as_secs_f64());
            }
        });
        let engine = Engine::new(specs).with_observer(each);
        let mut health: HashMap<(usize, usize), Health> = HashMap::new();
        for s in &engine.initial_snapshot().servers {
            health.insert((s.vs, s.rs), state_of(s.up, None));
        }
        let (mut events, handle) = engine.start();
        // the desired pool as last computed (a verdict replaces its virtual server's part)
        let mut pool = apply(
            &cfg,
            &health,
            &mut quorum,
            &mut rec,
            run_as,
            fifo.as_deref(),
            &status,
        )
        .await;

        // without a single checker the event stream ends at once: the pool
        // stays as programmed until a reload or stop
        let mut checking = true;
        let next = loop {
            tokio::select! {
                _ = stop.changed() => break None,
                r = reload.recv() => break r,
                ev = events.recv(), if checking => {
                    let Some(ev) = ev else {
                        checking = false;
                        continue;
                    };
                    // verdicts that arrived together go to the kernel together
                    let mut batch = vec![ev];
                    while batch.len() < 4096 {
                        match events.try_recv() {
                            Ok(ev) => batch.push(ev),
                            Err(_) => break,
                        }
                    }
                    let changed: Vec<bool> =
                        batch.iter().map(|ev| on_event(&cfg, ev, &mut health)).collect();
                    let vis: BTreeSet<usize> = batch.iter().map(|ev| ev.vs).collect();
                    let part = Part { index: &index, vis: &vis };
                    apply_part(&cfg, part, &health, &mut quorum, &mut pool, &mut rec, run_as, fifo.as_deref(), &status).await;
                    for (ev, changed) in batch.iter().zip(changed) {
                        if changed {
                            announce(&cfg, ev, run_as, fifo.as_deref(), mailer.as_ref());
                        }
                    }
                }
            }
        };
        let last = handle.snapshot();
        handle.stop().await;
        let Some(next) = next else { break };
        carried.clear();
        for s in &last.servers {
            let (vs, rs) = (
                &cfg.virtual_servers[s.vs],
                &cfg.virtual_servers[s.vs].real_servers[s.rs],
            );
            for (i, c) in s.checkers.iter().enumerate() {
                carried.insert(checker_key(vs, rs, i), c.up);
            }
        }
        // Quorum memory follows the virtual servers by name.
        let names: HashMap<String, bool> = quorum
            .up
            .iter()
            .filter_map(|(i, up)| cfg.virtual_servers.get(*i).map(|v| (vs_name(v), *up)))
            .collect();
        quorum.up = next
            .cfg
            .virtual_servers
            .iter()
            .enumerate()
            .filter_map(|(i, v)| names.get(&vs_name(v)).map(|up| (i, *up)))
            .collect();
        cfg = next.cfg;
        mailer = next.mailer;
        tracing::info!(
            "checkers reloaded ({} unchanged checker states kept)",
            carried.len()
        );
    }
    // keepalived removes the services it created when it stops.
    if let Err(e) = rec.clear().await {
        tracing::warn!("removing our load-balancer table: {e}");
    }
    Ok(())
}

fn state_of(up: bool, weight: Option<i32>) -> Health {
    match (up, weight) {
        (false, _) => Health::Down,
        (true, Some(w)) => Health::Weight(w.max(0) as u32),
        (true, None) => Health::Up,
    }
}

/// Records a checker's verdict; true when its real server went up or down (to
/// announce once the data plane has the change).
fn on_event(cfg: &Config, ev: &Event, health: &mut HashMap<(usize, usize), Health>) -> bool {
    let (Some(vs), Some(rs)) = (
        cfg.virtual_servers.get(ev.vs),
        cfg.virtual_servers
            .get(ev.vs)
            .and_then(|v| v.real_servers.get(ev.rs)),
    ) else {
        return false;
    };
    let kind = rs
        .checkers
        .get(ev.checker)
        .map(|c| c.kind.as_str())
        .unwrap_or("check");
    let rsn = rs_name(vs, rs);
    if ev.up {
        tracing::info!("{kind} on service {rsn} success ({})", ev.outcome.detail);
    } else {
        tracing::info!("{kind} on service {rsn} failed ({})", ev.outcome.detail);
    }
    let before = health.get(&(ev.vs, ev.rs)).copied();
    let now = state_of(ev.server_up, ev.outcome.weight);
    health.insert((ev.vs, ev.rs), now);
    let was_up = before.is_none_or(|h| h != Health::Down);
    was_up != ev.server_up
}

/// Logs, scripts, FIFO line and mail for a real server that went up or down,
/// after the data plane applied it (as keepalived: IPVS first, then notify).
fn announce(
    cfg: &Config,
    ev: &Event,
    run_as: RunAs,
    fifo: Option<&Fifo>,
    mailer: Option<&crate::smtp::Mailer>,
) {
    let (Some(vs), Some(rs)) = (
        cfg.virtual_servers.get(ev.vs),
        cfg.virtual_servers
            .get(ev.vs)
            .and_then(|v| v.real_servers.get(ev.rs)),
    ) else {
        return;
    };
    let kind = rs
        .checkers
        .get(ev.checker)
        .map(|c| c.kind.as_str())
        .unwrap_or("check");
    let rsn = rs_name(vs, rs);
    let vsn = vs_name(vs);
    let word = if ev.server_up { "UP" } else { "DOWN" };
    let script = if ev.server_up {
        tracing::info!("Adding service {rsn} to VS {vsn}");
        &rs.notify_up
    } else {
        tracing::info!("Removing service {rsn} from VS {vsn}");
        &rs.notify_down
    };
    if let Some(s) = Script::from_line(script, run_as) {
        notify::spawn(&s, &[]);
    }
    if let Some(f) = fifo {
        f.write_line(&format!("RS {rsn} {vsn} {word}\n"));
    }
    let g = &cfg.global_defs;
    let alert = rs
        .smtp_alert
        .or(vs.smtp_alert)
        .or(g.smtp_alert_checker)
        .or(g.smtp_alert)
        .unwrap_or(false);
    if let (true, Some(m)) = (alert, mailer) {
        let (subject, body) =
            crate::smtp::checker_alert_kind(m.router_id(), &rsn, &vsn, ev.server_up, kind);
        m.alert(subject, body);
    }
}

/// Logs the outcome of a reconcile; true when it failed.
fn logged(
    r: Result<Vec<keepalived_dataplane::Op>, keepalived_dataplane::Error>,
    t0: Instant,
) -> bool {
    match r {
        Ok(ops) => {
            if !ops.is_empty() {
                tracing::debug!(
                    "data plane: {} operation(s) in {:.2} ms",
                    ops.len(),
                    t0.elapsed().as_secs_f64() * 1000.0
                );
            }
            false
        }
        Err(e) => {
            tracing::error!("data plane: {e}");
            true
        }
    }
}

/// Recomputes the whole desired pool and applies the difference; reports
/// quorum changes. Returns the desired pool.
async fn apply(
    cfg: &Config,
    health: &HashMap<(usize, usize), Health>,
    quorum: &mut QuorumMemory,
    rec: &mut Reconciler<AnyBackend>,
    run_as: RunAs,
    fifo: Option<&Fifo>,
    status: &Shared,
) -> Pool {
    let t0 = Instant::now();
    let before = quorum.up.clone();
    let lookup = |vs: usize, rs: usize| health.get(&(vs, rs)).copied().unwrap_or(Health::Up);
    let pool = desired_with(cfg, &lookup, quorum);
    let failed = logged(rec.apply(&pool).await, t0);
    // Announced once the kernel has the change.
    for vi in 0..cfg.virtual_servers.len() {
        announce_quorum(cfg, vi, &before, quorum, run_as, fifo);
    }
    // Weights as programmed: what the pool gives each real server (by address,
    // the first service that has it), looked up once per apply.
    let mut weights: HashMap<std::net::IpAddr, u32> = HashMap::new();
    for (k, d) in pool.values().flat_map(|svc| svc.destinations.iter()) {
        weights.entry(k.addr).or_insert(d.weight);
    }
    crate::state::update(status, |s| {
        for (vi, vs) in cfg.virtual_servers.iter().enumerate() {
            let Some(v) = s.virtual_servers.get_mut(vi) else {
                continue;
            };
            v.quorum_up = quorum.up.get(&vi).copied().unwrap_or(true);
            for (ri, rs) in vs.real_servers.iter().enumerate() {
                let Some(r) = v.real_servers.get_mut(ri) else {
                    continue;
                };
                let h = lookup(vi, ri);
                r.up = h != Health::Down;
                r.weight = weights.get(&rs.address).copied().unwrap_or(0);
            }
        }
        s.dataplane.operations = rec.ops_applied;
        s.dataplane.transactions = rec.changes;
        if failed {
            s.dataplane.errors += 1;
        }
    });
    pool
}

/// The virtual servers a batch of verdicts touched.
#[derive(Clone, Copy)]
struct Part<'a> {
    index: &'a Index,
    vis: &'a BTreeSet<usize>,
}

/// Recomputes the virtual servers `part.vis` only, replaces their services in
/// `pool` and applies the difference of those services alone (one
/// transaction); reports their quorum changes and updates their status.
#[allow(clippy::too_many_arguments)]
async fn apply_part(
    cfg: &Config,
    part: Part<'_>,
    health: &HashMap<(usize, usize), Health>,
    quorum: &mut QuorumMemory,
    pool: &mut Pool,
    rec: &mut Reconciler<AnyBackend>,
    run_as: RunAs,
    fifo: Option<&Fifo>,
    status: &Shared,
) {
    let t0 = Instant::now();
    let before: HashMap<usize, bool> = part
        .vis
        .iter()
        .filter_map(|vi| quorum.up.get(vi).map(|up| (*vi, *up)))
        .collect();
    let lookup = |vs: usize, rs: usize| health.get(&(vs, rs)).copied().unwrap_or(Health::Up);
    let mut keys = BTreeSet::new();
    for &vi in part.vis {
        let Some(lost) = part.index.lost.get(vi) else {
            continue;
        };
        for svc in desired_vs(cfg, vi, &lookup, quorum) {
            if !lost.contains(&svc.key) {
                keys.insert(svc.key);
                pool.insert(svc.key, svc);
            }
        }
    }
    let failed = logged(rec.apply_keys(&keys, pool).await, t0);
    for &vi in part.vis {
        announce_quorum(cfg, vi, &before, quorum, run_as, fifo);
    }
    // Status weights are per address (the first service in the pool that has
    // it): every real server sharing an address of these virtual servers.
    let addrs: BTreeSet<IpAddr> = part
        .vis
        .iter()
        .filter_map(|vi| cfg.virtual_servers.get(*vi))
        .flat_map(|vs| vs.real_servers.iter().map(|r| r.address))
        .collect();
    let weights: Vec<(IpAddr, u32)> = addrs
        .iter()
        .map(|a| (*a, first_weight(pool, *a).unwrap_or(0)))
        .collect();
    crate::state::update(status, |s| {
        for &vi in part.vis {
            let Some(v) = s.virtual_servers.get_mut(vi) else {
                continue;
            };
            v.quorum_up = quorum.up.get(&vi).copied().unwrap_or(true);
            for (ri, r) in v.real_servers.iter_mut().enumerate() {
                r.up = lookup(vi, ri) != Health::Down;
            }
        }
        for (a, w) in &weights {
            for (vi, ri) in part.index.by_addr.get(a).into_iter().flatten() {
                if let Some(r) = s
                    .virtual_servers
                    .get_mut(*vi)
                    .and_then(|v| v.real_servers.get_mut(*ri))
                {
                    r.weight = *w;
                }
            }
        }
        s.dataplane.operations = rec.ops_applied;
        s.dataplane.transactions = rec.changes;
        if failed {
            s.dataplane.errors += 1;
        }
    });
}

/// The weight of `addr` in the first service (in key order) that has it.
fn first_weight(pool: &Pool, addr: IpAddr) -> Option<u32> {
    let from = keepalived_dataplane::DestKey { addr, port: 0 };
    pool.values().find_map(|svc| {
        svc.destinations
            .range(from..)
            .next()
            .filter(|(k, _)| k.addr == addr)
            .map(|(_, d)| d.weight)
    })
}

/// Logs, scripts and FIFO line for virtual server `vi` when its quorum state
/// differs from `before` (once the kernel has the change).
fn announce_quorum(
    cfg: &Config,
    vi: usize,
    before: &HashMap<usize, bool>,
    quorum: &QuorumMemory,
    run_as: RunAs,
    fifo: Option<&Fifo>,
) {
    let Some(vs) = cfg.virtual_servers.get(vi) else {
        return;
    };
    let was = before.get(&vi).copied().unwrap_or(true);
    let is = quorum.up.get(&vi).copied().unwrap_or(true);
    if was != is {
        let vsn = vs_name(vs);
        let script = if is {
            tracing::info!("Gained quorum for VS {vsn}");
            &vs.quorum_up
        } else {
            tracing::info!("Lost quorum for VS {vsn}");
            &vs.quorum_down
        };
        if let Some(s) = Script::from_line(script, run_as) {
            notify::spawn(&s, &[]);
        }
        if let Some(f) = fifo {
            f.write_line(&format!("VS {vsn} {}\n", if is { "UP" } else { "DOWN" }));
        }
    }
}

/// One status entry per virtual and real server, in config order; entries of
/// servers that were already there (a reload) keep their counters.
fn init_status(cfg: &Config, status: &Shared) {
    crate::state::update(status, |s| {
        let old = std::mem::take(&mut s.virtual_servers);
        s.virtual_servers = cfg
            .virtual_servers
            .iter()
            .map(|vs| {
                let name = vs_name(vs);
                let prev = old.iter().find(|v| v.name == name);
                crate::state::VirtualServerStatus {
                    quorum_up: prev.is_none_or(|p| p.quorum_up),
                    real_servers: vs
                        .real_servers
                        .iter()
                        .map(|rs| {
                            let address = rs_name(vs, rs);
                            prev.and_then(|p| p.real_servers.iter().find(|r| r.address == address))
                                .cloned()
                                .unwrap_or(crate::state::RealServerStatus {
                                    address,
                                    up: true,
                                    ..Default::default()
                                })
                        })
                        .collect(),
                    name,
                }
            })
            .collect();
    });
}
