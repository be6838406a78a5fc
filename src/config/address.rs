//! Lines of `virtual_ipaddress`, `virtual_routes` and `virtual_rules`
//! (and their `static_*` forms), in keepalived's `ip addr` / `ip route` /
//! `ip rule` inspired syntax.

use std::net::IpAddr;

use super::model::{AddressScope, Broadcast, RouteType, VirtualAddress, VirtualRoute, VirtualRule};
use super::preprocess::Token;
use super::tree::Node;
use super::values::{parse_int, Ctx};

/// The tokens of a value-block line: its "keyword" and its arguments.
fn tokens(node: &Node) -> Vec<&Token> {
    std::iter::once(&node.keyword).chain(node.args.iter()).collect()
}

/// `ADDR[/PREFIX]`; the default prefix is the full length.
pub fn parse_prefix(text: &str) -> Option<(IpAddr, u8)> {
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) => {
            let v: u8 = p.parse().ok()?;
            if v > max {
                return None;
            }
            v
        }
        None => max,
    };
    Some((addr, prefix))
}

fn scope(ctx: &mut Ctx<'_>, tok: &Token) -> Option<AddressScope> {
    Some(match tok.text.as_str() {
        "global" | "universe" => AddressScope::Global,
        "site" => AddressScope::Site,
        "link" => AddressScope::Link,
        "host" => AddressScope::Host,
        "nowhere" => AddressScope::Nowhere,
        other => match other.parse::<u8>() {
            Ok(n) => AddressScope::Numeric(n),
            Err(_) => {
                ctx.error(
                    tok.span,
                    format!("unknown scope '{other}' (global|site|link|host|nowhere|0-255)"),
                );
                return None;
            }
        },
    })
}

/// One `virtual_ipaddress` line.
pub fn parse_vip(ctx: &mut Ctx<'_>, node: &Node) -> Option<VirtualAddress> {
    ctx.no_block(node);
    let toks = tokens(node);
    let first = toks[0];
    let Some((addr, prefix)) = parse_prefix(&first.text) else {
        ctx.error(
            first.span,
            format!("'{}' is not an IP address (ADDR[/PREFIX]); address skipped", first.text),
        );
        return None;
    };
    let mut vip = VirtualAddress {
        addr,
        prefix,
        dev: None,
        brd: None,
        scope: AddressScope::Global,
        label: None,
        peer: None,
        home: false,
        nodad: false,
        mngtmpaddr: false,
        noprefixroute: false,
        autojoin: false,
        no_track: false,
        preferred_lft: None,
        use_vmac: false,
        span: first.span,
    };
    let mut i = 1;
    while i < toks.len() {
        let t = toks[i];
        let val = toks.get(i + 1).copied();
        let needs = |ctx: &mut Ctx<'_>, what: &str| {
            if val.is_none() {
                ctx.error(t.span, format!("'{}' needs {what}", t.text));
            }
            val
        };
        match t.text.as_str() {
            "dev" => {
                vip.dev = needs(ctx, "an interface name").map(|v| v.text.clone());
                i += 1;
            }
            "brd" | "broadcast" => {
                if let Some(v) = needs(ctx, "an address, '+' or '-'") {
                    vip.brd = match v.text.as_str() {
                        "+" => Some(Broadcast::Plus),
                        "-" => Some(Broadcast::Minus),
                        s => match s.parse() {
                            Ok(a) => Some(Broadcast::Addr(a)),
                            Err(_) => {
                                ctx.error(v.span, format!("'{s}' is not an IPv4 broadcast address"));
                                None
                            }
                        },
                    };
                }
                i += 1;
            }
            "scope" => {
                if let Some(v) = needs(ctx, "a scope") {
                    if let Some(s) = scope(ctx, v) {
                        vip.scope = s;
                    }
                }
                i += 1;
            }
            "label" => {
                vip.label = needs(ctx, "a label").map(|v| v.text.clone());
                i += 1;
            }
            "peer" => {
                if let Some(v) = needs(ctx, "an address") {
                    vip.peer = parse_prefix(&v.text).map(|(a, _)| a);
                    if vip.peer.is_none() {
                        ctx.error(v.span, format!("'{}' is not an IP address", v.text));
                    }
                }
                i += 1;
            }
            "preferred_lft" => {
                if let Some(v) = needs(ctx, "a lifetime or 'forever'") {
                    vip.preferred_lft = if v.text == "forever" {
                        Some(u32::MAX)
                    } else {
                        ctx.int(v, 0, i64::from(u32::MAX)).and_then(|n| u32::try_from(n).ok())
                    };
                }
                i += 1;
            }
            "home" => vip.home = true,
            "-nodad" => vip.nodad = true,
            "mngtmpaddr" => vip.mngtmpaddr = true,
            "noprefixroute" => vip.noprefixroute = true,
            "autojoin" => vip.autojoin = true,
            "no_track" => vip.no_track = true,
            "use_vmac" => vip.use_vmac = true,
            "track_group" => {
                ctx.warning(t.span, "'track_group' is only allowed in static_ipaddress; ignored");
                i += 1;
            }
            other => {
                ctx.error(
                    t.span,
                    format!("unknown option '{other}' for IP address {}", first.text),
                );
            }
        }
        i += 1;
    }
    if (vip.home || vip.nodad || vip.mngtmpaddr) && vip.addr.is_ipv4() {
        ctx.warning(
            vip.span,
            "'home', '-nodad' and 'mngtmpaddr' apply to IPv6 addresses only; ignored",
        );
        vip.home = false;
        vip.nodad = false;
        vip.mngtmpaddr = false;
    }
    Some(vip)
}

