//! The command line. `main` parses it and hands each command its configuration.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;

use crate::auth::{Auth, AuthError, Bootstrap};
use crate::config::{Config, ConfigError, DatabaseKind, Overrides};
use crate::startup::{Application, shutdown_signal};
use crate::{sample, store, telemetry};

#[derive(Debug, Parser)]
#[command(name = "docent", version, about = "Self-hosted AI chat widget for websites.")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// TOML configuration file (see config.example.toml).
    #[arg(long, global = true, env = "DOCENT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Folder for the SQLite database and other local files [default: ./docent-data].
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// `sqlite:...` or `postgres://...` [default: SQLite in the data folder].
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve {
        /// Address to listen on, IP:port [default: 127.0.0.1:8000].
        #[arg(long, value_name = "ADDR")]
        bind: Option<String>,
        /// Also create the sample workspace and bot, unless they exist, and show
        /// them on the demo page (/static/widget-demo.html).
        #[arg(long)]
        sample: bool,
    },
    /// Apply database migrations and exit.
    Migrate {
        /// Also create a sample workspace and bot (once; running again creates nothing).
        #[arg(long)]
        sample: bool,
    },
    /// Manage platform users.
    #[command(subcommand)]
    User(UserCommand),
    /// Add files and folders (recursively: .txt, .md, .html, .pdf, .docx) to a workspace and process them.
    Ingest {
        #[arg(long)]
        workspace: i64,
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Print a workspace's best passages for a query, with scores (for debugging retrieval).
    Search {
        #[arg(long)]
        workspace: i64,
        #[arg(long, default_value_t = 5)]
        limit: usize,
        /// hybrid (keyword and dense fused), keyword or dense.
        #[arg(long, default_value = "hybrid", value_parser = ["hybrid", "keyword", "dense"])]
        mode: String,
        query: String,
    },
    /// Manage the local embedding model.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Rebuild this data folder's search index from the database (stop its server first).
    Reindex {
        /// Only this workspace.
        #[arg(long)]
        workspace: Option<i64>,
    },
    /// Exit 0 when the server's /healthz answers 200 (for container health checks).
    Healthcheck {
        /// Address of the health endpoint [default: from `bind`, e.g. http://127.0.0.1:8000/healthz].
        #[arg(long)]
        url: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Download the embedding model (embeddings.model) from the Hugging Face hub into embeddings.model_dir.
    Fetch {
        /// The hub repository [default: sentence-transformers/<embeddings.model>].
        #[arg(long)]
        repo: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input.
    Create {
        #[arg(long)]
        username: String,
        /// Make the user an administrator.
        #[arg(long)]
        admin: bool,
        /// Read the password from standard input (required: it keeps it out of history and `ps`).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Set a user's password (read from standard input) and end their logins.
    Passwd {
        #[arg(long)]
        username: String,
        /// Read the password from standard input (required).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

impl Cli {
    /// The configuration in force for this invocation.
    pub fn config(&self) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = std::env::vars().collect();
        let overrides = Overrides {
            bind: match &self.command {
                Command::Serve { bind, .. } => bind.clone(),
                _ => None,
            },
            data_dir: self.global.data_dir.clone(),
            database_url: self.global.database_url.clone(),
        };
        Config::load(self.global.config.as_deref(), &env, &overrides)
    }
}

/// Runs the parsed command with its configuration.
pub async fn run(cli: Cli, config: Config) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { sample, .. } => serve(config, sample).await,
        Command::Migrate { sample } => migrate(config, sample).await,
        Command::User(command) => user(config, command).await,
        Command::Healthcheck { url } => healthcheck(&config, url.as_deref()).await,
        Command::Ingest { workspace, paths } => crate::ingest_cli::ingest(config, workspace, &paths).await,
        Command::Search { workspace, limit, mode, query } => {
            let mode =
                mode.parse().map_err(|()| anyhow::anyhow!("--mode must be hybrid, keyword or dense"))?;
            crate::ingest_cli::search(config, workspace, &query, limit, mode).await
        }
        Command::Model(ModelCommand::Fetch { repo }) => crate::ingest_cli::fetch_model(config, repo).await,
        Command::Reindex { workspace } => crate::ingest_cli::reindex(config, workspace).await,
    }
}

async fn serve(config: Config, sample: bool) -> anyhow::Result<()> {
    telemetry::init(config.log_format, &config.log_level);
    let mut app = Application::build(config).await?;
    let url = app.state().config.public_url.clone();
    if let Some(bootstrap) = app.take_bootstrap() {
        announce_admin(&bootstrap);
    }
    app.prepare_demo(sample).await?;
    let database = match app.state().store.kind() {
        DatabaseKind::Sqlite => "SQLite",
        DatabaseKind::Postgres => "PostgreSQL",
    };
    println!("Docent is listening on {url} (bound to {}), on {database}", app.local_addr());
    println!("The admin console: {url}/admin/");
    println!("The widget, live: {url}/static/widget-demo.html");
    println!("The API: {url}/openapi.json (scripts sign in with POST {url}/auth/login)");
    app.run_until(shutdown_signal()).await?;
    Ok(())
}

async fn migrate(config: Config, with_sample: bool) -> anyhow::Result<()> {
    telemetry::init(config.log_format, "warn");
    std::fs::create_dir_all(&config.data_dir)?;
    let config = std::sync::Arc::new(config);
    let store = store::connect(&config).await.context("cannot open the database")?;
    println!("Migrations applied: {}", store.applied_migrations().await?.join(", "));
    if with_sample {
        let auth = Auth::new(config.clone(), store.clone()).await?;
        if let Some(bootstrap) = auth.bootstrap_admin().await? {
            announce_admin(&bootstrap);
        }
        let Some(owner) = store.first_admin().await? else {
            bail!("no administrator exists to own the sample; create one with `docent user create --admin`");
        };
        let base_url = config.widget_base_url_or(config.bind);
        let sample = sample::ensure(store.as_ref(), owner.id, &base_url).await?;
        if sample.documents_added > 0 {
            crate::ingest_cli::process_pending(config.clone(), store.clone(), None).await?;
        }
        let verb = if sample.created { "created" } else { "already present" };
        println!(
            "Sample {verb}: workspace_id={} bot_id={} (owner: {})",
            sample.workspace_id, sample.bot_id, owner.username
        );
        if sample.bot_created {
            // Shown once: only its hash is kept. Later runs make no new token.
            let issued = auth.generate_widget_token(sample.bot_id, SAMPLE_TOKEN_DAYS, owner.id).await?;
            let bot = crate::model::BotFields::new(sample.workspace_id, sample::BOT_NAME.to_owned());
            println!(
                "A widget token for the sample bot (valid {SAMPLE_TOKEN_DAYS} days, shown only now). Paste this into a page:\n  {}",
                crate::bots::embed_code(&base_url, &issued.token, &bot)
            );
        }
    }
    store.close().await;
    Ok(())
}

/// Lifetime of the widget token made for the sample bot.
const SAMPLE_TOKEN_DAYS: i64 = 365;

async fn user(config: Config, command: UserCommand) -> anyhow::Result<()> {
    telemetry::init(config.log_format, "warn");
    std::fs::create_dir_all(&config.data_dir)?;
    let config = std::sync::Arc::new(config);
    let store = store::connect(&config).await.context("cannot open the database")?;
    let auth = Auth::new(config, store.clone()).await?;
    let result = match command {
        UserCommand::Create { username, admin, .. } => {
            match auth.create_user(&username, read_password()?, admin).await {
                Ok(user) => {
                    let kind = if user.is_admin { "administrator" } else { "user" };
                    println!("Created {kind} {} (id {}).", user.username, user.id);
                    Ok(())
                }
                Err(AuthError::BadInput(message)) => {
                    Err(anyhow::anyhow!("invalid username or password: {message}"))
                }
                Err(err) => Err(err.into()),
            }
        }
        UserCommand::Passwd { username, .. } => match auth.set_password(&username, read_password()?).await {
            Ok(true) => {
                println!("Password changed for {username}; their logins were ended.");
                Ok(())
            }
            Ok(false) => Err(anyhow::anyhow!("no user named {username}")),
            Err(AuthError::BadInput(message)) => Err(anyhow::anyhow!("invalid password: {message}")),
            Err(err) => Err(err.into()),
        },
    };
    store.close().await;
    result
}

/// The password from standard input, without its trailing newline.
fn read_password() -> anyhow::Result<SecretString> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).context("cannot read the password from standard input")?;
    let password = text.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        bail!("no password on standard input (try: printf '%s' \"$PASSWORD\" | docent user ...)");
    }
    Ok(SecretString::from(password.to_owned()))
}

