//! The `referral-worker` binary's library half: configuration, command line,
//! logging, the HTTP intake and ops API, and the wiring that starts workers.
//!
//! `src/main.rs` is kept to a few lines so that everything it does can be
//! reached from tests: it parses a [`cli::Cli`], loads [`config::Settings`],
//! installs logging with [`telemetry::init`] and hands over to [`run`].
//! Job definitions live in the `jobs` crate, database models in `entities`,
//! schema changes in `migrations`.

pub mod cli;
pub mod commands;
pub mod config;
pub mod http;
pub mod runtime;
pub mod state;
pub mod telemetry;

pub use commands::run;
