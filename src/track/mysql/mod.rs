//! `check_mysql`: the built-in MySQL/MariaDB probe, one more kind of
//! [`Check`]. One persistent connection per server (the local one and, for
//! the catch-up guard, the peer), every call under the check's timeout; a
//! connection that drops while idle is a failure at once, because between
//! probes the local connection waits in `DO SLEEP(…)` on the server, so a
//! dead mysqld ends that wait within milliseconds.
//!
//! The guard keeps the instances that track the check from preempting a
//! live master (through the engine's preemption hold) until this server
//! has everything the peer wrote and the peer everything this server
//! wrote; then it freezes the peer (`read_only`, sessions ended), waits
//! for the peer's final position, makes this server writable and releases
//! the hold. Fencing keeps the local server `read_only` while no tracking
//! instance is MASTER.

pub mod gtid;
pub mod policy;
pub mod status;

use std::borrow::Cow;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Value as SqlValue};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::model::{CheckCommon, MysqlSettings};

use super::check::{Check, Outcome, Reporter};
use gtid::{compare, Comparison, Position};
use policy::{FenceInput, FenceStep, GuardInput, GuardStep, Peer, Settle, Verdict};
use status::{read_link, read_variables, replication_health, Columns, Flavor, Link, Row, Variables};

/// What the daemon tells the probe about the instances that track it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Role {
    /// At least one of them is MASTER: the server must be writable.
    pub master: bool,
    /// One of them is BACKUP under a live lower-priority master and would
    /// preempt it were it not held.
    pub would_preempt: bool,
    /// One of them is BACKUP under a live master it will not preempt: the
    /// peer's server serves that instance's addresses and must stay
    /// writable, so a handover of another instance does not freeze it.
    pub peer_serves: bool,
}

pub struct MysqlCheck {
    pub name: String,
    pub settings: MysqlSettings,
    pub common: CheckCommon,
    pub role: watch::Receiver<Role>,
}

/// Reconnect backoff: doubles from the interval up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// One server and its persistent connection.
struct Server {
    label: &'static str,
    opts: Opts,
    user: String,
    timeout: Duration,
    conn: Option<Conn>,
    flavor: Flavor,
    retry_at: Option<Instant>,
    backoff: Duration,
    /// The connection was (re)made since the last look: fencing re-applies.
    fresh: bool,
}

fn text(v: &SqlValue) -> Option<Cow<'_, str>> {
    match v {
        SqlValue::NULL => None,
        SqlValue::Bytes(b) => Some(String::from_utf8_lossy(b)),
        SqlValue::Int(i) => Some(i.to_string().into()),
        SqlValue::UInt(u) => Some(u.to_string().into()),
        SqlValue::Float(f) => Some(f.to_string().into()),
        SqlValue::Double(d) => Some(d.to_string().into()),
        other => Some(format!("{other:?}").into()),
    }
}

/// Read in place: a replication status row has ~60 columns and is read
/// every check; only the columns asked for are copied.
impl Columns for mysql_async::Row {
    fn text(&self, column: &str) -> Option<Cow<'_, str>> {
        let i = self
            .columns_ref()
            .iter()
            .position(|c| c.name_ref() == column.as_bytes())?;
        self.as_ref(i).and_then(text)
    }
}

fn to_row(r: &mysql_async::Row) -> Row {
    r.columns_ref()
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (
                c.name_str().into_owned(),
                r.as_ref(i).and_then(text).map(Cow::into_owned),
            )
        })
        .collect()
}

/// How to reach one server.
struct ServerOptions<'a> {
    label: &'static str,
    host: Option<&'a str>,
    socket: Option<&'a std::path::Path>,
    port: u16,
    user: &'a str,
    password: Option<&'a str>,
    tls: Option<mysql_async::SslOpts>,
    timeout: Duration,
}

