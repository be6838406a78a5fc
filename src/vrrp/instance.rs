//! One VRRP instance's state machine, driven by `handle(now, event)` with no
//! I/O: it returns actions (values) in the order they must be carried out,
//! notes of what it only reports, and says when it next needs a call
//! ([`Instance::poll_timeout`]).
//!
//! keepalived 2.2.7's behaviour is the default; where it differs from the
//! RFC, the RFC applies under `strict` (compat/DEVIATIONS.md lists each).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::packet::{Advert, AdvertPacket, AuthType, ChecksumMode, Family, MessageType, Version};
use super::rx::{RxError, RxMeta};
use super::stats::Stats;
use super::timers::{master_down_interval, skew_time};

/// Instance states; the numbers are keepalived's (JSON `state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum State {
    Init,
    Backup,
    Master,
    Fault,
    /// Reported to notifiers on shutdown only.
    Stop,
}

impl State {
    pub fn keepalived_code(self) -> u8 {
        match self {
            State::Init => 0,
            State::Backup => 1,
            State::Master => 2,
            State::Fault => 3,
            State::Stop => 98,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            State::Init => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
            State::Stop => "STOP",
        }
    }
}

/// GARP / unsolicited NA scheduling (keepalived's `garp_*` settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GarpParams {
    pub master_delay: Duration,
    pub master_repeat: u32,
    pub master_refresh: Duration,
    pub master_refresh_repeat: u32,
    pub lower_prio_delay: Duration,
    pub lower_prio_repeat: u32,
}

impl Default for GarpParams {
    fn default() -> Self {
        GarpParams {
            master_delay: Duration::from_secs(5),
            master_repeat: 5,
            master_refresh: Duration::ZERO,
            master_refresh_repeat: 1,
            lower_prio_delay: Duration::from_secs(5),
            lower_prio_repeat: 5,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnicastPeer {
    pub addr: IpAddr,
    pub min_ttl: Option<u8>,
    pub max_ttl: Option<u8>,
}

/// Everything the state machine needs to know about its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    pub name: String,
    pub vrid: u8,
    pub version: Version,
    pub family: Family,
    /// Base (configured) priority, 1..=255.
    pub priority: u8,
    /// Advertisement_Interval.
    pub advert_int: Duration,
    /// `state MASTER` was configured (matters to an owner leaving FAULT).
    pub want_master: bool,
    pub nopreempt: bool,
    pub preempt_delay: Duration,
    pub down_timer_adverts: u32,
    pub lower_prio_no_advert: bool,
    pub higher_prio_send_advert: bool,
    pub garp: GarpParams,
    /// v2 authentication: type and 8 data bytes.
    pub auth: Option<(AuthType, [u8; 8])>,
    /// The addresses advertised (and checked in received adverts).
    pub vips: Vec<IpAddr>,
    pub strict: bool,
    /// The address owner drops received adverts (RFC 5798 §7.1 (5));
    /// keepalived does so in strict mode or with `owner_ignore_adverts`.
    pub owner_ignores_adverts: bool,
    pub skip_check_adv_addr: bool,
    pub checksum_mode: ChecksumMode,
    pub unicast_peers: Vec<UnicastPeer>,
    pub check_unicast_src: bool,
    /// A MASTER going to FAULT keeps its VIPs for a while: clients are
    /// refused with a reset by the local kernel instead of timing out on a
    /// dead host while the new master takes over.
    pub linger: Linger,
}

/// How long a MASTER that goes to FAULT keeps its VIPs (rkeepalived's
/// `refuse_on_fault`); at most Master_Down_Interval in any case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Linger {
    /// Removed at once, as RFC 5798 and keepalived do.
    #[default]
    Off,
    /// Until another master's advert is heard.
    UntilAdvert,
    /// Until another host announces one of the VIPs ([`Event::Announced`]:
    /// its gratuitous ARP), which follows the new master's first advert
    /// once its VIPs are installed.
    UntilAnnounced,
}

impl Params {
    /// A minimal valid parameter set (tests, simulation).
    pub fn new(name: &str, vrid: u8, priority: u8, version: Version, vips: Vec<IpAddr>) -> Params {
        let family = vips.first().map(Family::of).unwrap_or(Family::V4);
        Params {
            name: name.to_string(),
            vrid,
            version,
            family,
            priority,
            advert_int: Duration::from_secs(1),
            want_master: priority == 255,
            nopreempt: false,
            preempt_delay: Duration::ZERO,
            down_timer_adverts: 3,
            lower_prio_no_advert: false,
            higher_prio_send_advert: false,
            garp: GarpParams::default(),
            auth: None,
            vips,
            strict: false,
            owner_ignores_adverts: false,
            skip_check_adv_addr: false,
            checksum_mode: ChecksumMode::PseudoHeader,
            unicast_peers: Vec::new(),
            check_unicast_src: false,
            linger: Linger::Off,
        }
    }
}

/// Why a state changed: for logs in keepalived's words, and for the
/// daemon's transition journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Startup,
    /// Master_Down_Timer expired: no advert from a master.
    MasterDown,
    /// The master sent priority 0 (it stepped down); Skew_Time later we took over.
    PriorityZero {
        from: IpAddr,
    },
    /// A lower-priority master's adverts were discarded until the down
    /// timer ran out: we preempted it.
    Preempt {
        from: IpAddr,
        priority: u8,
    },
    /// The database catch-up guard released its hold on preemption.
    HoldReleased,
    /// The database guard had this MASTER give way to a live master whose
    /// server may hold writes this one lacks (after a partition healed).
    Yielded {
        from: IpAddr,
        priority: u8,
    },
    /// Maintenance: the instance gave up MASTER (or stays out of it).
    Maintenance,
    /// A master heard a better advert: higher priority, or equal priority
    /// from a higher address.
    Preempted {
        from: IpAddr,
        priority: u8,
    },
    Fault,
    FaultCleared,
    /// Moved by its sync group.
    SyncGroup,
    /// As MASTER, one of its tracked VIPs was deleted from the host by
    /// someone else: it steps down (priority 0) and the election runs
    /// again, as keepalived does.
    VipDeleted {
        addr: IpAddr,
    },
    Shutdown,
}

