//! The periodic clean-up, one pass at a chosen time: idle sessions end, long
//! expired widget tokens go (never a family with a live member), and with
//! `widget.retention_days` old conversations are deleted; nothing else is.

use docent::clock::now_ms;
use docent::housekeeping::{EXPIRED_TOKEN_KEEP_DAYS, tidy};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::chat::{ask, history, visitor};
use crate::helpers::{TestApp, assert_error, spawn_app, spawn_app_with};
use crate::widget_tokens::expired_token;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 24 * 60 * MINUTE_MS;

async fn sessions(app: &TestApp, owner: &str, bot: i64) -> Vec<Value> {
    let response = app.get(&format!("/widget/bots/{bot}/sessions"), owner).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Vec<Value>>().await.unwrap()
}

async fn token_ids(app: &TestApp, owner: &str, bot: i64) -> Vec<i64> {
    let response = app.get(&format!("/widget/tokens?bot_id={bot}"), owner).await;
    assert_eq!(response.status(), StatusCode::OK);
    let tokens: Vec<Value> = response.json().await.unwrap();
    tokens.iter().map(|t| t["token_id"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn idle_sessions_end_and_a_busy_one_stays_open() {
    let app = spawn_app().await;
    let (token, idle, bot) = visitor(&app, "Docs").await;
    let owner = app.admin_token().await;
    assert_eq!(ask(&app, &token, &idle, "How do I reset my password?", false).await.status(), StatusCode::OK);

    // Just inside the timeout nothing ends.
    let soon = now_ms() + 29 * MINUTE_MS;
    assert_eq!(tidy(&app.state.config, app.state.store.as_ref(), soon).await.unwrap().ended_sessions, 0);
    assert_eq!(sessions(&app, &owner, bot).await[0]["status"], "active");

    let later = now_ms() + 31 * MINUTE_MS;
    let done = tidy(&app.state.config, app.state.store.as_ref(), later).await.unwrap();
    assert_eq!(done.ended_sessions, 1);
    assert_eq!(done.deleted_sessions, 0, "transcripts are kept by default");
    let listed = sessions(&app, &owner, bot).await;
    assert_eq!(listed[0]["status"], "ended");
    assert_eq!(listed[0]["message_count"], 2);
    assert!(listed[0]["ended_at"].is_string());
    // The visitor's session is over; the widget starts a new one.
    let path = format!("/widget/session/{idle}/messages");
    let response = app.client.get(app.url(&path)).bearer_auth(&token).send().await.unwrap();
    assert_error(response, StatusCode::UNAUTHORIZED, "session_expired").await;
    // The owner still reads the whole transcript.
    let response = app.get(&format!("/widget/bots/{bot}/sessions/{idle}"), &owner).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["messages"].as_array().unwrap().len(), 2);
    // A second pass finds nothing more to do.
    assert_eq!(tidy(&app.state.config, app.state.store.as_ref(), later).await.unwrap().ended_sessions, 0);
    app.stop().await;
}

#[tokio::test]
async fn long_expired_tokens_go_but_never_a_family_still_in_use() {
    let app = spawn_app().await;
    let (_, _, bot) = visitor(&app, "Docs").await;
    let owner = app.admin_token().await;
    let grace = i64::from(app.state.config.widget.refresh_grace_days);
    let gone = grace + EXPIRED_TOKEN_KEEP_DAYS + 1;
    let _old = expired_token(&app, bot, gone).await;
    let old = *token_ids(&app, &owner, bot).await.iter().max().unwrap();
    let _recent = expired_token(&app, bot, grace + EXPIRED_TOKEN_KEEP_DAYS - 1).await;
    // A token expired two days ago, refreshed by its widget: the new one lives
    // 30 days (as long as the old one did) and keeps its family.
    let lapsed = expired_token(&app, bot, 2).await;
    let response = app.post_anon("/widget/refresh", &json!({"token": lapsed})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let refreshed: Value = response.json().await.unwrap();
    let before = token_ids(&app, &owner, bot).await;
    assert_eq!(before.len(), 5, "the owner's token, three made here and the refreshed one");

    let done = tidy(&app.state.config, app.state.store.as_ref(), now_ms()).await.unwrap();
    assert_eq!(done.deleted_tokens, 1);
    let after = token_ids(&app, &owner, bot).await;
    assert_eq!(after.len(), 4);
    assert!(!after.contains(&old));
    assert!(before.iter().all(|id| after.contains(id) || *id == old));

    // When the lapsed token would be long gone, its refreshed one still lives:
    // the family stays whole.
    let then = now_ms() + (gone - 2) * DAY_MS;
    let done = tidy(&app.state.config, app.state.store.as_ref(), then).await.unwrap();
    let kept = token_ids(&app, &owner, bot).await;
    assert!(kept.contains(&refreshed["token_id"].as_i64().unwrap()));
    assert_eq!(kept.len(), 4 - usize::try_from(done.deleted_tokens).unwrap());
    assert_eq!(kept.len(), 3, "only the nearly-kept one went: {kept:?}");
    let response = app
        .client
        .post(app.url("/widget/session/start"))
        .bearer_auth(refreshed["token"].as_str().unwrap())
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);

    // Once the refreshed one is long expired too, the family goes.
    let much_later = now_ms() + (30 + gone) * DAY_MS;
    tidy(&app.state.config, app.state.store.as_ref(), much_later).await.unwrap();
    assert!(token_ids(&app, &owner, bot).await.is_empty(), "the owner's 7-day token went as well");
    app.stop().await;
}

#[tokio::test]
async fn retention_deletes_old_conversations_only() {
    let app = spawn_app_with(|c| c.widget.retention_days = 30).await;
    let (token, old, bot) = visitor(&app, "Docs").await;
    let owner = app.admin_token().await;
    assert_eq!(ask(&app, &token, &old, "When are invoices sent?", false).await.status(), StatusCode::OK);
    assert_eq!(history(&app, &token, &old).await.len(), 2);

    let done = tidy(&app.state.config, app.state.store.as_ref(), now_ms() + 29 * DAY_MS).await.unwrap();
    assert_eq!(done.deleted_sessions, 0);
    assert_eq!(sessions(&app, &owner, bot).await.len(), 1);

    let done = tidy(&app.state.config, app.state.store.as_ref(), now_ms() + 31 * DAY_MS).await.unwrap();
    assert_eq!(done.deleted_sessions, 1);
    assert!(sessions(&app, &owner, bot).await.is_empty());
    let response = app.get(&format!("/widget/bots/{bot}/sessions/{old}"), &owner).await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    let bot_now: Value = app.get(&format!("/widget/bots/{bot}"), &owner).await.json().await.unwrap();
    assert_eq!(bot_now["stats"]["total_messages"], 0);
    assert_eq!(bot_now["stats"]["total_sessions"], 0);
    app.stop().await;
}
