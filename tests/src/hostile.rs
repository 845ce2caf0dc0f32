//! A table harness for requests the service must refuse: each [`Case`] is
//! sent to the running app and its answer checked for the status, the JSON
//! error body `{"error", "detail"}` (the detail naming the field or the
//! reason), and its trace: a webhook refusal leaves exactly one `rejected`
//! inbox row (the body kept only when the sender was authenticated), an API
//! refusal leaves no inbox row; neither writes an audit event.
//!
//! Shared by `tests/tests/api/intake.rs` (one case per bad-input class) and
//! `tests/tests/api/hostile/` (hundreds, generated).

use std::time::Duration;

use chrono::Utc;
use entities::{
    audit_event,
    inbox::{self, InboxSource, InboxStatus, Verification},
};
use reqwest::Method;
use sea_orm::{EntityTrait, PaginatorTrait, QueryOrder};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{
    app::TestApp,
    fixtures::{
        CAREERS_SITE_SECRET, careers_site_headers, greenhouse_secret, greenhouse_signature,
        lever_signature, lever_signature_token, unique,
    },
};

/// The webhook endpoints.
pub const CAREERS_PATH: &str = "/webhooks/applications";
/// Greenhouse's endpoint.
pub const GREENHOUSE_PATH: &str = "/webhooks/greenhouse";
/// Lever's endpoint.
pub const LEVER_PATH: &str = "/webhooks/lever";
/// Ashby's endpoint.
pub const ASHBY_PATH: &str = "/webhooks/ashby";
/// Workable's endpoint.
pub const WORKABLE_PATH: &str = "/webhooks/workable";
/// SmartRecruiters' endpoint.
pub const SMARTRECRUITERS_PATH: &str = "/webhooks/smartrecruiters";

/// How the body travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// As reqwest sends it: with a `Content-Length` that tells the truth.
    Normal,
    /// `Transfer-Encoding: chunked`, no `Content-Length` (raw TCP).
    Chunked,
    /// A `Content-Length` of this many bytes, whatever the body is (raw TCP;
    /// the connection is closed after the body actually given).
    DeclaredLength(u64),
}

/// What a refusal must leave behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trace {
    /// A webhook delivery: one `rejected` inbox row.
    InboxRow,
    /// An API call: no inbox row.
    Nothing,
}

/// One request that must be refused.
#[derive(Debug, Clone)]
pub struct Case {
    /// What it is, for failure messages.
    pub what: String,
    /// The method (`POST` unless changed).
    pub method: Method,
    /// The path.
    pub path: String,
    /// Every header, in order (duplicates allowed).
    pub headers: Vec<(String, String)>,
    /// The exact body bytes.
    pub body: Vec<u8>,
    /// How the body is framed.
    pub framing: Framing,
    /// The expected status.
    pub status: u16,
    /// The expected `error` code.
    pub error: &'static str,
    /// Text the `detail` must contain (the field, or the reason).
    pub detail: String,
    /// Whether the sender was authenticated (then the body is kept).
    pub authenticated: bool,
    /// What the refusal leaves behind.
    pub trace: Trace,
}

impl Case {
    /// An API request (`trace: Nothing`) with the `error` code that goes
    /// with `status`.
    pub fn api(
        what: impl Into<String>,
        method: Method,
        path: impl Into<String>,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        status: u16,
        detail: impl Into<String>,
    ) -> Self {
        Case {
            what: what.into(),
            method,
            path: path.into(),
            headers,
            body,
            framing: Framing::Normal,
            status,
            error: error_code(status),
            detail: detail.into(),
            authenticated: false,
            trace: Trace::Nothing,
        }
    }

    /// The same case sent with `framing`.
    #[must_use]
    pub fn framed(mut self, framing: Framing) -> Self {
        self.framing = framing;
        self
    }
}

/// The `error` code the service answers with `status`.
///
/// # Panics
/// For a status the service never refuses with.
pub fn error_code(status: u16) -> &'static str {
    match status {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        409 => "conflict",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        422 => "invalid_field",
        other => panic!("no error code for {other}"),
    }
}

/// A `content-type` header.
pub fn ct(value: &str) -> (String, String) {
    ("content-type".into(), value.into())
}

/// `v` serialised compactly.
///
/// # Panics
/// Never for a `Value`.
pub fn to_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("serialise")
}