impl Server {
    fn new(o: ServerOptions<'_>) -> Server {
        let mut b = OptsBuilder::default()
            .user(Some(o.user))
            .pass(o.password)
            .tcp_port(o.port)
            // Never switch to the socket behind our back (mysql_async's
            // default): the address configured is the one probed.
            .prefer_socket(false)
            .stmt_cache_size(0)
            .ssl_opts(o.tls);
        if let Some(h) = o.host {
            b = b.ip_or_hostname(h);
        }
        if let Some(s) = o.socket {
            b = b.socket(Some(s.to_string_lossy()));
        }
        Server {
            label: o.label,
            opts: Opts::from(b),
            user: o.user.to_string(),
            timeout: o.timeout,
            conn: None,
            flavor: Flavor::MariaDb,
            retry_at: None,
            backoff: Duration::ZERO,
            fresh: false,
        }
    }

    async fn connect(&mut self, interval: Duration) -> Result<(), String> {
        if self.conn.is_some() {
            return Ok(());
        }
        if let Some(at) = self.retry_at {
            if Instant::now() < at {
                return Err(format!("{} server: not reconnecting yet (backoff)", self.label));
            }
        }
        let attempt = async {
            let mut c = Conn::new(self.opts.clone()).await.map_err(|e| e.to_string())?;
            let v: Option<String> = c.query_first("SELECT VERSION()").await.map_err(|e| e.to_string())?;
            Ok::<_, String>((c, v.unwrap_or_default()))
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(Ok((c, version))) => {
                self.flavor = Flavor::from_version(&version);
                self.conn = Some(c);
                self.retry_at = None;
                self.backoff = Duration::ZERO;
                self.fresh = true;
                Ok(())
            }
            Ok(Err(e)) => Err(self.failed_connect(interval, e)),
            Err(_) => Err(self.failed_connect(interval, format!("no answer within {:?}", self.timeout))),
        }
    }

    fn failed_connect(&mut self, interval: Duration, e: String) -> String {
        self.backoff = if self.backoff.is_zero() {
            Duration::ZERO
        } else {
            (self.backoff * 2).min(MAX_BACKOFF.max(interval))
        };
        self.retry_at = Some(Instant::now() + self.backoff);
        if self.backoff.is_zero() {
            self.backoff = interval.min(MAX_BACKOFF);
        }
        format!("{} server: cannot connect: {e}", self.label)
    }

    /// Runs a query under the timeout; any error drops the connection
    /// (after a timeout its protocol state is unknown).
    async fn rows(&mut self, sql: &str) -> Result<Vec<Row>, String> {
        let label = self.label;
        let Some(conn) = self.conn.as_mut() else {
            return Err(format!("{label} server: not connected"));
        };
        let r = tokio::time::timeout(self.timeout, conn.query::<mysql_async::Row, _>(sql)).await;
        self.settle(r).map(|rows| rows.iter().map(to_row).collect())
    }

