//! Chat benchmark: prints figures, asserts nothing (not a timed test).
//!
//! Starts the real `docent` binary (bench profile) on SQLite in a temporary
//! folder, loads one short document, and drives `POST /widget/chat` from this
//! process, a Rust load generator:
//!
//! 1. extractive replies (no language model): turns/s and p50/p99 at
//!    `--concurrency` clients, and the server's CPU-ms per turn (from
//!    /proc/<pid>/stat, so the load generator's own CPU is not counted);
//!    Then questions the document cannot answer: the bot's fallback, no
//!    passages and no reply to make, so what is left is Docent's own work;
//! 2. the same with a mock OpenAI-compatible server that answers at once (this
//!    program again, in a process of its own, so that its sockets and CPU are
//!    not counted as the load generator's);
//! 3. `--streams` streaming chats held open at once (a mock that sends the
//!    first piece, then waits): time to the first byte of the stream (p50/p99)
//!    and the server's RSS while they are open, then the latency of turns made
//!    one after another beside them (answered without the model).
//!
//! A first row measures the load generator itself: the same clients against
//! `GET /healthz`, which does no work, so its turns/s is the most this
//! generator can drive on the machine beside the server.
//!
//! ```sh
//! ulimit -n 65536; cargo bench --bench chat
//! cargo bench --bench chat -- --seconds 10 --concurrency 64 --streams 10000
//! ```
//!
//! Abuse limits are raised for the run (one address sends everything). Each
//! held stream costs the server two sockets (the visitor's and the model's),
//! so the streams are capped to what its open-file limit allows, and the run
//! says so.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::post;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

const PASSWORD: &str = "benchmark password 1";
const DOCUMENT: &str = "# Account\n\n## Password\n\nTo reset your password, open Settings and choose Security. \
     A reset link is then sent to your email address.\n\n## Billing\n\nInvoices are sent on the first day of each month.";
/// Questions the document does not answer: the turn without search hits or a
/// reply to write, which is Docent's own overhead (token, origin, limits,
/// session, storing both messages and the unanswered mark).
const UNANSWERABLE: [&str; 2] = ["Do you ship to Antarctica?", "zebra quokka"];
const QUESTIONS: [&str; 4] = [
    "How do I reset my password?",
    "When are invoices sent?",
    "reset link email",
    "where is the security page",
];

struct Args {
    seconds: u64,
    concurrency: usize,
    streams: usize,
}

impl Args {
    fn parse() -> anyhow::Result<Self> {
        let mut args = Self { seconds: 10, concurrency: 64, streams: 10_000 };
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--bench" => {}
                "--seconds" => args.seconds = it.next().context("--seconds needs a number")?.parse()?,
                "--concurrency" => {
                    args.concurrency = it.next().context("--concurrency needs a number")?.parse()?
                }
                "--streams" => args.streams = it.next().context("--streams needs a number")?.parse()?,
                other => bail!(
                    "unknown argument {other:?}; usage: chat [--seconds 10] [--concurrency 64] [--streams 10000]"
                ),
            }
        }
        Ok(args)
    }
}

fn main() -> anyhow::Result<()> {
    if let Some(mode) = std::env::args().skip_while(|a| a != "--mock-llm").nth(1) {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        return runtime.block_on(serve_mock(mode == "hold"));
    }
    let args = Args::parse()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    println!(
        "cores: {}, {} s per throughput row, {} clients",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        args.seconds,
        args.concurrency
    );
    println!("{:<44} {:>9} {:>9} {:>9} {:>12}", "", "turns/s", "p50 ms", "p99 ms", "CPU-ms/turn");

    let server = Server::start(&[]).await?;
    let visitor = server.prepare(args.concurrency).await?;
    throughput("load generator ceiling (GET /healthz)", &server, &visitor, &args, None).await?;
    throughput("extractive replies", &server, &visitor, &args, Some(QUESTIONS.as_slice())).await?;
    throughput("fallback replies (nothing found)", &server, &visitor, &args, Some(UNANSWERABLE.as_slice()))
        .await?;
    drop(server);

    let mock = Mock::start("now")?;
    let server = Server::start(&mock.llm_env()).await?;
    let visitor = server.prepare(args.concurrency).await?;
    throughput("mock LLM answering at once", &server, &visitor, &args, Some(QUESTIONS.as_slice())).await?;
    drop(server);
    drop(mock);

    let mock = Mock::start("hold")?;
    let server = Server::start(&mock.llm_env()).await?;
    let fit = (open_files_limit().saturating_sub(200) / 2).max(1);
    let streams = if args.streams > fit {
        println!(
            "holding {fit} streams, not {}: each takes two of the server's {} open files",
            args.streams,
            open_files_limit()
        );
        fit
    } else {
        args.streams
    };
    // One more session than streams, for the turns made beside them.
    let visitor = server.prepare(streams + 1).await?;
    held_streams(&server, &visitor, streams).await?;
    Ok(())
}

/// The soft limit of open files this process (and the server it starts) has.
fn open_files_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
        .unwrap_or(1024)
}

