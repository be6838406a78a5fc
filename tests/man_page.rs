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
Reload the configuration. An instance keeps its identity by name: one whose interface, VRID, version, family and VMAC are unchanged keeps its state, timers, sockets and check results, and other changes apply in place (a MASTER whose addresses changed installs the difference and announces them again); an unchanged instance sends nothing extra and notifies nothing. A check whose settings are unchanged keeps running; a changed one starts anew from its last result. A removed MASTER sends priority 0 and releases its addresses; its generic notify hears FAULT, or DELETED and notify_deleted runs. A new file that \fB\-t\fR fails with 5 or 6 is applied, as keepalived's daemon applies it (its findings are logged); one that fails with 2 (a keyword without its parameter) is refused and the running configuration kept, where keepalived terminates. With \fBreload_check_config\fR a reload is applied only if \fB\-t\fR would pass the new file. The dump files go where \fBstate_file_location\fR, \fBstats_file_location\fR and \fBjson_file_location\fR say.
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
.SH FILES
.TP
/etc/keepalived/keepalived.conf
The configuration (see \fBrkeepalived.conf\fR(5)).
.TP
/run/keepalived.pid, /run/vrrp.pid
Pid files (\fB\-p\fR, \fB\-r\fR); rkeepalived is one process and writes its pid to both.
.SH "EXIT STATUS"
With \fB\-t\fR, keepalived 2.2.7's verdict on the file: 0 clean (rkeepalived's own remarks are printed), 2 a keyword lacks its parameter (keepalived stops reading; the daemon refuses such a file), 4 it cannot run, 5 configuration errors, including the warnings keepalived counts (the daemon still runs the file, as keepalived's does), 6 scripts or plugins would run insecurely, or a mandatory include is missing. \fB\-t\fR also runs each \fBcheck_plugin\fR's create() on its configuration in a helper. Judged without rkeepalived's own blocks; the exceptions are listed in compat/DEVIATIONS.md.
.PP
Without \fB\-t\fR: 2 for a file keepalived's daemon refuses, 4 a missing file with \fB\-e\fR, 1 another start-up failure.
.SH "SEE ALSO"
\fBrkeepalived.conf\fR(5), \fBkeepalived\fR(8)
"#;

#[test]
fn man_page_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("man/rkeepalived.8");
    let fresh = render();
    if std::env::var_os("RKEEPALIVED_UPDATE_MAN").is_some() {
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == fresh,
        "man/rkeepalived.8 is stale: run RKEEPALIVED_UPDATE_MAN=1 cargo test --test man_page"
    );
}
