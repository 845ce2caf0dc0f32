//! Hostile input (issue 7): hundreds of malformed, forged, replayed,
//! oversized and wrongly typed requests sent to the running server, each
//! answered with the right 4xx JSON `{"error", "detail"}` and leaving no
//! trace but a rejection record.
//!
//! The table is generated, one category at a time (each is sent right after
//! it is built, so the fresh Lever `triggeredAt`s stay within the short
//! `lever_max_age` of this app):
//!
//! * **forged**: wrong secrets, signatures of other bytes, truncated,
//!   extended, re-cased and garbled signatures, missing, empty and
//!   whitespace headers, other schemes, duplicate headers, Lever signatures
//!   over another token or `triggeredAt`; Ashby's in `hostile_ashby`,
//!   Workable's in `hostile_workable` (401);
//! * **replayed**: careers-site timestamps outside the five minutes, Lever
//!   `triggeredAt` older than `lever_max_age` or too far ahead, the recorded
//!   (old) Lever samples, timestamps that are not integers or overflow (401);
//! * **malformed**: bodies that are not JSON in many ways (400; 401 for
//!   Lever, whose signature is inside the body, see the README's "Known
//!   limits", and for a careers-site body that is not UTF-8, which Standard
//!   Webhooks cannot sign: `careers_site::verify_at`), JSON whose top level
//!   is not an object (422 `$`), Greenhouse without a usable
//!   `Greenhouse-Event-ID` (400);
//! * **wrongly typed**: for every field each decoder reads, every wrong JSON
//!   type, and every required field missing (422 naming the dotted path);
//!   the field lists come from the decoders in
//!   `jobs/src/connectors/{careers_site,greenhouse,lever,ashby}/webhook.rs`
//!   (Ashby's cases are in `hostile_ashby`, Workable's in
//!   `hostile_workable`);
//! * **oversized**: over `http.body_limit` with a true or a lying
//!   `Content-Length`, and chunked without one (413);
//! * **media type**: anything but `application/json` (415);
//! * **api**: the JSON API without, with an unknown or an out-of-scope
//!   token (401/403), with bodies that are not JSON (400), mistyped, missing
//!   or unknown fields (422), too large (413), of another media type (415),
//!   and ids in paths that name nothing (404). Ids in paths that are not
//!   numbers must be a JSON 400 too; they are a separate test,
//!   `ids_in_paths_that_are_not_numbers_get_a_json_400`, which fails today:
//!   axum's `Path` rejection answers them in plain text.
//!
//! Webhook refusals must leave exactly one `rejected` inbox row (with the
//! body only when the sender was authenticated), API refusals none, and
//! neither an audit event ([`tests::hostile::check`]). At the end nothing
//! else has changed: no candidate, application, referral, payout or queue
//! job; the employees and the referral link made on purpose before the table
//! are as they were.

use std::{collections::BTreeMap, time::Duration};

use chrono::Utc;
use entities::{inbox::InboxStatus, payout, referral_link};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tests::{
    app::Setup,
    fixtures::{
        self, CAREERS_SITE_SECRET, OTHER_CAREERS_SITE_SECRET, all, applications, candidates,
        careers_site_headers, employees, greenhouse_secret, greenhouse_signature, inbox_rows,
        lever_signature, lever_signature_token, mint_link, payload, payload_json, put_employee,
        queued_jobs, referrals, spawn_capture_app, tokens, unique,
    },
    hostile::{
        self, CAREERS_PATH, Case, Framing, ashby, careers, ct, greenhouse, header, lever,
        lever_envelope, padded, replace, smartrecruiters, to_bytes, with_headers, without,
        workable,
    },
};
use worker::config::{ApiToken, Scope, Secret};

/// `http.body_limit` of this app: every base body fits, padded copies do not.
const LIMIT: usize = 4096;

/// `webhooks.lever_max_age` of this app.
const LEVER_MAX_AGE: Duration = Duration::from_secs(60);

/// A token with the `hires` scope (no fixture token has it).
const HIRES: &str = "hires-token-0123456789abcdef";

/// The referrers created on purpose before the table.
const ACTIVE: &str = "E-HOSTILE-1";
const INACTIVE: &str = "E-HOSTILE-2";

/// Ids that exist nowhere.
const NO_APPLICATION: &str = "999999";
const NO_PAYOUT: &str = "999999";

