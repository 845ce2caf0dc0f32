//! The shape of the configuration, part two: the sections of the referral
//! workflow, `[api]`, `[webhooks]`, `[referrals]`, `[ats.*]`, `[payouts]`,
//! `[milestones]`, `[notifications]`, `[reconciliation]`, `[retention]`,
//! `[sandbox]` and `[outbound]`. `runtime` turns them into the `jobs`
//! crate's clients and rules; `validate` checks them.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::formats::{duration, durations, string_like};
use super::mask::{Secret, SecretUrl};

/// `[outbound]`: the SSRF guard on every outbound call (ATS APIs, the
/// bonus destination, status sync, CRM, alerts, sandbox URLs). Redirects are
/// never followed. Unless `allow_private_networks`, a configured URL whose
/// host is a private, loopback, link-local or reserved address is refused
/// by `config check` and at start, and a host name is connected to only
/// through its public addresses (see `jobs::outbound::net_guard`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboundSettings {
    /// Let outbound calls reach private networks and loopback: for an
    /// on-premise receiver or local development. Default false.
    pub allow_private_networks: bool,
    /// A PEM bundle of extra CAs trusted for outbound HTTPS besides the
    /// platform's trust store: a receiver behind a private CA (on-premise
    /// payroll). Empty: the platform's store alone.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub ca_file: String,
    /// The forward proxy every outbound call goes through, `http://` or
    /// `https://` (credentials in the URL are kept secret). Empty (the
    /// default): calls go directly, and `HTTP_PROXY`, `HTTPS_PROXY`,
    /// `ALL_PROXY` in the environment are ignored. With a proxy, the SSRF
    /// guard checks each call's target host before it is sent.
    pub proxy: SecretUrl,
}

/// `[sandbox]`: a deployment that must not reach real systems (staging, a
/// go-live rehearsal). When `enabled`, each outbound client is built
/// against its sandbox URL if one is given; otherwise its calls are
/// recorded in the audit log (`sandbox.recorded`: destination, method, URL
/// without query, message id and type) and answered as delivered, and ATS
/// write-backs are recorded and skipped. Signed destinations keep their
/// configured secrets. Ignored when `enabled` is false.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxSettings {
    /// Route or record every outbound call.
    pub enabled: bool,
    /// Sandbox for the bonus POST (instead of `payouts.destination_url`).
    #[serde(deserialize_with = "string_like::deserialize")]
    pub bonus_url: String,
    /// Sandbox for status syncs (instead of `notifications.status_sync_url`).
    #[serde(deserialize_with = "string_like::deserialize")]
    pub status_sync_url: String,
    /// Sandbox for CRM hand-offs (instead of `notifications.crm_url`).
    #[serde(deserialize_with = "string_like::deserialize")]
    pub crm_url: String,
    /// Sandbox alert webhook (instead of `notifications.alert_webhook_url`);
    /// masked like the real one.
    pub alert_webhook_url: Secret,
    /// Sandbox Greenhouse Harvest base URL (instead of `ats.greenhouse.base_url`).
    #[serde(deserialize_with = "string_like::deserialize")]
    pub greenhouse_base_url: String,
    /// Sandbox Lever API base URL (instead of `ats.lever.base_url`).
    #[serde(deserialize_with = "string_like::deserialize")]
    pub lever_base_url: String,
}

/// `[reconciliation]`: when it runs and what counts as late.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReconciliationSettings {
    /// Cron expression with seconds (`sec min hour day month weekday`);
    /// empty turns the schedule off (`referral-worker reconcile` still
    /// works). Every worker process watches it; each tick runs once.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub schedule: String,
    /// IANA time zone the schedule is read in.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub time_zone: String,
    /// How long a payout may stay sendable before it is a variance.
    #[serde(with = "duration")]
    pub delivery_window: Duration,
    /// How far back the ATS is asked for applications that moved.
    #[serde(with = "duration")]
    pub ats_lookback: Duration,
    /// Most pages of one ATS listing a run reads (Greenhouse: 500
    /// applications a page); a longer listing is reported as a variance.
    pub max_ats_pages: u32,
    /// Cron expression (with seconds, read in `time_zone`) of the monthly
    /// three-way reconciliation, which compares the calendar month (UTC)
    /// before each tick; empty turns it off (`reconcile three-way` still
    /// works).
    #[serde(deserialize_with = "string_like::deserialize")]
    pub three_way_schedule: String,
    /// The go-live day (`YYYY-MM-DD`, UTC): seven days later the day-7
    /// audit compares those seven days three ways and alerts ops on any
    /// variance, once (the run row decides). Empty: no audit.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub go_live: String,
}

