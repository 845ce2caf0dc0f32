//! Public ids: `referrals.public_id` (`ref_<ULID>`), `payouts.public_id`
//! (`pay_<ULID>`) and `payouts.rule_id`.
//!
//! Everything the service shows outside (the bonus message, status syncs,
//! exports, alerts) named referrals and payouts by their row numbers, and
//! the bonus `Idempotency-Key` was built from one (`1:hire`): staging's and
//! production's `1:hire`, or two companies' deployments, were one key to a
//! receiver that deduplicates on it. A ULID-based id is globally unique.
//!
//! Existing rows get a fresh public id here. Their payouts keep the
//! `webhook_id` and `idempotency_key` they were made (and maybe sent) with,
//! so a receiver still recognises a retry of an old payout; only rows made
//! from now on use keys built from the public id. `rule_id` records which
//! bonus rule made a payout (the bonus message names it); old rows have
//! none and the sender falls back to the rule the job matches now.

use sea_orm_migration::{prelude::*, schema::*, sea_orm::ConnectionTrait};

use crate::support::create_index;

/// Adds the public ids (filled for existing rows) and `payouts.rule_id`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Nullable in the schema (SQLite cannot add a NOT NULL column
        // without a default); every row has one after the backfill, and
        // the entities give each new row one on insert.
        for (table, column) in [
            (Tables::Referrals, Tables::PublicId),
            (Tables::Payouts, Tables::PublicId),
            (Tables::Payouts, Tables::RuleId),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(string_len_null(column, 64))
                        .to_owned(),
                )
                .await?;
        }
        backfill(manager, Tables::Referrals, "ref_").await?;
        backfill(manager, Tables::Payouts, "pay_").await?;
        create_index(
            manager,
            "uq_referrals_public_id",
            Tables::Referrals,
            &[Tables::PublicId],
            true,
        )
        .await?;
        create_index(
            manager,
            "uq_payouts_public_id",
            Tables::Payouts,
            &[Tables::PublicId],
            true,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, index) in [
            (Tables::Referrals, "uq_referrals_public_id"),
            (Tables::Payouts, "uq_payouts_public_id"),
        ] {
            manager
                .drop_index(Index::drop().name(index).table(table).to_owned())
                .await?;
        }
        for (table, column) in [
            (Tables::Referrals, Tables::PublicId),
            (Tables::Payouts, Tables::PublicId),
            (Tables::Payouts, Tables::RuleId),
        ] {
            manager
                .alter_table(Table::alter().table(table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// Gives every row of `table` without a public id a fresh `{prefix}<ULID>`.
async fn backfill(manager: &SchemaManager<'_>, table: Tables, prefix: &str) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let rows = db
        .query_all(
            &Query::select()
                .column(Tables::Id)
                .from(table)
                .and_where(Expr::col(Tables::PublicId).is_null())
                .to_owned(),
        )
        .await?;
    for row in rows {
        let id: i64 = row.try_get("", "id")?;
        db.execute(
            &Query::update()
                .table(table)
                .value(
                    Tables::PublicId,
                    format!("{prefix}{}", ulid::Ulid::generate()),
                )
                .and_where(Expr::col(Tables::Id).eq(id))
                .to_owned(),
        )
        .await?;
    }
    Ok(())
}

#[derive(DeriveIden, Clone, Copy)]
enum Tables {
    Referrals,
    Payouts,
    Id,
    PublicId,
    RuleId,
}
