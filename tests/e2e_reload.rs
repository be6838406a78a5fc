//! The reload matrix: what a HUP does to an instance, for every kind of
//! change an admin makes, crossed with the state of its check and its role,
//! run against rkeepalived and against Debian's keepalived 2.2.7 in the
//! same cells.
//!
//! One lab per (check state, role) and implementation: host A runs VI_1
//! (the subject, tracking `chk`) and VI_2 (unrelated); host B runs the
//! peers. VRRPv3 at 0.1 s. The changes are applied one after another, each
//! by a HUP, each watched for 3 × Master_Down_Interval and more. Every
//! advert and gratuitous ARP of A is captured on its switch port; the
//! notify script appends each call to a file; the logs give transitions.
//!
//! - An instance the change did not touch: no transition, no notify, no
//!   extra advert (no gap shorter than a quarter interval), no gratuitous
//!   ARP, same priority on the wire, VIP where it was. rkeepalived must
//!   meet all of it; keepalived 2.2.7 is held to what it does (it re-sends
//!   an advert for every instance on reload: counted, printed).
//! - A changed instance: the same transitions, notifies, gratuitous ARPs
//!   and advertised priority as keepalived 2.2.7 in the same cell, unless
//!   the difference is listed in `DEVIATIONS` (and compat/DEVIATIONS.md).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;

const INTERVAL: f64 = 0.1;
/// After each HUP: 3 × Master_Down_Interval (0.36 s at priority 100) and
/// the slowest check's interval.
const WATCH: Duration = Duration::from_millis(2200);
const VIP1: &str = "10.99.0.100";
const VIP1B: &str = "10.99.0.110";
const VIP2: &str = "10.99.0.102";
const VIP3: &str = "10.99.0.103";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Impl {
    Rk,
    Ka,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Passing, `init_fail`, rise 3, weight 0.
    Passing,
    /// Always failing, weight −30.
    FailingWeighted,
    /// Always failing, weight 0: FAULT, the peer is MASTER.
    Fault,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Master,
    Backup,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    None,
    OtherAdded,
    OtherChanged,
    OtherRemoved,
    RouterId,
    GarpInterval,
    OwnVip,
    OwnPriority,
    OwnScript,
}

impl Change {
    const ALL: [Change; 9] = [
        Change::None,
        Change::OtherAdded,
        Change::OtherChanged,
        Change::OtherRemoved,
        Change::RouterId,
        Change::GarpInterval,
        Change::OwnVip,
        Change::OwnPriority,
        Change::OwnScript,
    ];

    /// Whether the change touches VI_1.
    fn touches_subject(self) -> bool {
        matches!(self, Change::OwnVip | Change::OwnPriority | Change::OwnScript)
    }
}

/// A's configuration after the changes up to and including `upto`.
#[derive(Debug, Clone)]
struct Settings {
    check: Check,
    role: Role,
    dir: PathBuf,
    other_added: bool,
    other_prio: u8,
    router_id: &'static str,
    garp_interval: &'static str,
    own_vip2: bool,
    own_prio_delta: i16,
    script: &'static str,
}

impl Settings {
    fn new(check: Check, role: Role, dir: &Path) -> Settings {
        Settings {
            check,
            role,
            dir: dir.to_path_buf(),
            other_added: false,
            other_prio: 100,
            router_id: "lab_a",
            garp_interval: "0.01",
            own_vip2: false,
            own_prio_delta: 0,
            script: "chk1.sh",
        }
    }

    fn apply(&mut self, c: Change) {
        match c {
            Change::None => {}
            Change::OtherAdded => self.other_added = true,
            Change::OtherChanged => self.other_prio = 95,
            Change::OtherRemoved => self.other_added = false,
            Change::RouterId => self.router_id = "lab_a_renamed",
            Change::GarpInterval => self.garp_interval = "0.02",
            Change::OwnVip => self.own_vip2 = true,
            // Within the role: a MASTER rises, a BACKUP falls.
            Change::OwnPriority => self.own_prio_delta = if self.role == Role::Master { 5 } else { -5 },
            Change::OwnScript => self.script = "chk2.sh",
        }
    }

