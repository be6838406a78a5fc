//! Checks of a configuration against this host: interfaces exist, script
//! users resolve, scripts are found and safe. Used by `-t` and at start-up,
//! so both agree on which scripts will run.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use crate::config::diag::{Class, Diagnostics, Severity};
use crate::config::model::{Config, ScriptSpec, UserSpec};
use crate::track::security::{self, RunAs, Verdict};

/// What the host offers; a trait so tests can describe a host.
pub trait Host {
    fn interface_exists(&self, name: &str) -> bool;
    /// How many CPUs the machine has (for `vrrp_cpu_affinity`).
    fn cpu_count(&self) -> u32;
    /// The subnets of an interface's addresses; `None` when unknown.
    fn interface_prefixes(&self, _name: &str) -> Option<Vec<(std::net::IpAddr, u8)>> {
        None
    }
    fn is_file(&self, path: &std::path::Path) -> bool {
        path.is_file()
    }
}

/// The machine (network namespace) this process runs in.
pub struct SystemHost;

impl Host for SystemHost {
    fn interface_exists(&self, name: &str) -> bool {
        nix::net::if_::if_nametoindex(name).is_ok()
    }

    fn interface_prefixes(&self, name: &str) -> Option<Vec<(std::net::IpAddr, u8)>> {
        let addrs = nix::ifaddrs::getifaddrs().ok()?;
        let mut out = Vec::new();
        for a in addrs.filter(|a| a.interface_name == name) {
            let (Some(addr), Some(mask)) = (a.address, a.netmask) else {
                continue;
            };
            if let (Some(ip), Some(m)) = (addr.as_sockaddr_in(), mask.as_sockaddr_in()) {
                out.push((std::net::IpAddr::V4(ip.ip()), u32::from(m.ip()).count_ones() as u8));
            } else if let (Some(ip), Some(m)) = (addr.as_sockaddr_in6(), mask.as_sockaddr_in6()) {
                out.push((std::net::IpAddr::V6(ip.ip()), u128::from(m.ip()).count_ones() as u8));
            }
        }
        Some(out)
    }

    fn cpu_count(&self) -> u32 {
        nix::unistd::sysconf(nix::unistd::SysconfVar::_NPROCESSORS_CONF)
            .ok()
            .flatten()
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(1)
    }
}

/// What the checks before start-up or a reload found, used by the daemon
/// as is: each plugin is loaded (in its helper) once, not twice.
#[derive(Debug, Default)]
pub struct Verdicts {
    pub scripts: Vec<ScriptCheck>,
    /// Per check_plugin name: its file and user, or why it is refused.
    pub plugins: HashMap<String, Result<(PathBuf, RunAs), String>>,
    /// What will not do what its author meant (`explain` names them).
    pub footguns: Vec<super::footguns::Footgun>,
}

/// A script the configuration runs, and whether it may run.
#[derive(Debug, Clone)]
pub struct ScriptCheck {
    /// Where it was configured, for messages: "vrrp_script chk", "notify_master of VI_1".
    pub role: String,
    /// A tracked check (its absence changes priorities), not a notifier.
    pub tracked: bool,
    pub spec: ScriptSpec,
    /// How to run it, or why it is disabled.
    pub outcome: Result<(RunAs, Option<PathBuf>), String>,
    /// It would run as root although it is not runnable (it exists but is
    /// not executable): keepalived's `-t` counts it as a script run as root.
    pub root_but_unrunnable: bool,
    /// Its default user could not be set: keepalived's `-t` counts this
    /// for every kind of script, notifiers included.
    pub user_unset: bool,
}

impl ScriptCheck {
    pub fn runnable(&self) -> bool {
        self.outcome.is_ok()
    }
}

/// `user [group]` as written, the key of the user-lookup cache.
type UserKey = (String, Option<String>);

