//! Golden tests against tcpdump's VRRP test captures (and our own keepalived
//! captures) from the shared fixtures directory. Skipped when absent.

use keepalived_vrrp::packet::{
    decode, decode_ip, encode, AdverInt, Auth, DecodeError, DecodeOptions, Received, Version,
};
use std::net::IpAddr;
use std::path::PathBuf;

fn fixtures() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/pcap");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: fixtures directory {} not found", dir.display());
        None
    }
}

/// Minimal classic-pcap reader: returns (link type, frames).
fn read_pcap(bytes: &[u8]) -> (u32, Vec<Vec<u8>>) {
    assert!(bytes.len() >= 24, "pcap global header truncated");
    let magic = [bytes[0], bytes[1], bytes[2], bytes[3]];
    let le = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => panic!("not a classic pcap file: magic {magic:02x?}"),
    };
    let u32_at = |off: usize| {
        let b: [u8; 4] = bytes[off..off + 4].try_into().unwrap();
        if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    let link = u32_at(20);
    let mut frames = Vec::new();
    let mut off = 24;
    while off + 16 <= bytes.len() {
        let incl = u32_at(off + 8) as usize;
        let start = off + 16;
        let end = (start + incl).min(bytes.len());
        frames.push(bytes[start..end].to_vec());
        off = start + incl;
    }
    (link, frames)
}

/// The IP packet inside a link-layer frame.
fn ip_of(link: u32, frame: &[u8]) -> &[u8] {
    match link {
        1 => {
            // Ethernet (optionally one 802.1Q tag).
            let mut off = 12;
            let mut et = u16::from_be_bytes([frame[off], frame[off + 1]]);
            if et == 0x8100 {
                off += 4;
                et = u16::from_be_bytes([frame[off], frame[off + 1]]);
            }
            assert!(et == 0x0800 || et == 0x86dd, "ethertype {et:#06x}");
            &frame[off + 2..]
        }
        107 => {
            // Frame Relay: 2-4 byte Q.922 address then an ethertype / NLPID.
            // Take the bytes after the first 0x0800 ethertype that is followed
            // by an IPv4 version nibble, else the first IPv4-looking byte.
            let pos = frame
                .windows(3)
                .position(|w| w[0] == 0x08 && w[1] == 0x00 && w[2] >> 4 == 4)
                .map(|p| p + 2)
                .or_else(|| frame.iter().position(|b| b >> 4 == 4))
                .expect("no IPv4 header in frame-relay frame");
            &frame[pos..]
        }
        other => panic!("unsupported link type {other}"),
    }
}

/// Fields tcpdump -v prints for a VRRP advertisement.
#[derive(Debug, PartialEq)]
struct Expected {
    src: IpAddr,
    dst: IpAddr,
    version: u8,
    vrid: u8,
    prio: u8,
    authtype: Option<String>,
    intvl: String,
    length: usize,
    addrs: Vec<IpAddr>,
    auth: Option<String>,
}

fn field<'a>(s: &'a str, key: &str) -> &'a str {
    let start = s
        .find(key)
        .unwrap_or_else(|| panic!("{key:?} missing in {s}"))
        + key.len();
    let rest = &s[start..];
    let end = rest.find([',', ' ']).unwrap_or(rest.len());
    &rest[..end]
}

/// Parse tcpdump -v output into one joined record per packet.
fn parse_tcpdump(text: &str) -> Vec<Expected> {
    let mut records: Vec<String> = Vec::new();
    for line in text.lines() {
        let t = line.trim_start();
        let numbered = t
            .split_whitespace()
            .next()
            .is_some_and(|w| w.chars().all(|c| c.is_ascii_digit()))
            && line.starts_with("  ");
        // Packet lines are right-aligned numbers ("    1  2014-..."), continuation
        // lines start with 4 spaces then an address.
        if numbered && t.contains("  ") && (t.contains(" IP ") || t.contains(" IP6 ")) {
            records.push(t.to_string());
        } else {
            records
                .last_mut()
                .expect("continuation before first packet")
                .push_str(&format!(" {t}"));
        }
    }
    records
        .iter()
        .map(|r| {
            let v = r.find(": VRRPv").expect("VRRP record");
            let head = &r[..v];
            // "... src > dst"
            let gt = head.rfind(" > ").unwrap();
            let src_start = head[..gt].rfind(' ').unwrap() + 1;
            let src: IpAddr = head[src_start..gt].parse().unwrap();
            let dst: IpAddr = head[gt + 3..].parse().unwrap();
            let body = &r[v + 2..];
            let version: u8 = field(body, "VRRPv").parse().unwrap();
            let authtype = body
                .contains("authtype ")
                .then(|| field(body, "authtype ").to_string());
            let addrs_part = body.split("addrs").nth(1).unwrap();
            let list = addrs_part.split(": ").nth(1).unwrap();
            let list = list.split(' ').next().unwrap();
            let addrs = list.split(',').map(|a| a.parse().unwrap()).collect();
            let auth = body
                .split(" auth \"")
                .nth(1)
                .map(|a| a.trim_end_matches('"').to_string());
            Expected {
                src,
                dst,
                version,
                vrid: field(body, "vrid ").parse().unwrap(),
                prio: field(body, "prio ").parse().unwrap(),
                authtype,
                intvl: field(body, "intvl ").to_string(),
                length: field(body, "length ").parse().unwrap(),
                addrs,
                auth,
            }
        })
        .collect()
}

