//! From the configuration model to what the engine and netlink take.

use std::net::{IpAddr, Ipv4Addr};

use crate::config::model::{
    AuthType, Broadcast, Family, InitialState, VirtualAddress, VirtualRoute, VirtualRule, VrrpInstance,
};
use crate::net::netlink::{AddressSpec, RouteSpec, RuleSpec};
use crate::vrrp::packet::{self, ChecksumMode, Version};
use crate::vrrp::{GarpParams, Linger, Params, UnicastPeer};

use super::effects::Addresses;

pub fn engine_params(i: &VrrpInstance) -> Params {
    Params {
        name: i.name.clone(),
        vrid: i.vrid,
        version: if i.version == 3 { Version::V3 } else { Version::V2 },
        family: match i.family {
            Family::V4 => packet::Family::V4,
            Family::V6 => packet::Family::V6,
        },
        priority: i.priority,
        advert_int: i.advert_int,
        want_master: i.state == InitialState::Master,
        nopreempt: i.nopreempt,
        preempt_delay: i.preempt_delay,
        down_timer_adverts: i.down_timer_adverts,
        lower_prio_no_advert: i.lower_prio_no_advert,
        higher_prio_send_advert: i.higher_prio_send_advert,
        garp: GarpParams {
            master_delay: i.garp.master_delay,
            master_repeat: i.garp.master_repeat,
            master_refresh: i.garp.master_refresh,
            master_refresh_repeat: i.garp.master_refresh_repeat,
            lower_prio_delay: i.garp.lower_prio_delay,
            lower_prio_repeat: i.garp.lower_prio_repeat,
        },
        auth: i.auth.as_ref().map(|a| {
            let t = match a.auth_type {
                AuthType::Pass => packet::AuthType::Pass,
                AuthType::Ah => packet::AuthType::Ah,
            };
            (t, a.password)
        }),
        vips: i.vips.iter().map(|v| v.addr).collect(),
        strict: i.strict,
        owner_ignores_adverts: i.strict || i.owner_ignore_adverts,
        skip_check_adv_addr: i.skip_check_adv_addr,
        checksum_mode: if i.v3_checksum_as_v2 {
            ChecksumMode::MessageOnly
        } else {
            ChecksumMode::PseudoHeader
        },
        unicast_peers: i
            .unicast_peers
            .iter()
            .map(|p| UnicastPeer {
                addr: p.addr,
                min_ttl: p.min_ttl,
                max_ttl: p.max_ttl,
            })
            .collect(),
        check_unicast_src: i.check_unicast_src,
        // Over IPv4 without a VMAC the new master's gratuitous ARP can be
        // told from ours; otherwise its first advert ends the wait.
        linger: match (i.linger_on_fault, i.family, &i.vmac) {
            (false, _, _) => Linger::Off,
            (true, Family::V4, None) => Linger::UntilAnnounced,
            (true, _, _) => Linger::UntilAdvert,
        },
    }
}

/// keepalived sets IPv6 /128 VIPs deprecated (preferred_lft 0) by default,
/// so they are not chosen as source addresses.
pub fn address_spec(v: &VirtualAddress) -> AddressSpec {
    let broadcast = match (v.brd, v.addr) {
        (Some(Broadcast::Addr(b)), _) => Some(b),
        (Some(Broadcast::Plus), IpAddr::V4(a)) => {
            let host_bits = if v.prefix >= 32 { 0 } else { u32::MAX >> v.prefix };
            Some(Ipv4Addr::from(u32::from(a) | host_bits))
        }
        _ => None,
    };
    let preferred_lft = match (v.preferred_lft, v.addr) {
        (Some(p), _) => Some(p),
        (None, IpAddr::V6(_)) if v.prefix == 128 => Some(0),
        _ => None,
    };
    AddressSpec {
        addr: v.addr,
        prefix: v.prefix,
        broadcast,
        scope: v.scope.as_u8(),
        label: v.label.clone(),
        peer: v.peer,
        // A VIP must be usable at once: duplicate address detection would
        // hold an IPv6 VIP tentative for a second.
        nodad: v.addr.is_ipv6(),
        home: v.home,
        mngtmpaddr: v.mngtmpaddr,
        noprefixroute: v.noprefixroute,
        autojoin: v.autojoin,
        preferred_lft,
    }
}

