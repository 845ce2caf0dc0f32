//! Referral capture end to end over HTTP (issue 3): links, employees, the
//! sample payloads, candidate dedup, every attribution rule, ATS write-back
//! against fake Harvest and Lever servers, out-of-order deliveries, merges,
//! deletions and anonymisation, and storage outages.
//!
//! Every test drives the running app through its HTTP surface (or the real
//! binary for the CLI) and reads the rows it wrote; nothing is mocked but
//! the ATS APIs, which are real local HTTP servers.

use std::time::Duration;

use chrono::Utc;
use entities::{
    application::{self, ApplicationStatus},
    inbox::{InboxStatus, Verification},
    referral::{self, ReferralSource, ReferralState},
    states::Ats,
};
use queue::{JobFilter, JobState};
use reqwest::{Method, StatusCode};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use tests::{
    app::{self, Setup, TestApp},
    fixtures::{
        self, CAREERS_BASE_URL, CAREERS_SITE_SECRET, CareersApplication, FakeGreenhouse,
        GreenhouseApplication, LEVER_KEY, OTHER_CAREERS_SITE_SECRET, SwitchProxy, accepted,
        application_by_ats_id, applications, audit, audit_with, candidate_ats_ids, candidates,
        careers_site_headers, employees, inbox_rows, job, lever_body, link_row, mint_link,
        mint_link_with, payload, post_careers_site, post_greenhouse, post_greenhouse_sample,
        post_lever, post_lever_sample, processed, put_employee, redis_socket_addr, referrals,
        sample, seed_link, spawn_capture_app, spawn_capture_app_with, submit, time, tokens, unique,
        wait_inbox, wait_until,
    },
};
use worker::config::{RetryOverride, SecretUrl};

tests::both_setups!(
    every_sample_payload_end_to_end,
    a_minted_link_attributes_a_careers_site_application,
    email_variants_of_one_person_are_one_candidate,
    phone_formats_of_one_person_are_one_candidate,
    an_email_match_beats_an_older_phone_match,
    simultaneous_applications_by_one_person_are_one_candidate,
    first_referral_wins_and_the_second_referrer_loses,
    a_stage_change_before_its_application_waits_for_it,
);

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

fn days(n: i64) -> chrono::Duration {
    chrono::Duration::days(n)
}

/// The samples' Greenhouse application and candidate, as v3's integer ids.
const GH_APPLICATION_ID: u64 = 120_450_001;
const GH_CANDIDATE_ID: u64 = 90_077_001;

/// Every Harvest call went out as v3 does it: a bearer token minted at the
/// token endpoint with the test credential (the fake refuses any other
/// with 401, and refused none), never v1's Basic key or `On-Behalf-Of`.
fn assert_v3_auth(fake: &FakeGreenhouse) {
    let seen = fake.seen();
    assert!(
        seen.iter()
            .any(|s| s.method == "POST" && s.path == "/token"),
        "{:?}",
        fake.summary()
    );
    for s in &seen {
        assert_eq!(s.header("on-behalf-of"), None, "{s:?}");
        if s.path.starts_with("/v3/") {
            let auth = s.header("authorization").unwrap_or_default();
            assert!(auth.starts_with("Bearer "), "{s:?}");
        }
    }
    assert_eq!(fake.harvest.unauthorized(), 0, "{:?}", fake.summary());
}

/// `Authorization: Basic base64(key:)`, as the ATS clients send it.
fn basic(key: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = format!("{key}:").into_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}

