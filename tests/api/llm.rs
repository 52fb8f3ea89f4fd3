//! Replies written by a language model: a real HTTP server in the test speaks
//! the OpenAI chat-completions streaming protocol, and misbehaves on demand.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode as AxumStatus;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::chat::{ask, events, history, visitor};
use crate::helpers::{TestApp, assert_error, spawn_app_with};

/// How the fake provider answers the next requests.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// Streams the reply in pieces, then usage and `[DONE]`.
    Answer,
    /// 500 with an error body.
    Fail,
    /// 429 once, then answers.
    BusyOnce,
    /// Headers, then nothing ever.
    Silent,
    /// One piece, then the connection ends.
    Cut,
    /// Says it cannot answer: the marker split over pieces, then a fallback
    /// in French.
    Decline,
    /// The marker alone.
    DeclineBare,
}

const PIECES: [&str; 4] = ["Open ", "Settings, ", "then **Security**", "."];
const DECLINE: [&str; 4] = ["[[NO_", "ANSWER]]", " Je ne l'ai pas trouvé ", "dans la documentation."];

struct Provider {
    mode: Mutex<Mode>,
    requests: Mutex<Vec<Value>>,
}

async fn completions(State(p): State<Arc<Provider>>, axum::Json(body): axum::Json<Value>) -> Response {
    p.requests.lock().unwrap().push(body);
    let mode = {
        let mut mode = p.mode.lock().unwrap();
        let now = *mode;
        if now == Mode::BusyOnce {
            *mode = Mode::Answer;
        }
        now
    };
    let sse = |chunks: Vec<String>| {
        let stream = futures_util::stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>));
        ([("content-type", "text/event-stream")], Body::from_stream(stream)).into_response()
    };
    let piece =
        |text: &str| format!("data: {}\n\n", json!({"choices": [{"index": 0, "delta": {"content": text}}]}));
    let pieces: &[&str] = match mode {
        Mode::Decline => &DECLINE,
        Mode::DeclineBare => &["[[NO_ANSWER]]"],
        _ => &PIECES,
    };
    match mode {
        Mode::Answer | Mode::Decline | Mode::DeclineBare => {
            let mut chunks: Vec<String> =
                vec![format!("data: {}\n\n", json!({"choices": [{"delta": {"role": "assistant"}}]}))];
            chunks.extend(pieces.iter().map(|p| piece(p)));
            chunks
                .push(format!("data: {}\n\n", json!({"choices": [{"delta": {}, "finish_reason": "stop"}]})));
            chunks.push(format!(
                "data: {}\n\n",
                json!({"choices": [], "usage": {"prompt_tokens": 321, "completion_tokens": 9}})
            ));
            chunks.push("data: [DONE]\n\n".into());
            sse(chunks)
        }
        Mode::Fail => (AxumStatus::INTERNAL_SERVER_ERROR, "model crashed").into_response(),
        Mode::BusyOnce => (AxumStatus::TOO_MANY_REQUESTS, "slow down").into_response(),
        Mode::Silent => {
            let never = futures_util::stream::pending::<Result<String, std::io::Error>>();
            ([("content-type", "text/event-stream")], Body::from_stream(never)).into_response()
        }
        Mode::Cut => sse(vec![piece("Open ")]),
    }
}

async fn start_provider() -> (SocketAddr, Arc<Provider>) {
    let provider = Arc::new(Provider { mode: Mutex::new(Mode::Answer), requests: Mutex::new(Vec::new()) });
    let app = Router::new().route("/v1/chat/completions", post(completions)).with_state(provider.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, provider)
}

async fn app_with_llm() -> (TestApp, Arc<Provider>) {
    let (addr, provider) = start_provider().await;
    let app = spawn_app_with(|config| {
        config.llm.provider = docent::config::LlmProviderKind::Openai;
        config.llm.base_url = format!("http://{addr}/v1");
        config.llm.model = "test-model".into();
        config.llm.first_token_timeout_seconds = 1;
    })
    .await;
    (app, provider)
}

fn set(provider: &Provider, mode: Mode) {
    *provider.mode.lock().unwrap() = mode;
}

