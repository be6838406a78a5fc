//! End-to-end: check plugins drive an instance's priority, misbehaving
//! plugins (SIGSEGV, hang, panic) fail only their own check while VRRP
//! keeps its rhythm, and `-t` refuses unknown ABI versions and insecure
//! files.
//!
//! The Rust plugins (`libcheck_tcp.so`, `libmisbehave.so`) are workspace
//! members: the full test command builds them (`cargo build --workspace`)
//! before the tests run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

/// The C source of the example plugin plugins/examples/check_pidfile.c.
fn pidfile_plugin_source() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/plugins/examples/check_pidfile.c")).unwrap()
}

fn c_plugin(dir: &Path, name: &str, src: &str) -> PathBuf {
    let c = dir.join(format!("{name}.c"));
    std::fs::write(&c, src).unwrap();
    let so = dir.join(format!("lib{name}.so"));
    let st = Command::new("cc")
        .args([
            "-shared",
            "-fPIC",
            "-O2",
            "-I",
            concat!(env!("CARGO_MANIFEST_DIR"), "/plugins/include"),
            "-o",
        ])
        .arg(&so)
        .arg(&c)
        .status()
        .unwrap();
    assert!(st.success());
    so
}

fn plugin_block(name: &str, path: &Path, weight: i32, isolate: bool, config: &str) -> String {
    format!(
        "check_plugin {name} {{\n    plugin {}\n    interval 0.5\n    timeout 1\n    weight {weight}\n    isolate {}\n    config {{\n{config}    }}\n}}\n",
        path.display(),
        if isolate { "yes" } else { "no" }
    )
}

