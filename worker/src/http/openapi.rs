//! `GET /api/openapi.json`: an OpenAPI 3.1 description of every route the
//! service answers (the `/api` routes, the redirect, the webhooks and the
//! health checks).
//!
//! Written by hand with `serde_json` rather than generated (utoipa): the
//! handlers read raw bodies (limits, signatures, field-naming errors)
//! instead of typed extractors, so annotations would describe types the
//! handlers never see. A unit test reads the router's source
//! (`http/mod.rs`, `http/finance.rs`) and fails when an `/api` route is
//! missing here, or when a path described here is not routed.

use axum::Json;
use serde_json::{Map, Value, json};

/// One operation of the document.
struct Op {
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    /// The bearer-token scope required; `None` for public routes.
    scope: Option<&'static str>,
    /// `(name, in, required, description)`; path parameters are strings
    /// or integers as the description says.
    params: &'static [(&'static str, &'static str, bool, &'static str)],
    /// The JSON request body's schema.
    body: Option<Value>,
    /// `(status, description)`.
    responses: &'static [(&'static str, &'static str)],
}

const ID: (&str, &str, bool, &str) = ("id", "path", true, "the row's integer id");
const JOB_ID: (&str, &str, bool, &str) = ("id", "path", true, "the job's id (a ULID)");
const DRY_RUN: (&str, &str, bool, &str) = (
    "dry_run",
    "query",
    false,
    "true: answer what would happen without doing it",
);
const CURSOR: (&str, &str, bool, &str) = (
    "cursor",
    "query",
    false,
    "the previous page's `next` (the last id shown; pages go newest first)",
);
const LIMIT: (&str, &str, bool, &str) = ("limit", "query", false, "rows per page, 1..=500 (50)");

const ACTION: &[(&str, &str)] = &[
    ("200", "done (or, with dry_run, what would be done)"),
    ("401", "no bearer token"),
    ("403", "unknown token or missing scope"),
    ("404", "no such row or job"),
    ("409", "not allowed in its current state"),
    ("415", "body is not application/json"),
    ("422", "a field is missing or invalid (named)"),
];
const READ: &[(&str, &str)] = &[
    ("200", "the result"),
    (
        "400",
        "an unknown, repeated or malformed query parameter (named)",
    ),
    ("401", "no bearer token"),
    ("403", "unknown token or missing scope"),
];
const ONE: &[(&str, &str)] = &[
    ("200", "the result"),
    ("401", "no bearer token"),
    ("403", "unknown token or missing scope"),
    ("404", "not found"),
];
const WEBHOOK: &[(&str, &str)] = &[
    ("200", "a repeated delivery: nothing changed"),
    ("202", "verified, stored in the inbox and enqueued"),
    ("400", "the body is not JSON"),
    ("401", "bad signature"),
    ("413", "body over http.body_limit"),
    ("415", "not application/json"),
    ("422", "a missing or mistyped field (named)"),
    ("503", "storage down; retry"),
];

fn reason_body() -> Value {
    json!({ "type": "object", "required": ["reason"], "additionalProperties": false,
            "properties": { "reason": { "type": "string", "description": "why (recorded in the audit log)" } } })
}

