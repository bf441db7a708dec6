//! The IPVS generic-netlink codec and transport.
//!
//! Plumbing comes from the rust-netlink crates: `netlink-sys` (the socket),
//! `netlink-packet-core` (nlmsghdr, ACK / error / done messages) and
//! `netlink-packet-generic` (genlmsghdr, `CTRL_CMD_GETFAMILY` to resolve the
//! "IPVS" family id). The IPVS attributes themselves (`include/uapi/linux/ip_vs.h`)
//! are encoded and parsed here by hand.
//!
//! Attribute order and widths follow what the kernel's policy
//! (`ip_vs_svc_policy` / `ip_vs_dest_policy`) expects; for the commands
//! `ipvsadm` also sends, the bytes are the same as its own (see the golden
//! tests at the end of this file for how those were captured).

use std::io;
use std::net::IpAddr;
use std::time::Duration;

use netlink_packet_core::{
    DecodeError, Emitable, NetlinkHeader, NetlinkMessage, NetlinkPayload, ParseableParametrized,
    NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::{GenlFamily, GenlHeader, GenlMessage};
use netlink_sys::{protocols::NETLINK_GENERIC, Socket, SocketAddr};
use nix::sys::socket::{setsockopt, sockopt};
use nix::sys::time::TimeVal;

use crate::model::{Dest, DestKey, Family, Method, Persistence, Proto, Service, ServiceKey};

/// The generic netlink family name of IPVS.
pub const IPVS_GENL_NAME: &str = "IPVS";
/// `IPVS_GENL_VERSION`.
pub const IPVS_GENL_VERSION: u8 = 1;

// Commands (enum in ip_vs.h, IPVS_CMD_UNSPEC = 0).
pub const IPVS_CMD_NEW_SERVICE: u8 = 1;
pub const IPVS_CMD_SET_SERVICE: u8 = 2;
pub const IPVS_CMD_DEL_SERVICE: u8 = 3;
pub const IPVS_CMD_GET_SERVICE: u8 = 4;
pub const IPVS_CMD_NEW_DEST: u8 = 5;
pub const IPVS_CMD_SET_DEST: u8 = 6;
pub const IPVS_CMD_DEL_DEST: u8 = 7;
pub const IPVS_CMD_GET_DEST: u8 = 8;
pub const IPVS_CMD_NEW_DAEMON: u8 = 9;
pub const IPVS_CMD_DEL_DAEMON: u8 = 10;
pub const IPVS_CMD_GET_DAEMON: u8 = 11;
pub const IPVS_CMD_SET_CONFIG: u8 = 12;
pub const IPVS_CMD_GET_CONFIG: u8 = 13;
pub const IPVS_CMD_SET_INFO: u8 = 14;
pub const IPVS_CMD_GET_INFO: u8 = 15;
pub const IPVS_CMD_ZERO: u8 = 16;
pub const IPVS_CMD_FLUSH: u8 = 17;

// Top-level attributes.
pub const IPVS_CMD_ATTR_SERVICE: u16 = 1;
pub const IPVS_CMD_ATTR_DEST: u16 = 2;
pub const IPVS_CMD_ATTR_DAEMON: u16 = 3;
pub const IPVS_CMD_ATTR_TIMEOUT_TCP: u16 = 4;
pub const IPVS_CMD_ATTR_TIMEOUT_TCP_FIN: u16 = 5;
pub const IPVS_CMD_ATTR_TIMEOUT_UDP: u16 = 6;

// Service attributes.
pub const IPVS_SVC_ATTR_AF: u16 = 1;
pub const IPVS_SVC_ATTR_PROTOCOL: u16 = 2;
pub const IPVS_SVC_ATTR_ADDR: u16 = 3;
pub const IPVS_SVC_ATTR_PORT: u16 = 4;
pub const IPVS_SVC_ATTR_FWMARK: u16 = 5;
pub const IPVS_SVC_ATTR_SCHED_NAME: u16 = 6;
pub const IPVS_SVC_ATTR_FLAGS: u16 = 7;
pub const IPVS_SVC_ATTR_TIMEOUT: u16 = 8;
pub const IPVS_SVC_ATTR_NETMASK: u16 = 9;
pub const IPVS_SVC_ATTR_STATS: u16 = 10;
pub const IPVS_SVC_ATTR_PE_NAME: u16 = 11;
pub const IPVS_SVC_ATTR_STATS64: u16 = 12;

// Destination attributes.
pub const IPVS_DEST_ATTR_ADDR: u16 = 1;
pub const IPVS_DEST_ATTR_PORT: u16 = 2;
pub const IPVS_DEST_ATTR_FWD_METHOD: u16 = 3;
pub const IPVS_DEST_ATTR_WEIGHT: u16 = 4;
pub const IPVS_DEST_ATTR_U_THRESH: u16 = 5;
pub const IPVS_DEST_ATTR_L_THRESH: u16 = 6;
pub const IPVS_DEST_ATTR_ACTIVE_CONNS: u16 = 7;
pub const IPVS_DEST_ATTR_INACT_CONNS: u16 = 8;
pub const IPVS_DEST_ATTR_PERSIST_CONNS: u16 = 9;
pub const IPVS_DEST_ATTR_STATS: u16 = 10;
pub const IPVS_DEST_ATTR_ADDR_FAMILY: u16 = 11;
pub const IPVS_DEST_ATTR_STATS64: u16 = 12;
pub const IPVS_DEST_ATTR_TUN_TYPE: u16 = 13;
pub const IPVS_DEST_ATTR_TUN_PORT: u16 = 14;
pub const IPVS_DEST_ATTR_TUN_FLAGS: u16 = 15;

// Sync daemon attributes.
pub const IPVS_DAEMON_ATTR_STATE: u16 = 1;
pub const IPVS_DAEMON_ATTR_MCAST_IFN: u16 = 2;
pub const IPVS_DAEMON_ATTR_SYNC_ID: u16 = 3;
pub const IPVS_DAEMON_ATTR_SYNC_MAXLEN: u16 = 4;
pub const IPVS_DAEMON_ATTR_MCAST_GROUP: u16 = 5;
pub const IPVS_DAEMON_ATTR_MCAST_GROUP6: u16 = 6;
pub const IPVS_DAEMON_ATTR_MCAST_PORT: u16 = 7;
pub const IPVS_DAEMON_ATTR_MCAST_TTL: u16 = 8;

// Service flags.
pub const IP_VS_SVC_F_PERSISTENT: u32 = 0x0001;
pub const IP_VS_SVC_F_HASHED: u32 = 0x0002;
pub const IP_VS_SVC_F_ONEPACKET: u32 = 0x0004;
pub const IP_VS_SVC_F_SCHED1: u32 = 0x0008;
pub const IP_VS_SVC_F_SCHED2: u32 = 0x0010;
pub const IP_VS_SVC_F_SCHED3: u32 = 0x0020;

// Forwarding methods (IP_VS_CONN_F_FWD_MASK part of the connection flags).
pub const IP_VS_CONN_F_FWD_MASK: u32 = 0x0007;
pub const IP_VS_CONN_F_MASQ: u32 = 0x0000;
pub const IP_VS_CONN_F_LOCALNODE: u32 = 0x0001;
pub const IP_VS_CONN_F_TUNNEL: u32 = 0x0002;
pub const IP_VS_CONN_F_DROUTE: u32 = 0x0003;

// Tunnel types and encapsulation flags.
pub const IP_VS_CONN_F_TUNNEL_TYPE_IPIP: u8 = 0;
pub const IP_VS_CONN_F_TUNNEL_TYPE_GUE: u8 = 1;
pub const IP_VS_CONN_F_TUNNEL_TYPE_GRE: u8 = 2;
pub const IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM: u16 = 0;
pub const IP_VS_TUNNEL_ENCAP_FLAG_CSUM: u16 = 1;
pub const IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM: u16 = 2;

// Sync daemon states.
pub const IP_VS_STATE_MASTER: u32 = 1;
pub const IP_VS_STATE_BACKUP: u32 = 2;

const NLA_F_NESTED: u16 = 0x8000;
const NLA_TYPE_MASK: u16 = 0x3fff;

const AF_INET: u16 = libc::AF_INET as u16;
const AF_INET6: u16 = libc::AF_INET6 as u16;

/// Every scheduler IPVS knows (kernel modules `ip_vs_NAME`).
pub const SCHEDULERS: [&str; 14] = [
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh", "fo", "ovf", "twos",
];

/// How long one request may wait for the kernel's answer.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(5);

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Builds a run of netlink attributes (native-endian headers, 4-byte aligned).
#[derive(Debug, Clone, Default)]
pub struct AttrBuf {
    buf: Vec<u8>,
    open: Vec<usize>,
}

impl AttrBuf {
    pub fn new() -> AttrBuf {
        AttrBuf::default()
    }

    /// An attribute with a raw payload.
    pub fn bytes(&mut self, ty: u16, data: &[u8]) -> &mut Self {
        let len = u16::try_from(4 + data.len()).expect("attribute too long");
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.buf.resize(align4(self.buf.len()), 0);
        self
    }

    pub fn u8(&mut self, ty: u16, v: u8) -> &mut Self {
        self.bytes(ty, &[v])
    }
    pub fn u16(&mut self, ty: u16, v: u16) -> &mut Self {
        self.bytes(ty, &v.to_ne_bytes())
    }
    /// A 16-bit value in network byte order (ports).
    pub fn be16(&mut self, ty: u16, v: u16) -> &mut Self {
        self.bytes(ty, &v.to_be_bytes())
    }
    pub fn u32(&mut self, ty: u16, v: u32) -> &mut Self {
        self.bytes(ty, &v.to_ne_bytes())
    }
    /// A NUL-terminated string.
    pub fn str(&mut self, ty: u16, s: &str) -> &mut Self {
        let mut v = Vec::with_capacity(s.len() + 1);
        v.extend_from_slice(s.as_bytes());
        v.push(0);
        self.bytes(ty, &v)
    }
    /// An address as `union nf_inet_addr` (16 bytes, IPv4 in the first 4).
    pub fn addr(&mut self, ty: u16, a: &IpAddr) -> &mut Self {
        self.bytes(ty, &inet_addr(a))
    }

    /// Opens a nested attribute, closed by [`AttrBuf::end`].
    pub fn nest(&mut self, ty: u16) -> &mut Self {
        self.open.push(self.buf.len());
        self.buf.extend_from_slice(&[0, 0]);
        self.buf
            .extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        self
    }

    pub fn end(&mut self) -> &mut Self {
        let at = self.open.pop().expect("end() without nest()");
        let len = u16::try_from(self.buf.len() - at).expect("nest too long");
        self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }

    pub fn finish(&mut self) -> Vec<u8> {
        assert!(self.open.is_empty(), "unclosed nested attribute");
        std::mem::take(&mut self.buf)
    }
}

/// `union nf_inet_addr` bytes of `a`.
pub fn inet_addr(a: &IpAddr) -> [u8; 16] {
    let mut out = [0u8; 16];
    match a {
        IpAddr::V4(v4) => out[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => out.copy_from_slice(&v6.octets()),
    }
    out
}

/// Attributes of `buf` as (type without the nested / byte-order bits, payload).
pub fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if buf.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([buf[0], buf[1]]) as usize;
        let ty = u16::from_ne_bytes([buf[2], buf[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > buf.len() {
            return None;
        }
        let payload = &buf[4..len];
        buf = &buf[align4(len).min(buf.len())..];
        Some((ty, payload))
    })
}

/// The first attribute of type `ty` in `buf`.
pub fn attr(buf: &[u8], ty: u16) -> Option<&[u8]> {
    attrs(buf).find(|(t, _)| *t == ty).map(|(_, p)| p)
}

fn get_u8(buf: &[u8], ty: u16) -> Option<u8> {
    attr(buf, ty)?.first().copied()
}
fn get_u16(buf: &[u8], ty: u16) -> Option<u16> {
    Some(u16::from_ne_bytes(
        attr(buf, ty)?.get(..2)?.try_into().ok()?,
    ))
}
fn get_be16(buf: &[u8], ty: u16) -> Option<u16> {
    Some(u16::from_be_bytes(
        attr(buf, ty)?.get(..2)?.try_into().ok()?,
    ))
}
fn get_u32(buf: &[u8], ty: u16) -> Option<u32> {
    Some(u32::from_ne_bytes(
        attr(buf, ty)?.get(..4)?.try_into().ok()?,
    ))
}
fn get_str(buf: &[u8], ty: u16) -> Option<String> {
    let b = attr(buf, ty)?;
    let b = b.split(|c| *c == 0).next().unwrap_or(b);
    Some(String::from_utf8_lossy(b).into_owned())
}
fn get_addr(buf: &[u8], ty: u16, af: u16) -> Option<IpAddr> {
    let b = attr(buf, ty)?;
    if af == AF_INET6 {
        Some(IpAddr::from(<[u8; 16]>::try_from(b.get(..16)?).ok()?))
    } else {
        Some(IpAddr::from(<[u8; 4]>::try_from(b.get(..4)?).ok()?))
    }
}

fn af(f: Family) -> u16 {
    match f {
        Family::V4 => AF_INET,
        Family::V6 => AF_INET6,
    }
}

/// The attributes identifying a service: AF, then PROTOCOL/ADDR/PORT or FWMARK.
fn put_service_key(a: &mut AttrBuf, key: &ServiceKey) {
    a.u16(IPVS_SVC_ATTR_AF, af(key.family()));
    match key {
        ServiceKey::Ip { addr, port, proto } => {
            a.u16(IPVS_SVC_ATTR_PROTOCOL, u16::from(proto.number()))
                .addr(IPVS_SVC_ATTR_ADDR, addr)
                .be16(IPVS_SVC_ATTR_PORT, *port);
        }
        ServiceKey::Fwmark { mark, .. } => {
            a.u32(IPVS_SVC_ATTR_FWMARK, *mark);
        }
    }
}

/// The IPVS flag bits of a service: persistence, `ops` and scheduler flags.
/// Unknown flag names are errors.
pub fn service_flags(svc: &Service) -> Result<u32, String> {
    let mut f = 0;
    if svc.persistence.is_some() {
        f |= IP_VS_SVC_F_PERSISTENT;
    }
    for name in &svc.flags {
        f |= match name.as_str() {
            "ops" => IP_VS_SVC_F_ONEPACKET,
            "sh-fallback" | "mh-fallback" | "flag-1" => IP_VS_SVC_F_SCHED1,
            "sh-port" | "mh-port" | "flag-2" => IP_VS_SVC_F_SCHED2,
            "flag-3" => IP_VS_SVC_F_SCHED3,
            other => return Err(format!("unknown service flag {other:?}")),
        };
    }
    Ok(f)
}

/// Flag names for the bits of a service read back from the kernel, in a
/// canonical order: scheduler flags (bit 1, 2, 3; named after `sh` / `mh` when
/// the scheduler is one of those), then `ops`.
pub fn flag_names(sched: &str, flags: u32) -> Vec<String> {
    let mut out = Vec::new();
    let named = matches!(sched, "sh" | "mh");
    if flags & IP_VS_SVC_F_SCHED1 != 0 {
        out.push(if named {
            format!("{sched}-fallback")
        } else {
            "flag-1".into()
        });
    }
    if flags & IP_VS_SVC_F_SCHED2 != 0 {
        out.push(if named {
            format!("{sched}-port")
        } else {
            "flag-2".into()
        });
    }
    if flags & IP_VS_SVC_F_SCHED3 != 0 {
        out.push("flag-3".into());
    }
    if flags & IP_VS_SVC_F_ONEPACKET != 0 {
        out.push("ops".into());
    }
    out
}

/// The persistence netmask attribute: an IPv4 mask in network byte order, or
/// an IPv6 prefix length.
fn netmask(family: Family, p: Option<&Persistence>) -> u32 {
    match family {
        Family::V4 => {
            let bits = p.map(|p| p.granularity.min(32)).unwrap_or(32);
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(bits))
            };
            u32::from_ne_bytes(mask.to_be_bytes())
        }
        Family::V6 => u32::from(p.map(|p| p.granularity.min(128)).unwrap_or(128)),
    }
}

