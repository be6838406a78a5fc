//! GTID positions and the catch-up comparison between two servers.
//!
//! MariaDB: a position is one `domain-server-seq` per domain; within a
//! domain sequence numbers grow and every server logs them in the same
//! order. "Behind" is what the peer has binlogged that this server has not
//! applied; "ahead" is what this server has binlogged that the peer has not
//! applied; the same sequence number with another server id in one domain
//! means the histories diverged. MySQL 8 uses GTID sets instead; the server
//! compares those itself (`GTID_SUBSET` / `GTID_SUBTRACT`, see status.rs).

use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gtid {
    pub domain: u32,
    pub server: u32,
    pub seq: u64,
}

/// One GTID per domain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Position(pub BTreeMap<u32, Gtid>);

impl Position {
    /// Parses `1-10-5,2-20-3` (empty = no transactions).
    pub fn parse(text: &str) -> Result<Position, String> {
        let mut map = BTreeMap::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let mut it = part.split('-');
            let (Some(d), Some(s), Some(q), None) = (it.next(), it.next(), it.next(), it.next()) else {
                return Err(format!("'{part}' is not a GTID (domain-server-sequence)"));
            };
            let g = Gtid {
                domain: d.parse().map_err(|_| format!("bad domain in GTID '{part}'"))?,
                server: s.parse().map_err(|_| format!("bad server id in GTID '{part}'"))?,
                seq: q.parse().map_err(|_| format!("bad sequence number in GTID '{part}'"))?,
            };
            map.insert(g.domain, g);
        }
        Ok(Position(map))
    }

    /// The GTIDs `MASTER_GTID_WAIT` can wait for on a server with id
    /// `own_server`: those written by other servers. A domain whose last
    /// transaction is this server's own write is left out — replication
    /// does not advance `gtid_slave_pos` for it until it comes back round
    /// the ring, so waiting on it would time out (a verified pitfall).
    pub fn wait_list(&self, own_server: u32) -> String {
        self.others(own_server).to_string()
    }
}

impl Position {
    /// The furthest GTID per domain of several positions (the relay logs
    /// of several links).
    pub fn furthest<'a>(positions: impl IntoIterator<Item = &'a Position>) -> Position {
        let mut out = Position::default();
        for p in positions {
            for g in p.0.values() {
                let e = out.0.entry(g.domain).or_insert(*g);
                if g.seq > e.seq {
                    *e = *g;
                }
            }
        }
        out
    }

    /// How many transactions of `self` (per domain, by sequence number)
    /// `applied` has not reached.
    pub fn pending_after(&self, applied: &Position) -> u64 {
        self.0
            .values()
            .map(|g| g.seq.saturating_sub(applied.0.get(&g.domain).map_or(0, |a| a.seq)))
            .sum()
    }

    /// Only the domains whose last GTID another server wrote (see
    /// [`Position::wait_list`]).
    pub fn others(&self, own_server: u32) -> Position {
        Position(
            self.0
                .iter()
                .filter(|(_, g)| g.server != own_server)
                .map(|(d, g)| (*d, *g))
                .collect(),
        )
    }
}

impl fmt::Display for Gtid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.domain, self.server, self.seq)
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v: Vec<String> = self.0.values().map(|g| g.to_string()).collect();
        f.write_str(&v.join(","))
    }
}

/// How this server stands against its peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Transactions the peer has written that this server lacks.
    pub behind: u64,
    /// Transactions this server has written that the peer lacks.
    pub ahead: u64,
    /// Domains where both have the same sequence number from different
    /// servers: the histories differ and an admin must decide.
    pub diverged: Vec<u32>,
}

impl Comparison {
    pub fn caught_up(&self) -> bool {
        self.behind == 0 && self.ahead == 0 && self.diverged.is_empty()
    }
}

/// Compares this server's `gtid_current_pos`/`gtid_binlog_pos` with the
/// peer's.
pub fn compare(
    own_current: &Position,
    own_binlog: &Position,
    peer_current: &Position,
    peer_binlog: &Position,
) -> Comparison {
    let mut c = Comparison::default();
    for (d, p) in &peer_binlog.0 {
        match own_current.0.get(d) {
            None => c.behind += p.seq,
            Some(o) if o.seq < p.seq => c.behind += p.seq - o.seq,
            Some(o) if o.seq == p.seq && o.server != p.server => c.diverged.push(*d),
            Some(_) => {}
        }
    }
    for (d, o) in &own_binlog.0 {
        match peer_current.0.get(d) {
            None => c.ahead += o.seq,
            Some(p) if p.seq < o.seq => c.ahead += o.seq - p.seq,
            Some(p) if p.seq == o.seq && p.server != o.server && !c.diverged.contains(d) => c.diverged.push(*d),
            Some(_) => {}
        }
    }
    c
}

