//! Documents and search: formats, bad input, duplicates, deletion, isolation,
//! a second node on the same database.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, spawn_app, spawn_app_with, test_config, validation_fields};

const GUIDE_MD: &str = "# Guide\nWelcome to the guide.\n\n## Install\n\n### Linux\nRun the installer with sudo on Debian.\n\n## Account\nTo reset your password open Settings, then Security, and press Reset.\n";
const FAQ_HTML: &str = r#"<html><head><title>FAQ</title></head><body><nav>Home Pricing Login</nav>
<main><h1>Frequently asked</h1><h2 id="billing">Billing</h2><p>Invoices are sent on the first day of each month.</p>
<h2 id="refunds">Refunds</h2><p>Refunds take five working days.</p></main><footer>Copyright</footer></body></html>"#;

/// Waits (polling, bounded) until the document is no longer pending or processing.
pub async fn settled(app: &TestApp, token: &str, workspace: i64, id: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let doc: Value =
            app.get(&format!("/workspaces/{workspace}/documents/{id}"), token).await.json().await.unwrap();
        if doc["status"] == "ready" || doc["status"] == "failed" {
            return doc;
        }
        assert!(Instant::now() < deadline, "document {id} still {} after 20 s", doc["status"]);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn upload(app: &TestApp, token: &str, workspace: i64, files: &[(&str, &[u8])]) -> reqwest::Response {
    let mut form = Form::new();
    for (name, bytes) in files {
        form = form.part("file", Part::bytes(bytes.to_vec()).file_name((*name).to_owned()));
    }
    app.client
        .post(app.url(&format!("/workspaces/{workspace}/documents")))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

async fn search(app: &TestApp, token: &str, workspace: i64, query: &str) -> Vec<Value> {
    let response =
        app.post(&format!("/workspaces/{workspace}/search"), token, &json!({"query": query})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["results"].as_array().unwrap().clone()
}

#[tokio::test]
async fn uploaded_files_become_searchable_passages_with_their_place() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let ws = app.workspace(&token, "Docs").await;
    let response =
        upload(&app, &token, ws, &[("guide.md", GUIDE_MD.as_bytes()), ("faq.html", FAQ_HTML.as_bytes())])
            .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let added: Value = response.json().await.unwrap();
    let docs = added["documents"].as_array().unwrap();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0]["source"], "guide.md");
    assert_eq!(docs[0]["duplicate"], false);
    for doc in docs {
        let settled = settled(&app, &token, ws, doc["id"].as_i64().unwrap()).await;
        assert_eq!(settled["status"], "ready", "{settled}");
        assert!(settled["chunk_count"].as_i64().unwrap() >= 2);
    }

    let results = search(&app, &token, ws, "how can I reset my password?").await;
    let best = &results[0];
    assert_eq!(best["title"], "guide");
    assert_eq!(best["heading_path"], "Guide > Account");
    assert!(best["text"].as_str().unwrap().contains("Settings, then Security"));
    for field in ["document_id", "source", "url", "chunk_id", "score"] {
        assert!(best.get(field).is_some(), "{field}");
    }

    // An owner-set URL becomes the citation, with the heading's fragment.
    let faq = docs[1]["id"].as_i64().unwrap();
    let path = format!("/workspaces/{ws}/documents/{faq}");
    let response = app.put(&path, &token, &json!({"url": "https://example.com/faq"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let results = search(&app, &token, ws, "when are invoices sent").await;
    assert_eq!(results[0]["url"], "https://example.com/faq#billing");
    assert_eq!(results[0]["heading_path"], "Frequently asked > Billing");
    // Page furniture is not searchable.
    assert!(search(&app, &token, ws, "pricing login copyright").await.is_empty());
}

#[tokio::test]
async fn text_documents_and_their_rules() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let ws = app.workspace(&token, "Docs").await;
    let path = format!("/workspaces/{ws}/documents");
    let body = json!({"title": "Shipping", "text": "Orders ship within two days.", "url": "https://shop.example/ship"});
    let response = app.post(&path, &token, &body).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let added: Value = response.json().await.unwrap();
    let doc = &added["documents"][0];
    assert_eq!(doc["title"], "Shipping");
    assert_eq!(doc["url"], "https://shop.example/ship");
    let id = doc["id"].as_i64().unwrap();

    // The same content again is recognised, not stored twice.
    let again: Value = app.post(&path, &token, &body).await.json().await.unwrap();
    assert_eq!(again["documents"][0]["id"], id);
    assert_eq!(again["documents"][0]["duplicate"], true);

    let settled = settled(&app, &token, ws, id).await;
    assert_eq!(settled["status"], "ready");
    let list: Value = app.get(&path, &token).await.json().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(search(&app, &token, ws, "ship orders").await.len(), 1);

    for (body, field) in [
        (json!({"title": "", "text": "x"}), "title"),
        (json!({"title": "t".repeat(201), "text": "x"}), "title"),
        (json!({"title": "No text"}), "text"),
        (json!({"title": "x", "text": "y", "url": "ftp://example.com"}), "url"),
        (json!({"title": "x", "text": "y", "colour": 1}), "colour"),
    ] {
        let fields = validation_fields(app.post(&path, &token, &body).await).await;
        assert!(fields[field].is_string(), "{body}: {fields}");
    }
    // `{url}` alone fetches the page (see web.rs); loopback is refused by default.
    let response = app.post(&path, &token, &json!({"url": "http://127.0.0.1:9/page"})).await;
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "url_not_allowed").await;
}

#[tokio::test]
async fn bad_files_fail_clearly_and_never_stick() {
    let app = spawn_app_with(|c| c.ingest.max_file_mb = 1).await;
    let token = app.admin_token().await;
    let ws = app.workspace(&token, "Docs").await;

    let response = upload(&app, &token, ws, &[("notes.md", b"# Fine"), ("archive.zip", b"PK\x03\x04")]).await;
    assert_error(response, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_file_type").await;
    let big = vec![b'a'; 1024 * 1024 + 10];
    let response = upload(&app, &token, ws, &[("big.txt", &big)]).await;
    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let form = Form::new().text("note", "no file here");
    let response = app
        .client
        .post(app.url(&format!("/workspaces/{ws}/documents")))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert!(validation_fields(response).await["file"].is_string());
    let long_name = format!("{}.md", "n".repeat(300));
    let response = upload(&app, &token, ws, &[(long_name.as_str(), b"# Fine")]).await;
    assert!(validation_fields(response).await["file"].is_string());
    // Control characters in a name: refused (as bad multipart, or as a bad name).
    for name in ["tab\there.md", "bell\u{7}.md", "nul\u{0}.md"] {
        let response = upload(&app, &token, ws, &[(name, b"# Fine")]).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY,
            "{name:?}: {status}"
        );
        assert!(body["error"]["code"].is_string(), "{body}");
    }
    let list: Value = app.get(&format!("/workspaces/{ws}/documents"), &token).await.json().await.unwrap();
    assert_eq!(list, json!([]), "a refused upload stores nothing, not even its good files");

    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
    let response = upload(
        &app,
        &token,
        ws,
        &[("garbage.txt", &garbage), ("empty.html", b"<html><script>x()</script></html>")],
    )
    .await;
    let added: Value = response.json().await.unwrap();
    for doc in added["documents"].as_array().unwrap() {
        let settled = settled(&app, &token, ws, doc["id"].as_i64().unwrap()).await;
        assert_eq!(settled["status"], "failed", "{settled}");
        assert!(settled["error"].as_str().is_some_and(|e| e.len() > 10), "{settled}");
        assert_eq!(settled["chunk_count"], 0);
    }
}

#[tokio::test]
async fn deleted_documents_leave_search_at_once() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let ws = app.workspace(&token, "Docs").await;
    let added: Value =
        upload(&app, &token, ws, &[("guide.md", GUIDE_MD.as_bytes())]).await.json().await.unwrap();
    let id = added["documents"][0]["id"].as_i64().unwrap();
    settled(&app, &token, ws, id).await;
    assert!(!search(&app, &token, ws, "installer sudo").await.is_empty());

    let path = format!("/workspaces/{ws}/documents/{id}");
    assert_eq!(app.delete(&path, &token).await.status(), StatusCode::NO_CONTENT);
    assert!(search(&app, &token, ws, "installer sudo").await.is_empty());
    assert_error(app.get(&path, &token).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(crate::store::count_rows(&app, "chunks").await, 0);
}

#[tokio::test]
async fn workspaces_never_see_each_others_knowledge() {
    let app = spawn_app().await;
    let alice = app.admin_token().await;
    let bob = app.user_token("bob").await;
    let alices = app.workspace(&alice, "Alice's").await;
    let bobs = app.workspace(&bob, "Bob's").await;
    let added: Value =
        upload(&app, &alice, alices, &[("guide.md", GUIDE_MD.as_bytes())]).await.json().await.unwrap();
    let id = added["documents"][0]["id"].as_i64().unwrap();
    settled(&app, &alice, alices, id).await;

    assert!(search(&app, &bob, bobs, "reset password").await.is_empty());
    let response = app.post(&format!("/workspaces/{alices}/search"), &bob, &json!({"query": "reset"})).await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    for path in [format!("/workspaces/{alices}/documents"), format!("/workspaces/{alices}/documents/{id}")] {
        assert_error(app.get(&path, &bob).await, StatusCode::NOT_FOUND, "not_found").await;
    }
    // Bob's workspace id with Alice's document id: still nothing.
    let response = app.get(&format!("/workspaces/{bobs}/documents/{id}"), &bob).await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    let response = app.delete(&format!("/workspaces/{alices}/documents/{id}"), &bob).await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    let response = upload(&app, &bob, alices, &[("x.md", b"# x")]).await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn search_input_is_checked() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let ws = app.workspace(&token, "Docs").await;
    let path = format!("/workspaces/{ws}/search");
    for (body, field) in [
        (json!({"query": "  "}), "query"),
        (json!({"query": "q".repeat(1001)}), "query"),
        (json!({"query": "x", "limit": 0}), "limit"),
        (json!({"query": "x", "limit": 51}), "limit"),
        (json!({}), "query"),
    ] {
        assert!(validation_fields(app.post(&path, &token, &body).await).await[field].is_string(), "{body}");
    }
    // Query syntax typed by a visitor is just words, never an error.
    for query in ["AND OR NOT", "title:(", "\"unclosed", "+-^~*", "日本語"] {
        assert!(search(&app, &token, ws, query).await.is_empty(), "{query}");
    }
}

#[tokio::test]
async fn a_second_node_on_the_same_database_finds_what_the_first_ingested() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let ws = app.workspace(&token, "Docs").await;
    let added: Value =
        upload(&app, &token, ws, &[("guide.md", GUIDE_MD.as_bytes())]).await.json().await.unwrap();
    let id = added["documents"][0]["id"].as_i64().unwrap();
    settled(&app, &token, ws, id).await;

    // Its own data folder: its index is built from the database at start.
    let dir = tempfile::tempdir().unwrap();
    let second = docent::startup::Application::build(test_config(dir.path(), &app.db.url)).await.unwrap();
    let found = second
        .state()
        .knowledge
        .search(ws, "reset password", 5, docent::rag::SearchMode::Hybrid)
        .await
        .unwrap();
    assert_eq!(found.first().map(|p| p.hit.document_id), Some(id));

    // A document added through the first node reaches the second through the change feed.
    let body = json!({"title": "Refunds", "text": "Refunds take five working days."});
    let added: Value =
        app.post(&format!("/workspaces/{ws}/documents"), &token, &body).await.json().await.unwrap();
    settled(&app, &token, ws, added["documents"][0]["id"].as_i64().unwrap()).await;
    let found =
        second.state().knowledge.search(ws, "refunds", 5, docent::rag::SearchMode::Hybrid).await.unwrap();
    assert_eq!(found.len(), 1);
}

