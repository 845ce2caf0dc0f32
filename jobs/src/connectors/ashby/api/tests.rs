//! Tests of `connectors/ashby/api.rs` against a local server that answers
//! like Ashby: every method a `POST /<noun.verb>`, answers in the
//! `{success, results}` envelope, errors as HTTP 200 with `success: false`,
//! listings paged with `moreDataAvailable` / `nextCursor`.

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;

use super::*;
use crate::test_support::server::{Reply, Seen, TestServer, basic, json as reply_json};

const KEY: &str = "ashby-secret-key-xyz";
const APPLICATION: &str = "1c9a7e52-4b3d-4f8e-9a61-2d5b7c8e9f01";
const CANDIDATE: &str = "5e0b2d4f-8a1c-4e6b-b3d7-9f2a6c1e8d42";
const TOKEN_FIELD: &str = "c7e2a9f4-3d5b-4a1c-8e6f-0b2d4f6a8c13";
const TAG: &str = "3a5c7e9b-1d3f-4a5c-8e7a-9b1d3f5a7c24";
const PRIYA: &str = "0f4e8b2c-6d1a-4b3e-9c7f-2a5d8e1b4c63";

fn client_with(server: &TestServer, tweak: impl FnOnce(&mut AshbyConfig)) -> AshbyClient {
    let mut config = AshbyConfig::new(KEY);
    config.base_url = Url::parse(&server.base).unwrap();
    config.http.allow_private_networks = true;
    tweak(&mut config);
    AshbyClient::new(config).unwrap()
}

fn write_back() -> WriteBack {
    WriteBack {
        ats_candidate_id: CANDIDATE.into(),
        ats_application_id: APPLICATION.into(),
        referrer_employee_id: "E-10442".into(),
        referrer_email: None,
        referrer_ats_user_id: None,
        referral_token: Some("rt_7Q2MZK4P9XW3HD".into()),
        tag: "Employee Referral".into(),
    }
}

fn ok(results: Value) -> Reply {
    reply_json(
        StatusCode::OK,
        json!({ "success": true, "results": results }),
    )
}

fn method_of(seen: &Seen) -> &str {
    seen.uri.trim_start_matches('/')
}

/// Ashby as a write-back meets it: the application (credited to
/// `credited`), one page of custom fields per request, tags from
/// `tags`, and the user Priya.
fn ashby(credited: Option<&'static str>, tags: Value) -> impl Fn(&Seen) -> Reply + Send + Sync {
    move |seen| {
        let body = seen.json();
        match method_of(seen) {
            "application.info" => ok(json!({
                "id": body["applicationId"], "status": "Active",
                "candidate": {"id": CANDIDATE, "name": "José Almeida-Test"},
                "job": {"id": "a3f1c5e7-2b4d-4c6e-8f0a-1b3d5f7a9c2e"},
                "currentInterviewStage": {"title": "Application Review"},
                "creditedToUser": credited.map(|id| json!({"id": id})),
            })),
            // Two pages: the token field is on the second.
            "customField.list" if body.get("cursor").is_none() => reply_json(
                StatusCode::OK,
                json!({"success": true, "moreDataAvailable": true, "nextCursor": "page-2",
                       "results": [{"id": "f-1", "title": "Referral token", "objectType": "Candidate", "isArchived": false},
                                   {"id": "f-2", "title": "Referral token", "objectType": "Application", "isArchived": true}]}),
            ),
            "customField.list" => reply_json(
                StatusCode::OK,
                json!({"success": true, "moreDataAvailable": false, "syncToken": "s",
                       "results": [{"id": TOKEN_FIELD, "title": "Referral token", "objectType": "Application", "isArchived": false, "fieldType": "String"}]}),
            ),
            "candidateTag.list" => reply_json(
                StatusCode::OK,
                json!({"success": true, "moreDataAvailable": false, "results": tags.clone()}),
            ),
            "candidateTag.create" => {
                ok(json!({"id": TAG, "title": body["title"], "isArchived": false}))
            }
            "customField.setValues" | "candidate.addTag" | "application.update" => ok(json!({})),
            "user.search" => ok(json!([
                {"id": PRIYA, "firstName": "Priya", "lastName": "Raman", "email": "priya.raman@acme-example.com", "isEnabled": true}
            ])),
            _ => reply_json(
                StatusCode::NOT_FOUND,
                json!({"success": false, "errorInfo": {"code": "not_found"}}),
            ),
        }
    }
}