fn ops() -> Vec<Op> {
    vec![
        Op {
            method: "get",
            path: "/healthz",
            summary: "Liveness: answers while the process runs",
            scope: None,
            params: &[],
            body: None,
            responses: &[("200", "`{\"status\":\"ok\"}`")],
        },
        Op {
            method: "get",
            path: "/readyz",
            summary: "Readiness: the database and the queue both respond",
            scope: None,
            params: &[],
            body: None,
            responses: &[("200", "ready"), ("503", "names what did not respond")],
        },
        Op {
            method: "post",
            path: "/api/employees",
            summary: "Create or update a referrer",
            scope: Some("employees"),
            params: &[],
            body: Some(
                json!({ "type": "object", "required": ["employee_id", "email", "name", "active"],
                "properties": { "employee_id": {"type": "string"}, "email": {"type": "string"},
                                "name": {"type": "string"}, "active": {"type": "boolean"} } }),
            ),
            responses: &[
                ("200", "updated"),
                ("201", "created"),
                ("401", "no bearer token"),
                ("403", "missing scope"),
                ("422", "a field is invalid (named)"),
            ],
        },
        Op {
            method: "post",
            path: "/api/referral-links",
            summary: "Mint a referral link",
            scope: Some("links"),
            params: &[],
            body: Some(
                json!({ "type": "object", "required": ["employee_id", "job_id"],
                "properties": { "employee_id": {"type": "string"}, "job_id": {"type": "string"},
                                "expires_in": {"description": "a humantime duration (\"30days\") or seconds"} } }),
            ),
            responses: &[
                ("201", "`{token, url, expires_at, ...}`"),
                ("401", "no bearer token"),
                ("403", "missing scope"),
                ("422", "unknown or inactive employee, bad field"),
            ],
        },
        Op {
            method: "delete",
            path: "/api/referral-links/{token}",
            summary: "Revoke a referral link",
            scope: Some("links"),
            params: &[("token", "path", true, "the link's token")],
            body: None,
            responses: &[
                ("204", "revoked"),
                ("401", "no bearer token"),
                ("403", "missing scope"),
                ("404", "no such link"),
            ],
        },
        Op {
            method: "post",
            path: "/api/hires/{application}/terminated",
            summary: "The hired person left: pending milestones are cancelled with the reason",
            scope: Some("hires"),
            params: &[("application", "path", true, "the application's integer id")],
            body: Some(json!({ "type": "object", "properties": { "reason": {"type": "string"} } })),
            responses: &[
                ("204", "done"),
                ("401", "no bearer token"),
                ("403", "missing scope"),
                ("404", "no such application"),
            ],
        },
        Op {
            method: "post",
            path: "/api/payouts/{id}/approve",
            summary: "Approve a payout awaiting approval, or release a held one; it is sent",
            scope: Some("ops_admin"),
            params: &[ID],
            body: Some(reason_body()),
            responses: ACTION,
        },
        Op {
            method: "post",
            path: "/api/payouts/{id}/hold",
            summary: "Freeze an unsent payout (eligible, approved or failed)",
            scope: Some("ops_admin"),
            params: &[ID],
            body: Some(reason_body()),
            responses: ACTION,
        },
        Op {
            method: "post",
            path: "/api/payouts/{id}/resolve",
            summary: "Settle an outcome_unknown payout: mark it delivered, or resend it under the same webhook-id",
            scope: Some("ops_admin"),
            params: &[ID],
            body: Some(
                json!({ "type": "object", "required": ["resolution", "reason"], "additionalProperties": false,
                "properties": { "resolution": {"type": "string", "enum": ["delivered", "resend"]},
                                "reason": {"type": "string"} } }),
            ),
            responses: ACTION,
        },
        Op {
            method: "post",
            path: "/api/ops/destinations/{name}/enable",
            summary: "Switch a destination disabled by a 410 back on",
            scope: Some("ops_admin"),
            params: &[("name", "path", true, "bonus, status_sync, crm or alert")],
            body: Some(reason_body()),
            responses: ACTION,
        },
        Op {
            method: "get",
            path: "/api/ops/queues",
            summary: "Counts per state and the age of the oldest job per state",
            scope: Some("ops_read"),
            params: &[],
            body: None,
            responses: READ,
        },
        Op {
            method: "get",
            path: "/api/ops/jobs",
            summary: "Jobs, filtered and paged (`next` is an opaque `state:offset` cursor)",
            scope: Some("ops_read"),
            params: &[
                (
                    "queue",
                    "query",
                    false,
                    "the queue's name (this service has one)",
                ),
                ("kind", "query", false, "a job kind, e.g. send_payout"),
                (
                    "state",
                    "query",
                    false,
                    "scheduled, ready, running, retrying, succeeded, dead or cancelled; all when absent",
                ),
                (
                    "referral_id",
                    "query",
                    false,
                    "only jobs of this referral: its payouts' send_payout, its milestones' probation_due, its write_back_referral, deliver_message for messages about those, process_delivery for inbox deliveries naming its application or candidate",
                ),
                (
                    "candidate_ats_id",
                    "query",
                    false,
                    "only jobs about the candidate with this ATS candidate id (as referral_id, for all its referrals and applications)",
                ),
                (
                    "from",
                    "query",
                    false,
                    "enqueued at or after: YYYY-MM-DD or RFC 3339",
                ),
                (
                    "to",
                    "query",
                    false,
                    "enqueued at or before: YYYY-MM-DD (the whole day) or RFC 3339",
                ),
                ("cursor", "query", false, "the previous page's `next`"),
                LIMIT,
            ],
            body: None,
            responses: &[
                ("200", "`{jobs, next, matched?}`"),
                (
                    "400",
                    "an unknown, repeated or malformed query parameter (named)",
                ),
                ("401", "no bearer token"),
                ("403", "unknown token or missing scope"),
                ("404", "unknown referral or candidate"),
            ],
        },
        Op {
            method: "post",
            path: "/api/ops/jobs/requeue-dead",
            summary: "Retry every dead job of a kind (dry run: list and count them)",
            scope: Some("ops_admin"),
            params: &[DRY_RUN],
            body: Some(
                json!({ "type": "object", "required": ["kind", "reason"], "additionalProperties": false,
                "properties": { "kind": {"type": "string"}, "reason": {"type": "string"} } }),
            ),
            responses: ACTION,
        },
        Op {
            method: "get",
            path: "/api/ops/jobs/{id}",
            summary: "One job: attempts, errors, timeline, ops actions; payloads hold ids only",
            scope: Some("ops_read"),
            params: &[JOB_ID],
            body: None,
            responses: ONE,
        },
        Op {
            method: "post",
            path: "/api/ops/jobs/{id}/retry",
            summary: "Run a dead, retrying or cancelled job again now (attempts reset)",
            scope: Some("ops_admin"),
            params: &[JOB_ID, DRY_RUN],
            body: Some(reason_body()),
            responses: ACTION,
        },
        Op {
            method: "post",
            path: "/api/ops/jobs/{id}/cancel",
            summary: "Cancel a scheduled, ready or retrying job",
            scope: Some("ops_admin"),
            params: &[JOB_ID, DRY_RUN],
            body: Some(reason_body()),
            responses: ACTION,
        },
        Op {
            method: "get",
            path: "/api/ops/workflows",
            summary: "Referrals, newest first",
            scope: Some("ops_read"),
            params: &[
                (
                    "state",
                    "query",
                    false,
                    "credited, lost, ineligible or void",
                ),
                CURSOR,
                LIMIT,
            ],
            body: None,
            responses: READ,
        },
        Op {
            method: "get",
            path: "/api/ops/workflows/{referral_id}",
            summary: "A referral with its application, milestones (timer jobs), payouts (send jobs) and outbox messages",
            scope: Some("ops_read"),
            params: &[("referral_id", "path", true, "the referral's integer id")],
            body: None,
            responses: ONE,
        },
        Op {
            method: "get",
            path: "/api/ops/stuck",
            summary: "What is not moving: each item with its kind, ids, a plain-English reason and next_check",
            scope: Some("ops_read"),
            params: &[],
            body: None,
            responses: READ,
        },
        Op {
            method: "get",
            path: "/api/ops/inbox",
            summary: "Webhook deliveries, newest first, without their bodies",
            scope: Some("ops_read"),
            params: &[
                (
                    "source",
                    "query",
                    false,
                    "careers_site, greenhouse, lever or generic",
                ),
                (
                    "status",
                    "query",
                    false,
                    "received, enqueued, processed, ignored, rejected or failed",
                ),
                CURSOR,
                LIMIT,
            ],
            body: None,
            responses: READ,
        },
        Op {
            method: "post",
            path: "/api/ops/inbox/{id}/replay",
            summary: "Store the row's body again as a new delivery and enqueue it, as the webhook does",
            scope: Some("ops_admin"),
            params: &[ID],
            body: Some(reason_body()),
            responses: &[
                (
                    "202",
                    "`{inbox_id, replay_inbox_id, job_id, audit_event_id}`",
                ),
                ("401", "no bearer token"),
                ("403", "unknown token or missing scope"),
                ("404", "no such row"),
                ("409", "no stored body, or it no longer decodes (named)"),
                ("422", "reason missing"),
            ],
        },
        Op {
            method: "get",
            path: "/api/ops/payouts",
            summary: "The payout ledger, newest first",
            scope: Some("ops_read"),
            params: &[
                (
                    "state",
                    "query",
                    false,
                    "pending, eligible, approved, sending, delivered, failed, dead, outcome_unknown, ineligible, cancelled or held",
                ),
                CURSOR,
                LIMIT,
            ],
            body: None,
            responses: READ,
        },
        Op {
            method: "get",
            path: "/api/exports/{dataset}",
            summary: "Export payouts, referrals or the audit log (CSV or JSON, streamed)",
            scope: Some("ops_read"),
            params: &[
                ("dataset", "path", true, "payouts, referrals or audit"),
                ("from", "query", true, "YYYY-MM-DD or RFC 3339"),
                ("to", "query", true, "YYYY-MM-DD or RFC 3339"),
                ("format", "query", false, "csv (default) or json"),
                (
                    "include_test",
                    "query",
                    false,
                    "true to include test records",
                ),
            ],
            body: None,
            responses: READ,
        },
        Op {
            method: "get",
            path: "/api/reports/kpis",
            summary: "Conversion, time to hire, payouts by month, top referrers",
            scope: Some("ops_read"),
            params: &[
                ("from", "query", true, "YYYY-MM-DD or RFC 3339"),
                ("to", "query", true, "YYYY-MM-DD or RFC 3339"),
            ],
            body: None,
            responses: READ,
        },
        Op {
            method: "get",
            path: "/api/reconciliation/runs",
            summary: "The latest reconciliation runs",
            scope: Some("ops_read"),
            params: &[],
            body: None,
            responses: READ,
        },
        Op {
            method: "post",
            path: "/api/reconciliation/runs",
            summary: "Reconcile now and answer the run's report",
            scope: Some("ops_admin"),
            params: &[],
            body: Some(
                json!({ "type": "object", "required": ["reason"], "additionalProperties": false,
                "properties": { "dry_run": {"type": "boolean"}, "reason": {"type": "string"} } }),
            ),
            responses: &[
                ("201", "the run's report"),
                ("401", "no bearer token"),
                ("403", "unknown token or missing scope"),
                ("409", "that run already ran"),
                ("422", "reason missing"),
            ],
        },
        Op {
            method: "get",
            path: "/api/reconciliation/runs/{id}",
            summary: "A reconciliation run with its variances (JSON, or CSV with format=csv)",
            scope: Some("ops_read"),
            params: &[ID, ("format", "query", false, "json (default) or csv")],
            body: None,
            responses: ONE,
        },
        Op {
            method: "get",
            path: "/api/ops/throughput",
            summary: "Succeeded, failed (retried) and dead jobs per UTC hour, from the jobs the queue still retains (for the /ops chart)",
            scope: Some("ops_read"),
            params: &[(
                "hours",
                "query",
                false,
                "hours back, 1..=168 (24); older than queue.retention_succeeded / retention_dead shows nothing",
            )],
            body: None,
            responses: READ,
        },
        Op {
            method: "get",
            path: "/api/openapi.json",
            summary: "This document",
            scope: None,
            params: &[],
            body: None,
            responses: &[("200", "OpenAPI 3.1")],
        },
        Op {
            method: "get",
            path: "/api/schemas",
            summary: "The outbound message types that have a JSON Schema, and where each is served",
            scope: None,
            params: &[],
            body: None,
            responses: &[("200", "`{schemas: [{type, url}]}`")],
        },
        Op {
            method: "get",
            path: "/api/schemas/{name}",
            summary: "The JSON Schema (2020-12) of one outbound message (`docs/schemas/`)",
            scope: None,
            params: &[(
                "name",
                "path",
                true,
                "the message type, e.g. `referral.milestone_reached` (`.json` optional)",
            )],
            body: None,
            responses: &[
                ("200", "application/schema+json"),
                ("404", "no such message type"),
            ],
        },
        Op {
            method: "get",
            path: "/r/{token}",
            summary: "Follow a referral link: counts the click, redirects to the share URL",
            scope: None,
            params: &[("token", "path", true, "the link's token")],
            body: None,
            responses: &[
                ("302", "to the job's page"),
                ("404", "unknown, expired or revoked link"),
            ],
        },
        Op {
            method: "post",
            path: "/webhooks/applications",
            summary: "Careers site and generic ATS events (Standard Webhooks signature)",
            scope: None,
            params: &[],
            body: Some(json!({ "type": "object" })),
            responses: WEBHOOK,
        },
        Op {
            method: "post",
            path: "/webhooks/greenhouse",
            summary: "Greenhouse webhooks (`Signature: sha256 <hex>`, deduplicated on Greenhouse-Event-ID)",
            scope: None,
            params: &[],
            body: Some(json!({ "type": "object" })),
            responses: WEBHOOK,
        },
        Op {
            method: "post",
            path: "/webhooks/lever",
            summary: "Lever webhooks (HMAC of token + triggeredAt)",
            scope: None,
            params: &[],
            body: Some(json!({ "type": "object" })),
            responses: WEBHOOK,
        },
    ]
}

