//! Dense and hybrid search: an OpenAI-compatible embeddings provider (a real
//! HTTP server inside the test that embeds by a small table of concepts), a
//! provider that fails, a change of model, and the real local model.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use docent::config::{Config, EmbeddingProvider};
use docent::rag::SearchMode;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::documents::settled;
use crate::helpers::{TestApp, assert_error, spawn_app_with, test_config, validation_fields};

/// Words of one meaning share a dimension; other words get a faint one of their own.
const CONCEPTS: &[&[&str]] = &[
    &[
        "refund",
        "refunds",
        "reimburse",
        "reimbursed",
        "reimbursement",
        "reimbursements",
        "money",
        "back",
        "repaid",
    ],
    &["password", "credentials", "login", "passphrase"],
    &["install", "installing", "installer", "setup", "debian"],
];
const DIMS: usize = 16;

fn embed(text: &str) -> Vec<f32> {
    let mut v = vec![0.0; DIMS];
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        let word = word.to_lowercase();
        match CONCEPTS.iter().position(|group| group.contains(&word.as_str())) {
            Some(dim) => v[dim] += 1.0,
            None => v[CONCEPTS.len() + word.len() % (DIMS - CONCEPTS.len())] += 0.05,
        }
    }
    v
}

/// What the fake provider saw, and how it should answer.
#[derive(Default)]
struct Provider {
    requests: AtomicUsize,
    /// Answer 429 (with `Retry-After: 0`) to this many requests first.
    busy_first: AtomicUsize,
    /// Answer 400 while set (a provider that refuses every request).
    refusing: std::sync::atomic::AtomicBool,
    /// Texts per request, in order.
    batches: std::sync::Mutex<Vec<usize>>,
    /// Every text embedded.
    texts: std::sync::Mutex<Vec<String>>,
    seen: std::sync::Mutex<Vec<(Option<String>, String)>>,
}

async fn embeddings(State(p): State<Arc<Provider>>, headers: HeaderMap, body: axum::Json<Value>) -> Response {
    p.requests.fetch_add(1, Ordering::SeqCst);
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    p.seen.lock().unwrap().push((auth, body["model"].as_str().unwrap_or_default().to_owned()));
    if p.refusing.load(Ordering::SeqCst) {
        return (StatusCode::BAD_REQUEST, "refused").into_response();
    }
    if p.busy_first.load(Ordering::SeqCst) > 0 {
        p.busy_first.fetch_sub(1, Ordering::SeqCst);
        return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "0")], "slow down").into_response();
    }
    let inputs: Vec<String> =
        body["input"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned()).collect();
    // A text this provider will never take (too long, say): the whole request is refused.
    if inputs.iter().any(|t| t.to_lowercase().contains("poison")) {
        return (StatusCode::BAD_REQUEST, "input refused").into_response();
    }
    p.batches.lock().unwrap().push(inputs.len());
    p.texts.lock().unwrap().extend(inputs.iter().cloned());
    // In reverse order, with `index`: the client must put them back in order.
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .rev()
        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": embed(t)}))
        .collect();
    axum::Json(json!({"object": "list", "data": data, "model": body["model"]})).into_response()
}

async fn start_provider() -> (SocketAddr, Arc<Provider>) {
    let provider = Arc::new(Provider::default());
    let app = axum::Router::new().route("/v1/embeddings", post(embeddings)).with_state(provider.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, provider)
}

fn use_provider(config: &mut Config, addr: SocketAddr, model: &str) {
    config.embeddings.provider = EmbeddingProvider::Openai;
    config.embeddings.base_url = format!("http://{addr}/v1");
    config.embeddings.model = model.to_owned();
    config.embeddings.batch_size = 2; // several requests per document
    config.secrets.embeddings_api_key = Some(SecretString::from("sk-test-embeddings"));
}

const DOCS: [(&str, &str); 3] = [
    ("Payments", "Reimbursements are paid within five working days of the request."),
    ("Account", "Change your passphrase in Settings, then Security."),
    ("Setup", "Installing on Debian needs administrator rights."),
];

async fn add_docs(app: &TestApp, token: &str, ws: i64) -> Vec<i64> {
    let mut ids = Vec::new();
    for (title, text) in DOCS {
        let body = json!({"title": title, "text": text});
        let added: Value =
            app.post(&format!("/workspaces/{ws}/documents"), token, &body).await.json().await.unwrap();
        let id = added["documents"][0]["id"].as_i64().unwrap();
        assert_eq!(settled(app, token, ws, id).await["status"], "ready");
        ids.push(id);
    }
    ids
}