/// What the driver must carry out, in order: each changes the wire, the
/// host or what scripts see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send an advertisement with this priority.
    SendAdvert { priority: u8 },
    /// Install the VIPs (and excluded VIPs, routes and rules).
    AddVips,
    /// Remove them (and stop announcing them).
    RemoveVips,
    /// Send `repeat` rounds of gratuitous ARP / unsolicited NA for the VIPs.
    SendGratuitous { repeat: u32 },
    /// The instance changed state; run notifiers.
    StateChange {
        from: State,
        to: State,
        priority: u8,
        reason: Reason,
    },
    /// A master heard a lower-priority advert (`notify_master_rx_lower_pri`).
    MasterRxLowerPri { from: IpAddr, priority: u8 },
}

/// What the instance only reports: a log line at most, counters already
/// counted in [`Stats`]. Nothing breaks if a driver ignores these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// A sync-group member's down timer expired; it waits for its group.
    WantMaster,
    /// A BACKUP discarded a lower-priority advert to preempt (logged by
    /// keepalived as "received lower priority (N) advert from X - discarding").
    LowerPriorityDiscarded { from: IpAddr, priority: u8 },
    /// A BACKUP heard priority 0: the master is stepping down.
    PriorityZeroReceived { from: IpAddr },
    /// A packet was dropped (already counted in the stats).
    Dropped { src: IpAddr, error: RxError },
    /// A configuration error only the wire reveals (two owners).
    ConflictingOwner { from: IpAddr },
    /// A MASTER kept its place against a higher-priority master because
    /// the database guard says that master's server lacks writes made here
    /// (noted once per contest).
    KeptMaster { from: IpAddr, priority: u8 },
    /// A MASTER went to FAULT and keeps its VIPs (linger_on_fault) until
    /// another master is heard, at most `bound`.
    VipsLinger { bound: Duration },
    /// The lingering VIPs go, and why.
    LingerEnded { why: LingerEnd },
}

/// Why VIPs kept on FAULT (or on entering maintenance) were let go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LingerEnd {
    /// Another host announced this VIP.
    Announced(IpAddr),
    /// Another master's advert was heard.
    MasterHeard(IpAddr),
    /// Master_Down_Interval passed.
    Bound,
    /// The instance left FAULT or stopped.
    Left,
}

/// How a MASTER meets another live master; the database guard chooses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stance {
    /// VRRP's rules: the higher priority, then the higher address, wins.
    #[default]
    Priority,
    /// Stay MASTER against a higher priority: the other's server lacks
    /// writes made here (or its position is unknown since we took over).
    Keep,
    /// Give way to any live master heard, and stay held as BACKUP: it may
    /// have written what this server lacks.
    Yield,
}

/// What one call of [`Instance::handle`] produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    pub actions: Vec<Action>,
    pub notes: Vec<Note>,
}

impl Output {
    pub fn clear(&mut self) {
        self.actions.clear();
        self.notes.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.actions.is_empty() && self.notes.is_empty()
    }
}

/// Events that drive an instance.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// Leave INIT (after initial tracking results are in).
    Start,
    /// An advertisement for this VRID, as the IP payload.
    Advert { meta: RxMeta, payload: &'a [u8] },
    /// A deadline from [`Instance::poll_timeout`] has passed.
    Timer,
    /// The tracked effective priority changed.
    Priority(u8),
    /// Tracked faults appeared (true) or all cleared (false).
    Fault(bool),
    /// Hold off preempting a live lower-priority master (database catch-up).
    PreemptHold(bool),
    /// How a MASTER meets another master (database guard).
    Stance(Stance),
    /// Stop; `release` false keeps VIPs and sends no priority 0 (-V).
    Shutdown { release: bool },
    /// The address adverts are sent from (and compared in tie-breaks).
    LocalAddress(Option<IpAddr>),
    /// From the sync group: every member may become MASTER now.
    GroupGoMaster,
    /// From the sync group: follow a member into BACKUP.
    GroupBackup,
    /// From the sync group: a member has a fault (true) / none has (false).
    GroupFault(bool),
    /// Another host announced this address, one of the VIPs (a
    /// gratuitous ARP): a FAULT instance keeping its VIPs lets them go.
    Announced(IpAddr),
    /// Whether a MASTER that goes to FAULT now may keep its VIPs
    /// (`Params::linger`); a tracker says no when there is nothing to
    /// refuse (its server is alive). Default: yes.
    MayLinger(bool),
    /// Maintenance on: give up MASTER at once (priority 0, then the VIPs
    /// go) and never take over until it is off.
    Maintenance(bool),
    /// A VIP this MASTER installed was deleted from the host by someone
    /// else, and it is tracked (not `no_track`; the driver decides).
    VipDeleted(IpAddr),
    /// The driver was not scheduled for a while (SIGSTOP, or starved of
    /// CPU), so the adverts that came meanwhile are still unread: a BACKUP
    /// whose down timer ran out in the stall waits one more
    /// Master_Down_Interval for them instead of taking over on no evidence.
    Resumed,
}

