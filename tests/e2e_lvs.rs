//! The load balancer end to end, beside keepalived 2.2.7, in the IPVS lab.
//!
//! This machine's kernel may lack IPVS, so `lvs_lab` boots Debian's stock
//! kernel in QEMU (scripts/ipvs-lab.sh) and runs this same test binary in
//! it, filtered to the `lab_` tests. Each `lab_` test builds its own
//! namespaces there: host 0 the director, hosts 1 and 2 real servers, host
//! 3 a client, all on one bridge.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{is_root, must, wait_for, Lab};

const LB: usize = 0;
const RS1: usize = 1;
const RS2: usize = 2;
const CLIENT: usize = 3;
/// The virtual service's address, on the director's eth0.
const VIP: &str = "10.99.0.100";
/// Emulated CPUs are slow: added to every bound.
const SLACK: Duration = Duration::from_millis(2500);
/// A restarted real server (a Python process, emulated) back in the table.
const RECOVERY: Duration = Duration::from_secs(15);

fn in_lab() -> bool {
    std::env::var_os("RK_IN_LAB").is_some()
}

/// Outside the lab a `lab_` test says where it runs and passes.
macro_rules! lab_only {
    () => {
        if !in_lab() {
            eprintln!("runs inside the IPVS lab, through lvs_lab (scripts/ipvs-lab.sh)");
            return;
        }
    };
}

#[test]
#[ignore = "needs root and QEMU: boots the IPVS lab (scripts/ipvs-lab.sh) and runs the lab_ tests in it"]
fn lvs_lab() {
    if in_lab() {
        return;
    }
    assert!(is_root(), "the IPVS lab needs root");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lab = root.join("scripts/ipvs-lab.sh");
    let check = Command::new(&lab).arg("--check").output().unwrap();
    if !check.status.success() {
        let why = String::from_utf8_lossy(&check.stderr);
        // In CI a lab that cannot run is a failure, not a skip.
        assert!(std::env::var_os("CI").is_none(), "the IPVS lab cannot run: {why}");
        eprintln!("SKIPPED: the IPVS lab cannot run on this machine: {why}");
        return;
    }
    let me = std::env::current_exe().unwrap();
    let out = Command::new(&lab)
        .arg(&me)
        .args(["--include-ignored", "--test-threads=1", "lab_"])
        .env("LAB_TIMEOUT", "900")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{text}");
    assert!(
        out.status.success(),
        "the lab tests failed (exit {:?})",
        out.status.code()
    );
    // The lab really ran tests: each passed lab_ test is listed.
    let passed = text
        .lines()
        .filter(|l| l.starts_with("test lab_") && l.ends_with("ok"))
        .count();
    assert!(passed >= 6, "only {passed} lab tests ran");
}

/// The four hosts: VIP on the director, real servers serving HTTP on 80
/// with their own body ("rs1", "rs2"), the client in another subnet routed
/// through the director (so NAT replies come back through it).
fn lab(test: &str) -> Lab {
    let mut lab = Lab::new(test, 4);
    must(
        "ip",
        &["-n", lab.ns(LB), "addr", "add", &format!("{VIP}/24"), "dev", "eth0"],
    );
    must("ip", &["-n", lab.ns(LB), "addr", "add", "10.98.0.1/24", "dev", "eth0"]);
    must(
        "ip",
        &["netns", "exec", lab.ns(LB), "sysctl", "-qw", "net.ipv4.ip_forward=1"],
    );
    unreachable_hangs(&lab);
    for rs in [RS1, RS2] {
        must("ip", &["-n", lab.ns(rs), "route", "add", "default", "via", "10.99.0.1"]);
        let dir = lab.dir(rs).join("www");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("body"), format!("rs{rs}\n")).unwrap();
        serve(&mut lab, rs);
    }
    must("ip", &["-n", lab.ns(CLIENT), "addr", "flush", "dev", "eth0"]);
    must(
        "ip",
        &["-n", lab.ns(CLIENT), "addr", "add", "10.98.0.2/24", "dev", "eth0"],
    );
    must(
        "ip",
        &["-n", lab.ns(CLIENT), "route", "add", "default", "via", "10.98.0.1"],
    );
    for rs in [RS1, RS2] {
        let addr = lab.hosts[rs].v4.clone();
        assert!(
            wait_for(Duration::from_secs(30), || http_status(
                &lab,
                LB,
                &format!("http://{addr}/")
            ) == 200)
            .is_some(),
            "real server {rs} does not serve"
        );
    }
    lab
}