impl ReconciliationSettings {
    /// `go_live` as a date; `None` when empty.
    ///
    /// # Errors
    /// A value that is not `YYYY-MM-DD`.
    pub fn go_live_date(&self) -> Result<Option<chrono::NaiveDate>, String> {
        let text = self.go_live.trim();
        if text.is_empty() {
            return Ok(None);
        }
        chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| format!("{text:?} is not a date YYYY-MM-DD"))
    }
}

impl Default for ReconciliationSettings {
    fn default() -> Self {
        ReconciliationSettings {
            schedule: "0 0 3 * * *".to_owned(),
            time_zone: "UTC".to_owned(),
            delivery_window: Duration::from_secs(24 * 3600),
            ats_lookback: Duration::from_secs(30 * 24 * 3600),
            max_ats_pages: 1_000,
            three_way_schedule: "0 0 4 1 * *".to_owned(),
            go_live: String::new(),
        }
    }
}

/// `[retention]`: when personal data of candidates who were not hired, and
/// of referrers who left, is erased.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionSettings {
    /// Erase the personal data of candidates whose applications were all
    /// rejected or withdrawn this long ago, and raw inbox bodies this old.
    #[serde(with = "duration")]
    pub purge_after: Duration,
    /// Erase the email and name of referrers (employees) the HRIS has
    /// reported inactive for this long.
    #[serde(with = "duration")]
    pub referrer_after: Duration,
    /// Delete refused deliveries (`rejected` inbox rows) this old, so a
    /// flood of forged or unsigned posts never grows storage for good.
    #[serde(with = "duration")]
    pub rejected_after: Duration,
    /// Cron expression with seconds; empty turns the schedule off.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub schedule: String,
    /// IANA time zone the schedule is read in.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub time_zone: String,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            purge_after: Duration::from_secs(365 * 24 * 3600),
            referrer_after: Duration::from_secs(365 * 24 * 3600),
            rejected_after: Duration::from_secs(7 * 24 * 3600),
            schedule: "0 30 3 * * *".to_owned(),
            time_zone: "UTC".to_owned(),
        }
    }
}

/// `[milestones]`: how events become milestones.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MilestoneSettings {
    /// Stage names that mean "hired", per ATS (`greenhouse`, `lever`,
    /// `careers_site`, `generic`), compared case-insensitively. An
    /// application moved into one of them is hired even when the event
    /// carries no `hired` status. Empty: only the ATS's own hired status
    /// (Greenhouse `hired`, Lever `candidateHired`) counts.
    pub hire_stages: std::collections::BTreeMap<String, Vec<String>>,
    /// The field of a careers-site / generic `application.status_changed`
    /// event's `application` object holding the start date
    /// (`YYYY-MM-DD` or RFC 3339). Default `start_date`.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub start_date_field: String,
}

/// `[notifications]`: where status syncs, CRM hand-offs and alerts go.
/// Each URL is optional; an empty one sends nothing of that kind.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationSettings {
    /// The referral platform: every milestone and payout state change is
    /// POSTed here (Standard Webhooks, `referral.status_changed`).
    #[serde(deserialize_with = "string_like::deserialize")]
    pub status_sync_url: String,
    /// `whsec_` secret status syncs are signed with.
    pub status_sync_secret: Secret,
    /// Also tell the referral platform when a hire is undone by a
    /// rejection (off by default: referrers are not told about rejections).
    pub notify_rejections: bool,
    /// The referral decisions and stage changes the referral platform is
    /// told of, by kind: `credited`, `lost`, `ineligible`, `stage_changed`
    /// (default all four; `[]` sends none of them).
    pub engagement: Vec<jobs::referral::engagement::EngagementEvent>,
    /// Candidate fields those messages may carry (`first_name`,
    /// `last_name`, `email`); default none: ids only.
    pub engagement_candidate_fields: Vec<jobs::referral::engagement::CandidateField>,
    /// The CRM: a confirmed hire with its attribution is POSTed here
    /// (`referral.hire_confirmed`).
    #[serde(deserialize_with = "string_like::deserialize")]
    pub crm_url: String,
    /// `whsec_` secret CRM hand-offs are signed with.
    pub crm_secret: Secret,
    /// A Slack-compatible incoming webhook (`{"text": ...}`) for alerts:
    /// dead or failed payouts, a destination disabled by a 410. The URL is
    /// the credential, so it is kept secret.
    pub alert_webhook_url: Secret,
    /// Requests per second to each of these destinations, per process.
    pub requests_per_second: u32,
    /// How long one notification POST may take.
    #[serde(with = "duration")]
    pub timeout: Duration,
}

