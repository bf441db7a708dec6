//! Hand-encoded netlink: nf_tables set-element batches, conntrack dump/delete
//! and the generic-netlink family lookup. Plain byte building, no libnftnl.

use std::io;
use std::net::IpAddr;
use std::time::Duration;

use netlink_sys::{constants, Socket, SocketAddr};
use nix::sys::socket::{setsockopt, sockopt};
use nix::sys::time::TimeVal;

pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP: u16 = 0x300;
pub const NLM_F_CREATE: u16 = 0x400;
pub const NLA_F_NESTED: u16 = 0x8000;

pub const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
pub const NFNL_MSG_BATCH_END: u16 = 0x11;
pub const NFNL_SUBSYS_CTNETLINK: u16 = 1;
pub const NFNL_SUBSYS_NFTABLES: u16 = 10;
pub const NFT_MSG_NEWSETELEM: u16 = 12;
pub const NFT_MSG_DELSETELEM: u16 = 14;
pub const NFPROTO_INET: u8 = 1;

const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;

const IPCTNL_MSG_CT_GET: u16 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_REPLY: u16 = 2;
const CTA_TUPLE_IP: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
const CTA_IP_V4_SRC: u16 = 1;
const CTA_IP_V4_DST: u16 = 2;
const CTA_IP_V6_SRC: u16 = 3;
const CTA_IP_V6_DST: u16 = 4;
const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_SRC_PORT: u16 = 2;
const CTA_PROTO_DST_PORT: u16 = 3;

const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// One netlink message being built: header, a 4-byte family header, attributes.
#[derive(Debug, Clone)]
pub struct Msg {
    buf: Vec<u8>,
    nests: Vec<usize>,
}

impl Msg {
    /// A netfilter message: nlmsghdr + nfgenmsg {family, version 0, res_id (big endian)}.
    pub fn nf(ty: u16, flags: u16, seq: u32, family: u8, res_id: u16) -> Msg {
        let mut m = Msg::header(ty, flags, seq);
        m.buf.push(family);
        m.buf.push(0);
        m.buf.extend_from_slice(&res_id.to_be_bytes());
        m
    }

    /// A generic netlink message: nlmsghdr + genlmsghdr {cmd, version, 0}.
    pub fn genl(ty: u16, flags: u16, seq: u32, cmd: u8, version: u8) -> Msg {
        let mut m = Msg::header(ty, flags, seq);
        m.buf.extend_from_slice(&[cmd, version, 0, 0]);
        m
    }

    fn header(ty: u16, flags: u16, seq: u32) -> Msg {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // length, set by finish
        buf.extend_from_slice(&ty.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel
        Msg {
            buf,
            nests: Vec::new(),
        }
    }

    pub fn put(&mut self, ty: u16, data: &[u8]) -> &mut Self {
        let len = 4 + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.buf.resize(align4(self.buf.len()), 0);
        self
    }

    /// A NUL-terminated string attribute.
    pub fn put_str(&mut self, ty: u16, s: &str) -> &mut Self {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.put(ty, &v)
    }

    /// Opens a nested attribute (closed by [`Msg::end`]).
    pub fn begin(&mut self, ty: u16) -> &mut Self {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf
            .extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        self
    }

    pub fn end(&mut self) -> &mut Self {
        let at = self.nests.pop().expect("end without begin");
        let len = (self.buf.len() - at) as u16;
        self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }

    pub fn finish(mut self) -> Vec<u8> {
        assert!(self.nests.is_empty(), "unclosed nested attribute");
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf
    }
}

/// Attributes in `buf` as (type without flags, payload).
pub fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if buf.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([buf[0], buf[1]]) as usize;
        let ty = u16::from_ne_bytes([buf[2], buf[3]]) & 0x3fff;
        if len < 4 || len > buf.len() {
            return None;
        }
        let payload = &buf[4..len];
        buf = &buf[align4(len).min(buf.len())..];
        Some((ty, payload))
    })
}

fn attr(buf: &[u8], ty: u16) -> Option<&[u8]> {
    attrs(buf).find(|(t, _)| *t == ty).map(|(_, p)| p)
}

/// A received message header and its payload (after the 16-byte nlmsghdr).
pub struct Received<'a> {
    pub ty: u16,
    pub flags: u16,
    pub seq: u32,
    pub payload: &'a [u8],
}

