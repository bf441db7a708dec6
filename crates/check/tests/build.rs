//! From keepalived.conf text to checkers, targets and schedules.

use keepalived_check::{server_specs, BuildContext, Engine};
use keepalived_config::model::Config;
use std::time::Duration;

fn tf_path() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("keepalived-check-test-tf-{}", std::process::id()))
}

fn config(text: &str) -> Config {
    let text = text.replace("@TF@", &tf_path().display().to_string());
    let loaded = keepalived_config::load_str("test.conf", &text, &Default::default());
    keepalived_config::model::build(&loaded.tree)
}

const CONF: &str = r#"
global_defs {
    smtp_helo_name checker.example
}
track_file tf {
    file "@TF@"
    weight 3
}
virtual_server 192.0.2.1 80 {
    delay_loop 20
    virtualhost vs.example
    real_server 127.0.0.1 8080 {
        HTTP_GET {
            url {
                path /health
                digest 9B3A0C85A887A256D6939DA88AABD8CD
                status_code 200-299 404
            }
            connect_timeout 2
        }
        TCP_CHECK {
            connect_port 9000
            bindto 127.0.0.2
            retry 4
            delay_before_retry 0.5
            warmup 0
        }
        DNS_CHECK {
            type A
            name example.com
        }
        MISC_CHECK {
            misc_path "/bin/sh -c 'exit 0'"
            misc_dynamic
        }
        SMTP_CHECK {
        }
        UDP_CHECK {
            payload 01 02
            require_reply 01
        }
        PING_CHECK {
            alpha
        }
        FILE_CHECK {
            track_file tf
        }
        BFD_CHECK {
            name b
        }
    }
    real_server 127.0.0.2 {
        delay_loop 7
        virtualhost rs.example
        SSL_GET {
            url {
                path /
            }
            enable_sni
        }
    }
}
"#;

#[test]
fn specs_with_keepalived_defaults() {
    let cfg = config(CONF);
    let ctx = BuildContext::from_config(&cfg).unwrap();
    let (specs, errors) = server_specs(&cfg, &ctx);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("BFD_CHECK is not supported yet"));
    assert_eq!(specs.len(), 2);
    let kinds: Vec<_> = specs[0].checkers.iter().map(|c| c.check.kind()).collect();
    assert_eq!(
        kinds,
        [
            "HTTP_GET",
            "TCP_CHECK",
            "DNS_CHECK",
            "MISC_CHECK",
            "SMTP_CHECK",
            "UDP_CHECK",
            "PING_CHECK",
            "FILE_CHECK"
        ]
    );
    let c = &specs[0].checkers;
    let s = Duration::from_secs;
    // HTTP_GET: delay_loop from the virtual server, retry 1, delay_before_retry 3 s.
    assert_eq!(c[0].schedule.delay_loop, s(20));
    assert_eq!(
        (c[0].schedule.retry, c[0].schedule.delay_before_retry),
        (1, s(3))
    );
    assert_eq!(c[0].target.connect_timeout, s(2));
    assert_eq!(c[0].target.addr, "127.0.0.1:8080".parse().unwrap());
    // TCP_CHECK: its own options.
    assert_eq!(c[1].target.addr, "127.0.0.1:9000".parse().unwrap());
    assert_eq!(c[1].target.server, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(c[1].target.bindto, Some("127.0.0.2".parse().unwrap()));
    assert_eq!(c[1].target.connect_timeout, s(5));
    assert_eq!(c[1].schedule.retry, 4);
    assert_eq!(c[1].schedule.delay_before_retry, Duration::from_millis(500));
    assert_eq!(c[1].schedule.warmup, Some(Duration::ZERO));
    // DNS_CHECK: retry 3, delay_before_retry = delay_loop.
    assert_eq!(
        (c[2].schedule.retry, c[2].schedule.delay_before_retry),
        (3, s(20))
    );
    // MISC_CHECK: retry 0, timeout = delay_loop.
    assert_eq!(c[3].schedule.retry, 0);
    assert_eq!(c[3].check.max_duration(&c[3].target), s(20));
    // Others: retry 1, delay_before_retry 1 s; alpha on PING_CHECK only.
    assert_eq!(
        (c[4].schedule.retry, c[4].schedule.delay_before_retry),
        (1, s(1))
    );
    assert!(c[6].schedule.alpha && !c[5].schedule.alpha);
    // Real server without port: the virtual server's; delay_loop from the real server.
    let ssl = &specs[1].checkers[0];
    assert_eq!(ssl.check.kind(), "SSL_GET");
    assert_eq!(ssl.target.addr, "127.0.0.2:80".parse().unwrap());
    assert_eq!(ssl.schedule.delay_loop, s(7));
    // The engine starts up unless alpha.
    let snap = Engine::new(specs).initial_snapshot();
    assert!(!snap.servers[0].up && snap.servers[1].up);
}

#[tokio::test]
async fn misc_and_file_from_config_run() {
    let cfg = config(CONF);
    let ctx = BuildContext::from_config(&cfg).unwrap();
    let (specs, _) = server_specs(&cfg, &ctx);
    let misc = &specs[0].checkers[3];
    let o = misc.check.run(&misc.target).await;
    assert!(o.ok, "{o:?}");
    let file = &specs[0].checkers[7];
    std::fs::write(tf_path(), "2\n").unwrap();
    let o = file.check.run(&file.target).await;
    assert_eq!((o.ok, o.weight), (true, Some(6)), "{o:?}");
    let _ = std::fs::remove_file(tf_path());
}

#[test]
fn bad_checkers_are_errors() {
    let cfg = config(
        r#"
virtual_server 192.0.2.1 80 {
    real_server 127.0.0.1 80 {
        HTTP_GET {
        }
        HTTP_GET {
            url {
                path /
                regex "(unclosed"
            }
        }
        MISC_CHECK {
        }
        FILE_CHECK {
            track_file nope
        }
        DNS_CHECK {
            type BOGUS
        }
    }
}
"#,
    );
    let (specs, errors) = server_specs(&cfg, &BuildContext::default());
    assert!(specs[0].checkers.is_empty());
    assert_eq!(errors.len(), 5, "{errors:?}");
}
