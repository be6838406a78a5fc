//! The protocol loop: one task owns every instance (so sync groups need no
//! locks) and is fed by the socket readers, netlink, the checks, signals
//! and its own timer. It feeds events to the engine and carries out the
//! engine's output through the pure rooms: [`fence`](super::fence) holds
//! back what must wait for the database, [`apply`](super::apply) turns
//! the rest into steps; adverts leave from here, every other effect goes
//! in order to the effects worker.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use smallvec::SmallVec;
use tokio::sync::mpsc;

use crate::config::model::Config;
use crate::config::LoadOptions;
use crate::net::netlink::NetEvent;
use crate::track::check::{Guard, Report};
use crate::track::{Kind, ObjId, Tracker};
use crate::vrrp::{Event, InstanceId, Note, Reason, Router, RouterOutput, State};

use super::apply::{self, Gaps, Level, Step};
use super::checks::Checks;
use super::effects::{Effect, EffectSender};
use super::fence::Deferral;
use super::host::{Change, Host, OwnRemovals};
use super::journal::{self, FaultCause};
use super::slot::Slot;
use super::sockets::{Input, Sockets, RX_QUEUE};
use crate::net::socket::Received;

/// How late a timer wake-up must be to count as a stall.
const STALL: Duration = Duration::from_secs(1);
/// How often the heap's free pages go back to the kernel.
const FREE_MEMORY_EVERY: Duration = Duration::from_secs(60);

pub struct Daemon {
    /// The configuration but its instances (those live in their slots).
    pub(super) config: Config,
    pub(super) load_opts: LoadOptions,
    pub(super) config_path: PathBuf,
    pub(super) release_on_stop: bool,
    pub(super) release_ipvs: bool,
    pub(super) host: Host,
    /// The load balancer, when the configuration has virtual servers.
    pub(super) lvs: Option<super::lvs::LvsRoom>,
    pub(super) router: Router<Slot>,
    pub(super) tracker: Tracker,
    /// Which instances use each tracked object (derived from the slots).
    pub(super) users: HashMap<ObjId, Vec<InstanceId>>,
    pub(super) checks: Checks,
    pub(super) sockets: Sockets,
    pub(super) effects: EffectSender,
    pub(super) deferral: Deferral,
    pub(super) group_states: HashMap<String, State>,
    pub(super) startup_at: Instant,
    pub(super) started_wall: SystemTime,
    /// What the configuration will not do as meant (`explain` names them).
    pub(super) footguns: Vec<super::footguns::Footgun>,
    /// What survives restarts: the instances in maintenance.
    pub(super) persistent: super::state::Persistent,
    pub(super) state_dir: PathBuf,
    /// Where announcement watches report another host's ARP for a VIP.
    pub(super) announcements: mpsc::UnboundedSender<(InstanceId, IpAddr)>,
    /// Planned switchovers, by instance name: the one running, or how the
    /// last ended.
    pub(super) switchovers: HashMap<String, super::switchover::Switchover>,
    /// Addresses being removed by the daemon itself (not someone else).
    pub(super) own_removals: RefCell<OwnRemovals>,
}

/// What feeds the loop besides its timer.
pub struct Inputs {
    pub packets: mpsc::Receiver<Input>,
    pub net: mpsc::UnboundedReceiver<NetEvent>,
    pub checks: mpsc::UnboundedReceiver<Report>,
    pub signals: mpsc::UnboundedReceiver<i32>,
    /// The control socket's requests (none if it could not be opened).
    pub control: Option<mpsc::Receiver<super::control::Request>>,
    /// Metrics scrapes (none unless `metrics_listen`).
    pub metrics: Option<mpsc::Receiver<super::metrics::Ask>>,
    /// Another host announced a VIP of an instance keeping them on FAULT.
    pub announced: mpsc::UnboundedReceiver<(InstanceId, IpAddr)>,
}

