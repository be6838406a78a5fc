//! The keepalived.conf language: preprocessor, statement tree, typed model
//! and validation, with `FILE:LINE:COL` diagnostics.
//!
//! This module depends on nothing else of ours and does no network or clock
//! work; host-specific checks (interfaces, users, script security) live in
//! the daemon's pre-flight check.

pub mod address;
pub mod bfd;
pub mod diag;
pub mod dump;
pub mod global;
pub mod instance;
pub mod keywords;
pub mod lexer;
pub mod lvs;
pub mod model;
pub mod mysql;
pub mod plugin;
pub mod preprocess;
pub mod route;
pub mod tracking;
pub mod tree;
pub mod values;

use std::collections::{HashMap, HashSet};
use std::path::Path;

pub use diag::{Diagnostic, Diagnostics, Severity, SourceMap, Span};
pub use model::*;

use diag::Class;
use keywords::{lookup, ROOT_NO_EFFECT, ROOT_UNSUPPORTED};
use tree::Node;
use values::Ctx;

#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// keepalived's config-id (`-i`), selecting `@id` lines.
    pub config_id: String,
    /// How far the configuration may expand.
    pub limits: preprocess::Limits,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            config_id: default_config_id(),
            limits: preprocess::Limits::default(),
        }
    }
}

/// keepalived's default config-id: the host name up to its first dot.
pub fn default_config_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    host.trim().split('.').next().unwrap_or("").to_string()
}

/// A loaded configuration with what was found on the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub sources: SourceMap,
    pub diags: Diagnostics,
}

impl Loaded {
    pub fn render_diagnostics(&self) -> String {
        self.diags.render(&self.sources)
    }
}

/// Reads and validates a configuration file. `Err` only when the main file
/// itself cannot be read.
pub fn load_file(path: &Path, opts: &LoadOptions) -> Result<Loaded, std::io::Error> {
    let mut sources = SourceMap::default();
    let mut diags = Diagnostics::default();
    let pre = preprocess::Preprocessor::new(
        &mut sources,
        &mut diags,
        preprocess::Options {
            config_id: opts.config_id.clone(),
            limits: opts.limits,
        },
    );
    let out = pre.run_file(path)?;
    let config = build(&out.lines, &mut diags);
    Ok(Loaded { config, sources, diags })
}

/// Validates configuration text (tests, benches, fuzzing).
pub fn load_str(name: &str, text: &str, opts: &LoadOptions) -> Loaded {
    let mut sources = SourceMap::default();
    let mut diags = Diagnostics::default();
    let pre = preprocess::Preprocessor::new(
        &mut sources,
        &mut diags,
        preprocess::Options {
            config_id: opts.config_id.clone(),
            limits: opts.limits,
        },
    );
    let out = pre.run_text(Path::new(name), text);
    let config = build(&out.lines, &mut diags);
    Loaded { config, sources, diags }
}

pub const ROOT_KEYWORDS: &[&str] = &[
    "global_defs",
    "vrrp_instance",
    "vrrp_script",
    "vrrp_sync_group",
    "track_file",
    "vrrp_track_file",
    "vrrp_track_process",
    "static_ipaddress",
    "static_routes",
    "static_rules",
    "net_namespace",
    "instance",
    "use_pid_dir",
    "check_mysql",
    "check_plugin",
    "virtual_server",
    "virtual_server_group",
    "bfd_instance",
];

fn build(lines: &[preprocess::Line], diags: &mut Diagnostics) -> Config {
    let nodes = tree::build(lines, diags);
    let mut ctx = Ctx::new(diags);
    let mut config = Config::default();

    // Instances take their defaults from global_defs wherever it is written.
    let mut raw = global::GlobalRaw::default();
    for n in nodes.iter().filter(|n| n.name() == "global_defs") {
        if n.block.is_none() {
            ctx.error(n.end_span(), "'global_defs' needs a '{ … }' block");
        }
        global::read(&mut ctx, n, &mut config.global, &mut raw);
    }
    global::finish(&mut config.global, &raw);

    for n in &nodes {
        read_root(&mut ctx, n, &mut config);
    }
    validate(&mut ctx, &mut config);
    config
}

