//! A fixed set of OS threads for CPU-heavy jobs, off the async executor.
//!
//! `spawn_blocking` would also keep such work off the executor, but it runs each
//! job on whichever of up to 512 threads is free; with memory-hard work such as
//! argon2 (19 MiB a hash) every one of those threads ends up holding its own
//! allocator arena, and memory grows with the number of threads ever used. A few
//! long-lived threads bound both the parallelism and the memory. The queue in
//! front of them is bounded too: when it is full the caller hears so at once (and
//! can answer 503) instead of piling up work nobody will wait for, and a job whose
//! caller has gone away is skipped.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, mpsc};

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Why a job did not give its result.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("the job panicked")]
    Panicked,
    #[error("the worker pool has stopped")]
    Stopped,
    #[error("the worker queue is full")]
    Busy,
}

/// Runs jobs on dedicated threads, in the order they come.
#[derive(Clone)]
pub struct WorkerPool {
    sender: mpsc::SyncSender<Job>,
}

impl WorkerPool {
    /// `threads` workers behind a queue of at most `queue` waiting jobs.
    pub fn new(name: &str, threads: usize, queue: usize) -> std::io::Result<Self> {
        let (sender, receiver) = mpsc::sync_channel::<Job>(queue);
        let receiver = Arc::new(Mutex::new(receiver));
        for i in 0..threads.max(1) {
            let receiver = Arc::clone(&receiver);
            std::thread::Builder::new().name(format!("{name}-{i}")).spawn(move || {
                loop {
                    // Hold the lock only to take a job, never while running it.
                    let job = match receiver.lock() {
                        Ok(guard) => guard.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return, // every sender is gone
                    }
                }
            })?;
        }
        Ok(Self { sender })
    }

    /// One thread per available core, with at most `queue_per_thread` jobs waiting for each.
    pub fn per_core(name: &str, queue_per_thread: usize) -> std::io::Result<Self> {
        let threads = std::thread::available_parallelism().map_or(2, usize::from);
        Self::new(name, threads, threads * queue_per_thread)
    }

    /// Runs `job` on a worker thread and waits for its result without blocking the
    /// executor; `Busy` at once when the queue is full.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, WorkerError> {
        let (tx, rx) = oneshot::channel();
        let wrapped: Job = Box::new(move || {
            if tx.is_closed() {
                return; // the caller stopped waiting
            }
            let result = catch_unwind(AssertUnwindSafe(job)).map_err(|_| WorkerError::Panicked);
            let _ = tx.send(result);
        });
        self.sender.try_send(wrapped).map_err(|err| match err {
            mpsc::TrySendError::Full(_) => WorkerError::Busy,
            mpsc::TrySendError::Disconnected(_) => WorkerError::Stopped,
        })?;
        rx.await.map_err(|_| WorkerError::Stopped)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_jobs_and_survives_a_panic() {
        let pool = WorkerPool::new("test", 2, 16).unwrap();
        assert_eq!(pool.run(|| 2 + 2).await.unwrap(), 4);
        let panicked = pool.run(|| -> u8 { panic!("boom") }).await;
        assert!(matches!(panicked, Err(WorkerError::Panicked)));
        let name = pool.run(|| std::thread::current().name().map(str::to_owned)).await.unwrap();
        assert!(name.unwrap().starts_with("test-"));
        let results = futures_util::future::join_all((0..8).map(|i| pool.run(move || i * 10))).await;
        let results: Vec<i32> = results.into_iter().map(Result::unwrap).collect();
        assert_eq!(results, [0, 10, 20, 30, 40, 50, 60, 70]);
    }

    #[tokio::test]
    async fn a_full_queue_says_busy_at_once() {
        let pool = WorkerPool::new("busy", 1, 1).unwrap();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (started_tx, started_rx) = oneshot::channel();
        let blocker = tokio::spawn({
            let pool = pool.clone();
            async move {
                pool.run(move || {
                    let _ = started_tx.send(());
                    let _ = release_rx.recv();
                })
                .await
            }
        });
        started_rx.await.unwrap(); // the only thread is taken
        // Polled once, the second job takes the one place in the queue...
        let mut queued = Box::pin(pool.run(|| 1));
        assert!(futures_util::poll!(&mut queued).is_pending());
        // ...so a third is refused at once.
        assert!(matches!(pool.run(|| 2).await, Err(WorkerError::Busy)));
        release_tx.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        assert_eq!(queued.await.unwrap(), 1);
    }
}