    /// The result of a call under a timeout. A server error (the query
    /// failed) keeps the connection; anything else — lost, garbled, timed
    /// out, its protocol state unknown — drops it.
    fn settle<T>(
        &mut self,
        r: Result<Result<T, mysql_async::Error>, tokio::time::error::Elapsed>,
    ) -> Result<T, String> {
        match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                if !matches!(e, mysql_async::Error::Server(_)) {
                    self.conn = None;
                }
                Err(format!("{} server: {e}", self.label))
            }
            Err(_) => {
                self.conn = None;
                Err(format!("{} server: no answer within {:?}", self.label, self.timeout))
            }
        }
    }

    async fn scalar(&mut self, sql: &str) -> Result<Option<String>, String> {
        Ok(self
            .rows(sql)
            .await?
            .into_iter()
            .next()
            .and_then(|r| r.into_values().next().flatten()))
    }

    async fn variables(&mut self) -> Result<Variables, String> {
        let rows = self.rows(self.flavor.variables_sql()).await?;
        rows.first()
            .map(read_variables)
            .ok_or_else(|| format!("{} server: no variables", self.label))
    }

    /// read_only on or off; on also ends the application sessions, which
    /// read_only does not stop (those with READ_ONLY ADMIN).
    async fn set_read_only(&mut self, on: bool) -> Result<(), String> {
        self.rows(self.flavor.read_only_sql(on)).await?;
        if on {
            let ids = self.rows(&self.flavor.sessions_sql(&self.user)).await?;
            for id in ids.iter().filter_map(|r| r.values().next().cloned().flatten()) {
                let _ = self
                    .rows(&format!(
                        "KILL CONNECTION {}",
                        id.replace(|c: char| !c.is_ascii_digit(), "")
                    ))
                    .await;
            }
        }
        Ok(())
    }

    /// One round trip per check: waits on the server until `until` (so a
    /// connection that drops meanwhile is noticed at once), then reads the
    /// variables and, with `links`, the replication links.
    async fn status_at(&mut self, until: Instant, links: bool) -> Result<(Variables, Option<Vec<Link>>), String> {
        let label = self.label;
        let f = self.flavor;
        let left = until.saturating_duration_since(Instant::now());
        let mut sql = String::new();
        if left >= Duration::from_millis(2) {
            use std::fmt::Write;
            let _ = write!(sql, "DO SLEEP({}.{:03}); ", left.as_secs(), left.subsec_millis());
        }
        sql += f.variables_sql();
        if links {
            sql += "; ";
            sql += f.links_sql();
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err(format!("{label} server: not connected"));
        };
        let run = async {
            let mut res = conn.query_iter(sql).await?;
            let mut sets: Vec<Vec<mysql_async::Row>> = Vec::new();
            while !res.is_empty() {
                sets.push(res.collect().await?);
            }
            Ok::<_, mysql_async::Error>(sets)
        };
        let r = tokio::time::timeout(left + self.timeout, run).await;
        let mut sets = self.settle(r)?;
        let link_rows = if links { sets.pop() } else { None };
        let vars = sets
            .pop()
            .and_then(|rows| rows.first().map(read_variables))
            .ok_or_else(|| format!("{label} server: no variables"))?;
        Ok((
            vars,
            link_rows.map(|rows| rows.iter().map(|r| read_link(f, r)).collect()),
        ))
    }
}

struct State {
    local: Server,
    peer: Option<Server>,
    /// Whether this check has made the local server writable for a
    /// handover that has not yet made an instance MASTER, and when.
    handed_over: Option<Instant>,
    /// The read_only state fencing last set, per the role it was set for.
    fenced_for: Option<bool>,
    last_guard: Option<Verdict>,
    /// The local server's replication links at the last probe.
    links: Vec<Link>,
    /// When an idle replication link was last restarted.
    kicked_at: Option<Instant>,
    /// When a handover last failed: the next waits catch_up_timeout, so a
    /// peer is not frozen (its sessions ended) over and over.
    handover_failed_at: Option<Instant>,
    /// Since when the server has been read_only while it should be
    /// writable (frozen by a peer's handover).
    read_only_since: Option<Instant>,
}

impl Check for MysqlCheck {
    fn start(self: Box<Self>, reporter: Reporter) -> JoinHandle<()> {
        tokio::spawn(async move { self.run(reporter).await })
    }
}

fn tls(s: &MysqlSettings) -> Option<mysql_async::SslOpts> {
    if !s.ssl {
        return None;
    }
    let mut o = mysql_async::SslOpts::default();
    if let Some(ca) = &s.ssl_ca {
        o = o.with_root_certs(vec![ca.clone().into()]);
    }
    if let (Some(cert), Some(key)) = (&s.ssl_cert, &s.ssl_key) {
        o = o.with_client_identity(Some(mysql_async::ClientIdentity::new(
            cert.clone().into(),
            key.clone().into(),
        )));
    }
    Some(o)
}

