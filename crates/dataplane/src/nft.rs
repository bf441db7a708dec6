//! The nftables backend, for kernels without IPVS.
//!
//! # Ruleset
//!
//! Everything lives in one table of ours (`table inet keepalived_rs_lb` by
//! default); nothing else is read or touched. Fixed part:
//!
//! * `prerouting` (nat, priority dstnat) and `output` (nat, -100) jump to
//!   `dispatch`, which looks the packet up in three verdict maps: `fwm`
//!   (`meta mark . meta nfproto`), `svc4` / `svc6` (`daddr . l4proto . dport`)
//!   and `goto`s the service's chain `sN`.
//! * `post_pre` / `post_out` (filter, just after NAT) jump to `affinity`, which
//!   for a new DNATed connection of a persistent service `goto`s `sN_upd`.
//!   They see every packet, so they exist only once a persistent service has
//!   been created (they stay, empty of work, if it goes).
//!
//! Per service N:
//!
//! * `sN_slots`: `typeof numgen inc mod M : ip daddr . tcp dport`, the slot map
//!   (`size M`: a fixed-size hash, no rehashing while millions of slots load).
//!   M is fixed when the service is created (a multiple of 2520 for round
//!   robin, a prime for hashing), so a server coming, going or changing weight
//!   is only an element update. Slots are filled in proportion to weight:
//!   smooth interleaving for rr/wrr (changes move only the slots that must
//!   move), weighted Maglev for sh/mh/dh. Its comment records the service
//!   (`ka1 tcp 192.0.2.10 80 wrr m=2520 …`), for [`NftBackend::read`].
//! * `sN_w`: `daddr . port : weight`, the destinations including weight-0 ones
//!   (only bookkeeping: it lets `read` rebuild the pool exactly).
//! * `sN_aff` (persistent services): `saddr & mask : daddr . dport`, dynamic
//!   with the persistence timeout, filled by `sN_upd` once a connection is
//!   DNATed and consulted by `sN` before the slot map.
//! * chain `sN`: `[dnat to saddr & mask map @sN_aff]`,
//!   `dnat to numgen inc mod M map @sN_slots` (or `jhash saddr [. sport] mod M`).
//!
//! Destination changes are one hand-encoded nf_tables netlink batch (BEGIN,
//! DELSETELEM/NEWSETELEM, END) with no process started. Service additions and
//! removals (rare) take three steps: one `nft -f -` run creates the new
//! services' maps, chains and rules (a few lines each, no elements: nft's
//! parser is slow on millions of elements); netlink transactions as large as
//! the socket takes load their elements while nothing points at them yet; one
//! last transaction switches atomically: removed services' dispatch entries,
//! chains and maps go, new services' dispatch entries come, and the other
//! services' element changes are applied. A service created but never switched
//! in (a crash in between) is removed by the next [`NftBackend::read`].
//!
//! # Scheduling approximations
//!
//! rr and wrr are exact (slots interleaved by weight). lc maps to rr and
//! wlc / sed / nq to wrr, as nftables has no connection counts (logged when a
//! service is created); fo sends everything to the heaviest server; sh, mh
//! (and dh on the destination address) hash into a Maglev table, so a server
//! leaving moves little else. Other schedulers, DR / TUN forwarding,
//! thresholds, one-packet scheduling and port-0 services need IPVS:
//! [`NftBackend::supports`] says so.
//!
//! Persistence: when a destination is removed the service's whole affinity
//! map is flushed in the same transaction (clients re-pick; existing
//! connections to the live servers are unaffected). Weight 0 keeps the
//! affinity entries and connections, as IPVS does.
//!
//! # The DNAT-without-SNAT trap
//!
//! As in keepalived's NAT model, only the destination is rewritten: the real
//! servers see the client's own address and must route replies back through
//! the director (their gateway) so conntrack can undo the DNAT. A client that
//! can also reach a real server directly (same subnet, other route) may use the
//! same 4-tuple both ways: a connection through the VIP may find the server's
//! socket for that 4-tuple still in TIME_WAIT from a direct connection (or the
//! reverse) and stall until it expires; direct replies also bypass conntrack
//! and are dropped by the client as unknown. Keep clients and real servers on
//! different networks, or SNAT.

pub mod nl;
pub mod slots;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::Value;
use tokio::io::AsyncWriteExt;

use crate::backend::Backend;
use crate::diff::{apply_ops, Op};
use crate::model::{Dest, DestKey, Family, Persistence, Pool, Proto, Service, ServiceKey};
use crate::Error;
use nl::{
    BatchWriter, Data, ElemBatch, ElemChange, NlSocket, NFT_MSG_DELSETELEM, NFT_MSG_NEWSETELEM,
};
use slots::{Packed, Slots};

/// Default table name.
pub const DEFAULT_TABLE: &str = "keepalived_rs_lb";
/// jhash seed (fixed so a restart hashes clients the same way).
const SEED: &str = "0x6b61";
const PROTOS: [Proto; 3] = [Proto::Tcp, Proto::Udp, Proto::Sctp];
/// Bytes of one element-loading transaction (bounded also by the socket's
/// send buffer): ~64,000 slots, so 2.5 million take ~40 transactions.
const FILL_CHUNK: usize = 2 << 20;
/// Removed destinations up to which conntrack is searched by kernel-filtered
/// dumps (one each) rather than one full dump.
const CT_FILTERED_MAX: usize = 8;

/// Process starts and kernel transactions so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// `nft` processes started (structural changes, read, flush).
    pub nft_runs: u64,
    /// nf_tables netlink batches sent (destination changes).
    pub netlink_batches: u64,
    /// nf_tables netlink transactions of structural changes (loading new
    /// services' elements, switching services in and out).
    pub structural_batches: u64,
    /// Conntrack entries deleted for removed destinations.
    pub conntrack_deleted: u64,
    /// The last `apply`: microseconds computing the change, in the kernel
    /// transaction (netlink or `nft`), and flushing conntrack.
    pub last_compute_us: u64,
    pub last_kernel_us: u64,
    pub last_conntrack_us: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sched {
    /// numgen; weighted or not.
    Numgen(bool),
    /// jhash of the source (false) or destination (true) address.
    Hash(bool),
    Failover,
}