/// Addresses off the lab (the samples' real servers) are routed to a
/// neighbour that never answers: their connects hang, not fail at once.
fn unreachable_hangs(lab: &Lab) {
    must(
        "ip",
        &["-n", lab.ns(LB), "route", "add", "default", "via", "10.99.0.250"],
    );
    must(
        "ip",
        &["-n", lab.ns(LB), "-6", "route", "add", "default", "via", "fd00:99::250"],
    );
}

fn serve(lab: &mut Lab, rs: usize) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lvs/http_rs.py");
    let dir = lab.dir(rs).join("www").to_string_lossy().to_string();
    let addr = lab.hosts[rs].v4.clone();
    lab.spawn_in(
        rs,
        &["python3", script.to_str().unwrap(), &dir, &addr, "80"],
        "http.log",
    );
}

fn stop_serving(lab: &Lab, rs: usize) {
    // pkill sees every namespace's processes: match this server's address.
    let pattern = format!("http_rs.py .* {} 80", lab.hosts[rs].v4);
    let _ = lab.exec(rs, &["pkill", "-f", &pattern]);
}

fn set_status(lab: &Lab, rs: usize, status: u16) {
    std::fs::write(lab.dir(rs).join("www/status"), status.to_string()).unwrap();
}

fn http_status(lab: &Lab, from: usize, url: &str) -> u16 {
    lab.http_get(from, url, None).0
}

/// `ipvsadm -Ln` of the director without the connection counters, which
/// traffic moves; never empty when IPVS answers.
fn table(lab: &Lab) -> String {
    let o = lab.exec(LB, &["ipvsadm", "-Ln"]);
    assert!(o.status.success(), "ipvsadm: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .skip(3)
        .map(|l| {
            l.split_whitespace()
                .take(if l.trim_start().starts_with("->") { 4 } else { 10 })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The weight of real server `addr` in the table, None when it is out.
fn weight_of(lab: &Lab, addr: &str) -> Option<u32> {
    table(lab)
        .lines()
        .find(|l| l.starts_with(&format!("-> {addr}:")))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|w| w.parse().ok())
}

fn start(lab: &mut Lab, keepalived: bool, config: &str) {
    if keepalived {
        lab.start_keepalived_lvs(LB, config);
    } else {
        lab.start(LB, config, &[]);
    }
}

/// Waits for the table to hold `n` real-server lines.
fn wait_dests(lab: &Lab, n: usize, within: Duration) -> bool {
    wait_for(within, || {
        table(lab).lines().filter(|l| l.starts_with("->")).count() == n
    })
    .is_some()
}

const TCP_VS: &str = r#"global_defs {
    router_id lvs
}
virtual_server 10.99.0.100 80 {
    delay_loop 1
    lb_algo wrr
    lb_kind NAT
    protocol TCP
    persistence_timeout 30
    real_server 10.99.0.2 80 {
        weight 3
        TCP_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 0.5
        }
    }
    real_server 10.99.0.3 80 {
        weight 2
        TCP_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 0.5
        }
    }
}
"#;

