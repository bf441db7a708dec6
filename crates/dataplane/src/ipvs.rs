//! The IPVS backend: the kernel's own load balancer, programmed over the
//! "IPVS" generic netlink family (what `ipvsadm` and keepalived use).
//!
//! Every [`Op`] is exactly one netlink request (NEW/SET/DEL_SERVICE,
//! NEW/SET/DEL_DEST), acknowledged by the kernel before the next one is sent;
//! [`IpvsBackend::requests`] counts them (dumps and configuration requests
//! included), so "one server change = one netlink operation" can be checked.
//!
//! # Ownership
//!
//! IPVS services carry no tag or comment, so the backend cannot tell its own
//! services from ones added by hand (`ipvsadm`) or by another program. It
//! owns:
//!
//! * the service keys it was created with ([`IpvsBackend::new`]; the caller
//!   passes the keys of its desired pool, so that after a restart the
//!   [`crate::Reconciler`] picks up what the previous run programmed),
//! * keys added later with [`IpvsBackend::own`],
//! * every service it creates itself (an applied `AddService`); an applied
//!   `DelService` forgets the key,
//! * optionally every key a predicate accepts ([`IpvsBackend::with_claim`]).
//!
//! [`Backend::read`] reports and [`Backend::flush`] deletes only owned
//! services; [`IpvsBackend::flush_all`] empties the whole table (keepalived's
//! `lvs_flush`). A service of the desired pool that exists in the kernel but
//! was not created by us is taken over once its key is owned: that is what
//! keepalived does too (it programs its virtual servers over whatever is
//! there).

pub mod genl;

use std::collections::BTreeSet;
use std::fmt;
use std::io;

use crate::backend::Backend;
use crate::diff::Op;
use crate::model::{Family, Method, Pool, Service, ServiceKey};
use crate::Error;
use genl::*;

pub use genl::{resolve_family, SyncConfig, SyncState, SCHEDULERS};

/// A failed IPVS request: which operation and the kernel's errno. It travels
/// inside [`Error::Netlink`]'s `io::Error` (see [`OpError::of`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpError {
    /// The operation, e.g. `NEW_DEST tcp 192.0.2.1:80 -> 10.0.0.1:80`.
    pub op: String,
    /// Positive errno (`EEXIST`, `ENOENT`, ...), 0 when not from the kernel.
    pub errno: i32,
    /// The underlying error's text.
    pub message: String,
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IPVS {}: {}", self.op, self.message)
    }
}

impl std::error::Error for OpError {}

impl OpError {
    fn wrap(op: String, e: io::Error) -> Error {
        let oe = OpError {
            op,
            errno: e.raw_os_error().unwrap_or(0),
            message: e.to_string(),
        };
        Error::Netlink(io::Error::new(e.kind(), oe))
    }

    /// The [`OpError`] inside a dataplane error, if it is one.
    pub fn of(e: &Error) -> Option<&OpError> {
        match e {
            Error::Netlink(io) => io.get_ref()?.downcast_ref::<OpError>(),
            _ => None,
        }
    }
}

type Claim = Box<dyn Fn(&ServiceKey) -> bool + Send + Sync>;

/// The IPVS dataplane (see the module documentation for ownership).
pub struct IpvsBackend {
    sock: GenlSocket,
    family: u16,
    owned: BTreeSet<ServiceKey>,
    claim: Option<Claim>,
    requests: u64,
}

impl fmt::Debug for IpvsBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpvsBackend")
            .field("family", &self.family)
            .field("owned", &self.owned)
            .field("claim", &self.claim.is_some())
            .field("requests", &self.requests)
            .finish()
    }
}

fn op_name(op: &Op) -> String {
    match op {
        Op::AddService(s) => format!("NEW_SERVICE {}", s.key),
        Op::EditService(s) => format!("SET_SERVICE {}", s.key),
        Op::DelService(k) => format!("DEL_SERVICE {k}"),
        Op::AddDest { service, dest, .. } => format!("NEW_DEST {service} -> {dest}"),
        Op::EditDest { service, dest, .. } => format!("SET_DEST {service} -> {dest}"),
        Op::DelDest { service, dest } => format!("DEL_DEST {service} -> {dest}"),
    }
}

fn unsupported(op: &str, why: String) -> Error {
    OpError::wrap(
        op.to_string(),
        io::Error::new(io::ErrorKind::InvalidInput, why),
    )
}

