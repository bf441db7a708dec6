//! Prometheus metrics (off by default; on with `metrics_listen` in `global_defs`).
//! `GET /metrics` answers in the OpenMetrics text format: what the shared
//! [`Status`] says, rendered at scrape time, plus what only [`Metrics`] keeps
//! (checker latencies and results).
//!
//! [`Status`]: crate::state::Status

use crate::state::{self, Shared, Status};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use keepalived_config::model::GlobalDefs;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Label pairs of one series.
type Labels = Vec<(String, String)>;

/// The VRRP states `keepalived_rs_vrrp_state` has a series for.
pub const VRRP_STATES: [&str; 5] = ["INIT", "BACKUP", "MASTER", "FAULT", "STOP"];

/// Concurrent scrape connections; more wait.
const MAX_CONNECTIONS: usize = 16;
/// How long a client may take to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn new_histogram() -> Histogram {
    // 1 ms … ~16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// One checker's series (handles on the families' metrics).
#[derive(Clone)]
struct Series {
    duration: Histogram,
    success: Counter,
    failure: Counter,
}

impl Series {
    fn observe(&self, ok: bool, seconds: f64) {
        self.duration.observe(seconds.max(0.0));
        if ok { &self.success } else { &self.failure }.inc();
    }
}

/// One real server's series, by checker kind.
type Kinds = Vec<(&'static str, Series)>;

/// The checker series of one configuration, by (virtual server, real server,
/// kind) index; made by [`Metrics::checkers`] after [`Metrics::clear`]. Indexed,
/// not hashed: at 10,000 checks a second each lookup is a cache miss already.
pub struct CheckerSeries {
    metrics: Arc<Metrics>,
    names: Vec<(String, Vec<String>)>,
    /// `[vs][rs]`: the series of each checker kind seen so far.
    series: std::sync::Mutex<Vec<Vec<Kinds>>>,
}

impl CheckerSeries {
    /// One finished check of real server `rs` of virtual server `vs` (indices)
    /// by a checker of `kind` (e.g. "HTTP_GET"), taking `seconds`.
    pub fn observe(&self, vs: usize, rs: usize, kind: &'static str, ok: bool, seconds: f64) {
        let mut m = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let Some(kinds) = m.get_mut(vs).and_then(|v| v.get_mut(rs)) else {
            return;
        };
        let i = match kinds.iter().position(|(k, _)| *k == kind) {
            Some(i) => i,
            None => {
                let (v, rss) = &self.names[vs];
                kinds.push((kind, self.metrics.series(v, &rss[rs], kind)));
                kinds.len() - 1
            }
        };
        kinds[i].1.observe(ok, seconds);
    }
}

/// What the checkers report that the status does not keep.
#[derive(Debug)]
pub struct Metrics {
    check_duration: Family<Labels, Histogram, fn() -> Histogram>,
    checks: Family<Labels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        Metrics {
            check_duration: Family::new_with_constructor(new_histogram),
            checks: Family::default(),
        }
    }

    /// The series of one checker, to keep: looking one up by its labels costs
    /// a dozen allocations and string compares, too much for every check.
    fn series(&self, vs: &str, rs: &str, kind: &str) -> Series {
        let result = |r: &str| labels(&[("vs", vs), ("rs", rs), ("kind", kind), ("result", r)]);
        // One statement each: get_or_create returns a read guard, and a
        // second call that inserts while the first guard lives would deadlock.
        let duration = self
            .check_duration
            .get_or_create(&labels(&[("vs", vs), ("rs", rs), ("kind", kind)]))
            .clone();
        let success = self.checks.get_or_create(&result("success")).clone();
        let failure = self.checks.get_or_create(&result("failure")).clone();
        Series {
            duration,
            success,
            failure,
        }
    }

    /// The checker series of one configuration, found once each.
    /// `names[vs]` is a virtual server's name and its real servers' names.
    pub fn checkers(self: &Arc<Self>, names: Vec<(String, Vec<String>)>) -> CheckerSeries {
        let series = names
            .iter()
            .map(|(_, rss)| rss.iter().map(|_| Vec::new()).collect())
            .collect();
        CheckerSeries {
            metrics: self.clone(),
            names,
            series: std::sync::Mutex::new(series),
        }
    }

    /// Forgets every checker series (after a reload removed servers).
    pub fn clear(&self) {
        self.check_duration.clear();
        self.checks.clear();
    }

    /// The metrics page for a status.
    pub fn render(&self, s: &Status) -> String {
        let mut reg = Registry::with_prefix("keepalived_rs");
        reg.register_with_unit(
            "check_duration",
            "How long real server checks took",
            Unit::Seconds,
            self.check_duration.clone(),
        );
        reg.register(
            "checks",
            "Real server checks, by result",
            self.checks.clone(),
        );
        register_status(&mut reg, s);
        let mut out = String::new();
        if let Err(e) = encode(&mut out, &reg) {
            tracing::warn!("metrics: encoding failed: {e}");
        }
        out
    }
}

