//! End-to-end: tracked scripts, files and processes drive a real
//! instance's priority and state in network namespaces — weights, FAULT
//! and recovery without a restart, hung scripts, script security, and
//! notify scripts run as `script_user`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use common::*;

/// The instance line that tracks `chk`.
const TRACK_CHK: &str = "    track_script {\n        chk\n    }";

fn executable(path: &Path, body: &str) -> String {
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_string_lossy().to_string()
}

/// A check script that fails while `flag` exists.
fn flag_script(dir: &Path) -> (String, std::path::PathBuf) {
    let flag = dir.join("fail");
    let s = executable(
        &dir.join("chk.sh"),
        &format!("#!/bin/sh\n[ ! -e {} ]\n", flag.display()),
    );
    (s, flag)
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn script_weight_moves_the_vip_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let (script, flag) = flag_script(dir.path());
    let defs = format!("vrrp_script chk {{\n    script \"{script}\"\n    interval 1\n    weight -20\n}}\n");
    let lab = Lab::pair("scrweight", &defs, TRACK_CHK, "");
    std::fs::write(&flag, "").unwrap();
    // One failed run (within an interval), then B's Master_Down_Interval.
    wait_for(Duration::from_secs(1) + mdi_v2(90) + 2 * SLACK, || {
        lab.holders(VIP) == [1]
    })
    .expect("B takes over when A's priority drops to 80");
    assert_eq!(lab.vrrp_state(0), (BACKUP, 80));
    assert!(lab.log(0).contains("VRRP_Script(chk) failed"), "{}", lab.log(0));
    std::fs::remove_file(&flag).unwrap();
    // A at 100 ignores B's lower adverts and takes over when its
    // Master_Down_Interval runs out.
    wait_for(Duration::from_secs(1) + mdi_v2(100) + 2 * SLACK, || {
        lab.holders(VIP) == [0]
    })
    .expect("A preempts back");
    assert_eq!(lab.vrrp_state(0), (MASTER, 100));
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn weight_zero_script_faults_and_recovers_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (script, flag) = flag_script(dir.path());
    let defs = format!("vrrp_script chk {{\n    script \"{script}\"\n    interval 1\n    fall 2\n    rise 2\n}}\n");
    let mut lab = Lab::pair("scrfault", &defs, TRACK_CHK, "");
    std::fs::write(&flag, "").unwrap();
    // fall 2 at interval 1; A sends priority 0 on leaving MASTER for FAULT,
    // so B takes over after its Skew_Time.
    wait_for(Duration::from_secs(2) + skew_v2(90) + 2 * SLACK, || {
        lab.holders(VIP) == [1]
    })
    .expect("B takes over when A goes FAULT");
    assert_eq!(lab.vrrp_state(0).0, FAULT);
    assert!(lab.log(0).contains("(VI_1) Entering FAULT STATE"));
    // The check passes twice: A leaves FAULT by itself and preempts.
    std::fs::remove_file(&flag).unwrap();
    wait_for(Duration::from_secs(2) + mdi_v2(100) + 2 * SLACK, || {
        lab.holders(VIP) == [0]
    })
    .expect("A recovers and preempts, daemon never restarted");
    assert_eq!(lab.vrrp_state(0), (MASTER, 100));
    assert!(lab.running(0));
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn hung_script_times_out_is_killed_and_never_delays_adverts() {
    // A unique argument so the test can find the script's children.
    let marker = format!("{}.5", 1000 + std::process::id() % 1000);
    let dir = tempfile::tempdir().unwrap();
    let script = executable(&dir.path().join("hang.sh"), &format!("#!/bin/sh\nsleep {marker}\n"));
    let defs =
        format!("vrrp_script chk {{\n    script \"{script}\"\n    interval 2\n    timeout 1\n    weight -20\n}}\n");
    // B at 50: A stays MASTER at 80 while its script times out.
    let a = format!("{defs}{}", instance("VI_1", 51, 100, &format!("{VIP}/24"), TRACK_CHK));
    let mut lab = Lab::started("scrhang", &[&a, &instance("VI_1", 51, 50, &format!("{VIP}/24"), "")]);
    lab.settle(VIP, &[0], mdi_v2(100) + SLACK);
    // The first run times out: a failure, priority 80, still above B.
    wait_for(Duration::from_secs(4), || lab.vrrp_state(0) == (MASTER, 80)).expect("timeout counts as failure");
    assert!(lab.log(0).contains("VRRP_Script(chk) timed_out"), "{}", lab.log(0));
    // Adverts stay regular while runs keep hanging: capture 6 s of them.
    let pcap = lab.capture_port(0, "ip proto 112");
    std::thread::sleep(Duration::from_secs(6));
    lab.stop_captures();
    let adverts: Vec<_> = vrrp_adverts(&pcap)
        .into_iter()
        .filter(|a| a.1.to_string() == lab.hosts[0].v4)
        .collect();
    assert!(adverts.iter().all(|a| a.4 == 80), "adverts carry the lowered priority");
    let times: Vec<f64> = adverts.iter().map(|a| a.0).collect();
    assert!(times.len() >= 5, "adverts: {times:?}");
    for w in times.windows(2) {
        let gap = w[1] - w[0];
        assert!((0.9..1.1).contains(&gap), "advert gap {gap:.4} s in {times:?}");
    }
    // Timed-out runs are killed with their process group: at most the
    // current run's sleep is alive.
    let alive = run("pgrep", &["-f", &format!("sleep {marker}")]);
    let n = String::from_utf8_lossy(&alive.stdout).lines().count();
    assert!(
        n <= 1,
        "{n} hung runs alive: never two runs at once, timed-out ones killed"
    );
    lab.stop(0);
    std::thread::sleep(Duration::from_millis(300));
    let alive = run("pgrep", &["-f", &format!("sleep {marker}")]);
    assert!(alive.stdout.is_empty(), "a script run outlived the daemon");
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn track_file_value_times_weight_sets_the_priority() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("prio");
    let defs = format!("vrrp_track_file tf {{\n    file {}\n}}\n", file.display());
    // A missing file reads as 0: A is master at 100.
    let lab = Lab::pair("trkfile", &defs, "    track_file {\n        tf weight -10\n    }", "");
    assert_eq!(lab.vrrp_state(0), (MASTER, 100));
    std::fs::write(&file, "2\n").unwrap();
    wait_for(mdi_v2(90) + 2 * SLACK, || lab.holders(VIP) == [1]).expect("100 - 2*10 = 80 < 90");
    assert_eq!(lab.vrrp_state(0), (BACKUP, 80));
    std::fs::remove_file(&file).unwrap();
    wait_for(mdi_v2(100) + 2 * SLACK, || lab.holders(VIP) == [0]).expect("file gone: value 0, A preempts");
    // weight × value reaching -254 or below is FAULT (keepalived's rule).
    std::fs::write(&file, "-30\n").unwrap();
    wait_for(2 * SLACK, || lab.vrrp_state(0) == (MASTER, 254)).expect("clamped to 254");
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn track_process_quorum_faults_and_recovers() {
    // A uniquely named copy of sleep: the /proc scan sees every process on
    // the machine, not only this namespace's.
    let name = format!("rkw{}", std::process::id() % 100_000);
    let dir = tempfile::tempdir().unwrap();
    let worker = dir.path().join(&name);
    std::fs::copy("/bin/sleep", &worker).unwrap();
    let a = format!(
        "vrrp_track_process proc {{\n    process {name}\n    quorum 1\n    delay 0.5\n}}\n{}",
        instance(
            "VI_1",
            51,
            100,
            &format!("{VIP}/24"),
            "    track_process {\n        proc\n    }"
        )
    );
    let lab = Lab::started("trkproc", &[&a, &instance("VI_1", 51, 90, &format!("{VIP}/24"), "")]);
    lab.settle(VIP, &[1], mdi_v2(90) + SLACK);
    assert_eq!(lab.vrrp_state(0).0, FAULT);
    let mut w = std::process::Command::new(&worker).arg("600").spawn().unwrap();
    wait_for(mdi_v2(100) + 2 * SLACK, || lab.holders(VIP) == [0]).expect("worker up: A recovers, preempts");
    w.kill().unwrap();
    w.wait().unwrap();
    wait_for(skew_v2(90) + 2 * SLACK, || lab.holders(VIP) == [1]).expect("worker gone: A FAULT again");
    assert_eq!(lab.vrrp_state(0).0, FAULT);
    assert!(lab.log(0).contains("Quorum lost for tracked process proc"));
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn insecure_script_is_refused_with_the_reason() {
    let mut lab = Lab::new("scrsec", 1);
    let dir = lab.dir(0).join("open");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let script = executable(&dir.join("chk.sh"), "#!/bin/sh\nexit 1\n");
    let cfg = format!(
        "global_defs {{\n    enable_script_security\n    script_user root\n}}\nvrrp_script chk {{\n    script \"{script}\"\n    interval 1\n}}\n{}",
        instance("VI_1", 51, 100, &format!("{VIP}/24"), "    track_script {\n        chk\n    }")
    );
    lab.start(0, &cfg, &[]);
    // The refused (always failing) script is not tracked: A becomes master.
    wait_for(mdi_v2(100) + SLACK, || lab.holders(VIP) == [0]).expect("A master");
    let log = lab.log(0);
    assert!(
        log.contains(&dir.display().to_string()) && log.contains("writable"),
        "{log}"
    );
    assert!(log.contains("Disabling track script chk"), "{log}");
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn notify_scripts_run_as_script_user() {
    let mut lab = Lab::new("notuser", 1);
    let out = lab.dir(0).join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o777)).unwrap();
    // The script lives in a root-owned, non-writable place, as
    // enable_script_security demands.
    let bin = lab.dir(0).join("bin");
    std::fs::create_dir(&bin).unwrap();
    let script = executable(
        &bin.join("n.sh"),
        &format!("#!/bin/sh\nid -u > {}/uid.$1\n", out.display()),
    );
    // nobody must reach the script through the test's private temp dir.
    std::fs::set_permissions(lab.dir(0).parent().unwrap(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let cfg = format!(
        "global_defs {{\n    enable_script_security\n    script_user nobody\n}}\n{}",
        instance(
            "VI_1",
            51,
            100,
            &format!("{VIP}/24"),
            &format!("    notify_master \"{script} master\"\n    notify_backup \"{script} backup\" root")
        )
    );
    lab.start(0, &cfg, &[]);
    wait_for(mdi_v2(100) + SLACK, || out.join("uid.master").exists()).expect("notify_master ran");
    std::thread::sleep(Duration::from_millis(200));
    let nobody = String::from_utf8_lossy(&run("id", &["-u", "nobody"]).stdout)
        .trim()
        .to_string();
    assert_eq!(std::fs::read_to_string(out.join("uid.master")).unwrap().trim(), nobody);
    assert_eq!(
        std::fs::read_to_string(out.join("uid.backup")).unwrap().trim(),
        "0",
        "own user wins"
    );
}