impl IpvsBackend {
    /// Opens a generic netlink socket and resolves the IPVS family (fails with
    /// ENOENT when the kernel has no IPVS). `owned`: the service keys that are
    /// ours (typically the desired pool's keys).
    pub fn new(owned: impl IntoIterator<Item = ServiceKey>) -> Result<IpvsBackend, Error> {
        let mut sock = GenlSocket::new()?;
        let family = sock
            .resolve_family(IPVS_GENL_NAME)
            .map_err(|e| OpError::wrap("resolve generic netlink family IPVS".into(), e))?;
        Ok(IpvsBackend {
            sock,
            family,
            owned: owned.into_iter().collect(),
            claim: None,
            requests: 0,
        })
    }

    /// Also owns every service key `claim` accepts.
    pub fn with_claim(
        mut self,
        claim: impl Fn(&ServiceKey) -> bool + Send + Sync + 'static,
    ) -> IpvsBackend {
        self.claim = Some(Box::new(claim));
        self
    }

    /// Adds service keys to the owned set.
    pub fn own(&mut self, keys: impl IntoIterator<Item = ServiceKey>) {
        self.owned.extend(keys);
    }

    /// Removes a key from the owned set (the service is left in the kernel).
    pub fn disown(&mut self, key: &ServiceKey) {
        self.owned.remove(key);
    }

    /// The explicitly owned keys.
    pub fn owned(&self) -> &BTreeSet<ServiceKey> {
        &self.owned
    }

    /// Whether the service `key` is ours.
    pub fn is_owned(&self, key: &ServiceKey) -> bool {
        self.owned.contains(key) || self.claim.as_ref().is_some_and(|c| c(key))
    }

    /// The IPVS generic netlink family id.
    pub fn family_id(&self) -> u16 {
        self.family
    }

    /// IPVS netlink requests sent so far (changes, dumps, configuration).
    pub fn requests(&self) -> u64 {
        self.requests
    }

    fn request(&mut self, op: &str, cmd: u8, attrs: Vec<u8>) -> Result<(), Error> {
        self.requests += 1;
        self.sock
            .request(self.family, cmd, attrs)
            .map_err(|e| OpError::wrap(op.to_string(), e))
    }

    fn dump(&mut self, op: &str, cmd: u8, attrs: Vec<u8>) -> Result<Vec<IpvsPayload>, Error> {
        self.requests += 1;
        self.sock
            .dump(self.family, cmd, attrs)
            .map_err(|e| OpError::wrap(op.to_string(), e))
    }

    /// Every IPVS service in the kernel (ours or not), with its destinations
    /// when `with_dests`. Services the model cannot express are left out.
    pub fn read_all(&mut self, with_dests: bool) -> Result<Vec<KernelService>, Error> {
        let replies = self.dump("GET_SERVICE (dump)", IPVS_CMD_GET_SERVICE, Vec::new())?;
        let mut out: Vec<KernelService> = replies
            .iter()
            .filter_map(|p| parse_service(&p.attrs))
            .collect();
        if with_dests {
            for ks in &mut out {
                self.read_dests(&mut ks.service)?;
            }
        }
        Ok(out)
    }

    fn read_dests(&mut self, svc: &mut Service) -> Result<(), Error> {
        let key = svc.key;
        let replies = self.dump(
            &format!("GET_DEST {key} (dump)"),
            IPVS_CMD_GET_DEST,
            service_key_attrs(&key),
        )?;
        svc.destinations = replies
            .iter()
            .filter_map(|p| parse_dest(&p.attrs, key.family()))
            .collect();
        Ok(())
    }

    /// Deletes every IPVS service, ours or not (IPVS_CMD_FLUSH; keepalived's `lvs_flush`).
    pub fn flush_all(&mut self) -> Result<(), Error> {
        self.request("FLUSH", IPVS_CMD_FLUSH, Vec::new())
    }

    /// Sets the IPVS connection timeouts in seconds (keepalived's
    /// `lvs_timeouts tcp T tcpfin T udp T`); 0 leaves a value unchanged.
    pub fn set_timeouts(&mut self, tcp: u32, tcpfin: u32, udp: u32) -> Result<(), Error> {
        self.request(
            "SET_CONFIG (timeouts)",
            IPVS_CMD_SET_CONFIG,
            timeout_attrs(tcp, tcpfin, udp),
        )
    }

