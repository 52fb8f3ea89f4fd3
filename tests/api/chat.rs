//! The chat turn: a visitor's message answered from the bot's documents, as
//! JSON and as a server-sent-event stream; what is stored; bad input.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::documents::settled;
use crate::helpers::{TestApp, assert_error, spawn_app, validation_fields};
use crate::widget_tokens::generate;

const ACCOUNT_DOC: &str = "# Account\n\n## Password\n\nAccounts are free for everyone who signs up. To reset your \
     password, open Settings and choose Security. A reset link is then sent to your email address.\n\n## Billing\n\n\
     Invoices are sent on the first day of each month.";

/// A bot answering from one document, a widget token, and a started session.
pub async fn visitor(app: &TestApp, workspace_name: &str) -> (String, String, i64) {
    let owner = app.admin_token().await;
    let workspace = app.workspace(&owner, workspace_name).await;
    let response = app
        .post(
            &format!("/workspaces/{workspace}/documents"),
            &owner,
            &json!({"title": "Account help", "text": ACCOUNT_DOC}),
        )
        .await;
    assert!(response.status().is_success());
    let id = response.json::<Value>().await.unwrap()["documents"][0]["id"].as_i64().unwrap();
    assert_eq!(settled(app, &owner, workspace, id).await["status"], "ready");
    let bot =
        app.bot(&owner, &json!({"name": "Helper", "workspace_id": workspace})).await["id"].as_i64().unwrap();
    let token = generate(app, &owner, &json!({"bot_id": bot})).await["token"].as_str().unwrap().to_owned();
    let session_id = start_session(app, &token).await;
    (token, session_id, bot)
}

/// Adds a document to the workspace of `bot` and waits until it can be found.
async fn add_to_workspace_of(app: &TestApp, bot: i64, title: &str, text: &str) {
    let owner = app.admin_token().await;
    let bot: Value = app.get(&format!("/widget/bots/{bot}"), &owner).await.json().await.unwrap();
    let workspace = bot["workspace_id"].as_i64().unwrap();
    let document = json!({"title": title, "text": text});
    let added: Value = app
        .post(&format!("/workspaces/{workspace}/documents"), &owner, &document)
        .await
        .json()
        .await
        .unwrap();
    let id = added["documents"][0]["id"].as_i64().unwrap();
    assert_eq!(settled(app, &owner, workspace, id).await["status"], "ready");
}

/// A new session of the token's bot.
pub async fn start_session(app: &TestApp, token: &str) -> String {
    let started: Value = app
        .client
        .post(app.url("/widget/session/start"))
        .bearer_auth(token)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    started["session_id"].as_str().unwrap().to_owned()
}

pub async fn ask(
    app: &TestApp,
    token: &str,
    session_id: &str,
    message: &str,
    stream: bool,
) -> reqwest::Response {
    let mut request = app.client.post(app.url("/widget/chat")).bearer_auth(token);
    if stream {
        request = request.header("accept", "text/event-stream");
    }
    request.json(&json!({"session_id": session_id, "message": message})).send().await.unwrap()
}

pub async fn history(app: &TestApp, token: &str, session_id: &str) -> Vec<Value> {
    let path = format!("/widget/session/{session_id}/messages");
    let body: Value =
        app.client.get(app.url(&path)).bearer_auth(token).send().await.unwrap().json().await.unwrap();
    body["messages"].as_array().unwrap().clone()
}

/// (event, data) pairs of an SSE body.
pub fn events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter_map(|block| {
            let mut name = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(rest) = line.strip_prefix("event:") {
                    name = Some(rest.trim().to_owned());
                } else if let Some(rest) = line.strip_prefix("data:") {
                    data.push_str(rest.strip_prefix(' ').unwrap_or(rest));
                }
            }
            Some((name?, serde_json::from_str(&data).unwrap()))
        })
        .collect()
}

#[tokio::test]
async fn a_question_is_answered_from_the_documents_and_stored() {
    let app = spawn_app().await;
    let (token, session_id, bot) = visitor(&app, "Help").await;
    let response = ask(&app, &token, &session_id, "How do I reset my password?", false).await;
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.unwrap();
    let reply = answer["reply"].as_str().unwrap();
    assert!(reply.contains("To reset your password, open Settings and choose Security."), "{reply}");
    assert!(!reply.contains("Invoices"), "{reply}");
    assert_eq!(answer["session_id"], session_id.as_str());
    assert_eq!(answer["sources"][0]["title"], "Account help");
    assert!(answer["sources"][0]["snippet"].as_str().unwrap().contains("reset"), "{answer}");

    let messages = history(&app, &token, &session_id).await;
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(messages[0]["content"], "How do I reset my password?");
    assert_eq!(messages[1]["role"], "assistant");
    assert_eq!(messages[1]["id"], answer["message_id"]);
    assert_eq!(messages[1]["content"], reply);
    assert_eq!(messages[1]["sources"], answer["sources"]);

    // The owner's transcript and the bot's stats show it too.
    let owner = app.admin_token().await;
    let bot_now: Value = app.get(&format!("/widget/bots/{bot}"), &owner).await.json().await.unwrap();
    assert_eq!(bot_now["stats"]["total_messages"], 2);
}

