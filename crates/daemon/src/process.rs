//! vrrp_track_process: counting the processes that match, as keepalived does
//! (an exact name match like `pgrep "^name$"`, or of the full command with
//! `full_command`; parameters exact, `partial` or `initial`).

use keepalived_config::model::TrackProcess;

/// What to look for, prepared from a vrrp_track_process block.
#[derive(Debug, Clone)]
pub struct Matcher {
    name: String,
    params: Vec<String>,
    /// Compare parameters at all (given, or `param_match` set).
    check_params: bool,
    param_match: ParamMatch,
    full_command: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ParamMatch {
    Exact,
    Partial,
    Initial,
}

impl Matcher {
    pub fn new(t: &TrackProcess) -> Option<Matcher> {
        let (name, params) = t.process.split_first()?;
        Some(Matcher {
            name: name.clone(),
            params: params.to_vec(),
            check_params: !params.is_empty() || t.param_match.is_some(),
            param_match: match t.param_match.as_deref() {
                Some("partial") => ParamMatch::Partial,
                Some("initial") => ParamMatch::Initial,
                _ => ParamMatch::Exact,
            },
            full_command: t.full_command,
        })
    }

    /// Whether a process with this `comm` and `cmdline` (argv) matches.
    pub fn matches(&self, comm: &str, argv: &[String]) -> bool {
        let name_ok = if self.full_command {
            argv.first().is_some_and(|a| *a == self.name)
        } else {
            // The kernel keeps 15 bytes of a command name.
            let want: String = self.name.chars().take(15).collect();
            comm == want
        };
        if !name_ok {
            return false;
        }
        if !self.check_params {
            return true;
        }
        let have = argv.get(1..).unwrap_or(&[]);
        let want = &self.params;
        match self.param_match {
            ParamMatch::Exact => have == want.as_slice(),
            ParamMatch::Partial => have.len() >= want.len() && have[..want.len()] == want[..],
            ParamMatch::Initial => {
                have.len() == want.len()
                    && match want.split_last() {
                        None => true,
                        Some((last, rest)) => {
                            have[..rest.len()] == rest[..] && have[rest.len()].starts_with(last)
                        }
                    }
            }
        }
    }

    /// How many running processes match (a scan of /proc).
    pub fn count(&self) -> usize {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return 0;
        };
        dir.flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .bytes()
                    .all(|b| b.is_ascii_digit())
            })
            .filter(|e| {
                let p = e.path();
                let comm = std::fs::read_to_string(p.join("comm")).unwrap_or_default();
                let argv: Vec<String> = std::fs::read(p.join("cmdline"))
                    .unwrap_or_default()
                    .split(|b| *b == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                self.matches(comm.trim_end_matches('\n'), &argv)
            })
            .count()
    }
}

/// Whether `count` processes satisfy the quorum (default 1, no maximum).
pub fn quorum_ok(t: &TrackProcess, count: usize) -> bool {
    let min = t.quorum.unwrap_or(1) as usize;
    count >= min && t.quorum_max.is_none_or(|max| count <= max as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(words: &[&str], param_match: Option<&str>, full: bool) -> Matcher {
        let t = TrackProcess {
            process: words.iter().map(|s| s.to_string()).collect(),
            param_match: param_match.map(str::to_string),
            full_command: full,
            ..Default::default()
        };
        Matcher::new(&t).unwrap()
    }

    fn argv(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn names_match_exactly_like_pgrep_anchored() {
        let m = def(&["ssh"], None, false);
        assert!(m.matches("ssh", &argv(&["/usr/bin/ssh", "host"])));
        assert!(!m.matches("sshd", &argv(&["/usr/sbin/sshd"])));
        let long = def(&["averyveryverylongname"], None, false);
        assert!(long.matches("averyveryverylo", &argv(&["x"])));
        let full = def(&["/usr/sbin/nginx"], None, true);
        assert!(full.matches("nginx", &argv(&["/usr/sbin/nginx", "-g"])));
        assert!(!full.matches("nginx", &argv(&["nginx"])));
    }

    #[test]
    fn parameters_exact_partial_initial() {
        let exact = def(&["haproxy", "-f", "/etc/h.cfg"], None, false);
        assert!(exact.matches("haproxy", &argv(&["haproxy", "-f", "/etc/h.cfg"])));
        assert!(!exact.matches("haproxy", &argv(&["haproxy", "-f", "/etc/h.cfg", "-D"])));
        let partial = def(&["haproxy", "-f"], Some("partial"), false);
        assert!(partial.matches("haproxy", &argv(&["haproxy", "-f", "/etc/h.cfg"])));
        let initial = def(&["haproxy", "-f", "/etc/h"], Some("initial"), false);
        assert!(initial.matches("haproxy", &argv(&["haproxy", "-f", "/etc/h.cfg"])));
        assert!(!initial.matches("haproxy", &argv(&["haproxy", "-g", "/etc/h.cfg"])));
        let none = def(&["haproxy"], Some("partial"), false);
        assert!(none.matches("haproxy", &argv(&["haproxy", "-x"])));
        let no_params = def(&["haproxy"], Some("initial"), false);
        assert!(!no_params.matches("haproxy", &argv(&["haproxy", "-x"])));
    }

    #[test]
    fn counts_this_test_process() {
        let me = std::fs::read_to_string("/proc/self/comm").unwrap();
        let m = def(&[me.trim()], None, false);
        assert!(m.count() >= 1);
        let t = TrackProcess {
            quorum: Some(1),
            quorum_max: Some(0),
            ..Default::default()
        };
        assert!(!quorum_ok(&t, 1));
        assert!(quorum_ok(&TrackProcess::default(), 1));
        assert!(!quorum_ok(&TrackProcess::default(), 0));
    }
}
