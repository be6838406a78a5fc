//! From engine output to steps, without I/O: what to log (in keepalived's
//! words, so log filters keep working), what to send, which addresses to
//! install or remove, which gratuitous ARPs to announce, which notify
//! scripts to run. The protocol loop carries the steps out in order.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use crate::config::model::SyncGroup;
use crate::vrrp::{Action, InstanceId, Linger, LingerEnd, Note, Reason, Router, RouterOutput, State};

use super::effects::{Addresses, Burst};
use super::notify::{Notice, Subject};
use super::slot::Slot;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Log(Level, String),
    Send {
        priority: u8,
    },
    Install(Addresses),
    Remove(Addresses),
    Gratuitous(Burst),
    Notify(Box<Notice>),
    /// The VIPs are now installed (true) or removed.
    SetVips(bool),
    /// The instance changed state: note it in its journal.
    Transitioned {
        from: State,
        to: State,
        priority: u8,
        reason: Reason,
    },
    /// "no source address" was logged; not again until one appears.
    WarnedNoSource,
    /// Watch the LAN until another host announces one of these VIPs.
    WatchAnnouncements(AnnouncementWatch),
}

/// A FAULT instance keeping its VIPs waits for the new master's
/// gratuitous ARP on the VIPs' interface, at most until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnouncementWatch {
    pub ifindex: u32,
    pub mac: [u8; 6],
    pub addrs: Vec<std::net::Ipv4Addr>,
    pub until: std::time::Instant,
}

fn log(level: Level, s: String) -> Step {
    Step::Log(level, s)
}

/// Gaps between successive gratuitous ARPs / NAs (`vrrp_garp_interval`,
/// `vrrp_gna_interval`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gaps {
    pub v4: Duration,
    pub v6: Duration,
}

/// The steps for one call's output: state changes are logged first (as
/// keepalived logs "Entering MASTER STATE" before "setting VIPs"), then
/// each action in order, then the notes.
pub fn translate(out: &RouterOutput, router: &Router<Slot>, gaps: Gaps) -> Vec<(InstanceId, Step)> {
    let mut steps = Vec::with_capacity(out.actions.len() + out.notes.len());
    for (id, a) in &out.actions {
        if let (
            Some(s),
            Action::StateChange {
                from,
                to,
                priority,
                reason,
            },
        ) = (router.data(*id), a)
        {
            for st in transition_logs(s.name(), *from, *to, *priority, *reason) {
                steps.push((*id, st));
            }
        }
    }
    let mut one = Vec::new();
    for (id, a) in &out.actions {
        if let Some((inst, slot)) = router.get(*id) {
            push_action_steps(a, slot, inst.effective_priority(), gaps, &mut one);
            steps.extend(one.drain(..).map(|st| (*id, st)));
        }
    }
    for (id, n) in &out.notes {
        if let Some((inst, slot)) = router.get(*id) {
            steps.push((*id, note_step(n, slot.name())));
            if let (Note::VipsLinger { bound }, Linger::UntilAnnounced) = (n, inst.params().linger) {
                steps.push((*id, Step::WatchAnnouncements(announcement_watch(slot, *bound))));
            }
        }
    }
    steps
}

/// keepalived's log lines for a transition.
pub fn transition_logs(name: &str, from: State, to: State, priority: u8, reason: Reason) -> Vec<Step> {
    let mut out = Vec::new();
    match reason {
        // keepalived enters MASTER by its down timer in each of these.
        Reason::MasterDown | Reason::PriorityZero { .. } | Reason::Preempt { .. } | Reason::HoldReleased
            if to == State::Master =>
        {
            out.push(log(Level::Info, format!("({name}) Receive advertisement timeout")))
        }
        Reason::Maintenance => out.push(log(Level::Info, format!("({name}) maintenance: giving up MASTER"))),
        Reason::Yielded { from: src, priority: p } => out.push(log(
            Level::Warn,
            format!(
                "({name}) Master received advert from {src} with priority {p}, ours {priority}; giving way: \
                 check_mysql's guard says that master's server may hold writes ours lacks"
            ),
        )),
        Reason::Preempted { from: src, priority: p } if p == priority => out.push(log(
            Level::Info,
            format!(
                "({name}) Master received advert from {src} with same priority {p} but higher IP address than ours"
            ),
        )),
        Reason::Preempted { from: src, priority: p } => out.push(log(
            Level::Info,
            format!("({name}) Master received advert from {src} with higher priority {p}, ours {priority}"),
        )),
        _ => {}
    }
    out.push(log(
        Level::Info,
        match (to, reason) {
            (State::Backup, Reason::Startup) => format!("({name}) Entering BACKUP STATE (init)"),
            (State::Stop, _) => format!("({name}) Stopped ({} before)", from.name()),
            _ => format!("({name}) Entering {} STATE", to.name()),
        },
    ));
    out
}