#[tokio::test]
async fn a_job_whose_worker_died_is_taken_up_again() {
    // Built but not run: no background workers, so this test plays them.
    let dir = tempfile::tempdir().unwrap();
    let db = crate::helpers::TestDb::new(dir.path()).await;
    let app = docent::startup::Application::build(test_config(dir.path(), &db.url)).await.unwrap();
    let (store, knowledge) = (app.state().store.clone(), app.state().knowledge.clone());
    let admin = store.first_admin().await.unwrap().unwrap();
    let ws = store.create_workspace(admin.id, "Docs").await.unwrap().id;
    let add = |text: &str| docent::model::NewDocument {
        workspace_id: ws,
        title: "Guide".into(),
        source: "guide.md".into(),
        url: None,
        kind: "markdown".into(),
        content_hash: text.into(),
        content: text.as_bytes().to_vec(),
    };
    let now = docent::clock::now_ms();
    let lease = 30_000;
    store.add_document(&add(GUIDE_MD), now).await.unwrap();

    let first = store.claim_job(now, lease).await.unwrap().expect("a job");
    assert_eq!(first.attempts, 1);
    assert!(store.claim_job(now + 1, lease).await.unwrap().is_none(), "leased to the first worker");
    // The first worker died (no heartbeat): after the lease another takes it.
    let second = store.claim_job(now + lease + 1, lease).await.unwrap().expect("the job again");
    assert_eq!((second.id, second.attempts), (first.id, 2));
    knowledge.process(&second).await.unwrap();
    // The dead worker's late finish changes nothing: same chunks, no duplicates.
    knowledge.process(&first).await.unwrap();
    let doc = store.document_by_id(first.document_id).await.unwrap().unwrap();
    assert_eq!(doc.status, "ready");
    let chunks = store.chunks_to_index(doc.id).await.unwrap();
    assert_eq!(chunks.len() as i64, doc.chunk_count);
    assert_eq!(crate::store::count_rows_in(&db, "chunks").await, doc.chunk_count);

    // A job interrupted again and again fails for good, with a reason.
    store.add_document(&add("# Other\nText."), now).await.unwrap();
    let mut job = None;
    for attempt in 0..4 {
        job = store.claim_job(now + attempt * (lease + 1), lease).await.unwrap();
    }
    let job = job.expect("claimed a fourth time");
    assert_eq!(job.attempts, 4);
    knowledge.process(&job).await.unwrap();
    let doc = store.document_by_id(job.document_id).await.unwrap().unwrap();
    assert_eq!(doc.status, "failed");
    assert!(doc.error.unwrap().contains("interrupted"));
}

