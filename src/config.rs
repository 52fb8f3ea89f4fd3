//! Configuration: defaults < TOML file < `DOCENT_*` environment < command-line flags.
//!
//! Every setting has a dotted name (`widget.token_expire_days`) that is also its
//! place in the TOML file; its environment variable is that name upper-cased with
//! `DOCENT_` in front and dots as underscores (`DOCENT_WIDGET_TOKEN_EXPIRE_DAYS`).
//! A bad value anywhere is a [`ConfigError`] that names the setting.
//! Secrets come only from the environment (or `DOCENT_X_FILE`) and are never printed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

/// All of Docent's settings, after layering and validation.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server listens on (`IP:port`).
    pub bind: SocketAddr,
    /// Folder for the SQLite database and other local files.
    pub data_dir: PathBuf,
    /// `sqlite:...` or `postgres://...`; empty means SQLite in `data_dir`.
    pub database_url: String,
    /// The address users and browsers reach this server at; empty means `http://{bind}`.
    pub public_url: String,
    pub log_format: LogFormat,
    /// A tracing filter such as `info` or `docent=debug,info`; `RUST_LOG` wins when set.
    pub log_level: String,
    /// Take the client address from the last `X-Forwarded-For` hop (behind a reverse proxy).
    pub trust_proxy_headers: bool,
    /// Username of the administrator created at start when no user exists yet.
    pub admin_username: String,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub auth: AuthConfig,
    pub widget: WidgetConfig,
    pub ingest: IngestConfig,
    pub embeddings: EmbeddingsConfig,
    pub llm: LlmConfig,
    /// Secrets, from the environment only.
    #[serde(skip)]
    pub secrets: Secrets,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Largest JSON request body accepted, in bytes.
    pub json_limit_bytes: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    pub max_connections: u32,
    /// How long a request waits for a free connection, in seconds.
    pub acquire_timeout_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    pub access_token_minutes: u32,
    pub refresh_token_days: u32,
    /// Failed logins for one username before it is locked for `lockout_minutes`.
    pub max_failed_logins_per_user: u32,
    /// Failed logins from one client address before it is locked for `lockout_minutes`.
    pub max_failed_logins_per_address: u32,
    pub lockout_minutes: u32,
    /// Argon2id memory cost in KiB, iterations and lanes.
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WidgetConfig {
    /// Base address of `widget.js` in embed codes; empty means `public_url`.
    pub base_url: String,
    pub token_expire_days: u32,
    /// How long an expired widget token can still be refreshed.
    pub refresh_grace_days: u32,
    pub session_timeout_minutes: u32,
    pub max_sessions_per_bot: u32,
    /// Origins allowed for every bot, besides each bot's own list.
    pub allowed_origins: Vec<String>,
    /// Visitor requests from one client address (an IPv6 /64) per minute.
    pub requests_per_address_per_minute: u32,
    /// Sessions one client address may start per hour.
    pub sessions_per_address_per_hour: u32,
    /// Messages a visitor may send in one session per minute.
    pub messages_per_session_per_minute: u32,
    /// Messages all of one bot's visitors may send per day; 0: no limit.
    pub daily_messages_per_bot: u32,
    /// Conversations idle for longer than this many days are deleted, with
    /// their messages; 0: kept for ever.
    pub retention_days: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Largest file accepted for upload, in MiB.
    pub max_file_mb: u32,
    /// Target chunk size and the overlap between neighbours, in characters.
    pub chunk_size: usize,
    pub chunk_overlap: usize,
    /// Documents processed at once on this node.
    pub workers: u8,
    /// How long a claimed job stays a worker's without a heartbeat; a job whose
    /// worker died is taken up again after this.
    pub job_lease_seconds: u32,
    /// A document whose reading takes longer fails (its reader is abandoned).
    pub processing_timeout_seconds: u32,
    /// Fetching one page or sitemap (connecting, redirects, the whole body) may take this long.
    pub fetch_timeout_seconds: u32,
    /// Pages a sitemap may add at once; the rest are left out.
    pub max_sitemap_pages: u32,
    /// Allow fetching from loopback, private and link-local addresses (off: a
    /// server on an internal network must not become a way into it).
    pub allow_private_urls: bool,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_file_mb: 50,
            chunk_size: 1000,
            chunk_overlap: 150,
            workers: 1,
            job_lease_seconds: 30,
            processing_timeout_seconds: 300,
            fetch_timeout_seconds: 20,
            max_sitemap_pages: 200,
            allow_private_urls: false,
        }
    }
}

