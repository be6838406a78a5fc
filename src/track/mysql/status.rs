//! What the probe asks a server and how it reads the answers, for MariaDB
//! 10.x and MySQL 8 behind one interface. Rows are read by column name
//! through [`Columns`], so recorded result sets test the logic without a
//! server.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

/// A row as column → text (recorded result sets, rarely-run queries).
pub type Row = HashMap<String, Option<String>>;

/// A result row read by column name, as text (NULL and absent: `None`).
pub trait Columns {
    fn text(&self, column: &str) -> Option<Cow<'_, str>>;
    /// The column's text, empty when NULL or absent.
    fn string(&self, column: &str) -> String {
        self.text(column).map(Cow::into_owned).unwrap_or_default()
    }
}

impl Columns for Row {
    fn text(&self, column: &str) -> Option<Cow<'_, str>> {
        self.get(column)?.as_deref().map(Cow::Borrowed)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    MariaDb,
    MySql,
}

impl Flavor {
    /// From `SELECT VERSION()`.
    pub fn from_version(v: &str) -> Flavor {
        if v.to_ascii_lowercase().contains("mariadb") {
            Flavor::MariaDb
        } else {
            Flavor::MySql
        }
    }

    /// The server variables, one row; columns named as `Server` reads them.
    pub fn variables_sql(self) -> &'static str {
        match self {
            Flavor::MariaDb => {
                "SELECT @@global.read_only AS read_only, @@global.server_id AS server_id, \
                 @@global.gtid_domain_id AS domain, @@global.gtid_binlog_pos AS binlog_pos, \
                 @@global.gtid_current_pos AS current_pos, \
                 (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_VARIABLES \
                  WHERE VARIABLE_NAME = 'RPL_SEMI_SYNC_MASTER_ENABLED') AS semi_sync, \
                 (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_VARIABLES \
                  WHERE VARIABLE_NAME = 'RPL_SEMI_SYNC_SLAVE_ENABLED') AS semi_sync_replica"
            }
            Flavor::MySql => {
                "SELECT @@global.read_only AS read_only, @@global.server_id AS server_id, \
                 NULL AS domain, @@global.gtid_executed AS binlog_pos, @@global.gtid_executed AS current_pos"
            }
        }
    }

    /// The master side of semi-sync, as rows of (name, value): whether it
    /// still waits for acknowledgements (OFF: it fell back to asynchronous
    /// replication) and how many semi-sync replicas it counts.
    pub fn semi_sync_status_sql(self) -> Option<&'static str> {
        match self {
            Flavor::MariaDb => Some(
                "SELECT VARIABLE_NAME AS name, VARIABLE_VALUE AS value FROM information_schema.GLOBAL_STATUS \
                 WHERE VARIABLE_NAME IN ('RPL_SEMI_SYNC_MASTER_STATUS', 'RPL_SEMI_SYNC_MASTER_CLIENTS')",
            ),
            Flavor::MySql => None,
        }
    }

    /// Switches the master side of semi-sync on or off (MariaDB: needs
    /// REPLICATION MASTER ADMIN or SUPER).
    pub fn semi_sync_enable_sql(self, on: bool) -> Option<&'static str> {
        match (self, on) {
            (Flavor::MariaDb, true) => Some("SET GLOBAL rpl_semi_sync_master_enabled = ON"),
            (Flavor::MariaDb, false) => Some("SET GLOBAL rpl_semi_sync_master_enabled = OFF"),
            (Flavor::MySql, _) => None,
        }
    }

    /// Every replication link of the server.
    pub fn links_sql(self) -> &'static str {
        match self {
            Flavor::MariaDb => "SHOW ALL SLAVES STATUS",
            Flavor::MySql => "SHOW REPLICA STATUS",
        }
    }

    /// Application sessions to end when fencing: not replication, not
    /// system threads, not this probe's own account, not the local
    /// socket's (an administrator's; the application comes over TCP).
    pub fn sessions_sql(self, probe_user: &str) -> String {
        let user = probe_user.replace('\'', "''");
        format!(
            "SELECT id FROM information_schema.PROCESSLIST WHERE id <> CONNECTION_ID() \
             AND user NOT IN ('system user', 'event_scheduler', '{user}') \
             AND host <> 'localhost' \
             AND command NOT IN ('Binlog Dump', 'Binlog Dump GTID', 'Daemon', 'Slave_IO', 'Slave_SQL', 'Slave_worker')"
        )
    }

    /// Sets `read_only` (MySQL 8 also `super_read_only`, which blocks
    /// SUPER users too).
    pub fn read_only_sql(self, on: bool) -> &'static str {
        match (self, on) {
            (Flavor::MariaDb, true) => "SET GLOBAL read_only = ON",
            (Flavor::MariaDb, false) => "SET GLOBAL read_only = OFF",
            (Flavor::MySql, true) => "SET GLOBAL super_read_only = ON",
            (Flavor::MySql, false) => "SET GLOBAL super_read_only = OFF, GLOBAL read_only = OFF",
        }
    }

    /// Stops one link's IO thread (its SQL thread goes on applying).
    pub fn stop_io_sql(self, connection: &str) -> String {
        let c = connection.replace('\'', "''");
        match self {
            Flavor::MariaDb if c.is_empty() => "STOP SLAVE IO_THREAD".into(),
            Flavor::MariaDb => format!("STOP SLAVE '{c}' IO_THREAD"),
            Flavor::MySql => format!("STOP REPLICA IO_THREAD FOR CHANNEL '{c}'"),
        }
    }

    /// Restarts one link's IO thread (it reconnects at once): one batch,
    /// so the server starts the thread again even when the client is gone
    /// by the time the stop returns.
    pub fn restart_io_sql(self, connection: &str) -> String {
        let c = connection.replace('\'', "''");
        match self {
            Flavor::MariaDb if c.is_empty() => "STOP SLAVE IO_THREAD; START SLAVE IO_THREAD".into(),
            Flavor::MariaDb => format!("STOP SLAVE '{c}' IO_THREAD; START SLAVE '{c}' IO_THREAD"),
            Flavor::MySql => {
                format!("STOP REPLICA IO_THREAD FOR CHANNEL '{c}'; START REPLICA IO_THREAD FOR CHANNEL '{c}'")
            }
        }
    }

    /// Waits up to `timeout` until this server has applied `position`;
    /// the query returns 0 when it has.
    pub fn wait_sql(self, position: &str, timeout: Duration) -> String {
        let p = position.replace('\'', "");
        let t = timeout.as_secs_f64();
        match self {
            Flavor::MariaDb => format!("SELECT MASTER_GTID_WAIT('{p}', {t:.3})"),
            Flavor::MySql => format!("SELECT WAIT_FOR_EXECUTED_GTID_SET('{p}', {t:.3})"),
        }
    }

    /// MySQL 8: (behind, ahead) of this server against the peer's
    /// `gtid_executed`, computed by the server: behind = the peer's set is
    /// not a subset of ours; ahead = what ours has beyond the peer's.
    pub fn mysql_compare_sql(peer_executed: &str) -> String {
        let p = peer_executed.replace('\'', "");
        format!(
            "SELECT GTID_SUBSET('{p}', @@global.gtid_executed) AS have_all, \
             GTID_SUBTRACT(@@global.gtid_executed, '{p}') AS extra"
        )
    }
}

