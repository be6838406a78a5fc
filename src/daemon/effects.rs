//! Side effects of protocol actions, carried out in order by one worker
//! that lives as long as the daemon (a reload swaps the notifier through
//! the same queue, so nothing overtakes what was queued before it):
//! address, route and rule changes, gratuitous ARP / NA, notifications.
//!
//! Gratuitous ARP / NA bursts are a schedule the worker owns, per
//! instance: removing an instance's addresses (it left MASTER, or a reload
//! dropped one) cancels what it had still to announce, so a demoted master
//! never announces an address it no longer holds.
//!
//! An address, route or rule the kernel refuses (IPv6 disabled on the
//! link, a link going away, a route whose source is not there yet) is
//! logged once and retried with a back-off until it lands or is removed:
//! keepalived 2.2.7 logs the refusal and never tries again, so a MASTER
//! keeps advertising for an address it does not hold.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::net::garp::{garp_frame, na_frame, FrameSocket};
use crate::net::netlink::{AddressSpec, Netlink, RouteSpec, RuleSpec};

use super::notify::{Notice, Notifier};

/// Addresses, routes and rules of one instance, resolved to interfaces.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Addresses {
    pub addrs: Vec<(u32, AddressSpec)>,
    pub routes: Vec<RouteSpec>,
    pub rules: Vec<RuleSpec>,
}

impl Addresses {
    pub fn is_empty(&self) -> bool {
        self.addrs.is_empty() && self.routes.is_empty() && self.rules.is_empty()
    }
}

/// A burst of gratuitous ARPs / unsolicited NAs.
#[derive(Debug, Clone, PartialEq)]
pub struct Burst {
    pub ifindex: u32,
    pub mac: [u8; 6],
    pub addrs: Vec<IpAddr>,
    pub repeat: u32,
    /// Gap between successive messages (vrrp_garp_interval / vrrp_gna_interval).
    pub gap_v4: Duration,
    pub gap_v6: Duration,
}

pub enum Effect {
    Install(Addresses),
    /// Removes `addrs` and cancels the announcements of `owner` (an
    /// instance name) for them.
    Remove {
        owner: String,
        addrs: Addresses,
    },
    Gratuitous {
        owner: String,
        burst: Burst,
    },
    Notify(Box<Notice>),
    /// A reload's notifier, made once everything queued before it is done
    /// and the old one stopped (its FIFO readers never overlap).
    SetNotifier(Box<dyn FnOnce() -> Notifier + Send>),
    /// Completes when every effect before it has been carried out.
    Barrier(oneshot::Sender<()>),
    /// Writes the state that survives restarts (in order with the rest).
    SaveState {
        dir: std::path::PathBuf,
        text: String,
    },
}

pub type EffectSender = mpsc::UnboundedSender<Effect>;

/// The kernel tables the worker changes: netlink in the daemon, a fake
/// that refuses on demand in the unit tests.
pub trait Tables {
    fn add_address(&self, ifindex: u32, spec: &AddressSpec) -> impl Future<Output = io::Result<()>> + Send;
    fn del_address(&self, ifindex: u32, addr: IpAddr, prefix: u8) -> impl Future<Output = io::Result<()>> + Send;
    fn add_route(&self, r: &RouteSpec) -> impl Future<Output = io::Result<()>> + Send;
    fn del_route(&self, r: &RouteSpec) -> impl Future<Output = io::Result<()>> + Send;
    fn add_rule(&self, r: &RuleSpec) -> impl Future<Output = io::Result<()>> + Send;
    fn del_rule(&self, r: &RuleSpec) -> impl Future<Output = io::Result<()>> + Send;
}

