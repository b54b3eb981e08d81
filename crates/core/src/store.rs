//! The storage traits. Handlers talk only to these; each backend crate (SQLite, PostgreSQL)
//! implements them, and `assistd-test-support` holds the contract suite every backend must pass.
//!
//! Every method is scoped to a [`Project`]: an object of another project does not exist for the
//! caller. Methods that touch several rows are atomic.

use crate::engine::{ClaimAtCreation, ClaimedRun};
use crate::list::{ListParams, Page};
use crate::project::Project;
use assistd_wire::{
    Assistant, AssistantFile, AssistantId, AssistantTool, CreateAssistantRequest,
    CreateMessageRequest, CreateThreadRequest, FileId, Message, MessageFile, MessageId, Metadata,
    ModifyAssistantRequest, OpenAIFile, ResponseFormatOption, Run, RunId, RunStep, StepId, Thread,
    ThreadId, ToolChoiceOption, ToolOutput, ToolResourcesRequest, TruncationObject,
};
use async_trait::async_trait;
use std::fmt;

/// The kinds of object a lookup can miss, named as OpenAI's messages name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// An assistant.
    Assistant,
    /// A file attached to an assistant.
    AssistantFile,
    /// A thread.
    Thread,
    /// A message.
    Message,
    /// A file attached to a message.
    MessageFile,
    /// A run.
    Run,
    /// A run step.
    RunStep,
    /// A file.
    File,
    /// A vector store.
    VectorStore,
    /// A file of a vector store.
    VectorStoreFile,
    /// A vector-store file batch.
    FileBatch,
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Assistant => "assistant",
            Self::AssistantFile => "assistant file",
            Self::Thread => "thread",
            Self::Message => "message",
            Self::MessageFile => "message file",
            Self::Run => "run",
            Self::RunStep => "run step",
            Self::File => "file",
            Self::VectorStore => "vector store",
            Self::VectorStoreFile => "vector store file",
            Self::FileBatch => "file batch",
        })
    }
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The object addressed by the path does not exist in this project (404).
    #[error("No {kind} found with id '{id}'.")]
    NotFound {
        /// What was looked up.
        kind: ObjectKind,
        /// The id asked for.
        id: String,
    },
    /// A body field names an object that does not exist in this project (400).
    #[error("No {kind} found with id '{id}'.")]
    InvalidReference {
        /// What was referenced.
        kind: ObjectKind,
        /// The id referenced.
        id: String,
        /// The field that referenced it.
        param: String,
    },
    /// The request conflicts with the stored state or a limit (400).
    #[error("{message}")]
    Invalid {
        /// What is wrong.
        message: String,
        /// The field, if one is to blame.
        param: Option<String>,
    },
    /// The backend failed (500); the message is for logs, not for clients.
    #[error("storage backend error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database cannot be reached or refuses work for now: its connection was lost or
    /// refused, it is shutting down or restarting, or no connection came free in time (503, to
    /// be retried). As with `Backend`, the cause is for logs, and a write that met it may or may
    /// not have been made.
    #[error("storage backend unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// How long a caller waits after [`StoreError::Unavailable`] before it tries again: long enough
/// for a pool to reconnect, short enough to ride out a failover. The API tells its clients this
/// (a 503's `Retry-After`), and a run's turn waits it before its next try.
pub const UNAVAILABLE_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

impl StoreError {
    /// A 404 for `kind` `id`.
    pub fn not_found(kind: ObjectKind, id: impl Into<String>) -> Self {
        Self::NotFound {
            kind,
            id: id.into(),
        }
    }

    /// Whether the backend failed (reachable or not), as opposed to refusing the call: what
    /// the call did is not known, so a batch of writes ends with it.
    pub fn is_failure(&self) -> bool {
        matches!(self, Self::Backend(_) | Self::Unavailable(_))
    }

    /// A 400 about the stored state.
    pub fn invalid(message: impl Into<String>, param: Option<&str>) -> Self {
        Self::Invalid {
            message: message.into(),
            param: param.map(str::to_owned),
        }
    }
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// A file's row, created once its bytes are safely stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFile {
    /// The id under which the bytes were stored.
    pub id: FileId,
    /// The uploaded name.
    pub filename: String,
    /// Size in bytes.
    pub bytes: i64,
    /// One of `assistd_wire::UPLOAD_PURPOSES`.
    pub purpose: String,
    /// Seconds after creation when the file expires (v2's `expires_after`).
    pub expires_after_secs: Option<i64>,
}

