//! Pages and sitemaps added by URL, fetched from a real test site on
//! 127.0.0.1; and the address checks that keep fetching out of internal
//! networks. No test sends traffic anywhere but loopback: refused addresses
//! are refused before connecting, and the only name resolved is `localhost`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{StatusCode as Status, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use docent::config::IngestConfig;
use docent::rag::fetch::{AddressPolicy, FetchError, Fetcher};
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;

use crate::documents::settled;
use crate::helpers::{TestApp, assert_error, spawn_app, spawn_app_with, validation_fields};

/// The test site: its address, how many requests reached it, and a listener
/// that nothing may connect to (some pages redirect there).
struct Site {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    trap: std::net::TcpListener,
}

impl Site {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
struct SiteState {
    base: String,
    /// A port where nothing may connect (see `redirects_are_checked_on_every_hop`).
    trap_port: u16,
}

const GUIDE: &str = r#"<!doctype html><html><head><title>Widget guide</title></head><body>
<nav>Home Pricing Login</nav>
<main><h1>Widget guide</h1><p>The widget answers questions on your site.</p>
<h2 id="install">Installing</h2><p>Paste the snippet before the closing body tag of every page.</p></main>
<footer>Copyright Example Corporation</footer></body></html>"#;

const SITEMAP_NS: &str = "http://www.sitemaps.org/schemas/sitemap/0.9";

/// A document of `entry` elements (`url` or `sitemap`) under `root`, each with a
/// `loc` where `BASE` stands for the site's address.
fn sitemap_xml(base: &str, root: &str, entry: &str, locations: &[&str]) -> Response {
    let entries: String = locations
        .iter()
        .map(|loc| format!("<{entry}><loc>{}</loc></{entry}>", loc.replace("BASE", base)))
        .collect();
    let body =
        format!(r#"<?xml version="1.0" encoding="UTF-8"?><{root} xmlns="{SITEMAP_NS}">{entries}</{root}>"#);
    ([(header::CONTENT_TYPE, "application/xml")], body).into_response()
}

fn html(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

async fn doc_page(Path(name): Path<String>) -> Response {
    html(format!(
        "<html><head><title>Page {name}</title></head>\
         <body><main><p>The {name} page explains the {name} topic.</p></main></body></html>"
    ))
}

async fn urlset(State(site): State<SiteState>) -> Response {
    let pages = [
        "BASE/docs/alpha",
        "BASE/docs/bravo",
        "BASE/docs/alpha#again",
        "http://other.example/docs/delta",
        "BASE/docs/charlie",
    ];
    sitemap_xml(&site.base, "urlset", "url", &pages)
}

async fn sitemap_index(State(site): State<SiteState>) -> Response {
    let sitemaps = ["BASE/sitemap-one.xml", "http://other.example/sitemap.xml", "BASE/sitemap-two.xml"];
    sitemap_xml(&site.base, "sitemapindex", "sitemap", &sitemaps)
}

async fn endless() -> Response {
    // No Content-Length and no end: only a reader that stops at the cap finishes.
    let chunk = Bytes::from(vec![b'a'; 64 * 1024]);
    let body = futures_util::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone()));
    ([(header::CONTENT_TYPE, "text/html")], Body::from_stream(body)).into_response()
}

async fn stalled() -> Response {
    // The headers and a first piece at once, then nothing, ever.
    let start = futures_util::stream::once(async { Ok::<_, std::io::Error>(Bytes::from("<p>Start")) });
    let body = Body::from_stream(start.chain(futures_util::stream::pending()));
    ([(header::CONTENT_TYPE, "text/html")], body).into_response()
}

async fn hops(Path(n): Path<u32>) -> Redirect {
    if n == 0 { Redirect::to("/guide") } else { Redirect::to(&format!("/hops/{}", n - 1)) }
}

/// Starts the test site on 127.0.0.1, port 0.
async fn site() -> Site {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let trap = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    trap.set_nonblocking(true).unwrap();
    let state = SiteState { base: format!("http://{addr}"), trap_port: trap.local_addr().unwrap().port() };
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let count = move |request: axum::extract::Request, next: axum::middleware::Next| {
        counter.fetch_add(1, Ordering::SeqCst);
        next.run(request)
    };
    let app = axum::Router::new()
        .route("/guide", get(|| async { html(GUIDE.to_owned()) }))
        .route("/old-guide", get(|| async { Redirect::permanent("/guide") }))
        .route("/notes.md", get(|| async { "# Release notes\n\nVersion 2 adds dark mode.\n" }))
        .route(
            "/sitemap",
            get(|| async { html("<main><p>Our site map lists the manuals.</p></main>".into()) }),
        )
        .route("/docs/{name}", get(doc_page))
        .route("/sitemap.xml", get(urlset))
        .route("/sitemap_index.xml", get(sitemap_index))
        .route(
            "/sitemap-one.xml",
            get(|State(s): State<SiteState>| async move {
                sitemap_xml(&s.base, "urlset", "url", &["BASE/docs/alpha", "BASE/docs/bravo"])
            }),
        )
        .route(
            "/sitemap-two.xml",
            get(|State(s): State<SiteState>| async move {
                sitemap_xml(&s.base, "urlset", "url", &["BASE/docs/charlie", "BASE/docs/alpha"])
            }),
        )
        .route("/feed.xml", get(|| async { sitemap_xml("", "rss", "item", &["BASE/post"]) }))
        .route("/image.png", get(|| async { ([(header::CONTENT_TYPE, "image/png")], &b"\x89PNG\r\n"[..]) }))
        .route("/missing", get(|| async { (Status::NOT_FOUND, "no such page") }))
        .route("/huge", get(endless))
        .route("/slow", get(stalled))
        .route("/hops/{n}", get(hops))
        .route("/to-private", get(|| async { Redirect::to("http://10.0.0.1/admin") }))
        .route(
            "/to-metadata",
            get(|| async { Redirect::temporary("http://169.254.169.254/latest/meta-data/") }),
        )
        .route(
            "/to-other-port",
            get(|State(s): State<SiteState>| async move {
                Redirect::to(&format!("http://127.0.0.1:{}/", s.trap_port))
            }),
        )
        .route(
            "/to-localhost",
            get(|State(s): State<SiteState>| async move {
                Redirect::to(&s.base.replace("127.0.0.1", "localhost"))
            }),
        )
        .route("/to-file", get(|| async { Redirect::to("file:///etc/passwd") }))
        .layer(axum::middleware::from_fn(count))
        .with_state(state);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Site { addr, hits, trap }
}

/// An application that may fetch from loopback (the test site).
async fn spawn_trusting(customise: impl FnOnce(&mut IngestConfig)) -> TestApp {
    spawn_app_with(|c| {
        c.ingest.allow_private_urls = true;
        customise(&mut c.ingest);
    })
    .await
}

async fn add_url(app: &TestApp, token: &str, ws: i64, url: &str) -> reqwest::Response {
    app.post(&format!("/workspaces/{ws}/documents"), token, &json!({"url": url})).await
}

/// Adds `url`, expects 202, and returns the documents it added.
async fn added(app: &TestApp, token: &str, ws: i64, url: &str) -> Vec<Value> {
    let response = add_url(app, token, ws, url).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED, "{url}: {:?}", response.text().await);
    let body: Value = response.json().await.unwrap();
    body["documents"].as_array().unwrap().clone()
}