fn read_root(ctx: &mut Ctx<'_>, n: &Node, config: &mut Config) {
    let kw = n.name();
    match kw {
        "global_defs" => {}
        "vrrp_instance" => {
            let g = config.global.clone();
            config.instances.extend(instance::read(ctx, n, &g));
        }
        "vrrp_script" => config.scripts.extend(tracking::read_script(ctx, n)),
        "check_mysql" => config.check_mysql.extend(mysql::read_check_mysql(ctx, n)),
        "check_plugin" => config.check_plugins.extend(plugin::read_check_plugin(ctx, n)),
        "track_file" | "vrrp_track_file" => config.track_files.extend(tracking::read_track_file(ctx, n)),
        "vrrp_track_process" => config.track_processes.extend(tracking::read_track_process(ctx, n)),
        "vrrp_sync_group" => config.sync_groups.extend(tracking::read_sync_group(ctx, n)),
        "static_ipaddress" => {
            for a in n.children() {
                config.static_addresses.extend(address::parse_vip(ctx, a));
            }
        }
        "static_routes" => {
            for a in n.children() {
                config.static_routes.extend(route::parse_route(ctx, a));
            }
        }
        "static_rules" => {
            for a in n.children() {
                config.static_rules.extend(route::parse_rule(ctx, a));
            }
        }
        "net_namespace" => config.net_namespace = ctx.soft_string_arg(n, "a namespace name"),
        "instance" => config.instance_name = ctx.soft_string_arg(n, "an instance name"),
        "use_pid_dir" => config.use_pid_dir = ctx.flag(n),
        "virtual_server" => config.lvs.servers.extend(lvs::read_virtual_server(ctx, n)),
        "virtual_server_group" => config.lvs.groups.extend(lvs::read_group(ctx, n)),
        "bfd_instance" => config.bfd_instances.extend(bfd::read_bfd_instance(ctx, n)),
        _ => {
            if lookup(ROOT_NO_EFFECT, kw).is_some() {
                return;
            }
            if let Some(what) = lookup(ROOT_UNSUPPORTED, kw) {
                ctx.unsupported(n, what);
                return;
            }
            let known: Vec<&str> = ROOT_KEYWORDS
                .iter()
                .copied()
                .chain(ROOT_NO_EFFECT.iter().map(|(k, _)| *k))
                .chain(ROOT_UNSUPPORTED.iter().map(|(k, _)| *k))
                .collect();
            ctx.unknown(n, "the top level", &known);
        }
    }
}

/// An instance lingers on FAULT when it tracks, itself or through its sync
/// group, a check_mysql with `refuse_on_fault`.
fn mark_lingering(c: &mut Config) {
    let refusing: Vec<&str> = c
        .check_mysql
        .iter()
        .filter(|m| m.settings.refuse_on_fault)
        .map(|m| m.name.as_str())
        .collect();
    let tracks = |refs: &[TrackRef]| refs.iter().any(|r| refusing.contains(&r.name.as_str()));
    for inst in &mut c.instances {
        let group = inst
            .sync_group
            .as_ref()
            .and_then(|g| c.sync_groups.iter().find(|s| &s.name == g));
        inst.linger_on_fault = tracks(&inst.track_scripts) || group.is_some_and(|g| tracks(&g.track_scripts));
    }
}