/// Attributes of NEW_SERVICE / SET_SERVICE: the full service entry.
pub fn service_attrs(svc: &Service, pe_name: Option<&str>) -> Result<Vec<u8>, String> {
    let flags = service_flags(svc)?;
    let mut a = AttrBuf::new();
    a.nest(IPVS_CMD_ATTR_SERVICE);
    put_service_key(&mut a, &svc.key);
    a.str(IPVS_SVC_ATTR_SCHED_NAME, &svc.scheduler);
    if let Some(pe) = pe_name {
        a.str(IPVS_SVC_ATTR_PE_NAME, pe);
    }
    let mut fl = [0u8; 8];
    fl[..4].copy_from_slice(&flags.to_ne_bytes());
    fl[4..].copy_from_slice(&u32::MAX.to_ne_bytes());
    a.bytes(IPVS_SVC_ATTR_FLAGS, &fl)
        .u32(
            IPVS_SVC_ATTR_TIMEOUT,
            svc.persistence.map(|p| p.timeout_s).unwrap_or(0),
        )
        .u32(
            IPVS_SVC_ATTR_NETMASK,
            netmask(svc.key.family(), svc.persistence.as_ref()),
        )
        .end();
    Ok(a.finish())
}

/// Attributes naming only a service (DEL_SERVICE, GET_DEST).
pub fn service_key_attrs(key: &ServiceKey) -> Vec<u8> {
    let mut a = AttrBuf::new();
    a.nest(IPVS_CMD_ATTR_SERVICE);
    put_service_key(&mut a, key);
    a.end();
    a.finish()
}

