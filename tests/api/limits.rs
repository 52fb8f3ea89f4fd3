//! Abuse limits of the visitor routes: per session, per client address, per
//! bot and day; keyed on what the server knows; shared by two nodes.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::chat::{ask, history, visitor};
use crate::helpers::{TestApp, assert_error, spawn_app_with, test_config};

async fn start(app: &TestApp, base: &str, token: &str, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut request =
        app.client.post(format!("{base}/widget/session/start")).bearer_auth(token).json(&json!({}));
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    request.send().await.unwrap()
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"].to_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_session_may_send_so_many_messages_a_minute() {
    let app = spawn_app_with(|c| c.widget.messages_per_session_per_minute = 2).await;
    let (token, session_id, _) = visitor(&app, "Help").await;
    for _ in 0..2 {
        assert_eq!(ask(&app, &token, &session_id, "reset password", false).await.status(), StatusCode::OK);
    }
    let refused = ask(&app, &token, &session_id, "reset password", true).await;
    let wait = retry_after(&refused);
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    assert_error(refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(history(&app, &token, &session_id).await.len(), 4, "the refused message was not stored");
}

#[tokio::test]
async fn a_bot_may_have_a_daily_message_budget() {
    let app = spawn_app_with(|c| c.widget.daily_messages_per_bot = 1).await;
    let (token, session_id, _) = visitor(&app, "Help").await;
    assert_eq!(ask(&app, &token, &session_id, "reset password", false).await.status(), StatusCode::OK);
    let other: Value = start(&app, &app.url(""), &token, None).await.json().await.unwrap();
    let other = other["session_id"].as_str().unwrap();
    assert_error(
        ask(&app, &token, other, "reset password", false).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
}

#[tokio::test]
async fn limits_per_address_use_the_socket_not_what_the_client_says() {
    let app = spawn_app_with(|c| {
        c.widget.sessions_per_address_per_hour = 2;
        c.widget.requests_per_address_per_minute = 1000;
    })
    .await;
    let (token, _, _) = visitor(&app, "Help").await; // starts one session
    assert_eq!(start(&app, &app.url(""), &token, Some("203.0.113.1")).await.status(), StatusCode::CREATED);
    // A made-up X-Forwarded-For changes nothing while the proxy is not trusted.
    let refused = start(&app, &app.url(""), &token, Some("203.0.113.2")).await;
    assert!(retry_after(&refused) > 60, "an hour's window");
    assert_error(refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

    let app = spawn_app_with(|c| {
        c.widget.requests_per_address_per_minute = 5;
        c.trust_proxy_headers = true;
    })
    .await;
    let (token, _, _) = visitor(&app, "Help").await; // from 127.0.0.1, counted apart
    for n in 0..5 {
        let response = start(&app, &app.url(""), &token, Some("198.51.100.7")).await;
        assert_eq!(response.status(), StatusCode::CREATED, "request {n}");
    }
    assert_error(
        start(&app, &app.url(""), &token, Some("198.51.100.7")).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    // Behind a trusted proxy, another client is counted apart.
    assert_eq!(start(&app, &app.url(""), &token, Some("198.51.100.8")).await.status(), StatusCode::CREATED);
    // The token refresh is a visitor request too.
    let response = app
        .client
        .post(app.url("/widget/refresh"))
        .header("x-forwarded-for", "198.51.100.7")
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[tokio::test]
async fn two_nodes_on_one_database_share_the_limits() {
    let app = spawn_app_with(|c| c.widget.messages_per_session_per_minute = 3).await;
    if !app.db.is_postgres() {
        // Several nodes need PostgreSQL; on SQLite, which one process uses, the
        // windows live in memory (see `store::windows`).
        return;
    }
    let (token, session_id, _) = visitor(&app, "Help").await;

    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), &app.db.url);
    config.widget.messages_per_session_per_minute = 3;
    let second = docent::startup::Application::build(config).await.unwrap();
    let second_url = format!("http://{}", second.local_addr());
    tokio::spawn(second.run_until(std::future::pending()));

    let chat = |base: String| {
        app.client
            .post(format!("{base}/widget/chat"))
            .bearer_auth(&token)
            .json(&json!({"session_id": session_id, "message": "reset password"}))
            .send()
    };
    assert_eq!(chat(app.url("")).await.unwrap().status(), StatusCode::OK);
    assert_eq!(chat(second_url.clone()).await.unwrap().status(), StatusCode::OK);
    assert_eq!(chat(app.url("")).await.unwrap().status(), StatusCode::OK);
    assert_error(chat(second_url).await.unwrap(), StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}
