//! Wiring: the command line's modes, and the daemon itself, as rooms
//! that each do one job. Read this map first.
//!
//! ```text
//!   signals   sockets (adverts in)   host (netlink)   checks (reports)   control (socket)
//!       \            |                    |              /                  /
//!        +------> run: the protocol loop <---------------+------------------+
//!                              |   owns Router<Slot>: engine + slot per instance
//!                              |   feeds the engine (vrrp), gets its output
//!                              v
//!            fence (pure): hold VIPs until check_mysql made the server writable
//!                              v
//!            apply (pure): engine output -> steps (logs, adverts, effects)
//!                              v
//!      adverts: sockets   |   effects worker: addresses, GARP schedule, notify
//!
//!   lifecycle: start / reload / stop, carrying out
//!   reload (pure): the plan — keep, change, create, retire, by instance name
//!   tracking (pure): what each instance tracks; when a check is the same
//!   commands: the loop's answers to the control socket, built by
//!   status (pure) from the slots' journals (pure) and the footguns (pure)
//! ```
//!
//! - [`run`]: the loop and the engine feeding;
//! - [`boot`]: the process from its command line to the loop;
//! - [`lifecycle`]: start-up, reload, retirement, shutdown;
//! - [`reload`] (pure): the reload plan over old and new configuration;
//! - [`apply`] (pure): engine actions to steps, in keepalived's words;
//! - [`fence`] (pure): check_mysql's VIP deferral;
//! - [`tracking`] (pure): tracker wiring, check identity;
//! - [`checks`]: the running check tasks, with generations;
//! - [`host`]: links, addresses, VMACs, netlink;
//! - [`sockets`]: receive sockets, dispatch, the advert sender;
//! - [`effects`]: the ordered effects worker and its GARP schedule;
//! - [`slot`]: one instance's runtime facts;
//! - [`control`]: the control socket (all of its I/O, peer credentials);
//! - [`commands`]: the loop's side of it: status, explain, maintenance, switchover;
//! - [`status`] (pure): the status schema and `explain`'s sentences;
//! - [`journal`] (pure): each instance's transitions and their reasons;
//! - [`footguns`] (pure): what a configuration will not do as meant;
//! - [`state`]: what survives restarts (maintenance), in `state_dir`;
//! - [`switchover`]: planned handovers of a check_mysql master to its peer;
//! - [`reports`]: the dump files on signals (views for [`dump`]);
//! - [`notify`], [`dump`], [`logging`], [`signals`], [`process`],
//!   [`params`], [`precheck`]: notifications, dump files, logs, signals,
//!   pid files and daemonizing, config-to-engine conversion, pre-flight
//!   checks.

pub mod apply;
pub mod boot;
pub mod checks;
pub mod commands;
pub mod control;
pub mod dump;
pub mod effects;
pub mod fence;
pub mod footguns;
pub mod host;
pub mod journal;
pub mod lifecycle;
pub mod logging;
pub mod lvs;
pub mod lvs_view;
pub mod metrics;
pub mod notify;
pub mod params;
pub mod precheck;
pub mod process;
pub mod reload;
pub mod reports;
pub mod run;
pub mod signals;
pub mod slot;
pub mod sockets;
pub mod state;
pub mod status;
pub mod switchover;
pub mod tracking;

use std::io::Write;

use crate::cli::{self, Cli};
use crate::config::{self, LoadOptions};

