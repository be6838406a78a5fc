//! Scenarios on the simulated LAN. After each: exactly one master, the
//! right one, and convergence in the time the RFC formulas give (virtual
//! time is exact; the only slack is the LAN latency and one interval where
//! the phase of adverts matters).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::instance::{Event, Params, State};
use super::packet::Version;
use super::sim::Sim;
use super::timers::{master_down_interval, skew_time};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or_else(|_| panic!("{s}"))
}

fn p(prio: u8) -> Params {
    Params::new("VI_1", 51, prio, Version::V2, vec![ip("10.0.0.100")])
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn mdi(prio: u8) -> Duration {
    master_down_interval(Version::V2, prio, secs(1.0), 3)
}

/// Exactly one master, on `node`, and it alone holds the VIPs.
fn assert_single_master(sim: &Sim, node: usize) {
    assert_eq!(
        sim.masters("VI_1"),
        [node],
        "masters; transitions: {:#?}",
        sim.transitions
    );
    assert_eq!(sim.vip_holders("VI_1"), [node], "VIP holders");
}

fn pair(a: Params, b: Params) -> (Sim, usize, usize) {
    let mut sim = Sim::new(Instant::now());
    let na = sim.add_node("A", ip("10.0.0.1"), vec![a]);
    let nb = sim.add_node("B", ip("10.0.0.2"), vec![b]);
    (sim, na, nb)
}

/// RFC 5798 §6.4.1–2: started together, the higher priority wins after its
/// own Master_Down_Interval (3.609 s at 100), and the other never flaps.
#[test]
fn election_on_simultaneous_start() {
    let (mut sim, a, b) = pair(p(100), p(90));
    sim.start(a);
    sim.start(b);
    sim.run_for(secs(30.0));
    assert_single_master(&sim, a);
    assert_eq!(sim.last_transition(a, "VI_1", State::Master), Some(mdi(100)));
    assert_eq!(
        sim.last_transition(b, "VI_1", State::Master),
        None,
        "B never became master"
    );
}

/// KA §7.2: master killed (no goodbye) → the backup takes over exactly
/// Master_Down_Interval after the last advert it heard (keepalived measured
/// 3.649 s for the RFC's 3.648 s).
#[test]
fn takeover_after_crash_takes_master_down_interval() {
    let (mut sim, a, b) = pair(p(100), p(90));
    sim.start(a);
    sim.start(b);
    sim.run_for(secs(10.3));
    sim.crash(a);
    let last = sim.last_advert(a, 51).unwrap_or_default();
    sim.run_for(secs(10.0));
    assert_eq!(sim.masters("VI_1"), [b]);
    let took = sim.last_transition(b, "VI_1", State::Master).unwrap_or_default();
    assert_eq!(took - last, mdi(90) + sim.latency);
    // The crashed node still has the VIP configured (as SIGKILL leaves it).
    assert_eq!(sim.vip_holders("VI_1"), [a, b]);
}

/// RFC 5798 §6.4.3 Shutdown + §6.4.2: graceful stop → priority 0 → the
/// backup takes over after Skew_Time (keepalived measured 0.650 s at 90).
#[test]
fn graceful_stop_hands_over_after_skew_time() {
    let (mut sim, a, b) = pair(p(100), p(90));
    sim.start(a);
    sim.start(b);
    sim.run_for(secs(10.0));
    let stopped_at = sim.elapsed();
    sim.stop(a);
    sim.run_for(secs(5.0));
    assert_single_master(&sim, b);
    let took = sim.last_transition(b, "VI_1", State::Master).unwrap_or_default();
    assert_eq!(took - stopped_at, skew_time(Version::V2, 90, secs(1.0)) + sim.latency);
}

/// KA §7.4: a higher-priority node joining later preempts after its own
/// Master_Down_Interval (measured 3.625 s); the old master yields on its
/// first advert.
#[test]
fn preemption_by_a_joining_higher_priority_node() {
    let (mut sim, a, b) = pair(p(100), p(90));
    sim.start(b);
    sim.run_for(secs(10.0));
    assert_single_master(&sim, b);
    let joined = sim.elapsed();
    sim.start(a);
    sim.run_for(secs(10.0));
    assert_single_master(&sim, a);
    let took = sim.last_transition(a, "VI_1", State::Master).unwrap_or_default();
    assert_eq!(took - joined, mdi(100));
    let yielded = sim.last_transition(b, "VI_1", State::Backup).unwrap_or_default();
    assert_eq!(yielded - took, sim.latency);
}

/// KA §7.4: nopreempt — the higher-priority node never takes over from a
/// live master (20 s observed), only when it stops.
#[test]
fn nopreempt_never_preempts_a_live_master() {
    let (mut sim, a, b) = pair(
        Params {
            nopreempt: true,
            ..p(100)
        },
        p(90),
    );
    sim.start(b);
    sim.run_for(secs(5.0));
    sim.start(a);
    sim.run_for(secs(60.0));
    assert_single_master(&sim, b);
    sim.stop(b);
    sim.run_for(secs(5.0));
    assert_single_master(&sim, a);
}

/// KA §7.4 and keepalived.conf(5): preempt_delay 5 → takeover about
/// delay + Master_Down_Interval after joining, within one advert interval
/// depending on the phase of the master's adverts (measured 8.273 s).
#[test]
fn preempt_delay_delays_preemption() {
    let (mut sim, a, b) = pair(
        Params {
            preempt_delay: secs(5.0),
            ..p(100)
        },
        p(90),
    );
    sim.start(b);
    sim.run_for(secs(5.5));
    let joined = sim.elapsed();
    sim.start(a);
    sim.run_for(secs(20.0));
    assert_single_master(&sim, a);
    let took = sim.last_transition(a, "VI_1", State::Master).unwrap_or_default() - joined;
    let nominal = secs(5.0) + mdi(100);
    assert!(
        took >= nominal - secs(1.0) && took <= nominal + secs(1.0),
        "took {took:?}"
    );
    // Without the delay the same join preempts after Master_Down_Interval.
    let (mut sim, a, b) = pair(p(100), p(90));
    sim.start(b);
    sim.run_for(secs(5.5));
    sim.start(a);
    sim.run_for(secs(20.0));
    assert_eq!(
        sim.last_transition(a, "VI_1", State::Master),
        Some(secs(5.5) + mdi(100))
    );
}

/// KA §7.4: an equal-priority node joining does not preempt.
#[test]
fn equal_priority_joiner_does_not_preempt() {
    let (mut sim, a, b) = pair(p(100), p(100));
    sim.start(a);
    sim.run_for(secs(10.0));
    sim.start(b);
    sim.run_for(secs(30.0));
    assert_single_master(&sim, a);
}

/// KA §3.4: an equal-priority split brain heals to the higher address.
#[test]
fn partition_heal_equal_priority_higher_address_wins() {
    let (mut sim, a, b) = pair(p(100), p(100));
    sim.start(a);
    sim.start(b);
    sim.run_for(secs(10.0));
    sim.set_segment(b, 1);
    sim.run_for(secs(10.0));
    assert_eq!(sim.masters("VI_1"), [a, b], "both master while partitioned");
    sim.set_segment(b, 0);
    sim.run_for(secs(3.0));
    assert_single_master(&sim, b);
}

/// A partition where the link stays up: the cut-off backup becomes master;
/// after the heal the higher priority keeps it within one interval.
#[test]
fn partition_and_heal_unequal_priorities() {
    let (mut sim, a, b) = pair(p(100), p(90));
    sim.start(a);
    sim.start(b);
    sim.run_for(secs(10.0));
    sim.set_segment(a, 7);
    sim.run_for(secs(10.0));
    assert_eq!(sim.masters("VI_1"), [a, b]);
    let healed = sim.elapsed();
    sim.set_segment(a, 0);
    sim.run_for(secs(5.0));
    assert_single_master(&sim, a);
    let yielded = sim.last_transition(b, "VI_1", State::Backup).unwrap_or_default();
    assert!(yielded - healed <= secs(1.0) + sim.latency, "{:?}", yielded - healed);
}

/// KA §3.5: a fault on the master sends priority 0; the backup takes over
/// after Skew_Time; when the fault clears the first node preempts again.
#[test]
fn fault_hands_over_and_recovery_preempts_back() {
    let (mut sim, a, b) = pair(p(100), p(90));
    sim.start(a);
    sim.start(b);
    sim.run_for(secs(10.0));
    let at = sim.elapsed();
    sim.event(a, sim.id(a, 0), Event::Fault(true));
    sim.run_for(secs(5.0));
    assert_single_master(&sim, b);
    assert_eq!(
        sim.last_transition(b, "VI_1", State::Master).unwrap_or_default() - at,
        skew_time(Version::V2, 90, secs(1.0)) + sim.latency
    );
    sim.event(a, sim.id(a, 0), Event::Fault(false));
    let cleared = sim.elapsed();
    sim.run_for(secs(10.0));
    assert_single_master(&sim, a);
    assert_eq!(
        sim.last_transition(a, "VI_1", State::Master).unwrap_or_default() - cleared,
        mdi(100)
    );
}

/// RFC 5798 §6.4.1: an owner is master immediately, and keeps it.
#[test]
fn owner_is_master_at_once() {
    let (mut sim, a, b) = pair(p(255), p(100));
    sim.start(b);
    sim.run_for(secs(10.0));
    let at = sim.elapsed();
    sim.start(a);
    sim.run_for(secs(10.0));
    assert_single_master(&sim, a);
    assert_eq!(sim.last_transition(a, "VI_1", State::Master), Some(at));
}

/// VRRPv3 at 10 ms intervals: convergence and takeover at centisecond
/// timescales, Skew_Time below one centisecond never truncated.
#[test]
fn v3_fast_intervals() {
    let v3 = |prio| Params {
        advert_int: Duration::from_millis(10),
        ..Params::new("VI_1", 51, prio, Version::V3, vec![ip("10.0.0.100")])
    };
    let (mut sim, a, b) = pair(v3(200), v3(100));
    sim.latency = Duration::from_micros(50);
    sim.start(a);
    sim.start(b);
    sim.run_for(secs(1.0));
    assert_single_master(&sim, a);
    sim.crash(a);
    let last = sim.last_advert(a, 51).unwrap_or_default();
    sim.run_for(secs(1.0));
    let took = sim.last_transition(b, "VI_1", State::Master).unwrap_or_default() - last;
    assert_eq!(
        took,
        master_down_interval(Version::V3, 100, Duration::from_millis(10), 3) + sim.latency
    );
    assert_eq!(
        took,
        Duration::from_micros(30_000 + 6_093 + 50) + Duration::from_nanos(750)
    );
}

/// Five routers, random loss while running, then a clean LAN: whatever
/// happened meanwhile, exactly the highest priority is master.
#[test]
fn five_routers_with_loss_converge() {
    for seed in 1..=8u64 {
        let mut sim = Sim::new(Instant::now());
        sim.seed(seed);
        let prios = [50u8, 150, 100, 200, 120];
        for (k, pr) in prios.iter().enumerate() {
            sim.add_node(&format!("N{k}"), ip(&format!("10.0.0.{}", k + 1)), vec![p(*pr)]);
        }
        for n in 0..prios.len() {
            sim.start(n);
        }
        sim.loss_ppm = 300_000;
        sim.run_for(secs(60.0));
        sim.loss_ppm = 0;
        sim.run_for(secs(5.0));
        assert_single_master(&sim, 3);
        // Kill the master: the next highest (150) takes over.
        sim.crash(3);
        sim.run_for(secs(10.0));
        assert_eq!(sim.masters("VI_1"), [1], "seed {seed}");
    }
}

/// KA §1.8: sync groups move together. A fault on one member of the
/// master's group hands every member to the other router; when it clears,
/// the group returns.
#[test]
fn sync_group_moves_together() {
    let two = |prio| {
        vec![
            Params::new("VI_1", 51, prio, Version::V2, vec![ip("10.0.0.100")]),
            Params::new("VI_2", 52, prio, Version::V2, vec![ip("10.0.1.100")]),
        ]
    };
    let mut sim = Sim::new(Instant::now());
    let a = sim.add_node("A", ip("10.0.0.1"), two(100));
    let b = sim.add_node("B", ip("10.0.0.2"), two(90));
    sim.add_group(a, "G", vec![sim.id(a, 0), sim.id(a, 1)]);
    sim.add_group(b, "G", vec![sim.id(b, 0), sim.id(b, 1)]);
    sim.start(a);
    sim.start(b);
    sim.run_for(secs(10.0));
    assert_eq!((sim.masters("VI_1"), sim.masters("VI_2")), (vec![a], vec![a]));
    sim.event(a, sim.id(a, 1), Event::Fault(true));
    assert_eq!(
        (sim.state(a, "VI_1"), sim.state(a, "VI_2")),
        (Some(State::Fault), Some(State::Fault))
    );
    sim.run_for(secs(5.0));
    assert_eq!((sim.masters("VI_1"), sim.masters("VI_2")), (vec![b], vec![b]));
    sim.event(a, sim.id(a, 1), Event::Fault(false));
    assert_eq!(
        (sim.state(a, "VI_1"), sim.state(a, "VI_2")),
        (Some(State::Backup), Some(State::Backup))
    );
    sim.run_for(secs(10.0));
    assert_eq!((sim.masters("VI_1"), sim.masters("VI_2")), (vec![a], vec![a]));
}

/// KA §1.8: the group goes MASTER only when every member wants to — one
/// member still hearing a live master keeps the whole group BACKUP.
#[test]
fn sync_group_waits_for_every_member() {
    let mut sim = Sim::new(Instant::now());
    let a = sim.add_node(
        "A",
        ip("10.0.0.1"),
        vec![
            Params::new("VI_1", 51, 100, Version::V2, vec![ip("10.0.0.100")]),
            Params::new("VI_2", 52, 100, Version::V2, vec![ip("10.0.1.100")]),
        ],
    );
    // C is master of VRID 52 only, with a higher priority.
    let c = sim.add_node(
        "C",
        ip("10.0.0.3"),
        vec![Params::new("VI_2", 52, 200, Version::V2, vec![ip("10.0.1.100")])],
    );
    sim.add_group(a, "G", vec![sim.id(a, 0), sim.id(a, 1)]);
    sim.start(c);
    sim.start(a);
    sim.run_for(secs(20.0));
    assert_eq!(
        sim.state(a, "VI_1"),
        Some(State::Backup),
        "VI_1 wants MASTER but VI_2 does not"
    );
    sim.crash(c);
    sim.run_for(secs(10.0));
    assert_eq!(
        (sim.state(a, "VI_1"), sim.state(a, "VI_2")),
        (Some(State::Master), Some(State::Master))
    );
}

/// Two faults in a group: the group leaves FAULT only when both clear.
#[test]
fn sync_group_fault_clears_only_when_all_clear() {
    let mut sim = Sim::new(Instant::now());
    let a = sim.add_node(
        "A",
        ip("10.0.0.1"),
        vec![
            Params::new("VI_1", 51, 100, Version::V2, vec![ip("10.0.0.100")]),
            Params::new("VI_2", 52, 100, Version::V2, vec![ip("10.0.1.100")]),
        ],
    );
    sim.add_group(a, "G", vec![sim.id(a, 0), sim.id(a, 1)]);
    sim.start(a);
    sim.run_for(secs(5.0));
    sim.event(a, sim.id(a, 0), Event::Fault(true));
    sim.event(a, sim.id(a, 1), Event::Fault(true));
    sim.event(a, sim.id(a, 0), Event::Fault(false));
    assert_eq!(
        (sim.state(a, "VI_1"), sim.state(a, "VI_2")),
        (Some(State::Fault), Some(State::Fault))
    );
    sim.event(a, sim.id(a, 1), Event::Fault(false));
    assert_eq!(
        (sim.state(a, "VI_1"), sim.state(a, "VI_2")),
        (Some(State::Backup), Some(State::Backup))
    );
}

/// The catch-up guard scenario at protocol level: A (100) restarts while B
/// (90) is master; held, A stays BACKUP however long; released, A takes
/// over after Skew_Time and B yields.
#[test]
fn preemption_hold_on_the_lan() {
    let (mut sim, a, b) = pair(p(100), p(90));
    sim.start(a);
    sim.start(b);
    sim.run_for(secs(10.0));
    sim.crash(a);
    sim.run_for(secs(10.0));
    assert_eq!(sim.masters("VI_1"), [b]);
    sim.restart(a);
    sim.event(a, sim.id(a, 0), Event::PreemptHold(true));
    sim.run_for(secs(30.0));
    assert_single_master(&sim, b);
    let released = sim.elapsed();
    sim.event(a, sim.id(a, 0), Event::PreemptHold(false));
    sim.run_for(secs(5.0));
    assert_single_master(&sim, a);
    let took = sim.last_transition(a, "VI_1", State::Master).unwrap_or_default() - released;
    assert!(took <= skew_time(Version::V2, 100, secs(1.0)) + sim.latency, "{took:?}");
}

/// A router sending VRRPv3 adverts with Max Adver Int 0 (and a higher
/// priority) on the LAN: with keepalived 2.2.7 the master adopts the
/// interval and flaps at every advert; here every such advert is dropped
/// and counted, the master keeps its rhythm and nobody changes state.
#[test]
fn zero_interval_adverts_never_flap_the_lan() {
    let v3 = |prio| Params {
        advert_int: Duration::from_millis(100),
        ..Params::new("VI_1", 7, prio, Version::V3, vec![ip("10.0.0.100")])
    };
    let (mut sim, a, b) = pair(v3(100), v3(90));
    sim.start(a);
    sim.start(b);
    sim.run_for(secs(2.0));
    assert_single_master(&sim, a);
    let changes = sim.transitions.len();
    // The rogue advert: priority 200, interval 0, checksum mended.
    let rogue: IpAddr = ip("10.0.0.9");
    let mut bytes = vec![0u8; 64];
    let n = crate::vrrp::Instance::new(v3(200))
        .advert(200)
        .emit(
            &mut bytes,
            rogue,
            ip("224.0.0.18"),
            crate::vrrp::ChecksumMode::PseudoHeader,
        )
        .unwrap_or(0);
    bytes.truncate(n);
    bytes[4] &= 0xf0;
    bytes[5] = 0;
    bytes[6..8].fill(0);
    let c = crate::vrrp::packet::checksum(
        &bytes,
        Version::V3,
        rogue,
        ip("224.0.0.18"),
        crate::vrrp::ChecksumMode::PseudoHeader,
    );
    bytes[6..8].copy_from_slice(&c.to_be_bytes());
    for _ in 0..100 {
        sim.inject(rogue, &bytes);
        sim.run_for(secs(0.1));
    }
    assert_eq!(sim.transitions.len(), changes, "nobody changed state");
    assert_single_master(&sim, a);
    for node in [a, b] {
        let errs = sim.nodes[node]
            .router
            .instances()
            .map(|(_, i)| i.stats().advert_interval_err)
            .sum::<u64>();
        assert_eq!(errs, 100, "every rogue advert counted on node {node}");
    }
    let last = sim.last_advert(a, 7).unwrap_or_default();
    assert!(sim.elapsed() - last <= secs(0.1), "the master keeps advertising");
}

/// Router groups of three and five, with distinct and with equal
/// priorities: after each scenario exactly one master among the routers
/// that hear each other, the one RFC 5798 §6.4 elects (highest priority,
/// then highest primary address), settled within the bound the RFC's
/// timers give for that scenario.
mod groups {
    use super::*;

    const DISTINCT: [u8; 5] = [100, 200, 150, 50, 120];

    struct Group {
        sim: Sim,
        prio: Vec<u8>,
    }

    impl Group {
        fn start(n: usize, equal: bool) -> Group {
            let mut sim = Sim::new(Instant::now());
            let prio: Vec<u8> = (0..n).map(|k| if equal { 100 } else { DISTINCT[k] }).collect();
            for (k, pr) in prio.iter().enumerate() {
                sim.add_node(&format!("N{k}"), ip(&format!("10.0.0.{}", k + 1)), vec![p(*pr)]);
            }
            for k in 0..n {
                sim.start(k);
            }
            Group { sim, prio }
        }

        fn in_segment(&self, segment: u32) -> impl Iterator<Item = usize> + '_ {
            (0..self.prio.len()).filter(move |&k| self.sim.nodes[k].up && self.sim.nodes[k].segment == segment)
        }

        /// The router the RFC elects among the running ones in `segment`.
        fn rightful(&self, segment: u32) -> usize {
            self.in_segment(segment)
                .max_by_key(|&k| (self.prio[k], self.sim.nodes[k].addr))
                .expect("a running router in the segment")
        }

        fn set_priority(&mut self, k: usize, prio: u8) {
            self.prio[k] = prio;
            let id = self.sim.id(k, 0);
            self.sim.event(k, id, Event::Priority(prio));
        }

        /// Runs 30 s after `what` happened at `since`, then asserts that
        /// `segment` has one master, `want` (the rightful one when None),
        /// holding the VIP alone, and that its last transition came within
        /// `bound`.
        fn assert_settled(&mut self, segment: u32, want: Option<usize>, since: Duration, bound: Duration, what: &str) {
            self.sim.run_for(secs(30.0));
            let want = want.unwrap_or_else(|| self.rightful(segment));
            let members: Vec<usize> = self.in_segment(segment).collect();
            let masters: Vec<usize> = self
                .sim
                .masters("VI_1")
                .into_iter()
                .filter(|k| members.contains(k))
                .collect();
            let holders: Vec<usize> = self
                .sim
                .vip_holders("VI_1")
                .into_iter()
                .filter(|k| members.contains(k))
                .collect();
            let log = || {
                format!(
                    "{what}: priorities {:?}, transitions {:#?}",
                    self.prio, self.sim.transitions
                )
            };
            assert_eq!(masters, [want], "masters after {}", log());
            assert_eq!(holders, [want], "VIP holders after {}", log());
            let settled = self
                .sim
                .transitions
                .iter()
                .filter(|t| members.contains(&t.node) && t.at >= since)
                .map(|t| t.at)
                .max()
                .unwrap_or(since);
            assert!(
                settled - since <= bound,
                "{what}: settled {:?} after it, bound {bound:?}; {}",
                settled - since,
                log()
            );
        }
    }

    fn run(n: usize, equal: bool) {
        let mut g = Group::start(n, equal);
        let lat = g.sim.latency;
        let interval = secs(1.0);

        // Election: the rightful master's own Master_Down_Interval.
        let top = g.rightful(0);
        g.assert_settled(0, None, Duration::ZERO, mdi(g.prio[top]) + 2 * lat, "election");

        // The master cut off: the rest elect the next after its
        // Master_Down_Interval from the last advert they heard.
        let cut = g.rightful(0);
        let at = g.sim.elapsed();
        g.sim.set_segment(cut, 1);
        let next = g.rightful(0);
        g.assert_settled(0, None, at, interval + mdi(g.prio[next]) + 2 * lat, "master cut off");
        assert_eq!(
            g.sim.masters("VI_1").into_iter().filter(|&k| k == cut).count(),
            1,
            "alone, the cut-off router stays master"
        );

        // Heal: two masters meet, the lesser yields on the first advert.
        let at = g.sim.elapsed();
        g.sim.set_segment(cut, 0);
        g.assert_settled(0, None, at, interval + 2 * lat, "heal");

        // Graceful stop: priority 0, the next takes over after Skew_Time.
        let stopped = g.rightful(0);
        let at = g.sim.elapsed();
        g.sim.stop(stopped);
        let next = g.rightful(0);
        g.assert_settled(
            0,
            None,
            at,
            skew_time(Version::V2, g.prio[next], interval) + 2 * lat,
            "graceful stop",
        );

        // Back again: a higher priority preempts after its own
        // Master_Down_Interval; an equal one does not (§6.4.2: an advert
        // of equal priority resets its timer, whatever the address).
        let master = g.rightful(0);
        let at = g.sim.elapsed();
        g.sim.restart(stopped);
        let want = if g.prio[stopped] > g.prio[master] {
            stopped
        } else {
            master
        };
        g.assert_settled(0, Some(want), at, mdi(g.prio[stopped]) + 2 * lat, "restart");

        // A tracker lowers the master below everyone: the others discard
        // its adverts (preempt) and the next takes over after its
        // Master_Down_Interval from the last advert it accepted.
        let master = want;
        let at = g.sim.elapsed();
        g.set_priority(master, 40);
        let next = g.rightful(0);
        g.assert_settled(
            0,
            None,
            at,
            interval + mdi(g.prio[next]) + 2 * lat,
            "master's priority lowered",
        );

        // A tracker raises a backup above the master: it preempts.
        let low = (0..n).min_by_key(|&k| (g.prio[k], g.sim.nodes[k].addr)).unwrap_or(0);
        let at = g.sim.elapsed();
        g.set_priority(low, 250);
        g.assert_settled(0, None, at, interval + mdi(250) + 2 * lat, "backup's priority raised");
    }

    #[test]
    fn three_routers_distinct_priorities() {
        run(3, false);
    }

    #[test]
    fn three_routers_equal_priorities() {
        run(3, true);
    }

    #[test]
    fn five_routers_distinct_priorities() {
        run(5, false);
    }

    #[test]
    fn five_routers_equal_priorities() {
        run(5, true);
    }
}