/// `SHOW … STATUS` variables of one server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Variables {
    pub read_only: bool,
    pub server_id: u32,
    pub domain: Option<u32>,
    pub binlog_pos: String,
    pub current_pos: String,
    /// Semi-synchronous replication is enabled on the master side
    /// (MariaDB's semi-sync; None where it is not read or not built).
    pub semi_sync: Option<bool>,
    /// … and on the replica side: a server set up for semi-sync both
    /// ways, as dual masters are.
    pub semi_sync_replica: Option<bool>,
}

/// The master side of semi-sync, from [`Flavor::semi_sync_status_sql`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SemiSyncStatus {
    /// Still waiting for acknowledgements (not fallen back).
    pub active: Option<bool>,
    /// Semi-sync replicas connected (a dead host's still count until TCP
    /// gives up on them).
    pub clients: Option<u64>,
}

pub fn read_semi_sync_status(rows: &[impl Columns]) -> SemiSyncStatus {
    let mut s = SemiSyncStatus::default();
    for r in rows {
        let value = r.string("value");
        match r.string("name").to_ascii_uppercase().as_str() {
            "RPL_SEMI_SYNC_MASTER_STATUS" => s.active = Some(value == "ON"),
            "RPL_SEMI_SYNC_MASTER_CLIENTS" => s.clients = value.parse().ok(),
            _ => {}
        }
    }
    s
}

