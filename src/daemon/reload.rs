//! The reload plan, without I/O: from the running instances and checks
//! and the new configuration, what to keep, change, create and retire.
//!
//! An instance keeps its identity by name; a change of interface, VRID,
//! version, family or VMAC retires it and creates it anew, any other
//! change applies in place with state, sockets and timers kept. A check
//! is the same check while its kind and what it runs are unchanged (its
//! weight is the instance's business; new rise/fall limits apply in place).

use crate::config::model::{Family, GlobalDefs, VrrpInstance};
use crate::track::ObjId;
use crate::vrrp::InstanceId;

use super::effects::Addresses;
use super::tracking::CheckDef;

/// What survives of an instance across a reload.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Identity {
    interface: Option<String>,
    vrid: u8,
    version: u8,
    family: Family,
    vmac: Option<String>,
}

fn identity(i: &VrrpInstance) -> Identity {
    Identity {
        interface: i.interface.clone(),
        vrid: i.vrid,
        version: i.version,
        family: i.family,
        vmac: i.vmac.as_ref().map(|v| v.name.clone()),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceStep {
    /// Retire the running instance (removed, or its identity changed).
    Retire { old: InstanceId },
    /// Keep the running instance as the new configuration's `new`-th;
    /// `changed`: its settings differ and apply in place.
    Keep { old: InstanceId, new: usize, changed: bool },
    /// Create the new configuration's `new`-th instance.
    Create { new: usize },
}

/// Retirements first (they release addresses a new instance may take),
/// then the new configuration's instances in their order.
pub fn instances(old: &[(InstanceId, &VrrpInstance)], new: &[VrrpInstance]) -> Vec<InstanceStep> {
    let mut steps = Vec::new();
    let mut kept: Vec<Option<(InstanceId, bool)>> = vec![None; new.len()];
    for &(id, cfg) in old {
        match new.iter().position(|n| n.name == cfg.name) {
            Some(i) if identity(&new[i]) == identity(cfg) => {
                kept[i] = Some((id, !same_settings(cfg, &new[i])));
            }
            _ => steps.push(InstanceStep::Retire { old: id }),
        }
    }
    for (i, k) in kept.into_iter().enumerate() {
        steps.push(match k {
            Some((old, changed)) => InstanceStep::Keep { old, new: i, changed },
            None => InstanceStep::Create { new: i },
        });
    }
    steps
}

/// Equal but for where things are written (spans).
fn same_settings(a: &VrrpInstance, b: &VrrpInstance) -> bool {
    spanless(a) == spanless(b)
}

/// The instance's settings with every span blanked.
fn spanless(i: &VrrpInstance) -> String {
    let text = format!("{i:?}");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find("Span {") {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let end = rest.find('}').map(|e| e + 1).unwrap_or(rest.len());
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckStep {
    /// The same check: its task and result stay.
    Keep {
        obj: ObjId,
    },
    /// The same check with new rise/fall limits: result kept.
    Limits {
        obj: ObjId,
        def: CheckDef,
    },
    /// The check changed: stop the old one, start it anew.
    Replace {
        obj: ObjId,
        def: CheckDef,
    },
    Start {
        def: CheckDef,
    },
    Stop {
        obj: ObjId,
    },
}

/// Running checks against the checks the new configuration uses.
pub fn checks(old: &[(ObjId, &CheckDef)], new: &[CheckDef]) -> Vec<CheckStep> {
    let mut steps = Vec::new();
    for &(obj, o) in old {
        if !new.iter().any(|n| n.name == o.name && n.kind == o.kind) {
            steps.push(CheckStep::Stop { obj });
        }
    }
    for n in new {
        let step = match old.iter().find(|(_, o)| o.name == n.name && o.kind == n.kind) {
            None => CheckStep::Start { def: n.clone() },
            Some(&(obj, o)) if o.identity != n.identity => CheckStep::Replace { obj, def: n.clone() },
            Some(&(obj, o)) if o != n => CheckStep::Limits { obj, def: n.clone() },
            Some(&(obj, _)) => CheckStep::Keep { obj },
        };
        steps.push(step);
    }
    steps
}

/// A kept MASTER's addresses when its configuration changed: what to
/// remove and what to add (what stays is not touched).
pub fn address_diff(old: &Addresses, new: &Addresses) -> (Addresses, Addresses) {
    let key = |(i, s): &(u32, crate::net::netlink::AddressSpec)| (*i, s.addr, s.prefix);
    let remove = Addresses {
        addrs: old
            .addrs
            .iter()
            .filter(|a| !new.addrs.iter().any(|b| key(b) == key(a)))
            .cloned()
            .collect(),
        routes: old.routes.iter().filter(|r| !new.routes.contains(r)).cloned().collect(),
        rules: old.rules.iter().filter(|r| !new.rules.contains(r)).cloned().collect(),
    };
    let add = Addresses {
        addrs: new
            .addrs
            .iter()
            .filter(|a| !old.addrs.iter().any(|b| key(b) == key(a)))
            .cloned()
            .collect(),
        routes: new.routes.iter().filter(|r| !old.routes.contains(r)).cloned().collect(),
        rules: new.rules.iter().filter(|r| !old.rules.contains(r)).cloned().collect(),
    };
    (remove, add)
}

/// The global_defs a running daemon reads at start-up only: the new
/// configuration gets the running values back (what runs is what the dumps
/// and the next reload see), and the names of those it tried to change are
/// returned, for the reload to say so.
pub fn keep_start_only(old: &GlobalDefs, new: &mut GlobalDefs) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if new.metrics_listen != old.metrics_listen {
        new.metrics_listen = old.metrics_listen;
        changed.push("metrics_listen");
    }
    if new.control_socket != old.control_socket {
        new.control_socket.clone_from(&old.control_socket);
        changed.push("control_socket");
    }
    if new.control_socket_group != old.control_socket_group {
        new.control_socket_group.clone_from(&old.control_socket_group);
        changed.push("control_socket_group");
    }
    if new.state_dir != old.state_dir {
        new.state_dir.clone_from(&old.state_dir);
        changed.push("state_dir");
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_str, LoadOptions};
    use crate::daemon::params;
    use crate::daemon::tracking::CheckKind;
    use crate::vrrp::Router;

    #[test]
    fn a_reload_names_the_start_only_settings_it_cannot_apply() {
        let global = |text: &str| load_str("t", text, &LoadOptions::default()).config.global;
        let old = global("global_defs {\n metrics_listen 127.0.0.1:9165\n}\n");
        assert!(keep_start_only(&old, &mut old.clone()).is_empty());
        let mut new = global("global_defs {\n metrics_listen 127.0.0.1:9166\n state_dir /var/lib/other\n}\n");
        assert_eq!(keep_start_only(&old, &mut new), ["metrics_listen", "state_dir"]);
    }

    fn instances_of(text: &str) -> Vec<VrrpInstance> {
        load_str("t", text, &LoadOptions::default()).config.instances
    }

    fn inst(name: &str, vrid: u8, prio: u8, vip: &str) -> String {
        format!(
            "vrrp_instance {name} {{\n interface eth0\n virtual_router_id {vrid}\n priority {prio}\n virtual_ipaddress {{\n {vip}\n }}\n}}\n"
        )
    }

    fn ids(n: usize) -> Vec<InstanceId> {
        let mut r: Router<()> = Router::new();
        (0..n)
            .map(|_| {
                r.add_instance(crate::vrrp::Params::new(
                    "x",
                    1,
                    100,
                    crate::vrrp::Version::V2,
                    Vec::new(),
                ))
            })
            .collect()
    }

    fn plan(old: &str, new: &str) -> Vec<InstanceStep> {
        let old = instances_of(old);
        let ids = ids(old.len());
        let pairs: Vec<(InstanceId, &VrrpInstance)> = ids.into_iter().zip(old.iter()).collect();
        instances(&pairs, &instances_of(new))
    }

    #[test]
    fn unchanged_instances_are_kept_as_they_are() {
        let cfg = inst("VI_1", 1, 100, "10.0.0.1") + &inst("VI_2", 2, 100, "10.0.0.2");
        // The same file with lines moved: only spans differ.
        let moved = format!(
            "\n\n{}",
            inst("VI_2", 2, 100, "10.0.0.2") + &inst("VI_1", 1, 100, "10.0.0.1")
        );
        let steps = plan(&cfg, &moved);
        let o = ids(2);
        assert_eq!(
            steps,
            [
                InstanceStep::Keep {
                    old: o[1],
                    new: 0,
                    changed: false
                },
                InstanceStep::Keep {
                    old: o[0],
                    new: 1,
                    changed: false
                }
            ]
        );
    }

    /// The case of the issue: removing VI_2 keeps VI_1 exactly.
    #[test]
    fn removing_one_instance_retires_it_and_keeps_the_other() {
        let both = inst("VI_1", 1, 100, "10.0.0.1") + &inst("VI_2", 2, 100, "10.0.0.2");
        let o = ids(2);
        assert_eq!(
            plan(&both, &inst("VI_1", 1, 100, "10.0.0.1")),
            [
                InstanceStep::Retire { old: o[1] },
                InstanceStep::Keep {
                    old: o[0],
                    new: 0,
                    changed: false
                }
            ]
        );
    }

    #[test]
    fn identity_changes_recreate_other_changes_apply_in_place() {
        let o = ids(1);
        let base = inst("VI_1", 1, 100, "10.0.0.1");
        assert_eq!(
            plan(&base, &inst("VI_1", 2, 100, "10.0.0.1")),
            [InstanceStep::Retire { old: o[0] }, InstanceStep::Create { new: 0 }],
            "a new VRID is a new instance"
        );
        assert_eq!(
            plan(&base, &inst("VI_1", 1, 90, "10.0.0.1")),
            [InstanceStep::Keep {
                old: o[0],
                new: 0,
                changed: true
            }]
        );
        assert_eq!(
            plan(&base, &inst("VI_1", 1, 100, "10.0.0.9")),
            [InstanceStep::Keep {
                old: o[0],
                new: 0,
                changed: true
            }]
        );
        assert_eq!(
            plan(&base, &(base.clone() + &inst("VI_3", 3, 100, "10.0.0.3"))),
            [
                InstanceStep::Keep {
                    old: o[0],
                    new: 0,
                    changed: false
                },
                InstanceStep::Create { new: 1 }
            ]
        );
    }

    fn def(name: &str, identity: &str, rise: u32) -> CheckDef {
        CheckDef {
            kind: CheckKind::Script,
            name: name.into(),
            identity: identity.into(),
            rise,
            fall: 1,
            init_fail: false,
        }
    }

    #[test]
    fn checks_are_kept_limited_replaced_started_and_stopped() {
        let mut t = crate::track::Tracker::new();
        let (a, b, c) = (
            t.add_check("a", 1, 1, false),
            t.add_check("b", 1, 1, false),
            t.add_check("c", 1, 1, false),
        );
        let (da, db, dc) = (def("a", "x", 1), def("b", "y", 1), def("c", "z", 1));
        let old = [(a, &da), (b, &db), (c, &dc)];
        let new = [def("a", "x", 1), def("b", "y", 4), def("c", "z2", 1), def("d", "w", 1)];
        assert_eq!(
            checks(&old, &new),
            [
                CheckStep::Keep { obj: a },
                CheckStep::Limits {
                    obj: b,
                    def: new[1].clone()
                },
                CheckStep::Replace {
                    obj: c,
                    def: new[2].clone()
                },
                CheckStep::Start { def: new[3].clone() },
            ]
        );
        assert_eq!(
            checks(&old, &new[..1]),
            [
                CheckStep::Stop { obj: b },
                CheckStep::Stop { obj: c },
                CheckStep::Keep { obj: a }
            ]
        );
    }

    #[test]
    fn a_masters_address_change_touches_only_the_difference() {
        let a = instances_of(&inst("V", 1, 100, "10.0.0.1"));
        let mut b_text = inst("V", 1, 100, "10.0.0.1");
        b_text = b_text.replace(" 10.0.0.1\n", " 10.0.0.1\n 10.0.0.2\n");
        let b = instances_of(&b_text);
        let old = params::addresses(&a[0], 2, |_| None);
        let new = params::addresses(&b[0], 2, |_| None);
        let (remove, add) = address_diff(&old, &new);
        assert!(remove.is_empty());
        assert_eq!(add.addrs.len(), 1);
        assert_eq!(
            add.addrs[0].1.addr,
            "10.0.0.2".parse::<std::net::IpAddr>().unwrap_or_else(|_| panic!())
        );
        let (remove, add) = address_diff(&new, &old);
        assert_eq!((remove.addrs.len(), add.is_empty()), (1, true));
    }
}
