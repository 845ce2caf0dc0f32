//! Where a customer's Lever account carries our referral token
//! (`ats.lever.token_from`): an application question, a source or a tag.
//!
//! A candidate who applies through Lever's own job site never passes our
//! careers site, so the `?ref=` token has to travel inside Lever. Customers
//! do that in one of three ways, and say which in the configuration:
//!
//! | `token_from` entry | where the token is |
//! |---|---|
//! | `question:<question text>` | the answer to that application question (case-insensitive match on the question) |
//! | `source:<prefix>` | a source starting with `<prefix>`, e.g. `source:ref-` takes `ABC` from the source `ref-ABC` |
//! | `tag:<prefix>` | a tag starting with `<prefix>`, the same way |
//!
//! Entries are tried in the order given; the first that yields a token
//! wins. Parsed once at start-up ([`TokenPlace::from_str`]), used by
//! [`super::refetch`].

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use super::model::LeverOpportunity;

/// One place a referral token may be found on a Lever opportunity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum TokenPlace {
    /// The answer to the application question with this text.
    Question(String),
    /// A source starting with this prefix (the rest is the token).
    Source(String),
    /// A tag starting with this prefix (the rest is the token).
    Tag(String),
}

impl TokenPlace {
    /// The token this place holds on `opp`, trimmed; `None` when it holds
    /// none.
    pub fn find(&self, opp: &LeverOpportunity) -> Option<String> {
        let after = |values: &[String], prefix: &str| {
            values.iter().find_map(|v| {
                let v = v.trim();
                let head = v.get(..prefix.len())?;
                head.eq_ignore_ascii_case(prefix)
                    .then(|| v[prefix.len()..].trim().to_owned())
                    .filter(|t| !t.is_empty())
            })
        };
        match self {
            TokenPlace::Question(q) => opp
                .applications
                .iter()
                .flat_map(|a| a.answers.iter())
                .find(|(question, _)| question.trim().eq_ignore_ascii_case(q))
                .map(|(_, answer)| answer.trim().to_owned())
                .filter(|t| !t.is_empty()),
            TokenPlace::Source(prefix) => after(&opp.sources, prefix),
            TokenPlace::Tag(prefix) => after(&opp.tags, prefix),
        }
    }

    /// The first token `places` find on `opp`, in order.
    pub fn first(places: &[TokenPlace], opp: &LeverOpportunity) -> Option<String> {
        places.iter().find_map(|p| p.find(opp))
    }
}

/// Why a `token_from` entry does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a token place: use \"question:<question text>\", \"source:<prefix>\" or \"tag:<prefix>\""
)]
pub struct BadTokenPlace(pub String);

impl FromStr for TokenPlace {
    type Err = BadTokenPlace;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadTokenPlace(s.to_owned());
        let (kind, rest) = s.split_once(':').ok_or_else(bad)?;
        let rest = rest.trim();
        if rest.is_empty() {
            return Err(bad());
        }
        match kind.trim() {
            "question" => Ok(TokenPlace::Question(rest.to_owned())),
            "source" => Ok(TokenPlace::Source(rest.to_owned())),
            "tag" => Ok(TokenPlace::Tag(rest.to_owned())),
            _ => Err(bad()),
        }
    }
}

impl TryFrom<String> for TokenPlace {
    type Error = BadTokenPlace;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for TokenPlace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenPlace::Question(q) => write!(f, "question:{q}"),
            TokenPlace::Source(p) => write!(f, "source:{p}"),
            TokenPlace::Tag(p) => write!(f, "tag:{p}"),
        }
    }
}

impl From<TokenPlace> for String {
    fn from(p: TokenPlace) -> String {
        p.to_string()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn opportunity() -> LeverOpportunity {
        LeverOpportunity::from_json(&json!({
            "id": "opp-1",
            "sources": ["LinkedIn", "ref-SRC123"],
            "tags": ["Full-time", "REF:TAG456"],
            "applications": [{"id": "a", "customQuestions": [{"fields": [
                {"text": "Referral code ", "value": " Q789 "},
            ]}]}],
        }))
        .unwrap()
    }

    #[test]
    fn each_place_finds_its_token() {
        let opp = opportunity();
        let place = |s: &str| s.parse::<TokenPlace>().unwrap();
        assert_eq!(
            place("question:referral code").find(&opp).as_deref(),
            Some("Q789")
        );
        assert_eq!(place("source:ref-").find(&opp).as_deref(), Some("SRC123"));
        assert_eq!(place("tag:ref:").find(&opp).as_deref(), Some("TAG456"));
        assert_eq!(place("tag:ref-").find(&opp), None);
        assert_eq!(place("question:Other").find(&opp), None);
        let order = [place("tag:nope-"), place("source:ref-"), place("tag:ref:")];
        assert_eq!(TokenPlace::first(&order, &opp).as_deref(), Some("SRC123"));
    }

    #[test]
    fn a_prefix_alone_is_no_token() {
        let opp =
            LeverOpportunity::from_json(&json!({"id": "o", "tags": ["ref-", "ref-  "]})).unwrap();
        assert_eq!(TokenPlace::Tag("ref-".into()).find(&opp), None);
    }

    #[test]
    fn places_parse_and_print_back_and_bad_ones_say_what_to_write() {
        for s in ["question:Referral code", "source:ref-", "tag:ref:"] {
            assert_eq!(s.parse::<TokenPlace>().unwrap().to_string(), s);
        }
        for bad in ["", "question", "question:", "cookie:x", "tag: "] {
            let err = bad.parse::<TokenPlace>().unwrap_err().to_string();
            assert!(err.contains("question:<question text>"), "{err}");
        }
        let places: Vec<TokenPlace> =
            serde_json::from_value(json!(["question:Code", "tag:ref-"])).unwrap();
        assert_eq!(places[1], TokenPlace::Tag("ref-".into()));
        assert!(serde_json::from_value::<TokenPlace>(json!("nope")).is_err());
    }
}