fn calls(server: &TestServer) -> Vec<String> {
    server
        .seen()
        .iter()
        .map(|s| method_of(s).to_owned())
        .collect()
}

fn request(server: &TestServer, method: &str) -> Value {
    server
        .seen()
        .iter()
        .find(|s| method_of(s) == method)
        .unwrap_or_else(|| panic!("no {method} call"))
        .json()
}

#[tokio::test]
async fn write_back_sets_the_token_tags_the_candidate_and_credits_the_referrer() {
    let tags = json!([{"id": TAG, "title": "Employee Referral", "isArchived": false}]);
    let server = TestServer::start(ashby(None, tags)).await;
    let client = client_with(&server, |_| {});
    client
        .write_referral_crediting(&write_back(), Some("Priya.Raman@acme-example.com"))
        .await
        .unwrap();

    assert_eq!(
        calls(&server),
        [
            "application.info",
            "customField.list",
            "customField.list",
            "customField.setValues",
            "candidateTag.list",
            "candidate.addTag",
            "user.search",
            "application.update",
        ]
    );
    assert_eq!(
        request(&server, "customField.setValues"),
        json!({"objectType": "Application", "objectId": APPLICATION,
               "values": [{"fieldId": TOKEN_FIELD, "fieldValue": "rt_7Q2MZK4P9XW3HD"}]})
    );
    assert_eq!(
        request(&server, "candidate.addTag"),
        json!({"candidateId": CANDIDATE, "tagId": TAG})
    );
    assert_eq!(
        request(&server, "application.update"),
        json!({"applicationId": APPLICATION, "creditedToUserId": PRIYA, "sendNotifications": false})
    );
    for s in server.seen() {
        assert_eq!(s.method, axum::http::Method::POST, "{}", s.uri);
        assert_eq!(s.header("authorization"), Some(basic(KEY).as_str()));
        assert_eq!(s.header("content-type"), Some("application/json"));
    }
}

#[tokio::test]
async fn a_retried_write_back_does_the_same_again_from_its_cached_ids() {
    let tags = json!([{"id": TAG, "title": "employee referral", "isArchived": false}]);
    let server = TestServer::start(ashby(Some(PRIYA), tags)).await;
    let client = client_with(&server, |_| {});
    client
        .write_referral_crediting(&write_back(), None)
        .await
        .unwrap();
    client
        .write_referral_crediting(&write_back(), None)
        .await
        .unwrap();
    let calls = calls(&server);
    let count = |m: &str| calls.iter().filter(|c| *c == m).count();
    assert_eq!(count("customField.list"), 2, "two pages, once: {calls:?}");
    assert_eq!(count("candidateTag.list"), 1, "{calls:?}");
    assert_eq!(count("customField.setValues"), 2);
    assert_eq!(count("candidate.addTag"), 2);
    // Credited already: the credit is left as it is.
    assert_eq!(count("user.search"), 0);
    assert_eq!(count("application.update"), 0);
}

#[tokio::test]
async fn a_missing_tag_is_created_once() {
    let server = TestServer::start(ashby(Some(PRIYA), json!([]))).await;
    let client = client_with(&server, |_| {});
    client
        .write_referral_crediting(&write_back(), None)
        .await
        .unwrap();
    assert_eq!(
        request(&server, "candidateTag.create"),
        json!({"title": "Employee Referral"})
    );
    assert_eq!(
        request(&server, "candidate.addTag"),
        json!({"candidateId": CANDIDATE, "tagId": TAG})
    );
}

#[tokio::test]
async fn without_the_token_field_the_write_back_fails_saying_what_to_create() {
    let server = TestServer::start(ashby(None, json!([]))).await;
    let client = client_with(&server, |c| c.token_field = "Referral code".into());
    let err = client
        .write_referral_crediting(&write_back(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Permanent(m) if m.contains("\"Referral code\"") && m.contains("create one")),
        "{err:?}"
    );
    assert!(!calls(&server).contains(&"customField.setValues".to_owned()));
}

