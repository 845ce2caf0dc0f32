//! The Lever client against a fake Lever ([`crate::test_support::lever`])
//! that pages, throttles and checks the key like the real one.

use axum::http::{Method, StatusCode};
use chrono::{DateTime, NaiveDate};

use super::*;
use crate::connectors::connector::{
    AtsStatus, AttributionPart, Connector, PageToken, WriteBack, all_pages,
};
use crate::test_support::{
    lever::{FakeLever, HIRED, HIRED_ELSEWHERE},
    server::{TestServer, basic},
};

const KEY: &str = "lever-secret-key-xyz";
const OPP: &str = "250d8f03-738a-4bba-a671-8a3d73477145";

fn client(fake: &FakeLever, tweak: impl FnOnce(&mut LeverConfig)) -> LeverClient {
    let mut config = LeverConfig::new(KEY);
    config.base_url = fake.base_url();
    config.http.allow_private_networks = true;
    tweak(&mut config);
    LeverClient::new(config).unwrap()
}

fn write_back() -> WriteBack {
    WriteBack {
        ats_candidate_id: "contact-1".into(),
        ats_application_id: OPP.into(),
        referrer_employee_id: "E-42".into(),
        referrer_email: None,
        referrer_ats_user_id: None,
        referral_token: Some("tok_abc".into()),
        tag: "Employee Referral".into(),
    }
}

fn opportunity(id: &str, archived: Value) -> Value {
    json!({
        "id": id,
        "name": "Shane Smith",
        "contact": "7f23e772-d2a9-4a1b-a6b8-6e2b2c9d0f0f",
        "headline": "Brickly LLC",
        "stage": {"id": "00922a60-7c15-422b-b086-f62000824fd7", "text": "Phone screen"},
        "emails": ["shane@exampleq3.com"],
        "phones": [{"type": "mobile", "value": "(123) 456-7891"}, {"value": null}],
        "origin": "referred",
        "sources": ["Employee Referral"],
        "tags": ["San Francisco", "Full-time"],
        "applications": [{
            "id": "cdb63c9c-ac2d-4bbc-8c15-ddc5d2ab7c0e",
            "type": "referral",
            "posting": "f2f01e16-27f8-4711-a728-7d49499795a0",
            "user": {"id": "c6f3e1e5-7e1c-4b25-9c0c-2cf2a3b6d1a1", "name": "Rachel Referrer"}
        }],
        "createdAt": 1407460071043_i64,
        "updatedAt": 1417588008997_i64,
        "archived": archived,
        "someNewField": {"whatever": true}
    })
}

fn archived(reason: &str) -> Value {
    json!({"archivedAt": 1417588008997_i64, "reason": reason})
}

#[tokio::test]
async fn write_referral_adds_the_tag_and_the_source_as_the_configured_user() {
    let fake = FakeLever::start(KEY).await;
    fake.put_opportunity(opportunity(OPP, Value::Null));
    let client = client(&fake, |c| c.perform_as = Some(" user-7 ".into()));
    let report = client.write_attribution(&write_back()).await.unwrap();
    assert_eq!(
        report.written,
        [AttributionPart::Tag, AttributionPart::Source]
    );
    // Again: tags and sources are sets, so a retried job changes nothing.
    client.write_attribution(&write_back()).await.unwrap();

    let seen = fake.seen();
    assert_eq!(seen.len(), 4);
    let opp = format!("/v1/opportunities/{OPP}");
    assert_eq!(seen[0].method, Method::POST);
    assert_eq!(seen[0].uri, format!("{opp}/addTags?perform_as=user-7"));
    assert_eq!(seen[0].json(), json!({"tags": ["Employee Referral"]}));
    assert_eq!(seen[1].method, Method::POST);
    assert_eq!(seen[1].uri, format!("{opp}/addSources?perform_as=user-7"));
    assert_eq!(seen[1].json(), json!({"sources": ["Employee Referral"]}));
    for s in &seen {
        assert_eq!(s.header("authorization"), Some(basic(KEY).as_str()));
        assert_eq!(s.header("content-type"), Some("application/json"));
        assert_eq!(s.header("on-behalf-of"), None);
    }
    let now = fake.opportunity(OPP).unwrap();
    assert_eq!(
        now["tags"],
        json!(["San Francisco", "Full-time", "Employee Referral"])
    );
    assert_eq!(now["sources"], json!(["Employee Referral"]));
}