/// A mock OpenAI-compatible server in a process of its own.
struct Mock {
    child: Child,
    base_url: String,
}

impl Mock {
    fn start(mode: &str) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .args(["--mock-llm", mode])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start the mock model")?;
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().context("no stdout")?),
            &mut line,
        )?;
        let addr = line.trim().strip_prefix("mock listening on ").context("the mock did not start")?;
        Ok(Self { base_url: format!("http://{addr}/v1"), child })
    }

    fn llm_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("DOCENT_LLM_PROVIDER", "openai".into()),
            ("DOCENT_LLM_BASE_URL", self.base_url.clone()),
            ("DOCENT_LLM_MODEL", "mock".into()),
            ("DOCENT_LLM_FIRST_TOKEN_TIMEOUT_SECONDS", "600".into()),
            ("DOCENT_LLM_TIMEOUT_SECONDS", "3600".into()),
        ]
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `docent` binary running on a temporary data folder.
struct Server {
    child: Child,
    url: String,
    pid: u32,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

struct Visitor {
    token: String,
    sessions: Vec<String>,
}

impl Server {
    async fn start(extra_env: &[(&'static str, String)]) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut command = Command::new(env!("CARGO_BIN_EXE_docent"));
        command
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env("DOCENT_DATA_DIR", dir.path())
            .env("DOCENT_ADMIN_PASSWORD", PASSWORD)
            .env("DOCENT_LOG_LEVEL", "error")
            .env("DOCENT_EMBEDDINGS_PROVIDER", "none")
            .env("DOCENT_WIDGET_REQUESTS_PER_ADDRESS_PER_MINUTE", "1000000")
            .env("DOCENT_WIDGET_SESSIONS_PER_ADDRESS_PER_HOUR", "1000000")
            .env("DOCENT_WIDGET_MESSAGES_PER_SESSION_PER_MINUTE", "10000")
            .env("DOCENT_WIDGET_MAX_SESSIONS_PER_BOT", "1000000")
            .envs(extra_env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().context("cannot start docent")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(tokio::process::ChildStdout::from_std(stdout)?).lines();
        let url = loop {
            let line = lines.next_line().await?.context("docent exited before listening")?;
            if let Some(rest) = line.strip_prefix("Docent is listening on ") {
                break rest.split_whitespace().next().unwrap_or_default().to_owned();
            }
        };
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let client = reqwest::Client::builder().pool_max_idle_per_host(100_000).build()?;
        Ok(Self { pid: child.id(), child, url, client, _dir: dir })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self.client.request(method, format!("{}{path}", self.url)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("{path}: {status} {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A workspace with the document, a bot, a widget token and `sessions` sessions.
    async fn prepare(&self, sessions: usize) -> anyhow::Result<Visitor> {
        use reqwest::Method;
        let login = json!({"username": "admin", "password": PASSWORD});
        let owner = self.call(Method::POST, "/auth/login", "", Some(login)).await?["access_token"]
            .as_str()
            .context("no access token")?
            .to_owned();
        let ws = self.call(Method::POST, "/workspaces", &owner, Some(json!({"name": "Bench"}))).await?["id"]
            .clone();
        let doc = json!({"title": "Account help", "text": DOCUMENT});
        self.call(Method::POST, &format!("/workspaces/{ws}/documents"), &owner, Some(doc)).await?;
        loop {
            let docs = self.call(Method::GET, &format!("/workspaces/{ws}/documents"), &owner, None).await?;
            if docs[0]["status"] == "ready" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let bot = self
            .call(Method::POST, "/widget/bots", &owner, Some(json!({"name": "Bench", "workspace_id": ws})))
            .await?;
        let generated =
            self.call(Method::POST, "/widget/generate", &owner, Some(json!({"bot_id": bot["id"]}))).await?;
        let token = generated["token"].as_str().context("no token")?.to_owned();
        let mut ids = Vec::with_capacity(sessions);
        for _ in 0..sessions {
            let started = self.call(Method::POST, "/widget/session/start", &token, Some(json!({}))).await?;
            ids.push(started["session_id"].as_str().context("no session")?.to_owned());
        }
        Ok(Visitor { token, sessions: ids })
    }

    /// CPU time the server has used, in milliseconds (utime + stime).
    fn cpu_ms(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap_or_default();
        // Fields after the command name (which may hold spaces) start at ") ".
        let rest = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 = [11, 12].iter().filter_map(|&i| fields.get(i)?.parse::<f64>().ok()).sum();
        ticks * 10.0 // USER_HZ is 100 on Linux
    }

    fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        let kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok());
        kib.unwrap_or(0.0) / 1024.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

/// `concurrency` clients sending chat turns (or, without `questions`, asking
/// for `/healthz`) for `seconds`.
async fn throughput(
    name: &str,
    server: &Server,
    visitor: &Visitor,
    args: &Args,
    questions: Option<&'static [&'static str]>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let cpu_before = server.cpu_ms();
    let started = Instant::now();
    let mut workers = Vec::new();
    for (n, session) in visitor.sessions.iter().take(args.concurrency).enumerate() {
        let (client, url, token, session) =
            (server.client.clone(), server.url.clone(), visitor.token.clone(), session.clone());
        workers.push(tokio::spawn(async move {
            let mut times = Vec::new();
            let mut failures = 0usize;
            let mut i = n;
            while Instant::now() < deadline {
                let request = match questions {
                    Some(questions) => {
                        let body = json!({"session_id": session, "message": questions[i % questions.len()]});
                        client.post(format!("{url}/widget/chat")).bearer_auth(&token).json(&body)
                    }
                    None => client.get(format!("{url}/healthz")),
                };
                i += 1;
                let t = Instant::now();
                let ok = match request.send().await {
                    Ok(response) => response.status().is_success() && response.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if ok { times.push(t.elapsed()) } else { failures += 1 }
            }
            (times, failures)
        }));
    }
    let mut times = Vec::new();
    let mut failures = 0;
    for worker in workers {
        let (t, f) = worker.await?;
        times.extend(t);
        failures += f;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = server.cpu_ms() - cpu_before;
    times.sort_unstable();
    let turns = times.len();
    println!(
        "{:<44} {:>9.0} {:>9.2} {:>9.2} {:>12.3}{}",
        name,
        turns as f64 / elapsed,
        percentile(&times, 0.50),
        percentile(&times, 0.99),
        cpu / turns.max(1) as f64,
        if failures > 0 { format!("  ({failures} failed)") } else { String::new() }
    );
    Ok(())
}

/// `streams` streaming chats opened at once and held: time to first byte, RSS.
async fn held_streams(server: &Server, visitor: &Visitor, streams: usize) -> anyhow::Result<()> {
    let rss_before = server.rss_mib();
    let mut opened = Vec::with_capacity(streams);
    for session in visitor.sessions.iter().take(streams) {
        let request = server
            .client
            .post(format!("{}/widget/chat", server.url))
            .bearer_auth(&visitor.token)
            .header("accept", "text/event-stream")
            .json(&json!({"session_id": session, "message": QUESTIONS[0]}));
        opened.push(tokio::spawn(async move {
            let t = Instant::now();
            let mut response = request.send().await.ok()?;
            // The first piece of the reply.
            let first = response.chunk().await.ok()??;
            let ttfb = t.elapsed();
            Some((ttfb, first.len(), response))
        }));
    }
    let mut times = Vec::new();
    let mut held = Vec::new();
    for task in opened {
        if let Some((ttfb, _, response)) = task.await? {
            times.push(ttfb);
            held.push(response);
        }
    }
    times.sort_unstable();
    println!(
        "{} of {streams} streams open at once: first byte p50 {:.1} ms, p99 {:.1} ms; server RSS {:.1} MiB (was {:.1} MiB)",
        held.len(),
        percentile(&times, 0.50),
        percentile(&times, 0.99),
        server.rss_mib(),
        rss_before
    );

    // Whether the server still answers promptly while holding them: turns the
    // model is not asked for (nothing relevant found), one after another, in
    // the session no stream uses.
    let session = visitor.sessions.get(streams).context("no spare session")?;
    let mut times = Vec::new();
    for i in 0..200 {
        let body = json!({"session_id": session, "message": UNANSWERABLE[i % UNANSWERABLE.len()]});
        let t = Instant::now();
        let request = server.client.post(format!("{}/widget/chat", server.url)).bearer_auth(&visitor.token);
        let response = request.json(&body).send().await?;
        if !response.status().is_success() {
            bail!("a turn beside the held streams failed: {}", response.status());
        }
        response.bytes().await?;
        times.push(t.elapsed());
    }
    times.sort_unstable();
    println!(
        "meanwhile, 200 turns one after another: p50 {:.2} ms, p99 {:.2} ms",
        percentile(&times, 0.50),
        percentile(&times, 0.99)
    );
    drop(held);
    Ok(())
}

/// The mock OpenAI-compatible server (`--mock-llm now|hold`): answers at once,
/// or sends the first piece and holds the stream open until it is killed.
/// Prints `mock listening on ADDR`, then serves.
async fn serve_mock(hold: bool) -> anyhow::Result<()> {
    async fn completions(State(hold): State<bool>) -> impl IntoResponse {
        let piece = |text: &str| format!("data: {}\n\n", json!({"choices": [{"delta": {"content": text}}]}));
        let done = format!(
            "data: {}\n\ndata: [DONE]\n\n",
            json!({"choices": [{"delta": {}, "finish_reason": "stop"}]})
        );
        let first = piece("Open Settings, ");
        let body = if hold {
            let first = futures_util::stream::once(async move { Ok::<_, std::io::Error>(first) });
            Body::from_stream(first.chain(futures_util::stream::pending()))
        } else {
            Body::from(format!("{first}{}{done}", piece("then Security.")))
        };
        ([("content-type", "text/event-stream")], body)
    }
    let app = Router::new().route("/v1/chat/completions", post(completions)).with_state(hold);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("mock listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
