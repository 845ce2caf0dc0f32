//! Oversized bodies (413) and wrong media types (415) on every webhook.

use super::*;

// ---------------------------------------------------------------------------
// Oversized and wrong media types (webhooks)
// ---------------------------------------------------------------------------

/// Webhook constructors: a careers-site, a Greenhouse, a Lever and an
/// Ashby case for `body` (fresh and signed, where it can be).
pub(super) fn each_webhook(
    what: &str,
    status: u16,
    detail: &str,
    body: &dyn Fn(&str) -> Vec<u8>,
) -> Vec<Case> {
    let error = hostile::error_code(status);
    vec![
        careers(what, body(CAREERS_PATH), status, error, detail),
        greenhouse(what, body(hostile::GREENHOUSE_PATH), status, error, detail),
        lever(what, body(hostile::LEVER_PATH), status, error, detail),
        ashby(what, body(hostile::ASHBY_PATH), status, error, detail),
        workable(what, body(hostile::WORKABLE_PATH), status, error, detail),
        smartrecruiters(
            what,
            body(hostile::SMARTRECRUITERS_PATH),
            status,
            error,
            detail,
        ),
    ]
}

/// A fresh valid body for webhook `path`.
pub(super) fn valid_body(path: &str) -> Vec<u8> {
    match path {
        CAREERS_PATH => careers_body(),
        hostile::GREENHOUSE_PATH => gh_body(),
        hostile::ASHBY_PATH => crate::hostile_ashby::valid_body(),
        hostile::WORKABLE_PATH => crate::hostile_workable::valid_body(),
        hostile::SMARTRECRUITERS_PATH => crate::hostile_smartrecruiters::valid_body(),
        _ => to_bytes(&lever_event("candidateHired")),
    }
}

pub(super) fn oversized() -> Vec<Case> {
    let limit = limit_detail();
    let mut cases = Vec::new();
    for (what, len) in [
        ("one byte over the limit", LIMIT + 1),
        ("twice the limit", 2 * LIMIT),
        ("256 KiB", 256 * 1024),
    ] {
        cases.extend(each_webhook(what, 413, &limit, &|p| {
            padded(valid_body(p), len)
        }));
    }
    for (what, len) in [
        ("chunked, one byte over", LIMIT + 1),
        ("chunked, four times the limit", 4 * LIMIT),
    ] {
        cases.extend(
            each_webhook(what, 413, &limit, &|p| padded(valid_body(p), len))
                .into_iter()
                .map(|c| c.framed(Framing::Chunked)),
        );
    }
    for (what, declared) in [
        (
            "a small body declared one byte over the limit",
            LIMIT as u64 + 1,
        ),
        ("a small body declared a terabyte", 1_000_000_000_000),
    ] {
        cases.extend(
            each_webhook(what, 413, &limit, &valid_body)
                .into_iter()
                .map(|c| c.framed(Framing::DeclaredLength(declared))),
        );
    }
    // 413 comes before 415, 401 and 400.
    cases.extend(
        each_webhook("over the limit and text/plain", 413, &limit, &|p| {
            padded(valid_body(p), LIMIT + 1)
        })
        .into_iter()
        .map(|c| with_headers(c, |h| replace(h, "content-type", "text/plain"))),
    );
    cases.extend(
        each_webhook("over the limit and unsigned", 413, &limit, &|p| {
            padded(valid_body(p), LIMIT + 1)
        })
        .into_iter()
        .map(|c| {
            with_headers(c, |h| {
                for name in [
                    "webhook-id",
                    "webhook-timestamp",
                    "webhook-signature",
                    "signature",
                    "ashby-signature",
                ] {
                    without(h, name);
                }
            })
        }),
    );
    cases.extend(each_webhook(
        "over the limit and not JSON",
        413,
        &limit,
        &|_| vec![b'{'; LIMIT + 1],
    ));
    cases
}

/// Media types other than `application/json`. Only the essence is checked
/// (`http/body.rs`, `require_json`), case-insensitively, so
/// `application/json; charset=latin1` and `APPLICATION/JSON` are accepted
/// and are not in this table.
pub(super) fn wrong_media_type() -> Vec<Case> {
    let mut cases = Vec::new();
    for content_type in [
        Some("text/plain"),
        Some("text/plain; charset=utf-8"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/xml"),
        Some("text/json"),
        Some("application/jsonp"),
        Some("application/json-patch+json"),
        Some("application/vnd.api+json"),
        Some("application/octet-stream"),
        Some("json"),
        Some("application/*"),
        Some("*/*"),
        Some(""),
        None,
    ] {
        let what = match content_type {
            Some("") => "an empty Content-Type".to_owned(),
            Some(t) => format!("Content-Type {t}"),
            None => "no Content-Type".to_owned(),
        };
        cases.extend(
            each_webhook(&what, 415, "application/json", &valid_body)
                .into_iter()
                .map(|c| {
                    with_headers(c, |h| match content_type {
                        Some(t) => replace(h, "content-type", t),
                        None => without(h, "content-type"),
                    })
                }),
        );
    }
    cases.extend(
        each_webhook(
            "text/plain before application/json",
            415,
            "application/json",
            &valid_body,
        )
        .into_iter()
        .map(|c| {
            with_headers(c, |h| {
                without(h, "content-type");
                h.push(ct("text/plain"));
                h.push(ct("application/json"));
            })
        }),
    );
    // 415 comes before 401 and 400.
    cases.extend(
        each_webhook(
            "text/plain and unsigned",
            415,
            "application/json",
            &valid_body,
        )
        .into_iter()
        .map(|c| {
            with_headers(c, |h| {
                for name in [
                    "webhook-id",
                    "webhook-timestamp",
                    "webhook-signature",
                    "signature",
                    "ashby-signature",
                ] {
                    without(h, name);
                }
                replace(h, "content-type", "text/plain");
            })
        }),
    );
    cases.extend(
        each_webhook("text/plain and not JSON", 415, "application/json", &|_| {
            b"not json".to_vec()
        })
        .into_iter()
        .map(|c| with_headers(c, |h| replace(h, "content-type", "text/plain"))),
    );
    cases
}
