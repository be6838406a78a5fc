//! The IPVS table the configuration and the checks want, and the smallest
//! list of commands that turns one table into another. Pure: no socket.
//!
//! A reload or a check flip diffs the table before against the table after,
//! so an unchanged service or destination is never deleted and re-added and
//! its connections survive.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use crate::config::lvs::{Forward, TunnelType};

/// What identifies an IPVS service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceKey {
    Addr { protocol: u16, addr: IpAddr, port: u16 },
    Fwmark { mark: u32, ipv6: bool },
}

impl ServiceKey {
    pub fn ipv6(&self) -> bool {
        match self {
            ServiceKey::Addr { addr, .. } => addr.is_ipv6(),
            ServiceKey::Fwmark { ipv6, .. } => *ipv6,
        }
    }
}

impl std::fmt::Display for ServiceKey {
    /// ipvsadm's way: `TCP 10.0.0.1:80`, `FWM 3`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServiceKey::Addr { protocol, addr, port } => {
                let p = match protocol {
                    6 => "TCP",
                    17 => "UDP",
                    132 => "SCTP",
                    _ => "?",
                };
                write!(f, "{p} {}", SocketAddr::new(*addr, *port))
            }
            ServiceKey::Fwmark { mark, ipv6: false } => write!(f, "FWM {mark}"),
            ServiceKey::Fwmark { mark, ipv6: true } => write!(f, "FWM {mark} IPv6"),
        }
    }
}

/// A service's settings (what SET_SERVICE can change in place).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    pub sched: String,
    /// IP_VS_SVC_F_* flags.
    pub flags: u32,
    /// Persistence timeout in seconds (0: none).
    pub timeout: u32,
    /// Persistence granularity: an IPv4 netmask, or an IPv6 prefix length.
    pub netmask: u32,
    pub pe_name: Option<String>,
}

/// A destination's settings (what SET_DEST can change in place).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DestSpec {
    pub forward: Forward,
    pub weight: u32,
    pub uthreshold: u32,
    pub lthreshold: u32,
}

impl DestSpec {
    /// IP_VS_CONN_F_* forwarding method number.
    pub fn forward_code(&self) -> u32 {
        match self.forward {
            Forward::Nat => 0,
            Forward::Tun { .. } => 2,
            Forward::Dr => 3,
        }
    }

    /// IPVS tunnel type, port and flags (IP_VS_CONN_F_TUNNEL_TYPE_*).
    pub fn tunnel(&self) -> Option<(u8, u16, u16)> {
        match self.forward {
            Forward::Tun { kind, csum } => Some(match kind {
                TunnelType::Ipip => (0, 0, csum),
                TunnelType::Gue { port } => (1, port, csum),
                TunnelType::Gre => (2, 0, csum),
            }),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub spec: ServiceSpec,
    pub dests: BTreeMap<SocketAddr, DestSpec>,
}

/// A whole table: services by key, each with its destinations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub services: BTreeMap<ServiceKey, Service>,
}

impl Table {
    pub fn dest_count(&self) -> usize {
        self.services.values().map(|s| s.dests.len()).sum()
    }
}

/// One IPVS request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    AddService(ServiceKey, ServiceSpec),
    EditService(ServiceKey, ServiceSpec),
    DelService(ServiceKey),
    AddDest(ServiceKey, SocketAddr, DestSpec),
    EditDest(ServiceKey, SocketAddr, DestSpec),
    DelDest(ServiceKey, SocketAddr),
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::AddService(k, s) => write!(f, "add service {k} ({})", s.sched),
            Command::EditService(k, s) => write!(f, "edit service {k} ({})", s.sched),
            Command::DelService(k) => write!(f, "delete service {k}"),
            Command::AddDest(k, a, d) => write!(f, "add {a} to {k} (weight {})", d.weight),
            Command::EditDest(k, a, d) => write!(f, "set {a} of {k} to weight {}", d.weight),
            Command::DelDest(k, a) => write!(f, "remove {a} from {k}"),
        }
    }
}

/// The commands that turn `have` into `want`, in an order IPVS accepts:
/// services appear before their destinations, destinations go before
/// their services. Unchanged entries give no command.
pub fn diff(have: &Table, want: &Table) -> Vec<Command> {
    let mut out = Vec::new();
    for (key, w) in &want.services {
        match have.services.get(key) {
            None => {
                out.push(Command::AddService(*key, w.spec.clone()));
                for (addr, d) in &w.dests {
                    out.push(Command::AddDest(*key, *addr, *d));
                }
            }
            Some(h) => {
                if h.spec != w.spec {
                    out.push(Command::EditService(*key, w.spec.clone()));
                }
                for addr in h.dests.keys() {
                    if !w.dests.contains_key(addr) {
                        out.push(Command::DelDest(*key, *addr));
                    }
                }
                for (addr, d) in &w.dests {
                    match h.dests.get(addr) {
                        None => out.push(Command::AddDest(*key, *addr, *d)),
                        Some(hd) if hd != d => out.push(Command::EditDest(*key, *addr, *d)),
                        Some(_) => {}
                    }
                }
            }
        }
    }
    for key in have.services.keys() {
        if !want.services.contains_key(key) {
            // Deleting a service removes its destinations with it.
            out.push(Command::DelService(*key));
        }
    }
    out
}

