//! VRRP v2/v3 protocol core (RFC 3768, RFC 9568): packet codec and sans-IO state machine.
//!
//! - [`packet`]: encode / decode VRRP advertisements (v2 and v3, IPv4 and
//!   IPv6), including the receive-side validity checks (TTL 255, protocol 112,
//!   length, checksum) with one [`packet::DecodeError`] variant per drop reason.
//!
//! Nothing in this crate performs I/O.

pub mod packet;

pub use packet::{
    decode, decode_ip, decode_ipv4, decode_ipv6, encode, encode_with, AdverInt, Auth, DecodeError,
    DecodeOptions, Packet, Received, Version,
};
