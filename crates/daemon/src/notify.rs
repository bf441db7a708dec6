//! Notifications of state changes: notify scripts and notify FIFOs, as keepalived
//! runs and writes them. Nothing here ever blocks the protocol loop: scripts are
//! spawned and reaped by their own task, FIFO writes are non-blocking and a full
//! FIFO loses the line (counted) rather than stalling VRRP.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Who a script runs as (`script_user`, or the `username [groupname]` after a
/// notify script).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunAs {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

impl RunAs {
    /// Resolves `user [[:]group]` words; unknown names are an error.
    pub fn resolve(words: &[String]) -> Result<Self, String> {
        use nix::unistd::{Group, User};
        let Some(user) = words.first() else {
            return Ok(Self::default());
        };
        let u = User::from_name(user)
            .ok()
            .flatten()
            .ok_or_else(|| format!("user {user} does not exist"))?;
        let mut gid = u.gid.as_raw();
        let group = words.get(1).map(|g| g.trim_start_matches(':'));
        let group = match group {
            Some("") => words.get(2).map(String::as_str),
            g => g,
        };
        if let Some(g) = group {
            gid = Group::from_name(g)
                .ok()
                .flatten()
                .ok_or_else(|| format!("group {g} does not exist"))?
                .gid
                .as_raw();
        }
        Ok(Self {
            uid: Some(u.uid.as_raw()),
            gid: Some(gid),
        })
    }
}

/// A notify command line: the program and its arguments, split as keepalived
/// splits them (quotes group words, no shell).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub argv: Vec<String>,
    pub run_as: RunAs,
}

impl Script {
    /// A script line of the config (`COMMAND [username [groupname]]`); an unknown
    /// user falls back to `run_as` (script_user), with a warning.
    pub fn from_line(
        line: &Option<keepalived_config::model::ScriptLine>,
        run_as: RunAs,
    ) -> Option<Self> {
        let line = line.as_ref()?;
        let ra = if line.user.is_empty() {
            run_as
        } else {
            RunAs::resolve(&line.user).unwrap_or_else(|e| {
                tracing::warn!("script {}: {e}; using script_user", line.command);
                run_as
            })
        };
        Self::parse(&line.command, ra)
    }

    /// Parses a config value such as `"/path/notify.sh VI_1 arg"`.
    pub fn parse(command: &str, run_as: RunAs) -> Option<Self> {
        let argv = shell_words::split(command).ok()?;
        (!argv.is_empty()).then_some(Self { argv, run_as })
    }
}

/// "INSTANCE" or "GROUP", as the `notify` script and the FIFO name the subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Instance,
    Group,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Instance => "INSTANCE",
            Kind::Group => "GROUP",
        }
    }
}

/// The four words keepalived appends to `notify` and writes to the FIFO:
/// `INSTANCE "VI_1" MASTER 100`.
pub fn fifo_line(kind: Kind, name: &str, state: &str, priority: u8) -> String {
    format!("{} \"{}\" {} {}\n", kind.word(), name, state, priority)
}

/// A notify FIFO opened read-write and non-blocking, so opening never waits for a
/// reader and a writer never waits for a slow one.
#[derive(Debug)]
pub struct Fifo {
    path: PathBuf,
    file: Mutex<File>,
    pub lost: AtomicU64,
}

impl Fifo {
    /// Opens (creating it when missing, mode 0600 as keepalived does) a FIFO.
    pub fn open(path: &Path) -> io::Result<Self> {
        match std::fs::metadata(path) {
            Ok(m) if !m.file_type().is_fifo() => {
                return Err(io::Error::other(format!(
                    "{} exists and is not a FIFO",
                    path.display()
                )))
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))
                    .map_err(io::Error::from)?;
            }
            Err(e) => return Err(e),
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::libc::O_NONBLOCK)
            .open(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            lost: AtomicU64::new(0),
        })
    }

    /// Writes one line; a full pipe loses it, counted in `lost`.
    pub fn write_line(&self, line: &str) {
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = f.write_all(line.as_bytes()) {
            self.lost.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(fifo = %self.path.display(), "notify FIFO write failed: {e}");
        }
    }
}

