//! What a running director may do: after start-up only the capabilities it
//! needs, in every thread; scripts get a clean environment and none of the
//! daemon's descriptors. Root only, skipped with a reason otherwise.

mod common;

use common::*;
use std::collections::BTreeSet;

/// CAP_KILL, CAP_SETGID, CAP_SETUID, CAP_NET_BIND_SERVICE, CAP_NET_ADMIN,
/// CAP_NET_RAW, CAP_SYS_NICE (bit numbers of linux/capability.h).
const KEPT: u64 = (1 << 5) | (1 << 6) | (1 << 7) | (1 << 10) | (1 << 12) | (1 << 13) | (1 << 23);

fn conf(extra: &str) -> String {
    format!(
        "vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 61\n    priority 100\n    advert_int 1\n    virtual_ipaddress {{\n        10.9.0.100/24\n    }}\n{extra}}}\n"
    )
}

/// (CapInh, CapPrm, CapEff, CapBnd, CapAmb) of every thread of `pid`.
fn caps(pid: i32) -> Vec<(String, [u64; 5])> {
    let mut out = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
        let get = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{k}:\t")))
                .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
                .unwrap_or(u64::MAX)
        };
        let name = status.lines().next().unwrap_or("").to_string();
        out.push((
            name,
            [
                get("CapInh"),
                get("CapPrm"),
                get("CapEff"),
                get("CapBnd"),
                get("CapAmb"),
            ],
        ));
    }
    out
}

#[test]
fn capabilities_reduced_in_every_thread() {
    if !can_run(&["ip"]) {
        return;
    }
    let net = Net::new(&["d1"]);
    let mut d = net.daemon(0, "d", &conf(""));
    d.expect(
        |l| l.contains("capabilities reduced to"),
        "capabilities dropped",
    );
    d.expect(|l| l.contains("Entering MASTER STATE"), "MASTER");
    // The VIP is there: netlink still works with what is left.
    assert!(net.addrs(0, "eth0").contains("inet 10.9.0.100/24"));
    let threads = caps(d.pid());
    assert!(threads.len() >= 2, "the VRRP thread too: {threads:?}");
    for (name, c) in &threads {
        assert_eq!(
            c,
            &[0, KEPT, KEPT, KEPT, 0],
            "{name}: CapInh/Prm/Eff/Bnd/Amb"
        );
    }
}

#[test]
fn scripts_as_root_keep_capabilities_and_get_a_clean_environment() {
    if !can_run(&["ip", "sh", "ls"]) {
        return;
    }
    let net = Net::new(&["d1"]);
    let out = net.dir.join("fds.txt");
    let env_out = net.dir.join("env.txt");
    let script = net.file(
        "notify.sh",
        &format!(
            "#!/bin/sh\nenv > {env}.tmp && mv {env}.tmp {env}\nls -l /proc/self/fd/ > {out}.tmp 2>&1; mv {out}.tmp {out}\n",
            env = env_out.display(),
            out = out.display()
        ),
    );
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut d = net.daemon(
        0,
        "d",
        &conf(&format!("    notify_master {}\n", script.display())),
    );
    d.expect(
        |l| l.contains("all capabilities kept"),
        "root scripts keep caps",
    );
    d.expect(|l| l.contains("Entering MASTER STATE"), "MASTER");
    let threads = caps(d.pid());
    assert!(threads.iter().all(|(_, c)| c[2] != KEPT), "{threads:?}");
    // The notify script ran: wait for its files (renamed into place when done).
    let end = std::time::Instant::now() + BOUND;
    while !(out.exists() && env_out.exists()) {
        assert!(
            std::time::Instant::now() < end,
            "notify script did not run\n{}",
            d.dump()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let env = std::fs::read_to_string(&env_out).unwrap();
    let keys: BTreeSet<&str> = env.lines().filter_map(|l| l.split('=').next()).collect();
    // Only PATH from us; the shell adds its own PWD, SHLVL, _.
    let allowed: BTreeSet<&str> = ["PATH", "PWD", "OLDPWD", "SHLVL", "_"].into();
    assert!(keys.is_subset(&allowed), "script environment: {env}");
    assert!(env.contains("PATH=/usr/local/sbin:"), "{env}");
    // Descriptors of ls: stdin /dev/null, stdout/stderr the file, the
    // directory it lists; nothing of the daemon (sockets, timerfd, epoll).
    let fds = std::fs::read_to_string(&out).unwrap();
    for l in fds.lines().filter(|l| l.contains(" -> ")) {
        let target = l.rsplit(" -> ").next().unwrap();
        let ok = target == "/dev/null"
            || target.starts_with(&format!("{}.tmp", out.display()))
            || target.starts_with("/proc/")
            || target == script.display().to_string();
        assert!(ok, "descriptor leaked into the script: {l}\n{fds}");
    }
}
