//! Failover under load (issue 8, scenario 1): two directors running
//! keepalived-rs (a sync group: VI_1 holds the client-side VIP, VI_GW the
//! inside VIP that the real servers use as their gateway, LVS-NAT), three real
//! web servers (`keepalived-rs lab-web`), a client; `virtual_server VIP 80` rr
//! NAT with HTTP_GET checks on the nftables data plane.
//!
//! * A: the client sends short HTTP requests in a loop while the MASTER dies
//!   (kill -9 and its links go down, as in a power cut): the BACKUP takes over
//!   and requests succeed again; failed requests and the outage are printed.
//! * B: keep-alive connections opened through the MASTER and used again after
//!   the failover: without connection-state sync the new MASTER knows nothing
//!   of them (printed: how many are reset); with conntrackd (FTFW over a
//!   dedicated sync link, driven by the sync group's notify scripts, the
//!   primary-backup pattern) none is.
//! * C: packets of established connections that reach the new MASTER between
//!   its takeover and conntrackd's commit (the window held open on purpose):
//!   what `nf_conntrack_tcp_loose` and our data plane do with them, and the
//!   rule the data plane lacks (emulated in a table of the test's own).
//!
//! Root only; skipped with a printed reason otherwise. Every wait is on an
//! event (a log line, a counter, an address, a neighbour entry, a conntrack
//! cache) and bounded; nothing leaves the test namespaces.

mod common;

use common::*;
use keepalived_testkit::netns::in_ns;
use nix::libc;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CLIENT: usize = 0;
const D1: usize = 1;
const D2: usize = 2;
const WEB: [usize; 3] = [3, 4, 5];
const VIP: &str = "10.10.0.100";
const GW: &str = "10.20.0.254";
/// Per-request bound of the client (connect, then each read / write).
const REQ_TIMEOUT: Duration = Duration::from_secs(1);
/// Keep-alive connections of test B.
const CONNS: usize = 12;

// ---------------------------------------------------------------------------
// The lab.