impl Tables for Netlink {
    fn add_address(&self, ifindex: u32, spec: &AddressSpec) -> impl Future<Output = io::Result<()>> + Send {
        Netlink::add_address(self, ifindex, spec)
    }
    fn del_address(&self, ifindex: u32, addr: IpAddr, prefix: u8) -> impl Future<Output = io::Result<()>> + Send {
        Netlink::del_address(self, ifindex, addr, prefix)
    }
    fn add_route(&self, r: &RouteSpec) -> impl Future<Output = io::Result<()>> + Send {
        Netlink::add_route(self, r)
    }
    fn del_route(&self, r: &RouteSpec) -> impl Future<Output = io::Result<()>> + Send {
        Netlink::del_route(self, r)
    }
    fn add_rule(&self, r: &RuleSpec) -> impl Future<Output = io::Result<()>> + Send {
        Netlink::add_rule(self, r)
    }
    fn del_rule(&self, r: &RuleSpec) -> impl Future<Output = io::Result<()>> + Send {
        Netlink::del_rule(self, r)
    }
}

/// One thing to install.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    Address(u32, AddressSpec),
    Route(RouteSpec),
    Rule(RuleSpec),
}

impl Item {
    fn describe(&self) -> String {
        match self {
            Item::Address(_, a) => format!("address {}/{}", a.addr, a.prefix),
            Item::Route(r) => format!("route {}", r.route),
            Item::Rule(r) => format!("rule {}", r.rule),
        }
    }

    async fn install(&self, k: &impl Tables) -> io::Result<()> {
        match self {
            Item::Address(ifindex, spec) => k.add_address(*ifindex, spec).await,
            Item::Route(r) => k.add_route(r).await,
            Item::Rule(r) => k.add_rule(r).await,
        }
    }

    /// Each item of `a`, in installing order (addresses before the routes
    /// and rules that may name them).
    fn all(a: &Addresses) -> impl Iterator<Item = Item> + '_ {
        let addrs = a.addrs.iter().map(|(i, s)| Item::Address(*i, s.clone()));
        let routes = a.routes.iter().cloned().map(Item::Route);
        addrs.chain(routes).chain(a.rules.iter().cloned().map(Item::Rule))
    }
}

const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// An item the kernel refused, tried again at `at`.
#[derive(Debug)]
struct Refused {
    item: Item,
    at: Instant,
    backoff: Duration,
    attempts: u32,
}

/// What the kernel refused and is still wanted.
#[derive(Debug, Default)]
struct Retries {
    refused: Vec<Refused>,
}

impl Retries {
    /// Installs `item` now; a refusal is logged and kept for a retry.
    async fn install(&mut self, k: &impl Tables, item: Item, now: Instant) {
        self.refused.retain(|r| r.item != item);
        if let Err(e) = item.install(k).await {
            tracing::error!("cannot add {}: {e}; retrying until it lands", item.describe());
            self.refused.push(Refused {
                item,
                at: now + RETRY_FIRST,
                backoff: RETRY_FIRST,
                attempts: 1,
            });
        }
    }

    /// The items of `a` are no longer wanted.
    fn forget(&mut self, a: &Addresses) {
        let gone: Vec<Item> = Item::all(a).collect();
        self.refused.retain(|r| !gone.contains(&r.item));
    }

    fn next_at(&self) -> Option<Instant> {
        self.refused.iter().map(|r| r.at).min()
    }

    /// Tries again what is due.
    async fn retry_due(&mut self, k: &impl Tables, now: Instant) {
        for r in self.refused.iter_mut().filter(|r| r.at <= now) {
            r.attempts += 1;
            match r.item.install(k).await {
                Ok(()) => {
                    tracing::warn!("added {} after {} attempts", r.item.describe(), r.attempts);
                    r.attempts = 0;
                }
                Err(e) => {
                    r.backoff = (r.backoff * 2).min(RETRY_MAX);
                    r.at = now + r.backoff;
                    tracing::debug!("cannot add {} (attempt {}): {e}", r.item.describe(), r.attempts);
                }
            }
        }
        self.refused.retain(|r| r.attempts != 0);
    }
}

/// One frame still to be sent.
#[derive(Debug, Clone, PartialEq)]
struct Pending {
    owner: String,
    ifindex: u32,
    mac: [u8; 6],
    addr: IpAddr,
    at: Instant,
}

/// The announcements still due, in sending order.
#[derive(Debug, Default)]
struct Schedule {
    pending: VecDeque<Pending>,
}

