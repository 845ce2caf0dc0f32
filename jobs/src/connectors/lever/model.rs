//! What the Lever API answers, parsed into the fields the service uses:
//! opportunities (with their applications and application questions),
//! archive reasons, offers, referrals and users.
//!
//! Parsing is lenient where Lever is loose and strict where money is
//! decided. Only ids are required; `null`s and missing fields become
//! `None` or empty; unknown fields are ignored; fields Lever returns either
//! as an id or as an expanded object (`stage`, `applications[]`, `posting`,
//! `user`) are accepted in both forms. But the values that decide a hire
//! (an archive reason's `type`) or a start date (an offer's `status`) are
//! parsed into enums here, at the edge, and anything else is "not
//! confirmed".
//!
//! Used by [`super::api::LeverClient`] (which owns the HTTP) and by its
//! callers through the types.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The fields of a Lever opportunity the service uses.
///
/// Parsed by [`LeverOpportunity::from_json`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LeverOpportunity {
    /// The opportunity id.
    pub id: String,
    /// The candidate's name.
    pub name: Option<String>,
    /// The contact (person) id.
    pub contact: Option<String>,
    /// Email addresses, as entered.
    pub emails: Vec<String>,
    /// Phone numbers, as entered.
    pub phones: Vec<LeverPhone>,
    /// The current pipeline stage.
    pub stage: Option<LeverStage>,
    /// How the candidate entered: `applied`, `sourced`, `referred`, …
    pub origin: Option<String>,
    /// Source tags, e.g. "Referred", "Social referral".
    pub sources: Vec<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Applications (at most one in practice).
    pub applications: Vec<LeverApplication>,
    /// When the opportunity was created.
    pub created_at: Option<DateTime<Utc>>,
    /// Set when the opportunity is archived (hired, or rejected for a
    /// reason; which one only the archive reason's `type` says).
    pub archived: Option<LeverArchived>,
}

/// A phone number on an opportunity.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LeverPhone {
    /// `mobile`, `home`, `work`, … when given.
    pub kind: Option<String>,
    /// The number as entered.
    pub value: String,
}

/// A pipeline stage: its id, and its name when expanded.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LeverStage {
    /// The stage id.
    pub id: String,
    /// The stage name ("Phone screen"), when expanded.
    pub text: Option<String>,
}

/// An application on an opportunity.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LeverApplication {
    /// The application id.
    pub id: String,
    /// `referral`, `user` or `posting`, when expanded.
    pub kind: Option<String>,
    /// The posting (job) id, when expanded.
    pub posting: Option<String>,
    /// For a `referral` application, the referring Lever user.
    pub user: Option<String>,
    /// The answers to the posting's application questions
    /// (`customQuestions[].fields[]`), as `(question, answer)`.
    pub answers: Vec<(String, String)>,
}

/// Archive details.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LeverArchived {
    /// When it was archived.
    pub archived_at: Option<DateTime<Utc>>,
    /// The archive reason id (resolved through `GET /archive_reasons`).
    pub reason: Option<String>,
}

/// What an archive reason means (`type` in `GET /archive_reasons`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArchiveReasonType {
    /// `hired`: the candidate was hired.
    Hired,
    /// `non-hired`: rejected, withdrew, …
    NonHired,
}

impl ArchiveReasonType {
    /// Lever's `type` value; anything else is `None` (and hires nobody).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "hired" => Some(Self::Hired),
            "non-hired" => Some(Self::NonHired),
            _ => None,
        }
    }
}

/// One entry of `GET /archive_reasons`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveReason {
    /// The reason id (what `opportunity.archived.reason` names).
    pub id: String,
    /// Its label ("Hired", "Underqualified").
    pub text: Option<String>,
    /// Its type; `None` when Lever sent a value we do not know.
    pub kind: Option<ArchiveReasonType>,
}