impl MysqlCheck {
    async fn run(self, reporter: Reporter) {
        let s = &self.settings;
        let timeout = self.common.effective_timeout();
        let user = s.user.clone().unwrap_or_default();
        let mut st = State {
            local: Server::new(ServerOptions {
                label: "local",
                host: s.host.as_deref(),
                socket: s.socket.as_deref(),
                port: s.port,
                user: &user,
                password: s.password.as_deref(),
                tls: tls(s),
                timeout,
            }),
            peer: s.peer_host.as_deref().map(|h| {
                Server::new(ServerOptions {
                    label: "peer",
                    host: Some(h),
                    socket: None,
                    port: s.peer_port,
                    user: s.peer_user.as_deref().unwrap_or(&user),
                    password: s.peer_password.as_deref(),
                    tls: tls(s),
                    timeout,
                })
            }),
            handed_over: None,
            fenced_for: None,
            last_guard: None,
            links: Vec::new(),
            kicked_at: None,
            handover_failed_at: None,
            read_only_since: None,
        };
        let interval = self.common.interval;
        let mut next = Instant::now();
        let mut roles = self.role.clone();
        loop {
            // The probe itself waits for its moment (on the server, when
            // connected); a role change (fencing, guard) cuts it short.
            let started = Instant::now().max(next);
            let probed = tokio::select! {
                r = self.probe(&mut st, next) => Some(r),
                _ = roles.changed() => {
                    // Cut mid-query: that connection's state is unknown.
                    st.local.conn = None;
                    None
                }
            };
            let Some((outcome, mut detail, vars)) = probed else {
                next = Instant::now();
                continue;
            };
            next = Instant::now() + interval;
            let role = *roles.borrow_and_update();
            if self.settings.read_only_when_backup {
                self.fence(&mut st, role, vars.as_ref()).await;
            }
            let guard = match st.peer.is_some() {
                true => Some(self.guard(&mut st, role, vars.as_ref(), &mut detail).await),
                false => None,
            };
            if guard != st.last_guard {
                match &guard {
                    Some(Verdict::Hold(why)) => tracing::info!("check_mysql {}: holding preemption: {why}", self.name),
                    Some(Verdict::Release) => tracing::info!("check_mysql {}: preemption allowed", self.name),
                    None => {}
                }
                st.last_guard = guard.clone();
            }
            if let Some(Verdict::Hold(why)) = &guard {
                detail["waiting_for"] = json!(why);
            }
            let hold = guard.map(|g| matches!(g, Verdict::Hold(_)));
            let writable = self
                .settings
                .read_only_when_backup
                .then_some(st.fenced_for == Some(true));
            let reporter = reporter.timed(Instant::now().saturating_duration_since(started));
            if !reporter.report_guarded(outcome, detail, hold, writable) {
                return;
            }
        }
    }

    /// The local server's health, probed at `at`.
    async fn probe(&self, st: &mut State, at: Instant) -> (Outcome, Value, Option<Variables>) {
        let s = &self.settings;
        st.links.clear();
        if st.local.conn.is_none() {
            tokio::time::sleep_until(at).await;
            if let Err(e) = st.local.connect(self.common.interval).await {
                return (Outcome::Failure(e.clone()), json!({ "alive": false, "error": e }), None);
            }
        }
        let want_links = s.require_replication || s.max_lag.is_some() || s.peer_host.is_some();
        let (vars, links) = match st.local.status_at(at, want_links).await {
            Ok(v) => v,
            Err(e) => return (Outcome::Failure(e.clone()), json!({ "alive": false, "error": e }), None),
        };
        let mut detail = json!({
            "alive": true,
            "read_only": vars.read_only,
            "server_id": vars.server_id,
            "gtid_binlog_pos": vars.binlog_pos,
            "gtid_current_pos": vars.current_pos,
        });
        let mut outcome = Outcome::Success;
        if let Some(links) = links {
            detail["replication"] = status::links_json(&links);
            if s.require_replication || s.max_lag.is_some() {
                let health = if s.require_replication {
                    replication_health(&links, s.max_lag)
                } else {
                    status::lag_health(&links, s.max_lag)
                };
                if let Err(e) = health {
                    detail["error"] = json!(e);
                    outcome = Outcome::Failure(e);
                }
            }
            st.links = links;
        }
        (outcome, detail, Some(vars))
    }

