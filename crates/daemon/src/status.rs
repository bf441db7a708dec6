//! The control socket: a unix stream socket (root only) where each connection
//! sends one line, `status` or `status json`, and gets the daemon's [`Status`] as
//! JSON. The `status` subcommand is its client: it prints the JSON as is or a
//! readable view of it.
//!
//! [`Status`]: crate::state::Status

use crate::state::{self, Shared};
use serde_json::Value;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

/// Where the daemon listens unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/run/keepalived-rs.sock";

/// Longest request line.
const MAX_LINE: usize = 256;
/// How long a client may take to send its line or read the answer.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest answer the client reads.
const MAX_ANSWER: u64 = 64 << 20;

/// Binds the control socket at `path`: a stale socket file is removed first (a
/// live one, or any other kind of file, is an error); the socket is made mode
/// 0600. [`serve_listener`] refuses users other than root and the daemon's own.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            // Another daemon's live socket is not ours to take.
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{} is in use by another daemon", path.display()),
                ));
            }
            std::fs::remove_file(path)?
        }
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serves an already bound socket, forever.
pub async fn serve_listener(listener: UnixListener, status: Shared) -> io::Result<()> {
    let me = nix::unistd::geteuid().as_raw();
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // Out of descriptors and the like: transient, keep serving.
                tracing::warn!("status socket: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        match stream.peer_cred() {
            Ok(c) if c.uid() == 0 || c.uid() == me => {}
            Ok(c) => {
                tracing::warn!("status socket: refused uid {}", c.uid());
                continue;
            }
            Err(e) => {
                tracing::warn!("status socket: peer credentials: {e}");
                continue;
            }
        }
        let status = status.clone();
        tokio::spawn(async move {
            if let Err(e) = session(stream, status).await {
                tracing::debug!("status socket: {e}");
            }
        });
    }
}

/// The answer to one request line.
fn answer(line: &str, status: &Shared) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["status"] | ["status", "json"] => {
            let snap = state::snapshot(status);
            serde_json::to_string(&snap)
                .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }).to_string())
        }
        _ => serde_json::json!({ "error": format!("unknown command {line:?}") }).to_string(),
    }
}

async fn session(stream: UnixStream, status: Shared) -> io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut line = Vec::new();
    let mut r = BufReader::new(r).take(MAX_LINE as u64 + 1);
    let read = tokio::time::timeout(IO_TIMEOUT, r.read_until(b'\n', &mut line)).await;
    match read {
        Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "no request")),
        Ok(r) => r?,
    };
    let text = if line.len() > MAX_LINE {
        serde_json::json!({ "error": "request too long" }).to_string()
    } else {
        answer(String::from_utf8_lossy(&line).trim(), &status)
    };
    let write = async {
        w.write_all(text.as_bytes()).await?;
        w.write_all(b"\n").await?;
        w.shutdown().await
    };
    tokio::time::timeout(IO_TIMEOUT, write)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "client not reading"))?
}

/// Why the client got no status.
#[derive(Debug)]
pub enum FetchError {
    /// No daemon listens at the socket.
    NotRunning(PathBuf),
    Other(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::NotRunning(p) => write!(
                f,
                "keepalived-rs is not running (nothing listens on {})",
                p.display()
            ),
            FetchError::Other(e) => f.write_str(e),
        }
    }
}

/// Asks the daemon for its status; the JSON text.
pub fn fetch(socket: &Path) -> Result<String, FetchError> {
    let mut s = std::os::unix::net::UnixStream::connect(socket).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
            FetchError::NotRunning(socket.to_path_buf())
        }
        io::ErrorKind::PermissionDenied => FetchError::Other(format!(
            "{}: permission denied (the status socket is root only)",
            socket.display()
        )),
        _ => FetchError::Other(format!("{}: {e}", socket.display())),
    })?;
    let io_err = |e: io::Error| FetchError::Other(format!("{}: {e}", socket.display()));
    s.set_read_timeout(Some(IO_TIMEOUT)).map_err(io_err)?;
    s.set_write_timeout(Some(IO_TIMEOUT)).map_err(io_err)?;
    s.write_all(b"status json\n").map_err(io_err)?;
    let mut text = String::new();
    s.take(MAX_ANSWER)
        .read_to_string(&mut text)
        .map_err(io_err)?;
    let text = text.trim_end().to_string();
    if text.is_empty() {
        return Err(FetchError::Other(format!(
            "{}: the daemon closed the connection without an answer",
            socket.display()
        )));
    }
    Ok(text)
}

