//! Every entity under its table's name, for `use entities::prelude::*`.
//!
//! Enums are not re-exported here: import them from the module that owns them
//! (e.g. `entities::payout::PayoutState`) so their origin stays visible.

pub use crate::application::Entity as Application;
pub use crate::application_fact::Entity as ApplicationFact;
pub use crate::ats_job::Entity as AtsJob;
pub use crate::audit_event::Entity as AuditEvent;
pub use crate::candidate::Entity as Candidate;
pub use crate::candidate_ats_id::Entity as CandidateAtsId;
pub use crate::consent::Entity as Consent;
pub use crate::employee::Entity as Employee;
pub use crate::inbox::Entity as Inbox;
pub use crate::milestone::Entity as Milestone;
pub use crate::outbound_destination::Entity as OutboundDestination;
pub use crate::outbound_message::Entity as OutboundMessage;
pub use crate::payout::Entity as Payout;
pub use crate::queue_job::Entity as QueueJob;
pub use crate::reconciliation_import::Entity as ReconciliationImport;
pub use crate::reconciliation_import_row::Entity as ReconciliationImportRow;
pub use crate::reconciliation_item::Entity as ReconciliationItem;
pub use crate::reconciliation_run::Entity as ReconciliationRun;
pub use crate::referral::Entity as Referral;
pub use crate::referral_link::Entity as ReferralLink;
pub use crate::twin_wait::Entity as TwinWait;
pub use crate::unmatched_termination::Entity as UnmatchedTermination;
