//! The llama.cpp engine behind the built-in model.
//!
//! A fixed number of slots, each an OS thread owning one llama.cpp context, take generations
//! from one queue; so however many runs want the model, at most `slots` of them compute at once
//! and the cores are never oversubscribed. A queued generation whose stream was dropped (its run
//! was cancelled) is skipped when its turn comes; a running one notices within one token. Each
//! slot keeps the tokens its KV cache holds and re-evaluates only what follows the common prefix,
//! which is most of the prompt when a run continues after its function outputs.

#![expect(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    reason = "llama.cpp counts tokens and positions in i32/u32 and a slot's context is a few \
              thousand tokens; sampling parameters are f32 there; timings in ms fit u64 and the \
              tokens-per-second figures are for logs"
)]

use crate::prompt::{self, Constraint};
use assistd_core::model::{ChatEvent, ChatRequest, ChatStream, ModelBackend, ModelError};
use async_trait::async_trait;
use futures::StreamExt;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::Instant;
use tokio::sync::mpsc as tmpsc;

/// How the engine runs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The GGUF file.
    pub path: PathBuf,
    /// Generations computed at once.
    pub slots: usize,
    /// CPU threads of each slot.
    pub threads: usize,
    /// Context length of each slot, in tokens (prompt plus answer).
    pub context_tokens: u32,
    /// Prompt tokens evaluated per llama.cpp batch.
    pub batch_tokens: u32,
    /// A fixed sampling seed (reproducible answers); random per generation when unset.
    pub seed: Option<u32>,
}

/// Why the model could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file is not there.
    #[error("the model file {0} does not exist")]
    Missing(PathBuf),
    /// The file is not a usable GGUF model.
    #[error("the model file {path} cannot be loaded: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// llama.cpp failed to set up.
    #[error("llama.cpp failed: {0}")]
    Runtime(String),
}

/// The built-in model: a [`ModelBackend`] answering every model name routed to it.
pub struct LocalModel {
    model: &'static LlamaModel,
    template: LlamaChatTemplate,
    jobs: mpsc::Sender<Job>,
    counters: Arc<Counters>,
    config: EngineConfig,
}

/// Running totals of the slots' work.
#[derive(Default)]
struct Counters {
    waiting: AtomicUsize,
    generated: AtomicU64,
    evaluated: AtomicU64,
    generation_ns: AtomicU64,
    evaluation_ns: AtomicU64,
    finished: AtomicU64,
    abandoned: AtomicU64,
    skipped: AtomicU64,
}

/// What the slots have done since the model was loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Generations waiting for a slot now.
    pub waiting: usize,
    /// Tokens generated.
    pub generated_tokens: u64,
    /// Prompt tokens evaluated (those reused from a slot's cache are not).
    pub evaluated_tokens: u64,
    /// Time spent generating, in nanoseconds.
    pub generation_ns: u64,
    /// Time spent evaluating prompts, in nanoseconds.
    pub evaluation_ns: u64,
    /// Generations that ran to their end.
    pub finished: u64,
    /// Generations stopped because their stream was dropped (cancelled runs).
    pub abandoned: u64,
    /// Generations dropped while they waited, never started.
    pub skipped: u64,
}

impl std::fmt::Debug for LocalModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalModel")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// One generation, as queued for a slot.
struct Job {
    prompt: String,
    grammar: Option<String>,
    /// Whether an answer starting with `<` is a list of function calls.
    calls: bool,
    temperature: f32,
    top_p: f32,
    seed: u32,
    max_tokens: Option<u32>,
    queued_at: Instant,
    tx: tmpsc::Sender<Result<ChatEvent, ModelError>>,
}

pub(crate) fn backend() -> Result<&'static LlamaBackend, LoadError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| LoadError::Runtime(e.clone()))
}

