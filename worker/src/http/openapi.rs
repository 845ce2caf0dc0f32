//! `GET /api/openapi.json` and the viewer at `/api/docs`: an OpenAPI 3.1
//! description of every route the service answers, derived by `utoipa` from
//! the handlers' own `#[utoipa::path]` attributes and from the types they
//! read and answer (`ToSchema` on the request bodies here, the views in
//! `jobs::ops`, the states in `entities` and `queue`).
//!
//! Handlers read raw bodies (limits, signatures, errors naming the field),
//! so each attribute names its request body type; the response types are
//! the handlers' return types. What every route shares is added once by
//! [`Shared`]: the security schemes, 401/403 on bearer routes (with the
//! scope in the description and in `x-scope`), 400 where a parameter or
//! body can be malformed, 503 when storage is down. The viewer is Swagger
//! UI, whose files are compiled into the binary (`utoipa-swagger-ui` with
//! `vendored`): the page loads nothing from elsewhere.
//!
//! A unit test reads the router's source (`http/mod.rs`, `http/finance.rs`,
//! `http/ops_page.rs`, `http/privacy.rs`) and fails when an `/api` route is missing here, or
//! when a path described here is not routed.

use std::sync::OnceLock;

use axum::{Json, Router, http::header, response::IntoResponse};
use utoipa::{
    Modify, OpenApi,
    openapi::{
        self, Content, RefOr, ResponseBuilder,
        extensions::ExtensionsBuilder,
        path::ParameterIn,
        security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};
use utoipa_swagger_ui::{Config, SwaggerUi};

use super::{
    api, error::ErrorBody, finance, health, ops, ops_page, privacy, reconciliation, schemas,
    webhooks,
};

/// The document's root: every annotated handler and the schemas that no
/// handler names directly.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "referral-worker",
        description = "Employee-referral attribution, milestones and bonus payouts.\n\n\
            Every error body is `{\"error\", \"detail\"}` (`ErrorBody`). Bearer tokens carry scopes \
            (`employees`, `links`, `hires`, `ops_read`, `ops_admin`, `privacy`); each operation names the one \
            it needs. Ops routes never return personal data: job payloads hold ids only, inbox \
            listings omit bodies. Ops actions require a `reason`, written to the audit log."
    ),
    paths(
        health::healthz,
        health::readyz,
        api::upsert_employee,
        api::create_link,
        api::revoke_link,
        api::follow_link,
        api::hire_terminated,
        ops::approve_payout,
        ops::hold_payout,
        ops::resolve_payout,
        ops::enable_destination,
        ops::queues,
        ops::jobs,
        ops::requeue_dead,
        ops::job,
        ops::retry_job,
        ops::cancel_job,
        ops::workflows,
        ops::workflow,
        ops::stuck,
        ops::inbox,
        ops::replay_inbox,
        ops::payouts,
        ops_page::throughput,
        schemas::index,
        schemas::schema,
        finance::export,
        finance::kpis,
        finance::reconciliation_runs,
        finance::reconcile_now,
        finance::reconciliation_run,
        finance::scheduled_reports,
        reconciliation::import,
        reconciliation::list_imports,
        reconciliation::run_three_way,
        privacy::export_candidate,
        privacy::erase_candidate,
        privacy::export_referrer,
        privacy::erase_referrer,
        document,
        webhooks::careers_site,
        webhooks::greenhouse,
        webhooks::lever,
        webhooks::ashby,
        webhooks::workable,
        webhooks::smartrecruiters,
    ),
    components(schemas(ErrorBody, webhooks::Handshake)),
    modifiers(&Shared),
    tags(
        (name = "referrals", description = "Referrers, referral links and hires (the HRIS sync and the referral portal)"),
        (name = "payouts", description = "The payout ledger and its approvals"),
        (name = "ops", description = "Queues, jobs, workflows, the inbox: what ops see and do"),
        (name = "finance", description = "Exports, KPIs and reconciliation"),
        (name = "privacy", description = "Data-subject requests: one person's export or erasure (scope `privacy`)"),
        (name = "webhooks", description = "Intake from the careers site and the ATSs"),
        (name = "health", description = "Probes for load balancers and orchestrators"),
    )
)]
pub struct ApiDoc;

/// What every operation shares, added after the derive.
struct Shared;

