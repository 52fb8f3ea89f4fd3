//! Group commit of the chat turn's writes on SQLite.
//!
//! Every chat turn stores two messages (and marks the question when it could
//! not be answered). Committed one by one, each write puts the same few pages
//! (the messages table, its indexes, the session, the id sequence) in the WAL
//! again; under load that was most of the server's CPU. Here one thread takes
//! every write waiting at the moment, makes them in one transaction and
//! answers each caller after the commit. Nobody waits for a batch to fill: a
//! lone write is committed at once, and those that arrive meanwhile go
//! together in the next commit.
//!
//! The thread has a connection of its own (not sqlx's, whose every statement
//! is a round trip to another thread): a batch costs one hand-over whatever
//! its size, and as the only connection that writes messages it keeps their
//! pages in its cache from one commit to the next.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use super::{StoreError, StoreResult};
use crate::model::NewMessage;

/// Most writes in one transaction.
const MAX_BATCH: usize = 256;
/// Writes that may wait for the writer before callers wait to hand theirs over.
const QUEUE: usize = 4096;

/// Stores a batch's messages, in its order (so their ids rise in that order):
/// `$1` is a JSON array of [`MessageRow`]s. A message whose session is gone
/// is left out, which the caller sees in the count of ids.
const INSERT_MESSAGES: &str =
    "INSERT INTO messages (session_id, bot_id, role, content, sources, prompt_tokens,
                                       completion_tokens, latency_ms, created_at)
     SELECT s.id, s.bot_id, m.value ->> 1, m.value ->> 2, m.value ->> 3, m.value ->> 4,
            m.value ->> 5, m.value ->> 6, m.value ->> 7
       FROM json_each($1) m JOIN chat_sessions s ON s.session_id = m.value ->> 0
      ORDER BY m.key
     RETURNING id";
/// Marks the visitor's messages whose ids are in the JSON array `$1`.
const MARK_UNANSWERED: &str =
    "UPDATE messages SET unanswered = TRUE WHERE id IN (SELECT value FROM json_each($1))";

enum Write {
    /// Store a message; the answer is its id.
    Message(NewMessage),
    /// Mark a visitor's message as unanswered; the answer is 0.
    Unanswered(i64),
}

struct Pending {
    write: Write,
    done: oneshot::Sender<StoreResult<i64>>,
}

/// Makes the chat turn's writes through one writer thread (see the module's text).
pub struct TurnWriter {
    queue: mpsc::Sender<Pending>,
}

impl TurnWriter {
    /// Starts the writer on the database at `path`, which sqlx has created and
    /// migrated; it stops when this is dropped.
    pub fn start(path: &Path) -> StoreResult<Self> {
        let connection = open(path)?;
        let (queue, waiting) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("docent-writer".into())
            .spawn(move || write_batches(&connection, waiting))
            .map_err(sqlx::Error::Io)?;
        Ok(Self { queue })
    }

    /// Stores the message once it is committed; returns its id.
    pub async fn add_message(&self, message: NewMessage) -> StoreResult<i64> {
        self.write(Write::Message(message)).await
    }

    /// Marks the visitor's message `id` unanswered, once committed.
    pub async fn mark_unanswered(&self, id: i64) -> StoreResult<()> {
        self.write(Write::Unanswered(id)).await.map(|_| ())
    }

    async fn write(&self, write: Write) -> StoreResult<i64> {
        let (done, answer) = oneshot::channel();
        self.queue.send(Pending { write, done }).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// A connection set up as sqlx sets up its own (`synchronous` and foreign
/// keys are per connection; WAL is the file's).
fn open(path: &Path) -> rusqlite::Result<Connection> {
    let connection = super::sqlite::open_beside(path)?;
    connection.pragma_update(None, "foreign_keys", true)?;
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(connection)
}

fn stopped() -> StoreError {
    StoreError::Database(sqlx::Error::PoolClosed)
}

fn write_batches(connection: &Connection, mut waiting: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while waiting.blocking_recv_many(&mut batch, MAX_BATCH) > 0 {
        let outcomes = match write_together(connection, &batch) {
            Ok(ids) => ids.into_iter().map(Ok).collect(),
            // The transaction was rolled back as a whole: each write is tried
            // alone, so each caller gets its own outcome and error.
            Err(err) => {
                if matches!(err, rusqlite::Error::QueryReturnedNoRows) {
                    tracing::debug!(writes = batch.len(), "a message's session is gone; writing one by one");
                } else {
                    tracing::warn!(error = %err, writes = batch.len(), "a group commit failed; writing one by one");
                }
                batch
                    .iter()
                    .map(|pending| {
                        write_together(connection, std::slice::from_ref(pending))
                            .map(|ids| ids[0])
                            .map_err(StoreError::from)
                    })
                    .collect::<Vec<_>>()
            }
        };
        for (pending, outcome) in batch.drain(..).zip(outcomes) {
            // A caller that stopped waiting (its visitor left) needs no answer.
            let _ = pending.done.send(outcome);
        }
    }
}

/// A message as [`INSERT_MESSAGES`] reads it: a JSON array, its elements by index.
#[derive(serde::Serialize)]
struct MessageRow<'a>(&'a str, &'a str, &'a str, &'a str, Option<i64>, Option<i64>, Option<i64>, i64);

fn json_error(err: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(err))
}

/// Makes the batch's writes in one immediate transaction, with one statement
/// for all its messages and one for all its marks, and returns each write's
/// answer. When a message cannot be stored (its session is gone) the batch is
/// rolled back with `QueryReturnedNoRows`.
fn write_together(connection: &Connection, batch: &[Pending]) -> rusqlite::Result<Vec<i64>> {
    let mut messages = Vec::new();
    let mut marks = Vec::new();
    for pending in batch {
        match &pending.write {
            Write::Message(m) => messages.push(MessageRow(
                &m.session_id,
                m.role,
                &m.content,
                &m.sources,
                m.prompt_tokens,
                m.completion_tokens,
                m.latency_ms,
                m.created_at,
            )),
            Write::Unanswered(id) => marks.push(*id),
        }
    }
    let tx = rusqlite::Transaction::new_unchecked(connection, TransactionBehavior::Immediate)?;
    if !marks.is_empty() {
        let marks = serde_json::to_string(&marks).map_err(json_error)?;
        tx.prepare_cached(MARK_UNANSWERED)?.execute([marks])?;
    }
    let mut ids = Vec::new();
    if !messages.is_empty() {
        let rows = serde_json::to_string(&messages).map_err(json_error)?;
        ids = tx
            .prepare_cached(INSERT_MESSAGES)?
            .query_map([rows], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        if ids.len() != messages.len() {
            return Err(rusqlite::Error::QueryReturnedNoRows);
        }
        ids.sort_unstable();
    }
    tx.commit()?;
    let mut ids = ids.into_iter();
    Ok(batch
        .iter()
        .map(|pending| match pending.write {
            Write::Message(_) => ids.next().unwrap_or_default(),
            Write::Unanswered(_) => 0,
        })
        .collect())
}