/// A route as netlink takes it: its interfaces resolved, its span blanked
/// (two lines that say the same install the same route).
pub fn route_spec(r: &VirtualRoute, index_of: &impl Fn(&str) -> Option<u32>) -> RouteSpec {
    let mut route = r.clone();
    route.span = Default::default();
    RouteSpec {
        oif: r.dev.as_deref().and_then(index_of),
        nexthop_oifs: r.nexthops.iter().map(|n| n.dev.as_deref().and_then(index_of)).collect(),
        route,
    }
}

pub fn rule_spec(r: &VirtualRule) -> RuleSpec {
    let mut rule = r.clone();
    rule.span = Default::default();
    RuleSpec { rule }
}

/// An instance's VIPs, excluded VIPs, routes and rules, resolved to
/// interfaces: an address without `dev` goes on `vip_ifindex`.
pub fn addresses(cfg: &VrrpInstance, vip_ifindex: u32, index_of: impl Fn(&str) -> Option<u32>) -> Addresses {
    Addresses {
        addrs: cfg
            .vips
            .iter()
            .chain(&cfg.excluded_vips)
            .map(|v| {
                let idx = v.dev.as_deref().and_then(&index_of).unwrap_or(vip_ifindex);
                (idx, address_spec(v))
            })
            .collect(),
        routes: cfg.routes.iter().map(|r| route_spec(r, &index_of)).collect(),
        rules: cfg.rules.iter().map(rule_spec).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_str, LoadOptions};

    #[test]
    fn params_follow_the_configuration() {
        let l = load_str(
            "t",
            "vrrp_instance V {\n interface eth0\n virtual_router_id 9\n priority 120\n advert_int 2\n nopreempt\n authentication {\n auth_type PASS\n auth_pass abc\n }\n virtual_ipaddress {\n 10.0.0.1/24 brd +\n fe80::1\n }\n}\n",
            &LoadOptions::default(),
        );
        let i = &l.config.instances[0];
        let p = engine_params(i);
        assert_eq!(
            (p.vrid, p.priority, p.version, p.nopreempt),
            (9, 120, Version::V2, true)
        );
        assert_eq!(p.auth, Some((packet::AuthType::Pass, *b"abc\0\0\0\0\0")));
        assert_eq!(p.vips, [IpAddr::from([10, 0, 0, 1])]);
        let a = address_spec(&i.vips[0]);
        assert_eq!(a.broadcast, Some(Ipv4Addr::new(10, 0, 0, 255)));
        assert!(!a.nodad);
        assert!(
            !p.owner_ignores_adverts,
            "keepalived's owner processes adverts by default"
        );
        for extra in ["strict_mode", "owner_ignore_adverts"] {
            let l = load_str(
                "t",
                &format!("vrrp_instance V {{\n interface eth0\n virtual_router_id 9\n priority 255\n {extra}\n virtual_ipaddress {{\n 10.0.0.1/24\n }}\n}}\n"),
                &LoadOptions::default(),
            );
            assert!(engine_params(&l.config.instances[0]).owner_ignores_adverts, "{extra}");
        }
    }

    #[test]
    fn ipv6_host_vips_are_deprecated_and_skip_dad() {
        let l = load_str("t", "vrrp_instance V {\n interface eth0\n virtual_router_id 9\n virtual_ipaddress {\n 2001:db8::1\n 2001:db8::2/64\n }\n}\n", &LoadOptions::default());
        let i = &l.config.instances[0];
        assert_eq!(address_spec(&i.vips[0]).preferred_lft, Some(0));
        assert_eq!(address_spec(&i.vips[1]).preferred_lft, None);
        assert!(address_spec(&i.vips[1]).nodad);
    }
}
