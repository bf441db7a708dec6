//! VRRP raw sockets (IP protocol 112) on tokio.
//!
//! One [`VrrpSocket`] per (interface, address family). IPv4 uses a raw socket
//! with `IP_HDRINCL`, so the sender chooses the source address (it may be a
//! virtual address not configured yet) and TTL 255; received IPv4 packets
//! include their IP header. IPv6 raw sockets never deliver the IP header, so
//! the hop limit and destination come from `IPV6_HOPLIMIT` / `IPV6_PKTINFO`
//! ancillary data and sends set the source through `IPV6_PKTINFO`.

use std::io::{self, Read};
use std::mem::{size_of, MaybeUninit};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU16, Ordering};

use keepalived_vrrp::packet::{self, DecodeError, DecodeOptions, Received, IPPROTO_VRRP, VRRP_TTL};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// VRRP IPv4 multicast group (RFC 3768 / RFC 9568).
pub const VRRP_MCAST_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// VRRP IPv6 multicast group (RFC 9568).
pub const VRRP_MCAST_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);

/// Largest datagram we accept (VRRP messages are far smaller).
const RECV_BUF: usize = 65536;

/// A packet received on a [`VrrpSocket`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawPacket {
    /// IP source address.
    pub src: IpAddr,
    /// IP destination address (multicast group or our unicast address).
    /// For IPv6 it is `::` if the kernel supplied no `IPV6_PKTINFO`.
    pub dst: IpAddr,
    /// IPv4 TTL / IPv6 hop limit (0 if the kernel supplied no `IPV6_HOPLIMIT`).
    pub ttl: u8,
    /// IPv4: the whole IP datagram, header included.
    /// IPv6: the VRRP message only (raw IPv6 sockets strip the IP header).
    pub bytes: Vec<u8>,
}

/// Validate and decode a received packet: IPv4 goes through
/// [`packet::decode_ipv4`] (header checks, TTL 255, …); IPv6 checks hop limit
/// 255 ([`DecodeError::BadTtl`]) then decodes the VRRP message.
pub fn decode(raw: &RawPacket, opts: DecodeOptions) -> Result<Received, DecodeError> {
    match raw.src {
        IpAddr::V4(_) => packet::decode_ipv4(&raw.bytes, opts),
        IpAddr::V6(_) => {
            if raw.ttl != VRRP_TTL {
                return Err(DecodeError::BadTtl(raw.ttl));
            }
            let packet = packet::decode(&raw.bytes, raw.src, raw.dst, opts)?;
            Ok(Received {
                src: raw.src,
                dst: raw.dst,
                packet,
            })
        }
    }
}

/// A raw VRRP socket bound to one interface and address family.
#[derive(Debug)]
pub struct VrrpSocket {
    fd: AsyncFd<Socket>,
    ipv6: bool,
    ifindex: u32,
    ip_id: AtomicU16,
}

impl VrrpSocket {
    /// Open a VRRP socket on `ifname` (`SO_BINDTODEVICE`). With `multicast`
    /// it joins 224.0.0.18 / ff02::12 on that interface; without, only
    /// unicast advertisements addressed to this host are received.
    /// Multicast loopback is disabled and TTL / hop limits are 255.
    ///
    /// Must be called inside a tokio runtime with I/O enabled.
    ///
    /// IPv6 caveat: until the interface has carrier and addrconf has run
    /// (link-local address and `ff00::/8` route installed, both before the
    /// kernel's link-up notification), incoming multicast is dropped by the
    /// kernel as "no route"; wait for [`crate::Netlink::link_up`] first.
    pub async fn open(ifname: &str, ipv6: bool, multicast: bool) -> io::Result<Self> {
        let ifindex = crate::link::ifindex(ifname)?;
        let proto = Some(Protocol::from(i32::from(IPPROTO_VRRP)));
        let sock = if ipv6 {
            let s = Socket::new(Domain::IPV6, Type::RAW, proto)?;
            s.bind_device(Some(ifname.as_bytes()))?;
            s.set_multicast_loop_v6(false)?;
            s.set_multicast_hops_v6(u32::from(VRRP_TTL))?;
            s.set_unicast_hops_v6(u32::from(VRRP_TTL))?;
            s.set_multicast_if_v6(ifindex)?;
            s.set_recv_hoplimit_v6(true)?;
            set_int_opt(&s, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)?;
            if multicast {
                s.join_multicast_v6(&VRRP_MCAST_V6, ifindex)?;
            }
            s
        } else {
            let s = Socket::new(Domain::IPV4, Type::RAW, proto)?;
            s.bind_device(Some(ifname.as_bytes()))?;
            s.set_header_included_v4(true)?;
            s.set_multicast_loop_v4(false)?;
            s.set_multicast_ttl_v4(u32::from(VRRP_TTL))?;
            s.set_ttl_v4(u32::from(VRRP_TTL))?;
            if multicast {
                s.join_multicast_v4_n(&VRRP_MCAST_V4, &InterfaceIndexOrAddress::Index(ifindex))?;
            }
            s
        };
        sock.set_nonblocking(true)?;
        // SAFETY: `sock` owns a valid descriptor, which is neither replaced
        // nor closed while the AsyncFd owns it.
        let fd = unsafe { AsyncFd::register(sock) }.map_err(io::Error::from)?;
        Ok(VrrpSocket {
            fd,
            ipv6,
            ifindex,
            ip_id: AtomicU16::new(std::process::id() as u16),
        })
    }

