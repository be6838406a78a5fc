//! Start, reload and stop. Start-up is a reload from nothing: both carry
//! out the pure plan of [`reload`](super::reload) — retire, keep, create —
//! and then re-derive what depends on the instances (tracking references,
//! the checks in use, the dispatch table, sockets, advert sources).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::config::model::VrrpInstance;
use crate::config::{self, Loaded};
use crate::track::check::Guard;
use crate::track::{Kind, Reference, Tracker};
use crate::vrrp::{Action, Event, Instance, InstanceId, Router, State};

use super::apply::{self, Gaps, Step};
use super::boot::{log_diagnostics, open_control, startup_wait, StartOptions};
use super::checks::Checks;
use super::effects::{self, Effect};
use super::fence::Deferral;
use super::host::Host;
use super::journal::{self, Journal};
use super::notify::{Notice, Notifier, Subject};
use super::params;
use super::precheck::{self, Verdicts};
use super::reload::{self, InstanceStep};
use super::run::{Daemon, Inputs, DRAIN};
use super::slot::Slot;
use super::sockets::Sockets;
use super::state;
use super::tracking::{self, CheckDef, CheckKind, Want};

/// Makes a reload's notifier, in the effects worker, in order.
type MakeNotifier = Box<dyn FnOnce() -> Notifier + Send>;

impl Daemon {
    /// Builds the daemon from a loaded configuration and starts its I/O.
    pub async fn start(
        mut loaded: Loaded,
        verdicts: Verdicts,
        opts: StartOptions,
        signals: tokio::sync::mpsc::UnboundedReceiver<i32>,
    ) -> std::io::Result<(Daemon, Inputs)> {
        let StartOptions {
            load_opts,
            config_path,
            release_on_stop,
            release_ipvs,
            control_socket,
            state_dir,
        } = opts;
        let (host, net) = Host::connect().await?;
        let notifier = Arc::new(Notifier::new(&loaded.config, &verdicts.scripts));
        let effects = effects::start(host.nl.clone(), notifier);
        let (sockets, packets) = Sockets::new();
        let (checks, check_rx) = Checks::new();
        // The instances' settings move into their slots: one copy kept.
        let instances = std::mem::take(&mut loaded.config.instances);
        let g = &loaded.config.global;
        let startup_at = Instant::now() + startup_wait(g.startup_delay, g.delay_after_boot, super::process::uptime());
        let control = open_control(
            control_socket.as_deref().unwrap_or(&g.control_socket),
            g.control_socket_group.as_deref(),
        );
        // Both are read at start only: a reload does not move them.
        let state_dir = state_dir.unwrap_or_else(|| g.state_dir.clone());
        let (persistent, warning) = state::load(&state_dir);
        let metrics = match g.metrics_listen {
            None => None,
            Some(addr) => match super::metrics::listen(addr).await {
                Ok(rx) => {
                    tracing::info!("metrics on http://{addr}/metrics");
                    Some(rx)
                }
                Err(e) => {
                    tracing::error!("cannot serve metrics on {addr}: {e}");
                    None
                }
            },
        };
        if let Some(w) = warning {
            tracing::warn!("state file {w}");
        }
        let (announcements, announced) = tokio::sync::mpsc::unbounded_channel();
        let mut d = Daemon {
            config: loaded.config,
            load_opts,
            config_path,
            release_on_stop,
            release_ipvs,
            lvs: None,
            host,
            router: Router::new(),
            tracker: Tracker::new(),
            users: HashMap::new(),
            checks,
            sockets,
            effects,
            deferral: Deferral::default(),
            group_states: HashMap::new(),
            startup_at,
            started_wall: SystemTime::now(),
            footguns: verdicts.footguns.clone(),
            persistent,
            state_dir,
            announcements,
            switchovers: HashMap::new(),
            own_removals: Default::default(),
        };
        d.realize(instances, &verdicts, None).await;
        d.apply_maintenance();
        d.sync_lvs(&verdicts.scripts);
        let inputs = Inputs {
            packets,
            net,
            checks: check_rx,
            signals,
            control,
            metrics,
            announced,
        };
        Ok((d, inputs))
    }

