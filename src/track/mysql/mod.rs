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
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Value as SqlValue};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::model::{CheckCommon, MysqlSettings};

use super::check::Guard;
use super::check::{Check, Outcome, Reporter};
use super::witness;
use crate::vrrp::Stance;
use gtid::{compare, Comparison, Position};
use policy::{
    FenceInput, FenceStep, GuardInput, GuardStep, IsolationInput, Peer, PeerLinkInput, PeerLinkStep, PeerReplica,
    RelayStep, SemiSyncInput, SemiSyncStep, Settle, StanceInput, Verdict,
};
use status::{
    read_link, read_semi_sync_status, read_variables, replication_health, Columns, Flavor, Link, Row, Variables,
};

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
    /// Switchover requests so far: a new number asks the probe of a MASTER
    /// to freeze its server and wait until the peer has every write.
    pub switchover: u64,
}

pub struct MysqlCheck {
    pub name: String,
    pub settings: MysqlSettings,
    pub common: CheckCommon,
    pub role: watch::Receiver<Role>,
}

/// Reconnect backoff: doubles from the interval up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How long restarting an idle link's IO thread may take: a semi-sync
/// replica's stop waits to reach the old master first.
const KICK_TIMEOUT: Duration = Duration::from_secs(30);
/// The first wait between restarts of a link that stopped on an error;
/// it doubles while the error comes back, up to [`MAX_KICK_BACKOFF`].
const KICK_BACKOFF: Duration = Duration::from_secs(5);
const MAX_KICK_BACKOFF: Duration = Duration::from_secs(300);

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
            let mut c = Conn::new(self.opts.clone())
                .await
                .map_err(|e| match speaks_another_protocol(&e) {
                    true => format!("it does not speak the MySQL protocol ({})", describe(&e)),
                    false => describe(&e),
                })?;
            let v: Option<String> = c.query_first("SELECT VERSION()").await.map_err(|e| describe(&e))?;
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
                Err(format!("{} server: {}", self.label, describe(&e)))
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
    /// How long to wait after that restart before the next one: doubles
    /// while a link keeps stopping on an error.
    kick_backoff: Duration,
    /// A restart of idle links is running (on its own connection).
    kick_running: Arc<AtomicBool>,
    /// The last restart of a link did not finish (its STOP may have run
    /// without its START): a link stopped without an error is ours to
    /// restart again, not an administrator's stop.
    kick_failed: Arc<AtomicBool>,
    /// When a handover last failed: the next waits catch_up_timeout, so a
    /// peer is not frozen (its sessions ended) over and over.
    handover_failed_at: Option<Instant>,
    /// Since when the server has been read_only while it should be
    /// writable (frozen by a peer's handover).
    read_only_since: Option<Instant>,
    /// Since when an instance tracking the check has been MASTER.
    master_since: Option<Instant>,
    /// When the peer's server last answered.
    peer_seen_at: Option<Instant>,
    /// When the peer's server or a witness last answered (or the start).
    last_contact: Instant,
    /// Cut off: neither the peer's server nor a witness answers.
    isolated: bool,
    /// Isolation set the server read_only (undone on recovery when
    /// fencing is off).
    isolation_fenced: bool,
    /// A MASTER's broken replication was logged (it keeps the VIP).
    master_replication_broken: bool,
    /// As MASTER, semi-sync fell back to asynchronous (warned).
    semi_sync_off: bool,
    /// Why this check switched semi-sync off (None: it did not, or it
    /// restored it).
    semi_sync_released: Option<&'static str>,
    /// What this round set semi-sync to (its probe read it before).
    semi_sync_set: Option<bool>,
    /// The last failure to switch semi-sync (logged once).
    semi_sync_error: Option<String>,
    /// The peer's replica as the last finished round saw it.
    peer_replica: PeerReplica,
    /// A takeover waits for the relay log to be applied, since then.
    relay_wait_since: Option<Instant>,
    /// Replication from the peer, stopped at a takeover while the peer was
    /// out of reach (under semi-sync) until its server is compared.
    peer_link_hold: Option<PeerLinkHold>,
    /// This spell as MASTER has decided whether to hold that link.
    peer_link_decided: bool,
    /// The peer's server, when it last answered, had semi-sync active.
    peer_semi_sync: bool,
    /// The MASTER's stance last reported, with why.
    last_stance: (Stance, Option<String>),
    /// The last switchover request seen.
    switchover_seen: u64,
    /// A switchover froze the local server: it stays read_only while the
    /// instances are MASTER, until they give way (or it is undone).
    switched_out: bool,
}

/// An instance tracking the check became MASTER while the peer's server
/// was out of reach (or before it was ever reached), and it has not
/// answered since.
fn took_over_blind(st: &State) -> bool {
    st.master_since
        .is_some_and(|since| st.peer_seen_at.is_none_or(|seen| seen < since))
}

/// Links from the peer held by [`MysqlCheck::hold_peer_link`].
struct PeerLinkHold {
    /// Their connection names.
    links: Vec<String>,
    /// The stop, run off the check: [`STOP_PENDING`], [`STOP_DONE`] or
    /// [`STOP_FAILED`].
    stop: Arc<AtomicU8>,
    /// Why it stays held, once the peer was compared (logged once).
    why: Option<String>,
    /// A probe has seen the links stopped since the stop returned.
    seen_stopped: bool,
}

const STOP_PENDING: u8 = 0;
const STOP_DONE: u8 = 1;
const STOP_FAILED: u8 = 2;