impl Daemon {
    /// Runs until a stop signal; returns the exit status.
    pub async fn run(mut self, mut inputs: Inputs) -> i32 {
        self.run_global_script("startup_script").await;
        tracing::info!("Startup complete");
        super::process::release_free_memory();
        super::process::notify_systemd_ready();
        // systemd's WatchdogSec=: pinged from this loop, at half the timeout.
        let mut watchdog = sd_notify::watchdog_enabled().map(|t| {
            let mut i = tokio::time::interval(t / 2);
            // After a stall, one ping, not a burst of the missed ones.
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        });
        self.report_status();
        let mut trim = tokio::time::interval(FREE_MEMORY_EVERY);
        trim.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        trim.reset();
        super::process::tighten_timer_slack();
        let timer = match crate::reactor::PreciseTimer::new() {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!("no timerfd ({e}); protocol timers have millisecond resolution");
                None
            }
        };
        loop {
            let wake = [
                self.router.poll_timeout(),
                (Instant::now() < self.startup_at).then_some(self.startup_at),
                self.deferral.deadline(),
            ]
            .into_iter()
            .flatten()
            .min();
            let sleep = async {
                match (wake, &timer) {
                    (Some(t), Some(timer)) => {
                        if timer.sleep_until(t).await.is_err() {
                            tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await
                        }
                    }
                    (Some(t), None) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await,
                    (None, _) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                biased;
                Some(s) = inputs.signals.recv() => {
                    if !self.signal(s).await {
                        break;
                    }
                }
                _ = async {
                    match watchdog.as_mut() {
                        Some(i) => {
                            i.tick().await;
                        }
                        None => std::future::pending().await,
                    }
                } => super::process::notify_systemd_watchdog(),
                Some(first) = inputs.packets.recv() => {
                    // Adverts of many instances arrive in bursts: take all
                    // that are queued before re-arming the timer.
                    self.packets(first);
                    for _ in 0..RX_QUEUE {
                        match inputs.packets.try_recv() {
                            Ok(p) => self.packets(p),
                            Err(_) => break,
                        }
                    }
                }
                Some(r) = inputs.checks.recv() => self.check_report(r),
                Some(req) = async {
                    match inputs.control.as_mut() {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                } => self.control(req),
                Some(ask) = async {
                    match inputs.metrics.as_mut() {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                } => {
                    let _ = ask.send(self.metrics_snapshot());
                }
                Some(ev) = inputs.net.recv() => self.net_event(ev).await,
                Some((id, addr)) = inputs.announced.recv() => self.feed(id, Event::Announced(addr)),
                _ = trim.tick() => super::process::release_free_memory(),
                _ = sleep => {
                    if let Some(due) = wake {
                        self.woke_late(due);
                    }
                    self.timers();
                }
            }
            self.checks.update_roles(&self.users, &self.router);
        }
        self.shutdown().await;
        0
    }

    /// Waits in the background for another host's ARP announcement of a
    /// VIP; the instance lets its lingering VIPs go when it comes.
    fn watch_announcements(&self, id: InstanceId, w: super::apply::AnnouncementWatch) {
        let tx = self.announcements.clone();
        tokio::spawn(async move {
            match crate::net::arpwatch::wait_for_announcement(w.ifindex, w.mac, &w.addrs, w.until).await {
                Ok(Some(addr)) => {
                    let _ = tx.send((id, IpAddr::V4(addr)));
                }
                Ok(None) => {}
                Err(e) => tracing::error!("cannot watch for the new master's ARP announcement: {e}"),
            }
        });
    }

    /// A wake-up this late means the daemon was not scheduled (SIGSTOP,
    /// or starved of CPU): say so, and let the instances know before their
    /// timers run, so a BACKUP does not take over on adverts it has not
    /// read yet.
    fn woke_late(&mut self, due: Instant) {
        let late = Instant::now().saturating_duration_since(due);
        if late < STALL {
            return;
        }
        tracing::warn!(
            "the protocol loop woke {:.1} s late: the daemon was stopped or starved of CPU",
            late.as_secs_f64()
        );
        let ids: Vec<InstanceId> = self.router.iter().map(|(id, _, _)| id).collect();
        for id in ids {
            self.feed(id, Event::Resumed);
        }
    }

    fn timers(&mut self) {
        let now = Instant::now();
        if self.deferral.deadline().is_some_and(|t| t <= now) {
            self.release_deferred(false);
        }
        let mut out = RouterOutput::default();
        self.router.handle_timers(now, &mut out);
        self.apply(out);
        if self.router.iter().any(|(_, _, s)| !s.started) {
            self.reevaluate_all();
        }
    }

    /// The adverts of one read, with one clock reading: they arrived
    /// within the same system call.
    fn packets(&mut self, input: Input) {
        let now = Instant::now();
        for rx in &input.rx {
            self.packet(now, input.ifindex, rx);
        }
    }

    fn packet(&mut self, now: Instant, ifindex: u32, rx: &Received) {
        let targets: SmallVec<[InstanceId; 4]> = self.sockets.targets(ifindex, rx).iter().copied().collect();
        for id in targets {
            // Our own adverts (unicast to ourselves, or looped) are not news.
            if self.router.data(id).is_some_and(|s| s.src == Some(rx.meta.src)) {
                continue;
            }
            let mut out = RouterOutput::default();
            let ev = Event::Advert {
                meta: rx.meta,
                payload: &rx.payload[..],
            };
            self.router.handle(now, id, ev, &mut out);
            if !out.is_empty() {
                self.apply(out);
            }
        }
    }

    /// Feeds one event to one instance and carries out what it did.
    pub(super) fn feed(&mut self, id: InstanceId, ev: Event<'_>) {
        let mut out = RouterOutput::default();
        self.router.handle(Instant::now(), id, ev, &mut out);
        self.apply(out);
    }

    fn check_report(&mut self, r: Report) {
        let changed = self.checks.apply(&mut self.tracker, r, &self.sockets.counters);
        // The guard first: whether a failing master may keep its VIPs is
        // decided by the same report that fails it.
        let guards = self.checks.take_guards();
        if !guards.is_empty() {
            self.apply_guards(&guards);
        }
        for (obj, request, result) in self.checks.take_switchovers() {
            self.switchover_ended(obj, request, result);
        }
        if let Some(obj) = changed {
            let users = self.users.get(&obj).cloned().unwrap_or_default();
            self.reevaluate(&users);
        }
        self.release_deferred(false);
    }

    /// The database guard's decisions for the instances that track each
    /// check: hold or release their preemption, and how a MASTER meets
    /// another master.
    pub(super) fn apply_guards(&mut self, guards: &[(ObjId, Guard)]) {
        for &(obj, g) in guards {
            for id in self.users.get(&obj).cloned().unwrap_or_default() {
                if self.router.instance(id).is_some_and(|i| i.stance() != g.stance) {
                    self.feed(id, Event::Stance(g.stance));
                }
                if self.router.instance(id).is_some_and(|i| i.preempt_held() != g.hold) {
                    self.feed(id, Event::PreemptHold(g.hold));
                }
                if self.router.instance(id).is_some_and(|i| i.may_linger() != g.linger) {
                    self.feed(id, Event::MayLinger(g.linger));
                }
            }
        }
    }

    pub(super) fn reevaluate_all(&mut self) {
        let ids: Vec<InstanceId> = self.router.ids().collect();
        self.reevaluate(&ids);
    }

    /// Applies tracking to instances: priority and fault changes go to the
    /// engine; an instance leaves INIT once its unweighted checks reported.
    pub(super) fn reevaluate(&mut self, ids: &[InstanceId]) {
        let now = Instant::now();
        for &id in ids {
            let Some(slot) = self.router.data(id) else { continue };
            let e = self.tracker.evaluate(slot.cfg.priority, &slot.refs);
            let prev = slot.last_eval;
            if let (Some(p), true) = (prev, prev.map(|p| p.priority) != Some(e.priority)) {
                tracing::info!(
                    "({}) Changing effective priority from {} to {}",
                    slot.name(),
                    p.priority,
                    e.priority
                );
            }
            let start = !slot.started && e.ready && now >= self.startup_at;
            if let Some(s) = self.router.data_mut(id) {
                s.last_eval = Some(e);
                s.started |= start;
            }
            if prev.map(|p| p.priority) != Some(e.priority) {
                self.feed(id, Event::Priority(e.priority));
            }
            if prev.map(|p| p.fault) != Some(e.fault) {
                self.feed(id, Event::Fault(e.fault));
            }
            if start {
                self.feed(id, Event::Start);
            }
        }
    }

    /// Carries out engine output: fencing first, then the steps.
    pub(super) fn apply(&mut self, mut out: RouterOutput) {
        let (router, checks) = (&self.router, &self.checks);
        if checks.fences() || !self.deferral.is_empty() {
            let unfenced = |id: InstanceId| router.data(id).and_then(|s| checks.unfenced(&s.refs));
            for id in self.deferral.hold(&mut out, Instant::now(), unfenced) {
                let name = router.data(id).map(Slot::name).unwrap_or("?");
                tracing::info!("({name}) VIPs wait for check_mysql to make the server writable");
            }
        }
        let unlogged = self.thin_drop_notes(&mut out);
        let gaps = Gaps {
            v4: self.config.global.garp.interval,
            v6: self.config.global.garp.na_interval,
        };
        let mut steps = apply::translate(&out, &self.router, gaps);
        steps.extend(unlogged);
        self.execute(steps);
    }

    /// Keeps the dropped-advert notes each instance's drop log (`Slot::drop_log`) admits;
    /// returns the lines that say how many went unlogged before them.
    fn thin_drop_notes(&mut self, out: &mut RouterOutput) -> Vec<(InstanceId, Step)> {
        let mut lines = Vec::new();
        if !out.notes.iter().any(|(_, n)| matches!(n, Note::Dropped { .. })) {
            return lines;
        }
        let now = Instant::now();
        let router = &mut self.router;
        out.notes.retain(|(id, n)| {
            let Note::Dropped { .. } = n else { return true };
            let Some((_, slot)) = router.get_mut(*id) else {
                return false;
            };
            match slot.drop_log.admit(now) {
                None => false,
                Some(0) => true,
                Some(unlogged) => {
                    lines.push((*id, apply::unlogged_drops_step(slot.name(), unlogged)));
                    true
                }
            }
        });
        lines
    }

    /// Gives back held VIPs whose server is writable (all of them once the
    /// wait is over, or with `all`).
    pub(super) fn release_deferred(&mut self, all: bool) {
        let (router, checks) = (&self.router, &self.checks);
        let unfenced = |id: InstanceId| router.data(id).and_then(|s| checks.unfenced(&s.refs));
        let released = self.deferral.release(Instant::now(), all, unfenced);
        if released.expired && !all {
            tracing::warn!("check_mysql did not confirm the server writable in time; adding the VIPs anyway");
        }
        if !released.actions.is_empty() {
            let out = RouterOutput {
                actions: released.actions,
                notes: Vec::new(),
            };
            let gaps = Gaps {
                v4: self.config.global.garp.interval,
                v6: self.config.global.garp.na_interval,
            };
            let steps = apply::translate(&out, &self.router, gaps);
            self.execute(steps);
        }
    }

    pub(super) fn execute(&mut self, steps: Vec<(InstanceId, Step)>) {
        let mut transitioned = false;
        for (id, step) in steps {
            let owner = || self.router.data(id).map(|s| s.cfg.name.clone()).unwrap_or_default();
            match step {
                Step::Log(level, text) => emit(level, &text),
                Step::Send { priority } => {
                    if let Some((inst, slot)) = self.router.get_mut(id) {
                        self.sockets.send_advert(id, inst, slot, priority);
                    }
                }
                Step::Install(a) => self.effect(Effect::Install(a)),
                Step::Remove(addrs) => {
                    let owner = owner();
                    self.effect(Effect::Remove { owner, addrs });
                }
                Step::Gratuitous(burst) => {
                    let owner = owner();
                    self.effect(Effect::Gratuitous { owner, burst });
                }
                Step::Notify(n) => self.effect(Effect::Notify(n)),
                Step::SetVips(on) => {
                    if let Some(s) = self.router.data_mut(id) {
                        s.vips_set = on;
                    }
                }
                Step::Transitioned {
                    from,
                    to,
                    priority,
                    reason,
                } => {
                    self.record_transition(id, from, to, priority, reason);
                    transitioned = true;
                }
                Step::WatchAnnouncements(w) => self.watch_announcements(id, w),
                Step::WarnedNoSource => {
                    if let Some(s) = self.router.data_mut(id) {
                        s.warned_no_src = true;
                    }
                }
            }
        }
        // The adverts leave before the effects worker runs (it waits for
        // this loop to yield), as when each was sent at once.
        for f in self.sockets.flush() {
            if let Some(s) = self.router.data_mut(f.id) {
                s.send_failed(&f);
            }
        }
        if transitioned {
            self.report_status();
            for step in apply::group_steps(&self.router, &self.config.sync_groups, &mut self.group_states) {
                match step {
                    Step::Log(level, text) => emit(level, &text),
                    Step::Notify(n) => self.effect(Effect::Notify(n)),
                    _ => {}
                }
            }
        }
    }

    /// Notes a transition in the instance's journal, with what a fault
    /// was about (a link or another tracker), which only the tracker knows.
    fn record_transition(&mut self, id: InstanceId, from: State, to: State, priority: u8, reason: Reason) {
        let link_down = self.router.data(id).is_some_and(|s| {
            s.refs
                .iter()
                .any(|r| self.tracker.kind(r.obj) == Some(Kind::Interface) && self.tracker.status(r.obj) == Some(false))
        });
        let Some(s) = self.router.data_mut(id) else { return };
        if reason == Reason::Fault {
            s.fault_cause = if link_down {
                FaultCause::Link
            } else {
                FaultCause::Tracker
            };
        }
        let at = SystemTime::now();
        s.last_transition = at;
        s.journal.record(journal::Entry {
            at,
            from,
            to,
            why: journal::why(reason, s.fault_cause),
            priority,
            peer: journal::peer(reason),
        });
    }

    /// `STATUS=` for systemd: each instance and its state.
    pub(super) fn report_status(&self) {
        let states = self
            .router
            .iter()
            .map(|(_, i, s)| (s.name(), i.state().name(), i.in_maintenance()));
        super::process::notify_systemd_status(&super::status::status_line(states));
    }

    pub(super) fn effect(&self, e: Effect) {
        if let Effect::Remove { addrs, .. } = &e {
            let removed = addrs.addrs.iter().map(|(index, spec)| (*index, spec.addr));
            self.own_removals
                .borrow_mut()
                .note(Instant::now(), removed, self.host.addrs());
        }
        if self.effects.send(e).is_err() {
            tracing::error!("the effects worker has stopped; an effect was lost");
        }
    }

    async fn net_event(&mut self, ev: NetEvent) {
        for change in self.host.event(ev).await {
            match change {
                Change::LinkState { name, up } => {
                    if let Some(obj) = self.tracker.lookup(Kind::Interface, &name) {
                        if self.tracker.set_bool(obj, up) {
                            let users = self.users.get(&obj).cloned().unwrap_or_default();
                            self.reevaluate(&users);
                        }
                    }
                }
                Change::NewLink { .. } => {
                    let host = &self.host;
                    let mut adopted = false;
                    for (_, s) in self.router.data_iter_mut() {
                        adopted |= host.adopt(s);
                    }
                    if adopted {
                        self.sockets.rebuild(&self.router);
                        self.refresh_sources();
                    }
                }
                Change::Addresses => self.refresh_sources(),
                Change::AddressRemoved { index, addr } => self.address_removed(index, addr),
            }
        }
    }

    /// An address left a link. If someone else deleted a VIP a MASTER
    /// holds and tracks, the MASTER steps down and the election runs again
    /// (keepalived 2.2.7 does so, observed); with `no_track` it stays
    /// MASTER without it until its next transition to MASTER.
    fn address_removed(&mut self, index: u32, addr: IpAddr) {
        if self.own_removals.borrow_mut().take(Instant::now(), index, addr) {
            return;
        }
        let holders: Vec<InstanceId> = self
            .router
            .iter()
            .filter(|(_, inst, s)| inst.state() == State::Master && s.vips_set && s.tracks_deletion_of(index, addr))
            .map(|(id, _, _)| id)
            .collect();
        if holders.is_empty() {
            return;
        }
        let ifname = self.host.name_of(index).unwrap_or("?");
        tracing::info!("Netlink reflector reports IP {addr} removed from {ifname}");
        for id in holders {
            self.feed(id, Event::VipDeleted(addr));
        }
    }

    /// Re-picks every instance's advert source; the engine hears changes.
    pub(super) fn refresh_sources(&mut self) {
        let all_vips = self.router.iter().flat_map(|(_, _, s)| s.announced()).collect();
        let mut changed = Vec::new();
        let addrs = self.host.addrs();
        for (id, s) in self.router.data_iter_mut() {
            if let Some(src) = self.sockets.refresh_source(s, addrs, &all_vips) {
                changed.push((id, src));
            }
        }
        for (id, src) in changed {
            self.feed(id, Event::LocalAddress(src));
        }
    }

    /// Handles a signal; false means stop.
    async fn signal(&mut self, sig: i32) -> bool {
        match sig {
            s if s == libc::SIGTERM || s == libc::SIGINT => {
                tracing::info!("Stopping");
                return false;
            }
            s if s == libc::SIGHUP => self.reload().await,
            s if s == libc::SIGUSR1 => self.write_dump("data"),
            s if s == libc::SIGUSR2 => self.write_dump("stats"),
            s if s == libc::SIGRTMIN() + 2 => self.write_dump("json"),
            s if s == libc::SIGRTMAX() - 1 => {
                self.write_dump("stats");
                let ids: Vec<InstanceId> = self.router.ids().collect();
                for id in ids {
                    self.router.update_instance(id, |i| *i.stats_mut() = Default::default());
                }
            }
            _ => {}
        }
        true
    }

    /// `startup_script` / `shutdown_script`: run once and waited for, up to
    /// their timeout (keepalived's behaviour).
    pub(super) async fn run_global_script(&self, which: &str) {
        let g = &self.config.global;
        let (spec, timeout) = match which {
            "startup_script" => (&g.startup_script, g.startup_script_timeout),
            _ => (&g.shutdown_script, g.shutdown_script_timeout),
        };
        let Some(spec) = spec else { return };
        let who = match crate::track::security::run_as(spec.user.as_ref(), g) {
            Ok(w) => w,
            Err(e) => {
                tracing::error!("{which} not run: {e}");
                return;
            }
        };
        match crate::track::script::run_once(&spec.argv, &who, timeout).await {
            crate::track::check::Outcome::Success => tracing::info!("{which} {} finished", spec.command),
            other => tracing::warn!("{which} {}: {other:?}", spec.command),
        }
    }
}

fn emit(level: Level, text: &str) {
    match level {
        Level::Debug => tracing::debug!("{text}"),
        Level::Info => tracing::info!("{text}"),
        Level::Warn => tracing::warn!("{text}"),
        Level::Error => tracing::error!("{text}"),
    }
}

/// How long `shutdown` waits for the effects queue to drain.
pub(super) const DRAIN: Duration = Duration::from_secs(5);