/// `body` padded with trailing spaces (still valid JSON) to `len` bytes.
pub fn padded(mut body: Vec<u8>, len: usize) -> Vec<u8> {
    body.resize(len, b' ');
    body
}

fn webhook_case(
    what: String,
    path: &str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    status: u16,
    error: &'static str,
    detail: String,
) -> Case {
    Case {
        what,
        method: Method::POST,
        path: path.to_owned(),
        headers,
        body,
        framing: Framing::Normal,
        status,
        error,
        detail,
        authenticated: status != 401 && status != 413 && status != 415,
        trace: Trace::InboxRow,
    }
}

/// A careers-site delivery of `body`, signed now under a fresh webhook-id.
pub fn careers(
    what: &str,
    body: Vec<u8>,
    status: u16,
    error: &'static str,
    detail: impl Into<String>,
) -> Case {
    let mut headers = careers_site_headers(
        CAREERS_SITE_SECRET,
        &unique("msg_"),
        Utc::now().timestamp(),
        &body,
    );
    headers.push(ct("application/json"));
    webhook_case(
        format!("careers site: {what}"),
        CAREERS_PATH,
        headers,
        body,
        status,
        error,
        detail.into(),
    )
}

/// A Greenhouse delivery of `body`, signed with the samples' secret under a
/// fresh `Greenhouse-Event-ID`.
pub fn greenhouse(
    what: &str,
    body: Vec<u8>,
    status: u16,
    error: &'static str,
    detail: impl Into<String>,
) -> Case {
    let headers = vec![
        ct("application/json"),
        ("greenhouse-event-id".into(), unique("ev-")),
        (
            "signature".into(),
            greenhouse_signature(&greenhouse_secret(), &body),
        ),
    ];
    webhook_case(
        format!("greenhouse: {what}"),
        GREENHOUSE_PATH,
        headers,
        body,
        status,
        error,
        detail.into(),
    )
}

/// A Lever envelope for `data`, signed over a fresh token and `triggered_at`
/// (epoch milliseconds); without `event` when `event` is `None`.
pub fn lever_envelope(event: Option<Value>, data: Value, triggered_at: i64) -> Value {
    let token = unique("tok");
    let mut body = json!({
        "triggeredAt": triggered_at,
        "data": data,
        "signature": lever_signature(&lever_signature_token(), &token, triggered_at),
        "token": token,
    });
    if let Some(e) = event {
        body["event"] = e;
    }
    body
}

/// A Lever delivery of `body` (the signature, if any, is inside it).
pub fn lever(
    what: &str,
    body: Vec<u8>,
    status: u16,
    error: &'static str,
    detail: impl Into<String>,
) -> Case {
    webhook_case(
        format!("lever: {what}"),
        LEVER_PATH,
        vec![ct("application/json")],
        body,
        status,
        error,
        detail.into(),
    )
}

/// An Ashby delivery of `body`, signed (`Ashby-Signature: sha256=<hex>`)
/// with the samples' secret.
pub fn ashby(
    what: &str,
    body: Vec<u8>,
    status: u16,
    error: &'static str,
    detail: impl Into<String>,
) -> Case {
    webhook_case(
        format!("ashby: {what}"),
        ASHBY_PATH,
        crate::ashby::ashby_headers(&body),
        body,
        status,
        error,
        detail.into(),
    )
}

/// A Workable delivery of `body`, signed (`X-Workable-Signature: <hex>`)
/// with the tests' secret.
pub fn workable(
    what: &str,
    body: Vec<u8>,
    status: u16,
    error: &'static str,
    detail: impl Into<String>,
) -> Case {
    use crate::vendors::workable::{WORKABLE_SECRET, workable_signature};
    let headers = vec![
        ct("application/json"),
        (
            "x-workable-signature".to_owned(),
            workable_signature(WORKABLE_SECRET, &body),
        ),
    ];
    webhook_case(
        format!("workable: {what}"),
        WORKABLE_PATH,
        headers,
        body,
        status,
        error,
        detail.into(),
    )
}

/// A SmartRecruiters notification with body `body`
/// (`application.status.updated`, a fresh event id, sent now), signed
/// (`smartrecruiters-signature: v1=<hex>`) with the tests' key.
pub fn smartrecruiters(
    what: &str,
    body: Vec<u8>,
    status: u16,
    error: &'static str,
    detail: impl Into<String>,
) -> Case {
    use crate::vendors::smartrecruiters::{SR_SECRET, SrNotification};
    let mut n = SrNotification::application("application.status.updated", "c", "j");
    n.body = body;
    webhook_case(
        format!("smartrecruiters: {what}"),
        SMARTRECRUITERS_PATH,
        n.headers(SR_SECRET),
        n.body,
        status,
        error,
        detail.into(),
    )
}

