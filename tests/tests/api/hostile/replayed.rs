//! Replayed deliveries: timestamps outside the window, old Lever samples,
//! timestamps that are not integers or overflow (401).

use super::*;

// ---------------------------------------------------------------------------
// Replayed
// ---------------------------------------------------------------------------

pub(super) fn replayed() -> Vec<Case> {
    let now = Utc::now().timestamp();
    let mut cases = Vec::new();
    for (what, at, detail) in [
        ("signed 301 s ago", now - 301, "old"),
        ("signed 10 minutes ago", now - 600, "old"),
        ("signed an hour ago", now - 3_600, "old"),
        ("signed a day ago", now - 86_400, "old"),
        ("signed a year ago", now - 365 * 86_400, "old"),
        ("signed at the epoch", 0, "old"),
        ("signed at -1", -1, "old"),
        ("signed at i64::MIN", i64::MIN, "old"),
        ("signed 400 s ahead", now + 400, "in the future"),
        ("signed an hour ahead", now + 3_600, "in the future"),
        ("signed in the year 9999", 253_402_300_799, "in the future"),
        ("signed at i64::MAX", i64::MAX, "in the future"),
    ] {
        cases.push(careers_at(
            &format!("{what} ({detail})"),
            careers_body(),
            at,
            "stale delivery: webhook-timestamp is",
        ));
    }
    for text in [
        "1e99",
        "9223372036854775808",
        "-9223372036854775809",
        "99999999999999999999999",
        "12.5",
        "0x5f5e100",
        "now",
        "1700000000 1700000000",
        "-",
    ] {
        cases.push(with_headers(
            careers(
                &format!("webhook-timestamp {text:?}"),
                careers_body(),
                401,
                "unauthorized",
                "webhook-timestamp is not an integer",
            ),
            |h| replace(h, "webhook-timestamp", text),
        ));
    }
    // Lever: `lever_max_age` is 60 s here, and 5 minutes ahead at most.
    let now = now_ms();
    let data = json!({ "opportunityId": "opp-hostile-1" });
    for (what, at, detail) in [
        ("triggered 61 s ago", now - 61_000, "old"),
        ("triggered 2 minutes ago", now - 120_000, "old"),
        ("triggered an hour ago", now - 3_600_000, "old"),
        ("triggered a day ago", now - 86_400_000, "old"),
        ("triggered a year ago", now - 365 * 86_400_000, "old"),
        ("triggered at the epoch", 0, "old"),
        ("triggered at -1", -1, "old"),
        ("triggered at i64::MIN", i64::MIN, "old"),
        ("triggered 400 s ahead", now + 400_000, "in the future"),
        ("triggered an hour ahead", now + 3_600_000, "in the future"),
        ("triggered at i64::MAX", i64::MAX, "in the future"),
    ] {
        cases.push(lever(
            &format!("{what} ({detail})"),
            to_bytes(&lever_envelope(
                Some(json!("candidateHired")),
                data.clone(),
                at,
            )),
            401,
            "unauthorized",
            "stale delivery: triggeredAt is",
        ));
    }
    for name in [fixtures::LEVER_STAGE_CHANGE, fixtures::LEVER_HIRED] {
        // The recorded deliveries, byte for byte: genuine but old.
        cases.push(lever(
            &format!("the recorded {name}"),
            payload(name),
            401,
            "unauthorized",
            "stale delivery: triggeredAt is",
        ));
    }
    let token = lever_signature_token();
    for (what, raw) in [
        ("1e99", "1e99"),
        ("a float", "1761298200123.0"),
        ("a fraction", "1761298200123.5"),
        ("past i64::MAX", "9223372036854775808"),
        ("before i64::MIN", "-9223372036854775809"),
        ("a string", "\"1761298200123\""),
        (
            "the string -9223372036854775808",
            "\"-9223372036854775808\"",
        ),
        ("a boolean", "true"),
        ("null", "null"),
        ("an array", "[1761298200123]"),
        ("an object", "{\"ms\": 1761298200123}"),
    ] {
        // Signed over the text as written, so only its type is wrong.
        let tok = unique("tok");
        let signed_text = raw.trim_matches('"');
        let sig = hex::encode(hmac_sha256(
            token.as_bytes(),
            format!("{tok}{signed_text}").as_bytes(),
        ));
        let body = format!(
            "{{\"triggeredAt\": {raw}, \"event\": \"candidateHired\", \"data\": {{\"opportunityId\": \"o\"}}, \"signature\": \"{sig}\", \"token\": \"{tok}\"}}"
        );
        cases.push(lever(
            &format!("triggeredAt {what}"),
            body.into_bytes(),
            401,
            "unauthorized",
            "triggeredAt is missing or not an integer",
        ));
    }
    cases
}
