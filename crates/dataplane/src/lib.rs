//! Load-balancer desired-state model, diff, and its IPVS / nftables backends.
