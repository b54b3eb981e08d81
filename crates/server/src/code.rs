//! The `code_interpreter` tool's runner: one sandbox session per run on the instance that
//! executes it, its input files read from file storage into `/mnt/data`, and the files its
//! code writes stored back as files of purpose `assistants_output`.
//!
//! Whether the sandbox works is checked once, in the background from start-up: until then the
//! first call waits for the check, and when it failed every call fails its run with the reason
//! (code never runs unsandboxed).

use crate::blobs::Blobs;
use crate::config::CodeInterpreterSettings;
use crate::limits::Limits;
use assistd_core::code::{CodeCall, CodeError, CodeFile, CodeOutcome, CodeRunner};
use assistd_core::ids::{IdKind, new_id};
use assistd_core::{NewFile, Project, Store, StoreError};
use assistd_sandbox::{Execution, InputFile, Sandbox, SandboxConfig, SandboxError, Session};
use assistd_wire::{FileId, RunId};
use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// The purpose of the files code writes.
const OUTPUT_PURPOSE: &str = "assistants_output";

/// The PNG signature: what makes a written file an image the message shows.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";

/// One run's session, while it lives, and when it was last used.
struct Slot {
    session: Option<Session>,
    used: Instant,
}

/// Runs `code_interpreter` calls in the sandbox.
pub struct SandboxRunner {
    sandbox: Arc<Sandbox>,
    store: Arc<dyn Store>,
    blobs: Blobs,
    /// The start-up check: `Err` holds why code cannot run here.
    status: Arc<OnceCell<Result<(), String>>>,
    sessions: Mutex<HashMap<RunId, Arc<tokio::sync::Mutex<Slot>>>>,
    /// A session unused this long goes (a run waiting for tool outputs that never come).
    idle: Duration,
    /// Bytes of input files a session gets at most.
    max_input_bytes: u64,
    /// A call's time limit, for what the model reads when it is hit.
    timeout: Duration,
    /// The projects' stored-bytes quota, which the files code writes count against.
    limits: Arc<Limits>,
}

