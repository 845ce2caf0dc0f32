//! Webhook intake over HTTP (issue 3): every bad-input class on each of the
//! three endpoints, repeated and concurrent deliveries, and events that are
//! accepted but not acted on.
//!
//! Refusals are checked for their status, their JSON body `{error, detail}`
//! (the detail naming the field), their inbox row (`rejected`, without the
//! body when the sender was not authenticated) and for changing nothing else:
//! no candidate, no application, no job in the queue.
//!
//! One behaviour differs by design from the other endpoints: Lever's
//! signature lives *inside* the body (`token`, `triggeredAt`, `signature`),
//! so a Lever body that is not JSON carries no signature and is refused as
//! unauthenticated (401), not as malformed (400).

use std::{collections::HashMap, time::Duration};

use chrono::Utc;
use entities::inbox::InboxStatus;
use jobs::{
    intake::Source,
    intake::inbox::{self, Delivery},
};
use queue::JobId;
use reqwest::StatusCode;
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use tests::{
    app::{Setup, idle_app},
    fixtures::{
        self, CAREERS_SITE_SECRET, CareersApplication, GreenhouseApplication,
        OTHER_CAREERS_SITE_SECRET, accepted, applications, candidates, careers_site_headers,
        greenhouse_secret, greenhouse_signature, inbox_rows, lever_signature, payload,
        payload_json, post_careers_site, post_greenhouse, post_greenhouse_sample, post_lever,
        post_lever_sample, post_raw, processed, queued_jobs, sample, spawn_capture_app, wait_inbox,
    },
    hostile::{
        self, Case, careers, ct, greenhouse, lever, lever_envelope, padded, replace, to_bytes,
        with_headers, without,
    },
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The body limit of the bad-input app: every sample fits, padded copies do not.
const LIMIT: usize = 8 * 1024;

tests::both_setups!(
    repeated_deliveries_answer_200_and_change_nothing,
    concurrent_copies_of_one_delivery_are_accepted_once,
    many_deliveries_at_once_all_end_processed,
    deliveries_stored_together_each_get_the_row_they_are_told,
);

/// One careers-site delivery `id`, its body naming it.
fn delivery(id: &str) -> Delivery {
    Delivery {
        source: Source::CareersSite,
        delivery_id: id.to_string(),
        event: Some("application.submitted".into()),
        body: format!("{{\"delivery\":\"{id}\"}}").into_bytes(),
    }
}

/// Two hundred deliveries handed to the inbox at once, fifty of them twice
/// (the inbox writer puts deliveries arriving together in one statement):
/// each is stored once, every caller is told the row that holds its own
/// delivery and body, the second copy of a delivery is answered as a
/// duplicate of that row, and every row's job is in the queue.
async fn deliveries_stored_together_each_get_the_row_they_are_told(setup: Setup) {
    let app = idle_app(setup, |_| {}).await;
    let s = &app.state;
    let ids: Vec<String> = (0..200)
        .chain(0..50)
        .map(|i| format!("msg_together_{i}"))
        .collect();
    let receipts = futures::future::join_all(
        ids.iter()
            .map(|id| inbox::receive(&s.inbox, &s.queue, &s.retry, delivery(id))),
    )
    .await;
    let rows: HashMap<i64, entities::inbox::Model> = entities::inbox::Entity::find()
        .all(&s.db)
        .await
        .expect("inbox rows")
        .into_iter()
        .map(|row| (row.id, row))
        .collect();
    assert_eq!(rows.len(), 200, "one row per distinct delivery");
    let mut accepted = HashMap::new();
    for (id, receipt) in ids.iter().zip(receipts) {
        let receipt = receipt.unwrap_or_else(|e| panic!("{id} was not stored: {e}"));
        let row = &rows[&receipt.inbox_id];
        assert_eq!(&row.delivery_id, id, "{id} was told another delivery's row");
        assert_eq!(row.raw_body, Some(delivery(id).body), "{id}");
        assert_eq!(row.status, InboxStatus::Enqueued, "{id}");
        assert_eq!(row.job_id, receipt.job_id, "{id}");
        if !receipt.duplicate {
            assert_eq!(
                accepted.insert(id.clone(), row.id),
                None,
                "{id} accepted twice"
            );
        }
    }
    assert_eq!(accepted.len(), 200, "every delivery accepted once");
    for row in rows.values() {
        let job = JobId::parse(row.job_id.as_deref().expect("a job id")).expect("a job id");
        assert!(
            s.queue.get(&job).await.expect("queue").is_some(),
            "row {} names job {job:?}, which the queue does not hold",
            row.id
        );
    }
    app.cleanup().await;
}

/// A delivery the database refuses (PostgreSQL stores no NUL in text)
/// fails on its own: the deliveries that were stored in the same moment,
/// and so perhaps in the same statement, are stored and accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delivery_the_database_refuses_fails_alone() {
    let app = idle_app(Setup::REDIS_POSTGRES, |_| {}).await;
    let s = &app.state;
    for round in 0..5 {
        let ids: Vec<String> = (0..40)
            .map(|i| {
                if i == 20 {
                    format!("msg_refused_{round}_\0")
                } else {
                    format!("msg_fine_{round}_{i}")
                }
            })
            .collect();
        let receipts = futures::future::join_all(
            ids.iter()
                .map(|id| inbox::receive(&s.inbox, &s.queue, &s.retry, delivery(id))),
        )
        .await;
        for (id, receipt) in ids.iter().zip(receipts) {
            if id.contains('\0') {
                assert!(receipt.is_err(), "round {round}: {id} was stored");
            } else {
                let receipt = receipt.unwrap_or_else(|e| panic!("round {round}: {id}: {e}"));
                assert!(!receipt.duplicate, "round {round}: {id}");
            }
        }
    }
    let stored = entities::inbox::Entity::find()
        .all(&s.db)
        .await
        .expect("inbox rows");
    assert_eq!(stored.len(), 5 * 39);
    app.cleanup().await;
}

