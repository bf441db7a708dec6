//! Half-open TCP probes: TCP_CHECK without a socket per check.
//!
//! A TCP_CHECK proves that the server's port answers a SYN with a SYN-ACK, which
//! is all that connect(2) waits for as well. Sending the SYN from a raw socket and
//! reading the SYN-ACK there spares the director everything else a connect costs
//! (a socket and a descriptor, a port search, the ACK, the reset, the teardown):
//! at 10,000 checks a second, 10 % of a core instead of 27 %. The
//! kernel answers the SYN-ACK with a reset by itself, as no socket owns the
//! connection, so the server's application never sees the check (no accept).
//!
//! Source ports come from a small pool of TCP sockets that are bound and never
//! used: no local connection or listener can take those ports. A classic BPF
//! filter on each raw socket lets through only SYN-ACKs and resets to them. A
//! probe is matched by (server address, server port, our port) and by the
//! acknowledgement of its own initial sequence number, drawn from a CSPRNG so
//! that a host which sees some probes (a checked server) cannot forge the
//! answers to others. Like connect(2), a probe sends its SYN again after 1, 2,
//! 4 … s, fails at once on a reset (refused) and on an ICMP error (read from
//! the socket's error queue, IP_RECVERR). A SYN that a full local queue
//! dropped, which the send reports at once, goes again after 1, 2, 4 … ms.
//! The sockets are read on a 1 ms tick while probes are pending (see `receive`).
//!
//! Targets with `bind_port`, `bind_if` or `fwmark` are left to connect(2)
//! ([`HalfOpen::suits`]), as is everything when no raw socket can be opened
//! (no CAP_NET_RAW): [`HalfOpen::probe`] returns `None` and the caller connects.

use crate::{net, Target};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{
    recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags, SockaddrIn, SockaddrIn6,
    SockaddrStorage,
};
use socket2::{Domain, Protocol, SockFilter, Socket, Type};
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::AbortHandle;

/// Source ports reserved for probes. A checker takes them in turn, so a server
/// sees the same 4-tuple again only after this many probes: at delay_loop 1 that
/// is after conntrack has forgotten the last one (CLOSE: 10 s), which spares the
/// kernel killing the old entry first.
const PORTS: usize = 32;
/// How long a resolved IPv4 source address is reused (routes rarely change).
const SOURCE_TTL: Duration = Duration::from_secs(30);
/// How often the sockets are read while probes are pending.
const TICK: Duration = Duration::from_millis(1);
/// The first retransmission, doubled each time, as connect(2) does (RFC 6298).
const FIRST_RTO: Duration = Duration::from_secs(1);

const FIN_SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;

/// Half-open TCP probing for one configuration's TCP_CHECKs. The raw sockets
/// are opened on the first probe, on the runtime that runs it; dropping this
/// stops its receiver and frees the ports.
pub struct HalfOpen {
    state: Mutex<Option<Result<Opened, String>>>,
}

struct Opened {
    shared: Arc<Shared>,
    receiver: AbortHandle,
}

impl std::fmt::Debug for HalfOpen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state.lock().map(|s| s.as_ref().map(|r| r.is_ok())) {
            Ok(None) => "not opened",
            Ok(Some(true)) => "open",
            _ => "unavailable",
        };
        f.debug_struct("HalfOpen").field("state", &state).finish()
    }
}