/// (type, port, flags) of a tunnel method; errors for unknown names.
pub fn tunnel_params(m: &Method) -> Result<(u8, u16, u16), String> {
    let Method::Tun { kind, port, csum } = m else {
        return Ok((0, 0, 0));
    };
    let ty = match kind.to_ascii_lowercase().as_str() {
        "ipip" => IP_VS_CONN_F_TUNNEL_TYPE_IPIP,
        "gue" => IP_VS_CONN_F_TUNNEL_TYPE_GUE,
        "gre" => IP_VS_CONN_F_TUNNEL_TYPE_GRE,
        other => return Err(format!("unknown tunnel type {other:?}")),
    };
    let flags = match csum.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("nocsum") => IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM,
        Some("csum") => IP_VS_TUNNEL_ENCAP_FLAG_CSUM,
        Some("remcsum") => IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM,
        Some(other) => return Err(format!("unknown tunnel checksum {other:?}")),
    };
    Ok((ty, port.unwrap_or(0), flags))
}

fn fwd_method(m: &Method) -> u32 {
    match m {
        Method::Nat => IP_VS_CONN_F_MASQ,
        Method::Dr => IP_VS_CONN_F_DROUTE,
        Method::Tun { .. } => IP_VS_CONN_F_TUNNEL,
    }
}