/// The document.
pub fn spec() -> Value {
    let mut paths = Map::new();
    for op in ops() {
        let mut o = Map::new();
        o.insert("summary".into(), json!(op.summary));
        o.insert(
            "operationId".into(),
            json!(format!(
                "{}_{}",
                op.method,
                op.path
                    .trim_start_matches('/')
                    .replace(['/', '-', '.'], "_")
                    .replace(['{', '}'], "")
            )),
        );
        if let Some(scope) = op.scope {
            o.insert("security".into(), json!([{ "bearer": [] }]));
            o.insert("x-scope".into(), json!(scope));
            o.insert(
                "description".into(),
                json!(format!("Requires a bearer token with the `{scope}` scope.")),
            );
        }
        if !op.params.is_empty() {
            let params: Vec<Value> = op
                .params
                .iter()
                .map(|(name, place, required, description)| {
                    json!({ "name": name, "in": place, "required": required,
                            "description": description, "schema": { "type": "string" } })
                })
                .collect();
            o.insert("parameters".into(), Value::Array(params));
        }
        if let Some(schema) = op.body {
            o.insert(
                "requestBody".into(),
                json!({ "required": true, "content": { "application/json": { "schema": schema } } }),
            );
        }
        let mut responses = Map::new();
        for (status, description) in op.responses {
            let mut r = json!({ "description": description });
            if status.starts_with('4') || status.starts_with('5') {
                r["content"] = json!({ "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } });
            }
            responses.insert((*status).to_string(), r);
        }
        o.insert("responses".into(), Value::Object(responses));
        let entry = paths
            .entry(op.path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(methods) = entry {
            methods.insert(op.method.to_string(), Value::Object(o));
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "referral-worker",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Employee-referral attribution, milestones and bonus payouts. \
                Every error body is {\"error\", \"detail\"}. Ops routes never return personal data: \
                job payloads hold ids only, inbox listings omit bodies."
        },
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "detail"],
                    "properties": {
                        "error": { "type": "string", "description": "a short code" },
                        "detail": { "type": "string", "description": "a sentence naming the problem" }
                    }
                }
            }
        }
    })
}

