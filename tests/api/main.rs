//! Integration tests: the real server over HTTP, on SQLite, or on PostgreSQL
//! when `DOCENT_TEST_DATABASE_URL` is set.

mod answerable;
mod assets;
mod auth;
mod bots;
mod chat;
mod cli;
mod documents;
mod edge;
mod embeddings;
mod fixtures;
mod helpers;
mod housekeeping;
mod limits;
mod llm;
mod store;
mod visitors;
mod web;
mod widget_tokens;
mod workspaces;