pub fn messages(mut buf: &[u8]) -> impl Iterator<Item = Received<'_>> {
    std::iter::from_fn(move || {
        if buf.len() < 16 {
            return None;
        }
        let len = u32::from_ne_bytes(buf[0..4].try_into().ok()?) as usize;
        if len < 16 || len > buf.len() {
            return None;
        }
        let m = Received {
            ty: u16::from_ne_bytes([buf[4], buf[5]]),
            flags: u16::from_ne_bytes([buf[6], buf[7]]),
            seq: u32::from_ne_bytes(buf[8..12].try_into().ok()?),
            payload: &buf[16..len],
        };
        buf = &buf[align4(len).min(buf.len())..];
        Some(m)
    })
}

/// The errno of an NLMSG_ERROR payload (0: an acknowledgement).
fn error_code(payload: &[u8]) -> i32 {
    payload
        .get(0..4)
        .map(|b| i32::from_ne_bytes(b.try_into().unwrap()))
        .unwrap_or(-libc::EPROTO)
}

/// A netlink socket with a receive timeout.
pub struct NlSocket {
    sock: Socket,
    seq: u32,
}

impl NlSocket {
    pub fn new(protocol: isize) -> io::Result<NlSocket> {
        let mut sock = Socket::new(protocol)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        setsockopt(
            &sock,
            sockopt::ReceiveTimeout,
            &TimeVal::from(libc::timeval {
                tv_sec: 5,
                tv_usec: 0,
            }),
        )
        .map_err(io::Error::from)?;
        // big batches (thousands of elements) in one message train
        let _ = setsockopt(&sock, sockopt::SndBuf, &(4 << 20));
        let _ = setsockopt(&sock, sockopt::RcvBuf, &(4 << 20));
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(1);
        Ok(NlSocket { sock, seq: seed })
    }

    pub fn netfilter() -> io::Result<NlSocket> {
        NlSocket::new(constants::NETLINK_NETFILTER)
    }

    pub fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn send(&self, buf: &[u8]) -> io::Result<()> {
        let n = self.sock.send(buf, 0)?;
        if n != buf.len() {
            return Err(io::Error::other("short netlink send"));
        }
        Ok(())
    }

    fn recv(&self) -> io::Result<Vec<u8>> {
        let (buf, _) = self.sock.recv_from_full()?;
        Ok(buf)
    }

    /// Sends `buf` and waits for an ACK or error for each sequence number in `acks`.
    pub fn transact(&self, buf: &[u8], acks: &[u32]) -> io::Result<()> {
        self.send(buf)?;
        let mut pending: std::collections::BTreeSet<u32> = acks.iter().copied().collect();
        let mut first_err: Option<io::Error> = None;
        while !pending.is_empty() {
            let data = match self.recv() {
                Ok(d) => d,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(first_err.unwrap_or_else(|| {
                        io::Error::new(io::ErrorKind::TimedOut, "no netlink acknowledgement")
                    }))
                }
                Err(e) => return Err(e),
            };
            for m in messages(&data) {
                if m.ty == NLMSG_ERROR {
                    let code = error_code(m.payload);
                    pending.remove(&m.seq);
                    if code != 0 && first_err.is_none() {
                        first_err = Some(io::Error::from_raw_os_error(-code));
                    }
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Sends a dump request and returns every reply message's payload.
    pub fn dump(&self, buf: &[u8]) -> io::Result<Vec<(u16, Vec<u8>)>> {
        self.send(buf)?;
        let mut out = Vec::new();
        loop {
            let data = self.recv()?;
            for m in messages(&data) {
                match m.ty {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let code = error_code(m.payload);
                        if code == 0 {
                            return Ok(out);
                        }
                        return Err(io::Error::from_raw_os_error(-code));
                    }
                    t => out.push((t, m.payload.to_vec())),
                }
            }
        }
    }
}

/// One set element change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElemChange {
    pub set: String,
    pub key: Vec<u8>,
    /// Map data (None for a delete, or for a plain set).
    pub data: Option<Vec<u8>>,
}

/// What one nf_tables transaction does to set elements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ElemBatch {
    pub dels: Vec<ElemChange>,
    pub adds: Vec<ElemChange>,
    /// Sets to empty entirely (DELSETELEM without elements).
    pub flushes: Vec<String>,
}

