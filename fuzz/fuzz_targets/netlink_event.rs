//! The netlink monitor's decoding of kernel messages, on arbitrary bytes:
//! never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = rkeepalived::net::netlink::event_from_bytes(data);
});
