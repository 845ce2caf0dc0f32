//! Paying referral bonuses: deciding what is owed and telling the referral
//! program system about it.
//!
//! * [`outbound`]: the signed Standard Webhooks POST to a destination (the
//!   bonus system, the referral platform, the CRM) and what each response
//!   means for the job queue.

pub mod ledger;
pub mod outbound;
pub mod rules;