#[test]
#[ignore = "in the IPVS lab only (lvs_lab)"]
fn lab_tcp_check_takes_a_dead_server_out_and_back_like_keepalived() {
    lab_only!();
    let mut tables = Vec::new();
    for keepalived in [true, false] {
        let mut lab = lab("lvstcp");
        start(&mut lab, keepalived, TCP_VS);
        assert!(wait_dests(&lab, 2, Duration::from_secs(10)), "{}", lab.log(LB));
        let at_start = table(&lab);
        // Bound: the next check within delay_loop, then connect_timeout
        // (refused at once here) and one retry delay_before_retry later.
        stop_serving(&lab, RS2);
        let t0 = Instant::now();
        let bound = Duration::from_millis(1000 + 1000 + 500) + SLACK;
        let gone = wait_for(bound, || weight_of(&lab, "10.99.0.3").is_none());
        assert!(
            gone.is_some(),
            "keepalived={keepalived}: still in after {bound:?}:\n{}\n{}",
            table(&lab),
            lab.log(LB)
        );
        let out_in = t0.elapsed();
        let without = table(&lab);
        // Traffic reaches the live server only.
        for _ in 0..4 {
            let (code, body) = lab.http_get(CLIENT, &format!("http://{VIP}/"), None);
            assert_eq!((code, body.trim()), (200, "rs1"), "keepalived={keepalived}");
        }
        serve(&mut lab, RS2);
        assert!(
            wait_for(RECOVERY, || weight_of(&lab, "10.99.0.3") == Some(2)).is_some(),
            "keepalived={keepalived}: not back:\n{}",
            table(&lab)
        );
        let back = table(&lab);
        lab.stop(LB);
        assert!(
            wait_for(Duration::from_secs(5), || table(&lab).is_empty()).is_some(),
            "keepalived={keepalived}: entries left after SIGTERM:\n{}",
            table(&lab)
        );
        eprintln!("keepalived={keepalived}: out of the table {out_in:?} after the server stopped");
        tables.push((at_start, without, back));
    }
    assert!(!tables[0].0.is_empty() && !tables[0].1.is_empty());
    assert_eq!(tables[0], tables[1], "keepalived's tables, then rkeepalived's");
}

const HTTP_VS: &str = r#"global_defs {
    router_id lvs
}
virtual_server 10.99.0.100 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.99.0.2 80 {
        weight 1
        HTTP_GET {
            url {
                path /
                digest 7a6c0d2ef5a9e6e1776090916c66ba3a
            }
            connect_timeout 1
            retry 1
            delay_before_retry 0.5
        }
    }
    real_server 10.99.0.3 80 {
        weight 1
        inhibit_on_failure
        HTTP_GET {
            url {
                path /
                status_code 200
            }
            connect_timeout 1
            retry 1
            delay_before_retry 0.5
        }
    }
}
"#;

/// md5 of "rs1\n", the first real server's page.
const RS1_DIGEST: &str = "7a6c0d2ef5a9e6e1776090916c66ba3a";

#[test]
#[ignore = "in the IPVS lab only (lvs_lab)"]
fn lab_http_get_status_and_digest_like_keepalived() {
    lab_only!();
    let digest = format!("{:x}", md5_of(b"rs1\n"));
    assert_eq!(digest, RS1_DIGEST);
    let mut seen = Vec::new();
    for keepalived in [true, false] {
        let mut lab = lab("lvshttp");
        start(&mut lab, keepalived, HTTP_VS);
        assert!(wait_dests(&lab, 2, Duration::from_secs(10)));
        let bound = Duration::from_millis(1000 + 1000 + 500) + SLACK;
        // An HTTP 500: inhibited, weight 0, not removed.
        set_status(&lab, RS2, 500);
        assert!(
            wait_for(bound, || weight_of(&lab, "10.99.0.3") == Some(0)).is_some(),
            "keepalived={keepalived}: 500 not seen:\n{}\n{}",
            table(&lab),
            lab.log(LB)
        );
        let inhibited = table(&lab);
        if !keepalived {
            // status names the checker's reason, in and out.
            let o = lab.ctl(LB, &["status"]);
            let text = String::from_utf8_lossy(&o.stdout);
            assert!(
                text.contains("10.99.0.3:80") && text.contains("inhibited") && text.contains("status 500 (want 200)"),
                "{text}"
            );
        }
        set_status(&lab, RS2, 200);
        assert!(wait_for(RECOVERY, || weight_of(&lab, "10.99.0.3") == Some(1)).is_some());
        // A page whose digest changed: out.
        std::fs::write(lab.dir(RS1).join("www/body"), "changed\n").unwrap();
        assert!(
            wait_for(bound, || weight_of(&lab, "10.99.0.2").is_none()).is_some(),
            "keepalived={keepalived}: wrong digest not seen:\n{}",
            table(&lab)
        );
        let digest_out = table(&lab);
        std::fs::write(lab.dir(RS1).join("www/body"), "rs1\n").unwrap();
        assert!(wait_for(RECOVERY, || weight_of(&lab, "10.99.0.2") == Some(1)).is_some());
        if !keepalived {
            let st = lab.status(LB);
            let rs = &st["lvs"]["virtual_servers"][0]["real_servers"];
            assert_eq!(rs[0]["state"], "up", "{st}");
            assert_eq!(rs.as_array().map(|a| a.len()), Some(2), "{st}");
        }
        seen.push((inhibited, digest_out));
    }
    assert_eq!(seen[0], seen[1]);
}