/// Three bridges: 0 front (client, directors), 1 back (directors, web
/// servers), 2 the directors' sync link.
fn lab(tools: &[&str]) -> Option<Net> {
    if !can_run(tools) {
        return None;
    }
    let net = Net::build(
        3,
        &[
            ("client", &[(0, "10.10.0.10/24")]),
            (
                "d1",
                &[
                    (0, "10.10.0.1/24"),
                    (1, "10.20.0.1/24"),
                    (2, "10.30.0.1/24"),
                ],
            ),
            (
                "d2",
                &[
                    (0, "10.10.0.2/24"),
                    (1, "10.20.0.2/24"),
                    (2, "10.30.0.2/24"),
                ],
            ),
            ("web1", &[(1, "10.20.0.11/24")]),
            ("web2", &[(1, "10.20.0.12/24")]),
            ("web3", &[(1, "10.20.0.13/24")]),
        ],
    );
    for d in [D1, D2] {
        net.must(d, &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    }
    for w in WEB {
        net.must(w, &["ip", "route", "add", "default", "via", GW]);
    }
    Some(net)
}

fn web(net: &Net, i: usize) -> Proc {
    lab_web(net, WEB[i], i + 1)
}

/// Director `n` (1: MASTER 100, 2: BACKUP 90); `notify` goes into the sync
/// group (notify_master / notify_backup / notify_fault lines).
fn config(n: usize, notify: &str) -> String {
    let (state, prio) = if n == 1 {
        ("MASTER", 100)
    } else {
        ("BACKUP", 90)
    };
    let rs: String = (11..=13)
        .map(|i| {
            format!(
                "    real_server 10.20.0.{i} 80 {{\n        weight 1\n        HTTP_GET {{\n            url {{\n                path /\n                status_code 200\n            }}\n            connect_timeout 1\n            retry 1\n            delay_before_retry 1\n        }}\n    }}\n"
            )
        })
        .collect();
    let inst = |name: &str, dev: &str, vrid: u8, vip: &str| {
        format!(
            "vrrp_instance {name} {{\n    state {state}\n    interface {dev}\n    virtual_router_id {vrid}\n    priority {prio}\n    advert_int 1\n    authentication {{\n        auth_type PASS\n        auth_pass 1111\n    }}\n    virtual_ipaddress {{\n        {vip}/24\n    }}\n}}\n"
        )
    };
    format!(
        "global_defs {{\n    router_id LB{n}\n    lvs_backend nftables\n}}\nvrrp_sync_group LB {{\n    group {{\n        VI_1\n        VI_GW\n    }}\n{notify}}}\n{}{}virtual_server {VIP} 80 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n{rs}}}\n",
        inst("VI_1", "eth0", 51, VIP),
        inst("VI_GW", "eth1", 52, GW),
    )
}

fn entering(inst: &str, state: &str) -> String {
    format!("({inst}) Entering {state} STATE")
}

/// Starts both directors; returns them once d1 is MASTER and d2 BACKUP of
/// both instances, and the VIPs are on d1.
fn directors(net: &Net, notify: [&str; 2]) -> (Proc, Proc) {
    let mut d1 = net.daemon(D1, "d1", &config(1, notify[0]));
    d1.expect_all(&[
        "Using the nftables data plane",
        &entering("VI_1", "MASTER"),
        &entering("VI_GW", "MASTER"),
    ]);
    let mut d2 = net.daemon(D2, "d2", &config(2, notify[1]));
    d2.expect_all(&[
        "Using the nftables data plane",
        &entering("VI_1", "BACKUP"),
        &entering("VI_GW", "BACKUP"),
    ]);
    wait_until("the VIPs on d1", || has_vips(net, D1));
    (d1, d2)
}

/// The MASTER dies as in a power cut: the daemon is killed -9 (which leaves
/// its VIPs and its nftables table behind) and every link goes down.
fn power_cut(net: &Net, d1: &Proc) {
    d1.kill9();
    for dev in ["eth0", "eth1", "eth2"] {
        net.must(D1, &["ip", "link", "set", dev, "down"]);
    }
}

/// Waits for d2 to be MASTER of both instances with both VIPs.
fn takeover(net: &Net, d2: &mut Proc) {
    d2.expect_all(&[&entering("VI_1", "MASTER"), &entering("VI_GW", "MASTER")]);
    wait_until("the VIPs on d2", || has_vips(net, D2));
}

fn has_vips(net: &Net, host: usize) -> bool {
    net.addrs(host, "eth0").contains(&format!("inet {VIP}/"))
        && net.addrs(host, "eth1").contains(&format!("inet {GW}/"))
}

/// MAC address of a host's interface.
fn mac_of(net: &Net, host: usize, dev: &str) -> String {
    net.exec(host, &["cat", &format!("/sys/class/net/{dev}/address")])
        .trim()
        .to_string()
}

/// Whether `host`'s neighbour entry for `ip` has the link-layer address `mac`.
fn neigh_is(net: &Net, host: usize, ip: &str, mac: &str) -> bool {
    net.exec(host, &["ip", "neigh", "show", ip])
        .contains(&format!("lladdr {mac}"))
}

/// Polls `cond` until it holds; panics with `what` after [`BOUND`].
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + BOUND;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------
// The client.

fn vip_addr() -> SocketAddr {
    format!("{VIP}:80").parse().unwrap()
}

/// One short request on a new connection (must run inside the client's
/// namespace).
fn request() -> Outcome {
    match TcpStream::connect_timeout(&vip_addr(), REQ_TIMEOUT) {
        Ok(mut s) => {
            let _ = s.set_read_timeout(Some(REQ_TIMEOUT));
            let _ = s.set_write_timeout(Some(REQ_TIMEOUT));
            exchange(&mut s, false)
        }
        Err(e) => classify(&e),
    }
}

/// `n` requests from the client, one after the other.
fn requests(net: &Net, n: usize) -> Vec<Outcome> {
    in_ns(net.ns(CLIENT), move || (0..n).map(|_| request()).collect())
}

/// One request of the load: when it started and ended, and its outcome.
#[derive(Debug, Clone)]
struct Sample {
    start: Instant,
    end: Instant,
    outcome: Outcome,
}

/// Requests in a loop from the client (at most `max`, 10 ms apart) until
/// `stop` is set; every sample is pushed to the shared log as it completes.
fn load(
    net: &Net,
    max: usize,
) -> (
    Arc<AtomicBool>,
    Arc<Mutex<Vec<Sample>>>,
    std::thread::JoinHandle<()>,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Vec::new()));
    let (flag, samples) = (stop.clone(), log.clone());
    let path = format!("/run/netns/{}", net.ns(CLIENT));
    let h = std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap();
        // SAFETY: a plain syscall on a valid descriptor; it affects this thread only.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        for _ in 0..max {
            if flag.load(Ordering::SeqCst) {
                break;
            }
            let start = Instant::now();
            let outcome = request();
            let end = Instant::now();
            samples.lock().unwrap().push(Sample {
                start,
                end,
                outcome,
            });
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    (stop, log, h)
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

