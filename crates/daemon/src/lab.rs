//! `keepalived-rs lab`: the seed's set-up on one machine, in network namespaces,
//! narrated. A client, two directors running keepalived-rs (VRRP with three VIPs
//! and PASS authentication, a virtual server on port 80 with rr over NAT and
//! HTTP_GET checks, mail alerts), three web servers that answer with their own
//! name, and a mail server that receives the alerts. Then: election, traffic,
//! a web server stopped and restarted, the MASTER killed and restarted.
//! Everything is removed at the end, also after a failure or Ctrl-C.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const FRONT: &str = "10.100.0";
const BACK: &str = "10.200.0";
const VIPS: [&str; 3] = ["10.100.0.100", "10.100.0.101", "10.100.0.102"];
const GATEWAY: &str = "10.200.0.254";
const MAIL: &str = "10.100.0.25";
/// Bound on every wait of the lab; far above the protocol's intervals.
const WAIT: Duration = Duration::from_secs(40);

/// Set by SIGINT / SIGTERM: every wait of the lab ends, and the lab tears down.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_signal(_: nix::libc::c_int) {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

fn catch_interrupts() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let act = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe;
        // children get the default disposition back at exec.
        let _ = unsafe { sigaction(sig, &act) };
    }
}

fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)
}

/// A line from one of the lab's processes.
struct Line {
    from: String,
    text: String,
}

struct Lab {
    prefix: String,
    dir: PathBuf,
    bin: PathBuf,
    namespaces: Arc<Mutex<Vec<String>>>,
    procs: Arc<Mutex<Vec<(String, Child)>>>,
    tx: Sender<Line>,
    rx: Receiver<Line>,
    /// Every line received so far, and how far each source has been read.
    history: std::cell::RefCell<(Vec<Line>, std::collections::HashMap<String, usize>)>,
    totals: std::cell::RefCell<Totals>,
    t0: Instant,
}

/// What the summary table shows.
#[derive(Default)]
struct Totals {
    ok: usize,
    failed: usize,
    failover_ms: Option<u128>,
    failover_failed: usize,
    mails: usize,
}