impl SandboxRunner {
    /// A runner over the sandbox `settings` describe; its check starts now, in the background.
    pub fn start(
        settings: &CodeInterpreterSettings,
        limits: Arc<Limits>,
        store: Arc<dyn Store>,
        blobs: Blobs,
    ) -> Self {
        let config = settings.sandbox_config();
        let timeout = config.call_timeout;
        let sandbox = Arc::new(Sandbox::new(config));
        let status = Arc::new(OnceCell::new());
        if settings.check_at_start {
            let check = (sandbox.clone(), status.clone());
            tokio::spawn(async move {
                let (sandbox, status) = check;
                status.get_or_init(|| probe(&sandbox)).await;
            });
        }
        Self {
            sandbox,
            store,
            blobs,
            status,
            sessions: Mutex::new(HashMap::new()),
            idle: Duration::from_secs(settings.idle_secs),
            max_input_bytes: settings.input_mb << 20,
            timeout,
            limits,
        }
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<RunId, Arc<tokio::sync::Mutex<Slot>>>> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The run's slot, after closing the sessions idle too long (never one in use).
    fn slot(&self, run_id: &RunId) -> Arc<tokio::sync::Mutex<Slot>> {
        let mut sessions = self.sessions();
        let idle = self.idle;
        sessions.retain(|id, slot| {
            id == run_id || slot.try_lock().map_or(true, |s| s.used.elapsed() < idle)
        });
        sessions
            .entry(run_id.clone())
            .or_insert_with(|| {
                Arc::new(tokio::sync::Mutex::new(Slot {
                    session: None,
                    used: Instant::now(),
                }))
            })
            .clone()
    }

    /// The bytes of the files the session gets, up to `max_input_bytes` in all; files deleted
    /// since the run started are left out.
    async fn inputs(
        &self,
        project: &Project,
        files: &[FileId],
    ) -> Result<Vec<InputFile>, CodeError> {
        let mut inputs = Vec::new();
        let mut total = 0u64;
        for id in files {
            let file = match self.store.get_file(project, id).await {
                Ok(f) => f,
                Err(StoreError::NotFound { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            let size = u64::try_from(file.bytes).unwrap_or(u64::MAX);
            if total.saturating_add(size) > self.max_input_bytes {
                tracing::warn!(file_id = %id, "a code_interpreter input file is left out: over the session's input size");
                continue;
            }
            let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            let read = async {
                let mut stream = self.blobs.get(id.as_str()).await?;
                while let Some(piece) = stream.try_next().await? {
                    bytes.extend_from_slice(&piece);
                }
                Ok::<_, anyhow::Error>(())
            };
            if let Err(e) = read.await {
                tracing::error!(file_id = %id, error = %e, "reading a code_interpreter input file failed");
                continue;
            }
            total = total.saturating_add(bytes.len() as u64);
            inputs.push(InputFile {
                name: file.filename,
                bytes: Bytes::from(bytes),
            });
        }
        Ok(inputs)
    }

    /// Stores the files a call wrote, as far as the project's storage quota allows; the paths
    /// of those it could not keep are returned too.
    async fn store_outputs(
        &self,
        project: &Project,
        exec: &mut Execution,
    ) -> Result<(Vec<CodeFile>, Vec<String>), CodeError> {
        let mut out = Vec::with_capacity(exec.files.len());
        let mut refused = Vec::new();
        for f in std::mem::take(&mut exec.files) {
            let id = new_id(IdKind::File);
            let image = f.bytes.starts_with(PNG);
            let size = f.bytes.len();
            let name = f.path.rsplit('/').next().unwrap_or(&f.path).to_owned();
            if let Err(e) = self
                .limits
                .admit_file(self.store.as_ref(), project, size as u64)
                .await
            {
                tracing::info!(error = ?e, "a file code wrote is not kept: over the project's storage quota");
                refused.push(format!("/mnt/data/{}", f.path));
                continue;
            }
            let body = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from(f.bytes))]);
            if let Err((e, _)) = self.blobs.put_stream(&id, Box::pin(body)).await {
                tracing::error!(error = %e, "storing a file code wrote failed");
                continue;
            }
            self.store
                .create_file(
                    project,
                    NewFile {
                        id: FileId::from(id.clone()),
                        filename: name,
                        bytes: i64::try_from(size).unwrap_or(i64::MAX),
                        purpose: OUTPUT_PURPOSE.to_owned(),
                        expires_after_secs: None,
                    },
                )
                .await?;
            out.push(CodeFile {
                path: format!("/mnt/data/{}", f.path),
                file_id: FileId::from(id),
                image,
            });
        }
        Ok((out, refused))
    }
}

/// The sandbox check, logged: `Err` says why code cannot run here.
async fn probe(sandbox: &Sandbox) -> Result<(), String> {
    match sandbox.check().await {
        Ok(what) => {
            tracing::info!(sandbox = %what, "code_interpreter: the sandbox works");
            Ok(())
        }
        Err(e) => {
            tracing::warn!(error = %e, "code_interpreter: the sandbox does not work here; runs with the tool will fail");
            Err(e.to_string())
        }
    }
}

/// What the model reads about a call that did not finish normally.
fn logs_of(exec: &Execution, timeout: Duration) -> String {
    let mut logs = exec.logs.clone();
    let mut note = |line: String| {
        if !logs.is_empty() && !logs.ends_with('\n') {
            logs.push('\n');
        }
        logs.push_str(&line);
    };
    if exec.timed_out {
        note(format!(
            "Execution timed out after {} seconds and was stopped; the interpreter restarts with \
             no variables or files from earlier calls.",
            timeout.as_secs()
        ));
    } else if let Some(exit) = &exec.exit {
        note(format!(
            "The interpreter stopped ({exit}); it restarts with no variables or files from \
             earlier calls."
        ));
    }
    logs
}

#[async_trait]
impl CodeRunner for SandboxRunner {
    async fn run(&self, call: CodeCall<'_>) -> Result<CodeOutcome, CodeError> {
        let sandbox = self.sandbox.clone();
        if let Err(why) = self
            .status
            .get_or_init(|| async move { probe(&sandbox).await })
            .await
        {
            return Err(CodeError::Unavailable(format!(
                "The code_interpreter sandbox does not work on this server: {why}"
            )));
        }
        let slot = self.slot(&call.run.id);
        let mut guard = slot.lock().await;
        // Through a plain `&mut`, so that the session and the slot's fields borrow apart.
        let slot = &mut *guard;
        slot.used = Instant::now();
        // A session whose last call was dropped midway (an interrupted run) is dead too.
        if !slot.session.as_ref().is_some_and(Session::is_alive) {
            slot.session = None;
            let inputs = self.inputs(call.project, call.files).await?;
            match self.sandbox.session(inputs).await {
                Ok(s) => slot.session = Some(s),
                Err(SandboxError::Busy) => {
                    return Ok(CodeOutcome {
                        logs: "The code interpreter is busy on this server (every sandbox is in \
                               use); the code did not run. Try again later."
                            .to_owned(),
                        files: Vec::new(),
                    });
                }
                Err(e) => {
                    tracing::error!(run_id = %call.run.id, error = %e, "a code_interpreter session could not start");
                    return Err(CodeError::Unavailable(format!(
                        "The code_interpreter sandbox could not start: {e}"
                    )));
                }
            }
        }
        let Some(session) = slot.session.as_mut() else {
            return Err(CodeError::Unavailable(
                "The code_interpreter sandbox could not start.".to_owned(),
            ));
        };
        let mut exec = match session.run(call.code).await {
            Ok(exec) => exec,
            Err(e) => {
                tracing::warn!(run_id = %call.run.id, error = %e, "a code_interpreter call failed");
                slot.session = None;
                return Ok(CodeOutcome {
                    logs: format!(
                        "The interpreter stopped ({e}); it restarts with no variables or files \
                         from earlier calls."
                    ),
                    files: Vec::new(),
                });
            }
        };
        if !session.is_alive() {
            slot.session = None;
        }
        let (files, refused) = self.store_outputs(call.project, &mut exec).await?;
        let mut logs = logs_of(&exec, self.timeout);
        if !refused.is_empty() {
            if !logs.is_empty() && !logs.ends_with('\n') {
                logs.push('\n');
            }
            logs.push_str(
                "Not kept, as the project's file storage quota is full (the files stay in the \
                 sandbox for this run):",
            );
            for path in refused {
                logs.push_str(" sandbox:");
                logs.push_str(&path);
            }
        }
        Ok(CodeOutcome { logs, files })
    }

    async fn end(&self, run_id: &RunId) {
        let slot = self.sessions().remove(run_id);
        if let Some(slot) = slot {
            // Waits for a call still running on it (a cancelled run's) to let go of it.
            slot.lock().await.session = None;
        }
    }
}

impl CodeInterpreterSettings {
    /// The sandbox these settings describe.
    pub fn sandbox_config(&self) -> SandboxConfig {
        let default = SandboxConfig::default();
        SandboxConfig {
            bwrap: self.bwrap.clone().unwrap_or(default.bwrap),
            python: self.python.clone().unwrap_or(default.python),
            work_root: self.work_dir.clone().unwrap_or(default.work_root),
            uid_base: self.uid_base,
            max_sessions: self.sessions,
            cpu_secs: self.cpu_secs,
            memory_bytes: self.memory_mb << 20,
            file_bytes: self.file_mb << 20,
            processes: self.processes,
            call_timeout: Duration::from_secs_f64(self.timeout_secs),
            output_cap: self.output_kb << 10,
            ..default
        }
    }
}
