//! Referral links: one unguessable token per employee per job share.
//!
//! A token is `rt_` plus 128 random bits in hex. It carries no personal data
//! and means nothing without the row that maps it to an employee and a job,
//! so it cannot be forged: guessing one is a 2^-128 shot. Links expire, can
//! be revoked, and count clicks. Called by the HTTP API, the CLI and capture.

use chrono::{DateTime, Utc};
use entities::{employee, referral_link};
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    sea_query::{Expr, ExprTrait, Func},
};
use serde::Serialize;
use serde_json::json;

use crate::{
    db::audit::AuditEntry,
    db::begin_locked,
    error::{Error, Result},
};

/// A freshly minted link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MintedLink {
    /// The token (the `ref` URL parameter).
    pub token: String,
    /// The URL to share.
    pub url: String,
    /// The referrer's HRIS id.
    pub employee_id: String,
    /// The ATS job.
    pub job_id: String,
    /// When it was minted.
    pub created_at: DateTime<Utc>,
    /// When it stops attributing.
    pub expires_at: DateTime<Utc>,
}

/// What a token turns out to be at a given moment.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkCheck {
    /// Valid: attributes to its employee.
    Valid(referral_link::Model),
    /// Past its expiry.
    Expired(referral_link::Model),
    /// Revoked.
    Revoked(referral_link::Model),
    /// No such token: forged, mistyped, or from another installation.
    Unknown,
}

impl LinkCheck {
    /// Why the token does not attribute, if it does not.
    pub fn rejection(&self) -> Option<&'static str> {
        match self {
            LinkCheck::Valid(_) => None,
            LinkCheck::Expired(_) => Some("expired"),
            LinkCheck::Revoked(_) => Some("revoked"),
            LinkCheck::Unknown => Some("unknown token (forged or mistyped)"),
        }
    }
}

/// A new random token.
pub fn new_token() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    format!("rt_{}", hex::encode(bytes))
}

