//! `keepalived-rs`: keepalived's command line, plus subcommands of our own.

mod cli;
mod dump;
mod lab;
mod lvs;
mod metrics;
mod notify;
mod privs;
mod process;
mod smtp;
mod state;
mod status;
mod syslog;
mod timer;
mod vrrp;

use clap::Parser;
use cli::{Cli, Command, ConfigCmd};
use keepalived_config::diag::Renderer;
use keepalived_config::{load, LoadOptions, Loaded};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const DEFAULT_CONF: &str = "/etc/keepalived/keepalived.conf";

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.version {
        println!("keepalived-rs {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    if let Some(name) = &cli.signum {
        return match dump::signum(name) {
            Some(n) => {
                println!("{n}");
                ExitCode::SUCCESS
            }
            None => {
                eprintln!(
                    "Unknown sigfunc {name} (keepalived-rs knows RELOAD, STOP, DATA, STATS, JSON)"
                );
                ExitCode::from(1)
            }
        };
    }
    match &cli.command {
        Some(Command::Config {
            cmd: ConfigCmd::Dump { file, config_id },
        }) => {
            let opts = options(config_id.as_deref().or(cli.config_id.as_deref()));
            let loaded = load(file, &opts);
            report(&loaded);
            if loaded.diags.has_errors() {
                return ExitCode::from(loaded.diags.exit_code() as u8);
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&keepalived_config::model::build(&loaded.tree))
                    .unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Some(Command::Genhash(g)) => genhash(g),
        Some(Command::LabWeb { name, listen }) => lab_web(name, *listen),
        Some(Command::Lab { keep }) => lab::run(*keep),
        Some(Command::LabSmtp { listen }) => lab_smtp(*listen),
        Some(Command::Status { json, socket }) => status::status_command(socket, *json),
        None => run_keepalived(&cli),
    }
}

/// The single-threaded runtime every part of keepalived-rs runs on.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Serves `name\n` to every request until killed; HTTP/1.1 keep-alive included,
/// so that load generators measure the data plane, not connection set-up.
fn lab_web(name: &str, listen: std::net::SocketAddr) -> ExitCode {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(rt) = runtime() else {
        return ExitCode::from(1);
    };
    let body = format!("{name}\n");
    rt.block_on(async move {
        let l = match tokio::net::TcpListener::bind(listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("lab-web: {listen}: {e}");
                return ExitCode::from(1);
            }
        };
        eprintln!("lab-web {name} listening on {listen}");
        loop {
            let Ok((mut s, _)) = l.accept().await else { continue };
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = Vec::with_capacity(1024);
                let mut chunk = [0u8; 4096];
                loop {
                    // One request per header block; bodies are not expected.
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        if buf.len() > 64 * 1024 {
                            return;
                        }
                    }
                    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0) + 4;
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    buf.drain(..end);
                    let keep = head.starts_with("get") && head.contains("http/1.1")
                        && !head.contains("connection: close");
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n{body}",
                        body.len(),
                        if keep { "keep-alive" } else { "close" }
                    );
                    if s.write_all(resp.as_bytes()).await.is_err() || !keep {
                        return;
                    }
                }
            });
        }
    })
}

/// Receives mail on `listen` and prints one line per message: envelope and subject.
fn lab_smtp(listen: std::net::SocketAddr) -> ExitCode {
    let Ok(rt) = runtime() else {
        return ExitCode::from(1);
    };
    rt.block_on(async move {
        let l = match tokio::net::TcpListener::bind(listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("lab-smtp: {listen}: {e}");
                return ExitCode::from(1);
            }
        };
        eprintln!("lab-smtp listening on {listen}");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(smtp::sink(l, tx));
        while let Some(m) = rx.recv().await {
            let subject = m.header("Subject").unwrap_or_default();
            let body = m
                .body()
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            println!(
                "mail from {} to {}: {subject} / {}",
                m.from,
                m.to.join(","),
                body.trim()
            );
        }
        ExitCode::SUCCESS
    })
}

