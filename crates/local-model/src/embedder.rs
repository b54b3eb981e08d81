//! The built-in embedding model (all-MiniLM-L6-v2 as converted by `minilm`) run by llama.cpp.
//!
//! A fixed number of workers, each an OS thread owning one llama.cpp context with embeddings on,
//! take texts from two queues: single-text calls (search queries, which a user waits for) are
//! served before the texts of batch calls (ingestion, which can be thousands of chunks), so a
//! query never waits behind an ingestion, only behind the texts being computed at that moment.
//! The async side only queues texts and awaits replies; a call whose future is dropped leaves
//! its queued texts to be skipped, not computed.
//!
//! # Texts longer than the model
//!
//! all-MiniLM-L6-v2 was trained on 256 positions (including `[CLS]` and `[SEP]`); chunks are up
//! to 800 cl100k tokens, about 1,000 `WordPiece` tokens. The rule:
//!
//! 1. the text is cut to its first 64 KiB (at a character boundary), so that a hostile text
//!    costs bounded time, and tokenized as the model does (`[CLS] … [SEP]`);
//! 2. at most 256 tokens: embedded as it is;
//! 3. longer: its content tokens are split into consecutive windows of at most 254, each
//!    embedded as `[CLS] window [SEP]`; the normalized window vectors are averaged, weighted by
//!    the windows' token counts, and the average is normalized again.
//!
//! So every part of a long chunk counts, in proportion to its length, and nothing is truncated
//! silently. Each vector is the model's mean pooling, L2-normalized (llama.cpp returns it
//! unnormalized). An empty text gets the vector of `[CLS] [SEP]`.

#![expect(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_precision_loss,
    reason = "llama.cpp counts positions in i32 and a window is at most 256 tokens, whose count \
              is a weight"
)]

use crate::engine::{CONTEXT_LOCK, LoadError, backend, load_model};
use assistd_core::search::{EmbedError, Embedder};
use async_trait::async_trait;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, mpsc};
use tokio::sync::oneshot;

/// The model's name, as vector stores record it.
pub const MODEL_NAME: &str = "all-MiniLM-L6-v2";

/// Tokens the model takes at once, `[CLS]` and `[SEP]` included (what it was trained on).
pub const MAX_TOKENS: usize = 256;

/// Bytes of a text that are embedded; the rest is ignored.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

/// The context of a worker: one window, in one micro-batch (a non-causal model needs its whole
/// sequence in one), with room to spare up to the model's 512 positions.
const CONTEXT_TOKENS: u32 = 512;

/// How the embedding workers run.
#[derive(Debug, Clone)]
pub struct EmbedderConfig {
    /// The GGUF file (`MINILM_L6_V2.path_in(models_dir)`).
    pub path: PathBuf,
    /// Texts embedded at once, each by its own worker thread.
    pub workers: usize,
    /// CPU threads of each worker. 1 is right on small machines: with 2, llama.cpp's threads
    /// spin-wait for each other and were 5× slower while another process held a core.
    pub threads: usize,
}

impl EmbedderConfig {
    /// One worker of one thread for the file at `path`.
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            workers: 1,
            threads: 1,
        }
    }
}

/// The built-in embedding model: an [`Embedder`] of 384-dimensional, L2-normalized vectors.
pub struct LocalEmbedder {
    model: &'static LlamaModel,
    queue: Arc<Queue>,
    dimensions: usize,
    config: EmbedderConfig,
}

impl std::fmt::Debug for LocalEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalEmbedder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// One text to embed, and where its vector goes.
struct Job {
    text: String,
    reply: oneshot::Sender<Result<Vec<f32>, String>>,
}

/// The texts waiting for a worker.
#[derive(Default)]
struct Jobs {
    /// Single-text calls: served first.
    queries: VecDeque<Job>,
    /// The texts of batch calls.
    batch: VecDeque<Job>,
    /// Set when the embedder is dropped: the workers stop.
    closed: bool,
}

