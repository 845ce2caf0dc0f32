//! Referrers, referral links and the attribution rules.
//!
//! * [`employees`]: the referrers, synced from the HRIS (API or CSV import).
//! * [`hires`]: which employee a hire became; HRIS terminations matched
//!   to hires by identity, unmatched ones listed for ops.
//! * [`links`]: minting, revoking and resolving referral tokens.
//! * [`attribution`]: the pure rules that decide whether a referral earns
//!   credit; [`crate::capture`] applies them to stored facts.
//! * [`engagement`]: what the referrer hears of each decision and stage
//!   change (status-sync messages).

pub mod attribution;
pub mod employees;
pub mod engagement;
pub mod hires;
pub mod links;
