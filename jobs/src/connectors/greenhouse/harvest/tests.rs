//! The Harvest v3 client against the fake Harvest v3
//! ([`crate::test_support::greenhouse`]) on a real local HTTP server.

use std::time::Duration;

use axum::http::StatusCode;
use chrono::{NaiveDate, TimeZone, Utc};

use super::*;
use crate::connectors::connector::{
    AtsStatus, AttributionPart, CandidateQuery, Connector, PageToken, WriteBack, all_pages,
};
use crate::test_support::greenhouse::{FakeHarvest, Request};
use crate::test_support::server::TestServer;

const CLIENT_ID: &str = "gh-client-1";
const SECRET: &str = "gh-client-secret-xyz";
const USER: &str = "4410007";

/// The fake on a real server, and its root URL.
async fn harvest() -> (FakeHarvest, TestServer) {
    let fake = FakeHarvest::new(CLIENT_ID, SECRET);
    let host = fake.clone();
    let server = TestServer::start(move |seen| {
        let (path, query) = match seen.uri.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (seen.uri.as_str(), None),
        };
        let (status, headers, body) = host.answer(&Request {
            method: seen.method.as_str(),
            path,
            query,
            authorization: seen.header("authorization"),
            body: &seen.body,
        });
        let mut headers = headers;
        headers.push(("content-type", "application/json".into()));
        (
            StatusCode::from_u16(status).unwrap(),
            headers,
            body.to_string(),
        )
    })
    .await;
    fake.set_root(&server.base);
    (fake, server)
}

fn client_with(server: &TestServer, tweak: impl FnOnce(&mut GreenhouseConfig)) -> GreenhouseClient {
    let mut config = GreenhouseConfig::new(CLIENT_ID, SECRET, USER);
    config.base_url = Url::parse(&format!("{}/v3", server.base)).unwrap();
    config.token_url = Url::parse(&format!("{}/token", server.base)).unwrap();
    config.http.allow_private_networks = true;
    config.quota = window_quota(NonZeroU32::new(3000).unwrap());
    tweak(&mut config);
    GreenhouseClient::new(config).unwrap()
}

fn client(server: &TestServer) -> GreenhouseClient {
    client_with(server, |_| {})
}

fn at(day: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 9, day, 12, 0, 0).unwrap()
}

fn write_back() -> WriteBack {
    WriteBack {
        ats_candidate_id: "57683957".into(),
        ats_application_id: "69306314".into(),
        referrer_employee_id: "E-42".into(),
        referrer_email: Some("ana@acme.example".into()),
        referrer_ats_user_id: None,
        referral_token: Some("R-7Q2K".into()),
        tag: "Employee Referral".into(),
    }
}

/// One application of candidate 57683957, an employee user 4080 with
/// referrer row 77.
fn seed(fake: &FakeHarvest) {
    fake.application(69_306_314, 57_683_957, 301, "in_process", at(2));
    fake.candidate(57_683_957, "José", "Almeida", "jose@example.org");
    fake.user(4080, "ana@acme.example");
    fake.referrer(77, Some(4080));
}

fn paths(fake: &FakeHarvest, prefix: &str) -> Vec<String> {
    fake.requests()
        .into_iter()
        .filter(|r| r.starts_with(prefix))
        .collect()
}

#[tokio::test]
async fn write_back_patches_token_source_and_referrer_then_tags_the_candidate() {
    let (fake, server) = harvest().await;
    seed(&fake);
    let client = client_with(&server, |c| c.referral_source_id = Some("16".into()));
    let report = client.write_attribution(&write_back()).await.unwrap();

    assert_eq!(
        report.written,
        [
            AttributionPart::CustomField,
            AttributionPart::Source,
            AttributionPart::Referrer,
            AttributionPart::Tag
        ]
    );
    let app = fake.record("applications", 69_306_314).unwrap();
    assert_eq!(app["referrer_id"], 77, "a referrer id, not the user id");
    assert_eq!(app["source_id"], 16);
    assert_eq!(app["custom_fields"]["referral_token"]["value"], "R-7Q2K");
    assert_eq!(fake.tags_of(57_683_957), ["Employee Referral"]);
    assert_eq!(
        paths(&fake, "GET /v3/users"),
        ["GET /v3/users?primary_email=ana%40acme.example"]
    );
    assert_eq!(
        paths(&fake, "GET /v3/referrers"),
        ["GET /v3/referrers?user_ids=4080"]
    );
}

