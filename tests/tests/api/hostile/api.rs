//! The JSON API: tokens, bodies, fields, sizes, media types and ids in
//! paths.

use super::*;

// ---------------------------------------------------------------------------
// The JSON API
// ---------------------------------------------------------------------------

/// One API route under test: a request it would accept (or answer 404 to,
/// for an id that names nothing) with `token`.
pub(super) struct Route {
    name: &'static str,
    method: Method,
    path: String,
    token: &'static str,
    body: Option<Value>,
    other_tokens: Vec<(&'static str, &'static str)>,
    scope: &'static str,
}

pub(super) fn bearer(token: &str) -> (String, String) {
    ("authorization".into(), format!("Bearer {token}"))
}

impl Route {
    fn headers(&self, authorization: Option<String>) -> Vec<(String, String)> {
        let mut h = Vec::new();
        if self.body.is_some() {
            h.push(ct("application/json"));
        }
        if let Some(a) = authorization {
            h.push(("authorization".into(), a));
        }
        h
    }

    fn body_bytes(&self) -> Vec<u8> {
        self.body.as_ref().map(to_bytes).unwrap_or_default()
    }

    fn case(
        &self,
        what: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        status: u16,
        detail: &str,
    ) -> Case {
        Case::api(
            format!("{} {}: {what}", self.method, self.name),
            self.method.clone(),
            self.path.clone(),
            headers,
            body,
            status,
            detail,
        )
    }

    /// With the right token, `body`.
    fn with_body(&self, what: &str, body: Vec<u8>, status: u16, detail: &str) -> Case {
        self.case(
            what,
            self.headers(Some(format!("Bearer {}", self.token))),
            body,
            status,
            detail,
        )
    }

    fn auth_cases(&self) -> Vec<Case> {
        let token = self.token;
        let body = |r: &Route| r.body_bytes();
        let scheme = "Authorization must be `Bearer <token>`";
        let mut cases = vec![
            self.case(
                "no Authorization",
                self.headers(None),
                body(self),
                401,
                "missing bearer token",
            ),
            self.case(
                "Basic credentials",
                self.headers(Some("Basic dXNlcjpwYXNz".into())),
                body(self),
                401,
                scheme,
            ),
            self.case(
                "the token without a scheme",
                self.headers(Some(token.into())),
                body(self),
                401,
                scheme,
            ),
            self.case(
                "scheme Token",
                self.headers(Some(format!("Token {token}"))),
                body(self),
                401,
                scheme,
            ),
            self.case(
                "Bearer without a token",
                self.headers(Some("Bearer".into())),
                body(self),
                401,
                scheme,
            ),
            self.case(
                "Bearer and spaces",
                self.headers(Some("Bearer    ".into())),
                body(self),
                401,
                scheme,
            ),
            self.case(
                "an empty Authorization",
                self.headers(Some(String::new())),
                body(self),
                401,
                scheme,
            ),
            self.case(
                "an unknown token",
                self.headers(Some("Bearer not-a-token".into())),
                body(self),
                403,
                "unknown token",
            ),
            self.case(
                "the token with a byte more",
                self.headers(Some(format!("Bearer {token}x"))),
                body(self),
                403,
                "unknown token",
            ),
            self.case(
                "the token with a byte less",
                self.headers(Some(format!("Bearer {}", &token[..token.len() - 1]))),
                body(self),
                403,
                "unknown token",
            ),
            self.case(
                "the token upper-cased",
                self.headers(Some(format!("Bearer {}", token.to_uppercase()))),
                body(self),
                403,
                "unknown token",
            ),
            {
                let mut h = self.headers(Some("Bearer not-a-token".into()));
                h.push(bearer(token));
                self.case(
                    "an unknown token before the right one",
                    h,
                    body(self),
                    403,
                    "unknown token",
                )
            },
        ];
        for (name, other) in &self.other_tokens {
            cases.push(self.case(
                &format!("the {name} token (no {} scope)", self.scope),
                self.headers(Some(format!("Bearer {other}"))),
                body(self),
                403,
                &format!("lacks the {} scope", self.scope),
            ));
        }
        cases
    }

