//! Validation: what serde cannot check (ranges, non-empty strings, URL
//! schemes, the SSRF guard on outbound URLs, rules across keys). Owns
//! [`Settings::validate`], which `layers` runs on every load; every problem
//! is reported, not only the first, in a fixed order.

use std::time::Duration;

use super::error::{ConfigError, Problem};
use super::settings::{RetryPolicySettings, Settings};

impl Settings {
    /// Checks what serde cannot: ranges, non-empty strings, URL schemes and
    /// rules that involve more than one key. Reports every problem found,
    /// not just the first, so that one run of `config check` lists them all.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, key: &str, message: &str| {
            if !ok {
                problems.push(Problem::new(key, message));
            }
        };

        validate_http(self, &mut check);
        validate_workflow(self, &mut check);
        validate_webhooks(self, &mut check);
        validate_database(self, &mut check);
        validate_queue(self, &mut check);
        validate_log(self, &mut check);

        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }
}

/// `[http]`.
fn validate_http(settings: &Settings, check: &mut impl FnMut(bool, &str, &str)) {
    let http = &settings.http;
    check(http.body_limit > 0, "http.body_limit", "must be at least 1");
    if let Err(message) = check_public_base_url(&http.public_base_url) {
        check(false, "http.public_base_url", &message);
    }
    check(
        http.shutdown_delay <= Duration::from_secs(300),
        "http.shutdown_delay",
        "must be at most 5m",
    );
    for (key, timeout) in [
        ("http.header_read_timeout", http.header_read_timeout),
        ("http.body_timeout", http.body_timeout),
        ("http.request_timeout", http.request_timeout),
    ] {
        check(
            timeout >= Duration::from_millis(100) && timeout <= Duration::from_secs(3600),
            key,
            "must be between 100ms and 1h (no timeout is what lets idle sockets exhaust the process)",
        );
    }
    check(
        (1..=1_000_000).contains(&http.max_connections),
        "http.max_connections",
        "must be between 1 and 1000000",
    );
    if let Some(ops) = http.ops_listen {
        check(
            ops != http.listen || ops.port() == 0,
            "http.ops_listen",
            "must differ from http.listen (a `serve` or `web` process serves the ops routes on http.listen already)",
        );
    }
}

/// `[webhooks]`.
fn validate_webhooks(settings: &Settings, check: &mut impl FnMut(bool, &str, &str)) {
    // Lever signs `token + triggeredAt` with no separator, so digits can
    // move from one to the other under the same signature; that shifts
    // triggeredAt by 15 years or more, which only the age check refuses.
    check(
        !settings.webhooks.lever_max_age.is_zero()
            && settings.webhooks.lever_max_age <= Duration::from_secs(3650 * 24 * 60 * 60),
        "webhooks.lever_max_age",
        "must be between 1s and 3650days (a re-cut delivery is 15 years or more off)",
    );
    // The check the intake makes on every delivery, so a bad secret stops
    // `config check` and start-up alike instead of refusing every delivery.
    let careers = settings.webhooks.careers_site_secret.expose();
    if !careers.is_empty()
        && let Err(why) = jobs::outbound::webhook::standard_webhook(careers)
    {
        check(false, "webhooks.careers_site_secret", &why);
    }
}

/// `[database]`.
fn validate_database(settings: &Settings, check: &mut impl FnMut(bool, &str, &str)) {
    let db = &settings.database;
    check(
        db.max_connections >= 1,
        "database.max_connections",
        "must be at least 1",
    );
    if let Err(message) = db.url.check_scheme(&["sqlite", "postgres", "postgresql"]) {
        check(false, "database.url", &message);
    }
}

