//! Tracker wiring, without I/O: which objects an instance tracks (with
//! which weight), and what makes a check "the same check" across a reload.
//! keepalived's rules: an instance tracks its own interface (and VMAC)
//! unless `dont_track_primary`, the interfaces its VIPs name unless
//! `no_track`, and what it and its sync group list.

use std::collections::HashMap;
use std::time::Duration;

use crate::config::model::{Config, SyncGroup, TrackRef, VrrpInstance};
use crate::track::ObjId;
use crate::vrrp::{InstanceId, Router};

use super::slot::Slot;

/// The kinds of objects, as the daemon runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckKind {
    Script,
    File,
    Process,
    Mysql,
    Plugin,
}

impl CheckKind {
    pub fn label(self) -> &'static str {
        match self {
            CheckKind::Script => "vrrp_script",
            CheckKind::File => "track_file",
            CheckKind::Process => "vrrp_track_process",
            CheckKind::Mysql => "check_mysql",
            CheckKind::Plugin => "check_plugin",
        }
    }
}

/// One object an instance wants to track, before it has an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    Interface {
        name: String,
        weight: i32,
        reverse: bool,
    },
    /// A `track_script` name: a vrrp_script, check_mysql or check_plugin.
    Script {
        name: String,
        weight: i32,
        reverse: bool,
    },
    File {
        name: String,
        weight: i32,
        reverse: bool,
    },
    Process {
        name: String,
        weight: i32,
        reverse: bool,
    },
}

fn from_ref(r: &TrackRef) -> (String, i32, bool) {
    (r.name.clone(), r.weight.unwrap_or(0), r.reverse.unwrap_or(false))
}

/// The objects instance `cfg` tracks; `vmac` names its VMAC interface.
pub fn wants(cfg: &VrrpInstance, ifname: &str, vmac: Option<&str>, group: Option<&SyncGroup>) -> Vec<Want> {
    let mut out = Vec::new();
    let iface = |name: &str, weight: i32, reverse: bool| Want::Interface {
        name: name.to_string(),
        weight,
        reverse,
    };
    if !cfg.dont_track_primary {
        out.push(iface(ifname, 0, false));
        if let Some(v) = vmac {
            out.push(iface(v, 0, false));
        }
    }
    for v in cfg.vips.iter().chain(&cfg.excluded_vips) {
        if let (Some(dev), false) = (&v.dev, v.no_track) {
            if dev != ifname {
                out.push(iface(dev, 0, false));
            }
        }
    }
    let gi = group.map(|g| g.track_interfaces.as_slice()).unwrap_or(&[]);
    for ti in cfg.track_interfaces.iter().chain(gi) {
        out.push(iface(&ti.name, ti.weight, ti.reverse));
    }
    let lists = |own: &[TrackRef], of_group: Option<&[TrackRef]>| -> Vec<(String, i32, bool)> {
        own.iter().chain(of_group.unwrap_or(&[])).map(from_ref).collect()
    };
    for (name, weight, reverse) in lists(&cfg.track_scripts, group.map(|g| g.track_scripts.as_slice())) {
        out.push(Want::Script { name, weight, reverse });
    }
    for (name, weight, reverse) in lists(&cfg.track_files, group.map(|g| g.track_files.as_slice())) {
        out.push(Want::File { name, weight, reverse });
    }
    for (name, weight, reverse) in lists(&cfg.track_processes, group.map(|g| g.track_processes.as_slice())) {
        out.push(Want::Process { name, weight, reverse });
    }
    out
}

/// Which instances use each tracked object.
pub fn users(router: &Router<Slot>) -> HashMap<ObjId, Vec<InstanceId>> {
    let mut users: HashMap<ObjId, Vec<InstanceId>> = HashMap::new();
    for (id, _, s) in router.iter() {
        for r in &s.refs {
            let u = users.entry(r.obj).or_default();
            if !u.contains(&id) {
                u.push(id);
            }
        }
    }
    users
}

/// A check as defined in the configuration: `identity` is everything a
/// running check depends on; rise, fall and init_fail only set the
/// counter's limits and change in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckDef {
    pub kind: CheckKind,
    pub name: String,
    pub identity: String,
    pub rise: u32,
    pub fall: u32,
    pub init_fail: bool,
}

