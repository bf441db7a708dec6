//! The VRRP decoder on arbitrary IP packets; whatever decodes must re-encode to
//! a packet that decodes to the same value.
#![no_main]

use keepalived_vrrp::packet::{decode_ip, encode_with, DecodeOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for as_v2 in [false, true] {
        let opts = DecodeOptions {
            v3_ipv4_checksum_as_v2: as_v2,
        };
        if let Ok(rx) = decode_ip(data, opts) {
            let bytes = encode_with(&rx.packet, rx.src, rx.dst, opts);
            let again = keepalived_vrrp::packet::decode(&bytes, rx.src, rx.dst, opts)
                .expect("what we encode must decode");
            assert_eq!(again, rx.packet);
        }
    }
});