#[tokio::test]
async fn an_unknown_referrer_email_credits_nobody() {
    let server = TestServer::start(ashby(
        None,
        json!([{"id": TAG, "title": "Employee Referral"}]),
    ))
    .await;
    let client = client_with(&server, |_| {});
    client
        .write_referral_crediting(&write_back(), Some("someone.else@acme-example.com"))
        .await
        .unwrap();
    assert!(calls(&server).contains(&"user.search".to_owned()));
    assert!(!calls(&server).contains(&"application.update".to_owned()));
}

#[tokio::test]
async fn look_ups_read_the_documented_shapes() {
    let server = TestServer::start(|seen: &Seen| match method_of(seen) {
        "candidate.search" => ok(json!([{
            "id": CANDIDATE, "name": "José Almeida-Test",
            "primaryEmailAddress": {"value": "Jose.Almeida+jobs@Example.org", "type": "Personal", "isPrimary": true},
            "emailAddresses": [
                {"value": "Jose.Almeida+jobs@Example.org", "type": "Personal", "isPrimary": true},
                {"value": "jose@work.example.org", "type": "Work", "isPrimary": false}
            ],
            "phoneNumbers": [], "socialLinks": [], "tags": [], "fileHandles": [],
            "applicationIds": [APPLICATION], "profileUrl": "https://app.ashbyhq.com/x"
        }])),
        "candidate.info" => ok(json!({"id": CANDIDATE, "emailAddresses": [], "applicationIds": []})),
        "application.info" => ok(json!({"id": APPLICATION, "status": "Hired", "candidate": {"id": CANDIDATE}})),
        _ => ok(json!(null)),
    })
    .await;
    let client = client_with(&server, |_| {});
    let found = client
        .candidates_by_email("Jose.Almeida+jobs@Example.org")
        .await
        .unwrap();
    assert_eq!(
        found,
        [AshbyCandidate {
            id: CANDIDATE.into(),
            emails: vec![
                "Jose.Almeida+jobs@Example.org".into(),
                "jose@work.example.org".into()
            ],
            application_ids: vec![APPLICATION.into()],
        }]
    );
    assert_eq!(
        request(&server, "candidate.search"),
        json!({"email": "Jose.Almeida+jobs@Example.org"})
    );
    assert_eq!(
        client.candidate_info(CANDIDATE).await.unwrap().id,
        CANDIDATE
    );
    let app = client.application_info(APPLICATION).await.unwrap();
    assert!(app.is_hired());
    assert_eq!(app.candidate_id.as_deref(), Some(CANDIDATE));
    assert_eq!(
        request(&server, "application.info"),
        json!({"applicationId": APPLICATION, "expand": ["referrals"]})
    );
}

#[tokio::test]
async fn http_200_with_success_false_is_a_failure() {
    let answers: Arc<Mutex<Vec<Value>>> = Arc::new(Mutex::new(vec![
        json!({"success": false, "errorInfo": {"code": "application_not_found", "message": "Application not found", "requestId": "r-1"}}),
        json!({"success": false, "errors": ["invalid_input"]}),
        json!({"success": false, "errorInfo": {"code": "rate_limit_exceeded", "message": "slow down"}}),
        json!({"results": {"id": APPLICATION}}),
    ]));
    let queue = answers.clone();
    let server = TestServer::start(move |_: &Seen| {
        let next = queue.lock().unwrap().remove(0);
        reply_json(StatusCode::OK, next)
    })
    .await;
    let client = client_with(&server, |_| {});
    let err = client.application_info(APPLICATION).await.unwrap_err();
    assert!(
        matches!(&err, Error::Permanent(m) if m.contains("application_not_found") && m.contains("Application not found")),
        "{err:?}"
    );
    let err = client.application_info(APPLICATION).await.unwrap_err();
    assert!(
        matches!(&err, Error::Permanent(m) if m.contains("invalid_input")),
        "{err:?}"
    );
    let err = client.application_info(APPLICATION).await.unwrap_err();
    assert!(
        matches!(&err, Error::Retryable(m) if m.contains("rate_limit_exceeded")),
        "{err:?}"
    );
    let err = client.application_info(APPLICATION).await.unwrap_err();
    assert!(
        matches!(&err, Error::Permanent(m) if m.contains("success")),
        "{err:?}"
    );
}

