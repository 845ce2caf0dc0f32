//! `[reports]`: the scheduled KPI report for leadership
//! (`jobs::finance::report`) and what the programme costs besides bonuses
//! (`jobs::finance::programme`), for cost per hire in every KPI report.

use serde::{Deserialize, Serialize};

use super::formats::string_like;
use jobs::finance::{programme::ProgramCost, report::ReportPeriod};

/// `[reports]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportsSettings {
    /// Cron expression with seconds (`sec min hour day month weekday`);
    /// empty (the default) sends no scheduled report. Every worker process
    /// watches it; each tick reports once.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub schedule: String,
    /// IANA time zone the schedule and the period's days are read in.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub time_zone: String,
    /// What each report covers: the full `day`, `week` (Monday to Sunday)
    /// or `month` before its tick.
    pub period: ReportPeriod,
    /// `[[reports.program_costs]]`: the programme's own costs per month and
    /// currency (`month = "2026-11"`, `currency = "EUR"`, `amount_minor`).
    pub program_costs: Vec<ProgramCost>,
}

impl Default for ReportsSettings {
    fn default() -> Self {
        ReportsSettings {
            schedule: String::new(),
            time_zone: "UTC".to_owned(),
            period: ReportPeriod::Week,
            program_costs: Vec::new(),
        }
    }
}
