//! The `Store` contract, run on whichever database the suite runs on (the test
//! script runs it on SQLite and on PostgreSQL), and the migrations kept in step.

use docent::clock::now_ms;
use docent::model::{
    BotFields, NewChatSession, NewMessage, NewRefreshToken, Page, RotateOutcome, SessionFilter, StatsAt,
};
use docent::store::StoreError;
use serde_json::json;

use crate::helpers::{TestApp, TestDb, spawn_app};

/// Rows in `table`, read straight from the database.
pub async fn count_rows(app: &TestApp, table: &str) -> i64 {
    count_rows_in(&app.db, table).await
}

pub async fn count_rows_in(db: &TestDb, table: &str) -> i64 {
    let sql = sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}"));
    if db.is_postgres() {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap()
    } else {
        let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap()
    }
}

#[test]
fn both_databases_have_the_same_migration_versions() {
    let (sqlite, postgres) = docent::store::embedded_migrations();
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, postgres);
    let files = |dir: &str| {
        let mut names: Vec<String> =
            std::fs::read_dir(format!("{}/migrations/{dir}", env!("CARGO_MANIFEST_DIR")))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
        names.sort();
        names
    };
    assert_eq!(files("sqlite"), files("postgres"));
}

#[tokio::test]
async fn store_contract() {
    let app = spawn_app().await;
    let store = app.state.store.as_ref();
    let applied = store.applied_migrations().await.unwrap();
    assert_eq!(applied, docent::store::embedded_migrations().0);
    store.ping().await.unwrap();

    // Settings: the first writer wins.
    assert_eq!(store.setting_or_insert("k", "one").await.unwrap(), "one");
    assert_eq!(store.setting_or_insert("k", "two").await.unwrap(), "one");

    // Users: unique without regard to case.
    let user = store.create_user("Carol", "hash", false).await.unwrap();
    assert!(!user.is_admin);
    assert!(matches!(store.create_user("carol", "hash", false).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.user_by_username("CAROL").await.unwrap().unwrap().id, user.id);
    assert_eq!(store.user_by_id(user.id).await.unwrap().unwrap().username, "Carol");
    assert!(store.user_by_id(-1).await.unwrap().is_none());
    assert_eq!(store.first_admin().await.unwrap().unwrap().username, "admin");
    assert!(store.set_password(user.id, "new-hash").await.unwrap());
    assert!(!store.set_password(-1, "x").await.unwrap());

    // Refresh tokens: rotation, reuse, expiry, revocation.
    let now = now_ms();
    let token = |hash: &str, expires_at: i64| NewRefreshToken {
        user_id: user.id,
        family: "family-1".into(),
        token_hash: hash.into(),
        created_at: now,
        expires_at,
    };
    store.insert_refresh_token(&token("h1", now + 60_000)).await.unwrap();
    let rotated = store.rotate_refresh_token("h1", &token("h2", now + 60_000), now).await.unwrap();
    assert_eq!(rotated, RotateOutcome::Rotated { user_id: user.id });
    let again = store.rotate_refresh_token("h1", &token("h3", now + 60_000), now).await.unwrap();
    assert_eq!(again, RotateOutcome::Reused);
    let revoked = store.rotate_refresh_token("h2", &token("h4", now + 60_000), now).await.unwrap();
    assert_eq!(revoked, RotateOutcome::Reused, "reuse revoked the family");
    let unknown = store.rotate_refresh_token("nope", &token("h5", now), now).await.unwrap();
    assert_eq!(unknown, RotateOutcome::Unknown);
    store
        .insert_refresh_token(&NewRefreshToken { family: "family-2".into(), ..token("old", now - 1) })
        .await
        .unwrap();
    let expired = store.rotate_refresh_token("old", &token("h6", now), now).await.unwrap();
    assert_eq!(expired, RotateOutcome::Expired);
    assert!(store.revoke_refresh_family("old", now).await.unwrap());
    assert!(!store.revoke_refresh_family("never-issued", now).await.unwrap());

    // Throttling: counts within a window, starts over after it.
    let count = |at: i64, since: i64| store.count_login_attempt("user:x", at, since);
    assert_eq!(count(now, now - 1000).await.unwrap().failures, 1);
    assert_eq!(count(now, now - 1000).await.unwrap().failures, 2);
    store.forgive_login_attempt("user:x").await.unwrap();
    let t = count(now, now - 1000).await.unwrap();
    assert_eq!((t.failures, t.window_start), (2, now));
    let fresh = count(now + 5000, now + 1).await.unwrap();
    assert_eq!((fresh.failures, fresh.window_start), (1, now + 5000), "an old window starts over");
    store.clear_login_failures("user:x").await.unwrap();
    assert_eq!(count(now, now - 1000).await.unwrap().failures, 1);
    // Purging drops expired refresh tokens and finished windows.
    assert!(store.purge_expired(now + 1, now + 10_000).await.unwrap() >= 2);
    assert_eq!(count(now, now - 1000).await.unwrap().failures, 1, "the window was purged");
    let expired_again = store.rotate_refresh_token("old", &token("h7", now), now).await.unwrap();
    assert_eq!(expired_again, RotateOutcome::Unknown, "the expired token was purged");

    // Workspaces: membership decides visibility.
    let ws = store.create_workspace(user.id, "Notes").await.unwrap();
    assert!(matches!(store.create_workspace(user.id, "NOTES").await, Err(StoreError::Conflict(_))));
    let admin = store.first_admin().await.unwrap().unwrap();
    assert!(store.workspace(admin.id, ws.id).await.unwrap().is_none());
    assert!(store.rename_workspace(admin.id, ws.id, "Stolen").await.unwrap().is_none());
    assert!(!store.delete_workspace(admin.id, ws.id).await.unwrap());
    assert_eq!(store.rename_workspace(user.id, ws.id, "Notebook").await.unwrap().unwrap().name, "Notebook");
    assert_eq!(store.list_workspaces(user.id).await.unwrap().len(), 1);

    // Bots, stats, sessions and messages.
    let at = StatsAt { now, active_since: now - 60_000 };
    let fields = BotFields::new(ws.id, "Bot".into());
    let bot_id = store.create_bot(&fields, now).await.unwrap();
    let bot = store.bot(user.id, bot_id, at).await.unwrap().unwrap();
    assert_eq!(bot.fields(), fields);
    assert!(store.bot(admin.id, bot_id, at).await.unwrap().is_none());
    let changed = BotFields { allowed_origins: vec!["https://a.example".into()], is_active: false, ..fields };
    store.update_bot(bot_id, &changed, now).await.unwrap();
    assert_eq!(store.bot(user.id, bot_id, at).await.unwrap().unwrap().fields(), changed);
    assert_eq!(store.list_bots(user.id, Some(ws.id), at).await.unwrap().len(), 1);
    assert_eq!(store.list_bots(user.id, Some(ws.id + 1000), at).await.unwrap().len(), 0);

    for (session, last) in [("s-old", now - 120_000), ("s-new", now)] {
        let new = NewChatSession {
            session_id: session.into(),
            bot_id,
            token_id: None,
            visitor_id: None,
            started_at: last,
            metadata: json!({}),
        };
        store.create_chat_session(&new).await.unwrap();
        let message = NewMessage {
            session_id: session.into(),
            bot_id,
            role: "user",
            content: "hello".into(),
            sources: "[]".into(),
            prompt_tokens: Some(3),
            completion_tokens: None,
            latency_ms: None,
            created_at: last,
        };
        store.add_message(&message).await.unwrap();
    }
    let sessions = store
        .list_chat_sessions(bot_id, at.active_since, &SessionFilter::default(), Page { limit: 10, offset: 0 })
        .await
        .unwrap();
    let summary: Vec<_> = sessions.iter().map(|s| (s.session_id.as_str(), s.status.as_str())).collect();
    assert_eq!(summary, [("s-new", "active"), ("s-old", "expired")]);
    let page = store
        .list_chat_sessions(bot_id, at.active_since, &SessionFilter::default(), Page { limit: 1, offset: 1 })
        .await
        .unwrap();
    assert_eq!(page[0].session_id, "s-old");
    let stats = store.bot(user.id, bot_id, at).await.unwrap().unwrap().stats;
    assert_eq!((stats.total_sessions, stats.active_sessions, stats.total_messages), (2, 1, 2));
    assert_eq!(stats.last_activity_at, Some(now));
    assert_eq!(store.session_messages(bot_id, "s-new").await.unwrap()[0].content, "hello");
    assert!(store.chat_session(bot_id + 1, "s-new", 0).await.unwrap().is_none());

    // Deleting cascades: workspace -> bots -> sessions -> messages.
    assert!(!store.delete_bot(admin.id, bot_id).await.unwrap());
    assert!(store.delete_workspace(user.id, ws.id).await.unwrap());
    assert!(store.bot(user.id, bot_id, at).await.unwrap().is_none());
    assert_eq!(count_rows(&app, "messages").await, 0);
    assert_eq!(count_rows(&app, "chat_sessions").await, 0);
    assert_eq!(count_rows(&app, "workspace_members").await, 0);
}

/// Many turns writing at once (on SQLite they share commits): every message is
/// stored once, in its session's order, with the id its caller was given; a
/// message for a session that does not exist fails alone.
#[tokio::test]
async fn concurrent_chat_writes_are_each_stored_once() {
    let app = spawn_app().await;
    let store = app.state.store.clone();
    let now = docent::clock::now_ms();
    let user = store.create_user("Dana", "hash", false).await.unwrap();
    let ws = store.create_workspace(user.id, "Busy").await.unwrap();
    let bot_id = store.create_bot(&BotFields::new(ws.id, "Bot".into()), now).await.unwrap();
    let sessions: Vec<String> = (0..8).map(|n| format!("busy-{n}")).collect();
    for session in &sessions {
        let new = NewChatSession {
            session_id: session.clone(),
            bot_id,
            token_id: None,
            visitor_id: None,
            started_at: now,
            metadata: json!({}),
        };
        store.create_chat_session(&new).await.unwrap();
    }

    // Each session: five questions, each one's reply after it, the third one unanswered.
    let turns = sessions.iter().map(|session| {
        let store = store.clone();
        async move {
            let mut ids = Vec::new();
            for n in 0..5 {
                let question = NewMessage::text(session, bot_id, "user", &format!("{session} q{n}"), now + n);
                let asked = store.add_message(&question).await.unwrap();
                if n == 2 {
                    store.mark_unanswered(asked).await.unwrap();
                }
                let reply =
                    NewMessage::text(session, bot_id, "assistant", &format!("{session} a{n}"), now + n);
                ids.extend([asked, store.add_message(&reply).await.unwrap()]);
            }
            ids
        }
    });
    let stray = NewMessage::text("no-such-session", bot_id, "user", "lost", now);
    let (ids, stray) = tokio::join!(futures_util::future::join_all(turns), store.add_message(&stray));
    assert!(stray.is_err(), "a message for a missing session is not stored");

    let mut all_ids: Vec<i64> = Vec::new();
    for (session, ids) in sessions.iter().zip(&ids) {
        let stored = store.session_messages(bot_id, session).await.unwrap();
        let contents: Vec<&str> = stored.iter().map(|m| m.content.as_str()).collect();
        let expected: Vec<String> =
            (0..5).flat_map(|n| [format!("{session} q{n}"), format!("{session} a{n}")]).collect();
        assert_eq!(contents, expected);
        assert_eq!(&stored.iter().map(|m| m.id).collect::<Vec<_>>(), ids);
        all_ids.extend(ids.iter().copied());
    }
    all_ids.sort_unstable();
    all_ids.dedup();
    assert_eq!(all_ids.len(), 80);
    let unanswered = store.unanswered_questions(bot_id, Page { limit: 50, offset: 0 }).await.unwrap();
    assert_eq!(unanswered.len(), 8, "{unanswered:?}");
    assert_eq!(count_rows(&app, "messages").await, 80);
    app.stop().await;
}