impl Default for MilestoneSettings {
    fn default() -> Self {
        MilestoneSettings {
            hire_stages: std::collections::BTreeMap::new(),
            start_date_field: jobs::connectors::careers_site::DEFAULT_START_DATE_FIELD.to_owned(),
        }
    }
}

impl Default for NotificationSettings {
    fn default() -> Self {
        NotificationSettings {
            status_sync_url: String::new(),
            status_sync_secret: Secret::default(),
            notify_rejections: false,
            engagement: jobs::referral::engagement::EngagementEvent::ALL.to_vec(),
            engagement_candidate_fields: Vec::new(),
            crm_url: String::new(),
            crm_secret: Secret::default(),
            alert_webhook_url: Secret::default(),
            requests_per_second: 10,
            timeout: Duration::from_secs(15),
        }
    }
}

/// `[payouts]`: bonus rules and the probation timers' safety net.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PayoutsSettings {
    /// `[[payouts.rules]]`: tiers, tranches and probation periods; the first
    /// rule matching a job applies. Default: one catch-all rule (see
    /// `jobs::payout::rules::default_rules`).
    pub rules: jobs::payout::rules::BonusRules,
    /// How often each worker re-enqueues armed probation timers missing
    /// from the queue (after a Redis wipe).
    #[serde(with = "duration")]
    pub timer_sweep: Duration,
    /// How long a job's level, department and location, read from the ATS
    /// when a rule depends on them, are trusted before the ATS is asked
    /// again (`ats_jobs.fetched_at`).
    #[serde(with = "duration")]
    pub job_facts_ttl: Duration,
    /// Where bonus events are POSTed (the referral program system); empty
    /// keeps eligible payouts waiting, visible to ops.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub destination_url: String,
    /// Standard Webhooks secret (`whsec_...`) the bonus events are signed with.
    pub destination_secret: Secret,
    /// Whether the receiver dedupes on webhook-id / Idempotency-Key (the
    /// Standard Webhooks default). If not, a send whose outcome is unknown
    /// is never repeated automatically (`outcome_unknown`, for ops).
    pub destination_idempotent: bool,
    /// Bonus POSTs per second, per process.
    pub destination_requests_per_second: u32,
    /// How long one bonus POST may take, answer included (Standard Webhooks
    /// suggests 15–30 s). A POST that times out after it was sent has an
    /// unknown outcome: resent only to an idempotent destination.
    #[serde(with = "duration")]
    pub destination_timeout: Duration,
    /// Delays between attempts of a bonus POST and of every notification:
    /// one attempt, then one retry per entry, then dead (and an alert).
    /// Default Standard Webhooks' schedule: 5s, 5m, 30m, 2h, 5h, 10h, 14h,
    /// 20h, 24h. A `[queue.kinds.send_payout]` section, when present, wins.
    #[serde(with = "durations")]
    pub retry_schedule: Vec<Duration>,
}

impl Default for PayoutsSettings {
    fn default() -> Self {
        PayoutsSettings {
            rules: jobs::payout::rules::default_rules(),
            timer_sweep: Duration::from_secs(60),
            job_facts_ttl: Duration::from_secs(24 * 60 * 60),
            destination_url: String::new(),
            destination_secret: Secret::default(),
            destination_idempotent: true,
            destination_requests_per_second: 10,
            destination_timeout: Duration::from_secs(15),
            retry_schedule: queue::RetryPolicy::webhook_schedule(),
        }
    }
}