/// Milliseconds from `a` to `b`, negative when `b` is earlier.
fn since(a: Instant, b: Instant) -> i128 {
    b.saturating_duration_since(a).as_millis() as i128
        - a.saturating_duration_since(b).as_millis() as i128
}

// ---------------------------------------------------------------------------
// A. Short requests under failover.

/// A client sends short requests (each bounded by 1 s) in a loop while the
/// MASTER dies (kill -9, links down). Asserts: the BACKUP takes both
/// instances and both VIPs; requests succeed again after the takeover, spread
/// over the three servers by the new MASTER's data plane; once the first
/// request after the takeover succeeded, none fails. Prints the failed
/// requests and the outage (first failure → first success after it).
#[test]
fn short_requests_survive_master_kill9() {
    let t0 = Instant::now();
    let Some(net) = lab(&["ip", "nft"]) else {
        return;
    };
    let _w: Vec<Proc> = (0..3).map(|i| web(&net, i)).collect();
    let (d1, mut d2) = directors(&net, ["", ""]);
    let warm = requests(&net, 6);
    assert!(warm.iter().all(Outcome::ok), "through d1: {warm:?}");

    let (stop, log, client) = load(&net, 5000);
    let count_ok_after = |t: Instant| {
        log.lock()
            .unwrap()
            .iter()
            .filter(|s| s.start >= t && s.outcome.ok())
            .count()
    };
    wait_until("20 answered requests through d1", || {
        count_ok_after(t0) >= 20
    });
    let killed = Instant::now();
    power_cut(&net, &d1);
    takeover(&net, &mut d2);
    let took_over = Instant::now();
    wait_until("30 answered requests through d2", || {
        count_ok_after(took_over) >= 30
    });
    stop.store(true, Ordering::SeqCst);
    client.join().unwrap();
    let samples = log.lock().unwrap().clone();

    let failed: Vec<&Sample> = samples.iter().filter(|s| !s.outcome.ok()).collect();
    let first_fail = samples.iter().position(|s| !s.outcome.ok());
    let recovery = samples
        .iter()
        .position(|s| s.start >= took_over && s.outcome.ok())
        .expect("a success after the takeover");
    eprintln!(
        "failover under load: {} requests, {} failed; d2 MASTER {} ms after the kill",
        samples.len(),
        failed.len(),
        ms(took_over - killed)
    );
    for s in &failed {
        eprintln!(
            "  failed: started {} ms after the kill, lasted {} ms: {:?}",
            since(killed, s.start),
            ms(s.end - s.start),
            s.outcome
        );
    }
    match first_fail {
        Some(f) => {
            let back = samples[f..]
                .iter()
                .find(|s| s.outcome.ok())
                .expect("a success after the first failure");
            eprintln!(
                "  outage: {} ms (start of the first failed request → end of the first answered one after it)",
                ms(back.end - samples[f].start)
            );
        }
        None => eprintln!("  outage: none (no request failed)"),
    }

    // After the first answer through d2, every request is answered, by all
    // three servers (the new MASTER's data plane, not a leftover).
    let after = &samples[recovery..];
    let bad: Vec<&Sample> = after.iter().filter(|s| !s.outcome.ok()).collect();
    assert!(bad.is_empty(), "failures after the recovery: {bad:?}");
    let mut servers: Vec<String> = after
        .iter()
        .filter_map(|s| match &s.outcome {
            Outcome::Ok(w) => Some(w.clone()),
            _ => None,
        })
        .collect();
    servers.sort();
    servers.dedup();
    assert_eq!(servers, ["web1", "web2", "web3"], "answers through d2");
    assert!(has_vips(&net, D2));
    eprintln!("test A took {} ms", ms(t0.elapsed()));
}

// ---------------------------------------------------------------------------
// B. Established connections under failover.