/// Random event schedules on the simulated LAN: loss, partitions, crashes,
/// graceful stops, restarts, tracker priority changes and reloads
/// (unchanged, or with a new configured priority), each followed by
/// a calm spell. After every calm spell exactly one running router is
/// master, of the highest running priority, and only it holds the VIP.
/// `cases × steps × step length` comes to 10⁶ virtual seconds per run
/// (`PROPTEST_CASES` raises it, as scripts/soak.sh does).
mod schedules {
    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Step {
        Loss(u32),
        Partition(usize),
        Heal,
        Crash(usize),
        Stop(usize),
        Restart(usize),
        Priority(usize, u8),
        /// A reload of router k: unchanged, or with a new configured priority.
        Reload(usize, Option<u8>),
    }

    const ROUTERS: usize = 4;
    /// Virtual seconds of one step: the faulty part, then the calm spell.
    const FAULTY: f64 = 40.0;
    const CALM: f64 = 60.0;
    const STEPS: usize = 100;

    fn step() -> impl Strategy<Value = Step> {
        let k = 0..ROUTERS;
        prop_oneof![
            (0u32..400_000).prop_map(Step::Loss),
            k.clone().prop_map(Step::Partition),
            Just(Step::Heal),
            k.clone().prop_map(Step::Crash),
            k.clone().prop_map(Step::Stop),
            k.clone().prop_map(Step::Restart),
            (k.clone(), 1u8..=254).prop_map(|(k, p)| Step::Priority(k, p)),
            (k, proptest::option::of(1u8..=254)).prop_map(|(k, p)| Step::Reload(k, p)),
        ]
    }

