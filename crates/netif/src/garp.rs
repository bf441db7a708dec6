//! Gratuitous ARP and unsolicited IPv6 neighbour advertisements.
//!
//! Both are built here byte for byte (Ethernet header included) and sent on
//! an `AF_PACKET` socket, so they work for virtual addresses in any state
//! (e.g. an IPv6 VIP still doing DAD) and from a VMAC's own MAC. The sends
//! are blocking `sendto(2)` calls: each frame is tiny and a packet socket
//! never waits on the network, so calling them from async code is fine.

use std::io::{self, Read};
use std::mem::{size_of, MaybeUninit};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use socket2::Socket;

/// Ethertype of ARP.
pub const ETH_P_ARP: u16 = 0x0806;
/// Ethertype of IPv6.
pub const ETH_P_IPV6: u16 = 0x86dd;
/// Pseudo ethertype that captures every protocol.
pub const ETH_P_ALL: u16 = 0x0003;
/// Minimum Ethernet frame length without FCS; shorter frames are zero padded.
pub const ETH_MIN_FRAME: usize = 60;

/// Ethernet broadcast address.
pub const BROADCAST_MAC: [u8; 6] = [0xff; 6];

/// A raw Ethernet (`AF_PACKET`, `SOCK_RAW`) socket bound to one interface.
/// Frames are sent and received with their Ethernet header.
#[derive(Debug)]
pub struct PacketSocket {
    sock: Socket,
    ifindex: u32,
}

impl PacketSocket {
    /// Open a packet socket on `ifindex` receiving frames of `ethertype`
    /// ([`ETH_P_ALL`] for all, 0 for none, i.e. send-only).
    pub fn open(ifindex: u32, ethertype: u16) -> io::Result<Self> {
        let proto = i32::from(ethertype.to_be());
        // SAFETY: plain socket(2) call; the result is checked before use.
        let fd =
            unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, proto) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a freshly created descriptor that nothing else owns.
        let sock = Socket::from(unsafe { OwnedFd::from_raw_fd(fd) });
        let sll = sockaddr_ll(ifindex, ethertype, [0; 6]);
        // SAFETY: `sll` is a valid sockaddr_ll and its exact size is passed.
        let rc = unsafe {
            libc::bind(
                sock.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(PacketSocket { sock, ifindex })
    }

    /// Send a complete Ethernet frame (destination MAC and ethertype are
    /// taken from its header). Blocking, but never waits on the network.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        if frame.len() < 14 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "frame shorter than an Ethernet header",
            ));
        }
        let mut dst = [0u8; 6];
        dst.copy_from_slice(&frame[..6]);
        let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
        let sll = sockaddr_ll(self.ifindex, ethertype, dst);
        // SAFETY: `frame` and `sll` are live for the call and their exact sizes are passed.
        let n = unsafe {
            libc::sendto(
                self.sock.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&sll as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Receive the next frame, waiting at most `timeout`
    /// (`ErrorKind::TimedOut` / `WouldBlock` when it expires).
    pub fn recv_timeout(&self, timeout: Duration) -> io::Result<Vec<u8>> {
        self.sock
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        let mut buf = vec![0u8; 65536];
        let n = (&self.sock).read(&mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }

    /// Receive frames until `want` accepts one or `timeout` elapses.
    pub fn recv_matching(
        &self,
        timeout: Duration,
        mut want: impl FnMut(&[u8]) -> bool,
    ) -> io::Result<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no matching frame"));
            }
            match self.recv_timeout(left) {
                Ok(f) if want(&f) => return Ok(f),
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "no matching frame"))
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

fn sockaddr_ll(ifindex: u32, ethertype: u16, mac: [u8; 6]) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { MaybeUninit::zeroed().assume_init() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = ethertype.to_be();
    sll.sll_ifindex = ifindex as i32;
    sll.sll_halen = 6;
    sll.sll_addr[..6].copy_from_slice(&mac);
    sll
}

/// The gratuitous ARP frame [`send_garp`] sends: broadcast ARP request
/// (opcode 1) with sender = target = `ip`, sender MAC `src_mac`, target MAC
/// zero, padded to 60 bytes.
pub fn garp_frame(src_mac: [u8; 6], ip: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::with_capacity(ETH_MIN_FRAME);
    f.extend_from_slice(&BROADCAST_MAC);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&ETH_P_ARP.to_be_bytes());
    f.extend_from_slice(&1u16.to_be_bytes()); // htype Ethernet
    f.extend_from_slice(&0x0800u16.to_be_bytes()); // ptype IPv4
    f.push(6);
    f.push(4);
    f.extend_from_slice(&1u16.to_be_bytes()); // request
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&ip.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&ip.octets());
    f.resize(ETH_MIN_FRAME, 0);
    f
}

