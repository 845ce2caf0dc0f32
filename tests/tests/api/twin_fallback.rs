//! The fallback write-back end to end: a careers-site referral whose ATS
//! application (its "twin") never arrives through the webhooks is found in
//! the ATS by email after `ats.twin_wait` and written back there; a twin
//! that arrives in time makes no look-up; one that arrives after the
//! fallback changes nothing in the ATS and pays once; a candidate the ATS
//! does not know ends `not_found` in `ops stuck`; the wait survives a
//! restart with a wiped Redis; sandbox mode records the write.

use std::time::Duration;

use chrono::Utc;
use entities::{payout, referral::ReferralState, states::Ats, twin_wait::TwinWaitState};
use serde_json::json;
use tests::{
    app::{Setup, delete_redis_prefix, try_spawn_app},
    fixtures::{
        GreenhouseApplication, announce_hire, audit_with, lever_opportunity, payouts,
        post_greenhouse, processed, referrals, stuck_of_kind, unique, wait_job_state, wait_until,
    },
    twin::{fallback_audits, referred_submission, spawn_waiting_app, wait_for_state, waits},
};

const TAG: &str = "Employee Referral";

/// Greenhouse holds the candidate's application `application` (candidate
/// `candidate`, job `job`), made through its own careers page.
fn in_greenhouse(
    world: &tests::fixtures::CaptureApp,
    application: u64,
    candidate: u64,
    job: u64,
    email: &str,
) {
    let harvest = &world.harvest.harvest;
    harvest.application(application, candidate, job, "in_process", Utc::now());
    harvest.candidate(candidate, "Ada", "Lovelace", email);
}

async fn a_lost_twin_is_found_by_email_and_written_back(setup: Setup) {
    let world = spawn_waiting_app(setup, Duration::from_secs(1), 3, |_| {}).await;
    let (app, db) = (&world.app, world.db());
    in_greenhouse(&world, 70_101, 80_101, 90_101, "ada.101@example.org");
    // An older application of hers to another job, which must not be chosen.
    world
        .harvest
        .harvest
        .application(70_100, 80_101, 90_999, "rejected", Utc::now());
    let token = referred_submission(app, Some("greenhouse"), "90101", "Ada.101@example.org").await;

    let wait = wait_for_state(db, TwinWaitState::WrittenBack).await;
    assert_eq!(wait.found_ats, Some(Ats::Greenhouse));
    assert_eq!(wait.found_application_id.as_deref(), Some("70101"));
    assert_eq!(wait.lookups, 1);
    let stored = world
        .harvest
        .harvest
        .record("applications", 70_101)
        .expect("the application");
    assert_eq!(stored["custom_fields"]["referral_token"]["value"], token);
    assert_eq!(world.harvest.harvest.tags_of(80_101), [TAG]);
    let untouched = world
        .harvest
        .harvest
        .record("applications", 70_100)
        .expect("the other");
    assert_eq!(
        untouched["custom_fields"],
        json!({}),
        "the other job's application is left alone"
    );

    let audits = fallback_audits(db).await;
    assert_eq!(audits.len(), 1, "{audits:#?}");
    let found = &audits[0].data["found"];
    assert_eq!(audits[0].data["outcome"], "written_back");
    assert_eq!(found["ats"], "greenhouse");
    assert_eq!(found["application_id"], "70101");
    assert_eq!(found["rule"], "same_job");
    assert_eq!(
        found["considered"].as_array().map(Vec::len),
        Some(2),
        "{found}"
    );
    // One referral, still on the submission: nothing was created.
    let all = referrals(db).await;
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(all[0].state, ReferralState::Credited);
    assert_eq!(all[0].application_id, Some(wait.application_id));
    world.cleanup().await;
}

