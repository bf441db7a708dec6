//! The typed model built from the seed configuration.

use keepalived_config::model::{build, ServiceAddress, State};
use keepalived_config::validate::HostChecks;
use keepalived_config::{load, LoadOptions};
use std::path::Path;

#[test]
fn seed_model() {
    let opts = LoadOptions {
        host: HostChecks {
            interfaces: false,
            users: false,
            scripts: false,
        },
        ..LoadOptions::default()
    };
    let loaded = load(Path::new("tests/configs/seed.conf"), &opts);
    let m = build(&loaded.tree);
    let g = &m.global_defs;
    assert_eq!(g.router_id.as_deref(), Some("LVS_DEVEL"));
    assert_eq!(g.notification_email.len(), 3);
    assert_eq!(
        g.smtp_server.as_ref().map(|s| (s.host.as_str(), s.port)),
        Some(("192.168.200.1", 25))
    );
    assert_eq!(g.smtp_connect_timeout, Some(30));
    assert!(g.vrrp_strict && g.vrrp_skip_check_adv_addr);
    let vi = &m.vrrp_instances[0];
    assert_eq!(
        (
            vi.name.as_str(),
            vi.state,
            vi.virtual_router_id,
            vi.priority
        ),
        ("VI_1", Some(State::Master), Some(51), Some(100))
    );
    assert_eq!(vi.virtual_ipaddress.len(), 3);
    let auth = vi.authentication.as_ref().unwrap();
    assert_eq!(
        (auth.auth_type.as_str(), auth.auth_pass.as_deref()),
        ("PASS", Some("1111"))
    );
    let vs = &m.virtual_servers[0];
    assert!(matches!(vs.service, ServiceAddress::Ip { port: 443, .. }));
    assert_eq!(
        (
            vs.lb_algo.as_deref(),
            vs.lb_kind.as_deref(),
            vs.persistence_timeout
        ),
        (Some("rr"), Some("NAT"), Some(50))
    );
    let rs = &vs.real_servers[0];
    assert_eq!(rs.checkers[0].kind, "SSL_GET");
    assert_eq!(rs.checkers[0].urls.len(), 2);
    assert_eq!(
        rs.checkers[0].urls[1].digest.as_deref(),
        Some("9b3a0c85a887a256d6939da88aabd8cd")
    );
    // Serializes for `keepalived-rs config dump`.
    assert!(serde_json::to_string(&m)
        .unwrap()
        .contains("\"router_id\":\"LVS_DEVEL\""));
}