/// Send one gratuitous ARP for `ip` on interface `ifindex` (see [`garp_frame`]).
/// Blocking but immediate.
pub fn send_garp(ifindex: u32, src_mac: [u8; 6], ip: Ipv4Addr) -> io::Result<()> {
    PacketSocket::open(ifindex, 0)?.send(&garp_frame(src_mac, ip))
}

/// All-nodes multicast address, destination of unsolicited NAs.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// The unsolicited neighbour advertisement frame [`send_unsolicited_na`]
/// sends: Ethernet to 33:33:00:00:00:01, IPv6 `src` → ff02::1 with hop limit
/// 255, ICMPv6 type 136 with the Override flag (plus Router if `router`), the
/// `target` address and a Target Link-Layer Address option carrying `src_mac`.
pub fn na_frame(src_mac: [u8; 6], target: Ipv6Addr, src: Ipv6Addr, router: bool) -> Vec<u8> {
    let mut icmp = Vec::with_capacity(32);
    icmp.push(136);
    icmp.push(0);
    icmp.extend_from_slice(&[0, 0]); // checksum
    let flags = 0x20 | if router { 0x80 } else { 0 };
    icmp.extend_from_slice(&[flags, 0, 0, 0]);
    icmp.extend_from_slice(&target.octets());
    icmp.push(2); // Target Link-Layer Address
    icmp.push(1); // length in units of 8 bytes
    icmp.extend_from_slice(&src_mac);
    let ck = icmpv6_checksum(src, ALL_NODES, &icmp);
    icmp[2..4].copy_from_slice(&ck.to_be_bytes());

    let d = ALL_NODES.octets();
    let mut f = Vec::with_capacity(14 + 40 + icmp.len());
    f.extend_from_slice(&[0x33, 0x33, d[12], d[13], d[14], d[15]]);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&ETH_P_IPV6.to_be_bytes());
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    f.push(58); // ICMPv6
    f.push(255);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&d);
    f.extend_from_slice(&icmp);
    f
}

/// Send one unsolicited neighbour advertisement for `target` (see
/// [`na_frame`]); `src` should be the interface's link-local address.
/// Blocking but immediate.
pub fn send_unsolicited_na(
    ifindex: u32,
    src_mac: [u8; 6],
    target: Ipv6Addr,
    src: Ipv6Addr,
    router: bool,
) -> io::Result<()> {
    PacketSocket::open(ifindex, 0)?.send(&na_frame(src_mac, target, src, router))
}

/// ICMPv6 checksum (RFC 4443 §2.3) of `msg` (checksum field zero).
pub fn icmpv6_checksum(src: Ipv6Addr, dst: Ipv6Addr, msg: &[u8]) -> u16 {
    let mut acc: u32 = 0;
    let mut add = |b: &[u8]| {
        for c in b.chunks(2) {
            let hi = u32::from(c[0]) << 8;
            let lo = c.get(1).copied().map_or(0, u32::from);
            acc += hi | lo;
        }
    };
    add(&src.octets());
    add(&dst.octets());
    add(&(msg.len() as u32).to_be_bytes());
    add(&[0, 0, 0, 58]);
    add(msg);
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garp_layout() {
        let mac = [0, 0, 0x5e, 0, 1, 7];
        let f = garp_frame(mac, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(f.len(), 60);
        assert_eq!(&f[12..14], &[8, 6]);
        assert_eq!(&f[20..22], &[0, 1]);
        assert_eq!(&f[22..28], &mac);
        assert_eq!(&f[28..32], &[10, 0, 0, 1]);
        assert_eq!(&f[32..38], &[0; 6]);
        assert_eq!(&f[38..42], &[10, 0, 0, 1]);
    }

    #[test]
    fn na_checksum_verifies() {
        let src: Ipv6Addr = "fe80::1".parse().unwrap();
        let f = na_frame(
            [2, 0, 0, 0, 0, 1],
            "2001:db8::5".parse().unwrap(),
            src,
            true,
        );
        let icmp = &f[54..];
        assert_eq!(icmp.len(), 32);
        // Summing a message that includes its own checksum yields 0 complemented.
        assert_eq!(icmpv6_checksum(src, ALL_NODES, icmp), 0);
        assert_eq!(icmp[4], 0xa0);
    }
}