/// Keep-alive connections opened (and used once) through the MASTER.
fn open_conns(net: &Net, n: usize) -> Vec<(TcpStream, String)> {
    in_ns(net.ns(CLIENT), move || {
        (0..n)
            .map(|i| {
                let mut s = TcpStream::connect_timeout(&vip_addr(), REQ_TIMEOUT)
                    .unwrap_or_else(|e| panic!("connection {i}: {e}"));
                s.set_read_timeout(Some(REQ_TIMEOUT)).unwrap();
                s.set_write_timeout(Some(REQ_TIMEOUT)).unwrap();
                match exchange(&mut s, true) {
                    Outcome::Ok(w) => (s, w),
                    o => panic!("connection {i}: {o:?}"),
                }
            })
            .collect()
    })
}

/// After the takeover: every connection sends one more request. Returns the
/// outcomes (a different server's answer is impossible on one TCP connection,
/// but is reported as such).
fn reuse(conns: &mut [(TcpStream, String)], wait: Duration) -> Vec<Outcome> {
    conns
        .iter_mut()
        .map(|(s, _)| {
            s.set_read_timeout(Some(wait)).unwrap();
            exchange(s, true)
        })
        .collect()
}

/// Ports of the client's connections.
fn ports(conns: &[(TcpStream, String)]) -> Vec<u16> {
    conns
        .iter()
        .map(|(s, _)| s.local_addr().unwrap().port())
        .collect()
}

/// Prints and returns (ok on the same server, reset, timed out).
fn report(what: &str, conns: &[(TcpStream, String)], got: &[Outcome]) -> (usize, usize, usize) {
    let (mut same, mut reset, mut timeout) = (0, 0, 0);
    for ((s, before), o) in conns.iter().zip(got) {
        let port = s.local_addr().unwrap().port();
        match o {
            Outcome::Ok(w) if w == before => same += 1,
            Outcome::Ok(_) => {}
            Outcome::Reset(_) => reset += 1,
            Outcome::Timeout(_) => timeout += 1,
        }
        eprintln!("  {what}: client port {port}: {before} before, {o:?} after");
    }
    eprintln!(
        "{what}: {} keep-alive connections across the failover: {same} answered by the same server, {reset} reset, {timeout} timed out",
        conns.len()
    );
    (same, reset, timeout)
}

/// Waits until the client and the servers send to d2 (its gratuitous ARPs
/// were taken).
fn neighbours_follow(net: &Net) {
    let (m0, m1) = (mac_of(net, D2, "eth0"), mac_of(net, D2, "eth1"));
    wait_until("the client's ARP entry for the VIP to move to d2", || {
        neigh_is(net, CLIENT, VIP, &m0)
    });
    for w in WEB {
        wait_until(
            "the servers' ARP entry for the gateway to move to d2",
            || neigh_is(net, w, GW, &m1),
        );
    }
}

/// Without connection-state sync: the new MASTER has no conntrack entry for
/// the established connections; their next packet is a new flow to it
/// (`nf_conntrack_tcp_loose` 1, the default, picks it up mid-stream) that the
/// nat chain balances afresh, most likely to another server, which resets it.
/// Asserts only the failover (takeover, new connections answered); prints how
/// many established connections were reset.
#[test]
fn established_connections_without_state_sync() {
    let t0 = Instant::now();
    let Some(net) = lab(&["ip", "nft", "conntrack", "stdbuf"]) else {
        return;
    };
    let _w: Vec<Proc> = (0..3).map(|i| web(&net, i)).collect();
    let (d1, mut d2) = directors(&net, ["", ""]);
    // One request first: d1's round robin is then out of step with d2's, as
    // it would be in any real history.
    assert!(requests(&net, 1)[0].ok());
    let mut conns = open_conns(&net, CONNS);
    let loose = net.exec(
        D2,
        &["sysctl", "-n", "net.netfilter.nf_conntrack_tcp_loose"],
    );
    power_cut(&net, &d1);
    takeover(&net, &mut d2);
    neighbours_follow(&net);
    let events = ct_events(&net, D2);
    let got = reuse(&mut conns, REQ_TIMEOUT);
    let (same, reset, timeout) = report("without state sync", &conns, &got);
    // How d2 saw them: a NEW conntrack entry each, DNATed afresh.
    let mut moved = 0;
    for (s, before) in &conns {
        let port = s.local_addr().unwrap().port();
        let tuple = format!("sport={port} dport=80 ");
        let l = line_in(&events, &|l: &str| {
            l.contains("[NEW]") && l.contains(&tuple)
        });
        let server = l
            .split(&tuple)
            .nth(1)
            .and_then(|r| r.split("src=").nth(1))
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or("?")
            .to_string();
        let was = format!("10.20.0.1{}", before.trim_start_matches("web"));
        if server != was {
            moved += 1;
        }
        eprintln!("  d2: client port {port}: new conntrack entry, DNAT to {server} (was {was})");
    }
    eprintln!(
        "without state sync: d2 re-NATed {moved} of {CONNS} established connections to another server"
    );
    eprintln!(
        "without state sync: {reset} of {CONNS} reset ({timeout} timed out, {same} survived; nf_conntrack_tcp_loose={} on d2)",
        loose.trim()
    );
    let fresh = requests(&net, 6);
    assert!(
        fresh.iter().all(Outcome::ok),
        "new connections via d2: {fresh:?}"
    );
    assert_eq!(same + reset + timeout, CONNS, "{got:?}");
    eprintln!("test B (without sync) took {} ms", ms(t0.elapsed()));
}