    /// Bodies that are not JSON; `field` is a field the route reads.
    fn malformed_cases(&self, field: &str, empty_is_valid: bool) -> Vec<Case> {
        let valid = self.body_bytes();
        let mut bodies: Vec<(&str, Vec<u8>)> = vec![
            ("an opening brace", b"{".to_vec()),
            (
                "a key and no value",
                format!("{{\"{field}\": ").into_bytes(),
            ),
            ("text", b"not json".to_vec()),
            ("trailing garbage", [valid.as_slice(), b" x"].concat()),
            ("two documents", [valid.as_slice(), &valid].concat()),
            (
                "a byte order mark",
                [b"\xef\xbb\xbf".as_slice(), &valid].concat(),
            ),
            ("NaN", format!("{{\"{field}\": NaN}}").into_bytes()),
            ("single quotes", format!("{{'{field}': 'x'}}").into_bytes()),
            (
                "invalid UTF-8 in a string",
                [format!("{{\"{field}\": \"").as_bytes(), b"\xff\"}"].concat(),
            ),
            (
                "a control character in a string",
                format!("{{\"{field}\": \"a\u{1}b\"}}").into_bytes(),
            ),
            (
                "a lone surrogate escape",
                format!("{{\"{field}\": \"\\ud800\"}}").into_bytes(),
            ),
            (
                "a trailing comma",
                [&valid[..valid.len() - 1], b",}"].concat(),
            ),
            ("truncated in half", valid[..valid.len() / 2].to_vec()),
        ];
        if !empty_is_valid {
            bodies.push(("an empty body", Vec::new()));
        }
        bodies
            .into_iter()
            .map(|(what, b)| {
                self.with_body(&format!("malformed JSON: {what}"), b, 400, "malformed JSON")
            })
            .collect()
    }

    /// `(what, body)` with a field mistyped, missing or unknown: 422 naming it.
    fn invalid_cases(&self, cases: Vec<(String, Value, String)>) -> Vec<Case> {
        cases
            .into_iter()
            .map(|(what, body, detail)| self.with_body(&what, to_bytes(&body), 422, &detail))
            .collect()
    }

    /// Every wrong JSON type for `field`, which serde reads as `expected`.
    fn mistyped(&self, field: &str, values: &[Value]) -> Vec<(String, Value, String)> {
        let base = self.body.clone().expect("a JSON body");
        values
            .iter()
            .map(|v| {
                (
                    format!("{field} is {v}"),
                    edited(&base, &format!("/{field}"), Some(v.clone())),
                    format!("{field}: "),
                )
            })
            .collect()
    }

    fn missing(&self, field: &str) -> (String, Value, String) {
        let base = self.body.clone().expect("a JSON body");
        (
            format!("no {field}"),
            edited(&base, &format!("/{field}"), None),
            format!("{field}: missing field"),
        )
    }

    fn unknown_field(&self) -> (String, Value, String) {
        let base = self.body.clone().expect("a JSON body");
        (
            "an unknown field".into(),
            edited(&base, "/department", Some(json!("Engineering"))),
            "unknown field `department`".into(),
        )
    }

    fn top_level(&self) -> Vec<(String, Value, String)> {
        [json!([]), json!("x"), json!(42), Value::Null]
            .into_iter()
            .map(|v| (format!("a top-level {v}"), v, "invalid".to_owned()))
            .collect()
    }

    fn oversized_cases(&self) -> Vec<Case> {
        let big = padded(self.body_bytes(), LIMIT + 1);
        let limit = limit_detail();
        vec![
            self.with_body("one byte over the limit", big.clone(), 413, &limit),
            self.with_body(
                "chunked, over the limit",
                padded(big.clone(), 3 * LIMIT),
                413,
                &limit,
            )
            .framed(Framing::Chunked),
            self.with_body(
                "a small body declared over the limit",
                self.body_bytes(),
                413,
                &limit,
            )
            .framed(Framing::DeclaredLength(LIMIT as u64 + 1)),
        ]
    }

