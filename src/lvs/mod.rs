//! The load balancer's decisions, without I/O: from the configuration's
//! virtual servers and what the checkers say, the IPVS table to hold.
//!
//! - [`health`]: a checker's retries, quorum with hysteresis, MISC_CHECK
//!   exit codes;
//! - [`table`]: the table as data, and the smallest diff between two.
//!
//! The daemon's LVS room (`daemon::lvs`) runs the checkers, feeds their
//! transitions here and sends the diff to the kernel (`net::ipvs`).

pub mod health;
pub mod table;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};

use crate::config::lvs::{GroupEntry, Lvs, RealServer, VirtualServer, VsTarget};
use table::{DestSpec, Service, ServiceKey, ServiceSpec, Table};

/// At most this many services from one group's ranges: a typo such as
/// `10.0.0.0/8` must not make sixteen million services.
pub const MAX_GROUP_SERVICES: usize = 65_536;

/// A virtual server's identity across reloads.
pub fn vs_id(vs: &VirtualServer) -> String {
    if vs.ipv6 && !matches!(vs.target, VsTarget::Addr(_)) {
        format!("{}/inet6", vs.label())
    } else {
        vs.label()
    }
}

/// A real server's identity: its virtual server and its address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RsId {
    pub vs: String,
    pub addr: SocketAddr,
}

impl std::fmt::Display for RsId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} of VS {}", self.addr, self.vs)
    }
}

/// What the checkers said of one real server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsHealth {
    /// One entry per checker of the real server, in configuration order.
    pub checkers_up: Vec<bool>,
    /// A MISC_CHECK's `misc_dynamic` weight.
    pub dynamic_weight: Option<u32>,
    /// The last checker transition, in words ("TCP_CHECK: connection refused").
    pub reason: String,
}

impl RsHealth {
    pub fn alive(&self) -> bool {
        self.checkers_up.iter().all(|u| *u)
    }
}

/// The health of every real server and the quorum of every virtual server.
#[derive(Debug, Clone, Default)]
pub struct State {
    pub rs: HashMap<RsId, RsHealth>,
    /// Quorum held, by [`vs_id`].
    pub quorum: HashMap<String, bool>,
}

impl State {
    /// A real server is alive when every checker says up; one without a
    /// record (no checkers) is alive.
    pub fn alive(&self, id: &RsId) -> bool {
        self.rs.get(id).is_none_or(RsHealth::alive)
    }

    pub fn weight(&self, id: &RsId, rs: &RealServer) -> u32 {
        self.rs.get(id).and_then(|h| h.dynamic_weight).unwrap_or(rs.weight)
    }

    /// The live weight of a virtual server.
    pub fn live_weight(&self, vs: &VirtualServer) -> u64 {
        let id = vs_id(vs);
        vs.real_servers
            .iter()
            .filter_map(|rs| {
                let rid = RsId {
                    vs: id.clone(),
                    addr: rs.addr,
                };
                self.alive(&rid).then(|| u64::from(self.weight(&rid, rs)))
            })
            .sum()
    }

    pub fn has_quorum(&self, vs: &VirtualServer) -> bool {
        self.quorum.get(&vs_id(vs)).copied().unwrap_or(true)
    }
}

/// Quorum after the latest health; returns the virtual servers whose
/// quorum changed, with the new value. A virtual server seen for the first
/// time starts without quorum, so reaching it at start is a gain (keepalived
/// runs quorum_up then); not reaching it is no loss.
pub fn update_quorum(lvs: &Lvs, state: &mut State) -> Vec<(String, bool, u64)> {
    let mut changed = Vec::new();
    for vs in &lvs.servers {
        let id = vs_id(vs);
        let was = state.quorum.get(&id).copied().unwrap_or(false);
        let w = state.live_weight(vs);
        let now = health::quorum_after(was, w, vs.quorum, vs.hysteresis);
        if now != was {
            changed.push((id.clone(), now, w));
        }
        state.quorum.insert(id, now);
    }
    changed
}