/// A run to enqueue, with every field already resolved from the assistant and the request.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRun {
    /// The run's id, chosen before it is stored so that a stream can subscribe to its events
    /// before any worker can pick it up.
    pub id: RunId,
    /// The instance whose client streams the run (`stream: true`), if any: the instance that
    /// executes it relays its events there when it is another one.
    pub streamer: Option<String>,
    /// The assistant.
    pub assistant_id: AssistantId,
    /// The model.
    pub model: String,
    /// The instructions (the request's override, else the assistant's, else empty).
    pub instructions: String,
    /// Appended to the instructions at execution.
    pub additional_instructions: Option<String>,
    /// Added to the thread, in the same transaction as the run.
    pub additional_messages: Vec<CreateMessageRequest>,
    /// The tools.
    pub tools: Vec<AssistantTool>,
    /// The files (the assistant's).
    pub file_ids: Vec<String>,
    /// Metadata.
    pub metadata: Option<Metadata>,
    /// Temperature, if the request or the assistant set it.
    pub temperature: Option<f64>,
    /// Top-p, if the request or the assistant set it.
    pub top_p: Option<f64>,
    /// Prompt token budget.
    pub max_prompt_tokens: Option<i64>,
    /// Completion token budget.
    pub max_completion_tokens: Option<i64>,
    /// Truncation.
    pub truncation_strategy: TruncationObject,
    /// Tool choice.
    pub tool_choice: ToolChoiceOption,
    /// Response format.
    pub response_format: ResponseFormatOption,
    /// Whether the model may call several functions in one turn.
    pub parallel_tool_calls: bool,
    /// Passed on to reasoning models.
    pub reasoning_effort: Option<assistd_wire::ReasoningEffort>,
    /// createThreadAndRun's `tool_resources`: what the run uses instead of the assistant's
    /// (kept for file search, #17).
    pub tool_resources: Option<assistd_wire::ToolResourcesRequest>,
    /// Seconds from creation until the run expires.
    pub expires_after_secs: i64,
}

/// Assistants and the files attached to them.
#[async_trait]
pub trait AssistantStore: Send + Sync {
    /// Creates an assistant; `file_ids` must name files of purpose `assistants`.
    async fn create_assistant(
        &self,
        project: &Project,
        req: CreateAssistantRequest,
    ) -> StoreResult<Assistant>;
    /// Reads an assistant.
    async fn get_assistant(&self, project: &Project, id: &AssistantId) -> StoreResult<Assistant>;
    /// Applies a modification; `file_ids`, when given, replaces the attachments.
    async fn modify_assistant(
        &self,
        project: &Project,
        id: &AssistantId,
        req: ModifyAssistantRequest,
    ) -> StoreResult<Assistant>;
    /// Lists assistants.
    async fn list_assistants(
        &self,
        project: &Project,
        params: &ListParams,
    ) -> StoreResult<Page<Assistant>>;
    /// Deletes an assistant and its attachments; threads and runs stay.
    async fn delete_assistant(&self, project: &Project, id: &AssistantId) -> StoreResult<()>;
    /// Attaches a file (idempotent).
    async fn create_assistant_file(
        &self,
        project: &Project,
        assistant_id: &AssistantId,
        file_id: &FileId,
    ) -> StoreResult<AssistantFile>;
    /// Reads an attachment.
    async fn get_assistant_file(
        &self,
        project: &Project,
        assistant_id: &AssistantId,
        file_id: &FileId,
    ) -> StoreResult<AssistantFile>;
    /// Lists attachments.
    async fn list_assistant_files(
        &self,
        project: &Project,
        assistant_id: &AssistantId,
        params: &ListParams,
    ) -> StoreResult<Page<AssistantFile>>;
    /// Detaches a file (the file itself stays).
    async fn delete_assistant_file(
        &self,
        project: &Project,
        assistant_id: &AssistantId,
        file_id: &FileId,
    ) -> StoreResult<()>;
}