impl Default for HalfOpen {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for HalfOpen {
    fn drop(&mut self) {
        if let Ok(Some(Ok(o))) = self.state.get_mut() {
            o.receiver.abort();
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    server: IpAddr,
    server_port: u16,
    our_port: u16,
}

struct Waiter {
    isn: u32,
    tx: oneshot::Sender<io::Result<()>>,
}

struct Shared {
    ports: Vec<u16>,
    _reserved: Vec<Socket>,
    pending: Mutex<HashMap<Key, Waiter>>,
    /// The raw TCP sockets, IPv4 and (when the host has it) IPv6.
    v4: Socket,
    v6: Option<Socket>,
    sources: Mutex<HashMap<Ipv4Addr, (Ipv4Addr, Instant)>>,
    /// Told when a probe starts, so that an idle receiver starts polling.
    wake: tokio::sync::Notify,
    /// When a timed-out probe last read the sockets itself.
    last_read: Mutex<tokio::time::Instant>,
}

impl HalfOpen {
    /// A prober that opens its sockets on first use.
    pub fn new() -> HalfOpen {
        HalfOpen {
            state: Mutex::new(None),
        }
    }

    /// Whether `t` can be probed half-open: not when it asks for a source port,
    /// an interface or a firewall mark (connect(2) does those).
    pub fn suits(t: &Target) -> bool {
        t.bind_port.is_none() && t.bind_if.is_none() && t.fwmark.is_none()
    }

    /// Whether the raw sockets are open (after a first probe), and if not why.
    pub fn status(&self) -> Option<Result<(), String>> {
        let s = self.state.lock().ok()?;
        s.as_ref()
            .map(|r| r.as_ref().map(|_| ()).map_err(Clone::clone))
    }

    fn shared(&self) -> Option<Arc<Shared>> {
        let mut s = self.state.lock().ok()?;
        if s.is_none() {
            let opened = open();
            match &opened {
                Ok(o) => tracing::info!(
                    "TCP_CHECK: half-open probes (SYN, SYN-ACK, the kernel's reset) from ports {:?}{}",
                    o.shared.ports,
                    if o.shared.v6.is_some() { "" } else { "; IPv6 targets connect" }
                ),
                Err(e) => tracing::warn!("TCP_CHECK: no half-open probes ({e}): every check connects"),
            }
            *s = Some(opened);
        }
        match s.as_ref() {
            Some(Ok(o)) => Some(o.shared.clone()),
            _ => None,
        }
    }

    /// Probes `dest` as `t` says, within `t.connect_timeout`: `Some(Ok)` when a
    /// SYN-ACK comes back, `Some(Err)` on a reset, an ICMP error, a send error or
    /// the timeout. `None` when this target or this host cannot be probed
    /// half-open: connect instead. `round` picks the source port: a checker
    /// counts its probes.
    pub async fn probe(
        &self,
        t: &Target,
        dest: SocketAddr,
        round: usize,
    ) -> Option<io::Result<()>> {
        if !Self::suits(t) {
            return None;
        }
        let deadline = tokio::time::Instant::now() + t.connect_timeout;
        let shared = self.shared()?;
        let sock = if dest.is_ipv4() {
            &shared.v4
        } else {
            shared.v6.as_ref()?
        };
        let (tx, mut rx) = oneshot::channel();
        let isn: u32 = rand::random();
        let key = shared.claim(dest, round, isn, tx)?;
        shared.wake.notify_one();
        let _claim = Claim {
            shared: &shared,
            key,
            isn,
        };
        let mut rto = FIRST_RTO;
        let mut local = TICK;
        loop {
            let resend = match shared.send_syn(sock, t.bindto, dest, key.our_port, isn) {
                // The SYN never left: a full device queue dropped it (IP_RECVERR
                // reports that at once) or the socket's buffer is full. Unlike a
                // loss on the way, this is known now and clears as the queue
                // drains: send again after 1, 2, 4 … ms, within the first RTO,
                // before the retransmission schedule takes over.
                Err(e)
                    if e.raw_os_error() == Some(libc::ENOBUFS)
                        || e.kind() == io::ErrorKind::WouldBlock =>
                {
                    let wait = local;
                    local = local.saturating_mul(2);
                    (local < FIRST_RTO).then_some(wait)
                }
                Err(e) => return Some(Err(e)),
                Ok(()) => None,
            };
            // One timer per attempt: the retransmission or the deadline.
            let until = deadline.min(tokio::time::Instant::now() + resend.unwrap_or(rto));
            match tokio::time::timeout_at(until, &mut rx).await {
                Ok(Ok(r)) => return Some(r),
                Ok(Err(_)) => return Some(Err(io::Error::other("the half-open receiver stopped"))),
                Err(_) => {
                    // The answer may be queued, unread: after a stall the timers
                    // of a turn can run before the receiver's tick does.
                    shared.read_now();
                    if let Ok(r) = rx.try_recv() {
                        return Some(r);
                    }
                    if until >= deadline {
                        return Some(Err(io::ErrorKind::TimedOut.into()));
                    }
                    if resend.is_none() {
                        rto = rto.saturating_mul(2);
                    }
                }
            }
        }
    }
}

/// Removes a probe's entry when it ends (answered, cancelled or timed out).
struct Claim<'a> {
    shared: &'a Shared,
    key: Key,
    isn: u32,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if let Ok(mut m) = self.shared.pending.lock() {
            if m.get(&self.key).is_some_and(|w| w.isn == self.isn) {
                m.remove(&self.key);
            }
        }
    }
}

fn open() -> Result<Opened, String> {
    let (reserved, ports, dual) = reserve_ports().map_err(|e| format!("reserving ports: {e}"))?;
    let v4 = raw_socket(false, &ports).map_err(|e| format!("raw IPv4 TCP socket: {e}"))?;
    let v6 = if dual {
        match raw_socket(true, &ports) {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::debug!("raw IPv6 TCP socket: {e}");
                None
            }
        }
    } else {
        None
    };
    let shared = Arc::new(Shared {
        ports,
        _reserved: reserved,
        pending: Mutex::new(HashMap::new()),
        v4,
        v6,
        sources: Mutex::new(HashMap::new()),
        wake: tokio::sync::Notify::new(),
        last_read: Mutex::new(tokio::time::Instant::now()),
    });
    let receiver = tokio::spawn(receive(shared.clone())).abort_handle();
    Ok(Opened { shared, receiver })
}

