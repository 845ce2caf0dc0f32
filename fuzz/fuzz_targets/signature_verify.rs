//! The three webhook verifiers on arbitrary secrets, headers and bodies:
//! none may panic, and whatever they accept must satisfy their documented
//! post-conditions.
//!
//! # Input format
//!
//! ```text
//! <secret> NUL <headers> NUL <body>
//! ```
//!
//! * `secret`: raw bytes for Greenhouse and Lever (`&[u8]`), and the same
//!   bytes as lossy UTF-8 for the careers site (`&str`, `whsec_<base64>`).
//! * `headers`: `Name: value` lines separated by `\n` (lossy UTF-8, name
//!   and value trimmed; a line without `:` is a header with an empty
//!   value). Three pseudo-headers set the clock instead of reaching a
//!   verifier's lookup: `x-fuzz-now` (Unix seconds, for
//!   `careers_site::verify_at`), `x-fuzz-now-ms` (epoch milliseconds, for
//!   `lever::verify`) and `x-fuzz-max-age` (seconds, Lever's `max_age`);
//!   each defaults to 0 when absent or unparsable.
//! * `body`: everything after the second NUL, raw.
//!
//! A missing NUL leaves the later parts empty. `fuzz/seeds/signature_verify/`
//! holds correctly signed deliveries in this format, so the fuzzer starts
//! past every signature check.

#![no_main]

use std::time::Duration;

use jobs::connectors::{careers_site, greenhouse, lever};
use jobs::intake::IntakeError;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |&b| b == 0);
    let secret = parts.next().unwrap_or_default();
    let header_block = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();

    let mut headers: Vec<(String, String)> = Vec::new();
    let mut now_s = 0i64;
    let mut now_ms = 0i64;
    let mut max_age_s = 0u64;
    for line in String::from_utf8_lossy(header_block).split('\n') {
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        let (name, value) = (name.trim(), value.trim());
        match name.to_ascii_lowercase().as_str() {
            "x-fuzz-now" => now_s = value.parse().unwrap_or(0),
            "x-fuzz-now-ms" => now_ms = value.parse().unwrap_or(0),
            "x-fuzz-max-age" => max_age_s = value.parse().unwrap_or(0),
            _ => headers.push((name.to_owned(), value.to_owned())),
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    };

    // Careers site (Standard Webhooks).
    let secret_text = String::from_utf8_lossy(secret);
    let secret_ok = careers_site::validate_secret(&secret_text).is_ok();
    let result = careers_site::verify_at(&secret_text, &headers, body, now_s);
    match &result {
        Ok(id) => {
            assert!(secret_ok, "accepted under a secret validate_secret refuses");
            assert_eq!(Some(id.as_str()), header("webhook-id"));
            assert!(!id.is_empty() && !id.contains('.'), "webhook-id {id:?}");
            let timestamp: i64 = header("webhook-timestamp")
                .and_then(|t| t.parse().ok())
                .expect("accepted without an integer webhook-timestamp");
            assert!(
                timestamp.abs_diff(now_s) <= careers_site::TOLERANCE_SECS,
                "accepted timestamp {timestamp} at {now_s}"
            );
        }
        Err(IntakeError::BadSignature(_)) => {}
        Err(IntakeError::Stale(_)) => assert!(secret_ok),
        Err(other) => panic!("careers_site::verify_at returned {other:?}"),
    }
    if !secret_ok {
        assert!(matches!(result, Err(IntakeError::BadSignature(_))));
    }
    // The production entry point, against the wall clock.
    let _ = careers_site::verify(&secret_text, &headers, body);

    // Greenhouse (`Signature: sha256 <hex>` over the raw body).
    let result = greenhouse::verify(secret, header(greenhouse::SIGNATURE_HEADER), body);
    match result {
        Ok(()) => assert!(!secret.is_empty(), "accepted under an empty secret"),
        Err(IntakeError::BadSignature(_)) => {}
        Err(other) => panic!("greenhouse::verify returned {other:?}"),
    }

    // Lever (HMAC over token + triggeredAt, inside the body).
    let max_age = Duration::from_secs(max_age_s);
    match lever::verify(secret, body, now_ms, max_age) {
        Ok(delivery) => {
            assert!(!secret.is_empty(), "accepted under an empty secret");
            assert!(!delivery.token.is_empty());
            let age_ms = i128::from(now_ms) - i128::from(delivery.triggered_at_ms);
            assert!(
                age_ms <= i128::from(max_age_s) * 1000,
                "too old: {age_ms} ms"
            );
            assert!(
                -age_ms <= i128::try_from(lever::MAX_FUTURE_SKEW.as_millis()).unwrap(),
                "too far in the future: {age_ms} ms"
            );
        }
        Err(IntakeError::BadSignature(_) | IntakeError::Stale(_)) => {}
        Err(IntakeError::InvalidField { field, .. }) => assert_eq!(field, "event"),
        Err(other) => panic!("lever::verify returned {other:?}"),
    }
});