fn md5_of(b: &[u8]) -> u128 {
    use md5::{Digest, Md5};
    u128::from_be_bytes(Md5::digest(b).into())
}

#[test]
#[ignore = "in the IPVS lab only (lvs_lab)"]
fn lab_misc_check_quorum_and_sorry_server_like_keepalived() {
    lab_only!();
    let mut seen = Vec::new();
    for keepalived in [true, false] {
        let mut lab = lab("lvsmisc");
        let flag = lab.dir(LB).join("rs-ok");
        std::fs::write(&flag, "").unwrap();
        let notes = lab.dir(LB).join("notes");
        let script = lab.dir(LB).join("check.sh");
        std::fs::write(&script, format!("#!/bin/sh\ntest -e {}\n", flag.display())).unwrap();
        let note = lab.dir(LB).join("note.sh");
        std::fs::write(&note, format!("#!/bin/sh\necho \"$1\" >> {}\n", notes.display())).unwrap();
        for f in [&script, &note] {
            must("chmod", &["755", f.to_str().unwrap()]);
        }
        let config = format!(
            r#"global_defs {{
    router_id lvs
    enable_script_security
    script_user root
}}
virtual_server 10.99.0.100 80 {{
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    quorum 2
    quorum_up "{note} quorum_up"
    quorum_down "{note} quorum_down"
    sorry_server 10.99.0.3 80
    real_server 10.99.0.2 80 {{
        weight 2
        notify_down "{note} rs_down"
        notify_up "{note} rs_up"
        MISC_CHECK {{
            misc_path {script}
            misc_timeout 2
        }}
    }}
}}
"#,
            note = note.display(),
            script = script.display()
        );
        start(&mut lab, keepalived, &config);
        assert!(wait_for(Duration::from_secs(10), || weight_of(&lab, "10.99.0.2") == Some(2)).is_some());
        let up = table(&lab);
        std::fs::remove_file(&flag).unwrap();
        // MISC_CHECK retries 0 times: out at the next check.
        assert!(
            wait_for(Duration::from_secs(1) + SLACK, || weight_of(&lab, "10.99.0.3")
                .is_some())
            .is_some(),
            "keepalived={keepalived}: the sorry server did not come in:\n{}\n{}",
            table(&lab),
            lab.log(LB)
        );
        let sorry = table(&lab);
        assert_eq!(weight_of(&lab, "10.99.0.2"), None, "{sorry}");
        std::fs::write(&flag, "").unwrap();
        assert!(wait_for(RECOVERY, || weight_of(&lab, "10.99.0.2") == Some(2)).is_some());
        let back = table(&lab);
        std::thread::sleep(Duration::from_millis(500));
        let text = std::fs::read_to_string(&notes).unwrap_or_default();
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        // quorum_up at start, then each transition once (scripts run
        // concurrently: their order is not compared).
        lines.sort();
        assert_eq!(
            lines,
            ["quorum_down", "quorum_up", "quorum_up", "rs_down", "rs_up"],
            "keepalived={keepalived}"
        );
        seen.push((up, sorry, back, lines));
    }
    assert_eq!(seen[0], seen[1]);
}

#[test]
#[ignore = "in the IPVS lab only (lvs_lab)"]
fn lab_dont_release_ipvs_keeps_the_table_and_a_restart_adopts_it() {
    lab_only!();
    let mut lab = lab("lvskeep");
    lab.start(LB, TCP_VS, &["-I"]);
    assert!(wait_dests(&lab, 2, Duration::from_secs(10)));
    let before = table(&lab);
    lab.stop(LB);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(table(&lab), before, "-I leaves the table");
    lab.start(LB, TCP_VS, &[]);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(table(&lab), before);
    assert!(!lab.log(LB).contains("refused"), "{}", lab.log(LB));
    lab.stop(LB);
    assert!(wait_for(Duration::from_secs(5), || table(&lab).is_empty()).is_some());
}