/// Binds [`PORTS`] TCP sockets to kernel-chosen ports, dual-stack when the host
/// has IPv6 (then the ports are ours in both families). Returns them, their
/// ports and whether they are dual-stack.
fn reserve_ports() -> io::Result<(Vec<Socket>, Vec<u16>, bool)> {
    let bind = |dual: bool| -> io::Result<Socket> {
        let s = if dual {
            let s = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP))?;
            s.set_only_v6(false)?;
            s.bind(&SocketAddr::from(([0u16; 8], 0)).into())?;
            s
        } else {
            let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
            s.bind(&SocketAddr::from(([0u8; 4], 0)).into())?;
            s
        };
        Ok(s)
    };
    // The first socket tells whether the host has IPv6.
    let (first, dual) = match bind(true) {
        Ok(s) => (s, true),
        Err(_) => (bind(false)?, false),
    };
    let mut socks = Vec::with_capacity(PORTS);
    let mut ports = Vec::with_capacity(PORTS);
    let mut first = Some(first);
    for _ in 0..PORTS {
        let s = match first.take() {
            Some(s) => s,
            None => bind(dual)?,
        };
        let port = s
            .local_addr()?
            .as_socket()
            .map(|a| a.port())
            .ok_or_else(|| io::Error::other("no local port"))?;
        socks.push(s);
        ports.push(port);
    }
    Ok((socks, ports, dual))
}

/// Receive buffer of each raw socket (the kernel doubles it): room for most of
/// a second of answers at 10,000 checks a second, each charged its skb's size
/// (about 0.5 KiB on loopback, up to a few KiB on some drivers).
const RCVBUF: usize = 8 << 20;

