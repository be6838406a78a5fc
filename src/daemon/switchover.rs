//! Planned switchover (`rkeepalived switchover INSTANCE`): a MASTER tracked
//! by check_mysql hands the VIP to its peer without losing a write. The
//! probe freezes the local server and waits until the peer has applied its
//! final position; then the instance goes into maintenance, and the peer,
//! caught up, takes over. This room keeps the request's progress and turns
//! the probe's answer into maintenance or an abandoned switchover.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::track::ObjId;
use crate::vrrp::State;

use super::control::{error, VERSION};
use super::run::Daemon;

/// A switchover still draining after this long is taken as lost (its
/// probe was replaced by a reload, say): another may start.
const LOST_AFTER: Duration = Duration::from_secs(600);

pub struct Switchover {
    obj: ObjId,
    /// Asked for by `maintenance INSTANCE on` (abandoned, it is undone).
    via_maintenance: bool,
    request: u64,
    started: Instant,
    phase: Phase,
}

enum Phase {
    /// The local server is frozen; the peer applies what it lacks.
    Draining,
    /// The peer had every write; the instance went into maintenance.
    Done { took: Duration },
    /// Undone (the local server is writable again), and why.
    Abandoned { why: String, after: Duration },
}

impl Switchover {
    fn running(&self) -> bool {
        matches!(self.phase, Phase::Draining) && self.started.elapsed() < LOST_AFTER
    }

    pub fn to_json(&self, now: Instant) -> Value {
        match &self.phase {
            Phase::Draining => json!({
                "phase": "draining",
                "elapsed": now.saturating_duration_since(self.started).as_secs_f64(),
            }),
            Phase::Done { took } => json!({ "phase": "done", "took": took.as_secs_f64() }),
            Phase::Abandoned { why, after } => json!({
                "phase": "abandoned",
                "took": after.as_secs_f64(),
                "error": why,
            }),
        }
    }
}

impl Daemon {
    /// Whether `maintenance NAME on` goes through a switchover: a MASTER
    /// tracking a check_mysql with a peer.
    pub(super) fn switchover_applies(&self, name: &str) -> bool {
        self.find(name)
            .and_then(|id| self.router.get(id))
            .is_some_and(|(inst, slot)| {
                inst.state() == State::Master
                    && !inst.in_maintenance()
                    && self.checks.switchover_check(&slot.refs).is_some()
            })
    }

    /// Starts a switchover of `name`, refused unless it is MASTER here,
    /// tracks a check_mysql with a peer and no other is running.
    pub(super) fn start_switchover(&mut self, name: &str, via_maintenance: bool) -> Value {
        let Some(id) = self.find(name) else {
            return error(format!("no instance {name}"));
        };
        let Some((inst, slot)) = self.router.get(id) else {
            return error(format!("no instance {name}"));
        };
        if inst.in_maintenance() {
            return error(format!("{name} is in maintenance: nothing to hand over"));
        }
        if inst.state() != State::Master {
            let state = inst.state().name();
            return error(match inst.master_heard() {
                Some((addr, ..)) => format!("{name} is {state} here; the master is {addr}: run the switchover there"),
                None => format!("{name} is {state} here, not MASTER: run the switchover on the master"),
            });
        }
        let Some(obj) = self.checks.switchover_check(&slot.refs) else {
            return error(format!(
                "{name} tracks no check_mysql with peer_host: a switchover needs the database's peer \
                 (maintenance gives up MASTER without waiting for it)"
            ));
        };
        if let Some((other, _)) = self.switchovers.iter().find(|(_, s)| s.running()) {
            return error(format!("a switchover of {other} is in progress"));
        }
        let Some(request) = self.checks.request_switchover(obj) else {
            return error(format!("{name}: its check_mysql is not running"));
        };
        tracing::info!("({name}) switchover: freezing the local server until the peer has every write");
        self.switchovers.insert(
            name.to_string(),
            Switchover {
                obj,
                via_maintenance,
                request,
                started: Instant::now(),
                phase: Phase::Draining,
            },
        );
        json!({ "version": VERSION, "ok": true, "instance": name, "switchover": "started" })
    }

    /// The probe's answer: the peer has every write (maintenance on: the
    /// peer takes over), or the switchover was undone.
    pub(super) fn switchover_ended(&mut self, obj: ObjId, request: u64, result: Result<(), String>) {
        let Some(name) = self
            .switchovers
            .iter()
            .find(|(_, s)| s.obj == obj && s.request == request && matches!(s.phase, Phase::Draining))
            .map(|(n, _)| n.clone())
        else {
            return;
        };
        let after = self.switchovers[&name].started.elapsed();
        let phase = match result {
            Ok(()) => {
                tracing::info!(
                    "({name}) switchover: the peer has every write after {:.3} s; maintenance on, the peer takes over",
                    after.as_secs_f64()
                );
                self.set_maintenance(Some(vec![name.clone()]), true);
                Phase::Done { took: after }
            }
            Err(why) => {
                tracing::warn!("({name}) switchover abandoned: {why}");
                if self.switchovers[&name].via_maintenance {
                    tracing::warn!("({name}) maintenance not entered: it stays MASTER");
                    self.persistent.maintenance.remove(&name);
                    self.save_state();
                }
                Phase::Abandoned { why, after }
            }
        };
        if let Some(s) = self.switchovers.get_mut(&name) {
            s.phase = phase;
        }
    }
}