/// The steps of one action of an instance whose effective priority is
/// `ours`.
pub fn action_steps(a: &Action, slot: &Slot, ours: u8, gaps: Gaps) -> Vec<Step> {
    let mut v = Vec::new();
    push_action_steps(a, slot, ours, gaps, &mut v);
    v
}

/// [`action_steps`] appended to `out`: a steady advert costs no
/// allocation.
pub fn push_action_steps(a: &Action, slot: &Slot, ours: u8, gaps: Gaps, out: &mut Vec<Step>) {
    let name = slot.name();
    match a {
        Action::SendAdvert { priority } => {
            if slot.tx.is_none() {
                if !slot.warned_no_src {
                    out.push(log(
                        Level::Warn,
                        format!("({name}) no source address on {}: adverts cannot be sent", slot.ifname),
                    ));
                    out.push(Step::WarnedNoSource);
                }
                return;
            }
            out.push(Step::Send { priority: *priority });
            if *priority == 0 {
                out.push(log(Level::Info, format!("({name}) sent 0 priority")));
            }
        }
        Action::AddVips => out.extend([
            log(Level::Info, format!("({name}) setting VIPs.")),
            Step::SetVips(true),
            Step::Install(slot.addresses.clone()),
        ]),
        Action::RemoveVips => out.extend([
            log(Level::Info, format!("({name}) removing VIPs.")),
            Step::SetVips(false),
            Step::Remove(slot.addresses.clone()),
        ]),
        Action::SendGratuitous { repeat } => {
            let addrs: Vec<IpAddr> = slot.announced();
            let Some(first) = addrs.first() else {
                return;
            };
            out.push(log(
                Level::Info,
                format!(
                    "({name}) Sending/queueing gratuitous ARPs on {} for {first}",
                    slot.vip_ifname
                ),
            ));
            out.push(Step::Gratuitous(Burst {
                ifindex: slot.vip_ifindex,
                mac: slot.mac,
                addrs,
                repeat: *repeat,
                gap_v4: gaps.v4,
                gap_v6: gaps.v6,
            }));
        }
        Action::StateChange {
            from,
            to,
            priority,
            reason,
        } => {
            out.push(Step::Transitioned {
                from: *from,
                to: *to,
                priority: *priority,
                reason: *reason,
            });
            out.extend(instance_notice(slot, *to, *priority).map(|n| Step::Notify(Box::new(n))));
        }
        Action::MasterRxLowerPri { from, priority } => out.extend([
            log(
                Level::Info,
                format!("({name}) Received advert from {from} with lower priority {priority}, ours {ours}, forcing new election"),
            ),
            Step::Notify(Box::new(Notice {
                subject: Subject::Instance,
                name: name.to_string(),
                state: "MASTER_RX_LOWER_PRI",
                priority: ours,
                specific: slot.cfg.notify.master_rx_lower_pri.clone(),
                generic: None,
            })),
        ]),
    }
}

fn announcement_watch(slot: &Slot, bound: Duration) -> AnnouncementWatch {
    AnnouncementWatch {
        ifindex: slot.vip_ifindex,
        mac: slot.mac,
        addrs: slot
            .cfg
            .vips
            .iter()
            .filter_map(|v| match v.addr {
                IpAddr::V4(a) => Some(a),
                IpAddr::V6(_) => None,
            })
            .collect(),
        until: std::time::Instant::now() + bound,
    }
}