    fn media_cases(&self) -> Vec<Case> {
        [
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("application/xml"),
            Some("text/json"),
            None,
        ]
        .into_iter()
        .map(|t| {
            let mut c = self.with_body(
                &format!("Content-Type {}", t.unwrap_or("missing")),
                self.body_bytes(),
                415,
                "application/json",
            );
            match t {
                Some(t) => replace(&mut c.headers, "content-type", t),
                None => without(&mut c.headers, "content-type"),
            }
            c
        })
        .collect()
    }
}

pub(super) fn routes(link: &str) -> [Route; 5] {
    [
        Route {
            name: "/api/employees",
            method: Method::POST,
            path: "/api/employees".into(),
            token: tokens::EMPLOYEES,
            body: Some(
                json!({ "employee_id": "E-HOSTILE-NEW", "email": "new.hostile@acme-example.com", "name": "New Hostile", "active": true }),
            ),
            other_tokens: vec![
                ("links", tokens::LINKS),
                ("ops", tokens::OPS),
                ("hires", HIRES),
            ],
            scope: "employees",
        },
        Route {
            name: "/api/referral-links",
            method: Method::POST,
            path: "/api/referral-links".into(),
            token: tokens::LINKS,
            body: Some(
                json!({ "employee_id": ACTIVE, "job_id": "J-HOSTILE", "expires_in": "30days" }),
            ),
            other_tokens: vec![
                ("employees", tokens::EMPLOYEES),
                ("ops", tokens::OPS),
                ("hires", HIRES),
            ],
            scope: "links",
        },
        Route {
            name: "/api/referral-links/{token}",
            method: Method::DELETE,
            path: format!("/api/referral-links/{link}"),
            token: tokens::LINKS,
            body: None,
            other_tokens: vec![
                ("employees", tokens::EMPLOYEES),
                ("ops", tokens::OPS),
                ("hires", HIRES),
            ],
            scope: "links",
        },
        Route {
            name: "/api/hires/{id}/terminated",
            method: Method::POST,
            path: format!("/api/hires/{NO_APPLICATION}/terminated"),
            token: HIRES,
            body: Some(json!({ "reason": "left the company" })),
            other_tokens: vec![
                ("links", tokens::LINKS),
                ("employees", tokens::EMPLOYEES),
                ("ops", tokens::OPS),
            ],
            scope: "hires",
        },
        Route {
            name: "/api/payouts/{id}/approve",
            method: Method::POST,
            path: format!("/api/payouts/{NO_PAYOUT}/approve"),
            token: tokens::OPS,
            body: Some(json!({ "reason": "checked with finance" })),
            other_tokens: vec![
                ("links", tokens::LINKS),
                ("employees", tokens::EMPLOYEES),
                ("hires", HIRES),
            ],
            scope: "ops_admin",
        },
    ]
}