async fn a_twin_in_time_means_no_lookup(setup: Setup) {
    let world = spawn_waiting_app(setup, Duration::from_secs(5), 3, |_| {}).await;
    let (app, db) = (&world.app, world.db());
    in_greenhouse(&world, 70_102, 80_102, 90_102, "ada.102@example.org");
    referred_submission(app, Some("greenhouse"), "90102", "ada.102@example.org").await;
    let twin = GreenhouseApplication::new(70_102, 80_102, 90_102, "ada.102@example.org");
    processed(
        app,
        post_greenhouse(app, &unique("evt"), &twin.body()).await,
    )
    .await;

    let wait = wait_for_state(db, TwinWaitState::TwinArrived).await;
    // Its job still fires at the due time, and finds the wait closed.
    wait_job_state(
        app,
        wait.job_id.as_deref().expect("armed"),
        queue::JobState::Succeeded,
    )
    .await;
    assert!(
        world.harvest.requests("GET", "/v3/candidates").is_empty(),
        "no look-up by email: {:?}",
        world.harvest.summary()
    );
    assert!(fallback_audits(db).await.is_empty());
    assert_eq!(
        world.harvest.harvest.tags_of(80_102),
        [TAG],
        "the normal write-back ran"
    );
    world.cleanup().await;
}

async fn a_twin_after_the_fallback_changes_nothing_and_pays_once(setup: Setup) {
    let world = spawn_waiting_app(setup, Duration::from_secs(1), 3, |_| {}).await;
    let (app, db) = (&world.app, world.db());
    in_greenhouse(&world, 70_103, 80_103, 90_103, "ada.103@example.org");
    let token = referred_submission(app, Some("greenhouse"), "90103", "ada.103@example.org").await;
    wait_for_state(db, TwinWaitState::WrittenBack).await;
    let referral_id = referrals(db).await[0].id;

    // The twin arrives after all, and is hired.
    let twin = GreenhouseApplication::new(70_103, 80_103, 90_103, "ada.103@example.org");
    processed(
        app,
        post_greenhouse(app, &unique("evt"), &twin.body()).await,
    )
    .await;
    wait_until("the normal write-back", || async {
        audit_with(db, "attribution.written_back")
            .await
            .iter()
            .any(|a| a.subject_id == referral_id.to_string())
    })
    .await;
    announce_hire(app, &twin).await;
    wait_until("the hire tranche", || async {
        payouts(db).await.iter().any(|p| p.tranche == "hire")
    })
    .await;
    let harvest = &world.harvest.harvest;
    assert_eq!(harvest.tags_of(80_103), [TAG], "the tag shows once");
    assert_eq!(
        world
            .harvest
            .requests("POST", "/v3/applied_candidate_tags")
            .len(),
        1,
        "applied once: {:?}",
        world.harvest.summary()
    );
    let stored = harvest
        .record("applications", 70_103)
        .expect("the application");
    assert_eq!(stored["custom_fields"]["referral_token"]["value"], token);
    let all = referrals(db).await;
    assert_eq!(all.len(), 1, "one referral: {all:#?}");
    assert_eq!(all[0].id, referral_id);
    let paid: Vec<payout::Model> = payouts(db).await;
    let hire_tranches = paid.iter().filter(|p| p.tranche == "hire").count();
    assert_eq!(hire_tranches, 1, "one hire payout: {paid:#?}");
    assert!(
        paid.iter().all(|p| p.referral_id == referral_id),
        "{paid:#?}"
    );
    // The wait keeps what the fallback did.
    assert_eq!(waits(db).await[0].state, TwinWaitState::WrittenBack);
    world.cleanup().await;
}

async fn an_unknown_candidate_is_not_found_after_the_lookups(setup: Setup) {
    let world = spawn_waiting_app(setup, Duration::from_secs(1), 2, |_| {}).await;
    let (app, db) = (&world.app, world.db());
    referred_submission(app, Some("greenhouse"), "90104", "nobody.104@example.org").await;

    let wait = wait_for_state(db, TwinWaitState::NotFound).await;
    assert_eq!(wait.lookups, 2);
    assert_eq!(world.harvest.requests("GET", "/v3/candidates").len(), 2);
    let outcomes: Vec<_> = fallback_audits(db)
        .await
        .iter()
        .map(|a| a.data["outcome"].clone())
        .collect();
    assert_eq!(outcomes, [json!("not_found_yet"), json!("not_found")]);
    let stuck = stuck_of_kind(app, "twin_fallback_not_found").await;
    assert_eq!(stuck.len(), 1, "{stuck:#?}");
    assert_eq!(stuck[0]["ids"]["referral_id"], wait.referral_id);
    let reason = stuck[0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("no application") && reason.contains("2 look-up"),
        "{reason}"
    );
    world.cleanup().await;
}