/// `[queue]`, its retry policy and each per-kind override.
fn validate_queue(settings: &Settings, check: &mut impl FnMut(bool, &str, &str)) {
    let q = &settings.queue;
    if q.uses_redis()
        && let Err(message) = q
            .redis_url
            .check_scheme(&["redis", "rediss", "redis+unix", "unix"])
    {
        check(false, "queue.redis_url", &message);
    }
    // A CA file only means something to a TLS connection: set beside a
    // plain redis:// URL it would be silently ignored.
    let tls = q
        .redis_url
        .scheme()
        .is_some_and(|s| s.eq_ignore_ascii_case("rediss"));
    check(
        q.redis_ca_file.is_empty() || tls,
        "queue.redis_ca_file",
        "is only used with a rediss:// queue.redis_url",
    );
    for (key, value) in [("queue.prefix", &q.prefix), ("queue.name", &q.name)] {
        check(!value.is_empty(), key, "must not be empty");
        check(
            !value.contains(['{', '}']),
            key,
            "must not contain `{` or `}` (Redis Cluster reads them as a hash tag)",
        );
    }
    check(
        q.concurrency >= 1,
        "queue.concurrency",
        "must be at least 1",
    );
    check(
        (1..=10_000).contains(&q.fetch_batch),
        "queue.fetch_batch",
        "must be between 1 and 10000",
    );
    for (key, value) in [
        ("queue.lease", q.lease),
        ("queue.heartbeat", q.heartbeat),
        ("queue.poll_interval", q.poll_interval),
        ("queue.job_timeout", q.job_timeout),
    ] {
        check(!value.is_zero(), key, "must be longer than 0s");
    }
    // Strictly less than half: with renewals every `lease / 2` a single
    // late heartbeat would already let the lease lapse.
    check(
        q.heartbeat < q.lease / 2,
        "queue.heartbeat",
        &format!(
            "must be less than half of queue.lease ({} / 2), so one late renewal does not lose the job",
            humantime::format_duration(q.lease)
        ),
    );
    check_retry(check, "queue.retry", &q.retry);
    for (kind, over) in &q.kinds {
        check_retry(
            check,
            &format!("queue.kinds.{kind}"),
            &over.apply_to(&q.retry),
        );
    }
}

/// `[log]`.
fn validate_log(settings: &Settings, check: &mut impl FnMut(bool, &str, &str)) {
    let log = &settings.log;
    if log.filter.trim().is_empty() {
        check(
            false,
            "log.filter",
            "must not be empty (use \"off\" to disable logging)",
        );
    } else if let Err(err) = tracing_subscriber::EnvFilter::try_new(&log.filter) {
        check(
            false,
            "log.filter",
            &format!("invalid filter directive: {err}"),
        );
    }
}

/// Validation of one retry policy, shared by `[queue.retry]` and each
/// merged `[queue.kinds.<kind>]`.
fn check_retry(
    check: &mut impl FnMut(bool, &str, &str),
    table: &str,
    policy: &RetryPolicySettings,
) {
    check(
        policy.max_attempts >= 1,
        &format!("{table}.max_attempts"),
        "must be at least 1",
    );
    check(
        policy.max_delay >= policy.base_delay,
        &format!("{table}.max_delay"),
        &format!(
            "must not be less than base_delay ({})",
            humantime::format_duration(policy.base_delay)
        ),
    );
}

/// [`check_public_base_url`] plus the SSRF guard: a URL of an outbound call
/// must not name a private address unless `outbound.allow_private_networks`.
fn check_outbound_url(raw: &str, allow_private: bool) -> Result<(), String> {
    let url = check_public_base_url(raw)?;
    match jobs::outbound::net_guard::inward_address(&url) {
        Some(ip) if !allow_private => Err(jobs::outbound::net_guard::inward_message(ip)),
        _ => Ok(()),
    }
}

fn check_public_base_url(raw: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(raw).map_err(|err| format!("not a valid URL: {err}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "must be an http:// or https:// URL, not {}://",
            url.scheme()
        ));
    }
    if url.host().is_none() {
        return Err("must name a host".to_owned());
    }
    Ok(url)
}

/// The workflow's sections (`workflow.rs`), step by step, in the order
/// their problems are listed.
fn validate_workflow(settings: &Settings, check: &mut impl FnMut(bool, &str, &str)) {
    validate_payouts(settings, check);
    validate_schedules(settings, check);
    validate_milestones(settings, check);
    validate_notifications(settings, check);
    validate_send_limits(settings, check);
    validate_api_tokens(settings, check);
    validate_referrals(settings, check);
    validate_ats(settings, check);
    validate_sandbox(settings, check);
    validate_outbound(settings, check);
}

/// `[outbound]`: the proxy, when one is set, is an http(s) URL with a host.
/// It may be private (a proxy usually is): the guard checks the targets.
fn validate_outbound(settings: &Settings, check: &mut impl FnMut(bool, &str, &str)) {
    let proxy = &settings.outbound.proxy;
    if proxy.is_empty() {
        return;
    }
    if let Err(message) = proxy.check_scheme(&["http", "https"]) {
        check(false, "outbound.proxy", &message);
        return;
    }
    let usable = url::Url::parse(proxy.expose_secret())
        .map(|u| u.host().is_some())
        .unwrap_or(false);
    check(usable, "outbound.proxy", "not a URL with a host");
}