/// Every script of the configuration with keepalived's checks applied.
/// User lookups and path checks are cached: configurations often run one
/// script per instance, as the same user.
fn check_scripts(c: &Config) -> Vec<ScriptCheck> {
    let g = &c.global;
    let mut users: HashMap<Option<UserKey>, Result<RunAs, String>> = HashMap::new();
    let mut verdicts: HashMap<(String, u32, u32), Verdict> = HashMap::new();
    let mut check_one = |role: String, tracked: bool, spec: &ScriptSpec, own_user: Option<&UserSpec>| {
        let user = own_user.or(spec.user.as_ref());
        let key = user.map(|u| (u.user.clone(), u.group.clone()));
        let who = users.entry(key).or_insert_with(|| security::run_as(user, g)).clone();
        let mut root_but_unrunnable = false;
        // keepalived's -t counts a default user it cannot set, not a
        // notifier's own unknown user.
        let user_unset = who.is_err() && user.is_none();
        let outcome = match who {
            Err(e) => Err(format!("cannot set the user for {role}: {e}; removed")),
            Ok(who) => {
                let verdict = verdicts
                    .entry((spec.argv[0].clone(), who.uid, who.gid))
                    .or_insert_with(|| security::check(&spec.argv[0], &who))
                    .clone();
                match verdict {
                    Verdict::Ok(path) => Ok((who, path)),
                    Verdict::NotFound(cmd) => Err(format!("{role}: cannot find script '{cmd}'; disabled")),
                    Verdict::NotExecutable { path, uid, gid } => {
                        root_but_unrunnable = uid == 0 || gid == 0;
                        Err(format!(
                            "{role}: '{}' is not executable for uid:gid {uid}:{gid}; disabled",
                            path.display()
                        ))
                    }
                    Verdict::Insecure { path, reason } => {
                        if g.enable_script_security {
                            Err(format!(
                                "{role}: unsafe permissions for '{}' ({reason}); disabled due to enable_script_security",
                                path.display()
                            ))
                        } else {
                            // keepalived runs it anyway and reports a violation.
                            Ok((who, Some(path)))
                        }
                    }
                }
            }
        };
        ScriptCheck {
            role,
            tracked,
            spec: spec.clone(),
            outcome,
            root_but_unrunnable,
            user_unset,
        }
    };
    let mut out = Vec::new();
    for s in &c.scripts {
        out.push(check_one(
            format!("vrrp_script {}", s.name),
            true,
            &s.script,
            s.script.user.as_ref(),
        ));
    }
    for i in &c.instances {
        for (kw, spec) in notify_list(&i.notify) {
            out.push(check_one(format!("{kw} of {}", i.name), false, spec, None));
        }
    }
    for sg in &c.sync_groups {
        for (kw, spec) in notify_list(&sg.notify) {
            out.push(check_one(format!("{kw} of sync group {}", sg.name), false, spec, None));
        }
    }
    for vs in &c.lvs.servers {
        for (kw, spec) in [("quorum_up", &vs.quorum_up), ("quorum_down", &vs.quorum_down)] {
            if let Some(spec) = spec {
                out.push(check_one(vs_role(kw, &vs.label()), false, spec, None));
            }
        }
        for rs in &vs.real_servers {
            let who = crate::config::lvs::rs_label(rs, vs.protocol);
            for (kw, spec) in [("notify_up", &rs.notify_up), ("notify_down", &rs.notify_down)] {
                if let Some(spec) = spec {
                    out.push(check_one(rs_role(kw, &who), false, spec, None));
                }
            }
            for ch in &rs.checkers {
                if let crate::config::lvs::CheckerKind::Misc { script, .. } = &ch.kind {
                    out.push(check_one(rs_role("MISC_CHECK", &who), false, script, None));
                }
            }
        }
    }
    for (kw, spec) in [
        ("startup_script", &g.startup_script),
        ("shutdown_script", &g.shutdown_script),
        ("notify_fifo_script", &g.notify_fifo_script),
        ("vrrp_notify_fifo_script", &g.vrrp_notify_fifo_script),
    ] {
        if let Some(spec) = spec {
            let mut s = check_one(kw.to_string(), false, spec, None);
            // keepalived's -t does not count a fifo script's unset default
            // user (seen with enable_script_security and no keepalived_script).
            s.user_unset &= !kw.contains("fifo");
            out.push(s);
        }
    }
    out
}

/// How an LVS script is named in messages and found again among the
/// verdicts: one spelling for both.
fn vs_role(kw: &str, label: &str) -> String {
    format!("{kw} of virtual server {label}")
}

fn rs_role(kw: &str, who: &str) -> String {
    format!("{kw} of real server {who}")
}

