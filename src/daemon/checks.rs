//! The running checks: one task per tracked check object, and how their
//! reports reach the tracker. Every run of a check has a generation; a
//! report from a run that a reload replaced or stopped is dropped and
//! counted, never applied to another object. A reload keeps the checks
//! that did not change (their tasks keep running, their results stay).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::model::Config;
use crate::track::check::{Check, Guard, Outcome, Report, Reporter, Source};
use crate::track::file::{init_file, read_value, FileCheck};
use crate::track::mysql::{MysqlCheck, Role};
use crate::track::plugin::PluginCheck;
use crate::track::process::ProcessCheck;
use crate::track::script::ScriptCheck;
use crate::track::security::RunAs;
use crate::track::{Kind, ObjId, Tracker};
use crate::vrrp::{InstanceId, Router, State};

use super::precheck::Verdicts;
use super::reload::{self, CheckStep};
use super::slot::Slot;
use super::sockets::Counters;
use super::tracking::{CheckDef, CheckKind};

/// check_mysql's link to the engine: the role its probe is told, whether
/// its catch-up guard is on, and its fencing state.
struct MysqlLink {
    role: watch::Sender<Role>,
    guarded: bool,
    /// The guard's last decision (None: none yet).
    guard: Option<Guard>,
    /// With `read_only_when_backup`: whether the server is writable (None:
    /// not reported yet), and how long a new MASTER waits for it.
    fencing: Option<(Option<bool>, Duration)>,
    /// Whether it has a peer_host to hand over to.
    has_peer: bool,
}

struct Running {
    def: CheckDef,
    generation: u64,
    task: JoinHandle<()>,
    last: Option<Outcome>,
    last_at: Option<Instant>,
    /// How long the last run took.
    latency: Option<Duration>,
    /// When its tracked state last changed.
    changed_at: Option<Instant>,
    /// A run is in progress now.
    in_progress: std::sync::Arc<std::sync::atomic::AtomicBool>,
    detail: Option<Value>,
    mysql: Option<MysqlLink>,
}

impl Drop for Running {
    fn drop(&mut self) {
        // Running scripts get SIGTERM (their task's drop kills the group).
        self.task.abort();
    }
}

/// One running check's last result, as `status` shows it.
pub struct CheckFacts<'a> {
    pub kind: CheckKind,
    pub last: Option<&'a Outcome>,
    pub last_at: Option<Instant>,
    pub latency: Option<Duration>,
    /// When its tracked state last changed.
    pub changed_at: Option<Instant>,
    /// A run is in progress now.
    pub running: bool,
    pub detail: Option<&'a Value>,
}

pub struct Checks {
    tx: mpsc::UnboundedSender<Report>,
    running: HashMap<ObjId, Running>,
    next_generation: u64,
    /// Guard decisions reported since the last `take_guards`.
    guards: Vec<(ObjId, Guard)>,
    /// Switchovers that ended since the last `take_switchovers`.
    switchovers: Vec<(ObjId, u64, Result<(), String>)>,
}

