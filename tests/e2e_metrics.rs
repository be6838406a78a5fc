//! End-to-end: Prometheus metrics served by the daemon (keepalived-exporter's
//! names; promtool accepts the bytes), a real Prometheus server scraping two
//! daemons through a failover, and the systemd watchdog pinged by the
//! protocol loop itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use common::*;

fn with_metrics(i: usize, prio: u8) -> String {
    format!(
        "global_defs {{\n    metrics_listen 10.99.0.{}:9165\n}}\nvrrp_script chk {{\n    script /bin/true\n    interval 0.5\n}}\n{}",
        i + 1,
        instance(
            "VI_1",
            51,
            prio,
            &format!("{VIP}/24"),
            "    virtual_ipaddress_excluded {\n        10.99.1.1/32\n    }\n    track_script {\n        chk\n    }"
        )
    )
}

#[test]
#[ignore = "needs root, network namespaces and promtool; run by the full test command (scripts/test-all.sh)"]
fn the_exporter_s_metrics_from_the_daemon_and_promtool_accepts_them() {
    assert!(
        which("promtool"),
        "promtool is not installed (the full test command installs prometheus)"
    );
    let mut lab = Lab::new("metrics", 2);
    lab.start(0, &with_metrics(0, 100), &[]);
    lab.start(1, &with_metrics(1, 90), &[]);
    lab.settle(VIP, &[0], mdi_v2(100) + SLACK);
    std::thread::sleep(Duration::from_secs(1));
    let (code, text) = lab.http_get(0, "http://10.99.0.1:9165/metrics", None);
    assert_eq!(code, 200, "{text}");
    for want in [
        "keepalived_up 1\n",
        "# TYPE keepalived_vrrp_state gauge\n",
        "keepalived_vrrp_state{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\",ip_address=\"10.99.0.100/24\"} 2\n",
        "keepalived_vrrp_excluded_state{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\",ip_address=\"10.99.1.1\"} 2\n",
        "# TYPE keepalived_advertisements_sent_total counter\n",
        "keepalived_become_master_total{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\"} 1\n",
        "keepalived_script_status{name=\"chk\"} 1\n",
        "rkeepalived_priority_base{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\"} 100\n",
        "rkeepalived_transitions_total{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\",reason=\"master_down_timer\"} 1\n",
        "rkeepalived_check_status{name=\"chk\",kind=\"vrrp_script\"} 1\n",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    assert!(!text.contains("_total_total") && !text.contains("# EOF"), "{text}");
    // promtool checks the exact bytes served.
    let file = lab.dir(0).join("metrics.txt");
    std::fs::write(&file, &text).unwrap();
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("promtool check metrics < {}", file.display()))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let (_, b) = lab.http_get(1, "http://10.99.0.2:9165/metrics", None);
    assert!(
        b.contains("keepalived_vrrp_state{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\",ip_address=\"10.99.0.100/24\"} 1\n"),
        "{b}"
    );
    // OpenMetrics when asked for; only GET /metrics.
    let (code, om) = lab.http_get(
        0,
        "http://10.99.0.1:9165/metrics",
        Some("application/openmetrics-text; version=1.0.0"),
    );
    assert_eq!(code, 200);
    assert!(
        om.ends_with("# EOF\n") && om.contains("# TYPE keepalived_advertisements_sent counter\n"),
        "{om}"
    );
    assert_eq!(lab.http_get(0, "http://10.99.0.1:9165/", None).0, 404);
}

