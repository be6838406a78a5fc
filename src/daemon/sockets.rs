//! Sockets and dispatch: the receive sockets (one per interface and
//! family, joined to the multicast groups in use), the table that routes a
//! received advert to its instances, and the advert sender. Readers hand
//! packets to the protocol loop through a bounded queue; a full queue
//! drops (and counts) rather than blocking a reader.
//!
//! Adverts are queued as the engine asks for them and leave together when
//! the loop has handled a wake-up ([`Sockets::flush`]): the instances that
//! send from one interface and address share a socket, so the adverts that
//! fall due together take one `sendmmsg` instead of a system call each.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::model::{self, VrrpInstance};
use crate::net::netlink::Addr;
use crate::net::socket::{Received, RxSocket, TxSocket};
use crate::vrrp::packet::Family;
use crate::vrrp::{Instance, InstanceId, Router};

use super::host::pick_source;
use super::slot::Slot;

/// Bound of the queue between socket readers and the protocol loop, in
/// batches (one `recvmmsg` each, up to 16 datagrams): 4,096 datagrams.
pub const RX_QUEUE: usize = 256;

/// What the socket readers hand the protocol loop: the adverts of one
/// `recvmmsg`, in one message (a message per advert cost the loop a
/// channel permit, a lock and a wake-up each).
pub struct Input {
    pub ifindex: u32,
    pub rx: Vec<Received>,
}

/// Counters of the daemon as a whole.
#[derive(Default)]
pub struct Counters {
    pub rx_overflow: AtomicU64,
    pub rx_malformed: AtomicU64,
    pub unknown_vrid: AtomicU64,
    /// Check results that arrived from a run a reload had replaced.
    pub stale_check_reports: AtomicU64,
}

type Key = (u32, Family, u8);

/// What makes two instances' send sockets interchangeable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct TxKey {
    ifindex: u32,
    src: IpAddr,
    unicast_ttl: u8,
}

/// An advert waiting for the flush: its bytes are the slot's cached frame.
struct Queued {
    sock: Rc<TxSocket>,
    to: SocketAddr,
    frame: Rc<[u8]>,
    id: InstanceId,
}

/// An advert the kernel refused (the caller counts it for its instance).
#[derive(Debug)]
pub struct SendFailure {
    pub id: InstanceId,
    pub dst: IpAddr,
    pub error: io::Error,
}

pub struct Sockets {
    rx: HashMap<(u32, Family), (Vec<IpAddr>, JoinHandle<()>)>,
    dispatch: HashMap<Key, Vec<InstanceId>>,
    input_tx: mpsc::Sender<Input>,
    pub counters: Arc<Counters>,
    /// One advert buffer, reused.
    buf: Vec<u8>,
    /// The send sockets in use, by what they send from; a socket closes
    /// when its last instance lets go of it (the protocol loop owns every
    /// slot on one thread, hence `Rc`).
    tx_pool: HashMap<TxKey, Weak<TxSocket>>,
    queue: Vec<Queued>,
}

pub fn family(cfg: &VrrpInstance) -> Family {
    match cfg.family {
        model::Family::V4 => Family::V4,
        model::Family::V6 => Family::V6,
    }
}

/// The receive sockets the instances need: per (interface, family) the
/// interface name and the multicast groups to join (none for unicast).
pub fn wanted(router: &Router<Slot>) -> HashMap<(u32, Family), (String, Vec<IpAddr>)> {
    let mut want: HashMap<(u32, Family), (String, Vec<IpAddr>)> = HashMap::new();
    for (_, _, s) in router.iter() {
        if s.ifindex == 0 {
            continue;
        }
        let e = want
            .entry((s.ifindex, family(&s.cfg)))
            .or_insert_with(|| (s.ifname.clone(), Vec::new()));
        if s.cfg.unicast_peers.is_empty() && !e.1.contains(&s.cfg.mcast_dst) {
            e.1.push(s.cfg.mcast_dst);
        }
    }
    want
}

/// Which instances hear adverts arriving on (interface, family, VRID).
pub fn dispatch_table(router: &Router<Slot>) -> HashMap<Key, Vec<InstanceId>> {
    let mut t: HashMap<Key, Vec<InstanceId>> = HashMap::new();
    for (id, _, s) in router.iter() {
        if s.ifindex != 0 {
            t.entry((s.ifindex, family(&s.cfg), s.cfg.vrid)).or_default().push(id);
        }
    }
    t
}

impl Sockets {
    pub fn new() -> (Sockets, mpsc::Receiver<Input>) {
        let (input_tx, input_rx) = mpsc::channel(RX_QUEUE);
        (
            Sockets {
                rx: HashMap::new(),
                dispatch: HashMap::new(),
                input_tx,
                counters: Arc::new(Counters::default()),
                buf: vec![0; 4200],
                tx_pool: HashMap::new(),
                queue: Vec::new(),
            },
            input_rx,
        )
    }