    /// Makes the running instances those of `new`, by the reload plan.
    /// A reload's `notifier` takes over once the retired instances have
    /// notified through the old one (their scripts are not in the new).
    async fn realize(&mut self, new: Vec<VrrpInstance>, verdicts: &Verdicts, notifier: Option<MakeNotifier>) {
        let old_router = std::mem::take(&mut self.router);
        let steps = {
            let old: Vec<(InstanceId, &VrrpInstance)> = old_router.iter().map(|(id, _, s)| (id, &s.cfg)).collect();
            reload::instances(&old, &new)
        };
        let mut old: Vec<Option<(Instance, Slot)>> = old_router.into_slots().map(Some).collect();
        let mut new: Vec<Option<VrrpInstance>> = new.into_iter().map(Some).collect();
        let mut router = Router::new();
        let default_if = self.config.global.default_interface.clone();
        let mut notifier = notifier;
        // An instance retired and created anew (same name) keeps its journal.
        let mut retired: HashMap<String, (Journal, State)> = HashMap::new();
        for step in steps {
            if !matches!(step, InstanceStep::Retire { .. }) {
                if let Some(n) = notifier.take() {
                    self.effect(Effect::SetNotifier(n));
                }
            }
            match step {
                InstanceStep::Retire { old: id } => {
                    if let Some((inst, mut slot)) = old.get_mut(id.index()).and_then(Option::take) {
                        retired.insert(slot.cfg.name.clone(), (std::mem::take(&mut slot.journal), inst.state()));
                        self.retire(id, inst, slot).await;
                    }
                }
                InstanceStep::Keep {
                    old: id,
                    new: i,
                    changed,
                } => {
                    let (Some((mut inst, mut slot)), Some(cfg)) =
                        (old.get_mut(id.index()).and_then(Option::take), new[i].take())
                    else {
                        continue;
                    };
                    if changed {
                        self.change_in_place(&mut inst, &mut slot, cfg);
                    } else {
                        // Where things are written may differ: keep the new spans.
                        slot.cfg = cfg;
                    }
                    router.add(inst, slot);
                }
                InstanceStep::Create { new: i } => {
                    let Some(cfg) = new[i].take() else { continue };
                    let mut slot = self.host.prepare(cfg, &default_if).await;
                    if let Some((journal, was)) = retired.remove(&slot.cfg.name) {
                        slot.journal = journal;
                        slot.journal.record(journal::Entry {
                            at: SystemTime::now(),
                            from: was,
                            to: State::Init,
                            why: journal::Why::Reload,
                            priority: slot.cfg.priority,
                            peer: None,
                        });
                    }
                    router.add(Instance::new(params::engine_params(&slot.cfg)), slot);
                }
            }
        }
        if let Some(n) = notifier.take() {
            self.effect(Effect::SetNotifier(n));
        }
        for g in &self.config.sync_groups {
            let members = g
                .members
                .iter()
                .filter_map(|(m, _)| router.iter().find(|(_, _, s)| &s.cfg.name == m).map(|(id, _, _)| id))
                .collect();
            router.add_group(&g.name, members);
        }
        self.router = router;
        self.rewire(verdicts);
    }

    /// A kept instance whose settings changed: they apply in place, state
    /// and timers kept; a MASTER's addresses change by their difference.
    fn change_in_place(&mut self, inst: &mut Instance, slot: &mut Slot, cfg: VrrpInstance) {
        tracing::info!("({}) configuration changed; applied in place", cfg.name);
        let before = slot.addresses.clone();
        slot.advert_frames = Default::default();
        let resend = slot.cfg.unicast_ttl != cfg.unicast_ttl || slot.cfg.unicast_src_ip != cfg.unicast_src_ip;
        slot.cfg = cfg;
        self.host.resolve(slot);
        if resend {
            // Reopened (and the engine told) by the source refresh.
            slot.tx = None;
            slot.src = None;
        }
        inst.reconfigure(params::engine_params(&slot.cfg), Instant::now());
        if inst.state() == State::Master {
            let (remove, add) = reload::address_diff(&before, &slot.addresses);
            if !remove.is_empty() {
                let owner = slot.cfg.name.clone();
                self.effect(Effect::Remove { owner, addrs: remove });
            }
            if !add.is_empty() {
                self.effect(Effect::Install(add));
            }
            if before.addrs != slot.addresses.addrs {
                // keepalived announces all of a master's addresses again
                // when a reload changed them (observed).
                let repeat = inst.params().garp.master_repeat;
                let gaps = Gaps {
                    v4: self.config.global.garp.interval,
                    v6: self.config.global.garp.na_interval,
                };
                for step in apply::action_steps(
                    &Action::SendGratuitous { repeat },
                    slot,
                    inst.effective_priority(),
                    gaps,
                ) {
                    match step {
                        Step::Log(_, text) => tracing::info!("{text}"),
                        Step::Gratuitous(burst) => self.effect(Effect::Gratuitous {
                            owner: slot.cfg.name.clone(),
                            burst,
                        }),
                        _ => {}
                    }
                }
            }
        }
    }

