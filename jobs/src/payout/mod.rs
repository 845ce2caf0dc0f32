//! Paying referral bonuses: deciding what is owed, recording it, and
//! telling the bonus system.
//!
//! * [`rules`]: the bonus rules (`[payouts] rules`): which tranches a hire
//!   earns and the probation period per job;
//! * [`job_facts`]: the job's level, department and location as the ATS
//!   states them (cached), when a rule depends on them;
//! * [`ledger`]: the payout rows, made and moved by the milestones that
//!   earn them ([`crate::milestones`]), and re-sent by the sweeper;
//! * [`send`]: the `send_payout` job, POSTing one row through the signed
//!   webhook sender ([`crate::outbound::webhook`]);
//! * [`approval`]: what ops do by hand (approve, hold, resolve).

pub mod alert;
pub mod approval;
pub mod job_facts;
pub mod ledger;
pub mod rules;
pub mod send;
