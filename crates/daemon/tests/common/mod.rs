//! Network-namespace lab for multi-host tests: hosts on one bridge, daemons run in
//! them, an observer that captures the wire with tcpdump. Everything is torn down
//! on drop, also when a test fails. Waits are on events (log lines, captured
//! packets), each bounded by a deadline so that a broken build fails instead of
//! hanging.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keepalived_testkit::cmd::{run, spawn_lines};
pub use keepalived_testkit::netns::can_run;

/// Upper bound for any single wait: far above every protocol interval the tests
/// use, so it only fires when something is broken.
pub const BOUND: Duration = Duration::from_secs(30);

static SEQ: AtomicU32 = AtomicU32::new(0);

/// Hosts on a bridge. Host `i` has eth0 with 10.9.0.(i+1)/24 and
/// fd00:9::(i+1)/64, and a link-local address usable at once (no DAD).
pub struct Net {
    pub prefix: String,
    pub hosts: Vec<String>,
    sw: String,
    pub dir: PathBuf,
    procs: Mutex<Vec<Arc<Mutex<Child>>>>,
}

impl Net {
    pub fn new(names: &[&str]) -> Net {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("krs{}x{n}", std::process::id());
        let dir = std::env::temp_dir().join(&prefix);
        std::fs::create_dir_all(&dir).unwrap();
        let sw = format!("{prefix}-sw");
        let mut net = Net {
            prefix: prefix.clone(),
            hosts: Vec::new(),
            sw: sw.clone(),
            dir,
            procs: Mutex::new(Vec::new()),
        };
        run(&["ip", "netns", "add", &sw]);
        run(&["ip", "-n", &sw, "link", "add", "br0", "type", "bridge"]);
        run(&["ip", "-n", &sw, "link", "set", "br0", "up"]);
        for (i, h) in names.iter().enumerate() {
            let ns = format!("{prefix}-{h}");
            run(&["ip", "netns", "add", &ns]);
            net.hosts.push(ns.clone());
            let outer = format!("v{n}x{i}");
            run(&[
                "ip", "link", "add", &outer, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ]);
            run(&["ip", "link", "set", &outer, "netns", &sw]);
            run(&[
                "ip", "-n", &sw, "link", "set", &outer, "master", "br0", "up",
            ]);
            for k in ["all", "default", "eth0"] {
                run(&[
                    "ip",
                    "netns",
                    "exec",
                    &ns,
                    "sysctl",
                    "-qw",
                    &format!("net.ipv6.conf.{k}.accept_dad=0"),
                ]);
            }
            run(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
            run(&[
                "ip",
                "-n",
                &ns,
                "addr",
                "add",
                &format!("10.9.0.{}/24", i + 1),
                "dev",
                "eth0",
            ]);
            run(&[
                "ip",
                "-n",
                &ns,
                "addr",
                "add",
                &format!("fd00:9::{}/64", i + 1),
                "dev",
                "eth0",
                "nodad",
            ]);
            run(&["ip", "-n", &ns, "link", "set", "eth0", "up"]);
        }
        net
    }

    /// Hosts on several bridges: each host lists (bridge, "ADDR/PREFIX") links,
    /// which become eth0, eth1, … in order. No default routes are set.
    pub fn build(bridges: usize, hosts: &[(&str, &[(usize, &str)])]) -> Net {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("krs{}x{n}", std::process::id());
        let dir = std::env::temp_dir().join(&prefix);
        std::fs::create_dir_all(&dir).unwrap();
        let sw = format!("{prefix}-sw");
        let mut net = Net {
            prefix: prefix.clone(),
            hosts: Vec::new(),
            sw: sw.clone(),
            dir,
            procs: Mutex::new(Vec::new()),
        };
        run(&["ip", "netns", "add", &sw]);
        for b in 0..bridges {
            let br = format!("br{b}");
            run(&["ip", "-n", &sw, "link", "add", &br, "type", "bridge"]);
            run(&["ip", "-n", &sw, "link", "set", &br, "up"]);
        }
        for (i, (h, links)) in hosts.iter().enumerate() {
            let ns = format!("{prefix}-{h}");
            run(&["ip", "netns", "add", &ns]);
            net.hosts.push(ns.clone());
            run(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
            for (k, (bridge, addr)) in links.iter().enumerate() {
                let dev = format!("eth{k}");
                let outer = format!("v{n}x{i}x{k}");
                run(&[
                    "ip", "link", "add", &outer, "type", "veth", "peer", "name", &dev, "netns", &ns,
                ]);
                run(&["ip", "link", "set", &outer, "netns", &sw]);
                run(&[
                    "ip",
                    "-n",
                    &sw,
                    "link",
                    "set",
                    &outer,
                    "master",
                    &format!("br{bridge}"),
                    "up",
                ]);
                run(&["ip", "-n", &ns, "addr", "add", addr, "dev", &dev]);
                run(&["ip", "-n", &ns, "link", "set", &dev, "up"]);
            }
        }
        net
    }

    /// Runs a command in a host, asserting success.
    pub fn must(&self, host: usize, args: &[&str]) {
        let mut all = vec!["ip", "netns", "exec", self.ns(host)];
        all.extend_from_slice(args);
        run(&all);
    }

    /// Namespace name of a host.
    pub fn ns(&self, host: usize) -> &str {
        &self.hosts[host]
    }

    /// Runs a command in a host and returns its stdout.
    pub fn exec(&self, host: usize, args: &[&str]) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", self.ns(host)])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Addresses on a host's interface (`ip -o addr show dev`).
    pub fn addrs(&self, host: usize, dev: &str) -> String {
        self.exec(host, &["ip", "-o", "addr", "show", "dev", dev])
    }

    /// MAC address of a host's eth0.
    pub fn mac(&self, host: usize) -> String {
        let out = self.exec(host, &["cat", "/sys/class/net/eth0/address"]);
        out.trim().to_string()
    }

    /// Writes a file in the lab's directory.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Starts a long-running program in a host; its stdout and stderr lines
    /// become events.
    pub fn spawn(&self, host: usize, program: &str, args: &[&str]) -> Proc {
        let (tx, rx) = channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", self.ns(host), program])
            .args(args);
        let child = spawn_lines(&mut cmd, {
            let log = log.clone();
            move |line| {
                log.lock().unwrap().push(line.clone());
                tx.send((Instant::now(), line)).is_ok()
            }
        });
        let child = Arc::new(Mutex::new(child));
        self.procs.lock().unwrap().push(child.clone());
        Proc {
            name: format!("{program}@{}", self.ns(host)),
            child,
            rx,
            log,
        }
    }

    /// Starts keepalived-rs on a config text.
    pub fn daemon(&self, host: usize, name: &str, config: &str) -> Proc {
        let conf = self.file(&format!("{name}.conf"), config);
        let pid = self.dir.join(format!("{name}.pid"));
        let sock = self.dir.join(format!("{name}.sock"));
        self.spawn(
            host,
            env!("CARGO_BIN_EXE_keepalived-rs"),
            &[
                "-n",
                "-l",
                "-D",
                "-f",
                conf.to_str().unwrap(),
                "-p",
                pid.to_str().unwrap(),
                "--control-socket",
                sock.to_str().unwrap(),
            ],
        )
    }

    /// Starts Debian's keepalived (VRRP only) on a config text.
    pub fn keepalived(&self, host: usize, name: &str, config: &str) -> Proc {
        let conf = self.file(&format!("{name}.conf"), config);
        let d = &self.dir;
        let p = |s: &str| d.join(format!("{name}.{s}")).to_str().unwrap().to_string();
        self.spawn(
            host,
            "/usr/sbin/keepalived",
            &[
                "-n",
                "-l",
                "-D",
                "-P",
                "-f",
                conf.to_str().unwrap(),
                "-p",
                &p("pid"),
                "-r",
                &p("vrrp.pid"),
                "-c",
                &p("check.pid"),
            ],
        )
    }

    /// tcpdump on a host's eth0: VRRP, ARP and neighbour advertisements.
    pub fn observe(&self, host: usize) -> Proc {
        let mut p = self.spawn(
            host,
            "tcpdump",
            &[
                "-l",
                "-n",
                "-e",
                "-i",
                "eth0",
                "arp or ip proto 112 or ip6 proto 112 or (icmp6 and ip6[40] == 136)",
            ],
        );
        p.expect(|l| l.contains("listening on"), "tcpdump to start");
        p
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for c in self.procs.lock().unwrap().iter() {
            let mut c = c.lock().unwrap();
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in self.hosts.iter().chain(std::iter::once(&self.sw)) {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A process in the lab, with its output as a stream of events.
pub struct Proc {
    pub name: String,
    child: Arc<Mutex<Child>>,
    rx: Receiver<(Instant, String)>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    /// Waits for the next line matching `pred`; panics with the log after BOUND.
    pub fn expect(&mut self, pred: impl Fn(&str) -> bool, what: &str) -> String {
        self.try_expect(pred, BOUND)
            .unwrap_or_else(|| panic!("{}: no {what}\n--- log ---\n{}", self.name, self.dump()))
    }

    /// Waits for lines containing each of `needles`, in any order.
    pub fn expect_all(&mut self, needles: &[&str]) {
        let mut left: Vec<&str> = needles.to_vec();
        while !left.is_empty() {
            let line = self.expect(|l| left.iter().any(|n| l.contains(n)), &left.join(" | "));
            left.retain(|n| !line.contains(n));
        }
    }

    /// Waits up to `limit` for a line matching `pred`.
    pub fn try_expect(&mut self, pred: impl Fn(&str) -> bool, limit: Duration) -> Option<String> {
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok((_, l)) if pred(&l) => return Some(l),
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                    return None
                }
            }
        }
    }

    /// Lines seen so far.
    pub fn dump(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// How many lines were seen so far (for [`Proc::count_since`]).
    pub fn mark(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    /// Lines seen after `mark` that match.
    pub fn count_since(&self, mark: usize, pred: impl Fn(&str) -> bool) -> usize {
        self.log.lock().unwrap()[mark..]
            .iter()
            .filter(|l| pred(l))
            .count()
    }

    /// Lines seen so far that match.
    pub fn count(&self, pred: impl Fn(&str) -> bool) -> usize {
        self.log.lock().unwrap().iter().filter(|l| pred(l)).count()
    }

    pub fn pid(&self) -> i32 {
        self.child.lock().unwrap().id() as i32
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), sig);
    }

    /// Kills with SIGKILL and reaps.
    pub fn kill9(&self) {
        let mut c = self.child.lock().unwrap();
        let _ = c.kill();
        let _ = c.wait();
    }

    /// Waits for the process to exit (bounded) and returns whether it exited 0.
    pub fn wait_exit(&self) -> bool {
        let end = Instant::now() + BOUND;
        loop {
            if let Some(st) = self.child.lock().unwrap().try_wait().unwrap() {
                return st.success();
            }
            assert!(Instant::now() < end, "{} did not exit", self.name);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Drains and returns the lines that are already there.
    pub fn drain(&mut self) -> Vec<String> {
        self.rx.try_iter().map(|(_, l)| l).collect()
    }
}

/// Whether a tcpdump line is a gratuitous ARP for `ip` ("who-has X tell X").
pub fn is_garp(line: &str, ip: &str) -> bool {
    line.contains(&format!("who-has {ip} tell {ip}"))
        || line.contains(&format!("who-has {ip} (ff:ff:ff:ff:ff:ff) tell {ip}"))
}

/// Whether a tcpdump line is an unsolicited neighbour advertisement for `ip`.
pub fn is_na(line: &str, ip: &str) -> bool {
    line.contains("neighbor advertisement") && line.contains(&format!("tgt is {ip}"))
}

/// Whether a tcpdump line is an advert from `src` with priority `prio`.
pub fn is_advert(line: &str, src: &str, prio: u8) -> bool {
    line.contains(&format!("{src} > ")) && line.contains(&format!("prio {prio},"))
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

// Helpers for the fault tests (faults_netns.rs): the switch namespace and its
// bridge ports, where a test puts its firewall rules between the hosts.
impl Net {
    /// Runs a command in the switch namespace (the bridges), asserting success.
    pub fn sw_must(&self, args: &[&str]) {
        let mut all = vec!["ip", "netns", "exec", self.sw.as_str()];
        all.extend_from_slice(args);
        run(&all);
    }

    /// Runs a command in the switch namespace and returns its stdout.
    pub fn sw_exec(&self, args: &[&str]) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.sw])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Name of a host's bridge port in the switch namespace (hosts made by
    /// [`Net::new`]), for `iifname` / `oifname` matches.
    pub fn port(&self, host: usize) -> String {
        let n = self.prefix.rsplit('x').next().unwrap();
        format!("v{n}x{host}")
    }
}

// ---------------------------------------------------------------------------
// An HTTP client inside a test namespace (lab-web answers with its name).

/// What became of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Answered by this web server.
    Ok(String),
    /// Reset (or closed) by the peer.
    Reset(String),
    /// No answer within the socket's timeout.
    Timeout(String),
}

impl Outcome {
    pub fn ok(&self) -> bool {
        matches!(self, Outcome::Ok(_))
    }
}

pub fn classify(e: &std::io::Error) -> Outcome {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => Outcome::Timeout(e.to_string()),
        _ => Outcome::Reset(e.to_string()),
    }
}

/// Sends one GET on `s` and reads one response (headers, then Content-Length
/// bytes of body): the body's first line names the server.
pub fn exchange(s: &mut std::net::TcpStream, keep_alive: bool) -> Outcome {
    use std::io::Write;
    let req: &[u8] = if keep_alive {
        b"GET / HTTP/1.1\r\nHost: lab\r\n\r\n"
    } else {
        b"GET / HTTP/1.0\r\nHost: lab\r\n\r\n"
    };
    if let Err(e) = s.write_all(req) {
        return classify(&e);
    }
    read_answer(s)
}

/// Reads one response (headers, then Content-Length bytes of body).
pub fn read_answer(s: &mut std::net::TcpStream) -> Outcome {
    use std::io::{ErrorKind, Read};
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]);
                return Outcome::Ok(body.lines().next().unwrap_or("").to_string());
            }
        }
        match s.read(&mut chunk) {
            Ok(0) => return Outcome::Reset("closed by the peer".into()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return classify(&e),
        }
    }
}

