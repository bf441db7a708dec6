//! VRRP v2/v3 protocol core (RFC 3768, RFC 9568): packet codec and sans-IO state machine.
//!
//! - [`packet`]: encode / decode VRRP advertisements (v2 and v3, IPv4 and
//!   IPv6), including the receive-side validity checks (TTL 255, protocol 112,
//!   length, checksum) with one [`packet::DecodeError`] variant per drop reason.
//! - [`fsm`]: the per-instance state machine (INIT / BACKUP / MASTER / FAULT /
//!   STOP), driven by explicit inputs and explicit time.
//! - [`track`]: effective priority and fault from tracked objects.
//! - [`sync`]: sync groups moving several instances together.
//!
//! Nothing in this crate performs I/O.

pub mod fsm;
pub mod packet;
pub mod sync;
pub mod track;

pub use fsm::{
    Action, Counters, GarpConfig, Input, Instance, InstanceConfig, Reason, State, PRIORITY_OWNER,
    PRIORITY_STOP,
};
pub use packet::{
    decode, decode_ip, decode_ipv4, decode_ipv6, encode, encode_with, AdverInt, Auth, DecodeError,
    DecodeOptions, Packet, Received, Version,
};
pub use sync::SyncGroup;
pub use track::{file_weight, FileEffect, ScriptFilter, TrackSet, Tracked};
