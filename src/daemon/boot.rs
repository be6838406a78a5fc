//! The daemon process from its command line to its protocol loop: read
//! and check the configuration (refusing what keepalived refuses), start
//! the runtime, install signals, write the pid files, then start the
//! [`Daemon`] with the control socket and the state file.

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::Cli;
use crate::config::{self, LoadOptions};

use super::control;
use super::precheck;
use super::run::Daemon;

pub fn log_diagnostics(diags: &config::Diagnostics, sources: &config::SourceMap) {
    for d in diags.iter() {
        let line = config::diag::render_one(d, sources).to_string();
        match d.severity {
            config::Severity::Error => tracing::error!("{line}"),
            config::Severity::Warning => tracing::warn!("{line}"),
        }
    }
}

/// How the daemon was started (beyond its configuration).
pub struct StartOptions {
    pub load_opts: LoadOptions,
    pub config_path: PathBuf,
    pub release_on_stop: bool,
    /// Not `-I`: remove the IPVS entries the daemon made when it stops.
    pub release_ipvs: bool,
    /// `--control-socket`: overrides the configuration's `control_socket`.
    pub control_socket: Option<PathBuf>,
    /// `--state-dir`: overrides the configuration's `state_dir`.
    pub state_dir: Option<PathBuf>,
}

/// Opens the control socket; without it the daemon runs on (it is
/// reported), reachable only through signals and dump files.
pub(super) fn open_control(
    path: &std::path::Path,
    group: Option<&str>,
) -> Option<tokio::sync::mpsc::Receiver<control::Request>> {
    let gid = match group.map(nix::unistd::Group::from_name) {
        None => None,
        Some(Ok(Some(g))) => Some(g.gid.as_raw()),
        Some(_) => {
            tracing::error!(
                "control_socket_group {}: no such group; the socket stays root-only",
                group.unwrap_or("")
            );
            None
        }
    };
    match control::listen(path, gid) {
        Ok(rx) => {
            tracing::info!("control socket {}", path.display());
            Some(rx)
        }
        Err(e) => {
            tracing::error!("cannot open the control socket {}: {e}", path.display());
            None
        }
    }
}

/// How long instances wait before starting: `vrrp_startup_delay`, or
/// longer if the machine booted less than `vrrp_delay_after_boot` ago.
pub(super) fn startup_wait(startup_delay: Duration, after_boot: Duration, uptime: Duration) -> Duration {
    startup_delay.max(after_boot.saturating_sub(uptime))
}

/// Entry point of the daemon mode. Pid files are written once signals are
/// handled and removed when the daemon ends.
pub fn run(cli: &Cli, load_opts: LoadOptions, pid_paths: Vec<PathBuf>) -> i32 {
    let mut loaded = match config::load_file(&cli.use_file, &load_opts) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("Configuration file {}: {e}", cli.use_file.display());
            if cli.all_config {
                return 4;
            }
            config::load_str(&cli.use_file.to_string_lossy(), "", &load_opts)
        }
    };
    tracing::info!(
        "Starting rkeepalived {} (keepalived 2.2.7 compatible)",
        env!("CARGO_PKG_VERSION")
    );
    let mut diags = loaded.diags.clone();
    let verdicts = precheck::check(&loaded.config, &precheck::SystemHost, &mut diags);
    log_diagnostics(&diags, &loaded.sources);
    if diags.refuses_to_run() {
        // As keepalived 2.2.7: a keyword missing its parameter stops it.
        tracing::error!("the configuration cannot be run; exiting");
        return diags.exit_code();
    }
    if cli.dump_conf {
        for line in config::dump::dump(&loaded.config).lines() {
            tracing::info!("{line}");
        }
    }
    // keepalived's -P and -C: one subsystem only.
    if cli.vrrp {
        loaded.config.lvs = Default::default();
    }
    if cli.check {
        loaded.config.instances.clear();
        loaded.config.sync_groups.clear();
    }
    if loaded.config.instances.is_empty() && loaded.config.lvs.is_empty() {
        tracing::warn!("Warning - keepalived has no configuration to run");
    }
    // One thread runs the protocol loop, the socket readers and the checks
    // (all async); blocking work goes to tokio's blocking pool.
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            return 1;
        }
    };
    let release = !cli.dont_release_vrrp;
    let path = cli.use_file.clone();
    rt.block_on(async move {
        let signals = match super::signals::install() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("cannot install signal handlers: {e}");
                return 1;
            }
        };
        let _pids = match super::process::PidFiles::write(pid_paths) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!("cannot write pid file: {e}");
                return 1;
            }
        };
        let opts = StartOptions {
            load_opts,
            config_path: path,
            release_on_stop: release,
            release_ipvs: !cli.dont_release_ipvs,
            control_socket: cli.control_socket.clone(),
            state_dir: cli.state_dir.clone(),
        };
        match Daemon::start(loaded, verdicts, opts, signals).await {
            Ok((d, inputs)) => d.run(inputs).await,
            Err(e) => {
                tracing::error!("cannot start: {e}");
                1
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::startup_wait;
    use std::time::Duration;

    #[test]
    fn delay_after_boot_counts_from_boot_and_the_longer_delay_wins() {
        let s = Duration::from_secs;
        assert_eq!(startup_wait(s(0), s(0), s(100)), s(0));
        assert_eq!(startup_wait(s(0), s(30), s(10)), s(20), "booted 10 s ago: 20 s to go");
        assert_eq!(
            startup_wait(s(0), s(30), s(300)),
            s(0),
            "a restart long after boot waits not"
        );
        assert_eq!(startup_wait(s(5), s(30), s(28)), s(5), "vrrp_startup_delay is longer");
    }
}
