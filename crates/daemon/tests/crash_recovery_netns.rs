//! Crash recovery of the load balancer (issue 8, scenario 9): keepalived-rs is
//! killed -9 on a director and started again on the same file. The nftables
//! table `inet keepalived_rs_lb` outlives the daemon, so established
//! connections keep working while it is dead; the restarted daemon reads the
//! table and reconciles it (a diff, not a rebuild), so they keep working after
//! the restart too.
//!
//! Lab: a client (10.10.0.10), one director (front 10.10.0.1, back 10.20.0.1,
//! the real servers' gateway), three `keepalived-rs lab-web` real servers;
//! `virtual_server VIP 80` rr NAT with HTTP_GET checks on the nftables data
//! plane.
//!
//! * `static_vip_restart_keeps_table_and_connections`: the VIP is a static
//!   address of the director (the data plane alone). Asserted: the table
//!   stays across the kill; keep-alive connections are answered by their
//!   server while the daemon is dead and after the restart; the restart makes
//!   0 data-plane operations (status JSON over the control socket, no
//!   "data plane: N operation(s)" line, no nf_tables event in `nft monitor`)
//!   and the table is the same (`nft -a list table`, handles included); new
//!   connections are spread evenly over the three servers.
//! * `file_changed_while_dead_removes_only_that_server`: the file loses web3
//!   while the daemon is dead. Asserted: the restart is one operation (one
//!   destination removed), only set elements change (no table, chain, map or
//!   rule is touched), web3 is gone from the table and the status, the
//!   connections to web1 and web2 are answered by their server; new ones go
//!   to web1 and web2 only. Printed: what became of web3's connections.
//! * `vrrp_vip_restart_keeps_connections`: the VIP is held by a VRRP instance
//!   of the same daemon; the restarted daemon removes the VIP a crash left
//!   behind (BACKUP at start) and takes it again as MASTER (both seen in `ip
//!   monitor address`). Three connections are used while it is BACKUP without
//!   the VIP (their conntrack entries carry them). Asserted as in the first
//!   test (0 operations, same table, connections answered by their server).
//!
//! Root only; skipped with a printed reason otherwise. Every wait is on an
//! event (a log line, the status, an nf_tables event, an answer) and bounded;
//! traffic stays in the test namespaces.

mod common;

use common::*;
use keepalived_testkit::netns::in_ns;
use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const CLIENT: usize = 0;
const DIRECTOR: usize = 1;
const WEB: [usize; 3] = [2, 3, 4];
const VIP: &str = "10.10.0.100";
const TABLE: &str = "keepalived_rs_lb";
/// Keep-alive connections held across the crash (three per server with rr).
const CONNS: usize = 9;
/// Bound of one request on an established connection.
const REQ_TIMEOUT: Duration = Duration::from_secs(2);

// ---------------------------------------------------------------------------
// The lab.

fn lab() -> Option<Net> {
    one_director_lab("10.10.0.10/24", &["ip", "nft", "stdbuf"])
}

fn web(net: &Net, i: usize) -> Proc {
    lab_web(net, WEB[i], i + 1)
}

/// The director's file: the real servers `servers` (1..=3), and a VRRP
/// instance holding the VIP when `vrrp`.
fn config(servers: &[usize], vrrp: bool) -> String {
    let rs: String = servers
        .iter()
        .map(|i| {
            format!(
                "    real_server 10.20.0.1{i} 80 {{\n        weight 1\n        HTTP_GET {{\n            url {{\n                path /\n                status_code 200\n            }}\n            connect_timeout 1\n            retry 1\n            delay_before_retry 1\n        }}\n    }}\n"
            )
        })
        .collect();
    let inst = if vrrp {
        format!(
            "vrrp_instance VI_1 {{\n    state MASTER\n    interface eth0\n    virtual_router_id 51\n    priority 100\n    advert_int 1\n    virtual_ipaddress {{\n        {VIP}/24\n    }}\n}}\n"
        )
    } else {
        String::new()
    };
    format!(
        "global_defs {{\n    router_id lb\n    lvs_backend nftables\n}}\n{inst}virtual_server {VIP} 80 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n{rs}}}\n"
    )
}

