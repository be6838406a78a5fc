//! check_mysql's decisions, without I/O: the catch-up guard, the handover
//! and fencing are functions from what the probe saw (role, positions,
//! health, how long ago things happened) to steps. The probe
//! ([`super::MysqlCheck`]) is a thin executor: it runs the SQL a step asks
//! for and calls again with what it learnt.

use std::time::Duration;

use crate::config::model::CatchUpPolicy;
use crate::vrrp::Stance;

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

/// How a MASTER meets another live master (a healed partition, or two
/// masters that came up apart): the server with writes the other lacks
/// keeps the VIP, whatever the priorities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StanceInput {
    /// This round's view of the peer's server.
    pub peer: Peer,
    /// An instance became MASTER while the peer's server was out of reach
    /// (or before it was ever reached), and it has not answered since.
    pub took_over_blind: bool,
}

/// The stance and why (None for VRRP's own rules).
pub fn stance(i: &StanceInput) -> (Stance, Option<String>) {
    // Without the peer's position: the node that took over while the peer
    // was out of reach treats the peer as behind (its clients wrote here);
    // the node that lost sight of its peer while MASTER gives way to a live
    // master (the peer may have taken over and written meanwhile).
    let blind = |why: String| {
        if i.took_over_blind {
            (
                Stance::Keep,
                Some(format!("{why}; took over while it was out of reach: treated as behind")),
            )
        } else {
            (
                Stance::Yield,
                Some(format!("{why}; a live master there may hold writes this server lacks")),
            )
        }
    };
    match &i.peer {
        Peer::Unknown => blind("the peer's position is unknown".into()),
        Peer::Failed(e) => blind(e.clone()),
        Peer::Compared(c) if !c.diverged.is_empty() => blind(format!(
            "GTID histories diverged in domain(s) {:?}: an admin must decide",
            c.diverged
        )),
        Peer::Compared(c) if c.behind > 0 && c.ahead > 0 => blind(format!(
            "both servers took writes the other lacks ({} behind, {} ahead): an admin must decide",
            c.behind, c.ahead
        )),
        Peer::Compared(c) if c.behind > 0 => (
            Stance::Yield,
            Some(format!("{} transaction(s) behind the peer", c.behind)),
        ),
        Peer::Compared(c) if c.ahead > 0 => (
            Stance::Keep,
            Some(format!("the peer lacks {} transaction(s) written here", c.ahead)),
        ),
        Peer::Compared(_) => (Stance::Priority, None),
    }
}

/// Whether a node is cut off: it reaches neither the peer's server nor any
/// witness. Only with witnesses configured (without, nothing can tell a
/// dead peer from a cut-off self); only a MASTER becomes isolated, and it
/// stays so until something answers again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IsolationInput {
    pub witnesses: bool,
    pub master: bool,
    /// The peer's server or a witness answered this round.
    pub contact: bool,
    /// Since the last answer from either (or since the check started).
    pub since_contact: Duration,
    pub timeout: Duration,
    pub isolated: bool,
}

pub fn isolated(i: &IsolationInput) -> bool {
    i.witnesses && !i.contact && (i.isolated || (i.master && i.since_contact >= i.timeout))
}

/// A takeover's wait for the relay log to be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayStep {
    /// Nothing received is left unapplied: make the server writable.
    Promote,
    /// Wait up to this long (then ask again).
    Wait(Duration),
    /// relay_apply_timeout is over: writable anyway (availability wins),
    /// logging what was not applied.
    PromoteAnyway,
}

