//! VRRP on the real wire: two directors (keepalived-rs) and an observer on one
//! bridge, each in its own network namespace. Root only; skipped with a reason
//! otherwise. Every wait is on an event: a daemon log line or a packet the
//! observer captured.

mod common;

use common::*;
use nix::sys::signal::Signal;

const D1: usize = 0;
const D2: usize = 1;
const OBS: usize = 2;
const VIPS: [&str; 3] = ["10.9.0.100", "10.9.0.101", "10.9.0.102"];

/// Instance settings a test varies.
#[derive(Clone)]
struct Inst {
    name: &'static str,
    vrid: u8,
    prio: u8,
    state: &'static str,
    extra: String,
    vips: Vec<String>,
}

impl Inst {
    fn v2(prio: u8) -> Self {
        Inst {
            name: "VI_1",
            vrid: 51,
            prio,
            state: "BACKUP",
            extra: "    authentication {\n        auth_type PASS\n        auth_pass 1111\n    }\n"
                .into(),
            vips: VIPS.iter().map(|v| format!("{v}/24")).collect(),
        }
    }

    fn text(&self) -> String {
        let vips: String = self.vips.iter().map(|v| format!("        {v}\n")).collect();
        format!(
            "vrrp_instance {} {{\n    state {}\n    interface eth0\n    virtual_router_id {}\n    priority {}\n    advert_int 1\n{}    virtual_ipaddress {{\n{vips}    }}\n}}\n",
            self.name, self.state, self.vrid, self.prio, self.extra
        )
    }
}

fn config(global: &str, body: &str) -> String {
    format!("global_defs {{\n    router_id lab\n{global}}}\n{body}")
}

fn single(i: &Inst) -> String {
    config("", &i.text())
}

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

/// Waits at the observer for a gratuitous ARP for each address from `host`.
fn expect_garps(net: &Net, obs: &mut Proc, host: usize, vips: &[&str]) {
    let mac = net.mac(host);
    for v in vips {
        obs.expect(
            |l| l.contains(&format!(" {mac} >")) && is_garp(l, v),
            &format!("gratuitous ARP for {v} from {mac}"),
        );
    }
}

fn lab() -> Option<Net> {
    can_run(&["ip", "tcpdump"]).then(|| Net::new(&["d1", "d2", "obs"]))
}

/// RFC 3768 §6.4: the higher priority becomes MASTER, the other BACKUP; the
/// MASTER owns every VIP and announces it; kill -9 of the MASTER lets the BACKUP
/// take over at master-down and announce every VIP.
#[test]
fn election_and_kill9_failover() {
    let Some(net) = lab() else { return };
    let mut obs = net.observe(OBS);
    let mut d2 = net.daemon(D2, "d2", &single(&Inst::v2(90)));
    d2.expect(entering("BACKUP"), "BACKUP at start");
    let mut d1 = net.daemon(D1, "d1", &single(&Inst::v2(100)));
    d1.expect(entering("BACKUP"), "BACKUP at start");
    // d2 alone has no MASTER yet or is MASTER already: either way d1 (100)
    // preempts it, and d2 ends BACKUP.
    d1.expect(entering("MASTER"), "MASTER after election");
    expect_garps(&net, &mut obs, D1, &VIPS);
    obs.expect(|l| is_advert(l, "10.9.0.1", 100), "adverts from d1");
    assert!(has_vips(&net, D1, &VIPS), "{}", net.addrs(D1, "eth0"));
    assert!(has_none(&net, D2, &VIPS), "{}", net.addrs(D2, "eth0"));
    obs.drain();

    d1.kill9();
    d2.expect(entering("MASTER"), "takeover after kill -9");
    expect_garps(&net, &mut obs, D2, &VIPS);
    assert!(has_vips(&net, D2, &VIPS), "{}", net.addrs(D2, "eth0"));
    // A crash leaves d1's VIPs behind (nothing removed them).
    assert!(has_vips(&net, D1, &VIPS));
    // A restart of d1 removes the leftovers at once and preempts back.
    let mut d1 = net.daemon(D1, "d1b", &single(&Inst::v2(100)));
    d1.expect(entering("MASTER"), "preemption back");
    d2.expect(entering("BACKUP"), "d2 yields to the higher priority");
    assert!(has_none(&net, D2, &VIPS), "{}", net.addrs(D2, "eth0"));
}