/// The Lever events decoded as opportunities (`lever::OPPORTUNITY_EVENTS`).
const LEVER_OPPORTUNITY_EVENTS: [&str; 4] = [
    "applicationCreated",
    "candidateStageChange",
    "candidateHired",
    "candidateArchiveChange",
];

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn limit_detail() -> String {
    LIMIT.to_string()
}

// ---------------------------------------------------------------------------
// Valid bodies the cases are variants of (each decodes to an event; see
// `the_base_bodies_decode`)
// ---------------------------------------------------------------------------

/// A careers-site `application.submitted` (ASCII only, so any prefix of it
/// is UTF-8 and can be signed).
fn careers_submitted() -> Value {
    json!({
        "type": "application.submitted",
        "submission_id": "sub_hostile_0001",
        "submitted_at": "2025-09-02T10:15:29.512Z",
        "job": { "ats": "greenhouse", "ats_job_id": "4012345", "title": "Engineer", "location": "Berlin, Germany" },
        "tracking": { "ref": "rt_7Q2MZK4P9XW3HD", "ref_source": "query" },
        "applicant": {
            "first_name": "Test",
            "last_name": "Applicant",
            "email": "hostile@example.org",
            "phone": "+49 30 1234 5678",
            "phone_country_hint": "DE",
        },
    })
}

/// A careers-site (generic) `application.status_changed`.
fn careers_status_changed() -> Value {
    json!({
        "type": "application.status_changed",
        "changed_at": "2026-01-05T09:00:00Z",
        "application": {
            "id": "sub_hostile_0001",
            "ats": "careers_site",
            "candidate_id": "cand-1",
            "job_id": "J-1",
            "status": "hired",
            "stage": "Hired",
            "start_date": "2026-02-01",
        },
    })
}

/// A Greenhouse application event with every field the decoder reads.
fn gh_application(action: &str) -> Value {
    json!({ "action": action, "payload": { "application": {
        "id": 120_450_001,
        "prospect": false,
        "status": "active",
        "applied_at": "2025-09-02T10:15:31Z",
        "last_activity_at": "2025-09-02T10:15:31Z",
        "credited_to": { "employee_id": "E-10442" },
        "current_stage": { "name": "Application Review" },
        "custom_fields": { "referral_token": { "value": "rt_7Q2MZK4P9XW3HD" } },
        "candidate": {
            "id": 90_077_001,
            "first_name": "Jose",
            "last_name": "Almeida",
            "email_addresses": [{ "value": "jose@example.org", "type": "personal" }],
            "phone_numbers": [{ "value": "+49 30 1234 5678", "type": "mobile" }],
            "custom_fields": { "referral_token": { "value": "rt_7Q2MZK4P9XW3HD" } },
        },
        "jobs": [{
            "id": 4_012_345,
            "requisition_id": "REQ-1",
            "departments": [{ "name": "Engineering" }],
            "offices": [{ "name": "Berlin" }],
        }],
    }}})
}

/// A Greenhouse stage change (`candidate_stage_change`, `hire_candidate`, ...).
fn gh_stage_change(action: &str) -> Value {
    json!({ "action": action, "payload": { "application": {
        "id": 120_450_001,
        "status": "active",
        "last_activity_at": "2025-10-21T14:03:09Z",
        "rejected_at": null,
        "current_stage": { "name": "Offer" },
        "candidate": { "id": 90_077_001 },
        "offer": { "starts_at": "2026-01-05", "resolved_at": "2025-10-24T00:00:00Z" },
        "jobs": [{ "id": 4_012_345 }],
    }}})
}

/// The fields of a Greenhouse offer event.
fn gh_offer_fields() -> Value {
    json!({
        "application_id": 120_450_001,
        "candidate_id": 90_077_001,
        "job_id": 4_012_345,
        "start_date": "2026-02-01",
        "updated_at": "2025-10-24T00:00:00Z",
    })
}

/// A Greenhouse offer event, the offer's fields in `payload` itself.
fn gh_offer(action: &str) -> Value {
    json!({ "action": action, "payload": gh_offer_fields() })
}

/// A Greenhouse offer event, the offer's fields under `payload.offer`.
fn gh_offer_nested(action: &str) -> Value {
    json!({ "action": action, "payload": { "offer": gh_offer_fields() } })
}

fn gh_merge() -> Value {
    json!({ "action": "merge_candidate", "payload": { "person": { "id": 90_077_555, "new_candidate_id": 90_077_001 } } })
}

