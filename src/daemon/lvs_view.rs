//! What `status`, `explain` and the data dump show of the load balancer:
//! each virtual server, its real servers, their checkers, and each real
//! server's last ins and outs with the checker's words. Pure: the LVS room
//! fills these from its state; nothing here does I/O.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;

use serde::Serialize;

/// How many ins and outs each real server keeps.
pub const RS_JOURNAL_LEN: usize = 16;

/// The load balancer as `status` shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct View {
    /// Why the kernel's table cannot be programmed, if it cannot.
    pub ipvs_error: Option<String>,
    pub virtual_servers: Vec<VsView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VsView {
    /// keepalived's name for it: `[10.0.0.1]:tcp:80`, `FWM 3`, `[group]:0`.
    pub name: String,
    /// ipvsadm's names of its services (at most 16 of a group's).
    pub services: Vec<String>,
    pub scheduler: String,
    pub method: String,
    pub quorum: u32,
    pub hysteresis: u32,
    pub quorum_held: bool,
    pub live_weight: u64,
    pub real_servers: Vec<RsView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RsView {
    pub address: String,
    pub weight: u32,
    /// "up", "down" or "inhibited" (down, kept at weight 0).
    pub state: &'static str,
    pub in_table: bool,
    pub sorry_server: bool,
    /// Why it is in or out, in the checker's words.
    pub reason: String,
    pub checkers: Vec<CheckerView>,
    /// Its last move in or out, if it made one.
    pub last_change: Option<RsEvent>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckerView {
    pub kind: &'static str,
    pub up: bool,
    /// Seconds between checks (delay_loop).
    pub delay_loop: f64,
    /// Failed checks retried before it is down, and the pause between.
    pub retry: u32,
    pub delay_before_retry: f64,
    pub connect_timeout: f64,
}

/// One move of a real server: in, out, or kept at weight 0.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RsEvent {
    /// Seconds since the epoch.
    pub at: f64,
    /// "up", "down" or "inhibited".
    pub to: &'static str,
    pub reason: String,
}

/// Each real server's last [`RS_JOURNAL_LEN`] moves, by `VS/RS` name.
#[derive(Debug, Clone, Default)]
pub struct RsJournal {
    entries: HashMap<String, VecDeque<RsEvent>>,
}

impl RsJournal {
    pub fn key(vs: &str, rs: &str) -> String {
        format!("{vs}/{rs}")
    }

    pub fn record(&mut self, key: String, e: RsEvent) {
        let q = self.entries.entry(key).or_default();
        if q.len() == RS_JOURNAL_LEN {
            q.pop_front();
        }
        q.push_back(e);
    }

    pub fn last(&self, key: &str) -> Option<&RsEvent> {
        self.entries.get(key).and_then(|q| q.back())
    }

    pub fn of(&self, key: &str) -> Vec<RsEvent> {
        self.entries
            .get(key)
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Forgets real servers a reload removed.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.entries.retain(|k, _| keep(k));
    }
}

/// The names a user may give a virtual server: keepalived's label with or
/// without brackets and protocol, ipvsadm's service names, `fwmark N`,
/// and a group's name.
fn vs_matches(vs: &VsView, name: &str) -> bool {
    let want = name.trim().to_ascii_lowercase();
    let label = vs.name.to_ascii_lowercase();
    let plain = label.replace(['[', ']'], "");
    let mut names = vec![label.clone(), plain.clone()];
    // "10.0.0.1:tcp:80" -> "10.0.0.1:80"
    for p in [":tcp:", ":udp:", ":sctp:"] {
        if plain.contains(p) {
            names.push(plain.replace(p, ":"));
        }
    }
    if let Some(m) = label.strip_prefix("fwm ") {
        names.push(format!("fwmark {m}"));
        names.push(format!("fwmark:{m}"));
        names.push(format!("fwm:{m}"));
    }
    if let Some(g) = plain.strip_suffix(":0") {
        names.push(g.to_string());
    }
    names.extend(vs.services.iter().map(|s| s.to_ascii_lowercase()));
    names.contains(&want)
}

fn rs_matches(rs: &RsView, name: &str) -> bool {
    let want = name.trim();
    rs.address == want
        || rs
            .address
            .rsplit_once(':')
            .is_some_and(|(ip, _)| ip.trim_matches(['[', ']']) == want)
}

/// The virtual server, and the real server if asked for, that `explain NAME`
/// names: `VS` or `VS/RS`.
pub fn find<'a>(view: &'a View, name: &str) -> Option<(&'a VsView, Option<&'a RsView>)> {
    let (vs_name, rs_name) = match name.rsplit_once('/') {
        Some((v, r)) => (v, Some(r)),
        None => (name, None),
    };
    let vs = view.virtual_servers.iter().find(|v| vs_matches(v, vs_name))?;
    match rs_name {
        None => Some((vs, None)),
        Some(r) => vs.real_servers.iter().find(|s| rs_matches(s, r)).map(|s| (vs, Some(s))),
    }
}

