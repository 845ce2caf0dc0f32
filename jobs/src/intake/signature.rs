//! Plumbing shared by the three intake verifiers and decoders.
//!
//! # Why webhooks are signed
//!
//! A webhook endpoint is a public URL, so anyone who finds it can POST to it.
//! Each sender shares a secret with us and sends a MAC (message
//! authentication code) that only a holder of the secret could have
//! computed: `HMAC-SHA256(secret, message)`. We compute the same MAC and
//! accept the delivery only if the two match. What counts as the
//! *message* differs per vendor:
//!
//! | Source | Message | Where the MAC travels |
//! |---|---|---|
//! | careers site (Standard Webhooks) | `{webhook-id}.{webhook-timestamp}.{body}` | `webhook-signature: v1,<base64>` |
//! | Greenhouse | the raw body | `Signature: sha256 <hex>` |
//! | Lever | `{token}{triggeredAt}` (the body is **not** covered) | `signature` field inside the body |
//!
//! # Verify bytes, never re-serialised JSON
//!
//! A MAC covers bytes, not "the JSON". `{"a":1}` and `{ "a": 1 }` mean the
//! same thing but have different MACs. Greenhouse writes `<` as `\u003c`
//! and a Rust serialiser would not. So verification always runs over the
//! exact bytes received, before any parsing.
//!
//! # Compare in constant time
//!
//! `==` on byte slices stops at the first difference, so how long it takes
//! reveals how many leading bytes of a forged MAC were right. Measured over
//! many requests, that lets an attacker guess a valid MAC byte by byte.
//! [`hmac::Mac::verify_slice`] and [`subtle::ConstantTimeEq`] always
//! look at every byte. Every comparison of a MAC in this module tree uses
//! one of them.
//!
//! # What lives here
//!
//! * [`HeaderLookup`]: how a verifier reads HTTP headers without this crate
//!   depending on an HTTP library.
//! * `hmac_sha256_hex_matches`: the hex HMAC check that Greenhouse and Lever
//!   share.
//! * `json`: typed access to decoded JSON whose errors name the dotted
//!   field path ([`IntakeError::InvalidField`](super::IntakeError::InvalidField)).
//!   It sits here only because this is the intake module's one shared file.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Reads request headers by name, ignoring ASCII case as HTTP requires.
///
/// The `jobs` crate does not depend on an HTTP library, so verifiers take
/// this small trait instead of a `HeaderMap`. It is implemented for:
///
/// * slices, arrays and `Vec`s of `(name, value)` pairs (`String` or
///   `&str`), compared ignoring ASCII case, first match wins;
/// * any `Fn(&str) -> Option<String>`, for example over an axum/`http`
///   `HeaderMap` (whose own lookup already ignores case):
///
/// ```ignore
/// let lookup = |name: &str| headers.get(name)?.to_str().ok().map(str::to_owned);
/// careers_site::verify(secret, &lookup, &body)?;
/// ```
///
/// Header values that are not valid UTF-8 are no use to a verifier. A
/// closure should return `None` for them, and a verifier then reports the
/// header as missing.
pub trait HeaderLookup {
    /// The value of header `name`, if present.
    fn header(&self, name: &str) -> Option<String>;
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderLookup for [(K, V)] {
    fn header(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(key, _)| key.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_ref().to_owned())
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> HeaderLookup for [(K, V); N] {
    fn header(&self, name: &str) -> Option<String> {
        self.as_slice().header(name)
    }
}

impl<K: AsRef<str>, V: AsRef<str>> HeaderLookup for Vec<(K, V)> {
    fn header(&self, name: &str) -> Option<String> {
        self.as_slice().header(name)
    }
}

impl<F: Fn(&str) -> Option<String>> HeaderLookup for F {
    fn header(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// HMAC-SHA256 as Greenhouse and Lever compute it.
pub(crate) type HmacSha256 = Hmac<Sha256>;

/// Length of a hex-encoded SHA-256 MAC.
const HEX_MAC_LEN: usize = 64;

/// Starts an HMAC-SHA256 keyed with `key`.
pub(crate) fn hmac_sha256(key: &[u8]) -> HmacSha256 {
    // HMAC is defined for keys of any length: long keys are hashed, short
    // ones zero-padded. hmac 0.13 overrides `KeyInit::new_from_slice` so it
    // never fails. The `Result` only exists because the generic trait
    // also serves fixed-key ciphers.
    <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// Whether `claimed_hex` is the hex HMAC-SHA256 under `key` of `parts`
/// joined end to end. Either letter case is accepted.
///
/// The check compares the MAC bytes in constant time ([`Mac::verify_slice`]).
/// A wrong *length* is refused at once, but that leaks nothing: every
/// SHA-256 MAC is 64 hex digits and everybody knows it.
pub(crate) fn hmac_sha256_hex_matches(key: &[u8], parts: &[&[u8]], claimed_hex: &str) -> bool {
    if claimed_hex.len() != HEX_MAC_LEN {
        return false;
    }
    let Ok(claimed) = hex::decode(claimed_hex) else {
        return false;
    };
    let mut mac = hmac_sha256(key);
    for part in parts {
        mac.update(part);
    }
    mac.verify_slice(&claimed).is_ok()
}

/// Typed access to a decoded JSON body, with errors that name the field.
///
/// Rules, the same for all three decoders:
///
/// * **Only fields that are read are checked.** Vendors add fields all the
///   time. An unexpected shape somewhere we never look must not break
///   intake.
/// * **`null` means absent.** Greenhouse sends `"credited_to": null` and
///   `"current_stage": null` for "not set".
/// * **A present field with the wrong type is an error, not `None`.** The
///   fields we read decide who gets a bonus. Silently dropping a referral
///   token that changed type loses someone's money without a trace. A
///   422 with `application.custom_fields.referral_token.value: expected a
///   string, found number` gets fixed.
/// * **Ids may be strings or integers** (Greenhouse sends numbers) and are
///   always returned as strings.
pub(crate) mod json {
    use chrono::{DateTime, Utc};
    use serde_json::{Map, Value};

    use crate::intake::IntakeError;

    /// Parses a body, mapping anything that is not JSON to
    /// [`IntakeError::MalformedJson`].
    ///
    /// `serde_json` limits nesting to 128 levels, so a hostile body cannot
    /// exhaust the stack. Its error messages give only line and column,
    /// never body content, so they are safe to log.
    pub(crate) fn parse(body: &[u8]) -> Result<Value, IntakeError> {
        serde_json::from_slice(body).map_err(|e| IntakeError::MalformedJson(e.to_string()))
    }

    /// Builds an [`IntakeError::InvalidField`].
    pub(crate) fn invalid(field: impl Into<String>, problem: impl Into<String>) -> IntakeError {
        IntakeError::InvalidField {
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// `Some(raw)` when `raw` has any non-whitespace content. The value is
    /// returned untrimmed, because emails and phones are kept exactly as
    /// sent and canonicalised later.
    pub(crate) fn non_blank(raw: Option<&str>) -> Option<String> {
        raw.filter(|s| !s.trim().is_empty()).map(str::to_owned)
    }

    /// A JSON object that may be absent, together with its dotted path
    /// (`application.candidate`). Reading from an absent object yields
    /// absent fields. A *required* field under an absent parent is then
    /// reported by its own full path (`job.ats_job_id: missing`), which
    /// says exactly what the sender has to add.
    #[derive(Debug, Clone)]
    pub(crate) struct Obj<'a> {
        map: Option<&'a Map<String, Value>>,
        path: String,
    }

    impl<'a> Obj<'a> {
        /// The top-level object. Any other JSON value is reported against
        /// the path `$` (the JSONPath root).
        pub(crate) fn root(value: &'a Value) -> Result<Self, IntakeError> {
            match value {
                Value::Object(map) => Ok(Obj {
                    map: Some(map),
                    path: String::new(),
                }),
                other => Err(wrong_type("$".to_owned(), "an object", other)),
            }
        }

        /// Whether the object exists (neither absent nor `null`).
        pub(crate) fn is_present(&self) -> bool {
            self.map.is_some()
        }

        /// The dotted path of child `key`.
        pub(crate) fn path_of(&self, key: &str) -> String {
            if self.path.is_empty() {
                key.to_owned()
            } else {
                format!("{}.{key}", self.path)
            }
        }

        fn get(&self, key: &str) -> Option<&'a Value> {
            self.map?.get(key).filter(|v| !v.is_null())
        }

        /// Child object `key` (absent if missing or `null`).
        pub(crate) fn obj(&self, key: &str) -> Result<Obj<'a>, IntakeError> {
            let path = self.path_of(key);
            match self.get(key) {
                None => Ok(Obj { map: None, path }),
                Some(Value::Object(map)) => Ok(Obj {
                    map: Some(map),
                    path,
                }),
                Some(other) => Err(wrong_type(path, "an object", other)),
            }
        }

        /// Like [`Obj::obj`], but an empty array also counts as absent.
        /// Greenhouse writes some empty `custom_fields` maps as `[]` (see
        /// `application.opening.custom_fields` in its `hire_candidate`
        /// example).
        pub(crate) fn map_or_empty_array(&self, key: &str) -> Result<Obj<'a>, IntakeError> {
            match self.get(key) {
                Some(Value::Array(items)) if items.is_empty() => Ok(Obj {
                    map: None,
                    path: self.path_of(key),
                }),
                _ => self.obj(key),
            }
        }

        /// The first object in array `key` (absent if the array is missing,
        /// `null` or empty). Later elements are not looked at.
        pub(crate) fn first(&self, key: &str) -> Result<Obj<'a>, IntakeError> {
            let path = self.path_of(key);
            match self.get(key) {
                None => Ok(Obj { map: None, path }),
                Some(Value::Array(items)) => {
                    let path = format!("{path}[0]");
                    match items.first() {
                        None | Some(Value::Null) => Ok(Obj { map: None, path }),
                        Some(Value::Object(map)) => Ok(Obj {
                            map: Some(map),
                            path,
                        }),
                        Some(other) => Err(wrong_type(path, "an object", other)),
                    }
                }
                Some(other) => Err(wrong_type(path, "an array", other)),
            }
        }

        /// Every object in array `key`, skipping `null` elements.
        pub(crate) fn all(&self, key: &str) -> Result<Vec<Obj<'a>>, IntakeError> {
            let path = self.path_of(key);
            match self.get(key) {
                None => Ok(Vec::new()),
                Some(Value::Array(items)) => items
                    .iter()
                    .enumerate()
                    .filter(|(_, item)| !item.is_null())
                    .map(|(i, item)| {
                        let path = format!("{path}[{i}]");
                        match item {
                            Value::Object(map) => Ok(Obj {
                                map: Some(map),
                                path,
                            }),
                            other => Err(wrong_type(path, "an object", other)),
                        }
                    })
                    .collect(),
                Some(other) => Err(wrong_type(path, "an array", other)),
            }
        }

        /// Optional string `key`.
        pub(crate) fn str(&self, key: &str) -> Result<Option<&'a str>, IntakeError> {
            match self.get(key) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(other) => Err(wrong_type(self.path_of(key), "a string", other)),
            }
        }

