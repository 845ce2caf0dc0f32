//! Tests of `outbound/webhook.rs`.

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use axum::http::StatusCode as AxumStatus;
use chrono::TimeZone;

use super::*;
use crate::test_support::payloads::{payload, signed};
use crate::test_support::server::{Reply, Seen, TestServer};

const SAMPLE: &str = "outbound_referral_milestone_reached.json";
/// A test-only secret: base64 of 32 bytes.
const SECRET: &str = "whsec_dGVzdC1vbmx5LXNlY3JldC0zMi1ieXRlcy1sb25nISE=";

fn message() -> Message {
    let sample: serde_json::Value = serde_json::from_slice(&payload(SAMPLE)).unwrap();
    Message {
        id: "msg_2nVq8m1c0QZb7D3xR5tY9uWk".into(),
        event_type: "referral.milestone_reached".into(),
        occurred_at: Utc.with_ymd_and_hms(2026, 3, 1, 0, 5, 0).unwrap(),
        data: sample["data"].clone(),
        idempotency_key: "ref_01JB7Y4M2N8P0Q3R5S7T9V1W3X:probation_completed".into(),
    }
}

fn options(timeout: Duration) -> OutboundOptions {
    OutboundOptions {
        http: HttpOptions {
            connect_timeout: timeout / 2,
            timeout,
            allow_private_networks: true,
            ..HttpOptions::default()
        },
        ..OutboundOptions::default()
    }
}

fn client_for(base: &str, idempotent: bool, timeout: Duration) -> OutboundClient {
    let mut dest = Destination::new(
        "bonus-system",
        Url::parse(&format!("{base}/hooks/bonus")).unwrap(),
        SECRET,
        NonZeroU32::new(100).unwrap(),
    );
    dest.idempotent = idempotent;
    OutboundClient::with_options(dest, &options(timeout)).unwrap()
}

fn client(base: &str) -> OutboundClient {
    client_for(base, true, Duration::from_secs(5))
}

/// A bonus-system receiver: verifies the signature with the
/// `standardwebhooks` crate (401 if bad), then answers with `reply`
/// for the n-th (0-based) verified request, and counts deliveries
/// (2xx answers) by `Idempotency-Key`.
struct Receiver {
    server: TestServer,
    delivered: Arc<Mutex<HashMap<String, usize>>>,
}

impl Receiver {
    async fn start(reply: impl Fn(usize) -> Reply + Send + Sync + 'static) -> Self {
        Self::start_with_delay(None, reply).await
    }

    async fn start_with_delay(
        delay: Option<Duration>,
        reply: impl Fn(usize) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let delivered = Arc::new(Mutex::new(HashMap::<String, usize>::new()));
        let counter = AtomicUsize::new(0);
        let seen_delivered = delivered.clone();
        let server = TestServer::start_with_delay(delay, move |seen: &Seen| {
            if let Err(e) = Webhook::new(SECRET)
                .unwrap()
                .verify(&seen.body, &seen.headers)
            {
                return (
                    AxumStatus::UNAUTHORIZED,
                    vec![],
                    format!("bad signature: {e}"),
                );
            }
            let reply = reply(counter.fetch_add(1, Ordering::SeqCst));
            if reply.0.is_success() {
                let key = seen.header("idempotency-key").unwrap_or("").to_owned();
                *seen_delivered.lock().unwrap().entry(key).or_default() += 1;
            }
            reply
        })
        .await;
        Self { server, delivered }
    }

    fn deliveries(&self, key: &str) -> usize {
        self.delivered
            .lock()
            .unwrap()
            .get(key)
            .copied()
            .unwrap_or(0)
    }
}

fn status(code: AxumStatus) -> Reply {
    (code, vec![], String::new())
}

#[test]
fn the_signer_reproduces_the_recorded_signature() {
    let body = payload(SAMPLE);
    let fixture = signed(SAMPLE);
    let secret = fixture.secret.clone().unwrap();
    let id = fixture.header("webhook-id");
    let timestamp: i64 = fixture.header("webhook-timestamp").parse().unwrap();
    let expected = fixture.header("webhook-signature");
    assert_eq!(sign(&secret, &id, timestamp, &body).unwrap(), expected);

    let client = OutboundClient::new(Destination::new(
        "bonus-system",
        Url::parse("https://bonus.example/hooks").unwrap(),
        secret,
        NonZeroU32::new(5).unwrap(),
    ))
    .unwrap();
    assert_eq!(client.sign(&id, timestamp, &body).unwrap(), expected);
}