fn gh_delete() -> Value {
    json!({ "action": "delete_application", "payload": { "application": { "id": 46_194_062, "candidate_id": 37_031_511, "job_id": 371_417 } } })
}

fn gh_anonymized() -> Value {
    json!({ "action": "candidate_anonymized", "payload": { "candidate_id": 37_031_511 } })
}

/// A fresh, signed Lever opportunity event, triggered now.
fn lever_event(event: &str) -> Value {
    lever_envelope(
        Some(json!(event)),
        json!({ "opportunityId": "opp-hostile-1", "contactId": "contact-1" }),
        now_ms(),
    )
}

/// `v` under a fresh token, signed over it and its own `triggeredAt`.
fn resigned(mut v: Value) -> Value {
    let token = unique("tok");
    let at = v["triggeredAt"].as_i64().expect("an integer triggeredAt");
    v["signature"] = json!(lever_signature(&lever_signature_token(), &token, at));
    v["token"] = json!(token);
    v
}

// ---------------------------------------------------------------------------
// Editing JSON
// ---------------------------------------------------------------------------

/// `base` with the value at JSON pointer `pointer` replaced by `new`, or
/// removed when `new` is `None`.
fn edited(base: &Value, pointer: &str, new: Option<Value>) -> Value {
    let mut v = base.clone();
    let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
    let target = v
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("no {parent} in {base}"));
    match (target, new) {
        (Value::Object(map), Some(new)) => {
            map.insert(key.to_owned(), new);
        }
        (Value::Object(map), None) => {
            map.remove(key);
        }
        (Value::Array(items), Some(new)) => {
            items[key.parse::<usize>().expect("an index")] = new;
        }
        (other, _) => panic!("cannot edit {pointer} in {other}"),
    }
    v
}