    /// Index of the interface the socket is bound to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Whether this is an IPv6 socket.
    pub fn is_ipv6(&self) -> bool {
        self.ipv6
    }

    /// Receive the next packet (see [`RawPacket`] for what `bytes` holds).
    /// Cancel-safe.
    pub async fn recv(&self) -> io::Result<RawPacket> {
        let mut buf = vec![0u8; RECV_BUF];
        loop {
            let res = self
                .fd
                .async_io(Interest::READABLE, |s| {
                    if self.ipv6 {
                        recv_v6(s.as_raw_fd(), &mut buf).map(Some)
                    } else {
                        let n = (&*s).read(&mut buf)?;
                        Ok(parse_v4_meta(&buf[..n]).map(|(src, dst, ttl)| (n, src, dst, ttl)))
                    }
                })
                .await?;
            // Runt IPv4 datagrams (no room for a header) are skipped.
            if let Some((n, src, dst, ttl)) = res {
                buf.truncate(n);
                return Ok(RawPacket {
                    src,
                    dst,
                    ttl,
                    bytes: buf,
                });
            }
        }
    }

    /// Send an encoded VRRP message (as produced by `keepalived_vrrp::encode`)
    /// from `src` to `dst` (224.0.0.18 / ff02::12 or a unicast peer). For
    /// IPv4 the IP header (TTL 255, protocol 112) is built here; for IPv6 the
    /// kernel builds it with hop limit 255 and the source given by `src`,
    /// which must be a usable (non-tentative) local address.
    pub async fn send(&self, vrrp_bytes: &[u8], src: IpAddr, dst: IpAddr) -> io::Result<()> {
        match (self.ipv6, src, dst) {
            (false, IpAddr::V4(s), IpAddr::V4(d)) => {
                let id = self.ip_id.fetch_add(1, Ordering::Relaxed);
                let pkt = packet::wrap_ipv4(vrrp_bytes, s, d, id);
                let to = SockAddr::from(SocketAddrV4::new(d, 0));
                self.fd
                    .async_io(Interest::WRITABLE, |sock| sock.send_to(&pkt, &to))
                    .await?;
                Ok(())
            }
            (true, IpAddr::V6(s), IpAddr::V6(d)) => {
                let ifindex = self.ifindex;
                self.fd
                    .async_io(Interest::WRITABLE, |sock| {
                        send_v6(sock.as_raw_fd(), vrrp_bytes, s, d, ifindex)
                    })
                    .await?;
                Ok(())
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "source/destination address family does not match the socket",
            )),
        }
    }
}

/// Source, destination and TTL of an IPv4 datagram, `None` if too short.
fn parse_v4_meta(ip: &[u8]) -> Option<(IpAddr, IpAddr, u8)> {
    if ip.len() < 20 {
        return None;
    }
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    Some((src.into(), dst.into(), ip[8]))
}