/// The load-balancing lab: a client on the front segment (`client_addr`), one
/// director routing between it (10.10.0.1) and the back segment (10.20.0.1),
/// three web hosts 10.20.0.11-13 routed back through the director. Nodes: 0
/// client, 1 director, 2-4 the web hosts. None when a tool in `tools` is missing.
pub fn one_director_lab(client_addr: &str, tools: &[&str]) -> Option<Net> {
    if !can_run(tools) {
        return None;
    }
    let net = Net::build(
        2,
        &[
            ("client", &[(0, client_addr)]),
            ("dir", &[(0, "10.10.0.1/24"), (1, "10.20.0.1/24")]),
            ("web1", &[(1, "10.20.0.11/24")]),
            ("web2", &[(1, "10.20.0.12/24")]),
            ("web3", &[(1, "10.20.0.13/24")]),
        ],
    );
    net.must(1, &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    net.must(0, &["ip", "route", "add", "default", "via", "10.10.0.1"]);
    for w in 2..=4 {
        net.must(w, &["ip", "route", "add", "default", "via", "10.20.0.1"]);
    }
    Some(net)
}

/// `keepalived-rs lab-web web<n>` on port 80 of `node`, once it listens.
pub fn lab_web(net: &Net, node: usize, n: usize) -> Proc {
    let mut p = net.spawn(
        node,
        env!("CARGO_BIN_EXE_keepalived-rs"),
        &["lab-web", &format!("web{n}"), "0.0.0.0:80"],
    );
    p.expect(|l| l.contains("listening"), "web server to listen");
    p
}
