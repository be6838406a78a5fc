//! check_mysql's decisions, without I/O: the catch-up guard, the handover
//! and fencing are functions from what the probe saw (role, positions,
//! health, how long ago things happened) to steps. The probe
//! ([`super::MysqlCheck`]) is a thin executor: it runs the SQL a step asks
//! for and calls again with what it learnt.

use std::time::Duration;

use crate::config::model::CatchUpPolicy;

use super::gtid::Comparison;
use super::Role;

/// The guard's verdict for the instances that track the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Keep them from preempting a live master; why.
    Hold(String),
    /// Preemption may go ahead.
    Release,
}

/// What the peer's server showed this round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// Not asked yet.
    Unknown,
    /// It did not answer, or its answer could not be compared.
    Failed(String),
    /// GTID positions compared.
    Compared(Comparison),
}

/// Everything the guard decides on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardInput {
    pub role: Role,
    /// The local server answered this round.
    pub local_healthy: bool,
    /// A handover made the local server writable this long ago, and no
    /// instance has become MASTER since.
    pub handed_over: Option<Duration>,
    /// The last handover failed this long ago.
    pub failed: Option<Duration>,
    pub peer: Peer,
    /// How the peer failed to answer matters: the policy says what then.
    pub peer_unreachable: bool,
    pub catch_up_timeout: Duration,
    pub policy: CatchUpPolicy,
}

/// The guard's next step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardStep {
    /// Decided. `clear_handover`: an instance is MASTER, the handover is over.
    Decide { verdict: Verdict, clear_handover: bool },
    /// A handover released the hold but no instance became MASTER within
    /// catch_up_timeout: unfreeze the peer, forget the handover, ask again.
    Unfreeze,
    /// Read the peer's position and compare it with ours, then ask again.
    AskPeer,
    /// Caught up and a live lower-priority master to take over from: hand
    /// over (freeze the peer first unless it still serves another
    /// instance's addresses).
    Handover { freeze: bool },
}

fn decide(verdict: Verdict) -> GuardStep {
    GuardStep::Decide {
        verdict,
        clear_handover: false,
    }
}

fn hold(why: impl Into<String>) -> GuardStep {
    decide(Verdict::Hold(why.into()))
}

/// The catch-up guard.
pub fn guard(i: &GuardInput) -> GuardStep {
    if i.role.master {
        return GuardStep::Decide {
            verdict: Verdict::Release,
            clear_handover: true,
        };
    }
    if let Some(age) = i.handed_over {
        return if age < i.catch_up_timeout {
            decide(Verdict::Release)
        } else {
            GuardStep::Unfreeze
        };
    }
    if !i.local_healthy {
        return hold("the local server is not healthy");
    }
    let cmp = match &i.peer {
        Peer::Unknown => return GuardStep::AskPeer,
        Peer::Failed(e) if i.peer_unreachable => {
            return match i.policy {
                CatchUpPolicy::Wait => hold(format!("{e} (catch_up_policy wait)")),
                CatchUpPolicy::Takeover => decide(Verdict::Release),
            }
        }
        Peer::Failed(e) => return hold(e.clone()),
        Peer::Compared(c) => c,
    };
    if !cmp.diverged.is_empty() {
        return hold(format!(
            "GTID histories diverged in domain(s) {:?}: an admin must decide",
            cmp.diverged
        ));
    }
    if cmp.ahead > 0 {
        return hold(format!(
            "{} transaction(s) here that the peer lacks: an admin must decide",
            cmp.ahead
        ));
    }
    if cmp.behind > 0 {
        return hold(format!("{} transaction(s) behind the peer", cmp.behind));
    }
    if !i.role.would_preempt {
        return hold("caught up; no lower-priority master to take over from");
    }
    if i.failed.is_some_and(|ago| ago < i.catch_up_timeout) {
        return hold(format!(
            "the last handover failed; retrying catch_up_timeout ({:?}) after it",
            i.catch_up_timeout
        ));
    }
    GuardStep::Handover {
        freeze: !i.role.peer_serves,
    }
}

/// During a handover: whether the frozen peer's position has settled
/// (two reads agree), or the wait is over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settle {
    Settled,
    Again,
    /// A session read_only does not stop (SUPER, READ_ONLY ADMIN) keeps
    /// the peer writing.
    StillMoving,
}

