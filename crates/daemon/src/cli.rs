//! keepalived's flags, with keepalived's meanings, and our subcommands.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "keepalived-rs",
    about = "A memory-safe drop-in replacement for keepalived + LVS",
    disable_version_flag = true,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// Use the specified configuration file.
    #[arg(short = 'f', long = "use-file", value_name = "FILE")]
    pub use_file: Option<PathBuf>,
    /// Check the configuration file for errors and exit (0 valid, 4 fatal,
    /// 5 config errors, 6 script security). The optional value is keepalived's
    /// log file for the test; keepalived-rs writes to stderr.
    #[arg(short = 't', long = "config-test", value_name = "LOG_FILE", num_args = 0..=1, require_equals = true)]
    pub config_test: Option<Option<PathBuf>>,
    /// Don't fork the daemon process.
    #[arg(short = 'n', long = "dont-fork")]
    pub dont_fork: bool,
    /// Log messages to the local console.
    #[arg(short = 'l', long = "log-console")]
    pub log_console: bool,
    /// Detailed log messages.
    #[arg(short = 'D', long = "log-detail")]
    pub log_detail: bool,
    /// Only run with the VRRP subsystem.
    #[arg(short = 'P', long = "vrrp")]
    pub vrrp: bool,
    /// Only run with the health-checker subsystem.
    #[arg(short = 'C', long = "check")]
    pub check: bool,
    /// Use the specified pidfile for the parent process.
    #[arg(short = 'p', long = "pid", value_name = "FILE")]
    pub pid: Option<PathBuf>,
    /// Use the specified pidfile for the VRRP process.
    #[arg(short = 'r', long = "vrrp_pid", value_name = "FILE")]
    pub vrrp_pid: Option<PathBuf>,
    /// Use the specified pidfile for the checkers process.
    #[arg(short = 'c', long = "checkers_pid", value_name = "FILE")]
    pub checkers_pid: Option<PathBuf>,
    /// Use the configuration id (for `@id` lines); default the host name.
    #[arg(short = 'i', long = "config-id", value_name = "ID")]
    pub config_id: Option<String>,
    /// Set syslog facility to LOG_LOCAL[0-7].
    #[arg(short = 'S', long = "log-facility", value_name = "N", value_parser = clap::value_parser!(u8).range(0..=7))]
    pub log_facility: Option<u8>,
    /// keepalived-rs: the control socket that `keepalived-rs status` reads.
    #[arg(long = "control-socket", value_name = "PATH", default_value = crate::status::DEFAULT_SOCKET)]
    pub control_socket: PathBuf,
    /// Print the number of the signal keepalived uses for NAME (RELOAD, STOP,
    /// DATA, STATS, JSON) and exit.
    #[arg(long = "signum", value_name = "NAME", require_equals = false)]
    pub signum: Option<String>,
    /// Display the version and exit.
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        cmd: ConfigCmd,
    },
    /// Computes the MD5 digest of a URL's body as keepalived's genhash does, for
    /// HTTP_GET / SSL_GET `digest`.
    Genhash(Genhash),
    /// Builds the seed's set-up in network namespaces (a client, two directors,
    /// three web servers, a mail server) and narrates failures and failovers.
    /// Needs root.
    Lab {
        /// Leave the lab up at the end, and print the commands to explore it.
        #[arg(long)]
        keep: bool,
    },
    /// Shows what the running daemon is doing (VRRP instances, virtual servers).
    Status {
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
        /// The daemon's control socket.
        #[arg(long, default_value = crate::status::DEFAULT_SOCKET)]
        socket: PathBuf,
    },
    /// A mail server that prints every message it receives (the lab's).
    #[command(hide = true)]
    LabSmtp { listen: std::net::SocketAddr },
    /// A tiny web server that answers every GET with its name (the lab's and the
    /// tests' real servers).
    #[command(hide = true)]
    LabWeb {
        name: String,
        listen: std::net::SocketAddr,
    },
}

/// genhash's flags, with its meanings.
#[derive(Debug, clap::Args)]
pub struct Genhash {
    /// Use SSL connection to remote server.
    #[arg(short = 'S', long = "use-ssl")]
    pub ssl: bool,
    /// Use SNI during the SSL handshake (from the virtualhost).
    #[arg(short = 'I', long = "use-sni")]
    pub sni: bool,
    /// Remote server address.
    #[arg(short = 's', long = "server")]
    pub server: std::net::IpAddr,
    /// Remote server port.
    #[arg(short = 'p', long = "port")]
    pub port: Option<u16>,
    /// URL path to get.
    #[arg(short = 'u', long = "url")]
    pub url: String,
    /// Virtualhost for the Host header.
    #[arg(short = 'V', long = "use-virtualhost")]
    pub virtualhost: Option<String>,
    /// Verbose output (status line and digest).
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
    /// Timeout in seconds.
    #[arg(short = 't', long = "timeout", default_value_t = 5.0)]
    pub timeout: f64,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Print the resolved configuration (includes, variables, conditionals applied) as JSON.
    Dump {
        #[arg(short = 'f', long = "use-file", value_name = "FILE")]
        file: PathBuf,
        #[arg(short = 'i', long = "config-id", value_name = "ID")]
        config_id: Option<String>,
    },
}