pub fn read_variables(row: &impl Columns) -> Variables {
    let parse = |k: &str| row.text(k).and_then(|v| v.parse().ok());
    // Long GTID lists come wrapped over lines.
    let position = |k: &str| match row.text(k) {
        Some(v) if v.contains('\n') => v.replace('\n', ""),
        Some(v) => v.into_owned(),
        None => String::new(),
    };
    Variables {
        read_only: matches!(row.text("read_only").as_deref(), Some("1" | "ON")),
        server_id: parse("server_id").unwrap_or(0),
        domain: parse("domain"),
        binlog_pos: position("binlog_pos"),
        current_pos: position("current_pos"),
        semi_sync: row.text("semi_sync").map(|v| matches!(v.as_ref(), "1" | "ON")),
        semi_sync_replica: row.text("semi_sync_replica").map(|v| matches!(v.as_ref(), "1" | "ON")),
    }
}

/// One replication link.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    pub master: String,
    pub io_running: String,
    pub sql_running: String,
    pub io_errno: u32,
    pub io_error: String,
    pub sql_errno: u32,
    pub sql_error: String,
    pub lag: Option<u64>,
    /// What the IO thread has received (MariaDB `Gtid_IO_Pos`, MySQL
    /// `Retrieved_Gtid_Set`): the relay log's end.
    pub io_pos: String,
}

impl Link {
    /// The IO thread is retrying because it cannot reach its master
    /// (client errors 2003/2005/2006/2013), with the SQL thread healthy.
    pub fn master_unreachable(&self) -> bool {
        matches!(self.io_running.as_str(), "Connecting" | "Preparing")
            && matches!(self.io_errno, 0 | 2003 | 2005 | 2006 | 2013)
            && self.sql_running == "Yes"
            && self.sql_errno == 0
    }

    /// The IO thread stopped on an error of its own (MariaDB retries only
    /// network errors; a relay-log write failure, 1595, after a hung
    /// master resumed stops it for good), with the SQL thread healthy.
    /// Restarting it is safe: it fetches again from its GTID position,
    /// and the SQL thread skips what it already applied.
    pub fn io_stopped_by_error(&self) -> bool {
        self.io_running == "No" && self.io_errno != 0 && self.sql_running == "Yes" && self.sql_errno == 0
    }

    /// The IO thread stopped without an error while the SQL thread runs:
    /// a `STOP SLAVE IO_THREAD` (an administrator's, or the first half of
    /// a restart that did not finish).
    pub fn io_stopped_cleanly(&self) -> bool {
        self.io_running == "No" && self.io_errno == 0 && self.sql_running == "Yes" && self.sql_errno == 0
    }
}

pub fn read_link(flavor: Flavor, row: &impl Columns) -> Link {
    let s = |k: &str| row.string(k);
    let number = |k: &str| row.text(k).and_then(|v| v.parse().ok());
    let (io, sql, lag, name) = match flavor {
        Flavor::MariaDb => (
            "Slave_IO_Running",
            "Slave_SQL_Running",
            "Seconds_Behind_Master",
            "Connection_name",
        ),
        Flavor::MySql => (
            "Replica_IO_Running",
            "Replica_SQL_Running",
            "Seconds_Behind_Source",
            "Channel_Name",
        ),
    };
    let (host, port, io_pos) = match flavor {
        Flavor::MariaDb => ("Master_Host", "Master_Port", "Gtid_IO_Pos"),
        Flavor::MySql => ("Source_Host", "Source_Port", "Retrieved_Gtid_Set"),
    };
    Link {
        name: s(name),
        master: format!(
            "{}:{}",
            row.text(host).unwrap_or_default(),
            row.text(port).unwrap_or_default()
        ),
        io_running: s(io),
        sql_running: s(sql),
        io_errno: number("Last_IO_Errno").unwrap_or(0),
        io_error: s("Last_IO_Error"),
        sql_errno: number("Last_SQL_Errno").unwrap_or(0),
        sql_error: s("Last_SQL_Error"),
        lag: row.text(lag).and_then(|v| v.parse().ok()),
        io_pos: s(io_pos).replace('\n', ""),
    }
}

