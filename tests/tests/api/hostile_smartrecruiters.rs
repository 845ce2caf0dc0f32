//! The hostile-input table's SmartRecruiters rows (sent by
//! `hostile::hostile_requests_are_refused_recorded_and_change_nothing`,
//! beside the oversized, media-type and malformed rows built for every
//! webhook endpoint):
//!
//! * **forged**: `smartrecruiters-signature` missing, empty, without
//!   `v1=`, truncated, garbled, over other bytes, under another or an empty
//!   key, over a changed signed header (event id, name, version, link,
//!   timestamp), under Workable's header name (401); an authentic one whose
//!   timestamp is outside the tolerance (401, stale);
//! * **wrongly typed**: the ids the decoder reads, with every wrong JSON
//!   type, missing, and ids that are not ids (422 naming the field); an
//!   authentic notification without `event-id` (400).
//!
//! The handshake's abuse cases (an `X-Hook-Secret` that is not one, a
//! handshake carrying a signed event) are in `smartrecruiters.rs`: a
//! refused handshake keeps no body, which this table's rows assume only
//! for 401, 413 and 415.

use serde_json::{Value, json};
use tests::{
    hostile::{Case, replace, smartrecruiters, to_bytes, with_headers, without},
    vendors::smartrecruiters::{SR_SECRET, SrNotification, sr_signature},
};

use super::hostile_ashby::{dotted, edited};

fn status_updated() -> Value {
    json!({"job_id": "3f2a1c9e-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
           "candidate_id": "8d7e6f5a-4b3c-4d2e-8f1a-0b9c8d7e6f5a"})
}

/// A fresh, valid SmartRecruiters body (compact JSON object) for the rows
/// every endpoint gets.
pub fn valid_body() -> Vec<u8> {
    to_bytes(&status_updated())
}

/// [`valid_body`] pretty-printed and indented: still an ids-only body,
/// long enough for every truncation the malformed rows make.
pub fn indented_body() -> Vec<u8> {
    let pretty = serde_json::to_string_pretty(&status_updated()).expect("serialise");
    pretty
        .lines()
        .map(|l| format!("            {l}"))
        .collect::<Vec<_>>()
        .join("\n")
        .into_bytes()
}

/// Forged, missing and misplaced signatures, and a stale timestamp: 401,
/// body not kept.
pub fn forged() -> Vec<Case> {
    let case =
        |what: &str, detail: &str| smartrecruiters(what, valid_body(), 401, "unauthorized", detail);
    let signature = |c: &Case| {
        c.headers
            .iter()
            .find(|(k, _)| k == "smartrecruiters-signature")
            .map(|(_, v)| v.clone())
            .expect("signed")
    };
    let refused = |what: &str, value: Option<String>, detail: &str| {
        with_headers(case(what, detail), |h| match value {
            Some(v) => replace(h, "smartrecruiters-signature", &v),
            None => without(h, "smartrecruiters-signature"),
        })
    };
    let other_key = |secret: &str| {
        let mut n = SrNotification::application("application.status.updated", "c", "j");
        n.body = valid_body();
        format!("v1={}", sr_signature(secret, &n))
    };
    let good = signature(&case("", ""));
    let mut cases = vec![
        refused("no signature", None, "missing smartrecruiters-signature"),
        refused("an empty signature", Some(String::new()), "no v1= value"),
        refused("whitespace only", Some("   ".into()), "no v1= value"),
        refused("without v1=", Some(good[3..].to_owned()), "no v1= value"),
        refused("as v0=", Some(good.replace("v1=", "v0=")), "no v1= value"),
        refused("truncated", Some(good[..66].to_owned()), "does not match"),
        refused(
            "garbled",
            Some(good.replace("v1=", "v1=zz")),
            "does not match",
        ),
        refused(
            "another key",
            Some(other_key("another-key-of-some-length")),
            "does not match",
        ),
        refused("the empty key", Some(other_key("")), "does not match"),
    ];
    // Over other bytes: the signature of `{}`.
    let mut other = case("over other bytes", "does not match");
    other.body = b"{}".to_vec();
    cases.push(other);
    // Every signed header counts.
    for (name, value) in [
        ("event-id", "another-event"),
        ("event-name", "candidate.deleted"),
        ("event-version", "v1"),
        ("link", "https://api.smartrecruiters.com/candidates/x"),
    ] {
        cases.push(with_headers(
            case(&format!("{name} changed"), "does not match"),
            |h| replace(h, name, value),
        ));
    }
    // Under Workable's header name, the real one absent.
    cases.push(with_headers(
        case(
            "under Workable's header",
            "missing smartrecruiters-signature",
        ),
        |h| {
            let sig = h
                .iter()
                .find(|(k, _)| k == "smartrecruiters-signature")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            without(h, "smartrecruiters-signature");
            h.push(("x-workable-signature".into(), sig));
        },
    ));
    // Authentic, but signed ten minutes ago (the tolerance is five).
    let mut n = SrNotification::application("application.status.updated", "c", "j");
    n.body = valid_body();
    n.timestamp -= 600;
    let mut stale = case("signed ten minutes ago", "tolerated");
    stale.headers = n.headers(SR_SECRET);
    cases.push(stale);
    cases
}

/// Every wrong type of every id read, every one missing, and an
/// authentic notification without `event-id`.
pub fn wrongly_typed() -> Vec<Case> {
    let not_ids = || {
        vec![
            ("a boolean", json!(true)),
            ("an object", json!({})),
            ("an array", json!(["x"])),
            ("a path", json!("../candidates")),
            ("a query", json!("c?q=x")),
            ("65 characters", json!("a".repeat(65))),
        ]
    };
    let mut cases = Vec::new();
    for pointer in ["/candidate_id", "/job_id"] {
        let field = dotted(pointer);
        for (what, value) in not_ids() {
            let body = edited(status_updated(), pointer, Some(value));
            cases.push(smartrecruiters(
                &format!("{field} as {what}"),
                to_bytes(&body),
                422,
                "invalid_field",
                field.clone(),
            ));
        }
        let body = edited(status_updated(), pointer, None);
        cases.push(smartrecruiters(
            &format!("no {field}"),
            to_bytes(&body),
            422,
            "invalid_field",
            format!("{field}: missing"),
        ));
    }
    // Signed without an event id (so the signature covers ""): authentic,
    // but nothing to key the inbox by.
    let mut n = SrNotification::application("application.status.updated", "c", "j");
    n.body = valid_body();
    n.event_id = String::new();
    let mut no_id = smartrecruiters("no event-id", valid_body(), 400, "bad_request", "event-id");
    no_id.headers = n.headers(SR_SECRET);
    without(&mut no_id.headers, "event-id");
    cases.push(no_id);
    cases
}