#[tokio::test]
async fn a_credited_user_from_the_webhook_skips_the_user_look_up() {
    let (fake, server) = harvest().await;
    seed(&fake);
    let w = WriteBack {
        referrer_ats_user_id: Some("4080".into()),
        ..write_back()
    };
    client(&server).write_attribution(&w).await.unwrap();
    assert!(paths(&fake, "GET /v3/users").is_empty());
    assert_eq!(
        fake.record("applications", 69_306_314).unwrap()["referrer_id"],
        77
    );
}

#[tokio::test]
async fn the_referrer_mapping_is_cached_for_the_process() {
    let (fake, server) = harvest().await;
    seed(&fake);
    let client = client(&server);
    client.write_attribution(&write_back()).await.unwrap();
    client.write_attribution(&write_back()).await.unwrap();
    assert_eq!(paths(&fake, "GET /v3/users").len(), 1);
    assert_eq!(paths(&fake, "GET /v3/referrers").len(), 1);
}

#[tokio::test]
async fn without_a_referrer_row_the_referrer_is_skipped_with_the_reason_and_the_rest_written() {
    let (fake, server) = harvest().await;
    fake.application(69_306_314, 57_683_957, 301, "in_process", at(2));
    fake.user(4080, "ana@acme.example");
    let report = client(&server)
        .write_attribution(&write_back())
        .await
        .unwrap();
    assert_eq!(
        report.written,
        [AttributionPart::CustomField, AttributionPart::Tag]
    );
    let (_, why) = report
        .skipped
        .iter()
        .find(|(p, _)| *p == AttributionPart::Referrer)
        .expect("the referrer is reported skipped");
    assert!(why.contains("no Greenhouse referrer record"), "{why}");
    let app = fake.record("applications", 69_306_314).unwrap();
    assert!(app["referrer_id"].is_null());
    assert_eq!(app["custom_fields"]["referral_token"]["value"], "R-7Q2K");
    assert_eq!(fake.tags_of(57_683_957), ["Employee Referral"]);
}

#[tokio::test]
async fn a_tag_already_applied_is_not_posted_twice() {
    let (fake, server) = harvest().await;
    seed(&fake);
    fake.candidate_tag(55, "employee referral");
    let client = client(&server);
    client.write_attribution(&write_back()).await.unwrap();
    client.write_attribution(&write_back()).await.unwrap();
    assert!(
        paths(&fake, "POST /v3/candidate_tags").is_empty(),
        "the existing tag is found by name, any casing"
    );
    assert_eq!(paths(&fake, "POST /v3/applied_candidate_tags").len(), 1);
    assert_eq!(fake.tags_of(57_683_957), ["employee referral"]);
}

#[tokio::test]
async fn one_token_serves_every_task_and_is_reused() {
    let (fake, server) = harvest().await;
    seed(&fake);
    let client = std::sync::Arc::new(client(&server));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.application_state("69306314").await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    // A second client of the same credential and user shares the token.
    let twin = client_with(&server, |_| {});
    twin.application_state("69306314").await.unwrap();
    assert_eq!(fake.tokens_issued(), 1);
    assert!(std::sync::Arc::ptr_eq(client.tokens(), twin.tokens()));
    let token_calls = paths(&fake, "POST /token");
    assert_eq!(token_calls.len(), 1);
}

#[tokio::test]
async fn a_token_about_to_expire_is_replaced_before_use() {
    let (fake, server) = harvest().await;
    seed(&fake);
    // Two seconds outside the refresh margin: the first token serves the
    // first call, and is replaced before the second although the server
    // would still take it.
    fake.token_lifetime(crate::connectors::oauth::REFRESH_MARGIN + Duration::from_secs(2));
    let client = client(&server);
    client.application_state("69306314").await.unwrap();
    assert_eq!(fake.tokens_issued(), 1);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    client.application_state("69306314").await.unwrap();
    assert_eq!(fake.tokens_issued(), 2);
    assert_eq!(fake.unauthorized(), 0, "no request left with an old token");
}

#[tokio::test]
async fn a_401_mints_one_new_token_and_retries_once() {
    let (fake, server) = harvest().await;
    seed(&fake);
    let client = client(&server);
    client.application_state("69306314").await.unwrap();
    fake.expire_tokens();
    let state = client.application_state("69306314").await.unwrap();
    assert_eq!(state.status, AtsStatus::Active);
    assert_eq!(fake.tokens_issued(), 2);
    assert_eq!(fake.unauthorized(), 1, "one refusal, then the new token");
}

