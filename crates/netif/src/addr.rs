//! Interface and address management through rtnetlink.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::channel::mpsc::UnboundedReceiver;
use futures::{Stream, StreamExt, TryStreamExt};
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::sys::SocketAddr;
use rtnetlink::{AddressMessageBuilder, Handle, MulticastGroup};
use tokio::task::JoinHandle;

/// A virtual IP address to configure (keepalived's `virtual_ipaddress` entry).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VipSpec {
    /// The address.
    pub addr: IpAddr,
    /// Prefix length; [`VipSpec::new`] defaults to /32 or /128.
    pub prefix: u8,
    /// IPv4 broadcast address (`brd`); none is set when `None`.
    pub brd: Option<Ipv4Addr>,
    /// Address scope (`RT_SCOPE_*`, 0 = global, 253 = link, 254 = host).
    pub scope: Option<u8>,
    /// IPv4 label (e.g. `eth0:1`); ignored for IPv6.
    pub label: Option<String>,
    /// IPv6 only: set `IFA_F_NODAD` so the address is usable at once.
    pub nodad: bool,
}

impl VipSpec {
    /// A host address (/32 or /128) with no other attributes.
    pub fn new(addr: IpAddr) -> Self {
        VipSpec {
            addr,
            prefix: if addr.is_ipv4() { 32 } else { 128 },
            brd: None,
            scope: None,
            label: None,
            nodad: false,
        }
    }
}

/// One address of an interface, as [`Netlink::address_info`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrInfo {
    /// The local address.
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
    /// IPv4 label.
    pub label: Option<String>,
    /// Raw `IFA_F_*` flags (e.g. 0x01 secondary, 0x40 tentative).
    pub flags: u32,
    /// Address scope (`RT_SCOPE_*`).
    pub scope: u8,
}

impl AddrInfo {
    /// `IFA_F_SECONDARY` is set.
    pub fn is_secondary(&self) -> bool {
        self.flags & 0x01 != 0
    }
    /// `IFA_F_TENTATIVE` is set (IPv6 DAD not finished).
    pub fn is_tentative(&self) -> bool {
        self.flags & 0x40 != 0
    }
    /// `IFA_F_DADFAILED` is set.
    pub fn is_dad_failed(&self) -> bool {
        self.flags & 0x08 != 0
    }
}

fn nl_err(e: rtnetlink::Error) -> io::Error {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.to_io(),
        other => io::Error::other(other.to_string()),
    }
}

fn nl_errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| c.get().abs()),
        _ => None,
    }
}

/// An rtnetlink connection (its I/O task runs on the current tokio runtime
/// and is stopped when this value is dropped).
#[derive(Debug)]
pub struct Netlink {
    handle: Handle,
    task: JoinHandle<()>,
}

impl Drop for Netlink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Netlink {
    /// Open a connection in the calling thread's network namespace. Must be
    /// called inside a tokio runtime.
    pub fn new() -> io::Result<Self> {
        let (conn, handle, _messages) = rtnetlink::new_connection()?;
        let task = tokio::spawn(conn);
        Ok(Netlink { handle, task })
    }