/// RFC 3768 §6.4.3: on shutdown the MASTER sends priority 0 and the BACKUP takes
/// over after its skew time, without waiting for master-down.
#[test]
fn graceful_stop_sends_priority_zero() {
    let Some(net) = lab() else { return };
    let mut obs = net.observe(OBS);
    let mut d1 = net.daemon(D1, "d1", &single(&Inst::v2(100)));
    d1.expect(entering("MASTER"), "MASTER");
    let mut d2 = net.daemon(D2, "d2", &single(&Inst::v2(90)));
    d2.expect(entering("BACKUP"), "BACKUP");
    obs.expect(|l| is_advert(l, "10.9.0.1", 100), "adverts from d1");
    obs.drain();
    d1.signal(Signal::SIGTERM);
    obs.expect(|l| is_advert(l, "10.9.0.1", 0), "priority 0 advert");
    assert!(d1.wait_exit(), "{}", d1.dump());
    d2.expect(entering("MASTER"), "takeover");
    expect_garps(&net, &mut obs, D2, &VIPS);
    assert!(has_none(&net, D1, &VIPS), "{}", net.addrs(D1, "eth0"));
    assert!(has_vips(&net, D2, &VIPS));
    // The takeover came from the priority-0 advert, not from master-down: the
    // first advert of d2 follows d1's priority 0 by skew time (0.65 s at 90),
    // with no advert of d2 before it.
    let log = obs.dump();
    let zero = log.find("prio 0,").unwrap();
    assert!(log[zero..].contains("10.9.0.2 > 224.0.0.18"));
}

/// RFC 3768 §6.4.2 with Preempt_Mode false: a higher priority that comes up later
/// stays BACKUP.
#[test]
fn nopreempt_keeps_the_master() {
    let Some(net) = lab() else { return };
    let mut obs = net.observe(OBS);
    let mut low = Inst::v2(90);
    low.extra.push_str("    nopreempt\n");
    let mut high = Inst::v2(100);
    high.extra.push_str("    nopreempt\n");
    let mut d2 = net.daemon(D2, "d2", &single(&low));
    d2.expect(entering("MASTER"), "MASTER alone");
    let mut d1 = net.daemon(D1, "d1", &single(&high));
    d1.expect(entering("BACKUP"), "BACKUP");
    // Several adverts of d2 reach d1 while it stays BACKUP.
    for _ in 0..5 {
        obs.expect(|l| is_advert(l, "10.9.0.2", 90), "adverts from d2");
    }
    assert_eq!(d1.count(entering("MASTER")), 0, "{}", d1.dump());
    assert!(has_vips(&net, D2, &VIPS));
}

/// unicast_peer: adverts go to the peer's address, not to 224.0.0.18.
#[test]
fn unicast_peers() {
    let Some(net) = lab() else { return };
    // The bridge learns MACs, so the unicast adverts are captured at d2.
    let mut obs = net.observe(D2);
    let mut a = Inst::v2(100);
    a.extra
        .push_str("    unicast_src_ip 10.9.0.1\n    unicast_peer {\n        10.9.0.2\n    }\n");
    let mut b = Inst::v2(90);
    b.extra
        .push_str("    unicast_src_ip 10.9.0.2\n    unicast_peer {\n        10.9.0.1\n    }\n");
    let mut d1 = net.daemon(D1, "d1", &single(&a));
    let mut d2 = net.daemon(D2, "d2", &single(&b));
    d1.expect(entering("MASTER"), "MASTER");
    d2.expect(entering("BACKUP"), "BACKUP");
    obs.expect(
        |l| l.contains("10.9.0.1 > 10.9.0.2: VRRP"),
        "unicast advert",
    );
    // Never a multicast advert.
    assert_eq!(
        obs.count(|l| l.contains("> 224.0.0.18")),
        0,
        "{}",
        obs.dump()
    );
    d1.kill9();
    d2.expect(entering("MASTER"), "takeover over unicast");
}