/// Models stay loaded for the life of the process, once per file: slots borrow them for
/// `'static`, and a process that starts several servers (the tests) loads each file once.
pub(crate) fn load_model(path: &Path) -> Result<&'static LlamaModel, LoadError> {
    static MODELS: Mutex<Vec<(PathBuf, &'static LlamaModel)>> = Mutex::new(Vec::new());
    let canonical = path
        .canonicalize()
        .map_err(|_| LoadError::Missing(path.to_owned()))?;
    let mut models = MODELS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, m)) = models.iter().find(|(p, _)| *p == canonical) {
        return Ok(m);
    }
    check_magic(&canonical)?;
    let model = LlamaModel::load_from_file(backend()?, &canonical, &LlamaModelParams::default())
        .map_err(|e| LoadError::Invalid {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    let model: &'static LlamaModel = Box::leak(Box::new(model));
    models.push((canonical, model));
    Ok(model)
}

/// llama.cpp's own message for a non-GGUF file is a log line; this one names the file.
fn check_magic(path: &Path) -> Result<(), LoadError> {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map_err(|e| LoadError::Invalid {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    if &magic != b"GGUF" {
        return Err(LoadError::Invalid {
            path: path.to_owned(),
            reason: "not a GGUF file".to_owned(),
        });
    }
    Ok(())
}

/// Serialises context creation: llama.cpp's context constructor writes to the shared model.
pub(crate) static CONTEXT_LOCK: Mutex<()> = Mutex::new(());

impl LocalModel {
    /// Loads the model and starts its slots. Blocking (reads the file): call it from a blocking
    /// context.
    pub fn load(config: EngineConfig) -> Result<Self, LoadError> {
        if !config.path.is_file() {
            return Err(LoadError::Missing(config.path.clone()));
        }
        let model = load_model(&config.path)?;
        let template = model.chat_template(None).map_err(|e| LoadError::Invalid {
            path: config.path.clone(),
            reason: format!("it has no usable chat template ({e}); use an instruction-tuned model"),
        })?;
        // A template llama.cpp cannot apply is found now rather than at the first run.
        let probe = LlamaChatMessage::new("user".to_owned(), "hi".to_owned())
            .map_err(|e| LoadError::Runtime(e.to_string()))?;
        model
            .apply_chat_template(&template, &[probe], true)
            .map_err(|e| LoadError::Invalid {
                path: config.path.clone(),
                reason: format!("llama.cpp cannot apply its chat template: {e}"),
            })?;

        let (jobs, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let counters = Arc::new(Counters::default());
        let (ready_tx, ready_rx) = mpsc::channel();
        for slot in 0..config.slots.max(1) {
            let rx = rx.clone();
            let ready = ready_tx.clone();
            let counters = counters.clone();
            let cfg = config.clone();
            std::thread::Builder::new()
                .name(format!("assistd-llama-{slot}"))
                .spawn(move || slot_main(slot, model, &cfg, &rx, counters, &ready))
                .map_err(|e| LoadError::Runtime(format!("starting a model slot: {e}")))?;
        }
        drop(ready_tx);
        for _ in 0..config.slots.max(1) {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(LoadError::Runtime(e)),
                Err(_) => return Err(LoadError::Runtime("a model slot died".to_owned())),
            }
        }
        tracing::info!(
            path = %config.path.display(),
            slots = config.slots,
            threads = config.threads,
            context_tokens = config.context_tokens,
            parameters = model.n_params(),
            "built-in model loaded"
        );
        Ok(Self {
            model,
            template,
            jobs,
            counters,
            config,
        })
    }

    /// What the slots have done so far.
    pub fn stats(&self) -> Stats {
        let c = &self.counters;
        Stats {
            waiting: c.waiting.load(Ordering::SeqCst),
            generated_tokens: c.generated.load(Ordering::SeqCst),
            evaluated_tokens: c.evaluated.load(Ordering::SeqCst),
            generation_ns: c.generation_ns.load(Ordering::SeqCst),
            evaluation_ns: c.evaluation_ns.load(Ordering::SeqCst),
            finished: c.finished.load(Ordering::SeqCst),
            abandoned: c.abandoned.load(Ordering::SeqCst),
            skipped: c.skipped.load(Ordering::SeqCst),
        }
    }

    /// Counts the tokens of `text` as the model's tokenizer does.
    pub fn count_tokens(&self, text: &str) -> usize {
        self.model
            .vocab()
            .tokenize(text.as_bytes(), false, false)
            .len()
    }

    /// The prompt text and grammar for a request.
    fn prepare(&self, req: &ChatRequest) -> Result<(String, Option<String>, bool), ModelError> {
        let rendered = prompt::render(req);
        let mut chat = Vec::with_capacity(rendered.messages.len());
        for (role, content) in rendered.messages {
            // NUL cannot cross into C; it carries no meaning in a prompt.
            let content = content.replace('\0', "");
            chat.push(
                LlamaChatMessage::new(role, content)
                    .map_err(|e| ModelError::Rejected(e.to_string()))?,
            );
        }
        let text = self
            .model
            .apply_chat_template(&self.template, &chat, true)
            .map_err(|e| ModelError::Rejected(format!("applying the chat template: {e}")))?;
        let (grammar, calls) = match rendered.constraint {
            Constraint::None => (None, false),
            Constraint::JsonObject => (
                Some(schema_grammar(&serde_json::json!({"type": "object"}))?),
                false,
            ),
            Constraint::JsonSchema { schema, strict } => match schema_grammar(&schema) {
                Ok(grammar) => (Some(grammar), false),
                Err(e) if strict => {
                    return Err(ModelError::Rejected(format!(
                        "the response_format schema is not supported by the built-in model: {e}"
                    )));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "response_format schema not convertible to a grammar; constraining the answer to any JSON object");
                    (
                        Some(schema_grammar(&serde_json::json!({"type": "object"}))?),
                        false,
                    )
                }
            },
            Constraint::Tools {
                call_schema,
                allow_text,
            } => {
                let call = schema_grammar(&call_schema).or_else(|e| {
                    // A parameters schema the converter cannot take still gets valid JSON.
                    tracing::warn!(error = %e, "function schema not convertible to a grammar; constraining arguments to any JSON object");
                    schema_grammar(&loosen(call_schema))
                })?;
                (Some(wrap_calls(&call, allow_text)), true)
            }
        };
        Ok((text, grammar, calls))
    }
}

fn schema_grammar(schema: &serde_json::Value) -> Result<String, ModelError> {
    llama_cpp_2::json_schema_to_grammar(&schema.to_string())
        .map_err(|e| ModelError::Rejected(format!("building the decoding grammar: {e}")))
}

/// The call schema with every function's arguments reduced to "any object".
fn loosen(mut schema: serde_json::Value) -> serde_json::Value {
    let Some(item) = schema.get_mut("items") else {
        return schema;
    };
    let branches: Vec<&mut serde_json::Value> = match item.get_mut("anyOf") {
        Some(serde_json::Value::Array(b)) => b.iter_mut().collect(),
        _ => vec![item],
    };
    for b in branches {
        if let Some(args) = b.pointer_mut("/properties/arguments") {
            *args = serde_json::json!({"type": "object"});
        }
    }
    schema
}

/// `root ::= "<tool_call>" calls "</tool_call>"` (and `| text` when a plain answer is allowed,
/// text being anything not starting with `<`), `calls` being the converted JSON schema.
#[expect(
    clippy::format_push_string,
    reason = "one line, built once per grammar"
)]
fn wrap_calls(calls_grammar: &str, allow_text: bool) -> String {
    let mut out = String::with_capacity(calls_grammar.len() + 128);
    out.push_str(&format!(
        "root ::= {:?} calls {:?}{}\n",
        prompt::CALL_OPEN,
        prompt::CALL_CLOSE,
        if allow_text {
            " | text\ntext ::= [^<] .*"
        } else {
            ""
        }
    ));
    for line in calls_grammar.lines() {
        match line.strip_prefix("root ::=") {
            Some(rest) => {
                out.push_str("calls ::=");
                out.push_str(rest);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[async_trait]
impl ModelBackend for LocalModel {
    async fn chat(&self, req: ChatRequest) -> Result<ChatStream, ModelError> {
        let (prompt, grammar, calls) = self.prepare(&req)?;
        // Capacity bounds how far generation runs ahead of a slow reader; a full channel
        // pauses the slot, which is what a client that stopped reading should cost.
        let (tx, rx) = tmpsc::channel(256);
        let job = Job {
            prompt,
            grammar,
            calls,
            temperature: req.temperature.unwrap_or(1.0) as f32,
            top_p: req.top_p.unwrap_or(1.0) as f32,
            seed: self.config.seed.unwrap_or_else(rand::random),
            max_tokens: req
                .max_tokens
                .map(|n| n.clamp(1, i64::from(u32::MAX)) as u32),
            queued_at: Instant::now(),
            tx,
        };
        self.counters.waiting.fetch_add(1, Ordering::SeqCst);
        if self.jobs.send(job).is_err() {
            self.counters.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(ModelError::Transient {
                message: "the built-in model has stopped".to_owned(),
                retry_after: None,
            });
        }
        Ok(tokio_stream::wrappers::ReceiverStream::new(rx).boxed())
    }

    /// A 135M model seldom decides to search on its own: runs search up front for it.
    fn calls_tools(&self, _model: &str) -> bool {
        false
    }
}

fn slot_main(
    slot: usize,
    model: &'static LlamaModel,
    cfg: &EngineConfig,
    jobs: &Mutex<mpsc::Receiver<Job>>,
    counters: Arc<Counters>,
    ready: &mpsc::Sender<Result<(), String>>,
) {
    let threads = i32::try_from(cfg.threads.max(1)).unwrap_or(1);
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(cfg.context_tokens.max(256)))
        .with_n_batch(cfg.batch_tokens.max(32))
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
    let mut ctx = match created {
        Ok(ctx) => {
            let _ = ready.send(Ok(()));
            ctx
        }
        Err(e) => {
            let _ = ready.send(Err(format!("creating a llama.cpp context: {e}")));
            return;
        }
    };
    let mut state = Slot {
        model,
        ctx: &mut ctx,
        cached: Vec::new(),
        batch_tokens: cfg.batch_tokens.max(32) as usize,
        counters,
    };
    loop {
        let job = {
            let rx = jobs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match rx.recv() {
                Ok(job) => job,
                // The model was dropped: the server is shutting down.
                Err(_) => return,
            }
        };
        state.counters.waiting.fetch_sub(1, Ordering::SeqCst);
        if job.tx.is_closed() {
            // Cancelled while it waited.
            state.counters.skipped.fetch_add(1, Ordering::SeqCst);
            continue;
        }
        let tx = job.tx.clone();
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| state.generate(job)));
        if outcome.is_err() {
            tracing::error!(
                slot,
                "the built-in model panicked; the slot's cache is reset"
            );
            state.reset();
            let _ = tx.blocking_send(Err(ModelError::Transient {
                message: "the built-in model failed internally".to_owned(),
                retry_after: None,
            }));
        }
    }
}

/// Token choice: the sampling chain, checked against the grammar when there is one.
struct Sampler {
    chain: LlamaSampler,
    grammar: Option<LlamaSampler>,
}

impl Sampler {
    /// The next token, from the logits of the last evaluated position.
    ///
    /// Masking the whole vocabulary with the grammar at every step costs more than the model
    /// itself at this size, so (as llama.cpp's own sampler does) the unconstrained choice is
    /// tried first and the grammar consulted for that one token; only when it is refused is the
    /// choice redone over the masked vocabulary.
    fn next(&mut self, ctx: &LlamaContext<'_>) -> LlamaToken {
        let token = self.chain.sample(ctx, -1);
        let Some(grammar) = &mut self.grammar else {
            return token;
        };
        let mut one = LlamaTokenDataArray::new(vec![LlamaTokenData::new(token, 1.0, 0.0)], false);
        one.apply_sampler(grammar);
        let token = if one.data[0].logit().is_finite() {
            token
        } else {
            let mut all = ctx.token_data_array_ith(-1);
            all.apply_sampler(grammar);
            all.apply_sampler(&mut self.chain);
            all.selected_token().unwrap_or(token)
        };
        grammar.accept(token);
        token
    }
}

/// One slot's state between generations.
struct Slot<'a, 'm> {
    model: &'static LlamaModel,
    ctx: &'a mut LlamaContext<'m>,
    /// The tokens at positions `0..cached.len()` of sequence 0 of the KV cache.
    cached: Vec<LlamaToken>,
    batch_tokens: usize,
    counters: Arc<Counters>,
}

/// Incremental UTF-8: token pieces can split a character.
#[derive(Default)]
struct Utf8Buf(Vec<u8>);

impl Utf8Buf {
    fn push(&mut self, bytes: &[u8]) -> String {
        self.0.extend_from_slice(bytes);
        match std::str::from_utf8(&self.0) {
            Ok(s) => {
                let out = s.to_owned();
                self.0.clear();
                out
            }
            Err(e) if e.error_len().is_none() => {
                let valid = e.valid_up_to();
                let out = String::from_utf8_lossy(&self.0[..valid]).into_owned();
                self.0.drain(..valid);
                out
            }
            Err(_) => {
                let out = String::from_utf8_lossy(&self.0).into_owned();
                self.0.clear();
                out
            }
        }
    }

    fn finish(&mut self) -> String {
        let out = String::from_utf8_lossy(&self.0).into_owned();
        self.0.clear();
        out
    }
}

enum Mode {
    Undecided(String),
    Text,
    Call(String),
}

/// A failure inside a generation, reported to its stream.
struct Failed(ModelError);

fn internal(what: &str, e: impl std::fmt::Display) -> Failed {
    Failed(ModelError::Transient {
        message: format!("the built-in model failed {what}: {e}"),
        retry_after: None,
    })
}

impl Slot<'_, '_> {
    fn reset(&mut self) {
        self.ctx.clear_kv_cache();
        self.cached.clear();
    }

    fn generate(&mut self, job: Job) {
        let tx = job.tx.clone();
        match self.try_generate(job) {
            Ok(true) => {
                self.counters.finished.fetch_add(1, Ordering::SeqCst);
            }
            Ok(false) => {
                self.counters.abandoned.fetch_add(1, Ordering::SeqCst);
            }
            Err(Failed(e)) => {
                let _ = tx.blocking_send(Err(e));
            }
        }
    }

    /// Evaluates `tokens` after the part of the cache they share, leaving the logits of the
    /// last one. Returns how many it evaluated, or `None` when the stream was dropped meanwhile.
    fn evaluate_prompt(
        &mut self,
        tokens: &[LlamaToken],
        tx: &tmpsc::Sender<Result<ChatEvent, ModelError>>,
    ) -> Result<Option<usize>, Failed> {
        let mut keep = self
            .cached
            .iter()
            .zip(tokens)
            .take_while(|(a, b)| a == b)
            .count();
        // The last prompt token is always evaluated again: its logits start the answer.
        keep = keep.min(tokens.len() - 1);
        if keep < self.cached.len() {
            let removed = self
                .ctx
                .clear_kv_cache_seq(Some(0), Some(keep as u32), None)
                .unwrap_or(false);
            if !removed {
                self.ctx.clear_kv_cache();
                keep = 0;
            }
            self.cached.truncate(keep);
        }
        let mut batch = LlamaBatch::new(self.batch_tokens, 1);
        let rest = &tokens[keep..];
        let mut pos = keep;
        for chunk in rest.chunks(self.batch_tokens) {
            batch.clear();
            for (i, &t) in chunk.iter().enumerate() {
                let last = pos + i + 1 == tokens.len();
                batch
                    .add(t, (pos + i) as i32, &[0], last)
                    .map_err(|e| internal("batching the prompt", e))?;
            }
            let t = Instant::now();
            if let Err(e) = self.ctx.decode(&mut batch) {
                self.reset();
                return Err(internal("evaluating the prompt", e));
            }
            let c = &self.counters;
            c.evaluation_ns
                .fetch_add(t.elapsed().as_nanos() as u64, Ordering::SeqCst);
            c.evaluated.fetch_add(chunk.len() as u64, Ordering::SeqCst);
            self.cached.extend_from_slice(chunk);
            pos += chunk.len();
            if tx.is_closed() {
                return Ok(None);
            }
        }
        Ok(Some(rest.len()))
    }

    fn sampler(&self, job: &Job) -> Result<Sampler, Failed> {
        let grammar = match &job.grammar {
            Some(g) => Some(
                LlamaSampler::grammar(self.model, g, "root")
                    .map_err(|e| Failed(ModelError::Rejected(format!("decoding grammar: {e}"))))?,
            ),
            None => None,
        };
        let chain = if job.temperature <= 0.0 {
            LlamaSampler::greedy()
        } else {
            // llama.cpp's defaults for the parts OpenAI's API does not expose (top-k 40,
            // min-p 0.05): without them a model this small at temperature 1 rambles.
            LlamaSampler::chain_simple([
                LlamaSampler::top_k(40),
                LlamaSampler::top_p(job.top_p.clamp(0.0, 1.0), 1),
                LlamaSampler::min_p(0.05, 1),
                LlamaSampler::temp(job.temperature),
                LlamaSampler::dist(job.seed),
            ])
        };
        Ok(Sampler { chain, grammar })
    }

    /// Runs one generation; `Ok(false)` when its stream was dropped before the end.
    #[expect(
        clippy::needless_pass_by_value,
        reason = "the job is this generation's to end: its stream closes when it drops here"
    )]
    fn try_generate(&mut self, job: Job) -> Result<bool, Failed> {
        let started = Instant::now();
        let tx = &job.tx;
        let send = |ev: ChatEvent| tx.blocking_send(Ok(ev)).is_ok();
        let tokens = self.prompt_tokens(&job.prompt)?;
        let Some(evaluated) = self.evaluate_prompt(&tokens, tx)? else {
            return Ok(false);
        };
        let prompt_done = Instant::now();
        let room = self.ctx.n_ctx() as usize - tokens.len();
        let limit = job.max_tokens.map_or(room, |m| (m as usize).min(room));
        let Some(answer) = self.sample(&job, limit, &send)? else {
            return Ok(false);
        };
        let generated = answer.generated;
        let Some(finish) = answer.end(&send)? else {
            return Ok(false);
        };
        let done = Instant::now();
        tracing::debug!(
            queued_ms = (started - job.queued_at).as_millis() as u64,
            prompt_tokens = tokens.len(),
            evaluated_prompt_tokens = evaluated,
            prompt_tok_per_s = evaluated as f64 / (prompt_done - started).as_secs_f64(),
            completion_tokens = generated,
            completion_tok_per_s = generated as f64 / (done - prompt_done).as_secs_f64(),
            finish,
            "built-in model generation"
        );
        Ok(send(ChatEvent::Usage {
            prompt_tokens: tokens.len() as i64,
            completion_tokens: generated as i64,
        }) && send(ChatEvent::Finish(finish.to_owned())))
    }

    /// The prompt's tokens, refused when empty or too long for the context (the answer needs
    /// room for at least one token).
    fn prompt_tokens(&self, prompt: &str) -> Result<Vec<LlamaToken>, Failed> {
        // The template's markers are special tokens; the model's vocabulary says whether a BOS
        // goes first.
        let tokens = self.model.vocab().tokenize(prompt.as_bytes(), true, true);
        if tokens.is_empty() {
            return Err(Failed(ModelError::Rejected(
                "the prompt is empty".to_owned(),
            )));
        }
        let n_ctx = self.ctx.n_ctx() as usize;
        if tokens.len() + 1 >= n_ctx {
            return Err(Failed(ModelError::Rejected(format!(
                "the prompt is {} tokens and the built-in model's context holds {n_ctx}: shorten \
                 the thread (truncation_strategy, max_prompt_tokens) or raise \
                 local_model.context_tokens",
                tokens.len()
            ))));
        }
        Ok(tokens)
    }

    /// Samples up to `limit` tokens after the evaluated prompt, sending text as soon as it is
    /// known to be text. `None` when the stream was dropped.
    fn sample(
        &mut self,
        job: &Job,
        limit: usize,
        send: &impl Fn(ChatEvent) -> bool,
    ) -> Result<Option<Sampled>, Failed> {
        let mut sampler = self.sampler(job)?;
        let vocab = self.model.vocab();
        let mut utf8 = Utf8Buf::default();
        let mut mode = if job.calls {
            Mode::Undecided(String::new())
        } else {
            Mode::Text
        };
        let mut batch = LlamaBatch::new(1, 1);
        let mut generated = 0usize;
        let finish = loop {
            if generated >= limit {
                break "length";
            }
            // Per token: sampling, detokenizing, sending and evaluating, as a client sees it.
            let t = Instant::now();
            let token = sampler.next(self.ctx);
            if vocab.is_eog(token) {
                break "stop";
            }
            generated += 1;
            self.counters.generated.fetch_add(1, Ordering::SeqCst);
            let piece = utf8.push(&vocab.token_to_piece(token, false, None));
            if !mode.push(piece, send) {
                return Ok(None);
            }
            self.decode_token(&mut batch, token)?;
            self.counters
                .generation_ns
                .fetch_add(t.elapsed().as_nanos() as u64, Ordering::SeqCst);
            if job.tx.is_closed() {
                return Ok(None);
            }
        };
        Ok(Some(Sampled {
            mode,
            tail: utf8.finish(),
            finish,
            generated,
        }))
    }

    /// Evaluates the sampled `token` at the next position: its logits give the next one.
    fn decode_token(
        &mut self,
        batch: &mut LlamaBatch<'_>,
        token: LlamaToken,
    ) -> Result<(), Failed> {
        batch.clear();
        let pos = self.cached.len() as i32;
        batch
            .add(token, pos, &[0], true)
            .map_err(|e| internal("batching a token", e))?;
        if let Err(e) = self.ctx.decode(batch) {
            self.reset();
            return Err(internal("generating", e));
        }
        self.cached.push(token);
        Ok(())
    }
}