impl ElemBatch {
    pub fn is_empty(&self) -> bool {
        self.dels.is_empty() && self.adds.is_empty() && self.flushes.is_empty()
    }
}

/// Most elements per message (keeps each message well under 64 KiB attributes).
const ELEMS_PER_MSG: usize = 400;

/// Encodes `batch` for `table` (family inet) as one nf_tables transaction:
/// BATCH_BEGIN, flushes, deletes, adds, BATCH_END. Returns the bytes and the
/// sequence numbers that will be acknowledged.
pub fn encode_batch(
    table: &str,
    batch: &ElemBatch,
    mut seq: impl FnMut() -> u32,
) -> (Vec<u8>, Vec<u32>) {
    let mut out = Vec::new();
    let mut acks = Vec::new();
    out.extend(
        Msg::nf(
            NFNL_MSG_BATCH_BEGIN,
            NLM_F_REQUEST,
            seq(),
            0,
            NFNL_SUBSYS_NFTABLES,
        )
        .finish(),
    );
    let ty = |cmd: u16| (NFNL_SUBSYS_NFTABLES << 8) | cmd;
    for set in &batch.flushes {
        let s = seq();
        let mut m = Msg::nf(
            ty(NFT_MSG_DELSETELEM),
            NLM_F_REQUEST | NLM_F_ACK,
            s,
            NFPROTO_INET,
            0,
        );
        m.put_str(NFTA_SET_ELEM_LIST_TABLE, table)
            .put_str(NFTA_SET_ELEM_LIST_SET, set);
        out.extend(m.finish());
        acks.push(s);
    }
    for (cmd, flags, list) in [
        (NFT_MSG_DELSETELEM, NLM_F_REQUEST | NLM_F_ACK, &batch.dels),
        (
            NFT_MSG_NEWSETELEM,
            NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK,
            &batch.adds,
        ),
    ] {
        // consecutive elements of one set go in one message
        let mut i = 0;
        while i < list.len() {
            let set = &list[i].set;
            let mut j = i;
            while j < list.len() && &list[j].set == set && j - i < ELEMS_PER_MSG {
                j += 1;
            }
            let s = seq();
            let mut m = Msg::nf(ty(cmd), flags, s, NFPROTO_INET, 0);
            m.put_str(NFTA_SET_ELEM_LIST_TABLE, table)
                .put_str(NFTA_SET_ELEM_LIST_SET, set)
                .begin(NFTA_SET_ELEM_LIST_ELEMENTS);
            for e in &list[i..j] {
                m.begin(NFTA_LIST_ELEM)
                    .begin(NFTA_SET_ELEM_KEY)
                    .put(NFTA_DATA_VALUE, &e.key)
                    .end();
                if let (Some(d), NFT_MSG_NEWSETELEM) = (&e.data, cmd) {
                    m.begin(NFTA_SET_ELEM_DATA).put(NFTA_DATA_VALUE, d).end();
                }
                m.end();
            }
            m.end();
            out.extend(m.finish());
            acks.push(s);
            i = j;
        }
    }
    out.extend(
        Msg::nf(
            NFNL_MSG_BATCH_END,
            NLM_F_REQUEST,
            seq(),
            0,
            NFNL_SUBSYS_NFTABLES,
        )
        .finish(),
    );
    (out, acks)
}

/// Does the generic netlink family `name` exist (in this network namespace)?
pub fn genl_family_exists(name: &str) -> bool {
    let Ok(mut s) = NlSocket::new(constants::NETLINK_GENERIC) else {
        return false;
    };
    let seq = s.next_seq();
    let mut m = Msg::genl(
        GENL_ID_CTRL,
        NLM_F_REQUEST | NLM_F_ACK,
        seq,
        CTRL_CMD_GETFAMILY,
        1,
    );
    m.put_str(CTRL_ATTR_FAMILY_NAME, name);
    s.transact(&m.finish(), &[seq]).is_ok()
}

/// A conntrack tuple: addresses, protocol and ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tuple {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
}

