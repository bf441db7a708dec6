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