fn counter(v: u64) -> Counter {
    let c = Counter::default();
    c.inc_by(v);
    c
}

fn gauge(v: i64) -> Gauge {
    let g = Gauge::default();
    g.set(v);
    g
}

/// Registers the status's metrics (fresh ones, valid for this scrape).
fn register_status(reg: &mut Registry, s: &Status) {
    let state: Family<Labels, Gauge> = Family::default();
    let prio: Family<Labels, Gauge> = Family::default();
    let eprio: Family<Labels, Gauge> = Family::default();
    let transitions: Family<Labels, Counter> = Family::default();
    let became_master: Family<Labels, Counter> = Family::default();
    let rx: Family<Labels, Counter> = Family::default();
    let tx: Family<Labels, Counter> = Family::default();
    let drops: Family<Labels, Counter> = Family::default();
    for i in &s.instances {
        let inst = labels(&[("instance", &i.name)]);
        for st in VRRP_STATES {
            state
                .get_or_create(&labels(&[("instance", &i.name), ("state", st)]))
                .set(i64::from(i.state.eq_ignore_ascii_case(st)));
        }
        prio.get_or_create(&inst).set(i64::from(i.priority));
        eprio
            .get_or_create(&inst)
            .set(i64::from(i.effective_priority));
        transitions.get_or_create(&inst).inc_by(i.transitions_total);
        became_master.get_or_create(&inst).inc_by(i.became_master);
        rx.get_or_create(&inst).inc_by(i.adverts_rx);
        tx.get_or_create(&inst).inc_by(i.adverts_tx);
        for (reason, n) in &i.drops {
            drops
                .get_or_create(&labels(&[("instance", &i.name), ("reason", reason)]))
                .inc_by(*n);
        }
    }
    for (reason, n) in &s.vrrp_drops {
        drops
            .get_or_create(&labels(&[("instance", ""), ("reason", reason)]))
            .inc_by(*n);
    }
    reg.register(
        "vrrp_state",
        "1 for the VRRP instance's current state, 0 for the others",
        state,
    );
    reg.register("vrrp_priority", "Configured VRRP priority", prio);
    reg.register(
        "vrrp_effective_priority",
        "VRRP priority after tracking",
        eprio,
    );
    reg.register("vrrp_transitions", "VRRP state transitions", transitions);
    reg.register(
        "vrrp_became_master",
        "Times the VRRP instance became master",
        became_master,
    );
    reg.register("vrrp_adverts_received", "VRRP adverts received", rx);
    reg.register("vrrp_adverts_sent", "VRRP adverts sent", tx);
    reg.register(
        "vrrp_drops",
        "Received VRRP packets dropped, by reason (instance \"\": before any instance)",
        drops,
    );

    let up: Family<Labels, Gauge> = Family::default();
    let weight: Family<Labels, Gauge> = Family::default();
    let quorum: Family<Labels, Gauge> = Family::default();
    for vs in &s.virtual_servers {
        quorum
            .get_or_create(&labels(&[("vs", &vs.name)]))
            .set(i64::from(vs.quorum_up));
        for rs in &vs.real_servers {
            let l = labels(&[("vs", &vs.name), ("rs", &rs.address)]);
            up.get_or_create(&l).set(i64::from(rs.up));
            weight.get_or_create(&l).set(i64::from(rs.weight));
        }
    }
    reg.register("real_server_up", "1 if the real server is up", up);
    reg.register("real_server_weight", "Real server weight", weight);
    reg.register(
        "virtual_server_quorum_up",
        "1 if the virtual server has its quorum",
        quorum,
    );

    let dp = &s.dataplane;
    reg.register(
        "dataplane_operations",
        "Data plane operations",
        counter(dp.operations),
    );
    reg.register(
        "dataplane_transactions",
        "Data plane transactions",
        counter(dp.transactions),
    );
    reg.register("dataplane_errors", "Data plane errors", counter(dp.errors));
    reg.register("mail_sent", "Mail alerts sent", counter(s.mail.sent));
    reg.register(
        "mail_failed",
        "Mail alerts that failed",
        counter(s.mail.failed),
    );
    reg.register(
        "mail_dropped",
        "Mail alerts dropped on a full queue",
        counter(s.mail.dropped),
    );
    reg.register("reloads", "Configuration reloads", counter(s.reloads));
    reg.register(
        "reload_failures",
        "Configuration reloads that failed",
        counter(s.reload_failures),
    );
    reg.register(
        "start_time_seconds",
        "When the daemon started, seconds since the epoch",
        gauge(s.started as i64),
    );
}

