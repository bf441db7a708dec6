//! PING_CHECK: one ICMP (or ICMPv6) echo; up when the matching echo reply arrives within
//! `connect_timeout`. Uses an unprivileged ICMP datagram socket when
//! net.ipv4.ping_group_range allows it, else a raw socket (root).

use crate::{net, BoxFuture, Check, Outcome, Target};
use socket2::{Protocol, Type};
use std::io;
use std::net::SocketAddr;
use tokio::net::UdpSocket;

/// PING_CHECK (no options of its own).
#[derive(Debug, Clone, Copy, Default)]
pub struct PingCheck;

/// Bytes of payload after the 8-byte echo header.
const PAYLOAD: usize = 24;

/// An ICMP(v6) socket for `t`, and whether it is raw.
pub fn open(t: &Target) -> io::Result<(UdpSocket, bool)> {
    let proto = if t.addr.is_ipv4() {
        Protocol::ICMPV4
    } else {
        Protocol::ICMPV6
    };
    let (s, raw) = match net::socket(t, t.addr.ip(), Type::DGRAM, Some(proto)) {
        Ok(s) => (s, false),
        Err(e) => match net::socket(t, t.addr.ip(), Type::RAW, Some(proto)) {
            Ok(s) => (s, true),
            Err(_) => return Err(e),
        },
    };
    Ok((UdpSocket::from_std(std::net::UdpSocket::from(s))?, raw))
}

impl PingCheck {
    async fn probe(&self, t: &Target) -> Result<String, String> {
        let (sock, raw) = open(t).map_err(|e| format!("ICMP socket: {e}"))?;
        let v4 = t.addr.is_ipv4();
        let ident: u16 = rand::random();
        let seq: u16 = rand::random();
        let mut pkt = vec![if v4 { 8 } else { 128 }, 0, 0, 0];
        pkt.extend_from_slice(&ident.to_be_bytes());
        pkt.extend_from_slice(&seq.to_be_bytes());
        pkt.extend(std::iter::repeat_with(|| fastrand::u8(..)).take(PAYLOAD));
        if v4 {
            // The kernel computes the ICMPv6 checksum itself.
            let c = net::checksum(&pkt);
            pkt[2..4].copy_from_slice(&c.to_be_bytes());
        }
        let dest = SocketAddr::new(t.addr.ip(), 0);
        sock.send_to(&pkt, dest)
            .await
            .map_err(|e| format!("send: {e}"))?;
        let mut buf = vec![0u8; 2048];
        loop {
            let (n, from) = sock
                .recv_from(&mut buf)
                .await
                .map_err(|e| format!("recv: {e}"))?;
            let mut m = &buf[..n];
            if raw && v4 {
                // Raw IPv4 sockets receive the IP header too.
                let ihl = usize::from(m.first().map_or(0, |b| b & 0xf)) * 4;
                m = m.get(ihl..).unwrap_or_default();
            }
            let reply_type = if v4 { 0 } else { 129 };
            if from.ip() != t.addr.ip() || m.len() < 8 || m[0] != reply_type {
                continue;
            }
            // Datagram sockets have the kernel choose the identifier: match on the rest.
            let id_ok = !raw || m[4..6] == pkt[4..6];
            if id_ok && m[6..8] == pkt[6..8] && m[8..] == pkt[8..] {
                return Ok(format!("echo reply from {}", from.ip()));
            }
        }
    }
}

impl Check for PingCheck {
    fn kind(&self) -> &'static str {
        "PING_CHECK"
    }

    fn run<'a>(&'a self, t: &'a Target) -> BoxFuture<'a, Outcome> {
        Outcome::bounded(t, self.probe(t))
    }
}
