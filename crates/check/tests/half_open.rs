//! TCP_CHECK's half-open probes against real listeners on loopback (and, for
//! ICMP errors, in a network namespace of the test's own). They need
//! CAP_NET_RAW: without it each test says so and returns.

use keepalived_check::half_open::HalfOpen;
use keepalived_check::tcp::TcpCheck;
use keepalived_check::{Check, Outcome, Target};
use keepalived_testkit::cmd::run as run_cmd;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

/// Long enough that a test never passes by a timeout it did not mean.
const TIMEOUT: Duration = Duration::from_secs(30);

fn check() -> TcpCheck {
    TcpCheck::new(Some(Arc::new(HalfOpen::new())))
}

/// Whether the check's prober opened its raw sockets (after a first probe);
/// prints why not.
fn opened(c: &TcpCheck, test: &str) -> bool {
    match c.half_open.as_ref().and_then(|h| h.status()) {
        Some(Ok(())) => true,
        other => {
            eprintln!("skipping {test}: no raw TCP socket here ({other:?})");
            false
        }
    }
}

async fn run(c: &TcpCheck, t: &Target) -> Outcome {
    tokio::time::timeout(TIMEOUT * 2, c.run(t))
        .await
        .expect("check did not end by itself")
}

fn listener(addr: &str) -> TcpListener {
    let l = TcpListener::bind(addr).unwrap();
    l.set_nonblocking(true).unwrap();
    l
}

/// A SYN-ACK is an up; the server's application never gets a connection (the
/// kernel resets the half-open one); a closed port is refused at once.
#[tokio::test]
async fn half_open_up_without_a_connection_and_refused() {
    let c = check();
    let l = listener("127.0.0.1:0");
    let o = run(&c, &Target::new(l.local_addr().unwrap(), TIMEOUT)).await;
    if !opened(&c, "half_open_up_without_a_connection_and_refused") {
        return;
    }
    assert!(o.ok, "{o:?}");
    assert!(o.detail.starts_with("SYN-ACK from"), "{o:?}");
    // The handshake was never completed: nothing to accept.
    assert_eq!(l.accept().unwrap_err().kind(), ErrorKind::WouldBlock);

    let closed = listener("127.0.0.1:0").local_addr().unwrap();
    let o = run(&c, &Target::new(closed, TIMEOUT)).await;
    assert!(!o.ok, "{o:?}");
    assert!(o.detail.contains("refused"), "{o:?}");
}

#[tokio::test]
async fn half_open_ipv6_loopback() {
    let Ok(l) = TcpListener::bind("[::1]:0") else {
        eprintln!("skipping half_open_ipv6_loopback: no IPv6 loopback");
        return;
    };
    let c = check();
    let o = run(&c, &Target::new(l.local_addr().unwrap(), TIMEOUT)).await;
    if !opened(&c, "half_open_ipv6_loopback") {
        return;
    }
    assert!(o.ok, "{o:?}");
    assert!(o.detail.starts_with("SYN-ACK from"), "{o:?}");
}

/// `bindto` is the SYN's source; `fwmark` (like `bind_port` and `bind_if`) is
/// left to connect(2).
#[tokio::test]
async fn half_open_bindto_and_connect_fallback() {
    let c = check();
    let l = listener("0.0.0.0:0");
    let addr: SocketAddr = ([127, 0, 0, 1], l.local_addr().unwrap().port()).into();
    let mut t = Target::new(addr, TIMEOUT);
    t.bindto = Some([127, 0, 0, 2].into());
    let o = run(&c, &t).await;
    if !opened(&c, "half_open_bindto_and_connect_fallback") {
        return;
    }
    assert!(o.ok && o.detail.starts_with("SYN-ACK"), "{o:?}");
    t.fwmark = Some(7);
    let o = run(&c, &t).await;
    assert!(o.ok && o.detail.starts_with("connected to"), "{o:?}");
}

/// Many probes at once, two at a time on each server port, all answered.
#[tokio::test]
async fn half_open_many_at_once() {
    let c = Arc::new(check());
    let ls: Vec<TcpListener> = (0..100).map(|_| listener("127.0.0.1:0")).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..2 {
        for l in &ls {
            let (c, a) = (c.clone(), l.local_addr().unwrap());
            tasks.spawn(async move { run(&c, &Target::new(a, TIMEOUT)).await });
        }
    }
    let outcomes = tasks.join_all().await;
    if !opened(&c, "half_open_many_at_once") {
        return;
    }
    let bad: Vec<_> = outcomes.iter().filter(|o| !o.ok).collect();
    assert!(
        bad.is_empty(),
        "{} of 200 failed: {:?}",
        bad.len(),
        bad.first()
    );
}