#[tokio::test]
async fn a_refused_credential_is_permanent_and_names_no_secret() {
    let (fake, server) = harvest().await;
    seed(&fake);
    let client = client_with(&server, |c| c.client_secret = "wrong-secret-abc".into());
    let err = client.application_state("69306314").await.unwrap_err();
    let Error::Permanent(msg) = &err else {
        panic!("expected Permanent, got {err:?}");
    };
    assert!(msg.contains("401") && msg.contains("user id"), "{msg}");
    assert!(!msg.contains("wrong-secret-abc"), "{msg}");
}

#[tokio::test]
async fn list_changes_follows_the_cursor_exactly_as_given() {
    let (fake, server) = harvest().await;
    for id in 1..=5 {
        fake.application(id, 100 + id, 301, "in_process", at(3));
    }
    fake.application(9, 109, 301, "hired", at(1));
    fake.page_size(2);
    let client = client(&server);
    let since = at(2);
    let all = all_pages(10, |page| client.list_changes(since, page))
        .await
        .unwrap();
    let ids: Vec<_> = all.iter().map(|a| a.application_id.as_str()).collect();
    assert_eq!(ids, ["5", "4", "3", "2", "1"], "id descending, all pages");
    let calls = paths(&fake, "GET /v3/applications");
    assert_eq!(calls.len(), 3);
    assert_eq!(
        calls[0],
        "GET /v3/applications?updated_at=gte%7C2026-09-02T12%3A00%3A00Z&per_page=500"
    );
    for next in &calls[1..] {
        let query = next.split_once('?').unwrap().1;
        assert!(
            query.starts_with("cursor=") && !query.contains('&'),
            "{next}"
        );
    }
}

#[tokio::test]
async fn a_cursor_with_other_parameters_is_refused_by_the_fake() {
    let (fake, server) = harvest().await;
    for id in 1..=3 {
        fake.application(id, 100 + id, 301, "in_process", at(3));
    }
    fake.page_size(1);
    let client = client(&server);
    let first = client.list_changes(at(2), None).await.unwrap();
    let next = first.next.unwrap();
    let tampered = PageToken(format!("{}&per_page=50", next.0));
    let err = client
        .list_changes(at(2), Some(tampered))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Permanent(m) if m.contains("422")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_next_link_to_another_host_is_not_followed() {
    let (_fake, server) = harvest().await;
    let client = client(&server);
    let err = client
        .list_changes(
            at(2),
            Some(PageToken(
                "https://evil.example/v3/applications?cursor=x".into(),
            )),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Permanent(_)), "{err:?}");
}

#[tokio::test]
async fn a_429_with_retry_after_within_max_wait_is_waited_out() {
    let (fake, server) = harvest().await;
    seed(&fake);
    let client = client(&server);
    client.application_state("69306314").await.unwrap();
    fake.throttle(1, 1);
    let started = std::time::Instant::now();
    client.application_state("69306314").await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn a_429_longer_than_max_wait_goes_back_to_the_queue_with_the_wait() {
    let (fake, server) = harvest().await;
    seed(&fake);
    let client = client(&server);
    fake.throttle(1, 20);
    match client.application_state("69306314").await {
        Err(Error::RetryAfter { after, reason }) => {
            assert_eq!(after, Duration::from_secs(20));
            assert!(reason.contains("429"), "{reason}");
        }
        other => panic!("expected RetryAfter, got {other:?}"),
    }
    assert!(client.limiter().paused_for().is_some());
}

#[tokio::test]
async fn a_5xx_is_retryable() {
    let (fake, server) = harvest().await;
    seed(&fake);
    fake.fail_next(1, 503);
    let err = client(&server)
        .application_state("69306314")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Retryable(m) if m.contains("503")),
        "{err:?}"
    );
}

#[tokio::test]
async fn application_state_reads_v3_shapes_contact_details_and_the_start_date() {
    let (fake, server) = harvest().await;
    seed(&fake);
    fake.application(69_306_314, 57_683_957, 301, "hired", at(2));
    fake.offer(
        1,
        69_306_314,
        "Deprecated",
        NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
    );
    fake.offer(
        2,
        69_306_314,
        "Accepted",
        NaiveDate::from_ymd_opt(2026, 10, 15).unwrap(),
    );
    let state = client(&server).application_state("69306314").await.unwrap();
    assert_eq!(state.status, AtsStatus::Hired);
    assert_eq!(state.candidate_id.as_deref(), Some("57683957"));
    assert_eq!(state.job_id.as_deref(), Some("301"));
    assert_eq!(state.emails, ["jose@example.org"]);
    assert_eq!(state.start_date, NaiveDate::from_ymd_opt(2026, 10, 15));
    assert!(
        paths(&fake, "GET /v3/offers")[0].contains("current_only=true"),
        "{:?}",
        fake.requests()
    );
}

