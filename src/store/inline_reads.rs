//! SQLite reads made on the calling task, without a thread hop.
//!
//! sqlx runs each SQLite statement on its connection's own worker thread, and
//! every statement costs two cross-thread wake-ups. On a chat turn those
//! wake-ups were half the server's CPU, many times SQLite's own work. The
//! point reads every visitor request makes (the token and its bot, the
//! session, the index's change mark, the passages, the recent turns) go
//! through these connections instead: opened on the same file, `query_only`,
//! each used by one caller at a time, and run where they are called. Each such
//! read is an indexed lookup of a few microseconds, well within what may run
//! on an async thread between two awaits. The turn's writes have a thread of
//! their own (`group_commit`); everything else stays with sqlx.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use rusqlite::{Connection, Params, Row};

use super::StoreResult;

/// Idle connections kept for the next read. A read never awaits while it holds
/// one, so no more are ever in use at once than threads make reads.
const KEEP_IDLE: usize = 16;

pub struct InlineReads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl InlineReads {
    /// Reads of the database at `path`, which must exist (opened and migrated
    /// by sqlx first): these connections neither create nor change it.
    pub fn new(path: &Path) -> Self {
        Self { path: path.to_owned(), idle: Mutex::new(Vec::new()) }
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        // Read-write only so that it can take part in WAL (the shared-memory
        // index); query_only keeps it from writing.
        let connection = super::sqlite::open_beside(&self.path)?;
        connection.pragma_update(None, "query_only", true)?;
        Ok(connection)
    }

    /// Runs `read` on `sql`'s statement (prepared once per connection), on an
    /// idle connection or, when none is idle, a new one.
    fn with<T>(
        &self,
        sql: &str,
        read: impl FnOnce(&mut rusqlite::CachedStatement<'_>) -> rusqlite::Result<T>,
    ) -> StoreResult<T> {
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let connection = match idle {
            Some(connection) => connection,
            None => self.open()?,
        };
        let result = connection.prepare_cached(sql).and_then(|mut statement| {
            debug_assert!(numbered_in_order(&statement), "parameters of {sql} are not $1, $2, ... in order");
            read(&mut statement)
        });
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < KEEP_IDLE {
            idle.push(connection);
        }
        Ok(result?)
    }

    /// Every row of `sql`, made by `row`.
    pub fn all<T>(
        &self,
        sql: &str,
        params: impl Params,
        row: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> StoreResult<Vec<T>> {
        self.with(sql, |statement| statement.query_map(params, row)?.collect())
    }

    /// The first row of `sql`, if any.
    pub fn first<T>(
        &self,
        sql: &str,
        params: impl Params,
        row: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> StoreResult<Option<T>> {
        self.with(sql, |statement| statement.query(params)?.next()?.map(row).transpose())
    }
}

/// The queries are shared with PostgreSQL, so their parameters are `$1`,
/// `$2`, ...; SQLite takes those as names and numbers them as they first
/// appear, which binds them right only when they first appear in order.
fn numbered_in_order(statement: &rusqlite::Statement<'_>) -> bool {
    (1..=statement.parameter_count()).all(|i| statement.parameter_name(i) == Some(format!("${i}").as_str()))
}
