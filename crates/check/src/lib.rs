//! Health checkers (TCP, HTTP/SSL, MISC, DNS, SMTP, UDP, PING, FILE) behind one trait,
//! and the scheduler ([`engine`]) that runs them the way keepalived's checker process does.
//!
//! A checker is a [`Check`]: given a [`Target`] (where and how to connect) it returns an
//! [`Outcome`]. [`build`] makes the right one from the typed configuration model, and
//! [`server_specs`] turns a whole [`Config`] into the [`engine::ServerSpec`]s the engine runs.

#![warn(missing_docs)]

use keepalived_config::model::{Checker, Config, RealServer, Ssl, TrackFile, VirtualServer};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub mod dns;
pub mod engine;
pub mod file;
pub mod half_open;
pub mod http;
pub mod misc;
pub mod net;
pub mod ping;
pub mod smtp;
pub mod tcp;
pub mod udp;

pub use engine::{
    CheckerSpec, CheckerState, Engine, EngineHandle, Event, EventReceiver, Schedule, ServerSpec,
    ServerState, Snapshot,
};
pub use http::genhash;

/// keepalived's default `connect_timeout`: 5 seconds.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// keepalived's default `delay_loop`: 60 seconds.
pub const DEFAULT_DELAY_LOOP: Duration = Duration::from_secs(60);

/// A boxed future, as returned by [`Check::run`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where and how a checker reaches its real server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The real server's own address and port (port 0 when it has none).
    pub server: SocketAddr,
    /// The address to probe: the real server's, overridden by `connect_ip`/`connect_port`.
    pub addr: SocketAddr,
    /// Source address (`bindto`).
    pub bindto: Option<IpAddr>,
    /// Source port (`bind_port`).
    pub bind_port: Option<u16>,
    /// Interface to bind to (`bind_if`).
    pub bind_if: Option<String>,
    /// Mark for outgoing packets (`fwmark`).
    pub fwmark: Option<u32>,
    /// `connect_timeout`: bounds a whole network transaction.
    pub connect_timeout: Duration,
}

impl Target {
    /// A target probing `addr` directly, with no bind options.
    pub fn new(addr: SocketAddr, connect_timeout: Duration) -> Target {
        Target {
            server: addr,
            addr,
            bindto: None,
            bind_port: None,
            bind_if: None,
            fwmark: None,
            connect_timeout,
        }
    }

    /// `addr`, with `port` used when the target's port is 0.
    pub fn addr_or_port(&self, port: u16) -> SocketAddr {
        let mut a = self.addr;
        if a.port() == 0 {
            a.set_port(port);
        }
        a
    }
}

/// The result of one check run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The server passed the check.
    pub ok: bool,
    /// What happened, for logs.
    pub detail: String,
    /// How long the run took.
    pub latency: Duration,
    /// A dynamic weight (MISC_CHECK `misc_dynamic`, FILE_CHECK), when the check sets one.
    pub weight: Option<i32>,
}

impl Outcome {
    /// A passed check.
    pub fn up(detail: impl Into<String>, latency: Duration) -> Outcome {
        Outcome {
            ok: true,
            detail: detail.into(),
            latency,
            weight: None,
        }
    }

    /// A failed check.
    pub fn down(detail: impl Into<String>, latency: Duration) -> Outcome {
        Outcome {
            ok: false,
            detail: detail.into(),
            latency,
            weight: None,
        }
    }

    /// An outcome from a result, timed from `start`.
    pub(crate) fn from_result(r: Result<String, String>, start: Instant) -> Outcome {
        match r {
            Ok(d) => Outcome::up(d, start.elapsed()),
            Err(d) => Outcome::down(d, start.elapsed()),
        }
    }

    /// Runs `probe` under the target's `connect_timeout`, timed: for checks
    /// whose whole exchange shares the one deadline.
    pub(crate) fn bounded<'a>(
        t: &'a Target,
        probe: impl Future<Output = Result<String, String>> + Send + 'a,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let start = Instant::now();
            let r = tokio::time::timeout(t.connect_timeout, probe)
                .await
                .unwrap_or_else(|_| Err("timed out".into()));
            Outcome::from_result(r, start)
        })
    }
}

