//! Threads.

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{ApiJson, OptionalJson};
use crate::version::{Version, Versioned};
use assistd_core::validate;
use assistd_wire::{
    CreateThreadRequest, DeletionStatus, ModifyThreadRequest, Thread, ThreadId,
    ToolResourcesRequest,
};
use axum::extract::{Path, State};

/// `POST /threads` (createThread); the body is optional.
pub async fn create_thread(
    State(s): State<AppState>,
    Caller(p): Caller,
    Version(v): Version,
    OptionalJson(req): OptionalJson<CreateThreadRequest>,
) -> ApiResult<Versioned<Thread>> {
    validate::create_thread("", &req)?;
    let creates_store = req
        .tool_resources
        .as_ref()
        .is_some_and(ToolResourcesRequest::creates_store);
    let thread = s.store.create_thread(&p, req).await?;
    if creates_store {
        s.files_queued();
    }
    Ok(Versioned(v, thread))
}

/// `GET /threads/{thread_id}` (getThread).
pub async fn get_thread(
    State(s): State<AppState>,
    Caller(p): Caller,
    Version(v): Version,
    Path(id): Path<ThreadId>,
) -> ApiResult<Versioned<Thread>> {
    Ok(Versioned(v, s.store.get_thread(&p, &id).await?))
}

/// `POST /threads/{thread_id}` (modifyThread).
pub async fn modify_thread(
    State(s): State<AppState>,
    Caller(p): Caller,
    Version(v): Version,
    Path(id): Path<ThreadId>,
    ApiJson(req): ApiJson<ModifyThreadRequest>,
) -> ApiResult<Versioned<Thread>> {
    if let Some(m) = &req.metadata {
        validate::metadata("metadata", m.as_ref())?;
    }
    if let Some(r) = &req.tool_resources {
        validate::tool_resources("", r, false)?;
    }
    Ok(Versioned(
        v,
        s.store
            .modify_thread(&p, &id, req.metadata, req.tool_resources.as_ref())
            .await?,
    ))
}

/// `DELETE /threads/{thread_id}` (deleteThread).
pub async fn delete_thread(
    State(s): State<AppState>,
    Caller(p): Caller,
    Version(v): Version,
    Path(id): Path<ThreadId>,
) -> ApiResult<Versioned<DeletionStatus>> {
    s.store.delete_thread(&p, &id).await?;
    Ok(Versioned(v, DeletionStatus::new(id, "thread.deleted")))
}
