//! Each checker against local servers on 127.0.0.1, including hostile ones.

use keepalived_check::dns::DnsCheck;
use keepalived_check::http::{build_regex, HttpCheck, HttpVersion, UrlCheck};
use keepalived_check::misc::MiscCheck;
use keepalived_check::ping::PingCheck;
use keepalived_check::smtp::SmtpCheck;
use keepalived_check::tcp::TcpCheck;
use keepalived_check::udp::UdpCheck;
use keepalived_check::{genhash, Check, Outcome, Target};
use md5::{Digest, Md5};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

const SHORT: Duration = Duration::from_millis(300);

fn target(addr: SocketAddr) -> Target {
    Target::new(addr, SHORT)
}

fn md5_hex(b: &[u8]) -> String {
    Md5::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

/// An address nothing listens on.
async fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

/// A TCP server handling each connection with `f`.
async fn serve<F, Fut>(f: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let f = Arc::new(f);
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(f(s));
        }
    });
    addr
}

/// Reads a request head (bounded).
async fn read_head<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> String {
    let mut buf = Vec::new();
    let mut b = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 65536 {
        match s.read(&mut b).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&b[..n]),
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

fn response(status: u16, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.0 {status} X\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// An HTTP server: `/` gives `body` with 200, `/missing` 404, `/error` 503; every request
/// head is sent to the returned channel.
async fn http_server(body: &'static [u8]) -> (SocketAddr, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let addr = serve(move |mut s| {
        let tx = tx.clone();
        async move {
            let head = read_head(&mut s).await;
            let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
            let _ = tx.send(head.to_ascii_lowercase());
            let resp = match path.as_str() {
                "/missing" => response(404, b"no"),
                "/error" => response(503, b"down"),
                _ => response(200, body),
            };
            let _ = s.write_all(&resp).await;
            let _ = s.shutdown().await;
        }
    })
    .await;
    (addr, rx)
}

fn http(urls: Vec<UrlCheck>) -> HttpCheck {
    HttpCheck {
        tls: None,
        sni: None,
        version: HttpVersion::V10,
        urls,
    }
}

fn url(path: &str, f: impl FnOnce(&mut UrlCheck)) -> UrlCheck {
    let mut u = UrlCheck::new(path);
    f(&mut u);
    u
}

async fn run(c: &dyn Check, t: &Target) -> Outcome {
    // A generous outer bound, so a hung check fails the test instead of hanging it.
    tokio::time::timeout(Duration::from_secs(20), c.run(t))
        .await
        .expect("check did not end by itself")
}

// ---------- TCP_CHECK

#[tokio::test]
async fn tcp_up_and_down() {
    let addr = serve(|_s| async {}).await;
    let o = run(&TcpCheck::default(), &target(addr)).await;
    assert!(o.ok, "{o:?}");
    let o = run(&TcpCheck::default(), &target(closed_port().await)).await;
    assert!(!o.ok, "{o:?}");
}

/// The check ends its connection with a reset, not a FIN: the server reads
/// ECONNRESET (so the checker's side keeps no TIME_WAIT socket).
#[tokio::test]
async fn tcp_check_resets_its_connection() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let addr = serve(move |mut s| {
        let tx = tx.clone();
        async move {
            let mut b = [0u8; 16];
            let _ = tx.send(s.read(&mut b).await.map_err(|e| e.kind()));
        }
    })
    .await;
    let o = run(&TcpCheck::default(), &target(addr)).await;
    assert!(o.ok, "{o:?}");
    let read = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the server's read ends")
        .unwrap();
    assert_eq!(read, Err(std::io::ErrorKind::ConnectionReset));
}

#[tokio::test]
async fn tcp_connect_ip_port_override_and_bindto() {
    let addr = serve(|_s| async {}).await;
    let mut t = target("127.0.0.1:1".parse().unwrap());
    t.addr = addr;
    t.bindto = Some("127.0.0.1".parse().unwrap());
    let o = run(&TcpCheck::default(), &t).await;
    assert!(o.ok, "{o:?}");
}

#[tokio::test]
async fn tcp_ipv6_loopback() {
    let Ok(l) = TcpListener::bind("[::1]:0").await else {
        eprintln!("skipping tcp_ipv6_loopback: no IPv6 loopback");
        return;
    };
    let o = run(&TcpCheck::default(), &target(l.local_addr().unwrap())).await;
    assert!(o.ok, "{o:?}");
}

// ---------- HTTP_GET

