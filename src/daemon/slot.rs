//! One instance's runtime facts, kept beside its engine state in the
//! router's slot: interfaces, VMAC, advert socket, tracking references,
//! and the addresses it installs, resolved to interfaces.

use std::net::IpAddr;
use std::time::SystemTime;

use crate::config::model::VrrpInstance;
use crate::net::socket::TxSocket;
use crate::track::{Evaluation, Reference};

use super::effects::Addresses;
use super::journal::{FaultCause, Journal};

pub struct Slot {
    pub cfg: VrrpInstance,
    /// The interface adverts arrive on and whose state is tracked.
    pub ifname: String,
    pub ifindex: u32,
    /// Where VIPs go and adverts leave from: the VMAC when there is one.
    pub vip_ifname: String,
    pub vip_ifindex: u32,
    pub vmac: Option<(String, [u8; 6])>,
    /// Source MAC of gratuitous ARPs.
    pub mac: [u8; 6],
    pub src: Option<IpAddr>,
    /// The send socket, shared with the instances that send from the
    /// same interface, address and TTL.
    pub tx: Option<std::rc::Rc<TxSocket>>,
    /// VIPs, excluded VIPs, routes and rules, resolved to interfaces.
    pub addresses: Addresses,
    /// Whether the VIPs are installed now.
    pub vips_set: bool,
    pub last_transition: SystemTime,
    /// Left INIT (its unweighted checks have reported).
    pub started: bool,
    /// The tracked objects this instance uses, with weights.
    pub refs: Vec<Reference>,
    /// What tracking said last (changes are fed to the engine).
    pub last_eval: Option<Evaluation>,
    pub warned_no_src: bool,
    /// Its last transitions, with their reasons.
    pub journal: Journal,
    /// What its current (or last) fault was about, for the journal.
    pub fault_cause: FaultCause,
    /// The bytes of its adverts, built once per priority and source.
    pub advert_frames: AdvertFrames,
    /// How often its dropped adverts are logged.
    pub drop_log: LogThrottle,
    /// Its adverts the kernel refused to send, and how often that is logged.
    pub send_errors: u64,
    pub send_log: LogThrottle,
}

/// A kind of event that repeats (a dropped advert, an advert the kernel
/// refused) is logged at most once per [`LogThrottle::QUIET`] per
/// instance: a flood of bad packets (10,000/s in the flood test), or a
/// unicast peer without a route at 100 adverts a second, would otherwise
/// write a log line each. Every one is still counted (status, dumps,
/// metrics); the next line logged says how many were not.
#[derive(Debug, Default)]
pub struct LogThrottle {
    last: Option<std::time::Instant>,
    unlogged: u64,
}

impl LogThrottle {
    pub const QUIET: std::time::Duration = std::time::Duration::from_secs(10);

    /// Whether a drop at `now` is logged, and if so how many went unlogged
    /// before it.
    pub fn admit(&mut self, now: std::time::Instant) -> Option<u64> {
        if self.last.is_some_and(|t| now.duration_since(t) < Self::QUIET) {
            self.unlogged += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.unlogged))
    }
}

/// The adverts last sent, one per destination. An advert changes only
/// with its priority, its source and the configuration (a change in
/// place clears this), so at 10 ms each is built once, not 100 times a
/// second.
#[derive(Debug, Default)]
pub struct AdvertFrames {
    pub key: Option<(u8, IpAddr)>,
    /// Shared with the send queue, which takes them without a copy.
    pub frames: Vec<(IpAddr, std::rc::Rc<[u8]>)>,
}

impl Slot {
    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// The addresses gratuitous ARP / NA announce: VIPs and excluded VIPs.
    pub fn announced(&self) -> Vec<IpAddr> {
        self.cfg
            .vips
            .iter()
            .chain(&self.cfg.excluded_vips)
            .map(|v| v.addr)
            .collect()
    }

    /// Whether the address on this link is one of its VIPs or excluded
    /// VIPs whose deletion it follows (all but `no_track`).
    pub fn tracks_deletion_of(&self, index: u32, addr: IpAddr) -> bool {
        let configured = self.cfg.vips.iter().chain(&self.cfg.excluded_vips);
        configured
            .zip(&self.addresses.addrs)
            .any(|(v, (idx, spec))| !v.no_track && *idx == index && spec.addr == addr)
    }

    /// Counts an advert the kernel refused, and says so (throttled).
    pub fn send_failed(&mut self, f: &super::sockets::SendFailure) {
        self.send_errors += 1;
        let Some(unlogged) = self.send_log.admit(std::time::Instant::now()) else {
            return;
        };
        let name = self.name();
        tracing::warn!("({name}) cannot send advert to {}: {}", f.dst, f.error);
        if unlogged > 0 {
            tracing::warn!(
                "({name}) {unlogged} more adverts could not be sent in the last {} s (advert_send_err in the JSON dump, metrics)",
                LogThrottle::QUIET.as_secs()
            );
        }
    }

    /// The interface adverts are sent from: the VMAC unless `vmac_xmit_base`.
    pub fn tx_interface(&self) -> (&str, u32) {
        match &self.cfg.vmac {
            Some(v) if !v.xmit_base && self.vmac.is_some() => (&self.vip_ifname, self.vip_ifindex),
            _ => (&self.ifname, self.ifindex),
        }
    }
}

#[cfg(test)]
impl Slot {
    /// A slot on interface `ifindex` (named as configured), as the pure
    /// rooms' tests need it: no socket, no VMAC.
    pub fn for_test(cfg: VrrpInstance, ifindex: u32) -> Slot {
        let ifname = cfg.interface.clone().unwrap_or_else(|| "eth0".into());
        let addresses = super::params::addresses(&cfg, ifindex, |_| Some(ifindex));
        Slot {
            vip_ifname: ifname.clone(),
            ifname,
            ifindex,
            vip_ifindex: ifindex,
            vmac: None,
            mac: [2, 0, 0, 0, 0, 1],
            src: None,
            tx: None,
            addresses,
            vips_set: false,
            last_transition: SystemTime::UNIX_EPOCH,
            started: false,
            refs: Vec::new(),
            last_eval: None,
            warned_no_src: false,
            journal: Journal::default(),
            fault_cause: FaultCause::default(),
            advert_frames: AdvertFrames::default(),
            drop_log: LogThrottle::default(),
            send_errors: 0,
            send_log: LogThrottle::default(),
            cfg,
        }
    }
}

#[cfg(test)]
mod drop_log_tests {
    use super::LogThrottle;
    use std::time::{Duration, Instant};

    /// One line per quiet period, whatever the rate; the next line says
    /// how many were held back.
    #[test]
    fn a_flood_of_drops_is_logged_once_per_quiet_period() {
        let t0 = Instant::now();
        let mut log = LogThrottle::default();
        let mut admitted = Vec::new();
        // 10,000 drops a second for 25 s.
        for k in 0..250_000u64 {
            let now = t0 + Duration::from_micros(100 * k);
            if let Some(unlogged) = log.admit(now) {
                admitted.push(((now - t0).as_secs(), unlogged));
            }
        }
        assert_eq!(admitted, [(0, 0), (10, 99_999), (20, 99_999)]);
    }
}
