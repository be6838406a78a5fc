#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test
//! Adverts captured from real keepalived 2.2.7 (tests/fixtures/
//! capture-keepalived.sh) decode to the configured values, verify in
//! keepalived's checksum form, and re-encode byte for byte.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use rkeepalived::vrrp::packet::{Advert, AdvertPacket, AuthType, ChecksumMode, Family, Version};

struct Fixture {
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    payload: Vec<u8>,
}

fn load(name: &str) -> Fixture {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keepalived-2.2.7")
        .join(format!("{name}.txt"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let field = |k: &str| -> String {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k} ")))
            .unwrap_or_else(|| panic!("{name}: no {k}"))
            .to_string()
    };
    let hex = field("payload");
    let payload = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0))
        .collect();
    Fixture {
        src: field("src").parse().unwrap_or_else(|_| panic!("src")),
        dst: field("dst").parse().unwrap_or_else(|_| panic!("dst")),
        ttl: field("ttl").parse().unwrap_or(0),
        payload,
    }
}

fn round_trip(name: &str, family: Family) -> Advert {
    let f = load(name);
    assert_eq!(f.ttl, 255, "keepalived sends TTL/hop limit 255");
    let p = AdvertPacket::new_checked(&f.payload, family).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(
        p.checksum_ok(f.src, f.dst, ChecksumMode::PseudoHeader),
        "{name}: checksum in keepalived's default form"
    );
    let a = Advert::parse(&p);
    let mut buf = vec![0u8; 1500];
    let n = a
        .emit(&mut buf, f.src, f.dst, ChecksumMode::PseudoHeader)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(&buf[..n], &f.payload[..], "{name}: re-encoded bytes differ");
    a
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or_else(|_| panic!("{s}"))
}

#[test]
fn v2_with_pass_auth() {
    let a = round_trip("v2", Family::V4);
    assert_eq!(
        (a.version, a.vrid, a.priority, a.interval),
        (Version::V2, 51, 100, Duration::from_secs(1))
    );
    assert_eq!((a.auth_type, &a.auth_data), (AuthType::Pass, b"1111\0\0\0\0"));
    assert_eq!(a.addresses, [ip("192.0.2.100"), ip("192.0.2.101")]);
    assert_eq!(round_trip("v2-prio0", Family::V4).priority, 0);
}

#[test]
fn v3_ipv4_uses_the_ipv4_pseudo_header() {
    let a = round_trip("v3-ipv4", Family::V4);
    assert_eq!(
        (a.version, a.vrid, a.priority, a.interval),
        (Version::V3, 52, 150, Duration::from_millis(500))
    );
    assert_eq!(a.addresses, [ip("192.0.2.102")]);
    // keepalived 2.2.7 has no v3_checksum_as_v2: the message-only form fails.
    let f = load("v3-ipv4");
    let p = AdvertPacket::new_checked(&f.payload, Family::V4).unwrap_or_else(|e| panic!("{e}"));
    assert!(!p.checksum_ok(f.src, f.dst, ChecksumMode::MessageOnly));
    assert_eq!(round_trip("v3-ipv4-prio0", Family::V4).priority, 0);
}

#[test]
fn v3_ipv6() {
    let a = round_trip("v3-ipv6", Family::V6);
    assert_eq!(
        (a.version, a.vrid, a.priority, a.interval),
        (Version::V3, 53, 200, Duration::from_secs(1))
    );
    assert_eq!(a.addresses, [ip("fe80::53"), ip("2001:db8::53")]);
    assert_eq!(round_trip("v3-ipv6-prio0", Family::V6).priority, 0);
}