fn announce_admin(bootstrap: &Bootstrap) {
    use secrecy::ExposeSecret;
    match &bootstrap.generated_password {
        Some(password) => {
            // Printed, not logged: it is shown once, to whoever started the server.
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "\n  First administrator created.");
            let _ = writeln!(out, "    username: {}", bootstrap.username);
            let _ = writeln!(out, "    password: {}", password.expose_secret());
            let _ = writeln!(out, "  This password is shown only now. Change it with:");
            let _ =
                writeln!(out, "    docent user passwd --username {} --password-stdin\n", bootstrap.username);
        }
        None => println!("First administrator {} created with DOCENT_ADMIN_PASSWORD.", bootstrap.username),
    }
}

/// A plain HTTP/1.1 GET, enough for a health check on this machine.
async fn healthcheck(config: &Config, url: Option<&str>) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    // The server's own bind address, not public_url: that may be https or a name
    // that resolves elsewhere, and a container health check asks the process itself.
    let default_url = format!("{}/healthz", config.local_url());
    let url = url::Url::parse(url.unwrap_or(&default_url)).context("--url is not a valid URL")?;
    if url.scheme() != "http" {
        bail!("healthcheck speaks plain http only; point --url at the server's own address");
    }
    let host = url.host_str().context("--url has no host")?;
    let port = url.port_or_known_default().unwrap_or(80);
    let check = async {
        let mut stream = tokio::net::TcpStream::connect((host, port)).await?;
        let request = format!("GET {} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n", url.path());
        stream.write_all(request.as_bytes()).await?;
        let mut head = [0u8; 32];
        let n = stream.read(&mut head).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&head[..n]).into_owned())
    };
    let head = tokio::time::timeout(Duration::from_secs(5), check)
        .await
        .context("no answer within 5 seconds")?
        .with_context(|| format!("cannot reach {url}"))?;
    let status = head.split_whitespace().nth(1).unwrap_or_default();
    if status == "200" {
        println!("ok: {url} answered 200");
        Ok(())
    } else {
        bail!("{url} answered {status:?}, not 200")
    }
}