/// `conntrack -E` (new and destroyed entries to the VIP) in a host, proven to
/// listen: an entry it inserts and deletes itself is seen.
fn ct_events(net: &Net, host: usize) -> Proc {
    let mut p = net.spawn(
        host,
        "stdbuf",
        &[
            "-oL",
            "conntrack",
            "-E",
            "-e",
            "NEW,DESTROY",
            "-p",
            "tcp",
            "--orig-dst",
            VIP,
        ],
    );
    let end = Instant::now() + BOUND;
    loop {
        let probe = [
            "-p",
            "tcp",
            "--src",
            "10.10.0.99",
            "--dst",
            VIP,
            "--sport",
            "9",
            "--dport",
            "80",
        ];
        let mut insert = vec!["conntrack", "-I"];
        insert.extend_from_slice(&probe);
        insert.extend_from_slice(&[
            "--reply-src",
            VIP,
            "--reply-dst",
            "10.10.0.99",
            "--reply-port-src",
            "80",
            "--reply-port-dst",
            "9",
            "--state",
            "ESTABLISHED",
            "--timeout",
            "5",
        ]);
        net.exec(host, &insert);
        let mut delete = vec!["conntrack", "-D"];
        delete.extend_from_slice(&probe);
        net.exec(host, &delete);
        if p.try_expect(
            |l| l.contains("sport=9 dport=80"),
            Duration::from_millis(300),
        )
        .is_some()
        {
            return p;
        }
        assert!(Instant::now() < end, "conntrack -E did not start");
    }
}

/// The first line of `p`'s output matching `pred`, waiting for it (bounded).
fn line_in(p: &Proc, pred: &dyn Fn(&str) -> bool) -> String {
    wait_until(&format!("{}: a line", p.name), || p.count(pred) > 0);
    p.dump().lines().find(|l| pred(l)).unwrap().to_string()
}

/// conntrackd's configuration for director `n` (1 or 2): FTFW over UDP on the
/// sync link, TCP only, the directors' own addresses ignored (health checks,
/// sync), the VIPs not (they are the LVS-NAT connections).
fn conntrackd_conf(net: &Net, n: usize) -> std::path::PathBuf {
    let other = 3 - n;
    let d = net.dir.display();
    let ignore: String = [
        "127.0.0.1",
        "10.10.0.1",
        "10.10.0.2",
        "10.20.0.1",
        "10.20.0.2",
        "10.30.0.1",
        "10.30.0.2",
    ]
    .iter()
    .map(|a| format!("            IPv4_address {a}\n"))
    .collect();
    net.file(
        &format!("ct{n}.conf"),
        &format!(
            "Sync {{\n    Mode FTFW {{\n        DisableExternalCache Off\n    }}\n    UDP {{\n        IPv4_address 10.30.0.{n}\n        IPv4_Destination_Address 10.30.0.{other}\n        Port 3780\n        Interface eth2\n        SndSocketBuffer 1249280\n        RcvSocketBuffer 1249280\n        Checksum on\n    }}\n}}\nGeneral {{\n    HashSize 8192\n    HashLimit 65536\n    LogFile {d}/ct{n}.log\n    Syslog off\n    LockFile {d}/ct{n}.lock\n    UNIX {{\n        Path {d}/ct{n}.ctl\n    }}\n    NetlinkBufferSize 2097152\n    NetlinkBufferSizeMaxGrowth 8388608\n    Filter From Userspace {{\n        Protocol Accept {{\n            TCP\n        }}\n        Address Ignore {{\n{ignore}        }}\n    }}\n}}\n"
        ),
    )
}