    /// The underlying rtnetlink handle, for requests not wrapped here.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    async fn link_by_name(&self, name: &str) -> io::Result<LinkMessage> {
        let mut s = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match s.try_next().await {
            Ok(Some(m)) => Ok(m),
            Ok(None) => Err(not_found(name)),
            Err(e) if nl_errno(&e) == Some(libc::ENODEV) => Err(not_found(name)),
            Err(e) => Err(nl_err(e)),
        }
    }

    /// Interface index of `name`.
    pub async fn ifindex(&self, name: &str) -> io::Result<u32> {
        Ok(self.link_by_name(name).await?.header.index)
    }

    /// Whether `name` is administratively up and running (`IFF_UP` and
    /// `IFF_RUNNING`), the test keepalived uses for interface state.
    pub async fn link_up(&self, name: &str) -> io::Result<bool> {
        Ok(is_up(&self.link_by_name(name).await?))
    }

    /// Hardware (MAC) address of `name`.
    pub async fn mac(&self, name: &str) -> io::Result<[u8; 6]> {
        let link = self.link_by_name(name).await?;
        link.attributes
            .iter()
            .find_map(|a| match a {
                LinkAttribute::Address(b) => <[u8; 6]>::try_from(b.as_slice()).ok(),
                _ => None,
            })
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, "interface has no 6-byte MAC")
            })
    }

    /// All addresses of interface `ifindex` with full details, in kernel order.
    pub async fn address_info(&self, ifindex: u32) -> io::Result<Vec<AddrInfo>> {
        let msgs: Vec<AddressMessage> = self
            .handle
            .address()
            .get()
            .set_link_index_filter(ifindex)
            .execute()
            .try_collect()
            .await
            .map_err(nl_err)?;
        Ok(msgs.iter().filter_map(addr_info).collect())
    }

    /// Addresses of interface `ifindex` as (address, prefix length, label).
    pub async fn addresses(&self, ifindex: u32) -> io::Result<Vec<(IpAddr, u8, Option<String>)>> {
        Ok(self
            .address_info(ifindex)
            .await?
            .into_iter()
            .map(|a| (a.addr, a.prefix, a.label))
            .collect())
    }

    /// Add `spec` to interface `ifindex`. Already present is not an error.
    pub async fn add_address(&self, ifindex: u32, spec: &VipSpec) -> io::Result<()> {
        let mut req = self.handle.address().add(ifindex, spec.addr, spec.prefix);
        let msg = req.message_mut();
        // The builder derives a broadcast address; keepalived only sets one when configured.
        msg.attributes
            .retain(|a| !matches!(a, AddressAttribute::Broadcast(_)));
        if let Some(s) = spec.scope {
            msg.header.scope = AddressScope::from(s);
        }
        match spec.addr {
            IpAddr::V4(_) => {
                if let Some(b) = spec.brd {
                    msg.attributes.push(AddressAttribute::Broadcast(b));
                }
                if let Some(l) = &spec.label {
                    msg.attributes.push(AddressAttribute::Label(l.clone()));
                }
            }
            IpAddr::V6(_) => {
                if spec.nodad {
                    msg.header.flags |= AddressHeaderFlags::Nodad;
                    msg.attributes
                        .push(AddressAttribute::Flags(AddressFlags::Nodad));
                }
            }
        }
        match req.execute().await {
            Ok(()) => Ok(()),
            Err(e) if nl_errno(&e) == Some(libc::EEXIST) => Ok(()),
            Err(e) => Err(nl_err(e)),
        }
    }

    /// Remove `spec` (matched by address and prefix) from interface
    /// `ifindex`. Already absent is not an error.
    pub async fn del_address(&self, ifindex: u32, spec: &VipSpec) -> io::Result<()> {
        let mut msg = match spec.addr {
            IpAddr::V4(a) => AddressMessageBuilder::<Ipv4Addr>::new()
                .index(ifindex)
                .address(a, spec.prefix)
                .build(),
            IpAddr::V6(a) => AddressMessageBuilder::<Ipv6Addr>::new()
                .index(ifindex)
                .address(a, spec.prefix)
                .build(),
        };
        msg.attributes
            .retain(|a| !matches!(a, AddressAttribute::Broadcast(_)));
        match self.handle.address().del(msg).execute().await {
            Ok(()) => Ok(()),
            Err(e) if nl_errno(&e) == Some(libc::EADDRNOTAVAIL) => Ok(()),
            Err(e) => Err(nl_err(e)),
        }
    }

    /// Keepalived's default advertisement source: for IPv4 the first
    /// non-secondary IPv4 address of the interface, for IPv6 its link-local
    /// (fe80::/10) address, preferring one whose DAD has completed.
    pub async fn primary_address(&self, ifindex: u32, ipv6: bool) -> io::Result<Option<IpAddr>> {
        let addrs = self.address_info(ifindex).await?;
        if ipv6 {
            let ll: Vec<&AddrInfo> = addrs
                .iter()
                .filter(|a| matches!(a.addr, IpAddr::V6(v) if v.segments()[0] & 0xffc0 == 0xfe80))
                .filter(|a| !a.is_dad_failed())
                .collect();
            Ok(ll
                .iter()
                .find(|a| !a.is_tentative())
                .or(ll.first())
                .map(|a| a.addr))
        } else {
            Ok(addrs
                .iter()
                .find(|a| a.addr.is_ipv4() && !a.is_secondary())
                .map(|a| a.addr))
        }
    }

    /// Subscribe to link notifications (`RTNLGRP_LINK`) in the calling
    /// thread's network namespace. Must be called inside a tokio runtime.
    pub fn link_events() -> io::Result<LinkEvents> {
        let (conn, handle, rx) = rtnetlink::new_multicast_connection(&[MulticastGroup::Link])?;
        let task = tokio::spawn(conn);
        Ok(LinkEvents {
            rx,
            task,
            _handle: handle,
            last: HashMap::new(),
        })
    }
}