    /// Starts the connection synchronisation daemon (keepalived's
    /// `lvs_sync_daemon IFNAME INSTANCE [id SYNCID]`, the state following the
    /// VRRP instance).
    pub fn start_sync_daemon(
        &mut self,
        state: SyncState,
        ifname: &str,
        syncid: u32,
    ) -> Result<(), Error> {
        self.request(
            &format!("NEW_DAEMON {state:?} {ifname} {syncid}"),
            IPVS_CMD_NEW_DAEMON,
            daemon_attrs(state, ifname, syncid),
        )
    }

    /// Starts a sync daemon with every `lvs_sync_daemon` option.
    pub fn start_sync_daemon_with(
        &mut self,
        state: SyncState,
        c: &SyncConfig,
    ) -> Result<(), Error> {
        self.request(
            &format!("NEW_DAEMON {state:?} {} {}", c.ifname, c.syncid),
            IPVS_CMD_NEW_DAEMON,
            sync_daemon_attrs(state, c),
        )
    }

    /// Stops the sync daemon of role `state`.
    pub fn stop_sync_daemon(&mut self, state: SyncState) -> Result<(), Error> {
        self.request(
            &format!("DEL_DAEMON {state:?}"),
            IPVS_CMD_DEL_DAEMON,
            daemon_state_attrs(state),
        )
    }

    /// Applies one operation: one netlink request.
    pub fn apply_op(&mut self, op: &Op) -> Result<(), Error> {
        let name = op_name(op);
        let (cmd, attrs) = match op {
            Op::AddService(s) => (
                IPVS_CMD_NEW_SERVICE,
                service_attrs(s, None).map_err(|e| unsupported(&name, e))?,
            ),
            Op::EditService(s) => (
                IPVS_CMD_SET_SERVICE,
                service_attrs(s, None).map_err(|e| unsupported(&name, e))?,
            ),
            Op::DelService(k) => (IPVS_CMD_DEL_SERVICE, service_key_attrs(k)),
            Op::AddDest {
                service,
                dest,
                params,
            } => (
                IPVS_CMD_NEW_DEST,
                dest_attrs(service, dest, params).map_err(|e| unsupported(&name, e))?,
            ),
            Op::EditDest {
                service,
                dest,
                params,
            } => (
                IPVS_CMD_SET_DEST,
                dest_attrs(service, dest, params).map_err(|e| unsupported(&name, e))?,
            ),
            Op::DelDest { service, dest } => (IPVS_CMD_DEL_DEST, dest_key_attrs(service, dest)),
        };
        self.request(&name, cmd, attrs)?;
        match op {
            Op::AddService(s) => {
                self.owned.insert(s.key);
            }
            Op::DelService(k) => {
                self.owned.remove(k);
            }
            _ => {}
        }
        Ok(())
    }
}

impl Backend for IpvsBackend {
    /// The owned services present in the kernel, with their destinations.
    async fn read(&mut self) -> Result<Pool, Error> {
        let all = self.read_all(false)?;
        let mut pool = Pool::new();
        for ks in all {
            if !self.is_owned(&ks.service.key) {
                continue;
            }
            let mut svc = ks.service;
            self.read_dests(&mut svc)?;
            pool.insert(svc.key, svc);
        }
        Ok(pool)
    }

    /// One request per operation, in order; stops at the first failure
    /// (earlier operations stay applied).
    async fn apply(&mut self, ops: &[Op]) -> Result<(), Error> {
        for op in ops {
            self.apply_op(op)?;
        }
        Ok(())
    }

    /// Deletes the owned services (a missing one is not an error).
    async fn flush(&mut self) -> Result<(), Error> {
        let present: Vec<ServiceKey> = self
            .read_all(false)?
            .into_iter()
            .map(|k| k.service.key)
            .filter(|k| self.is_owned(k))
            .collect();
        for k in present {
            self.apply_op(&Op::DelService(k))?;
        }
        self.owned.clear();
        Ok(())
    }

    fn name(&self) -> &'static str {
        "ipvs"
    }

    fn supports(&self, svc: &Service) -> Result<(), String> {
        supports(svc)
    }
}

