//! Prometheus metrics from the daemon itself (`global_defs { metrics_listen
//! ADDR:PORT }`): keepalived-exporter's names, types and labels, so its
//! dashboards and alerts keep working, and rkeepalived's own under
//! `rkeepalived_`. A scrape asks the protocol loop for a [`Snapshot`] (a
//! copy of numbers, no I/O) and encodes it off the loop; the listener
//! serves only `GET /metrics`, with bounded connections and headers, and
//! never reads a body.
//!
//! Encoded with prometheus-client (OpenMetrics); a scraper that does not
//! ask for OpenMetrics (promtool, curl) gets text format 0.0.4.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, LabelSetEncoder};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::vrrp::Stats;

use super::journal::Why;

/// At most this many scrapes at once; more connections are closed.
const MAX_CONNECTIONS: usize = 8;
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);
const LOOP_TIMEOUT: Duration = Duration::from_secs(2);

/// One instance's numbers.
#[derive(Debug, Clone, Default)]
pub struct InstanceSnap {
    pub name: String,
    pub intf: String,
    pub vrid: u8,
    /// keepalived's state code: 0 init, 1 backup, 2 master, 3 fault.
    pub state: i64,
    /// (ip_address, interface) of each VIP, as keepalived-exporter reads
    /// them from keepalived's JSON (`10.0.0.1/24 dev eth0 …`).
    pub vips: Vec<(String, String)>,
    pub excluded: Vec<(String, String)>,
    pub stats: Stats,
    /// `garp_master_delay` in whole seconds (the JSON's `garp_delay`).
    pub garp_delay: u64,
    pub base_priority: u8,
    pub effective_priority: u8,
    /// Seconds since the epoch of the last transition (0: none).
    pub last_transition: f64,
    /// Transitions by reason, in the order of `Why::ALL`.
    pub transitions: [u64; Why::ALL.len()],
    /// Adverts the kernel refused to send.
    pub send_errors: u64,
}

/// One tracked check's numbers.
#[derive(Debug, Clone, Default)]
pub struct CheckSnap {
    pub name: String,
    pub kind: &'static str,
    /// 1 OK, 0 failed, -1 no result yet.
    pub status: i64,
    pub latency: Option<f64>,
    /// vrrp_script: keepalived-exporter's status and state gauges.
    pub script_running: Option<bool>,
    /// check_mysql: per domain (behind, ahead), and read_only.
    pub domains: Vec<(u32, u64, u64)>,
    pub read_only: Option<bool>,
    /// check_mysql on a semi-sync server: (waiting for acknowledgements,
    /// switched off by the check because the peer's replica is gone).
    pub semi_sync: Option<(bool, bool)>,
}

/// What one scrape reports, copied from the protocol loop.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub instances: Vec<InstanceSnap>,
    pub checks: Vec<CheckSnap>,
    pub stale_check_reports: u64,
}

/// A scrape's request to the loop.
pub type Ask = oneshot::Sender<Snapshot>;

/// The exporter's counters, from each instance's stats: (name without
/// `_total`, help, value).
fn counters(s: &InstanceSnap) -> [(&'static str, &'static str, u64); 15] {
    let t = &s.stats;
    [
        (
            "keepalived_advertisements_received",
            "Advertisements received",
            t.advert_rcvd,
        ),
        ("keepalived_advertisements_sent", "Advertisements sent", t.advert_sent),
        ("keepalived_become_master", "Became master", t.become_master),
        ("keepalived_release_master", "Released master", t.release_master),
        (
            "keepalived_packet_length_errors",
            "Packet length errors",
            t.packet_len_err,
        ),
        (
            "keepalived_advertisements_interval_errors",
            "Advertisement interval errors",
            t.advert_interval_err,
        ),
        ("keepalived_ip_ttl_errors", "TTL errors", t.ip_ttl_err),
        (
            "keepalived_invalid_type_received",
            "Invalid type errors",
            t.invalid_type_rcvd,
        ),
        ("keepalived_address_list_errors", "Address list errors", t.addr_list_err),
        (
            "keepalived_authentication_invalid",
            "Authentication invalid",
            t.invalid_authtype,
        ),
        (
            "keepalived_authentication_mismatch",
            "Authentication mismatch",
            t.authtype_mismatch,
        ),
        (
            "keepalived_authentication_failure",
            "Authentication failure",
            t.auth_failure,
        ),
        (
            "keepalived_priority_zero_received",
            "Priority zero received",
            t.pri_zero_rcvd,
        ),
        ("keepalived_priority_zero_sent", "Priority zero sent", t.pri_zero_sent),
        ("keepalived_gratuitous_arp_delay", "Gratuitous ARP delay", s.garp_delay),
    ]
}

