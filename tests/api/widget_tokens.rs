//! Widget tokens: generate, list, refresh, revoke; what is stored; forged,
//! expired, revoked and misused tokens.

use docent::auth::tokens::{Claims, WIDGET, token_hash};
use docent::clock::now_ms;
use docent::model::NewWidgetToken;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, spawn_app, validation_fields};

const DAY_MS: i64 = 24 * 3600 * 1000;

/// An administrator's access token and a bot of theirs.
pub async fn owner_with_bot(app: &TestApp) -> (String, i64) {
    let owner = app.admin_token().await;
    let workspace = app.workspace(&owner, "Docs").await;
    let bot =
        app.bot(&owner, &json!({"name": "Helper", "workspace_id": workspace, "bubble_icon": "\"><b>"})).await;
    (owner, bot["id"].as_i64().unwrap())
}

pub async fn generate(app: &TestApp, owner: &str, body: &Value) -> Value {
    let response = app.post("/widget/generate", owner, body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    app.post_anon("/widget/refresh", &json!({"token": token})).await
}

fn rfc3339_ms(value: &Value) -> i64 {
    let parsed =
        time::OffsetDateTime::parse(value.as_str().unwrap(), &time::format_description::well_known::Rfc3339);
    i64::try_from(parsed.unwrap().unix_timestamp_nanos() / 1_000_000).unwrap()
}

#[tokio::test]
async fn a_generated_token_is_shown_once_and_stored_as_a_hash() {
    let app = spawn_app().await;
    let (owner, bot) = owner_with_bot(&app).await;
    let before = now_ms();
    let made = generate(&app, &owner, &json!({"bot_id": bot, "expires_in_days": 30})).await;
    let token = made["token"].as_str().unwrap();
    assert_eq!(made["bot_id"], bot);
    let expires = rfc3339_ms(&made["expires_at"]);
    assert!((expires - (before + 30 * DAY_MS)).abs() < 5_000, "expires in 30 days: {made}");

    let embed = made["embed_code"].as_str().unwrap();
    assert!(
        embed.starts_with(&format!(
            r#"<script src="http://{}/static/widget.js" data-token="{token}""#,
            app.addr
        )),
        "{embed}"
    );
    assert!(
        embed.contains(r#"data-theme="auto""#) && embed.contains(r#"data-position="bottom-right""#),
        "{embed}"
    );
    assert!(
        embed.contains(r#"data-bubble-icon="&quot;&gt;&lt;b&gt;""#),
        "the owner's text is escaped: {embed}"
    );
    assert!(embed.ends_with(" async></script>"), "{embed}");

    // Only the hash is kept.
    let row =
        app.state.store.widget_token_by_hash(&token_hash(token)).await.unwrap().expect("stored by hash");
    assert_eq!(row.id, made["token_id"].as_i64().unwrap());
    let listed: Value = app.get(&format!("/widget/tokens?bot_id={bot}"), &owner).await.json().await.unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["token_id"], made["token_id"]);
    assert_eq!(listed[0]["revoked"], false);
    assert_eq!(listed[0]["refreshed_from"], Value::Null);
    assert!(!listed[0].to_string().contains(token), "the list never shows the token");

    // The default lifetime is widget.token_expire_days (7).
    let default = generate(&app, &owner, &json!({"bot_id": bot})).await;
    let days = (rfc3339_ms(&default["expires_at"]) - now_ms()) as f64 / DAY_MS as f64;
    assert!((6.99..=7.01).contains(&days), "{days} days");
}

#[tokio::test]
async fn generating_checks_its_input_and_whose_bot_it_is() {
    let app = spawn_app().await;
    let (owner, bot) = owner_with_bot(&app).await;
    for days in [0, 3651, -5] {
        let fields = validation_fields(
            app.post("/widget/generate", &owner, &json!({"bot_id": bot, "expires_in_days": days})).await,
        )
        .await;
        assert!(fields["expires_in_days"].is_string(), "{days}: {fields}");
    }
    let fields =
        validation_fields(app.post("/widget/generate", &owner, &json!({"expires_in_days": 3})).await).await;
    assert_eq!(fields["bot_id"], "is required");

    let stranger = app.user_token("stranger").await;
    assert_error(
        app.post("/widget/generate", &stranger, &json!({"bot_id": bot})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        app.get(&format!("/widget/tokens?bot_id={bot}"), &stranger).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        app.post_anon("/widget/generate", &json!({"bot_id": bot})).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn widget_and_platform_tokens_are_not_interchangeable() {
    let app = spawn_app().await;
    let (owner, bot) = owner_with_bot(&app).await;
    let widget = generate(&app, &owner, &json!({"bot_id": bot})).await["token"].as_str().unwrap().to_owned();
    assert_error(app.get("/workspaces", &widget).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    assert_error(refresh(&app, &owner).await, StatusCode::UNAUTHORIZED, "invalid_token").await;

    // Unsigned, and signed with another key.
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims = Claims {
        sub: bot.to_string(),
        typ: WIDGET.into(),
        tid: Some(1),
        ver: None,
        iat: 0,
        exp: 4_000_000_000,
    };
    let unsigned = format!(
        "{}.{}.",
        b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(serde_json::to_vec(&claims).unwrap())
    );
    assert_error(refresh(&app, &unsigned).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let other_key =
        docent::auth::tokens::Keys::new(b"not the server's key, not at all").sign(&claims).unwrap();
    assert_error(refresh(&app, &other_key).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    assert_error(refresh(&app, "garbage").await, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[tokio::test]
async fn refreshing_makes_a_token_that_revoking_the_original_also_stops() {
    let app = spawn_app().await;
    let (owner, bot) = owner_with_bot(&app).await;
    let made = generate(&app, &owner, &json!({"bot_id": bot, "expires_in_days": 10})).await;
    let original = made["token"].as_str().unwrap();

    let response = refresh(&app, original).await;
    assert_eq!(response.status(), StatusCode::OK);
    let renewed: Value = response.json().await.unwrap();
    let renewed_token = renewed["token"].as_str().unwrap();
    assert_ne!(renewed_token, original);
    let lifetime = (rfc3339_ms(&renewed["expires_at"]) - now_ms()) as f64 / DAY_MS as f64;
    assert!((9.99..=10.01).contains(&lifetime), "as long as the original lived: {lifetime}");
    // A refresh of the refreshed token stays in the family too.
    let again: Value = refresh(&app, renewed_token).await.json().await.unwrap();

    let listed: Value = app.get(&format!("/widget/tokens?bot_id={bot}"), &owner).await.json().await.unwrap();
    let refreshed_from: Vec<&Value> =
        listed.as_array().unwrap().iter().map(|t| &t["refreshed_from"]).collect();
    assert_eq!(refreshed_from, [&made["token_id"], &made["token_id"], &Value::Null]);

    // Revoking the original by id stops the whole family; the original still refreshes until then.
    let response = app.post("/widget/revoke", &owner, &json!({"token_id": made["token_id"]})).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["revoked"], 3);
    for token in [original, renewed_token, again["token"].as_str().unwrap()] {
        assert_error(refresh(&app, token).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
    }
    let response = app.post("/widget/revoke", &owner, &json!({"token_id": made["token_id"]})).await;
    assert_eq!(response.json::<Value>().await.unwrap()["revoked"], 0, "already revoked");
    let listed: Value = app.get(&format!("/widget/tokens?bot_id={bot}"), &owner).await.json().await.unwrap();
    assert!(listed.as_array().unwrap().iter().all(|t| t["revoked"] == true));
}

#[tokio::test]
async fn revoking_by_token_by_bot_and_what_is_refused() {
    let app = spawn_app().await;
    let (owner, bot) = owner_with_bot(&app).await;
    let first = generate(&app, &owner, &json!({"bot_id": bot})).await;
    let second = generate(&app, &owner, &json!({"bot_id": bot})).await;
    let third = generate(&app, &owner, &json!({"bot_id": bot})).await;

    let stranger = app.user_token("stranger").await;
    for body in
        [json!({"token": first["token"]}), json!({"token_id": first["token_id"]}), json!({"bot_id": bot})]
    {
        assert_error(app.post("/widget/revoke", &stranger, &body).await, StatusCode::NOT_FOUND, "not_found")
            .await;
    }
    assert_error(
        app.post("/widget/revoke", &owner, &json!({"token": "not.a.token"})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    for body in [json!({}), json!({"token_id": 1, "bot_id": bot})] {
        let fields = validation_fields(app.post("/widget/revoke", &owner, &body).await).await;
        assert!(fields["body"].is_string(), "{body}: {fields}");
    }
    assert_eq!(
        refresh(&app, first["token"].as_str().unwrap()).await.status(),
        StatusCode::OK,
        "the stranger revoked nothing"
    );

    let response = app.post("/widget/revoke", &owner, &json!({"token": first["token"]})).await;
    assert_eq!(
        response.json::<Value>().await.unwrap()["revoked"],
        2,
        "the token and the one refreshed from it"
    );
    assert_error(
        refresh(&app, first["token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    assert_eq!(refresh(&app, second["token"].as_str().unwrap()).await.status(), StatusCode::OK);

    let response = app.post("/widget/revoke", &owner, &json!({"bot_id": bot})).await;
    assert_eq!(response.json::<Value>().await.unwrap()["revoked"], 3, "second, its refresh, third");
    for made in [&second, &third] {
        assert_error(
            refresh(&app, made["token"].as_str().unwrap()).await,
            StatusCode::UNAUTHORIZED,
            "token_revoked",
        )
        .await;
    }
}

/// A token for `bot` signed by the server, expired `days_ago` days ago, with its row.
pub async fn expired_token(app: &TestApp, bot: i64, days_ago: i64) -> String {
    let now = now_ms();
    let expires_at = now - days_ago * DAY_MS;
    let row = NewWidgetToken {
        bot_id: bot,
        family_id: None,
        created_by: None,
        token_hash: format!("placeholder-{days_ago}"),
        created_at: expires_at - 30 * DAY_MS,
        expires_at,
    };
    let id = app.state.store.insert_widget_token(&row).await.unwrap();
    let claims = Claims {
        sub: bot.to_string(),
        typ: WIDGET.into(),
        tid: Some(id),
        ver: None,
        iat: u64::try_from(row.created_at / 1000).unwrap(),
        exp: u64::try_from(expires_at / 1000).unwrap(),
    };
    let token = app.state.auth.keys().sign(&claims).unwrap();
    app.state.store.set_widget_token_hash(id, &token_hash(&token)).await.unwrap();
    token
}

#[tokio::test]
async fn an_expired_token_refreshes_only_within_the_grace_period() {
    let app = spawn_app().await;
    let (_, bot) = owner_with_bot(&app).await;
    let lately = expired_token(&app, bot, 1).await;
    let response = refresh(&app, &lately).await;
    assert_eq!(response.status(), StatusCode::OK);
    let renewed: Value = response.json().await.unwrap();
    assert!(
        rfc3339_ms(&renewed["expires_at"]) > now_ms() + 29 * DAY_MS,
        "lives as long as the old one: {renewed}"
    );

    let long_ago = expired_token(&app, bot, 8).await;
    assert_error(refresh(&app, &long_ago).await, StatusCode::UNAUTHORIZED, "token_expired").await;
}

#[tokio::test]
async fn a_switched_off_or_deleted_bot_gets_no_new_tokens() {
    let app = spawn_app().await;
    let (owner, bot) = owner_with_bot(&app).await;
    let token = generate(&app, &owner, &json!({"bot_id": bot})).await["token"].as_str().unwrap().to_owned();
    let response = app.put(&format!("/widget/bots/{bot}"), &owner, &json!({"is_active": false})).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_error(refresh(&app, &token).await, StatusCode::FORBIDDEN, "bot_inactive").await;
    app.put(&format!("/widget/bots/{bot}"), &owner, &json!({"is_active": true})).await;
    assert_eq!(refresh(&app, &token).await.status(), StatusCode::OK);

    assert_eq!(app.delete(&format!("/widget/bots/{bot}"), &owner).await.status(), StatusCode::NO_CONTENT);
    assert_error(refresh(&app, &token).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
}