/// `[payouts]`: the bonus rules, the sweep and the bonus destination.
fn validate_payouts(settings: &Settings, check: &mut impl FnMut(bool, &str, &str)) {
    let private = settings.outbound.allow_private_networks;
    if let Err(problems) = settings.payouts.rules.validate() {
        for problem in problems {
            let (key, message) = problem
                .split_once(": ")
                .unwrap_or(("payouts.rules", &problem));
            check(false, key, message);
        }
    }
    check(
        !settings.payouts.timer_sweep.is_zero(),
        "payouts.timer_sweep",
        "must be longer than 0s",
    );
    check(
        !settings.payouts.job_facts_ttl.is_zero(),
        "payouts.job_facts_ttl",
        "must be longer than 0s",
    );
    if !settings.payouts.destination_url.is_empty() {
        if let Err(message) = check_outbound_url(&settings.payouts.destination_url, private) {
            check(false, "payouts.destination_url", &message);
        }
        let secret = &settings.payouts.destination_secret;
        if secret.is_empty() {
            check(
                false,
                "payouts.destination_secret",
                "must be set when payouts.destination_url is",
            );
        } else if let Err(why) = jobs::outbound::webhook::standard_webhook(secret.expose()) {
            // The check start-up makes when it builds the signer.
            check(false, "payouts.destination_secret", &why);
        }
    }
    check(
        !settings.payouts.retry_schedule.is_empty() && settings.payouts.retry_schedule.len() < 100,
        "payouts.retry_schedule",
        "must list between 1 and 99 delays",
    );
}

/// The cron schedules of `[reconciliation]`, `[retention]` and
/// `[reports]`, what they keep or wait for, and the programme's costs.
fn validate_schedules(settings: &Settings, check: &mut impl FnMut(bool, &str, &str)) {
    for (key, schedule, zone) in [
        (
            "reconciliation",
            &settings.reconciliation.schedule,
            &settings.reconciliation.time_zone,
        ),
        (
            "retention",
            &settings.retention.schedule,
            &settings.retention.time_zone,
        ),
        (
            "reports",
            &settings.reports.schedule,
            &settings.reports.time_zone,
        ),
    ] {
        if schedule.trim().is_empty() {
            continue;
        }
        if let Err(jobs::Error::Invalid { field, problem }) =
            jobs::maintenance::schedule::CronSchedule::new(key, schedule, zone)
        {
            check(false, &format!("{key}.{field}"), &problem);
        }
    }
    check(
        settings.retention.purge_after >= Duration::from_secs(24 * 3600),
        "retention.purge_after",
        "must be at least 1 day",
    );
    check(
        settings.retention.referrer_after >= Duration::from_secs(24 * 3600),
        "retention.referrer_after",
        "must be at least 1 day",
    );
    check(
        settings.retention.rejected_after >= Duration::from_secs(3600),
        "retention.rejected_after",
        "must be at least 1h",
    );
    for (i, cost) in settings.reports.program_costs.iter().enumerate() {
        if let Err(jobs::Error::Invalid { field, problem }) = cost.validate() {
            check(
                false,
                &format!("reports.program_costs.{i}.{field}"),
                &problem,
            );
        }
    }
    let three_way = &settings.reconciliation.three_way_schedule;
    if !three_way.trim().is_empty()
        && let Err(jobs::Error::Invalid { problem, .. }) =
            jobs::maintenance::schedule::CronSchedule::new(
                "three_way",
                three_way,
                &settings.reconciliation.time_zone,
            )
    {
        check(false, "reconciliation.three_way_schedule", &problem);
    }
    if let Err(problem) = settings.reconciliation.go_live_date() {
        check(false, "reconciliation.go_live", &problem);
    }
    check(
        settings.reconciliation.max_ats_pages > 0,
        "reconciliation.max_ats_pages",
        "must be at least 1",
    );
    check(
        !settings.reconciliation.delivery_window.is_zero(),
        "reconciliation.delivery_window",
        "must be longer than 0s",
    );
}

/// `[milestones]`.
fn validate_milestones(settings: &Settings, check: &mut impl FnMut(bool, &str, &str)) {
    check(
        !settings.milestones.start_date_field.trim().is_empty(),
        "milestones.start_date_field",
        "must name a field",
    );
    for (ats, stages) in &settings.milestones.hire_stages {
        check(
            [
                "greenhouse",
                "lever",
                "ashby",
                "workable",
                "smartrecruiters",
                "careers_site",
                "generic",
            ]
            .contains(&ats.as_str()),
            &format!("milestones.hire_stages.{ats}"),
            "unknown ATS; one of greenhouse, lever, ashby, workable, smartrecruiters, careers_site, generic",
        );
        check(
            stages.iter().all(|s| !s.trim().is_empty()),
            &format!("milestones.hire_stages.{ats}"),
            "stage names must not be empty",
        );
    }
}