fn careers_cases() -> Vec<Case> {
    let sample = payload(fixtures::CAREERS_SITE_SAMPLE);
    let sample_json = payload_json(fixtures::CAREERS_SITE_SAMPLE);
    let changed = |f: &dyn Fn(&mut Value)| {
        let mut v = sample_json.clone();
        f(&mut v);
        to_bytes(&v)
    };
    vec![
        with_headers(
            careers(
                "no signature headers",
                sample.clone(),
                401,
                "unauthorized",
                "webhook-id",
            ),
            |h| {
                without(h, "webhook-id");
                without(h, "webhook-timestamp");
                without(h, "webhook-signature");
            },
        ),
        with_headers(
            careers(
                "no webhook-signature",
                sample.clone(),
                401,
                "unauthorized",
                "webhook-signature",
            ),
            |h| without(h, "webhook-signature"),
        ),
        {
            let mut c = careers(
                "signed with another secret",
                sample.clone(),
                401,
                "unauthorized",
                "signature",
            );
            let mut h = careers_site_headers(
                OTHER_CAREERS_SITE_SECRET,
                "msg_other",
                Utc::now().timestamp(),
                &sample,
            );
            h.push(ct("application/json"));
            c.headers = h;
            c
        },
        {
            // Signed over the sample, then one byte of the body changed.
            let mut c = careers(
                "tampered body",
                sample.clone(),
                401,
                "unauthorized",
                "signature",
            );
            c.body[20] ^= 0x01;
            c
        },
        {
            let old = Utc::now().timestamp() - 600;
            let mut c = careers(
                "signed 10 minutes ago",
                sample.clone(),
                401,
                "unauthorized",
                "stale",
            );
            let mut h = careers_site_headers(CAREERS_SITE_SECRET, "msg_old", old, &sample);
            h.push(ct("application/json"));
            c.headers = h;
            c
        },
        careers(
            "malformed JSON",
            b"{\"type\": \"application.submitted\", ".to_vec(),
            400,
            "bad_request",
            "malformed JSON",
        ),
        careers(
            "not JSON at all",
            b"type=application.submitted".to_vec(),
            400,
            "bad_request",
            "malformed JSON",
        ),
        careers("a JSON array", b"[1,2]".to_vec(), 422, "invalid_field", "$"),
        careers(
            "missing type",
            changed(&|v| {
                v.as_object_mut().unwrap().remove("type");
            }),
            422,
            "invalid_field",
            "type",
        ),
        careers(
            "missing submission_id",
            changed(&|v| {
                v.as_object_mut().unwrap().remove("submission_id");
            }),
            422,
            "invalid_field",
            "submission_id",
        ),
        careers(
            "mistyped job.ats_job_id",
            changed(&|v| v["job"]["ats_job_id"] = json!(true)),
            422,
            "invalid_field",
            "job.ats_job_id",
        ),
        careers(
            "missing job",
            changed(&|v| {
                v.as_object_mut().unwrap().remove("job");
            }),
            422,
            "invalid_field",
            "job.ats_job_id",
        ),
        careers(
            "submitted_at not a time",
            changed(&|v| v["submitted_at"] = json!("yesterday")),
            422,
            "invalid_field",
            "submitted_at",
        ),
        careers(
            "neither email nor phone",
            changed(&|v| {
                v["applicant"]["email"] = Value::Null;
                v["applicant"]["phone"] = json!("  ");
            }),
            422,
            "invalid_field",
            "applicant.email",
        ),
        careers(
            "mistyped tracking.ref",
            changed(&|v| v["tracking"]["ref"] = json!(12345)),
            422,
            "invalid_field",
            "tracking.ref",
        ),
        careers(
            "body over the limit",
            padded(sample.clone(), LIMIT + 1),
            413,
            "payload_too_large",
            "8192",
        ),
        with_headers(
            careers(
                "text/plain",
                sample.clone(),
                415,
                "unsupported_media_type",
                "application/json",
            ),
            |h| replace(h, "content-type", "text/plain"),
        ),
        with_headers(
            careers(
                "no content type",
                sample.clone(),
                415,
                "unsupported_media_type",
                "application/json",
            ),
            |h| without(h, "content-type"),
        ),
    ]
}