#[test]
fn the_body_is_the_compact_envelope_and_stable() {
    let msg = message();
    let body = msg.body();
    assert!(body.starts_with(
        br#"{"type":"referral.milestone_reached","timestamp":"2026-03-01T00:05:00Z","data":{"#
    ));
    assert_eq!(body, msg.body());
    let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let sample: serde_json::Value = serde_json::from_slice(&payload(SAMPLE)).unwrap();
    assert_eq!(parsed, sample);
}

#[test]
fn a_new_secret_is_usable_and_never_the_same_twice() {
    let (a, b) = (new_secret(), new_secret());
    assert!(a.starts_with("whsec_"), "{a}");
    assert_ne!(a, b);
    standard_webhook(&a).expect("a fresh secret is a usable one");
    let msg = message();
    let body = msg.body();
    let signature = sign(&a, &msg.id, 1_700_000_000, &body).expect("signed");
    let other = sign(&b, &msg.id, 1_700_000_000, &body).expect("signed");
    assert_ne!(signature, other, "another secret, another signature");
}

#[test]
fn secrets_are_checked_and_never_printed() {
    let dest = Destination::new(
        "bonus-system",
        Url::parse("https://bonus.example/hooks").unwrap(),
        SECRET,
        NonZeroU32::new(5).unwrap(),
    );
    let printed = format!("{dest:?}");
    assert!(!printed.contains("dGVzdC1vbmx5"), "{printed}");
    let client = OutboundClient::new(dest.clone()).unwrap();
    assert!(!format!("{client:?}").contains("dGVzdC1vbmx5"));

    let short = Destination {
        secret: "whsec_c2hvcnQ=".into(),
        ..dest.clone()
    };
    assert!(matches!(
        OutboundClient::new(short),
        Err(Error::Invalid { field, .. }) if field == "secret"
    ));
    let ftp = Destination {
        url: Url::parse("ftp://bonus.example/").unwrap(),
        ..dest
    };
    assert!(OutboundClient::new(ftp).is_err());
}

#[tokio::test]
async fn a_2xx_is_delivered_with_signed_headers() {
    let receiver = Receiver::start(|_| status(AxumStatus::ACCEPTED)).await;
    let msg = message();
    let outcome = client(&receiver.server.base).send(&msg).await;
    assert!(
        matches!(outcome, SendOutcome::Delivered { status: 202, .. }),
        "{outcome:?}"
    );
    assert_eq!(receiver.deliveries(&msg.idempotency_key), 1);
    let seen = receiver.server.seen();
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    assert_eq!(req.method, axum::http::Method::POST);
    assert_eq!(req.uri, "/hooks/bonus");
    assert_eq!(req.header("webhook-id"), Some(msg.id.as_str()));
    assert_eq!(
        req.header("idempotency-key"),
        Some(msg.idempotency_key.as_str())
    );
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert!(req.header("webhook-signature").unwrap().starts_with("v1,"));
    assert_eq!(req.body.as_ref(), msg.body().as_slice());
    assert_eq!(outcome.into_job_result().ok(), Some(()));
}

#[tokio::test]
async fn three_500s_then_200_resend_the_same_id_and_body() {
    let receiver = Receiver::start(|n| {
        if n < 3 {
            status(AxumStatus::INTERNAL_SERVER_ERROR)
        } else {
            status(AxumStatus::OK)
        }
    })
    .await;
    let client = client(&receiver.server.base);
    let msg = message();
    let mut outcomes = Vec::new();
    for _ in 0..4 {
        outcomes.push(client.send(&msg).await);
    }
    for outcome in &outcomes[..3] {
        assert!(
            matches!(
                outcome,
                SendOutcome::Retry {
                    after: None,
                    status: Some(500),
                    ..
                }
            ),
            "{outcome:?}"
        );
    }
    assert!(matches!(
        outcomes[3],
        SendOutcome::Delivered { status: 200, .. }
    ));
    assert!(matches!(
        outcomes[0].clone().into_job_result(),
        Err(Error::Retryable(_))
    ));

    let seen = receiver.server.seen();
    assert_eq!(seen.len(), 4);
    for req in &seen {
        assert_eq!(req.header("webhook-id"), seen[0].header("webhook-id"));
        assert_eq!(req.body, seen[0].body);
        assert!(req.header("webhook-timestamp").is_some());
    }
    assert_eq!(receiver.deliveries(&msg.idempotency_key), 1);
}