/// One VRRP instance.
#[derive(Debug, Clone)]
pub struct Instance {
    params: Params,
    state: State,
    effective_priority: u8,
    fault: bool,
    group_fault: bool,
    in_group: bool,
    want_master: bool,
    preempt_hold: bool,
    stance: Stance,
    /// A Keep stance has already been noted against the current rival.
    kept_noted: bool,
    /// The hold was released under a live lower-priority master: the
    /// coming takeover is the guard's release.
    hold_released: bool,
    maintenance: bool,
    local_addr: Option<IpAddr>,
    master_adver_interval: Duration,
    /// The master whose adverts this backup last accepted.
    master: Option<(IpAddr, u8)>,
    /// When that master was last heard.
    master_seen: Option<Instant>,
    t_master_down: Option<Instant>,
    t_advert: Option<Instant>,
    t_preempt_delay: Option<Instant>,
    /// The preempt delay ran out: lower-priority adverts are discarded now.
    preempt_delay_expired: bool,
    t_garp_second: Option<Instant>,
    t_garp_refresh: Option<Instant>,
    t_garp_lower: Option<Instant>,
    /// In FAULT, the VIPs still installed (refuse_on_fault) until then.
    t_linger: Option<Instant>,
    /// A tracker allows lingering on the next FAULT.
    may_linger: bool,
    stats: Stats,
}

impl Instance {
    pub fn new(params: Params) -> Instance {
        let effective_priority = params.priority;
        let master_adver_interval = params.advert_int;
        Instance {
            params,
            state: State::Init,
            effective_priority,
            fault: false,
            group_fault: false,
            in_group: false,
            want_master: false,
            preempt_hold: false,
            stance: Stance::Priority,
            kept_noted: false,
            hold_released: false,
            maintenance: false,
            local_addr: None,
            master_adver_interval,
            master: None,
            master_seen: None,
            t_master_down: None,
            t_advert: None,
            t_preempt_delay: None,
            preempt_delay_expired: false,
            t_garp_second: None,
            t_garp_refresh: None,
            t_garp_lower: None,
            t_linger: None,
            may_linger: true,
            stats: Stats::default(),
        }
    }

    pub fn params(&self) -> &Params {
        &self.params
    }
    pub fn state(&self) -> State {
        self.state
    }
    pub fn effective_priority(&self) -> u8 {
        self.effective_priority
    }
    pub fn stats(&self) -> &Stats {
        &self.stats
    }
    pub fn stats_mut(&mut self) -> &mut Stats {
        &mut self.stats
    }
    pub fn is_faulted(&self) -> bool {
        self.fault
    }
    pub fn group_faulted(&self) -> bool {
        self.group_fault
    }
    pub fn wants_master(&self) -> bool {
        self.want_master
    }
    pub fn in_maintenance(&self) -> bool {
        self.maintenance
    }

    pub fn preempt_held(&self) -> bool {
        self.preempt_hold
    }
    pub fn may_linger(&self) -> bool {
        self.may_linger
    }

    pub fn stance(&self) -> Stance {
        self.stance
    }
    pub fn master_adver_interval(&self) -> Duration {
        self.master_adver_interval
    }
    /// The master this instance last accepted adverts from.
    /// The master last heard (address, priority) and when.
    pub fn master_heard(&self) -> Option<(IpAddr, u8, Instant)> {
        match (self.master, self.master_seen) {
            (Some((a, p)), Some(t)) => Some((a, p, t)),
            _ => None,
        }
    }

    pub fn current_master(&self) -> Option<(IpAddr, u8)> {
        self.master
    }
    /// A BACKUP that would take over from a live, lower-priority master
    /// were its preemption not held (the database catch-up guard asks).
    pub fn would_preempt(&self) -> bool {
        // In maintenance it never takes over (a check_mysql guard must not
        // start a failback handover for it).
        self.state == State::Backup
            && !self.in_maintenance()
            && !self.params.nopreempt
            && self.master.is_some_and(|(_, p)| p != 0 && p < self.effective_priority)
    }
    /// A BACKUP under a live master it will not take over from: that
    /// master serves this instance's addresses for now.
    pub fn follows_live_master(&self) -> bool {
        self.state == State::Backup && self.master.is_some_and(|(_, p)| p != 0) && !self.would_preempt()
    }
    pub fn local_addr(&self) -> Option<IpAddr> {
        self.local_addr
    }
    pub fn set_in_group(&mut self, in_group: bool) {
        self.in_group = in_group;
    }

