//! Events applied by their own time: the one rule that decides whether a
//! delivery may change a fact of an application (issue 23.1).
//!
//! Vendors retry for hours and deliver out of order, and a signed body can
//! be re-posted, so the order deliveries arrive in says nothing about the
//! order things happened in. Each fact that moves money or a timer
//! ([`ApplicationFact`]: the hired/unhired status, the start date, the
//! stage) is ordered on its own by what the vendor says of the events that
//! changed it (`application_facts`): their latest time and highest
//! version. An event no newer (older or equal) is recorded in the audit log
//! as `application.stale` and changes nothing; a newer one changes the fact
//! and moves what is on record forward.
//!
//! Newer means: a higher version where both the event and the record
//! have one and they differ (Greenhouse numbers an offer's versions);
//! else a later time where both have one. An event that shares no field
//! with the record (a Greenhouse `offer_deleted` carries its offer's
//! version but no time, the hire it undoes a time but no version), or that
//! gives neither, cannot be ordered against it: it applies, in arrival
//! order, the one case where that order decides.
//!
//! Which vendor field gives an event its time ([`EventTime`]) is the
//! decoder's to say (README, "Event order"):
//!
//! | Source | Time | Version |
//! |---|---|---|
//! | Greenhouse `hire_candidate` | `offer.resolved_at`, else `last_activity_at` | `offer.version` |
//! | Greenhouse `reject_candidate` | `rejected_at`, else `last_activity_at` | |
//! | Greenhouse other stage changes, application events | `last_activity_at` | |
//! | Greenhouse `offer_*` | the offer's `updated_at` | the offer's `version` |
//! | Lever | when the opportunity was read back from its API (its state is at least that new) | |
//! | Ashby application events | `application.updatedAt` | |
//! | Ashby stage changes | an offer's `decidedAt`, else `application.updatedAt` | |
//! | Ashby offers | the later of `decidedAt` and `latestVersion.createdAt` | |
//! | Careers site | `submitted_at`; `changed_at` for status changes | |
//!
//! Called by [`super::application`] (an application's status, stage and
//! start date as a snapshot states them) and [`super::stage`] (stage and
//! status changes, offers), inside their locked transaction, before they
//! write.

use std::cmp::Ordering;

use chrono::{DateTime, SubsecRound, Utc};
use entities::application_fact;
pub use entities::application_fact::ApplicationFact;
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter,
};
use serde::Serialize;
use serde_json::json;

use crate::{
    db::{LockedTx, audit::AuditEntry},
    error::Result,
};

/// When the vendor says a change happened: its time and, where the
/// vendor numbers versions of the changed object, its version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EventTime {
    /// The vendor's time, cut to microseconds (what both databases keep),
    /// so an event compares equal to itself once stored.
    pub at: Option<DateTime<Utc>>,
    /// The vendor's version of the changed object, when it gives one.
    pub version: Option<i64>,
}

impl EventTime {
    /// An event at `at` with `version`; `None` when the vendor gave neither.
    pub fn new(at: Option<DateTime<Utc>>, version: Option<i64>) -> Option<Self> {
        (at.is_some() || version.is_some()).then(|| Self {
            at: at.map(|t| t.trunc_subsecs(6)),
            version,
        })
    }

    /// How `self` orders against `other`: by version where both have one
    /// and they differ, else by time where both have one; `None` when they
    /// share no field to compare.
    pub fn order(&self, other: &EventTime) -> Option<Ordering> {
        if let (Some(a), Some(b)) = (self.version, other.version)
            && a != b
        {
            return Some(a.cmp(&b));
        }
        match (self.at, other.at) {
            (Some(a), Some(b)) => Some(a.cmp(&b)),
            _ => None,
        }
    }

    /// What is on record once `self` has been applied over `on_record`:
    /// the latest time and the highest version either gave.
    fn merged(self, on_record: Option<EventTime>) -> EventTime {
        let Some(old) = on_record else { return self };
        EventTime {
            at: self.at.max(old.at),
            version: self.version.max(old.version),
        }
    }
}

/// The facts an event may change, as [`admit`] decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Admitted {
    facts: Vec<ApplicationFact>,
    stale: Vec<ApplicationFact>,
}

impl Admitted {
    /// Whether the event may change `fact`.
    pub fn allows(&self, fact: ApplicationFact) -> bool {
        self.facts.contains(&fact)
    }

    /// Whether every fact asked about was stale.
    pub fn all_stale(&self) -> bool {
        self.facts.is_empty() && !self.stale.is_empty()
    }
}