#[tokio::test]
async fn a_429_with_retry_after_is_a_retry_at_that_time() {
    let receiver = Receiver::start(|_| {
        (
            AxumStatus::TOO_MANY_REQUESTS,
            vec![("retry-after", "7".into())],
            "slow down".into(),
        )
    })
    .await;
    let client = client(&receiver.server.base);
    let outcome = client.send(&message()).await;
    match &outcome {
        SendOutcome::Retry {
            after,
            status,
            reason,
        } => {
            assert_eq!(*after, Some(Duration::from_secs(7)));
            assert_eq!(*status, Some(429));
            assert!(reason.contains("slow down"), "{reason}");
        }
        other => panic!("expected Retry, got {other:?}"),
    }
    // The destination is paused for everyone in the process.
    assert!(client.limiter().paused_for().is_some());
    match outcome.into_job_result() {
        Err(Error::RetryAfter { after, .. }) => assert_eq!(after, Duration::from_secs(7)),
        other => panic!("expected RetryAfter, got {other:?}"),
    }
}

#[tokio::test]
async fn a_400_fails_without_retry() {
    let receiver =
        Receiver::start(|_| (AxumStatus::BAD_REQUEST, vec![], "amount_minor: bad".into())).await;
    let msg = message();
    let outcome = client(&receiver.server.base).send(&msg).await;
    match &outcome {
        SendOutcome::Failed { status, reason } => {
            assert_eq!(*status, 400);
            assert!(reason.contains("amount_minor: bad"), "{reason}");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    assert!(matches!(
        outcome.into_job_result(),
        Err(Error::Permanent(_))
    ));
    assert_eq!(receiver.server.seen().len(), 1);
    assert_eq!(receiver.deliveries(&msg.idempotency_key), 0);
}

#[tokio::test]
async fn a_410_is_gone() {
    let receiver = Receiver::start(|_| status(AxumStatus::GONE)).await;
    let outcome = client(&receiver.server.base).send(&message()).await;
    assert!(matches!(outcome, SendOutcome::Gone { .. }), "{outcome:?}");
    assert!(matches!(outcome.into_job_result(), Err(Error::Permanent(m)) if m.contains("410")));
}

#[tokio::test]
async fn a_redirect_fails_and_is_not_followed() {
    let receiver = Receiver::start(|_| {
        (
            AxumStatus::FOUND,
            vec![("location", "/elsewhere".into())],
            String::new(),
        )
    })
    .await;
    let outcome = client(&receiver.server.base).send(&message()).await;
    match &outcome {
        SendOutcome::Failed { status, reason } => {
            assert_eq!(*status, 302);
            assert!(reason.contains("/elsewhere"), "{reason}");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    let seen = receiver.server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].uri, "/hooks/bonus");
}

#[tokio::test]
async fn no_answer_is_resent_only_to_an_idempotent_destination() {
    // The receiver reads the whole request, then sleeps far past the
    // client's timeout.
    let receiver =
        Receiver::start_with_delay(Some(Duration::from_secs(30)), |_| status(AxumStatus::OK)).await;
    let timeout = Duration::from_millis(300);
    let msg = message();

    let idempotent = client_for(&receiver.server.base, true, timeout);
    let outcome = idempotent.send(&msg).await;
    assert!(
        matches!(
            outcome,
            SendOutcome::Retry {
                after: None,
                status: None,
                ..
            }
        ),
        "{outcome:?}"
    );

    let not_idempotent = client_for(&receiver.server.base, false, timeout);
    let outcome = not_idempotent.send(&msg).await;
    assert!(
        matches!(outcome, SendOutcome::OutcomeUnknown { .. }),
        "{outcome:?}"
    );
    let err = outcome.into_job_result().unwrap_err();
    assert!(is_outcome_unknown(&err), "{err}");
    assert!(matches!(&err, Error::Permanent(m) if m.starts_with("outcome unknown")));

    // Both requests did reach the receiver: that is why the outcome is
    // unknown and not "never sent".
    assert_eq!(receiver.server.seen().len(), 2);
}

#[tokio::test]
async fn connection_refused_is_retried_everywhere() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    for idempotent in [true, false] {
        let outcome = client_for(&base, idempotent, Duration::from_secs(2))
            .send(&message())
            .await;
        match &outcome {
            SendOutcome::Retry {
                after: None,
                status: None,
                reason,
            } => assert!(reason.contains("could not connect"), "{reason}"),
            other => panic!("idempotent={idempotent}: expected Retry, got {other:?}"),
        }
        assert!(!format!("{outcome:?}").contains("dGVzdC1vbmx5"));
    }
}

#[tokio::test]
async fn an_invalid_message_is_not_sent() {
    let receiver = Receiver::start(|_| status(AxumStatus::OK)).await;
    let msg = Message {
        id: "msg.with.dots".into(),
        ..message()
    };
    let outcome = client(&receiver.server.base).send(&msg).await;
    assert!(
        matches!(outcome, SendOutcome::Failed { status: 0, .. }),
        "{outcome:?}"
    );
    assert!(receiver.server.seen().is_empty());
}

/// Properties of what [`sign`] produces, for any secret and message.
mod signing_properties {
    use base64::Engine as _;
    use proptest::prelude::*;

    use super::*;
    use crate::test_support::payloads::arb_json;

    /// A usable key: 24 to 64 random bytes.
    fn arb_key() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 24..=64)
    }

    /// `whsec_` + base64 of `key`.
    fn secret_for(key: &[u8]) -> String {
        format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(key)
        )
    }

    /// A message id the client sends: visible ASCII without `.`.
    fn arb_id() -> impl Strategy<Value = String> {
        prop_oneof!["msg_[0-9A-Z]{26}", "[!-\\-/-~]{1,40}"]
    }

    fn arb_message() -> impl Strategy<Value = Message> {
        (
            arb_id(),
            "\\PC{0,30}",
            0i64..4_102_444_800,
            0u32..1_000_000_000,
            arb_json(),
            "[!-~]{1,40}",
        )
            .prop_map(
                |(id, event_type, secs, nanos, data, idempotency_key)| Message {
                    id,
                    event_type,
                    occurred_at: Utc.timestamp_opt(secs, nanos).unwrap(),
                    data,
                    idempotency_key,
                },
            )
    }

    fn headers(id: &str, timestamp: i64, signature: &str) -> reqwest::header::HeaderMap {
        let mut map = reqwest::header::HeaderMap::new();
        map.insert(HEADER_WEBHOOK_ID, id.parse().unwrap());
        map.insert(HEADER_WEBHOOK_TIMESTAMP, timestamp.into());
        map.insert(HEADER_WEBHOOK_SIGNATURE, signature.parse().unwrap());
        map
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn what_we_sign_verifies_with_the_standardwebhooks_receiver_and_tampering_does_not(
            key in arb_key(),
            msg in arb_message(),
            other_id in arb_id(),
            skew in -240i64..=240,
            flip_at in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            prop_assert_eq!(msg.check(), Ok(()));
            let secret = secret_for(&key);
            let body = msg.body();
            // `Webhook::verify` reads the wall clock and allows five
            // minutes either way.
            let timestamp = Utc::now().timestamp() + skew;
            let signature = sign(&secret, &msg.id, timestamp, &body).unwrap();
            let receiver = Webhook::new(&secret).unwrap();
            let sent = headers(&msg.id, timestamp, &signature);
            prop_assert!(receiver.verify(&body, &sent).is_ok());

            let mut tampered = body.clone();
            tampered[flip_at.index(body.len())] ^= 1 << bit;
            prop_assert!(receiver.verify(&tampered, &sent).is_err());

            if other_id != msg.id {
                let relabelled = headers(&other_id, timestamp, &signature);
                prop_assert!(receiver.verify(&body, &relabelled).is_err());
            }
        }

        #[test]
        fn the_signature_is_the_spec_mac_at_any_timestamp(
            key in arb_key(),
            id in arb_id(),
            body in "\\PC{0,300}",
            timestamp in any::<i64>(),
        ) {
            use hmac::{KeyInit, Mac};
            let secret = secret_for(&key);
            let signature = sign(&secret, &id, timestamp, body.as_bytes()).unwrap();
            let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&key).unwrap();
            mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
            let expected = format!(
                "v1,{}",
                base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
            );
            prop_assert_eq!(&signature, &expected);
            // And our own intake accepts it at that time.
            let timestamp_text = timestamp.to_string();
            let sent = [
                ("webhook-id", id.as_str()),
                ("webhook-timestamp", timestamp_text.as_str()),
                ("webhook-signature", signature.as_str()),
            ];
            prop_assert_eq!(
                crate::connectors::careers_site::verify_at(&secret, &sent, body.as_bytes(), timestamp),
                Ok(id)
            );
        }
    }
}
