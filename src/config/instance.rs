//! `vrrp_instance NAME { … }`: reading, then completion with keepalived
//! 2.2.7's defaults and rules (its `vrrp_complete_instance`, observed).

use std::net::IpAddr;
use std::time::Duration;

use super::address::parse_vip;
use super::diag::Span;
use super::keywords::{lookup, newer_ignored, INSTANCE_NO_EFFECT, INSTANCE_UNSUPPORTED};
use super::model::{
    Auth, AuthType, Family, GarpSettings, GlobalDefs, InitialState, Notifies, TrackInterface, TrackRef, UnicastPeer,
    VirtualAddress, VirtualRoute, VirtualRule, Vmac, VrrpInstance,
};
use super::route::{parse_route, parse_rule};
use super::tracking::{block_name, notify_setting, read_track_interfaces, read_track_refs};
use super::tree::Node;
use super::values::{fmt_secs, Ctx};

pub const KEYWORDS: &[&str] = &[
    "state",
    "interface",
    "virtual_router_id",
    "priority",
    "advert_int",
    "version",
    "authentication",
    "virtual_ipaddress",
    "virtual_ipaddress_excluded",
    "virtual_routes",
    "virtual_rules",
    "track_interface",
    "track_script",
    "track_file",
    "track_process",
    "track_bfd",
    "dont_track_primary",
    "nopreempt",
    "preempt",
    "preempt_delay",
    "garp_master_delay",
    "garp_master_repeat",
    "garp_master_refresh",
    "garp_master_refresh_repeat",
    "garp_lower_prio_delay",
    "garp_lower_prio_repeat",
    "garp_extra_if",
    "vmac_garp_intvl",
    "down_timer_adverts",
    "lower_prio_no_advert",
    "higher_prio_send_advert",
    "notify_master",
    "notify_backup",
    "notify_fault",
    "notify_stop",
    "notify_deleted",
    "notify",
    "notify_master_rx_lower_pri",
    "notify_priority_changes",
    "unicast_src_ip",
    "mcast_src_ip",
    "unicast_peer",
    "unicast_ttl",
    "unicast_fault_no_peer",
    "check_unicast_src",
    "mcast_dst_ip",
    "track_src_ip",
    "use_vmac",
    "use_vmac_addr",
    "vmac_xmit_base",
    "accept",
    "skip_check_adv_addr",
    "strict_mode",
    "promote_secondaries",
    "v3_checksum_as_v2",
    "no_virtual_ipaddress",
    "owner_ignore_adverts",
];

/// An instance as written, before defaults and global values apply.
#[derive(Default)]
struct Raw {
    span: Span,
    state: Option<(InitialState, Span)>,
    priority: Option<(u8, Span)>,
    interface: Option<(String, Span)>,
    vrid: Option<u8>,
    advert_int: Option<(Duration, Span)>,
    version: Option<(u8, Span)>,
    auth_type: Option<(AuthType, Span)>,
    auth_pass: Option<([u8; 8], Span)>,
    vips: Vec<VirtualAddress>,
    excluded: Vec<VirtualAddress>,
    vips_span: Option<Span>,
    routes: Vec<VirtualRoute>,
    rules: Vec<VirtualRule>,
    track_interfaces: Vec<TrackInterface>,
    track_scripts: Vec<TrackRef>,
    track_files: Vec<TrackRef>,
    track_processes: Vec<TrackRef>,
    track_bfd: Vec<TrackRef>,
    dont_track_primary: bool,
    nopreempt: Option<Span>,
    preempt_delay: Option<(Duration, Span)>,
    garp_master_delay: Option<Duration>,
    garp_master_repeat: Option<u32>,
    garp_master_refresh: Option<Duration>,
    garp_master_refresh_repeat: Option<u32>,
    garp_lower_prio_delay: Option<Duration>,
    garp_lower_prio_repeat: Option<u32>,
    down_timer_adverts: Option<(u32, Span)>,
    lower_prio_no_advert: Option<bool>,
    higher_prio_send_advert: Option<bool>,
    notify: Notifies,
    notify_priority_changes: Option<bool>,
    unicast_src_ip: Option<(IpAddr, Span)>,
    unicast_peers: Vec<(UnicastPeer, Span)>,
    unicast_peer_block: Option<Span>,
    unicast_ttl: Option<(u8, Span)>,
    unicast_fault_no_peer: bool,
    check_unicast_src: bool,
    /// Where `check_unicast_src` was set: a unicast keyword.
    check_unicast_src_span: Option<Span>,
    /// Where `unicast_src_ip` (not its alias `mcast_src_ip`) was set.
    unicast_keyword: Option<Span>,
    mcast_dst_ip: Option<(IpAddr, Span)>,
    track_src_ip: bool,
    use_vmac: Option<(Option<String>, Option<[u8; 6]>, Span)>,
    vmac_xmit_base: Option<Span>,
    accept: Option<bool>,
    skip_check_adv_addr: Option<bool>,
    strict_mode: Option<bool>,
    promote_secondaries: Option<Span>,
    v3_checksum_as_v2: Option<bool>,
    no_virtual_ipaddress: bool,
    owner_ignore_adverts: Option<bool>,
}