fn parse_tuple(buf: &[u8]) -> Option<Tuple> {
    let ip = attr(buf, CTA_TUPLE_IP)?;
    let (src, dst) = if let (Some(s), Some(d)) = (attr(ip, CTA_IP_V4_SRC), attr(ip, CTA_IP_V4_DST))
    {
        (
            IpAddr::from(<[u8; 4]>::try_from(s).ok()?),
            IpAddr::from(<[u8; 4]>::try_from(d).ok()?),
        )
    } else {
        let s: [u8; 16] = attr(ip, CTA_IP_V6_SRC)?.try_into().ok()?;
        let d: [u8; 16] = attr(ip, CTA_IP_V6_DST)?.try_into().ok()?;
        (IpAddr::from(s), IpAddr::from(d))
    };
    let p = attr(buf, CTA_TUPLE_PROTO)?;
    let port = |t| {
        attr(p, t)
            .and_then(|b| <[u8; 2]>::try_from(b).ok())
            .map(u16::from_be_bytes)
            .unwrap_or(0)
    };
    Some(Tuple {
        src,
        dst,
        proto: *attr(p, CTA_PROTO_NUM)?.first()?,
        sport: port(CTA_PROTO_SRC_PORT),
        dport: port(CTA_PROTO_DST_PORT),
    })
}

