//! End-to-end: router groups of three and five, rkeepalived and Debian's
//! keepalived 2.2.7 mixed on one LAN, with distinct and with equal
//! priorities. After each scenario (election, the master cut off, heal,
//! graceful stop and restart, a tracker lowering and restoring the
//! master's priority) exactly one host holds the VIP, the one RFC 5798
//! §6.4 elects, within the RFC's bound for the scenario plus slack.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Impl {
    Ours,
    Keepalived,
}

/// Priorities of the distinct-priority groups, host by host.
const DISTINCT: [u8; 5] = [100, 200, 150, 50, 120];

struct Group {
    lab: Lab,
    impls: Vec<Impl>,
    /// Effective priorities (configured plus the tracked file's value).
    prio: Vec<u8>,
    configs: Vec<String>,
    up: Vec<bool>,
    cut: Vec<bool>,
}

impl Group {
    /// `n` hosts, every other one running keepalived; each tracks a file
    /// (`prio` in its directory, weight 1) whose value a test changes.
    fn start(test: &str, n: usize, equal: bool) -> Group {
        let mut lab = Lab::new(test, n);
        let impls: Vec<Impl> = (0..n)
            .map(|k| if k % 2 == 1 { Impl::Keepalived } else { Impl::Ours })
            .collect();
        let prio: Vec<u8> = (0..n).map(|k| if equal { 100 } else { DISTINCT[k] }).collect();
        let mut configs = Vec::new();
        for (k, &p) in prio.iter().enumerate() {
            let file = lab.dir(k).join("prio");
            std::fs::write(&file, "0\n").unwrap();
            let defs = format!("vrrp_track_file prio {{\n    file {}\n}}\n", file.display());
            let track = "    track_file {\n        prio weight 1\n    }";
            configs.push(format!(
                "{defs}{}",
                instance("VI_1", 51, p, &format!("{VIP}/24"), track)
            ));
        }
        for (k, (&which, config)) in impls.iter().zip(&configs).enumerate() {
            start_host(&mut lab, which, k, config);
            if equal {
                // Staggered: the first to start times out first, and its
                // adverts, of equal priority, are accepted by the rest.
                std::thread::sleep(Duration::from_millis(500));
            }
        }
        Group {
            lab,
            impls,
            prio,
            configs,
            up: vec![true; n],
            cut: vec![false; n],
        }
    }

    /// The hosts running and on the LAN.
    fn members(&self) -> Vec<usize> {
        (0..self.prio.len()).filter(|&k| self.up[k] && !self.cut[k]).collect()
    }

    /// Of two masters, the one that stays (§6.4.3).
    fn greater(&self, a: usize, b: usize) -> usize {
        [a, b].into_iter().max_by_key(|&k| self.rank(k)).unwrap_or(a)
    }

    fn rank(&self, k: usize) -> (u8, std::net::Ipv4Addr) {
        (self.prio[k], self.lab.hosts[k].v4.parse().unwrap())
    }

    /// The host the RFC elects among the members.
    fn rightful(&self) -> usize {
        self.members()
            .into_iter()
            .max_by_key(|&k| self.rank(k))
            .expect("a member")
    }

    /// The members the RFC may elect when their timers race: every
    /// member of the top priority (the first to time out wins; two that
    /// time out together break the tie by address).
    fn tied(&self) -> Vec<usize> {
        let top = self.members().into_iter().map(|k| self.prio[k]).max();
        self.members()
            .into_iter()
            .filter(|&k| Some(self.prio[k]) == top)
            .collect()
    }

    /// Within `bound` plus slack, one of `want` alone holds the VIP among
    /// the members (cut-off hosts keep theirs, alone), and still does a
    /// second later: returns it.
    fn settled(&self, want: &[usize], bound: Duration, what: &str) -> usize {
        let cut: Vec<usize> = (0..self.prio.len()).filter(|&k| self.cut[k] && self.up[k]).collect();
        let members = self.members();
        let holder = || {
            let holders = self.lab.holders(VIP);
            let (ours, theirs): (Vec<usize>, Vec<usize>) = holders.iter().partition(|k| members.contains(k));
            match ours[..] {
                [one] if want.contains(&one) && theirs == cut => Some(one),
                _ => None,
            }
        };
        let ok = wait_for(bound + SLACK, || holder().is_some());
        std::thread::sleep(Duration::from_secs(1));
        match (ok, holder()) {
            (Some(_), Some(one)) => one,
            _ => {
                let logs: String = (0..self.prio.len())
                    .map(|k| {
                        format!(
                            "--- h{k} ({:?}, priority {}):\n{}\n",
                            self.impls[k],
                            self.prio[k],
                            self.lab.log(k)
                        )
                    })
                    .collect();
                panic!(
                    "{what}: VIP held by {:?}, expected one of {want:?} (and the cut-off {cut:?}) within {bound:?}\n{logs}",
                    self.lab.holders(VIP)
                );
            }
        }
    }