/// RFC 9568 over IPv6: v3 adverts from the link-local address to ff02::12, the new
/// MASTER sends an unsolicited neighbour advertisement for every VIP.
#[test]
fn v3_ipv6_with_unsolicited_na() {
    let Some(net) = lab() else { return };
    let mut obs = net.observe(OBS);
    let v6 = |prio| Inst {
        name: "VI_6",
        vrid: 61,
        prio,
        state: "BACKUP",
        extra: "    version 3\n".into(),
        vips: vec!["fd00:9::100/64".into(), "fd00:9::101/64".into()],
    };
    let mut d1 = net.daemon(D1, "d1", &single(&v6(100)));
    let mut d2 = net.daemon(D2, "d2", &single(&v6(90)));
    d1.expect(entering("MASTER"), "MASTER");
    d2.expect(entering("BACKUP"), "BACKUP");
    obs.expect(|l| is_na(l, "fd00:9::100"), "NA for fd00:9::100");
    obs.expect(
        |l| l.contains("> ff02::12: VRRPv3") && l.contains("prio 100"),
        "v3 advert",
    );
    let a = net.addrs(D1, "eth0");
    assert!(a.contains("inet6 fd00:9::100/64"), "{a}");
    assert!(!a.contains("tentative"), "{a}");
    obs.drain();
    d1.kill9();
    d2.expect(entering("MASTER"), "takeover");
    obs.expect(|l| is_na(l, "fd00:9::101"), "NA from d2");
}

/// A vrrp_script with a negative weight: its failure lowers the MASTER's
/// priority below the BACKUP's, which preempts it.
#[test]
fn track_script_moves_the_master() {
    let Some(net) = lab() else { return };
    let flag = net.dir.join("healthy");
    std::fs::write(&flag, "").unwrap();
    let script = format!(
        "vrrp_script chk {{\n    script \"/usr/bin/test -e {}\"\n    interval 1\n    weight -20\n}}\n",
        flag.display()
    );
    let mut a = Inst::v2(100);
    a.extra.push_str("    track_script {\n        chk\n    }\n");
    let global = "    script_user root\n    enable_script_security\n";
    let mut d1 = net.daemon(D1, "d1", &config(global, &format!("{script}{}", a.text())));
    let mut d2 = net.daemon(D2, "d2", &single(&Inst::v2(90)));
    d1.expect(entering("MASTER"), "MASTER");
    d2.expect(entering("BACKUP"), "BACKUP");
    std::fs::remove_file(&flag).unwrap();
    d1.expect(|l| l.contains("VRRP_Script(chk) failed"), "script failure");
    d2.expect(entering("MASTER"), "d2 preempts the lowered MASTER");
    d1.expect(entering("BACKUP"), "d1 yields");
    std::fs::write(&flag, "").unwrap();
    d1.expect(
        |l| l.contains("VRRP_Script(chk) succeeded"),
        "script recovery",
    );
    d1.expect(entering("MASTER"), "d1 preempts back");
}

/// A sync group: when one member moves, the other follows, both ways.
#[test]
fn sync_group_moves_together() {
    let Some(net) = lab() else { return };
    let mut obs = net.observe(OBS);
    let flag = net.dir.join("up");
    std::fs::write(&flag, "").unwrap();
    let body = |prio: u8, tracked: bool| {
        let mut a = Inst::v2(prio);
        let mut b = Inst::v2(prio);
        b.name = "VI_2";
        b.vrid = 52;
        b.vips = vec!["10.9.0.110/24".into()];
        a.extra.clear();
        b.extra.clear();
        if tracked {
            // A failing script without weight puts VI_2 in FAULT; the group follows.
            b.extra.push_str("    track_script {\n        chk\n    }\n");
        }
        let script = format!(
            "vrrp_script chk {{\n    script \"/usr/bin/test -e {}\"\n    interval 1\n}}\n",
            flag.display()
        );
        config(
            "    script_user root\n    enable_script_security\n",
            &format!(
                "{script}vrrp_sync_group G1 {{\n    group {{\n        VI_1\n        VI_2\n    }}\n}}\n{}{}",
                a.text(),
                b.text()
            ),
        )
    };
    let mut d1 = net.daemon(D1, "d1", &body(100, true));
    let mut d2 = net.daemon(D2, "d2", &body(90, false));
    d1.expect_all(&[
        "(VI_1) Entering MASTER STATE",
        "(VI_2) Entering MASTER STATE",
    ]);
    std::fs::remove_file(&flag).unwrap();
    d1.expect_all(&["(VI_1) Entering FAULT STATE", "(VI_2) Entering FAULT STATE"]);
    d2.expect_all(&[
        "(VI_1) Entering MASTER STATE",
        "(VI_2) Entering MASTER STATE",
    ]);
    expect_garps(&net, &mut obs, D2, &["10.9.0.100", "10.9.0.110"]);
    assert!(has_vips(&net, D2, &["10.9.0.100", "10.9.0.110"]));
    assert!(has_none(&net, D1, &["10.9.0.100", "10.9.0.110"]));
}