    /// A's base priority for VI_1.
    fn base(&self) -> i16 {
        let b = match (self.check, self.role) {
            (Check::Passing, Role::Master) | (Check::Fault, _) => 100,
            (Check::Passing, Role::Backup) => 90,
            (Check::FailingWeighted, Role::Master) => 100,
            (Check::FailingWeighted, Role::Backup) => 100,
        };
        b + self.own_prio_delta
    }

    /// The priority A advertises for VI_1.
    fn effective(&self) -> i16 {
        match self.check {
            Check::FailingWeighted => self.base() - 30,
            _ => self.base(),
        }
    }

    fn a_config(&self) -> String {
        let d = self.dir.display();
        let (rise, weight, init_fail) = match self.check {
            Check::Passing => (3, 0, "    init_fail\n"),
            Check::FailingWeighted => (1, -30, ""),
            Check::Fault => (1, 0, ""),
        };
        let mut c = format!(
            "global_defs {{\n    router_id {}\n    vrrp_garp_interval {}\n    vrrp_garp_master_delay 0\n    enable_script_security\n    script_user root\n    vrrp_version 3\n}}\n\
             vrrp_script chk {{\n    script \"{d}/{}\"\n    interval 1\n    rise {rise}\n    fall 1\n    weight {weight}\n{init_fail}}}\n",
            self.router_id, self.garp_interval, self.script
        );
        // The added VIP is an excluded one: adverts (and the peer's address
        // check) stay as they are.
        let excluded = if self.own_vip2 {
            format!("    virtual_ipaddress_excluded {{\n        {VIP1B}/24\n    }}\n")
        } else {
            String::new()
        };
        c += &block(
            "VI_1",
            51,
            self.base() as u8,
            &format!("{VIP1}/24"),
            &format!("    track_script {{\n        chk\n    }}\n{excluded}    notify {d}/notify.sh"),
        );
        c += &block(
            "VI_2",
            52,
            self.other_prio,
            &format!("{VIP2}/24"),
            &format!("    notify {d}/notify.sh"),
        );
        if self.other_added {
            c += &block(
                "VI_3",
                53,
                100,
                &format!("{VIP3}/24"),
                &format!("    notify {d}/notify.sh"),
            );
        }
        c
    }

    /// B's priority for VI_1: below A's effective one as MASTER, above it
    /// as BACKUP; FAULT leaves B as MASTER.
    fn b_config(&self) -> String {
        let prio = match (self.check, self.role) {
            (Check::Passing, Role::Master) => 90,
            (Check::Passing, Role::Backup) => 100,
            (Check::FailingWeighted, Role::Master) => 60,
            (Check::FailingWeighted, Role::Backup) => 90,
            (Check::Fault, _) => 90,
        };
        let mut c = "global_defs {\n    vrrp_version 3\n}\n".to_string();
        c += &block("VI_1", 51, prio, &format!("{VIP1}/24"), "");
        c += &block("VI_2", 52, 90, &format!("{VIP2}/24"), "");
        c += &block("VI_3", 53, 90, &format!("{VIP3}/24"), "");
        c
    }
}

fn block(name: &str, vrid: u8, prio: u8, vips: &str, extra: &str) -> String {
    format!(
        "vrrp_instance {name} {{\n    interface eth0\n    virtual_router_id {vrid}\n    priority {prio}\n    advert_int {INTERVAL}\n    virtual_ipaddress {{\n        {vips}\n    }}\n{extra}\n}}\n"
    )
}

/// What A did for VI_1 in one window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Trace {
    /// States entered, from the log ("MASTER", "BACKUP", "FAULT").
    transitions: Vec<String>,
    /// Notify calls for VI_1 ("MASTER 100" …).
    notifies: Vec<String>,
    adverts: usize,
    /// Adverts less than a quarter interval after the previous one.
    extra_adverts: usize,
    /// Priorities seen in A's VI_1 adverts (in order, deduplicated).
    priorities: Vec<u8>,
    garps: usize,
    holds_vip_after: bool,
}

impl Trace {
    /// The fields a changed instance is compared on: transitions,
    /// notifies, whether it announced its addresses, the priority it
    /// advertises in the end, whether it holds the VIP. (keepalived's
    /// reload re-sends every master's advert before applying a new
    /// priority, so the first priority seen may be the old one.)
    fn sequence(&self) -> (Vec<String>, Vec<String>, bool, Option<u8>, bool) {
        (
            self.transitions.clone(),
            self.notifies.clone(),
            self.garps > 0,
            self.priorities.last().copied(),
            self.holds_vip_after,
        )
    }
}