/// Drops of received adverts by reason (rkeepalived's own counter).
fn drops(t: &Stats) -> [(&'static str, u64); 11] {
    [
        ("ttl", t.ip_ttl_err),
        ("length", t.packet_len_err),
        ("version", t.version_err),
        ("checksum", t.checksum_err),
        ("type", t.invalid_type_rcvd),
        ("auth_type", t.invalid_authtype),
        ("auth_mismatch", t.authtype_mismatch),
        ("auth", t.auth_failure),
        ("interval", t.advert_interval_err),
        ("address_list", t.addr_list_err),
        ("unknown_source", t.src_err),
    ]
}

#[derive(Debug)]
struct Collect(Snapshot);

/// An instance's labels, borrowed from the snapshot: a scrape of many
/// instances allocates nothing per series.
#[derive(Clone, Copy)]
struct Ids<'a> {
    iname: &'a str,
    intf: &'a str,
    vrid: u8,
}

impl<'a> Ids<'a> {
    fn of(s: &'a InstanceSnap) -> Self {
        Ids {
            iname: &s.name,
            intf: &s.intf,
            vrid: s.vrid,
        }
    }
}

impl EncodeLabelSet for Ids<'_> {
    fn encode(&self, e: &mut LabelSetEncoder<'_>) -> Result<(), std::fmt::Error> {
        [("iname", self.iname), ("intf", self.intf)].encode(e)?;
        [("vrid", self.vrid)].encode(e)
    }
}

/// One more label after an instance's.
type IdsAnd<'a> = (Ids<'a>, [(&'static str, &'a str); 1]);

/// One family: a descriptor and its series.
fn family<L: EncodeLabelSet, M: EncodeMetric>(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    kind: MetricType,
    series: impl IntoIterator<Item = (L, M)>,
) -> Result<(), std::fmt::Error> {
    let mut m = e.encode_descriptor(name, help, None, kind)?;
    for (labels, v) in series {
        v.encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

fn gauges<
    L: EncodeLabelSet,
    V: prometheus_client::encoding::EncodeGaugeValue + std::fmt::Debug + Send + Sync + 'static,
>(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (L, V)>,
) -> Result<(), std::fmt::Error> {
    family(
        e,
        name,
        help,
        MetricType::Gauge,
        series.into_iter().map(|(l, v)| (l, ConstGauge::new(v))),
    )
}

fn counter_family<L: EncodeLabelSet>(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (L, u64)>,
) -> Result<(), std::fmt::Error> {
    family(
        e,
        name,
        help,
        MetricType::Counter,
        series.into_iter().map(|(l, v)| (l, ConstCounter::new(v))),
    )
}

/// One series per VIP, labelled with the VIP's own interface; an instance
/// without VIPs has the exporter's one series with ip_address="".
fn vip_states(i: &InstanceSnap, excluded: bool) -> impl Iterator<Item = (IdsAnd<'_>, i64)> {
    let vips = if excluded { &i.excluded } else { &i.vips };
    let none = (!excluded && vips.is_empty()).then(|| ((Ids::of(i), [("ip_address", "")]), i.state));
    vips.iter()
        .map(move |(ip, intf)| {
            let ids = Ids { intf, ..Ids::of(i) };
            ((ids, [("ip_address", ip.as_str())]), i.state)
        })
        .chain(none)
}

fn check(c: &CheckSnap) -> [(&'static str, &str); 2] {
    [("name", c.name.as_str()), ("kind", c.kind)]
}

type DomainLabels<'a> = ([(&'static str, &'a str); 1], [(&'static str, u32); 1]);

fn domain(c: &CheckSnap, d: u32) -> DomainLabels<'_> {
    ([("name", c.name.as_str())], [("domain", d)])
}