/// Health with `require_replication`: at least one link, each running
/// without an error, lag within `max_lag`. The error names the link and
/// quotes the server's message (1236, 1950, 1062 … need an admin).
pub fn replication_health(links: &[Link], max_lag: Option<Duration>) -> Result<(), String> {
    if links.is_empty() {
        return Err("no replication configured".into());
    }
    for l in links {
        let who = if l.name.is_empty() {
            format!("replication from {}", l.master)
        } else {
            format!("replication '{}' from {}", l.name, l.master)
        };
        if l.master_unreachable() {
            // The master's server is down or cut off: the link waits for
            // it. That is the peer's failure, not this server's; the guard
            // probes the peer directly.
            continue;
        }
        if l.io_errno != 0 {
            return Err(format!("{who}: IO error {}: {}", l.io_errno, l.io_error));
        }
        if l.sql_errno != 0 {
            return Err(format!("{who}: SQL error {}: {}", l.sql_errno, l.sql_error));
        }
        if l.io_running != "Yes" {
            return Err(format!("{who}: IO thread {}", l.io_running));
        }
        if l.sql_running != "Yes" {
            return Err(format!("{who}: SQL thread {}", l.sql_running));
        }
        if let (Some(max), Some(lag)) = (max_lag, l.lag) {
            if Duration::from_secs(lag) > max {
                return Err(format!("{who}: {lag} s behind (max_lag {} s)", max.as_secs_f64()));
            }
        }
    }
    Ok(())
}

/// Without `require_replication`: only the lag of running links counts.
pub fn lag_health(links: &[Link], max_lag: Option<Duration>) -> Result<(), String> {
    let running: Vec<Link> = links
        .iter()
        .filter(|l| l.io_running == "Yes" && l.sql_running == "Yes")
        .cloned()
        .collect();
    if running.is_empty() {
        return Ok(());
    }
    replication_health(&running, max_lag)
}