/// An `/api` call with any method, token and body; the status and JSON body.
async fn api_call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = app.client.request(method, app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let response = req.send().await.expect("an answer");
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Asserts an error answer: status, `error` code and a `detail` naming `detail`.
fn assert_error(got: &(StatusCode, Value), status: StatusCode, error: &str, detail: &str) {
    let (s, body) = got;
    assert_eq!(*s, status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    let d = body["detail"].as_str().unwrap_or_default();
    assert!(d.contains(detail), "detail {d:?} does not name {detail:?}");
}

/// The referrals of the application with ATS id `ats_application_id`.
async fn referrals_of(db: &DatabaseConnection, ats_application_id: &str) -> Vec<referral::Model> {
    let app = application_by_ats_id(db, ats_application_id)
        .await
        .unwrap_or_else(|| panic!("no application {ats_application_id}"));
    referrals(db)
        .await
        .into_iter()
        .filter(|r| r.application_id == Some(app.id))
        .collect()
}

/// The single referral of an application.
async fn only_referral(db: &DatabaseConnection, ats_application_id: &str) -> referral::Model {
    let mut refs = referrals_of(db, ats_application_id).await;
    assert_eq!(refs.len(), 1, "{refs:#?}");
    refs.remove(0)
}

/// Submits a careers-site application and waits until it is processed.
async fn apply(app: &TestApp, a: &CareersApplication) -> application::Model {
    processed(app, submit(app, a).await).await;
    application_by_ats_id(&app.state.db, &a.submission_id)
        .await
        .expect("the application is recorded")
}

fn no_redirects() -> reqwest::Client {
    tests::app::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a client")
}

/// A client that outlives the app's database acquire timeout (10 s).
fn patient_client() -> reqwest::Client {
    tests::app::client_builder()
        .timeout(Duration::from_secs(40))
        .build()
        .expect("a client")
}

async fn send_careers(
    client: &reqwest::Client,
    app: &TestApp,
    secret: &str,
    msg_id: &str,
    body: &[u8],
) -> reqwest::Response {
    let mut req = client
        .post(app.url("/webhooks/applications"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (k, v) in careers_site_headers(secret, msg_id, Utc::now().timestamp(), body) {
        req = req.header(k, v);
    }
    req.send().await.expect("an answer")
}

/// A Greenhouse event body built from an application's JSON with `action`.
fn greenhouse_event(a: &GreenhouseApplication, action: &str) -> Vec<u8> {
    let mut v = a.json();
    v["action"] = json!(action);
    serde_json::to_vec(&v).expect("serialise")
}

// ---------------------------------------------------------------------------
// The samples, end to end
// ---------------------------------------------------------------------------

/// All eight sample payloads, delivered byte for byte in the order a real
/// candidacy produces them: the careers-site submission with the sample's
/// token, the Greenhouse application it becomes, Offer, Hired (twice, as a
/// stage change and as hire_candidate), a merge, and the same person's
/// Lever opportunity moving to Offer and being hired.
async fn every_sample_payload_end_to_end(setup: Setup) {
    let world = spawn_capture_app(setup, |s| {
        // The Lever samples were triggered in October 2025.
        s.webhooks.lever_max_age = fixtures::LEVER_SAMPLE_MAX_AGE;
    })
    .await;
    // Greenhouse has the application, and the referrer as a user with a
    // referrer record (created in its UI).
    world.harvest.seed_samples();
    let gh_fake = &world.harvest.harvest;
    gh_fake.user(4_410_042, sample::REFERRER_EMAIL);
    gh_fake.referrer(5_501, Some(4_410_042));
    let app = &world.app;
    let db = world.db();
    put_employee(app, sample::REFERRER, sample::REFERRER_EMAIL, true).await;
    seed_link(
        db,
        sample::TOKEN,
        sample::REFERRER,
        sample::JOB,
        time("2025-08-01T00:00:00Z"),
        Utc::now() + days(365),
    )
    .await;
    let mut delivered: Vec<(&str, i64)> = Vec::new();

    // 1. The careers site: a candidate and a credited referral on the submission.
    let careers = payload(fixtures::CAREERS_SITE_SAMPLE);
    let id = processed(app, post_careers_site(app, "msg_sample_1", &careers).await).await;
    delivered.push((fixtures::CAREERS_SITE_SAMPLE, id));
    let submission = application_by_ats_id(db, sample::SUBMISSION)
        .await
        .expect("the submission");
    assert_eq!(submission.ats, Ats::CareersSite);
    assert_eq!(submission.job_id, sample::JOB);
    let r = only_referral(db, sample::SUBMISSION).await;
    assert_eq!(r.state, ReferralState::Credited);
    assert_eq!(r.source, ReferralSource::ReferralLink);
    assert_eq!(r.employee_id, sample::REFERRER);
    assert_eq!(r.link_token.as_deref(), Some(sample::TOKEN));
    assert_eq!(r.referred_at, time("2025-09-02T10:15:29.512Z"));

    // 2. Greenhouse's application: the same person, the referral moves to it.
    let id = processed(
        app,
        post_greenhouse_sample(app, fixtures::GH_NEW_APPLICATION).await,
    )
    .await;
    delivered.push((fixtures::GH_NEW_APPLICATION, id));
    let gh = application_by_ats_id(db, sample::GH_APPLICATION)
        .await
        .expect("the Greenhouse application");
    assert_eq!(gh.ats, Ats::Greenhouse);
    assert_eq!(gh.candidate_id, submission.candidate_id);
    assert_eq!(gh.job_id, sample::JOB);
    assert_eq!(gh.stage.as_deref(), Some("Application Review"));
    let all = referrals(db).await;
    assert_eq!(all.len(), 1, "one referral, credited once: {all:#?}");
    assert_eq!(all[0].id, r.id);
    assert_eq!(all[0].application_id, Some(gh.id));
    assert_eq!(all[0].state, ReferralState::Credited);
    let moved = audit_with(db, "attribution.moved_to_ats_application").await;
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].data["from_application_id"], submission.id);
    assert_eq!(moved[0].data["to_application_id"], gh.id);

    // The write-back reached Harvest: token custom field, then the tag.
    wait_until("attribution.written_back", || async {
        audit_with(db, "attribution.written_back")
            .await
            .iter()
            .any(|a| a.subject_id == r.id.to_string() && a.data["ats"] == "greenhouse")
    })
    .await;
    let patches = world.harvest.requests(
        "PATCH",
        &format!("/v3/applications/{}", sample::GH_APPLICATION),
    );
    assert!(!patches.is_empty(), "{:?}", world.harvest.summary());
    for p in &patches {
        // The employee's Greenhouse user 4410042 stands for referrer 5501:
        // v3 credits the referrer record, not the user.
        assert_eq!(
            p.json(),
            json!({ "custom_fields": [{ "name_key": "referral_token", "value": sample::TOKEN }],
                    "referrer_id": 5501 })
        );
    }
    let stored = world
        .harvest
        .harvest
        .record("applications", GH_APPLICATION_ID)
        .expect("the application");
    assert_eq!(
        stored["custom_fields"]["referral_token"]["value"],
        sample::TOKEN
    );
    assert_eq!(stored["referrer_id"], 5501);
    assert_eq!(
        world.harvest.harvest.tags_of(GH_CANDIDATE_ID),
        ["Employee Referral"]
    );
    assert_v3_auth(&world.harvest);

    // 3. Offer.
    let id = processed(
        app,
        post_greenhouse_sample(app, fixtures::GH_STAGE_CHANGE).await,
    )
    .await;
    delivered.push((fixtures::GH_STAGE_CHANGE, id));
    let gh = application_by_ats_id(db, sample::GH_APPLICATION)
        .await
        .unwrap();
    assert_eq!(gh.stage.as_deref(), Some("Offer"));
    assert_eq!(gh.status, ApplicationStatus::Active);
    assert_eq!(gh.hired_at, None);

    // 4. Hired, as a stage change.
    let id = processed(
        app,
        post_greenhouse_sample(app, fixtures::GH_STAGE_CHANGE_HIRED).await,
    )
    .await;
    delivered.push((fixtures::GH_STAGE_CHANGE_HIRED, id));
    let gh = application_by_ats_id(db, sample::GH_APPLICATION)
        .await
        .unwrap();
    assert_eq!(gh.stage.as_deref(), Some("Hired"));
    assert_eq!(gh.status, ApplicationStatus::Hired);
    let hired_at = time("2025-10-24T09:30:02Z");
    assert_eq!(gh.hired_at, Some(hired_at));

    // 5. hire_candidate: the same hire again; the first hire time stands.
    let id = processed(app, post_greenhouse_sample(app, fixtures::GH_HIRE).await).await;
    delivered.push((fixtures::GH_HIRE, id));
    let gh = application_by_ats_id(db, sample::GH_APPLICATION)
        .await
        .unwrap();
    assert_eq!(gh.status, ApplicationStatus::Hired);
    assert_eq!(gh.hired_at, Some(hired_at));
    assert_eq!(
        gh.start_date,
        Some(time("2025-12-01T00:00:00Z")),
        "offer.starts_at is the start date"
    );

    // 6. The merge names a Greenhouse record (90077555) we never saw: there
    //    is nothing of ours to re-point, so it is recorded as ignored.
    let a = accepted(post_greenhouse_sample(app, fixtures::GH_MERGE).await).await;
    wait_inbox(app, a.inbox_id, InboxStatus::Ignored).await;
    delivered.push((fixtures::GH_MERGE, a.inbox_id));

    // 7. Lever: the body only names the opportunity; its facts come from the API.
    world.lever.set_opportunity(
        sample::LEVER_OPPORTUNITY,
        fixtures::lever_opportunity(
            sample::LEVER_OPPORTUNITY,
            sample::LEVER_CONTACT,
            "Jose.Almeida+jobs@Example.org",
            "Offer",
            "lever-posting-1",
            time("2025-10-01T08:00:00Z"),
        ),
    );
    let id = processed(
        app,
        post_lever_sample(app, fixtures::LEVER_STAGE_CHANGE).await,
    )
    .await;
    delivered.push((fixtures::LEVER_STAGE_CHANGE, id));
    let lever = application_by_ats_id(db, sample::LEVER_OPPORTUNITY)
        .await
        .expect("the Lever application");
    assert_eq!(lever.ats, Ats::Lever);
    assert_eq!(lever.candidate_id, submission.candidate_id);
    assert_eq!(lever.stage.as_deref(), Some("Offer"));
    assert_eq!(lever.status, ApplicationStatus::Active);

    // 8. Lever hired.
    world.lever.set_opportunity(
        sample::LEVER_OPPORTUNITY,
        fixtures::lever_hired(fixtures::lever_opportunity(
            sample::LEVER_OPPORTUNITY,
            sample::LEVER_CONTACT,
            "Jose.Almeida+jobs@Example.org",
            "Hired",
            "lever-posting-1",
            time("2025-10-01T08:00:00Z"),
        )),
    );
    let id = processed(app, post_lever_sample(app, fixtures::LEVER_HIRED).await).await;
    delivered.push((fixtures::LEVER_HIRED, id));
    let lever = application_by_ats_id(db, sample::LEVER_OPPORTUNITY)
        .await
        .unwrap();
    assert_eq!(lever.status, ApplicationStatus::Hired);
    assert_eq!(lever.stage.as_deref(), Some("Hired"));
    let fetches = world.lever.ats.requests(
        "GET",
        &format!("/v1/opportunities/{}", sample::LEVER_OPPORTUNITY),
    );
    assert_eq!(fetches.len(), 2, "one re-fetch per Lever delivery");
    for f in &fetches {
        assert_eq!(f.query.as_deref(), Some("expand=applications&expand=stage"));
        assert_eq!(f.header("authorization"), Some(basic(LEVER_KEY).as_str()));
    }

    // One person: one candidate, raw values beside the canonical ones.
    let cands = candidates(db).await;
    assert_eq!(cands.len(), 1, "{cands:#?}");
    let c = &cands[0];
    assert_eq!(c.email_raw.as_deref(), Some(sample::CAREERS_EMAIL_RAW));
    assert_eq!(c.email_canonical.as_deref(), Some(sample::EMAIL_CANONICAL));
    assert_eq!(c.phone_raw.as_deref(), Some("030 1234-5678"));
    assert_eq!(c.phone_e164.as_deref(), Some(sample::PHONE_E164));
    assert_eq!(applications(db).await.len(), 3);
    let mut ats_ids: Vec<(Ats, String)> = candidate_ats_ids(db)
        .await
        .into_iter()
        .map(|m| {
            assert_eq!(m.candidate_id, c.id);
            (m.ats, m.ats_candidate_id)
        })
        .collect();
    ats_ids.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        ats_ids,
        vec![
            (Ats::Greenhouse, sample::GH_CANDIDATE.to_owned()),
            (Ats::Lever, sample::LEVER_CONTACT.to_owned()),
        ]
    );

    // Every delivery has its inbox row with the exact bytes and its job.
    let rows = inbox_rows(db).await;
    assert_eq!(rows.len(), 8);
    for (name, id) in &delivered {
        let row = rows.iter().find(|r| r.id == *id).expect("inbox row");
        let want = if *name == fixtures::GH_MERGE {
            InboxStatus::Ignored
        } else {
            InboxStatus::Processed
        };
        assert_eq!(row.status, want, "{name}");
        assert_eq!(
            row.raw_body.as_deref(),
            Some(payload(name).as_slice()),
            "{name}"
        );
        assert_eq!(row.verification, Verification::Verified, "{name}");
        assert!(row.job_id.is_some(), "{name}");
        assert_eq!(row.error, None, "{name}");
    }

    // The audit log holds ids and reasons, never personal data.
    let events = audit(db).await;
    assert!(events.len() >= 5, "{events:#?}");
    let personal = [
        "jose",
        "josé",
        "almeida",
        "example.org",
        "priya",
        "raman",
        "acme-example.com",
        "okafor",
        "12345678",
        "1234-5678",
        "1234 5678",
        "203.0.113.47",
    ];
    for e in &events {
        let text = e.data.to_string().to_lowercase();
        for p in personal {
            assert!(!text.contains(p), "audit {} holds {p:?}: {text}", e.action);
        }
    }
    world.cleanup().await;
}

// ---------------------------------------------------------------------------
// Greenhouse and Lever specifics
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Links and the API
// ---------------------------------------------------------------------------

/// A link minted through the API: token and share URL, click counting and
/// redirect, and an application carrying the token credited to its employee.
async fn a_minted_link_attributes_a_careers_site_application(setup: Setup) {
    let world = spawn_capture_app(setup, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    put_employee(app, "E-10", "ivy@acme-example.com", true).await;
    let before = Utc::now();
    let minted = mint_link_with(app, json!({ "employee_id": "E-10", "job_id": "J-10" })).await;
    let token = minted["token"].as_str().expect("token").to_owned();
    assert!(token.starts_with("rt_") && token.len() >= 3 + 20, "{token}");
    assert_eq!(
        minted["url"],
        format!("{CAREERS_BASE_URL}/jobs/J-10?ref={token}")
    );
    assert_eq!(minted["employee_id"], "E-10");
    assert_eq!(minted["job_id"], "J-10");
    let expires_at = time(minted["expires_at"].as_str().expect("expires_at"));
    assert!(expires_at >= before + days(90) && expires_at <= Utc::now() + days(90));
    let row = link_row(db, &token).await.expect("stored");
    assert_eq!(row.employee_id, "E-10");
    assert_eq!(row.job_id, "J-10");
    assert_eq!(row.click_count, 0);
    assert_eq!(row.first_clicked_at, None);

    // Clicks: redirected to the share URL, counted, the first one timed.
    let client = no_redirects();
    for _ in 0..2 {
        let r = client
            .get(app.url(&format!("/r/{token}")))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_redirection(), "{}", r.status());
        assert_eq!(
            r.headers().get("location").and_then(|v| v.to_str().ok()),
            Some(format!("{CAREERS_BASE_URL}/jobs/J-10?ref={token}").as_str())
        );
    }
    let row = link_row(db, &token).await.unwrap();
    assert_eq!(row.click_count, 2);
    let first = row.first_clicked_at.expect("first click recorded");
    assert!(first >= before - chrono::Duration::seconds(1) && first <= Utc::now());
    // Clicks at the same moment are each counted; the first stays first.
    let url = app.url(&format!("/r/{token}"));
    let at_once: Vec<_> = (0..30)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move { client.get(url).send().await.map(|r| r.status()) })
        })
        .collect();
    for click in at_once {
        let status = click.await.expect("join").expect("click");
        assert!(status.is_redirection(), "{status}");
    }
    let row = link_row(db, &token).await.unwrap();
    assert_eq!(row.click_count, 32, "no click lost");
    assert_eq!(row.first_clicked_at, Some(first));
    let unknown = client
        .get(app.url("/r/rt_00000000000000000000000000000000"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
    assert!(body["detail"].is_string());

    // The application.
    let a = apply(
        app,
        &CareersApplication::new("J-10", "linked@example.org").referred_by(&token),
    )
    .await;
    let r = only_referral(db, &a.ats_application_id).await;
    assert_eq!(r.state, ReferralState::Credited);
    assert_eq!(r.employee_id, "E-10");
    assert_eq!(r.source, ReferralSource::ReferralLink);
    assert_eq!(r.link_token.as_deref(), Some(token.as_str()));
    assert_eq!(r.reason, None);
    let credited = audit_with(db, "attribution.credited").await;
    assert_eq!(credited.len(), 1);
    assert_eq!(credited[0].subject_id, r.id.to_string());
    world.cleanup().await;
}

/// Expired, revoked and forged tokens attribute nothing; the application is
/// still recorded and the reason is audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expired_revoked_and_forged_tokens_do_not_attribute() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    put_employee(app, "E-11", "jack@acme-example.com", true).await;
    let expiring = mint_link_with(
        app,
        json!({ "employee_id": "E-11", "job_id": "J-11", "expires_in": 1 }),
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoked = mint_link(app, "E-11", "J-11").await;
    let (status, _) = api_call(
        app,
        Method::DELETE,
        &format!("/api/referral-links/{revoked}"),
        Some(tokens::LINKS),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(link_row(db, &revoked).await.unwrap().revoked_at.is_some());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let forged = "rt_0123456789abcdef0123456789abcdef";

    let cases = [
        (expiring.as_str(), "expired@example.org", "expired"),
        (revoked.as_str(), "revoked@example.org", "revoked"),
        (forged, "forged@example.org", "unknown"),
    ];
    for (token, email, reason) in cases {
        let a = apply(
            app,
            &CareersApplication::new("J-11", email).referred_by(token),
        )
        .await;
        assert!(referrals_of(db, &a.ats_application_id).await.is_empty());
        let rejected: Vec<_> = audit_with(db, "attribution.token_rejected")
            .await
            .into_iter()
            .filter(|e| e.subject_id == a.id.to_string())
            .collect();
        assert_eq!(rejected.len(), 1, "{reason}");
        let why = rejected[0].data["reason"].as_str().unwrap_or_default();
        assert!(why.contains(reason), "{why:?} for a {reason} token");
        assert_eq!(rejected[0].data["application_id"], a.id);
        let text = rejected[0].data.to_string();
        assert!(!text.contains(email), "{text}");
    }
    assert_eq!(applications(db).await.len(), 3);
    assert_eq!(candidates(db).await.len(), 3);
    assert!(referrals(db).await.is_empty());
    world.cleanup().await;
}

/// Link requests are checked: the employee (known, active), the job, the
/// expiry, the JSON and the media type.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn link_requests_are_validated() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    put_employee(app, "E-12", "kim@acme-example.com", true).await;
    put_employee(app, "E-13", "lou@acme-example.com", false).await;
    let post = |body: Value| {
        api_call(
            app,
            Method::POST,
            "/api/referral-links",
            Some(tokens::LINKS),
            Some(body),
        )
    };
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let cases = [
        (
            json!({ "employee_id": "E-404", "job_id": "J-1" }),
            "employee_id",
        ),
        (
            json!({ "employee_id": "E-13", "job_id": "J-1" }),
            "employee_id",
        ),
        (json!({ "employee_id": "E-12", "job_id": "  " }), "job_id"),
        (json!({ "employee_id": "E-12" }), "job_id"),
        (json!({ "job_id": "J-1" }), "employee_id"),
        (json!({ "employee_id": "E-12", "job_id": 7 }), "job_id"),
        (
            json!({ "employee_id": "E-12", "job_id": "J-1", "expires_in": "forever" }),
            "expires_in",
        ),
        (
            json!({ "employee_id": "E-12", "job_id": "J-1", "expires_in": 0 }),
            "expires_in",
        ),
        (
            json!({ "employee_id": "E-12", "job_id": "J-1", "expires_in": -5 }),
            "expires_in",
        ),
        // Durations under the documented minimum of 1s (issue 18).
        (
            json!({ "employee_id": "E-12", "job_id": "J-1", "expires_in": "1ns" }),
            "expires_in",
        ),
        (
            json!({ "employee_id": "E-12", "job_id": "J-1", "expires_in": "999ms" }),
            "expires_in",
        ),
        (
            json!({ "employee_id": "E-12", "job_id": "J-1", "expires_in": "10years" }),
            "expires_in",
        ),
        (
            json!({ "employee_id": "E-12", "job_id": "J-1", "expires_in": [1] }),
            "expires_in",
        ),
    ];
    for (body, field) in cases {
        let got = post(body.clone()).await;
        assert_error(&got, unprocessable, "invalid_field", field);
        assert!(
            !got.1["detail"].to_string().contains("internal"),
            "{body}: {}",
            got.1
        );
    }
    let inactive = post(json!({ "employee_id": "E-13", "job_id": "J-1" })).await;
    assert!(inactive.1["detail"].as_str().unwrap().contains("active"));

    let bad_json = app
        .client
        .post(app.url("/api/referral-links"))
        .bearer_auth(tokens::LINKS)
        .header("content-type", "application/json")
        .body("{\"employee_id\": ")
        .send()
        .await
        .unwrap();
    let status = bad_json.status();
    let body: Value = bad_json.json().await.unwrap();
    assert_error(
        &(status, body),
        StatusCode::BAD_REQUEST,
        "bad_request",
        "JSON",
    );

    let plain = app
        .client
        .post(app.url("/api/referral-links"))
        .bearer_auth(tokens::LINKS)
        .header("content-type", "text/plain")
        .body(r#"{"employee_id": "E-12", "job_id": "J-1"}"#)
        .send()
        .await
        .unwrap();
    let status = plain.status();
    let body: Value = plain.json().await.unwrap();
    assert_error(
        &(status, body),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "application/json",
    );

    assert!(
        fixtures::all::<entities::referral_link::Entity>(db)
            .await
            .is_empty(),
        "no refused request minted a link"
    );
    let ok = mint_link_with(
        app,
        json!({ "employee_id": "E-12", "job_id": "J-1", "expires_in": "30days" }),
    )
    .await;
    let expires_at = time(ok["expires_at"].as_str().unwrap());
    let expected = Utc::now() + days(30);
    assert!((expires_at - expected).num_seconds().abs() < 60, "{ok}");
    world.cleanup().await;
}

/// Method, path, bearer token, body, expected status, text the detail names.
type AuthCase<'a> = (
    Method,
    &'a str,
    Option<&'a str>,
    Option<Value>,
    StatusCode,
    &'a str,
);

/// `/api` wants a bearer token with the route's scope: none is 401, an
/// unknown or out-of-scope one 403, always as `{error, detail}`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_calls_need_a_bearer_token_with_the_right_scope() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    let employee = json!({ "employee_id": "E-20", "email": "max@acme-example.com", "name": "Max", "active": true });
    let link = json!({ "employee_id": "E-20", "job_id": "J-20" });
    let cases: Vec<AuthCase> = vec![
        (
            Method::POST,
            "/api/employees",
            None,
            Some(employee.clone()),
            StatusCode::UNAUTHORIZED,
            "bearer",
        ),
        (
            Method::POST,
            "/api/referral-links",
            None,
            Some(link.clone()),
            StatusCode::UNAUTHORIZED,
            "bearer",
        ),
        (
            Method::DELETE,
            "/api/referral-links/rt_x",
            None,
            None,
            StatusCode::UNAUTHORIZED,
            "bearer",
        ),
        (
            Method::POST,
            "/api/employees",
            Some("not-a-configured-token"),
            Some(employee.clone()),
            StatusCode::FORBIDDEN,
            "unknown token",
        ),
        (
            Method::POST,
            "/api/referral-links",
            Some(&tokens::LINKS[1..]),
            Some(link.clone()),
            StatusCode::FORBIDDEN,
            "unknown token",
        ),
        (
            Method::POST,
            "/api/employees",
            Some(tokens::LINKS),
            Some(employee.clone()),
            StatusCode::FORBIDDEN,
            "employees",
        ),
        (
            Method::POST,
            "/api/employees",
            Some(tokens::OPS),
            Some(employee.clone()),
            StatusCode::FORBIDDEN,
            "employees",
        ),
        (
            Method::POST,
            "/api/referral-links",
            Some(tokens::EMPLOYEES),
            Some(link.clone()),
            StatusCode::FORBIDDEN,
            "links",
        ),
        (
            Method::DELETE,
            "/api/referral-links/rt_x",
            Some(tokens::EMPLOYEES),
            None,
            StatusCode::FORBIDDEN,
            "links",
        ),
    ];
    for (method, path, token, body, status, detail) in cases {
        let what = format!("{method} {path} with {token:?}");
        let got = api_call(app, method, path, token, body).await;
        assert_eq!(got.0, status, "{what}: {}", got.1);
        let error = if status == StatusCode::UNAUTHORIZED {
            "unauthorized"
        } else {
            "forbidden"
        };
        assert_eq!(got.1["error"], error, "{what}: {}", got.1);
        let d = got.1["detail"].as_str().unwrap_or_default().to_lowercase();
        assert!(d.contains(detail), "{what}: {d:?}");
    }
    // Not a bearer token at all.
    let basic_auth = app
        .client
        .post(app.url("/api/employees"))
        .header("authorization", basic(tokens::EMPLOYEES))
        .json(&employee)
        .send()
        .await
        .unwrap();
    assert_eq!(basic_auth.status(), StatusCode::UNAUTHORIZED);
    assert!(
        employees(db).await.is_empty(),
        "no refused call changed anything"
    );

    // The right scope works.
    let (status, _) = api_call(
        app,
        Method::POST,
        "/api/employees",
        Some(tokens::EMPLOYEES),
        Some(employee),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = api_call(
        app,
        Method::POST,
        "/api/referral-links",
        Some(tokens::LINKS),
        Some(link),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    world.cleanup().await;
}

/// `POST /api/employees` creates (201), then answers 200 `unchanged` or
/// `updated`; deactivation is audited; a bad field is named.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn post_employees_creates_then_updates_or_leaves_unchanged() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    let post = |body: Value| {
        api_call(
            app,
            Method::POST,
            "/api/employees",
            Some(tokens::EMPLOYEES),
            Some(body),
        )
    };
    let grace = json!({ "employee_id": " E-100 ", "email": " Grace.Hopper@Acme-Example.com ", "name": "Grace Hopper", "active": true });
    let (status, body) = post(grace.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body, json!({ "employee_id": "E-100", "result": "created" }));
    let rows = employees(db).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].employee_id, "E-100");
    assert_eq!(rows[0].email, "Grace.Hopper@Acme-Example.com");
    assert_eq!(rows[0].email_canonical, "grace.hopper@acme-example.com");
    assert_eq!(rows[0].name, "Grace Hopper");
    assert!(rows[0].active);

    let (status, body) = post(grace.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"], "unchanged");

    let mut renamed = grace.clone();
    renamed["name"] = json!("Grace B. Hopper");
    let (status, body) = post(renamed.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"], "updated");
    assert_eq!(employees(db).await[0].name, "Grace B. Hopper");
    assert!(audit_with(db, "employee.deactivated").await.is_empty());

    let mut gone = renamed.clone();
    gone["active"] = json!(false);
    let (status, body) = post(gone).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"], "updated");
    assert!(!employees(db).await[0].active);
    let deactivated = audit_with(db, "employee.deactivated").await;
    assert_eq!(deactivated.len(), 1);
    assert_eq!(deactivated[0].subject_id, "E-100");
    assert_eq!(deactivated[0].actor, "api:hris-sync");

    let got = post(json!({ "employee_id": "E-101", "email": "not-an-email", "name": "X" })).await;
    assert_error(
        &got,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        "email",
    );
    let got = post(json!({ "employee_id": "E-101", "email": "x@acme-example.com" })).await;
    assert_error(
        &got,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        "name",
    );
    assert_eq!(employees(db).await.len(), 1);
    world.cleanup().await;
}

/// `referral-worker employees import FILE.csv` (the real binary): good rows
/// imported, bad ones reported by line number, exit status non-zero; then
/// `links create` prints a token and its share URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn employees_import_reports_bad_rows_by_line_and_imports_the_good_ones() {
    let db = app::fresh_db(app::DbDriver::Postgres).await;
    db.migrate().await.expect("migrate");
    let dir = std::env::temp_dir().join(unique("rw-import-"));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("hris.csv");
    std::fs::write(
        &csv,
        "employee_id,email,name,active\n\
         E-1,ada@acme-example.com,Ada,true\n\
         E-2,not-an-email,Bob,true\n\
         E-3,cy@acme-example.com,Cy,maybe\n\
         E-4,di@acme-example.com,Di,no\n\
         ,eve@acme-example.com,Eve,yes\n",
    )
    .unwrap();
    let path = csv.display().to_string();
    let mut env = app::worker_env(&db.url, None);
    env.push((
        app::setting_var("referrals.careers_base_url"),
        CAREERS_BASE_URL.to_owned(),
    ));

    let mut import = app::spawn_process(&["employees", "import", &path], env.clone());
    let status = import.wait_exit(Duration::from_secs(60)).await;
    let (stdout, stderr) = (import.stdout(), import.stderr());
    assert!(!status.success(), "bad rows must fail the import: {stderr}");
    for line in [3, 4, 6] {
        assert!(
            stderr.contains(&format!("{path}:{line}:")),
            "line {line} not reported:\n{stderr}"
        );
    }
    for line in [2, 5] {
        assert!(!stderr.contains(&format!("{path}:{line}:")), "{stderr}");
    }
    assert!(stdout.contains("2 created"), "{stdout}");
    let mut imported: Vec<(String, String, bool)> = employees(&db.conn)
        .await
        .into_iter()
        .map(|e| (e.employee_id, e.email, e.active))
        .collect();
    imported.sort();
    assert_eq!(
        imported,
        vec![
            ("E-1".to_owned(), "ada@acme-example.com".to_owned(), true),
            ("E-4".to_owned(), "di@acme-example.com".to_owned(), false),
        ]
    );

    let mut create = app::spawn_process(
        &["links", "create", "--employee", "E-1", "--job", "J-42"],
        env.clone(),
    );
    let status = create.wait_exit(Duration::from_secs(60)).await;
    let stdout = create.stdout();
    assert!(status.success(), "{}\n{}", stdout, create.stderr());
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
            .unwrap_or_else(|| panic!("no {name} in {stdout}"))
    };
    let token = field("token:");
    assert!(token.starts_with("rt_"), "{token}");
    assert_eq!(
        field("url:"),
        format!("{CAREERS_BASE_URL}/jobs/J-42?ref={token}")
    );
    let row = link_row(&db.conn, &token)
        .await
        .expect("the link is stored");
    assert_eq!(row.employee_id, "E-1");
    assert_eq!(row.job_id, "J-42");

    // An inactive employee cannot mint.
    let mut refused = app::spawn_process(
        &["links", "create", "--employee", "E-4", "--job", "J-42"],
        env,
    );
    let status = refused.wait_exit(Duration::from_secs(60)).await;
    assert!(!status.success());
    assert!(refused.stderr().contains("active"), "{}", refused.stderr());

    drop((import, create, refused));
    let _ = std::fs::remove_dir_all(&dir);
    db.drop_database().await;
}

