//! `global_defs { … }`: the VRRP-side global settings.

use std::time::Duration;

use super::keywords::{
    lookup, newer_ignored, GLOBAL_INERT_VALUES, GLOBAL_NO_EFFECT, GLOBAL_UNSUPPORTED, GLOBAL_UNSUPPORTED_VALUES,
};
use super::model::{FifoSpec, GlobalDefs, LvsFlushOnStop, LvsTimeouts};
use super::tree::Node;
use super::values::Ctx;

/// Global GARP settings as written, resolved once the whole block is read
/// (the lower-priority defaults follow the master ones and strict mode).
#[derive(Default)]
pub struct GlobalRaw {
    pub master_delay: Option<Duration>,
    pub master_repeat: Option<u32>,
    pub lower_prio_delay: Option<Duration>,
    pub lower_prio_repeat: Option<u32>,
    pub lower_prio_no_advert: Option<bool>,
}

/// Keywords whose missing value keepalived 2.2.7 reports and skips (exit 5)
/// rather than stopping on (exit 2).
const SKIPS_BARE: &[&str] = &[
    "notify_fifo_script",
    "vrrp_notify_fifo_script",
    "startup_script",
    "shutdown_script",
    "startup_script_timeout",
    "shutdown_script_timeout",
    "default_interface",
    "plugin_dir",
    "control_socket",
    "control_socket_group",
    "state_dir",
    "metrics_listen",
];

pub const KEYWORDS: &[&str] = &[
    "router_id",
    "script_user",
    "enable_script_security",
    "notify_fifo",
    "notify_fifo_script",
    "vrrp_notify_fifo",
    "vrrp_notify_fifo_script",
    "vrrp_notify_priority_changes",
    "fifo_write_vrrp_states_on_reload",
    "vrrp_mcast_group4",
    "vrrp_mcast_group6",
    "default_interface",
    "vrrp_garp_master_delay",
    "vrrp_garp_master_repeat",
    "vrrp_garp_master_refresh",
    "vrrp_garp_master_refresh_repeat",
    "vrrp_garp_lower_prio_delay",
    "vrrp_garp_lower_prio_repeat",
    "vrrp_garp_interval",
    "vrrp_gna_interval",
    "vrrp_min_garp",
    "vrrp_garp_extra_if",
    "vrrp_vmac_garp_intvl",
    "vrrp_down_timer_adverts",
    "vrrp_lower_prio_no_advert",
    "vrrp_higher_prio_send_advert",
    "vrrp_version",
    "vrrp_check_unicast_src",
    "vrrp_skip_check_adv_addr",
    "vrrp_strict",
    "v3_checksum_as_v2",
    "vrrp_startup_delay",
    "dynamic_interfaces",
    "vmac_prefix",
    "startup_script",
    "startup_script_timeout",
    "shutdown_script",
    "shutdown_script_timeout",
    "data_use_instance",
    "reload_check_config",
    "json_file_location",
    "state_file_location",
    "stats_file_location",
    "vrrp_owner_ignore_adverts",
    "vrrp_delay_after_boot",
    "iproute_etc_dir",
    "iproute_usr_dir",
    "plugin_dir",
    "lvs_flush",
    "lvs_flush_onstop",
    "lvs_flush_on_stop",
    "lvs_timeouts",
];

/// Largest timer keepalived accepts for GARP settings (u32 microseconds).
pub const MAX_TIMER_US: u64 = 4_294_967_295;
/// Largest GARP delay keepalived accepts, in whole seconds.
pub const MAX_GARP_SECS: u64 = 4_294;

