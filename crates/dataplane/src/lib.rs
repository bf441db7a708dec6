//! Load-balancer desired-state model, diff, and its IPVS / nftables backends.
//!
//! * [`model`]: the desired pool from the configuration and checker results
//!   (keepalived's semantics: inhibit_on_failure, quorum, hysteresis, sorry
//!   server, virtual_server_group expansion, defaults).
//! * [`diff`]: minimal IPVS-shaped operations between two pools.
//! * [`backend`]: the [`Backend`] trait, the [`Reconciler`] and IPVS detection.
//! * [`nft`]: the nftables backend for kernels without IPVS.

pub mod backend;
pub mod diff;
pub mod ipvs;
pub mod model;
pub mod nft;

pub use backend::{ipvs_available, Backend, Reconciler};
pub use diff::{apply_ops, diff, Op};
pub use model::{
    desired, desired_vs, desired_with, vs_keys, Dest, DestKey, Family, Health, Method, Persistence,
    Pool, Proto, QuorumMemory, Service, ServiceKey,
};
pub use nft::{NftBackend, Stats};

/// Dataplane errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `nft` failed or could not be run (its message).
    #[error("nft: {0}")]
    Nft(String),
    /// A netlink transaction failed.
    #[error("netlink: {0}")]
    Netlink(#[from] std::io::Error),
    /// The operations do not fit the programmed state.
    #[error("inconsistent operations: {0}")]
    Ops(String),
    /// The backend cannot program this service.
    #[error("unsupported: {0}")]
    Unsupported(String),
}