async fn search(app: &TestApp, token: &str, ws: i64, query: &str) -> Vec<Value> {
    let response = app.post(&format!("/workspaces/{ws}/search"), token, &json!({"query": query})).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.unwrap()["results"].as_array().unwrap().clone()
}

fn id(doc: &Value) -> i64 {
    doc["id"].as_i64().unwrap()
}

#[tokio::test]
async fn a_page_becomes_searchable_under_its_final_address() {
    let site = site().await;
    let app = spawn_trusting(|_| {}).await;
    let token = app.admin_token().await;
    let ws = app.workspace(&token, "Docs").await;

    let docs = added(&app, &token, ws, &site.url("/old-guide#top")).await;
    assert_eq!(docs.len(), 1);
    let doc = &docs[0];
    assert_eq!(doc["kind"], "webpage");
    assert_eq!(doc["status"], "pending", "fetched later, not in the request");
    assert_eq!(doc["source"], site.url("/old-guide"), "the fragment is not part of the address");
    assert_eq!(doc["duplicate"], false);

    let ready = settled(&app, &token, ws, id(doc)).await;
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["title"], "Widget guide");
    assert_eq!(ready["source"], site.url("/guide"), "the address after the redirect");
    assert_eq!(ready["url"], site.url("/guide"));
    assert_eq!(ready["size_bytes"], GUIDE.len());

    let results = search(&app, &token, ws, "where do I paste the snippet").await;
    assert_eq!(results[0]["document_id"], id(doc));
    assert_eq!(results[0]["url"], site.url("/guide#install"), "{results:?}");
    assert_eq!(results[0]["heading_path"], "Widget guide > Installing");
    assert!(
        search(&app, &token, ws, "pricing login copyright corporation").await.is_empty(),
        "page furniture"
    );

    // The same address again is the same document.
    let again = added(&app, &token, ws, &site.url("/old-guide")).await;
    assert_eq!((id(&again[0]), &again[0]["duplicate"]), (id(doc), &json!(true)));

    // Plain text and Markdown pages too; a title given by the owner is kept.
    let response = app
        .post(
            &format!("/workspaces/{ws}/documents"),
            &token,
            &json!({"url": site.url("/notes.md"), "title": "What's new"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let notes = response.json::<Value>().await.unwrap()["documents"][0].clone();
    let notes = settled(&app, &token, ws, id(&notes)).await;
    assert_eq!((&notes["status"], &notes["title"]), (&json!("ready"), &json!("What's new")), "{notes}");
    let results = search(&app, &token, ws, "dark mode").await;
    assert_eq!(results[0]["heading_path"], "Release notes");
    assert_eq!(results[0]["url"], site.url("/notes.md#release-notes"));

    // An address that looks like a sitemap but serves a page is a page; without
    // a <title> or <h1> its title is its address.
    let map = &added(&app, &token, ws, &site.url("/sitemap")).await[0];
    assert_eq!(map["kind"], "webpage");
    let map = settled(&app, &token, ws, id(map)).await;
    assert_eq!((&map["status"], &map["title"]), (&json!("ready"), &json!(site.url("/sitemap"))), "{map}");
}

#[tokio::test]
async fn a_sitemap_adds_the_pages_of_its_own_site_and_no_others() {
    let site = site().await;
    let app = spawn_trusting(|_| {}).await;
    let token = app.admin_token().await;
    let ws = app.workspace(&token, "Docs").await;

    let docs = added(&app, &token, ws, &site.url("/sitemap.xml")).await;
    let sources: Vec<&str> = docs.iter().map(|d| d["source"].as_str().unwrap()).collect();
    let expected = [site.url("/docs/alpha"), site.url("/docs/bravo"), site.url("/docs/charlie")];
    assert_eq!(sources, expected, "same-site pages, each once, in order");
    assert!(docs.iter().all(|d| d["status"] == "pending" && d["kind"] == "webpage"), "{docs:?}");
    for doc in &docs {
        let doc = settled(&app, &token, ws, id(doc)).await;
        assert_eq!(doc["status"], "ready", "{doc}");
    }
    let results = search(&app, &token, ws, "bravo topic").await;
    assert_eq!(results[0]["url"], site.url("/docs/bravo"));
    assert_eq!(results[0]["title"], "Page bravo");

    // An index of sitemaps, one level deep, finds the same pages: nothing new.
    let again = added(&app, &token, ws, &site.url("/sitemap_index.xml")).await;
    let sources: Vec<&str> = again.iter().map(|d| d["source"].as_str().unwrap()).collect();
    assert_eq!(sources, expected);
    assert!(again.iter().all(|d| d["duplicate"] == true), "{again:?}");
    let list: Value = app.get(&format!("/workspaces/{ws}/documents"), &token).await.json().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 3);

    // A title for a whole sitemap makes no sense.
    let body = json!({"url": site.url("/sitemap.xml"), "title": "All"});
    let fields =
        validation_fields(app.post(&format!("/workspaces/{ws}/documents"), &token, &body).await).await;
    assert!(fields["title"].is_string(), "{fields}");

    // At most ingest.max_sitemap_pages pages.
    let small = spawn_trusting(|i| i.max_sitemap_pages = 2).await;
    let token = small.admin_token().await;
    let ws = small.workspace(&token, "Docs").await;
    let docs = added(&small, &token, ws, &site.url("/sitemap_index.xml")).await;
    let sources: Vec<&str> = docs.iter().map(|d| d["source"].as_str().unwrap()).collect();
    assert_eq!(sources, [site.url("/docs/alpha"), site.url("/docs/bravo")]);
}

#[tokio::test]
async fn pages_that_cannot_be_read_fail_with_a_reason() {
    let site = site().await;
    let app = spawn_trusting(|i| {
        i.max_file_mb = 1;
        i.fetch_timeout_seconds = 1;
    })
    .await;
    let token = app.admin_token().await;
    let ws = app.workspace(&token, "Docs").await;
    for (path, reason) in [
        ("/missing", "HTTP 404"),
        ("/huge", "larger than 1 MiB"),
        ("/slow", "longer than 1 s"),
        ("/image.png", "image/png"),
    ] {
        let doc = &added(&app, &token, ws, &site.url(path)).await[0];
        let doc = settled(&app, &token, ws, id(doc)).await;
        assert_eq!(doc["status"], "failed", "{path}: {doc}");
        assert!(doc["error"].as_str().is_some_and(|e| e.contains(reason)), "{path}: {doc}");
        assert_eq!(doc["chunk_count"], 0);
    }

    // A sitemap is read in the request, so its problems are answered at once.
    let response = add_url(&app, &token, ws, &site.url("/feed.xml")).await;
    assert_error(response, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_file_type").await;
    let fields = validation_fields(add_url(&app, &token, ws, &site.url("/gone/sitemap.xml")).await).await;
    assert!(fields["url"].as_str().is_some_and(|e| e.contains("HTTP 404")), "{fields}");
    let list: Value = app.get(&format!("/workspaces/{ws}/documents"), &token).await.json().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 4, "only the four pages: {list}");
}

#[tokio::test]
async fn internal_addresses_are_refused_before_anything_is_stored() {
    let site = site().await;
    let app = spawn_app().await; // ingest.allow_private_urls = false
    let token = app.admin_token().await;
    let ws = app.workspace(&token, "Docs").await;
    let port = site.addr.port();
    for url in [
        site.url("/guide"),
        site.url("/sitemap.xml"),
        format!("http://localhost:{port}/guide"),
        format!("http://[::1]:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://2130706433:{port}/"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.0.0.1/".to_owned(),
        "https://192.168.0.1:8443/".to_owned(),
        "http://100.64.0.1/".to_owned(),
        "http://[fd00::1]/".to_owned(),
        "http://0.0.0.0/".to_owned(),
    ] {
        let error = assert_error(
            add_url(&app, &token, ws, &url).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "url_not_allowed",
        )
        .await;
        assert!(error["message"].as_str().unwrap().contains("allow_private_urls"), "{url}: {error}");
    }
    for url in ["ftp://example.com/file", "file:///etc/passwd", "not a url"] {
        assert!(validation_fields(add_url(&app, &token, ws, url).await).await["url"].is_string(), "{url}");
    }
    assert_eq!(site.hits(), 0, "no request reached the site");
    let list: Value = app.get(&format!("/workspaces/{ws}/documents"), &token).await.json().await.unwrap();
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn the_worker_checks_the_address_again_when_it_fetches() {
    // Addresses stored while they were allowed (or names that resolved elsewhere
    // then: DNS rebinding) are checked again when the page is fetched.
    let site = site().await;
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let ws = app.workspace(&token, "Docs").await;
    let store = &app.state.store;
    for (address, reason) in [
        ("http://10.0.0.1/".to_owned(), "private"),
        (format!("http://localhost:{}/guide", site.addr.port()), "loopback"),
    ] {
        let added = store
            .add_document(
                &docent::model::NewDocument {
                    workspace_id: ws,
                    title: address.clone(),
                    source: address.clone(),
                    url: Some(address.clone()),
                    kind: "webpage".into(),
                    content_hash: address.clone(),
                    content: address.clone().into_bytes(),
                },
                docent::clock::now_ms(),
            )
            .await
            .unwrap();
        let docent::model::AddOutcome::Added(doc) = added else { panic!("{address} was a duplicate") };
        app.state.knowledge.job_added();
        let doc = settled(&app, &token, ws, doc.id).await;
        assert_eq!(doc["status"], "failed", "{doc}");
        assert!(doc["error"].as_str().is_some_and(|e| e.contains(reason)), "{address}: {doc}");
    }
    assert_eq!(site.hits(), 0);
}

#[tokio::test]
async fn redirects_are_checked_on_every_hop() {
    let site = site().await;
    // Strict, except for the test site's own address, named literally.
    let config = IngestConfig { fetch_timeout_seconds: 10, ..IngestConfig::default() };
    let policy = AddressPolicy { allow_private: false, exceptions: vec![site.addr] };
    let fetcher = Fetcher::with_policy(&config, policy).unwrap();
    let get = |path: &str| {
        let url = Url::parse(&site.url(path)).unwrap();
        let fetcher = fetcher.clone();
        async move { fetcher.get(&url).await }
    };

    let page = get("/guide").await.unwrap();
    assert_eq!(page.media_type, "text/html");
    assert!(String::from_utf8(page.body).unwrap().contains("Paste the snippet"));
    let page = get("/hops/4").await.unwrap();
    assert_eq!(page.url.as_str(), site.url("/guide"), "five redirects are fine");
    assert_eq!(get("/hops/5").await.unwrap_err(), FetchError::TooManyRedirects);

    for (path, host) in [("/to-private", "10.0.0.1"), ("/to-metadata", "169.254.169.254")] {
        let err = get(path).await.unwrap_err();
        assert!(matches!(&err, FetchError::NotAllowed { host: h, .. } if h == host), "{path}: {err:?}");
    }
    // Another port of the same loopback address: refused before connecting.
    let err = get("/to-other-port").await.unwrap_err();
    assert!(matches!(err, FetchError::NotAllowed { .. }), "{err:?}");
    // A host name is judged by what it resolves to, when it is fetched.
    let err = get("/to-localhost").await.unwrap_err();
    assert!(matches!(&err, FetchError::NotAllowed { host, .. } if host == "localhost"), "{err:?}");
    let err = get("/to-file").await.unwrap_err();
    assert!(matches!(err, FetchError::Scheme(_)), "{err:?}");
    assert_eq!(
        site.trap.accept().map_err(|e| e.kind()).err(),
        Some(std::io::ErrorKind::WouldBlock),
        "the trap port must be untouched"
    );
}
