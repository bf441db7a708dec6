//! VRRP advertisement codec (RFC 3768 VRRPv2, RFC 9568 VRRPv3).
//!
//! Pure byte manipulation: no sockets, no clocks. [`decode`] parses a VRRP
//! message (the IP payload), [`decode_ipv4`] / [`decode_ipv6`] additionally
//! validate the enclosing IP header the way a receiver must (protocol 112,
//! TTL / hop limit 255, no fragments), and [`encode`] produces the exact bytes
//! of a VRRP message including its checksum.
//!
//! Wire format (both versions share the first four bytes):
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! v2: |   Auth Type   |   Adver Int   |          Checksum         |
//! v3: |(rsvd) |     Max Adver Int     |          Checksum         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                  IPvX Address(es) (4 or 16 bytes each)        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! v2 only: 8 bytes of authentication data
//! ```
//!
//! Checksums: v2 covers the VRRP message only; v3 additionally covers the
//! IPv4 / IPv6 pseudo-header. Keepalived can be configured to compute the
//! v3-over-IPv4 checksum like v2 (no pseudo-header); see
//! [`DecodeOptions::v3_ipv4_checksum_as_v2`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IP protocol number / IPv6 next header assigned to VRRP.
pub const IPPROTO_VRRP: u8 = 112;
/// Required IPv4 TTL / IPv6 hop limit of every advertisement.
pub const VRRP_TTL: u8 = 255;
/// VRRP packet type "Advertisement" (the only type defined).
pub const TYPE_ADVERTISEMENT: u8 = 1;
/// Length of the fixed VRRP header.
pub const HEADER_LEN: usize = 8;
/// Length of the v2 authentication data trailer.
pub const AUTH_DATA_LEN: usize = 8;

/// VRRP protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// RFC 3768 (IPv4 only, with authentication field, interval in seconds).
    V2,
    /// RFC 9568 (IPv4 or IPv6, interval in centiseconds).
    V3,
}

impl Version {
    /// The 4-bit version number on the wire.
    pub fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }
}

/// VRRPv2 authentication (RFC 3768 §5.3.6; types 1 and 2 are deprecated but
/// still sent by keepalived). VRRPv3 packets always carry [`Auth::None`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Auth {
    /// Type 0: no authentication (auth data sent as zeros).
    None,
    /// Type 1: simple text password, zero padded to 8 bytes.
    Simple([u8; 8]),
    /// Type 2: IPsec AH (the data field is sent as zeros; AH itself is an IP header).
    Ah,
    /// Any other type number (auth data sent as zeros).
    Unknown(u8),
}

impl Auth {
    /// The auth type number on the wire.
    pub fn type_number(&self) -> u8 {
        match self {
            Auth::None => 0,
            Auth::Simple(_) => 1,
            Auth::Ah => 2,
            Auth::Unknown(n) => *n,
        }
    }

    fn data(&self) -> [u8; 8] {
        match self {
            Auth::Simple(d) => *d,
            _ => [0; 8],
        }
    }
}

/// Advertisement interval as carried by each version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AdverInt {
    /// VRRPv2: whole seconds (8 bits).
    Seconds(u8),
    /// VRRPv3: centiseconds (12 bits, 0..=4095).
    Centis(u16),
}

impl AdverInt {
    /// Interval in centiseconds.
    pub fn as_centis(self) -> u32 {
        match self {
            AdverInt::Seconds(s) => u32::from(s) * 100,
            AdverInt::Centis(c) => u32::from(c),
        }
    }
}

/// A decoded VRRP advertisement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Packet {
    pub version: Version,
    pub vrid: u8,
    pub priority: u8,
    /// Always [`Auth::None`] for VRRPv3.
    pub auth: Auth,
    pub adver_int: AdverInt,
    /// Virtual addresses; "Count IP Addrs" is derived from its length.
    pub addresses: Vec<IpAddr>,
}

impl Packet {
    /// Value of the "Count IP Addrs" field (saturates at 255).
    pub fn count_ip(&self) -> u8 {
        u8::try_from(self.addresses.len()).unwrap_or(u8::MAX)
    }

