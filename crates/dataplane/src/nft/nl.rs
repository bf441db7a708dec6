//! Hand-encoded netlink: nf_tables set-element batches, conntrack dump/delete
//! and the generic-netlink family lookup. Plain byte building, no libnftnl.

use std::io;
use std::net::IpAddr;
use std::time::Duration;

use netlink_sys::{constants, Socket, SocketAddr};
use nix::sys::socket::{getsockopt, setsockopt, sockopt};
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
pub const NFT_MSG_DELCHAIN: u16 = 5;
pub const NFT_MSG_DELRULE: u16 = 8;
pub const NFT_MSG_DELSET: u16 = 11;
pub const NFT_MSG_NEWSETELEM: u16 = 12;
pub const NFT_MSG_DELSETELEM: u16 = 14;
pub const NFPROTO_INET: u8 = 1;

const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_SET_TABLE: u16 = 1;
const NFTA_SET_NAME: u16 = 2;
const NFTA_DATA_VERDICT: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;
const NFTA_VERDICT_CHAIN: u16 = 2;
const NFT_GOTO: i32 = -4;

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
const CTA_FILTER: u16 = 25;
const CTA_FILTER_REPLY_FLAGS: u16 = 2;
/// Tuple fields a filtered dump compares (the kernel's CTA_FILTER_F_* bits).
const CTA_FILTER_F_IP_SRC: u32 = 1 << 0;
const CTA_FILTER_F_PROTO_NUM: u32 = 1 << 3;
const CTA_FILTER_F_PROTO_SRC_PORT: u32 = 1 << 4;
/// Conntrack deletions sent per message train.
const CT_DELETES_PER_SEND: usize = 128;

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
        // big batches (thousands of elements) in one message train: a whole
        // nf_tables transaction must fit the send buffer; root may exceed wmem_max
        if setsockopt(&sock, sockopt::SndBufForce, &(8 << 20)).is_err() {
            let _ = setsockopt(&sock, sockopt::SndBuf, &(8 << 20));
        }
        if setsockopt(&sock, sockopt::RcvBufForce, &(4 << 20)).is_err() {
            let _ = setsockopt(&sock, sockopt::RcvBuf, &(4 << 20));
        }
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

    /// Continues numbering after `seq` (the last one a [`BatchWriter`] used).
    pub fn set_seq(&mut self, seq: u32) {
        self.seq = seq;
    }

    /// Largest message train one `send` takes (the send buffer, less headroom).
    pub fn send_capacity(&self) -> usize {
        getsockopt(&self.sock, sockopt::SndBuf)
            .map(|n| n.saturating_sub(64 << 10))
            .unwrap_or(128 << 10)
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
        self.transact_each(buf, acks, &[]).map(|_| ())
    }

    /// Sends independent requests (not a transaction) and waits for each
    /// one's answer; errors in `ignore` (e.g. ENOENT: gone meanwhile) are not
    /// failures. Returns how many succeeded.
    pub fn transact_each(&self, buf: &[u8], seqs: &[u32], ignore: &[i32]) -> io::Result<usize> {
        self.send(buf)?;
        let mut pending: std::collections::BTreeSet<u32> = seqs.iter().copied().collect();
        let mut ok = 0;
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
                if m.ty == NLMSG_ERROR && pending.remove(&m.seq) {
                    match error_code(m.payload) {
                        0 => ok += 1,
                        c if ignore.contains(&-c) => {}
                        c => {
                            first_err.get_or_insert(io::Error::from_raw_os_error(-c));
                        }
                    }
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(ok),
        }
    }

    /// Sends a dump request and returns every reply message's payload.
    pub fn dump(&self, buf: &[u8]) -> io::Result<Vec<(u16, Vec<u8>)>> {
        let mut out = Vec::new();
        self.dump_each(buf, |t, p| out.push((t, p.to_vec())))?;
        Ok(out)
    }

    /// Sends a dump request and hands each reply message (type, payload) to
    /// `f` as it arrives: a dump of a large table is never held whole.
    pub fn dump_each(&self, buf: &[u8], mut f: impl FnMut(u16, &[u8])) -> io::Result<()> {
        self.send(buf)?;
        loop {
            let data = self.recv()?;
            for m in messages(&data) {
                match m.ty {
                    NLMSG_DONE => return Ok(()),
                    NLMSG_ERROR => {
                        let code = error_code(m.payload);
                        if code == 0 {
                            return Ok(());
                        }
                        return Err(io::Error::from_raw_os_error(-code));
                    }
                    t => f(t, m.payload),
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
/// BATCH_BEGIN, flushes, deletes, adds, BATCH_END, every message acknowledged.
/// Returns the bytes and the sequence numbers that will be acknowledged.
pub fn encode_batch(
    table: &str,
    batch: &ElemBatch,
    mut seq: impl FnMut() -> u32,
) -> (Vec<u8>, Vec<u32>) {
    let first = seq();
    let mut w = BatchWriter::new(table, first, true);
    write_batch(&mut w, batch);
    let (bytes, acks, last) = w.finish();
    // `seq` counts up by one: draw the numbers the writer used after `first`
    for _ in 0..last.wrapping_sub(first) {
        seq();
    }
    (bytes, acks)
}

/// Appends `batch` (flushes, deletes, adds) to `w`.
pub fn write_batch(w: &mut BatchWriter, batch: &ElemBatch) {
    for set in &batch.flushes {
        w.flush_set(set);
    }
    for e in &batch.dels {
        w.elem(NFT_MSG_DELSETELEM, &e.set, &e.key, None);
    }
    for e in &batch.adds {
        w.elem(
            NFT_MSG_NEWSETELEM,
            &e.set,
            &e.key,
            e.data.as_deref().map(Data::Value),
        );
    }
}

/// The data of a map element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Data<'a> {
    Value(&'a [u8]),
    /// `goto <chain>` (verdict maps).
    Goto(&'a str),
}

/// Builds one nf_tables transaction message by message, without an
/// intermediate list: consecutive elements of one set and command share a
/// message (at most [`ELEMS_PER_MSG`]).
pub struct BatchWriter {
    table: String,
    buf: Vec<u8>,
    seq: u32,
    /// Acknowledge every message (else only the last one: errors are
    /// reported anyway, and thousands of acks would overrun the receive buffer).
    ack_all: bool,
    acks: Vec<u32>,
    /// Offset and sequence number of the last finished message.
    last: Option<(usize, u32)>,
    open: Option<OpenMsg>,
}

struct OpenMsg {
    cmd: u16,
    set: String,
    msg: Msg,
    seq: u32,
    n: usize,
}

impl BatchWriter {
    /// A transaction on `table` (family inet) whose BATCH_BEGIN has sequence `first`.
    pub fn new(table: &str, first: u32, ack_all: bool) -> BatchWriter {
        let buf = Msg::nf(
            NFNL_MSG_BATCH_BEGIN,
            NLM_F_REQUEST,
            first,
            0,
            NFNL_SUBSYS_NFTABLES,
        )
        .finish();
        BatchWriter {
            table: table.to_string(),
            buf,
            seq: first,
            ack_all,
            acks: Vec::new(),
            last: None,
            open: None,
        }
    }

    fn next(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Bytes so far.
    pub fn len(&self) -> usize {
        self.buf.len() + self.open.as_ref().map_or(0, |o| o.msg.buf.len())
    }

    /// True when nothing but BATCH_BEGIN is in it.
    pub fn is_empty(&self) -> bool {
        self.last.is_none() && self.open.is_none()
    }

    fn push(&mut self, m: Msg, seq: u32) {
        self.last = Some((self.buf.len(), seq));
        self.buf.extend(m.finish());
        if self.ack_all {
            self.acks.push(seq);
        }
    }

    fn close(&mut self) {
        if let Some(mut o) = self.open.take() {
            o.msg.end();
            self.push(o.msg, o.seq);
        }
    }

    fn flags(&self, cmd: u16) -> u16 {
        let mut f = NLM_F_REQUEST;
        if self.ack_all {
            f |= NLM_F_ACK;
        }
        if cmd == NFT_MSG_NEWSETELEM {
            f |= NLM_F_CREATE;
        }
        f
    }

    fn ty(cmd: u16) -> u16 {
        (NFNL_SUBSYS_NFTABLES << 8) | cmd
    }

    /// Adds (`NFT_MSG_NEWSETELEM`, with `data` for a map) or deletes
    /// (`NFT_MSG_DELSETELEM`) the element `key` of `set`.
    pub fn elem(&mut self, cmd: u16, set: &str, key: &[u8], data: Option<Data<'_>>) {
        let fits = self
            .open
            .as_ref()
            .is_some_and(|o| o.cmd == cmd && o.set == set && o.n < ELEMS_PER_MSG);
        if !fits {
            self.close();
            let seq = self.next();
            let mut msg = Msg::nf(Self::ty(cmd), self.flags(cmd), seq, NFPROTO_INET, 0);
            msg.put_str(NFTA_SET_ELEM_LIST_TABLE, &self.table)
                .put_str(NFTA_SET_ELEM_LIST_SET, set)
                .begin(NFTA_SET_ELEM_LIST_ELEMENTS);
            self.open = Some(OpenMsg {
                cmd,
                set: set.to_string(),
                msg,
                seq,
                n: 0,
            });
        }
        let o = self.open.as_mut().expect("open message");
        o.n += 1;
        let m = &mut o.msg;
        m.begin(NFTA_LIST_ELEM)
            .begin(NFTA_SET_ELEM_KEY)
            .put(NFTA_DATA_VALUE, key)
            .end();
        match (data, cmd) {
            (Some(Data::Value(d)), NFT_MSG_NEWSETELEM) => {
                m.begin(NFTA_SET_ELEM_DATA).put(NFTA_DATA_VALUE, d).end();
            }
            (Some(Data::Goto(chain)), NFT_MSG_NEWSETELEM) => {
                m.begin(NFTA_SET_ELEM_DATA)
                    .begin(NFTA_DATA_VERDICT)
                    .put(NFTA_VERDICT_CODE, &NFT_GOTO.to_be_bytes())
                    .put_str(NFTA_VERDICT_CHAIN, chain)
                    .end()
                    .end();
            }
            _ => {}
        }
        m.end();
    }

    /// A message of string attributes alone (table and object names).
    fn object(&mut self, cmd: u16, attrs: &[(u16, &str)]) {
        self.close();
        let seq = self.next();
        let mut m = Msg::nf(Self::ty(cmd), self.flags(cmd), seq, NFPROTO_INET, 0);
        for (t, v) in attrs {
            m.put_str(*t, v);
        }
        self.push(m, seq);
    }

    /// Empties `set` (DELSETELEM without elements).
    pub fn flush_set(&mut self, set: &str) {
        let t = self.table.clone();
        self.object(
            NFT_MSG_DELSETELEM,
            &[
                (NFTA_SET_ELEM_LIST_TABLE, t.as_str()),
                (NFTA_SET_ELEM_LIST_SET, set),
            ],
        );
    }

    /// Deletes every rule of `chain`.
    pub fn flush_chain(&mut self, chain: &str) {
        let t = self.table.clone();
        self.object(
            NFT_MSG_DELRULE,
            &[(NFTA_RULE_TABLE, t.as_str()), (NFTA_RULE_CHAIN, chain)],
        );
    }

    /// Deletes `chain` (empty, unreferenced by then).
    pub fn del_chain(&mut self, chain: &str) {
        let t = self.table.clone();
        self.object(
            NFT_MSG_DELCHAIN,
            &[(NFTA_CHAIN_TABLE, t.as_str()), (NFTA_CHAIN_NAME, chain)],
        );
    }

    /// Deletes `set` (unreferenced by then).
    pub fn del_set(&mut self, set: &str) {
        let t = self.table.clone();
        self.object(
            NFT_MSG_DELSET,
            &[(NFTA_SET_TABLE, t.as_str()), (NFTA_SET_NAME, set)],
        );
    }

    /// The transaction's bytes, the sequence numbers that will be
    /// acknowledged, and the last sequence number used (BATCH_END's).
    pub fn finish(mut self) -> (Vec<u8>, Vec<u32>, u32) {
        self.close();
        if !self.ack_all {
            if let Some((off, seq)) = self.last {
                let at = off + 6;
                let f = u16::from_ne_bytes([self.buf[at], self.buf[at + 1]]) | NLM_F_ACK;
                self.buf[at..at + 2].copy_from_slice(&f.to_ne_bytes());
                self.acks.push(seq);
            }
        }
        let end = self.next();
        self.buf.extend(
            Msg::nf(
                NFNL_MSG_BATCH_END,
                NLM_F_REQUEST,
                end,
                0,
                NFNL_SUBSYS_NFTABLES,
            )
            .finish(),
        );
        (self.buf, self.acks, end)
    }
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

/// What the kernel compares in a filtered conntrack dump: the reply tuple's
/// source (the real server) and, when known, protocol and source port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtFilter {
    pub reply_src: IpAddr,
    pub proto: Option<u8>,
    /// Needs `proto`.
    pub reply_sport: Option<u16>,
}

/// A conntrack dump request, filtered by the kernel when `filter` is given.
fn ct_dump_request(seq: u32, family: u8, filter: Option<&CtFilter>) -> Vec<u8> {
    let ty = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
    let mut m = Msg::nf(ty, NLM_F_REQUEST | NLM_F_DUMP, seq, family, 0);
    if let Some(f) = filter {
        let mut flags = CTA_FILTER_F_IP_SRC;
        m.begin(CTA_TUPLE_REPLY).begin(CTA_TUPLE_IP);
        match f.reply_src {
            IpAddr::V4(a) => m.put(CTA_IP_V4_SRC, &a.octets()),
            IpAddr::V6(a) => m.put(CTA_IP_V6_SRC, &a.octets()),
        };
        m.end();
        if let Some(p) = f.proto {
            flags |= CTA_FILTER_F_PROTO_NUM;
            m.begin(CTA_TUPLE_PROTO).put(CTA_PROTO_NUM, &[p]);
            if let Some(port) = f.reply_sport {
                flags |= CTA_FILTER_F_PROTO_SRC_PORT;
                m.put(CTA_PROTO_SRC_PORT, &port.to_be_bytes());
            }
            m.end();
        }
        m.end();
        m.begin(CTA_FILTER)
            .put(CTA_FILTER_REPLY_FLAGS, &flags.to_ne_bytes())
            .end();
    }
    m.finish()
}

/// Deletes every conntrack entry for which `pred(original, reply)` holds, in
/// the address family of `v6`, over `s` (a netfilter socket: its network
/// namespace is the one searched). With `filters`, only the entries the kernel
/// finds for them are looked at (one dump each; a kernel without dump filters
/// gets one full dump); without, every entry is. Deletions go
/// [`CT_DELETES_PER_SEND`] to a send. Returns how many were deleted.
pub fn conntrack_delete(
    s: &mut NlSocket,
    v6: bool,
    filters: &[CtFilter],
    pred: impl Fn(&Tuple, &Tuple) -> bool,
) -> io::Result<usize> {
    let family = if v6 { libc::AF_INET6 } else { libc::AF_INET } as u8;
    // the original tuples (as the kernel encodes them) of the entries to delete
    let mut doomed: Vec<Vec<u8>> = Vec::new();
    let mut pick = |_: u16, payload: &[u8]| {
        let Some(body) = payload.get(4..) else {
            return;
        };
        let (Some(orig_raw), Some(reply_raw)) =
            (attr(body, CTA_TUPLE_ORIG), attr(body, CTA_TUPLE_REPLY))
        else {
            return;
        };
        if let (Some(orig), Some(reply)) = (parse_tuple(orig_raw), parse_tuple(reply_raw)) {
            if pred(&orig, &reply) {
                doomed.push(orig_raw.to_vec());
            }
        }
    };
    if filters.is_empty() {
        let seq = s.next_seq();
        s.dump_each(&ct_dump_request(seq, family, None), &mut pick)?;
    }
    for f in filters {
        let seq = s.next_seq();
        match s.dump_each(&ct_dump_request(seq, family, Some(f)), &mut pick) {
            Ok(()) => {}
            // nothing was handed over before the request's error
            Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EINVAL)) => {
                let seq = s.next_seq();
                s.dump_each(&ct_dump_request(seq, family, None), &mut pick)?;
                break;
            }
            Err(e) => return Err(e),
        }
    }
    let ty = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE;
    let mut n = 0;
    for chunk in doomed.chunks(CT_DELETES_PER_SEND) {
        let mut buf = Vec::new();
        let mut seqs = Vec::new();
        for orig_raw in chunk {
            let seq = s.next_seq();
            let mut m = Msg::nf(ty, NLM_F_REQUEST | NLM_F_ACK, seq, family, 0);
            m.begin(CTA_TUPLE_ORIG);
            // copy the nested tuple as the kernel gave it
            m.buf.extend_from_slice(orig_raw);
            m.buf.resize(align4(m.buf.len()), 0);
            m.end();
            buf.extend(m.finish());
            seqs.push(seq);
        }
        n += s.transact_each(&buf, &seqs, &[libc::ENOENT])?;
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
    fn writer_acks_the_last_message_and_encodes_goto() {
        let key = |n: u8| [192, 0, 2, n, 6, 0, 0, 0, 0, 80, 0, 0];
        let mut w = BatchWriter::new("t", 10, false);
        assert!(w.is_empty());
        w.elem(NFT_MSG_NEWSETELEM, "svc4", &key(1), Some(Data::Goto("s1")));
        w.elem(NFT_MSG_NEWSETELEM, "svc4", &key(2), Some(Data::Goto("s2")));
        w.flush_chain("s3");
        w.del_chain("s3");
        w.del_set("s3_w");
        let (bytes, acks, last) = w.finish();
        let msgs: Vec<_> = messages(&bytes).map(|m| (m.ty, m.flags, m.seq)).collect();
        assert_eq!(
            msgs,
            vec![
                (0x10, 1, 10),
                (0x0a0c, 0x401, 11),
                (0x0a08, 1, 12),
                (0x0a05, 1, 13),
                (0x0a0b, 5, 14),
                (0x11, 1, 15)
            ]
        );
        assert_eq!((acks, last), (vec![14], 15));
        // two elements in one message; DATA { VERDICT { CODE -4 (goto), CHAIN } }
        let m = messages(&bytes).nth(1).unwrap();
        let elems: Vec<_> = attrs(attr(&m.payload[4..], 3).unwrap()).collect();
        assert_eq!(elems.len(), 2);
        let verdict = attr(attr(elems[1].1, 2).unwrap(), 2).unwrap();
        assert_eq!(attr(verdict, 1), Some(&(-4i32).to_be_bytes()[..]));
        assert_eq!(attr(verdict, 2), Some(&b"s2\0"[..]));
        // the chain deletion names table and chain
        let m = messages(&bytes).nth(3).unwrap();
        let a: Vec<_> = attrs(&m.payload[4..])
            .map(|(t, p)| (t, p.to_vec()))
            .collect();
        assert_eq!(a, vec![(1, b"t\0".to_vec()), (3, b"s3\0".to_vec())]);
    }

    #[test]
    fn writer_splits_long_runs() {
        let mut w = BatchWriter::new("t", 0, true);
        for i in 0..(ELEMS_PER_MSG as u32 + 1) {
            w.elem(NFT_MSG_DELSETELEM, "s1_slots", &i.to_ne_bytes(), None);
        }
        let len = w.len();
        let (bytes, acks, _) = w.finish();
        assert_eq!(bytes.len(), len + 20);
        assert_eq!(acks.len(), 2);
        assert_eq!(messages(&bytes).count(), 4);
    }

    #[test]
    fn filtered_dump_request() {
        let f = CtFilter {
            reply_src: "10.0.0.1".parse().unwrap(),
            proto: Some(6),
            reply_sport: Some(80),
        };
        let b = ct_dump_request(7, 2, Some(&f));
        let m = messages(&b).next().unwrap();
        assert_eq!(
            (m.ty, m.flags, m.seq),
            (0x0101, NLM_F_REQUEST | NLM_F_DUMP, 7)
        );
        let body = &m.payload[4..];
        let reply = parse_tuple(attr(body, CTA_TUPLE_REPLY).unwrap());
        assert!(reply.is_none(), "no destination address: not a whole tuple");
        let t = attr(body, CTA_TUPLE_REPLY).unwrap();
        let ip = attr(t, CTA_TUPLE_IP).unwrap();
        assert_eq!(attr(ip, CTA_IP_V4_SRC), Some(&[10, 0, 0, 1][..]));
        let p = attr(t, CTA_TUPLE_PROTO).unwrap();
        assert_eq!(attr(p, CTA_PROTO_NUM), Some(&[6][..]));
        assert_eq!(attr(p, CTA_PROTO_SRC_PORT), Some(&[0, 80][..]));
        let flags = attr(attr(body, CTA_FILTER).unwrap(), CTA_FILTER_REPLY_FLAGS).unwrap();
        assert_eq!(flags, &(1u32 | 8 | 16).to_ne_bytes());
        // unfiltered: the bare request
        assert_eq!(ct_dump_request(7, 2, None).len(), 20);
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