/// keepalived drops an LVS script it found unrunnable at start-up: a
/// MISC_CHECK whose script is missing leaves its real server with one
/// checker fewer (up, with none), and a missing notify_up just does not run.
pub fn drop_unrunnable_lvs_scripts(lvs: &mut crate::config::lvs::Lvs, scripts: &[ScriptCheck]) {
    let refused: HashSet<(&str, &[String])> = scripts
        .iter()
        .filter(|s| !s.runnable())
        .map(|s| (s.role.as_str(), s.spec.argv.as_slice()))
        .collect();
    if refused.is_empty() {
        return;
    }
    let gone = |role: &str, spec: &ScriptSpec| refused.contains(&(role, spec.argv.as_slice()));
    let clear = |role: String, slot: &mut Option<ScriptSpec>| {
        if slot.as_ref().is_some_and(|s| gone(&role, s)) {
            *slot = None;
        }
    };
    for vs in &mut lvs.servers {
        let label = vs.label();
        clear(vs_role("quorum_up", &label), &mut vs.quorum_up);
        clear(vs_role("quorum_down", &label), &mut vs.quorum_down);
        for rs in &mut vs.real_servers {
            let who = crate::config::lvs::rs_label(rs, vs.protocol);
            clear(rs_role("notify_up", &who), &mut rs.notify_up);
            clear(rs_role("notify_down", &who), &mut rs.notify_down);
            let role = rs_role("MISC_CHECK", &who);
            rs.checkers.retain(|ch| match &ch.kind {
                crate::config::lvs::CheckerKind::Misc { script, .. } => !gone(&role, script),
                _ => true,
            });
        }
    }
}

pub fn notify_list(n: &crate::config::model::Notifies) -> Vec<(&'static str, &ScriptSpec)> {
    [
        ("notify_master", &n.master),
        ("notify_backup", &n.backup),
        ("notify_fault", &n.fault),
        ("notify_stop", &n.stop),
        ("notify_deleted", &n.deleted),
        ("notify", &n.generic),
        ("notify_master_rx_lower_pri", &n.master_rx_lower_pri),
    ]
    .into_iter()
    .filter_map(|(k, s)| s.as_deref().map(|s| (k, s)))
    .collect()
}