#[tokio::test]
async fn the_model_answers_from_the_passages_and_the_conversation() {
    let (app, provider) = app_with_llm().await;
    let (token, session_id, bot) = visitor(&app, "Help").await;
    let owner = app.admin_token().await;
    app.put(
        &format!("/widget/bots/{bot}"),
        &owner,
        &json!({"system_prompt": "You are Acme's support assistant."}),
    )
    .await;

    let response = ask(&app, &token, &session_id, "How do I reset my password?", false).await;
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["reply"], PIECES.concat());
    assert_eq!(answer["sources"][0]["title"], "Account help");

    let sent = provider.requests.lock().unwrap()[0].clone();
    assert_eq!(sent["model"], "test-model");
    assert_eq!(sent["stream"], true);
    let system = sent["messages"][0]["content"].as_str().unwrap();
    assert_eq!(sent["messages"][0]["role"], "system");
    assert!(system.starts_with("You are Acme's support assistant."), "{system}");
    assert!(system.contains("only the numbered passages"), "{system}");
    assert!(
        system.contains("To reset your password, open Settings"),
        "the passage is in the prompt: {system}"
    );
    assert_eq!(sent["messages"].as_array().unwrap().len(), 2);
    assert_eq!(sent["messages"][1], json!({"role": "user", "content": "How do I reset my password?"}));

    // The bot's own model and temperature win over the server's.
    let put = json!({"model": "bigger-model", "temperature": 0.7});
    assert_eq!(app.put(&format!("/widget/bots/{bot}"), &owner, &put).await.status(), StatusCode::OK);

    // Streamed, with the earlier exchange in the prompt.
    let response = ask(&app, &token, &session_id, "And where do I find the reset link?", true).await;
    let events = events(&response.text().await.unwrap());
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["delta", "delta", "delta", "delta", "sources", "done"]);
    let streamed: String = events[..4].iter().map(|(_, d)| d["text"].as_str().unwrap()).collect();
    assert_eq!(streamed, PIECES.concat());
    let sent = provider.requests.lock().unwrap()[1].clone();
    assert_eq!(sent["model"], "bigger-model");
    assert!((sent["temperature"].as_f64().unwrap() - 0.7).abs() < 1e-6, "{}", sent["temperature"]);
    let roles: Vec<&str> =
        sent["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert_eq!(sent["messages"][1]["content"], "How do I reset my password?");
    assert_eq!(sent["messages"][2]["content"], PIECES.concat());

    // Stored, and in the owner's transcript.
    let messages = history(&app, &token, &session_id).await;
    assert_eq!(messages.len(), 4);
    let transcript: Value =
        app.get(&format!("/widget/bots/{bot}/sessions/{session_id}"), &owner).await.json().await.unwrap();
    assert_eq!(transcript["messages"][3]["content"], PIECES.concat());
    let analytics: Value =
        app.get(&format!("/widget/bots/{bot}/analytics"), &owner).await.json().await.unwrap();
    assert_eq!(analytics["totals"]["tokens"], 2 * (321 + 9), "the provider's counts: {analytics}");
}

#[tokio::test]
async fn provider_faults_are_reported_and_lose_nothing() {
    let (app, provider) = app_with_llm().await;
    let (token, session_id, _) = visitor(&app, "Help").await;

    set(&provider, Mode::Fail);
    assert_error(
        ask(&app, &token, &session_id, "How do I reset my password?", false).await,
        StatusCode::BAD_GATEWAY,
        "llm_unavailable",
    )
    .await;
    let response = ask(&app, &token, &session_id, "How do I reset my password?", true).await;
    assert_eq!(response.status(), StatusCode::OK, "the stream had started");
    let events = events(&response.text().await.unwrap());
    assert_eq!(events.last().unwrap().0, "error");
    assert_eq!(events.last().unwrap().1["code"], "llm_unavailable");

    set(&provider, Mode::Cut);
    assert_error(
        ask(&app, &token, &session_id, "How do I reset my password?", false).await,
        StatusCode::BAD_GATEWAY,
        "llm_unavailable",
    )
    .await;

    set(&provider, Mode::Silent);
    assert_error(
        ask(&app, &token, &session_id, "How do I reset my password?", false).await,
        StatusCode::GATEWAY_TIMEOUT,
        "llm_timeout",
    )
    .await;

    // A question asked again after its reply failed was stored once; another
    // question is stored after it.
    set(&provider, Mode::Fail);
    let response = ask(&app, &token, &session_id, "When are invoices sent?", false).await;
    assert_error(response, StatusCode::BAD_GATEWAY, "llm_unavailable").await;
    let messages = history(&app, &token, &session_id).await;
    let asked: Vec<&str> = messages.iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(asked, ["How do I reset my password?", "When are invoices sent?"]);

    // Nothing was lost, and the session goes on: "Try again" answers the
    // question already stored.
    set(&provider, Mode::BusyOnce);
    let before = provider.requests.lock().unwrap().len();
    let response = ask(&app, &token, &session_id, "When are invoices sent?", false).await;
    assert_eq!(response.status(), StatusCode::OK, "a 429 is retried once");
    assert_eq!(provider.requests.lock().unwrap().len(), before + 2);
    let messages = history(&app, &token, &session_id).await;
    let roles: Vec<&str> = messages.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "user", "assistant"]);
    assert_eq!(messages[1]["content"], "When are invoices sent?");
}

