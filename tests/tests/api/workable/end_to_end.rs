//! Workable end to end, to issue 20's bar: referral link → application on
//! Workable → attribution written back → hire → start date → both
//! tranches paid once under fanned-out and repeated deliveries →
//! reconciliation clean, against a fake Workable that holds the service to
//! an account token's 10 requests per 10 s and pages one candidate at a
//! time with `paging.next`.
//!
//! Workable's API reads no start date (it lives on the requisition the
//! move to hired fills, `docs/workable-smartrecruiters.md` §A4/§A5), so the
//! probation counts from the hire date until the HRIS says otherwise: its
//! `application.status_changed` on `/webhooks/applications` naming the
//! Workable candidate and a `start_date` (the documented generic path)
//! moves the probation timer, and that is what pays the second tranche
//! here.

use std::time::Duration;

use chrono::{NaiveDate, Utc};
use entities::{
    application::ApplicationStatus,
    inbox::InboxStatus,
    milestone::{self, MilestoneKind, MilestoneState},
    payout::PayoutState,
    referral::ReferralState,
    states::Ats,
};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use tests::{
    app::Setup,
    ats_e2e::both_tranches_once,
    destinations::BONUS_SECRET,
    fixtures::{
        application_by_ats_id, audit_with, mint_link, payouts, post_careers_site, processed,
        put_employee, referrals, spawn_capture_app, unique, wait_inbox, wait_until,
    },
    receiver::Receiver,
    vendors::workable::{
        FakeWorkable, TOKEN_ATTRIBUTE, TOKEN_TAG_PREFIX, WORKABLE_RATE_LIMIT, WorkableCandidate,
        post_workable, stored,
    },
};

use super::{JOB, status_and_body, workable_at};

/// Long enough that only a start date before the hire can end it within
/// the test.
const PROBATION: Duration = Duration::from_secs(24 * 3600);

/// The application's probation milestone.
async fn probation_of(db: &DatabaseConnection, application_id: i64) -> milestone::Model {
    milestone::Entity::find()
        .filter(milestone::Column::ApplicationId.eq(application_id))
        .filter(milestone::Column::Kind.eq(MilestoneKind::ProbationComplete))
        .one(db)
        .await
        .expect("query")
        .expect("the probation milestone")
}

