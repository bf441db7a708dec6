//! Integration tests in private network namespaces (need root; skipped otherwise).
//!
//! Each test creates its own namespaces (`ip netns add`, names include the
//! process id), connects them with a veth pair and runs socket code inside a
//! namespace from a dedicated thread that `setns(CLONE_NEWNET)`s itself and
//! owns a current-thread tokio runtime. All traffic stays inside the
//! namespaces; every wait is bounded.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::Command;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use keepalived_netif::garp::{self, PacketSocket, ETH_P_ARP, ETH_P_IPV6};
use keepalived_netif::{
    create_vmac, decode, delete_link, link, vmac_mac, Netlink, RawPacket, VipSpec, VrrpSocket,
    VRRP_MCAST_V4, VRRP_MCAST_V6,
};
use keepalived_testkit::block_on;
use keepalived_testkit::netns::{self, ip_in, Ns};
use keepalived_vrrp::{encode, AdverInt, Auth, DecodeOptions, Packet, Version};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

/// True when we may create namespaces; prints why not otherwise.
fn can_run() -> bool {
    netns::can_run(&["ip"])
}

/// Two namespaces A and B joined by veth `va` (in A) <-> `vb` (in B), both up.
/// `dad` false disables IPv6 DAD so link-local addresses are usable at once.
struct Pair {
    a: Ns,
    b: Ns,
}

const A4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

impl Pair {
    fn new(tag: &str, dad: bool) -> Pair {
        let a = Ns::new(&format!("{tag}a"));
        let b = Ns::new(&format!("{tag}b"));
        a.veth("va", &b, "vb");
        if !dad {
            a.sysctl("net.ipv6.conf.va.accept_dad=0");
            b.sysctl("net.ipv6.conf.vb.accept_dad=0");
        }
        a.ip(&["addr", "add", "192.0.2.1/24", "dev", "va"]);
        b.ip(&["addr", "add", "192.0.2.2/24", "dev", "vb"]);
        a.ip(&["link", "set", "va", "up"]);
        b.ip(&["link", "set", "vb", "up"]);
        Pair { a, b }
    }
}

/// Wait (bounded) until `name` is up and running, using link notifications.
async fn wait_up(nl: &Netlink, name: &str) {
    wait_ready(nl, name, false).await
}

/// Wait (bounded) until `name` is up and running and, with `ipv6`, has its
/// link-local address (i.e. addrconf has configured it, multicast routes
/// included). Both happen in the kernel before the link notification is sent.
async fn wait_ready(nl: &Netlink, name: &str, ipv6: bool) {
    let mut events = Netlink::link_events().expect("subscribe");
    let idx = nl.ifindex(name).await.expect("ifindex");
    timeout(WAIT, async {
        loop {
            if nl.link_up(name).await.expect("link_up")
                && (!ipv6 || nl.primary_address(idx, true).await.unwrap().is_some())
            {
                return;
            }
            events.next_event().await.expect("link event stream ended");
        }
    })
    .await
    .expect("link did not come up");
}

fn advert(version: Version, addrs: Vec<IpAddr>) -> Packet {
    Packet {
        version,
        vrid: 51,
        priority: 150,
        auth: Auth::None,
        adver_int: match version {
            Version::V2 => AdverInt::Seconds(1),
            Version::V3 => AdverInt::Centis(100),
        },
        addresses: addrs,
    }
}

/// Open a VRRP socket on `vb` in B, signal readiness, then return the first
/// packet with VRID 51.
fn receiver(b: &Ns, ipv6: bool, multicast: bool) -> (JoinHandle<RawPacket>, mpsc::Receiver<()>) {
    let (tx, rx) = mpsc::channel();
    let h = b.spawn(move || {
        block_on(async move {
            let nl = Netlink::new().expect("netlink");
            wait_ready(&nl, "vb", ipv6).await;
            let sock = VrrpSocket::open("vb", ipv6, multicast)
                .await
                .expect("open receiver");
            tx.send(()).unwrap();
            timeout(WAIT, async {
                loop {
                    let raw = sock.recv().await.expect("recv");
                    let vrid = if ipv6 {
                        raw.bytes.get(1)
                    } else {
                        raw.bytes.get(21)
                    };
                    if vrid == Some(&51) {
                        return raw;
                    }
                }
            })
            .await
            .expect("no advertisement received")
        })
    });
    (h, rx)
}