pub fn note_step(n: &Note, name: &str) -> Step {
    match n {
        Note::LowerPriorityDiscarded { from, priority } => log(
            Level::Info,
            format!("({name}) received lower priority ({priority}) advert from {from} - discarding"),
        ),
        Note::PriorityZeroReceived { .. } => log(Level::Info, format!("({name}) Backup received priority 0 advertisement")),
        Note::WantMaster => log(Level::Debug, format!("({name}) wants MASTER; waiting for its sync group")),
        Note::Dropped { src, error } => log(Level::Debug, format!("({name}) dropped advert from {src}: {error}")),
        Note::KeptMaster { from, priority } => log(
            Level::Warn,
            format!(
                "({name}) Master received advert from {from} with higher priority {priority}; staying MASTER: \
                 check_mysql's guard says that master's server lacks writes made here"
            ),
        ),
        Note::VipsLinger { bound } => log(
            Level::Info,
            format!(
                "({name}) VIPs stay until another master is heard (refuse_on_fault), at most {:.3} s: \
                 clients get an answer meanwhile (a reset, or a read-only server), not a timeout",
                bound.as_secs_f64()
            ),
        ),
        Note::LingerEnded { why } => log(
            Level::Info,
            match why {
                LingerEnd::Announced(a) => format!("({name}) another host announced {a}; releasing the VIPs"),
                LingerEnd::MasterHeard(m) => format!("({name}) master {m} heard; releasing the VIPs"),
                LingerEnd::Bound => format!("({name}) no new master announced the VIPs in time; releasing them"),
                LingerEnd::Left => format!("({name}) releasing the VIPs kept after leaving MASTER"),
            },
        ),
        Note::ConflictingOwner { from } => log(
            Level::Error,
            format!("({name}) CONFIGURATION ERROR: {from} also claims to be the address owner (priority 255); lowering ours to 254"),
        ),
    }
}

/// The line that follows a logged drop when [`super::slot::LogThrottle`] had
/// held some back since the last one.
pub fn unlogged_drops_step(name: &str, unlogged: u64) -> Step {
    log(
        Level::Debug,
        format!(
            "({name}) {unlogged} more adverts dropped in the last {} s: counted by reason (status, metrics), not logged",
            super::slot::LogThrottle::QUIET.as_secs()
        ),
    )
}

/// The notification of an instance entering `to` (none for INIT).
pub fn instance_notice(slot: &Slot, to: State, priority: u8) -> Option<Notice> {
    let n = &slot.cfg.notify;
    let specific = match to {
        State::Master => n.master.clone(),
        State::Backup => n.backup.clone(),
        State::Fault => n.fault.clone(),
        State::Stop => n.stop.clone(),
        State::Init => return None,
    };
    Some(Notice {
        subject: Subject::Instance,
        name: slot.cfg.name.clone(),
        state: to.name(),
        priority,
        specific,
        generic: n.generic.clone(),
    })
}

/// The notification of a sync group entering `state` (groups report
/// priority 0, as keepalived).
pub fn group_notice(sg: &SyncGroup, state: &'static str) -> Notice {
    let n = &sg.notify;
    let specific = match state {
        "MASTER" => n.master.clone(),
        "BACKUP" => n.backup.clone(),
        "FAULT" => n.fault.clone(),
        "STOP" => n.stop.clone(),
        _ => None,
    };
    Notice {
        subject: Subject::Group,
        name: sg.name.clone(),
        state,
        priority: 0,
        specific,
        generic: n.generic.clone(),
    }
}

