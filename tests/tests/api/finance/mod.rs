//! Finance features on real databases: `audit verify` on an untouched and a
//! tampered hash chain (SQLite and PostgreSQL), the payout, referral and
//! audit exports over HTTP and from the CLI, and the KPIs.
//!
//! The ledger is seeded straight through the entities ([`World`]): the
//! exports read rows, and how the rows came to be is the payout tests'
//! subject. The audit log is written through `LockedTx::audit` and its commit,
//! the one way the service writes it, so the chain is the real one.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use entities::{
    application::{self, ApplicationStatus},
    audit_event, candidate, candidate_ats_id,
    milestone::{self, MilestoneKind, MilestoneState},
    payout::{self, PayoutState},
    referral::{self, ReferralSource, ReferralState},
    states::Ats,
};
use jobs::{
    db::audit::{self, AuditEntry, GENESIS, Problem, Verification},
    db::begin_locked,
};
use reqwest::StatusCode;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, QueryFilter, QueryOrder,
};
use serde_json::{Value, json};
use tests::{
    app::{
        DbDriver, Setup, TestApp, TestProcess, fresh_db, spawn_app_with, spawn_process, worker_env,
    },
    db::TestDb,
    fixtures::{configure_capture, tokens},
};

mod audit_chain;
mod cli;
mod exports;

/// How long a CLI one-shot may take.
const CLI_EXIT: Duration = Duration::from_secs(60);

fn day(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 9, 30, 0)
        .single()
        .expect("a valid date")
}

// ---------------------------------------------------------------------------
// A small ledger
// ---------------------------------------------------------------------------

