//! Reading request bodies the same way everywhere: a size limit answered
//! with 413, a media-type check answered with 415, and JSON errors answered
//! with 400 (not JSON) or 422 (a field missing or mistyped, named).
//!
//! Webhook signatures cover the exact bytes, so bodies are read raw and
//! parsed only after verification.

use axum::{body::Body, http::HeaderMap};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Reads at most `limit` bytes. A declared `Content-Length` over the limit is
/// refused before reading anything.
///
/// # Errors
/// [`ApiError::PayloadTooLarge`], [`ApiError::RequestTimeout`] for a body
/// that stalled, or [`ApiError::BadRequest`] for a broken stream.
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.to_string().contains("length limit"))
            || e.to_string().contains("length limit");
        if too_large {
            ApiError::PayloadTooLarge { limit }
        } else if stalled(&e) {
            ApiError::RequestTimeout(
                "the body stopped arriving (http.body_timeout); send it without pauses".into(),
            )
        } else {
            ApiError::BadRequest(format!("could not read the body: {e}"))
        }
    })
}

/// Whether a body read failed because the body stalled past
/// `http.body_timeout` (tower-http's `RequestBodyTimeout`, set by
/// `runtime::limits`).
fn stalled(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// Requires `Content-Type: application/json` (parameters such as charset allowed).
///
/// # Errors
/// [`ApiError::UnsupportedMediaType`].
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let ct = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else if ct.is_empty() {
        Err(ApiError::UnsupportedMediaType(
            "Content-Type must be application/json (none given)".into(),
        ))
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type must be application/json, not {ct}"
        )))
    }
}

/// Parses a JSON body into `T`, naming the field on type errors.
///
/// # Errors
/// 400 for text that is not JSON; 422 for the wrong shape.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let result: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    match result {
        Ok(v) => {
            de.end()
                .map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))?;
            Ok(v)
        }
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            match inner.classify() {
                serde_json::error::Category::Data => {
                    let message = inner.to_string();
                    // serde names a missing field in its message; surface it
                    // as the field when the path stops at its parent.
                    let field = missing_field(&message)
                        .map(|f| {
                            if path == "." || path.is_empty() {
                                f.to_string()
                            } else {
                                format!("{path}.{f}")
                            }
                        })
                        .unwrap_or_else(|| if path.is_empty() { ".".into() } else { path });
                    Err(ApiError::Unprocessable {
                        field,
                        problem: strip_position(&message),
                    })
                }
                _ => Err(ApiError::BadRequest(format!("malformed JSON: {inner}"))),
            }
        }
    }
}

fn missing_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split('`').next()
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Link {
        employee_id: String,
        job_id: String,
        expires_in: Option<u64>,
    }

    #[test]
    fn missing_and_mistyped_fields_are_named() {
        match parse_json::<Link>(br#"{"employee_id":"E1"}"#) {
            Err(ApiError::Unprocessable { field, .. }) => assert_eq!(field, "job_id"),
            other => panic!("{other:?}"),
        }
        match parse_json::<Link>(br#"{"employee_id":"E1","job_id":7}"#) {
            Err(ApiError::Unprocessable { field, problem }) => {
                assert_eq!(field, "job_id");
                assert!(problem.contains("invalid type"), "{problem}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_json::<Link>(b"{not json"),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            parse_json::<Link>(br#"{"employee_id":"E1","job_id":"J"} trailing"#),
            Err(ApiError::BadRequest(_))
        ));
    }
}
