//! The go-live check's side of the conversation with a running service:
//! signed careers-site deliveries in, and the ops API, workflow and audit
//! export read back, each polled until it settles or the deadline passes.
//! Knows HTTP and the API's JSON; what counts as a passed hop is `hops`'s.

use anyhow::bail;
use serde_json::Value;

/// The go-live run: what the service was sent and what it answered.
pub(super) struct Golive {
    pub(super) client: jobs::outbound::service_client::ServiceClient,
    pub(super) links: String,
    pub(super) employees: String,
    pub(super) ops: String,
    pub(super) secret: String,
    pub(super) deadline: tokio::time::Instant,
}

impl Golive {
    /// Whether the run's deadline (`--timeout`) has passed.
    pub(super) fn timed_out(&self) -> bool {
        tokio::time::Instant::now() >= self.deadline
    }

    /// The wait between two polls.
    pub(super) async fn pause(&self) {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }

    /// Delivers a careers-site body, signed; returns the inbox id of a 202.
    pub(super) async fn deliver(&self, body: &Value) -> anyhow::Result<i64> {
        let bytes = serde_json::to_vec(body)?;
        let msg_id = format!(
            "msg_golive{}",
            ulid::Ulid::generate().to_string().to_lowercase()
        );
        let headers =
            jobs::outbound::service_client::careers_site_headers(&self.secret, &msg_id, &bytes)?;
        let answer = self
            .client
            .post_raw("/webhooks/applications", &headers, bytes)
            .await?;
        if answer.status != 202 {
            bail!(
                "POST /webhooks/applications answered {}: {}",
                answer.status,
                answer.body
            );
        }
        answer.body["inbox_id"]
            .as_i64()
            .ok_or_else(|| anyhow::anyhow!("202 without inbox_id: {}", answer.body))
    }

    /// Polls the inbox until row `id` is processed (or failed, or time is up).
    pub(super) async fn inbox_row(&self, id: i64) -> anyhow::Result<Value> {
        loop {
            let answer = self
                .client
                .get("/api/ops/inbox?source=careers_site&limit=100", &self.ops)
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
    pub(super) async fn workflow(&self, referral_id: i64) -> anyhow::Result<Value> {
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
    pub(super) async fn find_referral(
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
    pub(super) async fn audit(
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
    pub(super) async fn jobs_of(&self, referral_id: i64) -> anyhow::Result<Vec<Value>> {
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
