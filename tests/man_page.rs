//! man/rkeepalived.8 is generated from the command line with clap_mangen.
//! Regenerate it with:
//!
//!     RKEEPALIVED_UPDATE_MAN=1 cargo test --test man_page
//!
//! Without the variable, this test fails when the checked-in page is stale.
#![allow(clippy::unwrap_used)]

use clap::CommandFactory;

fn render() -> String {
    let mut out = Vec::new();
    clap_mangen::Man::new(rkeepalived::cli::Cli::command())
        .section("8")
        .render(&mut out)
        .unwrap();
    let mut text = String::from_utf8(out).unwrap();
    text.push_str(EXTRA);
    text
}

/// Sections clap cannot know: signals, files, exit status.
const EXTRA: &str = r#".SH SIGNALS
.TP
\fBHUP\fR
Reload the configuration. An instance keeps its identity by name: one whose interface, VRID, version, family and VMAC are unchanged keeps its state, timers, sockets and check results, and other changes apply in place (a MASTER whose addresses changed installs the difference and announces them again; a MASTER whose advert changed, its priority for one, sends it at once); an unchanged instance sends nothing extra and notifies nothing. A check whose settings are unchanged keeps running; a changed one starts anew from its last result. A removed MASTER sends priority 0 and releases its addresses; its generic notify hears FAULT, or DELETED and notify_deleted runs. A new file that \fB\-t\fR fails with 5 or 6 is applied, as keepalived's daemon applies it (its findings are logged); one that fails with 2 (a keyword without its parameter) is refused and the running configuration kept, where keepalived terminates. With \fBreload_check_config\fR a reload is applied only if \fB\-t\fR would pass the new file. The dump files go where \fBstate_file_location\fR, \fBstats_file_location\fR and \fBjson_file_location\fR say.
.TP
\fBTERM\fR, \fBINT\fR
Stop: masters send a priority\-0 advertisement and remove their addresses; STOP notifications for every instance and sync group.
.TP
\fBUSR1\fR
Write $TMPDIR/keepalived.data (the effective configuration and each instance's state).
.TP
\fBUSR2\fR
Write $TMPDIR/keepalived.stats.
.TP
\fBSIGRTMIN+2\fR
Write $TMPDIR/keepalived.json in keepalived 2.2.7's schema (\fB\-\-signum=JSON\fR prints its number).
.TP
\fBSIGRTMAX\-1\fR
Write the statistics and clear them (\fB\-\-signum=STATS_CLEAR\fR).
.SH CONTROL SOCKET
The daemon listens on \fBcontrol_socket\fR (default /run/rkeepalived/control.sock, or \fB\-\-control\-socket\fR), root:root 0600, or root:GROUP 0660 with \fBcontrol_socket_group\fR, whose members (by SO_PEERCRED) may run only \fBstatus\fR and \fBexplain\fR. A request is one JSON line, at most 64 KiB: \fB{"command":"status"}\fR, \fB{"command":"explain","instance":"VI_1"}\fR, \fB{"command":"maintenance","instance":"VI_1","on":true}\fR (or \fB"all":true\fR), \fB{"command":"switchover","instance":"VI_1"}\fR. Each answer is one JSON line with \fB"version":1\fR and \fB"ok"\fR, or \fB"ok":false\fR and \fB"error"\fR. At most 16 clients at once; one that stalls for 10 s is cut off; the protocol loop never waits for a client.
.PP
\fBstatus \-\-json\fR schema (version 1; fields are only added): \fBdaemon\fR {pid, version, started}; \fBinstances\fR[] {name, state, maintenance, interface, vrid, version, vips_set, priority {base, effective, advertised, contributions[] {name, kind, weight, reverse, status, share, fault, changed_ago}}, nopreempt, preempt_delay, preempt_hold, sync_group, master {self, address, priority, age} or null, last_transition, journal[] {time, from, to, reason, priority, peer {address, priority} or null}, switchover {phase (draining, done or abandoned), elapsed or took, error} after a switchover, adverts {sent, received, drops {ttl, length, version, checksum, type, auth_type, auth_mismatch, auth, interval, address_list, unknown_source}}}; \fBchecks\fR[] {name, kind, result, rise_fall {value, rise, fall} or null, last_run_ago, latency_ms, changed_ago, message, and for check_mysql: mysql (its probe's view: gtid positions, read_only, replication, behind, ahead, peer, stance and stance_why, relay_apply {pending, target, waited_ms} while a takeover waits, witnesses[] {witness, answered, error}, isolated, semi_sync {enabled, active, clients, released, error}, peer_link_held {links, why} while replication from the peer is held) and guard {verdict: hold|release, waiting_for}}. Times are seconds since the epoch; ages are seconds.
.SH JOURNAL REASONS
Each instance keeps its last 64 transitions; each names one reason: \fBstartup\fR (it left INIT), \fBmaster_down_timer\fR (no advert for Master_Down_Interval), \fBhigher_priority_heard\fR (as MASTER, a better advert), \fBpriority_zero_heard\fR (the master stepped down), \fBpreempt\fR (it took over from a lower-priority master), \fBtracker_fault\fR, \fBtracker_recovered\fR (an unweighted check, file or process), \fBlink_down\fR, \fBlink_up\fR (a tracked interface), \fBsync_group\fR, \fBguard_release\fR (check_mysql's guard let it preempt), \fBguard_yield\fR (as MASTER, it gave way to another master whose server may hold writes its own lacks), \fBmaintenance\fR, \fBvip_deleted\fR (as MASTER, someone else deleted one of its VIPs), \fBreload\fR (retired and created anew), \fBshutdown\fR.
.SH SYSTEMD
With \fBType=notify\fR the daemon sends \fBREADY=1\fR when it has started and after each reload (\fBRELOADING=1\fR before), and \fBSTATUS=\fR with its instances' states (\fBVI_1 MASTER, VI_2 BACKUP\fR; with more than 8 instances, how many are in each state) at start and after each transition. With \fBWatchdogSec=\fR (the \fBWATCHDOG_USEC\fR environment) the protocol loop itself sends \fBWATCHDOG=1\fR every half of it: a loop that stalls stops the pings, and systemd kills and restarts the daemon (\fBRestart=on\-failure\fR). The shipped units set \fBWatchdogSec=10s\fR.
.SH METRICS
With \fBmetrics_listen\fR \fIADDR:PORT\fR in global_defs (off by default; 127.0.0.1:9165 is suggested) the daemon serves Prometheus metrics at \fBGET /metrics\fR: OpenMetrics when the scraper's Accept header asks for it, the text format 0.0.4 otherwise. keepalived\-exporter's names, types and labels (\fBkeepalived_up\fR, \fBkeepalived_vrrp_state\fR{iname,intf,vrid,ip_address}, \fBkeepalived_vrrp_excluded_state\fR, the 15 advert counters with {iname,intf,vrid}, \fBkeepalived_script_status\fR and \fBkeepalived_script_state\fR{name}), and rkeepalived's own: \fBrkeepalived_priority_base\fR, \fBrkeepalived_priority_effective\fR, \fBrkeepalived_last_transition_timestamp_seconds\fR, \fBrkeepalived_transitions_total\fR{...,reason} (the journal's reasons, each once it has happened), \fBrkeepalived_advert_drops_total\fR{...,reason}, \fBrkeepalived_check_status\fR and \fBrkeepalived_check_latency_seconds\fR{name,kind}, \fBrkeepalived_mysql_behind\fR, \fBrkeepalived_mysql_ahead\fR{name,domain}, \fBrkeepalived_mysql_read_only\fR{name}, \fBrkeepalived_mysql_semi_sync_active\fR and \fBrkeepalived_mysql_semi_sync_released\fR{name} (semi-sync servers), \fBrkeepalived_advert_send_errors_total\fR{iname,intf,vrid} (adverts the kernel refused to send), \fBrkeepalived_stale_check_reports_total\fR. Only GET /metrics is served (405, 404 otherwise); at most 8 connections, headers of at most 16 KiB read within 5 s, 30 s per connection, and no request body is read. The loop hands a snapshot of its numbers to the listener and never waits for a scraper. The metrics tell which VIPs the host serves: binding anything but a loopback address is the admin's choice, and their firewall's job.
.SH MAINTENANCE
\fBrkeepalived maintenance\fR \fIINSTANCE\fR|\fB\-\-all on\fR: a MASTER sends priority 0 and removes its VIPs (its BACKUP notifications run, as for any step-down); the instance stays BACKUP, advertising nothing, and never takes over, even when no master is heard. \fBoff\fR puts it back in the election (no notification until it wins one). Kept in \fBstate_dir\fR/state.json across reloads and restarts. Root only.
.PP
\fBrkeepalived switchover\fR \fIINSTANCE\fR: on the MASTER of an instance that tracks a check_mysql with \fBpeer_host\fR, freeze the local server (read_only=ON, application sessions ended), wait until the peer's server has applied its final gtid_binlog_pos (MASTER_GTID_WAIT, within \fBcatch_up_timeout\fR), then put the instance in maintenance: the peer, caught up, takes over. Abandoned past \fBcatch_up_timeout\fR: the local server is writable again and the instance stays MASTER. Refused on a BACKUP (the answer names the master's address), in maintenance, without such a check, or while another switchover runs. The command waits for the end and prints it. \fBmaintenance\fR \fIINSTANCE\fR \fBon\fR on such a MASTER takes the same path (abandoned, it stays MASTER and out of maintenance); \fB\-\-all\fR steps down at once. With \fBrefuse_on_fault\fR the VIPs stay until the peer's gratuitous ARP (at most Master_Down_Interval), so clients get a read-only error from the frozen server rather than a connect timeout. Root only.
.SH LOGGING
keepalived's messages, by its wording, to syslog (or the console with \fB\-l\fR); \fB\-D\fR adds the debug lines. A dropped advert is a debug line naming its sender and fault, at most one per instance each 10 s; the next one says how many were held back (every drop is counted by reason in \fBstatus\fR, the dumps and the metrics). An address, route or rule the kernel refuses is logged once as an error (\fBcannot add address\fR ... \fBretrying until it lands\fR) and tried again after 1 s, doubling to 30 s; \fBadded address\fR ... \fBafter\fR \fIN\fR \fBattempts\fR says it landed. An advert the kernel refuses to send (a unicast peer that is a broadcast address, a link gone) is a warning, at most one per instance each 10 s, the next saying how many were held back; each is counted (\fBadvert_send_err\fR in the JSON dump, \fBrkeepalived_advert_send_errors_total\fR).
.SH SOCKETS
One raw socket per interface and address family receives the adverts of every instance there, reading up to 16 per system call (\fBrecvmmsg\fR). The instances that send from the same interface, source address and unicast TTL share one send socket, and the adverts that fall due together leave in one \fBsendmmsg\fR per socket (up to 64 each): 255 instances on one interface hold 2 raw sockets, not 256. Their order on the wire is the order they fell due; one advert the kernel refuses does not hold back the others.
.SH ENVIRONMENT
.TP
\fBGLIBC_TUNABLES\fR
The daemon runs without glibc's per-thread cache of freed memory (\fBglibc.malloc.tcache_count=0\fR): glibc reads tunables only at start, so the daemon execs itself once, before it forks or starts a thread (same pid, arguments and descriptors), with that tunable added to any the environment holds. With the cache, reloads left freed chunks where \fBmalloc_trim\fR cannot return them, and the daemon's anonymous memory crept up over hours. A \fBGLIBC_TUNABLES\fR that already names \fBtcache_count\fR is obeyed as it is. Check and notify scripts get the environment the daemon was started with.
.TP
\fBTMPDIR\fR
Where the dumps (\fBUSR1\fR, \fBUSR2\fR, JSON) go when it is an absolute path; /tmp otherwise.
.SH FILES
.TP
/etc/keepalived/keepalived.conf
The configuration (see \fBrkeepalived.conf\fR(5)).
.TP
/run/rkeepalived/control.sock
The control socket.
.TP
/var/lib/rkeepalived/state.json
Which instances are in maintenance.
.TP
/run/keepalived.pid, /run/vrrp.pid
Pid files (\fB\-p\fR, \fB\-r\fR); rkeepalived is one process and writes its pid to both.
.SH "EXIT STATUS"
With \fB\-t\fR, keepalived 2.2.7's verdict on the file: 0 clean (rkeepalived's own remarks are printed), 2 a keyword lacks its parameter (keepalived stops reading; the daemon refuses such a file), 4 it cannot run, 5 configuration errors, including the warnings keepalived counts (the daemon still runs the file, as keepalived's does), 6 scripts or plugins would run insecurely, or a mandatory include is missing. \fB\-t\fR also runs each \fBcheck_plugin\fR's create() on its configuration in a helper. Judged without rkeepalived's own blocks; the exceptions are listed in compat/DEVIATIONS.md.
.PP
Without \fB\-t\fR: 2 for a file keepalived's daemon refuses, 4 a missing file with \fB\-e\fR, 1 another start-up failure.
.PP
\fBstatus\fR, \fBexplain\fR, \fBmaintenance\fR, \fBswitchover\fR: 0 done, 1 the daemon refused the request or the switchover was abandoned (the reason is printed), 2 a usage error, 3 the daemon cannot be reached.
.SH "SEE ALSO"
\fBrkeepalived.conf\fR(5), \fBrkeepalived\-status\fR(8), \fBrkeepalived\-explain\fR(8), \fBrkeepalived\-maintenance\fR(8), \fBrkeepalived\-switchover\fR(8), \fBkeepalived\fR(8)
"#;

fn root() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The pages of the subcommands (status, explain, maintenance,
/// switchover): clap's synopsis and options, then how the command finds
/// the daemon (man/parts/daemon.roff) and the page's own sections.
fn subcommand_pages() -> Vec<(String, String)> {
    let cmd = rkeepalived::cli::Cli::command();
    cmd.get_subcommands()
        .filter(|c| c.get_name() != "help")
        .map(|c| {
            let name = format!("rkeepalived-{}", c.get_name());
            let mut out = Vec::new();
            clap_mangen::Man::new(c.clone().name(Box::leak(name.clone().into_boxed_str()) as &str))
                .section("8")
                .render(&mut out)
                .unwrap();
            let mut page = String::from_utf8(out).unwrap();
            // clap knows the synopsis and options; man/parts/ the rest.
            for part in ["daemon.roff".to_string(), format!("{name}.8")] {
                page.push_str(&std::fs::read_to_string(root().join("man/parts").join(&part)).unwrap());
            }
            (format!("man/{name}.8"), page)
        })
        .collect()
}

#[test]
fn man_page_is_current() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages = vec![("man/rkeepalived.8".to_string(), render())];
    pages.extend(subcommand_pages());
    assert!(pages.len() >= 4, "the main page and one per subcommand");
    for (rel, fresh) in pages {
        let path = root.join(&rel);
        if std::env::var_os("RKEEPALIVED_UPDATE_MAN").is_some() {
            std::fs::write(&path, &fresh).unwrap();
            continue;
        }
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            current == fresh,
            "{rel} is stale: run RKEEPALIVED_UPDATE_MAN=1 cargo test --test man_page"
        );
    }
}

/// Each subcommand's page says what a keepalived user looks for: how it
/// finds the daemon, who may run it, what its output means, its exit
/// statuses and an example; and every option of its --help.
#[test]
fn every_subcommand_has_a_real_page() {
    let cmd = rkeepalived::cli::Cli::command();
    let mut seen = 0;
    for sub in cmd.get_subcommands().filter(|c| c.get_name() != "help") {
        let rel = format!("man/rkeepalived-{}.8", sub.get_name());
        let page = std::fs::read_to_string(root().join(&rel)).unwrap_or_default();
        for section in [
            ".SH \"FINDING THE DAEMON\"",
            ".SH PERMISSIONS",
            ".SH OUTPUT",
            ".SH \"EXIT STATUS\"",
            ".SH EXAMPLE",
            ".SH \"SEE ALSO\"",
            "control_socket",
            "control_socket_group",
            "/run/rkeepalived/control.sock",
        ] {
            assert!(page.contains(section), "{rel} lacks {section}");
        }
        let options: Vec<String> = sub
            .get_arguments()
            .filter_map(|a| a.get_long())
            .chain(["help"])
            .map(|l| format!("\\fB\\-\\-{}\\fR", l.replace('-', "\\-")))
            .collect();
        assert!(!options.is_empty());
        for o in &options {
            assert!(page.contains(o.as_str()), "{rel} does not describe {o}");
        }
        // Each exit status the client returns is explained.
        for code in ["\n0\n", "\n1\n", "\n2\n", "\n3\n"] {
            assert!(page.contains(code), "{rel} lacks exit status {}", code.trim());
        }
        seen += 1;
    }
    assert_eq!(seen, 4, "status, explain, maintenance, switchover");
}

/// `man -l` renders each page, and groff finds nothing to warn about.
#[test]
#[ignore = "needs groff and man-db, which the full test command installs"]
fn pages_render_without_groff_warnings() {
    let mut pages: Vec<_> = std::fs::read_dir(root().join("man"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    pages.sort();
    assert!(pages.len() >= 6, "{pages:?}");
    for p in &pages {
        let out = std::process::Command::new("groff")
            .args(["-ww", "-z", "-man"])
            .arg(p)
            .output()
            .expect("groff");
        let warnings = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && warnings.is_empty(),
            "{}: {warnings}",
            p.display()
        );
        let man = std::process::Command::new("man")
            .args(["-l", "-P", "cat"])
            .arg(p)
            .env("MANWIDTH", "80")
            .output()
            .expect("man");
        let text = String::from_utf8_lossy(&man.stdout);
        assert!(
            man.status.success() && text.contains("NAME"),
            "{}: man -l failed",
            p.display()
        );
    }
}
