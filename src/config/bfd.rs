//! `bfd_instance` blocks and `track_bfd`: rkeepalived runs no BFD, but it
//! reads these as keepalived 2.2.7 does, so that `-t` gives keepalived's
//! verdict on them (ranges and messages observed with keepalived's `-t`).

use std::collections::HashSet;
use std::net::IpAddr;

use super::diag::Span;
use super::tree::Node;
use super::values::Ctx;

/// A `bfd_instance NAME { … }` that keepalived would keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BfdInstance {
    pub name: String,
    pub neighbor: IpAddr,
    pub span: Span,
}

const KEYWORDS: &[&str] = &[
    "neighbor_ip",
    "source_ip",
    "min_rx",
    "min_tx",
    "idle_tx",
    "multiplier",
    "passive",
    "ttl",
    "hoplimit",
    "max_hops",
    "weight",
];

/// Reads one block; `None` for one keepalived ignores or disables.
pub fn read_bfd_instance(ctx: &mut Ctx<'_>, n: &Node) -> Option<BfdInstance> {
    ctx.unsupported(n, "BFD");
    // keepalived ignores words after the name.
    let name = ctx.soft_arg(n, 0, "a bfd_instance name")?.text.clone();
    let (mut neighbor, mut source) = (None, None);
    for c in n.children() {
        ctx.no_block(c);
        // keepalived ignores words after a value here, silently.
        let value = |ctx: &mut Ctx<'_>| ctx.arg(c, 0, "a value").cloned();
        match c.name() {
            "neighbor_ip" | "source_ip" => {
                let Some(t) = value(ctx) else { continue };
                let which = if c.name() == "neighbor_ip" {
                    "neighbor"
                } else {
                    "source"
                };
                match t.text.parse::<IpAddr>() {
                    Ok(a) if which == "neighbor" => neighbor = Some(a),
                    Ok(a) => source = Some((a, t.span)),
                    Err(_) => ctx.error(
                        t.span,
                        format!(
                            "BFD instance {name} has malformed {which} address {}, ignoring{}",
                            t.text,
                            if which == "neighbor" { " instance" } else { "" }
                        ),
                    ),
                }
            }
            "min_rx" | "min_tx" | "idle_tx" => {
                let Some(t) = value(ctx) else { continue };
                let lo = if c.name() == "idle_tx" { 1000 } else { 1 };
                if !millis_in(&t.text, lo, 4_294_967) {
                    ctx.error(
                        t.span,
                        format!(
                            "BFD instance {name} {} value {} is not valid (must be in range [{lo}-4294967]), ignoring",
                            c.name(),
                            t.text
                        ),
                    );
                }
            }
            "multiplier" | "ttl" | "hoplimit" | "max_hops" | "weight" => {
                let Some(t) = value(ctx) else { continue };
                let (lo, hi) = match c.name() {
                    "max_hops" => (-1, 255),
                    "weight" => (-253, 253),
                    _ => (1, 255),
                };
                ctx.int(&t, lo, hi);
            }
            "passive" => {}
            "include" => {}
            _ => ctx.unknown(c, "bfd_instance", KEYWORDS),
        }
    }
    let Some(neighbor) = neighbor else {
        ctx.error(
            n.span(),
            format!("BFD instance {name} has no neighbor address set, disabling instance"),
        );
        return None;
    };
    if let Some((s, span)) = source {
        if s.is_ipv4() != neighbor.is_ipv4() {
            ctx.error(
                span,
                format!(
                    "BFD instance {name} source address {s} and neighbor address {neighbor} are not of the same family, disabling instance"
                ),
            );
            return None;
        }
    }
    Some(BfdInstance {
        name,
        neighbor,
        span: n.span(),
    })
}

/// A number of milliseconds with at most three decimals, in [lo, hi].
fn millis_in(text: &str, lo: u64, hi: u64) -> bool {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(frac) || frac.len() > 3 {
        return false;
    }
    let Ok(w) = whole.parse::<u64>() else { return false };
    let thousandths = w.saturating_mul(1000) + format!("{frac:0<3}").parse::<u64>().unwrap_or(0);
    (lo * 1000..=hi * 1000).contains(&thousandths)
}

/// keepalived keeps the first of two instances with one name or one
/// neighbor, and reports the later one.
pub fn dedupe(ctx: &mut Ctx<'_>, all: &mut Vec<BfdInstance>) {
    let mut names = HashSet::new();
    let mut neighbors = HashSet::new();
    all.retain(|b| {
        if !names.insert(b.name.clone()) {
            ctx.error(b.span, format!("BFD instance {} already configured - ignoring", b.name));
            return false;
        }
        if !neighbors.insert(b.neighbor) {
            ctx.error(
                b.span,
                format!(
                    "BFD instance {} has duplicate neighbor address {}, ignoring instance",
                    b.name, b.neighbor
                ),
            );
            return false;
        }
        true
    });
}

#[cfg(test)]
mod tests {
    use super::millis_in;

    #[test]
    fn milliseconds_take_three_decimals_within_range() {
        assert!(millis_in("1", 1, 10));
        assert!(millis_in("1.5", 1, 10));
        assert!(millis_in("9.999", 1, 10));
        assert!(!millis_in("1.0005", 1, 10));
        assert!(!millis_in("0", 1, 10));
        assert!(!millis_in("0.999", 1, 10));
        assert!(!millis_in("abc", 1, 10));
        assert!(!millis_in("-1", 1, 10));
        assert!(!millis_in("11", 1, 10));
        assert!(!millis_in(".5", 1, 10));
    }
}
