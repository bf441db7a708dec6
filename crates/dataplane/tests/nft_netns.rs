//! The nftables backend against real traffic, in private network namespaces
//! (needs root and `nft`; skipped otherwise).
//!
//! Topology per test (names carry the process id and a counter):
//!
//! ```text
//!  client ──veth── [brc] director [brs] ──veth── r1, r2, r3
//!  192.0.2.100/.101  192.0.2.1     10.0.0.1       10.0.0.11-13
//!  2001:db8:c::100   VIPs on brc   2001:db8:5::1  2001:db8:5::11-13
//! ```
//!
//! The director forwards and is the real servers' default gateway (keepalived's
//! NAT model). Each real server runs a tiny HTTP server on port 80 (a thread
//! that entered its namespace) answering with its name.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::fd::OwnedFd;
use std::thread;
use std::time::{Duration, Instant};

use keepalived_dataplane::{
    diff, Backend, Dest, DestKey, Family, NftBackend, Op, Persistence, Pool, Proto, Service,
    ServiceKey,
};
use keepalived_testkit::block_on;
use keepalived_testkit::netns::{self, Ns};
use nix::sys::socket::{
    bind, connect, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, SockaddrStorage,
};
use nix::sys::time::TimeVal;

const TABLE: &str = "keepalived_rs_lb";

/// A namespace with DAD off (addresses usable at once) and `lo` up.
fn lab_ns(tag: &str) -> Ns {
    let ns = Ns::new(tag);
    ns.sysctl("net.ipv6.conf.all.accept_dad=0");
    ns.sysctl("net.ipv6.conf.default.accept_dad=0");
    ns.ip(&["link", "set", "lo", "up"]);
    ns
}

fn can_run() -> bool {
    netns::can_run(&["ip", "nft"])
}

const VIP4: &str = "192.0.2.10";
const VIP6: &str = "2001:db8:c::10";

struct Lab {
    client: Ns,
    director: Ns,
    servers: Vec<Ns>,
}

fn r4(i: usize) -> IpAddr {
    format!("10.0.0.1{}", i + 1).parse().unwrap()
}
fn r6(i: usize) -> IpAddr {
    format!("2001:db8:5::1{}", i + 1).parse().unwrap()
}

impl Lab {
    fn new(tag: &str) -> Lab {
        let client = lab_ns(&format!("{tag}c"));
        let director = lab_ns(&format!("{tag}d"));
        let d = &director;
        d.sysctl("net.ipv4.ip_forward=1");
        d.sysctl("net.ipv6.conf.all.forwarding=1");
        d.ip(&["link", "add", "brc", "type", "bridge"]);
        d.ip(&["link", "add", "brs", "type", "bridge"]);
        for (br, a4, a6) in [
            ("brc", "192.0.2.1/24", "2001:db8:c::1/64"),
            ("brs", "10.0.0.1/24", "2001:db8:5::1/64"),
        ] {
            d.ip(&["addr", "add", a4, "dev", br]);
            d.ip(&["addr", "add", a6, "dev", br, "nodad"]);
            d.ip(&["link", "set", br, "up"]);
        }
        // the VIPs live on the director, as keepalived's VRRP would put them
        d.ip(&["addr", "add", &format!("{VIP4}/24"), "dev", "brc"]);
        d.ip(&["addr", "add", &format!("{VIP6}/64"), "dev", "brc", "nodad"]);

        let plug = |ns: &Ns, port: &str, br: &str| {
            d.veth(port, ns, "eth0");
            d.ip(&["link", "set", port, "master", br]);
            d.ip(&["link", "set", port, "up"]);
            ns.ip(&["link", "set", "eth0", "up"]);
        };
        plug(&client, "pc", "brc");
        client.ip(&["addr", "add", "192.0.2.100/24", "dev", "eth0"]);
        client.ip(&["addr", "add", "192.0.2.101/24", "dev", "eth0"]);
        client.ip(&["addr", "add", "2001:db8:c::100/64", "dev", "eth0", "nodad"]);
        client.ip(&["route", "add", "default", "via", "192.0.2.1"]);
        client.ip(&["-6", "route", "add", "default", "via", "2001:db8:c::1"]);

        let mut servers = Vec::new();
        for i in 0..3 {
            let r = lab_ns(&format!("{tag}r{}", i + 1));
            plug(&r, &format!("pr{}", i + 1), "brs");
            r.ip(&["addr", "add", &format!("{}/24", r4(i)), "dev", "eth0"]);
            r.ip(&[
                "addr",
                "add",
                &format!("{}/64", r6(i)),
                "dev",
                "eth0",
                "nodad",
            ]);
            r.ip(&["route", "add", "default", "via", "10.0.0.1"]);
            r.ip(&["-6", "route", "add", "default", "via", "2001:db8:5::1"]);
            let name = format!("r{}", i + 1);
            let listener = r.run(|| std::net::TcpListener::bind("[::]:80").expect("bind :80"));
            // serves until the test process exits
            thread::spawn(move || serve(listener, name));
            servers.push(r);
        }
        Lab {
            client,
            director,
            servers,
        }
    }

