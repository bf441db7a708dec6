//! Mail alerts, as keepalived sends them: one plain SMTP conversation per alert
//! with the `smtp_server` of `global_defs`, from `notification_email_from` to every
//! `notification_email`. Nothing here ever blocks the caller: [`Mailer::alert`]
//! only queues the message; one task sends the queue in order. A dead SMTP server
//! costs each alert at most the `smtp_connect_timeout` (twice: connecting, then
//! the conversation), and a full queue drops alerts (counted) instead of piling
//! them up.
//!
//! [`sink`] is a tiny SMTP server for tests and the lab.

use crate::state::{self, Shared};
use keepalived_config::model::GlobalDefs;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::io;
use std::net::IpAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Alerts waiting to be sent; more are dropped.
pub const QUEUE: usize = 64;

/// keepalived's default `smtp_connect_timeout`, in seconds.
pub const DEFAULT_TIMEOUT: u32 = 30;

/// The local host name ("localhost" if it cannot be read).
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// The `router_id` that subjects start with: the configured one, else the host
/// name (as keepalived).
pub fn router_id(g: &GlobalDefs) -> String {
    g.router_id.clone().unwrap_or_else(hostname)
}

/// One alert: subject and body.
type Alert = (String, String);

/// Sends mail alerts. Cheap to clone; every clone feeds the same queue. The
/// sending task ends when the last clone is dropped (e.g. after a reload built a
/// new one).
#[derive(Clone)]
pub struct Mailer {
    tx: mpsc::Sender<Alert>,
    status: Shared,
    router_id: std::sync::Arc<str>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").finish_non_exhaustive()
    }
}

/// Where and how the sending task sends.
struct Sender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    server: String,
    timeout: Duration,
}

impl Mailer {
    /// The mailer of a configuration, or `None` when mail alerts are off (no
    /// `smtp_server`, no usable `notification_email`). Spawns the sending task, so
    /// it must be called inside the tokio runtime (`None`, logged, otherwise).
    pub fn from_config(g: &GlobalDefs, status: Shared) -> Option<Mailer> {
        let server = g.smtp_server.as_ref()?;
        let to: Vec<Mailbox> = g
            .notification_email
            .iter()
            .filter_map(|a| match a.trim().parse::<Mailbox>() {
                Ok(m) => Some(m),
                Err(e) => {
                    tracing::warn!("notification_email {a:?} is not a mail address ({e}); ignored");
                    None
                }
            })
            .collect();
        if to.is_empty() {
            return None;
        }
        let from_text = g
            .notification_email_from
            .clone()
            .unwrap_or_else(|| format!("keepalived@{}", hostname()));
        let from = match from_text.trim().parse::<Mailbox>() {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(
                    "notification_email_from {from_text:?} is not a mail address ({e}); mail alerts off"
                );
                return None;
            }
        };
        let timeout = Duration::from_secs(u64::from(
            g.smtp_connect_timeout
                .filter(|&t| t > 0)
                .unwrap_or(DEFAULT_TIMEOUT),
        ));
        let helo = g.smtp_helo_name.clone().unwrap_or_else(hostname);
        let helo = match helo.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) => ClientId::Ipv4(a),
            Ok(IpAddr::V6(a)) => ClientId::Ipv6(a),
            Err(_) => ClientId::Domain(helo),
        };
        // keepalived speaks plain SMTP: no STARTTLS, no authentication.
        let transport =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(server.host.as_str())
                .port(server.port)
                .hello_name(helo)
                .timeout(Some(timeout))
                .build();
        let handle = match tokio::runtime::Handle::try_current() {
            Ok(h) => h,
            Err(_) => {
                tracing::error!("mail alerts need the runtime; mail alerts off");
                return None;
            }
        };
        let sender = Sender {
            transport,
            from,
            to,
            server: format!("{}:{}", server.host, server.port),
            timeout,
        };
        let (tx, rx) = mpsc::channel(QUEUE);
        handle.spawn(run(sender, rx, status.clone()));
        Some(Mailer {
            tx,
            status,
            router_id: router_id(g).into(),
        })
    }

    /// The `router_id` subjects start with (see [`router_id`]).
    pub fn router_id(&self) -> &str {
        &self.router_id
    }

    /// Queues an alert and returns at once. A full queue (the SMTP server is
    /// slow or dead) drops it, counted in `status.mail.dropped`.
    pub fn alert(&self, subject: String, body: String) {
        if let Err(e) = self.tx.try_send((subject, body)) {
            let (subject, _) = match e {
                mpsc::error::TrySendError::Full(a) | mpsc::error::TrySendError::Closed(a) => a,
            };
            tracing::warn!("mail alert queue full; alert {subject:?} dropped");
            state::update(&self.status, |s| s.mail.dropped += 1);
        }
    }
}

