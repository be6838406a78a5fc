//! The running checks of the daemon: which tracked objects exist, the task
//! that feeds each, and how their results reach the tracker.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::model::{CheckMysql, CheckPlugin, Config, VrrpInstance};
use crate::track::check::{Check, Outcome, Report, Reporter};
use crate::track::file::{init_file, FileCheck};
use crate::track::mysql::{MysqlCheck, Role};
use crate::track::plugin::PluginCheck;
use crate::track::process::{ProcessCheck, SCAN_INTERVAL};
use crate::track::script::ScriptCheck;
use crate::track::{Kind, ObjId, Tracker};

use super::precheck::Verdicts;
use crate::track::security::RunAs;

pub type CheckEvent = Report;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CheckKind {
    Script,
    File,
    Process,
    Mysql,
    Plugin,
}

struct Meta {
    kind: CheckKind,
    name: String,
    last: Option<Outcome>,
    detail: Option<Value>,
}

pub struct Checks {
    tx: mpsc::UnboundedSender<Report>,
    pending: Vec<(ObjId, Box<dyn Check>)>,
    registered: HashSet<ObjId>,
    tasks: Vec<JoinHandle<()>>,
    meta: HashMap<ObjId, Meta>,
    /// check_mysql: the role each probe is told, and whether its catch-up
    /// guard (peer_host) is on.
    roles: Vec<(ObjId, tokio::sync::watch::Sender<Role>, bool)>,
    /// Hold decisions reported since the last `take_holds`.
    holds: Vec<(ObjId, bool)>,
    /// check_mysql with fencing: whether the server is writable (None:
    /// not reported yet), and how long a new MASTER waits for it.
    fencing: HashMap<ObjId, (Option<bool>, Duration)>,
}

