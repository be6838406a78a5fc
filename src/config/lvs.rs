//! keepalived's load balancer: `virtual_server_group`, `virtual_server`,
//! `real_server`, `sorry_server` and the health checkers, with keepalived
//! 2.2.7's defaults, inheritance (virtual server → real server → checker)
//! and `-t` verdicts (each observed by feeding variants to `keepalived -t`).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::diag::Span;
use super::model::ScriptSpec;
use super::tree::Node;
use super::values::Ctx;

/// Every scheduler IPVS has; keepalived accepts exactly these names.
pub const SCHEDULERS: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr", "sed", "nq", "twos",
];

/// IPVS service flags (linux/ip_vs.h).
pub mod svc_flags {
    pub const PERSISTENT: u32 = 0x1;
    pub const ONEPACKET: u32 = 0x4;
    pub const SCHED1: u32 = 0x8;
    pub const SCHED2: u32 = 0x10;
    pub const SCHED3: u32 = 0x20;
}

/// keepalived's default persistence timeout (`persistence_timeout` bare).
pub const DEFAULT_PERSISTENCE: u32 = 360;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// IPPROTO_* numbers, as IPVS wants them.
    pub fn number(self) -> u16 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TunnelType {
    #[default]
    Ipip,
    Gue {
        port: u16,
    },
    Gre,
}

/// A forwarding method (`lvs_method` / `lb_kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Forward {
    #[default]
    Nat,
    Dr,
    Tun {
        kind: TunnelType,
        /// IP_VS_TUNNEL_ENCAP_FLAG_*: 0 nocsum, 1 csum, 2 remcsum.
        csum: u16,
    },
}

impl Forward {
    pub fn name(self) -> &'static str {
        match self {
            Forward::Nat => "NAT",
            Forward::Dr => "DR",
            Forward::Tun { .. } => "TUN",
        }
    }
}

/// What a virtual server is: an address and port, a firewall mark, or a
/// `virtual_server_group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VsTarget {
    Addr(SocketAddr),
    Fwmark(u32),
    Group(String),
}

/// One entry of a `virtual_server_group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupEntry {
    /// `first..=last` (a range or a single address) and a port.
    Range {
        first: IpAddr,
        last: IpAddr,
        port: u16,
    },
    Fwmark {
        mark: u32,
        family: Option<bool>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VsGroup {
    pub name: String,
    pub span: Span,
    pub entries: Vec<GroupEntry>,
}

/// The timing settings every checker takes, inherited virtual server →
/// real server → checker; `None` is "not set at this level".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timing {
    pub connect_timeout: Option<Duration>,
    pub retry: Option<u32>,
    pub delay_before_retry: Option<Duration>,
    pub warmup: Option<Duration>,
    pub delay_loop: Option<Duration>,
    pub alpha: Option<bool>,
    pub inhibit_on_failure: Option<bool>,
}

impl Timing {
    /// `self` over `parent`.
    pub fn over(self, parent: Timing) -> Timing {
        Timing {
            connect_timeout: self.connect_timeout.or(parent.connect_timeout),
            retry: self.retry.or(parent.retry),
            delay_before_retry: self.delay_before_retry.or(parent.delay_before_retry),
            warmup: self.warmup.or(parent.warmup),
            delay_loop: self.delay_loop.or(parent.delay_loop),
            alpha: self.alpha.or(parent.alpha),
            inhibit_on_failure: self.inhibit_on_failure.or(parent.inhibit_on_failure),
        }
    }
}

/// One `url { … }` of HTTP_GET / SSL_GET.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Url {
    pub path: String,
    /// Lower-case hex MD5 of the body, as genhash prints it.
    pub digest: Option<String>,
    /// Inclusive ranges; empty means keepalived's default 200-299.
    pub status: Vec<(u16, u16)>,
    pub virtualhost: Option<String>,
    pub regex: Option<String>,
    pub regex_no_match: bool,
}

