//! The visitor routes the widget calls: sessions, history, origins and CORS,
//! and every state a widget token can be in.

use docent::clock::now_ms;
use docent::model::NewChatSession;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::bots::seed_conversation;
use crate::helpers::{TestApp, assert_error, spawn_app, spawn_app_with, validation_fields};
use crate::widget_tokens::{expired_token, generate, owner_with_bot};

/// A request to a visitor route with a widget token and, when given, an `Origin`.
async fn visit(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    origin: Option<&str>,
) -> reqwest::Response {
    let mut request = app.client.request(method.clone(), app.url(path)).bearer_auth(token);
    if method == Method::POST {
        request = request.json(&json!({}));
    }
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    request.send().await.unwrap()
}

async fn start(app: &TestApp, token: &str, origin: Option<&str>) -> reqwest::Response {
    visit(app, Method::POST, "/widget/session/start", token, origin).await
}

async fn widget_token(app: &TestApp, owner: &str, bot: i64) -> String {
    generate(app, owner, &json!({"bot_id": bot})).await["token"].as_str().unwrap().to_owned()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn a_visitor_starts_a_session_and_reads_its_history() {
    let app = spawn_app().await;
    let (owner, bot) = owner_with_bot(&app).await;
    app.put(&format!("/widget/bots/{bot}"), &owner, &json!({"welcome_message": "Hi! Ask me anything."}))
        .await;
    let token = widget_token(&app, &owner, bot).await;

    let response = app
        .client
        .post(app.url("/widget/session/start"))
        .bearer_auth(&token)
        .json(&json!({"visitor_id": "customer-42"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let started: Value = response.json().await.unwrap();
    let session_id = started["session_id"].as_str().unwrap();
    assert!(session_id.len() >= 43, "at least 256 bits in URL-safe base64: {session_id}");
    assert_eq!(started["bot"]["name"], "Helper");
    assert_eq!(started["bot"]["welcome_message"], "Hi! Ask me anything.");
    assert_eq!(started["bot"]["bubble_icon"], "\"><b>");
    for key in ["theme", "position", "primary_color"] {
        assert!(started["bot"][key].is_string(), "{key} in {started}");
    }
    assert!(started["bot"].get("system_prompt").is_none(), "the system prompt stays private");

    let path = format!("/widget/session/{session_id}/messages");
    let history: Value = visit(&app, Method::GET, &path, &token, None).await.json().await.unwrap();
    assert_eq!(history["session_id"], session_id);
    assert_eq!(history["messages"], json!([]));

    // The owner sees the session with the visitor's id, and when the token was last used.
    let sessions: Value =
        app.get(&format!("/widget/bots/{bot}/sessions"), &owner).await.json().await.unwrap();
    assert_eq!(sessions[0]["session_id"], session_id);
    assert_eq!(sessions[0]["visitor_id"], "customer-42");
    let tokens: Value = app.get(&format!("/widget/tokens?bot_id={bot}"), &owner).await.json().await.unwrap();
    assert!(tokens[0]["last_used_at"].is_string(), "{tokens}");

    // A conversation with messages comes back in order, with its sources.
    seed_conversation(&app, bot, "seeded-session").await;
    let history: Value = visit(&app, Method::GET, "/widget/session/seeded-session/messages", &token, None)
        .await
        .json()
        .await
        .unwrap();
    let messages = history["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(messages[1]["sources"][0]["title"], "Security");
}

#[tokio::test]
async fn a_session_belongs_to_its_bot_and_expires() {
    let app = spawn_app().await;
    let (owner, bot) = owner_with_bot(&app).await;
    let token = widget_token(&app, &owner, bot).await;
    let workspace = app.workspace(&owner, "Other").await;
    let other =
        app.bot(&owner, &json!({"name": "Other", "workspace_id": workspace})).await["id"].as_i64().unwrap();
    let other_token = widget_token(&app, &owner, other).await;

    let started: Value = start(&app, &token, None).await.json().await.unwrap();
    let path = format!("/widget/session/{}/messages", started["session_id"].as_str().unwrap());
    assert_error(
        visit(&app, Method::GET, &path, &other_token, None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    for bad in ["/widget/session/nope/messages", "/widget/session/%27%20OR%201=1/messages"] {
        assert_error(visit(&app, Method::GET, bad, &token, None).await, StatusCode::NOT_FOUND, "not_found")
            .await;
    }

    // Quiet for longer than widget.session_timeout_minutes (30).
    let long_ago = now_ms() - 31 * 60_000;
    let session = NewChatSession {
        session_id: "quiet-session".into(),
        bot_id: bot,
        token_id: None,
        visitor_id: None,
        started_at: long_ago,
        metadata: json!({}),
    };
    app.state.store.create_chat_session(&session).await.unwrap();
    let response = visit(&app, Method::GET, "/widget/session/quiet-session/messages", &token, None).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "session_expired").await;
}

#[tokio::test]
async fn visitor_routes_check_the_token_on_every_request() {
    let app = spawn_app().await;
    let (owner, bot) = owner_with_bot(&app).await;
    let token = widget_token(&app, &owner, bot).await;
    assert_eq!(start(&app, &token, None).await.status(), StatusCode::CREATED);

    let response = app.client.post(app.url("/widget/session/start")).json(&json!({})).send().await.unwrap();
    assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_error(start(&app, &owner, None).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    assert_error(start(&app, &format!("{token}x"), None).await, StatusCode::UNAUTHORIZED, "invalid_token")
        .await;
    let expired = expired_token(&app, bot, 1).await;
    assert_error(start(&app, &expired, None).await, StatusCode::UNAUTHORIZED, "token_expired").await;

    app.put(&format!("/widget/bots/{bot}"), &owner, &json!({"is_active": false})).await;
    assert_error(start(&app, &token, None).await, StatusCode::FORBIDDEN, "bot_inactive").await;
    app.put(&format!("/widget/bots/{bot}"), &owner, &json!({"is_active": true})).await;
    assert_eq!(start(&app, &token, None).await.status(), StatusCode::CREATED);

    app.post("/widget/revoke", &owner, &json!({"token": token})).await;
    assert_error(start(&app, &token, None).await, StatusCode::UNAUTHORIZED, "token_revoked").await;

    let fresh = widget_token(&app, &owner, bot).await;
    assert_eq!(app.delete(&format!("/widget/bots/{bot}"), &owner).await.status(), StatusCode::NO_CONTENT);
    assert_error(start(&app, &fresh, None).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[tokio::test]
async fn only_allowed_sites_may_use_a_bot() {
    let app =
        spawn_app_with(|config| config.widget.allowed_origins = vec!["https://everywhere.example".into()])
            .await;
    let (owner, bot) = owner_with_bot(&app).await;
    let token = widget_token(&app, &owner, bot).await;

    // Nothing listed for the bot: only the server's own pages and the global list.
    let own = format!("http://{}", app.addr);
    for origin in [own.as_str(), "https://everywhere.example"] {
        let response = start(&app, &token, Some(origin)).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{origin}");
        assert_eq!(header(&response, "access-control-allow-origin"), Some(origin));
        assert!(header(&response, "vary").is_some_and(|v| v.contains("Origin")));
    }
    let refused = start(&app, &token, Some("https://shop.example")).await;
    assert_eq!(
        header(&refused, "access-control-allow-origin"),
        Some("https://shop.example"),
        "so the widget can read why"
    );
    assert_error(refused, StatusCode::FORBIDDEN, "origin_not_allowed").await;

    let origins = json!({"allowed_origins": ["https://shop.example", "https://*.docs.example"]});
    assert_eq!(app.put(&format!("/widget/bots/{bot}"), &owner, &origins).await.status(), StatusCode::OK);
    for origin in ["https://shop.example", "https://help.docs.example", "https://a.b.docs.example"] {
        assert_eq!(start(&app, &token, Some(origin)).await.status(), StatusCode::CREATED, "{origin}");
    }
    for origin in [
        "https://docs.example",
        "http://shop.example",
        "https://shop.example.evil",
        "null",
        "https://x.shop.example",
    ] {
        let response = start(&app, &token, Some(origin)).await;
        assert_error(response, StatusCode::FORBIDDEN, "origin_not_allowed").await;
    }
    // The history and token refresh are checked the same way.
    let started: Value = start(&app, &token, Some("https://shop.example")).await.json().await.unwrap();
    let path = format!("/widget/session/{}/messages", started["session_id"].as_str().unwrap());
    let response = visit(&app, Method::GET, &path, &token, Some("https://evil.example")).await;
    assert_error(response, StatusCode::FORBIDDEN, "origin_not_allowed").await;
    assert_eq!(
        visit(&app, Method::GET, &path, &token, Some("https://shop.example")).await.status(),
        StatusCode::OK
    );
    let refresh = |origin: &'static str| {
        app.client
            .post(app.url("/widget/refresh"))
            .header("origin", origin)
            .json(&json!({"token": token}))
            .send()
    };
    assert_error(refresh("https://evil.example").await.unwrap(), StatusCode::FORBIDDEN, "origin_not_allowed")
        .await;
    let response = refresh("https://shop.example").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "access-control-allow-origin"), Some("https://shop.example"));
}

#[tokio::test]
async fn cors_is_answered_on_visitor_routes_only() {
    let app = spawn_app().await;
    for path in ["/widget/session/start", "/widget/session/abc/messages", "/widget/refresh"] {
        let response = app
            .client
            .request(Method::OPTIONS, app.url(path))
            .header("origin", "https://shop.example")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization, content-type")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "{path}");
        assert_eq!(header(&response, "access-control-allow-origin"), Some("https://shop.example"), "{path}");
        let allowed = header(&response, "access-control-allow-headers").unwrap_or_default();
        assert!(allowed.contains("authorization") && allowed.contains("content-type"), "{path}: {allowed}");
        assert_ne!(header(&response, "access-control-allow-origin"), Some("*"));
    }
    let owner = app.admin_token().await;
    for (method, path) in
        [(Method::GET, "/workspaces"), (Method::OPTIONS, "/workspaces"), (Method::POST, "/widget/generate")]
    {
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .bearer_auth(&owner)
            .header("origin", "https://shop.example")
            .send()
            .await
            .unwrap();
        assert!(
            header(&response, "access-control-allow-origin").is_none(),
            "{method} {path} sends no CORS headers"
        );
    }
}

#[tokio::test]
async fn sessions_are_limited_per_bot_and_visitor_ids_checked() {
    let app = spawn_app_with(|config| config.widget.max_sessions_per_bot = 2).await;
    let (owner, bot) = owner_with_bot(&app).await;
    let token = widget_token(&app, &owner, bot).await;
    for bad in
        [json!({"visitor_id": "a\u{7}b"}), json!({"visitor_id": "x".repeat(201)}), json!({"visitor": "x"})]
    {
        let response =
            app.client.post(app.url("/widget/session/start")).bearer_auth(&token).json(&bad).send().await;
        let fields = validation_fields(response.unwrap()).await;
        assert_eq!(fields.as_object().unwrap().len(), 1, "{bad}: {fields}");
    }
    assert_eq!(start(&app, &token, None).await.status(), StatusCode::CREATED);
    assert_eq!(start(&app, &token, None).await.status(), StatusCode::CREATED);
    let response = start(&app, &token, None).await;
    assert_eq!(header(&response, "retry-after"), Some("60"));
    assert_error(response, StatusCode::TOO_MANY_REQUESTS, "session_limit").await;
}

#[tokio::test]
async fn concurrent_starts_never_pass_the_per_bot_cap() {
    let app = spawn_app_with(|config| config.widget.max_sessions_per_bot = 5).await;
    let (owner, bot) = owner_with_bot(&app).await;
    let token = widget_token(&app, &owner, bot).await;
    let starts = (0..24).map(|_| start(&app, &token, None));
    let statuses: Vec<StatusCode> =
        futures_util::future::join_all(starts).await.iter().map(reqwest::Response::status).collect();
    let created = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!((created, refused), (5, 19), "{statuses:?}");
    let listed = app.get(&format!("/widget/bots/{bot}/sessions"), &owner).await;
    assert_eq!(listed.json::<Vec<Value>>().await.unwrap().len(), 5);
}
