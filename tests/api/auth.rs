//! Platform accounts: login, tokens, refresh rotation and reuse, logout, throttling.

use docent::auth::tokens::{ACCESS, Claims, Keys};
use docent::startup::Application;
use reqwest::{Response, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::helpers::{ADMIN, ADMIN_PASSWORD, TestApp, assert_error, spawn_app, spawn_app_with, test_config};

#[tokio::test]
async fn login_returns_a_token_pair_that_opens_me() {
    let app = spawn_app().await;
    let pair = app.tokens(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(pair["token_type"], "bearer");
    assert_eq!(pair["expires_in"], 3600);
    assert!(pair["refresh_token"].as_str().unwrap().len() >= 43);
    let token = pair["access_token"].as_str().unwrap();
    let me: Value = app.get("/auth/me", token).await.json().await.unwrap();
    assert_eq!(me["username"], ADMIN);
    assert!(me["id"].as_i64().is_some());

    // Usernames are matched without regard to case.
    assert_eq!(app.login("ADMIN", ADMIN_PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_user_and_wrong_password_answer_alike() {
    let app = spawn_app().await;
    let wrong = app.login(ADMIN, "not the password").await;
    let wrong = assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let unknown = app.login("nobody", "not the password").await;
    let unknown = assert_error(unknown, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(wrong, unknown);
}

#[tokio::test]
async fn bad_access_tokens_are_refused() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/auth/me")).send().await.unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let response = app.get("/auth/me", "garbage").await;
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;

    let keys = app.state.auth.keys();
    let now = jsonwebtoken::get_current_timestamp();
    let claims = |typ: &str, exp: u64| Claims {
        sub: "1".into(),
        typ: typ.into(),
        tid: None,
        ver: Some(0),
        iat: now - 100,
        exp,
    };
    let expired = keys.sign(&claims(ACCESS, now - 10)).unwrap();
    assert_error(app.get("/auth/me", &expired).await, StatusCode::UNAUTHORIZED, "token_expired").await;
    let widget = keys.sign(&claims("widget", now + 600)).unwrap();
    assert_error(app.get("/auth/me", &widget).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let forged = Keys::new(b"some other key of at least 32 bytes!").sign(&claims(ACCESS, now + 600)).unwrap();
    assert_error(app.get("/auth/me", &forged).await, StatusCode::UNAUTHORIZED, "invalid_token").await;

    // `alg: none`, and a valid token's claims re-signed as unsigned.
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let body = b64.encode(serde_json::to_vec(&claims(ACCESS, now + 600)).unwrap());
    for header in [r#"{"alg":"none","typ":"JWT"}"#, r#"{"alg":"HS512","typ":"JWT"}"#] {
        let token = format!("{}.{body}.", b64.encode(header));
        assert_error(app.get("/auth/me", &token).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    }
}

#[tokio::test]
async fn refresh_rotates_and_reuse_ends_the_login() {
    let app = spawn_app().await;
    let first = app.tokens(ADMIN, ADMIN_PASSWORD).await;
    let old = first["refresh_token"].as_str().unwrap();

    let response = app.post_anon("/auth/refresh", &json!({"refresh_token": old})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let second: Value = response.json().await.unwrap();
    let new = second["refresh_token"].as_str().unwrap();
    assert_ne!(new, old);
    let token = second["access_token"].as_str().unwrap();
    assert_eq!(app.get("/auth/me", token).await.status(), StatusCode::OK);

    // The used token again: refused, and the whole login is revoked, new token included.
    let response = app.post_anon("/auth/refresh", &json!({"refresh_token": old})).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "token_revoked").await;
    let response = app.post_anon("/auth/refresh", &json!({"refresh_token": new})).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "token_revoked").await;

    // Another login of the same user is untouched.
    let other = app.tokens(ADMIN, ADMIN_PASSWORD).await;
    let response = app.post_anon("/auth/refresh", &json!({"refresh_token": other["refresh_token"]})).await;
    assert_eq!(response.status(), StatusCode::OK);

    let response = app.post_anon("/auth/refresh", &json!({"refresh_token": "made-up"})).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let response = app.post_anon("/auth/refresh", &json!({})).await;
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}

#[tokio::test]
async fn refresh_tokens_are_stored_hashed() {
    let app = spawn_app().await;
    let pair = app.tokens(ADMIN, ADMIN_PASSWORD).await;
    let raw = pair["refresh_token"].as_str().unwrap();
    let stored: Vec<String> = if app.db.is_postgres() {
        let pool = sqlx::PgPool::connect(&app.db.url).await.unwrap();
        sqlx::query_scalar("SELECT token_hash FROM refresh_tokens").fetch_all(&pool).await.unwrap()
    } else {
        let pool = sqlx::SqlitePool::connect(&app.db.url).await.unwrap();
        sqlx::query_scalar("SELECT token_hash FROM refresh_tokens").fetch_all(&pool).await.unwrap()
    };
    assert_eq!(stored, [docent::auth::tokens::token_hash(raw)]);
    assert!(!stored.iter().any(|h| h.contains(raw)));
}

#[tokio::test]
async fn expired_refresh_tokens_are_refused() {
    let app = spawn_app_with(|c| c.auth.refresh_token_days = 1).await;
    let pair = app.tokens(ADMIN, ADMIN_PASSWORD).await;
    let raw = pair["refresh_token"].as_str().unwrap();
    let hash = docent::auth::tokens::token_hash(raw);
    let sql = "UPDATE refresh_tokens SET expires_at = 1 WHERE token_hash = $1";
    if app.db.is_postgres() {
        let pool = sqlx::PgPool::connect(&app.db.url).await.unwrap();
        sqlx::query(sql).bind(&hash).execute(&pool).await.unwrap();
    } else {
        let pool = sqlx::SqlitePool::connect(&app.db.url).await.unwrap();
        sqlx::query(sql).bind(&hash).execute(&pool).await.unwrap();
    }
    let response = app.post_anon("/auth/refresh", &json!({"refresh_token": raw})).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "token_expired").await;
}

#[tokio::test]
async fn logout_ends_the_login() {
    let app = spawn_app().await;
    let pair = app.tokens(ADMIN, ADMIN_PASSWORD).await;
    let refresh = &pair["refresh_token"];
    let response = app.post_anon("/auth/logout", &json!({"refresh_token": refresh})).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = app.post_anon("/auth/refresh", &json!({"refresh_token": refresh})).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "token_revoked").await;
    let response = app.post_anon("/auth/logout", &json!({"refresh_token": "unknown"})).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[tokio::test]
async fn a_new_password_ends_every_login() {
    let app = spawn_app().await;
    let pair = app.tokens(ADMIN, ADMIN_PASSWORD).await;
    let changed =
        app.state.auth.set_password(ADMIN, SecretString::from("a brand new password")).await.unwrap();
    assert!(changed);
    let response = app.post_anon("/auth/refresh", &json!({"refresh_token": pair["refresh_token"]})).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "token_revoked").await;
    assert_eq!(app.login(ADMIN, ADMIN_PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login(ADMIN, "a brand new password").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn failed_logins_are_throttled_per_username() {
    let app = spawn_app_with(|c| c.auth.max_failed_logins_per_user = 3).await;
    for _ in 0..3 {
        assert_eq!(app.login(ADMIN, "wrong password").await.status(), StatusCode::UNAUTHORIZED);
    }
    let response = app.login(ADMIN, "wrong password").await;
    let retry: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=15 * 60).contains(&retry), "Retry-After {retry}");
    assert_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Even the right password waits until the window is over.
    assert_eq!(app.login(ADMIN, ADMIN_PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
    // Other users are not locked out by it.
    app.user_token("bob").await;
}

#[tokio::test]
async fn failed_logins_are_throttled_per_address() {
    let app = spawn_app_with(|c| c.auth.max_failed_logins_per_address = 4).await;
    for i in 0..4 {
        let response = app.login(&format!("user{i}"), "wrong password").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = app.login("someone-else", "wrong password").await;
    assert_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[tokio::test]
async fn a_success_clears_the_username_count() {
    let app = spawn_app_with(|c| c.auth.max_failed_logins_per_user = 3).await;
    for _ in 0..2 {
        app.login(ADMIN, "wrong password").await;
    }
    app.tokens(ADMIN, ADMIN_PASSWORD).await;
    for _ in 0..2 {
        assert_eq!(app.login(ADMIN, "wrong password").await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.login(ADMIN, ADMIN_PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn nodes_on_one_database_share_the_signing_key_and_throttle() {
    let app = spawn_app_with(|c| c.auth.max_failed_logins_per_user = 2).await;
    let token = app.admin_token().await;
    // A second node on the same database: no secret configured on either.
    // A second node: the same database, a data folder of its own.
    let second_dir = tempfile::tempdir().unwrap();
    let mut config = test_config(second_dir.path(), &app.db.url);
    config.auth.max_failed_logins_per_user = 2;
    let second = Application::build(config).await.unwrap();
    let on_second =
        second.state().auth.authenticate(&token).await.expect("the second node accepts the token");
    assert_eq!(on_second.username, ADMIN);

    for _ in 0..2 {
        app.login(ADMIN, "wrong").await;
    }
    let client = second.state().auth.clone();
    let refused = client.login(ADMIN, SecretString::from(ADMIN_PASSWORD), None).await;
    assert!(matches!(refused, Err(docent::auth::AuthError::Throttled(_))), "{refused:?}");
}

#[tokio::test]
async fn a_configured_secret_key_signs_tokens() {
    let key = "k".repeat(40);
    let app = spawn_app_with(|c| c.secrets.secret_key = Some(SecretString::from(key.clone()))).await;
    let token = app.admin_token().await;
    assert!(Keys::new(key.as_bytes()).verify(&token, ACCESS).is_ok());
}

#[tokio::test]
async fn without_a_configured_password_the_first_admin_gets_a_random_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::helpers::TestDb::new(dir.path()).await;
    let mut config = test_config(dir.path(), &db.url);
    config.secrets.admin_password = None;
    let mut app = Application::build(config.clone()).await.unwrap();
    let bootstrap = app.take_bootstrap().expect("an administrator was created");
    use secrecy::ExposeSecret;
    let password = bootstrap.generated_password.expect("a generated password").expose_secret().to_owned();
    assert!(password.len() >= 16);
    let pair = app.state().auth.login(ADMIN, SecretString::from(password), None).await;
    assert!(pair.is_ok());
    // A second start creates nobody and prints nothing.
    drop(app);
    let mut again = Application::build(config).await.unwrap();
    assert!(again.take_bootstrap().is_none());
    assert_eq!(again.state().store.count_users().await.unwrap(), 1);
}

#[tokio::test]
async fn concurrent_guesses_cannot_outrun_the_limit() {
    let app = spawn_app_with(|c| {
        c.auth.max_failed_logins_per_user = 5;
        c.auth.max_failed_logins_per_address = 1000;
    })
    .await;
    let attempts = (0..20).map(|_| app.login(ADMIN, "a wrong password"));
    let statuses: Vec<StatusCode> =
        futures_util::future::join_all(attempts).await.iter().map(|r| r.status()).collect();
    let checked = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!((checked, refused), (5, 15), "{statuses:?}");
}

#[tokio::test]
async fn a_new_password_ends_access_tokens_too() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    assert_eq!(app.get("/auth/me", &token).await.status(), StatusCode::OK);
    app.state.auth.set_password(ADMIN, SecretString::from("another new password")).await.unwrap();
    assert_error(app.get("/auth/me", &token).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
    let fresh = app.tokens(ADMIN, "another new password").await;
    let fresh = fresh["access_token"].as_str().unwrap();
    assert_eq!(app.get("/auth/me", fresh).await.status(), StatusCode::OK);
}

/// The `docent_refresh` cookie a console answer sets: its value and attributes.
fn console_cookie(response: &Response) -> (String, String) {
    let set = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    let value = set.split(';').next().unwrap().strip_prefix("docent_refresh=").unwrap().to_owned();
    (value, set)
}

async fn console_post(app: &TestApp, path: &str, cookie: Option<&str>, body: Option<&Value>) -> Response {
    let mut request = app.client.post(app.url(path)).header("x-docent-console", "1");
    if let Some(cookie) = cookie {
        request = request.header("cookie", format!("theme=dark; docent_refresh={cookie}"));
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn the_console_keeps_its_refresh_token_in_an_http_only_cookie() {
    let app = spawn_app().await;
    let credentials = json!({"username": ADMIN, "password": ADMIN_PASSWORD});

    let signed_in = console_post(&app, "/auth/console/login", None, Some(&credentials)).await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    let (refresh, attributes) = console_cookie(&signed_in);
    assert!(refresh.len() >= 32, "a refresh token: {attributes}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/auth/console", "Max-Age=2592000"] {
        assert!(attributes.contains(attribute), "{attribute} in {attributes}");
    }
    assert!(!attributes.contains("Secure"), "a plain-HTTP public address cannot keep a Secure cookie");
    assert_eq!(signed_in.headers()["cache-control"], "no-store");
    let body: Value = signed_in.json().await.unwrap();
    assert!(body.get("refresh_token").is_none(), "script never sees the refresh token: {body}");
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(app.get("/auth/me", access).await.status(), StatusCode::OK);

    // A reload: the cookie alone gives a new access token and a new cookie.
    let refreshed = console_post(&app, "/auth/console/refresh", Some(&refresh), None).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let (next, _) = console_cookie(&refreshed);
    assert_ne!(next, refresh);
    let body: Value = refreshed.json().await.unwrap();
    assert_eq!(app.get("/auth/me", body["access_token"].as_str().unwrap()).await.status(), StatusCode::OK);

    // The old cookie was used up; presenting it again ends the login.
    let reused = console_post(&app, "/auth/console/refresh", Some(&refresh), None).await;
    let (cleared, _) = console_cookie(&reused);
    assert!(cleared.is_empty(), "a failed refresh clears the cookie");
    assert_error(reused, StatusCode::UNAUTHORIZED, "token_revoked").await;
    let after = console_post(&app, "/auth/console/refresh", Some(&next), None).await;
    assert_error(after, StatusCode::UNAUTHORIZED, "token_revoked").await;

    // Sign out ends the login and clears the cookie.
    let again = console_post(&app, "/auth/console/login", None, Some(&credentials)).await;
    let (cookie, _) = console_cookie(&again);
    let out = console_post(&app, "/auth/console/logout", Some(&cookie), None).await;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert!(console_cookie(&out).1.contains("Max-Age=0"));
    let gone = console_post(&app, "/auth/console/refresh", Some(&cookie), None).await;
    assert_eq!(gone.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test]
async fn console_routes_refuse_requests_without_their_header_or_cookie() {
    let app = spawn_app().await;
    let credentials = json!({"username": ADMIN, "password": ADMIN_PASSWORD});

    // Another site's form or fetch cannot add the header without a preflight.
    let bare = app.client.post(app.url("/auth/console/login")).json(&credentials).send().await.unwrap();
    assert_error(bare, StatusCode::FORBIDDEN, "forbidden").await;
    let bare = app.client.post(app.url("/auth/console/refresh")).send().await.unwrap();
    assert_error(bare, StatusCode::FORBIDDEN, "forbidden").await;

    let none = console_post(&app, "/auth/console/refresh", None, None).await;
    assert_error(none, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let junk = console_post(&app, "/auth/console/refresh", Some("not-a-token"), None).await;
    assert_error(junk, StatusCode::UNAUTHORIZED, "invalid_token").await;

    let wrong = json!({"username": ADMIN, "password": "not the password"});
    let refused = console_post(&app, "/auth/console/login", None, Some(&wrong)).await;
    assert!(refused.headers().get("set-cookie").is_none());
    assert_error(refused, StatusCode::UNAUTHORIZED, "invalid_credentials").await;

    // Signing out without a login is fine (the page may be stale).
    let out = console_post(&app, "/auth/console/logout", None, None).await;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    app.stop().await;
}

#[tokio::test]
async fn behind_https_the_console_cookie_is_secure() {
    let app = spawn_app_with(|c| c.public_url = "https://docent.example.com".into()).await;
    let credentials = json!({"username": ADMIN, "password": ADMIN_PASSWORD});
    let signed_in = console_post(&app, "/auth/console/login", None, Some(&credentials)).await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    assert!(console_cookie(&signed_in).1.contains("; Secure"));
    app.stop().await;
}