/// The HRIS's `application.status_changed` giving Workable candidate `id`
/// its start date.
fn hris_start_date(id: &str, starts_on: NaiveDate) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "type": "application.status_changed",
        "changed_at": Utc::now().to_rfc3339(),
        "application": { "id": id, "ats": "workable", "start_date": starts_on.to_string() },
    }))
    .expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_workable_referral_is_written_back_paid_once_from_its_hris_start_date_and_reconciles_clean()
 {
    let fake = FakeWorkable::start().await;
    {
        let mut s = fake.state.lock().expect("lock");
        s.faults.enforce(WORKABLE_RATE_LIMIT);
        s.page_size = Some(1);
    }
    // Candidates nobody referred, so reconciliation has pages to follow.
    for n in 0..3 {
        fake.put_candidate(&WorkableCandidate::new(
            &format!("other{n}"),
            JOB,
            &format!("other.{n}@example.org"),
        ));
    }
    let receiver = Receiver::builder()
        .secret(BONUS_SECRET)
        .path("/bonus")
        .start()
        .await;
    let (base, bonus) = (fake.ats.base_url.clone(), receiver.url("/bonus"));
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| {
        workable_at(s, &base, &bonus, PROBATION)
    })
    .await;
    let (app, db) = (&world.app, world.db());

    // Priya shares a link; the candidate applies on Workable, whose
    // referral flow carries the link's token in a `ref-` tag.
    put_employee(app, "E-WRK", "priya.raman@acme-example.com", true).await;
    let token = mint_link(app, "E-WRK", JOB).await;
    let mut candidate = WorkableCandidate::new("ce4da98", JOB, "workable.candidate@example.org");
    candidate.tags = vec![format!("{TOKEN_TAG_PREFIX}{token}")];
    fake.put_candidate(&candidate);
    let created = stored(post_workable(app, &candidate.delivery("candidate_created")).await).await;
    wait_inbox(app, created, InboxStatus::Processed).await;

    let application = application_by_ats_id(db, &candidate.id)
        .await
        .expect("the Workable candidate as an application");
    assert_eq!(application.ats, Ats::Workable);
    assert_eq!(application.job_id, JOB);
    assert_eq!(application.status, ApplicationStatus::Active);
    let refs = referrals(db).await;
    assert_eq!(refs.len(), 1, "{refs:#?}");
    assert_eq!(refs[0].employee_id, "E-WRK");
    assert_eq!(refs[0].state, ReferralState::Credited);

    // Written back: our token in the custom attribute, our tag added to
    // the candidate's (PUT replaces the list: the `ref-` tag stays).
    wait_until("the attribution written back to Workable", || async {
        !audit_with(db, "attribution.written_back").await.is_empty()
    })
    .await;
    assert_eq!(
        fake.attribute_of(&candidate.id, TOKEN_ATTRIBUTE),
        Some(Value::from(token.as_str()))
    );
    assert_eq!(
        fake.tags_of(&candidate.id),
        [
            format!("{TOKEN_TAG_PREFIX}{token}"),
            "Employee Referral".into()
        ]
    );

    // A move whose body claims a hire while the API says the candidate is
    // still at the offer: recorded, and nothing paid.
    let mut claimed = candidate.clone();
    claimed.stage = "hired".into();
    claimed.stage_kind = "hired".into();
    claimed.hired_at = Some(Utc::now().to_rfc3339());
    fake.edit_candidate(&candidate.id, |c| {
        c["stage"] = "offer".into();
        c["stage_kind"] = "offer".into();
    });
    let unconfirmed = stored(post_workable(app, &claimed.delivery("candidate_moved")).await).await;
    wait_inbox(app, unconfirmed, InboxStatus::Ignored).await;
    assert_eq!(audit_with(db, "workable.hire_unconfirmed").await.len(), 1);
    let still = application_by_ats_id(db, &candidate.id).await.unwrap();
    assert_ne!(still.status, ApplicationStatus::Hired);
    assert!(payouts(db).await.is_empty(), "no money on a claim alone");

    // The real hire, confirmed by the API, fanned out: one delivery twice
    // at once, and a second move's delivery that also shows the candidate
    // hired (Workable sends the candidate as it is when sent); then
    // Workable's replay of the first.
    fake.edit_candidate(&candidate.id, |c| {
        c["stage"] = "hired".into();
        c["stage_kind"] = "hired".into();
        c["hired_at"] = claimed.hired_at.clone().into();
    });
    let hire = claimed.delivery("candidate_moved");
    let echo = claimed.delivery("candidate_moved");
    let answers = futures::future::join_all([
        post_workable(app, &hire),
        post_workable(app, &hire),
        post_workable(app, &echo),
    ])
    .await;
    let mut seen: Vec<String> = Vec::new();
    for answer in answers {
        let (status, body) = status_and_body(answer).await;
        assert_eq!(status, 200, "Workable is answered 200: {body}");
        seen.push(body["status"].as_str().unwrap_or_default().to_owned());
    }
    seen.sort();
    assert_eq!(seen, ["accepted", "accepted", "duplicate"]);
    let (status, replay) = status_and_body(post_workable(app, &hire).await).await;
    assert_eq!(
        (status, replay["status"].as_str()),
        (200, Some("duplicate"))
    );

    // The hire tranche is paid; Workable gives no start date, so the
    // probation counts from the hire date, a day away.
    wait_until("the hire tranche delivered", || async {
        payouts(db)
            .await
            .iter()
            .any(|p| p.tranche == "hire" && p.state == PayoutState::Delivered)
    })
    .await;
    let hired = application_by_ats_id(db, &candidate.id).await.unwrap();
    assert_eq!(hired.status, ApplicationStatus::Hired);
    assert_eq!(hired.start_date, None, "no start date from Workable");
    let hired_at = hired.hired_at.expect("hired at");
    let waiting = probation_of(db, hired.id).await;
    assert_eq!(waiting.state, MilestoneState::Armed);
    assert_eq!(waiting.due_at, Some(hired_at + PROBATION));
    let pending = payouts(db).await;
    assert!(
        pending
            .iter()
            .any(|p| p.tranche == "probation" && p.state == PayoutState::Pending),
        "{pending:#?}"
    );

    // The HRIS reports the start date (yesterday), twice under one message
    // id: the probation now ends a day after it, which has passed.
    let starts_on = (Utc::now() - chrono::Duration::days(1)).date_naive();
    let body = hris_start_date(&candidate.id, starts_on);
    let msg = unique("msg_");
    processed(app, post_careers_site(app, &msg, &body).await).await;
    let (status, again) = status_and_body(post_careers_site(app, &msg, &body).await).await;
    assert_eq!((status, again["status"].as_str()), (200, Some("duplicate")));
    wait_until("both tranches delivered", || async {
        let p = payouts(db).await;
        p.len() == 2 && p.iter().all(|p| p.state == PayoutState::Delivered)
    })
    .await;
    let started = application_by_ats_id(db, &candidate.id).await.unwrap();
    let start = starts_on.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    assert_eq!(started.start_date, Some(start));
    let reached = probation_of(db, hired.id).await;
    assert_eq!(reached.state, MilestoneState::Reached);
    assert_eq!(reached.due_at, Some(start + PROBATION));
    let once = both_tranches_once(db).await;
    assert_eq!(receiver.deliveries_by_idempotency_key(), once);

    // Reconciliation reads Workable page by page along `paging.next`,
    // within the account's budget, and finds nothing to report.
    let report = jobs::maintenance::reconcile::run(
        &app.state.jobs,
        "manual:workable-e2e",
        false,
        "ops:test",
    )
    .await
    .expect("the run")
    .expect("a run for this trigger");
    assert!(report.variances.is_empty(), "{:#?}", report.variances);
    let followed = fake
        .ats
        .seen()
        .iter()
        .filter(|s| s.method == "GET" && s.path.ends_with("/candidates"))
        .filter(|s| s.query.as_deref().is_some_and(|q| q.contains("since_id=")))
        .count();
    assert!(followed >= 3, "every page after the first: {followed}");
    assert_eq!(
        fake.state.lock().expect("lock").faults.over_limit(),
        0,
        "never over 10 requests / 10 s"
    );
    assert_eq!(
        receiver.deliveries_by_idempotency_key(),
        once,
        "nothing paid again"
    );
    world.cleanup().await;
}