async fn insert_candidate(db: &DatabaseConnection, is_test: bool, ats_ids: &[(Ats, &str)]) -> i64 {
    let at = day(2026, 1, 1);
    let c = candidate::ActiveModel {
        email_raw: Set(None),
        email_canonical: Set(None),
        phone_raw: Set(None),
        phone_e164: Set(None),
        first_name: Set("Test".into()),
        last_name: Set(None),
        merged_into_id: Set(None),
        anonymized_at: Set(None),
        is_test: Set(is_test),
        created_at: Set(at),
        updated_at: Set(at),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("candidate");
    for (ats, id) in ats_ids {
        candidate_ats_id::ActiveModel {
            candidate_id: Set(c.id),
            ats: Set(*ats),
            ats_candidate_id: Set((*id).to_string()),
            ..Default::default()
        }
        .insert(db)
        .await
        .expect("candidate ats id");
    }
    c.id
}

async fn insert_application(
    db: &DatabaseConnection,
    candidate_id: i64,
    ats_application_id: &str,
    job_id: &str,
    applied_at: DateTime<Utc>,
    hired_at: Option<DateTime<Utc>>,
) -> i64 {
    application::ActiveModel {
        candidate_id: Set(candidate_id),
        ats: Set(Ats::Greenhouse),
        ats_application_id: Set(ats_application_id.into()),
        job_id: Set(job_id.into()),
        requisition_id: Set(None),
        status: Set(if hired_at.is_some() {
            ApplicationStatus::Hired
        } else {
            ApplicationStatus::Active
        }),
        stage: Set(None),
        applied_at: Set(applied_at),
        hired_at: Set(hired_at),
        start_date: Set(hired_at.map(|h| h + chrono::TimeDelta::days(7))),
        rejected_at: Set(None),
        job_level: Set(None),
        department: Set(None),
        location: Set(None),
        created_at: Set(applied_at),
        updated_at: Set(applied_at),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("application")
    .id
}

async fn insert_referral(
    db: &DatabaseConnection,
    candidate_id: i64,
    application_id: i64,
    employee_id: &str,
    state: ReferralState,
    referred_at: DateTime<Utc>,
) -> i64 {
    referral::ActiveModel {
        candidate_id: Set(candidate_id),
        application_id: Set(Some(application_id)),
        employee_id: Set(employee_id.into()),
        source: Set(ReferralSource::AtsCredited),
        link_token: Set(None),
        state: Set(state),
        reason: Set((state == ReferralState::Lost).then(|| "first_referrer_wins".to_string())),
        referred_at: Set(referred_at),
        decided_at: Set(Some(referred_at)),
        is_test: Set(false),
        created_at: Set(referred_at),
        updated_at: Set(referred_at),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("referral")
    .id
}

async fn insert_milestone(
    db: &DatabaseConnection,
    application_id: i64,
    referral_id: i64,
    kind: MilestoneKind,
) -> i64 {
    let at = day(2026, 1, 1);
    milestone::ActiveModel {
        referral_id: Set(Some(referral_id)),
        application_id: Set(application_id),
        kind: Set(kind),
        state: Set(MilestoneState::Reached),
        occurred_at: Set(Some(at)),
        created_at: Set(at),
        updated_at: Set(at),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("milestone")
    .id
}

/// A payout row; `delivered_at` makes it delivered.
struct NewPayout<'a> {
    referral_id: i64,
    milestone_id: Option<i64>,
    tranche: &'a str,
    amount_minor: i64,
    currency: &'a str,
    created_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
    is_test: bool,
}

async fn insert_payout(db: &DatabaseConnection, p: NewPayout<'_>) -> i64 {
    payout::ActiveModel {
        referral_id: Set(p.referral_id),
        milestone_id: Set(p.milestone_id),
        tranche: Set(p.tranche.into()),
        amount_minor: Set(p.amount_minor),
        currency: Set(p.currency.into()),
        state: Set(if p.delivered_at.is_some() {
            PayoutState::Delivered
        } else {
            PayoutState::Pending
        }),
        reason: Set(None),
        idempotency_key: Set(format!("{}:{}", p.referral_id, p.tranche)),
        webhook_id: Set(format!("msg_{}", ulid::Ulid::generate())),
        attempts: Set(i32::from(p.delivered_at.is_some())),
        last_status_code: Set(p.delivered_at.map(|_| 200)),
        eligible_at: Set(p.delivered_at.map(|_| p.created_at)),
        sent_at: Set(p.delivered_at),
        delivered_at: Set(p.delivered_at),
        is_test: Set(p.is_test),
        created_at: Set(p.created_at),
        updated_at: Set(p.created_at),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("payout")
    .id
}

/// The ids of the seeded ledger.
///
/// January 2026:
/// * Ana (Greenhouse 9001), referred by E-1, applied Jan 5, hired Jan 25:
///   `hire` tranche EUR 1,000.00 delivered Jan 26, `probation` EUR 500.00
///   pending; plus a payout marked test.
/// * A sandbox candidate (test), referred by E-2, hired Jan 20, EUR
///   1,000.00 delivered Jan 21: test data throughout.
/// * Carl (Greenhouse 9003, Lever lev-3), credited to E-2 over E-1's
///   later claim, applied Jan 10, not hired; USD 200.00 created and
///   delivered in February.
/// * Dora, not referred, applied Jan 2, hired Jan 12.
struct World {
    ana: i64,
    ana_referral: i64,
    ana_hire: i64,
    ana_probation: i64,
    ana_test_payout: i64,
    sandbox_payout: i64,
    carl_referral: i64,
    carl_lost_referral: i64,
    carl_february: i64,
}

async fn seed(db: &DatabaseConnection) -> World {
    let ana = insert_candidate(db, false, &[(Ats::Greenhouse, "9001")]).await;
    let ana_app = insert_application(
        db,
        ana,
        "1201",
        "40",
        day(2026, 1, 5),
        Some(day(2026, 1, 25)),
    )
    .await;
    let ana_referral = insert_referral(
        db,
        ana,
        ana_app,
        "E-1",
        ReferralState::Credited,
        day(2026, 1, 4),
    )
    .await;
    let hire = insert_milestone(db, ana_app, ana_referral, MilestoneKind::Hire).await;
    let probation =
        insert_milestone(db, ana_app, ana_referral, MilestoneKind::ProbationComplete).await;
    let ana_hire = insert_payout(
        db,
        NewPayout {
            referral_id: ana_referral,
            milestone_id: Some(hire),
            tranche: "hire",
            amount_minor: 100_000,
            currency: "EUR",
            created_at: day(2026, 1, 25),
            delivered_at: Some(day(2026, 1, 26)),
            is_test: false,
        },
    )
    .await;
    let ana_probation = insert_payout(
        db,
        NewPayout {
            referral_id: ana_referral,
            milestone_id: Some(probation),
            tranche: "probation",
            amount_minor: 50_000,
            currency: "EUR",
            created_at: day(2026, 1, 25),
            delivered_at: None,
            is_test: false,
        },
    )
    .await;
    let ana_test_payout = insert_payout(
        db,
        NewPayout {
            referral_id: ana_referral,
            milestone_id: None,
            tranche: "sandbox",
            amount_minor: 1,
            currency: "EUR",
            created_at: day(2026, 1, 27),
            delivered_at: Some(day(2026, 1, 27)),
            is_test: true,
        },
    )
    .await;

    let sandbox = insert_candidate(db, true, &[(Ats::Greenhouse, "9002")]).await;
    let sandbox_app = insert_application(
        db,
        sandbox,
        "1202",
        "40",
        day(2026, 1, 6),
        Some(day(2026, 1, 20)),
    )
    .await;
    let sandbox_referral = insert_referral(
        db,
        sandbox,
        sandbox_app,
        "E-2",
        ReferralState::Credited,
        day(2026, 1, 6),
    )
    .await;
    let sandbox_payout = insert_payout(
        db,
        NewPayout {
            referral_id: sandbox_referral,
            milestone_id: None,
            tranche: "hire",
            amount_minor: 100_000,
            currency: "EUR",
            created_at: day(2026, 1, 20),
            delivered_at: Some(day(2026, 1, 21)),
            is_test: false,
        },
    )
    .await;

    let carl = insert_candidate(
        db,
        false,
        &[(Ats::Greenhouse, "9003"), (Ats::Lever, "lev-3")],
    )
    .await;
    let carl_app = insert_application(db, carl, "1203", "41", day(2026, 1, 10), None).await;
    let carl_referral = insert_referral(
        db,
        carl,
        carl_app,
        "E-2",
        ReferralState::Credited,
        day(2026, 1, 9),
    )
    .await;
    let carl_lost_referral = insert_referral(
        db,
        carl,
        carl_app,
        "E-1",
        ReferralState::Lost,
        day(2026, 1, 11),
    )
    .await;
    let carl_february = insert_payout(
        db,
        NewPayout {
            referral_id: carl_referral,
            milestone_id: None,
            tranche: "hire",
            amount_minor: 20_000,
            currency: "USD",
            created_at: day(2026, 2, 3),
            delivered_at: Some(day(2026, 2, 10)),
            is_test: false,
        },
    )
    .await;

    let dora = insert_candidate(db, false, &[(Ats::Greenhouse, "9004")]).await;
    insert_application(
        db,
        dora,
        "1204",
        "41",
        day(2026, 1, 2),
        Some(day(2026, 1, 12)),
    )
    .await;

    World {
        ana,
        ana_referral,
        ana_hire,
        ana_probation,
        ana_test_payout,
        sandbox_payout,
        carl_referral,
        carl_lost_referral,
        carl_february,
    }
}