/// The addresses of `metrics_listen`: each word `ADDR:PORT`, `[V6ADDR]:PORT` or
/// a bare `PORT` (on 127.0.0.1). None: metrics off.
pub fn listen_addrs(g: &GlobalDefs) -> Result<Vec<SocketAddr>, String> {
    let mut out = Vec::new();
    for w in &g.metrics_listen {
        let a = if let Ok(port) = w.parse::<u16>() {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
        } else {
            w.parse::<SocketAddr>().map_err(|_| {
                format!("metrics_listen: {w:?} is not ADDR:PORT, [IPv6]:PORT or PORT")
            })?
        };
        if a.port() == 0 {
            return Err(format!("metrics_listen: {w:?}: port 0"));
        }
        if !out.contains(&a) {
            out.push(a);
        }
    }
    Ok(out)
}

/// Serves `/metrics` on every address (returns only if binding fails).
pub async fn serve(
    addrs: Vec<SocketAddr>,
    status: Shared,
    metrics: Arc<Metrics>,
) -> io::Result<()> {
    let mut listeners = Vec::new();
    for a in addrs {
        let l = TcpListener::bind(a)
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("metrics_listen {a}: {e}")))?;
        listeners.push(l);
    }
    serve_listeners(listeners, status, metrics).await
}

/// Serves `/metrics` on bound listeners, forever.
pub async fn serve_listeners(
    listeners: Vec<TcpListener>,
    status: Shared,
    metrics: Arc<Metrics>,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let loops = listeners.into_iter().map(|l| {
        let (status, metrics, slots) = (status.clone(), metrics.clone(), slots.clone());
        Box::pin(accept_loop(l, status, metrics, slots))
    });
    futures::future::try_join_all(loops).await.map(|_| ())
}

async fn accept_loop(
    listener: TcpListener,
    status: Shared,
    metrics: Arc<Metrics>,
    slots: Arc<Semaphore>,
) -> io::Result<()> {
    loop {
        let permit = slots.clone().acquire_owned().await.expect("never closed");
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // Out of descriptors and the like: transient, keep serving.
                tracing::warn!("metrics: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (status, metrics) = (status.clone(), metrics.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let svc = hyper::service::service_fn(move |req| {
                let r = respond(&req, &status, &metrics);
                async move { Ok::<_, Infallible>(r) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc);
            if let Err(e) = conn.await {
                tracing::debug!("metrics connection: {e}");
            }
        });
    }
}