fn sched(name: &str) -> Option<Sched> {
    Some(match name {
        "rr" | "lc" => Sched::Numgen(false),
        "wrr" | "wlc" | "sed" | "nq" => Sched::Numgen(true),
        "sh" | "mh" => Sched::Hash(false),
        "dh" => Sched::Hash(true),
        "fo" => Sched::Failover,
        _ => return None,
    })
}

/// What fixes a service's nft objects: changing any of it rebuilds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Shape {
    v6: bool,
    /// fwmark service whose destinations keep the packet's port.
    addr_only: bool,
    m: u32,
}

fn shape_for(svc: &Service, old_m: Option<u32>) -> Shape {
    let n = svc.destinations.len();
    let need = match sched(&svc.scheduler) {
        Some(Sched::Hash(_)) => slots::hash_size(n),
        _ => slots::rr_size(n),
    };
    Shape {
        v6: svc.key.family() == Family::V6,
        addr_only: matches!(svc.key, ServiceKey::Fwmark { .. })
            && svc.destinations.keys().all(|d| d.port == 0),
        // grow only
        m: old_m.map_or(need, |m| if need > m { need } else { m }),
    }
}

#[derive(Debug, Clone)]
struct SvcState {
    id: u32,
    shape: Shape,
    slots: Packed,
    svc: Service,
}

/// A set element key or value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Val {
    U32(u32),
    /// addr . port (or addr only).
    Dest(DestKey, bool),
}