#[test]
#[ignore = "in the IPVS lab only (lvs_lab)"]
fn lab_reload_changes_one_real_server_and_leaves_the_other_alone() {
    lab_only!();
    let mut lab = lab("lvsreload");
    lab.start(LB, TCP_VS, &[]);
    assert!(wait_dests(&lab, 2, Duration::from_secs(10)));
    // Traffic through the VIP: the counters of a destination that IPVS
    // deleted and re-added would start again from 0.
    for _ in 0..6 {
        assert_eq!(lab.http_get(CLIENT, &format!("http://{VIP}/"), None).0, 200);
    }
    // Each destination's connection count (persistence sends them all to one).
    let stats = |lab: &Lab| -> Vec<(String, u64)> {
        let o = lab.exec(LB, &["ipvsadm", "-Ln", "--stats"]);
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| l.trim_start().starts_with("->") && l.contains("10.99.0."))
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f[1].to_string(), f[2].parse().unwrap_or(0))
            })
            .collect()
    };
    let before = stats(&lab);
    assert_eq!(before.len(), 2, "{before:?}");
    assert!(
        before.iter().map(|(_, c)| c).sum::<u64>() > 0,
        "traffic counted: {before:?}"
    );
    let changed = TCP_VS.replacen("weight 2", "weight 7", 1);
    lab.write_config(LB, &changed);
    lab.signal(LB, nix::sys::signal::Signal::SIGHUP);
    assert!(wait_for(Duration::from_secs(5), || weight_of(&lab, "10.99.0.3") == Some(7)).is_some());
    assert_eq!(weight_of(&lab, "10.99.0.2"), Some(3));
    let after = stats(&lab);
    for ((a, c0), (b, c1)) in before.iter().zip(&after) {
        assert_eq!(a, b);
        assert!(c1 >= c0, "{a} was deleted and re-added: {before:?} -> {after:?}");
    }
    lab.stop(LB);
}

/// Debian's samples, and configs of our own, load into the same table
/// under both daemons (-C: the checker side only). The samples' real
/// servers are unreachable (their connects hang), so the table is the
/// one of the start.
#[test]
#[ignore = "in the IPVS lab only (lvs_lab)"]
fn lab_samples_give_keepalived_s_table() {
    lab_only!();
    let samples = samples_dir();
    let mut files: Vec<std::path::PathBuf> = Vec::new();
    if let Some(dir) = &samples {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            let text = read_sample(&p);
            if text.lines().any(|l| l.trim_start().starts_with("virtual_server ")) {
                files.push(p);
            }
        }
    }
    files.sort();
    let own = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lvs");
    for e in std::fs::read_dir(&own).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "conf") {
            files.push(e.path());
        }
    }
    assert!(files.len() >= 6, "too few configurations: {files:?}");
    // One director for them all: the samples need no real server.
    let mut lab = Lab::new("lvssample", 1);
    unreachable_hangs(&lab);
    let mut compared = 0;
    for f in &files {
        let text = read_sample(f);
        let mut got = Vec::new();
        for keepalived in [true, false] {
            must("ip", &["netns", "exec", lab.ns(LB), "ipvsadm", "-C"]);
            start(&mut lab, keepalived, &text);
            // The table of the start: the first one seen twice, 50 ms
            // apart (a check may fail soon after: warmup is random).
            let mut last = String::new();
            let t = wait_for(Duration::from_secs(10), || {
                std::thread::sleep(Duration::from_millis(50));
                let t = table(&lab);
                let stable = !t.is_empty() && t == last;
                last = t.clone();
                stable.then_some(t)
            })
            .map(|(_, t)| t)
            .unwrap_or_default();
            got.push(t);
            lab.stop(LB);
        }
        assert!(!got[0].is_empty(), "{}: keepalived made no table", f.display());
        assert_eq!(
            got[0],
            got[1],
            "{}: keepalived's table, then rkeepalived's",
            f.display()
        );
        compared += 1;
    }
    eprintln!("{compared} configurations give keepalived's table");
}

