//! Reliability under faults (issue 8): real keepalived-rs daemons in network
//! namespaces, faced with a partitioned switch (split brain), a MASTER frozen by
//! SIGSTOP, lossy links, hostile VRRP packets, a storm of SIGHUPs and a kill -9.
//! Faults are made in the switch namespace with nftables (bridge family) or from
//! an attacker host on the same bridge; nothing leaves the test namespaces.
//! Root only; skipped with a reason otherwise. Every wait is on an event (a log
//! line, a captured packet, an address change, a status counter) and bounded.

mod common;

use common::*;
use keepalived_vrrp::packet::{self, AdverInt, Auth, Packet, Version};
use nix::libc;
use nix::sys::signal::Signal;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

const D1: usize = 0;
const D2: usize = 1;
const OBS: usize = 2;
const VIPS: [&str; 3] = ["10.9.0.100", "10.9.0.101", "10.9.0.102"];
const AUTH: &str = "    authentication {\n        auth_type PASS\n        auth_pass 1111\n    }\n";

// ---------------------------------------------------------------------------
// Configurations.

/// A VRRPv2 instance (advert_int 1, PASS authentication) on eth0.
fn v2(name: &str, vrid: u8, prio: u8, state: &str, vips: &[&str], extra: &str) -> String {
    let vips: String = vips.iter().map(|v| format!("        {v}/24\n")).collect();
    format!(
        "vrrp_instance {name} {{\n    state {state}\n    interface eth0\n    virtual_router_id {vrid}\n    priority {prio}\n    advert_int 1\n{AUTH}{extra}    virtual_ipaddress {{\n{vips}    }}\n}}\n"
    )
}

/// A VRRPv3 instance with a sub-second advert interval on eth0.
fn v3(name: &str, vrid: u8, prio: u8, state: &str, advert: &str, vips: &[&str]) -> String {
    let vips: String = vips.iter().map(|v| format!("        {v}/24\n")).collect();
    format!(
        "vrrp_instance {name} {{\n    version 3\n    state {state}\n    interface eth0\n    virtual_router_id {vrid}\n    priority {prio}\n    advert_int {advert}\n    virtual_ipaddress {{\n{vips}    }}\n}}\n"
    )
}

fn conf(body: &str) -> String {
    format!("global_defs {{\n    router_id lab\n}}\n{body}")
}

// ---------------------------------------------------------------------------
// Observations.

fn entering(state: &str) -> impl Fn(&str) -> bool + '_ {
    move |l: &str| l.contains(&format!("Entering {state} STATE"))
}

fn has_vips(net: &Net, host: usize, vips: &[&str]) -> bool {
    let a = net.addrs(host, "eth0");
    vips.iter().all(|v| a.contains(&format!("inet {v}/")))
}

fn has_none(net: &Net, host: usize, vips: &[&str]) -> bool {
    let a = net.addrs(host, "eth0");
    vips.iter().all(|v| !a.contains(&format!("inet {v}/")))
}

/// Polls `cond` until it holds; panics with `what` after [`BOUND`].
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + BOUND;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until a line matching `pred` was seen after `mark`, in any order
/// with the other lines (bounded).
fn await_line(p: &Proc, mark: usize, what: &str, pred: impl Fn(&str) -> bool) {
    wait_until(&format!("{}: {what}", p.name), || {
        p.count_since(mark, &pred) > 0
    });
}

/// `keepalived-rs status --json` of the daemon started as `name`.
fn status(net: &Net, name: &str) -> Value {
    let sock = net.dir.join(format!("{name}.sock"));
    status_at(&sock)
}

fn status_at(sock: &Path) -> Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keepalived-rs"))
        .args(["status", "--json", "--socket", path_str(sock)])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "{e}: {text} {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })
}

/// The instance called `name` in a status.
fn inst<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("no instance {name} in {v}"))
}

fn state_of(v: &Value, name: &str) -> String {
    inst(v, name)["state"].as_str().unwrap().to_string()
}

