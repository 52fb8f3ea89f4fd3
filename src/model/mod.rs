//! The model: the plain types Docent's layers hand each other.
//!
//! A bot's fields, a message, a document, a widget token: what the services
//! work with and what the store reads and writes, with no behaviour beyond
//! their defaults and a few conversions. Types the API returns as they are
//! derive `Serialize` and `ToSchema` (times as RFC 3339); those read straight
//! from a row derive `sqlx::FromRow`, a declaration of column names and no I/O.

mod account;
mod bot;
mod conversation;
mod knowledge;
mod widget;

pub use account::*;
pub use bot::*;
pub use conversation::*;
pub use knowledge::*;
pub use widget::*;

/// One page of a list.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub limit: i64,
    pub offset: i64,
}
