//! The configuration file of the service run as real processes, said once
//! for the two that run it so: the chaos suite (`tests/tests/chaos.rs`) and
//! the hire-latency bench (`src/bin/bench_hire_latency.rs`). What both
//! need (listen address, the careers-site secret, an ops token, the bonus
//! destination and one two-tranche rule, no cron schedules, local fakes
//! allowed) is here; each adds its own lines to a section with
//! [`ProcessConfig::with`].

use crate::{
    destinations::BONUS_SECRET,
    fixtures::{CAREERS_SITE_SECRET, tokens},
};

/// Tables [`ProcessConfig::render`] always writes, in order; extra lines
/// for any other table get a table of their own after them.
const SECTIONS: [&str; 7] = [
    "http",
    "webhooks",
    "referrals",
    "payouts",
    "reconciliation",
    "retention",
    "outbound",
];

/// A service's TOML (module docs).
#[derive(Debug, Clone)]
pub struct ProcessConfig {
    port: u16,
    name: String,
    scopes: Vec<String>,
    bonus_url: String,
    probation: String,
    extra: Vec<(String, String)>,
}

impl ProcessConfig {
    /// A service on `127.0.0.1:port` paying to `bonus_url`, with an ops
    /// token and a bonus rule both named `name` (1 000.00 EUR, half at the
    /// hire, half after `probation`, e.g. `"90days"`), token scopes
    /// `links`, `employees`, `ops_read`.
    pub fn new(port: u16, name: &str, bonus_url: &str, probation: &str) -> Self {
        Self {
            port,
            name: name.to_owned(),
            scopes: ["links", "employees", "ops_read"]
                .map(String::from)
                .to_vec(),
            bonus_url: bonus_url.to_owned(),
            probation: probation.to_owned(),
            extra: Vec::new(),
        }
    }

    /// The ops token's scopes instead of the default ones.
    #[must_use]
    pub fn scopes(mut self, scopes: &[&str]) -> Self {
        self.scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Adds `line` (`key = value`) to table `section` (`"payouts"`, or one
    /// of its own such as `"queue"` or `"ats.lever"`).
    #[must_use]
    pub fn with(mut self, section: &str, line: impl Into<String>) -> Self {
        self.extra.push((section.to_owned(), line.into()));
        self
    }

    /// The TOML text.
    pub fn render(&self) -> String {
        let scopes: Vec<String> = self.scopes.iter().map(|s| format!("\"{s}\"")).collect();
        let base = |section: &str| -> String {
            match section {
                "http" => format!("listen = \"127.0.0.1:{}\"\n", self.port),
                "webhooks" => format!("careers_site_secret = \"{CAREERS_SITE_SECRET}\"\n"),
                "referrals" => "careers_base_url = \"https://careers.acme-example.com\"\n".into(),
                "payouts" => format!(
                    "destination_url = \"{}\"\ndestination_secret = \"{BONUS_SECRET}\"\n",
                    self.bonus_url
                ),
                "reconciliation" | "retention" => "schedule = \"\"\n".into(),
                "outbound" => "allow_private_networks = true\n".into(),
                _ => String::new(),
            }
        };
        let mut text = String::new();
        let mut own: Vec<&str> = Vec::new();
        for (section, _) in &self.extra {
            if !SECTIONS.contains(&section.as_str()) && !own.contains(&section.as_str()) {
                own.push(section);
            }
        }
        for section in SECTIONS.iter().copied().chain(own) {
            text.push_str(&format!("[{section}]\n{}", base(section)));
            for (_, line) in self.extra.iter().filter(|(s, _)| s == section) {
                text.push_str(line);
                text.push('\n');
            }
            if section == "webhooks" {
                text.push_str(&format!(
                    "[[api.tokens]]\nname = \"{}\"\ntoken = \"{}\"\nscopes = [{}]\n",
                    self.name,
                    tokens::OPS,
                    scopes.join(", ")
                ));
            }
            if section == "payouts" {
                text.push_str(&format!(
                    "[[payouts.rules]]\nid = \"{}\"\namount_minor = 100000\ncurrency = \"EUR\"\n\
                     probation = \"{}\"\ntranches = [\n  \
                     {{ name = \"hire\", milestone = \"hire\", percent = 50 }},\n  \
                     {{ name = \"probation\", milestone = \"probation_complete\", percent = 50 }},\n]\n",
                    self.name, self.probation
                ));
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines of table `header` (up to the next header).
    fn table<'a>(text: &'a str, header: &str) -> Vec<&'a str> {
        text.lines()
            .skip_while(|l| *l != header)
            .skip(1)
            .take_while(|l| !l.starts_with('['))
            .collect()
    }

    #[test]
    fn extra_lines_land_in_their_table_and_new_tables_follow_once() {
        let text = ProcessConfig::new(8080, "bench", "http://127.0.0.1:9/bonus", "90days")
            .with("payouts", "destination_requests_per_second = 500")
            .with("ats.lever", "api_key = \"k\"")
            .with("ats.lever", "requests_per_second = 1000")
            .render();
        for header in ["[http]", "[payouts]", "[ats.lever]", "[[payouts.rules]]"] {
            assert_eq!(text.lines().filter(|l| *l == header).count(), 1, "{text}");
        }
        assert_eq!(table(&text, "[http]"), ["listen = \"127.0.0.1:8080\""]);
        assert!(table(&text, "[payouts]").contains(&"destination_requests_per_second = 500"));
        assert_eq!(
            table(&text, "[ats.lever]"),
            ["api_key = \"k\"", "requests_per_second = 1000"]
        );
        assert!(table(&text, "[[payouts.rules]]").contains(&"id = \"bench\""));
    }
}