// ---------------------------------------------------------------------------
// Candidate dedup
// ---------------------------------------------------------------------------

/// Case, whitespace, Gmail dots and +tags, googlemail: one person, one
/// candidate. Other domains keep their dots.
async fn email_variants_of_one_person_are_one_candidate(setup: Setup) {
    let world = spawn_capture_app(setup, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    let variants = [
        "Jane.Doe@gmail.com",
        "  jane.doe@GMAIL.com\t",
        "janedoe+referral@gmail.com",
        "j.a.n.e.d.o.e@googlemail.com",
        "JaneDoe+x@GoogleMail.com",
        "\u{a0}JANE.DOE@Gmail.Com\u{a0}",
    ];
    let mut ids = Vec::new();
    for (i, email) in variants.iter().enumerate() {
        let a = apply(app, &CareersApplication::new(&format!("J-{i}"), email)).await;
        ids.push(a.candidate_id);
    }
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let cands = candidates(db).await;
    assert_eq!(cands.len(), 1, "{cands:#?}");
    assert_eq!(
        cands[0].email_canonical.as_deref(),
        Some("janedoe@gmail.com")
    );
    assert_eq!(cands[0].email_raw.as_deref(), Some(variants[0]));

    // Not Gmail: dots are significant, so these are other people.
    let other = apply(app, &CareersApplication::new("J-9", "jane.doe@example.org")).await;
    let another = apply(app, &CareersApplication::new("J-9", "janedoe@example.org")).await;
    assert_ne!(other.candidate_id, ids[0]);
    assert_ne!(another.candidate_id, other.candidate_id);
    assert_eq!(candidates(db).await.len(), 3);
    assert_eq!(applications(db).await.len(), variants.len() + 2);
    world.cleanup().await;
}

/// Without an email, the phone decides: national format with a region hint
/// and the international spellings are one number, one candidate.
async fn phone_formats_of_one_person_are_one_candidate(setup: Setup) {
    let world = spawn_capture_app(setup, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    let formats = [
        ("030 1234-5678", Some("DE")),
        ("+49 30 12345678", None),
        ("0049 30 12345678", None),
        ("+49 (0)30 1234 5678", None),
        ("030/12345678", Some("DE")),
        ("+49\u{a0}30\u{a0}12345678", None),
    ];
    let mut ids = Vec::new();
    for (i, (phone, hint)) in formats.iter().enumerate() {
        let a = apply(
            app,
            &CareersApplication::by_phone(&format!("J-{i}"), phone, *hint),
        )
        .await;
        ids.push(a.candidate_id);
    }
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let cands = candidates(db).await;
    assert_eq!(cands.len(), 1, "{cands:#?}");
    assert_eq!(cands[0].phone_e164.as_deref(), Some("+493012345678"));
    assert_eq!(cands[0].phone_raw.as_deref(), Some("030 1234-5678"));
    assert_eq!(cands[0].email_canonical, None);

    // One digit off: someone else.
    let other = apply(
        app,
        &CareersApplication::by_phone("J-9", "030 1234-5679", Some("DE")),
    )
    .await;
    assert_ne!(other.candidate_id, ids[0]);
    assert_eq!(candidates(db).await.len(), 2);
    world.cleanup().await;
}

/// Email first, the phone only when no email matches: an application whose
/// email is one candidate's and whose phone is an older candidate's goes to
/// the email's candidate, which had no phone and now has this one.
async fn an_email_match_beats_an_older_phone_match(setup: Setup) {
    let world = spawn_capture_app(setup, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    let by_phone = apply(
        app,
        &CareersApplication::by_phone("J-1", "+49 30 5550123", None),
    )
    .await;
    let by_email = apply(app, &CareersApplication::new("J-2", "sam.roe@example.org")).await;
    assert_ne!(by_phone.candidate_id, by_email.candidate_id);
    assert!(
        by_phone.candidate_id < by_email.candidate_id,
        "the phone's is older"
    );

    let both = CareersApplication {
        phone: Some("+49 30 5550123".into()),
        ..CareersApplication::new("J-3", "Sam.Roe@example.org")
    };
    let a = apply(app, &both).await;
    assert_eq!(a.candidate_id, by_email.candidate_id, "the email decides");
    let cands = candidates(db).await;
    assert_eq!(cands.len(), 2, "{cands:#?}");
    let emailed = cands
        .iter()
        .find(|c| c.id == by_email.candidate_id)
        .expect("the email's candidate");
    assert_eq!(
        emailed.phone_e164.as_deref(),
        Some("+49305550123"),
        "it lacked a phone, so it takes this one"
    );
    world.cleanup().await;
}

/// A national-format number with no region in the payload is read with the
/// region configured for the job, so it matches the same person's
/// international number.
#[tokio::test]
async fn a_jobs_configured_region_reads_national_phone_numbers() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| {
        s.referrals
            .job_phone_regions
            .insert("J-DE".to_string(), "DE".to_string());
    })
    .await;
    let app = &world.app;
    let db = world.db();
    let first = apply(
        app,
        &CareersApplication::by_phone("J-1", "+49 30 12345678", None),
    )
    .await;
    let second = apply(
        app,
        &CareersApplication::by_phone("J-DE", "030 1234-5678", None),
    )
    .await;
    assert_eq!(first.candidate_id, second.candidate_id);
    let cands = candidates(db).await;
    assert_eq!(cands.len(), 1, "{cands:#?}");
    // Without a region anywhere, a national number cannot be read at all.
    let unknown = apply(
        app,
        &CareersApplication::by_phone("J-XX", "030 1234-9999", None),
    )
    .await;
    assert_ne!(unknown.candidate_id, first.candidate_id);
    world.cleanup().await;
}

/// Several submissions by one person arriving at once still make one
/// candidate (capture serialises on the person's keys).
async fn simultaneous_applications_by_one_person_are_one_candidate(setup: Setup) {
    let world = spawn_capture_app(setup, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    let emails = [
        "Sam.Jones@gmail.com",
        "samjones@gmail.com",
        "sam.jones+a@gmail.com",
        "SAMJONES@googlemail.com",
        " sam.jones@gmail.com ",
        "s.a.m.jones@gmail.com",
        "samjones+b@googlemail.com",
        "Sam.Jones+c@Gmail.com",
    ];
    let apps: Vec<CareersApplication> = emails
        .iter()
        .enumerate()
        .map(|(i, e)| CareersApplication::new(&format!("J-{i}"), e))
        .collect();
    let responses = futures::future::join_all(apps.iter().map(|a| submit(app, a))).await;
    let mut ids = Vec::new();
    for r in responses {
        ids.push(accepted(r).await);
    }
    for a in &ids {
        wait_inbox(app, a.inbox_id, InboxStatus::Processed).await;
    }
    let cands = candidates(db).await;
    assert_eq!(cands.len(), 1, "{cands:#?}");
    assert_eq!(
        cands[0].email_canonical.as_deref(),
        Some("samjones@gmail.com")
    );
    let all = applications(db).await;
    assert_eq!(all.len(), emails.len());
    assert!(all.iter().all(|a| a.candidate_id == cands[0].id));
    world.cleanup().await;
}

/// Placeholder phones (`555-01xx`, `000000`) never match: two people with
/// the same dummy number stay two candidates, and no dummy is stored as a key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dummy_phones_never_match() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    let dummies = [
        ("+1 202 555 0123", None),
        ("+1 202 555 0123", None),
        ("000000", Some("DE")),
        ("000000", Some("DE")),
        ("123456", Some("DE")),
        ("123456", Some("DE")),
    ];
    let mut ids = Vec::new();
    for (i, (phone, hint)) in dummies.iter().enumerate() {
        let a = apply(
            app,
            &CareersApplication::by_phone(&format!("J-{i}"), phone, *hint),
        )
        .await;
        ids.push(a.candidate_id);
    }
    let mut distinct = ids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), dummies.len(), "{ids:?}");
    let cands = candidates(db).await;
    assert!(cands.iter().all(|c| c.phone_e164.is_none()), "{cands:#?}");
    let mut raw: Vec<_> = cands.iter().filter_map(|c| c.phone_raw.clone()).collect();
    raw.sort();
    let mut want: Vec<String> = dummies.iter().map(|(p, _)| (*p).to_owned()).collect();
    want.sort();
    assert_eq!(raw, want, "raw values are kept");
    world.cleanup().await;
}

