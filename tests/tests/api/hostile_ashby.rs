//! The hostile-input table's Ashby rows (sent by
//! `hostile::hostile_requests_are_refused_recorded_and_change_nothing`,
//! beside the oversized, media-type and malformed rows `hostile/` builds
//! for every webhook endpoint):
//!
//! * **forged**: `Ashby-Signature` missing, empty, under another name
//!   (Greenhouse's `Signature`, a catalogue's `X-Ashby-Signature`), in
//!   another form (`sha256 <hex>`, bare hex, another algorithm), truncated,
//!   garbled, over other bytes, under another or an empty secret (401);
//! * **wrongly typed**: every field the decoder and the inbox key read,
//!   with every wrong JSON type, missing where required, and ids that are
//!   not UUIDs (422 naming the dotted path), from the fields
//!   `jobs/src/connectors/ashby/webhook.rs` reads.

use serde_json::{Value, json};
use tests::{
    ashby::{ashby_secret, ashby_signature},
    hostile::{Case, ashby, replace, to_bytes, with_headers, without},
};

const APPLICATION: &str = "1c9a7e52-4b3d-4f8e-9a61-2d5b7c8e9f01";
const CANDIDATE: &str = "5e0b2d4f-8a1c-4e6b-b3d7-9f2a6c1e8d42";
const JOB: &str = "a3f1c5e7-2b4d-4c6e-8f0a-1b3d5f7a9c2e";