/// A TCP service inside host `i`'s namespace.
fn tcp_server(lab: &Lab, i: usize, port: u16) -> Child {
    Command::new("ip")
        .args([
            "netns",
            "exec",
            lab.ns(i),
            "python3",
            "-c",
            &format!(
                "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('127.0.0.1',{port}))\ns.listen()\nwhile True:\n  c,_=s.accept(); c.close()\n"
            ),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn rust_and_c_plugins_drive_the_priority() {
    let mut lab = Lab::new("plugprio", 2);
    let dir = lab.dir(0).to_path_buf();
    let tcp = rust_plugin(&dir, "check_tcp");
    let src = pidfile_plugin_source();
    let pidfile_so = c_plugin(&dir, "check_pidfile", &src);
    let pidfile = dir.join("svc.pid");
    let mut svc = Command::new("sleep").arg("600").spawn().unwrap();
    std::fs::write(&pidfile, format!("{}\n", svc.id())).unwrap();
    let mut server = tcp_server(&lab, 0, 18080);
    let cfg = format!(
        "{}{}{}",
        plugin_block(
            "chk_tcp",
            &tcp,
            -30,
            true,
            "        host 127.0.0.1\n        port 18080\n"
        ),
        plugin_block(
            "chk_pid",
            &pidfile_so,
            -20,
            false,
            &format!("        pidfile {}\n", pidfile.display())
        ),
        instance(
            "VI_1",
            51,
            100,
            &format!("{VIP}/24"),
            "    track_script {\n        chk_tcp\n        chk_pid\n    }"
        )
    );
    lab.start(0, &cfg, &[]);
    lab.start(1, &instance("VI_1", 51, 90, &format!("{VIP}/24"), ""), &[]);
    wait_for(mdi_v2(100) + SLACK, || lab.holders(VIP) == [0]).expect("A master");
    assert_eq!(lab.vrrp_state(0).1, 100);
    // The Rust plugin (isolated): the service stops, 100 − 30 = 70.
    server.kill().unwrap();
    server.wait().unwrap();
    wait_for(mdi_v2(90) + 2 * SLACK, || lab.holders(VIP) == [1]).expect("B takes over");
    assert_eq!(lab.vrrp_state(0).1, 70);
    let mut server = tcp_server(&lab, 0, 18080);
    wait_for(mdi_v2(100) + 2 * SLACK, || lab.holders(VIP) == [0]).expect("A back");
    // The C plugin (in-process): the watched process dies, 100 − 20 = 80.
    svc.kill().unwrap();
    svc.wait().unwrap();
    wait_for(mdi_v2(90) + 2 * SLACK, || lab.holders(VIP) == [1]).expect("B takes over");
    assert_eq!(lab.vrrp_state(0).1, 80);
    assert!(
        lab.log(0).contains("check_plugin chk_pid:") && lab.log(0).contains("is gone"),
        "{}",
        lab.log(0)
    );
    server.kill().unwrap();
    let _ = server.wait();
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn crashing_hanging_and_panicking_plugins_fail_only_their_check() {
    let mut lab = Lab::new("plugbad", 2);
    let dir = lab.dir(0).to_path_buf();
    let so = rust_plugin(&dir, "misbehave");
    let flag = dir.join("misbehave-now");
    let mut cfg = String::new();
    for mode in ["segv", "hang", "panic"] {
        cfg += &plugin_block(
            &format!("chk_{mode}"),
            &so,
            -10,
            true,
            &format!("        mode {mode}\n        flag {}\n", flag.display()),
        );
    }
    cfg += &instance(
        "VI_1",
        51,
        100,
        &format!("{VIP}/24"),
        "    track_script {\n        chk_segv\n        chk_hang\n        chk_panic\n    }",
    );
    lab.start(0, &cfg, &[]);
    lab.start(1, &instance("VI_1", 51, 50, &format!("{VIP}/24"), ""), &[]);
    wait_for(mdi_v2(100) + SLACK, || lab.holders(VIP) == [0]).expect("A master");
    assert_eq!(lab.vrrp_state(0).1, 100, "all healthy before the flag");
    std::fs::write(&flag, "").unwrap();
    // Each fails: 100 − 3 × 10.
    wait_for(Duration::from_secs(5), || lab.vrrp_state(0).1 == 70).expect("three failed checks");
    let pcap = lab.capture_port(0, "ip proto 112");
    std::thread::sleep(Duration::from_secs(6));
    lab.stop_captures();
    let adverts: Vec<_> = vrrp_adverts(&pcap)
        .into_iter()
        .filter(|a| a.1.to_string() == lab.hosts[0].v4)
        .collect();
    assert!(adverts.len() >= 5, "adverts: {}", adverts.len());
    assert!(adverts.iter().all(|a| a.4 == 70));
    for w in adverts.windows(2) {
        let gap = w[1].0 - w[0].0;
        assert!((0.9..1.1).contains(&gap), "advert gap {gap:.4} s");
    }
    assert!(lab.running(0), "the daemon survives its plugins");
    let log = lab.log(0);
    assert!(
        log.contains("check_plugin chk_segv") && log.contains("plugin helper died"),
        "{log}"
    );
    assert!(
        log.contains("check_plugin chk_hang") && log.contains("no answer within"),
        "{log}"
    );
    assert!(log.contains("plugin panicked: misbehaving as configured"), "{log}");
    assert!(log.contains("restarting its helper"), "{log}");
    // The flag goes: the restarted helpers report healthy again.
    std::fs::remove_file(&flag).unwrap();
    wait_for(Duration::from_secs(40), || lab.vrrp_state(0).1 == 100).expect("all recover");
}

#[test]
#[ignore = "needs root (plugins must be root-owned); run by the full test command (scripts/test-all.sh)"]
fn unknown_abi_and_insecure_plugins_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let future = c_plugin(
        tmp.path(),
        "future",
        "#include <stdint.h>\nconst struct { uint32_t abi_version; } rkeepalived_plugin = { 7 };\n",
    );
    let open = tmp.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let src = pidfile_plugin_source();
    let insecure = c_plugin(&open, "check_pidfile", &src);
    let test = |so: &Path| {
        let cfg = tmp.path().join("k.conf");
        std::fs::write(&cfg, plugin_block("chk", so, 0, true, "")).unwrap();
        let o = Command::new(BIN).args(["-t", "-f"]).arg(&cfg).output().unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stderr).to_string())
    };
    let (code, err) = test(&future);
    assert_eq!(code, Some(5), "{err}");
    assert!(
        err.contains("k.conf:1:1: error: check_plugin chk:")
            && err.contains(&future.display().to_string())
            && err.contains("ABI version 7"),
        "{err}"
    );
    let (code, err) = test(&insecure);
    assert_eq!(code, Some(6), "{err}");
    assert!(err.contains("writable by everyone"), "{err}");
}

/// `-t` checks what the daemon would: the plugin's create() gets the
/// block's configuration (then destroy()), and a configuration it refuses
/// fails `-t` with 5, naming the block and the plugin's message.
#[test]
#[ignore = "needs root (plugins must be root-owned); run by the full test command (scripts/test-all.sh)"]
fn config_test_runs_the_plugin_s_create_on_the_block_s_config() {
    let tmp = tempfile::tempdir().unwrap();
    let so = c_plugin(tmp.path(), "check_pidfile", &pidfile_plugin_source());
    let cfg = tmp.path().join("k.conf");
    let check = |config: &str| {
        let text = format!(
            "global_defs {{\n    enable_script_security\n    script_user root\n}}\n{}",
            plugin_block("chk", &so, 0, true, config)
        );
        std::fs::write(&cfg, text).unwrap();
        let o = Command::new(BIN).args(["-t", "-f"]).arg(&cfg).output().unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stderr).to_string())
    };
    let (code, err) = check("        wrong_key x\n");
    assert_eq!(code, Some(5), "{err}");
    assert!(
        err.contains(
            "k.conf:5:1: error: check_plugin chk: the plugin refuses its configuration: config needs 'pidfile'"
        ),
        "{err}"
    );
    // The same plugin, given a pid file of a live process, passes.
    let pidfile = tmp.path().join("self.pid");
    std::fs::write(&pidfile, format!("{}\n", std::process::id())).unwrap();
    let (code, err) = check(&format!("        pidfile {}\n", pidfile.display()));
    assert_eq!(code, Some(0), "{err}");
    // Run by a user who cannot switch to script_user, -t skips create()
    // with a warning and judges the rest.
    check("        wrong_key x\n");
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    // A copy of the binary, reachable by nobody wherever the checkout is.
    let bin = tmp.path().join("rkeepalived");
    std::fs::copy(BIN, &bin).unwrap();
    let o = Command::new("runuser")
        .args(["-u", "nobody", "--"])
        .arg(&bin)
        .args(["-t", "-f"])
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("check_plugin chk: create() not tried"), "{err}");
}

