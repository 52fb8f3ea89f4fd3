//! Group commit of chat messages on SQLite.
//!
//! Every chat turn stores two messages. Committed one by one, each of them
//! writes the same few pages (the messages table, its indexes, the session,
//! the id sequence) to the WAL again; under load that was most of the server's
//! CPU. Here one task takes every message waiting at the moment, stores them in
//! one transaction and tells each caller its id after the commit. Nobody waits
//! for a batch to fill: a lone message is committed at once, and messages that
//! arrive meanwhile go together in the next commit.

use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use super::queries::insert_message;
use super::{NewMessage, StoreError, StoreResult};

/// Most messages in one transaction.
const MAX_BATCH: usize = 256;
/// Messages that may wait for the writer before callers wait to hand theirs over.
const QUEUE: usize = 4096;

struct Pending {
    message: NewMessage,
    stored: oneshot::Sender<StoreResult<i64>>,
}

/// Stores messages through one writer task (see the module's text).
pub struct MessageWriter {
    queue: mpsc::Sender<Pending>,
}

impl MessageWriter {
    /// Starts the writer on `pool`'s database; it stops when this is dropped.
    pub fn start(pool: SqlitePool) -> Self {
        let (queue, waiting) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(pool, waiting));
        Self { queue }
    }

    /// Stores the message once it is committed; returns its id.
    pub async fn add(&self, message: NewMessage) -> StoreResult<i64> {
        let (stored, id) = oneshot::channel();
        self.queue.send(Pending { message, stored }).await.map_err(|_| stopped())?;
        id.await.map_err(|_| stopped())?
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
            // The transaction was rolled back as a whole: each message is tried
            // alone, so each caller gets its own outcome and error.
            Err(err) => {
                tracing::warn!(error = %err, messages = batch.len(), "a group commit failed; storing one by one");
                let mut ids = Vec::with_capacity(batch.len());
                for pending in &batch {
                    ids.push(
                        insert_message!(pending.message).fetch_one(&pool).await.map_err(StoreError::from),
                    );
                }
                ids
            }
        };
        for (pending, id) in batch.drain(..).zip(ids) {
            // A caller that stopped waiting (its visitor left) needs no answer.
            let _ = pending.stored.send(id);
        }
    }
}

/// Inserts the batch in one immediate transaction. A message whose session is
/// gone fails alone; the others commit. Any other error fails the batch.
async fn write_together(pool: &SqlitePool, batch: &[Pending]) -> Result<Vec<StoreResult<i64>>, sqlx::Error> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let mut ids = Vec::with_capacity(batch.len());
    for pending in batch {
        match insert_message!(pending.message).fetch_one(&mut *tx).await {
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