pub fn settle(before: &str, now: &str, past_deadline: bool) -> Settle {
    match (before == now, past_deadline) {
        (true, _) => Settle::Settled,
        (false, false) => Settle::Again,
        (false, true) => Settle::StillMoving,
    }
}

/// After waiting for the peer's final position: may this server become
/// writable?
pub fn caught_up_after_wait(cmp: &Comparison) -> Result<(), String> {
    if cmp.behind > 0 {
        return Err(format!("still {} transaction(s) behind after the wait", cmp.behind));
    }
    Ok(())
}

/// What fencing knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FenceInput {
    /// An instance tracking the check is MASTER, or a handover is under way.
    pub writable_wanted: bool,
    /// The state fencing last set (None: never).
    pub fenced_for: Option<bool>,
    /// The connection is new: a restarted mysqld comes up as configured.
    pub fresh: bool,
    pub read_only: bool,
    /// The server has been read_only while it should be writable this long.
    pub read_only_for: Option<Duration>,
    /// 2 × catch_up_timeout + 2 intervals: longer than any live handover.
    pub stale_after: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FenceStep {
    /// As it should be.
    Nothing,
    /// Set read_only to `!writable` (and end application sessions when
    /// going read-only).
    Set { writable: bool },
    /// Read-only while MASTER: a peer's handover froze it; note since when.
    Frozen,
    /// Frozen longer than any live handover (the peer died mid-handover):
    /// make it writable again.
    Repair,
}