/// Which embedder makes vectors for dense search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbeddingProvider {
    /// A sentence-transformers model run in-process.
    Local,
    /// An OpenAI-compatible `/v1/embeddings` endpoint.
    Openai,
    /// No vectors: keyword search only.
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddingsConfig {
    pub provider: EmbeddingProvider,
    /// The model's name: recorded with every vector, so changing it re-embeds.
    pub model: String,
    /// `local`: the folder with `config.json`, `tokenizer.json` and
    /// `model.safetensors`; empty means `<data_dir>/models/<model>`.
    pub model_dir: PathBuf,
    /// `local`: tokens of a text the model reads; the rest is cut.
    pub max_tokens: usize,
    /// `local`: threads that embed passages (one more embeds queries).
    pub threads: u8,
    /// `openai`: base address, such as `https://api.openai.com/v1`.
    pub base_url: String,
    /// `openai`: texts sent in one request.
    pub batch_size: u16,
    /// `openai`: time allowed for one request, in seconds.
    pub timeout_seconds: u32,
}

impl Default for EmbeddingsConfig {
    fn default() -> Self {
        Self {
            provider: EmbeddingProvider::Local,
            model: "all-MiniLM-L6-v2".to_owned(),
            model_dir: PathBuf::new(),
            max_tokens: 256,
            threads: 1,
            base_url: String::new(),
            batch_size: 64,
            timeout_seconds: 30,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LlmProviderKind {
    /// No language model: replies quote the best passages.
    Extractive,
    /// An OpenAI-compatible `/v1/chat/completions` endpoint, streamed.
    Openai,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    pub provider: LlmProviderKind,
    /// `openai`: base address, such as `https://api.openai.com/v1` or `http://localhost:11434/v1`.
    pub base_url: String,
    /// `openai`: the model asked for.
    pub model: String,
    pub temperature: f32,
    /// Most tokens a reply may have.
    pub max_tokens: u32,
    /// Tokens of prompt (instructions, passages, recent conversation) at most.
    pub context_tokens: u32,
    pub connect_timeout_seconds: u32,
    /// From the request to the first token of the reply.
    pub first_token_timeout_seconds: u32,
    /// The whole reply.
    pub timeout_seconds: u32,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            provider: LlmProviderKind::Extractive,
            base_url: String::new(),
            model: String::new(),
            temperature: 0.2,
            max_tokens: 700,
            context_tokens: 6000,
            connect_timeout_seconds: 5,
            first_token_timeout_seconds: 30,
            timeout_seconds: 120,
        }
    }
}

/// Values that must never be printed or logged.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    /// Signs access and widget tokens; generated and kept in the database when absent.
    pub secret_key: Option<SecretString>,
    /// Password of the first administrator, used only when no user exists.
    pub admin_password: Option<SecretString>,
    /// Key for `embeddings.provider = "openai"`.
    pub embeddings_api_key: Option<SecretString>,
    /// Key for `llm.provider = "openai"`.
    pub llm_api_key: Option<SecretString>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8000)),
            data_dir: PathBuf::from("./docent-data"),
            database_url: String::new(),
            public_url: String::new(),
            log_format: LogFormat::Pretty,
            log_level: "info".to_owned(),
            trust_proxy_headers: false,
            admin_username: "admin".to_owned(),
            http: HttpConfig::default(),
            database: DatabaseConfig::default(),
            auth: AuthConfig::default(),
            widget: WidgetConfig::default(),
            ingest: IngestConfig::default(),
            embeddings: EmbeddingsConfig::default(),
            llm: LlmConfig::default(),
            secrets: Secrets::default(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self { json_limit_bytes: 1024 * 1024 }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { max_connections: 10, acquire_timeout_seconds: 5 }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            access_token_minutes: 60,
            refresh_token_days: 30,
            max_failed_logins_per_user: 5,
            max_failed_logins_per_address: 20,
            lockout_minutes: 15,
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
        }
    }
}

