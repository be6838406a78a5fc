//! End-to-end: rkeepalived daemons in network namespaces on a bridge.
//! Assertions are on what a user checks (who holds the VIP, what is on the
//! wire, the dumps), in order, with time bounds from the RFC formulas plus
//! generous slack; exact timing figures belong to the benchmarks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;

/// VI_1 at priority 100 on host 0 and at 90 on host 1, both started.
fn pair(test: &str, a_extra: &str, b_extra: &str) -> Lab {
    let a = instance("VI_1", 51, 100, &format!("{VIP}/24"), a_extra);
    Lab::started(test, &[&a, &instance("VI_1", 51, 90, &format!("{VIP}/24"), b_extra)])
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn election_higher_priority_wins() {
    let lab = pair("elect", "", "");
    let t = lab.settle(VIP, &[0], mdi_v2(100) + SLACK);
    assert!(t + Duration::from_millis(300) >= mdi_v2(100), "too early: {t:?}");
    // Stable: B never takes it.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(lab.holders(VIP), [0]);
    let j = lab.json(1);
    assert_eq!(j[0]["data"]["state"], 1, "B is BACKUP");
    assert_eq!(j[0]["data"]["master_priority"], 100);
    assert!(j[0]["stats"]["advert_rcvd"].as_u64().unwrap_or(0) >= 2);
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn graceful_stop_hands_over_after_skew_time() {
    let mut lab = pair("gstop", "", "");
    lab.settle(VIP, &[0], mdi_v2(100) + SLACK);
    let cap = lab.capture("vrrp");
    let t0 = Instant::now();
    let status = lab.stop(0);
    assert_eq!(status.and_then(|s| s.code()), Some(0), "exit 0 on SIGTERM");
    let t = lab.settle(VIP, &[1], skew_v2(90) + SLACK);
    assert!(t0.elapsed() < Duration::from_secs(3), "took {t:?}");
    lab.stop_captures();
    let adverts = vrrp_adverts(&cap);
    assert!(
        adverts.iter().any(|a| a.4 == 0 && a.1.to_string() == "10.99.0.1"),
        "priority 0 on the wire"
    );
    assert!(!lab.has_addr(0, VIP), "VIP removed on stop");
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn preemption_by_the_higher_priority_node() {
    let mut lab = Lab::new("preempt", 2);
    lab.start(1, &instance("VI_1", 51, 90, &format!("{VIP}/24"), ""), &[]);
    lab.settle(VIP, &[1], mdi_v2(90) + SLACK);
    let t0 = Instant::now();
    lab.start(0, &instance("VI_1", 51, 100, &format!("{VIP}/24"), ""), &[]);
    lab.settle(VIP, &[0], mdi_v2(100) + SLACK);
    let took = t0.elapsed();
    assert!(
        took + Duration::from_millis(300) >= mdi_v2(100),
        "preempted after {took:?}"
    );
    assert!(lab
        .log(1)
        .contains("Master received advert from 10.99.0.1 with higher priority 100, ours 90"));
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn nopreempt_keeps_the_live_master() {
    let mut lab = Lab::new("nopreempt", 2);
    lab.start(1, &instance("VI_1", 51, 90, &format!("{VIP}/24"), ""), &[]);
    lab.settle(VIP, &[1], mdi_v2(90) + SLACK);
    lab.start(
        0,
        &instance("VI_1", 51, 100, &format!("{VIP}/24"), "    state BACKUP\n    nopreempt"),
        &[],
    );
    std::thread::sleep(mdi_v2(100) * 2);
    assert_eq!(lab.holders(VIP), [1], "nopreempt must not take over a live master");
    lab.stop(1);
    lab.settle(VIP, &[0], skew_v2(100) + SLACK);
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn preempt_delay_delays_takeover() {
    let mut lab = Lab::new("pdelay", 2);
    lab.start(1, &instance("VI_1", 51, 90, &format!("{VIP}/24"), ""), &[]);
    lab.settle(VIP, &[1], mdi_v2(90) + SLACK);
    let t0 = Instant::now();
    lab.start(
        0,
        &instance("VI_1", 51, 100, &format!("{VIP}/24"), "    preempt_delay 3"),
        &[],
    );
    lab.settle(VIP, &[0], Duration::from_secs(3) + mdi_v2(100) + Duration::from_secs(3));
    let took = t0.elapsed();
    // keepalived: about preempt_delay + Master_Down_Interval, ± one interval.
    assert!(
        took >= Duration::from_secs(3) + mdi_v2(100) - Duration::from_millis(1200),
        "took {took:?}"
    );
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn priority_255_owner_is_master_at_once() {
    let mut lab = Lab::new("owner", 2);
    lab.start(1, &instance("VI_1", 51, 100, &format!("{VIP}/24"), ""), &[]);
    lab.settle(VIP, &[1], mdi_v2(100) + SLACK);
    let t0 = Instant::now();
    lab.start(0, &instance("VI_1", 51, 255, &format!("{VIP}/24"), ""), &[]);
    lab.settle(VIP, &[0], Duration::from_secs(2));
    assert!(t0.elapsed() < Duration::from_secs(2));
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn partition_and_heal() {
    let lab = pair("partition", "", "");
    lab.settle(VIP, &[0], mdi_v2(100) + SLACK);
    lab.cut(0);
    // The cut-off backup takes over after Master_Down_Interval; A, still
    // up, stays master on its side.
    lab.settle(VIP, &[0, 1], mdi_v2(90) + SLACK);
    lab.heal(0);
    // After the heal the higher priority keeps it; B yields on A's advert.
    lab.settle(VIP, &[0], Duration::from_secs(1) + SLACK);
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn link_down_is_fault_and_recovers() {
    let lab = pair("linkdown", "", "");
    lab.settle(VIP, &[0], mdi_v2(100) + SLACK);
    lab.link(0, false);
    lab.settle(VIP, &[1], mdi_v2(90) + SLACK);
    assert!(lab.log(0).contains("(VI_1) Entering FAULT STATE"), "{}", lab.log(0));
    let j = lab.json(0);
    assert_eq!(j[0]["data"]["state"], 3, "FAULT");
    lab.link(0, true);
    // Back to BACKUP, then preempts after its Master_Down_Interval.
    lab.settle(VIP, &[0], mdi_v2(100) + SLACK + SLACK);
    let log = lab.log(0);
    let fault = log.find("Entering FAULT STATE").unwrap_or(0);
    assert!(
        log[fault..].contains("Entering BACKUP STATE"),
        "FAULT → BACKUP → MASTER"
    );
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn sigkill_leaves_a_stale_vip_that_the_next_start_removes() {
    let mut lab = pair("stale", "", "");
    lab.settle(VIP, &[0], mdi_v2(100) + SLACK);
    lab.kill(0);
    lab.settle(VIP, &[0, 1], mdi_v2(90) + SLACK);
    // Restart A: it removes its leftover VIP at once, before it preempts.
    let t0 = Instant::now();
    lab.start(0, &instance("VI_1", 51, 100, &format!("{VIP}/24"), ""), &[]);
    let (t, _) = wait_for(Duration::from_secs(2), || !lab.has_addr(0, VIP)).expect("stale VIP removed");
    assert!(t < Duration::from_secs(2));
    assert!(t0.elapsed() < mdi_v2(100), "removed before preemption");
    lab.settle(VIP, &[0], mdi_v2(100) + SLACK);
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn reload_without_changes_keeps_state_and_with_changes_applies() {
    let lab = pair("reload", "    notify /bin/true", "");
    lab.settle(VIP, &[0], mdi_v2(100) + SLACK);
    let before = lab.log(0);
    lab.signal(0, Signal::SIGHUP);
    wait_for(Duration::from_secs(5), || lab.log(0).contains("Reload finished")).expect("reloaded");
    std::thread::sleep(Duration::from_secs(2));
    let after = lab.log(0);
    let new_part = &after[before.len()..];
    assert!(
        !new_part.contains("Entering"),
        "no state change on an unchanged reload:\n{new_part}"
    );
    assert!(!new_part.contains("sent 0 priority"));
    assert_eq!(lab.holders(VIP), [0]);
    // Changed: a second VIP appears on the master; B's higher priority preempts.
    lab.write_config(
        0,
        &instance(
            "VI_1",
            51,
            100,
            &format!("{VIP}/24\n        10.99.0.101/24"),
            "    notify /bin/true",
        ),
    );
    lab.signal(0, Signal::SIGHUP);
    wait_for(Duration::from_secs(5), || lab.has_addr(0, "10.99.0.101")).expect("new VIP added by reload");
    lab.write_config(
        1,
        &instance("VI_1", 51, 110, &format!("{VIP}/24\n        10.99.0.101/24"), ""),
    );
    lab.signal(1, Signal::SIGHUP);
    lab.settle(VIP, &[1], mdi_v2(110) + SLACK + SLACK);
    let vips = format!("{VIP}/24\n        10.99.0.101/24");
    // A file keepalived's daemon refuses (a keyword without its parameter,
    // `-t` exit 2) is reported and the running configuration kept.
    lab.write_config(1, &instance("VI_1", 51, 110, &vips, "    priority"));
    lab.signal(1, Signal::SIGHUP);
    wait_for(Duration::from_secs(5), || {
        lab.log(1).contains("cannot be run; keeping the running configuration")
    })
    .expect("unrunnable reload refused");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(lab.holders(VIP), [1]);
    // A file `-t` fails with 5 (an unknown keyword) runs, as keepalived
    // runs it: B's priority drops to 90 and A preempts.
    let exit_5 = |prio| {
        format!(
            "global_defs {{\n    reload_check_config\n}}\n{}",
            instance("VI_1", 51, prio, &vips, "    bogus_keyword 1")
        )
    };
    lab.write_config(1, &exit_5(90));
    lab.signal(1, Signal::SIGHUP);
    lab.settle(VIP, &[0], mdi_v2(100) + SLACK + SLACK);
    // With reload_check_config now running, the same kind of file is refused.
    lab.write_config(1, &exit_5(120));
    lab.signal(1, Signal::SIGHUP);
    wait_for(Duration::from_secs(5), || {
        lab.log(1).contains("reload_check_config); keeping")
    })
    .expect("reload_check_config refuses a file -t fails");
    std::thread::sleep(mdi_v2(120) + SLACK);
    assert_eq!(lab.holders(VIP), [0], "B kept priority 90");
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn unicast_peers() {
    let mut lab = Lab::new("unicast", 2);
    let cfg = |prio: u8, me: &str, peer: &str| {
        instance(
            "VI_1",
            51,
            prio,
            &format!("{VIP}/24"),
            &format!("    unicast_src_ip {me}\n    unicast_peer {{\n        {peer}\n    }}"),
        )
    };
    let cap = lab.capture_port(1, "vrrp");
    lab.start(0, &cfg(100, "10.99.0.1", "10.99.0.2"), &[]);
    lab.start(1, &cfg(90, "10.99.0.2", "10.99.0.1"), &[]);
    lab.settle(VIP, &[0], mdi_v2(100) + SLACK);
    lab.stop_captures();
    let frames = read_pcap(&cap);
    // Adverts go to the peer's address, not the multicast group.
    assert!(frames
        .iter()
        .any(|(_, f)| f.len() > 34 && f[14 + 9] == 112 && f[30..34] == [10, 99, 0, 2]));
    assert!(!frames
        .iter()
        .any(|(_, f)| f.len() > 34 && f[14 + 9] == 112 && f[30..34] == [224, 0, 0, 18]));
    lab.kill(0);
    lab.settle(VIP, &[0, 1], mdi_v2(90) + SLACK);
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn vrrpv3_at_100ms_fails_over_fast() {
    let mut lab = Lab::new("v3fast", 2);
    let cfg = |prio: u8| {
        format!(
            "global_defs {{\n    vrrp_version 3\n}}\n{}",
            instance("VI_1", 51, prio, &format!("{VIP}/24"), "").replace("advert_int 1", "advert_int 0.1")
        )
    };
    lab.start(0, &cfg(200), &[]);
    lab.start(1, &cfg(100), &[]);
    lab.settle(VIP, &[0], Duration::from_secs(3));
    let t0 = Instant::now();
    lab.kill(0);
    // Master_Down_Interval = 3 × 0.1 + 0.1 × 156/256 ≈ 0.361 s.
    wait_for(Duration::from_secs(2), || lab.has_addr(1, VIP)).expect("B takes over");
    let took = t0.elapsed();
    assert!(took < Duration::from_millis(361) + SLACK, "took {took:?}");
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn ipv6_instances() {
    let mut lab = Lab::new("ipv6", 2);
    let cfg = |prio: u8| {
        "vrrp_instance VI_6 {\n    interface eth0\n    virtual_router_id 61\n    priority PRIO\n    advert_int 1\n    virtual_ipaddress {\n        fe80::61/64\n        fd00:99::100/64\n    }\n}\n"
            .replace("PRIO", &prio.to_string())
    };
    // Let the link-local addresses leave DAD.
    std::thread::sleep(Duration::from_secs(2));
    lab.start(0, &cfg(100), &[]);
    lab.start(1, &cfg(90), &[]);
    let vip = "fd00:99::100";
    wait_for(mdi_v2(100) + SLACK + SLACK, || lab.holders(vip) == [0])
        .unwrap_or_else(|| panic!("{}\n{}", lab.log(0), lab.log(1)));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(lab.holders(vip), [0]);
    let j = lab.json(1);
    assert_eq!(j[0]["data"]["version"], 3);
    assert_eq!(j[0]["data"]["state"], 1);
    lab.stop(0);
    wait_for(Duration::from_secs(3), || lab.holders(vip) == [1]).expect("IPv6 takeover");
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn use_vmac_creates_and_removes_the_virtual_mac_interface() {
    let mut lab = Lab::new("vmac", 2);
    let cap = lab.capture("vrrp or arp");
    lab.start(0, &instance("VI_1", 51, 100, &format!("{VIP}/24"), "    use_vmac"), &[]);
    lab.start(1, &instance("VI_1", 51, 90, &format!("{VIP}/24"), "    use_vmac"), &[]);
    lab.settle(VIP, &[0], mdi_v2(100) + SLACK);
    let links = String::from_utf8_lossy(&run("ip", &["-n", lab.ns(0), "link", "show", "vrrp.51"]).stdout).to_string();
    assert!(
        links.contains("00:00:5e:00:01:33"),
        "VMAC with the RFC virtual MAC: {links}"
    );
    let addr = String::from_utf8_lossy(&run("ip", &["-n", lab.ns(0), "addr", "show", "vrrp.51"]).stdout).to_string();
    assert!(addr.contains(VIP), "VIP on the VMAC: {addr}");
    lab.stop_captures();
    let frames = read_pcap(&cap);
    // Adverts and gratuitous ARPs leave from the virtual MAC.
    assert!(frames
        .iter()
        .any(|(_, f)| f[6..12] == [0, 0, 0x5e, 0, 1, 51] && f[12..14] == [8, 0]));
    assert!(frames
        .iter()
        .any(|(_, f)| f[6..12] == [0, 0, 0x5e, 0, 1, 51] && f[12..14] == [8, 6]));
    lab.stop(0);
    let gone = !String::from_utf8_lossy(&run("ip", &["-n", lab.ns(0), "link"]).stdout).contains("vrrp.51");
    assert!(gone, "VMAC removed on stop");
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn pass_auth_mismatch_is_ignored_and_counted() {
    let auth = |p: &str| format!("    authentication {{\n        auth_type PASS\n        auth_pass {p}\n    }}");
    let lab = pair("authmm", &auth("right"), &auth("wrong"));
    // Each ignores the other: both become master.
    lab.settle(VIP, &[0, 1], mdi_v2(90) + SLACK + SLACK);
    let j = lab.json(1);
    assert!(j[0]["stats"]["auth_failure"].as_u64().unwrap_or(0) >= 1, "{j}");
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn a_ttl_64_advert_is_ignored_and_counted() {
    let mut lab = Lab::new("ttl", 2);
    lab.start(1, &instance("VI_1", 51, 90, &format!("{VIP}/24"), ""), &[]);
    std::thread::sleep(Duration::from_millis(500));
    // Host 0 sends a valid higher-priority advert with TTL 64, every 0.5 s.
    let advert = {
        let p =
            rkeepalived::vrrp::Params::new("X", 51, 200, rkeepalived::vrrp::Version::V2, vec![VIP.parse().unwrap()]);
        let inst = rkeepalived::vrrp::Instance::new(p);
        let mut buf = vec![0u8; 64];
        let n = inst
            .advert(200)
            .emit(
                &mut buf,
                "10.99.0.1".parse().unwrap(),
                "224.0.0.18".parse().unwrap(),
                rkeepalived::vrrp::ChecksumMode::PseudoHeader,
            )
            .unwrap();
        buf.truncate(n);
        buf.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let py = format!(
        "import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_RAW,112)\ns.setsockopt(socket.SOL_SOCKET,25,b'eth0')\ns.setsockopt(socket.IPPROTO_IP,socket.IP_MULTICAST_TTL,64)\nfor _ in range(12):\n    s.sendto(bytes.fromhex('{advert}'),('224.0.0.18',0))\n    time.sleep(0.5)\n"
    );
    let o = lab.exec(0, &["python3", "-c", &py]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // B was not fooled: it became master as if alone, and counted the errors.
    assert_eq!(lab.holders(VIP), [1]);
    let j = lab.json(1);
    assert!(j[0]["stats"]["ip_ttl_err"].as_u64().unwrap_or(0) >= 10, "{j}");
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn pid_files_and_signals() {
    let mut lab = Lab::new("pidfile", 1);
    lab.start(0, &instance("VI_1", 51, 100, &format!("{VIP}/24"), ""), &[]);
    let pid = std::fs::read_to_string(lab.dir(0).join("keepalived.pid")).unwrap();
    let vpid = std::fs::read_to_string(lab.dir(0).join("vrrp.pid")).unwrap();
    assert_eq!(pid, vpid, "one process: the VRRP pid file holds the same pid");
    // A second daemon with the same pid files refuses to start.
    let cfg = lab.dir(0).join("keepalived.conf");
    let o = lab.exec(
        0,
        &[
            BIN,
            "-n",
            "-f",
            cfg.to_str().unwrap(),
            "-p",
            lab.dir(0).join("keepalived.pid").to_str().unwrap(),
            "-r",
            lab.dir(0).join("vrrp.pid").to_str().unwrap(),
        ],
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("already running"));
    // USR1 and USR2 write the data and stats files in TMPDIR, mode 0600.
    lab.signal(0, Signal::SIGUSR1);
    lab.signal(0, Signal::SIGUSR2);
    wait_for(Duration::from_secs(5), || {
        lab.dir(0).join("keepalived.data").exists() && lab.dir(0).join("keepalived.stats").exists()
    })
    .expect("dumps written");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(lab.dir(0).join("keepalived.stats"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    assert!(std::fs::read_to_string(lab.dir(0).join("keepalived.stats"))
        .unwrap()
        .starts_with("VRRP Instance: VI_1\n"));
    lab.stop(0);
    assert!(!lab.dir(0).join("keepalived.pid").exists(), "pid file removed on stop");
}

/// A gratuitous-ARP burst belongs to its instance: a master that steps
/// down in the middle of a slow burst (vrrp_garp_interval) announces its
/// VIP no more.
#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn a_garp_burst_stops_when_the_master_steps_down() {
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("fault");
    let defs = format!(
        "global_defs {{\n    vrrp_garp_interval 0.3\n    vrrp_garp_master_repeat 20\n}}\ntrack_file down {{\n    file {}\n}}\n",
        flag.display()
    );
    let mut lab = Lab::new("garpstop", 2);
    let pcap = lab.capture_port(0, "arp");
    lab.start(
        0,
        &format!(
            "{defs}{}",
            instance(
                "VI_1",
                51,
                100,
                &format!("{VIP}/24"),
                "    track_file {\n        down weight 0\n    }"
            )
        ),
        &[],
    );
    lab.start(1, &instance("VI_1", 51, 90, &format!("{VIP}/24"), ""), &[]);
    lab.settle(VIP, &[0], mdi_v2(100) + SLACK);
    // One second into a six-second burst, A goes FAULT.
    std::thread::sleep(Duration::from_secs(1));
    std::fs::write(&flag, "1\n").unwrap();
    wait_for(SLACK, || !lab.has_addr(0, VIP)).expect("A released the VIP");
    let released = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    std::thread::sleep(Duration::from_secs(3));
    lab.stop_captures();
    let mac = String::from_utf8_lossy(&lab.exec(0, &["cat", "/sys/class/net/eth0/address"]).stdout)
        .trim()
        .to_string();
    let vip: std::net::Ipv4Addr = VIP.parse().unwrap();
    let garps: Vec<f64> = read_pcap(&pcap)
        .into_iter()
        .filter(|(_, f)| {
            f.len() >= 42 && f[12..14] == [0x08, 0x06] && f[28..32] == vip.octets() && f[38..42] == vip.octets()
        })
        .filter(|(_, f)| {
            f[6..12]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":")
                == mac
        })
        .map(|(t, _)| t)
        .collect();
    assert!(garps.len() >= 3, "the burst had begun: {garps:?}");
    let late: Vec<_> = garps.iter().filter(|t| **t > released).collect();
    assert!(
        late.is_empty(),
        "gratuitous ARPs for a released VIP: {late:?} after {released}"
    );
}

/// Many instances on one interface: the adverts that fall due together
/// leave together, from send sockets shared by every instance with the
/// same interface, source and TTL, and none is lost on the way: each of 40
/// IPv4 instances at 50 ms, two IPv6 ones and one unicast one keeps its
/// rate on the wire, with TTL / hop limit 255, the unicast one to its peer
/// only; the daemon holds a handful of sockets, not one per instance.
#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn many_instances_share_send_sockets_and_every_advert_leaves() {
    let mut lab = Lab::new("manyinst", 2);
    // Let the link-local addresses leave DAD (IPv6 adverts' source).
    std::thread::sleep(Duration::from_secs(2));
    let mut cfg = String::from("global_defs {\n    vrrp_version 3\n}\n");
    for n in 1..=40 {
        cfg += &format!(
            "vrrp_instance M{n} {{\n    interface eth0\n    virtual_router_id {n}\n    priority 100\n    advert_int 0.05\n    virtual_ipaddress {{\n        10.99.1.{n}/32\n    }}\n}}\n"
        );
    }
    for n in [61, 62] {
        cfg += &format!(
            "vrrp_instance V{n} {{\n    interface eth0\n    virtual_router_id {n}\n    priority 100\n    advert_int 0.05\n    virtual_ipaddress {{\n        fd00:99::{n}/64\n    }}\n}}\n"
        );
    }
    cfg += "vrrp_instance U70 {\n    interface eth0\n    virtual_router_id 70\n    priority 100\n    advert_int 0.05\n    unicast_src_ip 10.99.0.1\n    unicast_peer {\n        10.99.0.2\n    }\n    virtual_ipaddress {\n        10.99.1.70/32\n    }\n}\n";
    // A broadcast peer (no SO_BROADCAST): the kernel refuses each advert to it, in
    // the middle of every batch; the rest must still leave.
    cfg += "vrrp_instance U71 {\n    interface eth0\n    virtual_router_id 71\n    priority 100\n    advert_int 0.05\n    unicast_src_ip 10.99.0.1\n    unicast_peer {\n        10.99.0.255\n        10.99.0.2\n    }\n    virtual_ipaddress {\n        10.99.1.71/32\n    }\n}\n";
    lab.start(0, &cfg, &[]);
    let all_master = wait_for(Duration::from_secs(10), || {
        let s = lab.status(0);
        let states: Vec<String> = s["instances"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["state"].as_str().map(str::to_string))
            .collect();
        states.len() == 44 && states.iter().all(|st| st == "MASTER")
    });
    assert!(all_master.is_some(), "all 44 MASTER: {}", lab.log(0));
    let cap = lab.capture_port(0, "ip proto 112 or ip6 proto 112");
    std::thread::sleep(Duration::from_secs(3));
    lab.stop_captures();
    let adverts = vrrp_adverts(&cap);
    assert!(!adverts.is_empty(), "no advert captured");
    let frames = read_pcap(&cap);
    // What the capture itself lost cannot be told from a lost advert.
    let capture_lost = capture_losses(&cap).expect("tcpdump's counts") as usize;
    let mut missing = 0;
    for vrid in (1..=40).chain([61, 62, 70, 71]) {
        let times: Vec<f64> = adverts.iter().filter(|a| a.3 == vrid).map(|a| a.0).collect();
        assert!(times.len() >= 2, "VRID {vrid}: {} adverts", times.len());
        // Every 50 ms from its first to its last: none missing.
        let span = times[times.len() - 1] - times[0];
        let due = (span / 0.05).round() as usize + 1;
        let gaps: Vec<String> = times
            .windows(2)
            .filter(|w| w[1] - w[0] > 0.075)
            .map(|w| format!("{:.3} s at {:.3}", w[1] - w[0], w[0] - times[0]))
            .collect();
        assert!(
            times.len() <= due + 1,
            "VRID {vrid}: {} adverts, {due} due",
            times.len()
        );
        missing += due.saturating_sub(times.len());
        assert!(
            missing <= capture_lost,
            "VRID {vrid}: {} adverts over {span:.3} s, {due} due; long gaps: {gaps:?}; the capture lost {capture_lost}\n{}",
            times.len(),
            lab.log(0)
        );
        assert!(span > 2.5, "VRID {vrid} seen over {span:.3} s only");
        assert!(
            adverts.iter().filter(|a| a.3 == vrid).all(|a| a.2 == 255),
            "VRID {vrid}: TTL / hop limit 255"
        );
    }
    assert!(adverts
        .iter()
        .filter(|a| [61, 62].contains(&a.3))
        .all(|a| a.1.is_ipv6()));
    // The unicast instance's adverts go to its peer, never the group.
    let unicast_dsts = |vrid: u8| -> Vec<[u8; 4]> {
        frames
            .iter()
            .filter(|(_, f)| f.len() > 35 && f[12..14] == [8, 0] && f[14 + 9] == 112 && f[14 + 20 + 1] == vrid)
            .map(|(_, f)| [f[30], f[31], f[32], f[33]])
            .collect()
    };
    for vrid in [70, 71] {
        let dsts = unicast_dsts(vrid);
        assert!(!dsts.is_empty());
        assert!(dsts.iter().all(|d| *d == [10, 99, 0, 2]), "VRID {vrid}: {dsts:?}");
    }
    // The refused adverts are counted for their instance alone, and
    // logged once, not 20 times a second.
    let dump = lab.json(0);
    let send_err = |name: &str| {
        dump.as_array()
            .into_iter()
            .flatten()
            .find(|i| i["data"]["iname"] == name)
            .map(|i| i["data"]["rkeepalived"]["advert_send_err"].as_u64().unwrap_or(0))
    };
    assert!(send_err("U71").is_some_and(|n| n >= 60), "U71: {:?}", send_err("U71"));
    assert_eq!(send_err("U70"), Some(0));
    assert_eq!(send_err("M1"), Some(0));
    let log = lab.log(0);
    let lines = log.matches("(U71) cannot send advert to 10.99.0.255").count();
    assert_eq!(lines, 1, "{log}");
    // Sockets: receive (IPv4, IPv6), send (IPv4 shared by 42, IPv6 by 2),
    // netlink, control; far fewer than the 44 instances.
    let pid = lab.pid(0).expect("daemon pid");
    let sockets = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fds")
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|l| l.to_string_lossy().starts_with("socket:"))
        .count();
    assert!(sockets > 0 && sockets < 15, "{sockets} sockets for 44 instances");
}
