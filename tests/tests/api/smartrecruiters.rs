//! SmartRecruiters end to end, on both setups: the subscription handshake
//! answered; a referral link's token carried into SmartRecruiters (in a
//! tag) found when an id-only `application.created` arrives and the
//! assignment is read through a fake Customer API; the attribution
//! written back (property of the job, the tag appended with `POST`, the
//! referring user as the source); a hire (status `HIRED`, `startsOn`) paid
//! once in both tranches under duplicate and fan-out notifications; a
//! clean reconciliation; `candidate.deleted` erasing the candidate. Then
//! the intake contract at `/webhooks/smartrecruiters` (202, 200 duplicate,
//! 401, 400, 422, 503), the handshake's abuse cases, a rotated key, and
//! the client holding itself to the concurrency limits.

use std::time::Duration;

use entities::{
    application::ApplicationStatus,
    inbox::{InboxSource, InboxStatus},
    payout::PayoutState,
    referral::ReferralState,
    states::Ats,
};
use jobs::connectors::{CandidateQuery, Connector};
use serde_json::Value;
use tests::{
    app::Setup,
    ats_e2e::{Refusal, assert_refused, both_tranches_once},
    both_setups,
    destinations::{BONUS_SECRET, pay_to_bonus},
    fixtures::{
        application_by_ats_id, audit_with, candidates, inbox_rows, mint_link, payouts, post_raw,
        put_employee, referrals, spawn_capture_app, wait_inbox, wait_until,
    },
    receiver::Receiver,
    vendors::smartrecruiters::{
        FakeSmartRecruiters, REFERRAL_SOURCE_TYPE, SR_SECRET, SR_TOKEN, SrCandidate,
        SrNotification, TOKEN_PROPERTY, TOKEN_TAG_PREFIX, handshake, post_sr, stored,
    },
};
use worker::config::{Secret, Settings};

/// The job the candidate applies to.
const JOB: &str = "7431c2d8-job";
/// The candidate, as SmartRecruiters knows them.
const CANDIDATE: &str = "d1e2f3a4-cand";
/// The referrer's SmartRecruiters user.
const PRIYA_USER: &str = "5f1a0c2e9b7d4e00a1b2c3d4";