use super::global::MAX_GARP_SECS;

/// Addresses one advert can carry (an 8-bit count).
const MAX_ADVERTISED: usize = 255;

pub fn read(ctx: &mut Ctx<'_>, n: &Node, g: &GlobalDefs) -> Option<VrrpInstance> {
    let name = block_name(ctx, n, "vrrp_instance")?;
    let mut r = Raw {
        span: n.span(),
        ..Raw::default()
    };
    for c in n.children() {
        if notify_setting(ctx, c, &mut r.notify) {
            continue;
        }
        read_keyword(ctx, c, &name, &mut r);
    }
    complete(ctx, name, r, g)
}

fn read_keyword(ctx: &mut Ctx<'_>, c: &Node, name: &str, r: &mut Raw) {
    let kw = c.name();
    let block_kw = matches!(
        kw,
        "authentication"
            | "virtual_ipaddress"
            | "virtual_ipaddress_excluded"
            | "virtual_routes"
            | "virtual_rules"
            | "track_interface"
            | "track_script"
            | "track_file"
            | "track_process"
            | "track_bfd"
            | "unicast_peer"
    );
    if KEYWORDS.contains(&kw) {
        if block_kw {
            if c.block.is_none() {
                ctx.error(c.end_span(), format!("'{kw}' needs a '{{ … }}' block"));
                return;
            }
        } else {
            ctx.no_block(c);
        }
    }
    match kw {
        "state" => {
            if let Some(t) = ctx.arg(c, 0, "MASTER or BACKUP") {
                let s = match t.text.as_str() {
                    "MASTER" => InitialState::Master,
                    "BACKUP" => InitialState::Backup,
                    other => {
                        ctx.error(t.span, format!("({name}) unknown state '{other}', defaulting to BACKUP (only MASTER and BACKUP, in upper case)"));
                        InitialState::Backup
                    }
                };
                r.state = Some((s, t.span));
                ctx.extra_args(c, 1);
            }
        }
        "interface" => {
            if let Some(t) = ctx.arg(c, 0, "an interface name") {
                r.interface = Some((t.text.clone(), t.span));
                ctx.extra_args(c, 1);
            }
        }
        "virtual_router_id" => r.vrid = ctx.int_arg(c, 1, 255).map(|v| v as u8),
        "priority" => {
            if let Some(t) = ctx.arg(c, 0, "a number") {
                let v = match ctx.int(t, 1, 255) {
                    Some(v) => v as u8,
                    None => {
                        ctx.error(
                            t.span,
                            format!("({name}) priority must be between 1 and 255; using the default 100"),
                        );
                        100
                    }
                };
                r.priority = Some((v, t.span));
                ctx.extra_args(c, 1);
            }
        }
        "advert_int" => {
            if let Some(t) = ctx.arg(c, 0, "an interval in seconds") {
                if let Some(d) = ctx.timer(t, 10_000, 255_000_000) {
                    r.advert_int = Some((d, t.span));
                }
                ctx.extra_args(c, 1);
            }
        }
        "version" => {
            if let Some(t) = ctx.arg(c, 0, "2 or 3") {
                if let Some(v) = ctx.int(t, 2, 3) {
                    r.version = Some((v as u8, t.span));
                }
            }
        }
        "authentication" => read_auth(ctx, c, name, r),
        "virtual_ipaddress" => {
            r.vips_span = Some(c.span());
            for a in c.children() {
                r.vips.extend(parse_vip(ctx, a));
            }
        }
        "virtual_ipaddress_excluded" => {
            for a in c.children() {
                r.excluded.extend(parse_vip(ctx, a));
            }
        }
        "virtual_routes" => {
            for a in c.children() {
                r.routes.extend(parse_route(ctx, a));
            }
        }
        "virtual_rules" => {
            for a in c.children() {
                r.rules.extend(parse_rule(ctx, a));
            }
        }
        "track_interface" => r.track_interfaces.extend(read_track_interfaces(ctx, c)),
        "track_script" => r.track_scripts.extend(read_track_refs(ctx, c, -253, 253)),
        "track_file" => r.track_files.extend(read_track_refs(ctx, c, -254, 254)),
        "track_process" => r.track_processes.extend(read_track_refs(ctx, c, -254, 254)),
        "track_bfd" => {
            ctx.unsupported(c, "BFD");
            r.track_bfd.extend(read_track_refs(ctx, c, -253, 253));
        }
        "dont_track_primary" => r.dont_track_primary = ctx.flag(c),
        "nopreempt" => {
            ctx.flag(c);
            r.nopreempt = Some(c.span());
        }
        "preempt" => {
            ctx.flag(c);
            r.nopreempt = None;
        }
        "preempt_delay" => {
            if let Some(d) = ctx.timer_arg(c, 0, 1_000_000_000) {
                r.preempt_delay = Some((d, c.span()));
            }
        }
        "garp_master_delay" => r.garp_master_delay = ctx.secs_arg(c, 0, MAX_GARP_SECS),
        "garp_master_repeat" => r.garp_master_repeat = ctx.repeat_arg(c),
        "garp_master_refresh" => r.garp_master_refresh = ctx.secs_arg(c, 0, u64::from(u32::MAX)),
        "garp_master_refresh_repeat" => r.garp_master_refresh_repeat = ctx.repeat_arg(c),
        "garp_lower_prio_delay" => r.garp_lower_prio_delay = ctx.secs_arg(c, 0, MAX_GARP_SECS),
        "garp_lower_prio_repeat" => r.garp_lower_prio_repeat = ctx.u32_arg(c, 0, u32::MAX),
        "garp_extra_if" | "vmac_garp_intvl" => {
            if c.name() == "vmac_garp_intvl" {
                ctx.deprecated(c, "garp_extra_if");
            }
            // Checked as keepalived checks it; the global vrrp_garp_extra_if
            // drives extra GARPs.
            let idx = usize::from(c.args.first().is_some_and(|t| t.text == "all"));
            if let Some(t) = ctx.soft_arg(c, idx, "an interval in seconds") {
                if !t.text.parse::<u64>().is_ok_and(|v| v <= 86_400) {
                    let msg = format!("'{}' is not a whole number of seconds in [0, 86400]; ignored", t.text);
                    ctx.error(t.span, msg);
                }
            }
        }
        "down_timer_adverts" => {
            if let Some(v) = ctx.u32_arg(c, 1, 100) {
                r.down_timer_adverts = Some((v, c.span()));
            }
        }
        "lower_prio_no_advert" => r.lower_prio_no_advert = Some(ctx.flag_or_bool(c)),
        "higher_prio_send_advert" => r.higher_prio_send_advert = Some(ctx.flag_or_bool(c)),
        "notify_priority_changes" => r.notify_priority_changes = Some(ctx.flag_or_bool(c)),
        "unicast_src_ip" | "mcast_src_ip" => {
            if let Some(t) = ctx.arg(c, 0, "an IP address") {
                if let Some(a) = ctx.ip(t) {
                    r.unicast_src_ip = Some((a, t.span));
                }
                if c.name() == "unicast_src_ip" {
                    r.unicast_keyword = Some(c.span());
                }
            }
        }
        "unicast_peer" => {
            r.unicast_peer_block = Some(c.span());
            for p in c.children() {
                ctx.no_block(p);
                read_peer(ctx, p, r);
            }
        }
        "unicast_ttl" => r.unicast_ttl = ctx.int_arg(c, 0, 255).map(|v| (v as u8, c.span())),
        "unicast_fault_no_peer" => r.unicast_fault_no_peer = ctx.flag(c),
        "check_unicast_src" => {
            r.check_unicast_src = ctx.flag(c);
            r.check_unicast_src_span = Some(c.span());
        }
        "mcast_dst_ip" => {
            if let Some(t) = ctx.arg(c, 0, "a multicast address") {
                match ctx.ip(t) {
                    Some(a) if a.is_multicast() => r.mcast_dst_ip = Some((a, t.span)),
                    Some(_) => ctx.error(t.span, format!("'{}' is not a multicast address", t.text)),
                    None => {}
                }
            }
        }
        "track_src_ip" => r.track_src_ip = ctx.flag(c),
        "use_vmac" => {
            let mut ifname = None;
            let mut mac = None;
            for t in &c.args {
                match parse_mac(&t.text) {
                    Some(m) => mac = Some(m),
                    None if ifname.is_none() => {
                        if t.text.len() > 15 {
                            ctx.error(
                                t.span,
                                format!("interface name '{}' is longer than 15 characters", t.text),
                            );
                        } else {
                            ifname = Some(t.text.clone());
                        }
                    }
                    None => ctx.error(t.span, format!("unexpected '{}' after use_vmac's name", t.text)),
                }
            }
            r.use_vmac = Some((ifname, mac, c.span()));
        }
        "use_vmac_addr" => {
            ctx.flag(c);
        }
        "vmac_xmit_base" => {
            ctx.flag(c);
            r.vmac_xmit_base = Some(c.span());
        }
        "accept" => r.accept = Some(ctx.flag(c)),
        "skip_check_adv_addr" => r.skip_check_adv_addr = Some(ctx.flag_or_bool(c)),
        "strict_mode" => r.strict_mode = Some(ctx.flag_or_bool(c)),
        "promote_secondaries" => {
            ctx.flag(c);
            r.promote_secondaries = Some(c.span());
        }
        "v3_checksum_as_v2" => r.v3_checksum_as_v2 = Some(ctx.flag_or_bool(c)),
        "no_virtual_ipaddress" => r.no_virtual_ipaddress = ctx.flag(c),
        "owner_ignore_adverts" => r.owner_ignore_adverts = Some(ctx.flag_or_bool(c)),
        "include" => {}
        _ => {
            if lookup(INSTANCE_NO_EFFECT, kw).is_some() {
                if kw == "linkbeat_use_polling" {
                    ctx.deprecated(c, "a linkbeat_interfaces block");
                }
                return;
            }
            if let Some(what) = lookup(INSTANCE_UNSUPPORTED, kw) {
                ctx.unsupported(c, what);
                if kw == "smtp_alert" {
                    ctx.inert(c, super::keywords::Inert::OptionalBool);
                }
                return;
            }
            if let Some(newer) = newer_ignored("vrrp_instance", kw) {
                ctx.newer_ignored(c, newer);
                return;
            }
            let known: Vec<&str> = KEYWORDS
                .iter()
                .copied()
                .chain(INSTANCE_NO_EFFECT.iter().map(|(k, _)| *k))
                .chain(INSTANCE_UNSUPPORTED.iter().map(|(k, _)| *k))
                .collect();
            ctx.unknown(c, "vrrp_instance", &known);
        }
    }
}

