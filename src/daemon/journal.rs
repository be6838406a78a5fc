//! The transition journal: the last [`JOURNAL_LEN`] state changes of each
//! instance, with why each happened, the priorities and the peer that
//! caused it. The reasons are one closed list ([`Why`]): the status
//! command, `explain` and the JSON dump show them, and the metrics use
//! them as labels. Pure: the protocol loop records, nothing here does I/O.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::SystemTime;

use serde_json::{json, Value};

use crate::vrrp::{Reason, State};

pub const JOURNAL_LEN: usize = 64;

/// Why an instance changed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Why {
    /// It left INIT (daemon start, or an instance a reload created).
    Startup,
    /// No advert from a master for Master_Down_Interval.
    MasterDownTimer,
    /// As MASTER it heard a better advert (higher priority, or equal from a higher address).
    HigherPriorityHeard,
    /// The master sent priority 0 (it stepped down).
    PriorityZeroHeard,
    /// It took over from a lower-priority master.
    Preempt,
    /// A tracked script, check, file or process failed (weight 0).
    TrackerFault,
    TrackerRecovered,
    /// A tracked interface (or its own) went down.
    LinkDown,
    LinkUp,
    /// Its sync group moved it.
    SyncGroup,
    /// check_mysql's catch-up guard released its hold on preemption.
    GuardRelease,
    /// As MASTER, check_mysql's guard had it give way to a live master whose
    /// server may hold writes its own lacks.
    GuardYield,
    /// `rkeepalived maintenance … on`.
    Maintenance,
    /// As MASTER, a tracked VIP was deleted from the host by someone else.
    VipDeleted,
    /// A reload retired the instance and created it anew (interface, VRID,
    /// version, family or VMAC changed).
    Reload,
    Shutdown,
}

impl Why {
    pub const ALL: [Why; 16] = [
        Why::Startup,
        Why::MasterDownTimer,
        Why::HigherPriorityHeard,
        Why::PriorityZeroHeard,
        Why::Preempt,
        Why::TrackerFault,
        Why::TrackerRecovered,
        Why::LinkDown,
        Why::LinkUp,
        Why::SyncGroup,
        Why::GuardRelease,
        Why::GuardYield,
        Why::Maintenance,
        Why::VipDeleted,
        Why::Reload,
        Why::Shutdown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Why::Startup => "startup",
            Why::MasterDownTimer => "master_down_timer",
            Why::HigherPriorityHeard => "higher_priority_heard",
            Why::PriorityZeroHeard => "priority_zero_heard",
            Why::Preempt => "preempt",
            Why::TrackerFault => "tracker_fault",
            Why::TrackerRecovered => "tracker_recovered",
            Why::LinkDown => "link_down",
            Why::LinkUp => "link_up",
            Why::SyncGroup => "sync_group",
            Why::GuardRelease => "guard_release",
            Why::GuardYield => "guard_yield",
            Why::Maintenance => "maintenance",
            Why::VipDeleted => "vip_deleted",
            Why::Reload => "reload",
            Why::Shutdown => "shutdown",
        }
    }
}

/// What a fault was about, which the engine does not know: the tracker does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FaultCause {
    /// A tracked interface (or the instance's own) is down.
    Link,
    /// A tracked check, file or process failed.
    #[default]
    Tracker,
}

/// The journal's reason for an engine transition; faults are told apart
/// by `cause` (what failed, or for a recovery what had failed).
pub fn why(reason: Reason, cause: FaultCause) -> Why {
    match reason {
        Reason::Startup => Why::Startup,
        Reason::MasterDown => Why::MasterDownTimer,
        Reason::PriorityZero { .. } => Why::PriorityZeroHeard,
        Reason::Preempt { .. } => Why::Preempt,
        Reason::HoldReleased => Why::GuardRelease,
        Reason::Yielded { .. } => Why::GuardYield,
        Reason::Maintenance => Why::Maintenance,
        Reason::Preempted { .. } => Why::HigherPriorityHeard,
        Reason::Fault if cause == FaultCause::Link => Why::LinkDown,
        Reason::Fault => Why::TrackerFault,
        Reason::FaultCleared if cause == FaultCause::Link => Why::LinkUp,
        Reason::FaultCleared => Why::TrackerRecovered,
        Reason::SyncGroup => Why::SyncGroup,
        Reason::VipDeleted { .. } => Why::VipDeleted,
        Reason::Shutdown => Why::Shutdown,
    }
}