impl ArchiveReason {
    fn from_json(v: &Value) -> Option<Self> {
        Some(Self {
            id: id_of(v.get("id")?)?,
            text: text(v.get("text")),
            kind: v
                .get("type")
                .and_then(Value::as_str)
                .and_then(ArchiveReasonType::parse),
        })
    }
}

/// Where an opportunity stands, as the API states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeverStatus {
    /// Not archived: in the pipeline.
    Active,
    /// Archived for a reason whose type is `hired`.
    Hired,
    /// Archived for any other reason (or one we could not resolve).
    Archived,
}

/// An offer's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OfferStatus {
    /// `draft`.
    Draft,
    /// `approval-sent`.
    ApprovalSent,
    /// `approved`.
    Approved,
    /// `sent`.
    Sent,
    /// `sent-manually`: sent (and signed) outside Lever.
    SentManually,
    /// `opened`.
    Opened,
    /// `denied`.
    Denied,
    /// `signed`: accepted by the candidate.
    Signed,
}

impl OfferStatus {
    /// Lever's `status` value; anything else is `None`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "draft" => Self::Draft,
            "approval-sent" => Self::ApprovalSent,
            "approved" => Self::Approved,
            "sent" => Self::Sent,
            "sent-manually" => Self::SentManually,
            "opened" => Self::Opened,
            "denied" => Self::Denied,
            "signed" => Self::Signed,
            _ => return None,
        })
    }
}

/// The offer field that carries the start date.
pub const START_DATE_FIELD: &str = "anticipated_start_date";

/// One entry of `GET /opportunities/:id/offers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeverOffer {
    /// The offer id.
    pub id: String,
    /// Its status; `None` for a value we do not know.
    pub status: Option<OfferStatus>,
    /// When it was created.
    pub created_at: Option<DateTime<Utc>>,
    /// The `anticipated_start_date` field: epoch milliseconds in Lever's
    /// answers, a `YYYY-MM-DD` or RFC 3339 string accepted too.
    pub start_date: Option<DateTime<Utc>>,
}

impl LeverOffer {
    fn from_json(v: &Value) -> Option<Self> {
        Some(Self {
            id: id_of(v.get("id")?)?,
            status: v
                .get("status")
                .and_then(Value::as_str)
                .and_then(OfferStatus::parse),
            created_at: v.get("createdAt").and_then(timestamp),
            start_date: array(v.get("fields"))
                .find(|f| f.get("identifier").and_then(Value::as_str) == Some(START_DATE_FIELD))
                .and_then(|f| f.get("value"))
                .and_then(date_or_timestamp),
        })
    }

    /// The start date a hire counts probation from: the newest signed
    /// offer's, else the newest offer's that was sent or approved (a
    /// manually sent offer is signed outside Lever). Drafts, denied offers
    /// and offers with unknown statuses never decide it.
    pub fn start_date_of(offers: &[LeverOffer]) -> Option<DateTime<Utc>> {
        let newest = |pick: &dyn Fn(OfferStatus) -> bool| {
            offers
                .iter()
                .filter(|o| o.status.is_some_and(pick) && o.start_date.is_some())
                .max_by_key(|o| o.created_at)
                .and_then(|o| o.start_date)
        };
        newest(&|s| s == OfferStatus::Signed).or_else(|| {
            newest(&|s| {
                matches!(
                    s,
                    OfferStatus::SentManually
                        | OfferStatus::Approved
                        | OfferStatus::Sent
                        | OfferStatus::Opened
                )
            })
        })
    }
}

/// One entry of `GET /opportunities/:id/referrals`: a referral form
/// filled in for the candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeverReferral {
    /// The referral form id.
    pub id: String,
    /// The Lever user who referred the candidate.
    pub referrer: Option<String>,
    /// When it was submitted.
    pub created_at: Option<DateTime<Utc>>,
}

impl LeverReferral {
    fn from_json(v: &Value) -> Option<Self> {
        Some(Self {
            id: id_of(v.get("id")?)?,
            referrer: v.get("referrer").and_then(id_of),
            created_at: v.get("createdAt").and_then(timestamp),
        })
    }
}

