//! Network interface adapters for keepalived-rs: the thin I/O layer VRRP needs.
//!
//! - [`raw`]: VRRP raw sockets (IP protocol 112) for IPv4 and IPv6, async on tokio.
//! - [`addr`]: interface / address management through rtnetlink ([`Netlink`]).
//! - [`garp`]: gratuitous ARP and unsolicited neighbour advertisements.
//! - [`vmac`]: `use_vmac` macvlan interfaces.
//! - [`routes`]: virtual/static routes and rules through rtnetlink.
//! - [`firewall`]: the nftables table behind `no_accept`.
//! - [`link`]: small synchronous interface helpers (ifindex by name).
//!
//! The VRRP codec itself lives in `keepalived-vrrp`; this crate only moves bytes.
//! Everything here is Linux-only and most of it needs `CAP_NET_RAW` /
//! `CAP_NET_ADMIN`.

pub mod addr;
pub mod firewall;
pub mod garp;
pub mod link;
pub mod raw;
pub mod routes;
pub mod vmac;

pub use addr::{AddrInfo, LinkEvent, LinkEvents, Netlink, VipSpec};
pub use firewall::NoAccept;
pub use garp::{send_garp, send_unsolicited_na, PacketSocket};
pub use raw::{decode, RawPacket, VrrpSocket, VRRP_MCAST_V4, VRRP_MCAST_V6};
pub use routes::{
    add_route, add_rule, del_route, del_rule, RouteKind, RouteSpec, RuleKind, RuleSpec,
};
pub use vmac::{create_vmac, delete_link, vmac_mac};
