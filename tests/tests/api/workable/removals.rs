//! Merges and deletions, which Workable never announces (its webhooks are
//! only `candidate_created` and `candidate_moved`): reconciliation asks
//! Workable for each open referred application and turns a 404 into an
//! `ats_application_gone` variance. An application nothing was earned on
//! is marked deleted; a hire is reported and left as it is: the tranche
//! paid stays paid, the unpaid one keeps waiting for ops to decide.

use std::time::Duration;

use entities::{
    application::ApplicationStatus, inbox::InboxStatus, payout::PayoutState,
    reconciliation_item::VarianceKind,
};
use jobs::maintenance::reconcile::{RunReport, run};
use serde_json::Value;
use tests::{
    app::{Setup, TestApp},
    destinations::BONUS_SECRET,
    fixtures::{
        application_by_ats_id, audit_with, mint_link, payouts, put_employee, spawn_capture_app,
        wait_inbox, wait_until,
    },
    receiver::Receiver,
    vendors::workable::{FakeWorkable, TOKEN_TAG_PREFIX, WorkableCandidate, post_workable, stored},
};

use super::{JOB, workable_at};

/// A day: the probation tranche of a hire stays unpaid during the test.
const PROBATION: Duration = Duration::from_secs(24 * 3600);

/// `employee` refers candidate `id` (a person of their own: own email,
/// phone `+49301234567{n}`) through a link whose token Workable carries in
/// a tag; Workable announces the candidate.
async fn referred(
    app: &TestApp,
    fake: &FakeWorkable,
    employee: &str,
    id: &str,
    n: u8,
) -> WorkableCandidate {
    let email = format!("{}@acme-example.com", employee.to_lowercase());
    put_employee(app, employee, &email, true).await;
    let token = mint_link(app, employee, JOB).await;
    let mut candidate = WorkableCandidate::new(id, JOB, &format!("{id}@example.org"));
    candidate.phone = format!("+49301234567{n}");
    candidate.tags = vec![format!("{TOKEN_TAG_PREFIX}{token}")];
    fake.put_candidate(&candidate);
    let created = stored(post_workable(app, &candidate.delivery("candidate_created")).await).await;
    wait_inbox(app, created, InboxStatus::Processed).await;
    candidate
}

async fn reconcile(app: &TestApp, trigger: &str, dry_run: bool) -> RunReport {
    run(&app.state.jobs, trigger, dry_run, "ops:test")
        .await
        .expect("the run")
        .expect("a run for this trigger")
}

fn gone(report: &RunReport) -> Vec<(String, bool, Value)> {
    let mut found: Vec<_> = report
        .variances
        .iter()
        .filter(|v| v.kind == VarianceKind::AtsApplicationGone)
        .map(|v| {
            let id = v.detail["ats_application_id"].as_str().unwrap_or_default();
            (id.to_owned(), v.fixed, v.detail.clone())
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_candidate_workable_no_longer_has_is_reported_and_money_paid_is_never_undone() {
    let fake = FakeWorkable::start().await;
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

    // Three referred candidates: one still in the pipeline that Workable
    // will drop, one hired that it will drop, one that stays.
    let dropped = referred(app, &fake, "E-ANA", "wk-dropped", 1).await;
    let hired = referred(app, &fake, "E-BEN", "wk-hired", 2).await;
    let stays = referred(app, &fake, "E-CAI", "wk-stays", 3).await;
    fake.edit_candidate(&hired.id, |c| {
        c["stage"] = "hired".into();
        c["stage_kind"] = "hired".into();
        c["hired_at"] = chrono::Utc::now().to_rfc3339().into();
    });
    let moved = stored(post_workable(app, &hired.delivery("candidate_moved")).await).await;
    wait_inbox(app, moved, InboxStatus::Processed).await;
    wait_until("the hire tranche delivered", || async {
        payouts(db)
            .await
            .iter()
            .any(|p| p.tranche == "hire" && p.state == PayoutState::Delivered)
    })
    .await;

    // Workable merges one away and deletes the other: no event comes.
    fake.remove_candidate(&dropped.id);
    fake.remove_candidate(&hired.id);

    // A dry run finds both and changes nothing.
    let dry = reconcile(app, "manual:dry", true).await;
    let found = gone(&dry);
    let ids: Vec<&str> = found.iter().map(|(id, ..)| id.as_str()).collect();
    assert_eq!(ids, [dropped.id.as_str(), hired.id.as_str()], "{dry:#?}");
    assert!(found.iter().all(|(_, fixed, _)| !fixed));
    let still = application_by_ats_id(db, &dropped.id).await.unwrap();
    assert_eq!(
        still.status,
        ApplicationStatus::Active,
        "dry: nothing fixed"
    );

    // The run: the application nothing was earned on is marked deleted;
    // the hire is reported with what was paid and what was not, and left.
    let report = reconcile(app, "manual:fix", false).await;
    let found = gone(&report);
    assert_eq!(found.len(), 2, "{report:#?}");
    let (_, dropped_fixed, _) = &found[0];
    assert!(dropped_fixed);
    let (_, hire_fixed, detail) = &found[1];
    assert!(!hire_fixed, "a hire is left for ops: {detail}");
    assert_eq!(detail["paid_tranches"], serde_json::json!(["hire"]));
    assert_eq!(detail["unpaid_tranches"][0]["tranche"], "probation");
    assert_eq!(detail["unpaid_tranches"][0]["state"], "pending");
    let deleted = application_by_ats_id(db, &dropped.id).await.unwrap();
    assert_eq!(deleted.status, ApplicationStatus::Deleted);
    assert_eq!(audit_with(db, "application.gone_from_ats").await.len(), 1);
    let still_hired = application_by_ats_id(db, &hired.id).await.unwrap();
    assert_eq!(still_hired.status, ApplicationStatus::Hired);
    let money = payouts(db).await;
    assert!(
        money
            .iter()
            .any(|p| p.tranche == "hire" && p.state == PayoutState::Delivered),
        "paid stays paid: {money:#?}"
    );
    assert!(
        money
            .iter()
            .any(|p| p.tranche == "probation" && p.state == PayoutState::Pending),
        "the unpaid tranche still waits: {money:#?}"
    );
    let stays_app = application_by_ats_id(db, &stays.id).await.unwrap();
    assert_eq!(stays_app.status, ApplicationStatus::Active);

    // The next run asks only about what may still move money: the hire
    // again, not the deleted application.
    let asked = |id: &str| {
        fake.ats
            .seen()
            .iter()
            .filter(|s| s.method == "GET" && s.path.ends_with(&format!("/candidates/{id}")))
            .count()
    };
    let before = asked(&dropped.id);
    let again = reconcile(app, "manual:again", false).await;
    let ids: Vec<String> = gone(&again).into_iter().map(|(id, ..)| id).collect();
    assert_eq!(ids, [hired.id.as_str()]);
    assert_eq!(asked(&dropped.id), before, "the deleted one is not asked");
    world.cleanup().await;
}