/// Checks across blocks: names, references, sync groups, owners, VRIDs.
fn validate(ctx: &mut Ctx<'_>, c: &mut Config) {
    dedupe(ctx, &mut c.instances, |i| (&i.name, i.span), "vrrp_instance");
    dedupe(ctx, &mut c.scripts, |s| (&s.name, s.span), "vrrp_script");
    dedupe(ctx, &mut c.check_mysql, |s| (&s.name, s.span), "check_mysql");
    dedupe(ctx, &mut c.check_plugins, |s| (&s.name, s.span), "check_plugin");
    dedupe(ctx, &mut c.track_files, |s| (&s.name, s.span), "track_file");
    dedupe(ctx, &mut c.track_processes, |s| (&s.name, s.span), "vrrp_track_process");
    dedupe(ctx, &mut c.sync_groups, |s| (&s.name, s.span), "vrrp_sync_group");

    bfd::dedupe(ctx, &mut c.bfd_instances);
    let bfds: HashMap<String, (i32, bool)> = c.bfd_instances.iter().map(|b| (b.name.clone(), (0, false))).collect();
    let checks = CheckWeights::of(c);
    for inst in &mut c.instances {
        let who = format!("({})", inst.name);
        resolve_refs(ctx, &who, &mut inst.track_scripts, &checks.scripts, "track script");
        resolve_refs(ctx, &who, &mut inst.track_files, &checks.files, "track file");
        resolve_refs(ctx, &who, &mut inst.track_processes, &checks.processes, "track process");
        resolve_refs(ctx, &who, &mut inst.track_bfd, &bfds, "track bfd");
    }
    for g in &mut c.sync_groups {
        let who = format!("(sync group {})", g.name);
        resolve_refs(ctx, &who, &mut g.track_scripts, &checks.scripts, "track script");
        resolve_refs(ctx, &who, &mut g.track_files, &checks.files, "track file");
        resolve_refs(ctx, &who, &mut g.track_processes, &checks.processes, "track process");
        resolve_refs(ctx, &who, &mut g.track_bfd, &bfds, "track bfd");
    }

    sync_groups(ctx, c);
    mark_lingering(c);
    lvs::validate(ctx, &mut c.lvs);

    for inst in &mut c.instances {
        if inst.is_owner() {
            owner_rules(ctx, inst);
        }
    }

    // A VMAC name belongs to one instance. A later instance that names
    // one already used is reported and gets the default name; a default
    // name already used becomes PREFIX<N>.VRID, the first N free (as
    // keepalived 2.2.7 makes vrrp.1 and vrrp1.1 for VRID 1 on two links,
    // silently).
    let mut vmac_names: HashMap<String, String> = HashMap::new();
    let prefix = c.global.vmac_prefix.clone();
    for inst in &mut c.instances {
        let Some(v) = inst.vmac.as_mut() else { continue };
        if let Some(owner) = vmac_names.get(&v.name) {
            let default = format!("{prefix}.{}", inst.vrid);
            if v.named {
                ctx.warning(
                    inst.span,
                    format!(
                        "({}) VRRP instance {owner} is already using {}; using {default} instead",
                        inst.name, v.name
                    ),
                );
            }
            v.name = default;
            let mut n = 1;
            while vmac_names.contains_key(&v.name) {
                v.name = format!("{prefix}{n}.{}", inst.vrid);
                n += 1;
            }
        }
        vmac_names.insert(v.name.clone(), inst.name.clone());
    }

    // One VRID per interface, family and multicast group.
    let mut seen: HashMap<(Option<String>, Family, u8, Option<std::net::IpAddr>), String> = HashMap::new();
    for inst in &c.instances {
        let group = if inst.is_unicast() { None } else { Some(inst.mcast_dst) };
        let key = (inst.interface.clone(), inst.family, inst.vrid, group);
        if let Some(other) = seen.get(&key) {
            ctx.error(
                inst.span,
                format!(
                    "{other} and {} both use VRID {} on the same interface and address family",
                    inst.name, inst.vrid
                ),
            );
        } else {
            seen.insert(key, inst.name.clone());
        }
    }
}

fn dedupe<T>(ctx: &mut Ctx<'_>, items: &mut Vec<T>, key: impl Fn(&T) -> (&String, Span), what: &str) {
    let mut seen = HashSet::new();
    let mut keep = Vec::with_capacity(items.len());
    for (i, it) in items.iter().enumerate() {
        let (name, span) = key(it);
        if seen.insert(name.clone()) {
            keep.push(i);
        } else {
            ctx.error(
                span,
                format!("{what} '{name}' is defined twice; the second definition is ignored"),
            );
        }
    }
    if keep.len() != items.len() {
        let mut idx = 0;
        items.retain(|_| {
            let k = keep.contains(&idx);
            idx += 1;
            k
        });
    }
}

/// The default weight and reverse flag of each trackable object by name.
struct CheckWeights {
    scripts: HashMap<String, (i32, bool)>,
    files: HashMap<String, (i32, bool)>,
    processes: HashMap<String, (i32, bool)>,
}

impl CheckWeights {
    fn of(c: &Config) -> Self {
        let mut scripts: HashMap<String, (i32, bool)> = c
            .scripts
            .iter()
            .map(|s| (s.name.clone(), (s.weight, s.reverse)))
            .collect();
        scripts.extend(
            c.check_mysql
                .iter()
                .map(|m| (m.name.clone(), (m.common.weight, m.common.reverse))),
        );
        scripts.extend(
            c.check_plugins
                .iter()
                .map(|m| (m.name.clone(), (m.common.weight, m.common.reverse))),
        );
        CheckWeights {
            scripts,
            files: c
                .track_files
                .iter()
                .map(|f| (f.name.clone(), (f.weight, f.reverse)))
                .collect(),
            processes: c
                .track_processes
                .iter()
                .map(|p| (p.name.clone(), (p.weight, p.reverse)))
                .collect(),
        }
    }
}