async fn status_and_body(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The app's SmartRecruiters client pointed at `fake`, paying to `bonus`.
fn smartrecruiters_at(s: &mut Settings, fake: &str, bonus: &str) {
    let sr = &mut s.ats.smartrecruiters;
    sr.api_key = Secret::new(SR_TOKEN);
    sr.base_url = fake.to_owned();
    sr.token_property_id = TOKEN_PROPERTY.into();
    sr.referral_source_type_id = REFERRAL_SOURCE_TYPE.into();
    sr.token_tag_prefix = TOKEN_TAG_PREFIX.into();
    pay_to_bonus(s, bonus, Duration::from_secs(2));
}

both_setups!(a_referral_on_smartrecruiters_is_written_back_and_its_hire_paid_once);

async fn a_referral_on_smartrecruiters_is_written_back_and_its_hire_paid_once(setup: Setup) {
    let fake = FakeSmartRecruiters::start().await;
    fake.put_user(PRIYA_USER, "priya.raman@acme-example.com");
    let receiver = Receiver::builder()
        .secret(BONUS_SECRET)
        .path("/bonus")
        .start()
        .await;
    let (base, bonus) = (fake.base_url.clone(), receiver.url("/bonus"));
    let world = spawn_capture_app(setup, |s| smartrecruiters_at(s, &base, &bonus)).await;
    let (app, db) = (&world.app, world.db());

    // Activating the subscription: the secret comes straight back, and
    // nothing is stored.
    let rows = inbox_rows(db).await.len();
    let answer = handshake(app, "hs-0123456789abcdef").await;
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer
            .headers()
            .get("x-hook-secret")
            .and_then(|v| v.to_str().ok()),
        Some("hs-0123456789abcdef")
    );
    assert_eq!(
        inbox_rows(db).await.len(),
        rows,
        "a handshake is not stored"
    );

    // Priya shares a link; the candidate applies on SmartRecruiters, whose
    // referral flow carries the link's token in a `ref-` tag.
    put_employee(app, "E-SR", "priya.raman@acme-example.com", true).await;
    let token = mint_link(app, "E-SR", JOB).await;
    let mut candidate = SrCandidate::new(CANDIDATE, JOB, "sr.candidate@example.org");
    candidate.tags = vec![format!("{TOKEN_TAG_PREFIX}{token}")];
    fake.put_candidate(&candidate);
    let created = SrNotification::application("application.created", CANDIDATE, JOB);
    let created = stored(post_sr(app, &created).await).await;
    wait_inbox(app, created, InboxStatus::Processed).await;

    let app_id = format!("{CANDIDATE}:{JOB}");
    let application = application_by_ats_id(db, &app_id)
        .await
        .expect("the assignment as an application");
    assert_eq!(application.ats, Ats::SmartRecruiters);
    assert_eq!(application.job_id, JOB);
    assert_eq!(application.status, ApplicationStatus::Active);
    let refs = referrals(db).await;
    assert_eq!(refs.len(), 1, "{refs:#?}");
    assert_eq!(refs[0].employee_id, "E-SR");
    assert_eq!(refs[0].state, ReferralState::Credited);

    // Written back: the token in the job's property, our tag appended
    // (the `ref-` tag stays; no PUT, which would replace them all), Priya's
    // user as the referral source of the assignment.
    wait_until(
        "the attribution written back to SmartRecruiters",
        || async { !audit_with(db, "attribution.written_back").await.is_empty() },
    )
    .await;
    assert_eq!(
        fake.property_of(CANDIDATE, JOB, TOKEN_PROPERTY),
        Some(Value::from(token.as_str()))
    );
    assert_eq!(
        fake.tags_of(CANDIDATE),
        [
            format!("{TOKEN_TAG_PREFIX}{token}"),
            "Employee Referral".into()
        ]
    );
    let tags_path = format!("/candidates/{CANDIDATE}/tags");
    assert_eq!(fake.requests("POST", &tags_path).len(), 1);
    assert!(fake.requests("PUT", &tags_path).is_empty(), "never PUT");
    let source = fake.source_of(CANDIDATE, JOB).expect("a source");
    assert_eq!(source["sourceTypeId"], REFERRAL_SOURCE_TYPE);
    assert_eq!(source["sourceId"], PRIYA_USER);

    // An offer whose sub-status is labelled "Hired": not a hire, no money.
    fake.set_status(CANDIDATE, JOB, "OFFERED", Some("Hired"), None);
    let offered = SrNotification::application("application.status.updated", CANDIDATE, JOB);
    let offered = stored(post_sr(app, &offered).await).await;
    wait_inbox(app, offered, InboxStatus::Processed).await;
    let still = application_by_ats_id(db, &app_id).await.unwrap();
    assert_ne!(still.status, ApplicationStatus::Hired);
    assert!(payouts(db).await.is_empty(), "no money before the hire");

    // The hire, starting today. The notification arrives twice at once
    // (SmartRecruiters' retry: the same event id), and fans out: another
    // status event and a candidate event about the same hire.
    let starts = chrono::Utc::now().date_naive();
    let starts_on = starts.format("%Y-%m-%d").to_string();
    fake.set_status(CANDIDATE, JOB, "HIRED", None, Some(&starts_on));
    let hire = SrNotification::application("application.status.updated", CANDIDATE, JOB);
    let answers = futures::future::join_all([post_sr(app, &hire), post_sr(app, &hire)]).await;
    let mut seen: Vec<(u16, String)> = Vec::new();
    for answer in answers {
        let (status, body) = status_and_body(answer).await;
        seen.push((
            status,
            body["status"].as_str().unwrap_or_default().to_owned(),
        ));
    }
    seen.sort();
    assert_eq!(seen, [(200, "duplicate".into()), (202, "accepted".into())]);
    let fan_out = [
        SrNotification::application("application.status.updated", CANDIDATE, JOB),
        SrNotification::candidate("candidate.updated", CANDIDATE),
    ];
    for n in &fan_out {
        let id = stored(post_sr(app, n).await).await;
        wait_inbox(app, id, InboxStatus::Processed).await;
    }

    wait_until("both tranches delivered", || async {
        let p = payouts(db).await;
        p.len() == 2 && p.iter().all(|p| p.state == PayoutState::Delivered)
    })
    .await;
    let hired = application_by_ats_id(db, &app_id).await.unwrap();
    assert_eq!(hired.status, ApplicationStatus::Hired);
    assert_eq!(
        hired.start_date.map(|d| d.date_naive()),
        Some(starts),
        "the start date is startsOn"
    );
    let once = both_tranches_once(db).await;
    assert_eq!(receiver.deliveries_by_idempotency_key(), once);

    // Reconciliation reads SmartRecruiters and finds nothing to fix.
    let report = jobs::maintenance::reconcile::run(&app.state.jobs, "manual:sr", true, "ops:test")
        .await
        .expect("a reconciliation")
        .expect("a run");
    assert!(report.variances.is_empty(), "{:#?}", report.variances);
    assert!(
        !fake.requests("GET", "/candidates").is_empty(),
        "reconciliation listed SmartRecruiters' changes"
    );

    // SmartRecruiters deletes the candidate: our copy is erased, the
    // referral and its payouts stay.
    fake.delete_candidate(CANDIDATE);
    let deleted = SrNotification::candidate("candidate.deleted", CANDIDATE);
    let deleted = stored(post_sr(app, &deleted).await).await;
    wait_inbox(app, deleted, InboxStatus::Processed).await;
    let erased: Vec<_> = candidates(db)
        .await
        .into_iter()
        .filter(|c| c.anonymized_at.is_some())
        .collect();
    assert_eq!(erased.len(), 1, "the candidate is erased");
    assert_eq!(erased[0].email_raw, None);
    assert_eq!(payouts(db).await.len(), 2, "the money stays accounted for");
    world.cleanup().await;
}

