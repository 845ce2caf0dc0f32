//! A referrer's (employee's) data-subject requests: export everything we
//! hold on them, or erase their personal data (email, name) once the HRIS
//! reports them gone.
//!
//! A referrer is known by their HRIS id, which every referral and payout
//! carries and payroll understands: it stays, as do their referral links
//! (revoked on erasure), referrals, payouts and audit events. Referral
//! decisions read only `active` and the canonical email (self-referral
//! checks), so an erased, inactive referrer's history reads the same.
//!
//! Called by the HTTP API and CLI on request, and by the retention purge of
//! inactive referrers ([`crate::maintenance::retention`]) through
//! [`erase_row`].

use chrono::Utc;
use entities::{employee, payout, referral, referral_link};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, QueryFilter, QueryOrder, sea_query::Expr,
};
use serde::Serialize;
use serde_json::{Value, json};

use super::{
    candidate::{audit_events, audit_json, parse_or_text},
    tombstone::{self, Tombstone},
};
use crate::{
    db::{audit::AuditEntry, begin_locked},
    error::{Error, Result},
};

/// The personal columns an erasure replaces, as its tombstone names them.
pub const ERASED_REFERRER_FIELDS: [&str; 3] = ["email", "email_canonical", "name"];

/// What erasing a referrer did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReferrerErasure {
    /// The HRIS id.
    pub employee_id: String,
    /// Whether this request erased them (`false`: already erased).
    pub erased: bool,
    /// The SHA-256 of the tombstone, as audited (when erased now).
    pub tombstone_sha256: Option<String>,
    /// Their referral links revoked by the erasure.
    pub links_revoked: u64,
}

/// The advisory lock the HRIS sync takes for an employee
/// ([`crate::referral::employees::upsert`]).
pub(crate) fn lock_key(employee_id: &str) -> String {
    format!("employee:{employee_id}")
}

/// Erases referrer `employee_id`'s email and name on request, replacing
/// them by a sealed tombstone audited as `privacy.referrer_erased`, and
/// revokes their links. Repeating it changes nothing.
///
/// # Errors
/// [`Error::NotFound`] for an unknown referrer; [`Error::InvalidState`]
/// while the HRIS still lists them as active (their data is what the
/// program runs on: erase it once the HRIS reports them gone); database
/// errors.
pub async fn erase(
    db: &DatabaseConnection,
    employee_id: &str,
    actor: &str,
) -> Result<ReferrerErasure> {
    let tx = begin_locked(db, &[lock_key(employee_id)]).await?;
    let Some(e) = employee::Entity::find()
        .filter(employee::Column::EmployeeId.eq(employee_id))
        .one(&tx)
        .await?
    else {
        return Err(Error::NotFound(format!("referrer {employee_id}")));
    };
    if e.active {
        return Err(Error::InvalidState {
            id: format!("referrer {employee_id}"),
            state: "active".into(),
            reason: "the HRIS lists them as employed; erase them once it reports them inactive",
        });
    }
    if e.erased_at.is_some() {
        tx.commit().await?;
        return Ok(ReferrerErasure {
            employee_id: employee_id.to_owned(),
            erased: false,
            tombstone_sha256: None,
            links_revoked: 0,
        });
    }
    let (tombstone, links_revoked) = erase_row(&tx, e, "privacy.referrer_erased").await?;
    tx.audit(AuditEntry {
        actor: actor.to_owned(),
        action: "privacy.referrer_erased".into(),
        subject_type: "employee".into(),
        subject_id: employee_id.to_owned(),
        data: json!({ "tombstone_sha256": tombstone.sha256, "links_revoked": links_revoked }),
    });
    tx.commit().await?;
    Ok(ReferrerErasure {
        employee_id: employee_id.to_owned(),
        erased: true,
        tombstone_sha256: Some(tombstone.sha256),
        links_revoked,
    })
}