// ---------------------------------------------------------------------------
// Attribution rules
// ---------------------------------------------------------------------------

/// Two employees refer the same person for the same job: the first wins,
/// the second is kept as `lost` with the reason naming the winner. The
/// window is per candidate and job: the loser's referral of the same
/// person for another job is credited.
async fn first_referral_wins_and_the_second_referrer_loses(setup: Setup) {
    let world = spawn_capture_app(setup, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    put_employee(app, "E-1", "first@acme-example.com", true).await;
    put_employee(app, "E-2", "second@acme-example.com", true).await;
    let t1 = mint_link(app, "E-1", "J-1").await;
    let t2 = mint_link(app, "E-2", "J-1").await;
    let first = apply(
        app,
        &CareersApplication::new("J-1", "wanted@example.org")
            .referred_by(&t1)
            .at(Utc::now() - days(2)),
    )
    .await;
    let second = apply(
        app,
        &CareersApplication::new("J-1", "Wanted@Example.org").referred_by(&t2),
    )
    .await;
    assert_eq!(first.candidate_id, second.candidate_id);
    let winner = only_referral(db, &first.ats_application_id).await;
    assert_eq!(winner.state, ReferralState::Credited);
    assert_eq!(winner.employee_id, "E-1");
    let loser = only_referral(db, &second.ats_application_id).await;
    assert_eq!(loser.state, ReferralState::Lost);
    assert_eq!(loser.employee_id, "E-2");
    let reason = loser.reason.clone().unwrap_or_default();
    assert!(
        reason.contains("first referral wins") && reason.contains("E-1"),
        "{reason}"
    );
    let lost = audit_with(db, "attribution.lost").await;
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0].subject_id, loser.id.to_string());
    assert!(audit_with(db, "attribution.superseded").await.is_empty());
    assert_eq!(referrals(db).await.len(), 2);

    let t3 = mint_link(app, "E-2", "J-2").await;
    let other_job = apply(
        app,
        &CareersApplication::new("J-2", "wanted@example.org").referred_by(&t3),
    )
    .await;
    assert_eq!(other_job.candidate_id, first.candidate_id);
    let own = only_referral(db, &other_job.ats_application_id).await;
    assert_eq!(own.state, ReferralState::Credited, "{:?}", own.reason);
    assert_eq!(own.employee_id, "E-2");
    assert_eq!(
        only_referral(db, &first.ats_application_id).await.state,
        ReferralState::Credited,
        "the first job's referral is untouched"
    );
    world.cleanup().await;
}

