//! Paying referral bonuses: deciding what is owed and recording it.
//!
//! * [`rules`]: the bonus rules (`[payouts] rules`): which tranches a hire
//!   earns and the probation period per job;
//! * [`ledger`]: the payout rows, from the milestones that create them to
//!   the `send_payout` job that POSTs each one through the signed webhook
//!   sender ([`crate::outbound::webhook`]), with approvals and holds.

pub mod ledger;
pub mod rules;
