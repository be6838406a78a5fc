//! Addresses, routes, rules, links and link monitoring over rtnetlink.
//!
//! rtnetlink churns (five breaking releases in 2026): it is pinned exactly
//! in Cargo.toml and used from this module only; everything else speaks the
//! small types defined here.

use std::io;
use std::net::{IpAddr, Ipv4Addr};

use futures::stream::TryStreamExt;
use futures::StreamExt;
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags, AddressMessage, AddressScope, CacheInfo};
use rtnetlink::packet_route::link::{InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage, MacVlanMode};
use rtnetlink::packet_route::route::{RouteProtocol, RouteScope, RouteType};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::{Handle, LinkMacVlan, LinkUnspec, MulticastGroup, RouteMessageBuilder};
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

/// A route to install (`virtual_routes`, `static_routes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    pub dst: IpAddr,
    pub dst_prefix: u8,
    pub src: Option<IpAddr>,
    pub via: Option<IpAddr>,
    pub oif: Option<u32>,
    pub scope: Option<u8>,
    pub table: Option<u32>,
    pub metric: Option<u32>,
    pub protocol: Option<u8>,
    /// RTN_* type: 1 unicast, 6 blackhole, 7 unreachable, 8 prohibit, 9 throw.
    pub kind: u8,
    pub onlink: bool,
}

/// A policy rule to install (`virtual_rules`, `static_rules`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    pub v6: bool,
    pub from: Option<(IpAddr, u8)>,
    pub to: Option<(IpAddr, u8)>,
    pub table: Option<u32>,
    pub priority: Option<u32>,
    pub fwmark: Option<u32>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    pub invert: bool,
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
        let msg = route_message(r)?;
        match self.handle.route().add(msg).execute().await.map_err(nl_err) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            other => other,
        }
    }

    pub async fn del_route(&self, r: &RouteSpec) -> io::Result<()> {
        let msg = route_message(r)?;
        match self.handle.route().del(msg).execute().await.map_err(nl_err) {
            Err(e) if matches!(e.raw_os_error(), Some(libc::ESRCH) | Some(libc::ENOENT)) => Ok(()),
            other => other,
        }
    }

    /// The netlink message of a rule, the same for adding and deleting it
    /// (so a delete matches exactly the rule that was added).
    fn rule_message(&self, r: &RuleSpec) -> rtnetlink::packet_route::rule::RuleMessage {
        use rtnetlink::packet_route::rule::{RuleAction, RuleFlags};
        let mut req = self.handle.rule().add();
        if let Some(p) = r.priority {
            req = req.priority(p);
        }
        if let Some(t) = r.table {
            req = req.table_id(t);
        }
        if let Some(m) = r.fwmark {
            req = req.fw_mark(m);
        }
        if let Some(i) = &r.iif {
            req = req.input_interface(i.clone());
        }
        if let Some(o) = &r.oif {
            req = req.output_interface(o.clone());
        }
        req = req.action(RuleAction::ToTable);
        let mut msg = if r.v6 {
            let mut q = req.v6();
            if let Some((IpAddr::V6(a), p)) = r.from {
                q = q.source_prefix(a, p);
            }
            if let Some((IpAddr::V6(a), p)) = r.to {
                q = q.destination_prefix(a, p);
            }
            q.message_mut().clone()
        } else {
            let mut q = req.v4();
            if let Some((IpAddr::V4(a), p)) = r.from {
                q = q.source_prefix(a, p);
            }
            if let Some((IpAddr::V4(a), p)) = r.to {
                q = q.destination_prefix(a, p);
            }
            q.message_mut().clone()
        };
        if r.invert {
            msg.header.flags |= RuleFlags::Invert;
        }
        msg
    }

    pub async fn add_rule(&self, r: &RuleSpec) -> io::Result<()> {
        let mut req = self.handle.rule().add().v4();
        *req.message_mut() = self.rule_message(r);
        match req.execute().await.map_err(nl_err) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            other => other,
        }
    }

    pub async fn del_rule(&self, r: &RuleSpec) -> io::Result<()> {
        match self
            .handle
            .rule()
            .del(self.rule_message(r))
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

fn route_message(r: &RouteSpec) -> io::Result<rtnetlink::packet_route::route::RouteMessage> {
    fn bad(e: impl std::fmt::Display) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, e.to_string())
    }
    let mut b = RouteMessageBuilder::<IpAddr>::new()
        .destination_prefix(r.dst, r.dst_prefix)
        .map_err(bad)?;
    if let Some(s) = r.src {
        b = b.pref_source(s).map_err(bad)?;
    }
    if let Some(g) = r.via {
        b = b.gateway(g).map_err(bad)?;
    }
    if let Some(o) = r.oif {
        b = b.output_interface(o);
    }
    if let Some(t) = r.table {
        b = b.table_id(t);
    }
    if let Some(m) = r.metric {
        b = b.priority(m);
    }
    b = b.protocol(RouteProtocol::from(r.protocol.unwrap_or(18)));
    if let Some(s) = r.scope {
        b = b.scope(RouteScope::from(s));
    } else if r.via.is_none() && r.kind == 1 && r.oif.is_some() {
        b = b.scope(RouteScope::Link);
    }
    b = b.kind(RouteType::from(r.kind));
    if r.onlink {
        b = b.onlink();
    }
    Ok(b.build())
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
