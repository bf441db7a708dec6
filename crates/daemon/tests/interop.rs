//! Interoperation with Debian's keepalived (2.2.7) on one VRID: each in each role,
//! VRRPv2 with PASS authentication and VRRPv3. After convergence exactly one
//! MASTER; failover works both ways. Root only, skipped with a reason otherwise.

mod common;

use common::*;

const D1: usize = 0;
const D2: usize = 1;
const OBS: usize = 2;
const VIP: &str = "10.9.0.100";

fn conf(prio: u8, v3: bool) -> String {
    let auth = if v3 {
        "    version 3\n".to_string()
    } else {
        "    authentication {\n        auth_type PASS\n        auth_pass s3cret\n    }\n"
            .to_string()
    };
    format!(
        "global_defs {{\n    router_id interop\n}}\nvrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 77\n    priority {prio}\n    advert_int 1\n{auth}    virtual_ipaddress {{\n        {VIP}/24\n        10.9.0.101/24\n    }}\n}}\n"
    )
}

fn entering(state: &str) -> impl Fn(&str) -> bool + '_ {
    move |l: &str| l.contains(&format!("Entering {state} STATE"))
}

fn owns(net: &Net, host: usize) -> bool {
    net.addrs(host, "eth0").contains(&format!("inet {VIP}/"))
}

/// `high` starts first as MASTER; `low` joins as BACKUP; then `high` is killed
/// and `low` takes over; `high` restarts and preempts back.
fn scenario(ours_high: bool, v3: bool) {
    if !can_run(&["ip", "tcpdump", "keepalived"]) {
        return;
    }
    let net = Net::new(&["d1", "d2", "obs"]);
    let mut obs = net.observe(OBS);
    let start = |host: usize, name: &str, prio: u8, ours: bool| {
        if ours {
            net.daemon(host, name, &conf(prio, v3))
        } else {
            net.keepalived(host, name, &conf(prio, v3))
        }
    };
    let mut high = start(D1, "high", 100, ours_high);
    high.expect(entering("MASTER"), "MASTER alone");
    let mut low = start(D2, "low", 90, !ours_high);
    low.expect(entering("BACKUP"), "BACKUP");
    // Converged: several adverts of the high one pass while the low one stays
    // BACKUP, and only the high one holds the VIPs.
    for _ in 0..4 {
        obs.expect(|l| is_advert(l, "10.9.0.1", 100), "adverts of the MASTER");
    }
    assert_eq!(low.count(entering("MASTER")), 0, "{}", low.dump());
    assert!(owns(&net, D1) && !owns(&net, D2));
    obs.drain();

    high.kill9();
    low.expect(entering("MASTER"), "takeover after kill -9");
    obs.expect(|l| is_garp(l, VIP), "gratuitous ARP from the new MASTER");
    assert!(owns(&net, D2));

    // The restarted high priority preempts back and the low one yields.
    let mut high = start(D1, "high2", 100, ours_high);
    high.expect(entering("MASTER"), "preemption back");
    low.expect(entering("BACKUP"), "the low one yields");
    for _ in 0..3 {
        obs.expect(
            |l| is_advert(l, "10.9.0.1", 100),
            "adverts after preemption",
        );
    }
    assert!(!owns(&net, D2), "{}", net.addrs(D2, "eth0"));
}

#[test]
fn ours_master_keepalived_backup_v2() {
    scenario(true, false);
}

#[test]
fn keepalived_master_ours_backup_v2() {
    scenario(false, false);
}

#[test]
fn ours_master_keepalived_backup_v3() {
    scenario(true, true);
}

#[test]
fn keepalived_master_ours_backup_v3() {
    scenario(false, true);
}

/// `kill -s $(keepalived --signum=JSON)` writes /tmp/keepalived.json; monitoring
/// plugins parse it. Same config, same state: ours has every field keepalived
/// writes, with the same values where they do not depend on timing.
#[test]
fn json_dump_like_keepalived() {
    if !can_run(&["ip", "keepalived"]) {
        return;
    }
    let path = std::path::Path::new("/tmp/keepalived.json");
    let signum = |bin: &str| -> i32 {
        let out = std::process::Command::new(bin)
            .arg("--signum=JSON")
            .output()
            .expect("--signum");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("a number")
    };
    assert_eq!(
        signum("keepalived"),
        signum(env!("CARGO_BIN_EXE_keepalived-rs"))
    );
    let dump = |p: &Proc| -> serde_json::Value {
        let _ = std::fs::remove_file(path);
        // SAFETY: plain kill(2) of our own child process.
        unsafe { nix::libc::kill(p.pid(), signum("keepalived")) };
        let end = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            if let Some(v) = std::fs::read_to_string(path)
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
            {
                let _ = std::fs::remove_file(path);
                return v;
            }
            assert!(std::time::Instant::now() < end, "no {}", path.display());
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    let net = Net::new(&["d1", "d2"]);
    let ka = net.keepalived(D1, "ka", &conf(100, false));
    let mut ka = ka;
    ka.expect(entering("MASTER"), "keepalived MASTER");
    let theirs = dump(&ka);
    ka.kill9();
    let mut ours = net.daemon(D2, "ours", &conf(100, false));
    ours.expect(entering("MASTER"), "keepalived-rs MASTER");
    let mine = dump(&ours);
    let (t, m) = (&theirs[0], &mine[0]);
    for part in ["data", "stats"] {
        let keys = |v: &serde_json::Value| {
            v[part]
                .as_object()
                .map(|o| o.keys().cloned().collect::<std::collections::BTreeSet<_>>())
                .unwrap_or_default()
        };
        let missing: Vec<_> = keys(t).difference(&keys(m)).cloned().collect();
        assert!(
            missing.is_empty(),
            "{part}: missing {missing:?}\nkeepalived: {t}\nours: {m}"
        );
    }
    for k in [
        "iname",
        "vrid",
        "state",
        "wantstate",
        "base_priority",
        "effective_priority",
        "vipset",
        "adver_int",
        "version",
        "garp_delay",
        "garp_rep",
        "garp_refresh",
        "garp_refresh_rep",
        "garp_lower_prio_delay",
        "garp_lower_prio_rep",
        "accept",
        "nopreempt",
        "preempt_delay",
        "strict_mode",
        "ifp_ifname",
        "vmac_ifname",
        "promote_secondaries",
        "smtp_alert",
    ] {
        assert_eq!(
            t["data"][k], m["data"][k],
            "data.{k}\nkeepalived: {t}\nours: {m}"
        );
    }
    assert_eq!(t["stats"]["become_master"], m["stats"]["become_master"]);
    // keepalived names the interface of a VIP it was given without dev.
    let vips = |v: &serde_json::Value| v["data"]["vips"].to_string();
    assert_eq!(vips(t), vips(m));
}
