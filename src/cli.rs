//! keepalived 2.2.7's command line, so existing `DAEMON_ARGS` keep working.
//!
//! Options for subsystems rkeepalived does not run (LVS checkers, BFD, SNMP,
//! genhash) are accepted and answered with a one-line notice.

use std::path::PathBuf;

use clap::{ArgAction, Parser};

pub const DEFAULT_CONFIG: &str = "/etc/keepalived/keepalived.conf";
pub const DEFAULT_PID: &str = "/run/keepalived.pid";
pub const DEFAULT_VRRP_PID: &str = "/run/vrrp.pid";

#[derive(Debug, Clone, Parser)]
#[command(
    name = "rkeepalived",
    about = "VRRP and IPVS load-balancer daemon: a drop-in replacement for keepalived",
    long_about = "rkeepalived reads keepalived.conf and runs its VRRP instances, tracked \
                  scripts, files, processes and interfaces, the built-in MySQL/MariaDB \
                  and plugin checks, and its virtual servers: the kernel's IPVS table \
                  kept equal to the configuration minus the real servers whose health \
                  checkers fail. It accepts keepalived 2.2.7's options and signals.",
    disable_version_flag = true,
    after_help = "Signals: HUP reload, TERM/INT stop, USR1 data dump, USR2 statistics dump, \
                  SIGRTMIN+2 JSON dump (see --signum)."
)]
pub struct Cli {
    /// Use the specified configuration file.
    #[arg(short = 'f', long = "use-file", value_name = "FILE", default_value = DEFAULT_CONFIG)]
    pub use_file: PathBuf,

    /// Only run the VRRP subsystem (virtual servers are ignored).
    #[arg(short = 'P', long = "vrrp")]
    pub vrrp: bool,

    /// Only run the health-checker subsystem: virtual servers, no VRRP instances.
    #[arg(short = 'C', long = "check")]
    pub check: bool,

    /// Don't run the BFD subsystem (rkeepalived has none).
    #[arg(short = 'B', long = "no_bfd")]
    pub no_bfd: bool,

    /// Force all child processes to run, even without configuration (no effect: one process).
    #[arg(long = "all")]
    pub all: bool,

    /// Log messages to the console (stderr).
    #[arg(short = 'l', long = "log-console")]
    pub log_console: bool,

    /// Detailed log messages.
    #[arg(short = 'D', long = "log-detail")]
    pub log_detail: bool,

    /// Syslog facility: 0-7 (local0-local7), local0-local7, user or daemon.
    #[arg(short = 'S', long = "log-facility", value_name = "FACILITY")]
    pub log_facility: Option<String>,

    /// Don't log via syslog.
    #[arg(short = 'G', long = "no-syslog")]
    pub no_syslog: bool,

    /// umask for files created (octal).
    #[arg(short = 'u', long = "umask", value_name = "MASK")]
    pub umask: Option<String>,

    /// Drop VIPs on transition from signal (accepted for compatibility).
    #[arg(short = 'X', long = "release-vips")]
    pub release_vips: bool,

    /// Don't remove VRRP VIPs and routes, and send no priority-0 advert, on stop.
    #[arg(short = 'V', long = "dont-release-vrrp")]
    pub dont_release_vrrp: bool,

    /// Don't remove IPVS topology on stop.
    #[arg(short = 'I', long = "dont-release-ipvs")]
    pub dont_release_ipvs: bool,

    /// Don't respawn child processes (no effect: one process).
    #[arg(short = 'R', long = "dont-respawn")]
    pub dont_respawn: bool,

    /// Don't fork the daemon process; run in the foreground.
    #[arg(short = 'n', long = "dont-fork")]
    pub dont_fork: bool,

    /// Dump the effective configuration data at start.
    #[arg(short = 'd', long = "dump-conf")]
    pub dump_conf: bool,

    /// Use the specified pidfile for the daemon.
    #[arg(short = 'p', long = "pid", value_name = "FILE")]
    pub pid: Option<PathBuf>,

    /// Use the specified pidfile for the VRRP process (rkeepalived writes its own pid there too).
    #[arg(short = 'r', long = "vrrp_pid", value_name = "FILE")]
    pub vrrp_pid: Option<PathBuf>,