impl Val {
    fn bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(20);
        self.put(&mut v);
        v
    }
    /// Appends the element bytes to `out` (no allocation per element).
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            Val::U32(n) => out.extend_from_slice(&n.to_ne_bytes()),
            Val::Dest(d, addr_only) => {
                match d.addr {
                    IpAddr::V4(a) => out.extend_from_slice(&a.octets()),
                    IpAddr::V6(a) => out.extend_from_slice(&a.octets()),
                }
                if !addr_only {
                    // inet_service, padded to a 32-bit register
                    out.extend_from_slice(&d.port.to_be_bytes());
                    out.extend_from_slice(&[0, 0]);
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Change {
    set: String,
    key: Val,
    data: Option<Val>,
}

#[derive(Debug, Default)]
struct Changes {
    dels: Vec<Change>,
    adds: Vec<Change>,
    flushes: Vec<String>,
}

impl Changes {
    fn is_empty(&self) -> bool {
        self.dels.is_empty() && self.adds.is_empty() && self.flushes.is_empty()
    }
    fn batch(&self) -> ElemBatch {
        let conv = |c: &Change| ElemChange {
            set: c.set.clone(),
            key: c.key.bytes(),
            data: c.data.map(|d| d.bytes()),
        };
        ElemBatch {
            dels: self.dels.iter().map(conv).collect(),
            adds: self.adds.iter().map(conv).collect(),
            flushes: self.flushes.clone(),
        }
    }
}

/// The nftables load-balancer backend.
pub struct NftBackend {
    table: String,
    nft: String,
    state: BTreeMap<ServiceKey, SvcState>,
    next_id: u32,
    loaded: bool,
    sock: Option<NlSocket>,
    stats: Stats,
    /// Conntrack entries deleted (also by background flushes).
    ct_deleted: Arc<AtomicU64>,
    /// Flush conntrack on a thread of its own after `apply` returns.
    ct_background: bool,
    /// The last background flush (the next change waits for it, so that it
    /// never deletes connections that change made).
    ct_job: Option<std::thread::JoinHandle<()>>,
}

impl NftBackend {
    /// A backend for table `inet <table>` in the current network namespace
    /// (sockets are opened, and `nft` started, from the calling thread).
    pub fn new(table: &str) -> NftBackend {
        NftBackend {
            table: table.to_string(),
            nft: "nft".into(),
            state: BTreeMap::new(),
            next_id: 1,
            loaded: false,
            sock: None,
            stats: Stats::default(),
            ct_deleted: Arc::new(AtomicU64::new(0)),
            ct_background: false,
            ct_job: None,
        }
    }

    /// Use this `nft` binary.
    pub fn with_nft(mut self, path: &str) -> Self {
        self.nft = path.to_string();
        self
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Counters of process starts and transactions.
    pub fn stats(&self) -> Stats {
        Stats {
            conntrack_deleted: self.ct_deleted.load(Ordering::Relaxed),
            ..self.stats
        }
    }

    /// Flushes the conntrack entries of removed destinations on a thread of
    /// its own, after `apply` returned: the kernel walks its whole conntrack
    /// hash (every namespace's buckets) for a dump, which takes ~10-20 ms even
    /// when empty, while the rules change takes ~1 ms. The next change waits
    /// for it.
    pub fn with_background_conntrack(mut self) -> Self {
        self.ct_background = true;
        self
    }

    /// Waits for a background conntrack flush still running.
    fn join_conntrack(&mut self) {
        if let Some(h) = self.ct_job.take() {
            let _ = h.join();
        }
    }

    /// The pool as this backend last programmed or read it.
    pub fn pool(&self) -> Pool {
        self.state
            .iter()
            .map(|(k, s)| (*k, s.svc.clone()))
            .collect()
    }

    /// The slot table of a service (tests, diagnostics).
    pub fn slots(&self, key: &ServiceKey) -> Option<Slots> {
        self.state.get(key).map(|s| s.slots.unpack())
    }

    async fn run_nft(&mut self, args: &[&str], stdin: Option<&str>) -> Result<String, Error> {
        self.stats.nft_runs += 1;
        let mut cmd = tokio::process::Command::new(&self.nft);
        cmd.args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::Nft(format!("{}: {e}", self.nft)))?;
        if let Some(text) = stdin {
            let mut si = child.stdin.take().expect("piped stdin");
            si.write_all(text.as_bytes())
                .await
                .map_err(|e| Error::Nft(format!("writing to nft: {e}")))?;
            drop(si);
        }
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| Error::Nft(format!("nft: {e}")))?;
        if !out.status.success() {
            return Err(Error::Nft(
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The fixed part of the table. The filter hooks that record persistence
    /// affinity (`post_pre`, `post_out`) see every packet, so they are only
    /// added once a persistent service is: `affinity_hooks`.
    fn base_script(&self, affinity_hooks: bool) -> String {
        let t = &self.table;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "table inet {t} {{
  map svc4 {{ type ipv4_addr . inet_proto . inet_service : verdict; }}
  map svc6 {{ type ipv6_addr . inet_proto . inet_service : verdict; }}
  map fwm {{ type mark . nf_proto : verdict; }}
  map afffwm {{ type mark . nf_proto : verdict; }}"
        );
        for p in PROTOS {
            let _ = writeln!(
                s,
                "  map aff4_{p} {{ type ipv4_addr . inet_service : verdict; }}
  map aff6_{p} {{ type ipv6_addr . inet_service : verdict; }}",
                p = p.name()
            );
        }
        let _ = writeln!(
            s,
            "  chain dispatch {{ }}
  chain affinity {{ }}
  chain prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}
  chain output {{ type nat hook output priority -100; policy accept; }}
}}
flush chain inet {t} dispatch
add rule inet {t} dispatch meta mark . meta nfproto vmap @fwm
add rule inet {t} dispatch ip daddr . meta l4proto . th dport vmap @svc4
add rule inet {t} dispatch ip6 daddr . meta l4proto . th dport vmap @svc6
flush chain inet {t} affinity
add rule inet {t} affinity meta mark . meta nfproto vmap @afffwm"
        );
        for p in PROTOS {
            for (f, n) in [("ip", 4), ("ip6", 6)] {
                let _ = writeln!(
                    s,
                    "add rule inet {t} affinity meta l4proto {p} ct original {f} daddr . ct original proto-dst vmap @aff{n}_{p}",
                    p = p.name()
                );
            }
        }
        for c in ["prerouting", "output"] {
            let _ = writeln!(
                s,
                "flush chain inet {t} {c}\nadd rule inet {t} {c} jump dispatch"
            );
        }
        if affinity_hooks {
            for (c, hook, prio) in [
                ("post_pre", "prerouting", "dstnat + 1"),
                ("post_out", "output", "-99"),
            ] {
                let _ = writeln!(
                    s,
                    "add chain inet {t} {c} {{ type filter hook {hook} priority {prio}; policy accept; }}
flush chain inet {t} {c}
add rule inet {t} {c} ct state new ct status dnat jump affinity"
                );
            }
        }
        s
    }

    /// Script lines creating service `st` (without its elements).
    fn create_script(&self, st: &SvcState, out: &mut String) {
        let t = &self.table;
        let id = st.id;
        let svc = &st.svc;
        let f = if st.shape.v6 { "ip6" } else { "ip" };
        let dproto = match svc.key {
            ServiceKey::Ip { proto, .. } => proto,
            ServiceKey::Fwmark { .. } => Proto::Tcp,
        };
        let data = if st.shape.addr_only {
            format!("{f} daddr")
        } else {
            format!("{f} daddr . {} dport", dproto.name())
        };
        let m = st.shape.m;
        let _ = writeln!(
            out,
            "add map inet {t} s{id}_slots {{ typeof numgen inc mod {m} : {data}; size {m}; comment \"{}\"; }}",
            comment(svc, &st.shape)
        );
        let wtype = if st.shape.v6 {
            "ipv6_addr"
        } else {
            "ipv4_addr"
        };
        let _ = writeln!(
            out,
            "add map inet {t} s{id}_w {{ type {wtype} . inet_service : mark; }}"
        );
        let kind = sched(&svc.scheduler).unwrap_or(Sched::Numgen(true));
        let port_hash = svc.flags.iter().any(|x| x == "sh-port" || x == "mh-port");
        let selector = |p: Proto| match kind {
            Sched::Numgen(_) | Sched::Failover => format!("numgen inc mod {m}"),
            Sched::Hash(dst) => {
                let a = if dst { "daddr" } else { "saddr" };
                if port_hash {
                    format!("jhash {f} {a} . {} sport mod {m} seed {SEED}", p.name())
                } else {
                    format!("jhash {f} {a} mod {m} seed {SEED}")
                }
            }
        };
        let protos: Vec<Option<Proto>> = match svc.key {
            ServiceKey::Ip { proto, .. } => vec![Some(proto)],
            ServiceKey::Fwmark { .. } if st.shape.addr_only => vec![None],
            ServiceKey::Fwmark { .. } => PROTOS.iter().map(|p| Some(*p)).collect(),
        };
        let pmatch =
            |p: Option<Proto>| p.map_or(String::new(), |p| format!("meta l4proto {} ", p.name()));
        let _ = writeln!(out, "add chain inet {t} s{id}");
        if let Some(per) = svc.persistence {
            let key = format!("{f} saddr{}", mask(per.granularity, st.shape.v6));
            let _ = writeln!(
                out,
                "add map inet {t} s{id}_aff {{ typeof {f} saddr : {data}; size 65535; flags dynamic,timeout; timeout {}s; }}",
                per.timeout_s.max(1)
            );
            let _ = writeln!(out, "add chain inet {t} s{id}_upd");
            for p in &protos {
                let _ = writeln!(
                    out,
                    "add rule inet {t} s{id} {}dnat {f} to {key} map @s{id}_aff",
                    pmatch(*p)
                );
                let upd_data = match p {
                    Some(p) if !st.shape.addr_only => format!("{f} daddr . {} dport", p.name()),
                    _ => format!("{f} daddr"),
                };
                let _ = writeln!(
                    out,
                    "add rule inet {t} s{id}_upd {}update @s{id}_aff {{ {key} : {upd_data} }}",
                    pmatch(*p)
                );
            }
        }
        for p in &protos {
            let _ = writeln!(
                out,
                "add rule inet {t} s{id} {}dnat {f} to {} map @s{id}_slots",
                pmatch(*p),
                selector(p.unwrap_or(dproto))
            );
        }
    }

    fn socket(&mut self) -> Result<&mut NlSocket, Error> {
        if self.sock.is_none() {
            self.sock = Some(NlSocket::netfilter().map_err(Error::Netlink)?);
        }
        Ok(self.sock.as_mut().expect("socket"))
    }

    /// Services added, removed or rebuilt, with `ch` (the other services'
    /// element changes) in the same switching transaction.
    async fn structural(
        &mut self,
        removed: &[SvcState],
        created: &[SvcState],
        ch: &Changes,
    ) -> Result<(), Error> {
        let t0 = std::time::Instant::now();
        if !created.is_empty() {
            let persistent = |st: &SvcState| st.svc.persistence.is_some();
            let hooks = created.iter().any(persistent) || self.state.values().any(persistent);
            let mut script = self.base_script(hooks);
            for st in created {
                self.create_script(st, &mut script);
            }
            self.run_nft(&["-f", "-"], Some(&script)).await?;
        }
        let t1 = std::time::Instant::now();
        let r = match self.fill(created).await {
            Ok(()) => self.switch(removed, created, ch),
            Err(e) => Err(e),
        };
        tracing::debug!(
            "nftables: {} service(s) created, {} removed: nft {} ms, elements and switch {} ms",
            created.len(),
            removed.len(),
            (t1 - t0).as_millis(),
            t1.elapsed().as_millis()
        );
        if r.is_err() && !created.is_empty() {
            // nothing points at them: take them away again
            let t = self.table.clone();
            let discard = self.socket().and_then(|sock| {
                let mut w = BatchWriter::new(&t, sock.next_seq(), false);
                for st in created {
                    delete_objects(&mut w, st, false);
                }
                send(sock, w)
            });
            if let Err(e) = discard {
                tracing::warn!("nftables: removing half-built services: {e}");
            }
        }
        r
    }

    /// Loads the elements of services not yet reachable, in transactions of
    /// [`FILL_CHUNK`] (yielding in between, so checkers keep running).
    async fn fill(&mut self, created: &[SvcState]) -> Result<(), Error> {
        if created.is_empty() {
            return Ok(());
        }
        let table = self.table.clone();
        let cap = self.socket()?.send_capacity().min(FILL_CHUNK);
        let mut w = BatchWriter::new(&table, self.socket()?.next_seq(), false);
        let (mut key, mut data) = (Vec::new(), Vec::new());
        for st in created {
            let ao = st.shape.addr_only;
            let wset = format!("s{}_w", st.id);
            let sset = format!("s{}_slots", st.id);
            let weights = st
                .svc
                .destinations
                .iter()
                .map(|(k, d)| (&wset, Val::Dest(*k, false), Val::U32(d.weight)));
            let slots = st
                .slots
                .iter()
                .enumerate()
                .filter_map(|(i, d)| Some((&sset, Val::U32(i as u32), Val::Dest(d?, ao))));
            for (set, k, d) in weights.chain(slots) {
                key.clear();
                data.clear();
                k.put(&mut key);
                d.put(&mut data);
                w.elem(NFT_MSG_NEWSETELEM, set, &key, Some(Data::Value(&data)));
                if w.len() >= cap {
                    let sock = self.socket()?;
                    send(
                        sock,
                        std::mem::replace(&mut w, BatchWriter::new(&table, 0, false)),
                    )?;
                    // numbered after the transaction just sent
                    w = BatchWriter::new(&table, sock.next_seq(), false);
                    self.stats.structural_batches += 1;
                    tokio::task::yield_now().await;
                }
            }
        }
        if !w.is_empty() {
            send(self.socket()?, w)?;
            self.stats.structural_batches += 1;
        }
        Ok(())
    }

    /// One transaction: `removed` out, `created` in, `ch` applied.
    fn switch(
        &mut self,
        removed: &[SvcState],
        created: &[SvcState],
        ch: &Changes,
    ) -> Result<(), Error> {
        let table = self.table.clone();
        let sock = self.socket()?;
        let mut w = BatchWriter::new(&table, sock.next_seq(), false);
        for st in removed {
            delete_objects(&mut w, st, true);
        }
        for st in created {
            let goto = format!("s{}", st.id);
            let (set, key) = dispatch_key(&st.svc.key);
            w.elem(NFT_MSG_NEWSETELEM, set, &key, Some(Data::Goto(&goto)));
            if st.svc.persistence.is_some() {
                let upd = format!("s{}_upd", st.id);
                let (set, key) = aff_key(&st.svc.key);
                w.elem(NFT_MSG_NEWSETELEM, &set, &key, Some(Data::Goto(&upd)));
            }
        }
        nl::write_batch(&mut w, &ch.batch());
        if w.is_empty() {
            return Ok(());
        }
        send(sock, w)?;
        self.stats.structural_batches += 1;
        Ok(())
    }

    /// Element changes only: one transaction, every message acknowledged.
    fn fast_path(&mut self, ch: &Changes) -> Result<(), Error> {
        let table = self.table.clone();
        let sock = self.socket()?;
        let mut w = BatchWriter::new(&table, sock.next_seq(), true);
        nl::write_batch(&mut w, &ch.batch());
        self.stats.netlink_batches += 1;
        send(self.socket()?, w)
    }
}

/// Deletes the conntrack entries of connections to `gone` destinations (over
/// `sock`, in its namespace); returns how many.
fn flush_conntrack(sock: &mut NlSocket, gone: &[(ServiceKey, DestKey)]) -> u64 {
    let mut deleted = 0;
    for v6 in [false, true] {
        // by the reply's source (the real server)
        let mut by_src: HashMap<IpAddr, Vec<(ServiceKey, DestKey)>> = HashMap::new();
        for (k, d) in gone {
            if (k.family() == Family::V6) == v6 {
                by_src.entry(d.addr).or_default().push((*k, *d));
            }
        }
        if by_src.is_empty() {
            continue;
        }
        // a few servers: the kernel picks their entries (a busy director
        // has a large table); many (services removed): one full dump. Not
        // for IPv6: this kernel's (6.18) dump filter inverts the address
        // comparison there (an equal address is a mismatch).
        let filters: Vec<nl::CtFilter> = if !v6 && gone.len() <= CT_FILTERED_MAX {
            by_src
                .values()
                .flatten()
                .map(|(k, d)| {
                    let proto = match k {
                        ServiceKey::Ip { proto, .. } => Some(proto.number()),
                        ServiceKey::Fwmark { .. } => None,
                    };
                    nl::CtFilter {
                        reply_src: d.addr,
                        proto,
                        reply_sport: proto.and((d.port != 0).then_some(d.port)),
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        let r = nl::conntrack_delete(sock, v6, &filters, |orig, reply| {
            by_src.get(&reply.src).is_some_and(|v| {
                v.iter().any(|(k, d)| {
                    (d.port == 0 || reply.sport == d.port)
                        && match k {
                            ServiceKey::Ip { addr, port, proto } => {
                                orig.dst == *addr
                                    && orig.dport == *port
                                    && orig.proto == proto.number()
                            }
                            ServiceKey::Fwmark { .. } => orig.dst != reply.src,
                        }
                })
            })
        });
        match r {
            Ok(n) => deleted += n as u64,
            Err(e) => tracing::warn!("conntrack flush failed: {e}"),
        }
    }
    deleted
}

/// Sends one transaction and waits for its acknowledgement.
fn send(sock: &mut NlSocket, w: BatchWriter) -> Result<(), Error> {
    let (bytes, acks, last) = w.finish();
    sock.set_seq(last);
    sock.transact(&bytes, &acks).map_err(Error::Netlink)
}

/// Deletes a service's objects: with `reachable`, first its dispatch (and
/// affinity dispatch) entries, which reference its chains.
fn delete_objects(w: &mut BatchWriter, st: &SvcState, reachable: bool) {
    let id = st.id;
    let persistent = st.svc.persistence.is_some();
    if reachable {
        let (set, key) = dispatch_key(&st.svc.key);
        w.elem(NFT_MSG_DELSETELEM, set, &key, None);
        if persistent {
            let (set, key) = aff_key(&st.svc.key);
            w.elem(NFT_MSG_DELSETELEM, &set, &key, None);
        }
    }
    let chain = format!("s{id}");
    w.flush_chain(&chain);
    w.del_chain(&chain);
    if persistent {
        let upd = format!("s{id}_upd");
        w.flush_chain(&upd);
        w.del_chain(&upd);
        w.del_set(&format!("s{id}_aff"));
    }
    w.del_set(&format!("s{id}_slots"));
    w.del_set(&format!("s{id}_w"));
}

fn addr_bytes(a: &IpAddr, out: &mut Vec<u8>) {
    match a {
        IpAddr::V4(a) => out.extend_from_slice(&a.octets()),
        IpAddr::V6(a) => out.extend_from_slice(&a.octets()),
    }
}

/// `mark . nf_proto` (each field of a concatenation takes 4 bytes).
fn fwmark_key(mark: u32, family: Family) -> Vec<u8> {
    let nfproto = if family == Family::V6 { 10 } else { 2 };
    let mut k = mark.to_ne_bytes().to_vec();
    k.extend_from_slice(&[nfproto, 0, 0, 0]);
    k
}

/// A service's element in `svc4` / `svc6` (`daddr . l4proto . dport`) or `fwm`.
fn dispatch_key(key: &ServiceKey) -> (&'static str, Vec<u8>) {
    match *key {
        ServiceKey::Ip { addr, port, proto } => {
            let mut k = Vec::with_capacity(24);
            addr_bytes(&addr, &mut k);
            k.extend_from_slice(&[proto.number(), 0, 0, 0]);
            k.extend_from_slice(&port.to_be_bytes());
            k.extend_from_slice(&[0, 0]);
            (if addr.is_ipv6() { "svc6" } else { "svc4" }, k)
        }
        ServiceKey::Fwmark { mark, family } => ("fwm", fwmark_key(mark, family)),
    }
}

/// A persistent service's element in `aff{4,6}_<proto>` (`daddr . dport`) or `afffwm`.
fn aff_key(key: &ServiceKey) -> (String, Vec<u8>) {
    match *key {
        ServiceKey::Ip { addr, port, proto } => {
            let mut k = Vec::with_capacity(20);
            addr_bytes(&addr, &mut k);
            k.extend_from_slice(&port.to_be_bytes());
            k.extend_from_slice(&[0, 0]);
            let n = if addr.is_ipv6() { 6 } else { 4 };
            (format!("aff{n}_{}", proto.name()), k)
        }
        ServiceKey::Fwmark { mark, family } => ("afffwm".into(), fwmark_key(mark, family)),
    }
}

/// ` & <mask>` for a prefix shorter than the address, else nothing.
fn mask(prefix: u8, v6: bool) -> String {
    if v6 {
        if prefix >= 128 {
            return String::new();
        }
        let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
        format!(" & {}", std::net::Ipv6Addr::from(m))
    } else {
        if prefix >= 32 {
            return String::new();
        }
        let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
        format!(" & {}", std::net::Ipv4Addr::from(m))
    }
}

/// `ka1 <key> <sched> m=<M> [p=<timeout>/<prefix>] [f=<flags>]`.
fn comment(svc: &Service, shape: &Shape) -> String {
    let mut s = String::from("ka1 ");
    match svc.key {
        ServiceKey::Ip { addr, port, proto } => {
            let _ = write!(s, "{} {addr} {port}", proto.name());
        }
        ServiceKey::Fwmark { mark, family } => {
            let _ = write!(
                s,
                "fwmark {mark} {}",
                if family == Family::V6 { 6 } else { 4 }
            );
        }
    }
    let _ = write!(s, " {} m={}", svc.scheduler, shape.m);
    if let Some(p) = svc.persistence {
        let _ = write!(s, " p={}/{}", p.timeout_s, p.granularity);
    }
    if !svc.flags.is_empty() {
        let _ = write!(s, " f={}", svc.flags.join(","));
    }
    s
}

/// Parses [`comment`]: the service (without destinations) and M.
fn parse_comment(c: &str) -> Option<(Service, u32)> {
    let w: Vec<&str> = c.split_whitespace().collect();
    if w.first() != Some(&"ka1") || w.len() < 6 {
        return None;
    }
    let key = if w[1] == "fwmark" {
        ServiceKey::Fwmark {
            mark: w[2].parse().ok()?,
            family: if w[3] == "6" { Family::V6 } else { Family::V4 },
        }
    } else {
        ServiceKey::Ip {
            addr: w[2].parse().ok()?,
            port: w[3].parse().ok()?,
            proto: Proto::from_name(w[1])?,
        }
    };
    let mut svc = Service::new(key, w[4]);
    let mut m = 0;
    for x in &w[5..] {
        if let Some(v) = x.strip_prefix("m=") {
            m = v.parse().ok()?;
        } else if let Some(v) = x.strip_prefix("p=") {
            let (t, g) = v.split_once('/')?;
            svc.persistence = Some(Persistence {
                timeout_s: t.parse().ok()?,
                granularity: g.parse().ok()?,
            });
        } else if let Some(v) = x.strip_prefix("f=") {
            svc.flags = v.split(',').map(String::from).collect();
        }
    }
    Some((svc, m))
}

fn json_dest(v: &Value) -> Option<DestKey> {
    let port = |p: &Value| {
        p.as_u64()
            .map(|n| n as u16)
            .or_else(|| p.as_str().and_then(|s| s.parse().ok()))
    };
    match v {
        Value::String(a) => Some(DestKey {
            addr: a.parse().ok()?,
            port: 0,
        }),
        Value::Object(o) => {
            let c = o.get("concat")?.as_array()?;
            Some(DestKey {
                addr: c.first()?.as_str()?.parse().ok()?,
                port: port(c.get(1)?)?,
            })
        }
        _ => None,
    }
}

/// `sN_<suffix>` → N.
fn set_id(name: &str, suffix: &str) -> Option<u32> {
    name.strip_prefix('s')?.strip_suffix(suffix)?.parse().ok()
}

/// A service as [`parse_table`] finds it.
type Parsed = (u32, Shape, Slots, Service);

/// Rebuilds the services from `nft -j list table` output; also the ids that
/// the dispatch maps point at (a service missing there was never switched in).
fn parse_table(json: &str) -> Result<(Vec<Parsed>, BTreeSet<u32>), Error> {
    let v: Value = serde_json::from_str(json).map_err(|e| Error::Nft(format!("nft -j: {e}")))?;
    let empty = Vec::new();
    let items = v["nftables"].as_array().unwrap_or(&empty);
    let mut svcs: BTreeMap<u32, (Shape, Slots, Service)> = BTreeMap::new();
    let mut weights: BTreeMap<u32, Vec<(DestKey, u32)>> = BTreeMap::new();
    let mut active = BTreeSet::new();
    for it in items {
        let Some(map) = it.get("map") else { continue };
        let name = map["name"].as_str().unwrap_or("");
        let elems = map["elem"].as_array().unwrap_or(&empty);
        if matches!(name, "svc4" | "svc6" | "fwm") {
            for e in elems {
                if let Some(id) = e[1]["goto"]["target"].as_str().and_then(|t| set_id(t, "")) {
                    active.insert(id);
                }
            }
        } else if let Some(id) = set_id(name, "_slots") {
            let Some((svc, m)) = map["comment"].as_str().and_then(parse_comment) else {
                continue;
            };
            let addr_only = !map["map"]
                .as_str()
                .is_some_and(|t| t.contains("inet_service"));
            let mut slots: Slots = vec![None; m as usize];
            for e in elems {
                let (Some(i), Some(d)) = (e[0].as_u64(), json_dest(&e[1])) else {
                    continue;
                };
                if let Some(s) = slots.get_mut(i as usize) {
                    *s = Some(d);
                }
            }
            let shape = Shape {
                v6: svc.key.family() == Family::V6,
                addr_only,
                m,
            };
            svcs.insert(id, (shape, slots, svc));
        } else if let Some(id) = set_id(name, "_w") {
            let w = weights.entry(id).or_default();
            for e in elems {
                if let (Some(d), Some(n)) = (json_dest(&e[0]), e[1].as_u64()) {
                    w.push((d, n as u32));
                }
            }
        }
    }
    let svcs = svcs
        .into_iter()
        .map(|(id, (shape, slots, mut svc))| {
            for (d, w) in weights.remove(&id).unwrap_or_default() {
                let d = if shape.addr_only {
                    DestKey { port: 0, ..d }
                } else {
                    d
                };
                svc.destinations.insert(d, Dest::nat(w));
            }
            (id, shape, slots, svc)
        })
        .collect();
    Ok((svcs, active))
}

fn weights_for(svc: &Service) -> Vec<(DestKey, u32)> {
    let unweighted = matches!(sched(&svc.scheduler), Some(Sched::Numgen(false)));
    svc.destinations
        .iter()
        .map(|(k, d)| {
            (
                *k,
                if unweighted {
                    d.weight.min(1)
                } else {
                    d.weight
                },
            )
        })
        .collect()
}

fn compute_slots(svc: &Service, m: u32, old: &Packed) -> Packed {
    let w = weights_for(svc);
    let m = m as usize;
    match sched(&svc.scheduler) {
        Some(Sched::Hash(_)) => Packed::pack(&slots::maglev(&w, m)),
        Some(Sched::Failover) => Packed::pack(&slots::failover(&w, m)),
        _ => slots::wrr_update_packed(old, &w, m),
    }
}

/// Element changes turning `old` (None: a new, empty service) into `new`.
fn elem_changes(old: Option<&SvcState>, new: &SvcState, ch: &mut Changes) {
    let id = new.id;
    let ao = new.shape.addr_only;
    let wset = format!("s{id}_w");
    let sset = format!("s{id}_slots");
    let empty = BTreeMap::new();
    let old_d = old.map_or(&empty, |o| &o.svc.destinations);
    for (k, d) in old_d {
        match new.svc.destinations.get(k) {
            Some(n) if n.weight == d.weight => {}
            _ => ch.dels.push(Change {
                set: wset.clone(),
                key: Val::Dest(*k, false),
                data: None,
            }),
        }
    }
    for (k, d) in &new.svc.destinations {
        if old_d.get(k).is_none_or(|o| o.weight != d.weight) {
            ch.adds.push(Change {
                set: wset.clone(),
                key: Val::Dest(*k, false),
                data: Some(Val::U32(d.weight)),
            });
        }
    }
    for (i, n) in new.slots.iter().enumerate() {
        let o = old.and_then(|o| o.slots.get(i));
        if o == n {
            continue;
        }
        if o.is_some() {
            ch.dels.push(Change {
                set: sset.clone(),
                key: Val::U32(i as u32),
                data: None,
            });
        }
        if let Some(d) = n {
            ch.adds.push(Change {
                set: sset.clone(),
                key: Val::U32(i as u32),
                data: Some(Val::Dest(d, ao)),
            });
        }
    }
    if new.svc.persistence.is_some() && old_d.keys().any(|k| !new.svc.destinations.contains_key(k))
    {
        ch.flushes.push(format!("s{id}_aff"));
    }
}

impl Backend for NftBackend {
    async fn read(&mut self) -> Result<Pool, Error> {
        let json = match self
            .run_nft(&["-j", "list", "table", "inet", &self.table.clone()], None)
            .await
        {
            Ok(j) => j,
            Err(Error::Nft(e)) if e.contains("No such file") => {
                self.state.clear();
                self.loaded = true;
                return Ok(Pool::new());
            }
            Err(e) => return Err(e),
        };
        self.state.clear();
        let (parsed, active) = parse_table(&json)?;
        drop(json);
        let mut orphans = Vec::new();
        for (id, shape, slots, svc) in parsed {
            self.next_id = self.next_id.max(id + 1);
            let st = SvcState {
                id,
                shape,
                slots: Packed::pack(&slots),
                svc,
            };
            if active.contains(&id) {
                self.state.insert(st.svc.key, st);
            } else {
                orphans.push(st);
            }
        }
        if !orphans.is_empty() {
            tracing::warn!(
                "nftables: removing {} service(s) built but never switched in",
                orphans.len()
            );
            let t = self.table.clone();
            let sock = self.socket()?;
            let mut w = BatchWriter::new(&t, sock.next_seq(), false);
            for st in &orphans {
                delete_objects(&mut w, st, false);
            }
            send(sock, w)?;
        }
        self.loaded = true;
        Ok(self.pool())
    }

    async fn apply(&mut self, ops: &[Op]) -> Result<(), Error> {
        if ops.is_empty() {
            return Ok(());
        }
        if !self.loaded {
            self.read().await?;
        }
        self.join_conntrack();
        let t0 = std::time::Instant::now();
        let touched: BTreeSet<ServiceKey> = ops.iter().map(Op::service).collect();
        // only the services the operations name
        let mut pool: Pool = touched
            .iter()
            .filter_map(|k| self.state.get(k).map(|s| (*k, s.svc.clone())))
            .collect();
        apply_ops(&mut pool, ops).map_err(Error::Ops)?;
        for k in &touched {
            if let Some(s) = pool.get(k) {
                self.supports(s).map_err(Error::Unsupported)?;
            }
        }
        let mut removed: Vec<SvcState> = Vec::new();
        let mut created: Vec<SvcState> = Vec::new();
        let mut updated: Vec<SvcState> = Vec::new();
        let mut ch = Changes::default();
        for k in &touched {
            let old = self.state.get(k);
            match (old, pool.get(k)) {
                (None, None) => {}
                (Some(o), None) => removed.push(o.clone()),
                (old, Some(new)) => {
                    let shape = shape_for(new, old.map(|o| o.shape.m));
                    match old {
                        Some(o) if o.svc.same_header(new) && o.shape == shape => {
                            let st = SvcState {
                                id: o.id,
                                shape,
                                slots: compute_slots(new, shape.m, &o.slots),
                                svc: new.clone(),
                            };
                            elem_changes(Some(o), &st, &mut ch);
                            updated.push(st);
                        }
                        _ => {
                            if let Some(o) = old {
                                removed.push(o.clone());
                            }
                            if let (Some(Sched::Numgen(_)), "lc" | "wlc" | "sed" | "nq") =
                                (sched(&new.scheduler), new.scheduler.as_str())
                            {
                                tracing::warn!(
                                    "nftables: {} scheduler {} approximated by {} (no connection counts without IPVS)",
                                    new.key,
                                    new.scheduler,
                                    if new.scheduler == "lc" { "rr" } else { "wrr" }
                                );
                            }
                            let id = self.next_id;
                            self.next_id += 1;
                            let st = SvcState {
                                id,
                                shape,
                                slots: compute_slots(new, shape.m, &Packed::default()),
                                svc: new.clone(),
                            };
                            created.push(st);
                        }
                    }
                }
            }
        }
        let t1 = std::time::Instant::now();
        if !removed.is_empty() || !created.is_empty() {
            self.structural(&removed, &created, &ch).await?;
        } else if !ch.is_empty() {
            self.fast_path(&ch)?;
        }
        let t2 = std::time::Instant::now();
        // connections to destinations that are gone (not merely at weight 0)
        let mut gone = Vec::new();
        for op in ops {
            match op {
                Op::DelDest { service, dest } => gone.push((*service, *dest)),
                Op::DelService(k) => {
                    if let Some(s) = self.state.get(k) {
                        gone.extend(s.svc.destinations.keys().map(|d| (*k, *d)));
                    }
                }
                _ => {}
            }
        }
        for st in removed {
            self.state.remove(&st.svc.key);
        }
        for st in created.into_iter().chain(updated) {
            self.state.insert(st.svc.key, st);
        }
        if !gone.is_empty() {
            // opened here: a thread of ours may sit in another network namespace
            match NlSocket::netfilter() {
                Ok(mut sock) if self.ct_background => {
                    let counter = self.ct_deleted.clone();
                    let job =
                        std::thread::Builder::new()
                            .name("conntrack".into())
                            .spawn(move || {
                                counter.fetch_add(
                                    flush_conntrack(&mut sock, &gone),
                                    Ordering::Relaxed,
                                );
                            });
                    match job {
                        Ok(h) => self.ct_job = Some(h),
                        Err(e) => tracing::warn!("conntrack flush: {e}"),
                    }
                }
                Ok(mut sock) => {
                    let n = flush_conntrack(&mut sock, &gone);
                    self.ct_deleted.fetch_add(n, Ordering::Relaxed);
                }
                Err(e) => tracing::warn!("conntrack flush failed: {e}"),
            }
        }
        self.stats.last_compute_us = (t1 - t0).as_micros() as u64;
        self.stats.last_kernel_us = (t2 - t1).as_micros() as u64;
        self.stats.last_conntrack_us = t2.elapsed().as_micros() as u64;
        tracing::debug!(
            "nftables: {} op(s): compute {} us, kernel {} us, conntrack {} us",
            ops.len(),
            self.stats.last_compute_us,
            self.stats.last_kernel_us,
            self.stats.last_conntrack_us
        );
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Error> {
        self.join_conntrack();
        let t = self.table.clone();
        let r = self
            .run_nft(
                &["-f", "-"],
                Some(&format!("table inet {t}\ndelete table inet {t}\n")),
            )
            .await;
        self.state.clear();
        self.loaded = true;
        r.map(|_| ())
    }

    fn name(&self) -> &'static str {
        "nftables"
    }

    fn supports(&self, svc: &Service) -> Result<(), String> {
        const USE_IPVS: &str = "use the IPVS backend on a kernel with IPVS";
        if sched(&svc.scheduler).is_none() {
            return Err(format!(
                "scheduler {} is not available with nftables; {USE_IPVS}",
                svc.scheduler
            ));
        }
        if svc.flags.iter().any(|f| f == "ops") {
            return Err(format!("one-packet scheduling needs IPVS; {USE_IPVS}"));
        }
        let port_hash = svc.flags.iter().any(|x| x == "sh-port" || x == "mh-port");
        match svc.key {
            ServiceKey::Ip { port: 0, .. } => {
                return Err(format!(
                    "port 0 (all ports) services are not available with nftables; {USE_IPVS}"
                ))
            }
            ServiceKey::Fwmark { .. } => {
                if port_hash {
                    return Err(format!("sh-port/mh-port on a fwmark service; {USE_IPVS}"));
                }
                let zero = svc.destinations.keys().filter(|d| d.port == 0).count();
                if zero != 0 && zero != svc.destinations.len() {
                    return Err(format!(
                        "fwmark service mixing real servers with and without port; {USE_IPVS}"
                    ));
                }
            }
            _ => {}
        }
        let fam = svc.key.family();
        for (k, d) in &svc.destinations {
            if d.method != crate::model::Method::Nat {
                return Err(format!(
                    "real server {k}: forwarding method {:?} needs IPVS (nftables does NAT only); {USE_IPVS}",
                    d.method
                ));
            }
            if d.u_threshold != 0 || d.l_threshold != 0 {
                return Err(format!(
                    "real server {k}: uthreshold/lthreshold need connection counts; {USE_IPVS}"
                ));
            }
            if Family::of(&k.addr) != fam {
                return Err(format!(
                    "real server {k}: address family differs from the service's (NAT cannot translate families)"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(sched: &str) -> Service {
        let mut s = Service::new(
            ServiceKey::Ip {
                addr: "192.0.2.10".parse().unwrap(),
                port: 80,
                proto: Proto::Tcp,
            },
            sched,
        );
        s.persistence = Some(Persistence {
            timeout_s: 300,
            granularity: 24,
        });
        s.flags = vec!["sh-port".into()];
        s
    }

    #[test]
    fn comment_round_trip() {
        let s = svc("sh");
        let shape = shape_for(&s, None);
        let c = comment(&s, &shape);
        assert_eq!(c, "ka1 tcp 192.0.2.10 80 sh m=251 p=300/24 f=sh-port");
        let (back, m) = parse_comment(&c).unwrap();
        assert_eq!(back, s);
        assert_eq!(m, 251);
        let f = Service::new(
            ServiceKey::Fwmark {
                mark: 9,
                family: Family::V6,
            },
            "rr",
        );
        let (back, _) = parse_comment(&comment(&f, &shape_for(&f, None))).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn masks() {
        assert_eq!(mask(24, false), " & 255.255.255.0");
        assert_eq!(mask(32, false), "");
        assert_eq!(mask(64, true), " & ffff:ffff:ffff:ffff::");
    }

    #[test]
    fn supports_says_use_ipvs() {
        let b = NftBackend::new("t");
        assert!(b.supports(&svc("wrr")).is_ok());
        assert!(b.supports(&svc("lblc")).unwrap_err().contains("IPVS"));
        let mut s = svc("rr");
        s.destinations.insert(
            DestKey {
                addr: "10.0.0.1".parse().unwrap(),
                port: 80,
            },
            Dest {
                method: crate::model::Method::Dr,
                ..Dest::nat(1)
            },
        );
        assert!(b.supports(&s).unwrap_err().contains("IPVS"));
    }

    #[test]
    fn weight_change_touches_weights_and_moved_slots_only() {
        let mut s = svc("wrr");
        s.persistence = None;
        for n in 1..=3 {
            s.destinations.insert(
                DestKey {
                    addr: format!("10.0.0.{n}").parse().unwrap(),
                    port: 80,
                },
                Dest::nat(1),
            );
        }
        let shape = shape_for(&s, None);
        let a = SvcState {
            id: 1,
            shape,
            slots: compute_slots(&s, shape.m, &Packed::default()),
            svc: s.clone(),
        };
        let mut s2 = s.clone();
        s2.destinations.values_mut().next().unwrap().weight = 0;
        let b = SvcState {
            slots: compute_slots(&s2, shape.m, &a.slots),
            svc: s2,
            ..a.clone()
        };
        let mut ch = Changes::default();
        elem_changes(Some(&a), &b, &mut ch);
        // weight: 1 del + 1 add; slots: 840 moved (del + add each)
        assert_eq!(ch.dels.len(), 1 + 840);
        assert_eq!(ch.adds.len(), 1 + 840);
        assert!(ch.flushes.is_empty());
        assert_eq!(ch.dels[0].set, "s1_w");
        assert_eq!(ch.dels[0].key.bytes(), vec![10, 0, 0, 1, 0, 80, 0, 0]);
    }

    #[test]
    fn parses_nft_json() {
        let json = r#"{"nftables": [{"metainfo": {}},
 {"map": {"family": "inet", "name": "s3_slots", "table": "t", "type": "integer", "handle": 10,
   "comment": "ka1 tcp 192.0.2.10 80 wrr m=4", "map": "ipv4_addr . inet_service",
   "elem": [[0, {"concat": ["10.0.0.1", 80]}], [1, {"concat": ["10.0.0.2", 80]}], [2, {"concat": ["10.0.0.2", 80]}]]}},
 {"map": {"family": "inet", "name": "s3_w", "table": "t", "type": ["ipv4_addr", "inet_service"], "handle": 11,
   "map": "mark", "elem": [[{"concat": ["10.0.0.1", 80]}, 1], [{"concat": ["10.0.0.2", 80]}, 2], [{"concat": ["10.0.0.3", 80]}, 0]]}},
 {"map": {"family": "inet", "name": "svc4", "table": "t", "type": ["ipv4_addr", "inet_proto", "inet_service"],
   "map": "verdict", "elem": [[{"concat": ["192.0.2.10", "tcp", 80]}, {"goto": {"target": "s3"}}]]}}]}"#;
        let (v, active) = parse_table(json).unwrap();
        assert_eq!(active, BTreeSet::from([3]));
        assert_eq!(v.len(), 1);
        let (id, shape, slots, svc) = &v[0];
        assert_eq!(*id, 3);
        assert_eq!(shape.m, 4);
        assert!(!shape.addr_only);
        assert_eq!(slots.iter().filter(|s| s.is_some()).count(), 3);
        assert_eq!(svc.scheduler, "wrr");
        assert_eq!(svc.destinations.len(), 3);
        assert_eq!(
            svc.destinations[&DestKey {
                addr: "10.0.0.2".parse().unwrap(),
                port: 80
            }]
                .weight,
            2
        );
    }
}
