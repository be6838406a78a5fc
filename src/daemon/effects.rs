//! Side effects of protocol actions, carried out in order by one worker
//! that lives as long as the daemon (a reload swaps the notifier through
//! the same queue, so nothing overtakes what was queued before it):
//! address, route and rule changes, gratuitous ARP / NA, notifications.
//!
//! Gratuitous ARP / NA bursts are a schedule the worker owns, per
//! instance: removing an instance's addresses (it left MASTER, or a reload
//! dropped one) cancels what it had still to announce, so a demoted master
//! never announces an address it no longer holds.

use std::collections::VecDeque;
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
    nl: Netlink,
    mut notifier: Arc<Notifier>,
    frames: Option<FrameSocket>,
) {
    let mut schedule = Schedule::default();
    loop {
        let next = schedule.next_at();
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
            Some(Effect::Install(a)) => install(&nl, &a).await,
            Some(Effect::Remove { owner, addrs }) => {
                let ips: Vec<IpAddr> = addrs.addrs.iter().map(|(_, s)| s.addr).collect();
                schedule.cancel(&owner, &ips);
                remove(&nl, &addrs).await;
            }
            Some(Effect::Gratuitous { owner, burst }) => schedule.add(&owner, &burst, Instant::now()),
            Some(Effect::Notify(n)) => notifier.fire(&n),
            Some(Effect::SetNotifier(make)) => {
                notifier.stop();
                notifier = Arc::new(make());
            }
            Some(Effect::Barrier(done)) => {
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

async fn install(nl: &Netlink, a: &Addresses) {
    for (ifindex, spec) in &a.addrs {
        if let Err(e) = nl.add_address(*ifindex, spec).await {
            tracing::error!("cannot add address {}/{}: {e}", spec.addr, spec.prefix);
        }
    }
    for r in &a.routes {
        if let Err(e) = nl.add_route(r).await {
            tracing::error!("cannot add route {}: {e}", r.route);
        }
    }
    for r in &a.rules {
        if let Err(e) = nl.add_rule(r).await {
            tracing::error!("cannot add rule {}: {e}", r.rule);
        }
    }
}

async fn remove(nl: &Netlink, a: &Addresses) {
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
}