/// Per instance: state and transitions_total (what must not move).
fn states(v: &Value) -> Vec<(String, String, u64)> {
    v["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap().to_string(),
                i["state"].as_str().unwrap().to_string(),
                i["transitions_total"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn counters(v: &Value) -> BTreeMap<String, u64> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

/// `ip -o monitor address` in a host, started and proven to listen (an address
/// it adds and removes itself is seen).
fn addr_monitor(net: &Net, host: usize) -> Proc {
    let mut m = net.spawn(host, "ip", &["-o", "monitor", "address"]);
    let probe = "10.9.0.250/32";
    let end = Instant::now() + BOUND;
    loop {
        net.must(host, &["ip", "addr", "add", probe, "dev", "lo"]);
        let seen = m.try_expect(|l| l.contains("10.9.0.250"), Duration::from_millis(300));
        net.must(host, &["ip", "addr", "del", probe, "dev", "lo"]);
        if seen.is_some() {
            break;
        }
        assert!(Instant::now() < end, "ip monitor did not start");
    }
    m
}

fn is_del(l: &str, vip: &str) -> bool {
    l.starts_with("Deleted") && l.contains(&format!("inet {vip}/"))
}

fn is_add(l: &str, vip: &str) -> bool {
    !l.starts_with("Deleted") && l.contains(&format!("inet {vip}/"))
}

/// Loads an nftables script into the switch namespace.
fn nft(net: &Net, name: &str, script: &str) {
    let f = net.file(name, script);
    net.sw_must(&["nft", "-f", path_str(&f)]);
}

/// The packet count of every `counter` in a switch table, in rule order.
fn nft_counts(net: &Net, table: &str) -> Vec<u64> {
    let text = net.sw_exec(&["nft", "list", "table", "bridge", table]);
    text.split("counter packets ")
        .skip(1)
        .map(|s| s.split_whitespace().next().unwrap().parse().unwrap())
        .collect()
}

fn lab(tools: &[&str], hosts: &[&str]) -> Option<Net> {
    can_run(tools).then(|| Net::new(hosts))
}

// ---------------------------------------------------------------------------
// 1. Split brain.

/// The switch drops VRRP between the directors (both ways): the BACKUP misses
/// the adverts and becomes MASTER too, both own every VIP and the observer sees
/// both advertise. Healing the switch leaves exactly one MASTER, the higher
/// priority, and the loser removes its VIPs.
#[test]
fn split_brain_heals_to_one_master() {
    let Some(net) = lab(&["ip", "tcpdump", "nft"], &["d1", "d2", "obs"]) else {
        return;
    };
    let mut obs = net.observe(OBS);
    let mut d1 = net.daemon(D1, "d1", &conf(&v2("VI_1", 51, 100, "MASTER", &VIPS, "")));
    d1.expect(entering("MASTER"), "MASTER at start");
    let mut d2 = net.daemon(D2, "d2", &conf(&v2("VI_1", 51, 90, "BACKUP", &VIPS, "")));
    d2.expect(entering("BACKUP"), "BACKUP at start");
    obs.expect(|l| is_advert(l, "10.9.0.1", 100), "adverts of d1");
    wait_until("d1's VIPs", || has_vips(&net, D1, &VIPS));
    assert!(has_none(&net, D2, &VIPS), "{}", net.addrs(D2, "eth0"));

    let m1 = d1.mark();
    let mo = obs.mark();
    // Partition: VRRP between the two directors' ports is dropped, both ways;
    // the observer still hears both.
    let (p1, p2) = (net.port(D1), net.port(D2));
    nft(
        &net,
        "split.nft",
        &format!(
            "table bridge krs {{\n  chain flt {{\n    type filter hook forward priority 0; policy accept;\n    iifname \"{p1}\" oifname \"{p2}\" ip protocol 112 counter drop\n    iifname \"{p2}\" oifname \"{p1}\" ip protocol 112 counter drop\n  }}\n}}\n"
        ),
    );
    d2.expect(entering("MASTER"), "d2 MASTER in the split");
    await_line(&obs, mo, "adverts of d2 in the split", |l| {
        is_advert(l, "10.9.0.2", 90)
    });
    let mo2 = obs.mark();
    await_line(&obs, mo2, "adverts of d1 in the split", |l| {
        is_advert(l, "10.9.0.1", 100)
    });
    wait_until("VIPs on both directors", || {
        has_vips(&net, D1, &VIPS) && has_vips(&net, D2, &VIPS)
    });
    assert_eq!(
        d1.count_since(m1, |l| l.contains("Entering")),
        0,
        "{}",
        d1.dump()
    );
    assert_eq!(state_of(&status(&net, "d1"), "VI_1"), "MASTER");
    assert_eq!(state_of(&status(&net, "d2"), "VI_1"), "MASTER");
    // d2 announced the VIPs it took.
    let mac2 = net.mac(D2);
    await_line(&obs, mo, "GARP of d2 in the split", |l| {
        l.contains(&format!(" {mac2} >")) && is_garp(l, VIPS[0])
    });
    let dropped = nft_counts(&net, "krs");
    assert!(dropped.iter().all(|n| *n > 0), "{dropped:?}");

    // Heal: exactly one MASTER remains (the higher priority), the loser gives
    // its VIPs back.
    let m1 = d1.mark();
    let m2 = d2.mark();
    net.sw_must(&["nft", "delete", "table", "bridge", "krs"]);
    d2.expect(entering("BACKUP"), "d2 yields after the heal");
    wait_until("d2 to remove its VIPs", || has_none(&net, D2, &VIPS));
    // Three adverts of d1 after the heal, none of d2 after it yielded.
    obs.drain();
    for _ in 0..3 {
        obs.expect(
            |l| is_advert(l, "10.9.0.1", 100),
            "adverts of d1 after the heal",
        );
    }
    let m2b = d2.mark();
    for _ in 0..2 {
        obs.expect(|l| is_advert(l, "10.9.0.1", 100), "adverts of d1");
    }
    assert_eq!(d2.count_since(m2b, |l| l.contains("Entering")), 0);
    assert_eq!(
        d1.count_since(m1, |l| l.contains("Entering")),
        0,
        "{}",
        d1.dump()
    );
    assert_eq!(
        d2.count_since(m2, |l| l.contains("Entering")),
        1,
        "{}",
        d2.dump()
    );
    assert!(has_vips(&net, D1, &VIPS), "{}", net.addrs(D1, "eth0"));
    assert!(has_none(&net, D2, &VIPS), "{}", net.addrs(D2, "eth0"));
    let (s1, s2) = (status(&net, "d1"), status(&net, "d2"));
    assert_eq!(state_of(&s1, "VI_1"), "MASTER");
    assert_eq!(state_of(&s2, "VI_1"), "BACKUP");
    assert_eq!(inst(&s2, "VI_1")["master"], "10.9.0.1");
    eprintln!("split brain: {dropped:?} adverts dropped (d1 to d2, d2 to d1) in the split");
}

/// After a split brain the observer's ARP cache may point at the loser (its
/// GARPs came last). keepalived's MASTER answers a lower priority advert with an
/// advert and a burst of gratuitous ARPs (garp_lower_prio_repeat, which defaults
/// to garp_master_repeat): the heal is made so that the winner hears the loser
/// first, and the winner's GARP must follow at the observer.
#[test]
fn split_brain_heal_refreshes_arp() {
    if !can_run(&["ip", "tcpdump", "nft"]) {
        return;
    }
    heal_refreshes_arp(false);
}

/// The same with Debian's keepalived on both directors: the reference.
#[test]
fn split_brain_heal_refreshes_arp_keepalived() {
    if !can_run(&["ip", "tcpdump", "nft", "keepalived"]) {
        return;
    }
    heal_refreshes_arp(true);
}

fn heal_refreshes_arp(reference: bool) {
    let net = Net::new(&["d1", "d2", "obs"]);
    let start = |host: usize, name: &str, text: &str| {
        if reference {
            net.keepalived(host, name, text)
        } else {
            net.daemon(host, name, text)
        }
    };
    let mut obs = net.observe(OBS);
    // No delayed second GARP burst, so a GARP seen later is an answer to the heal.
    let extra = "    garp_master_delay 0\n";
    let mut d1 = start(
        D1,
        "d1",
        &conf(&v2("VI_1", 51, 100, "MASTER", &VIPS, extra)),
    );
    d1.expect(entering("MASTER"), "MASTER at start");
    let mut d2 = start(D2, "d2", &conf(&v2("VI_1", 51, 90, "BACKUP", &VIPS, extra)));
    d2.expect(entering("BACKUP"), "BACKUP at start");
    obs.expect(|l| is_advert(l, "10.9.0.1", 100), "adverts of d1");
    let (p1, p2) = (net.port(D1), net.port(D2));
    nft(
        &net,
        "split.nft",
        &format!(
            "table bridge krs {{\n  chain to2 {{\n    type filter hook forward priority 0; policy accept;\n    iifname \"{p1}\" oifname \"{p2}\" ip protocol 112 drop\n  }}\n  chain to1 {{\n    type filter hook forward priority 0; policy accept;\n    iifname \"{p2}\" oifname \"{p1}\" ip protocol 112 drop\n  }}\n}}\n"
        ),
    );
    let mo = obs.mark();
    d2.expect(entering("MASTER"), "d2 MASTER in the split");
    let (mac1, mac2) = (net.mac(D1), net.mac(D2));
    for v in VIPS {
        await_line(&obs, mo, &format!("GARP of d2 for {v}"), |l| {
            l.contains(&format!(" {mac2} >")) && is_garp(l, v)
        });
    }
    // d1 hears d2 again (d2 still does not hear d1).
    let mo = obs.mark();
    net.sw_must(&["nft", "delete", "chain", "bridge", "krs", "to1"]);
    obs.drain();
    // Two adverts of d2 after the change: the second one reached d1.
    for _ in 0..2 {
        obs.expect(
            |l| is_advert(l, "10.9.0.2", 90),
            "an advert of d2 reaching d1",
        );
    }
    let garp = obs.try_expect(
        |l| l.contains(&format!(" {mac1} >")) && is_garp(l, VIPS[0]),
        Duration::from_secs(3),
    );
    let seen = obs.dump();
    net.sw_must(&["nft", "delete", "table", "bridge", "krs"]);
    d2.expect(entering("BACKUP"), "d2 yields after the heal");
    let after: Vec<&str> = seen.lines().skip(mo).collect();
    let garps = after
        .iter()
        .filter(|l| l.contains(&format!(" {mac1} >")) && is_garp(l, VIPS[0]))
        .count();
    eprintln!(
        "heal ({}): GARPs of the winner after hearing the loser: {garps}",
        if reference {
            "keepalived"
        } else {
            "keepalived-rs"
        }
    );
    assert!(
        garp.is_some() || garps > 0,
        "no gratuitous ARP from the winner after it heard the lower priority MASTER:\n{}",
        after.join("\n")
    );
}

// ---------------------------------------------------------------------------
// 2. Starvation.

/// SIGSTOP freezes the MASTER (priority 100) until the BACKUP (90) takes over;
/// SIGCONT lets the old MASTER, still MASTER in its own eyes, advertise its
/// higher priority: the BACKUP yields. Exactly one MASTER at the end, and a
/// bounded number of transitions and VIP changes on each side.
#[test]
fn sigstop_master_then_sigcont() {
    let Some(net) = lab(&["ip", "tcpdump"], &["d1", "d2", "obs"]) else {
        return;
    };
    let mut obs = net.observe(OBS);
    let mut d1 = net.daemon(D1, "d1", &conf(&v2("VI_1", 51, 100, "MASTER", &VIPS, "")));
    d1.expect(entering("MASTER"), "MASTER at start");
    let mut d2 = net.daemon(D2, "d2", &conf(&v2("VI_1", 51, 90, "BACKUP", &VIPS, "")));
    d2.expect(entering("BACKUP"), "BACKUP at start");
    obs.expect(|l| is_advert(l, "10.9.0.1", 100), "adverts of d1");
    wait_until("d1's VIPs", || has_vips(&net, D1, &VIPS));
    let mon1 = addr_monitor(&net, D1);
    let mon2 = addr_monitor(&net, D2);
    let (a1, a2) = (mon1.mark(), mon2.mark());
    let (m1, m2) = (d1.mark(), d2.mark());

    d1.signal(Signal::SIGSTOP);
    d2.expect(entering("MASTER"), "takeover from the frozen MASTER");
    obs.expect(|l| is_advert(l, "10.9.0.2", 90), "adverts of d2");
    wait_until("d2's VIPs", || has_vips(&net, D2, &VIPS));
    d1.signal(Signal::SIGCONT);
    d2.expect(entering("BACKUP"), "d2 yields to the thawed MASTER");
    wait_until("d2 to remove its VIPs", || has_none(&net, D2, &VIPS));
    // Settled: adverts of d1 only, for a few intervals.
    let m2b = d2.mark();
    obs.drain();
    for _ in 0..3 {
        obs.expect(
            |l| is_advert(l, "10.9.0.1", 100),
            "adverts of d1 after SIGCONT",
        );
    }
    assert_eq!(
        d2.count_since(m2b, |l| l.contains("Entering")),
        0,
        "{}",
        d2.dump()
    );
    let (s1, s2) = (status(&net, "d1"), status(&net, "d2"));
    assert_eq!(state_of(&s1, "VI_1"), "MASTER");
    assert_eq!(state_of(&s2, "VI_1"), "BACKUP");
    assert!(has_vips(&net, D1, &VIPS), "{}", net.addrs(D1, "eth0"));
    assert!(has_none(&net, D2, &VIPS), "{}", net.addrs(D2, "eth0"));

    let t1 = d1.count_since(m1, |l| l.contains("Entering"));
    let t2 = d2.count_since(m2, |l| l.contains("Entering"));
    let flaps = |m: &Proc, mark: usize| -> Vec<(usize, usize)> {
        VIPS.iter()
            .map(|v| {
                (
                    m.count_since(mark, |l| is_add(l, v)),
                    m.count_since(mark, |l| is_del(l, v)),
                )
            })
            .collect()
    };
    let (f1, f2) = (flaps(&mon1, a1), flaps(&mon2, a2));
    eprintln!("starvation: transitions d1 {t1}, d2 {t2}; VIP (adds, deletes) d1 {f1:?}, d2 {f2:?}");
    assert!(t1 <= 2 && t2 <= 2, "d1 {t1}, d2 {t2} transitions");
    assert_eq!(t2, 2, "{}", d2.dump());
    for (adds, dels) in f1.iter().chain(&f2) {
        assert!(*adds <= 2 && *dels <= 2, "{f1:?} {f2:?}");
    }
    // d2 took every VIP once and gave it back once; d1 never let go.
    assert!(f2.iter().all(|f| *f == (1, 1)), "{f2:?}");
    assert!(f1.iter().all(|f| f.1 == 0), "{f1:?}");
}

// ---------------------------------------------------------------------------
// 3. Loss.

/// Adverts every 200 ms (VRRPv3) through a switch that loses some of them on
/// the way to the BACKUP. Every 10th advert lost (10 %, never two in a row): no
/// false failover, ever. (A random 10 % loses three in a row about once in a
/// thousand adverts, which is a failover by the protocol's own rules: asserting
/// on it would be flaky.) 30 % lost at random: three losses in a row do happen,
/// the BACKUP may take over falsely and must yield again; the count is printed,
/// the higher priority never leaves MASTER, and the pair ends with one MASTER
/// once the loss stops. Both runs are bounded by the number of adverts the
/// observer sees.
#[test]
fn lossy_link() {
    let Some(net) = lab(&["ip", "tcpdump", "nft"], &["d1", "d2", "obs"]) else {
        return;
    };
    let mut obs = net.observe(OBS);
    let mut d1 = net.daemon(
        D1,
        "d1",
        &conf(&v3("VI_1", 51, 100, "MASTER", "0.2", &VIPS)),
    );
    d1.expect(entering("MASTER"), "MASTER at start");
    let mut d2 = net.daemon(D2, "d2", &conf(&v3("VI_1", 51, 90, "BACKUP", "0.2", &VIPS)));
    d2.expect(entering("BACKUP"), "BACKUP at start");
    obs.expect(|l| is_advert(l, "10.9.0.1", 100), "adverts of d1");
    let p2 = net.port(D2);
    let rule = |name: &str, expr: &str| {
        nft(
            &net,
            name,
            &format!(
                "table bridge krs {{\n  chain flt {{\n    type filter hook forward priority 0; policy accept;\n    oifname \"{p2}\" ip protocol 112 {expr} counter drop\n    oifname \"{p2}\" ip protocol 112 counter\n  }}\n}}\n"
            ),
        )
    };
    const ADVERTS: usize = 100;

    // 10 %, isolated losses.
    rule("loss10.nft", "numgen inc mod 10 == 0");
    let m2 = d2.mark();
    obs.drain();
    for _ in 0..ADVERTS {
        obs.expect(
            |l| is_advert(l, "10.9.0.1", 100),
            "adverts of d1 at 10 % loss",
        );
    }
    let c = nft_counts(&net, "krs");
    let takeovers10 = d2.count_since(m2, entering("MASTER"));
    eprintln!(
        "loss 10 % (every 10th): {} adverts lost, {} delivered, false takeovers {takeovers10}",
        c[0], c[1]
    );
    assert!(c[0] >= 10, "the loss rule dropped {c:?}");
    assert_eq!(takeovers10, 0, "{}", d2.dump());
    net.sw_must(&["nft", "delete", "table", "bridge", "krs"]);

    // 30 % at random: recorded, not judged.
    rule("loss30.nft", "numgen random mod 100 < 30");
    let m1 = d1.mark();
    let m2 = d2.mark();
    obs.drain();
    for _ in 0..ADVERTS {
        obs.expect(
            |l| is_advert(l, "10.9.0.1", 100),
            "adverts of d1 at 30 % loss",
        );
    }
    let c = nft_counts(&net, "krs");
    net.sw_must(&["nft", "delete", "table", "bridge", "krs"]);
    let takeovers30 = d2.count_since(m2, entering("MASTER"));
    eprintln!(
        "loss 30 % (random): {} adverts lost, {} delivered, false takeovers {takeovers30}, d1 transitions {}",
        c[0],
        c[1],
        d1.count_since(m1, |l| l.contains("Entering"))
    );
    // The higher priority never yields to the false MASTER, and the pair
    // settles with one MASTER.
    assert_eq!(
        d1.count_since(m1, |l| l.contains("Entering")),
        0,
        "{}",
        d1.dump()
    );
    wait_until("one MASTER after the loss", || {
        state_of(&status(&net, "d2"), "VI_1") == "BACKUP"
    });
    wait_until("d2 to remove its VIPs", || has_none(&net, D2, &VIPS));
    assert_eq!(state_of(&status(&net, "d1"), "VI_1"), "MASTER");
    assert!(has_vips(&net, D1, &VIPS), "{}", net.addrs(D1, "eth0"));
}

// ---------------------------------------------------------------------------
// 4. Hostile packets.

/// A raw IPv4 socket (`IPPROTO_RAW`: the caller writes the IP header) opened
/// inside namespace `ns`. The namespace is per thread: a short-lived thread
/// enters it and opens the socket, which stays in it.
fn raw_socket_in(ns: &str) -> OwnedFd {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let f = std::fs::File::open(&path).unwrap();
        // SAFETY: plain syscalls on valid descriptors; this thread only.
        let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW) };
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        // SAFETY: a fresh descriptor nothing else owns.
        unsafe { OwnedFd::from_raw_fd(fd) }
    })
    .join()
    .unwrap()
}

