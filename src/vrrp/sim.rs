//! A simulated LAN for the protocol core: N routers, virtual time, packet
//! loss and partitions. Packets really go through the codec (emit on the
//! sender, checked decode on every receiver), so a scenario exercises the
//! whole receive path. Pure code on virtual time: the caller gives the
//! time origin, nothing here reads a clock. Compiled for tests only
//! (`cfg(test)`, or the `sim` feature that tests/ and benches turn on).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use super::instance::{Action, Event, Params, State};
use super::packet::Family;
use super::rx::RxMeta;
use super::sync::{InstanceId, Router, RouterOutput};

/// One state change seen in the simulation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub at: Duration,
    pub node: usize,
    pub instance: String,
    pub from: State,
    pub to: State,
}

/// One advertisement put on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub at: Duration,
    pub node: usize,
    pub vrid: u8,
    pub priority: u8,
}

pub struct Node {
    pub name: String,
    pub addr: IpAddr,
    pub router: Router,
    params: Vec<Params>,
    groups: Vec<(String, Vec<InstanceId>)>,
    /// The daemon runs (a crashed or stopped node neither sends nor hears).
    pub up: bool,
    /// Nodes hear each other only within one segment.
    pub segment: u32,
    /// Whether each instance's VIPs are installed.
    pub vips: Vec<bool>,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Delivery {
    at: Instant,
    seq: u64,
    to: usize,
    src: usize,
    payload: Vec<u8>,
}

pub struct Sim {
    start: Instant,
    pub now: Instant,
    pub nodes: Vec<Node>,
    in_flight: BinaryHeap<Reverse<Delivery>>,
    seq: u64,
    /// One-way latency of the LAN.
    pub latency: Duration,
    /// Probability (per million) that a given delivery is lost.
    pub loss_ppm: u32,
    rng: u64,
    pub transitions: Vec<Transition>,
    pub sent: Vec<Sent>,
}

impl Sim {
    /// A LAN whose virtual time starts at `start` (any instant: the
    /// engine only compares and adds).
    pub fn new(start: Instant) -> Sim {
        Sim {
            start,
            now: start,
            nodes: Vec::new(),
            in_flight: BinaryHeap::new(),
            seq: 0,
            latency: Duration::from_micros(100),
            loss_ppm: 0,
            rng: 0x9e37_79b9_7f4a_7c15,
            transitions: Vec::new(),
            sent: Vec::new(),
        }
    }

    /// Time since the simulation started.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    pub fn seed(&mut self, seed: u64) {
        self.rng = seed | 1;
    }

    /// Adds a node (not started) with one instance per parameter set.
    pub fn add_node(&mut self, name: &str, addr: IpAddr, params: Vec<Params>) -> usize {
        let mut router = Router::new();
        for p in &params {
            router.add_instance(p.clone());
        }
        let n = params.len();
        self.nodes.push(Node {
            name: name.to_string(),
            addr,
            router,
            params,
            groups: Vec::new(),
            up: false,
            segment: 0,
            vips: vec![false; n],
        });
        self.nodes.len() - 1
    }

    /// The id of `node`'s `index`-th instance (in the order given).
    pub fn id(&self, node: usize, index: usize) -> InstanceId {
        self.nodes[node]
            .router
            .ids()
            .nth(index)
            .unwrap_or_else(|| panic!("node {node} has no instance {index}"))
    }

    pub fn add_group(&mut self, node: usize, name: &str, members: Vec<InstanceId>) {
        self.nodes[node].router.add_group(name, members.clone());
        self.nodes[node].groups.push((name.to_string(), members));
    }

    /// Starts the node's daemon: local address, then Start.
    pub fn start(&mut self, node: usize) {
        self.nodes[node].up = true;
        let addr = self.nodes[node].addr;
        let ids: Vec<InstanceId> = self.nodes[node].router.ids().collect();
        for id in ids {
            self.event(node, id, Event::LocalAddress(Some(addr)));
            self.event(node, id, Event::Start);
        }
    }

