//! keepalived's `no_accept` mode (implied by `vrrp_strict` for instances
//! that are not the address owner): while the VIPs are up, packets addressed
//! to them are dropped by nftables, so the addresses serve only for routing.
//!
//! keepalived-rs owns one nftables table (default [`DEFAULT_TABLE`],
//! keepalived's `nftables TABLENAME`) and touches nothing else:
//!
//! ```text
//! table inet <name> {
//!     set vips4 { type ipv4_addr; }
//!     set vips6 { type ipv6_addr; }
//!     chain input {
//!         type filter hook input priority -1; policy accept;
//!         ip daddr @vips4 drop
//!         ip6 daddr @vips6 drop
//!     }
//! }
//! ```
//!
//! Each change is one atomic transaction piped to `nft -f -` (run in the
//! calling thread's network namespace: children inherit the namespaces of
//! the thread that spawns them).

use std::collections::HashSet;
use std::io;
use std::net::IpAddr;
use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// Default table name.
pub const DEFAULT_TABLE: &str = "keepalived_rs";

/// Set of blocked IPv4 addresses.
pub const SET_V4: &str = "vips4";
/// Set of blocked IPv6 addresses.
pub const SET_V6: &str = "vips6";
/// The base chain (hooked on input).
pub const CHAIN_IN: &str = "input";

/// The `no_accept` firewall: one nftables table of our own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoAccept {
    table: String,
    priority: i32,
    nft: String,
}

impl Default for NoAccept {
    fn default() -> Self {
        NoAccept::new(DEFAULT_TABLE)
    }
}

impl NoAccept {
    /// Manage table `inet <table>` (hook priority -1, like keepalived).
    /// Nothing is done until a method is called.
    pub fn new(table: impl Into<String>) -> Self {
        NoAccept {
            table: table.into(),
            priority: -1,
            nft: "nft".into(),
        }
    }

    /// Use another input hook priority (keepalived's `nftables_priority`).
    pub fn with_priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// Use another `nft` executable (default: `nft` from `PATH`).
    pub fn with_nft(mut self, path: impl Into<String>) -> Self {
        self.nft = path.into();
        self
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Create the table, sets, chain and drop rules if missing and reset the
    /// chain to exactly our rules. Set contents are kept. Idempotent.
    pub async fn ensure(&self) -> io::Result<()> {
        let script = self.prelude()?;
        self.run_script(&script).await
    }

    /// Drop packets to `addrs` (added to the sets; already present is
    /// fine). Also ensures the table exists, in the same transaction.
    pub async fn block(&self, addrs: &[IpAddr]) -> io::Result<()> {
        let mut script = self.prelude()?;
        script.push_str(&self.elements("add", addrs.iter()));
        self.run_script(&script).await
    }

    /// Accept packets to `addrs` again. Addresses not blocked (or a missing
    /// table) are ignored.
    pub async fn unblock(&self, addrs: &[IpAddr]) -> io::Result<()> {
        check_name(&self.table)?;
        if addrs.is_empty() || !self.exists().await? {
            return Ok(());
        }
        let present: HashSet<IpAddr> = self.blocked().await?.into_iter().collect();
        let gone: Vec<&IpAddr> = addrs.iter().filter(|a| present.contains(a)).collect();
        if gone.is_empty() {
            return Ok(());
        }
        let script = self.elements("delete", gone.into_iter());
        self.run_script(&script).await
    }

    /// The addresses currently blocked (empty if the table is missing).
    pub async fn blocked(&self) -> io::Result<Vec<IpAddr>> {
        check_name(&self.table)?;
        if !self.exists().await? {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for set in [SET_V4, SET_V6] {
            let text = self
                .run(&["-n", "list", "set", "inet", &self.table, set], None)
                .await?;
            out.extend(parse_elements(&text));
        }
        Ok(out)
    }

    /// Whether our table exists.
    pub async fn exists(&self) -> io::Result<bool> {
        check_name(&self.table)?;
        let text = self.run(&["list", "tables", "inet"], None).await?;
        Ok(text.lines().any(|l| {
            let mut w = l.split_whitespace();
            w.next() == Some("table") && w.next() == Some("inet") && w.next() == Some(&self.table)
        }))
    }

    /// Delete our table (and with it every blocked address). Missing is fine.
    pub async fn remove(&self) -> io::Result<()> {
        check_name(&self.table)?;
        if !self.exists().await? {
            return Ok(());
        }
        let script = format!("delete table inet {}\n", self.table);
        match self.run_script(&script).await {
            Err(_) if !self.exists().await? => Ok(()),
            r => r,
        }
    }

    fn prelude(&self) -> io::Result<String> {
        check_name(&self.table)?;
        let t = &self.table;
        Ok(format!(
            "add table inet {t}\n\
             add set inet {t} {SET_V4} {{ type ipv4_addr; }}\n\
             add set inet {t} {SET_V6} {{ type ipv6_addr; }}\n\
             add chain inet {t} {CHAIN_IN} {{ type filter hook input priority {p}; policy accept; }}\n\
             flush chain inet {t} {CHAIN_IN}\n\
             add rule inet {t} {CHAIN_IN} ip daddr @{SET_V4} drop\n\
             add rule inet {t} {CHAIN_IN} ip6 daddr @{SET_V6} drop\n",
            p = self.priority
        ))
    }

    /// `add|delete element` lines for the v4 and v6 members of `addrs`.
    fn elements<'a>(&self, verb: &str, addrs: impl Iterator<Item = &'a IpAddr>) -> String {
        let (v4, v6): (Vec<&IpAddr>, Vec<&IpAddr>) = addrs.partition(|a| a.is_ipv4());
        let mut s = String::new();
        for (set, list) in [(SET_V4, v4), (SET_V6, v6)] {
            if list.is_empty() {
                continue;
            }
            let items: Vec<String> = list.iter().map(|a| a.to_string()).collect();
            s.push_str(&format!(
                "{verb} element inet {} {set} {{ {} }}\n",
                self.table,
                items.join(", ")
            ));
        }
        s
    }

    async fn run_script(&self, script: &str) -> io::Result<()> {
        self.run(&["-f", "-"], Some(script)).await.map(|_| ())
    }

    /// Run `nft args...`, feeding `stdin`; its stdout on success.
    async fn run(&self, args: &[&str], stdin: Option<&str>) -> io::Result<String> {
        let mut cmd = Command::new(&self.nft);
        cmd.args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!(
                        "'{}' not found: no_accept needs nftables (install the nft tool)",
                        self.nft
                    ),
                )
            } else {
                io::Error::new(e.kind(), format!("cannot run '{}': {e}", self.nft))
            }
        })?;
        if let Some(text) = stdin {
            let mut pipe = child.stdin.take().expect("piped stdin");
            pipe.write_all(text.as_bytes()).await?;
            drop(pipe);
        }
        let out = child.wait_with_output().await?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(io::Error::other(format!(
                "nft {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }
}

/// nftables identifiers: a letter then letters, digits, `_`, `.`, `/`
/// (we also refuse anything that would need quoting).
fn check_name(name: &str) -> io::Result<()> {
    let mut chars = name.chars();
    let ok = name.len() <= 255
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '/');
    if ok {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid nftables table name '{name}'"),
        ))
    }
}

