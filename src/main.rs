//! The `rkeepalived` binary: parse keepalived's command line, hand over.

use clap::Parser;

fn main() {
    let cli = rkeepalived::cli::Cli::parse();
    std::process::exit(rkeepalived::daemon::main(cli));
}
