//! The published contract of every message the service sends: each body a
//! receiver got is validated against its JSON Schema (`docs/schemas/`,
//! the very files `GET /api/schemas/{type}` serves) with `boon`, a JSON
//! Schema validator independent of the code that builds the messages.

use boon::{Compiler, Schemas};
use serde_json::Value;
use worker::http::schemas::SCHEMAS;

/// Why `body` does not follow the schema of its `type`, or `None` when it
/// does. A body whose `type` has no schema is a violation too: every
/// outbound message is documented. Alerts have no envelope (a
/// Slack-compatible body): check them with [`violation_of`] `ops.alert`.
pub fn violation(body: &Value) -> Option<String> {
    match body["type"].as_str() {
        Some(kind) => violation_of(kind, body),
        None => Some(format!("no type: {body}")),
    }
}

/// Why `body` does not follow the schema of message type `kind`.
pub fn violation_of(kind: &str, body: &Value) -> Option<String> {
    let Some((_, text)) = SCHEMAS.iter().find(|(name, _)| *name == kind) else {
        return Some(format!("no schema for message type {kind:?}"));
    };
    let schema: Value = match serde_json::from_str(text) {
        Ok(schema) => schema,
        Err(e) => return Some(format!("schema of {kind} is not JSON: {e}")),
    };
    let location = format!("urn:referral-worker:schema:{kind}");
    let mut schemas = Schemas::new();
    let mut compiler = Compiler::new();
    compiler.enable_format_assertions();
    if let Err(e) = compiler.add_resource(&location, schema) {
        return Some(format!("schema of {kind}: {e:#}"));
    }
    let index = match compiler.compile(&location, &mut schemas) {
        Ok(index) => index,
        Err(e) => return Some(format!("schema of {kind} does not compile: {e:#}")),
    };
    schemas
        .validate(body, index)
        .err()
        .map(|e| format!("{kind} breaks its schema: {e}\nbody: {body}"))
}

/// Panics naming the first alert body that does not follow the `ops.alert`
/// schema.
///
/// # Panics
/// When one does not.
pub fn assert_all_alerts_follow_contract(bodies: &[Value]) {
    assert!(!bodies.is_empty(), "no alerts to check");
    for body in bodies {
        if let Some(problem) = violation_of("ops.alert", body) {
            panic!("{problem}");
        }
    }
}

/// Panics naming the first body that does not follow its schema.
///
/// # Panics
/// When one does not.
pub fn assert_all_follow_contract(bodies: &[Value]) {
    assert!(!bodies.is_empty(), "no messages to check");
    for body in bodies {
        if let Some(problem) = violation(body) {
            panic!("{problem}");
        }
    }
}