fn respond(req: &Request<Incoming>, status: &Shared, metrics: &Metrics) -> Response<Full<Bytes>> {
    let plain = |code: StatusCode, text: &'static str| {
        let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
        *r.status_mut() = code;
        r.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        r
    };
    if req.uri().path() != "/metrics" {
        return plain(StatusCode::NOT_FOUND, "not found; try /metrics\n");
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "GET only\n");
        r.headers_mut().insert(
            hyper::header::ALLOW,
            hyper::header::HeaderValue::from_static("GET, HEAD"),
        );
        return r;
    }
    let body = metrics.render(&state::snapshot(status));
    let mut r = Response::new(Full::new(Bytes::from(body)));
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(CONTENT_TYPE),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{InstanceStatus, RealServerStatus, VirtualServerStatus};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn sample() -> Status {
        Status {
            reloads: 3,
            instances: vec![InstanceStatus {
                name: "VI_1".into(),
                state: "BACKUP".into(),
                priority: 100,
                effective_priority: 90,
                transitions_total: 4,
                adverts_rx: 7,
                adverts_tx: 2,
                drops: [("auth".to_string(), 5)].into_iter().collect(),
                ..Default::default()
            }],
            vrrp_drops: [("checksum".to_string(), 2)].into_iter().collect(),
            virtual_servers: vec![VirtualServerStatus {
                name: "[10.0.0.100]:tcp:80".into(),
                quorum_up: true,
                real_servers: vec![RealServerStatus {
                    address: "[192.168.1.10]:tcp:8080".into(),
                    up: true,
                    weight: 3,
                    ..Default::default()
                }],
            }],
            dataplane: crate::state::DataplaneStatus {
                backend: "nftables".into(),
                operations: 11,
                transactions: 6,
                errors: 1,
            },
            mail: crate::state::MailStatus {
                sent: 8,
                failed: 9,
                dropped: 10,
            },
            ..Default::default()
        }
    }

    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut out = String::new();
        tokio::time::timeout(Duration::from_secs(10), s.read_to_string(&mut out))
            .await
            .unwrap()
            .unwrap();
        out
    }

    #[tokio::test]
    async fn scrape() {
        let status = Shared::default();
        state::update(&status, |s| *s = sample());
        let metrics = Arc::new(Metrics::new());
        // A configuration whose servers are gone after a reload leaves no series.
        let old = metrics.checkers(vec![("old".into(), vec!["gone".into()])]);
        old.observe(0, 0, "TCP_CHECK", true, 0.001);
        metrics.clear();
        let series = metrics.checkers(vec![(
            "[10.0.0.100]:tcp:80".into(),
            vec!["[192.168.1.10]:tcp:8080".into()],
        )]);
        series.observe(0, 0, "HTTP_GET", true, 0.003);
        series.observe(0, 0, "HTTP_GET", false, 2.0);
        series.observe(0, 1, "HTTP_GET", false, 2.0); // no such real server: ignored
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(serve_listeners(vec![l], status.clone(), metrics.clone()));

        let page = get(addr, "/metrics").await;
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
        assert!(page.contains("application/openmetrics-text"), "{page}");
        let vs = r#"vs="[10.0.0.100]:tcp:80""#;
        let rs = r#"rs="[192.168.1.10]:tcp:8080""#;
        for line in [
            r#"keepalived_rs_vrrp_state{instance="VI_1",state="BACKUP"} 1"#.to_string(),
            r#"keepalived_rs_vrrp_state{instance="VI_1",state="MASTER"} 0"#.to_string(),
            r#"keepalived_rs_vrrp_state{instance="VI_1",state="INIT"} 0"#.to_string(),
            r#"keepalived_rs_vrrp_state{instance="VI_1",state="FAULT"} 0"#.to_string(),
            r#"keepalived_rs_vrrp_state{instance="VI_1",state="STOP"} 0"#.to_string(),
            r#"keepalived_rs_vrrp_priority{instance="VI_1"} 100"#.to_string(),
            r#"keepalived_rs_vrrp_effective_priority{instance="VI_1"} 90"#.to_string(),
            r#"keepalived_rs_vrrp_transitions_total{instance="VI_1"} 4"#.to_string(),
            r#"keepalived_rs_vrrp_adverts_received_total{instance="VI_1"} 7"#.to_string(),
            r#"keepalived_rs_vrrp_adverts_sent_total{instance="VI_1"} 2"#.to_string(),
            r#"keepalived_rs_vrrp_drops_total{instance="VI_1",reason="auth"} 5"#.to_string(),
            r#"keepalived_rs_vrrp_drops_total{instance="",reason="checksum"} 2"#.to_string(),
            format!("keepalived_rs_real_server_up{{{vs},{rs}}} 1"),
            format!("keepalived_rs_real_server_weight{{{vs},{rs}}} 3"),
            format!("keepalived_rs_virtual_server_quorum_up{{{vs}}} 1"),
            "keepalived_rs_dataplane_operations_total 11".to_string(),
            "keepalived_rs_dataplane_transactions_total 6".to_string(),
            "keepalived_rs_dataplane_errors_total 1".to_string(),
            "keepalived_rs_mail_sent_total 8".to_string(),
            "keepalived_rs_mail_failed_total 9".to_string(),
            "keepalived_rs_mail_dropped_total 10".to_string(),
            "keepalived_rs_reloads_total 3".to_string(),
            "# TYPE keepalived_rs_check_duration_seconds histogram".to_string(),
            format!(r#"keepalived_rs_check_duration_seconds_count{{{vs},{rs},kind="HTTP_GET"}} 2"#),
            format!(
                r#"keepalived_rs_check_duration_seconds_bucket{{le="0.004",{vs},{rs},kind="HTTP_GET"}} 1"#
            ),
            format!(
                r#"keepalived_rs_checks_total{{{vs},{rs},kind="HTTP_GET",result="success"}} 1"#
            ),
            format!(
                r#"keepalived_rs_checks_total{{{vs},{rs},kind="HTTP_GET",result="failure"}} 1"#
            ),
            "# EOF".to_string(),
        ] {
            assert!(
                page.lines().any(|l| l == line),
                "missing {line:?} in\n{page}"
            );
        }

        assert!(!page.contains("gone"), "{page}");

        // The page follows the status.
        state::update(&status, |s| s.instances[0].state = "MASTER".into());
        let page = get(addr, "/metrics").await;
        assert!(page.contains("keepalived_rs_vrrp_state{instance=\"VI_1\",state=\"MASTER\"} 1\n"));

        let page = get(addr, "/").await;
        assert!(page.starts_with("HTTP/1.1 404"), "{page}");
        let page = get(addr, "/metricsx").await;
        assert!(page.starts_with("HTTP/1.1 404"), "{page}");
    }

    #[test]
    fn listen_words() {
        let g = |w: &[&str]| GlobalDefs {
            metrics_listen: w.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        assert_eq!(listen_addrs(&g(&[])).unwrap(), vec![]);
        assert_eq!(
            listen_addrs(&g(&["9650", "0.0.0.0:9100", "[::1]:9101", "9650"])).unwrap(),
            vec![
                "127.0.0.1:9650".parse::<SocketAddr>().unwrap(),
                "0.0.0.0:9100".parse().unwrap(),
                "[::1]:9101".parse().unwrap(),
            ]
        );
        assert!(listen_addrs(&g(&["localhost:9100"])).is_err());
        assert!(listen_addrs(&g(&["::1:9100"])).is_err());
        assert!(listen_addrs(&g(&["0"])).is_err());
        assert!(listen_addrs(&g(&["70000"])).is_err());
    }
}
