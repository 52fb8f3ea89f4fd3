//! Configuration: defaults < TOML file < `DOCENT_*` environment < command-line flags.
//!
//! Every setting has a dotted name (`widget.token_expire_days`) that is also its
//! place in the TOML file; its environment variable is that name upper-cased with
//! `DOCENT_` in front and dots as underscores (`DOCENT_WIDGET_TOKEN_EXPIRE_DAYS`).
//! A bad value anywhere is a [`ConfigError`] that names the setting.
//! Secrets come only from the environment (or `DOCENT_X_FILE`) and are never printed.
//!
//! Each section (`[auth]`, `[widget]`, ...) has a file with its struct, its
//! defaults, the settings the environment can set and its checks; `load.rs`
//! layers the sources.

mod auth;
mod ingest;
mod llm;
mod load;
mod server;
mod widget;

use std::net::SocketAddr;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

pub use auth::AuthConfig;
pub use ingest::{EmbeddingProvider, EmbeddingsConfig, IngestConfig};
pub use llm::{LlmConfig, LlmProviderKind};
pub use load::{Overrides, env_name};
pub use server::{DatabaseConfig, HttpConfig};
pub use widget::WidgetConfig;

use crate::validate;

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

impl Config {
    /// Range and shape checks that serde's types can't express, section by
    /// section; some values are normalised on the way (origins, addresses).
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        self.auth.validate()?;
        if validate::username(&self.admin_username).is_err() {
            return Err(ConfigError::new(
                "admin_username",
                "must be 1-64 letters, digits or . _ @ - characters",
            ));
        }
        self.widget.validate()?;
        self.ingest.validate()?;
        self.embeddings.validate()?;
        self.llm.validate()?;
        self.http.validate()?;
        self.database.validate()?;

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
        if let Some(key) = &self.secrets.secret_key
            && key.expose_secret().len() < 32
        {
            return Err(ConfigError::new("DOCENT_SECRET_KEY", "must be at least 32 characters"));
        }
        if let Some(password) = &self.secrets.admin_password
            && let Err(msg) = validate::password(password.expose_secret())
        {
            return Err(ConfigError::new("DOCENT_ADMIN_PASSWORD", msg));
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

/// `value` within `min..=max`, or an error that names the setting.
fn range(setting: &str, value: u64, min: u64, max: u64) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::new(setting, format!("must be between {min} and {max} (got {value})")))
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