/// Sends a whole IPv4 datagram (header included) to `dst`.
fn send_raw(fd: &OwnedFd, ip: &[u8], dst: Ipv4Addr) {
    let sa = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(dst.octets()),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: `ip` and `sa` outlive the call; the lengths are theirs.
    let n = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            ip.as_ptr().cast(),
            ip.len(),
            0,
            (&sa as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    assert_eq!(
        n,
        ip.len() as isize,
        "sendto {dst}: {}",
        std::io::Error::last_os_error()
    );
}

fn ipv4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// An attacker on the directors' bridge sends VRRP that would make it MASTER
/// (priority 200/254) if accepted, each with one defect: a wrong password, TTL
/// 254, a bad checksum, a VRID nobody runs, truncated, a version that does not
/// exist, the other version, and, to the instance with unicast peers, a
/// correct advert from an address that is not a peer. Neither director
/// changes state, and each defect is counted under its reason. Then one
/// flawless forged advert proves the path: the MASTER yields to it.
#[test]
fn hostile_packets_change_nothing() {
    let Some(net) = lab(&["ip", "tcpdump"], &["d1", "d2", "obs", "atk"]) else {
        return;
    };
    const ATK: usize = 3;
    let mut obs = net.observe(OBS);
    let uni = |me: &str, peer: &str| {
        format!("    unicast_src_ip {me}\n    unicast_peer {{\n        {peer}\n    }}\n")
    };
    let body = |prio: u8, state: &str, me: &str, peer: &str| {
        conf(&format!(
            "{}{}",
            v2("VI_1", 51, prio, state, &VIPS, ""),
            v2("VI_2", 52, prio, state, &["10.9.0.110"], &uni(me, peer))
        ))
    };
    let mut d1 = net.daemon(D1, "d1", &body(100, "MASTER", "10.9.0.1", "10.9.0.2"));
    d1.expect_all(&[
        "(VI_1) Entering MASTER STATE",
        "(VI_2) Entering MASTER STATE",
    ]);
    let mut d2 = net.daemon(D2, "d2", &body(90, "BACKUP", "10.9.0.2", "10.9.0.1"));
    d2.expect_all(&[
        "(VI_1) Entering BACKUP STATE",
        "(VI_2) Entering BACKUP STATE",
    ]);
    obs.expect(
        |l| is_advert(l, "10.9.0.1", 100) && l.contains("vrid 51"),
        "adverts of d1",
    );
    wait_until("d2 to know its MASTERs", || {
        let s = status(&net, "d2");
        inst(&s, "VI_1")["master"] == "10.9.0.1" && inst(&s, "VI_2")["master"] == "10.9.0.1"
    });
    let before = [status(&net, "d1"), status(&net, "d2")];
    let (m1, m2) = (d1.mark(), d2.mark());

    // The attacker: 10.9.0.4, multicast routed out of eth0.
    net.must(ATK, &["ip", "route", "add", "224.0.0.0/4", "dev", "eth0"]);
    let fd = raw_socket_in(net.ns(ATK));
    let me = ipv4("10.9.0.4");
    let group = ipv4("224.0.0.18");
    let pass = Auth::Simple(*b"1111\0\0\0\0");
    let vips: Vec<IpAddr> = VIPS.iter().map(|v| v.parse().unwrap()).collect();
    let hijack = |vrid: u8, prio: u8, auth: Auth, addrs: Vec<IpAddr>| Packet {
        version: Version::V2,
        vrid,
        priority: prio,
        auth,
        adver_int: AdverInt::Seconds(1),
        addresses: addrs,
    };
    let enc = |p: &Packet, dst: Ipv4Addr| packet::encode(p, me.into(), dst.into());
    let wrap = |vrrp: &[u8], dst: Ipv4Addr| packet::wrap_ipv4(vrrp, me, dst, 7);
    let good = hijack(51, 200, pass, vips.clone());

    let mut forged: Vec<(&str, Vec<u8>, Ipv4Addr)> = Vec::new();
    let wrong_auth = hijack(51, 200, Auth::Simple(*b"2222\0\0\0\0"), vips.clone());
    forged.push((
        "auth_mismatch",
        wrap(&enc(&wrong_auth, group), group),
        group,
    ));
    let mut ttl = wrap(&enc(&good, group), group);
    ttl[8] = 254;
    forged.push(("bad_ttl", ttl, group));
    let mut ck = enc(&good, group);
    ck[6] ^= 0x5a;
    forged.push(("bad_checksum", wrap(&ck, group), group));
    let other = hijack(99, 200, pass, vips.clone());
    forged.push(("unknown_vrid", wrap(&enc(&other, group), group), group));
    let full = enc(&good, group);
    forged.push(("too_short", wrap(&full[..6], group), group));
    forged.push((
        "length_mismatch",
        wrap(&full[..full.len() - 4], group),
        group,
    ));
    let mut v1 = full.clone();
    v1[0] = 0x11;
    forged.push(("bad_version", wrap(&v1, group), group));
    let other_version = Packet {
        version: Version::V3,
        auth: Auth::None,
        adver_int: AdverInt::Centis(100),
        ..good.clone()
    };
    forged.push((
        "version_mismatch",
        wrap(&enc(&other_version, group), group),
        group,
    ));
    let spoof = hijack(52, 254, pass, vec!["10.9.0.110".parse().unwrap()]);
    for d in ["10.9.0.1", "10.9.0.2"] {
        let d = ipv4(d);
        forged.push(("unknown_unicast_peer", wrap(&enc(&spoof, d), d), d));
    }
    const K: u64 = 3;
    for _ in 0..K {
        for (_, bytes, dst) in &forged {
            send_raw(&fd, bytes, *dst);
        }
    }

    // Where each reason is counted: daemon-wide (the codec, the VRID lookup)
    // or by the instance.
    let want: [(&str, Option<&str>); 9] = [
        ("auth_mismatch", Some("VI_1")),
        ("bad_ttl", None),
        ("bad_checksum", None),
        ("unknown_vrid", None),
        ("too_short", None),
        ("length_mismatch", None),
        ("bad_version", None),
        ("version_mismatch", Some("VI_1")),
        ("unknown_unicast_peer", Some("VI_2")),
    ];
    let get = |v: &Value, reason: &str, at: Option<&str>| -> u64 {
        let c = match at {
            Some(name) => counters(&inst(v, name)["drops"]),
            None => counters(&v["vrrp_drops"]),
        };
        c.get(reason).copied().unwrap_or(0)
    };
    let names = ["d1", "d2"];
    let mut after = [Value::Null, Value::Null];
    for (k, name) in names.iter().enumerate() {
        wait_until(&format!("{name}'s drop counters"), || {
            let now = status(&net, name);
            let done = want
                .iter()
                .all(|(r, at)| get(&now, r, *at) >= get(&before[k], r, *at) + K);
            after[k] = now;
            done
        });
    }
    // A few more adverts of the MASTER: nothing moved.
    obs.drain();
    for _ in 0..2 {
        obs.expect(
            |l| is_advert(l, "10.9.0.1", 100) && l.contains("vrid 51"),
            "adverts of d1 after the attack",
        );
    }
    for (k, name) in names.iter().enumerate() {
        let now = status(&net, name);
        assert_eq!(states(&before[k]), states(&now), "{name}: {now}");
        let growth: Vec<String> = want
            .iter()
            .map(|(r, at)| format!("{r}+{}", get(&after[k], r, *at) - get(&before[k], r, *at)))
            .collect();
        eprintln!(
            "hostile: {name} drops {} (vrrp_drops {}, VI_1 {}, VI_2 {})",
            growth.join(" "),
            after[k]["vrrp_drops"],
            inst(&after[k], "VI_1")["drops"],
            inst(&after[k], "VI_2")["drops"]
        );
    }
    assert_eq!(
        d1.count_since(m1, |l| l.contains("Entering")),
        0,
        "{}",
        d1.dump()
    );
    assert_eq!(
        d2.count_since(m2, |l| l.contains("Entering")),
        0,
        "{}",
        d2.dump()
    );
    assert!(has_vips(&net, D1, &VIPS), "{}", net.addrs(D1, "eth0"));
    assert!(has_none(&net, D2, &VIPS), "{}", net.addrs(D2, "eth0"));

    // The control: the same advert without a defect is obeyed.
    let flawless = hijack(51, 254, pass, vips);
    send_raw(&fd, &wrap(&enc(&flawless, group), group), group);
    d1.expect(
        |l| l.contains("(VI_1) Entering BACKUP STATE"),
        "d1 yields to the flawless forged advert",
    );
}

// ---------------------------------------------------------------------------
// 5. Reload storm.

fn count_fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        })
        .unwrap_or(false)
}

