//! Malformed bodies: not JSON in many ways, JSON whose top level is not an
//! object, Greenhouse without a usable event id.

use super::*;

// ---------------------------------------------------------------------------
// Malformed
// ---------------------------------------------------------------------------

/// How a malformed body is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Broken {
    /// Not JSON (400; Lever 401).
    Syntax,
    /// Not UTF-8 (Greenhouse 400; careers site and Lever 401: Standard
    /// Webhooks signs text, Lever's signature is inside the body).
    NotUtf8,
    /// JSON, but not an object (422 `$`; Lever 401).
    TopLevel,
}

/// Ways to break the valid body `s` (compact JSON object).
pub(super) fn broken_bodies(s: &[u8]) -> Vec<(String, Broken, Vec<u8>)> {
    let rest = &s[1..]; // after the opening brace
    let with_first = |member: &[u8]| [b"{".as_slice(), member, b",", rest].concat();
    let nest = |open: &str, close: &str, n: usize| {
        with_first(format!("\"x\":{}{}", open.repeat(n), close.repeat(n)).as_bytes())
    };
    let mut v: Vec<(String, Broken, Vec<u8>)> = vec![
        ("an empty body".into(), Broken::Syntax, Vec::new()),
        (
            "whitespace only".into(),
            Broken::Syntax,
            b"  \r\n\t ".to_vec(),
        ),
        ("an opening brace".into(), Broken::Syntax, b"{".to_vec()),
        ("a closing brace".into(), Broken::Syntax, b"}".to_vec()),
        (
            "form encoding".into(),
            Broken::Syntax,
            b"type=application.submitted&x=1".to_vec(),
        ),
        (
            "trailing garbage".into(),
            Broken::Syntax,
            [s, b" x"].concat(),
        ),
        (
            "a stray closing brace".into(),
            Broken::Syntax,
            [s, b"}"].concat(),
        ),
        ("two documents".into(), Broken::Syntax, [s, s].concat()),
        ("a trailing NUL".into(), Broken::Syntax, [s, b"\0"].concat()),
        (
            "a byte order mark".into(),
            Broken::Syntax,
            [b"\xef\xbb\xbf".as_slice(), s].concat(),
        ),
        ("NaN".into(), Broken::Syntax, with_first(b"\"x\":NaN")),
        (
            "Infinity".into(),
            Broken::Syntax,
            with_first(b"\"x\":Infinity"),
        ),
        (
            "-Infinity".into(),
            Broken::Syntax,
            with_first(b"\"x\":-Infinity"),
        ),
        (
            "a number out of range".into(),
            Broken::Syntax,
            with_first(b"\"x\":1e400"),
        ),
        (
            "a leading zero".into(),
            Broken::Syntax,
            with_first(b"\"x\":0123"),
        ),
        (
            "a hex number".into(),
            Broken::Syntax,
            with_first(b"\"x\":0x10"),
        ),
        (
            "single quotes".into(),
            Broken::Syntax,
            String::from_utf8_lossy(s).replace('"', "'").into_bytes(),
        ),
        ("an unquoted key".into(), Broken::Syntax, with_first(b"x:1")),
        (
            "a block comment".into(),
            Broken::Syntax,
            [b"/* hi */".as_slice(), s].concat(),
        ),
        (
            "a line comment".into(),
            Broken::Syntax,
            with_first(b"\"x\":1 // hi\n"),
        ),
        (
            "a trailing comma".into(),
            Broken::Syntax,
            [&s[..s.len() - 1], b",}"].concat(),
        ),
        (
            "a missing comma".into(),
            Broken::Syntax,
            with_first(b"\"x\":1 \"y\":2"),
        ),
        (
            "a control character in a string".into(),
            Broken::Syntax,
            with_first(b"\"x\":\"a\x01b\""),
        ),
        (
            "a raw newline in a string".into(),
            Broken::Syntax,
            with_first(b"\"x\":\"a\nb\""),
        ),
        (
            "an invalid escape".into(),
            Broken::Syntax,
            with_first(b"\"x\":\"\\q\""),
        ),
        (
            "a lone surrogate escape".into(),
            Broken::Syntax,
            with_first(b"\"x\":\"\\ud800\""),
        ),
        (
            "an unterminated string".into(),
            Broken::Syntax,
            b"{\"type\":\"application.submitted".to_vec(),
        ),
        (
            "arrays nested 129 deep".into(),
            Broken::Syntax,
            nest("[", "]", 129),
        ),
        (
            "arrays nested 500 deep".into(),
            Broken::Syntax,
            nest("[", "]", 500),
        ),
        (
            "arrays nested 1,500 deep".into(),
            Broken::Syntax,
            nest("[", "]", 1_500),
        ),
        (
            "objects nested 200 deep".into(),
            Broken::Syntax,
            nest("{\"a\":", "}", 200),
        ),
        (
            "an unclosed depth bomb".into(),
            Broken::Syntax,
            b"[".repeat(3_000),
        ),
        (
            "a raw 0xff in a string".into(),
            Broken::NotUtf8,
            with_first(b"\"x\":\"\xff\""),
        ),
        (
            "Latin-1 text".into(),
            Broken::NotUtf8,
            with_first(b"\"x\":\"caf\xe9\""),
        ),
        (
            "a truncated UTF-8 sequence".into(),
            Broken::NotUtf8,
            with_first(b"\"x\":\"\xc3(\""),
        ),
        (
            "an overlong UTF-8 encoding".into(),
            Broken::NotUtf8,
            with_first(b"\"x\":\"\xc0\xaf\""),
        ),
        (
            "a UTF-8 encoded surrogate".into(),
            Broken::NotUtf8,
            with_first(b"\"x\":\"\xed\xa0\x80\""),
        ),
        (
            "UTF-16 with a byte order mark".into(),
            Broken::NotUtf8,
            [
                b"\xff\xfe".as_slice(),
                &s.iter().flat_map(|b| [*b, 0]).collect::<Vec<u8>>(),
            ]
            .concat(),
        ),
        (
            "a top-level array".into(),
            Broken::TopLevel,
            b"[1,2]".to_vec(),
        ),
        (
            "an empty top-level array".into(),
            Broken::TopLevel,
            b"[]".to_vec(),
        ),
        (
            "the object wrapped in an array".into(),
            Broken::TopLevel,
            [b"[".as_slice(), s, b"]"].concat(),
        ),
        (
            "a top-level string".into(),
            Broken::TopLevel,
            b"\"application.submitted\"".to_vec(),
        ),
        (
            "a top-level number".into(),
            Broken::TopLevel,
            b"42".to_vec(),
        ),
        (
            "a top-level boolean".into(),
            Broken::TopLevel,
            b"true".to_vec(),
        ),
        (
            "a top-level null".into(),
            Broken::TopLevel,
            b"null".to_vec(),
        ),
    ];
    let n = s.len();
    let mut offsets = vec![
        1,
        2,
        3,
        5,
        8,
        13,
        21,
        34,
        55,
        89,
        144,
        n / 3,
        n / 2,
        2 * n / 3,
        n - 3,
        n - 2,
        n - 1,
    ];
    offsets.sort_unstable();
    offsets.dedup();
    for at in offsets {
        v.push((
            format!("truncated to {at} of {n} bytes"),
            Broken::Syntax,
            s[..at].to_vec(),
        ));
    }
    v
}