/// Deliveries arrive out of order: an earlier referral (for the same job)
/// processed later takes the credit, and the one credited before it is
/// demoted with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_earlier_referral_processed_later_takes_over() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    put_employee(app, "E-1", "early@acme-example.com", true).await;
    put_employee(app, "E-2", "late@acme-example.com", true).await;
    let t1 = mint_link(app, "E-1", "J-1").await;
    let t2 = mint_link(app, "E-2", "J-1").await;
    let later = apply(
        app,
        &CareersApplication::new("J-1", "late.arrival@example.org").referred_by(&t2),
    )
    .await;
    assert_eq!(
        only_referral(db, &later.ats_application_id).await.state,
        ReferralState::Credited
    );
    let earlier = apply(
        app,
        &CareersApplication::new("J-1", "late.arrival@example.org")
            .referred_by(&t1)
            .at(Utc::now() - days(3)),
    )
    .await;
    let winner = only_referral(db, &earlier.ats_application_id).await;
    assert_eq!(winner.state, ReferralState::Credited);
    assert_eq!(winner.employee_id, "E-1");
    let demoted = only_referral(db, &later.ats_application_id).await;
    assert_eq!(demoted.state, ReferralState::Lost);
    let reason = demoted.reason.clone().unwrap_or_default();
    assert!(
        reason.contains("superseded by earlier referral"),
        "{reason}"
    );
    let superseded = audit_with(db, "attribution.superseded").await;
    assert_eq!(superseded.len(), 1);
    assert_eq!(superseded[0].subject_id, demoted.id.to_string());
    assert_eq!(superseded[0].data["by_referral_id"], winner.id);
    world.cleanup().await;
}