fn read_auth(ctx: &mut Ctx<'_>, c: &Node, name: &str, r: &mut Raw) {
    for a in c.children() {
        ctx.no_block(a);
        match a.name() {
            "auth_type" => {
                if let Some(t) = ctx.arg(a, 0, "PASS or AH") {
                    match t.text.as_str() {
                        "PASS" => r.auth_type = Some((AuthType::Pass, t.span)),
                        "AH" => r.auth_type = Some((AuthType::Ah, t.span)),
                        other => ctx.error(t.span, format!("({name}) unknown auth_type '{other}' (PASS or AH)")),
                    }
                }
            }
            "auth_pass" => {
                if let Some(t) = ctx.arg(a, 0, "a password") {
                    let bytes = t.text.as_bytes();
                    if bytes.len() > 8 {
                        ctx.warning(
                            t.span,
                            "auth_pass is longer than 8 characters; truncated to 8 as keepalived does",
                        );
                    }
                    let mut pass = [0u8; 8];
                    let n = bytes.len().min(8);
                    pass[..n].copy_from_slice(&bytes[..n]);
                    r.auth_pass = Some((pass, t.span));
                }
            }
            "include" => {}
            _ => ctx.unknown(a, "authentication", &["auth_type", "auth_pass"]),
        }
    }
}