    /// Encoded length of the VRRP message.
    pub fn encoded_len(&self) -> usize {
        let addrs: usize = self
            .addresses
            .iter()
            .take(usize::from(self.count_ip()))
            .map(|a| if a.is_ipv4() { 4 } else { 16 })
            .sum();
        let auth = if self.version == Version::V2 {
            AUTH_DATA_LEN
        } else {
            0
        };
        HEADER_LEN + addrs + auth
    }
}

/// Receive-side knobs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Keepalived's compatibility mode: the VRRPv3-over-IPv4 checksum is
    /// computed like v2, i.e. without the IPv4 pseudo-header. When set, a v3
    /// IPv4 packet is accepted if its checksum verifies *either* way (and
    /// [`encode_with`] emits the v2-style checksum).
    pub v3_ipv4_checksum_as_v2: bool,
}

/// Why a received packet was dropped. One variant per reason, so a receiver
/// can keep per-reason counters via [`DecodeError::reason`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the headers (IP or VRRP) require, or the IP length
    /// fields claim more than was received.
    TooShort { needed: usize, got: usize },
    /// The IP header is not a valid IPv4 / IPv6 header (version nibble, IHL).
    BadIpHeader,
    /// IPv4 header checksum does not verify.
    BadIpChecksum,
    /// The packet is an IP fragment (VRRP advertisements are never fragmented).
    Fragmented,
    /// IP protocol / IPv6 next header is not 112.
    WrongProtocol(u8),
    /// TTL / hop limit is not 255.
    BadTtl(u8),
    /// VRRP version is neither 2 nor 3.
    BadVersion(u8),
    /// VRRPv2 received over IPv6, or source/destination families differ.
    FamilyMismatch,
    /// VRRP type is not 1 (Advertisement).
    BadType(u8),
    /// The VRRP length is inconsistent with Count IP Addrs and the family.
    LengthMismatch { expected: usize, got: usize },
    /// VRRP checksum does not verify.
    BadChecksum { got: u16, expected: u16 },
}

impl DecodeError {
    /// Short stable identifier, suitable as a counter / metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::TooShort { .. } => "too_short",
            DecodeError::BadIpHeader => "bad_ip_header",
            DecodeError::BadIpChecksum => "bad_ip_checksum",
            DecodeError::Fragmented => "fragmented",
            DecodeError::WrongProtocol(_) => "wrong_protocol",
            DecodeError::BadTtl(_) => "bad_ttl",
            DecodeError::BadVersion(_) => "bad_version",
            DecodeError::FamilyMismatch => "family_mismatch",
            DecodeError::BadType(_) => "bad_type",
            DecodeError::LengthMismatch { .. } => "length_mismatch",
            DecodeError::BadChecksum { .. } => "bad_checksum",
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooShort { needed, got } => {
                write!(f, "packet too short: need {needed} bytes, got {got}")
            }
            DecodeError::BadIpHeader => f.write_str("invalid IP header"),
            DecodeError::BadIpChecksum => f.write_str("bad IPv4 header checksum"),
            DecodeError::Fragmented => f.write_str("IP fragment"),
            DecodeError::WrongProtocol(p) => write!(f, "IP protocol {p} is not VRRP (112)"),
            DecodeError::BadTtl(t) => write!(f, "TTL/hop limit {t}, expected 255"),
            DecodeError::BadVersion(v) => write!(f, "unsupported VRRP version {v}"),
            DecodeError::FamilyMismatch => f.write_str("VRRP version / address family mismatch"),
            DecodeError::BadType(t) => write!(f, "VRRP type {t} is not Advertisement (1)"),
            DecodeError::LengthMismatch { expected, got } => {
                write!(
                    f,
                    "VRRP length {got}, expected {expected} from address count"
                )
            }
            DecodeError::BadChecksum { got, expected } => {
                write!(f, "bad VRRP checksum {got:#06x}, expected {expected:#06x}")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// Result of [`decode_ipv4`] / [`decode_ipv6`]: the packet plus IP addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub packet: Packet,
}

// ---------------------------------------------------------------------------
// Checksum helpers (RFC 1071 one's complement sum).

fn sum_bytes(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

fn pseudo_header_sum(src: IpAddr, dst: IpAddr, len: usize) -> u32 {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let acc = sum_bytes(&s.octets(), 0);
            let acc = sum_bytes(&d.octets(), acc);
            acc + u32::from(IPPROTO_VRRP) + (len as u32 & 0xffff)
        }
        (s, d) => {
            let s = to_v6(s);
            let d = to_v6(d);
            let acc = sum_bytes(&s.octets(), 0);
            let acc = sum_bytes(&d.octets(), acc);
            let l = len as u32;
            acc + (l >> 16) + (l & 0xffff) + u32::from(IPPROTO_VRRP)
        }
    }
}

