//! Small helpers shared by the migration files.
//!
//! Migrations are history: once a migration has shipped, what it does must never
//! change. Anything here is therefore append-only in spirit; change behaviour by
//! adding a new helper, never by editing one that old migrations call.

use sea_orm_migration::prelude::*;

/// Creates a named (optionally unique) index. Named explicitly so that code
/// mapping constraint violations, and later migrations dropping an index, can
/// refer to a stable name on every backend.
pub(crate) async fn create_index<T, C>(
    manager: &SchemaManager<'_>,
    name: &str,
    table: T,
    columns: &[C],
    unique: bool,
) -> Result<(), DbErr>
where
    T: IntoIden + Copy + 'static,
    C: IntoIden + Copy + 'static,
{
    let mut index = Index::create();
    index.name(name).table(table);
    for column in columns {
        index.col(*column);
    }
    if unique {
        index.unique();
    }
    manager.create_index(index.to_owned()).await
}