    /// Fencing: on a change of role, and whenever the connection is new
    /// (a restarted mysqld comes up writable), make the server writable
    /// exactly while an instance is MASTER (or a handover is under way).
    async fn fence(&self, st: &mut State, role: Role, vars: Option<&Variables>) {
        let Some(vars) = vars else { return };
        let writable = role.master || st.handed_over.is_some();
        let input = FenceInput {
            writable_wanted: writable,
            fenced_for: st.fenced_for,
            fresh: std::mem::take(&mut st.local.fresh),
            read_only: vars.read_only,
            read_only_for: st.read_only_since.map(|t| t.elapsed()),
            // A handover ends within 2 x catch_up_timeout (the wait, then
            // the wait for the preemption): a freeze older than that was
            // left by a peer that died mid-handover.
            stale_after: 2 * self.settings.catch_up_timeout + 2 * self.common.interval,
        };
        match policy::fence(&input) {
            FenceStep::Nothing => st.read_only_since = None,
            FenceStep::Frozen => {
                st.read_only_since.get_or_insert_with(Instant::now);
            }
            FenceStep::Repair => {
                tracing::warn!(
                    "check_mysql {}: the local server is read_only while MASTER for {:?} (a peer's handover \
                     that never finished?); making it writable",
                    self.name,
                    input.stale_after
                );
                st.read_only_since = None;
                if let Err(e) = st.local.set_read_only(false).await {
                    tracing::warn!("check_mysql {}: cannot make the local server writable: {e}", self.name);
                }
            }
            FenceStep::Set { writable } => {
                st.read_only_since = None;
                match st.local.set_read_only(!writable).await {
                    Ok(()) => {
                        tracing::info!(
                            "check_mysql {}: local server set {}",
                            self.name,
                            if writable {
                                "writable (read_only=OFF)"
                            } else {
                                "read_only=ON, application sessions ended"
                            }
                        );
                        st.fenced_for = Some(writable);
                    }
                    Err(e) => tracing::warn!("check_mysql {}: cannot fence the local server: {e}", self.name),
                }
            }
        }
    }

    /// The catch-up guard: carries out the steps [`policy::guard`] asks for.
    async fn guard(&self, st: &mut State, role: Role, vars: Option<&Variables>, detail: &mut Value) -> Verdict {
        let now = Instant::now();
        let mut input = GuardInput {
            role,
            local_healthy: vars.is_some(),
            handed_over: st.handed_over.map(|t| now - t),
            failed: st.handover_failed_at.map(|t| now - t),
            peer: Peer::Unknown,
            peer_unreachable: false,
            catch_up_timeout: self.settings.catch_up_timeout,
            policy: self.settings.catch_up_policy,
        };
        loop {
            match policy::guard(&input) {
                GuardStep::Decide {
                    verdict,
                    clear_handover,
                } => {
                    if clear_handover {
                        st.handed_over = None;
                    }
                    return verdict;
                }
                GuardStep::Unfreeze => {
                    tracing::error!(
                        "check_mysql {}: handed over but no instance became MASTER; unfreezing the peer",
                        self.name
                    );
                    st.handed_over = None;
                    input.handed_over = None;
                    if let Some(peer) = st.peer.as_mut() {
                        let _ = peer.set_read_only(false).await;
                    }
                }
                GuardStep::AskPeer => {
                    let Some(own) = vars else {
                        input.local_healthy = false;
                        continue;
                    };
                    (input.peer, input.peer_unreachable) = self.ask_peer(st, own, detail).await;
                }
                GuardStep::Handover { freeze } => {
                    return match self.handover(st, freeze).await {
                        Ok(()) => {
                            st.handed_over = Some(Instant::now());
                            st.handover_failed_at = None;
                            // The handover made the server writable (fencing agrees).
                            st.fenced_for = Some(true);
                            Verdict::Release
                        }
                        Err(e) => {
                            tracing::error!(
                                "check_mysql {}: handover failed, {}staying BACKUP: {e}",
                                self.name,
                                if freeze { "peer unfrozen, " } else { "" }
                            );
                            st.handover_failed_at = Some(Instant::now());
                            Verdict::Hold(format!("handover failed: {e}"))
                        }
                    };
                }
            }
        }
    }

