//! The check framework's contract: a check runs in its own task, off the
//! protocol loop, and only reports results; the tracker decides what they
//! mean. Scripts, files, processes, the MySQL probe and plugins are kinds
//! of [`Check`].

use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::tracker::ObjId;

/// One result of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Failed, with a reason for the log ("exited with status 1",
    /// "timed out", "connection refused", …).
    Failure(String),
    /// A value (track_file).
    Value(i64),
    /// An up/down condition (track_process: quorum met).
    Up(bool),
}

/// Which run of which check a report comes from: a check started anew
/// (a reload changed it) gets a new generation, so a report still queued
/// from the old run is recognised and dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source {
    pub obj: ObjId,
    pub generation: u64,
}

impl Source {
    /// A source for unit tests of a single check.
    #[cfg(test)]
    pub(crate) fn test() -> Source {
        Source {
            obj: crate::track::Tracker::new().add_check("test", 1, 1, false),
            generation: 1,
        }
    }
}

/// What a check sends to the protocol loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub source: Source,
    pub outcome: Outcome,
    /// Extra status for dumps and logs (optional).
    pub detail: Option<serde_json::Value>,
    /// The database guard's decision for the instances that track this check.
    pub guard: Option<Guard>,
    /// Fencing (check_mysql `read_only_when_backup`): whether the server
    /// is now writable. An instance that becomes MASTER adds its VIPs only
    /// once it is, so no client reaches a read-only server through them.
    pub writable: Option<bool>,
    /// How long the run that gave this result took.
    pub latency: Option<Duration>,
    /// A switchover this check was asked for (by its request number) has
    /// ended: the local server is frozen and the peer has every write
    /// (Ok), or it was undone (Err: why).
    pub switchover: Option<(u64, Result<(), String>)>,
    /// Only `writable` counts: sent in the middle of a round (a takeover's
    /// fencing), its outcome is no result of the check.
    pub interim: bool,
}

/// The database guard's decision (check_mysql with `peer_host`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guard {
    /// Hold off preempting a live master (BACKUP instances).
    pub hold: bool,
    /// How a MASTER meets another live master.
    pub stance: crate::vrrp::Stance,
    /// A MASTER that fails now may keep its VIPs (refuse_on_fault): only
    /// while the local server is down, so the kernel refuses clients.
    pub linger: bool,
}

impl Guard {
    /// Until the guard has spoken: held, VRRP's rules for a MASTER.
    pub const CLOSED: Guard = Guard {
        hold: true,
        stance: crate::vrrp::Stance::Priority,
        linger: true,
    };
}

/// Where checks send their results.
#[derive(Clone)]
pub struct Reporter {
    source: Source,
    tx: mpsc::UnboundedSender<Report>,
    latency: Option<Duration>,
    /// Set while a run is in progress (keepalived's script "running" state).
    running: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Reporter {
    pub fn new(source: Source, tx: mpsc::UnboundedSender<Report>) -> Reporter {
        Reporter {
            source,
            tx,
            latency: None,
            running: Default::default(),
        }
    }

    /// Whether a run of this check is in progress, as its owner sees it.
    pub fn running_flag(&self) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
        self.running.clone()
    }

    fn set_running(&self, on: bool) {
        self.running.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// This reporter for a result whose run took `latency`.
    pub fn timed(&self, latency: Duration) -> Reporter {
        Reporter {
            latency: Some(latency),
            ..self.clone()
        }
    }

    pub fn report(&self, outcome: Outcome) -> bool {
        self.tx
            .send(Report {
                source: self.source,
                outcome,
                detail: None,
                guard: None,
                writable: None,
                latency: self.latency,
                switchover: None,
                interim: false,
            })
            .is_ok()
    }

    pub fn report_with(&self, outcome: Outcome, detail: serde_json::Value) -> bool {
        self.tx
            .send(Report {
                source: self.source,
                outcome,
                detail: Some(detail),
                guard: None,
                writable: None,
                latency: self.latency,
                switchover: None,
                interim: false,
            })
            .is_ok()
    }

    /// A result with its detail, the guard's decision and the
    /// fencing state.
    pub fn report_guarded(
        &self,
        outcome: Outcome,
        detail: serde_json::Value,
        guard: Option<Guard>,
        writable: Option<bool>,
        switchover: Option<(u64, Result<(), String>)>,
    ) -> bool {
        self.tx
            .send(Report {
                source: self.source,
                outcome,
                detail: Some(detail),
                guard,
                writable,
                latency: self.latency,
                switchover,
                interim: false,
            })
            .is_ok()
    }

    /// Fencing's news alone, before the round ends: the server is now
    /// writable (or not), so the VIPs held for it may go up.
    pub fn report_fenced(&self, writable: bool) -> bool {
        self.tx
            .send(Report {
                source: self.source,
                outcome: Outcome::Success,
                detail: None,
                guard: None,
                writable: Some(writable),
                latency: None,
                switchover: None,
                interim: true,
            })
            .is_ok()
    }

    pub fn closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// A kind of check. `start` spawns the check's task, which runs until it
/// is aborted or its reporter's channel closes.
pub trait Check: Send + 'static {
    fn start(self: Box<Self>, reporter: Reporter) -> JoinHandle<()>;
}

/// The common shape of periodic checks: one run every `interval`, never
/// two at once (a slow run delays the next, it does not overlap it), each
/// run bounded by `timeout` inside `probe`.
pub async fn periodic<F, Fut>(interval: Duration, reporter: Reporter, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Outcome>,
{
    let mut next = tokio::time::Instant::now();
    loop {
        tokio::time::sleep_until(next).await;
        let started = tokio::time::Instant::now();
        reporter.set_running(true);
        let outcome = probe().await;
        reporter.set_running(false);
        if !reporter.timed(started.elapsed()).report(outcome) {
            return;
        }
        next = (started + interval).max(tokio::time::Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn periodic_runs_never_overlap() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let running = Arc::new(AtomicU32::new(0));
        let max = Arc::new(AtomicU32::new(0));
        let (r2, m2) = (running.clone(), max.clone());
        let task = tokio::spawn(periodic(
            Duration::from_secs(1),
            Reporter::new(Source::test(), tx),
            move || {
                let (r, m) = (r2.clone(), m2.clone());
                async move {
                    let now = r.fetch_add(1, Ordering::SeqCst) + 1;
                    m.fetch_max(now, Ordering::SeqCst);
                    // Each run takes 2.5 intervals.
                    tokio::time::sleep(Duration::from_millis(2500)).await;
                    r.fetch_sub(1, Ordering::SeqCst);
                    Outcome::Success
                }
            },
        ));
        for _ in 0..4 {
            assert_eq!(rx.recv().await.map(|r| r.outcome), Some(Outcome::Success));
        }
        task.abort();
        assert_eq!(max.load(Ordering::SeqCst), 1, "runs overlapped");
    }
}