impl Schedule {
    /// Lays a burst out in time: every address in turn, `repeat` rounds,
    /// each message `gap` after the previous one of its family.
    fn add(&mut self, owner: &str, b: &Burst, now: Instant) {
        let mut at = now;
        for _ in 0..b.repeat {
            for a in &b.addrs {
                self.pending.push_back(Pending {
                    owner: owner.to_string(),
                    ifindex: b.ifindex,
                    mac: b.mac,
                    addr: *a,
                    at,
                });
                at += if a.is_ipv4() { b.gap_v4 } else { b.gap_v6 };
            }
        }
        self.pending.make_contiguous().sort_by_key(|p| p.at);
    }

    /// Drops what `owner` still had to announce for these addresses.
    fn cancel(&mut self, owner: &str, addrs: &[IpAddr]) {
        self.pending.retain(|p| !(p.owner == owner && addrs.contains(&p.addr)));
    }

    fn next_at(&self) -> Option<Instant> {
        self.pending.front().map(|p| p.at)
    }

    fn take_due(&mut self, now: Instant) -> Vec<Pending> {
        let mut due = Vec::new();
        while self.pending.front().is_some_and(|p| p.at <= now) {
            due.extend(self.pending.pop_front());
        }
        due
    }
}

/// Starts the worker; effects run in the order they were sent.
pub fn start(nl: Netlink, notifier: Arc<Notifier>) -> EffectSender {
    let (tx, rx) = mpsc::unbounded_channel::<Effect>();
    let frames = match FrameSocket::open() {
        Ok(f) => Some(f),
        Err(e) => {
            tracing::error!("cannot open a packet socket for gratuitous ARP/NA: {e}");
            None
        }
    };
    tokio::spawn(worker(rx, nl, notifier, frames));
    tx
}