    /// Replaces the parameters on reload, keeping state and timers (an
    /// unchanged instance neither flaps nor notifies). A MASTER whose
    /// advert changes (priority, interval, addresses, authentication)
    /// sends it at once, as keepalived 2.2.7 does at a reload: a lowered
    /// priority reaches a preempting backup now, not an interval later.
    pub fn reconfigure(&mut self, params: Params, now: Instant) {
        let p = &self.params;
        let advert_changed = (p.priority, p.advert_int, p.version, &p.vips, p.auth)
            != (
                params.priority,
                params.advert_int,
                params.version,
                &params.vips,
                params.auth,
            );
        if params.priority != self.params.priority && self.effective_priority == self.params.priority {
            self.effective_priority = params.priority;
        }
        if params.version == Version::V2 || self.state != State::Backup {
            self.master_adver_interval = params.advert_int;
        }
        self.params = params;
        if advert_changed && self.state == State::Master {
            self.t_advert = Some(now);
        }
    }

    /// The earliest time the instance needs a [`Event::Timer`] call.
    pub fn poll_timeout(&self) -> Option<Instant> {
        // Written out: the iterator version was a tenth of the cost of an
        // advert at 255 instances.
        let mut first = self.t_advert;
        for t in [
            self.t_master_down,
            self.t_preempt_delay,
            self.t_garp_second,
            self.t_garp_refresh,
            self.t_garp_lower,
            self.t_linger,
        ]
        .into_iter()
        .flatten()
        {
            if first.is_none_or(|f| t < f) {
                first = Some(t);
            }
        }
        first
    }

    /// The advertisement this instance sends with `priority`.
    pub fn advert(&self, priority: u8) -> Advert {
        let (auth_type, auth_data) = match (self.params.version, self.params.auth) {
            (Version::V2, Some((t, d))) => (t, d),
            _ => (AuthType::None, [0; 8]),
        };
        Advert {
            version: self.params.version,
            vrid: self.params.vrid,
            priority,
            interval: self.params.advert_int,
            auth_type,
            auth_data,
            addresses: self.params.vips.clone(),
        }
    }

    /// Master_Down_Interval for this instance now.
    pub fn master_down_interval(&self) -> Duration {
        master_down_interval(
            self.params.version,
            self.effective_priority,
            self.master_adver_interval,
            self.params.down_timer_adverts,
        )
    }

    pub fn skew_time(&self) -> Duration {
        skew_time(self.params.version, self.effective_priority, self.master_adver_interval)
    }

    /// Feeds one event. The contract:
    /// - `now` never goes backwards between calls;
    /// - the caller carries out `out.actions` in order, each before the
    ///   next (keepalived's order: advert, addresses, gratuitous ARP, notify);
    /// - `out.notes` need no effect (logs; their counters are already in
    ///   [`Instance::stats`]);
    /// - afterwards the caller asks [`Instance::poll_timeout`] again and
    ///   sends [`Event::Timer`] once that instant has passed; a call before
    ///   it is harmless.
    pub fn handle(&mut self, now: Instant, event: Event<'_>, out: &mut Output) {
        match event {
            Event::Start => self.start(now, out),
            Event::Advert { meta, payload } => self.receive(now, meta, payload, out),
            Event::Timer => self.timers(now, out),
            Event::Priority(p) => self.set_priority(p),
            Event::Fault(f) => {
                self.fault = f;
                self.fault_changed(now, out);
            }
            Event::GroupFault(f) => {
                self.group_fault = f;
                self.fault_changed(now, out);
            }
            Event::PreemptHold(h) => self.set_preempt_hold(now, h),
            Event::Stance(s) => {
                self.stance = s;
                self.kept_noted = false;
            }
            Event::Maintenance(on) => self.set_maintenance(now, on, out),
            Event::MayLinger(on) => self.may_linger = on,
            Event::Announced(addr) => {
                if self.params.vips.contains(&addr) {
                    self.end_linger(LingerEnd::Announced(addr), out);
                }
            }
            Event::Shutdown { release } => self.shutdown(release, out),
            Event::VipDeleted(addr) => self.vip_deleted(now, addr, out),
            Event::Resumed => {
                if self.state == State::Backup && self.t_master_down.is_some_and(|t| t <= now) {
                    self.t_master_down = Some(now + self.master_down_interval());
                }
            }
            Event::LocalAddress(a) => self.local_addr = a,
            Event::GroupGoMaster => {
                if self.state == State::Backup && self.want_master && !self.maintenance {
                    self.become_master(now, Reason::MasterDown, out);
                }
            }
            Event::GroupBackup => {
                if self.state == State::Master {
                    self.leave_master(now, State::Backup, Reason::SyncGroup, false, out);
                }
                self.want_master = false;
            }
        }
    }