/// The IPVS services one virtual server stands for.
pub fn services_of(lvs: &Lvs, vs: &VirtualServer) -> Vec<ServiceKey> {
    let protocol = vs.protocol.number();
    match &vs.target {
        VsTarget::Addr(a) => vec![ServiceKey::Addr {
            protocol,
            addr: a.ip(),
            port: a.port(),
        }],
        VsTarget::Fwmark(m) => vec![ServiceKey::Fwmark {
            mark: *m,
            ipv6: vs.ipv6,
        }],
        VsTarget::Group(name) => {
            let Some(g) = lvs.group(name) else { return Vec::new() };
            let mut out = Vec::new();
            for e in &g.entries {
                match *e {
                    GroupEntry::Fwmark { mark, family } => out.push(ServiceKey::Fwmark {
                        mark,
                        ipv6: family.unwrap_or(vs.ipv6),
                    }),
                    GroupEntry::Range { first, last, port } => {
                        for addr in range(first, last, MAX_GROUP_SERVICES.saturating_sub(out.len())) {
                            out.push(ServiceKey::Addr { protocol, addr, port });
                        }
                    }
                }
            }
            out
        }
    }
}

fn range(first: IpAddr, last: IpAddr, limit: usize) -> Vec<IpAddr> {
    match (first, last) {
        (IpAddr::V4(f), IpAddr::V4(l)) => (u32::from(f)..=u32::from(l))
            .take(limit)
            .map(|v| IpAddr::V4(v.into()))
            .collect(),
        (IpAddr::V6(f), IpAddr::V6(l)) => (u128::from(f)..=u128::from(l))
            .take(limit)
            .map(|v| IpAddr::V6(v.into()))
            .collect(),
        _ => Vec::new(),
    }
}

fn service_spec(vs: &VirtualServer) -> ServiceSpec {
    ServiceSpec {
        sched: vs.sched.clone(),
        flags: vs.flags,
        timeout: vs.persistence_timeout.unwrap_or(0),
        netmask: vs
            .persistence_granularity
            .unwrap_or(if vs.ipv6 { 128 } else { u32::MAX }),
        pe_name: vs.persistence_engine.clone(),
    }
}

/// The table the configuration and the health want.
///
/// A live real server is in at its weight; a dead one is out, or in at
/// weight 0 with `inhibit_on_failure`. Without quorum and with a sorry
/// server, the sorry server replaces them all; with quorum, the sorry
/// server is out, or in at weight 0 with `sorry_server_inhibit`.
pub fn desired(lvs: &Lvs, state: &State) -> Table {
    let mut t = Table::default();
    for vs in &lvs.servers {
        let id = vs_id(vs);
        let quorum = state.has_quorum(vs);
        let sorry_active = !quorum && vs.sorry_server.is_some();
        let mut dests: Vec<(SocketAddr, DestSpec)> = Vec::new();
        if !sorry_active {
            for rs in &vs.real_servers {
                let rid = RsId {
                    vs: id.clone(),
                    addr: rs.addr,
                };
                let inhibit = vs.rs_timing(rs).inhibit_on_failure.unwrap_or(false);
                let weight = match (state.alive(&rid), inhibit) {
                    (true, _) => state.weight(&rid, rs),
                    (false, true) => 0,
                    (false, false) => continue,
                };
                dests.push((rs.addr, dest_spec(vs, rs, weight)));
            }
        }
        if let Some(s) = &vs.sorry_server {
            if sorry_active {
                dests.push((s.addr, dest_spec(vs, s, s.weight)));
            } else if vs.sorry_server_inhibit {
                dests.push((s.addr, dest_spec(vs, s, 0)));
            }
        }
        let spec = service_spec(vs);
        for key in services_of(lvs, vs) {
            // A port-less real server of an address service listens on the
            // service's port. (A group's fwmark keeps a real server's port,
            // as keepalived keeps it; a fwmark server's has been cleared.)
            let dests: BTreeMap<SocketAddr, DestSpec> = dests
                .iter()
                .map(|(a, d)| {
                    let mut a = *a;
                    if let ServiceKey::Addr { port, .. } = key {
                        if a.port() == 0 {
                            a.set_port(port);
                        }
                    }
                    (a, *d)
                })
                .collect();
            t.services.insert(
                key,
                Service {
                    spec: spec.clone(),
                    dests,
                },
            );
        }
    }
    t
}

