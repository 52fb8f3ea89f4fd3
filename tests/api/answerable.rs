//! Whether the bot answers at all: the sample bot answers the questions its
//! welcome message and documents invite, with the local embedding model and
//! without it, and declines near-domain questions its documents do not answer;
//! the owner's `answer_threshold` makes a bot stricter or looser.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::chat::{ask, start_session};
use crate::documents::settled;
use crate::embeddings::real_model;
use crate::helpers::{TestApp, spawn_app, spawn_app_with_sample_and, validation_fields};
use crate::widget_tokens::generate;
use docent::config::EmbeddingProvider;

/// What the sample bot's welcome message and documents invite, and the
/// README's own example (a one-line Shipping document). ("Can I use Ollama?"
/// is not answered yet by keyword alone: see issue 16's note.)
const ANSWERABLE: [(&str, &str); 6] = [
    ("Where is my data stored?", "what-is-docent.md"),
    ("How do I connect an LLM?", "configuring-an-llm.md"),
    ("How do I embed the widget on my site?", "embedding-the-widget.md"),
    ("What is Docent?", "what-is-docent.md"),
    ("Does it work without a language model?", "what-is-docent.md"),
    ("How long does shipping take?", "Shipping"),
];

/// Questions that sound like the sample's domain and that it does not answer.
/// (A few pages cannot tell every such question apart: "What does the
/// enterprise support plan cost?" is still answered; see issue 16's note.)
const UNANSWERABLE: [&str; 3] = [
    "Which Terraform provider do you recommend?",
    "Is there a mobile app for iOS?",
    "How do I export my chat transcripts to Salesforce?",
];

/// The sample bot with the README's Shipping document added, and a widget token for it.
async fn sample_bot(app: &TestApp) -> (String, i64) {
    let owner = app.admin_token().await;
    let bots: Value = app.get("/widget/bots", &owner).await.json().await.unwrap();
    let bot = bots.as_array().unwrap().iter().find(|b| b["name"] == "Docent assistant").unwrap().clone();
    let workspace = bot["workspace_id"].as_i64().unwrap();
    let shipping = json!({"title": "Shipping", "text": "# Shipping\nOrders ship in two days."});
    let response = app.post(&format!("/workspaces/{workspace}/documents"), &owner, &shipping).await;
    assert!(response.status().is_success(), "{}", response.status());
    let documents: Value =
        app.get(&format!("/workspaces/{workspace}/documents"), &owner).await.json().await.unwrap();
    for document in documents.as_array().unwrap() {
        let id = document["id"].as_i64().unwrap();
        assert_eq!(settled(app, &owner, workspace, id).await["status"], "ready");
    }
    let bot_id = bot["id"].as_i64().unwrap();
    let token = generate(app, &owner, &json!({"bot_id": bot_id})).await["token"].as_str().unwrap().to_owned();
    (token, bot_id)
}