pub(super) fn malformed() -> Vec<Case> {
    let mut cases = Vec::new();
    let careers_bytes = careers_body();
    for (what, broken, body) in broken_bodies(&careers_bytes) {
        cases.push(match broken {
            Broken::Syntax => careers(&what, body, 400, "bad_request", "malformed JSON"),
            Broken::NotUtf8 => careers_raw(
                &format!("{what}, signed over its bytes"),
                body,
                401,
                "not UTF-8",
            ),
            Broken::TopLevel => careers(&what, body, 422, "invalid_field", "$: expected an object"),
        });
    }
    let gh_bytes = gh_body();
    for (what, broken, body) in broken_bodies(&gh_bytes) {
        cases.push(match broken {
            Broken::Syntax | Broken::NotUtf8 => {
                greenhouse(&what, body, 400, "bad_request", "malformed JSON")
            }
            Broken::TopLevel => {
                greenhouse(&what, body, 422, "invalid_field", "$: expected an object")
            }
        });
    }
    let lever_bytes = to_bytes(&lever_event("candidateHired"));
    for (what, broken, body) in broken_bodies(&lever_bytes) {
        // The signature is inside the body: no JSON object, no signature.
        cases.push(match broken {
            Broken::Syntax | Broken::NotUtf8 => {
                lever(&what, body, 401, "unauthorized", "body is not JSON")
            }
            Broken::TopLevel => lever(&what, body, 401, "unauthorized", "not a JSON object"),
        });
    }
    // Ashby's key is read from the body after its signature passed: the
    // body's faults are the authenticated sender's.
    let ashby_bytes = crate::hostile_ashby::valid_body();
    for (what, broken, body) in broken_bodies(&ashby_bytes) {
        cases.push(match broken {
            Broken::Syntax | Broken::NotUtf8 => {
                ashby(&what, body, 400, "bad_request", "malformed JSON")
            }
            Broken::TopLevel => ashby(&what, body, 422, "invalid_field", "$: expected an object"),
        });
    }
    // Workable's key is read from the body after its signature passed, too.
    let workable_bytes = crate::hostile_workable::valid_body();
    for (what, broken, body) in broken_bodies(&workable_bytes) {
        cases.push(match broken {
            Broken::Syntax | Broken::NotUtf8 => {
                workable(&what, body, 400, "bad_request", "malformed JSON")
            }
            Broken::TopLevel => {
                workable(&what, body, 422, "invalid_field", "$: expected an object")
            }
        });
    }
    // SmartRecruiters' envelope is built from the body after its
    // signature passed: the body's faults are the authenticated sender's.
    // Its bodies are short (ids only): indented, so that every truncation
    // offset falls inside one.
    let sr_bytes = crate::hostile_smartrecruiters::indented_body();
    for (what, broken, body) in broken_bodies(&sr_bytes) {
        cases.push(match broken {
            Broken::Syntax | Broken::NotUtf8 => {
                smartrecruiters(&what, body, 400, "bad_request", "malformed JSON")
            }
            Broken::TopLevel => {
                smartrecruiters(&what, body, 422, "invalid_field", "$: expected an object")
            }
        });
    }
    // Greenhouse's delivery id is a header: authentic but unusable without it.
    for (what, value) in [
        ("no Greenhouse-Event-ID", None),
        ("an empty Greenhouse-Event-ID", Some(String::new())),
        ("a whitespace Greenhouse-Event-ID", Some("    ".to_owned())),
        (
            "a Greenhouse-Event-ID of 201 characters",
            Some("e".repeat(201)),
        ),
    ] {
        cases.push(with_headers(
            greenhouse(what, gh_body(), 400, "bad_request", "Greenhouse-Event-ID"),
            |h| match value {
                Some(v) => replace(h, "greenhouse-event-id", &v),
                None => without(h, "greenhouse-event-id"),
            },
        ));
    }
    cases
}
