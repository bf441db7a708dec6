//! Routes and rules in private network namespaces (need root; skipped
//! otherwise). Each test creates its own namespace (name includes the
//! process id), works in it from a dedicated thread that `setns`es itself
//! and owns a current-thread tokio runtime, and checks the result with
//! `ip -n NS route|rule show`. The namespace is deleted on drop.

use std::net::IpAddr;

use keepalived_config::model::{Prefix, Route, Rule};
use keepalived_netif::routes::{
    add_route, add_rule, del_route, del_rule, RouteKind, RouteSpec, RuleKind, RuleSpec,
};
use keepalived_netif::Netlink;
use keepalived_testkit::netns::{self, Ns};

/// A namespace with a veth pair `va`/`vb`, `va` up with 10.0.0.2/24 and
/// 2001:db8::2/64 (no DAD).
fn with_link(tag: &str) -> Ns {
    let ns = Ns::new(tag);
    ns.ip(&["link", "add", "va", "type", "veth", "peer", "name", "vb"]);
    ns.ip(&["addr", "add", "10.0.0.2/24", "dev", "va"]);
    ns.ip(&["addr", "add", "2001:db8::2/64", "dev", "va", "nodad"]);
    ns.ip(&["link", "set", "vb", "up"]);
    ns.ip(&["link", "set", "va", "up"]);
    ns
}