/// The peer that caused a transition, with the priority it advertised.
pub fn peer(reason: Reason) -> Option<(IpAddr, u8)> {
    match reason {
        Reason::Preempted { from, priority }
        | Reason::Preempt { from, priority }
        | Reason::Yielded { from, priority } => Some((from, priority)),
        Reason::PriorityZero { from } => Some((from, 0)),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub at: SystemTime,
    pub from: State,
    pub to: State,
    pub why: Why,
    /// Our effective priority at the change.
    pub priority: u8,
    pub peer: Option<(IpAddr, u8)>,
}

impl Entry {
    pub fn to_json(&self) -> Value {
        json!({
            "time": secs(self.at),
            "from": self.from.name(),
            "to": self.to.name(),
            "reason": self.why.as_str(),
            "priority": self.priority,
            "peer": self.peer.map(|(a, p)| json!({ "address": a.to_string(), "priority": p })),
        })
    }
}

/// Seconds since the epoch, as the dumps write times.
pub fn secs(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// One instance's last transitions, oldest first, and how many there
/// have been of each reason since the daemon started (the metrics).
#[derive(Debug, Clone, Default)]
pub struct Journal {
    entries: VecDeque<Entry>,
    /// Indexed by `Why as usize` (the order of `Why::ALL`).
    counts: [u64; Why::ALL.len()],
}

impl Journal {
    pub fn record(&mut self, e: Entry) {
        self.counts[e.why as usize] += 1;
        if self.entries.len() == JOURNAL_LEN {
            self.entries.pop_front();
        }
        self.entries.push_back(e);
    }

    /// Transitions of each reason so far (not bounded by the journal's
    /// length), in the order of `Why::ALL`.
    pub fn counts(&self) -> [u64; Why::ALL.len()] {
        self.counts
    }

    pub fn last(&self) -> Option<&Entry> {
        self.entries.back()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn to_json(&self) -> Value {
        Value::Array(self.entries.iter().map(Entry::to_json).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_the_reasons_in_declaration_order() {
        // The counts are indexed by `Why as usize`.
        for (i, w) in Why::ALL.iter().enumerate() {
            assert_eq!(*w as usize, i, "{w:?}");
        }
    }

    fn entry(n: u8) -> Entry {
        Entry {
            at: SystemTime::UNIX_EPOCH,
            from: State::Backup,
            to: State::Master,
            why: Why::MasterDownTimer,
            priority: n,
            peer: None,
        }
    }

    #[test]
    fn the_journal_keeps_the_last_64_oldest_first() {
        let mut j = Journal::default();
        for n in 0..100 {
            j.record(entry(n));
        }
        assert_eq!(j.len(), JOURNAL_LEN);
        assert_eq!(j.iter().next().map(|e| e.priority), Some(100 - JOURNAL_LEN as u8));
        assert_eq!(j.last().map(|e| e.priority), Some(99));
        assert_eq!(
            j.counts()[Why::MasterDownTimer as usize],
            100,
            "counted beyond the journal's length"
        );
        assert_eq!(j.counts()[Why::Preempt as usize], 0);
    }

    /// One engine reason (and fault cause) for each journal reason the
    /// engine produces; reload comes from the daemon.
    #[test]
    fn every_engine_reason_has_its_journal_reason() {
        let a: IpAddr = "10.0.0.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let t = FaultCause::Tracker;
        let cases = [
            (why(Reason::Startup, t), Why::Startup),
            (why(Reason::MasterDown, t), Why::MasterDownTimer),
            (
                why(Reason::Preempted { from: a, priority: 200 }, t),
                Why::HigherPriorityHeard,
            ),
            (why(Reason::PriorityZero { from: a }, t), Why::PriorityZeroHeard),
            (why(Reason::Preempt { from: a, priority: 50 }, t), Why::Preempt),
            (why(Reason::Fault, t), Why::TrackerFault),
            (why(Reason::FaultCleared, t), Why::TrackerRecovered),
            (why(Reason::Fault, FaultCause::Link), Why::LinkDown),
            (why(Reason::FaultCleared, FaultCause::Link), Why::LinkUp),
            (why(Reason::SyncGroup, t), Why::SyncGroup),
            (why(Reason::HoldReleased, t), Why::GuardRelease),
            (why(Reason::Maintenance, t), Why::Maintenance),
            (why(Reason::Shutdown, t), Why::Shutdown),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
        assert_eq!(peer(Reason::PriorityZero { from: a }), Some((a, 0)));
        assert_eq!(peer(Reason::Preempted { from: a, priority: 200 }), Some((a, 200)));
        let names: std::collections::HashSet<&str> = Why::ALL.iter().map(|w| w.as_str()).collect();
        assert_eq!(names.len(), Why::ALL.len(), "distinct labels");
    }
}