fn signed(n: &SrNotification) -> Vec<(String, String)> {
    n.headers(SR_SECRET)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_follow_the_intake_contract_and_name_the_problem() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let (app, db) = (&world.app, world.db());
    let n = |body: &[u8]| {
        let mut n = SrNotification::application("application.created", CANDIDATE, JOB);
        n.body = body.to_vec();
        n
    };
    let good = n(br#"{"job_id":"j1","candidate_id":"c1"}"#);
    let mut forged = signed(&good);
    forged.retain(|(k, _)| k != "smartrecruiters-signature");
    forged.push((
        "smartrecruiters-signature".into(),
        format!("v1={}", "0".repeat(64)),
    ));
    let mut stale = good.clone();
    stale.timestamp -= 3600;
    let mut no_event_id = good.clone();
    no_event_id.event_id = String::new();
    let bad_id = n(br#"{"job_id":"j1","candidate_id":"../users"}"#);
    let no_job = n(br#"{"candidate_id":"c1"}"#);
    let not_json = n(b"{not json");
    let cases: Vec<Refusal> = vec![
        ("forged", forged, good.body.clone(), 401, "does not match"),
        (
            "unsigned",
            vec![("content-type".into(), "application/json".into())],
            good.body.clone(),
            401,
            "missing smartrecruiters-signature",
        ),
        (
            "an hour old",
            signed(&stale),
            good.body.clone(),
            401,
            "tolerated",
        ),
        (
            "signed, not JSON",
            signed(&not_json),
            not_json.body.clone(),
            400,
            "malformed JSON",
        ),
        (
            "signed, no event id",
            signed(&no_event_id),
            good.body.clone(),
            400,
            "event-id",
        ),
        (
            "signed, no job id",
            signed(&no_job),
            no_job.body.clone(),
            422,
            "job_id",
        ),
        (
            "signed, an id that is not one",
            signed(&bad_id),
            bad_id.body.clone(),
            422,
            "candidate_id",
        ),
    ];
    assert_refused(
        app,
        db,
        "/webhooks/smartrecruiters",
        InboxSource::SmartRecruiters,
        cases,
    )
    .await;

    // A notification signed under the key before the rotation verifies
    // (SmartRecruiters keeps it valid for 24 h) once it is configured.
    let old = good.headers("previous-signing-key-0123456789");
    let (status, _) =
        status_and_body(post_raw(app, "/webhooks/smartrecruiters", &old, good.body.clone()).await)
            .await;
    assert_eq!(status, 401, "not configured: refused");
    world.cleanup().await;

    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| {
        s.ats.smartrecruiters.webhook_secret_previous =
            Secret::new("previous-signing-key-0123456789");
    })
    .await;
    let (status, body) = status_and_body(
        post_raw(
            &world.app,
            "/webhooks/smartrecruiters",
            &old,
            good.body.clone(),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (202, Some("accepted")),
        "{body}"
    );
    world.cleanup().await;

    // No key configured: notifications answer 503 (SmartRecruiters
    // retries), while the handshake, which comes before the key exists,
    // is still answered.
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| {
        s.ats.smartrecruiters.webhook_secret = Secret::default();
    })
    .await;
    let (status, answer) = status_and_body(post_sr(&world.app, &good).await).await;
    assert_eq!(status, 503, "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("ats.smartrecruiters.webhook_secret"),
        "{answer}"
    );
    assert_eq!(handshake(&world.app, "hs-abc").await.status(), 200);
    world.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handshake_is_echoed_only_when_it_is_one_and_never_stored() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let (app, db) = (&world.app, world.db());
    let path = "/webhooks/smartrecruiters";
    for (what, secret) in [
        ("257 characters", "a".repeat(257)),
        ("a space inside", "hook secret".to_owned()),
        ("empty", String::new()),
    ] {
        let before = inbox_rows(db).await.len();
        let headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("x-hook-secret".to_owned(), secret),
        ];
        let response = post_raw(app, path, &headers, Vec::new()).await;
        assert!(
            response.headers().get("x-hook-secret").is_none(),
            "{what}: not echoed"
        );
        let (status, body) = status_and_body(response).await;
        assert_eq!(status, 400, "{what}: {body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("X-Hook-Secret"),
            "{what}: {body}"
        );
        let rows = inbox_rows(db).await;
        assert_eq!(rows.len(), before + 1, "{what}: the refusal is recorded");
        let row = rows.last().expect("a row");
        assert_eq!(
            (row.source, row.status),
            (InboxSource::SmartRecruiters, InboxStatus::Rejected)
        );
        assert!(
            row.raw_body.is_none(),
            "{what}: nothing of an unauthenticated sender kept"
        );
    }

    // A handshake carrying a signed notification: echoed, and the
    // notification is neither stored nor acted on.
    let before = inbox_rows(db).await.len();
    let n = SrNotification::application("application.created", CANDIDATE, JOB);
    let mut headers = signed(&n);
    headers.push(("x-hook-secret".into(), "hs-smuggled".into()));
    let response = post_raw(app, path, &headers, n.body.clone()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("x-hook-secret")
            .and_then(|v| v.to_str().ok()),
        Some("hs-smuggled")
    );
    assert_eq!(inbox_rows(db).await.len(), before, "nothing stored");
    // The same notification, without the handshake header, is new.
    assert!(stored(post_sr(app, &n).await).await > 0);
    world.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_client_keeps_to_one_search_and_eight_requests_at_a_time() {
    let fake = FakeSmartRecruiters::start().await;
    for i in 0..3 {
        fake.put_candidate(&SrCandidate::new(
            &format!("c{i}"),
            JOB,
            &format!("c{i}@example.org"),
        ));
    }
    // Control: the fake does refuse overlapping searches from a careless
    // client.
    let raw = reqwest::Client::new();
    let url = format!("{}/candidates?q=c0", fake.base_url);
    let careless = futures::future::join_all(
        (0..4).map(|_| raw.get(&url).header("x-smarttoken", SR_TOKEN).send()),
    )
    .await;
    let refused = careless
        .into_iter()
        .filter(|r| r.as_ref().is_ok_and(|r| r.status() == 429))
        .count();
    assert!(refused >= 1, "overlapping searches are refused");
    let baseline = fake.over_concurrency();

    // Two clients of the same key (two jobs of one process): twelve
    // look-ups by email and twenty reads at once, none refused.
    let (a, b) = (fake.client(), fake.client());
    let lookups = (0..12).map(|i| {
        let client = if i % 2 == 0 { &a } else { &b };
        let q = CandidateQuery {
            email: Some(format!("c{}@example.org", i % 3)),
            phone: None,
        };
        async move { client.find_candidates(&q).await }
    });
    let reads = (0..20).map(|i| {
        let client = if i % 2 == 0 { &a } else { &b };
        let id = format!("c{}:{JOB}", i % 3);
        async move { client.application_state(&id).await.map(|_| Vec::new()) }
    });
    let (found, read) = futures::future::join(
        futures::future::join_all(lookups),
        futures::future::join_all(reads),
    )
    .await;
    for r in found.iter().chain(read.iter()) {
        assert!(r.is_ok(), "{r:?}");
    }
    assert!(found.iter().all(|f| f.as_ref().is_ok_and(|m| m.len() == 1)));
    assert_eq!(
        fake.over_concurrency(),
        baseline,
        "no request over a concurrency limit"
    );
    assert_eq!(fake.requests("GET", "/candidates").len() - 4, 12);
}