/// One kind of health check.
pub trait Check: Send + Sync {
    /// The configuration keyword: `TCP_CHECK`, `HTTP_GET`, …
    fn kind(&self) -> &'static str;
    /// Runs the check once against `target`. It ends by itself within [`Check::max_duration`].
    fn run<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, Outcome>;
    /// The longest a run may take; the engine cancels a run that outlives it (plus a grace).
    fn max_duration(&self, target: &Target) -> Duration {
        target.connect_timeout
    }
    /// True when every run is bounded by construction (a timeout inside it):
    /// the engine then arms no guard timer of its own, one timer fewer per run,
    /// which counts at 10,000 checks a second.
    fn ends_by_itself(&self) -> bool {
        false
    }
}

/// Settings from outside the virtual_server block that some checkers need.
#[derive(Debug, Clone, Default)]
pub struct BuildContext {
    /// uid and gid of global `script_user` (None: run scripts as ourselves).
    pub script_user: Option<(u32, u32)>,
    /// Global `smtp_helo_name` (default: the local host name).
    pub smtp_helo_name: Option<String>,
    /// The `track_file` blocks, for FILE_CHECK.
    pub track_files: Vec<TrackFile>,
    /// The top-level `SSL { … }` block, for SSL_GET.
    pub ssl: Option<Ssl>,
    /// The half-open prober TCP_CHECKs share (`None`: they connect, as with
    /// global `tcp_check_full_connect`).
    pub half_open: Option<Arc<half_open::HalfOpen>>,
}

impl BuildContext {
    /// The context of a parsed configuration. An unknown `script_user` is an error.
    pub fn from_config(cfg: &Config) -> Result<BuildContext, String> {
        let script_user = match cfg.global_defs.script_user.as_deref() {
            Some(s) => {
                let w: Vec<String> = s.split_whitespace().map(str::to_string).collect();
                Some(misc::resolve_user(&w)?)
            }
            None => None,
        };
        Ok(BuildContext {
            script_user,
            smtp_helo_name: cfg.global_defs.smtp_helo_name.clone(),
            track_files: cfg.track_files.clone(),
            ssl: cfg.ssl.clone(),
            half_open: (!cfg.global_defs.tcp_check_full_connect)
                .then(|| Arc::new(half_open::HalfOpen::new())),
        })
    }
}

/// Makes the checker a `checker` block describes.
///
/// BFD_CHECK is not supported and gives an error, as does an unknown kind or a bad option
/// (an unparsable regex, an unknown user, a missing `misc_path`, …).
pub fn build(
    checker: &Checker,
    rs: &RealServer,
    vs: &VirtualServer,
    ctx: &BuildContext,
) -> Result<Box<dyn Check>, String> {
    Ok(match checker.kind.as_str() {
        "TCP_CHECK" => Box::new(tcp::TcpCheck::new(ctx.half_open.clone())),
        "HTTP_GET" | "SSL_GET" => Box::new(http::HttpCheck::from_model(checker, rs, vs, ctx)?),
        "MISC_CHECK" => Box::new(misc::MiscCheck::from_model(checker, rs, vs, ctx)?),
        "DNS_CHECK" => Box::new(dns::DnsCheck::from_model(checker)?),
        "SMTP_CHECK" => Box::new(smtp::SmtpCheck::from_model(checker, ctx)),
        "UDP_CHECK" => Box::new(udp::UdpCheck::from_model(checker)?),
        "PING_CHECK" => Box::new(ping::PingCheck),
        "FILE_CHECK" => Box::new(file::FileCheck::from_model(checker, ctx)?),
        "BFD_CHECK" => return Err("BFD_CHECK is not supported yet".into()),
        k => return Err(format!("unknown checker {k}")),
    })
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::MAX)
}

/// The port a real server is probed on: its own, else the virtual server's, else 0.
fn server_port(rs: &RealServer, vs: &VirtualServer) -> u16 {
    use keepalived_config::model::ServiceAddress;
    rs.port.unwrap_or(match vs.service {
        ServiceAddress::Ip { port, .. } => port,
        _ => 0,
    })
}

