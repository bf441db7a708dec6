//! After start-up the daemon keeps only the capabilities it needs: a director
//! runs for months and parses packets from the LAN, so a bug should not be
//! worth full root.
//!
//! Kept: CAP_NET_ADMIN (addresses, routes, nftables, IPVS, conntrack),
//! CAP_NET_RAW (VRRP and packet sockets, ICMP checks, SO_BINDTODEVICE),
//! CAP_NET_BIND_SERVICE (metrics or checker source ports below 1024),
//! CAP_SYS_NICE (vrrp_priority, SCHED_RR on reload), CAP_SETUID/CAP_SETGID (scripts
//! as script_user), CAP_KILL (ending their overrunning children). Scripts that
//! run as root may need anything, so with one of those nothing is dropped.
//!
//! Capabilities are per thread in Linux: this runs before the runtime starts
//! any thread, and every later thread inherits the reduced sets.

use caps::{CapSet, Capability, CapsHashSet};

/// What the daemon keeps.
pub fn kept() -> CapsHashSet {
    [
        Capability::CAP_NET_ADMIN,
        Capability::CAP_NET_RAW,
        Capability::CAP_NET_BIND_SERVICE,
        Capability::CAP_SYS_NICE,
        Capability::CAP_SETUID,
        Capability::CAP_SETGID,
        Capability::CAP_KILL,
    ]
    .into_iter()
    .collect()
}

/// Drops every capability but [`kept`] from the bounding, inheritable,
/// ambient, permitted and effective sets of this (the only) thread, unless
/// scripts run as root. Not running as root: nothing to do.
pub fn restrict(root_scripts: bool) {
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    if root_scripts {
        tracing::info!("scripts run as root: all capabilities kept");
        return;
    }
    let keep = kept();
    match drop_all_but(&keep) {
        Ok(()) => {
            let mut names: Vec<String> = keep.iter().map(|c| c.to_string()).collect();
            names.sort();
            tracing::info!("capabilities reduced to {}", names.join(" "));
        }
        Err(e) => tracing::warn!("cannot drop capabilities: {e}; running with those we have"),
    }
}

fn drop_all_but(keep: &CapsHashSet) -> Result<(), caps::errors::CapsError> {
    // The bounding set first: dropping from it needs CAP_SETPCAP, which the
    // effective set is about to lose. Without it, a root child regains all.
    for c in caps::all() {
        if !keep.contains(&c) && caps::has_cap(None, CapSet::Bounding, c).unwrap_or(false) {
            caps::drop(None, CapSet::Bounding, c)?;
        }
    }
    caps::clear(None, CapSet::Ambient)?;
    caps::clear(None, CapSet::Inheritable)?;
    let have = caps::read(None, CapSet::Permitted)?;
    let keep: CapsHashSet = keep.intersection(&have).copied().collect();
    // Effective must stay a subset of permitted at every step.
    caps::set(None, CapSet::Effective, &keep)?;
    caps::set(None, CapSet::Permitted, &keep)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_set_is_the_documented_one() {
        let k = kept();
        assert!(k.contains(&Capability::CAP_NET_ADMIN));
        assert!(k.contains(&Capability::CAP_NET_RAW));
        assert!(!k.contains(&Capability::CAP_SYS_ADMIN));
        assert!(!k.contains(&Capability::CAP_DAC_OVERRIDE));
        assert_eq!(k.len(), 7);
    }
}
