//! End-to-end: the fault matrix. Each fault is applied to the master and
//! then to the backup of a pair (A at priority 100, B at 90, VRRPv2 at
//! 1 s, a tracked check script and an isolated check plugin, an IPv6
//! address beside the VIP). After each, the run must end with
//! exactly one VIP holder, the right one, within the RFC bound plus
//! slack; both daemons must be running (a daemon's own death is followed
//! by its restart, as systemd's `Restart=` does); and the fault must show
//! in a log. The database rows run the reference scenario instead: two
//! MariaDB servers as GTID dual masters, each tracked by its host's
//! check_mysql (examples/dual-master/host-[ab]-check_mysql.conf).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use common::mariadb::{available as mariadb_available, dual_master, example, wait_holder, Mariadb, DB_SLACK};
use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const A: usize = 0;
const B: usize = 1;
/// An excluded address beside the VIP, the one the kernel refuses while
/// IPv6 is disabled on the link.
const VIP6: &str = "fd00:99::100";

/// Which side of the pair a fault hits.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Target {
    Master,
    Backup,
}

impl Target {
    fn host(self) -> usize {
        match self {
            Target::Master => A,
            Target::Backup => B,
        }
    }
}

/// One row of the matrix.
struct Fault {
    name: &'static str,
    /// The sides it applies to (a backup holds no VIP to delete).
    targets: &'static [Target],
    /// Applies the fault to host `h`, and checks what must happen while
    /// it lasts.
    apply: fn(&mut Rig, usize, Target),
    /// Ends it (a restart, for a daemon's own death).
    recover: fn(&mut Rig, usize),
    /// What a log says about it: whose log (the target's or the other
    /// host's) and the text.
    logged: fn(Target) -> (Whose, &'static str),
}

#[derive(Clone, Copy)]
enum Whose {
    Target,
    Other,
}

/// A running pair and what its faults need.
struct Rig {
    lab: Lab,
    configs: [String; 2],
    /// Each host's dump directory ($TMPDIR): a small file system of its
    /// own, mounted before the daemon starts (a mount made later would not
    /// reach the mount namespace `ip netns exec` gives it).
    tmp: [PathBuf; 2],
}

impl Drop for Rig {
    fn drop(&mut self) {
        for dir in &self.tmp {
            let _ = run("umount", &[&dir.to_string_lossy()]);
        }
    }
}

/// A check script that hangs while `hang` exists in its directory.
fn script(dir: &std::path::Path) -> String {
    let path = dir.join("chk.sh");
    let hang = dir.join("hang");
    std::fs::write(
        &path,
        format!("#!/bin/sh\n[ -e {} ] && exec sleep 1000\nexit 0\n", hang.display()),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_string_lossy().to_string()
}

impl Rig {
    fn new(test: &str) -> Rig {
        let lab = Lab::new(test, 2);
        let mut configs = [String::new(), String::new()];
        let mut tmp = [PathBuf::new(), PathBuf::new()];
        for (h, prio) in [(A, 100), (B, 90)] {
            let dir = lab.dir(h);
            let plugin = rust_plugin(dir, "misbehave");
            let defs = format!(
                "vrrp_script chk {{\n    script \"{}\"\n    interval 1\n    timeout 1\n}}\n\
                 check_plugin chk_plugin {{\n    plugin {}\n    interval 0.5\n    timeout 1\n    isolate yes\n    \
                 config {{\n        mode segv\n        flag {}\n    }}\n}}\n",
                script(dir),
                plugin.display(),
                dir.join("crash").display()
            );
            let track = format!(
                "    track_script {{\n        chk\n        chk_plugin\n    }}\n    \
                 virtual_ipaddress_excluded {{\n        {VIP6}/64\n    }}"
            );
            configs[h] = format!("{defs}{}", instance("VI_1", 51, prio, &format!("{VIP}/24"), &track));
            tmp[h] = lab.dir(h).join("tmp");
            std::fs::create_dir_all(&tmp[h]).unwrap();
        }
        let mut rig = Rig { lab, configs, tmp };
        for dir in &rig.tmp {
            must(
                "mount",
                &["-t", "tmpfs", "-o", "size=64k", "tmpfs", &dir.to_string_lossy()],
            );
        }
        rig.start(A);
        rig.start(B);
        rig.lab.settle(VIP, &[A], mdi_v2(100) + SLACK);
        rig
    }

    fn start(&mut self, h: usize) {
        let tmp = self.tmp[h].to_string_lossy().to_string();
        self.lab.start_env(h, &self.configs[h].clone(), &[("TMPDIR", &tmp)]);
    }
}

fn other(h: usize) -> usize {
    1 - h
}

/// The other host holds the VIP alone within its Master_Down_Interval.
fn other_takes_over(rig: &Rig, h: usize) {
    let o = other(h);
    let prio = if o == A { 100 } else { 90 };
    wait_for(mdi_v2(prio) + SLACK, || rig.lab.has_addr(o, VIP))
        .unwrap_or_else(|| panic!("host {o} takes over:\n{}", rig.lab.log(o)));
}

fn sigkill(rig: &mut Rig, h: usize, t: Target) {
    rig.lab.kill(h);
    if t == Target::Master {
        other_takes_over(rig, h);
        assert!(rig.lab.has_addr(h, VIP), "SIGKILL leaves the VIP behind");
    }
}

fn restart(rig: &mut Rig, h: usize) {
    rig.start(h);
}

fn sigstop(rig: &mut Rig, h: usize, t: Target) {
    rig.lab.signal(h, Signal::SIGSTOP);
    if t == Target::Master {
        other_takes_over(rig, h);
    } else {
        std::thread::sleep(mdi_v2(90) + SLACK);
    }
}

fn sigcont(rig: &mut Rig, h: usize) {
    rig.lab.signal(h, Signal::SIGCONT);
}

fn partition(rig: &mut Rig, h: usize, _: Target) {
    rig.lab.cut(h);
    // Each side, alone, becomes (or stays) master.
    wait_for(mdi_v2(90) + SLACK, || rig.lab.holders(VIP) == [A, B]).expect("both sides master while cut off");
}

fn heal(rig: &mut Rig, h: usize) {
    rig.lab.heal(h);
}

fn link_down(rig: &mut Rig, h: usize, t: Target) {
    rig.lab.link(h, false);
    if t == Target::Master {
        other_takes_over(rig, h);
    } else {
        std::thread::sleep(Duration::from_secs(2));
    }
}

fn link_up(rig: &mut Rig, h: usize) {
    rig.lab.link(h, true);
}

/// Deleted twice: the second time once it is back (the daemon's own
/// removal of the already deleted VIP must not hide the next deletion).
fn delete_vip(rig: &mut Rig, h: usize, _: Target) {
    let delete = || {
        must(
            "ip",
            &["-n", rig.lab.ns(h), "addr", "del", &format!("{VIP}/24"), "dev", "eth0"],
        )
    };
    delete();
    wait_for(mdi_v2(100) + SLACK, || rig.lab.holders(VIP) == [h])
        .unwrap_or_else(|| panic!("the VIP is back on host {h}:\n{}", rig.lab.log(h)));
    delete();
    let seen = |log: &str| log.matches("Netlink reflector reports IP 10.99.0.100 removed").count();
    wait_for(Duration::from_secs(2), || seen(&rig.lab.log(h)) == 2)
        .unwrap_or_else(|| panic!("both deletions are seen on host {h}:\n{}", rig.lab.log(h)));
}

fn nothing(_: &mut Rig, _: usize) {}

fn hang_script(rig: &mut Rig, h: usize, t: Target) {
    std::fs::write(rig.lab.dir(h).join("hang"), "").unwrap();
    // Timed out: a failure, and the script's weight is 0: FAULT.
    wait_for(Duration::from_secs(5), || {
        rig.lab.log(h).contains("Entering FAULT STATE")
    })
    .unwrap_or_else(|| panic!("a hung script faults host {h}:\n{}", rig.lab.log(h)));
    if t == Target::Master {
        other_takes_over(rig, h);
    }
}

fn unhang_script(rig: &mut Rig, h: usize) {
    std::fs::remove_file(rig.lab.dir(h).join("hang")).unwrap();
}

/// $TMPDIR filled up, then a dump asked for.
fn full_tmp(rig: &mut Rig, h: usize, _: Target) {
    let fill = format!("of={}", rig.tmp[h].join("fill").display());
    let _ = run("dd", &["if=/dev/zero", &fill, "bs=4k", "count=64"]);
    rig.lab.signal(h, Signal::SIGUSR1);
    wait_for(Duration::from_secs(3), || rig.lab.log(h).contains("cannot write"))
        .unwrap_or_else(|| panic!("the failed dump is logged:\n{}", rig.lab.log(h)));
}

/// Room again: the next dump is written.
fn empty_tmp(rig: &mut Rig, h: usize) {
    std::fs::remove_file(rig.tmp[h].join("fill")).unwrap();
    rig.lab.signal(h, Signal::SIGUSR1);
    wait_for(Duration::from_secs(3), || rig.lab.log(h).contains("wrote "))
        .unwrap_or_else(|| panic!("the next dump is written:\n{}", rig.lab.log(h)));
}

/// The check plugin SIGSEGVs in its helper: the check fails (FAULT, its
/// weight is 0) and the daemon goes on.
fn crash_plugin(rig: &mut Rig, h: usize, t: Target) {
    std::fs::write(rig.lab.dir(h).join("crash"), "").unwrap();
    wait_for(Duration::from_secs(5), || {
        rig.lab.log(h).contains("Entering FAULT STATE")
    })
    .unwrap_or_else(|| panic!("a crashing plugin faults host {h}:\n{}", rig.lab.log(h)));
    if t == Target::Master {
        other_takes_over(rig, h);
    }
}

/// The flag goes: the helper, restarted after its back-off, passes.
fn heal_plugin(rig: &mut Rig, h: usize) {
    std::fs::remove_file(rig.lab.dir(h).join("crash")).unwrap();
    wait_for(Duration::from_secs(40), || rig.lab.vrrp_state(h).0 != FAULT)
        .unwrap_or_else(|| panic!("the plugin's check passes again on host {h}:\n{}", rig.lab.log(h)));
}

fn disable_ipv6(rig: &Rig, h: usize, disabled: bool) {
    let knob = format!("net.ipv6.conf.eth0.disable_ipv6={}", u8::from(disabled));
    let out = rig.lab.exec(h, &["sysctl", "-qw", &knob]);
    assert!(out.status.success(), "{knob}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The kernel refuses an address the daemon adds: IPv6 is disabled on
/// the link of the master (whose addresses go with it), or of the backup,
/// which then takes over from a stopped master. The IPv4 VIP is served
/// all the same.
fn refuse_address(rig: &mut Rig, h: usize, t: Target) {
    disable_ipv6(rig, h, true);
    if t == Target::Backup {
        rig.lab.stop(A);
        other_takes_over(rig, A);
    }
    wait_for(mdi_v2(90) + SLACK, || {
        rig.lab.log(h).contains(&format!("cannot add address {VIP6}/64"))
    })
    .unwrap_or_else(|| panic!("the refusal is logged on host {h}:\n{}", rig.lab.log(h)));
    assert!(rig.lab.has_addr(h, VIP), "the IPv4 VIP is served");
    assert!(!rig.lab.has_addr(h, VIP6));
}

/// IPv6 back: the refused address lands on a retry, before any
/// transition; a stopped master starts again.
fn allow_address(rig: &mut Rig, h: usize) {
    disable_ipv6(rig, h, false);
    wait_for(Duration::from_secs(35), || rig.lab.has_addr(h, VIP6))
        .unwrap_or_else(|| panic!("the refused address lands on host {h}:\n{}", rig.lab.log(h)));
    if !rig.lab.running(A) {
        rig.start(A);
    }
}

const BOTH: &[Target] = &[Target::Master, Target::Backup];

const MATRIX: &[Fault] = &[
    Fault {
        name: "daemon SIGKILL, leaving a stale VIP",
        targets: BOTH,
        apply: sigkill,
        recover: restart,
        logged: |t| match t {
            // The restarted daemon removes what the killed one left.
            Target::Master => (Whose::Target, "(VI_1) removing VIPs."),
            Target::Backup => (Whose::Target, "Starting rkeepalived"),
        },
    },
    Fault {
        name: "SIGSTOP longer than Master_Down_Interval, then SIGCONT",
        targets: BOTH,
        apply: sigstop,
        recover: sigcont,
        logged: |_| (Whose::Target, "the protocol loop woke"),
    },
    Fault {
        name: "partition and heal",
        targets: BOTH,
        apply: partition,
        recover: heal,
        logged: |t| match t {
            Target::Master => (Whose::Other, "Entering MASTER STATE"),
            Target::Backup => (Whose::Target, "Entering MASTER STATE"),
        },
    },
    Fault {
        name: "link down and up",
        targets: BOTH,
        apply: link_down,
        recover: link_up,
        logged: |_| (Whose::Target, "Netlink reports eth0 down"),
    },
    Fault {
        name: "the VIP deleted by hand while MASTER",
        targets: &[Target::Master],
        apply: delete_vip,
        recover: nothing,
        logged: |_| {
            (
                Whose::Target,
                "Netlink reflector reports IP 10.99.0.100 removed from eth0",
            )
        },
    },
    Fault {
        name: "a hung check script",
        targets: BOTH,
        apply: hang_script,
        recover: unhang_script,
        logged: |_| (Whose::Target, "VRRP_Script(chk) timed_out"),
    },
    Fault {
        name: "a crashing check plugin",
        targets: BOTH,
        apply: crash_plugin,
        recover: heal_plugin,
        logged: |_| (Whose::Target, "plugin helper died"),
    },
    Fault {
        name: "the kernel refusing an address add",
        targets: BOTH,
        apply: refuse_address,
        recover: allow_address,
        logged: |_| (Whose::Target, "cannot add address fd00:99::100/64: Permission denied"),
    },
    Fault {
        name: "a full $TMPDIR when a dump is asked for",
        targets: BOTH,
        apply: full_tmp,
        recover: empty_tmp,
        logged: |_| (Whose::Target, "No space left on device"),
    },
];

/// The rows that hit the database: a dual-master pair of MariaDB servers
/// under the scenario's check_mysql configurations.
struct DbFault {
    name: &'static str,
    /// Applies the fault to host `h`'s server and checks what must
    /// happen while it lasts.
    apply: fn(&mut DbRig, usize, Target),
    /// Ends it.
    recover: fn(&mut DbRig, usize),
    /// What the target's log says about it.
    logged: &'static str,
}

struct DbRig {
    lab: Lab,
    servers: [Mariadb; 2],
}

impl DbRig {
    fn new(test: &str) -> DbRig {
        let mut lab = Lab::new(test, 2);
        let extra = "slave_net_timeout=4\nread_only=ON\n";
        let mut a = Mariadb::init_with(&lab, A, 10, extra);
        let mut b = Mariadb::init_with(&lab, B, 20, extra);
        a.start();
        b.start();
        dual_master(&a, &b);
        lab.start(A, &example(&lab, "host-a-check_mysql.conf"), &[]);
        lab.start(B, &example(&lab, "host-b-check_mysql.conf"), &[]);
        let rig = DbRig { lab, servers: [a, b] };
        rig.wait_alone(A, mdi_v2(100) + DB_SLACK, "A elected");
        rig
    }

    fn server_pid(&self, h: usize) -> Pid {
        Pid::from_raw(self.servers[h].pid().expect("mariadbd runs"))
    }

    fn wait_alone(&self, h: usize, within: Duration, what: &str) {
        wait_holder(&self.lab, h, within, what);
    }

    /// A backup's fault: its host goes to FAULT, and the master keeps the
    /// VIP all the while (checked every 0.1 s over a Master_Down_Interval).
    fn backup_faults_and_master_stays(&self, h: usize) {
        wait_for(Duration::from_secs(2) + DB_SLACK, || self.lab.vrrp_state(h).0 == FAULT)
            .unwrap_or_else(|| panic!("host {h} in FAULT:\n{}", self.lab.log(h)));
        let moved = wait_for(mdi_v2(90) + DB_SLACK, || (self.lab.holders(VIP) != [A]).then_some(()));
        assert!(moved.is_none(), "the master kept the VIP: {:?}", self.lab.holders(VIP));
    }
}

/// mariadbd SIGKILLed: the target's check fails at once (connection
/// refused); it is started again afterwards, as systemd would.
fn kill_server(rig: &mut DbRig, h: usize, t: Target) {
    kill(rig.server_pid(h), Signal::SIGKILL).unwrap();
    rig.servers[h].reap();
    match t {
        // timeout 1 + the rest of the interval, then B's Skew_Time.
        Target::Master => rig.wait_alone(B, Duration::from_secs(2) + skew_v2(90) + DB_SLACK, "B takes over"),
        Target::Backup => rig.backup_faults_and_master_stays(h),
    }
}

fn restart_server(rig: &mut DbRig, h: usize) {
    rig.servers[h].start();
}

/// mariadbd SIGSTOPped: it accepts connections and answers nothing; the
/// probe's timeout fails it.
fn hang_server(rig: &mut DbRig, h: usize, t: Target) {
    kill(rig.server_pid(h), Signal::SIGSTOP).unwrap();
    match t {
        Target::Master => rig.wait_alone(B, Duration::from_secs(2) + skew_v2(90) + DB_SLACK, "B takes over"),
        Target::Backup => rig.backup_faults_and_master_stays(h),
    }
}

fn resume_server(rig: &mut DbRig, h: usize) {
    kill(rig.server_pid(h), Signal::SIGCONT).unwrap();
}

const DB_MATRIX: &[DbFault] = &[
    DbFault {
        name: "mysqld killed",
        apply: kill_server,
        recover: restart_server,
        logged: "VRRP_Script(chk_db) failed (local server: ",
    },
    DbFault {
        name: "mysqld hung",
        apply: hang_server,
        recover: resume_server,
        logged: "VRRP_Script(chk_db) failed (local server: no answer within 1s)",
    },
];

/// A database row on the master, then on the backup of the same pair of
/// servers (one set-up: they are slow to make).
fn run_db_row(test: &str, fault: &DbFault) {
    if !mariadb_available() {
        panic!("mariadb-server is not installed (the full test command installs it)");
    }
    let name = fault.name;
    let mut rig = DbRig::new(test);
    for t in [Target::Master, Target::Backup] {
        let h = t.host();
        let before = rig.lab.log(h).len();
        (fault.apply)(&mut rig, h, t);
        (fault.recover)(&mut rig, h);
        // A returns once its server has caught up (the GTID guard; no
        // writes were made, so as soon as the link runs), or stays.
        rig.wait_alone(
            A,
            Duration::from_secs(60),
            &format!("{name} on the {t:?}: A alone again"),
        );
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(rig.lab.holders(VIP), [A], "{name} on the {t:?}: still A alone");
        // The target is healthy again: BACKUP (B) or MASTER (A).
        let want = if h == A { MASTER } else { BACKUP };
        wait_for(Duration::from_secs(10) + DB_SLACK, || rig.lab.vrrp_state(h).0 == want)
            .unwrap_or_else(|| panic!("{name} on the {t:?}: host {h} recovers:\n{}", rig.lab.log(h)));
        for host in [A, B] {
            assert!(rig.lab.running(host), "{name} on the {t:?}: host {host}'s daemon died");
        }
        let log = rig.lab.log(h);
        assert!(
            log[before.min(log.len())..].contains(fault.logged),
            "{name} on the {t:?}: host {h}'s log lacks {:?}:\n{log}",
            fault.logged
        );
    }
}

/// Runs one row against each of its targets, each on a fresh pair.
fn run_row(test: &str, name: &str) {
    if let Some(fault) = DB_MATRIX.iter().find(|f| f.name == name) {
        return run_db_row(test, fault);
    }
    let fault = MATRIX.iter().find(|f| f.name == name).expect("a row of the matrix");
    for &t in fault.targets {
        let mut rig = Rig::new(test);
        let h = t.host();
        let before = [rig.lab.log(A).len(), rig.lab.log(B).len()];
        (fault.apply)(&mut rig, h, t);
        (fault.recover)(&mut rig, h);
        // A returns (preempting B where B took over): RFC bound for A,
        // plus slack for the recovery itself.
        wait_for(mdi_v2(100) + SLACK + SLACK, || rig.lab.holders(VIP) == [A]).unwrap_or_else(|| {
            panic!(
                "{name} on the {t:?}: VIP held by {:?}, expected A alone\n--- A:\n{}\n--- B:\n{}",
                rig.lab.holders(VIP),
                rig.lab.log(A),
                rig.lab.log(B)
            )
        });
        // And it stays that way: no flapping after the recovery.
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(rig.lab.holders(VIP), [A], "{name} on the {t:?}: still A alone");
        for host in [A, B] {
            assert!(rig.lab.running(host), "{name} on the {t:?}: host {host}'s daemon died");
        }
        let (whose, text) = (fault.logged)(t);
        let logger = match whose {
            Whose::Target => h,
            Whose::Other => other(h),
        };
        let log = rig.lab.log(logger);
        assert!(
            log[before[logger].min(log.len())..].contains(text),
            "{name} on the {t:?}: host {logger}'s log lacks {text:?}:\n{log}"
        );
    }
}

macro_rules! matrix_tests {
    ($($test:ident => $name:literal,)*) => {
        $(
            #[test]
            #[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
            fn $test() {
                run_row(stringify!($test), $name);
            }
        )*

        /// Every row of the matrix has its test.
        #[test]
        fn every_fault_has_a_test() {
            let tested = [$($name),*];
            let rows: Vec<&str> = MATRIX.iter().map(|f| f.name).chain(DB_MATRIX.iter().map(|f| f.name)).collect();
            for row in &rows {
                assert!(tested.contains(row), "{row} has no test");
            }
            assert_eq!(tested.len(), rows.len());
        }
    };
}

matrix_tests! {
    daemon_sigkill => "daemon SIGKILL, leaving a stale VIP",
    daemon_sigstop => "SIGSTOP longer than Master_Down_Interval, then SIGCONT",
    partition_and_heal => "partition and heal",
    link_down_and_up => "link down and up",
    vip_deleted_by_hand => "the VIP deleted by hand while MASTER",
    hung_script => "a hung check script",
    crashing_plugin => "a crashing check plugin",
    kernel_refuses_an_address => "the kernel refusing an address add",
    full_tmpdir => "a full $TMPDIR when a dump is asked for",
    mysqld_killed => "mysqld killed",
    mysqld_hung => "mysqld hung",
}

/// A `no_track` VIP deleted by hand stays deleted and its MASTER stays
/// MASTER (keepalived 2.2.7); the tracked VIP beside it is kept.
#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn a_no_track_vip_deleted_by_hand_stays_deleted() {
    let untracked = "10.99.0.101";
    let vips = format!("{VIP}/24\n        {untracked}/24 no_track");
    let mut lab = Lab::new("notrack", 1);
    lab.start(A, &instance("VI_1", 51, 100, &vips, ""), &[]);
    lab.settle(untracked, &[A], mdi_v2(100) + SLACK);
    must(
        "ip",
        &[
            "-n",
            lab.ns(A),
            "addr",
            "del",
            &format!("{untracked}/24"),
            "dev",
            "eth0",
        ],
    );
    std::thread::sleep(mdi_v2(100));
    assert!(!lab.has_addr(A, untracked), "not re-added");
    assert!(lab.has_addr(A, VIP), "the tracked VIP stays");
    assert_eq!(lab.vrrp_state(A).0, MASTER);
    assert!(!lab.log(A).contains("Netlink reflector reports"), "{}", lab.log(A));
}
