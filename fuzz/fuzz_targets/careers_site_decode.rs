//! `jobs::connectors::careers_site::{decode, decode_with, is_test}` on arbitrary
//! bytes: never panics, is deterministic, and every accepted event has the
//! shape the decoder promises.

#![no_main]

mod common;

use common::{non_blank, opt_non_blank};
use jobs::connectors::careers_site::{self, APPLICATION_STATUS_CHANGED, APPLICATION_SUBMITTED};
use jobs::intake::{IntakeEvent, Source};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let decoded = careers_site::decode(body);
    // Decoding is pure: the HTTP intake and the processing job decode the
    // same stored bytes and must see the same event (intake/mod.rs).
    assert_eq!(
        decoded,
        careers_site::decode(body),
        "decode is not deterministic"
    );
    if let Ok(event) = &decoded {
        check(event);
    }
    // A non-default `[milestones] start_date_field`, including one the
    // vendor-shaped seeds actually contain.
    for field in ["starts_at", ""] {
        if let Ok(event) = careers_site::decode_with(body, field) {
            check(&event);
        }
    }
    // Never panics; anything unreadable is "not a test".
    let _ = careers_site::is_test(body);
});

fn check(event: &IntakeEvent) {
    match event {
        IntakeEvent::Application(app) => {
            assert_eq!(app.source, Source::CareersSite);
            assert_eq!(app.event, APPLICATION_SUBMITTED);
            non_blank("ats_application_id", &app.ats_application_id);
            non_blank("job_id", &app.job_id);
            // At least one way to reach the applicant, each non-blank.
            assert!(
                app.email.is_some() || app.phone.is_some(),
                "an application needs an email or a phone"
            );
            opt_non_blank("email", app.email.as_deref());
            opt_non_blank("phone", app.phone.as_deref());
            opt_non_blank("phone_region", app.phone_region.as_deref());
            opt_non_blank("referral_token", app.referral_token.as_deref());
            // What the careers site cannot know.
            assert_eq!(app.ats_candidate_id, None);
            assert_eq!(app.requisition_id, None);
            assert_eq!(app.credited_employee_id, None);
            assert!(!app.prospect);
            assert_eq!(app.status, None);
            assert_eq!(app.stage, None);
            assert_eq!(app.department, None);
        }
        IntakeEvent::StageChanged(change) => {
            assert_eq!(change.source, Source::CareersSite);
            assert_eq!(change.event, APPLICATION_STATUS_CHANGED);
            non_blank("ats_application_id", &change.ats_application_id);
            opt_non_blank("ats_candidate_id", change.ats_candidate_id.as_deref());
            opt_non_blank("job_id", change.job_id.as_deref());
            opt_non_blank("stage", change.stage.as_deref());
            if let Some(status) = &change.status {
                assert!(
                    ["active", "hired", "rejected", "withdrawn"].contains(&status.as_str()),
                    "status {status:?} passed validation"
                );
            }
            // The decoder refuses (422) a start date whose first ten bytes
            // are not a `YYYY-MM-DD` date, so an accepted one must be a date
            // that `capture` can read with the same format; otherwise the
            // start date is accepted here and silently dropped there.
            if let Some(starts_at) = &change.starts_at {
                assert!(
                    chrono::NaiveDate::parse_from_str(starts_at, "%Y-%m-%d").is_ok(),
                    "accepted start date {starts_at:?} is not a YYYY-MM-DD date"
                );
            }
        }
        IntakeEvent::Ignored { event } => {
            assert_ne!(event, APPLICATION_SUBMITTED);
            assert_ne!(event, APPLICATION_STATUS_CHANGED);
        }
        other => panic!("the careers site never yields {other:?}"),
    }
}