fn read_peer(ctx: &mut Ctx<'_>, p: &Node, r: &mut Raw) {
    let Some(addr) = ctx.ip(&p.keyword) else {
        return;
    };
    let mut peer = UnicastPeer {
        addr,
        min_ttl: None,
        max_ttl: None,
    };
    let mut i = 0;
    while i < p.args.len() {
        let t = &p.args[i];
        match t.text.as_str() {
            "min_ttl" | "max_ttl" => {
                let v = match p.args.get(i + 1) {
                    Some(v) => ctx.int(v, 0, 255).map(|n| n as u8),
                    None => {
                        ctx.error(t.span, format!("'{}' needs a number", t.text));
                        None
                    }
                };
                if t.text == "min_ttl" {
                    peer.min_ttl = v;
                } else {
                    peer.max_ttl = v;
                }
                i += 2;
            }
            other => {
                ctx.error(
                    t.span,
                    format!("unknown unicast_peer option '{other}' (min_ttl N, max_ttl N)"),
                );
                i += 1;
            }
        }
    }
    r.unicast_peers.push((peer, p.span()));
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || p.len() > 2 {
            return None;
        }
        mac[i] = u8::from_str_radix(p, 16).ok()?;
    }
    Some(mac)
}

fn family_of(a: &IpAddr) -> Family {
    if a.is_ipv4() {
        Family::V4
    } else {
        Family::V6
    }
}

