//! The running daemon: one protocol loop owns every instance (so sync
//! groups need no locks), fed by socket readers through a bounded queue,
//! by netlink monitoring, by checks and by signals. Adverts are sent from
//! the loop itself; every other side effect goes, in order, to the effects
//! worker.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::cli::Cli;
use crate::config::model::{Config, VrrpInstance};
use crate::config::{self, LoadOptions, Loaded};
use crate::net::garp::virtual_mac;
use crate::net::netlink::{self, Addr, Link, NetEvent, Netlink};
use crate::net::socket::{Received, RxSocket, TxSocket};
use crate::track::{Evaluation, Kind, Reference, Tracker};
use crate::vrrp::packet::Family;
use crate::vrrp::{Action, Event, InstanceId, Reason, Router, State};

use super::checks::{CheckEvent, Checks};
use super::dump::{self, InstanceView};
use super::effects::{self, Addresses, Burst, Effect, EffectSender};
use super::notify::{Notice, Notifier, Subject};
use super::params;
use super::precheck;

/// Bound of the queue between socket readers and the protocol loop; a
/// full queue drops (and counts) packets rather than blocking a reader.
const RX_QUEUE: usize = 4096;

/// What the socket readers hand the protocol loop.
pub enum Input {
    Packet { ifindex: u32, rx: Received },
}

/// Per-instance runtime facts the engine does not need.
struct InstRt {
    cfg: VrrpInstance,
    /// The interface adverts arrive on and whose state is tracked.
    ifname: String,
    ifindex: u32,
    /// Where VIPs go and adverts leave from: the VMAC when there is one.
    vip_ifname: String,
    vip_ifindex: u32,
    vmac: Option<(String, [u8; 6])>,
    /// Source MAC of gratuitous ARPs.
    mac: [u8; 6],
    src: Option<IpAddr>,
    tx: Option<TxSocket>,
    vips_set: bool,
    last_transition: SystemTime,
    started: bool,
    last_eval: Option<Evaluation>,
    warned_no_src: bool,
}

/// Counters of the daemon as a whole.
#[derive(Default)]
pub struct Counters {
    pub rx_overflow: AtomicU64,
    pub rx_malformed: AtomicU64,
    pub unknown_vrid: AtomicU64,
    pub tx_errors: AtomicU64,
}

pub struct Daemon {
    loaded: Loaded,
    load_opts: LoadOptions,
    config_path: PathBuf,
    release_on_stop: bool,
    nl: Netlink,
    router: Router,
    rts: Vec<InstRt>,
    tracker: Tracker,
    links: HashMap<u32, Link>,
    addrs: Vec<Addr>,
    dispatch: HashMap<(u32, Family, u8), Vec<InstanceId>>,
    rx_sockets: HashMap<(u32, Family), (Vec<IpAddr>, JoinHandle<()>)>,
    input_tx: mpsc::Sender<Input>,
    effects: EffectSender,
    notifier: Arc<Notifier>,
    checks: Checks,
    group_states: HashMap<String, State>,
    counters: Arc<Counters>,
    startup_at: Instant,
    /// VIP and gratuitous-ARP actions of new MASTERs held until their
    /// fencing check_mysql has made the server writable, and the latest
    /// moment they wait.
    deferred: Vec<(InstanceId, Action)>,
    deferred_until: Option<Instant>,
    /// Set while deferred actions are applied (they are not held again).
    releasing: bool,
}

fn epoch_secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

impl Daemon {
    /// Builds the daemon from a loaded configuration and starts its I/O.
    pub async fn start(
        loaded: Loaded,
        verdicts: precheck::Verdicts,
        load_opts: LoadOptions,
        config_path: PathBuf,
        release_on_stop: bool,
    ) -> std::io::Result<(
        Daemon,
        mpsc::Receiver<Input>,
        mpsc::UnboundedReceiver<NetEvent>,
        mpsc::UnboundedReceiver<CheckEvent>,
    )> {
        // Subscribe before dumping so no change falls between the two.
        let net_rx = netlink::monitor()?;
        let nl = Netlink::connect()?;
        let links: HashMap<u32, Link> = nl.links().await?.into_iter().map(|l| (l.index, l)).collect();
        let addrs = nl.addresses().await?;
        let notifier = Arc::new(Notifier::new(&loaded.config, &verdicts.scripts));
        let effects = effects::start(nl.clone(), notifier.clone());
        let (input_tx, input_rx) = mpsc::channel(RX_QUEUE);
        let (checks, check_rx) = Checks::new();
        let mut d = Daemon {
            loaded,
            load_opts,
            config_path,
            release_on_stop,
            nl,
            router: Router::new(),
            rts: Vec::new(),
            tracker: Tracker::new(),
            links,
            addrs,
            dispatch: HashMap::new(),
            rx_sockets: HashMap::new(),
            input_tx,
            effects,
            notifier,
            checks,
            group_states: HashMap::new(),
            counters: Arc::new(Counters::default()),
            startup_at: Instant::now() + std::time::Duration::ZERO,
            deferred: Vec::new(),
            deferred_until: None,
            releasing: false,
        };
        d.startup_at = Instant::now() + d.loaded.config.global.startup_delay;
        d.build(None, &verdicts).await;
        Ok((d, input_rx, net_rx, check_rx))
    }

    fn config(&self) -> &Config {
        &self.loaded.config
    }

    fn link_by_name(&self, name: &str) -> Option<&Link> {
        self.links.values().find(|l| l.name == name)
    }