impl Default for WidgetConfig {
    fn default() -> Self {
        Self {
            base_url: String::new(),
            token_expire_days: 7,
            refresh_grace_days: 7,
            session_timeout_minutes: 30,
            max_sessions_per_bot: 1000,
            allowed_origins: Vec::new(),
            requests_per_address_per_minute: 120,
            sessions_per_address_per_hour: 60,
            messages_per_session_per_minute: 12,
            daily_messages_per_bot: 0,
            retention_days: 0,
        }
    }
}

/// A setting with a bad value; start-up stops with exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting `{setting}`: {message}")]
pub struct ConfigError {
    pub setting: String,
    pub message: String,
}

impl ConfigError {
    fn new(setting: impl Into<String>, message: impl Into<String>) -> Self {
        Self { setting: setting.into(), message: message.into() }
    }
}

/// How an environment variable's text becomes a TOML value.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Integer,
    Float,
    Boolean,
    List,
}

/// Every setting that can come from the environment, by dotted name.
const SETTINGS: &[(&str, Kind)] = &[
    ("bind", Kind::Text),
    ("data_dir", Kind::Text),
    ("database_url", Kind::Text),
    ("public_url", Kind::Text),
    ("log_format", Kind::Text),
    ("log_level", Kind::Text),
    ("trust_proxy_headers", Kind::Boolean),
    ("admin_username", Kind::Text),
    ("http.json_limit_bytes", Kind::Integer),
    ("database.max_connections", Kind::Integer),
    ("database.acquire_timeout_seconds", Kind::Integer),
    ("auth.access_token_minutes", Kind::Integer),
    ("auth.refresh_token_days", Kind::Integer),
    ("auth.max_failed_logins_per_user", Kind::Integer),
    ("auth.max_failed_logins_per_address", Kind::Integer),
    ("auth.lockout_minutes", Kind::Integer),
    ("auth.argon2_memory_kib", Kind::Integer),
    ("auth.argon2_iterations", Kind::Integer),
    ("auth.argon2_parallelism", Kind::Integer),
    ("widget.base_url", Kind::Text),
    ("widget.token_expire_days", Kind::Integer),
    ("widget.refresh_grace_days", Kind::Integer),
    ("widget.session_timeout_minutes", Kind::Integer),
    ("widget.max_sessions_per_bot", Kind::Integer),
    ("widget.allowed_origins", Kind::List),
    ("widget.requests_per_address_per_minute", Kind::Integer),
    ("widget.sessions_per_address_per_hour", Kind::Integer),
    ("widget.messages_per_session_per_minute", Kind::Integer),
    ("widget.daily_messages_per_bot", Kind::Integer),
    ("widget.retention_days", Kind::Integer),
    ("ingest.max_file_mb", Kind::Integer),
    ("ingest.chunk_size", Kind::Integer),
    ("ingest.chunk_overlap", Kind::Integer),
    ("ingest.workers", Kind::Integer),
    ("ingest.job_lease_seconds", Kind::Integer),
    ("ingest.processing_timeout_seconds", Kind::Integer),
    ("ingest.fetch_timeout_seconds", Kind::Integer),
    ("ingest.max_sitemap_pages", Kind::Integer),
    ("ingest.allow_private_urls", Kind::Boolean),
    ("embeddings.provider", Kind::Text),
    ("embeddings.model", Kind::Text),
    ("embeddings.model_dir", Kind::Text),
    ("embeddings.max_tokens", Kind::Integer),
    ("embeddings.threads", Kind::Integer),
    ("embeddings.base_url", Kind::Text),
    ("embeddings.batch_size", Kind::Integer),
    ("embeddings.timeout_seconds", Kind::Integer),
    ("llm.provider", Kind::Text),
    ("llm.base_url", Kind::Text),
    ("llm.model", Kind::Text),
    ("llm.temperature", Kind::Float),
    ("llm.max_tokens", Kind::Integer),
    ("llm.context_tokens", Kind::Integer),
    ("llm.connect_timeout_seconds", Kind::Integer),
    ("llm.first_token_timeout_seconds", Kind::Integer),
    ("llm.timeout_seconds", Kind::Integer),
];

