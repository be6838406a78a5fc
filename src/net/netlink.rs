//! Addresses, routes, rules, links and link monitoring over rtnetlink.
//!
//! rtnetlink churns (five breaking releases in 2026): it is pinned exactly
//! in Cargo.toml and used from this module only; everything else speaks the
//! small types defined here.

use std::io;
use std::net::{IpAddr, Ipv4Addr};

use futures::stream::TryStreamExt;
use futures::StreamExt;
use rtnetlink::packet_core::DefaultNla;
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags, AddressMessage, AddressScope, CacheInfo};
use rtnetlink::packet_route::link::{InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage, MacVlanMode};
use rtnetlink::packet_route::route::{
    MplsLabel, RouteAddress, RouteAttribute, RouteFlags, RouteIp6Tunnel, RouteIpTunnel, RouteLwEnCapType,
    RouteLwTunnelEncap, RouteMessage, RouteMetric, RouteMplsIpTunnel, RouteMplsTtlPropagation, RouteNextHop,
    RouteNextHopFlags, RoutePreference, RouteProtocol, RouteRealm, RouteScope, RouteType, RouteVia,
};
use rtnetlink::packet_route::rule::{RuleAction, RuleAttribute, RuleFlags, RuleMessage, RulePortRange, RuleUidRange};
use rtnetlink::packet_route::{AddressFamily, IpProtocol, RouteNetlinkMessage};
use rtnetlink::{Handle, LinkMacVlan, LinkUnspec, MulticastGroup};

use crate::config::route::{Encap, InstallMode, Metric, VirtualRoute, VirtualRule};
use tokio::sync::mpsc;

/// A network interface as netlink reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// Administratively up (IFF_UP).
    pub admin_up: bool,
    /// Carrier present (IFF_LOWER_UP, or IFF_RUNNING).
    pub lower_up: bool,
    pub mac: Option<[u8; 6]>,
    /// The link kind (`macvlan`, `veth`, …) when the kernel reports one.
    pub kind: Option<String>,
    /// The parent link of a macvlan.
    pub parent: Option<u32>,
    pub loopback: bool,
}

impl Link {
    /// keepalived treats an interface as up when it is IFF_UP and running.
    pub fn is_up(&self) -> bool {
        self.admin_up && self.lower_up
    }
}

/// An address on an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addr {
    pub index: u32,
    pub addr: IpAddr,
    pub prefix: u8,
    pub scope: u8,
    pub label: Option<String>,
    pub secondary: bool,
    pub tentative: bool,
}

/// What the monitor reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetEvent {
    Link(Link),
    LinkRemoved { index: u32, name: String },
    AddrAdded(Addr),
    AddrRemoved(Addr),
}

/// An address to install (a VIP or a static address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressSpec {
    pub addr: IpAddr,
    pub prefix: u8,
    pub broadcast: Option<Ipv4Addr>,
    pub scope: u8,
    pub label: Option<String>,
    pub peer: Option<IpAddr>,
    pub nodad: bool,
    pub home: bool,
    pub mngtmpaddr: bool,
    pub noprefixroute: bool,
    pub autojoin: bool,
    /// Preferred lifetime in seconds; `u32::MAX` is forever.
    pub preferred_lft: Option<u32>,
}

impl AddressSpec {
    pub fn simple(addr: IpAddr, prefix: u8) -> Self {
        AddressSpec {
            addr,
            prefix,
            broadcast: None,
            scope: 0,
            label: None,
            peer: None,
            nodad: false,
            home: false,
            mngtmpaddr: false,
            noprefixroute: false,
            autojoin: false,
            preferred_lft: None,
        }
    }
}

/// A route to install (`virtual_routes`, `static_routes`): the route as
/// configured (span blanked, so specs compare by what they install) and
/// the interfaces it names, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    pub route: VirtualRoute,
    pub oif: Option<u32>,
    /// The interface of each nexthop, in order.
    pub nexthop_oifs: Vec<Option<u32>>,
}