/// A non-blocking raw TCP socket of one family that receives only SYN-ACKs and
/// resets to `ports`, and ICMP errors in its error queue.
fn raw_socket(v6: bool, ports: &[u16]) -> io::Result<Socket> {
    let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
    let s = Socket::new(domain, Type::RAW.nonblocking(), Some(Protocol::TCP))?;
    s.attach_filter(&filter(v6, ports))?;
    // Answers wait here whenever the daemon is off the CPU, and a full buffer
    // drops them: with rmem_max's cap, a shared CPU lost thousands a minute at
    // 10,000 checks a second, and checks failed. The limit costs nothing until
    // used; above rmem_max it needs CAP_NET_ADMIN, else the capped size it is.
    if nix::sys::socket::setsockopt(&s, nix::sys::socket::sockopt::RcvBufForce, &RCVBUF).is_err() {
        s.set_recv_buffer_size(RCVBUF)?;
    }
    if v6 {
        nix::sys::socket::setsockopt(&s, nix::sys::socket::sockopt::Ipv6RecvErr, &true)?;
        // The kernel fills in the TCP checksum (offset 16), with the source it picks.
        let offset: libc::c_int = 16;
        // SAFETY: a valid socket descriptor, and a pointer to a c_int with its size.
        let r = unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::IPPROTO_IPV6,
                libc::IPV6_CHECKSUM,
                (&offset as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
    } else {
        nix::sys::socket::setsockopt(&s, nix::sys::socket::sockopt::Ipv4RecvErr, &true)?;
    }
    Ok(s)
}

/// The classic BPF program: accept a TCP segment to one of `ports` with SYN+ACK
/// or RST set, drop anything else. IPv4 raw sockets see the IP header (its
/// length goes into X); IPv6 ones start at the TCP header.
fn filter(v6: bool, ports: &[u16]) -> Vec<SockFilter> {
    const LD_B_IND: u16 = 0x50; // BPF_LD | BPF_B | BPF_IND
    const LD_H_IND: u16 = 0x48; // BPF_LD | BPF_H | BPF_IND
    const LDX_B_MSH: u16 = 0xb1; // BPF_LDX | BPF_B | BPF_MSH
    const LDX_IMM: u16 = 0x01; // BPF_LDX | BPF_W | BPF_IMM
    const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
    const AND_K: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    let n = ports.len();
    let mut f = vec![
        if v6 {
            SockFilter::new(LDX_IMM, 0, 0, 0)
        } else {
            SockFilter::new(LDX_B_MSH, 0, 0, 0)
        },
        SockFilter::new(LD_H_IND, 0, 0, 2), // destination port
    ];
    for (i, p) in ports.iter().enumerate() {
        // On a match, jump over the remaining comparisons and the drop.
        f.push(SockFilter::new(JEQ_K, (n - i) as u8, 0, u32::from(*p)));
    }
    f.extend([
        SockFilter::new(RET_K, 0, 0, 0),
        SockFilter::new(LD_B_IND, 0, 0, 13), // flags
        SockFilter::new(JSET_K, 2, 0, u32::from(RST)),
        SockFilter::new(AND_K, 0, 0, u32::from(FIN_SYN | ACK)),
        SockFilter::new(JEQ_K, 0, 1, u32::from(FIN_SYN | ACK)),
        SockFilter::new(RET_K, 0, 0, 256),
        SockFilter::new(RET_K, 0, 0, 0),
    ]);
    f
}

/// A SYN from `our_port` with initial sequence number `isn` and an MSS option;
/// with the checksum when `pseudo` (source and destination) is given.
fn syn_segment(
    our_port: u16,
    server_port: u16,
    isn: u32,
    pseudo: Option<(IpAddr, IpAddr)>,
) -> [u8; 24] {
    let mut s = [0u8; 24];
    s[0..2].copy_from_slice(&our_port.to_be_bytes());
    s[2..4].copy_from_slice(&server_port.to_be_bytes());
    s[4..8].copy_from_slice(&isn.to_be_bytes());
    s[12] = 6 << 4; // data offset: 6 words (one option)
    s[13] = FIN_SYN;
    s[14..16].copy_from_slice(&64240u16.to_be_bytes());
    s[20..24].copy_from_slice(&[2, 4, 0x05, 0xb4]); // MSS 1460
    if let Some((src, dst)) = pseudo {
        let mut p = Vec::with_capacity(40 + s.len());
        match (src, dst) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                p.extend_from_slice(&a.octets());
                p.extend_from_slice(&b.octets());
                p.extend_from_slice(&[0, 6, 0, s.len() as u8]);
            }
            (a, b) => {
                for x in [a, b] {
                    if let IpAddr::V6(x) = x {
                        p.extend_from_slice(&x.octets());
                    }
                }
                p.extend_from_slice(&[0, 0, 0, s.len() as u8, 0, 0, 0, 6]);
            }
        }
        p.extend_from_slice(&s);
        s[16..18].copy_from_slice(&net::checksum(&p).to_be_bytes());
    }
    s
}