fn to_v6(a: IpAddr) -> Ipv6Addr {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// Checksum value for `msg` (whose checksum field must be zero), computed the
/// way `version` requires; `pseudo` selects the v3 pseudo-header.
fn compute_checksum(msg: &[u8], pseudo: Option<(IpAddr, IpAddr)>) -> u16 {
    let acc = match pseudo {
        Some((s, d)) => pseudo_header_sum(s, d, msg.len()),
        None => 0,
    };
    !fold(sum_bytes(msg, acc))
}

fn uses_pseudo_header(version: Version, src: IpAddr, v3_ipv4_as_v2: bool) -> bool {
    match version {
        Version::V2 => false,
        Version::V3 => !(src.is_ipv4() && v3_ipv4_as_v2),
    }
}

// ---------------------------------------------------------------------------
// Decoding.

/// Decode a VRRP message (the IP payload, exactly the VRRP length: the caller
/// strips any link-layer padding). `src` / `dst` are the IP addresses of the
/// enclosing header; they select the address family and feed the v3
/// pseudo-header checksum.
pub fn decode(
    bytes: &[u8],
    src: IpAddr,
    dst: IpAddr,
    opts: DecodeOptions,
) -> Result<Packet, DecodeError> {
    if src.is_ipv4() != dst.is_ipv4() {
        return Err(DecodeError::FamilyMismatch);
    }
    if bytes.len() < HEADER_LEN {
        return Err(DecodeError::TooShort {
            needed: HEADER_LEN,
            got: bytes.len(),
        });
    }
    let version = match bytes[0] >> 4 {
        2 => Version::V2,
        3 => Version::V3,
        v => return Err(DecodeError::BadVersion(v)),
    };
    let ipv4 = src.is_ipv4();
    if version == Version::V2 && !ipv4 {
        return Err(DecodeError::FamilyMismatch);
    }
    let ty = bytes[0] & 0x0f;
    if ty != TYPE_ADVERTISEMENT {
        return Err(DecodeError::BadType(ty));
    }
    let count = usize::from(bytes[3]);
    let addr_len = if ipv4 { 4 } else { 16 };
    let trailer = if version == Version::V2 {
        AUTH_DATA_LEN
    } else {
        0
    };
    let expected = HEADER_LEN + count * addr_len + trailer;
    if bytes.len() != expected {
        return Err(DecodeError::LengthMismatch {
            expected,
            got: bytes.len(),
        });
    }

    let stored = u16::from_be_bytes([bytes[6], bytes[7]]);
    let mut zeroed = bytes.to_vec();
    zeroed[6] = 0;
    zeroed[7] = 0;
    let pseudo = uses_pseudo_header(version, src, false).then_some((src, dst));
    let computed = compute_checksum(&zeroed, pseudo);
    if computed != stored {
        let alt_ok = version == Version::V3
            && ipv4
            && opts.v3_ipv4_checksum_as_v2
            && compute_checksum(&zeroed, None) == stored;
        if !alt_ok {
            return Err(DecodeError::BadChecksum {
                got: stored,
                expected: computed,
            });
        }
    }

    let (auth, adver_int) = match version {
        Version::V2 => {
            let data: [u8; 8] = bytes[expected - AUTH_DATA_LEN..]
                .try_into()
                .expect("length checked");
            let auth = match bytes[4] {
                0 => Auth::None,
                1 => Auth::Simple(data),
                2 => Auth::Ah,
                n => Auth::Unknown(n),
            };
            (auth, AdverInt::Seconds(bytes[5]))
        }
        Version::V3 => {
            let raw = u16::from_be_bytes([bytes[4], bytes[5]]) & 0x0fff;
            (Auth::None, AdverInt::Centis(raw))
        }
    };

    let addresses = bytes[HEADER_LEN..HEADER_LEN + count * addr_len]
        .chunks_exact(addr_len)
        .map(|c| {
            if ipv4 {
                IpAddr::V4(Ipv4Addr::new(c[0], c[1], c[2], c[3]))
            } else {
                let o: [u8; 16] = c.try_into().expect("16-byte chunk");
                IpAddr::V6(Ipv6Addr::from(o))
            }
        })
        .collect();

    Ok(Packet {
        version,
        vrid: bytes[1],
        priority: bytes[2],
        auth,
        adver_int,
        addresses,
    })
}

/// Decode a full IPv4 datagram carrying VRRP. Checks header sanity, the IPv4
/// header checksum, fragmentation, protocol 112 and TTL 255, then the VRRP
/// message (bytes past the IP total length, e.g. Ethernet padding, are ignored).
pub fn decode_ipv4(ip: &[u8], opts: DecodeOptions) -> Result<Received, DecodeError> {
    if ip.len() < 20 {
        return Err(DecodeError::TooShort {
            needed: 20,
            got: ip.len(),
        });
    }
    if ip[0] >> 4 != 4 {
        return Err(DecodeError::BadIpHeader);
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    if ihl < 20 {
        return Err(DecodeError::BadIpHeader);
    }
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if total < ihl {
        return Err(DecodeError::BadIpHeader);
    }
    if ip.len() < total {
        return Err(DecodeError::TooShort {
            needed: total,
            got: ip.len(),
        });
    }
    if ip[9] != IPPROTO_VRRP {
        return Err(DecodeError::WrongProtocol(ip[9]));
    }
    if ip[8] != VRRP_TTL {
        return Err(DecodeError::BadTtl(ip[8]));
    }
    if fold(sum_bytes(&ip[..ihl], 0)) != 0xffff {
        return Err(DecodeError::BadIpChecksum);
    }
    let frag = u16::from_be_bytes([ip[6], ip[7]]);
    if frag & 0x2000 != 0 || frag & 0x1fff != 0 {
        return Err(DecodeError::Fragmented);
    }
    let src = IpAddr::V4(Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]));
    let dst = IpAddr::V4(Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]));
    let packet = decode(&ip[ihl..total], src, dst, opts)?;
    Ok(Received { src, dst, packet })
}