/// Erases employee `e`'s email and name in the caller's transaction (which
/// holds [`lock_key`]), storing the tombstone sealed for `cause` (the
/// audit action the caller records with the tombstone's hash), and revokes
/// their unrevoked links. Returns the tombstone and how many links were
/// revoked.
///
/// # Errors
/// Database errors.
pub(crate) async fn erase_row(
    conn: &impl ConnectionTrait,
    e: employee::Model,
    cause: &str,
) -> Result<(Tombstone, u64)> {
    let now = Utc::now();
    let tombstone = tombstone::seal(
        "employee",
        &e.employee_id,
        &ERASED_REFERRER_FIELDS,
        cause,
        now,
    );
    let employee_id = e.employee_id.clone();
    let mut a: employee::ActiveModel = e.into();
    // The columns are NOT NULL: empty is erased, and an empty canonical
    // email matches no candidate's in the self-referral check.
    a.email = Set(String::new());
    a.email_canonical = Set(String::new());
    a.name = Set(String::new());
    a.erased_at = Set(Some(now));
    a.erasure_tombstone = Set(Some(tombstone.text.clone()));
    a.updated_at = Set(now);
    a.update(conn).await?;
    let revoked = referral_link::Entity::update_many()
        .col_expr(referral_link::Column::RevokedAt, Expr::value(now))
        .filter(referral_link::Column::EmployeeId.eq(&employee_id))
        .filter(referral_link::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok((tombstone, revoked.rows_affected))
}

/// Everything we hold on referrer `employee_id`, as one JSON document:
/// the employee row (or its tombstone), their referral links, the
/// referrals credited to them and those referrals' payouts (the candidates
/// by internal id only: their data is theirs), and the audit events about
/// them and their links.
///
/// # Errors
/// [`Error::NotFound`] for an unknown referrer; database errors.
pub async fn export(db: &DatabaseConnection, employee_id: &str) -> Result<Value> {
    let Some(e) = employee::Entity::find()
        .filter(employee::Column::EmployeeId.eq(employee_id))
        .one(db)
        .await?
    else {
        return Err(Error::NotFound(format!("referrer {employee_id}")));
    };
    let links = referral_link::Entity::find()
        .filter(referral_link::Column::EmployeeId.eq(employee_id))
        .order_by_asc(referral_link::Column::Id)
        .all(db)
        .await?;
    let referrals = referral::Entity::find()
        .filter(referral::Column::EmployeeId.eq(employee_id))
        .order_by_asc(referral::Column::Id)
        .all(db)
        .await?;
    let payouts = payout::Entity::find()
        .filter(payout::Column::ReferralId.is_in(referrals.iter().map(|r| r.id)))
        .order_by_asc(payout::Column::Id)
        .all(db)
        .await?;
    let events = audit_events(
        db,
        &[
            ("employee", vec![employee_id.to_owned()]),
            (
                "referral_link",
                links.iter().map(|l| l.id.to_string()).collect(),
            ),
        ],
    )
    .await?;
    Ok(json!({
        "subject": { "type": "referrer", "employee_id": employee_id },
        "exported_at": Utc::now(),
        "employee": {
            "employee_id": e.employee_id, "email": e.email, "email_canonical": e.email_canonical,
            "name": e.name, "active": e.active, "deactivated_at": e.deactivated_at,
            "erased_at": e.erased_at,
            "erasure_tombstone": e.erasure_tombstone.as_deref().map(parse_or_text),
            "created_at": e.created_at, "updated_at": e.updated_at,
        },
        "referral_links": links.iter().map(|l| json!({
            "token": l.token, "job_id": l.job_id, "created_at": l.created_at,
            "expires_at": l.expires_at, "revoked_at": l.revoked_at,
            "first_clicked_at": l.first_clicked_at, "click_count": l.click_count,
        })).collect::<Vec<_>>(),
        "referrals": referrals.iter().map(|r| json!({
            "id": r.id, "candidate_id": r.candidate_id, "application_id": r.application_id,
            "source": r.source, "link_token": r.link_token, "state": r.state,
            "reason": r.reason, "referred_at": r.referred_at, "decided_at": r.decided_at,
            "is_test": r.is_test,
        })).collect::<Vec<_>>(),
        "payouts": payouts.iter().map(|p| json!({
            "id": p.id, "referral_id": p.referral_id, "tranche": p.tranche,
            "amount_minor": p.amount_minor, "currency": p.currency, "state": p.state,
            "reason": p.reason, "eligible_at": p.eligible_at, "sent_at": p.sent_at,
            "delivered_at": p.delivered_at,
        })).collect::<Vec<_>>(),
        "audit_events": events.iter().map(audit_json).collect::<Vec<_>>(),
    }))
}