fn set_int_opt(
    s: &Socket,
    level: libc::c_int,
    name: libc::c_int,
    val: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `val` is a live c_int and its exact size is passed.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            level,
            name,
            (&val as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn sockaddr_v6(addr: Ipv6Addr, ifindex: u32) -> libc::sockaddr_in6 {
    // SAFETY: sockaddr_in6 is plain old data; all-zero is a valid value.
    let mut sa: libc::sockaddr_in6 = unsafe { MaybeUninit::zeroed().assume_init() };
    sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    sa.sin6_addr.s6_addr = addr.octets();
    // Link-local and link-scope multicast destinations need a scope.
    let seg0 = addr.segments()[0];
    if (seg0 & 0xffc0) == 0xfe80 || (seg0 & 0xff0f) == 0xff02 {
        sa.sin6_scope_id = ifindex;
    }
    sa
}

/// Aligned control-message buffer.
#[repr(C, align(8))]
struct CmsgBuf([u8; 256]);

type V6Recv = (usize, IpAddr, IpAddr, u8);

fn recv_v6(fd: RawFd, buf: &mut [u8]) -> io::Result<V6Recv> {
    // SAFETY: zeroed sockaddr_in6 / msghdr are valid plain-old-data values.
    let mut name: libc::sockaddr_in6 = unsafe { MaybeUninit::zeroed().assume_init() };
    let mut cbuf = CmsgBuf([0; 256]);
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { MaybeUninit::zeroed().assume_init() };
    msg.msg_name = (&mut name as *mut libc::sockaddr_in6).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.0.as_mut_ptr().cast();
    msg.msg_controllen = cbuf.0.len() as _;
    // SAFETY: every pointer in `msg` refers to a live buffer of the stated
    // length for the duration of the call.
    let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let src = Ipv6Addr::from(name.sin6_addr.s6_addr);
    let mut dst = Ipv6Addr::UNSPECIFIED;
    let mut hops = 0u8;
    // SAFETY: `msg` was filled by a successful recvmsg; the CMSG_* macros walk
    // the control buffer within msg_controllen, and each payload is read
    // unaligned with the size the kernel uses for that (level, type).
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let data = libc::CMSG_DATA(c);
            match ((*c).cmsg_level, (*c).cmsg_type) {
                (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                    let info: libc::in6_pktinfo = std::ptr::read_unaligned(data.cast());
                    dst = Ipv6Addr::from(info.ipi6_addr.s6_addr);
                }
                (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) => {
                    let h: libc::c_int = std::ptr::read_unaligned(data.cast());
                    hops = u8::try_from(h).unwrap_or(0);
                }
                _ => {}
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n as usize, src.into(), dst.into(), hops))
}

fn send_v6(fd: RawFd, data: &[u8], src: Ipv6Addr, dst: Ipv6Addr, ifindex: u32) -> io::Result<()> {
    let mut name = sockaddr_v6(dst, ifindex);
    let info = libc::in6_pktinfo {
        ipi6_addr: libc::in6_addr {
            s6_addr: src.octets(),
        },
        ipi6_ifindex: ifindex,
    };
    let mut cbuf = CmsgBuf([0; 256]);
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: zeroed msghdr is a valid plain-old-data value.
    let mut msg: libc::msghdr = unsafe { MaybeUninit::zeroed().assume_init() };
    msg.msg_name = (&mut name as *mut libc::sockaddr_in6).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.0.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE / CMSG_LEN are pure size computations; the control
    // buffer (256 bytes, 8-aligned) is larger than CMSG_SPACE(in6_pktinfo),
    // so CMSG_FIRSTHDR is non-null and the write stays in bounds. sendmsg
    // only reads the buffers referenced by `msg`, which are all live.
    let n = unsafe {
        let len = size_of::<libc::in6_pktinfo>() as libc::c_uint;
        msg.msg_controllen = libc::CMSG_SPACE(len) as _;
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::IPPROTO_IPV6;
        (*c).cmsg_type = libc::IPV6_PKTINFO;
        (*c).cmsg_len = libc::CMSG_LEN(len) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<libc::in6_pktinfo>(), info);
        libc::sendmsg(fd, &msg, 0)
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v6_scope_only_for_link_scope() {
        assert_eq!(sockaddr_v6(VRRP_MCAST_V6, 7).sin6_scope_id, 7);
        assert_eq!(sockaddr_v6("fe80::1".parse().unwrap(), 7).sin6_scope_id, 7);
        assert_eq!(
            sockaddr_v6("2001:db8::1".parse().unwrap(), 7).sin6_scope_id,
            0
        );
    }

    #[test]
    fn v6_decode_checks_hop_limit() {
        let raw = RawPacket {
            src: "fe80::1".parse().unwrap(),
            dst: IpAddr::V6(VRRP_MCAST_V6),
            ttl: 64,
            bytes: vec![0x31, 1, 100, 0, 0, 100, 0, 0],
        };
        assert_eq!(
            decode(&raw, DecodeOptions::default()),
            Err(DecodeError::BadTtl(64))
        );
    }
}
