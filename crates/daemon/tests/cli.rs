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
