//! The VRRP decoder on arbitrary IPv6 payloads: never panics; a decoded
//! packet re-encodes to a message no longer than the input.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rkeepalived::vrrp::packet::{Advert, AdvertPacket, ChecksumMode, Family};

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = AdvertPacket::new_checked(data, Family::V6) {
        let src = "fe80::1".parse().unwrap();
        let dst = "ff02::12".parse().unwrap();
        let _ = p.checksum_ok(src, dst, ChecksumMode::PseudoHeader);
        let a = Advert::parse(&p);
        let mut buf = vec![0u8; 2048];
        if let Ok(n) = a.emit(&mut buf, src, dst, ChecksumMode::PseudoHeader) {
            assert!(n <= p.message().len());
        }
    }
});