        /// Required string `key`.
        pub(crate) fn req_str(&self, key: &str) -> Result<&'a str, IntakeError> {
            self.str(key)?
                .ok_or_else(|| invalid(self.path_of(key), "missing"))
        }

        /// Optional id `key`: a string or an integer, returned as a string.
        /// A blank string counts as absent.
        pub(crate) fn id(&self, key: &str) -> Result<Option<String>, IntakeError> {
            match self.get(key) {
                None => Ok(None),
                Some(value) => id_value(self.path_of(key), value),
            }
        }

        /// Required id `key`. A blank string is reported as `empty`.
        pub(crate) fn req_id(&self, key: &str) -> Result<String, IntakeError> {
            let path = self.path_of(key);
            match self.get(key) {
                None => Err(invalid(path, "missing")),
                Some(value) => id_value(path.clone(), value)?.ok_or_else(|| invalid(path, "empty")),
            }
        }

        /// Optional boolean `key`.
        pub(crate) fn bool(&self, key: &str) -> Result<Option<bool>, IntakeError> {
            match self.get(key) {
                None => Ok(None),
                Some(Value::Bool(b)) => Ok(Some(*b)),
                Some(other) => Err(wrong_type(self.path_of(key), "a boolean", other)),
            }
        }

        /// Optional RFC 3339 timestamp `key`, converted to UTC.
        pub(crate) fn time(&self, key: &str) -> Result<Option<DateTime<Utc>>, IntakeError> {
            let Some(raw) = self.str(key)? else {
                return Ok(None);
            };
            DateTime::parse_from_rfc3339(raw)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|_| invalid(self.path_of(key), "expected an RFC 3339 timestamp"))
        }

        /// Required RFC 3339 timestamp `key`.
        pub(crate) fn req_time(&self, key: &str) -> Result<DateTime<Utc>, IntakeError> {
            self.time(key)?
                .ok_or_else(|| invalid(self.path_of(key), "missing"))
        }

        /// Timestamp `key` if it is there and readable, else `None`, never
        /// an error. Use it only where the caller has a fallback (e.g. "when
        /// did this stage change happen"). Both RFC 3339 and a bare
        /// `YYYY-MM-DD` (read as midnight UTC) are accepted.
        pub(crate) fn time_lenient(&self, key: &str) -> Option<DateTime<Utc>> {
            let raw = self.get(key)?.as_str()?;
            if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
                return Some(t.with_timezone(&Utc));
            }
            let date = chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()?;
            Some(date.and_hms_opt(0, 0, 0)?.and_utc())
        }
    }

    fn id_value(path: String, value: &Value) -> Result<Option<String>, IntakeError> {
        match value {
            Value::String(s) if s.trim().is_empty() => Ok(None),
            Value::String(s) => Ok(Some(s.clone())),
            // `is_i64`/`is_u64` are false for floats such as `1.5` or
            // `4e3`. An id that went through a float may have lost
            // digits, so it is refused rather than guessed at.
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(Some(n.to_string())),
            other => Err(wrong_type(path, "a string or an integer", other)),
        }
    }

    fn wrong_type(path: String, expected: &str, found: &Value) -> IntakeError {
        let found = match found {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        invalid(path, format!("expected {expected}, found {found}"))
    }
}