pub fn read(ctx: &mut Ctx<'_>, block: &Node, g: &mut GlobalDefs, raw: &mut GlobalRaw) {
    for n in block.children() {
        let kw = n.name();
        match kw {
            "router_id" => g.router_id = ctx.soft_string_arg(n, "a name"),
            "script_user" => {
                if ctx.soft_arg(n, 0, "a user name").is_some() {
                    g.script_user = ctx.user_spec(n, 0);
                }
            }
            "enable_script_security" => g.enable_script_security = ctx.flag(n),
            "notify_fifo" => g.notify_fifo = fifo(ctx, n),
            "vrrp_notify_fifo" => g.vrrp_notify_fifo = fifo(ctx, n),
            _ if SKIPS_BARE.contains(&kw) && ctx.bare(n, "a value") => {}
            "notify_fifo_script" => g.notify_fifo_script = ctx.script(n, true),
            "vrrp_notify_fifo_script" => g.vrrp_notify_fifo_script = ctx.script(n, true),
            "vrrp_notify_priority_changes" => g.vrrp_notify_priority_changes = ctx.flag_or_bool(n),
            "fifo_write_vrrp_states_on_reload" => g.fifo_write_vrrp_states_on_reload = ctx.flag(n),
            "vrrp_mcast_group4" => {
                if let Some(t) = ctx.arg(n, 0, "an IPv4 multicast address") {
                    match t.text.parse::<std::net::Ipv4Addr>() {
                        Ok(a) if a.is_multicast() => g.mcast_group4 = a,
                        _ => ctx.error(t.span, format!("'{}' is not an IPv4 multicast address", t.text)),
                    }
                }
            }
            "vrrp_mcast_group6" => {
                if let Some(t) = ctx.arg(n, 0, "an IPv6 multicast address") {
                    match t.text.parse::<std::net::Ipv6Addr>() {
                        Ok(a) if a.is_multicast() => g.mcast_group6 = a,
                        _ => ctx.error(t.span, format!("'{}' is not an IPv6 multicast address", t.text)),
                    }
                }
            }
            "default_interface" => {
                if let Some(s) = ctx.string_arg(n, "an interface name") {
                    g.default_interface = s;
                }
            }
            "vrrp_garp_master_delay" => {
                raw.master_delay = ctx.secs_arg(n, 0, MAX_GARP_SECS);
            }
            "vrrp_garp_master_repeat" => {
                raw.master_repeat = ctx.repeat_arg(n);
            }
            "vrrp_garp_master_refresh" => {
                if let Some(d) = ctx.secs_arg(n, 0, u64::from(u32::MAX)) {
                    g.garp.master_refresh = d;
                }
            }
            "vrrp_garp_master_refresh_repeat" => {
                if let Some(v) = ctx.repeat_arg(n) {
                    g.garp.master_refresh_repeat = v;
                }
            }
            "vrrp_garp_lower_prio_delay" => raw.lower_prio_delay = ctx.secs_arg(n, 0, MAX_GARP_SECS),
            "vrrp_garp_lower_prio_repeat" => raw.lower_prio_repeat = ctx.u32_arg(n, 0, u32::MAX),
            // keepalived 2.2.7 rejects an explicit 0 (its documented default);
            // rkeepalived accepts it as "no gap" (compat/DEVIATIONS.md).
            "vrrp_garp_interval" => {
                if let Some(d) = ctx.timer_arg(n, 0, MAX_TIMER_US) {
                    g.garp.interval = d;
                }
            }
            "vrrp_gna_interval" => {
                if let Some(d) = ctx.timer_arg(n, 0, MAX_TIMER_US) {
                    g.garp.na_interval = d;
                }
            }
            "vrrp_min_garp" => g.min_garp = ctx.flag_or_bool(n),
            "vrrp_garp_extra_if" | "vrrp_vmac_garp_intvl" => {
                if kw == "vrrp_vmac_garp_intvl" {
                    ctx.deprecated(n, "vrrp_garp_extra_if");
                }
                let all = n.args.first().is_some_and(|t| t.text == "all");
                let idx = usize::from(all);
                if let Some(t) = ctx.soft_arg(n, idx, "an interval in seconds") {
                    match t.text.parse::<u64>() {
                        Ok(v) if (1..=86_400).contains(&v) => g.garp_extra_if = Some((Duration::from_secs(v), all)),
                        _ => ctx.error(
                            t.span,
                            format!(
                                "'{}' is not a whole number of seconds in [1, 86400]; '{kw}' ignored",
                                t.text
                            ),
                        ),
                    }
                }
            }
            "vrrp_down_timer_adverts" => {
                if let Some(v) = ctx.u32_arg(n, 1, 100) {
                    g.down_timer_adverts = v;
                }
            }
            "vrrp_lower_prio_no_advert" => raw.lower_prio_no_advert = Some(ctx.flag_or_bool(n)),
            "vrrp_higher_prio_send_advert" => g.higher_prio_send_advert = ctx.flag_or_bool(n),
            "vrrp_version" => {
                if let Some(v) = ctx.int_arg(n, 2, 3) {
                    g.vrrp_version = v as u8;
                }
            }
            "vrrp_check_unicast_src" => g.check_unicast_src = ctx.flag(n),
            "vrrp_skip_check_adv_addr" => g.skip_check_adv_addr = ctx.flag_or_bool(n),
            "vrrp_strict" => g.strict = ctx.flag(n),
            "v3_checksum_as_v2" => g.v3_checksum_as_v2 = ctx.flag_or_bool(n),
            "vrrp_startup_delay" => {
                if let Some(d) = ctx.timer_arg(n, 1_000, MAX_TIMER_US) {
                    g.startup_delay = d;
                }
            }
            "dynamic_interfaces" => {
                if let Some(t) = n.args.first() {
                    if t.text != "allow_if_changes" {
                        ctx.error(
                            t.span,
                            format!("unknown option '{}' (expected 'allow_if_changes')", t.text),
                        );
                    }
                }
                g.dynamic_interfaces = true;
            }
            "vmac_prefix" => {
                if let Some(s) = ctx.string_arg(n, "a prefix") {
                    g.vmac_prefix = s;
                }
            }
            "startup_script" => g.startup_script = ctx.script(n, true),
            "shutdown_script" => g.shutdown_script = ctx.script(n, true),
            "startup_script_timeout" => {
                if let Some(v) = ctx.int_arg(n, 1, 1000) {
                    g.startup_script_timeout = Duration::from_secs(v as u64);
                }
            }
            "shutdown_script_timeout" => {
                if let Some(v) = ctx.int_arg(n, 1, 1000) {
                    g.shutdown_script_timeout = Duration::from_secs(v as u64);
                }
            }
            "data_use_instance" => g.data_use_instance = ctx.flag(n),
            "reload_check_config" => {
                g.reload_check_config = Some(n.args.first().map(|t| t.text.clone().into()));
            }
            "json_file_location" => g.json_file_location = ctx.soft_string_arg(n, "a path"),
            "state_file_location" => g.state_file_location = ctx.soft_string_arg(n, "a path"),
            "stats_file_location" => g.stats_file_location = ctx.soft_string_arg(n, "a path"),
            "vrrp_owner_ignore_adverts" => g.owner_ignore_adverts = ctx.flag_or_bool(n),
            "vrrp_delay_after_boot" => {
                if let Some(d) = ctx.timer_arg(n, 0, MAX_TIMER_US) {
                    g.delay_after_boot = d;
                }
            }
            "iproute_etc_dir" | "iproute_usr_dir" => {
                if let Some(dir) = ctx.soft_string_arg(n, "a directory") {
                    let at = usize::from(kw == "iproute_usr_dir");
                    ctx.iproute_dirs[at] = dir.into();
                }
            }
            "plugin_dir" => {
                if let Some(p) = absolute_path(ctx, n) {
                    g.plugin_dir = p;
                }
            }
            "control_socket" => {
                if let Some(p) = absolute_path(ctx, n) {
                    g.control_socket = p;
                }
            }
            "control_socket_group" => g.control_socket_group = ctx.soft_string_arg(n, "a group name"),
            "metrics_listen" => {
                if let Some(t) = ctx.soft_arg(n, 0, "ADDR:PORT") {
                    match t.text.parse::<std::net::SocketAddr>() {
                        Ok(a) => g.metrics_listen = Some(a),
                        Err(_) => ctx.error(
                            t.span,
                            format!("'{}' is not ADDR:PORT (e.g. 127.0.0.1:9165, [::1]:9165)", t.text),
                        ),
                    }
                }
            }
            "state_dir" => {
                if let Some(p) = absolute_path(ctx, n) {
                    g.state_dir = p;
                }
            }
            "lvs_flush" => g.lvs.flush = ctx.flag(n),
            "lvs_flush_onstop" | "lvs_flush_on_stop" => match n.args.first().map(|t| t.text.as_str()) {
                None => g.lvs.flush_onstop = LvsFlushOnStop::All,
                Some("VS") => g.lvs.flush_onstop = LvsFlushOnStop::VirtualServers,
                Some(o) => ctx.error(n.args[0].span, format!("Unknown lvs_flush_on_stop type {o}")),
            },
            "lvs_timeouts" => read_lvs_timeouts(ctx, n, &mut g.lvs.timeouts),
            "include" => {}
            _ => {
                if lookup(GLOBAL_NO_EFFECT, kw).is_some() {
                    if let Some((_, value)) = GLOBAL_INERT_VALUES.iter().find(|(k, _)| *k == kw) {
                        let cpus = ctx.inert(n, *value);
                        if !cpus.is_empty() {
                            g.vrrp_cpu_affinity = cpus;
                        }
                    }
                    continue;
                }
                if let Some(what) = lookup(GLOBAL_UNSUPPORTED, kw) {
                    ctx.unsupported(n, what);
                    if let Some((_, value)) = GLOBAL_UNSUPPORTED_VALUES.iter().find(|(k, _)| *k == kw) {
                        ctx.inert(n, *value);
                    }
                    continue;
                }
                if let Some(newer) = newer_ignored("global_defs", kw) {
                    ctx.newer_ignored(n, newer);
                    continue;
                }
                let known: Vec<&str> = KEYWORDS
                    .iter()
                    .copied()
                    .chain(GLOBAL_NO_EFFECT.iter().map(|(k, _)| *k))
                    .chain(GLOBAL_UNSUPPORTED.iter().map(|(k, _)| *k))
                    .collect();
                ctx.unknown(n, "global_defs", &known);
            }
        }
        if KEYWORDS.contains(&kw) {
            ctx.no_block(n);
        }
    }
}