/// Attributes of NEW_DEST / SET_DEST: the service's key and the full destination.
pub fn dest_attrs(service: &ServiceKey, dest: &DestKey, p: &Dest) -> Result<Vec<u8>, String> {
    let (tun_type, tun_port, tun_flags) = tunnel_params(&p.method)?;
    let mut a = AttrBuf::new();
    a.nest(IPVS_CMD_ATTR_SERVICE);
    put_service_key(&mut a, service);
    a.end();
    a.nest(IPVS_CMD_ATTR_DEST)
        .u16(IPVS_DEST_ATTR_ADDR_FAMILY, af(Family::of(&dest.addr)))
        .addr(IPVS_DEST_ATTR_ADDR, &dest.addr)
        .be16(IPVS_DEST_ATTR_PORT, dest.port)
        .u32(IPVS_DEST_ATTR_FWD_METHOD, fwd_method(&p.method))
        .u32(IPVS_DEST_ATTR_WEIGHT, p.weight)
        .u8(IPVS_DEST_ATTR_TUN_TYPE, tun_type)
        .be16(IPVS_DEST_ATTR_TUN_PORT, tun_port)
        .u16(IPVS_DEST_ATTR_TUN_FLAGS, tun_flags)
        .u32(IPVS_DEST_ATTR_U_THRESH, p.u_threshold)
        .u32(IPVS_DEST_ATTR_L_THRESH, p.l_threshold)
        .end();
    Ok(a.finish())
}

/// Attributes of DEL_DEST: the service's key and the destination's address and port.
pub fn dest_key_attrs(service: &ServiceKey, dest: &DestKey) -> Vec<u8> {
    let mut a = AttrBuf::new();
    a.nest(IPVS_CMD_ATTR_SERVICE);
    put_service_key(&mut a, service);
    a.end();
    a.nest(IPVS_CMD_ATTR_DEST)
        .u16(IPVS_DEST_ATTR_ADDR_FAMILY, af(Family::of(&dest.addr)))
        .addr(IPVS_DEST_ATTR_ADDR, &dest.addr)
        .be16(IPVS_DEST_ATTR_PORT, dest.port)
        .end();
    a.finish()
}

/// Sync daemon role (`lvs_sync_daemon` state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncState {
    Master,
    Backup,
}

impl SyncState {
    pub fn bits(self) -> u32 {
        match self {
            SyncState::Master => IP_VS_STATE_MASTER,
            SyncState::Backup => IP_VS_STATE_BACKUP,
        }
    }
}

/// What a sync daemon is started with (`lvs_sync_daemon IF INST [id N]
/// [maxlen LEN] [port P] [ttl T] [group IP]`); `None` keeps the kernel's
/// default (maxlen from the MTU, 224.0.0.81 / ff02::8148, port 8848, ttl 1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncConfig {
    pub ifname: String,
    pub syncid: u32,
    pub maxlen: Option<u16>,
    pub group: Option<IpAddr>,
    pub port: Option<u16>,
    pub ttl: Option<u8>,
}

/// Attributes of NEW_DAEMON.
pub fn daemon_attrs(state: SyncState, ifname: &str, syncid: u32) -> Vec<u8> {
    sync_daemon_attrs(
        state,
        &SyncConfig {
            ifname: ifname.to_string(),
            syncid,
            ..SyncConfig::default()
        },
    )
}

/// Attributes of NEW_DAEMON with every option.
pub fn sync_daemon_attrs(state: SyncState, c: &SyncConfig) -> Vec<u8> {
    let mut a = AttrBuf::new();
    a.nest(IPVS_CMD_ATTR_DAEMON)
        .u32(IPVS_DAEMON_ATTR_STATE, state.bits())
        .str(IPVS_DAEMON_ATTR_MCAST_IFN, &c.ifname)
        .u32(IPVS_DAEMON_ATTR_SYNC_ID, c.syncid);
    if let Some(m) = c.maxlen {
        a.u16(IPVS_DAEMON_ATTR_SYNC_MAXLEN, m);
    }
    // The kernel reads a 4-byte in_addr here, unlike the 16-byte service
    // address.
    match c.group {
        Some(IpAddr::V4(g)) => {
            a.bytes(IPVS_DAEMON_ATTR_MCAST_GROUP, &g.octets());
        }
        Some(IpAddr::V6(g)) => {
            a.bytes(IPVS_DAEMON_ATTR_MCAST_GROUP6, &g.octets());
        }
        None => {}
    }
    if let Some(p) = c.port {
        a.u16(IPVS_DAEMON_ATTR_MCAST_PORT, p);
    }
    if let Some(t) = c.ttl {
        a.u8(IPVS_DAEMON_ATTR_MCAST_TTL, t);
    }
    a.end();
    a.finish()
}

/// Attributes of DEL_DAEMON.
pub fn daemon_state_attrs(state: SyncState) -> Vec<u8> {
    let mut a = AttrBuf::new();
    a.nest(IPVS_CMD_ATTR_DAEMON)
        .u32(IPVS_DAEMON_ATTR_STATE, state.bits())
        .end();
    a.finish()
}

/// Attributes of SET_CONFIG (seconds; 0 leaves a timeout unchanged).
pub fn timeout_attrs(tcp: u32, tcpfin: u32, udp: u32) -> Vec<u8> {
    let mut a = AttrBuf::new();
    a.u32(IPVS_CMD_ATTR_TIMEOUT_TCP, tcp)
        .u32(IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, tcpfin)
        .u32(IPVS_CMD_ATTR_TIMEOUT_UDP, udp);
    a.finish()
}

/// A service as the kernel reports it (GET_SERVICE reply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelService {
    pub service: Service,
    /// The raw flag bits (without `IP_VS_SVC_F_HASHED`).
    pub flags: u32,
    /// The persistence engine (`sip`), if any.
    pub pe_name: Option<String>,
}

