//! Interoperation with Debian's keepalived 2.2.7 on the same LAN: election,
//! graceful hand-over, takeover after a crash and preemption, with
//! rkeepalived in either role, VRRPv2 (with PASS authentication) and VRRPv3
//! (IPv4 pseudo-header checksum, and IPv6).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Who {
    Rk,
    Ka,
}

fn config(version: u8, prio: u8) -> String {
    let body = instance(
        "VI_1",
        51,
        prio,
        &format!("{VIP}/24"),
        if version == 2 {
            "    authentication {\n        auth_type PASS\n        auth_pass s3cret\n    }"
        } else {
            ""
        },
    );
    if version == 3 {
        format!("global_defs {{\n    vrrp_version 3\n}}\n{body}")
    } else {
        body
    }
}

fn start(lab: &mut Lab, i: usize, who: Who, cfg: &str) {
    match who {
        Who::Rk => lab.start(i, cfg, &[]),
        Who::Ka => lab.start_keepalived(i, cfg),
    }
}

/// Host 0 (priority 100) and host 1 (priority 90) run `a` and `b`.
fn scenario(test: &str, version: u8, a: Who, b: Who) {
    assert!(
        which("keepalived"),
        "keepalived is not installed (the full test command installs it)"
    );
    let mut lab = Lab::new(test, 2);
    start(&mut lab, 0, a, &config(version, 100));
    start(&mut lab, 1, b, &config(version, 90));
    // Election: the higher priority wins, whoever runs what.
    lab.settle(VIP, &[0], mdi_v2(100) + SLACK);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(lab.holders(VIP), [0], "stable election");
    // Graceful stop: priority 0, the other takes over after its skew time.
    lab.stop(0);
    lab.settle(VIP, &[1], skew_v2(90) + SLACK);
    // The first restarts and preempts; the other yields to its advert.
    start(&mut lab, 0, a, &config(version, 100));
    lab.settle(VIP, &[0], mdi_v2(100) + SLACK + SLACK);
    // A crash: no goodbye; the other takes over after Master_Down_Interval.
    lab.crash(0);
    wait_for(mdi_v2(90) + SLACK, || lab.has_addr(1, VIP)).expect("takeover after a crash");
}

#[test]
#[ignore = "needs root, network namespaces and keepalived; run by the full test command"]
fn v2_rkeepalived_master_keepalived_backup() {
    scenario("iov2rk", 2, Who::Rk, Who::Ka);
}

#[test]
#[ignore = "needs root, network namespaces and keepalived; run by the full test command"]
fn v2_keepalived_master_rkeepalived_backup() {
    scenario("iov2ka", 2, Who::Ka, Who::Rk);
}

#[test]
#[ignore = "needs root, network namespaces and keepalived; run by the full test command"]
fn v3_rkeepalived_master_keepalived_backup() {
    scenario("iov3rk", 3, Who::Rk, Who::Ka);
}

#[test]
#[ignore = "needs root, network namespaces and keepalived; run by the full test command"]
fn v3_keepalived_master_rkeepalived_backup() {
    scenario("iov3ka", 3, Who::Ka, Who::Rk);
}

#[test]
#[ignore = "needs root, network namespaces and keepalived; run by the full test command"]
fn v3_ipv6_both_ways() {
    assert!(which("keepalived"));
    let cfg = |prio: u8| {
        "vrrp_instance VI_6 {\n    interface eth0\n    virtual_router_id 61\n    priority PRIO\n    advert_int 1\n    virtual_ipaddress {\n        fe80::61/64\n        fd00:99::100/64\n    }\n}\n"
            .replace("PRIO", &prio.to_string())
    };
    let vip = "fd00:99::100";
    for (a, b) in [(Who::Rk, Who::Ka), (Who::Ka, Who::Rk)] {
        let mut lab = Lab::new("io6", 2);
        std::thread::sleep(Duration::from_secs(2));
        start(&mut lab, 0, a, &cfg(100));
        start(&mut lab, 1, b, &cfg(90));
        wait_for(mdi_v2(100) + SLACK + SLACK, || lab.holders(vip) == [0])
            .unwrap_or_else(|| panic!("{}\n{}", lab.log(0), lab.log(1)));
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(lab.holders(vip), [0]);
        lab.stop(0);
        wait_for(Duration::from_secs(3), || lab.holders(vip) == [1]).expect("IPv6 hand-over");
    }
}
