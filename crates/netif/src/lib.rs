//! Network interface adapters: VIPs through rtnetlink, VRRP raw sockets, GARP / NA.
