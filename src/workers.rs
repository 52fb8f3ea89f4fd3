//! A fixed set of OS threads for CPU-heavy jobs, off the async executor.
//!
//! `spawn_blocking` would also keep such work off the executor, but it runs each
//! job on whichever of up to 512 threads is free; with memory-hard work such as
//! argon2 (19 MiB a hash) every one of those threads ends up holding its own
//! allocator arena, and memory grows with the number of threads ever used. A few
//! long-lived threads bound both the parallelism and the memory.

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
}

/// Runs jobs on `threads` dedicated threads, in the order they come.
#[derive(Clone)]
pub struct WorkerPool {
    sender: mpsc::Sender<Job>,
}

impl WorkerPool {
    pub fn new(name: &str, threads: usize) -> std::io::Result<Self> {
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for i in 0..threads.max(1) {
            let receiver = Arc::clone(&receiver);
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || {
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

    /// One thread per available core.
    pub fn per_core(name: &str) -> std::io::Result<Self> {
        Self::new(
            name,
            std::thread::available_parallelism().map_or(2, usize::from),
        )
    }

    /// Runs `job` on a worker thread and waits for its result without blocking the executor.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, WorkerError> {
        let (tx, rx) = oneshot::channel();
        let wrapped: Job = Box::new(move || {
            let result = catch_unwind(AssertUnwindSafe(job)).map_err(|_| WorkerError::Panicked);
            let _ = tx.send(result);
        });
        self.sender
            .send(wrapped)
            .map_err(|_| WorkerError::Stopped)?;
        rx.await.map_err(|_| WorkerError::Stopped)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_jobs_and_survives_a_panic() {
        let pool = WorkerPool::new("test", 2).unwrap();
        assert_eq!(pool.run(|| 2 + 2).await.unwrap(), 4);
        let panicked = pool.run(|| -> u8 { panic!("boom") }).await;
        assert!(matches!(panicked, Err(WorkerError::Panicked)));
        let names = pool
            .run(|| std::thread::current().name().map(str::to_owned))
            .await
            .unwrap();
        assert!(names.unwrap().starts_with("test-"));
        let results =
            futures_util::future::join_all((0..8).map(|i| pool.run(move || i * 10))).await;
        assert_eq!(
            results.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
            [0, 10, 20, 30, 40, 50, 60, 70]
        );
    }
}
