//! The `docent` binary: help, version, configuration errors, migrate, users,
//! healthcheck, and serve with a graceful stop.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{TestDb, spawn_app};

fn docent(dir: &std::path::Path, db: &TestDb) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_docent"));
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DOCENT_DATA_DIR", dir)
        .env("DOCENT_DATABASE_URL", &db.url);
    command
}

fn run_with_stdin(mut command: Command, input: &str) -> Output {
    let mut child =
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_and_version() {
    let out = Command::new(env!("CARGO_BIN_EXE_docent")).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).trim(), format!("docent {}", env!("CARGO_PKG_VERSION")));
    let out = Command::new(env!("CARGO_BIN_EXE_docent")).args(["serve", "--help"]).output().unwrap();
    let help = text(&out.stdout);
    for flag in ["--config", "--bind", "--data-dir", "--database-url"] {
        assert!(help.contains(flag), "serve --help lacks {flag}: {help}");
    }
    for sub in [vec!["migrate", "--help"], vec!["user", "create", "--help"], vec!["healthcheck", "--help"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_docent")).args(&sub).output().unwrap();
        assert!(out.status.success(), "{sub:?}");
    }
}

#[tokio::test]
async fn bad_settings_stop_start_up_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(dir.path()).await;
    let cases = [
        ("DOCENT_WIDGET_TOKEN_EXPIRE_DAYS", "0", "widget.token_expire_days"),
        ("DOCENT_DATABASE_URL", "mysql://localhost/x", "database_url"),
        ("DOCENT_LOG_FORMAT", "xml", "log_format"),
        ("DOCENT_WIDGET_MAX_SESSIONS_PER_BOT", "lots", "DOCENT_WIDGET_MAX_SESSIONS_PER_BOT"),
    ];
    for (name, value, setting) in cases {
        let out = docent(dir.path(), &db).env(name, value).arg("serve").output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}={value}");
        assert!(text(&out.stderr).contains(setting), "{name}={value}: {}", text(&out.stderr));
    }
    let config = dir.path().join("docent.toml");
    std::fs::write(&config, "[widget]\nsession_timeout_minutes = -5\n").unwrap();
    let out = docent(dir.path(), &db).args(["serve", "--config"]).arg(&config).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("widget.session_timeout_minutes"), "{}", text(&out.stderr));
}