/// The sending task: one alert at a time, in order.
async fn run(sender: Sender, mut rx: mpsc::Receiver<Alert>, status: Shared) {
    while let Some((subject, body)) = rx.recv().await {
        match sender.send(&subject, body).await {
            Ok(()) => {
                tracing::info!("SMTP alert {subject:?} sent via {}", sender.server);
                state::update(&status, |s| s.mail.sent += 1);
            }
            Err(e) => {
                tracing::warn!("SMTP alert {subject:?} via {} failed: {e}", sender.server);
                state::update(&status, |s| s.mail.failed += 1);
            }
        }
    }
}

impl Sender {
    async fn send(&self, subject: &str, body: String) -> Result<(), String> {
        let mut b = Message::builder()
            .from(self.from.clone())
            .subject(subject)
            .header(ContentType::TEXT_PLAIN);
        for t in &self.to {
            b = b.to(t.clone());
        }
        let msg = b.body(body).map_err(|e| e.to_string())?;
        // lettre bounds connecting with the timeout but not the conversation; a
        // server that accepts and never answers must not hold the queue forever.
        match tokio::time::timeout(self.timeout * 2, self.transport.send(msg)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("timed out after {:?}", self.timeout * 2)),
        }
    }
}

/// keepalived's words for a state in a subject.
fn entering(state: &str) -> String {
    if state.eq_ignore_ascii_case("STOP") {
        "Stopping".to_string()
    } else {
        format!("Entering {} state", state.to_ascii_uppercase())
    }
}

/// Subject and body of a VRRP instance's state change (`state`: MASTER, BACKUP,
/// FAULT or STOP).
pub fn vrrp_alert(router_id: &str, instance: &str, state: &str) -> (String, String) {
    let body = match state.to_ascii_uppercase().as_str() {
        "MASTER" => "=> VRRP Instance is now owning VRRP VIPs <=",
        "STOP" => "=> VRRP Instance stopping <=",
        // BACKUP and FAULT alike: the VIPs are gone.
        _ => "=> VRRP Instance is no longer owning VRRP VIPs <=",
    };
    (
        format!(
            "[{router_id}] VRRP Instance {instance} - {}",
            entering(state)
        ),
        body.to_string(),
    )
}

/// Subject and body of a sync group's state change.
pub fn group_alert(router_id: &str, group: &str, state: &str) -> (String, String) {
    let up = state.to_ascii_uppercase();
    let body = if up == "STOP" {
        "=> All VRRP group instances are now stopping <=".to_string()
    } else {
        format!("=> All VRRP group instances are now in {up} state <=")
    };
    (
        format!("[{router_id}] VRRP Group {group} - {}", entering(state)),
        body,
    )
}

/// Subject and body of a real server going up or down (`rs`, `vs` as keepalived
/// formats them, e.g. `[10.0.0.2]:tcp:80`), naming the checker in the body as
/// keepalived does: `kind` "TCP" gives "=> TCP CHECK succeed on service <=" (also
/// "UDP", "MISC", "FILE", "DNS", "SMTP", "PING", …); HTTP_GET and SSL_GET, like
/// "", give keepalived's generic "=> CHECK succeed on service <=".
pub fn checker_alert_kind(
    router_id: &str,
    rs: &str,
    vs: &str,
    up: bool,
    kind: &str,
) -> (String, String) {
    let kind = kind.trim().to_ascii_uppercase();
    let kind = match kind.strip_suffix("_CHECK").unwrap_or(&kind) {
        "HTTP_GET" | "SSL_GET" => "",
        k => k,
    };
    let check = if kind.is_empty() {
        "CHECK".to_string()
    } else {
        format!("{kind} CHECK")
    };
    let (word, result) = if up {
        ("UP", "succeed")
    } else {
        ("DOWN", "failed")
    };
    (
        format!("[{router_id}] Realserver {rs} of virtual server {vs} - {word}"),
        format!("=> {check} {result} on service <="),
    )
}