/// What an API token may do. Each caller gets only the scopes it needs: the
/// referral portal `links`, the HRIS sync `employees`, ops `ops_read` or
/// `ops_admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Mint and revoke referral links.
    Links,
    /// Create and import employees (referrers).
    Employees,
    /// Report hires and terminations.
    Hires,
    /// Read the ops API.
    OpsRead,
    /// Act through the ops API (retry, cancel, replay, approve).
    OpsAdmin,
    /// Answer data-subject requests: export or erase one person's data.
    Privacy,
}

/// One bearer token accepted by `/api/...`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiToken {
    /// Who holds it (`referral-portal`, `hris-sync`, `ops-alice`): the actor
    /// recorded in audit events. Never the token itself.
    pub name: String,
    /// The token. Compared in constant time, never logged.
    pub token: Secret,
    /// What it may do.
    pub scopes: Vec<Scope>,
}

/// `[api]`: bearer tokens for `/api/...`. With no tokens, every `/api` call
/// is refused: there is no anonymous access.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiSettings {
    /// `[[api.tokens]]` entries.
    pub tokens: Vec<ApiToken>,
}

/// `[webhooks]`: how inbound webhooks are authenticated. A source whose
/// secret is empty refuses every delivery (401): an unconfigured secret must
/// never mean "unsigned is fine".
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// Standard Webhooks secret (`whsec_...`) our careers site signs with.
    pub careers_site_secret: Secret,
    /// Greenhouse webhook secret key (HMAC-SHA256 over the body).
    pub greenhouse_secret: Secret,
    /// Lever signature token (HMAC-SHA256 over `token + triggeredAt`).
    pub lever_signature_token: Secret,
    /// Oldest Lever `triggeredAt` accepted. Lever retries for a while, so
    /// this must be longer than its retry span to accept honest retries.
    #[serde(with = "duration")]
    pub lever_max_age: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            careers_site_secret: Secret::default(),
            greenhouse_secret: Secret::default(),
            lever_signature_token: Secret::default(),
            lever_max_age: Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// `[referrals]`: links and attribution rules.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReferralSettings {
    /// Base of share URLs: `{careers_base_url}/jobs/{job_id}?ref={token}`.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub careers_base_url: String,
    /// How long a new link stays valid unless the request says otherwise.
    #[serde(with = "duration")]
    pub link_ttl: Duration,
    /// The first valid referral of a candidate owns them for this long;
    /// later referrals by others lose.
    #[serde(with = "duration")]
    pub ownership_window: Duration,
    /// A candidate who applied without a referral this recently earns no
    /// referral credit.
    #[serde(with = "duration")]
    pub prior_applicant_window: Duration,
    /// Region used to read national-format phone numbers when neither the
    /// payload nor the job says (ISO 3166 alpha-2, e.g. `DE`); empty = none.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub default_phone_region: String,
    /// Tag written to the candidate in the ATS when a referral is credited.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub ats_tag: String,
    /// Phone region per ATS job id (`"4012345" = "DE"`), used when the
    /// payload gives none and before `default_phone_region`.
    pub job_phone_regions: BTreeMap<String, String>,
}

impl Default for ReferralSettings {
    fn default() -> Self {
        ReferralSettings {
            careers_base_url: "https://careers.example.com".to_owned(),
            link_ttl: Duration::from_secs(90 * 24 * 60 * 60),
            ownership_window: Duration::from_secs(365 * 24 * 60 * 60),
            prior_applicant_window: Duration::from_secs(180 * 24 * 60 * 60),
            default_phone_region: String::new(),
            ats_tag: "Employee Referral".to_owned(),
            job_phone_regions: BTreeMap::new(),
        }
    }
}