pub(super) fn api(link: &str) -> Vec<Case> {
    let [employees, links, revoke, terminated, approve] = routes(link);
    let mut cases = Vec::new();
    for route in [&employees, &links, &revoke, &terminated, &approve] {
        cases.extend(route.auth_cases());
    }

    // POST /api/employees
    cases.extend(employees.malformed_cases("employee_id", false));
    let mut invalid = Vec::new();
    let strings = [json!(5), json!(true), json!([]), json!({}), Value::Null];
    for field in ["employee_id", "email", "name"] {
        invalid.extend(employees.mistyped(field, &strings));
        invalid.push(employees.missing(field));
    }
    invalid.extend(employees.mistyped(
        "active",
        &[json!("yes"), json!(1), json!([]), json!({}), Value::Null],
    ));
    invalid.push(employees.unknown_field());
    invalid.extend(employees.top_level());
    let base = employees.body.clone().unwrap();
    for (what, pointer, value, detail) in [
        (
            "an empty employee_id",
            "/employee_id",
            json!(""),
            "employee_id: ",
        ),
        (
            "a blank employee_id",
            "/employee_id",
            json!("   "),
            "employee_id: ",
        ),
        (
            "an employee_id of 65 characters",
            "/employee_id",
            json!("E".repeat(65)),
            "employee_id: ",
        ),
        ("an empty name", "/name", json!(""), "name: "),
        ("a blank name", "/name", json!("  "), "name: "),
        (
            "an email without @",
            "/email",
            json!("not-an-email"),
            "email: ",
        ),
        ("an empty email", "/email", json!(""), "email: "),
    ] {
        invalid.push((
            what.to_owned(),
            edited(&base, pointer, Some(value)),
            detail.to_owned(),
        ));
    }
    cases.extend(employees.invalid_cases(invalid));
    cases.extend(employees.oversized_cases());
    cases.extend(employees.media_cases());

    // POST /api/referral-links
    cases.extend(links.malformed_cases("employee_id", false));
    let mut invalid = Vec::new();
    for field in ["employee_id", "job_id"] {
        invalid.extend(links.mistyped(field, &strings));
        invalid.push(links.missing(field));
    }
    invalid.extend(links.mistyped(
        "expires_in",
        &[
            json!(true),
            json!([]),
            json!({}),
            json!(-5),
            json!(0),
            json!(1.5),
            json!(1e20),
            json!(157_680_001),
            json!("soon"),
            json!("0s"),
            json!("10years"),
            json!(""),
        ],
    ));
    invalid.push(links.unknown_field());
    invalid.extend(links.top_level());
    let base = links.body.clone().unwrap();
    for (what, pointer, value, detail) in [
        (
            "an unknown employee",
            "/employee_id",
            json!("E-NOBODY"),
            "employee_id: no such employee",
        ),
        (
            "an inactive employee",
            "/employee_id",
            json!(INACTIVE),
            "employee_id: employee is not active",
        ),
        (
            "an empty employee_id",
            "/employee_id",
            json!(""),
            "employee_id: ",
        ),
        ("an empty job_id", "/job_id", json!(""), "job_id: "),
        ("a blank job_id", "/job_id", json!("   "), "job_id: "),
        (
            "a job_id of 129 characters",
            "/job_id",
            json!("J".repeat(129)),
            "job_id: ",
        ),
        // A dot segment would drop the job from the share URL.
        (
            "a job_id of .",
            "/job_id",
            json!("."),
            "job_id: must not be",
        ),
        (
            "a job_id of ..",
            "/job_id",
            json!(" .. "),
            "job_id: must not be",
        ),
    ] {
        invalid.push((
            what.to_owned(),
            edited(&base, pointer, Some(value)),
            detail.to_owned(),
        ));
    }
    cases.extend(links.invalid_cases(invalid));
    cases.extend(links.oversized_cases());
    cases.extend(links.media_cases());

    // DELETE /api/referral-links/{token}: tokens that name no link.
    for (what, token) in [
        (
            "a token that was never minted",
            "rt_DOESNOTEXIST01".to_owned(),
        ),
        ("a short token", "x".to_owned()),
        ("the link's token with a byte more", format!("{link}x")),
        ("the link's token upper-cased", link.to_uppercase()),
        (
            "an encoded path traversal",
            "..%2F..%2Fapi%2Femployees".to_owned(),
        ),
        ("an encoded NUL", "rt_%00".to_owned()),
    ] {
        let mut c = revoke.with_body(what, Vec::new(), 404, "not found");
        c.path = format!("/api/referral-links/{token}");
        cases.push(c);
    }
    {
        let mut c = revoke.with_body("no token in the path", Vec::new(), 404, "no route");
        c.path = "/api/referral-links/".into();
        cases.push(c);
    }

    // POST /api/hires/{id}/terminated (an empty body is allowed)
    cases.extend(terminated.malformed_cases("reason", true));
    let mut invalid = terminated.mistyped("reason", &[json!(5), json!(true), json!([]), json!({})]);
    invalid.push(terminated.unknown_field());
    // (`[]` is a valid `Termination` in serde's sequence form.)
    invalid.extend(terminated.top_level().into_iter().skip(1));
    cases.extend(terminated.invalid_cases(invalid));
    cases.extend(terminated.oversized_cases());
    cases.extend(
        terminated
            .media_cases()
            .into_iter()
            .filter(|c| !c.body.is_empty()),
    );
    cases.push(terminated.with_body(
        "an application that does not exist",
        Vec::new(),
        404,
        "not found",
    ));

    // POST /api/payouts/{id}/approve
    cases.extend(approve.malformed_cases("reason", false));
    let mut invalid = approve.mistyped(
        "reason",
        &[json!(5), json!(true), json!([]), json!({}), Value::Null],
    );
    invalid.push(approve.missing("reason"));
    invalid.push((
        "an empty reason".into(),
        json!({ "reason": "" }),
        "reason: must not be empty".into(),
    ));
    invalid.push((
        "a blank reason".into(),
        json!({ "reason": "   " }),
        "reason: must not be empty".into(),
    ));
    invalid.push(approve.unknown_field());
    invalid.extend(approve.top_level());
    cases.extend(approve.invalid_cases(invalid));
    cases.extend(approve.oversized_cases());
    cases.extend(approve.media_cases());
    cases.push(approve.with_body(
        "a payout that does not exist",
        approve.body_bytes(),
        404,
        "not found",
    ));

    // Ids in paths: authentication comes first; a number that names nothing
    // is a 404. (Ids that are not numbers: `non_numeric_ids`.)
    for (route, template) in [
        (&terminated, "/api/hires/{}/terminated"),
        (&approve, "/api/payouts/{}/approve"),
    ] {
        for id in ["-1", "0", "9223372036854775807"] {
            let mut c = route.with_body(&format!("id {id}"), route.body_bytes(), 404, "not found");
            c.path = template.replace("{}", id);
            cases.push(c);
        }
        let mut c = route.case(
            "id \"abc\" and no token",
            route.headers(None),
            route.body_bytes(),
            401,
            "missing bearer token",
        );
        c.path = template.replace("{}", "abc");
        cases.push(c);
    }
    cases
}