fn samples_dir() -> Option<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        std::env::var("RKEEPALIVED_SAMPLES").ok().map(Into::into),
        Some(root.join("../shared/keepalived-samples")),
        Some("/usr/share/doc/keepalived/samples".into()),
    ]
    .into_iter()
    .flatten()
    .find(|d: &std::path::PathBuf| d.is_dir())
}

fn read_sample(p: &Path) -> String {
    if p.extension().is_some_and(|x| x == "gz") {
        let o = Command::new("gunzip").arg("-c").arg(p).output().unwrap();
        return String::from_utf8_lossy(&o.stdout).into_owned();
    }
    std::fs::read_to_string(p).unwrap_or_default()
}

/// On a kernel without IPVS (this machine's own, outside the lab): one
/// error naming the fix, and VRRP goes on.
#[test]
#[ignore = "needs root: network namespaces"]
fn without_ipvs_vrrp_goes_on_and_the_error_names_the_fix() {
    if in_lab() || Path::new("/proc/net/ip_vs").exists() {
        eprintln!("this kernel has IPVS: nothing to show here");
        return;
    }
    let config = format!(
        "{}virtual_server 10.99.0.100 80 {{\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n    real_server 10.99.0.2 80 {{\n    }}\n}}\n",
        common::instance("VI_1", 51, 100, &format!("{}/24", common::VIP), "")
    );
    let lab = Lab::started("noipvs", &[&config]);
    lab.settle(common::VIP, &[0], common::mdi_v2(100) + common::SLACK);
    let log = lab.log(0);
    assert_eq!(log.matches("modprobe ip_vs").count(), 1, "{log}");
    let st = lab.status(0);
    assert!(
        st["lvs"]["ipvs_error"]
            .as_str()
            .unwrap_or("")
            .contains("modprobe ip_vs"),
        "{st}"
    );
}

#[test]
#[ignore = "needs root: network namespaces"]
fn dash_c_runs_only_the_checkers_and_dash_p_only_vrrp() {
    // keepalived's -C (--check) and -P (--vrrp): one subsystem each.
    let config = format!(
        "{}virtual_server 10.99.0.100 80 {{\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n    real_server 10.99.0.2 80 {{\n        TCP_CHECK {{\n            connect_timeout 1\n            retry 0\n            delay_loop 1\n            warmup 0\n        }}\n    }}\n}}\n",
        common::instance("VI_1", 51, 100, &format!("{}/24", common::VIP), "")
    );
    // Nothing listens on 10.99.0.2:80: the check fails, with its reason.
    let mut lab = Lab::new("dashc", 2);
    lab.start(0, &config, &["-C"]);
    lab.start(1, &config, &["-P"]);
    lab.settle(common::VIP, &[1], common::mdi_v2(100) + common::SLACK);
    let checked = wait_for(Duration::from_secs(10), || {
        let st = lab.status(0);
        let reason = st["lvs"]["virtual_servers"][0]["real_servers"][0]["reason"]
            .as_str()
            .unwrap_or("")
            .to_string();
        (reason.contains("10.99.0.2:80")).then_some(reason)
    });
    assert!(checked.is_some(), "-C checks the real server: {}", lab.status(0));
    // explain VS/RS speaks of it, from its journal.
    let out = lab.ctl(0, &["explain", "10.99.0.100:80/10.99.0.2"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("10.99.0.2:80 is out of [10.99.0.100]:tcp:80"), "{text}");
    assert!(text.contains("connection refused"), "{text}");
    assert!(text.contains(" down: TCP_CHECK"), "{text}");
    assert!(lab.running(0), "-C keeps running: {}", lab.log(0));
    assert!(!lab.has_addr(0, common::VIP), "-C runs no VRRP instance");
    let st1 = lab.status(1);
    assert!(
        st1["lvs"].is_null() || st1["lvs"]["virtual_servers"].as_array().is_none_or(|v| v.is_empty()),
        "-P checks no real server: {st1}"
    );
}
