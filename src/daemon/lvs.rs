//! The load balancer room: runs a checker task per real-server checker,
//! feeds their transitions to the pure core (`crate::lvs`) and keeps the
//! kernel's IPVS table equal to what the core wants, through a thread that
//! owns the IPVS socket (`net::ipvs`), so a slow kernel never stalls VRRP.
//!
//! ```text
//!   checker tasks --transitions--> room --diff--> ipvs thread --> kernel
//!                                   |  notify_up/down, quorum_up/down
//!                                   +-- view (status, explain, dumps)
//! ```

use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::config::lvs::{Checker, CheckerKind, EffectiveTiming, Lvs, RealServer, VirtualServer};
use crate::config::model::{GlobalDefs, LvsFlushOnStop, ScriptSpec};
use crate::lvs::health::{misc_result, CheckerHealth};
use crate::lvs::table::{self, Command, Table};
use crate::lvs::{self as core, RsHealth, RsId, State};
use crate::net::ipvs::{IpvsError, IpvsSocket};
use crate::track::lvs as probe;
use crate::track::security::{self, RunAs};

pub use super::lvs_view::View;
use super::lvs_view::{CheckerView, RsEvent, RsJournal, RsView, VsView};

/// A refused IPVS request is tried again this often, as refused addresses are.
const RETRY: Duration = Duration::from_secs(2);
/// notify_up/notify_down and quorum scripts get this long.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(30);

/// One checker's identity: its real server, its place there, and its
/// settings (a reload that changes a checker starts it anew).
#[derive(Debug, Clone, PartialEq, Eq)]
struct CheckerKey {
    rs: RsId,
    index: usize,
    checker: Checker,
    timing: EffectiveTiming,
    target: SocketAddr,
}

/// What a checker task tells the room.
#[derive(Debug)]
struct Transition {
    generation: u64,
    rs: RsId,
    index: usize,
    up: bool,
    weight: Option<u32>,
    reason: String,
}

enum Msg {
    Reload(Box<(Lvs, GlobalDefs)>),
    Stop { release: bool, done: oneshot::Sender<()> },
}

/// The handle the daemon keeps.
pub struct LvsRoom {
    tx: mpsc::UnboundedSender<Msg>,
    pub view: Arc<Mutex<View>>,
    journal: Arc<Mutex<RsJournal>>,
    task: JoinHandle<()>,
}

impl LvsRoom {
    pub fn start(lvs: Lvs, global: GlobalDefs) -> LvsRoom {
        let (tx, rx) = mpsc::unbounded_channel();
        let view = Arc::new(Mutex::new(View::default()));
        let journal = Arc::new(Mutex::new(RsJournal::default()));
        let (v, j) = (view.clone(), journal.clone());
        let task = tokio::spawn(async move { Room::new(v, j).run(lvs, global, rx).await });
        LvsRoom {
            tx,
            view,
            journal,
            task,
        }
    }

    pub fn reload(&self, lvs: Lvs, global: GlobalDefs) {
        let _ = self.tx.send(Msg::Reload(Box::new((lvs, global))));
    }

    /// Stops every checker; with `release`, removes what the daemon put in
    /// IPVS (or what lvs_flush_onstop says).
    pub async fn stop(self, release: bool) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Stop { release, done }).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(10), wait).await;
        }
        self.task.abort();
    }

    pub fn snapshot(&self) -> View {
        self.view.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// `explain VS` or `explain VS/RS`: the sentences and the record they
    /// come from, or None if no virtual server has that name.
    pub fn explain(&self, name: &str) -> Option<(Vec<String>, serde_json::Value)> {
        let view = self.view.lock().ok()?;
        let (vs, rs) = super::lvs_view::find(&view, name)?;
        let history = match rs {
            Some(r) => self
                .journal
                .lock()
                .map(|j| j.of(&RsJournal::key(&vs.name, &r.address)))
                .unwrap_or_default(),
            None => Vec::new(),
        };
        let lines = super::lvs_view::explain(vs, rs, &history);
        let record = match rs {
            Some(r) => serde_json::json!({ "virtual_server": vs.name, "real_server": r, "history": history }),
            None => serde_json::to_value(vs).unwrap_or_default(),
        };
        Some((lines, record))
    }
}

/// Jobs for the thread that owns the IPVS socket.
enum Job {
    Apply(Vec<Command>, oneshot::Sender<Vec<Result<(), String>>>),
    Adopt(oneshot::Sender<Result<Table, String>>),
    Flush(oneshot::Sender<Result<(), String>>),
    Timeouts(u32, u32, u32),
}