    /// genhash mode (LVS tooling; not supported).
    #[arg(short = 'T', long = "genhash")]
    pub genhash: bool,

    /// Checkers pidfile (no separate checker process; ignored).
    #[arg(short = 'c', long = "checkers_pid", value_name = "FILE")]
    pub checkers_pid: Option<PathBuf>,

    /// Log all netlink address additions and deletions.
    #[arg(short = 'a', long = "address-monitoring")]
    pub address_monitoring: bool,

    /// BFD pidfile (BFD; not supported).
    #[arg(short = 'b', long = "bfd_pid", value_name = "FILE")]
    pub bfd_pid: Option<PathBuf>,

    /// Enable SNMP (not supported).
    #[arg(short = 'x', long = "snmp")]
    pub snmp: bool,

    /// SNMP agent socket (not supported).
    #[arg(short = 'A', long = "snmp-agent-socket", value_name = "FILE")]
    pub snmp_agent_socket: Option<PathBuf>,

    /// Run in network namespace NAME (overrides the configuration).
    #[arg(short = 's', long = "namespace", value_name = "NAME")]
    pub namespace: Option<String>,

    /// Enable core dumps.
    #[arg(short = 'm', long = "core-dump")]
    pub core_dump: bool,

    /// Set the core dump pattern (accepted; use the system's core_pattern).
    #[arg(short = 'M', long = "core-dump-pattern", value_name = "PATN", num_args = 0..=1, require_equals = true, default_missing_value = "core")]
    pub core_dump_pattern: Option<String>,

    /// Error if any configuration file is missing.
    #[arg(short = 'e', long = "all-config")]
    pub all_config: bool,

    /// config-id for @ conditional lines (default: host name up to its first dot).
    #[arg(short = 'i', long = "config-id", value_name = "ID")]
    pub config_id: Option<String>,

    /// Print the signal number of STOP, RELOAD, DATA, STATS, STATS_CLEAR or JSON and exit.
    #[arg(long = "signum", value_name = "SIGFUNC")]
    pub signum: Option<String>,

    /// Check the configuration and exit; report to LOG_FILE (default stderr).
    #[arg(short = 't', long = "config-test", value_name = "LOG_FILE", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub config_test: Option<String>,

    /// Print the version and exit.
    #[arg(short = 'v', long = "version", action = ArgAction::SetTrue)]
    pub version: bool,

    /// Internal: run one check plugin as the daemon's isolated helper.
    #[arg(long = "plugin-helper", value_name = "PATH", hide = true)]
    pub plugin_helper: Option<std::path::PathBuf>,

    /// Internal: with --plugin-helper, only check that the plugin loads.
    #[arg(long = "plugin-probe", hide = true, requires = "plugin_helper")]
    pub plugin_probe: bool,

    /// The control socket, for the daemon and for its commands (overrides global_defs control_socket).
    #[arg(long = "control-socket", value_name = "PATH", global = true)]
    pub control_socket: Option<PathBuf>,

    /// Where state that survives restarts is kept (overrides global_defs state_dir).
    #[arg(long = "state-dir", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Steer>,
}

/// Commands to a running daemon, over its control socket.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Steer {
    /// Show each instance (state, priority and its trackers' shares, the master heard, the last
    /// transitions, adverts and drops) and each check.
    Status {
        /// The daemon's answer as JSON (a stable schema with a version field).
        #[arg(long)]
        json: bool,
        /// Refresh every SECS seconds (default 1).
        #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "1")]
        watch: Option<f64>,
    },
    /// Say why an instance has its state and priority, what would change them, and the
    /// footguns of its configuration.
    Explain {
        instance: String,
        #[arg(long)]
        json: bool,
    },
    /// Put an instance (or all) in maintenance: it gives up MASTER at once and never takes
    /// over until off. Survives reloads and restarts. Root only.
    Maintenance {
        /// INSTANCE on|off, or --all on|off.
        #[arg(value_name = "INSTANCE|on|off", num_args = 1..=2, required = true)]
        args: Vec<String>,
        /// Every instance.
        #[arg(long)]
        all: bool,
    },
    /// Hand a MASTER tracked by check_mysql over to its peer without losing a write: freeze
    /// the local server, wait until the peer has applied every write (catch_up_timeout), then
    /// maintenance on (the peer takes over). Waits and reports; exit 1 if abandoned. Root only.
    Switchover { instance: String },
}