const BODY: &[u8] = b"hello keepalived\n";

#[tokio::test]
async fn http_digest_status_and_host() {
    let (addr, mut heads) = http_server(BODY).await;
    let t = target(addr);
    let good = md5_hex(BODY);
    let o = run(&http(vec![url("/", |u| u.digest = Some(good.clone()))]), &t).await;
    assert!(o.ok, "{o:?}");
    let head = heads.recv().await.unwrap();
    assert!(head.starts_with("get / http/1.0\r\n"), "{head}");
    assert!(head.contains("user-agent: keepaliveclient\r\n"), "{head}");
    assert!(
        head.contains(&format!("host: 127.0.0.1:{}\r\n", addr.port())),
        "{head}"
    );
    assert!(!head.contains("connection:"), "{head}");

    let o = run(
        &http(vec![url("/", |u| u.digest = Some("00".repeat(16)))]),
        &t,
    )
    .await;
    assert!(!o.ok, "{o:?}");

    // Default 200-299: 404 fails; an explicit range accepts it.
    let o = run(&http(vec![url("/missing", |_| {})]), &t).await;
    assert!(!o.ok, "{o:?}");
    let o = run(
        &http(vec![url("/missing", |u| u.status = vec![(400, 499)])]),
        &t,
    )
    .await;
    assert!(o.ok, "{o:?}");
    let o = run(
        &http(vec![url("/error", |u| {
            u.status = vec![(200, 200), (503, 503)]
        })]),
        &t,
    )
    .await;
    assert!(o.ok, "{o:?}");
    // Every url must pass.
    let o = run(&http(vec![url("/", |_| {}), url("/error", |_| {})]), &t).await;
    assert!(!o.ok, "{o:?}");
}

#[tokio::test]
async fn http_versions_and_virtualhost() {
    let (addr, mut heads) = http_server(BODY).await;
    let t = target(addr);
    let mut c = http(vec![url("/x", |u| {
        u.host = Some("www.example.test".into())
    })]);
    c.version = HttpVersion::V11;
    assert!(run(&c, &t).await.ok);
    let head = heads.recv().await.unwrap();
    assert!(head.starts_with("get /x http/1.1\r\n"), "{head}");
    assert!(head.contains("host: www.example.test\r\n"), "{head}");
    assert!(head.contains("connection: close\r\n"), "{head}");
    c.version = HttpVersion::V10C;
    assert!(run(&c, &t).await.ok);
    let head = heads.recv().await.unwrap();
    assert!(head.starts_with("get /x http/1.0\r\n"), "{head}");
    assert!(head.contains("connection: close\r\n"), "{head}");
}

#[tokio::test]
async fn http_regex_match_and_no_match() {
    let (addr, _h) = http_server(b"status: ALL GOOD\n").await;
    let t = target(addr);
    let re = |p: &str| Some(build_regex(p, &[]).unwrap());
    let o = run(&http(vec![url("/", |u| u.regex = re("ALL GOOD"))]), &t).await;
    assert!(o.ok, "{o:?}");
    let o = run(&http(vec![url("/", |u| u.regex = re("BROKEN"))]), &t).await;
    assert!(!o.ok, "{o:?}");
    let o = run(
        &http(vec![url("/", |u| {
            u.regex = re("BROKEN");
            u.regex_no_match = true
        })]),
        &t,
    )
    .await;
    assert!(o.ok, "{o:?}");
    let o = run(
        &http(vec![url("/", |u| {
            u.regex = re("ALL");
            u.regex_no_match = true
        })]),
        &t,
    )
    .await;
    assert!(!o.ok, "{o:?}");
    // Options: caseless.
    let o = run(
        &http(vec![url("/", |u| {
            u.regex = Some(build_regex("all good", &["caseless".into()]).unwrap())
        })]),
        &t,
    )
    .await;
    assert!(o.ok, "{o:?}");
    // Offsets: the match starts at 8; a max offset of 4 excludes it.
    let o = run(
        &http(vec![url("/", |u| {
            u.regex = re("ALL");
            u.regex_max_offset = Some(4)
        })]),
        &t,
    )
    .await;
    assert!(!o.ok, "{o:?}");
    let o = run(
        &http(vec![url("/", |u| {
            u.regex = re("ALL");
            u.regex_min_offset = 2;
            u.regex_max_offset = Some(8)
        })]),
        &t,
    )
    .await;
    assert!(o.ok, "{o:?}");
    let o = run(
        &http(vec![url("/", |u| {
            u.regex = re("status");
            u.regex_min_offset = 1
        })]),
        &t,
    )
    .await;
    assert!(!o.ok, "{o:?}");
}