/// Adds host diagnostics to `diags`; returns the script verdicts.
pub fn check(c: &Config, host: &dyn Host, diags: &mut Diagnostics) -> Verdicts {
    if let Some(u) = &c.global.script_user {
        if let Err(e) = security::lookup_user(u) {
            diags.error(
                u.span,
                format!("script_user: {e}; scripts without a user of their own cannot run"),
            );
        }
    }
    if !c.global.dynamic_interfaces {
        let mut reported = HashSet::new();
        let mut missing = |dev: Option<&String>, span, what: &dyn Fn(&str) -> String| {
            if let Some(dev) = dev {
                if !host.interface_exists(dev) && reported.insert(dev.clone()) {
                    diags.push(Severity::Error, Class::MissingInterface, Some(span), what(dev));
                }
            }
        };
        for i in &c.instances {
            missing(i.interface.as_ref(), i.span, &|d| {
                format!("interface {d} for vrrp_instance {} doesn't exist", i.name)
            });
            for t in &i.track_interfaces {
                missing(Some(&t.name), t.span, &|d| {
                    format!("tracked interface {d} of vrrp_instance {} doesn't exist", i.name)
                });
            }
        }
        let instances = || c.instances.iter();
        let addresses = instances().flat_map(|i| i.vips.iter().chain(&i.excluded_vips));
        for v in addresses.chain(&c.static_addresses) {
            missing(v.dev.as_ref(), v.span, &|d| {
                format!("interface {d} for IP address {} doesn't exist", v.addr)
            });
        }
        for r in instances().flat_map(|i| &i.routes).chain(&c.static_routes) {
            missing(r.dev.as_ref(), r.span, &|d| {
                format!("interface {d} for route doesn't exist")
            });
            for n in &r.nexthops {
                missing(n.dev.as_ref(), r.span, &|d| {
                    format!("interface {d} for route nexthop doesn't exist")
                });
            }
        }
        for r in instances().flat_map(|i| &i.rules).chain(&c.static_rules) {
            for dev in [&r.iif, &r.oif] {
                missing(dev.as_ref(), r.span, &|d| {
                    format!("interface {d} for rule doesn't exist")
                });
            }
        }
    }
    let cpus = host.cpu_count();
    for (cpu, span) in &c.global.vrrp_cpu_affinity {
        if *cpu >= cpus {
            diags.error(
                *span,
                format!(
                    "vrrp_cpu_affinity: CPU {cpu} outside range [0, {}]; ignored",
                    cpus.saturating_sub(1)
                ),
            );
        }
    }
    let mut plugins = HashMap::new();
    for p in &c.check_plugins {
        let verdict = crate::track::plugin::verify(p, &c.global);
        match &verdict {
            Ok(_) => {}
            Err(e @ crate::track::plugin::Refused::Insecure(_)) => diags.push(
                Severity::Error,
                Class::Security,
                Some(p.span),
                format!("check_plugin {}: {e}", p.name),
            ),
            Err(e) => diags.error(p.span, format!("check_plugin {}: {e}", p.name)),
        }
        plugins.insert(p.name.clone(), verdict.map_err(|e| e.to_string()));
    }
    let scripts = check_scripts(c);
    let mut unsafe_paths: HashMap<PathBuf, Option<String>> = HashMap::new();
    let mut unsecured = false;
    let mut insecure = false;
    for s in &scripts {
        match &s.outcome {
            // keepalived's -t says nothing of a missing notify script (it
            // only fails when run), but counts one that exists, unrunnable,
            // among the scripts run as root. A missing tracked script is an
            // error.
            Err(msg) if s.tracked || s.user_unset => diags.error(s.spec.span, msg.clone()),
            Err(msg) => {
                diags.note(s.spec.span, msg.clone());
                unsecured |= s.root_but_unrunnable && !c.global.enable_script_security;
            }
            // A `<…` redirect is no script file: keepalived 2.2.7 does not
            // count it (seen with `-t` and in its daemon's log).
            Ok((_, None)) => {}
            Ok((who, path)) => {
                // Any script, whatever its user: keepalived's daemon logs the
                // violation for a script run as nobody too.
                unsecured |= !c.global.enable_script_security;
                if !c.global.enable_script_security && (who.uid == 0 || who.gid == 0) {
                    if let Some(p) = path {
                        if let Some(reason) = unsafe_paths
                            .entry(p.clone())
                            .or_insert_with(|| security::unsafe_component(p))
                        {
                            insecure = true;
                            diags.warning(
                                s.spec.span,
                                format!("{}: unsafe permissions for '{}' ({reason})", s.role, p.display()),
                            );
                        }
                    }
                }
            }
        }
    }
    if unsecured {
        let more = if insecure { " There are insecure scripts." } else { "" };
        // About the configuration as a whole: named by its main file.
        diags.push(
            Severity::Error,
            Class::Security,
            Some(crate::config::diag::Span::whole(crate::config::diag::FileId(0))),
            format!("SECURITY VIOLATION - scripts are being executed but enable_script_security is not set.{more}"),
        );
    }
    let footguns = super::footguns::find(c, host, &scripts);
    super::footguns::report(&footguns, diags);
    Verdicts {
        scripts,
        plugins,
        footguns,
    }
}

/// `-t` only: each plugin that may run gets its block's configuration,
/// as the check would (create, then destroy), so a configuration the
/// plugin refuses fails `-t` instead of the check at run time.
fn try_plugin_configs(c: &Config, verdicts: &Verdicts, diags: &mut Diagnostics) {
    let root = nix::unistd::Uid::effective().is_root();
    let me = nix::unistd::Uid::effective().as_raw();
    for p in &c.check_plugins {
        let Some(Ok((path, who))) = verdicts.plugins.get(&p.name) else {
            continue;
        };
        if !root && who.uid != me {
            diags.note(
                p.span,
                format!(
                    "check_plugin {}: create() not tried: -t runs without root and cannot switch to uid {}",
                    p.name, who.uid
                ),
            );
            continue;
        }
        if let Err(m) = crate::track::plugin::try_create(
            path,
            who,
            &p.config_json,
            p.common.timeout.max(std::time::Duration::from_secs(1)),
        ) {
            diags.error(
                p.span,
                format!("check_plugin {}: the plugin refuses its configuration: {m}", p.name),
            );
        }
    }
}

/// What `-t` concludes about a configuration file.
pub struct TestVerdict {
    /// keepalived 2.2.7's exit status for it.
    pub exit_code: i32,
    /// Every finding, one `FILE:LINE:COL: severity: message` per line.
    pub report: String,
    /// The configuration as read (none when the file cannot be read).
    pub config: Option<Config>,
}