/// `case` with its headers edited by `f`.
pub fn with_headers(mut case: Case, f: impl FnOnce(&mut Vec<(String, String)>)) -> Case {
    f(&mut case.headers);
    case
}

/// Removes every header `name` (any case).
pub fn without(headers: &mut Vec<(String, String)>, name: &str) {
    headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
}

/// Replaces every header `name` with one `name: value`.
pub fn replace(headers: &mut Vec<(String, String)>, name: &str, value: &str) {
    without(headers, name);
    headers.push((name.to_owned(), value.to_owned()));
}

/// The value of header `name` (any case), if present.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The newest inbox row.
///
/// # Panics
/// On a database error.
pub async fn newest_inbox(app: &TestApp) -> Option<inbox::Model> {
    inbox::Entity::find()
        .order_by_desc(inbox::Column::Id)
        .one(&app.state.db)
        .await
        .expect("read the inbox")
}

async fn inbox_count(app: &TestApp) -> u64 {
    inbox::Entity::find()
        .count(&app.state.db)
        .await
        .expect("count the inbox")
}

async fn audit_count(app: &TestApp) -> u64 {
    audit_event::Entity::find()
        .count(&app.state.db)
        .await
        .expect("count audit events")
}

/// What came back.
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The `content-type`, if any.
    pub content_type: Option<String>,
    /// The body as text.
    pub body: String,
}

/// Sends `case` and reads the answer.
///
/// # Panics
/// If no answer arrives.
pub async fn send(app: &TestApp, case: &Case) -> Answer {
    match case.framing {
        Framing::Normal => {
            let mut req = app
                .client
                .request(case.method.clone(), app.url(&case.path))
                .body(case.body.clone());
            for (k, v) in &case.headers {
                req = req.header(k.as_str(), v.as_str());
            }
            let response = req
                .send()
                .await
                .unwrap_or_else(|e| panic!("{}: {} {}: {e}", case.what, case.method, case.path));
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = response.text().await.unwrap_or_default();
            Answer {
                status,
                content_type,
                body,
            }
        }
        Framing::Chunked | Framing::DeclaredLength(_) => send_raw(app, case).await,
    }
}

/// Sends `case` over a plain TCP connection, framing the body itself.
async fn send_raw(app: &TestApp, case: &Case) -> Answer {
    let mut stream = tokio::net::TcpStream::connect(app.address)
        .await
        .expect("connect to the app");
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        case.method, case.path, app.address
    );
    for (k, v) in &case.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    match case.framing {
        Framing::Chunked => head.push_str("Transfer-Encoding: chunked\r\n"),
        Framing::DeclaredLength(n) => head.push_str(&format!("Content-Length: {n}\r\n")),
        Framing::Normal => unreachable!("sent by reqwest"),
    }
    head.push_str("\r\n");
    // The server may answer and close before it has read everything: a
    // failed write is not a failure of the case.
    let mut open = stream.write_all(head.as_bytes()).await.is_ok();
    match case.framing {
        Framing::Chunked => {
            for chunk in case.body.chunks(1024) {
                let frame = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
                if !open || stream.write_all(&frame).await.is_err() {
                    open = false;
                    break;
                }
            }
            if open {
                let _ = stream.write_all(b"0\r\n\r\n").await;
            }
        }
        _ => {
            if open {
                let _ = stream.write_all(&case.body).await;
            }
            // Tell the server no more is coming (it may still be waiting
            // for the declared length).
            let _ = stream.shutdown().await;
        }
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    parse_raw_answer(&answer)
}

fn parse_raw_answer(raw: &[u8]) -> Answer {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut content_type = None;
    let mut chunked = false;
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            let (k, v) = (k.trim(), v.trim());
            if k.eq_ignore_ascii_case("content-type") {
                content_type = Some(v.to_owned());
            }
            if k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
        }
    }
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Answer {
        status,
        content_type,
        body,
    }
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

