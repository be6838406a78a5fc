//! Tracked objects (`vrrp_script`, `track_file`, `vrrp_track_process`),
//! the `track_*` reference lists of instances and groups, and
//! `vrrp_sync_group`.

use std::time::Duration;

use super::keywords::{lookup, SYNC_GROUP_UNSUPPORTED};
use super::model::{
    CheckCommon, Notifies, ParamMatch, SyncGroup, TrackFile, TrackInterface, TrackProcess, TrackRef, VrrpScript,
};
use super::tree::Node;
use super::values::Ctx;

/// Script interval/timeout bounds: 1 ms to a day. keepalived 2.2.7 takes
/// whole seconds only; fractions are accepted as keepalived 2.3.2+ does.
const MIN_INTERVAL_US: u64 = 1_000;
const MAX_INTERVAL_US: u64 = 86_400_000_000;

/// The block's name argument, or an error.
pub fn block_name(ctx: &mut Ctx<'_>, n: &Node, what: &str) -> Option<String> {
    let what = format!("a {what} name");
    // keepalived skips a nameless instance or sync group, and our own
    // blocks; it stops on the other nameless blocks.
    let name = if matches!(n.name(), "vrrp_script" | "track_file" | "vrrp_track_process") {
        ctx.arg(n, 0, &what)
    } else {
        ctx.soft_arg(n, 0, &what)
    }?
    .text
    .clone();
    ctx.extra_args(n, 1);
    if n.block.is_none() {
        ctx.error(n.end_span(), format!("'{}' needs a '{{ … }}' block", n.name()));
    }
    Some(name)
}

/// Reads one of the settings every check kind shares with `vrrp_script`;
/// false when `n` is not one of them.
pub fn common_setting(ctx: &mut Ctx<'_>, n: &Node, c: &mut CheckCommon) -> bool {
    match n.name() {
        "interval" => {
            if let Some(d) = ctx.timer_arg(n, 0, MAX_INTERVAL_US) {
                c.interval = if d.as_micros() < u128::from(MIN_INTERVAL_US) {
                    ctx.error(
                        n.args[0].span,
                        "interval must be at least 0.001 s; using 1 s as keepalived does",
                    );
                    Duration::from_secs(1)
                } else {
                    d
                };
            }
        }
        "timeout" => {
            if let Some(d) = ctx.timer_arg(n, 0, MAX_INTERVAL_US) {
                c.timeout = d;
            }
        }
        "weight" => {
            if let Some(t) = ctx.arg(n, 0, "a number") {
                if let Some(w) = ctx.int(t, -253, 253) {
                    c.weight = w as i32;
                }
                match n.args.get(1).map(|t| t.text.as_str()) {
                    Some("reverse") => c.reverse = true,
                    Some("noreverse") => c.reverse = false,
                    Some(_) => ctx.error(
                        n.args[1].span,
                        format!("expected 'reverse' after the weight, found '{}'", n.args[1].text),
                    ),
                    None => {}
                }
                ctx.extra_args(n, 2);
            }
        }
        "rise" => {
            if let Some(v) = ctx.u32_arg(n, 1, u32::MAX) {
                c.rise = v;
            }
        }
        "fall" => {
            if let Some(v) = ctx.u32_arg(n, 1, u32::MAX) {
                c.fall = v;
            }
        }
        "init_fail" => c.init_fail = ctx.flag(n),
        _ => return false,
    }
    ctx.no_block(n);
    true
}

pub const SCRIPT_KEYWORDS: &[&str] = &[
    "script",
    "interval",
    "timeout",
    "weight",
    "rise",
    "fall",
    "user",
    "init_fail",
];