#[tokio::test]
async fn the_reply_streams_as_server_sent_events() {
    let app = spawn_app().await;
    let (token, session_id, _) = visitor(&app, "Help").await;
    let response = ask(&app, &token, &session_id, "When are invoices sent?", true).await;
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/event-stream"), "{content_type}");
    assert_eq!(response.headers()["x-accel-buffering"], "no");
    let events = events(&response.text().await.unwrap());
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    let deltas = names.iter().take_while(|n| **n == "delta").count();
    assert!(deltas > 1, "the reply comes in pieces: {names:?}");
    assert_eq!(&names[deltas..], ["sources", "done"]);
    let streamed: String = events[..deltas].iter().map(|(_, data)| data["text"].as_str().unwrap()).collect();
    let done = &events[deltas + 1].1;
    assert_eq!(streamed, done["reply"].as_str().unwrap());
    assert!(streamed.contains("Invoices are sent on the first day of each month."), "{streamed}");
    assert_eq!(events[deltas].1[0]["title"], "Account help");

    let messages = history(&app, &token, &session_id).await;
    assert_eq!(messages[1]["id"], done["message_id"]);
    assert_eq!(messages[1]["content"], done["reply"]);
}

#[tokio::test]
async fn without_a_relevant_passage_the_bot_says_so() {
    let app = spawn_app().await;
    let (token, session_id, _) = visitor(&app, "Help").await;
    let answer: Value =
        ask(&app, &token, &session_id, "Do you ship to Antarctica?", false).await.json().await.unwrap();
    assert_eq!(answer["reply"], docent::model::DEFAULT_FALLBACK);
    assert_eq!(answer["sources"], json!([]));
}

#[tokio::test]
async fn a_one_line_document_answers_its_question() {
    let app = spawn_app().await;
    let (token, session_id, bot) = visitor(&app, "Help").await;
    add_to_workspace_of(&app, bot, "Shipping", "# Shipping\nOrders ship in two days.").await;
    let answer: Value =
        ask(&app, &token, &session_id, "How long does shipping take?", false).await.json().await.unwrap();
    assert_eq!(answer["reply"], "From **Shipping**:\n\n“Orders ship in two days.”");
    assert_eq!(answer["sources"][0]["title"], "Shipping");
    assert_eq!(answer["sources"].as_array().unwrap().len(), 1, "only the quoted source is cited");
}

#[tokio::test]
async fn a_follow_up_question_is_searched_with_the_question_it_continues() {
    let app = spawn_app().await;
    let (token, session_id, bot) = visitor(&app, "Help").await;
    let documents = [
        (
            "Installing Acme",
            "# Installing Acme\n\nOn Linux, install Acme with your package manager: apt install acme.\n\n\
             On Windows, run the Acme setup program from the downloads page and follow its steps.",
        ),
        ("Backups", "# Backups\n\nOn Windows, backups are kept in the Documents folder for thirty days."),
    ];
    for (title, text) in documents {
        add_to_workspace_of(&app, bot, title, text).await;
    }
    let reply =
        |answer: Value| (answer["reply"].as_str().unwrap().to_owned(), answer["sources"][0]["title"].clone());

    // On its own, "And on Windows?" finds the short Backups page first.
    let alone = start_session(&app, &token).await;
    let answer = ask(&app, &token, &alone, "And on Windows?", false).await.json().await.unwrap();
    assert_eq!(reply(answer).1, "Backups", "the premise of this test");

    // After a question about installing, it is searched for with that question.
    let answer = ask(&app, &token, &session_id, "How do I install Acme?", false).await.json().await.unwrap();
    assert_eq!(reply(answer).1, "Installing Acme");
    let answer = ask(&app, &token, &session_id, "And on Windows?", true).await.text().await.unwrap();
    let done = events(&answer).pop().unwrap().1;
    assert!(done["reply"].as_str().unwrap().contains("run the Acme setup program"), "{done}");
    assert!(done["reply"].as_str().unwrap().starts_with("From **Installing Acme**"), "{done}");

    // A question that stands on its own is searched for as it is.
    let answer =
        ask(&app, &token, &session_id, "How long are backups kept?", false).await.json().await.unwrap();
    let (text, title) = reply(answer);
    assert_eq!(title, "Backups", "{text}");
}