#[tokio::test]
async fn write_referral_without_perform_as_sends_no_query() {
    let fake = FakeLever::start(KEY).await;
    fake.put_opportunity(opportunity(OPP, Value::Null));
    client(&fake, |c| c.perform_as = Some("   ".into()))
        .write_attribution(&write_back())
        .await
        .unwrap();
    assert_eq!(fake.seen().len(), 2);
    assert!(fake.seen().iter().all(|s| !s.uri.contains('?')));
}

#[tokio::test]
async fn get_opportunity_parses_the_fields_we_need() {
    let fake = FakeLever::start(KEY).await;
    fake.put_opportunity(opportunity(OPP, archived(HIRED)));
    let opp = client(&fake, |_| {}).get_opportunity(OPP).await.unwrap();
    let seen = fake.seen();
    assert_eq!(seen[0].method, Method::GET);
    assert_eq!(
        seen[0].uri,
        format!("/v1/opportunities/{OPP}?expand=applications&expand=stage")
    );
    assert_eq!(seen[0].header("authorization"), Some(basic(KEY).as_str()));

    assert_eq!(opp.id, OPP);
    assert_eq!(opp.name.as_deref(), Some("Shane Smith"));
    assert_eq!(
        opp.contact.as_deref(),
        Some("7f23e772-d2a9-4a1b-a6b8-6e2b2c9d0f0f")
    );
    assert_eq!(opp.emails, ["shane@exampleq3.com"]);
    assert_eq!(
        opp.phones,
        [model::LeverPhone {
            kind: Some("mobile".into()),
            value: "(123) 456-7891".into()
        }]
    );
    assert_eq!(
        opp.stage.as_ref().unwrap().text.as_deref(),
        Some("Phone screen")
    );
    assert_eq!(opp.origin.as_deref(), Some("referred"));
    assert_eq!(opp.sources, ["Employee Referral"]);
    assert_eq!(opp.tags, ["San Francisco", "Full-time"]);
    assert_eq!(
        opp.posting_id(),
        Some("f2f01e16-27f8-4711-a728-7d49499795a0")
    );
    assert_eq!(
        opp.referring_user(),
        Some("c6f3e1e5-7e1c-4b25-9c0c-2cf2a3b6d1a1")
    );
    assert_eq!(
        opp.created_at.unwrap().timestamp_millis(),
        1_407_460_071_043
    );
    assert_eq!(opp.archive_reason(), Some(HIRED));
}

#[tokio::test]
async fn a_hire_is_what_the_archive_reason_s_type_says_and_reasons_are_read_once() {
    let fake = FakeLever::start(KEY).await;
    fake.page_size(1);
    let client = client(&fake, |_| {});
    let status = async |reason: Value| {
        let opp = LeverOpportunity::from_json(&opportunity("o", reason)).unwrap();
        client.status_of(&opp).await.unwrap()
    };
    assert_eq!(status(Value::Null).await, LeverStatus::Active);
    assert!(
        fake.seen().is_empty(),
        "an active opportunity needs no reasons"
    );
    assert_eq!(status(archived(HIRED)).await, LeverStatus::Hired);
    // Labelled "Hired elsewhere" and typed non-hired: not ours to pay.
    assert_eq!(
        status(archived(HIRED_ELSEWHERE)).await,
        LeverStatus::Archived
    );
    assert_eq!(
        status(json!({"archivedAt": 1, "reason": null})).await,
        LeverStatus::Archived
    );
    assert_eq!(
        fake.paths(),
        ["/v1/archive_reasons", "/v1/archive_reasons"],
        "two pages of one, read once for the process"
    );
    assert_eq!(
        fake.seen()[1].uri,
        "/v1/archive_reasons?limit=100&offset=fake-offset-1"
    );

    // A reason added in Lever's settings since: read again, then known.
    fake.put_archive_reason(json!({"id": "reason-new", "text": "Offer accepted", "type": "hired"}));
    // Within the refresh interval an unknown id is not a hire, and the
    // list is not read again for it.
    assert_eq!(status(archived("reason-new")).await, LeverStatus::Archived);
    assert_eq!(fake.paths().len(), 2);
    client.reasons.lock().await.read_at = None;
    assert_eq!(status(archived("reason-new")).await, LeverStatus::Hired);
    assert_eq!(fake.paths().len(), 5);
}

