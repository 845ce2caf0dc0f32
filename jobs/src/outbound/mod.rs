//! Every HTTP call this service makes to a system it does not own, and the
//! guards around them. The ATS API clients ([`crate::connectors`]) and the
//! signed webhook sender build on it; nothing here knows about referrals.
//!
//! * [`http`]: the guarded client ([`http::HttpOptions`]: timeouts, our
//!   User-Agent, no redirects, the SSRF guard) and reading answers (bodies
//!   read up to a cap, one-line excerpts with secrets scrubbed, the outbound
//!   request metrics);
//! * [`net_guard`]: the SSRF guard, refusing private and reserved addresses;
//! * [`redact`]: what of a receiver's answer errors, logs and alerts keep;
//! * [`limiter`]: process-wide rate limits per ATS account and per webhook
//!   destination, obeying the server's `Retry-After`;
//! * [`webhook`]: the signed, idempotent POST (Standard Webhooks) to the
//!   bonus system, status sync, CRM and alerts: one attempt, one verdict;
//! * [`sandbox`]: sandbox mode, recording calls in the audit log instead of
//!   making them;
//! * [`service_client`]: the client `golive-check` drives a running
//!   service with.
//!
//! Callers: the worker builds the clients at start-up
//! (`worker/src/runtime/context.rs`) into the [`crate::context::JobContext`]; the
//! payout send job, the outbox and the write-back job use them.

pub mod http;
pub mod limiter;
pub mod net_guard;
pub mod redact;
pub mod sandbox;
pub mod service_client;
pub mod webhook;
