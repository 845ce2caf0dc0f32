//! Storage outages: the queue or the database down answers 503 and the
//! sender's retry is accepted.

use super::*;

/// Resends `body` under `msg_id` (as the sender's retry would) until it is
/// accepted; every answer before that must be a 503.
async fn resend_until_accepted(
    client: &reqwest::Client,
    app: &TestApp,
    msg_id: &str,
    body: &[u8],
) -> Value {
    for _ in 0..60 {
        let r = send_careers(client, app, CAREERS_SITE_SECRET, msg_id, body).await;
        let status = r.status();
        let answer: Value = r.json().await.unwrap_or(Value::Null);
        if status == StatusCode::ACCEPTED {
            return answer;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("the retry was never accepted");
}

/// Redis down: the delivery is stored but cannot be enqueued, so the sender
/// gets 503; its retry after Redis is back is accepted on the same inbox row
/// and processed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queue_down_answers_503_and_the_senders_retry_is_accepted() {
    let proxy = SwitchProxy::start(redis_socket_addr()).await;
    let redis_url = format!("redis://{}", proxy.address);
    let world = spawn_capture_app(Setup::REDIS_POSTGRES, |s| {
        s.queue.redis_url = SecretUrl::new(redis_url);
    })
    .await;
    let app = &world.app;
    let db = world.db();
    let client = patient_client();
    let body = CareersApplication::new("J-1", "during.outage@example.org").body();

    proxy.down();
    let r = send_careers(&client, app, CAREERS_SITE_SECRET, "msg_queue_outage", &body).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["error"], "unavailable", "{answer}");
    assert!(
        answer["detail"].as_str().unwrap().contains("queue"),
        "{answer}"
    );
    let rows = inbox_rows(db).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, InboxStatus::Received);
    assert_eq!(rows[0].job_id, None);
    assert_eq!(rows[0].raw_body.as_deref(), Some(body.as_slice()));
    assert!(applications(db).await.is_empty());

    proxy.up();
    let answer = resend_until_accepted(&client, app, "msg_queue_outage", &body).await;
    assert_eq!(answer["status"], "accepted");
    assert_eq!(answer["inbox_id"], rows[0].id, "the same inbox row");
    wait_inbox(app, rows[0].id, InboxStatus::Processed).await;
    assert_eq!(inbox_rows(db).await.len(), 1);
    assert_eq!(applications(db).await.len(), 1);
    world.cleanup().await;
}

/// PostgreSQL down: deliveries get 503 (a forged one still 401); the
/// sender's retry after the database is back is accepted and processed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn database_down_answers_503_and_the_senders_retry_is_accepted() {
    let admin = std::env::var(tests::db::POSTGRES_URL_ENV)
        .unwrap_or_else(|_| tests::db::DEFAULT_POSTGRES_URL.to_owned());
    let host_port = admin
        .split('@')
        .next_back()
        .and_then(|rest| rest.split('/').next())
        .expect("host:port in the PostgreSQL URL")
        .to_owned();
    let upstream = std::net::ToSocketAddrs::to_socket_addrs(&host_port)
        .expect("resolve PostgreSQL")
        .next()
        .unwrap();
    let proxy = SwitchProxy::start(upstream).await;
    let proxied = proxy.address.to_string();
    let world = spawn_capture_app(Setup::REDIS_POSTGRES, |s| {
        let url = s.database.url.expose_secret().replace(&host_port, &proxied);
        s.database.url = SecretUrl::new(url);
    })
    .await;
    let app = &world.app;
    assert!(
        app.settings.database.url.expose_secret().contains(&proxied),
        "the app talks to PostgreSQL through the proxy"
    );
    // Read through our own connection, not the app's (which the proxy cuts).
    let direct = &app.db.as_ref().expect("the test database").conn;
    let client = patient_client();
    let body = CareersApplication::new("J-1", "db.outage@example.org").body();

    proxy.down();
    let r = send_careers(&client, app, CAREERS_SITE_SECRET, "msg_db_outage", &body).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["error"], "unavailable", "{answer}");
    assert!(
        answer["detail"].as_str().unwrap().contains("database"),
        "{answer}"
    );
    let forged = send_careers(
        &client,
        app,
        OTHER_CAREERS_SITE_SECRET,
        "msg_db_forged",
        &body,
    )
    .await;
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    let answer: Value = forged.json().await.unwrap();
    assert_eq!(answer["error"], "unauthorized", "{answer}");
    assert!(
        inbox_rows(direct).await.is_empty(),
        "nothing could be stored"
    );

    proxy.up();
    let answer = resend_until_accepted(&client, app, "msg_db_outage", &body).await;
    let inbox_id = answer["inbox_id"].as_i64().expect("inbox_id");
    wait_inbox(app, inbox_id, InboxStatus::Processed).await;
    let rows = inbox_rows(direct).await;
    assert_eq!(rows.len(), 1, "one row: the accepted retry");
    assert_eq!(rows[0].raw_body.as_deref(), Some(body.as_slice()));
    assert_eq!(applications(direct).await.len(), 1);
    world.cleanup().await;
}
