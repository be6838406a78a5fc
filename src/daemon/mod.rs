//! Wiring: the command line's modes, and the daemon itself.

pub mod precheck;

use std::io::Write;

use crate::cli::{self, Cli};
use crate::config::{self, LoadOptions};

/// Runs the mode the command line selects; returns the exit status.
pub fn main(cli: Cli) -> i32 {
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
    for n in cli::notices(&cli) {
        eprintln!("rkeepalived: {n}");
    }
    if let Some(log) = &cli.config_test {
        return config_test(&cli, log);
    }
    eprintln!("rkeepalived: the daemon is not built yet; use -t to check a configuration");
    4
}

fn load_options(cli: &Cli) -> LoadOptions {
    LoadOptions {
        config_id: cli.config_id.clone().unwrap_or_else(config::default_config_id),
    }
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
    let loaded = match config::load_file(&cli.use_file, &load_options(cli)) {
        Ok(l) => l,
        Err(e) => {
            let _ = writeln!(
                out,
                "{}: {}: configuration file missing or unreadable: {e}",
                cli.use_file.display(),
                if cli.all_config { "error" } else { "warning" }
            );
            // keepalived exits 0 for a missing main file unless -e is given.
            return if cli.all_config { 4 } else { 0 };
        }
    };
    let mut diags = loaded.diags.clone();
    precheck::check(&loaded.config, &precheck::SystemHost, &mut diags);
    let _ = write!(out, "{}", diags.render(&loaded.sources));
    if cli.dump_conf {
        let _ = write!(out, "{}", config::dump::dump(&loaded.config));
    }
    diags.exit_code()
}