fn genhash(g: &cli::Genhash) -> ExitCode {
    let port = g.port.unwrap_or(if g.ssl { 443 } else { 80 });
    let addr = std::net::SocketAddr::new(g.server, port);
    let timeout = std::time::Duration::from_secs_f64(g.timeout.max(0.001));
    let Ok(rt) = runtime() else {
        return ExitCode::from(1);
    };
    let res = rt.block_on(keepalived_check::genhash(
        addr,
        g.ssl,
        &g.url,
        g.virtualhost.as_deref(),
        timeout,
    ));
    match res {
        Ok((status, digest)) => {
            if g.verbose {
                println!("HTTP status: {status}");
            }
            println!("{digest}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            // genhash reports a failed connection and still exits 0.
            println!("Connection failed");
            if g.verbose {
                eprintln!("{e}");
            }
            ExitCode::SUCCESS
        }
    }
}

fn options(config_id: Option<&str>) -> LoadOptions {
    let mut opts = LoadOptions::default();
    if let Some(id) = config_id {
        opts.preprocess.config_id = id.to_string();
    }
    opts
}

/// Prints every diagnostic to stderr.
fn report(loaded: &Loaded) {
    let r = Renderer {
        sources: &loaded.sources,
        color: std::io::stderr().is_terminal(),
    };
    for d in &loaded.diags.items {
        eprint!("{}", r.render(d));
    }
}

fn config_path(cli: &Cli) -> PathBuf {
    cli.use_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONF))
}

fn run_keepalived(cli: &Cli) -> ExitCode {
    let path = config_path(cli);
    let mut opts = options(cli.config_id.as_deref());
    if cli.check && !cli.vrrp && cli.config_test.is_none() {
        // Checkers only: like keepalived -C, VRRP's interfaces do not matter.
        opts.host.interfaces = false;
    }
    let loaded = load(&path, &opts);
    report(&loaded);
    if cli.config_test.is_some() {
        let code = loaded.diags.exit_code();
        let (e, w) = (
            loaded.diags.errors().count(),
            loaded.diags.warnings().count(),
        );
        eprintln!(
            "{}: {} error{}, {} warning{}",
            path.display(),
            e,
            if e == 1 { "" } else { "s" },
            w,
            if w == 1 { "" } else { "s" }
        );
        return ExitCode::from(code as u8);
    }
    if loaded.diags.has_errors() {
        eprintln!("keepalived-rs: configuration has errors, not starting");
        return ExitCode::from(loaded.diags.exit_code() as u8);
    }
    daemon(cli, &path, opts, loaded)
}

/// The daemon: runs the configured subsystems until SIGTERM; SIGHUP reloads,
/// keeping the running configuration when the new one has errors.
fn daemon(cli: &Cli, path: &Path, opts: LoadOptions, loaded: Loaded) -> ExitCode {
    if !cli.dont_fork {
        // keepalived forks into the background unless -n; stdio stays open so the
        // log still reaches its destination.
        if let Err(e) = nix::unistd::daemon(true, true) {
            eprintln!("keepalived-rs: cannot fork into the background: {e}");
            return ExitCode::from(1);
        }
    }
    inherited_fds_cloexec();
    init_logging(cli);
    let pid_files: Vec<PathBuf> = [&cli.pid, &cli.vrrp_pid]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    for p in &pid_files {
        if let Err(e) = std::fs::write(p, format!("{}\n", std::process::id())) {
            tracing::error!("cannot write pid file {}: {e}", p.display());
        }
    }
    // Before the runtime exists: capabilities are per thread.
    privs::restrict(keepalived_config::security::runs_scripts_as_root(
        &loaded.tree,
    ));
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = rt.block_on(run(cli, path, &opts, loaded));
    for p in &pid_files {
        let _ = std::fs::remove_file(p);
    }
    code
}

/// Descriptors the daemon inherited beyond stdio (a shell's, a supervisor's)
/// must not reach the scripts it runs; everything it opens itself is
/// close-on-exec already.
fn inherited_fds_cloexec() {
    // SAFETY: close_range(2) with CLOSE_RANGE_CLOEXEC only sets a flag on
    // descriptors; it touches no memory and closes nothing.
    let rc = unsafe { nix::libc::close_range(3, u32::MAX, nix::libc::CLOSE_RANGE_CLOEXEC as i32) };
    if rc != 0 {
        eprintln!(
            "keepalived-rs: close_range: {}; inherited descriptors may reach scripts",
            std::io::Error::last_os_error()
        );
    }
}