/// Applies the defaults that depend on other settings: keepalived derives
/// the lower-priority GARP settings from the master ones, and strict mode
/// zeroes them and forces `lower_prio_no_advert`.
pub fn finish(g: &mut GlobalDefs, raw: &GlobalRaw) {
    // vrrp_min_garp: one GARP and no second burst, unless set explicitly.
    let (def_delay, def_repeat) = if g.min_garp {
        (Duration::ZERO, 1)
    } else {
        (Duration::from_secs(5), 5)
    };
    g.garp.master_delay = raw.master_delay.unwrap_or(def_delay);
    g.garp.master_repeat = raw.master_repeat.unwrap_or(def_repeat);
    g.garp.lower_prio_delay =
        raw.lower_prio_delay
            .unwrap_or(if g.strict { Duration::ZERO } else { g.garp.master_delay });
    g.garp.lower_prio_repeat = raw
        .lower_prio_repeat
        .unwrap_or(if g.strict { 0 } else { g.garp.master_repeat });
    g.lower_prio_no_advert = raw.lower_prio_no_advert.unwrap_or(g.strict);
}

fn fifo(ctx: &mut Ctx<'_>, n: &Node) -> Option<FifoSpec> {
    let path = ctx.soft_arg(n, 0, "a FIFO path")?;
    let spec = FifoSpec {
        path: path.text.clone().into(),
        user: ctx.user_spec(n, 1),
        span: path.span,
    };
    Some(spec)
}