#[tokio::test]
async fn bad_messages_and_sessions_are_refused_before_anything_is_stored() {
    let app = spawn_app().await;
    let (token, session_id, _) = visitor(&app, "Help").await;
    for message in [String::new(), "   \n ".into(), "x".repeat(4001), "hi\u{0}there".into()] {
        let fields = validation_fields(ask(&app, &token, &session_id, &message, true).await).await;
        assert!(fields["message"].is_string(), "{fields}");
    }
    let response = app
        .client
        .post(app.url("/widget/chat"))
        .bearer_auth(&token)
        .json(&json!({"session_id": session_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(validation_fields(response).await["message"], "is required");
    for unknown in ["no-such-session", "../../etc"] {
        assert_error(
            ask(&app, &token, unknown, "hello there", true).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    assert!(history(&app, &token, &session_id).await.is_empty(), "nothing was stored");

    let stranger_session = {
        let (other_token, other_session, _) = visitor(&app, "Other help").await;
        assert_eq!(
            ask(&app, &other_token, &other_session, "reset password", false).await.status(),
            StatusCode::OK
        );
        other_session
    };
    assert_error(
        ask(&app, &token, &stranger_session, "hello there", false).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn a_visitor_who_leaves_mid_stream_still_gets_the_reply_stored() {
    let app = spawn_app().await;
    let (token, session_id, _) = visitor(&app, "Help").await;
    let response = ask(&app, &token, &session_id, "How do I reset my password?", true).await;
    assert_eq!(response.status(), StatusCode::OK);
    drop(response); // gone before reading a byte of the stream
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let messages = loop {
        let messages = history(&app, &token, &session_id).await;
        if messages.len() == 2 || std::time::Instant::now() > deadline {
            break messages;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(messages.len(), 2, "the reply was stored: {messages:?}");
    assert!(messages[1]["content"].as_str().unwrap().contains("open Settings and choose Security"));
}

#[tokio::test]
async fn analytics_count_a_scripted_conversation() {
    let app = spawn_app().await;
    let (token, session_id, bot) = visitor(&app, "Help").await;
    for question in ["How do I reset my password?", "When are invoices sent?", "Do you ship to Antarctica?"] {
        assert_eq!(ask(&app, &token, &session_id, question, false).await.status(), StatusCode::OK);
    }
    let owner = app.admin_token().await;
    let path = format!("/widget/bots/{bot}/analytics?interval=hour");
    let body: Value = app.get(&path, &owner).await.json().await.unwrap();
    let totals = &body["totals"];
    assert_eq!(totals["sessions"], 1, "{body}");
    assert_eq!(totals["messages"], 3);
    assert_eq!(totals["replies"], 3);
    assert_eq!(totals["unanswered"], 1);
    assert_eq!(totals["tokens"], 0, "no language model");
    assert!(totals["latency_ms_mean"].as_f64().unwrap() >= 0.0);
    assert!(totals["latency_ms_p95"].is_number());
    let series = body["series"].as_array().unwrap();
    assert_eq!(series.len(), 30 * 24 + 1, "the last 30 days by the hour, the current hour included");
    let last = series.last().unwrap();
    assert_eq!(last["messages"], 3, "{last}");
    assert_eq!(series.iter().map(|b| b["messages"].as_i64().unwrap()).sum::<i64>(), 3);
    assert!(series[0]["latency_ms_mean"].is_null(), "no replies, no latency");

    let days: Value = app.get(&format!("/widget/bots/{bot}/analytics"), &owner).await.json().await.unwrap();
    assert_eq!(days["interval"], "day");
    assert_eq!(days["totals"]["messages"], 3);
    let empty: Value = app
        .get(
            &format!("/widget/bots/{bot}/analytics?from=2020-01-01T00:00:00Z&to=2020-01-03T00:00:00Z"),
            &owner,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(empty["series"].as_array().unwrap().len(), 2);
    assert_eq!(empty["totals"]["messages"], 0);

    for (query, field) in [
        ("interval=week", "interval"),
        ("from=yesterday", "from"),
        ("from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "from"),
        ("interval=hour&from=2020-01-01T00:00:00Z&to=2021-01-01T00:00:00Z", "from"),
    ] {
        let response = app.get(&format!("/widget/bots/{bot}/analytics?{query}"), &owner).await;
        let fields = crate::helpers::validation_fields(response).await;
        assert!(fields[field].is_string(), "{query}: {fields}");
    }
    let stranger = app.user_token("stranger").await;
    assert_error(
        app.get(&format!("/widget/bots/{bot}/analytics"), &stranger).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn overall_analytics_add_up_the_callers_bots() {
    let app = spawn_app().await;
    let (help_token, help_session, _) = visitor(&app, "Help").await;
    let (shop_token, shop_session, _) = visitor(&app, "Shop").await;
    for _ in 0..2 {
        let response = ask(&app, &help_token, &help_session, "How do I reset my password?", false).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let response = ask(&app, &shop_token, &shop_session, "Do you ship to Antarctica?", false).await;
    assert_eq!(response.status(), StatusCode::OK);
    let owner = app.admin_token().await;

    let all: Value = app.get("/widget/analytics?interval=hour", &owner).await.json().await.unwrap();
    assert_eq!(all["totals"]["sessions"], 2, "{all}");
    assert_eq!(all["totals"]["messages"], 3);
    assert_eq!(all["totals"]["unanswered"], 1);
    assert_eq!(all["series"].as_array().unwrap().last().unwrap()["messages"], 3);

    let workspaces: Vec<Value> = app.get("/workspaces", &owner).await.json().await.unwrap();
    let shop = workspaces.iter().find(|w| w["name"] == "Shop").unwrap()["id"].as_i64().unwrap();
    let one: Value =
        app.get(&format!("/widget/analytics?workspace_id={shop}"), &owner).await.json().await.unwrap();
    assert_eq!(one["totals"]["messages"], 1, "{one}");
    assert_eq!(one["totals"]["unanswered"], 1);

    // Another user sees none of it, and not the workspace.
    let stranger = app.user_token("stranger").await;
    let theirs: Value = app.get("/widget/analytics", &stranger).await.json().await.unwrap();
    assert_eq!(theirs["totals"]["messages"], 0);
    assert_eq!(theirs["totals"]["sessions"], 0);
    let path = format!("/widget/analytics?workspace_id={shop}");
    assert_error(app.get(&path, &stranger).await, StatusCode::NOT_FOUND, "not_found").await;
    let fields = validation_fields(app.get("/widget/analytics?interval=minute", &owner).await).await;
    assert!(fields["interval"].is_string());
}

#[tokio::test]
async fn the_owner_filters_sessions_by_time_and_unanswered_questions() {
    let app = spawn_app().await;
    let (token, answered, bot) = visitor(&app, "Help").await;
    let owner = app.admin_token().await;
    assert_eq!(
        ask(&app, &token, &answered, "How do I reset my password?", false).await.status(),
        StatusCode::OK
    );
    let stuck = start_session(&app, &token).await;
    assert_eq!(
        ask(&app, &token, &stuck, "Do you ship to <b>Antarctica</b>?", false).await.status(),
        StatusCode::OK
    );
    assert_eq!(ask(&app, &token, &stuck, "When are invoices sent?", false).await.status(), StatusCode::OK);

    let list = |query: &str| {
        app.client.get(app.url(&format!("/widget/bots/{bot}/sessions{query}"))).bearer_auth(&owner).send()
    };
    let all: Value = list("").await.unwrap().json().await.unwrap();
    assert_eq!(all.as_array().unwrap().len(), 2);
    let stuck_row = all.as_array().unwrap().iter().find(|s| s["session_id"] == stuck.as_str()).unwrap();
    assert_eq!(stuck_row["unanswered_count"], 1);
    assert_eq!(stuck_row["message_count"], 4);
    assert_eq!(stuck_row["first_message"], "Do you ship to <b>Antarctica</b>?");

    let only: Value = list("?unanswered=true").await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = only.as_array().unwrap().iter().map(|s| s["session_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [stuck.as_str()]);
    let both: Value = list("?unanswered=false&limit=5").await.unwrap().json().await.unwrap();
    assert_eq!(both.as_array().unwrap().len(), 2);

    let later = docent::clock::rfc3339(docent::clock::now_ms() + 60_000);
    let earlier = docent::clock::rfc3339(docent::clock::now_ms() - 3_600_000);
    let none: Value = list(&format!("?from={later}")).await.unwrap().json().await.unwrap();
    assert_eq!(none, json!([]));
    let none: Value = list(&format!("?to={earlier}")).await.unwrap().json().await.unwrap();
    assert_eq!(none, json!([]));
    let window: Value =
        list(&format!("?from={earlier}&to={later}&unanswered=true")).await.unwrap().json().await.unwrap();
    assert_eq!(window.as_array().unwrap().len(), 1);

    let fields = validation_fields(list("?from=yesterday").await.unwrap()).await;
    assert!(fields.get("from").is_some(), "{fields}");
    let fields = validation_fields(list(&format!("?from={later}&to={earlier}")).await.unwrap()).await;
    assert!(fields.get("from").is_some(), "{fields}");
    assert_eq!(list("?unanswered=maybe").await.unwrap().status(), StatusCode::BAD_REQUEST);
}