/// 80 SIGHUPs: 40 one at a time (each awaited), alternating two valid files
/// that differ in a VIP and the priority, every fifth file invalid; then 40
/// back to back without waiting, files replaced atomically in between. The
/// daemon keeps running and ends with the last file's VIPs and priority (on
/// the interface and in its status). Its descriptor count is printed; the
/// bound on it is [`reloads_leak_no_descriptors`].
#[test]
fn reload_storm() {
    let Some(net) = lab(&["ip"], &["d1"]) else {
        return;
    };
    let file = |prio: u8, vips: &[&str]| conf(&v2("VI_1", 51, prio, "MASTER", vips, ""));
    let a = file(100, &["10.9.0.100", "10.9.0.101"]);
    let b = file(110, &["10.9.0.100", "10.9.0.102"]);
    let bad = [
        format!("{a}bogus_keyword 1\n"),
        a[..a.len() / 2].to_string(),
    ];
    let last = file(120, &["10.9.0.100", "10.9.0.103"]);
    let mut d = net.daemon(0, "d1", &a);
    d.expect(entering("MASTER"), "MASTER at start");
    wait_until("the VIPs", || {
        has_vips(&net, 0, &["10.9.0.100", "10.9.0.101"])
    });
    let pid = d.pid();
    let conf_path = net.dir.join("d1.conf");
    let replace = |text: &str| {
        let tmp = net.dir.join("d1.conf.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &conf_path).unwrap();
    };
    let fds_start = count_fds(pid);
    let mut fds_warm = 0;

    let mut next_b = true;
    let (mut valid, mut invalid) = (0, 0);
    for i in 0..40 {
        if i % 5 == 4 {
            replace(&bad[(i / 5) % 2]);
            d.signal(Signal::SIGHUP);
            d.expect(|l| l.contains("reload refused"), "a refused reload");
            invalid += 1;
        } else {
            replace(if next_b { &b } else { &a });
            next_b = !next_b;
            d.signal(Signal::SIGHUP);
            d.expect(|l| l.contains("VRRP reloaded"), "a VRRP reload");
            valid += 1;
        }
        if i == 9 {
            fds_warm = count_fds(pid);
        }
    }
    let s = status(&net, "d1");
    assert_eq!(s["reloads"], valid, "{s}");
    assert_eq!(s["reload_failures"], invalid, "{s}");

    for i in 0..40 {
        if i % 5 == 4 {
            replace(&bad[(i / 5) % 2]);
        } else {
            replace(if next_b { &b } else { &a });
            next_b = !next_b;
        }
        d.signal(Signal::SIGHUP);
    }
    replace(&last);
    d.signal(Signal::SIGHUP);
    wait_until("the last file's state", || {
        let s = status(&net, "d1");
        let i = inst(&s, "VI_1");
        i["priority"] == 120
            && i["state"] == "MASTER"
            && i["vips"] == serde_json::json!(["10.9.0.100/24", "10.9.0.103/24"])
            && has_vips(&net, 0, &["10.9.0.100", "10.9.0.103"])
            && has_none(&net, 0, &["10.9.0.101", "10.9.0.102"])
    });
    // The daemon has handled everything it was sent: a last, awaited reload of
    // the same file changes nothing.
    let mark = d.mark();
    d.signal(Signal::SIGHUP);
    await_line(&d, mark, "the last reload", |l| {
        l.contains("configuration reloaded")
    });
    assert!(alive(pid), "{}", d.dump());
    let s = status(&net, "d1");
    let i = inst(&s, "VI_1");
    assert_eq!(i["priority"], 120, "{s}");
    assert_eq!(i["state"], "MASTER", "{s}");
    assert!(has_vips(&net, 0, &["10.9.0.100", "10.9.0.103"]));
    assert!(
        has_none(&net, 0, &["10.9.0.101", "10.9.0.102"]),
        "{}",
        net.addrs(0, "eth0")
    );
    assert_eq!(d.count_since(mark, |l| l.contains("Entering")), 0);
    let fds_end = count_fds(pid);
    let total = s["reloads"].as_u64().unwrap() + s["reload_failures"].as_u64().unwrap();
    eprintln!(
        "reload storm: 82 SIGHUPs, {total} reloads handled ({} refused); fds start {fds_start}, after 10 reloads {fds_warm}, end {fds_end}",
        s["reload_failures"]
    );
    assert!(alive(pid));
}

// ---------------------------------------------------------------------------
// 6. Crash recovery.

/// kill -9 of the MASTER leaves its VIPs on the interface. Restarted as a lower
/// priority, it removes them at start and does not add them back while BACKUP.
/// Then the other director, MASTER in turn, is killed -9 and restarted with the
/// higher priority: it removes its leftovers first, and adds the VIPs back
/// only as MASTER.
#[test]
fn kill9_leftover_vips_removed_at_start() {
    let Some(net) = lab(&["ip", "tcpdump"], &["d1", "d2", "obs"]) else {
        return;
    };
    let mut obs = net.observe(OBS);
    let mut d1 = net.daemon(D1, "d1", &conf(&v2("VI_1", 51, 100, "MASTER", &VIPS, "")));
    d1.expect(entering("MASTER"), "MASTER at start");
    let mut d2 = net.daemon(D2, "d2", &conf(&v2("VI_1", 51, 90, "BACKUP", &VIPS, "")));
    d2.expect(entering("BACKUP"), "BACKUP at start");
    wait_until("d1's VIPs", || has_vips(&net, D1, &VIPS));

    d1.kill9();
    d2.expect(entering("MASTER"), "takeover after kill -9");
    wait_until("d2's VIPs", || has_vips(&net, D2, &VIPS));
    assert!(has_vips(&net, D1, &VIPS), "kill -9 left nothing behind?");

    // d1 again, now below d2: it cleans up and stays BACKUP without VIPs.
    let mon1 = addr_monitor(&net, D1);
    let a1 = mon1.mark();
    let mut d1b = net.daemon(D1, "d1b", &conf(&v2("VI_1", 51, 80, "BACKUP", &VIPS, "")));
    d1b.expect(entering("BACKUP"), "BACKUP after the restart");
    for v in VIPS {
        await_line(&mon1, a1, &format!("removal of the leftover {v}"), |l| {
            is_del(l, v)
        });
    }
    obs.drain();
    for _ in 0..3 {
        obs.expect(|l| is_advert(l, "10.9.0.2", 90), "adverts of d2");
    }
    assert!(has_none(&net, D1, &VIPS), "{}", net.addrs(D1, "eth0"));
    assert_eq!(d1b.count(entering("MASTER")), 0, "{}", d1b.dump());
    let adds: usize = VIPS
        .iter()
        .map(|v| mon1.count_since(a1, |l| is_add(l, v)))
        .sum();
    assert_eq!(adds, 0, "{}", mon1.dump());
    assert_eq!(state_of(&status(&net, "d1b"), "VI_1"), "BACKUP");

    // d2 crashes as MASTER; d1 takes over; d2 comes back with the higher
    // priority and preempts.
    d2.kill9();
    d1b.expect(entering("MASTER"), "d1 takes over");
    wait_until("d1's VIPs", || has_vips(&net, D1, &VIPS));
    assert!(has_vips(&net, D2, &VIPS), "kill -9 left nothing behind?");
    let mon2 = addr_monitor(&net, D2);
    let a2 = mon2.mark();
    let mut d2b = net.daemon(D2, "d2b", &conf(&v2("VI_1", 51, 90, "BACKUP", &VIPS, "")));
    d2b.expect(entering("BACKUP"), "BACKUP after the restart");
    d2b.expect(entering("MASTER"), "d2 preempts the lower priority");
    d1b.expect(entering("BACKUP"), "d1 yields");
    wait_until("the VIPs to move to d2", || {
        has_vips(&net, D2, &VIPS) && has_none(&net, D1, &VIPS)
    });
    // On d2: every leftover removed before it was added back.
    let lines: Vec<String> = mon2.dump().lines().skip(a2).map(str::to_string).collect();
    for v in VIPS {
        let del = lines.iter().position(|l| is_del(l, v));
        let add = lines.iter().position(|l| is_add(l, v));
        assert!(
            matches!((del, add), (Some(d), Some(a)) if d < a),
            "{v}: removal at {del:?}, addition at {add:?}\n{}",
            lines.join("\n")
        );
    }
    eprintln!(
        "crash recovery: d2's address events after its restart:\n{}",
        lines.join("\n")
    );
}

/// Twenty awaited reloads, alternating two valid files: the daemon's open
/// descriptors stay bounded (they are counted after the first five reloads
/// and at the end).
#[test]
fn reloads_leak_no_descriptors() {
    let Some(net) = lab(&["ip"], &["d1"]) else {
        return;
    };
    let file = |prio: u8, vip: &str| conf(&v2("VI_1", 51, prio, "MASTER", &[vip], ""));
    let (a, b) = (file(100, "10.9.0.100"), file(110, "10.9.0.101"));
    let mut d = net.daemon(0, "d1", &a);
    d.expect(entering("MASTER"), "MASTER at start");
    let pid = d.pid();
    let conf_path = net.dir.join("d1.conf");
    let mut warm = 0;
    for i in 0..20 {
        std::fs::write(&conf_path, if i % 2 == 0 { &b } else { &a }).unwrap();
        d.signal(Signal::SIGHUP);
        d.expect(|l| l.contains("VRRP reloaded"), "a VRRP reload");
        if i == 4 {
            warm = count_fds(pid);
        }
    }
    let end = count_fds(pid);
    let sockets = |pid: i32| {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|t| t.to_string_lossy().starts_with("socket:"))
            .count()
    };
    eprintln!(
        "reload fds: after 5 reloads {warm}, after 20 {end} ({} sockets)",
        sockets(pid)
    );
    assert!(end <= warm + 4, "fds {warm} -> {end} over 15 reloads");
}