/// `-l`: to the console (stderr, which is also journald's under systemd);
/// otherwise to syslog as keepalived does, with `-S` choosing LOG_LOCALn.
fn init_logging(cli: &Cli) {
    let level = if cli.log_detail { "debug" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEEPALIVED_RS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(false);
    if !cli.log_console {
        if let Ok(sys) = syslog::Syslog::connect(cli.log_facility) {
            let _ = builder
                .without_time()
                .with_level(false)
                .with_writer(sys)
                .try_init();
            return;
        }
    }
    let _ = builder.with_writer(std::io::stderr).try_init();
}

/// A running VRRP subsystem: its stop switch and task.
struct Running {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::sync::oneshot::Receiver<Result<(), String>>,
    config: u64,
    /// Where a new configuration goes for an in-place reload.
    reload: Option<tokio::sync::mpsc::Sender<lvs::Reload>>,
    vrrp_reload:
        Option<tokio::sync::mpsc::Sender<(keepalived_config::model::Config, Option<smtp::Mailer>)>>,
}

/// keepalived's `vrrp_priority` (nice) and `vrrp_rt_priority` (SCHED_RR), for
/// the calling thread only: the VRRP thread, not the checkers. With an advert
/// interval below 100 ms and no vrrp_rt_priority, keepalived-rs uses SCHED_RR
/// priority 1 on its own: a backup declares the master dead after 3 intervals,
/// and an ordinary thread on a busy host can be kept off the CPU that long.
fn set_vrrp_priority(cfg: &keepalived_config::model::Config) {
    let g = &cfg.global_defs;
    let short = cfg
        .vrrp_instances
        .iter()
        .any(|i| i.advert_int.is_some_and(|a| a < 0.1));
    let rt = g.vrrp_rt_priority.or(short.then_some(1));
    // SAFETY: plain syscalls on the calling thread with valid arguments; the
    // results are checked.
    unsafe {
        let tid = nix::libc::gettid();
        if let Some(n) = g.vrrp_priority {
            if nix::libc::setpriority(nix::libc::PRIO_PROCESS, tid as nix::libc::id_t, n) != 0 {
                tracing::warn!("vrrp_priority {n}: {}", std::io::Error::last_os_error());
            }
        }
        if let Some(p) = rt {
            let param = nix::libc::sched_param {
                sched_priority: p as i32,
            };
            if nix::libc::sched_setscheduler(0, nix::libc::SCHED_RR, &param) != 0 {
                tracing::warn!("vrrp_rt_priority {p}: {}", std::io::Error::last_os_error());
            }
        }
    }
}

/// Starts VRRP on a thread of its own, with its own runtime: checkers, mail
/// and the data plane never delay an advert, and vrrp_priority /
/// vrrp_rt_priority apply to it alone.
async fn start_vrrp(
    cfg: &keepalived_config::model::Config,
    sh: &Shared,
) -> Result<Running, String> {
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let (cfg_tx, mut cfg_rx) =
        tokio::sync::mpsc::channel::<(keepalived_config::model::Config, Option<smtp::Mailer>)>(1);
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Result<(), String>>();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<Result<(), String>>();
    let (cfg0, status, mailer) = (cfg.clone(), sh.status.clone(), sh.mailer.clone());
    let dispatch = tracing::dispatcher::get_default(|d| d.clone());
    std::thread::Builder::new()
        .name("vrrp".into())
        .spawn(move || {
            let _log = tracing::dispatcher::set_default(&dispatch);
            set_vrrp_priority(&cfg0);
            let rt = match runtime() {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("runtime: {e}")));
                    return;
                }
            };
            rt.block_on(async move {
                let build = |cfg: keepalived_config::model::Config,
                             mailer: Option<smtp::Mailer>,
                             status: state::Shared| async move {
                    let mut v = vrrp::Vrrp::new(&cfg).await?;
                    v.publish_to(status);
                    if let Some(m) = mailer {
                        v.mail_with(m);
                    }
                    Ok::<_, String>(v)
                };
                let v = match build(cfg0, mailer, status.clone()).await {
                    Ok(v) => {
                        let _ = ready_tx.send(Ok(()));
                        v
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                // Reloads are built here, on this runtime, then handed over.
                let (reload_tx, reload_rx) = tokio::sync::mpsc::channel(1);
                tokio::spawn(async move {
                    while let Some((cfg, mailer)) = cfg_rx.recv().await {
                        match build(cfg, mailer, status.clone()).await {
                            Ok(v) => {
                                let _ = reload_tx.send(v).await;
                            }
                            Err(e) => tracing::error!(
                                "VRRP part of the reload refused, the running instances are kept: {e}"
                            ),
                        }
                    }
                });
                let _ = done_tx.send(v.run(stop_rx, reload_rx).await);
            });
        })
        .map_err(|e| format!("VRRP thread: {e}"))?;
    ready_rx
        .await
        .map_err(|_| "VRRP thread ended".to_string())??;
    Ok(Running {
        stop,
        task: done_rx,
        config: vrrp_fingerprint(cfg),
        reload: None,
        vrrp_reload: Some(cfg_tx),
    })
}

