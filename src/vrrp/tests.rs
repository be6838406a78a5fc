//! One test per protocol rule, each citing where the rule comes from:
//! RFC 3768 (VRRPv2), RFC 5798/9568 (VRRPv3), or keepalived 2.2.7's
//! observed behaviour (../shared/reference/keepalived-2.2.7.md, "KA §").

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::instance::{Action as A, Event, Instance, Linger, LingerEnd, Note, Output, Params, Reason, Stance, State};
use super::packet::{Advert, AuthType, ChecksumMode, Version};
use super::rx::{RxError, RxMeta};
use super::timers::{master_down_interval, skew_time};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or_else(|_| panic!("bad address {s}"))
}

const MCAST: &str = "224.0.0.18";
const VIP: &str = "10.0.0.100";

fn params(prio: u8) -> Params {
    Params::new("VI_1", 51, prio, Version::V2, vec![ip(VIP)])
}

fn meta(src: &str) -> RxMeta {
    RxMeta {
        src: ip(src),
        dst: ip(MCAST),
        ttl: 255,
    }
}

/// An advert as a peer with `prio` would send it for `p`'s instance.
fn wire(p: &Params, prio: u8, src: &str) -> Vec<u8> {
    let peer = Instance::new(Params {
        priority: prio.max(1),
        ..p.clone()
    });
    let mut buf = vec![0u8; 1500];
    let n = peer
        .advert(prio)
        .emit(&mut buf, ip(src), ip(MCAST), p.checksum_mode)
        .unwrap_or(0);
    buf.truncate(n);
    buf
}

struct T {
    i: Instance,
    t0: Instant,
    out: Output,
    /// The notes of the last call.
    notes: Vec<Note>,
}