/// `GET /users/:id`: the fields used to find the employee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeverUser {
    /// The user id.
    pub id: String,
    /// Their email, as entered.
    pub email: Option<String>,
}

impl LeverUser {
    /// Parses `{"data": {...}}` (or a bare user).
    pub fn from_json(value: &Value) -> Option<Self> {
        let o = value.get("data").filter(|d| d.is_object()).unwrap_or(value);
        Some(Self {
            id: id_of(o.get("id")?)?,
            email: text(o.get("email")),
        })
    }
}

/// A page of a Lever list: its items, and the `next` offset token when
/// `hasNext` says there is more.
pub(crate) fn page<T>(
    value: &Value,
    item: impl Fn(&Value) -> Option<T>,
) -> (Vec<T>, Option<String>) {
    let items = array(value.get("data")).filter_map(item).collect();
    let next = value
        .get("hasNext")
        .and_then(Value::as_bool)
        .filter(|more| *more)
        .and_then(|_| text(value.get("next")));
    (items, next)
}

pub(crate) fn archive_reason(v: &Value) -> Option<ArchiveReason> {
    ArchiveReason::from_json(v)
}

pub(crate) fn offer(v: &Value) -> Option<LeverOffer> {
    LeverOffer::from_json(v)
}

pub(crate) fn referral(v: &Value) -> Option<LeverReferral> {
    LeverReferral::from_json(v)
}

impl LeverOpportunity {
    /// Parses Lever's `{"data": {...}}` envelope (or a bare opportunity
    /// object). `None` only when there is no usable `id`.
    pub fn from_json(value: &Value) -> Option<Self> {
        let o = value.get("data").filter(|d| d.is_object()).unwrap_or(value);
        Some(Self {
            id: id_of(o.get("id")?)?,
            name: text(o.get("name")),
            contact: o.get("contact").and_then(id_of),
            emails: strings(o.get("emails")),
            phones: array(o.get("phones"))
                .filter_map(|p| match p {
                    Value::String(s) if !s.is_empty() => Some(LeverPhone {
                        kind: None,
                        value: s.clone(),
                    }),
                    Value::Object(_) => Some(LeverPhone {
                        kind: text(p.get("type")),
                        value: text(p.get("value"))?,
                    }),
                    _ => None,
                })
                .collect(),
            stage: o.get("stage").and_then(|s| {
                Some(LeverStage {
                    id: id_of(s)?,
                    text: text(s.get("text")),
                })
            }),
            origin: text(o.get("origin")),
            sources: strings(o.get("sources")),
            tags: strings(o.get("tags")),
            applications: array(o.get("applications"))
                .filter_map(|a| {
                    Some(LeverApplication {
                        id: id_of(a)?,
                        kind: text(a.get("type")),
                        posting: a.get("posting").and_then(id_of),
                        user: a.get("user").and_then(id_of),
                        answers: array(a.get("customQuestions"))
                            .flat_map(|form| array(form.get("fields")))
                            .filter_map(|f| Some((text(f.get("text"))?, answer(f.get("value"))?)))
                            .collect(),
                    })
                })
                .collect(),
            created_at: o.get("createdAt").and_then(timestamp),
            archived: o
                .get("archived")
                .filter(|a| a.is_object())
                .map(|a| LeverArchived {
                    archived_at: a.get("archivedAt").and_then(timestamp),
                    reason: a.get("reason").and_then(id_of),
                }),
        })
    }

    /// The posting of the first application (the job applied to).
    pub fn posting_id(&self) -> Option<&str> {
        self.applications.first()?.posting.as_deref()
    }

    /// The referring Lever user, when the application itself is a
    /// referral (`type: referral`, `user`: the referrer).
    pub fn referring_user(&self) -> Option<&str> {
        self.applications
            .iter()
            .find(|a| a.kind.as_deref() == Some("referral"))?
            .user
            .as_deref()
    }

