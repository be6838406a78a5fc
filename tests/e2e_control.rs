//! End-to-end: the control socket of two daemons (each its own socket),
//! `rkeepalived status`, `explain`, the transition journal's reasons, and
//! maintenance (it moves the VIP, never takes over, survives reload and
//! restart), and a socket that keeps strangers out and bad clients from
//! hurting the daemon.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::*;
use nix::sys::signal::Signal;
use serde_json::Value;

/// A check on host 0 that fails once its flag file is gone.
fn flag_check(lab_dir: &std::path::Path) -> (String, std::path::PathBuf) {
    let flag = lab_dir.join("healthy");
    std::fs::write(&flag, "").unwrap();
    (
        format!(
            "vrrp_script chk {{\n    script \"/bin/test -e {}\"\n    interval 0.2\n    weight -30\n}}\n",
            flag.display()
        ),
        flag,
    )
}

fn instance_of<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["instances"]
        .as_array()
        .and_then(|l| l.iter().find(|v| v["name"] == name))
        .unwrap_or(&Value::Null)
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn status_explain_and_the_journal_over_each_daemon_s_socket() {
    let mut lab = Lab::new("ctlstatus", 2);
    let (defs, flag) = flag_check(lab.dir(0));
    let a = format!(
        "{defs}{}",
        instance(
            "VI_1",
            51,
            100,
            &format!("{VIP}/24"),
            "    track_script {\n        chk\n    }"
        )
    );
    lab.start(0, &a, &[]);
    lab.start(1, &instance("VI_1", 51, 90, &format!("{VIP}/24"), ""), &[]);
    lab.settle(VIP, &[0], mdi_v2(100) + SLACK);
    wait_for(SLACK, || {
        instance_of(&lab.status(1), "VI_1")["master"]["address"] == "10.99.0.1"
    })
    .expect("B hears A");

    let a_status = lab.status(0);
    assert_eq!(a_status["version"], 1, "{a_status}");
    let va = instance_of(&a_status, "VI_1");
    assert_eq!(va["state"], "MASTER", "{a_status}");
    assert_eq!(va["priority"]["base"], 100);
    let chk = va["priority"]["contributions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "chk")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (chk["status"].as_str(), chk["weight"].as_i64(), chk["share"].as_i64()),
        (Some("OK"), Some(-30), Some(0))
    );
    let checks = a_status["checks"].as_array().unwrap();
    let c = checks.iter().find(|c| c["name"] == "chk").unwrap();
    assert_eq!(c["kind"], "vrrp_script");
    assert!(
        c["latency_ms"].as_f64().is_some_and(|m| m > 0.0) && c["last_run_ago"].as_f64().is_some(),
        "{c}"
    );
    assert_eq!(lab.reasons(0, "VI_1"), ["startup", "master_down_timer"]);
    let vb = instance_of(&lab.status(1), "VI_1").clone();
    assert_eq!(
        (vb["state"].as_str(), vb["master"]["priority"].as_u64()),
        (Some("BACKUP"), Some(100))
    );
    assert!(vb["adverts"]["received"].as_u64().unwrap_or(0) > 0, "{vb}");
    let table = text(&lab.ctl(0, &["status"]));
    assert!(
        table.contains("VI_1") && table.contains("MASTER") && table.contains("chk"),
        "{table}"
    );

    // The check fails: A drops to 70, B preempts; each journal says why.
    std::fs::remove_file(&flag).unwrap();
    lab.settle(VIP, &[1], mdi_v2(90) + SLACK + SLACK);
    assert_eq!(lab.reasons(1, "VI_1"), ["startup", "preempt"]);
    assert_eq!(
        lab.reasons(0, "VI_1"),
        ["startup", "master_down_timer", "higher_priority_heard"]
    );
    let last = instance_of(&lab.status(0), "VI_1")["last_transition"].clone();
    assert_eq!(
        (last["peer"]["address"].as_str(), last["peer"]["priority"].as_u64()),
        (Some("10.99.0.2"), Some(90))
    );

    let o = lab.ctl(0, &["explain", "VI_1"]);
    let why = text(&o);
    assert!(o.status.success(), "{why}");
    assert!(
        why.contains("10.99.0.2 is master at priority 90")
            && why.contains("Ours is 70 (base 100) because chk failed")
            && why.contains("(weight -30)")
            && why.contains("because 10.99.0.2 advertised priority 90")
            && why.contains("We take over when our priority exceeds 90"),
        "{why}"
    );
    let o = lab.ctl(0, &["explain", "VI_9"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("no instance VI_9"));
    // The JSON dump carries the journal too.
    let dump = lab.json(0);
    let j = &dump[0]["data"]["rkeepalived"]["journal"];
    assert_eq!(j.as_array().map(Vec::len), Some(3), "{dump}");
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn journal_reasons_for_links_checks_and_reloads() {
    let mut lab = Lab::new("ctljournal", 1);
    lab.add_link(0, "eth1");
    let flag = lab.dir(0).join("up");
    std::fs::write(&flag, "").unwrap();
    let cfg = |vrid: u8| {
        format!(
            "vrrp_script chk {{\n    script \"/bin/test -e {}\"\n    interval 0.2\n}}\n{}",
            flag.display(),
            instance(
                "VI_1",
                vrid,
                100,
                &format!("{VIP}/24"),
                "    track_interface {\n        eth1\n    }\n    track_script {\n        chk\n    }"
            )
        )
    };
    lab.start(0, &cfg(51), &[]);
    lab.settle(VIP, &[0], mdi_v2(100) + SLACK);
    let expect = |reasons: &[&str]| {
        let got = wait_for(Duration::from_secs(5), || {
            let r = lab.reasons(0, "VI_1");
            (r.ends_with(&reasons.iter().map(|s| s.to_string()).collect::<Vec<_>>())).then_some(r)
        });
        assert!(
            got.is_some(),
            "expected {reasons:?} at the end of {:?}",
            lab.reasons(0, "VI_1")
        );
    };
    lab.exec(0, &["ip", "link", "set", "eth1", "down"]);
    expect(&["link_down"]);
    lab.exec(0, &["ip", "link", "set", "eth1", "up"]);
    expect(&["link_up"]);
    std::fs::remove_file(&flag).unwrap();
    expect(&["tracker_fault"]);
    std::fs::write(&flag, "").unwrap();
    expect(&["tracker_recovered"]);
    lab.settle(VIP, &[0], mdi_v2(100) + SLACK);
    // A new VRID retires the instance and creates it anew: its journal
    // goes on, with the reload in it.
    lab.write_config(0, &cfg(52));
    lab.signal(0, Signal::SIGHUP);
    expect(&["reload", "startup", "master_down_timer"]);
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn maintenance_moves_the_vip_never_takes_over_and_survives_reload_and_restart() {
    let notified = |lab: &Lab| std::fs::read_to_string(lab.dir(0).join("notify")).unwrap_or_default();
    let mut lab = Lab::new("ctlmaint", 2);
    let log = lab.dir(0).join("notify");
    let a = instance(
        "VI_1",
        51,
        100,
        &format!("{VIP}/24"),
        &format!("    notify \"/bin/sh -c 'echo $3 >> {}' x\"", log.display()),
    );
    lab.start(0, &a, &[]);
    lab.start(1, &instance("VI_1", 51, 90, &format!("{VIP}/24"), ""), &[]);
    lab.settle(VIP, &[0], mdi_v2(100) + SLACK);
    // A switchover needs a check_mysql with a peer: refused, nothing moves.
    let o = lab.ctl(0, &["switchover", "VI_1"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("tracks no check_mysql with peer_host"),
        "{}",
        text(&o)
    );
    assert_eq!(lab.holders(VIP), [0]);

    let o = lab.ctl(0, &["maintenance", "VI_1", "on"]);
    assert!(
        o.status.success() && text(&o).contains("maintenance on: VI_1"),
        "{}",
        text(&o)
    );
    // A priority-0 advert: B takes over after Skew_Time, not a whole MDI.
    lab.settle(VIP, &[1], skew_v2(90) + SLACK);
    let va = instance_of(&lab.status(0), "VI_1").clone();
    assert_eq!(
        (va["state"].as_str(), va["maintenance"].as_bool()),
        (Some("BACKUP"), Some(true)),
        "{va}"
    );
    assert_eq!(va["priority"]["advertised"], 0);
    assert_eq!(lab.reasons(0, "VI_1").last().map(String::as_str), Some("maintenance"));
    assert_eq!(
        lab.reasons(1, "VI_1").last().map(String::as_str),
        Some("priority_zero_heard")
    );
    wait_for(SLACK, || notified(&lab).ends_with("MASTER\nBACKUP\n")).expect("the BACKUP notify ran");
    let state = lab.dir(0).join("state/state.json");
    assert_eq!(std::fs::metadata(&state).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(&state).unwrap().contains("VI_1"));

    // B stops: A hears no master and still never takes over.
    lab.stop(1);
    std::thread::sleep(mdi_v2(100) + SLACK + SLACK);
    assert!(lab.holders(VIP).is_empty(), "held by {:?}", lab.holders(VIP));
    // A reload and a restart keep it in maintenance.
    lab.signal(0, Signal::SIGHUP);
    std::thread::sleep(mdi_v2(100) + SLACK);
    assert!(lab.holders(VIP).is_empty());
    lab.stop(0);
    lab.start(0, &a, &[]);
    std::thread::sleep(mdi_v2(100) + SLACK);
    assert!(lab.holders(VIP).is_empty(), "restarted into maintenance");
    assert_eq!(instance_of(&lab.status(0), "VI_1")["maintenance"], true);
    // Off: back in the election; with no master, A takes over.
    let o = lab.ctl(0, &["maintenance", "--all", "off"]);
    assert!(o.status.success(), "{}", text(&o));
    lab.settle(VIP, &[0], mdi_v2(100) + SLACK);
    assert!(!std::fs::read_to_string(&state).unwrap().contains("VI_1"));
    // A corrupt state file is reported and ignored.
    lab.stop(0);
    std::fs::write(&state, "{ not json").unwrap();
    lab.start(0, &a, &[]);
    lab.settle(VIP, &[0], mdi_v2(100) + SLACK);
    assert!(
        lab.log(0).contains("state file") && lab.log(0).contains("ignored"),
        "{}",
        lab.log(0)
    );
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn the_socket_keeps_strangers_out_and_bad_clients_cannot_hurt() {
    // A socket in a directory everyone may enter, with a group that may read.
    let public = tempfile::Builder::new().prefix("rkctl").tempdir_in("/tmp").unwrap();
    std::fs::set_permissions(public.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = public.path().join("rkeepalived");
    std::fs::copy(BIN, &bin).unwrap();
    let sock = public.path().join("group.sock");
    let mut lab = Lab::new("ctlsafe", 2);
    let a = format!(
        "global_defs {{\n    control_socket {}\n    control_socket_group nogroup\n}}\n{}",
        sock.display(),
        instance("VI_1", 51, 100, &format!("{VIP}/24"), "")
    );
    lab.start(0, &a, &["--control-socket", sock.to_str().unwrap()]);
    lab.start(1, &instance("VI_1", 51, 90, &format!("{VIP}/24"), ""), &[]);
    lab.settle(VIP, &[0], mdi_v2(100) + SLACK);

    // The default socket (per host here) is root:root 0600.
    let meta = std::fs::metadata(lab.socket(1)).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    // With a group: root:nogroup 0660; its members (nobody) read, never steer.
    let meta = std::fs::metadata(&sock).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    let as_nobody = |args: &[&str]| {
        let o = std::process::Command::new("runuser")
            .args(["-u", "nobody", "--"])
            .arg(&bin)
            .arg("--control-socket")
            .arg(&sock)
            .args(args)
            .output()
            .unwrap();
        (o.status.code(), text(&o))
    };
    let (code, out) = as_nobody(&["status", "--json"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("\"MASTER\""), "{out}");
    let (code, out) = as_nobody(&["maintenance", "VI_1", "on"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("only root may change the daemon's state"), "{out}");
    assert_eq!(lab.holders(VIP), [0], "nothing changed");
    // Someone outside the group cannot even connect to a root-only socket.
    let o = std::process::Command::new("runuser")
        .args(["-u", "nobody", "-g", "nogroup", "--"])
        .arg(&bin)
        .arg("--control-socket")
        .arg(lab.socket(1))
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));

    // Bad requests get an error; the daemon goes on.
    let lab_socket = |line: &[u8]| {
        let mut s = UnixStream::connect(&sock).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        s.write_all(line).unwrap();
        let mut answer = String::new();
        BufReader::new(s).read_line(&mut answer).unwrap();
        serde_json::from_str::<Value>(&answer).unwrap_or(Value::Null)
    };
    let bad = lab_socket(b"this is not json\n");
    assert_eq!(
        (bad["ok"].as_bool(), bad["version"].as_u64()),
        (Some(false), Some(1)),
        "{bad}"
    );
    assert!(bad["error"].as_str().unwrap_or("").contains("not a JSON request"));
    let mut huge = vec![b'x'; 100 * 1024];
    huge.push(b'\n');
    let big = lab_socket(&huge);
    assert!(
        big["error"].as_str().unwrap_or("").contains("longer than 65536 bytes"),
        "{big}"
    );
    // Stalled clients take a slot each; the rest are turned away, the
    // protocol loop never waits, and a stalled client is cut off.
    let stalled: Vec<UnixStream> = (0..16).map(|_| UnixStream::connect(&sock).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let turned_away = lab_socket(b"{\"command\":\"status\"}\n");
    assert!(
        turned_away["error"].as_str().unwrap_or("").contains("too many clients"),
        "{turned_away}"
    );
    std::thread::sleep(mdi_v2(90) + SLACK);
    assert_eq!(lab.holders(VIP), [0], "adverts kept their rhythm");
    let mut first = stalled.into_iter().next().unwrap();
    first.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut rest = Vec::new();
    let cut = first.read_to_end(&mut rest);
    assert!(matches!(cut, Ok(0)), "a stalled client is cut off: {cut:?}");
    let ok = wait_for(Duration::from_secs(5), || {
        lab_socket(b"{\"command\":\"status\"}\n")["ok"] == true
    });
    assert!(ok.is_some(), "served again once the stalled clients are gone");
    // Requests in a row on one connection.
    let mut s = UnixStream::connect(&sock).unwrap();
    s.write_all(b"{\"command\":\"status\"}\n{\"command\":\"explain\",\"instance\":\"VI_1\"}\n")
        .unwrap();
    let mut lines = BufReader::new(s).lines();
    let one: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let two: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert!(
        one["instances"].is_array() && two["explanation"].is_array(),
        "{one}\n{two}"
    );
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn maintenance_takes_the_sync_group_along_and_footguns_are_named() {
    let vip2 = "10.99.0.101";
    let group = "vrrp_sync_group G {\n    group {\n        VI_1\n        VI_2\n    }\n}\n";
    let host = |prio: u8, extra: &str| {
        format!(
            "{group}{}{}",
            instance("VI_1", 51, prio, &format!("{VIP}/24"), extra),
            instance("VI_2", 52, prio, &format!("{vip2}/24"), "")
        )
    };
    let mut lab = Lab::new("ctlgroup", 2);
    // On B a third instance with a footgun: a VIP outside every subnet of
    // eth0 (10.99.0.0/24).
    let b = format!("{}{}", host(90, ""), instance("VI_3", 53, 90, "192.168.77.2", ""));
    let b_conf = lab.write_config(1, &b);
    let t = lab.exec(1, &[BIN, "-t", "-f", b_conf.to_str().unwrap()]);
    assert_eq!(t.status.code(), Some(0), "{}", text(&t));
    assert!(
        text(&t).contains("VIP 192.168.77.2 is outside every subnet of eth0"),
        "{}",
        text(&t)
    );
    lab.start(0, &host(100, ""), &[]);
    lab.start(1, &b, &[]);
    lab.settle(VIP, &[0], mdi_v2(100) + SLACK);
    lab.settle(vip2, &[0], SLACK);
    // One member in maintenance: the group follows it to BACKUP, and B's
    // group takes over once both of its members may (VI_2 hears no priority
    // 0: its master down timer runs out).
    let o = lab.ctl(0, &["maintenance", "VI_1", "on"]);
    assert!(o.status.success(), "{}", text(&o));
    lab.settle(VIP, &[1], mdi_v2(90) + SLACK + SLACK);
    lab.settle(vip2, &[1], SLACK);
    let s = lab.status(0);
    assert_eq!(instance_of(&s, "VI_2")["state"], "BACKUP", "{s}");
    assert_eq!(lab.reasons(0, "VI_2").last().map(String::as_str), Some("sync_group"));
    let why = text(&lab.ctl(1, &["explain", "VI_3"]));
    assert!(
        why.contains("Footgun: (VI_3) VIP 192.168.77.2 is outside every subnet of eth0"),
        "{why}"
    );
    assert!(!text(&lab.ctl(1, &["explain", "VI_2"])).contains("Footgun"));
}
