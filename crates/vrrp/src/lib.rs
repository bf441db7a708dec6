//! VRRP v2/v3 protocol core (RFC 3768, RFC 9568): packet codec and sans-IO state machine.
