//! Typed access to a decoded JSON body, with errors that name the field.
//!
//! Rules, the same for all three decoders:
//!
//! * **Only fields that are read are checked.** Vendors add fields all the
//!   time. An unexpected shape somewhere we never look must not break
//!   intake.
//! * **`null` means absent.** Greenhouse sends `"credited_to": null` and
//!   `"current_stage": null` for "not set".
//! * **A present field with the wrong type is an error, not `None`.** The
//!   fields we read decide who gets a bonus. Silently dropping a referral
//!   token that changed type loses someone's money without a trace. A
//!   422 with `application.custom_fields.referral_token.value: expected a
//!   string, found number` gets fixed.
//! * **Ids may be strings or integers** (Greenhouse sends numbers) and are
//!   always returned as strings.
//!
//! Used by every connector's webhook decoder
//! ([`super::careers_site`], [`super::greenhouse`], [`super::lever`]).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::intake::event::IntakeError;

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

    /// Optional numeric id `key` (Greenhouse's ids are integers): a JSON
    /// integer, or a string of digits; anything else is refused by path,
    /// since it would address another record or none.
    pub(crate) fn num_id(&self, key: &str) -> Result<Option<String>, IntakeError> {
        let path = self.path_of(key);
        match self.id(key)? {
            None => Ok(None),
            Some(id) => numeric(path, id).map(Some),
        }
    }

    /// Required numeric id `key`.
    pub(crate) fn req_num_id(&self, key: &str) -> Result<String, IntakeError> {
        let path = self.path_of(key);
        numeric(path, self.req_id(key)?)
    }

    /// Optional boolean `key`.
    pub(crate) fn bool(&self, key: &str) -> Result<Option<bool>, IntakeError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(wrong_type(self.path_of(key), "a boolean", other)),
        }
    }

    /// Optional integer `key` (a version number); anything else is refused
    /// by path.
    pub(crate) fn int(&self, key: &str) -> Result<Option<i64>, IntakeError> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value
                .as_i64()
                .map(Some)
                .ok_or_else(|| wrong_type(self.path_of(key), "an integer", value)),
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

fn numeric(path: String, id: String) -> Result<String, IntakeError> {
    let digits = id.trim();
    if !digits.is_empty() && digits.len() <= 20 && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(digits.to_owned())
    } else {
        Err(invalid(path, "expected a numeric id"))
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