fn secs(s: f64) -> String {
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s} s")
    }
}

/// Wall-clock time of an event, as the log shows it (UTC).
fn clock(at: f64) -> String {
    let t = at.max(0.0) as u64 % 86_400;
    format!("{:02}:{:02}:{:02} UTC", t / 3600, t / 60 % 60, t % 60)
}

fn rs_line(vs: &VsView, rs: &RsView) -> String {
    let mut s = if rs.sorry_server {
        format!(
            "Sorry server {} is {}",
            rs.address,
            if rs.in_table { "in" } else { "out" }
        )
    } else {
        match (rs.state, rs.in_table) {
            ("up", true) => format!("{} is in {} at weight {}", rs.address, vs.name, rs.weight),
            ("up", false) => format!("{} is up but out of {}", rs.address, vs.name),
            ("inhibited", _) => format!("{} is in {} at weight 0 (inhibit_on_failure)", rs.address, vs.name),
            _ => format!("{} is out of {}", rs.address, vs.name),
        }
    };
    if !rs.reason.is_empty() {
        let _ = write!(s, ": {}", rs.reason);
    }
    if let Some(e) = &rs.last_change {
        let _ = write!(s, " (since {})", clock(e.at));
    }
    s.push('.');
    s
}

/// Why a virtual server, or one of its real servers, is as it is, from
/// the view's fields (never canned), and what would change it.
pub fn explain(vs: &VsView, rs: Option<&RsView>, history: &[RsEvent]) -> Vec<String> {
    let mut out = Vec::new();
    let Some(rs) = rs else {
        let real: Vec<&RsView> = vs.real_servers.iter().filter(|r| !r.sorry_server).collect();
        let live = real.iter().filter(|r| r.in_table && r.state != "inhibited").count();
        out.push(format!(
            "{} ({}, {}) has {live} of {} real servers serving.",
            vs.name,
            vs.scheduler,
            vs.method,
            real.len()
        ));
        if vs.quorum > 1 || vs.real_servers.iter().any(|r| r.sorry_server) {
            out.push(if vs.quorum_held {
                format!(
                    "Quorum {} is held: the live weight is {} (it is lost below {}).",
                    vs.quorum,
                    vs.live_weight,
                    vs.quorum.saturating_sub(vs.hysteresis)
                )
            } else {
                format!(
                    "Quorum {} is lost: the live weight is {} (it is regained at {}).",
                    vs.quorum,
                    vs.live_weight,
                    vs.quorum + vs.hysteresis
                )
            });
        }
        out.extend(vs.real_servers.iter().map(|r| rs_line(vs, r)));
        return out;
    };
    out.push(rs_line(vs, rs));
    for c in &rs.checkers {
        let every = secs(c.delay_loop);
        out.push(if c.up {
            format!(
                "{} passes; it runs every {every}. {} failed check(s) {} apart take it out.",
                c.kind,
                c.retry + 1,
                secs(c.delay_before_retry)
            )
        } else {
            format!(
                "{} fails; it runs every {every} (timeout {}). One passing check brings it back.",
                c.kind,
                secs(c.connect_timeout)
            )
        });
    }
    if rs.checkers.len() > 1 {
        out.push("It serves only while every checker passes.".into());
    }
    if !history.is_empty() {
        out.push(format!("Its last {} move(s):", history.len()));
        for e in history.iter().rev() {
            out.push(format!("  {} {}: {}", clock(e.at), e.to, e.reason));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checker(up: bool) -> CheckerView {
        CheckerView {
            kind: "TCP_CHECK",
            up,
            delay_loop: 6.0,
            retry: 1,
            delay_before_retry: 1.0,
            connect_timeout: 5.0,
        }
    }

    fn view() -> View {
        let change = RsEvent {
            at: 3_600.0 * 13.0 + 65.0,
            to: "down",
            reason: "TCP_CHECK on service 10.0.0.3:80 failed: connect to 10.0.0.3:80: connection refused".into(),
        };
        View {
            ipvs_error: None,
            virtual_servers: vec![VsView {
                name: "[10.0.0.100]:tcp:80".into(),
                services: vec!["TCP 10.0.0.100:80".into()],
                scheduler: "rr".into(),
                method: "NAT".into(),
                quorum: 2,
                hysteresis: 0,
                quorum_held: false,
                live_weight: 1,
                real_servers: vec![
                    RsView {
                        address: "10.0.0.2:80".into(),
                        weight: 1,
                        state: "up",
                        in_table: true,
                        sorry_server: false,
                        reason: "TCP connection to 10.0.0.2:80 success".into(),
                        checkers: vec![checker(true)],
                        last_change: None,
                    },
                    RsView {
                        address: "10.0.0.3:80".into(),
                        weight: 1,
                        state: "down",
                        in_table: false,
                        sorry_server: false,
                        reason: change.reason.clone(),
                        checkers: vec![checker(false)],
                        last_change: Some(change),
                    },
                ],
            }],
        }
    }

    #[test]
    fn a_virtual_server_is_found_by_any_of_its_names() {
        let v = view();
        for name in [
            "[10.0.0.100]:tcp:80",
            "10.0.0.100:80",
            "TCP 10.0.0.100:80",
            "10.0.0.100:tcp:80",
        ] {
            assert!(find(&v, name).is_some(), "{name}");
        }
        let (_, rs) = find(&v, "10.0.0.100:80/10.0.0.3").unwrap();
        assert_eq!(rs.unwrap().address, "10.0.0.3:80");
        assert!(find(&v, "10.0.0.100:81").is_none());
        assert!(find(&v, "10.0.0.100:80/10.0.0.9:80").is_none());
    }

    #[test]
    fn explain_speaks_from_the_view() {
        let v = view();
        let vs = &v.virtual_servers[0];
        let lines = explain(vs, None, &[]);
        assert_eq!(
            lines[0],
            "[10.0.0.100]:tcp:80 (rr, NAT) has 1 of 2 real servers serving."
        );
        assert_eq!(
            lines[1],
            "Quorum 2 is lost: the live weight is 1 (it is regained at 2)."
        );
        assert!(
            lines[3].starts_with("10.0.0.3:80 is out of [10.0.0.100]:tcp:80: TCP_CHECK on service"),
            "{}",
            lines[3]
        );
        assert!(lines[3].ends_with("(since 13:01:05 UTC)."), "{}", lines[3]);
        let rs = &vs.real_servers[1];
        let lines = explain(vs, Some(rs), &[rs.last_change.clone().unwrap()]);
        assert_eq!(
            lines[1],
            "TCP_CHECK fails; it runs every 6 s (timeout 5 s). One passing check brings it back."
        );
        assert!(lines[3].starts_with("  13:01:05 UTC down: TCP_CHECK"), "{}", lines[3]);
    }

    #[test]
    fn the_journal_keeps_the_last_moves() {
        let mut j = RsJournal::default();
        for i in 0..RS_JOURNAL_LEN + 3 {
            j.record(
                RsJournal::key("vs", "rs"),
                RsEvent {
                    at: i as f64,
                    to: "up",
                    reason: String::new(),
                },
            );
        }
        let all = j.of("vs/rs");
        assert_eq!(all.len(), RS_JOURNAL_LEN);
        assert_eq!(all[0].at, 3.0);
        assert_eq!(j.last("vs/rs").unwrap().at, (RS_JOURNAL_LEN + 2) as f64);
        j.retain(|_| false);
        assert!(j.of("vs/rs").is_empty());
    }
}