/// Ownership lasts a year: a referral after that window is credited again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_referral_after_the_ownership_window_is_credited_again() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    put_employee(app, "E-1", "old@acme-example.com", true).await;
    put_employee(app, "E-2", "new@acme-example.com", true).await;
    let t1 = mint_link(app, "E-1", "J-1").await;
    let t2 = mint_link(app, "E-2", "J-1").await;
    let old = apply(
        app,
        &CareersApplication::new("J-1", "returner@example.org")
            .referred_by(&t1)
            .at(Utc::now() - days(400)),
    )
    .await;
    let new = apply(
        app,
        &CareersApplication::new("J-1", "returner@example.org").referred_by(&t2),
    )
    .await;
    assert_eq!(old.candidate_id, new.candidate_id);
    let first = only_referral(db, &old.ats_application_id).await;
    let second = only_referral(db, &new.ats_application_id).await;
    assert_eq!(first.state, ReferralState::Credited);
    assert_eq!(second.state, ReferralState::Credited, "{:?}", second.reason);
    assert_eq!(second.employee_id, "E-2");
    assert_eq!(audit_with(db, "attribution.credited").await.len(), 2);
    world.cleanup().await;
}

/// Someone who applied without a referral within the prior-applicant
/// window (180 days) earns nobody credit; longer ago, they do.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_prior_applicant_earns_no_credit() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    put_employee(app, "E-1", "referrer@acme-example.com", true).await;
    let token = mint_link(app, "E-1", "J-2").await;

    apply(
        app,
        &CareersApplication::new("J-1", "recent@example.org").at(Utc::now() - days(30)),
    )
    .await;
    let referred = apply(
        app,
        &CareersApplication::new("J-2", "recent@example.org").referred_by(&token),
    )
    .await;
    let r = only_referral(db, &referred.ats_application_id).await;
    assert_eq!(r.state, ReferralState::Ineligible);
    let reason = r.reason.clone().unwrap_or_default();
    assert!(reason.contains("prior applicant"), "{reason}");
    let ineligible = audit_with(db, "attribution.ineligible").await;
    assert_eq!(ineligible.len(), 1);
    assert_eq!(ineligible[0].subject_id, r.id.to_string());

    apply(
        app,
        &CareersApplication::new("J-1", "long.ago@example.org").at(Utc::now() - days(200)),
    )
    .await;
    let referred = apply(
        app,
        &CareersApplication::new("J-2", "long.ago@example.org").referred_by(&token),
    )
    .await;
    let r = only_referral(db, &referred.ats_application_id).await;
    assert_eq!(r.state, ReferralState::Credited, "{:?}", r.reason);
    world.cleanup().await;
}