fn app(v: &mut Value) -> &mut Value {
    &mut v["payload"]["application"]
}

fn greenhouse_cases() -> Vec<Case> {
    let name = fixtures::GH_NEW_APPLICATION;
    let sample = payload(name);
    let recorded = fixtures::signed(name).headers;
    let sample_json = payload_json(name);
    let changed = |f: &dyn Fn(&mut Value)| {
        let mut v = sample_json.clone();
        f(&mut v);
        to_bytes(&v)
    };
    vec![
        with_headers(
            greenhouse(
                "no Signature header",
                sample.clone(),
                401,
                "unauthorized",
                "Signature",
            ),
            |h| without(h, "signature"),
        ),
        with_headers(
            greenhouse(
                "signed with another secret",
                sample.clone(),
                401,
                "unauthorized",
                "does not match",
            ),
            |h| {
                replace(
                    h,
                    "signature",
                    &greenhouse_signature("another-secret", &sample),
                )
            },
        ),
        with_headers(
            greenhouse(
                "sha1 instead of sha256",
                sample.clone(),
                401,
                "unauthorized",
                "sha256",
            ),
            |h| {
                let hex = greenhouse_signature(&greenhouse_secret(), &sample);
                replace(h, "signature", &hex.replace("sha256", "sha1"));
            },
        ),
        {
            // The recorded delivery with one body byte changed.
            let mut c = greenhouse(
                "tampered sample",
                sample.clone(),
                401,
                "unauthorized",
                "does not match",
            );
            c.headers = recorded.clone();
            c.body[100] ^= 0x01;
            c
        },
        {
            // Re-serialised JSON (same meaning, other bytes) does not verify.
            let mut c = greenhouse(
                "re-serialised sample",
                to_bytes(&sample_json),
                401,
                "unauthorized",
                "does not match",
            );
            c.headers = recorded.clone();
            c
        },
        with_headers(
            greenhouse(
                "no Greenhouse-Event-ID",
                sample.clone(),
                400,
                "bad_request",
                "Greenhouse-Event-ID",
            ),
            |h| without(h, "greenhouse-event-id"),
        ),
        greenhouse(
            "malformed JSON",
            b"{\"action\": ".to_vec(),
            400,
            "bad_request",
            "malformed JSON",
        ),
        greenhouse(
            "missing action",
            changed(&|v| {
                v.as_object_mut().unwrap().remove("action");
            }),
            422,
            "invalid_field",
            "action",
        ),
        greenhouse(
            "missing application id",
            changed(&|v| {
                app(v).as_object_mut().unwrap().remove("id");
            }),
            422,
            "invalid_field",
            "payload.application.id",
        ),
        greenhouse(
            "mistyped applied_at",
            changed(&|v| app(v)["applied_at"] = json!(1756808131)),
            422,
            "invalid_field",
            "payload.application.applied_at",
        ),
        greenhouse(
            "missing applied_at",
            changed(&|v| {
                app(v).as_object_mut().unwrap().remove("applied_at");
            }),
            422,
            "invalid_field",
            "payload.application.applied_at",
        ),
        greenhouse(
            "fractional application id",
            changed(&|v| app(v)["id"] = json!(1.5)),
            422,
            "invalid_field",
            "payload.application.id",
        ),
        greenhouse(
            "mistyped credited_to.employee_id",
            changed(&|v| app(v)["credited_to"]["employee_id"] = json!({"id": 1})),
            422,
            "invalid_field",
            "payload.application.credited_to.employee_id",
        ),
        greenhouse(
            "mistyped referral token",
            changed(&|v| app(v)["custom_fields"]["referral_token"]["value"] = json!(42)),
            422,
            "invalid_field",
            "payload.application.custom_fields.referral_token.value",
        ),
        greenhouse(
            "mistyped email value",
            changed(&|v| app(v)["candidate"]["email_addresses"][0]["value"] = json!(["a@b.c"])),
            422,
            "invalid_field",
            "payload.application.candidate.email_addresses[0].value",
        ),
        greenhouse(
            "merge without new_candidate_id",
            to_bytes(&json!({"action": "merge_candidate", "payload": {"person": {"id": 1}}})),
            422,
            "invalid_field",
            "payload.person.new_candidate_id",
        ),
        greenhouse(
            "delete without application id",
            to_bytes(&json!({"action": "delete_application", "payload": {"application": {}}})),
            422,
            "invalid_field",
            "payload.application.id",
        ),
        greenhouse(
            "anonymized without candidate_id",
            to_bytes(&json!({"action": "candidate_anonymized", "payload": {}})),
            422,
            "invalid_field",
            "payload.candidate_id",
        ),
        greenhouse(
            "body over the limit",
            padded(sample.clone(), LIMIT + 1),
            413,
            "payload_too_large",
            "8192",
        ),
        with_headers(
            greenhouse(
                "form-encoded",
                sample.clone(),
                415,
                "unsupported_media_type",
                "application/json",
            ),
            |h| replace(h, "content-type", "application/x-www-form-urlencoded"),
        ),
    ]
}

