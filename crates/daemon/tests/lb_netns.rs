//! Load balancing end to end with the nftables data plane: a client, a director
//! running keepalived-rs (VRRP for the VIP, HTTP_GET checks, NAT), three real
//! web servers behind it. Root only; skipped with a reason otherwise.

mod common;

use common::*;

const CLIENT: usize = 0;
const DIRECTOR: usize = 1;
const WEB: [usize; 3] = [2, 3, 4];
const VIP: &str = "10.10.0.100";

fn lab() -> Option<Net> {
    one_director_lab("10.10.0.2/24", &["ip", "nft", "curl"])
}

fn web(net: &Net, i: usize) -> Proc {
    lab_web(net, WEB[i], i + 1)
}

fn config(algo: &str, extra_vs: &str, weights: [u32; 3]) -> String {
    let rs: String = (0..3)
        .map(|i| {
            format!(
                "    real_server 10.20.0.{} 80 {{\n        weight {}\n        HTTP_GET {{\n            url {{\n                path /\n                status_code 200\n            }}\n            connect_timeout 1\n            retry 1\n            delay_before_retry 1\n        }}\n    }}\n",
                11 + i,
                weights[i]
            )
        })
        .collect();
    format!(
        "global_defs {{\n    router_id lb\n    lvs_backend nftables\n}}\nvrrp_instance VI_1 {{\n    state MASTER\n    interface eth0\n    virtual_router_id 51\n    priority 100\n    advert_int 1\n    virtual_ipaddress {{\n        {VIP}/24\n    }}\n}}\nvirtual_server {VIP} 80 {{\n    delay_loop 1\n    lb_algo {algo}\n    lb_kind NAT\n    protocol TCP\n{extra_vs}{rs}}}\n"
    )
}

/// `n` requests from the client; counts of each answer ("web1", …, "fail").
fn requests(net: &Net, n: usize) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for _ in 0..n {
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", net.ns(CLIENT), "curl", "-s", "-m", "3"])
            .arg(format!("http://{VIP}/"))
            .output()
            .unwrap();
        let body = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let key = if out.status.success() && !body.is_empty() {
            body
        } else {
            "fail".into()
        };
        *counts.entry(key).or_default() += 1;
    }
    counts
}

fn counts(pairs: &[(&str, usize)]) -> std::collections::BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// rr spreads evenly; a stopped server leaves the pool (checker verdict) and
/// no request fails afterwards; a restarted one comes back; only our tables
/// are in the ruleset, and the load-balancer table goes away on stop.
#[test]
fn round_robin_failure_and_return() {
    let Some(net) = lab() else { return };
    let _w1 = web(&net, 0);
    let w2 = web(&net, 1);
    let _w3 = web(&net, 2);
    let mut d = net.daemon(DIRECTOR, "dir", &config("rr", "", [1, 1, 1]));
    d.expect_all(&["Using the nftables data plane", "Entering MASTER STATE"]);
    assert_eq!(
        requests(&net, 30),
        counts(&[("web1", 10), ("web2", 10), ("web3", 10)])
    );

    w2.kill9();
    d.expect(
        |l| l.contains("Removing service [10.20.0.12]:tcp:80 from VS [10.10.0.100]:tcp:80"),
        "web2 removed",
    );
    assert_eq!(requests(&net, 30), counts(&[("web1", 15), ("web3", 15)]));

    let _w2 = web(&net, 1);
    d.expect(
        |l| l.contains("Adding service [10.20.0.12]:tcp:80 to VS [10.10.0.100]:tcp:80"),
        "web2 back",
    );
    let back = requests(&net, 30);
    assert_eq!(back.get("fail"), None, "{back:?}");
    assert_eq!(back.len(), 3, "{back:?}");

    let tables = net.exec(DIRECTOR, &["nft", "list", "tables"]);
    let ours: Vec<&str> = tables.lines().collect();
    assert_eq!(ours, ["table inet keepalived_rs_lb"], "{tables}");
    d.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(d.wait_exit(), "{}", d.dump());
    assert_eq!(net.exec(DIRECTOR, &["nft", "list", "tables"]), "");
}

/// wrr spreads by weight; sh keeps a client on one server.
#[test]
fn weighted_and_source_hash() {
    let Some(net) = lab() else { return };
    let _w: Vec<Proc> = (0..3).map(|i| web(&net, i)).collect();
    let mut d = net.daemon(DIRECTOR, "dir", &config("wrr", "", [1, 2, 3]));
    d.expect_all(&["Using the nftables data plane", "Entering MASTER STATE"]);
    assert_eq!(
        requests(&net, 30),
        counts(&[("web1", 5), ("web2", 10), ("web3", 15)])
    );
    d.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(d.wait_exit());

    let mut d = net.daemon(DIRECTOR, "dir2", &config("sh", "", [1, 1, 1]));
    d.expect_all(&["Using the nftables data plane", "Entering MASTER STATE"]);
    let sticky = requests(&net, 12);
    assert_eq!(sticky.len(), 1, "{sticky:?}");
    assert!(!sticky.contains_key("fail"), "{sticky:?}");
}