/// A fresh `webhookActionId`: no two rows of the table share a key.
fn action_id() -> String {
    let bits: u128 = ulid::Ulid::generate().into();
    let h = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn application() -> Value {
    json!({
        "id": APPLICATION, "createdAt": "2025-10-20T08:41:12.503Z", "updatedAt": "2025-10-20T08:41:12.503Z",
        "status": "Active",
        "customFields": [{"id": "c7e2a9f4-3d5b-4a1c-8e6f-0b2d4f6a8c13", "title": "Referral token", "value": "rt_hostile", "isPrivate": false}],
        "candidate": {"id": CANDIDATE, "name": "Hostile Test",
                      "primaryEmailAddress": {"value": "hostile@example.org", "type": "Personal", "isPrimary": true},
                      "primaryPhoneNumber": {"value": "+49 30 1234 5678", "type": "Mobile", "isPrimary": true}},
        "currentInterviewStage": {"id": "6f2b8d4a-1c3e-4a5b-9d7f-3e5a7c9b1d35", "title": "Application Review"},
        "job": {"id": JOB, "title": "Engineer"},
        "hiringTeam": []
    })
}

fn envelope(action: &str, data: Value) -> Value {
    json!({ "webhookActionId": action_id(), "action": action, "data": data })
}

fn submit() -> Value {
    envelope("applicationSubmit", json!({ "application": application() }))
}

fn hire() -> Value {
    let mut app = application();
    app["status"] = "Hired".into();
    envelope(
        "candidateHire",
        json!({ "application": app, "offer": {
            "id": "4b6d8f0a-2c4e-4a6c-9e8a-1d3f5b7d9f13", "applicationId": APPLICATION,
            "acceptanceStatus": "Accepted", "decidedAt": "2025-11-28T15:58:03.000Z",
            "latestVersion": {"id": "5c7e9a1b-3d5f-4b7d-8f9b-2e4a6c8e0a24", "startDate": "2026-01-12T00:00:00.000Z"}
        }}),
    )
}

fn offer_update() -> Value {
    envelope(
        "offerUpdate",
        json!({ "offer": {
            "id": "4b6d8f0a-2c4e-4a6c-9e8a-1d3f5b7d9f13", "applicationId": APPLICATION,
            "acceptanceStatus": "Accepted",
            "latestVersion": {"startDate": "2026-02-02T00:00:00.000Z"}
        }}),
    )
}

fn merge() -> Value {
    envelope(
        "candidateMerge",
        json!({ "deletedCandidate": {"id": "8f1b3d5f-7a9c-4e1b-a3d5-0e2a4c6e8a92"}, "mergedCandidate": {"id": CANDIDATE} }),
    )
}

fn delete() -> Value {
    envelope("candidateDelete", json!({ "candidate": {"id": CANDIDATE} }))
}

/// A fresh, valid Ashby delivery (compact JSON object) for the rows every
/// endpoint gets.
pub fn valid_body() -> Vec<u8> {
    to_bytes(&submit())
}

/// Forged, missing and misplaced signatures: 401, body not kept.
pub fn forged() -> Vec<Case> {
    let body = valid_body;
    let good = |b: &[u8]| ashby_signature(&ashby_secret(), b);
    let hex = |b: &[u8]| good(b).trim_start_matches("sha256=").to_owned();
    let refused = |what: &str, value: Option<String>, detail: &str| {
        let b = body();
        with_headers(
            ashby(what, b, 401, "unauthorized", detail),
            |h| match value {
                Some(v) => replace(h, "ashby-signature", &v),
                None => without(h, "ashby-signature"),
            },
        )
    };
    let mut cases = vec![
        refused("no Ashby-Signature", None, "missing Ashby-Signature"),
        refused(
            "an empty Ashby-Signature",
            Some(String::new()),
            "sha256=<hex>",
        ),
        refused("whitespace only", Some("   ".into()), "sha256=<hex>"),
        refused(
            "another secret",
            Some(ashby_signature("another-secret-of-some-length", &body())),
            "does not match",
        ),
        refused(
            "the empty secret",
            Some(ashby_signature("", &body())),
            "does not match",
        ),
        refused("over other bytes", Some(good(b"{}")), "does not match"),
        refused("bare hex", Some(hex(&body())), "sha256=<hex>"),
        refused(
            "Greenhouse's form",
            Some(format!("sha256 {}", hex(&body()))),
            "sha256=<hex>",
        ),
        refused(
            "sha1",
            Some(format!("sha1={}", hex(&body()))),
            "other than sha256",
        ),
        refused(
            "sha512",
            Some(format!("sha512={}", hex(&body()))),
            "other than sha256",
        ),
        refused("no hex", Some("sha256=".into()), "does not match"),
        refused(
            "truncated hex",
            Some(good(&body())[..70].to_owned()),
            "does not match",
        ),
        refused(
            "hex and more",
            Some(format!("{}00", good(&body()))),
            "does not match",
        ),
        refused(
            "not hex",
            Some(format!("sha256={}", "zz".repeat(32))),
            "does not match",
        ),
        refused(
            "base64 instead of hex",
            Some("sha256=q83vEjRWeJASNFZ4kBI0VniQEjRWeJASNFZ4kBI0Vng=".into()),
            "does not match",
        ),
    ];
    // The right MAC under a header Ashby does not send.
    for name in ["signature", "x-ashby-signature"] {
        let b = body();
        let sig = good(&b);
        cases.push(with_headers(
            ashby(
                &format!("the MAC as {name}"),
                b,
                401,
                "unauthorized",
                "missing Ashby-Signature",
            ),
            |h| {
                without(h, "ashby-signature");
                h.push((name.to_owned(), sig));
            },
        ));
    }
    // Signed, then changed: one byte more, another application id.
    let b = body();
    let sig = good(&b);
    let mut longer = b.clone();
    longer.push(b'\n');
    cases.push(with_headers(
        ashby(
            "a newline after signing",
            longer,
            401,
            "unauthorized",
            "does not match",
        ),
        |h| replace(h, "ashby-signature", &sig),
    ));
    let changed = String::from_utf8(b)
        .unwrap()
        .replace(APPLICATION, "00000000-0000-4000-8000-000000000000");
    cases.push(with_headers(
        ashby(
            "another application after signing",
            changed.into_bytes(),
            401,
            "unauthorized",
            "does not match",
        ),
        |h| replace(h, "ashby-signature", &sig),
    ));
    cases
}

/// Replaces (or with `None` removes) the value at `pointer`.
pub(super) fn edited(mut v: Value, pointer: &str, new: Option<Value>) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
    let slot = v
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("no {parent}"));
    match (slot, new) {
        (Value::Object(map), Some(n)) => {
            map.insert(key.to_owned(), n);
        }
        (Value::Object(map), None) => {
            map.remove(key);
        }
        (Value::Array(items), Some(n)) => items[key.parse::<usize>().expect("an index")] = n,
        (other, _) => panic!("{pointer}: not a container: {other}"),
    }
    v
}

