//! `outbound_destinations`: destinations ops must look at before anything
//! more is sent to them.
//!
//! A destination that answers `410 Gone` is telling us to stop; the send
//! path (`jobs::outbox`, `jobs::payout::ledger`) writes a row here with
//! `disabled = true`, every worker process reads it before sending, and
//! ops re-enable it through the API once the receiver is fixed. A
//! destination without a row is enabled.

use sea_orm::entity::prelude::*;

/// One destination's switch.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbound_destinations")]
pub struct Model {
    /// The destination's name: `bonus`, `status_sync`, `crm` or `alert`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    /// Whether sending to it is stopped.
    pub disabled: bool,
    /// Why (the 410's excerpt), or who re-enabled it.
    #[sea_orm(column_type = "Text")]
    pub reason: Option<String>,
    /// When the switch last moved.
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