fn sh(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args[0]))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Lab {
    fn new() -> Result<Lab, String> {
        let prefix = format!("lab{}", std::process::id());
        let dir = std::env::temp_dir().join(format!("keepalived-rs-{prefix}"));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let (tx, rx) = channel();
        Ok(Lab {
            prefix,
            dir,
            bin: std::env::current_exe().map_err(|e| e.to_string())?,
            namespaces: Arc::new(Mutex::new(Vec::new())),
            procs: Arc::new(Mutex::new(Vec::new())),
            tx,
            rx,
            history: Default::default(),
            totals: Default::default(),
            t0: Instant::now(),
        })
    }

    fn ns(&self, host: &str) -> String {
        format!("{}-{host}", self.prefix)
    }

    fn say(&self, text: &str) {
        println!("[{:6.2}s] {text}", self.t0.elapsed().as_secs_f64());
    }

    /// Two bridges: "front" (client, directors, mail) and "back" (directors, web).
    fn build(&mut self) -> Result<(), String> {
        let sw = self.ns("sw");
        sh(&["ip", "netns", "add", &sw])?;
        self.namespaces
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(sw.clone());
        for br in ["front", "back"] {
            sh(&["ip", "-n", &sw, "link", "add", br, "type", "bridge"])?;
            sh(&["ip", "-n", &sw, "link", "set", br, "up"])?;
        }
        let hosts: [(&str, &[(&str, String)]); 7] = [
            ("client", &[("front", format!("{FRONT}.2/24"))]),
            ("mail", &[("front", format!("{MAIL}/24"))]),
            (
                "lb1",
                &[
                    ("front", format!("{FRONT}.11/24")),
                    ("back", format!("{BACK}.1/24")),
                ],
            ),
            (
                "lb2",
                &[
                    ("front", format!("{FRONT}.12/24")),
                    ("back", format!("{BACK}.2/24")),
                ],
            ),
            ("web1", &[("back", format!("{BACK}.11/24"))]),
            ("web2", &[("back", format!("{BACK}.12/24"))]),
            ("web3", &[("back", format!("{BACK}.13/24"))]),
        ];
        for (i, (host, links)) in hosts.iter().enumerate() {
            let ns = self.ns(host);
            sh(&["ip", "netns", "add", &ns])?;
            self.namespaces
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(ns.clone());
            sh(&["ip", "-n", &ns, "link", "set", "lo", "up"])?;
            for (k, (br, addr)) in links.iter().enumerate() {
                let dev = format!("eth{k}");
                let outer = format!("{}-{i}{k}", self.prefix);
                sh(&[
                    "ip", "link", "add", &outer, "type", "veth", "peer", "name", &dev, "netns", &ns,
                ])?;
                sh(&["ip", "link", "set", &outer, "netns", &sw])?;
                sh(&["ip", "-n", &sw, "link", "set", &outer, "master", br, "up"])?;
                sh(&["ip", "-n", &ns, "addr", "add", addr, "dev", &dev])?;
                sh(&["ip", "-n", &ns, "link", "set", &dev, "up"])?;
            }
        }
        for w in ["web1", "web2", "web3"] {
            sh(&[
                "ip",
                "-n",
                &self.ns(w),
                "route",
                "add",
                "default",
                "via",
                GATEWAY,
            ])?;
        }
        for lb in ["lb1", "lb2"] {
            sh(&[
                "ip",
                "netns",
                "exec",
                &self.ns(lb),
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ])?;
        }
        Ok(())
    }

    /// Starts a program in a host; its output lines become events named `name`.
    fn spawn(&self, name: &str, host: &str, args: &[&str]) -> Result<(), String> {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.ns(host)])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{name}: {e}"))?;
        let log = self.dir.join(format!("{name}.log"));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = self.tx.clone();
            let from = name.to_string();
            let log = log.clone();
            std::thread::spawn(move || {
                let mut file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .ok();
                for text in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(f) = file.as_mut() {
                        let _ = writeln!(f, "{text}");
                    }
                    let _ = tx.send(Line {
                        from: from.clone(),
                        text,
                    });
                }
            });
        }
        self.procs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((name.to_string(), child));
        Ok(())
    }

    fn kill(&self, name: &str, sig: nix::sys::signal::Signal) {
        let procs = self.procs.lock().unwrap_or_else(|e| e.into_inner());
        for (n, c) in procs.iter() {
            if n == name {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), sig);
            }
        }
    }

    /// Waits for the next line from `from` containing `text` (lines of other
    /// sources are kept for their own waits).
    fn expect(&self, from: &str, text: &str) -> Result<String, String> {
        let end = Instant::now() + WAIT;
        let mut h = self.history.borrow_mut();
        loop {
            let (lines, cursors) = &mut *h;
            let start = cursors.get(from).copied().unwrap_or(0);
            if let Some(i) = (start..lines.len())
                .find(|&i| lines[i].from == from && lines[i].text.contains(text))
            {
                cursors.insert(from.to_string(), i + 1);
                return Ok(lines[i].text.clone());
            }
            cursors.insert(from.to_string(), lines.len());
            if interrupted() {
                return Err("interrupted".into());
            }
            let left = end.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left.min(Duration::from_millis(100))) {
                Ok(l) => lines.push(l),
                Err(_) if !left.is_zero() => {}
                Err(_) => {
                    return Err(format!(
                        "waited {WAIT:?} for `{text}` from {from}; logs in {}",
                        self.dir.display()
                    ))
                }
            }
        }
    }

    fn web(&self, n: usize) -> Result<(), String> {
        let name = format!("web{n}");
        let bin = self.bin.display().to_string();
        self.spawn(&name, &name, &[&bin, "lab-web", &name, "0.0.0.0:80"])?;
        self.expect(&name, "listening")?;
        Ok(())
    }

    fn director(&self, n: usize, run: &str) -> Result<(), String> {
        let name = format!("lb{n}");
        let conf = self.dir.join(format!("{name}.conf"));
        std::fs::write(&conf, config(n)).map_err(|e| e.to_string())?;
        let pid = self.dir.join(format!("{name}-{run}.pid"));
        let sock = self.dir.join(format!("{name}.sock"));
        let bin = self.bin.display().to_string();
        self.spawn(
            &name,
            &name,
            &[
                &bin,
                "-n",
                "-l",
                "-f",
                &conf.display().to_string(),
                "-p",
                &pid.display().to_string(),
                "--control-socket",
                &sock.display().to_string(),
            ],
        )
    }

    /// `n` HTTP requests to the first VIP from the client; answers counted by name.
    fn traffic(&self, n: usize) -> Result<Vec<(String, usize)>, String> {
        let ns = PathBuf::from("/run/netns").join(self.ns("client"));
        let handle = std::thread::spawn(move || -> Result<Vec<String>, String> {
            let f = std::fs::File::open(&ns).map_err(|e| e.to_string())?;
            nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| format!("setns: {e}"))?;
            Ok((0..n).map(|_| get(VIPS[0])).collect())
        });
        let answers = handle.join().map_err(|_| "client thread panicked")??;
        let mut counts: Vec<(String, usize)> = Vec::new();
        for a in answers {
            match counts.iter_mut().find(|(k, _)| *k == a) {
                Some((_, c)) => *c += 1,
                None => counts.push((a, 1)),
            }
        }
        counts.sort();
        Ok(counts)
    }

    /// Requests in a loop from the client until the returned flag is set; the
    /// thread returns (ok, failed).
    fn background_traffic(
        &self,
    ) -> (
        Arc<std::sync::atomic::AtomicBool>,
        std::thread::JoinHandle<(usize, usize)>,
    ) {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let ns = PathBuf::from("/run/netns").join(self.ns("client"));
        let h = std::thread::spawn(move || {
            let Ok(f) = std::fs::File::open(&ns) else {
                return (0, 0);
            };
            if nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).is_err() {
                return (0, 0);
            }
            let (mut ok, mut failed) = (0, 0);
            while !flag.load(std::sync::atomic::Ordering::Relaxed) && !interrupted() {
                if get(VIPS[0]) == "failed" {
                    failed += 1;
                } else {
                    ok += 1;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            (ok, failed)
        });
        (stop, h)
    }

    fn show_traffic(&self, n: usize) -> Result<Vec<(String, usize)>, String> {
        let c = self.traffic(n)?;
        {
            let mut t = self.totals.borrow_mut();
            for (k, v) in &c {
                if k == "failed" {
                    t.failed += v;
                } else {
                    t.ok += v;
                }
            }
        }
        let text: Vec<String> = c.iter().map(|(k, v)| format!("{k} {v}")).collect();
        self.say(&format!(
            "client: {n} requests to http://{}/ → {}",
            VIPS[0],
            text.join(", ")
        ));
        Ok(c)
    }

    fn teardown(&mut self) {
        teardown(&self.procs, &self.namespaces);
    }
}

