//! End-to-end: the built-in `check_mysql` probe with two real MariaDB
//! servers as GTID dual masters (the reference scenario's topology in
//! namespaces), a client host writing through the VIP as an application
//! user without SUPER, and rkeepalived on both hosts — never restarted.
//!
//! Run once with one `gtid_domain_id` per server (GTIDs 1-10-N, 2-20-N)
//! and once with the scenario's single domain 0.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::mariadb::{
    as_user, dual_master, example, replicating, via_stdin, wait_holder, Mariadb, A, B, CLIENT, DB_SLACK,
};
use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// A second VIP, for tests with two instances per host.
const VIP2: &str = "10.99.0.101";

struct Setup {
    lab: Lab,
    a: Mariadb,
    b: Mariadb,
}

fn setup(test: &str, domains: bool) -> Setup {
    let lab = Lab::new(test, 3);
    let extra = |id: u32| {
        let mut s = String::from("slave_net_timeout=4\nread_only=ON\n");
        if domains {
            s += &format!(
                "gtid_domain_id={}\nauto_increment_increment=2\nauto_increment_offset={}\n",
                id / 10,
                id / 10
            );
        }
        s
    };
    let mut a = Mariadb::init_with(&lab, A, 10, &extra(10));
    let mut b = Mariadb::init_with(&lab, B, 20, &extra(20));
    a.start();
    b.start();
    // The set-up writes on A (read_only blocks only the application).
    dual_master(&a, &b);
    // The probe account gets exactly the example's grants (the scenario
    // gave it ALL), and the application account has no SUPER.
    a.sql("REVOKE ALL PRIVILEGES, GRANT OPTION FROM 'chk'@'10.99.0.%'");
    for grant in example(&lab, "grants-check_mysql.sql")
        .lines()
        .filter(|l| l.starts_with("GRANT"))
    {
        a.sql(grant);
    }
    a.sql("CREATE TABLE hellodb.acked (id int unsigned NOT NULL PRIMARY KEY, writer varchar(8) NOT NULL)");
    let synced = wait_for(Duration::from_secs(30), || {
        b.sql("SELECT COUNT(*) FROM information_schema.tables WHERE table_name='acked'") == "1"
    });
    assert!(synced.is_some());
    Setup { lab, a, b }
}

fn app(lab: &Lab, addr: &str, q: &str) -> Result<String, String> {
    as_user(lab, CLIENT, addr, "app", "apppassword", q)
}

fn holder(s: &Setup, who: usize, within: Duration, what: &str) -> Duration {
    wait_holder(&s.lab, who, within, what)
}

/// A client writing through a VIP all along, one row per transaction,
/// remembering every write the server acknowledged and why any failed.
struct Writer {
    stop: Arc<AtomicBool>,
    written: Arc<Mutex<Written>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Default, Clone)]
struct Written {
    acked: Vec<u32>,
    /// When each acknowledgement came.
    acked_at: Vec<std::time::Instant>,
    refused: Vec<String>,
}

impl Writer {
    fn start(lab: &Lab) -> Writer {
        Writer::start_via(lab, VIP, 1, "w")
    }

