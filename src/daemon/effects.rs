//! Side effects of protocol actions, carried out in order by one task so
//! the protocol loop never waits for netlink, frames or scripts: address,
//! route and rule changes, gratuitous ARP / NA bursts, notifications.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::net::garp::{garp_frame, na_frame, FrameSocket};
use crate::net::netlink::{AddressSpec, Netlink, RouteSpec, RuleSpec};

use super::notify::{Notice, Notifier};

/// Addresses, routes and rules of one instance, resolved to interfaces.
#[derive(Debug, Clone, Default)]
pub struct Addresses {
    pub addrs: Vec<(u32, AddressSpec)>,
    pub routes: Vec<RouteSpec>,
    pub rules: Vec<RuleSpec>,
}

/// A burst of gratuitous ARPs / unsolicited NAs.
#[derive(Debug, Clone)]
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
    Remove(Addresses),
    Gratuitous(Burst),
    Notify(Box<Notice>),
    /// Completes when every effect before it has been carried out.
    Barrier(oneshot::Sender<()>),
    /// Runs a hook in order (used by the database fencing).
    Hook(Box<dyn FnOnce() -> futures::future::BoxFuture<'static, ()> + Send>),
}

pub type EffectSender = mpsc::UnboundedSender<Effect>;

/// Starts the worker; effects run in the order they were sent.
pub fn start(nl: Netlink, notifier: Arc<Notifier>) -> EffectSender {
    let (tx, mut rx) = mpsc::unbounded_channel::<Effect>();
    let frames = FrameSocket::open().map(Arc::new);
    if let Err(e) = &frames {
        tracing::error!("cannot open a packet socket for gratuitous ARP/NA: {e}");
    }
    let frames = frames.ok();
    tokio::spawn(async move {
        while let Some(e) = rx.recv().await {
            match e {
                Effect::Install(a) => install(&nl, &a).await,
                Effect::Remove(a) => remove(&nl, &a).await,
                Effect::Gratuitous(b) => {
                    if let Some(f) = frames.clone() {
                        // Bursts with gaps must not hold up later effects.
                        tokio::spawn(burst(f, b));
                    }
                }
                Effect::Notify(n) => notifier.fire(&n),
                Effect::Barrier(done) => {
                    let _ = done.send(());
                }
                Effect::Hook(h) => h().await,
            }
        }
    });
    tx
}

async fn install(nl: &Netlink, a: &Addresses) {
    for (ifindex, spec) in &a.addrs {
        if let Err(e) = nl.add_address(*ifindex, spec).await {
            tracing::error!("cannot add address {}/{}: {e}", spec.addr, spec.prefix);
        }
    }
    for r in &a.routes {
        if let Err(e) = nl.add_route(r).await {
            tracing::error!("cannot add route {}/{}: {e}", r.dst, r.dst_prefix);
        }
    }
    for r in &a.rules {
        if let Err(e) = nl.add_rule(r).await {
            tracing::error!("cannot add rule: {e}");
        }
    }
}

async fn remove(nl: &Netlink, a: &Addresses) {
    for r in &a.rules {
        if let Err(e) = nl.del_rule(r).await {
            tracing::warn!("cannot remove rule: {e}");
        }
    }
    for r in &a.routes {
        if let Err(e) = nl.del_route(r).await {
            tracing::warn!("cannot remove route {}/{}: {e}", r.dst, r.dst_prefix);
        }
    }
    for (ifindex, spec) in &a.addrs {
        if let Err(e) = nl.del_address(*ifindex, spec.addr, spec.prefix).await {
            tracing::warn!("cannot remove address {}/{}: {e}", spec.addr, spec.prefix);
        }
    }
}

async fn burst(frames: Arc<FrameSocket>, b: Burst) {
    for round in 0..b.repeat {
        for a in &b.addrs {
            let frame = match a {
                IpAddr::V4(v4) => garp_frame(b.mac, *v4),
                IpAddr::V6(v6) => na_frame(b.mac, *v6),
            };
            if let Err(e) = frames.send(b.ifindex, &frame) {
                tracing::warn!("cannot send gratuitous ARP/NA for {a}: {e}");
            }
            let gap = if a.is_ipv4() { b.gap_v4 } else { b.gap_v6 };
            if !gap.is_zero() {
                tokio::time::sleep(gap).await;
            }
        }
        let _ = round;
    }
}
