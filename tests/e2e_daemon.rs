//! End-to-end: notify scripts and FIFOs, sync groups, routes and rules,
//! weighted interface tracking, daemonizing and `-s/--namespace`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use nix::sys::signal::Signal;

fn notify_script(dir: &Path) -> String {
    let path = dir.join("n.sh");
    let log = dir.join("notify.log");
    std::fs::write(&path, format!("#!/bin/sh\necho \"$@\" >> {}\n", log.display())).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_string_lossy().to_string()
}

/// Reads FIFO lines in a thread; the daemon keeps the FIFO open.
fn fifo_reader(path: &Path) -> mpsc::Receiver<String> {
    wait_for(Duration::from_secs(10), || path.exists()).expect("FIFO created");
    let (tx, rx) = mpsc::channel();
    let p = path.to_path_buf();
    std::thread::spawn(move || {
        let f = std::fs::File::open(p).unwrap();
        for line in std::io::BufReader::new(f).lines() {
            match line {
                Ok(l) => {
                    if tx.send(l).is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    });
    rx
}

fn next_line(rx: &mpsc::Receiver<String>) -> String {
    rx.recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| "<nothing>".into())
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn notify_scripts_and_fifo_follow_every_transition_in_order() {
    let mut lab = Lab::new("notify", 2);
    let dir = lab.dir(0).to_path_buf();
    let n = notify_script(&dir);
    let fifo = dir.join("vrrp.fifo");
    let cfg = format!(
        "global_defs {{\n    vrrp_notify_fifo {}\n}}\n{}",
        fifo.display(),
        instance(
            "VI_1",
            51,
            100,
            &format!("{VIP}/24"),
            &format!(
                "    notify_master \"{n} NM arg\"\n    notify_backup \"{n} NB\"\n    notify_fault \"{n} NF\"\n    notify_stop \"{n} NS\"\n    notify \"{n} G\""
            )
        )
    );
    lab.start(0, &cfg, &[]);
    let lines = fifo_reader(&fifo);
    lab.start(1, &instance("VI_1", 51, 90, &format!("{VIP}/24"), ""), &[]);
    assert_eq!(next_line(&lines), "INSTANCE \"VI_1\" BACKUP 100");
    assert_eq!(next_line(&lines), "INSTANCE \"VI_1\" MASTER 100");
    lab.link(0, false);
    assert_eq!(next_line(&lines), "INSTANCE \"VI_1\" FAULT 100");
    lab.link(0, true);
    assert_eq!(next_line(&lines), "INSTANCE \"VI_1\" BACKUP 100");
    assert_eq!(next_line(&lines), "INSTANCE \"VI_1\" MASTER 100");
    lab.stop(0);
    assert_eq!(next_line(&lines), "INSTANCE \"VI_1\" STOP 100");
    // Scripts are fire-and-forget; each ran once per transition with
    // keepalived's arguments.
    std::thread::sleep(Duration::from_millis(500));
    let log = std::fs::read_to_string(dir.join("notify.log")).unwrap_or_default();
    let count = |l: &str| log.lines().filter(|x| *x == l).count();
    assert_eq!(count("NM arg"), 2, "{log}");
    assert_eq!(count("NB"), 2, "{log}");
    assert_eq!(count("NF"), 1, "{log}");
    assert_eq!(count("NS"), 1, "{log}");
    assert_eq!(count("G INSTANCE VI_1 MASTER 100"), 2, "{log}");
    assert_eq!(count("G INSTANCE VI_1 BACKUP 100"), 2, "{log}");
    assert_eq!(count("G INSTANCE VI_1 FAULT 100"), 1, "{log}");
    assert_eq!(count("G INSTANCE VI_1 STOP 100"), 1, "{log}");
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn sync_group_moves_together_and_notifies_as_a_group() {
    let mut lab = Lab::new("syncgrp", 2);
    // A second interface on host 0 to fault one member only.
    lab.add_link(0, "eth1");
    let fifo = lab.dir(0).join("g.fifo");
    let two = |prio: u8, track: &str| {
        format!(
            "{}{}vrrp_sync_group G {{\n    group {{\n        VI_1\n        VI_2\n    }}\n}}\n",
            instance("VI_1", 51, prio, "10.99.0.100/24", track),
            instance("VI_2", 52, prio, "10.99.0.101/24", "")
        )
    };
    lab.start(
        0,
        &format!(
            "global_defs {{\n    vrrp_notify_fifo {}\n}}\n{}",
            fifo.display(),
            two(100, "    track_interface {\n        eth1\n    }")
        ),
        &[],
    );
    let lines = fifo_reader(&fifo);
    lab.start(1, &two(90, ""), &[]);
    wait_for(mdi_v2(100) + SLACK, || {
        lab.holders("10.99.0.100") == [0] && lab.holders("10.99.0.101") == [0]
    })
    .expect("A masters both");
    let mut seen = Vec::new();
    while let Ok(l) = lines.recv_timeout(Duration::from_millis(500)) {
        seen.push(l);
    }
    assert!(seen.contains(&"GROUP \"G\" MASTER 0".to_string()), "{seen:?}");
    // VI_1's tracked interface fails: both members go (FAULT), B takes both.
    must("ip", &["-n", lab.ns(0), "link", "set", "eth1", "down"]);
    wait_for(mdi_v2(90) + SLACK, || {
        lab.holders("10.99.0.100") == [1] && lab.holders("10.99.0.101") == [1]
    })
    .expect("B masters both");
    let j = lab.json(0);
    assert_eq!(
        (j[0]["data"]["state"].as_u64(), j[1]["data"]["state"].as_u64()),
        (Some(3), Some(3)),
        "both FAULT"
    );
    let mut seen = Vec::new();
    while let Ok(l) = lines.recv_timeout(Duration::from_millis(500)) {
        seen.push(l);
    }
    assert!(seen.contains(&"GROUP \"G\" FAULT 0".to_string()), "{seen:?}");
    must("ip", &["-n", lab.ns(0), "link", "set", "eth1", "up"]);
    wait_for(mdi_v2(100) + SLACK + SLACK, || {
        lab.holders("10.99.0.100") == [0] && lab.holders("10.99.0.101") == [0]
    })
    .expect("A back");
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn virtual_routes_and_rules_follow_the_master() {
    let mut lab = Lab::new("routes", 2);
    let extra = "    virtual_routes {\n        10.50.0.0/16 via 10.99.0.254 dev eth0\n        blackhole 10.51.0.0/16\n    }\n    virtual_rules {\n        from 10.99.0.100/32 table 100 preference 1000\n    }";
    lab.start(0, &instance("VI_1", 51, 100, &format!("{VIP}/24"), extra), &[]);
    lab.start(1, &instance("VI_1", 51, 90, &format!("{VIP}/24"), extra), &[]);
    wait_for(mdi_v2(100) + SLACK, || lab.holders(VIP) == [0]).expect("A master");
    let ns = [lab.ns(0).to_string(), lab.ns(1).to_string()];
    let routes = |i: usize| {
        String::from_utf8_lossy(&run("ip", &["-n", &ns[i], "route", "show", "table", "all"]).stdout).to_string()
    };
    let rules = |i: usize| String::from_utf8_lossy(&run("ip", &["-n", &ns[i], "rule", "show"]).stdout).to_string();
    wait_for(Duration::from_secs(2), || {
        routes(0).contains("10.50.0.0/16 via 10.99.0.254") && rules(0).contains("1000:")
    })
    .expect("route and rule on A");
    assert!(routes(0).contains("blackhole 10.51.0.0/16"));
    assert!(!routes(1).contains("10.50.0.0/16"), "not on the backup");
    assert!(!rules(1).contains("1000:"));
    lab.stop(0);
    wait_for(Duration::from_secs(3), || {
        routes(1).contains("10.50.0.0/16") && rules(1).contains("1000:")
    })
    .expect("moved to B");
    assert!(!routes(0).contains("10.50.0.0/16"), "removed from A on stop");
    assert!(!rules(0).contains("1000:"));
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn weighted_track_interface_lowers_the_priority() {
    let mut lab = Lab::new("trackif", 2);
    lab.add_link(0, "eth1");
    lab.start(
        0,
        &instance(
            "VI_1",
            51,
            100,
            &format!("{VIP}/24"),
            "    track_interface {\n        eth1 weight -20\n    }",
        ),
        &[],
    );
    lab.start(1, &instance("VI_1", 51, 90, &format!("{VIP}/24"), ""), &[]);
    wait_for(mdi_v2(100) + SLACK, || lab.holders(VIP) == [0]).expect("A master");
    must("ip", &["-n", lab.ns(0), "link", "set", "eth1", "down"]);
    // 100 − 20 = 80 < 90: B preempts after its Master_Down_Interval.
    wait_for(mdi_v2(90) + SLACK + SLACK, || lab.holders(VIP) == [1]).expect("B preempts");
    assert!(lab.log(0).contains("Changing effective priority from 100 to 80"));
    let j = lab.json(0);
    assert_eq!(j[0]["data"]["effective_priority"], 80);
    assert_eq!(j[0]["data"]["state"], 1, "BACKUP, not FAULT");
    must("ip", &["-n", lab.ns(0), "link", "set", "eth1", "up"]);
    wait_for(mdi_v2(100) + SLACK + SLACK, || lab.holders(VIP) == [0]).expect("A preempts back");
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn daemonizes_without_dont_fork() {
    let lab = Lab::new("daemonize", 1);
    let cfg = lab.write_config(0, &instance("VI_1", 51, 100, &format!("{VIP}/24"), ""));
    let pid = lab.dir(0).join("k.pid");
    let o = lab.exec(
        0,
        &[
            BIN,
            "-G",
            "-f",
            cfg.to_str().unwrap(),
            "-p",
            pid.to_str().unwrap(),
            "-r",
            lab.dir(0).join("v.pid").to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "the foreground parent exits 0");
    let (_, p) = wait_for(Duration::from_secs(5), || {
        std::fs::read_to_string(&pid)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
    })
    .expect("pid file");
    assert!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None).is_ok(),
        "daemon alive"
    );
    wait_for(mdi_v2(100) + SLACK, || lab.has_addr(0, VIP)).expect("the background daemon runs VRRP");
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), Signal::SIGTERM);
    wait_for(Duration::from_secs(5), || !pid.exists()).expect("stopped and removed its pid file");
    assert!(!lab.has_addr(0, VIP));
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn namespace_option_runs_vrrp_in_the_named_namespace() {
    // Started inside host 1's namespace, the daemon moves into host 0's.
    let lab = Lab::new("netns", 2);
    let cfg = lab.write_config(0, &instance("VI_1", 51, 100, &format!("{VIP}/24"), ""));
    let pid = lab.dir(0).join("k.pid");
    let o = lab.exec(
        1,
        &[
            BIN,
            "-G",
            "-s",
            lab.ns(0),
            "-f",
            cfg.to_str().unwrap(),
            "-p",
            pid.to_str().unwrap(),
            "-r",
            lab.dir(0).join("v.pid").to_str().unwrap(),
        ],
    );
    assert!(o.status.success());
    wait_for(mdi_v2(100) + SLACK, || lab.has_addr(0, VIP)).expect("VIP in the named namespace");
    assert!(!lab.has_addr(1, VIP));
    let p: i32 = std::fs::read_to_string(&pid).unwrap().trim().parse().unwrap();
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), Signal::SIGTERM);
    wait_for(Duration::from_secs(5), || !pid.exists()).expect("stopped");
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn tells_systemd_ready_reloading_and_stopping() {
    let lab = Lab::new("sdnotify", 1);
    let cfg = lab.write_config(0, &instance("VI_1", 51, 100, &format!("{VIP}/24"), ""));
    let sock_path = lab.dir(0).join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let pid = lab.dir(0).join("k.pid");
    let mut child = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            lab.ns(0),
            BIN,
            "-n",
            "-G",
            "-f",
            cfg.to_str().unwrap(),
            "-p",
            pid.to_str().unwrap(),
            "-r",
        ])
        .arg(lab.dir(0).join("v.pid"))
        .env("NOTIFY_SOCKET", &sock_path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The next state message; STATUS= summaries come between them.
    let recv = || loop {
        let mut buf = [0u8; 4096];
        let n = sock.recv(&mut buf).unwrap_or(0);
        let msg = String::from_utf8_lossy(&buf[..n]).to_string();
        if n == 0 || !msg.starts_with("STATUS=") {
            return msg;
        }
    };
    assert!(recv().contains("READY=1"));
    let p: i32 = std::fs::read_to_string(&pid).unwrap().trim().parse().unwrap();
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), Signal::SIGHUP);
    assert!(recv().contains("RELOADING=1"));
    assert!(recv().contains("READY=1"));
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), Signal::SIGTERM);
    assert!(recv().contains("STOPPING=1"));
    assert!(child.wait().unwrap().success());
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn runs_without_glibc_tcache_and_scripts_keep_the_original_environment() {
    let mut lab = Lab::new("tunables", 2);
    let mut env_files = Vec::new();
    for i in 0..2 {
        let dir = lab.dir(i).to_path_buf();
        let script = dir.join("env.sh");
        let out = dir.join("script.env");
        std::fs::write(
            &script,
            format!("#!/bin/sh\nenv > {}.tmp && mv {0}.tmp {0}\n", out.display()),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let vip = format!("10.99.0.{}/24", 100 + i);
        let cfg = instance(
            "VI_1",
            51 + i as u8,
            100,
            &vip,
            &format!("    notify_master {}", script.display()),
        );
        // Host 1's operator has tunables of their own.
        let env: &[(&str, &str)] = if i == 0 {
            &[]
        } else {
            &[("GLIBC_TUNABLES", "glibc.malloc.mxfast=64")]
        };
        lab.start_env(i, &cfg, env);
        env_files.push(out);
    }
    for (i, out) in env_files.iter().enumerate() {
        let (_, text) = wait_for(mdi_v2(100) + SLACK, || std::fs::read_to_string(out).ok()).expect("notify_master ran");
        let pid = lab.pid(i).expect("pid");
        let daemon_env = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        // The re-exec keeps the process's name: pgrep -x rkeepalived finds it.
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
        assert_eq!(comm.trim(), "rkeepalived", "host {i}");
        // glibc cuts the tunables apart in place, so look for the piece.
        assert!(
            daemon_env.windows(27).any(|w| w == b"glibc.malloc.tcache_count=0"),
            "host {i}: the daemon runs without tcache"
        );
        let tunables: Vec<&str> = text.lines().filter(|l| l.starts_with("GLIBC_TUNABLES=")).collect();
        if i == 0 {
            assert!(tunables.is_empty(), "host 0's script sees no tunables: {tunables:?}");
        } else {
            assert_eq!(
                tunables,
                ["GLIBC_TUNABLES=glibc.malloc.mxfast=64"],
                "host 1's script sees the operator's"
            );
        }
        assert!(text.contains("PATH="), "the script's environment was read: {text}");
        assert!(
            !text.contains("GLIBC_TUNABLES_BEFORE"),
            "nothing of the re-exec leaks to scripts: {text}"
        );
    }
}