pub fn read_script(ctx: &mut Ctx<'_>, n: &Node) -> Option<VrrpScript> {
    let name = block_name(ctx, n, "vrrp_script")?;
    let mut common = CheckCommon::default();
    let mut script = None;
    let mut user = None;
    for c in n.children() {
        if common_setting(ctx, c, &mut common) {
            continue;
        }
        match c.name() {
            "script" if c.args.is_empty() => {
                // keepalived 2.2.7 passes over a bare `script` line.
                ctx.note(c.span(), "'script' without a command ignored");
            }
            "script" => {
                if c.args.first().is_some_and(|t| t.kind == super::lexer::TokenKind::Word) && c.args.len() > 1 {
                    ctx.warning(
                        c.args[1].span,
                        "only the first word is the command (keepalived's rule); quote the whole command line to pass arguments",
                    );
                }
                script = ctx.script(c, false);
            }
            "user" => {
                if ctx.arg(c, 0, "a user name").is_some() {
                    user = ctx.user_spec(c, 0);
                }
            }
            "include" => {}
            _ => ctx.unknown(c, "vrrp_script", SCRIPT_KEYWORDS),
        }
    }
    let Some(mut script) = script else {
        ctx.error(n.span(), format!("no script set for vrrp_script {name}; removed"));
        return None;
    };
    if user.is_some() {
        script.user = user;
    }
    Some(VrrpScript {
        name,
        span: n.span(),
        script,
        interval: common.interval,
        timeout: common.timeout,
        weight: common.weight,
        reverse: common.reverse,
        rise: common.rise,
        fall: common.fall,
        init_fail: common.init_fail,
    })
}

pub const TRACK_FILE_KEYWORDS: &[&str] = &["file", "weight", "init_file"];

pub fn read_track_file(ctx: &mut Ctx<'_>, n: &Node) -> Option<TrackFile> {
    let name = block_name(ctx, n, "track_file")?;
    let mut path = None;
    let mut weight = 1;
    let mut reverse = false;
    let mut init_file = None;
    for c in n.children() {
        ctx.no_block(c);
        match c.name() {
            "file" => path = ctx.soft_string_arg(c, "a file path"),
            "weight" if ctx.bare(c, "a number") => {}
            "weight" => {
                if let Some(t) = ctx.arg(c, 0, "a number") {
                    if let Some(w) = ctx.int(t, -254, 254) {
                        weight = w as i32;
                    }
                    match c.args.get(1).map(|t| t.text.as_str()) {
                        Some("reverse") => reverse = true,
                        Some("noreverse") | None => {}
                        Some(other) => ctx.error(c.args[1].span, format!("expected 'reverse', found '{other}'")),
                    }
                }
            }
            "init_file" => {
                let mut value = 0;
                let mut overwrite = false;
                for t in &c.args {
                    if t.text == "overwrite" {
                        overwrite = true;
                    } else if let Some(v) = ctx.int(t, i64::from(i32::MIN), i64::from(i32::MAX)) {
                        value = v;
                    }
                }
                init_file = Some((value, overwrite));
            }
            "include" => {}
            _ => ctx.unknown(c, "track_file", TRACK_FILE_KEYWORDS),
        }
    }
    let Some(path) = path else {
        ctx.error(n.span(), format!("no file set for track_file {name}; removed"));
        return None;
    };
    Some(TrackFile {
        name,
        span: n.span(),
        path: path.into(),
        weight,
        reverse,
        init_file,
    })
}

pub const TRACK_PROCESS_KEYWORDS: &[&str] = &[
    "process",
    "param_match",
    "weight",
    "quorum",
    "quorum_max",
    "fork_delay",
    "terminate_delay",
    "delay",
    "full_command",
];