impl Checks {
    pub fn new() -> (Checks, mpsc::UnboundedReceiver<Report>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Checks {
                tx,
                running: HashMap::new(),
                next_generation: 1,
                guards: Vec::new(),
                switchovers: Vec::new(),
            },
            rx,
        )
    }

    /// Brings the running checks in line with `defs` (the checks the
    /// configuration's instances use): unchanged ones keep running with
    /// their results, changed ones start anew, others start or stop.
    pub fn sync(&mut self, tracker: &mut Tracker, config: &Config, verdicts: &Verdicts, defs: Vec<CheckDef>) {
        let mut runnable = Vec::with_capacity(defs.len());
        for mut def in defs {
            match self.run_as(config, verdicts, &def) {
                Ok(who) => {
                    // The user a check runs as is part of what it is.
                    def.identity = format!("{} as {who}", def.identity);
                    runnable.push(def);
                }
                // keepalived's words for a script it will not run.
                Err(e) if def.kind == CheckKind::Script => tracing::warn!("Disabling track script {}: {e}", def.name),
                Err(e) => tracing::error!("Disabling {} {}: {e}", def.kind.label(), def.name),
            }
        }
        let old: Vec<(ObjId, CheckDef)> = self.running.iter().map(|(o, r)| (*o, r.def.clone())).collect();
        let old_refs: Vec<(ObjId, &CheckDef)> = old.iter().map(|(o, d)| (*o, d)).collect();
        for step in reload::checks(&old_refs, &runnable) {
            match step {
                CheckStep::Keep { .. } => {}
                CheckStep::Limits { obj, def } => {
                    tracker.set_limits(obj, def.rise, def.fall);
                    if let Some(r) = self.running.get_mut(&obj) {
                        r.def = def;
                    }
                }
                CheckStep::Replace { obj, def } => {
                    // A new check under the old name starts from the old
                    // one's result, as keepalived keeps it by name.
                    let was = tracker.status(obj);
                    self.stop(tracker, obj);
                    if let Some(new) = self.start(tracker, config, verdicts, def) {
                        tracker.inherit(new, was);
                    }
                }
                CheckStep::Start { def } => {
                    self.start(tracker, config, verdicts, def);
                }
                CheckStep::Stop { obj } => self.stop(tracker, obj),
            }
        }
    }

    /// Stops every check (daemon stopping).
    pub fn stop_all(&mut self) {
        self.running.clear();
        self.guards.clear();
    }

    fn stop(&mut self, tracker: &mut Tracker, obj: ObjId) {
        self.running.remove(&obj);
        tracker.remove(obj);
    }

    /// The object a track line names, if its check runs.
    pub fn lookup(&self, kind: CheckKind, name: &str) -> Option<ObjId> {
        self.running
            .iter()
            .find(|(_, r)| {
                r.def.name == name && (r.def.kind == kind || kind == CheckKind::Script && r.def.kind.is_script_like())
            })
            .map(|(o, _)| *o)
    }

    /// Who a check runs as, or why it cannot run (keepalived disables a
    /// script that is missing, insecure under enable_script_security, or
    /// whose user does not exist).
    fn run_as(&self, config: &Config, verdicts: &Verdicts, def: &CheckDef) -> Result<String, String> {
        match def.kind {
            CheckKind::Script => {
                let role = format!("vrrp_script {}", def.name);
                match verdicts.scripts.iter().find(|v| v.role == role).map(|v| &v.outcome) {
                    Some(Ok((who, _))) => Ok(format!("{}:{}", who.uid, who.gid)),
                    Some(Err(e)) => Err(e.clone()),
                    None => Err("not checked".into()),
                }
            }
            CheckKind::Plugin => match verdicts.plugins.get(&def.name) {
                Some(Ok((path, who))) => Ok(format!("{}:{} {}", who.uid, who.gid, path.display())),
                Some(Err(e)) => Err(e.clone()),
                None => Err("not verified".into()),
            },
            CheckKind::File | CheckKind::Mysql | CheckKind::Process => {
                let _ = config;
                Ok("daemon".into())
            }
        }
    }

    fn start(&mut self, tracker: &mut Tracker, config: &Config, verdicts: &Verdicts, def: CheckDef) -> Option<ObjId> {
        let name = def.name.clone();
        let (obj, check, mysql): (ObjId, Box<dyn Check>, Option<MysqlLink>) = match def.kind {
            CheckKind::Script => {
                let s = config.script(&name)?;
                let role = format!("vrrp_script {name}");
                let who = match verdicts.scripts.iter().find(|v| v.role == role).map(|v| &v.outcome) {
                    Some(Ok((who, _))) => who.clone(),
                    _ => return None,
                };
                let obj = tracker.add_check(&name, s.rise, s.fall, s.init_fail);
                let check = ScriptCheck {
                    name: name.clone(),
                    argv: s.script.argv.clone(),
                    who,
                    interval: s.interval,
                    timeout: s.effective_timeout(),
                };
                (obj, Box::new(check), None)
            }
            CheckKind::Plugin => {
                let p = config.check_plugins.iter().find(|p| p.name == name)?;
                let Some(Ok((path, who))) = verdicts.plugins.get(&name).cloned() else {
                    return None;
                };
                let c = &p.common;
                let obj = tracker.add_check(&name, c.rise, c.fall, c.init_fail);
                let check = plugin_check(p, path, who);
                (obj, Box::new(check), None)
            }
            CheckKind::Mysql => {
                let m = config.check_mysql.iter().find(|m| m.name == name)?;
                let c = &m.common;
                let obj = tracker.add_check(&name, c.rise, c.fall, c.init_fail);
                let (tx, rx) = watch::channel(Role::default());
                let check = MysqlCheck {
                    name: name.clone(),
                    settings: m.settings.clone(),
                    common: m.common,
                    role: rx,
                };
                let link = MysqlLink {
                    role: tx,
                    guarded: m.settings.peer_host.is_some(),
                    guard: None,
                    // A takeover first waits for the relay log (up to
                    // relay_apply_timeout, a round more to notice), then
                    // the SET within the timeout.
                    fencing: m.settings.read_only_when_backup.then(|| {
                        (
                            None,
                            c.effective_timeout() + m.settings.relay_apply_timeout + c.interval,
                        )
                    }),
                    has_peer: m.settings.peer_host.is_some(),
                };
                (obj, Box::new(check), Some(link))
            }
            CheckKind::File => {
                let f = config.track_files.iter().find(|f| f.name == name)?;
                if let Some((value, overwrite)) = f.init_file {
                    if let Err(e) = init_file(&f.path, value, overwrite) {
                        tracing::warn!("track_file {name}: cannot initialise {}: {e}", f.path.display());
                    }
                }
                let obj = tracker.add_file(&name, read_value(&f.path));
                (obj, Box::new(FileCheck { path: f.path.clone() }), None)
            }
            CheckKind::Process => {
                let p = config.track_processes.iter().find(|p| p.name == name)?;
                let obj = tracker.add_bool(Kind::Process, &name, None);
                let check = ProcessCheck {
                    spec: p.clone(),
                    proc_root: PathBuf::from("/proc"),
                };
                (obj, Box::new(check), None)
            }
        };
        let generation = self.next_generation;
        self.next_generation += 1;
        let reporter = Reporter::new(Source { obj, generation }, self.tx.clone());
        let in_progress = reporter.running_flag();
        let task = check.start(reporter);
        self.running.insert(
            obj,
            Running {
                def,
                generation,
                task,
                in_progress,
                last: None,
                last_at: None,
                latency: None,
                changed_at: None,
                detail: None,
                mysql,
            },
        );
        Some(obj)
    }

    /// Whether any check_mysql fences its server.
    pub fn fences(&self) -> bool {
        self.running
            .values()
            .any(|r| r.mysql.as_ref().is_some_and(|m| m.fencing.is_some()))
    }

    /// Whether an instance with these references tracks a fencing
    /// check_mysql whose server is not yet writable; if so, how long its
    /// VIPs may wait for it.
    pub fn unfenced(&self, refs: &[crate::track::Reference]) -> Option<Duration> {
        refs.iter()
            .filter_map(|r| self.running.get(&r.obj)?.mysql.as_ref()?.fencing)
            .filter(|(writable, _)| *writable != Some(true))
            .map(|(_, wait)| wait)
            .max()
    }

    /// check_mysql objects whose catch-up guard is on, with its last
    /// decision (None: none yet; their instances are held until it says).
    pub fn guarded(&self) -> Vec<(ObjId, Option<Guard>)> {
        self.running
            .iter()
            .filter_map(|(o, r)| r.mysql.as_ref().filter(|m| m.guarded).map(|m| (*o, m.guard)))
            .collect()
    }

    /// Guard decisions reported since the last call.
    pub fn take_guards(&mut self) -> Vec<(ObjId, Guard)> {
        std::mem::take(&mut self.guards)
    }

    /// Switchovers that ended since the last call.
    pub fn take_switchovers(&mut self) -> Vec<(ObjId, u64, Result<(), String>)> {
        std::mem::take(&mut self.switchovers)
    }

    /// The check_mysql with a peer_host among these references: the one a
    /// switchover of their instance runs through.
    pub fn switchover_check(&self, refs: &[crate::track::Reference]) -> Option<ObjId> {
        refs.iter().map(|r| r.obj).find(|o| {
            self.running
                .get(o)
                .and_then(|r| r.mysql.as_ref())
                .is_some_and(|m| m.has_peer)
        })
    }

    /// Asks a check_mysql's probe for a switchover; returns the request's
    /// number (None: not a check_mysql).
    pub fn request_switchover(&self, obj: ObjId) -> Option<u64> {
        let m = self.running.get(&obj)?.mysql.as_ref()?;
        m.role.send_modify(|r| r.switchover += 1);
        Some(m.role.borrow().switchover)
    }

    /// Tells each MySQL probe the role of the instances tracking it.
    pub fn update_roles(&self, users: &HashMap<ObjId, Vec<InstanceId>>, router: &Router<Slot>) {
        for (obj, r) in &self.running {
            let Some(m) = &r.mysql else { continue };
            let mut role = Role::default();
            for &id in users.get(obj).map(Vec::as_slice).unwrap_or(&[]) {
                if let Some(i) = router.instance(id) {
                    role.master |= i.state() == State::Master;
                    role.would_preempt |= i.would_preempt();
                    role.peer_serves |= i.follows_live_master();
                }
            }
            m.role.send_if_modified(|r| {
                role.switchover = r.switchover;
                let changed = *r != role;
                *r = role;
                changed
            });
        }
    }

    /// Applies one report; returns the object whose tracked state changed.
    pub fn apply(&mut self, t: &mut Tracker, mut r: Report, counters: &Counters) -> Option<ObjId> {
        let obj = r.source.obj;
        let Some(run) = self
            .running
            .get_mut(&obj)
            .filter(|run| run.generation == r.source.generation)
        else {
            counters.stale_check_reports.fetch_add(1, Ordering::Relaxed);
            tracing::debug!("dropped a stale check report (a reload replaced its check)");
            return None;
        };
        if r.detail.is_some() {
            run.detail = r.detail.take();
        }
        if let Some((request, result)) = r.switchover.take() {
            self.switchovers.push((obj, request, result));
        }
        if let Some(g) = r.guard {
            self.guards.push((obj, g));
            if let Some(m) = run.mysql.as_mut() {
                m.guard = Some(g);
            }
        }
        if let (Some(w), Some(f)) = (r.writable, run.mysql.as_mut().and_then(|m| m.fencing.as_mut())) {
            f.0 = Some(w);
        }
        if r.interim {
            return None;
        }
        let name = run.def.name.as_str();
        let changed = match &r.outcome {
            Outcome::Success | Outcome::Failure(_) => {
                let fresh = run.last.as_ref() != Some(&r.outcome);
                if fresh {
                    log_outcome(run.def.kind, name, &r.outcome);
                }
                let changed = t.record(obj, r.outcome == Outcome::Success);
                if changed {
                    match &r.outcome {
                        Outcome::Success => tracing::info!("VRRP_Script({name}) succeeded"),
                        Outcome::Failure(why) if why == "timed_out" => tracing::info!("VRRP_Script({name}) timed_out"),
                        Outcome::Failure(why) => tracing::info!("VRRP_Script({name}) failed ({why})"),
                        _ => {}
                    }
                }
                changed
            }
            Outcome::Value(v) => {
                let changed = t.set_value(obj, *v);
                if changed {
                    tracing::info!("track_file {name} is now {v}");
                }
                changed
            }
            Outcome::Up(up) => {
                let changed = t.set_bool(obj, *up);
                if changed {
                    let what = if *up { "gained" } else { "lost" };
                    tracing::info!("Quorum {what} for tracked process {name}");
                }
                changed
            }
        };
        let now = Instant::now();
        run.last = Some(r.outcome);
        run.last_at = Some(now);
        run.latency = r.latency.or(run.latency);
        if changed {
            run.changed_at = Some(now);
        }
        changed.then_some(obj)
    }

    /// What the running checks did, for `status` and `explain`.
    pub fn facts(&self) -> impl Iterator<Item = (ObjId, CheckFacts<'_>)> {
        self.running.iter().map(|(obj, r)| {
            (
                *obj,
                CheckFacts {
                    kind: r.def.kind,
                    last: r.last.as_ref(),
                    last_at: r.last_at,
                    latency: r.latency,
                    changed_at: r.changed_at,
                    running: r.in_progress.load(Ordering::Relaxed),
                    detail: r.detail.as_ref(),
                },
            )
        })
    }
}

