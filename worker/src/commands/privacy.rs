//! `privacy candidate|referrer export|erase`: data-subject requests on the
//! command line, through the same `jobs::privacy` functions as
//! `/api/privacy/...`. An unknown person or a referrer still active fails
//! with the reason (exit 1); a malformed id is a usage error (exit 2).

use std::path::Path;

use anyhow::Context;

use super::actor::actor;
use crate::{
    cli::{CandidateRequest, PrivacyCommand, ReferrerRequest},
    config::Settings,
    runtime::connect_job_context,
};

/// Runs one `privacy` command.
///
/// # Errors
/// An unknown person, a referrer still active, a database failure, a file
/// that cannot be written.
pub(super) async fn privacy(cmd: PrivacyCommand, settings: &Settings) -> anyhow::Result<()> {
    let ctx = connect_job_context(settings).await?;
    match cmd {
        PrivacyCommand::Candidate {
            action: CandidateRequest::Export { id, out },
        } => {
            let doc = jobs::privacy::candidate::export(&ctx, id).await?;
            emit(&doc, out.as_deref())
        }
        PrivacyCommand::Candidate {
            action: CandidateRequest::Erase { id, json },
        } => {
            let report = jobs::privacy::candidate::erase(&ctx, id, &actor()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "candidate {id}: erased {} row(s) {:?} ({} already erased); cleared {} stored \
                     delivery bod(ies); {} delivery(ies) still processing",
                    report.erased.len(),
                    report.erased,
                    report.rows.len() - report.erased.len(),
                    report.deliveries_cleared.len(),
                    report.deliveries_pending.len(),
                );
                if !report.deliveries_pending.is_empty() {
                    println!(
                        "  run the erasure again once inbox rows {:?} are processed",
                        report.deliveries_pending
                    );
                }
            }
            Ok(())
        }
        PrivacyCommand::Referrer {
            action: ReferrerRequest::Export { employee_id, out },
        } => {
            let doc = jobs::privacy::referrer::export(&ctx.db, employee_id.trim()).await?;
            emit(&doc, out.as_deref())
        }
        PrivacyCommand::Referrer {
            action: ReferrerRequest::Erase { employee_id, json },
        } => {
            let report =
                jobs::privacy::referrer::erase(&ctx.db, employee_id.trim(), &actor()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else if report.erased {
                println!(
                    "referrer {}: email and name erased; {} link(s) revoked",
                    report.employee_id, report.links_revoked
                );
            } else {
                println!("referrer {}: already erased", report.employee_id);
            }
            Ok(())
        }
    }
}

/// Prints `doc` as pretty JSON, or writes it to `out`.
fn emit(doc: &serde_json::Value, out: Option<&Path>) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(doc)?;
    match out {
        None => println!("{text}"),
        Some(path) => std::fs::write(path, text + "\n")
            .with_context(|| format!("writing {}", path.display()))?,
    }
    Ok(())
}