#[tokio::test]
async fn genhash_matches_md5_of_body() {
    let (addr, _h) = http_server(BODY).await;
    let (status, hash) = genhash(addr, false, "/", None, SHORT).await.unwrap();
    assert_eq!((status, hash), (200, md5_hex(BODY)));
    let (status, _) = genhash(addr, false, "/missing", Some("h"), SHORT)
        .await
        .unwrap();
    assert_eq!(status, 404);
    assert!(genhash(closed_port().await, false, "/", None, SHORT)
        .await
        .is_err());
}

#[tokio::test]
async fn http_chunked_body_digest() {
    let addr = serve(|mut s| async move {
        read_head(&mut s).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
            .await;
    })
    .await;
    let o = run(
        &http(vec![url("/", |u| u.digest = Some(md5_hex(b"hello world")))]),
        &target(addr),
    )
    .await;
    assert!(o.ok, "{o:?}");
}

// ---------- hostile HTTP servers: each check fails at its timeout

#[tokio::test]
async fn http_server_that_never_answers() {
    let addr = serve(|s| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(s);
    })
    .await;
    let o = run(&http(vec![url("/", |_| {})]), &target(addr)).await;
    assert!(!o.ok, "{o:?}");
    assert!(o.detail.contains("timed out"), "{o:?}");
}