/// `widget.token_expire_days` -> `DOCENT_WIDGET_TOKEN_EXPIRE_DAYS`.
pub fn env_name(setting: &str) -> String {
    format!("DOCENT_{}", setting.replace('.', "_").to_uppercase())
}

/// The command-line flags that override settings.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub bind: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
}

impl Config {
    /// Builds the configuration from an optional file, an environment and flags.
    pub fn load(
        file: Option<&Path>,
        env: &HashMap<String, String>,
        overrides: &Overrides,
    ) -> Result<Self, ConfigError> {
        let mut table = match file {
            Some(path) => read_file(path)?,
            None => toml::Table::new(),
        };
        for (setting, kind) in SETTINGS {
            let name = env_name(setting);
            if let Some(raw) = env.get(&name) {
                set(&mut table, setting, env_value(&name, raw, *kind)?);
            }
        }
        if let Some(bind) = &overrides.bind {
            set(&mut table, "bind", toml::Value::String(bind.clone()));
        }
        if let Some(dir) = &overrides.data_dir {
            set(&mut table, "data_dir", toml::Value::String(dir.display().to_string()));
        }
        if let Some(url) = &overrides.database_url {
            set(&mut table, "database_url", toml::Value::String(url.clone()));
        }

        let mut config: Config =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|err| {
                let path = err.path().to_string();
                let setting = if path == "." { "configuration".to_owned() } else { path };
                ConfigError::new(setting, err.into_inner().to_string())
            })?;
        config.secrets = Secrets {
            secret_key: secret(env, "DOCENT_SECRET_KEY")?,
            admin_password: secret(env, "DOCENT_ADMIN_PASSWORD")?,
            embeddings_api_key: secret(env, "DOCENT_EMBEDDINGS_API_KEY")?,
            llm_api_key: secret(env, "DOCENT_LLM_API_KEY")?,
        };
        config.validate()?;
        Ok(config)
    }

    /// Range and shape checks that serde's types can't express.
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        fn range(setting: &str, value: u64, min: u64, max: u64) -> Result<(), ConfigError> {
            if (min..=max).contains(&value) {
                Ok(())
            } else {
                Err(ConfigError::new(setting, format!("must be between {min} and {max} (got {value})")))
            }
        }
        let a = &self.auth;
        range("auth.access_token_minutes", a.access_token_minutes.into(), 1, 24 * 60)?;
        range("auth.refresh_token_days", a.refresh_token_days.into(), 1, 3650)?;
        range("auth.max_failed_logins_per_user", a.max_failed_logins_per_user.into(), 1, 10_000)?;
        range("auth.max_failed_logins_per_address", a.max_failed_logins_per_address.into(), 1, 100_000)?;
        range("auth.lockout_minutes", a.lockout_minutes.into(), 1, 24 * 60)?;
        range("auth.argon2_memory_kib", a.argon2_memory_kib.into(), 8, 4 * 1024 * 1024)?;
        range("auth.argon2_iterations", a.argon2_iterations.into(), 1, 100)?;
        range("auth.argon2_parallelism", a.argon2_parallelism.into(), 1, 64)?;
        if crate::validate::username(&self.admin_username).is_err() {
            return Err(ConfigError::new(
                "admin_username",
                "must be 1-64 letters, digits or . _ @ - characters",
            ));
        }
        let w = &self.widget;
        range("widget.token_expire_days", w.token_expire_days.into(), 1, 3650)?;
        range("widget.refresh_grace_days", w.refresh_grace_days.into(), 0, 3650)?;
        range("widget.session_timeout_minutes", w.session_timeout_minutes.into(), 1, 7 * 24 * 60)?;
        range("widget.max_sessions_per_bot", w.max_sessions_per_bot.into(), 1, 100_000_000)?;
        range(
            "widget.requests_per_address_per_minute",
            w.requests_per_address_per_minute.into(),
            1,
            1_000_000,
        )?;
        range("widget.sessions_per_address_per_hour", w.sessions_per_address_per_hour.into(), 1, 1_000_000)?;
        range("widget.messages_per_session_per_minute", w.messages_per_session_per_minute.into(), 1, 10_000)?;
        range("widget.daily_messages_per_bot", w.daily_messages_per_bot.into(), 0, 1_000_000_000)?;
        range("widget.retention_days", w.retention_days.into(), 0, 36_500)?;
        let mut origins = Vec::with_capacity(w.allowed_origins.len());
        for origin in &w.allowed_origins {
            origins.push(
                crate::validate::normalize_origin(origin).map_err(|msg| {
                    ConfigError::new("widget.allowed_origins", format!("{origin:?}: {msg}"))
                })?,
            );
        }
        self.widget.allowed_origins = origins;
        let i = &self.ingest;
        range("ingest.max_file_mb", i.max_file_mb.into(), 1, 1024)?;
        range("ingest.chunk_size", i.chunk_size as u64, 100, 20_000)?;
        range("ingest.chunk_overlap", i.chunk_overlap as u64, 0, (i.chunk_size / 2) as u64)?;
        range("ingest.workers", i.workers.into(), 1, 16)?;
        range("ingest.job_lease_seconds", i.job_lease_seconds.into(), 2, 3600)?;
        range("ingest.processing_timeout_seconds", i.processing_timeout_seconds.into(), 1, 86_400)?;
        range("ingest.fetch_timeout_seconds", i.fetch_timeout_seconds.into(), 1, 600)?;
        range("ingest.max_sitemap_pages", i.max_sitemap_pages.into(), 1, 50_000)?;
        let e = &self.embeddings;
        range("embeddings.max_tokens", e.max_tokens as u64, 16, 8192)?;
        range("embeddings.threads", e.threads.into(), 1, 64)?;
        range("embeddings.batch_size", e.batch_size.into(), 1, 2048)?;
        range("embeddings.timeout_seconds", e.timeout_seconds.into(), 1, 600)?;
        if e.model.trim().is_empty() || e.model.len() > 200 || e.model.chars().any(char::is_control) {
            return Err(ConfigError::new("embeddings.model", "must be a model name of 1-200 characters"));
        }
        if e.provider == EmbeddingProvider::Openai {
            if e.base_url.is_empty() {
                return Err(ConfigError::new(
                    "embeddings.base_url",
                    "is required with provider \"openai\", e.g. https://api.openai.com/v1",
                ));
            }
            self.embeddings.base_url = base_url("embeddings.base_url", &self.embeddings.base_url)?;
        }
        let l = &self.llm;
        range("llm.max_tokens", l.max_tokens.into(), 16, 32_768)?;
        range("llm.context_tokens", l.context_tokens.into(), 512, 1_000_000)?;
        range("llm.connect_timeout_seconds", l.connect_timeout_seconds.into(), 1, 120)?;
        range("llm.first_token_timeout_seconds", l.first_token_timeout_seconds.into(), 1, 600)?;
        range("llm.timeout_seconds", l.timeout_seconds.into(), 1, 3600)?;
        if !(0.0..=2.0).contains(&l.temperature) {
            return Err(ConfigError::new("llm.temperature", "must be between 0 and 2"));
        }
        if l.provider == LlmProviderKind::Openai {
            if l.base_url.is_empty() || l.model.trim().is_empty() {
                return Err(ConfigError::new(
                    if l.base_url.is_empty() { "llm.base_url" } else { "llm.model" },
                    "is required with provider \"openai\" (e.g. base_url http://localhost:11434/v1, model llama3.2)",
                ));
            }
            self.llm.base_url = base_url("llm.base_url", &self.llm.base_url)?;
        }
        range("http.json_limit_bytes", self.http.json_limit_bytes as u64, 1024, 1024 * 1024 * 1024)?;
        range("database.max_connections", self.database.max_connections.into(), 1, 1000)?;
        range("database.acquire_timeout_seconds", self.database.acquire_timeout_seconds, 1, 600)?;

        if !self.database_url.is_empty()
            && DatabaseKind::of(&self.database_url)? == DatabaseKind::Sqlite
            && (self.database_url.starts_with("sqlite::memory:") || self.database_url.contains("mode=memory"))
        {
            return Err(ConfigError::new(
                "database_url",
                "an in-memory SQLite database would lose everything at exit: name a file",
            ));
        }
        if !self.public_url.is_empty() {
            self.public_url = base_url("public_url", &self.public_url)?;
        }
        if !self.widget.base_url.is_empty() {
            self.widget.base_url = base_url("widget.base_url", &self.widget.base_url)?;
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log_level).is_err() {
            return Err(ConfigError::new(
                "log_level",
                "is not a valid filter, e.g. `info` or `docent=debug`",
            ));
        }
        if let Some(key) = &self.secrets.secret_key {
            use secrecy::ExposeSecret;
            if key.expose_secret().len() < 32 {
                return Err(ConfigError::new("DOCENT_SECRET_KEY", "must be at least 32 characters"));
            }
        }
        if let Some(password) = &self.secrets.admin_password {
            use secrecy::ExposeSecret;
            if let Err(msg) = crate::validate::password(password.expose_secret()) {
                return Err(ConfigError::new("DOCENT_ADMIN_PASSWORD", msg));
            }
        }
        Ok(())
    }

    /// Where the local embedding model's files are.
    pub fn model_dir(&self) -> PathBuf {
        if self.embeddings.model_dir.as_os_str().is_empty() {
            self.data_dir.join("models").join(&self.embeddings.model)
        } else {
            self.embeddings.model_dir.clone()
        }
    }

    /// The public address, falling back to the bound address.
    pub fn public_url_or(&self, bound: SocketAddr) -> String {
        if self.public_url.is_empty() {
            let host = if bound.ip().is_unspecified() {
                SocketAddr::new([127, 0, 0, 1].into(), bound.port())
            } else {
                bound
            };
            format!("http://{host}")
        } else {
            self.public_url.clone()
        }
    }

    /// The server's own address for local checks: `bind`, with an unspecified IP as loopback.
    pub fn local_url(&self) -> String {
        let ip = if self.bind.ip().is_unspecified() {
            if self.bind.is_ipv6() { "[::1]".to_owned() } else { "127.0.0.1".to_owned() }
        } else {
            SocketAddr::new(self.bind.ip(), 0).to_string().trim_end_matches(":0").to_owned()
        };
        format!("http://{ip}:{}", self.bind.port())
    }

    /// Where embed codes point when the server has not bound yet (command line).
    pub fn widget_base_url_or(&self, bound: SocketAddr) -> String {
        if self.widget.base_url.is_empty() { self.public_url_or(bound) } else { self.widget.base_url.clone() }
    }

    /// Where embed codes point: `widget.base_url`, else the public address.
    pub fn widget_base_url(&self) -> &str {
        if self.widget.base_url.is_empty() { &self.public_url } else { &self.widget.base_url }
    }
}

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite,
    Postgres,
}

