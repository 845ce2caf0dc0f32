//! Referrer engagement (issue 21): the referral platform hears of every
//! referral decision, credited, lost (with the winning referral's date,
//! not who won) and ineligible (with the reason), and of each stage change
//! of a credited referral's application, as signed status-sync messages
//! that follow their published schemas; which kinds go out and which
//! candidate fields they may carry is configuration, and by default they
//! name the candidate by ids only.

use chrono::{Duration, Utc};
use serde_json::Value;
use tests::{
    app::Setup,
    contract::assert_all_follow_contract,
    destinations::SYNC_SECRET,
    fixtures::{
        CareersApplication, GreenhouseApplication, mint_link, post_careers_site, post_greenhouse,
        processed, put_employee, spawn_capture_app, unique, wait_until,
    },
    receiver::Receiver,
};
use worker::config::{Secret, Settings};

tests::both_setups!(
    each_decision_and_stage_change_reaches_the_referral_platform,
    only_the_configured_kinds_go_out_with_only_the_allowed_candidate_fields,
);

const JOB: u64 = 4_077_001;
const OTHER_JOB: u64 = 4_077_002;

async fn status_sync() -> Receiver {
    Receiver::builder().secret(SYNC_SECRET).start().await
}

fn sync_to(s: &mut Settings, receiver: &Receiver) {
    s.notifications.status_sync_url = receiver.url("/status");
    s.notifications.status_sync_secret = Secret::new(SYNC_SECRET);
}

/// The bodies of `kind` received so far.
fn of_kind(receiver: &Receiver, kind: &str) -> Vec<Value> {
    receiver
        .bodies()
        .into_iter()
        .filter(|b| b["type"] == kind)
        .collect()
}

/// Waits until `n` messages of `kind` arrived; returns them.
async fn wait_for(receiver: &Receiver, kind: &str, n: usize) -> Vec<Value> {
    wait_until(&format!("{n} {kind}"), || async {
        of_kind(receiver, kind).len() >= n
    })
    .await;
    of_kind(receiver, kind)
}