/// Decides which of `facts` an event named `event`, at `time`, may change
/// on application `application_id`, and records `time` as the time of
/// each fact it may change. Stale facts are audited (`application.stale`)
/// on `tx`, so they are recorded if and only if the transaction commits.
///
/// # Errors
/// Database errors.
pub async fn admit(
    tx: &LockedTx,
    application_id: i64,
    event: &str,
    time: Option<EventTime>,
    facts: &[ApplicationFact],
) -> Result<Admitted> {
    let mut admitted = Admitted::default();
    if facts.is_empty() {
        return Ok(admitted);
    }
    let on_record = application_fact::Entity::find()
        .filter(application_fact::Column::ApplicationId.eq(application_id))
        .filter(application_fact::Column::Fact.is_in(facts.iter().copied()))
        .all(tx)
        .await?;
    let now = Utc::now();
    let mut stale_records = serde_json::Map::new();
    for &fact in facts {
        let row = on_record.iter().find(|r| r.fact == fact);
        let last = row.and_then(|r| EventTime::new(r.changed_at, r.version));
        let newer = match (time, last) {
            (Some(time), Some(last)) => time.order(&last).is_none_or(|o| o == Ordering::Greater),
            // Nothing on record, or nothing to order by: it applies.
            _ => true,
        };
        if newer {
            if let Some(time) = time {
                record(tx, application_id, fact, event, time.merged(last), row, now).await?;
            }
            admitted.facts.push(fact);
        } else {
            admitted.stale.push(fact);
            if let Some(r) = row {
                stale_records.insert(
                    fact.to_value(),
                    json!({ "changed_at": r.changed_at, "version": r.version, "event": r.event }),
                );
            }
        }
    }
    if !admitted.stale.is_empty() {
        tracing::info!(
            application_id,
            event,
            facts = ?admitted.stale,
            "an event no newer than the one on record changes nothing"
        );
        tx.audit(AuditEntry::system(
            "application.stale",
            "application",
            application_id,
            json!({
                "event": event,
                "facts": admitted.stale,
                "event_time": time,
                "on_record": stale_records,
            }),
        ));
    }
    Ok(admitted)
}

async fn record(
    tx: &LockedTx,
    application_id: i64,
    fact: ApplicationFact,
    event: &str,
    time: EventTime,
    row: Option<&application_fact::Model>,
    now: DateTime<Utc>,
) -> Result<()> {
    match row {
        Some(row) => {
            let mut a: application_fact::ActiveModel = row.clone().into();
            a.changed_at = Set(time.at);
            a.version = Set(time.version);
            a.event = Set(event.to_owned());
            a.recorded_at = Set(now);
            a.update(tx).await?;
        }
        None => {
            application_fact::ActiveModel {
                application_id: Set(application_id),
                fact: Set(fact),
                changed_at: Set(time.at),
                version: Set(time.version),
                event: Set(event.to_owned()),
                recorded_at: Set(now),
                ..Default::default()
            }
            .insert(tx)
            .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(minute: u32) -> Option<DateTime<Utc>> {
        Some(Utc.with_ymd_and_hms(2026, 3, 1, 9, minute, 0).unwrap())
    }

    fn event(at: Option<DateTime<Utc>>, version: Option<i64>) -> EventTime {
        EventTime::new(at, version).expect("an ordered event")
    }

    #[test]
    fn versions_decide_where_both_have_one_and_they_differ() {
        let newer_version = event(at(1), Some(3));
        let older_version = event(at(9), Some(2));
        assert_eq!(newer_version.order(&older_version), Some(Ordering::Greater));
    }

    #[test]
    fn times_decide_otherwise_and_equal_times_are_equal() {
        assert_eq!(
            event(at(2), None).order(&event(at(1), Some(7))),
            Some(Ordering::Greater)
        );
        assert_eq!(
            event(at(1), Some(2)).order(&event(at(1), Some(2))),
            Some(Ordering::Equal)
        );
        assert_eq!(
            event(at(1), None).order(&event(at(2), None)),
            Some(Ordering::Less)
        );
    }

    #[test]
    fn events_sharing_no_field_cannot_be_ordered() {
        assert_eq!(event(None, Some(1)).order(&event(at(1), None)), None);
        assert_eq!(event(None, Some(1)).order(&event(at(1), Some(1))), None);
    }

    #[test]
    fn the_record_keeps_the_latest_time_and_the_highest_version() {
        let merged = event(at(1), Some(5)).merged(Some(event(at(4), Some(2))));
        assert_eq!(merged, event(at(4), Some(5)));
    }

    #[test]
    fn a_time_compares_equal_to_itself_once_cut_to_what_the_database_keeps() {
        let precise = at(1).map(|t| t + chrono::Duration::nanoseconds(1_234_567));
        let stored = at(1).map(|t| t + chrono::Duration::microseconds(1_234));
        assert_eq!(event(precise, None), event(stored, None));
    }

    #[test]
    fn an_event_with_neither_is_unordered() {
        assert_eq!(EventTime::new(None, None), None);
    }
}