fn dest_spec(vs: &VirtualServer, rs: &RealServer, weight: u32) -> DestSpec {
    DestSpec {
        forward: vs.rs_forward(rs),
        weight,
        uthreshold: rs.uthreshold,
        lthreshold: rs.lthreshold,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_str, LoadOptions};

    fn lvs(text: &str) -> Lvs {
        let l = load_str("t.conf", text, &LoadOptions::default());
        assert!(!l.diags.has_errors(), "{}", l.render_diagnostics());
        l.config.lvs
    }

    const TWO: &str = "virtual_server 10.0.0.100 80 {\n lb_algo wrr\n lb_kind NAT\n protocol TCP\n persistence_timeout 50\n quorum 3\n sorry_server 10.0.0.9 80\n real_server 10.0.0.2 80 {\n  weight 3\n  TCP_CHECK {\n  }\n }\n real_server 10.0.0.3 80 {\n  weight 2\n  inhibit_on_failure\n  TCP_CHECK {\n  }\n }\n}\n";

    fn rid(vs: &str, a: &str) -> RsId {
        RsId {
            vs: vs.into(),
            addr: a.parse().unwrap(),
        }
    }
    fn down(state: &mut State, id: RsId) {
        state.rs.insert(
            id,
            RsHealth {
                checkers_up: vec![false],
                dynamic_weight: None,
                reason: "test".into(),
            },
        );
    }
    fn weights(t: &Table) -> Vec<(String, u32)> {
        t.services
            .values()
            .flat_map(|s| s.dests.iter().map(|(a, d)| (a.to_string(), d.weight)))
            .collect()
    }

    #[test]
    fn every_live_real_server_is_in_at_its_weight() {
        let l = lvs(TWO);
        let t = desired(&l, &State::default());
        let (key, svc) = t.services.iter().next().unwrap();
        assert_eq!(key.to_string(), "TCP 10.0.0.100:80");
        assert_eq!(svc.spec.timeout, 50);
        assert_eq!(svc.spec.flags & 1, 1, "persistent");
        assert_eq!(weights(&t), vec![("10.0.0.2:80".into(), 3), ("10.0.0.3:80".into(), 2)]);
    }

    #[test]
    fn a_dead_server_leaves_or_is_inhibited() {
        let l = lvs(TWO);
        let vs = vs_id(&l.servers[0]);
        let mut s = State::default();
        down(&mut s, rid(&vs, "10.0.0.3:80"));
        assert_eq!(
            weights(&desired(&l, &s)),
            vec![("10.0.0.2:80".into(), 3), ("10.0.0.3:80".into(), 0)]
        );
        assert_eq!(
            update_quorum(&l, &mut s),
            vec![(vs.clone(), true, 3)],
            "gained at start"
        );
        assert!(update_quorum(&l, &mut s).is_empty(), "3 of quorum 3 still held");
        down(&mut s, rid(&vs, "10.0.0.2:80"));
        assert_eq!(update_quorum(&l, &mut s), vec![(vs.clone(), false, 0)]);
        assert_eq!(
            weights(&desired(&l, &s)),
            vec![("10.0.0.9:80".into(), 1)],
            "the sorry server alone"
        );
    }

    #[test]
    fn a_group_expands_to_its_ranges_and_marks() {
        let l = lvs("virtual_server_group G {\n 10.0.0.100-102 80\n fwmark 7\n}\nvirtual_server group G {\n lb_algo rr\n lb_kind DR\n protocol TCP\n real_server 10.0.0.2 {\n }\n}\n");
        // (A port-less real server: the fwmark destination has port 0.)
        let t = desired(&l, &State::default());
        let keys: Vec<String> = t.services.keys().map(|k| k.to_string()).collect();
        assert_eq!(
            keys,
            ["TCP 10.0.0.100:80", "TCP 10.0.0.101:80", "TCP 10.0.0.102:80", "FWM 7"]
        );
        let fw = t.services.values().last().unwrap();
        assert_eq!(
            fw.dests.keys().next().unwrap().port(),
            0,
            "fwmark destinations have no port"
        );
        let first = t.services.values().next().unwrap();
        assert_eq!(first.dests.keys().next().unwrap().port(), 80, "the entry's port");
    }

    #[test]
    fn a_huge_range_is_capped() {
        let l = lvs("virtual_server_group G {\n 10.0.0.0/8 80\n}\nvirtual_server group G {\n lb_algo rr\n lb_kind DR\n protocol TCP\n real_server 10.0.0.2 80 {\n }\n}\n");
        assert_eq!(services_of(&l, &l.servers[0]).len(), MAX_GROUP_SERVICES);
    }
}