/// The same job counts too: an unreferred application to J-1 a month ago
/// blocks credit for a referral to J-1 now.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_earlier_unreferred_application_to_the_same_job_blocks_credit() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    put_employee(app, "E-1", "referrer@acme-example.com", true).await;
    let token = mint_link(app, "E-1", "J-1").await;
    let before = apply(
        app,
        &CareersApplication::new("J-1", "again@example.org").at(Utc::now() - days(30)),
    )
    .await;
    let referred = apply(
        app,
        &CareersApplication::new("J-1", "again@example.org").referred_by(&token),
    )
    .await;
    assert_eq!(before.candidate_id, referred.candidate_id);
    assert_ne!(before.id, referred.id);
    let r = only_referral(db, &referred.ats_application_id).await;
    assert_eq!(r.state, ReferralState::Ineligible);
    let reason = r.reason.clone().unwrap_or_default();
    assert!(reason.contains("prior applicant"), "{reason}");
    assert!(audit_with(db, "attribution.credited").await.is_empty());
    world.cleanup().await;
}

/// An employee referring themself is recorded but ineligible.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn self_referral_is_ineligible() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    put_employee(app, "E-7", "ada.lovelace@acme-example.com", true).await;
    let token = mint_link(app, "E-7", "J-7").await;
    let a = apply(
        app,
        &CareersApplication::new("J-7", " Ada.Lovelace@ACME-example.com ").referred_by(&token),
    )
    .await;
    let r = only_referral(db, &a.ats_application_id).await;
    assert_eq!(r.state, ReferralState::Ineligible);
    assert_eq!(r.employee_id, "E-7");
    let reason = r.reason.clone().unwrap_or_default();
    assert!(reason.contains("self-referral"), "{reason}");
    assert_eq!(audit_with(db, "attribution.ineligible").await.len(), 1);
    assert!(audit_with(db, "attribution.credited").await.is_empty());
    world.cleanup().await;
}

/// A referral by an employee who has left, or by an employee id nobody
/// knows (Greenhouse's `credited_to`), is recorded but earns nothing and is
/// not written back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_inactive_employee_earns_no_credit() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    put_employee(app, "E-8", "leaver@acme-example.com", true).await;
    let token = mint_link(app, "E-8", "J-8").await;
    put_employee(app, "E-8", "leaver@acme-example.com", false).await;
    let a = apply(
        app,
        &CareersApplication::new("J-8", "friend.of.leaver@example.org").referred_by(&token),
    )
    .await;
    let r = only_referral(db, &a.ats_application_id).await;
    assert_eq!(r.state, ReferralState::Ineligible);
    let reason = r.reason.clone().unwrap_or_default();
    assert!(reason.contains("not an active employee"), "{reason}");

    let body = GreenhouseApplication::new(70_008, 80_008, 90_008, "stranger@example.org")
        .credited_to("E-404")
        .body();
    processed(
        app,
        post_greenhouse(app, "ev-unknown-referrer", &body).await,
    )
    .await;
    let r = only_referral(db, "70008").await;
    assert_eq!(r.state, ReferralState::Ineligible);
    assert_eq!(r.source, ReferralSource::AtsCredited);
    let reason = r.reason.clone().unwrap_or_default();
    assert!(
        reason.contains("unknown referrer") && reason.contains("E-404"),
        "{reason}"
    );

    assert_eq!(audit_with(db, "attribution.ineligible").await.len(), 2);
    assert!(audit_with(db, "attribution.credited").await.is_empty());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        world.harvest.seen().is_empty(),
        "nothing to write back: {:?}",
        world.harvest.summary()
    );
    world.cleanup().await;
}

// ---------------------------------------------------------------------------
// Out of order, merges, deletions, anonymisation
// ---------------------------------------------------------------------------

/// A stage change delivered before its application fails retryably ("not
/// known yet") until the application arrives, and is then applied.
async fn a_stage_change_before_its_application_waits_for_it(setup: Setup) {
    let world = spawn_capture_app(setup, |s| {
        s.queue.kinds.insert(
            "process_delivery".into(),
            RetryOverride {
                max_attempts: Some(100),
                base_delay: Some(Duration::from_millis(100)),
                max_delay: Some(Duration::from_millis(200)),
            },
        );
    })
    .await;
    let app = &world.app;
    let db = world.db();
    // Greenhouse stamps the application before the stage change that
    // follows it (`last_activity_at`); their deliveries arrive the other
    // way round.
    let mut application = GreenhouseApplication::new(70_020, 80_020, 90_020, "early@example.org");
    application.last_activity_at = Some(fixtures::event_time());
    let mut change = application.clone();
    change.stage = "Offer".into();
    change.last_activity_at = Some(fixtures::event_time());
    let early = accepted(
        post_greenhouse(
            app,
            "ev-early-stage",
            &greenhouse_event(&change, "candidate_stage_change"),
        )
        .await,
    )
    .await;
    wait_until(
        "the stage change failed twice waiting for its application",
        || async {
            job(app, &early.job_id).await.is_some_and(|j| {
                j.errors
                    .iter()
                    .filter(|e| e.error.contains("not known yet"))
                    .count()
                    >= 2
            })
        },
    )
    .await;
    let row = inbox_rows(db)
        .await
        .into_iter()
        .find(|r| r.id == early.inbox_id)
        .unwrap();
    assert_eq!(row.status, InboxStatus::Enqueued, "waiting, not failed");
    assert!(applications(db).await.is_empty());

    application.action = "new_candidate_application".into();
    processed(
        app,
        post_greenhouse(app, "ev-late-application", &application.body()).await,
    )
    .await;
    wait_inbox(app, early.inbox_id, InboxStatus::Processed).await;
    let a = application_by_ats_id(db, "70020").await.unwrap();
    assert_eq!(a.stage.as_deref(), Some("Offer"));
    let j = job(app, &early.job_id).await.expect("the job");
    assert_eq!(j.state, JobState::Succeeded);
    assert!(j.attempts >= 3, "{j:#?}");
    assert_eq!(applications(db).await.len(), 1);
    world.cleanup().await;
}

/// Greenhouse merged candidate 501 into 502: our two candidates become one
/// record, the referral follows the survivor, and later events about 501
/// land on the survivor.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn merge_candidate_moves_attributions_to_the_survivor() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    put_employee(app, "E-1", "merger@acme-example.com", true).await;
    let body = GreenhouseApplication::new(601, 501, 7001, "first.record@example.org")
        .credited_to("E-1")
        .body();
    processed(app, post_greenhouse(app, "ev-merge-a", &body).await).await;
    let body = GreenhouseApplication::new(602, 502, 7002, "second.record@example.org").body();
    processed(app, post_greenhouse(app, "ev-merge-b", &body).await).await;
    let loser = application_by_ats_id(db, "601").await.unwrap().candidate_id;
    let survivor = application_by_ats_id(db, "602").await.unwrap().candidate_id;
    assert_ne!(loser, survivor);

    let merge = serde_json::to_vec(&json!({
        "action": "merge_candidate",
        "payload": { "person": { "id": 501, "new_candidate_id": 502 } }
    }))
    .unwrap();
    processed(app, post_greenhouse(app, "ev-merge", &merge).await).await;
    let refs = referrals(db).await;
    assert_eq!(refs.len(), 1);
    assert_eq!(refs[0].candidate_id, survivor);
    assert_eq!(refs[0].state, ReferralState::Credited);
    assert_eq!(
        application_by_ats_id(db, "601").await.unwrap().candidate_id,
        survivor
    );
    let merged = candidates(db)
        .await
        .into_iter()
        .find(|c| c.id == loser)
        .unwrap();
    assert_eq!(merged.merged_into_id, Some(survivor));
    let events = audit_with(db, "candidate.merged").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].subject_id, loser.to_string());
    assert_eq!(events[0].data["into_candidate_id"], survivor);
    assert_eq!(events[0].data["referrals_moved"], 1);

    // A later application under the old Greenhouse id joins the survivor.
    let body = GreenhouseApplication::new(603, 501, 7003, "first.record@example.org").body();
    processed(app, post_greenhouse(app, "ev-merge-later", &body).await).await;
    assert_eq!(
        application_by_ats_id(db, "603").await.unwrap().candidate_id,
        survivor
    );
    world.cleanup().await;
}