/// How long a notify script may run before it is killed (keepalived's
/// script_timeout default is 15 s... for vrrp notify scripts it waits; we bound
/// every child so that none lingers forever).
const SCRIPT_LIMIT: Duration = Duration::from_secs(60);

/// Spawns a script with extra arguments, never waiting for it: a task reaps it and
/// logs a failure. Must be called inside a tokio runtime.
pub fn spawn(script: &Script, extra: &[String]) {
    let mut cmd = tokio::process::Command::new(&script.argv[0]);
    keepalived_check::misc::clean_env(&mut cmd)
        .args(&script.argv[1..])
        .args(extra)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    if let Some(gid) = script.run_as.gid {
        cmd.gid(gid);
    }
    if let Some(uid) = script.run_as.uid {
        cmd.uid(uid);
    }
    let shown = script.argv.join(" ");
    match cmd.spawn() {
        Ok(mut child) => {
            tokio::spawn(async move {
                match tokio::time::timeout(SCRIPT_LIMIT, child.wait()).await {
                    Ok(Ok(st)) if st.success() => {}
                    Ok(Ok(st)) => tracing::warn!("notify script `{shown}` exited with {st}"),
                    Ok(Err(e)) => tracing::warn!("notify script `{shown}`: {e}"),
                    Err(_) => tracing::warn!("notify script `{shown}` still running, killed"),
                }
            });
        }
        Err(e) => tracing::warn!("cannot run notify script `{shown}`: {e}"),
    }
}

/// The notify settings of one instance or sync group.
#[derive(Debug, Default, Clone)]
pub struct Scripts {
    pub master: Option<Script>,
    pub backup: Option<Script>,
    pub fault: Option<Script>,
    pub stop: Option<Script>,
    pub any: Option<Script>,
}

impl Scripts {
    /// Runs the state's script, then `notify` with keepalived's four extra words.
    pub fn run(&self, kind: Kind, name: &str, state: &str, priority: u8) {
        let specific = match state {
            "MASTER" => &self.master,
            "BACKUP" => &self.backup,
            "FAULT" => &self.fault,
            "STOP" => &self.stop,
            _ => &None,
        };
        if let Some(s) = specific {
            spawn(s, &[]);
        }
        if let Some(s) = &self.any {
            spawn(
                s,
                &[
                    kind.word().to_string(),
                    name.to_string(),
                    state.to_string(),
                    priority.to_string(),
                ],
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_line_is_keepalived_format() {
        assert_eq!(
            fifo_line(Kind::Instance, "VI_1", "MASTER", 100),
            "INSTANCE \"VI_1\" MASTER 100\n"
        );
        assert_eq!(
            fifo_line(Kind::Group, "G", "BACKUP", 0),
            "GROUP \"G\" BACKUP 0\n"
        );
    }

    #[test]
    fn script_words_split_like_keepalived() {
        let s = Script::parse("/bin/notify.sh 'a b' \"c\" d", RunAs::default()).unwrap();
        assert_eq!(s.argv, ["/bin/notify.sh", "a b", "c", "d"]);
        assert!(Script::parse("  ", RunAs::default()).is_none());
    }

    #[test]
    fn fifo_roundtrip() {
        use std::io::Read;
        let dir = std::env::temp_dir().join(format!("krs-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        let fifo = Fifo::open(&path).unwrap();
        let mut reader = OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NONBLOCK)
            .open(&path)
            .unwrap();
        fifo.write_line(&fifo_line(Kind::Instance, "VI_1", "BACKUP", 90));
        let mut buf = [0u8; 64];
        let n = reader.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"INSTANCE \"VI_1\" BACKUP 90\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