/// Route options rkeepalived parses but does not apply; each takes a value.
const ROUTE_IGNORED_WITH_VALUE: &[&str] = &[
    "mtu",
    "advmss",
    "rtt",
    "rttvar",
    "reordering",
    "window",
    "cwnd",
    "ssthresh",
    "realms",
    "initcwnd",
    "initrwnd",
    "features",
    "quickack",
    "congctl",
    "pref",
    "tos",
    "expires",
    "fastopen_no_cookie",
    "ttl-propagate",
    "encap",
    "nexthop",
    "hoplimit",
    "rto_min",
];

/// One `virtual_routes` line.
pub fn parse_route(ctx: &mut Ctx<'_>, node: &Node) -> Option<VirtualRoute> {
    ctx.no_block(node);
    let toks = tokens(node);
    let mut r = VirtualRoute {
        dst: IpAddr::from([0, 0, 0, 0]),
        dst_prefix: 0,
        src: None,
        via: None,
        dev: None,
        scope: None,
        table: None,
        metric: None,
        protocol: None,
        route_type: RouteType::Unicast,
        onlink: false,
        no_track: false,
        span: toks[0].span,
    };
    let mut have_dst = false;
    let mut bad_dst = false;
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        let val = toks.get(i + 1).copied();
        let mut take = |ctx: &mut Ctx<'_>, what: &str| -> Option<&Token> {
            i += 1;
            if val.is_none() {
                ctx.error(t.span, format!("'{}' needs {what}", t.text));
            }
            val
        };
        match t.text.as_str() {
            "src" => {
                if let Some(v) = take(ctx, "an address") {
                    r.src = ctx.ip(v);
                }
            }
            "via" | "gw" => {
                if t.text == "gw" {
                    ctx.warning(t.span, "'gw' is deprecated; use 'via'");
                }
                if let Some(v) = take(ctx, "an address") {
                    r.via = ctx.ip(v);
                }
            }
            "or" => {
                ctx.warning(
                    t.span,
                    "multipath 'or' routes are not supported by rkeepalived; the alternative gateway is ignored",
                );
                take(ctx, "an address");
            }
            "dev" | "oif" => r.dev = take(ctx, "an interface").map(|v| v.text.clone()),
            "scope" => {
                if let Some(v) = take(ctx, "a scope") {
                    r.scope = scope(ctx, v);
                }
            }
            "table" => {
                if let Some(v) = take(ctx, "a table") {
                    r.table = match v.text.as_str() {
                        "main" => Some(254),
                        "local" => Some(255),
                        "default" => Some(253),
                        _ => ctx.int(v, 0, i64::from(u32::MAX)).and_then(|n| u32::try_from(n).ok()),
                    };
                }
            }
            "metric" | "priority" | "preference" => {
                if let Some(v) = take(ctx, "a number") {
                    r.metric = ctx.int(v, 0, i64::from(u32::MAX)).and_then(|n| u32::try_from(n).ok());
                }
            }
            "proto" | "protocol" => {
                if let Some(v) = take(ctx, "a protocol") {
                    r.protocol = match v.text.as_str() {
                        "kernel" => Some(2),
                        "boot" => Some(3),
                        "static" => Some(4),
                        "keepalived" => Some(18),
                        _ => ctx.int(v, 0, 255).and_then(|n| u8::try_from(n).ok()),
                    };
                }
            }
            "onlink" => r.onlink = true,
            "no_track" => r.no_track = true,
            "unicast" => r.route_type = RouteType::Unicast,
            "blackhole" => r.route_type = RouteType::Blackhole,
            "unreachable" => r.route_type = RouteType::Unreachable,
            "prohibit" => r.route_type = RouteType::Prohibit,
            "throw" => r.route_type = RouteType::Throw,
            "to" => {
                if let Some(v) = take(ctx, "a destination") {
                    have_dst = dst(ctx, v, &mut r);
                    bad_dst |= !have_dst;
                }
            }
            word if ROUTE_IGNORED_WITH_VALUE.contains(&word) => {
                ctx.warning(
                    t.span,
                    format!("route option '{word}' is not supported by rkeepalived, ignored"),
                );
                take(ctx, "a value");
            }
            _ if !have_dst && !bad_dst => {
                have_dst = dst(ctx, t, &mut r);
                bad_dst = !have_dst;
            }
            other => ctx.error(t.span, format!("unknown route option '{other}'")),
        }
        i += 1;
    }
    if !have_dst {
        if !bad_dst {
            ctx.error(toks[0].span, "route has no destination");
        }
        return None;
    }
    if let Some(via) = r.via {
        if via.is_ipv4() != r.dst.is_ipv4() {
            ctx.error(
                r.span,
                "route gateway and destination are of different address families",
            );
            return None;
        }
    }
    Some(r)
}

