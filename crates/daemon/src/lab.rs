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

/// A line from one of the lab's processes.
struct Line {
    from: String,
    text: String,
}

struct Lab {
    prefix: String,
    dir: PathBuf,
    bin: PathBuf,
    namespaces: Vec<String>,
    procs: Arc<Mutex<Vec<(String, Child)>>>,
    tx: Sender<Line>,
    rx: Receiver<Line>,
    /// Every line received so far, and how far each source has been read.
    history: std::cell::RefCell<(Vec<Line>, std::collections::HashMap<String, usize>)>,
    t0: Instant,
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
            namespaces: Vec::new(),
            procs: Arc::new(Mutex::new(Vec::new())),
            tx,
            rx,
            history: Default::default(),
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
        self.namespaces.push(sw.clone());
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
            self.namespaces.push(ns.clone());
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
            let left = end.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(l) => lines.push(l),
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

    fn show_traffic(&self, n: usize) -> Result<Vec<(String, usize)>, String> {
        let c = self.traffic(n)?;
        let text: Vec<String> = c.iter().map(|(k, v)| format!("{k} {v}")).collect();
        self.say(&format!(
            "client: {n} requests to http://{}/ → {}",
            VIPS[0],
            text.join(", ")
        ));
        Ok(c)
    }

    fn teardown(&mut self) {
        let mut procs = self.procs.lock().unwrap_or_else(|e| e.into_inner());
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
        for ns in self.namespaces.drain(..).rev() {
            let _ = Command::new("ip").args(["netns", "del", &ns]).status();
        }
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
pub fn run(keep_logs: bool) -> ExitCode {
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
    let mut lab = match Lab::new() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("keepalived-rs lab: {e}");
            return ExitCode::from(1);
        }
    };
    let dir = lab.dir.clone();
    let r = script(&mut lab);
    lab.teardown();
    match r {
        Ok(()) => {
            println!("\nlab finished: every step happened as expected.");
            if keep_logs {
                println!("logs and configs: {}", dir.display());
            } else {
                let _ = std::fs::remove_dir_all(&dir);
            }
            ExitCode::SUCCESS
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
    lab.say(&format!("mail received: {}", m.trim()));
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
    lab.say(&format!("mail received: {}", m.trim()));
    let c = lab.show_traffic(30)?;
    if c.iter().any(|(k, _)| k == "web2" || k == "failed") {
        return Err(format!("web2 should be out of the pool, got {c:?}"));
    }

    lab.say("restarting web2");
    lab.web(2)?;
    let l = lab.expect("lb1", "Adding service [10.200.0.12]:tcp:80")?;
    lab.say(&format!("lb1: {}", tail(&l)));
    lab.show_traffic(30)?;

    lab.say("kill -9 of lb1, the MASTER");
    lab.kill("lb1", nix::sys::signal::Signal::SIGKILL);
    let started = Instant::now();
    lab.expect("lb2", "(VI_1) Entering MASTER STATE")?;
    lab.say(&format!(
        "lb2 is MASTER {:.2} s later (master-down interval), it sends gratuitous ARPs",
        started.elapsed().as_secs_f64()
    ));
    let m = lab.expect("mail", "[LB2] VRRP Instance VI_1 - Entering MASTER state")?;
    lab.say(&format!("mail received: {}", m.trim()));
    // lb1's crash left its VIPs and nftables table behind, as a crash does: in
    // the lab, lb1 "reboots" (its namespace keeps them), and keepalived-rs
    // removes its leftovers when it starts.
    let c = lab.show_traffic(30)?;
    if c.iter().any(|(k, _)| k == "failed") {
        return Err(format!("traffic through lb2 failed: {c:?}"));
    }

    lab.say("restarting lb1: it removes what the crash left, then preempts (priority 100 > 90)");
    lab.director(1, "b")?;
    lab.expect("lb1", "(VI_1) Entering MASTER STATE")?;
    lab.expect("lb2", "(VI_1) Entering BACKUP STATE")?;
    lab.say("lb1 is MASTER again, lb2 BACKUP");
    lab.show_traffic(30)?;
    Ok(())
}

fn tail(line: &str) -> &str {
    line.split("  INFO ").nth(1).unwrap_or(line).trim()
}