impl Shared {
    /// Picks a free source port for `dest`, the `start`th or the next free one,
    /// and records the probe.
    fn claim(
        &self,
        dest: SocketAddr,
        start: usize,
        isn: u32,
        tx: oneshot::Sender<io::Result<()>>,
    ) -> Option<Key> {
        let mut m = self.pending.lock().ok()?;
        let mut tx = Some(tx);
        for i in 0..self.ports.len() {
            let key = Key {
                server: dest.ip(),
                server_port: dest.port(),
                our_port: self.ports[(start + i) % self.ports.len()],
            };
            if let Entry::Vacant(v) = m.entry(key) {
                v.insert(Waiter {
                    isn,
                    tx: tx.take()?,
                });
                return Some(key);
            }
        }
        None
    }

    /// The address the kernel would send from to `dst` (a UDP connect sends nothing).
    fn source_v4(&self, dst: Ipv4Addr, fresh: bool) -> io::Result<Ipv4Addr> {
        if !fresh {
            if let Some((src, at)) = self.sources.lock().ok().and_then(|m| m.get(&dst).copied()) {
                if at.elapsed() < SOURCE_TTL {
                    return Ok(src);
                }
            }
        }
        let u = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        u.connect((dst, 9))?;
        let src = match u.local_addr()?.ip() {
            IpAddr::V4(s) => s,
            IpAddr::V6(_) => return Err(io::Error::other("no IPv4 source")),
        };
        if let Ok(mut m) = self.sources.lock() {
            m.insert(dst, (src, Instant::now()));
        }
        Ok(src)
    }

    /// Sends one SYN (the socket is non-blocking: a full buffer is an error).
    fn send_syn(
        &self,
        sock: &Socket,
        bindto: Option<IpAddr>,
        dest: SocketAddr,
        our_port: u16,
        isn: u32,
    ) -> io::Result<()> {
        match dest {
            SocketAddr::V4(d) => {
                let dst = *d.ip();
                let fixed = match bindto {
                    Some(IpAddr::V4(s)) => Some(s),
                    Some(IpAddr::V6(_)) => {
                        return Err(io::Error::from_raw_os_error(libc::EAFNOSUPPORT))
                    }
                    None => None,
                };
                let mut fresh = false;
                loop {
                    let src = match fixed {
                        Some(s) => s,
                        None => self.source_v4(dst, fresh)?,
                    };
                    let seg = syn_segment(our_port, d.port(), isn, Some((src.into(), dst.into())));
                    let info = libc::in_pktinfo {
                        ipi_ifindex: 0,
                        ipi_spec_dst: libc::in_addr {
                            s_addr: u32::from_ne_bytes(src.octets()),
                        },
                        ipi_addr: libc::in_addr { s_addr: 0 },
                    };
                    let to = SockaddrIn::from(SocketAddrV4::new(dst, 0));
                    let r = sendmsg(
                        sock.as_raw_fd(),
                        &[IoSlice::new(&seg)],
                        &[ControlMessage::Ipv4PacketInfo(&info)],
                        MsgFlags::empty(),
                        Some(&to),
                    )
                    .map_err(io::Error::from);
                    match r {
                        // The cached source is gone from this host: look again, once.
                        Err(e)
                            if e.raw_os_error() == Some(libc::EINVAL)
                                && fixed.is_none()
                                && !fresh =>
                        {
                            fresh = true
                        }
                        r => return r.map(drop),
                    }
                }
            }
            SocketAddr::V6(d) => {
                let seg = syn_segment(our_port, d.port(), isn, None);
                let to = SockaddrIn6::from(SocketAddrV6::new(*d.ip(), 0, 0, d.scope_id()));
                let info = match bindto {
                    Some(IpAddr::V6(s)) => Some(libc::in6_pktinfo {
                        ipi6_addr: libc::in6_addr {
                            s6_addr: s.octets(),
                        },
                        ipi6_ifindex: 0,
                    }),
                    Some(IpAddr::V4(_)) => {
                        return Err(io::Error::from_raw_os_error(libc::EAFNOSUPPORT))
                    }
                    None => None,
                };
                let cmsg: Vec<ControlMessage> =
                    info.iter().map(ControlMessage::Ipv6PacketInfo).collect();
                sendmsg(
                    sock.as_raw_fd(),
                    &[IoSlice::new(&seg)],
                    &cmsg,
                    MsgFlags::empty(),
                    Some(&to),
                )
                .map(drop)
                .map_err(io::Error::from)
            }
        }
    }

