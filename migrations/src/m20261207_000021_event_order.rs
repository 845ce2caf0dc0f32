//! Events applied by their own time (issue 23.1): `application_facts`, and
//! the SHA-256 of a processed delivery's body on `inbox`.
//!
//! * `application_facts`: per application and fact (`status`, `start_date`,
//!   `stage`), the latest vendor time and the highest version (Greenhouse
//!   offers number theirs) of the events that changed it so far. An event
//!   no newer than that changes nothing.
//! * `inbox.body_sha256`: the digest of a processed delivery's raw body,
//!   so that a signed Greenhouse body re-posted under a new
//!   `Greenhouse-Event-ID` is known as the one already applied.

use sea_orm_migration::{prelude::*, schema::*};

use crate::support::create_index;

/// Creates `application_facts` and adds `inbox.body_sha256`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ApplicationFacts::Table)
                    .col(
                        big_integer(ApplicationFacts::Id)
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(big_integer(ApplicationFacts::ApplicationId))
                    .col(string_len(ApplicationFacts::Fact, 32))
                    .col(timestamp_with_time_zone_null(ApplicationFacts::ChangedAt))
                    .col(big_integer_null(ApplicationFacts::Version))
                    .col(string(ApplicationFacts::Event))
                    .col(timestamp_with_time_zone(ApplicationFacts::RecordedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_application_facts_application")
                            .from(ApplicationFacts::Table, ApplicationFacts::ApplicationId)
                            .to(Applications::Table, Applications::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        create_index(
            manager,
            "uq_application_facts_application_fact",
            ApplicationFacts::Table,
            &[ApplicationFacts::ApplicationId, ApplicationFacts::Fact],
            true,
        )
        .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Inbox::Table)
                    .add_column(string_len_null(Inbox::BodySha256, 64))
                    .to_owned(),
            )
            .await?;
        create_index(
            manager,
            "idx_inbox_source_body_sha256",
            Inbox::Table,
            &[Inbox::Source, Inbox::BodySha256],
            false,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_inbox_source_body_sha256")
                    .table(Inbox::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Inbox::Table)
                    .drop_column(Inbox::BodySha256)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(ApplicationFacts::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum ApplicationFacts {
    Table,
    Id,
    ApplicationId,
    Fact,
    ChangedAt,
    Version,
    Event,
    RecordedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Applications {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Inbox {
    Table,
    Source,
    BodySha256,
}