/// Stops every process of the lab and deletes its namespaces (also from the
/// Ctrl-C handler).
fn teardown(procs: &Mutex<Vec<(String, Child)>>, namespaces: &Mutex<Vec<String>>) {
    {
        let mut procs = procs.lock().unwrap_or_else(|e| e.into_inner());
        for (_, c) in procs.iter_mut() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let end = Instant::now() + Duration::from_secs(5);
        for (_, c) in procs.iter_mut() {
            while Instant::now() < end && matches!(c.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        procs.clear();
    }
    let mut ns = namespaces.lock().unwrap_or_else(|e| e.into_inner());
    for n in ns.drain(..).rev() {
        let _ = Command::new("ip").args(["netns", "del", &n]).status();
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// One HTTP/1.0 GET with a short timeout; the body's first line, or "failed".
fn get(ip: &str) -> String {
    let Ok(addr) = format!("{ip}:80").parse() else {
        return "failed".into();
    };
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return "failed".into();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET / HTTP/1.0\r\nHost: lab\r\n\r\n").is_err() {
        return "failed".into();
    }
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    resp.split("\r\n\r\n")
        .nth(1)
        .and_then(|b| b.lines().next())
        .map(str::to_string)
        .unwrap_or_else(|| "failed".into())
}

/// The seed's configuration, for director 1 (MASTER, 100) or 2 (BACKUP, 90).
pub fn config(n: usize) -> String {
    let (state, prio) = if n == 1 {
        ("MASTER", 100)
    } else {
        ("BACKUP", 90)
    };
    let real: String = (1..=3)
        .map(|i| {
            format!(
                r#"    real_server {BACK}.1{i} 80 {{
        weight 1
        HTTP_GET {{
            url {{
                path /
                status_code 200
            }}
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }}
    }}
"#
            )
        })
        .collect();
    format!(
        r#"! keepalived-rs lab: director {n}, the seed's shape.
global_defs {{
    notification_email {{
        admin@lab.example
    }}
    notification_email_from lb{n}@lab.example
    smtp_server {MAIL}
    smtp_connect_timeout 30
    router_id LB{n}
    lvs_backend nftables
}}

vrrp_sync_group LB {{
    group {{
        VI_1
        VI_GW
    }}
}}

vrrp_instance VI_1 {{
    state {state}
    interface eth0
    virtual_router_id 51
    priority {prio}
    advert_int 1
    smtp_alert
    authentication {{
        auth_type PASS
        auth_pass 1111
    }}
    virtual_ipaddress {{
        {}/24
        {}/24
        {}/24
    }}
}}

! The real servers' gateway follows the MASTER (LVS-NAT).
vrrp_instance VI_GW {{
    state {state}
    interface eth1
    virtual_router_id 52
    priority {prio}
    advert_int 1
    authentication {{
        auth_type PASS
        auth_pass 1111
    }}
    virtual_ipaddress {{
        {GATEWAY}/24
    }}
}}

virtual_server {} 80 {{
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    smtp_alert

{real}}}
"#,
        VIPS[0], VIPS[1], VIPS[2], VIPS[0]
    )
}

/// Runs the lab; returns non-zero when a step did not happen as it should.
/// With `keep`, everything stays up at the end, and the commands to explore it
/// are printed.
pub fn run(keep: bool) -> ExitCode {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("keepalived-rs lab: needs root (it creates network namespaces)");
        return ExitCode::from(1);
    }
    for tool in ["ip", "nft"] {
        if which(tool).is_none() {
            eprintln!("keepalived-rs lab: `{tool}` is missing (apt-get install iproute2 nftables)");
            return ExitCode::from(1);
        }
    }
    catch_interrupts();
    let mut lab = match Lab::new() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("keepalived-rs lab: {e}");
            return ExitCode::from(1);
        }
    };
    let dir = lab.dir.clone();
    let r = script(&mut lab);
    if keep && r.is_ok() {
        let p = &lab.prefix;
        let bin = lab.bin.display();
        println!("\nThe lab stays up (--keep). Explore it:");
        println!("  ip netns exec {p}-client curl -s http://{}/", VIPS[0]);
        println!(
            "  ip netns exec {p}-lb1 {bin} status --socket {}/lb1.sock",
            dir.display()
        );
        println!("  ip netns exec {p}-lb1 nft list table inet keepalived_rs_lb");
        println!("  ip -n {p}-lb1 addr show eth0");
        println!("  logs and configs: {}", dir.display());
        println!("Tear it down:");
        println!(
            "  pkill -f {dir}/; for n in $(ip netns list | grep -o '^{p}-[a-z0-9]*'); do ip netns del $n; done",
            dir = dir.display()
        );
        // Leave the processes and namespaces to the user.
        lab.procs.lock().unwrap_or_else(|e| e.into_inner()).clear();
        lab.namespaces
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        return ExitCode::SUCCESS;
    }
    lab.teardown();
    match r {
        Ok(()) => {
            println!("\nlab finished: every step happened as expected; everything was removed.");
            let _ = std::fs::remove_dir_all(&dir);
            ExitCode::SUCCESS
        }
        Err(e) if interrupted() => {
            eprintln!("\nlab interrupted ({e}); everything was removed.");
            let _ = std::fs::remove_dir_all(&dir);
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("\nlab failed: {e}");
            eprintln!("logs and configs kept in {}", dir.display());
            ExitCode::from(1)
        }
    }
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d: PathBuf| d.join(tool))
        .find(|p| Path::new(p).exists())
}