/// Parses the IPVS_CMD_ATTR_SERVICE nest of a GET_SERVICE reply's attributes.
/// None for services the model cannot express (unknown protocol or family).
pub fn parse_service(msg_attrs: &[u8]) -> Option<KernelService> {
    let s = attr(msg_attrs, IPVS_CMD_ATTR_SERVICE)?;
    let family = match get_u16(s, IPVS_SVC_ATTR_AF)? {
        AF_INET => Family::V4,
        AF_INET6 => Family::V6,
        _ => return None,
    };
    let afn = af(family);
    let mark = get_u32(s, IPVS_SVC_ATTR_FWMARK).unwrap_or(0);
    let key = if mark != 0 {
        ServiceKey::Fwmark { mark, family }
    } else {
        let proto = match get_u16(s, IPVS_SVC_ATTR_PROTOCOL)? {
            6 => Proto::Tcp,
            17 => Proto::Udp,
            132 => Proto::Sctp,
            _ => return None,
        };
        ServiceKey::Ip {
            addr: get_addr(s, IPVS_SVC_ATTR_ADDR, afn)?,
            port: get_be16(s, IPVS_SVC_ATTR_PORT)?,
            proto,
        }
    };
    let scheduler = get_str(s, IPVS_SVC_ATTR_SCHED_NAME).unwrap_or_default();
    let flags = attr(s, IPVS_SVC_ATTR_FLAGS)
        .and_then(|b| b.get(..4))
        .map(|b| u32::from_ne_bytes(b.try_into().unwrap()))
        .unwrap_or(0)
        & !IP_VS_SVC_F_HASHED;
    let persistence = (flags & IP_VS_SVC_F_PERSISTENT != 0).then(|| {
        let nm = get_u32(s, IPVS_SVC_ATTR_NETMASK).unwrap_or(0);
        let granularity = match family {
            Family::V4 => u32::from_be_bytes(nm.to_ne_bytes()).leading_ones() as u8,
            Family::V6 => nm.min(128) as u8,
        };
        Persistence {
            timeout_s: get_u32(s, IPVS_SVC_ATTR_TIMEOUT).unwrap_or(0),
            granularity,
        }
    });
    let mut service = Service::new(key, &scheduler);
    service.flags = flag_names(&scheduler, flags);
    service.persistence = persistence;
    Some(KernelService {
        service,
        flags,
        pe_name: get_str(s, IPVS_SVC_ATTR_PE_NAME).filter(|p| !p.is_empty()),
    })
}

/// Parses the IPVS_CMD_ATTR_DEST nest of a GET_DEST reply's attributes.
pub fn parse_dest(msg_attrs: &[u8], svc_family: Family) -> Option<(DestKey, Dest)> {
    let d = attr(msg_attrs, IPVS_CMD_ATTR_DEST)?;
    let afn = get_u16(d, IPVS_DEST_ATTR_ADDR_FAMILY).unwrap_or(af(svc_family));
    let key = DestKey {
        addr: get_addr(d, IPVS_DEST_ATTR_ADDR, afn)?,
        port: get_be16(d, IPVS_DEST_ATTR_PORT)?,
    };
    let fwd = get_u32(d, IPVS_DEST_ATTR_FWD_METHOD).unwrap_or(0) & IP_VS_CONN_F_FWD_MASK;
    let method = match fwd {
        IP_VS_CONN_F_DROUTE => Method::Dr,
        IP_VS_CONN_F_TUNNEL => {
            let kind = match get_u8(d, IPVS_DEST_ATTR_TUN_TYPE).unwrap_or(0) {
                IP_VS_CONN_F_TUNNEL_TYPE_GUE => "gue",
                IP_VS_CONN_F_TUNNEL_TYPE_GRE => "gre",
                _ => "ipip",
            };
            let port = get_be16(d, IPVS_DEST_ATTR_TUN_PORT).filter(|p| *p != 0);
            let csum = match get_u16(d, IPVS_DEST_ATTR_TUN_FLAGS).unwrap_or(0) {
                IP_VS_TUNNEL_ENCAP_FLAG_CSUM => Some("csum".to_string()),
                IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM => Some("remcsum".to_string()),
                _ => None,
            };
            Method::Tun {
                kind: kind.into(),
                port,
                csum,
            }
        }
        // masquerading (and LOCALNODE, which the model has no name for)
        _ => Method::Nat,
    };
    Some((
        key,
        Dest {
            weight: get_u32(d, IPVS_DEST_ATTR_WEIGHT).unwrap_or(0),
            method,
            u_threshold: get_u32(d, IPVS_DEST_ATTR_U_THRESH).unwrap_or(0),
            l_threshold: get_u32(d, IPVS_DEST_ATTR_L_THRESH).unwrap_or(0),
        },
    ))
}

/// The payload of an IPVS generic netlink message: the command (in the genl
/// header) and the encoded attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpvsPayload {
    pub cmd: u8,
    pub attrs: Vec<u8>,
}

impl GenlFamily for IpvsPayload {
    fn family_name() -> &'static str {
        IPVS_GENL_NAME
    }
    fn command(&self) -> u8 {
        self.cmd
    }
    fn version(&self) -> u8 {
        IPVS_GENL_VERSION
    }
}

impl Emitable for IpvsPayload {
    fn buffer_len(&self) -> usize {
        self.attrs.len()
    }
    fn emit(&self, buffer: &mut [u8]) {
        buffer[..self.attrs.len()].copy_from_slice(&self.attrs);
    }
}

impl ParseableParametrized<[u8], GenlHeader> for IpvsPayload {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        Ok(IpvsPayload {
            cmd: header.cmd,
            attrs: buf.to_vec(),
        })
    }
}

/// The bytes of one IPVS request (nlmsghdr + genlmsghdr + attributes), port id 0.
pub fn encode_request(family_id: u16, flags: u16, seq: u32, cmd: u8, attrs: Vec<u8>) -> Vec<u8> {
    let mut genl = GenlMessage::from_payload(IpvsPayload { cmd, attrs });
    genl.set_resolved_family_id(family_id);
    genl.finalize();
    let mut header = NetlinkHeader::default();
    header.flags = flags;
    header.sequence_number = seq;
    let mut msg = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(genl));
    msg.finalize();
    let mut buf = vec![0u8; msg.buffer_len()];
    msg.serialize(&mut buf);
    buf
}

