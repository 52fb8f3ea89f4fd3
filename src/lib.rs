//! Docent: a self-hosted AI chat widget for websites.
//!
//! A tour of the code, from the bottom up. The modules form five layers, and
//! each imports only from its own layer or those below it, never in a cycle
//! (`tests/layers.rs` reads every `crate::` path and fails when one points up
//! or closes a cycle, using the layer each heading below gives its modules).

// Layer 1, foundations: settings, time, error codes, rules; nothing of Docent's above.

/// Unix-millisecond clock and RFC 3339 formatting.
pub mod clock;
/// One `Config` built from defaults, a TOML file, `DOCENT_*` variables and flags.
pub mod config;
/// The API's error codes and their statuses, field errors, and error chains for the log.
pub mod error;
/// Prometheus metrics kept per application.
pub mod metrics;
/// Logging: pretty or JSON, filtered by `log_level` or `RUST_LOG`.
pub mod telemetry;
/// The rules several layers apply: usernames, passwords, origins, control characters.
pub mod validate;
/// A few dedicated threads for CPU-heavy work (password hashing).
pub mod workers;

// Layer 2, the model: plain types the layers hand each other.

/// Users, workspaces, bots, conversations, documents and widget tokens.
pub mod model;

// Layer 3, the store: persistence.

/// The `Store` trait and its SQLite and PostgreSQL implementations.
pub mod store;

// Layer 4, the services: what Docent does, with no HTTP in it.

/// Accounts: password hashing, access and refresh tokens, login throttling, widget tokens.
pub mod auth;
/// Bots: the fields an owner sends, their checks, and the embed code.
pub mod bots;
/// The chat turn: answers from passages, or the fallback.
pub mod chat;
/// The periodic clean-up: idle sessions, expired tokens, old conversations.
pub mod housekeeping;
/// Language models behind `LlmProvider` (OpenAI-compatible, streamed).
pub mod llm;
/// The knowledge base: extraction, chunking, the job queue, the keyword index, search.
pub mod rag;
/// Sample workspace and bot for `docent migrate --sample`.
pub mod sample;

// Layer 5, the edge: HTTP, the command line and start-up.

/// Command line: `serve`, `migrate`, `user`, `healthcheck`.
pub mod cli;
/// Routers, extractors, `ApiError` and the shared `AppState` of the HTTP API.
pub mod http;
/// `docent ingest`, `docent search` and `docent reindex`.
pub mod ingest_cli;
/// `Application::build(config)`: bind, migrate, bootstrap, serve.
pub mod startup;