    /// Creates the instances of the current configuration. `carry` holds
    /// engine instances kept across a reload, by name.
    async fn build(
        &mut self,
        carry: Option<HashMap<String, (crate::vrrp::Instance, InstRt)>>,
        verdicts: &precheck::Verdicts,
    ) {
        // The instances' settings move into `rts`: one copy kept, not two
        // (the loaded configuration keeps everything else).
        let instances = std::mem::take(&mut self.loaded.config.instances);
        let sync_groups = self.loaded.config.sync_groups.clone();
        let mut carry = carry.unwrap_or_default();
        let mut router = Router::new();
        let mut rts = Vec::with_capacity(instances.len());
        let mut name_to_id = HashMap::new();
        for cfg in instances {
            let p = params::engine_params(&cfg);
            name_to_id.insert(cfg.name.clone(), rts.len());
            let (id, rt) = match carry.remove(&cfg.name) {
                Some((mut inst, mut rt)) => {
                    inst.reconfigure(p);
                    rt.cfg = cfg;
                    rt.last_eval = None;
                    (router.add_existing(inst), rt)
                }
                None => {
                    let rt = self.new_rt(&cfg).await;
                    (router.add_instance(p), rt)
                }
            };
            debug_assert_eq!(id, rts.len());
            rts.push(rt);
        }
        for g in &sync_groups {
            let members = g
                .members
                .iter()
                .filter_map(|(m, _)| name_to_id.get(m).copied())
                .collect();
            router.add_group(&g.name, members);
        }
        // Instances removed by a reload leave as keepalived's do: FAULT
        // notification (DELETED with notify_deleted), VIPs released.
        for (name, (mut inst, rt)) in carry {
            let mut out = Vec::new();
            inst.handle(Instant::now(), Event::Shutdown { release: true }, &mut out);
            for a in out {
                match a {
                    Action::SendAdvert { priority } => send_advert(&inst, &rt, priority, &self.counters),
                    Action::RemoveVips => {
                        tracing::info!("({name}) removing VIPs.");
                        let _ = self.effects.send(Effect::Remove(self.addresses_of(&rt)));
                    }
                    _ => {}
                }
            }
            let (state, specific) = match &rt.cfg.notify.deleted {
                Some(s) => ("DELETED", Some(s.clone())),
                None => ("FAULT", rt.cfg.notify.fault.clone()),
            };
            let _ = self.effects.send(Effect::Notify(Box::new(Notice {
                subject: Subject::Instance,
                name: name.clone(),
                state,
                priority: inst.effective_priority(),
                specific,
                generic: rt.cfg.notify.generic.clone(),
            })));
            if let Some((vmac, _)) = &rt.vmac {
                if let Some(l) = self.link_by_name(vmac) {
                    let _ = self.nl.del_link(l.index).await;
                }
            }
            tracing::info!("({name}) removed by reload");
        }
        self.router = router;
        self.rts = rts;
        for id in 0..self.rts.len() {
            self.refresh_source(id);
        }
        self.rebuild_tracker(verdicts);
        self.rebuild_dispatch();
        self.sync_sockets();
    }

    /// Resolves interfaces, creates the VMAC, removes stale VIPs.
    async fn new_rt(&mut self, cfg: &VrrpInstance) -> InstRt {
        let ifname = cfg
            .interface
            .clone()
            .unwrap_or_else(|| self.config().global.default_interface.clone());
        let link = self.link_by_name(&ifname).cloned();
        let ifindex = link.as_ref().map(|l| l.index).unwrap_or(0);
        let mut rt = InstRt {
            cfg: cfg.clone(),
            ifname: ifname.clone(),
            ifindex,
            vip_ifname: ifname.clone(),
            vip_ifindex: ifindex,
            vmac: None,
            mac: link.as_ref().and_then(|l| l.mac).unwrap_or([0; 6]),
            src: None,
            tx: None,
            vips_set: false,
            last_transition: SystemTime::now(),
            started: false,
            last_eval: None,
            warned_no_src: false,
        };
        if link.is_none() {
            tracing::warn!("({}) interface {ifname} does not exist", cfg.name);
        }
        if let (Some(v), Some(parent)) = (&cfg.vmac, &link) {
            let mac = v
                .mac
                .unwrap_or_else(|| virtual_mac(cfg.vrid, cfg.family == config::model::Family::V6));
            match self.create_vmac(&v.name, parent.index, mac).await {
                Ok(index) => {
                    rt.vmac = Some((v.name.clone(), mac));
                    rt.vip_ifname = v.name.clone();
                    rt.vip_ifindex = index;
                    rt.mac = mac;
                    tracing::info!("({}) created VMAC {} on {ifname}", cfg.name, v.name);
                }
                Err(e) => tracing::error!("({}) cannot create VMAC {}: {e}", cfg.name, v.name),
            }
        }
        // keepalived removes VIPs a previous run left behind.
        let stale: Vec<(u32, IpAddr, u8)> = cfg
            .vips
            .iter()
            .chain(&cfg.excluded_vips)
            .filter_map(|v| {
                let idx = v
                    .dev
                    .as_ref()
                    .and_then(|d| self.link_by_name(d))
                    .map(|l| l.index)
                    .unwrap_or(rt.vip_ifindex);
                self.addrs
                    .iter()
                    .find(|a| a.index == idx && a.addr == v.addr)
                    .map(|a| (idx, a.addr, a.prefix))
            })
            .collect();
        if !stale.is_empty() {
            tracing::info!("({}) removing VIPs.", cfg.name);
            for (idx, a, p) in stale {
                if let Err(e) = self.nl.del_address(idx, a, p).await {
                    tracing::warn!("({}) cannot remove stale VIP {a}: {e}", cfg.name);
                }
            }
        }
        rt
    }

    async fn create_vmac(&mut self, name: &str, parent: u32, mac: [u8; 6]) -> std::io::Result<u32> {
        if let Some(old) = self.link_by_name(name).map(|l| l.index) {
            self.nl.del_link(old).await?;
        }
        let index = self.nl.add_macvlan(name, parent, mac).await?;
        // RFC 5798 §7.4: the IPv6 interface identifier must not come from
        // the virtual MAC (else every router has the same link-local).
        set_sysctl(&format!("net/ipv6/conf/{name}/addr_gen_mode"), "3");
        self.nl.set_up(index).await?;
        // The parent must not answer ARP for addresses on the VMAC with its
        // own MAC (keepalived sets the same sysctls).
        if let Some(p) = self.links.get(&parent).map(|l| l.name.clone()) {
            set_sysctl(&format!("net/ipv4/conf/{p}/arp_ignore"), "1");
            set_sysctl(&format!("net/ipv4/conf/{p}/arp_filter"), "1");
        }
        set_sysctl(&format!("net/ipv4/conf/{name}/arp_ignore"), "1");
        set_sysctl(&format!("net/ipv4/conf/{name}/rp_filter"), "0");
        self.links
            .extend(self.nl.links().await?.into_iter().map(|l| (l.index, l)));
        Ok(index)
    }