    fn check_calm(sim: &Sim, prio: &[u8], step: usize, steps: &[Step]) {
        let up: Vec<usize> = (0..ROUTERS).filter(|&k| sim.nodes[k].up).collect();
        if up.is_empty() {
            return;
        }
        let masters = sim.masters("VI_1");
        let holders: Vec<usize> = sim.vip_holders("VI_1").into_iter().filter(|k| up.contains(k)).collect();
        let top = up.iter().map(|&k| prio[k]).max();
        let why = || {
            format!(
                "after step {step} of {:?}; priorities {prio:?}, up {up:?}",
                &steps[..=step]
            )
        };
        assert_eq!(masters.len(), 1, "one master {}", why());
        assert_eq!(holders, masters, "the master alone holds the VIP {}", why());
        assert_eq!(Some(prio[masters[0]]), top, "of the highest priority {}", why());
    }

    fn run(seed: u64, steps: &[Step]) {
        let mut sim = Sim::new(Instant::now());
        sim.seed(seed);
        let mut prio = vec![100u8, 90, 80, 70];
        // The configured priorities (prio: the effective ones).
        let mut base = prio.clone();
        for (k, pr) in prio.iter().enumerate() {
            sim.add_node(&format!("N{k}"), ip(&format!("10.0.0.{}", k + 1)), vec![p(*pr)]);
        }
        for k in 0..ROUTERS {
            sim.start(k);
        }
        for (i, s) in steps.iter().enumerate() {
            match *s {
                Step::Loss(ppm) => sim.loss_ppm = ppm,
                Step::Partition(k) => sim.set_segment(k, 1),
                Step::Heal => (0..ROUTERS).for_each(|k| sim.set_segment(k, 0)),
                Step::Crash(k) if sim.nodes[k].up => sim.crash(k),
                Step::Stop(k) if sim.nodes[k].up => sim.stop(k),
                Step::Restart(k) if !sim.nodes[k].up => {
                    // A fresh daemon starts from its configured priority.
                    prio[k] = base[k];
                    sim.restart(k);
                }
                Step::Reload(k, pr) if sim.nodes[k].up => {
                    let new = pr.unwrap_or(base[k]);
                    // A tracker's priority stays; an untouched one follows.
                    if prio[k] == base[k] {
                        prio[k] = new;
                    }
                    base[k] = new;
                    sim.reload(k, vec![p(new)]);
                }
                Step::Priority(k, pr) if sim.nodes[k].up => {
                    prio[k] = pr;
                    let id = sim.id(k, 0);
                    sim.event(k, id, Event::Priority(pr));
                }
                _ => {}
            }
            sim.run_for(secs(FAULTY));
            let (loss, segments) = (
                sim.loss_ppm,
                (0..ROUTERS).map(|k| sim.nodes[k].segment).collect::<Vec<_>>(),
            );
            sim.loss_ppm = 0;
            (0..ROUTERS).for_each(|k| sim.set_segment(k, 0));
            sim.run_for(secs(CALM));
            check_calm(&sim, &prio, i, steps);
            // The fault goes on after the calm spell.
            sim.loss_ppm = loss;
            for (k, s) in segments.into_iter().enumerate() {
                sim.set_segment(k, s);
            }
        }
    }

    fn cases() -> u32 {
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(100)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(cases()))]
        #[test]
        fn random_schedules_always_settle_on_one_rightful_master(
            seed in any::<u64>(),
            steps in proptest::collection::vec(step(), STEPS),
        ) {
            run(seed, &steps);
        }
    }

    /// 100 cases × 100 steps × 100 virtual seconds.
    #[test]
    fn the_schedules_cover_a_million_virtual_seconds() {
        let per_case = STEPS as f64 * (FAULTY + CALM);
        assert!(
            f64::from(cases()) * per_case >= 1e6,
            "{} cases of {per_case} s",
            cases()
        );
    }
}
