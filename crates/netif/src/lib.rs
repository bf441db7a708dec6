//! Network interface adapters for keepalived-rs: the thin I/O layer VRRP needs.
//!
//! - [`raw`]: VRRP raw sockets (IP protocol 112) for IPv4 and IPv6, async on tokio.
//! - [`addr`]: interface / address management through rtnetlink ([`Netlink`]).
//! - [`garp`]: gratuitous ARP and unsolicited neighbour advertisements.
//! - [`vmac`]: `use_vmac` macvlan interfaces.
//! - [`link`]: small synchronous interface helpers (ifindex by name).
//!
//! The VRRP codec itself lives in `keepalived-vrrp`; this crate only moves bytes.
//! Everything here is Linux-only and most of it needs `CAP_NET_RAW` /
//! `CAP_NET_ADMIN`.

pub mod addr;
pub mod garp;
pub mod link;
pub mod raw;
pub mod vmac;

pub use addr::{AddrInfo, LinkEvent, LinkEvents, Netlink, VipSpec};
pub use garp::{send_garp, send_unsolicited_na, PacketSocket};
pub use raw::{decode, RawPacket, VrrpSocket, VRRP_MCAST_V4, VRRP_MCAST_V6};
pub use vmac::{create_vmac, delete_link, vmac_mac};