/// True when we may create namespaces; prints why not otherwise.
fn can_run() -> bool {
    netns::can_run(&["ip"])
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn has_line(out: &str, needle: &str) -> bool {
    out.lines().any(|l| l.contains(needle))
}

#[test]
fn routes_add_show_delete() {
    if !can_run() {
        return;
    }
    let ns = with_link("rt");

    let mut gw = RouteSpec::new(ip("10.9.0.0"), 16);
    gw.via = Some(ip("10.0.0.1"));
    gw.metric = Some(50);
    gw.protocol = Some(18);
    let mut bh = RouteSpec::new(ip("10.8.0.0"), 16);
    bh.kind = RouteKind::Blackhole;
    bh.table = Some(100);
    let mut gw6 = RouteSpec::new(ip("2001:db8:9::"), 48);
    gw6.via = Some(ip("2001:db8::1"));
    let mut bh6 = RouteSpec::new(ip("2001:db8:8::"), 48);
    bh6.kind = RouteKind::Unreachable;
    bh6.table = Some(1000);
    let mut dflt = RouteSpec::new(ip("0.0.0.0"), 0);
    dflt.via = Some(ip("10.0.0.1"));
    dflt.table = Some(100);

    // keepalived's `or`: a two-nexthop multipath route.
    let mut mp = RouteSpec::new(ip("10.5.0.0"), 16);
    mp.via = Some(ip("10.0.0.1"));
    mp.or = Some(ip("10.0.0.3"));

    let all = vec![gw, bh, gw6, bh6, dflt, mp];
    let specs = all.clone();
    ns.run_async(move || async move {
        let nl = Netlink::new().expect("netlink");
        for s in &specs {
            add_route(&nl, s)
                .await
                .unwrap_or_else(|e| panic!("add {s:?}: {e}"));
            // Idempotent.
            add_route(&nl, s)
                .await
                .unwrap_or_else(|e| panic!("re-add {s:?}: {e}"));
        }
    });

    let main4 = ns.ip(&["route", "show"]);
    assert!(
        has_line(
            &main4,
            "10.9.0.0/16 via 10.0.0.1 dev va proto keepalived metric 50"
        ),
        "{main4}"
    );
    assert!(has_line(&main4, "10.5.0.0/16"), "{main4}");
    assert!(
        has_line(&main4, "nexthop via 10.0.0.1 dev va weight 1"),
        "{main4}"
    );
    assert!(
        has_line(&main4, "nexthop via 10.0.0.3 dev va weight 1"),
        "{main4}"
    );
    let t100 = ns.ip(&["route", "show", "table", "100"]);
    assert!(has_line(&t100, "blackhole 10.8.0.0/16"), "{t100}");
    assert!(has_line(&t100, "default via 10.0.0.1 dev va"), "{t100}");
    let main6 = ns.ip(&["-6", "route", "show"]);
    assert!(
        has_line(&main6, "2001:db8:9::/48 via 2001:db8::1 dev va"),
        "{main6}"
    );
    let t1000 = ns.ip(&["-6", "route", "show", "table", "1000"]);
    assert!(has_line(&t1000, "unreachable 2001:db8:8::/48"), "{t1000}");

    // From the config model: a connected route on the instance interface
    // (no dev, no gateway) and a named table.
    ns.run_async(move || async move {
        let nl = Netlink::new().expect("netlink");
        let va = nl.ifindex("va").await.unwrap();
        let r = Route {
            dst: Prefix::parse("10.7.0.0/16"),
            table: Some("main".into()),
            ..Route::default()
        };
        let s = RouteSpec::from_model(&r, |_| None, Some(va)).unwrap();
        add_route(&nl, &s).await.unwrap();
        let r2 = Route {
            dst: Prefix::parse("10.6.0.0/16"),
            via: Some(ip("10.0.0.1")),
            dev: Some("va".into()),
            table: Some("100".into()),
            ..Route::default()
        };
        let s2 = RouteSpec::from_model(&r2, |n| (n == "va").then_some(va), None).unwrap();
        add_route(&nl, &s2).await.unwrap();
        assert!(
            add_route(&nl, &{
                let mut bad = s2.clone();
                bad.via = Some(ip("10.99.0.1")); // not on link
                bad
            })
            .await
            .is_err(),
            "an unreachable gateway must be an error"
        );
    });
    let main4 = ns.ip(&["route", "show"]);
    assert!(
        has_line(&main4, "10.7.0.0/16 dev va proto keepalived scope link"),
        "{main4}"
    );
    let t100 = ns.ip(&["route", "show", "table", "100"]);
    assert!(
        has_line(&t100, "10.6.0.0/16 via 10.0.0.1 dev va proto keepalived"),
        "{t100}"
    );

    let specs = all.clone();
    ns.run_async(move || async move {
        let nl = Netlink::new().expect("netlink");
        for s in &specs {
            del_route(&nl, s)
                .await
                .unwrap_or_else(|e| panic!("del {s:?}: {e}"));
            // Idempotent.
            del_route(&nl, s)
                .await
                .unwrap_or_else(|e| panic!("re-del {s:?}: {e}"));
        }
    });
    let main4 = ns.ip(&["route", "show"]);
    assert!(!main4.contains("10.9.0.0/16"), "{main4}");
    assert!(!main4.contains("10.5.0.0/16"), "{main4}");
    assert!(
        main4.contains("10.7.0.0/16"),
        "other routes untouched: {main4}"
    );
    let t100 = ns.ip(&["route", "show", "table", "100"]);
    assert!(!t100.contains("10.8.0.0/16"), "{t100}");
    assert!(!t100.contains("default"), "{t100}");
    assert!(t100.contains("10.6.0.0/16"), "{t100}");
    let main6 = ns.ip(&["-6", "route", "show"]);
    assert!(!main6.contains("2001:db8:9::/48"), "{main6}");
    let t1000 = ns.ip(&["-6", "route", "show", "table", "1000"]);
    assert!(!t1000.contains("2001:db8:8::/48"), "{t1000}");
}

#[test]
fn rules_add_show_delete() {
    if !can_run() {
        return;
    }
    let ns = with_link("rule");

    let mut r4 = RuleSpec::new(false);
    r4.from = Some((ip("10.1.0.0"), 16));
    r4.table = Some(100);
    r4.priority = Some(100);
    let mut r6 = RuleSpec::new(true);
    r6.to = Some((ip("2001:db8:1::"), 48));
    r6.table = Some(1000);
    r6.priority = Some(200);
    r6.iif = Some("va".into());
    let mut mark = RuleSpec::new(false);
    mark.fwmark = Some((0x10, Some(0xff)));
    mark.action = RuleKind::Blackhole;
    mark.priority = Some(300);
    let model = Rule {
        from: Prefix::parse("10.2.0.0/16"),
        table: Some("main".into()),
        priority: Some(400),
        oif: Some("va".into()),
        ..Rule::default()
    };
    let from_model = RuleSpec::from_model(&model).unwrap();

    let all = vec![r4, r6, mark, from_model];
    let specs = all.clone();
    ns.run_async(move || async move {
        let nl = Netlink::new().expect("netlink");
        for s in &specs {
            add_rule(&nl, s)
                .await
                .unwrap_or_else(|e| panic!("add {s:?}: {e}"));
            add_rule(&nl, s)
                .await
                .unwrap_or_else(|e| panic!("re-add {s:?}: {e}"));
        }
    });

    let v4 = ns.ip(&["rule", "show"]);
    assert!(has_line(&v4, "100:\tfrom 10.1.0.0/16 lookup 100"), "{v4}");
    assert_eq!(
        v4.matches("from 10.1.0.0/16").count(),
        1,
        "no duplicate: {v4}"
    );
    assert!(
        has_line(&v4, "300:\tfrom all fwmark 0x10/0xff blackhole"),
        "{v4}"
    );
    assert!(
        has_line(
            &v4,
            "400:\tfrom 10.2.0.0/16 oif va lookup main proto keepalived"
        ),
        "{v4}"
    );
    let v6 = ns.ip(&["-6", "rule", "show"]);
    assert!(
        has_line(&v6, "200:\tfrom all to 2001:db8:1::/48 iif va lookup 1000"),
        "{v6}"
    );

    let specs = all.clone();
    ns.run_async(move || async move {
        let nl = Netlink::new().expect("netlink");
        for s in &specs {
            del_rule(&nl, s)
                .await
                .unwrap_or_else(|e| panic!("del {s:?}: {e}"));
            del_rule(&nl, s)
                .await
                .unwrap_or_else(|e| panic!("re-del {s:?}: {e}"));
        }
    });
    let v4 = ns.ip(&["rule", "show"]);
    for gone in ["10.1.0.0/16", "fwmark", "10.2.0.0/16"] {
        assert!(!v4.contains(gone), "{gone} still there: {v4}");
    }
    assert!(v4.contains("lookup main"), "default rules untouched: {v4}");
    let v6 = ns.ip(&["-6", "rule", "show"]);
    assert!(!v6.contains("2001:db8:1::/48"), "{v6}");
    assert!(v6.contains("lookup main"), "{v6}");
}
