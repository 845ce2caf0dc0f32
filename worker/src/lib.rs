//! The `referral-worker` binary's library half: configuration, command line,
//! logging, the HTTP intake and ops API, and the wiring that starts workers.
//!
//! `src/main.rs` is kept to a few lines so that everything it does can be
//! reached from tests: it parses a [`cli::Cli`], loads [`config::Settings`],
//! installs logging with [`telemetry::init`] and hands over to [`run`].
//! Job definitions live in the `jobs` crate, database models in `entities`,
//! schema changes in `migrations`.
//!
//! # Modules
//!
//! | module | owns |
//! |---|---|
//! | [`cli`] | the command line (clap): commands, flags, their parsing |
//! | [`config`] | settings: shape (`settings.rs`, `workflow.rs`, `formats.rs`), layering (`layers.rs`), validation (`validate.rs`), masking (`mask.rs`), `error.rs` |
//! | [`telemetry`] | logging: pretty on a terminal, JSON otherwise |
//! | [`state`] | [`state::AppState`], what HTTP handlers and jobs share |
//! | [`runtime`] | connecting (`connect.rs`), the job context from the settings (`context.rs`), the process that runs HTTP and/or workers (`wiring.rs`), the worker monitor (`workers.rs`), the sweeper and schedules (`schedules.rs`), SIGTERM/SIGINT (`signals.rs`) |
//! | [`http`] | routes: health, `/api`, `/api/ops`, finance exports, metrics, the ops page, OpenAPI, webhook intake; auth, body limits, the one error → response mapping |
//! | [`commands`] | what each CLI command does: [`run`] dispatches; one file per family (`migrate`, `employees`, `links`, `maintenance`, `audit`, `finance`, `ops`), `golive/` for `golive-check`, `render.rs` for text tables |
//!
//! Dependencies point one way: `commands` → `runtime` → `http` → `state`
//! → `config`; nothing below imports what is above it.
//!
//! The binaries in `src/bin/` are the benches (`bench`, `bench_e2e`).

pub mod cli;
pub mod commands;
pub mod config;
pub mod http;
pub mod runtime;
pub mod state;
pub mod telemetry;

pub use commands::run;
