//! The host: links and addresses as netlink reports them, and the changes
//! the daemon makes outside the effects queue (VMAC interfaces, sysctls,
//! leftover VIPs of an earlier run). Everything else about the host goes
//! through [`super::effects`], in order.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

use crate::config::model::{Family, VrrpInstance};
use crate::net::garp::virtual_mac;
use crate::net::netlink::{Addr, Link, NetEvent, Netlink};

use super::params;
use super::slot::Slot;

pub struct Host {
    pub nl: Netlink,
    links: HashMap<u32, Link>,
    addrs: Vec<Addr>,
}

/// What a netlink event changed, for the daemon to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A link went up or down, or was removed (down).
    LinkState { name: String, up: bool },
    /// A link the daemon did not know appeared.
    NewLink { name: String },
    /// The addresses changed: advert sources may change.
    Addresses,
    /// This address left this link (after [`Change::Addresses`]).
    AddressRemoved { index: u32, addr: IpAddr },
}

/// The addresses the daemon itself is removing, so that the kernel's
/// report of their deletion is not taken for someone else's. An entry is
/// used up by its report, or forgotten after [`OwnRemovals::KEEP`].
#[derive(Debug, Default)]
pub struct OwnRemovals {
    pending: Vec<(u32, IpAddr, Instant)>,
}

impl OwnRemovals {
    /// Longer than the effects worker takes to reach a removal.
    const KEEP: Duration = Duration::from_secs(10);

    /// Notes the removals of `addrs` the kernel will report: those still
    /// `present` (one already gone, deleted by someone else, gets no
    /// report, and a stale entry would hide that address's next deletion
    /// by someone else).
    pub fn note(&mut self, now: Instant, addrs: impl IntoIterator<Item = (u32, IpAddr)>, present: &[Addr]) {
        self.pending.retain(|(_, _, at)| now.duration_since(*at) < Self::KEEP);
        let reported = addrs
            .into_iter()
            .filter(|(index, addr)| present.iter().any(|a| a.index == *index && a.addr == *addr));
        self.pending.extend(reported.map(|(index, addr)| (index, addr, now)));
    }

    /// Whether the daemon removed this address itself (the entry is used up).
    pub fn take(&mut self, now: Instant, index: u32, addr: IpAddr) -> bool {
        self.pending.retain(|(_, _, at)| now.duration_since(*at) < Self::KEEP);
        match self.pending.iter().position(|(i, a, _)| *i == index && *a == addr) {
            Some(p) => {
                self.pending.remove(p);
                true
            }
            None => false,
        }
    }
}

impl Host {
    /// Reads links and addresses; subscribes first, so no change falls
    /// between the dump and the monitor.
    pub async fn connect() -> std::io::Result<(Host, tokio::sync::mpsc::UnboundedReceiver<NetEvent>)> {
        let events = crate::net::netlink::monitor()?;
        let nl = Netlink::connect()?;
        let links = nl.links().await?.into_iter().map(|l| (l.index, l)).collect();
        let addrs = nl.addresses().await?;
        Ok((Host { nl, links, addrs }, events))
    }

    pub fn link_by_name(&self, name: &str) -> Option<&Link> {
        self.links.values().find(|l| l.name == name)
    }

    pub fn name_of(&self, index: u32) -> Option<&str> {
        self.links.get(&index).map(|l| l.name.as_str())
    }

    pub fn index_of(&self, name: &str) -> Option<u32> {
        self.link_by_name(name).map(|l| l.index)
    }

    pub fn link_up(&self, name: &str) -> bool {
        self.link_by_name(name).is_some_and(Link::is_up)
    }

    pub fn addrs(&self) -> &[Addr] {
        &self.addrs
    }

    /// Applies one netlink event; says what changed.
    pub async fn event(&mut self, ev: NetEvent) -> Vec<Change> {
        match ev {
            NetEvent::Link(l) => {
                // Events can be stale (a link just created reports its
                // creation-time "down" afterwards): a reported change is
                // checked against the link's current state first.
                let l = match self.links.get(&l.index) {
                    Some(known) if known.is_up() != l.is_up() => match self.nl.link(l.index).await {
                        Ok(Some(fresh)) => fresh,
                        _ => l,
                    },
                    _ => l,
                };
                let was = self.links.get(&l.index).map(Link::is_up);
                let (name, up) = (l.name.clone(), l.is_up());
                self.links.insert(l.index, l);
                let mut out = Vec::new();
                if was != Some(up) {
                    tracing::info!("Netlink reports {name} {}", if up { "up" } else { "down" });
                    out.push(Change::LinkState { name: name.clone(), up });
                }
                if was.is_none() {
                    out.push(Change::NewLink { name });
                }
                out
            }
            NetEvent::LinkRemoved { index, name } => {
                self.links.remove(&index);
                tracing::info!("Netlink reports {name} removed");
                vec![Change::LinkState { name, up: false }]
            }
            NetEvent::AddrAdded(a) => {
                if self.addrs.contains(&a) {
                    return Vec::new();
                }
                self.addrs.retain(|x| !(x.index == a.index && x.addr == a.addr));
                self.addrs.push(a);
                vec![Change::Addresses]
            }
            NetEvent::AddrRemoved(a) => {
                self.addrs.retain(|x| !(x.index == a.index && x.addr == a.addr));
                vec![
                    Change::Addresses,
                    Change::AddressRemoved {
                        index: a.index,
                        addr: a.addr,
                    },
                ]
            }
        }
    }