    /// keepalived 2.2.7's answer to a deleted VIP (observed): BACKUP,
    /// priority 0 sent, the other VIPs removed, and its down timer set as
    /// if it had heard priority 0 itself, so that it is MASTER again,
    /// with every VIP, Skew_Time later unless a backup took over first.
    fn vip_deleted(&mut self, now: Instant, addr: IpAddr, out: &mut Output) {
        if self.state != State::Master {
            return;
        }
        self.leave_master(now, State::Backup, Reason::VipDeleted { addr }, true, out);
        self.t_master_down = Some(now + self.skew_time());
    }

    fn set_priority(&mut self, p: u8) {
        // The owner's priority is never changed by tracking (keepalived).
        if self.params.priority == 255 {
            return;
        }
        self.effective_priority = p.clamp(1, 254);
    }

    fn start(&mut self, now: Instant, out: &mut Output) {
        if self.state != State::Init {
            return;
        }
        if self.fault || self.group_fault {
            self.set_state(State::Fault, Reason::Startup, out);
            return;
        }
        // RFC 5798 §6.4.1: the owner goes straight to Master; everyone else
        // starts as Backup (keepalived: `state MASTER` does not shorten it).
        if self.effective_priority == 255 && !self.maintenance {
            self.become_master(now, Reason::Startup, out);
        } else {
            self.enter_backup(now, Reason::Startup, out);
        }
    }

    fn enter_backup(&mut self, now: Instant, reason: Reason, out: &mut Output) {
        self.end_linger(LingerEnd::Left, out);
        self.master_adver_interval = self.params.advert_int;
        self.t_master_down = (!self.maintenance).then(|| now + self.master_down_interval());
        self.clear_master_timers();
        self.t_preempt_delay = None;
        self.preempt_delay_expired = false;
        self.want_master = false;
        self.hold_released = false;
        self.set_state(State::Backup, reason, out);
    }

    fn clear_master_timers(&mut self) {
        self.t_advert = None;
        self.t_garp_second = None;
        self.t_garp_refresh = None;
        self.t_garp_lower = None;
    }

    /// keepalived's order: advert, VIPs, gratuitous ARP/NA, notify.
    fn become_master(&mut self, now: Instant, reason: Reason, out: &mut Output) {
        // Lingering VIPs are simply kept.
        self.t_linger = None;
        self.t_master_down = None;
        self.t_preempt_delay = None;
        self.want_master = false;
        self.hold_released = false;
        self.master = None;
        self.send_advert(self.effective_priority, out);
        self.t_advert = Some(now + self.params.advert_int);
        out.actions.push(Action::AddVips);
        let g = self.params.garp;
        if g.master_repeat > 0 {
            out.actions.push(Action::SendGratuitous {
                repeat: g.master_repeat,
            });
        }
        self.t_garp_second = (!g.master_delay.is_zero() && g.master_repeat > 0).then(|| now + g.master_delay);
        self.t_garp_refresh = (!g.master_refresh.is_zero()).then(|| now + g.master_refresh);
        self.stats.become_master += 1;
        self.set_state(State::Master, reason, out);
    }

    /// Leaves MASTER. A priority-0 advert tells the backups to take over
    /// after Skew_Time (RFC 5798 §6.4.3 on shutdown; keepalived also on FAULT).
    fn leave_master(&mut self, now: Instant, to: State, reason: Reason, send_zero: bool, out: &mut Output) {
        if send_zero {
            self.send_advert(0, out);
        }
        // FAULT lingers only while the tracker allows it (its server is
        // down, so the kernel refuses clients); maintenance (a switchover)
        // always, as the server still answers: it refuses writes, frozen.
        let linger = match (to, reason) {
            (State::Fault, _) => self.may_linger,
            (State::Backup, Reason::Maintenance) => true,
            _ => false,
        };
        if linger && self.params.linger != Linger::Off {
            let bound = self.master_down_interval();
            self.t_linger = Some(now + bound);
            out.notes.push(Note::VipsLinger { bound });
        } else {
            out.actions.push(Action::RemoveVips);
        }
        self.clear_master_timers();
        self.stats.release_master += 1;
        match to {
            State::Backup => {
                self.t_master_down = Some(now + self.master_down_interval());
                self.set_state(State::Backup, reason, out);
            }
            other => {
                self.t_master_down = None;
                self.set_state(other, reason, out);
            }
        }
    }

    fn send_advert(&mut self, priority: u8, out: &mut Output) {
        self.stats.advert_sent += 1;
        if priority == 0 {
            self.stats.pri_zero_sent += 1;
        }
        out.actions.push(Action::SendAdvert { priority });
    }

    fn set_state(&mut self, to: State, reason: Reason, out: &mut Output) {
        let from = self.state;
        self.state = to;
        out.actions.push(Action::StateChange {
            from,
            to,
            priority: self.effective_priority,
            reason,
        });
    }