#[tokio::test]
async fn http_failures_map_to_retry_decisions() {
    let server = TestServer::start(|seen: &Seen| match seen.json()["applicationId"].as_str() {
        Some("throttled") => (
            StatusCode::TOO_MANY_REQUESTS,
            vec![("retry-after", "7".into())],
            String::new(),
        ),
        Some("down") => (StatusCode::SERVICE_UNAVAILABLE, vec![], String::new()),
        Some("forbidden") => (
            StatusCode::UNAUTHORIZED,
            vec![],
            "{\"success\":false}".into(),
        ),
        _ => (
            StatusCode::MOVED_PERMANENTLY,
            vec![("location", "https://app.ashbyhq.com/login".into())],
            String::new(),
        ),
    })
    .await;
    // One client (one account) per case: the 429 pauses its account.
    let err = client_with(&server, |c| c.api_key = "k1".into())
        .application_info("throttled")
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::RetryAfter { after, .. } if after == Duration::from_secs(7)),
        "{err:?}"
    );
    let err = client_with(&server, |c| c.api_key = "k2".into())
        .application_info("down")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Retryable(_)), "{err:?}");
    let err = client_with(&server, |c| c.api_key = "k3".into())
        .application_info("forbidden")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Permanent(m) if m.contains("401")),
        "{err:?}"
    );
    let err = client_with(&server, |c| c.api_key = "k4".into())
        .application_info("moved")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Permanent(m) if m.contains("301")),
        "{err:?}"
    );
    assert_eq!(
        server.seen().len(),
        4,
        "one request each, no redirect followed"
    );
}

#[test]
fn the_default_quota_stays_under_a_thousand_a_minute() {
    let limiter = AccountLimiter::new("test://ashby-default-quota", AshbyConfig::new(KEY).quota);
    for _ in 0..15 {
        assert!(limiter.governor().check().is_ok());
    }
    assert!(limiter.governor().check().is_err());
}

/// The facts bonus tiers are chosen on: `job.info` (expanded location, the
/// job custom field titled "Level") and the department's name from
/// `department.info`; a job without them leaves them `None`.
#[tokio::test]
async fn job_facts_read_the_level_field_the_department_and_the_location() {
    use crate::connectors::Connector;
    let server = TestServer::start(|seen: &Seen| {
        let body = seen.json();
        match (method_of(seen), body["id"].as_str()) {
            ("job.info", Some("job-senior")) => ok(json!({
                "id": "job-senior", "title": "Staff Engineer", "status": "Open",
                "departmentId": "dep-eng", "locationId": "loc-ber",
                "location": {"id": "loc-ber", "name": "Berlin"},
                "customFields": [
                    {"id": "cf-1", "title": "Cost centre", "value": "4711", "isPrivate": false},
                    {"id": "cf-2", "title": "Level", "value": "opt-7", "valueLabel": "Senior", "isPrivate": false},
                ],
            })),
            ("job.info", _) => ok(json!({
                "id": body["id"], "title": "Intern", "status": "Open", "customFields": [],
            })),
            ("department.info", _) if body["departmentId"] == "dep-eng" => {
                ok(json!({"id": "dep-eng", "name": "Engineering", "isArchived": false}))
            }
            _ => reply_json(
                StatusCode::NOT_FOUND,
                json!({"success": false, "errorInfo": {"code": "not_found"}}),
            ),
        }
    })
    .await;
    let client = client_with(&server, |_| {});
    let senior = client.job_facts("job-senior").await.unwrap();
    assert_eq!(senior.level.as_deref(), Some("Senior"));
    assert_eq!(senior.department.as_deref(), Some("Engineering"));
    assert_eq!(senior.location.as_deref(), Some("Berlin"));
    let bare = client.job_facts("job-bare").await.unwrap();
    assert_eq!(
        (bare.level, bare.department, bare.location),
        (None, None, None)
    );
    assert_eq!(request(&server, "job.info")["expand"], json!(["location"]));
}