/// The IPVS payloads of a received datagram for sequence `seq`. Ok(true) once the
/// exchange is over (ACK, error or NLMSG_DONE).
fn collect_replies(data: &[u8], seq: u32, out: &mut Vec<IpvsPayload>) -> io::Result<bool> {
    let mut off = 0;
    while off + 16 <= data.len() {
        let msg = NetlinkMessage::<GenlMessage<IpvsPayload>>::deserialize(&data[off..])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        let len = msg.header.length as usize;
        if len < 16 {
            break;
        }
        off += align4(len);
        if msg.header.sequence_number != seq {
            continue; // a late answer to an earlier (timed out) request
        }
        match msg.payload {
            NetlinkPayload::Done(d) => {
                if d.code < 0 {
                    return Err(io::Error::from_raw_os_error(-d.code));
                }
                return Ok(true);
            }
            NetlinkPayload::Error(e) => {
                return match e.code {
                    None => Ok(true),
                    Some(c) => Err(io::Error::from_raw_os_error(-c.get())),
                };
            }
            NetlinkPayload::InnerMessage(g) => out.push(g.payload),
            _ => {}
        }
    }
    Ok(false)
}

/// A generic netlink socket with a receive timeout.
pub struct GenlSocket {
    sock: Socket,
    seq: u32,
}

impl GenlSocket {
    pub fn new() -> io::Result<GenlSocket> {
        let mut sock = Socket::new(NETLINK_GENERIC)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        setsockopt(
            &sock,
            sockopt::ReceiveTimeout,
            &TimeVal::from(libc::timeval {
                tv_sec: RECV_TIMEOUT.as_secs() as libc::time_t,
                tv_usec: 0,
            }),
        )
        .map_err(io::Error::from)?;
        let _ = setsockopt(&sock, sockopt::RcvBuf, &(1 << 20));
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(1);
        Ok(GenlSocket { sock, seq: seed })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Sends one message and gathers the replies until the ACK / error / DONE.
    fn exchange(&mut self, bytes: &[u8], seq: u32) -> io::Result<Vec<IpvsPayload>> {
        let n = self.sock.send(bytes, 0)?;
        if n != bytes.len() {
            return Err(io::Error::other("short netlink send"));
        }
        let mut out = Vec::new();
        loop {
            let (data, _) = match self.sock.recv_from_full() {
                Ok(d) => d,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no answer from the kernel",
                    ))
                }
                Err(e) => return Err(e),
            };
            if collect_replies(&data, seq, &mut out)? {
                return Ok(out);
            }
        }
    }

    /// A request to `family_id` acknowledged by the kernel (NLM_F_ACK).
    pub fn request(&mut self, family_id: u16, cmd: u8, attrs: Vec<u8>) -> io::Result<()> {
        let seq = self.next_seq();
        let bytes = encode_request(family_id, NLM_F_REQUEST | NLM_F_ACK, seq, cmd, attrs);
        self.exchange(&bytes, seq).map(|_| ())
    }

    /// A dump request: every reply message.
    pub fn dump(
        &mut self,
        family_id: u16,
        cmd: u8,
        attrs: Vec<u8>,
    ) -> io::Result<Vec<IpvsPayload>> {
        let seq = self.next_seq();
        let bytes = encode_request(family_id, NLM_F_REQUEST | NLM_F_DUMP, seq, cmd, attrs);
        self.exchange(&bytes, seq)
    }

    /// The id of generic netlink family `name` (ENOENT when the kernel has none).
    pub fn resolve_family(&mut self, name: &str) -> io::Result<u16> {
        let seq = self.next_seq();
        let mut genl = GenlMessage::from_payload(GenlCtrl {
            cmd: GenlCtrlCmd::GetFamily,
            nlas: vec![GenlCtrlAttrs::FamilyName(name.to_owned())],
        });
        genl.finalize();
        let mut msg = NetlinkMessage::from(genl);
        msg.header.flags = NLM_F_REQUEST | NLM_F_ACK;
        msg.header.sequence_number = seq;
        msg.finalize();
        let mut buf = vec![0u8; msg.buffer_len()];
        msg.serialize(&mut buf);
        self.sock.send(&buf, 0)?;
        let mut id = None;
        loop {
            let (data, _) = self.sock.recv_from_full().map_err(|e| {
                if e.kind() == io::ErrorKind::WouldBlock {
                    io::Error::new(io::ErrorKind::TimedOut, "no answer from nlctrl")
                } else {
                    e
                }
            })?;
            let mut off = 0;
            while off + 16 <= data.len() {
                let m = NetlinkMessage::<GenlMessage<GenlCtrl>>::deserialize(&data[off..])
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                let len = m.header.length as usize;
                if len < 16 {
                    break;
                }
                off += align4(len);
                if m.header.sequence_number != seq {
                    continue;
                }
                match m.payload {
                    NetlinkPayload::InnerMessage(g) => {
                        id = id.or(g.payload.nlas.iter().find_map(|a| match a {
                            GenlCtrlAttrs::FamilyId(i) => Some(*i),
                            _ => None,
                        }));
                    }
                    NetlinkPayload::Error(e) => {
                        if let Some(c) = e.code {
                            return Err(io::Error::from_raw_os_error(-c.get()));
                        }
                        return id.ok_or_else(|| {
                            io::Error::new(io::ErrorKind::InvalidData, "no family id in reply")
                        });
                    }
                    _ => {}
                }
            }
        }
    }
}

/// The id of generic netlink family `name` in this network namespace, e.g.
/// `resolve_family("IPVS")` (ENOENT: the kernel has no such family loaded).
pub fn resolve_family(name: &str) -> io::Result<u16> {
    GenlSocket::new()?.resolve_family(name)
}

#[cfg(test)]
mod tests {
    //! Golden bytes.
    //!
    //! How they were obtained: inside an `ipvs-vm` guest (Debian's UML 6.1
    //! kernel, ipvsadm v1.31) each `ipvsadm` command was run under
    //! `strace -f -e trace=sendmsg,recvmsg -e write=all -e read=all`, and the
    //! hex dumps of the IPVS-family messages were cut out (family id 0x1c
    //! there; the nlctrl lookup and IPVS_CMD_GET_INFO messages skipped). The
    //! port id (nlmsg_pid, which libnl fills with the socket's and we leave 0)
    //! and the sequence number are replaced by 0 and 7 below. Differences from
    //! ipvsadm are deliberate and listed at each test.
    use super::*;

    const FAM: u16 = 0x1c;
    const SEQ: u32 = 7;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn tcp(a: &str, port: u16) -> ServiceKey {
        ServiceKey::Ip {
            addr: a.parse().unwrap(),
            port,
            proto: Proto::Tcp,
        }
    }