#[tokio::test]
async fn pdf_and_docx_files_keep_their_pages_and_headings() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let ws = app.workspace(&token, "Docs").await;
    let pdf = crate::fixtures::pdf(&[
        "Welcome to the handbook of the Acme router.",
        "To factory reset the router, hold the red button for ten seconds.",
    ]);
    let docx = crate::fixtures::docx(&[
        ("Title", "Travel policy"),
        ("Heading1", "Booking"),
        ("", "Book flights through the travel desk at least two weeks ahead."),
        ("Heading2", "Hotels"),
        ("", "Hotels up to 150 euros a night are approved without asking."),
    ]);
    let response = upload(&app, &token, ws, &[("router.pdf", &pdf), ("travel.docx", &docx)]).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let added: Value = response.json().await.unwrap();
    for doc in added["documents"].as_array().unwrap() {
        let doc = settled(&app, &token, ws, doc["id"].as_i64().unwrap()).await;
        assert_eq!(doc["status"], "ready", "{doc}");
    }
    let pdf_id = added["documents"][0]["id"].as_i64().unwrap();
    let path = format!("/workspaces/{ws}/documents/{pdf_id}");
    app.put(&path, &token, &json!({"url": "https://acme.example/router.pdf"})).await;

    let results = search(&app, &token, ws, "how do I factory reset the router").await;
    assert_eq!(results[0]["url"], "https://acme.example/router.pdf#page=2", "{results:?}");
    assert!(results[0]["text"].as_str().unwrap().contains("red button"));
    let results = search(&app, &token, ws, "hotel price limit per night").await;
    assert_eq!(results[0]["heading_path"], "Travel policy > Booking > Hotels", "{results:?}");
}

#[tokio::test]
async fn damaged_pdf_and_docx_files_fail_with_a_reason() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let ws = app.workspace(&token, "Docs").await;
    let mut truncated = crate::fixtures::pdf(&["Some text on a page."]);
    truncated.truncate(truncated.len() / 2);
    let empty_pdf = crate::fixtures::pdf(&[""]);
    let files: [(&str, &[u8]); 4] = [
        ("truncated.pdf", &truncated),
        ("empty.pdf", &empty_pdf),
        ("not-a-zip.docx", b"this is not a zip archive"),
        ("no-text.docx", &crate::fixtures::docx(&[])),
    ];
    let added: Value = upload(&app, &token, ws, &files).await.json().await.unwrap();
    for doc in added["documents"].as_array().unwrap() {
        let doc = settled(&app, &token, ws, doc["id"].as_i64().unwrap()).await;
        assert_eq!(doc["status"], "failed", "{doc}");
        assert!(doc["error"].as_str().is_some_and(|e| e.len() > 10), "{doc}");
    }
}