/// Send `pkt` from A's `va` (from `src`, or A's primary address) to `dst`.
fn sender(a: &Ns, pkt: Packet, src: Option<IpAddr>, dst: IpAddr) -> JoinHandle<IpAddr> {
    a.spawn(move || {
        block_on(async move {
            let nl = Netlink::new().expect("netlink");
            wait_ready(&nl, "va", dst.is_ipv6()).await;
            let idx = nl.ifindex("va").await.unwrap();
            let src = match src {
                Some(s) => s,
                None => nl
                    .primary_address(idx, dst.is_ipv6())
                    .await
                    .unwrap()
                    .expect("no primary address"),
            };
            let sock = VrrpSocket::open("va", dst.is_ipv6(), dst.is_multicast())
                .await
                .expect("open sender");
            let bytes = encode(&pkt, src, dst);
            sock.send(&bytes, src, dst).await.expect("send");
            src
        })
    })
}

fn exchange(tag: &str, ipv6: bool, multicast: bool, dst: Option<IpAddr>) {
    if !can_run() {
        return;
    }
    let p = Pair::new(tag, false);
    let (version, vips): (Version, Vec<IpAddr>) = if ipv6 {
        (Version::V3, vec!["2001:db8::100".parse().unwrap()])
    } else {
        (Version::V2, vec![Ipv4Addr::new(192, 0, 2, 100).into()])
    };
    let pkt = advert(version, vips);
    let (rx_thread, ready) = receiver(&p.b, ipv6, multicast);
    ready.recv_timeout(WAIT).expect("receiver not ready");
    let dst = match dst {
        Some(d) => d,
        None => {
            // IPv6 unicast: B's link-local address.
            let h = p.b.spawn(|| {
                block_on(async {
                    let nl = Netlink::new().unwrap();
                    let idx = nl.ifindex("vb").await.unwrap();
                    nl.primary_address(idx, true).await.unwrap().unwrap()
                })
            });
            h.join().unwrap()
        }
    };
    let src = sender(&p.a, pkt.clone(), None, dst).join().expect("sender");
    let raw = rx_thread.join();
    if raw.is_err() {
        for ns in [&p.a, &p.b] {
            // Diagnostics only: counters and multicast state of both sides.
            let script =
                "grep -E 'Mcast|Discard|NoRoute|InReceives' /proc/net/snmp /proc/net/snmp6; \
                          ip maddr; ip addr; ip -6 route show table all";
            let out = Command::new("ip")
                .args(["netns", "exec", ns.name(), "sh", "-c", script])
                .output();
            if let Ok(o) = out {
                eprintln!("--- {}:\n{}", ns.name(), String::from_utf8_lossy(&o.stdout));
            }
        }
    }
    let raw = raw.expect("receiver");
    assert_eq!(raw.ttl, 255, "TTL / hop limit");
    assert_eq!(raw.src, src);
    assert_eq!(raw.dst, dst);
    let got = decode(&raw, DecodeOptions::default()).expect("decode");
    assert_eq!(got.packet, pkt);
    assert_eq!(got.src, src);
    assert_eq!(got.dst, dst);
    if ipv6 {
        assert!(matches!(src, IpAddr::V6(s) if s.segments()[0] == 0xfe80));
        assert_eq!(
            raw.bytes.len(),
            pkt.encoded_len(),
            "IPv6: VRRP payload only"
        );
    } else {
        assert_eq!(src, IpAddr::V4(A4));
        assert_eq!(raw.bytes[0] >> 4, 4, "IPv4: whole datagram");
    }
}

#[test]
fn ipv4_multicast_advert() {
    exchange("m4", false, true, Some(VRRP_MCAST_V4.into()));
}