async fn worker(
    mut rx: mpsc::UnboundedReceiver<Effect>,
    nl: impl Tables,
    mut notifier: Arc<Notifier>,
    frames: Option<FrameSocket>,
) {
    let mut schedule = Schedule::default();
    let mut retries = Retries::default();
    loop {
        let next = [schedule.next_at(), retries.next_at()].into_iter().flatten().min();
        let effect = tokio::select! {
            biased;
            e = rx.recv() => match e {
                Some(e) => Some(e),
                None => break,
            },
            _ = async {
                match next {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            } => None,
        };
        match effect {
            Some(Effect::Install(a)) => {
                for item in Item::all(&a) {
                    retries.install(&nl, item, Instant::now()).await;
                }
            }
            Some(Effect::Remove { owner, addrs }) => {
                let ips: Vec<IpAddr> = addrs.addrs.iter().map(|(_, s)| s.addr).collect();
                schedule.cancel(&owner, &ips);
                retries.forget(&addrs);
                remove(&nl, &addrs).await;
            }
            Some(Effect::Gratuitous { owner, burst }) => schedule.add(&owner, &burst, Instant::now()),
            Some(Effect::Notify(n)) => notifier.fire(&n),
            Some(Effect::SetNotifier(make)) => {
                notifier.stop();
                notifier = Arc::new(make());
            }
            Some(Effect::Barrier(done)) => {
                // At shutdown: the STOP lines reach the FIFOs before exit.
                let n = notifier.clone();
                let _ = tokio::task::spawn_blocking(move || n.flush()).await;
                let _ = done.send(());
            }
            Some(Effect::SaveState { dir, text }) => {
                let shown = dir.display().to_string();
                match tokio::task::spawn_blocking(move || super::state::save(&dir, &text)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::error!("cannot write the state file in {shown}: {e}"),
                    Err(e) => tracing::error!("cannot write the state file in {shown}: {e}"),
                }
            }
            None => {}
        }
        retries.retry_due(&nl, Instant::now()).await;
        for p in schedule.take_due(Instant::now()) {
            if let Some(f) = &frames {
                let frame = match p.addr {
                    IpAddr::V4(v4) => garp_frame(p.mac, v4),
                    IpAddr::V6(v6) => na_frame(p.mac, v6),
                };
                if let Err(e) = f.send(p.ifindex, &frame) {
                    tracing::warn!("cannot send gratuitous ARP/NA for {}: {e}", p.addr);
                }
            }
        }
    }
    notifier.stop();
}

async fn remove(nl: &impl Tables, a: &Addresses) {
    for r in &a.rules {
        if let Err(e) = nl.del_rule(r).await {
            tracing::warn!("cannot remove rule {}: {e}", r.rule);
        }
    }
    for r in &a.routes {
        if let Err(e) = nl.del_route(r).await {
            tracing::warn!("cannot remove route {}: {e}", r.route);
        }
    }
    for (ifindex, spec) in &a.addrs {
        if let Err(e) = nl.del_address(*ifindex, spec.addr, spec.prefix).await {
            tracing::warn!("cannot remove address {}/{}: {e}", spec.addr, spec.prefix);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|_| panic!("{s}"))
    }

    fn burst(addrs: &[&str], repeat: u32, gap_ms: u64) -> Burst {
        Burst {
            ifindex: 2,
            mac: [2, 0, 0, 0, 0, 1],
            addrs: addrs.iter().map(|a| ip(a)).collect(),
            repeat,
            gap_v4: Duration::from_millis(gap_ms),
            gap_v6: Duration::from_millis(gap_ms),
        }
    }

    /// A burst with a gap is laid out in time, address after address.
    #[test]
    fn bursts_are_spread_by_their_gap() {
        let t0 = Instant::now();
        let mut s = Schedule::default();
        s.add("VI_1", &burst(&["10.0.0.1", "10.0.0.2"], 2, 100), t0);
        let times: Vec<_> = s.pending.iter().map(|p| (p.addr, p.at - t0)).collect();
        assert_eq!(
            times,
            [
                (ip("10.0.0.1"), Duration::ZERO),
                (ip("10.0.0.2"), Duration::from_millis(100)),
                (ip("10.0.0.1"), Duration::from_millis(200)),
                (ip("10.0.0.2"), Duration::from_millis(300)),
            ]
        );
        assert_eq!(s.take_due(t0).len(), 1);
        assert_eq!(s.take_due(t0 + Duration::from_millis(250)).len(), 2);
    }

    /// Removing an instance's address cancels only its own announcements
    /// of that address.
    #[test]
    fn removal_cancels_the_owners_pending_announcements() {
        let t0 = Instant::now();
        let mut s = Schedule::default();
        s.add("VI_1", &burst(&["10.0.0.1", "10.0.0.2"], 3, 100), t0);
        s.add("VI_2", &burst(&["10.0.0.1"], 3, 100), t0);
        s.cancel("VI_1", &[ip("10.0.0.1")]);
        assert!(s
            .pending
            .iter()
            .all(|p| !(p.owner == "VI_1" && p.addr == ip("10.0.0.1"))));
        assert_eq!(s.pending.iter().filter(|p| p.owner == "VI_1").count(), 3);
        assert_eq!(s.pending.iter().filter(|p| p.owner == "VI_2").count(), 3);
        let ordered: Vec<_> = s.pending.iter().map(|p| p.at).collect();
        assert!(ordered.windows(2).all(|w| w[0] <= w[1]), "kept in time order");
    }

    /// Kernel tables that refuse addresses on demand, and record every
    /// attempt.
    #[derive(Default)]
    struct Refusing {
        refuse: std::sync::Mutex<Vec<IpAddr>>,
        attempts: std::sync::Mutex<Vec<(IpAddr, Instant)>>,
        held: std::sync::Mutex<Vec<IpAddr>>,
    }

    impl Tables for Arc<Refusing> {
        fn add_address(&self, _: u32, spec: &AddressSpec) -> impl Future<Output = io::Result<()>> + Send {
            self.attempts.lock().unwrap().push((spec.addr, Instant::now()));
            let refused = self.refuse.lock().unwrap().contains(&spec.addr);
            if !refused {
                self.held.lock().unwrap().push(spec.addr);
            }
            std::future::ready(if refused {
                Err(io::Error::from_raw_os_error(libc::EACCES))
            } else {
                Ok(())
            })
        }
        fn del_address(&self, _: u32, addr: IpAddr, _: u8) -> impl Future<Output = io::Result<()>> + Send {
            self.held.lock().unwrap().retain(|a| *a != addr);
            std::future::ready(Ok(()))
        }
        fn add_route(&self, _: &RouteSpec) -> impl Future<Output = io::Result<()>> + Send {
            std::future::ready(Ok(()))
        }
        fn del_route(&self, _: &RouteSpec) -> impl Future<Output = io::Result<()>> + Send {
            std::future::ready(Ok(()))
        }
        fn add_rule(&self, _: &RuleSpec) -> impl Future<Output = io::Result<()>> + Send {
            std::future::ready(Ok(()))
        }
        fn del_rule(&self, _: &RuleSpec) -> impl Future<Output = io::Result<()>> + Send {
            std::future::ready(Ok(()))
        }
    }

    fn addresses(addrs: &[&str]) -> Addresses {
        Addresses {
            addrs: addrs
                .iter()
                .map(|a| {
                    let addr = ip(a);
                    (2, AddressSpec::simple(addr, if addr.is_ipv4() { 24 } else { 64 }))
                })
                .collect(),
            ..Addresses::default()
        }
    }

    /// An address the kernel refuses does not stop the others, is tried
    /// again with a doubling back-off until it lands, and is no longer
    /// tried once it is removed.
    #[tokio::test(start_paused = true)]
    async fn a_refused_address_is_retried_until_it_lands_or_is_removed() {
        let kernel = Arc::new(Refusing::default());
        let (v4, v6) = (ip("10.0.0.100"), ip("fd00::100"));
        kernel.refuse.lock().unwrap().push(v6);
        let (tx, rx) = mpsc::unbounded_channel();
        let notifier = Arc::new(Notifier::new(&crate::config::model::Config::default(), &[]));
        let worker = tokio::spawn(worker(rx, kernel.clone(), notifier, None));
        let t0 = Instant::now();
        tx.send(Effect::Install(addresses(&["10.0.0.100", "fd00::100"])))
            .unwrap();
        tokio::time::sleep(Duration::from_millis(3500)).await;
        assert_eq!(*kernel.held.lock().unwrap(), [v4], "the other address is in");
        let tries: Vec<Duration> = kernel
            .attempts
            .lock()
            .unwrap()
            .iter()
            .filter(|(a, _)| *a == v6)
            .map(|(_, at)| *at - t0)
            .collect();
        let secs = |s: u64| Duration::from_secs(s);
        assert_eq!(
            tries,
            [Duration::ZERO, secs(1), secs(3)],
            "at once, then 1 s and 2 s later"
        );

        // The cause goes (IPv6 enabled again): the next retry lands.
        kernel.refuse.lock().unwrap().clear();
        tokio::time::sleep(secs(5)).await;
        assert_eq!(*kernel.held.lock().unwrap(), [v4, v6]);
        let count = kernel.attempts.lock().unwrap().len();
        tokio::time::sleep(secs(60)).await;
        assert_eq!(
            kernel.attempts.lock().unwrap().len(),
            count,
            "no attempt once it landed"
        );

        // Refused again, then removed: no more attempts.
        kernel.refuse.lock().unwrap().push(v6);
        tx.send(Effect::Remove {
            owner: "VI_1".into(),
            addrs: addresses(&["10.0.0.100", "fd00::100"]),
        })
        .unwrap();
        tx.send(Effect::Install(addresses(&["fd00::100"]))).unwrap();
        tx.send(Effect::Remove {
            owner: "VI_1".into(),
            addrs: addresses(&["fd00::100"]),
        })
        .unwrap();
        tokio::time::sleep(secs(1)).await;
        let count = kernel.attempts.lock().unwrap().len();
        tokio::time::sleep(secs(60)).await;
        assert_eq!(
            kernel.attempts.lock().unwrap().len(),
            count,
            "a removed address is not retried"
        );
        assert!(kernel.held.lock().unwrap().is_empty());
        drop(tx);
        worker.await.unwrap();
    }
}
