//! `spawn_app()`: the real application on port 0, with a fresh SQLite file, or a
//! freshly created PostgreSQL database when `DOCENT_TEST_DATABASE_URL` is set
//! (dropped when the test ends).

use std::net::SocketAddr;

use docent::config::Config;
use docent::http::AppState;
use docent::startup::Application;
use reqwest::{Response, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::Connection;
use tempfile::TempDir;
use tokio::sync::oneshot;

pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// A database that lives as long as the test.
pub struct TestDb {
    pub url: String,
    /// Set for PostgreSQL: (server URL, database name) to drop at the end.
    drop: Option<(String, String)>,
}

impl TestDb {
    /// SQLite in `dir`, or a new PostgreSQL database.
    pub async fn new(dir: &std::path::Path) -> Self {
        match std::env::var("DOCENT_TEST_DATABASE_URL") {
            Ok(server) if !server.is_empty() => {
                // scripts/test names its run, so it can clean up after itself only.
                let run: String = std::env::var("DOCENT_TEST_RUN")
                    .unwrap_or_default()
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .take(16)
                    .collect();
                let name = format!("docent_test_{run}_{}", hex::encode(rand::random::<[u8; 8]>()));
                let mut conn = sqlx::PgConnection::connect(&server)
                    .await
                    .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at DOCENT_TEST_DATABASE_URL: {e}"));
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create the test database");
                let _ = conn.close().await;
                let mut url = url::Url::parse(&server).expect("DOCENT_TEST_DATABASE_URL is a URL");
                url.set_path(&name);
                Self { url: url.to_string(), drop: Some((server, name)) }
            }
            _ => Self { url: format!("sqlite://{}", dir.join("docent.db").display()), drop: None },
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.drop.is_some()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((server, name)) = self.drop.take() else {
            return;
        };
        // Drop runs inside the test's runtime; do the async work on a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&server).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                    .execute(&mut conn)
                    .await?;
                conn.close().await
            })?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {:?}", dropped.map(|r| r.map_err(|e| e.to_string())));
        }
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub state: AppState,
    pub db: TestDb,
    pub dir: TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// The test configuration: port 0, data in `dir`, a known administrator password.
pub fn test_config(dir: &std::path::Path, database_url: &str) -> Config {
    let mut config = Config {
        bind: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        database_url: database_url.to_owned(),
        ..Config::default()
    };
    config.secrets.admin_password = Some(SecretString::from(ADMIN_PASSWORD));
    // Keyword search unless a test asks for an embedder (tests/api/embeddings.rs).
    config.embeddings.provider = docent::config::EmbeddingProvider::None;
    config.validate().expect("the test configuration is valid");
    config
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Like [`spawn_app`], after `customise` has changed the configuration.
pub async fn spawn_app_with(customise: impl FnOnce(&mut Config)) -> TestApp {
    spawn(customise, false).await
}

/// Like [`spawn_app`], as `docent serve --sample` starts: with the sample
/// workspace and bot, shown on the demo page.
pub async fn spawn_app_with_sample() -> TestApp {
    spawn(|_| {}, true).await
}

/// Like [`spawn_app_with_sample`], after `customise` has changed the configuration.
pub async fn spawn_app_with_sample_and(customise: impl FnOnce(&mut Config)) -> TestApp {
    spawn(customise, true).await
}

async fn spawn(customise: impl FnOnce(&mut Config), sample: bool) -> TestApp {
    let dir = tempfile::tempdir().expect("temporary folder");
    let db = TestDb::new(dir.path()).await;
    let mut config = test_config(dir.path(), &db.url);
    customise(&mut config);
    let mut app = Application::build(config).await.expect("the application builds");
    app.prepare_demo(sample).await.expect("the demo page is prepared");
    let addr = app.local_addr();
    let state = app.state().clone();
    let (tx, rx) = oneshot::channel();
    let server = tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    TestApp { addr, client: reqwest::Client::new(), state, db, dir, shutdown: Some(tx), server: Some(server) }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.client.get(self.url(path)).bearer_auth(token).send().await.expect("request sent")
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).bearer_auth(token).json(body).send().await.expect("request sent")
    }

    pub async fn put(&self, path: &str, token: &str, body: &Value) -> Response {
        self.client.put(self.url(path)).bearer_auth(token).json(body).send().await.expect("request sent")
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.client.delete(self.url(path)).bearer_auth(token).send().await.expect("request sent")
    }

    /// POST without credentials.
    pub async fn post_anon(&self, path: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).json(body).send().await.expect("request sent")
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.post_anon("/auth/login", &json!({"username": username, "password": password})).await
    }

    /// Logs in and returns the token pair.
    pub async fn tokens(&self, username: &str, password: &str) -> Value {
        let response = self.login(username, password).await;
        assert_eq!(response.status(), StatusCode::OK, "login of {username}");
        response.json().await.unwrap()
    }

    pub async fn admin_token(&self) -> String {
        self.tokens(ADMIN, ADMIN_PASSWORD).await["access_token"].as_str().unwrap().to_owned()
    }

    /// Creates a user the way `docent user create` does, and signs them in.
    pub async fn user_token(&self, username: &str) -> String {
        let password = format!("{username}-password");
        self.state
            .auth
            .create_user(username, SecretString::from(password.clone()), false)
            .await
            .expect("create user");
        self.tokens(username, &password).await["access_token"].as_str().unwrap().to_owned()
    }

    /// Creates a workspace and returns its id.
    pub async fn workspace(&self, token: &str, name: &str) -> i64 {
        let response = self.post("/workspaces", token, &json!({"name": name})).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
    }

    /// Creates a bot and returns it.
    pub async fn bot(&self, token: &str, body: &Value) -> Value {
        let response = self.post("/widget/bots", token, body).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{:?}", response.text().await);
        response.json().await.unwrap()
    }

    /// Stops the server and waits until it has shut down.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server stopped cleanly");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// Asserts the contract's error shape and code; returns the `error` object.
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status, "status of {}", response.url());
    assert_eq!(
        response.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json"),
        "error content type"
    );
    let body: Value = response.json().await.expect("a JSON error body");
    let error = &body["error"];
    assert_eq!(error["code"], code, "error body: {body}");
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "error message in {body}");
    error.clone()
}

/// The `fields` of a 422 answer.
pub async fn validation_fields(response: Response) -> Value {
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await["fields"].clone()
}