#[test]
fn ipv6_multicast_advert() {
    exchange("m6", true, true, Some(VRRP_MCAST_V6.into()));
}

#[test]
fn ipv4_unicast_advert() {
    exchange("u4", false, false, Some(B4.into()));
}

#[test]
fn ipv6_unicast_advert() {
    exchange("u6", true, false, None);
}

#[test]
fn ipv4_send_from_unconfigured_vip_source() {
    // IP_HDRINCL lets the sender use any source, e.g. a VIP not added yet.
    if !can_run() {
        return;
    }
    let p = Pair::new("vs", false);
    let vip: IpAddr = Ipv4Addr::new(192, 0, 2, 77).into();
    let (rx_thread, ready) = receiver(&p.b, false, true);
    ready.recv_timeout(WAIT).unwrap();
    let pkt = advert(Version::V3, vec![vip]);
    sender(&p.a, pkt.clone(), Some(vip), VRRP_MCAST_V4.into())
        .join()
        .unwrap();
    let raw = rx_thread.join().unwrap();
    assert_eq!(raw.src, vip);
    assert_eq!(decode(&raw, DecodeOptions::default()).unwrap().packet, pkt);
}

fn ip_addr_line(ns: &str, dev: &str, needle: &str) -> Option<String> {
    ip_in(ns, &["-o", "addr", "show", "dev", dev])
        .lines()
        .find(|l| l.contains(needle))
        .map(str::to_owned)
}

#[test]
fn vip_add_delete() {
    if !can_run() {
        return;
    }
    let p = Pair::new("ad", true);
    let ns_name = p.a.name().to_owned();
    let h = p.a.spawn(move || {
        block_on(async move {
            let nl = Netlink::new().unwrap();
            let idx = nl.ifindex("va").await.unwrap();
            assert_eq!(idx, link::ifindex("va").unwrap());
            assert_eq!(link::ifname(idx).unwrap(), "va");

            // IPv4 /32 with a label, added twice (idempotent).
            let mut v4 = VipSpec::new(Ipv4Addr::new(192, 0, 2, 10).into());
            v4.label = Some("va:vip".into());
            assert_eq!(v4.prefix, 32);
            nl.add_address(idx, &v4).await.unwrap();
            nl.add_address(idx, &v4).await.unwrap();
            let addrs = nl.addresses(idx).await.unwrap();
            assert!(
                addrs.contains(&(v4.addr, 32, Some("va:vip".into()))),
                "{addrs:?}"
            );
            let ns = ns_name.as_str();
            let line = ip_addr_line(ns, "va", "192.0.2.10/32").expect("VIP in ip addr");
            assert!(line.contains("va:vip"), "{line}");

            // A VIP in the same subnet becomes secondary; the primary stays the advert source.
            let v4b = VipSpec {
                prefix: 24,
                ..VipSpec::new(Ipv4Addr::new(192, 0, 2, 11).into())
            };
            nl.add_address(idx, &v4b).await.unwrap();
            assert_eq!(
                nl.primary_address(idx, false).await.unwrap(),
                Some(A4.into())
            );

            nl.del_address(idx, &v4).await.unwrap();
            nl.del_address(idx, &v4).await.unwrap();
            nl.del_address(idx, &v4b).await.unwrap();
            let addrs = nl.addresses(idx).await.unwrap();
            assert!(!addrs.iter().any(|a| a.0 == v4.addr || a.0 == v4b.addr));
            assert!(ip_addr_line(ns, "va", "192.0.2.10/").is_none());

            // IPv6: nodad is usable at once, without it the address is tentative.
            let mut v6 = VipSpec::new("2001:db8::10".parse().unwrap());
            v6.nodad = true;
            assert_eq!(v6.prefix, 128);
            nl.add_address(idx, &v6).await.unwrap();
            nl.add_address(idx, &v6).await.unwrap();
            let v6dad = VipSpec::new("2001:db8::11".parse().unwrap());
            nl.add_address(idx, &v6dad).await.unwrap();
            let info = nl.address_info(idx).await.unwrap();
            let a = info.iter().find(|a| a.addr == v6.addr).expect("v6 VIP");
            assert!(!a.is_tentative(), "{a:?}");
            let b = info
                .iter()
                .find(|a| a.addr == v6dad.addr)
                .expect("v6 VIP 2");
            assert!(b.is_tentative(), "{b:?}");
            let line = ip_addr_line(ns, "va", "2001:db8::10/128").expect("v6 VIP in ip addr");
            assert!(!line.contains("tentative"), "{line}");
            let line = ip_addr_line(ns, "va", "2001:db8::11/128").expect("v6 VIP 2 in ip addr");
            assert!(line.contains("tentative"), "{line}");
            nl.del_address(idx, &v6).await.unwrap();
            nl.del_address(idx, &v6).await.unwrap();
            nl.del_address(idx, &v6dad).await.unwrap();
            assert!(ip_addr_line(ns, "va", "2001:db8::1").is_none());
        })
    });
    h.join().expect("address test");
}