    /// Reads both raw sockets once, settling the probes answered, unless they
    /// were read within the last tick (many probes may time out together).
    fn read_now(&self) {
        let now = tokio::time::Instant::now();
        if let Ok(mut last) = self.last_read.lock() {
            if now.saturating_duration_since(*last) < TICK {
                return;
            }
            *last = now;
        }
        let mut got = Vec::with_capacity(BATCH);
        self.read_now_with(&mut Batch::new(), &mut got, &mut [0u8; 256]);
    }

    fn read_now_with(
        &self,
        batch: &mut Batch,
        got: &mut Vec<(usize, Option<IpAddr>)>,
        buf: &mut [u8],
    ) {
        let socks: Vec<(&Socket, bool)> = std::iter::once((&self.v4, false))
            .chain(self.v6.as_ref().map(|f| (f, true)))
            .collect();
        let mut fds: Vec<PollFd> = socks
            .iter()
            .map(|(s, _)| PollFd::new(s.as_fd(), PollFlags::POLLIN))
            .collect();
        if poll(&mut fds, PollTimeout::ZERO).unwrap_or(0) <= 0 {
            return;
        }
        let ready: Vec<PollFlags> = fds
            .iter()
            .map(|p| p.revents().unwrap_or(PollFlags::empty()))
            .collect();
        for ((sock, v6), ev) in socks.into_iter().zip(ready) {
            let fd = sock.as_raw_fd();
            if ev.contains(PollFlags::POLLIN) {
                drain(self, fd, v6, batch, got);
            }
            if ev.contains(PollFlags::POLLERR) {
                read_errors(self, fd, v6, buf);
            }
        }
    }

    /// Settles the probe `key` if `ack_of` is its sequence number.
    fn settle(&self, key: Key, ack_of: u32, verdict: io::Result<()>) {
        let Ok(mut m) = self.pending.lock() else {
            return;
        };
        if m.get(&key).is_some_and(|w| w.isn == ack_of) {
            if let Some(w) = m.remove(&key) {
                drop(m);
                let _ = w.tx.send(verdict);
            }
        }
    }

    /// A segment from `server`: a SYN-ACK or a reset acknowledging a probe's SYN.
    fn on_segment(&self, server: IpAddr, seg: &[u8]) {
        if seg.len() < 14 {
            return;
        }
        let be16 = |i: usize| u16::from_be_bytes([seg[i], seg[i + 1]]);
        let ack = u32::from_be_bytes([seg[8], seg[9], seg[10], seg[11]]);
        let flags = seg[13];
        let verdict = if flags & RST != 0 {
            if flags & ACK == 0 {
                return;
            }
            Err(io::Error::from_raw_os_error(libc::ECONNREFUSED))
        } else if flags & (FIN_SYN | ACK) == FIN_SYN | ACK {
            Ok(())
        } else {
            return;
        };
        let key = Key {
            server,
            server_port: be16(0),
            our_port: be16(2),
        };
        self.settle(key, ack.wrapping_sub(1), verdict);
    }