/// Opens IPVS on its own thread; the error says how to get IPVS.
fn ipvs_thread() -> Result<std::sync::mpsc::Sender<Job>, IpvsError> {
    let mut sock = IpvsSocket::open()?;
    let (tx, rx) = std::sync::mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("ipvs".into())
        .spawn(move || {
            while let Ok(job) = rx.recv() {
                match job {
                    Job::Apply(cmds, reply) => {
                        let r = cmds
                            .iter()
                            .map(|c| sock.execute(c).map_err(|e| e.to_string()))
                            .collect();
                        let _ = reply.send(r);
                    }
                    Job::Adopt(reply) => {
                        let _ = reply.send(sock.dump().map(|(t, _)| t).map_err(|e| e.to_string()));
                    }
                    Job::Flush(reply) => {
                        let _ = reply.send(sock.flush().map_err(|e| e.to_string()));
                    }
                    Job::Timeouts(a, b, c) => {
                        if let Err(e) = sock.set_timeouts(a, b, c) {
                            tracing::error!("lvs_timeouts: {e}");
                        }
                    }
                }
            }
        })
        .map_err(IpvsError::Io)?;
    Ok(tx)
}

struct Room {
    lvs: Lvs,
    global: GlobalDefs,
    state: State,
    /// What the daemon holds in the kernel.
    held: Table,
    ipvs: Option<std::sync::mpsc::Sender<Job>>,
    checkers: Vec<(CheckerKey, u64, JoinHandle<()>)>,
    generation: u64,
    transitions: (mpsc::UnboundedSender<Transition>, mpsc::UnboundedReceiver<Transition>),
    retry_due: bool,
    view: Arc<Mutex<View>>,
    journal: Arc<Mutex<RsJournal>>,
    ipvs_error: Option<String>,
}

impl Room {
    fn new(view: Arc<Mutex<View>>, journal: Arc<Mutex<RsJournal>>) -> Room {
        Room {
            lvs: Lvs::default(),
            global: GlobalDefs::default(),
            state: State::default(),
            held: Table::default(),
            ipvs: None,
            checkers: Vec::new(),
            generation: 0,
            transitions: mpsc::unbounded_channel(),
            retry_due: false,
            view,
            journal,
            ipvs_error: None,
        }
    }