    /// Kills the daemon: no goodbye, VIPs stay installed (as SIGKILL).
    pub fn crash(&mut self, node: usize) {
        self.nodes[node].up = false;
    }

    /// Graceful stop (SIGTERM): priority 0 from masters, VIPs removed.
    pub fn stop(&mut self, node: usize) {
        let ids: Vec<InstanceId> = self.nodes[node].router.ids().collect();
        for id in ids {
            self.event(node, id, Event::Shutdown { release: true });
        }
        self.nodes[node].up = false;
    }

    /// A fresh daemon on a node that crashed or stopped.
    pub fn restart(&mut self, node: usize) {
        let n = &mut self.nodes[node];
        let mut router = Router::new();
        for p in &n.params {
            router.add_instance(p.clone());
        }
        for (name, members) in &n.groups {
            router.add_group(name, members.clone());
        }
        n.router = router;
        // keepalived removes VIPs a previous run left behind.
        n.vips.iter_mut().for_each(|v| *v = false);
        self.start(node);
    }

    /// A reload (SIGHUP) that keeps every instance: the new settings apply
    /// in place, state and timers kept, as the daemon applies them; a
    /// later restart starts from them.
    pub fn reload(&mut self, node: usize, params: Vec<Params>) {
        let now = self.now;
        let n = &mut self.nodes[node];
        let ids: Vec<InstanceId> = n.router.ids().collect();
        for (id, p) in ids.into_iter().zip(params.iter()) {
            n.router.update_instance(id, |i| i.reconfigure(p.clone(), now));
        }
        n.params = params;
    }

    pub fn set_segment(&mut self, node: usize, segment: u32) {
        self.nodes[node].segment = segment;
    }

    /// Feeds an event to one instance now and carries out its actions.
    pub fn event(&mut self, node: usize, id: InstanceId, ev: Event<'_>) {
        let mut out = RouterOutput::default();
        let now = self.now;
        self.nodes[node].router.handle(now, id, ev, &mut out);
        self.apply(node, out);
    }

    /// Delivers hand-made bytes to every running node as an advert from
    /// `src` (a sender outside the simulation: a broken or hostile router).
    pub fn inject(&mut self, src: IpAddr, payload: &[u8]) {
        for to in 0..self.nodes.len() {
            if !self.nodes[to].up {
                continue;
            }
            let vrid = payload.get(1).copied().unwrap_or(0);
            let target = self.nodes[to]
                .router
                .instances()
                .find(|(_, i)| i.params().vrid == vrid && Family::of(&src) == i.params().family)
                .map(|(id, _)| id);
            if let Some(id) = target {
                let meta = RxMeta {
                    src,
                    dst: IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
                    ttl: 255,
                };
                self.event(to, id, Event::Advert { meta, payload });
            }
        }
    }