fn lever_cases() -> Vec<Case> {
    let now = Utc::now().timestamp_millis();
    let data = json!({ "opportunityId": "opp-1", "contactId": "c-1" });
    let good = lever_envelope(Some(json!("candidateStageChange")), data.clone(), now);
    let changed = |f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        to_bytes(&v)
    };
    vec![
        lever(
            "wrong signature",
            changed(&|v| v["signature"] = json!("0".repeat(64))),
            401,
            "unauthorized",
            "signature",
        ),
        lever(
            "no signature",
            changed(&|v| {
                v.as_object_mut().unwrap().remove("signature");
            }),
            401,
            "unauthorized",
            "signature",
        ),
        lever(
            "no token",
            changed(&|v| {
                v.as_object_mut().unwrap().remove("token");
            }),
            401,
            "unauthorized",
            "token",
        ),
        lever(
            "another token signed",
            changed(&|v| v["token"] = json!("someone-elses-token")),
            401,
            "unauthorized",
            "signature",
        ),
        lever(
            "triggeredAt as a string",
            changed(&|v| v["triggeredAt"] = json!(now.to_string())),
            401,
            "unauthorized",
            "triggeredAt",
        ),
        lever(
            "the recorded sample with its signature changed",
            {
                let mut v = payload_json(fixtures::LEVER_STAGE_CHANGE);
                v["signature"] = json!(lever_signature(
                    "another-signature-token",
                    v["token"].as_str().unwrap(),
                    v["triggeredAt"].as_i64().unwrap()
                ));
                to_bytes(&v)
            },
            401,
            "unauthorized",
            "signature",
        ),
        lever(
            "triggered eleven years ago",
            to_bytes(&lever_envelope(
                Some(json!("candidateHired")),
                data.clone(),
                now - 11 * 365 * 86_400_000,
            )),
            401,
            "unauthorized",
            "stale",
        ),
        lever(
            "triggered an hour from now",
            to_bytes(&lever_envelope(
                Some(json!("candidateHired")),
                data.clone(),
                now + 3_600_000,
            )),
            401,
            "unauthorized",
            "future",
        ),
        // The signature is inside the body: no JSON, no signature.
        lever(
            "malformed JSON",
            b"{\"token\": ".to_vec(),
            401,
            "unauthorized",
            "signature",
        ),
        lever(
            "missing event",
            to_bytes(&lever_envelope(None, data.clone(), now)),
            422,
            "invalid_field",
            "event",
        ),
        lever(
            "mistyped event",
            to_bytes(&lever_envelope(Some(json!(7)), data.clone(), now)),
            422,
            "invalid_field",
            "event",
        ),
        lever(
            "missing data.opportunityId",
            to_bytes(&lever_envelope(
                Some(json!("candidateHired")),
                json!({ "contactId": "c-1" }),
                now,
            )),
            422,
            "invalid_field",
            "data.opportunityId",
        ),
        lever(
            "mistyped data.opportunityId",
            to_bytes(&lever_envelope(
                Some(json!("candidateHired")),
                json!({ "opportunityId": true }),
                now,
            )),
            422,
            "invalid_field",
            "data.opportunityId",
        ),
        lever(
            "body over the limit",
            padded(to_bytes(&good), LIMIT + 1),
            413,
            "payload_too_large",
            "8192",
        ),
        {
            let mut c = lever(
                "text/plain",
                to_bytes(&good),
                415,
                "unsupported_media_type",
                "application/json",
            );
            c.headers = vec![ct("text/plain")];
            c
        },
    ]
}