#[tokio::test]
async fn listing_follows_next_over_every_page_and_waits_out_a_429() {
    let fake = FakeLever::start(KEY).await;
    fake.page_size(2);
    for n in 0..5 {
        fake.put_opportunity(json!({"id": format!("opp-{n}"), "updatedAt": 2_000 + n}));
    }
    fake.put_opportunity(json!({"id": "too-old", "updatedAt": 1_000}));
    let client = client(&fake, |_| {});
    let since = DateTime::from_timestamp_millis(2_000).unwrap();

    let list = async |pages: u32| {
        all_pages(pages, |p: Option<PageToken>| client.list_changes(since, p)).await
    };
    fake.throttle(1, 1);
    let all = list(10).await.unwrap();
    let ids: Vec<_> = all.iter().map(|o| o.application_id.as_str()).collect();
    assert_eq!(ids, ["opp-0", "opp-1", "opp-2", "opp-3", "opp-4"]);
    let uris: Vec<_> = fake.seen().iter().map(|s| s.uri.clone()).collect();
    let first = "/v1/opportunities?limit=100&updated_at_start=2000&expand=applications";
    assert_eq!(
        uris,
        [
            first.to_owned(),
            first.to_owned(),
            format!("{first}&offset=fake-offset-2"),
            format!("{first}&offset=fake-offset-4"),
        ],
        "the throttled page is asked again, then every page once"
    );

    // A wait longer than max_wait goes back to the queue with the wait.
    fake.throttle(1, 30);
    let err = list(10).await.unwrap_err();
    assert!(
        matches!(err, Error::RetryAfter { after, .. } if after == Duration::from_secs(30)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_listing_stops_at_max_pages() {
    let fake = FakeLever::start(KEY).await;
    fake.page_size(1);
    for n in 0..4 {
        fake.put_opportunity(json!({"id": format!("opp-{n}"), "updatedAt": 5}));
    }
    let client = client(&fake, |_| {});
    let since = DateTime::from_timestamp_millis(0).unwrap();
    let all = all_pages(3, |p| client.list_changes(since, p))
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
}

#[tokio::test]
async fn offers_referrals_and_users_are_read_and_users_cached() {
    let fake = FakeLever::start(KEY).await;
    fake.page_size(1);
    let start = NaiveDate::from_ymd_opt(2026, 3, 2)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    fake.put_offers(
        OPP,
        vec![
            json!({"id": "offer-1", "status": "denied", "createdAt": 1, "fields": [
                {"identifier": "anticipated_start_date", "value": 1}]}),
            json!({"id": "offer-2", "status": "signed", "createdAt": 2, "fields": [
                {"text": "Anticipated start date", "identifier": "anticipated_start_date",
                 "value": start.timestamp_millis()}]}),
        ],
    );
    fake.put_referrals(
        OPP,
        vec![
            json!({"id": "ref-1", "type": "referral", "user": "u-2", "referrer": "u-1",
                    "createdAt": 3}),
        ],
    );
    fake.put_user(json!({"id": "u-1", "name": "Ann", "email": "Ann@Acme.example"}));
    let client = client(&fake, |_| {});

    let offers = client.offers(OPP).await.unwrap();
    assert_eq!(offers.len(), 2, "both pages");
    assert_eq!(LeverOffer::start_date_of(&offers), Some(start));
    let referrals = client.referrals(OPP).await.unwrap();
    assert_eq!(referrals[0].referrer.as_deref(), Some("u-1"));
    for _ in 0..2 {
        let u = client.user("u-1").await.unwrap();
        assert_eq!(u.email.as_deref(), Some("Ann@Acme.example"));
    }
    assert_eq!(
        fake.paths()
            .iter()
            .filter(|p| p.as_str() == "/v1/users/u-1")
            .count(),
        1,
        "a user is read once per process"
    );
    let err = client.user("nobody").await.unwrap_err();
    assert!(
        matches!(&err, Error::Permanent(m) if m.contains("404")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_wrong_key_or_a_missing_opportunity_is_permanent() {
    let fake = FakeLever::start(KEY).await;
    let err = client(&fake, |_| {})
        .get_opportunity("nope")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Permanent(m) if m.contains("404")),
        "{err:?}"
    );
    fake.put_opportunity(opportunity(OPP, Value::Null));
    let err = client(&fake, |c| c.api_key = "wrong".into())
        .get_opportunity(OPP)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Permanent(m) if m.contains("401")),
        "{err:?}"
    );
}

#[tokio::test]
async fn errors_map_to_retry_decisions() {
    let server = TestServer::start(|s| match s.uri.split('/').nth(3).unwrap_or_default() {
        "throttled" => (
            StatusCode::TOO_MANY_REQUESTS,
            vec![("retry-after", "7".into())],
            String::new(),
        ),
        "down" => (StatusCode::SERVICE_UNAVAILABLE, vec![], String::new()),
        "bad" => (
            StatusCode::BAD_REQUEST,
            vec![],
            "{\"code\":\"BadRequestError\"}".into(),
        ),
        _ => (
            StatusCode::MOVED_PERMANENTLY,
            vec![("location", "https://hire.lever.co/".into())],
            String::new(),
        ),
    })
    .await;
    // One client per case: the 429 pauses its account for 7 s, which
    // would otherwise turn the following cases into RetryAfter too.
    let client = |key: &str| {
        let mut config = LeverConfig::new(key);
        config.base_url = Url::parse(&format!("{}/v1", server.base)).unwrap();
        config.http.allow_private_networks = true;
        LeverClient::new(config).unwrap()
    };
    let w = |id: &str| WriteBack {
        ats_application_id: id.into(),
        ..write_back()
    };

    let err = client("k1")
        .write_attribution(&w("throttled"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::RetryAfter { after, .. } if after == Duration::from_secs(7)),
        "{err:?}"
    );

    let err = client("k2")
        .write_attribution(&w("down"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Retryable(_)), "{err:?}");

    let err = client("k3").write_attribution(&w("bad")).await.unwrap_err();
    assert!(
        matches!(&err, Error::Permanent(m) if m.contains("400") && m.contains("BadRequestError")),
        "{err:?}"
    );

    let err = client("k4")
        .write_attribution(&w("moved"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Permanent(m) if m.contains("301")),
        "{err:?}"
    );
    assert_eq!(
        server.seen().len(),
        4,
        "one request per case, no redirect followed"
    );
}

#[test]
fn the_default_quota_is_lever_s_bucket_of_twenty() {
    let limiter = AccountLimiter::new("test://lever-default-quota", LeverConfig::new(KEY).quota);
    for _ in 0..20 {
        assert!(limiter.governor().check().is_ok());
    }
    assert!(limiter.governor().check().is_err());
}

/// The seam's answer for a hired, referred opportunity: status from the
/// archive reason, start date from the newest signed offer, referrers from
/// the referral forms (oldest first) with their users' emails, the token
/// from the configured place. An active one reads no offers.
#[tokio::test]
async fn application_state_reads_what_decides_and_only_what_is_needed() {
    let fake = FakeLever::start(KEY).await;
    let mut opp = opportunity(OPP, archived(HIRED));
    opp["tags"] = json!(["Full-time", "ref-TOKEN42"]);
    fake.put_opportunity(opp);
    fake.put_offers(
        OPP,
        vec![
            json!({"id": "offer-1", "status": "signed", "createdAt": 2, "fields": [
            {"identifier": "anticipated_start_date", "value": "2026-04-01"}]}),
        ],
    );
    fake.put_referrals(
        OPP,
        vec![
            json!({"id": "ref-2", "referrer": "u-late", "createdAt": 20}),
            json!({"id": "ref-1", "referrer": "u-early", "createdAt": 10}),
        ],
    );
    fake.put_user(json!({"id": "u-early", "email": "early@acme.example"}));
    // u-late is gone from Lever; the application's user is u-rachel's id.
    fake.put_user(
        json!({"id": "c6f3e1e5-7e1c-4b25-9c0c-2cf2a3b6d1a1", "email": "rachel@acme.example"}),
    );
    let client = client(&fake, |c| {
        c.token_from = vec![
            "question:Code".parse().unwrap(),
            "tag:ref-".parse().unwrap(),
        ];
    });
    let state = client.application_state(OPP).await.unwrap();
    assert_eq!(state.status, AtsStatus::Hired);
    assert_eq!(state.start_date, NaiveDate::from_ymd_opt(2026, 4, 1));
    assert_eq!(state.referral_token.as_deref(), Some("TOKEN42"));
    let referrers: Vec<_> = state
        .referrers
        .iter()
        .map(|r| (r.user_id.as_str(), r.email.as_deref()))
        .collect();
    assert_eq!(
        referrers,
        [
            ("u-early", Some("early@acme.example")),
            ("u-late", None),
            (
                "c6f3e1e5-7e1c-4b25-9c0c-2cf2a3b6d1a1",
                Some("rachel@acme.example")
            ),
        ]
    );
    assert_eq!(state.referrer_user_id.as_deref(), Some("u-early"));

    let mut active = opportunity("opp-active", Value::Null);
    active["origin"] = json!("applied");
    active["applications"][0]["type"] = json!("posting");
    fake.put_opportunity(active);
    let before = fake.paths().len();
    let state = client.application_state("opp-active").await.unwrap();
    assert_eq!(state.status, AtsStatus::Active);
    assert_eq!(state.start_date, None);
    assert!(state.referrers.is_empty());
    assert_eq!(
        fake.paths()[before..],
        ["/v1/opportunities/opp-active"],
        "no offers, referral forms or users read for it"
    );
}

/// Reconciliation's start dates: the hired opportunities of the listing,
/// each with its signed offer's day; and candidates by email.
#[tokio::test]
async fn start_dates_are_listed_for_hires_and_candidates_found_by_email() {
    let fake = FakeLever::start(KEY).await;
    fake.page_size(1);
    for (id, reason) in [
        ("o-hired", archived(HIRED)),
        ("o-lost", archived(HIRED_ELSEWHERE)),
    ] {
        let mut o = opportunity(id, reason);
        o["updatedAt"] = json!(5_000_000_000_000_i64);
        fake.put_opportunity(o);
        fake.put_offers(
            id,
            vec![json!({"id": "x", "status": "signed", "fields": [
                {"identifier": "anticipated_start_date", "value": "2026-05-04"}]})],
        );
    }
    let client = client(&fake, |_| {});
    let since = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let starts = all_pages(10, |p| client.list_start_dates(since, p))
        .await
        .unwrap();
    assert_eq!(starts.len(), 1);
    assert_eq!(starts[0].application_id, "o-hired");
    assert_eq!(
        starts[0].starts_on,
        NaiveDate::from_ymd_opt(2026, 5, 4).unwrap()
    );

    let err = client
        .find_candidates(&crate::connectors::CandidateQuery::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Permanent(_)), "{err:?}");
}
