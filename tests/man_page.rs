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
Reload the configuration. An instance keeps its identity by name: one whose interface, VRID, version, family and VMAC are unchanged keeps its state, timers, sockets and check results, and other changes apply in place (a MASTER whose addresses changed installs the difference and announces them again); an unchanged instance sends nothing extra and notifies nothing. A check whose settings are unchanged keeps running; a changed one starts anew from its last result. A removed MASTER sends priority 0 and releases its addresses; its generic notify hears FAULT, or DELETED and notify_deleted runs. An invalid new configuration is reported and the running one kept.
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
With \fB\-t\fR: 0 the configuration is clean (warnings are printed), 4 it cannot run, 5 it has errors, 6 scripts would run insecurely (keepalived 2.2.7's codes).
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
