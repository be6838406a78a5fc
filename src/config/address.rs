//! Lines of `virtual_ipaddress` (and `static_ipaddress`), in keepalived's
//! `ip addr` inspired syntax; routes and rules are [`super::route`]'s.

use std::net::IpAddr;

use super::model::{AddressScope, Broadcast, VirtualAddress};
use super::preprocess::Token;
use super::tree::Node;
use super::values::Ctx;

/// The tokens of a value-block line: its "keyword" and its arguments.
pub(super) fn tokens(node: &Node) -> Vec<&Token> {
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
        Some(p) => p.parse::<u8>().ok().filter(|v| *v <= max)?,
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
    if vip.brd.is_some() && vip.addr.is_ipv6() {
        ctx.error(
            vip.span,
            format!(
                "a broadcast address applies to IPv4 only; address {} skipped",
                first.text
            ),
        );
        return None;
    }
    if matches!(vip.brd, Some(Broadcast::Plus | Broadcast::Minus)) && vip.prefix >= 31 {
        // keepalived 2.2.7 counts this as a configuration error (exit 5).
        ctx.warning(
            vip.span,
            format!(
                "prefix length {} is too long for a computed broadcast; 'brd' ignored",
                vip.prefix
            ),
        );
        vip.brd = None;
    }
    if (vip.home || vip.nodad || vip.mngtmpaddr) && vip.addr.is_ipv4() {
        ctx.note(
            vip.span,
            "'home', '-nodad' and 'mngtmpaddr' apply to IPv6 addresses only; ignored",
        );
        vip.home = false;
        vip.nodad = false;
        vip.mngtmpaddr = false;
    }
    Some(vip)
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
        let out = Preprocessor::new(&mut sources, &mut diags, Options::with_id("x")).run_text(Path::new("t"), text);
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
}
