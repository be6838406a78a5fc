//! End-to-end: the reference scenario (../shared/reference/
//! dual-master-scenario.md) with two real MariaDB servers as GTID dual
//! masters in namespaces, a client host that reaches MySQL only through
//! the VIP, and the configs and check script of `examples/dual-master/`
//! (addresses and interface mapped onto the lab; in chk_mysql.sh only the
//! stop command is replaced, by signalling the daemon's pid file).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::mariadb::{dml_lands_on, dual_master, example, via, wait_holder, Mariadb, A, B, CLIENT, DB_SLACK};
use common::*;

fn install_script(lab: &Lab, name: &str) {
    let mut text = example(lab, name);
    if name == "chk_mysql.sh" {
        let stop = "/usr/bin/systemctl stop keepalived.service";
        assert!(text.contains(stop));
        let pid = lab.dir(A).join("keepalived.pid");
        text = text.replace(stop, &format!("kill -TERM $(cat {})", pid.display()));
    }
    let path = lab.dir(A).join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[derive(Clone, Copy, PartialEq)]
enum Impl {
    Rk,
    Keepalived,
}

struct Scenario {
    lab: Lab,
    a: Mariadb,
    b: Mariadb,
}

/// Two MariaDB dual masters and a client; VRRP not started yet.
fn setup(test: &str) -> Scenario {
    let lab = Lab::new(test, 3);
    let mut a = Mariadb::init(&lab, A, 10);
    let mut b = Mariadb::init(&lab, B, 20);
    a.start();
    b.start();
    dual_master(&a, &b);
    Scenario { lab, a, b }
}

fn start_b(s: &mut Scenario, b_impl: Impl) {
    let cfg = example(&s.lab, "host-b.conf");
    match b_impl {
        Impl::Rk => s.lab.start(B, &cfg, &[]),
        Impl::Keepalived => s.lab.start_keepalived(B, &cfg),
    }
}

/// Host `who` serves the VIP, and DML through it lands on that host's
/// server (its server id in the GTID).
fn serves(s: &Scenario, who: usize, row: u32, within: Duration) {
    wait_holder(
        &s.lab,
        who,
        within,
        if who == A { "A serves the VIP" } else { "B takes over" },
    );
    let server = wait_for(Duration::from_secs(10), || {
        dml_lands_on(
            &s.lab,
            CLIENT,
            VIP,
            &format!("DELETE FROM hellodb.students WHERE StuID={row}"),
        )
    });
    let expected = if who == A { 10 } else { 20 };
    assert_eq!(
        server.map(|x| x.1),
        Some(expected),
        "DML through the VIP lands on server {expected}"
    );
}

/// The end: A has B's writes and both servers hold the same data.
fn converged(s: &Scenario, b_rows: &[u32]) {
    let has_b_writes = wait_for(Duration::from_secs(30), || {
        b_rows.iter().all(|r| {
            s.a.sql(&format!("SELECT COUNT(*) FROM hellodb.students WHERE StuID={r}")) == "0"
        })
    });
    assert!(has_b_writes.is_some(), "A has B's writes");
    // B's link from A reconnects after master_connect_retry (60 s by
    // default, as the scenario sets it up).
    let equal = wait_for(Duration::from_secs(90), || {
        s.a.students() == s.b.students() && s.a.gtid_current_pos() == s.b.gtid_current_pos()
    });
    assert!(
        equal.is_some(),
        "both servers end with equal data:\nA {} {}\nB {} {}",
        s.a.gtid_current_pos(),
        s.a.students(),
        s.b.gtid_current_pos(),
        s.b.students()
    );
}

/// The scenario as users run it: A's check script stops A's daemon when
/// MariaDB fails; the admin restarts it by hand.
fn reference(test: &str, b_impl: Impl) {
    let mut s = setup(test);
    install_script(&s.lab, "chk_mysql.sh");
    let a_cfg = example(&s.lab, "host-a.conf");
    s.lab.start(A, &a_cfg, &[]);
    start_b(&mut s, b_impl);
    // 1–2. A serves; its first master-down wait is at most 3.6 s.
    serves(&s, A, 11, mdi_v2(100) + DB_SLACK);
    // 3. A's mysqld stops: within the script's interval (10 s) A's daemon
    // stops, its priority-0 advert hands B the VIP after Skew_Time.
    s.a.stop();
    serves(&s, B, 12, Duration::from_secs(10) + skew_v2(90) + DB_SLACK);
    assert!(!s.lab.running(A), "chk_mysql.sh stopped A's daemon");
    // 4. The admin starts A's mysqld, then A's daemon: A preempts.
    s.a.start();
    s.lab.start(A, &a_cfg, &[]);
    serves(&s, A, 13, mdi_v2(100) + DB_SLACK);
    converged(&s, &[12]);
}

#[test]
#[ignore = "needs root, network namespaces and MariaDB; run by the full test command (scripts/test-all.sh)"]
fn reference_scenario_rkeepalived_on_both_hosts() {
    reference("dmrkrk", Impl::Rk);
}

#[test]
#[ignore = "needs root, network namespaces and MariaDB; run by the full test command (scripts/test-all.sh)"]
fn reference_scenario_keepalived_on_b() {
    reference("dmrkka", Impl::Keepalived);
}

/// The auto-recovery variant: A's check only tests MariaDB; weight 0
/// puts A in FAULT, and A returns by itself when MariaDB is back — no
/// daemon restart.
#[test]
#[ignore = "needs root, network namespaces and MariaDB; run by the full test command (scripts/test-all.sh)"]
fn autorecover_variant_fails_over_and_back_without_a_restart() {
    let mut s = setup("dmauto");
    install_script(&s.lab, "chk_mysql_test.sh");
    s.lab.start(A, &example(&s.lab, "host-a-autorecover.conf"), &[]);
    start_b(&mut s, Impl::Rk);
    serves(&s, A, 11, mdi_v2(100) + DB_SLACK);
    s.a.stop();
    // fall 2 at interval 2, then A's priority-0 advert and B's Skew_Time.
    serves(&s, B, 12, Duration::from_secs(4) + skew_v2(90) + DB_SLACK);
    assert!(s.lab.running(A), "A's daemon keeps running, in FAULT");
    s.a.start();
    // rise 2 at interval 2, then A (BACKUP, preempting) waits out its
    // Master_Down_Interval.
    serves(&s, A, 13, Duration::from_secs(4) + mdi_v2(100) + DB_SLACK);
    converged(&s, &[12]);
    assert!(
        via(&s.lab, CLIENT, VIP, "SELECT @@server_id").ok().as_deref() == Some("10"),
        "the client reaches A"
    );
}
