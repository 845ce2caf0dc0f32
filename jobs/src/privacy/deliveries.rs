//! Which stored webhook deliveries are about a person: the raw bodies in
//! the inbox carry their email, phone and name, so an export shows them and
//! an erasure clears them.
//!
//! A delivery is about a candidate when its decoded event
//! ([`crate::intake::decode_stored`], the decoder capture itself uses)
//! names one of the candidate's applications or ATS candidate ids (by ATS
//! and id), or the candidate's canonical email. Matching on the decoded
//! event rather than on substrings keeps another person's delivery that
//! merely contains the same number out of it, and still finds the
//! deliveries of a candidate whose email is already erased.
//!
//! Every stored body is decoded once per request: data-subject requests are
//! rare, and the inbox holds bodies only until the retention purge clears
//! them.

use std::collections::HashSet;

use entities::{
    inbox::{self, InboxStatus},
    states::Ats,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use crate::{
    error::Result,
    identity::CanonicalEmail,
    intake::{
        decode_stored,
        event::{IntakeEvent, Source},
    },
};

/// Deliveries read per query.
const PAGE: u64 = 200;

/// What identifies one person (a candidate and the rows merged into it)
/// in a delivery.
#[derive(Debug, Default)]
pub(crate) struct Identifiers {
    /// Their applications, by ATS and the ATS's id.
    pub applications: HashSet<(Ats, String)>,
    /// Their ATS candidate ids.
    pub candidates: HashSet<(Ats, String)>,
    /// Their canonical emails.
    pub emails: HashSet<String>,
}

impl Identifiers {
    fn names(&self, event: &IntakeEvent) -> bool {
        let app = |ats: Ats, id: &str| self.applications.contains(&(ats, id.to_owned()));
        let cand = |ats: Ats, id: Option<&str>| {
            id.is_some_and(|id| self.candidates.contains(&(ats, id.to_owned())))
        };
        match event {
            IntakeEvent::Application(ev) => {
                // A careers-site submission is stored under the careers
                // site, whatever ATS its job lives in (see capture).
                let ats = if ev.source == Source::CareersSite {
                    Ats::CareersSite
                } else {
                    ev.ats
                };
                app(ats, &ev.ats_application_id)
                    || cand(ev.ats, ev.ats_candidate_id.as_deref())
                    || ev
                        .email
                        .as_deref()
                        .and_then(CanonicalEmail::parse)
                        .is_some_and(|e| self.emails.contains(e.as_str()))
            }
            IntakeEvent::StageChanged(sc) => {
                app(sc.ats, &sc.ats_application_id) || cand(sc.ats, sc.ats_candidate_id.as_deref())
            }
            IntakeEvent::CandidateMerged {
                from_candidate_id,
                into_candidate_id,
            } => {
                cand(Ats::Greenhouse, Some(from_candidate_id))
                    || cand(Ats::Greenhouse, Some(into_candidate_id))
            }
            IntakeEvent::ApplicationDeleted { application_id, .. } => {
                app(Ats::Greenhouse, application_id)
            }
            IntakeEvent::CandidateAnonymized { candidate_id } => {
                cand(Ats::Greenhouse, Some(candidate_id))
            }
            IntakeEvent::LeverOpportunity { opportunity_id, .. } => app(Ats::Lever, opportunity_id),
            IntakeEvent::WorkableCandidate { candidate_id, .. } => {
                app(Ats::Workable, candidate_id) || cand(Ats::Workable, Some(candidate_id))
            }
            IntakeEvent::SmartRecruitersAssignment {
                candidate_id,
                job_id,
                ..
            } => {
                cand(Ats::SmartRecruiters, Some(candidate_id))
                    || job_id.as_deref().is_some_and(|job| {
                        app(
                            Ats::SmartRecruiters,
                            &crate::connectors::smartrecruiters::application_id(candidate_id, job),
                        )
                    })
            }
            IntakeEvent::Ignored { .. } => false,
        }
    }
}

/// The inbox rows still holding a body that is about `who`, in id order.
///
/// # Errors
/// Database errors. A body that no longer decodes is skipped (it cannot be
/// attributed to anyone).
pub(crate) async fn about(
    conn: &impl ConnectionTrait,
    who: &Identifiers,
    start_date_field: &str,
) -> Result<Vec<inbox::Model>> {
    let mut found = Vec::new();
    let mut cursor = i64::MIN;
    loop {
        let page = inbox::Entity::find()
            .filter(inbox::Column::Id.gt(cursor))
            .filter(inbox::Column::RawBody.is_not_null())
            .order_by_asc(inbox::Column::Id)
            .limit(PAGE)
            .all(conn)
            .await?;
        let Some(last) = page.last() else { break };
        cursor = last.id;
        let full = page.len() as u64 == PAGE;
        for row in page {
            let about_them = row.raw_body.as_deref().is_some_and(|body| {
                decode_stored(row.source, body, start_date_field).is_ok_and(|e| who.names(&e))
            });
            if about_them {
                found.push(row);
            }
        }
        if !full {
            break;
        }
    }
    Ok(found)
}

/// Whether a delivery's processing is over (its job no longer needs the
/// body): the same rule as the retention purge's.
pub(crate) fn finished(row: &inbox::Model) -> bool {
    !matches!(row.status, InboxStatus::Received | InboxStatus::Enqueued)
}

/// Clears the bodies of `rows` (processing over), keeping the rows, their
/// status and event names. Returns how many were cleared.
///
/// # Errors
/// Database errors.
pub(crate) async fn clear(conn: &impl ConnectionTrait, rows: &[&inbox::Model]) -> Result<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    let done = inbox::Entity::update_many()
        .set(inbox::ActiveModel {
            raw_body: Set(None),
            ..Default::default()
        })
        .filter(inbox::Column::Id.is_in(rows.iter().map(|r| r.id)))
        .filter(inbox::Column::Status.is_not_in([InboxStatus::Received, InboxStatus::Enqueued]))
        .exec(conn)
        .await?;
    Ok(done.rows_affected)
}