/// `[notifications]`: each destination's URL and its signing secret.
fn validate_notifications(settings: &Settings, check: &mut impl FnMut(bool, &str, &str)) {
    let private = settings.outbound.allow_private_networks;
    let n = &settings.notifications;
    for (key, url, secret) in [
        (
            "notifications.status_sync_url",
            &n.status_sync_url,
            &n.status_sync_secret,
        ),
        ("notifications.crm_url", &n.crm_url, &n.crm_secret),
    ] {
        if url.is_empty() {
            continue;
        }
        if let Err(message) = check_outbound_url(url, private) {
            check(false, key, &message);
        }
        let secret_key = key.replace("_url", "_secret");
        if secret.is_empty() {
            check(false, &secret_key, &format!("must be set when {key} is"));
        } else if let Err(e) = jobs::connectors::careers_site::validate_secret(secret.expose()) {
            check(false, &secret_key, &e.to_string());
        }
    }
    if !n.alert_webhook_url.is_empty()
        && let Err(message) = check_outbound_url(n.alert_webhook_url.expose(), private)
    {
        // The URL is the credential: name the problem, not the value.
        check(
            false,
            "notifications.alert_webhook_url",
            &message.replace(n.alert_webhook_url.expose(), "[redacted]"),
        );
    }
}

/// Rate and timeout of the notification and bonus POSTs.
fn validate_send_limits(settings: &Settings, check: &mut impl FnMut(bool, &str, &str)) {
    let n = &settings.notifications;
    check(
        n.requests_per_second >= 1,
        "notifications.requests_per_second",
        "must be at least 1",
    );
    check(
        n.timeout >= Duration::from_millis(100),
        "notifications.timeout",
        "must be at least 100ms",
    );
    check(
        settings.payouts.destination_timeout >= Duration::from_millis(100),
        "payouts.destination_timeout",
        "must be at least 100ms",
    );
    check(
        settings.payouts.destination_requests_per_second >= 1,
        "payouts.destination_requests_per_second",
        "must be at least 1",
    );
}

/// `[[api.tokens]]`: named, unique, long enough, scoped.
fn validate_api_tokens(settings: &Settings, check: &mut impl FnMut(bool, &str, &str)) {
    let mut names = std::collections::HashSet::new();
    for (i, t) in settings.api.tokens.iter().enumerate() {
        let key = format!("api.tokens[{i}]");
        check(
            !t.name.trim().is_empty(),
            &format!("{key}.name"),
            "must not be empty",
        );
        check(
            names.insert(t.name.clone()),
            &format!("{key}.name"),
            "must be unique",
        );
        check(
            t.token.expose().len() >= 16,
            &format!("{key}.token"),
            "must be at least 16 characters",
        );
        check(
            !t.scopes.is_empty(),
            &format!("{key}.scopes"),
            "must name at least one scope",
        );
    }
}

/// `[referrals]`: the careers site, link lifetime and phone regions.
fn validate_referrals(settings: &Settings, check: &mut impl FnMut(bool, &str, &str)) {
    let r = &settings.referrals;
    if let Err(message) = check_public_base_url(&r.careers_base_url) {
        check(false, "referrals.careers_base_url", &message);
    }
    check(
        !r.link_ttl.is_zero(),
        "referrals.link_ttl",
        "must be longer than 0s",
    );
    for (job, region) in &r.job_phone_regions {
        check(
            region.len() == 2 && region.chars().all(|c| c.is_ascii_uppercase()),
            &format!("referrals.job_phone_regions.{job}"),
            "must be an ISO 3166 alpha-2 code such as DE",
        );
    }
    check(
        r.default_phone_region.is_empty()
            || (r.default_phone_region.len() == 2
                && r.default_phone_region
                    .chars()
                    .all(|c| c.is_ascii_uppercase())),
        "referrals.default_phone_region",
        "must be an ISO 3166 alpha-2 code such as DE, or empty",
    );
}