/// Fetches the status and renders it: the JSON as is, or the text view.
pub fn fetch_and_render(socket: &Path, json: bool) -> Result<String, FetchError> {
    let text = fetch(socket)?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| FetchError::Other(format!("bad answer from the daemon: {e}")))?;
    if let Some(e) = v.get("error").and_then(Value::as_str) {
        return Err(FetchError::Other(format!("the daemon says: {e}")));
    }
    Ok(if json { text } else { render(&v, state::now()) })
}

/// The `status` subcommand.
pub fn status_command(socket: &Path, json: bool) -> ExitCode {
    match fetch_and_render(socket, json) {
        Ok(out) => {
            let mut o = io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth a message.
            let _ = writeln!(o, "{}", out.trim_end());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("keepalived-rs: {e}");
            ExitCode::FAILURE
        }
    }
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn u(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(Value::as_u64).unwrap_or(0)
}

fn f(v: &Value, k: &str) -> Option<f64> {
    v.get(k).and_then(Value::as_f64)
}

fn arr<'a>(v: &'a Value, k: &str) -> &'a [Value] {
    v.get(k)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Non-zero counters of a `{reason: count}` map, as `reason=N, …`.
fn counters(v: Option<&Value>) -> String {
    let Some(m) = v.and_then(Value::as_object) else {
        return String::new();
    };
    m.iter()
        .filter_map(|(k, n)| n.as_u64().filter(|&n| n > 0).map(|n| format!("{k}={n}")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `3d 04:05:06` style.
fn duration(secs: f64) -> String {
    let t = secs.max(0.0) as u64;
    let (d, h, m, s) = (t / 86400, t / 3600 % 24, t / 60 % 60, t % 60);
    if d > 0 {
        format!("{d}d {h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

/// Left-aligned columns, two spaces apart, each line indented by two.
fn table(out: &mut String, rows: &[Vec<String>]) {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |x| x.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let mut line = String::from("  ");
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == r.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ", w = widths[c]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

/// The text view of a status JSON value, `now` being seconds since the epoch.
pub fn render(v: &Value, now: f64) -> String {
    let mut o = String::new();
    let started = f(v, "started").unwrap_or(now);
    let _ = writeln!(
        o,
        "keepalived-rs {}  pid {}  up {}",
        s(v, "version"),
        u(v, "pid"),
        duration(now - started)
    );
    let router_id = v.get("router_id").and_then(Value::as_str).unwrap_or("-");
    let _ = writeln!(o, "router_id {router_id}  config {}", s(v, "config_file"));
    let _ = writeln!(
        o,
        "reloads {} ({} failed)",
        u(v, "reloads"),
        u(v, "reload_failures")
    );

    let instances = arr(v, "instances");
    let _ = writeln!(o, "\nVRRP instances: {}", instances.len());
    if !instances.is_empty() {
        let mut rows = vec![[
            "NAME",
            "INTERFACE",
            "VRID",
            "STATE",
            "PRIO",
            "MASTER",
            "VIPS",
            "TRANSITIONS",
            "LAST",
        ]
        .map(String::from)
        .to_vec()];
        for i in instances {
            let last = arr(i, "transitions")
                .last()
                .map(|t| {
                    format!(
                        "{}->{} {} ago: {}",
                        s(t, "from"),
                        s(t, "to"),
                        duration(now - f(t, "at").unwrap_or(now)),
                        s(t, "reason")
                    )
                })
                .unwrap_or_else(|| "-".into());
            let vips: Vec<&str> = arr(i, "vips").iter().filter_map(Value::as_str).collect();
            rows.push(vec![
                s(i, "name").to_string(),
                s(i, "interface").to_string(),
                u(i, "vrid").to_string(),
                s(i, "state").to_string(),
                format!("{}/{}", u(i, "priority"), u(i, "effective_priority")),
                i.get("master")
                    .and_then(Value::as_str)
                    .unwrap_or("-")
                    .to_string(),
                if vips.is_empty() {
                    "-".into()
                } else {
                    vips.join(",")
                },
                u(i, "transitions_total").to_string(),
                last,
            ]);
        }
        table(&mut o, &rows);
        for i in instances {
            let d = counters(i.get("drops"));
            if !d.is_empty() {
                let _ = writeln!(o, "  {} dropped adverts: {d}", s(i, "name"));
            }
        }
    }
    let d = counters(v.get("vrrp_drops"));
    if !d.is_empty() {
        let _ = writeln!(o, "  VRRP packets dropped before any instance: {d}");
    }

    let vss = arr(v, "virtual_servers");
    let _ = writeln!(o, "\nVirtual servers: {}", vss.len());
    for vs in vss {
        let rss = arr(vs, "real_servers");
        let up = rss
            .iter()
            .filter(|r| r.get("up").and_then(Value::as_bool) == Some(true))
            .count();
        let quorum = if vs.get("quorum_up").and_then(Value::as_bool) == Some(true) {
            "quorum up"
        } else {
            "quorum DOWN"
        };
        let _ = writeln!(o, "  {}  {up}/{} up, {quorum}", s(vs, "name"), rss.len());
        let mut rows = Vec::new();
        for r in rss {
            let latency = f(r, "last_latency_ms")
                .map(|ms| format!("{ms:.1} ms"))
                .unwrap_or_else(|| "-".into());
            rows.push(vec![
                format!("  {}", s(r, "address")),
                if r.get("up").and_then(Value::as_bool) == Some(true) {
                    "UP".into()
                } else {
                    "DOWN".into()
                },
                format!("weight {}", u(r, "weight")),
                format!("ok {} failed {}", u(r, "checks_ok"), u(r, "checks_failed")),
                latency,
                r.get("last_check")
                    .and_then(Value::as_str)
                    .unwrap_or("-")
                    .to_string(),
            ]);
        }
        table(&mut o, &rows);
    }

    let dp = v.get("dataplane").cloned().unwrap_or(Value::Null);
    let backend = match s(&dp, "backend") {
        "" => "-",
        b => b,
    };
    let _ = writeln!(
        o,
        "\nData plane: {backend}  operations {}  transactions {}  errors {}",
        u(&dp, "operations"),
        u(&dp, "transactions"),
        u(&dp, "errors")
    );
    let m = v.get("mail").cloned().unwrap_or(Value::Null);
    let _ = writeln!(
        o,
        "Mail alerts: sent {}  failed {}  dropped {}",
        u(&m, "sent"),
        u(&m, "failed"),
        u(&m, "dropped")
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{
        InstanceStatus, MailStatus, RealServerStatus, Status, Transition, VirtualServerStatus,
    };

    fn sample() -> Status {
        let mut drops = std::collections::BTreeMap::new();
        drops.insert("auth".to_string(), 3);
        drops.insert("ttl".to_string(), 0);
        Status {
            version: "0.1.0".into(),
            pid: 4242,
            started: state::now() - 3725.0,
            router_id: Some("lb1".into()),
            config_file: "/etc/keepalived/keepalived.conf".into(),
            reloads: 2,
            reload_failures: 1,
            instances: vec![InstanceStatus {
                name: "VI_1".into(),
                interface: "eth0".into(),
                vrid: 51,
                state: "MASTER".into(),
                priority: 150,
                effective_priority: 140,
                master: Some("10.0.0.1".into()),
                vips: vec!["10.0.0.100/24".into(), "10.0.0.101/24".into()],
                transitions: vec![Transition {
                    at: state::now() - 60.0,
                    from: "BACKUP".into(),
                    to: "MASTER".into(),
                    reason: "master down timer".into(),
                }],
                transitions_total: 2,
                adverts_rx: 10,
                adverts_tx: 20,
                became_master: 1,
                drops,
                ..Default::default()
            }],
            vrrp_drops: [("bad checksum".to_string(), 5)].into_iter().collect(),
            virtual_servers: vec![VirtualServerStatus {
                name: "[10.0.0.100]:tcp:80".into(),
                quorum_up: true,
                real_servers: vec![
                    RealServerStatus {
                        address: "[192.168.1.10]:tcp:8080".into(),
                        up: true,
                        weight: 3,
                        last_check: Some("HTTP 200".into()),
                        last_latency_ms: Some(1.25),
                        checks_ok: 7,
                        checks_failed: 0,
                    },
                    RealServerStatus {
                        address: "[192.168.1.11]:tcp:8080".into(),
                        up: false,
                        weight: 1,
                        last_check: Some("connection refused".into()),
                        last_latency_ms: None,
                        checks_ok: 0,
                        checks_failed: 4,
                    },
                ],
            }],
            dataplane: crate::state::DataplaneStatus {
                backend: "ipvs".into(),
                operations: 12,
                transactions: 3,
                errors: 0,
            },
            mail: MailStatus {
                sent: 1,
                failed: 2,
                dropped: 0,
            },
        }
    }

    #[tokio::test]
    async fn serves_and_renders() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ka.sock");
        // A stale socket file from an earlier run is replaced.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let status: Shared = Shared::default();
        state::update(&status, |s| *s = sample());
        tokio::spawn(serve_listener(bind(&path).unwrap(), status.clone()));
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::os::unix::net::UnixStream::connect(&path).is_err() {
            assert!(std::time::Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);

        let p = path.clone();
        let (json, text) = tokio::task::spawn_blocking(move || {
            (
                fetch_and_render(&p, true).unwrap(),
                fetch_and_render(&p, false).unwrap(),
            )
        })
        .await
        .unwrap();
        // The JSON is the snapshot's.
        // Both sides go through the same text parse: floats compare exactly.
        let got: Value = serde_json::from_str(&json).unwrap();
        let want: Value =
            serde_json::from_str(&serde_json::to_string(&state::snapshot(&status)).unwrap())
                .unwrap();
        assert_eq!(got, want);

        assert!(
            text.contains("keepalived-rs 0.1.0  pid 4242  up 01:02:0"),
            "{text}"
        );
        assert!(text.contains("router_id lb1"), "{text}");
        assert!(text.contains("reloads 2 (1 failed)"), "{text}");
        let vi = text.lines().find(|l| l.contains("VI_1  eth0")).unwrap();
        for w in [
            "51",
            "MASTER",
            "150/140",
            "10.0.0.1",
            "10.0.0.100/24,10.0.0.101/24",
            "BACKUP->MASTER",
            "master down timer",
        ] {
            assert!(vi.contains(w), "{w} in {vi}");
        }
        assert!(text.contains("VI_1 dropped adverts: auth=3\n"), "{text}");
        assert!(
            text.contains("before any instance: bad checksum=5"),
            "{text}"
        );
        assert!(
            text.contains("[10.0.0.100]:tcp:80  1/2 up, quorum up"),
            "{text}"
        );
        let rs = text.lines().find(|l| l.contains("192.168.1.10]")).unwrap();
        for w in ["UP", "weight 3", "1.2 ms", "HTTP 200"] {
            assert!(rs.contains(w), "{w} in {rs}");
        }
        let rs = text.lines().find(|l| l.contains("192.168.1.11]")).unwrap();
        assert!(
            rs.contains("DOWN") && rs.contains("connection refused"),
            "{rs}"
        );
        assert!(text.contains("Data plane: ipvs  operations 12  transactions 3  errors 0"));
        assert!(text.contains("Mail alerts: sent 1  failed 2  dropped 0"));

        // Unknown commands and overlong lines get an error, not a hang.
        let p = path.clone();
        let answers = tokio::task::spawn_blocking(move || {
            ["bogus\n".to_string(), "x".repeat(10_000)].map(|req| {
                let mut s = std::os::unix::net::UnixStream::connect(&p).unwrap();
                let _ = s.write_all(req.as_bytes());
                let _ = s.shutdown(std::net::Shutdown::Write);
                // The daemon may close with part of the request unread (a reset
                // after the answer): keep what was read.
                let mut a = Vec::new();
                let _ = s.read_to_end(&mut a);
                String::from_utf8_lossy(&a).into_owned()
            })
        })
        .await
        .unwrap();
        assert!(answers[0].contains("unknown command"), "{}", answers[0]);
        assert!(answers[1].contains("too long"), "{}", answers[1]);
    }

    #[test]
    fn not_running() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.sock");
        let e = fetch_and_render(&missing, false).unwrap_err();
        assert!(matches!(e, FetchError::NotRunning(_)), "{e}");
        assert!(e.to_string().contains("not running"));
        // A socket file nobody listens on: connection refused.
        let stale = dir.path().join("stale.sock");
        drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
        assert!(matches!(fetch(&stale), Err(FetchError::NotRunning(_))));
        assert_eq!(status_command(&missing, true), ExitCode::FAILURE);
    }

    #[test]
    fn refuses_to_replace_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        std::fs::write(&path, "x").unwrap();
        let e = bind(&path).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "x");
    }
}
