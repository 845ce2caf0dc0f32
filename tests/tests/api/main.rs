//! The integration tests that can share a process: one test binary, one
//! module per area, so the whole app is linked once instead of once per
//! area. Run one area with a filter on its module path, e.g.
//! `cargo test -p tests --test api payouts::`.
//!
//! Every test gets its own database, Redis key prefix, ports and fake
//! servers from the harness (`tests/src`), so tests of different areas run
//! side by side like tests of one area always did. Two suites are binaries of
//! their own because they must not share a process: `tests/tests/metrics.rs`
//! (the Prometheus recorder is process-global, so other tests' work would
//! count towards what it asserts) and `tests/tests/chaos.rs` (its full run
//! restarts Redis and PostgreSQL and must run alone).
//!
//! - [`ashby`]: Ashby's webhooks captured, refused per the intake
//!   contract, written back to a fake Ashby and paid once.
//! - [`bonus_tiers`]: bonus tiers chosen on the job's level, department
//!   and location read from the ATS; an undecided tier waits for approval;
//!   an ex-employee referrer is ineligible; a second job's referral is paid
//!   for its own hire.
//! - [`capture`]: referral capture over HTTP: links, employees, dedup,
//!   attribution, write-back, merges, erasure, storage outages.
//! - [`cli`]: the binary's configuration handling (`config check`, exit 2,
//!   `PORT` and secret files), `migrate` and `migrate status`.
//! - [`connector_conformance`]: one suite of connector behaviours run
//!   against a fake of each ATS (write-back once, look-up by email, hires
//!   only on the vendor's state, start dates, every page within the rate
//!   limit, 5xx and credential expiry).
//! - [`crash`]: the real binary as processes: SIGKILL, SIGTERM (`/readyz`
//!   503 while draining), no Redis, a `work` process's ops listener.
//! - [`demo`]: `referral-worker demo`, the real binary walking one referral
//!   through every hop, and failing the `bonus` hop on a wrong secret.
//! - [`finance`]: `audit verify`, the exports and the KPIs.
//! - [`golive`]: sandbox mode and `golive-check`.
//! - [`hostile`]: hundreds of hostile requests, each refused and recorded.
//! - [`hostile_network`]: slow headers and bodies, idle sockets beyond the
//!   connection cap, a flood of unsigned posts, proxy variables in the
//!   environment: the service stays healthy and bounded.
//! - [`intake`]: every bad-input class per webhook endpoint, duplicates.
//! - [`engagement`]: what the referral platform hears of each referral
//!   decision and stage change (`referral.credited`, `.lost`,
//!   `.ineligible`, `.stage_changed`), by kind and field as configured.
//! - [`event_order`]: deliveries applied by the vendor's time: replay and
//!   reorder tables per vendor, any arrival order ends in the newest state.
//! - [`lever`]: Lever against a fake Lever API: hires only on the API's
//!   state, start dates from offers, Lever's own referrals, token places.
//! - [`logs`]: no personal data in the real binary's logs.
//! - [`migrations`]: the shipped migrations on SQLite and PostgreSQL.
//! - [`milestone_sources`]: offer events, generic status events, hire
//!   stages, HRIS terminations.
//! - [`milestones`]: hires and probation timers end to end.
//! - [`notifications`]: approval, 410, alerts, status sync, CRM hand-off.
//! - [`ops`]: the ops API end to end.
//! - [`ops_page`]: the `/ops` page in headless Chromium.
//! - [`ops_console`]: the `/ops` page's jobs, job, inbox and workflow
//!   views in headless Chromium: browse, search, retry and replay with a
//!   reason, hostile data shown as text.
//! - [`payouts`]: the ledger and the signed, idempotent bonus POST (also
//!   over HTTPS to a receiver behind a private CA).
//! - [`queue_conformance`]: one queue suite run on Redis, SQLite and
//!   PostgreSQL.
//! - [`queue_redis`]: Redis-only queue behaviour (hash tags, TTLs, outages).
//! - [`privacy`]: data-subject exports and erasures, consent, the
//!   retention purge of referrers, the `privacy` commands.
//! - [`races`]: the races the global audit lock used to hide.
//! - [`rate_limits`]: the bonus rate limit with two worker processes.
//! - [`reports`]: programme KPIs (participation, funnel, cost per hire) and
//!   the scheduled KPI report, kept per tick and sent to the CRM.
//! - [`reconciliation`]: variances found, fixed and recorded; one run per
//!   cron tick.
//! - [`retention`]: the retention purge.
//! - [`runtime`]: the service in-process: start-up, readiness, jobs, stop,
//!   a `rediss://` queue behind a private CA.
//! - [`smartrecruiters`]: SmartRecruiters' handshake and id-only
//!   notifications read through a fake Customer API, written back, a hire
//!   with `startsOn` paid once, reconciliation clean, `candidate.deleted`
//!   erasing; the intake contract at `/webhooks/smartrecruiters`; the
//!   client within the concurrency limits.
//! - [`terminations`]: HRIS terminations matched to hires by identity;
//!   unmatched ones listed for ops.
//! - [`three_way`]: the referral platform's and the CRM's imports (CSV
//!   through the binary, JSON through the API) compared with our
//!   attributions and the ATS: every variance type, idempotent imports, bad
//!   rows, the monthly schedule once per tick, the day-7 audit once.
//! - [`twin_fallback`]: a careers-site referral whose ATS application never
//!   arrives found in the ATS by email and written back; idempotent with
//!   a late twin; not found listed for ops; durable across a restart and a
//!   wiped Redis.
//! - [`workable`]: Workable's webhooks re-read through a fake Workable
//!   API, written back, a hire paid only once the API confirms it, its
//!   start date from the HRIS, reconciliation clean; merges and deletions
//!   noticed as a 404; job facts for bonus tiers; the intake contract at
//!   `/webhooks/workable`.

mod ashby;
mod bonus_tiers;
mod capture;
mod cli;
mod connector_conformance;
mod crash;
mod demo;
mod engagement;
mod event_order;
mod finance;
mod golive;
mod hostile;
mod hostile_ashby;
mod hostile_network;
mod hostile_smartrecruiters;
mod hostile_workable;
mod intake;
mod lever;
mod logs;
mod migrations;
mod milestone_sources;
mod milestones;
mod notifications;
mod ops;
mod ops_console;
mod ops_page;
mod payouts;
mod privacy;
mod queue_conformance;
mod queue_redis;
mod races;
mod rate_limits;
mod reconciliation;
mod reports;
mod retention;
mod runtime;
mod smartrecruiters;
mod terminations;
mod three_way;
mod twin_fallback;
mod workable;