pub fn fence(i: &FenceInput) -> FenceStep {
    let w = i.writable_wanted;
    if i.fenced_for == Some(w) && !i.fresh {
        if w && i.read_only {
            return match i.read_only_for {
                Some(d) if d >= i.stale_after => FenceStep::Repair,
                _ => FenceStep::Frozen,
            };
        }
        return FenceStep::Nothing;
    }
    if i.read_only != w && i.fenced_for == Some(w) {
        // A new connection to a server already as it should be.
        return FenceStep::Nothing;
    }
    FenceStep::Set { writable: w }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// B (90, nopreempt) is MASTER; A (100) is back and BACKUP.
    fn returning(cmp: Option<Comparison>) -> GuardInput {
        GuardInput {
            role: Role {
                master: false,
                would_preempt: true,
                peer_serves: false,
            },
            local_healthy: true,
            handed_over: None,
            failed: None,
            peer: cmp.map(Peer::Compared).unwrap_or(Peer::Unknown),
            peer_unreachable: false,
            catch_up_timeout: s(60),
            policy: CatchUpPolicy::Wait,
        }
    }

    fn cmp(behind: u64, ahead: u64, diverged: &[u32]) -> Comparison {
        Comparison {
            behind,
            ahead,
            diverged: diverged.to_vec(),
        }
    }

    fn held(step: GuardStep) -> String {
        match step {
            GuardStep::Decide {
                verdict: Verdict::Hold(why),
                ..
            } => why,
            other => panic!("not held: {other:?}"),
        }
    }

    /// The recorded failback of the reference scenario: behind, then
    /// caught up, then the handover.
    #[test]
    fn failback_holds_until_caught_up_then_hands_over() {
        assert_eq!(guard(&returning(None)), GuardStep::AskPeer);
        assert_eq!(
            held(guard(&returning(Some(cmp(475, 0, &[]))))),
            "475 transaction(s) behind the peer"
        );
        assert_eq!(
            guard(&returning(Some(cmp(0, 0, &[])))),
            GuardStep::Handover { freeze: true }
        );
        let mut i = returning(Some(cmp(0, 0, &[])));
        i.role.peer_serves = true;
        assert_eq!(
            guard(&i),
            GuardStep::Handover { freeze: false },
            "the peer serves another VIP"
        );
    }

    #[test]
    fn ahead_or_diverged_waits_for_an_admin() {
        assert!(held(guard(&returning(Some(cmp(0, 3, &[]))))).contains("an admin must decide"));
        assert!(held(guard(&returning(Some(cmp(2, 3, &[2]))))).contains("diverged in domain(s) [2]"));
    }

    #[test]
    fn nothing_to_take_over_from_is_a_hold() {
        let mut i = returning(Some(cmp(0, 0, &[])));
        i.role.would_preempt = false;
        assert!(held(guard(&i)).starts_with("caught up; no lower-priority master"));
    }

    #[test]
    fn a_master_releases_and_ends_the_handover() {
        let mut i = returning(Some(cmp(9, 0, &[])));
        i.role.master = true;
        i.handed_over = Some(s(1));
        assert_eq!(
            guard(&i),
            GuardStep::Decide {
                verdict: Verdict::Release,
                clear_handover: true
            }
        );
    }

    /// Handed over: released while the instance may still preempt; after
    /// catch_up_timeout without a MASTER the peer is unfrozen.
    #[test]
    fn an_unfinished_handover_is_undone_after_catch_up_timeout() {
        let mut i = returning(None);
        i.handed_over = Some(s(5));
        assert_eq!(
            guard(&i),
            GuardStep::Decide {
                verdict: Verdict::Release,
                clear_handover: false
            }
        );
        i.handed_over = Some(s(60));
        assert_eq!(guard(&i), GuardStep::Unfreeze);
    }

    #[test]
    fn a_failed_handover_is_retried_only_catch_up_timeout_later() {
        let mut i = returning(Some(cmp(0, 0, &[])));
        i.failed = Some(s(10));
        assert!(held(guard(&i)).contains("the last handover failed"));
        i.failed = Some(s(61));
        assert_eq!(guard(&i), GuardStep::Handover { freeze: true });
    }

    #[test]
    fn an_unreachable_peer_follows_the_policy() {
        let mut i = returning(None);
        i.peer = Peer::Failed("peer server: cannot connect".into());
        i.peer_unreachable = true;
        assert!(held(guard(&i)).ends_with("(catch_up_policy wait)"));
        i.policy = CatchUpPolicy::Takeover;
        assert_eq!(guard(&i), decide(Verdict::Release));
        // A comparison that failed is no licence to take over.
        i.peer_unreachable = false;
        assert_eq!(held(guard(&i)), "peer server: cannot connect");
        let mut i = returning(None);
        i.local_healthy = false;
        assert_eq!(held(guard(&i)), "the local server is not healthy");
    }

    #[test]
    fn the_frozen_peers_position_must_settle() {
        assert_eq!(settle("1-10-5", "1-10-5", false), Settle::Settled);
        assert_eq!(settle("1-10-5", "1-10-6", false), Settle::Again);
        assert_eq!(settle("1-10-5", "1-10-6", true), Settle::StillMoving);
        assert!(caught_up_after_wait(&cmp(0, 0, &[])).is_ok());
        assert!(caught_up_after_wait(&cmp(1, 0, &[])).is_err());
    }

    fn fenced(w: bool, fenced_for: Option<bool>, fresh: bool, read_only: bool, ro_for: Option<u64>) -> FenceStep {
        fence(&FenceInput {
            writable_wanted: w,
            fenced_for,
            fresh,
            read_only,
            read_only_for: ro_for.map(s),
            stale_after: s(122),
        })
    }

    #[test]
    fn fencing_follows_the_role() {
        // First sight, and every change of role, sets the server.
        assert_eq!(
            fenced(false, None, true, false, None),
            FenceStep::Set { writable: false }
        );
        assert_eq!(
            fenced(true, Some(false), false, true, None),
            FenceStep::Set { writable: true }
        );
        // Steady: nothing to do.
        assert_eq!(fenced(false, Some(false), false, true, None), FenceStep::Nothing);
        // A restarted mysqld (new connection) comes up writable: fenced again.
        assert_eq!(
            fenced(false, Some(false), true, false, None),
            FenceStep::Set { writable: false }
        );
        assert_eq!(fenced(false, Some(false), true, true, None), FenceStep::Nothing);
    }

    #[test]
    fn a_freeze_left_by_a_dead_peer_is_repaired() {
        assert_eq!(fenced(true, Some(true), false, true, None), FenceStep::Frozen);
        assert_eq!(fenced(true, Some(true), false, true, Some(30)), FenceStep::Frozen);
        assert_eq!(fenced(true, Some(true), false, true, Some(122)), FenceStep::Repair);
    }
}
