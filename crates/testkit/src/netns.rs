//! Network namespaces: tests make links, addresses, routes and firewall rules
//! as root without touching the host's, and many run in parallel.
//!
//! Socket code enters a namespace on a thread of its own (`setns` changes the
//! calling thread only); child processes such as `nft` started from that
//! thread inherit it.

use std::fs::File;
use std::future::Future;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::{self, JoinHandle};

use nix::sched::{setns, CloneFlags};
use nix::unistd::Uid;

use crate::block_on;
use crate::cmd::run;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Whether we are root and have each of `tools`; prints why not otherwise, so
/// that a test on a host without them is skipped, not failed.
pub fn can_run(tools: &[&str]) -> bool {
    if !Uid::effective().is_root() {
        eprintln!("skipping: network namespace tests need root");
        return false;
    }
    for tool in tools {
        let found = Command::new("sh")
            .args(["-c", "command -v \"$1\"", "sh", tool])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            eprintln!("skipping: `{tool}` is not installed");
            return false;
        }
    }
    true
}

/// `ip -n NS args...`; stdout (asserts success).
pub fn ip_in(ns: &str, args: &[&str]) -> String {
    let mut argv = vec!["ip", "-n", ns];
    argv.extend_from_slice(args);
    run(&argv)
}

/// Runs `f` on a new thread inside namespace `ns`; sockets it opens stay in
/// that namespace and may be used from any thread afterwards.
pub fn spawn_in<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> JoinHandle<T> {
    let path = format!("/run/netns/{ns}");
    thread::spawn(move || {
        let fd = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        setns(&fd, CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
}

/// [`spawn_in`] and wait for the result.
pub fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    spawn_in(ns, f).join().expect("namespace thread panicked")
}

/// A network namespace, deleted on drop, also when the test fails.
pub struct Ns {
    name: String,
}

impl Ns {
    /// An empty namespace. Its name carries `tag`, the process id and a
    /// counter: parallel tests and test binaries never collide, and a
    /// left-over one tells where it came from.
    pub fn new(tag: &str) -> Ns {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("ktk-{}-{tag}-{n}", std::process::id());
        run(&["ip", "netns", "add", &name]);
        Ns { name }
    }

    /// For the commands that name it (`ip link ... netns NAME`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n NS args...`; stdout (asserts success).
    pub fn ip(&self, args: &[&str]) -> String {
        ip_in(&self.name, args)
    }

    /// A veth pair: `dev` here, `peer_dev` in namespace `peer`.
    pub fn veth(&self, dev: &str, peer: &Ns, peer_dev: &str) {
        let peer = peer.name();
        self.ip(&[
            "link", "add", dev, "type", "veth", "peer", "name", peer_dev, "netns", peer,
        ]);
    }

    /// Runs a command inside the namespace (`ip netns exec`); stdout (asserts
    /// success).
    pub fn exec(&self, args: &[&str]) -> String {
        let mut argv = vec!["ip", "netns", "exec", &self.name];
        argv.extend_from_slice(args);
        run(&argv)
    }

    /// Sets a sysctl `key=value` inside the namespace (`net.*` ones are per
    /// namespace).
    pub fn sysctl(&self, kv: &str) {
        self.exec(&["sysctl", "-qw", kv]);
    }

    /// Runs `f` on a new thread inside this namespace.
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> JoinHandle<T> {
        spawn_in(&self.name, f)
    }

    /// Runs `f` on a new thread inside this namespace and waits for it.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        in_ns(&self.name, f)
    }

    /// Runs the future `f` makes on a current-thread runtime inside this
    /// namespace and waits for it; `f` builds it there, so it need not be
    /// `Send`.
    pub fn run_async<T, F>(&self, f: impl FnOnce() -> F + Send + 'static) -> T
    where
        T: Send + 'static,
        F: Future<Output = T>,
    {
        self.run(move || block_on(f()))
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}
