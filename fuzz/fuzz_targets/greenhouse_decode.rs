//! `jobs::connectors::greenhouse::decode` on arbitrary bytes: never panics, is
//! deterministic, and every accepted event has the shape the decoder
//! promises.

#![no_main]

mod common;

use common::{non_blank, opt_non_blank};
use entities::states::Ats;
use jobs::connectors::greenhouse;
use jobs::intake::{IntakeEvent, Source};
use libfuzzer_sys::fuzz_target;

const APPLICATION_ACTIONS: [&str; 3] = [
    "new_candidate_application",
    "new_prospect_application",
    "application_updated",
];
const STAGE_ACTIONS: [&str; 5] = [
    "candidate_stage_change",
    "hire_candidate",
    "unhire_candidate",
    "reject_candidate",
    "unreject_candidate",
];
const OFFER_ACTIONS: [&str; 3] = ["offer_created", "offer_updated", "offer_deleted"];
const OTHER_ACTIONS: [&str; 3] = [
    "merge_candidate",
    "delete_application",
    "candidate_anonymized",
];

fuzz_target!(|body: &[u8]| {
    let decoded = greenhouse::decode(body);
    // Decoding is pure: the HTTP intake and the processing job decode the
    // same stored bytes and must see the same event (intake/mod.rs).
    assert_eq!(
        decoded,
        greenhouse::decode(body),
        "decode is not deterministic"
    );
    let Ok(event) = decoded else { return };
    match &event {
        IntakeEvent::Application(app) => {
            assert_eq!(app.source, Source::Greenhouse);
            assert!(APPLICATION_ACTIONS.contains(&app.event.as_str()), "{app:?}");
            assert_eq!(app.ats, Ats::Greenhouse);
            non_blank("ats_application_id", &app.ats_application_id);
            // `ApplicationEvent::job_id` cannot be empty: an application
            // without a job is `Ignored` instead.
            non_blank("job_id", &app.job_id);
            opt_non_blank("ats_candidate_id", app.ats_candidate_id.as_deref());
            opt_non_blank("requisition_id", app.requisition_id.as_deref());
            opt_non_blank("email", app.email.as_deref());
            opt_non_blank("phone", app.phone.as_deref());
            opt_non_blank("referral_token", app.referral_token.as_deref());
            opt_non_blank("credited_employee_id", app.credited_employee_id.as_deref());
            assert_eq!(app.phone_region, None);
        }
        IntakeEvent::StageChanged(change) => {
            assert_eq!(change.source, Source::Greenhouse);
            assert_eq!(change.ats, Ats::Greenhouse);
            non_blank("ats_application_id", &change.ats_application_id);
            opt_non_blank("ats_candidate_id", change.ats_candidate_id.as_deref());
            opt_non_blank("job_id", change.job_id.as_deref());
            let action = change.event.as_str();
            if STAGE_ACTIONS.contains(&action) {
                opt_non_blank("starts_at", change.starts_at.as_deref());
            } else {
                assert!(OFFER_ACTIONS.contains(&action), "{change:?}");
                assert_eq!(change.stage, None);
                assert_eq!(
                    change.status.as_deref(),
                    (action == "offer_deleted").then_some("offer_deleted")
                );
                // Cut to its date (ten characters).
                if let Some(starts_at) = &change.starts_at {
                    assert!(starts_at.chars().count() <= 10, "{starts_at:?}");
                }
            }
        }
        IntakeEvent::CandidateMerged {
            from_candidate_id,
            into_candidate_id,
        } => {
            non_blank("from_candidate_id", from_candidate_id);
            non_blank("into_candidate_id", into_candidate_id);
        }
        IntakeEvent::ApplicationDeleted {
            application_id,
            candidate_id,
            job_id,
        } => {
            non_blank("application_id", application_id);
            opt_non_blank("candidate_id", candidate_id.as_deref());
            opt_non_blank("job_id", job_id.as_deref());
        }
        IntakeEvent::CandidateAnonymized { candidate_id } => {
            non_blank("candidate_id", candidate_id);
        }
        IntakeEvent::Ignored { event } => {
            // Only an application without a job is ignored among the
            // actions that are acted on.
            let action = event.as_str();
            assert!(
                !STAGE_ACTIONS.contains(&action)
                    && !OFFER_ACTIONS.contains(&action)
                    && !OTHER_ACTIONS.contains(&action),
                "handled action {action:?} was ignored"
            );
        }
        IntakeEvent::LeverOpportunity { .. } => panic!("Greenhouse yielded {event:?}"),
    }
});
