//! Group commit of the chat turn's writes on SQLite.
//!
//! Every chat turn stores two messages (and marks the question when it could
//! not be answered). Committed one by one, each write puts the same few pages
//! (the messages table, its indexes, the session, the id sequence) in the WAL
//! again; under load that was most of the server's CPU. Here one task takes
//! every write waiting at the moment, makes them in one transaction and
//! answers each caller after the commit. Nobody waits for a batch to fill: a
//! lone write is committed at once, and those that arrive meanwhile go
//! together in the next commit.

use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use super::queries::insert_message;
use super::widget::mark_unanswered;
use super::{NewMessage, StoreError, StoreResult};

/// Most writes in one transaction.
const MAX_BATCH: usize = 256;
/// Writes that may wait for the writer before callers wait to hand theirs over.
const QUEUE: usize = 4096;

enum Write {
    /// Store a message; the answer is its id.
    Message(NewMessage),
    /// Mark a visitor's message as unanswered; the answer is 0.
    Unanswered(i64),
}

impl Write {
    async fn run<'c, E>(&self, db: E) -> Result<i64, sqlx::Error>
    where
        E: sqlx::Executor<'c, Database = sqlx::Sqlite>,
    {
        match self {
            Write::Message(message) => insert_message!(message).fetch_one(db).await,
            Write::Unanswered(id) => mark_unanswered!(id).execute(db).await.map(|_| 0),
        }
    }
}

struct Pending {
    write: Write,
    done: oneshot::Sender<StoreResult<i64>>,
}

/// Makes the chat turn's writes through one writer task (see the module's text).
pub struct TurnWriter {
    queue: mpsc::Sender<Pending>,
}

impl TurnWriter {
    /// Starts the writer on `pool`'s database; it stops when this is dropped.
    pub fn start(pool: SqlitePool) -> Self {
        let (queue, waiting) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(pool, waiting));
        Self { queue }
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

fn stopped() -> StoreError {
    StoreError::Database(sqlx::Error::PoolClosed)
}

async fn write_batches(pool: SqlitePool, mut waiting: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let ids = match write_together(&pool, &batch).await {
            Ok(ids) => ids,
            // The transaction was rolled back as a whole: each write is tried
            // alone, so each caller gets its own outcome and error.
            Err(err) => {
                if matches!(err, sqlx::Error::RowNotFound) {
                    tracing::debug!(writes = batch.len(), "a message's session is gone; writing one by one");
                } else {
                    tracing::warn!(error = %err, writes = batch.len(), "a group commit failed; writing one by one");
                }
                let mut ids = Vec::with_capacity(batch.len());
                for pending in &batch {
                    ids.push(pending.write.run(&pool).await.map_err(StoreError::from));
                }
                ids
            }
        };
        for (pending, id) in batch.drain(..).zip(ids) {
            // A caller that stopped waiting (its visitor left) needs no answer.
            let _ = pending.done.send(id);
        }
    }
}

/// A message as the batch statement reads it: a JSON array, its elements by index.
#[derive(serde::Serialize)]
struct MessageRow<'a>(&'a str, &'a str, &'a str, &'a str, Option<i64>, Option<i64>, Option<i64>, i64);

fn json_error(err: serde_json::Error) -> sqlx::Error {
    sqlx::Error::Encode(Box::new(err))
}

/// Makes the batch's writes in one immediate transaction, with one statement
/// for all its messages and one for all its marks: each statement is a round
/// trip to the connection's thread, which costs more than SQLite's own work.
/// When a message cannot be stored (its session is gone) the batch is rolled
/// back and `Err` sends it down the one-by-one path, where it fails alone.
async fn write_together(pool: &SqlitePool, batch: &[Pending]) -> Result<Vec<StoreResult<i64>>, sqlx::Error> {
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
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    if !marks.is_empty() {
        sqlx::query("UPDATE messages SET unanswered = TRUE WHERE id IN (SELECT value FROM json_each($1))")
            .bind(serde_json::to_string(&marks).map_err(json_error)?)
            .execute(&mut *tx)
            .await?;
    }
    let mut ids = Vec::new();
    let count = messages.len();
    if count > 0 {
        // Rows are inserted in the batch's order, so their ids rise in that order.
        ids = sqlx::query_scalar(
            "INSERT INTO messages (session_id, bot_id, role, content, sources, prompt_tokens,
                                   completion_tokens, latency_ms, created_at)
             SELECT s.id, s.bot_id, m.value ->> 1, m.value ->> 2, m.value ->> 3, m.value ->> 4,
                    m.value ->> 5, m.value ->> 6, m.value ->> 7
               FROM json_each($1) m JOIN chat_sessions s ON s.session_id = m.value ->> 0
              ORDER BY m.key
             RETURNING id",
        )
        .bind(serde_json::to_string(&messages).map_err(json_error)?)
        .fetch_all(&mut *tx)
        .await?;
        if ids.len() != count {
            return Err(sqlx::Error::RowNotFound);
        }
        ids.sort_unstable();
    }
    tx.commit().await?;
    let mut ids = ids.into_iter();
    Ok(batch
        .iter()
        .map(|pending| match pending.write {
            Write::Message(_) => ids.next().ok_or_else(|| sqlx::Error::RowNotFound.into()),
            Write::Unanswered(_) => Ok(0),
        })
        .collect())
}