/// `GET /api/openapi.json` (public): [`spec`].
pub async fn document() -> Json<Value> {
    Json(spec())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// `(path, method)` of every `.route(...)` in a router's source,
    /// including chained methods (`get(a).post(b)`).
    fn routes_in(source: &str) -> BTreeSet<(String, String)> {
        let text: String = source.chars().filter(|c| !c.is_whitespace()).collect();
        let mut out = BTreeSet::new();
        for part in text.split(".route(\"").skip(1) {
            let Some((path, rest)) = part.split_once("\",") else {
                continue;
            };
            let mut rest = rest;
            while let Some(open) = rest.find('(') {
                let method = &rest[..open];
                if !["get", "post", "put", "patch", "delete"].contains(&method) {
                    break;
                }
                out.insert((path.to_string(), method.to_string()));
                // Skip the balanced argument list.
                let mut depth = 0;
                let mut end = None;
                for (i, c) in rest[open..].char_indices() {
                    match c {
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                end = Some(open + i + 1);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                let Some(end) = end else { break };
                rest = &rest[end..];
                match rest.strip_prefix('.') {
                    Some(r) => rest = r,
                    None => break,
                }
            }
        }
        out
    }

    fn documented() -> BTreeSet<(String, String)> {
        let spec = spec();
        let mut out = BTreeSet::new();
        for (path, methods) in spec["paths"].as_object().expect("paths") {
            for method in methods.as_object().expect("methods").keys() {
                out.insert((path.clone(), method.clone()));
            }
        }
        out
    }

    #[test]
    fn every_routed_path_is_documented_and_nothing_else() {
        let mut routed = routes_in(include_str!("mod.rs"));
        routed.extend(routes_in(include_str!("finance.rs")));
        routed.extend(routes_in(include_str!("ops_page.rs")));
        routed.extend(routes_in(include_str!("schemas.rs")));
        assert!(
            routed.len() > 20,
            "the source parser found too few routes: {routed:?}"
        );
        let documented = documented();
        // Every `/api` route must be described; the others (health, the
        // redirect, webhooks) are described today, but a new non-API route
        // (e.g. metrics) need not be.
        let missing: Vec<_> = routed
            .difference(&documented)
            .filter(|(path, _)| path.starts_with("/api"))
            .collect();
        assert!(missing.is_empty(), "routed but not documented: {missing:?}");
        let extra: Vec<_> = documented.difference(&routed).collect();
        assert!(extra.is_empty(), "documented but not routed: {extra:?}");
    }

    #[test]
    fn chained_methods_are_read() {
        let found =
            routes_in(".route(\"/a\", get(x::y).post(z))\n.route(\n\"/b/{id}\",\ndelete(q),\n)");
        let want: BTreeSet<(String, String)> =
            [("/a", "get"), ("/a", "post"), ("/b/{id}", "delete")]
                .iter()
                .map(|(p, m)| (p.to_string(), m.to_string()))
                .collect();
        assert_eq!(found, want);
    }

    #[test]
    fn ops_routes_name_their_scope() {
        let spec = spec();
        for (path, methods) in spec["paths"].as_object().expect("paths") {
            if path.starts_with("/api/ops") || path.starts_with("/api/payouts") {
                for (method, op) in methods.as_object().expect("methods") {
                    let scope = op["x-scope"].as_str().unwrap_or("");
                    let want = if method == "get" {
                        "ops_read"
                    } else {
                        "ops_admin"
                    };
                    assert_eq!(scope, want, "{method} {path}");
                }
            }
        }
    }
}