/// Decode a full IPv6 packet carrying VRRP directly after the fixed header
/// (next header 112, hop limit 255). Extension headers are not followed:
/// their presence is reported as [`DecodeError::WrongProtocol`].
pub fn decode_ipv6(ip: &[u8], opts: DecodeOptions) -> Result<Received, DecodeError> {
    if ip.len() < 40 {
        return Err(DecodeError::TooShort {
            needed: 40,
            got: ip.len(),
        });
    }
    if ip[0] >> 4 != 6 {
        return Err(DecodeError::BadIpHeader);
    }
    let payload = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
    if ip.len() < 40 + payload {
        return Err(DecodeError::TooShort {
            needed: 40 + payload,
            got: ip.len(),
        });
    }
    if ip[6] != IPPROTO_VRRP {
        return Err(DecodeError::WrongProtocol(ip[6]));
    }
    if ip[7] != VRRP_TTL {
        return Err(DecodeError::BadTtl(ip[7]));
    }
    let s: [u8; 16] = ip[8..24].try_into().expect("16 bytes");
    let d: [u8; 16] = ip[24..40].try_into().expect("16 bytes");
    let src = IpAddr::V6(Ipv6Addr::from(s));
    let dst = IpAddr::V6(Ipv6Addr::from(d));
    let packet = decode(&ip[40..40 + payload], src, dst, opts)?;
    Ok(Received { src, dst, packet })
}

/// Decode an IPv4 or IPv6 packet, dispatching on the version nibble.
pub fn decode_ip(ip: &[u8], opts: DecodeOptions) -> Result<Received, DecodeError> {
    match ip.first().map(|b| b >> 4) {
        Some(4) => decode_ipv4(ip, opts),
        Some(6) => decode_ipv6(ip, opts),
        Some(_) => Err(DecodeError::BadIpHeader),
        None => Err(DecodeError::TooShort { needed: 20, got: 0 }),
    }
}

