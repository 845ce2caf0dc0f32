//! Shared harness for the integration tests.
//!
//! The tests themselves are three binaries: `tests/tests/api/` (one module
//! per area, everything that can share a process), `tests/tests/metrics.rs`
//! (the process-global Prometheus recorder) and `tests/tests/chaos.rs`
//! (whose full run restarts Redis and PostgreSQL). What more than one test
//! needs lives here:
//!
//! - [`db`]: a fresh, isolated SQLite or PostgreSQL database per test
//!   (`db::fresh_sqlite`, `db::fresh_postgres`), migrated with the real
//!   `migrations::Migrator` on request.
//! - [`queue`]: a fresh job queue per test on each storage driver, a unique
//!   Redis key prefix, polling ([`queue::eventually`]), a Redis proxy that
//!   fails on demand.
//! - [`app`]: the service itself, in-process or as the real binary, its
//!   test settings, and [`both_setups!`] (one test per setup for each
//!   scenario).
//! - [`fixtures`]: sample payloads, signing, fake ATS servers, a running
//!   app wired to them, API calls, and readers for the rows the app writes.
//! - [`contract`]: every outbound message checked against its published
//!   JSON Schema.
//! - [`receiver`]: a fake receiver for systems the app POSTs to, verifying
//!   Standard Webhooks signatures and answering from a script.
//! - [`destinations`]: the secrets of those systems and all of them started
//!   at once, with the settings that point an app at them.
//! - [`hostile`]: refused requests as table rows, sent and checked for their
//!   answer and for what they left behind.
//! - [`process_config`]: the TOML of the service run as real processes
//!   (the chaos suite, the hire-latency bench).
//! - [`tls`]: a throw-away CA, TLS servers and a TLS-only Redis.
//! - [`browser`]: headless Chromium through chromedriver, for the `/ops`
//!   page and `/api/docs`.
//! - [`ashby`]: Ashby's samples, signing, and a fake Ashby API.
//! - [`ats_e2e`]: what the per-ATS end-to-end tests share (refusal
//!   tables, quick payouts, the keys of a referral paid once).
//! - [`connectors`]: the connector conformance harness each vendor's fake
//!   implements, with each vendor's declared capabilities.
//! - [`vendors`]: fakes of the vendors' APIs that behave like them
//!   (Workable's with its signing and posting helpers).

pub mod app;
pub mod ashby;
pub mod ats_e2e;
pub mod browser;
pub mod connectors;
pub mod contract;
pub mod db;
pub mod destinations;
pub mod fixtures;
pub mod hostile;
pub mod process_config;
pub mod queue;
pub mod receiver;
pub mod three_way;
pub mod tls;
pub mod twin;
pub mod vendors;