    /// The peer's position compared with ours (and the detail for dumps);
    /// true when the peer's server did not answer at all.
    async fn ask_peer(&self, st: &mut State, own: &Variables, detail: &mut Value) -> (Peer, bool) {
        let interval = self.common.interval;
        let Some(peer) = st.peer.as_mut() else {
            return (Peer::Failed("no peer configured".into()), true);
        };
        let peer_vars = match peer.connect(interval).await {
            Ok(()) => peer.variables().await,
            Err(e) => Err(e),
        };
        let peer_vars = match peer_vars {
            Ok(v) => v,
            Err(e) => {
                detail["peer"] = json!({ "alive": false, "error": e });
                return (Peer::Failed(e), true);
            }
        };
        self.kick_idle_link(st).await;
        let cmp = match self.compare(st, own, &peer_vars).await {
            Ok(c) => c,
            Err(e) => return (Peer::Failed(e), false),
        };
        detail["peer"] = json!({
            "alive": true,
            "read_only": peer_vars.read_only,
            "gtid_binlog_pos": peer_vars.binlog_pos,
            "gtid_current_pos": peer_vars.current_pos,
        });
        detail["behind"] = json!(cmp.behind);
        detail["ahead"] = json!(cmp.ahead);
        detail["diverged_domains"] = json!(cmp.diverged);
        (Peer::Compared(cmp), false)
    }

    /// The peer's server answers but the local link from it still waits
    /// to reconnect (`master_connect_retry`, 60 s by default): restart its
    /// IO thread so the peer's new writes arrive now, not a minute later.
    async fn kick_idle_link(&self, st: &mut State) {
        let Some(peer_host) = self.settings.peer_host.as_deref() else {
            return;
        };
        if st.kicked_at.is_some_and(|t| t.elapsed() < Duration::from_secs(5)) {
            return;
        }
        let flavor = st.local.flavor;
        let idle: Vec<Link> = st
            .links
            .iter()
            .filter(|l| l.master_unreachable() && l.master.starts_with(&format!("{peer_host}:")))
            .cloned()
            .collect();
        for l in idle {
            st.kicked_at = Some(Instant::now());
            let [stop, start] = flavor.restart_io_sql(&l.name);
            let r = match st.local.rows(&stop).await {
                Ok(_) => st.local.rows(&start).await,
                Err(e) => Err(e),
            };
            match r {
                Ok(_) => tracing::info!(
                    "check_mysql {}: replication from {} was waiting to reconnect; IO thread restarted",
                    self.name,
                    l.master
                ),
                Err(e) => tracing::warn!(
                    "check_mysql {}: cannot restart replication from {}: {e}",
                    self.name,
                    l.master
                ),
            }
        }
    }

    async fn compare(&self, st: &mut State, own: &Variables, peer: &Variables) -> Result<Comparison, String> {
        match st.local.flavor {
            Flavor::MariaDb => self.compare_plain(Flavor::MariaDb, own, peer),
            Flavor::MySql => {
                let rows = st.local.rows(&Flavor::mysql_compare_sql(&peer.binlog_pos)).await?;
                let r = rows.first().ok_or("no GTID comparison")?;
                let have_all = r.text("have_all").as_deref() == Some("1");
                let extra = r.string("extra");
                Ok(Comparison {
                    behind: u64::from(!have_all),
                    ahead: u64::from(!extra.is_empty()),
                    diverged: Vec::new(),
                })
            }
        }
    }