pub fn links_json(links: &[Link]) -> Value {
    Value::Array(
        links
            .iter()
            .map(|l| {
                json!({
                    "name": l.name, "master": l.master, "io_running": l.io_running,
                    "sql_running": l.sql_running, "last_io_errno": l.io_errno,
                    "last_sql_errno": l.sql_errno, "seconds_behind": l.lag,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_io_thread_restart_is_one_batch_stop_first() {
        assert_eq!(
            Flavor::MariaDb.restart_io_sql("from_b"),
            "STOP SLAVE 'from_b' IO_THREAD; START SLAVE 'from_b' IO_THREAD"
        );
        assert_eq!(
            Flavor::MariaDb.restart_io_sql(""),
            "STOP SLAVE IO_THREAD; START SLAVE IO_THREAD"
        );
        assert_eq!(
            Flavor::MySql.restart_io_sql("it's"),
            "STOP REPLICA IO_THREAD FOR CHANNEL 'it''s'; START REPLICA IO_THREAD FOR CHANNEL 'it''s'"
        );
    }

    /// Which stopped links the probe restarts: a network wait or an IO
    /// error of the IO thread's own; never a link whose SQL thread failed
    /// (that needs an admin) nor one stopped by hand (no error).
    #[test]
    fn which_links_are_restarted() {
        let link = |io: &str, io_errno, sql: &str, sql_errno| Link {
            io_running: io.into(),
            io_errno,
            sql_running: sql.into(),
            sql_errno,
            ..Link::default()
        };
        let relay_write = link("No", 1595, "Yes", 0);
        assert!(relay_write.io_stopped_by_error() && !relay_write.master_unreachable());
        let waiting = link("Connecting", 2003, "Yes", 0);
        assert!(waiting.master_unreachable() && !waiting.io_stopped_by_error());
        for l in [
            link("No", 0, "Yes", 0),
            link("No", 1595, "No", 1062),
            link("Yes", 0, "Yes", 0),
        ] {
            assert!(!l.io_stopped_by_error() && !l.master_unreachable(), "{l:?}");
        }
        // Stopped by hand, or by a restart of ours that ran its STOP and
        // not its START: only the latter is restarted (the probe knows).
        assert!(link("No", 0, "Yes", 0).io_stopped_cleanly());
        for l in [
            link("No", 1595, "Yes", 0),
            link("No", 0, "No", 0),
            link("Yes", 0, "Yes", 0),
        ] {
            assert!(!l.io_stopped_cleanly(), "{l:?}");
        }
    }

    fn row(pairs: &[(&str, Option<&str>)]) -> Row {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect()
    }

    /// Recorded from MariaDB 10.11 `SHOW ALL SLAVES STATUS` (the columns
    /// the probe reads), replication broken by a duplicate key.
    fn mariadb_1062() -> Row {
        row(&[
            ("Connection_name", Some("")),
            ("Master_Host", Some("172.16.10.30")),
            ("Master_Port", Some("3306")),
            ("Slave_IO_Running", Some("Yes")),
            ("Slave_SQL_Running", Some("No")),
            ("Last_IO_Errno", Some("0")),
            ("Last_IO_Error", Some("")),
            ("Last_SQL_Errno", Some("1062")),
            (
                "Last_SQL_Error",
                Some("Could not execute Write_rows_v1 event on table hellodb.students; Duplicate entry '26' for key 'PRIMARY', Error_code: 1062"),
            ),
            ("Seconds_Behind_Master", None),
            ("Gtid_IO_Pos", Some("0-10-40")),
        ])
    }

    #[test]
    fn mariadb_replication_error_is_reported_with_its_text() {
        let l = read_link(Flavor::MariaDb, &mariadb_1062());
        let e = replication_health(&[l], None).unwrap_err();
        assert!(
            e.contains("172.16.10.30:3306") && e.contains("SQL error 1062") && e.contains("Duplicate entry"),
            "{e}"
        );
    }

    #[test]
    fn mariadb_1236_on_the_io_thread() {
        let mut r = mariadb_1062();
        r.insert("Slave_IO_Running".into(), Some("No".into()));
        r.insert("Slave_SQL_Running".into(), Some("Yes".into()));
        r.insert("Last_SQL_Errno".into(), Some("0".into()));
        r.insert("Last_IO_Errno".into(), Some("1236".into()));
        r.insert(
            "Last_IO_Error".into(),
            Some("Got fatal error 1236 from master when reading data from binary log: 'Error: connecting slave requested to start from GTID 0-10-7, which is not in the master's binlog'".into()),
        );
        let e = replication_health(&[read_link(Flavor::MariaDb, &r)], None).unwrap_err();
        assert!(
            e.contains("IO error 1236") && e.contains("not in the master's binlog"),
            "{e}"
        );
    }

    #[test]
    fn connecting_is_not_healthy_and_lag_is_bounded() {
        let mut r = mariadb_1062();
        r.insert("Slave_SQL_Running".into(), Some("Yes".into()));
        r.insert("Last_SQL_Errno".into(), Some("0".into()));
        r.insert("Slave_IO_Running".into(), Some("Connecting".into()));
        r.insert("Last_IO_Errno".into(), Some("2003".into()));
        assert!(
            replication_health(&[read_link(Flavor::MariaDb, &r)], None).is_ok(),
            "the master is down: its failure, not ours"
        );
        r.insert("Slave_IO_Running".into(), Some("No".into()));
        assert!(replication_health(&[read_link(Flavor::MariaDb, &r)], None)
            .unwrap_err()
            .contains("IO error 2003"));
        r.insert("Last_IO_Errno".into(), Some("0".into()));
        r.insert("Slave_IO_Running".into(), Some("Yes".into()));
        r.insert("Seconds_Behind_Master".into(), Some("45".into()));
        let l = read_link(Flavor::MariaDb, &r);
        assert!(replication_health(std::slice::from_ref(&l), Some(Duration::from_secs(30))).is_err());
        assert!(replication_health(&[l], Some(Duration::from_secs(60))).is_ok());
        assert!(replication_health(&[], None).is_err(), "no link at all");
    }

    /// Recorded from MySQL 8.0 `SHOW REPLICA STATUS` (columns read).
    #[test]
    fn mysql8_replica_status() {
        let r = row(&[
            ("Channel_Name", Some("")),
            ("Source_Host", Some("10.0.0.2")),
            ("Source_Port", Some("3306")),
            ("Replica_IO_Running", Some("Yes")),
            ("Replica_SQL_Running", Some("Yes")),
            ("Last_IO_Errno", Some("0")),
            ("Last_IO_Error", Some("")),
            ("Last_SQL_Errno", Some("0")),
            ("Last_SQL_Error", Some("")),
            ("Seconds_Behind_Source", Some("0")),
            ("Executed_Gtid_Set", Some("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5")),
        ]);
        let l = read_link(Flavor::MySql, &r);
        assert_eq!(l.master, "10.0.0.2:3306");
        assert_eq!(l.lag, Some(0));
        assert!(replication_health(&[l], Some(Duration::from_secs(1))).is_ok());
        assert!(Flavor::mysql_compare_sql("uuid:1-5").contains("GTID_SUBSET('uuid:1-5', @@global.gtid_executed)"));
        assert_eq!(Flavor::MySql.read_only_sql(true), "SET GLOBAL super_read_only = ON");
        assert!(Flavor::MySql
            .wait_sql("u:1-5", Duration::from_millis(1500))
            .starts_with("SELECT WAIT_FOR_EXECUTED_GTID_SET('u:1-5', 1.500)"));
    }

    #[test]
    fn flavor_and_variables() {
        assert_eq!(Flavor::from_version("10.11.14-MariaDB-0+deb12u2-log"), Flavor::MariaDb);
        assert_eq!(Flavor::from_version("8.0.36"), Flavor::MySql);
        let v = read_variables(&row(&[
            ("read_only", Some("1")),
            ("server_id", Some("10")),
            ("domain", Some("1")),
            ("binlog_pos", Some("1-10-5,2-20-3")),
            ("current_pos", Some("1-10-5,2-20-3")),
        ]));
        assert!(v.read_only);
        assert_eq!((v.server_id, v.domain, v.semi_sync), (10, Some(1), None));
        let semi = |on: &str| read_variables(&row(&[("semi_sync", Some(on))])).semi_sync;
        assert_eq!((semi("1"), semi("0")), (Some(true), Some(false)));
        assert_eq!((semi("ON"), semi("OFF")), (Some(true), Some(false)));
        // A server without semi-sync (a MariaDB before 10.3 without the
        // plugin) answers NULL: not read, no error.
        assert_eq!(read_variables(&row(&[("semi_sync", None)])).semi_sync, None);
        let status = read_semi_sync_status(&[
            row(&[("name", Some("RPL_SEMI_SYNC_MASTER_STATUS")), ("value", Some("OFF"))]),
            row(&[("name", Some("RPL_SEMI_SYNC_MASTER_CLIENTS")), ("value", Some("1"))]),
        ]);
        assert_eq!((status.active, status.clients), (Some(false), Some(1)));
        assert_eq!(read_semi_sync_status(&Vec::<Row>::new()), SemiSyncStatus::default());
        assert!(Flavor::MariaDb
            .wait_sql("2-20-3", Duration::from_secs(60))
            .contains("MASTER_GTID_WAIT('2-20-3', 60.000)"));
        assert!(Flavor::MariaDb.sessions_sql("chk").contains("'chk'"));
    }
}
