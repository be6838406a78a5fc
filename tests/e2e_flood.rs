//! End-to-end: hostile traffic on the LAN. A third host floods it at
//! 10,000 packets/s for 10 s with adverts for the pair's VRID that each
//! break one receive rule in turn, all at priority 254 (scripts/flood.py).
//! The master keeps its rhythm (no gap between its adverts over the
//! interval plus 10 ms), the backup never takes over, and both count every
//! packet under its reason, logging a few lines, not one a packet.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;

const A: usize = 0;
const B: usize = 1;
const FLOODER: usize = 2;

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn a_flood_of_bad_adverts_moves_nothing_and_is_counted_by_reason() {
    let mut lab = Lab::new("flood", 3);
    lab.start(A, &instance("VI_1", 51, 100, &format!("{VIP}/24"), ""), &[]);
    lab.start(B, &instance("VI_1", 51, 90, &format!("{VIP}/24"), ""), &[]);
    lab.settle(VIP, &[A], mdi_v2(100) + SLACK);
    let before_b = lab.log(B).len();
    let pcap = lab.capture_port(A, "ip proto 112 and src 10.99.0.1");
    std::thread::sleep(Duration::from_millis(500));
    let flood = lab.exec(
        FLOODER,
        &[
            "python3",
            concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/flood.py"),
            "--src",
            &lab.hosts[FLOODER].v4,
            "--vip",
            VIP,
            "--rate",
            "10000",
            "--seconds",
            "10",
        ],
    );
    assert!(flood.status.success(), "{}", String::from_utf8_lossy(&flood.stderr));
    std::thread::sleep(Duration::from_millis(1500));
    lab.stop_captures();
    let report: serde_json::Value = serde_json::from_slice(&flood.stdout).unwrap();
    let sent = report["sent"].as_object().unwrap();
    let total: u64 = sent.values().map(|v| v.as_u64().unwrap()).sum();
    assert!(total >= 99_000, "the flood sent {total} packets: {report}");

    // The master's rhythm.
    let times: Vec<f64> = vrrp_adverts(&pcap).into_iter().map(|a| a.0).collect();
    assert!(
        times.len() >= 10,
        "the master's adverts during the flood: {}",
        times.len()
    );
    let worst = times.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    eprintln!("the flood: {report}; the master's longest gap {worst:.4} s");
    assert!(worst <= 1.010, "the master's longest gap between adverts: {worst:.4} s");

    // Nothing moved.
    assert_eq!(lab.holders(VIP), [A]);
    assert!(
        !lab.log(B)[before_b..].contains("Entering MASTER STATE"),
        "the backup took over:\n{}",
        lab.log(B)
    );

    // Logged a few times, not once a packet (every drop is a debug line
    // otherwise, and the tests log at debug).
    let lines = lab.log(B)[before_b..].lines().count();
    assert!(lines < 20, "the backup logged {lines} lines during the flood");

    // Every packet counted under its reason, on both.
    for host in [A, B] {
        let status = lab.status(host);
        let drops = &status["instances"][0]["adverts"]["drops"];
        eprintln!("host {host}: drops {drops}");
        for (kind, n) in sent {
            assert_eq!(
                drops[kind].as_u64(),
                n.as_u64(),
                "host {host}: {kind} drops counted, of {n} sent; all drops {drops}"
            );
        }
    }
}