impl Modify for Shared {
    fn modify(&self, doc: &mut openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A token from `[[api.tokens]]`; the scope each operation needs is in its security requirement and `x-scope`",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "standard_webhooks",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "webhook-signature",
                "Standard Webhooks: `v1,<base64 HMAC-SHA256>` over `webhook-id.webhook-timestamp.body` \
                 with `webhooks.careers_site_secret`; `webhook-id` and `webhook-timestamp` headers required",
            ))),
        );
        components.add_security_scheme(
            "ashby_signature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Ashby-Signature",
                "`sha256=<hex HMAC-SHA256 of the body>` with `ats.ashby.webhook_secret`",
            ))),
        );
        components.add_security_scheme(
            "workable_signature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Workable-Signature",
                "`<hex HMAC-SHA256 of the body>` with `ats.workable.webhook_secret`",
            ))),
        );
        components.add_security_scheme(
            "smartrecruiters_signature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "smartrecruiters-signature",
                "`v1=<hex HMAC-SHA256 of timestamp.body.event-id.event-name.event-version.link>[;v1=…]` with `ats.smartrecruiters.webhook_secret` (or `webhook_secret_previous`)",
            ))),
        );
        components.add_security_scheme(
            "greenhouse_signature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Signature",
                "`sha256 <hex HMAC-SHA256 of the body>` with `webhooks.greenhouse_secret`",
            ))),
        );
        let error = || {
            ResponseBuilder::new().content(
                "application/json",
                Content::new(Some(RefOr::Ref(openapi::Ref::from_schema_name(
                    "ErrorBody",
                )))),
            )
        };
        for (path, item) in doc.paths.paths.iter_mut() {
            for op in operations(item) {
                let responses = &mut op.responses.responses;
                let mut add = |status: &str, description: &str| {
                    responses
                        .entry(status.to_string())
                        .or_insert_with(|| RefOr::T(error().description(description).build()));
                };
                let scope = op.security.as_ref().and_then(|reqs| {
                    let json = serde_json::to_value(reqs).ok()?;
                    json.get(0)?
                        .get("bearer")?
                        .get(0)?
                        .as_str()
                        .map(str::to_owned)
                });
                if let Some(scope) = &scope {
                    add("401", "no bearer token");
                    add("403", "unknown token, or a token without this scope");
                    let sentence = format!("Requires a bearer token with the `{scope}` scope.");
                    op.description = Some(match op.description.take() {
                        Some(d) if !d.is_empty() => format!("{d}\n\n{sentence}"),
                        _ => sentence,
                    });
                    op.extensions = Some(
                        ExtensionsBuilder::new()
                            .add("x-scope", scope.clone())
                            .build(),
                    );
                }
                let malformed_input = op.request_body.is_some()
                    || op.parameters.iter().flatten().any(|p| {
                        p.parameter_in == ParameterIn::Query
                            || (p.parameter_in == ParameterIn::Path
                                && serde_json::to_value(&p.schema).is_ok_and(|s| {
                                    s["type"] == "integer" || s["format"] == "int64"
                                }))
                    });
                if path.starts_with("/api") && malformed_input {
                    add(
                        "400",
                        "an unknown, repeated or malformed query parameter, a non-numeric id, or a body that is not JSON (named)",
                    );
                }
                if path.starts_with("/api") && scope.is_some() {
                    add("503", "the database or the queue is unavailable; retry");
                }
            }
        }
    }
}

/// Every operation of a path item.
fn operations(item: &mut openapi::PathItem) -> impl Iterator<Item = &mut openapi::path::Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
        item.head.as_mut(),
        item.options.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// The document (built once).
pub fn spec() -> &'static openapi::OpenApi {
    static SPEC: OnceLock<openapi::OpenApi> = OnceLock::new();
    SPEC.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        doc.info.version = env!("CARGO_PKG_VERSION").to_string();
        doc
    })
}

/// `GET /api/openapi.json` (public): [`spec`].
#[utoipa::path(get, path = "/api/openapi.json", tag = "health",
    summary = "This document (OpenAPI 3.1); a viewer is at /api/docs",
    responses((status = 200, description = "the document", content_type = "application/json")))]
pub async fn document() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-cache")], Json(spec()))
}