/// An rkeepalived path setting: absolute, or an error and the default kept.
fn absolute_path(ctx: &mut Ctx<'_>, n: &Node) -> Option<std::path::PathBuf> {
    let s = ctx.soft_string_arg(n, "a path")?;
    if s.starts_with('/') {
        Some(s.into())
    } else {
        ctx.error(n.args[0].span, format!("{} must be an absolute path", n.name()));
        None
    }
}

/// `lvs_timeouts [tcp N] [tcpfin N] [udp N]` (seconds; IPVS's own
/// connection timeouts, set once at start).
fn read_lvs_timeouts(ctx: &mut Ctx<'_>, n: &Node, t: &mut LvsTimeouts) {
    let mut i = 0;
    while let Some(k) = n.args.get(i) {
        let slot = match k.text.as_str() {
            "tcp" => &mut t.tcp,
            "tcpfin" => &mut t.tcpfin,
            "udp" => &mut t.udp,
            other => {
                ctx.error(k.span, format!("Unknown option {other} specified for lvs_timeouts"));
                i += 1;
                continue;
            }
        };
        match n.args.get(i + 1) {
            Some(v) => match v.text.parse::<i64>() {
                Ok(s) if (0..=i64::from(u32::MAX)).contains(&s) => *slot = Some(s as u32),
                _ => ctx.error(
                    v.span,
                    format!("Invalid lvs_timeout {} ({}) - ignoring", k.text, v.text),
                ),
            },
            None => ctx.error(k.span, format!("lvs_timeouts {} needs a number of seconds", k.text)),
        }
        i += 2;
    }
}