fn secs(d: Duration) -> String {
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

/// The definition of the check a `track_script` / `track_file` /
/// `track_process` line names (`script`: track_script lines).
pub fn check_def(config: &Config, want: &Want) -> Option<CheckDef> {
    match want {
        Want::Interface { .. } => None,
        Want::Script { name, .. } => {
            if let Some(m) = config.check_mysql.iter().find(|m| &m.name == name) {
                let c = &m.common;
                let mut s = m.settings.clone();
                // A password is part of the identity without being kept in clear.
                s.password = s.password.map(|p| format!("{:x}", fnv(&p)));
                s.peer_password = s.peer_password.map(|p| format!("{:x}", fnv(&p)));
                return Some(CheckDef {
                    kind: CheckKind::Mysql,
                    name: name.clone(),
                    identity: format!("{s:?} {} {}", secs(c.interval), secs(c.timeout)),
                    rise: c.rise,
                    fall: c.fall,
                    init_fail: c.init_fail,
                });
            }
            if let Some(p) = config.check_plugins.iter().find(|p| &p.name == name) {
                let c = &p.common;
                return Some(CheckDef {
                    kind: CheckKind::Plugin,
                    name: name.clone(),
                    identity: format!(
                        "{} {} {} {} {}",
                        p.plugin,
                        p.isolate,
                        p.config_json,
                        secs(c.interval),
                        secs(c.timeout)
                    ),
                    rise: c.rise,
                    fall: c.fall,
                    init_fail: c.init_fail,
                });
            }
            let s = config.script(name)?;
            let user = s.script.user.as_ref().map(|u| (u.user.clone(), u.group.clone()));
            Some(CheckDef {
                kind: CheckKind::Script,
                name: name.clone(),
                identity: format!(
                    "{:?} {user:?} {} {}",
                    s.script.argv,
                    secs(s.interval),
                    secs(s.effective_timeout())
                ),
                rise: s.rise,
                fall: s.fall,
                init_fail: s.init_fail,
            })
        }
        Want::File { name, .. } => {
            let f = config.track_files.iter().find(|f| &f.name == name)?;
            Some(CheckDef {
                kind: CheckKind::File,
                name: name.clone(),
                identity: format!("{} {:?}", f.path.display(), f.init_file),
                rise: 1,
                fall: 1,
                init_fail: false,
            })
        }
        Want::Process { name, .. } => {
            let p = config.track_processes.iter().find(|p| &p.name == name)?;
            Some(CheckDef {
                kind: CheckKind::Process,
                name: name.clone(),
                identity: format!(
                    "{} {:?} {:?} {} {} {} {} {}",
                    p.process,
                    p.params,
                    p.param_match,
                    p.full_command,
                    p.quorum,
                    p.quorum_max,
                    secs(p.fork_delay),
                    secs(p.terminate_delay)
                ),
                rise: 1,
                fall: 1,
                init_fail: false,
            })
        }
    }
}

/// FNV-1a: a stable digest (std's hasher is seeded per process).
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_str, LoadOptions};

    fn config(text: &str) -> Config {
        load_str("t", text, &LoadOptions::default()).config
    }

    const SCRIPT: &str = "vrrp_script chk {\n script \"/bin/true a\"\n interval 2\n weight -10\n rise 3\n}\n";

    fn with(script: &str, inst_extra: &str) -> Config {
        config(&format!(
            "{script}vrrp_instance V {{\n interface eth0\n virtual_router_id 1\n track_script {{\n chk\n }}\n track_interface {{\n eth1 weight 5\n }}\n{inst_extra}\n virtual_ipaddress {{\n 10.0.0.1/24 dev eth2\n 10.0.0.2/24 dev eth3 no_track\n }}\n}}\n"
        ))
    }

    #[test]
    fn an_instance_tracks_its_interfaces_vip_devices_and_lists() {
        let c = with(SCRIPT, "");
        let w = wants(&c.instances[0], "eth0", Some("vrrp.1"), None);
        let names: Vec<String> = w.iter().map(|w| format!("{w:?}")).collect();
        assert_eq!(
            names,
            [
                r#"Interface { name: "eth0", weight: 0, reverse: false }"#,
                r#"Interface { name: "vrrp.1", weight: 0, reverse: false }"#,
                r#"Interface { name: "eth2", weight: 0, reverse: false }"#,
                r#"Interface { name: "eth1", weight: 5, reverse: false }"#,
                r#"Script { name: "chk", weight: -10, reverse: false }"#,
            ]
        );
        let c = with(SCRIPT, " dont_track_primary");
        assert!(!wants(&c.instances[0], "eth0", None, None)
            .iter()
            .any(|w| matches!(w, Want::Interface { name, .. } if name == "eth0")));
    }

    /// A change of weight or rise keeps the check; a change of what it
    /// runs does not.
    #[test]
    fn check_identity_ignores_weight_and_limits() {
        let id = |script: &str| {
            let c = with(script, "");
            let w = Want::Script {
                name: "chk".into(),
                weight: 0,
                reverse: false,
            };
            check_def(&c, &w).unwrap_or_else(|| panic!("no def"))
        };
        let base = id(SCRIPT);
        assert_eq!(base.kind, CheckKind::Script);
        assert_eq!((base.rise, base.fall), (3, 1));
        let weight = id(&SCRIPT.replace("weight -10", "weight -30"));
        let rise = id(&SCRIPT.replace("rise 3", "rise 5"));
        assert_eq!(weight, base);
        assert_eq!(rise.identity, base.identity);
        assert_ne!(rise.rise, base.rise);
        assert_ne!(
            id(&SCRIPT.replace("/bin/true a", "/bin/true b")).identity,
            base.identity
        );
        assert_ne!(id(&SCRIPT.replace("interval 2", "interval 3")).identity, base.identity);
    }
}