    /// Re-derives the dispatch table and opens / closes receive sockets;
    /// sockets still wanted with the same groups stay open.
    pub fn rebuild(&mut self, router: &Router<Slot>) {
        self.dispatch = dispatch_table(router);
        let want = wanted(router);
        self.rx.retain(|k, (groups, task)| {
            let keep = want.get(k).is_some_and(|(_, g)| g == groups);
            if !keep {
                task.abort();
            }
            keep
        });
        for ((ifindex, fam), (ifname, groups)) in want {
            if self.rx.contains_key(&(ifindex, fam)) {
                continue;
            }
            match RxSocket::open(fam, &ifname, ifindex, &groups) {
                Ok(sock) => {
                    let task = tokio::spawn(read_loop(sock, self.input_tx.clone(), self.counters.clone()));
                    self.rx.insert((ifindex, fam), (groups, task));
                }
                Err(e) => tracing::error!("cannot open the VRRP socket on {ifname}: {e}"),
            }
        }
    }

    /// The instances an advert arriving on `ifindex` is for; counted when
    /// none is.
    pub fn targets(&self, ifindex: u32, rx: &Received) -> &[InstanceId] {
        let vrid = rx.payload.get(1).copied().unwrap_or(0);
        match self.dispatch.get(&(ifindex, Family::of(&rx.meta.src), vrid)) {
            Some(ids) => ids,
            None => {
                self.counters.unknown_vrid.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(
                    "advert for unknown VRID {vrid} from {} on interface {ifindex}",
                    rx.meta.src
                );
                &[]
            }
        }
    }

    /// Queues one advert of `inst` to its multicast group or each unicast
    /// peer, built again only when its priority or source changed; it
    /// leaves at the next [`flush`](Self::flush).
    pub fn send_advert(&mut self, id: InstanceId, inst: &Instance, slot: &mut Slot, priority: u8) {
        let Some(tx) = &slot.tx else { return };
        let cache = &mut slot.advert_frames;
        if cache.key != Some((priority, tx.src)) {
            cache.frames.clear();
            cache.key = None;
            let advert = inst.advert(priority);
            let cfg = &slot.cfg;
            let multicast = [cfg.mcast_dst];
            let peers: Vec<IpAddr> = cfg.unicast_peers.iter().map(|p| p.addr).collect();
            let dsts: &[IpAddr] = if peers.is_empty() { &multicast } else { &peers };
            for &dst in dsts {
                match advert.emit(&mut self.buf, tx.src, dst, inst.params().checksum_mode) {
                    Ok(n) => cache.frames.push((dst, Rc::from(&self.buf[..n]))),
                    Err(e) => {
                        tracing::error!("({}) cannot build advert: {e}", cfg.name);
                        cache.frames.clear();
                        return;
                    }
                }
            }
            cache.key = Some((priority, tx.src));
        }
        for (dst, frame) in &cache.frames {
            self.queue.push(Queued {
                sock: tx.clone(),
                to: TxSocket::destination(*dst, slot.vip_ifindex),
                frame: frame.clone(),
                id,
            });
        }
    }

    /// Sends every queued advert: one `sendmmsg` per socket (per batch of
    /// [`BATCH`](crate::net::mmsg::BATCH)), each socket's in the order
    /// they were queued; one refused advert does not hold back the rest.
    /// Returns those the kernel refused.
    pub fn flush(&mut self) -> Vec<SendFailure> {
        let mut failures = Vec::new();
        if self.queue.is_empty() {
            return failures;
        }
        // Each socket's adverts side by side, in the order they were queued
        // (a stable sort; only when more than one socket has adverts).
        if self.queue.windows(2).any(|w| !Rc::ptr_eq(&w[0].sock, &w[1].sock)) {
            self.queue.sort_by_key(|q| Rc::as_ptr(&q.sock));
        }
        let queue = &self.queue;
        let mut next = 0;
        while next < queue.len() {
            let sock = &queue[next].sock;
            let end = next + queue[next..].iter().take_while(|q| Rc::ptr_eq(&q.sock, sock)).count();
            while next < end {
                let first = next;
                match sock.send_many(end - first, |i| (queue[first + i].to, &queue[first + i].frame[..])) {
                    Ok(n) if n > 0 => next += n,
                    result => {
                        let error = result
                            .err()
                            .unwrap_or_else(|| io::Error::other("the kernel took no advert"));
                        failures.push(SendFailure {
                            id: queue[first].id,
                            dst: queue[first].to.ip(),
                            error,
                        });
                        next += 1;
                    }
                }
            }
        }
        self.queue.clear();
        failures
    }

