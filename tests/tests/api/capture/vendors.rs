//! Greenhouse and Lever specifics: `credited_to`, the token custom field and
//! its write-back, 429s on write-back, re-fetched Lever opportunities,
//! prospect and updated applications.

use super::*;

/// Greenhouse's own `credited_to.employee_id` is a referral, credited and
/// written back (no token: the tag only).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn greenhouse_credited_to_is_a_referral_source() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    put_employee(app, "E-1", "erin@acme-example.com", true).await;
    let body = GreenhouseApplication::new(70_001, 80_001, 90_001, "credited@example.org")
        .credited_to("E-1")
        .body();
    processed(app, post_greenhouse(app, "ev-credited", &body).await).await;
    let r = only_referral(db, "70001").await;
    assert_eq!(r.source, ReferralSource::AtsCredited);
    assert_eq!(r.state, ReferralState::Credited);
    assert_eq!(r.employee_id, "E-1");
    assert_eq!(r.link_token, None);
    let credited = audit_with(db, "attribution.credited").await;
    assert_eq!(credited.len(), 1);
    assert_eq!(credited[0].data["employee_id"], "E-1");
    assert_eq!(credited[0].data["source"], "ats_credited");
    wait_until("attribution.written_back", || async {
        !audit_with(db, "attribution.written_back").await.is_empty()
    })
    .await;
    assert!(
        world
            .harvest
            .requests("PATCH", "/v3/applications/70001")
            .is_empty(),
        "nothing to set on the application without a token or a referrer record: {:?}",
        world.harvest.summary()
    );
    assert_eq!(
        world
            .harvest
            .requests("POST", "/v3/applied_candidate_tags")
            .len(),
        1
    );
    assert_eq!(world.harvest.harvest.tags_of(80_001), ["Employee Referral"]);
    let report = audit_with(db, "attribution.written_back").await;
    let skipped = report[0].data["skipped"].to_string();
    assert!(
        skipped.contains("referrer") && skipped.contains("no Greenhouse referrer record"),
        "{skipped}"
    );
    world.cleanup().await;
}

/// Our token in the application's `referral_token` custom field attributes
/// to the link's employee and is written back to the application.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_in_the_greenhouse_custom_field_attributes_and_is_written_back() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    world
        .harvest
        .harvest
        .application(70_002, 80_002, 90_002, "in_process", Utc::now());
    let app = &world.app;
    let db = world.db();
    put_employee(app, "E-2", "finn@acme-example.com", true).await;
    let token = mint_link(app, "E-2", "90002").await;
    let body = GreenhouseApplication::new(70_002, 80_002, 90_002, "tokened@example.org")
        .token(&token)
        .body();
    processed(app, post_greenhouse(app, "ev-token", &body).await).await;
    let r = only_referral(db, "70002").await;
    assert_eq!(r.source, ReferralSource::ReferralLink);
    assert_eq!(r.state, ReferralState::Credited);
    assert_eq!(r.employee_id, "E-2");
    assert_eq!(r.link_token.as_deref(), Some(token.as_str()));
    wait_until("attribution.written_back", || async {
        !audit_with(db, "attribution.written_back").await.is_empty()
    })
    .await;
    let patches = world.harvest.requests("PATCH", "/v3/applications/70002");
    assert_eq!(patches.len(), 1, "{:?}", world.harvest.summary());
    assert_eq!(
        patches[0].json(),
        json!({ "custom_fields": [{ "name_key": "referral_token", "value": token }] })
    );
    assert_v3_auth(&world.harvest);
    assert_eq!(world.harvest.harvest.tags_of(80_002), ["Employee Referral"]);
    world.cleanup().await;
}

/// Harvest answers the first write 429 with `Retry-After: 1`: the
/// write-back job is retried after that wait, and then succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_back_refused_with_429_is_retried_after_the_servers_wait() {
    let harvest = FakeGreenhouse::start().await;
    harvest
        .harvest
        .application(70_003, 80_003, 90_003, "in_process", Utc::now());
    harvest.harvest.throttle_writes(1, 1);
    let world = spawn_capture_app_with(Setup::EMBEDDED_SQLITE, harvest, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    put_employee(app, "E-3", "gus@acme-example.com", true).await;
    let token = mint_link(app, "E-3", "90003").await;
    let body = GreenhouseApplication::new(70_003, 80_003, 90_003, "limited@example.org")
        .token(&token)
        .body();
    processed(app, post_greenhouse(app, "ev-429", &body).await).await;
    wait_until("attribution.written_back", || async {
        !audit_with(db, "attribution.written_back").await.is_empty()
    })
    .await;
    let patches = world.harvest.requests("PATCH", "/v3/applications/70003");
    assert_eq!(patches.len(), 2, "{:?}", world.harvest.summary());
    let waited = patches[1].at.duration_since(patches[0].at);
    assert!(
        waited >= Duration::from_millis(900),
        "retried after {waited:?}, before the server's Retry-After: 1"
    );
    // The audit event is written inside the job; its ack comes after, in
    // the worker's next batch.
    let succeeded = || async {
        app.queue()
            .list(&JobFilter::state(JobState::Succeeded).kind("write_back_referral"))
            .await
            .expect("list jobs")
    };
    wait_until("the write-back job acked", || async {
        !succeeded().await.jobs.is_empty()
    })
    .await;
    let done = succeeded().await;
    assert_eq!(done.jobs.len(), 1, "{done:#?}");
    assert_eq!(done.jobs[0].attempts, 2);
    assert_eq!(done.jobs[0].errors.len(), 1);
    assert!(
        done.jobs[0].errors[0].error.contains("429"),
        "{:?}",
        done.jobs[0].errors
    );
    world.cleanup().await;
}

