//! Parsers for keepalived's value syntaxes: addresses with prefixes, ports.

use std::net::IpAddr;

/// `ADDRESS[/PREFIX]`, with the prefix in range for the family.
pub fn parse_prefix(s: &str) -> Result<(IpAddr, Option<u8>), String> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| format!("'{addr}' is not an IP address"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => None,
        Some(p) => match p.parse::<u8>() {
            Ok(v) if v <= max => Some(v),
            _ => {
                return Err(format!(
                    "'/{p}' is not a prefix length for {ip} (0..={max})"
                ))
            }
        },
    };
    Ok((ip, prefix))
}

/// A port number.
pub fn parse_port(s: &str) -> Option<u16> {
    s.parse::<u16>().ok()
}