/// `/data/application/candidate/id` → `data.application.candidate.id`,
/// `/data/application/customFields/0/value` → `…customFields[0].value`.
pub(super) fn dotted(pointer: &str) -> String {
    let mut out = String::new();
    for part in pointer.trim_start_matches('/').split('/') {
        if part.parse::<usize>().is_ok() {
            out.push_str(&format!("[{part}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(part);
        }
    }
    out
}

#[derive(Clone, Copy)]
enum Kind {
    /// A UUID string (also refused: any other string).
    Uuid,
    /// Any string.
    Text,
    /// An RFC 3339 timestamp.
    Time,
    /// An object.
    Object,
    /// An array of objects.
    Array,
}

/// Wrong values for a field of `kind` (`None`: the field removed, which
/// only required fields refuse).
fn wrong_values(kind: Kind) -> Vec<(&'static str, Value)> {
    let mut v = vec![("a number", json!(7)), ("a boolean", json!(true))];
    match kind {
        Kind::Uuid => v.extend([
            ("an object", json!({})),
            ("an array", json!([])),
            ("not a UUID", json!("abc")),
            ("a bare-hex UUID", json!("1c9a7e524b3d4f8e9a612d5b7c8e9f01")),
        ]),
        Kind::Text => v.extend([("an object", json!({})), ("an array", json!(["x"]))]),
        Kind::Time => v.extend([("an object", json!({})), ("not a time", json!("yesterday"))]),
        Kind::Object => v.extend([("a string", json!("x")), ("an array", json!([{}]))]),
        Kind::Array => v.extend([("a string", json!("x")), ("an object", json!({}))]),
    }
    v
}

/// Every wrong type of every field read, and every required one missing.
pub fn wrongly_typed() -> Vec<Case> {
    let app = "/data/application";
    // (the body, the field's pointer, its kind, whether it is required)
    type Field = (fn() -> Value, String, Kind, bool);
    let fields: Vec<Field> = vec![
        (submit, format!("{app}/id"), Kind::Uuid, true),
        (submit, format!("{app}/candidate"), Kind::Object, false),
        (submit, format!("{app}/candidate/id"), Kind::Uuid, true),
        (submit, format!("{app}/candidate/name"), Kind::Text, false),
        (
            submit,
            format!("{app}/candidate/primaryEmailAddress"),
            Kind::Object,
            false,
        ),
        (
            submit,
            format!("{app}/candidate/primaryEmailAddress/value"),
            Kind::Text,
            false,
        ),
        (
            submit,
            format!("{app}/candidate/primaryPhoneNumber/value"),
            Kind::Text,
            false,
        ),
        (submit, format!("{app}/job"), Kind::Object, false),
        (submit, format!("{app}/job/id"), Kind::Uuid, true),
        (submit, format!("{app}/status"), Kind::Text, true),
        (submit, format!("{app}/createdAt"), Kind::Time, true),
        (submit, format!("{app}/customFields"), Kind::Array, false),
        (
            submit,
            format!("{app}/customFields/0/title"),
            Kind::Text,
            false,
        ),
        (
            submit,
            format!("{app}/customFields/0/value"),
            Kind::Text,
            false,
        ),
        (
            submit,
            format!("{app}/currentInterviewStage"),
            Kind::Object,
            false,
        ),
        (
            submit,
            format!("{app}/currentInterviewStage/title"),
            Kind::Text,
            false,
        ),
        (submit, "/data".to_owned(), Kind::Object, false),
        (hire, format!("{app}/id"), Kind::Uuid, true),
        (hire, format!("{app}/status"), Kind::Text, true),
        (hire, "/data/offer".to_owned(), Kind::Object, false),
        (
            hire,
            "/data/offer/latestVersion".to_owned(),
            Kind::Object,
            false,
        ),
        (
            hire,
            "/data/offer/latestVersion/startDate".to_owned(),
            Kind::Text,
            false,
        ),
        (
            offer_update,
            "/data/offer/applicationId".to_owned(),
            Kind::Uuid,
            true,
        ),
        (
            offer_update,
            "/data/offer/acceptanceStatus".to_owned(),
            Kind::Text,
            false,
        ),
        (
            merge,
            "/data/deletedCandidate/id".to_owned(),
            Kind::Uuid,
            true,
        ),
        (
            merge,
            "/data/mergedCandidate/id".to_owned(),
            Kind::Uuid,
            true,
        ),
        (delete, "/data/candidate/id".to_owned(), Kind::Uuid, true),
    ];
    let mut cases = Vec::new();
    for (base, pointer, kind, required) in fields {
        let field = dotted(&pointer);
        for (what, value) in wrong_values(kind) {
            // The offer's `startDate` and the application's `status` are
            // strings whose content is checked too: a number is still a
            // wrong type, named the same way.
            let body = edited(base(), &pointer, Some(value));
            cases.push(ashby(
                &format!("{field} as {what}"),
                to_bytes(&body),
                422,
                "invalid_field",
                field.clone(),
            ));
        }
        if required {
            // Without the field, a required one names itself (or, for an
            // object on the way to it, its own path below).
            let body = edited(base(), &pointer, None);
            cases.push(ashby(
                &format!("no {field}"),
                to_bytes(&body),
                422,
                "invalid_field",
                format!("{field}: missing"),
            ));
        }
    }
    // The inbox key: an action id and an action of the right types.
    for (what, pointer, value) in [
        ("no webhookActionId", "/webhookActionId", None),
        (
            "webhookActionId as an object",
            "/webhookActionId",
            Some(json!({})),
        ),
        (
            "webhookActionId as a boolean",
            "/webhookActionId",
            Some(json!(false)),
        ),
        (
            "webhookActionId of 300 characters",
            "/webhookActionId",
            Some(json!("a".repeat(300))),
        ),
        ("no action", "/action", None),
        ("action as a number", "/action", Some(json!(1))),
        ("action as null", "/action", Some(Value::Null)),
    ] {
        let field = pointer.trim_start_matches('/');
        let body = edited(submit(), pointer, value);
        cases.push(ashby(what, to_bytes(&body), 422, "invalid_field", field));
    }
    cases
}
