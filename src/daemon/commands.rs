//! The protocol loop's side of the control socket: it answers each request
//! from what it holds (status, explain) or steers the instances
//! (maintenance), and hands the answer back without waiting on anyone.

use std::time::{Instant, SystemTime};

use serde_json::{json, Value};

use crate::track::ObjId;
use crate::vrrp::{Event, InstanceId};

use super::checks::CheckFacts;
use super::control::{error, Command, Request, VERSION};
use super::effects::Effect;
use super::run::Daemon;
use super::status::{self, Now};

impl Daemon {
    /// Answers one request; the socket task waits for the answer, never the loop.
    pub(super) fn control(&mut self, req: Request) {
        let answer = match req.command {
            Command::Status => self.status_answer(),
            Command::Explain { instance } => self.explain_answer(&instance),
            Command::Maintenance { instances, on } => self.maintenance(instances, on),
            Command::Switchover { instance } => self.start_switchover(&instance, false),
            Command::TestStall { millis } => {
                if std::env::var_os("RKEEPALIVED_TEST_HOOKS").is_some_and(|v| v == "1") {
                    // Deliberately blocks this loop: the watchdog test sees the pings stop.
                    std::thread::sleep(std::time::Duration::from_millis(millis));
                    json!({ "version": VERSION, "ok": true })
                } else {
                    error("unknown command 'test_stall' (status, explain, maintenance, switchover)")
                }
            }
        };
        let _ = req.reply.send(answer);
    }

    fn now() -> Now {
        Now {
            mono: Instant::now(),
            wall: SystemTime::now(),
        }
    }

    fn facts(&self) -> Vec<(ObjId, CheckFacts<'_>)> {
        let mut f: Vec<_> = self.checks.facts().collect();
        f.sort_by(|a, b| self.tracker.name(a.0).cmp(self.tracker.name(b.0)));
        f
    }

    fn instance_status(&self, id: InstanceId, facts: &[(ObjId, CheckFacts<'_>)], now: Now) -> Option<Value> {
        let (inst, slot) = self.router.get(id)?;
        let mut v = status::instance(inst, slot, &self.tracker, facts, now);
        if let Some(s) = self.switchovers.get(slot.name()) {
            v["switchover"] = s.to_json(now.mono);
        }
        Some(v)
    }

    fn status_answer(&self) -> Value {
        let now = Self::now();
        let facts = self.facts();
        let instances = self
            .router
            .ids()
            .filter_map(|id| self.instance_status(id, &facts, now))
            .collect();
        let checks = facts
            .iter()
            .map(|(obj, f)| status::check(*obj, f, &self.tracker, now))
            .collect();
        let mut v = status::answer(instances, checks, self.started_wall);
        if let Some(room) = &self.lvs {
            v["lvs"] = serde_json::to_value(room.snapshot()).unwrap_or(Value::Null);
        }
        v
    }

    pub(super) fn find(&self, name: &str) -> Option<InstanceId> {
        self.router
            .ids()
            .find(|&id| self.router.data(id).is_some_and(|s| s.name() == name))
    }

    fn explain_answer(&self, name: &str) -> Value {
        let Some(id) = self.find(name) else {
            // A virtual server (VS) or one of its real servers (VS/RS).
            if let Some((lines, record)) = self.lvs.as_ref().and_then(|room| room.explain(name)) {
                return json!({
                    "version": VERSION,
                    "ok": true,
                    "virtual_server": name,
                    "explanation": lines,
                    "status": record,
                });
            }
            return match self.lvs {
                Some(_) => error(format!("no instance or virtual server {name}")),
                None => error(format!("no instance {name}")),
            };
        };
        let now = Self::now();
        let facts = self.facts();
        let Some(v) = self.instance_status(id, &facts, now) else {
            return error(format!("no instance {name}"));
        };
        json!({
            "version": VERSION,
            "ok": true,
            "instance": name,
            "explanation": status::explain(&v, &self.footguns),
            "status": v,
        })
    }

    /// Maintenance on or off for some instances (None: all), recorded in
    /// the state file so it survives reloads and restarts. One MASTER
    /// tracked by a check_mysql with a peer goes through a switchover
    /// first, so the peer takes over with every write.
    fn maintenance(&mut self, names: Option<Vec<String>>, on: bool) -> Value {
        if let (true, Some([name])) = (on, names.as_deref()) {
            if self.switchover_applies(name) {
                let answer = self.start_switchover(name, true);
                if answer["ok"] == json!(true) {
                    self.persistent.maintenance.insert(name.clone());
                    self.save_state();
                    return json!({
                        "version": VERSION, "ok": true, "maintenance": true,
                        "changed": [name], "switchover": name,
                    });
                }
                return answer;
            }
        }
        self.set_maintenance(names, on)
    }

    /// Maintenance on or off at once (see `maintenance`).
    pub(super) fn set_maintenance(&mut self, names: Option<Vec<String>>, on: bool) -> Value {
        let targets: Vec<(InstanceId, String)> = match &names {
            None => self
                .router
                .ids()
                .filter_map(|id| self.router.data(id).map(|s| (id, s.name().to_string())))
                .collect(),
            Some(list) => {
                let mut t = Vec::new();
                for n in list {
                    match self.find(n) {
                        Some(id) => t.push((id, n.clone())),
                        None => return error(format!("no instance {n}")),
                    }
                }
                t
            }
        };
        let mut changed = Vec::new();
        for (id, name) in &targets {
            if self.router.instance(*id).is_some_and(|i| i.in_maintenance() != on) {
                tracing::info!("({name}) maintenance {}", if on { "on" } else { "off" });
                self.feed(*id, Event::Maintenance(on));
                changed.push(name.clone());
            }
            if on {
                self.persistent.maintenance.insert(name.clone());
            } else {
                self.persistent.maintenance.remove(name);
            }
        }
        self.save_state();
        json!({ "version": VERSION, "ok": true, "maintenance": on, "changed": changed })
    }

    /// Puts the instances the state file names in maintenance (after a
    /// start or a reload; an instance kept by a reload already is).
    pub(super) fn apply_maintenance(&mut self) {
        let ids: Vec<InstanceId> = self.router.ids().collect();
        for id in ids {
            let wanted = self
                .router
                .data(id)
                .is_some_and(|s| self.persistent.maintenance.contains(s.name()));
            if wanted && self.router.instance(id).is_some_and(|i| !i.in_maintenance()) {
                if let Some(s) = self.router.data(id) {
                    tracing::info!("({}) in maintenance (state file)", s.name());
                }
                self.feed(id, Event::Maintenance(true));
            }
        }
    }

    pub(super) fn save_state(&self) {
        self.effect(Effect::SaveState {
            dir: self.state_dir.clone(),
            text: self.persistent.to_text(),
        });
    }
}