pub fn read_track_process(ctx: &mut Ctx<'_>, n: &Node) -> Option<TrackProcess> {
    let name = block_name(ctx, n, "vrrp_track_process")?;
    let mut p = TrackProcess {
        name: name.clone(),
        span: n.span(),
        process: String::new(),
        params: None,
        param_match: ParamMatch::Exact,
        full_command: false,
        weight: 0,
        reverse: false,
        quorum: 1,
        quorum_max: u32::MAX,
        fork_delay: Duration::ZERO,
        terminate_delay: Duration::ZERO,
    };
    for c in n.children() {
        ctx.no_block(c);
        match c.name() {
            "process" => {
                if let Some(t) = ctx.arg(c, 0, "a process name") {
                    p.process = t.text.clone();
                    if c.args.len() > 1 {
                        p.params = Some(c.args[1..].iter().map(|t| t.text.clone()).collect());
                    }
                }
            }
            "param_match" => match c.args.first().map(|t| t.text.as_str()) {
                Some("initial") => p.param_match = ParamMatch::Initial,
                Some("partial") => p.param_match = ParamMatch::Partial,
                Some(_) => ctx.error(c.args[0].span, "param_match takes 'initial' or 'partial'"),
                // Bare, as keepalived takes it: the parameters must match exactly.
                None => p.param_match = ParamMatch::Exact,
            },
            "weight" if ctx.bare(c, "a number") => {}
            "weight" => {
                if let Some(t) = ctx.arg(c, 0, "a number") {
                    if let Some(w) = ctx.int(t, -254, 254) {
                        p.weight = w as i32;
                    }
                    p.reverse = c.args.get(1).is_some_and(|t| t.text == "reverse");
                }
            }
            "quorum" => {
                if let Some(v) = ctx.u32_arg(c, 1, u32::MAX) {
                    p.quorum = v;
                }
            }
            "quorum_max" => {
                if let Some(v) = ctx.u32_arg(c, 0, u32::MAX) {
                    p.quorum_max = v;
                }
            }
            "fork_delay" => p.fork_delay = ctx.timer_arg(c, 0, MAX_INTERVAL_US).unwrap_or_default(),
            "terminate_delay" => p.terminate_delay = ctx.timer_arg(c, 0, MAX_INTERVAL_US).unwrap_or_default(),
            "delay" => {
                let d = ctx.timer_arg(c, 0, MAX_INTERVAL_US).unwrap_or_default();
                p.fork_delay = d;
                p.terminate_delay = d;
            }
            "full_command" => p.full_command = ctx.flag(c),
            "include" => {}
            _ => ctx.unknown(c, "vrrp_track_process", TRACK_PROCESS_KEYWORDS),
        }
    }
    if p.process.is_empty() {
        ctx.error(
            n.span(),
            format!("no process set for vrrp_track_process {name}; removed"),
        );
        return None;
    }
    if p.quorum_max < p.quorum {
        ctx.error(
            n.span(),
            format!("quorum_max {} is below quorum {}", p.quorum_max, p.quorum),
        );
    }
    Some(p)
}

/// `track_interface { IF [weight N [reverse|noreverse]] … }`.
pub fn read_track_interfaces(ctx: &mut Ctx<'_>, n: &Node) -> Vec<TrackInterface> {
    let mut out = Vec::new();
    for c in n.children() {
        ctx.no_block(c);
        let (w, r) = ctx.track_weight(c, 0, -254, 254, Some(253));
        out.push(TrackInterface {
            name: c.name().to_string(),
            weight: w.unwrap_or(0),
            reverse: r.unwrap_or(false),
            span: c.span(),
        });
    }
    out
}

/// `track_script|track_file|track_process { NAME [weight N [reverse|noreverse]] … }`.
pub fn read_track_refs(ctx: &mut Ctx<'_>, n: &Node, lo: i64, hi: i64) -> Vec<TrackRef> {
    let mut out = Vec::new();
    for c in n.children() {
        ctx.no_block(c);
        let (weight, reverse) = ctx.track_weight(c, 0, lo, hi, Some(hi));
        out.push(TrackRef {
            name: c.name().to_string(),
            weight,
            reverse,
            span: c.span(),
        });
    }
    out
}

/// Notify keywords shared by instances and groups; false if `c` is not one.
pub fn notify_setting(ctx: &mut Ctx<'_>, c: &Node, notify: &mut Notifies) -> bool {
    let slot = match c.name() {
        "notify_master" => &mut notify.master,
        "notify_backup" => &mut notify.backup,
        "notify_fault" => &mut notify.fault,
        "notify_stop" => &mut notify.stop,
        "notify" => &mut notify.generic,
        "notify_deleted" => &mut notify.deleted,
        "notify_master_rx_lower_pri" => &mut notify.master_rx_lower_pri,
        _ => return false,
    };
    ctx.no_block(c);
    if c.name() == "notify_deleted" && c.args.is_empty() {
        // Bare: deleted instances report DELETED, with no script of their own.
        notify.deleted_state = true;
        return true;
    }
    *slot = ctx.script(c, true).map(Box::new);
    true
}