/// The dotted path the decoders name for JSON pointer `pointer`:
/// `/payload/application/jobs/0/id` → `payload.application.jobs[0].id`.
fn dotted(pointer: &str) -> String {
    let mut out = String::new();
    for segment in pointer.split('/').skip(1) {
        if segment.parse::<usize>().is_ok() {
            out.push_str(&format!("[{segment}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(segment);
        }
    }
    out
}

/// How a decoder reads a field (`signature::json::Obj`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `req_str`: a string, required.
    ReqStr,
    /// `str`: a string or absent.
    Str,
    /// `req_id`: a string or an integer, required and not blank.
    ReqId,
    /// `id`: a string or an integer, or absent.
    Id,
    /// `obj`: an object or absent.
    Obj,
    /// `first` / `all`: an array or absent.
    Arr,
    /// An element of a `first` / `all` array: an object.
    Elem,
    /// `bool`: a boolean or absent.
    Bool,
    /// `req_time`: an RFC 3339 string, required.
    ReqTime,
    /// `map_or_empty_array`: an object, `[]` or absent.
    MapOrEmpty,
}

/// Every wrong value for a field read as `kind`, and whether it counts as
/// missing (`null` means absent) rather than mistyped.
fn wrong_values(kind: Kind) -> Vec<(&'static str, Option<Value>)> {
    let mut v: Vec<(&'static str, Option<Value>)> = match kind {
        Kind::ReqStr | Kind::Str => vec![
            ("a number", Some(json!(42))),
            ("a boolean", Some(json!(true))),
            ("an array", Some(json!(["x"]))),
            ("an object", Some(json!({ "x": "y" }))),
        ],
        Kind::ReqId | Kind::Id => vec![
            ("a boolean", Some(json!(true))),
            ("an array", Some(json!([1]))),
            ("an object", Some(json!({ "id": 1 }))),
            ("a fraction", Some(json!(1.5))),
            ("an integer written as a float", Some(json!(1e3))),
        ],
        Kind::Obj => vec![
            ("a number", Some(json!(7))),
            ("a boolean", Some(json!(false))),
            ("an array", Some(json!([{}]))),
            ("a string", Some(json!("x"))),
        ],
        Kind::Arr => vec![
            ("a number", Some(json!(7))),
            ("a boolean", Some(json!(true))),
            ("a string", Some(json!("x"))),
            ("an object", Some(json!({ "id": 1 }))),
        ],
        Kind::Elem => vec![
            ("a number", Some(json!(7))),
            ("a string", Some(json!("x"))),
            ("a boolean", Some(json!(true))),
            ("an array", Some(json!([1]))),
        ],
        Kind::Bool => vec![
            ("a number", Some(json!(1))),
            ("a string", Some(json!("true"))),
            ("an array", Some(json!([true]))),
            ("an object", Some(json!({ "v": true }))),
        ],
        Kind::ReqTime => vec![
            ("a number", Some(json!(1_756_808_131))),
            ("a boolean", Some(json!(true))),
            ("an array", Some(json!(["2025-09-02T10:15:31Z"]))),
            ("an object", Some(json!({ "at": "2025-09-02T10:15:31Z" }))),
            ("not a time", Some(json!("yesterday"))),
            ("a date without a time", Some(json!("2025-09-02"))),
            ("an empty string", Some(json!(""))),
        ],
        Kind::MapOrEmpty => vec![
            ("a number", Some(json!(7))),
            ("a boolean", Some(json!(true))),
            ("a string", Some(json!("x"))),
            ("a non-empty array", Some(json!([1]))),
        ],
    };
    if matches!(kind, Kind::ReqStr | Kind::ReqId | Kind::ReqTime) {
        v.push(("missing", None));
        v.push(("null", Some(Value::Null)));
    }
    if kind == Kind::ReqId {
        v.push(("empty", Some(json!(""))));
        v.push(("blank", Some(json!("   "))));
    }
    v
}

/// One 422 case per wrong value of each field in `fields` (JSON pointers
/// under `prefix`) of `base`, made by `make(what, body value, detail)`.
fn typed(
    label: &str,
    base: &Value,
    prefix: &str,
    fields: &[(&str, Kind)],
    make: &dyn Fn(String, Value, String) -> Case,
) -> Vec<Case> {
    let mut cases = Vec::new();
    for (field, kind) in fields {
        let pointer = if field.is_empty() {
            prefix.to_owned()
        } else {
            format!("{prefix}/{field}")
        };
        let path = dotted(&pointer);
        for (how, value) in wrong_values(*kind) {
            cases.push(make(
                format!("{label}: {path} {how}"),
                edited(base, &pointer, value),
                format!("{path}: "),
            ));
        }
    }
    cases
}

fn careers_422(what: String, v: Value, detail: String) -> Case {
    careers(&what, to_bytes(&v), 422, "invalid_field", detail)
}

fn greenhouse_422(what: String, v: Value, detail: String) -> Case {
    greenhouse(&what, to_bytes(&v), 422, "invalid_field", detail)
}

fn lever_422(what: String, v: Value, detail: String) -> Case {
    lever(&what, to_bytes(&resigned(v)), 422, "invalid_field", detail)
}

// ---------------------------------------------------------------------------
// Signing by hand (for bodies the `standardwebhooks` crate will not sign)
// ---------------------------------------------------------------------------

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64_encode(bytes: &[u8]) -> String {
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
                out.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn b64_decode(text: &str) -> Vec<u8> {
    let (mut bits, mut n, mut out) = (0u32, 0u32, Vec::new());
    for c in text.bytes().filter(|c| *c != b'=') {
        let v = B64.iter().position(|x| *x == c).expect("base64") as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    out
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// Standard Webhooks headers over the raw bytes of `body` (which need not be
/// UTF-8), signed with `secret` (a `whsec_` secret).
fn careers_raw_headers(secret: &str, msg_id: &str, at: i64, body: &[u8]) -> Vec<(String, String)> {
    let key = b64_decode(secret.strip_prefix("whsec_").unwrap_or(secret));
    let message = [format!("{msg_id}.{at}.").as_bytes(), body].concat();
    vec![
        ("webhook-id".into(), msg_id.into()),
        ("webhook-timestamp".into(), at.to_string()),
        (
            "webhook-signature".into(),
            format!("v1,{}", b64_encode(&hmac_sha256(&key, &message))),
        ),
        ct("application/json"),
    ]
}

/// A careers-site case whose headers are signed over `body` by hand.
fn careers_raw(what: &str, body: Vec<u8>, status: u16, detail: &str) -> Case {
    let mut c = careers(
        what,
        Vec::new(),
        status,
        hostile::error_code(status),
        detail,
    );
    c.headers = careers_raw_headers(
        CAREERS_SITE_SECRET,
        &unique("msg_"),
        Utc::now().timestamp(),
        &body,
    );
    c.body = body;
    c
}

/// A careers-site case signed at `at` (Unix seconds).
fn careers_at(what: &str, body: Vec<u8>, at: i64, detail: &str) -> Case {
    let mut c = careers(what, body, 401, "unauthorized", detail);
    c.headers = careers_site_headers(CAREERS_SITE_SECRET, &unique("msg_"), at, &c.body);
    c.headers.push(ct("application/json"));
    c
}

/// A fresh careers-site body (its own submission id).
fn careers_body() -> Vec<u8> {
    let mut v = careers_submitted();
    v["submission_id"] = json!(unique("sub_"));
    to_bytes(&v)
}

/// A fresh Greenhouse body.
fn gh_body() -> Vec<u8> {
    let mut v = gh_application("new_candidate_application");
    v["payload"]["application"]["id"] = json!(unique("app-"));
    to_bytes(&v)
}

fn flip_case(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_lowercase() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

mod api;
mod forged_ats;
mod forged_careers;
mod malformed;
mod media;
mod replayed;
mod typed;

use api::{api, non_numeric_ids};
use forged_ats::{forged_greenhouse, forged_lever};
use forged_careers::forged_careers;
use malformed::malformed;
use media::{oversized, wrong_media_type};
use replayed::replayed;
use typed::wrongly_typed;

// ---------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------

/// What must not change.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    candidates: usize,
    applications: usize,
    referrals: usize,
    employees: Vec<entities::employee::Model>,
    links: Vec<referral_link::Model>,
    payouts: Vec<payout::Model>,
    queue_jobs: u64,
}

impl Snapshot {
    async fn take(app: &tests::app::TestApp) -> Self {
        let db = &app.state.db;
        Snapshot {
            candidates: candidates(db).await.len(),
            applications: applications(db).await.len(),
            referrals: referrals(db).await.len(),
            employees: employees(db).await,
            links: all::<referral_link::Entity>(db).await,
            payouts: all::<payout::Entity>(db).await,
            queue_jobs: queued_jobs(app).await,
        }
    }
}

#[test]
fn the_base_bodies_decode_and_hand_signing_matches_the_crate() {
    use jobs::{
        connectors::{careers_site, greenhouse, lever},
        intake::IntakeEvent,
    };
    let decoded = [
        careers_site::decode(&to_bytes(&careers_submitted())),
        careers_site::decode(&to_bytes(&careers_status_changed())),
        greenhouse::decode(&to_bytes(&gh_application("new_candidate_application"))),
        greenhouse::decode(&to_bytes(&gh_stage_change("candidate_stage_change"))),
        greenhouse::decode(&to_bytes(&gh_offer("offer_created"))),
        greenhouse::decode(&to_bytes(&gh_offer_nested("offer_created"))),
        greenhouse::decode(&to_bytes(&gh_merge())),
        greenhouse::decode(&to_bytes(&gh_delete())),
        greenhouse::decode(&to_bytes(&gh_anonymized())),
        lever::decode(&to_bytes(&lever_event("candidateHired"))),
    ];
    for d in decoded {
        assert!(
            matches!(d, Ok(ref e) if !matches!(e, IntakeEvent::Ignored { .. })),
            "{d:?}"
        );
    }
    let body = careers_body();
    let by_hand = careers_raw_headers(CAREERS_SITE_SECRET, "msg_1", 1_700_000_000, &body);
    let by_crate = careers_site_headers(CAREERS_SITE_SECRET, "msg_1", 1_700_000_000, &body);
    assert_eq!(
        header(&by_hand, "webhook-signature"),
        header(&by_crate, "webhook-signature")
    );
    assert!(careers_body().len() < LIMIT / 2 && gh_body().len() < LIMIT / 2);
}

/// The app under attack: a small body limit, a short Lever max age, and a
/// token with the `hires` scope besides the fixtures' tokens.
async fn spawn() -> fixtures::CaptureApp {
    spawn_capture_app(Setup::EMBEDDED_SQLITE, |s| {
        s.http.body_limit = LIMIT;
        s.webhooks.lever_max_age = LEVER_MAX_AGE;
        s.api.tokens.push(ApiToken {
            name: "hires-sync".into(),
            token: Secret::new(HIRES),
            scopes: vec![Scope::Hires],
        });
    })
    .await
}

/// The table: every case refused with the right status and JSON error, its
/// refusal recorded (webhooks) or not (API), and nothing else changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_requests_are_refused_recorded_and_change_nothing() {
    let world = spawn().await;
    let app = &world.app;
    let db = world.db();

    // On purpose, before the table: an active referrer with a link (to try
    // to revoke it) and an inactive one (who may not mint links).
    put_employee(app, ACTIVE, "hostile.one@acme-example.com", true).await;
    put_employee(app, INACTIVE, "hostile.two@acme-example.com", false).await;
    let link = mint_link(app, ACTIVE, "J-HOSTILE").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = Snapshot::take(app).await;
    let inbox_before = inbox_rows(db).await.len();

    let started = std::time::Instant::now();
    let categories: [(&str, &dyn Fn() -> Vec<Case>); 15] = [
        ("forged (careers site)", &forged_careers),
        ("forged (Greenhouse)", &forged_greenhouse),
        ("forged (Lever)", &forged_lever),
        ("forged (Ashby)", &super::hostile_ashby::forged),
        (
            "wrongly typed (Ashby)",
            &super::hostile_ashby::wrongly_typed,
        ),
        ("forged (Workable)", &super::hostile_workable::forged),
        (
            "wrongly typed (Workable)",
            &super::hostile_workable::wrongly_typed,
        ),
        (
            "forged (SmartRecruiters)",
            &super::hostile_smartrecruiters::forged,
        ),
        (
            "wrongly typed (SmartRecruiters)",
            &super::hostile_smartrecruiters::wrongly_typed,
        ),
        ("replayed", &replayed),
        ("malformed", &malformed),
        ("wrongly typed", &wrongly_typed),
        ("oversized", &oversized),
        ("wrong media type", &wrong_media_type),
        ("api", &|| api(&link)),
    ];
    let mut counts = BTreeMap::new();
    let mut failures = Vec::new();
    let mut webhook_cases = 0;
    for (name, build) in categories {
        // Built just before sending: the fresh timestamps stay fresh.
        let cases = build();
        counts.insert(name, cases.len());
        webhook_cases += cases
            .iter()
            .filter(|c| c.trace == hostile::Trace::InboxRow)
            .count();
        failures.extend(hostile::run(app, &cases).await);
    }
    let total: usize = counts.values().sum();
    eprintln!(
        "{total} hostile requests in {:.1?}: {counts:?}",
        started.elapsed()
    );
    // Give the workers a moment to do anything they (wrongly) might.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let after = Snapshot::take(app).await;
    for (what, same) in [
        ("candidates", before.candidates == after.candidates),
        ("applications", before.applications == after.applications),
        ("referrals", before.referrals == after.referrals),
        ("employees", before.employees == after.employees),
        ("referral links", before.links == after.links),
        ("payouts", before.payouts == after.payouts),
        ("queue jobs", before.queue_jobs == after.queue_jobs),
    ] {
        if !same {
            failures.push(format!(
                "{what} changed: before {before:?}, after {after:?}"
            ));
        }
    }
    let rows = inbox_rows(db).await;
    if rows.len() != inbox_before + webhook_cases {
        failures.push(format!(
            "{} inbox rows for {webhook_cases} refused deliveries",
            rows.len() - inbox_before
        ));
    }
    if let Some(r) = rows.iter().find(|r| r.status != InboxStatus::Rejected) {
        failures.push(format!("an inbox row is {:?}", r.status));
    }
    if !world.lever.ats.seen().is_empty() || !world.harvest.seen().is_empty() {
        failures.push(format!(
            "an ATS was called: {:?} {:?}",
            world.lever.ats.summary(),
            world.harvest.summary()
        ));
    }
    assert!(total >= 500, "only {total} cases: {counts:?}");
    assert!(
        failures.is_empty(),
        "{} of {total} hostile requests mishandled:\n{}",
        failures.len(),
        failures.join("\n")
    );
    world.cleanup().await;
}

/// Product bug (reported, not fixed here): an id in a path that is not a
/// number is answered by axum's `Path` rejection, a `text/plain` 400, not
/// the `{"error", "detail"}` JSON every other refusal carries.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ids_in_paths_that_are_not_numbers_get_a_json_400() {
    let world = spawn().await;
    let app = &world.app;
    let before = Snapshot::take(app).await;
    let cases = non_numeric_ids();
    let mut failures = hostile::run(app, &cases).await;
    if Snapshot::take(app).await != before {
        failures.push("something changed".into());
    }
    assert!(
        failures.is_empty(),
        "{} of {} requests mishandled:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    world.cleanup().await;
}
