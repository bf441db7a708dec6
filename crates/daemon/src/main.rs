//! `keepalived-rs`: keepalived's command line, plus subcommands of our own.

mod cli;

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
        None => run_keepalived(&cli),
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
    let opts = options(cli.config_id.as_deref());
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
    daemon(cli, &path, opts)
}

/// The daemon: for now it holds the configuration and follows signals (SIGHUP
/// reloads, keeping the running configuration when the new one has errors).
fn daemon(cli: &Cli, path: &Path, opts: LoadOptions) -> ExitCode {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    for s in [Signal::SIGHUP, Signal::SIGTERM, Signal::SIGINT] {
        set.add(s);
    }
    if set.thread_block().is_err() {
        return ExitCode::from(1);
    }
    let pid_file = cli.pid.clone();
    if let Some(p) = &pid_file {
        if let Err(e) = std::fs::write(p, format!("{}\n", std::process::id())) {
            eprintln!("keepalived-rs: cannot write pid file {}: {e}", p.display());
        }
    }
    eprintln!("keepalived-rs: configuration {} loaded", path.display());
    let code = loop {
        match set.wait() {
            Ok(Signal::SIGHUP) => {
                let next = load(path, &opts);
                report(&next);
                if next.diags.has_errors() {
                    eprintln!("keepalived-rs: reload refused, the running configuration is kept");
                } else {
                    eprintln!("keepalived-rs: configuration reloaded");
                }
            }
            Ok(_) => break ExitCode::SUCCESS,
            Err(_) => break ExitCode::from(1),
        }
    };
    if let Some(p) = &pid_file {
        let _ = std::fs::remove_file(p);
    }
    code
}