fn dst(ctx: &mut Ctx<'_>, t: &Token, r: &mut VirtualRoute) -> bool {
    if t.text == "default" {
        r.dst = IpAddr::from([0, 0, 0, 0]);
        r.dst_prefix = 0;
        return true;
    }
    match parse_prefix(&t.text) {
        Some((a, p)) => {
            r.dst = a;
            r.dst_prefix = p;
            true
        }
        None => {
            ctx.error(
                t.span,
                format!("'{}' is not a route destination (ADDR[/PREFIX] or default)", t.text),
            );
            false
        }
    }
}

/// One `virtual_rules` line.
pub fn parse_rule(ctx: &mut Ctx<'_>, node: &Node) -> Option<VirtualRule> {
    ctx.no_block(node);
    let toks = tokens(node);
    let mut r = VirtualRule {
        family_v6: false,
        from: None,
        to: None,
        table: None,
        priority: None,
        fwmark: None,
        iif: None,
        oif: None,
        invert: false,
        no_track: false,
        span: toks[0].span,
    };
    let mut ok = true;
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        let val = toks.get(i + 1).copied();
        let mut take = |ctx: &mut Ctx<'_>, what: &str| -> Option<&Token> {
            i += 1;
            if val.is_none() {
                ctx.error(t.span, format!("'{}' needs {what}", t.text));
            }
            val
        };
        match t.text.as_str() {
            "not" => r.invert = true,
            "from" | "to" => {
                if let Some(v) = take(ctx, "a prefix") {
                    let p = if v.text == "all" {
                        Some(None)
                    } else {
                        parse_prefix(&v.text).map(Some)
                    };
                    match p {
                        Some(p) => {
                            if t.text == "from" {
                                r.from = p;
                            } else {
                                r.to = p;
                            }
                        }
                        None => {
                            ctx.error(v.span, format!("'{}' is not an address prefix", v.text));
                            ok = false;
                        }
                    }
                }
            }
            "table" | "lookup" => {
                if let Some(v) = take(ctx, "a table") {
                    r.table = match v.text.as_str() {
                        "main" => Some(254),
                        "local" => Some(255),
                        "default" => Some(253),
                        _ => ctx.int(v, 0, i64::from(u32::MAX)).and_then(|n| u32::try_from(n).ok()),
                    };
                }
            }
            "preference" | "priority" | "pref" | "prio" => {
                if let Some(v) = take(ctx, "a number") {
                    r.priority = ctx.int(v, 0, i64::from(u32::MAX)).and_then(|n| u32::try_from(n).ok());
                }
            }
            "fwmark" => {
                if let Some(v) = take(ctx, "a mark") {
                    let (m, mask) = match v.text.split_once('/') {
                        Some((m, k)) => (m, Some(k)),
                        None => (v.text.as_str(), None),
                    };
                    match (parse_int(m), mask.map(parse_int)) {
                        (Some(m), None) => r.fwmark = u32::try_from(m).ok().map(|m| (m, None)),
                        (Some(m), Some(Some(k))) => {
                            r.fwmark = u32::try_from(m)
                                .ok()
                                .zip(u32::try_from(k).ok())
                                .map(|(m, k)| (m, Some(k)))
                        }
                        _ => ctx.error(v.span, format!("'{}' is not a fwmark[/mask]", v.text)),
                    }
                }
            }
            "iif" | "dev" => r.iif = take(ctx, "an interface").map(|v| v.text.clone()),
            "oif" => r.oif = take(ctx, "an interface").map(|v| v.text.clone()),
            "no_track" => r.no_track = true,
            "goto"
            | "realms"
            | "tos"
            | "dsfield"
            | "suppress_prefixlength"
            | "suppress_ifgroup"
            | "uidrange"
            | "ipproto"
            | "sport"
            | "dport"
            | "l3mdev"
            | "protocol" => {
                ctx.warning(
                    t.span,
                    format!("rule option '{}' is not supported by rkeepalived, ignored", t.text),
                );
                if t.text != "l3mdev" {
                    take(ctx, "a value");
                }
            }
            other => {
                ctx.error(t.span, format!("unknown rule option '{other}'"));
                ok = false;
            }
        }
        i += 1;
    }
    if !ok {
        return None;
    }
    let fam = r.from.or(r.to).map(|(a, _)| a.is_ipv6());
    r.family_v6 = fam.unwrap_or(false);
    if let (Some((a, _)), Some((b, _))) = (r.from, r.to) {
        if a.is_ipv6() != b.is_ipv6() {
            ctx.error(r.span, "rule 'from' and 'to' are of different address families");
            return None;
        }
    }
    if r.priority.is_none() {
        ctx.warning(
            r.span,
            "rule has no preference; the kernel will choose one (keepalived warns the same)",
        );
    }
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::diag::{Diagnostics, SourceMap};
    use crate::config::preprocess::{Options, Preprocessor};
    use crate::config::tree;
    use std::path::Path;

    fn nodes(text: &str) -> Vec<Node> {
        let mut sources = SourceMap::default();
        let mut diags = Diagnostics::default();
        let out = Preprocessor::new(&mut sources, &mut diags, Options { config_id: "x".into() })
            .run_text(Path::new("t"), text);
        tree::build(&out.lines, &mut diags)
    }

    #[test]
    fn vip_options() {
        let n = nodes("10.9.0.100/24 dev eth0 brd + scope link label eth0:1 no_track\n");
        let mut d = Diagnostics::default();
        let mut ctx = Ctx::new(&mut d);
        let v = parse_vip(&mut ctx, &n[0]).unwrap_or_else(|| panic!("vip"));
        assert_eq!(v.addr.to_string(), "10.9.0.100");
        assert_eq!(v.prefix, 24);
        assert_eq!(v.dev.as_deref(), Some("eth0"));
        assert_eq!(v.brd, Some(Broadcast::Plus));
        assert_eq!(v.scope, AddressScope::Link);
        assert_eq!(v.label.as_deref(), Some("eth0:1"));
        assert!(v.no_track);
        assert!(d.is_empty());
    }

    #[test]
    fn bad_vips_are_errors_at_the_token() {
        for (line, col) in [("10.1.4.300\n", 1), ("10.1.3.1 bogusopt\n", 10), ("10.1.1.$N/24\n", 1)] {
            let n = nodes(line);
            let mut d = Diagnostics::default();
            let mut ctx = Ctx::new(&mut d);
            let _ = parse_vip(&mut ctx, &n[0]);
            let e: Vec<_> = d.errors().collect();
            assert_eq!(e.len(), 1, "{line}");
            assert_eq!(e[0].span.map(|s| s.col), Some(col), "{line}");
        }
    }

    #[test]
    fn routes_from_the_sample() {
        let n = nodes("src 192.168.100.1 192.168.109.0/24 via 192.168.200.254 dev eth1\nblackhole 192.168.113.1/32\n0.0.0.0/0 gw 192.168.0.1 table 100\n");
        let mut d = Diagnostics::default();
        let mut ctx = Ctx::new(&mut d);
        let r: Vec<_> = n.iter().filter_map(|n| parse_route(&mut ctx, n)).collect();
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].src.map(|a| a.to_string()).as_deref(), Some("192.168.100.1"));
        assert_eq!(r[0].dst_prefix, 24);
        assert_eq!(r[1].route_type, RouteType::Blackhole);
        assert_eq!(r[2].table, Some(100));
        assert!(!d.has_errors());
    }

    #[test]
    fn rules_parse_and_reject_bad_prefixes() {
        let n = nodes("from 192.168.100.0/24 table 1 preference 10\nto 192.168.100./24 table 1\n");
        let mut d = Diagnostics::default();
        let mut ctx = Ctx::new(&mut d);
        let r0 = parse_rule(&mut ctx, &n[0]);
        assert_eq!(r0.map(|r| (r.table, r.priority)), Some((Some(1), Some(10))));
        assert!(parse_rule(&mut ctx, &n[1]).is_none());
        assert!(d.has_errors());
    }
}
