//! Configurations that run but will not do what their author meant:
//! checked by `-t`, at start-up and on reload, printed as warnings that
//! never change `-t`'s verdict, and named again by `rkeepalived explain`.
//! (Footguns keepalived itself judges, such as `state MASTER` with
//! `nopreempt` or a script that cannot execute, keep keepalived's severity
//! where they are found: the instance reader and the script checks.)

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

use crate::config::diag::{Diagnostics, Span};
use crate::config::model::{Config, ScriptSpec, TrackRef, VrrpInstance};

use super::precheck::{notify_list, Host, ScriptCheck};

/// One footgun: the instance it concerns, where, and what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Footgun {
    pub instance: String,
    pub span: Span,
    pub message: String,
    /// Already reported with keepalived's severity where it was found;
    /// only `explain` repeats it.
    pub reported: bool,
}

/// Every footgun of the configuration on this host; `scripts` are the
/// script checks' verdicts (one that cannot run is a footgun of the
/// instances using it).
pub fn find(c: &Config, host: &dyn Host, scripts: &[ScriptCheck]) -> Vec<Footgun> {
    let mut out = Vec::new();
    // Each interface's subnets, asked once: the host answers with a dump
    // of every address (1,000 VIPs took 0.4 s, per VIP, at a reload).
    let mut subnets = HashMap::new();
    for i in &c.instances {
        if let Some(span) = i.nopreempt_ignored {
            out.push(Footgun {
                instance: i.name.clone(),
                span,
                message: format!(
                    "({}) nopreempt is ignored with state MASTER or priority 255 (keepalived clears it): this node takes the VIP back",
                    i.name
                ),
                reported: true,
            });
        }
        for s in scripts.iter().filter(|s| uses(i, &s.role)) {
            if let Err(why) = &s.outcome {
                out.push(Footgun {
                    instance: i.name.clone(),
                    span: s.spec.span,
                    message: format!("({}) a script that cannot run: {why}", i.name),
                    reported: true,
                });
            }
        }
        weights_cannot_move(c, i, &mut out);
        vips_outside_subnets(c, i, host, &mut subnets, &mut out);
        for (kw, spec) in notify_list(&i.notify) {
            split_path(&i.name, kw, spec, host, &mut out);
        }
    }
    out
}

/// Adds the footguns not reported elsewhere to `diags` as remarks
/// (never counted by `-t`).
pub fn report(footguns: &[Footgun], diags: &mut Diagnostics) {
    for f in footguns.iter().filter(|f| !f.reported) {
        diags.note(f.span, f.message.clone());
    }
}

/// Whether a script check's role ("vrrp_script chk", "notify_master of
/// VI_1") is one of this instance's.
fn uses(i: &VrrpInstance, role: &str) -> bool {
    match role.strip_prefix("vrrp_script ") {
        Some(name) => i.track_scripts.iter().any(|t| t.name == name),
        None => role.ends_with(&format!(" of {}", i.name)),
    }
}

/// The weight a track line gives: its own, or its definition's.
fn weight_of(c: &Config, r: &TrackRef, kind: &str) -> i32 {
    if let Some(w) = r.weight {
        return w;
    }
    match kind {
        "script" => c
            .scripts
            .iter()
            .find(|s| s.name == r.name)
            .map(|s| s.weight)
            .or_else(|| c.check_mysql.iter().find(|m| m.name == r.name).map(|m| m.common.weight))
            .or_else(|| {
                c.check_plugins
                    .iter()
                    .find(|p| p.name == r.name)
                    .map(|p| p.common.weight)
            })
            .unwrap_or(0),
        "file" => c.track_files.iter().find(|f| f.name == r.name).map_or(0, |f| f.weight),
        _ => c
            .track_processes
            .iter()
            .find(|p| p.name == r.name)
            .map_or(0, |p| p.weight),
    }
}

/// `nopreempt` on an instance whose trackers only change its priority:
/// a lower priority never makes the peer take over (it would have to
/// preempt), and a higher one never takes the VIP back. Only weight 0
/// (FAULT) or a priority-0 stop moves it.
fn weights_cannot_move(c: &Config, i: &VrrpInstance, out: &mut Vec<Footgun>) {
    if !i.nopreempt {
        return;
    }
    let weighted: Vec<String> = [
        ("script", &i.track_scripts),
        ("file", &i.track_files),
        ("process", &i.track_processes),
    ]
    .into_iter()
    .flat_map(|(kind, refs)| refs.iter().map(move |r| (kind, r)))
    .filter_map(|(kind, r)| {
        let w = weight_of(c, r, kind);
        (w != 0).then(|| format!("{} ({w:+})", r.name))
    })
    .chain(
        i.track_interfaces
            .iter()
            .filter(|t| t.weight != 0)
            .map(|t| format!("{} ({:+})", t.name, t.weight)),
    )
    .collect();
    if !weighted.is_empty() {
        out.push(Footgun {
            instance: i.name.clone(),
            span: i.span,
            reported: false,
            message: format!(
                "({}) nopreempt: the weights of {} can never move the VIP (a peer with nopreempt does not take over from a lower priority); use weight 0 to fail over on them",
                i.name,
                weighted.join(", ")
            ),
        });
    }
}

