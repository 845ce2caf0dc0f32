//! How values are written in the file and the environment: humantime
//! durations (with errors that say what was wrong) and strings that also
//! accept a bare number or boolean (what an environment variable such as
//! `REFERRAL_WORKER__QUEUE__NAME=2024` turns into). Used through
//! `#[serde(with = ...)]` by the section types.

/// A list of humantime durations (`["5s", "5m"]`).
pub(super) mod durations {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(value: &[Duration], serializer: S) -> Result<S::Ok, S::Error> {
        value
            .iter()
            .map(|d| humantime_serde::Serde::from(*d))
            .collect::<Vec<_>>()
            .serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Duration>, D::Error> {
        let raw: Vec<humantime_serde::Serde<Duration>> = Vec::deserialize(deserializer)?;
        Ok(raw.into_iter().map(|d| d.into_inner()).collect())
    }
}

/// Durations as humantime strings ("30s", "5m", "90days").
///
/// Serialization is `humantime_serde`'s. Deserialization is our own so the
/// error says what was wrong: `humantime_serde` reports only "expected a
/// duration", while this keeps humantime's reason (`invalid duration "abc":
/// expected number at 0`) and explains a bare number, which is what an
/// environment variable like `..._LEASE=30` turns into.
pub(super) mod duration {
    use std::fmt;
    use std::time::Duration;

    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        humantime_serde::serialize(value, serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        deserializer.deserialize_str(DurationVisitor)
    }

    struct DurationVisitor;

    impl Visitor<'_> for DurationVisitor {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration such as \"30s\", \"5m\" or \"90days\"")
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<Duration, E> {
            humantime::parse_duration(value.trim())
                .map_err(|err| E::custom(format_args!("invalid duration {value:?}: {err}")))
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<Duration, E> {
            Err(E::custom(format_args!(
                "invalid duration {value}: a unit is required, e.g. \"{value}s\""
            )))
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<Duration, E> {
            Err(E::custom(format_args!(
                "invalid duration {value}: a unit is required, e.g. \"{value}s\""
            )))
        }

        fn visit_f64<E: de::Error>(self, value: f64) -> Result<Duration, E> {
            Err(E::custom(format_args!(
                "invalid duration {value}: a unit is required, e.g. \"{value}s\""
            )))
        }
    }

    /// The same for `Option<Duration>` fields, which are always
    /// `#[serde(default, skip_serializing_if = "Option::is_none")]`.
    pub mod option {
        use std::time::Duration;

        use serde::{Deserializer, Serializer};

        pub fn serialize<S: Serializer>(
            value: &Option<Duration>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match value {
                Some(value) => super::serialize(value, serializer),
                None => serializer.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<Duration>, D::Error> {
            super::deserialize(deserializer).map(Some)
        }
    }
}

/// Strings that also accept a bare number or boolean.
///
/// figment parses environment variable values as TOML-like values, so
/// `REFERRAL_WORKER__QUEUE__NAME=2024` arrives as the integer 2024 and a
/// plain `String` field would reject it. Floats are refused rather than
/// converted, because `1.0` would come back as `1`.
pub(super) mod string_like {
    use std::fmt;

    use serde::Deserializer;
    use serde::de::{self, Visitor};

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_string(StringLike)
    }

    struct StringLike;

    impl Visitor<'_> for StringLike {
        type Value = String;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string")
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<String, E> {
            Ok(value.to_owned())
        }

        fn visit_string<E: de::Error>(self, value: String) -> Result<String, E> {
            Ok(value)
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<String, E> {
            Ok(value.to_string())
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<String, E> {
            Ok(value.to_string())
        }

        fn visit_bool<E: de::Error>(self, value: bool) -> Result<String, E> {
            Ok(value.to_string())
        }
    }
}