/// The addresses in the `elements = { ... }` part of `nft list set` output.
fn parse_elements(text: &str) -> Vec<IpAddr> {
    let Some(start) = text.find("elements = {") else {
        return Vec::new();
    };
    let rest = &text[start + "elements = {".len()..];
    let body = rest.split('}').next().unwrap_or("");
    body.split(|c: char| c == ',' || c.is_whitespace())
        .filter_map(|w| w.trim().parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_parse() {
        let text = "table inet k {\n\tset vips4 {\n\t\ttype ipv4_addr\n\t\telements = { 10.0.0.1, 10.0.0.2,\n\t\t\t     192.0.2.9 }\n\t}\n}\n";
        let v = parse_elements(text);
        assert_eq!(v.len(), 3);
        assert_eq!(v[2], "192.0.2.9".parse::<IpAddr>().unwrap());
        assert!(
            parse_elements("table inet k {\n\tset vips6 {\n\t\ttype ipv6_addr\n\t}\n}").is_empty()
        );
        let v6 = parse_elements("elements = { 2001:db8::1, fe80::1 }");
        assert_eq!(v6.len(), 2);
    }

    #[test]
    fn names() {
        assert!(check_name("keepalived_rs").is_ok());
        assert!(check_name("ka.1").is_ok());
        assert!(check_name("1abc").is_err());
        assert!(check_name("a b").is_err());
        assert!(check_name("a;flush ruleset").is_err());
        assert!(check_name("").is_err());
    }

    #[test]
    fn scripts() {
        let n = NoAccept::new("t1").with_priority(-5);
        let p = n.prelude().unwrap();
        assert!(p.contains("hook input priority -5;"));
        assert!(p.contains("flush chain inet t1 input"));
        let a: Vec<IpAddr> = vec!["10.0.0.1".parse().unwrap(), "2001:db8::1".parse().unwrap()];
        let e = n.elements("add", a.iter());
        assert_eq!(
            e,
            "add element inet t1 vips4 { 10.0.0.1 }\nadd element inet t1 vips6 { 2001:db8::1 }\n"
        );
        assert!(NoAccept::new("bad name").prelude().is_err());
    }
}