/// Resolves each reference to a defined object, filling in its weight and
/// reverse flag (the line's overrides win); unknown names are removed.
fn resolve_refs(
    ctx: &mut Ctx<'_>,
    who: &str,
    refs: &mut Vec<TrackRef>,
    known: &HashMap<String, (i32, bool)>,
    what: &str,
) {
    refs.retain_mut(|r| match known.get(&r.name) {
        Some(&(w, rev)) => {
            r.weight = Some(r.weight.unwrap_or(w));
            r.reverse = Some(r.reverse.unwrap_or(rev));
            true
        }
        None => {
            let names: Vec<&str> = known.keys().map(String::as_str).collect();
            let hint = diag::suggest(&r.name, names)
                .map(|s| format!("; did you mean '{s}'?"))
                .unwrap_or_default();
            ctx.error(r.span, format!("{who} {what} '{}' not found; ignored{hint}", r.name));
            false
        }
    });
}

/// Group membership, and keepalived's treatment of weighted trackers on
/// group members: weighted scripts and processes are dropped, weighted
/// interfaces become fault-on-down, a track_file of weight 1 becomes
/// weight 0 and others are dropped — unless `sync_group_tracking_weight`.
fn sync_groups(ctx: &mut Ctx<'_>, c: &mut Config) {
    let mut member_of: HashMap<String, String> = HashMap::new();
    let mut groups = std::mem::take(&mut c.sync_groups);
    for g in &mut groups {
        let mut members = Vec::new();
        for (m, span) in std::mem::take(&mut g.members) {
            if c.instance(&m).is_none() {
                ctx.error(
                    span,
                    format!("sync group {}: unknown vrrp_instance '{m}'; ignored", g.name),
                );
                continue;
            }
            if let Some(other) = member_of.get(&m) {
                ctx.error(
                    span,
                    format!("vrrp_instance {m} is already in sync group {other}; an instance can be in one group only"),
                );
                continue;
            }
            member_of.insert(m.clone(), g.name.clone());
            members.push((m, span));
        }
        if members.len() == 1 {
            ctx.warning(g.span, format!("sync group {} has only one member", g.name));
        }
        g.members = members;
    }
    groups.retain(|g| !g.members.is_empty());
    for inst in &mut c.instances {
        let Some(gname) = member_of.get(&inst.name) else {
            continue;
        };
        inst.sync_group = Some(gname.clone());
        let Some(g) = groups.iter().find(|g| &g.name == gname) else {
            continue;
        };
        if g.sync_group_tracking_weight {
            continue;
        }
        let name = inst.name.clone();
        inst.track_scripts.retain(|r| {
            let weighted = r.weight.unwrap_or(0) != 0;
            if weighted {
                ctx.warning(
                    r.span,
                    format!(
                        "({name}) ignoring tracked script {} with weights due to SYNC group",
                        r.name
                    ),
                );
            }
            !weighted
        });
        inst.track_processes.retain(|r| {
            let weighted = r.weight.unwrap_or(0) != 0;
            if weighted {
                ctx.warning(
                    r.span,
                    format!(
                        "({name}) ignoring tracked process {} with weights due to SYNC group",
                        r.name
                    ),
                );
            }
            !weighted
        });
        inst.track_files.retain_mut(|r| match r.weight.unwrap_or(0) {
            0 => true,
            1 => {
                r.weight = Some(0);
                true
            }
            _ => {
                ctx.warning(
                    r.span,
                    format!("({name}) ignoring track file {} with weights due to SYNC group", r.name),
                );
                false
            }
        });
        for t in &mut inst.track_interfaces {
            t.weight = 0;
        }
    }
    c.sync_groups = groups;
}

/// Address owners: tracking never changes a priority of 255, so weighted
/// trackers are removed (keepalived: "ignoring … with weights due to
/// address_owner").
fn owner_rules(ctx: &mut Ctx<'_>, inst: &mut VrrpInstance) {
    let name = inst.name.clone();
    let mut drop = |refs: &mut Vec<TrackRef>, what: &str| {
        refs.retain(|r| {
            let weighted = r.weight.unwrap_or(0) != 0;
            if weighted {
                ctx.warning(
                    r.span,
                    format!("({name}) ignoring {what} {} with weights due to address_owner", r.name),
                );
            }
            !weighted
        });
    };
    drop(&mut inst.track_scripts, "tracked script");
    drop(&mut inst.track_files, "track file");
    drop(&mut inst.track_processes, "tracked process");
    inst.track_interfaces.retain(|t| t.weight == 0);
}

/// Marks a diagnostic's class for `-t` (used by the host pre-flight check).
pub fn push_class(diags: &mut Diagnostics, class: Class, span: Option<Span>, msg: impl Into<String>) {
    diags.push(Severity::Error, class, span, msg);
}

#[cfg(test)]
mod tests;