#[test]
fn link_state_and_events() {
    if !can_run() {
        return;
    }
    let p = Pair::new("le", false);
    let (tx, rx) = mpsc::channel::<()>();
    let (ready_tx, ready) = mpsc::channel::<()>();
    let h = p.a.spawn(move || {
        block_on(async move {
            let nl = Netlink::new().unwrap();
            wait_up(&nl, "va").await;
            assert!(nl.link_up("va").await.unwrap());
            let mac = nl.mac("va").await.unwrap();
            let shown = link::ifindex("va").unwrap();
            assert_eq!(nl.ifindex("va").await.unwrap(), shown);
            assert_ne!(mac, [0; 6]);
            assert!(nl.ifindex("nosuchif").await.is_err());
            let mut events = Netlink::link_events().unwrap();
            ready_tx.send(()).unwrap();
            // B sets vb down: va loses carrier.
            let ev = timeout(WAIT, async {
                loop {
                    let ev = events.next_event().await.expect("events");
                    if ev.ifindex == shown && !ev.up {
                        return ev;
                    }
                }
            })
            .await
            .expect("no down event");
            assert_eq!(ev.name.as_deref(), Some("va"));
            assert!(!nl.link_up("va").await.unwrap());
            tx.send(()).unwrap();
            timeout(WAIT, async {
                loop {
                    let ev = events.next_event().await.expect("events");
                    if ev.ifindex == shown && ev.up {
                        return;
                    }
                }
            })
            .await
            .expect("no up event");
            mac
        })
    });
    ready.recv_timeout(WAIT).unwrap();
    p.b.ip(&["link", "set", "vb", "down"]);
    rx.recv_timeout(WAIT).unwrap();
    p.b.ip(&["link", "set", "vb", "up"]);
    let mac = h.join().expect("link test");
    let shown = p.a.ip(&["-o", "link", "show", "va"]);
    let hex = mac
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    assert!(shown.contains(&hex), "{shown} vs {hex}");
}

/// Capture in B one frame equal to `expected` while A runs `send`.
fn capture(p: &Pair, ethertype: u16, send: impl FnOnce(u32, [u8; 6]) -> Vec<u8> + Send + 'static) {
    let (ready_tx, ready) = mpsc::channel::<()>();
    let (frame_tx, frame_rx) = mpsc::channel::<Vec<u8>>();
    let cap = p.b.spawn(move || {
        let idx = link::ifindex("vb").unwrap();
        let sock = PacketSocket::open(idx, ethertype).unwrap();
        ready_tx.send(()).unwrap();
        let expected = frame_rx.recv_timeout(WAIT).unwrap();
        sock.recv_matching(WAIT, |f| f == expected.as_slice())
            .expect("frame not captured")
    });
    ready.recv_timeout(WAIT).unwrap();
    let snd = p.a.spawn(move || {
        block_on(async move {
            let nl = Netlink::new().unwrap();
            wait_up(&nl, "va").await;
            let mac = nl.mac("va").await.unwrap();
            let idx = nl.ifindex("va").await.unwrap();
            send(idx, mac)
        })
    });
    let expected = snd.join().expect("sender");
    frame_tx.send(expected.clone()).unwrap();
    let got = cap.join().expect("capture");
    assert_eq!(got, expected);
}