    /// Whether Lever recorded a referral: origin `referred`, or a
    /// referral application. Only then are its referral forms read.
    pub fn is_referred(&self) -> bool {
        self.origin.as_deref() == Some("referred") || self.referring_user().is_some()
    }

    /// Whether the opportunity is archived.
    pub fn is_archived(&self) -> bool {
        self.archived.is_some()
    }

    /// The archive reason id, when archived with one.
    pub fn archive_reason(&self) -> Option<&str> {
        self.archived.as_ref()?.reason.as_deref()
    }

    /// `GET /v1/opportunities?updated_at_start=…` pages: the opportunities
    /// that moved, parsed, and the next page's offset token.
    pub fn page_from_json(value: &Value) -> (Vec<Self>, Option<String>) {
        page(value, Self::from_json)
    }
}

/// An id given as a string, a number, or an expanded object with `id`.
fn id_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Object(o) => o.get("id").and_then(id_of),
        _ => None,
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// An application question's answer: text, or the options chosen.
fn answer(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Array(items) => items.iter().find_map(|i| answer(Some(i))),
        _ => None,
    }
}

fn array(v: Option<&Value>) -> impl Iterator<Item = &Value> {
    v.and_then(Value::as_array).into_iter().flatten()
}

fn strings(v: Option<&Value>) -> Vec<String> {
    array(v).filter_map(|s| text(Some(s))).collect()
}

/// Lever timestamps are epoch milliseconds; an RFC 3339 string is accepted too.
fn timestamp(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::Number(n) => DateTime::from_timestamp_millis(n.as_i64()?),
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        _ => None,
    }
}