/// The daemon loads a plugin once to verify it (in a helper) and once to
/// run it; a reload verifies it again, keeps the running helper of an
/// unchanged check, and restarts it only when its settings changed.
#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn a_plugin_is_verified_once_per_start_and_reload() {
    let mut lab = Lab::new("plugonce", 1);
    let dir = lab.dir(0).to_path_buf();
    let loads = dir.join("loads");
    let src = pidfile_plugin_source();
    let counted = format!(
        "{src}\n__attribute__((constructor)) static void count_load(void) {{\n    \
         FILE *f = fopen(\"{}\", \"a\");\n    if (f) {{ fputs(\"loaded\\n\", f); fclose(f); }}\n}}\n",
        loads.display()
    );
    let so = c_plugin(&dir, "check_counted", &counted);
    let pidfile = dir.join("self.pid");
    std::fs::write(&pidfile, format!("{}\n", std::process::id())).unwrap();
    let cfg = format!(
        "{}{}",
        plugin_block("chk", &so, 0, true, &format!("        pidfile {}\n", pidfile.display())),
        instance(
            "VI_1",
            52,
            100,
            &format!("{VIP}/24"),
            "    track_script {\n        chk\n    }"
        )
    );
    let count = || std::fs::read_to_string(&loads).unwrap_or_default().lines().count();
    lab.start(0, &cfg, &[]);
    wait_for(mdi_v2(100) + SLACK, || lab.holders(VIP) == [0]).expect("master with a healthy plugin");
    assert_eq!(count(), 2, "verified once, then run in its helper");
    let reloads = |lab: &Lab, n: usize| {
        lab.signal(0, nix::sys::signal::Signal::SIGHUP);
        wait_for(Duration::from_secs(10), || {
            lab.log(0).matches("Reload finished").count() == n
        })
        .expect("reloaded");
        std::thread::sleep(Duration::from_secs(1));
    };
    reloads(&lab, 1);
    assert_eq!(
        count(),
        3,
        "a reload verifies once more and keeps the unchanged check's helper"
    );
    // The same check with another setting is a new check: a new helper.
    lab.write_config(0, &cfg.replace("interval 0.5", "interval 0.6"));
    reloads(&lab, 2);
    assert_eq!(count(), 5, "a changed check is verified and started anew");
    assert_eq!(lab.holders(VIP), [0]);
}