    /// The slot of a new instance: interfaces resolved, its VMAC created,
    /// VIPs a previous run left behind removed (as keepalived does).
    pub async fn prepare(&mut self, cfg: VrrpInstance, default_interface: &str) -> Slot {
        let ifname = cfg.interface.clone().unwrap_or_else(|| default_interface.to_string());
        let link = self.link_by_name(&ifname).cloned();
        let ifindex = link.as_ref().map(|l| l.index).unwrap_or(0);
        if link.is_none() {
            tracing::warn!("({}) interface {ifname} does not exist", cfg.name);
        }
        let mut slot = Slot {
            ifname: ifname.clone(),
            ifindex,
            vip_ifname: ifname.clone(),
            vip_ifindex: ifindex,
            vmac: None,
            mac: link.as_ref().and_then(|l| l.mac).unwrap_or([0; 6]),
            src: None,
            tx: None,
            addresses: Default::default(),
            vips_set: false,
            last_transition: SystemTime::now(),
            started: false,
            refs: Vec::new(),
            last_eval: None,
            warned_no_src: false,
            journal: Default::default(),
            fault_cause: Default::default(),
            advert_frames: Default::default(),
            drop_log: Default::default(),
            send_errors: 0,
            send_log: Default::default(),
            cfg,
        };
        if let (Some(v), Some(parent)) = (slot.cfg.vmac.clone(), &link) {
            let mac = v
                .mac
                .unwrap_or_else(|| virtual_mac(slot.cfg.vrid, slot.cfg.family == Family::V6));
            match self.create_vmac(&v.name, parent.index, mac).await {
                Ok(index) => {
                    slot.vmac = Some((v.name.clone(), mac));
                    slot.vip_ifname = v.name.clone();
                    slot.vip_ifindex = index;
                    slot.mac = mac;
                    tracing::info!("({}) created VMAC {} on {ifname}", slot.cfg.name, v.name);
                }
                Err(e) => tracing::error!("({}) cannot create VMAC {}: {e}", slot.cfg.name, v.name),
            }
        }
        self.resolve(&mut slot);
        self.remove_stale(&slot).await;
        slot
    }

    /// Resolves a slot's addresses to interface indexes (again after a
    /// link appeared).
    pub fn resolve(&self, slot: &mut Slot) {
        slot.addresses = params::addresses(&slot.cfg, slot.vip_ifindex, |n| self.index_of(n));
    }

    /// A link that did not exist at start appeared: slots waiting for it
    /// take its index. True if any did.
    pub fn adopt(&self, slot: &mut Slot) -> bool {
        let Some(link) = self.link_by_name(&slot.ifname) else {
            return false;
        };
        let waiting = slot.ifindex == 0;
        if waiting {
            slot.ifindex = link.index;
            slot.vip_ifindex = link.index;
            slot.mac = link.mac.unwrap_or([0; 6]);
        }
        self.resolve(slot);
        waiting
    }

    async fn remove_stale(&self, slot: &Slot) {
        let stale: Vec<_> = slot
            .addresses
            .addrs
            .iter()
            .filter_map(|(idx, spec)| {
                self.addrs
                    .iter()
                    .find(|a| a.index == *idx && a.addr == spec.addr)
                    .map(|a| (a.index, a.addr, a.prefix))
            })
            .collect();
        if stale.is_empty() {
            return;
        }
        tracing::info!("({}) removing VIPs.", slot.cfg.name);
        for (idx, a, p) in stale {
            if let Err(e) = self.nl.del_address(idx, a, p).await {
                tracing::warn!("({}) cannot remove stale VIP {a}: {e}", slot.cfg.name);
            }
        }
    }

    async fn create_vmac(&mut self, name: &str, parent: u32, mac: [u8; 6]) -> std::io::Result<u32> {
        if let Some(old) = self.index_of(name) {
            self.nl.del_link(old).await?;
        }
        let index = self.nl.add_macvlan(name, parent, mac).await?;
        // RFC 5798 §7.4: the IPv6 interface identifier must not come from
        // the virtual MAC (else every router has the same link-local).
        set_sysctl(&format!("net/ipv6/conf/{name}/addr_gen_mode"), "3");
        self.nl.set_up(index).await?;
        // The parent must not answer ARP for addresses on the VMAC with its
        // own MAC (keepalived sets the same sysctls).
        if let Some(p) = self.links.get(&parent).map(|l| l.name.clone()) {
            set_sysctl(&format!("net/ipv4/conf/{p}/arp_ignore"), "1");
            set_sysctl(&format!("net/ipv4/conf/{p}/arp_filter"), "1");
        }
        set_sysctl(&format!("net/ipv4/conf/{name}/arp_ignore"), "1");
        set_sysctl(&format!("net/ipv4/conf/{name}/rp_filter"), "0");
        self.links
            .extend(self.nl.links().await?.into_iter().map(|l| (l.index, l)));
        Ok(index)
    }