/// Runs `f` on a runtime in a network namespace of this thread's own, with
/// loopback up and `nft` loaded; `Err` when it cannot run here (not root, no
/// nft, no raw socket).
fn in_netns<T: Send + 'static>(
    nft: &'static str,
    f: impl FnOnce(TcpCheck) -> std::pin::Pin<Box<dyn std::future::Future<Output = T>>> + Send + 'static,
) -> Result<T, String> {
    std::thread::spawn(move || -> Result<T, String> {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| format!("unshare(CLONE_NEWNET): {e}"))?;
        // A missing tool skips the test; a failing one fails it.
        let sh = |cmd: &[&str], input: &str| -> Result<(), String> {
            use std::io::Write;
            let mut p = std::process::Command::new(cmd[0])
                .args(&cmd[1..])
                .stdin(std::process::Stdio::piped())
                .spawn()
                .map_err(|e| format!("{}: {e}", cmd[0]))?;
            p.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
            assert!(p.wait().unwrap().success(), "{cmd:?} failed");
            Ok(())
        };
        sh(&["ip", "link", "set", "lo", "up"], "")?;
        sh(&["nft", "-f", "-"], nft)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let c = check();
        let h = c.half_open.clone().unwrap();
        let out = rt.block_on(f(c));
        match h.status() {
            Some(Ok(())) => Ok(out),
            other => Err(format!("no raw TCP socket ({other:?})")),
        }
    })
    .join()
    .unwrap()
}

/// An ICMP error about the SYN ends the probe with its error, as it would end
/// a connect: here a firewall rejects the SYN with host-unreachable.
#[test]
fn half_open_icmp_error_ends_the_probe() {
    let r = in_netns(
        "table ip t {\n chain in {\n type filter hook input priority 0;\n \
         tcp dport 9 tcp flags syn reject with icmp type host-unreachable\n }\n}\n",
        |c| {
            Box::pin(
                async move { run(&c, &Target::new(([127, 0, 0, 1], 9).into(), TIMEOUT)).await },
            )
        },
    );
    match r {
        Ok(o) => {
            assert!(!o.ok, "{o:?}");
            assert!(o.detail.contains("No route to host"), "{o:?}");
        }
        Err(e) => eprintln!("skipping half_open_icmp_error_ends_the_probe: {e}"),
    }
}

/// Unanswered SYNs are sent again after 1 s (then 2 s, …) as connect(2) does,
/// and the probe fails at connect_timeout: with 2.5 s, two SYNs.
#[test]
fn half_open_retransmits_then_times_out() {
    let r = in_netns(
        "table ip t {\n chain in {\n type filter hook input priority 0;\n \
         tcp dport 10 tcp flags syn counter drop\n }\n}\n",
        |c| {
            Box::pin(async move {
                let t = Target::new(([127, 0, 0, 1], 10).into(), Duration::from_millis(2500));
                let o = run(&c, &t).await;
                let out = std::process::Command::new("nft")
                    .args(["list", "table", "ip", "t"])
                    .output()
                    .unwrap();
                (o, String::from_utf8_lossy(&out.stdout).into_owned())
            })
        },
    );
    match r {
        Ok((o, table)) => {
            assert!(!o.ok, "{o:?}");
            assert!(o.detail.ends_with("timed out"), "{o:?}");
            assert!(table.contains("counter packets 2 "), "{table}");
        }
        Err(e) => eprintln!("skipping half_open_retransmits_then_times_out: {e}"),
    }
}

/// A SYN that a full device queue dropped is known at once (ENOBUFS), so it is
/// sent again within milliseconds, not at the 1 s retransmission: here a
/// qdisc that drops everything sits on loopback until it has dropped the first
/// SYN, and the probe, with a connect_timeout under 1 s, still gets its answer.
#[test]
fn half_open_resends_a_locally_dropped_syn_at_once() {
    let r = in_netns("", |c| {
        Box::pin(async move {
            let l = listener("127.0.0.1:0");
            let t = Target::new(l.local_addr().unwrap(), Duration::from_millis(900));
            let tc = |args: &[&str]| run_cmd(&[&["tc"], args].concat());
            tc(&[
                "qdisc", "replace", "dev", "lo", "root", "pfifo", "limit", "0",
            ]);
            let lift = async {
                // The qdisc goes once it has dropped a packet (the first SYN):
                // "Sent 0 bytes 0 pkt (dropped N, overlimits ...".
                let dropped = |stats: String| -> u64 {
                    let n = stats.split("(dropped ").nth(1).unwrap_or("0");
                    n.split(',')
                        .next()
                        .unwrap_or("0")
                        .trim()
                        .parse()
                        .unwrap_or(0)
                };
                while dropped(tc(&["-s", "qdisc", "show", "dev", "lo"])) == 0 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                tc(&["qdisc", "del", "dev", "lo", "root"]);
            };
            let (o, ()) = tokio::join!(run(&c, &t), lift);
            o
        })
    });
    match r {
        Ok(o) => assert!(o.ok, "{o:?}"),
        Err(e) => eprintln!("skipping half_open_resends_a_locally_dropped_syn_at_once: {e}"),
    }
}
