//! Hostile configurations: huge, self-including, globbing the world. Each is
//! either parsed or refused with a clear error; none hangs or eats the host.

use keepalived_config::validate::HostChecks;
use keepalived_config::{load, load_str, model, LoadOptions, Loaded};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn opts() -> LoadOptions {
    let mut o = LoadOptions::default();
    o.preprocess.config_id = "test".into();
    o.host = HostChecks {
        interfaces: false,
        users: false,
        scripts: false,
    };
    o
}

fn messages(l: &Loaded) -> String {
    l.diags
        .items
        .iter()
        .map(|d| d.message.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A fresh directory under the target dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("hostile-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn hundred_thousand_real_servers_parse() {
    let mut text = String::new();
    for vs in 0..1000u32 {
        let _ = writeln!(
            text,
            "virtual_server 10.{}.{}.1 80 {{\n lb_algo rr\n lb_kind NAT\n protocol TCP",
            vs / 256,
            vs % 256
        );
        for rs in 0..100u32 {
            let _ = writeln!(
                text,
                " real_server 172.{}.{}.{} 8080 {{\n  weight 1\n  TCP_CHECK {{\n   connect_timeout 3\n  }}\n }}",
                16 + vs / 256 % 16,
                vs % 256,
                rs + 1
            );
        }
        text.push_str("}\n");
    }
    let loaded = load_str("big.conf", &text, &opts());
    assert!(!loaded.diags.has_errors(), "{}", messages(&loaded));
    let cfg = model::build(&loaded.tree);
    let n: usize = cfg
        .virtual_servers
        .iter()
        .map(|v| v.real_servers.len())
        .sum();
    assert_eq!(n, 100_000);
}

#[test]
fn brace_bomb_in_include_is_refused() {
    let text = format!("include /nonexistent/{}.conf\n", "{a,b}".repeat(40));
    let loaded = load_str("bomb.conf", &text, &opts());
    assert!(loaded.diags.has_errors());
    assert!(
        messages(&loaded).contains("expands to more than 1024 names"),
        "{}",
        messages(&loaded)
    );
}

#[test]
fn files_that_include_each_other_by_glob_are_refused() {
    let dir = TempDir::new("glob-cycle");
    for i in 0..8 {
        std::fs::write(
            dir.0.join(format!("f{i}.conf")),
            format!("include {}/*.conf\n", dir.0.display()),
        )
        .unwrap();
    }
    let loaded = load(&dir.0.join("f0.conf"), &opts());
    assert!(loaded.diags.has_errors());
    let m = messages(&loaded);
    assert!(m.contains("include cycle"), "{m}");
    // Bounded: the search stops at the file budget (10,000 reads), it does not
    // walk all 8! orders.
    assert!(loaded.diags.items.len() <= 10, "{m}");
}

#[test]
fn recursive_glob_is_plain_star_and_bounded() {
    // glob(3) has no `**`: keepalived reads it as `*`, so a `**` include
    // matches one level, not the whole tree below.
    let dir = TempDir::new("starstar");
    std::fs::create_dir_all(dir.0.join("sub/deeper")).unwrap();
    std::fs::write(dir.0.join("sub/deeper/x.conf"), "bogus_keyword\n").unwrap();
    std::fs::write(
        dir.0.join("sub/ok.conf"),
        "global_defs {\n router_id r1\n}\n",
    )
    .unwrap();
    let main = dir.0.join("main.conf");
    std::fs::write(&main, format!("include {}/**/*.conf\n", dir.0.display())).unwrap();
    let loaded = load(&main, &opts());
    assert!(!loaded.diags.has_errors(), "{}", messages(&loaded));
    let cfg = model::build(&loaded.tree);
    assert_eq!(cfg.global_defs.router_id.as_deref(), Some("r1"));
}

#[test]
fn glob_matching_too_many_paths_is_refused() {
    let dir = TempDir::new("wide");
    for i in 0..50 {
        std::fs::write(dir.0.join(format!("{i}.conf")), "").unwrap();
    }
    let main = dir.0.join("main.cfg");
    std::fs::write(&main, format!("include {}/*.conf\n", dir.0.display())).unwrap();
    let mut o = opts();
    o.preprocess.max_files = 20;
    let loaded = load(&main, &o);
    assert!(
        messages(&loaded).contains("matches more than 20 paths"),
        "{}",
        messages(&loaded)
    );
}

#[test]
fn sequence_bomb_is_refused() {
    let text = "~SEQ(a,1,100000) ~SEQ(b,1,100000) vrrp_script s$a$b {\n";
    let loaded = load_str("seq.conf", text, &opts());
    assert!(loaded.diags.has_errors(), "{}", messages(&loaded));
}

#[test]
fn deep_nesting_is_refused_not_a_crash() {
    // Every pass over the tree (and dropping it) would recurse this deep.
    let text = "global_defs {\n".repeat(200_000);
    let loaded = load_str("deep.conf", &text, &opts());
    assert!(
        messages(&loaded).contains("blocks nest more than 32 levels deep"),
        "{}",
        messages(&loaded)
    );
}