impl Url {
    pub fn status_ok(&self, code: u16) -> bool {
        if self.status.is_empty() {
            return (200..=299).contains(&code);
        }
        self.status.iter().any(|&(lo, hi)| (lo..=hi).contains(&code))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpVersion {
    #[default]
    V10,
    V10Close,
    V11,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckerKind {
    Tcp,
    Http {
        tls: bool,
        urls: Vec<Url>,
        version: HttpVersion,
        virtualhost: Option<String>,
        fast_recovery: bool,
        sni: bool,
    },
    Misc {
        script: ScriptSpec,
        timeout: Option<Duration>,
        dynamic: bool,
    },
    /// A checker keepalived has and rkeepalived does not run yet: the
    /// real server is left as the configuration says (with a warning).
    Unsupported(&'static str),
}

impl CheckerKind {
    pub fn name(&self) -> &'static str {
        match self {
            CheckerKind::Tcp => "TCP_CHECK",
            CheckerKind::Http { tls: false, .. } => "HTTP_GET",
            CheckerKind::Http { tls: true, .. } => "SSL_GET",
            CheckerKind::Misc { .. } => "MISC_CHECK",
            CheckerKind::Unsupported(n) => n,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checker {
    pub span: Span,
    pub kind: CheckerKind,
    pub connect_ip: Option<IpAddr>,
    pub connect_port: Option<u16>,
    pub bindto: Option<IpAddr>,
    pub bind_port: Option<u16>,
    pub bind_if: Option<String>,
    pub fwmark: Option<u32>,
    pub timing: Timing,
    pub log_all_failures: bool,
}

/// A checker's settings once inheritance and keepalived's defaults apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EffectiveTiming {
    pub connect_timeout: Duration,
    pub retry: u32,
    pub delay_before_retry: Duration,
    pub warmup: Duration,
    pub delay_loop: Duration,
    pub alpha: bool,
}

impl Checker {
    /// keepalived's defaults: delay_loop 60 s; connect_timeout 5 s; retry
    /// 1 (MISC_CHECK 0); delay_before_retry 3 s for HTTP/SSL, else 1 s;
    /// warmup up to delay_loop.
    pub fn effective(&self, inherited: Timing) -> EffectiveTiming {
        let t = self.timing.over(inherited);
        let delay_loop = t.delay_loop.unwrap_or(Duration::from_secs(60));
        let misc = matches!(self.kind, CheckerKind::Misc { .. });
        let http = matches!(self.kind, CheckerKind::Http { .. });
        EffectiveTiming {
            connect_timeout: t.connect_timeout.unwrap_or(Duration::from_secs(5)),
            retry: t.retry.unwrap_or(if misc { 0 } else { 1 }),
            delay_before_retry: t
                .delay_before_retry
                .unwrap_or(Duration::from_secs(if http { 3 } else { 1 })),
            warmup: t.warmup.unwrap_or(delay_loop),
            delay_loop,
            alpha: t.alpha.unwrap_or(false),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealServer {
    pub span: Span,
    pub addr: SocketAddr,
    pub weight: u32,
    pub forward: Option<Forward>,
    pub uthreshold: u32,
    pub lthreshold: u32,
    pub notify_up: Option<ScriptSpec>,
    pub notify_down: Option<ScriptSpec>,
    pub virtualhost: Option<String>,
    pub timing: Timing,
    pub checkers: Vec<Checker>,
}

impl RealServer {
    /// keepalived's defaults: weight 1, everything else inherited.
    pub fn new(span: Span, addr: SocketAddr) -> Self {
        RealServer {
            span,
            addr,
            weight: 1,
            forward: None,
            uthreshold: 0,
            lthreshold: 0,
            notify_up: None,
            notify_down: None,
            virtualhost: None,
            timing: Timing::default(),
            checkers: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualServer {
    pub span: Span,
    pub target: VsTarget,
    pub protocol: Protocol,
    pub sched: String,
    pub flags: u32,
    pub forward: Forward,
    pub persistence_timeout: Option<u32>,
    pub persistence_granularity: Option<u32>,
    pub persistence_engine: Option<String>,
    pub ha_suspend: bool,
    pub virtualhost: Option<String>,
    pub alpha: bool,
    pub omega: bool,
    pub quorum: u32,
    pub hysteresis: u32,
    pub quorum_up: Option<ScriptSpec>,
    pub quorum_down: Option<ScriptSpec>,
    pub ipv6: bool,
    /// `protocol` was written (a group of fwmarks only needs none).
    pub protocol_set: bool,
    pub sorry_server: Option<RealServer>,
    pub sorry_server_inhibit: bool,
    pub timing: Timing,
    pub real_servers: Vec<RealServer>,
}

impl VirtualServer {
    /// keepalived's name for it in logs: `[10.0.0.1]:tcp:80`, `FWM 1`,
    /// `[G]:0`.
    pub fn label(&self) -> String {
        match &self.target {
            VsTarget::Addr(a) => format!("[{}]:{}:{}", a.ip(), self.protocol.name(), a.port()),
            VsTarget::Fwmark(m) => format!("FWM {m}"),
            VsTarget::Group(g) => format!("[{g}]:{}", 0),
        }
    }

    /// Settings real servers inherit (the VS's timing, alpha and inhibit).
    pub fn rs_timing(&self, rs: &RealServer) -> Timing {
        rs.timing.over(self.timing)
    }

    pub fn rs_forward(&self, rs: &RealServer) -> Forward {
        rs.forward.unwrap_or(self.forward)
    }
}

/// The LVS part of a configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lvs {
    pub groups: Vec<VsGroup>,
    pub servers: Vec<VirtualServer>,
}

impl Lvs {
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    pub fn group(&self, name: &str) -> Option<&VsGroup> {
        self.groups.iter().find(|g| g.name == name)
    }

    pub fn scripts(&self) -> impl Iterator<Item = &ScriptSpec> {
        self.servers.iter().flat_map(|vs| {
            let own = [&vs.quorum_up, &vs.quorum_down].into_iter().flatten();
            let rs = vs.real_servers.iter().chain(vs.sorry_server.iter()).flat_map(|rs| {
                let notify = [&rs.notify_up, &rs.notify_down].into_iter().flatten();
                let misc = rs.checkers.iter().filter_map(|c| match &c.kind {
                    CheckerKind::Misc { script, .. } => Some(script),
                    _ => None,
                });
                notify.chain(misc)
            });
            own.chain(rs)
        })
    }
}

// ---- reading --------------------------------------------------------------

pub const VS_KEYWORDS: &[&str] = &[
    "lb_algo",
    "lvs_sched",
    "lb_kind",
    "lvs_method",
    "flag-1",
    "flag-2",
    "flag-3",
    "sh-port",
    "sh-fallback",
    "mh-port",
    "mh-fallback",
    "ops",
    "persistence_engine",
    "persistence_timeout",
    "persistence_granularity",
    "protocol",
    "ha_suspend",
    "smtp_alert",
    "virtualhost",
    "snmp_name",
    "alpha",
    "omega",
    "quorum",
    "hysteresis",
    "quorum_up",
    "quorum_down",
    "ip_family",
    "sorry_server",
    "sorry_server_inhibit",
    "sorry_server_lvs_method",
    "connect_timeout",
    "retry",
    "delay_before_retry",
    "warmup",
    "delay_loop",
    "inhibit_on_failure",
    "real_server",
];

pub const RS_KEYWORDS: &[&str] = &[
    "weight",
    "lvs_method",
    "notify_up",
    "notify_down",
    "uthreshold",
    "lthreshold",
    "smtp_alert",
    "virtualhost",
    "snmp_name",
    "alpha",
    "connect_timeout",
    "retry",
    "delay_before_retry",
    "warmup",
    "delay_loop",
    "inhibit_on_failure",
    "HTTP_GET",
    "SSL_GET",
    "TCP_CHECK",
    "MISC_CHECK",
];

/// keepalived's other checkers: read, warned, not run (the real server
/// stays as the configuration says).
pub const OTHER_CHECKERS: &[&str] = &[
    "SMTP_CHECK",
    "DNS_CHECK",
    "UDP_CHECK",
    "PING_CHECK",
    "FILE_CHECK",
    "BFD_CHECK",
];

pub const CHECKER_KEYWORDS: &[&str] = &[
    "connect_ip",
    "connect_port",
    "bindto",
    "bind_if",
    "bind_port",
    "fwmark",
    "alpha",
    "connect_timeout",
    "retry",
    "delay_before_retry",
    "warmup",
    "delay_loop",
    "log_all_failures",
];

pub const HTTP_KEYWORDS: &[&str] = &["http_protocol", "fast_recovery", "url", "virtualhost", "enable_sni"];
pub const URL_KEYWORDS: &[&str] = &[
    "path",
    "digest",
    "status_code",
    "virtualhost",
    "regex",
    "regex_no_match",
    "regex_options",
    "regex_stack",
    "regex_min_offset",
    "regex_max_offset",
];
pub const MISC_KEYWORDS: &[&str] = &["misc_path", "misc_timeout", "misc_dynamic", "user"];

/// The longest timer keepalived takes for delays (seconds, µs resolution).
const MAX_DELAY_US: u64 = 18_446_744_073_709_551_614 / 1_000_000 * 1_000_000;
const MAX_TIMEOUT_US: u64 = 4_294_967_295;

pub fn read_group(ctx: &mut Ctx<'_>, n: &Node) -> Option<VsGroup> {
    let name = ctx.soft_arg(n, 0, "a group name")?.text.clone();
    let mut entries = Vec::new();
    for c in n.children() {
        if c.name() == "fwmark" {
            let Some(t) = ctx.soft_arg(c, 0, "a firewall mark") else {
                continue;
            };
            let Some(mark) = ctx.int(t, 1, u32::MAX.into()) else {
                continue;
            };
            let family = match c.args.get(1).map(|t| t.text.as_str()) {
                None => None,
                Some("inet") => Some(false),
                Some("inet6") => Some(true),
                Some(o) => {
                    ctx.error(
                        c.args[1].span,
                        format!("unknown family '{o}' for fwmark; want inet or inet6"),
                    );
                    None
                }
            };
            entries.push(GroupEntry::Fwmark {
                mark: mark as u32,
                family,
            });
            continue;
        }
        let text = c.name();
        let port = match c.args.first() {
            Some(t) => match ctx.int(t, 1, 65535) {
                Some(p) => p as u16,
                None => continue,
            },
            None => 0,
        };
        match parse_range(text) {
            Some((first, last)) => entries.push(GroupEntry::Range { first, last, port }),
            None => ctx.error(
                c.span(),
                format!("virtual_server_group {name}: invalid address or range '{text}' - skipping"),
            ),
        }
    }
    Some(VsGroup {
        name,
        span: n.span(),
        entries,
    })
}

/// `A`, `A-LAST_OCTET`, `A-B`, `A/len` (IPv4 or IPv6).
pub fn parse_range(text: &str) -> Option<(IpAddr, IpAddr)> {
    if let Ok(a) = text.parse::<IpAddr>() {
        return Some((a, a));
    }
    if let Some((base, len)) = text.split_once('/') {
        let a: IpAddr = base.parse().ok()?;
        let len: u32 = len.parse().ok()?;
        return match a {
            IpAddr::V4(v4) if len <= 32 => {
                let bits = u32::from(v4);
                let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                Some((
                    IpAddr::V4((bits & mask).into()),
                    IpAddr::V4((bits & mask | !mask).into()),
                ))
            }
            IpAddr::V6(v6) if len <= 128 => {
                let bits = u128::from(v6);
                let mask = if len == 0 { 0 } else { u128::MAX << (128 - len) };
                Some((
                    IpAddr::V6((bits & mask).into()),
                    IpAddr::V6((bits & mask | !mask).into()),
                ))
            }
            _ => None,
        };
    }
    let (base, end) = text.rsplit_once('-')?;
    let first: IpAddr = base.parse().ok()?;
    let last = match (first, end.parse::<IpAddr>()) {
        (IpAddr::V4(_), Ok(l @ IpAddr::V4(_))) | (IpAddr::V6(_), Ok(l @ IpAddr::V6(_))) => l,
        (IpAddr::V4(f), _) => {
            let o: u8 = end.parse().ok()?;
            let mut b = f.octets();
            b[3] = o;
            IpAddr::V4(b.into())
        }
        (IpAddr::V6(f), _) => {
            let g = u16::from_str_radix(end, 16).ok()?;
            let mut s = f.segments();
            s[7] = g;
            IpAddr::V6(s.into())
        }
    };
    (last >= first).then_some((first, last))
}

/// An `<IPADDR> [<PORT>]` pair of tokens starting at argument `from`.
fn addr_port(ctx: &mut Ctx<'_>, n: &Node, from: usize, what: &str) -> Option<(IpAddr, Option<u16>)> {
    let t = ctx.soft_arg(n, from, "an address")?;
    let Ok(ip) = t.text.parse::<IpAddr>() else {
        let port = n.args.get(from + 1).map(|p| p.text.as_str()).unwrap_or("");
        ctx.error(
            t.span,
            format!("Invalid {what} IP address/port {}/{port} - skipping", t.text),
        );
        return None;
    };
    let port = match n.args.get(from + 1) {
        None => None,
        Some(p) => match ctx.int(p, 1, 65535) {
            Some(v) => Some(v as u16),
            None => {
                ctx.error(
                    p.span,
                    format!("Invalid {what} IP address/port {ip}/{} - skipping", p.text),
                );
                return None;
            }
        },
    };
    if n.args.len() > from + 2 {
        ctx.extra_args(n, from + 2);
    }
    Some((ip, port))
}

pub fn read_virtual_server(ctx: &mut Ctx<'_>, n: &Node) -> Option<VirtualServer> {
    let target = match n.args.first().map(|t| t.text.as_str()) {
        Some("fwmark") => {
            let t = ctx.soft_arg(n, 1, "a firewall mark")?;
            let m = ctx.int(t, 1, u32::MAX.into())?;
            VsTarget::Fwmark(m as u32)
        }
        Some("group") => VsTarget::Group(ctx.soft_arg(n, 1, "a virtual_server_group name")?.text.clone()),
        _ => {
            let (ip, port) = addr_port(ctx, n, 0, "virtual server")?;
            VsTarget::Addr(SocketAddr::new(ip, port.unwrap_or(0)))
        }
    };
    let mut vs = VirtualServer {
        span: n.span(),
        ipv6: matches!(&target, VsTarget::Addr(a) if a.is_ipv6()),
        target,
        protocol: Protocol::Udp,
        sched: "wlc".into(),
        flags: 0,
        forward: Forward::Nat,
        persistence_timeout: None,
        persistence_granularity: None,
        persistence_engine: None,
        ha_suspend: false,
        virtualhost: None,
        alpha: false,
        omega: false,
        quorum: 1,
        hysteresis: 0,
        quorum_up: None,
        quorum_down: None,
        protocol_set: false,
        sorry_server: None,
        sorry_server_inhibit: false,
        timing: Timing::default(),
        real_servers: Vec::new(),
    };
    let (mut proto_set, mut sched_set, mut method_set) = (None, false, false);
    let mut family_set = false;
    let mut sorry_method: Option<Forward> = None;
    let mut want_flags: Vec<(&'static str, u32, Span)> = Vec::new();
    for c in n.children() {
        if timing_setting(ctx, c, &mut vs.timing, "virtual server") {
            continue;
        }
        match c.name() {
            "lb_algo" | "lvs_sched" => {
                if let Some(t) = ctx.soft_arg(c, 0, "a scheduler") {
                    if SCHEDULERS.contains(&t.text.as_str()) {
                        vs.sched = t.text.clone();
                        sched_set = true;
                    } else {
                        ctx.error(t.span, format!("Invalid lvs_scheduler '{}' - ignoring", t.text));
                    }
                }
            }
            "lb_kind" | "lvs_method" => {
                if let Some(f) = forward(ctx, c) {
                    vs.forward = f;
                    method_set = true;
                }
            }
            "flag-1" => want_flags.push(("flag-1", svc_flags::SCHED1, c.span())),
            "flag-2" => want_flags.push(("flag-2", svc_flags::SCHED2, c.span())),
            "flag-3" => want_flags.push(("flag-3", svc_flags::SCHED3, c.span())),
            "sh-fallback" => want_flags.push(("sh-fallback", svc_flags::SCHED1, c.span())),
            "sh-port" => want_flags.push(("sh-port", svc_flags::SCHED2, c.span())),
            "mh-fallback" => want_flags.push(("mh-fallback", svc_flags::SCHED1, c.span())),
            "mh-port" => want_flags.push(("mh-port", svc_flags::SCHED2, c.span())),
            "ops" => want_flags.push(("ops", svc_flags::ONEPACKET, c.span())),
            "persistence_engine" => vs.persistence_engine = ctx.soft_string_arg(c, "an engine name"),
            "persistence_timeout" => match c.args.first() {
                None => vs.persistence_timeout = Some(DEFAULT_PERSISTENCE),
                Some(t) => {
                    if let Some(v) = ctx.int(t, 1, u32::MAX.into()) {
                        vs.persistence_timeout = Some(v as u32);
                    }
                }
            },
            "persistence_granularity" => {
                if let Some(t) = ctx.soft_arg(c, 0, "a netmask") {
                    match granularity(&t.text) {
                        Some(m) => vs.persistence_granularity = Some(m),
                        None => ctx.error(
                            t.span,
                            format!("invalid persistence_granularity '{}' - ignoring", t.text),
                        ),
                    }
                }
            }
            "protocol" => {
                if let Some(t) = ctx.soft_arg(c, 0, "TCP, UDP or SCTP") {
                    match t.text.to_ascii_uppercase().as_str() {
                        "TCP" => proto_set = Some((Protocol::Tcp, c.span())),
                        "UDP" => proto_set = Some((Protocol::Udp, c.span())),
                        "SCTP" => proto_set = Some((Protocol::Sctp, c.span())),
                        _ => ctx.error(t.span, format!("Unknown protocol {} - ignoring", t.text)),
                    }
                }
            }
            "ha_suspend" => vs.ha_suspend = true,
            "virtualhost" => vs.virtualhost = ctx.soft_string_arg(c, "a host name"),
            "omega" => vs.omega = bool_or_bare(ctx, c, "omega").unwrap_or(vs.omega),
            "quorum" => {
                if let Some(t) = ctx.soft_arg(c, 0, "a weight") {
                    match ctx.int(t, 1, u32::MAX.into()) {
                        Some(q) => vs.quorum = q as u32,
                        None => vs.quorum = 1,
                    }
                }
            }
            "hysteresis" => {
                if let Some(t) = ctx.soft_arg(c, 0, "a weight") {
                    if let Some(h) = ctx.int(t, 0, u32::MAX.into()) {
                        vs.hysteresis = h as u32;
                    }
                }
            }
            "quorum_up" => vs.quorum_up = ctx.script(c, true),
            "quorum_down" => vs.quorum_down = ctx.script(c, true),
            "ip_family" => match c.args.first().map(|t| t.text.as_str()) {
                Some("inet") => {
                    vs.ipv6 = false;
                    family_set = true;
                }
                Some("inet6") => {
                    vs.ipv6 = true;
                    family_set = true;
                }
                _ => ctx.error(c.span(), "ip_family must be inet or inet6"),
            },
            "sorry_server" => {
                if let Some((ip, port)) = addr_port(ctx, c, 0, "sorry server") {
                    vs.sorry_server = Some(RealServer::new(c.span(), SocketAddr::new(ip, port.unwrap_or(0))));
                }
            }
            "sorry_server_inhibit" => vs.sorry_server_inhibit = true,
            "sorry_server_lvs_method" => sorry_method = forward(ctx, c),
            "real_server" => {
                if let Some(rs) = read_real_server(ctx, c) {
                    vs.real_servers.push(rs);
                }
            }
            "smtp_alert" | "snmp_name" => alert_and_name(ctx, c, "virtual server"),
            "include" => {}
            _ => ctx.unknown(c, "virtual_server", VS_KEYWORDS),
        }
    }
    vs.alpha = vs.timing.alpha.unwrap_or(false);
    if let (Some(s), Some(m)) = (vs.sorry_server.as_mut(), sorry_method) {
        s.forward = Some(m);
    }
    let label_pre = match &vs.target {
        VsTarget::Addr(a) => format!("[{}]:none:{}", a.ip(), a.port()),
        VsTarget::Fwmark(m) => format!("FWM {m}"),
        VsTarget::Group(g) => format!("[{g}]:0"),
    };
    match (&vs.target, proto_set) {
        (VsTarget::Fwmark(_), Some((_, span))) => ctx.error(
            span,
            format!("Virtual server {label_pre}: protocol specified for fwmark - protocol will be ignored"),
        ),
        (VsTarget::Fwmark(_), None) => {}
        (_, Some((p, _))) => {
            vs.protocol = p;
            vs.protocol_set = true;
        }
        // Checked in validate: a group of fwmarks needs no protocol.
        (VsTarget::Group(_), None) => {}
        (_, None) => ctx.error(
            n.span(),
            format!("Virtual server {label_pre}: no protocol set - defaulting to UDP"),
        ),
    }
    if let VsTarget::Fwmark(_) = vs.target {
        // keepalived shows fwmark services as TCP-less; IPVS ignores it.
        vs.protocol = Protocol::Tcp;
        if !family_set {
            vs.ipv6 = vs.real_servers.first().is_some_and(|r| r.addr.is_ipv6());
        }
    }
    let label = vs.label();
    if matches!(&vs.target, VsTarget::Addr(a) if a.port() == 0) && vs.persistence_timeout.is_none() {
        ctx.error(
            n.span(),
            format!("Virtual server {label}: zero port only valid for persistent services - setting"),
        );
        vs.persistence_timeout = Some(DEFAULT_PERSISTENCE);
    }
    if !sched_set {
        ctx.error(
            n.span(),
            format!("Virtual server {label}: no scheduler set, setting default 'wlc'"),
        );
    }
    if !method_set {
        ctx.error(
            n.span(),
            format!("Virtual server {label}: no forwarding method set, setting default NAT"),
        );
    }
    for (name, bit, span) in want_flags {
        let ok = match name {
            "sh-port" | "sh-fallback" => vs.sched == "sh",
            "mh-port" | "mh-fallback" => vs.sched == "mh",
            _ => true,
        };
        if !ok {
            let s = if name.starts_with("sh") { "sh" } else { "mh" };
            ctx.error(span, format!("{name} only applies to {s} scheduler - ignoring"));
            continue;
        }
        if name == "ops" && vs.protocol != Protocol::Udp {
            ctx.error(
                span,
                format!("Virtual server {label}: one packet scheduling requires UDP - resetting"),
            );
            continue;
        }
        vs.flags |= bit;
    }
    if vs.persistence_timeout.is_some() {
        vs.flags |= svc_flags::PERSISTENT;
    }

    // Real servers: the family must match (tunnelled ones may differ),
    // duplicates go.
    let ipv6 = vs.ipv6;
    let vforward = vs.forward;
    let mut kept: Vec<RealServer> = Vec::new();
    for mut rs in std::mem::take(&mut vs.real_servers) {
        let tunnelled = matches!(rs.forward.unwrap_or(vforward), Forward::Tun { .. });
        if rs.addr.is_ipv6() != ipv6 && !tunnelled && !matches!(vs.target, VsTarget::Group(_)) {
            ctx.error(
                rs.span,
                format!(
                    "Address family of virtual server and real server {} don't match - skipping real server.",
                    rs.addr.ip()
                ),
            );
            continue;
        }
        let rs_forward = rs.forward.unwrap_or(vforward);
        match &vs.target {
            VsTarget::Fwmark(_) if rs.addr.port() != 0 => {
                ctx.error(
                    rs.span,
                    format!(
                        "WARNING - fwmark virtual server {label}, real server {} has port specified - clearing",
                        rs.addr
                    ),
                );
                rs.addr.set_port(0);
            }
            VsTarget::Addr(a) if rs.addr.port() == 0 => rs.addr.set_port(a.port()),
            // Direct routing and tunnels cannot change the port.
            VsTarget::Addr(a) if rs_forward != Forward::Nat && a.port() != 0 && rs.addr.port() != a.port() => {
                ctx.error(
                    rs.span,
                    format!(
                        "WARNING - virtual server {label} and real server {} ports don't match - resetting",
                        rs_label(&rs, vs.protocol)
                    ),
                );
                rs.addr.set_port(a.port());
            }
            _ => {}
        }
        if kept.iter().any(|k| k.addr == rs.addr) {
            ctx.error(
                rs.span,
                format!(
                    "VS {label}: real server {} is duplicated - removing second rs",
                    rs_label(&rs, vs.protocol)
                ),
            );
            continue;
        }
        kept.push(rs);
    }
    vs.real_servers = kept;
    if vs.real_servers.is_empty() {
        ctx.error(
            n.span(),
            format!("Virtual server {label} has no real servers - ignoring"),
        );
        return None;
    }
    let total: u64 = vs.real_servers.iter().map(|r| u64::from(r.weight)).sum();
    if u64::from(vs.quorum) > total {
        ctx.warning(
            n.span(),
            format!(
                "quorum {} for {label} exceeds total weight of real servers {total}, reducing quorum to {total}",
                vs.quorum
            ),
        );
        vs.quorum = total as u32;
    }
    if vs.hysteresis >= vs.quorum {
        ctx.error(
            n.span(),
            format!(
                "Virtual server {label}: hysteresis {} >= quorum {}; setting hysteresis to {}",
                vs.hysteresis,
                vs.quorum,
                vs.quorum.saturating_sub(1)
            ),
        );
        vs.hysteresis = vs.quorum.saturating_sub(1);
    }
    Some(vs)
}

pub fn rs_label(rs: &RealServer, p: Protocol) -> String {
    format!("[{}]:{}:{}", rs.addr.ip(), p.name(), rs.addr.port())
}

fn granularity(text: &str) -> Option<u32> {
    if let Ok(std::net::IpAddr::V4(m)) = text.parse::<IpAddr>() {
        let bits = u32::from(m);
        // A netmask: ones then zeros.
        return (bits.leading_ones() + bits.trailing_zeros() == 32).then_some(bits);
    }
    // IPv6 granularity is a prefix length.
    text.parse::<u32>().ok().filter(|l| *l <= 128)
}

/// `alpha`, `inhibit_on_failure` and the like: bare is true, or a boolean.
fn bool_or_bare(ctx: &mut Ctx<'_>, c: &Node, what: &str) -> Option<bool> {
    match c.args.first() {
        None => Some(true),
        Some(t) => match t.text.to_ascii_lowercase().as_str() {
            "yes" | "true" | "on" => Some(true),
            "no" | "false" | "off" => Some(false),
            _ => {
                ctx.error(t.span, format!("Invalid {what} parameter {}", t.text));
                None
            }
        },
    }
}

fn forward(ctx: &mut Ctx<'_>, c: &Node) -> Option<Forward> {
    let t = ctx.soft_arg(c, 0, "NAT, DR or TUN")?;
    match t.text.to_ascii_uppercase().as_str() {
        "NAT" => Some(Forward::Nat),
        "DR" => Some(Forward::Dr),
        "TUN" => {
            let mut kind = TunnelType::Ipip;
            let mut csum = 0u16;
            let mut i = 1;
            let mut gue_port = None;
            while let Some(a) = c.args.get(i) {
                match a.text.as_str() {
                    "type" => {
                        i += 1;
                        match c.args.get(i).map(|t| t.text.as_str()) {
                            Some("ipip") => kind = TunnelType::Ipip,
                            Some("gre") => kind = TunnelType::Gre,
                            Some("gue") => kind = TunnelType::Gue { port: 0 },
                            _ => {
                                ctx.error(a.span, "tunnel type must be ipip, gue or gre");
                                return None;
                            }
                        }
                    }
                    "port" => {
                        i += 1;
                        let p = c
                            .args
                            .get(i)
                            .and_then(|t| t.text.parse::<u16>().ok())
                            .filter(|p| *p > 0);
                        match p {
                            Some(p) => gue_port = Some(p),
                            None => {
                                ctx.error(a.span, "invalid tunnel port");
                                return None;
                            }
                        }
                    }
                    "nocsum" => csum = 0,
                    "csum" => csum = 1,
                    "remcsum" => csum = 2,
                    o => {
                        ctx.error(a.span, format!("unknown tunnel option '{o}'"));
                        return None;
                    }
                }
                i += 1;
            }
            match (&mut kind, gue_port) {
                (TunnelType::Gue { port }, Some(p)) => *port = p,
                (TunnelType::Gue { .. }, None) | (_, Some(_)) => {
                    ctx.error(c.span(), "gue tunnels require port, otherwise cannot have port.");
                    return None;
                }
                _ => {}
            }
            if csum == 2 && kind == TunnelType::Gre {
                ctx.error(c.span(), "remcsum is not supported for gre tunnels");
                return None;
            }
            Some(Forward::Tun { kind, csum })
        }
        _ => {
            ctx.error(
                t.span,
                format!("PARSER : unknown [{}] routing method for virtual server.", t.text),
            );
            None
        }
    }
}

/// A timer keyword's value in `[lo_us, MAX]` into `slot`; `invalid` is
/// keepalived's extra message for a value out of range.
fn timer_setting(
    ctx: &mut Ctx<'_>,
    c: &Node,
    lo_us: u64,
    hi_us: u64,
    slot: &mut Option<Duration>,
    invalid: Option<String>,
) {
    let Some(tok) = ctx.soft_arg(c, 0, "a time in seconds") else {
        return;
    };
    match ctx.timer(tok, lo_us, hi_us) {
        Some(d) => *slot = Some(d),
        None => {
            if let Some(m) = invalid {
                ctx.error(tok.span, m.replace("{}", &tok.text));
            }
        }
    }
}

/// The timing keywords every level takes; false when `c` is not one.
fn timing_setting(ctx: &mut Ctx<'_>, c: &Node, t: &mut Timing, level: &str) -> bool {
    match c.name() {
        "connect_timeout" => timer_setting(
            ctx,
            c,
            1,
            MAX_TIMEOUT_US,
            &mut t.connect_timeout,
            Some(format!("{level} connect_timeout {{}} invalid - ignoring")),
        ),
        "retry" => {
            if let Some(tok) = ctx.soft_arg(c, 0, "a number") {
                // keepalived: 0 is out of range on a virtual or real
                // server, but a checker takes 0 (no retries).
                let lo = if level == "checker" { 0 } else { 1 };
                match ctx.int(tok, lo, u32::MAX.into()) {
                    Some(v) => t.retry = Some(v as u32),
                    None => ctx.error(tok.span, format!("retry value invalid - {}", tok.text)),
                }
            }
        }
        "delay_before_retry" => timer_setting(ctx, c, 0, MAX_DELAY_US, &mut t.delay_before_retry, None),
        "warmup" => timer_setting(ctx, c, 0, MAX_DELAY_US, &mut t.warmup, None),
        "delay_loop" => timer_setting(
            ctx,
            c,
            1,
            MAX_DELAY_US,
            &mut t.delay_loop,
            Some(format!("{level} delay loop '{{}}' invalid - ignoring")),
        ),
        "alpha" => {
            if let Some(b) = bool_or_bare(ctx, c, "alpha") {
                t.alpha = Some(b);
            }
        }
        "inhibit_on_failure" => {
            if let Some(b) = bool_or_bare(ctx, c, "inhibit_on_failure") {
                t.inhibit_on_failure = Some(b);
            }
        }
        _ => return false,
    }
    true
}

fn read_real_server(ctx: &mut Ctx<'_>, n: &Node) -> Option<RealServer> {
    let (ip, port) = addr_port(ctx, n, 0, "real server")?;
    let mut rs = RealServer::new(n.span(), SocketAddr::new(ip, port.unwrap_or(0)));
    for c in n.children() {
        if timing_setting(ctx, c, &mut rs.timing, "real server") {
            continue;
        }
        match c.name() {
            "weight" => {
                if let Some(t) = ctx.soft_arg(c, 0, "a weight") {
                    match t.text.parse::<i64>() {
                        Ok(w) if (0..=i64::from(i32::MAX)).contains(&w) => rs.weight = w as u32,
                        Ok(w) => ctx.error(t.span, format!("Real server weight {w} is outside range 0-2147483647")),
                        Err(_) => ctx.error(t.span, format!("invalid real server weight '{}'", t.text)),
                    }
                }
            }
            "lvs_method" => rs.forward = forward(ctx, c).or(rs.forward),
            "notify_up" => rs.notify_up = ctx.script(c, true),
            "notify_down" => rs.notify_down = ctx.script(c, true),
            "uthreshold" | "lthreshold" => {
                if let Some(t) = ctx.soft_arg(c, 0, "a connection count") {
                    match ctx.int(t, 0, u32::MAX.into()) {
                        Some(v) if c.name() == "uthreshold" => rs.uthreshold = v as u32,
                        Some(v) => rs.lthreshold = v as u32,
                        None => ctx.error(
                            t.span,
                            format!("Invalid real_server {} '{}' - ignoring", c.name(), t.text),
                        ),
                    }
                }
            }
            "virtualhost" => rs.virtualhost = ctx.soft_string_arg(c, "a host name"),
            "smtp_alert" | "snmp_name" => alert_and_name(ctx, c, "real server"),
            "TCP_CHECK" | "HTTP_GET" | "SSL_GET" | "MISC_CHECK" => {
                if let Some(ch) = read_checker(ctx, c) {
                    rs.checkers.push(ch);
                }
            }
            "SMTP_CHECK" | "DNS_CHECK" | "UDP_CHECK" | "PING_CHECK" | "FILE_CHECK" | "BFD_CHECK" => {
                let name = OTHER_CHECKERS
                    .iter()
                    .copied()
                    .find(|k| *k == c.name())
                    .unwrap_or("checker");
                if name == "FILE_CHECK" && !c.children().iter().any(|k| k.name() == "track_file") {
                    ctx.error(c.span(), "FILE_CHECK has no track_file specified - ignoring");
                    continue;
                }
                if name == "BFD_CHECK" {
                    ctx.error(
                        c.span(),
                        "BFD_CHECK - BFD is not configured (not supported by rkeepalived)",
                    );
                    continue;
                }
                ctx.unsupported(
                    c,
                    "an LVS checker rkeepalived does not run yet; the real server stays in",
                );
                rs.checkers.push(Checker {
                    span: c.span(),
                    kind: CheckerKind::Unsupported(name),
                    connect_ip: None,
                    connect_port: None,
                    bindto: None,
                    bind_port: None,
                    bind_if: None,
                    fwmark: None,
                    timing: Timing::default(),
                    log_all_failures: false,
                });
            }
            "include" => {}
            _ => {
                let known: Vec<&str> = RS_KEYWORDS.iter().chain(OTHER_CHECKERS).copied().collect();
                ctx.unknown(c, "real_server", &known);
            }
        }
    }
    Some(rs)
}

fn read_checker(ctx: &mut Ctx<'_>, n: &Node) -> Option<Checker> {
    let mut ch = Checker {
        span: n.span(),
        kind: CheckerKind::Tcp,
        connect_ip: None,
        connect_port: None,
        bindto: None,
        bind_port: None,
        bind_if: None,
        fwmark: None,
        timing: Timing::default(),
        log_all_failures: false,
    };
    let mut urls = Vec::new();
    let mut version = HttpVersion::V10;
    let (mut vhost, mut fast, mut sni) = (None, false, false);
    let (mut misc_path, mut misc_timeout, mut misc_dynamic) = (None, None, false);
    let kind = n.name();
    for c in n.children() {
        // MISC_CHECK takes the timing keywords from alpha on, not connect_timeout.
        let timing_kw = kind != "MISC_CHECK"
            || matches!(
                c.name(),
                "alpha" | "retry" | "delay_before_retry" | "warmup" | "delay_loop"
            );
        if timing_kw && timing_setting(ctx, c, &mut ch.timing, "checker") {
            continue;
        }
        let common = kind != "MISC_CHECK";
        match c.name() {
            "connect_ip" if common => {
                if let Some(t) = ctx.soft_arg(c, 0, "an address") {
                    match t.text.parse() {
                        Ok(a) => ch.connect_ip = Some(a),
                        Err(_) => ctx.error(t.span, format!("Invalid connect_ip address {} - ignoring", t.text)),
                    }
                }
            }
            "connect_port" | "bind_port" if common => {
                if let Some(t) = ctx.soft_arg(c, 0, "a port") {
                    match ctx.int(t, 1, 65535) {
                        Some(p) if c.name() == "connect_port" => ch.connect_port = Some(p as u16),
                        Some(p) => ch.bind_port = Some(p as u16),
                        None => ctx.error(t.span, format!("Invalid checker {} '{}'", c.name(), t.text)),
                    }
                }
            }
            "bindto" if common => {
                if let Some(t) = ctx.soft_arg(c, 0, "an address") {
                    match t.text.parse() {
                        Ok(a) => ch.bindto = Some(a),
                        Err(_) => ctx.error(t.span, format!("Invalid bindto address {} - ignoring", t.text)),
                    }
                }
            }
            "bind_if" if common => ch.bind_if = ctx.soft_string_arg(c, "an interface"),
            "fwmark" if common => {
                if let Some(t) = ctx.soft_arg(c, 0, "a mark") {
                    ch.fwmark = ctx.int(t, 0, u32::MAX.into()).map(|v| v as u32);
                }
            }
            "log_all_failures" => ch.log_all_failures = bool_or_bare(ctx, c, "log_all_failures").unwrap_or(false),
            "http_protocol" if kind.ends_with("_GET") => match c.args.first().map(|t| t.text.as_str()) {
                Some("1.0") => version = HttpVersion::V10,
                Some("1.0C") | Some("1.0c") => version = HttpVersion::V10Close,
                Some("1.1") => version = HttpVersion::V11,
                _ => {
                    let v = c.args.first().map(|t| t.text.clone()).unwrap_or_default();
                    ctx.error(c.span(), format!("Invalid http_protocol version {v}"));
                }
            },
            "fast_recovery" if kind.ends_with("_GET") => fast = bool_or_bare(ctx, c, "fast_recovery").unwrap_or(fast),
            "virtualhost" if kind.ends_with("_GET") => vhost = ctx.soft_string_arg(c, "a host name"),
            "enable_sni" if kind == "SSL_GET" => sni = bool_or_bare(ctx, c, "enable_sni").unwrap_or(sni),
            "url" if kind.ends_with("_GET") => {
                if let Some(u) = read_url(ctx, c) {
                    urls.push(u);
                }
            }
            "misc_path" if kind == "MISC_CHECK" => misc_path = ctx.script(c, false),
            "misc_timeout" if kind == "MISC_CHECK" => {
                if let Some(t) = ctx.soft_arg(c, 0, "seconds") {
                    misc_timeout = ctx.int(t, 0, u32::MAX.into()).map(|v| Duration::from_secs(v as u64));
                }
            }
            "misc_dynamic" if kind == "MISC_CHECK" => misc_dynamic = true,
            "user" if kind == "MISC_CHECK" => {
                if let (Some(p), Some(u)) = (misc_path.as_mut(), ctx.user_spec(c, 0)) {
                    p.user = Some(u);
                }
            }
            "include" => {}
            _ => {
                let mut known: Vec<&str> = CHECKER_KEYWORDS.to_vec();
                match kind {
                    "HTTP_GET" | "SSL_GET" => known.extend(HTTP_KEYWORDS),
                    "MISC_CHECK" => known = MISC_KEYWORDS.to_vec(),
                    _ => {}
                }
                ctx.unknown(c, kind, &known);
            }
        }
    }
    ch.kind = match kind {
        "TCP_CHECK" => CheckerKind::Tcp,
        "HTTP_GET" | "SSL_GET" => {
            if urls.is_empty() {
                ctx.error(n.span(), "HTTP/SSL_GET checker has no urls specified - ignoring");
                return None;
            }
            CheckerKind::Http {
                tls: kind == "SSL_GET",
                urls,
                version,
                virtualhost: vhost,
                fast_recovery: fast,
                sni,
            }
        }
        _ => {
            let Some(script) = misc_path else {
                ctx.error(
                    n.span(),
                    "No script path has been specified for MISC_CHECKER - skipping",
                );
                return None;
            };
            CheckerKind::Misc {
                script,
                timeout: misc_timeout.filter(|d| !d.is_zero()),
                dynamic: misc_dynamic,
            }
        }
    };
    Some(ch)
}

/// `smtp_alert [BOOL]` and `snmp_name NAME`: no effect here (no e-mail, no
/// SNMP), but keepalived 2.2.7 checks them, and so does `-t`.
fn alert_and_name(ctx: &mut Ctx<'_>, c: &Node, who: &str) {
    if c.name() == "snmp_name" {
        if c.args.len() != 1 {
            ctx.error(c.span(), format!("{who} snmp_name missing or extra parameters"));
        }
    } else {
        ctx.inert(c, super::keywords::Inert::OptionalBool);
    }
}

fn read_url(ctx: &mut Ctx<'_>, n: &Node) -> Option<Url> {
    let mut u = Url::default();
    let mut has_path = false;
    for c in n.children() {
        match c.name() {
            "path" => {
                if let Some(p) = ctx.soft_string_arg(c, "a path") {
                    u.path = p;
                    has_path = true;
                }
            }
            "digest" => {
                if let Some(t) = ctx.soft_arg(c, 0, "an MD5 digest") {
                    if t.text.len() != 32 {
                        ctx.error(
                            t.span,
                            format!(
                                "digest '{}' character length should be 32 rather than {}",
                                t.text,
                                t.text.len()
                            ),
                        );
                    } else {
                        u.digest = Some(t.text.to_ascii_lowercase());
                    }
                }
            }
            "status_code" => {
                for t in &c.args {
                    let range = match t.text.split_once('-') {
                        Some((a, b)) => a.parse::<u16>().ok().zip(b.parse::<u16>().ok()),
                        None => t.text.parse::<u16>().ok().map(|v| (v, v)),
                    };
                    match range {
                        Some((lo, hi)) if lo <= hi && lo >= 100 && hi <= 599 => u.status.push((lo, hi)),
                        _ => ctx.error(t.span, format!("Invalid HTTP_GET status code '{}'", t.text)),
                    }
                }
            }
            "virtualhost" => u.virtualhost = ctx.soft_string_arg(c, "a host name"),
            "regex" => u.regex = ctx.soft_string_arg(c, "a regular expression"),
            "regex_no_match" => u.regex_no_match = true,
            "regex_options" | "regex_stack" | "regex_min_offset" | "regex_max_offset" => {}
            _ => ctx.unknown(c, "url", URL_KEYWORDS),
        }
    }
    if !has_path {
        ctx.error(n.span(), "HTTP/SSL_GET checker url has no path - ignoring");
        return None;
    }
    Some(u)
}

/// Cross-block checks: groups exist, one definition per service.
pub fn validate(ctx: &mut Ctx<'_>, lvs: &mut Lvs) {
    let groups: Vec<String> = lvs.groups.iter().map(|g| g.name.clone()).collect();
    let groups_full = lvs.groups.clone();
    let mut seen: Vec<(VsTarget, Protocol, bool)> = Vec::new();
    lvs.servers.retain(|vs| {
        if let VsTarget::Group(g) = &vs.target {
            if !groups.contains(g) {
                // keepalived 2.2.7 accepts it (-t exits 0) and runs nothing.
                ctx.note(
                    vs.span,
                    format!("virtual_server group {g}: no virtual_server_group {g}; ignored"),
                );
                return false;
            }
        }
        if let VsTarget::Group(g) = &vs.target {
            if let Some(group) = groups_full.iter().find(|x| &x.name == g) {
                let addresses = group.entries.iter().any(|e| matches!(e, GroupEntry::Range { .. }));
                if addresses && !vs.protocol_set {
                    ctx.error(
                        vs.span,
                        format!("Virtual server [{g}]:0: no protocol set - defaulting to UDP"),
                    );
                }
                group_port_rules(ctx, vs, group);
            }
        }
        let key = (vs.target.clone(), vs.protocol, vs.ipv6);
        if seen.contains(&key) {
            // keepalived 2.2.7's -t accepts it.
            ctx.note(
                vs.span,
                format!(
                    "virtual server {} is defined twice; the second definition is ignored",
                    vs.label()
                ),
            );
            return false;
        }
        seen.push(key);
        true
    });
}

/// A group's fwmark entries take no real-server port; its address entries
/// must match a direct-routed or tunnelled real server's port.
fn group_port_rules(ctx: &mut Ctx<'_>, vs: &VirtualServer, g: &VsGroup) {
    let label = vs.label();
    for rs in &vs.real_servers {
        let forward = vs.rs_forward(rs);
        for e in &g.entries {
            match *e {
                GroupEntry::Fwmark { .. } if rs.addr.port() != 0 => {
                    // Logged by keepalived 2.2.7, not counted by its -t.
                    ctx.note(
                        rs.span,
                        format!(
                            "WARNING - fwmark virtual server {label}, real server {} has port specified - port will be ignored",
                            rs_label(rs, vs.protocol)
                        ),
                    );
                    break;
                }
                GroupEntry::Range { first, last, port }
                    if forward != Forward::Nat && port != 0 && rs.addr.port() != 0 && port != rs.addr.port() =>
                {
                    ctx.error(
                        rs.span,
                        format!(
                            "virtual server {label}:[{first}-{last},{port}] and real server {} ports don't match",
                            rs_label(rs, vs.protocol)
                        ),
                    );
                }
                _ => {}
            }
        }
    }
}