/// A policy rule to install (`virtual_rules`, `static_rules`); rules name
/// their interfaces, the kernel resolves them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    pub rule: VirtualRule,
}

/// keepalived's `realms FROM/TO`, kept as (from << 16) | to.
fn realm(x: u32) -> RouteRealm {
    RouteRealm {
        source: (x >> 16) as u16,
        destination: (x & 0xffff) as u16,
    }
}

fn nl_err(e: rtnetlink::Error) -> io::Error {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.to_io(),
        other => io::Error::other(other.to_string()),
    }
}

/// A handle for netlink requests; cheap to clone.
#[derive(Clone)]
pub struct Netlink {
    handle: Handle,
}

impl Netlink {
    /// Opens a request connection; must run inside a tokio runtime.
    pub fn connect() -> io::Result<Netlink> {
        let (conn, handle, _) = rtnetlink::new_connection()?;
        tokio::spawn(conn);
        Ok(Netlink { handle })
    }

    pub async fn links(&self) -> io::Result<Vec<Link>> {
        let mut out = Vec::new();
        let mut s = self.handle.link().get().execute();
        while let Some(m) = s.try_next().await.map_err(nl_err)? {
            out.push(link_from(&m));
        }
        Ok(out)
    }

    /// The current state of one link.
    pub async fn link(&self, index: u32) -> io::Result<Option<Link>> {
        let mut s = self.handle.link().get().match_index(index).execute();
        match s.try_next().await {
            Ok(m) => Ok(m.map(|m| link_from(&m))),
            Err(e) => match nl_err(e) {
                e if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
                e => Err(e),
            },
        }
    }

    pub async fn link_by_name(&self, name: &str) -> io::Result<Option<Link>> {
        Ok(self.links().await?.into_iter().find(|l| l.name == name))
    }

    pub async fn addresses(&self) -> io::Result<Vec<Addr>> {
        let mut out = Vec::new();
        let mut s = self.handle.address().get().execute();
        while let Some(m) = s.try_next().await.map_err(nl_err)? {
            if let Some(a) = addr_from(&m) {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// Adds an address; one already present is not an error.
    pub async fn add_address(&self, index: u32, spec: &AddressSpec) -> io::Result<()> {
        let mut req = self.handle.address().add(index, spec.addr, spec.prefix);
        let m = req.message_mut();
        fill_address(m, spec);
        match req.execute().await.map_err(nl_err) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            other => other,
        }
    }

    /// Deletes an address; one already gone is not an error.
    pub async fn del_address(&self, index: u32, addr: IpAddr, prefix: u8) -> io::Result<()> {
        let mut m = AddressMessage::default();
        m.header.index = index;
        m.header.prefix_len = prefix;
        m.header.family = match addr {
            IpAddr::V4(_) => rtnetlink::packet_route::AddressFamily::Inet,
            IpAddr::V6(_) => rtnetlink::packet_route::AddressFamily::Inet6,
        };
        m.attributes.push(AddressAttribute::Local(addr));
        m.attributes.push(AddressAttribute::Address(addr));
        match self.handle.address().del(m).execute().await.map_err(nl_err) {
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EADDRNOTAVAIL) | Some(libc::ENOENT) | Some(libc::ESRCH)
                ) =>
            {
                Ok(())
            }
            other => other,
        }
    }

    pub async fn add_route(&self, r: &RouteSpec) -> io::Result<()> {
        use rtnetlink::packet_core::{NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST};
        let mut req = NetlinkMessage::from(RouteNetlinkMessage::NewRoute(route_message(r)?));
        // `ip route prepend|add|append`: rtnetlink's own request only adds.
        let mode = match r.route.mode {
            InstallMode::Prepend => 0,
            InstallMode::Add => NLM_F_EXCL,
            InstallMode::Append => NLM_F_APPEND,
        };
        req.header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | mode;
        let mut handle = self.handle.clone();
        let mut replies = handle.request(req).map_err(nl_err)?;
        while let Some(reply) = replies.next().await {
            if let NetlinkPayload::Error(e) = reply.payload {
                if e.code.is_none() {
                    break; // the acknowledgement
                }
                let e = e.to_io();
                if e.raw_os_error() == Some(libc::EEXIST) {
                    return Ok(());
                }
                return Err(e);
            }
        }
        Ok(())
    }