/// The subnets of each interface asked about, by name.
type Subnets = HashMap<String, Option<Vec<(IpAddr, u8)>>>;

/// A VIP outside every subnet of its interface: hosts on that link have
/// no route to it, and the kernel adds it without a subnet route.
fn vips_outside_subnets(c: &Config, i: &VrrpInstance, host: &dyn Host, subnets: &mut Subnets, out: &mut Vec<Footgun>) {
    let own = i.interface.as_deref().unwrap_or(&c.global.default_interface);
    for v in &i.vips {
        if v.prefix < if v.addr.is_ipv4() { 32 } else { 128 } {
            continue; // it brings its own subnet
        }
        if v.addr.is_ipv6() && matches!(v.addr, IpAddr::V6(a) if a.segments()[0] & 0xffc0 == 0xfe80) {
            continue; // link-local
        }
        let dev = v.dev.as_deref().unwrap_or(own);
        let Some(prefixes) = subnets
            .entry(dev.to_string())
            .or_insert_with(|| host.interface_prefixes(dev))
        else {
            continue;
        };
        if prefixes.iter().all(|(net, len)| !contains(*net, *len, v.addr)) {
            out.push(Footgun {
                instance: i.name.clone(),
                span: v.span,
                reported: false,
                message: format!(
                    "({}) VIP {} is outside every subnet of {dev}: give it a prefix (/{}) or an address of the link's subnet",
                    i.name,
                    v.addr,
                    prefixes.first().map_or(24, |p| p.1)
                ),
            });
        }
    }
}

fn contains(net: IpAddr, len: u8, a: IpAddr) -> bool {
    match (net, a) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let m = u32::MAX.checked_shl(32 - u32::from(len.min(32))).unwrap_or(0);
            u32::from(n) & m == u32::from(a) & m
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let m = u128::MAX.checked_shl(128 - u32::from(len.min(128))).unwrap_or(0);
            u128::from(n) & m == u128::from(a) & m
        }
        _ => false,
    }
}