// ---------------------------------------------------------------------------
// Encoding.

/// Encode `packet` as the VRRP message to send from `src` to `dst`, with the
/// RFC checksum (v3 includes the pseudo-header built from `src` / `dst`).
pub fn encode(packet: &Packet, src: IpAddr, dst: IpAddr) -> Vec<u8> {
    encode_with(packet, src, dst, DecodeOptions::default())
}

/// Like [`encode`], honouring [`DecodeOptions::v3_ipv4_checksum_as_v2`].
///
/// An interval of the "wrong" unit for the version is converted (seconds ×
/// 100 for v3, clamped to 4095; centiseconds ÷ 100 for v2, clamped to 255).
/// At most 255 addresses are written; each address is written in its own
/// family's size.
pub fn encode_with(packet: &Packet, src: IpAddr, dst: IpAddr, opts: DecodeOptions) -> Vec<u8> {
    let count = packet.count_ip();
    let mut out = Vec::with_capacity(packet.encoded_len());
    out.push((packet.version.number() << 4) | TYPE_ADVERTISEMENT);
    out.push(packet.vrid);
    out.push(packet.priority);
    out.push(count);
    match packet.version {
        Version::V2 => {
            let secs = match packet.adver_int {
                AdverInt::Seconds(s) => s,
                AdverInt::Centis(c) => u8::try_from(c / 100).unwrap_or(u8::MAX),
            };
            out.push(packet.auth.type_number());
            out.push(secs);
        }
        Version::V3 => {
            let centis = match packet.adver_int {
                AdverInt::Seconds(s) => (u16::from(s) * 100).min(0x0fff),
                AdverInt::Centis(c) => c.min(0x0fff),
            };
            out.extend_from_slice(&centis.to_be_bytes());
        }
    }
    out.extend_from_slice(&[0, 0]);
    for a in packet.addresses.iter().take(usize::from(count)) {
        match a {
            IpAddr::V4(v4) => out.extend_from_slice(&v4.octets()),
            IpAddr::V6(v6) => out.extend_from_slice(&v6.octets()),
        }
    }
    if packet.version == Version::V2 {
        out.extend_from_slice(&packet.auth.data());
    }
    let pseudo =
        uses_pseudo_header(packet.version, src, opts.v3_ipv4_checksum_as_v2).then_some((src, dst));
    let ck = compute_checksum(&out, pseudo);
    out[6..8].copy_from_slice(&ck.to_be_bytes());
    out
}

/// Build a minimal IPv4 header (TTL 255, protocol 112, no options, DF clear)
/// around an encoded VRRP message. Handy for tests and raw-socket senders
/// using `IP_HDRINCL`.
pub fn wrap_ipv4(vrrp: &[u8], src: Ipv4Addr, dst: Ipv4Addr, id: u16) -> Vec<u8> {
    let total = 20 + vrrp.len();
    let mut ip = Vec::with_capacity(total);
    ip.push(0x45);
    ip.push(0);
    ip.extend_from_slice(&(total as u16).to_be_bytes());
    ip.extend_from_slice(&id.to_be_bytes());
    ip.extend_from_slice(&[0, 0, VRRP_TTL, IPPROTO_VRRP, 0, 0]);
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let ck = !fold(sum_bytes(&ip, 0));
    ip[10..12].copy_from_slice(&ck.to_be_bytes());
    ip.extend_from_slice(vrrp);
    ip
}

