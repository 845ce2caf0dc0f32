//! The hostile-input table's Workable rows (sent by
//! `hostile::hostile_requests_are_refused_recorded_and_change_nothing`,
//! beside the oversized, media-type and malformed rows `hostile.rs` builds
//! for every webhook endpoint):
//!
//! * **forged**: `X-Workable-Signature` missing, empty, under another name,
//!   truncated, garbled, over other bytes, under another or an empty secret
//!   (401);
//! * **wrongly typed**: every field the decoder and the inbox key read,
//!   with every wrong JSON type, missing where required, and candidate ids
//!   that are not ids (422 naming the dotted path), from the fields
//!   `jobs/src/connectors/workable/webhook.rs` reads.

use serde_json::{Value, json};
use tests::{
    hostile::{Case, replace, to_bytes, with_headers, without, workable},
    vendors::workable::{WORKABLE_SECRET, workable_signature},
};

use super::hostile_ashby::{dotted, edited};

fn moved() -> Value {
    json!({
        "id": format!("evt-{}", ulid::Ulid::generate()), "event_type": "candidate_moved",
        "fired_at": chrono::Utc::now().to_rfc3339(), "resource_type": "candidate",
        "data": {
            "id": "ce4da98", "name": "Hostile Test", "firstname": "Hostile", "lastname": "Test",
            "email": "hostile@example.org", "job": {"shortcode": "GROOV005", "title": "Engineer"},
            "stage": "hired", "stage_kind": "hired", "hired_at": "2026-12-07T10:00:00Z",
            "disqualified": false, "created_at": "2026-12-01T09:00:00Z"
        }
    })
}

/// A fresh, valid Workable delivery (compact JSON object) for the rows
/// every endpoint gets.
pub fn valid_body() -> Vec<u8> {
    to_bytes(&moved())
}

/// Forged, missing and misplaced signatures: 401, body not kept.
pub fn forged() -> Vec<Case> {
    let body = valid_body;
    let good = |b: &[u8]| workable_signature(WORKABLE_SECRET, b);
    let refused = |what: &str, value: Option<String>, detail: &str| {
        with_headers(
            workable(what, body(), 401, "unauthorized", detail),
            |h| match value {
                Some(v) => replace(h, "x-workable-signature", &v),
                None => without(h, "x-workable-signature"),
            },
        )
    };
    let truncated = good(&body())[..63].to_owned();
    let mut garbled = good(&body());
    garbled.replace_range(..2, "zz");
    let mut cases = vec![
        refused("no signature", None, "missing X-Workable-Signature"),
        refused("an empty signature", Some(String::new()), "does not match"),
        refused("whitespace only", Some("   ".into()), "does not match"),
        refused(
            "another secret",
            Some(workable_signature("another-secret-of-some-length", &body())),
            "does not match",
        ),
        refused(
            "the empty secret",
            Some(workable_signature("", &body())),
            "does not match",
        ),
        refused("over other bytes", Some(good(b"{}")), "does not match"),
        refused("truncated", Some(truncated), "does not match"),
        refused("garbled", Some(garbled), "does not match"),
        refused(
            "base64 instead of hex",
            Some({
                use base64::Engine as _;
                let raw = hex::decode(good(&body())).expect("hex");
                base64::engine::general_purpose::STANDARD.encode(raw)
            }),
            "does not match",
        ),
    ];
    // Under another header name (Ashby's), the real one absent.
    let b = body();
    let sig = good(&b);
    cases.push(with_headers(
        workable(
            "under Ashby's header",
            b,
            401,
            "unauthorized",
            "missing X-Workable-Signature",
        ),
        |h| {
            without(h, "x-workable-signature");
            h.push(("ashby-signature".into(), format!("sha256={sig}")));
        },
    ));
    cases
}

/// Every wrong type of every field read, and every required one missing.
pub fn wrongly_typed() -> Vec<Case> {
    let text = || {
        vec![
            ("a number", json!(7)),
            ("a boolean", json!(true)),
            ("an object", json!({})),
            ("an array", json!(["x"])),
        ]
    };
    // (the field's pointer, its wrong values, whether it is required)
    type Field = (&'static str, Vec<(&'static str, Value)>, bool);
    let fields: Vec<Field> = vec![
        ("/event_type", text(), false),
        (
            "/fired_at",
            vec![
                ("a boolean", json!(true)),
                ("an object", json!({})),
                ("an array", json!([])),
            ],
            false,
        ),
        (
            "/data",
            vec![
                ("a number", json!(7)),
                ("a string", json!("x")),
                ("an array", json!([{}])),
            ],
            false,
        ),
        (
            "/data/id",
            vec![
                ("a boolean", json!(true)),
                ("an object", json!({})),
                ("an array", json!([])),
                ("a path", json!("../members")),
                ("a query", json!("a1?email=x")),
                ("65 characters", json!("a".repeat(65))),
            ],
            true,
        ),
        ("/data/stage", text(), false),
        ("/data/stage_kind", text(), false),
        ("/data/hired_at", text(), false),
        (
            "/data/disqualified",
            vec![
                ("a string", json!("no")),
                ("a number", json!(0)),
                ("an object", json!({})),
            ],
            false,
        ),
    ];
    let mut cases = Vec::new();
    for (pointer, values, required) in fields {
        let field = dotted(pointer);
        for (what, value) in values {
            let body = edited(moved(), pointer, Some(value));
            cases.push(workable(
                &format!("{field} as {what}"),
                to_bytes(&body),
                422,
                "invalid_field",
                field.clone(),
            ));
        }
        if required {
            let body = edited(moved(), pointer, None);
            cases.push(workable(
                &format!("no {field}"),
                to_bytes(&body),
                422,
                "invalid_field",
                format!("{field}: missing"),
            ));
        }
    }
    cases
}