fn not_found(name: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("no such interface: {name}"),
    )
}

fn is_up(link: &LinkMessage) -> bool {
    link.header.flags.contains(LinkFlags::Up) && link.header.flags.contains(LinkFlags::Running)
}

fn addr_info(m: &AddressMessage) -> Option<AddrInfo> {
    let mut local = None;
    let mut address = None;
    let mut label = None;
    let mut flags = u32::from(m.header.flags.bits());
    for a in &m.attributes {
        match a {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => address = Some(*ip),
            AddressAttribute::Label(l) => label = Some(l.clone()),
            AddressAttribute::Flags(f) => flags = f.bits(),
            _ => {}
        }
    }
    let addr = local.or(address)?;
    let family_ok = match m.header.family {
        AddressFamily::Inet => addr.is_ipv4(),
        AddressFamily::Inet6 => addr.is_ipv6(),
        _ => false,
    };
    if !family_ok {
        return None;
    }
    Some(AddrInfo {
        addr,
        prefix: m.header.prefix_len,
        label,
        flags,
        scope: u8::from(m.header.scope),
    })
}

/// A link state change: interface `ifindex` became `up` (`IFF_UP` and
/// `IFF_RUNNING`) or not; `up` is false when the link was deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkEvent {
    /// Interface index.
    pub ifindex: u32,
    /// Interface name, when the notification carried it.
    pub name: Option<String>,
    /// New state.
    pub up: bool,
    /// The link was deleted.
    pub deleted: bool,
}

type NlMessages = UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, SocketAddr)>;

/// Stream of [`LinkEvent`]s from [`Netlink::link_events`]. Only changes are
/// reported: the first notification seen for an interface, then each flip
/// of its up state (and deletions). Read the current state with
/// [`Netlink::link_up`] after subscribing to avoid missing a transition.
pub struct LinkEvents {
    rx: NlMessages,
    task: JoinHandle<()>,
    _handle: Handle,
    last: HashMap<u32, bool>,
}

impl std::fmt::Debug for LinkEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkEvents").finish_non_exhaustive()
    }
}

impl Drop for LinkEvents {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LinkEvents {
    /// Next link change; `None` if the netlink socket closed.
    pub async fn next_event(&mut self) -> Option<LinkEvent> {
        self.next().await
    }

    fn classify(&mut self, msg: NetlinkMessage<RouteNetlinkMessage>) -> Option<LinkEvent> {
        let (link, deleted) = match msg.payload {
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) => (l, false),
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(l)) => (l, true),
            _ => return None,
        };
        let ifindex = link.header.index;
        let up = !deleted && is_up(&link);
        let name = link.attributes.iter().find_map(|a| match a {
            LinkAttribute::IfName(n) => Some(n.clone()),
            _ => None,
        });
        if deleted {
            self.last.remove(&ifindex);
        } else if self.last.insert(ifindex, up) == Some(up) {
            return None;
        }
        Some(LinkEvent {
            ifindex,
            name,
            up,
            deleted,
        })
    }
}

impl Stream for LinkEvents {
    type Item = LinkEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<LinkEvent>> {
        loop {
            match Pin::new(&mut self.rx).poll_next(cx) {
                Poll::Ready(Some((msg, _))) => {
                    if let Some(ev) = self.classify(msg) {
                        return Poll::Ready(Some(ev));
                    }
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
