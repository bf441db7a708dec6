//! Sockets with the checker connection options applied (bindto, bind_port, bind_if, fwmark).

use crate::Target;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{IpAddr, SocketAddr, SocketAddrV6};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};

/// `addr` with the scope of `bind_if` when it is an IPv6 link-local address without one.
fn scoped(addr: SocketAddr, bind_if: Option<&str>) -> SocketAddr {
    match (addr, bind_if) {
        (SocketAddr::V6(a), Some(ifname))
            if a.scope_id() == 0 && (a.ip().segments()[0] & 0xffc0) == 0xfe80 =>
        {
            let idx = nix::net::if_::if_nametoindex(ifname).unwrap_or(0);
            SocketAddr::V6(SocketAddrV6::new(*a.ip(), a.port(), a.flowinfo(), idx))
        }
        _ => addr,
    }
}

/// A socket of `ty`/`proto` for reaching `dest`, bound and marked as `t` says.
pub fn socket(t: &Target, dest: IpAddr, ty: Type, proto: Option<Protocol>) -> io::Result<Socket> {
    let domain = if dest.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    // Non-blocking and close-on-exec from socket(2) itself (socket2 adds
    // SOCK_CLOEXEC): two fcntl calls fewer per check.
    let s = Socket::new(domain, ty.nonblocking(), proto)?;
    if let Some(ifname) = &t.bind_if {
        s.bind_device(Some(ifname.as_bytes()))?;
    }
    if let Some(mark) = t.fwmark {
        s.set_mark(mark)?;
    }
    if t.bindto.is_some() || t.bind_port.is_some() {
        let ip = t.bindto.unwrap_or(match dest {
            IpAddr::V4(_) => IpAddr::from([0u8; 4]),
            IpAddr::V6(_) => IpAddr::from([0u16; 8]),
        });
        if t.bind_port.is_some() {
            s.set_reuse_address(true)?;
        }
        let local = scoped(
            SocketAddr::new(ip, t.bind_port.unwrap_or(0)),
            t.bind_if.as_deref(),
        );
        s.bind(&local.into())?;
    }
    Ok(s)
}

/// Connects a TCP stream to `dest` (no timeout here: callers bound it).
pub async fn connect_tcp(t: &Target, dest: SocketAddr) -> io::Result<TcpStream> {
    let stream = open_tcp(t, dest).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Opens a TCP connection to `dest` and resets it at once: the handshake is the
/// whole check. A reset instead of a FIN exchange spares two packets each way and
/// leaves no TIME_WAIT socket on the director (at 10,000 checks a second those
/// would pile up to the kernel's limit); HAProxy's TCP checks close the same way.
pub async fn probe_tcp(t: &Target, dest: SocketAddr) -> io::Result<()> {
    let stream = open_tcp(t, dest).await?;
    socket2::SockRef::from(&stream).set_linger(Some(std::time::Duration::ZERO))?;
    drop(stream);
    Ok(())
}

async fn open_tcp(t: &Target, dest: SocketAddr) -> io::Result<TcpStream> {
    let s = socket(t, dest.ip(), Type::STREAM, Some(Protocol::TCP))?;
    let sock = TcpSocket::from_std_stream(std::net::TcpStream::from(s));
    sock.connect(scoped(dest, t.bind_if.as_deref())).await
}

/// A UDP socket connected to `dest`.
pub async fn connect_udp(t: &Target, dest: SocketAddr) -> io::Result<UdpSocket> {
    let s = socket(t, dest.ip(), Type::DGRAM, Some(Protocol::UDP))?;
    let u = UdpSocket::from_std(std::net::UdpSocket::from(s))?;
    u.connect(scoped(dest, t.bind_if.as_deref())).await?;
    Ok(u)
}

/// The RFC 1071 checksum.
pub(crate) fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Parses keepalived's free-format hex (`Ab12f 3 456` is `AB 12 0F 03 45 06`): each word
/// is read two digits at a time, a lone last digit being the low nibble of a byte.
/// `X`/`x` digits are wildcards when `wild` is set. Returns (bytes, masks).
pub fn parse_hex(s: &str, wild: bool) -> Result<(Vec<u8>, Vec<u8>), String> {
    let mut bytes = Vec::new();
    let mut masks = Vec::new();
    let nibble = |c: char| -> Result<(u8, u8), String> {
        if wild && (c == 'x' || c == 'X') {
            return Ok((0, 0));
        }
        c.to_digit(16)
            .map(|d| (d as u8, 0xf))
            .ok_or_else(|| format!("bad hex digit {c:?}"))
    };
    for word in s.split_whitespace() {
        let chars: Vec<char> = word.chars().collect();
        for pair in chars.chunks(2) {
            let (b, m) = match pair {
                [hi, lo] => {
                    let (h, hm) = nibble(*hi)?;
                    let (l, lm) = nibble(*lo)?;
                    ((h << 4) | l, (hm << 4) | lm)
                }
                [lo] => nibble(*lo)?,
                _ => unreachable!(),
            };
            bytes.push(b);
            masks.push(m);
        }
    }
    Ok((bytes, masks))
}

#[cfg(test)]
mod tests {
    use super::parse_hex;

    #[test]
    fn hex_free_format() {
        let (b, _) = parse_hex("Ab12f 3 456 546443123", false).unwrap();
        assert_eq!(
            b,
            [0xAB, 0x12, 0x0F, 0x03, 0x45, 0x06, 0x54, 0x64, 0x43, 0x12, 0x03]
        );
        let (b, m) = parse_hex("1x X2", true).unwrap();
        assert_eq!((b, m), (vec![0x10, 0x02], vec![0xf0, 0x0f]));
        assert!(parse_hex("zz", false).is_err());
    }
}