    async fn run(mut self, lvs: Lvs, global: GlobalDefs, mut rx: mpsc::UnboundedReceiver<Msg>) {
        tracing::info!("Initializing ipvs");
        match ipvs_thread() {
            Ok(tx) => self.ipvs = Some(tx),
            Err(e) => {
                tracing::error!("{e}; virtual servers are checked but not programmed (VRRP goes on)");
                self.ipvs_error = Some(e.to_string());
            }
        }
        if let Some(ipvs) = &self.ipvs {
            if global.lvs.flush {
                let (tx, wait) = oneshot::channel();
                let _ = ipvs.send(Job::Flush(tx));
                if let Ok(Err(e)) = wait.await {
                    tracing::error!("lvs_flush: {e}");
                }
            }
            let t = global.lvs.timeouts;
            if t.tcp.is_some() || t.tcpfin.is_some() || t.udp.is_some() {
                let _ = ipvs.send(Job::Timeouts(
                    t.tcp.unwrap_or(0),
                    t.tcpfin.unwrap_or(0),
                    t.udp.unwrap_or(0),
                ));
            }
            // What an earlier run left (with -I) and this one wants is
            // taken over as it is: its connections survive the restart.
            let (tx, wait) = oneshot::channel();
            let _ = ipvs.send(Job::Adopt(tx));
            if let Ok(Ok(kernel)) = wait.await {
                let want = core::desired(&lvs, &State::default());
                for (k, s) in kernel.services {
                    if want.services.contains_key(&k) {
                        self.held.services.insert(k, s);
                    }
                }
            }
        }
        self.configure(lvs, global).await;
        let mut retry = tokio::time::interval(RETRY);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(Msg::Reload(b)) => {
                        let (lvs, global) = *b;
                        self.configure(lvs, global).await;
                    }
                    Some(Msg::Stop { release, done }) => {
                        self.stop(release).await;
                        let _ = done.send(());
                        return;
                    }
                    None => return,
                },
                Some(t) = self.transitions.1.recv() => {
                    self.transition(t);
                    // Transitions that arrived together are applied together.
                    while let Ok(t) = self.transitions.1.try_recv() {
                        self.transition(t);
                    }
                    self.settle().await;
                }
                _ = retry.tick(), if self.retry_due => self.sync().await,
            }
        }
    }

    /// Takes a configuration: unchanged checkers keep running, and with
    /// them the health of their real servers.
    async fn configure(&mut self, lvs: Lvs, global: GlobalDefs) {
        let wanted = checker_keys(&lvs);
        let mut keep = Vec::new();
        for (key, generation, handle) in std::mem::take(&mut self.checkers) {
            if wanted.contains(&key) {
                keep.push((key, generation, handle));
            } else {
                handle.abort();
            }
        }
        let mut state = State::default();
        for vs in &lvs.servers {
            let vid = core::vs_id(vs);
            if let Some(q) = self.state.quorum.get(&vid) {
                state.quorum.insert(vid.clone(), *q);
            }
            for rs in &vs.real_servers {
                let rid = RsId {
                    vs: vid.clone(),
                    addr: rs.addr,
                };
                let old = self.state.rs.get(&rid);
                let mut checkers_up = Vec::new();
                for (i, ch) in rs.checkers.iter().enumerate() {
                    let kept = keep.iter().find(|(k, _, _)| k.rs == rid && k.index == i);
                    let up = match (kept, old) {
                        (Some(_), Some(o)) => o.checkers_up.get(i).copied().unwrap_or(true),
                        _ => !ch.effective(vs.rs_timing(rs)).alpha || matches!(ch.kind, CheckerKind::Unsupported(_)),
                    };
                    checkers_up.push(up);
                }
                if !checkers_up.is_empty() {
                    state.rs.insert(
                        rid,
                        RsHealth {
                            checkers_up,
                            dynamic_weight: old.and_then(|o| o.dynamic_weight),
                            reason: old
                                .map(|o| o.reason.clone())
                                .unwrap_or_else(|| "not checked yet".into()),
                        },
                    );
                }
            }
        }
        for key in wanted {
            if keep.iter().any(|(k, _, _)| *k == key) {
                continue;
            }
            if matches!(key.checker.kind, CheckerKind::Unsupported(_)) {
                continue;
            }
            self.generation += 1;
            let handle = spawn_checker(&key, self.generation, &global, self.transitions.0.clone());
            keep.push((key, self.generation, handle));
        }
        self.checkers = keep;
        let names: std::collections::HashSet<String> = lvs
            .servers
            .iter()
            .flat_map(|vs| {
                let l = vs.label();
                vs.real_servers
                    .iter()
                    .map(move |rs| RsJournal::key(&l, &rs.addr.to_string()))
            })
            .collect();
        if let Ok(mut j) = self.journal.lock() {
            j.retain(|k| names.contains(k));
        }
        self.lvs = lvs;
        self.global = global;
        self.state = state;
        for (vs, up, w) in core::update_quorum(&self.lvs, &mut self.state) {
            self.quorum_changed(&vs, up, w);
        }
        self.sync().await;
    }

    fn transition(&mut self, t: Transition) {
        if !self
            .checkers
            .iter()
            .any(|(k, g, _)| *g == t.generation && k.rs == t.rs && k.index == t.index)
        {
            return; // from a checker a reload stopped
        }
        let Some(h) = self.state.rs.get_mut(&t.rs) else { return };
        let was = h.alive();
        if let Some(slot) = h.checkers_up.get_mut(t.index) {
            *slot = t.up;
        }
        if t.weight.is_some() || !t.up {
            h.dynamic_weight = t.weight.or(h.dynamic_weight);
        }
        h.reason = t.reason.clone();
        let now = h.alive();
        if was == now {
            return;
        }
        let Some((vs, rs)) = self.find(&t.rs) else { return };
        let inhibit = vs.rs_timing(rs).inhibit_on_failure.unwrap_or(false);
        let label = crate::config::lvs::rs_label(rs, vs.protocol);
        let vlabel = vs.label();
        let script = if now {
            tracing::info!("{}", t.reason);
            tracing::info!("Adding service {label} to VS {vlabel}");
            rs.notify_up.clone()
        } else {
            tracing::info!("{}", t.reason);
            if inhibit {
                tracing::info!("Disabling service {label} of VS {vlabel}");
            } else {
                tracing::info!("Removing service {label} from VS {vlabel}");
            }
            rs.notify_down.clone()
        };
        let event = RsEvent {
            at: super::journal::secs(std::time::SystemTime::now()),
            to: match (now, inhibit) {
                (true, _) => "up",
                (false, true) => "inhibited",
                (false, false) => "down",
            },
            reason: t.reason,
        };
        if let Ok(mut j) = self.journal.lock() {
            j.record(RsJournal::key(&vlabel, &rs.addr.to_string()), event);
        }
        if let Some(s) = script {
            self.run_script(s);
        }
    }

    async fn settle(&mut self) {
        for (vs, up, w) in core::update_quorum(&self.lvs, &mut self.state) {
            self.quorum_changed(&vs, up, w);
        }
        self.sync().await;
    }

    fn find(&self, id: &RsId) -> Option<(&VirtualServer, &RealServer)> {
        let vs = self.lvs.servers.iter().find(|v| core::vs_id(v) == id.vs)?;
        let rs = vs.real_servers.iter().find(|r| r.addr == id.addr)?;
        Some((vs, rs))
    }

    fn quorum_changed(&mut self, vid: &str, up: bool, weight: u64) {
        let Some(vs) = self.lvs.servers.iter().find(|v| core::vs_id(v) == vid) else {
            return;
        };
        let (q, h) = (vs.quorum, vs.hysteresis);
        let script = if up {
            tracing::info!("Gained quorum {q}+{h}={} <= {weight} for VS {}", q + h, vs.label());
            vs.quorum_up.clone()
        } else {
            tracing::info!(
                "Lost quorum {q}-{h}={} > {weight} for VS {}",
                q.saturating_sub(h),
                vs.label()
            );
            vs.quorum_down.clone()
        };
        if let Some(s) = script {
            self.run_script(s);
        }
    }

    fn run_script(&self, s: ScriptSpec) {
        let who = match security::run_as(s.user.as_ref(), &self.global) {
            Ok(w) => w,
            Err(e) => {
                tracing::error!("cannot run {}: {e}", s.command);
                return;
            }
        };
        tokio::spawn(async move {
            if let Err(e) = crate::track::script::run_status(&s.argv, &who, SCRIPT_TIMEOUT).await {
                tracing::warn!("{}: {e}", s.command);
            }
        });
    }

    /// Sends the kernel what differs from the wanted table.
    async fn sync(&mut self) {
        let want = core::desired(&self.lvs, &self.state);
        let cmds = table::diff(&self.held, &want);
        self.retry_due = false;
        if !cmds.is_empty() {
            let results = self.execute(cmds.clone()).await;
            for (c, r) in cmds.iter().zip(results) {
                match r {
                    Ok(()) => table::apply(&mut self.held, c),
                    Err(e) => {
                        tracing::error!("IPVS refused to {c}: {e}; retrying every {RETRY:?}");
                        self.retry_due = true;
                    }
                }
            }
        }
        self.publish();
    }

    async fn execute(&self, cmds: Vec<Command>) -> Vec<Result<(), String>> {
        let Some(ipvs) = &self.ipvs else {
            return Vec::new();
        };
        let (tx, rx) = oneshot::channel();
        if ipvs.send(Job::Apply(cmds, tx)).is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    async fn stop(&mut self, release: bool) {
        for (_, _, h) in self.checkers.drain(..) {
            h.abort();
        }
        if self.lvs.servers.iter().any(|v| v.omega) {
            // omega: a stop counts as the real servers going down.
            for vs in self.lvs.servers.iter().filter(|v| v.omega) {
                for rs in &vs.real_servers {
                    let rid = RsId {
                        vs: core::vs_id(vs),
                        addr: rs.addr,
                    };
                    if self.state.alive(&rid) {
                        if let Some(s) = rs.notify_down.clone() {
                            self.run_script(s);
                        }
                    }
                }
                if self.state.has_quorum(vs) {
                    if let Some(s) = vs.quorum_down.clone() {
                        self.run_script(s);
                    }
                }
            }
        }
        if !release {
            tracing::info!("Leaving the IPVS table in place (--dont-release-ipvs)");
            return;
        }
        match self.global.lvs.flush_onstop {
            LvsFlushOnStop::All => {
                if let Some(ipvs) = &self.ipvs {
                    let (tx, wait) = oneshot::channel();
                    let _ = ipvs.send(Job::Flush(tx));
                    let _ = wait.await;
                }
            }
            how => {
                let mut target = Table::default();
                if how == LvsFlushOnStop::VirtualServers {
                    // Every service the configuration names, held or not.
                    for (k, s) in core::desired(&self.lvs, &State::default()).services {
                        self.held.services.entry(k).or_insert(s);
                    }
                }
                for k in self.held.services.keys() {
                    tracing::info!("Shutting down service {k}");
                }
                let cmds = table::diff(&self.held, &target);
                self.execute(cmds).await;
                self.held = std::mem::take(&mut target);
            }
        }
    }

    fn publish(&self) {
        let journal = self.journal.lock().ok();
        let mut v = View {
            ipvs_error: self.ipvs_error.clone(),
            virtual_servers: Vec::new(),
        };
        for vs in &self.lvs.servers {
            let vid = core::vs_id(vs);
            let label = vs.label();
            let keys = core::services_of(&self.lvs, vs);
            let in_table = |addr: SocketAddr| {
                keys.iter().any(|k| {
                    self.held
                        .services
                        .get(k)
                        .is_some_and(|s| s.dests.keys().any(|a| a.ip() == addr.ip()))
                })
            };
            let mut rsv = Vec::new();
            for rs in &vs.real_servers {
                let rid = RsId {
                    vs: vid.clone(),
                    addr: rs.addr,
                };
                let h = self.state.rs.get(&rid);
                let alive = self.state.alive(&rid);
                let inhibit = vs.rs_timing(rs).inhibit_on_failure.unwrap_or(false);
                let sorry_active = !self.state.has_quorum(vs) && vs.sorry_server.is_some();
                let reason = match (alive, sorry_active) {
                    (_, true) => "quorum lost: the sorry server serves instead".to_string(),
                    (true, _) if rs.checkers.is_empty() => "no checker: always in".into(),
                    _ => h.map(|h| h.reason.clone()).unwrap_or_default(),
                };
                rsv.push(RsView {
                    address: rs.addr.to_string(),
                    weight: self.state.weight(&rid, rs),
                    state: match (alive, inhibit) {
                        (true, _) => "up",
                        (false, true) => "inhibited",
                        (false, false) => "down",
                    },
                    in_table: in_table(rs.addr),
                    sorry_server: false,
                    reason,
                    checkers: rs
                        .checkers
                        .iter()
                        .enumerate()
                        .map(|(i, c)| {
                            let t = c.effective(vs.rs_timing(rs));
                            CheckerView {
                                kind: c.kind.name(),
                                up: h.and_then(|h| h.checkers_up.get(i).copied()).unwrap_or(true),
                                delay_loop: t.delay_loop.as_secs_f64(),
                                retry: t.retry,
                                delay_before_retry: t.delay_before_retry.as_secs_f64(),
                                connect_timeout: t.connect_timeout.as_secs_f64(),
                            }
                        })
                        .collect(),
                    last_change: journal
                        .as_ref()
                        .and_then(|j| j.last(&RsJournal::key(&label, &rs.addr.to_string())).cloned()),
                });
            }
            if let Some(s) = &vs.sorry_server {
                let held = in_table(s.addr);
                rsv.push(RsView {
                    address: s.addr.to_string(),
                    weight: s.weight,
                    state: if held { "up" } else { "down" },
                    in_table: held,
                    sorry_server: true,
                    reason: if self.state.has_quorum(vs) {
                        "sorry server: quorum held".into()
                    } else {
                        "sorry server: quorum lost".into()
                    },
                    checkers: Vec::new(),
                    last_change: None,
                });
            }
            v.virtual_servers.push(VsView {
                name: label,
                services: keys.iter().take(16).map(|k| k.to_string()).collect(),
                scheduler: vs.sched.clone(),
                method: vs.forward.name().into(),
                quorum: vs.quorum,
                hysteresis: vs.hysteresis,
                quorum_held: self.state.has_quorum(vs),
                live_weight: self.state.live_weight(vs),
                real_servers: rsv,
            });
        }
        if let Ok(mut g) = self.view.lock() {
            *g = v;
        }
    }
}