/// The [`Target`] of `checker` on `rs`: connection options of the checker, with the real
/// server's address and the inherited `connect_timeout` (checker, real server, virtual
/// server, else 5 s). A deprecated SMTP `host { … }` block's options apply on top.
pub fn target(checker: &Checker, rs: &RealServer, vs: &VirtualServer) -> Target {
    let server = SocketAddr::new(rs.address, server_port(rs, vs));
    let host = checker.hosts.first();
    let pick = |f: fn(&Checker) -> Option<IpAddr>| host.and_then(f).or(f(checker));
    let mut addr = server;
    if let Some(ip) = pick(|c| c.connect_ip) {
        addr.set_ip(ip);
    }
    if let Some(p) = host.and_then(|h| h.connect_port).or(checker.connect_port) {
        addr.set_port(p);
    }
    let connect_timeout = host
        .and_then(|h| h.connect_timeout)
        .or(checker.connect_timeout)
        .or(rs.connect_timeout)
        .or(vs.connect_timeout)
        .map(secs)
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    Target {
        server,
        addr,
        bindto: pick(|c| c.bindto),
        bind_port: host.and_then(|h| h.bind_port).or(checker.bind_port),
        bind_if: host
            .and_then(|h| h.bind_if.clone())
            .or(checker.bind_if.clone()),
        fwmark: host.and_then(|h| h.fwmark).or(checker.fwmark),
        connect_timeout,
    }
}

/// The scheduling of `checker` with keepalived's defaults (keepalived.conf(5)):
/// `delay_loop` 60 s; `retry` 1, but 3 for DNS_CHECK and 0 for MISC_CHECK;
/// `delay_before_retry` 1 s, but 3 s for HTTP_GET/SSL_GET and delay_loop for DNS_CHECK;
/// `alpha` off. Each inherits from the real server, then the virtual server.
/// An unset `warmup` spreads first runs evenly over delay_loop (see [`engine`]).
pub fn schedule(checker: &Checker, rs: &RealServer, vs: &VirtualServer) -> Schedule {
    let kind = checker.kind.as_str();
    let delay_loop = checker
        .delay_loop
        .or(rs.delay_loop)
        .or(vs.delay_loop)
        .map(secs)
        .unwrap_or(DEFAULT_DELAY_LOOP);
    let retry = checker
        .retry
        .or(rs.retry)
        .or(vs.retry)
        .unwrap_or(match kind {
            "DNS_CHECK" => 3,
            "MISC_CHECK" => 0,
            _ => 1,
        });
    let delay_before_retry = checker
        .delay_before_retry
        .or(rs.delay_before_retry)
        .or(vs.delay_before_retry)
        .map(secs)
        .unwrap_or(match kind {
            "DNS_CHECK" => delay_loop,
            "HTTP_GET" | "SSL_GET" => Duration::from_secs(3),
            _ => Duration::from_secs(1),
        });
    Schedule {
        delay_loop,
        retry,
        delay_before_retry,
        warmup: checker.warmup.or(rs.warmup).or(vs.warmup).map(secs),
        alpha: checker.alpha.or(rs.alpha).or(vs.alpha).unwrap_or(false),
    }
}

/// Everything the engine needs to run `checker` on `rs`.
pub fn checker_spec(
    checker: &Checker,
    rs: &RealServer,
    vs: &VirtualServer,
    ctx: &BuildContext,
) -> Result<CheckerSpec, String> {
    Ok(CheckerSpec {
        check: Arc::from(build(checker, rs, vs, ctx)?),
        target: target(checker, rs, vs),
        schedule: schedule(checker, rs, vs),
    })
}

/// The engine's input for a whole configuration: one [`ServerSpec`] per real server (indices
/// as in `cfg.virtual_servers[vs].real_servers[rs]`), and one message for each checker that
/// could not be built (it is left out; keepalived also ignores such checkers).
pub fn server_specs(cfg: &Config, ctx: &BuildContext) -> (Vec<ServerSpec>, Vec<String>) {
    let mut specs = Vec::new();
    let mut errors = Vec::new();
    for (vi, vs) in cfg.virtual_servers.iter().enumerate() {
        for (ri, rs) in vs.real_servers.iter().enumerate() {
            let mut checkers = Vec::new();
            for c in &rs.checkers {
                match checker_spec(c, rs, vs, ctx) {
                    Ok(s) => checkers.push(s),
                    Err(e) => errors.push(format!(
                        "virtual_server #{vi} real_server {} {}: {e}",
                        rs.address, c.kind
                    )),
                }
            }
            specs.push(ServerSpec {
                vs: vi,
                rs: ri,
                checkers,
            });
        }
    }
    (specs, errors)
}
