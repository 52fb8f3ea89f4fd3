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
                tracing::warn!(error = %err, writes = batch.len(), "a group commit failed; writing one by one");
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

/// Makes the batch's writes in one immediate transaction. A message whose
/// session is gone fails alone; the others commit. Any other error fails the batch.
async fn write_together(pool: &SqlitePool, batch: &[Pending]) -> Result<Vec<StoreResult<i64>>, sqlx::Error> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let mut ids = Vec::with_capacity(batch.len());
    for pending in batch {
        match pending.write.run(&mut *tx).await {
            Ok(id) => ids.push(Ok(id)),
            Err(sqlx::Error::RowNotFound) => ids.push(Err(sqlx::Error::RowNotFound.into())),
            // SQLite may have rolled the transaction back already (a full disk,
            // an I/O error): nothing more goes into it.
            Err(err) => return Err(err),
        }
    }
    tx.commit().await?;
    Ok(ids)
}