impl CheckKind {
    /// Named on `track_script` lines.
    fn is_script_like(self) -> bool {
        matches!(self, CheckKind::Script | CheckKind::Mysql | CheckKind::Plugin)
    }
}

fn plugin_check(p: &crate::config::model::CheckPlugin, path: PathBuf, who: RunAs) -> PluginCheck {
    PluginCheck {
        name: p.name.clone(),
        path,
        config_json: p.config_json.clone(),
        common: p.common,
        isolate: p.isolate,
        who,
    }
}

fn log_outcome(kind: CheckKind, name: &str, outcome: &Outcome) {
    match kind {
        CheckKind::Mysql | CheckKind::Plugin => match outcome {
            Outcome::Failure(why) => tracing::warn!("{} {name}: {why}", kind.label()),
            _ => tracing::info!("{} {name}: healthy", kind.label()),
        },
        CheckKind::Script => {
            let code = match outcome {
                Outcome::Success => "0".to_string(),
                Outcome::Failure(why) => why.clone(),
                _ => String::new(),
            };
            tracing::info!("Script `{name}` now returning {code}");
        }
        CheckKind::File | CheckKind::Process => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_str, LoadOptions};
    use crate::daemon::tracking::{check_def, Want};

    fn config(path: &str) -> Config {
        load_str(
            "t",
            &format!("track_file tf {{\n file {path}\n}}\n"),
            &LoadOptions::default(),
        )
        .config
    }

    fn defs(c: &Config) -> Vec<CheckDef> {
        let w = Want::File {
            name: "tf".into(),
            weight: 1,
            reverse: false,
        };
        check_def(c, &w).into_iter().collect()
    }

    fn report(obj: ObjId, generation: u64, v: i64) -> Report {
        Report {
            source: Source { obj, generation },
            outcome: Outcome::Value(v),
            detail: None,
            guard: None,
            writable: None,
            latency: None,
            switchover: None,
            interim: false,
        }
    }

    /// A reload that changes a check starts a new run: what the old run
    /// still reports is dropped and counted, the new run's is applied.
    #[tokio::test]
    async fn reports_of_a_replaced_run_are_stale() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let (mut checks, _rx) = Checks::new();
        let mut t = Tracker::new();
        let counters = Counters::default();
        let v = Verdicts::default();
        let first = config(&a.display().to_string());
        checks.sync(&mut t, &first, &v, defs(&first));
        let obj = checks
            .lookup(CheckKind::File, "tf")
            .unwrap_or_else(|| panic!("not started"));
        let gen1 = checks.running[&obj].generation;
        // Unchanged: kept, same run.
        checks.sync(&mut t, &first, &v, defs(&first));
        assert_eq!(checks.lookup(CheckKind::File, "tf"), Some(obj));
        assert_eq!(checks.running[&obj].generation, gen1);
        // Changed: a new object, a new run.
        let second = config(&b.display().to_string());
        checks.sync(&mut t, &second, &v, defs(&second));
        let new = checks
            .lookup(CheckKind::File, "tf")
            .unwrap_or_else(|| panic!("not restarted"));
        assert_ne!(new, obj);
        let gen2 = checks.running[&new].generation;
        assert_ne!(gen2, gen1);
        assert_eq!(checks.apply(&mut t, report(obj, gen1, 5), &counters), None);
        assert_eq!(checks.apply(&mut t, report(new, gen1, 5), &counters), None);
        assert_eq!(counters.stale_check_reports.load(Ordering::Relaxed), 2);
        assert_eq!(t.value(new), Some(0), "the stale value was not applied");
        assert_eq!(checks.apply(&mut t, report(new, gen2, 5), &counters), Some(new));
        assert_eq!(t.value(new), Some(5));
        // Removed from the configuration: stopped, its object gone.
        checks.sync(&mut t, &second, &v, Vec::new());
        assert_eq!(checks.lookup(CheckKind::File, "tf"), None);
        assert_eq!(t.kind(new), None);
    }
}