/// Whether `text` has the shape of a token (cheap check before a lookup).
pub fn looks_like_token(text: &str) -> bool {
    text.len() <= 128
        && !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The share URL for a token. The job id is one percent-encoded path
/// segment (a space is `%20`: form encoding's `+` would reach the careers
/// site as a plus sign).
pub fn share_url(careers_base_url: &str, job_id: &str, token: &str) -> String {
    let base = careers_base_url.trim_end_matches('/');
    // `byte_serialize` writes a literal `+` as `%2B`, so every `+` it
    // writes is a space.
    let job: String = url::form_urlencoded::byte_serialize(job_id.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    format!("{base}/jobs/{job}?ref={token}")
}

/// Mints a link for `employee_id` sharing `job_id`, valid for `ttl`.
///
/// # Errors
/// [`Error::Invalid`] for an unknown or inactive employee or an empty job id.
pub async fn mint(
    db: &DatabaseConnection,
    actor: &str,
    employee_id: &str,
    job_id: &str,
    ttl: std::time::Duration,
    careers_base_url: &str,
) -> Result<MintedLink> {
    let job_id = job_id.trim();
    if job_id.is_empty() || job_id.len() > 128 {
        return Err(Error::invalid("job_id", "must be 1 to 128 characters"));
    }
    // URL parsers read `.` and `..` (even encoded) as "this" and "the
    // parent" folder: the share link would lose its job.
    if job_id == "." || job_id == ".." {
        return Err(Error::invalid("job_id", "must not be . or .."));
    }
    // The HTTP API refuses these before; the CLI's `--expires-in` lands here.
    if ttl < std::time::Duration::from_secs(1) {
        return Err(Error::invalid("expires_in", "must be at least 1s"));
    }
    let ttl =
        chrono::Duration::from_std(ttl).map_err(|_| Error::invalid("expires_in", "too long"))?;
    let tx = begin_locked(db, &[]).await?;
    let employee = employee::Entity::find()
        .filter(employee::Column::EmployeeId.eq(employee_id))
        .one(&tx)
        .await?
        .ok_or_else(|| Error::invalid("employee_id", "no such employee"))?;
    if !employee.active {
        return Err(Error::invalid(
            "employee_id",
            "employee is not active; inactive employees cannot refer",
        ));
    }
    let now = Utc::now();
    let token = new_token();
    let row = referral_link::ActiveModel {
        token: Set(token.clone()),
        employee_id: Set(employee.employee_id.clone()),
        job_id: Set(job_id.to_string()),
        created_at: Set(now),
        expires_at: Set(now + ttl),
        revoked_at: Set(None),
        first_clicked_at: Set(None),
        click_count: Set(0),
        ..Default::default()
    }
    .insert(&tx)
    .await?;
    tx.audit(AuditEntry {
            actor: actor.to_string(),
            action: "referral_link.minted".into(),
            subject_type: "referral_link".into(),
            subject_id: row.id.to_string(),
            data: json!({ "employee_id": row.employee_id, "job_id": row.job_id, "expires_at": row.expires_at }),
        });
    tx.commit().await?;
    Ok(MintedLink {
        url: share_url(careers_base_url, &row.job_id, &token),
        token,
        employee_id: row.employee_id,
        job_id: row.job_id,
        created_at: row.created_at,
        expires_at: row.expires_at,
    })
}

/// Revokes a token. Revoking twice is fine (the first time is kept).
///
/// # Errors
/// [`Error::NotFound`] for an unknown token.
pub async fn revoke(db: &DatabaseConnection, actor: &str, token: &str) -> Result<()> {
    // The link's own key: two revokes at once must not both see it live
    // (two audit events, and the second time overwriting the first).
    let tx = begin_locked(db, &[format!("link:{token}")]).await?;
    let link = find(&tx, token)
        .await?
        .ok_or_else(|| Error::NotFound(format!("referral link {token}")))?;
    if link.revoked_at.is_none() {
        let id = link.id;
        let mut active: referral_link::ActiveModel = link.into();
        active.revoked_at = Set(Some(Utc::now()));
        active.update(&tx).await?;
        tx.audit(AuditEntry {
            actor: actor.to_string(),
            action: "referral_link.revoked".into(),
            subject_type: "referral_link".into(),
            subject_id: id.to_string(),
            data: json!({}),
        });
    }
    tx.commit().await?;
    Ok(())
}

async fn find(conn: &impl ConnectionTrait, token: &str) -> Result<Option<referral_link::Model>> {
    if !looks_like_token(token) {
        return Ok(None);
    }
    Ok(referral_link::Entity::find()
        .filter(referral_link::Column::Token.eq(token))
        .one(conn)
        .await?)
}

/// What `token` is at time `at`.
///
/// # Errors
/// Database errors.
pub async fn check(
    conn: &impl ConnectionTrait,
    token: &str,
    at: DateTime<Utc>,
) -> Result<LinkCheck> {
    Ok(match find(conn, token).await? {
        None => LinkCheck::Unknown,
        Some(l) if l.revoked_at.is_some_and(|r| r <= at) => LinkCheck::Revoked(l),
        Some(l) if l.expires_at <= at => LinkCheck::Expired(l),
        Some(l) => LinkCheck::Valid(l),
    })
}

/// Records a click on `token` and returns where to send the visitor, or
/// `None` for an unknown token. Expired and revoked links still lead to the
/// job (the visitor did nothing wrong); they just will not attribute.
///
/// # Errors
/// Database errors.
pub async fn click(
    db: &DatabaseConnection,
    token: &str,
    careers_base_url: &str,
) -> Result<Option<String>> {
    let Some(link) = find(db, token).await? else {
        return Ok(None);
    };
    let url = share_url(careers_base_url, &link.job_id, &link.token);
    // One statement that counts in the database: a read, then a write of
    // the count plus one, loses clicks that land at the same moment.
    referral_link::Entity::update_many()
        .col_expr(
            referral_link::Column::ClickCount,
            Expr::col(referral_link::Column::ClickCount).add(1),
        )
        .col_expr(
            referral_link::Column::FirstClickedAt,
            Func::coalesce([
                Expr::col(referral_link::Column::FirstClickedAt),
                Expr::val(Utc::now()),
            ])
            .into(),
        )
        .filter(referral_link::Column::Id.eq(link.id))
        .exec(db)
        .await?;
    Ok(Some(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_128_random_bits_and_distinct() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 3 + 32);
        assert!(looks_like_token(&a));
    }

    #[test]
    fn share_urls_follow_the_configured_base() {
        assert_eq!(
            share_url("https://careers.acme.example/", "4012345", "rt_ab"),
            "https://careers.acme.example/jobs/4012345?ref=rt_ab"
        );
        assert_eq!(
            share_url("https://c.example", "a b/c", "rt_x"),
            "https://c.example/jobs/a%20b%2Fc?ref=rt_x"
        );
    }

    /// The CLI's `--expires-in 1ns` parses as a duration; the minimum is
    /// enforced here, before the database is touched (the connection below
    /// has none behind it).
    #[tokio::test]
    async fn a_validity_under_one_second_is_refused() {
        let db = DatabaseConnection::default();
        for ttl in [
            std::time::Duration::from_nanos(1),
            std::time::Duration::from_millis(999),
        ] {
            let err = mint(&db, "cli", "E-1", "J-1", ttl, "https://c.example")
                .await
                .unwrap_err();
            assert!(
                matches!(&err, Error::Invalid { field, problem } if field == "expires_in" && problem.contains("1s")),
                "{ttl:?}: {err:?}"
            );
        }
    }

    #[test]
    fn odd_tokens_are_not_looked_up() {
        assert!(!looks_like_token(""));
        assert!(!looks_like_token("rt_'; drop table"));
        assert!(!looks_like_token(&"a".repeat(200)));
    }

    #[test]
    fn every_new_token_is_rt_and_32_lowercase_hex_and_looks_like_a_token() {
        let mut seen = std::collections::HashSet::new();
        let mut digits_at = vec![std::collections::HashSet::new(); 32];
        for _ in 0..2_000 {
            let token = new_token();
            let hex = token
                .strip_prefix("rt_")
                .unwrap_or_else(|| panic!("{token}"));
            assert_eq!(hex.len(), 32, "{token}");
            assert!(
                hex.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{token}"
            );
            assert!(looks_like_token(&token), "{token}");
            assert!(seen.insert(token.clone()), "repeated {token}");
            for (at, digit) in hex.chars().enumerate() {
                digits_at[at].insert(digit);
            }
        }
        // All 128 bits are random: over 2,000 tokens every position takes
        // (nearly) every hex digit, not one fixed or half-filled value.
        for (at, digits) in digits_at.iter().enumerate() {
            assert!(digits.len() >= 12, "position {at}: {digits:?}");
        }
    }

    mod properties {
        use proptest::prelude::*;
        use proptest::sample::Index;

        use super::super::{looks_like_token, new_token, share_url};

        /// A character outside the token alphabet: ASCII punctuation,
        /// whitespace and controls, look-alikes, anything.
        fn arb_foreign_char() -> impl Strategy<Value = char> {
            prop_oneof![
                prop::sample::select(vec![
                    ' ', '.', '%', '+', '/', '=', '&', '?', '#', '\'', '"', ';', '\0', '\n', '\t',
                    '\u{7f}', '\u{a0}', '\u{2010}', '\u{ff3f}', '\u{0663}', '\u{0130}', 'é',
                ]),
                "[^A-Za-z0-9_-]".prop_map(|s| s.chars().next().unwrap()),
            ]
        }

        /// A token-shaped string: minted, or any 1 to 128 alphabet chars.
        fn arb_token() -> impl Strategy<Value = String> {
            prop_oneof![Just(()).prop_map(|()| new_token()), "[A-Za-z0-9_-]{1,128}",]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn looks_like_token_accepts_every_1_to_128_alphabet_chars(
                text in prop_oneof!["[A-Za-z0-9_-]{1,128}", "[A-Za-z0-9_-]{128}", "[A-Za-z0-9_-]"],
            ) {
                prop_assert!(looks_like_token(&text));
            }

            #[test]
            fn looks_like_token_refuses_anything_over_128_chars(
                text in prop_oneof!["[A-Za-z0-9_-]{129,400}", "[A-Za-z0-9_-]{129}"],
            ) {
                prop_assert!(!looks_like_token(&text));
            }

            #[test]
            fn looks_like_token_refuses_any_char_outside_the_alphabet(
                // At most 124 so that even a 4-byte foreign char keeps it within
                // 128 bytes: only the char can be the reason for refusing it.
                text in "[A-Za-z0-9_-]{0,124}",
                foreign in arb_foreign_char(),
                at in any::<Index>(),
            ) {
                let mut chars: Vec<char> = text.chars().collect();
                chars.insert(at.index(chars.len() + 1), foreign);
                let text: String = chars.into_iter().collect();
                prop_assert!(!looks_like_token(&text), "{:?}", text);
            }

            #[test]
            fn share_url_parses_unchanged_with_the_token_as_ref_and_the_job_as_one_segment(
                base in prop::sample::select(vec![
                    "https://careers.acme.example",
                    "https://careers.acme.example/",
                    "https://acme.example/careers/",
                    "http://localhost:8080",
                ]),
                // Job ids `.` and `..` are left out: the URL parser reads
                // them as dot segments, so `mint` refuses them.
                job_id in prop_oneof!["\\PC{1,40}", "[ -~]{1,20}", "[0-9]{1,12}"]
                    .prop_filter("dot segment", |j| j != "." && j != ".."),
                token in arb_token(),
            ) {
                let raw = share_url(base, &job_id, &token);
                let url = url::Url::parse(&raw).unwrap();
                // Shared exactly as built: nothing for the parser to fix up.
                prop_assert_eq!(url.as_str(), raw.as_str());
                prop_assert_eq!(url.fragment(), None);
                let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
                prop_assert_eq!(pairs, vec![("ref".to_owned(), token.clone())]);

                let base_path = url::Url::parse(base).unwrap().path().trim_end_matches('/').to_owned();
                let segment = url
                    .path()
                    .strip_prefix(&format!("{base_path}/jobs/"))
                    .map(str::to_owned);
                prop_assert!(segment.is_some(), "{}", url.path());
                let segment = segment.unwrap();
                let encoded: String = url::form_urlencoded::byte_serialize(job_id.as_bytes()).collect();
                prop_assert_eq!(&segment, &encoded.replace('+', "%20"));
                // A path has no form encoding: a `+` would be read as a plus.
                prop_assert!(!segment.contains('+'));
                // One segment, whatever the id holds (`/`, `?`, `#`, ...),
                // and it decodes back to the id.
                prop_assert!(!segment.contains('/'));
                let decoded: Vec<(String, String)> =
                    url::form_urlencoded::parse(format!("j={segment}").as_bytes()).into_owned().collect();
                prop_assert_eq!(decoded, vec![("j".to_owned(), job_id.clone())]);
            }
        }
    }
}