/// The sources the reply cites, or `None` when the bot gave its fallback.
async fn cited(app: &TestApp, token: &str, question: &str) -> Option<Vec<String>> {
    let session = start_session(app, token).await;
    let response = ask(app, token, &session, question, false).await;
    assert_eq!(response.status(), StatusCode::OK);
    let reply: Value = response.json().await.unwrap();
    let sources: Vec<String> = reply["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["source"].as_str().unwrap().to_owned())
        .collect();
    let fallback = reply["reply"].as_str().unwrap().starts_with("I'm sorry, I couldn't find that");
    assert_eq!(fallback, sources.is_empty(), "a reply cites sources exactly when it answers: {reply}");
    (!fallback).then_some(sources)
}

async fn the_sample_bot_answers_what_it_invites_and_declines_the_rest(app: &TestApp) {
    let (token, _) = sample_bot(app).await;
    for (question, page) in ANSWERABLE {
        let sources = cited(app, &token, question).await;
        assert!(
            sources.as_ref().is_some_and(|s| s.iter().any(|s| s == page)),
            "{question:?} should be answered from {page}, got {sources:?}"
        );
    }
    for question in UNANSWERABLE {
        let sources = cited(app, &token, question).await;
        assert_eq!(sources, None, "{question:?} is not answered by the sample documents");
    }
}

#[tokio::test]
async fn the_sample_bot_answers_its_questions_with_the_local_model() {
    let Some(dir) = real_model() else { return };
    let app = spawn_app_with_sample_and(|c| {
        c.embeddings.provider = EmbeddingProvider::Local;
        c.embeddings.model_dir = dir;
    })
    .await;
    assert_eq!(app.state.knowledge.embedding_model(), Some("local/all-MiniLM-L6-v2"));
    the_sample_bot_answers_what_it_invites_and_declines_the_rest(&app).await;
}

#[tokio::test]
async fn the_sample_bot_answers_its_questions_by_keyword_alone() {
    let app = spawn_app_with_sample_and(|_| {}).await;
    assert_eq!(app.state.knowledge.embedding_model(), None);
    the_sample_bot_answers_what_it_invites_and_declines_the_rest(&app).await;
}

#[tokio::test]
async fn the_answer_threshold_makes_a_bot_stricter_or_looser() {
    let app = spawn_app_with_sample_and(|_| {}).await;
    let owner = app.admin_token().await;
    let (token, bot) = sample_bot(&app).await;
    let path = format!("/widget/bots/{bot}");
    let question = "How do I connect an LLM?";
    assert!(cited(&app, &token, question).await.is_some(), "the default answers");

    let strict: Value = app.put(&path, &owner, &json!({"answer_threshold": 1.0})).await.json().await.unwrap();
    assert_eq!(strict["answer_threshold"], 1.0);
    assert_eq!(cited(&app, &token, question).await, None, "a threshold of 1 never answers");
    let owner_view: Value = app.get(&path, &owner).await.json().await.unwrap();
    assert_eq!(owner_view["answer_threshold"], 1.0, "the setting is kept");

    let loose: Value = app.put(&path, &owner, &json!({"answer_threshold": 0.0})).await.json().await.unwrap();
    assert_eq!(loose["answer_threshold"], 0.0);
    assert!(
        cited(&app, &token, "How do I export my chat transcripts to Salesforce?").await.is_some(),
        "a threshold of 0 quotes whatever was found"
    );

    let default: Value =
        app.put(&path, &owner, &json!({"answer_threshold": null})).await.json().await.unwrap();
    assert_eq!(default["answer_threshold"], Value::Null, "null returns to Docent's default");
    assert_eq!(cited(&app, &token, "How do I export my chat transcripts to Salesforce?").await, None);

    for wrong in [json!(1.5), json!(-0.1), json!("high")] {
        let response = app.put(&path, &owner, &json!({"answer_threshold": wrong})).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{wrong}");
        if wrong.is_number() {
            assert_eq!(validation_fields(response).await["answer_threshold"], "must be between 0 and 1");
        }
    }
}

#[tokio::test]
async fn search_says_how_sure_it_is_that_the_results_answer() {
    let app = spawn_app().await;
    let owner = app.admin_token().await;
    let workspace = app.workspace(&owner, "Docs").await;
    // A manual of a few hundred sections: big enough that a word it never
    // uses is a gap, not chance.
    let mut text = String::from(
        "# Manual\n\n## Refunds\n\nRefunds are paid back to the original card within five working days.\n",
    );
    for k in 0..300 {
        text.push_str(&format!(
            "\n## Shelf {k}\n\nShelf {k} in the warehouse holds boxes of screws, nails and hinges for \
             the workshop. {}\n",
            "Every box is labelled with its weight and the date it arrived. ".repeat(12)
        ));
    }
    let added: Value = app
        .post(
            &format!("/workspaces/{workspace}/documents"),
            &owner,
            &json!({"title": "Refunds", "text": text}),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = added["documents"][0]["id"].as_i64().unwrap();
    assert_eq!(settled(&app, &owner, workspace, id).await["status"], "ready");
    let search = |query: &'static str| {
        let (app, owner) = (&app, &owner);
        async move {
            let response =
                app.post(&format!("/workspaces/{workspace}/search"), owner, &json!({"query": query})).await;
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.unwrap()["answerability"].clone()
        }
    };
    let answered = search("when are refunds paid back?").await;
    let unknown = search("are refunds paid in bitcoin?").await;
    let typo = search("when are refnds paid back?").await;
    assert!(answered["score"].as_f64().unwrap() > unknown["score"].as_f64().unwrap(), "{answered} {unknown}");
    assert_eq!(answered["signals"]["unknown"], 0.0);
    assert!(unknown["signals"]["unknown"].as_f64().unwrap() > 0.3, "bitcoin is never used: {unknown}");
    assert_eq!(typo["signals"]["unknown"], 0.0, "a typo of a word the documents use is not unknown: {typo}");
    assert_eq!(answered["signals"]["cosine"], Value::Null, "no embedding model here");
    assert_eq!(answered["signals"]["terms"], 3, "refund, paid, back: {answered}");
}