/// The director's daemon on `conf` (the same file, pid file and control
/// socket for every start).
struct Director {
    conf: PathBuf,
    sock: PathBuf,
    pid: PathBuf,
}

impl Director {
    fn new(net: &Net, text: &str) -> Director {
        Director {
            conf: net.file("dir.conf", text),
            sock: net.dir.join("dir.sock"),
            pid: net.dir.join("dir.pid"),
        }
    }

    /// Starts the daemon (debug log on stderr) and waits for its data plane.
    fn start(&self, net: &Net) -> Proc {
        let mut d = net.spawn(
            DIRECTOR,
            env!("CARGO_BIN_EXE_keepalived-rs"),
            &[
                "-n",
                "-l",
                "-D",
                "-f",
                path_str(&self.conf),
                "-p",
                path_str(&self.pid),
                "--control-socket",
                path_str(&self.sock),
            ],
        );
        d.expect(
            |l| l.contains("Using the nftables data plane"),
            "the nftables data plane",
        );
        d
    }

    /// The status JSON, or Null while the daemon does not answer.
    fn status(&self, net: &Net) -> serde_json::Value {
        let out = net.exec(
            DIRECTOR,
            &[
                env!("CARGO_BIN_EXE_keepalived-rs"),
                "status",
                "--json",
                "--socket",
                path_str(&self.sock),
            ],
        );
        serde_json::from_str(&out).unwrap_or(serde_json::Value::Null)
    }

