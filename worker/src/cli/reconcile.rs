//! `referral-worker reconcile import-platform|import-crm|three-way`: the
//! three-way reconciliation's subcommands (`commands::three_way` runs
//! them), kept apart from `cli.rs` so that file stays readable.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// `referral-worker reconcile ...`: the three-way reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum ReconcileCommand {
    /// Import the referral platform's list of referrals for a month (CSV
    /// with a header: platform_referral_id, employee_id, referred_on, and
    /// optionally referral_id, ats, ats_application_id). Replaces that
    /// month's earlier import; a bad row is named and nothing changes.
    ImportPlatform(ImportArgs),
    /// Import the CRM's list of hires for a month (CSV with a header:
    /// crm_hire_id, ats, ats_application_id, hired_on, and optionally
    /// employee_id). Replaces that month's earlier import; a bad row is
    /// named and nothing changes.
    ImportCrm(ImportArgs),
    /// Compare a month's imports with our attributions and the ATS now,
    /// record every variance with a suggested fix. Exits 1 when there is a
    /// variance.
    ThreeWay {
        /// The month, `YYYY-MM` (UTC).
        #[arg(long, value_name = "YYYY-MM")]
        period: String,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A file to import and its month.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ImportArgs {
    /// The CSV file (`-` reads stdin).
    pub file: PathBuf,
    /// The month it covers, `YYYY-MM` (UTC); every row's date must be in it.
    #[arg(long, value_name = "YYYY-MM")]
    pub period: String,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}
