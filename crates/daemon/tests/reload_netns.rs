//! SIGHUP reloads on live directors: a bad file changes nothing; an unchanged
//! instance keeps running with no transition and no extra gratuitous ARP; a new
//! instance starts beside it; a one-server change is one data-plane operation
//! and fails no request. `keepalived-rs status` and the metrics endpoint report
//! what happened. Root only; skipped with a reason otherwise.

mod common;

use common::*;
use nix::sys::signal::Signal;

fn vi(name: &str, vrid: u8, vip: &str) -> String {
    format!(
        "vrrp_instance {name} {{\n    state MASTER\n    interface eth0\n    virtual_router_id {vrid}\n    priority 100\n    advert_int 1\n    authentication {{\n        auth_type PASS\n        auth_pass 1111\n    }}\n    virtual_ipaddress {{\n        {vip}/24\n    }}\n}}\n"
    )
}

fn status_json(net: &Net, host: usize, sock: &std::path::Path) -> serde_json::Value {
    let out = net.exec(
        host,
        &[
            env!("CARGO_BIN_EXE_keepalived-rs"),
            "status",
            "--json",
            "--socket",
            sock.to_str().unwrap(),
        ],
    );
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// The states that must not move: per instance name, state and master.
fn states(v: &serde_json::Value) -> Vec<(String, String, String)> {
    v["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap().to_string(),
                i["state"].as_str().unwrap().to_string(),
                i["transitions_total"].to_string(),
            )
        })
        .collect()
}

#[test]
fn vrrp_reload_keeps_unchanged_instances() {
    if !can_run(&["ip", "tcpdump"]) {
        return;
    }
    let net = Net::new(&["d1", "obs"]);
    let mut obs = net.observe(1);
    let global = "global_defs {\n    router_id R\n}\n";
    let conf = net.file(
        "d1.conf",
        &format!("{global}{}", vi("VI_1", 51, "10.9.0.100")),
    );
    let sock = net.dir.join("d1.sock");
    let mut d = net.spawn(
        0,
        env!("CARGO_BIN_EXE_keepalived-rs"),
        &[
            "-n",
            "-l",
            "-D",
            "-f",
            path_str(&conf),
            "--control-socket",
            path_str(&sock),
        ],
    );
    d.expect(|l| l.contains("(VI_1) Entering MASTER STATE"), "MASTER");
    // Wait out the delayed gratuitous ARP burst (garp_master_delay, 5 s).
    let mac = net.mac(0);
    obs.expect(|l| is_garp(l, "10.9.0.100"), "first GARP burst");
    // The next advert follows the first burst; the next GARP is the delayed one.
    obs.expect(|l| is_advert(l, "10.9.0.1", 100), "adverts");
    obs.expect(
        |l| l.contains(&format!(" {mac} >")) && is_garp(l, "10.9.0.100"),
        "delayed GARP",
    );
    let before = status_json(&net, 0, &sock);
    let addrs = net.addrs(0, "eth0");

    // A bad file: refused, nothing moves.
    std::fs::write(
        &conf,
        format!(
            "{global}{}\nbogus_keyword 1\n",
            vi("VI_1", 51, "10.9.0.100")
        ),
    )
    .unwrap();
    obs.drain();
    d.signal(Signal::SIGHUP);
    d.expect(|l| l.contains("reload refused"), "refused reload");
    // Adverts go on as before, from the same MASTER.
    for _ in 0..2 {
        obs.expect(
            |l| is_advert(l, "10.9.0.1", 100),
            "adverts after refused reload",
        );
    }
    let after = status_json(&net, 0, &sock);
    assert_eq!(states(&before), states(&after));
    assert_eq!(after["reload_failures"], 1);
    assert_eq!(addrs, net.addrs(0, "eth0"));

    // Unchanged VI_1 plus a new VI_2: VI_1 keeps running, VI_2 starts.
    std::fs::write(
        &conf,
        format!(
            "{global}{}{}",
            vi("VI_1", 51, "10.9.0.100"),
            vi("VI_2", 52, "10.9.0.110")
        ),
    )
    .unwrap();
    obs.drain();
    let mark = obs.mark();
    d.signal(Signal::SIGHUP);
    d.expect(
        |l| l.contains("VRRP reloaded: 1 instance(s) kept running, 1 started"),
        "in-place reload",
    );
    d.expect(
        |l| l.contains("(VI_2) Entering MASTER STATE"),
        "VI_2 MASTER",
    );
    obs.expect(|l| is_garp(l, "10.9.0.110"), "GARP of the new instance");
    for _ in 0..2 {
        obs.expect(
            |l| is_advert(l, "10.9.0.1", 100) && l.contains("vrid 51"),
            "VI_1 adverts",
        );
    }
    assert_eq!(
        d.count(|l| l.contains("(VI_1) Entering")),
        2,
        "{}",
        d.dump()
    ); // BACKUP, MASTER at start
    assert_eq!(
        obs.count_since(mark, |l| is_garp(l, "10.9.0.100")),
        0,
        "VI_1 sent a GARP on reload:\n{}",
        obs.dump()
    );
    let now = status_json(&net, 0, &sock);
    let s = states(&now);
    assert_eq!(s[0], states(&before)[0], "VI_1 unchanged");
    assert_eq!(s[1].1, "MASTER");
    assert_eq!(now["reloads"], 1);
}