/// A mail the [`sink`] accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The MAIL FROM address (without the angle brackets).
    pub from: String,
    /// The RCPT TO addresses.
    pub to: Vec<String>,
    /// The message as sent, dot-unstuffed, lines ending in CRLF.
    pub data: String,
}

impl ReceivedMail {
    /// The first header `name` (case-insensitive), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        let mut found: Option<String> = None;
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some(v) = found.as_mut() {
                    v.push(' ');
                    v.push_str(line.trim());
                }
                continue;
            }
            if found.is_some() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.trim().eq_ignore_ascii_case(name) {
                    found = Some(v.trim().to_string());
                }
            }
        }
        found
    }

    /// The body (after the blank line).
    pub fn body(&self) -> &str {
        self.data.split_once("\r\n\r\n").map_or("", |(_, b)| b)
    }
}

/// Longest command line the sink reads.
const SINK_LINE: usize = 4096;
/// Largest message the sink accepts.
const SINK_DATA: usize = 1 << 20;

/// A tiny SMTP server (greeting, HELO/EHLO, MAIL FROM, RCPT TO, DATA with
/// dot-unstuffing, RSET, NOOP, QUIT) that hands every accepted mail to `out`.
/// Runs until `out` is closed or accepting fails.
pub async fn sink(listener: TcpListener, out: mpsc::UnboundedSender<ReceivedMail>) {
    loop {
        let conn = tokio::select! {
            c = listener.accept() => c,
            _ = out.closed() => return,
        };
        match conn {
            Ok((stream, _)) => {
                let out = out.clone();
                tokio::spawn(async move {
                    if let Err(e) = sink_session(stream, out).await {
                        tracing::debug!("SMTP sink session: {e}");
                    }
                });
            }
            Err(e) => {
                tracing::warn!("SMTP sink: {e}");
                return;
            }
        }
    }
}

/// Reads one CRLF- (or LF-) terminated line, at most `max` bytes; `None` at EOF.
async fn read_line<R: tokio::io::AsyncBufRead + Unpin>(
    r: &mut R,
    max: usize,
) -> io::Result<Option<String>> {
    let mut buf = Vec::new();
    loop {
        let avail = r.fill_buf().await?;
        if avail.is_empty() {
            return Ok((!buf.is_empty()).then(|| String::from_utf8_lossy(&buf).into_owned()));
        }
        if let Some(i) = avail.iter().position(|&b| b == b'\n') {
            buf.extend_from_slice(&avail[..i]);
            r.consume(i + 1);
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(Some(String::from_utf8_lossy(&buf).into_owned()));
        }
        let n = avail.len();
        buf.extend_from_slice(avail);
        r.consume(n);
        if buf.len() > max {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
        }
    }
}

/// The address in `<…>` after `FROM:`/`TO:`.
fn path_arg(rest: &str) -> Option<String> {
    let (_, r) = rest.split_once(':')?;
    let r = r.trim_start();
    let r = r.strip_prefix('<')?;
    let (addr, _) = r.split_once('>')?;
    Some(addr.to_string())
}