/// Every bad-input class on every webhook endpoint: the right status and
/// JSON error naming the field, a `rejected` inbox row (without the body
/// when unauthenticated), and nothing else changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_bad_input_is_refused_recorded_and_changes_nothing() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| s.http.body_limit = LIMIT).await;
    let app = &world.app;
    let db = world.db();
    let cases: Vec<Case> = careers_cases()
        .into_iter()
        .chain(greenhouse_cases())
        .chain(lever_cases())
        .collect();
    hostile::assert_all_refused(app, &cases).await;
    assert!(candidates(db).await.is_empty());
    assert!(applications(db).await.is_empty());
    assert!(fixtures::referrals(db).await.is_empty());
    assert_eq!(queued_jobs(app).await, 0, "no job for a refused delivery");
    assert!(
        inbox_rows(db)
            .await
            .iter()
            .all(|r| r.status == InboxStatus::Rejected)
    );
    assert!(world.lever.ats.seen().is_empty());
    world.cleanup().await;
}

/// A body over the limit is refused while it streams in, even without a
/// Content-Length (chunked transfer encoding), and a body of exactly the
/// limit is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chunked_body_over_the_limit_is_refused_and_one_at_the_limit_is_not() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| s.http.body_limit = LIMIT).await;
    let app = &world.app;
    let db = world.db();
    let mut stream = tokio::net::TcpStream::connect(app.address).await.unwrap();
    let head = format!(
        "POST /webhooks/greenhouse HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Greenhouse-Event-ID: chunked-1\r\nSignature: sha256 {}\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n",
        app.address,
        "0".repeat(64)
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; 1024];
    for _ in 0..(LIMIT / 1024 + 2) {
        let frame = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
        if stream.write_all(&frame).await.is_err() {
            break; // the server may answer and close before the end
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
    let rows = inbox_rows(db).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, InboxStatus::Rejected);
    assert_eq!(rows[0].raw_body, None);

    // Exactly at the limit: accepted (a real, signed Greenhouse delivery).
    let body = padded(
        GreenhouseApplication::new(1, 2, 3, "at.limit@example.org").body(),
        LIMIT,
    );
    processed(app, post_greenhouse(app, "at-limit", &body).await).await;
    world.cleanup().await;
}

