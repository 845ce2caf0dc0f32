//! `referral-worker`: the process entry point.
//!
//! Kept deliberately small: parse the command line, load the settings, set up
//! logging and hand over to `worker::run`. Exit statuses: 0 on success, 1 when
//! a command fails, 2 for a usage or configuration error (clap's own choice
//! for usage errors, kept for config errors so scripts see one "you called me
//! wrong" status).

use std::process::ExitCode;

use clap::Parser;
use worker::cli::{Cli, Command, ConfigCommand};

/// Status for a usage or configuration error.
const EXIT_CONFIG: u8 = 2;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();

    // Before logging is set up (its settings are part of what is loaded), so
    // errors go straight to stderr.
    let settings = match cli.load_settings() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };

    match cli.command {
        Command::Config(ConfigCommand::Check) => {
            print!("{}", settings.to_masked_toml());
            ExitCode::SUCCESS
        }
        command => {
            worker::telemetry::init(&settings.log);
            match worker::run(command, settings).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    // `{:#}` prints the whole context chain on one line.
                    eprintln!("error: {err:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
