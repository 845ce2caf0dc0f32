//! Consent at capture: the flags an applicant gave with an application
//! (the careers site's `consent`), stored with when they were given and by
//! which source, once per application and source.
//!
//! Called by capture ([`crate::capture::application`]) inside its locked
//! transaction, so the consent commits with the application it came with;
//! read by the data-subject export ([`super::candidate`]).

use chrono::{DateTime, Utc};
use entities::{consent, inbox::InboxSource};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};

use crate::{
    error::Result,
    intake::event::{Consent, Source},
};

/// Records `flags` for `application_id` of `candidate_id`, given at
/// `given_at` through `source`. A redelivery (same application and
/// source) records nothing new: the first consent on record stands.
///
/// # Errors
/// Database errors.
pub async fn record(
    conn: &impl ConnectionTrait,
    candidate_id: i64,
    application_id: i64,
    source: Source,
    given_at: DateTime<Utc>,
    flags: &Consent,
) -> Result<()> {
    consent::Entity::insert(consent::ActiveModel {
        candidate_id: Set(candidate_id),
        application_id: Set(application_id),
        source: Set(inbox_source(source)),
        given_at: Set(given_at),
        flags: Set(serde_json::to_string(flags)?),
        recorded_at: Set(Utc::now()),
        ..Default::default()
    })
    .on_conflict_do_nothing_on([consent::Column::ApplicationId, consent::Column::Source])
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

fn inbox_source(source: Source) -> InboxSource {
    match source {
        Source::CareersSite => InboxSource::CareersSite,
        Source::Greenhouse => InboxSource::Greenhouse,
        Source::Lever => InboxSource::Lever,
        Source::Ashby => InboxSource::Ashby,
        Source::Workable => InboxSource::Workable,
        Source::SmartRecruiters => InboxSource::SmartRecruiters,
    }
}
