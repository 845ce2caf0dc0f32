//! Tests of `connectors/lever/webhook.rs`.

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::test_support::payloads::{arb_json, hmac_hex, mutated, payload, payload_files, signed};

const STAGE_CHANGE: &str = "lever_candidateStageChange.json";
const HIRED: &str = "lever_candidateHired.json";
const FIVE_MINUTES: Duration = Duration::from_secs(300);
const OPPORTUNITY: &str = "3f1e0c2a-7b6d-4e59-9a8b-1c2d3e4f5a6b";

/// Body, signing token and `triggeredAt` of a recorded delivery.
fn delivery(name: &str) -> (Vec<u8>, Vec<u8>, i64) {
    let key = signed(name)
        .signature_token
        .expect("signature_token")
        .into_bytes();
    let body = payload(name);
    let value: Value = serde_json::from_slice(&body).unwrap();
    (body, key, value["triggeredAt"].as_i64().unwrap())
}

/// A delivery signed with `key` (any `triggeredAt` JSON value is
/// allowed, so tests can send wrong types).
fn body_with(key: &[u8], token: &str, triggered_at: &Value, event: &str, data: Value) -> Vec<u8> {
    let signed_at = match triggered_at {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let signature = hmac_hex(key, &[token.as_bytes(), signed_at.as_bytes()]);
    serde_json::to_vec(&json!({
        "triggeredAt": triggered_at, "event": event, "data": data,
        "signature": signature, "token": token,
    }))
    .unwrap()
}

fn edited(body: &[u8], edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(body).unwrap();
    edit(&mut value);
    serde_json::to_vec(&value).unwrap()
}

fn is_bad_signature(result: &Result<LeverDelivery, IntakeError>) -> bool {
    matches!(result, Err(IntakeError::BadSignature(_)))
}

#[test]
fn every_lever_payload_verifies_near_its_trigger_time_and_decodes() {
    let files = payload_files("lever_");
    assert!(files.len() >= 2, "{files:?}");
    for name in files {
        let (body, key, triggered_at) = delivery(&name);
        let delivery = verify(&key, &body, triggered_at + 1_500, FIVE_MINUTES)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(delivery.triggered_at_ms, triggered_at);
        assert_eq!(delivery.token.len(), 48, "{name}");
        match decode(&body).unwrap() {
            IntakeEvent::LeverOpportunity {
                event,
                opportunity_id,
            } => {
                assert_eq!(event, delivery.event);
                assert_eq!(opportunity_id, OPPORTUNITY);
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn decodes_the_samples_exactly() {
    let (body, key, _) = delivery(STAGE_CHANGE);
    assert_eq!(
        verify(&key, &body, 1_761_298_200_123, FIVE_MINUTES),
        Ok(LeverDelivery {
            token: "c2f7a9d14b6e8f0a3c5d7e9f1b3d5f7a9c1e3f5a7b9d1f3a".into(),
            triggered_at_ms: 1_761_298_200_123,
            event: "candidateStageChange".into(),
        })
    );
    assert_eq!(
        decode(&payload(HIRED)),
        Ok(IntakeEvent::LeverOpportunity {
            event: "candidateHired".into(),
            opportunity_id: OPPORTUNITY.into(),
        })
    );
}

#[test]
fn the_recorded_samples_are_stale_today() {
    let now = chrono::Utc::now().timestamp_millis();
    for name in payload_files("lever_") {
        let (body, key, _) = delivery(&name);
        assert!(matches!(
            verify(&key, &body, now, FIVE_MINUTES),
            Err(IntakeError::Stale(_))
        ));
    }
}

#[test]
fn freshness_window_edges() {
    let (body, key, t) = delivery(HIRED);
    let max = i64::try_from(FIVE_MINUTES.as_millis()).unwrap();
    assert!(verify(&key, &body, t + max, FIVE_MINUTES).is_ok());
    assert_eq!(
        verify(&key, &body, t + max + 1_000, FIVE_MINUTES),
        Err(IntakeError::Stale(
            "triggeredAt is 301s old; the limit is 300s".into()
        ))
    );
    assert!(verify(&key, &body, t - max, FIVE_MINUTES).is_ok());
    assert_eq!(
        verify(&key, &body, t - max - 1_000, FIVE_MINUTES),
        Err(IntakeError::Stale(
            "triggeredAt is 301s in the future; the limit is 300s".into()
        ))
    );
    // A longer max_age admits older deliveries, but the future bound
    // stays at MAX_FUTURE_SKEW.
    let day = Duration::from_secs(86_400);
    assert!(verify(&key, &body, t + 3_600_000, day).is_ok());
    assert!(matches!(
        verify(&key, &body, t - 3_600_000, day),
        Err(IntakeError::Stale(_))
    ));
}

#[test]
fn only_token_and_triggered_at_are_signed() {
    let (body, key, t) = delivery(STAGE_CHANGE);
    // Editing `data` does not break the signature. This is exactly why
    // the job re-fetches the opportunity instead of trusting `data`.
    let forged_data = edited(&body, |v| {
        v["data"]["opportunityId"] = "someone-else".into()
    });
    assert!(verify(&key, &forged_data, t, FIVE_MINUTES).is_ok());
    // Editing any signed part does break it.
    for edit in [
        (|v: &mut Value| v["token"] = "c2f7a9d14b6e8f0a3c5d7e9f1b3d5f7a9c1e3f5a7b9d1f3b".into())
            as fn(&mut Value),
        |v| v["triggeredAt"] = 1_761_298_200_124_i64.into(),
        |v| {
            v["signature"] =
                "1958b792d34f7a38bd68749d6c7a2d901fca7bc419da4c547ee108e49163de0e".into()
        },
    ] {
        assert_eq!(
            verify(&key, &edited(&body, edit), t, FIVE_MINUTES),
            Err(bad("signature does not match token + triggeredAt"))
        );
    }
}

#[test]
fn a_flipped_byte_in_a_signed_part_of_the_raw_body_is_a_bad_signature() {
    let (body, key, t) = delivery(HIRED);
    let text = std::str::from_utf8(&body).unwrap();
    for needle in ["9e8d7c6b", "1761901802456", "d7f25f9e"] {
        let at = text.find(needle).unwrap() + 2;
        let mut tampered = body.clone();
        tampered[at] = if tampered[at] == b'1' { b'2' } else { b'1' };
        assert!(
            is_bad_signature(&verify(&key, &tampered, t, FIVE_MINUTES)),
            "{needle}"
        );
    }
}

#[test]
fn wrong_or_missing_signing_token_is_a_bad_signature() {
    let (body, _, t) = delivery(HIRED);
    assert!(is_bad_signature(&verify(
        b"lever_test_signature_token_4d1f2b",
        &body,
        t,
        FIVE_MINUTES
    )));
    assert_eq!(
        verify(b"", &body, t, FIVE_MINUTES),
        Err(bad("no Lever signature token is configured"))
    );
}

#[test]
fn missing_or_mistyped_envelope_fields_are_bad_signatures() {
    let (body, key, t) = delivery(HIRED);
    for (field, replacement) in [
        ("token", Value::Null),
        ("token", json!("")),
        ("triggeredAt", Value::Null),
        ("triggeredAt", json!("1761901802456")),
        ("triggeredAt", json!(1_761_901_802_456.0)),
        ("signature", Value::Null),
        ("signature", json!(7)),
    ] {
        let body = edited(&body, |v| v[field] = replacement.clone());
        assert!(
            is_bad_signature(&verify(&key, &body, t, FIVE_MINUTES)),
            "{field}: {replacement}"
        );
    }
    for junk in [&b""[..], b"not json", b"[1,2]", b"\"token\""] {
        assert!(
            is_bad_signature(&verify(&key, junk, t, FIVE_MINUTES)),
            "{junk:?}"
        );
    }
}

#[test]
fn a_genuine_delivery_without_an_event_is_an_invalid_field() {
    let key = b"lever_test_signature_token_4d1f2a";
    let mut body: Value =
        serde_json::from_slice(&body_with(key, "tok", &json!(1_000), "x", json!({}))).unwrap();
    body.as_object_mut().unwrap().remove("event");
    let body = serde_json::to_vec(&body).unwrap();
    assert_eq!(
        verify(key, &body, 1_000, FIVE_MINUTES),
        Err(json::invalid("event", "missing"))
    );
}

#[test]
fn extreme_times_and_ages_do_not_overflow() {
    let key = b"lever_test_signature_token_4d1f2a";
    for triggered_at in [i64::MIN, -1, 0, i64::MAX] {
        let body = body_with(
            key,
            "tok",
            &json!(triggered_at),
            "candidateHired",
            json!({}),
        );
        for now in [i64::MIN, 0, i64::MAX] {
            for max_age in [Duration::ZERO, FIVE_MINUTES, Duration::MAX] {
                let result = verify(key, &body, now, max_age);
                assert!(
                    matches!(result, Ok(_) | Err(IntakeError::Stale(_))),
                    "{triggered_at} {now} {max_age:?}: {result:?}"
                );
            }
        }
    }
}

#[test]
fn decode_maps_opportunity_events_and_ignores_the_rest() {
    for event in OPPORTUNITY_EVENTS {
        let body = serde_json::to_vec(&json!({"event": event, "data": {"opportunityId": "opp-1"}}))
            .unwrap();
        assert_eq!(
            decode(&body),
            Ok(IntakeEvent::LeverOpportunity {
                event: event.into(),
                opportunity_id: "opp-1".into()
            })
        );
    }
    for event in ["candidateDeleted", "interviewCreated", "contactUpdated"] {
        let body = serde_json::to_vec(&json!({"event": event, "data": {}})).unwrap();
        assert_eq!(
            decode(&body),
            Ok(IntakeEvent::Ignored {
                event: event.into()
            })
        );
    }
}

#[test]
fn decode_names_missing_and_mistyped_fields() {
    let missing = json::invalid("data.opportunityId", "missing");
    for body in [
        json!({"event": "candidateHired", "data": {}}),
        json!({"event": "candidateHired"}),
        json!({"event": "applicationCreated", "data": {"opportunityId": null, "candidateId": "c"}}),
    ] {
        assert_eq!(
            decode(&serde_json::to_vec(&body).unwrap()),
            Err(missing.clone()),
            "{body}"
        );
    }
    assert_eq!(
        decode(br#"{"event":"candidateHired","data":{"opportunityId":["x"]}}"#),
        Err(json::invalid(
            "data.opportunityId",
            "expected a string or an integer, found array"
        ))
    );
    assert_eq!(
        decode(br#"{"event":"candidateHired","data":"x"}"#),
        Err(json::invalid("data", "expected an object, found string"))
    );
    assert_eq!(
        decode(br#"{"data":{}}"#),
        Err(json::invalid("event", "missing"))
    );
    assert_eq!(
        decode(br#"{"event":5}"#),
        Err(json::invalid("event", "expected a string, found number"))
    );
}

#[test]
fn non_json_is_malformed() {
    for body in [&b""[..], b"event=candidateHired", b"{\"event\":", &[0xff]] {
        assert!(
            matches!(decode(body), Err(IntakeError::MalformedJson(_))),
            "{body:?}"
        );
    }
}

proptest! {
    #[test]
    fn verify_never_panics_on_bytes(
        key in proptest::collection::vec(any::<u8>(), 0..64),
        body in proptest::collection::vec(any::<u8>(), 0..256),
        now in any::<i64>(),
        max_age_secs in any::<u64>(),
    ) {
        let _ = verify(&key, &body, now, Duration::from_secs(max_age_secs));
    }

    #[test]
    fn verify_never_panics_on_envelopes(
        token in "\\PC{0,60}",
        triggered_at in arb_json(),
        event in "\\PC{0,20}",
        now in any::<i64>(),
        max_age_ms in any::<u64>(),
    ) {
        let key = b"lever_test_signature_token_4d1f2a";
        let body = body_with(key, &token, &triggered_at, &event, json!({}));
        let _ = verify(key, &body, now, Duration::from_millis(max_age_ms));
    }

    #[test]
    fn genuine_fresh_deliveries_verify(
        token in "[0-9a-f]{48}",
        triggered_at in 0i64..4_000_000_000_000,
        delay_ms in -300_000i64..=300_000,
    ) {
        let key = b"lever_test_signature_token_4d1f2a";
        let body = body_with(key, &token, &json!(triggered_at), "candidateHired", json!({"opportunityId": "o"}));
        let delivery = verify(key, &body, triggered_at + delay_ms, FIVE_MINUTES).unwrap();
        prop_assert_eq!(delivery.token, token);
        prop_assert_eq!(delivery.triggered_at_ms, triggered_at);
        prop_assert!(verify(b"another-token", &body, triggered_at, FIVE_MINUTES).is_err());
    }

    #[test]
    fn decode_never_panics_on_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&body);
    }

    #[test]
    fn decode_never_panics_on_json(value in arb_json()) {
        let body = serde_json::to_vec(&value).unwrap();
        prop_assert!(!matches!(decode(&body), Err(IntakeError::MalformedJson(_))));
    }

    #[test]
    fn decode_of_a_mutated_fixture_is_ok_or_names_a_field(
        value in prop::sample::select(payload_files("lever_"))
            .prop_flat_map(|name| mutated(serde_json::from_slice(&payload(&name)).unwrap()))
    ) {
        let result = decode(&serde_json::to_vec(&value).unwrap());
        prop_assert!(
            matches!(result, Ok(_) | Err(IntakeError::InvalidField { .. })),
            "{:?}", result
        );
    }
}

/// A configured signing token: any non-empty bytes.
fn arb_key() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[!-~]{1,48}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 1..100),
    ]
}

/// Lever's per-delivery token: 48 hex characters, or anything
/// non-empty.
fn arb_token() -> impl Strategy<Value = String> {
    prop_oneof!["[0-9a-f]{48}", "\\PC{1,60}"]
}

/// `body` with its `signature` replaced by `signature`.
fn with_signature(body: &[u8], signature: &str) -> Vec<u8> {
    edited(body, |v| v["signature"] = signature.into())
}

/// The signature a body carries.
fn signature_of(body: &[u8]) -> String {
    let value: Value = serde_json::from_slice(body).unwrap();
    value["signature"].as_str().unwrap().to_owned()
}

const MISMATCH: &str = "signature does not match token + triggeredAt";

/// When a generated delivery is checked.
#[derive(Debug, Clone)]
enum Now {
    /// This many milliseconds after `triggeredAt`.
    After(i64),
    /// At or just past one edge of the window (index into the edges).
    Edge(usize),
    /// At this absolute time.
    At(i64),
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_delivery_signed_per_lever_verifies_for_any_key_token_time_and_data(
        key in arb_key(),
        token in arb_token(),
        triggered_at in any::<i64>(),
        event in "\\PC{0,24}",
        data in arb_json(),
    ) {
        // `data` is not signed, so whatever it holds makes no difference.
        let body = body_with(&key, &token, &json!(triggered_at), &event, data);
        prop_assert_eq!(
            verify(&key, &body, triggered_at, FIVE_MINUTES),
            Ok(LeverDelivery { token, triggered_at_ms: triggered_at, event })
        );
    }

    #[test]
    fn a_different_signing_token_is_a_bad_signature(
        key in arb_key(),
        token in arb_token(),
        triggered_at in any::<i64>(),
        flip_at in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let body = body_with(&key, &token, &json!(triggered_at), "candidateHired", json!({}));
        let mut other = key.clone();
        other[flip_at.index(key.len())] ^= 1 << bit;
        prop_assert_eq!(verify(&other, &body, triggered_at, FIVE_MINUTES), Err(bad(MISMATCH)));
    }

    #[test]
    fn a_flipped_signature_bit_or_hex_digit_is_a_bad_signature(
        key in arb_key(),
        token in arb_token(),
        triggered_at in any::<i64>(),
        mac_at in 0usize..32,
        bit in 0u8..8,
        digit_at in 0usize..64,
        digit in 1u32..16,
    ) {
        let body = body_with(&key, &token, &json!(triggered_at), "candidateHired", json!({}));
        let good = signature_of(&body);
        let mut mac = hex::decode(&good).unwrap();
        mac[mac_at] ^= 1 << bit;
        let flipped = with_signature(&body, &hex::encode(&mac));
        prop_assert_eq!(verify(&key, &flipped, triggered_at, FIVE_MINUTES), Err(bad(MISMATCH)));

        let old = char::from(good.as_bytes()[digit_at]).to_digit(16).unwrap();
        let new = char::from_digit((old + digit) % 16, 16).unwrap();
        let edited = format!("{}{new}{}", &good[..digit_at], &good[digit_at + 1..]);
        let edited = with_signature(&body, &edited);
        prop_assert_eq!(verify(&key, &edited, triggered_at, FIVE_MINUTES), Err(bad(MISMATCH)));
    }

    #[test]
    fn a_changed_token_or_triggered_at_is_a_bad_signature(
        key in arb_key(),
        token in arb_token(),
        other_token in arb_token(),
        triggered_at in any::<i64>(),
        other_triggered_at in any::<i64>(),
    ) {
        let body = body_with(&key, &token, &json!(triggered_at), "candidateHired", json!({}));
        // `now` is the claimed time, so only the signature can refuse it.
        if other_token != token {
            let forged = edited(&body, |v| v["token"] = other_token.clone().into());
            prop_assert_eq!(verify(&key, &forged, triggered_at, FIVE_MINUTES), Err(bad(MISMATCH)));
        }
        if other_triggered_at != triggered_at {
            let forged = edited(&body, |v| v["triggeredAt"] = other_triggered_at.into());
            prop_assert_eq!(
                verify(&key, &forged, other_triggered_at, FIVE_MINUTES),
                Err(bad(MISMATCH))
            );
        }
    }

    #[test]
    fn a_genuine_delivery_is_accepted_exactly_within_max_age_and_the_future_skew(
        triggered_at in prop_oneof![any::<i64>(), 0i64..4_000_000_000_000, Just(i64::MIN), Just(i64::MAX)],
        when in prop_oneof![
            (-400_000i64..=90_000_000).prop_map(Now::After),
            (0usize..4).prop_map(Now::Edge),
            any::<i64>().prop_map(Now::At),
        ],
        max_age_ms in prop_oneof![0u64..=86_400_000, any::<u64>()],
    ) {
        let key = b"lever_test_signature_token_4d1f2a";
        let body = body_with(key, "tok", &json!(triggered_at), "candidateHired", json!({}));
        let max_age = i64::try_from(max_age_ms).unwrap_or(i64::MAX);
        let now = match when {
            Now::After(offset) => triggered_at.saturating_add(offset),
            // Either side of either edge of the window.
            Now::Edge(edge) => [
                triggered_at.saturating_add(max_age),
                triggered_at.saturating_add(max_age).saturating_add(1),
                triggered_at.saturating_sub(300_000),
                triggered_at.saturating_sub(300_001),
            ][edge],
            Now::At(now) => now,
        };
        let result = verify(key, &body, now, Duration::from_millis(max_age_ms));
        let age = i128::from(now) - i128::from(triggered_at);
        let skew = i128::try_from(MAX_FUTURE_SKEW.as_millis()).unwrap();
        if age <= i128::from(max_age_ms) && -age <= skew {
            prop_assert!(result.is_ok(), "{:?}", result);
        } else {
            prop_assert!(matches!(result, Err(IntakeError::Stale(_))), "{:?}", result);
        }
    }

    #[test]
    fn shifting_digits_between_token_and_triggered_at_never_yields_a_fresh_delivery(
        token in "[0-9a-f]{40}[0-9]{1,8}",
        triggered_at in 1_500_000_000_000i64..4_000_000_000_000,
        max_age_secs in prop_oneof![Just(300u64), Just(86_400), 0u64..=365 * 86_400],
        delay in any::<prop::sample::Index>(),
        from_token in any::<bool>(),
        shift in 1usize..=12,
    ) {
        // `token + triggeredAt` is signed without a separator, so digits
        // can move across the boundary and the signature still matches.
        // A captured delivery could then be replayed under a token the
        // replay store has never seen. The freshness window is what
        // stops it: the moved digits shift `triggeredAt` by decades.
        let key = b"lever_test_signature_token_4d1f2a";
        let body = body_with(key, &token, &json!(triggered_at), "candidateHired", json!({}));
        let signature = signature_of(&body);
        let max_age = Duration::from_secs(max_age_secs);
        let max_age_ms = i64::try_from(max_age.as_millis()).unwrap();
        let now = triggered_at + i64::try_from(delay.index(usize::try_from(max_age_ms).unwrap() + 1)).unwrap();
        prop_assert!(verify(key, &body, now, max_age).is_ok());

        let time = triggered_at.to_string();
        let trailing_digits = token.bytes().rev().take_while(u8::is_ascii_digit).count();
        let (forged_token, forged_time) = if from_token {
            let k = shift.min(trailing_digits).min(5);
            let (head, digits) = token.split_at(token.len() - k);
            (head.to_owned(), format!("{digits}{time}"))
        } else {
            let (digits, rest) = time.split_at(shift);
            (format!("{token}{digits}"), rest.to_owned())
        };
        prop_assert_eq!(format!("{forged_token}{forged_time}"), format!("{token}{time}"));
        let forged_ms: i64 = forged_time.parse().unwrap();
        let forged = serde_json::to_vec(&json!({
            "triggeredAt": forged_ms, "event": "candidateHired", "data": {},
            "signature": signature, "token": forged_token,
        }))
        .unwrap();
        let result = verify(key, &forged, now, max_age);
        if forged_ms.to_string() == forged_time {
            // The signature matches; only freshness refuses it.
            prop_assert!(matches!(result, Err(IntakeError::Stale(_))), "{:?}", result);
        } else {
            // Leading zeros: JSON writes the number without them.
            prop_assert_eq!(result, Err(bad(MISMATCH)));
        }
    }
}