    /// Rows `first_id`, `first_id + 1`, … tagged `writer` through `vip`.
    fn start_via(lab: &Lab, vip: &'static str, first_id: u32, writer: &'static str) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let written = Arc::new(Mutex::new(Written::default()));
        let ns = lab.ns(CLIENT).to_string();
        let (s2, w2) = (stop.clone(), written.clone());
        let thread = std::thread::spawn(move || {
            let mut id = first_id;
            while !s2.load(Ordering::SeqCst) {
                let o = app_sql(
                    &ns,
                    vip,
                    &format!("INSERT INTO hellodb.acked VALUES ({id}, '{writer}')"),
                );
                if o.status.success() {
                    let mut w = w2.lock().unwrap();
                    w.acked.push(id);
                    w.acked_at.push(std::time::Instant::now());
                } else {
                    w2.lock()
                        .unwrap()
                        .refused
                        .push(String::from_utf8_lossy(&o.stderr).to_string());
                    std::thread::sleep(Duration::from_millis(50));
                }
                id += 1;
            }
        });
        Writer {
            stop,
            written,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> Written {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.written.lock().unwrap().clone()
    }
}

/// The application's account runs `sql` through `vip` from namespace
/// `ns`, as a new client (1 s connect timeout), without column names.
fn app_sql(ns: &str, vip: &str, sql: &str) -> std::process::Output {
    run(
        "ip",
        &[
            "netns",
            "exec",
            ns,
            "mysql",
            "--no-defaults",
            "--connect-timeout=1",
            &format!("-h{vip}"),
            "-uapp",
            "-papppassword",
            "-N",
            "-e",
            sql,
        ],
    )
}

/// Connects through the VIP as a new client does, every 10 ms with a 1 s
/// connect timeout, until server `id` answers; returns when (since `t0`)
/// and the failed attempts before, with how long each took.
fn reach_through_vip(
    lab: &Lab,
    id: &str,
    t0: std::time::Instant,
    limit: Duration,
) -> (Option<Duration>, Vec<(Duration, String)>) {
    let mut errors = Vec::new();
    while t0.elapsed() < limit {
        let attempt = std::time::Instant::now();
        let o = app_sql(lab.ns(CLIENT), VIP, "SELECT @@server_id");
        match String::from_utf8_lossy(&o.stdout).trim() {
            server if o.status.success() && server == id => return (Some(t0.elapsed()), errors),
            _ if o.status.success() => {}
            _ => errors.push((attempt.elapsed(), String::from_utf8_lossy(&o.stderr).trim().to_string())),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    (None, errors)
}

fn failover_and_guarded_failback(test: &str, domains: bool) {
    let mut s = setup(test, domains);
    s.lab.start(A, &example(&s.lab, "host-a-check_mysql.conf"), &[]);
    s.lab.start(B, &example(&s.lab, "host-b-check_mysql.conf"), &[]);
    holder(&s, A, mdi_v2(100) + DB_SLACK, "A elected");
    // Fencing: A writable, B read-only; the application cannot write on B.
    let writable = wait_for(Duration::from_secs(5), || {
        s.a.sql("SELECT @@read_only") == "0" && s.b.sql("SELECT @@read_only") == "1"
    });
    assert!(writable.is_some(), "A writable, B read-only");
    let refused = app(
        &s.lab,
        &s.lab.hosts[B].v4,
        "INSERT INTO hellodb.acked VALUES (1000000, 'x')",
    );
    assert!(
        refused.unwrap_err().contains("read-only"),
        "(f) a write to the backup's server is refused"
    );
    app(
        &s.lab,
        VIP,
        "INSERT INTO hellodb.students (Name, Age) VALUES ('via vip', 20)",
    )
    .unwrap();
    // The write's GTID carries A's domain and server id.
    let domain = if domains { 1 } else { 0 };
    let last = s.a.sql("SELECT @@gtid_binlog_pos");
    assert!(
        last.split(',').any(|g| g.starts_with(&format!("{domain}-10-"))),
        "{last}"
    );

    let writer = Writer::start(&s.lab);
    std::thread::sleep(Duration::from_secs(2));

    // (a) A's mysqld is killed: the probe's connection drops at once, A
    // goes FAULT (priority 0), B takes over after its Skew_Time.
    let t0 = std::time::Instant::now();
    kill(Pid::from_raw(s.a.pid().unwrap()), Signal::SIGKILL).unwrap();
    s.a.reap();
    // A new client, as the issue's: connect through the VIP every 10 ms
    // with a 1 s connect timeout. A keeps the VIP until B's advert
    // (refuse_on_fault), so its kernel resets the connections to the dead
    // server instead of letting them time out (the client says 115 or
    // 111; what tells a reset from a timeout is how long it took).
    let (reached, errors) = reach_through_vip(&s.lab, "20", t0, skew_v2(90) + Duration::from_secs(1) + DB_SLACK);
    let reached = reached.unwrap_or_else(|| panic!("no client reached B: {errors:?}\nA:\n{}", s.lab.log(A)));
    eprintln!(
        "mysqld killed -> a new client on B's server: {reached:?} ({} refused before)",
        errors.len()
    );
    // Through B's Skew_Time every attempt is refused at once (without
    // refuse_on_fault the first one waits out its 1 s timeout), and A
    // lets the VIP go when B's gratuitous ARP lands, not before.
    let slow: Vec<_> = errors
        .iter()
        .filter(|(took, _)| *took >= Duration::from_millis(500))
        .collect();
    assert!(
        errors.len() >= 5 && slow.is_empty(),
        "refused with a reset, never a timeout: {errors:?}"
    );
    assert!(reached < skew_v2(90) + Duration::from_millis(350), "{reached:?}");
    let released = wait_for(Duration::from_secs(2), || {
        s.lab
            .log(A)
            .contains(&format!("another host announced {VIP}; releasing the VIPs"))
            .then_some(())
    });
    assert!(
        released.is_some(),
        "A kept the VIP until B announced it\n{}",
        s.lab.log(A)
    );
    let took = wait_for(skew_v2(90) + Duration::from_secs(1) + DB_SLACK, || {
        s.lab.holders(VIP) == [B]
    });
    assert!(
        took.is_some(),
        "B takes over\nA:\n{}\nB:\n{}",
        s.lab.log(A),
        s.lab.log(B)
    );
    eprintln!("mysqld killed -> VIP on B: {:?}", t0.elapsed());
    // B's server became writable before B added the VIP.
    let log = s.lab.log(B);
    let held = log.rfind("VIPs wait for check_mysql").expect("B held its VIPs");
    let writable = log[held..].find("local server set writable");
    let vips = log[held..].find("setting VIPs");
    assert!(
        matches!((writable, vips), (Some(w), Some(v)) if w < v),
        "read_only=OFF before the VIP:\n{}",
        &log[held..]
    );
    let on_b = wait_for(Duration::from_secs(10), || {
        app(
            &s.lab,
            VIP,
            "INSERT INTO hellodb.students (Name, Age) VALUES ('on b', 20); SELECT @@server_id",
        )
        .ok()
    });
    assert_eq!(
        on_b.map(|x| x.1).as_deref(),
        Some("20"),
        "writes through the VIP land on B"
    );

    // (b) A backlog of thousands of transactions on B while A is down.
    let mut backlog = String::new();
    for i in 0..3000 {
        backlog += &format!("INSERT INTO hellodb.students (Name, Age) VALUES ('backlog {i}', 30);\n");
    }
    via_stdin(&s.lab, CLIENT, VIP, "app", "apppassword", &backlog).unwrap();
    let b_count: u64 = s.b.sql("SELECT COUNT(*) FROM hellodb.students").parse().unwrap();
    // A's mysqld restarts; A's daemon was never restarted. A must not take
    // the VIP before it has every transaction B wrote.
    s.a.start();
    let back = holder(
        &s,
        A,
        Duration::from_secs(120),
        "A takes the VIP back after catching up",
    );
    let a_count: u64 = s.a.sql("SELECT COUNT(*) FROM hellodb.students").parse().unwrap();
    assert!(
        a_count >= b_count,
        "A took the VIP with {a_count} rows while B had {b_count}"
    );
    eprintln!("A restarted -> VIP back on A after catch-up: {back:?}");
    let log = s.lab.log(A);
    assert!(log.contains("holding preemption"), "{log}");
    assert!(
        log.contains("peer frozen") && log.contains("releasing preemption"),
        "{log}"
    );
    std::thread::sleep(Duration::from_secs(2));

    // (c) Every acknowledged write is on both servers; equal checksums.
    let acked = writer.finish().acked;
    assert!(acked.len() > 10, "the writer wrote: {}", acked.len());
    // B's link from A waited out master_connect_retry (60 s) before; the
    // probe restarts it as soon as A's server answers.
    assert!(s.lab.log(B).contains("IO thread restarted"), "{}", s.lab.log(B));
    assert_converged(&s, &acked);
    // The guard's view is in the JSON dump, under `rkeepalived`: B holds
    // (nothing to take over from) and, after its next probe, is caught up.
    let guard_view = || {
        let hold = s.lab.json(B)[0]["data"]["rkeepalived"]["preempt_hold"].clone();
        (hold, check_detail(&s, B))
    };
    let seen = wait_for(Duration::from_secs(5), || {
        let (hold, detail) = guard_view();
        (hold == true && detail["behind"] == 0 && detail["waiting_for"].as_str().unwrap_or("").contains("caught up"))
            .then_some(())
    });
    assert!(seen.is_some(), "guard view in the dump: {:?}", guard_view());
    // Fencing follows: A writable, B read-only again.
    let fenced = wait_for(Duration::from_secs(5), || {
        s.a.sql("SELECT @@read_only") == "0" && s.b.sql("SELECT @@read_only") == "1"
    });
    assert!(fenced.is_some());
}

#[test]
#[ignore = "needs root, network namespaces and MariaDB; run by the full test command (scripts/test-all.sh)"]
fn failover_and_guarded_failback_one_domain_per_server() {
    failover_and_guarded_failback("cmdom", true);
}

#[test]
#[ignore = "needs root, network namespaces and MariaDB; run by the full test command (scripts/test-all.sh)"]
fn failover_and_guarded_failback_single_domain() {
    failover_and_guarded_failback("cmzero", false);
}

/// (d) a hung mysqld fails the check within its timeout; (e) a backup
/// whose replication is broken is unhealthy and not a takeover target.
#[test]
#[ignore = "needs root, network namespaces and MariaDB; run by the full test command (scripts/test-all.sh)"]
fn hung_server_and_broken_replication() {
    let mut s = setup("cmhang", true);
    s.lab.start(A, &example(&s.lab, "host-a-check_mysql.conf"), &[]);
    s.lab.start(B, &example(&s.lab, "host-b-check_mysql.conf"), &[]);
    holder(&s, A, mdi_v2(100) + DB_SLACK, "A elected");
    let pid = Pid::from_raw(s.a.pid().unwrap());
    kill(pid, Signal::SIGSTOP).unwrap();
    // timeout 1 + the rest of the interval, then B's Skew_Time.
    holder(
        &s,
        B,
        Duration::from_secs(2) + skew_v2(90) + DB_SLACK,
        "(d) hung server: B takes over",
    );
    // An application session through the VIP and an administrator's on
    // B's local socket, both mid-query when A takes the VIP back.
    let sleep = "SELECT SLEEP(120)";
    let mut app_session = Command::new("ip")
        .args(["netns", "exec", s.lab.ns(CLIENT), "mysql", "--no-defaults"])
        .args([&format!("-h{VIP}"), "-uapp", "-papppassword", "-e", sleep])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut admin_session = s.b.spawn_root(sleep);
    let both = wait_for(Duration::from_secs(10), || {
        let users = s.b.sql(&format!(
            "SELECT GROUP_CONCAT(user ORDER BY user) FROM information_schema.PROCESSLIST WHERE info = '{sleep}'"
        ));
        (users == "app,root").then_some(())
    });
    assert!(both.is_some(), "both sessions run on B");
    kill(pid, Signal::SIGCONT).unwrap();
    holder(&s, A, Duration::from_secs(60), "A returns once caught up");
    // The handover froze B: the application's session is ended, the
    // administrator's is kept.
    let ended = wait_for(Duration::from_secs(5), || app_session.try_wait().unwrap());
    assert!(
        ended.is_some_and(|(_, st)| !st.success()),
        "the application session through the VIP is ended"
    );
    assert!(
        admin_session.try_wait().unwrap().is_none(),
        "the local admin session is kept"
    );
    let _ = admin_session.kill();
    let _ = admin_session.wait();
    // (e) B's SQL thread stops: B reports unhealthy. First B's link runs
    // (MariaDB can stop its IO thread on error 1595 when a hung master
    // resumes; B's probe restarts it).
    let running = wait_for(Duration::from_secs(20), || {
        let io = s
            .b
            .sql("SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'SLAVE_RUNNING'");
        (io == "ON").then_some(())
    });
    assert!(running.is_some(), "B's link runs again: {}", s.lab.log(B));
    s.b.sql("STOP SLAVE SQL_THREAD");
    let unhealthy = wait_for(Duration::from_secs(5), || s.lab.log(B).contains("SQL thread No"));
    assert!(unhealthy.is_some(), "{}", s.lab.log(B));
    let j = s.lab.json(B);
    assert_eq!(j[0]["data"]["state"], 3, "B in FAULT");
    // A fails: B must not take over.
    kill(Pid::from_raw(s.a.pid().unwrap()), Signal::SIGKILL).unwrap();
    s.a.reap();
    std::thread::sleep(mdi_v2(90) + DB_SLACK);
    assert!(
        s.lab.holders(VIP).is_empty(),
        "B with broken replication is no takeover target"
    );
}

/// Starts B, then A (replication not required: a stopped link is a gap
/// for the guard, not a FAULT), and asserts that B still holds the VIP
/// past A's Master_Down_Interval; returns A's log.
fn b_master_then_a_held(s: &mut Setup, why: &str) -> String {
    for (host, file) in [(B, "host-b-check_mysql.conf"), (A, "host-a-check_mysql.conf")] {
        let cfg = example(&s.lab, file).replace("require_replication yes", "require_replication no");
        s.lab.start(host, &cfg, &[]);
        if host == B {
            holder(s, B, mdi_v2(90) + DB_SLACK, "B alone is master");
        }
    }
    std::thread::sleep(mdi_v2(100) + DB_SLACK);
    assert_eq!(s.lab.holders(VIP), [B], "{why}");
    s.lab.log(A)
}

/// A replication gap between A and its peer that the guard must see.
#[derive(Clone, Copy)]
enum Gap {
    /// A has a write the peer lacks (it would be lost or conflict).
    Ahead,
    /// A lacks a write the peer has.
    Behind,
}

/// With the gap open, A (priority 100) stays BACKUP under B's live master
/// past its Master_Down_Interval; once replication closes the gap, the
/// handover runs and A preempts. Replication is not required here, so a
/// stopped link is not a FAULT but a gap the guard must see.
fn gap_holds_preemption(test: &str, domains: bool, gap: Gap) {
    let mut s = setup(test, domains);
    // The server that stops replicating, and the one that then writes.
    let (stopped, writer, row, logged) = match gap {
        Gap::Ahead => (&s.b, &s.a, "only on A", "1 transaction(s) here that the peer lacks"),
        Gap::Behind => (&s.a, &s.b, "only on B", "1 transaction(s) behind the peer"),
    };
    stopped.sql("STOP SLAVE");
    writer.sql(&format!(
        "INSERT INTO hellodb.students (Name, Age) VALUES ('{row}', 40)"
    ));
    let log = b_master_then_a_held(&mut s, "A must not preempt across the gap");
    assert!(log.contains(logged), "{log}");
    // Replication resumes on the server that stopped it.
    let stopped = match gap {
        Gap::Ahead => &s.b,
        Gap::Behind => &s.a,
    };
    stopped.sql("START SLAVE");
    holder(&s, A, Duration::from_secs(20), "A preempts once the gap is closed");
    assert_eq!(
        stopped.sql(&format!("SELECT COUNT(*) FROM hellodb.students WHERE Name='{row}'")),
        "1"
    );
}

#[test]
#[ignore = "needs root, network namespaces and MariaDB; run by the full test command (scripts/test-all.sh)"]
fn writes_the_peer_lacks_block_preemption_until_replicated() {
    gap_holds_preemption("cmahead", true, Gap::Ahead);
}

#[test]
#[ignore = "needs root, network namespaces and MariaDB; run by the full test command (scripts/test-all.sh)"]
fn missing_writes_block_preemption_until_applied() {
    gap_holds_preemption("cmbehind", false, Gap::Behind);
}

/// The check's `detail` in host `who`'s JSON dump (the guard's view).
fn check_detail(s: &Setup, who: usize) -> serde_json::Value {
    let j = s.lab.json(who);
    j[0]["data"]["rkeepalived"]["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "chk_db").map(|c| c["detail"].clone()))
        .unwrap_or_default()
}

/// The same sequence number in one domain from two servers: A must not
/// preempt, and says why (an admin must decide which history wins).
#[test]
#[ignore = "needs root, network namespaces and MariaDB; run by the full test command (scripts/test-all.sh)"]
fn diverged_histories_block_preemption() {
    let mut s = setup("cmdiverge", true);
    s.a.sql("STOP SLAVE");
    s.b.sql("STOP SLAVE");
    // B writes in its domain 2; A, as root, writes in domain 2 too.
    s.b.sql("INSERT INTO hellodb.students (Name, Age) VALUES ('b in 2', 40)");
    s.a.sql("SET SESSION gtid_domain_id = 2; INSERT INTO hellodb.students (Name, Age) VALUES ('a in 2', 40)");
    let (a2, b2) = (s.a.sql("SELECT @@gtid_binlog_pos"), s.b.sql("SELECT @@gtid_binlog_pos"));
    assert!(a2.contains("2-10-") && b2.contains("2-20-"), "A {a2}, B {b2}");
    let log = b_master_then_a_held(&mut s, "A must not preempt across diverged histories");
    assert!(log.contains("GTID histories diverged in domain(s) [2]"), "{log}");
    assert_eq!(check_detail(&s, A)["diverged_domains"], serde_json::json!([2]));
}

/// The peer's server cannot be reached while its VRRP instance is alive
/// (here: A probes it on a port nothing listens on). `catch_up_policy
/// wait` keeps A in BACKUP; `takeover` lets it preempt, and fencing then
/// makes A writable and B read-only.
#[test]
#[ignore = "needs root, network namespaces and MariaDB; run by the full test command (scripts/test-all.sh)"]
fn unreachable_peer_server_follows_catch_up_policy() {
    let mut s = setup("cmpolicy", true);
    s.lab.start(B, &example(&s.lab, "host-b-check_mysql.conf"), &[]);
    holder(&s, B, mdi_v2(90) + DB_SLACK, "B alone is master");
    let a_cfg = |lab: &Lab, policy: &str| {
        example(lab, "host-a-check_mysql.conf").replace(
            "catch_up_policy wait",
            &format!("catch_up_policy {policy}\n    peer_port 3307"),
        )
    };
    let cfg = a_cfg(&s.lab, "wait");
    s.lab.start(A, &cfg, &[]);
    // rise 2 at interval 1, then A's Master_Down_Interval.
    std::thread::sleep(Duration::from_secs(2) + mdi_v2(100) + DB_SLACK);
    assert_eq!(s.lab.holders(VIP), [B], "wait: A stays BACKUP");
    let log = s.lab.log(A);
    assert!(log.contains("(catch_up_policy wait)"), "{log}");
    assert_eq!(check_detail(&s, A)["peer"]["alive"], false);
    s.lab.stop(A);
    let cfg = a_cfg(&s.lab, "takeover");
    s.lab.start(A, &cfg, &[]);
    holder(
        &s,
        A,
        Duration::from_secs(2) + mdi_v2(100) + DB_SLACK,
        "takeover: A preempts",
    );
    let fenced = wait_for(Duration::from_secs(5), || {
        s.a.sql("SELECT @@read_only") == "0" && s.b.sql("SELECT @@read_only") == "1"
    });
    assert!(fenced.is_some(), "A writable, B read-only");
}

/// A session that read_only does not stop (root here) keeps writing on
/// the frozen peer: the handover cannot settle within catch_up_timeout, so
/// A unfreezes the peer and stays BACKUP; it retries catch_up_timeout
/// later and, once the writes stop, takes over with every row.
#[test]
#[ignore = "needs root, network namespaces and MariaDB; run by the full test command (scripts/test-all.sh)"]
fn handover_past_catch_up_timeout_unfreezes_the_peer_and_retries() {
    let mut s = setup("cmtimeout", true);
    s.lab.start(B, &example(&s.lab, "host-b-check_mysql.conf"), &[]);
    holder(&s, B, mdi_v2(90) + DB_SLACK, "B alone is master");
    let writable = wait_for(Duration::from_secs(5), || s.b.sql("SELECT @@read_only") == "0");
    assert!(writable.is_some(), "B writable as master");
    // Once A freezes B, root (over B's socket, which freezing spares) writes
    // on B every 10 ms for longer than catch_up_timeout: a procedure that
    // starts within 5 ms of the freeze, so A never sees B's position still
    // for its 50 ms settle (a client spawned per write, as before, left
    // gaps that A sometimes took for settled).
    s.b.sql(
        "DELIMITER //\nCREATE PROCEDURE hellodb.write_when_frozen() BEGIN \
           DECLARE t DOUBLE; \
           WHILE @@global.read_only = 0 DO DO SLEEP(0.005); END WHILE; \
           SET t = UNIX_TIMESTAMP(NOW(6)) + 3.5; \
           WHILE UNIX_TIMESTAMP(NOW(6)) < t DO \
             INSERT INTO hellodb.students (Name, Age) VALUES ('root on frozen B', 50); DO SLEEP(0.01); \
           END WHILE; END//",
    );
    let mut root = s.b.spawn_root("CALL hellodb.write_when_frozen()");
    let cfg = example(&s.lab, "host-a-check_mysql.conf").replace("catch_up_timeout 60", "catch_up_timeout 2");
    s.lab.start(A, &cfg, &[]);
    let frozen = wait_for(Duration::from_secs(30), || s.b.sql("SELECT @@read_only") == "1");
    assert!(frozen.is_some(), "A froze B:\n{}", s.lab.log(A));
    let done = root.wait().unwrap();
    assert!(done.success(), "root's writes on frozen B");
    let written: u64 =
        s.b.sql("SELECT COUNT(*) FROM hellodb.students WHERE Name = 'root on frozen B'")
            .parse()
            .unwrap();
    assert!(written > 20, "{written} writes");
    let log = s.lab.log(A);
    assert!(
        log.contains("handover failed, peer unfrozen, staying BACKUP")
            && log.contains("did not settle within catch_up_timeout"),
        "{log}"
    );
    assert_eq!(s.lab.holders(VIP), [B], "A stays BACKUP after the failed handover");
    holder(&s, A, Duration::from_secs(30), "A takes over on the retry");
    let failed = log.find("handover failed").unwrap();
    let log = s.lab.log(A);
    assert!(log[failed..].contains("releasing preemption"), "{log}");
    let count = |m: &Mariadb| -> u64 {
        m.sql("SELECT COUNT(*) FROM hellodb.students WHERE Name = 'root on frozen B'")
            .parse()
            .unwrap()
    };
    assert_eq!(count(&s.a), written, "A has every write B took while frozen");
}

/// Two instances on each host track one check_mysql: a server is
/// writable exactly while at least one of its instances is MASTER.
#[test]
#[ignore = "needs root, network namespaces and MariaDB; run by the full test command (scripts/test-all.sh)"]
fn several_instances_one_check_writable_while_any_is_master() {
    let mut s = setup("cmmulti", true);
    let config = |lab: &Lab, host: usize, prio: u8| {
        let check = format!(
            "check_mysql chk_db {{\n    host {}\n    user chk\n    password chkpassword\n    interval 0.5\n    \
             timeout 1\n    weight 0\n    read_only_when_backup yes\n}}\n",
            lab.hosts[host].v4
        );
        let mut cfg = check;
        for (name, vrid, vip) in [("VI_1", 100, VIP), ("VI_2", 101, VIP2)] {
            let file = lab.dir(host).join(name);
            cfg += &format!("vrrp_track_file {name}_down {{\n    file {}\n}}\n", file.display());
            cfg += &instance(
                name,
                vrid,
                prio,
                vip,
                &format!("    track_script {{\n        chk_db\n    }}\n    track_file {{\n        {name}_down weight -1\n    }}"),
            );
        }
        cfg
    };
    let (ca, cb) = (config(&s.lab, A, 100), config(&s.lab, B, 90));
    s.lab.start(A, &ca, &[]);
    s.lab.start(B, &cb, &[]);
    let read_only = |m: &Mariadb| m.sql("SELECT @@read_only") == "1";
    let expect = |s: &Setup, vip1: usize, vip2: usize, a_ro: bool, b_ro: bool, what: &str| {
        let ok = wait_for(mdi_v2(100) + DB_SLACK, || {
            s.lab.holders(VIP) == [vip1]
                && s.lab.holders(VIP2) == [vip2]
                && read_only(&s.a) == a_ro
                && read_only(&s.b) == b_ro
        });
        assert!(
            ok.is_some(),
            "{what}: VIPs on {:?}/{:?}, read_only A {} B {}",
            s.lab.holders(VIP),
            s.lab.holders(VIP2),
            read_only(&s.a),
            read_only(&s.b)
        );
    };
    expect(&s, A, A, false, true, "both instances MASTER on A");
    // VI_1 on A drops to priority 40: B takes VIP 1, A keeps VIP 2.
    std::fs::write(s.lab.dir(A).join("VI_1"), "60\n").unwrap();
    expect(&s, B, A, false, false, "one MASTER instance on each host");
    std::fs::write(s.lab.dir(A).join("VI_2"), "60\n").unwrap();
    expect(&s, B, B, true, false, "no MASTER instance left on A");
    std::fs::write(s.lab.dir(A).join("VI_1"), "0\n").unwrap();
    expect(&s, A, B, false, false, "A MASTER of VI_1 again");
}

/// Active-active: each server is MASTER of one VIP, both instances track
/// one check_mysql with the guard. When A, preferred for VIP 1, takes it
/// back from B, the handover must not freeze B: B still serves VIP 2, and
/// the application writing through it never sees a refusal.
#[test]
#[ignore = "needs root, network namespaces and MariaDB; run by the full test command (scripts/test-all.sh)"]
fn handover_keeps_the_peer_writable_while_it_serves_another_vip() {
    let mut s = setup("cmactive", true);
    let config = |lab: &Lab, me: usize, peer: usize, prio1: u8, prio2: u8| {
        let mut cfg = format!(
            "check_mysql chk_db {{\n    host {}\n    user chk\n    password chkpassword\n    interval 0.5\n    \
             timeout 1\n    weight 0\n    peer_host {}\n    catch_up_timeout 10\n    read_only_when_backup yes\n}}\n",
            lab.hosts[me].v4, lab.hosts[peer].v4
        );
        for (name, vrid, prio, vip) in [("VI_1", 100, prio1, VIP), ("VI_2", 101, prio2, VIP2)] {
            cfg += &instance(name, vrid, prio, vip, "    track_script {\n        chk_db\n    }");
        }
        cfg
    };
    let cb = config(&s.lab, B, A, 90, 100);
    s.lab.start(B, &cb, &[]);
    let both_on_b = wait_for(mdi_v2(90) + DB_SLACK, || {
        s.lab.holders(VIP) == [B] && s.lab.holders(VIP2) == [B] && s.b.sql("SELECT @@read_only") == "0"
    });
    assert!(both_on_b.is_some(), "B alone serves both VIPs, writable");
    // The application writes through VIP 2 during the whole handover.
    let writer = Writer::start_via(&s.lab, VIP2, 100_000, "vip2");
    let ca = config(&s.lab, A, B, 100, 90);
    s.lab.start(A, &ca, &[]);
    // rise 2 at interval 0.5, then the preemption.
    holder(
        &s,
        A,
        Duration::from_secs(1) + mdi_v2(100) + DB_SLACK,
        "A takes VIP 1 back",
    );
    std::thread::sleep(Duration::from_secs(1));
    let Written { acked, refused, .. } = writer.finish();
    assert_eq!(s.lab.holders(VIP2), [B], "B keeps VIP 2");
    assert!(
        acked.len() > 10 && refused.is_empty(),
        "{} writes through VIP 2, refused: {refused:?}",
        acked.len()
    );
    let log = s.lab.log(A);
    assert!(
        log.contains("still serves another instance's addresses; not frozen"),
        "{log}"
    );
    assert!(!log.contains("peer frozen"), "{log}");
    assert_eq!(s.a.sql("SELECT @@read_only"), "0", "A writable as MASTER of VIP 1");
    assert_eq!(s.b.sql("SELECT @@read_only"), "0", "B writable as MASTER of VIP 2");
    let on = |m: &Mariadb| m.sql("SELECT COUNT(*) FROM hellodb.acked WHERE writer = 'vip2'");
    let replicated = wait_for(Duration::from_secs(10), || on(&s.a) == on(&s.b));
    assert!(replicated.is_some(), "every write through VIP 2 on both servers");
    assert_eq!(on(&s.b), acked.len().to_string());
}

/// A's daemon dies mid-handover, with B frozen (read_only) while still
/// MASTER: B must not stay unwritable for good. After 2 × catch_up_timeout
/// (2 s here) plus two intervals, B's fencing makes its server writable.
#[test]
#[ignore = "needs root, network namespaces and MariaDB; run by the full test command (scripts/test-all.sh)"]
fn a_peer_dying_mid_handover_does_not_leave_the_master_frozen() {
    let mut s = setup("cmstale", true);
    let cfg = |lab: &Lab, file: &str| example(lab, file).replace("catch_up_timeout 60", "catch_up_timeout 2");
    let cb = cfg(&s.lab, "host-b-check_mysql.conf");
    s.lab.start(B, &cb, &[]);
    holder(&s, B, mdi_v2(90) + DB_SLACK, "B alone is master");
    let writable = wait_for(Duration::from_secs(5), || s.b.sql("SELECT @@read_only") == "0");
    assert!(writable.is_some(), "B writable as master");
    let ca = cfg(&s.lab, "host-a-check_mysql.conf");
    s.lab.start(A, &ca, &[]);
    let frozen = wait_for(Duration::from_secs(30), || s.b.sql("SELECT @@read_only") == "1");
    assert!(frozen.is_some(), "A froze B:\n{}", s.lab.log(A));
    s.lab.kill(A);
    let t0 = std::time::Instant::now();
    assert_eq!(s.lab.holders(VIP), [B], "B still master");
    let limit = 2 * Duration::from_secs(2) + 2 * Duration::from_secs(1);
    let repaired = wait_for(limit + DB_SLACK, || s.b.sql("SELECT @@read_only") == "0");
    let (after, _) = repaired.unwrap_or_else(|| panic!("B still read_only:\n{}", s.lab.log(B)));
    // Not before a live handover could have finished (less the interval
    // B needed to see the freeze).
    assert!(after >= limit / 2, "repaired after {after:?}");
    assert!(t0.elapsed() < limit + DB_SLACK);
    let log = s.lab.log(B);
    assert!(log.contains("read_only while MASTER"), "{log}");
    assert_eq!(s.lab.holders(VIP), [B]);
    app(&s.lab, VIP, "INSERT INTO hellodb.acked VALUES (1, 'after')").expect("the application writes again");
}

/// What a client read through the VIP: the server that answered, the
/// newest row it had, and the newest row acknowledged before the read.
#[derive(Debug)]
struct Read {
    server: String,
    newest: u32,
    acked_before: u32,
}

/// Reads through the VIP every 50 ms for `span` while `writer` writes;
/// returns the reads that answered.
fn reads_through_vip(lab: &Lab, writer: &Writer, span: Duration) -> Vec<Read> {
    let t0 = std::time::Instant::now();
    let mut reads = Vec::new();
    while t0.elapsed() < span {
        let acked_before = writer.written.lock().unwrap().acked.last().copied().unwrap_or(0);
        if let Ok(out) = app(lab, VIP, "SELECT @@server_id, COALESCE(MAX(id), 0) FROM hellodb.acked") {
            let mut f = out.split_whitespace();
            if let (Some(server), Some(Ok(newest))) = (f.next(), f.next().map(str::parse)) {
                reads.push(Read {
                    server: server.to_string(),
                    newest,
                    acked_before,
                });
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reads
}

fn assert_no_stale(reads: &[Read], what: &str) {
    assert!(reads.len() >= 10, "{what}: too few reads answered: {reads:?}");
    let stale: Vec<_> = reads.iter().filter(|r| r.newest < r.acked_before).collect();
    eprintln!(
        "{what}: {} reads through the VIP, {} stale, servers {:?}",
        reads.len(),
        stale.len(),
        reads
            .iter()
            .map(|r| r.server.as_str())
            .collect::<std::collections::BTreeSet<_>>()
    );
    assert!(stale.is_empty(), "{what}: stale reads through the VIP: {stale:?}");
}

/// Stops `writer` and waits until B has applied everything A has;
/// returns the writes acknowledged.
fn quiesce(s: &Setup, writer: Writer) -> Vec<u32> {
    let acked = writer.finish().acked;
    let synced = wait_for(Duration::from_secs(10), || {
        let (a, b) = (s.a.gtid_current_pos(), s.b.gtid_current_pos());
        (!a.is_empty() && a == b).then_some(())
    });
    assert!(synced.is_some(), "B caught up with A");
    acked
}

/// Every acknowledged write is on both servers, and they end equal.
fn assert_converged(s: &Setup, acked: &[u32]) {
    assert!(!acked.is_empty(), "the writer wrote nothing");
    let equal = wait_for(Duration::from_secs(30), || {
        let (a, b) = (
            s.a.sql("CHECKSUM TABLE hellodb.students, hellodb.acked"),
            s.b.sql("CHECKSUM TABLE hellodb.students, hellodb.acked"),
        );
        (!a.is_empty() && a == b).then_some(())
    });
    assert!(
        equal.is_some(),
        "checksums equal\nA: {} {}\n{}\nB: {} {}\n{}\nA log:\n{}\nB log:\n{}",
        s.a.gtid_current_pos(),
        s.a.sql("CHECKSUM TABLE hellodb.students, hellodb.acked"),
        s.a.status("SHOW ALL SLAVES STATUS"),
        s.b.gtid_current_pos(),
        s.b.sql("CHECKSUM TABLE hellodb.students, hellodb.acked"),
        s.b.status("SHOW ALL SLAVES STATUS"),
        s.lab.log(A),
        s.lab.log(B)
    );
    for m in [&s.a, &s.b] {
        let ids: std::collections::HashSet<u32> = m
            .sql("SELECT id FROM hellodb.acked")
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        let missing: Vec<_> = acked.iter().filter(|i| !ids.contains(i)).collect();
        assert!(missing.is_empty(), "acknowledged writes missing: {missing:?}");
    }
}

/// The database side through a partition, an isolation and a takeover,
/// in one lab (one MariaDB pair for the three):
/// 1. A (100) is cut off while its mysqld stays up; B (90, nopreempt)
///    takes over and takes writes. When the network heals, A's server
///    lacks them: A gives way (or B keeps the VIP) whatever the
///    priorities, and A takes the VIP back only through the guard. No
///    read through the VIP is stale.
/// 2. With a witness (the client host, by ICMP echo), a cut-off A fences
///    itself within isolation_timeout: read_only, FAULT, no VIP; it
///    recovers by itself when the network returns.
/// 3. A takeover because A's mysqld died waits until B's SQL thread has
///    applied its relay log before B's server is writable and the VIP is
///    added: the first read through the VIP on B has every write.
fn partition_isolation_and_relay_apply(test: &str, domains: bool) {
    let mut s = setup(test, domains);
    let a_conf = example(&s.lab, "host-a-check_mysql.conf");
    let b_conf = example(&s.lab, "host-b-check_mysql.conf");
    s.lab.start(A, &a_conf, &[]);
    s.lab.start(B, &b_conf, &[]);
    holder(&s, A, mdi_v2(100) + DB_SLACK, "A elected");
    let writer = Writer::start(&s.lab);
    std::thread::sleep(Duration::from_secs(2));
    // The writer pauses over each cut: an acknowledged write that had not
    // reached B when the cut began is the semi-sync case, not this one.
    let mut acked = quiesce(&s, writer);

    // 1. Partition and heal, no witness: A stays MASTER and writable.
    s.lab.cut(A);
    let writer = Writer::start_via(&s.lab, VIP, 100_000, "p");
    let took = wait_for(mdi_v2(90) + DB_SLACK, || s.lab.has_addr(B, VIP));
    assert!(took.is_some(), "B takes over\nB:\n{}", s.lab.log(B));
    let on_b = wait_for(Duration::from_secs(10), || {
        let before = writer.written.lock().unwrap().acked.len();
        std::thread::sleep(Duration::from_secs(3));
        (writer.written.lock().unwrap().acked.len() > before + 5).then_some(())
    });
    assert!(on_b.is_some(), "writes land on B during the partition");
    assert!(s.lab.has_addr(A, VIP), "A, cut off without a witness, stays MASTER");
    assert_eq!(s.a.sql("SELECT @@read_only"), "0", "and writable (no witness)");
    s.lab.heal(A);
    let reads = reads_through_vip(&s.lab, &writer, Duration::from_secs(8));
    assert_no_stale(&reads, "after the heal");
    let (la, lb) = (s.lab.log(A), s.lab.log(B));
    assert!(
        la.contains("giving way: check_mysql's guard") || lb.contains("staying MASTER: check_mysql's guard"),
        "a stance decided the meeting\nA:\n{la}\nB:\n{lb}"
    );
    holder(&s, A, Duration::from_secs(60), "A takes the VIP back through the guard");
    assert!(s.lab.log(A).contains("peer frozen"), "{}", s.lab.log(A));
    let reads = reads_through_vip(&s.lab, &writer, Duration::from_secs(2));
    assert_no_stale(&reads, "after the failback");

    // 2. The same cut with a witness: A fences itself.
    let witness = |c: &str| {
        c.replace(
            "read_only_when_backup yes",
            &format!("read_only_when_backup yes\n    witness {}", s.lab.hosts[CLIENT].v4),
        )
    };
    s.lab.write_config(A, &witness(&a_conf));
    s.lab.write_config(B, &witness(&b_conf));
    s.lab.signal(A, Signal::SIGHUP);
    s.lab.signal(B, Signal::SIGHUP);
    let witnessed = wait_for(Duration::from_secs(10), || {
        (check_detail(&s, A)["witnesses"][0]["answered"] == true).then_some(())
    });
    assert!(witnessed.is_some(), "A's witness answers: {}", check_detail(&s, A));
    acked.extend(quiesce(&s, writer));
    let t0 = std::time::Instant::now();
    s.lab.cut(A);
    let writer = Writer::start_via(&s.lab, VIP, 200_000, "i");
    // isolation_timeout: 3 x interval + timeout = 4 s.
    let fenced = wait_for(Duration::from_secs(4) + DB_SLACK, || {
        (s.a.sql("SELECT @@read_only") == "1" && !s.lab.has_addr(A, VIP)).then_some(())
    });
    assert!(fenced.is_some(), "A fences itself\n{}", s.lab.log(A));
    eprintln!("cut off -> A read_only and without the VIP: {:?}", t0.elapsed());
    assert!(s
        .lab
        .log(A)
        .contains("isolated: neither the peer's server nor any witness"));
    let faulted = wait_for(Duration::from_secs(3), || {
        (s.lab.json(A)[0]["data"]["state"] == 3).then_some(())
    });
    assert!(faulted.is_some(), "A in FAULT");
    holder(&s, B, mdi_v2(90) + DB_SLACK, "B takes over from the fenced A");
    std::thread::sleep(Duration::from_secs(2));
    s.lab.heal(A);
    let reads = reads_through_vip(&s.lab, &writer, Duration::from_secs(4));
    assert_no_stale(&reads, "after an isolation healed");
    holder(
        &s,
        A,
        Duration::from_secs(60),
        "A recovers by itself, through the guard",
    );
    assert!(s.lab.log(A).contains("no longer isolated"));
    acked.extend(writer.finish().acked);
    assert_converged(&s, &acked);

    // 3. B's SQL thread is held up (a table lock) while A's writes reach
    // its relay log; then A's mysqld dies.
    let writer = Writer::start_via(&s.lab, VIP, 1_000_000, "r");
    std::thread::sleep(Duration::from_secs(1));
    let mut lock =
        s.b.spawn_root("LOCK TABLES hellodb.acked WRITE; DO SLEEP(8); UNLOCK TABLES");
    std::thread::sleep(Duration::from_secs(2));
    let acked = writer.finish().acked;
    let last = *acked.last().expect("writes through A");
    // Everything A acknowledged has reached B's relay log (not its tables).
    let a_pos = s.a.sql("SELECT @@gtid_binlog_pos");
    let relayed = wait_for(Duration::from_secs(5), || {
        let io = s.b.status("SHOW ALL SLAVES STATUS");
        a_pos
            .split(',')
            .filter(|g| g.split('-').nth(1) == Some("10"))
            .all(|g| io.contains(g))
            .then_some(())
    });
    assert!(relayed.is_some(), "relayed to B: {a_pos}");
    // Not applied: B's applied position lacks A's last transaction (the
    // locked table itself cannot be read until the lock ends).
    let a_last: Vec<&str> = a_pos.split(',').filter(|g| g.split('-').nth(1) == Some("10")).collect();
    let b_applied = s.b.sql("SELECT @@gtid_current_pos");
    assert!(
        !a_last.is_empty() && !b_applied.is_empty() && a_last.iter().any(|g| !b_applied.contains(g)),
        "B's SQL thread is held up: A at {a_pos}, B applied {b_applied}"
    );
    kill(Pid::from_raw(s.a.pid().unwrap()), Signal::SIGKILL).unwrap();
    s.a.reap();
    holder(
        &s,
        B,
        Duration::from_secs(15),
        "B takes over once its relay log is applied",
    );
    let first = app(
        &s.lab,
        VIP,
        "SELECT @@server_id, COALESCE(MAX(id), 0) FROM hellodb.acked",
    )
    .unwrap();
    assert_eq!(
        first.split_whitespace().collect::<Vec<_>>(),
        ["20", &last.to_string()],
        "the first read on B has every write"
    );
    let lb = s.lab.log(B);
    assert!(lb.contains("waiting for the SQL thread to apply"), "{lb}");
    assert!(lb.contains("relay log applied"), "{lb}");
    let _ = lock.wait();
    s.a.start();
    holder(&s, A, Duration::from_secs(60), "A back after the takeover");
    assert_converged(&s, &acked);

    // 4. Both sides write while cut apart. With a domain per server the
    // histories merge and A comes back through the guard; with a single
    // domain they diverged: B keeps the VIP and A waits for an admin.
    s.lab.cut(A);
    s.a.sql("INSERT INTO hellodb.acked VALUES (300000, 'a')");
    holder(&s, B, mdi_v2(90) + DB_SLACK, "B takes over from the cut-off A");
    app(&s.lab, VIP, "INSERT INTO hellodb.acked VALUES (300001, 'b')").expect("a write through the VIP on B");
    s.lab.heal(A);
    if domains {
        holder(&s, A, Duration::from_secs(60), "A back once the histories merged");
        assert_converged(&s, &[300000, 300001]);
    } else {
        let moved = wait_for(Duration::from_secs(10), || (s.lab.holders(VIP) != [B]).then_some(()));
        assert!(
            moved.is_none(),
            "B keeps the VIP over diverged histories\nA:\n{}",
            s.lab.log(A)
        );
        let la = s.lab.log(A);
        assert!(la.contains("diverged in domain(s) [0]"), "A says why it waits\n{la}");
        let on_b = app(&s.lab, VIP, "SELECT COUNT(*) FROM hellodb.acked WHERE id = 300001").unwrap();
        assert_eq!(on_b.trim(), "1", "clients still reach B");
    }
}

#[test]
#[ignore = "needs root, network namespaces and MariaDB; run by the full test command (scripts/test-all.sh)"]
fn partition_isolation_and_relay_apply_one_domain_per_server() {
    partition_isolation_and_relay_apply("cmheald", true);
}

#[test]
#[ignore = "needs root, network namespaces and MariaDB; run by the full test command (scripts/test-all.sh)"]
fn partition_isolation_and_relay_apply_single_domain() {
    partition_isolation_and_relay_apply("cmhealz", false);
}

/// The `[mysqld]` settings of an example option file, without comments.
fn example_settings(file: &str) -> String {
    std::fs::read_to_string(format!("{}/examples/dual-master/{file}", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with('[') && !l.trim().is_empty())
        .map(|l| format!("{l}\n"))
        .collect()
}

/// What differs between the hard-death runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Death {
    /// The example's settings: A's recovery truncates its unacknowledged
    /// binlog tail (init_rpl_role=SLAVE).
    Plain,
    /// B's SQL thread held up by a table lock when A dies.
    RelayBehind,
    /// Without init_rpl_role=SLAVE: A's crash recovery commits that tail.
    KeepsTail,
    /// The probe account lacks REPLICATION MASTER ADMIN: the release is
    /// refused, and B's first commits wait out the timeout (3 s here).
    ReleaseRefused,
}

/// The unacknowledged write A's host dies with.
const TAIL: u32 = 800_000;

fn has_row(m: &Mariadb, id: u32) -> bool {
    m.sql(&format!("SELECT COUNT(*) FROM hellodb.acked WHERE id = {id}")) == "1"
}

/// Semi-sync (the example's settings, `rpl_semi_sync_master_timeout` 10 s)
/// through a hard death of A's host: a writer runs through the VIP; A's
/// switch port is cut, a commit on A waits for B's acknowledgement, and
/// every process in A is SIGKILLed. Every acknowledged write is on B; B
/// holds the VIP within Master_Down_Interval (`RelayBehind`: once its
/// relay log is applied) and takes writes at once (`ReleaseRefused`: after
/// the timeout, as MariaDB alone does, with the refusal logged and shown).
/// A's server restarts:
/// - `Plain`, `RelayBehind`: the tail is gone; A rejoins as a replica
///   without divergence and takes the VIP back through the guard; both end
///   equal.
/// - `KeepsTail`: the tail is committed on A. B, which stopped replication
///   from A when it took over blind, keeps it stopped and says why; A does
///   not take the VIP back. An administrator's START SLAVE on B then
///   applies the tail and A comes back.
fn semisync_hard_death(test: &str, domains: bool, death: Death) {
    let relay_behind = death == Death::RelayBehind;
    let truncates = death != Death::KeepsTail;
    let timeout = match death {
        Death::ReleaseRefused => Duration::from_secs(3),
        _ => Duration::from_secs(10),
    };
    let mut semisync = example_settings("mariadb-semisync.cnf");
    assert!(
        semisync.contains("rpl_semi_sync_master_wait_point=AFTER_SYNC"),
        "{semisync}"
    );
    if !truncates {
        let without = semisync.replace("init_rpl_role=SLAVE\n", "");
        assert_ne!(without, semisync, "the example sets init_rpl_role=SLAVE");
        semisync = without;
    }
    // As a site turns it on: on running dual masters, one restart each.
    let mut s = setup(test, domains);
    for m in [&mut s.a, &mut s.b] {
        m.add_settings(&semisync);
        // As sites that would rather wait than lose a write set it.
        m.add_settings(&format!("rpl_semi_sync_master_timeout={}\n", timeout.as_millis()));
        m.stop();
        m.start();
    }
    // A's link waited out its 60 s retry while B restarted.
    for m in [&s.a, &s.b] {
        m.sql("STOP SLAVE; START SLAVE");
    }
    let running = wait_for(Duration::from_secs(30), || {
        (replicating(&s.a) && replicating(&s.b)).then_some(())
    });
    assert!(
        running.is_some(),
        "replication runs again after the restarts\nA: {}\nB: {}",
        s.a.status("SHOW ALL SLAVES STATUS"),
        s.b.status("SHOW ALL SLAVES STATUS")
    );
    if death == Death::ReleaseRefused {
        // Replicated to A too, where it does not matter.
        let account =
            s.b.sql("SELECT CONCAT('`', user, '`@`', host, '`') FROM mysql.user WHERE user = 'chk'");
        assert!(!account.is_empty(), "the probe account");
        s.b.sql(&format!("REVOKE REPLICATION MASTER ADMIN ON *.* FROM {account}"));
    }
    s.lab.start(A, &example(&s.lab, "host-a-check_mysql.conf"), &[]);
    s.lab.start(B, &example(&s.lab, "host-b-check_mysql.conf"), &[]);
    holder(&s, A, mdi_v2(100) + DB_SLACK, "A elected");
    let semi_on = wait_for(Duration::from_secs(10), || {
        (s.a.sql("SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'RPL_SEMI_SYNC_MASTER_STATUS'") == "ON"
            && s.a.sql("SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'RPL_SEMI_SYNC_MASTER_CLIENTS'") == "1")
            .then_some(())
    });
    assert!(semi_on.is_some(), "semi-sync on A with B acknowledging");
    let writer = Writer::start(&s.lab);
    std::thread::sleep(Duration::from_secs(2));
    let before = writer.written.lock().unwrap().acked.len();
    assert!(before > 10, "writes through A: {before}");
    // B's SQL thread held up: A's writes reach B's relay log (and are
    // acknowledged) but not its tables until the lock ends.
    let lock = relay_behind.then(|| {
        let child =
            s.b.spawn_root("LOCK TABLES hellodb.acked WRITE; DO SLEEP(8); UNLOCK TABLES");
        let ends = std::time::Instant::now() + Duration::from_secs(8);
        std::thread::sleep(Duration::from_millis(1500));
        (child, ends)
    });
    // The host dies: cut off the switch (no RST reaches anyone), a commit
    // waits for B's acknowledgement, then every process in it is
    // SIGKILLed, rkeepalived and mysqld alike.
    let died = std::time::Instant::now();
    s.lab.cut(A);
    let mut tail =
        s.a.spawn_root(&format!("INSERT INTO hellodb.acked VALUES ({TAIL}, 'tail')"));
    // The commits in A's binlog that wait for B's acknowledgement: that
    // one, or the writer's, with that one queued behind it ("Commit").
    let waiting_ids = || -> Vec<u32> {
        s.a.sql(
            "SELECT SUBSTRING_INDEX(SUBSTRING_INDEX(INFO, '(', -1), ',', 1) FROM information_schema.PROCESSLIST \
             WHERE STATE LIKE '%semi-sync%' AND INFO LIKE 'INSERT INTO hellodb.acked%'",
        )
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
    };
    let waiting = wait_for(Duration::from_secs(5), || !waiting_ids().is_empty());
    assert!(
        waiting.is_some(),
        "A's commit waits for B's acknowledgement\n{}",
        s.a.sql("SELECT STATE, INFO FROM information_schema.PROCESSLIST")
    );
    // Let a queued commit reach its wait too.
    std::thread::sleep(Duration::from_millis(200));
    let tails = waiting_ids();
    assert!(!tails.is_empty(), "the unacknowledged tail");
    eprintln!("A dies with {tails:?} waiting for B's acknowledgement");
    s.lab.crash(A);
    s.a.reap();
    let _ = tail.wait();
    // A's VIP stays on its dead, cut-off link: B holding it is what counts.
    let held = wait_for(mdi_v2(90) + DB_SLACK + Duration::from_secs(8), || {
        s.lab.has_addr(B, VIP)
    });
    assert!(
        held.is_some(),
        "B takes over from the dead host\nB log:\n{}",
        s.lab.log(B)
    );
    let took = died.elapsed();
    let lb = s.lab.log(B);
    match &lock {
        // The VRRP timer is the evidence: B's relay log is applied, so its
        // server is made writable and the VIP goes up without waiting for
        // a probe of the dead peer (which takes `timeout`, 1 s here).
        None => assert!(
            took <= mdi_v2(90) + Duration::from_millis(150),
            "B holds the VIP {took:?} after the death; Master_Down_Interval is {:?}\nB log:\n{lb}",
            mdi_v2(90),
        ),
        // B waits for its SQL thread, then promotes at once.
        Some((_, ends)) => {
            let unlocked = ends.duration_since(died);
            eprintln!("B's SQL thread could apply from {unlocked:?} after the death");
            assert!(
                took + Duration::from_millis(200) >= unlocked && took <= unlocked + Duration::from_millis(1500),
                "B holds the VIP {took:?} after the death; its SQL thread could apply from {unlocked:?}\nB log:\n{lb}"
            );
            assert!(lb.contains("waiting for the SQL thread to apply"), "{lb}");
            assert!(lb.contains("relay log applied"), "{lb}");
        }
    }
    eprintln!(
        "B holds the VIP {took:?} after the death (Master_Down_Interval {:?})",
        mdi_v2(90)
    );
    // A new client's write is acknowledged at once: B does not wait
    // rpl_semi_sync_master_timeout (10 s) for its dead peer (refused the
    // release, it does: MariaDB's own fallback).
    let held_at = std::time::Instant::now();
    let first = (900_000u32..)
        .find(|id| {
            let o = app_sql(
                s.lab.ns(CLIENT),
                VIP,
                &format!("INSERT INTO hellodb.acked VALUES ({id}, 'first')"),
            );
            o.status.success() || held_at.elapsed() > Duration::from_secs(15)
        })
        .unwrap();
    let first_write = held_at.elapsed();
    eprintln!("B acknowledges a new client's write {first_write:?} after holding the VIP");
    let lb = s.lab.log(B);
    if death == Death::ReleaseRefused {
        assert!(
            first_write + Duration::from_millis(500) >= timeout && first_write <= timeout + Duration::from_secs(2),
            "B's first write took {first_write:?}, rpl_semi_sync_master_timeout is {timeout:?}\nB log:\n{lb}"
        );
        assert!(lb.contains("cannot switch semi-sync off"), "B says why it waits\n{lb}");
        let error = check_detail(&s, B)["semi_sync"]["error"].clone();
        assert!(
            error
                .as_str()
                .is_some_and(|e| e.contains("REPLICATION MASTER ADMIN") || e.contains("denied")),
            "status names the refusal: {error}"
        );
    } else {
        assert!(
            first_write <= Duration::from_millis(500),
            "B's first write took {first_write:?}\nB log:\n{lb}"
        );
        assert!(
            lb.contains("semi-sync released: the peer's server does not answer"),
            "B says why it stopped waiting\n{lb}"
        );
    }
    if let Some((mut child, _)) = lock {
        let _ = child.wait();
    }
    assert!(
        lb.contains("replication from it stops"),
        "B holds replication from the peer that died\n{lb}"
    );
    // The takeover round's report comes after its probe of the dead peer.
    let semi = (death != Death::ReleaseRefused).then(|| {
        wait_for(Duration::from_secs(5), || {
            let st: serde_json::Value = serde_json::from_slice(&s.lab.ctl(B, &["status", "--json"]).stdout).ok()?;
            let semi = st["checks"][0]["mysql"]["semi_sync"].clone();
            semi["released"].is_string().then_some(semi)
        })
    });
    assert!(
        semi.as_ref()
            .is_none_or(|s| s.as_ref().is_some_and(|(_, v)| v["enabled"] == false)),
        "status shows the release: {semi:?}\nB log:\n{}",
        s.lab.log(B)
    );
    let on_b = wait_for(Duration::from_secs(15), || {
        let n = writer.written.lock().unwrap().acked.len();
        std::thread::sleep(Duration::from_secs(1));
        (writer.written.lock().unwrap().acked.len() > n + 5).then_some(())
    });
    assert!(on_b.is_some(), "the writer's writes land on B");
    let mut acked = writer.finish().acked;
    acked.push(first);
    let on_b: std::collections::HashSet<u32> =
        s.b.sql("SELECT id FROM hellodb.acked")
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
    let lost: Vec<_> = acked.iter().filter(|i| !on_b.contains(i)).collect();
    assert!(
        !on_b.is_empty() && lost.is_empty(),
        "acknowledged writes lost on B: {lost:?}"
    );
    assert!(
        tails.iter().all(|t| !on_b.contains(t)),
        "the unacknowledged writes {tails:?} never reached B"
    );
    if death == Death::ReleaseRefused {
        return;
    }
    // A's host comes back: mysqld recovers, then the network.
    s.a.start();
    let recovery_log = s.a.error_log();
    eprintln!(
        "A's recovery: {}",
        recovery_log
            .lines()
            .filter(|l| l.contains("truncated binlog") || l.contains("prepared state") || l.contains("Crash"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    for &t in &tails {
        assert_eq!(
            has_row(&s.a, t),
            !truncates,
            "A's recovery ({death:?}) and its unacknowledged write {t}\n{recovery_log}"
        );
    }
    s.lab.heal(A);
    s.lab.start(A, &example(&s.lab, "host-a-check_mysql.conf"), &[]);
    if !truncates {
        // B compares A's server before it fetches anything from it.
        let said = wait_for(Duration::from_secs(30), || {
            s.lab
                .log(B)
                .contains("unacknowledged binlog tail was kept")
                .then_some(())
        });
        assert!(said.is_some(), "B names the kept tail\nB log:\n{}", s.lab.log(B));
        let held = wait_for(Duration::from_secs(10), || {
            let waiting = check_detail(&s, A)["waiting_for"].as_str().map(str::to_string)?;
            waiting.contains("the peer lacks").then_some(waiting)
        });
        assert!(held.is_some(), "A holds preemption\nA log:\n{}", s.lab.log(A));
        let detail = check_detail(&s, B);
        assert!(
            detail["peer_link_held"]["why"]
                .as_str()
                .is_some_and(|w| w.contains("transaction(s) this server never received")),
            "B's status says why: {detail}"
        );
        // A, with the higher priority, does not take the VIP back.
        for _ in 0..10 {
            assert!(
                s.lab.has_addr(B, VIP) && !s.lab.has_addr(A, VIP),
                "the VIP stays on B\nA log:\n{}",
                s.lab.log(A)
            );
            std::thread::sleep(Duration::from_secs(1));
        }
        assert!(tails.iter().all(|&t| !has_row(&s.b, t)), "the tail is not applied on B");
        // The administrator decides to keep the tail.
        s.b.sql("START ALL SLAVES");
        let over = wait_for(Duration::from_secs(10), || {
            s.lab.log(B).contains("started by someone else").then_some(())
        });
        assert!(over.is_some(), "B lets go of the link\nB log:\n{}", s.lab.log(B));
        acked.extend(&tails);
    } else {
        // A's replica catches up with B: B waits for its acknowledgements again.
        let restored = wait_for(Duration::from_secs(60), || {
            s.lab.log(B).contains("semi-sync restored").then_some(())
        });
        assert!(restored.is_some(), "B restores semi-sync\nB log:\n{}", s.lab.log(B));
        assert!(
            s.lab
                .log(B)
                .contains("nothing this server lacks; replication from it restarts"),
            "B restarts replication from A once compared\nB log:\n{}",
            s.lab.log(B)
        );
    }
    holder(&s, A, Duration::from_secs(60), "A takes the VIP back through the guard");
    assert!(
        s.lab.log(A).contains("peer frozen"),
        "A takes over by the guarded handover\nA log:\n{}\nB log:\n{}",
        s.lab.log(A),
        s.lab.log(B)
    );
    for m in [&s.a, &s.b] {
        let links = m.status("SHOW ALL SLAVES STATUS");
        assert!(
            links.contains("Slave_SQL_Running: Yes") && links.contains("Last_SQL_Errno: 0"),
            "replication runs without divergence:\n{links}"
        );
    }
    assert_converged(&s, &acked);
    if truncates {
        assert!(
            tails.iter().all(|&t| !has_row(&s.a, t) && !has_row(&s.b, t)),
            "the truncated write is nowhere"
        );
    }
}

#[test]
#[ignore = "needs root, network namespaces and MariaDB; run by the full test command (scripts/test-all.sh)"]
fn semisync_hard_death_one_domain_per_server() {
    semisync_hard_death("cmsemid", true, Death::Plain);
}

#[test]
#[ignore = "needs root, network namespaces and MariaDB; run by the full test command (scripts/test-all.sh)"]
fn semisync_hard_death_single_domain() {
    semisync_hard_death("cmsemiz", false, Death::Plain);
}

#[test]
#[ignore = "needs root, network namespaces and MariaDB; run by the full test command (scripts/test-all.sh)"]
fn semisync_hard_death_with_the_relay_log_behind() {
    semisync_hard_death("cmsemir", true, Death::RelayBehind);
}

#[test]
#[ignore = "needs root, network namespaces and MariaDB; run by the full test command (scripts/test-all.sh)"]
fn semisync_hard_death_without_truncation_keeps_the_vip_on_b() {
    semisync_hard_death("cmsemik", true, Death::KeepsTail);
}

#[test]
#[ignore = "needs root, network namespaces and MariaDB; run by the full test command (scripts/test-all.sh)"]
fn semisync_hard_death_with_the_release_refused_waits_as_mariadb_does() {
    semisync_hard_death("cmsemip", true, Death::ReleaseRefused);
}

/// A planned switchover: `rkeepalived switchover VI_1` on A, under a writer
/// through the VIP. A refuses it on the backup (naming the master), A
/// freezes its server, B applies every write, A goes into maintenance and
/// B takes over: no acknowledged write is lost, the servers end equal and
/// the writer's longest wait stays within Skew_Time and a probe round.
fn planned_switchover(test: &str, domains: bool) {
    let mut s = setup(test, domains);
    s.lab.start(A, &example(&s.lab, "host-a-check_mysql.conf"), &[]);
    s.lab.start(B, &example(&s.lab, "host-b-check_mysql.conf"), &[]);
    holder(&s, A, mdi_v2(100) + DB_SLACK, "A elected");
    let on_backup = s.lab.ctl(B, &["switchover", "VI_1"]);
    let said = String::from_utf8_lossy(&on_backup.stderr);
    assert_eq!(on_backup.status.code(), Some(1), "refused on the backup: {said}");
    assert!(
        said.contains(&format!("the master is {}", s.lab.hosts[A].v4)),
        "names the master: {said}"
    );
    let written = hand_over_to_b(&s, Writer::start(&s.lab), &["switchover", "VI_1"]);
    let la = s.lab.log(A);
    assert!(la.contains("switchover: local server frozen"), "{la}");
    assert!(la.contains("maintenance on, the peer takes over"), "{la}");
    assert_eq!(
        s.a.sql("SELECT @@read_only"),
        "1",
        "A's server stays read-only\nA log:\n{la}"
    );
    assert_eq!(s.b.sql("SELECT @@read_only"), "0", "B's server is writable");
    assert_converged(&s, &written.acked);
    // Status says how it ended; a second one is refused (A is BACKUP now).
    let st: serde_json::Value =
        serde_json::from_slice(&s.lab.ctl(A, &["status", "--json"]).stdout).expect("status --json");
    assert_eq!(st["instances"][0]["switchover"]["phase"], "done", "{st}");
    assert_eq!(s.lab.ctl(A, &["switchover", "VI_1"]).status.code(), Some(1));
    // Maintenance off: A (100) comes back through the guard's handover;
    // maintenance on then takes the switchover's path again.
    assert!(s.lab.ctl(A, &["maintenance", "VI_1", "off"]).status.success());
    holder(&s, A, Duration::from_secs(30), "A back after maintenance off");
    let again = hand_over_to_b(
        &s,
        Writer::start_via(&s.lab, VIP, 500_000, "m"),
        &["maintenance", "VI_1", "on"],
    );
    assert_converged(&s, &again.acked);
}

/// Under `writer`, runs `args` on A (a switchover, or maintenance on
/// through one) and checks that it said the peer had every write, that B
/// takes over after its Skew_Time, and that the writer's longest wait
/// stays within that and a probe round; returns what was written.
fn hand_over_to_b(s: &Setup, writer: Writer, args: &[&str]) -> Written {
    std::thread::sleep(Duration::from_secs(2));
    let o = s.lab.ctl(A, args);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && out.contains("the peer had every write"),
        "{args:?}: {out}{}\nA log:\n{}",
        String::from_utf8_lossy(&o.stderr),
        s.lab.log(A)
    );
    // B, at priority 90, hears A's priority 0 and waits its Skew_Time.
    holder(
        s,
        B,
        Duration::from_secs(1) + DB_SLACK,
        "B takes over after the switchover",
    );
    std::thread::sleep(Duration::from_secs(2));
    let written = writer.finish();
    let gap = longest_wait(&written);
    eprintln!("{args:?}: longest wait between acknowledged writes: {gap:?}");
    assert!(written.acked.len() > 20, "the writer wrote: {}", written.acked.len());
    assert!(
        gap < Duration::from_secs(4),
        "writes paused {gap:?}\nA log:\n{}\nB log:\n{}",
        s.lab.log(A),
        s.lab.log(B)
    );
    written
}

/// The longest time between two acknowledged writes.
fn longest_wait(w: &Written) -> Duration {
    w.acked_at.windows(2).map(|p| p[1] - p[0]).max().unwrap_or_default()
}

#[test]
#[ignore = "needs root, network namespaces and MariaDB; run by the full test command (scripts/test-all.sh)"]
fn planned_switchover_one_domain_per_server() {
    planned_switchover("cmswd", true);
}

#[test]
#[ignore = "needs root, network namespaces and MariaDB; run by the full test command (scripts/test-all.sh)"]
fn planned_switchover_single_domain() {
    planned_switchover("cmswz", false);
}

/// A switchover the peer cannot finish: B's SQL thread is held (a table
/// lock) past A's catch_up_timeout (2 s here). It is abandoned: exit 1
/// with the reason, A's server writable again, A still MASTER with the
/// VIP, status says so; writes through the VIP land on A again.
#[test]
#[ignore = "needs root, network namespaces and MariaDB; run by the full test command (scripts/test-all.sh)"]
fn switchover_past_catch_up_timeout_is_abandoned() {
    let mut s = setup("cmswab", true);
    let a_conf = example(&s.lab, "host-a-check_mysql.conf").replace("catch_up_timeout 60", "catch_up_timeout 2");
    assert!(a_conf.contains("catch_up_timeout 2"), "{a_conf}");
    s.lab.start(A, &a_conf, &[]);
    s.lab.start(B, &example(&s.lab, "host-b-check_mysql.conf"), &[]);
    holder(&s, A, mdi_v2(100) + DB_SLACK, "A elected");
    let mut lock =
        s.b.spawn_root("LOCK TABLES hellodb.acked WRITE; DO SLEEP(6); UNLOCK TABLES");
    std::thread::sleep(Duration::from_millis(500));
    app(&s.lab, VIP, "INSERT INTO hellodb.acked VALUES (7, 'a')").expect("a write through A");
    let o = s.lab.ctl(A, &["switchover", "VI_1"]);
    let said = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "abandoned: {said}");
    assert!(
        said.contains("did not apply") && said.contains("writable again"),
        "says why: {said}"
    );
    assert_eq!(s.a.sql("SELECT @@read_only"), "0", "A's server writable again");
    assert_eq!(s.lab.holders(VIP), [A], "A keeps the VIP");
    let st: serde_json::Value =
        serde_json::from_slice(&s.lab.ctl(A, &["status", "--json"]).stdout).expect("status --json");
    assert_eq!(st["instances"][0]["switchover"]["phase"], "abandoned", "{st}");
    assert_eq!(st["instances"][0]["state"], "MASTER", "{st}");
    let _ = lock.wait();
    app(&s.lab, VIP, "INSERT INTO hellodb.acked VALUES (8, 'a')").expect("writes land on A again");
    assert_converged(&s, &[7, 8]);
}
