//! The IPVS backend against a real IPVS, inside a User-Mode Linux guest.
//!
//! The development and CI hosts' kernel has no IPVS, so each test, started on
//! the host, re-runs itself inside a throw-away guest, or prints why it cannot
//! and passes (skips): see `keepalived_testkit::uml`.
//!
//! The reference is `ipvsadm`: the same services programmed with `ipvsadm -R`
//! must list (`ipvsadm -Ln --sort`, with and without `--tun-info`) byte for
//! byte like ours; and, when Debian's `keepalived` is installed, keepalived
//! itself programming generated configurations must list like our
//! `model::desired` + `IpvsBackend` of the same file.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use keepalived_dataplane::ipvs::{IpvsBackend, OpError, SyncState, SCHEDULERS};
use keepalived_dataplane::{
    desired, Backend, Dest, DestKey, Family, Health, Method, Op, Persistence, Pool, Proto,
    Reconciler, Service, ServiceKey,
};
use keepalived_testkit::block_on;
use keepalived_testkit::cmd::{run, run_in};
use keepalived_testkit::ipvs::{has_line, vs_samples};
use keepalived_testkit::uml;

/// Guest run time limit, per test.
const GUEST_TIMEOUT: Duration = Duration::from_secs(180);

fn guest(name: &str) -> bool {
    uml::guest(name, GUEST_TIMEOUT)
}

/// Runs `sh -c cmd`, asserts success, returns stdout.
fn sh(cmd: &str) -> String {
    run(&["sh", "-c", cmd])
}