fn expected_source(path: &str) -> Option<InboxSource> {
    match path {
        CAREERS_PATH => Some(InboxSource::CareersSite),
        GREENHOUSE_PATH => Some(InboxSource::Greenhouse),
        LEVER_PATH => Some(InboxSource::Lever),
        ASHBY_PATH => Some(InboxSource::Ashby),
        WORKABLE_PATH => Some(InboxSource::Workable),
        SMARTRECRUITERS_PATH => Some(InboxSource::SmartRecruiters),
        _ => None,
    }
}

/// Sends one case and says what was wrong with the answer and its trace
/// (empty when nothing was).
pub async fn check(app: &TestApp, case: &Case) -> Vec<String> {
    let inbox_before = inbox_count(app).await;
    let audit_before = audit_count(app).await;
    let answer = send(app, case).await;
    let body: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
    let is_json = answer
        .content_type
        .as_deref()
        .is_some_and(|v| v.starts_with("application/json"));
    let detail = body["detail"].as_str().unwrap_or_default();
    let mut problems = Vec::new();
    if answer.status != case.status {
        problems.push(format!(
            "status {}, expected {}",
            answer.status, case.status
        ));
    }
    if !is_json || body["error"] != case.error {
        problems.push(format!(
            "error {} ({}), expected {}",
            body["error"],
            answer.content_type.as_deref().unwrap_or("no content type"),
            case.error
        ));
    }
    if !body["detail"].is_string() || !detail.contains(case.detail.as_str()) {
        problems.push(format!("detail does not name {:?}", case.detail));
    }
    if body.as_object().is_some_and(|o| o.len() != 2) {
        problems.push("the error body has other keys than error and detail".into());
    }
    let inbox_after = inbox_count(app).await;
    match case.trace {
        Trace::Nothing => {
            if inbox_after != inbox_before {
                problems.push(format!(
                    "{} new inbox rows for an API call",
                    inbox_after - inbox_before
                ));
            }
        }
        Trace::InboxRow if inbox_after != inbox_before + 1 => {
            problems.push(format!(
                "{} new inbox rows, expected 1",
                inbox_after.saturating_sub(inbox_before)
            ));
        }
        Trace::InboxRow => {
            let row = newest_inbox(app).await.expect("the new inbox row");
            if row.status != InboxStatus::Rejected {
                problems.push(format!("inbox status {:?}", row.status));
            }
            if expected_source(&case.path).is_some_and(|s| s != row.source) {
                problems.push(format!("inbox source {:?}", row.source));
            }
            if i32::from(case.status) != row.http_status {
                problems.push(format!("inbox http_status {}", row.http_status));
            }
            if row.job_id.is_some() {
                problems.push("a rejected row has a job".into());
            }
            if row.error.as_deref().is_none_or(str::is_empty) {
                problems.push("no error recorded".into());
            }
            let (want_body, want_verification) = if case.authenticated {
                (Some(case.body.as_slice()), Verification::Verified)
            } else {
                (None, Verification::Failed)
            };
            if row.raw_body.as_deref() != want_body {
                problems.push(format!(
                    "raw_body {} (authenticated: {})",
                    if row.raw_body.is_some() {
                        "kept"
                    } else {
                        "dropped"
                    },
                    case.authenticated
                ));
            }
            if row.verification != want_verification {
                problems.push(format!("verification {:?}", row.verification));
            }
        }
    }
    let audit_after = audit_count(app).await;
    if audit_after != audit_before {
        problems.push(format!(
            "{} new audit events",
            audit_after.saturating_sub(audit_before)
        ));
    }
    if problems.is_empty() {
        Vec::new()
    } else {
        let mut shown = answer.body;
        if shown.len() > 300 {
            let mut end = 300;
            while !shown.is_char_boundary(end) {
                end -= 1;
            }
            shown.truncate(end);
        }
        vec![format!(
            "{}: {} (answer: {} {shown})",
            case.what,
            problems.join("; "),
            answer.status
        )]
    }
}

/// Sends every case in order and returns one line per mishandled case.
pub async fn run(app: &TestApp, cases: &[Case]) -> Vec<String> {
    let mut failures = Vec::new();
    for case in cases {
        failures.extend(check(app, case).await);
    }
    failures
}

/// Sends every case in order, gives the workers a moment to do anything
/// they (wrongly) might, and asserts that every case was refused as
/// expected.
///
/// # Panics
/// Listing every mishandled case.
pub async fn assert_all_refused(app: &TestApp, cases: &[Case]) {
    let failures = run(app, cases).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        failures.is_empty(),
        "{} of {} bad inputs mishandled:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