    /// An ICMP error about one of our SYNs: `dst` is where the SYN went, `seg`
    /// the start of the SYN as the error quotes it.
    fn on_error(&self, dst: IpAddr, seg: &[u8], errno: i32) {
        if seg.len() < 8 {
            return;
        }
        let key = Key {
            server: dst,
            server_port: u16::from_be_bytes([seg[2], seg[3]]),
            our_port: u16::from_be_bytes([seg[0], seg[1]]),
        };
        let seq = u32::from_be_bytes([seg[4], seg[5], seg[6], seg[7]]);
        self.settle(key, seq, Err(io::Error::from_raw_os_error(errno)));
    }
}

fn ip_of(a: &SockaddrStorage) -> Option<IpAddr> {
    if let Some(a) = a.as_sockaddr_in() {
        return Some(IpAddr::V4(a.ip()));
    }
    a.as_sockaddr_in6().map(|a| IpAddr::V6(a.ip()))
}

/// Datagrams read per recvmmsg(2) call.
const BATCH: usize = 32;
/// Bytes kept of each: an IPv4 header with options and the TCP header's start.
const SNAP: usize = 128;

/// Receive buffers for recvmmsg(2).
struct Batch {
    bufs: Box<[[u8; SNAP]; BATCH]>,
    names: Box<[libc::sockaddr_in6; BATCH]>,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            bufs: Box::new([[0; SNAP]; BATCH]),
            // SAFETY: sockaddr_in6 is plain data, valid when zeroed.
            names: Box::new(unsafe { std::mem::zeroed() }),
        }
    }

    /// Reads what is queued on `fd`, up to [`BATCH`] datagrams: their lengths and
    /// sources (IPv6 only: IPv4 ones carry their header). Errors as recvmmsg(2).
    fn read(
        &mut self,
        fd: std::os::fd::RawFd,
        out: &mut Vec<(usize, Option<IpAddr>)>,
    ) -> io::Result<usize> {
        let mut iov: Vec<libc::iovec> = self
            .bufs
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: SNAP,
            })
            .collect();
        // SAFETY: mmsghdr is plain data, valid when zeroed.
        let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for (i, m) in msgs.iter_mut().enumerate() {
            m.msg_hdr.msg_iov = &mut iov[i];
            m.msg_hdr.msg_iovlen = 1;
            m.msg_hdr.msg_name = (&mut self.names[i] as *mut libc::sockaddr_in6).cast();
            m.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        }
        // SAFETY: every header points at a live buffer and address of the sizes
        // given, all outliving the call; the timeout may be null.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                msgs.as_mut_ptr(),
                BATCH as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        out.clear();
        for (i, m) in msgs.iter().take(n as usize).enumerate() {
            let a = &self.names[i];
            let from = (i32::from(a.sin6_family) == libc::AF_INET6)
                .then(|| IpAddr::V6(std::net::Ipv6Addr::from(a.sin6_addr.s6_addr)));
            out.push(((m.msg_len as usize).min(SNAP), from));
        }
        Ok(n as usize)
    }
}

/// Reads the raw sockets every [`TICK`] while probes are pending, and sleeps
/// while none are. The sockets are not in the runtime's epoll set on purpose:
/// a SYN-ACK arriving on its own would wake the daemon, about once per check;
/// read on the tick, the answers of a millisecond's probes come in one call,
/// on the wake-up the checkers' own timers cause anyway (tokio's timers have
/// a millisecond's resolution). An answer waits one tick at most.
async fn receive(shared: Arc<Shared>) {
    let mut batch = Batch::new();
    let mut got = Vec::with_capacity(BATCH);
    let mut buf = [0u8; 256];
    loop {
        let idle = shared.pending.lock().map(|m| m.is_empty()).unwrap_or(true);
        if idle {
            shared.wake.notified().await;
        }
        tokio::time::sleep(TICK).await;
        shared.read_now_with(&mut batch, &mut got, &mut buf);
    }
}