/// Drops from memory the code pages of our binary that start-up touched (config
/// parsing, argument handling, first set-up): a director idles for months, and
/// the pages it still needs fault back in from the file. Only the code and the
/// leading read-only data (headers, constants) are released: they hold exactly
/// the file's bytes. The relocated read-only data after the code is kept.
fn release_startup_code() {
    // Start-up's heap (the parse tree, the file's text) was freed; hand the
    // pages back rather than keep them resident for months.
    // SAFETY: malloc_trim only releases free heap memory; no pointer changes.
    unsafe {
        nix::libc::malloc_trim(0);
    }
    let Ok(exe) = std::fs::read_link("/proc/self/exe") else {
        return;
    };
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return;
    };
    for line in maps.lines() {
        let mut f = line.split_whitespace();
        let (Some(range), Some(perms), Some(offset)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let path = f.nth(2).unwrap_or("");
        let leading_rodata = perms == "r--p" && offset.trim_start_matches('0').is_empty();
        if !(perms == "r-xp" || leading_rodata) || std::path::Path::new(path) != exe {
            continue;
        }
        let Some((a, b)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
        else {
            continue;
        };
        let Some(ptr) = std::ptr::NonNull::new(start as *mut std::ffi::c_void) else {
            continue;
        };
        // SAFETY: the range is our own read-only file mapping (code, or the data
        // before it, which no relocation touches), as the kernel lists it;
        // MADV_DONTNEED only drops page copies identical to the file, which are
        // read back on the next use.
        let r = unsafe {
            nix::sys::mman::madvise(ptr, end - start, nix::sys::mman::MmapAdvise::MADV_DONTNEED)
        };
        if let Err(e) = r {
            tracing::debug!("madvise: {e}");
        }
    }
}

/// Tells systemd (Type=notify) what the daemon is doing; a no-op outside systemd.
fn sd_notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(sock) = std::os::unix::net::UnixDatagram::unbound() else {
        return;
    };
    let bytes = path.as_encoded_bytes();
    // An abstract socket is written with a leading '@'.
    let r = if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(name)
            .and_then(|a| sock.send_to_addr(state.as_bytes(), &a))
    } else {
        sock.send_to(state.as_bytes(), &path)
    };
    if let Err(e) = r {
        tracing::debug!("sd_notify: {e}");
    }
}

/// CLOCK_MONOTONIC in microseconds, for systemd's RELOADING=1 handshake.
fn monotonic_usec() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1000)
        .unwrap_or(0)
}

/// Serves Prometheus metrics when global_defs has `metrics_listen`.
async fn start_metrics(
    cfg: &keepalived_config::model::Config,
    sh: &Shared,
) -> Option<tokio::task::JoinHandle<()>> {
    let addrs = match metrics::listen_addrs(&cfg.global_defs) {
        Ok(a) if a.is_empty() => return None,
        Ok(a) => a,
        Err(e) => {
            tracing::error!("metrics_listen: {e}");
            return None;
        }
    };
    let (status, m) = (sh.status.clone(), sh.metrics.clone());
    tracing::info!("metrics on {addrs:?}");
    Some(tokio::spawn(async move {
        if let Err(e) = metrics::serve(addrs, status, m).await {
            tracing::error!("metrics: {e}");
        }
    }))
}

/// Stops a subsystem and waits for its clean-up.
async fn stop_vrrp(r: Running) {
    let _ = r.stop.send(true);
    match r.task.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!("{e}"),
        Err(_) => tracing::error!("a subsystem ended without reporting"),
    }
}