/// `[ats.greenhouse]`: Harvest v3 with a Harvest V3 (OAuth) credential.
/// The v1 keys `api_key` and `on_behalf_of` are refused with what to set
/// instead (`super::validate::retired_key`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GreenhouseSettings {
    /// Harvest v3 base URL.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub base_url: String,
    /// OAuth token endpoint.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub token_url: String,
    /// The credential's client id.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub client_id: String,
    /// The credential's client secret; empty disables Greenhouse API calls.
    pub client_secret: Secret,
    /// The acting user (the token's `sub`): a Site Admin's numeric id.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub user_id: String,
    /// `name_key` of the application custom field holding our token.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub token_field: String,
    /// `name_key` of the job custom field holding the job's level; empty:
    /// the level is unknown (v3 jobs have no level of their own).
    #[serde(deserialize_with = "string_like::deserialize")]
    pub job_level_field: String,
    /// A `/v3/sources` id to set on referred applications; empty leaves
    /// the source.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub source_id: String,
    /// Requests per 30-second rate-limit window.
    pub requests_per_window: u32,
}

impl Default for GreenhouseSettings {
    fn default() -> Self {
        GreenhouseSettings {
            base_url: "https://harvest.greenhouse.io/v3".to_owned(),
            token_url: "https://auth.greenhouse.io/token".to_owned(),
            client_id: String::new(),
            client_secret: Secret::default(),
            user_id: String::new(),
            token_field: "referral_token".to_owned(),
            job_level_field: String::new(),
            source_id: String::new(),
            requests_per_window: 50,
        }
    }
}

/// `[ats.lever]`: the Lever API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LeverSettings {
    /// API base URL.
    #[serde(deserialize_with = "string_like::deserialize")]
    pub base_url: String,
    /// API key; empty disables Lever calls.
    pub api_key: Secret,
    /// Requests per second (Lever allows 10 steady).
    pub requests_per_second: u32,
    /// The Lever user id writes are made as (`?perform_as=`); empty: the
    /// API key's owner.
    pub perform_as: String,
    /// Where the customer puts our referral token in Lever, tried in
    /// order: `question:<question text>`, `source:<prefix>`,
    /// `tag:<prefix>`. Empty: only a careers-site twin carries one.
    pub token_from: Vec<String>,
}

impl Default for LeverSettings {
    fn default() -> Self {
        LeverSettings {
            base_url: "https://api.lever.co/v1".to_owned(),
            api_key: Secret::default(),
            requests_per_second: 10,
            perform_as: String::new(),
            token_from: Vec::new(),
        }
    }
}

/// `[ats.ashby]`: Ashby's webhooks and API, in one section (Ashby's
/// webhook secret is set per webhook in Ashby's admin, beside the API key).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AshbySettings {
    /// The secret token set on the Ashby webhooks (HMAC-SHA256 over the
    /// body, `Ashby-Signature`). Empty: `/webhooks/ashby` answers 503, so
    /// Ashby keeps retrying until it is set (Ashby never retries a 401).
    pub webhook_secret: Secret,
    /// API key; empty disables Ashby calls (write-back is then skipped).
    pub api_key: Secret,
    /// API base URL (tests point it at a fake).
    #[serde(deserialize_with = "string_like::deserialize")]
    pub base_url: String,
    /// Requests per second (Ashby is reported to allow 1,000 a minute).
    pub requests_per_second: u32,
}

impl Default for AshbySettings {
    fn default() -> Self {
        AshbySettings {
            webhook_secret: Secret::default(),
            api_key: Secret::default(),
            base_url: "https://api.ashbyhq.com".to_owned(),
            requests_per_second: 15,
        }
    }
}

/// `[ats.workable]`: Workable's webhooks and API (v3), in one section.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkableSettings {
    /// The account's subdomain: `acme` for `https://acme.workable.com`.
    /// With `token`, it turns the Workable client on.
    pub subdomain: String,
    /// The account access token (`Authorization: Bearer`, scopes
    /// `r_candidates`, `w_candidates`, `r_jobs`); empty disables Workable
    /// calls (write-back is then skipped, and deliveries cannot be re-read).
    pub token: Secret,
    /// The key Workable signs deliveries with (`X-Workable-Signature`,
    /// hex HMAC-SHA256 of the body): the account token for a subscription
    /// created with it, the OAuth app's client secret otherwise. Empty:
    /// `/webhooks/workable` answers 503, so Workable keeps replaying.
    pub webhook_secret: Secret,
    /// API base URL; empty: `https://<subdomain>.workable.com/spi/v3`
    /// (tests point it at a fake).
    #[serde(deserialize_with = "string_like::deserialize")]
    pub base_url: String,
    /// Key of the short-text candidate custom attribute our referral token
    /// is written to (Workable has no structured referrer field); empty:
    /// the token is not written back, only the tag.
    pub custom_attribute_key: String,
    /// Prefix of the candidate tag a customer's referral flow carries our
    /// token in (`ref-` reads `ABC` from `ref-ABC`); empty: no token is
    /// read from Workable.
    pub token_tag_prefix: String,
}