#[tokio::test]
async fn migrate_with_sample_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(dir.path()).await;
    let run = || {
        let out = docent(dir.path(), &db)
            .env("DOCENT_ADMIN_PASSWORD", "sample admin password")
            .args(["migrate", "--sample"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let first = run();
    assert!(first.contains("Sample created: workspace_id=1 bot_id=1"), "{first}");
    let embed = first
        .lines()
        .find(|l| l.trim_start().starts_with("<script"))
        .expect("an embed code")
        .trim()
        .to_owned();
    assert!(embed.contains("/static/widget.js") && embed.ends_with("async></script>"), "{embed}");
    let token = embed.split("data-token=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let second = run();
    assert!(second.contains("Sample already present: workspace_id=1 bot_id=1"), "{second}");
    assert!(!second.contains("<script"), "no new token on a later run: {second}");
    // The sample documents were processed and answer questions about Docent.
    let out = docent(dir.path(), &db)
        .args(["search", "--workspace", "1", "allow every subdomain"])
        .output()
        .unwrap();
    let printed = text(&out.stdout);
    assert!(
        printed.starts_with("1. [") && printed.contains("Embedding the widget > Allowed sites"),
        "{printed}"
    );
    let plain = docent(dir.path(), &db).arg("migrate").output().unwrap();
    assert!(plain.status.success());

    // The printed token works: a visitor session starts with it.
    let (mut server, url) = serve(dir.path(), &db);
    let response = reqwest::Client::new()
        .post(format!("{url}/widget/session/start"))
        .bearer_auth(&token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(status, reqwest::StatusCode::CREATED);
    assert!(text(&plain.stdout).contains("initial"));
}

#[tokio::test]
async fn users_are_created_and_changed_from_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(dir.path()).await;
    let mut create = docent(dir.path(), &db);
    create.args(["user", "create", "--username", "dana", "--password-stdin"]);
    let out = run_with_stdin(create, "first password\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("first password"));

    let mut again = docent(dir.path(), &db);
    again.args(["user", "create", "--username", "DANA", "--password-stdin"]);
    let out = run_with_stdin(again, "another password\n");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("already exists"), "{}", text(&out.stderr));

    let mut short = docent(dir.path(), &db);
    short.args(["user", "create", "--username", "eve", "--password-stdin"]);
    let out = run_with_stdin(short, "short\n");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("at least 8"), "{}", text(&out.stderr));

    let out = docent(dir.path(), &db).args(["user", "create", "--username", "eve"]).output().unwrap();
    assert!(!out.status.success(), "--password-stdin is required");

    let mut passwd = docent(dir.path(), &db);
    passwd.args(["user", "passwd", "--username", "dana", "--password-stdin"]);
    let out = run_with_stdin(passwd, "second password\n");
    assert!(out.status.success(), "{}", text(&out.stderr));

    // The server on that database takes the new password and not the old.
    let config = crate::helpers::test_config(dir.path(), &db.url);
    let app = docent::startup::Application::build(config).await.unwrap();
    let auth = &app.state().auth;
    use secrecy::SecretString;
    assert!(auth.login("dana", SecretString::from("second password"), None).await.is_ok());
    assert!(auth.login("dana", SecretString::from("first password"), None).await.is_err());
}

#[tokio::test]
async fn healthcheck_follows_the_server() {
    let app = spawn_app().await;
    let url = app.url("/healthz");
    let mut check = docent(app.dir.path(), &app.db);
    check.args(["healthcheck", "--url", &url]);
    // The server runs on this test's runtime: wait for the child off it.
    let out = tokio::task::spawn_blocking(move || check.output()).await.unwrap().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Without --url it asks the bind address, even when public_url is elsewhere.
    let mut check = docent(app.dir.path(), &app.db);
    check
        .env("DOCENT_BIND", app.addr.to_string())
        .env("DOCENT_PUBLIC_URL", "https://docent.example.invalid")
        .arg("healthcheck");
    let out = tokio::task::spawn_blocking(move || check.output()).await.unwrap().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));

    let addr = app.addr;
    app.stop().await;
    let out = Command::new(env!("CARGO_BIN_EXE_docent"))
        .args(["healthcheck", "--url", &format!("http://{addr}/healthz")])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[tokio::test]
async fn serve_prints_its_url_logs_json_without_secrets_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(dir.path()).await;
    let mut child = docent(dir.path(), &db)
        .env("DOCENT_LOG_FORMAT", "json")
        .args(["serve", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    let url = loop {
        let line = lines.next().expect("serve printed its address").unwrap();
        printed.push(line.clone());
        if let Some(rest) = line.strip_prefix("Docent is listening on ") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    // No admin password configured: one was generated and printed once, on stdout.
    let password = printed
        .iter()
        .find_map(|l| l.trim_start().strip_prefix("password: "))
        .unwrap_or_else(|| panic!("no password in {printed:?}"))
        .to_owned();

    let client = reqwest::Client::new();
    let response = client.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = client
        .post(format!("{url}/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let tokens: serde_json::Value = response.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let response = client.get(format!("{url}/auth/me")).bearer_auth(&access).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
    assert!(out.status.success(), "graceful stop exits 0, got {:?}", out.status);

    let log = text(&out.stderr);
    let entries: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let login = entries
        .iter()
        .find(|e| e["span"]["route"] == "/auth/login")
        .unwrap_or_else(|| panic!("no request log for /auth/login in {log}"));
    assert_eq!(login["status"], 200);
    assert!(login["span"]["request_id"].as_str().is_some_and(|id| !id.is_empty()));
    for secret in [password.as_str(), access.as_str(), tokens["refresh_token"].as_str().unwrap()] {
        assert!(!log.contains(secret), "a secret reached the log");
    }
}

#[test]
fn a_data_folder_name_is_a_path_not_a_url() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("odd?name%41");
    let out = Command::new(env!("CARGO_BIN_EXE_docent"))
        .env_clear()
        .env("DOCENT_DATA_DIR", &dir)
        .arg("migrate")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(dir.join("docent.db").exists());
}

#[tokio::test]
async fn ingest_search_and_reindex_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(dir.path()).await;
    let out = docent(dir.path(), &db)
        .env("DOCENT_ADMIN_PASSWORD", "sample admin password")
        .args(["migrate", "--sample"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));

    let docs = tempfile::tempdir().unwrap();
    std::fs::create_dir(docs.path().join("guides")).unwrap();
    std::fs::write(
        docs.path().join("guides/account.md"),
        "# Account\n## Reset\nOpen Settings to reset your password.\n",
    )
    .unwrap();
    std::fs::write(
        docs.path().join("faq.html"),
        "<h1>FAQ</h1><h2 id=\"billing\">Billing</h2><p>Invoices arrive monthly.</p>",
    )
    .unwrap();
    std::fs::write(docs.path().join("logo.png"), [0x89, b'P', b'N', b'G']).unwrap();
    let out = docent(dir.path(), &db).args(["ingest", "--workspace", "1"]).arg(docs.path()).output().unwrap();
    let printed = text(&out.stdout);
    assert!(out.status.success(), "{printed}{}", text(&out.stderr));
    assert!(printed.contains("2 documents added, 0 already there, 1 skipped"), "{printed}");
    assert!(printed.contains("[3/3]"), "{printed}");
    // Not a terminal: a progress line per processed document, on standard error.
    let progress = text(&out.stderr);
    assert!(progress.contains("] 1/2 documents processed"), "{progress}");
    assert!(progress.contains(&format!("[{}] 2/2 documents processed", "#".repeat(30))), "{progress}");

    let out = docent(dir.path(), &db)
        .args(["search", "--workspace", "1", "how to reset my password"])
        .output()
        .unwrap();
    let printed = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(printed.starts_with("1. ["), "{printed}");
    assert!(printed.contains("account > Account > Reset"), "{printed}");

    let out = docent(dir.path(), &db).arg("reindex").output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    let chunks: usize =
        printed.split("rebuilt: ").nth(1).and_then(|t| t.split(' ').next()?.parse().ok()).unwrap();
    assert!(chunks >= 5, "the two files and the three sample documents: {printed}");
    let out = docent(dir.path(), &db).args(["ingest", "--workspace", "99", "."]).output().unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no workspace 99"));
}

/// Starts `docent serve` on port 0 and returns the child and its address.
fn serve(dir: &std::path::Path, db: &TestDb) -> (std::process::Child, String) {
    let mut child = docent(dir, db)
        .env("DOCENT_ADMIN_PASSWORD", "crash test password")
        .env("DOCENT_INGEST_JOB_LEASE_SECONDS", "2")
        .args(["serve", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("serve printed its address").unwrap();
        if let Some(rest) = line.strip_prefix("Docent is listening on ") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    // Keep reading stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, url)
}

#[tokio::test]
async fn a_document_survives_a_crash_mid_processing() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(dir.path()).await;
    let (mut first, url) = serve(dir.path(), &db);
    let client = reqwest::Client::new();
    let login = serde_json::json!({"username": "admin", "password": "crash test password"});
    let tokens: serde_json::Value =
        client.post(format!("{url}/auth/login")).json(&login).send().await.unwrap().json().await.unwrap();
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    let ws: serde_json::Value = client
        .post(format!("{url}/workspaces"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "Docs"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ws = ws["id"].as_i64().unwrap();

    // Big enough that processing takes a while: thousands of chunks.
    let mut text = String::new();
    for section in 0..400 {
        text.push_str(&format!("## Section {section}\n\n"));
        for sentence in 0..60 {
            text.push_str(&format!("Sentence {sentence} of section {section} explains one more detail. "));
        }
        text.push_str("\n\n");
    }
    let body = serde_json::json!({"title": "Big manual", "text": text});
    let added: serde_json::Value = client
        .post(format!("{url}/workspaces/{ws}/documents"))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = added["documents"][0]["id"].as_i64().unwrap();
    let doc_url = format!("{url}/workspaces/{ws}/documents/{id}");

    // Kill the server hard the moment it is processing the document.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let doc: serde_json::Value =
            client.get(&doc_url).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        match doc["status"].as_str() {
            Some("processing") => break,
            Some("pending") => {}
            other => panic!(
                "processing finished before the crash could happen ({other:?}); make the document bigger"
            ),
        }
        assert!(Instant::now() < deadline, "never started processing");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let killed = Command::new("kill").args(["-KILL", &first.id().to_string()]).status().unwrap();
    assert!(killed.success());
    first.wait().unwrap();

    // A new process on the same data takes the job up once the lease has run out.
    let (mut second, url) = serve(dir.path(), &db);
    let doc_url = format!("{url}/workspaces/{ws}/documents/{id}");
    let token: serde_json::Value =
        client.post(format!("{url}/auth/login")).json(&login).send().await.unwrap().json().await.unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    let doc = loop {
        let doc: serde_json::Value =
            client.get(&doc_url).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        if doc["status"] == "ready" || doc["status"] == "failed" {
            break doc;
        }
        assert!(Instant::now() < deadline, "still {} a minute after the restart", doc["status"]);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(doc["status"], "ready", "{doc}");
    let chunks = doc["chunk_count"].as_i64().unwrap();
    assert!(chunks > 1000, "{chunks}");
    assert_eq!(crate::store::count_rows_in(&db, "chunks").await, chunks, "no duplicate chunks");
    let _ = Command::new("kill").args(["-TERM", &second.id().to_string()]).status();
    second.wait().unwrap();
}
