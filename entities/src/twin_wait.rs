//! `twin_waits`: the fallback write-back's durable timer, one row per
//! credited careers-site referral waiting for its ATS twin (the same
//! candidacy arriving from the ATS's webhooks).
//!
//! Written by capture (`jobs::capture::twin_fallback`) in the transaction
//! that credits the referral; closed there too when the twin arrives, and
//! by the `twin_wait_due` job when it is due (twin arrived, written back
//! through a look-up by email, or not found). The sweeper re-arms the job
//! of a `waiting` row the queue lost; `ops stuck` lists the rows closed
//! without a write-back. Holds ids only, no personal data.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::states::Ats;

/// Where a wait stands. `waiting` is the only open state; every other one
/// is how it ended.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum TwinWaitState {
    /// The job fires at `due_at` (a look-up, or the next one after a miss).
    #[sea_orm(string_value = "waiting")]
    Waiting,
    /// The ATS application arrived through its webhooks: the normal
    /// write-back took over, no look-up was needed.
    #[sea_orm(string_value = "twin_arrived")]
    TwinArrived,
    /// Found by email in the ATS and written back there
    /// (`found_ats`, `found_application_id`).
    #[sea_orm(string_value = "written_back")]
    WrittenBack,
    /// Not found after `ats.twin_lookups` look-ups, or nothing to look up
    /// by; `reason` says which. Listed by `ops stuck`.
    #[sea_orm(string_value = "not_found")]
    NotFound,
    /// The ATS refused the look-up or the write for good; `reason` holds
    /// its answer. Listed by `ops stuck`.
    #[sea_orm(string_value = "failed")]
    Failed,
    /// Nothing to do: the referral is no longer credited, the ATS has no
    /// API configured, or sandbox mode recorded the write; `reason` says
    /// which.
    #[sea_orm(string_value = "skipped")]
    Skipped,
}

/// One wait.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "twin_waits")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The credited referral; one wait per referral (unique).
    #[sea_orm(unique)]
    pub referral_id: i64,
    /// The careers-site submission the referral was credited on.
    pub application_id: i64,
    /// The ATS the submission says its job lives in (`job.ats`); the
    /// careers site itself when it did not say (then every configured ATS
    /// is asked).
    pub ats: Ats,
    /// Where the wait stands.
    pub state: TwinWaitState,
    /// When the next look-up is due.
    pub due_at: DateTimeUtc,
    /// Look-ups made so far.
    pub lookups: i32,
    /// The queue job that fires at `due_at`.
    pub job_id: Option<String>,
    /// The ATS the candidate was found in.
    pub found_ats: Option<Ats>,
    /// The ATS application written back to.
    pub found_application_id: Option<String>,
    /// Why it ended as it did (not found, failed, skipped).
    #[sea_orm(column_type = "Text")]
    pub reason: Option<String>,
    /// When the row was created.
    pub created_at: DateTimeUtc,
    /// When the row last changed.
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