/// `[ats.workable]`: a token needs the subdomain it belongs to, the
/// subdomain must be a host label, and the signing key must be long enough.
fn validate_workable(settings: &Settings, check: &mut impl FnMut(bool, &str, &str)) {
    let w = &settings.ats.workable;
    let sub = w.subdomain.trim();
    check(
        sub.is_empty()
            || (sub.len() <= 63
                && sub.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !sub.starts_with('-')
                && !sub.ends_with('-')),
        "ats.workable.subdomain",
        "must be the account's subdomain (letters, digits, `-`), as in acme for acme.workable.com",
    );
    check(
        w.token.is_empty() || !sub.is_empty() || !w.base_url.trim().is_empty(),
        "ats.workable.subdomain",
        "must be set when ats.workable.token is",
    );
    if !w.base_url.trim().is_empty()
        && let Err(message) =
            check_outbound_url(&w.base_url, settings.outbound.allow_private_networks)
    {
        check(false, "ats.workable.base_url", &message);
    }
    check(
        w.webhook_secret.is_empty() || w.webhook_secret.expose().len() >= 16,
        "ats.workable.webhook_secret",
        "must be at least 16 characters (or empty to refuse Workable deliveries)",
    );
    check(
        w.custom_attribute_key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
        "ats.workable.custom_attribute_key",
        "must be a Workable custom attribute key (letters, digits, `_`, `-`)",
    );
}

/// `[ats.smartrecruiters]`: the base URL behind the SSRF guard, signing
/// keys long enough, ids that can be path segments, a tolerance that
/// admits a delivery at all.
fn validate_smartrecruiters(settings: &Settings, check: &mut impl FnMut(bool, &str, &str)) {
    let s = &settings.ats.smartrecruiters;
    if let Err(message) = check_outbound_url(&s.base_url, settings.outbound.allow_private_networks)
    {
        check(false, "ats.smartrecruiters.base_url", &message);
    }
    for (key, secret) in [
        ("ats.smartrecruiters.webhook_secret", &s.webhook_secret),
        (
            "ats.smartrecruiters.webhook_secret_previous",
            &s.webhook_secret_previous,
        ),
    ] {
        check(
            secret.is_empty() || secret.expose().len() >= 16,
            key,
            "must be at least 16 characters (or empty)",
        );
    }
    check(
        s.timestamp_tolerance.as_secs() >= 1,
        "ats.smartrecruiters.timestamp_tolerance",
        "must be at least 1s",
    );
    for (key, id) in [
        (
            "ats.smartrecruiters.token_property_id",
            &s.token_property_id,
        ),
        (
            "ats.smartrecruiters.referral_source_type_id",
            &s.referral_source_type_id,
        ),
        (
            "ats.smartrecruiters.referral_source_subtype_id",
            &s.referral_source_subtype_id,
        ),
    ] {
        check(
            id.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
            key,
            "must be a SmartRecruiters id (letters, digits, `_`, `-`)",
        );
    }
}

/// `[ats.*]`: base URLs (behind the SSRF guard) and request rates.
fn validate_ats(settings: &Settings, check: &mut impl FnMut(bool, &str, &str)) {
    let private = settings.outbound.allow_private_networks;
    for (key, url) in [
        ("ats.greenhouse.base_url", &settings.ats.greenhouse.base_url),
        (
            "ats.greenhouse.token_url",
            &settings.ats.greenhouse.token_url,
        ),
        ("ats.lever.base_url", &settings.ats.lever.base_url),
        ("ats.ashby.base_url", &settings.ats.ashby.base_url),
    ] {
        if let Err(message) = check_outbound_url(url, private) {
            check(false, key, &message);
        }
    }
    let ashby = &settings.ats.ashby;
    check(
        ashby.requests_per_second >= 1,
        "ats.ashby.requests_per_second",
        "must be at least 1",
    );
    // HMAC accepts any key, but a short one can be guessed offline from
    // one signed delivery; Ashby's own secret tokens are long and random.
    check(
        ashby.webhook_secret.is_empty() || ashby.webhook_secret.expose().len() >= 16,
        "ats.ashby.webhook_secret",
        "must be at least 16 characters (or empty to refuse Ashby deliveries)",
    );
    validate_greenhouse(settings, check);
    validate_workable(settings, check);
    validate_smartrecruiters(settings, check);
    check(
        settings.ats.lever.requests_per_second >= 1,
        "ats.lever.requests_per_second",
        "must be at least 1",
    );
    let perform_as = &settings.ats.lever.perform_as;
    check(
        perform_as
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-'),
        "ats.lever.perform_as",
        "must be a Lever user id (a UUID), or empty",
    );
    for place in &settings.ats.lever.token_from {
        if let Err(e) = place.parse::<jobs::connectors::lever::TokenPlace>() {
            check(false, "ats.lever.token_from", &e.to_string());
        }
    }
    // Each miss doubles the wait: ten look-ups already span 1023 waits.
    check(
        (1..=10).contains(&settings.ats.twin_lookups),
        "ats.twin_lookups",
        "must be between 1 and 10",
    );
    check(
        settings.ats.twin_wait <= std::time::Duration::from_secs(30 * 24 * 3600),
        "ats.twin_wait",
        "must be at most 30days (\"0s\" turns the fallback write-back off)",
    );
}