    /// Picks a slot's advert source and, when the source changes, gives
    /// it the send socket for it (shared with every instance that sends
    /// from the same interface, address and TTL); returns the new source
    /// when it changed.
    pub fn refresh_source(
        &mut self,
        slot: &mut Slot,
        addrs: &[Addr],
        all_vips: &HashSet<IpAddr>,
    ) -> Option<Option<IpAddr>> {
        let want = pick_source(&slot.cfg, slot.ifindex, slot.vip_ifindex, addrs, all_vips);
        if want == slot.src && (slot.tx.is_some() || want.is_none()) {
            return None;
        }
        let (tx_if, tx_idx) = slot.tx_interface();
        let tx = want.and_then(|src| match self.tx_socket(src, tx_if, tx_idx, slot.cfg.unicast_ttl) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::error!(
                    "({}) cannot open the advert socket from {src} on {tx_if}: {e}",
                    slot.cfg.name
                );
                None
            }
        });
        slot.src = want;
        slot.tx = tx;
        if want.is_some() {
            slot.warned_no_src = false;
        }
        Some(want)
    }

    /// The send socket for (interface, source, TTL): the one in use, or a
    /// new one.
    fn tx_socket(&mut self, src: IpAddr, ifname: &str, ifindex: u32, unicast_ttl: u8) -> io::Result<Rc<TxSocket>> {
        let key = TxKey {
            ifindex,
            src,
            unicast_ttl,
        };
        if let Some(sock) = self.tx_pool.get(&key).and_then(Weak::upgrade) {
            return Ok(sock);
        }
        self.tx_pool.retain(|_, w| w.strong_count() > 0);
        let sock = Rc::new(TxSocket::open(src, ifname, ifindex, unicast_ttl)?);
        self.tx_pool.insert(key, Rc::downgrade(&sock));
        Ok(sock)
    }

    /// How many send sockets are open.
    pub fn tx_sockets(&self) -> usize {
        self.tx_pool.values().filter(|w| w.strong_count() > 0).count()
    }
}

impl Drop for Sockets {
    fn drop(&mut self) {
        for (_, task) in self.rx.values() {
            task.abort();
        }
    }
}

async fn read_loop(mut sock: RxSocket, tx: mpsc::Sender<Input>, counters: Arc<Counters>) {
    let ifindex = sock.ifindex();
    loop {
        let mut rx = Vec::new();
        let read = sock
            .recv_batch(|datagram| match datagram {
                Ok(r) => rx.push(r),
                Err(e) => {
                    counters.rx_malformed.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!("malformed datagram on interface {ifindex}: {e}");
                }
            })
            .await;
        if !rx.is_empty() {
            let n = rx.len() as u64;
            if tx.try_send(Input { ifindex, rx }).is_err() {
                counters.rx_overflow.fetch_add(n, Ordering::Relaxed);
            }
        }
        if let Err(e) = read {
            tracing::warn!("VRRP socket on interface {ifindex}: {e}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_str, LoadOptions};
    use crate::vrrp::Instance;

    fn router(text: &str) -> Router<Slot> {
        let mut r = Router::new();
        for cfg in load_str("t", text, &LoadOptions::default()).config.instances {
            let idx = if cfg.interface.as_deref() == Some("eth1") { 3 } else { 2 };
            r.add(
                Instance::new(super::super::params::engine_params(&cfg)),
                Slot::for_test(cfg, idx),
            );
        }
        r
    }

    fn inst(name: &str, ifname: &str, vrid: u8, extra: &str) -> String {
        format!("vrrp_instance {name} {{\n interface {ifname}\n virtual_router_id {vrid}\n{extra}\n virtual_ipaddress {{\n 10.0.0.{vrid}/24\n }}\n}}\n")
    }

    /// One receive socket per (interface, family) with the groups its
    /// multicast instances use; unicast instances join none.
    #[test]
    fn sockets_per_interface_and_family_with_their_groups() {
        let r = router(
            &(inst("A", "eth0", 1, "")
                + &inst("B", "eth0", 2, " mcast_dst_ip 224.0.0.99")
                + &inst("C", "eth1", 3, " unicast_peer {\n 10.0.0.9\n }")),
        );
        let w = wanted(&r);
        let groups = |idx| w.get(&(idx, Family::V4)).map(|(_, g)| g.clone());
        let g0 = groups(2).unwrap_or_default();
        assert_eq!(g0.len(), 2, "{g0:?}");
        assert_eq!(groups(3), Some(vec![]), "unicast: no group");
        let t = dispatch_table(&r);
        assert_eq!(t.get(&(2, Family::V4, 2)).map(Vec::len), Some(1));
        assert_eq!(t.get(&(3, Family::V4, 3)).map(Vec::len), Some(1));
        assert!(!t.contains_key(&(3, Family::V4, 1)), "VRID 1 is not heard on eth1");
    }
}