pub fn relay_step(pending: u64, waited: Duration, timeout: Duration, round: Duration) -> RelayStep {
    if pending == 0 {
        RelayStep::Promote
    } else if waited >= timeout {
        RelayStep::PromoteAnyway
    } else {
        RelayStep::Wait((timeout - waited).min(round))
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

/// What is known of the peer's replica when semi-sync is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerReplica {
    /// No peer_host: only the server's own count of semi-sync replicas.
    NotConfigured,
    /// Not asked yet.
    Unknown,
    /// Its server did not answer the last round.
    Unreachable,
    /// It answered; `has_ours`: it holds every transaction this server
    /// wrote (so its replica of this server is connected and current).
    Answered { has_ours: bool },
}

/// What the semi-sync decision knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SemiSyncInput {
    /// `semi_sync_release` (on by default).
    pub release: bool,
    pub master: bool,
    /// The server's `rpl_semi_sync_master_enabled`.
    pub enabled: bool,
    /// This check switched it off, and has not restored it.
    pub released: bool,
    /// `Rpl_semi_sync_master_clients` (None: not read).
    pub clients: Option<u64>,
    pub peer: PeerReplica,
    /// An instance became MASTER while the peer's server was out of
    /// reach, and it has not answered since.
    pub took_over_blind: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SemiSyncStep {
    Keep,
    /// Switch semi-sync off: no acknowledgement can come, and a commit
    /// would wait `rpl_semi_sync_master_timeout` for nothing.
    Release(&'static str),
    /// Switch it back on.
    Restore(&'static str),
}

/// A MASTER whose peer's replica is gone stops waiting for its
/// acknowledgement; it waits again once that replica has every write
/// (not merely once its server answers: a dead host's dump thread still
/// counts as a client until TCP gives up on it), and on leaving MASTER.
pub fn semi_sync(i: &SemiSyncInput) -> SemiSyncStep {
    if i.released {
        if !i.master {
            return SemiSyncStep::Restore("no longer MASTER");
        }
        let connected = i.clients.is_some_and(|c| c > 0);
        let current = match i.peer {
            PeerReplica::NotConfigured => true,
            PeerReplica::Answered { has_ours } => has_ours,
            PeerReplica::Unknown | PeerReplica::Unreachable => false,
        };
        return match connected && current {
            true => SemiSyncStep::Restore("the peer's replica is connected again and has every write"),
            false => SemiSyncStep::Keep,
        };
    }
    if !(i.release && i.master && i.enabled) {
        return SemiSyncStep::Keep;
    }
    // Only a master that took over from a peer it could not reach: a
    // master that merely lost sight of its peer may be the cut-off side of
    // a partition, and what it acknowledged alone would be missing on the
    // peer that takes over (MariaDB's own timeout still applies to it).
    if i.peer == PeerReplica::Unreachable && i.took_over_blind {
        return SemiSyncStep::Release("the peer's server does not answer");
    }
    if i.clients == Some(0) {
        return SemiSyncStep::Release("no semi-sync replica is connected");
    }
    SemiSyncStep::Keep
}

/// Where the local server stands on holding replication from its peer,
/// under semi-sync, after taking over while the peer was out of reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerLinkInput {
    /// The local server acknowledges the peer's writes (its replica side
    /// of semi-sync is on).
    pub semi_sync_replica: bool,
    /// An instance tracking the check is MASTER, and the peer's server
    /// has not answered since it became so.
    pub took_over_blind: bool,
    /// The peer's server did not answer the last finished round.
    pub peer_unreachable: bool,
    /// When it last answered, its commits waited for acknowledgements
    /// (semi-sync active, not fallen back to asynchronous).
    pub peer_was_semi_sync: bool,
    /// Already decided for this spell as MASTER (held, or let go).
    pub decided: bool,
}

/// Whether to stop replication from the peer now. While the peer's
/// semi-sync was active (with `rpl_semi_sync_master_wait_point=AFTER_SYNC`)
/// every write it acknowledged to a client reached this server first;
/// whatever else it shows when it comes back is its unacknowledged binlog
/// tail, which crash recovery keeps without `init_rpl_role=SLAVE`. Stopped
/// at once, the link cannot fetch that tail before it is compared. A peer
/// last seen asynchronous (fallen back, or released as a master whose own
/// peer was gone), or never seen, may hold acknowledged writes this server
/// lacks: those must arrive, so nothing is held.
pub fn hold_peer_link(i: &PeerLinkInput) -> bool {
    i.semi_sync_replica && i.peer_was_semi_sync && i.took_over_blind && i.peer_unreachable && !i.decided
}

/// The next step for a held link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerLinkStep {
    /// Keep it stopped; with why once the peer was compared and showed
    /// transactions this server never received.
    Hold(Option<String>),
    /// Restart it: the peer holds nothing this server lacks.
    Resume,
    /// Someone started it meanwhile (an administrator's decision): the
    /// hold is over.
    Released,
}

/// `stopped`: the held link's IO thread is stopped (after the stop this
/// check ran has finished); `peer`: this round's view of the peer.
pub fn peer_link(stopped: Option<bool>, peer: &Peer) -> PeerLinkStep {
    match stopped {
        // The stop has not finished yet.
        None => return PeerLinkStep::Hold(None),
        Some(false) => return PeerLinkStep::Released,
        Some(true) => {}
    }
    match peer {
        Peer::Compared(c) if c.behind > 0 || !c.diverged.is_empty() => {
            PeerLinkStep::Hold(Some(match c.diverged.is_empty() {
                true => format!(
                    "the peer's server has {} transaction(s) this server never received before it took over",
                    c.behind
                ),
                false => format!(
                    "the peer's server has a history this server never received (GTID domain(s) {:?} diverged)",
                    c.diverged
                ),
            }))
        }
        Peer::Compared(_) => PeerLinkStep::Resume,
        Peer::Unknown | Peer::Failed(_) => PeerLinkStep::Hold(None),
    }
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
                switchover: 0,
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

    fn stance_of(peer: Peer, blind: bool) -> Stance {
        stance(&StanceInput {
            peer,
            took_over_blind: blind,
        })
        .0
    }

    /// The healed partition of the issue: B took over while A's server was
    /// out of reach and took 669 writes; A, isolated MASTER, lacks them.
    #[test]
    fn the_server_with_writes_the_other_lacks_keeps_the_vip() {
        // A: behind its peer: gives way whatever its higher priority.
        assert_eq!(stance_of(Peer::Compared(cmp(669, 0, &[])), false), Stance::Yield);
        // B: its peer lacks writes made here: keeps against the higher priority.
        assert_eq!(stance_of(Peer::Compared(cmp(0, 669, &[])), true), Stance::Keep);
        // Equal: VRRP decides.
        assert_eq!(
            stance(&StanceInput {
                peer: Peer::Compared(cmp(0, 0, &[])),
                took_over_blind: true
            }),
            (Stance::Priority, None)
        );
    }

    /// Until the positions are known after a heal, the one that took over
    /// blind keeps and the one that lost sight of its peer yields; the same
    /// when the histories diverged (waiting for an admin).
    #[test]
    fn unknown_or_diverged_positions_follow_who_took_over_blind() {
        let failed = || Peer::Failed("peer server: cannot connect".into());
        assert_eq!(stance_of(failed(), true), Stance::Keep);
        assert_eq!(stance_of(failed(), false), Stance::Yield);
        assert_eq!(stance_of(Peer::Unknown, true), Stance::Keep);
        assert_eq!(stance_of(Peer::Compared(cmp(2, 3, &[])), true), Stance::Keep);
        let (s, why) = stance(&StanceInput {
            peer: Peer::Compared(cmp(1, 1, &[0])),
            took_over_blind: false,
        });
        assert_eq!(s, Stance::Yield);
        assert!(why.unwrap().contains("an admin must decide"));
    }

    fn iso(witnesses: bool, master: bool, contact: bool, since: u64, was: bool) -> bool {
        isolated(&IsolationInput {
            witnesses,
            master,
            contact,
            since_contact: s(since),
            timeout: s(4),
            isolated: was,
        })
    }

    #[test]
    fn a_master_out_of_reach_of_peer_and_witnesses_is_isolated() {
        assert!(!iso(true, true, false, 3, false), "within isolation_timeout");
        assert!(iso(true, true, false, 4, false));
        assert!(!iso(true, false, false, 60, false), "only a MASTER fences itself");
        assert!(iso(true, false, false, 60, true), "it stays isolated as FAULT");
        assert!(!iso(true, false, true, 0, true), "until something answers");
        assert!(!iso(false, true, false, 60, false), "no witness: as before");
    }

    #[test]
    fn the_relay_wait_is_bounded() {
        let r = s(1);
        assert_eq!(relay_step(0, s(0), s(10), r), RelayStep::Promote);
        assert_eq!(relay_step(5, s(0), s(10), r), RelayStep::Wait(s(1)));
        assert_eq!(
            relay_step(5, Duration::from_millis(9500), s(10), r),
            RelayStep::Wait(Duration::from_millis(500))
        );
        assert_eq!(relay_step(5, s(10), s(10), r), RelayStep::PromoteAnyway);
        assert_eq!(
            relay_step(5, s(0), s(0), r),
            RelayStep::PromoteAnyway,
            "relay_apply_timeout 0: no wait"
        );
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

    fn semi(peer: PeerReplica, clients: Option<u64>) -> SemiSyncInput {
        SemiSyncInput {
            release: true,
            master: true,
            enabled: true,
            released: false,
            clients,
            peer,
            took_over_blind: true,
        }
    }

    #[test]
    fn a_master_stops_waiting_for_a_replica_that_cannot_answer() {
        use PeerReplica::*;
        // The host died: its dump thread still counts as a client.
        assert!(matches!(
            semi_sync(&semi(Unreachable, Some(1))),
            SemiSyncStep::Release(_)
        ));
        // Its mysqld died: the replica's connection closed.
        let gone = semi(Answered { has_ours: false }, Some(0));
        assert!(matches!(semi_sync(&gone), SemiSyncStep::Release(_)));
        assert!(matches!(
            semi_sync(&semi(NotConfigured, Some(0))),
            SemiSyncStep::Release(_)
        ));
        // A live, connected peer, nothing known yet, or a master that
        // lost sight of its peer (the cut-off side of a partition, maybe):
        // keep waiting.
        for i in [
            SemiSyncInput {
                took_over_blind: false,
                ..semi(Unreachable, Some(1))
            },
            semi(Answered { has_ours: true }, Some(1)),
            semi(Answered { has_ours: false }, Some(1)),
            semi(Unknown, Some(1)),
            semi(NotConfigured, None),
        ] {
            assert_eq!(semi_sync(&i), SemiSyncStep::Keep, "{i:?}");
        }
        // Not MASTER, semi-sync off in the server, or the option off.
        for change in [
            |i: &mut SemiSyncInput| i.master = false,
            |i: &mut SemiSyncInput| i.enabled = false,
            |i: &mut SemiSyncInput| i.release = false,
        ] {
            let mut i = semi(Unreachable, Some(0));
            change(&mut i);
            assert_eq!(semi_sync(&i), SemiSyncStep::Keep, "{i:?}");
        }
    }

    #[test]
    fn semi_sync_comes_back_once_the_peer_s_replica_has_every_write() {
        use PeerReplica::*;
        let released = |peer, clients| SemiSyncInput {
            enabled: false,
            released: true,
            ..semi(peer, clients)
        };
        // The host is back but its replica has not caught up (or the
        // count is a dead connection's): stay released.
        for i in [
            released(Unreachable, Some(1)),
            released(Answered { has_ours: false }, Some(1)),
            released(Answered { has_ours: true }, Some(0)),
            released(Unknown, Some(1)),
        ] {
            assert_eq!(semi_sync(&i), SemiSyncStep::Keep, "{i:?}");
        }
        assert!(matches!(
            semi_sync(&released(Answered { has_ours: true }, Some(1))),
            SemiSyncStep::Restore(_)
        ));
        assert!(matches!(
            semi_sync(&released(NotConfigured, Some(1))),
            SemiSyncStep::Restore(_)
        ));
        // Leaving MASTER restores what the server was configured with.
        let backup = SemiSyncInput {
            master: false,
            ..released(Unreachable, Some(0))
        };
        assert!(matches!(semi_sync(&backup), SemiSyncStep::Restore(_)));
    }

    fn compared(behind: u64, ahead: u64, diverged: &[u32]) -> Peer {
        Peer::Compared(cmp(behind, ahead, diverged))
    }

    #[test]
    fn a_blind_takeover_under_semi_sync_holds_the_peer_link_once() {
        let blind = PeerLinkInput {
            semi_sync_replica: true,
            took_over_blind: true,
            peer_unreachable: true,
            peer_was_semi_sync: true,
            decided: false,
        };
        assert!(hold_peer_link(&blind));
        for other in [
            PeerLinkInput {
                semi_sync_replica: false,
                ..blind
            },
            PeerLinkInput {
                peer_was_semi_sync: false,
                ..blind
            },
            PeerLinkInput {
                took_over_blind: false,
                ..blind
            },
            PeerLinkInput {
                peer_unreachable: false,
                ..blind
            },
            PeerLinkInput { decided: true, ..blind },
        ] {
            assert!(!hold_peer_link(&other), "{other:?}");
        }
    }

    #[test]
    fn a_held_link_resumes_only_when_the_peer_has_nothing_unseen() {
        assert_eq!(
            peer_link(None, &compared(0, 0, &[])),
            PeerLinkStep::Hold(None),
            "stop not finished"
        );
        assert_eq!(peer_link(Some(false), &compared(3, 0, &[])), PeerLinkStep::Released);
        assert_eq!(
            peer_link(Some(true), &Peer::Failed("down".into())),
            PeerLinkStep::Hold(None)
        );
        assert_eq!(peer_link(Some(true), &Peer::Unknown), PeerLinkStep::Hold(None));
        // Truncated at recovery: the peer lacks our new writes, nothing more.
        assert_eq!(peer_link(Some(true), &compared(0, 7, &[])), PeerLinkStep::Resume);
        let tail = peer_link(Some(true), &compared(1, 7, &[]));
        assert!(
            matches!(&tail, PeerLinkStep::Hold(Some(w)) if w.contains("1 transaction(s)")),
            "{tail:?}"
        );
        let diverged = peer_link(Some(true), &compared(0, 0, &[0]));
        assert!(
            matches!(&diverged, PeerLinkStep::Hold(Some(w)) if w.contains("[0]")),
            "{diverged:?}"
        );
    }
}