#[test]
#[ignore = "needs root, network namespaces and prometheus; run by the full test command (scripts/test-all.sh)"]
fn a_prometheus_server_sees_the_failover() {
    assert!(
        which("prometheus"),
        "prometheus is not installed (the full test command installs it)"
    );
    let mut lab = Lab::new("prom", 3);
    lab.start(0, &with_metrics(0, 100), &[]);
    lab.start(1, &with_metrics(1, 90), &[]);
    // Prometheus in host 2's namespace, with its own configuration and data.
    let dir = lab.dir(2).to_path_buf();
    std::fs::write(
        dir.join("prometheus.yml"),
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: rkeepalived\n    static_configs:\n      - targets: ['10.99.0.1:9165', '10.99.0.2:9165']\n",
    )
    .unwrap();
    let config = format!("--config.file={}", dir.join("prometheus.yml").display());
    let data = format!("--storage.tsdb.path={}", dir.join("data").display());
    lab.spawn_in(
        2,
        &["prometheus", &config, &data, "--web.listen-address=127.0.0.1:9090"],
        "prometheus.log",
    );
    lab.settle(VIP, &[0], mdi_v2(100) + SLACK);
    let master = |lab: &Lab| -> Vec<String> {
        let (_, body) = lab.http_get(
            2,
            "http://127.0.0.1:9090/api/v1/query?query=keepalived_vrrp_state%7Biname%3D%22VI_1%22%7D%20%3D%3D%202",
            None,
        );
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        v["data"]["result"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["metric"]["instance"].as_str().map(str::to_string))
            .collect()
    };
    let seen = wait_for(Duration::from_secs(30), || master(&lab) == ["10.99.0.1:9165"]);
    assert!(
        seen.is_some(),
        "Prometheus never saw host 0 as master: {:?}\n{}",
        master(&lab),
        std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
    );
    lab.stop(0);
    lab.settle(VIP, &[1], skew_v2(90) + SLACK);
    let seen = wait_for(Duration::from_secs(30), || master(&lab) == ["10.99.0.2:9165"]);
    assert!(seen.is_some(), "after the failover Prometheus sees {:?}", master(&lab));
}

#[test]
#[ignore = "needs root and network namespaces; run by the full test command (scripts/test-all.sh)"]
fn the_protocol_loop_itself_pings_the_systemd_watchdog() {
    let mut lab = Lab::new("watchdog", 1);
    let sock_path = lab.dir(0).join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let path = sock_path.to_str().unwrap().to_string();
    lab.start_env(
        0,
        &instance("VI_1", 51, 100, &format!("{VIP}/24"), ""),
        &[
            ("NOTIFY_SOCKET", &path),
            ("WATCHDOG_USEC", "300000"),
            ("RKEEPALIVED_TEST_HOOKS", "1"),
        ],
    );
    // What the daemon tells systemd, with when.
    let read_for = |d: Duration| {
        let mut got = Vec::new();
        let end = Instant::now() + d;
        let mut buf = [0u8; 4096];
        while Instant::now() < end {
            if let Ok(n) = sock.recv(&mut buf) {
                got.push((Instant::now(), String::from_utf8_lossy(&buf[..n]).trim().to_string()));
            }
        }
        got
    };
    let first = read_for(mdi_v2(100) + SLACK);
    let msgs: Vec<&str> = first.iter().map(|(_, m)| m.as_str()).collect();
    assert!(msgs.contains(&"READY=1"), "{msgs:?}");
    assert!(msgs.contains(&"STATUS=VI_1 MASTER"), "{msgs:?}");
    let pings: Vec<Instant> = first
        .iter()
        .filter(|(_, m)| m == "WATCHDOG=1")
        .map(|(t, _)| *t)
        .collect();
    assert!(pings.len() >= 5, "pinged every 150 ms: {msgs:?}");
    let gaps: Vec<Duration> = pings.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().all(|g| *g < Duration::from_millis(400)), "{gaps:?}");
    // The loop alone is blocked (a test-only request): the pings stop,
    // then resume.
    let socket = lab.socket(0);
    let stall = std::thread::spawn(move || {
        use std::io::BufRead;
        use std::io::Write;
        let mut s = std::os::unix::net::UnixStream::connect(socket).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"{\"command\":\"test_stall\",\"millis\":1500}\n").unwrap();
        // The connection stays open for more requests: one answer line.
        let mut answer = String::new();
        let _ = std::io::BufReader::new(s).read_line(&mut answer);
        answer
    });
    let asked = Instant::now();
    let during = read_for(Duration::from_millis(4000));
    let answer = stall.join().unwrap();
    assert!(answer.contains("\"ok\":true"), "the stall request: {answer}");
    // The last ping before the request, then every one after it.
    let before = pings.last().copied().expect("pinged before the stall");
    let after: Vec<Instant> = during
        .iter()
        .filter(|(_, m)| m == "WATCHDOG=1")
        .map(|(t, _)| *t)
        .collect();
    let longest = std::iter::once(before)
        .chain(after.iter().copied())
        .collect::<Vec<_>>()
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    let seen: Vec<(u128, &str)> = during
        .iter()
        .map(|(t, m)| ((*t - asked).as_millis(), m.as_str()))
        .collect();
    assert!(
        longest >= Duration::from_millis(1300),
        "no ping while the loop was blocked: {longest:?} {seen:?}"
    );
    assert!(after.len() >= 5, "pings resumed: {seen:?}");
}
