//! Script security as keepalived judges it: scripts that run as root must not be
//! replaceable by anyone but root. Used by `-t` (diagnostics) and by the daemon
//! (which then refuses to run an insecure script).

use crate::diag::{Class, Diagnostic, Diagnostics};
use crate::parser::Node;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The program of a script command line (its first word), found in PATH when
/// it is not a path.
pub fn program(command: &str) -> Option<PathBuf> {
    let first = shell_first_word(command)?;
    if first.contains('/') {
        return Some(PathBuf::from(first));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(&first))
        .find(|p| p.is_file())
}

fn shell_first_word(command: &str) -> Option<String> {
    let t = command.trim_start();
    let quote = t.chars().next().filter(|c| *c == '"' || *c == '\'');
    match quote {
        Some(q) => t[1..].split(q).next().map(str::to_string),
        None => t.split_whitespace().next().map(str::to_string),
    }
}

/// Why a program run as root would be insecure: it, or a directory on its path,
/// can be changed by a user other than root. `None` when secure (or missing:
/// a missing script is reported elsewhere).
pub fn insecure(program: &Path) -> Option<String> {
    let real = std::fs::canonicalize(program).ok()?;
    let mut p: Option<&Path> = Some(&real);
    while let Some(cur) = p {
        let m = std::fs::metadata(cur).ok()?;
        let sticky_dir = m.is_dir() && m.mode() & 0o1000 != 0;
        if m.uid() != 0 {
            return Some(format!("{} is owned by uid {}", cur.display(), m.uid()));
        }
        // A sticky directory (like /tmp) lets nobody replace root's files.
        if !sticky_dir {
            if m.mode() & 0o002 != 0 {
                return Some(format!("{} is writable by everyone", cur.display()));
            }
            if m.mode() & 0o020 != 0 && m.gid() != 0 {
                return Some(format!(
                    "{} is writable by group {}",
                    cur.display(),
                    m.gid()
                ));
            }
        }
        p = cur.parent();
    }
    None
}

/// Whether scripts run as root by default: `script_user root`, or no
/// script_user and no `keepalived_script` user on this host (keepalived's rule).
pub fn default_user_is_root(script_user: Option<&str>) -> bool {
    match script_user {
        Some(u) => u == "root" || u == "0",
        None => nix::unistd::User::from_name("keepalived_script")
            .ok()
            .flatten()
            .is_none(),
    }
}

/// Keywords whose first argument is a script run by keepalived, and whether a
/// user may follow it on the line.
const SCRIPT_KEYWORDS: &[&str] = &[
    "script",
    "notify",
    "notify_master",
    "notify_backup",
    "notify_fault",
    "notify_stop",
    "notify_deleted",
    "notify_master_rx_lower_pri",
    "notify_up",
    "notify_down",
    "misc_path",
    "quorum_up",
    "quorum_down",
    "notify_fifo_script",
    "vrrp_notify_fifo_script",
    "lvs_notify_fifo_script",
    "startup_script",
    "shutdown_script",
];

/// A script line found in the config, with who it runs as.
struct Found<'a> {
    node: &'a Node,
    root: bool,
}

fn collect<'a>(
    n: &'a Node,
    root_default: bool,
    parent_user: Option<bool>,
    out: &mut Vec<Found<'a>>,
) {
    // `user NAME` in vrrp_script / MISC_CHECK selects the user of its script.
    let block_user = n
        .children()
        .iter()
        .find(|c| c.name() == "user")
        .and_then(|u| u.args.first())
        .map(|u| u.text == "root" || u.text == "0")
        .or(parent_user);
    for c in n.children() {
        if SCRIPT_KEYWORDS.contains(&c.name()) && !c.args.is_empty() {
            let in_global = n.name() == "global_defs";
            // A bare `notify_deleted` has no script.
            let explicit = c.args.get(1).map(|u| u.text == "root" || u.text == "0");
            let root = explicit.or(block_user).unwrap_or(root_default);
            if !(in_global && c.name() == "script") {
                out.push(Found { node: c, root });
            }
        }
        if c.block.is_some() {
            collect(c, root_default, block_user, out);
        }
    }
}

/// Whether any script of the configuration runs as root.
pub fn runs_scripts_as_root(nodes: &[Node]) -> bool {
    let script_user = nodes
        .iter()
        .filter(|n| n.name() == "global_defs")
        .flat_map(|g| g.children())
        .find(|c| c.name() == "script_user")
        .and_then(|u| u.args.first())
        .map(|a| a.text.as_str());
    let root_default = default_user_is_root(script_user);
    let mut found = Vec::new();
    for n in nodes {
        if n.block.is_some() {
            collect(n, root_default, None, &mut found);
        }
    }
    found.iter().any(|f| f.root)
}

/// keepalived's two script security verdicts for `-t`:
/// - scripts run as root without `enable_script_security`: a SECURITY VIOLATION
///   (exit 6), though keepalived still runs them;
/// - with it, an insecure script is disabled (a track script so disabled makes
///   the configuration invalid, exit 5; a notify script is just not run).
pub fn check(nodes: &[Node], diags: &mut Diagnostics) {
    let global = |kw: &str| {
        nodes
            .iter()
            .filter(|n| n.name() == "global_defs")
            .flat_map(|g| g.children())
            .find(|c| c.name() == kw)
    };
    let enabled = global("enable_script_security").is_some();
    let script_user = global("script_user")
        .and_then(|u| u.args.first())
        .map(|a| a.text.as_str());
    let root_default = default_user_is_root(script_user);
    let mut found = Vec::new();
    for n in nodes {
        if n.block.is_some() {
            collect(n, root_default, None, &mut found);
        }
    }
    // keepalived ignores scripts it cannot find (they are reported elsewhere).
    let as_root: Vec<&Found> = found
        .iter()
        .filter(|f| f.root)
        .filter(|f| {
            f.node
                .args
                .first()
                .and_then(|a| program(&a.text))
                .is_some_and(|p| p.exists())
        })
        .collect();
    if !enabled {
        if let Some(first) = as_root.first() {
            diags.push(
                Diagnostic::fixup(
                    first.node.keyword.span,
                    "scripts run as root but enable_script_security is not set",
                )
                .class(Class::Security)
                .hint("keepalived reports a SECURITY VIOLATION here (exit 6) and runs them anyway; add enable_script_security to global_defs, or set script_user to an unprivileged user"),
            );
        }
        return;
    }
    for f in as_root {
        let Some(arg) = f.node.args.first() else {
            continue;
        };
        let Some(prog) = program(&arg.text) else {
            continue;
        };
        let Some(why) = insecure(&prog) else { continue };
        let track = f.node.name() == "script";
        let d = if track {
            Diagnostic::fixup(arg.span, format!("insecure script {}: {why}", prog.display()))
                .hint("keepalived disables the track script (a configuration error, exit 5); make it and its directories owned by root and writable only by root")
        } else {
            Diagnostic::warning(arg.span, format!("insecure script {}: {why}", prog.display()))
                .hint("keepalived-rs and keepalived will not run it; make it and its directories owned by root and writable only by root")
        };
        diags.push(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_word_of_commands() {
        assert_eq!(shell_first_word("/bin/x a b").as_deref(), Some("/bin/x"));
        assert_eq!(
            shell_first_word("'/my dir/x' a").as_deref(),
            Some("/my dir/x")
        );
        assert_eq!(program("/bin/sh -c true"), Some(PathBuf::from("/bin/sh")));
        assert!(program("sh -c true").is_some());
    }

    #[test]
    fn system_programs_are_secure() {
        assert_eq!(insecure(Path::new("/bin/sh")), None);
    }
}