    /// An instance removed by a reload leaves as keepalived 2.2.7's do
    /// (observed): a MASTER sends priority 0 and releases its addresses;
    /// the generic `notify` and the FIFOs hear FAULT — DELETED, and the
    /// `notify_deleted` script runs, when that is set; `notify_fault` does
    /// not run. Its VMAC goes.
    async fn retire(&mut self, id: InstanceId, mut inst: Instance, mut slot: Slot) {
        let mut out = crate::vrrp::Output::default();
        inst.handle(Instant::now(), Event::Shutdown { release: true }, &mut out);
        for a in &out.actions {
            if matches!(a, Action::StateChange { .. }) {
                continue;
            }
            for step in apply::action_steps(a, &slot, inst.effective_priority(), Default::default()) {
                match step {
                    Step::Send { priority } => self.sockets.send_advert(id, &inst, &mut slot, priority),
                    Step::Remove(addrs) => self.effect(Effect::Remove {
                        owner: slot.cfg.name.clone(),
                        addrs,
                    }),
                    Step::Log(_, text) => tracing::info!("{text}"),
                    _ => {}
                }
            }
        }
        for f in self.sockets.flush() {
            slot.send_failed(&f);
        }
        let n = &slot.cfg.notify;
        let (state, specific) = match &n.deleted {
            Some(s) => ("DELETED", Some(s.clone())),
            None if n.deleted_state => ("DELETED", None),
            None => ("FAULT", None),
        };
        self.effect(Effect::Notify(Box::new(Notice {
            subject: Subject::Instance,
            name: slot.cfg.name.clone(),
            state,
            priority: inst.effective_priority(),
            specific,
            generic: n.generic.clone(),
        })));
        self.host.remove_vmac(&slot).await;
        tracing::info!("({}) removed by reload", slot.cfg.name);
    }

    /// Re-derives everything that depends on the set of instances.
    fn rewire(&mut self, verdicts: &Verdicts) {
        let wants: Vec<Vec<Want>> = self
            .router
            .iter()
            .map(|(id, _, s)| {
                let vmac = s.vmac.as_ref().map(|(n, _)| n.as_str());
                let group = self
                    .router
                    .group_of(id)
                    .and_then(|g| self.config.sync_groups.iter().find(|sg| sg.name == g.name));
                tracking::wants(&s.cfg, &s.ifname, vmac, group)
            })
            .collect();
        let mut defs: Vec<CheckDef> = Vec::new();
        for w in wants.iter().flatten() {
            if let Some(d) = tracking::check_def(&self.config, w) {
                if !defs.iter().any(|x| x.name == d.name && x.kind == d.kind) {
                    defs.push(d);
                }
            }
        }
        self.checks.sync(&mut self.tracker, &self.config, verdicts, defs);
        let mut used = Vec::new();
        let ids: Vec<InstanceId> = self.router.ids().collect();
        for (id, wants) in ids.into_iter().zip(wants) {
            let refs: Vec<Reference> = wants.iter().filter_map(|w| self.reference(w)).collect();
            used.extend(refs.iter().map(|r| r.obj));
            if let Some(s) = self.router.data_mut(id) {
                s.refs = refs;
            }
        }
        // Interfaces no instance tracks any more.
        let stale: Vec<_> = self
            .tracker
            .ids()
            .filter(|o| self.tracker.kind(*o) == Some(Kind::Interface) && !used.contains(o))
            .collect();
        for o in stale {
            self.tracker.remove(o);
        }
        self.users = tracking::users(&self.router);
        self.sockets.rebuild(&self.router);
        self.refresh_sources();
        // The guard fails closed: held until its check says otherwise.
        let guards: Vec<_> = self
            .checks
            .guarded()
            .into_iter()
            .map(|(o, g)| (o, g.unwrap_or(Guard::CLOSED)))
            .collect();
        self.apply_guards(&guards);
        self.reevaluate_all();
    }

    fn reference(&mut self, w: &Want) -> Option<Reference> {
        let (obj, weight, reverse) = match w {
            Want::Interface { name, weight, reverse } => {
                let up = self.host.link_up(name);
                (
                    self.tracker.add_bool(Kind::Interface, name, Some(up)),
                    *weight,
                    *reverse,
                )
            }
            Want::Script { name, weight, reverse } => (self.checks.lookup(CheckKind::Script, name)?, *weight, *reverse),
            Want::File { name, weight, reverse } => (self.checks.lookup(CheckKind::File, name)?, *weight, *reverse),
            Want::Process { name, weight, reverse } => {
                (self.checks.lookup(CheckKind::Process, name)?, *weight, *reverse)
            }
        };
        Some(Reference { obj, weight, reverse })
    }