/// What IPVS can program: every scheduler of [`SCHEDULERS`], the flags
/// `ops`, `sh-*`, `mh-*`, `flag-1..3`, persistence with any prefix length of
/// the service's family, NAT / DR / TUN (ipip, gue with a port, gre) and
/// thresholds, IPv4 and IPv6, TCP / UDP / SCTP and fwmark services.
pub fn supports(svc: &Service) -> Result<(), String> {
    if !SCHEDULERS.contains(&svc.scheduler.as_str()) {
        return Err(format!(
            "IPVS has no scheduler {:?} (one of {})",
            svc.scheduler,
            SCHEDULERS.join(" ")
        ));
    }
    service_flags(svc)?;
    if let ServiceKey::Ip { proto, .. } = svc.key {
        if proto != crate::model::Proto::Udp && svc.flags.iter().any(|f| f == "ops") {
            return Err("one-packet scheduling (ops) is only for UDP services".into());
        }
    }
    let family = svc.key.family();
    if let Some(p) = &svc.persistence {
        let max = if family == Family::V4 { 32 } else { 128 };
        if p.granularity > max || (family == Family::V6 && p.granularity == 0) {
            return Err(format!(
                "persistence granularity /{} out of range",
                p.granularity
            ));
        }
    }
    if svc.scheduler.len() >= 16 {
        return Err("scheduler name too long".into());
    }
    for (k, d) in &svc.destinations {
        tunnel_params(&d.method)?;
        if let Method::Tun {
            kind, port: None, ..
        } = &d.method
        {
            if kind.eq_ignore_ascii_case("gue") {
                return Err(format!("real server {k}: a GUE tunnel needs a port"));
            }
        }
        if let Method::Tun {
            kind,
            csum: Some(c),
            ..
        } = &d.method
        {
            if c.eq_ignore_ascii_case("remcsum") && !kind.eq_ignore_ascii_case("gue") {
                return Err(format!(
                    "real server {k}: remcsum needs a GUE tunnel, not {kind}"
                ));
            }
        }
        if Family::of(&k.addr) != family && !matches!(d.method, Method::Tun { .. }) {
            return Err(format!(
                "real server {k}: another address family than the service needs TUN forwarding"
            ));
        }
        if d.weight > i32::MAX as u32 {
            return Err(format!("real server {k}: weight {} too large", d.weight));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Dest, DestKey, Persistence, Proto};

    fn svc(sched: &str) -> Service {
        Service::new(
            ServiceKey::Ip {
                addr: "192.0.2.1".parse().unwrap(),
                port: 80,
                proto: Proto::Tcp,
            },
            sched,
        )
    }

    #[test]
    fn supports_everything_ipvs_has() {
        for s in SCHEDULERS {
            assert_eq!(supports(&svc(s)), Ok(()));
        }
        assert!(supports(&svc("nope")).is_err());
        let mut s = svc("sh");
        s.flags = vec!["sh-port".into(), "sh-fallback".into(), "ops".into()];
        assert!(supports(&s).unwrap_err().contains("UDP"));
        s.key = ServiceKey::Ip {
            addr: "192.0.2.1".parse().unwrap(),
            port: 53,
            proto: Proto::Udp,
        };
        s.persistence = Some(Persistence {
            timeout_s: 30,
            granularity: 24,
        });
        for (i, m) in [
            Method::Nat,
            Method::Dr,
            Method::Tun {
                kind: "gre".into(),
                port: None,
                csum: Some("csum".into()),
            },
        ]
        .into_iter()
        .enumerate()
        {
            s.destinations.insert(
                DestKey {
                    addr: format!("10.0.0.{i}").parse().unwrap(),
                    port: 80,
                },
                Dest {
                    weight: 1,
                    method: m,
                    u_threshold: 10,
                    l_threshold: 1,
                },
            );
        }
        assert_eq!(supports(&s), Ok(()));
        let mut bad = s.clone();
        bad.persistence = Some(Persistence {
            timeout_s: 30,
            granularity: 33,
        });
        assert!(supports(&bad).is_err());
        let mut bad = s.clone();
        bad.destinations.insert(
            DestKey {
                addr: "10.0.0.9".parse().unwrap(),
                port: 80,
            },
            Dest {
                method: Method::Tun {
                    kind: "gue".into(),
                    port: None,
                    csum: None,
                },
                ..Dest::nat(1)
            },
        );
        assert!(supports(&bad).unwrap_err().contains("GUE"));
        let mut bad = s;
        bad.destinations.insert(
            DestKey {
                addr: "2001:db8::9".parse().unwrap(),
                port: 80,
            },
            Dest::nat(1),
        );
        assert!(supports(&bad).is_err());
    }

    #[test]
    fn op_error_carries_errno_and_op() {
        let e = OpError::wrap(
            "NEW_DEST x".into(),
            io::Error::from_raw_os_error(libc::EEXIST),
        );
        let oe = OpError::of(&e).unwrap();
        assert_eq!(oe.errno, libc::EEXIST);
        assert_eq!(oe.op, "NEW_DEST x");
        assert!(e.to_string().contains("NEW_DEST x"), "{e}");
    }
}
