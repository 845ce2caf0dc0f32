//! What the per-ATS end-to-end tests (`tests/tests/api/{ashby,workable}.rs`)
//! share: a table of refused deliveries checked against the intake
//! contract, and the idempotency keys a referral paid exactly once shows.

use std::collections::BTreeMap;

use entities::inbox::{InboxSource, InboxStatus};
use sea_orm::DatabaseConnection;
use serde_json::Value;

use crate::{
    app::TestApp,
    fixtures::{inbox_rows, payouts, post_raw, referrals},
};

/// One refused delivery: (what, headers, body, status, text the detail
/// names).
pub type Refusal = (
    &'static str,
    Vec<(String, String)>,
    Vec<u8>,
    u16,
    &'static str,
);

/// Posts each refusal to `path` and checks the answer (its status, a
/// detail naming the problem) and its trace: exactly one `rejected` inbox
/// row of `source`, with the body only when the sender was authenticated
/// (400 and 422).
///
/// # Panics
/// On the first refusal answered or recorded otherwise.
pub async fn assert_refused(
    app: &TestApp,
    db: &DatabaseConnection,
    path: &str,
    source: InboxSource,
    cases: Vec<Refusal>,
) {
    for (what, headers, bytes, status, detail) in cases {
        let before = inbox_rows(db).await.len();
        let response = post_raw(app, path, &headers, bytes).await;
        let got = response.status().as_u16();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(got, status, "{what}: {answer}");
        let text = answer["detail"].as_str().unwrap_or_default();
        assert!(text.contains(detail), "{what}: {answer}");
        let rows = inbox_rows(db).await;
        assert_eq!(rows.len(), before + 1, "{what}: one refusal recorded");
        let row = rows.last().expect("the refusal's row");
        assert_eq!(row.source, source, "{what}");
        assert_eq!(row.status, InboxStatus::Rejected, "{what}");
        assert_eq!(
            row.raw_body.is_some(),
            matches!(status, 400 | 422),
            "{what}: the body is kept only from an authenticated sender"
        );
    }
}

/// The idempotency keys of both tranches of the referral the first payout
/// belongs to, each once: what the bonus receiver must have seen.
///
/// # Panics
/// Without a payout or its referral.
pub async fn both_tranches_once(db: &DatabaseConnection) -> BTreeMap<String, usize> {
    let rows = payouts(db).await;
    let first = rows.first().expect("a payout");
    let referral = referrals(db)
        .await
        .into_iter()
        .find(|r| r.id == first.referral_id)
        .expect("the paid referral")
        .public_id;
    [
        (format!("{referral}:hired"), 1),
        (format!("{referral}:probation_completed"), 1),
    ]
    .into_iter()
    .collect()
}
