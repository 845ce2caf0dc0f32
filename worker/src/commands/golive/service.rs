//! The go-live check's side of the conversation with a running service:
//! signed careers-site deliveries in, and the ops API, workflow and audit
//! export read back, each polled until it settles or the deadline passes.
//! Knows HTTP and the API's JSON; what counts as a passed hop is `hops`'s.
//! `referral-worker demo` (`commands/demo/`) talks to its throw-away
//! service through the same [`Golive`].

use anyhow::bail;
use serde_json::Value;

/// The go-live run: what the service was sent and what it answered.
pub(in crate::commands) struct Golive {
    pub(in crate::commands) client: jobs::outbound::service_client::ServiceClient,
    pub(in crate::commands) links: String,
    pub(in crate::commands) employees: String,
    pub(in crate::commands) ops: String,
    pub(in crate::commands) secret: String,
    pub(in crate::commands) deadline: tokio::time::Instant,
}

impl Golive {
    /// Whether the run's deadline (`--timeout`) has passed.
    pub(in crate::commands) fn timed_out(&self) -> bool {
        tokio::time::Instant::now() >= self.deadline
    }

    /// The wait between two polls.
    pub(in crate::commands) async fn pause(&self) {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }

    /// Delivers a careers-site body, signed; returns the inbox id of a 202.
    pub(in crate::commands) async fn deliver(&self, body: &Value) -> anyhow::Result<i64> {
        let bytes = serde_json::to_vec(body)?;
        let msg_id = format!(
            "msg_golive{}",
            ulid::Ulid::generate().to_string().to_lowercase()
        );
        let headers =
            jobs::outbound::service_client::careers_site_headers(&self.secret, &msg_id, &bytes)?;
        self.post_delivery("/webhooks/applications", &headers, bytes)
            .await
    }

    /// POSTs a signed delivery to the webhook endpoint `path`; returns the
    /// inbox id of its 202.
    pub(in crate::commands) async fn post_delivery(
        &self,
        path: &str,
        headers: &[(&str, String)],
        bytes: Vec<u8>,
    ) -> anyhow::Result<i64> {
        let answer = self.client.post_raw(path, headers, bytes).await?;
        if answer.status != 202 {
            bail!("POST {path} answered {}: {}", answer.status, answer.body);
        }
        answer.body["inbox_id"]
            .as_i64()
            .ok_or_else(|| anyhow::anyhow!("202 without inbox_id: {}", answer.body))
    }

    /// Polls the inbox until row `id` from `source` (`careers_site`,
    /// `greenhouse`, …) is processed (or failed, or time is up).
    pub(in crate::commands) async fn inbox_row(
        &self,
        source: &str,
        id: i64,
    ) -> anyhow::Result<Value> {
        loop {
            let answer = self
                .client
                .get(
                    &format!("/api/ops/inbox?source={source}&limit=100"),
                    &self.ops,
                )
                .await?;
            if !answer.ok() {
                bail!(
                    "GET /api/ops/inbox answered {}: {}",
                    answer.status,
                    answer.body
                );
            }
            let row = answer.body["items"]
                .as_array()
                .and_then(|rows| rows.iter().find(|r| r["id"].as_i64() == Some(id)))
                .cloned();
            if let Some(row) = &row
                && matches!(
                    row["status"].as_str(),
                    Some("processed" | "failed" | "ignored")
                )
            {
                return Ok(row.clone());
            }
            if self.timed_out() {
                return Ok(row.unwrap_or(Value::Null));
            }
            self.pause().await;
        }
    }

    /// `GET /api/ops/workflows/{referral_id}`.
    pub(in crate::commands) async fn workflow(&self, referral_id: i64) -> anyhow::Result<Value> {
        let answer = self
            .client
            .get(&format!("/api/ops/workflows/{referral_id}"), &self.ops)
            .await?;
        if !answer.ok() {
            bail!(
                "GET /api/ops/workflows/{referral_id} answered {}: {}",
                answer.status,
                answer.body
            );
        }
        Ok(answer.body)
    }

    /// The referral of `employee_id` whose application is the submission
    /// `submission_id`.
    pub(in crate::commands) async fn find_referral(
        &self,
        employee_id: &str,
        submission_id: &str,
    ) -> anyhow::Result<Option<i64>> {
        loop {
            let answer = self
                .client
                .get("/api/ops/workflows?limit=50", &self.ops)
                .await?;
            if !answer.ok() {
                bail!(
                    "GET /api/ops/workflows answered {}: {}",
                    answer.status,
                    answer.body
                );
            }
            let candidates: Vec<i64> = answer.body["items"]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter(|r| r["employee_id"] == employee_id)
                        .filter_map(|r| r["id"].as_i64())
                        .collect()
                })
                .unwrap_or_default();
            for id in candidates {
                let wf = self.workflow(id).await?;
                if wf["application"]["ats_application_id"] == submission_id {
                    return Ok(Some(id));
                }
            }
            if self.timed_out() {
                return Ok(None);
            }
            self.pause().await;
        }
    }

    /// The audit events of the run (whole log between `from` and now, as
    /// the finance export serves it).
    pub(in crate::commands) async fn audit(
        &self,
        from: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<Vec<Value>> {
        let fmt =
            |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let to = chrono::Utc::now() + chrono::Duration::minutes(1);
        let path = format!(
            "/api/exports/audit?from={}&to={}&format=json&include_test=true",
            fmt(from - chrono::Duration::minutes(1)),
            fmt(to)
        );
        let answer = self.client.get(&path, &self.ops).await?;
        if !answer.ok() {
            bail!(
                "GET /api/exports/audit answered {}: {}",
                answer.status,
                answer.body
            );
        }
        Ok(answer.body.as_array().cloned().unwrap_or_default())
    }

    /// The jobs about `referral_id` (`GET /api/ops/jobs?referral_id=`).
    pub(in crate::commands) async fn jobs_of(
        &self,
        referral_id: i64,
    ) -> anyhow::Result<Vec<Value>> {
        let answer = self
            .client
            .get(
                &format!("/api/ops/jobs?referral_id={referral_id}&limit=200"),
                &self.ops,
            )
            .await?;
        if !answer.ok() {
            bail!(
                "GET /api/ops/jobs answered {}: {}",
                answer.status,
                answer.body
            );
        }
        Ok(answer.body["jobs"].as_array().cloned().unwrap_or_default())
    }
}