/// Threads.
#[async_trait]
pub trait ThreadStore: Send + Sync {
    /// Creates a thread with its initial messages, atomically.
    async fn create_thread(
        &self,
        project: &Project,
        req: CreateThreadRequest,
    ) -> StoreResult<Thread>;
    /// Reads a thread.
    async fn get_thread(&self, project: &Project, id: &ThreadId) -> StoreResult<Thread>;
    /// Replaces (or, with `Some(None)`, clears) a thread's metadata, and replaces each list of
    /// tool resources given.
    async fn modify_thread(
        &self,
        project: &Project,
        id: &ThreadId,
        metadata: Option<Option<Metadata>>,
        tool_resources: Option<&ToolResourcesRequest>,
    ) -> StoreResult<Thread>;
    /// Deletes a thread with its messages, runs and steps.
    async fn delete_thread(&self, project: &Project, id: &ThreadId) -> StoreResult<()>;
}

/// Messages and the files attached to them.
#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Adds a message to a thread.
    async fn create_message(
        &self,
        project: &Project,
        thread_id: &ThreadId,
        req: CreateMessageRequest,
    ) -> StoreResult<Message>;
    /// Reads a message.
    async fn get_message(
        &self,
        project: &Project,
        thread_id: &ThreadId,
        message_id: &MessageId,
    ) -> StoreResult<Message>;
    /// Replaces (or clears) a message's metadata.
    async fn modify_message(
        &self,
        project: &Project,
        thread_id: &ThreadId,
        message_id: &MessageId,
        metadata: Option<Option<Metadata>>,
    ) -> StoreResult<Message>;
    /// Lists a thread's messages, optionally only those written by `run_id`.
    async fn list_messages(
        &self,
        project: &Project,
        thread_id: &ThreadId,
        params: &ListParams,
        run_id: Option<&RunId>,
    ) -> StoreResult<Page<Message>>;
    /// Deletes a message with its file links (a message a run is writing is a 400).
    async fn delete_message(
        &self,
        project: &Project,
        thread_id: &ThreadId,
        message_id: &MessageId,
    ) -> StoreResult<()>;
    /// Lists a message's files.
    async fn list_message_files(
        &self,
        project: &Project,
        thread_id: &ThreadId,
        message_id: &MessageId,
        params: &ListParams,
    ) -> StoreResult<Page<MessageFile>>;
    /// Reads one of a message's files.
    async fn get_message_file(
        &self,
        project: &Project,
        thread_id: &ThreadId,
        message_id: &MessageId,
        file_id: &FileId,
    ) -> StoreResult<MessageFile>;
}