/// The signal numbers keepalived 2.2.7 prints for `--signum`.
pub fn signum(func: &str) -> Option<i32> {
    Some(match func {
        "STOP" => libc::SIGTERM,
        "RELOAD" => libc::SIGHUP,
        "DATA" => libc::SIGUSR1,
        "STATS" => libc::SIGUSR2,
        "STATS_CLEAR" => libc::SIGRTMAX() - 1,
        "JSON" => libc::SIGRTMIN() + 2,
        _ => return None,
    })
}

/// Notices for options that name subsystems rkeepalived does not have.
pub fn notices(cli: &Cli) -> Vec<&'static str> {
    let mut v = Vec::new();
    if cli.checkers_pid.is_some() {
        v.push("-c/--checkers_pid: rkeepalived has no checker process; ignored");
    }
    if cli.bfd_pid.is_some() {
        v.push("-b/--bfd_pid: rkeepalived has no BFD process; ignored");
    }
    if cli.snmp || cli.snmp_agent_socket.is_some() {
        v.push("-x/-A: SNMP is not supported by rkeepalived; ignored");
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn debian_daemon_args_parse() {
        let c = Cli::try_parse_from([
            "rkeepalived",
            "--dont-fork",
            "--log-console",
            "-D",
            "-S",
            "0",
            "-p",
            "/tmp/a.pid",
            "-r",
            "/tmp/b.pid",
            "-i",
            "node1",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(c.dont_fork && c.log_console && c.log_detail);
        assert_eq!(c.log_facility.as_deref(), Some("0"));
        assert_eq!(c.config_id.as_deref(), Some("node1"));
        assert_eq!(c.use_file, PathBuf::from(DEFAULT_CONFIG));
    }

    #[test]
    fn config_test_takes_an_optional_log_file() {
        let c = Cli::try_parse_from(["rkeepalived", "-t"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.config_test.as_deref(), Some(""));
        let c = Cli::try_parse_from(["rkeepalived", "--config-test=/tmp/log", "-f", "x.conf"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.config_test.as_deref(), Some("/tmp/log"));
        assert_eq!(c.use_file, PathBuf::from("x.conf"));
    }

    #[test]
    fn every_keepalived_option_is_accepted() {
        let args = [
            "rkeepalived",
            "-f",
            "k.conf",
            "-P",
            "-C",
            "-B",
            "--all",
            "-l",
            "-D",
            "-S",
            "local3",
            "-G",
            "-u",
            "0177",
            "-X",
            "-V",
            "-I",
            "-R",
            "-n",
            "-d",
            "-p",
            "p",
            "-r",
            "r",
            "-T",
            "-c",
            "c",
            "-a",
            "-b",
            "b",
            "-x",
            "-A",
            "s",
            "-s",
            "ns",
            "-m",
            "-M=x",
            "-e",
            "-i",
            "id",
            "-t",
            "-v",
        ];
        let c = Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.namespace.as_deref(), Some("ns"));
        let c = Cli::try_parse_from([
            "rkeepalived",
            "--vrrp_pid=/x",
            "--no_bfd",
            "--checkers_pid=/y",
            "--signum=JSON",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.signum.as_deref(), Some("JSON"));
    }

    #[test]
    fn signal_numbers_match_keepalived() {
        // keepalived 2.2.7 prints: STOP 15, RELOAD 1, DATA 10, STATS 12, STATS_CLEAR 63, JSON 36.
        let got: Vec<_> = ["STOP", "RELOAD", "DATA", "STATS", "STATS_CLEAR", "JSON"]
            .iter()
            .map(|s| signum(s))
            .collect();
        assert_eq!(got, [Some(15), Some(1), Some(10), Some(12), Some(63), Some(36)]);
        assert_eq!(signum("FOO"), None);
    }
}