    fn fault_changed(&mut self, now: Instant, out: &mut Output) {
        let faulted = self.fault || self.group_fault;
        match (self.state, faulted) {
            (State::Master, true) => self.leave_master(now, State::Fault, Reason::Fault, true, out),
            (State::Backup, true) => {
                self.t_master_down = None;
                self.t_preempt_delay = None;
                self.want_master = false;
                self.set_state(State::Fault, Reason::Fault, out);
            }
            (State::Fault, false) => {
                // keepalived's vrrp_state_leave_fault: back to BACKUP, except
                // an owner configured `state MASTER`, which resumes MASTER.
                if self.effective_priority == 255 && self.params.want_master && !self.maintenance {
                    self.become_master(now, Reason::FaultCleared, out);
                } else {
                    self.enter_backup(now, Reason::FaultCleared, out);
                }
            }
            _ => {}
        }
    }

    fn set_preempt_hold(&mut self, now: Instant, hold: bool) {
        let was = self.preempt_hold;
        self.preempt_hold = hold;
        // Released while a lower-priority master is live: preempt after
        // Skew_Time, as after that master's priority-0 advert, instead of a
        // whole Master_Down_Interval.
        if was && !hold && self.state == State::Backup && !self.params.nopreempt {
            if let Some((_, p)) = self.master {
                if p < self.effective_priority && p != 0 && !self.maintenance {
                    let at = now + self.skew_time();
                    self.t_master_down = Some(self.t_master_down.map_or(at, |t| t.min(at)));
                    self.hold_released = true;
                }
            }
        }
    }

    fn set_maintenance(&mut self, now: Instant, on: bool, out: &mut Output) {
        if self.maintenance == on {
            return;
        }
        self.maintenance = on;
        match (self.state, on) {
            (State::Master, true) => self.leave_master(now, State::Backup, Reason::Maintenance, true, out),
            (State::Backup, true) => {
                self.t_master_down = None;
                self.want_master = false;
            }
            // Back in the election: a master is heard within the usual
            // wait (what was heard during maintenance is forgotten).
            (State::Backup, false) => {
                self.master = None;
                self.t_master_down = Some(now + self.master_down_interval());
            }
            _ => {}
        }
        if on {
            // Never takes over while in maintenance.
            self.t_master_down = None;
        }
    }

    fn shutdown(&mut self, release: bool, out: &mut Output) {
        match release {
            true => self.end_linger(LingerEnd::Left, out),
            false => self.t_linger = None,
        }
        if self.state == State::Master && release {
            self.send_advert(0, out);
            out.actions.push(Action::RemoveVips);
            self.stats.release_master += 1;
        }
        self.t_master_down = None;
        self.t_preempt_delay = None;
        self.clear_master_timers();
        self.set_state(State::Stop, Reason::Shutdown, out);
    }

    /// The VIPs kept on FAULT or on entering maintenance go.
    fn end_linger(&mut self, why: LingerEnd, out: &mut Output) {
        if self.t_linger.take().is_some() {
            out.notes.push(Note::LingerEnded { why });
            out.actions.push(Action::RemoveVips);
        }
    }

    fn timers(&mut self, now: Instant, out: &mut Output) {
        let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
        if due(self.t_linger) {
            self.end_linger(LingerEnd::Bound, out);
        }
        match self.state {
            State::Master => {
                if let Some(t) = self.t_advert.filter(|t| *t <= now) {
                    self.send_advert(self.effective_priority, out);
                    // Keep the cadence unless the loop fell a whole interval behind.
                    let next = t + self.params.advert_int;
                    self.t_advert = Some(if next > now { next } else { now + self.params.advert_int });
                }
                if due(self.t_garp_second) {
                    self.t_garp_second = None;
                    out.actions.push(Action::SendGratuitous {
                        repeat: self.params.garp.master_repeat,
                    });
                }
                if due(self.t_garp_lower) {
                    self.t_garp_lower = None;
                    out.actions.push(Action::SendGratuitous {
                        repeat: self.params.garp.lower_prio_repeat,
                    });
                }
                if due(self.t_garp_refresh) {
                    self.t_garp_refresh = Some(now + self.params.garp.master_refresh);
                    out.actions.push(Action::SendGratuitous {
                        repeat: self.params.garp.master_refresh_repeat,
                    });
                }
            }
            State::Backup => {
                if due(self.t_preempt_delay) {
                    // From now on lower-priority adverts are discarded.
                    self.t_preempt_delay = None;
                    self.preempt_delay_expired = true;
                }
                if due(self.t_master_down) {
                    self.master_down(now, out);
                }
            }
            _ => {}
        }
    }

    fn master_down(&mut self, now: Instant, out: &mut Output) {
        if self.maintenance {
            self.t_master_down = None;
            return;
        }
        if self.in_group {
            // A sync group moves to MASTER only when every member wants to;
            // look again after one interval and the smallest skew, as
            // keepalived does.
            self.want_master = true;
            self.t_master_down =
                Some(now + self.params.advert_int + skew_time(self.params.version, 254, self.master_adver_interval));
            out.notes.push(Note::WantMaster);
            return;
        }
        let reason = match self.master {
            Some((from, 0)) => Reason::PriorityZero { from },
            _ if self.hold_released => Reason::HoldReleased,
            Some((from, priority)) if priority < self.effective_priority => Reason::Preempt { from, priority },
            _ => Reason::MasterDown,
        };
        self.become_master(now, reason, out);
    }

