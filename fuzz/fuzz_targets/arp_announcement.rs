//! The ARP watch of refuse_on_fault on arbitrary packets: never panics; an
//! announcement it reports is of a watched address, from another host.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::net::Ipv4Addr;

fuzz_target!(|data: &[u8]| {
    let own = [2, 0, 0, 0, 0, 1];
    let vips = [Ipv4Addr::new(10, 0, 0, 100)];
    if let Some(a) = rkeepalived::net::arpwatch::announced(data, own, &vips) {
        assert!(vips.contains(&a));
        assert!(data.get(8..14) != Some(&own[..]));
    }
});
