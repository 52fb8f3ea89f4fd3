//! Bots: CRUD, every validation rule, stats, sessions, tenant isolation.

use docent::clock::now_ms;
use docent::model::{NewChatSession, NewMessage};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, spawn_app, validation_fields};

/// Stores a visitor session with a question and an answer, as the chat turn will.
pub async fn seed_conversation(app: &TestApp, bot_id: i64, session_id: &str) {
    let store = &app.state.store;
    let now = now_ms();
    store
        .create_chat_session(&NewChatSession {
            session_id: session_id.to_owned(),
            bot_id,
            token_id: None,
            visitor_id: Some("visitor-1".into()),
            started_at: now - 5_000,
            metadata: json!({"page": "/pricing"}),
        })
        .await
        .unwrap();
    for (role, content, sources) in [
        ("user", "How do I reset my password?", json!([])),
        (
            "assistant",
            "Open Settings, then Security.",
            json!([{"title": "Security", "source": "security.md", "url": null, "snippet": "Settings > Security"}]),
        ),
    ] {
        store
            .add_message(&NewMessage {
                session_id: session_id.to_owned(),
                bot_id,
                role,
                content: content.to_owned(),
                sources: sources.to_string(),
                prompt_tokens: None,
                completion_tokens: None,
                latency_ms: Some(12),
                created_at: now,
            })
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_bot_needs_only_a_name_and_a_workspace() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let workspace = app.workspace(&token, "Docs").await;
    let bot = app.bot(&token, &json!({"name": "Helper", "workspace_id": workspace})).await;
    assert_eq!(bot["name"], "Helper");
    assert_eq!(bot["workspace_id"], workspace);
    assert_eq!(bot["is_active"], true);
    assert_eq!(bot["theme"], "auto");
    assert_eq!(bot["position"], "bottom-right");
    assert_eq!(bot["allowed_origins"], json!([]));
    assert!(bot["primary_color"].as_str().unwrap().starts_with('#'));
    assert_eq!(
        bot["stats"],
        json!({"total_sessions": 0, "active_sessions": 0, "active_tokens": 0, "total_messages": 0, "last_activity_at": null})
    );
    for field in ["id", "system_prompt", "welcome_message", "bubble_icon", "created_at", "updated_at"] {
        assert!(!bot[field].is_null(), "{field}");
    }
    assert_eq!(bot["fallback_message"], docent::model::DEFAULT_FALLBACK);
    assert_eq!(bot["model"], Value::Null, "the server's llm.model");
    assert_eq!(bot["temperature"], Value::Null);

    // Set, then back to the server's model with "".
    let path = format!("/widget/bots/{}", bot["id"]);
    let changed: Value =
        app.put(&path, &token, &json!({"model": " llama3.2 ", "temperature": 0})).await.json().await.unwrap();
    assert_eq!(changed["model"], "llama3.2");
    assert_eq!(changed["temperature"], 0.0);
    let changed: Value = app.put(&path, &token, &json!({"model": ""})).await.json().await.unwrap();
    assert_eq!(changed["model"], Value::Null);
    assert_eq!(changed["temperature"], 0.0, "untouched");
    let changed: Value = app.put(&path, &token, &json!({"temperature": null})).await.json().await.unwrap();
    assert_eq!(changed["temperature"], Value::Null, "back to the server's llm.temperature");
    assert_eq!(changed["model"], Value::Null);
}

#[tokio::test]
async fn every_field_can_be_set_read_changed_and_the_bot_deleted() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let workspace = app.workspace(&token, "Docs").await;
    let second = app.workspace(&token, "More docs").await;
    let bot = app
        .bot(
            &token,
            &json!({
                "name": "Helper", "workspace_id": workspace, "system_prompt": "Be brief.",
                "welcome_message": "Hello!", "is_active": false,
                "allowed_origins": ["https://Example.com/", "https://*.example.org", "http://localhost:3000"],
                "theme": "dark", "position": "top-left", "primary_color": "#AABBCC", "bubble_icon": "🤖"
            }),
        )
        .await;
    let id = bot["id"].as_i64().unwrap();
    assert_eq!(
        bot["allowed_origins"],
        json!(["https://example.com", "https://*.example.org", "http://localhost:3000"])
    );
    assert_eq!(bot["primary_color"], "#aabbcc");
    assert_eq!(bot["is_active"], false);
    assert_eq!(bot["theme"], "dark");

    let path = format!("/widget/bots/{id}");
    let read: Value = app.get(&path, &token).await.json().await.unwrap();
    assert_eq!(read, bot);

    let response = app.put(&path, &token, &json!({"welcome_message": "Hi again", "is_active": true})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let changed: Value = response.json().await.unwrap();
    assert_eq!(changed["welcome_message"], "Hi again");
    assert_eq!(changed["is_active"], true);
    assert_eq!(changed["system_prompt"], "Be brief.", "fields not sent are kept");
    assert_eq!(changed["theme"], "dark");

    let response = app
        .put(&path, &token, &json!({"workspace_id": second, "bubble_icon": "https://cdn.example.com/b.png"}))
        .await;
    let moved: Value = response.json().await.unwrap();
    assert_eq!(moved["workspace_id"], second);
    assert_eq!(moved["bubble_icon"], "https://cdn.example.com/b.png");

    let list: Value = app.get("/widget/bots", &token).await.json().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let filtered: Value =
        app.get(&format!("/widget/bots?workspace_id={workspace}"), &token).await.json().await.unwrap();
    assert_eq!(filtered, json!([]));

    assert_eq!(app.delete(&path, &token).await.status(), StatusCode::NO_CONTENT);
    assert_error(app.get(&path, &token).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_error(app.delete(&path, &token).await, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn each_validation_rule_names_its_field() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let workspace = app.workspace(&token, "Docs").await;
    let bob = app.user_token("bob").await;
    let bobs_workspace = app.workspace(&bob, "Bob's").await;

    let cases: Vec<(&str, Value)> = vec![
        ("name", json!("")),
        ("name", json!("   ")),
        ("name", json!("n".repeat(101))),
        ("name", json!(5)),
        ("system_prompt", json!("p".repeat(8001))),
        ("welcome_message", json!("w".repeat(1001))),
        ("theme", json!("blue")),
        ("position", json!("middle")),
        ("primary_color", json!("red")),
        ("primary_color", json!("#fff")),
        ("primary_color", json!("#GGGGGG")),
        ("bubble_icon", json!("nine char")),
        ("bubble_icon", json!("")),
        ("bubble_icon", json!("http://cdn.example.com/b.png")),
        ("bubble_icon", json!("javascript:alert(1)")),
        ("allowed_origins", json!(["*"])),
        ("allowed_origins", json!(["https://example.com/path"])),
        ("allowed_origins", json!(["ftp://example.com"])),
        ("allowed_origins", json!(["example.com"])),
        ("allowed_origins", json!(["https://*"])),
        ("allowed_origins", json!("https://example.com")),
        ("is_active", json!("yes")),
        ("fallback_message", json!("f".repeat(1001))),
        ("fallback_message", json!("a\u{0}b")),
        ("model", json!("m".repeat(201))),
        ("temperature", json!(2.5)),
        ("temperature", json!(-0.1)),
        ("temperature", json!("hot")),
        ("workspace_id", json!(bobs_workspace)),
        ("workspace_id", json!(999_999)),
    ];
    for (field, value) in cases {
        let mut body = json!({"name": "Helper", "workspace_id": workspace});
        body[field] = value.clone();
        let fields = validation_fields(app.post("/widget/bots", &token, &body).await).await;
        assert!(fields[field].is_string(), "{field} = {value}: {fields}");
    }

    // At the limits, accepted.
    let at_limits = json!({
        "name": "n".repeat(100), "workspace_id": workspace, "system_prompt": "p".repeat(8000),
        "welcome_message": "w".repeat(1000), "bubble_icon": "12345678"
    });
    app.bot(&token, &at_limits).await;

    // Several problems at once are all reported.
    let body = json!({"name": "", "workspace_id": workspace, "theme": "x", "position": "y"});
    let fields = validation_fields(app.post("/widget/bots", &token, &body).await).await;
    assert_eq!(fields.as_object().unwrap().len(), 3, "{fields}");

    // Missing and bad fields are reported in the same answer.
    let body = json!({"workspace_id": workspace, "theme": "plaid"});
    let fields = validation_fields(app.post("/widget/bots", &token, &body).await).await;
    assert_eq!(fields["name"], "is required");
    assert!(fields["theme"].is_string(), "{fields}");
    let fields = validation_fields(app.post("/widget/bots", &token, &json!({})).await).await;
    assert_eq!(fields["name"], "is required");
    assert_eq!(fields["workspace_id"], "is required");
    let body = json!({"name": "Helper", "workspace_id": workspace, "colour": "#ffffff"});
    let fields = validation_fields(app.post("/widget/bots", &token, &body).await).await;
    assert!(fields["colour"].is_string());

    // Updates follow the same rules, and a refused update changes nothing.
    let bot = app.bot(&token, &json!({"name": "Helper", "workspace_id": workspace})).await;
    let path = format!("/widget/bots/{}", bot["id"]);
    let fields =
        validation_fields(app.put(&path, &token, &json!({"theme": "neon", "name": "New"})).await).await;
    assert!(fields["theme"].is_string());
    let fields =
        validation_fields(app.put(&path, &token, &json!({"workspace_id": bobs_workspace})).await).await;
    assert!(fields["workspace_id"].is_string());
    let unchanged: Value = app.get(&path, &token).await.json().await.unwrap();
    assert_eq!(unchanged, bot);

    let list: Value = app.get("/widget/bots", &token).await.json().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2, "refused bots were not stored");
}

#[tokio::test]
async fn users_see_only_their_own_bots() {
    let app = spawn_app().await;
    let alice = app.admin_token().await;
    let workspace = app.workspace(&alice, "Docs").await;
    let bot = app.bot(&alice, &json!({"name": "Helper", "workspace_id": workspace})).await;
    let id = bot["id"].as_i64().unwrap();
    seed_conversation(&app, id, "alice-visitor-session").await;

    let bob = app.user_token("bob").await;
    let list: Value = app.get("/widget/bots", &bob).await.json().await.unwrap();
    assert_eq!(list, json!([]));
    let list: Value =
        app.get(&format!("/widget/bots?workspace_id={workspace}"), &bob).await.json().await.unwrap();
    assert_eq!(list, json!([]));
    for path in [
        format!("/widget/bots/{id}"),
        format!("/widget/bots/{id}/sessions"),
        format!("/widget/bots/{id}/sessions/alice-visitor-session"),
    ] {
        assert_error(app.get(&path, &bob).await, StatusCode::NOT_FOUND, "not_found").await;
    }
    let response = app.put(&format!("/widget/bots/{id}"), &bob, &json!({"name": "Hijacked"})).await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    assert_error(app.delete(&format!("/widget/bots/{id}"), &bob).await, StatusCode::NOT_FOUND, "not_found")
        .await;
    let fields = validation_fields(
        app.post("/widget/bots", &bob, &json!({"name": "x", "workspace_id": workspace})).await,
    )
    .await;
    assert!(fields["workspace_id"].is_string());

    let still: Value = app.get(&format!("/widget/bots/{id}"), &alice).await.json().await.unwrap();
    assert_eq!(still["name"], "Helper");
}

#[tokio::test]
async fn stats_and_sessions_show_conversations() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let workspace = app.workspace(&token, "Docs").await;
    let bot = app.bot(&token, &json!({"name": "Helper", "workspace_id": workspace})).await;
    let id = bot["id"].as_i64().unwrap();
    seed_conversation(&app, id, "first-session").await;

    let bot: Value = app.get(&format!("/widget/bots/{id}"), &token).await.json().await.unwrap();
    assert_eq!(bot["stats"]["total_sessions"], 1);
    assert_eq!(bot["stats"]["active_sessions"], 1);
    assert_eq!(bot["stats"]["total_messages"], 2);
    assert!(bot["stats"]["last_activity_at"].is_string());

    let sessions: Value = app.get(&format!("/widget/bots/{id}/sessions"), &token).await.json().await.unwrap();
    assert_eq!(sessions.as_array().unwrap().len(), 1);
    let session = &sessions[0];
    assert_eq!(session["session_id"], "first-session");
    assert_eq!(session["message_count"], 2);
    assert_eq!(session["status"], "active");
    assert_eq!(session["duration_seconds"], 5);

    let path = format!("/widget/bots/{id}/sessions/first-session");
    let transcript: Value = app.get(&path, &token).await.json().await.unwrap();
    let messages = transcript["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(messages[1]["role"], "assistant");
    assert_eq!(messages[1]["sources"][0]["title"], "Security");
    assert_eq!(transcript["session_id"], "first-session");

    let response = app.get(&format!("/widget/bots/{id}/sessions/no-such-session"), &token).await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    let response = app.get(&format!("/widget/bots/{id}/sessions?limit=0"), &token).await;
    assert!(validation_fields(response).await["limit"].is_string());
    let response = app.get(&format!("/widget/bots/{id}/sessions?limit=many"), &token).await;
    assert_error(response, StatusCode::BAD_REQUEST, "bad_request").await;

    // Deleting the bot removes its conversations.
    assert_eq!(app.delete(&format!("/widget/bots/{id}"), &token).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(crate::store::count_rows(&app, "chat_sessions").await, 0);
    assert_eq!(crate::store::count_rows(&app, "messages").await, 0);
}