/// The submission places its job in Lever: Lever is asked, not Greenhouse.
async fn a_lost_lever_twin_is_tagged(setup: Setup) {
    let world = spawn_waiting_app(setup, Duration::from_secs(1), 3, |_| {}).await;
    let (app, db) = (&world.app, world.db());
    let opportunity = lever_opportunity(
        "opp-105",
        "contact-105",
        "ada.105@example.org",
        "New applicant",
        "posting-105",
        Utc::now(),
    );
    world.lever.set_opportunity("opp-105", opportunity);
    referred_submission(app, Some("lever"), "posting-105", "ada.105@example.org").await;

    let wait = wait_for_state(db, TwinWaitState::WrittenBack).await;
    assert_eq!(wait.found_ats, Some(Ats::Lever));
    assert_eq!(wait.found_application_id.as_deref(), Some("opp-105"));
    let tags = world.lever.opportunity("opp-105").expect("opportunity")["tags"].clone();
    assert_eq!(tags, json!([TAG]));
    assert!(
        world.harvest.seen().is_empty(),
        "{:?}",
        world.harvest.summary()
    );
    world.cleanup().await;
}

/// The app stops while the referral waits; Redis is wiped; a new process
/// on the same database still writes it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wait_survives_a_restart_and_a_wiped_redis() {
    let mut world = spawn_waiting_app(Setup::REDIS_POSTGRES, Duration::from_secs(3), 3, |s| {
        s.payouts.timer_sweep = Duration::from_millis(300);
    })
    .await;
    in_greenhouse(&world, 70_106, 80_106, 90_106, "ada.106@example.org");
    referred_submission(
        &world.app,
        Some("greenhouse"),
        "90106",
        "ada.106@example.org",
    )
    .await;
    assert_eq!(waits(world.db()).await[0].state, TwinWaitState::Waiting);
    world.app.stop().await.expect("stopped");
    delete_redis_prefix(world.app.redis_prefix.as_deref().expect("a Redis app")).await;

    let mut restarted = try_spawn_app(world.app.settings.clone())
        .await
        .expect("restarted");
    let wait = wait_for_state(&restarted.state.db, TwinWaitState::WrittenBack).await;
    assert_eq!(wait.found_application_id.as_deref(), Some("70106"));
    assert_eq!(world.harvest.harvest.tags_of(80_106), [TAG]);
    restarted.stop().await.expect("stopped");
    world.cleanup().await;
}

/// Sandbox mode: the look-up is made, the write is recorded, not sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sandbox_mode_records_the_fallback_write() {
    let world = spawn_waiting_app(Setup::EMBEDDED_SQLITE, Duration::from_secs(1), 3, |s| {
        s.sandbox.enabled = true;
    })
    .await;
    let (app, db) = (&world.app, world.db());
    in_greenhouse(&world, 70_107, 80_107, 90_107, "ada.107@example.org");
    referred_submission(app, Some("greenhouse"), "90107", "ada.107@example.org").await;

    let wait = wait_for_state(db, TwinWaitState::Skipped).await;
    assert!(
        wait.reason
            .as_deref()
            .unwrap_or_default()
            .contains("sandbox"),
        "{wait:?}"
    );
    assert!(
        world
            .harvest
            .requests("PATCH", "/v3/applications/70107")
            .is_empty(),
        "{:?}",
        world.harvest.summary()
    );
    assert!(world.harvest.harvest.tags_of(80_107).is_empty());
    let recorded = audit_with(db, "sandbox.recorded").await;
    assert!(
        recorded
            .iter()
            .any(|a| a.data["destination"] == "greenhouse"),
        "{recorded:#?}"
    );
    world.cleanup().await;
}

tests::both_setups!(
    a_lost_twin_is_found_by_email_and_written_back,
    a_twin_in_time_means_no_lookup,
    a_twin_after_the_fallback_changes_nothing_and_pays_once,
    an_unknown_candidate_is_not_found_after_the_lookups,
    a_lost_lever_twin_is_tagged,
);