/// Greenhouse deleted the referred application: the referral moves to the
/// candidate's other application for the same job.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_application_moves_attributions_to_the_surviving_application() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    put_employee(app, "E-1", "deleter@acme-example.com", true).await;
    let body = GreenhouseApplication::new(811, 511, 7101, "twice@example.org")
        .credited_to("E-1")
        .body();
    processed(app, post_greenhouse(app, "ev-del-a", &body).await).await;
    let body = GreenhouseApplication::new(812, 511, 7101, "twice@example.org").body();
    processed(app, post_greenhouse(app, "ev-del-b", &body).await).await;
    let deleted = application_by_ats_id(db, "811").await.unwrap();
    let surviving = application_by_ats_id(db, "812").await.unwrap();
    let r = only_referral(db, "811").await;

    let delete = serde_json::to_vec(&json!({
        "action": "delete_application",
        "payload": { "application": { "id": 811, "candidate_id": 511, "job_id": 7101 } }
    }))
    .unwrap();
    processed(app, post_greenhouse(app, "ev-delete", &delete).await).await;
    let moved = referrals(db).await;
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].id, r.id);
    assert_eq!(moved[0].application_id, Some(surviving.id));
    assert_eq!(moved[0].state, ReferralState::Credited);
    assert_eq!(
        application_by_ats_id(db, "811").await.unwrap().status,
        ApplicationStatus::Deleted
    );
    let events = audit_with(db, "attribution.application_deleted").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].subject_id, r.id.to_string());
    assert_eq!(events[0].data["deleted_application_id"], deleted.id);
    assert_eq!(events[0].data["moved_to_application_id"], surviving.id);
    world.cleanup().await;
}

/// `candidate_anonymized` erases the candidate's personal data in our copy;
/// the pseudonymous referral stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn candidate_anonymized_erases_personal_data_and_keeps_referrals() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    put_employee(app, "E-1", "keeper@acme-example.com", true).await;
    let mut a =
        GreenhouseApplication::new(901, 521, 7201, "Forget.Me@Example.org").credited_to("E-1");
    a.phone = Some("+49 30 9876 5432".into());
    processed(app, post_greenhouse(app, "ev-anon-a", &a.body()).await).await;
    let before = candidates(db).await;
    assert_eq!(before.len(), 1);
    assert_eq!(before[0].phone_e164.as_deref(), Some("+493098765432"));
    let r = only_referral(db, "901").await;

    let anonymize = serde_json::to_vec(&json!({
        "action": "candidate_anonymized",
        "payload": { "candidate_id": 521 }
    }))
    .unwrap();
    processed(app, post_greenhouse(app, "ev-anon", &anonymize).await).await;
    let c = candidates(db).await.remove(0);
    assert_eq!(c.email_raw, None);
    assert_eq!(c.email_canonical, None);
    assert_eq!(c.phone_raw, None);
    assert_eq!(c.phone_e164, None);
    assert_eq!(c.first_name, "");
    assert_eq!(c.last_name, None);
    assert!(c.anonymized_at.is_some());
    let kept = referrals(db).await;
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].id, r.id);
    assert_eq!(kept[0].candidate_id, c.id);
    assert_eq!(kept[0].employee_id, "E-1");
    assert_eq!(kept[0].state, ReferralState::Credited);
    let events = audit_with(db, "candidate.anonymized").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].subject_id, c.id.to_string());
    let tombstone = c.erasure_tombstone.as_deref().expect("a tombstone");
    assert_eq!(
        events[0].data["tombstone_sha256"],
        jobs::db::audit::sha256_hex(tombstone),
        "the audit event records the hash of the tombstone on the row"
    );

    // A later application of the same ATS candidate, with the old email
    // and phone: it joins the erased record and brings nothing back.
    let mut again = GreenhouseApplication::new(902, 521, 7202, "Forget.Me@Example.org");
    again.phone = Some("+49 30 9876 5432".into());
    processed(app, post_greenhouse(app, "ev-anon-b", &again.body()).await).await;
    let after = candidates(db).await;
    assert_eq!(after.len(), 1, "no second record");
    assert_eq!(after[0].id, c.id);
    assert_eq!(after[0].email_canonical, None, "the erasure holds");
    assert_eq!(after[0].phone_e164, None);
    assert_eq!(after[0].email_raw, None);
    world.cleanup().await;
}

// ---------------------------------------------------------------------------
// Outages
// ---------------------------------------------------------------------------

/// Resends `body` under `msg_id` (as the sender's retry would) until it is
/// accepted; every answer before that must be a 503.
async fn resend_until_accepted(
    client: &reqwest::Client,
    app: &TestApp,
    msg_id: &str,
    body: &[u8],
) -> Value {
    for _ in 0..60 {
        let r = send_careers(client, app, CAREERS_SITE_SECRET, msg_id, body).await;
        let status = r.status();
        let answer: Value = r.json().await.unwrap_or(Value::Null);
        if status == StatusCode::ACCEPTED {
            return answer;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("the retry was never accepted");
}

/// Redis down: the delivery is stored but cannot be enqueued, so the sender
/// gets 503; its retry after Redis is back is accepted on the same inbox row
/// and processed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queue_down_answers_503_and_the_senders_retry_is_accepted() {
    let proxy = SwitchProxy::start(redis_socket_addr()).await;
    let redis_url = format!("redis://{}", proxy.address);
    let world = spawn_capture_app(Setup::REDIS_POSTGRES, |s| {
        s.queue.redis_url = SecretUrl::new(redis_url);
    })
    .await;
    let app = &world.app;
    let db = world.db();
    let client = patient_client();
    let body = CareersApplication::new("J-1", "during.outage@example.org").body();

    proxy.down();
    let r = send_careers(&client, app, CAREERS_SITE_SECRET, "msg_queue_outage", &body).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["error"], "unavailable", "{answer}");
    assert!(
        answer["detail"].as_str().unwrap().contains("queue"),
        "{answer}"
    );
    let rows = inbox_rows(db).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, InboxStatus::Received);
    assert_eq!(rows[0].job_id, None);
    assert_eq!(rows[0].raw_body.as_deref(), Some(body.as_slice()));
    assert!(applications(db).await.is_empty());

    proxy.up();
    let answer = resend_until_accepted(&client, app, "msg_queue_outage", &body).await;
    assert_eq!(answer["status"], "accepted");
    assert_eq!(answer["inbox_id"], rows[0].id, "the same inbox row");
    wait_inbox(app, rows[0].id, InboxStatus::Processed).await;
    assert_eq!(inbox_rows(db).await.len(), 1);
    assert_eq!(applications(db).await.len(), 1);
    world.cleanup().await;
}

/// PostgreSQL down: deliveries get 503 (a forged one still 401); the
/// sender's retry after the database is back is accepted and processed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn database_down_answers_503_and_the_senders_retry_is_accepted() {
    let admin = std::env::var(tests::db::POSTGRES_URL_ENV)
        .unwrap_or_else(|_| tests::db::DEFAULT_POSTGRES_URL.to_owned());
    let host_port = admin
        .split('@')
        .next_back()
        .and_then(|rest| rest.split('/').next())
        .expect("host:port in the PostgreSQL URL")
        .to_owned();
    let upstream = std::net::ToSocketAddrs::to_socket_addrs(&host_port)
        .expect("resolve PostgreSQL")
        .next()
        .unwrap();
    let proxy = SwitchProxy::start(upstream).await;
    let proxied = proxy.address.to_string();
    let world = spawn_capture_app(Setup::REDIS_POSTGRES, |s| {
        let url = s.database.url.expose_secret().replace(&host_port, &proxied);
        s.database.url = SecretUrl::new(url);
    })
    .await;
    let app = &world.app;
    assert!(
        app.settings.database.url.expose_secret().contains(&proxied),
        "the app talks to PostgreSQL through the proxy"
    );
    // Read through our own connection, not the app's (which the proxy cuts).
    let direct = &app.db.as_ref().expect("the test database").conn;
    let client = patient_client();
    let body = CareersApplication::new("J-1", "db.outage@example.org").body();

    proxy.down();
    let r = send_careers(&client, app, CAREERS_SITE_SECRET, "msg_db_outage", &body).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["error"], "unavailable", "{answer}");
    assert!(
        answer["detail"].as_str().unwrap().contains("database"),
        "{answer}"
    );
    let forged = send_careers(
        &client,
        app,
        OTHER_CAREERS_SITE_SECRET,
        "msg_db_forged",
        &body,
    )
    .await;
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    let answer: Value = forged.json().await.unwrap();
    assert_eq!(answer["error"], "unauthorized", "{answer}");
    assert!(
        inbox_rows(direct).await.is_empty(),
        "nothing could be stored"
    );

    proxy.up();
    let answer = resend_until_accepted(&client, app, "msg_db_outage", &body).await;
    let inbox_id = answer["inbox_id"].as_i64().expect("inbox_id");
    wait_inbox(app, inbox_id, InboxStatus::Processed).await;
    let rows = inbox_rows(direct).await;
    assert_eq!(rows.len(), 1, "one row: the accepted retry");
    assert_eq!(rows[0].raw_body.as_deref(), Some(body.as_slice()));
    assert_eq!(applications(direct).await.len(), 1);
    world.cleanup().await;
}