    /// Run `f` with the backend on a thread in the director's namespace.
    fn with_backend<T: Send + 'static>(
        &self,
        mut b: NftBackend,
        f: impl for<'a> FnOnce(
                &'a mut NftBackend,
            )
                -> std::pin::Pin<Box<dyn std::future::Future<Output = T> + 'a>>
            + Send
            + 'static,
    ) -> (NftBackend, T) {
        self.director.run(move || {
            let t = block_on(f(&mut b));
            (b, t)
        })
    }

    fn apply(&self, b: NftBackend, ops: Vec<Op>) -> NftBackend {
        let (b, r) = self.with_backend(b, move |b| Box::pin(async move { b.apply(&ops).await }));
        r.expect("apply");
        b
    }

    /// `n` HTTP requests to `vip:port` from `src`, one connection each, in order.
    fn requests(
        &self,
        src: IpAddr,
        vip: IpAddr,
        port: u16,
        n: usize,
    ) -> Vec<Result<String, String>> {
        self.client.run(move || {
            (0..n)
                .map(|_| http_get(src, SocketAddr::new(vip, port)).map_err(|e| e.to_string()))
                .collect()
        })
    }

    /// Requests until one succeeds (links, neighbours and the ruleset are in
    /// place); bounded.
    fn wait_ready(&self, src: IpAddr, vip: IpAddr, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.requests(src, vip, port, 1)[0].is_ok() {
                return;
            }
            assert!(Instant::now() < deadline, "{vip}:{port} never answered");
        }
    }
}

fn serve(listener: std::net::TcpListener, name: String) {
    for conn in listener.incoming() {
        let Ok(mut c) = conn else { continue };
        let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
        let mut buf = Vec::new();
        let mut chunk = [0u8; 512];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match c.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let _ = write!(
            c,
            "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{name}",
            name.len()
        );
    }
}