impl Checks {
    pub fn new() -> (Checks, mpsc::UnboundedReceiver<Report>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Checks {
                tx,
                pending: Vec::new(),
                registered: HashSet::new(),
                tasks: Vec::new(),
                meta: HashMap::new(),
                roles: Vec::new(),
                holds: Vec::new(),
                fencing: HashMap::new(),
            },
            rx,
        )
    }

    /// Registers a check object once (several instances may track it):
    /// its status for dumps and its task, started by `start_all`. True
    /// the first time.
    fn add(&mut self, obj: ObjId, kind: CheckKind, name: &str, check: impl FnOnce() -> Box<dyn Check>) -> bool {
        if !self.registered.insert(obj) {
            return false;
        }
        self.meta.insert(
            obj,
            Meta {
                kind,
                name: name.to_string(),
                last: None,
                detail: None,
            },
        );
        self.pending.push((obj, check()));
        true
    }

    /// A `track_script` name: a vrrp_script (later also check_mysql /
    /// check_plugin). Disabled scripts (not found, insecure under
    /// enable_script_security, no user) are not tracked, as keepalived.
    pub fn register_script(
        &mut self,
        t: &mut Tracker,
        config: &Config,
        name: &str,
        verdicts: &Verdicts,
    ) -> Option<ObjId> {
        if let Some(m) = config.check_mysql.iter().find(|m| m.name == name) {
            return Some(self.register_mysql(t, m));
        }
        if let Some(p) = config.check_plugins.iter().find(|p| p.name == name) {
            return self.register_plugin(t, config, p, verdicts.plugins.get(name));
        }
        let s = config.script(name)?;
        let role = format!("vrrp_script {name}");
        let verdict = verdicts.scripts.iter().find(|v| v.role == role);
        let who = match verdict.map(|v| &v.outcome) {
            Some(Ok((who, _))) => who.clone(),
            Some(Err(e)) => {
                tracing::warn!("Disabling track script {name}: {e}");
                return None;
            }
            // Not checked yet (a reload in progress): check now.
            None => match crate::track::security::run_as(s.script.user.as_ref(), &config.global) {
                Ok(w) => w,
                Err(e) => {
                    tracing::warn!("Disabling track script {name}: {e}");
                    return None;
                }
            },
        };
        let obj = t.add_check(name, s.rise, s.fall, s.init_fail);
        self.add(obj, CheckKind::Script, name, || {
            Box::new(ScriptCheck {
                name: name.to_string(),
                argv: s.script.argv.clone(),
                who,
                interval: s.interval,
                timeout: s.effective_timeout(),
            })
        });
        Some(obj)
    }

    /// A plugin that fails its checks (path, permissions, ABI) is not
    /// tracked, as keepalived treats a script it cannot run.
    fn register_plugin(
        &mut self,
        t: &mut Tracker,
        config: &Config,
        p: &CheckPlugin,
        verdict: Option<&Result<(PathBuf, RunAs), String>>,
    ) -> Option<ObjId> {
        // Verified with the rest of the configuration; if not, now.
        let verdict = match verdict {
            Some(v) => v.clone(),
            None => crate::track::plugin::verify(p, &config.global).map_err(|e| e.to_string()),
        };
        let (path, who) = match verdict {
            Ok(v) => v,
            Err(e) => {
                tracing::error!("Disabling check_plugin {}: {e}", p.name);
                return None;
            }
        };
        let c = &p.common;
        let obj = t.add_check(&p.name, c.rise, c.fall, c.init_fail);
        self.add(obj, CheckKind::Plugin, &p.name, || {
            Box::new(PluginCheck {
                name: p.name.clone(),
                path,
                config_json: p.config_json.clone(),
                common: p.common,
                isolate: p.isolate,
                who,
            })
        });
        Some(obj)
    }

    fn register_mysql(&mut self, t: &mut Tracker, m: &CheckMysql) -> ObjId {
        let c = &m.common;
        let obj = t.add_check(&m.name, c.rise, c.fall, c.init_fail);
        let (tx, rx) = tokio::sync::watch::channel(Role::default());
        let fresh = self.add(obj, CheckKind::Mysql, &m.name, || {
            Box::new(MysqlCheck {
                name: m.name.clone(),
                settings: m.settings.clone(),
                common: m.common,
                role: rx,
            })
        });
        if fresh {
            self.roles.push((obj, tx, m.settings.peer_host.is_some()));
            if m.settings.read_only_when_backup {
                self.fencing.insert(obj, (None, c.effective_timeout()));
            }
        }
        obj
    }

    /// Whether any check_mysql fences its server.
    pub fn fences(&self) -> bool {
        !self.fencing.is_empty()
    }

    /// Whether instance `id` tracks a fencing check_mysql whose server is
    /// not yet writable; if so, how long its VIPs may wait for it.
    pub fn unfenced(&self, t: &Tracker, id: usize) -> Option<Duration> {
        t.refs(id)
            .iter()
            .filter_map(|r| self.fencing.get(&r.obj))
            .filter(|(writable, _)| *writable != Some(true))
            .map(|(_, wait)| *wait)
            .max()
    }

    /// check_mysql objects whose catch-up guard is on: their instances
    /// start with preemption held (fail closed) until the guard releases.
    pub fn guarded(&self) -> Vec<ObjId> {
        self.roles.iter().filter(|r| r.2).map(|r| r.0).collect()
    }

    /// Hold decisions reported since the last call.
    pub fn take_holds(&mut self) -> Vec<(ObjId, bool)> {
        std::mem::take(&mut self.holds)
    }

    /// Tells each MySQL probe the role of the instances tracking it.
    pub fn update_roles(&self, t: &Tracker, router: &crate::vrrp::Router) {
        for (obj, tx, _) in &self.roles {
            let mut role = Role::default();
            for &id in t.users(*obj) {
                if let Some(i) = router.instance(id) {
                    role.master |= i.state() == crate::vrrp::State::Master;
                    role.would_preempt |= i.would_preempt();
                    role.peer_serves |= i.follows_live_master();
                }
            }
            tx.send_if_modified(|r| {
                let changed = *r != role;
                *r = role;
                changed
            });
        }
    }

    pub fn register_file(&mut self, t: &mut Tracker, config: &Config, name: &str) -> Option<ObjId> {
        let f = config.track_files.iter().find(|f| f.name == name)?;
        if let Some((value, overwrite)) = f.init_file {
            if let Err(e) = init_file(&f.path, value, overwrite) {
                tracing::warn!("track_file {name}: cannot initialise {}: {e}", f.path.display());
            }
        }
        let obj = t.add_file(name, crate::track::file::read_value(&f.path));
        self.add(obj, CheckKind::File, name, || {
            Box::new(FileCheck { path: f.path.clone() })
        });
        Some(obj)
    }

    pub fn register_process(&mut self, t: &mut Tracker, config: &Config, name: &str) -> Option<ObjId> {
        let p = config.track_processes.iter().find(|p| p.name == name)?;
        let obj = t.add_bool(Kind::Process, name, None);
        self.add(obj, CheckKind::Process, name, || {
            Box::new(ProcessCheck {
                spec: p.clone(),
                proc_root: PathBuf::from("/proc"),
            })
        });
        Some(obj)
    }

    /// Keeps check results across a reload.
    pub fn carry_results(&self, old: &Tracker, new: &mut Tracker) {
        new.carry_from(old);
    }

    /// Starts every registered check.
    pub fn start_all(&mut self, _t: &Tracker) {
        let _ = SCAN_INTERVAL;
        for (obj, check) in self.pending.drain(..) {
            self.tasks.push(check.start(Reporter::new(obj, self.tx.clone())));
        }
    }

    /// Stops every check (running scripts get SIGTERM).
    pub fn stop_all(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
        self.pending.clear();
        self.registered.clear();
        self.meta.clear();
        self.roles.clear();
        self.holds.clear();
        self.fencing.clear();
    }

    /// Applies one result; returns the instances whose tracking changed.
    pub fn apply(&mut self, t: &mut Tracker, mut r: Report) -> Vec<usize> {
        let Some(meta) = self.meta.get_mut(&r.obj) else {
            return Vec::new();
        };
        if r.detail.is_some() {
            meta.detail = r.detail.take();
        }
        if let Some(h) = r.hold {
            self.holds.push((r.obj, h));
        }
        if let (Some(w), Some(f)) = (r.writable, self.fencing.get_mut(&r.obj)) {
            f.0 = Some(w);
        }
        let changed = match &r.outcome {
            Outcome::Success | Outcome::Failure(_) => {
                let success = r.outcome == Outcome::Success;
                let label = match meta.kind {
                    CheckKind::Mysql => Some("check_mysql"),
                    CheckKind::Plugin => Some("check_plugin"),
                    _ => None,
                };
                if let (Some(label), true) = (label, meta.last.as_ref() != Some(&r.outcome)) {
                    match &r.outcome {
                        Outcome::Failure(why) => tracing::warn!("{label} {}: {why}", meta.name),
                        _ => tracing::info!("{label} {}: healthy", meta.name),
                    }
                }
                if meta.kind == CheckKind::Script && meta.last.as_ref() != Some(&r.outcome) {
                    let code = match &r.outcome {
                        Outcome::Success => "0".to_string(),
                        Outcome::Failure(why) => why.clone(),
                        _ => String::new(),
                    };
                    tracing::info!("Script `{}` now returning {code}", meta.name);
                }
                let changed = t.record(r.obj, success);
                if changed {
                    match &r.outcome {
                        Outcome::Success => tracing::info!("VRRP_Script({}) succeeded", meta.name),
                        Outcome::Failure(why) if why == "timed_out" => {
                            tracing::info!("VRRP_Script({}) timed_out", meta.name)
                        }
                        Outcome::Failure(why) => tracing::info!("VRRP_Script({}) failed ({why})", meta.name),
                        _ => {}
                    }
                }
                changed
            }
            Outcome::Value(v) => {
                let changed = t.set_value(r.obj, *v);
                if changed {
                    tracing::info!("track_file {} is now {v}", meta.name);
                }
                changed
            }
            Outcome::Up(up) => {
                let changed = t.set_bool(r.obj, *up);
                if changed {
                    tracing::info!(
                        "Quorum {} for tracked process {}",
                        if *up { "gained" } else { "lost" },
                        meta.name
                    );
                }
                changed
            }
        };
        meta.last = Some(r.outcome);
        if changed {
            t.users(r.obj).to_vec()
        } else {
            Vec::new()
        }
    }

    /// Commands of an instance's tracked scripts (the JSON `track_script`).
    pub fn script_commands(&self, config: &Config, cfg: &VrrpInstance) -> Vec<String> {
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

    /// The status of an instance's checks, for dumps.
    pub fn status_json(&self, t: &Tracker, idx: usize) -> Value {
        let list: Vec<Value> = t
            .refs(idx)
            .iter()
            .map(|r| {
                let kind = match t.kind(r.obj) {
                    Some(Kind::Interface) => "interface",
                    Some(Kind::Check) => "check",
                    Some(Kind::File) => "file",
                    Some(Kind::Process) => "process",
                    None => "unknown",
                };
                let status = match t.value(r.obj) {
                    Some(v) => json!(v),
                    None => match t.status(r.obj) {
                        Some(true) => json!("OK"),
                        Some(false) => json!("KO"),
                        None => json!("INIT"),
                    },
                };
                let detail = self.meta.get(&r.obj).and_then(|m| m.detail.clone()).unwrap_or(Value::Null);
                json!({ "name": t.name(r.obj), "kind": kind, "weight": r.weight, "reverse": r.reverse, "status": status, "detail": detail })
            })
            .collect();
        Value::Array(list)
    }
}