fn epoch(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

fn executable(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

struct Cell {
    imp: Impl,
    check: Check,
    role: Role,
}

/// Runs one lab through every change; returns the trace of each step.
fn run_cell(cell: &Cell) -> Vec<(Change, Trace)> {
    let tag = format!(
        "rl{}{}{}",
        match cell.imp {
            Impl::Rk => "r",
            Impl::Ka => "k",
        },
        match cell.check {
            Check::Passing => "p",
            Check::FailingWeighted => "w",
            Check::Fault => "f",
        },
        match cell.role {
            Role::Master => "m",
            Role::Backup => "b",
        }
    );
    let mut lab = Lab::new(&tag, 2);
    let dir = lab.dir(0).to_path_buf();
    let outcome = if cell.check == Check::Passing { 0 } else { 1 };
    for s in ["chk1.sh", "chk2.sh"] {
        executable(&dir.join(s), &format!("#!/bin/sh\nexit {outcome}\n"));
    }
    let notes = dir.join("notify.log");
    executable(
        &dir.join("notify.sh"),
        &format!("#!/bin/sh\necho \"$*\" >> {}\n", notes.display()),
    );
    let mut s = Settings::new(cell.check, cell.role, &dir);
    let mac = String::from_utf8_lossy(&lab.exec(0, &["cat", "/sys/class/net/eth0/address"]).stdout)
        .trim()
        .to_string();
    let pcap = lab.capture_port(0, "ip proto 112 or arp");
    let start = |lab: &mut Lab, i: usize, cfg: &str| match cell.imp {
        Impl::Rk => lab.start(i, cfg, &[]),
        Impl::Ka => lab.start_keepalived(i, cfg),
    };
    start(&mut lab, 1, &s.b_config());
    start(&mut lab, 0, &s.a_config());
    // Converged: the subject as the cell wants it (init_fail needs rise
    // 3 at interval 1 first), VI_2 master on A.
    let want_vip = cell.role == Role::Master && cell.check != Check::Fault;
    let ok = wait_for(Duration::from_secs(12), || {
        lab.has_addr(0, VIP1) == want_vip && lab.has_addr(0, VIP2) && lab.has_addr(1, VIP1) != want_vip
    });
    assert!(
        ok.is_some(),
        "{tag}: not converged\n--- A:\n{}\n--- B:\n{}",
        lab.log(0),
        lab.log(1)
    );
    std::thread::sleep(Duration::from_secs(2));
    let mut marks = Vec::new();
    for c in Change::ALL {
        s.apply(c);
        let log_at = lab.log(0).len();
        let notes_at = std::fs::read_to_string(&notes).unwrap_or_default().len();
        lab.write_config(0, &s.a_config());
        let t0 = SystemTime::now();
        lab.signal(0, nix::sys::signal::Signal::SIGHUP);
        std::thread::sleep(WATCH);
        let t1 = SystemTime::now();
        let log = lab.log(0)[log_at..].to_string();
        let notified = std::fs::read_to_string(&notes).unwrap_or_default()[notes_at..].to_string();
        marks.push((c, epoch(t0), epoch(t1), log, notified, lab.has_addr(0, VIP1)));
    }
    lab.stop_captures();
    let frames = read_pcap(&pcap);
    marks
        .into_iter()
        .map(|(c, t0, t1, log, notified, holds)| {
            let mut t = Trace {
                holds_vip_after: holds,
                ..Default::default()
            };
            for line in log.lines() {
                if let Some(rest) = line.split("(VI_1) Entering ").nth(1) {
                    t.transitions.push(rest.split(' ').next().unwrap_or("").to_string());
                }
            }
            for line in notified.lines() {
                if let Some(rest) = line.strip_prefix("INSTANCE VI_1 ") {
                    t.notifies.push(rest.to_string());
                }
            }
            let mut last: Option<f64> = None;
            for (at, f) in &frames {
                if *at < t0 || *at > t1 || f.len() < 42 {
                    continue;
                }
                let src_mac = f[6..12]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(":");
                if src_mac != mac {
                    continue;
                }
                let ours = |ip: &[u8]| {
                    [VIP1, VIP1B]
                        .iter()
                        .any(|v| ip == v.parse::<std::net::Ipv4Addr>().unwrap().octets())
                };
                match u16::from_be_bytes([f[12], f[13]]) {
                    // Gratuitous: sender and target address are the VIP.
                    0x0806 if ours(&f[28..32]) && f[28..32] == f[38..42] => t.garps += 1,
                    0x0800 if f[23] == 112 && f.len() >= 37 && f[35] == 51 => {
                        t.adverts += 1;
                        if last.is_some_and(|l| at - l < INTERVAL / 4.0) {
                            t.extra_adverts += 1;
                        }
                        last = Some(*at);
                        let p = f[36];
                        if t.priorities.last() != Some(&p) {
                            t.priorities.push(p);
                        }
                    }
                    _ => {}
                }
            }
            (c, t)
        })
        .collect()
}

/// Differences from keepalived 2.2.7 a changed instance may show, each
/// listed in compat/DEVIATIONS.md: (check, role, change, why).
const DEVIATIONS: &[(Check, Role, Change, &str)] = &[];

#[test]
#[ignore = "needs root, network namespaces and keepalived; run by the full test command (scripts/test-all.sh)"]
fn reload_matrix_against_keepalived() {
    assert!(
        which("keepalived"),
        "keepalived is not installed (the full test command installs it)"
    );
    let cells: Vec<Cell> = [
        (Check::Passing, Role::Master),
        (Check::Passing, Role::Backup),
        (Check::FailingWeighted, Role::Master),
        (Check::FailingWeighted, Role::Backup),
        (Check::Fault, Role::Backup),
    ]
    .into_iter()
    .flat_map(|(check, role)| [Impl::Rk, Impl::Ka].map(|imp| Cell { imp, check, role }))
    .collect();
    let results: Vec<(&Cell, Vec<(Change, Trace)>)> = std::thread::scope(|sc| {
        let handles: Vec<_> = cells.iter().map(|c| (c, sc.spawn(move || run_cell(c)))).collect();
        handles
            .into_iter()
            .map(|(c, h)| (c, h.join().expect("lab panicked")))
            .collect()
    });
    let mut failures = Vec::new();
    for (cell, steps) in &results {
        for (change, t) in steps {
            println!("{:?} {:?} {:?} {:?}: {t:?}", cell.imp, cell.check, cell.role, change);
        }
        let mut s = Settings::new(cell.check, cell.role, Path::new("/"));
        for (change, t) in steps {
            s.apply(*change);
            let cell_name = format!("{:?} {:?}/{:?} after {:?}", cell.imp, cell.check, cell.role, change);
            let master = cell.role == Role::Master && cell.check != Check::Fault;
            if change.touches_subject() {
                continue;
            }
            // Untouched: nothing changed for VI_1, whoever runs it.
            if !t.transitions.is_empty() || !t.notifies.is_empty() {
                failures.push(format!(
                    "{cell_name}: transitions {:?}, notifies {:?}",
                    t.transitions, t.notifies
                ));
            }
            if t.holds_vip_after != master {
                failures.push(format!("{cell_name}: VIP held {}", t.holds_vip_after));
            }
            let want_prio = s.effective() as u8;
            if master && t.priorities != [want_prio] {
                failures.push(format!(
                    "{cell_name}: advertised {:?}, want [{want_prio}]",
                    t.priorities
                ));
            }
            if cell.imp == Impl::Rk {
                if t.extra_adverts > 0 || t.garps > 0 {
                    failures.push(format!(
                        "{cell_name}: {} extra adverts, {} GARPs",
                        t.extra_adverts, t.garps
                    ));
                }
                if !master && t.adverts > 0 {
                    failures.push(format!("{cell_name}: {} adverts from a non-master", t.adverts));
                }
            }
        }
    }
    // A changed instance: rkeepalived's sequence is keepalived's.
    for (cell, steps) in results.iter().filter(|(c, _)| c.imp == Impl::Rk) {
        let Some((_, ka)) = results
            .iter()
            .find(|(c, _)| c.imp == Impl::Ka && c.check == cell.check && c.role == cell.role)
        else {
            continue;
        };
        for ((change, r), (_, k)) in steps.iter().zip(ka) {
            if !change.touches_subject() || r.sequence() == k.sequence() {
                continue;
            }
            let listed = DEVIATIONS
                .iter()
                .any(|(ch, ro, c, _)| *ch == cell.check && *ro == cell.role && c == change);
            if !listed {
                failures.push(format!(
                    "{:?}/{:?} after {:?}: rkeepalived {:?}, keepalived {:?}",
                    cell.check,
                    cell.role,
                    change,
                    r.sequence(),
                    k.sequence()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// What A did when a reload removed VI_2 (MASTER): its adverts with
/// priority 0, the notify calls, whether VI_2's VIP is gone.
fn retire(imp: Impl, deleted: bool) -> (Vec<u8>, Vec<String>, bool) {
    let mut lab = Lab::new(if deleted { "retdel" } else { "retfault" }, 1);
    let dir = lab.dir(0).to_path_buf();
    let notes = dir.join("notify.log");
    executable(
        &dir.join("notify.sh"),
        &format!("#!/bin/sh\necho \"$*\" >> {}\n", notes.display()),
    );
    let d = dir.display();
    let specific = if deleted {
        format!("    notify_deleted \"{d}/notify.sh DELETED_SCRIPT\"\n")
    } else {
        String::new()
    };
    let vi2 = block(
        "VI_2",
        52,
        100,
        &format!("{VIP2}/24"),
        &format!("    notify {d}/notify.sh\n    notify_fault \"{d}/notify.sh FAULT_SCRIPT\"\n{specific}"),
    );
    let head = "global_defs {\n    enable_script_security\n    script_user root\n    vrrp_version 3\n}\n";
    let vi1 = block("VI_1", 51, 100, &format!("{VIP1}/24"), "");
    let pcap = lab.capture_port(0, "ip proto 112");
    let cfg = format!("{head}{vi1}{vi2}");
    match imp {
        Impl::Rk => lab.start(0, &cfg, &[]),
        Impl::Ka => lab.start_keepalived(0, &cfg),
    }
    wait_for(Duration::from_secs(5), || lab.has_addr(0, VIP2)).expect("VI_2 master");
    std::thread::sleep(Duration::from_millis(500));
    let t0 = epoch(SystemTime::now());
    lab.write_config(0, &format!("{head}{vi1}"));
    lab.signal(0, nix::sys::signal::Signal::SIGHUP);
    std::thread::sleep(Duration::from_secs(2));
    lab.stop_captures();
    let zeros = vrrp_adverts(&pcap)
        .into_iter()
        .filter(|a| a.0 >= t0 && a.3 == 52)
        .map(|a| a.4)
        .collect();
    let calls = std::fs::read_to_string(&notes)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with("INSTANCE VI_2 BACKUP") && !l.starts_with("INSTANCE VI_2 MASTER"))
        .map(str::to_string)
        .collect();
    (zeros, calls, lab.has_addr(0, VIP2))
}

/// A reload that removes a MASTER: it sends priority 0 and releases its
/// VIP; the generic notify hears FAULT, or DELETED with `notify_deleted`
/// (whose script then runs); `notify_fault` does not run — as keepalived
/// 2.2.7 does it.
#[test]
#[ignore = "needs root, network namespaces and keepalived; run by the full test command (scripts/test-all.sh)"]
fn a_removed_instance_retires_as_keepalived_retires_it() {
    assert!(
        which("keepalived"),
        "keepalived is not installed (the full test command installs it)"
    );
    for deleted in [false, true] {
        let (rk, ka) = std::thread::scope(|s| {
            let rk = s.spawn(|| retire(Impl::Rk, deleted));
            let ka = s.spawn(|| retire(Impl::Ka, deleted));
            (rk.join().expect("rk"), ka.join().expect("ka"))
        });
        let mut want = vec![if deleted {
            "INSTANCE VI_2 DELETED 100"
        } else {
            "INSTANCE VI_2 FAULT 100"
        }
        .to_string()];
        if deleted {
            want.push("DELETED_SCRIPT".into());
        }
        for (who, (adverts, mut calls, holds)) in [("rkeepalived", rk), ("keepalived", ka)] {
            calls.sort();
            want.sort();
            assert_eq!(
                adverts.last(),
                Some(&0),
                "{who}: VI_2's last advert is priority 0: {adverts:?}"
            );
            if who == "rkeepalived" {
                assert_eq!(adverts, [0], "no advert re-sent on reload before the goodbye");
            }
            assert_eq!(calls, want, "{who}: notify calls (notify_deleted {deleted})");
            assert!(!holds, "{who}: VI_2's VIP released");
        }
    }
}
