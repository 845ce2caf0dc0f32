//! `GET /api/schemas` and `GET /api/schemas/{name}`: the JSON Schema of
//! every message the service sends to systems it does not own (the bonus
//! POST, status sync, referrer engagement, CRM hand-off, alerts), so a receiver can be built and
//! checked against the contract. Public: a contract is no secret.
//!
//! The files are `docs/schemas/*.json`, compiled in, so what is served is
//! what is documented; the `tests` crate validates every message a test
//! receiver gets against them.

use axum::{
    Json, Router,
    extract::Path,
    http::header,
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::{Value, json};

use super::error::ApiError;
use crate::state::AppState;

/// `(message type, schema)` of every outbound message.
pub const SCHEMAS: &[(&str, &str)] = &[
    (
        "referral.milestone_reached",
        include_str!("../../../docs/schemas/referral.milestone_reached.json"),
    ),
    (
        "referral.status_changed",
        include_str!("../../../docs/schemas/referral.status_changed.json"),
    ),
    (
        "referral.credited",
        include_str!("../../../docs/schemas/referral.credited.json"),
    ),
    (
        "referral.lost",
        include_str!("../../../docs/schemas/referral.lost.json"),
    ),
    (
        "referral.ineligible",
        include_str!("../../../docs/schemas/referral.ineligible.json"),
    ),
    (
        "referral.stage_changed",
        include_str!("../../../docs/schemas/referral.stage_changed.json"),
    ),
    (
        "referral.hire_confirmed",
        include_str!("../../../docs/schemas/referral.hire_confirmed.json"),
    ),
    (
        "report.kpis",
        include_str!("../../../docs/schemas/report.kpis.json"),
    ),
    (
        "ops.alert",
        include_str!("../../../docs/schemas/ops.alert.json"),
    ),
];

/// The schema routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/schemas", get(index))
        .route("/api/schemas/{name}", get(schema))
}

/// The message types with a schema, and where each is served.
#[utoipa::path(get, path = "/api/schemas", tag = "webhooks",
    summary = "The outbound message types that have a JSON Schema, and where each is served",
    responses((status = 200, description = "`{schemas: [{type, url}]}`", body = Object)))]
pub async fn index() -> Json<Value> {
    let schemas: Vec<Value> = SCHEMAS
        .iter()
        .map(|(name, _)| json!({ "type": name, "url": format!("/api/schemas/{name}.json") }))
        .collect();
    Json(json!({ "schemas": schemas }))
}

/// One schema, by message type (`referral.milestone_reached`, with or
/// without `.json`).
#[utoipa::path(get, path = "/api/schemas/{name}", tag = "webhooks",
    summary = "The JSON Schema (2020-12) of one outbound message (`docs/schemas/`)",
    params(("name" = String, Path, description = "the message type, e.g. `referral.milestone_reached` (`.json` optional)")),
    responses(
        (status = 200, description = "application/schema+json", body = Object),
        (status = 404, description = "no such message type", body = super::error::ErrorBody),
    ))]
pub async fn schema(Path(name): Path<String>) -> Result<Response, ApiError> {
    let wanted = name.strip_suffix(".json").unwrap_or(&name);
    match SCHEMAS.iter().find(|(n, _)| *n == wanted) {
        Some((_, text)) => {
            Ok(([(header::CONTENT_TYPE, "application/schema+json")], *text).into_response())
        }
        None => Err(ApiError::NotFound(format!(
            "no schema for {wanted:?}; one of {}",
            SCHEMAS
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_is_json_naming_its_message_type() {
        for (name, text) in SCHEMAS {
            let schema: Value = serde_json::from_str(text).expect(name);
            assert!(
                schema["$id"].as_str().is_some_and(|id| id.ends_with(name)),
                "{name}"
            );
        }
    }
}