    pub async fn del_route(&self, r: &RouteSpec) -> io::Result<()> {
        let msg = route_message(r)?;
        match self.handle.route().del(msg).execute().await.map_err(nl_err) {
            Err(e) if matches!(e.raw_os_error(), Some(libc::ESRCH) | Some(libc::ENOENT)) => Ok(()),
            other => other,
        }
    }

    pub async fn add_rule(&self, r: &RuleSpec) -> io::Result<()> {
        let mut req = self.handle.rule().add().v4();
        *req.message_mut() = rule_message(&r.rule);
        match req.execute().await.map_err(nl_err) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            other => other,
        }
    }

    pub async fn del_rule(&self, r: &RuleSpec) -> io::Result<()> {
        match self
            .handle
            .rule()
            .del(rule_message(&r.rule))
            .execute()
            .await
            .map_err(nl_err)
        {
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ESRCH)) => Ok(()),
            other => other,
        }
    }

    /// Creates a bridge-mode macvlan `name` on `parent` with `mac`, left
    /// down so the caller can set its IPv6 address generation mode before
    /// the first up (RFC 5798 §7.4).
    pub async fn add_macvlan(&self, name: &str, parent: u32, mac: [u8; 6]) -> io::Result<u32> {
        let msg = LinkMacVlan::new(name, parent, MacVlanMode::Bridge)
            .address(mac.to_vec())
            .build();
        self.handle.link().add(msg).execute().await.map_err(nl_err)?;
        let link = self
            .link_by_name(name)
            .await?
            .ok_or_else(|| io::Error::other(format!("macvlan {name} vanished after creation")))?;
        Ok(link.index)
    }

    pub async fn set_up(&self, index: u32) -> io::Result<()> {
        let up = LinkUnspec::new_with_index(index).up().build();
        self.handle.link().set(up).execute().await.map_err(nl_err)
    }

    pub async fn del_link(&self, index: u32) -> io::Result<()> {
        match self.handle.link().del(index).execute().await.map_err(nl_err) {
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(()),
            other => other,
        }
    }
}

fn fill_address(m: &mut AddressMessage, spec: &AddressSpec) {
    // The builder adds a broadcast address; keepalived (like `ip addr
    // add`) sets one only when `brd` is given.
    m.attributes.retain(|a| !matches!(a, AddressAttribute::Broadcast(_)));
    if let Some(b) = spec.broadcast {
        m.attributes.push(AddressAttribute::Broadcast(b));
    }
    if let Some(peer) = spec.peer {
        m.attributes.retain(|a| !matches!(a, AddressAttribute::Address(_)));
        m.attributes.push(AddressAttribute::Address(peer));
    }
    m.header.scope = AddressScope::from(spec.scope);
    if let Some(l) = &spec.label {
        m.attributes.push(AddressAttribute::Label(l.clone()));
    }
    let mut flags = AddressFlags::empty();
    if spec.nodad {
        flags |= AddressFlags::Nodad;
    }
    if spec.home {
        flags |= AddressFlags::Homeaddress;
    }
    if spec.mngtmpaddr {
        flags |= AddressFlags::Managetempaddr;
    }
    if spec.noprefixroute {
        flags |= AddressFlags::Noprefixroute;
    }
    if spec.autojoin {
        flags |= AddressFlags::Mcautojoin;
    }
    if !flags.is_empty() {
        m.attributes.push(AddressAttribute::Flags(flags));
    }
    if let Some(p) = spec.preferred_lft {
        let mut ci = CacheInfo::default();
        ci.ifa_preferred = p;
        ci.ifa_valid = u32::MAX;
        m.attributes.push(AddressAttribute::CacheInfo(ci));
    }
}