/// A notify command whose first words, joined by spaces, name a file that
/// exists while the first word alone does not: the quoting split a path
/// with a space into several arguments.
fn split_path(instance: &str, kw: &str, spec: &ScriptSpec, host: &dyn Host, out: &mut Vec<Footgun>) {
    let argv = &spec.argv;
    if argv.len() < 2 || host.is_file(Path::new(&argv[0])) || !argv[0].starts_with('/') {
        return;
    }
    for n in 2..=argv.len() {
        let joined = argv[..n].join(" ");
        if host.is_file(Path::new(&joined)) {
            out.push(Footgun {
                instance: instance.to_string(),
                span: spec.span,
                reported: false,
                message: format!(
                    "({instance}) {kw}: '{}' is not a file but '{joined}' is: the space splits it into {n} arguments; quote the path with single quotes inside the double quotes (\"'{joined}' args\")",
                    argv[0]
                ),
            });
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_str, LoadOptions};
    use std::collections::HashMap;

    struct Lab {
        prefixes: HashMap<&'static str, Vec<(IpAddr, u8)>>,
        files: Vec<&'static str>,
        /// How often the subnets were asked for (each costs the real host
        /// a dump of every address).
        asked: std::cell::Cell<usize>,
    }

    impl Host for Lab {
        fn interface_exists(&self, name: &str) -> bool {
            self.prefixes.contains_key(name)
        }
        fn cpu_count(&self) -> u32 {
            2
        }
        fn interface_prefixes(&self, name: &str) -> Option<Vec<(IpAddr, u8)>> {
            self.asked.set(self.asked.get() + 1);
            self.prefixes.get(name).cloned()
        }
        fn is_file(&self, p: &Path) -> bool {
            self.files.iter().any(|f| Path::new(f) == p)
        }
    }

    fn lab() -> Lab {
        Lab {
            prefixes: HashMap::from([("eth0", vec![("10.0.0.1".parse().unwrap_or(IpAddr::from([0; 4])), 24)])]),
            files: vec!["/etc/keepalived/my notify.sh"],
            asked: std::cell::Cell::new(0),
        }
    }

    #[test]
    fn each_interface_is_asked_for_its_subnets_once() {
        let text: String = (1..=50)
            .map(|n| {
                format!("{VI} virtual_ipaddress {{\n 10.1.0.{n}\n 10.2.0.{n}\n }}\n}}\n")
                    .replace("router_id 1", &format!("router_id {n}"))
                    .replace("VI_1", &format!("VI_{n}"))
            })
            .collect();
        let l = load_str("t.conf", &text, &LoadOptions::default());
        assert_eq!(l.config.instances.len(), 50);
        let host = lab();
        let found = find(&l.config, &host, &[]);
        assert_eq!(found.len(), 100, "every VIP is outside eth0's subnet");
        assert_eq!(host.asked.get(), 1, "eth0's subnets, once for 100 VIPs");
    }

    fn found(text: &str) -> Vec<String> {
        let l = load_str("t.conf", text, &LoadOptions::default());
        find(&l.config, &lab(), &[]).into_iter().map(|f| f.message).collect()
    }

    const VI: &str = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n priority 100\n";

    #[test]
    fn nopreempt_with_weights_that_cannot_move_the_vip() {
        let cfg = |extra: &str| {
            format!("vrrp_script chk {{\n script /bin/true\n weight -30\n}}\n{VI} nopreempt\n{extra} virtual_ipaddress {{\n 10.0.0.100/24\n }}\n}}\n")
        };
        let m = found(&cfg(" track_script {\n chk\n }\n"));
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(
            m[0].contains("nopreempt: the weights of chk (-30) can never move the VIP"),
            "{m:?}"
        );
        assert!(
            found(&cfg(" track_script {\n chk weight 0\n }\n")).is_empty(),
            "weight 0 fails over"
        );
        assert!(found(&cfg("")).is_empty());
    }

    #[test]
    fn a_vip_outside_every_subnet_of_its_interface() {
        let cfg = |vip: &str| format!("{VI} virtual_ipaddress {{\n {vip}\n }}\n}}\n");
        let m = found(&cfg("192.168.9.9"));
        assert!(
            m.len() == 1 && m[0].contains("VIP 192.168.9.9 is outside every subnet of eth0"),
            "{m:?}"
        );
        assert!(found(&cfg("10.0.0.100")).is_empty(), "inside 10.0.0.0/24");
        assert!(found(&cfg("192.168.9.9/24")).is_empty(), "brings its own subnet");
    }

    /// What keepalived itself judges stays where it was reported, and
    /// `explain` names it: a cleared nopreempt, a script that cannot run.
    #[test]
    fn footguns_keepalived_reports_are_kept_for_explain() {
        let l = load_str(
            "t.conf",
            &format!("{VI} state MASTER\n nopreempt\n notify_master /nonexistent/x.sh\n virtual_ipaddress {{\n 10.0.0.100/24\n }}\n}}\n"),
            &LoadOptions::default(),
        );
        let scripts = super::super::precheck::check(&l.config, &lab(), &mut Diagnostics::default()).scripts;
        let f = find(&l.config, &lab(), &scripts);
        assert!(f.iter().all(|f| f.reported && f.instance == "VI_1"), "{f:?}");
        assert!(
            f.iter()
                .any(|f| f.message.contains("nopreempt is ignored with state MASTER")),
            "{f:?}"
        );
        assert!(
            f.iter()
                .any(|f| f.message.contains("a script that cannot run") && f.message.contains("/nonexistent/x.sh")),
            "{f:?}"
        );
        let mut d = Diagnostics::default();
        report(&f, &mut d);
        assert!(d.is_empty(), "not reported twice");
    }

    #[test]
    fn a_notify_path_split_by_a_space() {
        let cfg = |cmd: &str| format!("{VI} notify_master \"{cmd}\"\n virtual_ipaddress {{\n 10.0.0.100/24\n }}\n}}\n");
        let m = found(&cfg("/etc/keepalived/my notify.sh MASTER"));
        assert!(
            m.len() == 1 && m[0].contains("'/etc/keepalived/my' is not a file but '/etc/keepalived/my notify.sh' is"),
            "{m:?}"
        );
        assert!(
            found(&cfg("'/etc/keepalived/my notify.sh' MASTER")).is_empty(),
            "quoted right"
        );
    }
}