/// `[ats.greenhouse]`: a Harvest V3 (OAuth) credential is a client id,
/// a secret and a numeric Site Admin user id, all three or none.
fn validate_greenhouse(settings: &Settings, check: &mut impl FnMut(bool, &str, &str)) {
    let gh = &settings.ats.greenhouse;
    check(
        (1..=10_000).contains(&gh.requests_per_window),
        "ats.greenhouse.requests_per_window",
        "must be between 1 and 10000 (requests per 30-second window)",
    );
    if gh.client_secret.is_empty() {
        return;
    }
    check(
        !gh.client_id.trim().is_empty(),
        "ats.greenhouse.client_id",
        "must be set with client_secret (the Harvest V3 (OAuth) credential's client id)",
    );
    check(
        !gh.user_id.is_empty() && gh.user_id.chars().all(|c| c.is_ascii_digit()),
        "ats.greenhouse.user_id",
        "must be the numeric Greenhouse user id of a Site Admin (the OAuth token's sub)",
    );
}

/// What to set instead of a key the service no longer reads, for the
/// "unknown key" problem `layers` reports on it.
pub(super) fn retired_key(key: &str) -> Option<&'static str> {
    const HARVEST_V1: &str = "Harvest v1 is gone (Greenhouse removed Harvest v1/v2 on 31 Aug 2026): create \
        Harvest V3 (OAuth) credentials in Greenhouse (Configure > Dev Center > API Credentials) and set \
        ats.greenhouse.client_id, ats.greenhouse.client_secret and ats.greenhouse.user_id (the numeric \
        user id of a Site Admin)";
    match key {
        "ats.greenhouse.api_key"
        | "ats.greenhouse.api_key_file"
        | "ats.greenhouse.on_behalf_of" => Some(HARVEST_V1),
        "ats.greenhouse.requests_per_second" => Some(
            "Harvest v3 limits requests per 30-second window: set ats.greenhouse.requests_per_window",
        ),
        _ => None,
    }
}

/// `[sandbox]`: its URLs, and a secret for each signed one.
fn validate_sandbox(settings: &Settings, check: &mut impl FnMut(bool, &str, &str)) {
    let private = settings.outbound.allow_private_networks;
    let sb = &settings.sandbox;
    for (key, url) in [
        ("sandbox.bonus_url", &sb.bonus_url),
        ("sandbox.status_sync_url", &sb.status_sync_url),
        ("sandbox.crm_url", &sb.crm_url),
        ("sandbox.greenhouse_base_url", &sb.greenhouse_base_url),
        ("sandbox.lever_base_url", &sb.lever_base_url),
    ] {
        if !url.is_empty()
            && let Err(message) = check_outbound_url(url, private)
        {
            check(false, key, &message);
        }
    }
    if !sb.alert_webhook_url.is_empty()
        && let Err(message) = check_outbound_url(sb.alert_webhook_url.expose(), private)
    {
        check(
            false,
            "sandbox.alert_webhook_url",
            &message.replace(sb.alert_webhook_url.expose(), "[redacted]"),
        );
    }
    // A sandbox receiver verifies signatures like the real one: the
    // configured secret signs for it.
    let n = &settings.notifications;
    for (key, url, secret_key, secret) in [
        (
            "sandbox.bonus_url",
            &sb.bonus_url,
            "payouts.destination_secret",
            &settings.payouts.destination_secret,
        ),
        (
            "sandbox.status_sync_url",
            &sb.status_sync_url,
            "notifications.status_sync_secret",
            &n.status_sync_secret,
        ),
        (
            "sandbox.crm_url",
            &sb.crm_url,
            "notifications.crm_secret",
            &n.crm_secret,
        ),
    ] {
        if !url.is_empty() {
            check(
                !secret.is_empty(),
                key,
                &format!("needs {secret_key}: the sandbox is signed with it"),
            );
        }
    }
}