pub const SYNC_GROUP_KEYWORDS: &[&str] = &[
    "group",
    "notify_master",
    "notify_backup",
    "notify_fault",
    "notify_stop",
    "notify",
    "track_interface",
    "track_script",
    "track_file",
    "track_process",
    "track_bfd",
    "sync_group_tracking_weight",
    "global_tracking",
    "notify_priority_changes",
];

pub fn read_sync_group(ctx: &mut Ctx<'_>, n: &Node) -> Option<SyncGroup> {
    let name = block_name(ctx, n, "vrrp_sync_group")?;
    let mut g = SyncGroup {
        name: name.clone(),
        span: n.span(),
        members: Vec::new(),
        track_interfaces: Vec::new(),
        track_scripts: Vec::new(),
        track_files: Vec::new(),
        track_processes: Vec::new(),
        track_bfd: Vec::new(),
        notify: Notifies::default(),
        sync_group_tracking_weight: false,
        notify_priority_changes: None,
    };
    for c in n.children() {
        if c.name() != "notify_deleted" && notify_setting(ctx, c, &mut g.notify) {
            continue;
        }
        if matches!(
            c.name(),
            "group" | "track_interface" | "track_script" | "track_file" | "track_process" | "track_bfd"
        ) && c.block.is_none()
        {
            ctx.error(c.end_span(), format!("'{}' needs a '{{ … }}' block", c.name()));
            continue;
        }
        match c.name() {
            "group" if !g.members.is_empty() => {
                ctx.warning(
                    c.span(),
                    format!("the group list of sync group {name} is already given; ignored"),
                );
            }
            "group" => {
                for m in c.children() {
                    ctx.no_block(m);
                    g.members.push((m.name().to_string(), m.span()));
                    for extra in &m.args {
                        g.members.push((extra.text.clone(), extra.span));
                    }
                }
                for a in &c.args {
                    g.members.push((a.text.clone(), a.span));
                }
            }
            "track_interface" => g.track_interfaces.extend(read_track_interfaces(ctx, c)),
            "track_script" => g.track_scripts.extend(read_track_refs(ctx, c, -253, 253)),
            "track_file" => g.track_files.extend(read_track_refs(ctx, c, -254, 254)),
            "track_process" => g.track_processes.extend(read_track_refs(ctx, c, -254, 254)),
            "track_bfd" => {
                ctx.unsupported(c, "BFD");
                g.track_bfd.extend(read_track_refs(ctx, c, -253, 253));
            }
            "sync_group_tracking_weight" => g.sync_group_tracking_weight = ctx.flag(c),
            "global_tracking" => {
                ctx.warning(
                    c.span(),
                    "'global_tracking' is deprecated; use 'sync_group_tracking_weight'",
                );
                g.sync_group_tracking_weight = ctx.flag(c);
            }
            "notify_priority_changes" => g.notify_priority_changes = Some(ctx.flag_or_bool(c)),
            "include" => {}
            kw => {
                if let Some(what) = lookup(SYNC_GROUP_UNSUPPORTED, kw) {
                    ctx.unsupported(c, what);
                    if kw == "smtp_alert" {
                        ctx.inert(c, super::keywords::Inert::OptionalBool);
                    }
                } else if kw == "notify_deleted" {
                    ctx.error(
                        c.span(),
                        "'notify_deleted' is not accepted in a vrrp_sync_group (keepalived 2.2.7 rejects it too)",
                    );
                } else {
                    ctx.unknown(c, "vrrp_sync_group", SYNC_GROUP_KEYWORDS);
                }
            }
        }
    }
    if g.members.is_empty() {
        ctx.error(
            n.span(),
            format!("sync group {name} has no virtual routers (expected 'group {{ VI_1 VI_2 }}'); removed"),
        );
        return None;
    }
    Some(g)
}