impl DatabaseKind {
    pub fn of(url: &str) -> Result<Self, ConfigError> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(ConfigError::new(
                "database_url",
                "must start with `sqlite:`, `postgres://` or `postgresql://`",
            ))
        }
    }
}

fn read_file(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| ConfigError::new("config", format!("cannot read {}: {err}", path.display())))?;
    text.parse::<toml::Table>()
        .map_err(|err| ConfigError::new("config", format!("{} is not valid TOML: {err}", path.display())))
}

/// Puts `value` at a dotted path, creating tables on the way.
fn set(table: &mut toml::Table, dotted: &str, value: toml::Value) {
    let mut parts: Vec<&str> = dotted.split('.').collect();
    let last = parts.pop().unwrap_or(dotted);
    let mut here = table;
    for part in parts {
        let entry = here.entry(part).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        let toml::Value::Table(next) = entry else { unreachable!("made a table just above") };
        here = next;
    }
    here.insert(last.to_owned(), value);
}

fn env_value(name: &str, raw: &str, kind: Kind) -> Result<toml::Value, ConfigError> {
    let raw = raw.trim();
    Ok(match kind {
        Kind::Text => toml::Value::String(raw.to_owned()),
        Kind::Integer => toml::Value::Integer(
            raw.parse()
                .map_err(|_| ConfigError::new(name, format!("must be a whole number (got {raw:?})")))?,
        ),
        Kind::Float => toml::Value::Float(
            raw.parse()
                .ok()
                .filter(|v: &f64| v.is_finite())
                .ok_or_else(|| ConfigError::new(name, format!("must be a number (got {raw:?})")))?,
        ),
        Kind::Boolean => toml::Value::Boolean(match raw.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" => false,
            _ => {
                return Err(ConfigError::new(name, format!("must be true or false (got {raw:?})")));
            }
        }),
        Kind::List => toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| toml::Value::String(item.to_owned()))
                .collect(),
        ),
    })
}