    fn set_tracked(&mut self, k: usize, delta: i32, base: u8) {
        std::fs::write(self.lab.dir(k).join("prio"), format!("{delta}\n")).unwrap();
        self.prio[k] = (i32::from(base) + delta) as u8;
    }
}

fn start_host(lab: &mut Lab, which: Impl, k: usize, config: &str) {
    match which {
        Impl::Ours => lab.start(k, config, &[]),
        Impl::Keepalived => lab.start_keepalived(k, config),
    }
}

fn run(test: &str, n: usize, equal: bool) {
    if !which("keepalived") {
        panic!("keepalived is not installed: scripts/test-all.sh installs it");
    }
    let mut g = Group::start(test, n, equal);
    let interval = Duration::from_secs(1);

    // Election: the highest priority; among equals the first to start
    // (§6.4.2: an advert of equal priority resets a backup's timer, the
    // address only breaks ties between two masters).
    let top = if equal { 0 } else { g.rightful() };
    let m = g.settled(&[top], mdi_v2(g.prio[top]), "election");

    // The master cut off: the rest elect the next after its
    // Master_Down_Interval from the last advert they heard.
    g.lab.cut(m);
    g.cut[m] = true;
    let next = g.tied();
    let other = g.settled(&next, interval + mdi_v2(g.prio[next[0]]), "master cut off");

    // Heal: of the two masters, the lesser (priority, then address)
    // yields on the first advert.
    g.lab.heal(m);
    g.cut[m] = false;
    let m = g.settled(&[g.greater(m, other)], interval, "heal");

    // Graceful stop: priority 0, the next takes over after Skew_Time.
    g.lab.stop(m);
    g.up[m] = false;
    let next = g.tied();
    let current = g.settled(&next, skew_v2(g.prio[next[0]]), "graceful stop");

    // Back again: a higher priority preempts after its own
    // Master_Down_Interval, an equal one does not.
    let config = g.configs[m].clone();
    start_host(&mut g.lab, g.impls[m], m, &config);
    g.up[m] = true;
    let want = if g.prio[m] > g.prio[current] { m } else { current };
    let m = g.settled(&[want], mdi_v2(g.prio[m]), "restart");

    // A tracker lowers the master below everyone: the others discard its
    // adverts and the next takes over after its Master_Down_Interval.
    let base = g.prio[m];
    g.set_tracked(m, 40 - i32::from(base), base);
    let next = g.tied();
    let current = g.settled(&next, interval + mdi_v2(g.prio[next[0]]), "master's priority lowered");

    // Restored: a higher priority preempts again; an equal one stays put.
    g.set_tracked(m, 0, base);
    let want = if g.prio[m] > g.prio[current] { m } else { current };
    g.settled(&[want], interval + mdi_v2(g.prio[m]), "master's priority restored");
}

#[test]
#[ignore = "needs root, network namespaces and keepalived; run by the full test command (scripts/test-all.sh)"]
fn three_routers_distinct_priorities() {
    run("grp3d", 3, false);
}

#[test]
#[ignore = "needs root, network namespaces and keepalived; run by the full test command (scripts/test-all.sh)"]
fn three_routers_equal_priorities() {
    run("grp3e", 3, true);
}

#[test]
#[ignore = "needs root, network namespaces and keepalived; run by the full test command (scripts/test-all.sh)"]
fn five_routers_distinct_priorities() {
    run("grp5d", 5, false);
}

#[test]
#[ignore = "needs root, network namespaces and keepalived; run by the full test command (scripts/test-all.sh)"]
fn five_routers_equal_priorities() {
    run("grp5e", 5, true);
}
