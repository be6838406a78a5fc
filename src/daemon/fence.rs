//! check_mysql fencing on the VRRP side, without I/O: an instance that
//! becomes MASTER while its fencing check has not yet made the database
//! server writable holds back its VIPs (and their gratuitous ARPs), so no
//! client reaches a read-only server through them. They are released as
//! soon as the server is writable, or once the wait is over (the probe may
//! be slow or failing: the VIP is not withheld longer than the bound).
//! A removal of the VIPs drops what was held for that instance.

use std::time::{Duration, Instant};

use crate::vrrp::{Action, InstanceId, RouterOutput};

#[derive(Debug, Default)]
pub struct Deferral {
    held: Vec<(InstanceId, Action)>,
    until: Option<Instant>,
}

/// What [`Deferral::release`] gives back.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Released {
    pub actions: Vec<(InstanceId, Action)>,
    /// They were released because the wait ran out, not because the
    /// server became writable.
    pub expired: bool,
}

impl Deferral {
    /// The latest moment something held must be released.
    pub fn deadline(&self) -> Option<Instant> {
        self.until
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Takes from `out` the VIP and gratuitous-ARP actions of instances
    /// whose server is not writable yet (`unfenced(id)`: how long they may
    /// wait). Returns the instances whose VIPs began to wait.
    pub fn hold(
        &mut self,
        out: &mut RouterOutput,
        now: Instant,
        unfenced: impl Fn(InstanceId) -> Option<Duration>,
    ) -> Vec<InstanceId> {
        let mut started = Vec::new();
        let mut kept = Vec::with_capacity(out.actions.len());
        for (id, a) in std::mem::take(&mut out.actions) {
            match a {
                Action::AddVips | Action::SendGratuitous { .. } => {
                    if let Some(wait) = unfenced(id) {
                        if matches!(a, Action::AddVips) {
                            started.push(id);
                        }
                        let until = now + wait;
                        self.until = Some(self.until.map_or(until, |t| t.min(until)));
                        self.held.push((id, a));
                        continue;
                    }
                }
                Action::RemoveVips => self.held.retain(|(h, _)| *h != id),
                _ => {}
            }
            kept.push((id, a));
        }
        out.actions = kept;
        if self.held.is_empty() {
            self.until = None;
        }
        started
    }

    /// The held actions whose server is now writable, or all of them once
    /// `now` reaches the deadline (or `all` is set: a reload renumbers the
    /// instances, so nothing stays held across it).
    pub fn release(&mut self, now: Instant, all: bool, unfenced: impl Fn(InstanceId) -> Option<Duration>) -> Released {
        if self.held.is_empty() {
            return Released::default();
        }
        let expired = all || self.until.is_some_and(|t| t <= now);
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|(id, _)| expired || unfenced(*id).is_none());
        self.held = waiting;
        if self.held.is_empty() {
            self.until = None;
        }
        Released {
            expired: expired && !ready.is_empty(),
            actions: ready,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vrrp::Router;

    fn ids() -> (InstanceId, InstanceId) {
        let mut r: Router<()> = Router::new();
        let p = |n| crate::vrrp::Params::new(n, 1, 100, crate::vrrp::Version::V2, Vec::new());
        (r.add_instance(p("a")), r.add_instance(p("b")))
    }

    fn master_output(id: InstanceId) -> RouterOutput {
        RouterOutput {
            actions: vec![
                (id, Action::SendAdvert { priority: 100 }),
                (id, Action::AddVips),
                (id, Action::SendGratuitous { repeat: 5 }),
            ],
            notes: Vec::new(),
        }
    }

    /// Unfenced: the advert goes at once, VIPs and ARPs wait; writable:
    /// they are released in their order.
    #[test]
    fn vips_wait_until_writable() {
        let (a, b) = ids();
        let t0 = Instant::now();
        let mut d = Deferral::default();
        let mut out = master_output(a);
        out.actions.push((b, Action::AddVips));
        let started = d.hold(&mut out, t0, |id| (id == a).then_some(Duration::from_secs(1)));
        assert_eq!(started, [a]);
        assert_eq!(
            out.actions,
            [(a, Action::SendAdvert { priority: 100 }), (b, Action::AddVips)]
        );
        assert_eq!(d.deadline(), Some(t0 + Duration::from_secs(1)));
        assert!(d
            .release(t0, false, |_| Some(Duration::from_secs(1)))
            .actions
            .is_empty());
        let r = d.release(t0, false, |_| None);
        assert_eq!(
            r.actions,
            [(a, Action::AddVips), (a, Action::SendGratuitous { repeat: 5 })]
        );
        assert!(!r.expired);
        assert!(d.is_empty() && d.deadline().is_none());
    }

    /// Never longer than the bound: at the deadline everything goes.
    #[test]
    fn released_at_the_deadline_anyway() {
        let (a, _) = ids();
        let t0 = Instant::now();
        let mut d = Deferral::default();
        d.hold(&mut master_output(a), t0, |_| Some(Duration::from_millis(500)));
        let r = d.release(t0 + Duration::from_millis(500), false, |_| Some(Duration::from_secs(1)));
        assert_eq!(r.actions.len(), 2);
        assert!(r.expired);
    }

    /// Leaving MASTER before the server was writable: nothing is added later.
    #[test]
    fn a_removal_drops_what_was_held() {
        let (a, _) = ids();
        let t0 = Instant::now();
        let mut d = Deferral::default();
        d.hold(&mut master_output(a), t0, |_| Some(Duration::from_secs(1)));
        let mut out = RouterOutput {
            actions: vec![(a, Action::SendAdvert { priority: 0 }), (a, Action::RemoveVips)],
            notes: Vec::new(),
        };
        d.hold(&mut out, t0, |_| Some(Duration::from_secs(1)));
        assert_eq!(out.actions.len(), 2, "the removal itself goes through");
        assert!(d.is_empty());
        assert!(d
            .release(t0 + Duration::from_secs(2), false, |_| None)
            .actions
            .is_empty());
    }
}