/// The same delivery again (same webhook-id, Greenhouse-Event-ID or Lever
/// token) answers 200 `duplicate` with the first answer's ids; it is one
/// inbox row, one job, one application, before and after processing.
async fn repeated_deliveries_answer_200_and_change_nothing(setup: Setup) {
    let world = spawn_capture_app(setup, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    world.lever.set_opportunity(
        sample::LEVER_OPPORTUNITY,
        fixtures::lever_opportunity(
            sample::LEVER_OPPORTUNITY,
            sample::LEVER_CONTACT,
            "lever.person@example.org",
            "Offer",
            "posting-1",
            Utc::now(),
        ),
    );
    let careers_body = CareersApplication::new("J-1", "someone@example.org").body();
    let first = [
        accepted(post_careers_site(app, "msg_repeat_1", &careers_body).await).await,
        accepted(post_greenhouse_sample(app, fixtures::GH_NEW_APPLICATION).await).await,
        accepted(post_lever_sample(app, fixtures::LEVER_STAGE_CHANGE).await).await,
    ];
    let resend = || async {
        vec![
            // Re-signed later with a new timestamp: still the same webhook-id.
            post_careers_site(app, "msg_repeat_1", &careers_body).await,
            post_greenhouse_sample(app, fixtures::GH_NEW_APPLICATION).await,
            post_lever_sample(app, fixtures::LEVER_STAGE_CHANGE).await,
        ]
    };
    let check = |responses: Vec<reqwest::Response>, when: &'static str| {
        let first = first.clone();
        async move {
            for (response, original) in responses.into_iter().zip(first.iter()) {
                assert_eq!(response.status(), StatusCode::OK, "{when}");
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["status"], "duplicate", "{when}: {body}");
                assert_eq!(body["inbox_id"], original.inbox_id, "{when}: {body}");
                assert_eq!(body["job_id"], original.job_id.as_str(), "{when}: {body}");
            }
        }
    };
    // While the first copies may still be processing...
    check(resend().await, "before processing").await;
    for a in &first {
        wait_inbox(app, a.inbox_id, InboxStatus::Processed).await;
    }
    // ...and after.
    check(resend().await, "after processing").await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    assert_eq!(inbox_rows(db).await.len(), 3, "one inbox row per delivery");
    assert_eq!(
        queued_jobs(app).await,
        3,
        "one processing job per delivery (and no write-back: nobody is credited)"
    );
    assert_eq!(applications(db).await.len(), 3);
    assert_eq!(
        world
            .lever
            .ats
            .requests(
                "GET",
                &format!("/v1/opportunities/{}", sample::LEVER_OPPORTUNITY)
            )
            .len(),
        1,
        "the opportunity is fetched once"
    );
    world.cleanup().await;
}

/// Five copies of one delivery arriving at once (a sender retrying on a
/// timeout): exactly one is accepted (202), the others are duplicates (200),
/// and it is one inbox row, one job, one application.
async fn concurrent_copies_of_one_delivery_are_accepted_once(setup: Setup) {
    let world = spawn_capture_app(setup, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    for round in 0..3 {
        let body = GreenhouseApplication::new(
            1000 + round,
            2000 + round,
            3000,
            &format!("c{round}@example.org"),
        )
        .body();
        let event_id = format!("ev-concurrent-{round}");
        let copies = (0..5).map(|_| post_greenhouse(app, &event_id, &body));
        let responses = futures::future::join_all(copies).await;
        let mut statuses = Vec::new();
        let mut inbox_ids = Vec::new();
        for r in responses {
            statuses.push(r.status().as_u16());
            let body: Value = r.json().await.unwrap();
            inbox_ids.push(body["inbox_id"].as_i64());
        }
        statuses.sort_unstable();
        assert_eq!(statuses, vec![200, 200, 200, 200, 202], "round {round}");
        let rows: Vec<_> = inbox_rows(db)
            .await
            .into_iter()
            .filter(|r| r.delivery_id == event_id)
            .collect();
        assert_eq!(rows.len(), 1, "round {round}");
        assert!(
            inbox_ids.iter().all(|id| *id == Some(rows[0].id)),
            "round {round}: {inbox_ids:?}"
        );
        wait_inbox(app, rows[0].id, InboxStatus::Processed).await;
    }
    // No copy moved a row back after its job had run.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rows = inbox_rows(db).await;
    assert!(
        rows.iter()
            .all(|r| r.status == InboxStatus::Processed && r.job_id.is_some()),
        "{:?}",
        rows.iter()
            .map(|r| (r.id, r.status, r.job_id.clone()))
            .collect::<Vec<_>>()
    );
    assert_eq!(applications(db).await.len(), 3);
    assert_eq!(queued_jobs(app).await, 3);
    world.cleanup().await;
}

/// Authentic, well-formed events the service does not act on are accepted
/// and recorded as ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn other_events_are_accepted_and_recorded_as_ignored() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    let careers = to_bytes(&json!({ "type": "application.withdrawn", "submission_id": "s1" }));
    let greenhouse =
        to_bytes(&json!({ "action": "job_created", "payload": { "job": { "id": 1 } } }));
    let lever = to_bytes(&lever_envelope(
        Some(json!("candidateDeleted")),
        json!({ "candidateId": "x" }),
        Utc::now().timestamp_millis(),
    ));
    let deliveries = [
        accepted(post_careers_site(app, "msg_withdrawn", &careers).await).await,
        accepted(post_greenhouse(app, "ev-job-created", &greenhouse).await).await,
        accepted(post_lever(app, &lever).await).await,
    ];
    let mut events = Vec::new();
    for a in &deliveries {
        let row = wait_inbox(app, a.inbox_id, InboxStatus::Ignored).await;
        events.push(row.event.unwrap_or_default());
    }
    assert_eq!(
        events,
        ["application.withdrawn", "job_created", "candidateDeleted"]
    );
    assert!(candidates(db).await.is_empty());
    assert!(world.lever.ats.seen().is_empty(), "nothing to re-fetch");
    world.cleanup().await;
}

