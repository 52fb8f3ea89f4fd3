//! Docent: a self-hosted AI chat widget for websites.
//!
//! A tour of the code, outside in:

/// Accounts: password hashing, access and refresh tokens, login throttling.
pub mod auth;
/// Bots: validation of a bot's fields and look.
pub mod bots;
/// The chat turn: answers from passages, or the fallback.
pub mod chat;
/// Command line: `serve`, `migrate`, `user`, `healthcheck`.
pub mod cli;
/// Unix-millisecond clock and RFC 3339 formatting.
pub mod clock;
/// One `Config` built from defaults, a TOML file, `DOCENT_*` variables and flags.
pub mod config;
/// `ApiError`: the table of error codes, their statuses and the JSON body.
pub mod error;
/// The periodic clean-up: idle sessions, expired tokens, old conversations.
pub mod housekeeping;
/// Routers, extractors and middleware of the HTTP API, one file per area.
pub mod http;
/// `docent ingest`, `docent search` and `docent reindex`.
pub mod ingest_cli;
/// Language models behind `LlmProvider` (OpenAI-compatible, streamed).
pub mod llm;
/// Prometheus metrics kept per application.
pub mod metrics;
/// The knowledge base: extraction, chunking, the job queue, the keyword index, search.
pub mod rag;
/// Sample workspace and bot for `docent migrate --sample`.
pub mod sample;
/// `Application::build(config)`: bind, migrate, bootstrap, serve.
pub mod startup;
/// `AppState`: what every handler shares.
pub mod state;
/// The `Store` trait and its SQLite and PostgreSQL implementations.
pub mod store;
/// Logging: pretty or JSON, filtered by `log_level` or `RUST_LOG`.
pub mod telemetry;
/// A few dedicated threads for CPU-heavy work (password hashing).
pub mod workers;