/// Payload bytes of the VRRP message inside an IP packet (header-length aware).
fn vrrp_payload(ip: &[u8]) -> &[u8] {
    if ip[0] >> 4 == 4 {
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        &ip[ihl..total]
    } else {
        let len = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
        &ip[40..40 + len]
    }
}

fn check_round_trip(ip: &[u8], r: &Received) -> Result<(), String> {
    let re = encode(&r.packet, r.src, r.dst);
    if re == vrrp_payload(ip) {
        Ok(())
    } else {
        Err(format!(
            "re-encode differs:\n got {re:02x?}\nwant {:02x?}",
            vrrp_payload(ip)
        ))
    }
}

#[test]
fn tcpdump_vrrp_pcap_matches_verbose_output() {
    let Some(dir) = fixtures() else { return };
    let (link, frames) = read_pcap(&std::fs::read(dir.join("vrrp.pcap")).unwrap());
    assert_eq!(link, 1);
    let expected = parse_tcpdump(&std::fs::read_to_string(dir.join("vrrp-v.out")).unwrap());
    assert_eq!(frames.len(), 165);
    assert_eq!(expected.len(), frames.len());

    let mut failures = Vec::new();
    let (mut v2, mut v3_4, mut v3_6) = (0, 0, 0);
    for (i, (frame, exp)) in frames.iter().zip(&expected).enumerate() {
        let n = i + 1;
        let ip = ip_of(link, frame);
        let r = match decode_ip(ip, DecodeOptions::default()) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("packet {n}: decode failed: {e}"));
                continue;
            }
        };
        let p = &r.packet;
        match (p.version, r.src.is_ipv4()) {
            (Version::V2, _) => v2 += 1,
            (Version::V3, true) => v3_4 += 1,
            (Version::V3, false) => v3_6 += 1,
        }
        let (authtype, auth) = match (p.version, p.auth) {
            (Version::V3, _) => (None, None),
            (_, Auth::None) => (Some("none".to_string()), None),
            (_, Auth::Simple(d)) => {
                let s: String = d
                    .iter()
                    .take_while(|&&b| b != 0)
                    .map(|&b| b as char)
                    .collect();
                (Some("simple".to_string()), Some(s))
            }
            (_, Auth::Ah) => (Some("ah".to_string()), None),
            (_, Auth::Unknown(t)) => (Some(t.to_string()), None),
        };
        let intvl = match p.adver_int {
            AdverInt::Seconds(s) => format!("{s}s"),
            AdverInt::Centis(c) => format!("{c}cs"),
        };
        let got = Expected {
            src: r.src,
            dst: r.dst,
            version: p.version.number(),
            vrid: p.vrid,
            prio: p.priority,
            authtype,
            intvl,
            length: p.encoded_len(),
            addrs: p.addresses.clone(),
            auth,
        };
        assert_eq!(usize::from(p.count_ip()), got.addrs.len());
        if &got != exp {
            failures.push(format!("packet {n}: got {got:?}\n want {exp:?}"));
        }
        if let Err(e) = check_round_trip(ip, &r) {
            failures.push(format!("packet {n}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!((v2, v3_4, v3_6), (68, 33, 64));
}

fn assert_all_rejected(file: &str, expected_frames: usize) -> Vec<DecodeError> {
    let Some(dir) = fixtures() else {
        return Vec::new();
    };
    let (link, frames) = read_pcap(&std::fs::read(dir.join(file)).unwrap());
    assert_eq!(frames.len(), expected_frames, "{file}");
    frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let ip = ip_of(link, f);
            // Also exercise the deeper checks: with TTL forced to 255 the frame
            // must still be rejected (no panic on truncated / bogus fields).
            let mut patched = ip.to_vec();
            if patched.len() > 8 {
                patched[8] = 255;
            }
            let deeper = decode_ip(&patched, DecodeOptions::default());
            assert!(deeper.is_err(), "{file} frame {}: {deeper:?}", i + 1);
            eprintln!(
                "{file} frame {}: with TTL 255 -> {}",
                i + 1,
                deeper.unwrap_err().reason()
            );
            // And the bare VRRP payload decoder on whatever bytes were captured.
            if ip.len() >= 20 && ip[0] >> 4 == 4 {
                let ihl = (usize::from(ip[0] & 0x0f) * 4).min(ip.len());
                let src = IpAddr::from([ip[12], ip[13], ip[14], ip[15]]);
                let dst = IpAddr::from([ip[16], ip[17], ip[18], ip[19]]);
                let bare = decode(&ip[ihl..], src, dst, DecodeOptions::default());
                assert!(bare.is_err(), "{file} frame {}: {bare:?}", i + 1);
                eprintln!(
                    "{file} frame {}: bare VRRP -> {}",
                    i + 1,
                    bare.unwrap_err().reason()
                );
            }
            match decode_ip(ip, DecodeOptions::default()) {
                Ok(r) => panic!("{file} frame {}: unexpectedly accepted {r:?}", i + 1),
                Err(e) => e,
            }
        })
        .collect()
}

