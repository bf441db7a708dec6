//! MISC_CHECK: runs a program; exit status 0 means up.
//!
//! keepalived.conf(5): `misc_timeout` bounds the run (default here, as keepalived: the
//! checker's delay_loop); the program (and its process group) is killed when it overruns.
//! With `misc_dynamic`, status 0 is up with the weight unchanged, 1 is down, and 2..=255
//! is up with the real server weight set to status − 2.

use crate::{BoxFuture, BuildContext, Check, Outcome, Target};
use keepalived_config::model::{Checker, RealServer, VirtualServer};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::{Group, Pid, User};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::Command;

/// MISC_CHECK.
#[derive(Debug, Clone)]
pub struct MiscCheck {
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// `misc_timeout`.
    pub timeout: Duration,
    /// `misc_dynamic`.
    pub dynamic: bool,
    /// uid and gid to run as (None: as ourselves).
    pub user: Option<(u32, u32)>,
}

/// The only environment a script gets: a fixed PATH. The daemon's own
/// environment (whatever started it) is not passed on.
pub const SCRIPT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Gives a script a clean environment. Descriptors need nothing: everything
/// the daemon opens is close-on-exec, and stdin is /dev/null.
pub fn clean_env(cmd: &mut Command) -> &mut Command {
    cmd.env_clear().env("PATH", SCRIPT_PATH)
}

/// Resolves `user USER [[:]GROUP]` words (also `USER:GROUP`) to a uid and gid; without a
/// group, the user's primary group.
pub fn resolve_user(words: &[String]) -> Result<(u32, u32), String> {
    let joined = words.join(" ");
    let (user, group) = match joined.split_once(':') {
        Some((u, g)) => (u.trim().to_string(), Some(g.trim().to_string())),
        None => (
            words.first().cloned().unwrap_or_default(),
            words.get(1).cloned(),
        ),
    };
    let u = User::from_name(&user)
        .map_err(|e| format!("user {user}: {e}"))?
        .ok_or_else(|| format!("unknown user {user}"))?;
    let gid = match group.filter(|g| !g.is_empty()) {
        Some(g) => {
            Group::from_name(&g)
                .map_err(|e| format!("group {g}: {e}"))?
                .ok_or_else(|| format!("unknown group {g}"))?
                .gid
        }
        None => u.gid,
    };
    Ok((u.uid.as_raw(), gid.as_raw()))
}

impl MiscCheck {
    /// From a MISC_CHECK block; the user is the checker's `user`, else global script_user.
    pub fn from_model(
        c: &Checker,
        rs: &RealServer,
        vs: &VirtualServer,
        ctx: &BuildContext,
    ) -> Result<MiscCheck, String> {
        let path = c
            .misc_path
            .as_deref()
            .ok_or("MISC_CHECK without misc_path")?;
        let argv = shell_words::split(path).map_err(|e| format!("misc_path: {e}"))?;
        if argv.is_empty() {
            return Err("empty misc_path".into());
        }
        let timeout = c
            .misc_timeout
            .map(crate::secs)
            .unwrap_or(crate::schedule(c, rs, vs).delay_loop);
        let user = match &c.user {
            Some(w) => Some(resolve_user(w)?),
            None => ctx.script_user,
        };
        Ok(MiscCheck {
            argv,
            timeout,
            dynamic: c.misc_dynamic,
            user,
        })
    }

    /// The outcome of an exit status.
    pub fn judge(&self, code: i32, latency: Duration) -> Outcome {
        let mut o = if code == 0 {
            Outcome::up("exit 0", latency)
        } else if self.dynamic && (2..=255).contains(&code) {
            Outcome::up(format!("exit {code}"), latency)
        } else {
            Outcome::down(format!("exit {code}"), latency)
        };
        if self.dynamic && (2..=255).contains(&code) {
            o.weight = Some(code - 2);
        }
        o
    }

    async fn exec(&self) -> Result<i32, String> {
        let mut cmd = Command::new(&self.argv[0]);
        clean_env(&mut cmd)
            .args(&self.argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true);
        if let Some((uid, gid)) = self.user {
            if uid != nix::unistd::geteuid().as_raw() || gid != nix::unistd::getegid().as_raw() {
                cmd.uid(uid).gid(gid);
            }
        }
        let mut child = cmd.spawn().map_err(|e| format!("{}: {e}", self.argv[0]))?;
        let pid = child.id();
        match tokio::time::timeout(self.timeout, child.wait()).await {
            Ok(Ok(st)) => {
                use std::os::unix::process::ExitStatusExt;
                match (st.code(), st.signal()) {
                    (Some(c), _) => Ok(c),
                    (None, Some(s)) => Err(format!("killed by signal {s}")),
                    _ => Err("no exit status".into()),
                }
            }
            Ok(Err(e)) => Err(format!("wait: {e}")),
            Err(_) => {
                if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
                    let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                }
                let _ = child.kill().await;
                Err(format!("timed out after {:?}", self.timeout))
            }
        }
    }
}

impl Check for MiscCheck {
    fn kind(&self) -> &'static str {
        "MISC_CHECK"
    }

    fn run<'a>(&'a self, _t: &'a Target) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let start = Instant::now();
            match self.exec().await {
                Ok(code) => self.judge(code, start.elapsed()),
                Err(e) => Outcome::down(e, start.elapsed()),
            }
        })
    }

    fn max_duration(&self, _t: &Target) -> Duration {
        self.timeout
    }
}