    /// Removes an instance's VMAC interface (instance retired, daemon stopped).
    pub async fn remove_vmac(&self, slot: &Slot) {
        if let Some((vmac, _)) = &slot.vmac {
            if let Some(index) = self.index_of(vmac) {
                let _ = self.nl.del_link(index).await;
            }
        }
    }
}

/// The advert source of an instance (RFC 5798 §5.1.1.1, §5.1.2.1): the
/// configured one, else the interface's primary IPv4 address or its IPv6
/// link-local address, never a VIP and never a tentative address; the
/// VMAC's addresses are the fallback.
pub fn pick_source(
    cfg: &VrrpInstance,
    ifindex: u32,
    vip_ifindex: u32,
    addrs: &[Addr],
    vips: &HashSet<IpAddr>,
) -> Option<IpAddr> {
    cfg.unicast_src_ip.or_else(|| {
        let on = |idx: u32| {
            addrs.iter().find(|a| {
                a.index == idx
                    && !vips.contains(&a.addr)
                    && !a.tentative
                    && match (cfg.family, a.addr) {
                        (Family::V4, IpAddr::V4(_)) => !a.secondary,
                        (Family::V6, IpAddr::V6(v6)) => v6.segments()[0] & 0xffc0 == 0xfe80,
                        _ => false,
                    }
            })
        };
        on(ifindex).or_else(|| on(vip_ifindex)).map(|a| a.addr)
    })
}

pub fn set_sysctl(path: &str, value: &str) {
    let full = format!("/proc/sys/{path}");
    if let Err(e) = std::fs::write(&full, value) {
        tracing::warn!("cannot set {full} to {value}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_str, LoadOptions};

    fn addr(index: u32, a: &str, secondary: bool, tentative: bool) -> Addr {
        Addr {
            index,
            addr: a.parse().unwrap_or_else(|_| panic!("{a}")),
            prefix: 24,
            scope: 0,
            label: None,
            secondary,
            tentative,
        }
    }

    fn instance(extra: &str) -> VrrpInstance {
        let text = format!(
            "vrrp_instance V {{\n interface eth0\n virtual_router_id 1\n{extra}\n virtual_ipaddress {{\n 10.0.0.100/24\n }}\n}}\n"
        );
        let l = load_str("t", &text, &LoadOptions::default());
        l.config
            .instances
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no instance"))
    }

    /// A removal the daemon made is recognised once, only for its own
    /// link and address, and not after it was forgotten.
    #[test]
    fn own_removals_are_told_apart_from_someone_else_s() {
        let vip: IpAddr = "10.0.0.100".parse().unwrap_or_else(|_| panic!());
        let other: IpAddr = "10.0.0.101".parse().unwrap_or_else(|_| panic!());
        let t0 = Instant::now();
        let present = [addr(2, "10.0.0.100", true, false), addr(2, "10.0.0.101", true, false)];
        let mut own = OwnRemovals::default();
        own.note(t0, [(2, vip)], &present);
        assert!(!own.take(t0, 3, vip), "another link");
        assert!(!own.take(t0, 2, other), "another address");
        assert!(own.take(t0, 2, vip));
        assert!(!own.take(t0, 2, vip), "used up");
        own.note(t0, [(2, vip)], &present);
        assert!(!own.take(t0 + OwnRemovals::KEEP, 2, vip), "forgotten");
        // Removing a VIP someone else already deleted notes nothing: its
        // next deletion by someone else, once it is back, is theirs.
        own.note(t0, [(2, vip)], &present[1..]);
        assert!(!own.take(t0, 2, vip), "an address already gone is not noted");
    }

    /// The primary address wins; secondaries, VIPs and tentative
    /// addresses are never the source; the VMAC is the fallback.
    #[test]
    fn source_is_the_primary_address_never_a_vip() {
        let cfg = instance("");
        let vips: HashSet<IpAddr> = ["10.0.0.100".parse().unwrap_or_else(|_| panic!())].into();
        let addrs = [
            addr(2, "10.0.0.100", false, false),
            addr(2, "10.0.0.7", true, false),
            addr(2, "10.0.0.5", false, true),
            addr(2, "10.0.0.1", false, false),
        ];
        assert_eq!(
            pick_source(&cfg, 2, 2, &addrs, &vips),
            Some("10.0.0.1".parse().unwrap_or_else(|_| panic!()))
        );
        assert_eq!(pick_source(&cfg, 2, 2, &addrs[..3], &vips), None);
        let on_vmac = [addr(9, "10.0.0.9", false, false)];
        assert_eq!(
            pick_source(&cfg, 2, 9, &on_vmac, &vips),
            Some("10.0.0.9".parse().unwrap_or_else(|_| panic!()))
        );
        let fixed = instance(" unicast_src_ip 10.0.0.42\n unicast_peer {\n 10.0.0.43\n }");
        assert_eq!(
            pick_source(&fixed, 2, 2, &[], &vips),
            Some("10.0.0.42".parse().unwrap_or_else(|_| panic!()))
        );
    }
}
