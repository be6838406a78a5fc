//! The dump files keepalived writes on signals (USR1, USR2, SIGRTMIN+2):
//! views of the running instances for the formats of [`dump`](super::dump).

use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::config::model::Config;
use crate::track::check::Outcome;
use crate::track::{ObjId, Reference, Tracker};

use super::checks::{CheckFacts, Checks};
use super::dump::{self, InstanceView};
use super::run::Daemon;

impl Daemon {
    fn views(&self) -> Vec<InstanceView<'_>> {
        let c = &self.sockets.counters;
        self.router
            .iter()
            .map(|(_, inst, s)| InstanceView {
                cfg: &s.cfg,
                inst,
                ifname: &s.ifname,
                vmac_ifname: s.vmac.as_ref().map(|(n, _)| n.as_str()),
                vips_set: s.vips_set,
                last_transition: epoch_secs(s.last_transition),
                track_scripts: script_commands(&self.config, &s.cfg),
                extra: json!({
                    "preempt_hold": inst.preempt_held(),
                    "maintenance": inst.in_maintenance(),
                    "journal": s.journal.to_json(),
                    "checks": checks_json(&self.checks, &self.tracker, &s.refs),
                    "rx_queue_overflow": c.rx_overflow.load(Ordering::Relaxed),
                    "unknown_vrid": c.unknown_vrid.load(Ordering::Relaxed),
                    "stale_check_reports": c.stale_check_reports.load(Ordering::Relaxed),
                    "checksum_err": inst.stats().checksum_err,
                    "version_err": inst.stats().version_err,
                }),
            })
            .collect()
    }

    pub(super) fn write_dump(&self, ext: &str) {
        let g = &self.config.global;
        let instance = g.data_use_instance.then(|| self.config.instance_name.clone()).flatten();
        let location = match ext {
            "json" => &g.json_file_location,
            "stats" => &g.stats_file_location,
            _ => &g.state_file_location,
        };
        let path = dump::dump_path("keepalived", ext, instance.as_deref(), location.as_deref());
        let views = self.views();
        let text = match ext {
            "json" => dump::json(&views),
            "stats" => dump::stats(&views),
            _ => dump::data(&self.config, &views),
        };
        match dump::write_file(&path, &text) {
            Ok(()) => tracing::info!("wrote {}", path.display()),
            Err(e) => tracing::error!("cannot write {}: {e}", path.display()),
        }
    }
}

fn epoch_secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Commands of an instance's tracked scripts (the JSON `track_script`).
fn script_commands(config: &Config, cfg: &crate::config::model::VrrpInstance) -> Vec<String> {
    cfg.track_scripts
        .iter()
        .filter_map(|r| config.script(&r.name))
        .map(|s| {
            s.script
                .argv
                .iter()
                .map(|a| format!("'{a}'"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// The status of an instance's checks, for the JSON dump.
fn checks_json(checks: &Checks, t: &Tracker, refs: &[Reference]) -> Value {
    let facts: HashMap<ObjId, CheckFacts<'_>> = checks.facts().collect();
    let list: Vec<Value> = refs
        .iter()
        .map(|r| {
            let kind = super::status::kind_name(t.kind(r.obj));
            let status = super::status::object_status(t, r.obj);
            let run = facts.get(&r.obj);
            let detail = run.and_then(|m| m.detail.cloned()).unwrap_or_else(|| match run.and_then(|m| m.last) {
                // A failure's reason is the check's message, whatever kind it is.
                Some(Outcome::Failure(why)) => json!({ "message": why }),
                _ => Value::Null,
            });
            json!({ "name": t.name(r.obj), "kind": kind, "weight": r.weight, "reverse": r.reverse, "status": status, "detail": detail })
        })
        .collect();
    Value::Array(list)
}