/// `/api/docs`: Swagger UI over `/api/openapi.json`, from files compiled
/// into the binary. Public, like the document.
pub fn viewer<S: Clone + Send + Sync + 'static>() -> Router<S> {
    // `validator_url("none")`: Swagger UI would otherwise send the document
    // to an online validator for its badge.
    let config = Config::from("/api/openapi.json")
        .validator_url("none")
        .try_it_out_enabled(false)
        .persist_authorization(false);
    Router::from(SwaggerUi::new("/api/docs").config(config))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

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

    fn json() -> Value {
        serde_json::to_value(spec()).expect("the document serializes")
    }

    fn documented() -> BTreeSet<(String, String)> {
        let spec = json();
        let mut out = BTreeSet::new();
        for (path, methods) in spec["paths"].as_object().expect("paths") {
            for method in methods.as_object().expect("methods").keys() {
                out.insert((path.clone(), method.clone()));
            }
        }
        out
    }

    /// Every `(path, method, operation)`.
    fn operations(spec: &Value) -> Vec<(String, String, Value)> {
        let mut out = Vec::new();
        for (path, methods) in spec["paths"].as_object().expect("paths") {
            for (method, op) in methods.as_object().expect("methods") {
                out.push((path.clone(), method.clone(), op.clone()));
            }
        }
        out
    }

    #[test]
    fn every_routed_path_is_documented_and_nothing_else() {
        let mut routed = routes_in(include_str!("mod.rs"));
        routed.extend(routes_in(include_str!("finance.rs")));
        routed.extend(routes_in(include_str!("ops_page.rs")));
        routed.extend(routes_in(include_str!("privacy.rs")));
        routed.extend(routes_in(include_str!("reconciliation.rs")));
        routed.extend(routes_in(include_str!("schemas.rs")));
        assert!(
            routed.len() > 20,
            "the source parser found too few routes: {routed:?}"
        );
        let documented = documented();
        // Every `/api` route must be described; the others (health, the
        // redirect, webhooks) are described today, but a new non-API route
        // (e.g. metrics, the /ops page's assets) need not be.
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
        let spec = json();
        for (path, method, op) in operations(&spec) {
            if path.starts_with("/api/ops") || path.starts_with("/api/payouts") {
                let want = if method == "get" {
                    "ops_read"
                } else {
                    "ops_admin"
                };
                assert_eq!(op["x-scope"], want, "{method} {path}");
                assert_eq!(op["security"][0]["bearer"][0], want, "{method} {path}");
                assert!(op["responses"]["401"].is_object(), "{method} {path}");
                assert!(op["responses"]["403"].is_object(), "{method} {path}");
            }
        }
        for name in [
            "bearer",
            "standard_webhooks",
            "greenhouse_signature",
            "ashby_signature",
            "workable_signature",
            "smartrecruiters_signature",
        ] {
            assert!(
                spec["components"]["securitySchemes"][name].is_object(),
                "security scheme {name}"
            );
        }
    }

    /// A schema, following one `$ref` into `components.schemas`.
    fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
        match schema["$ref"].as_str() {
            Some(r) => {
                let name = r.trim_start_matches("#/components/schemas/");
                &spec["components"]["schemas"][name]
            }
            None => schema,
        }
    }

    /// The property names of a schema, through `$ref` and `allOf`.
    fn fields(spec: &Value, schema: &Value) -> BTreeSet<String> {
        let schema = resolve(spec, schema);
        let mut out: BTreeSet<String> = schema["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        for part in schema["allOf"].as_array().into_iter().flatten() {
            out.extend(fields(spec, part));
        }
        out
    }

    #[test]
    fn every_success_has_a_body_schema_and_every_error_is_the_error_body() {
        let spec = json();
        for (path, method, op) in operations(&spec) {
            let responses = op["responses"].as_object().expect("responses");
            assert!(
                responses
                    .keys()
                    .any(|s| s.starts_with('2') || s.starts_with('3')),
                "{method} {path}: no 2xx or 3xx response"
            );
            for (status, response) in responses {
                let content = &response["content"];
                match status.as_bytes()[0] {
                    // No body: 204, and the redirect (a Location header).
                    _ if status == "204" || status == "303" => {
                        assert!(content.is_null(), "{method} {path} {status}")
                    }
                    b'2' if path == "/api/openapi.json" => {}
                    b'2' => {
                        let content = content
                            .as_object()
                            .unwrap_or_else(|| panic!("{method} {path} {status}: no content"));
                        for (media, c) in content {
                            let schema = resolve(&spec, &c["schema"]);
                            assert!(
                                schema.as_object().is_some_and(|o| !o.is_empty())
                                    || path.starts_with("/webhooks"),
                                "{method} {path} {status} {media}: empty schema"
                            );
                        }
                    }
                    // Not ready is an answer, not an error: the same body.
                    _ if path == "/readyz" => assert_eq!(
                        content["application/json"]["schema"]["$ref"],
                        "#/components/schemas/Readiness"
                    ),
                    _ => assert_eq!(
                        content["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{method} {path} {status}"
                    ),
                }
            }
        }
        let error = &spec["components"]["schemas"]["ErrorBody"];
        assert_eq!(error["required"], serde_json::json!(["error", "detail"]));
    }

    #[test]
    fn parameters_are_typed() {
        let spec = json();
        let typed = |path: &str, method: &str, name: &str| -> Value {
            let op = &spec["paths"][path][method];
            let param = op["parameters"]
                .as_array()
                .and_then(|ps| ps.iter().find(|p| p["name"] == name))
                .unwrap_or_else(|| panic!("{method} {path}: no parameter {name}"));
            resolve(&spec, &param["schema"]).clone()
        };
        assert_eq!(
            typed("/api/payouts/{id}/approve", "post", "id")["type"],
            "integer"
        );
        assert_eq!(typed("/api/ops/jobs", "get", "limit")["maximum"], 500);
        assert_eq!(
            typed("/api/ops/jobs/{id}/retry", "post", "dry_run")["type"],
            "boolean"
        );
        let states = typed("/api/ops/jobs", "get", "state");
        let states = states["enum"].as_array().expect("an enum of job states");
        assert!(states.contains(&Value::from("dead")), "{states:?}");
        let payout_states = typed("/api/ops/payouts", "get", "state");
        assert!(
            payout_states["enum"]
                .as_array()
                .is_some_and(|s| s.contains(&Value::from("outcome_unknown"))),
            "{payout_states}"
        );
        // Every parameter has a schema, and not every one is a string.
        let mut types = BTreeSet::new();
        for (path, method, op) in operations(&spec) {
            for p in op["parameters"].as_array().into_iter().flatten() {
                let schema = resolve(&spec, &p["schema"]);
                assert!(schema.is_object(), "{method} {path} {}", p["name"]);
                types.insert(schema["type"].to_string());
            }
        }
        assert!(types.len() >= 3, "{types:?}");
    }

    #[test]
    fn bodies_are_the_handlers_types() {
        let spec = json();
        let body = |path: &str, method: &str| {
            resolve(
                &spec,
                &spec["paths"][path][method]["requestBody"]["content"]["application/json"]
                    ["schema"],
            )
            .clone()
        };
        let reason = body("/api/ops/jobs/{id}/retry", "post");
        assert_eq!(reason["required"], serde_json::json!(["reason"]));
        let resolve_body = body("/api/payouts/{id}/resolve", "post");
        assert!(resolve_body["properties"]["resolution"].is_object());
        let link = body("/api/referral-links", "post");
        assert!(link["properties"]["expires_in"].is_object(), "{link}");
        // A 2xx answer's schema carries the view's fields (`JobDetail`
        // flattens `JobView` and adds `audit`).
        let detail = fields(
            &spec,
            &spec["paths"]["/api/ops/jobs/{id}"]["get"]["responses"]["200"]["content"]["application/json"]
                ["schema"],
        );
        for field in ["timeline", "errors", "audit", "attempts", "payload_masked"] {
            assert!(
                detail.contains(field),
                "JobDetail lacks {field}: {detail:?}"
            );
        }
        let workflow = fields(
            &spec,
            &spec["paths"]["/api/ops/workflows/{referral_id}"]["get"]["responses"]["200"]["content"]
                ["application/json"]["schema"],
        );
        for field in [
            "referral",
            "application",
            "milestones",
            "payouts",
            "messages",
        ] {
            assert!(
                workflow.contains(field),
                "Workflow lacks {field}: {workflow:?}"
            );
        }
    }
}