/// HTTP/1.0 GET from `src` (bound before connecting) to `dst`; the body.
fn http_get(src: IpAddr, dst: SocketAddr) -> std::io::Result<String> {
    let fam = if dst.is_ipv6() {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    let fd: OwnedFd = socket(fam, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
    let tv = TimeVal::from(libc::timeval {
        tv_sec: 3,
        tv_usec: 0,
    });
    // SO_SNDTIMEO also bounds connect()
    setsockopt(&fd, sockopt::SendTimeout, &tv)?;
    setsockopt(&fd, sockopt::ReceiveTimeout, &tv)?;
    bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrStorage::from(SocketAddr::new(src, 0)),
    )?;
    connect(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrStorage::from(dst),
    )?;
    let mut s = TcpStream::from(fd);
    s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .ok_or_else(|| std::io::Error::other(format!("bad reply {out:?}")))?;
    Ok(body)
}

fn tally(rs: &[Result<String, String>]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in rs {
        let k = match r {
            Ok(b) => b.clone(),
            Err(e) => format!("error: {e}"),
        };
        *m.entry(k).or_insert(0) += 1;
    }
    m
}

fn counts(rs: &[Result<String, String>]) -> [usize; 3] {
    let t = tally(rs);
    assert!(
        t.keys().all(|k| !k.starts_with("error")),
        "failed requests: {t:?}"
    );
    [
        *t.get("r1").unwrap_or(&0),
        *t.get("r2").unwrap_or(&0),
        *t.get("r3").unwrap_or(&0),
    ]
}

fn ip_svc(vip: &str, port: u16, sched: &str, dests: &[(IpAddr, u32)]) -> Service {
    let mut s = Service::new(
        ServiceKey::Ip {
            addr: vip.parse().unwrap(),
            port,
            proto: Proto::Tcp,
        },
        sched,
    );
    for (a, w) in dests {
        s.destinations
            .insert(DestKey { addr: *a, port: 80 }, Dest::nat(*w));
    }
    s
}

fn pool(svcs: &[Service]) -> Pool {
    svcs.iter().map(|s| (s.key, s.clone())).collect()
}

/// Tables in the director's ruleset.
fn tables(lab: &Lab) -> Vec<String> {
    lab.director
        .exec(&["nft", "list", "tables"])
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn ipv4_rr_wrr_sh_persistence_remove_and_read() {
    if !can_run() {
        return;
    }
    let lab = Lab::new("v4");
    let c1: IpAddr = "192.0.2.100".parse().unwrap();
    let c2: IpAddr = "192.0.2.101".parse().unwrap();
    let vip: IpAddr = VIP4.parse().unwrap();
    let all: Vec<(IpAddr, u32)> = (0..3).map(|i| (r4(i), 1)).collect();
    let rr = ip_svc(VIP4, 80, "rr", &all);
    let wrr = ip_svc(VIP4, 81, "wrr", &[(r4(0), 1), (r4(1), 2), (r4(2), 3)]);
    let shs = ip_svc(VIP4, 82, "sh", &all);
    let mut per = ip_svc(VIP4, 83, "rr", &all);
    per.persistence = Some(Persistence {
        timeout_s: 300,
        granularity: 32,
    });
    let want = pool(&[rr.clone(), wrr.clone(), shs.clone(), per.clone()]);

    let b = NftBackend::new(TABLE);
    let b = lab.apply(b, diff(&Pool::new(), &want));
    assert_eq!(b.stats().netlink_batches, 0);
    let listing = lab.director.exec(&["nft", "list", "table", "inet", TABLE]);
    println!("{listing}");
    // a persistent service: the affinity hooks are there
    assert!(listing.contains("chain post_pre"), "{listing}");

    lab.wait_ready(c1, vip, 80);
    assert_eq!(counts(&lab.requests(c1, vip, 80, 30)), [10, 10, 10], "rr");
    lab.wait_ready(c1, vip, 81);
    assert_eq!(counts(&lab.requests(c1, vip, 81, 30)), [5, 10, 15], "wrr");
    for c in [c1, c2] {
        let t = counts(&lab.requests(c, vip, 82, 12));
        assert_eq!(t.iter().filter(|n| **n > 0).count(), 1, "sh sticky: {t:?}");
    }
    let t = counts(&lab.requests(c1, vip, 83, 12));
    assert_eq!(
        t.iter().filter(|n| **n > 0).count(),
        1,
        "persistence: {t:?}"
    );

    // read() from a fresh backend (a restart) sees the same pool
    let (_, read) = lab.with_backend(NftBackend::new(TABLE), |b| Box::pin(b.read()));
    assert_eq!(read.expect("read"), want);

    // r2 dies: exactly one netlink transaction, no nft process
    let before = b.stats();
    let mut want2 = want.clone();
    want2
        .get_mut(&rr.key)
        .unwrap()
        .destinations
        .remove(&DestKey {
            addr: r4(1),
            port: 80,
        });
    let ops = diff(&want, &want2);
    assert_eq!(ops.len(), 1);
    let t0 = Instant::now();
    let b = lab.apply(b, ops);
    println!("one-server removal applied in {:?}", t0.elapsed());
    let after = b.stats();
    assert_eq!(after.netlink_batches, before.netlink_batches + 1);
    assert_eq!(after.nft_runs, before.nft_runs);
    // r2's 10 finished connections through the VIP:80 were in conntrack
    assert!(
        after.conntrack_deleted >= 10,
        "conntrack entries flushed: {}",
        after.conntrack_deleted
    );
    let t = counts(&lab.requests(c1, vip, 80, 30));
    assert_eq!(t[1], 0, "r2 still used: {t:?}");
    assert_eq!(t[0] + t[2], 30);

    // the server the persistent client sticks to dies: its affinity goes with
    // it (same transaction) and the client moves to one other server
    let t = counts(&lab.requests(c1, vip, 83, 6));
    assert_eq!(
        t.iter().filter(|n| **n > 0).count(),
        1,
        "persistence: {t:?}"
    );
    let stuck = t.iter().position(|n| *n > 0).unwrap();
    let mut want2b = want2.clone();
    want2b
        .get_mut(&per.key)
        .unwrap()
        .destinations
        .remove(&DestKey {
            addr: r4(stuck),
            port: 80,
        });
    let before = b.stats();
    let b = lab.apply(b, diff(&want2, &want2b));
    assert_eq!(b.stats().netlink_batches, before.netlink_batches + 1);
    assert_eq!(b.stats().nft_runs, before.nft_runs);
    let t2 = counts(&lab.requests(c1, vip, 83, 12));
    assert_eq!(t2[stuck], 0, "{t2:?}");
    assert_eq!(
        t2.iter().filter(|n| **n > 0).count(),
        1,
        "persistence: {t2:?}"
    );
    let b = lab.apply(b, diff(&want2b, &want2));

    // r3 inhibited (weight 0) on wrr: one transaction, no conntrack flush
    let mut want3 = want2.clone();
    want3
        .get_mut(&wrr.key)
        .unwrap()
        .destinations
        .get_mut(&DestKey {
            addr: r4(2),
            port: 80,
        })
        .unwrap()
        .weight = 0;
    let before = b.stats();
    let b = lab.apply(b, diff(&want2, &want3));
    let after = b.stats();
    assert_eq!(after.netlink_batches, before.netlink_batches + 1);
    assert_eq!(after.conntrack_deleted, before.conntrack_deleted);
    let t = counts(&lab.requests(c1, vip, 81, 30));
    assert_eq!(t, [10, 20, 0], "wrr 1:2:0");

    let (_, read) = lab.with_backend(NftBackend::new(TABLE), |b| Box::pin(b.read()));
    assert_eq!(read.expect("read"), want3);

    // r2 back: one transaction again
    let before = b.stats();
    let b = lab.apply(b, diff(&want3, &want));
    assert_eq!(b.stats().netlink_batches, before.netlink_batches + 1);
    assert_eq!(b.stats().nft_runs, before.nft_runs);
    let t = counts(&lab.requests(c1, vip, 80, 30));
    assert!(
        t.iter().all(|n| (8..=12).contains(n)),
        "rr after rejoin: {t:?}"
    );

    // only our table in the ruleset
    assert_eq!(tables(&lab), vec![format!("table inet {TABLE}")]);

    // flush removes it
    let (_, r) = lab.with_backend(b, |b| Box::pin(b.flush()));
    r.expect("flush");
    assert!(tables(&lab).is_empty());
    drop(lab.servers);
}

#[test]
fn ipv6_service() {
    if !can_run() {
        return;
    }
    let lab = Lab::new("v6");
    let c: IpAddr = "2001:db8:c::100".parse().unwrap();
    let vip: IpAddr = VIP6.parse().unwrap();
    let all: Vec<(IpAddr, u32)> = (0..3).map(|i| (r6(i), 1)).collect();
    let rr = ip_svc(VIP6, 80, "rr", &all);
    let mut mh = ip_svc(VIP6, 82, "mh", &all);
    mh.flags = vec!["mh-port".into()];
    let want = pool(&[rr.clone(), mh]);
    let b = lab.apply(NftBackend::new(TABLE), diff(&Pool::new(), &want));
    // no persistent service: no filter hook sees every packet
    let listing = lab.director.exec(&["nft", "list", "table", "inet", TABLE]);
    assert!(
        !listing.contains("post_pre") && !listing.contains("post_out"),
        "{listing}"
    );
    lab.wait_ready(c, vip, 80);
    assert_eq!(counts(&lab.requests(c, vip, 80, 30)), [10, 10, 10]);
    lab.wait_ready(c, vip, 82);
    // mh-port hashes the source port too: one client spreads
    let t = counts(&lab.requests(c, vip, 82, 30));
    assert_eq!(t.iter().sum::<usize>(), 30);
    let (_, read) = lab.with_backend(NftBackend::new(TABLE), |b| Box::pin(b.read()));
    assert_eq!(read.expect("read"), want);
    // a server leaves: one transaction, no failures
    let mut want2 = want.clone();
    want2
        .get_mut(&rr.key)
        .unwrap()
        .destinations
        .remove(&DestKey {
            addr: r6(0),
            port: 80,
        });
    let before = b.stats();
    let b = lab.apply(b, diff(&want, &want2));
    assert_eq!(b.stats().netlink_batches, before.netlink_batches + 1);
    assert_eq!(b.stats().nft_runs, before.nft_runs);
    assert!(
        b.stats().conntrack_deleted >= 10,
        "conntrack entries flushed: {}",
        b.stats().conntrack_deleted
    );
    let t = counts(&lab.requests(c, vip, 80, 30));
    assert_eq!(t, [0, 15, 15]);
}

#[test]
fn fwmark_service() {
    if !can_run() {
        return;
    }
    let lab = Lab::new("fw");
    // a test-made table marks traffic for 198.51.100.5:8080 (not a local address)
    lab.director.exec(&[
        "nft",
        "add table inet testmark; add chain inet testmark pre { type filter hook prerouting priority mangle; }; add rule inet testmark pre ip daddr 198.51.100.5 tcp dport 8080 meta mark set 7",
    ]);
    let mut s = Service::new(
        ServiceKey::Fwmark {
            mark: 7,
            family: Family::V4,
        },
        "wrr",
    );
    for i in 0..3 {
        s.destinations.insert(
            DestKey {
                addr: r4(i),
                port: 80,
            },
            Dest::nat(1),
        );
    }
    let want = pool(&[s]);
    let _b = lab.apply(NftBackend::new(TABLE), diff(&Pool::new(), &want));
    let c: IpAddr = "192.0.2.100".parse().unwrap();
    let vip: IpAddr = "198.51.100.5".parse().unwrap();
    lab.wait_ready(c, vip, 8080);
    assert_eq!(counts(&lab.requests(c, vip, 8080, 30)), [10, 10, 10]);
    let (_, read) = lab.with_backend(NftBackend::new(TABLE), |b| Box::pin(b.read()));
    assert_eq!(read.expect("read"), want);
    assert_eq!(
        tables(&lab),
        vec![
            "table inet testmark".to_string(),
            format!("table inet {TABLE}")
        ]
    );
}

/// A one-server change among 10,000 backends: still one transaction; prints the time.
#[test]
fn ten_thousand_backends() {
    if !can_run() {
        return;
    }
    let ns = lab_ns("big");
    let mut s = Service::new(
        ServiceKey::Ip {
            addr: "192.0.2.10".parse().unwrap(),
            port: 80,
            proto: Proto::Tcp,
        },
        "wrr",
    );
    for i in 0..10_000u32 {
        let a = 0x0a01_0000u32 + i;
        s.destinations.insert(
            DestKey {
                addr: IpAddr::from(a.to_be_bytes()),
                port: 80,
            },
            Dest::nat(1 + i % 3),
        );
    }
    let mut h = s.clone();
    h.key = ServiceKey::Ip {
        addr: "192.0.2.10".parse().unwrap(),
        port: 81,
        proto: Proto::Tcp,
    };
    h.scheduler = "mh".into();
    let want = pool(&[s.clone(), h.clone()]);
    let timings = ns.run(move || {
        block_on(async move {
            let mut b = NftBackend::new(TABLE);
            let t0 = Instant::now();
            b.apply(&diff(&Pool::new(), &want)).await.expect("build");
            let build = t0.elapsed();
            let mut out = vec![("build 2 x 10k".to_string(), build, b.stats())];
            for key in [s.key, h.key] {
                let dest = *want[&key].destinations.keys().nth(4321).unwrap();
                let mut w2 = want.clone();
                w2.get_mut(&key).unwrap().destinations.remove(&dest);
                let ops = diff(&want, &w2);
                let t0 = Instant::now();
                b.apply(&ops).await.expect("remove one");
                out.push((format!("remove one ({key})"), t0.elapsed(), b.stats()));
                let t0 = Instant::now();
                b.apply(&diff(&w2, &want)).await.expect("add back");
                out.push((format!("add back ({key})"), t0.elapsed(), b.stats()));
                let mut w3 = want.clone();
                w3.get_mut(&key)
                    .unwrap()
                    .destinations
                    .get_mut(&dest)
                    .unwrap()
                    .weight = 7;
                let t0 = Instant::now();
                b.apply(&diff(&want, &w3)).await.expect("weight");
                out.push((format!("weight 7 ({key})"), t0.elapsed(), b.stats()));
                b.apply(&diff(&w3, &want)).await.expect("weight back");
            }
            out
        })
    });
    let mut last = timings[0].2;
    for (what, t, st) in &timings {
        println!("{what}: {t:?} {st:?}");
    }
    for (_, _, st) in &timings[1..] {
        assert_eq!(st.nft_runs, last.nft_runs, "no nft process per change");
        assert!(st.netlink_batches > last.netlink_batches);
        last = *st;
    }
}