fn script(lab: &mut Lab) -> Result<(), String> {
    lab.say("building the lab: client, mail server, directors lb1 and lb2, web1..3");
    lab.build()?;
    let bin = lab.bin.display().to_string();
    lab.spawn("mail", "mail", &[&bin, "lab-smtp", &format!("{MAIL}:25")])?;
    lab.expect("mail", "listening")?;
    for n in 1..=3 {
        lab.web(n)?;
    }
    lab.say(&format!(
        "starting keepalived-rs on lb1 (priority 100) and lb2 (priority 90); configs in {}",
        lab.dir.display()
    ));
    lab.director(1, "a")?;
    lab.director(2, "a")?;
    lab.expect("lb1", "(VI_1) Entering MASTER STATE")?;
    lab.say("lb1 is MASTER for VI_1 (after master-down: 3 × 1 s + skew), lb2 is BACKUP");
    let m = lab.expect("mail", "[LB1] VRRP Instance VI_1 - Entering MASTER state")?;
    lab.mail(&m);
    // The checkers find every server up; the pool is complete.
    let c = lab.show_traffic(30)?;
    if c.len() != 3 || c.iter().any(|(k, _)| k == "failed") {
        return Err(format!("expected web1..3 to share the traffic, got {c:?}"));
    }

    lab.say("stopping web2");
    lab.kill("web2", nix::sys::signal::Signal::SIGKILL);
    let l = lab.expect("lb1", "Removing service [10.200.0.12]:tcp:80")?;
    lab.say(&format!("lb1: {}", tail(&l)));
    let m = lab.expect("mail", "[LB1] Realserver [10.200.0.12]:tcp:80")?;
    lab.mail(&m);
    let c = lab.show_traffic(30)?;
    if c.iter().any(|(k, _)| k == "web2" || k == "failed") {
        return Err(format!("web2 should be out of the pool, got {c:?}"));
    }

    lab.say("restarting web2");
    lab.web(2)?;
    let l = lab.expect("lb1", "Adding service [10.200.0.12]:tcp:80")?;
    lab.say(&format!("lb1: {}", tail(&l)));
    lab.show_traffic(30)?;

    lab.say("lb1, the MASTER, dies (kill -9 and its links go down, as in a power cut) while the client sends a request every 20 ms");
    let (stop, load) = lab.background_traffic();
    std::thread::sleep(Duration::from_millis(300));
    lab.kill("lb1", nix::sys::signal::Signal::SIGKILL);
    for dev in ["eth0", "eth1"] {
        sh(&["ip", "-n", &lab.ns("lb1"), "link", "set", dev, "down"])?;
    }
    let started = Instant::now();
    lab.expect("lb2", "(VI_1) Entering MASTER STATE")?;
    let ms = started.elapsed().as_millis();
    lab.say(&format!(
        "lb2 is MASTER {ms} ms later (the master-down interval: 3 × 1 s + skew 0.65 s, from the last advert), and sends gratuitous ARPs"
    ));
    let m = lab.expect("mail", "[LB2] VRRP Instance VI_1 - Entering MASTER state")?;
    lab.mail(&m);
    // Let the client see the new MASTER, then stop the load.
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (ok, failed) = load.join().map_err(|_| "client thread panicked")?;
    lab.say(&format!(
        "client during the failover: {ok} requests answered, {failed} failed (nobody owned the VIP until lb2 took it)"
    ));
    {
        let mut t = lab.totals.borrow_mut();
        t.failover_ms = Some(ms);
        t.failover_failed = failed;
        t.ok += ok;
        t.failed += failed;
    }
    let c = lab.show_traffic(30)?;
    if c.iter().any(|(k, _)| k == "failed") {
        return Err(format!("traffic through lb2 failed: {c:?}"));
    }

    lab.say("lb1 comes back: links up, keepalived-rs removes the VIPs the crash left, adopts its load-balancer table, then preempts (priority 100 > 90)");
    for dev in ["eth0", "eth1"] {
        sh(&["ip", "-n", &lab.ns("lb1"), "link", "set", dev, "up"])?;
    }
    lab.director(1, "b")?;
    lab.expect("lb1", "(VI_1) Entering MASTER STATE")?;
    lab.expect("lb2", "(VI_1) Entering BACKUP STATE")?;
    lab.say("lb1 is MASTER again, lb2 BACKUP");
    lab.show_traffic(30)?;

    lab.say("reloading lb1 with a broken configuration (a typo: `lb_algo rrr`)");
    let conf = lab.dir.join("lb1.conf");
    let good = std::fs::read_to_string(&conf).map_err(|e| e.to_string())?;
    std::fs::write(&conf, good.replace("lb_algo rr", "lb_algo rrr")).map_err(|e| e.to_string())?;
    lab.kill("lb1", nix::sys::signal::Signal::SIGHUP);
    let l = lab.expect("lb1", "reload refused")?;
    lab.say(&format!("lb1: {}", tail(&l)));
    let c = lab.show_traffic(30)?;
    if c.iter().any(|(k, _)| k == "failed") || c.len() != 3 {
        return Err(format!(
            "the running configuration should be untouched, got {c:?}"
        ));
    }
    std::fs::write(&conf, good).map_err(|e| e.to_string())?;

    let t = lab.totals.borrow();
    println!();
    println!("  requests answered      {:>6}", t.ok);
    println!(
        "  requests failed        {:>6}   ({} during the failover)",
        t.failed, t.failover_failed
    );
    println!(
        "  failover (kill -9)     {:>6} ms",
        t.failover_ms
            .map(|m| m.to_string())
            .unwrap_or_else(|| "-".into())
    );
    println!(
        "  mails received         {:>6}",
        lab.mails_received().max(t.mails)
    );
    Ok(())
}

impl Lab {
    /// Every message the mail server printed so far.
    fn mails_received(&self) -> usize {
        let mut h = self.history.borrow_mut();
        while let Ok(l) = self.rx.try_recv() {
            h.0.push(l);
        }
        h.0.iter()
            .filter(|l| l.from == "mail" && l.text.starts_with("mail from"))
            .count()
    }

    fn mail(&self, line: &str) {
        self.totals.borrow_mut().mails += 1;
        self.say(&format!("mail received: {}", line.trim()));
    }
}

/// A log line without its time stamp and level.
fn tail(line: &str) -> &str {
    let rest = line.split_once(' ').map_or(line, |(_, r)| r).trim_start();
    ["INFO ", "WARN ", "ERROR ", "DEBUG "]
        .iter()
        .find_map(|l| rest.strip_prefix(l))
        .unwrap_or(rest)
        .trim()
}