#[test]
fn malformed_frame_relay_capture_is_rejected() {
    let errs = assert_all_rejected("vrrp-vrrp_print-oobr.pcap", 3);
    for e in &errs {
        // TTL 254, truncated by snaplen, bad IP checksum: TTL is checked first.
        assert_eq!(e, &DecodeError::BadTtl(254), "{e}");
    }
}

#[test]
fn malformed_ethernet_capture_is_rejected() {
    let errs = assert_all_rejected("vrrp-vrrp_print-oobr-2.pcap", 10);
    for e in &errs {
        eprintln!("oobr-2: {} ({e})", e.reason());
        assert!(!e.reason().is_empty());
    }
}

/// Our own captures of Debian keepalived 2.2.7 (see keepalived-pcaps.md).
#[test]
fn keepalived_captures_decode_and_round_trip() {
    let Some(dir) = fixtures() else { return };
    let cases = [
        ("keepalived-v2.pcap", Version::V2, AdverInt::Seconds(1)),
        ("keepalived-v3.pcap", Version::V3, AdverInt::Centis(100)),
        (
            "keepalived-v3-100ms.pcap",
            Version::V3,
            AdverInt::Centis(10),
        ),
    ];
    for (file, version, intvl) in cases {
        let path = dir.join(file);
        if !path.exists() {
            eprintln!("skipping {file}: not present");
            continue;
        }
        let (link, frames) = read_pcap(&std::fs::read(&path).unwrap());
        assert_eq!(frames.len(), 20, "{file}");
        let mut zero_prio = 0;
        for (i, f) in frames.iter().enumerate() {
            let ip = ip_of(link, f);
            let r = decode_ip(ip, DecodeOptions::default())
                .unwrap_or_else(|e| panic!("{file} frame {}: {e}", i + 1));
            let p = &r.packet;
            assert_eq!(p.version, version, "{file} frame {}", i + 1);
            assert_eq!(p.vrid, 51);
            assert_eq!(p.adver_int, intvl);
            assert_eq!(p.addresses, vec!["10.99.0.100".parse::<IpAddr>().unwrap()]);
            let want_prio = match r.src.to_string().as_str() {
                "10.99.0.1" => [100, 0],
                "10.99.0.2" => [90, 90],
                s => panic!("unexpected source {s}"),
            };
            assert!(want_prio.contains(&p.priority), "{file}: {r:?}");
            if p.priority == 0 {
                zero_prio += 1;
            }
            if version == Version::V2 {
                assert_eq!(p.auth, Auth::Simple(*b"kbpass1\0"));
            }
            check_round_trip(ip, &r).unwrap_or_else(|e| panic!("{file} frame {}: {e}", i + 1));
        }
        assert_eq!(zero_prio, 1, "{file}: one priority-0 advert");
    }
}