/// What this round learnt of the peer's server.
struct PeerView {
    peer: Peer,
    /// Its server did not answer at all.
    unreachable: bool,
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
            kick_backoff: KICK_BACKOFF,
            kick_running: Arc::default(),
            kick_failed: Arc::default(),
            handover_failed_at: None,
            read_only_since: None,
            master_since: None,
            peer_seen_at: None,
            last_contact: Instant::now(),
            isolated: false,
            isolation_fenced: false,
            master_replication_broken: false,
            semi_sync_off: false,
            semi_sync_released: None,
            semi_sync_set: None,
            semi_sync_error: None,
            peer_replica: match s.peer_host {
                Some(_) => PeerReplica::Unknown,
                None => PeerReplica::NotConfigured,
            },
            relay_wait_since: None,
            peer_link_hold: None,
            peer_link_decided: false,
            peer_semi_sync: false,
            last_stance: (Stance::Priority, None),
            switchover_seen: 0,
            switched_out: false,
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
            st.semi_sync_set = None;
            let Some((mut outcome, mut detail, vars)) = probed else {
                next = Instant::now();
                continue;
            };
            next = Instant::now() + interval;
            let role = *roles.borrow_and_update();
            let now = Instant::now();
            if role.master {
                st.master_since.get_or_insert(now);
            } else {
                st.master_since = None;
                st.switched_out = false;
            }
            // A takeover (the VRRP timer has said the peer is gone, or the
            // guard let a preemption through): fencing goes first and says
            // so at once, so the VIPs go up now. The peer's probe below, which
            // on a dead host waits out `timeout`, runs after, never before.
            let takeover = self.settings.read_only_when_backup && role.master && st.fenced_for != Some(true);
            let mut fence_waits = false;
            if takeover {
                // Before the server is writable: its first commits must
                // not wait for a dead peer's acknowledgement.
                self.semi_sync(&mut st, role, vars.as_ref(), &mut detail).await;
                self.hold_peer_link(&mut st, role, vars.as_ref());
                fence_waits = self.fence(&mut st, role, vars.as_ref(), &mut detail).await;
                if st.fenced_for == Some(true) && !reporter.report_fenced(true) {
                    return;
                }
            }
            let mut switchover = None;
            if role.switchover != st.switchover_seen {
                st.switchover_seen = role.switchover;
                let r = match role.master {
                    true => self.switch_out(&mut st).await,
                    false => Err("the instances are no longer MASTER".to_string()),
                };
                switchover = Some((role.switchover, r));
            }
            self.spare_the_master(&mut st, role, &mut outcome, &detail);
            // The peer's probe waits out `timeout` on a dead host; a role
            // change (a takeover) cuts it, so the new MASTER's server is made
            // writable at once, not a probe of the peer later.
            // (Not after a switchover this round: its result must be reported.)
            let contacted = if switchover.is_some() {
                Some(self.contact(&mut st, vars.as_ref(), &mut detail).await)
            } else {
                tokio::select! {
                    c = self.contact(&mut st, vars.as_ref(), &mut detail) => Some(c),
                    _ = roles.changed() => None,
                }
            };
            let Some((view, contact)) = contacted else {
                if let Some(peer) = st.peer.as_mut() {
                    // Cut mid-query: that connection's state is unknown.
                    peer.conn = None;
                }
                next = Instant::now();
                continue;
            };
            if let Some(view) = &view {
                st.peer_replica = match (&view.peer, view.unreachable) {
                    (_, true) => PeerReplica::Unreachable,
                    (Peer::Compared(cmp), false) => PeerReplica::Answered {
                        has_ours: cmp.ahead == 0,
                    },
                    (_, false) => PeerReplica::Answered { has_ours: false },
                };
            }
            self.semi_sync(&mut st, role, vars.as_ref(), &mut detail).await;
            self.hold_peer_link(&mut st, role, vars.as_ref());
            if let Some(view) = &view {
                self.held_peer_link(&mut st, &view.peer, &mut detail);
            }
            if let Some(why) = self.isolation(&mut st, role, contact, vars.as_ref(), &mut detail).await {
                outcome = Outcome::Failure(why);
            }
            if !takeover && self.settings.read_only_when_backup {
                fence_waits = self.fence(&mut st, role, vars.as_ref(), &mut detail).await;
            }
            if fence_waits {
                // A takeover waits for the relay log: look again at once.
                next = Instant::now();
            }
            let guard = match view {
                Some(view) => Some(self.guard(&mut st, role, vars.as_ref(), view, &mut detail).await),
                None => None,
            };
            if guard.as_ref().map(|g| &g.0) != st.last_guard.as_ref() {
                match guard.as_ref().map(|g| &g.0) {
                    Some(Verdict::Hold(why)) => tracing::info!("check_mysql {}: holding preemption: {why}", self.name),
                    Some(Verdict::Release) => tracing::info!("check_mysql {}: preemption allowed", self.name),
                    None => {}
                }
                st.last_guard = guard.as_ref().map(|g| g.0.clone());
            }
            if let Some(Verdict::Hold(why)) = guard.as_ref().map(|g| &g.0) {
                detail["waiting_for"] = json!(why);
            }
            let decision = guard.map(|(verdict, stance)| Guard {
                // A MASTER that gives way stays held once BACKUP.
                hold: matches!(verdict, Verdict::Hold(_)) || stance == Stance::Yield,
                stance,
                // A live server (isolated, say) accepts connections: no
                // reset to give, and its VIPs must go.
                linger: vars.is_none(),
            });
            let writable = self
                .settings
                .read_only_when_backup
                .then_some(st.fenced_for == Some(true));
            let reporter = reporter.timed(Instant::now().saturating_duration_since(started));
            if !reporter.report_guarded(outcome, detail, decision, writable, switchover) {
                return;
            }
        }
    }

    /// require_replication keeps a server with broken replication from
    /// becoming master; it never fails the master itself. When histories
    /// diverge both links break, and failing the master too would leave
    /// no one serving: it keeps the VIP, and says so once.
    fn spare_the_master(&self, st: &mut State, role: Role, outcome: &mut Outcome, detail: &Value) {
        let broken = detail["replication_broken"] == true;
        let spared = role.master && broken;
        if spared && !st.master_replication_broken {
            tracing::warn!(
                "check_mysql {}: replication is broken while MASTER ({}); keeping the VIP: require_replication                  only keeps a BACKUP from taking over",
                self.name,
                detail["error"].as_str().unwrap_or_default()
            );
        }
        st.master_replication_broken = spared;
        if spared {
            *outcome = Outcome::Success;
        }
    }

    /// Semi-sync on a MASTER. Its peer's replica gone (the server does not
    /// answer, or no semi-sync replica is connected), it stops waiting for
    /// an acknowledgement that cannot come: without that, every commit of
    /// a new master after a failover would wait out
    /// `rpl_semi_sync_master_timeout`. Back on once the peer's replica has
    /// every write, and on leaving MASTER. A server whose replica side is
    /// on but master side off is taken as released (by an earlier run, or
    /// before a reload). Otherwise warns while the server has fallen back
    /// to asynchronous replication by itself.
    async fn semi_sync(&self, st: &mut State, role: Role, vars: Option<&Variables>, detail: &mut Value) {
        let Some(vars) = vars else { return };
        let (Some(read), Some(sql)) = (vars.semi_sync, st.local.flavor.semi_sync_status_sql()) else {
            return;
        };
        // What this round set wins over what its probe read before.
        let enabled = st.semi_sync_set.unwrap_or(read);
        let manage = self.settings.semi_sync_release;
        let released = manage && !enabled && vars.semi_sync_replica == Some(true);
        if !released {
            st.semi_sync_released = None;
        } else if st.semi_sync_released.is_none() {
            st.semi_sync_released = Some("found off on the master side with the replica side on");
        }
        if !enabled && !released {
            return;
        }
        let status = match role.master {
            true => st.local.rows(sql).await.map(|rows| read_semi_sync_status(&rows)).ok(),
            false => None,
        };
        let step = policy::semi_sync(&SemiSyncInput {
            release: manage,
            master: role.master,
            enabled,
            released,
            clients: status.and_then(|s| s.clients),
            peer: st.peer_replica,
            took_over_blind: took_over_blind(st),
        });
        if let SemiSyncStep::Release(why) | SemiSyncStep::Restore(why) = step {
            self.switch_semi_sync(st, matches!(step, SemiSyncStep::Restore(_)), why)
                .await;
        }
        let on = st.semi_sync_released.is_none();
        let active = status.and_then(|s| s.active).filter(|_| on);
        detail["semi_sync"] = json!({
            "enabled": on,
            "active": active,
            "clients": status.and_then(|s| s.clients),
            "released": st.semi_sync_released,
            "error": st.semi_sync_error,
        });
        let off = role.master && active == Some(false);
        if off && !st.semi_sync_off {
            tracing::warn!(
                "check_mysql {}: semi-sync is off: acknowledged writes may be lost on failover",
                self.name
            );
        } else if !off && st.semi_sync_off && active == Some(true) {
            tracing::info!("check_mysql {}: semi-sync is on again", self.name);
        }
        st.semi_sync_off = off;
    }

    /// At a takeover while the peer's server is out of reach, under
    /// semi-sync ([`policy::hold_peer_link`]): stops replication from the
    /// peer (on a connection of its own: a semi-sync replica's stop waits
    /// seconds for a gone master) so that the peer's unacknowledged binlog
    /// tail, should its crash recovery keep it, is not applied here before
    /// [`MysqlCheck::held_peer_link`] has compared the peer's server.
    fn hold_peer_link(&self, st: &mut State, role: Role, vars: Option<&Variables>) {
        if !role.master {
            st.peer_link_decided = st.peer_link_hold.is_some();
            return;
        }
        let (Some(vars), Some(peer_host)) = (vars, self.settings.peer_host.as_deref()) else {
            return;
        };
        let hold = policy::hold_peer_link(&PeerLinkInput {
            semi_sync_replica: vars.semi_sync_replica == Some(true),
            took_over_blind: took_over_blind(st),
            peer_unreachable: st.peer_replica == PeerReplica::Unreachable,
            peer_was_semi_sync: st.peer_semi_sync,
            decided: st.peer_link_decided || st.peer_link_hold.is_some(),
        });
        st.peer_link_decided = true;
        let links: Vec<String> = st
            .links
            .iter()
            .filter(|l| l.master.starts_with(&format!("{peer_host}:")))
            .map(|l| l.name.clone())
            .collect();
        if !hold || links.is_empty() {
            return;
        }
        tracing::warn!(
            "check_mysql {}: took over while the peer's server is out of reach: replication from it stops \
             until its server shows nothing this server never received (its unacknowledged binlog tail)",
            self.name
        );
        let stop = Arc::new(AtomicU8::new(STOP_PENDING));
        let (opts, flavor, name, done) = (st.local.opts.clone(), st.local.flavor, self.name.clone(), stop.clone());
        let names = links.clone();
        tokio::spawn(async move {
            let run = async {
                let mut c = Conn::new(opts).await?;
                for l in &names {
                    c.query_drop(flavor.stop_io_sql(l)).await?;
                }
                c.disconnect().await
            };
            let result = tokio::time::timeout(KICK_TIMEOUT, run).await;
            let outcome = match result {
                Ok(Ok(())) => STOP_DONE,
                Ok(Err(e)) => {
                    tracing::warn!("check_mysql {name}: cannot stop replication from the peer: local server: {e}");
                    STOP_FAILED
                }
                Err(_) => {
                    tracing::warn!(
                        "check_mysql {name}: stopping replication from the peer: no answer within {KICK_TIMEOUT:?}"
                    );
                    STOP_FAILED
                }
            };
            done.store(outcome, Ordering::Release);
        });
        st.peer_link_hold = Some(PeerLinkHold {
            links,
            stop,
            why: None,
            seen_stopped: false,
        });
    }

    /// A held link from the peer ([`policy::peer_link`]): restarted once
    /// the peer's server has nothing this server lacks; kept stopped, and
    /// said once, while it has (an admin decides: `START SLAVE` applies
    /// the tail here); over when someone started it.
    fn held_peer_link(&self, st: &mut State, peer: &Peer, detail: &mut Value) {
        let Some(hold) = st.peer_link_hold.as_mut() else {
            return;
        };
        let stopped = match hold.stop.load(Ordering::Acquire) {
            STOP_PENDING => None,
            STOP_FAILED => {
                tracing::warn!(
                    "check_mysql {}: replication from the peer is not held: a binlog tail its crash recovery kept \
                     would be applied here",
                    self.name
                );
                st.peer_link_hold = None;
                return;
            }
            _ => {
                let stopped = st
                    .links
                    .iter()
                    .filter(|l| hold.links.contains(&l.name))
                    .all(|l| l.io_running == "No");
                // Links read before the stop returned still show it running.
                hold.seen_stopped |= stopped;
                hold.seen_stopped.then_some(stopped)
            }
        };
        match policy::peer_link(stopped, peer) {
            PeerLinkStep::Hold(why) => {
                if let Some(why) = why {
                    if hold.why.as_deref() != Some(&why) {
                        tracing::error!(
                            "check_mysql {}: {why}: its unacknowledged binlog tail was kept at crash recovery \
                             (start it with rpl_semi_sync_slave_enabled=ON and init_rpl_role=SLAVE); replication \
                             from it stays stopped so the tail is not applied here: an admin must decide \
                             (START SLAVE applies it)",
                            self.name
                        );
                    }
                    hold.why = Some(why);
                }
                detail["peer_link_held"] = json!({
                    "links": hold.links,
                    "why": hold.why.as_deref().unwrap_or("the peer's server has not been compared yet"),
                });
            }
            PeerLinkStep::Resume => {
                tracing::info!(
                    "check_mysql {}: the peer's server has nothing this server lacks; replication from it restarts",
                    self.name
                );
                st.peer_link_hold = None;
                // Stopped by this check: the next restart of idle links takes it.
                st.kick_failed.store(true, Ordering::Release);
                st.kicked_at = None;
            }
            PeerLinkStep::Released => {
                tracing::info!(
                    "check_mysql {}: replication from the peer was started by someone else; no longer held",
                    self.name
                );
                st.peer_link_hold = None;
            }
        }
    }

    /// Sets the master side of semi-sync; a refusal (no REPLICATION MASTER
    /// ADMIN) is logged once and leaves the server as it was.
    async fn switch_semi_sync(&self, st: &mut State, on: bool, why: &'static str) {
        let Some(sql) = st.local.flavor.semi_sync_enable_sql(on) else {
            return;
        };
        match st.local.rows(sql).await {
            Ok(_) => {
                st.semi_sync_set = Some(on);
                st.semi_sync_error = None;
                st.semi_sync_released = (!on).then_some(why);
                match on {
                    true => tracing::info!("check_mysql {}: semi-sync restored: {why}", self.name),
                    false => tracing::warn!(
                        "check_mysql {}: semi-sync released: {why}; commits are acknowledged without waiting \
                         for the peer (asynchronous replication) until its replica has every write",
                        self.name
                    ),
                }
            }
            Err(e) => {
                if st.semi_sync_error.as_deref() != Some(&e) {
                    let then = match on {
                        true => "the server stays asynchronous",
                        false => "commits wait rpl_semi_sync_master_timeout for the peer",
                    };
                    tracing::warn!(
                        "check_mysql {}: cannot switch semi-sync {} ({why}): {e}; {then}",
                        self.name,
                        if on { "on" } else { "off" },
                    );
                }
                st.semi_sync_error = Some(e);
            }
        }
    }

    /// Asks the peer's server (and compares positions when the local
    /// server answered) and the witnesses, at once. None without a peer.
    async fn contact(&self, st: &mut State, own: Option<&Variables>, detail: &mut Value) -> (Option<PeerView>, bool) {
        let witnesses = &self.settings.witnesses;
        let timeout = self.common.effective_timeout();
        let (view, (witnessed, errors)) = tokio::join!(
            async {
                match st.peer.is_some() {
                    true => Some(self.ask_peer(st, own, detail).await),
                    false => None,
                }
            },
            witness::any_answers(witnesses, timeout)
        );
        let now = Instant::now();
        let peer_answered = view.as_ref().is_some_and(|v| !v.unreachable);
        if peer_answered {
            st.peer_seen_at = Some(now);
        }
        let contact = peer_answered || witnessed;
        if contact {
            st.last_contact = now;
        }
        if !witnesses.is_empty() {
            detail["witnesses"] = witnesses
                .iter()
                .zip(&errors)
                .map(|(w, e)| match e {
                    None => json!({ "witness": w.to_string(), "answered": true }),
                    Some(e) => json!({ "witness": w.to_string(), "answered": false, "error": e }),
                })
                .collect();
        }
        (view, contact)
    }

    /// Isolation fencing: a MASTER that reaches neither the peer's server
    /// nor a witness for isolation_timeout sets its server read_only, ends
    /// the application sessions and fails the check (FAULT with weight 0),
    /// until something answers again. Returns the failure while isolated.
    async fn isolation(
        &self,
        st: &mut State,
        role: Role,
        contact: bool,
        vars: Option<&Variables>,
        detail: &mut Value,
    ) -> Option<String> {
        let s = &self.settings;
        let timeout = s.effective_isolation_timeout(&self.common);
        let since = st.last_contact.elapsed();
        let isolated = policy::isolated(&IsolationInput {
            witnesses: !s.witnesses.is_empty(),
            master: role.master,
            contact,
            since_contact: since,
            timeout,
            isolated: st.isolated,
        });
        if isolated != st.isolated {
            st.isolated = isolated;
            if isolated {
                tracing::error!(
                    "check_mysql {}: isolated: neither the peer's server nor any witness answered for {:?} \
                     (isolation_timeout {:?}); fencing the local server and going to FAULT",
                    self.name,
                    since,
                    timeout
                );
            } else {
                tracing::warn!("check_mysql {}: no longer isolated: reached again", self.name);
            }
        }
        match (st.isolated, st.isolation_fenced, vars.is_some()) {
            (true, false, true) => match st.local.set_read_only(true).await {
                Ok(()) => {
                    tracing::error!(
                        "check_mysql {}: isolated: local server set read_only=ON, application sessions ended",
                        self.name
                    );
                    st.isolation_fenced = true;
                    st.handed_over = None;
                    if s.read_only_when_backup {
                        st.fenced_for = Some(false);
                    }
                }
                Err(e) => tracing::warn!(
                    "check_mysql {}: isolated: cannot fence the local server: {e}",
                    self.name
                ),
            },
            (false, true, _) => {
                st.isolation_fenced = false;
                // Fencing makes it writable again when an instance is
                // MASTER; without fencing, undo what isolation did.
                if !s.read_only_when_backup {
                    match st.local.set_read_only(false).await {
                        Ok(()) => {
                            tracing::info!("check_mysql {}: local server writable again after isolation", self.name)
                        }
                        Err(e) => {
                            st.isolation_fenced = true;
                            tracing::warn!("check_mysql {}: cannot undo the isolation's read_only: {e}", self.name);
                        }
                    }
                }
            }
            _ => {}
        }
        if !s.witnesses.is_empty() {
            detail["isolated"] = json!(st.isolated);
        }
        st.isolated
            .then(|| format!("isolated: neither the peer's server nor any witness answered for {since:.1?}"))
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
        // Fencing reads them for the relay log's end before a takeover.
        let want_links =
            s.require_replication || s.max_lag.is_some() || s.peer_host.is_some() || s.read_only_when_backup;
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
                // A link this check holds stopped is not broken.
                let held = |l: &Link| {
                    st.peer_link_hold
                        .as_ref()
                        .is_some_and(|h| h.links.contains(&l.name) && l.io_stopped_cleanly())
                };
                let judged: Vec<Link> = links.iter().filter(|l| !held(l)).cloned().collect();
                let health = if judged.is_empty() && !links.is_empty() {
                    Ok(())
                } else if s.require_replication {
                    replication_health(&judged, s.max_lag)
                } else {
                    status::lag_health(&judged, s.max_lag)
                };
                if let Err(e) = health {
                    detail["error"] = json!(e);
                    detail["replication_broken"] = json!(true);
                    outcome = Outcome::Failure(e);
                }
            }
            st.links = links;
        }
        (outcome, detail, Some(vars))
    }

    /// Fencing: on a change of role, and whenever the connection is new
    /// (a restarted mysqld comes up writable), make the server writable
    /// exactly while an instance is MASTER (or a handover is under way),
    /// and never while isolated. A takeover first waits for the relay log
    /// to be applied; true while it waits (look again at once).
    async fn fence(&self, st: &mut State, role: Role, vars: Option<&Variables>, detail: &mut Value) -> bool {
        let Some(vars) = vars else { return false };
        let writable = (role.master || st.handed_over.is_some()) && !st.isolated && !st.switched_out;
        if !writable {
            st.relay_wait_since = None;
        }
        let input = FenceInput {
            writable_wanted: writable,
            fenced_for: st.fenced_for,
            fresh: st.local.fresh,
            read_only: vars.read_only,
            read_only_for: st.read_only_since.map(|t| t.elapsed()),
            // A handover ends within 2 x catch_up_timeout (the wait, then
            // the wait for the preemption): a freeze older than that was
            // left by a peer that died mid-handover.
            stale_after: 2 * self.settings.catch_up_timeout + 2 * self.common.interval,
        };
        let step = policy::fence(&input);
        // A takeover (not a handover, which waited for the peer itself).
        if step == (FenceStep::Set { writable: true })
            && st.handed_over.is_none()
            && !self.relay_applied(st, vars, detail).await
        {
            return true;
        }
        st.local.fresh = false;
        match step {
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
        false
    }

    /// Before a takeover makes the server writable: has the SQL thread
    /// applied everything the IO threads received? Waits up to one
    /// interval per call, relay_apply_timeout in all, then says yes anyway
    /// (availability wins) and logs what was not applied.
    async fn relay_applied(&self, st: &mut State, vars: &Variables, detail: &mut Value) -> bool {
        let flavor = st.local.flavor;
        let (target, pending) = match flavor {
            Flavor::MariaDb => {
                let received: Vec<Position> = st
                    .links
                    .iter()
                    .filter_map(|l| Position::parse(&l.io_pos).ok())
                    .collect();
                let target = Position::furthest(&received).others(vars.server_id);
                let applied = Position::parse(&vars.current_pos).unwrap_or_default();
                let pending = target.pending_after(&applied);
                (target.to_string(), pending)
            }
            Flavor::MySql => {
                let target = st
                    .links
                    .iter()
                    .map(|l| l.io_pos.as_str())
                    .filter(|p| !p.is_empty())
                    .collect::<Vec<_>>()
                    .join(",");
                let have = match target.is_empty() {
                    true => Ok(Some("1".to_string())),
                    false => st.local.scalar(&Flavor::mysql_compare_sql(&target)).await,
                };
                (target, u64::from(have.ok().flatten().as_deref() != Some("1")))
            }
        };
        tracing::debug!(
            "check_mysql {}: before promoting: relay log up to {target:?}, applied {:?}, {pending} pending",
            self.name,
            vars.current_pos
        );
        let first = st.relay_wait_since.is_none();
        let since = *st.relay_wait_since.get_or_insert_with(Instant::now);
        let waited = since.elapsed();
        let limit = self.settings.relay_apply_timeout;
        match policy::relay_step(pending, waited, limit, self.common.interval) {
            RelayStep::Promote => {
                if !first {
                    self.relay_log_applied(st, &target, waited);
                }
                st.relay_wait_since = None;
                true
            }
            RelayStep::PromoteAnyway => {
                tracing::error!(
                    "check_mysql {}: relay_apply_timeout ({limit:?}) is over with {pending} received transaction(s) \
                     NOT applied (relay log up to {target}, applied {}): making the server writable anyway; \
                     those transactions apply later and may conflict with new writes",
                    self.name,
                    vars.current_pos
                );
                st.relay_wait_since = None;
                true
            }
            RelayStep::Wait(step) => {
                if first {
                    tracing::warn!(
                        "check_mysql {}: promoting: waiting for the SQL thread to apply {pending} relayed \
                         transaction(s) up to {target} (at most relay_apply_timeout {limit:?}); VIPs wait",
                        self.name
                    );
                }
                detail["relay_apply"] = json!({
                    "pending": pending,
                    "target": target,
                    "waited_ms": waited.as_millis() as u64,
                });
                let sql = flavor.wait_sql(&target, step);
                let saved = st.local.timeout;
                st.local.timeout = step + saved;
                let applied = st.local.scalar(&sql).await;
                st.local.timeout = saved;
                // Applied within the wait: promote now, not a round later
                // (that round's probe of a dead peer takes `timeout`).
                if matches!(applied.as_ref().map(Option::as_deref), Ok(Some("0"))) {
                    self.relay_log_applied(st, &target, since.elapsed());
                    return true;
                }
                false
            }
        }
    }

    /// A takeover's wait for the relay log is over: say so and promote.
    fn relay_log_applied(&self, st: &mut State, target: &str, waited: Duration) {
        tracing::info!(
            "check_mysql {}: relay log applied (up to {target}) after {waited:.3?}; promoting",
            self.name
        );
        st.relay_wait_since = None;
    }

    /// The guard: carries out the steps [`policy::guard`] asks for, and
    /// for a MASTER chooses how it meets another master ([`policy::stance`]).
    async fn guard(
        &self,
        st: &mut State,
        role: Role,
        vars: Option<&Variables>,
        view: PeerView,
        detail: &mut Value,
    ) -> (Verdict, Stance) {
        let stance = match st.master_since {
            Some(_) => {
                let (stance, why) = policy::stance(&StanceInput {
                    peer: view.peer.clone(),
                    took_over_blind: took_over_blind(st),
                });
                self.log_stance(st, stance, why, detail);
                stance
            }
            None => {
                st.last_stance = (Stance::Priority, None);
                Stance::Priority
            }
        };
        let now = Instant::now();
        let mut input = GuardInput {
            role,
            local_healthy: vars.is_some(),
            handed_over: st.handed_over.map(|t| now - t),
            failed: st.handover_failed_at.map(|t| now - t),
            peer: view.peer,
            peer_unreachable: view.unreachable,
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
                    return (verdict, stance);
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
                    let view = self.ask_peer(st, Some(own), detail).await;
                    (input.peer, input.peer_unreachable) = (view.peer, view.unreachable);
                }
                GuardStep::Handover { freeze } => {
                    let verdict = match self.handover(st, freeze).await {
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
                    return (verdict, stance);
                }
            }
        }
    }

    fn log_stance(&self, st: &mut State, stance: Stance, why: Option<String>, detail: &mut Value) {
        detail["stance"] = json!(match stance {
            Stance::Priority => "priority",
            Stance::Keep => "keep",
            Stance::Yield => "yield",
        });
        if let Some(why) = &why {
            detail["stance_why"] = json!(why);
        }
        if st.last_stance.0 != stance {
            let why = why.as_deref().unwrap_or("positions equal");
            match stance {
                // Debug: with two VIPs (one master each) it follows every
                // replication lag; the engine logs when a stance acts.
                Stance::Keep => tracing::debug!(
                    "check_mysql {}: as MASTER, keeping the VIP even against a higher priority: {why}",
                    self.name
                ),
                Stance::Yield => tracing::debug!(
                    "check_mysql {}: as MASTER, giving way to any live master: {why}",
                    self.name
                ),
                Stance::Priority => {
                    tracing::debug!("check_mysql {}: as MASTER, VRRP's priorities decide: {why}", self.name)
                }
            }
        }
        st.last_stance = (stance, why);
    }

    /// The peer's position compared with ours when ours is known (and the
    /// detail for dumps).
    async fn ask_peer(&self, st: &mut State, own: Option<&Variables>, detail: &mut Value) -> PeerView {
        let interval = self.common.interval;
        let Some(peer) = st.peer.as_mut() else {
            return PeerView {
                peer: Peer::Failed("no peer configured".into()),
                unreachable: true,
            };
        };
        let peer_vars = match peer.connect(interval).await {
            Ok(()) => peer.variables().await,
            Err(e) => Err(e),
        };
        let peer_vars = match peer_vars {
            Ok(v) => v,
            Err(e) => {
                detail["peer"] = json!({ "alive": false, "error": e });
                return PeerView {
                    peer: Peer::Failed(e),
                    unreachable: true,
                };
            }
        };
        // Whether the peer's commits wait for this server's acknowledgement
        // (read only where this server acknowledges them: semi-sync sites).
        let mut peer_semi_sync = None;
        if let (Some(true), Some(sql)) = (
            own.and_then(|o| o.semi_sync_replica),
            peer.flavor.semi_sync_status_sql(),
        ) {
            peer_semi_sync = peer
                .rows(sql)
                .await
                .ok()
                .and_then(|rows| read_semi_sync_status(&rows).active);
        }
        st.peer_semi_sync = peer_semi_sync == Some(true);
        detail["peer"] = json!({
            "alive": true,
            "read_only": peer_vars.read_only,
            "gtid_binlog_pos": peer_vars.binlog_pos,
            "gtid_current_pos": peer_vars.current_pos,
            "semi_sync_active": peer_semi_sync,
        });
        let Some(own) = own else {
            return PeerView {
                peer: Peer::Unknown,
                unreachable: false,
            };
        };
        self.kick_idle_link(st).await;
        let cmp = match self.compare(st, own, &peer_vars).await {
            Ok(c) => c,
            Err(e) => {
                return PeerView {
                    peer: Peer::Failed(e),
                    unreachable: false,
                }
            }
        };
        detail["behind"] = json!(cmp.behind);
        detail["ahead"] = json!(cmp.ahead);
        detail["diverged_domains"] = json!(cmp.diverged);
        PeerView {
            peer: Peer::Compared(cmp),
            unreachable: false,
        }
    }

    /// The peer's server answers but the local link from it is not
    /// replicating: its IO thread waits to reconnect
    /// (`master_connect_retry`, 60 s by default), or stopped on an error
    /// MariaDB does not retry. Restart the IO thread so the peer's writes
    /// arrive now and this server stays a takeover target without an
    /// administrator. A link that keeps stopping on its error is
    /// restarted less and less often.
    ///
    /// The restart runs on a connection of its own, off the check: a
    /// semi-sync replica's stop first tries to reach the old master to end
    /// its dump thread, which takes seconds when that master is gone, far
    /// past the check's timeout. Under the check's connection the stop ran
    /// out the timeout, the start never ran, and the link stayed stopped.
    async fn kick_idle_link(&self, st: &mut State) {
        let Some(peer_host) = self.settings.peer_host.as_deref() else {
            return;
        };
        if st.peer_link_hold.is_some() {
            return;
        }
        let from_peer = |l: &&Link| l.master.starts_with(&format!("{peer_host}:"));
        // Once no link from the peer is left stopped, a later clean stop
        // is an administrator's again.
        if !st.links.iter().filter(from_peer).any(Link::io_stopped_cleanly) {
            st.kick_failed.store(false, Ordering::Release);
        }
        let idle: Vec<Link> = st
            .links
            .iter()
            .filter(from_peer)
            .filter(|l| {
                l.master_unreachable()
                    || l.io_stopped_by_error()
                    || (st.kick_failed.load(Ordering::Acquire) && l.io_stopped_cleanly())
            })
            .cloned()
            .collect();
        let errored = idle.iter().any(Link::io_stopped_by_error);
        if !errored {
            st.kick_backoff = KICK_BACKOFF;
        }
        let wait = if errored { st.kick_backoff } else { KICK_BACKOFF };
        if idle.is_empty()
            || st.kick_running.load(Ordering::Acquire)
            || st.kicked_at.is_some_and(|t| t.elapsed() < wait)
        {
            return;
        }
        if errored {
            st.kick_backoff = (st.kick_backoff * 2).min(MAX_KICK_BACKOFF);
        }
        st.kicked_at = Some(Instant::now());
        st.kick_running.store(true, Ordering::Release);
        let (opts, flavor, name, running, failed) = (
            st.local.opts.clone(),
            st.local.flavor,
            self.name.clone(),
            st.kick_running.clone(),
            st.kick_failed.clone(),
        );
        tokio::spawn(async move {
            for l in idle {
                let restart = async {
                    let mut c = Conn::new(opts.clone()).await?;
                    c.query_iter(flavor.restart_io_sql(&l.name))
                        .await?
                        .drop_result()
                        .await?;
                    c.disconnect().await
                };
                let was = if l.io_stopped_by_error() {
                    format!("had stopped on IO error {}: {}", l.io_errno, l.io_error)
                } else {
                    "was waiting to reconnect".to_string()
                };
                let result = tokio::time::timeout(KICK_TIMEOUT, restart).await;
                failed.store(!matches!(result, Ok(Ok(()))), Ordering::Release);
                match result {
                    Ok(Ok(())) if l.io_stopped_by_error() => tracing::warn!(
                        "check_mysql {name}: replication from {} {was}; IO thread restarted",
                        l.master
                    ),
                    Ok(Ok(())) => tracing::info!(
                        "check_mysql {name}: replication from {} {was}; IO thread restarted",
                        l.master
                    ),
                    Ok(Err(e)) => tracing::warn!(
                        "check_mysql {name}: cannot restart replication from {}: local server: {e}",
                        l.master
                    ),
                    Err(_) => tracing::warn!(
                        "check_mysql {name}: restarting replication from {}: no answer within {KICK_TIMEOUT:?}",
                        l.master
                    ),
                }
            }
            running.store(false, Ordering::Release);
        });
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

    /// A frozen server's final position: read until two reads agree. A
    /// session that read_only does not stop (SUPER, READ_ONLY ADMIN) can
    /// keep it moving: then this fails at the deadline.
    async fn settled(&self, server: &mut Server, deadline: Instant, who: &str) -> Result<Variables, String> {
        let mut target = server.variables().await?;
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = server.variables().await?;
            match policy::settle(&target.binlog_pos, &now.binlog_pos, Instant::now() >= deadline) {
                Settle::Settled => return Ok(target),
                Settle::Again => target = now,
                Settle::StillMoving => {
                    return Err(format!(
                        "{who} still writes (a session with SUPER or READ_ONLY ADMIN?); \
                         its position did not settle within catch_up_timeout ({:?})",
                        self.settings.catch_up_timeout
                    ))
                }
            }
        }
    }

    /// A planned switchover, on the master's side: freeze the local
    /// server (read_only, sessions ended), then wait on the peer until it
    /// has applied the final position, all within catch_up_timeout. Then
    /// the daemon puts the instances in maintenance and the peer, caught
    /// up, takes over. On failure the local server is writable again.
    async fn switch_out(&self, st: &mut State) -> Result<(), String> {
        let deadline = Instant::now() + self.settings.catch_up_timeout;
        if st.peer.is_none() {
            return Err("no peer_host: nobody to hand over to".into());
        }
        let started = Instant::now();
        st.switched_out = true;
        let result = async {
            st.local.set_read_only(true).await?;
            tracing::info!(
                "check_mysql {}: switchover: local server frozen (read_only=ON, sessions ended)",
                self.name
            );
            let own = self.settled(&mut st.local, deadline, "the frozen local server").await?;
            let Some(peer) = st.peer.as_mut() else {
                return Err("no peer_host".into());
            };
            // Its connection may have been dropped by a role change cutting
            // the last round's probe mid-query: connect again, not give up.
            peer.connect(self.common.interval).await?;
            let peer_vars = peer.variables().await?;
            let wait_for = match peer.flavor {
                Flavor::MariaDb => Position::parse(&own.binlog_pos)?.wait_list(peer_vars.server_id),
                Flavor::MySql => own.binlog_pos.clone(),
            };
            if !wait_for.is_empty() {
                let left = deadline.saturating_duration_since(Instant::now());
                let sql = peer.flavor.wait_sql(&wait_for, left);
                let saved = peer.timeout;
                peer.timeout = left + saved;
                let r = peer.scalar(&sql).await;
                peer.timeout = saved;
                if r?.as_deref() != Some("0") {
                    return Err(format!(
                        "the peer did not apply {} within catch_up_timeout ({:?})",
                        own.binlog_pos, self.settings.catch_up_timeout
                    ));
                }
            }
            if peer.flavor == Flavor::MariaDb {
                let peer_now = peer.variables().await?;
                let theirs = self.compare_plain(Flavor::MariaDb, &peer_now, &own)?;
                policy::caught_up_after_wait(&theirs).map_err(|e| format!("the peer is {e}"))?;
            }
            tracing::info!(
                "check_mysql {}: switchover: the peer has every write (up to {}) after {:.3} s; handing over",
                self.name,
                own.binlog_pos,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        .await;
        if let Err(why) = &result {
            st.switched_out = false;
            tracing::warn!("check_mysql {}: switchover abandoned: {why}", self.name);
            match st.local.set_read_only(false).await {
                Ok(()) => tracing::info!("check_mysql {}: local server writable again", self.name),
                Err(e) => tracing::warn!("check_mysql {}: cannot make the local server writable: {e}", self.name),
            }
        }
        result
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
            // Unfrozen (the peer still serves), its position at the start will do.
            let target = match freeze {
                true => self.settled(peer, deadline, "the frozen peer").await?,
                false => peer.variables().await?,
            };
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

/// A driver error for a log line: mysql_async nests an I/O error in two
/// layers that both print "Input/output error: ", so it is said once.
fn describe(e: &mysql_async::Error) -> String {
    match e {
        mysql_async::Error::Io(mysql_async::IoError::Io(io)) => format!("I/O error: {io}"),
        other => other.to_string(),
    }
}

/// The peer's server as bad input: whatever listens at its address.
#[cfg(test)]
mod bad_peer_tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    /// A listener that writes `greeting` to each connection (then, with
    /// `endless`, the same bytes forever) and keeps it open.
    async fn listener(greeting: &'static [u8], endless: bool) -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = l.accept().await {
                tokio::spawn(async move {
                    let _ = sock.write_all(greeting).await;
                    while endless && sock.write_all(greeting).await.is_ok() {}
                    tokio::time::sleep(Duration::from_secs(30)).await;
                });
            }
        });
        port
    }

    async fn connect_to(port: u16) -> (Result<(), String>, Duration) {
        let mut peer = Server::new(ServerOptions {
            label: "peer",
            host: Some("127.0.0.1"),
            socket: None,
            port,
            user: "chk",
            password: Some("x"),
            tls: None,
            timeout: Duration::from_millis(300),
        });
        let started = Instant::now();
        let r = peer.connect(Duration::from_secs(1)).await;
        (r, started.elapsed())
    }

    #[tokio::test]
    async fn a_peer_that_accepts_but_never_greets_fails_within_the_timeout() {
        let (r, took) = connect_to(listener(b"", false).await).await;
        assert_eq!(
            r,
            Err("peer server: cannot connect: no answer within 300ms".to_string())
        );
        assert!(took < Duration::from_secs(2), "{took:?}");
    }

    #[tokio::test]
    async fn a_peer_that_is_not_a_mysql_server_is_named_as_such() {
        for (greeting, endless) in [
            (&b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"[..], false),
            (&b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"[..], false),
            // A stream of garbage: bounded by the timeout, not by its end.
            (&b"\xff\xff\xff\x00garbage"[..], true),
        ] {
            let (r, took) = connect_to(listener(greeting, endless).await).await;
            let e = r.expect_err("not a MySQL server");
            assert!(
                e.starts_with("peer server: cannot connect: it does not speak the MySQL protocol ("),
                "{e}"
            );
            assert!(took < Duration::from_secs(2), "{e}: {took:?}");
        }
    }
}

/// A greeting that is not a MySQL handshake: its framing or its parse
/// failed before any query (the codec's errors come wrapped in an
/// `io::Error` of kind Other; a socket's own errors carry an OS kind).
fn speaks_another_protocol(e: &mysql_async::Error) -> bool {
    match e {
        mysql_async::Error::Io(mysql_async::IoError::Io(io)) => {
            matches!(io.kind(), std::io::ErrorKind::Other | std::io::ErrorKind::InvalidData) && io.get_ref().is_some()
        }
        mysql_async::Error::Driver(mysql_async::DriverError::UnexpectedPacket { .. }) => true,
        _ => false,
    }
}

#[cfg(test)]
mod describe_tests {
    #[test]
    fn an_io_error_is_named_once() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection closed");
        let e = mysql_async::Error::Io(mysql_async::IoError::Io(io));
        assert_eq!(super::describe(&e), "I/O error: connection closed");
    }
}
