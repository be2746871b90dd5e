//! The pool the use cases' CPU work runs on, away from the async runtime.
//!
//! An audit reduces every account of a window to its signals, scores and
//! links the population, and reads each cluster as one actor: seconds to
//! minutes of CPU. Run on the async runtime, that work holds the threads
//! that answer `/healthz`, take ingests and renew job leases. So the use
//! cases stream rows (async), hand the work to this pool (its own threads,
//! `audit.compute_threads` of them), and publish the result (async).

use std::sync::Arc;

use crate::AppError;

/// A fixed pool of compute threads, shared by every clone.
#[derive(Clone)]
pub struct Compute {
    pool: Arc<rayon::ThreadPool>,
}

impl std::fmt::Debug for Compute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compute").field("threads", &self.threads()).finish()
    }
}

impl Compute {
    /// A pool of `threads` threads; 0 takes one per core.
    pub fn new(threads: usize) -> Result<Self, AppError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("dw-compute-{i}"))
            .build()
            .map_err(|e| AppError::Internal(format!("cannot start the compute pool: {e}")))?;
        Ok(Self { pool: Arc::new(pool) })
    }

    /// Its threads.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// Runs `work` on the pool and waits for it without holding a runtime
    /// thread. A panic in `work` is an internal error naming `what`, and
    /// leaves the pool running.
    pub async fn run<T, F>(&self, what: &'static str, work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.spawn(what, work).await
    }

    /// Hands `work` to the pool now (it starts as soon as a thread is free,
    /// whether or not the returned future is polled yet) and returns its
    /// result to come, as [`Compute::run`] does.
    pub fn spawn<T, F>(&self, what: &'static str, work: F) -> impl Future<Output = Result<T, AppError>> + use<T, F>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (done, result) = tokio::sync::oneshot::channel();
        self.pool.spawn(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
            // The caller may have gone (a cancelled request): nobody to tell.
            let _ = done.send(outcome);
        });
        async move {
            match result.await {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(panic)) => {
                    let message = panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "no message".into());
                    tracing::error!(what, message, "compute task panicked");
                    Err(AppError::Internal(format!("{what} failed")))
                }
                Err(_) => Err(AppError::Internal(format!("{what}: the compute pool dropped the task"))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_on_the_pool_and_a_panic_is_an_error_that_leaves_it_running() {
        let compute = Compute::new(2).unwrap();
        assert_eq!(compute.threads(), 2);
        let name = compute.run("name", || std::thread::current().name().map(str::to_owned)).await.unwrap();
        assert!(name.is_some_and(|n| n.starts_with("dw-compute-")));
        let failed = compute.run("scoring", || -> usize { panic!("boom") }).await.unwrap_err();
        assert!(matches!(&failed, AppError::Internal(m) if m == "scoring failed"), "{failed:?}");
        assert_eq!(compute.run("sum", || (1..=10).sum::<u32>()).await.unwrap(), 55);
    }
}