impl Collector for Collect {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let s = &self.0;
        ConstGauge::new(1i64).encode(e.encode_descriptor("keepalived_up", "Status", None, MetricType::Gauge)?)?;
        gauges(
            &mut e,
            "keepalived_vrrp_state",
            "State of vrrp",
            s.instances.iter().flat_map(|i| vip_states(i, false)),
        )?;
        gauges::<IdsAnd<'_>, i64>(
            &mut e,
            "keepalived_vrrp_excluded_state",
            "State of vrrp with excluded VIP",
            s.instances.iter().flat_map(|i| vip_states(i, true)),
        )?;
        for (k, (name, help, _)) in s.instances.first().map(counters).into_iter().flatten().enumerate() {
            counter_family(
                &mut e,
                name,
                help,
                s.instances.iter().map(|i| (Ids::of(i), counters(i)[k].2)),
            )?;
        }
        let scripts: Vec<&CheckSnap> = s.checks.iter().filter(|c| c.script_running.is_some()).collect();
        // keepalived-exporter's mapping: BAD 0, GOOD 1; idle 0, running 1.
        gauges(
            &mut e,
            "keepalived_script_status",
            "Tracker Script Status",
            scripts
                .iter()
                .filter(|c| c.status >= 0)
                .map(|c| ([("name", c.name.as_str())], c.status)),
        )?;
        gauges(
            &mut e,
            "keepalived_script_state",
            "Tracker Script State",
            scripts
                .iter()
                .map(|c| ([("name", c.name.as_str())], i64::from(c.script_running == Some(true)))),
        )?;
        gauges(
            &mut e,
            "rkeepalived_priority_base",
            "The configured priority",
            s.instances.iter().map(|i| (Ids::of(i), i64::from(i.base_priority))),
        )?;
        gauges(
            &mut e,
            "rkeepalived_priority_effective",
            "The priority after tracking",
            s.instances
                .iter()
                .map(|i| (Ids::of(i), i64::from(i.effective_priority))),
        )?;
        gauges(
            &mut e,
            "rkeepalived_last_transition_timestamp_seconds",
            "When the instance last changed state (seconds since the epoch)",
            s.instances.iter().map(|i| (Ids::of(i), i.last_transition)),
        )?;
        counter_family(
            &mut e,
            "rkeepalived_advert_send_errors",
            "Adverts the kernel refused to send",
            s.instances.iter().map(|i| (Ids::of(i), i.send_errors)),
        )?;
        // The two by-reason families list a reason once it has happened,
        // as a client library's labelled counter does: at 100 instances
        // their 25 mostly-zero series each would be most of a scrape.
        counter_family::<IdsAnd<'_>>(
            &mut e,
            "rkeepalived_transitions",
            "State changes by reason (see rkeepalived(8), JOURNAL REASONS)",
            s.instances.iter().flat_map(|i| {
                Why::ALL
                    .iter()
                    .zip(i.transitions)
                    .filter(|(_, n)| *n > 0)
                    .map(move |(w, n)| ((Ids::of(i), [("reason", w.as_str())]), n))
            }),
        )?;
        counter_family::<IdsAnd<'_>>(
            &mut e,
            "rkeepalived_advert_drops",
            "Received adverts dropped, by reason",
            s.instances.iter().flat_map(|i| {
                drops(&i.stats)
                    .into_iter()
                    .filter(|(_, n)| *n > 0)
                    .map(|(r, n)| ((Ids::of(i), [("reason", r)]), n))
            }),
        )?;
        gauges(
            &mut e,
            "rkeepalived_check_status",
            "A check's result: 1 passing, 0 failing, -1 no result yet",
            s.checks.iter().map(|c| (check(c), c.status)),
        )?;
        gauges(
            &mut e,
            "rkeepalived_check_latency_seconds",
            "How long a check's last run took",
            s.checks.iter().filter_map(|c| c.latency.map(|l| (check(c), l))),
        )?;
        gauges(
            &mut e,
            "rkeepalived_mysql_behind",
            "Transactions of the peer this server lacks, per GTID domain",
            s.checks
                .iter()
                .flat_map(|c| c.domains.iter().map(move |(d, b, _)| (domain(c, *d), *b))),
        )?;
        gauges(
            &mut e,
            "rkeepalived_mysql_ahead",
            "Transactions of this server the peer lacks, per GTID domain",
            s.checks
                .iter()
                .flat_map(|c| c.domains.iter().map(move |(d, _, a)| (domain(c, *d), *a))),
        )?;
        gauges(
            &mut e,
            "rkeepalived_mysql_read_only",
            "Whether the server is read-only (1) or writable (0)",
            s.checks
                .iter()
                .filter_map(|c| c.read_only.map(|r| ([("name", c.name.as_str())], i64::from(r)))),
        )?;
        gauges(
            &mut e,
            "rkeepalived_mysql_semi_sync_active",
            "Whether the server's commits wait for a replica's acknowledgement (semi-sync on)",
            s.checks
                .iter()
                .filter_map(|c| c.semi_sync.map(|(a, _)| ([("name", c.name.as_str())], i64::from(a)))),
        )?;
        gauges(
            &mut e,
            "rkeepalived_mysql_semi_sync_released",
            "Whether check_mysql switched semi-sync off because the peer's replica is gone",
            s.checks
                .iter()
                .filter_map(|c| c.semi_sync.map(|(_, r)| ([("name", c.name.as_str())], i64::from(r)))),
        )?;
        ConstCounter::new(s.stale_check_reports).encode(e.encode_descriptor(
            "rkeepalived_stale_check_reports",
            "Check reports from a run a reload replaced, dropped",
            None,
            MetricType::Counter,
        )?)?;
        Ok(())
    }
}