    fn next_random(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn apply(&mut self, node: usize, out: RouterOutput) {
        for (id, a) in out.actions {
            match a {
                Action::SendAdvert { priority } => self.send(node, id, priority),
                Action::AddVips => self.nodes[node].vips[id.index()] = true,
                Action::RemoveVips => self.nodes[node].vips[id.index()] = false,
                Action::StateChange { from, to, .. } => {
                    let instance = self.nodes[node].params[id.index()].name.clone();
                    self.transitions.push(Transition {
                        at: self.elapsed(),
                        node,
                        instance,
                        from,
                        to,
                    });
                }
                _ => {}
            }
        }
    }

    fn send(&mut self, node: usize, id: InstanceId, priority: u8) {
        let Some(inst) = self.nodes[node].router.instance(id) else {
            return;
        };
        let src = self.nodes[node].addr;
        let dst = match inst.params().family {
            Family::V4 => IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
            Family::V6 => IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12)),
        };
        let mut buf = vec![0u8; 4096];
        let Ok(n) = inst
            .advert(priority)
            .emit(&mut buf, src, dst, inst.params().checksum_mode)
        else {
            return;
        };
        buf.truncate(n);
        let vrid = inst.params().vrid;
        self.sent.push(Sent {
            at: self.elapsed(),
            node,
            vrid,
            priority,
        });
        let segment = self.nodes[node].segment;
        for to in 0..self.nodes.len() {
            if to == node || self.nodes[to].segment != segment {
                continue;
            }
            if self.loss_ppm > 0 && (self.next_random() % 1_000_000) < u64::from(self.loss_ppm) {
                continue;
            }
            self.seq += 1;
            self.in_flight.push(Reverse(Delivery {
                at: self.now + self.latency,
                seq: self.seq,
                to,
                src: node,
                payload: buf.clone(),
            }));
        }
    }

    fn deliver(&mut self, d: Delivery) {
        let to = d.to;
        if !self.nodes[to].up || self.nodes[to].segment != self.nodes[d.src].segment {
            return;
        }
        let vrid = d.payload.get(1).copied().unwrap_or(0);
        let src = self.nodes[d.src].addr;
        let target = self.nodes[to]
            .router
            .instances()
            .find(|(_, i)| i.params().vrid == vrid && Family::of(&src) == i.params().family)
            .map(|(id, i)| (id, i.params().family));
        let Some((id, family)) = target else {
            return;
        };
        let dst = match family {
            Family::V4 => IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
            Family::V6 => IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12)),
        };
        let meta = RxMeta { src, dst, ttl: 255 };
        self.event(
            to,
            id,
            Event::Advert {
                meta,
                payload: &d.payload,
            },
        );
    }

    /// Runs the simulation for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        self.run_until(end);
    }

    pub fn run_until(&mut self, end: Instant) {
        loop {
            let next_timer = self
                .nodes
                .iter()
                .filter(|n| n.up)
                .filter_map(|n| n.router.poll_timeout())
                .min();
            let next_pkt = self.in_flight.peek().map(|Reverse(d)| d.at);
            let next = match (next_timer, next_pkt) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) | (None, Some(a)) => a,
                (None, None) => break,
            };
            if next > end {
                break;
            }
            self.now = self.now.max(next);
            if next_pkt.is_some_and(|t| t <= next) {
                if let Some(Reverse(d)) = self.in_flight.pop() {
                    self.deliver(d);
                }
                continue;
            }
            for node in 0..self.nodes.len() {
                if !self.nodes[node].up {
                    continue;
                }
                let mut out = RouterOutput::default();
                let now = self.now;
                self.nodes[node].router.handle_timers(now, &mut out);
                self.apply(node, out);
            }
        }
        self.now = self.now.max(end);
    }

    /// The nodes whose instance `name` is MASTER (running daemons only).
    pub fn masters(&self, name: &str) -> Vec<usize> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.up)
            .filter(|(_, n)| {
                n.router
                    .instances()
                    .any(|(_, i)| i.params().name == name && i.state() == State::Master)
            })
            .map(|(idx, _)| idx)
            .collect()
    }

    /// The nodes that have the VIPs of `name` installed (crashed nodes too).
    pub fn vip_holders(&self, name: &str) -> Vec<usize> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.params.iter().zip(&n.vips).any(|(p, v)| p.name == name && *v))
            .map(|(idx, _)| idx)
            .collect()
    }

    pub fn state(&self, node: usize, name: &str) -> Option<State> {
        self.nodes[node]
            .router
            .instances()
            .find(|(_, i)| i.params().name == name)
            .map(|(_, i)| i.state())
    }

    /// When `node`'s instance `name` last entered `to`.
    pub fn last_transition(&self, node: usize, name: &str, to: State) -> Option<Duration> {
        self.transitions
            .iter()
            .rev()
            .find(|t| t.node == node && t.instance == name && t.to == to)
            .map(|t| t.at)
    }

    /// The last advert with non-zero priority `node` sent for `vrid`.
    pub fn last_advert(&self, node: usize, vrid: u8) -> Option<Duration> {
        self.sent
            .iter()
            .rev()
            .find(|s| s.node == node && s.vrid == vrid && s.priority != 0)
            .map(|s| s.at)
    }
}