/// Applies keepalived's defaults and rules to a read instance.
fn complete(ctx: &mut Ctx<'_>, name: String, r: Raw, g: &GlobalDefs) -> Option<VrrpInstance> {
    let span = r.span;
    let Some(vrid) = r.vrid else {
        ctx.error(
            span,
            format!("({name}) the virtual router id must be set (virtual_router_id 1..255); instance removed"),
        );
        return None;
    };
    let strict = r.strict_mode.unwrap_or(g.strict);

    // Address family: the first VIP decides; otherwise unicast addresses.
    let family = r
        .vips
        .first()
        .map(|v| family_of(&v.addr))
        .or_else(|| r.unicast_src_ip.map(|(a, _)| family_of(&a)))
        .or_else(|| r.unicast_peers.first().map(|(p, _)| family_of(&p.addr)))
        .unwrap_or(Family::V4);
    let mut vips = Vec::new();
    for v in r.vips {
        if family_of(&v.addr) == family {
            vips.push(v);
        } else {
            ctx.error(
                v.span,
                format!(
                    "({name}) address family must match the VRRP instance's ({}); address ignored",
                    fam_name(family)
                ),
            );
        }
    }

    // An advert carries 255 addresses at most: keepalived moves the rest
    // to the excluded ones (installed, not advertised).
    let mut excluded = r.excluded;
    if vips.len() > MAX_ADVERTISED {
        ctx.warning(
            r.vips_span.unwrap_or(span),
            format!(
                "({name}) {} VIPs exceed the 255 an advert carries; the excess become excluded addresses",
                vips.len()
            ),
        );
        excluded.splice(0..0, vips.split_off(MAX_ADVERTISED));
    }

    let mut version = r.version.map(|(v, _)| v).unwrap_or(g.vrrp_version);
    if family == Family::V6 && version == 2 {
        if let Some((_, s)) = r.version {
            ctx.note(s, format!("({name}) IPv6 requires VRRPv3; using version 3"));
        }
        version = 3;
    }

    // Priority and state: `state MASTER` without a priority is the owner.
    let state_given = r.state.map(|(s, _)| s);
    let priority = match (r.priority, state_given) {
        (Some((p, _)), _) => p,
        (None, Some(InitialState::Master)) => 255,
        (None, _) => 100,
    };
    let mut state = state_given.unwrap_or(if priority == 255 {
        InitialState::Master
    } else {
        InitialState::Backup
    });

    // Advertisement interval, rounded to what the version can carry.
    let mut advert_int = r.advert_int.map(|(d, _)| d).unwrap_or(Duration::from_secs(1));
    if let Some((_, s)) = r.advert_int {
        if version == 2 {
            let us = advert_int.as_micros();
            if us % 1_000_000 != 0 {
                let rounded = ((us + 500_000) / 1_000_000).max(1);
                ctx.warning(
                    s,
                    format!(
                        "({name}) VRRPv2 advertisement interval {}s must be an integer; rounded to {rounded}s",
                        fmt_secs(us as u64)
                    ),
                );
                advert_int = Duration::from_secs(rounded as u64);
            }
        } else {
            let us = advert_int.as_micros();
            let cs = ((us + 5_000) / 10_000).max(1);
            if us % 10_000 != 0 {
                ctx.warning(
                    s,
                    format!(
                        "({name}) VRRPv3 advertisement interval is carried in centiseconds; rounded to {}s",
                        fmt_secs((cs * 10_000) as u64)
                    ),
                );
            }
            if cs > 4095 {
                ctx.error(
                    s,
                    format!("({name}) VRRPv3 advertisement interval must be below 40.96 s; using 40.95 s"),
                );
            }
            advert_int = Duration::from_millis((cs.min(4095) * 10) as u64);
        }
    }

    // Authentication: v2 only.
    let mut auth = match (r.auth_type, r.auth_pass) {
        (Some((t, _)), pass) => Some(Auth {
            auth_type: t,
            password: pass.map(|(p, _)| p).unwrap_or([0; 8]),
        }),
        (None, Some((_, s))) => {
            ctx.error(
                s,
                format!("({name}) auth_pass without auth_type; authentication ignored"),
            );
            None
        }
        (None, None) => None,
    };
    if let (Some(a), Some((_, s))) = (&auth, r.auth_type) {
        if version == 3 {
            ctx.warning(
                s,
                format!("({name}) authentication is not supported with VRRPv3; ignored"),
            );
            auth = None;
        } else if strict {
            ctx.error(
                s,
                format!("({name}) authentication is not allowed in strict mode; ignored"),
            );
            auth = None;
        } else if a.auth_type == AuthType::Ah {
            ctx.note(s, format!("({name}) auth_type AH is not supported by rkeepalived; adverts will carry AH type but no IPsec header"));
            if state == InitialState::Master {
                ctx.warning(
                    s,
                    format!("({name}) initial state MASTER is incompatible with AH authentication; cleared"),
                );
                state = InitialState::Backup;
            }
        }
    }

    // Interface.
    let interface = r.interface.as_ref().map(|(i, _)| i.clone());
    if let Some((i, s)) = &r.interface {
        if i == "lo" {
            ctx.error(*s, format!("({name}) cannot use the loopback interface"));
        }
    }
    let unicast = !r.unicast_peers.is_empty();
    if interface.is_none() && !(unicast && r.unicast_src_ip.is_some()) {
        ctx.error(
            span,
            format!(
                "({name}) no interface given (an interface is required unless unicast_peer and unicast_src_ip are set)"
            ),
        );
    }

    if vips.is_empty() && !r.no_virtual_ipaddress {
        let at = r.vips_span.unwrap_or(span);
        if version == 3 || strict {
            ctx.error(
                at,
                format!("({name}) no VIP specified; VRRPv3 and strict mode need at least one"),
            );
        } else {
            ctx.warning(at, format!("({name}) no VIP specified; at least one is sensible"));
        }
    }

    // Owner rules.
    let mut nopreempt = r.nopreempt.is_some();
    let mut nopreempt_ignored = None;
    if let Some(s) = r.nopreempt {
        if priority == 255 {
            ctx.warning(
                s,
                format!("({name}) nopreempt is incompatible with priority 255; cleared"),
            );
            nopreempt = false;
            nopreempt_ignored = Some(s);
        } else if state == InitialState::Master {
            ctx.warning(s, format!("({name}) nopreempt needs 'state BACKUP'; cleared"));
            nopreempt = false;
            nopreempt_ignored = Some(s);
        }
    }
    let mut preempt_delay = Duration::ZERO;
    if let Some((d, s)) = r.preempt_delay {
        if state == InitialState::Master || nopreempt || strict {
            ctx.warning(
                s,
                format!("({name}) preempt_delay is ignored with state MASTER, nopreempt or strict mode"),
            );
        } else {
            preempt_delay = d;
        }
    }
    if strict && state == InitialState::Master && priority < 255 {
        if let Some((_, s)) = r.state {
            ctx.warning(
                s,
                format!("({name}) strict mode allows state MASTER only with priority 255; starting as BACKUP"),
            );
        }
        state = InitialState::Backup;
    }

    let mut track_interfaces = Vec::new();
    for t in r.track_interfaces {
        if Some(&t.name) == interface.as_ref() {
            ctx.warning(
                t.span,
                format!(
                    "({name}) the instance's own interface {} is always tracked; entry ignored",
                    t.name
                ),
            );
            continue;
        }
        track_interfaces.push(t);
    }

    // Unicast peers.
    let mut peers = Vec::new();
    let had_peers = !r.unicast_peers.is_empty();
    for (p, s) in r.unicast_peers {
        if family_of(&p.addr) != family {
            ctx.error(
                s,
                format!(
                    "({name}) unicast peer {} is not of the instance's address family",
                    p.addr
                ),
            );
            continue;
        }
        peers.push(p);
    }
    if let Some((a, s)) = r.unicast_src_ip {
        if family_of(&a) != family {
            ctx.error(
                s,
                format!("({name}) unicast_src_ip {a} is not of the instance's address family"),
            );
        }
    }
    if peers.is_empty() && !had_peers && !r.unicast_fault_no_peer {
        // keepalived counts any unicast keyword without a peer as an error.
        let unicast_keyword = r.unicast_peer_block.or(r.unicast_keyword).or(r.check_unicast_src_span);
        if let Some(s) = unicast_keyword {
            ctx.warning(s, format!("({name}) a unicast keyword without unicast peers: using multicast (set unicast_fault_no_peer to stay in FAULT instead)"));
        }
    }
    if strict && !peers.is_empty() {
        ctx.note(span, format!("({name}) strict mode: unicast peers are outside the RFC"));
    }
    let mut unicast_ttl = r.unicast_ttl.map(|(t, _)| t).unwrap_or(255);
    if let (Some((_, s)), true) = (r.unicast_ttl, peers.is_empty()) {
        ctx.warning(s, format!("({name}) unicast_ttl needs unicast peers; reset"));
        unicast_ttl = 255;
    }
    let check_unicast_src =
        r.check_unicast_src || g.check_unicast_src || peers.iter().any(|p| p.min_ttl.is_some() || p.max_ttl.is_some());

    let mcast_dst = match r.mcast_dst_ip {
        Some((a, s)) => {
            if family_of(&a) != family {
                ctx.error(
                    s,
                    format!("({name}) mcast_dst_ip is not of the instance's address family"),
                );
            }
            a
        }
        None => match family {
            Family::V4 => IpAddr::V4(g.mcast_group4),
            Family::V6 => IpAddr::V6(g.mcast_group6),
        },
    };

    let mut down_timer_adverts = r.down_timer_adverts.map(|(v, _)| v).unwrap_or(g.down_timer_adverts);
    if let (true, Some((v, s))) = (strict, r.down_timer_adverts) {
        if v != 3 {
            ctx.warning(s, format!("({name}) strict mode requires down_timer_adverts 3"));
            down_timer_adverts = 3;
        }
    }

    let mut garp = GarpSettings {
        master_delay: r.garp_master_delay.unwrap_or(g.garp.master_delay),
        master_repeat: r.garp_master_repeat.unwrap_or(g.garp.master_repeat),
        master_refresh: r.garp_master_refresh.unwrap_or(g.garp.master_refresh),
        master_refresh_repeat: r.garp_master_refresh_repeat.unwrap_or(g.garp.master_refresh_repeat),
        lower_prio_delay: r.garp_lower_prio_delay.unwrap_or(g.garp.lower_prio_delay),
        lower_prio_repeat: r.garp_lower_prio_repeat.unwrap_or(g.garp.lower_prio_repeat),
        interval: g.garp.interval,
        na_interval: g.garp.na_interval,
    };
    if strict {
        garp.lower_prio_repeat = r.garp_lower_prio_repeat.unwrap_or(0);
        garp.lower_prio_delay = r.garp_lower_prio_delay.unwrap_or(Duration::ZERO);
    }

    let vmac = r.use_vmac.map(|(ifname, mac, _)| Vmac {
        named: ifname.is_some(),
        name: ifname.unwrap_or_else(|| format!("{}.{vrid}", g.vmac_prefix)),
        mac,
        xmit_base: r.vmac_xmit_base.is_some(),
    });
    let mut promote_secondaries = r.promote_secondaries.is_some();
    if let (Some(s), true) = (r.promote_secondaries, vmac.is_some()) {
        ctx.warning(
            s,
            format!("({name}) promote_secondaries is set automatically for VMACs; ignored"),
        );
        promote_secondaries = false;
    }
    if let Some(s) = r.vmac_xmit_base {
        if vmac.is_none() {
            ctx.warning(s, format!("({name}) vmac_xmit_base without use_vmac; ignored"));
        } else if strict {
            ctx.warning(s, format!("({name}) vmac_xmit_base is not allowed in strict mode"));
        }
    }

    let lower_prio_no_advert = if strict {
        true
    } else {
        r.lower_prio_no_advert.unwrap_or(g.lower_prio_no_advert)
    };

    let mut instance = VrrpInstance {
        name,
        span,
        state,
        priority,
        interface,
        vrid,
        family,
        version,
        advert_int,
        auth,
        vips,
        excluded_vips: excluded,
        routes: r.routes,
        rules: r.rules,
        track_interfaces,
        track_scripts: r.track_scripts,
        track_files: r.track_files,
        track_processes: r.track_processes,
        track_bfd: r.track_bfd,
        dont_track_primary: r.dont_track_primary,
        nopreempt,
        nopreempt_ignored,
        preempt_delay,
        garp,
        down_timer_adverts,
        lower_prio_no_advert,
        higher_prio_send_advert: r.higher_prio_send_advert.unwrap_or(g.higher_prio_send_advert),
        notify: r.notify,
        notify_priority_changes: r.notify_priority_changes.unwrap_or(g.vrrp_notify_priority_changes),
        unicast_src_ip: r.unicast_src_ip.map(|(a, _)| a),
        unicast_peers: peers,
        unicast_ttl,
        unicast_fault_no_peer: r.unicast_fault_no_peer,
        check_unicast_src,
        mcast_dst,
        track_src_ip: r.track_src_ip,
        vmac,
        accept: r.accept.unwrap_or(!strict || priority == 255),
        skip_check_adv_addr: r.skip_check_adv_addr.unwrap_or(g.skip_check_adv_addr),
        strict,
        promote_secondaries,
        v3_checksum_as_v2: r.v3_checksum_as_v2.unwrap_or(g.v3_checksum_as_v2),
        owner_ignore_adverts: r.owner_ignore_adverts.unwrap_or(g.owner_ignore_adverts),
        sync_group: None,
        linger_on_fault: false,
    };
    // Each list grew by pushes (capacity 4 for one VIP); a daemon keeps
    // thousands of instances for its lifetime.
    instance.shrink_to_fit();
    Some(instance)
}

fn fam_name(f: Family) -> &'static str {
    match f {
        Family::V4 => "IPv4",
        Family::V6 => "IPv6",
    }
}
