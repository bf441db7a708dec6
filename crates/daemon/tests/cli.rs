//! keepalived's `-t` exit codes and our `config dump`, through the real binary.

use std::path::PathBuf;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_keepalived-rs"))
}

fn tmp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("krs-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn config_test(path: &std::path::Path) -> (i32, String) {
    let out = bin().arg("-t").arg("-f").arg(path).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn exit_codes_follow_keepalived() {
    let ok = tmp("ok.conf", "global_defs {\n    router_id A\n}\n");
    assert_eq!(config_test(&ok).0, 0);

    let (code, err) = config_test(std::path::Path::new("/nonexistent/keepalived.conf"));
    assert_eq!(code, 4, "{err}");

    let bad = tmp("bad.conf", "global_defs {\n    router_idd A\n}\n");
    let (code, err) = config_test(&bad);
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains("bad.conf:2:5: error: unknown keyword 'router_idd' in global_defs"),
        "{err}"
    );
    assert!(err.contains("did you mean 'router_id'?"), "{err}");

    let sec = tmp(
        "sec.conf",
        "vrrp_script chk {\n    script \"</dev/tcp/127.0.0.1/80\"\n}\n",
    );
    assert_eq!(config_test(&sec).0, 6);
}

#[test]
fn long_flags_and_version() {
    let ok = tmp("ok2.conf", "global_defs {\n    router_id A\n}\n");
    let st = bin()
        .args(["--config-test", "--use-file"])
        .arg(&ok)
        .args(["--config-id", "x", "--log-console", "--dont-fork"])
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(0));
    let out = bin().arg("-v").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("keepalived-rs "));
}

#[test]
fn dump_applies_conditionals_and_variables() {
    let p = tmp(
        "dump.conf",
        "$RID=r1\nglobal_defs {\n    @main router_id ${RID}\n    @^main router_id other\n}\n",
    );
    let out = bin()
        .args(["config", "dump", "-i", "main", "-f"])
        .arg(&p)
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["global_defs"]["router_id"], "r1");
}

/// Serves one fixed HTTP response per connection on loopback, `n` times.
fn http_server(n: usize, body: &'static str) -> u16 {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().take(n) {
            let mut s = s.unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// `genhash` prints the same digest as keepalived's genhash for the same page.
#[test]
fn genhash_matches_keepalived() {
    let body = "<html>keepalived-rs digest test</html>\n";
    let port = http_server(2, body).to_string();
    let args = ["-s", "127.0.0.1", "-p", &port, "-u", "/index.html"];
    let ours = bin().arg("genhash").args(args).output().unwrap();
    let ours = String::from_utf8_lossy(&ours.stdout).trim().to_string();
    assert_eq!(ours.len(), 32, "{ours}");
    match Command::new("genhash").args(args).output() {
        Ok(theirs) => assert_eq!(ours, String::from_utf8_lossy(&theirs.stdout).trim()),
        Err(_) => eprintln!("keepalived's genhash is not installed: compared with md5 only"),
    }
    let expected = Command::new("sh")
        .args(["-c", &format!("printf '%s' '{body}' | md5sum")])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&expected.stdout).starts_with(&ours));
}

/// Script security, as keepalived judges it: scripts run as root without
/// enable_script_security → exit 6; with it, a track script others can change is
/// disabled → exit 5; a safe one → 0. Same verdicts as keepalived when it is
/// installed and we are root.
#[test]
fn script_security_verdicts() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("krs-sec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let script = |name: &str, mode: u32| {
        let p = dir.join(name);
        std::fs::write(&p, "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    };
    let safe = script("safe.sh", 0o755);
    let open = script("open.sh", 0o777);
    let conf = |name: &str, security: bool, s: &std::path::Path| {
        tmp(
            name,
            &format!(
                "global_defs {{\n    script_user root\n{}}}\nvrrp_script chk {{\n    script \"{}\"\n}}\nvrrp_instance VI_1 {{\n    interface lo\n    virtual_router_id 5\n    priority 100\n    track_script {{\n        chk\n    }}\n    virtual_ipaddress {{\n        10.1.1.1\n    }}\n}}\n",
                if security { "    enable_script_security\n" } else { "" },
                s.display()
            ),
        )
    };
    // keepalived refuses lo for VRRP; only the script verdict matters here, so
    // the config uses a multicast interface of the host.
    let root = nix::unistd::Uid::effective().is_root();
    let cases = [
        ("sec-safe.conf", true, &safe, 0),
        ("sec-open.conf", true, &open, 5),
        ("sec-none.conf", false, &safe, 6),
    ];
    for (name, security, s, want) in cases {
        let p = conf(name, security, s);
        let text = std::fs::read_to_string(&p).unwrap();
        let Some(iface) = multicast_interface() else {
            eprintln!("skipped: no multicast interface on this host");
            return;
        };
        std::fs::write(
            &p,
            text.replace("interface lo", &format!("interface {iface}")),
        )
        .unwrap();
        let (code, err) = config_test(&p);
        // Without root, `script_user root` is still root: the verdicts hold.
        assert_eq!(code, want, "{name}: {err}");
        if root && Command::new("keepalived").arg("-v").output().is_ok() {
            let ka = Command::new("keepalived")
                .arg("-t")
                .arg("-f")
                .arg(&p)
                .output()
                .unwrap();
            assert_eq!(ka.status.code(), Some(want), "keepalived on {name}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn multicast_interface() -> Option<String> {
    use nix::net::if_::InterfaceFlags;
    nix::ifaddrs::getifaddrs().ok()?.find_map(|a| {
        (a.flags.contains(InterfaceFlags::IFF_MULTICAST)
            && !a.flags.contains(InterfaceFlags::IFF_LOOPBACK))
        .then_some(a.interface_name)
    })
}

/// Under systemd (Type=notify) the daemon reports READY=1 once it runs, and
/// STOPPING=1 on SIGTERM.
#[test]
fn sd_notify_ready_and_stopping() {
    let dir = std::env::temp_dir().join(format!("krs-notify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock_path = dir.join("notify");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let conf = tmp("notify.conf", "global_defs {\n    router_id A\n}\n");
    let mut child = bin()
        .args(["-n", "-l", "-f"])
        .arg(&conf)
        .arg("--control-socket")
        .arg(dir.join("ctl.sock"))
        .env("NOTIFY_SOCKET", &sock_path)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 256];
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"READY=1");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"STOPPING=1");
    assert!(child.wait().unwrap().success());
    let _ = std::fs::remove_dir_all(&dir);
}