    fn req(cmd: u8, attrs: Vec<u8>) -> Vec<u8> {
        encode_request(FAM, NLM_F_REQUEST | NLM_F_ACK, SEQ, cmd, attrs)
    }

    /// `ipvsadm -A -t 10.0.0.1:80 -s rr -p 300`: identical bytes.
    #[test]
    fn golden_new_service_v4_tcp_rr_persistent() {
        let mut s = Service::new(tcp("10.0.0.1", 80), "rr");
        s.persistence = Some(Persistence {
            timeout_s: 300,
            granularity: 32,
        });
        let got = req(IPVS_CMD_NEW_SERVICE, service_attrs(&s, None).unwrap());
        let want = hex("68000000 1c00 0500 07000000 00000000  01010000
            5400 0180
              0600 0100 0200 0000
              0600 0200 0600 0000
              1400 0300 0a000001 00000000 00000000 00000000
              0600 0400 0050 0000
              0700 0600 727200 00
              0c00 0700 01000000 ffffffff
              0800 0800 2c010000
              0800 0900 ffffffff");
        assert_eq!(got, want);
    }

    /// `ipvsadm -A -f 7 -6 -s wlc`: identical bytes (netmask = prefix length 128).
    #[test]
    fn golden_new_service_fwmark_v6() {
        let s = Service::new(
            ServiceKey::Fwmark {
                mark: 7,
                family: Family::V6,
            },
            "wlc",
        );
        let got = req(IPVS_CMD_NEW_SERVICE, service_attrs(&s, None).unwrap());
        let want = hex("4c000000 1c00 0500 07000000 00000000  01010000
            3800 0180
              0600 0100 0a00 0000
              0800 0500 07000000
              0800 0600 776c6300
              0c00 0700 00000000 ffffffff
              0800 0800 00000000
              0800 0900 80000000");
        assert_eq!(got, want);
    }

    /// `ipvsadm -a -t 10.0.0.1:80 -r 10.0.1.2:8080 -m -w 3`. ipvsadm repeats the
    /// whole service entry in the SERVICE nest (empty scheduler name, flags,
    /// timeout, netmask), which the kernel ignores for destination commands
    /// (`ip_vs_genl_parse_service(.., full_entry = false)`); we send the key
    /// only. The DEST nest is identical to ipvsadm's.
    #[test]
    fn golden_new_dest_nat_weight_3() {
        let dk = DestKey {
            addr: "10.0.1.2".parse().unwrap(),
            port: 8080,
        };
        let got = req(
            IPVS_CMD_NEW_DEST,
            dest_attrs(&tcp("10.0.0.1", 80), &dk, &Dest::nat(3)).unwrap(),
        );
        let want = hex("a4000000 1c00 0500 07000000 00000000  05010000
            3000 0180
              0600 0100 0200 0000
              0600 0200 0600 0000
              1400 0300 0a000001 00000000 00000000 00000000
              0600 0400 0050 0000
            6000 0280
              0600 0b00 0200 0000
              1400 0100 0a000102 00000000 00000000 00000000
              0600 0200 1f90 0000
              0800 0300 00000000
              0800 0400 03000000
              0500 0d00 00 000000
              0600 0e00 0000 0000
              0600 0f00 0000 0000
              0800 0500 00000000
              0800 0600 00000000");
        assert_eq!(got, want);
    }

    /// `ipvsadm -d -t 10.0.0.1:80 -r 10.0.1.2:8080`: ipvsadm sends the full
    /// service and destination entries (with its defaults: weight 1, DR); the
    /// kernel reads only the keys, which is what we send.
    #[test]
    fn golden_del_dest() {
        let dk = DestKey {
            addr: "10.0.1.2".parse().unwrap(),
            port: 8080,
        };
        let got = req(IPVS_CMD_DEL_DEST, dest_key_attrs(&tcp("10.0.0.1", 80), &dk));
        let want = hex("6c000000 1c00 0500 07000000 00000000  07010000
            3000 0180
              0600 0100 0200 0000
              0600 0200 0600 0000
              1400 0300 0a000001 00000000 00000000 00000000
              0600 0400 0050 0000
            2800 0280
              0600 0b00 0200 0000
              1400 0100 0a000102 00000000 00000000 00000000
              0600 0200 1f90 0000");
        assert_eq!(got, want);
    }

    #[test]
    fn flags_and_tunnels() {
        let mut s = Service::new(tcp("10.0.0.1", 80), "sh");
        s.flags = vec!["sh-port".into(), "ops".into(), "sh-fallback".into()];
        let f = service_flags(&s).unwrap();
        assert_eq!(
            f,
            IP_VS_SVC_F_SCHED1 | IP_VS_SVC_F_SCHED2 | IP_VS_SVC_F_ONEPACKET
        );
        assert_eq!(flag_names("sh", f), ["sh-fallback", "sh-port", "ops"]);
        assert_eq!(flag_names("wrr", IP_VS_SVC_F_SCHED3), ["flag-3"]);
        s.flags = vec!["bogus".into()];
        assert!(service_flags(&s).is_err());
        let gue = Method::Tun {
            kind: "gue".into(),
            port: Some(6080),
            csum: Some("remcsum".into()),
        };
        assert_eq!(tunnel_params(&gue).unwrap(), (1, 6080, 2));
        // v4 persistence mask in network order, v6 as a prefix length
        let p = Persistence {
            timeout_s: 1,
            granularity: 24,
        };
        assert_eq!(
            netmask(Family::V4, Some(&p)).to_ne_bytes(),
            [255, 255, 255, 0]
        );
        assert_eq!(netmask(Family::V6, Some(&p)), 24);
    }

    /// The reply of `ipvsadm -Ln` (GET_SERVICE dump, two NEW_SERVICE messages
    /// in one datagram) after `ipvsadm -A -t 10.0.0.1:80 -s rr -p 300` and
    /// `ipvsadm -A -f 7 -6 -s wlc`, then the GET_DEST dump of the first after
    /// `ipvsadm -a -t 10.0.0.1:80 -r 10.0.1.3:8080 -g -w 2 -x 10 -y 5`
    /// (ipvsadm turns a DR port into the service's).
    const SVC_DUMP: &str = "680100001c0002005697076bf302002e010100005401010006000100020000000600020006000000140003000a000001000000000000000000000000060004000050000007000600727200000c00070003000000ffffffff080008002c01000008000900ffffffff60000a000800010000000000080002000000000008000300000000000c000400000000000000000004000b000c0005000000000000000000080006000000000008000700000000000800080000000000080009000000000008000a0000000000a0000c000c000100000000000000000004000b000c000200000000000000000004000b000c000300000000000000000004000b000c000400000000000000000004000b000c000500000000000000000004000b000c000600000000000000000004000b000c000700000000000000000004000b000c000800000000000000000004000b000c000900000000000000000004000b000c000a000000000000000000500100001c0002005697076bf302002e010100003c010100060001000a000000080005000700000008000600776c63000c00070002000000ffffffff0800080000000000080009008000000064000a0008000100000000000800020000000000080003000000000004000b000c000400000000000000000004000b000c0005000000000000000000080006000000000008000700000000000800080000000000080009000000000008000a0000000000a0000c000c000100000000000000000004000b000c000200000000000000000004000b000c000300000000000000000004000b000c000400000000000000000004000b000c000500000000000000000004000b000c000600000000000000000004000b000c000700000000000000000004000b000c000800000000000000000004000b000c000900000000000000000004000b000c000a000000000000000000";
    const DONE: &str = "14000000030002005697076bf302002e00000000";
    const DEST_DUMP: &str = "900100001c0002005697076bf302c050050100007c010200140001000a00010300000000000000000000000006000200005000000800030003000000080004000200000005000d000000000006000e000000000006000f0000000000080005000a000000080006000500000008000700000000000800080000000000080009000000000006000b000200000064000a0008000100000000000800020000000000080003000000000004000b000c000400000000000000000004000b000c0005000000000000000000080006000000000008000700000000000800080000000000080009000000000008000a0000000000a0000c000c000100000000000000000004000b000c000200000000000000000004000b000c000300000000000000000004000b000c000400000000000000000004000b000c000500000000000000000004000b000c000600000000000000000004000b000c000700000000000000000004000b000c000800000000000000000004000b000c000900000000000000000004000b000c000a000000000000000000";

    #[test]
    fn parses_captured_dumps() {
        let data = hex(SVC_DUMP);
        let seq_of = |b: &[u8]| u32::from_ne_bytes(b[8..12].try_into().unwrap());
        assert_eq!(seq_of(&data), seq_of(&hex(DONE)));
        let s = seq_of(&data);
        let mut out = Vec::new();
        assert!(!collect_replies(&data, s, &mut out).unwrap());
        assert!(collect_replies(&hex(DONE), s, &mut out).unwrap());
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|p| p.cmd == IPVS_CMD_NEW_SERVICE));
        let a = parse_service(&out[0].attrs).unwrap();
        let mut want = Service::new(tcp("10.0.0.1", 80), "rr");
        want.persistence = Some(Persistence {
            timeout_s: 300,
            granularity: 32,
        });
        assert_eq!(a.service, want);
        assert_eq!(a.flags, IP_VS_SVC_F_PERSISTENT);
        assert_eq!(a.pe_name, None);
        let b = parse_service(&out[1].attrs).unwrap();
        assert_eq!(
            b.service,
            Service::new(
                ServiceKey::Fwmark {
                    mark: 7,
                    family: Family::V6
                },
                "wlc"
            )
        );

        let data = hex(DEST_DUMP);
        let mut out = Vec::new();
        collect_replies(&data, seq_of(&data), &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].cmd, IPVS_CMD_NEW_DEST);
        let (k, d) = parse_dest(&out[0].attrs, Family::V4).unwrap();
        assert_eq!(
            k,
            DestKey {
                addr: "10.0.1.3".parse().unwrap(),
                port: 80
            }
        );
        assert_eq!(
            d,
            Dest {
                weight: 2,
                method: Method::Dr,
                u_threshold: 10,
                l_threshold: 5
            }
        );
        // a reply to another request is ignored
        let mut none = Vec::new();
        assert!(!collect_replies(&data, 1, &mut none).unwrap());
        assert!(none.is_empty());
    }

    #[test]
    fn family_lookup() {
        // nlctrl itself always has id 0x10; IPVS resolves iff the kernel has it
        assert_eq!(resolve_family("nlctrl").unwrap(), 0x10);
        match resolve_family(IPVS_GENL_NAME) {
            Ok(id) => assert!(id >= 0x10),
            Err(e) => assert_eq!(e.raw_os_error(), Some(libc::ENOENT), "{e}"),
        }
    }

    #[test]
    fn errors_and_round_trip() {
        // an NLMSG_ERROR with -EEXIST for seq 7
        let mut e = Vec::new();
        e.extend(36u32.to_ne_bytes());
        e.extend(2u16.to_ne_bytes());
        e.extend(0u16.to_ne_bytes());
        e.extend(7u32.to_ne_bytes());
        e.extend(0u32.to_ne_bytes());
        e.extend((-libc::EEXIST).to_ne_bytes());
        e.extend(req(IPVS_CMD_NEW_SERVICE, vec![])[..16].iter());
        let err = collect_replies(&e, 7, &mut Vec::new()).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EEXIST));

        // what we encode parses back to the same service / destination
        let mut s = Service::new(
            ServiceKey::Ip {
                addr: "2001:db8::1".parse().unwrap(),
                port: 443,
                proto: Proto::Sctp,
            },
            "mh",
        );
        s.flags = vec!["mh-fallback".into(), "mh-port".into(), "ops".into()];
        s.persistence = Some(Persistence {
            timeout_s: 60,
            granularity: 64,
        });
        let attrs = service_attrs(&s, Some("sip")).unwrap();
        let k = parse_service(&attrs).unwrap();
        assert_eq!(k.service, s);
        assert_eq!(k.pe_name.as_deref(), Some("sip"));
        let dk = DestKey {
            addr: "2001:db8::10".parse().unwrap(),
            port: 443,
        };
        let d = Dest {
            weight: 5,
            method: Method::Tun {
                kind: "gue".into(),
                port: Some(6080),
                csum: Some("csum".into()),
            },
            u_threshold: 100,
            l_threshold: 10,
        };
        let attrs = dest_attrs(&s.key, &dk, &d).unwrap();
        assert_eq!(parse_dest(&attrs, Family::V6), Some((dk, d)));
    }
}