/// Fixture access and generators shared by the intake tests.
#[cfg(test)]
pub(crate) mod test_support {
    use std::path::PathBuf;

    use proptest::prelude::*;
    use serde_json::Value;

    /// `/work/shared/payloads`, found relative to this crate.
    pub(crate) fn payload_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/payloads")
    }

    /// The exact bytes of payload file `name`.
    pub(crate) fn payload(name: &str) -> Vec<u8> {
        let path = payload_dir().join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    /// Names of the payload files starting with `prefix`, sorted.
    pub(crate) fn payload_files(prefix: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(payload_dir())
            .expect("payload dir")
            .map(|entry| {
                entry
                    .expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|name| name.starts_with(prefix) && name.ends_with(".json"))
            .collect();
        names.sort();
        names
    }

    /// What `signatures.json` says about one payload file.
    pub(crate) struct Signed {
        /// Headers of the recorded delivery.
        pub(crate) headers: Vec<(String, String)>,
        /// `secret` (Greenhouse, Standard Webhooks), if any.
        pub(crate) secret: Option<String>,
        /// `signature_token` (Lever), if any.
        pub(crate) signature_token: Option<String>,
    }

    impl Signed {
        /// Header `name`, case-insensitive; panics if absent.
        pub(crate) fn header(&self, name: &str) -> String {
            use super::HeaderLookup;
            self.headers
                .header(name)
                .unwrap_or_else(|| panic!("signatures.json: no {name} header"))
        }
    }

    /// The `signatures.json` entry for payload file `name`.
    pub(crate) fn signed(name: &str) -> Signed {
        let all: Value =
            serde_json::from_slice(&payload("signatures.json")).expect("signatures.json");
        let entry = all
            .get(name)
            .unwrap_or_else(|| panic!("signatures.json has no entry for {name}"));
        let headers = entry["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().expect("header value").to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let text = |key: &str| entry.get(key).and_then(Value::as_str).map(str::to_owned);
        Signed {
            headers,
            secret: text("secret"),
            signature_token: text("signature_token"),
        }
    }

    /// Lowercase hex HMAC-SHA256, for building test deliveries.
    pub(crate) fn hmac_hex(key: &[u8], parts: &[&[u8]]) -> String {
        use hmac::Mac;
        let mut mac = super::hmac_sha256(key);
        for part in parts {
            mac.update(part);
        }
        hex::encode(mac.finalize().into_bytes())
    }

    /// Every JSON pointer (`/a/b/0`) into `value`, the root included.
    pub(crate) fn pointers(value: &Value) -> Vec<String> {
        fn walk(value: &Value, at: String, out: &mut Vec<String>) {
            match value {
                Value::Object(map) => {
                    for (key, child) in map {
                        let escaped = key.replace('~', "~0").replace('/', "~1");
                        walk(child, format!("{at}/{escaped}"), out);
                    }
                }
                Value::Array(items) => {
                    for (i, child) in items.iter().enumerate() {
                        walk(child, format!("{at}/{i}"), out);
                    }
                }
                _ => {}
            }
            out.push(at);
        }
        let mut out = Vec::new();
        walk(value, String::new(), &mut out);
        out
    }

    /// Field names the decoders look at, so that generated JSON reaches
    /// past the first `missing` check now and then.
    const KEYS: &[&str] = &[
        "type",
        "submission_id",
        "submitted_at",
        "job",
        "ats",
        "ats_job_id",
        "location",
        "tracking",
        "ref",
        "applicant",
        "email",
        "phone",
        "phone_country_hint",
        "first_name",
        "last_name",
        "action",
        "payload",
        "application",
        "id",
        "candidate",
        "candidate_id",
        "job_id",
        "jobs",
        "requisition_id",
        "departments",
        "offices",
        "name",
        "email_addresses",
        "phone_numbers",
        "value",
        "custom_fields",
        "referral_token",
        "credited_to",
        "employee_id",
        "prospect",
        "applied_at",
        "status",
        "current_stage",
        "last_activity_at",
        "rejected_at",
        "offer",
        "starts_at",
        "resolved_at",
        "person",
        "new_candidate_id",
        "event",
        "data",
        "opportunityId",
        "token",
        "triggeredAt",
        "signature",
    ];

    /// String values the decoders branch on.
    const WORDS: &[&str] = &[
        "application.submitted",
        "new_candidate_application",
        "new_prospect_application",
        "application_updated",
        "candidate_stage_change",
        "hire_candidate",
        "unhire_candidate",
        "reject_candidate",
        "unreject_candidate",
        "merge_candidate",
        "delete_application",
        "candidate_anonymized",
        "applicationCreated",
        "candidateStageChange",
        "candidateHired",
        "candidateArchiveChange",
        "personal",
        "mobile",
        "2025-09-02T10:15:31Z",
        "2025-12-01",
        "",
        " ",
        "E-10442",
    ];

    /// Arbitrary JSON, biased towards the shapes the decoders read.
    pub(crate) fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
                .map(Value::Number)),
            "\\PC{0,12}".prop_map(Value::String),
            prop::sample::select(WORDS).prop_map(|w| Value::String(w.to_owned())),
        ];
        leaf.prop_recursive(5, 96, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(
                    |fields| {
                        Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                    }
                ),
            ]
        })
    }

    /// A copy of fixture `base` with the value at one random pointer
    /// replaced by arbitrary JSON. This exercises every path of a decoder
    /// with every wrong type.
    pub(crate) fn mutated(value: Value) -> impl Strategy<Value = Value> {
        let pointers = pointers(&value);
        (prop::sample::select(pointers), arb_json()).prop_map(move |(pointer, replacement)| {
            let mut copy = value.clone();
            if let Some(slot) = copy.pointer_mut(&pointer) {
                *slot = replacement;
            }
            copy
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lookup_ignores_ascii_case_and_takes_the_first_match() {
        let pairs = vec![
            ("Webhook-ID".to_owned(), "first".to_owned()),
            ("webhook-id".to_owned(), "second".to_owned()),
        ];
        assert_eq!(pairs.header("webhook-id").as_deref(), Some("first"));
        assert_eq!(pairs.header("WEBHOOK-ID").as_deref(), Some("first"));
        assert_eq!(pairs.header("webhook-signature"), None);
        let array = [("Signature", "sha256 00")];
        assert_eq!(array.header("signature").as_deref(), Some("sha256 00"));
        let closure = |name: &str| (name == "x").then(|| "y".to_owned());
        assert_eq!(closure.header("x").as_deref(), Some("y"));
    }

    #[test]
    fn a_closure_over_an_http_header_map_is_a_lookup() {
        // What the HTTP layer will do. `reqwest::header::HeaderMap` is
        // `http::HeaderMap`, whose own lookup already ignores case.
        let mut map = reqwest::header::HeaderMap::new();
        map.insert("webhook-id", "msg_1".parse().unwrap());
        let lookup = |name: &str| map.get(name)?.to_str().ok().map(str::to_owned);
        assert_eq!(lookup.header("Webhook-ID").as_deref(), Some("msg_1"));
        assert_eq!(lookup.header("webhook-signature"), None);
    }

    #[test]
    fn hex_mac_check_accepts_both_cases_and_refuses_junk() {
        let good = test_support::hmac_hex(b"key", &[b"a", b"b"]);
        assert!(hmac_sha256_hex_matches(b"key", &[b"ab"], &good));
        assert!(hmac_sha256_hex_matches(
            b"key",
            &[b"ab"],
            &good.to_uppercase()
        ));
        assert!(!hmac_sha256_hex_matches(b"key", &[b"abc"], &good));
        assert!(!hmac_sha256_hex_matches(b"other", &[b"ab"], &good));
        assert!(!hmac_sha256_hex_matches(b"key", &[b"ab"], &good[..62]));
        assert!(!hmac_sha256_hex_matches(b"key", &[b"ab"], &"zz".repeat(32)));
        assert!(!hmac_sha256_hex_matches(b"key", &[b"ab"], ""));
    }

    #[test]
    fn json_paths_and_problems() {
        use json::Obj;
        let value: serde_json::Value = serde_json::json!({
            "a": {"n": 5, "s": "x", "blank": " ", "f": 1.5, "null": null, "list": [{"k": 1}, 7]},
            "empty_list": []
        });
        let root = Obj::root(&value).unwrap();
        let a = root.obj("a").unwrap();
        assert_eq!(a.req_id("n").unwrap(), "5");
        assert_eq!(a.id("blank").unwrap(), None);
        assert_eq!(
            a.req_id("blank").unwrap_err(),
            json::invalid("a.blank", "empty")
        );
        assert_eq!(
            a.req_id("f").unwrap_err(),
            json::invalid("a.f", "expected a string or an integer, found number")
        );
        assert_eq!(
            a.req_str("null").unwrap_err(),
            json::invalid("a.null", "missing")
        );
        assert_eq!(
            root.obj("nope").unwrap().req_str("deep").unwrap_err(),
            json::invalid("nope.deep", "missing")
        );
        assert_eq!(a.first("list").unwrap().req_id("k").unwrap(), "1");
        assert_eq!(
            a.all("list").unwrap_err(),
            json::invalid("a.list[1]", "expected an object, found number")
        );
        assert!(!root.map_or_empty_array("empty_list").unwrap().is_present());
        assert_eq!(
            Obj::root(&serde_json::json!([1])).unwrap_err(),
            json::invalid("$", "expected an object, found array")
        );
    }

    /// HMAC-SHA256 written out from RFC 2104 over `sha2`, so the MAC check
    /// is measured against something that does not share its `hmac` crate.
    fn rfc2104_hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
        use sha2::Digest;
        const BLOCK: usize = 64;
        let mut block_key = [0u8; BLOCK];
        if key.len() > BLOCK {
            block_key[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            block_key[..key.len()].copy_from_slice(key);
        }
        let padded = |byte: u8| block_key.map(|k| k ^ byte);
        let inner = Sha256::new()
            .chain_update(padded(0x36))
            .chain_update(message)
            .finalize();
        let outer = Sha256::new()
            .chain_update(padded(0x5c))
            .chain_update(inner)
            .finalize();
        let mut mac = [0u8; 32];
        mac.copy_from_slice(&outer);
        mac
    }

    /// `message` cut at the given points, in order, into `parts`.
    fn cut(message: &[u8], cuts: &[proptest::sample::Index]) -> Vec<Vec<u8>> {
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(message.len() + 1)).collect();
        points.sort_unstable();
        let mut parts = Vec::new();
        let mut start = 0;
        for point in points {
            parts.push(message[start..point].to_vec());
            start = point;
        }
        parts.push(message[start..].to_vec());
        parts
    }

    mod properties {
        use proptest::collection::vec;
        use proptest::prelude::*;
        use proptest::sample::Index;

        use super::super::{hmac_sha256_hex_matches, test_support};
        use super::{cut, rfc2104_hmac_sha256};

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn hex_mac_check_accepts_the_rfc2104_mac_of_the_joined_parts_in_either_case(
                key in vec(any::<u8>(), 0..150),
                message in vec(any::<u8>(), 0..300),
                cuts in vec(any::<Index>(), 0..4),
            ) {
                let mac = hex::encode(rfc2104_hmac_sha256(&key, &message));
                let parts = cut(&message, &cuts);
                let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
                prop_assert!(hmac_sha256_hex_matches(&key, &parts, &mac));
                prop_assert!(hmac_sha256_hex_matches(&key, &parts, &mac.to_uppercase()));
                // The helper the Greenhouse and Lever properties sign with
                // computes the same thing.
                prop_assert_eq!(test_support::hmac_hex(&key, &parts), mac);
            }

            #[test]
            fn hex_mac_check_refuses_a_flipped_bit_of_key_message_or_mac(
                key in vec(any::<u8>(), 1..150),
                message in vec(any::<u8>(), 1..300),
                key_at in any::<Index>(),
                message_at in any::<Index>(),
                mac_at in 0usize..32,
                bit in 0u8..8,
            ) {
                let mac = rfc2104_hmac_sha256(&key, &message);
                let good = hex::encode(mac);
                prop_assert!(hmac_sha256_hex_matches(&key, &[&message], &good));

                let mut other_key = key.clone();
                other_key[key_at.index(key.len())] ^= 1 << bit;
                prop_assert!(!hmac_sha256_hex_matches(&other_key, &[&message], &good));

                let mut other_message = message.clone();
                other_message[message_at.index(message.len())] ^= 1 << bit;
                prop_assert!(!hmac_sha256_hex_matches(&key, &[&other_message], &good));

                let mut other_mac = mac;
                other_mac[mac_at] ^= 1 << bit;
                prop_assert!(!hmac_sha256_hex_matches(&key, &[&message], &hex::encode(other_mac)));
            }

            #[test]
            fn hex_mac_check_refuses_anything_but_64_hex_digits(
                key in vec(any::<u8>(), 0..80),
                message in vec(any::<u8>(), 0..120),
                at in any::<Index>(),
                junk in "[^0-9a-fA-F]",
                extra in "[0-9a-fA-F]{1,4}",
            ) {
                let good = hex::encode(rfc2104_hmac_sha256(&key, &message));
                let i = at.index(good.len());
                let with_junk = format!("{}{junk}{}", &good[..i], &good[i + 1..]);
                let shortened = format!("{}{}", &good[..i], &good[i + 1..]);
                for claim in [
                    with_junk,
                    shortened,
                    format!("{good}{extra}"),
                    format!("{extra}{good}"),
                    format!("{}{extra}", &good[..good.len() - extra.len()]),
                ] {
                    let expect = claim.eq_ignore_ascii_case(&good);
                    prop_assert_eq!(hmac_sha256_hex_matches(&key, &[&message], &claim), expect, "{:?}", claim);
                }
            }
        }
    }
}
