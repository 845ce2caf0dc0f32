//! Shared harness for the integration tests.
//!
//! - [`db`]: a fresh, isolated SQLite or PostgreSQL database per test
//!   (`db::fresh_sqlite`, `db::fresh_postgres`), migrated with the real
//!   `migrations::Migrator` on request.
//! - [`queue`]: a fresh job queue per test on each storage driver.
//! - [`app`]: the service itself, in-process or as the real binary.
//! - [`fixtures`]: sample payloads, signing, fake ATS servers and readers
//!   for the capture tests.
//! - [`receiver`]: a fake system we POST to (bonus, status sync, CRM, alerts).
//! - [`tls`]: a throw-away CA, TLS servers and a TLS-only Redis.

pub mod app;
pub mod db;
pub mod fixtures;
pub mod hostile;
pub mod queue;
pub mod receiver;
pub mod tls;