/// Reads what is queued on one raw socket, in batches: a short batch means the
/// queue is empty. A pending ICMP error is reported once, then cleared: the
/// reads are retried a bounded number of times.
fn drain(
    shared: &Shared,
    fd: std::os::fd::RawFd,
    v6: bool,
    batch: &mut Batch,
    got: &mut Vec<(usize, Option<IpAddr>)>,
) {
    let mut errors = 0;
    loop {
        match batch.read(fd, got) {
            Ok(n) => {
                for (i, &(len, from)) in got.iter().enumerate() {
                    let seg = &batch.bufs[i][..len];
                    if v6 {
                        if let Some(ip) = from {
                            shared.on_segment(ip, seg);
                        }
                    } else if len >= 20 {
                        let ihl = usize::from(seg[0] & 0xf) * 4;
                        let src = Ipv4Addr::new(seg[12], seg[13], seg[14], seg[15]);
                        if let Some(tcp) = seg.get(ihl..) {
                            shared.on_segment(IpAddr::V4(src), tcp);
                        }
                    }
                }
                if n < BATCH {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(_) if errors < BATCH => errors += 1,
            Err(_) => return,
        }
    }
}

/// Drains the error queue: ICMP errors about our SYNs settle their probes.
fn read_errors(shared: &Shared, fd: std::os::fd::RawFd, v6: bool, buf: &mut [u8]) {
    for _ in 0..1024 {
        let mut cmsg = nix::cmsg_space!(libc::sock_extended_err, libc::sockaddr_in6);
        let mut iov = [IoSliceMut::new(buf)];
        let (n, dst, errno) =
            match recvmsg::<SockaddrStorage>(fd, &mut iov, Some(&mut cmsg), MsgFlags::MSG_ERRQUEUE)
            {
                Ok(m) => {
                    let errno = m.cmsgs().ok().and_then(|mut c| {
                        c.find_map(|c| match c {
                            ControlMessageOwned::Ipv4RecvErr(e, _)
                            | ControlMessageOwned::Ipv6RecvErr(e, _) => Some(e.ee_errno as i32),
                            _ => None,
                        })
                    });
                    (m.bytes, m.address.as_ref().and_then(ip_of), errno)
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return,
            };
        if let (Some(dst), Some(errno)) = (dst, errno) {
            if errno != 0 && dst.is_ipv6() == v6 {
                shared.on_error(dst, &buf[..n], errno);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_socket_buffer_holds_a_stall() {
        let s = match raw_socket(false, &[40000]) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("skipping: no raw socket ({e})");
                return;
            }
        };
        let capped = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        // The kernel reports twice what was asked (its bookkeeping share).
        let got = s.recv_buffer_size().unwrap();
        if nix::unistd::geteuid().is_root() {
            assert!(got >= RCVBUF, "SO_RCVBUF {got}, want >= {RCVBUF}");
        } else {
            assert!(got >= RCVBUF.min(capped), "SO_RCVBUF {got}");
        }
    }

    #[test]
    fn syn_checksum_verifies() {
        let (src, dst): (IpAddr, IpAddr) =
            ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let seg = syn_segment(40000, 80, 0x0102_0304, Some((src, dst)));
        // Summing the pseudo-header and the segment with its checksum gives 0.
        let mut p = vec![192, 0, 2, 1, 192, 0, 2, 2, 0, 6, 0, 24];
        p.extend_from_slice(&seg);
        assert_eq!(net::checksum(&p), 0);
        assert_eq!(
            &seg[..14],
            &[0x9c, 0x40, 0, 80, 1, 2, 3, 4, 0, 0, 0, 0, 0x60, 0x02]
        );
    }

    #[test]
    fn syn_checksum_verifies_v6() {
        let (src, dst): (IpAddr, IpAddr) = (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        );
        let seg = syn_segment(1, 2, 3, Some((src, dst)));
        let mut p = Vec::new();
        for a in [src, dst] {
            if let IpAddr::V6(a) = a {
                p.extend_from_slice(&a.octets());
            }
        }
        p.extend_from_slice(&[0, 0, 0, 24, 0, 0, 0, 6]);
        p.extend_from_slice(&seg);
        assert_eq!(net::checksum(&p), 0);
    }
}