#[tokio::test]
async fn http_server_one_byte_per_200ms() {
    let addr = serve(|mut s| async move {
        read_head(&mut s).await;
        for b in response(200, BODY) {
            if s.write_all(&[b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    let o = run(&http(vec![url("/", |_| {})]), &target(addr)).await;
    assert!(!o.ok, "{o:?}");
    assert!(o.detail.contains("timed out"), "{o:?}");
}

const BIG: usize = 10 << 20;

async fn big_server() -> SocketAddr {
    serve(|mut s| async move {
        read_head(&mut s).await;
        let head = format!("HTTP/1.0 200 OK\r\nContent-Length: {BIG}\r\n\r\n");
        if s.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = vec![b'a'; 64 * 1024];
        for _ in 0..BIG / chunk.len() {
            if s.write_all(&chunk).await.is_err() {
                return;
            }
        }
    })
    .await
}

#[tokio::test]
async fn http_10mb_body_is_hashed_streaming() {
    let addr = big_server().await;
    let want = {
        let mut h = Md5::new();
        let chunk = vec![b'a'; 64 * 1024];
        for _ in 0..BIG / chunk.len() {
            h.update(&chunk);
        }
        h.finalize()
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<String>()
    };
    // Long enough to read it all: the digest matches.
    let t = Target::new(addr, Duration::from_secs(15));
    let o = run(&http(vec![url("/", |u| u.digest = Some(want.clone()))]), &t).await;
    assert!(o.ok, "{o:?}");
    // A regex sees only the first window, and still ends.
    let o = run(
        &http(vec![url("/", |u| {
            u.regex = Some(build_regex("^a+$", &[]).unwrap())
        })]),
        &t,
    )
    .await;
    assert!(o.ok, "{o:?}");
    let (status, hash) = genhash(addr, false, "/", None, Duration::from_secs(15))
        .await
        .unwrap();
    assert_eq!((status, hash), (200, want.clone()));
}

#[tokio::test]
async fn http_10mb_body_with_short_timeout_fails() {
    // Slow consumer side: 300 ms may or may not suffice on a fast machine, so make the
    // server pace itself beyond the timeout.
    let addr = serve(|mut s| async move {
        read_head(&mut s).await;
        let head = format!("HTTP/1.0 200 OK\r\nContent-Length: {BIG}\r\n\r\n");
        let _ = s.write_all(head.as_bytes()).await;
        let chunk = vec![b'a'; 1 << 20];
        for _ in 0..10 {
            if s.write_all(&chunk).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let o = run(
        &http(vec![url("/", |u| u.digest = Some("0".repeat(32)))]),
        &target(addr),
    )
    .await;
    assert!(!o.ok, "{o:?}");
}

#[tokio::test]
async fn http_reset_mid_response() {
    let addr = serve(|mut s| async move {
        read_head(&mut s).await;
        let _ = s
            .write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\nonly a bit")
            .await;
        let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
        drop(s); // RST
    })
    .await;
    let o = run(
        &http(vec![url("/", |u| u.digest = Some(md5_hex(b"x")))]),
        &target(addr),
    )
    .await;
    assert!(!o.ok, "{o:?}");
}

#[tokio::test]
async fn http_garbage_response() {
    let addr = serve(|mut s| async move {
        read_head(&mut s).await;
        let _ = s.write_all(b"SSH-2.0-OpenSSH\r\n\r\n").await;
    })
    .await;
    let o = run(&http(vec![url("/", |_| {})]), &target(addr)).await;
    assert!(!o.ok, "{o:?}");
}

#[tokio::test]
async fn http_connection_refused() {
    let o = run(&http(vec![url("/", |_| {})]), &target(closed_port().await)).await;
    assert!(!o.ok, "{o:?}");
}

// ---------- SSL_GET

fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![ck.cert.der().clone()], key)
    .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
}

async fn tls_server() -> (SocketAddr, mpsc::UnboundedReceiver<Option<String>>) {
    let acceptor = tls_acceptor();
    let (tx, rx) = mpsc::unbounded_channel();
    let addr = serve(move |s| {
        let acceptor = acceptor.clone();
        let tx = tx.clone();
        async move {
            let Ok(mut s) = acceptor.accept(s).await else {
                return;
            };
            let _ = tx.send(s.get_ref().1.server_name().map(str::to_string));
            read_head(&mut s).await;
            let _ = s.write_all(&response(200, BODY)).await;
            let _ = s.shutdown().await;
        }
    })
    .await;
    (addr, rx)
}

fn ssl(urls: Vec<UrlCheck>, sni: Option<&str>) -> HttpCheck {
    HttpCheck {
        tls: Some(keepalived_check::http::tls_config(None).unwrap()),
        sni: sni.map(str::to_string),
        version: HttpVersion::V10,
        urls,
    }
}

#[tokio::test]
async fn ssl_get_self_signed_digest_and_sni() {
    let (addr, mut names) = tls_server().await;
    let t = Target::new(addr, Duration::from_secs(5));
    let c = ssl(vec![url("/", |u| u.digest = Some(md5_hex(BODY)))], None);
    assert_eq!(c.kind(), "SSL_GET");
    let o = run(&c, &t).await;
    assert!(o.ok, "{o:?}");
    assert_eq!(
        names.recv().await.unwrap(),
        None,
        "no SNI without enable_sni"
    );
    let o = run(&ssl(vec![url("/", |_| {})], Some("www.example.test")), &t).await;
    assert!(o.ok, "{o:?}");
    assert_eq!(
        names.recv().await.unwrap().as_deref(),
        Some("www.example.test")
    );
    let o = run(
        &ssl(vec![url("/", |u| u.digest = Some(md5_hex(b"x")))], None),
        &t,
    )
    .await;
    assert!(!o.ok, "{o:?}");
    let (status, hash) = genhash(addr, true, "/", None, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!((status, hash), (200, md5_hex(BODY)));
}

#[tokio::test]
async fn ssl_get_stalled_handshake() {
    let addr = serve(|mut s| async move {
        let mut b = [0u8; 4096];
        let _ = s.read(&mut b).await; // read the ClientHello, never answer
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
    .await;
    let o = run(&ssl(vec![url("/", |_| {})], None), &target(addr)).await;
    assert!(!o.ok, "{o:?}");
    assert!(o.detail.contains("timed out"), "{o:?}");
}

#[tokio::test]
async fn ssl_get_against_plain_http_fails() {
    let (addr, _h) = http_server(BODY).await;
    let o = run(&ssl(vec![url("/", |_| {})], None), &target(addr)).await;
    assert!(!o.ok, "{o:?}");
}

// ---------- MISC_CHECK

fn misc(script: &str, dynamic: bool, timeout: Duration) -> MiscCheck {
    MiscCheck {
        argv: vec!["/bin/sh".into(), "-c".into(), script.into()],
        timeout,
        dynamic,
        user: None,
    }
}

#[tokio::test]
async fn misc_exit_codes() {
    let t = target(closed_port().await);
    let o = run(&misc("exit 0", false, SHORT * 10), &t).await;
    assert!(o.ok && o.weight.is_none(), "{o:?}");
    let o = run(&misc("exit 1", false, SHORT * 10), &t).await;
    assert!(!o.ok, "{o:?}");
    let o = run(&misc("exit 7", false, SHORT * 10), &t).await;
    assert!(!o.ok, "{o:?}");
}

#[tokio::test]
async fn misc_dynamic_codes() {
    let t = target(closed_port().await);
    let o = run(&misc("exit 0", true, SHORT * 10), &t).await;
    assert!(o.ok && o.weight.is_none(), "{o:?}");
    let o = run(&misc("exit 1", true, SHORT * 10), &t).await;
    assert!(!o.ok, "{o:?}");
    let o = run(&misc("exit 2", true, SHORT * 10), &t).await;
    assert!(o.ok && o.weight == Some(0), "{o:?}");
    let o = run(&misc("exit 12", true, SHORT * 10), &t).await;
    assert!(o.ok && o.weight == Some(10), "{o:?}");
    let o = run(&misc("exit 255", true, SHORT * 10), &t).await;
    assert!(o.ok && o.weight == Some(253), "{o:?}");
}

#[tokio::test]
async fn misc_timeout_kills_the_script() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("survived");
    let script = format!("sleep 2; touch {}", marker.display());
    let t = target(closed_port().await);
    let o = run(&misc(&script, false, SHORT), &t).await;
    assert!(!o.ok, "{o:?}");
    assert!(o.detail.contains("timed out"), "{o:?}");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        !marker.exists(),
        "the script's process group was not killed"
    );
}

#[tokio::test]
async fn misc_missing_program() {
    let c = MiscCheck {
        argv: vec!["/nonexistent/program".into()],
        timeout: SHORT,
        dynamic: false,
        user: None,
    };
    let o = run(&c, &target(closed_port().await)).await;
    assert!(!o.ok, "{o:?}");
}

// ---------- UDP_CHECK

async fn udp_echo(prefix: &'static [u8]) -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = s.local_addr().unwrap();
    tokio::spawn(async move {
        let mut b = [0u8; 2048];
        while let Ok((n, from)) = s.recv_from(&mut b).await {
            let mut r = prefix.to_vec();
            r.extend_from_slice(&b[..n]);
            let _ = s.send_to(&r, from).await;
        }
    });
    addr
}

fn udp(payload: &str, require: Option<&str>) -> UdpCheck {
    UdpCheck {
        payload: Some(keepalived_check::net::parse_hex(payload, false).unwrap().0),
        require_reply: require.map(|r| keepalived_check::net::parse_hex(r, true).unwrap()),
        min_reply_length: 0,
        max_reply_length: 255,
    }
}

#[tokio::test]
async fn udp_require_reply() {
    let addr = udp_echo(b"").await;
    let t = target(addr);
    let o = run(&udp("01 02 03 04", Some("")), &t).await;
    assert!(o.ok, "{o:?}");
    let o = run(&udp("01 02 03 04", Some("0102")), &t).await;
    assert!(o.ok, "{o:?}");
    let o = run(&udp("01 02 03 04", Some("01x2 xx04")), &t).await;
    assert!(o.ok, "{o:?}");
    let o = run(&udp("01 02 03 04", Some("0103")), &t).await;
    assert!(!o.ok, "{o:?}");
    let mut c = udp("01 02 03 04", Some(""));
    c.min_reply_length = 5;
    assert!(!run(&c, &t).await.ok);
    let mut c = udp("01 02 03 04", Some(""));
    c.max_reply_length = 3;
    assert!(!run(&c, &t).await.ok);
}

#[tokio::test]
async fn udp_without_reply_and_port_unreachable() {
    // A silent UDP socket: no ICMP error, so the check passes without require_reply,
    // and fails with it.
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let t = target(silent.local_addr().unwrap());
    assert!(run(&udp("aa", None), &t).await.ok);
    assert!(!run(&udp("aa", Some("")), &t).await.ok);
    // A closed port: ICMP port unreachable (ECONNREFUSED on a connected socket).
    let addr = silent.local_addr().unwrap();
    drop(silent);
    let o = run(&udp("aa", None), &target(addr)).await;
    assert!(!o.ok, "{o:?}");
}

// ---------- DNS_CHECK

async fn dns_server(rcode: hickory_proto::op::ResponseCode, wrong_id_first: bool) -> SocketAddr {
    use hickory_proto::op::{Message, MessageType};
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = s.local_addr().unwrap();
    tokio::spawn(async move {
        let mut b = [0u8; 2048];
        while let Ok((n, from)) = s.recv_from(&mut b).await {
            let Ok(q) = Message::from_vec(&b[..n]) else {
                continue;
            };
            let mut r = Message::new();
            r.set_message_type(MessageType::Response)
                .set_op_code(q.op_code())
                .set_response_code(rcode)
                .add_queries(q.queries().to_vec());
            if wrong_id_first {
                r.set_id(q.id().wrapping_add(1));
                let _ = s.send_to(&r.to_vec().unwrap(), from).await;
            }
            r.set_id(q.id());
            let _ = s.send_to(&r.to_vec().unwrap(), from).await;
        }
    });
    addr
}

fn dns_check() -> DnsCheck {
    DnsCheck {
        name: hickory_proto::rr::Name::root(),
        qtype: hickory_proto::rr::RecordType::SOA,
    }
}

#[tokio::test]
async fn dns_noerror_is_up() {
    use hickory_proto::op::ResponseCode;
    let addr = dns_server(ResponseCode::NoError, true).await;
    let o = run(&dns_check(), &target(addr)).await;
    assert!(o.ok, "{o:?}");
    let addr = dns_server(ResponseCode::ServFail, false).await;
    let o = run(&dns_check(), &target(addr)).await;
    assert!(!o.ok, "{o:?}");
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let o = run(&dns_check(), &target(silent.local_addr().unwrap())).await;
    assert!(!o.ok, "{o:?}");
}

// ---------- SMTP_CHECK

async fn smtp_server(banner: &'static str, helo_reply: &'static str) -> SocketAddr {
    serve(move |s| async move {
        let (rd, mut wr) = s.into_split();
        let mut rd = tokio::io::BufReader::new(rd);
        let _ = wr.write_all(banner.as_bytes()).await;
        let mut line = String::new();
        use tokio::io::AsyncBufReadExt;
        if rd.read_line(&mut line).await.is_err() || !line.starts_with("HELO ") {
            return;
        }
        let _ = wr.write_all(helo_reply.as_bytes()).await;
        line.clear();
        let _ = rd.read_line(&mut line).await;
        if line == "QUIT\r\n" {
            let _ = wr.write_all(b"221 bye\r\n").await;
        }
    })
    .await
}

fn smtp() -> SmtpCheck {
    SmtpCheck {
        helo_name: "checker.test".into(),
    }
}

#[tokio::test]
async fn smtp_dialogue() {
    let ok = smtp_server("220-mail.test ESMTP\r\n220 ready\r\n", "250 hello\r\n").await;
    let o = run(&smtp(), &target(ok)).await;
    assert!(o.ok, "{o:?}");
    let bad_banner = smtp_server("554 go away\r\n", "250 hello\r\n").await;
    assert!(!run(&smtp(), &target(bad_banner)).await.ok);
    let bad_helo = smtp_server("220 ready\r\n", "501 no\r\n").await;
    assert!(!run(&smtp(), &target(bad_helo)).await.ok);
    let silent = serve(|s| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(s);
    })
    .await;
    assert!(!run(&smtp(), &target(silent)).await.ok);
}

// ---------- PING_CHECK

#[tokio::test]
async fn ping_loopback() {
    let t = Target::new("127.0.0.1:0".parse().unwrap(), Duration::from_secs(2));
    if let Err(e) = keepalived_check::ping::open(&t) {
        eprintln!("skipping ping_loopback: cannot open an ICMP socket: {e}");
        return;
    }
    let o = run(&PingCheck, &t).await;
    assert!(o.ok, "{o:?}");
}

// ---------- FILE_CHECK

#[tokio::test]
async fn file_check_values() {
    use keepalived_check::file::FileCheck;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state");
    let t = target(closed_port().await);
    let c0 = FileCheck {
        path: path.clone(),
        weight: 0,
        reverse: false,
    };
    // Missing file: down.
    assert!(!run(&c0, &t).await.ok);
    std::fs::write(&path, "0\n").unwrap();
    assert!(run(&c0, &t).await.ok);
    std::fs::write(&path, "3\n").unwrap();
    assert!(!run(&c0, &t).await.ok);
    let c = FileCheck {
        path: path.clone(),
        weight: 5,
        reverse: false,
    };
    let o = run(&c, &t).await;
    assert!(o.ok && o.weight == Some(15), "{o:?}");
    let c = FileCheck {
        path: path.clone(),
        weight: 5,
        reverse: true,
    };
    assert_eq!(run(&c, &t).await.weight, Some(-15));
    std::fs::write(&path, "  -7 trailing").unwrap();
    let c = FileCheck {
        path: path.clone(),
        weight: 2,
        reverse: false,
    };
    assert_eq!(run(&c, &t).await.weight, Some(-14));
}