impl Mode {
    /// Takes the next piece of the answer, sending it if the answer is text; `false` when the
    /// stream was dropped.
    fn push(&mut self, piece: String, send: &impl Fn(ChatEvent) -> bool) -> bool {
        match self {
            Self::Text => piece.is_empty() || send(ChatEvent::Text(piece)),
            Self::Call(buf) => {
                buf.push_str(&piece);
                true
            }
            Self::Undecided(buf) => {
                buf.push_str(&piece);
                match buf.chars().next() {
                    Some('<') => {
                        *self = Self::Call(std::mem::take(buf));
                        true
                    }
                    Some(_) => {
                        let text = std::mem::take(buf);
                        *self = Self::Text;
                        send(ChatEvent::Text(text))
                    }
                    None => true,
                }
            }
        }
    }
}

/// What sampling produced, before the answer's end is sent.
struct Sampled {
    mode: Mode,
    /// Bytes held back at the end (an incomplete character).
    tail: String,
    /// `stop` or `length`.
    finish: &'static str,
    generated: usize,
}

impl Sampled {
    /// Sends the rest of the answer: the last text, or the function calls parsed from it.
    /// Returns the finish reason, or `None` when the stream was dropped.
    fn end(self, send: &impl Fn(ChatEvent) -> bool) -> Result<Option<&'static str>, Failed> {
        let Self {
            mode,
            tail,
            finish,
            generated,
        } = self;
        let mut rest = match mode {
            Mode::Call(mut buf) => {
                buf.push_str(&tail);
                let Some(calls) = prompt::parse_calls(&buf) else {
                    return Err(Failed(ModelError::Rejected(format!(
                        "the built-in model's function call was cut off after {generated} tokens \
                         (max_completion_tokens)"
                    ))));
                };
                for (index, call) in calls.into_iter().enumerate() {
                    let id = assistd_core::ids::new_id(assistd_core::ids::IdKind::ToolCall);
                    if !send(ChatEvent::ToolCallDelta {
                        index: index as u32,
                        id: Some(id),
                        name: Some(call.name),
                        arguments: call.arguments,
                    }) {
                        return Ok(None);
                    }
                }
                return Ok(Some("tool_calls"));
            }
            Mode::Undecided(buf) => buf,
            Mode::Text => String::new(),
        };
        rest.push_str(&tail);
        if !rest.is_empty() && !send(ChatEvent::Text(rest)) {
            return Ok(None);
        }
        Ok(Some(finish))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_split_across_pieces_is_held_back() {
        let mut b = Utf8Buf::default();
        let euro = "€".as_bytes();
        assert_eq!(b.push(&euro[..1]), "");
        assert_eq!(b.push(&euro[1..]), "€");
        assert_eq!(b.push(b"ab"), "ab");
        assert_eq!(b.push(&[0xff, b'c']), "\u{fffd}c");
        assert_eq!(b.push(&euro[..2]), "");
        assert_eq!(b.finish(), "\u{fffd}");
    }

