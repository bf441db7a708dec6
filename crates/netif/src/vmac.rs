//! `use_vmac`: a macvlan interface carrying the VRRP virtual MAC.

use std::io;

use rtnetlink::packet_route::link::MacVlanMode;
use rtnetlink::{LinkMacVlan, LinkUnspec};

use crate::addr::Netlink;

/// The VRRP virtual router MAC: 00:00:5e:00:01:VRID for IPv4,
/// 00:00:5e:00:02:VRID for IPv6 (RFC 9568 §7.3).
pub fn vmac_mac(vrid: u8, ipv6: bool) -> [u8; 6] {
    [0x00, 0x00, 0x5e, 0x00, if ipv6 { 0x02 } else { 0x01 }, vrid]
}

fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| c.get().abs()),
        _ => None,
    }
}

fn to_io(e: rtnetlink::Error) -> io::Error {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.to_io(),
        other => io::Error::other(other.to_string()),
    }
}

/// Create macvlan `name` on `parent` in private mode with the VRRP virtual
/// MAC for `vrid` / family, bring it up, and return its ifindex. If `name`
/// already exists it is reused (its MAC is (re)set and it is brought up).
pub async fn create_vmac(
    nl: &Netlink,
    parent: &str,
    name: &str,
    vrid: u8,
    ipv6: bool,
) -> io::Result<u32> {
    let parent_idx = nl.ifindex(parent).await?;
    let mac = vmac_mac(vrid, ipv6);
    let msg = LinkMacVlan::new(name, parent_idx, MacVlanMode::Private)
        .address(mac.to_vec())
        .build();
    let created = match nl.handle().link().add(msg).execute().await {
        Ok(()) => true,
        Err(e) if errno(&e) == Some(libc::EEXIST) => false,
        Err(e) => return Err(to_io(e)),
    };
    let idx = nl.ifindex(name).await?;
    let mut set = LinkUnspec::new_with_index(idx).up();
    if !created {
        set = set.address(mac.to_vec());
    }
    nl.handle()
        .link()
        .set(set.build())
        .execute()
        .await
        .map_err(to_io)?;
    Ok(idx)
}

/// Delete interface `name`; a missing interface is not an error.
pub async fn delete_link(nl: &Netlink, name: &str) -> io::Result<()> {
    let idx = match nl.ifindex(name).await {
        Ok(i) => i,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    match nl.handle().link().del(idx).execute().await {
        Ok(()) => Ok(()),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(()),
        Err(e) => Err(to_io(e)),
    }
}