impl T {
    fn new(p: Params) -> T {
        let mut i = Instance::new(p);
        let mut out = Output::default();
        i.handle(Instant::now(), Event::LocalAddress(Some(ip("10.0.0.2"))), &mut out);
        T {
            i,
            t0: Instant::now(),
            out,
            notes: Vec::new(),
        }
    }
    fn at(&self, d: Duration) -> Instant {
        self.t0 + d
    }
    /// Feeds an event; returns the actions, keeps the notes in `notes`.
    fn ev(&mut self, d: Duration, e: Event<'_>) -> Vec<A> {
        self.out.clear();
        let now = self.at(d);
        self.i.handle(now, e, &mut self.out);
        self.notes = std::mem::take(&mut self.out.notes);
        std::mem::take(&mut self.out.actions)
    }
    /// Feeds an event; returns why the advert it carries was dropped.
    fn dropped(&mut self, d: Duration, e: Event<'_>) -> Option<RxError> {
        self.ev(d, e);
        dropped(&self.notes)
    }
    fn rx(&mut self, d: Duration, prio: u8, src: &str) -> Vec<A> {
        let bytes = wire(self.i.params(), prio, src);
        self.ev(
            d,
            Event::Advert {
                meta: meta(src),
                payload: &bytes,
            },
        )
    }
    fn started(p: Params) -> T {
        let mut t = T::new(p);
        t.ev(Duration::ZERO, Event::Start);
        t
    }
    fn master(p: Params) -> T {
        let mut t = T::started(p);
        let mdi = t.i.master_down_interval();
        t.ev(mdi, Event::Timer);
        assert_eq!(t.i.state(), State::Master);
        t
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn change(from: State, to: State, priority: u8, reason: Reason) -> A {
    A::StateChange {
        from,
        to,
        priority,
        reason,
    }
}

// ---- start-up ----------------------------------------------------------

/// RFC 5798 §6.4.1 and KA §3.1: a non-owner starts in BACKUP with
/// Master_Down_Timer = Master_Down_Interval, whatever `state MASTER` says.
#[test]
fn non_owner_starts_in_backup_with_master_down_timer() {
    let mut t = T::new(Params {
        want_master: true,
        ..params(90)
    });
    assert_eq!(
        t.ev(Duration::ZERO, Event::Start),
        [change(State::Init, State::Backup, 90, Reason::Startup)]
    );
    assert_eq!(t.i.poll_timeout(), Some(t.at(Duration::from_nanos(3_648_437_500))));
}

/// RFC 5798 §6.4.1: the owner (priority 255) sends an advert, announces
/// the VIPs and becomes MASTER at once; keepalived's order is advert,
/// VIPs, gratuitous ARP, notify (KA §3.1).
#[test]
fn owner_starts_as_master_in_keepalived_order() {
    let mut t = T::new(params(255));
    assert_eq!(
        t.ev(Duration::ZERO, Event::Start),
        [
            A::SendAdvert { priority: 255 },
            A::AddVips,
            A::SendGratuitous { repeat: 5 },
            change(State::Init, State::Master, 255, Reason::Startup)
        ]
    );
}

/// KA §3.5: an instance whose tracker reports a fault at start is FAULT.
#[test]
fn fault_at_start_enters_fault() {
    let mut t = T::new(params(100));
    t.ev(Duration::ZERO, Event::Fault(true));
    assert_eq!(
        t.ev(Duration::ZERO, Event::Start),
        [change(State::Init, State::Fault, 100, Reason::Startup)]
    );
    assert_eq!(t.i.poll_timeout(), None);
}

// ---- BACKUP ----------------------------------------------------------------

/// RFC 5798 §6.4.2: Master_Down_Timer fires → advert, VIPs, GARP, MASTER.
#[test]
fn master_down_timer_makes_master() {
    let mut t = T::started(params(100));
    let mdi = secs(3.0 + 156.0 / 256.0);
    assert!(
        t.ev(mdi - Duration::from_nanos(1), Event::Timer).is_empty(),
        "not a nanosecond early"
    );
    assert_eq!(
        t.ev(mdi, Event::Timer),
        [
            A::SendAdvert { priority: 100 },
            A::AddVips,
            A::SendGratuitous { repeat: 5 },
            change(State::Backup, State::Master, 100, Reason::MasterDown)
        ]
    );
    assert_eq!(t.i.stats().become_master, 1);
}

/// RFC 5798 §6.4.2: an advert of higher priority resets the down timer.
#[test]
fn backup_accepts_higher_priority_and_resets_timer() {
    let mut t = T::started(params(90));
    assert!(t.rx(secs(2.0), 100, "10.0.0.1").is_empty());
    assert_eq!(t.i.poll_timeout(), Some(t.at(secs(2.0) + t.i.master_down_interval())));
    assert_eq!(t.i.current_master(), Some((ip("10.0.0.1"), 100)));
}

/// What the database guard asks: under a higher-priority master this
/// BACKUP follows it; under a lower one it would preempt; a master that
/// steps down (priority 0) is followed by no one.
#[test]
fn backup_follows_or_would_preempt_the_live_master() {
    let mut t = T::started(params(90));
    assert!(!t.i.follows_live_master() && !t.i.would_preempt(), "no master seen yet");
    t.rx(secs(1.0), 100, "10.0.0.1");
    assert!(t.i.follows_live_master() && !t.i.would_preempt());
    t.rx(secs(2.0), 80, "10.0.0.1");
    assert!(!t.i.follows_live_master() && t.i.would_preempt());
    t.rx(secs(2.5), 0, "10.0.0.1");
    assert!(!t.i.follows_live_master() && !t.i.would_preempt());
    let mut m = T::master(params(90));
    assert!(!m.i.follows_live_master());
    m.rx(secs(9.0), 100, "10.0.0.1");
    assert_eq!(m.i.state(), State::Backup);
    assert!(m.i.follows_live_master(), "yielded to a higher priority");
}

/// KA §3.3: a BACKUP never preempts on equal priority, whatever the
/// addresses (it accepts the advert).
#[test]
fn backup_never_preempts_on_equal_priority() {
    let mut t = T::started(params(100));
    t.rx(secs(3.0), 100, "10.0.0.1");
    assert_eq!(t.i.poll_timeout(), Some(t.at(secs(3.0) + t.i.master_down_interval())));
}

/// RFC 5798 §6.4.2 (Preempt_Mode true): a lower-priority advert is
/// discarded, so the down timer runs out and this router takes over.
#[test]
fn backup_discards_lower_priority_when_preempting() {
    let mut t = T::started(params(100));
    let before = t.i.poll_timeout();
    t.rx(secs(1.0), 90, "10.0.0.1");
    assert_eq!(t.i.poll_timeout(), before, "timer not reset");
    assert_eq!(
        t.ev(t.i.master_down_interval(), Event::Timer)[3],
        change(
            State::Backup,
            State::Master,
            100,
            Reason::Preempt {
                from: ip("10.0.0.1"),
                priority: 90
            }
        )
    );
}

/// RFC 5798 §6.4.2 (Preempt_Mode false) / KA `nopreempt`: any non-zero
/// advert resets the timer.
#[test]
fn nopreempt_accepts_lower_priority() {
    let mut t = T::started(Params {
        nopreempt: true,
        ..params(100)
    });
    t.rx(secs(3.0), 90, "10.0.0.1");
    assert_eq!(t.i.poll_timeout(), Some(t.at(secs(3.0) + t.i.master_down_interval())));
}

/// RFC 5798 §6.4.2 and KA §3.3: priority 0 → Master_Down_Timer = Skew_Time
/// (0.648 s for priority 90; keepalived measured 0.649–0.651 s).
#[test]
fn priority_zero_shortens_the_wait_to_skew_time() {
    let mut t = T::started(params(90));
    t.rx(secs(1.0), 100, "10.0.0.1");
    t.rx(secs(1.5), 0, "10.0.0.1");
    assert_eq!(
        t.i.poll_timeout(),
        Some(t.at(secs(1.5) + Duration::from_nanos(648_437_500)))
    );
    assert_eq!(t.i.stats().pri_zero_rcvd, 1);
}

/// RFC 5798 §6.4.2: a VRRPv3 backup adopts the master's interval and
/// recomputes Skew_Time and Master_Down_Interval from it.
#[test]
fn v3_backup_learns_master_adver_interval() {
    let p = Params {
        version: Version::V3,
        ..params(100)
    };
    let mut t = T::started(p.clone());
    // The master advertises every 0.5 s.
    let bytes = {
        let peer = Instance::new(Params {
            advert_int: Duration::from_millis(500),
            priority: 200,
            ..p.clone()
        });
        let mut b = vec![0u8; 64];
        let n = peer
            .advert(200)
            .emit(&mut b, ip("10.0.0.1"), ip(MCAST), ChecksumMode::PseudoHeader)
            .unwrap_or(0);
        b.truncate(n);
        b
    };
    t.ev(
        secs(1.0),
        Event::Advert {
            meta: meta("10.0.0.1"),
            payload: &bytes,
        },
    );
    assert_eq!(t.i.master_adver_interval(), Duration::from_millis(500));
    let expected = master_down_interval(Version::V3, 100, Duration::from_millis(500), 3);
    assert_eq!(
        expected,
        Duration::from_millis(1500) + Duration::from_nanos(304_687_500)
    );
    assert_eq!(t.i.poll_timeout(), Some(t.at(secs(1.0) + expected)));
}

/// KA §3.3: preempt_delay starts at the first lower-priority advert; until
/// it expires such adverts are accepted, afterwards discarded.
#[test]
fn preempt_delay_holds_then_preempts() {
    let mut t = T::started(Params {
        preempt_delay: secs(5.0),
        ..params(100)
    });
    for s in 1..=5 {
        let now = secs(f64::from(s));
        t.rx(now, 90, "10.0.0.1");
        // Accepted: the down timer restarts (the delay deadline at 6 s is sooner).
        let down = t.at(now + t.i.master_down_interval());
        assert_eq!(t.i.poll_timeout(), Some(down.min(t.at(secs(6.0)))), "advert at {s} s");
    }
    // The delay (started at 1 s) expires at 6 s; later adverts are discarded.
    t.ev(secs(6.0), Event::Timer);
    let before = t.i.poll_timeout();
    t.rx(secs(6.5), 90, "10.0.0.1");
    assert_eq!(t.i.poll_timeout(), before);
    let down = before.unwrap_or(t.t0);
    assert_eq!(t.ev(down - t.t0, Event::Timer).len(), 4);
    assert_eq!(t.i.state(), State::Master);
}

/// rkeepalived's preemption hold (the database catch-up guard): a held
/// backup accepts a lower-priority master; releasing the hold preempts
/// after Skew_Time.
#[test]
fn preemption_hold_blocks_then_releases_preemption() {
    let mut t = T::new(params(100));
    t.ev(Duration::ZERO, Event::PreemptHold(true));
    t.ev(Duration::ZERO, Event::Start);
    for s in 1..20 {
        t.rx(secs(f64::from(s)), 90, "10.0.0.1");
        t.ev(secs(f64::from(s)), Event::Timer);
        assert_eq!(t.i.state(), State::Backup);
    }
    t.ev(secs(19.5), Event::PreemptHold(false));
    assert_eq!(t.i.poll_timeout(), Some(t.at(secs(19.5) + t.i.skew_time())));
    let a = t.ev(secs(19.5) + t.i.skew_time(), Event::Timer);
    assert_eq!(a[3], change(State::Backup, State::Master, 100, Reason::HoldReleased));
}

/// A takeover because the master is gone is never blocked by the hold.
#[test]
fn preemption_hold_does_not_block_takeover_from_a_dead_master() {
    let mut t = T::new(params(100));
    t.ev(Duration::ZERO, Event::PreemptHold(true));
    t.ev(Duration::ZERO, Event::Start);
    t.rx(secs(1.0), 90, "10.0.0.1");
    t.ev(secs(1.0) + t.i.master_down_interval(), Event::Timer);
    assert_eq!(t.i.state(), State::Master);
}

/// rkeepalived's Keep stance (the database guard after a healed
/// partition): a MASTER whose peer's server lacks its writes stays MASTER
/// against a higher priority, sends nothing in reply (two keepers never
/// answer each other in a loop), notes it once, and follows VRRP again
/// once the stance is back to Priority.
#[test]
fn keep_stance_stays_master_against_a_higher_priority() {
    let mut t = T::master(params(90));
    let m = t.i.master_down_interval();
    t.ev(m, Event::Stance(Stance::Keep));
    let a = t.rx(m + secs(0.1), 100, "10.0.0.1");
    assert!(a.is_empty(), "{a:?}");
    assert_eq!(
        t.notes,
        vec![Note::KeptMaster {
            from: ip("10.0.0.1"),
            priority: 100
        }]
    );
    let a = t.rx(m + secs(1.1), 100, "10.0.0.1");
    assert!(a.is_empty() && t.notes.is_empty(), "noted once: {a:?} {:?}", t.notes);
    assert_eq!(t.i.state(), State::Master);
    // Adverts go on at their own rhythm.
    let a = t.ev(m + secs(1.0), Event::Timer);
    assert!(a.contains(&A::SendAdvert { priority: 90 }), "{a:?}");
    t.ev(m + secs(1.5), Event::Stance(Stance::Priority));
    let a = t.rx(m + secs(2.1), 100, "10.0.0.1");
    assert!(a.contains(&change(
        State::Master,
        State::Backup,
        90,
        Reason::Preempted {
            from: ip("10.0.0.1"),
            priority: 100
        }
    )));
}

/// rkeepalived's Yield stance: a MASTER whose server may lack what a live
/// master wrote gives way to it whatever its priority, without priority 0,
/// and stays held: it does not preempt that lower-priority master.
#[test]
fn yield_stance_gives_way_to_a_lower_priority_master_and_stays_held() {
    let mut t = T::master(params(100));
    let m = t.i.master_down_interval();
    t.ev(m, Event::Stance(Stance::Yield));
    let a = t.rx(m + secs(0.5), 90, "10.0.0.1");
    assert!(!a.contains(&A::SendAdvert { priority: 0 }), "{a:?}");
    assert!(!a.iter().any(|x| matches!(x, A::SendGratuitous { .. })), "{a:?}");
    assert_eq!(
        a,
        vec![
            A::RemoveVips,
            change(
                State::Master,
                State::Backup,
                100,
                Reason::Yielded {
                    from: ip("10.0.0.1"),
                    priority: 90
                }
            )
        ]
    );
    assert!(t.i.preempt_held());
    for k in 1..10 {
        let at = m + secs(0.5 + f64::from(k));
        t.rx(at, 90, "10.0.0.1");
        t.ev(at, Event::Timer);
        assert_eq!(t.i.state(), State::Backup, "held at {k} s");
    }
    // The guard releases it once caught up: preempt after Skew_Time.
    let at = m + secs(10.0);
    t.ev(at, Event::PreemptHold(false));
    let a = t.ev(at + t.i.skew_time(), Event::Timer);
    assert!(
        a.contains(&change(State::Backup, State::Master, 100, Reason::HoldReleased)),
        "{a:?}"
    );
}

/// Without a stance (the default), a MASTER hearing a lower priority
/// reasserts itself as VRRP says.
#[test]
fn priority_stance_is_plain_vrrp() {
    let mut t = T::master(params(100));
    assert_eq!(t.i.stance(), Stance::Priority);
    let m = t.i.master_down_interval();
    let a = t.rx(m + secs(0.5), 90, "10.0.0.1");
    assert!(a.contains(&A::SendAdvert { priority: 100 }), "{a:?}");
    assert_eq!(t.i.state(), State::Master);
}

// ---- MASTER ----------------------------------------------------------------

/// RFC 5798 §6.4.3: the master advertises every Advertisement_Interval.
#[test]
fn master_advertises_every_interval() {
    let mut t = T::master(params(100));
    let start = t.i.master_down_interval();
    for k in 1..=5u32 {
        let a = t.ev(start + Duration::from_secs(u64::from(k)), Event::Timer);
        assert!(a.contains(&A::SendAdvert { priority: 100 }), "{k}: {a:?}");
    }
    assert_eq!(t.i.stats().advert_sent, 6);
}

/// RFC 5798 §6.4.3: priority 0 → send an advert at once.
#[test]
fn master_answers_priority_zero_with_an_advert() {
    let mut t = T::master(params(100));
    assert_eq!(t.rx(secs(4.0), 0, "10.0.0.1"), [A::SendAdvert { priority: 100 }]);
}

/// RFC 5798 §6.4.3: a higher priority advert → BACKUP, VIPs removed,
/// Master_Down_Timer started.
#[test]
fn master_yields_to_higher_priority() {
    let mut t = T::master(params(100));
    let a = t.rx(secs(4.0), 110, "10.0.0.1");
    assert_eq!(
        a,
        [
            A::RemoveVips,
            change(
                State::Master,
                State::Backup,
                100,
                Reason::Preempted {
                    from: ip("10.0.0.1"),
                    priority: 110
                }
            )
        ]
    );
    assert_eq!(t.i.stats().release_master, 1);
    assert_eq!(t.i.poll_timeout(), Some(t.at(secs(4.0) + t.i.master_down_interval())));
}

/// KA §3.4 tie-break: equal priority, the higher address wins (observed:
/// 10.99.0.1 yielded to 10.99.0.2).
#[test]
fn equal_priority_tie_break_by_address() {
    let mut t = T::master(params(100)); // we are 10.0.0.2
    assert!(matches!(
        t.rx(secs(4.0), 100, "10.0.0.1").last(),
        Some(A::MasterRxLowerPri { .. })
    ));
    assert_eq!(t.i.state(), State::Master);
    let a = t.rx(secs(4.1), 100, "10.0.0.3");
    assert!(matches!(a.last(), Some(A::StateChange { to: State::Backup, .. })));
}

/// KA §3.4: a master hearing a lower priority "forces a new election":
/// advert (unless lower_prio_no_advert), GARP burst, notify.
#[test]
fn master_reasserts_against_lower_priority() {
    let mut t = T::master(params(100));
    assert_eq!(
        t.rx(secs(4.0), 90, "10.0.0.1"),
        [
            A::SendAdvert { priority: 100 },
            A::SendGratuitous { repeat: 5 },
            A::MasterRxLowerPri {
                from: ip("10.0.0.1"),
                priority: 90
            }
        ]
    );
    // The second lower-priority GARP burst follows garp_lower_prio_delay later.
    assert!(t.ev(secs(9.0), Event::Timer).contains(&A::SendGratuitous { repeat: 5 }));
    let mut t = T::master(Params {
        lower_prio_no_advert: true,
        ..params(100)
    });
    assert!(!t
        .rx(secs(4.0), 90, "10.0.0.1")
        .contains(&A::SendAdvert { priority: 100 }));
}

/// KA §3.4: higher_prio_send_advert sends one more advert before yielding.
#[test]
fn higher_prio_send_advert() {
    let mut t = T::master(Params {
        higher_prio_send_advert: true,
        ..params(100)
    });
    assert_eq!(
        t.rx(secs(4.0), 110, "10.0.0.1")[..2],
        [A::SendAdvert { priority: 100 }, A::RemoveVips]
    );
}

/// KA §2.1: two owners → configuration error; ours drops to 254 and yields.
#[test]
fn two_owners_one_yields() {
    let mut t = T::master(params(255));
    t.rx(secs(1.0), 255, "10.0.0.1");
    assert_eq!(t.notes, [Note::ConflictingOwner { from: ip("10.0.0.1") }]);
    assert_eq!(t.i.state(), State::Backup);
    assert_eq!(t.i.effective_priority(), 254);
}

/// RFC 5798 §7.1 (5): the owner ignores adverts — keepalived only in strict
/// mode or with `owner_ignore_adverts` (2.3.3).
#[test]
fn owner_ignores_adverts_when_told_to() {
    let mut t = T::master(Params {
        owner_ignores_adverts: true,
        ..params(255)
    });
    let a = t.rx(secs(1.0), 255, "10.0.0.3");
    assert!(a.is_empty());
    assert_eq!(
        t.notes,
        [Note::Dropped {
            src: ip("10.0.0.3"),
            error: RxError::OwnerIgnores
        }]
    );
}

/// KA §3.6: the second GARP burst comes garp_master_delay after MASTER;
/// garp_master_refresh repeats periodically.
#[test]
fn garp_second_burst_and_refresh() {
    let mut t = T::started(Params {
        garp: super::GarpParams {
            master_refresh: secs(10.0),
            master_refresh_repeat: 2,
            ..Default::default()
        },
        ..params(100)
    });
    let mdi = t.i.master_down_interval();
    t.ev(mdi, Event::Timer);
    assert!(t
        .ev(mdi + secs(5.0), Event::Timer)
        .contains(&A::SendGratuitous { repeat: 5 }));
    assert!(t
        .ev(mdi + secs(10.0), Event::Timer)
        .contains(&A::SendGratuitous { repeat: 2 }));
    assert!(t
        .ev(mdi + secs(20.0), Event::Timer)
        .contains(&A::SendGratuitous { repeat: 2 }));
}

// ---- FAULT, shutdown -------------------------------------------------------

/// KA §3.5: MASTER → FAULT sends priority 0, removes VIPs; clearing the
/// fault returns to BACKUP (not MASTER) with a fresh down timer.
#[test]
fn fault_from_master_and_recovery() {
    let mut t = T::master(params(100));
    assert_eq!(
        t.ev(secs(5.0), Event::Fault(true)),
        [
            A::SendAdvert { priority: 0 },
            A::RemoveVips,
            change(State::Master, State::Fault, 100, Reason::Fault)
        ]
    );
    assert_eq!(t.i.stats().pri_zero_sent, 1);
    assert!(t.rx(secs(6.0), 90, "10.0.0.1").is_empty());
    assert!(t.notes.iter().all(|n| matches!(
        n,
        Note::Dropped {
            error: RxError::NotRunning,
            ..
        }
    )));
    assert_eq!(
        t.ev(secs(9.0), Event::Fault(false)),
        [change(State::Fault, State::Backup, 100, Reason::FaultCleared)]
    );
    assert_eq!(t.i.poll_timeout(), Some(t.at(secs(9.0) + t.i.master_down_interval())));
}

/// rkeepalived's refuse_on_fault (UntilAdvert, for IPv6 or a VMAC): a
/// MASTER going to FAULT sends priority 0 but keeps its VIPs (the kernel
/// refuses connections with a reset) until the new master's first advert.
#[test]
fn lingering_vips_go_when_the_new_master_is_heard() {
    let mut t = T::master(Params {
        linger: Linger::UntilAdvert,
        ..params(100)
    });
    let a = t.ev(secs(5.0), Event::Fault(true));
    assert_eq!(
        a,
        [
            A::SendAdvert { priority: 0 },
            change(State::Master, State::Fault, 100, Reason::Fault)
        ]
    );
    let bound = t.i.master_down_interval();
    assert_eq!(t.notes, [Note::VipsLinger { bound }]);
    assert_eq!(t.i.poll_timeout(), Some(t.at(secs(5.0) + bound)));
    // A priority-0 advert is no new master.
    assert!(t.rx(secs(5.1), 0, "10.0.0.1").is_empty());
    assert_eq!(t.rx(secs(5.7), 90, "10.0.0.1"), [A::RemoveVips]);
    assert_eq!(
        t.notes,
        [Note::LingerEnded {
            why: LingerEnd::MasterHeard(ip("10.0.0.1"))
        }]
    );
    assert_eq!(t.i.state(), State::Fault);
    assert_eq!(t.i.poll_timeout(), None);
    // Adverts are not for a FAULT instance once nothing lingers.
    assert!(t.rx(secs(6.7), 90, "10.0.0.1").is_empty());
    assert_eq!(dropped(&t.notes), Some(RxError::NotRunning));
}

/// UntilAnnounced (IPv4): the new master's advert comes before its VIPs
/// (they wait for its server), so the VIPs stay until another host
/// announces one of them; another address's announcement does not count.
#[test]
fn lingering_vips_go_when_another_host_announces_them() {
    let mut t = T::master(Params {
        linger: Linger::UntilAnnounced,
        ..params(100)
    });
    t.ev(secs(5.0), Event::Fault(true));
    assert!(t.rx(secs(5.7), 90, "10.0.0.1").is_empty());
    assert!(t.ev(secs(5.71), Event::Announced(ip("10.9.9.9"))).is_empty());
    let vip = t.i.params().vips[0];
    assert_eq!(t.ev(secs(5.72), Event::Announced(vip)), [A::RemoveVips]);
    assert_eq!(
        t.notes,
        [Note::LingerEnded {
            why: LingerEnd::Announced(vip)
        }]
    );
    assert!(t.ev(secs(5.73), Event::Announced(vip)).is_empty(), "once");
}

/// A tracker that says there is nothing to refuse (the server is alive)
/// makes the next FAULT remove the VIPs at once.
#[test]
fn no_lingering_when_a_tracker_says_no() {
    let mut t = T::master(Params {
        linger: Linger::UntilAnnounced,
        ..params(100)
    });
    t.ev(secs(4.0), Event::MayLinger(false));
    assert!(!t.i.may_linger());
    let a = t.ev(secs(5.0), Event::Fault(true));
    assert!(a.contains(&A::RemoveVips), "{a:?}");
    assert!(t.notes.is_empty(), "{:?}", t.notes);
}

/// Without an announcement the lingering VIPs go after
/// Master_Down_Interval, and at once when the instance leaves FAULT or
/// stops.
#[test]
fn lingering_vips_are_bounded() {
    let lingering = || {
        let mut t = T::master(Params {
            linger: Linger::UntilAnnounced,
            ..params(100)
        });
        t.ev(secs(5.0), Event::Fault(true));
        t
    };
    let mut t = lingering();
    let bound = t.i.master_down_interval();
    assert!(t.ev(secs(5.0) + bound - secs(0.01), Event::Timer).is_empty());
    assert_eq!(t.ev(secs(5.0) + bound, Event::Timer), [A::RemoveVips]);
    assert_eq!(t.notes, [Note::LingerEnded { why: LingerEnd::Bound }]);
    let mut t = lingering();
    let a = t.ev(secs(5.5), Event::Fault(false));
    assert_eq!(
        a,
        [
            A::RemoveVips,
            change(State::Fault, State::Backup, 100, Reason::FaultCleared)
        ]
    );
    let mut t = lingering();
    let a = t.ev(secs(5.5), Event::Shutdown { release: true });
    assert_eq!(a.first(), Some(&A::RemoveVips), "{a:?}");
}

/// Maintenance (a switchover) with lingering on: the MASTER sends priority 0
/// but keeps its VIPs, even with a tracker that says its server is alive
/// (frozen, it refuses writes with an answer), until the new master
/// announces one, or Master_Down_Interval; without lingering they go at once.
#[test]
fn maintenance_keeps_the_vips_until_the_new_master_announces_them() {
    let mut t = T::master(Params {
        linger: Linger::UntilAnnounced,
        ..params(100)
    });
    t.ev(secs(4.0), Event::MayLinger(false));
    let a = t.ev(secs(5.0), Event::Maintenance(true));
    assert_eq!(
        a,
        [
            A::SendAdvert { priority: 0 },
            change(State::Master, State::Backup, 100, Reason::Maintenance)
        ]
    );
    assert!(matches!(t.notes.as_slice(), [Note::VipsLinger { .. }]), "{:?}", t.notes);
    assert!(
        t.rx(secs(5.7), 90, "10.0.0.1").is_empty(),
        "its advert comes before its VIPs"
    );
    let vip = t.i.params().vips[0];
    assert_eq!(t.ev(secs(5.72), Event::Announced(vip)), [A::RemoveVips]);
    let bound = t.i.master_down_interval();
    let mut t = T::master(Params {
        linger: Linger::UntilAnnounced,
        ..params(100)
    });
    t.ev(secs(5.0), Event::Maintenance(true));
    assert_eq!(t.ev(secs(5.0) + bound, Event::Timer), [A::RemoveVips], "bounded");
    let mut t = T::master(Params {
        linger: Linger::UntilAdvert,
        ..params(100)
    });
    t.ev(secs(5.0), Event::Maintenance(true));
    assert_eq!(
        t.rx(secs(5.7), 90, "10.0.0.1"),
        [A::RemoveVips],
        "UntilAdvert: its advert"
    );
    let mut t = T::master(params(100));
    let a = t.ev(secs(5.0), Event::Maintenance(true));
    assert!(a.contains(&A::RemoveVips), "no lingering configured: {a:?}");
}

/// KA §3.5: an owner configured `state MASTER` leaves FAULT straight to MASTER.
#[test]
fn owner_leaves_fault_to_master() {
    let mut t = T::master(params(255));
    t.ev(secs(1.0), Event::Fault(true));
    let a = t.ev(secs(2.0), Event::Fault(false));
    assert_eq!(
        a.last(),
        Some(&change(State::Fault, State::Master, 255, Reason::FaultCleared))
    );
}

/// RFC 5798 §6.4.3 Shutdown and KA §3.8: priority-0 advert, VIPs removed,
/// STOP notify; with -V neither advert nor removal.
#[test]
fn shutdown_releases_the_master() {
    let mut t = T::master(params(100));
    assert_eq!(
        t.ev(secs(5.0), Event::Shutdown { release: true }),
        [
            A::SendAdvert { priority: 0 },
            A::RemoveVips,
            change(State::Master, State::Stop, 100, Reason::Shutdown)
        ]
    );
    let mut t = T::master(params(100));
    assert_eq!(
        t.ev(secs(5.0), Event::Shutdown { release: false }),
        [change(State::Master, State::Stop, 100, Reason::Shutdown)]
    );
    let mut t = T::started(params(100));
    assert_eq!(
        t.ev(secs(1.0), Event::Shutdown { release: true }),
        [change(State::Backup, State::Stop, 100, Reason::Shutdown)]
    );
}

/// KA §2.1: tracking never changes an owner's priority; others clamp to 1..254.
#[test]
fn effective_priority_rules() {
    let mut t = T::started(params(255));
    t.ev(secs(0.1), Event::Priority(100));
    assert_eq!(t.i.effective_priority(), 255);
    let mut t = T::started(params(100));
    t.ev(secs(0.1), Event::Priority(0));
    assert_eq!(t.i.effective_priority(), 1);
    t.ev(secs(0.1), Event::Priority(255));
    assert_eq!(t.i.effective_priority(), 254);
}

// ---- receive checks, RFC 9568 §7.1 order ----------------------------------

fn dropped(notes: &[Note]) -> Option<RxError> {
    match notes {
        [Note::Dropped { error, .. }] => Some(*error),
        _ => None,
    }
}

/// §7.1 (1): TTL must be 255; counted as ip_ttl_err.
#[test]
fn ttl_not_255_is_dropped_and_counted() {
    let mut t = T::started(params(90));
    let bytes = wire(t.i.params(), 100, "10.0.0.1");
    let a = t.ev(
        secs(1.0),
        Event::Advert {
            meta: RxMeta {
                ttl: 64,
                ..meta("10.0.0.1")
            },
            payload: &bytes,
        },
    );
    assert!(a.is_empty(), "a dropped advert does nothing");
    assert!(matches!(dropped(&t.notes), Some(RxError::Ttl { got: 64, .. })));
    assert_eq!(t.i.stats().ip_ttl_err, 1);
    assert_eq!(
        t.i.poll_timeout(),
        Some(t.at(t.i.master_down_interval())),
        "timer not reset by a bad advert"
    );
}

/// §7.1 (2): the configured version only.
#[test]
fn wrong_version_is_dropped() {
    let mut t = T::started(params(90));
    let v3 = wire(
        &Params {
            version: Version::V3,
            ..params(90)
        },
        100,
        "10.0.0.1",
    );
    let a = t.ev(
        secs(1.0),
        Event::Advert {
            meta: meta("10.0.0.1"),
            payload: &v3,
        },
    );
    assert!(a.is_empty(), "a dropped advert does nothing");
    assert_eq!(dropped(&t.notes), Some(RxError::Version { got: 3, configured: 2 }));
}

/// §7.1 (3): short packets count as packet_len_err.
#[test]
fn truncated_is_a_length_error() {
    let mut t = T::started(params(90));
    let bytes = wire(t.i.params(), 100, "10.0.0.1");
    let a = t.ev(
        secs(1.0),
        Event::Advert {
            meta: meta("10.0.0.1"),
            payload: &bytes[..10],
        },
    );
    assert!(a.is_empty(), "a dropped advert does nothing");
    assert!(matches!(dropped(&t.notes), Some(RxError::Decode(_))));
    assert_eq!(t.i.stats().packet_len_err, 1);
}

/// §7.1 (4): checksum in the configured form; v3/IPv4 pseudo-header
/// (keepalived's default) versus message-only (v3_checksum_as_v2).
#[test]
fn checksum_forms() {
    let p = Params {
        version: Version::V3,
        ..params(90)
    };
    let mut t = T::started(p.clone());
    let other = wire(
        &Params {
            checksum_mode: ChecksumMode::MessageOnly,
            ..p.clone()
        },
        100,
        "10.0.0.1",
    );
    let a = t.ev(
        secs(1.0),
        Event::Advert {
            meta: meta("10.0.0.1"),
            payload: &other,
        },
    );
    assert!(a.is_empty(), "a dropped advert does nothing");
    assert_eq!(dropped(&t.notes), Some(RxError::Checksum));
    let mut t = T::started(Params {
        checksum_mode: ChecksumMode::MessageOnly,
        ..p
    });
    assert!(t
        .ev(
            secs(1.0),
            Event::Advert {
                meta: meta("10.0.0.1"),
                payload: &other
            }
        )
        .is_empty());
    let mut bytes = wire(&params(90), 100, "10.0.0.1");
    bytes[9] ^= 1;
    let mut t = T::started(params(90));
    assert_eq!(
        t.dropped(
            secs(1.0),
            Event::Advert {
                meta: meta("10.0.0.1"),
                payload: &bytes
            }
        ),
        Some(RxError::Checksum)
    );
}

/// §7.1 (6): type must be 1 (invalid_type_rcvd).
#[test]
fn wrong_type_is_counted() {
    let mut t = T::started(params(90));
    let mut bytes = wire(t.i.params(), 100, "10.0.0.1");
    bytes[0] = 0x22;
    // Fix the v2 checksum for the changed byte.
    bytes[6] = 0;
    bytes[7] = 0;
    let c = super::packet::checksum(
        &bytes,
        Version::V2,
        ip("10.0.0.1"),
        ip(MCAST),
        ChecksumMode::PseudoHeader,
    );
    bytes[6..8].copy_from_slice(&c.to_be_bytes());
    assert_eq!(
        t.dropped(
            secs(1.0),
            Event::Advert {
                meta: meta("10.0.0.1"),
                payload: &bytes
            }
        ),
        Some(RxError::Type(2))
    );
    assert_eq!(t.i.stats().invalid_type_rcvd, 1);
}

/// KA v2 PASS authentication: mismatched password → auth_failure; type
/// mismatch → authtype_mismatch (RFC 2338 §5.3.6).
#[test]
fn v2_pass_authentication() {
    let mine = Params {
        auth: Some((AuthType::Pass, *b"1111\0\0\0\0")),
        ..params(90)
    };
    let mut t = T::started(mine.clone());
    let ok = wire(&mine, 100, "10.0.0.1");
    assert!(t
        .ev(
            secs(1.0),
            Event::Advert {
                meta: meta("10.0.0.1"),
                payload: &ok
            }
        )
        .is_empty());
    let bad = wire(
        &Params {
            auth: Some((AuthType::Pass, *b"2222\0\0\0\0")),
            ..params(90)
        },
        100,
        "10.0.0.1",
    );
    assert_eq!(
        t.dropped(
            secs(1.5),
            Event::Advert {
                meta: meta("10.0.0.1"),
                payload: &bad
            }
        ),
        Some(RxError::AuthFailure)
    );
    let none = wire(&params(90), 100, "10.0.0.1");
    assert!(matches!(
        t.dropped(
            secs(2.0),
            Event::Advert {
                meta: meta("10.0.0.1"),
                payload: &none
            }
        ),
        Some(RxError::AuthTypeMismatch { .. })
    ));
    assert_eq!((t.i.stats().auth_failure, t.i.stats().authtype_mismatch), (1, 1));
}

/// RFC 3768 §7.1 (7): a v2 advert with another interval is dropped
/// (advert_interval_err); KA §3.2.
#[test]
fn v2_interval_mismatch_is_dropped() {
    let mut t = T::started(params(90));
    let other = wire(
        &Params {
            advert_int: secs(2.0),
            ..params(90)
        },
        100,
        "10.0.0.1",
    );
    assert!(matches!(
        t.dropped(
            secs(1.0),
            Event::Advert {
                meta: meta("10.0.0.1"),
                payload: &other
            }
        ),
        Some(RxError::Interval { .. })
    ));
    assert_eq!(t.i.stats().advert_interval_err, 1);
}

/// A VRRPv3 advert must not carry Max Adver Int 0 (RFC 5798 §5.2.7
/// defines no such interval): it is dropped and counted, the master's
/// interval is not learnt, and the down timer is not reset by it.
/// keepalived 2.2.7 adopts it and flaps (compat/DEVIATIONS.md).
#[test]
fn v3_zero_interval_is_dropped_and_counted() {
    let p = Params::new("VI_1", 51, 90, Version::V3, vec![ip(VIP)]);
    let mut t = T::started(p.clone());
    let mut bytes = wire(&p, 200, "10.0.0.1");
    // Zero the 12-bit interval, then mend the checksum.
    bytes[4] &= 0xf0;
    bytes[5] = 0;
    bytes[6..8].fill(0);
    let c = super::packet::checksum(&bytes, Version::V3, ip("10.0.0.1"), ip(MCAST), p.checksum_mode);
    bytes[6..8].copy_from_slice(&c.to_be_bytes());
    let deadline = t.i.poll_timeout();
    assert_eq!(
        t.dropped(
            secs(1.0),
            Event::Advert {
                meta: meta("10.0.0.1"),
                payload: &bytes
            }
        ),
        Some(RxError::Interval {
            got: Duration::ZERO,
            configured: secs(1.0)
        })
    );
    assert_eq!(t.i.stats().advert_interval_err, 1);
    assert_eq!(t.i.master_adver_interval(), secs(1.0), "not learnt");
    assert_eq!(t.i.poll_timeout(), deadline, "the down timer runs on");
}

/// RFC 5798 §7.1 (8): address list must match unless the sender is the
/// owner; keepalived's skip_check_adv_addr skips it for the known master.
#[test]
fn address_list_check() {
    let mut t = T::started(params(90));
    let other = wire(
        &Params::new("VI_1", 51, 100, Version::V2, vec![ip("10.0.0.200")]),
        100,
        "10.0.0.1",
    );
    assert_eq!(
        t.dropped(
            secs(1.0),
            Event::Advert {
                meta: meta("10.0.0.1"),
                payload: &other
            }
        ),
        Some(RxError::AddressList)
    );
    assert_eq!(t.i.stats().addr_list_err, 1);
    let owner = wire(
        &Params::new("VI_1", 51, 255, Version::V2, vec![ip("10.0.0.200")]),
        255,
        "10.0.0.1",
    );
    assert!(
        t.ev(
            secs(1.5),
            Event::Advert {
                meta: meta("10.0.0.1"),
                payload: &owner
            }
        )
        .is_empty(),
        "owner's advert kept"
    );

    let mut t = T::started(Params {
        skip_check_adv_addr: true,
        ..params(90)
    });
    let good = wire(t.i.params(), 100, "10.0.0.1");
    t.ev(
        secs(1.0),
        Event::Advert {
            meta: meta("10.0.0.1"),
            payload: &good,
        },
    );
    assert!(
        t.ev(
            secs(2.0),
            Event::Advert {
                meta: meta("10.0.0.1"),
                payload: &other
            }
        )
        .is_empty(),
        "known master skips the check"
    );
    assert!(
        t.dropped(
            secs(2.5),
            Event::Advert {
                meta: meta("10.0.0.9"),
                payload: &other
            }
        )
        .is_some(),
        "a new source is checked"
    );
}

/// KA unicast: TTL is checked against min_ttl/max_ttl, and with
/// check_unicast_src only configured peers are heard.
#[test]
fn unicast_source_and_ttl_rules() {
    let p = Params {
        unicast_peers: vec![super::UnicastPeer {
            addr: ip("10.0.0.1"),
            min_ttl: Some(250),
            max_ttl: None,
        }],
        check_unicast_src: true,
        ..params(90)
    };
    let mut t = T::started(p.clone());
    let bytes = wire(&p, 100, "10.0.0.1");
    let dst = RxMeta {
        dst: ip("10.0.0.2"),
        ..meta("10.0.0.1")
    };
    assert!(t
        .ev(
            secs(1.0),
            Event::Advert {
                meta: RxMeta { ttl: 252, ..dst },
                payload: &bytes
            }
        )
        .is_empty());
    assert!(matches!(
        t.dropped(
            secs(1.1),
            Event::Advert {
                meta: RxMeta { ttl: 64, ..dst },
                payload: &bytes
            }
        ),
        Some(RxError::Ttl { .. })
    ));
    let stranger = RxMeta {
        src: ip("10.0.0.7"),
        ..dst
    };
    assert!(matches!(
        t.dropped(
            secs(1.2),
            Event::Advert {
                meta: stranger,
                payload: &bytes
            }
        ),
        Some(RxError::UnknownSource(_))
    ));
}

#[test]
fn skew_and_down_interval_match_the_rfc_formulas() {
    assert_eq!(skew_time(Version::V2, 90, secs(1.0)), Duration::from_nanos(648_437_500));
    assert_eq!(
        master_down_interval(Version::V3, 90, secs(1.0), 3),
        Duration::from_nanos(3_648_437_500)
    );
}

#[test]
fn advert_value_carries_the_configuration() {
    let i = Instance::new(Params {
        auth: Some((AuthType::Pass, *b"abcd\0\0\0\0")),
        ..params(100)
    });
    let a: Advert = i.advert(100);
    assert_eq!(
        (a.vrid, a.priority, a.interval, a.auth_type),
        (51, 100, secs(1.0), AuthType::Pass)
    );
    let i3 = Instance::new(Params {
        version: Version::V3,
        auth: Some((AuthType::Pass, *b"abcd\0\0\0\0")),
        ..params(100)
    });
    assert_eq!(i3.advert(100).auth_type, AuthType::None, "v3 carries no authentication");
}

/// The journal's reasons: a takeover after the master's priority 0 is
/// told apart from a silent master's down timer.
#[test]
fn a_takeover_after_priority_zero_says_so() {
    let mut t = T::started(params(90));
    t.rx(secs(1.0), 100, "10.0.0.1");
    t.rx(secs(2.0), 0, "10.0.0.1");
    let a = t.ev(secs(2.0) + t.i.skew_time(), Event::Timer);
    assert_eq!(
        a[3],
        change(
            State::Backup,
            State::Master,
            90,
            Reason::PriorityZero { from: ip("10.0.0.1") }
        )
    );
    let mut silent = T::started(params(90));
    silent.rx(secs(1.0), 100, "10.0.0.1");
    let a = silent.ev(secs(1.0) + silent.i.master_down_interval(), Event::Timer);
    assert_eq!(a[3], change(State::Backup, State::Master, 90, Reason::MasterDown));
}

/// Maintenance: a MASTER gives up at once (priority 0, then the VIPs go)
/// and never takes over, even with no master heard; off, it is back in
/// the election.
#[test]
fn maintenance_gives_up_master_and_never_takes_over_until_off() {
    let mut t = T::master(params(100));
    let now = secs(10.0);
    assert_eq!(
        t.ev(now, Event::Maintenance(true)),
        [
            A::SendAdvert { priority: 0 },
            A::RemoveVips,
            change(State::Master, State::Backup, 100, Reason::Maintenance)
        ]
    );
    assert!(t.i.in_maintenance());
    assert_eq!(t.i.poll_timeout(), None, "no down timer: it never takes over");
    t.rx(secs(11.0), 50, "10.0.0.1");
    assert!(
        !t.i.would_preempt(),
        "under a lower-priority master it would not preempt (no guard handover for it)"
    );
    t.rx(secs(12.0), 0, "10.0.0.1");
    assert!(t.ev(secs(100.0), Event::Timer).is_empty());
    assert_eq!(t.i.state(), State::Backup);
    assert!(
        t.ev(secs(100.0), Event::Maintenance(false)).is_empty(),
        "off: no transition of its own"
    );
    assert_eq!(t.i.poll_timeout(), Some(t.at(secs(100.0) + t.i.master_down_interval())));
    let a = t.ev(secs(100.0) + t.i.master_down_interval(), Event::Timer);
    assert_eq!(
        a.last(),
        Some(&change(State::Backup, State::Master, 100, Reason::MasterDown))
    );
    // The address owner in maintenance starts as BACKUP, not MASTER.
    let mut owner = T::new(params(255));
    owner.ev(Duration::ZERO, Event::Maintenance(true));
    owner.ev(Duration::ZERO, Event::Start);
    assert_eq!(owner.i.state(), State::Backup);
}

/// A tracked VIP deleted under a MASTER (keepalived 2.2.7, observed):
/// priority 0, the VIPs go, BACKUP; Skew_Time later, with no other master
/// heard, it is MASTER again and installs every VIP. A BACKUP ignores it.
#[test]
fn a_deleted_vip_makes_the_master_step_down_and_come_back() {
    let mut t = T::master(params(100));
    let vip = t.i.params().vips[0];
    let now = secs(10.0);
    assert_eq!(
        t.ev(now, Event::VipDeleted(vip)),
        [
            A::SendAdvert { priority: 0 },
            A::RemoveVips,
            change(State::Master, State::Backup, 100, Reason::VipDeleted { addr: vip })
        ]
    );
    let skew = secs(156.0 / 256.0);
    assert_eq!(
        t.i.poll_timeout(),
        Some(t.at(now + skew)),
        "Skew_Time, not Master_Down_Interval"
    );
    assert!(t.ev(now, Event::VipDeleted(vip)).is_empty(), "a BACKUP holds no VIP");
    assert_eq!(
        t.ev(now + skew, Event::Timer),
        [
            A::SendAdvert { priority: 100 },
            A::AddVips,
            A::SendGratuitous { repeat: 5 },
            change(State::Backup, State::Master, 100, Reason::MasterDown)
        ]
    );
}

/// After a stall (SIGSTOP longer than Master_Down_Interval) a BACKUP
/// waits for the adverts it has not read yet before it takes over; one
/// whose timer has not run out, and a MASTER, carry on as they were.
#[test]
fn a_backup_resumed_from_a_stall_waits_for_the_unread_adverts() {
    let mut t = T::started(params(90));
    t.rx(secs(1.0), 100, "10.0.0.1");
    let late = secs(10.0);
    assert!(t.ev(late, Event::Resumed).is_empty());
    let mdi = t.i.master_down_interval();
    assert_eq!(t.i.poll_timeout(), Some(t.at(late + mdi)));
    assert!(t.ev(late, Event::Timer).is_empty(), "no takeover on stale evidence");
    t.rx(late + secs(0.01), 100, "10.0.0.1");
    assert_eq!(t.i.state(), State::Backup);
    let mut t = T::started(params(90));
    let before = t.i.poll_timeout();
    t.ev(secs(1.0), Event::Resumed);
    assert_eq!(t.i.poll_timeout(), before, "its timer had not run out");
    let mut t = T::master(params(100));
    t.ev(secs(20.0), Event::Resumed);
    assert_eq!(
        t.ev(secs(20.0), Event::Timer)[0],
        A::SendAdvert { priority: 100 },
        "a MASTER advertises at once"
    );
}

// ---- reload ------------------------------------------------------------

/// A reload that changes a MASTER's advert sends it at once with the new
/// priority (keepalived 2.2.7 sends at the reload), then every interval
/// from there; an unchanged reload keeps the rhythm, and a BACKUP's
/// timers are untouched.
#[test]
fn a_reload_changing_the_advert_sends_it_at_once() {
    let mut t = T::master(params(100));
    let mdi = t.i.master_down_interval();
    let due = t.i.poll_timeout();
    let at = mdi + secs(0.3);
    t.i.reconfigure(params(100), t.at(at));
    assert_eq!(t.i.poll_timeout(), due, "unchanged: the rhythm is kept");
    t.i.reconfigure(params(80), t.at(at));
    assert_eq!(t.i.poll_timeout(), Some(t.at(at)), "changed: due now");
    let sent = t.ev(at, Event::Timer);
    assert!(
        sent.iter().any(|a| matches!(a, A::SendAdvert { priority: 80, .. })),
        "{sent:?}"
    );
    assert_eq!(t.i.poll_timeout(), Some(t.at(at + secs(1.0))));

    let mut b = T::started(params(90));
    let down = b.i.poll_timeout();
    b.i.reconfigure(params(95), b.at(secs(0.5)));
    assert_eq!(b.i.poll_timeout(), down, "a BACKUP keeps its Master_Down_Timer");
}