    #[test]
    fn call_grammar_is_wrapped_in_the_tags() {
        let g = wrap_calls("root ::= \"[\" x \"]\"\nx ::= [a-z]+\n", true);
        assert!(g.starts_with("root ::= \"<tool_call>\" calls \"</tool_call>\" | text\n"));
        assert!(g.contains("calls ::= \"[\" x \"]\"\n"));
        assert!(g.contains("x ::= [a-z]+\n"));
        assert_eq!(g.matches("root ::=").count(), 1);
        let forced = wrap_calls("root ::= x\nx ::= \"a\"\n", false);
        assert!(forced.starts_with("root ::= \"<tool_call>\" calls \"</tool_call>\"\n"));
        assert!(!forced.contains("text"));
    }

    #[test]
    fn loosen_replaces_arguments_in_every_branch() {
        let s = serde_json::json!({"type": "array", "items": {"anyOf": [
            {"properties": {"name": {"const": "a"}, "arguments": {"$ref": "#/nowhere"}}},
            {"properties": {"name": {"const": "b"}, "arguments": {"type": "string"}}}
        ]}});
        let l = loosen(s);
        let b = &l["items"]["anyOf"];
        assert_eq!(b[0]["properties"]["arguments"]["type"], "object");
        assert_eq!(b[1]["properties"]["arguments"]["type"], "object");
        assert_eq!(b[1]["properties"]["name"]["const"], "b");
    }
}