    /// Validates a received advertisement (RFC 9568 §7.1 order) and applies it.
    fn receive(&mut self, now: Instant, meta: RxMeta, payload: &[u8], out: &mut Output) {
        match self.validate(meta, payload) {
            Ok(p) => {
                self.stats.advert_rcvd += 1;
                let (priority, interval) = (p.priority(), p.interval());
                if priority == 0 {
                    self.stats.pri_zero_rcvd += 1;
                }
                match self.state {
                    State::Backup => {
                        if priority > 0 && self.params.linger == Linger::UntilAdvert {
                            self.end_linger(LingerEnd::MasterHeard(meta.src), out);
                        }
                        self.backup_rx(now, meta.src, priority, interval, out)
                    }
                    State::Master => self.master_rx(now, meta.src, priority, interval, out),
                    State::Fault if priority > 0 && self.params.linger == Linger::UntilAdvert => {
                        self.end_linger(LingerEnd::MasterHeard(meta.src), out)
                    }
                    _ => {}
                }
            }
            Err(error) => {
                self.stats.count(&error);
                out.notes.push(Note::Dropped { src: meta.src, error });
            }
        }
    }

    fn validate<'p>(&self, meta: RxMeta, payload: &'p [u8]) -> Result<AdvertPacket<'p>, RxError> {
        // A FAULT instance whose VIPs linger listens for the new master.
        let lingering = self.state == State::Fault && self.t_linger.is_some();
        if !matches!(self.state, State::Backup | State::Master) && !lingering {
            return Err(RxError::NotRunning);
        }
        let p = &self.params;
        // (1) TTL / hop limit. Unicast adverts may be routed: keepalived
        // checks them only against a peer's min_ttl/max_ttl.
        if p.unicast_peers.is_empty() {
            if meta.ttl != 255 {
                return Err(RxError::Ttl {
                    got: meta.ttl,
                    expected: "255",
                });
            }
        } else {
            let peer = p.unicast_peers.iter().find(|x| x.addr == meta.src);
            match peer {
                Some(peer)
                    if peer.min_ttl.is_some_and(|m| meta.ttl < m) || peer.max_ttl.is_some_and(|m| meta.ttl > m) =>
                {
                    return Err(RxError::Ttl {
                        got: meta.ttl,
                        expected: "within the peer's min_ttl/max_ttl",
                    });
                }
                None if p.check_unicast_src => return Err(RxError::UnknownSource(meta.src)),
                _ => {}
            }
        }
        // (2)/(3) version and length.
        let pkt = AdvertPacket::new_checked(payload, p.family).map_err(|e| match e {
            super::packet::DecodeError::Version(v) => RxError::Version {
                got: v,
                configured: p.version.number(),
            },
            other => RxError::Decode(other),
        })?;
        if pkt.version() != p.version {
            return Err(RxError::Version {
                got: pkt.version().number(),
                configured: p.version.number(),
            });
        }
        // (4) checksum, in the configured form.
        if !pkt.checksum_ok(meta.src, meta.dst, p.checksum_mode) {
            return Err(RxError::Checksum);
        }
        // (5) VRID (routing chose us by it) and the owner rule: RFC
        // 5798 §7.1 has the owner ignore adverts; keepalived only in strict.
        if pkt.vrid() != p.vrid {
            return Err(RxError::Vrid(pkt.vrid()));
        }
        if p.owner_ignores_adverts && self.effective_priority == 255 {
            return Err(RxError::OwnerIgnores);
        }
        // (6) type.
        if let MessageType::Unknown(t) = pkt.kind() {
            return Err(RxError::Type(t));
        }
        if p.version == Version::V3 && pkt.interval_cs() == 0 {
            // RFC 5798 §5.2.7 gives no rule for 0; adopting it would make
            // Master_Down_Interval equal Skew_Time, 0 at that interval, and
            // the backup would flap (compat/DEVIATIONS.md).
            return Err(RxError::Interval {
                got: Duration::ZERO,
                configured: p.advert_int,
            });
        }
        if p.version == Version::V2 {
            let got = pkt.auth_type();
            if let AuthType::Unknown(t) = got {
                return Err(RxError::InvalidAuthType(t));
            }
            let (configured, data) = p.auth.unwrap_or((AuthType::None, [0; 8]));
            if got != configured {
                return Err(RxError::AuthTypeMismatch { got, configured });
            }
            if configured == AuthType::Pass && pkt.auth_data() != data {
                return Err(RxError::AuthFailure);
            }
            // (7) v2: the interval must equal ours (RFC 3768 §7.1).
            if pkt.interval() != p.advert_int {
                return Err(RxError::Interval {
                    got: pkt.interval(),
                    configured: p.advert_int,
                });
            }
        }
        // (8) the address list; keepalived's skip_check_adv_addr skips it
        // for adverts from the master it already knows.
        let skip = p.skip_check_adv_addr && self.master.is_some_and(|(src, _)| src == meta.src);
        if !skip && !self.addresses_match(&pkt) && pkt.priority() != 255 {
            return Err(RxError::AddressList);
        }
        Ok(pkt)
    }

    fn addresses_match(&self, pkt: &AdvertPacket<'_>) -> bool {
        usize::from(pkt.count()) == self.params.vips.len() && pkt.addresses().all(|a| self.params.vips.contains(&a))
    }

    /// RFC 5798 §6.4.2 with keepalived's rules (reference §3.3).
    fn backup_rx(&mut self, now: Instant, src: IpAddr, priority: u8, interval: Duration, out: &mut Output) {
        if self.want_master && priority != 0 && priority >= self.effective_priority {
            self.want_master = false;
        }
        if priority == 0 {
            // The master is stepping down: take over after Skew_Time.
            self.t_master_down = (!self.maintenance).then(|| now + self.skew_time());
            self.master = Some((src, 0));
            self.master_seen = Some(now);
            out.notes.push(Note::PriorityZeroReceived { from: src });
            return;
        }
        let lower = priority < self.effective_priority;
        let accept = !lower || self.params.nopreempt || self.preempt_hold || self.preempt_delay_allows(now);
        if !accept {
            // A lower-priority master while we may preempt: discard, so
            // the down timer runs out and we take over.
            self.master = Some((src, priority));
            self.master_seen = Some(now);
            out.notes.push(Note::LowerPriorityDiscarded { from: src, priority });
            return;
        }
        if !lower {
            self.t_preempt_delay = None;
            self.preempt_delay_expired = false;
        }
        if self.params.version == Version::V3 {
            // RFC 5798 §6.4.2: learn the master's interval.
            self.master_adver_interval = interval;
        }
        self.master = Some((src, priority));
        self.master_seen = Some(now);
        self.hold_released = false;
        self.t_master_down = (!self.maintenance).then(|| now + self.master_down_interval());
    }

    /// keepalived's preempt_delay: starts at the first lower-priority
    /// advert; until it expires, such adverts are accepted.
    fn preempt_delay_allows(&mut self, now: Instant) -> bool {
        if self.params.preempt_delay.is_zero() || self.preempt_delay_expired {
            return false;
        }
        match self.t_preempt_delay {
            None => {
                self.t_preempt_delay = Some(now + self.params.preempt_delay);
                true
            }
            Some(t) => now < t,
        }
    }

    /// A master leaving MASTER to `src` learns it (RFC 5798 §6.4.2: and
    /// its interval, in v3).
    fn learn_master(&mut self, now: Instant, src: IpAddr, priority: u8, interval: Duration) {
        if self.params.version == Version::V3 {
            self.master_adver_interval = interval;
        }
        self.master = Some((src, priority));
        self.master_seen = Some(now);
    }

    /// RFC 5798 §6.4.3 with keepalived's rules (reference §3.4).
    fn master_rx(&mut self, now: Instant, src: IpAddr, priority: u8, interval: Duration, out: &mut Output) {
        let ours = self.effective_priority;
        if priority == 0 {
            self.send_advert(ours, out);
            self.t_advert = Some(now + self.params.advert_int);
            return;
        }
        if priority == 255 && ours == 255 {
            // Two owners: a configuration error. keepalived lowers its own
            // priority to 254 so that one of them yields.
            out.notes.push(Note::ConflictingOwner { from: src });
            self.params.priority = 254;
            self.effective_priority = 254;
        }
        let ours = self.effective_priority;
        if self.stance == Stance::Yield {
            // The other master may have written what our server lacks:
            // give way whatever the priorities, and stay held as BACKUP
            // (the guard releases the hold once caught up). No priority 0:
            // the other is MASTER already.
            self.learn_master(now, src, priority, interval);
            self.preempt_hold = true;
            self.leave_master(now, State::Backup, Reason::Yielded { from: src, priority }, false, out);
            return;
        }
        let higher_addr = match self.local_addr {
            Some(local) => src > local,
            // Without a known own address, yield: never two masters.
            None => true,
        };
        let outranked = priority > ours || (priority == ours && higher_addr);
        if outranked && self.stance == Stance::Keep {
            // Its server lacks our writes: stay MASTER. No advert in reply,
            // so two keepers never answer each other's adverts in a loop.
            if !std::mem::replace(&mut self.kept_noted, true) {
                out.notes.push(Note::KeptMaster { from: src, priority });
            }
            return;
        }
        if outranked {
            if self.params.higher_prio_send_advert {
                self.send_advert(ours, out);
            }
            self.learn_master(now, src, priority, interval);
            self.leave_master(
                now,
                State::Backup,
                Reason::Preempted { from: src, priority },
                false,
                out,
            );
            return;
        }
        // A lower-priority master exists: reassert ourselves.
        if !self.params.lower_prio_no_advert {
            self.send_advert(ours, out);
        }
        let g = self.params.garp;
        if g.lower_prio_repeat > 0 {
            out.actions.push(Action::SendGratuitous {
                repeat: g.lower_prio_repeat,
            });
            if !g.lower_prio_delay.is_zero() {
                self.t_garp_lower = Some(now + g.lower_prio_delay);
            }
        }
        out.actions.push(Action::MasterRxLowerPri { from: src, priority });
    }
}