    /// Starts the load balancer, or hands it the new virtual servers; a
    /// reload that removes them all stops it (releasing its entries).
    fn sync_lvs(&mut self, scripts: &[precheck::ScriptCheck]) {
        let mut lvs = std::mem::take(&mut self.config.lvs);
        precheck::drop_unrunnable_lvs_scripts(&mut lvs, scripts);
        match (&self.lvs, lvs.is_empty()) {
            (None, true) => {}
            (None, false) => self.lvs = Some(super::lvs::LvsRoom::start(lvs, self.config.global.clone())),
            (Some(room), false) => room.reload(lvs, self.config.global.clone()),
            (Some(_), true) => {
                if let Some(room) = self.lvs.take() {
                    let release = self.release_ipvs;
                    tokio::spawn(room.stop(release));
                }
            }
        }
    }

    /// SIGHUP: unchanged instances keep their state, sockets, timers and
    /// check results without notifying; a configuration that cannot be
    /// read leaves the running one in place.
    pub(super) async fn reload(&mut self) {
        tracing::info!("Reloading");
        super::process::notify_systemd_reloading();
        self.load_and_realize().await;
        // After the file, its parse and the old configuration are freed.
        super::process::release_free_memory();
        super::process::notify_systemd_ready();
    }

    /// The reload itself: read, check, and apply the new configuration,
    /// or keep the running one.
    async fn load_and_realize(&mut self) {
        let mut loaded = match config::load_file(&self.config_path, &self.load_opts) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(
                    "reload: cannot read {}: {e}; keeping the running configuration",
                    self.config_path.display()
                );
                return;
            }
        };
        let mut diags = loaded.diags.clone();
        let verdicts = precheck::check(&loaded.config, &precheck::SystemHost, &mut diags);
        log_diagnostics(&diags, &loaded.sources);
        if diags.refuses_to_run() {
            tracing::error!("reload: the new configuration cannot be run; keeping the running configuration");
            return;
        }
        if let Some(log) = &self.config.global.reload_check_config {
            // keepalived's reload_check_config: reload only what -t passes.
            let code = diags.exit_code();
            if let Some(path) = log {
                let report = format!("{}exit status {code}\n", diags.render(&loaded.sources));
                if let Err(e) = std::fs::write(path, report) {
                    tracing::warn!("reload_check_config: cannot write {}: {e}", path.display());
                }
            }
            if code != 0 {
                tracing::error!(
                    "reload: the new configuration fails the check (exit status {code}, reload_check_config); keeping the running configuration"
                );
                return;
            }
        }
        // Instance ids change below: nothing stays held across it.
        self.release_deferred(true);
        let instances = std::mem::take(&mut loaded.config.instances);
        let (config, scripts) = (loaded.config.clone(), verdicts.scripts.clone());
        let notifier: MakeNotifier = Box::new(move || Notifier::new(&config, &scripts));
        for name in super::reload::keep_start_only(&self.config.global, &mut loaded.config.global) {
            tracing::warn!(
                "reload: {name} is read at start-up only; the running daemon keeps its old value until it restarts"
            );
        }
        self.config = loaded.config;
        self.realize(instances, &verdicts, Some(notifier)).await;
        self.footguns = verdicts.footguns.clone();
        self.apply_maintenance();
        self.sync_lvs(&verdicts.scripts);
        if self.config.global.fifo_write_vrrp_states_on_reload {
            for (_, i, s) in self.router.iter() {
                self.effect(Effect::Notify(Box::new(Notice {
                    subject: Subject::Instance,
                    name: s.cfg.name.clone(),
                    state: i.state().name(),
                    priority: i.effective_priority(),
                    specific: None,
                    generic: None,
                })));
            }
        }
        tracing::info!("Reload finished");
    }

    /// SIGTERM/SIGINT: priority 0 from masters, VIPs removed, STOP
    /// notifications for every instance and group, VMACs removed.
    pub(super) async fn shutdown(&mut self) {
        super::process::notify_systemd_stopping();
        self.checks.stop_all();
        if let Some(room) = self.lvs.take() {
            room.stop(self.release_ipvs).await;
        }
        let release = self.release_on_stop;
        let ids: Vec<InstanceId> = self.router.ids().collect();
        for id in ids {
            self.feed(id, Event::Shutdown { release });
        }
        for sg in &self.config.sync_groups {
            self.effect(Effect::Notify(Box::new(apply::group_notice(sg, "STOP"))));
        }
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        self.effect(Effect::Barrier(done_tx));
        let _ = tokio::time::timeout(DRAIN, done_rx).await;
        if release {
            for (_, _, s) in self.router.iter() {
                self.host.remove_vmac(s).await;
            }
        }
        self.run_global_script("shutdown_script").await;
        tracing::info!("Stopped");
    }
}
