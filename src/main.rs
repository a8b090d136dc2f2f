//! The `gridloop` binary: parse the command line and run it.

use clap::Parser;

fn main() {
    let cli = gridloop::cli::Cli::parse();
    if let Err(f) = gridloop::cli::run(cli) {
        eprintln!("error: {}", f.message);
        std::process::exit(f.code);
    }
}