/// Sync groups report when the group as a whole changes state; `last`
/// remembers what each last reported.
pub fn group_steps(router: &Router<Slot>, groups: &[SyncGroup], last: &mut HashMap<String, State>) -> Vec<Step> {
    let mut out = Vec::new();
    for g in router.groups() {
        let state = router.group_state(g);
        if state == State::Init || last.get(&g.name) == Some(&state) {
            continue;
        }
        last.insert(g.name.clone(), state);
        let Some(sg) = groups.iter().find(|s| s.name == g.name) else {
            continue;
        };
        out.push(log(
            Level::Info,
            format!("({}) Sync group entering {} STATE", g.name, state.name()),
        ));
        out.push(Step::Notify(Box::new(group_notice(sg, state.name()))));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_str, LoadOptions};
    use crate::daemon::params;
    use crate::vrrp::{Event, Instance};
    use std::time::Instant;

    pub fn slot(extra: &str) -> Slot {
        let text = format!(
            "vrrp_instance VI_1 {{\n interface eth0\n virtual_router_id 1\n priority 100\n{extra}\n virtual_ipaddress {{\n 10.0.0.100/24\n }}\n}}\n"
        );
        let cfg = load_str("t", &text, &LoadOptions::default())
            .config
            .instances
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no instance"));
        Slot::for_test(cfg, 2)
    }

    fn router(extra: &str) -> (Router<Slot>, InstanceId) {
        let s = slot(extra);
        let mut r = Router::new();
        let id = r.add(Instance::new(params::engine_params(&s.cfg)), s);
        (r, id)
    }

    fn logs(steps: &[(InstanceId, Step)]) -> Vec<String> {
        steps
            .iter()
            .filter_map(|(_, s)| match s {
                Step::Log(_, t) => Some(t.clone()),
                _ => None,
            })
            .collect()
    }

    /// Becoming MASTER: keepalived's log order, then advert, addresses,
    /// gratuitous ARP and the notify scripts, in the engine's order.
    #[test]
    fn becoming_master_in_keepalived_order() {
        let (mut r, id) = router(" notify_master /bin/true\n notify /bin/echo");
        let t0 = Instant::now();
        let mut out = RouterOutput::default();
        r.handle(
            t0,
            id,
            Event::LocalAddress(Some("10.0.0.1".parse().unwrap_or_else(|_| panic!()))),
            &mut out,
        );
        r.handle(t0, id, Event::Start, &mut out);
        let mdi = r.instance(id).map(|i| i.master_down_interval()).unwrap_or_default();
        let mut out = RouterOutput::default();
        r.handle(t0 + mdi, id, Event::Timer, &mut out);
        if let Some(s) = r.data_mut(id) {
            s.tx = None;
            s.warned_no_src = true;
        }
        let steps = translate(&out, &r, Gaps::default());
        assert_eq!(
            logs(&steps),
            [
                "(VI_1) Receive advertisement timeout",
                "(VI_1) Entering MASTER STATE",
                "(VI_1) setting VIPs.",
                "(VI_1) Sending/queueing gratuitous ARPs on eth0 for 10.0.0.100",
            ]
        );
        let kinds: Vec<&str> = steps
            .iter()
            .map(|(_, s)| match s {
                Step::Log(..) => "log",
                Step::Send { .. } => "send",
                Step::Install(_) => "install",
                Step::Remove(_) => "remove",
                Step::Gratuitous(_) => "garp",
                Step::Notify(_) => "notify",
                Step::SetVips(_) => "vips",
                Step::Transitioned { .. } => "transitioned",
                Step::WarnedNoSource => "warned",
                Step::WatchAnnouncements(_) => "watch",
            })
            .collect();
        // No socket and already warned: no advert step at all.
        assert_eq!(
            kinds,
            [
                "log",
                "log",
                "log",
                "vips",
                "install",
                "log",
                "garp",
                "transitioned",
                "notify"
            ]
        );
        let Some((_, Step::Notify(n))) = steps.iter().find(|(_, s)| matches!(s, Step::Notify(_))) else {
            panic!("no notify");
        };
        assert_eq!((n.state, n.priority), ("MASTER", 100));
        assert_eq!(n.specific.as_ref().map(|s| s.command.as_str()), Some("/bin/true"));
        assert_eq!(n.generic.as_ref().map(|s| s.command.as_str()), Some("/bin/echo"));
    }

    /// A priority-0 advert is logged as keepalived logs it; without a
    /// source address the warning is given once.
    /// refuse_on_fault over IPv4: a MASTER going to FAULT keeps its VIPs
    /// and watches their interface for the new master's announcement,
    /// until Master_Down_Interval at most.
    #[test]
    fn a_lingering_fault_watches_for_the_announcement() {
        let mut s = slot("");
        s.cfg.linger_on_fault = true;
        let mut r = Router::new();
        let id = r.add(Instance::new(params::engine_params(&s.cfg)), s);
        let t0 = Instant::now();
        let mut out = RouterOutput::default();
        r.handle(t0, id, Event::Start, &mut out);
        let mdi = r.instance(id).map(|i| i.master_down_interval()).unwrap_or_default();
        r.handle(t0 + mdi, id, Event::Timer, &mut out);
        let mut out = RouterOutput::default();
        let before = Instant::now();
        r.handle(t0 + mdi, id, Event::Fault(true), &mut out);
        let steps = translate(&out, &r, Gaps::default());
        let watch = steps.iter().find_map(|(_, s)| match s {
            Step::WatchAnnouncements(w) => Some(w.clone()),
            _ => None,
        });
        let w = watch.unwrap_or_else(|| panic!("no watch: {steps:?}"));
        assert_eq!(
            w.addrs,
            ["10.0.0.100".parse::<std::net::Ipv4Addr>().unwrap_or_else(|_| panic!())]
        );
        assert_eq!(w.ifindex, r.data(id).map(|s| s.vip_ifindex).unwrap_or_default());
        assert!(w.until >= before + mdi && w.until <= Instant::now() + mdi);
        assert!(
            !steps.iter().any(|(_, s)| matches!(s, Step::Remove(_))),
            "the VIPs stay"
        );
    }

    #[test]
    fn priority_zero_and_missing_source() {
        let mut s = slot("");
        let a = Action::SendAdvert { priority: 0 };
        let steps = action_steps(&a, &s, 100, Gaps::default());
        assert_eq!(
            steps,
            [
                Step::Log(
                    Level::Warn,
                    "(VI_1) no source address on eth0: adverts cannot be sent".into()
                ),
                Step::WarnedNoSource
            ]
        );
        s.warned_no_src = true;
        assert!(action_steps(&a, &s, 100, Gaps::default()).is_empty());
    }

    #[test]
    fn transitions_are_logged_in_keepalived_words() {
        let from: IpAddr = "10.0.0.3".parse().unwrap_or_else(|_| panic!());
        let text = |v: Vec<Step>| -> Vec<String> {
            v.into_iter()
                .map(|s| match s {
                    Step::Log(_, t) => t,
                    other => format!("{other:?}"),
                })
                .collect()
        };
        assert_eq!(
            text(transition_logs(
                "V",
                State::Master,
                State::Backup,
                100,
                Reason::Preempted { from, priority: 100 }
            )),
            [
                "(V) Master received advert from 10.0.0.3 with same priority 100 but higher IP address than ours",
                "(V) Entering BACKUP STATE"
            ]
        );
        assert_eq!(
            text(transition_logs("V", State::Init, State::Backup, 100, Reason::Startup)),
            ["(V) Entering BACKUP STATE (init)"]
        );
        assert_eq!(
            text(transition_logs("V", State::Master, State::Stop, 100, Reason::Shutdown)),
            ["(V) Stopped (MASTER before)"]
        );
    }

    /// A sync group reports once per state of the group as a whole.
    #[test]
    fn group_notices_once_per_group_state() {
        let l = load_str(
            "t",
            "vrrp_sync_group G {\n group {\n A\n B\n }\n notify_master /bin/true\n}\nvrrp_instance A {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 10.0.0.1\n }\n}\nvrrp_instance B {\n interface eth0\n virtual_router_id 2\n virtual_ipaddress {\n 10.0.0.2\n }\n}\n",
            &LoadOptions::default(),
        );
        let mut r: Router<Slot> = Router::new();
        let ids: Vec<InstanceId> = l
            .config
            .instances
            .iter()
            .map(|c| r.add(Instance::new(params::engine_params(c)), Slot::for_test(c.clone(), 2)))
            .collect();
        r.add_group("G", ids.clone());
        let mut last = HashMap::new();
        assert!(
            group_steps(&r, &l.config.sync_groups, &mut last).is_empty(),
            "INIT is not reported"
        );
        let t0 = Instant::now();
        for &id in &ids {
            let mut out = RouterOutput::default();
            r.handle(t0, id, Event::Start, &mut out);
        }
        let steps = group_steps(&r, &l.config.sync_groups, &mut last);
        assert!(
            matches!(&steps[1], Step::Notify(n) if n.state == "BACKUP" && n.priority == 0 && n.subject == Subject::Group)
        );
        assert!(
            group_steps(&r, &l.config.sync_groups, &mut last).is_empty(),
            "reported once"
        );
    }
}