/// The table after `cmd` succeeded: what the daemon now holds.
pub fn apply(table: &mut Table, cmd: &Command) {
    match cmd {
        Command::AddService(k, s) | Command::EditService(k, s) => {
            table
                .services
                .entry(*k)
                .and_modify(|e| e.spec = s.clone())
                .or_insert_with(|| Service {
                    spec: s.clone(),
                    dests: BTreeMap::new(),
                });
        }
        Command::DelService(k) => {
            table.services.remove(k);
        }
        Command::AddDest(k, a, d) | Command::EditDest(k, a, d) => {
            if let Some(s) = table.services.get_mut(k) {
                s.dests.insert(*a, *d);
            }
        }
        Command::DelDest(k, a) => {
            if let Some(s) = table.services.get_mut(k) {
                s.dests.remove(a);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(port: u16) -> ServiceKey {
        ServiceKey::Addr {
            protocol: 6,
            addr: "10.0.0.1".parse().unwrap(),
            port,
        }
    }
    fn spec(sched: &str) -> ServiceSpec {
        ServiceSpec {
            sched: sched.into(),
            flags: 0,
            timeout: 0,
            netmask: 0xffff_ffff,
            pe_name: None,
        }
    }
    fn dest(weight: u32) -> DestSpec {
        DestSpec {
            forward: Forward::Nat,
            weight,
            uthreshold: 0,
            lthreshold: 0,
        }
    }
    fn addr(last: u8) -> SocketAddr {
        SocketAddr::new(IpAddr::V4([10, 0, 0, last].into()), 80)
    }
    /// (service port, scheduler, [(destination's last octet, weight)])
    type Entry<'a> = (u16, &'a str, &'a [(u8, u32)]);

    fn table(entries: &[Entry<'_>]) -> Table {
        let mut t = Table::default();
        for (port, sched, dests) in entries {
            t.services.insert(
                key(*port),
                Service {
                    spec: spec(sched),
                    dests: dests.iter().map(|(a, w)| (addr(*a), dest(*w))).collect(),
                },
            );
        }
        t
    }

    #[test]
    fn an_unchanged_table_gives_no_command() {
        let t = table(&[(80, "rr", &[(2, 1), (3, 1)])]);
        assert!(diff(&t, &t.clone()).is_empty());
    }

    #[test]
    fn from_empty_services_come_before_their_destinations() {
        let want = table(&[(80, "rr", &[(2, 1), (3, 2)])]);
        let cmds = diff(&Table::default(), &want);
        assert_eq!(
            cmds,
            vec![
                Command::AddService(key(80), spec("rr")),
                Command::AddDest(key(80), addr(2), dest(1)),
                Command::AddDest(key(80), addr(3), dest(2)),
            ]
        );
    }

    #[test]
    fn one_changed_destination_touches_only_it() {
        let have = table(&[(80, "rr", &[(2, 1), (3, 1)]), (81, "wlc", &[(4, 1)])]);
        let want = table(&[(80, "rr", &[(2, 1), (3, 0)]), (81, "wlc", &[(4, 1)])]);
        assert_eq!(diff(&have, &want), vec![Command::EditDest(key(80), addr(3), dest(0))]);
    }

    #[test]
    fn a_new_scheduler_edits_the_service_in_place() {
        let have = table(&[(80, "rr", &[(2, 1)])]);
        let want = table(&[(80, "wrr", &[(2, 1)])]);
        assert_eq!(diff(&have, &want), vec![Command::EditService(key(80), spec("wrr"))]);
    }

    #[test]
    fn removals_go_before_the_service_goes() {
        let have = table(&[(80, "rr", &[(2, 1), (3, 1)]), (81, "rr", &[(4, 1)])]);
        let want = table(&[(80, "rr", &[(2, 1)])]);
        assert_eq!(
            diff(&have, &want),
            vec![Command::DelDest(key(80), addr(3)), Command::DelService(key(81))]
        );
    }

    #[test]
    fn applying_the_diff_gives_the_wanted_table() {
        let have = table(&[(80, "rr", &[(2, 1), (3, 1)]), (81, "rr", &[(4, 1)])]);
        let want = table(&[(80, "wrr", &[(3, 5), (6, 1)]), (82, "sh", &[(7, 1)])]);
        let mut t = have.clone();
        for c in diff(&have, &want) {
            apply(&mut t, &c);
        }
        assert_eq!(t, want);
    }
}