fn route_address(a: IpAddr) -> RouteAddress {
    match a {
        IpAddr::V4(v4) => RouteAddress::Inet(v4),
        IpAddr::V6(v6) => RouteAddress::Inet6(v6),
    }
}

fn family_of(v6: bool) -> AddressFamily {
    if v6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    }
}

/// The netlink message of a route, the same for adding and deleting it:
/// every attribute keepalived sends (its scope is universe unless given).
fn route_message(spec: &RouteSpec) -> io::Result<RouteMessage> {
    let r = &spec.route;
    let mut m = RouteMessage::default();
    let h = &mut m.header;
    h.address_family = family_of(r.v6);
    h.destination_prefix_length = r.dst_prefix;
    h.tos = r.tos.unwrap_or(0);
    h.protocol = RouteProtocol::from(r.protocol);
    h.scope = RouteScope::from(r.scope.unwrap_or(0));
    h.kind = RouteType::from(r.route_type);
    let table = r.table.unwrap_or(254);
    h.table = u8::try_from(table).unwrap_or(0);
    if r.onlink {
        h.flags |= RouteFlags::Onlink;
    }
    let a = &mut m.attributes;
    if r.dst_prefix > 0 || !r.dst.is_unspecified() {
        a.push(RouteAttribute::Destination(route_address(r.dst)));
    }
    if let Some((src, len)) = r.from {
        m.header.source_prefix_length = len;
        a.push(RouteAttribute::Source(route_address(src)));
    }
    if let Some(s) = r.src {
        a.push(RouteAttribute::PrefSource(route_address(s)));
    }
    if let Some(g) = r.via {
        if g.is_ipv6() == r.v6 {
            a.push(RouteAttribute::Gateway(route_address(g)));
        } else {
            a.push(RouteAttribute::Via(match g {
                IpAddr::V4(v4) => RouteVia::Inet(v4),
                IpAddr::V6(v6) => RouteVia::Inet6(v6),
            }));
        }
    }
    if let Some(o) = spec.oif {
        a.push(RouteAttribute::Oif(o));
    }
    if table > 255 {
        a.push(RouteAttribute::Table(table));
    }
    if let Some(p) = r.metric {
        a.push(RouteAttribute::Priority(p));
    }
    if let Some(x) = r.realms {
        a.push(RouteAttribute::Realm(realm(x)));
    }
    if !r.metrics.is_empty() {
        let mut metrics = Vec::new();
        if r.metrics.lock != 0 {
            metrics.push(RouteMetric::Lock(r.metrics.lock));
        }
        for (k, v) in &r.metrics.values {
            metrics.push(match k {
                Metric::Mtu => RouteMetric::Mtu(*v),
                Metric::Window => RouteMetric::Window(*v),
                Metric::Rtt => RouteMetric::Rtt(*v),
                Metric::RttVar => RouteMetric::RttVar(*v),
                Metric::SsThresh => RouteMetric::SsThresh(*v),
                Metric::Cwnd => RouteMetric::Cwnd(*v),
                Metric::AdvMss => RouteMetric::Advmss(*v),
                Metric::Reordering => RouteMetric::Reordering(*v),
                Metric::Hoplimit => RouteMetric::Hoplimit(*v),
                Metric::InitCwnd => RouteMetric::InitCwnd(*v),
                Metric::Features => RouteMetric::Features(*v),
                Metric::RtoMin => RouteMetric::RtoMin(*v),
                Metric::InitRwnd => RouteMetric::InitRwnd(*v),
                Metric::QuickAck => RouteMetric::QuickAck(*v),
                Metric::FastopenNoCookie => RouteMetric::FastopenNoCookie(*v),
            });
        }
        if let Some(c) = &r.metrics.congctl {
            metrics.push(RouteMetric::CcAlgo(c.clone()));
        }
        a.push(RouteAttribute::Metrics(metrics));
    }
    if let Some(p) = r.pref {
        a.push(RouteAttribute::Preference(RoutePreference::from(p)));
    }
    if let Some(e) = r.expires {
        a.push(RouteAttribute::Expires(e));
    }
    if let Some(e) = &r.encap {
        let (kind, nested) = encap_attrs(e);
        a.push(RouteAttribute::EncapType(kind));
        a.push(RouteAttribute::Encap(nested));
    }
    if let Some(t) = r.ttl_propagate {
        a.push(RouteAttribute::TtlPropagate(if t {
            RouteMplsTtlPropagation::Enabled
        } else {
            RouteMplsTtlPropagation::Disabled
        }));
    }
    if !r.nexthops.is_empty() {
        let hops = r
            .nexthops
            .iter()
            .zip(spec.nexthop_oifs.iter().chain(std::iter::repeat(&None)))
            .map(|(n, oif)| {
                let mut attributes = Vec::new();
                if let Some(g) = n.via {
                    attributes.push(RouteAttribute::Gateway(route_address(g)));
                }
                if let Some(x) = n.realms {
                    attributes.push(RouteAttribute::Realm(RouteRealm {
                        source: (x >> 16) as u16,
                        destination: (x & 0xffff) as u16,
                    }));
                }
                let mut hop = RouteNextHop::default();
                hop.flags = if n.onlink {
                    RouteNextHopFlags::Onlink
                } else {
                    RouteNextHopFlags::empty()
                };
                hop.hops = u8::try_from(n.weight.saturating_sub(1)).unwrap_or(255);
                hop.interface_index = oif.unwrap_or(0);
                hop.attributes = attributes;
                hop
            })
            .collect();
        a.push(RouteAttribute::MultiPath(hops));
    }
    Ok(m)
}