/// What every subsystem shares: the status, the metrics, the mailer.
#[derive(Clone)]
struct Shared {
    status: state::Shared,
    metrics: std::sync::Arc<metrics::Metrics>,
    mailer: Option<smtp::Mailer>,
}

async fn start_lvs(cfg: &keepalived_config::model::Config, sh: &Shared) -> Running {
    let (stop, rx) = tokio::sync::watch::channel(false);
    let (reload, reload_rx) = tokio::sync::mpsc::channel(1);
    let (done, task) = tokio::sync::oneshot::channel();
    let run = lvs::run(
        cfg.clone(),
        rx,
        reload_rx,
        sh.status.clone(),
        Some(sh.metrics.clone()),
        sh.mailer.clone(),
    );
    tokio::spawn(async move {
        let _ = done.send(run.await);
    });
    Running {
        stop,
        task,
        config: lvs_fingerprint(cfg),
        reload: Some(reload),
        vrrp_reload: None,
    }
}

/// Drops the load-balancer part of a configuration this side no longer needs
/// (the checker side owns it; dumps and the VRRP side do not read it).
fn keep_vrrp_part(cfg: &mut keepalived_config::model::Config) {
    cfg.virtual_servers = Vec::new();
    cfg.virtual_server_groups = Vec::new();
}

