//! Small synchronous interface helpers (no netlink needed).

use std::ffi::{CStr, CString};
use std::io;

/// Interface index of `name` (`if_nametoindex(3)`); `NotFound` if there is none.
pub fn ifindex(name: &str) -> io::Result<u32> {
    let c = CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in interface name"))?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::ENODEV) || err.raw_os_error() == Some(0) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no such interface: {name}"),
            ));
        }
        return Err(err);
    }
    Ok(idx)
}

/// Interface name of `index` (`if_indextoname(3)`).
pub fn ifname(index: u32) -> io::Result<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` has IF_NAMESIZE bytes as if_indextoname requires.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success if_indextoname wrote a NUL-terminated string into `buf`.
    let s = unsafe { CStr::from_ptr(buf.as_ptr()) };
    Ok(s.to_string_lossy().into_owned())
}
