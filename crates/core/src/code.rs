//! The `code_interpreter` tool as the executor sees it: a [`CodeRunner`] runs a call's code in
//! the run's sandbox session and stores the files it writes. The sandbox and the file storage
//! live behind it (the server wires them), so the executor knows neither.

use crate::{Project, StoreError};
use assistd_wire::{FileId, Run, RunId};
use async_trait::async_trait;

/// One call of the tool.
pub struct CodeCall<'a> {
    /// The run's owner.
    pub project: &'a Project,
    /// The run: its session lasts across the run's calls.
    pub run: &'a Run,
    /// The files the code can read under `/mnt/data`, put there when the session opens.
    pub files: &'a [FileId],
    /// The code.
    pub code: &'a str,
}

/// What a call did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CodeOutcome {
    /// What it printed (standard output and error, capped), with a note when the interpreter
    /// timed out or died.
    pub logs: String,
    /// The files it wrote or changed, stored as files of purpose `assistants_output`: their
    /// path in the sandbox (`/mnt/data/…`), their id, and whether each is an image the
    /// message shows.
    pub files: Vec<CodeFile>,
}

/// A file a call wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeFile {
    /// Its path in the sandbox.
    pub path: String,
    /// The stored file.
    pub file_id: FileId,
    /// A PNG image.
    pub image: bool,
}

/// Why a call did not run.
#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    /// Code cannot run on this server (no working sandbox); the reason is for the run's
    /// `last_error`.
    #[error("{0}")]
    Unavailable(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs `code_interpreter` calls.
#[async_trait]
pub trait CodeRunner: Send + Sync {
    /// Runs one call in the run's session, opening it (with `call.files`) on its first call
    /// or when the previous one died.
    async fn run(&self, call: CodeCall<'_>) -> Result<CodeOutcome, CodeError>;
    /// The run ended or stopped here: its session goes.
    async fn end(&self, run_id: &RunId);
}