async fn each_decision_and_stage_change_reaches_the_referral_platform(setup: Setup) {
    let sync = status_sync().await;
    let world = spawn_capture_app(setup, |s| sync_to(s, &sync)).await;
    let app = &world.app;
    put_employee(app, "E-FIRST", "first.referrer@acme-example.com", true).await;
    put_employee(app, "E-SECOND", "second.referrer@acme-example.com", true).await;
    put_employee(app, "E-GONE", "gone.referrer@acme-example.com", false).await;
    let email = "engaged.candidate@example.org";

    // 1. Credited in Greenhouse to E-FIRST, two days ago.
    let mut first = GreenhouseApplication::new(771_001, 772_001, JOB, email).credited_to("E-FIRST");
    first.applied_at = Utc::now() - Duration::days(2);
    processed(
        app,
        post_greenhouse(app, &unique("evt"), &first.body()).await,
    )
    .await;
    let credited = wait_for(&sync, "referral.credited", 1).await;
    let data = &credited[0]["data"];
    assert_eq!(data["referring_employee_id"], "E-FIRST", "{data}");
    assert_eq!(data["state"], "credited");
    assert_eq!(data["application"]["ats"], "greenhouse");
    assert_eq!(data["application"]["ats_application_id"], "771001");
    assert_eq!(data["job"]["ats_job_id"], JOB.to_string());
    assert_eq!(data["candidate"], Value::Null, "ids only by default");
    let winner_referred_at = data["referred_at"].clone();

    // 2. E-SECOND's link for the same job, used today: first referral wins.
    let token = mint_link(app, "E-SECOND", &JOB.to_string()).await;
    let mut submission = CareersApplication::new(&JOB.to_string(), email)
        .referred_by(&token)
        .json();
    submission["job"]["ats"] = "greenhouse".into();
    processed(
        app,
        post_careers_site(app, &unique("msg_"), submission.to_string().as_bytes()).await,
    )
    .await;
    let lost = wait_for(&sync, "referral.lost", 1).await;
    let data = &lost[0]["data"];
    assert_eq!(data["referring_employee_id"], "E-SECOND", "{data}");
    assert_eq!(data["winning_referral"]["referred_at"], winner_referred_at);
    assert!(
        !data.to_string().contains("E-FIRST"),
        "the loser is not told who won: {data}"
    );

    // 3. An ex-employee credited on another job: ineligible, with why.
    let gone = GreenhouseApplication::new(771_002, 772_001, OTHER_JOB, email).credited_to("E-GONE");
    processed(
        app,
        post_greenhouse(app, &unique("evt"), &gone.body()).await,
    )
    .await;
    let ineligible = wait_for(&sync, "referral.ineligible", 1).await;
    let data = &ineligible[0]["data"];
    assert_eq!(data["referring_employee_id"], "E-GONE", "{data}");
    assert_eq!(data["reason"], "referrer is not an active employee");

    // 4. E-FIRST's candidate moves on in Greenhouse.
    let mut onsite = first.clone();
    onsite.action = "candidate_stage_change".into();
    onsite.stage = "Onsite Interview".into();
    processed(
        app,
        post_greenhouse(app, &unique("evt"), &onsite.body()).await,
    )
    .await;
    let moved = wait_for(&sync, "referral.stage_changed", 1).await;
    let data = &moved[0]["data"];
    assert_eq!(data["referring_employee_id"], "E-FIRST", "{data}");
    assert_eq!(data["from"]["stage"], "Application Review");
    assert_eq!(data["to"]["stage"], "Onsite Interview");
    assert_eq!(data["to"]["status"], "active");

    // The same delivery again tells nobody anything new.
    processed(
        app,
        post_greenhouse(app, &unique("evt"), &onsite.body()).await,
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(of_kind(&sync, "referral.stage_changed").len(), 1);
    assert_eq!(of_kind(&sync, "referral.credited").len(), 1);

    assert!(
        sync.requests().iter().all(|r| r.verified == Some(true)),
        "every message is signed"
    );
    assert_all_follow_contract(&sync.bodies());
    assert!(
        !sync.bodies().iter().any(|b| b.to_string().contains(email)),
        "no candidate email unless allowed"
    );
    world.cleanup().await;
}

async fn only_the_configured_kinds_go_out_with_only_the_allowed_candidate_fields(setup: Setup) {
    use jobs::referral::engagement::{CandidateField, EngagementEvent};
    let sync = status_sync().await;
    let world = spawn_capture_app(setup, |s| {
        sync_to(s, &sync);
        s.notifications.engagement = vec![EngagementEvent::Credited];
        s.notifications.engagement_candidate_fields = vec![CandidateField::FirstName];
    })
    .await;
    let app = &world.app;
    put_employee(app, "E-ONLY", "only.referrer@acme-example.com", true).await;
    put_employee(app, "E-LATE", "late.referrer@acme-example.com", true).await;
    let email = "named.candidate@example.org";
    let mut gh = GreenhouseApplication::new(773_001, 774_001, JOB, email).credited_to("E-ONLY");
    gh.applied_at = Utc::now() - Duration::days(1);
    processed(app, post_greenhouse(app, &unique("evt"), &gh.body()).await).await;
    let credited = wait_for(&sync, "referral.credited", 1).await;
    let candidate = &credited[0]["data"]["candidate"];
    assert!(candidate["first_name"].is_string(), "{candidate}");
    assert_eq!(
        candidate.as_object().map(|o| o.len()),
        Some(1),
        "the first name only: {candidate}"
    );

    // A lost referral and a stage change: neither kind is configured.
    let token = mint_link(app, "E-LATE", &JOB.to_string()).await;
    let mut submission = CareersApplication::new(&JOB.to_string(), email)
        .referred_by(&token)
        .json();
    submission["job"]["ats"] = "greenhouse".into();
    processed(
        app,
        post_careers_site(app, &unique("msg_"), submission.to_string().as_bytes()).await,
    )
    .await;
    let mut moved = gh.clone();
    moved.action = "candidate_stage_change".into();
    moved.stage = "Offer".into();
    processed(
        app,
        post_greenhouse(app, &unique("evt"), &moved.body()).await,
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let kinds: Vec<Value> = sync.bodies().iter().map(|b| b["type"].clone()).collect();
    assert_eq!(kinds, vec![Value::from("referral.credited")], "{kinds:?}");
    assert_all_follow_contract(&sync.bodies());
    world.cleanup().await;
}