async fn sink_session(
    stream: TcpStream,
    out: mpsc::UnboundedSender<ReceivedMail>,
) -> io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    w.write_all(b"220 keepalived-rs sink ESMTP\r\n").await?;
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();
    while let Some(line) = read_line(&mut r, SINK_LINE).await? {
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "HELO" | "EHLO" => {
                from = None;
                to.clear();
                b"250 keepalived-rs sink\r\n"
            }
            "MAIL" => match path_arg(&line) {
                Some(a) => {
                    from = Some(a);
                    to.clear();
                    b"250 OK\r\n"
                }
                None => b"501 syntax: MAIL FROM:<address>\r\n",
            },
            "RCPT" => match (&from, path_arg(&line)) {
                (None, _) => b"503 MAIL first\r\n",
                (Some(_), Some(a)) => {
                    to.push(a);
                    b"250 OK\r\n"
                }
                (Some(_), None) => b"501 syntax: RCPT TO:<address>\r\n",
            },
            "DATA" => {
                if from.is_none() || to.is_empty() {
                    b"503 MAIL and RCPT first\r\n"
                } else {
                    w.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                    let mut data = String::new();
                    loop {
                        let Some(l) = read_line(&mut r, SINK_LINE).await? else {
                            return Ok(());
                        };
                        if l == "." {
                            break;
                        }
                        data.push_str(l.strip_prefix('.').unwrap_or(&l));
                        data.push_str("\r\n");
                        if data.len() > SINK_DATA {
                            w.write_all(b"552 too much mail data\r\n").await?;
                            return Ok(());
                        }
                    }
                    let mail = ReceivedMail {
                        from: from.take().unwrap_or_default(),
                        to: std::mem::take(&mut to),
                        data,
                    };
                    let _ = out.send(mail);
                    b"250 OK queued\r\n"
                }
            }
            "RSET" => {
                from = None;
                to.clear();
                b"250 OK\r\n"
            }
            "NOOP" => b"250 OK\r\n",
            "QUIT" => {
                w.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"500 command not recognized\r\n",
        };
        w.write_all(reply).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use keepalived_config::model::SmtpServer;
    use std::time::Instant;

    fn globals(port: u16, timeout: u32) -> GlobalDefs {
        GlobalDefs {
            router_id: Some("lab1".into()),
            notification_email: vec![
                "ops@example.com".into(),
                "\"On Call\" <oncall@example.com>".into(),
            ],
            notification_email_from: Some("lb@example.com".into()),
            smtp_server: Some(SmtpServer {
                host: "127.0.0.1".into(),
                port,
            }),
            smtp_helo_name: Some("lb1.example.com".into()),
            smtp_connect_timeout: Some(timeout),
            ..Default::default()
        }
    }

    async fn wait_for(status: &Shared, f: impl Fn(&state::Status) -> bool, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !f(&state::snapshot(status)) {
            assert!(
                Instant::now() < deadline,
                "timed out: {:?}",
                state::snapshot(status).mail
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[test]
    fn keepalived_wording() {
        let (s, b) = vrrp_alert("lb1", "VI_1", "MASTER");
        assert_eq!(s, "[lb1] VRRP Instance VI_1 - Entering MASTER state");
        assert_eq!(b, "=> VRRP Instance is now owning VRRP VIPs <=");
        let (s, b) = vrrp_alert("lb1", "VI_1", "BACKUP");
        assert_eq!(s, "[lb1] VRRP Instance VI_1 - Entering BACKUP state");
        assert_eq!(b, "=> VRRP Instance is no longer owning VRRP VIPs <=");
        let (s, _) = vrrp_alert("lb1", "VI_1", "FAULT");
        assert_eq!(s, "[lb1] VRRP Instance VI_1 - Entering FAULT state");
        let (s, b) = vrrp_alert("lb1", "VI_1", "STOP");
        assert_eq!(s, "[lb1] VRRP Instance VI_1 - Stopping");
        assert_eq!(b, "=> VRRP Instance stopping <=");
        let (s, b) = group_alert("lb1", "G1", "MASTER");
        assert_eq!(s, "[lb1] VRRP Group G1 - Entering MASTER state");
        assert_eq!(b, "=> All VRRP group instances are now in MASTER state <=");
        let (s, b) = checker_alert_kind("lb1", "[10.0.0.2]:tcp:80", "[10.0.0.1]:tcp:80", false, "");
        assert_eq!(
            s,
            "[lb1] Realserver [10.0.0.2]:tcp:80 of virtual server [10.0.0.1]:tcp:80 - DOWN"
        );
        assert_eq!(b, "=> CHECK failed on service <=");
        let (s, b) = checker_alert_kind("lb1", "[a]:tcp:1", "[b]:tcp:1", true, "TCP_CHECK");
        assert!(s.ends_with(" - UP"));
        assert_eq!(b, "=> TCP CHECK succeed on service <=");
    }

    #[test]
    fn off_without_server_or_recipients() {
        let status = Shared::default();
        let mut g = globals(25, 1);
        g.smtp_server = None;
        assert!(Mailer::from_config(&g, status.clone()).is_none());
        let mut g = globals(25, 1);
        g.notification_email.clear();
        assert!(Mailer::from_config(&g, status).is_none());
    }

    #[tokio::test]
    async fn delivers_to_the_sink() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, mut rx) = mpsc::unbounded_channel();
        tokio::spawn(sink(listener, tx));
        let status = Shared::default();
        let mailer = Mailer::from_config(&globals(port, 5), status.clone()).unwrap();
        assert_eq!(mailer.router_id(), "lab1");
        let (subject, body) = vrrp_alert(mailer.router_id(), "VI_1", "MASTER");
        mailer.alert(subject.clone(), body.clone());
        let (s2, b2) = checker_alert_kind(
            "lab1",
            "[192.168.10.21]:tcp:8080",
            "[192.168.10.100]:tcp:80",
            false,
            "",
        );
        mailer.alert(s2.clone(), b2);
        let mail = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(mail.from, "lb@example.com");
        assert_eq!(mail.to, vec!["ops@example.com", "oncall@example.com"]);
        assert_eq!(mail.header("Subject").as_deref(), Some(subject.as_str()));
        assert_eq!(mail.header("From").as_deref(), Some("lb@example.com"));
        let to = mail.header("To").unwrap();
        assert!(
            to.contains("ops@example.com") && to.contains("<oncall@example.com>"),
            "{to}"
        );
        assert!(mail.header("Date").is_some());
        assert!(mail.body().contains(&body), "{:?}", mail.data);
        // A long subject (folded by the sender) reads back whole.
        let mail = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(mail.header("Subject").as_deref(), Some(s2.as_str()));
        wait_for(&status, |s| s.mail.sent == 2, 10).await;
        assert_eq!(state::snapshot(&status).mail.failed, 0);
    }

    #[tokio::test]
    async fn sink_speaks_smtp() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        tokio::spawn(sink(listener, tx));
        let s = TcpStream::connect(addr).await.unwrap();
        let (r, mut w) = s.into_split();
        let mut r = BufReader::new(r);
        async fn expect<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R, code: &str) {
            let l = read_line(r, 1000).await.unwrap().unwrap();
            assert!(l.starts_with(code), "{l}");
        }
        expect(&mut r, "220").await;
        for (cmd, code) in [
            ("EHLO me", "250"),
            ("NOOP", "250"),
            ("RCPT TO:<x@y>", "503"),
            ("MAIL FROM:<a@b> SIZE=10", "250"),
            ("RSET", "250"),
            ("MAIL FROM:<a@b>", "250"),
            ("RCPT TO:<c@d>", "250"),
            ("DATA", "354"),
        ] {
            w.write_all(format!("{cmd}\r\n").as_bytes()).await.unwrap();
            expect(&mut r, code).await;
        }
        w.write_all(b"Subject: hi\r\n\r\n..dot\r\nline\r\n.\r\n")
            .await
            .unwrap();
        expect(&mut r, "250").await;
        w.write_all(b"QUIT\r\n").await.unwrap();
        expect(&mut r, "221").await;
        let m = rx.recv().await.unwrap();
        assert_eq!(m.from, "a@b");
        assert_eq!(m.to, vec!["c@d"]);
        assert_eq!(m.data, "Subject: hi\r\n\r\n.dot\r\nline\r\n");
    }

    #[tokio::test]
    async fn dead_server_never_blocks() {
        // A server that accepts and never answers.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        let status = Shared::default();
        let mailer = Mailer::from_config(&globals(port, 1), status.clone()).unwrap();
        let t0 = Instant::now();
        // One in flight, QUEUE waiting, the rest dropped.
        for i in 0..QUEUE + 10 {
            mailer.alert(format!("alert {i}"), "body".into());
        }
        assert!(
            t0.elapsed() < Duration::from_millis(200),
            "{:?}",
            t0.elapsed()
        );
        let dropped = state::snapshot(&status).mail.dropped;
        assert!((9..=10).contains(&dropped), "dropped {dropped}");
        wait_for(&status, |s| s.mail.failed >= 1, 10).await;
        assert!(t0.elapsed() >= Duration::from_secs(1));
        assert_eq!(state::snapshot(&status).mail.sent, 0);
    }

    #[tokio::test]
    async fn nothing_listening_counts_a_failure() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let status = Shared::default();
        let mailer = Mailer::from_config(&globals(port, 1), status.clone()).unwrap();
        let t0 = Instant::now();
        mailer.alert("a".into(), "b".into());
        assert!(t0.elapsed() < Duration::from_millis(100));
        wait_for(&status, |s| s.mail.failed == 1, 10).await;
    }
}