async fn search(app: &TestApp, token: &str, ws: i64, query: &str, mode: &str) -> Vec<Value> {
    let body = json!({"query": query, "mode": mode, "limit": 3});
    let response = app.post(&format!("/workspaces/{ws}/search"), token, &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.unwrap()["results"].as_array().unwrap().clone()
}

fn titles(results: &[Value]) -> Vec<&str> {
    results.iter().map(|r| r["title"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn hybrid_search_finds_by_meaning_what_keywords_miss() {
    let (addr, provider) = start_provider().await;
    provider.busy_first.store(1, Ordering::SeqCst);
    let app = spawn_app_with(|c| use_provider(c, addr, "concepts-1")).await;
    let token = app.admin_token().await;
    let ws = app.workspace(&token, "Docs").await;
    add_docs(&app, &token, ws).await;

    let query = "can I get my money back?";
    let keyword = search(&app, &token, ws, query, "keyword").await;
    assert!(!titles(&keyword).contains(&"Payments"), "no shared word: {keyword:?}");
    let dense = search(&app, &token, ws, query, "dense").await;
    assert_eq!(titles(&dense)[0], "Payments");
    let hybrid = search(&app, &token, ws, query, "hybrid").await;
    assert_eq!(titles(&hybrid)[0], "Payments");
    let similarity = hybrid[0]["similarity"].as_f64().unwrap();
    assert!(similarity > 0.8, "cosine of the refund question and the refund passage: {similarity}");

    // Keyword matches still count in hybrid search; they need no vectors.
    let hybrid = search(&app, &token, ws, "Settings Security", "hybrid").await;
    assert_eq!(titles(&hybrid)[0], "Account");

    // The busy answer was retried; the key and model were sent.
    let seen = provider.seen.lock().unwrap().clone();
    assert!(seen.len() >= 4, "one 429, two batches per document, queries: {}", seen.len());
    assert!(
        seen.iter().all(
            |(auth, model)| auth.as_deref() == Some("Bearer sk-test-embeddings") && model == "concepts-1"
        )
    );
    let stored = app.state.store.vector_coverage("openai/concepts-1").await.unwrap();
    assert_eq!(stored, (3, 3), "every chunk has a vector");

    let bad =
        app.post(&format!("/workspaces/{ws}/search"), &token, &json!({"query": "x", "mode": "fuzzy"})).await;
    assert!(validation_fields(bad).await.get("mode").is_some());
}

#[tokio::test]
async fn a_refusing_provider_leaves_keyword_search_and_the_chunks_are_embedded_later() {
    let (addr, provider) = start_provider().await;
    provider.refusing.store(true, Ordering::SeqCst);
    let app = spawn_app_with(|c| use_provider(c, addr, "concepts-1")).await;
    let token = app.admin_token().await;
    let ws = app.workspace(&token, "Docs").await;
    add_docs(&app, &token, ws).await;
    assert_eq!(app.state.store.vector_coverage("openai/concepts-1").await.unwrap(), (0, 3));
    // Search still answers, by keyword (the query cannot be embedded either).
    let hybrid = search(&app, &token, ws, "Debian rights", "hybrid").await;
    assert_eq!(titles(&hybrid)[0], "Setup");
    assert!(search(&app, &token, ws, "money back", "dense").await.is_empty());

    provider.refusing.store(false, Ordering::SeqCst);
    // One chunk the provider will never take is skipped; it holds nothing else up.
    let body = json!({"title": "Poison", "text": "This poison text is always refused."});
    let added: Value =
        app.post(&format!("/workspaces/{ws}/documents"), &token, &body).await.json().await.unwrap();
    assert_eq!(
        settled(&app, &token, ws, added["documents"][0]["id"].as_i64().unwrap()).await["status"],
        "ready"
    );
    let mut after = 0;
    while let Some(last) = app.state.knowledge.backfill_once("openai/concepts-1", after).await.unwrap() {
        after = last;
    }
    assert_eq!(app.state.store.vector_coverage("openai/concepts-1").await.unwrap(), (3, 4));
    assert_eq!(titles(&search(&app, &token, ws, "money back", "dense").await)[0], "Payments");
    assert_eq!(titles(&search(&app, &token, ws, "poison", "hybrid").await)[0], "Poison", "found by keyword");
}

#[tokio::test]
async fn dense_search_keeps_to_its_workspace_and_forgets_deleted_and_renamed_documents() {
    let (addr, provider) = start_provider().await;
    let app = spawn_app_with(|c| use_provider(c, addr, "concepts-1")).await;
    let token = app.admin_token().await;
    let (mine, theirs) = (app.workspace(&token, "Mine").await, app.workspace(&token, "Theirs").await);
    let ids = add_docs(&app, &token, mine).await;
    let body = json!({"title": "Other refunds", "text": "Refunds are reimbursed with money back."});
    let added: Value =
        app.post(&format!("/workspaces/{theirs}/documents"), &token, &body).await.json().await.unwrap();
    settled(&app, &token, theirs, added["documents"][0]["id"].as_i64().unwrap()).await;

    let dense = search(&app, &token, theirs, "money back", "dense").await;
    assert_eq!(titles(&dense), ["Other refunds"], "only its own chunk");
    let dense = search(&app, &token, mine, "money back", "dense").await;
    assert!(!titles(&dense).contains(&"Other refunds"), "{dense:?}");

    // Renamed: the title is part of what was embedded, so the vector is made again.
    let response = app
        .put(&format!("/workspaces/{mine}/documents/{}", ids[0]), &token, &json!({"title": "Reimbursing"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(app.state.store.vector_coverage("openai/concepts-1").await.unwrap(), (3, 4));
    let mut after = 0;
    while let Some(last) = app.state.knowledge.backfill_once("openai/concepts-1", after).await.unwrap() {
        after = last;
    }
    assert_eq!(app.state.store.vector_coverage("openai/concepts-1").await.unwrap(), (4, 4));
    assert!(
        provider.texts.lock().unwrap().iter().any(|t| t.starts_with("Reimbursing\n")),
        "embedded with its new title"
    );
    assert_eq!(titles(&search(&app, &token, mine, "money back", "dense").await)[0], "Reimbursing");

    let response = app.delete(&format!("/workspaces/{mine}/documents/{}", ids[0]), &token).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let dense = search(&app, &token, mine, "money back", "dense").await;
    assert!(!titles(&dense).contains(&"Reimbursing"), "deleted: {dense:?}");
}

#[tokio::test]
async fn changing_the_model_embeds_every_chunk_again() {
    let (addr, _provider) = start_provider().await;
    let app = spawn_app_with(|c| use_provider(c, addr, "concepts-1")).await;
    let token = app.admin_token().await;
    let ws = app.workspace(&token, "Docs").await;
    add_docs(&app, &token, ws).await;

    // A node started with another model re-embeds in the background.
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), &app.db.url);
    use_provider(&mut config, addr, "concepts-2");
    let second = docent::startup::Application::build(config).await.unwrap();
    let kb = &second.state().knowledge;
    assert_eq!(kb.embedding_model(), Some("openai/concepts-2"));
    assert!(
        kb.search(ws, "money back", 3, SearchMode::Dense).await.unwrap().is_empty(),
        "no vectors of concepts-2 yet"
    );
    let mut after = 0;
    while let Some(last) = kb.backfill_once("openai/concepts-2", after).await.unwrap() {
        after = last;
    }
    assert_eq!(second.state().store.vector_coverage("openai/concepts-2").await.unwrap(), (3, 3));
    let found = kb.search(ws, "money back", 3, SearchMode::Dense).await.unwrap();
    assert_eq!(found[0].hit.title, "Payments");
}

/// The real all-MiniLM-L6-v2 (scripts/fetch-model; scripts/test installs it and
/// sets DOCENT_TEST_REQUIRE_MODEL, so there this test cannot be skipped).
pub fn real_model() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("DOCENT_TEST_MODEL_DIR").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/models/all-MiniLM-L6-v2"),
        std::path::PathBuf::from,
    );
    if ["config.json", "tokenizer.json", "model.safetensors"].iter().all(|f| dir.join(f).is_file()) {
        return Some(dir);
    }
    assert!(std::env::var_os("DOCENT_TEST_REQUIRE_MODEL").is_none(), "no model in {}", dir.display());
    eprintln!("skipped: no embedding model in {}", dir.display());
    None
}

#[tokio::test]
async fn the_local_model_answers_paraphrases() {
    let Some(dir) = real_model() else { return };
    let app = spawn_app_with(|c| {
        c.embeddings.provider = EmbeddingProvider::Local;
        c.embeddings.model_dir = dir;
    })
    .await;
    assert_eq!(app.state.knowledge.embedding_model(), Some("local/all-MiniLM-L6-v2"));
    let token = app.admin_token().await;
    let ws = app.workspace(&token, "Docs").await;
    add_docs(&app, &token, ws).await;
    let dense = search(&app, &token, ws, "when will I get my money back", "dense").await;
    assert_eq!(titles(&dense)[0], "Payments", "{dense:?}");
    let hybrid = search(&app, &token, ws, "how do I set up the software on linux", "hybrid").await;
    assert_eq!(titles(&hybrid)[0], "Setup", "{hybrid:?}");
    assert_eq!(app.state.store.vector_coverage("local/all-MiniLM-L6-v2").await.unwrap(), (3, 3));
}

#[tokio::test]
async fn without_the_local_model_the_server_starts_and_searches_by_keyword() {
    let empty = tempfile::tempdir().unwrap();
    let app = spawn_app_with(|c| {
        c.embeddings.provider = EmbeddingProvider::Local;
        c.embeddings.model_dir = empty.path().to_path_buf();
    })
    .await;
    assert_eq!(app.state.knowledge.embedding_model(), None);
    let token = app.admin_token().await;
    let ws = app.workspace(&token, "Docs").await;
    add_docs(&app, &token, ws).await;
    assert_eq!(titles(&search(&app, &token, ws, "Debian rights", "hybrid").await)[0], "Setup");
    assert!(search(&app, &token, ws, "Debian rights", "dense").await.is_empty());
    let response = app.post(&format!("/workspaces/{ws}/search"), &token, &json!({"query": " "})).await;
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}