fn encap_attrs(e: &Encap) -> (RouteLwEnCapType, Vec<RouteLwTunnelEncap>) {
    match e {
        Encap::Mpls { labels } => {
            let n = labels.len();
            let stack = labels
                .iter()
                .enumerate()
                .map(|(i, l)| MplsLabel {
                    label: *l,
                    traffic_class: 0,
                    bottom_of_stack: i + 1 == n,
                    ttl: 0,
                })
                .collect();
            (
                RouteLwEnCapType::Mpls,
                vec![RouteLwTunnelEncap::Mpls(RouteMplsIpTunnel::Destination(stack))],
            )
        }
        Encap::Ip { id, dst, ttl, tos } => {
            let mut v = Vec::new();
            v.extend(id.map(|x| RouteLwTunnelEncap::Ip(RouteIpTunnel::Id(x))));
            v.extend(dst.map(|x| RouteLwTunnelEncap::Ip(RouteIpTunnel::Destination(x))));
            v.extend(ttl.map(|x| RouteLwTunnelEncap::Ip(RouteIpTunnel::Ttl(x))));
            v.extend(tos.map(|x| RouteLwTunnelEncap::Ip(RouteIpTunnel::Tos(x))));
            (RouteLwEnCapType::Ip, v)
        }
        Encap::Ip6 { id, dst, hoplimit, tc } => {
            let mut v = Vec::new();
            v.extend(id.map(|x| RouteLwTunnelEncap::Ip6(RouteIp6Tunnel::Id(x))));
            v.extend(dst.map(|x| RouteLwTunnelEncap::Ip6(RouteIp6Tunnel::Destination(x))));
            v.extend(hoplimit.map(|x| RouteLwTunnelEncap::Ip6(RouteIp6Tunnel::Hoplimit(x))));
            v.extend(tc.map(|x| RouteLwTunnelEncap::Ip6(RouteIp6Tunnel::Tc(x))));
            (RouteLwEnCapType::Ip6, v)
        }
        Encap::Ila { locator } => {
            // ILA_ATTR_LOCATOR (1), a u64 in host order.
            let nla = DefaultNla::new(1, locator.to_ne_bytes().to_vec());
            (RouteLwEnCapType::Ila, vec![RouteLwTunnelEncap::Other(nla)])
        }
    }
}

