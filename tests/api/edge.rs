//! What every route shares: error bodies, limits, request ids, health, metrics, OpenAPI.

use axum::routing::get;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_error, spawn_app, spawn_app_with, validation_fields};

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["status"], "ok");
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // With the database gone, the process is alive but not ready.
    app.state.store.close().await;
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_error(response, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/no/such/route")).send().await.unwrap();
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    let response = app.client.delete(app.url("/healthz")).send().await.unwrap();
    assert_error(response, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    let token = app.admin_token().await;
    let response = app.get("/workspaces/not-a-number", &token).await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn bad_bodies_get_the_right_status() {
    let app = spawn_app_with(|c| c.http.json_limit_bytes = 4096).await;
    let token = app.admin_token().await;
    let post = |body: Vec<u8>, content_type: &'static str| {
        app.client
            .post(app.url("/workspaces"))
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };

    let response = post(b"{\"name\": ".to_vec(), "application/json").await.unwrap();
    let error = assert_error(response, StatusCode::BAD_REQUEST, "invalid_json").await;
    assert!(error.get("fields").is_none());
    let response = post(b"{\"name\": \"a\"} trailing".to_vec(), "application/json").await.unwrap();
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_json").await;
    let response = post(Vec::new(), "application/json").await.unwrap();
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_json").await;

    let response = post(b"name=docs".to_vec(), "application/x-www-form-urlencoded").await.unwrap();
    assert_error(response, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
    let response =
        app.client.post(app.url("/workspaces")).bearer_auth(&token).body("{}").send().await.unwrap();
    assert_error(response, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;

    let big = serde_json::to_vec(&json!({"name": "x".repeat(5000)})).unwrap();
    let response = post(big, "application/json").await.unwrap();
    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    // Parses, but has the wrong shape: 422 naming the field.
    let response = post(b"{\"name\": 5}".to_vec(), "application/json; charset=utf-8").await.unwrap();
    let fields = validation_fields(response).await;
    assert!(fields["name"].as_str().unwrap().contains("invalid type"), "{fields}");
    let response = post(b"{}".to_vec(), "application/json").await.unwrap();
    assert_eq!(validation_fields(response).await["name"], "is required");
    let response = post(b"{\"name\": \"a\", \"colour\": 1}".to_vec(), "application/json").await.unwrap();
    assert_eq!(validation_fields(response).await["colour"], "is not a known field");
    let response = post(b"[1, 2]".to_vec(), "application/json").await.unwrap();
    let fields = validation_fields(response).await;
    assert!(fields.get("body").is_some(), "{fields}");

    // Nothing of the refused requests was stored.
    let list: Value = app.get("/workspaces", &token).await.json().await.unwrap();
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn a_panic_becomes_a_plain_500() {
    let app = spawn_app().await;
    let routes = axum::Router::new().route(
        "/boom",
        get(|| async {
            let detail: Vec<&str> = Vec::new();
            detail.first().copied().unwrap_or_else(|| panic!("internal detail that must not leak"))
        }),
    );
    let router = docent::http::with_edge(routes, app.state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });

    let response = app.client.get(format!("http://{addr}/boom")).send().await.unwrap();
    let error = assert_error(response, StatusCode::INTERNAL_SERVER_ERROR, "internal_error").await;
    assert!(!error["message"].as_str().unwrap().contains("internal detail"));
    // The server goes on answering.
    let response = app.client.get(format!("http://{addr}/boom")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn a_database_fault_is_a_plain_500() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let workspace = app.workspace(&token, "Docs").await;
    let bot = app.bot(&token, &json!({"name": "Helper", "workspace_id": workspace})).await;
    // Corrupt the stored origins behind the server's back.
    let url = &app.db.url;
    if app.db.is_postgres() {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query("UPDATE bots SET allowed_origins = 'not json'").execute(&pool).await.unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query("UPDATE bots SET allowed_origins = 'not json'").execute(&pool).await.unwrap();
        pool.close().await;
    }
    let response = app.get(&format!("/widget/bots/{}", bot["id"]), &token).await;
    let error = assert_error(response, StatusCode::INTERNAL_SERVER_ERROR, "internal_error").await;
    assert!(!error["message"].as_str().unwrap().to_lowercase().contains("json"));
}

#[tokio::test]
async fn request_ids_are_kept_or_made() {
    let app = spawn_app().await;
    let response =
        app.client.get(app.url("/healthz")).header("x-request-id", "abc-123").send().await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "abc-123");
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    let made = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(made.len(), 24);
    let response =
        app.client.get(app.url("/healthz")).header("x-request-id", "x".repeat(500)).send().await.unwrap();
    assert_ne!(response.headers()["x-request-id"].to_str().unwrap(), "x".repeat(500));
}

#[tokio::test]
async fn platform_routes_send_no_cors_headers() {
    let app = spawn_app().await;
    let response = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/workspaces"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("access-control-allow-origin").is_none());
    let token = app.admin_token().await;
    let response = app
        .client
        .get(app.url("/workspaces"))
        .bearer_auth(&token)
        .header("origin", "https://evil.example")
        .send();
    let response = response.await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let app = spawn_app().await;
    app.client.get(app.url("/healthz")).send().await.unwrap();
    app.client.get(app.url("/workspaces/42")).send().await.unwrap();
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        text.contains(r#"docent_http_requests_total{method="GET",route="/healthz",status="200"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"route="/workspaces/{id}",status="401""#), "{text}");
    assert!(text.contains("docent_http_request_duration_seconds_bucket"), "{text}");
    assert!(!text.contains("/workspaces/42"), "raw paths must not become labels");

    // Methods outside the standard set share one label, so they cannot grow the series.
    for method in ["FOO1", "FOO2"] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        app.client.request(method, app.url("/healthz")).send().await.unwrap();
    }
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(!text.contains("FOO1") && !text.contains("FOO2"), "{text}");
    assert!(text.contains(r#"method="other",route="/healthz",status="405"} 2"#), "{text}");
}

#[tokio::test]
async fn openapi_describes_every_route_of_the_contract() {
    let app = spawn_app().await;
    let doc: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let expected = [
        ("/auth/login", "post"),
        ("/auth/refresh", "post"),
        ("/auth/logout", "post"),
        ("/auth/me", "get"),
        ("/workspaces", "get"),
        ("/workspaces", "post"),
        ("/workspaces/{id}", "get"),
        ("/workspaces/{id}", "put"),
        ("/workspaces/{id}", "delete"),
        ("/widget/bots", "get"),
        ("/widget/bots", "post"),
        ("/widget/bots/{id}", "get"),
        ("/widget/bots/{id}", "put"),
        ("/widget/bots/{id}", "delete"),
        ("/widget/bots/{id}/sessions", "get"),
        ("/widget/bots/{id}/sessions/{session_id}", "get"),
        ("/widget/bots/{id}/unanswered", "get"),
        ("/widget/bots/{id}/analytics", "get"),
        ("/widget/analytics", "get"),
        ("/widget/generate", "post"),
        ("/widget/refresh", "post"),
        ("/widget/revoke", "post"),
        ("/widget/tokens", "get"),
        ("/widget/session/start", "post"),
        ("/widget/chat", "post"),
        ("/widget/session/{session_id}/messages", "get"),
        ("/workspaces/{id}/documents", "post"),
        ("/workspaces/{id}/documents", "get"),
        ("/workspaces/{id}/documents/{document_id}", "get"),
        ("/workspaces/{id}/documents/{document_id}", "put"),
        ("/workspaces/{id}/documents/{document_id}", "delete"),
        ("/workspaces/{id}/search", "post"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
    ];
    for (path, method) in expected {
        assert!(doc["paths"][path][method].is_object(), "{method} {path} missing from /openapi.json");
    }
    let bot = &doc["components"]["schemas"]["Bot"]["properties"];
    for field in ["id", "name", "workspace_id", "allowed_origins", "primary_color", "stats"] {
        assert!(bot[field].is_object(), "Bot.{field} missing from the schema");
    }
    let token = &doc["components"]["schemas"]["WidgetTokenInfo"]["properties"];
    for field in ["token_id", "bot_id", "created_at", "expires_at", "revoked", "last_used_at"] {
        assert!(token[field].is_object(), "WidgetTokenInfo.{field} missing from the schema");
    }
}

#[tokio::test]
async fn hostile_text_gets_clear_answers_not_500s() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let workspace = app.workspace(&token, "Docs").await;
    // NUL bytes cannot be stored in PostgreSQL text: refused up front, on every database.
    let body = json!({"name": "Helper", "workspace_id": workspace, "system_prompt": "a\u{0}b"});
    assert!(
        validation_fields(app.post("/widget/bots", &token, &body).await).await["system_prompt"].is_string()
    );
    let body = json!({"name": "Helper", "workspace_id": workspace, "welcome_message": "hi\u{7}"});
    assert!(
        validation_fields(app.post("/widget/bots", &token, &body).await).await["welcome_message"].is_string()
    );
    let response = app.post("/workspaces", &token, &json!({"name": "x\u{0}y"})).await;
    assert!(validation_fields(response).await["name"].is_string());
    let body =
        json!({"name": "Helper", "workspace_id": workspace, "system_prompt": "Line one.\n\tLine two."});
    let bot = app.bot(&token, &body).await;

    let response = app.login("ad\u{0}min", "whatever password").await;
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let response = app.login(&"a".repeat(100_000), "whatever password").await;
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let response = app.login("admin", &"p".repeat(5000)).await;
    assert!(validation_fields(response).await["password"].is_string());

    let path = format!("/widget/bots/{}/sessions/a%00b", bot["id"]);
    assert_error(app.get(&path, &token).await, StatusCode::NOT_FOUND, "not_found").await;
    let response = app.post("/auth/refresh", &token, &json!({"refresh_token": "\u{0}"})).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let response = app.get("/widget/bots?workspace_id=1%00", &token).await;
    assert_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
}
