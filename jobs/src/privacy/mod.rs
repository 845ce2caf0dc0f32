//! Data-subject requests (issue 21): export everything we hold on one
//! person, or erase their personal data on request, for a candidate or a
//! referrer; and the consent an applicant gives at capture.
//!
//! # What an erasure keeps
//!
//! The money trail and the audit chain. Personal columns (a candidate's
//! email, phone and names; a referrer's email and name) are replaced by a
//! *tombstone* ([`tombstone`]): JSON naming the erased fields, when and why,
//! stored on the row, whose SHA-256 the erasure's audit event records. The
//! audit log itself holds ids and reasons only, so its hash chain is
//! untouched and `audit verify` still passes. Applications, referrals,
//! milestones, payouts (amounts, ids, idempotency keys, webhook ids) stay.
//!
//! A candidate is erased by the one erasure capture uses for Greenhouse's
//! `candidate_anonymized` and the retention purge uses for old rejections
//! (`crate::capture::erasure::erase_personal_data`); their stored webhook
//! bodies ([`deliveries`]) are cleared too. Referrers inactive for
//! `retention.referrer_after` are erased by the retention purge
//! ([`crate::maintenance::retention`]) through [`referrer::erase_row`].
//!
//! # Who calls it
//!
//! The worker's `/api/privacy/...` routes and `referral-worker privacy ...`
//! commands ([`candidate::erase`], [`candidate::export`],
//! [`referrer::erase`], [`referrer::export`]); capture
//! ([`consent::record`]).

pub mod candidate;
pub mod consent;
mod deliveries;
pub mod referrer;
pub mod tombstone;
