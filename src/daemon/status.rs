//! What `rkeepalived status` and `explain` show, built from the running
//! state: the engine's instances, their slots and journals, the tracker's
//! contributions and the checks' last results. Pure: the protocol loop
//! hands in what it holds and the current time; no I/O here.
//!
//! The JSON schema (version [`VERSION`](super::control::VERSION)) is
//! documented in rkeepalived(8); fields are only ever added.

use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

use crate::track::check::Outcome;
use crate::track::{Kind, ObjId, Tracker};
use crate::vrrp::{Instance, State, Stats};

use super::checks::CheckFacts;
use super::footguns::Footgun;
use super::journal::{secs, Why};
use super::slot::Slot;

/// The clocks a status is read against.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub mono: Instant,
    pub wall: SystemTime,
}

fn ago(now: Now, t: Instant) -> f64 {
    now.mono.saturating_duration_since(t).as_secs_f64()
}

pub(super) fn kind_name(k: Option<Kind>) -> &'static str {
    match k {
        Some(Kind::Interface) => "interface",
        Some(Kind::Check) => "check",
        Some(Kind::File) => "file",
        Some(Kind::Process) => "process",
        None => "unknown",
    }
}

/// A tracked object's state as the dumps write it: a file's value, or
/// OK / KO / INIT (no result yet).
pub(super) fn object_status(t: &Tracker, obj: ObjId) -> Value {
    match t.value(obj) {
        Some(v) => json!(v),
        None => json!(match t.status(obj) {
            Some(true) => "OK",
            Some(false) => "KO",
            None => "INIT",
        }),
    }
}

/// The drops of received adverts, by reason.
fn drops(s: &Stats) -> Value {
    json!({
        "ttl": s.ip_ttl_err,
        "length": s.packet_len_err,
        "version": s.version_err,
        "checksum": s.checksum_err,
        "type": s.invalid_type_rcvd,
        "auth_type": s.invalid_authtype,
        "auth_mismatch": s.authtype_mismatch,
        "auth": s.auth_failure,
        "interval": s.advert_interval_err,
        "address_list": s.addr_list_err,
        "unknown_source": s.src_err,
    })
}

