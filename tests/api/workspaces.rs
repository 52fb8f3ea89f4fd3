//! Workspaces: CRUD, name rules, and that nobody sees another user's.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_error, spawn_app, validation_fields};

#[tokio::test]
async fn create_list_get_rename_delete() {
    let app = spawn_app().await;
    let token = app.admin_token().await;

    let response = app.post("/workspaces", &token, &json!({"name": "  Product docs  "})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["name"], "Product docs");
    assert_eq!(created["role"], "owner");
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));
    let id = created["id"].as_i64().unwrap();

    let list: Value = app.get("/workspaces", &token).await.json().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], id);

    let one: Value = app.get(&format!("/workspaces/{id}"), &token).await.json().await.unwrap();
    assert_eq!(one, created);

    let response = app.put(&format!("/workspaces/{id}"), &token, &json!({"name": "Handbook"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let renamed: Value = response.json().await.unwrap();
    assert_eq!(renamed["name"], "Handbook");
    let one: Value = app.get(&format!("/workspaces/{id}"), &token).await.json().await.unwrap();
    assert_eq!(one["name"], "Handbook");

    let response = app.delete(&format!("/workspaces/{id}"), &token).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_error(app.get(&format!("/workspaces/{id}"), &token).await, StatusCode::NOT_FOUND, "not_found")
        .await;
    assert_error(app.delete(&format!("/workspaces/{id}"), &token).await, StatusCode::NOT_FOUND, "not_found")
        .await;
}

#[tokio::test]
async fn names_are_checked() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    for bad in ["", "   ", &"x".repeat(101), "tab\there"] {
        let response = app.post("/workspaces", &token, &json!({"name": bad})).await;
        assert!(validation_fields(response).await["name"].is_string(), "{bad:?}");
    }
    let response = app.post("/workspaces", &token, &json!({"name": "é".repeat(100)})).await;
    assert_eq!(response.status(), StatusCode::CREATED, "100 characters are fine, whatever their bytes");

    // Case is ignored in every alphabet, the same on SQLite and PostgreSQL.
    app.workspace(&token, "Ärzte").await;
    let response = app.post("/workspaces", &token, &json!({"name": "ärzte"})).await;
    assert_error(response, StatusCode::CONFLICT, "conflict").await;

    let first = app.workspace(&token, "Docs").await;
    let response = app.post("/workspaces", &token, &json!({"name": "docs"})).await;
    assert_error(response, StatusCode::CONFLICT, "conflict").await;
    let other = app.workspace(&token, "Other").await;
    let response = app.put(&format!("/workspaces/{other}"), &token, &json!({"name": "DOCS"})).await;
    assert_error(response, StatusCode::CONFLICT, "conflict").await;
    // Renaming to its own name is not a clash.
    let response = app.put(&format!("/workspaces/{first}"), &token, &json!({"name": "Docs"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app.put(&format!("/workspaces/{first}"), &token, &json!({"name": ""})).await;
    assert!(validation_fields(response).await["name"].is_string());
}

#[tokio::test]
async fn users_see_only_their_own_workspaces() {
    let app = spawn_app().await;
    let alice = app.admin_token().await;
    let bob = app.user_token("bob").await;
    let id = app.workspace(&alice, "Alice's docs").await;

    let list: Value = app.get("/workspaces", &bob).await.json().await.unwrap();
    assert_eq!(list, json!([]));
    let path = format!("/workspaces/{id}");
    assert_error(app.get(&path, &bob).await, StatusCode::NOT_FOUND, "not_found").await;
    let response = app.put(&path, &bob, &json!({"name": "mine now"})).await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    assert_error(app.delete(&path, &bob).await, StatusCode::NOT_FOUND, "not_found").await;

    // Same name, different owner: fine.
    app.workspace(&bob, "Alice's docs").await;
    let one: Value = app.get(&path, &alice).await.json().await.unwrap();
    assert_eq!(one["name"], "Alice's docs");
}

#[tokio::test]
async fn deleting_a_workspace_removes_its_bots_and_their_conversations() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let workspace = app.workspace(&token, "Docs").await;
    let bot = app.bot(&token, &json!({"name": "Helper", "workspace_id": workspace})).await;
    let bot_id = bot["id"].as_i64().unwrap();
    crate::bots::seed_conversation(&app, bot_id, "session-of-deleted-workspace").await;

    assert_eq!(
        app.delete(&format!("/workspaces/{workspace}"), &token).await.status(),
        StatusCode::NO_CONTENT
    );
    let response = app.get(&format!("/widget/bots/{bot_id}"), &token).await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    let remaining = crate::store::count_rows(&app, "messages").await
        + crate::store::count_rows(&app, "chat_sessions").await;
    assert_eq!(remaining, 0);
}