/// The primary-backup notify script of conntrack-tools, condensed; it prints
/// one line when done (the daemon's output: an event for the test).
const CT_NOTIFY: &str = r#"#!/bin/sh
# $1: primary | backup | fault; $2: conntrackd's configuration; $3 (test
# only): a file that must exist before the commit (waited for, bounded).
C="/usr/sbin/conntrackd -C $2"
case "$1" in
primary)
    if [ -n "$3" ]; then
        echo "ct-notify primary waiting"
        i=0
        while [ ! -e "$3" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
    fi
    $C -c; c=$?   # commit the external cache into the kernel table
    $C -f; f=$?   # flush the internal and external caches
    $C -R; r=$?   # resync the internal cache with the kernel table
    $C -B; b=$?   # bulk-send it to the backup
    echo "ct-notify primary done: -c $c -f $f -R $r -B $b" ;;
backup)
    $C -t; t=$?   # shorten the kernel's timers (zombie entries)
    $C -n; n=$?   # ask the primary for a resync
    echo "ct-notify backup done: -t $t -n $n" ;;
fault)
    $C -t
    echo "ct-notify fault done" ;;
esac
"#;

/// conntrackd installed, or installed now (bounded); false with a printed
/// reason when it cannot be.
fn have_conntrackd() -> bool {
    let found = || std::path::Path::new("/usr/sbin/conntrackd").exists();
    if !found() {
        let _ = std::process::Command::new("timeout")
            .args([
                "50",
                "apt-get",
                "install",
                "-y",
                "--no-install-recommends",
                "conntrackd",
            ])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
    if !found() {
        eprintln!(
            "skipped: conntrackd is not installed and could not be (apt-get install -y --no-install-recommends conntrackd)"
        );
    }
    found()
}

/// Starts conntrackd in director `n` and waits until it answers on its socket.
fn conntrackd(net: &Net, n: usize, conf: &std::path::Path) -> Proc {
    let host = if n == 1 { D1 } else { D2 };
    let p = net.spawn(host, "/usr/sbin/conntrackd", &["-C", path_str(conf)]);
    wait_until(&format!("conntrackd {n} to answer"), || {
        std::process::Command::new("ip")
            .args(["netns", "exec", net.ns(host), "/usr/sbin/conntrackd"])
            .args(["-C", path_str(conf), "-s"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    p
}

/// How many of the client's connections (by client port) are ESTABLISHED in
/// a conntrackd cache (`-i` internal, `-e` external) of director `host`.
fn in_cache(net: &Net, host: usize, conf: &std::path::Path, which: &str, ports: &[u16]) -> usize {
    let text = net.exec(host, &["/usr/sbin/conntrackd", "-C", path_str(conf), which]);
    ports
        .iter()
        .filter(|p| {
            text.lines().any(|l| {
                l.contains("ESTABLISHED") && l.contains(&format!("dst={VIP} sport={p} dport=80"))
            })
        })
        .count()
}

/// The lab of the conntrackd tests: conntrackd in both directors, the
/// directors with the primary-backup notify scripts (d2's commit waits for
/// the file `gate` when given), d1 MASTER and d2 BACKUP with their scripts
/// run, then one request and `CONNS` keep-alive connections through d1, all
/// of them in d2's external cache.
struct SyncLab {
    net: Net,
    ct1: Proc,
    d1: Proc,
    d2: Proc,
    conns: Vec<(TcpStream, String)>,
    _keep: Vec<Proc>,
}

fn sync_lab(gate: Option<&std::path::Path>) -> Option<SyncLab> {
    let net = lab(&["ip", "nft", "conntrack"])?;
    if !have_conntrackd() {
        return None;
    }
    let script = net.file("ct-notify.sh", CT_NOTIFY);
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let confs = [conntrackd_conf(&net, 1), conntrackd_conf(&net, 2)];
    let ct1 = conntrackd(&net, 1, &confs[0]);
    let ct2 = conntrackd(&net, 2, &confs[1]);
    let notify = |c: &std::path::Path, gate: Option<&std::path::Path>| {
        let (s, c) = (path_str(&script), path_str(c));
        let g = gate
            .map(|g| format!(" {}", path_str(g)))
            .unwrap_or_default();
        format!(
            "    notify_master \"{s} primary {c}{g}\"\n    notify_backup \"{s} backup {c}\"\n    notify_fault \"{s} fault {c}\"\n"
        )
    };
    let mut keep: Vec<Proc> = (0..3).map(|i| web(&net, i)).collect();
    keep.push(ct2);
    let (n1, n2) = (notify(&confs[0], None), notify(&confs[1], gate));
    let (d1, d2) = directors(&net, [&n1, &n2]);
    let l1 = line_of(&d1, "ct-notify primary done");
    eprintln!("d1: {l1}");
    let l2 = line_of(&d2, "ct-notify backup done");
    eprintln!("d2: {l2}");

    // One request first: d1's round robin is then out of step with d2's.
    assert!(requests(&net, 1)[0].ok());
    let conns = open_conns(&net, CONNS);
    let ports = ports(&conns);
    wait_until("d1's conntrackd to see every connection", || {
        in_cache(&net, D1, &confs[0], "-i", &ports) == CONNS
    });
    wait_until("d2's external cache to hold every connection", || {
        in_cache(&net, D2, &confs[1], "-e", &ports) == CONNS
    });
    Some(SyncLab {
        net,
        ct1,
        d1,
        d2,
        conns,
        _keep: keep,
    })
}

impl SyncLab {
    /// d1 and its conntrackd die, links down; d2 takes over.
    fn fail_over(&mut self) {
        power_cut(&self.net, &self.d1);
        self.ct1.kill9();
        takeover(&self.net, &mut self.d2);
    }

    /// d2's kernel conntrack entries of connections to the VIP.
    fn table(&self) -> String {
        self.net
            .exec(D2, &["conntrack", "-L", "-p", "tcp", "--orig-dst", VIP])
    }
}

/// With conntrackd in both directors (FTFW over the sync link, driven by the
/// sync group's notify scripts): the backup's external cache holds every
/// established connection; after the MASTER's death its notify_master script
/// commits them into the new MASTER's kernel table with their DNAT mapping,
/// and every keep-alive connection is answered again by the same server.
/// Goal and assertion: 0 reset connections.
#[test]
fn established_connections_survive_with_conntrackd() {
    let t0 = Instant::now();
    let Some(mut lab) = sync_lab(None) else {
        return;
    };
    lab.fail_over();
    let l = line_of(&lab.d2, "ct-notify primary done");
    eprintln!("d2: {l}");
    assert!(l.contains("primary done: -c 0"), "{l}");
    // The commit is synchronous (conntrackd answers `-c` when done): every
    // connection is in the kernel table now, DNATed to the server it had.
    let table = lab.table();
    eprintln!("d2's conntrack table after the commit:\n{table}");
    for (s, before) in &lab.conns {
        let port = s.local_addr().unwrap().port();
        let server = format!("10.20.0.1{}", before.trim_start_matches("web"));
        let entry = format!(
            "dst={VIP} sport={port} dport=80 src={server} dst=10.10.0.10 sport=80 dport={port}"
        );
        assert!(
            table
                .lines()
                .any(|l| l.contains("ESTABLISHED") && l.contains(&entry)),
            "no committed entry `{entry}`"
        );
    }
    neighbours_follow(&lab.net);
    let got = reuse(&mut lab.conns, REQ_TIMEOUT);
    let (same, reset, timeout) = report("with conntrackd", &lab.conns, &got);
    eprintln!("with conntrackd: {reset} of {CONNS} reset ({timeout} timed out, {same} survived)");
    let fresh = requests(&lab.net, 6);
    assert!(
        fresh.iter().all(Outcome::ok),
        "new connections via d2: {fresh:?}"
    );
    assert_eq!(
        (same, reset, timeout),
        (CONNS, 0, 0),
        "every established connection answered by its server: {got:?}"
    );
    eprintln!("test B (conntrackd) took {} ms", ms(t0.elapsed()));
}

/// The race between the takeover and `conntrackd -c`: packets of established
/// connections that reach the new MASTER after it took the VIPs (and sent its
/// gratuitous ARPs) but before the notify_master script committed the synced
/// entries. The commit is held back (a gate file) so that the window is
/// certain, not a matter of timing. Three groups of connections send their
/// next request inside the window:
///
/// * A, `nf_conntrack_tcp_loose=1` (the default): the packet makes a new
///   conntrack entry mid-stream, which the nat chain balances afresh; the
///   later commit cannot replace it. Printed: how many were reset.
/// * C, `nf_conntrack_tcp_loose=0`: the packet is INVALID, so not NATed; the
///   VIP is a local address, and the director's own TCP stack answers with a
///   reset. Printed.
/// * B, `nf_conntrack_tcp_loose=0` and a rule (the test's own table: our data
///   plane has none) dropping INVALID packets to the virtual service: the
///   packet is dropped, the client retransmits, and the retransmission after
///   the commit finds the synced entry. Asserted: 0 reset, same server.
#[test]
fn packets_before_the_conntrackd_commit() {
    let t0 = Instant::now();
    // The gate file, removed at the end (also on failure).
    struct Gate(std::path::PathBuf);
    impl Drop for Gate {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let gate = Gate(std::env::temp_dir().join(format!("krs{}-gate", std::process::id())));
    let _ = std::fs::remove_file(&gate.0);
    let Some(mut lab) = sync_lab(Some(&gate.0)) else {
        return;
    };
    lab.fail_over();
    line_of(&lab.d2, "ct-notify primary waiting");
    neighbours_follow(&lab.net);
    let n = CONNS / 3;
    let mut b = lab.conns.split_off(2 * n);
    let mut c = lab.conns.split_off(n);
    let a = &mut lab.conns;

    // A: loose 1, nothing drops.
    let got_a = reuse(a, REQ_TIMEOUT);
    let (_, reset_a, _) = report("A (loose=1, before the commit)", a, &got_a);
    // C: loose 0, nothing drops.
    lab.net.must(
        D2,
        &["sysctl", "-qw", "net.netfilter.nf_conntrack_tcp_loose=0"],
    );
    let got_c = reuse(&mut c, REQ_TIMEOUT);
    let (_, reset_c, _) = report("C (loose=0, before the commit)", &c, &got_c);
    // B: loose 0 and INVALID packets to the service dropped.
    let guard = lab.net.file(
        "guard.nft",
        &format!(
            "table inet krs_test_guard {{\n  chain pre {{\n    type filter hook prerouting priority -150; policy accept;\n    ip daddr {VIP} tcp dport 80 ct state invalid counter drop\n  }}\n}}\n"
        ),
    );
    lab.net.must(D2, &["nft", "-f", path_str(&guard)]);
    let dropped = || {
        let t = lab.net.exec(
            D2,
            &["nft", "list", "chain", "inet", "krs_test_guard", "pre"],
        );
        t.split("counter packets ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0)
    };
    for (s, _) in b.iter_mut() {
        s.write_all(b"GET / HTTP/1.1\r\nHost: lab\r\n\r\n").unwrap();
    }
    wait_until("d2 to drop B's requests as INVALID", || dropped() >= n);
    std::fs::write(&gate.0, "").unwrap();
    let l = line_of(&lab.d2, "ct-notify primary done");
    eprintln!("d2: {l}");
    let got_b: Vec<Outcome> = b
        .iter_mut()
        .map(|(s, _)| {
            // The request is already sent: only its answer is read, within
            // the client's retransmission backoff (bounded).
            s.set_read_timeout(Some(BOUND)).unwrap();
            read_answer(s)
        })
        .collect();
    let (same_b, reset_b, timeout_b) = report("B (loose=0 + drop INVALID)", &b, &got_b);
    eprintln!(
        "before the commit: A (loose=1) {reset_a} of {n} reset; C (loose=0) {reset_c} of {n} reset; B (loose=0, INVALID dropped) {reset_b} of {n} reset, {timeout_b} timed out; {} INVALID packets dropped",
        dropped()
    );
    eprintln!("d2's conntrack table after the commit:\n{}", lab.table());
    eprintln!(
        "d2's conntrackd log:\n{}",
        std::fs::read_to_string(lab.net.dir.join("ct2.log")).unwrap_or_default()
    );
    assert_eq!(
        (same_b, reset_b, timeout_b),
        (n, 0, 0),
        "B's connections answered by their servers: {got_b:?}"
    );
    eprintln!("test C (commit race) took {} ms", ms(t0.elapsed()));
}

/// The first line of `d`'s output containing `needle`, waiting for it
/// (bounded); the line stays in `d`'s stream for its `expect`s.
fn line_of(d: &Proc, needle: &str) -> String {
    line_in(d, &|l: &str| l.contains(needle))
}