/// A digest of a value's JSON: what a part of the daemon reads from a
/// configuration, kept between reloads without keeping the (with 10,000 real
/// servers, megabytes of) text.
fn digest(v: &impl serde::Serialize) -> u64 {
    use std::hash::Hasher;
    struct W(std::collections::hash_map::DefaultHasher);
    impl std::io::Write for W {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.write(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut w = W(Default::default());
    let _ = serde_json::to_writer(&mut w, v);
    w.0.finish()
}

/// What the checker side reads from a config.
fn lvs_fingerprint(cfg: &keepalived_config::model::Config) -> u64 {
    digest(&(
        &cfg.global_defs,
        &cfg.virtual_server_groups,
        &cfg.virtual_servers,
        &cfg.track_files,
    ))
}

/// What the VRRP side reads from a config; equal prints mean nothing to restart.
fn vrrp_fingerprint(cfg: &keepalived_config::model::Config) -> u64 {
    digest(&(
        &cfg.global_defs,
        &cfg.vrrp_scripts,
        &cfg.sync_groups,
        &cfg.vrrp_instances,
        &cfg.track_files,
        &cfg.track_processes,
    ))
}

async fn run(cli: &Cli, path: &Path, opts: &LoadOptions, loaded: Loaded) -> ExitCode {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut hup), Ok(mut term), Ok(mut int), Ok(mut usr1), Ok(mut usr2), Ok(mut json)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::user_defined1()),
        signal(SignalKind::user_defined2()),
        signal(SignalKind::from_raw(dump::json_signal())),
    ) else {
        tracing::error!("cannot install signal handlers");
        return ExitCode::from(1);
    };
    let mut cfg = keepalived_config::model::build(&loaded.tree);
    // The parse tree and the file's text are not needed any more.
    drop(loaded);
    let status: state::Shared = Default::default();
    state::update(&status, |s| {
        s.version = env!("CARGO_PKG_VERSION").to_string();
        s.pid = std::process::id();
        s.started = state::now();
        s.router_id = cfg.global_defs.router_id.clone();
        s.config_file = path.display().to_string();
    });
    let mut sh = Shared {
        status: status.clone(),
        metrics: std::sync::Arc::new(metrics::Metrics::new()),
        mailer: smtp::Mailer::from_config(&cfg.global_defs, status.clone()),
    };
    match status::bind(&cli.control_socket) {
        Ok(l) => {
            tokio::spawn(status::serve_listener(l, status.clone()));
        }
        Err(e) => tracing::warn!(
            "control socket {}: {e}; `keepalived-rs status` will not reach this daemon",
            cli.control_socket.display()
        ),
    }
    let mut metrics_task = start_metrics(&cfg, &sh).await;
    sd_notify("READY=1");
    // Once the subsystems are up, start-up code is dead weight.
    tokio::spawn(async {
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        release_startup_code();
    });
    let with_vrrp = !cli.check || cli.vrrp;
    let with_lvs = !cli.vrrp || cli.check;
    let mut running = None;
    let mut checkers = None;
    if with_lvs && !cfg.virtual_servers.is_empty() {
        checkers = Some(start_lvs(&cfg, &sh).await);
    }
    // The checker side has its own copy; with 10,000 real servers a second
    // one here (and a third for the VRRP thread) is tens of MiB.
    keep_vrrp_part(&mut cfg);
    tracing::info!("Starting keepalived-rs {}", env!("CARGO_PKG_VERSION"));
    if with_vrrp && !cfg.vrrp_instances.is_empty() {
        match start_vrrp(&cfg, &sh).await {
            Ok(r) => running = Some(r),
            Err(e) => {
                tracing::error!("VRRP cannot start: {e}");
                return ExitCode::from(1);
            }
        }
    }
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            // keepalived's data and stats dumps, to the same files.
            _ = usr1.recv() => dump::write(&status, &cfg, "/tmp/keepalived.data", dump::Kind::Data),
            _ = usr2.recv() => dump::write(&status, &cfg, "/tmp/keepalived.stats", dump::Kind::Stats),
            _ = json.recv() => dump::write(&status, &cfg, "/tmp/keepalived.json", dump::Kind::Json),
            _ = hup.recv() => {
                tracing::info!("Reloading configuration {}", path.display());
                sd_notify(&format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()));
                let next = load(path, opts);
                report(&next);
                if next.diags.has_errors() {
                    tracing::error!("reload refused: the new configuration has errors; the running configuration is kept");
                    state::update(&status, |s| s.reload_failures += 1);
                    sd_notify("READY=1\nSTATUS=reload refused: the new configuration has errors");
                    continue;
                }
                state::update(&status, |s| s.reloads += 1);
                cfg = keepalived_config::model::build(&next.tree);
                sh.mailer = smtp::Mailer::from_config(&cfg.global_defs, status.clone());
                if let Some(t) = metrics_task.take() {
                    t.abort();
                }
                metrics_task = start_metrics(&cfg, &sh).await;
                let print = lvs_fingerprint(&cfg);
                match checkers.as_mut() {
                    Some(r) if r.config == print => {}
                    Some(r) if with_lvs && !cfg.virtual_servers.is_empty() => {
                        // In place: unchanged checkers keep their state, the
                        // data plane gets only the difference.
                        r.config = print;
                        let msg = lvs::Reload { cfg: cfg.clone(), mailer: sh.mailer.clone() };
                        if let Some(tx) = &r.reload {
                            let _ = tx.send(msg).await;
                        }
                    }
                    _ => {
                        if let Some(r) = checkers.take() {
                            stop_vrrp(r).await;
                        }
                        if with_lvs && !cfg.virtual_servers.is_empty() {
                            checkers = Some(start_lvs(&cfg, &sh).await);
                        }
                    }
                }
                let print = vrrp_fingerprint(&cfg);
                let wanted = with_vrrp && !cfg.vrrp_instances.is_empty();
                match running.as_mut() {
                    Some(r) if r.config == print => {}
                    Some(r) if wanted => {
                        // In place: the VRRP thread keeps unchanged instances.
                        r.config = print;
                        if let Some(tx) = &r.vrrp_reload {
                            let _ = tx.send((cfg.clone(), sh.mailer.clone())).await;
                        }
                    }
                    _ => {
                        if let Some(r) = running.take() {
                            stop_vrrp(r).await;
                        }
                        if wanted {
                            match start_vrrp(&cfg, &sh).await {
                                Ok(r) => running = Some(r),
                                Err(e) => tracing::error!("VRRP cannot start: {e}"),
                            }
                        }
                    }
                }
                keep_vrrp_part(&mut cfg);
                tracing::info!("configuration reloaded");
                sd_notify("READY=1\nSTATUS=configuration reloaded");
            }
        }
    }
    tracing::info!("Stopping");
    sd_notify("STOPPING=1");
    if let Some(r) = running.take() {
        stop_vrrp(r).await;
    }
    if let Some(r) = checkers.take() {
        stop_vrrp(r).await;
    }
    let _ = std::fs::remove_file(&cli.control_socket);
    ExitCode::SUCCESS
}