fn checker_keys(lvs: &Lvs) -> Vec<CheckerKey> {
    let mut out = Vec::new();
    for vs in &lvs.servers {
        let vid = core::vs_id(vs);
        for rs in &vs.real_servers {
            for (index, ch) in rs.checkers.iter().enumerate() {
                let target = SocketAddr::new(
                    ch.connect_ip.unwrap_or(rs.addr.ip()),
                    ch.connect_port.unwrap_or(rs.addr.port()),
                );
                out.push(CheckerKey {
                    rs: RsId {
                        vs: vid.clone(),
                        addr: rs.addr,
                    },
                    index,
                    checker: ch.clone(),
                    timing: ch.effective(vs.rs_timing(rs)),
                    target,
                });
            }
        }
    }
    out
}

/// A random start within `warmup`, as keepalived scatters its checks.
fn warmup_delay(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    let frac = (h.finish() % 1_000_000) as f64 / 1_000_000.0;
    max.mul_f64(frac)
}

fn spawn_checker(
    key: &CheckerKey,
    generation: u64,
    global: &GlobalDefs,
    tx: mpsc::UnboundedSender<Transition>,
) -> JoinHandle<()> {
    let key = key.clone();
    let who: Option<RunAs> = match &key.checker.kind {
        CheckerKind::Misc { script, .. } => security::run_as(script.user.as_ref(), global).ok(),
        _ => None,
    };
    tokio::spawn(async move {
        let t = key.timing;
        let mut health = CheckerHealth::new(&t);
        let mut weight = None;
        let target = probe::Target {
            addr: key.target,
            bind: key
                .checker
                .bindto
                .map(|ip| SocketAddr::new(ip, key.checker.bind_port.unwrap_or(0))),
            timeout: t.connect_timeout,
        };
        let name = key.checker.kind.name();
        // HTTP_GET/SSL_GET build their requests, regexes and TLS once.
        let mut http = match &key.checker.kind {
            CheckerKind::Http {
                tls,
                urls,
                version,
                virtualhost,
                sni,
                ..
            } => {
                let p = probe::HttpProbe {
                    tls: *tls,
                    sni: *sni,
                    version: *version,
                    host: virtualhost.clone(),
                };
                // A url that cannot be made ready (a bad regex) fails every check.
                probe::HttpCheck::new(target.clone(), &p, urls).map_err(|e| format!("{name}: {e}"))
            }
            _ => Err(String::new()),
        };
        // One timer for the pauses, moved rather than made anew each time.
        let pause = tokio::time::sleep(warmup_delay(t.warmup));
        tokio::pin!(pause);
        pause.as_mut().await;
        loop {
            // A success's words are made only when they are sent.
            let (ok, new_weight, failure) = match &key.checker.kind {
                CheckerKind::Tcp => match probe::tcp(&target).await {
                    Ok(()) => (true, None, None),
                    Err(e) => (
                        false,
                        None,
                        Some(format!("TCP_CHECK on service {} failed: {e}", target.addr)),
                    ),
                },
                CheckerKind::Http { .. } => match &mut http {
                    Ok(h) => match h.run().await {
                        Ok(()) => (true, None, None),
                        Err(e) => (false, None, Some(format!("{name}: {e}"))),
                    },
                    Err(e) => (false, None, Some(e.clone())),
                },
                CheckerKind::Misc {
                    script,
                    timeout,
                    dynamic,
                } => {
                    let limit = timeout.unwrap_or(t.delay_loop);
                    let status = match &who {
                        Some(w) => crate::track::script::run_status(&script.argv, w, limit).await,
                        None => Err("no user to run it as".into()),
                    };
                    let (ok, w) = misc_result(status.as_ref().ok().copied(), *dynamic);
                    let why = match &status {
                        Ok(c) => format!("exited with status {c}"),
                        Err(e) => e.clone(),
                    };
                    (ok, w, Some(format!("MISC_CHECK {}: {why}", script.command)))
                }
                CheckerKind::Unsupported(_) => return,
            };
            let step = health.record(ok, &t);
            let weight_moved = ok && new_weight.is_some() && new_weight != weight;
            if ok {
                weight = new_weight.or(weight);
            }
            if let (false, Some(reason)) = (ok, &failure) {
                tracing::debug!("{reason}");
            }
            if step.changed.is_some() || weight_moved {
                let reason = failure.unwrap_or_else(|| match &key.checker.kind {
                    CheckerKind::Tcp => format!("TCP connection to {} success", target.addr),
                    _ => format!("{name} to {} success", target.addr),
                });
                let sent = tx.send(Transition {
                    generation,
                    rs: key.rs.clone(),
                    index: key.index,
                    up: health.up,
                    weight: if ok { weight } else { None },
                    reason,
                });
                if sent.is_err() {
                    return;
                }
            }
            pause.as_mut().reset(tokio::time::Instant::now() + step.next);
            pause.as_mut().await;
        }
    })
}