/// Ids in paths that are not numbers, with the right token: 400, as JSON
/// like every error ("Every error body is `{"error": …, "detail": …}`").
pub(super) fn non_numeric_ids() -> Vec<Case> {
    let routes: [(&str, Method, &str, &str, Option<Value>); 5] = [
        (
            "/api/hires/{}/terminated",
            Method::POST,
            HIRES,
            "hires",
            Some(json!({ "reason": "left" })),
        ),
        (
            "/api/payouts/{}/approve",
            Method::POST,
            tokens::OPS,
            "ops_admin",
            Some(json!({ "reason": "ok" })),
        ),
        (
            "/api/payouts/{}/hold",
            Method::POST,
            tokens::OPS,
            "ops_admin",
            Some(json!({ "reason": "why" })),
        ),
        (
            "/api/payouts/{}/resolve",
            Method::POST,
            tokens::OPS,
            "ops_admin",
            Some(json!({ "resolution": "delivered", "reason": "seen" })),
        ),
        (
            "/api/reconciliation/runs/{}",
            Method::GET,
            tokens::OPS,
            "ops_read",
            None,
        ),
    ];
    let mut cases = Vec::new();
    for (template, method, token, scope, body) in routes {
        let route = Route {
            name: template,
            method,
            path: String::new(),
            token,
            body,
            other_tokens: Vec::new(),
            scope,
        };
        for id in [
            "abc",
            "1.5",
            "1e3",
            "0x10",
            "99999999999999999999",
            "-",
            "%20",
        ] {
            let mut c = route.with_body(&format!("id {id:?}"), route.body_bytes(), 400, "");
            c.path = template.replace("{}", id);
            cases.push(c);
        }
    }
    cases
}