/// A changed instance keeps its state over a reload, as keepalived's does: a
/// MASTER given one more VIP and another priority stays MASTER (no priority-0
/// advert, the BACKUP never takes over), adds and announces the new VIP, keeps
/// the old one; a VIP taken out of the file leaves the interface.
#[test]
fn changed_instance_is_reconfigured_in_place() {
    if !can_run(&["ip", "tcpdump"]) {
        return;
    }
    let net = Net::new(&["d1", "d2", "obs"]);
    let mut obs = net.observe(2);
    let conf = |prio: u8, vips: &[&str]| {
        let list: String = vips.iter().map(|v| format!("        {v}/24\n")).collect();
        format!(
            "vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 53\n    priority {prio}\n    advert_int 1\n    virtual_ipaddress {{\n{list}    }}\n}}\n"
        )
    };
    let mut d1 = net.daemon(0, "d1", &conf(100, &["10.9.0.100"]));
    d1.expect(|l| l.contains("(VI_1) Entering MASTER STATE"), "d1 MASTER");
    let mut d2 = net.daemon(1, "d2", &conf(90, &["10.9.0.100"]));
    d2.expect(|l| l.contains("(VI_1) Entering BACKUP STATE"), "d2 BACKUP");
    obs.expect(|l| is_advert(l, "10.9.0.1", 100), "d1 adverts");

    // One more VIP, a higher priority.
    std::fs::write(
        net.dir.join("d1.conf"),
        conf(110, &["10.9.0.100", "10.9.0.101"]),
    )
    .unwrap();
    let mark = obs.mark();
    d1.signal(Signal::SIGHUP);
    d1.expect(
        |l| l.contains("(VI_1) reconfigured in place, MASTER kept"),
        "in place",
    );
    obs.expect(|l| is_garp(l, "10.9.0.101"), "GARP for the new VIP");
    for _ in 0..2 {
        obs.expect(
            |l| is_advert(l, "10.9.0.1", 110),
            "adverts at the new priority",
        );
    }
    let a = net.addrs(0, "eth0");
    assert!(
        a.contains("inet 10.9.0.100/24") && a.contains("inet 10.9.0.101/24"),
        "{a}"
    );
    assert_eq!(
        obs.count_since(mark, |l| is_advert(l, "10.9.0.1", 0)),
        0,
        "priority 0 sent"
    );
    assert_eq!(
        d1.count(|l| l.contains("(VI_1) Entering")),
        2,
        "{}",
        d1.dump()
    ); // BACKUP, MASTER
    assert_eq!(
        d2.count(|l| l.contains("Entering MASTER")),
        0,
        "{}",
        d2.dump()
    );

    // The first VIP taken out: it leaves, the instance stays MASTER.
    std::fs::write(net.dir.join("d1.conf"), conf(110, &["10.9.0.101"])).unwrap();
    d1.signal(Signal::SIGHUP);
    d1.expect(|l| l.contains("configuration reloaded"), "second reload");
    obs.expect(|l| is_advert(l, "10.9.0.1", 110), "adverts go on");
    let a = net.addrs(0, "eth0");
    assert!(
        !a.contains("inet 10.9.0.100/24") && a.contains("inet 10.9.0.101/24"),
        "{a}"
    );
    assert_eq!(
        d1.count(|l| l.contains("(VI_1) Entering")),
        2,
        "{}",
        d1.dump()
    );
    assert_eq!(
        d2.count(|l| l.contains("Entering MASTER")),
        0,
        "{}",
        d2.dump()
    );
}
