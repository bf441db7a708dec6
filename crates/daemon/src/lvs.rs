//! The load-balancing side of the daemon (keepalived's checker process): runs the
//! health checkers, turns their verdicts into the desired pool and reconciles the
//! data plane to it, and notifies (scripts, lvs_notify_fifo) as keepalived does.

use crate::notify::{self, Fifo, RunAs, Script};
use keepalived_check::{server_specs, BuildContext, Engine, Event};
use keepalived_config::model::{Config, RealServer, ScriptLine, ServiceAddress, VirtualServer};
use keepalived_dataplane::backend::{ipvs_available, Reconciler};
use keepalived_dataplane::model::{desired_with, Health, QuorumMemory};
use keepalived_dataplane::nft::NftBackend;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::watch;

/// Our nftables table for load balancing (the VRRP no_accept table is another).
pub const LB_TABLE: &str = "keepalived_rs_lb";

/// `[ip]:proto:port`, as keepalived writes services in logs and FIFO lines.
fn vs_name(vs: &VirtualServer) -> String {
    let proto = vs.protocol.as_deref().unwrap_or("TCP").to_ascii_lowercase();
    match &vs.service {
        ServiceAddress::Ip { address, port } => format!("[{address}]:{proto}:{port}"),
        ServiceAddress::Fwmark(m) => format!("FWM {m}"),
        ServiceAddress::Group(g) => format!("group {g}"),
    }
}

fn rs_name(vs: &VirtualServer, rs: &RealServer) -> String {
    let proto = vs.protocol.as_deref().unwrap_or("TCP").to_ascii_lowercase();
    let port = rs.port.unwrap_or(match &vs.service {
        ServiceAddress::Ip { port, .. } => *port,
        _ => 0,
    });
    format!("[{}]:{proto}:{port}", rs.address)
}

fn script(line: &Option<ScriptLine>, run_as: RunAs) -> Option<Script> {
    let line = line.as_ref()?;
    let ra = if line.user.is_empty() {
        run_as
    } else {
        RunAs::resolve(&line.user).unwrap_or(run_as)
    };
    Script::parse(&line.command, ra)
}

/// Which data plane `lvs_backend` selects, and why (for the log).
fn choose_backend(cfg: &Config) -> Result<(&'static str, &'static str), String> {
    match cfg.global_defs.lvs_backend.as_deref().unwrap_or("auto") {
        "nftables" => Ok(("nftables", "lvs_backend nftables")),
        "ipvs" => Err(
            "lvs_backend ipvs: the IPVS backend is not available in this build yet; use nftables or auto"
                .into(),
        ),
        _ if ipvs_available() => Ok((
            "nftables",
            "the kernel has IPVS, but the IPVS backend is not built yet: using nftables",
        )),
        _ => Ok(("nftables", "the kernel has no IPVS (auto)")),
    }
}

/// Runs checkers and the data plane until `stop` turns true; then removes what
/// it programmed.
pub async fn run(cfg: Config, mut stop: watch::Receiver<bool>) -> Result<(), String> {
    let ctx = BuildContext::from_config(&cfg)?;
    let (specs, errors) = server_specs(&cfg, &ctx);
    for e in errors {
        tracing::warn!("{e}");
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
    let (backend, why) = choose_backend(&cfg)?;
    tracing::info!("Using the {backend} data plane: {why}");
    let mut rec = Reconciler::new(NftBackend::new(LB_TABLE))
        .await
        .map_err(|e| format!("nftables: {e}"))?;

    let engine = Engine::new(specs);
    let mut health: HashMap<(usize, usize), Health> = HashMap::new();
    for s in &engine.initial_snapshot().servers {
        health.insert((s.vs, s.rs), state_of(s.up, None));
    }
    let (mut events, handle) = engine.start();
    let mut quorum = QuorumMemory::default();
    apply(
        &cfg,
        &health,
        &mut quorum,
        &mut rec,
        run_as,
        fifo.as_deref(),
    )
    .await;

    loop {
        tokio::select! {
            _ = stop.changed() => break,
            ev = events.recv() => {
                let Some(ev) = ev else { break };
                on_event(&cfg, &ev, &mut health, run_as, fifo.as_deref());
                apply(&cfg, &health, &mut quorum, &mut rec, run_as, fifo.as_deref()).await;
            }
        }
    }
    handle.stop().await;
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

fn on_event(
    cfg: &Config,
    ev: &Event,
    health: &mut HashMap<(usize, usize), Health>,
    run_as: RunAs,
    fifo: Option<&Fifo>,
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
    if ev.up {
        tracing::info!("{kind} on service {rsn} success ({})", ev.outcome.detail);
    } else {
        tracing::info!("{kind} on service {rsn} failed ({})", ev.outcome.detail);
    }
    let before = health.get(&(ev.vs, ev.rs)).copied();
    let now = state_of(ev.server_up, ev.outcome.weight);
    health.insert((ev.vs, ev.rs), now);
    let was_up = before.is_none_or(|h| h != Health::Down);
    if was_up == ev.server_up {
        return;
    }
    let word = if ev.server_up { "UP" } else { "DOWN" };
    if ev.server_up {
        tracing::info!("Adding service {rsn} to VS {vsn}");
        if let Some(s) = script(&rs.notify_up, run_as) {
            notify::spawn(&s, &[]);
        }
    } else {
        tracing::info!("Removing service {rsn} from VS {vsn}");
        if let Some(s) = script(&rs.notify_down, run_as) {
            notify::spawn(&s, &[]);
        }
    }
    if let Some(f) = fifo {
        f.write_line(&format!("RS {rsn} {vsn} {word}\n"));
    }
}

/// Recomputes the desired pool and applies the difference; reports quorum changes.
async fn apply(
    cfg: &Config,
    health: &HashMap<(usize, usize), Health>,
    quorum: &mut QuorumMemory,
    rec: &mut Reconciler<NftBackend>,
    run_as: RunAs,
    fifo: Option<&Fifo>,
) {
    let before = quorum.up.clone();
    let lookup = |vs: usize, rs: usize| health.get(&(vs, rs)).copied().unwrap_or(Health::Up);
    let pool = desired_with(cfg, &lookup, quorum);
    for (vi, vs) in cfg.virtual_servers.iter().enumerate() {
        let was = before.get(&vi).copied().unwrap_or(true);
        let is = quorum.up.get(&vi).copied().unwrap_or(true);
        if was == is {
            continue;
        }
        let vsn = vs_name(vs);
        if is {
            tracing::info!("Gained quorum for VS {vsn}");
            if let Some(s) = script(&vs.quorum_up, run_as) {
                notify::spawn(&s, &[]);
            }
        } else {
            tracing::info!("Lost quorum for VS {vsn}");
            if let Some(s) = script(&vs.quorum_down, run_as) {
                notify::spawn(&s, &[]);
            }
        }
        if let Some(f) = fifo {
            f.write_line(&format!("VS {vsn} {}\n", if is { "UP" } else { "DOWN" }));
        }
    }
    match rec.apply(&pool).await {
        Ok(ops) if !ops.is_empty() => {
            tracing::debug!("data plane: {} operation(s)", ops.len());
        }
        Ok(_) => {}
        Err(e) => tracing::error!("data plane: {e}"),
    }
}