/// Runs and their steps.
#[async_trait]
pub trait RunStore: Send + Sync {
    /// Enqueues a run on a thread, adding its additional messages in the same transaction.
    async fn create_run(
        &self,
        project: &Project,
        thread_id: &ThreadId,
        run: NewRun,
    ) -> StoreResult<Run> {
        let (run, _) = self
            .create_run_claimed(project, thread_id, run, None)
            .await?;
        Ok(run)
    }
    /// [`RunStore::create_run`], and with `claim`, claims the new run in the same transaction
    /// when [`ClaimAtCreation`] allows it. The run comes back as created (`queued`), and the
    /// claim, if made, as a claim does.
    async fn create_run_claimed(
        &self,
        project: &Project,
        thread_id: &ThreadId,
        run: NewRun,
        claim: Option<ClaimAtCreation>,
    ) -> StoreResult<(Run, Option<ClaimedRun>)>;
    /// Creates a thread and enqueues a run on it, atomically.
    async fn create_thread_and_run(
        &self,
        project: &Project,
        thread: CreateThreadRequest,
        run: NewRun,
    ) -> StoreResult<(Thread, Run)> {
        let (thread, run, _) = self
            .create_thread_and_run_claimed(project, thread, run, None)
            .await?;
        Ok((thread, run))
    }
    /// [`RunStore::create_thread_and_run`], claiming the run as
    /// [`RunStore::create_run_claimed`] does.
    async fn create_thread_and_run_claimed(
        &self,
        project: &Project,
        thread: CreateThreadRequest,
        run: NewRun,
        claim: Option<ClaimAtCreation>,
    ) -> StoreResult<(Thread, Run, Option<ClaimedRun>)>;
    /// Reads a run.
    async fn get_run(
        &self,
        project: &Project,
        thread_id: &ThreadId,
        run_id: &RunId,
    ) -> StoreResult<Run>;
    /// Replaces (or clears) a run's metadata.
    async fn modify_run(
        &self,
        project: &Project,
        thread_id: &ThreadId,
        run_id: &RunId,
        metadata: Option<Option<Metadata>>,
    ) -> StoreResult<Run>;
    /// Lists a thread's runs.
    async fn list_runs(
        &self,
        project: &Project,
        thread_id: &ThreadId,
        params: &ListParams,
    ) -> StoreResult<Page<Run>>;
    /// Requests cancellation: a queued or `requires_action` run is cancelled at once, an
    /// `in_progress` run becomes `cancelling`; any other status is a 400.
    async fn cancel_run(
        &self,
        project: &Project,
        thread_id: &ThreadId,
        run_id: &RunId,
    ) -> StoreResult<Run>;
    /// Accepts exactly one output per pending tool call of a `requires_action` run, records them
    /// in the run's `tool_calls` step and queues the run again (nobody streams it).
    async fn submit_tool_outputs(
        &self,
        project: &Project,
        thread_id: &ThreadId,
        run_id: &RunId,
        outputs: Vec<ToolOutput>,
    ) -> StoreResult<Run> {
        self.submit_tool_outputs_streamed(project, thread_id, run_id, outputs, None)
            .await
    }
    /// [`RunStore::submit_tool_outputs`], recording which instance's client streams the run
    /// from now on (see [`NewRun::streamer`]); `None` clears it.
    async fn submit_tool_outputs_streamed(
        &self,
        project: &Project,
        thread_id: &ThreadId,
        run_id: &RunId,
        outputs: Vec<ToolOutput>,
        streamer: Option<&str>,
    ) -> StoreResult<Run>;
    /// Lists a run's steps.
    async fn list_run_steps(
        &self,
        project: &Project,
        thread_id: &ThreadId,
        run_id: &RunId,
        params: &ListParams,
    ) -> StoreResult<Page<RunStep>>;
    /// Reads a run step.
    async fn get_run_step(
        &self,
        project: &Project,
        thread_id: &ThreadId,
        run_id: &RunId,
        step_id: &StepId,
    ) -> StoreResult<RunStep>;
}

/// File records (their bytes live in the object store).
#[async_trait]
pub trait FileStore: Send + Sync {
    /// Records a file whose bytes are already stored.
    async fn create_file(&self, project: &Project, file: NewFile) -> StoreResult<OpenAIFile>;
    /// Reads a file record.
    async fn get_file(&self, project: &Project, id: &FileId) -> StoreResult<OpenAIFile>;
    /// One page of files, optionally of one purpose (`params.limit` up to 10,000, as v2 allows).
    async fn list_files(
        &self,
        project: &Project,
        purpose: Option<&str>,
        params: &ListParams,
    ) -> StoreResult<Page<OpenAIFile>>;
    /// Deletes a file record and detaches it from every assistant, message and run.
    async fn delete_file(&self, project: &Project, id: &FileId) -> StoreResult<()>;
}

/// Everything a server needs from storage.
#[async_trait]
pub trait Store:
    AssistantStore
    + ThreadStore
    + MessageStore
    + RunStore
    + FileStore
    + crate::EngineStore
    + crate::vector_stores::VectorStoreStore
    + crate::ingest::IngestStore
    + crate::search::ChunkStore
{
    /// Whether the backend answers (for `/healthz`).
    async fn ping(&self) -> StoreResult<()>;

    /// How many runs, across projects, are in each unfinished status (`queued`, `in_progress`,
    /// `requires_action`, `cancelling`), for the metrics endpoint; finished runs are counted
    /// as they end, not here (that count only grows).
    async fn count_unfinished_runs(&self) -> StoreResult<Vec<(assistd_wire::RunStatus, u64)>>;
    /// What `project` holds now, for its quotas.
    async fn project_usage(&self, project: &Project) -> StoreResult<ProjectUsage>;
}

/// What a project holds, as its quotas count it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProjectUsage {
    /// Runs queued or executing (`queued`, `in_progress`, `cancelling`): what can occupy workers.
    pub active_runs: i64,
    /// Bytes of its files.
    pub file_bytes: i64,
}