#[test]
fn gratuitous_arp_is_seen_by_peer() {
    if !can_run() {
        return;
    }
    let p = Pair::new("ga", false);
    capture(&p, ETH_P_ARP, |idx, mac| {
        let ip = Ipv4Addr::new(192, 0, 2, 100);
        garp::send_garp(idx, mac, ip).expect("send_garp");
        let f = garp::garp_frame(mac, ip);
        assert_eq!(f.len(), 60);
        assert_eq!(&f[..6], &[0xff; 6]);
        assert_eq!(&f[6..12], &mac);
        assert_eq!(&f[20..22], &[0, 1], "ARP request");
        f
    });
}

#[test]
fn unsolicited_na_is_seen_by_peer() {
    if !can_run() {
        return;
    }
    let p = Pair::new("na", false);
    capture(&p, ETH_P_IPV6, |idx, mac| {
        let target: Ipv6Addr = "2001:db8::100".parse().unwrap();
        let src: Ipv6Addr = "fe80::1".parse().unwrap();
        garp::send_unsolicited_na(idx, mac, target, src, true).expect("send NA");
        let f = garp::na_frame(mac, target, src, true);
        assert_eq!(&f[..6], &[0x33, 0x33, 0, 0, 0, 1]);
        assert_eq!(f[14 + 7], 255, "hop limit");
        assert_eq!(f[14 + 40], 136, "NA");
        assert_eq!(f[14 + 44], 0xa0, "Router + Override");
        assert_eq!(&f[14 + 48..14 + 64], &target.octets());
        assert_eq!(&f[14 + 64..14 + 66], &[2, 1], "TLLA option");
        assert_eq!(&f[14 + 66..14 + 72], &mac);
        f
    });
}

#[test]
fn vmac_create_delete() {
    if !can_run() {
        return;
    }
    let p = Pair::new("vm", false);
    let h = p.a.spawn(|| {
        block_on(async {
            let nl = Netlink::new().unwrap();
            let idx = create_vmac(&nl, "va", "vrrp.51", 51, false)
                .await
                .expect("create vmac");
            assert_eq!(nl.mac("vrrp.51").await.unwrap(), [0, 0, 0x5e, 0, 1, 51]);
            assert_eq!(vmac_mac(51, false), [0, 0, 0x5e, 0, 1, 51]);
            // Idempotent.
            assert_eq!(
                create_vmac(&nl, "va", "vrrp.51", 51, false).await.unwrap(),
                idx
            );
            let idx6 = create_vmac(&nl, "va", "vrrp6.7", 7, true)
                .await
                .expect("create v6 vmac");
            assert_ne!(idx, idx6);
            assert_eq!(nl.mac("vrrp6.7").await.unwrap(), [0, 0, 0x5e, 0, 2, 7]);
            (idx, idx6)
        })
    });
    let (_idx, _idx6) = h.join().expect("vmac create");
    let d = p.a.ip(&["-d", "-o", "link", "show", "vrrp.51"]);
    assert!(d.contains("macvlan mode private"), "{d}");
    assert!(d.contains("00:00:5e:00:01:33"), "{d}");
    assert!(d.contains("vrrp.51@va"), "{d}");
    assert!(d.contains(",UP"), "{d}");
    let h = p.a.spawn(|| {
        block_on(async {
            let nl = Netlink::new().unwrap();
            delete_link(&nl, "vrrp.51").await.unwrap();
            delete_link(&nl, "vrrp.51").await.unwrap();
            delete_link(&nl, "vrrp6.7").await.unwrap();
            assert_eq!(
                nl.ifindex("vrrp.51").await.unwrap_err().kind(),
                std::io::ErrorKind::NotFound
            );
        })
    });
    h.join().expect("vmac delete");
    let links = p.a.ip(&["-o", "link", "show"]);
    assert!(!links.contains("vrrp"), "{links}");
}
