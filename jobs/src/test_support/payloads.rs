//! The recorded sample payloads (`shared/payloads`) and their signatures,
//! and generators the decoder and signer property tests share.

use std::path::PathBuf;

use proptest::prelude::*;
use serde_json::Value;

/// `/work/shared/payloads`, found relative to this crate: the shared,
/// read-only samples (Greenhouse, Lever, careers site).
pub(crate) fn payload_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/payloads")
}

/// `tests/payloads` in this repository: the samples of vendors added
/// since (Ashby), in the same layout as [`payload_dir`].
pub(crate) fn repo_payload_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/payloads")
}

/// The folder that holds payload file `name`: this repository's first.
fn dir_of(name: &str) -> PathBuf {
    let repo = repo_payload_dir();
    if repo.join(name).is_file() {
        repo
    } else {
        payload_dir()
    }
}

/// The exact bytes of payload file `name`.
pub(crate) fn payload(name: &str) -> Vec<u8> {
    let path = dir_of(name).join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Names of the payload files starting with `prefix`, from both folders,
/// sorted.
pub(crate) fn payload_files(prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = [payload_dir(), repo_payload_dir()]
        .iter()
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flatten()
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
        use crate::connectors::signature::HeaderLookup;
        self.headers
            .header(name)
            .unwrap_or_else(|| panic!("signatures.json: no {name} header"))
    }
}

/// The `signatures.json` entry for payload file `name`.
pub(crate) fn signed(name: &str) -> Signed {
    let path = dir_of(name).join("signatures.json");
    let all: Value = serde_json::from_slice(&std::fs::read(&path).expect("signatures.json"))
        .expect("signatures.json");
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
    let mut mac = crate::connectors::signature::hmac_sha256(key);
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
    "version",
    "updated_at",
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
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|fields| {
                Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
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