    /// Freeze the peer, wait for its final position here, make this
    /// server writable. On failure the peer is unfrozen. Without `freeze`
    /// (the peer still serves another instance's addresses, so it must
    /// stay writable) the wait is for the peer's position at the start.
    async fn handover(&self, st: &mut State, freeze: bool) -> Result<(), String> {
        let deadline = Instant::now() + self.settings.catch_up_timeout;
        let Some(peer) = st.peer.as_mut() else {
            return Ok(());
        };
        if freeze {
            peer.set_read_only(true).await?;
            tracing::info!("check_mysql {}: peer frozen (read_only=ON, sessions ended)", self.name);
        } else {
            tracing::info!(
                "check_mysql {}: the peer still serves another instance's addresses; not frozen",
                self.name
            );
        }
        let result = async {
            // The peer's final position: read until two reads agree. A
            // session that read_only does not stop (SUPER, READ_ONLY ADMIN)
            // can keep it moving: then the handover times out.
            let mut target = peer.variables().await?;
            // Unfrozen (the peer still serves), its position at the start will do.
            let mut settled = !freeze;
            while !settled {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let now = peer.variables().await?;
                match policy::settle(&target.binlog_pos, &now.binlog_pos, Instant::now() >= deadline) {
                    Settle::Settled => settled = true,
                    Settle::Again => target = now,
                    Settle::StillMoving => {
                        return Err(format!(
                            "the frozen peer still writes (a session with SUPER or READ_ONLY ADMIN?); \
                             its position did not settle within catch_up_timeout ({:?})",
                            self.settings.catch_up_timeout
                        ))
                    }
                }
            }
            let last = target.binlog_pos.clone();
            let own = st.local.variables().await?;
            let wait_for = match st.local.flavor {
                Flavor::MariaDb => Position::parse(&last)?.wait_list(own.server_id),
                Flavor::MySql => last.clone(),
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if !wait_for.is_empty() {
                let sql = st.local.flavor.wait_sql(&wait_for, left);
                let saved = st.local.timeout;
                st.local.timeout = left + saved;
                let r = st.local.scalar(&sql).await;
                st.local.timeout = saved;
                if r?.as_deref() != Some("0") {
                    return Err(format!(
                        "not caught up with the peer's {last} within catch_up_timeout ({:?})",
                        self.settings.catch_up_timeout
                    ));
                }
            }
            let own = st.local.variables().await?;
            let peer_final = match freeze {
                true => peer.variables().await?,
                false => target,
            };
            policy::caught_up_after_wait(&self.compare_plain(st.local.flavor, &own, &peer_final)?)?;
            st.local.set_read_only(false).await?;
            tracing::info!(
                "check_mysql {}: caught up at {} (peer {}); local server writable, releasing preemption",
                self.name,
                own.current_pos,
                last
            );
            Ok(())
        }
        .await;
        if result.is_err() && freeze {
            if let Some(peer) = st.peer.as_mut() {
                let _ = peer.set_read_only(false).await;
            }
        }
        result
    }

    fn compare_plain(&self, flavor: Flavor, own: &Variables, peer: &Variables) -> Result<Comparison, String> {
        match flavor {
            Flavor::MariaDb => Ok(compare(
                &Position::parse(&own.current_pos)?,
                &Position::parse(&own.binlog_pos)?,
                &Position::parse(&peer.current_pos)?,
                &Position::parse(&peer.binlog_pos)?,
            )),
            // MySQL: the wait above compared sets on the server.
            Flavor::MySql => Ok(Comparison::default()),
        }
    }
}
