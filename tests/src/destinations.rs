//! The systems the app POSTs to, as the tests configure them: the secrets
//! the app signs with for the bonus system, the status sync and the CRM,
//! and [`Destinations`], all four outside systems (those three plus a
//! Slack-compatible alert webhook) started as [`Receiver`]s at once, with
//! [`Destinations::point_at`] to point an app's settings at them.
//!
//! A test that needs one system only starts its own [`Receiver`] with the
//! matching secret.

use std::time::Duration;

use jobs::payout::rules::{BonusRules, default_rules};
use worker::config::{RetryOverride, Secret, Settings};

use crate::receiver::{Receiver, Reply};

/// What the bonus system verifies our Standard Webhooks signatures with.
pub const BONUS_SECRET: &str = "whsec_dGVzdC1vbmx5LXNlY3JldC0zMi1ieXRlcy1sb25nISE=";
/// What the status-sync endpoint verifies our signatures with.
pub const SYNC_SECRET: &str = "whsec_c3RhdHVzLXN5bmMtdGVzdC1zZWNyZXQtMzItYnl0ZXMh";
/// What the CRM verifies our signatures with.
pub const CRM_SECRET: &str = "whsec_Y3JtLWhhbmQtb2ZmLXRlc3Qtc2VjcmV0LTMyLWJ5dGVzIQ==";

/// Every outside system a payout tells, each a running [`Receiver`].
pub struct Destinations {
    /// The bonus system (`/bonus`), verifying [`BONUS_SECRET`].
    pub bonus: Receiver,
    /// The status sync (`/status`), verifying [`SYNC_SECRET`].
    pub status: Receiver,
    /// The CRM hand-off (`/crm`), verifying [`CRM_SECRET`].
    pub crm: Receiver,
    /// Slack-compatible alerts: unsigned, as Slack's incoming webhooks are.
    pub slack: Receiver,
}

impl Destinations {
    /// Starts the four receivers; the bonus system answers with
    /// `bonus_script` (then 200).
    pub async fn start(bonus_script: Vec<Reply>) -> Self {
        Self {
            bonus: Receiver::builder()
                .secret(BONUS_SECRET)
                .script(bonus_script)
                .start()
                .await,
            status: Receiver::builder().secret(SYNC_SECRET).start().await,
            crm: Receiver::builder().secret(CRM_SECRET).start().await,
            slack: Receiver::builder().start().await,
        }
    }

    /// Points the app at every receiver, with their secrets; failed bonus
    /// POSTs are retried quickly (100 ms, then 200 ms).
    pub fn point_at(&self, s: &mut Settings) {
        s.payouts.destination_url = self.bonus.url("/bonus");
        s.payouts.destination_secret = Secret::new(BONUS_SECRET);
        s.payouts.retry_schedule = vec![Duration::from_millis(100), Duration::from_millis(200)];
        s.notifications.status_sync_url = self.status.url("/status");
        s.notifications.status_sync_secret = Secret::new(SYNC_SECRET);
        s.notifications.crm_url = self.crm.url("/crm");
        s.notifications.crm_secret = Secret::new(CRM_SECRET);
        s.notifications.alert_webhook_url = Secret::new(self.slack.url("/services/T0/B0/x"));
    }

    /// How many requests the four received together.
    pub fn requests(&self) -> usize {
        self.bonus.count() + self.status.count() + self.crm.count() + self.slack.count()
    }
}

/// Payouts to the bonus system at `url`: one rule with `probation`, a
/// quick timer sweep, and a quick retry schedule for the send job.
pub fn pay_to_bonus(s: &mut Settings, url: &str, probation: Duration) {
    let mut rule = default_rules().rules()[0].clone();
    rule.probation = probation;
    s.payouts.rules = BonusRules::new(vec![rule]);
    s.payouts.timer_sweep = Duration::from_millis(300);
    s.payouts.destination_url = url.to_owned();
    s.payouts.destination_secret = Secret::new(BONUS_SECRET);
    s.queue.kinds.insert(
        "send_payout".into(),
        RetryOverride {
            max_attempts: Some(6),
            base_delay: Some(Duration::from_millis(100)),
            max_delay: Some(Duration::from_millis(200)),
        },
    );
}
