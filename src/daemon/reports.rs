//! The dump files keepalived writes on signals (USR1, USR2, SIGRTMIN+2):
//! views of the running instances for the formats of [`dump`](super::dump).

use std::sync::atomic::Ordering;

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::config::model::Config;
use crate::track::check::Outcome;
use crate::track::{ObjId, Reference, Tracker};

use super::checks::{CheckFacts, Checks};
use super::dump::{self, InstanceView};
use super::metrics::{CheckSnap, InstanceSnap, Snapshot};
use super::run::Daemon;
use super::tracking::CheckKind;
use crate::config::dump::vip_address;
use crate::config::model::VirtualAddress;
use crate::track::mysql::gtid::{per_domain, Position};

impl Daemon {
    /// The numbers a metrics scrape reports (a copy: the scrape encodes
    /// it off the loop).
    pub(super) fn metrics_snapshot(&self) -> Snapshot {
        let facts: HashMap<ObjId, CheckFacts<'_>> = self.checks.facts().collect();
        // keepalived-exporter's reading of a JSON vip ("ADDR dev DEV …"):
        // the address, and the device.
        let vip = |v: &VirtualAddress, dev: Option<&str>| {
            (vip_address(v), v.dev.as_deref().or(dev).unwrap_or_default().to_string())
        };
        let instances = self
            .router
            .iter()
            .map(|(_, inst, s)| {
                // As the JSON dump writes the VIPs.
                let dev = s.vmac.as_ref().map(|(n, _)| n.as_str()).or(s.cfg.interface.as_deref());
                InstanceSnap {
                    name: s.cfg.name.clone(),
                    intf: s.ifname.clone(),
                    vrid: s.cfg.vrid,
                    state: i64::from(inst.state().keepalived_code()),
                    vips: s.cfg.vips.iter().map(|v| vip(v, dev)).collect(),
                    excluded: s.cfg.excluded_vips.iter().map(|v| vip(v, dev)).collect(),
                    stats: inst.stats().clone(),
                    garp_delay: s.cfg.garp.master_delay.as_secs(),
                    base_priority: s.cfg.priority,
                    effective_priority: inst.effective_priority(),
                    last_transition: s.journal.last().map_or(0.0, |e| super::journal::secs(e.at)),
                    transitions: s.journal.counts(),
                    send_errors: s.send_errors,
                }
            })
            .collect();
        let checks = facts
            .iter()
            .map(|(obj, f)| {
                let detail = f.detail.cloned().unwrap_or(Value::Null);
                let pos = |k: &str, side: &Value| Position::parse(side[k].as_str().unwrap_or("")).ok();
                let peer = &detail["peer"];
                let domains = match (
                    pos("gtid_current_pos", &detail),
                    pos("gtid_binlog_pos", &detail),
                    pos("gtid_current_pos", peer),
                    pos("gtid_binlog_pos", peer),
                ) {
                    (Some(oc), Some(ob), Some(pc), Some(pb)) if peer["alive"] == true => per_domain(&oc, &ob, &pc, &pb)
                        .into_iter()
                        .map(|(d, (b, a))| (d, b, a))
                        .collect(),
                    _ => Vec::new(),
                };
                CheckSnap {
                    name: self.tracker.name(*obj).to_string(),
                    kind: f.kind.label(),
                    status: match self.tracker.status(*obj) {
                        Some(true) => 1,
                        Some(false) => 0,
                        None => -1,
                    },
                    latency: f.latency.map(|d| d.as_secs_f64()),
                    script_running: (f.kind == CheckKind::Script).then_some(f.running),
                    domains,
                    read_only: detail["read_only"].as_bool(),
                    semi_sync: semi_sync_gauges(&detail["semi_sync"]),
                }
            })
            .collect();
        Snapshot {
            instances,
            checks,
            stale_check_reports: self.sockets.counters.stale_check_reports.load(Ordering::Relaxed),
        }
    }

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
                last_transition: super::journal::secs(s.last_transition),
                track_scripts: script_commands(&self.config, &s.cfg),
                extra: json!({
                    "preempt_hold": inst.preempt_held(),
                    "maintenance": inst.in_maintenance(),
                    "journal": s.journal.to_json(),
                    "checks": checks_json(&self.checks, &self.tracker, &s.refs),
                    "advert_send_err": s.send_errors,
                    "rx_malformed": c.rx_malformed.load(Ordering::Relaxed),
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

/// check_mysql's semi-sync as (waiting for acknowledgements, released by
/// the check), where the server has it.
fn semi_sync_gauges(v: &Value) -> Option<(bool, bool)> {
    if v.is_null() {
        return None;
    }
    Some((v["active"] == true, v["released"].is_string()))
}