#[tokio::test]
async fn without_relevant_passages_the_model_is_not_asked() {
    let (app, provider) = app_with_llm().await;
    let (token, session_id, _) = visitor(&app, "Help").await;
    let answer: Value =
        ask(&app, &token, &session_id, "Do you ship to Antarctica?", false).await.json().await.unwrap();
    assert_eq!(answer["reply"], docent::model::DEFAULT_FALLBACK);
    assert!(provider.requests.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_model_that_cannot_answer_says_so_with_the_marker_and_the_question_is_unanswered() {
    let (app, provider) = app_with_llm().await;
    let (token, session_id, bot) = visitor(&app, "Help").await;
    let owner = app.admin_token().await;
    let fallback = "Sorry, our docs do not cover that. Write to help@example.com.";
    app.put(&format!("/widget/bots/{bot}"), &owner, &json!({"fallback_message": fallback})).await;

    // The marker split over pieces, then the fallback in the visitor's language.
    set(&provider, Mode::Decline);
    let answer: Value = ask(&app, &token, &session_id, "Puis-je changer mon password par téléphone ?", false)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["reply"], "Je ne l'ai pas trouvé dans la documentation.");
    assert_eq!(answer["sources"], json!([]), "a reply that does not answer cites nothing");
    let sent = provider.requests.lock().unwrap()[0].clone();
    let system = sent["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("[[NO_ANSWER]] and then only this message"), "{system}");
    assert!(system.contains(fallback), "the bot's own fallback is in the instructions: {system}");

    // Streamed: the marker never reaches the visitor.
    let response = ask(&app, &token, &session_id, "Et les invoices par la poste ?", true).await;
    let sent_events = events(&response.text().await.unwrap());
    let streamed: String =
        sent_events.iter().filter(|(n, _)| n == "delta").map(|(_, d)| d["text"].as_str().unwrap()).collect();
    assert_eq!(streamed, "Je ne l'ai pas trouvé dans la documentation.");
    let (name, sources) = &sent_events[sent_events.len() - 2];
    assert_eq!((name.as_str(), sources), ("sources", &json!([])));
    assert_eq!(sent_events.last().unwrap().1["reply"], "Je ne l'ai pas trouvé dans la documentation.");

    // The marker alone: the bot's fallback, as set.
    set(&provider, Mode::DeclineBare);
    for stream in [false, true] {
        let response = ask(&app, &token, &session_id, "How do I reset my password?", stream).await;
        let reply = if stream {
            let events = events(&response.text().await.unwrap());
            assert!(events.iter().all(|(n, _)| n != "delta"), "nothing to stream: {events:?}");
            events.last().unwrap().1["reply"].clone()
        } else {
            response.json::<Value>().await.unwrap()["reply"].clone()
        };
        assert_eq!(reply, fallback, "streamed: {stream}");
    }

    // Stored as said, and listed under the questions the bot could not answer.
    let messages = history(&app, &token, &session_id).await;
    let replies: Vec<&str> = messages
        .iter()
        .filter(|m| m["role"] == "assistant")
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(replies[0], "Je ne l'ai pas trouvé dans la documentation.");
    assert_eq!(replies[2..], [fallback, fallback]);
    assert!(messages.iter().all(|m| !m["content"].as_str().unwrap().contains("NO_ANSWER")));
    let unanswered: Value =
        app.get(&format!("/widget/bots/{bot}/unanswered"), &owner).await.json().await.unwrap();
    let questions: Vec<&str> =
        unanswered.as_array().unwrap().iter().map(|q| q["question"].as_str().unwrap()).collect();
    assert_eq!(questions.len(), 3, "{unanswered}");
    assert!(questions.contains(&"Puis-je changer mon password par téléphone ?"), "{unanswered}");
    let count = |q: &str| {
        unanswered.as_array().unwrap().iter().find(|u| u["question"] == q).unwrap()["count"].clone()
    };
    assert_eq!(count("How do I reset my password?"), 2);

    // And an answer after all that is answered, with its sources.
    set(&provider, Mode::Answer);
    let answer: Value =
        ask(&app, &token, &session_id, "How do I reset my password?", false).await.json().await.unwrap();
    assert_eq!(answer["reply"], PIECES.concat());
    assert_eq!(answer["sources"][0]["title"], "Account help");
}