    /// Waits until the status shows the first apply done: exactly the real
    /// servers `servers`, each up with the weight programmed (1; the status
    /// starts at 0 until the data plane is applied) and checked once.
    fn applied(&self, net: &Net, servers: &[usize]) -> serde_json::Value {
        let want: Vec<String> = servers
            .iter()
            .map(|i| format!("[10.20.0.1{i}]:tcp:80"))
            .collect();
        let end = Instant::now() + BOUND;
        loop {
            let v = self.status(net);
            let ok = v["dataplane"]["backend"] == "nftables"
                && v["virtual_servers"][0]["real_servers"]
                    .as_array()
                    .is_some_and(|rss| {
                        rss.len() == want.len()
                            && rss.iter().zip(&want).all(|(r, w)| {
                                r["address"] == w.as_str()
                                    && r["up"] == true
                                    && r["weight"] == 1
                                    && r["checks_ok"].as_u64().unwrap_or(0) > 0
                            })
                    });
            if ok {
                return v;
            }
            assert!(
                Instant::now() < end,
                "the daemon's first apply of {want:?}; last status: {v}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `nft -a list table inet keepalived_rs_lb` in the director ("" if absent).
fn table(net: &Net) -> String {
    net.exec(DIRECTOR, &["nft", "-a", "list", "table", "inet", TABLE])
}

/// The table's objects with their kernel handles (chains, maps, rules): a
/// rebuilt table has new handles.
fn structure(t: &str) -> Vec<String> {
    t.lines()
        .filter(|l| l.contains("# handle"))
        .map(|l| l.trim().to_string())
        .collect()
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
// nf_tables events in the director.

/// `nft monitor` in the director, proven to listen; [`Monitor::sync`] returns
/// the events of our table since the last sync, all of them: it waits for
/// the event of a probe change made after them (netlink keeps the order).
struct Monitor {
    p: Proc,
    mark: usize,
    probes: u32,
}

impl Monitor {
    fn start(net: &Net) -> Monitor {
        let p = net.spawn(DIRECTOR, "stdbuf", &["-oL", "nft", "monitor"]);
        let mut m = Monitor {
            p,
            mark: 0,
            probes: 0,
        };
        // The first probes may come before the monitor listens: repeat.
        let end = Instant::now() + BOUND;
        while !m.probe(net, Duration::from_millis(300)) {
            assert!(Instant::now() < end, "nft monitor did not start");
        }
        m.mark = m.p.mark();
        m
    }

    /// Adds and deletes a table of the test's own; true when its deletion is
    /// seen within `wait`.
    fn probe(&mut self, net: &Net, wait: Duration) -> bool {
        self.probes += 1;
        let name = format!("krs_probe{}", self.probes);
        net.must(DIRECTOR, &["nft", "add", "table", "inet", &name]);
        net.must(DIRECTOR, &["nft", "delete", "table", "inet", &name]);
        let seen = format!("delete table inet {name}");
        self.p.try_expect(|l| l.contains(&seen), wait).is_some()
    }

    /// Events naming our table since the last sync.
    fn sync(&mut self, net: &Net) -> Vec<String> {
        assert!(
            self.probe(net, BOUND),
            "nft monitor: no probe event\n{}",
            self.p.dump()
        );
        let lines: Vec<String> = self
            .p
            .dump()
            .lines()
            .skip(self.mark)
            .filter(|l| l.contains(TABLE))
            .map(str::to_string)
            .collect();
        self.mark = self.p.mark();
        lines
    }
}

/// `ip monitor address` in the director, proven to listen (a probe address
/// added and deleted is seen).
fn addr_monitor(net: &Net) -> Proc {
    let mut p = net.spawn(
        DIRECTOR,
        "stdbuf",
        &["-oL", "ip", "-o", "monitor", "address"],
    );
    let end = Instant::now() + BOUND;
    loop {
        net.must(
            DIRECTOR,
            &["ip", "addr", "add", "10.10.0.250/32", "dev", "eth0"],
        );
        net.must(
            DIRECTOR,
            &["ip", "addr", "del", "10.10.0.250/32", "dev", "eth0"],
        );
        if p.try_expect(
            |l| l.starts_with("Deleted") && l.contains("10.10.0.250/32"),
            Duration::from_millis(300),
        )
        .is_some()
        {
            return p;
        }
        assert!(Instant::now() < end, "ip monitor did not start");
    }
}

// ---------------------------------------------------------------------------
// The client.

fn vip_addr() -> SocketAddr {
    format!("{VIP}:80").parse().unwrap()
}

/// `n` requests on new connections; counts of each answer ("web1", …, or
/// the failure).
fn requests(net: &Net, n: usize) -> BTreeMap<String, usize> {
    let outs = in_ns(net.ns(CLIENT), move || {
        (0..n)
            .map(
                |_| match TcpStream::connect_timeout(&vip_addr(), REQ_TIMEOUT) {
                    Ok(mut s) => {
                        s.set_read_timeout(Some(REQ_TIMEOUT)).unwrap();
                        s.set_write_timeout(Some(REQ_TIMEOUT)).unwrap();
                        exchange(&mut s, false)
                    }
                    Err(e) => classify(&e),
                },
            )
            .collect::<Vec<_>>()
    });
    let mut counts = BTreeMap::new();
    for o in outs {
        let k = match o {
            Outcome::Ok(w) => w,
            o => format!("{o:?}"),
        };
        *counts.entry(k).or_default() += 1;
    }
    counts
}

/// `n` keep-alive connections through the VIP, each used twice (the same
/// server must answer both); with the server that answered.
fn open_conns(net: &Net, n: usize) -> Vec<(TcpStream, String)> {
    in_ns(net.ns(CLIENT), move || {
        (0..n)
            .map(|i| {
                let mut s = TcpStream::connect_timeout(&vip_addr(), REQ_TIMEOUT)
                    .unwrap_or_else(|e| panic!("connection {i}: {e}"));
                s.set_read_timeout(Some(REQ_TIMEOUT)).unwrap();
                s.set_write_timeout(Some(REQ_TIMEOUT)).unwrap();
                let w = match exchange(&mut s, true) {
                    Outcome::Ok(w) => w,
                    o => panic!("connection {i}: {o:?}"),
                };
                assert_eq!(exchange(&mut s, true), Outcome::Ok(w.clone()));
                (s, w)
            })
            .collect()
    })
}

/// One more request on every connection.
fn reuse(conns: &mut [(TcpStream, String)]) -> Vec<Outcome> {
    conns.iter_mut().map(|(s, _)| exchange(s, true)).collect()
}

/// How many connections were answered by the server they had; prints each.
fn same_server(what: &str, conns: &[(TcpStream, String)], got: &[Outcome]) -> usize {
    let mut same = 0;
    for ((s, before), o) in conns.iter().zip(got) {
        if *o == Outcome::Ok(before.clone()) {
            same += 1;
        } else {
            eprintln!(
                "  {what}: client port {}: {before} before, {o:?} now",
                s.local_addr().unwrap().port()
            );
        }
    }
    eprintln!(
        "{what}: {same} of {} keep-alive connections answered by their server",
        conns.len()
    );
    same
}

fn servers_of(conns: &[(TcpStream, String)]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for (_, w) in conns {
        *m.entry(w.clone()).or_default() += 1;
    }
    m
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// The daemon's "data plane: N operation(s)" lines so far, as N.
fn op_lines(d: &Proc) -> Vec<u64> {
    d.dump()
        .lines()
        .filter_map(|l| l.split("data plane: ").nth(1))
        .filter_map(|r| r.split(" operation(s)").next()?.parse().ok())
        .collect()
}

/// The daemon's log up to and including its first apply, for the report.
fn start_log(d: &Proc) -> String {
    d.dump()
        .lines()
        .filter(|l| !l.contains("HTTP_GET"))
        .take(8)
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------
// The common first half: the daemon up, keep-alive connections, kill -9.

struct Crashed {
    net: Net,
    dir: Director,
    conns: Vec<(TcpStream, String)>,
    before: String,
    _web: Vec<Proc>,
    _dead: Proc,
}

/// Lab, web servers, the daemon (VIP static or by VRRP), even spread checked,
/// `CONNS` keep-alive connections; then kill -9: the table stays as it was
/// and every connection is still answered by its server.
fn crashed(vrrp: bool) -> Option<Crashed> {
    let net = lab()?;
    let web: Vec<Proc> = (0..3).map(|i| web(&net, i)).collect();
    if !vrrp {
        net.must(
            DIRECTOR,
            &["ip", "addr", "add", &format!("{VIP}/24"), "dev", "eth0"],
        );
    }
    let dir = Director::new(&net, &config(&[1, 2, 3], vrrp));
    let mut d = dir.start(&net);
    if vrrp {
        d.expect(|l| l.contains("Entering MASTER STATE"), "MASTER");
        wait_until("the VIP on the director", || {
            net.addrs(DIRECTOR, "eth0")
                .contains(&format!("inet {VIP}/"))
        });
    }
    let first = dir.applied(&net, &[1, 2, 3]);
    eprintln!(
        "first start: {} data-plane operation(s) in {} transaction(s)",
        first["dataplane"]["operations"], first["dataplane"]["transactions"]
    );
    assert_eq!(
        requests(&net, 6),
        counts(&[("web1", 2), ("web2", 2), ("web3", 2)])
    );
    let mut conns = open_conns(&net, CONNS);
    assert_eq!(
        servers_of(&conns),
        counts(&[("web1", 3), ("web2", 3), ("web3", 3)]),
        "rr spreads the keep-alive connections"
    );
    let before = table(&net);
    assert!(before.contains("10.20.0.13"), "{before}");

    d.kill9();
    let after_kill = table(&net);
    assert_eq!(after_kill, before, "the table outlives kill -9");
    if vrrp {
        assert!(
            net.addrs(DIRECTOR, "eth0")
                .contains(&format!("inet {VIP}/")),
            "kill -9 leaves the VIP"
        );
    }
    let got = reuse(&mut conns);
    assert_eq!(
        same_server("daemon dead", &conns, &got),
        CONNS,
        "while the daemon is dead: {got:?}"
    );
    Some(Crashed {
        net,
        dir,
        conns,
        before,
        _web: web,
        _dead: d,
    })
}

/// Asserts the restart with an unchanged file: status 0 operations and 0
/// transactions, no "data plane" log line, no nf_tables event of our table,
/// the same table (handles included), the connections answered by their
/// servers, new connections spread evenly.
fn unchanged_restart(mut c: Crashed, d: &Proc, mon: &mut Monitor, t0: Instant, what: &str) {
    let st = c.dir.applied(&c.net, &[1, 2, 3]);
    let events = mon.sync(&c.net);
    eprintln!("{what}: the restarted daemon's log:\n{}", start_log(d));
    eprintln!(
        "{what}: restart: status dataplane {}; \"data plane\" log lines {:?}; {} nf_tables event(s) of our table",
        st["dataplane"],
        op_lines(d),
        events.len()
    );
    assert_eq!(st["dataplane"]["operations"], 0, "{st}");
    assert_eq!(st["dataplane"]["transactions"], 0, "{st}");
    assert_eq!(st["dataplane"]["errors"], 0, "{st}");
    assert_eq!(op_lines(d), Vec::<u64>::new(), "{}", d.dump());
    assert!(events.is_empty(), "nf_tables events: {events:#?}");
    assert_eq!(table(&c.net), c.before, "the table as before the crash");

    let got = reuse(&mut c.conns);
    let same = same_server(&format!("{what}: after the restart"), &c.conns, &got);
    assert_eq!(same, CONNS, "after the restart: {got:?}");
    assert_eq!(
        requests(&c.net, 30),
        counts(&[("web1", 10), ("web2", 10), ("web3", 10)]),
        "new connections after the restart"
    );
    // The connections are still usable after the new ones.
    let got = reuse(&mut c.conns);
    assert_eq!(same_server(what, &c.conns, &got), CONNS, "{got:?}");
    eprintln!("{what}: took {} ms", t0.elapsed().as_millis());
}

// ---------------------------------------------------------------------------
// The tests.

/// Static VIP, the same file: the restart touches nothing and every
/// connection survives both the crash and the restart.
#[test]
fn static_vip_restart_keeps_table_and_connections() {
    let t0 = Instant::now();
    let Some(c) = crashed(false) else { return };
    let mut mon = Monitor::start(&c.net);
    let d = c.dir.start(&c.net);
    unchanged_restart(c, &d, &mut mon, t0, "static VIP");
}

/// Static VIP; web3 is removed from the file while the daemon is dead. The
/// restart removes web3 (one operation, set elements only) and leaves the
/// connections to web1 and web2 alone.
#[test]
fn file_changed_while_dead_removes_only_that_server() {
    let t0 = Instant::now();
    let Some(mut c) = crashed(false) else { return };
    let mut mon = Monitor::start(&c.net);
    std::fs::write(&c.dir.conf, config(&[1, 2], false)).unwrap();
    let d = c.dir.start(&c.net);
    let st = c.dir.applied(&c.net, &[1, 2]);
    let events = mon.sync(&c.net);
    let t = table(&c.net);
    eprintln!(
        "file changed: the restarted daemon's log:\n{}",
        start_log(&d)
    );
    // Summary of the events: kind and set → count.
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for e in &events {
        let k: Vec<&str> = e.split_whitespace().take(5).collect();
        *kinds.entry(k.join(" ")).or_default() += 1;
    }
    eprintln!(
        "file changed: restart: status dataplane {}; \"data plane\" log lines {:?}; {} nf_tables event(s) of our table: {kinds:?}",
        st["dataplane"],
        op_lines(&d),
        events.len(),
    );
    assert_eq!(op_lines(&d), [1], "one operation\n{}", d.dump());
    assert_eq!(st["dataplane"]["operations"], 1, "{st}");
    assert_eq!(st["dataplane"]["transactions"], 1, "{st}");
    assert_eq!(st["dataplane"]["errors"], 0, "{st}");
    assert!(!events.is_empty());
    let elem = |verb: &str, set: &str| format!("{verb} element inet {TABLE} {set} ");
    assert!(
        events.iter().all(|e| {
            ["add", "delete"].iter().any(|v| {
                ["s1_w", "s1_slots"]
                    .iter()
                    .any(|m| e.starts_with(&elem(v, m)))
            })
        }),
        "only the service's set elements change: {kinds:?}"
    );
    let of = |verb: &str, set: &str| -> Vec<&String> {
        events
            .iter()
            .filter(|e| e.starts_with(&elem(verb, set)))
            .collect()
    };
    // web3 leaves the weights; its slots, and only its, are given to the others.
    assert_eq!(of("delete", "s1_w").len(), 1, "{kinds:?}");
    assert!(of("delete", "s1_w")[0].contains("10.20.0.13 . 80"));
    assert!(of("add", "s1_w").is_empty(), "{kinds:?}");
    let (del, add) = (of("delete", "s1_slots"), of("add", "s1_slots"));
    assert!(del.iter().all(|e| e.contains("10.20.0.13 . 80")), "{del:?}");
    assert!(add.iter().all(|e| !e.contains("10.20.0.13")), "{add:?}");
    assert_eq!(del.len(), add.len(), "only web3's slots move");
    assert_eq!(
        structure(&t),
        structure(&c.before),
        "no table, chain, map or rule rebuilt"
    );
    assert!(
        !t.contains("10.20.0.13"),
        "web3 is gone from the table:\n{t}"
    );
    assert!(
        t.contains("10.20.0.11") && t.contains("10.20.0.12"),
        "web1 and web2 are in the table:\n{t}"
    );

    let (mut kept, mut gone): (Vec<_>, Vec<_>) = c.conns.drain(..).partition(|(_, w)| w != "web3");
    let got = reuse(&mut kept);
    let same = same_server("file changed: web1/web2", &kept, &got);
    assert_eq!(same, kept.len(), "connections to web1 and web2: {got:?}");
    let new = requests(&c.net, 20);
    assert_eq!(
        new.keys().collect::<Vec<_>>(),
        ["web1", "web2"],
        "new connections after the restart: {new:?}"
    );
    // web3's connections: their conntrack entries are flushed with the server
    // (a removed server's connections are), so their next packet is a new
    // flow. Printed only.
    let got3 = reuse(&mut gone);
    eprintln!(
        "file changed: web3's {} connection(s) after the restart: {got3:?}",
        gone.len()
    );
    let got = reuse(&mut kept);
    assert_eq!(
        same_server("file changed: web1/web2 again", &kept, &got),
        kept.len(),
        "{got:?}"
    );
    eprintln!("file changed: took {} ms", t0.elapsed().as_millis());
}

/// The VIP held by a VRRP instance of the same daemon: the restarted daemon
/// removes the leftover VIP, becomes MASTER again and takes it; the data
/// plane is untouched and the connections survive, also when used in
/// between (BACKUP, no VIP).
#[test]
fn vrrp_vip_restart_keeps_connections() {
    let t0 = Instant::now();
    let Some(mut c) = crashed(true) else { return };
    let mut mon = Monitor::start(&c.net);
    let mut addrs = addr_monitor(&c.net);
    let mut d = c.dir.start(&c.net);
    d.expect(|l| l.contains("Entering BACKUP STATE"), "BACKUP at start");
    // The leftover VIP goes first.
    let gone = addrs.expect(
        |l| l.starts_with("Deleted") && l.contains(&format!("inet {VIP}/")),
        "the leftover VIP removed",
    );
    // Three connections used while the director is BACKUP without the VIP:
    // their conntrack entries still carry them.
    let gap = &mut c.conns[..3];
    let got = reuse(gap);
    let in_gap = d.count(|l| l.contains("Entering MASTER STATE")) == 0
        && !c
            .net
            .addrs(DIRECTOR, "eth0")
            .contains(&format!("inet {VIP}/"));
    let same = same_server("vrrp: without the VIP (BACKUP)", gap, &got);
    eprintln!("vrrp: answered while the VIP was absent: {in_gap}");
    assert_eq!(same, 3, "while BACKUP without the VIP: {got:?}");
    d.expect(
        |l| l.contains("Entering MASTER STATE"),
        "MASTER after restart",
    );
    let back = addrs.expect(
        |l| !l.starts_with("Deleted") && l.contains(&format!("inet {VIP}/")),
        "the VIP added again",
    );
    eprintln!("vrrp: address events:\n  {gone}\n  {back}");
    wait_until("the VIP on the director after the restart", || {
        c.net
            .addrs(DIRECTOR, "eth0")
            .contains(&format!("inet {VIP}/"))
    });
    eprintln!(
        "vrrp: VRRP lines of the restarted daemon:\n{}",
        d.dump()
            .lines()
            .filter(|l| l.contains("VI_1") || l.contains(VIP))
            .collect::<Vec<_>>()
            .join("\n")
    );
    unchanged_restart(c, &d, &mut mon, t0, "VRRP VIP");
}