/// The netlink message of a rule, the same for adding and deleting it (so
/// a delete matches exactly the rule that was added).
fn rule_message(r: &VirtualRule) -> RuleMessage {
    let mut m = RuleMessage::default();
    m.header.family = family_of(r.v6);
    m.header.tos = r.tos.unwrap_or(0);
    m.header.action = RuleAction::from(r.action);
    let table = r.table.unwrap_or(0);
    m.header.table = u8::try_from(table).unwrap_or(0);
    if r.invert {
        m.header.flags |= RuleFlags::Invert;
    }
    let a = &mut m.attributes;
    if let Some((addr, len)) = r.from {
        m.header.src_len = len;
        a.push(RuleAttribute::Source(addr));
    }
    if let Some((addr, len)) = r.to {
        m.header.dst_len = len;
        a.push(RuleAttribute::Destination(addr));
    }
    a.push(RuleAttribute::Priority(r.priority));
    if table > 255 {
        a.push(RuleAttribute::Table(table));
    }
    if let Some((mark, mask)) = r.fwmark {
        a.push(RuleAttribute::FwMark(mark));
        if let Some(k) = mask {
            a.push(RuleAttribute::FwMask(k));
        }
    }
    if let Some(i) = &r.iif {
        a.push(RuleAttribute::Iifname(i.clone()));
    }
    if let Some(o) = &r.oif {
        a.push(RuleAttribute::Oifname(o.clone()));
    }
    if let Some(g) = r.goto {
        a.push(RuleAttribute::Goto(g));
    }
    if let Some(x) = r.realms {
        a.push(RuleAttribute::Realm(realm(x)));
    }
    if let Some(n) = r.suppress_prefixlength {
        a.push(RuleAttribute::SuppressPrefixLen(n));
    }
    if let Some(n) = r.suppress_ifgroup {
        a.push(RuleAttribute::SuppressIfGroup(n));
    }
    if r.l3mdev {
        a.push(RuleAttribute::L3MDev(true));
    }
    if let Some((start, end)) = r.uidrange {
        a.push(RuleAttribute::UidRange(RuleUidRange { start, end }));
    }
    if let Some((start, end)) = r.sport {
        a.push(RuleAttribute::SourcePortRange(RulePortRange { start, end }));
    }
    if let Some((start, end)) = r.dport {
        a.push(RuleAttribute::DestinationPortRange(RulePortRange { start, end }));
    }
    if let Some(p) = r.ipproto {
        a.push(RuleAttribute::IpProtocol(IpProtocol::from(p)));
    }
    if r.protocol != 0 {
        a.push(RuleAttribute::Protocol(RouteProtocol::from(r.protocol)));
    }
    m
}