/// The exposition of a snapshot: OpenMetrics, or text format 0.0.4.
pub fn encode(s: Snapshot, openmetrics: bool) -> String {
    let mut r = Registry::default();
    r.register_collector(Box::new(Collect(s)));
    // Sized as the last exposition was: no regrowth (and copy) per scrape.
    static LAST_LEN: AtomicUsize = AtomicUsize::new(0);
    let mut w = Exposition(Vec::with_capacity(LAST_LEN.load(Ordering::Relaxed) + 4096));
    if prometheus_client::encoding::text::encode(&mut w, &r).is_err() {
        return String::new();
    }
    let Ok(out) = String::from_utf8(w.0) else {
        return String::new();
    };
    LAST_LEN.store(out.len(), Ordering::Relaxed);
    if openmetrics {
        out
    } else {
        text_004(&out)
    }
}

/// The encoder's sink. It writes a sample in many pieces of a few bytes:
/// those are copied inline, not through a memcpy call each.
struct Exposition(Vec<u8>);

impl std::fmt::Write for Exposition {
    #[inline]
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let b = s.as_bytes();
        if b.len() <= 16 {
            self.0.reserve(b.len());
            for &c in b {
                self.0.push(c);
            }
        } else {
            self.0.extend_from_slice(b);
        }
        Ok(())
    }
}

/// OpenMetrics to Prometheus text 0.0.4: no `# EOF`, and a counter family
/// is named as its `_total` samples are. Only the few descriptor lines
/// change; the samples between them are copied in one piece.
fn text_004(om: &str) -> String {
    let mut out = String::with_capacity(om.len() + 1024);
    let mut copied = 0;
    let mut at = 0;
    while at < om.len() {
        let end = om[at..].find('\n').map_or(om.len(), |n| at + n + 1);
        let line = &om[at..end];
        if line.starts_with('#') {
            out.push_str(&om[copied..at]);
            copied = end;
            if line == "# EOF\n" {
                // dropped
            } else if let Some((prefix, rest)) = ["# HELP ", "# TYPE "]
                .into_iter()
                .find_map(|p| line.strip_prefix(p).map(|rest| (p, rest)))
            {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, "\n"));
                // OpenMetrics puts HELP, then TYPE, before each family:
                // a counter is known at its TYPE line, so look ahead from HELP.
                let is_counter = if prefix == "# HELP " {
                    let next = &om[end..];
                    let t = format!("# TYPE {name} counter\n");
                    next.starts_with(&t)
                } else {
                    tail == "counter\n"
                };
                out.push_str(prefix);
                out.push_str(name);
                if is_counter {
                    out.push_str("_total");
                }
                out.push(' ');
                out.push_str(tail);
            } else {
                out.push_str(line);
            }
        }
        at = end;
    }
    out.push_str(&om[copied..]);
    out
}