#[tokio::test]
async fn a_non_numeric_id_is_refused_before_any_call() {
    let (fake, server) = harvest().await;
    let err = client(&server).application_state("abc").await.unwrap_err();
    assert!(
        matches!(&err, Error::Permanent(m) if m.contains("\"abc\"")),
        "{err:?}"
    );
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn find_candidates_looks_up_by_email_with_their_applications() {
    let (fake, server) = harvest().await;
    seed(&fake);
    fake.application(69_306_999, 57_683_957, 302, "rejected", at(1));
    let client = client(&server);
    let found = client
        .find_candidates(&CandidateQuery {
            email: Some("JOSE@example.org".into()),
            phone: None,
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].candidate_id, "57683957");
    assert_eq!(found[0].application_ids, ["69306999", "69306314"]);
    let none = client
        .find_candidates(&CandidateQuery {
            email: Some("nobody@example.org".into()),
            phone: None,
        })
        .await
        .unwrap();
    assert!(none.is_empty());
}

#[tokio::test]
async fn job_facts_read_department_office_and_the_level_field() {
    let (fake, server) = harvest().await;
    fake.job(301, 11, 21, Some(("job_level", "Senior")));
    fake.department(11, "Engineering");
    fake.office(21, "Berlin");
    let client = client_with(&server, |c| c.job_level_field = Some("job_level".into()));
    let job = client.job_facts("301").await.unwrap();
    assert_eq!(job.level.as_deref(), Some("Senior"));
    assert_eq!(job.department.as_deref(), Some("Engineering"));
    assert_eq!(job.location.as_deref(), Some("Berlin"));
    // Without a configured level field, the level is unknown, not guessed.
    let plain = client_with(&server, |_| {}).job_facts("301").await.unwrap();
    assert_eq!(plain.level, None);
}

#[tokio::test]
async fn list_start_dates_pages_accepted_current_offers() {
    let (fake, server) = harvest().await;
    let day = |d| NaiveDate::from_ymd_opt(2026, 10, d).unwrap();
    fake.offer(1, 501, "Accepted", day(1));
    fake.offer(2, 502, "Accepted", day(20));
    fake.offer(3, 503, "Created", day(20));
    fake.offer(4, 504, "Accepted", day(21));
    fake.page_size(1);
    let client = client(&server);
    let starts = all_pages(10, |page| client.list_start_dates(day(10), page))
        .await
        .unwrap();
    let got: Vec<_> = starts
        .iter()
        .map(|s| (s.application_id.as_str(), s.starts_on))
        .collect();
    assert_eq!(got, [("504", day(21)), ("502", day(20))]);
    assert!(
        paths(&fake, "GET /v3/offers")[0]
            .contains("status=Accepted&current_only=true&starts_on=gte%7C2026-10-10")
    );
}

#[tokio::test]
async fn list_changes_states_the_referrer_as_the_user_webhooks_name() {
    let (fake, server) = harvest().await;
    fake.application(7, 107, 301, "hired", at(3));
    fake.referrer(77, Some(4080));
    let client = client(&server);
    let patch = serde_json::json!({"referrer_id": 77});
    client
        .write(Method::PATCH, &["applications", "7"], &patch)
        .await
        .unwrap();
    let page = client.list_changes(at(2), None).await.unwrap();
    assert_eq!(page.items[0].referrer_user_id.as_deref(), Some("4080"));
    assert_eq!(page.items[0].status, AtsStatus::Hired);
}

#[test]
fn the_config_redacts_the_secret_and_the_client_wants_a_numeric_user() {
    let config = GreenhouseConfig::new(CLIENT_ID, SECRET, "not-a-number");
    assert!(!format!("{config:?}").contains(SECRET));
    let err = GreenhouseClient::new(config).unwrap_err();
    assert!(
        matches!(&err, Error::Permanent(m) if m.contains("Site Admin")),
        "{err:?}"
    );
}