fn link_from(m: &LinkMessage) -> Link {
    let mut name = String::new();
    let mut mac = None;
    let mut kind = None;
    let mut parent = None;
    for a in &m.attributes {
        match a {
            LinkAttribute::IfName(n) => name = n.clone(),
            LinkAttribute::Address(b) if b.len() == 6 => {
                let mut x = [0u8; 6];
                x.copy_from_slice(b);
                mac = Some(x);
            }
            LinkAttribute::Link(p) => parent = Some(*p),
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let LinkInfo::Kind(k) = i {
                        kind = Some(match k {
                            InfoKind::MacVlan => "macvlan".to_string(),
                            InfoKind::Veth => "veth".to_string(),
                            InfoKind::Bridge => "bridge".to_string(),
                            other => format!("{other:?}").to_lowercase(),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    let f = m.header.flags;
    Link {
        index: m.header.index,
        name,
        admin_up: f.contains(LinkFlags::Up),
        lower_up: f.contains(LinkFlags::LowerUp) || f.contains(LinkFlags::Running),
        mac,
        kind,
        parent,
        loopback: f.contains(LinkFlags::Loopback),
    }
}

fn addr_from(m: &AddressMessage) -> Option<Addr> {
    let mut local = None;
    let mut address = None;
    let mut label = None;
    let mut flags = AddressFlags::empty();
    for a in &m.attributes {
        match a {
            AddressAttribute::Local(x) => local = Some(*x),
            AddressAttribute::Address(x) => address = Some(*x),
            AddressAttribute::Label(l) => label = Some(l.clone()),
            AddressAttribute::Flags(f) => flags = *f,
            _ => {}
        }
    }
    let addr = local.or(address)?;
    let hdr_flags = m.header.flags.bits();
    Some(Addr {
        index: m.header.index,
        addr,
        prefix: m.header.prefix_len,
        scope: u8::from(m.header.scope),
        label,
        secondary: hdr_flags & 0x01 != 0 || flags.contains(AddressFlags::Secondary),
        tentative: hdr_flags & 0x40 != 0 || flags.contains(AddressFlags::Tentative),
    })
}

/// Subscribes to link and address changes. The returned receiver yields
/// events until the connection ends.
pub fn monitor() -> io::Result<mpsc::UnboundedReceiver<NetEvent>> {
    let (conn, _handle, mut messages) = rtnetlink::new_multicast_connection(&[
        MulticastGroup::Link,
        MulticastGroup::Ipv4Ifaddr,
        MulticastGroup::Ipv6Ifaddr,
    ])?;
    tokio::spawn(conn);
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some((msg, _)) = messages.next().await {
            if let Some(ev) = event_from(msg) {
                if tx.send(ev).is_err() {
                    break;
                }
            }
        }
    });
    Ok(rx)
}

/// What the monitor makes of one message as the kernel sends it (bytes):
/// None for anything it does not follow or cannot decode. For the fuzz
/// target and tests; the monitor gets messages already decoded.
pub fn event_from_bytes(buf: &[u8]) -> Option<NetEvent> {
    event_from(NetlinkMessage::<RouteNetlinkMessage>::deserialize(buf).ok()?)
}

fn event_from(msg: NetlinkMessage<RouteNetlinkMessage>) -> Option<NetEvent> {
    let NetlinkPayload::InnerMessage(inner) = msg.payload else {
        return None;
    };
    match inner {
        RouteNetlinkMessage::NewLink(m) => Some(NetEvent::Link(link_from(&m))),
        RouteNetlinkMessage::DelLink(m) => {
            let l = link_from(&m);
            Some(NetEvent::LinkRemoved {
                index: l.index,
                name: l.name,
            })
        }
        RouteNetlinkMessage::NewAddress(m) => addr_from(&m).map(NetEvent::AddrAdded),
        RouteNetlinkMessage::DelAddress(m) => addr_from(&m).map(NetEvent::AddrRemoved),
        _ => None,
    }
}

#[cfg(test)]
mod monitor_tests {
    use super::*;

    /// A kernel's RTM_NEWADDR, as bytes, is an added address; truncated
    /// or garbage bytes are nothing.
    #[test]
    fn raw_address_messages_become_events() {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.index = 7;
        m.header.prefix_len = 24;
        let vip: IpAddr = "10.0.0.100".parse().unwrap_or_else(|_| panic!());
        m.attributes.push(AddressAttribute::Local(vip));
        m.attributes.push(AddressAttribute::Label("eth0".into()));
        let mut msg = NetlinkMessage::from(RouteNetlinkMessage::NewAddress(m));
        msg.finalize();
        let mut buf = vec![0u8; msg.buffer_len()];
        msg.serialize(&mut buf);
        match event_from_bytes(&buf) {
            Some(NetEvent::AddrAdded(a)) => {
                assert_eq!((a.index, a.addr, a.prefix), (7, vip, 24));
                assert_eq!(a.label.as_deref(), Some("eth0"));
            }
            other => panic!("{other:?}"),
        }
        for cut in [0, 4, 15, buf.len() - 1] {
            assert!(event_from_bytes(&buf[..cut]).is_none(), "{cut}");
        }
        assert!(event_from_bytes(&[0xff; 64]).is_none());
    }
}