/// One instance: state, priorities with each tracker's share, the master
/// heard, the last transition and the journal, the advert counters.
pub fn instance(inst: &Instance, slot: &Slot, t: &Tracker, checks: &[(ObjId, CheckFacts<'_>)], now: Now) -> Value {
    let contributions: Vec<Value> = slot
        .refs
        .iter()
        .map(|r| {
            let c = t.contribution(r);
            let since = checks
                .iter()
                .find(|(o, _)| *o == r.obj)
                .and_then(|(_, f)| f.changed_at)
                .map(|at| ago(now, at));
            json!({
                "name": t.name(r.obj),
                "kind": kind_name(t.kind(r.obj)),
                "weight": r.weight,
                "reverse": r.reverse,
                "status": object_status(t, r.obj),
                "share": c.share,
                "fault": c.fault,
                "changed_ago": since,
            })
        })
        .collect();
    let master = match inst.state() {
        State::Master => {
            json!({ "self": true, "address": slot.src.map(|a| a.to_string()), "priority": inst.effective_priority() })
        }
        _ => match inst.master_heard() {
            Some((a, p, at)) => json!({ "self": false, "address": a.to_string(), "priority": p, "age": ago(now, at) }),
            None => Value::Null,
        },
    };
    let s = inst.stats();
    let cfg = &slot.cfg;
    json!({
        "name": cfg.name,
        "state": inst.state().name(),
        "maintenance": inst.in_maintenance(),
        "interface": slot.ifname,
        "vrid": cfg.vrid,
        "version": cfg.version,
        "vips_set": slot.vips_set,
        "priority": {
            "base": cfg.priority,
            "effective": inst.effective_priority(),
            "advertised": if inst.in_maintenance() { 0 } else { inst.effective_priority() },
            "contributions": contributions,
        },
        "nopreempt": cfg.nopreempt,
        "preempt_delay": cfg.preempt_delay.as_secs_f64(),
        "preempt_hold": inst.preempt_held(),
        "sync_group": cfg.sync_group,
        "master": master,
        "last_transition": slot.journal.last().map(|e| e.to_json()),
        "journal": slot.journal.to_json(),
        "adverts": { "sent": s.advert_sent, "received": s.advert_rcvd, "drops": drops(s) },
    })
}

/// One check: its kind, result, rise/fall position, last run, latency and
/// message; check_mysql adds what its probe saw (positions, links, guard).
pub fn check(obj: ObjId, f: &CheckFacts<'_>, t: &Tracker, now: Now) -> Value {
    let message = match f.last {
        Some(Outcome::Failure(why)) => Some(why.clone()),
        _ => f.detail.and_then(|d| d["message"].as_str().map(str::to_string)),
    };
    let mut v = json!({
        "name": t.name(obj),
        "kind": f.kind.label(),
        "result": object_status(t, obj),
        "rise_fall": t.counter(obj).map(|(value, rise, fall)| json!({ "value": value, "rise": rise, "fall": fall })),
        "last_run_ago": f.last_at.map(|at| ago(now, at)),
        "latency_ms": f.latency.map(|d| d.as_secs_f64() * 1000.0),
        "changed_ago": f.changed_at.map(|at| ago(now, at)),
        "message": message,
    });
    if f.kind == super::tracking::CheckKind::Mysql {
        if let Some(d) = f.detail {
            v["mysql"] = d.clone();
            v["guard"] = match d.get("waiting_for") {
                Some(w) => json!({ "verdict": "hold", "waiting_for": w }),
                None => json!({ "verdict": "release" }),
            };
        }
    }
    v
}

fn dur(secs: f64) -> String {
    let d = Duration::from_secs_f64(secs.max(0.0));
    if d < Duration::from_secs(120) {
        format!("{:.0} s", d.as_secs_f64())
    } else if d < Duration::from_secs(7200) {
        format!("{} min", d.as_secs() / 60)
    } else {
        format!("{} h", d.as_secs() / 3600)
    }
}

/// Why a journal entry happened, in words, from its record.
fn because(e: &Value) -> String {
    let peer = e["peer"]["address"].as_str().unwrap_or("a peer");
    let pp = e["peer"]["priority"].as_u64().unwrap_or(0);
    let reason = e["reason"].as_str().unwrap_or("");
    let text = match Why::ALL.iter().find(|w| w.as_str() == reason) {
        Some(Why::Startup) => "it started".to_string(),
        Some(Why::MasterDownTimer) => "no advert came from a master for Master_Down_Interval".to_string(),
        Some(Why::HigherPriorityHeard) => format!("{peer} advertised priority {pp}"),
        Some(Why::PriorityZeroHeard) => format!("{peer} stepped down (priority 0)"),
        Some(Why::Preempt) => format!("it preempted {peer}, whose priority {pp} was lower"),
        Some(Why::TrackerFault) => "a tracked check failed".to_string(),
        Some(Why::TrackerRecovered) => "its tracked checks recovered".to_string(),
        Some(Why::LinkDown) => "a tracked interface went down".to_string(),
        Some(Why::LinkUp) => "its interfaces came back up".to_string(),
        Some(Why::SyncGroup) => "its sync group moved it".to_string(),
        Some(Why::GuardRelease) => "check_mysql's guard released the preemption".to_string(),
        Some(Why::GuardYield) => format!(
            "check_mysql's guard had it give way to {peer} (priority {pp}), whose server may hold writes its own lacks"
        ),
        Some(Why::Maintenance) => "it was put in maintenance".to_string(),
        Some(Why::VipDeleted) => "someone else deleted one of its VIPs from the host".to_string(),
        Some(Why::Reload) => "a reload created it anew".to_string(),
        Some(Why::Shutdown) => "it was stopped".to_string(),
        None => reason.to_string(),
    };
    text
}

/// The trackers pulling the priority away from its base (or faulting it),
/// in words: "chk_http failed 12 s ago (weight −30)".
fn pulls(v: &Value) -> Vec<String> {
    v["priority"]["contributions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["share"].as_i64().unwrap_or(0) != 0 || c["fault"] == json!(true))
        .map(|c| {
            let name = c["name"].as_str().unwrap_or("?");
            let state = match (c["kind"].as_str(), c["status"].as_str()) {
                (Some("interface"), Some("KO")) => "is down".to_string(),
                (Some("interface"), _) => "is up".to_string(),
                (_, Some("KO")) => "failed".to_string(),
                (_, Some("OK")) => "passes".to_string(),
                (_, _) => format!("reads {}", c["status"]),
            };
            let when = c["changed_ago"]
                .as_f64()
                .map(|s| format!(" {} ago", dur(s)))
                .unwrap_or_default();
            if c["fault"] == json!(true) {
                format!("{name} {state}{when} (weight 0: FAULT)")
            } else {
                format!("{name} {state}{when} (weight {:+})", c["share"].as_i64().unwrap_or(0))
            }
        })
        .collect()
}

/// Why an instance has its state and priority, and what would change
/// them, from its status record (never canned: each sentence comes from a
/// field), then the footguns of its configuration.
pub fn explain(v: &Value, footguns: &[Footgun]) -> Vec<String> {
    let name = v["name"].as_str().unwrap_or("?");
    let state = v["state"].as_str().unwrap_or("?");
    let base = v["priority"]["base"].as_u64().unwrap_or(0);
    let eff = v["priority"]["effective"].as_u64().unwrap_or(0);
    let pulls = pulls(v);
    let mut out = Vec::new();
    let ours = if eff == base {
        format!("Ours is {eff}, its base.")
    } else {
        format!("Ours is {eff} (base {base}) because {}.", pulls.join(", "))
    };
    let master = &v["master"];
    if v["maintenance"] == json!(true) {
        out.push(format!(
            "{name} is in maintenance: it advertises nothing and never takes over, even when no master is heard, until `rkeepalived maintenance {name} off`."
        ));
    }
    match state {
        "MASTER" if eff == base => out.push(format!("{name} is MASTER at priority {eff}, its base.")),
        "MASTER" => out.push(format!(
            "{name} is MASTER at priority {eff} (base {base}) because {}.",
            pulls.join(", ")
        )),
        "FAULT" => out.push(format!(
            "{name} is in FAULT because {}.",
            if pulls.is_empty() {
                "a tracked object failed".to_string()
            } else {
                pulls.join(", ")
            }
        )),
        _ => match master["address"].as_str() {
            Some(a) if master["self"] == json!(false) => {
                let p = master["priority"].as_u64().unwrap_or(0);
                let age = master["age"].as_f64().map(dur).unwrap_or_default();
                out.push(format!("{a} is master at priority {p} (heard {age} ago). {ours}"));
            }
            _ => out.push(format!("{name} is {state}; no master heard. {ours}")),
        },
    }
    if let Some(e) = v["last_transition"].as_object() {
        let e = Value::Object(e.clone());
        out.push(format!(
            "It became {} from {} because {}.",
            e["to"].as_str().unwrap_or("?"),
            e["from"].as_str().unwrap_or("?"),
            because(&e)
        ));
    }
    // What would change it.
    let nopreempt = v["nopreempt"] == json!(true);
    let failing: Vec<&str> = v["priority"]["contributions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["status"] == json!("KO"))
        .filter_map(|c| c["name"].as_str())
        .collect();
    match state {
        "BACKUP" if v["maintenance"] != json!(true) => {
            let p = master["priority"].as_u64().unwrap_or(0);
            if master["self"] == json!(false) && p > eff {
                if nopreempt {
                    out.push(format!(
                        "nopreempt is set, so we will not take it back when {} passes; only a master that stops or sends priority 0 hands it over.",
                        if failing.is_empty() { "our priority rises".to_string() } else { failing.join(" and ") }
                    ));
                } else {
                    out.push(format!(
                        "We take over when our priority exceeds {p}, or when the master stops."
                    ));
                }
            } else if master["self"] == json!(false) && p < eff {
                if v["preempt_hold"] == json!(true) {
                    out.push("We would preempt the lower-priority master, but check_mysql holds the preemption until the database has caught up.".to_string());
                } else if nopreempt {
                    out.push("nopreempt is set: we leave the lower-priority master in place.".to_string());
                } else {
                    out.push("We preempt the lower-priority master when its down timer runs out.".to_string());
                }
            } else if master["address"].is_null() {
                out.push("We take over when the down timer runs out.".to_string());
            }
        }
        "MASTER" => out.push(format!(
            "We give it up to a peer advertising more than {eff}{}.",
            if failing.is_empty() {
                String::new()
            } else {
                format!(" (our priority rises when {} passes)", failing.join(" and "))
            }
        )),
        "FAULT" => out.push("We leave FAULT when every unweighted tracker passes again.".to_string()),
        _ => {}
    }
    for f in footguns.iter().filter(|f| f.instance == name) {
        out.push(format!("Footgun: {}", f.message));
    }
    out
}

/// A whole status answer.
pub fn answer(instances: Vec<Value>, checks: Vec<Value>, started: SystemTime) -> Value {
    json!({
        "version": super::control::VERSION,
        "ok": true,
        "daemon": {
            "pid": std::process::id(),
            "version": env!("CARGO_PKG_VERSION"),
            "started": secs(started),
        },
        "instances": instances,
        "checks": checks,
    })
}

/// systemd's one-line `STATUS=`: each instance's state, or with many
/// instances how many are in each state (a line `systemctl status` shows).
pub fn status_line<'a>(states: impl Iterator<Item = (&'a str, &'static str, bool)>) -> String {
    const LISTED: usize = 8;
    let states: Vec<_> = states.collect();
    if states.is_empty() {
        return "no VRRP instances".into();
    }
    if states.len() <= LISTED {
        let each: Vec<String> = states
            .iter()
            .map(|(name, state, maint)| format!("{name} {state}{}", if *maint { " (maintenance)" } else { "" }))
            .collect();
        return each.join(", ");
    }
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for (_, state, _) in &states {
        match counts.iter_mut().find(|(s, _)| s == state) {
            Some((_, n)) => *n += 1,
            None => counts.push((state, 1)),
        }
    }
    counts.sort();
    let mut line = format!("{} instances: ", states.len());
    line.push_str(
        &counts
            .iter()
            .map(|(s, n)| format!("{n} {s}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    let maint = states.iter().filter(|(_, _, m)| *m).count();
    if maint > 0 {
        line.push_str(&format!(", {maint} in maintenance"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(state: &str, master: Value, contributions: Value, last: Value) -> Value {
        json!({
            "name": "VI_1", "state": state, "maintenance": false, "nopreempt": true, "preempt_hold": false,
            "priority": { "base": 100, "effective": 70, "contributions": contributions },
            "master": master, "last_transition": last,
        })
    }

    /// The example of the issue, built from the records: the master heard,
    /// our priority's pull with its age and weight, the journal's reason,
    /// and nopreempt's consequence.
    #[test]
    fn explain_speaks_from_the_records() {
        let v = record(
            "BACKUP",
            json!({ "self": false, "address": "10.0.0.2", "priority": 90, "age": 0.4 }),
            json!([{ "name": "chk_http", "kind": "check", "status": "KO", "share": -30, "fault": false, "changed_ago": 12.0 }]),
            json!({ "from": "MASTER", "to": "BACKUP", "reason": "higher_priority_heard", "peer": { "address": "10.0.0.2", "priority": 90 } }),
        );
        let lines = explain(&v, &[]);
        assert_eq!(
            lines[0],
            "10.0.0.2 is master at priority 90 (heard 0 s ago). Ours is 70 (base 100) because chk_http failed 12 s ago (weight -30)."
        );
        assert_eq!(
            lines[1],
            "It became BACKUP from MASTER because 10.0.0.2 advertised priority 90."
        );
        assert!(
            lines[2].starts_with("nopreempt is set, so we will not take it back when chk_http passes"),
            "{lines:?}"
        );
    }

    #[test]
    fn explain_names_the_instance_s_footguns_and_maintenance() {
        let mut v = record("BACKUP", Value::Null, json!([]), Value::Null);
        v["maintenance"] = json!(true);
        v["priority"]["effective"] = json!(100);
        let f = Footgun {
            instance: "VI_1".into(),
            span: Default::default(),
            message: "(VI_1) VIP 192.168.9.9 is outside every subnet of eth0".into(),
            reported: false,
        };
        let other = Footgun {
            instance: "VI_2".into(),
            ..f.clone()
        };
        let lines = explain(&v, &[f, other]);
        assert!(lines[0].contains("is in maintenance"), "{lines:?}");
        assert_eq!(
            lines.iter().filter(|l| l.starts_with("Footgun:")).count(),
            1,
            "{lines:?}"
        );
    }
}

#[cfg(test)]
mod status_line_tests {
    use super::status_line;

    #[test]
    fn few_instances_are_listed_many_are_counted() {
        assert_eq!(status_line(std::iter::empty()), "no VRRP instances");
        let few = [("VI_1", "MASTER", false), ("VI_2", "BACKUP", true)];
        assert_eq!(status_line(few.into_iter()), "VI_1 MASTER, VI_2 BACKUP (maintenance)");
        let names: Vec<String> = (0..10).map(|i| format!("VI_{i}")).collect();
        let many = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), if i < 7 { "MASTER" } else { "FAULT" }, i == 0));
        assert_eq!(status_line(many), "10 instances: 3 FAULT, 7 MASTER, 1 in maintenance");
    }
}
