//! The encoder on its own OS thread, fed through a bounded queue.
//!
//! Embedding is seconds of CPU per batch; running it on the async runtime
//! would stall every request. One thread owns the encoder; callers hold a
//! cloneable [`EmbedHandle`] and await their vectors. The queue is bounded:
//! when it is full the caller gets [`EmbedError::Overloaded`] at once and can
//! answer 429 or retry, instead of memory growing without limit.

use tokio::sync::{mpsc, oneshot};

use crate::{EmbedError, Encoder};

struct Job {
    texts: Vec<String>,
    reply: oneshot::Sender<Result<Vec<Vec<f32>>, EmbedError>>,
    span: tracing::Span,
}

/// A cloneable async handle to an encoder running on its own thread.
#[derive(Clone, Debug)]
pub struct EmbedHandle {
    jobs: mpsc::Sender<Job>,
    dim: usize,
    model_id: std::sync::Arc<str>,
}

impl EmbedHandle {
    /// Moves `encoder` onto a new thread that serves up to `queue` waiting jobs.
    pub fn spawn(encoder: Encoder, queue: usize) -> Result<Self, EmbedError> {
        let (jobs, mut rx) = mpsc::channel::<Job>(queue.max(1));
        let dim = encoder.dim();
        let model_id: std::sync::Arc<str> = encoder.model_id().into();
        std::thread::Builder::new()
            .name("dw-embed".into())
            .spawn(move || {
                while let Some(job) = rx.blocking_recv() {
                    let _entered = job.span.enter();
                    let texts: Vec<&str> = job.texts.iter().map(String::as_str).collect();
                    let result = encoder.embed(&texts);
                    // The caller may have given up waiting; that is fine.
                    let _ = job.reply.send(result);
                }
            })
            .map_err(|e| EmbedError::io("dw-embed thread", e))?;
        Ok(Self { jobs, dim, model_id })
    }

    /// Vector length.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The model's name.
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// Jobs that can still be queued right now.
    pub fn free_slots(&self) -> usize {
        self.jobs.capacity()
    }

    /// Jobs waiting in the queue right now.
    pub fn queued(&self) -> usize {
        self.jobs.max_capacity() - self.jobs.capacity()
    }

    /// Embeds `texts`; [`EmbedError::Overloaded`] when the queue is full.
    pub async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        let (reply, answer) = oneshot::channel();
        let job = Job { texts, reply, span: tracing::Span::current() };
        self.jobs.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => EmbedError::Overloaded,
            mpsc::error::TrySendError::Closed(_) => EmbedError::Stopped,
        })?;
        answer.await.map_err(|_| EmbedError::Stopped)?
    }

    /// Embeds `texts`, waiting for room in the queue instead of failing (for
    /// batch jobs that would only retry).
    pub async fn embed_waiting(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        let (reply, answer) = oneshot::channel();
        let job = Job { texts, reply, span: tracing::Span::current() };
        self.jobs.send(job).await.map_err(|_| EmbedError::Stopped)?;
        answer.await.map_err(|_| EmbedError::Stopped)?
    }
}