fn respond(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

async fn scrape(
    req: Request<hyper::body::Incoming>,
    loop_tx: mpsc::Sender<Ask>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() != Method::GET {
        return Ok(respond(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "only GET\n".into(),
        ));
    }
    if req.uri().path() != "/metrics" {
        return Ok(respond(StatusCode::NOT_FOUND, "text/plain", "only /metrics\n".into()));
    }
    let openmetrics = req
        .headers()
        .get(hyper::header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    let (tx, rx) = oneshot::channel();
    if loop_tx.try_send(tx).is_err() {
        return Ok(respond(StatusCode::SERVICE_UNAVAILABLE, "text/plain", "busy\n".into()));
    }
    let Ok(Ok(snapshot)) = tokio::time::timeout(LOOP_TIMEOUT, rx).await else {
        return Ok(respond(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "the daemon did not answer\n".into(),
        ));
    };
    let (body, ct) = if openmetrics {
        (
            encode(snapshot, true),
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )
    } else {
        (encode(snapshot, false), "text/plain; version=0.0.4; charset=utf-8")
    };
    Ok(respond(StatusCode::OK, ct, body))
}

/// Binds `addr` and serves scrapes; each asks the returned receiver.
pub async fn listen(addr: SocketAddr) -> std::io::Result<mpsc::Receiver<Ask>> {
    let listener = TcpListener::bind(addr).await?;
    let (tx, rx) = mpsc::channel::<Ask>(MAX_CONNECTIONS);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                continue; // too many scrapes at once: this one is closed
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| scrape(req, tx.clone()));
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .max_buf_size(16 * 1024)
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                let _ = tokio::time::timeout(CONNECTION_TIMEOUT, conn).await;
                drop(permit);
            });
        }
    });
    Ok(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        let stats = Stats {
            advert_sent: 7,
            checksum_err: 2,
            ..Default::default()
        };
        Snapshot {
            instances: vec![
                InstanceSnap {
                    name: "VI_1".into(),
                    intf: "eth0".into(),
                    vrid: 51,
                    state: 2,
                    vips: vec![("10.0.0.100/24".into(), "eth0".into())],
                    excluded: vec![("10.0.1.1/32".into(), "eth1".into())],
                    stats,
                    garp_delay: 5,
                    base_priority: 100,
                    effective_priority: 70,
                    last_transition: 1.5,
                    transitions: [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                    send_errors: 4,
                },
                InstanceSnap {
                    name: "VI_2".into(),
                    intf: "eth0".into(),
                    vrid: 52,
                    state: 1,
                    ..Default::default()
                },
            ],
            checks: vec![
                CheckSnap {
                    name: "chk".into(),
                    kind: "vrrp_script",
                    status: 1,
                    latency: Some(0.002),
                    script_running: Some(false),
                    ..Default::default()
                },
                CheckSnap {
                    name: "db".into(),
                    kind: "check_mysql",
                    status: 1,
                    read_only: Some(false),
                    semi_sync: Some((false, true)),
                    ..Default::default()
                },
            ],
            stale_check_reports: 3,
        }
    }

    #[test]
    fn the_exporter_s_names_and_labels_in_both_formats() {
        let om = encode(snapshot(), true);
        assert!(om.ends_with("# EOF\n"), "{om}");
        assert!(om.contains("# TYPE keepalived_advertisements_sent counter\n"), "{om}");
        assert!(
            om.contains("keepalived_advertisements_sent_total{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\"} 7\n"),
            "{om}"
        );
        assert!(
            om.contains("keepalived_gratuitous_arp_delay_total{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\"} 5\n"),
            "{om}"
        );
        assert!(!om.contains("_total_total"), "no doubled suffix");
        let text = encode(snapshot(), false);
        assert!(!text.contains("# EOF"));
        assert!(
            text.contains("# TYPE keepalived_advertisements_sent_total counter\n"),
            "{text}"
        );
        assert!(text.contains("keepalived_up 1\n"));
        assert!(
            text.contains(
                "keepalived_vrrp_state{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\",ip_address=\"10.0.0.100/24\"} 2\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("keepalived_vrrp_state{iname=\"VI_2\",intf=\"eth0\",vrid=\"52\",ip_address=\"\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("keepalived_vrrp_excluded_state{iname=\"VI_1\",intf=\"eth1\",vrid=\"51\",ip_address=\"10.0.1.1/32\"} 2\n"), "{text}");
        assert!(text.contains("keepalived_script_status{name=\"chk\"} 1\n"));
        assert!(text.contains("keepalived_script_state{name=\"chk\"} 0\n"));
        assert!(text.contains("rkeepalived_transitions_total{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\",reason=\"master_down_timer\"} 1\n"), "{text}");
        assert!(
            text.contains(
                "rkeepalived_advert_drops_total{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\",reason=\"checksum\"} 2\n"
            ),
            "{text}"
        );
        // A reason is listed once it has happened.
        assert!(!text.contains("reason=\"preempt\""), "{text}");
        assert!(!text.contains("reason=\"ttl\""), "{text}");
        assert!(text.contains("rkeepalived_priority_effective{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\"} 70\n"));
        assert!(text.contains("rkeepalived_stale_check_reports_total 3\n"), "{text}");
        // A new master that stopped waiting for its dead peer.
        assert!(
            text.contains("rkeepalived_mysql_semi_sync_active{name=\"db\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("rkeepalived_mysql_semi_sync_released{name=\"db\"} 1\n"),
            "{text}"
        );
        assert!(
            !text.contains("rkeepalived_mysql_semi_sync_active{name=\"chk\"}"),
            "{text}"
        );
        assert!(
            text.contains("rkeepalived_advert_send_errors_total{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\"} 4\n"),
            "{text}"
        );
    }
}