/// quorum lost → sorry_server takes the traffic; back above quorum → the pool.
#[test]
fn sorry_server_on_lost_quorum() {
    let Some(net) = lab() else { return };
    let w1 = web(&net, 0);
    let w2 = web(&net, 1);
    let _w3 = web(&net, 2); // the sorry server, not a pool member
    let mut cfg = config(
        "rr",
        "    quorum 2\n    sorry_server 10.20.0.13 80\n",
        [1, 1, 1],
    );
    // Only web1 and web2 are pool members.
    let third = cfg.find("    real_server 10.20.0.13").unwrap();
    let end = cfg[third..].find("\n    }\n").unwrap() + third + 7;
    cfg.replace_range(third..end, "");
    let mut d = net.daemon(DIRECTOR, "dir", &cfg);
    d.expect_all(&["Using the nftables data plane", "Entering MASTER STATE"]);
    assert_eq!(requests(&net, 10), counts(&[("web1", 5), ("web2", 5)]));
    w1.kill9();
    d.expect(
        |l| l.contains("Lost quorum for VS [10.10.0.100]:tcp:80"),
        "quorum lost",
    );
    assert_eq!(requests(&net, 6), counts(&[("web3", 6)]));
    drop(w2);
    let _w1 = web(&net, 0);
    d.expect(
        |l| l.contains("Gained quorum for VS [10.10.0.100]:tcp:80"),
        "quorum back",
    );
    assert_eq!(requests(&net, 10), counts(&[("web1", 5), ("web2", 5)]));
}

/// A reload that changes one real server's weight is one data-plane operation
/// and fails no request under load; status and metrics report the servers and
/// their checks.
#[test]
fn reload_one_server_is_one_operation() {
    let Some(net) = lab() else { return };
    let _w: Vec<Proc> = (0..3).map(|i| web(&net, i)).collect();
    let cfg = |w3: u32| {
        config("wrr", "", [1, 1, w3]).replace(
            "    lvs_backend nftables\n",
            "    lvs_backend nftables\n    metrics_listen 127.0.0.1:9650\n",
        )
    };
    let conf = net.file("dir.conf", &cfg(1));
    let sock = net.dir.join("dir.sock");
    let mut d = net.spawn(
        DIRECTOR,
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
    d.expect_all(&[
        "Using the nftables data plane",
        "Entering MASTER STATE",
        "metrics on",
    ]);
    assert_eq!(
        requests(&net, 30),
        counts(&[("web1", 10), ("web2", 10), ("web3", 10)])
    );

    // Client load through the VIP while the reload happens.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ns = net.ns(CLIENT).to_string();
    let flag = stop.clone();
    let load = std::thread::spawn(move || {
        let (mut ok, mut failed) = (0, 0);
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            let st = std::process::Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &ns,
                    "curl",
                    "-sf",
                    "-m",
                    "3",
                    "-o",
                    "/dev/null",
                ])
                .arg(format!("http://{VIP}/"))
                .status()
                .unwrap();
            if st.success() {
                ok += 1;
            } else {
                failed += 1;
            }
        }
        (ok, failed)
    });
    std::fs::write(&conf, cfg(4)).unwrap();
    d.signal(nix::sys::signal::Signal::SIGHUP);
    d.expect(|l| l.contains("checkers reloaded"), "in-place reload");
    d.expect(
        |l| l.contains("data plane: 1 operation(s)"),
        "one operation",
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (ok, failed) = load.join().unwrap();
    assert!(ok > 0);
    assert_eq!(failed, 0, "{ok} ok, {failed} failed during the reload");
    // 1:1:4 now; an incremental slot change keeps the share, not the order.
    let spread = requests(&net, 60);
    assert_eq!(spread.get("fail"), None, "{spread:?}");
    assert!(
        spread["web3"] >= 30 && spread["web1"] >= 5 && spread["web2"] >= 5,
        "{spread:?}"
    );
    assert_eq!(
        d.count(|l| l.contains("Entering")),
        2,
        "no VRRP transition on reload"
    );

    // Status and metrics.
    let out = net.exec(
        DIRECTOR,
        &[
            env!("CARGO_BIN_EXE_keepalived-rs"),
            "status",
            "--json",
            "--socket",
            path_str(&sock),
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rss = v["virtual_servers"][0]["real_servers"].as_array().unwrap();
    assert_eq!(rss.len(), 3);
    assert!(rss
        .iter()
        .all(|r| r["up"] == true && r["checks_ok"].as_u64().unwrap() > 0));
    assert_eq!(rss[2]["weight"], 4);
    assert_eq!(v["instances"][0]["state"], "MASTER");
    assert_eq!(v["reloads"], 1);
    let text = net.exec(
        DIRECTOR,
        &[
            env!("CARGO_BIN_EXE_keepalived-rs"),
            "status",
            "--socket",
            path_str(&sock),
        ],
    );
    assert!(
        text.contains("VI_1") && text.contains("10.20.0.13"),
        "{text}"
    );
    let m = net.exec(DIRECTOR, &["curl", "-s", "http://127.0.0.1:9650/metrics"]);
    assert!(
        m.contains("keepalived_rs_vrrp_state{instance=\"VI_1\",state=\"MASTER\"} 1"),
        "{m}"
    );
    assert!(m.contains("keepalived_rs_real_server_weight"), "{m}");
    assert!(m.contains("keepalived_rs_checks_total"), "{m}");
    assert!(m.contains("keepalived_rs_reloads_total 1"), "{m}");
}