/// Deletes every conntrack entry for which `pred(original, reply)` holds, in
/// the address family of `v6`. Returns how many were deleted.
pub fn conntrack_delete(v6: bool, pred: impl Fn(&Tuple, &Tuple) -> bool) -> io::Result<usize> {
    let mut s = NlSocket::netfilter()?;
    let family = if v6 { libc::AF_INET6 } else { libc::AF_INET } as u8;
    let ty = |cmd: u16| (NFNL_SUBSYS_CTNETLINK << 8) | cmd;
    let seq = s.next_seq();
    let req = Msg::nf(
        ty(IPCTNL_MSG_CT_GET),
        NLM_F_REQUEST | NLM_F_DUMP,
        seq,
        family,
        0,
    )
    .finish();
    let entries = s.dump(&req)?;
    let mut n = 0;
    for (_, payload) in entries {
        let Some(body) = payload.get(4..) else {
            continue;
        };
        let (Some(orig_raw), Some(reply_raw)) =
            (attr(body, CTA_TUPLE_ORIG), attr(body, CTA_TUPLE_REPLY))
        else {
            continue;
        };
        let (Some(orig), Some(reply)) = (parse_tuple(orig_raw), parse_tuple(reply_raw)) else {
            continue;
        };
        if !pred(&orig, &reply) {
            continue;
        }
        let seq = s.next_seq();
        let mut m = Msg::nf(
            ty(IPCTNL_MSG_CT_DELETE),
            NLM_F_REQUEST | NLM_F_ACK,
            seq,
            family,
            0,
        );
        m.begin(CTA_TUPLE_ORIG);
        // copy the nested tuple as the kernel gave it
        m.buf.extend_from_slice(orig_raw);
        m.buf.resize(align4(m.buf.len()), 0);
        m.end();
        match s.transact(&m.finish(), &[seq]) {
            Ok(()) => n += 1,
            // gone meanwhile
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// How long a caller may wait for the kernel (for documentation of the socket timeout).
pub const RECV_TIMEOUT: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_newsetelem() {
        // `add element inet t s { 5 : 10.0.0.1 . 80 }` as one transaction.
        let batch = ElemBatch {
            adds: vec![ElemChange {
                set: "s".into(),
                key: 5u32.to_ne_bytes().to_vec(),
                data: Some(vec![10, 0, 0, 1, 0, 80, 0, 0]),
            }],
            ..Default::default()
        };
        let mut n = 100;
        let (bytes, acks) = encode_batch("t", &batch, || {
            n += 1;
            n
        });
        assert_eq!(acks, vec![102]);
        let ne16 = |v: u16| v.to_ne_bytes();
        let ne32 = |v: u32| v.to_ne_bytes();
        let mut want: Vec<u8> = Vec::new();
        // BATCH_BEGIN: len 20, type 0x10, flags REQUEST, seq 101, pid 0, nfgenmsg {0,0,0x000a}
        want.extend(ne32(20));
        want.extend(ne16(0x10));
        want.extend(ne16(1));
        want.extend(ne32(101));
        want.extend(ne32(0));
        want.extend([0, 0, 0, 10]);
        // NEWSETELEM (0x0a0c), REQUEST|ACK|CREATE, family inet
        let body_len = 16 + 4 + 8 + 8 + (4 + (4 + (4 + 4 + 4) + (4 + 4 + 8)));
        want.extend(ne32(body_len as u32));
        want.extend(ne16(0x0a0c));
        want.extend(ne16(0x405));
        want.extend(ne32(102));
        want.extend(ne32(0));
        want.extend([1, 0, 0, 0]);
        want.extend(ne16(6)); // table "t\0"
        want.extend(ne16(1));
        want.extend([b't', 0, 0, 0]);
        want.extend(ne16(6)); // set "s\0"
        want.extend(ne16(2));
        want.extend([b's', 0, 0, 0]);
        want.extend(ne16(4 + 4 + 12 + 16)); // ELEMENTS
        want.extend(ne16(3 | 0x8000));
        want.extend(ne16(4 + 12 + 16)); // LIST_ELEM
        want.extend(ne16(1 | 0x8000));
        want.extend(ne16(12)); // KEY
        want.extend(ne16(1 | 0x8000));
        want.extend(ne16(8)); // DATA_VALUE
        want.extend(ne16(1));
        want.extend(ne32(5));
        want.extend(ne16(16)); // DATA
        want.extend(ne16(2 | 0x8000));
        want.extend(ne16(12)); // DATA_VALUE
        want.extend(ne16(1));
        want.extend([10, 0, 0, 1, 0, 80, 0, 0]);
        // BATCH_END
        want.extend(ne32(20));
        want.extend(ne16(0x11));
        want.extend(ne16(1));
        want.extend(ne32(103));
        want.extend(ne32(0));
        want.extend([0, 0, 0, 10]);
        assert_eq!(bytes, want);
    }

    #[test]
    fn golden_flush_and_delete() {
        let batch = ElemBatch {
            flushes: vec!["aff".into()],
            dels: vec![ElemChange {
                set: "w".into(),
                key: vec![1, 2, 3, 4],
                data: None,
            }],
            adds: vec![],
        };
        let mut n = 0;
        let (bytes, acks) = encode_batch("t", &batch, || {
            n += 1;
            n
        });
        assert_eq!(acks, vec![2, 3]);
        let msgs: Vec<_> = messages(&bytes).map(|m| (m.ty, m.flags, m.seq)).collect();
        assert_eq!(
            msgs,
            vec![(0x10, 1, 1), (0x0a0e, 5, 2), (0x0a0e, 5, 3), (0x11, 1, 4)]
        );
        // the flush carries table and set only
        let flush = messages(&bytes).nth(1).unwrap();
        let a: Vec<_> = attrs(&flush.payload[4..])
            .map(|(t, p)| (t, p.to_vec()))
            .collect();
        assert_eq!(a, vec![(1, b"t\0".to_vec()), (2, b"aff\0".to_vec())]);
        // the delete has no data attribute
        let del = messages(&bytes).nth(2).unwrap();
        let elems = attr(&del.payload[4..], 3).unwrap();
        let e = attr(elems, 1).unwrap();
        assert_eq!(attrs(e).map(|(t, _)| t).collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn parses_tuple() {
        let mut m = Msg::nf(0, 0, 0, 2, 0);
        m.begin(CTA_TUPLE_IP)
            .put(CTA_IP_V4_SRC, &[10, 0, 0, 1])
            .put(CTA_IP_V4_DST, &[192, 0, 2, 10])
            .end()
            .begin(CTA_TUPLE_PROTO)
            .put(CTA_PROTO_NUM, &[6])
            .put(CTA_PROTO_SRC_PORT, &1234u16.to_be_bytes())
            .put(CTA_PROTO_DST_PORT, &80u16.to_be_bytes())
            .end();
        let b = m.finish();
        let t = parse_tuple(&b[20..]).unwrap();
        assert_eq!(
            t,
            Tuple {
                src: "10.0.0.1".parse().unwrap(),
                dst: "192.0.2.10".parse().unwrap(),
                proto: 6,
                sport: 1234,
                dport: 80
            }
        );
    }
}
