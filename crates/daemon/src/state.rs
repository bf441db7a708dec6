//! What the daemon is doing, as the status socket and the metrics endpoint show
//! it. The VRRP and checker runtimes update one shared [`Status`]; readers take a
//! copy under a short lock.

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

/// A state change of a VRRP instance, with its reason.
#[derive(Debug, Clone, Serialize)]
pub struct Transition {
    /// Seconds since the Unix epoch.
    pub at: f64,
    pub from: String,
    pub to: String,
    pub reason: String,
}

/// One VRRP instance.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InstanceStatus {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    pub state: String,
    /// Configured priority.
    pub priority: u8,
    /// Priority after tracking.
    pub effective_priority: u8,
    pub master: Option<String>,
    pub vips: Vec<String>,
    /// The most recent transitions, oldest first (at most [`MAX_TRANSITIONS`]).
    pub transitions: Vec<Transition>,
    pub transitions_total: u64,
    pub adverts_rx: u64,
    pub adverts_tx: u64,
    pub became_master: u64,
    pub released_master: u64,
    pub priority_zero_rx: u64,
    pub priority_zero_tx: u64,
    /// The master's advert interval (learnt from it with v3), seconds.
    pub master_adver_int: f64,
    /// Received adverts dropped, by reason.
    pub drops: BTreeMap<String, u64>,
}

/// Transitions kept per instance.
pub const MAX_TRANSITIONS: usize = 16;

/// One real server of a virtual server.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RealServerStatus {
    pub address: String,
    pub up: bool,
    pub weight: u32,
    /// The last check's detail, e.g. "HTTP 200".
    pub last_check: Option<String>,
    pub last_latency_ms: Option<f64>,
    pub checks_ok: u64,
    pub checks_failed: u64,
}

/// One virtual server.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VirtualServerStatus {
    pub name: String,
    pub quorum_up: bool,
    pub real_servers: Vec<RealServerStatus>,
}

/// The load-balancer data plane.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DataplaneStatus {
    pub backend: String,
    pub operations: u64,
    pub transactions: u64,
    pub errors: u64,
}

/// Mail alerts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MailStatus {
    pub sent: u64,
    pub failed: u64,
    /// Alerts dropped because the queue was full (a dead SMTP server).
    pub dropped: u64,
}

/// Everything the daemon reports.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    pub version: String,
    pub pid: u32,
    /// Seconds since the Unix epoch at start.
    pub started: f64,
    pub router_id: Option<String>,
    pub config_file: String,
    pub reloads: u64,
    pub reload_failures: u64,
    pub instances: Vec<InstanceStatus>,
    /// VRRP packets dropped before they reached an instance (codec checks), by reason.
    pub vrrp_drops: BTreeMap<String, u64>,
    pub virtual_servers: Vec<VirtualServerStatus>,
    pub dataplane: DataplaneStatus,
    pub mail: MailStatus,
}

/// The shared status.
pub type Shared = Arc<RwLock<Status>>;

/// Seconds since the Unix epoch, now.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Applies `f` to the status under the write lock (poisoning ignored: the status
/// is plain data).
pub fn update(s: &Shared, f: impl FnOnce(&mut Status)) {
    let mut g = s.write().unwrap_or_else(|e| e.into_inner());
    f(&mut g);
}

/// A copy of the status.
pub fn snapshot(s: &Shared) -> Status {
    s.read().unwrap_or_else(|e| e.into_inner()).clone()
}