/// Reads `NAME` or the file named by `NAME_FILE`, never both.
fn secret(env: &HashMap<String, String>, name: &str) -> Result<Option<SecretString>, ConfigError> {
    let file_var = format!("{name}_FILE");
    match (env.get(name), env.get(&file_var)) {
        (Some(_), Some(_)) => Err(ConfigError::new(name, format!("set {name} or {file_var}, not both"))),
        (Some(value), None) if !value.is_empty() => Ok(Some(SecretString::from(value.clone()))),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .map_err(|err| ConfigError::new(file_var.as_str(), format!("cannot read {path}: {err}")))?;
            let value = text.trim_end_matches(['\r', '\n']);
            if value.is_empty() {
                return Err(ConfigError::new(file_var.as_str(), format!("{path} is empty")));
            }
            Ok(Some(SecretString::from(value.to_owned())))
        }
        _ => Ok(None),
    }
}

/// An absolute http(s) address without a trailing slash.
fn base_url(setting: &str, raw: &str) -> Result<String, ConfigError> {
    let url = Url::parse(raw)
        .map_err(|err| ConfigError::new(setting, format!("is not a valid URL ({err}): {raw:?}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ConfigError::new(
            setting,
            format!("must be an http:// or https:// address (got {raw:?})"),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::new(setting, "must not have a query or fragment"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_hold_without_any_input() {
        let config = Config::load(None, &HashMap::new(), &Overrides::default()).unwrap();
        assert_eq!(config.bind.to_string(), "127.0.0.1:8000");
        assert_eq!(config.widget.token_expire_days, 7);
        assert_eq!(config.widget.session_timeout_minutes, 30);
        assert_eq!(config.widget.max_sessions_per_bot, 1000);
        assert!(config.widget.allowed_origins.is_empty());
        assert!(config.database_url.is_empty(), "SQLite in the data folder");
    }

    #[test]
    fn file_then_environment_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docent.toml");
        std::fs::write(
            &path,
            "bind = \"127.0.0.1:9000\"\nlog_format = \"json\"\n[widget]\ntoken_expire_days = 3\nsession_timeout_minutes = 5\n",
        )
        .unwrap();
        let vars = env(&[
            ("DOCENT_WIDGET_TOKEN_EXPIRE_DAYS", "9"),
            ("DOCENT_BIND", "127.0.0.1:9001"),
            ("DOCENT_WIDGET_ALLOWED_ORIGINS", "https://a.example, https://*.b.example/"),
        ]);
        let flags = Overrides { bind: Some("127.0.0.1:9002".into()), ..Overrides::default() };
        let config = Config::load(Some(&path), &vars, &flags).unwrap();
        assert_eq!(config.bind.to_string(), "127.0.0.1:9002");
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.widget.token_expire_days, 9);
        assert_eq!(config.widget.session_timeout_minutes, 5);
        assert_eq!(config.widget.allowed_origins, ["https://a.example", "https://*.b.example"]);
    }

    #[test]
    fn bad_values_name_their_setting() {
        let cases = [
            ("DOCENT_WIDGET_TOKEN_EXPIRE_DAYS", "0", "widget.token_expire_days"),
            ("DOCENT_WIDGET_TOKEN_EXPIRE_DAYS", "soon", "DOCENT_WIDGET_TOKEN_EXPIRE_DAYS"),
            ("DOCENT_BIND", "localhost", "bind"),
            ("DOCENT_DATABASE_URL", "mysql://x", "database_url"),
            ("DOCENT_DATABASE_URL", "sqlite::memory:", "database_url"),
            ("DOCENT_DATABASE_URL", "sqlite:x.db?mode=memory", "database_url"),
            ("DOCENT_LOG_FORMAT", "xml", "log_format"),
            ("DOCENT_PUBLIC_URL", "ftp://x", "public_url"),
            ("DOCENT_WIDGET_ALLOWED_ORIGINS", "*", "widget.allowed_origins"),
            ("DOCENT_SECRET_KEY", "short", "DOCENT_SECRET_KEY"),
            ("DOCENT_INGEST_FETCH_TIMEOUT_SECONDS", "0", "ingest.fetch_timeout_seconds"),
            ("DOCENT_INGEST_MAX_SITEMAP_PAGES", "0", "ingest.max_sitemap_pages"),
            ("DOCENT_INGEST_ALLOW_PRIVATE_URLS", "maybe", "DOCENT_INGEST_ALLOW_PRIVATE_URLS"),
        ];
        for (name, value, setting) in cases {
            let err = Config::load(None, &env(&[(name, value)]), &Overrides::default()).unwrap_err();
            assert_eq!(err.setting, setting, "{name}={value}: {err}");
        }
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docent.toml");
        std::fs::write(&path, "[widget]\ntoken_expiry_days = 3\n").unwrap();
        let err = Config::load(Some(&path), &HashMap::new(), &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("token_expiry_days"), "{err}");
    }

    #[test]
    fn secrets_come_from_files_and_are_not_printed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "0123456789abcdef0123456789abcdef-secret\n").unwrap();
        let vars = env(&[("DOCENT_SECRET_KEY_FILE", path.to_str().unwrap())]);
        let config = Config::load(None, &vars, &Overrides::default()).unwrap();
        use secrecy::ExposeSecret;
        let key = config.secrets.secret_key.as_ref().unwrap();
        assert_eq!(key.expose_secret(), "0123456789abcdef0123456789abcdef-secret");
        assert!(!format!("{config:?}").contains("abcdef-secret"));
    }

    #[test]
    fn the_example_file_lists_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
        let example = Config::load(Some(&path), &HashMap::new(), &Overrides::default()).unwrap();
        let mut defaults = Config::default();
        defaults.validate().unwrap();
        assert_eq!(format!("{example:?}"), format!("{defaults:?}"));
        // And every setting the environment can set is in it.
        let text = std::fs::read_to_string(&path).unwrap();
        for (setting, _) in SETTINGS {
            let key = setting.rsplit('.').next().unwrap();
            assert!(text.contains(&format!("\n{key} = ")), "{setting} is missing from config.example.toml");
        }
    }
}