/// Per domain: how many transactions this server lacks of the peer's
/// (behind) and the peer lacks of this server's (ahead), for the metrics.
pub fn per_domain(
    own_current: &Position,
    own_binlog: &Position,
    peer_current: &Position,
    peer_binlog: &Position,
) -> BTreeMap<u32, (u64, u64)> {
    let lack = |have: &Position, d: &u32, seq: u64| seq.saturating_sub(have.0.get(d).map_or(0, |g| g.seq));
    let mut out = BTreeMap::new();
    for (d, p) in &peer_binlog.0 {
        out.entry(*d).or_insert((0, 0)).0 = lack(own_current, d, p.seq);
    }
    for (d, o) in &own_binlog.0 {
        out.entry(*d).or_insert((0, 0)).1 = lack(peer_current, d, o.seq);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_domain_counts_what_each_side_lacks() {
        let own = p("1-10-100,2-20-50");
        let peer = p("1-10-90,2-20-58,3-30-4");
        let d = per_domain(&own, &own, &peer, &peer);
        assert_eq!(d.get(&1), Some(&(0, 10)));
        assert_eq!(d.get(&2), Some(&(8, 0)));
        assert_eq!(d.get(&3), Some(&(4, 0)));
    }

    fn p(s: &str) -> Position {
        Position::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The relay logs of two links end at 1-10-40 and 2-20-7; the SQL
    /// thread has applied 1-10-35 and all of domain 2.
    #[test]
    fn relay_log_pending_is_what_the_io_thread_has_beyond_the_applied() {
        let target = Position::furthest([&p("1-10-40,2-20-5"), &p("2-20-7")]);
        assert_eq!(target.to_string(), "1-10-40,2-20-7");
        assert_eq!(target.pending_after(&p("1-10-35,2-20-7")), 5);
        assert_eq!(target.pending_after(&p("1-10-40,2-20-9")), 0);
        assert_eq!(target.pending_after(&p("2-20-7")), 40, "nothing of domain 1 applied");
        // The own domain's last GTID coming back round the ring is left out.
        assert_eq!(p("0-20-9,1-10-4").others(20).to_string(), "1-10-4");
        assert_eq!(Position::furthest([]).pending_after(&p("1-10-1")), 0);
    }

    #[test]
    fn parses_and_prints_positions() {
        assert_eq!(p("1-10-183585,2-20-3002").to_string(), "1-10-183585,2-20-3002");
        assert_eq!(p(""), Position::default());
        assert!(Position::parse("1-10").is_err());
        assert!(Position::parse("x-1-2").is_err());
    }

    #[test]
    fn equal_positions_are_caught_up() {
        let a = p("0-20-17");
        assert!(compare(&a, &a, &a, &a).caught_up());
    }

    #[test]
    fn backlog_on_the_peer_is_behind() {
        // B wrote 3,000 transactions in its domain while A was down.
        let c = compare(
            &p("1-10-50,2-20-2"),
            &p("1-10-50,2-20-2"),
            &p("1-10-50,2-20-3002"),
            &p("1-10-50,2-20-3002"),
        );
        assert_eq!((c.behind, c.ahead), (3000, 0));
        assert!(!c.caught_up());
    }

    #[test]
    fn an_unreplicated_tail_is_ahead() {
        // A wrote 1-10-51..53 that never reached B before A died.
        let c = compare(&p("1-10-53"), &p("1-10-53"), &p("1-10-50"), &p("1-10-50"));
        assert_eq!((c.behind, c.ahead), (0, 3));
    }

    #[test]
    fn same_sequence_from_another_server_is_divergence() {
        // Single domain 0: both wrote 0-x-7 independently.
        let c = compare(&p("0-10-7"), &p("0-10-7"), &p("0-20-7"), &p("0-20-7"));
        assert_eq!(c.diverged, vec![0]);
        assert!(!c.caught_up());
    }

    #[test]
    fn own_writes_are_left_out_of_the_wait_list() {
        assert_eq!(p("1-10-50,2-20-3002").wait_list(10), "2-20-3002");
        assert_eq!(p("0-10-9").wait_list(10), "");
        assert_eq!(p("0-20-9").wait_list(10), "0-20-9");
    }
}