/// notify scripts get keepalived's arguments; the notify FIFO gets its lines.
#[test]
fn notify_script_and_fifo() {
    let Some(net) = lab() else { return };
    let out = net.dir.join("notify.out");
    let script = net.file(
        "notify.sh",
        &format!("#!/bin/sh\necho \"$@\" >> {}\n", out.display()),
    );
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let fifo = net.dir.join("fifo");
    // Make the FIFO and keep a reader open before the daemon writes.
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let mut reader = net.spawn(OBS, "cat", &[path_str(&fifo)]);
    let mut a = Inst::v2(100);
    a.extra.push_str(&format!(
        "    notify {}\n    notify_master \"{} master-only\"\n",
        script.display(),
        script.display()
    ));
    let global = format!(
        "    script_user root\n    enable_script_security\n    vrrp_notify_fifo {}\n",
        fifo.display()
    );
    let mut d1 = net.daemon(D1, "d1", &config(&global, &a.text()));
    d1.expect(entering("MASTER"), "MASTER");
    reader.expect(|l| l == "INSTANCE \"VI_1\" BACKUP 100", "FIFO BACKUP line");
    reader.expect(|l| l == "INSTANCE \"VI_1\" MASTER 100", "FIFO MASTER line");
    d1.signal(Signal::SIGTERM);
    reader.expect(|l| l == "INSTANCE \"VI_1\" STOP 100", "FIFO STOP line");
    assert!(d1.wait_exit());
    // Scripts run asynchronously; the FIFO STOP line comes after the MASTER
    // scripts were started, and they are quick: wait for their lines.
    let want = [
        "INSTANCE VI_1 BACKUP 100",
        "master-only",
        "INSTANCE VI_1 MASTER 100",
    ];
    let end = std::time::Instant::now() + BOUND;
    loop {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        if want.iter().all(|w| text.lines().any(|l| l == *w)) {
            break;
        }
        assert!(std::time::Instant::now() < end, "notify output: {text}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// use_vmac: the VIPs live on a macvlan with the virtual MAC 00:00:5e:00:01:VRID,
/// and the gratuitous ARPs carry it.
#[test]
fn use_vmac() {
    let Some(net) = lab() else { return };
    let mut obs = net.observe(OBS);
    let mut a = Inst::v2(100);
    a.extra.push_str("    use_vmac\n");
    let mut d1 = net.daemon(D1, "d1", &single(&a));
    d1.expect(entering("MASTER"), "MASTER");
    let garp = obs.expect(|l| is_garp(l, "10.9.0.100"), "gratuitous ARP");
    assert!(
        garp.starts_with("00:00:5e:00:01:33") || garp.contains(" 00:00:5e:00:01:33 >"),
        "{garp}"
    );
    let link = net.exec(D1, &["ip", "-o", "link", "show", "vrrp.51"]);
    assert!(link.contains("00:00:5e:00:01:33"), "{link}");
    assert!(has_vips(&net, D1, &[]));
    let a = net.addrs(D1, "vrrp.51");
    assert!(a.contains("inet 10.9.0.100/24"), "{a}");
    d1.signal(Signal::SIGTERM);
    assert!(d1.wait_exit());
    let link = net.exec(D1, &["ip", "-o", "link", "show"]);
    assert!(!link.contains("vrrp.51"), "{link}");
}

/// TCP to a closed port of `ip` from a host: "refused" when packets get through,
/// "dropped" when a firewall eats them (bounded by a 2 s connect timeout).
fn reach(net: &Net, host: usize, ip: &str) -> &'static str {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", net.ns(host), "timeout", "2", "bash", "-c"])
        .arg(format!("</dev/tcp/{ip}/9"))
        .status()
        .unwrap();
    match out.code() {
        Some(124) => "dropped",
        _ => "refused",
    }
}

/// vrrp_strict implies no_accept below priority 255: while MASTER, packets to
/// the VIPs are dropped by our own nftables table; accept mode lets them in.
/// The table goes away on stop.
#[test]
fn strict_mode_drops_traffic_to_vips() {
    if !can_run(&["ip", "tcpdump", "nft"]) {
        return;
    }
    let net = Net::new(&["d1", "d2", "obs"]);
    let mut strict = Inst::v2(100);
    strict.extra.clear();
    let mut d1 = net.daemon(D1, "d1", &config("    vrrp_strict\n", &strict.text()));
    d1.expect(entering("MASTER"), "MASTER");
    let mut obs = net.observe(OBS);
    // The GARPs of the delayed burst follow the firewall rule and the addresses.
    expect_garps(&net, &mut obs, D1, &VIPS[..1]);
    let set = net.exec(
        D1,
        &["nft", "list", "set", "inet", "keepalived_rs", "vips4"],
    );
    for v in VIPS {
        assert!(set.contains(v), "{set}");
    }
    assert_eq!(reach(&net, OBS, VIPS[0]), "dropped");
    assert_eq!(reach(&net, OBS, "10.9.0.1"), "refused");
    d1.signal(Signal::SIGTERM);
    assert!(d1.wait_exit());
    let tables = net.exec(D1, &["nft", "list", "tables"]);
    assert!(!tables.contains("keepalived_rs"), "{tables}");

    // The same instance in accept mode: reachable, no table.
    let mut accept = strict.clone();
    accept.extra.push_str("    accept\n");
    let mut d1 = net.daemon(D1, "d1b", &config("", &accept.text()));
    d1.expect(entering("MASTER"), "MASTER");
    expect_garps(&net, &mut obs, D1, &VIPS[..1]);
    assert_eq!(reach(&net, OBS, VIPS[0]), "refused");
    let tables = net.exec(D1, &["nft", "list", "tables"]);
    assert!(!tables.contains("keepalived_rs"), "{tables}");
}

/// virtual_routes and virtual_rules follow the VIPs: installed on MASTER,
/// removed on stop.
#[test]
fn virtual_routes_and_rules() {
    let Some(net) = lab() else { return };
    let mut a = Inst::v2(100);
    a.extra.push_str(
        "    virtual_routes {\n        192.168.50.0/24 via 10.9.0.254\n        blackhole 192.168.51.0/24 table 100\n    }\n    virtual_rules {\n        from 10.9.0.100 table 100 priority 100\n    }\n",
    );
    let mut obs = net.observe(OBS);
    let mut d1 = net.daemon(D1, "d1", &single(&a));
    d1.expect(entering("MASTER"), "MASTER");
    expect_garps(&net, &mut obs, D1, &VIPS[..1]);
    let main = net.exec(D1, &["ip", "route", "show"]);
    assert!(main.contains("192.168.50.0/24 via 10.9.0.254"), "{main}");
    let t100 = net.exec(D1, &["ip", "route", "show", "table", "100"]);
    assert!(t100.contains("blackhole 192.168.51.0/24"), "{t100}");
    let rules = net.exec(D1, &["ip", "rule", "show"]);
    assert!(
        rules.contains("100:\tfrom 10.9.0.100 lookup 100"),
        "{rules}"
    );
    d1.signal(Signal::SIGTERM);
    assert!(d1.wait_exit());
    assert!(!net
        .exec(D1, &["ip", "route", "show"])
        .contains("192.168.50.0"));
    assert!(!net.exec(D1, &["ip", "rule", "show"]).contains("10.9.0.100"));
}

/// vrrp_track_process: the tracked process ending lowers the MASTER's priority
/// (weight -20) below the BACKUP's, which takes over; it coming back moves the
/// MASTER back.
#[test]
fn track_process_moves_the_master() {
    let Some(net) = lab() else { return };
    // A process with a name no other process has: a copy of sleep.
    let name = format!("kp{}", std::process::id() % 100000);
    let bin = net.dir.join(&name);
    std::fs::copy("/bin/sleep", &bin).unwrap();
    let start = || {
        std::process::Command::new(&bin)
            .arg("1000")
            .spawn()
            .unwrap()
    };
    let mut p = start();
    let mut a = Inst::v2(100);
    a.extra
        .push_str("    track_process {\n        worker\n    }\n");
    let body = format!(
        "vrrp_track_process worker {{\n    process {name}\n    weight -20\n}}\n{}",
        a.text()
    );
    let mut d1 = net.daemon(D1, "d1", &config("", &body));
    let mut d2 = net.daemon(D2, "d2", &single(&Inst::v2(90)));
    d1.expect(entering("MASTER"), "MASTER");
    d2.expect(entering("BACKUP"), "BACKUP");
    p.kill().unwrap();
    p.wait().unwrap();
    d1.expect(
        |l| l.contains("Track process worker quorum lost"),
        "quorum lost",
    );
    d2.expect(entering("MASTER"), "d2 takes over");
    let mut p = start();
    d1.expect(
        |l| l.contains("Track process worker quorum gained"),
        "quorum gained",
    );
    d1.expect(entering("MASTER"), "d1 back");
    p.kill().unwrap();
    p.wait().unwrap();
}

/// A dead SMTP server (an address nobody answers) delays no transition: the
/// BACKUP takes over and the MASTER preempts back while alerts hang, and each
/// alert ends as a counted failure.
#[test]
fn dead_smtp_server_delays_nothing() {
    let Some(net) = lab() else { return };
    let global = "    notification_email {\n        ops@example.invalid\n    }\n    smtp_server 10.9.0.99\n    smtp_connect_timeout 2\n    smtp_alert\n";
    let mut d1 = net.daemon(D1, "d1", &config(global, &Inst::v2(100).text()));
    let mut d2 = net.daemon(D2, "d2", &config(global, &Inst::v2(90).text()));
    d1.expect(entering("MASTER"), "MASTER");
    d2.expect(entering("BACKUP"), "BACKUP");
    d1.kill9();
    d2.expect(entering("MASTER"), "takeover with alerts hanging");
    let mut d1 = net.daemon(D1, "d1b", &config(global, &Inst::v2(100).text()));
    d1.expect(entering("MASTER"), "preemption with alerts hanging");
    d2.expect(entering("BACKUP"), "yield with alerts hanging");
    d2.expect(
        |l| l.contains("SMTP alert") && l.contains("failed"),
        "a counted mail failure",
    );
}

/// `virtual_ipaddress { ... dev IF }`: the VIP goes on IF, not on the
/// instance's interface, and its gratuitous ARP leaves from IF with IF's MAC
/// (keepalived's behaviour; real servers often use such a VIP as gateway).
#[test]
fn vip_on_its_own_dev() {
    if !can_run(&["ip", "tcpdump"]) {
        return;
    }
    let net = Net::build(
        2,
        &[
            ("d1", &[(0, "10.9.0.1/24"), (1, "10.8.0.1/24")]),
            ("obs", &[(1, "10.8.0.10/24")]),
        ],
    );
    let mut obs = net.observe(1);
    let conf = "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 57\n    priority 100\n    advert_int 1\n    virtual_ipaddress {\n        10.9.0.100/24\n        10.8.0.100/24 dev eth1\n    }\n}\n";
    let mut d = net.daemon(0, "d", conf);
    d.expect(|l| l.contains("(VI_1) Entering MASTER STATE"), "MASTER");
    let mac1 = net
        .exec(0, &["cat", "/sys/class/net/eth1/address"])
        .trim()
        .to_string();
    obs.expect(
        |l| is_garp(l, "10.8.0.100") && l.contains(&format!("{mac1} >")),
        "GARP for the eth1 VIP from eth1",
    );
    assert!(
        net.addrs(0, "eth1").contains("inet 10.8.0.100/24"),
        "{}",
        net.addrs(0, "eth1")
    );
    assert!(
        !net.addrs(0, "eth0").contains("10.8.0.100"),
        "{}",
        net.addrs(0, "eth0")
    );
    assert!(net.addrs(0, "eth0").contains("inet 10.9.0.100/24"));
    d.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(d.wait_exit(), "{}", d.dump());
    assert!(
        !net.addrs(0, "eth1").contains("10.8.0.100"),
        "VIP left on eth1"
    );
}