#[derive(Default)]
struct Queue {
    jobs: Mutex<Jobs>,
    ready: Condvar,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Jobs> {
        self.jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The next job, queries first; `None` once the embedder is dropped.
    fn next(&self) -> Option<Job> {
        let mut jobs = self.lock();
        loop {
            if jobs.closed {
                return None;
            }
            if let Some(job) = jobs.queries.pop_front().or_else(|| jobs.batch.pop_front()) {
                return Some(job);
            }
            jobs = self
                .ready
                .wait(jobs)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }
}

impl LocalEmbedder {
    /// Loads the model and starts its workers. Blocking (reads the file): call it from a
    /// blocking context.
    pub fn load(config: EmbedderConfig) -> Result<Self, LoadError> {
        if !config.path.is_file() {
            return Err(LoadError::Missing(config.path.clone()));
        }
        let model = load_model(&config.path)?;
        let dimensions = usize::try_from(model.n_embd()).unwrap_or(0);
        if dimensions == 0 {
            return Err(LoadError::Invalid {
                path: config.path.clone(),
                reason: "it has no embedding dimensions".to_owned(),
            });
        }
        let queue = Arc::new(Queue::default());
        let workers = config.workers.max(1);
        let (ready_tx, ready_rx) = mpsc::channel();
        for n in 0..workers {
            let queue = queue.clone();
            let ready = ready_tx.clone();
            let threads = config.threads;
            std::thread::Builder::new()
                .name(format!("assistd-embed-{n}"))
                .spawn(move || worker_main(model, threads, &queue, &ready))
                .map_err(|e| LoadError::Runtime(format!("starting an embedding worker: {e}")))?;
        }
        drop(ready_tx);
        let this = Self {
            model,
            queue,
            dimensions,
            config,
        };
        // On an error `this` drops here, which stops the workers that did start.
        for _ in 0..workers {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(LoadError::Runtime(e)),
                Err(_) => return Err(LoadError::Runtime("an embedding worker died".to_owned())),
            }
        }
        tracing::info!(
            path = %this.config.path.display(),
            workers,
            threads = this.config.threads,
            dimensions,
            "embedding model loaded"
        );
        Ok(this)
    }

    /// The vectors' dimensions (384).
    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// The token ids the model sees for `text` before any windowing: `[CLS] … [SEP]`, after the
    /// text is cut to [`MAX_TEXT_BYTES`].
    pub fn tokens(&self, text: &str) -> Vec<i32> {
        tokenize(self.model, text).iter().map(|t| t.0).collect()
    }
}

impl Drop for LocalEmbedder {
    fn drop(&mut self) {
        self.queue.lock().closed = true;
        self.queue.ready.notify_all();
    }
}

#[async_trait]
impl Embedder for LocalEmbedder {
    fn model(&self) -> &str {
        MODEL_NAME
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut replies = Vec::with_capacity(texts.len());
        {
            let mut jobs = self.queue.lock();
            let query = texts.len() == 1;
            for text in texts {
                let (reply, rx) = oneshot::channel();
                let job = Job {
                    text: text.clone(),
                    reply,
                };
                if query {
                    jobs.queries.push_back(job);
                } else {
                    jobs.batch.push_back(job);
                }
                replies.push(rx);
            }
        }
        self.queue.ready.notify_all();
        let mut vectors = Vec::with_capacity(texts.len());
        for rx in replies {
            match rx.await {
                Ok(Ok(v)) => vectors.push(v),
                Ok(Err(message)) => {
                    return Err(EmbedError {
                        retryable: false,
                        message,
                    });
                }
                Err(_) => {
                    return Err(EmbedError {
                        retryable: true,
                        message: "the built-in embedding model has stopped".to_owned(),
                    });
                }
            }
        }
        Ok(vectors)
    }
}

/// The tokens of `text` (cut to [`MAX_TEXT_BYTES`]) as `[CLS] … [SEP]`.
fn tokenize(model: &LlamaModel, text: &str) -> Vec<LlamaToken> {
    let mut end = text.len().min(MAX_TEXT_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let vocab = model.vocab();
    let (cls, sep) = (vocab.bos(), vocab.sep());
    // Special-token text in a document ("[SEP]") is text, not a control token.
    let tokens = vocab.tokenize(&text.as_bytes()[..end], true, false);
    // The vocabulary adds [CLS] and [SEP]; they are put back here whatever it did, so that the
    // windowing below can rely on them.
    let content = tokens.strip_prefix(&[cls]).unwrap_or(&tokens);
    let content = content.strip_suffix(&[sep]).unwrap_or(content);
    let mut out = Vec::with_capacity(content.len() + 2);
    out.push(cls);
    out.extend_from_slice(content);
    out.push(sep);
    out
}

fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for x in v {
            *x /= norm;
        }
    }
}