/// Forty different deliveries at once: every one is accepted, and every
/// inbox row ends `processed` with its job id, whichever of the request
/// handler and the worker touches the row last.
async fn many_deliveries_at_once_all_end_processed(setup: Setup) {
    let world = spawn_capture_app(setup, |_| {}).await;
    let app = &world.app;
    let db = world.db();
    let bodies: Vec<(String, Vec<u8>)> = (0..40u64)
        .map(|i| {
            (
                format!("ev-many-{i}"),
                GreenhouseApplication::new(
                    10_000 + i,
                    20_000 + i,
                    30_000,
                    &format!("many{i}@example.org"),
                )
                .body(),
            )
        })
        .collect();
    let sends = bodies
        .iter()
        .map(|(id, body)| post_greenhouse(app, id, body));
    let mut ids = Vec::new();
    for response in futures::future::join_all(sends).await {
        ids.push(accepted(response).await);
    }
    for a in &ids {
        let row = wait_inbox(app, a.inbox_id, InboxStatus::Processed).await;
        assert_eq!(row.job_id.as_deref(), Some(a.job_id.as_str()));
    }
    assert_eq!(applications(db).await.len(), 40);
    world.cleanup().await;
}

/// A forged delivery carrying a genuine delivery's id is refused and must
/// not block the genuine one, which is accepted after it (media-type
/// parameters such as a charset are fine).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_forged_copy_does_not_block_the_genuine_delivery() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &world.app;
    let name = fixtures::GH_NEW_APPLICATION;
    let mut forged = fixtures::signed(name).headers;
    forged.retain(|(k, _)| !k.eq_ignore_ascii_case("signature"));
    forged.push(("Signature".into(), format!("sha256 {}", "ab".repeat(32))));
    let response = post_raw(app, "/webhooks/greenhouse", &forged, payload(name)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let mut genuine = fixtures::signed(name).headers;
    genuine.retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
    genuine.push(ct("application/json; charset=utf-8"));
    let a = accepted(post_raw(app, "/webhooks/greenhouse", &genuine, payload(name)).await).await;
    wait_inbox(app, a.inbox_id, InboxStatus::Processed).await;
    world.cleanup().await;
}

/// The wrong method on a webhook or API route is refused with the same
/// JSON error body as every other refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wrong_method_gets_a_json_405() {
    let world = spawn_capture_app(Setup::EMBEDDED_SQLITE, |_| {}).await;
    let app = &world.app;
    for (method, path) in [
        (reqwest::Method::GET, "/webhooks/greenhouse"),
        (reqwest::Method::PUT, "/webhooks/applications"),
        (reqwest::Method::GET, "/api/referral-links"),
        (reqwest::Method::POST, "/r/rt_x"),
    ] {
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert!(
            response.headers().contains_key("allow"),
            "{method} {path}: Allow header"
        );
        let text = response.text().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert_eq!(
            body["error"], "method_not_allowed",
            "{method} {path}: {text:?}"
        );
        assert!(body["detail"].is_string(), "{method} {path}: {text:?}");
    }
    world.cleanup().await;
}