/// Build a fixed IPv6 header (hop limit 255, next header 112) around an
/// encoded VRRP message.
pub fn wrap_ipv6(vrrp: &[u8], src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
    let mut ip = Vec::with_capacity(40 + vrrp.len());
    ip.extend_from_slice(&[0x60, 0, 0, 0]);
    ip.extend_from_slice(&(vrrp.len() as u16).to_be_bytes());
    ip.push(IPPROTO_VRRP);
    ip.push(VRRP_TTL);
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    ip.extend_from_slice(vrrp);
    ip
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 91);
    const DST4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);

    fn v2_packet() -> Packet {
        Packet {
            version: Version::V2,
            vrid: 42,
            priority: 191,
            auth: Auth::Simple(*b"abcdefgh"),
            adver_int: AdverInt::Seconds(10),
            addresses: vec![
                "10.4.42.1".parse().unwrap(),
                "10.4.42.2".parse().unwrap(),
                "10.4.42.3".parse().unwrap(),
            ],
        }
    }

    fn v3_packet4() -> Packet {
        Packet {
            version: Version::V3,
            vrid: 44,
            priority: 191,
            auth: Auth::None,
            adver_int: AdverInt::Centis(1000),
            addresses: vec![
                "10.4.44.100".parse().unwrap(),
                "10.4.44.200".parse().unwrap(),
            ],
        }
    }

    fn v2_ip() -> Vec<u8> {
        let vrrp = encode(&v2_packet(), SRC4.into(), DST4.into());
        wrap_ipv4(&vrrp, SRC4, DST4, 0x1234)
    }

    /// Recompute the IPv4 header checksum after a test mutated the header.
    fn fix_ip_checksum(ip: &mut [u8]) {
        ip[10] = 0;
        ip[11] = 0;
        let ck = !fold(sum_bytes(&ip[..20], 0));
        ip[10..12].copy_from_slice(&ck.to_be_bytes());
    }

    #[test]
    fn v2_matches_captured_bytes() {
        // Frame 1 of tcpdump's vrrp.pcap (VRRP payload).
        let expected = [
            0x21, 0x2a, 0xbf, 0x03, 0x01, 0x0a, 0xf1, 0x1f, 0x0a, 0x04, 0x2a, 0x01, 0x0a, 0x04,
            0x2a, 0x02, 0x0a, 0x04, 0x2a, 0x03, b'a', b'b', b'c', b'd', b'e', b'f', b'g', b'h',
        ];
        assert_eq!(encode(&v2_packet(), SRC4.into(), DST4.into()), expected);
    }

    #[test]
    fn round_trip_v2_v3_ipv4() {
        for p in [v2_packet(), v3_packet4()] {
            let vrrp = encode(&p, SRC4.into(), DST4.into());
            assert_eq!(vrrp.len(), p.encoded_len());
            let got = decode(&vrrp, SRC4.into(), DST4.into(), DecodeOptions::default()).unwrap();
            assert_eq!(got, p);
            let ip = wrap_ipv4(&vrrp, SRC4, DST4, 7);
            let r = decode_ip(&ip, DecodeOptions::default()).unwrap();
            assert_eq!(r.packet, p);
            assert_eq!(r.src, IpAddr::V4(SRC4));
            assert_eq!(r.dst, IpAddr::V4(DST4));
        }
    }

    #[test]
    fn v3_ipv6_checksum_and_round_trip() {
        let src: Ipv6Addr = "fe80::d6ca:6dff:fe66:cf60".parse().unwrap();
        let dst: Ipv6Addr = "ff02::12".parse().unwrap();
        let p = Packet {
            version: Version::V3,
            vrid: 45,
            priority: 191,
            auth: Auth::None,
            adver_int: AdverInt::Centis(1000),
            addresses: vec![
                "fe80::200:5eff:fe00:22d".parse().unwrap(),
                "2001::abcd:a".parse().unwrap(),
            ],
        };
        let vrrp = encode(&p, src.into(), dst.into());
        assert_eq!(vrrp.len(), 40);
        // The whole message plus pseudo-header sums to 0xffff.
        let acc = pseudo_header_sum(src.into(), dst.into(), vrrp.len());
        assert_eq!(fold(sum_bytes(&vrrp, acc)), 0xffff);
        // Without the pseudo-header it must not verify (checksum depends on addresses).
        assert_ne!(fold(sum_bytes(&vrrp, 0)), 0xffff);
        let ip = wrap_ipv6(&vrrp, src, dst);
        let r = decode_ipv6(&ip, DecodeOptions::default()).unwrap();
        assert_eq!(r.packet, p);
        // A different source address breaks the v3 checksum.
        let other: Ipv6Addr = "fe80::1".parse().unwrap();
        let err = decode(&vrrp, other.into(), dst.into(), DecodeOptions::default()).unwrap_err();
        assert_eq!(err.reason(), "bad_checksum");
    }

    #[test]
    fn v3_ipv4_checksum_as_v2_option() {
        let p = v3_packet4();
        let opts = DecodeOptions {
            v3_ipv4_checksum_as_v2: true,
        };
        let compat = encode_with(&p, SRC4.into(), DST4.into(), opts);
        let rfc = encode(&p, SRC4.into(), DST4.into());
        assert_ne!(compat, rfc);
        let strict = DecodeOptions::default();
        assert!(matches!(
            decode(&compat, SRC4.into(), DST4.into(), strict),
            Err(DecodeError::BadChecksum { .. })
        ));
        assert_eq!(decode(&compat, SRC4.into(), DST4.into(), opts).unwrap(), p);
        assert_eq!(decode(&rfc, SRC4.into(), DST4.into(), opts).unwrap(), p);
    }

    #[test]
    fn drop_bad_ttl() {
        let mut ip = v2_ip();
        ip[8] = 254;
        fix_ip_checksum(&mut ip);
        let e = decode_ipv4(&ip, DecodeOptions::default()).unwrap_err();
        assert_eq!(e, DecodeError::BadTtl(254));
        assert_eq!(e.reason(), "bad_ttl");

        let src: Ipv6Addr = "fe80::1".parse().unwrap();
        let dst: Ipv6Addr = "ff02::12".parse().unwrap();
        let p = Packet {
            addresses: vec!["2001::1".parse().unwrap()],
            ..v3_packet4()
        };
        let mut ip6 = wrap_ipv6(&encode(&p, src.into(), dst.into()), src, dst);
        ip6[7] = 1;
        assert_eq!(
            decode_ipv6(&ip6, DecodeOptions::default()),
            Err(DecodeError::BadTtl(1))
        );
    }

    #[test]
    fn drop_bad_checksum() {
        let mut ip = v2_ip();
        ip[20 + 7] ^= 0x01;
        let e = decode_ipv4(&ip, DecodeOptions::default()).unwrap_err();
        assert!(matches!(e, DecodeError::BadChecksum { .. }), "{e:?}");
        assert_eq!(e.reason(), "bad_checksum");
        // Corrupting the payload (password) is caught too.
        let mut ip = v2_ip();
        *ip.last_mut().unwrap() = b'X';
        assert_eq!(
            decode_ipv4(&ip, DecodeOptions::default())
                .unwrap_err()
                .reason(),
            "bad_checksum"
        );
    }

    #[test]
    fn drop_bad_ip_checksum() {
        let mut ip = v2_ip();
        ip[10] ^= 0xff;
        assert_eq!(
            decode_ipv4(&ip, DecodeOptions::default()),
            Err(DecodeError::BadIpChecksum)
        );
    }

    #[test]
    fn drop_wrong_version() {
        let mut ip = v2_ip();
        ip[20] = 0x41;
        assert_eq!(
            decode_ipv4(&ip, DecodeOptions::default()),
            Err(DecodeError::BadVersion(4))
        );
        // VRRPv2 is IPv4-only.
        let p = Packet {
            addresses: vec!["2001::1".parse().unwrap()],
            ..v2_packet()
        };
        let src: Ipv6Addr = "fe80::1".parse().unwrap();
        let dst: Ipv6Addr = "ff02::12".parse().unwrap();
        let ip6 = wrap_ipv6(&encode(&p, src.into(), dst.into()), src, dst);
        let e = decode_ipv6(&ip6, DecodeOptions::default()).unwrap_err();
        assert_eq!(e, DecodeError::FamilyMismatch);
    }

    #[test]
    fn drop_bad_type() {
        let mut vrrp = encode(&v2_packet(), SRC4.into(), DST4.into());
        vrrp[0] = 0x22;
        assert_eq!(
            decode(&vrrp, SRC4.into(), DST4.into(), DecodeOptions::default()),
            Err(DecodeError::BadType(2))
        );
    }

    #[test]
    fn drop_truncated() {
        let ip = v2_ip();
        // IP header claims more than we have.
        let e = decode_ipv4(&ip[..ip.len() - 1], DecodeOptions::default()).unwrap_err();
        assert_eq!(e.reason(), "too_short");
        // Shorter than an IP header / a VRRP header.
        assert_eq!(
            decode_ipv4(&ip[..10], DecodeOptions::default())
                .unwrap_err()
                .reason(),
            "too_short"
        );
        let vrrp = &ip[20..];
        assert!(matches!(
            decode(
                &vrrp[..5],
                SRC4.into(),
                DST4.into(),
                DecodeOptions::default()
            ),
            Err(DecodeError::TooShort { needed: 8, got: 5 })
        ));
        assert_eq!(
            decode_ip(&[], DecodeOptions::default())
                .unwrap_err()
                .reason(),
            "too_short"
        );
    }

    #[test]
    fn drop_count_mismatch() {
        let mut vrrp = encode(&v2_packet(), SRC4.into(), DST4.into());
        vrrp[3] = 4;
        assert_eq!(
            decode(&vrrp, SRC4.into(), DST4.into(), DecodeOptions::default()),
            Err(DecodeError::LengthMismatch {
                expected: 32,
                got: 28
            })
        );
        // Extra trailing bytes inside the VRRP length are also a mismatch.
        let mut vrrp = encode(&v3_packet4(), SRC4.into(), DST4.into());
        vrrp.extend_from_slice(&[0; 4]);
        assert_eq!(
            decode(&vrrp, SRC4.into(), DST4.into(), DecodeOptions::default())
                .unwrap_err()
                .reason(),
            "length_mismatch"
        );
    }

    #[test]
    fn drop_wrong_protocol_and_fragment() {
        let mut ip = v2_ip();
        ip[9] = 17;
        fix_ip_checksum(&mut ip);
        assert_eq!(
            decode_ipv4(&ip, DecodeOptions::default()),
            Err(DecodeError::WrongProtocol(17))
        );
        let mut ip = v2_ip();
        ip[6] = 0x20; // MF
        fix_ip_checksum(&mut ip);
        assert_eq!(
            decode_ipv4(&ip, DecodeOptions::default()),
            Err(DecodeError::Fragmented)
        );
    }

    #[test]
    fn ethernet_padding_is_ignored() {
        let mut ip = v2_ip();
        ip.extend_from_slice(&[0; 6]);
        assert_eq!(
            decode_ipv4(&ip, DecodeOptions::default()).unwrap().packet,
            v2_packet()
        );
    }

    #[test]
    fn interval_conversion_and_auth_types() {
        let p = Packet {
            adver_int: AdverInt::Seconds(3),
            ..v3_packet4()
        };
        let d = decode(
            &encode(&p, SRC4.into(), DST4.into()),
            SRC4.into(),
            DST4.into(),
            DecodeOptions::default(),
        )
        .unwrap();
        assert_eq!(d.adver_int, AdverInt::Centis(300));
        for auth in [Auth::None, Auth::Ah, Auth::Unknown(9)] {
            let p = Packet {
                auth,
                ..v2_packet()
            };
            let v = encode(&p, SRC4.into(), DST4.into());
            assert_eq!(&v[v.len() - 8..], &[0; 8]);
            let d = decode(&v, SRC4.into(), DST4.into(), DecodeOptions::default()).unwrap();
            assert_eq!(d.auth, auth);
        }
    }

    #[test]
    fn reasons_are_distinct() {
        let all = [
            DecodeError::TooShort { needed: 0, got: 0 },
            DecodeError::BadIpHeader,
            DecodeError::BadIpChecksum,
            DecodeError::Fragmented,
            DecodeError::WrongProtocol(0),
            DecodeError::BadTtl(0),
            DecodeError::BadVersion(0),
            DecodeError::FamilyMismatch,
            DecodeError::BadType(0),
            DecodeError::LengthMismatch {
                expected: 0,
                got: 0,
            },
            DecodeError::BadChecksum {
                got: 0,
                expected: 0,
            },
        ];
        let mut reasons: Vec<_> = all.iter().map(DecodeError::reason).collect();
        reasons.sort_unstable();
        reasons.dedup();
        assert_eq!(reasons.len(), all.len());
        for e in &all {
            assert!(!e.to_string().is_empty());
        }
    }
}