/// Runs the mode the command line selects; returns the exit status.
pub fn main(cli: Cli) -> i32 {
    if let Some(path) = &cli.plugin_helper {
        return crate::track::plugin::helper::run(path, cli.plugin_probe);
    }
    if let Some(steer) = &cli.command {
        return crate::client::run(&cli, steer);
    }
    if cli.version {
        println!(
            "rkeepalived {} (keepalived 2.2.7 compatible)",
            env!("CARGO_PKG_VERSION")
        );
        return 0;
    }
    if let Some(func) = &cli.signum {
        return match cli::signum(func) {
            Some(n) => {
                println!("{n}");
                0
            }
            None => {
                eprintln!("Unknown sigfunc {func}");
                1
            }
        };
    }
    if cli.genhash {
        eprintln!("rkeepalived: genhash mode (-T) is LVS tooling and not part of rkeepalived");
        return 1;
    }
    if cli.config_test.is_none() {
        process::exec_without_tcache();
    }
    for n in cli::notices(&cli) {
        eprintln!("rkeepalived: {n}");
    }
    if let Some(log) = &cli.config_test {
        return config_test(&cli, log);
    }
    daemon(cli)
}

fn load_options(cli: &Cli) -> LoadOptions {
    LoadOptions {
        config_id: cli.config_id.clone().unwrap_or_else(config::default_config_id),
        limits: Default::default(),
    }
}

fn daemon(cli: Cli) -> i32 {
    let facility = match cli.log_facility.as_deref().map(logging::parse_facility) {
        Some(Some(f)) => f,
        Some(None) => {
            logging::early("invalid --log-facility; using daemon");
            3
        }
        None => 3,
    };
    let log = logging::LogOptions {
        console: cli.log_console,
        syslog: !cli.no_syslog,
        detail: cli.log_detail,
        facility,
    };
    if let Some(mask) = &cli.umask {
        match u32::from_str_radix(mask.trim_start_matches("0o"), 8) {
            Ok(m) => {
                nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(m));
            }
            Err(_) => logging::early(&format!("invalid umask '{mask}'; ignored")),
        }
    }
    let opts = load_options(&cli);
    // Where to run and which pid files: the command line, then the config.
    // The peeked config is dropped here: the daemon loads its own, and
    // keeping this one would double the configuration's memory for the
    // daemon's lifetime (1.5 MB at 1,000 instances).
    let (namespace, pid_paths) = {
        let peek = config::load_file(&cli.use_file, &opts).ok().map(|l| l.config);
        let namespace = cli
            .namespace
            .clone()
            .or_else(|| peek.as_ref().and_then(|c| c.net_namespace.clone()));
        let pid_paths = process::pid_paths(
            cli.pid.as_deref(),
            cli.vrrp_pid.as_deref(),
            peek.as_ref().and_then(|c| c.instance_name.as_deref()),
            peek.as_ref().is_some_and(|c| c.use_pid_dir),
        );
        (namespace, pid_paths)
    };
    if let Err(e) = process::PidFiles::check(&pid_paths) {
        logging::early(&e);
        return 1;
    }
    if let Some(ns) = &namespace {
        if let Err(e) = process::enter_namespace(ns) {
            logging::early(&format!("cannot enter network namespace {ns}: {e}"));
            return 4;
        }
    }
    if !cli.dont_fork {
        if let Err(e) = process::daemonize() {
            logging::early(&format!("cannot daemonize: {e}"));
            return 1;
        }
    }
    logging::init(&log);
    boot::run(&cli, opts, pid_paths)
}

/// `-t`: check the configuration as keepalived does and exit with its codes.
fn config_test(cli: &Cli, log: &str) -> i32 {
    let mut out: Box<dyn Write> = if log.is_empty() {
        Box::new(std::io::stderr())
    } else {
        match std::fs::OpenOptions::new().create(true).append(true).open(log) {
            Ok(f) => Box::new(f),
            Err(e) => {
                eprintln!("rkeepalived: cannot open {log}: {e}");
                return 4;
            }
        }
    };
    let verdict = precheck::verdict(&cli.use_file, &load_options(cli), cli.all_config, &precheck::SystemHost);
    let _ = write!(out, "{}", verdict.report);
    if let (true, Some(c)) = (cli.dump_conf, &verdict.config) {
        let _ = write!(out, "{}", config::dump::dump(c));
    }
    verdict.exit_code
}