/// `[ats.smartrecruiters]`: SmartRecruiters' webhooks and Customer API, in
/// one section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmartRecruitersSettings {
    /// The API key (`X-SmartToken`); empty disables SmartRecruiters calls
    /// (write-back is then skipped, and deliveries, which carry ids only,
    /// cannot be read).
    pub api_key: Secret,
    /// The subscription's signing key (generated through SmartRecruiters'
    /// API after the subscription is activated; `smartrecruiters-signature:
    /// v1=<hex>`). Empty: notifications answer 503, so SmartRecruiters
    /// retries; the activation handshake is answered regardless.
    pub webhook_secret: Secret,
    /// The key before the last rotation, which SmartRecruiters keeps valid
    /// for 24 h; a notification signed under either verifies. Empty: none.
    pub webhook_secret_previous: Secret,
    /// Largest difference between `smartrecruiters-timestamp` and now.
    #[serde(with = "duration")]
    pub timestamp_tolerance: Duration,
    /// API base URL (tests point it at a fake).
    #[serde(deserialize_with = "string_like::deserialize")]
    pub base_url: String,
    /// Id of the TEXT candidate property our referral token is written to,
    /// per job; empty: not written.
    pub token_property_id: String,
    /// The referral source type id (`GET /configuration/sources`) under
    /// which the referring user is set as the application's source; empty:
    /// no source written.
    pub referral_source_type_id: String,
    /// Its sub-type, if the tenant's source type has them.
    pub referral_source_subtype_id: String,
    /// Prefix of the candidate tag a customer's referral flow carries our
    /// token in (`ref-` reads `ABC` from `ref-ABC`); empty: no token is
    /// read from SmartRecruiters.
    pub token_tag_prefix: String,
}

impl Default for SmartRecruitersSettings {
    fn default() -> Self {
        SmartRecruitersSettings {
            api_key: Secret::default(),
            webhook_secret: Secret::default(),
            webhook_secret_previous: Secret::default(),
            timestamp_tolerance: Duration::from_secs(5 * 60),
            base_url: "https://api.smartrecruiters.com".to_owned(),
            token_property_id: String::new(),
            referral_source_type_id: String::new(),
            referral_source_subtype_id: String::new(),
            token_tag_prefix: String::new(),
        }
    }
}

/// `[ats]`: ATS API clients, and the fallback write-back of careers-site
/// referrals whose ATS application never arrives.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AtsSettings {
    /// How long a credited careers-site referral waits for its ATS twin
    /// (the same application arriving through the ATS's webhooks) before
    /// the candidate is looked up in the ATS by email and the referral
    /// written back there (`jobs::capture::twin_fallback`). `"0s"` turns
    /// the fallback off.
    #[serde(with = "duration")]
    pub twin_wait: Duration,
    /// Look-ups before a candidate the ATS does not know is given up as
    /// `not_found` (listed by `ops stuck`); each miss doubles the wait
    /// before the next one. At least 1.
    pub twin_lookups: u32,
    /// Greenhouse Harvest.
    pub greenhouse: GreenhouseSettings,
    /// Lever.
    pub lever: LeverSettings,
    /// Ashby.
    pub ashby: AshbySettings,
    /// Workable.
    pub workable: WorkableSettings,
    /// SmartRecruiters.
    pub smartrecruiters: SmartRecruitersSettings,
}

impl Default for AtsSettings {
    fn default() -> Self {
        AtsSettings {
            twin_wait: Duration::from_secs(10 * 60),
            twin_lookups: 3,
            greenhouse: GreenhouseSettings::default(),
            lever: LeverSettings::default(),
            ashby: AshbySettings::default(),
            workable: WorkableSettings::default(),
            smartrecruiters: SmartRecruitersSettings::default(),
        }
    }
}