/// `-t`: reads `path`, checks it against `host`, and judges it as
/// keepalived 2.2.7 does. A missing main file is 0 unless `all_config`
/// (`-e`), as keepalived has it.
pub fn verdict(
    path: &std::path::Path,
    opts: &crate::config::LoadOptions,
    all_config: bool,
    host: &dyn Host,
) -> TestVerdict {
    let loaded = match crate::config::load_file(path, opts) {
        Ok(l) => l,
        Err(e) => {
            let sev = if all_config { "error" } else { "warning" };
            return TestVerdict {
                exit_code: if all_config { 4 } else { 0 },
                report: format!(
                    "{}: {sev}: configuration file missing or unreadable: {e}\n",
                    path.display()
                ),
                config: None,
            };
        }
    };
    let mut diags = loaded.diags.clone();
    let verdicts = check(&loaded.config, host, &mut diags);
    try_plugin_configs(&loaded.config, &verdicts, &mut diags);
    TestVerdict {
        exit_code: diags.exit_code(),
        report: diags.render(&loaded.sources),
        config: Some(loaded.config),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_str, LoadOptions};

    struct FakeHost(&'static [&'static str]);
    impl Host for FakeHost {
        fn interface_exists(&self, name: &str) -> bool {
            self.0.contains(&name)
        }
        fn cpu_count(&self) -> u32 {
            2
        }
    }

    /// keepalived 2.2.7 in the lab: "Disabling misc script
    /// '/usr/local/bin/script.sh' 'arg1' 'arg2' since not found/accessible",
    /// and the real server stays in the table.
    #[test]
    fn missing_lvs_scripts_are_dropped_and_runnable_ones_kept() {
        let l = load_str(
            "t",
            "virtual_server 10.0.0.1 80 {\n protocol TCP\n quorum_up /nonexistent/q\n real_server 10.0.0.2 80 {\n  notify_down /bin/true\n  MISC_CHECK {\n   misc_path \"/nonexistent/check a b\"\n  }\n  MISC_CHECK {\n   misc_path /bin/true\n  }\n }\n}\n",
            &LoadOptions::default(),
        );
        let mut lvs = l.config.lvs.clone();
        let before = &lvs.servers[0].real_servers[0];
        assert_eq!(before.checkers.len(), 2);
        assert!(lvs.servers[0].quorum_up.is_some());
        let v = check(&l.config, &FakeHost(&[]), &mut l.diags.clone());
        drop_unrunnable_lvs_scripts(&mut lvs, &v.scripts);
        let rs = &lvs.servers[0].real_servers[0];
        assert_eq!(rs.checkers.len(), 1);
        assert!(matches!(&rs.checkers[0].kind,
            crate::config::lvs::CheckerKind::Misc { script, .. } if script.argv[0] == "/bin/true"));
        assert!(rs.notify_down.is_some());
        assert!(lvs.servers[0].quorum_up.is_none());
    }

    #[test]
    fn missing_interfaces_are_errors() {
        let l = load_str(
            "t",
            "vrrp_instance V {\n interface eth9\n virtual_router_id 1\n virtual_ipaddress {\n 10.0.0.1 dev eth5\n }\n track_interface {\n eth7\n }\n}\n",
            &LoadOptions::default(),
        );
        let mut d = l.diags.clone();
        check(&l.config, &FakeHost(&["eth0"]), &mut d);
        assert_eq!(d.errors().count(), 3);
        assert_eq!(d.exit_code(), 5);
    }

    #[test]
    fn root_scripts_without_security_exit_6() {
        let l = load_str(
            "t",
            "vrrp_script chk {\n script \"/bin/true\"\n}\nvrrp_instance V {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 10.0.0.1\n }\n track_script {\n chk\n }\n}\n",
            &LoadOptions::default(),
        );
        let mut d = l.diags.clone();
        let s = check(&l.config, &FakeHost(&["eth0"]), &mut d).scripts;
        if nix::unistd::User::from_name(security::DEFAULT_SCRIPT_USER)
            .ok()
            .flatten()
            .is_none()
        {
            assert_eq!(d.exit_code(), 6);
        }
        assert_eq!(s.len(), 1);
        assert!(s[0].runnable());
    }

    #[test]
    fn missing_script_is_disabled() {
        let l = load_str(
            "t",
            "global_defs {\n enable_script_security\n script_user root\n}\nvrrp_script chk {\n script \"/nonexistent/x.sh\"\n}\n",
            &LoadOptions::default(),
        );
        let mut d = l.diags.clone();
        let s = check(&l.config, &FakeHost(&[]), &mut d).scripts;
        assert!(!s[0].runnable());
        assert_eq!(d.exit_code(), 5);
    }
}
