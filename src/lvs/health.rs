//! keepalived's rules for a real server's health, without I/O: a checker's
//! retries, a real server's state from its checkers, a virtual server's
//! quorum with hysteresis.

use std::time::Duration;

use crate::config::lvs::EffectiveTiming;

/// One checker's view: up or down, and the retries left before an up
/// checker that fails is declared down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckerHealth {
    pub up: bool,
    retries_left: u32,
}

/// What one check result did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// `Some(up)` when the checker changed state.
    pub changed: Option<bool>,
    /// When to check next.
    pub next: Duration,
}

impl CheckerHealth {
    /// keepalived starts a checker up, unless `alpha` says down.
    pub fn new(t: &EffectiveTiming) -> Self {
        CheckerHealth {
            up: !t.alpha,
            retries_left: t.retry,
        }
    }

    /// One result. An up checker that fails is tried again `retry` times,
    /// `delay_before_retry` apart, before it goes down; one success brings
    /// a down checker up. Otherwise the next check is `delay_loop` away.
    pub fn record(&mut self, ok: bool, t: &EffectiveTiming) -> Step {
        if ok {
            self.retries_left = t.retry;
            let changed = (!self.up).then_some(true);
            self.up = true;
            return Step {
                changed,
                next: t.delay_loop,
            };
        }
        if self.up && self.retries_left > 0 {
            self.retries_left -= 1;
            return Step {
                changed: None,
                next: t.delay_before_retry,
            };
        }
        self.retries_left = t.retry;
        let changed = self.up.then_some(false);
        self.up = false;
        Step {
            changed,
            next: t.delay_loop,
        }
    }
}

/// A virtual server's quorum: gained when the live weight reaches
/// `quorum + hysteresis`, lost when it falls below `quorum - hysteresis`.
pub fn quorum_after(up: bool, live_weight: u64, quorum: u32, hysteresis: u32) -> bool {
    let q = u64::from(quorum);
    let h = u64::from(hysteresis);
    if up {
        live_weight + h >= q
    } else {
        live_weight >= q + h
    }
}

/// A MISC_CHECK with `misc_dynamic`: exit 0 is success at the configured
/// weight, 1 failure, 2–255 success with weight `status - 2`.
pub fn misc_result(status: Option<i32>, dynamic: bool) -> (bool, Option<u32>) {
    match status {
        Some(0) => (true, None),
        Some(s @ 2..=255) if dynamic => (true, Some((s - 2) as u32)),
        _ => (false, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(retry: u32, alpha: bool) -> EffectiveTiming {
        EffectiveTiming {
            connect_timeout: Duration::from_secs(1),
            retry,
            delay_before_retry: Duration::from_millis(300),
            warmup: Duration::ZERO,
            delay_loop: Duration::from_secs(2),
            alpha,
        }
    }

    #[test]
    fn an_up_checker_goes_down_after_its_retries() {
        let t = timing(2, false);
        let mut h = CheckerHealth::new(&t);
        assert!(h.up);
        let a = h.record(false, &t);
        assert_eq!((a.changed, a.next), (None, t.delay_before_retry));
        let b = h.record(false, &t);
        assert_eq!((b.changed, b.next), (None, t.delay_before_retry));
        let c = h.record(false, &t);
        assert_eq!((c.changed, c.next), (Some(false), t.delay_loop));
        // Down stays down at the normal rhythm, and one success recovers.
        assert_eq!(h.record(false, &t).changed, None);
        assert_eq!(
            h.record(true, &t),
            Step {
                changed: Some(true),
                next: t.delay_loop
            }
        );
    }

    #[test]
    fn a_success_between_failures_restores_the_retries() {
        let t = timing(1, false);
        let mut h = CheckerHealth::new(&t);
        h.record(false, &t);
        h.record(true, &t);
        assert_eq!(h.record(false, &t).changed, None, "the retry is back");
        assert_eq!(h.record(false, &t).changed, Some(false));
    }

    #[test]
    fn alpha_starts_down_and_retry_zero_fails_at_once() {
        let t = timing(0, true);
        let mut h = CheckerHealth::new(&t);
        assert!(!h.up);
        assert_eq!(h.record(true, &t).changed, Some(true));
        assert_eq!(h.record(false, &t).changed, Some(false));
    }

    #[test]
    fn quorum_has_hysteresis_both_ways() {
        // quorum 4, hysteresis 1: lost below 3, regained at 5.
        assert!(quorum_after(true, 3, 4, 1));
        assert!(!quorum_after(true, 2, 4, 1));
        assert!(!quorum_after(false, 4, 4, 1));
        assert!(quorum_after(false, 5, 4, 1));
    }

    #[test]
    fn misc_dynamic_exit_codes_set_the_weight() {
        assert_eq!(misc_result(Some(0), true), (true, None));
        assert_eq!(misc_result(Some(1), true), (false, None));
        assert_eq!(misc_result(Some(12), true), (true, Some(10)));
        assert_eq!(misc_result(Some(12), false), (false, None));
        assert_eq!(misc_result(None, true), (false, None));
    }
}