/// `ipvsadm -Ln --sort` and the same with `--tun-info`.
fn table() -> String {
    sh("ipvsadm -Ln --sort; ipvsadm -Ln --sort --tun-info")
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn key(addr: &str, port: u16, proto: Proto) -> ServiceKey {
    ServiceKey::Ip {
        addr: ip(addr),
        port,
        proto,
    }
}

fn dk(addr: &str, port: u16) -> DestKey {
    DestKey {
        addr: ip(addr),
        port,
    }
}

fn dest(weight: u32, method: Method) -> Dest {
    Dest {
        weight,
        method,
        u_threshold: 0,
        l_threshold: 0,
    }
}

/// Services with every scheduler, NAT / DR / TUN (ipip, gue, gre), TCP / UDP /
/// SCTP, fwmark v4 and v6, IPv6, persistence, flags, thresholds, weight 0.
/// DR / TUN destinations use the service's port (ipvsadm forces that).
fn big_pool() -> Pool {
    let mut pool = Pool::new();
    let mut add = |s: Service| {
        pool.insert(s.key, s);
    };
    // every scheduler the guest kernel has (6.1: no twos)
    for (i, sched) in SCHEDULERS.iter().filter(|s| **s != "twos").enumerate() {
        let mut s = Service::new(key("10.10.0.1", 1000 + i as u16, Proto::Tcp), sched);
        s.destinations
            .insert(dk(&format!("10.20.{i}.1"), 80), dest(1, Method::Nat));
        s.destinations.insert(
            dk(&format!("10.20.{i}.2"), 8080),
            Dest {
                weight: 3,
                method: Method::Nat,
                u_threshold: 100,
                l_threshold: 10,
            },
        );
        s.destinations
            .insert(dk(&format!("10.20.{i}.3"), 80), dest(0, Method::Nat));
        add(s);
    }
    let mut s = Service::new(key("10.10.0.2", 53, Proto::Udp), "rr");
    s.flags = vec!["ops".into()];
    s.destinations
        .insert(dk("10.21.0.1", 53), dest(2, Method::Dr));
    s.destinations
        .insert(dk("10.21.0.2", 53), dest(5, Method::Dr));
    add(s);
    let mut s = Service::new(key("10.10.0.3", 3868, Proto::Sctp), "wlc");
    let ipip = Method::Tun {
        kind: "ipip".into(),
        port: None,
        csum: None,
    };
    s.destinations
        .insert(dk("10.22.0.1", 3868), dest(1, ipip.clone()));
    add(s);
    let mut s = Service::new(key("10.10.0.4", 80, Proto::Tcp), "sh");
    s.flags = vec!["sh-fallback".into(), "sh-port".into()];
    s.destinations.insert(
        dk("10.23.0.1", 80),
        dest(
            1,
            Method::Tun {
                kind: "gue".into(),
                port: Some(6080),
                csum: Some("csum".into()),
            },
        ),
    );
    s.destinations.insert(
        dk("10.23.0.2", 80),
        dest(
            1,
            Method::Tun {
                kind: "gue".into(),
                port: Some(6081),
                csum: Some("remcsum".into()),
            },
        ),
    );
    s.destinations.insert(
        dk("10.23.0.3", 80),
        dest(
            2,
            Method::Tun {
                kind: "gre".into(),
                port: None,
                csum: Some("csum".into()),
            },
        ),
    );
    add(s);
    let mut s = Service::new(key("10.10.0.5", 443, Proto::Tcp), "mh");
    s.flags = vec!["mh-port".into()];
    s.persistence = Some(Persistence {
        timeout_s: 600,
        granularity: 24,
    });
    s.destinations
        .insert(dk("10.24.0.1", 443), dest(1, Method::Nat));
    add(s);
    let mut s = Service::new(key("10.10.0.6", 80, Proto::Tcp), "wrr");
    s.flags = vec!["flag-1".into(), "flag-3".into()];
    s.persistence = Some(Persistence {
        timeout_s: 360,
        granularity: 32,
    });
    s.destinations
        .insert(dk("10.25.0.1", 80), dest(1, Method::Nat));
    add(s);
    let mut s = Service::new(
        ServiceKey::Fwmark {
            mark: 10,
            family: Family::V4,
        },
        "lc",
    );
    s.persistence = Some(Persistence {
        timeout_s: 60,
        granularity: 16,
    });
    s.destinations
        .insert(dk("10.26.0.1", 0), dest(1, Method::Dr));
    s.destinations
        .insert(dk("10.26.0.2", 8080), dest(4, Method::Nat));
    add(s);
    let mut s = Service::new(
        ServiceKey::Fwmark {
            mark: 11,
            family: Family::V6,
        },
        "wlc",
    );
    s.destinations
        .insert(dk("2001:db8:1::1", 80), dest(1, Method::Nat));
    s.destinations
        .insert(dk("2001:db8:1::2", 0), dest(2, ipip.clone()));
    add(s);
    let mut s = Service::new(key("2001:db8::10", 443, Proto::Tcp), "sh");
    s.persistence = Some(Persistence {
        timeout_s: 120,
        granularity: 64,
    });
    s.destinations
        .insert(dk("2001:db8:2::1", 8443), dest(1, Method::Nat));
    s.destinations
        .insert(dk("2001:db8:2::2", 443), dest(3, Method::Dr));
    add(s);
    let mut s = Service::new(key("2001:db8::11", 53, Proto::Udp), "rr");
    s.destinations
        .insert(dk("2001:db8:3::1", 53), dest(1, Method::Nat));
    add(s);
    pool
}

/// `-t a:p` / `-u` / `--sctp-service` / `-f mark [-6]`.
fn svc_arg(k: &ServiceKey) -> String {
    match k {
        ServiceKey::Ip { addr, port, proto } => {
            let opt = match proto {
                Proto::Tcp => "-t",
                Proto::Udp => "-u",
                Proto::Sctp => "--sctp-service",
            };
            match addr {
                IpAddr::V6(a) => format!("{opt} [{a}]:{port}"),
                a => format!("{opt} {a}:{port}"),
            }
        }
        ServiceKey::Fwmark { mark, family } => {
            format!(
                "-f {mark}{}",
                if *family == Family::V6 { " -6" } else { "" }
            )
        }
    }
}

/// The `ipvsadm -R` rules for `pool` (the expected table's source).
fn ipvsadm_rules(pool: &Pool) -> String {
    let mut r = String::new();
    for s in pool.values() {
        let svc = svc_arg(&s.key);
        write!(r, "-A {svc} -s {}", s.scheduler).unwrap();
        let sched_flags: Vec<&str> = s
            .flags
            .iter()
            .map(String::as_str)
            .filter(|f| *f != "ops")
            .collect();
        if !sched_flags.is_empty() {
            write!(r, " -b {}", sched_flags.join(",")).unwrap();
        }
        if s.flags.iter().any(|f| f == "ops") {
            r.push_str(" -o");
        }
        if let Some(p) = s.persistence {
            write!(r, " -p {}", p.timeout_s).unwrap();
            match s.key.family() {
                Family::V4 => {
                    let m = if p.granularity == 0 {
                        0
                    } else {
                        u32::MAX << (32 - u32::from(p.granularity))
                    };
                    write!(r, " -M {}", std::net::Ipv4Addr::from(m)).unwrap();
                }
                Family::V6 => write!(r, " -M {}", p.granularity).unwrap(),
            }
        }
        r.push('\n');
        for (k, d) in &s.destinations {
            let fwd = match &d.method {
                Method::Nat => "-m".to_string(),
                Method::Dr => "-g".to_string(),
                Method::Tun { kind, port, csum } => {
                    let mut t = format!("-i --tun-type {kind}");
                    if let Some(p) = port {
                        write!(t, " --tun-port {p}").unwrap();
                    }
                    if let Some(c) = csum {
                        write!(t, " --tun-{c}").unwrap();
                    }
                    t
                }
            };
            writeln!(
                r,
                "-a {svc} -r {k} {fwd} -w {} -x {} -y {}",
                d.weight, d.u_threshold, d.l_threshold
            )
            .unwrap();
        }
    }
    r
}

#[test]
fn ipvs_matches_ipvsadm() {
    if !guest("ipvs_matches_ipvsadm") {
        return;
    }
    let pool = big_pool();
    let n_dests: usize = pool.values().map(|s| s.destinations.len()).sum();
    block_on(async {
        sh("ipvsadm -C");
        let backend = IpvsBackend::new(pool.keys().copied()).unwrap();
        let mut r = Reconciler::new(backend).await.unwrap();
        assert!(r.actual.is_empty());
        let before = r.backend.requests();
        let t = Instant::now();
        let ops = r.apply(&pool).await.unwrap();
        let took = t.elapsed();
        assert_eq!(ops.len(), pool.len() + n_dests);
        assert_eq!(r.backend.requests() - before, ops.len() as u64);
        eprintln!(
            "applied {} services, {n_dests} destinations: {} requests in {:?}",
            pool.len(),
            ops.len(),
            took
        );
        let ours = table();
        // read() round-trips
        assert_eq!(r.backend.read().await.unwrap(), pool);

        sh("ipvsadm -C");
        let rules = ipvsadm_rules(&pool);
        run_in(&["ipvsadm", "-R"], &rules);
        let theirs = table();
        assert_eq!(
            ours, theirs,
            "ours:\n{ours}\nipvsadm's (rules:\n{rules}):\n{theirs}"
        );
        eprintln!("identical to ipvsadm -R of:\n{rules}\n{ours}");
        // what ipvsadm programmed reads back as the same pool
        let mut b = IpvsBackend::new(pool.keys().copied()).unwrap();
        assert_eq!(b.read().await.unwrap(), pool);
        sh("ipvsadm -C");
    });
}

fn small_pool(weights: &[(u8, u32)]) -> Pool {
    let mut s = Service::new(key("192.0.2.10", 80, Proto::Tcp), "wrr");
    for (n, w) in weights {
        s.destinations
            .insert(dk(&format!("10.0.0.{n}"), 80), dest(*w, Method::Nat));
    }
    let mut v6 = Service::new(key("2001:db8::80", 80, Proto::Tcp), "rr");
    v6.destinations
        .insert(dk("2001:db8:9::1", 80), dest(1, Method::Nat));
    Pool::from([(s.key, s), (v6.key, v6)])
}

#[test]
fn ipvs_one_change_one_request() {
    if !guest("ipvs_one_change_one_request") {
        return;
    }
    block_on(async {
        sh("ipvsadm -C");
        let a = small_pool(&[(1, 1), (2, 1), (3, 1)]);
        let mut r = Reconciler::new(IpvsBackend::new(a.keys().copied()).unwrap())
            .await
            .unwrap();
        r.apply(&a).await.unwrap();

        // (desired, the line ipvsadm must show / must not show)
        let steps: Vec<(Pool, &str, bool)> = vec![
            (
                small_pool(&[(1, 1), (2, 5), (3, 1)]),
                "-> 10.0.0.2:80 Masq 5",
                true,
            ),
            (small_pool(&[(1, 1), (3, 1)]), "-> 10.0.0.2:80", false),
            (
                small_pool(&[(1, 1), (3, 1), (4, 2)]),
                "-> 10.0.0.4:80 Masq 2",
                true,
            ),
            (
                small_pool(&[(1, 1), (3, 0), (4, 2)]),
                "-> 10.0.0.3:80 Masq 0",
                true,
            ),
        ];
        for (want, line, present) in steps {
            let before = r.backend.requests();
            let ops = r.apply(&want).await.unwrap();
            assert_eq!(ops.len(), 1, "{ops:?}");
            assert_eq!(r.backend.requests() - before, 1, "{ops:?}");
            let t = sh("ipvsadm -Ln");
            assert_eq!(has_line(&t, line), present, "{ops:?}: {line:?} in\n{t}");
            assert_eq!(r.backend.read().await.unwrap(), want);
        }
        // a scheduler change is one SET_SERVICE, destinations untouched
        let mut want = small_pool(&[(1, 1), (3, 0), (4, 2)]);
        want.values_mut().next().unwrap().scheduler = "lc".into();
        let before = r.backend.requests();
        let ops = r.apply(&want).await.unwrap();
        assert!(matches!(ops.as_slice(), [Op::EditService(_)]), "{ops:?}");
        assert_eq!(r.backend.requests() - before, 1);
        assert!(sh("ipvsadm -Ln").contains("TCP  192.0.2.10:80 lc"));
        assert_eq!(r.backend.read().await.unwrap(), want);

        // a restart reconciles from the kernel: nothing to do
        let mut r2 = Reconciler::new(IpvsBackend::new(want.keys().copied()).unwrap())
            .await
            .unwrap();
        assert_eq!(r2.actual, want);
        let before = r2.backend.requests();
        assert!(r2.apply(&want).await.unwrap().is_empty());
        assert_eq!(r2.backend.requests(), before);
        sh("ipvsadm -C");
    });
}

#[test]
fn ipvs_flush_keeps_foreign_and_config() {
    if !guest("ipvs_flush_keeps_foreign_and_config") {
        return;
    }
    block_on(async {
        sh("ipvsadm -C");
        sh("ipvsadm -A -t 198.51.100.1:80 -s rr && ipvsadm -a -t 198.51.100.1:80 -r 10.9.0.1:80 -m -w 2");
        let foreign = key("198.51.100.1", 80, Proto::Tcp);
        let pool = small_pool(&[(1, 1), (2, 2)]);
        // created knowing nothing: ownership comes from what it adds
        let mut r = Reconciler::new(IpvsBackend::new([]).unwrap())
            .await
            .unwrap();
        assert!(r.actual.is_empty(), "the hand-made service is not ours");
        r.apply(&pool).await.unwrap();
        assert!(!r.backend.is_owned(&foreign));
        let read = r.backend.read().await.unwrap();
        assert_eq!(read, pool);
        // claim by predicate: sees the foreign one too
        let mut all = IpvsBackend::new([]).unwrap().with_claim(|_| true);
        assert_eq!(all.read().await.unwrap().len(), 3);

        // adding an existing service: the error names the op and errno
        let dup = Op::AddService(pool.values().next().unwrap().header());
        let e = r.backend.apply(&[dup]).await.unwrap_err();
        let oe = OpError::of(&e).expect("an OpError");
        assert_eq!(oe.errno, libc::EEXIST, "{e}");
        assert!(oe.op.starts_with("NEW_SERVICE tcp 192.0.2.10:80"), "{e}");
        let e = r
            .backend
            .apply(&[Op::DelDest {
                service: foreign,
                dest: dk("10.9.9.9", 80),
            }])
            .await
            .unwrap_err();
        assert_eq!(OpError::of(&e).unwrap().errno, libc::ENOENT, "{e}");

        r.clear().await.unwrap();
        let t = sh("ipvsadm -Ln");
        assert!(t.contains("TCP  198.51.100.1:80 rr"), "{t}");
        assert!(t.contains("10.9.0.1:80"), "{t}");
        assert!(!t.contains("192.0.2.10"), "{t}");
        assert!(!t.contains("2001:db8::80"), "{t}");

        // lvs_timeouts
        r.backend.set_timeouts(900, 120, 300).unwrap();
        assert_eq!(
            sh("ipvsadm -L --timeout"),
            "Timeout (tcp tcpfin udp): 900 120 300\n"
        );
        r.backend.set_timeouts(0, 60, 0).unwrap();
        assert_eq!(
            sh("ipvsadm -L --timeout"),
            "Timeout (tcp tcpfin udp): 900 60 300\n"
        );
        // lvs_sync_daemon
        r.backend
            .start_sync_daemon(SyncState::Master, "lo", 5)
            .unwrap();
        let d = sh("ipvsadm -L --daemon");
        assert!(d.contains("master sync daemon (mcast=lo, syncid=5"), "{d}");
        r.backend
            .start_sync_daemon(SyncState::Backup, "lo", 5)
            .unwrap();
        assert!(sh("ipvsadm -L --daemon").contains("backup sync daemon (mcast=lo, syncid=5"));
        r.backend.stop_sync_daemon(SyncState::Master).unwrap();
        r.backend.stop_sync_daemon(SyncState::Backup).unwrap();
        assert_eq!(sh("ipvsadm -L --daemon"), "");

        // lvs_flush: everything, ours or not
        r.apply(&pool).await.unwrap();
        r.backend.flush_all().unwrap();
        assert!(IpvsBackend::new([])
            .unwrap()
            .with_claim(|_| true)
            .read()
            .await
            .unwrap()
            .is_empty());
    });
}

/// keepalived configurations whose real servers have no checker (keepalived
/// keeps them up), exercising what the model derives from the config.
fn keepalived_configs() -> Vec<(&'static str, String)> {
    // (cases where Debian's keepalived 2.2.7 and the model are known to
    // disagree are in `known_differences`)
    vec![
        (
            "basic",
            r#"
virtual_server 192.0.2.10 80 {
    protocol TCP
    real_server 10.0.0.1 8080 { weight 2 }
    real_server 10.0.0.2 80 { }
    real_server 10.0.0.3 80 { weight 3 }
}
"#
            .to_string(),
        ),
        (
            "schedulers-methods",
            r#"
virtual_server 192.0.2.20 443 {
    protocol TCP
    lb_algo sh
    lb_kind DR
    persistence_timeout 600
    persistence_granularity 255.255.255.0
    real_server 10.0.1.1 443 { weight 1 }
    real_server 10.0.1.2 443 { weight 4 uthreshold 100 lthreshold 10 }
}
virtual_server 192.0.2.21 53 {
    protocol UDP
    lb_algo rr
    ops
    lb_kind NAT
    real_server 10.0.2.1 53 { }
    real_server 10.0.2.2 5353 { weight 0 }
}
virtual_server 192.0.2.22 3868 {
    protocol SCTP
    lb_algo lblc
    lb_kind TUN
    real_server 10.0.3.1 3868 { }
}
virtual_server fwmark 7 {
    protocol TCP
    lb_algo wlc
    lb_kind DR
    persistence_timeout 360
    real_server 10.0.4.1 0 { }
    real_server 10.0.4.2 0 { weight 5 }
}
virtual_server 2001:db8::10 80 {
    protocol TCP
    lb_algo mh
    persistence_timeout 30
    persistence_granularity 64
    real_server 2001:db8:1::1 80 { weight 2 }
    real_server 2001:db8:1::2 8080 { }
}
"#
            .to_string(),
        ),
        (
            "group",
            r#"
virtual_server_group G {
    192.0.2.30 80
    192.0.2.40-42 8080
    fwmark 9
}
virtual_server group G {
    protocol TCP
    lb_algo wrr
    lb_kind NAT
    real_server 10.0.5.1 80 { weight 2 }
    real_server 10.0.5.2 8080 { weight 1 }
}
"#
            .to_string(),
        ),
    ]
}

/// Configurations on which keepalived 2.2.7 and `model::desired` are known to
/// differ (reported, not failed): (name, config, what differs).
fn known_differences() -> Vec<(&'static str, String, &'static str)> {
    vec![
        (
            "no-protocol",
            "virtual_server 192.0.2.50 80 {\n    real_server 10.0.6.1 80 { }\n}\n".to_string(),
            "keepalived logs 'no protocol set - defaulting to UDP'; the model defaults to TCP",
        ),
        (
            "bare-persistence_timeout",
            "virtual_server 192.0.2.51 80 {\n    protocol TCP\n    persistence_timeout\n    real_server 10.0.6.1 80 { }\n}\n"
                .to_string(),
            "keepalived makes the service persistent (360 s); the model's service is not persistent",
        ),
        (
            "group-rs-without-port",
            "virtual_server_group G2 {\n    192.0.2.52 80\n    192.0.2.53 8080\n}\nvirtual_server group G2 {\n    protocol TCP\n    real_server 10.0.6.1 { }\n}\n"
                .to_string(),
            "keepalived programs a port-less real server of a group with port 0; the model gives it each member's port",
        ),
    ]
}

/// Runs keepalived (checkers only) on `text` and returns its settled
/// `ipvsadm -Ln --sort`, then ours for `model::desired(.., Up)` of the same text.
fn keepalived_vs_ours(dir: &std::path::Path, name: &str, text: &str) -> (String, String) {
    sh("ipvsadm -C");
    let conf = dir.join(format!("{name}.conf"));
    std::fs::write(&conf, text).unwrap();
    let mut child = Command::new("keepalived")
        .args(["-n", "-l", "-C", "-f"])
        .arg(&conf)
        .arg("-p")
        .arg(dir.join(format!("{name}.pid")))
        .arg("-c")
        .arg(dir.join(format!("{name}.cpid")))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start keepalived");
    let theirs = settled_table(Duration::from_secs(8));
    // keepalived removes its services on exit; stop it and wait
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
    sh("ipvsadm -C");

    let loaded = keepalived_config::load_str(
        &format!("{name}.conf"),
        text,
        &keepalived_config::LoadOptions::default(),
    );
    let cfg = keepalived_config::model::build(&loaded.tree);
    let pool = desired(&cfg, &|_, _| Health::Up);
    block_on(async {
        let mut r = Reconciler::new(IpvsBackend::new(pool.keys().copied()).unwrap())
            .await
            .unwrap();
        r.apply(&pool).await.unwrap();
    });
    let ours = sh("ipvsadm -Ln --sort");
    sh("ipvsadm -C");
    (theirs, ours)
}

/// Polls `ipvsadm -Ln --sort` until it stops changing (1 s) after showing
/// something, at most `limit`.
fn settled_table(limit: Duration) -> String {
    let start = Instant::now();
    let mut last = String::new();
    let mut since = Instant::now();
    while start.elapsed() < limit {
        let t = sh("ipvsadm -Ln --sort");
        if t != last {
            last = t;
            since = Instant::now();
        } else if last.lines().count() > 3 && since.elapsed() > Duration::from_secs(1) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    last
}

#[test]
fn ipvs_matches_keepalived() {
    if !guest("ipvs_matches_keepalived") {
        return;
    }
    if Command::new("keepalived")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIP: keepalived is not installed");
        println!("(skipped)");
        return;
    }
    let dir = PathBuf::from("/tmp/ka-cmp");
    std::fs::create_dir_all(&dir).unwrap();
    let mut report = BTreeMap::new();
    for (name, text) in keepalived_configs() {
        let (theirs, ours) = keepalived_vs_ours(&dir, name, &text);
        assert_eq!(
            ours, theirs,
            "{name}: ours:\n{ours}\nkeepalived's:\n{theirs}\nconfig:\n{text}"
        );
        report.insert(name.to_string(), ours.lines().count());
    }
    for (name, text, what) in known_differences() {
        let (theirs, ours) = keepalived_vs_ours(&dir, name, &text);
        if ours == theirs {
            eprintln!("KNOWN-DIFFERENCE {name}: now identical ({what})");
        } else {
            eprintln!("KNOWN-DIFFERENCE {name}: {what}\nours:\n{ours}keepalived's:\n{theirs}");
        }
    }
    // the shipped samples with virtual servers, checkers stripped
    let (mut same, mut differ) = (Vec::new(), Vec::new());
    for (name, text) in vs_samples() {
        let (theirs, ours) = keepalived_vs_ours(&dir, &name, &text);
        let services = theirs.lines().filter(|l| !l.starts_with(' ')).count() - 2;
        if services == 0 {
            eprintln!("SAMPLE-EMPTY {name}: keepalived programmed nothing; ours:\n{ours}");
            differ.push(format!("{name} (keepalived: empty)"));
        } else if ours == theirs {
            same.push(format!("{name} ({services} services)"));
        } else {
            eprintln!("SAMPLE-DIFF {name}:\nours:\n{ours}keepalived's:\n{theirs}");
            differ.push(name);
        }
    }
    eprintln!("samples identical to keepalived: {same:?}; different: {differ:?}");
    assert!(
        differ.is_empty(),
        "samples differing from keepalived: {differ:?}"
    );
    eprintln!("identical to keepalived's tables (lines): {report:?}");
}
