//! The typed model built from the seed configuration.

use keepalived_config::model::{build, Config, GroupMember, Prefix, ServiceAddress, State, Tunnel};
use keepalived_config::validate::HostChecks;
use keepalived_config::{load, load_str, LoadOptions};
use std::net::IpAddr;
use std::path::Path;

fn opts() -> LoadOptions {
    LoadOptions {
        host: HostChecks {
            interfaces: false,
            users: false,
            scripts: false,
        },
        ..LoadOptions::default()
    }
}

/// Builds the model of a configuration that must check without errors.
fn model(text: &str) -> Config {
    let loaded = load_str("t.conf", text, &opts());
    let errors: Vec<_> = loaded.diags.errors().map(|d| d.message.clone()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    build(&loaded.tree)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Every `other` map in the dump, with its JSON path, that is not empty.
fn untyped(v: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                let p = format!("{path}.{k}");
                if k == "other" && v.as_object().is_some_and(|o| !o.is_empty()) {
                    out.push(format!("{p}: {v}"));
                }
                untyped(v, &p, out);
            }
        }
        serde_json::Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                untyped(v, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn assert_all_typed(m: &Config) {
    let mut out = Vec::new();
    untyped(&serde_json::to_value(m).unwrap(), "", &mut out);
    assert!(out.is_empty(), "untyped keywords: {out:#?}");
}

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

#[test]
fn seed_is_fully_typed() {
    let loaded = load(Path::new("tests/configs/seed.conf"), &opts());
    assert_all_typed(&build(&loaded.tree));
}

#[test]
fn global_defs_typed() {
    let m = model(
        r#"
global_defs {
    router_id r1
    smtp_server mail.example.com 587
    smtp_alert
    smtp_alert_vrrp off
    vrrp_mcast_group4 224.0.0.19
    vrrp_garp_master_delay 3
    vrrp_garp_master_repeat 2
    vrrp_garp_master_refresh 60
    vrrp_garp_lower_prio_repeat 4
    vrrp_garp_interval 0.001
    vrrp_lower_prio_no_advert
    vrrp_version 3
    vrrp_check_unicast_src
    vrrp_priority -5
    checker_priority 3
    notify_fifo /run/ka.fifo root wheel
    notify_fifo_script /usr/bin/reader
    lvs_notify_fifo /run/lvs.fifo
    lvs_timeouts tcp 900 udp 30
    lvs_sync_daemon eth0 VI_1 id 7 port 8849 group 239.1.1.1
    lvs_flush
    lvs_flush_onstop
    script_user ka ka
    enable_script_security
    max_auto_priority 50
    vrrp_startup_delay 2.5
    lvs_backend nftables
    metrics_listen 127.0.0.1:9650
}
"#,
    );
    let g = &m.global_defs;
    assert_eq!(g.smtp_server.as_ref().map(|s| s.port), Some(587));
    assert_eq!((g.smtp_alert, g.smtp_alert_vrrp), (Some(true), Some(false)));
    assert_eq!(g.vrrp_mcast_group4, Some(ip("224.0.0.19")));
    assert_eq!(
        (
            g.vrrp_garp_master_delay,
            g.vrrp_garp_master_repeat,
            g.vrrp_garp_master_refresh,
            g.vrrp_garp_lower_prio_repeat
        ),
        (Some(3.0), Some(2), Some(60.0), Some(4))
    );
    assert_eq!(g.vrrp_garp_interval, Some(0.001));
    assert_eq!(g.vrrp_lower_prio_no_advert, Some(true));
    assert_eq!(g.vrrp_version, Some(3));
    assert!(g.vrrp_check_unicast_src && g.lvs_flush && g.enable_script_security);
    assert_eq!((g.vrrp_priority, g.checker_priority), (Some(-5), Some(3)));
    let f = g.notify_fifo.as_ref().unwrap();
    assert_eq!(
        (
            f.path.as_str(),
            f.user.as_deref(),
            f.group.as_deref(),
            f.script.as_deref()
        ),
        (
            "/run/ka.fifo",
            Some("root"),
            Some("wheel"),
            Some("/usr/bin/reader")
        )
    );
    assert_eq!(g.lvs_notify_fifo.as_ref().unwrap().path, "/run/lvs.fifo");
    let t = g.lvs_timeouts.as_ref().unwrap();
    assert_eq!((t.tcp, t.tcpfin, t.udp), (Some(900), None, Some(30)));
    let s = g.lvs_sync_daemon.as_ref().unwrap();
    assert_eq!(
        (
            s.interface.as_str(),
            s.instance.as_deref(),
            s.id,
            s.port,
            s.group
        ),
        (
            "eth0",
            Some("VI_1"),
            Some(7),
            Some(8849),
            Some(ip("239.1.1.1"))
        )
    );
    assert_eq!(g.lvs_flush_onstop.as_deref(), Some(""));
    assert_eq!(g.script_user.as_deref(), Some("ka ka"));
    assert_eq!(g.max_auto_priority.as_deref(), Some("50"));
    assert_eq!(g.vrrp_startup_delay, Some(2.5));
    assert_eq!(g.lvs_backend.as_deref(), Some("nftables"));
    assert_eq!(g.metrics_listen, ["127.0.0.1:9650"]);
    assert_all_typed(&m);
}

#[test]
fn vrrp_blocks_typed() {
    let m = model(
        r#"
vrrp_script chk {
    script "/usr/bin/check --fast"
    interval 2
    timeout 1.5
    weight -20 reverse
    rise 3
    fall 2
    user nobody nogroup
    init_fail
}
track_file tf {
    file /run/tf
    weight -10 reverse
    init_file 5 overwrite
}
vrrp_track_process haproxy {
    process haproxy -f /etc/haproxy.cfg
    param_match partial
    weight 10
    quorum 2
    quorum_max 4
    delay 0.5
    terminate_delay 1
    full_command
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 0.5
    use_vmac vrrp51
    vmac_xmit_base
    dont_track_primary
    mcast_src_ip 10.0.0.2
    unicast_src_ip 10.0.0.2
    unicast_ttl 10
    unicast_peer {
        10.0.0.3
        10.0.0.4 min_ttl 250 max_ttl 255
    }
    garp_master_delay 2
    garp_master_refresh 30
    garp_lower_prio_repeat 3
    lower_prio_no_advert
    higher_prio_send_advert off
    no_accept
    preempt
    strict_mode false
    smtp_alert
    notify_master "/bin/note master"
    notify_master_rx_lower_pri /bin/lower
    notify_deleted
    virtual_ipaddress {
        10.0.0.10/24 dev eth1 scope link label eth1:vip brd 10.0.0.255 no_track
    }
    virtual_ipaddress_excluded {
        fe80::10/64 -nodad preferred_lft forever
    }
    virtual_routes {
        src 10.0.0.10 to 192.168.109.0/24 via 10.0.0.254 dev eth1 table 100 metric 5
        blackhole 192.168.114.0/24 no_track
        0.0.0.0/0 gw 10.0.0.1 table 100 scope global protocol static
    }
    virtual_rules {
        from 192.168.2.0/24 table 1 priority 100 iif eth0
        to 192.168.3.0/24 table 2 fwmark 24/12 oif eth1 no_track
    }
    track_interface {
        eth1 weight -10
        eth2 weight 0 reverse
    }
    track_script {
        chk
    }
    track_file {
        tf weight 5
    }
    track_process {
        haproxy weight -30 reverse
    }
    kernel_rx_buf_size 65536
}
vrrp_sync_group G1 {
    group {
        VI_1
    }
    notify_master /bin/gm
    notify "/bin/all args"
    smtp_alert no
    sync_group_tracking_weight
    track_script {
        chk weight 10
    }
}
static_ipaddress {
    192.168.1.1/24 dev eth0 scope global
}
static_routes {
    192.168.2.0/24 via 192.168.1.100 dev eth0
}
static_rules {
    from 192.168.2.0/24 table 1
}
"#,
    );
    let s = &m.vrrp_scripts[0];
    assert_eq!(s.script.as_deref(), Some("/usr/bin/check --fast"));
    assert_eq!(
        (s.interval, s.timeout, s.weight, s.reverse, s.rise, s.fall),
        (Some(2.0), Some(1.5), Some(-20), true, Some(3), Some(2))
    );
    assert_eq!(
        (s.user.as_deref(), s.init_fail),
        (
            Some(&["nobody".to_string(), "nogroup".to_string()][..]),
            true
        )
    );

    let f = &m.track_files[0];
    assert_eq!(
        (f.name.as_str(), f.file.as_deref(), f.weight, f.reverse),
        ("tf", Some("/run/tf"), Some(-10), true)
    );
    let init = f.init_file.as_ref().unwrap();
    assert_eq!((init.value, init.overwrite), (Some(5), true));

    let p = &m.track_processes[0];
    assert_eq!(p.process, ["haproxy", "-f", "/etc/haproxy.cfg"]);
    assert_eq!(
        (
            p.param_match.as_deref(),
            p.weight,
            p.quorum,
            p.quorum_max,
            p.fork_delay,
            p.terminate_delay,
            p.full_command
        ),
        (
            Some("partial"),
            Some(10),
            Some(2),
            Some(4),
            Some(0.5),
            Some(1.0),
            true
        )
    );

    let i = &m.vrrp_instances[0];
    assert_eq!(i.state, Some(State::Backup));
    assert_eq!(i.advert_int, Some(0.5));
    assert_eq!(i.use_vmac.as_deref(), Some("vrrp51"));
    assert!(i.vmac_xmit_base && i.dont_track_primary && i.preempt);
    assert_eq!(i.mcast_src_ip, Some(ip("10.0.0.2")));
    assert_eq!(i.unicast_ttl, Some(10));
    assert_eq!(i.unicast_peer, [ip("10.0.0.3"), ip("10.0.0.4")]);
    let peer = &i.unicast_peers[1];
    assert_eq!((peer.min_ttl, peer.max_ttl), (Some(250), Some(255)));
    assert_eq!(
        (
            i.garp_master_delay,
            i.garp_master_refresh,
            i.garp_lower_prio_repeat
        ),
        (Some(2.0), Some(30.0), Some(3))
    );
    assert_eq!(
        (
            i.lower_prio_no_advert,
            i.higher_prio_send_advert,
            i.accept,
            i.strict_mode,
            i.smtp_alert
        ),
        (
            Some(true),
            Some(false),
            Some(false),
            Some(false),
            Some(true)
        )
    );
    assert_eq!(
        i.notify_master.as_ref().map(|s| s.command.as_str()),
        Some("/bin/note master")
    );
    assert_eq!(
        i.notify_master_rx_lower_pri
            .as_ref()
            .map(|s| s.command.as_str()),
        Some("/bin/lower")
    );
    assert_eq!(i.notify_deleted.as_deref(), Some(""));
    assert_eq!(i.kernel_rx_buf_size, Some(65536));

    let v = &i.virtual_ipaddress[0];
    assert_eq!(
        (
            v.dev.as_deref(),
            v.scope.as_deref(),
            v.label.as_deref(),
            v.brd,
            v.no_track
        ),
        (
            Some("eth1"),
            Some("link"),
            Some("eth1:vip"),
            Some("10.0.0.255".parse().unwrap()),
            true
        )
    );
    assert_eq!(v.options[0], "dev");
    let v6 = &i.virtual_ipaddress_excluded[0];
    assert!(v6.nodad && !v6.no_track);
    assert_eq!(v6.preferred_lft.as_deref(), Some("forever"));

    let r = &i.virtual_routes;
    assert_eq!(r[0].src, Some(ip("10.0.0.10")));
    assert_eq!(r[0].dst, Prefix::parse("192.168.109.0/24"));
    assert_eq!(
        (
            r[0].via,
            r[0].dev.as_deref(),
            r[0].table.as_deref(),
            r[0].metric
        ),
        (Some(ip("10.0.0.254")), Some("eth1"), Some("100"), Some(5))
    );
    assert_eq!(
        (r[1].kind.as_deref(), r[1].no_track),
        (Some("blackhole"), true)
    );
    assert_eq!(r[1].dst, Prefix::parse("192.168.114.0/24"));
    assert_eq!(r[2].dst, Prefix::parse("0.0.0.0/0"));
    assert_eq!(
        (r[2].via, r[2].scope.as_deref(), r[2].protocol.as_deref()),
        (Some(ip("10.0.0.1")), Some("global"), Some("static"))
    );
    assert_eq!(r[2].words[0], "0.0.0.0/0");
    let u = &i.virtual_rules;
    assert_eq!(u[0].from, Prefix::parse("192.168.2.0/24"));
    assert_eq!(
        (u[0].table.as_deref(), u[0].priority, u[0].iif.as_deref()),
        (Some("1"), Some(100), Some("eth0"))
    );
    assert_eq!(
        (
            u[1].to,
            u[1].fwmark.as_deref(),
            u[1].oif.as_deref(),
            u[1].no_track
        ),
        (
            Prefix::parse("192.168.3.0/24"),
            Some("24/12"),
            Some("eth1"),
            true
        )
    );

    let t = &i.track_interface;
    assert_eq!((t[0].weight, t[0].reverse), (Some(-10), false));
    assert_eq!((t[1].weight, t[1].reverse), (Some(0), true));
    assert_eq!(i.track_script[0].weight, None);
    assert_eq!(i.track_file[0].weight, Some(5));
    assert_eq!(
        (i.track_process[0].weight, i.track_process[0].reverse),
        (Some(-30), true)
    );

    let g = &m.sync_groups[0];
    assert_eq!(g.group, ["VI_1"]);
    assert_eq!(
        (
            g.notify_master.as_ref().map(|s| s.command.as_str()),
            g.notify.as_ref().map(|s| s.command.as_str()),
            g.smtp_alert
        ),
        (Some("/bin/gm"), Some("/bin/all args"), Some(false))
    );
    assert!(g.sync_group_tracking_weight);
    assert_eq!(g.track_script[0].weight, Some(10));

    assert_eq!(m.static_ipaddress[0].dev.as_deref(), Some("eth0"));
    assert_eq!(m.static_routes[0].via, Some(ip("192.168.1.100")));
    assert_eq!(m.static_rules[0].table.as_deref(), Some("1"));
    assert_all_typed(&m);
}

#[test]
fn lvs_blocks_typed() {
    let m = model(
        r#"
virtual_server_group G {
    10.1.0.1 80
    10.1.0.10-20 80
    10.1.1.0/30
    fwmark 7
}
virtual_server group G {
    lvs_sched wrr
    lvs_method TUN type gue port 6080 csum
    protocol udp
    persistence_timeout 300
    persistence_granularity 255.255.255.0
    quorum 2
    quorum_up "/bin/up now"
    hysteresis 1
    alpha
    omega
    inhibit_on_failure
    sorry_server 10.2.0.1 8080
    sorry_server_inhibit
    ops
    sh-port
    mh-fallback
    retry 4
    delay_before_retry 2.5
    warmup 0
    connect_timeout 3
    smtp_alert off
    ip_family inet
    virtualhost www.example.com
    real_server 10.3.0.1 80 {
        weight 3
        lvs_method DR
        notify_up "/bin/rs up"
        notify_down /bin/rsdown
        uthreshold 100
        lthreshold 10
        inhibit_on_failure off
        delay_loop 10
        HTTP_GET {
            url {
                path /health
                status_code 200-299 404
                regex "ok|fine"
                regex_no_match
                virtualhost health.example.com
            }
            connect_port 8080
            connect_ip 10.3.0.9
            bindto 10.0.0.1
            nb_get_retry 5
            delay_before_retry 1.5
            http_protocol 1.1
            enable_sni
            fast_recovery
        }
        TCP_CHECK {
            connect_timeout 2
            fwmark 9
            warmup 1
        }
        MISC_CHECK {
            misc_path "/bin/check arg"
            misc_timeout 5
            misc_dynamic
            user nobody
        }
        DNS_CHECK {
            type A
            name example.com
        }
        SMTP_CHECK {
            helo_name me.example.com
        }
        UDP_CHECK {
            payload 0a0b
            require_reply 0c
            min_reply_length 2
            max_reply_length 100
        }
        PING_CHECK {
            retry 2
        }
    }
}
virtual_server 10.9.0.1 443 {
    lb_algo rr
    lb_kind NAT
    real_server 10.9.0.2 443 {
        FILE_CHECK {
            track_file tf
            weight 2 reverse
        }
    }
}
track_file tf {
    file /run/tf
}
"#,
    );
    let g = &m.virtual_server_groups[0];
    assert_eq!(
        g.entries,
        [
            GroupMember::Ip {
                address: ip("10.1.0.1"),
                port: Some(80)
            },
            GroupMember::Range {
                first: ip("10.1.0.10"),
                last: ip("10.1.0.20"),
                port: Some(80)
            },
            GroupMember::Range {
                first: ip("10.1.1.0"),
                last: ip("10.1.1.3"),
                port: None
            },
            GroupMember::Fwmark {
                mark: 7,
                family: None
            },
        ]
    );
    let vs = &m.virtual_servers[0];
    assert!(matches!(&vs.service, ServiceAddress::Group(g) if g == "G"));
    assert_eq!(
        (vs.lb_algo.as_deref(), vs.lb_kind.as_deref()),
        (Some("wrr"), Some("TUN"))
    );
    assert_eq!(
        vs.lvs_tunnel,
        Some(Tunnel {
            kind: "gue".into(),
            port: Some(6080),
            checksum: Some("csum".into())
        })
    );
    assert_eq!(vs.protocol.as_deref(), Some("UDP"));
    assert_eq!(vs.persistence_granularity.as_deref(), Some("255.255.255.0"));
    assert_eq!(
        (
            vs.quorum,
            vs.quorum_up.as_ref().map(|s| s.command.as_str()),
            vs.hysteresis
        ),
        (Some(2), Some("/bin/up now"), Some(1))
    );
    assert_eq!(
        (
            vs.alpha,
            vs.omega,
            vs.inhibit_on_failure,
            vs.sorry_server_inhibit
        ),
        (Some(true), Some(true), Some(true), Some(true))
    );
    let sorry = vs.sorry_server_addr.as_ref().unwrap();
    assert_eq!((sorry.address, sorry.port), (ip("10.2.0.1"), Some(8080)));
    assert!(vs.ops);
    assert_eq!(vs.scheduler_flags, ["sh-port", "mh-fallback"]);
    assert_eq!(
        (
            vs.retry,
            vs.delay_before_retry,
            vs.warmup,
            vs.connect_timeout,
            vs.smtp_alert
        ),
        (Some(4), Some(2.5), Some(0.0), Some(3.0), Some(false))
    );
    assert_eq!(vs.ip_family.as_deref(), Some("inet"));
    assert_eq!(vs.virtualhost.as_deref(), Some("www.example.com"));

    let rs = &vs.real_servers[0];
    assert_eq!((rs.weight, rs.lvs_method.as_deref()), (Some(3), Some("DR")));
    assert_eq!(rs.lvs_tunnel, None);
    assert_eq!(
        (
            rs.notify_up.as_ref().map(|s| s.command.as_str()),
            rs.notify_down.as_ref().map(|s| s.command.as_str())
        ),
        (Some("/bin/rs up"), Some("/bin/rsdown"))
    );
    assert_eq!(
        (
            rs.uthreshold,
            rs.lthreshold,
            rs.inhibit_on_failure,
            rs.delay_loop
        ),
        (Some(100), Some(10), Some(false), Some(10.0))
    );
    let kinds: Vec<_> = rs.checkers.iter().map(|c| c.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "HTTP_GET",
            "TCP_CHECK",
            "MISC_CHECK",
            "DNS_CHECK",
            "SMTP_CHECK",
            "UDP_CHECK",
            "PING_CHECK"
        ]
    );
    let [http, tcp, misc, dns, smtp, udp, ping] = &rs.checkers[..] else {
        unreachable!()
    };
    let u = &http.urls[0];
    assert_eq!(u.path.as_deref(), Some("/health"));
    assert_eq!(u.status_codes, [(200, 299), (404, 404)]);
    assert_eq!(u.status_code.as_deref(), Some("200-299 404"));
    assert_eq!(
        (
            u.regex.as_deref(),
            u.regex_no_match,
            u.virtualhost.as_deref()
        ),
        (Some("ok|fine"), true, Some("health.example.com"))
    );
    assert_eq!(
        (
            http.connect_port,
            http.connect_ip,
            http.bindto,
            http.retry,
            http.delay_before_retry
        ),
        (
            Some(8080),
            Some(ip("10.3.0.9")),
            Some(ip("10.0.0.1")),
            Some(5),
            Some(1.5)
        )
    );
    assert_eq!(
        (
            http.http_protocol.as_deref(),
            http.enable_sni,
            http.fast_recovery
        ),
        (Some("1.1"), Some(true), Some(true))
    );
    assert_eq!(
        (tcp.connect_timeout, tcp.fwmark, tcp.warmup),
        (Some(2.0), Some(9), Some(1.0))
    );
    assert_eq!(
        (
            misc.misc_path.as_deref(),
            misc.misc_timeout,
            misc.misc_dynamic,
            misc.user.as_deref()
        ),
        (
            Some("/bin/check arg"),
            Some(5.0),
            true,
            Some(&["nobody".to_string()][..])
        )
    );
    assert_eq!(
        (dns.dns_type.as_deref(), dns.name.as_deref()),
        (Some("A"), Some("example.com"))
    );
    assert_eq!(smtp.helo_name.as_deref(), Some("me.example.com"));
    assert_eq!(
        (
            udp.payload.as_deref(),
            udp.require_reply.as_deref(),
            udp.min_reply_length,
            udp.max_reply_length
        ),
        (Some("0a0b"), Some("0c"), Some(2), Some(100))
    );
    assert_eq!(ping.retry, Some(2));

    let file = &m.virtual_servers[1].real_servers[0].checkers[0];
    assert_eq!(
        (file.track_file.as_deref(), file.weight, file.reverse),
        (Some("tf"), Some(2), true)
    );
    assert_all_typed(&m);
}

#[test]
fn other_top_level_blocks_typed() {
    let m = model(
        r#"
vrrp_instance VI_1 {
    interface eth1
    virtual_router_id 1
    use_vmac
    virtual_ipaddress {
        10.0.0.1
    }
}
garp_group {
    garp_interval 0.5
    interfaces {
        eth0
        eth1
    }
}
bfd_instance b1 {
    neighbor_ip 10.0.0.9
    min_rx 50
    multiplier 3
    weight -5
}
track_group tg {
    group {
        VI_1
    }
}
SSL {
    ca /etc/ca.pem
    certificate /etc/cert.pem
}
linkbeat_use_polling
net_namespace blue
child_wait_time 3
virtual_server fwmark 5 {
    real_server 10.0.0.5 {
        BFD_CHECK {
            name b1
        }
        SMTP_CHECK {
            host {
                connect_ip 10.0.0.6
                connect_port 25
            }
        }
    }
}
"#,
    );
    let g = &m.garp_groups[0];
    assert_eq!((g.garp_interval, g.interfaces.len()), (Some(0.5), 2));
    let i = &m.vrrp_instances[0];
    assert_eq!((i.garp_interval, i.gna_interval), (Some(0.5), None));
    assert_eq!(i.use_vmac.as_deref(), Some(""));
    let b = &m.bfd_instances[0];
    assert_eq!(
        (
            b.name.as_str(),
            b.neighbor_ip,
            b.min_rx,
            b.multiplier,
            b.weight
        ),
        ("b1", Some(ip("10.0.0.9")), Some(50), Some(3), Some(-5))
    );
    assert_eq!(m.track_groups[0].group, ["VI_1"]);
    let ssl = m.ssl.as_ref().unwrap();
    assert_eq!(
        (ssl.ca.as_deref(), ssl.certificate.as_deref()),
        (Some("/etc/ca.pem"), Some("/etc/cert.pem"))
    );
    assert!(m.linkbeat_use_polling);
    assert_eq!(
        (m.net_namespace.as_deref(), m.child_wait_time),
        (Some("blue"), Some(3.0))
    );
    let vs = &m.virtual_servers[0];
    assert!(matches!(vs.service, ServiceAddress::Fwmark(5)));
    let c = &vs.real_servers[0].checkers;
    assert_eq!(
        (c[0].kind.as_str(), c[0].name.as_deref()),
        ("BFD_CHECK", Some("b1"))
    );
    assert_eq!(
        (c[1].hosts[0].connect_ip, c[1].hosts[0].connect_port),
        (Some(ip("10.0.0.6")), Some(25))
    );
    assert_all_typed(&m);
}