fn worker_main(
    model: &'static LlamaModel,
    threads: usize,
    queue: &Queue,
    ready: &mpsc::Sender<Result<(), String>>,
) {
    let threads = i32::try_from(threads.max(1)).unwrap_or(1);
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(CONTEXT_TOKENS))
        .with_n_batch(CONTEXT_TOKENS)
        .with_n_ubatch(CONTEXT_TOKENS)
        .with_embeddings(true)
        .with_n_threads(threads)
        .with_n_threads_batch(threads);
    let created = {
        let _guard = CONTEXT_LOCK
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match backend() {
            Ok(b) => model.new_context(b, params).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    };
    let ctx = match created {
        Ok(ctx) => {
            let _ = ready.send(Ok(()));
            ctx
        }
        Err(e) => {
            let _ = ready.send(Err(format!("creating a llama.cpp context: {e}")));
            return;
        }
    };
    let mut worker = Worker {
        model,
        ctx,
        batch: LlamaBatch::new(CONTEXT_TOKENS as usize, 1),
    };
    while let Some(job) = queue.next() {
        if job.reply.is_closed() {
            // The caller went away while it waited.
            continue;
        }
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| worker.embed(&job.text)));
        let result = outcome.unwrap_or_else(|_| {
            tracing::error!("the embedding model panicked");
            Err("the built-in embedding model failed internally".to_owned())
        });
        let _ = job.reply.send(result);
    }
}

/// One worker's llama.cpp state.
struct Worker<'m> {
    model: &'static LlamaModel,
    ctx: LlamaContext<'m>,
    batch: LlamaBatch<'m>,
}

impl Worker<'_> {
    /// The normalized vector of `text`, by the rule of the module documentation.
    fn embed(&mut self, text: &str) -> Result<Vec<f32>, String> {
        let tokens = tokenize(self.model, text);
        if tokens.len() <= MAX_TOKENS {
            return self.window(&tokens);
        }
        let (cls, sep) = (tokens[0], tokens[tokens.len() - 1]);
        let content = &tokens[1..tokens.len() - 1];
        let mut sum: Vec<f32> = Vec::new();
        let mut window = Vec::with_capacity(MAX_TOKENS);
        for part in content.chunks(MAX_TOKENS - 2) {
            window.clear();
            window.push(cls);
            window.extend_from_slice(part);
            window.push(sep);
            let v = self.window(&window)?;
            if sum.is_empty() {
                sum = vec![0.0; v.len()];
            }
            let weight = part.len() as f32;
            for (s, x) in sum.iter_mut().zip(v) {
                *s += weight * x;
            }
        }
        normalize(&mut sum);
        Ok(sum)
    }

    /// The normalized vector of one sequence of at most [`CONTEXT_TOKENS`] tokens.
    fn window(&mut self, tokens: &[LlamaToken]) -> Result<Vec<f32>, String> {
        self.batch.clear();
        for (i, &t) in tokens.iter().enumerate() {
            self.batch
                .add(t, i as i32, &[0], true)
                .map_err(|e| format!("the embedding model failed batching: {e}"))?;
        }
        // A no-op for BERT (no KV cache), but keeps positions from an earlier text out of this
        // one should llama.cpp ever give encoders a cache.
        self.ctx.clear_kv_cache();
        self.ctx
            .decode(&mut self.batch)
            .map_err(|e| format!("the embedding model failed: {e}"))?;
        let mut v = self
            .ctx
            .embeddings_seq_ith(0)
            .map_err(|e| format!("the embedding model returned no vector: {e}"))?
            .to_vec();
        normalize(&mut v);
        Ok(v)
    }
}