/// Lever deliveries are not signed over their data: the job acts on the
/// opportunity as the Lever API returns it, not on what the body says.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lever_events_act_on_the_refetched_opportunity() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    let opp = "opp-refetch-1";
    let opportunity = |stage: &str| {
        fixtures::lever_opportunity(
            opp,
            "contact-refetch-1",
            "Lever.Person@Example.org",
            stage,
            "posting-77",
            Utc::now() - days(2),
        )
    };
    world
        .lever
        .set_opportunity(opp, opportunity("Phone Screen"));
    // The body claims another contact; only the API's answer counts.
    let body = serde_json::to_vec(&lever_body("candidateStageChange", opp)).unwrap();
    processed(app, post_lever(app, &body).await).await;
    let fetches = world
        .lever
        .ats
        .requests("GET", &format!("/v1/opportunities/{opp}"));
    assert_eq!(fetches.len(), 1);
    assert_eq!(
        fetches[0].query.as_deref(),
        Some("expand=applications&expand=stage")
    );
    assert_eq!(
        fetches[0].header("authorization"),
        Some(basic(LEVER_KEY).as_str())
    );
    let a = application_by_ats_id(db, opp).await.expect("captured");
    assert_eq!(a.ats, Ats::Lever);
    assert_eq!(a.job_id, "posting-77");
    assert_eq!(a.stage.as_deref(), Some("Phone Screen"));
    assert_eq!(a.status, ApplicationStatus::Active);
    let cands = candidates(db).await;
    assert_eq!(cands.len(), 1);
    assert_eq!(
        cands[0].email_canonical.as_deref(),
        Some("lever.person@example.org")
    );
    let ids = candidate_ats_ids(db).await;
    assert_eq!(ids.len(), 1);
    assert_eq!(ids[0].ats, Ats::Lever);
    assert_eq!(ids[0].ats_candidate_id, "contact-refetch-1");

    world
        .lever
        .set_opportunity(opp, fixtures::lever_hired(opportunity("Hired")));
    let body = serde_json::to_vec(&lever_body("candidateHired", opp)).unwrap();
    processed(app, post_lever(app, &body).await).await;
    let a = application_by_ats_id(db, opp).await.unwrap();
    assert_eq!(a.status, ApplicationStatus::Hired);
    assert_eq!(a.stage.as_deref(), Some("Hired"));
    assert_eq!(applications(db).await.len(), 1);
    assert_eq!(candidates(db).await.len(), 1);
    assert_eq!(
        world
            .lever
            .ats
            .requests("GET", &format!("/v1/opportunities/{opp}"))
            .len(),
        2
    );
    world.cleanup().await;
}

/// `new_prospect_application` is captured (and attributed) like an
/// application, and `application_updated` updates the same application.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn prospect_and_updated_applications_are_captured() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    put_employee(app, "E-4", "hana@acme-example.com", true).await;
    let mut a = GreenhouseApplication::new(70_004, 80_004, 90_004, "prospect@example.org")
        .credited_to("E-4");
    a.stage = "Prospect".into();
    processed(
        app,
        post_greenhouse(
            app,
            "ev-prospect",
            &greenhouse_event(&a, "new_prospect_application"),
        )
        .await,
    )
    .await;
    let captured = application_by_ats_id(db, "70004").await.expect("captured");
    assert_eq!(captured.stage.as_deref(), Some("Prospect"));
    assert_eq!(
        only_referral(db, "70004").await.state,
        ReferralState::Credited
    );

    a.stage = "Phone Screen".into();
    processed(
        app,
        post_greenhouse(
            app,
            "ev-updated",
            &greenhouse_event(&a, "application_updated"),
        )
        .await,
    )
    .await;
    let apps = applications(db).await;
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0].id, captured.id);
    assert_eq!(apps[0].stage.as_deref(), Some("Phone Screen"));
    assert_eq!(candidates(db).await.len(), 1);
    assert_eq!(referrals(db).await.len(), 1, "the update is no new claim");
    world.cleanup().await;
}