/// A date field: a timestamp as above, or a plain `YYYY-MM-DD` (its
/// beginning, in UTC).
fn date_or_timestamp(v: &Value) -> Option<DateTime<Utc>> {
    timestamp(v).or_else(|| {
        let s = v.as_str()?.trim();
        Some(
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()?
                .and_hms_opt(0, 0, 0)?
                .and_utc(),
        )
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_listing_page_parses_with_its_next_token() {
        let page = json!({
            "data": [
                { "id": "opp-1", "archived": { "archivedAt": 1761298200123_i64, "reason": "r-hired" } },
                { "id": "opp-3" },
                { "no_id": true },
            ],
            "hasNext": true,
            "next": "token-2",
        });
        let (items, next) = LeverOpportunity::page_from_json(&page);
        assert_eq!(items.len(), 2, "an entry without an id is skipped");
        assert_eq!(next.as_deref(), Some("token-2"));
        assert_eq!(items[0].archive_reason(), Some("r-hired"));
        assert!(!items[1].is_archived());
        let last = json!({ "data": [], "hasNext": false, "next": "ignored" });
        assert_eq!(LeverOpportunity::page_from_json(&last).1, None);
    }

    #[test]
    fn archive_reason_types_are_parsed_strictly() {
        let (reasons, _) = page(
            &json!({"data": [
                {"id": "a", "text": "Hired", "status": "active", "type": "hired"},
                {"id": "b", "text": "Hired elsewhere", "type": "non-hired"},
                {"id": "c", "text": "Hire later", "type": "Hired"},
                {"id": "d", "text": "Hired"},
            ]}),
            archive_reason,
        );
        let kinds: Vec<_> = reasons.iter().map(|r| r.kind).collect();
        assert_eq!(
            kinds,
            [
                Some(ArchiveReasonType::Hired),
                Some(ArchiveReasonType::NonHired),
                None,
                None
            ],
            "only the exact type `hired` hires, whatever the label says"
        );
    }

    #[test]
    fn the_start_date_comes_from_the_newest_signed_offer() {
        let offer = |id: &str, status: &str, created: i64, start: Value| {
            LeverOffer::from_json(&json!({
                "id": id, "status": status, "createdAt": created,
                "fields": [
                    {"text": "Salary", "identifier": "salary_amount", "value": 100_000},
                    {"text": "Anticipated start date", "identifier": "anticipated_start_date", "value": start},
                ],
            }))
            .unwrap()
        };
        let day = |d: &str| {
            NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc()
        };
        let signed_old = offer(
            "o1",
            "signed",
            1,
            json!(day("2026-01-05").timestamp_millis()),
        );
        let signed_new = offer("o2", "signed", 2, json!("2026-02-02"));
        let draft_newer = offer("o3", "draft", 3, json!("2026-03-02"));
        let sent = offer("o4", "sent-manually", 4, json!("2026-04-06"));
        let unknown = offer("o5", "accepted-ish", 5, json!("2026-05-04"));
        assert_eq!(signed_new.start_date, Some(day("2026-02-02")));
        assert_eq!(
            LeverOffer::start_date_of(&[
                signed_old.clone(),
                signed_new.clone(),
                draft_newer.clone(),
                sent.clone(),
                unknown.clone()
            ]),
            Some(day("2026-02-02"))
        );
        assert_eq!(
            LeverOffer::start_date_of(&[signed_old.clone(), draft_newer.clone()]),
            Some(day("2026-01-05"))
        );
        assert_eq!(
            LeverOffer::start_date_of(&[draft_newer.clone(), sent, unknown.clone()]),
            Some(day("2026-04-06")),
            "no signed offer: a sent one decides"
        );
        assert_eq!(LeverOffer::start_date_of(&[draft_newer, unknown]), None);
    }

    #[test]
    fn application_questions_and_referral_forms_parse() {
        let opp = LeverOpportunity::from_json(&json!({"data": {
            "id": "opp-9",
            "origin": "referred",
            "applications": [{
                "id": "app-9", "type": "posting", "posting": "p-1",
                "customQuestions": [{"id": "form-1", "fields": [
                    {"text": "Referral code", "value": "  TOKEN123 "},
                    {"text": "How did you hear about us?", "value": ["A friend"]},
                    {"text": "Empty", "value": ""},
                ]}],
            }],
        }}))
        .unwrap();
        assert!(opp.is_referred());
        assert_eq!(
            opp.applications[0].answers,
            [
                ("Referral code".to_owned(), "TOKEN123".to_owned()),
                (
                    "How did you hear about us?".to_owned(),
                    "A friend".to_owned()
                ),
            ]
        );
        let r = LeverReferral::from_json(&json!({
            "id": "ref-1", "type": "referral", "user": "u-submitter", "referrer": "u-referrer",
            "createdAt": 1_700_000_000_000_i64,
        }))
        .unwrap();
        assert_eq!(r.referrer.as_deref(), Some("u-referrer"));
        let u = LeverUser::from_json(&json!({"data": {"id": "u-1", "email": "Ann@Acme.example"}}));
        assert_eq!(u.unwrap().email.as_deref(), Some("Ann@Acme.example"));
    }

    #[test]
    fn parsing_is_lenient_about_plain_ids_nulls_and_missing_fields() {
        let opp = LeverOpportunity::from_json(&json!({"data": {
            "id": "opp-2",
            "name": null,
            "stage": "stage-9",
            "applications": ["app-1"],
            "emails": ["a@b.c", null, 5],
            "tags": null,
            "archived": null,
            "createdAt": "2024-01-02T03:04:05Z"
        }}))
        .unwrap();
        assert_eq!(opp.name, None);
        assert_eq!(
            opp.stage,
            Some(LeverStage {
                id: "stage-9".into(),
                text: None
            })
        );
        assert_eq!(opp.applications[0].id, "app-1");
        assert_eq!(opp.posting_id(), None);
        assert_eq!(opp.emails, ["a@b.c"]);
        assert!(opp.tags.is_empty() && opp.phones.is_empty() && !opp.is_archived());
        assert!(opp.created_at.is_some());
        assert!(!opp.is_referred());

        assert_eq!(
            LeverOpportunity::from_json(&json!({"data": {"name": "no id"}})),
            None
        );
        assert_eq!(
            LeverOpportunity::from_json(&json!({"id": "bare"}))
                .unwrap()
                .id,
            "bare"
        );
    }
}
