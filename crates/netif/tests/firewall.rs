//! The `no_accept` nftables table in private network namespaces (needs root
//! and `nft`; skipped otherwise). Namespaces A and B are joined by a veth
//! pair; A holds the VIPs and the firewall, B probes them with TCP connects
//! to a closed port: a refusal (RST) or an accept means the packet reached
//! A's stack, a timeout means it was dropped. Work inside a namespace runs on
//! a dedicated thread that `setns`es itself (child processes such as `nft`
//! inherit that thread's namespace). Every wait is bounded.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use keepalived_netif::firewall::NoAccept;
use keepalived_testkit::block_on;
use keepalived_testkit::cmd::run;
use keepalived_testkit::netns::{self, Ns};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// True when we may create namespaces and have `nft`; prints why not otherwise.
fn can_run() -> bool {
    netns::can_run(&["ip", "nft"])
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const VIP4: &str = "192.0.2.100";
const VIP6: &str = "2001:db8::100";
const PROBE_WAIT: Duration = Duration::from_millis(1500);

/// A (va: 192.0.2.1/24, 2001:db8::1/64, VIPs 192.0.2.100, 2001:db8::100)
/// <-> B (vb: 192.0.2.2/24, 2001:db8::2/64), no DAD.
fn pair() -> (Ns, Ns) {
    let a = Ns::new("fwa");
    let b = Ns::new("fwb");
    a.veth("va", &b, "vb");
    a.ip(&["addr", "add", "192.0.2.1/24", "dev", "va"]);
    a.ip(&["addr", "add", "192.0.2.100/32", "dev", "va"]);
    a.ip(&["addr", "add", "2001:db8::1/64", "dev", "va", "nodad"]);
    a.ip(&["addr", "add", "2001:db8::100/128", "dev", "va", "nodad"]);
    b.ip(&["addr", "add", "192.0.2.2/24", "dev", "vb"]);
    b.ip(&["addr", "add", "2001:db8::2/64", "dev", "vb", "nodad"]);
    a.ip(&["link", "set", "va", "up"]);
    b.ip(&["link", "set", "vb", "up"]);
    (a, b)
}

/// From `b`, whether `addr` answers a TCP connect to a closed port
/// (accepted or refused: reachable; timed out: dropped).
fn reachable(b: &Ns, addr: &str) -> bool {
    let sa = SocketAddr::new(ip(addr), 9);
    b.run(move || {
        // Neighbour resolution can cost the first attempt; retry once.
        for _ in 0..2 {
            match TcpStream::connect_timeout(&sa, PROBE_WAIT) {
                Ok(_) => return true,
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => return true,
                Err(e) if e.kind() == io::ErrorKind::TimedOut => continue,
                Err(e) => panic!("probe {sa}: {e}"),
            }
        }
        false
    })
}

fn table_name() -> String {
    format!(
        "krs_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

#[test]
fn no_accept_blocks_and_unblocks() {
    if !can_run() {
        return;
    }
    let (a, b) = pair();
    a.exec(&["nft", "add", "table", "inet", "other"]);
    a.exec(&[
        "nft",
        "add chain inet other c { type filter hook input priority 0; policy accept; }",
    ]);
    let other_before = a.exec(&["nft", "list", "table", "inet", "other"]);

    assert!(reachable(&b, VIP4), "VIP4 reachable before blocking");
    assert!(reachable(&b, VIP6), "VIP6 reachable before blocking");

    let table = table_name();
    let fw = NoAccept::new(table.clone());
    let blocked = a.run_async({
        let fw = fw.clone();
        move || async move {
            fw.ensure().await.expect("ensure");
            fw.ensure().await.expect("ensure twice");
            fw.block(&[ip(VIP4), ip(VIP6)]).await.expect("block");
            fw.block(&[ip(VIP4)]).await.expect("block again");
            fw.blocked().await.expect("blocked")
        }
    });
    assert_eq!(blocked.len(), 2, "{blocked:?}");
    assert!(blocked.contains(&ip(VIP4)) && blocked.contains(&ip(VIP6)));

    // nft ran in A's namespace, not ours.
    let here = run(&["nft", "list", "tables"]);
    assert!(
        !here.contains(&table),
        "table leaked to the test's namespace"
    );
    let listing = a.exec(&["nft", "-n", "list", "table", "inet", &table]);
    assert!(listing.contains("hook input priority -1"), "{listing}");
    assert_eq!(
        listing.matches(" drop").count(),
        2,
        "exactly our rules: {listing}"
    );
    let v4 = a.exec(&["nft", "-n", "list", "set", "inet", &table, "vips4"]);
    assert!(v4.contains("elements = { 192.0.2.100 }"), "{v4}");
    let v6 = a.exec(&["nft", "-n", "list", "set", "inet", &table, "vips6"]);
    assert!(v6.contains("elements = { 2001:db8::100 }"), "{v6}");

    assert!(!reachable(&b, VIP4), "VIP4 must be dropped");
    assert!(!reachable(&b, VIP6), "VIP6 must be dropped");
    assert!(reachable(&b, "192.0.2.1"), "other addresses stay reachable");
    assert!(
        reachable(&b, "2001:db8::1"),
        "other addresses stay reachable"
    );

    let left = a.run_async({
        let fw = fw.clone();
        move || async move {
            // 10.255.0.1 was never blocked: must not fail the transaction.
            fw.unblock(&[ip(VIP4), ip("10.255.0.1")])
                .await
                .expect("unblock");
            fw.unblock(&[ip(VIP4)]).await.expect("unblock again");
            fw.blocked().await.expect("blocked")
        }
    });
    assert_eq!(left, vec![ip(VIP6)]);
    assert!(reachable(&b, VIP4), "VIP4 reachable after unblock");
    assert!(!reachable(&b, VIP6), "VIP6 still dropped");

    let gone = a.run_async({
        let fw = fw.clone();
        move || async move {
            fw.remove().await.expect("remove");
            fw.remove().await.expect("remove twice");
            // On a missing table these are no-ops.
            fw.unblock(&[ip(VIP6)])
                .await
                .expect("unblock without table");
            (
                fw.exists().await.expect("exists"),
                fw.blocked().await.expect("blocked"),
            )
        }
    });
    assert_eq!(gone, (false, vec![]));
    let tables = a.exec(&["nft", "list", "tables"]);
    assert!(!tables.contains(&table), "{tables}");
    assert!(tables.contains("table inet other"), "{tables}");
    assert_eq!(
        a.exec(&["nft", "list", "table", "inet", "other"]),
        other_before,
        "other table untouched"
    );
    assert!(reachable(&b, VIP6), "VIP6 reachable after remove");
}

#[test]
fn missing_nft_is_a_clear_error() {
    let fw = NoAccept::new("t").with_nft("/nonexistent/nft");
    let err = block_on(fw.ensure()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert!(err.to_string().contains("nftables"), "{err}");
}

#[test]
fn bad_table_name_is_refused() {
    let fw = NoAccept::new("x; flush ruleset");
    let err = block_on(fw.block(&[ip(VIP4)])).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}