    /// Picks the advert source address and (re)opens the send socket.
    fn refresh_source(&mut self, id: InstanceId) {
        let all_vips: HashSet<IpAddr> = self
            .rts
            .iter()
            .flat_map(|r| r.cfg.vips.iter().chain(&r.cfg.excluded_vips).map(|v| v.addr))
            .collect();
        let rt = &self.rts[id];
        let want = rt.cfg.unicast_src_ip.or_else(|| {
            let on = |idx: u32| {
                self.addrs.iter().find(|a| {
                    a.index == idx
                        && !all_vips.contains(&a.addr)
                        && !a.tentative
                        && match (rt.cfg.family, a.addr) {
                            (config::model::Family::V4, IpAddr::V4(_)) => !a.secondary,
                            (config::model::Family::V6, IpAddr::V6(v6)) => v6.segments()[0] & 0xffc0 == 0xfe80,
                            _ => false,
                        }
                })
            };
            on(rt.ifindex).or_else(|| on(rt.vip_ifindex)).map(|a| a.addr)
        });
        if want == rt.src && (rt.tx.is_some() || want.is_none()) {
            return;
        }
        let (tx_if, tx_idx) = match &rt.cfg.vmac {
            Some(v) if !v.xmit_base && rt.vmac.is_some() => (rt.vip_ifname.clone(), rt.vip_ifindex),
            _ => (rt.ifname.clone(), rt.ifindex),
        };
        let name = rt.cfg.name.clone();
        let ttl = rt.cfg.unicast_ttl;
        let tx = want.and_then(|src| match TxSocket::open(src, &tx_if, tx_idx, ttl) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::error!("({name}) cannot open the advert socket from {src} on {tx_if}: {e}");
                None
            }
        });
        let rt = &mut self.rts[id];
        rt.src = want;
        rt.tx = tx;
        if want.is_some() {
            rt.warned_no_src = false;
        }
        let now = Instant::now();
        let mut out = Vec::new();
        self.router.handle(now, id, Event::LocalAddress(want), &mut out);
        self.apply(out);
    }

    fn rebuild_dispatch(&mut self) {
        self.dispatch.clear();
        for (id, rt) in self.rts.iter().enumerate() {
            if rt.ifindex == 0 {
                continue;
            }
            let fam = family(&rt.cfg);
            self.dispatch
                .entry((rt.ifindex, fam, rt.cfg.vrid))
                .or_default()
                .push(id);
        }
    }

    /// Opens receive sockets for every (interface, family) in use, with
    /// the multicast groups its instances need; closes unused ones.
    fn sync_sockets(&mut self) {
        let mut want: HashMap<(u32, Family), (String, Vec<IpAddr>)> = HashMap::new();
        for rt in &self.rts {
            if rt.ifindex == 0 {
                continue;
            }
            let e = want
                .entry((rt.ifindex, family(&rt.cfg)))
                .or_insert_with(|| (rt.ifname.clone(), Vec::new()));
            if rt.cfg.unicast_peers.is_empty() && !e.1.contains(&rt.cfg.mcast_dst) {
                e.1.push(rt.cfg.mcast_dst);
            }
        }
        self.rx_sockets.retain(|k, (groups, task)| {
            let keep = want.get(k).is_some_and(|(_, g)| g == groups);
            if !keep {
                task.abort();
            }
            keep
        });
        for ((ifindex, fam), (ifname, groups)) in want {
            if self.rx_sockets.contains_key(&(ifindex, fam)) {
                continue;
            }
            match RxSocket::open(fam, &ifname, ifindex, &groups) {
                Ok(sock) => {
                    let tx = self.input_tx.clone();
                    let counters = self.counters.clone();
                    let task = tokio::spawn(read_loop(sock, tx, counters));
                    self.rx_sockets.insert((ifindex, fam), (groups, task));
                }
                Err(e) => tracing::error!("cannot open the VRRP socket on {ifname}: {e}"),
            }
        }
    }

    /// Registers every tracked object and each instance's references.
    fn rebuild_tracker(&mut self, verdicts: &precheck::Verdicts) {
        let config = self.loaded.config.clone();
        let mut t = Tracker::new();
        let link_up = |name: &str| {
            self.links
                .values()
                .find(|l| l.name == name)
                .map(|l| l.is_up())
                .unwrap_or(false)
        };
        for rt in &self.rts {
            let cfg = &rt.cfg;
            let mut refs = Vec::new();
            let mut add_if = |t: &mut Tracker, name: &str, weight: i32, reverse: bool| {
                let obj = t.add_bool(Kind::Interface, name, Some(link_up(name)));
                refs.push(Reference { obj, weight, reverse });
            };
            if !cfg.dont_track_primary {
                add_if(&mut t, &rt.ifname, 0, false);
                if rt.vmac.is_some() {
                    add_if(&mut t, &rt.vip_ifname, 0, false);
                }
            }
            for v in cfg.vips.iter().chain(&cfg.excluded_vips) {
                if let (Some(dev), false) = (&v.dev, v.no_track) {
                    if dev != &rt.ifname {
                        add_if(&mut t, dev, 0, false);
                    }
                }
            }
            let group = cfg
                .sync_group
                .as_ref()
                .and_then(|g| config.sync_groups.iter().find(|sg| &sg.name == g));
            for ti in cfg
                .track_interfaces
                .iter()
                .chain(group.map(|g| g.track_interfaces.as_slice()).unwrap_or(&[]))
            {
                add_if(&mut t, &ti.name, ti.weight, ti.reverse);
            }
            for r in cfg
                .track_scripts
                .iter()
                .chain(group.map(|g| g.track_scripts.as_slice()).unwrap_or(&[]))
            {
                if let Some(obj) = self.checks.register_script(&mut t, &config, &r.name, verdicts) {
                    refs.push(Reference {
                        obj,
                        weight: r.weight.unwrap_or(0),
                        reverse: r.reverse.unwrap_or(false),
                    });
                }
            }
            for r in cfg
                .track_files
                .iter()
                .chain(group.map(|g| g.track_files.as_slice()).unwrap_or(&[]))
            {
                if let Some(obj) = self.checks.register_file(&mut t, &config, &r.name) {
                    refs.push(Reference {
                        obj,
                        weight: r.weight.unwrap_or(0),
                        reverse: r.reverse.unwrap_or(false),
                    });
                }
            }
            for r in cfg
                .track_processes
                .iter()
                .chain(group.map(|g| g.track_processes.as_slice()).unwrap_or(&[]))
            {
                if let Some(obj) = self.checks.register_process(&mut t, &config, &r.name) {
                    refs.push(Reference {
                        obj,
                        weight: r.weight.unwrap_or(0),
                        reverse: r.reverse.unwrap_or(false),
                    });
                }
            }
            t.add_instance(cfg.priority, refs);
        }
        self.checks.carry_results(&self.tracker, &mut t);
        self.tracker = t;
        self.checks.start_all(&self.tracker);
        let initial: Vec<_> = self.checks.guarded().into_iter().map(|o| (o, true)).collect();
        self.apply_holds(&initial);
        self.reevaluate_all();
    }

    /// The database catch-up guard's decisions: hold or release the
    /// preemption of the instances that track each check.
    fn apply_holds(&mut self, holds: &[(crate::track::ObjId, bool)]) {
        let now = Instant::now();
        let mut out = Vec::new();
        for &(obj, hold) in holds {
            for id in self.tracker.users(obj).to_vec() {
                if self.router.instance(id).is_some_and(|i| i.preempt_held() != hold) {
                    self.router.handle(now, id, Event::PreemptHold(hold), &mut out);
                }
            }
        }
        self.apply(out);
    }

    /// Applies tracking results to every instance.
    fn reevaluate_all(&mut self) {
        let ids: Vec<usize> = (0..self.rts.len()).collect();
        self.reevaluate(&ids);
    }

    fn reevaluate(&mut self, ids: &[usize]) {
        let now = Instant::now();
        for &id in ids {
            let e = self.tracker.evaluate(id);
            let prev = self.rts[id].last_eval;
            let name = self.rts[id].cfg.name.clone();
            let mut out = Vec::new();
            if prev.map(|p| p.priority) != Some(e.priority) {
                if let Some(p) = prev {
                    tracing::info!(
                        "({name}) Changing effective priority from {} to {}",
                        p.priority,
                        e.priority
                    );
                }
                self.router.handle(now, id, Event::Priority(e.priority), &mut out);
            }
            if prev.map(|p| p.fault) != Some(e.fault) {
                self.router.handle(now, id, Event::Fault(e.fault), &mut out);
            }
            self.rts[id].last_eval = Some(e);
            if !self.rts[id].started && e.ready && now >= self.startup_at {
                self.rts[id].started = true;
                self.router.handle(now, id, Event::Start, &mut out);
            }
            self.apply(out);
        }
    }

    /// Runs until a stop signal; returns the exit status.
    pub async fn run(
        mut self,
        mut input_rx: mpsc::Receiver<Input>,
        mut net_rx: mpsc::UnboundedReceiver<NetEvent>,
        mut check_rx: mpsc::UnboundedReceiver<CheckEvent>,
        mut signals: mpsc::UnboundedReceiver<i32>,
    ) -> i32 {
        self.run_global_script("startup_script").await;
        tracing::info!("Startup complete");
        super::process::release_startup_memory();
        super::notify_systemd_ready();
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
                self.deferred_until,
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
                Some(s) = signals.recv() => {
                    if !self.signal(s).await {
                        break;
                    }
                }
                Some(inp) = input_rx.recv() => {
                    // Adverts of many instances arrive in bursts: take all
                    // that are queued before re-arming the timer.
                    let Input::Packet { ifindex, rx } = inp;
                    self.packet(ifindex, rx);
                    for _ in 0..RX_QUEUE {
                        match input_rx.try_recv() {
                            Ok(Input::Packet { ifindex, rx }) => self.packet(ifindex, rx),
                            Err(_) => break,
                        }
                    }
                }
                Some(ev) = check_rx.recv() => {
                    let changed = self.checks.apply(&mut self.tracker, ev);
                    if !changed.is_empty() {
                        self.reevaluate(&changed);
                    }
                    let holds = self.checks.take_holds();
                    if !holds.is_empty() {
                        self.apply_holds(&holds);
                    }
                    self.release_deferred(false);
                }
                Some(ev) = net_rx.recv() => self.net_event(ev).await,
                _ = sleep => {
                    if self.deferred_until.is_some_and(|t| t <= Instant::now()) {
                        self.release_deferred(true);
                    }
                    let mut out = Vec::new();
                    self.router.handle_timers(Instant::now(), &mut out);
                    self.apply(out);
                    if self.rts.iter().any(|r| !r.started) {
                        self.reevaluate_all();
                    }
                }
            }
            self.checks.update_roles(&self.tracker, &self.router);
        }
        self.shutdown().await;
        0
    }

    fn packet(&mut self, ifindex: u32, rx: Received) {
        let fam = Family::of(&rx.meta.src);
        let vrid = rx.payload.get(1).copied().unwrap_or(0);
        // Nearly always one instance per key: no allocation on that path.
        let (first, more) = match self.dispatch.get(&(ifindex, fam, vrid)) {
            Some(ids) if !ids.is_empty() => (ids[0], (ids.len() > 1).then(|| ids[1..].to_vec())),
            _ => {
                self.counters.unknown_vrid.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(
                    "advert for unknown VRID {vrid} from {} on interface {ifindex}",
                    rx.meta.src
                );
                return;
            }
        };
        let now = Instant::now();
        for id in std::iter::once(first).chain(more.into_iter().flatten()) {
            // Our own adverts (unicast to ourselves, or looped) are not news.
            if Some(rx.meta.src) == self.rts[id].src {
                continue;
            }
            let mut out = Vec::new();
            self.router.handle(
                now,
                id,
                Event::Advert {
                    meta: rx.meta,
                    payload: &rx.payload,
                },
                &mut out,
            );
            if !out.is_empty() {
                self.apply(out);
            }
        }
    }

    async fn net_event(&mut self, ev: NetEvent) {
        match ev {
            NetEvent::Link(l) => {
                // Events can be stale (a link we just created reports its
                // creation-time "down" afterwards): a reported change is
                // checked against the link's current state first.
                let l = match self.links.get(&l.index) {
                    Some(known) if known.is_up() != l.is_up() => match self.nl.link(l.index).await {
                        Ok(Some(fresh)) => fresh,
                        _ => l,
                    },
                    _ => l,
                };
                let was = self.links.get(&l.index).map(Link::is_up);
                let now_up = l.is_up();
                let name = l.name.clone();
                let new_link = was.is_none();
                self.links.insert(l.index, l);
                if was != Some(now_up) {
                    tracing::info!("Netlink reports {name} {}", if now_up { "up" } else { "down" });
                    if let Some(obj) = self.tracker.lookup(Kind::Interface, &name) {
                        if self.tracker.set_bool(obj, now_up) {
                            let users = self.tracker.users(obj).to_vec();
                            self.reevaluate(&users);
                        }
                    }
                }
                if new_link {
                    self.resolve_new_link(&name);
                }
            }
            NetEvent::LinkRemoved { index, name } => {
                self.links.remove(&index);
                tracing::info!("Netlink reports {name} removed");
                if let Some(obj) = self.tracker.lookup(Kind::Interface, &name) {
                    if self.tracker.set_bool(obj, false) {
                        let users = self.tracker.users(obj).to_vec();
                        self.reevaluate(&users);
                    }
                }
            }
            NetEvent::AddrAdded(a) => {
                if !self.addrs.contains(&a) {
                    self.addrs.retain(|x| !(x.index == a.index && x.addr == a.addr));
                    self.addrs.push(a);
                    self.refresh_sources();
                }
            }
            NetEvent::AddrRemoved(a) => {
                self.addrs.retain(|x| !(x.index == a.index && x.addr == a.addr));
                self.refresh_sources();
            }
        }
    }

    /// An interface that did not exist at start appeared.
    fn resolve_new_link(&mut self, name: &str) {
        let Some(link) = self.link_by_name(name).cloned() else {
            return;
        };
        let mut changed = false;
        for rt in &mut self.rts {
            if rt.ifname == name && rt.ifindex == 0 {
                rt.ifindex = link.index;
                rt.vip_ifindex = link.index;
                rt.mac = link.mac.unwrap_or([0; 6]);
                changed = true;
            }
        }
        if changed {
            self.rebuild_dispatch();
            self.sync_sockets();
            self.refresh_sources();
        }
    }

    fn refresh_sources(&mut self) {
        for id in 0..self.rts.len() {
            self.refresh_source(id);
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
            s if s == libc::SIGUSR1 => self.write_dump("keepalived", "data"),
            s if s == libc::SIGUSR2 => self.write_dump("keepalived", "stats"),
            s if s == libc::SIGRTMIN() + 2 => self.write_dump("keepalived", "json"),
            s if s == libc::SIGRTMAX() - 1 => {
                self.write_dump("keepalived", "stats");
                for id in 0..self.router.len() {
                    if let Some(i) = self.router.instance_mut(id) {
                        *i.stats_mut() = Default::default();
                    }
                }
            }
            _ => {}
        }
        true
    }

    fn views(&self) -> Vec<InstanceView<'_>> {
        self.rts
            .iter()
            .enumerate()
            .filter_map(|(id, rt)| {
                let inst = self.router.instance(id)?;
                Some(InstanceView {
                    cfg: &rt.cfg,
                    inst,
                    ifname: &rt.ifname,
                    vmac_ifname: rt.vmac.as_ref().map(|(n, _)| n.as_str()),
                    vips_set: rt.vips_set,
                    last_transition: epoch_secs(rt.last_transition),
                    track_scripts: self.checks.script_commands(&self.loaded.config, &rt.cfg),
                    extra: json!({
                        "preempt_hold": inst.preempt_held(),
                        "checks": self.checks.status_json(&self.tracker, id),
                        "rx_queue_overflow": self.counters.rx_overflow.load(Ordering::Relaxed),
                        "unknown_vrid": self.counters.unknown_vrid.load(Ordering::Relaxed),
                        "checksum_err": inst.stats().checksum_err,
                        "version_err": inst.stats().version_err,
                    }),
                })
            })
            .collect()
    }

    fn write_dump(&self, stem: &str, ext: &str) {
        let instance = self
            .config()
            .global
            .data_use_instance
            .then(|| self.config().instance_name.clone())
            .flatten();
        let path = dump::dump_path(stem, ext, instance.as_deref());
        let views = self.views();
        let text = match ext {
            "json" => dump::json(&views),
            "stats" => dump::stats(&views),
            _ => dump::data(self.config(), &views),
        };
        match dump::write_file(&path, &text) {
            Ok(()) => tracing::info!("wrote {}", path.display()),
            Err(e) => tracing::error!("cannot write {}: {e}", path.display()),
        }
    }

    /// SIGHUP: an invalid new configuration is reported and the running one
    /// kept; unchanged instances keep their state without notifying.
    async fn reload(&mut self) {
        tracing::info!("Reloading");
        super::notify_systemd_reloading();
        let loaded = match config::load_file(&self.config_path, &self.load_opts) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(
                    "reload: cannot read {}: {e}; keeping the running configuration",
                    self.config_path.display()
                );
                super::notify_systemd_ready();
                return;
            }
        };
        let mut diags = loaded.diags.clone();
        let verdicts = precheck::check(&loaded.config, &precheck::SystemHost, &mut diags);
        log_diagnostics(&diags, &loaded.sources);
        if diags
            .iter()
            .any(|d| d.severity == config::Severity::Error && d.class == config::diag::Class::Config)
        {
            tracing::error!("reload: the new configuration has errors; keeping the running configuration");
            super::notify_systemd_ready();
            return;
        }
        // Instance ids change below: nothing stays held across it.
        self.release_deferred(true);
        // Keep instances whose identity did not change.
        let old_router = std::mem::take(&mut self.router);
        let old_rts = std::mem::take(&mut self.rts);
        let mut carry = HashMap::new();
        for (id, rt) in old_rts.into_iter().enumerate() {
            let Some(inst) = old_router.instance(id).cloned() else {
                continue;
            };
            let same = loaded
                .config
                .instance(&rt.cfg.name)
                .is_some_and(|n| params::identity(n) == params::identity(&rt.cfg));
            if same {
                let new_cfg = loaded.config.instance(&rt.cfg.name).cloned();
                if let (Some(n), true) = (new_cfg, inst.state() == State::Master) {
                    self.diff_vips(&rt, &n);
                }
                carry.insert(rt.cfg.name.clone(), (inst, rt));
            } else {
                // Removed, or changed beyond recognition: retire it now and
                // create the new one fresh.
                let mut retired = HashMap::new();
                retired.insert(rt.cfg.name.clone(), (inst, rt));
                self.retire(retired).await;
            }
        }
        self.checks.stop_all();
        self.loaded = loaded;
        self.notifier.stop();
        self.notifier = Arc::new(Notifier::new(&self.loaded.config, &verdicts.scripts));
        self.effects = effects::start(self.nl.clone(), self.notifier.clone());
        self.build(Some(carry), &verdicts).await;
        if self.config().global.fifo_write_vrrp_states_on_reload {
            for (id, rt) in self.rts.iter().enumerate() {
                if let Some(i) = self.router.instance(id) {
                    let _ = self.effects.send(Effect::Notify(Box::new(Notice {
                        subject: Subject::Instance,
                        name: rt.cfg.name.clone(),
                        state: i.state().name(),
                        priority: i.effective_priority(),
                        specific: None,
                        generic: None,
                    })));
                }
            }
        }
        tracing::info!("Reload finished");
        super::process::release_startup_memory();
        super::notify_systemd_ready();
    }

    /// A MASTER whose VIPs changed in a reload: add and remove the difference.
    fn diff_vips(&self, rt: &InstRt, new: &VrrpInstance) {
        let old_set: Vec<_> = rt
            .cfg
            .vips
            .iter()
            .chain(&rt.cfg.excluded_vips)
            .map(|v| (v.addr, v.prefix))
            .collect();
        let new_set: Vec<_> = new
            .vips
            .iter()
            .chain(&new.excluded_vips)
            .map(|v| (v.addr, v.prefix))
            .collect();
        let mut add = Addresses::default();
        let mut del = Addresses::default();
        for v in new.vips.iter().chain(&new.excluded_vips) {
            if !old_set.contains(&(v.addr, v.prefix)) {
                add.addrs.push((self.vip_index(rt, v), params::address_spec(v)));
            }
        }
        for v in rt.cfg.vips.iter().chain(&rt.cfg.excluded_vips) {
            if !new_set.contains(&(v.addr, v.prefix)) {
                del.addrs.push((self.vip_index(rt, v), params::address_spec(v)));
            }
        }
        if !del.addrs.is_empty() {
            let _ = self.effects.send(Effect::Remove(del));
        }
        if !add.addrs.is_empty() {
            let _ = self.effects.send(Effect::Install(add));
        }
    }

    async fn retire(&mut self, set: HashMap<String, (crate::vrrp::Instance, InstRt)>) {
        let saved_router = std::mem::take(&mut self.router);
        let saved_rts = std::mem::take(&mut self.rts);
        // Reuse build()'s removal path with an empty configuration view.
        let saved_cfg = std::mem::take(&mut self.loaded.config.instances);
        let groups = std::mem::take(&mut self.loaded.config.sync_groups);
        self.build(Some(set), &precheck::Verdicts::default()).await;
        self.loaded.config.instances = saved_cfg;
        self.loaded.config.sync_groups = groups;
        self.router = saved_router;
        self.rts = saved_rts;
    }

    fn vip_index(&self, rt: &InstRt, v: &config::model::VirtualAddress) -> u32 {
        v.dev
            .as_ref()
            .and_then(|d| self.link_by_name(d))
            .map(|l| l.index)
            .unwrap_or(rt.vip_ifindex)
    }

    fn addresses_of(&self, rt: &InstRt) -> Addresses {
        let cfg = &rt.cfg;
        Addresses {
            addrs: cfg
                .vips
                .iter()
                .chain(&cfg.excluded_vips)
                .map(|v| (self.vip_index(rt, v), params::address_spec(v)))
                .collect(),
            routes: cfg
                .routes
                .iter()
                .map(|r| {
                    let oif = r.dev.as_ref().and_then(|d| self.link_by_name(d)).map(|l| l.index);
                    params::route_spec(r, oif)
                })
                .collect(),
            rules: cfg.rules.iter().map(params::rule_spec).collect(),
        }
    }

    /// Carries out the engine's actions, in order. State changes are logged
    /// first, as keepalived logs "Entering MASTER STATE" before "setting VIPs".
    /// Holds back the VIPs (and their gratuitous ARPs) of an instance that
    /// became MASTER while its fencing check_mysql has not yet made the
    /// server writable: clients never reach a read-only server through the
    /// VIP. A RemoveVips drops what was held for that instance.
    fn defer_until_writable(&mut self, actions: Vec<(InstanceId, Action)>) -> Vec<(InstanceId, Action)> {
        // The protocol's hot path: nothing to do without fencing.
        if self.releasing || (self.deferred.is_empty() && !self.checks.fences()) {
            return actions;
        }
        let mut now_actions = Vec::with_capacity(actions.len());
        for (id, a) in actions {
            match a {
                Action::AddVips | Action::SendGratuitous { .. } => {
                    if let Some(wait) = self.checks.unfenced(&self.tracker, id) {
                        if matches!(a, Action::AddVips) {
                            let name = self.rts.get(id).map(|r| r.cfg.name.as_str()).unwrap_or("?");
                            tracing::info!("({name}) VIPs wait for check_mysql to make the server writable");
                        }
                        let until = Instant::now() + wait;
                        self.deferred_until = Some(self.deferred_until.map_or(until, |t| t.min(until)));
                        self.deferred.push((id, a));
                        continue;
                    }
                }
                Action::RemoveVips => self.deferred.retain(|(d, _)| *d != id),
                _ => {}
            }
            now_actions.push((id, a));
        }
        if self.deferred.is_empty() {
            self.deferred_until = None;
        }
        now_actions
    }

    /// Applies the held actions whose server is now writable, or all of
    /// them once their wait is over (the probe may be slow or failing: the
    /// VIP is not withheld longer than the check's timeout).
    fn release_deferred(&mut self, expired: bool) {
        if self.deferred.is_empty() {
            return;
        }
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.deferred)
            .into_iter()
            .partition(|(id, _)| expired || self.checks.unfenced(&self.tracker, *id).is_none());
        self.deferred = waiting;
        if self.deferred.is_empty() {
            self.deferred_until = None;
        }
        if ready.is_empty() {
            return;
        }
        if expired {
            tracing::warn!("check_mysql did not confirm the server writable in time; adding the VIPs anyway");
        }
        self.releasing = true;
        self.apply(ready);
        self.releasing = false;
    }

    fn apply(&mut self, actions: Vec<(InstanceId, Action)>) {
        let mut group_check = false;
        let actions = self.defer_until_writable(actions);
        for (id, a) in &actions {
            if let (
                Some(rt),
                Action::StateChange {
                    from,
                    to,
                    priority,
                    reason,
                },
            ) = (self.rts.get(*id), a)
            {
                log_transition(&rt.cfg.name, *from, *to, *priority, *reason);
            }
        }
        for (id, a) in actions {
            let Some(rt) = self.rts.get(id) else { continue };
            let name = rt.cfg.name.clone();
            match a {
                Action::SendAdvert { priority } => {
                    if let Some(inst) = self.router.instance(id) {
                        if rt.tx.is_none() && !rt.warned_no_src {
                            tracing::warn!("({name}) no source address on {}: adverts cannot be sent", rt.ifname);
                            self.rts[id].warned_no_src = true;
                        } else {
                            send_advert(inst, rt, priority, &self.counters);
                        }
                        if priority == 0 {
                            tracing::info!("({name}) sent 0 priority");
                        }
                    }
                }
                Action::AddVips => {
                    tracing::info!("({name}) setting VIPs.");
                    let a = self.addresses_of(rt);
                    self.rts[id].vips_set = true;
                    let _ = self.effects.send(Effect::Install(a));
                }
                Action::RemoveVips => {
                    tracing::info!("({name}) removing VIPs.");
                    let a = self.addresses_of(rt);
                    self.rts[id].vips_set = false;
                    let _ = self.effects.send(Effect::Remove(a));
                }
                Action::SendGratuitous { repeat } => {
                    let addrs: Vec<IpAddr> = rt
                        .cfg
                        .vips
                        .iter()
                        .chain(&rt.cfg.excluded_vips)
                        .map(|v| v.addr)
                        .collect();
                    if let Some(first) = addrs.first() {
                        tracing::info!(
                            "({name}) Sending/queueing gratuitous ARPs on {} for {first}",
                            rt.vip_ifname
                        );
                    }
                    let g = &self.config().global.garp;
                    let _ = self.effects.send(Effect::Gratuitous(Burst {
                        ifindex: rt.vip_ifindex,
                        mac: rt.mac,
                        addrs,
                        repeat,
                        gap_v4: g.interval,
                        gap_v6: g.na_interval,
                    }));
                }
                Action::StateChange { to, priority, .. } => {
                    self.rts[id].last_transition = SystemTime::now();
                    self.notify_instance(id, to, priority);
                    group_check = true;
                }
                Action::MasterRxLowerPri { from, priority } => {
                    let ours = self.router.instance(id).map(|i| i.effective_priority()).unwrap_or(0);
                    tracing::info!("({name}) Received advert from {from} with lower priority {priority}, ours {ours}, forcing new election");
                    let _ = self.effects.send(Effect::Notify(Box::new(Notice {
                        subject: Subject::Instance,
                        name: name.clone(),
                        state: "MASTER_RX_LOWER_PRI",
                        priority: ours,
                        specific: rt.cfg.notify.master_rx_lower_pri.clone(),
                        generic: None,
                    })));
                }
                Action::LowerPriorityDiscarded { from, priority } => {
                    tracing::info!("({name}) received lower priority ({priority}) advert from {from} - discarding");
                }
                Action::PriorityZeroReceived { .. } => {
                    tracing::info!("({name}) Backup received priority 0 advertisement")
                }
                Action::WantMaster => tracing::debug!("({name}) wants MASTER; waiting for its sync group"),
                Action::Dropped { src, error } => tracing::debug!("({name}) dropped advert from {src}: {error}"),
                Action::ConflictingOwner { from } => {
                    tracing::error!("({name}) CONFIGURATION ERROR: {from} also claims to be the address owner (priority 255); lowering ours to 254")
                }
            }
        }
        if group_check {
            self.notify_groups();
        }
    }

    fn notify_instance(&self, id: InstanceId, to: State, priority: u8) {
        let rt = &self.rts[id];
        let n = &rt.cfg.notify;
        let specific = match to {
            State::Master => n.master.clone(),
            State::Backup => n.backup.clone(),
            State::Fault => n.fault.clone(),
            State::Stop => n.stop.clone(),
            State::Init => return,
        };
        let _ = self.effects.send(Effect::Notify(Box::new(Notice {
            subject: Subject::Instance,
            name: rt.cfg.name.clone(),
            state: to.name(),
            priority,
            specific,
            generic: n.generic.clone(),
        })));
    }

    /// Sync groups report when the group as a whole changes state.
    fn notify_groups(&mut self) {
        for g in self.router.groups().to_vec() {
            let state = self.router.group_state(&g);
            if state == State::Init || self.group_states.get(&g.name) == Some(&state) {
                continue;
            }
            self.group_states.insert(g.name.clone(), state);
            let Some(sg) = self.loaded.config.sync_groups.iter().find(|s| s.name == g.name) else {
                continue;
            };
            let specific = match state {
                State::Master => sg.notify.master.clone(),
                State::Backup => sg.notify.backup.clone(),
                State::Fault => sg.notify.fault.clone(),
                State::Stop => sg.notify.stop.clone(),
                State::Init => None,
            };
            tracing::info!("({}) Sync group entering {} STATE", g.name, state.name());
            let _ = self.effects.send(Effect::Notify(Box::new(Notice {
                subject: Subject::Group,
                name: g.name.clone(),
                state: state.name(),
                priority: 0,
                specific,
                generic: sg.notify.generic.clone(),
            })));
        }
    }

    /// SIGTERM/SIGINT: priority 0 from masters, VIPs removed, STOP
    /// notifications for every instance and group, VMACs removed.
    async fn shutdown(&mut self) {
        super::notify_systemd_stopping();
        self.checks.stop_all();
        let now = Instant::now();
        let release = self.release_on_stop;
        for id in 0..self.rts.len() {
            let mut out = Vec::new();
            self.router.handle(now, id, Event::Shutdown { release }, &mut out);
            self.apply(out);
        }
        for g in self.router.groups().to_vec() {
            if let Some(sg) = self.loaded.config.sync_groups.iter().find(|s| s.name == g.name) {
                let _ = self.effects.send(Effect::Notify(Box::new(Notice {
                    subject: Subject::Group,
                    name: g.name.clone(),
                    state: "STOP",
                    priority: 0,
                    specific: sg.notify.stop.clone(),
                    generic: sg.notify.generic.clone(),
                })));
            }
        }
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let _ = self.effects.send(Effect::Barrier(done_tx));
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), done_rx).await;
        if release {
            for rt in &self.rts {
                if let Some((vmac, _)) = &rt.vmac {
                    if let Some(l) = self.link_by_name(vmac) {
                        let _ = self.nl.del_link(l.index).await;
                    }
                }
            }
        }
        self.notifier.stop();
        self.run_global_script("shutdown_script").await;
        tracing::info!("Stopped");
    }

    /// `startup_script` / `shutdown_script`: run once and waited for, up to
    /// their timeout (keepalived's behaviour).
    async fn run_global_script(&self, which: &str) {
        let g = &self.loaded.config.global;
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

fn family(cfg: &VrrpInstance) -> Family {
    match cfg.family {
        config::model::Family::V4 => Family::V4,
        config::model::Family::V6 => Family::V6,
    }
}

fn send_advert(inst: &crate::vrrp::Instance, rt: &InstRt, priority: u8, counters: &Counters) {
    let Some(tx) = &rt.tx else { return };
    let advert = inst.advert(priority);
    let mut buf = [0u8; 4200];
    let dsts: Vec<IpAddr> = if rt.cfg.unicast_peers.is_empty() {
        vec![rt.cfg.mcast_dst]
    } else {
        rt.cfg.unicast_peers.iter().map(|p| p.addr).collect()
    };
    for dst in dsts {
        match advert.emit(&mut buf, tx.src, dst, inst.params().checksum_mode) {
            Ok(n) => {
                if let Err(e) = tx.send(&buf[..n], dst, rt.vip_ifindex) {
                    counters.tx_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!("({}) cannot send advert to {dst}: {e}", rt.cfg.name);
                }
            }
            Err(e) => tracing::error!("({}) cannot build advert: {e}", rt.cfg.name),
        }
    }
}

fn log_transition(name: &str, from: State, to: State, priority: u8, reason: Reason) {
    match reason {
        Reason::MasterDown if to == State::Master => tracing::info!("({name}) Receive advertisement timeout"),
        Reason::Preempted { from: src, priority: p } => {
            if p == priority {
                tracing::info!(
                    "({name}) Master received advert from {src} with same priority {p} but higher IP address than ours"
                )
            } else {
                tracing::info!("({name}) Master received advert from {src} with higher priority {p}, ours {priority}")
            }
        }
        _ => {}
    }
    match (to, reason) {
        (State::Backup, Reason::Startup) => tracing::info!("({name}) Entering BACKUP STATE (init)"),
        (State::Stop, _) => tracing::info!("({name}) Stopped ({} before)", from.name()),
        _ => tracing::info!("({name}) Entering {} STATE", to.name()),
    }
}

async fn read_loop(mut sock: RxSocket, tx: mpsc::Sender<Input>, counters: Arc<Counters>) {
    let ifindex = sock.ifindex();
    loop {
        match sock.recv().await {
            Ok(Ok(rx)) => {
                if tx.try_send(Input::Packet { ifindex, rx }).is_err() {
                    counters.rx_overflow.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(Err(e)) => {
                counters.rx_malformed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!("malformed IPv4 datagram on interface {ifindex}: {e}");
            }
            Err(e) => {
                tracing::warn!("VRRP socket on interface {ifindex}: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// Installs the handlers of every signal the daemon reacts to. Called
/// before the pid files are written, so a signal sent to a pid read from
/// them is never met by its default action (USR1 would kill).
pub fn install_signal_handlers() -> std::io::Result<mpsc::UnboundedReceiver<i32>> {
    use tokio::signal::unix::{signal, SignalKind};
    let (tx, rx) = mpsc::unbounded_channel();
    for sig in [
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGHUP,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGRTMIN() + 2,
        libc::SIGRTMAX() - 1,
    ] {
        let tx = tx.clone();
        let mut s = signal(SignalKind::from_raw(sig))?;
        tokio::spawn(async move {
            while s.recv().await.is_some() {
                if tx.send(sig).is_err() {
                    break;
                }
            }
        });
    }
    Ok(rx)
}

fn set_sysctl(path: &str, value: &str) {
    let full = format!("/proc/sys/{path}");
    if let Err(e) = std::fs::write(&full, value) {
        tracing::warn!("cannot set {full} to {value}: {e}");
    }
}

pub fn log_diagnostics(diags: &config::Diagnostics, sources: &config::SourceMap) {
    for d in diags.iter() {
        let line = config::diag::render_one(d, sources).to_string();
        match d.severity {
            config::Severity::Error => tracing::error!("{line}"),
            config::Severity::Warning => tracing::warn!("{line}"),
        }
    }
}

/// Entry point of the daemon mode. Pid files are written once signals are
/// handled and removed when the daemon ends.
pub fn run(cli: &Cli, load_opts: LoadOptions, pid_paths: Vec<PathBuf>) -> i32 {
    let loaded = match config::load_file(&cli.use_file, &load_opts) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("Configuration file {}: {e}", cli.use_file.display());
            if cli.all_config {
                return 4;
            }
            config::load_str(&cli.use_file.to_string_lossy(), "", &load_opts)
        }
    };
    tracing::info!(
        "Starting rkeepalived {} (keepalived 2.2.7 compatible)",
        env!("CARGO_PKG_VERSION")
    );
    let mut diags = loaded.diags.clone();
    let verdicts = precheck::check(&loaded.config, &precheck::SystemHost, &mut diags);
    log_diagnostics(&diags, &loaded.sources);
    if cli.dump_conf {
        for line in config::dump::dump(&loaded.config).lines() {
            tracing::info!("{line}");
        }
    }
    if loaded.config.instances.is_empty() {
        tracing::warn!("Warning - keepalived has no configuration to run");
    }
    // One thread runs the protocol loop, the socket readers and the checks
    // (all async); blocking work goes to tokio's blocking pool.
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            return 1;
        }
    };
    let release = !cli.dont_release_vrrp;
    let path = cli.use_file.clone();
    rt.block_on(async move {
        let signals = match install_signal_handlers() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("cannot install signal handlers: {e}");
                return 1;
            }
        };
        let _pids = match super::process::PidFiles::write(pid_paths) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!("cannot write pid file: {e}");
                return 1;
            }
        };
        match Daemon::start(loaded, verdicts, load_opts, path, release).await {
            Ok((d, input_rx, net_rx, check_rx)) => d.run(input_rx, net_rx, check_rx, signals).await,
            Err(e) => {
                tracing::error!("cannot start: {e}");
                1
            }
        }
    })
}
