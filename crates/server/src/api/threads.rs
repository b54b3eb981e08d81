//! Threads.

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{ApiJson, OptionalJson};
use assistd_core::validate;
use assistd_wire::{CreateThreadRequest, DeletionStatus, ModifyThreadRequest, Thread, ThreadId};
use axum::Json;
use axum::extract::{Path, State};

/// `POST /threads` (createThread); the body is optional.
pub async fn create_thread(
    State(s): State<AppState>,
    Caller(p): Caller,
    OptionalJson(req): OptionalJson<CreateThreadRequest>,
) -> ApiResult<Json<Thread>> {
    validate::create_thread("", &req)?;
    Ok(Json(s.store.create_thread(&p, req).await?))
}

/// `GET /threads/{thread_id}` (getThread).
pub async fn get_thread(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<ThreadId>,
) -> ApiResult<Json<Thread>> {
    Ok(Json(s.store.get_thread(&p, &id).await?))
}

/// `POST /threads/{thread_id}` (modifyThread).
pub async fn modify_thread(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<ThreadId>,
    ApiJson(req): ApiJson<ModifyThreadRequest>,
) -> ApiResult<Json<Thread>> {
    if let Some(m) = &req.metadata {
        validate::metadata("metadata", m.as_ref())?;
    }
    Ok(Json(s.store.modify_thread(&p, &id, req.metadata).await?))
}

/// `DELETE /threads/{thread_id}` (deleteThread).
pub async fn delete_thread(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<ThreadId>,
) -> ApiResult<Json<DeletionStatus>> {
    s.store.delete_thread(&p, &id).await?;
    Ok(Json(DeletionStatus::new(id, "thread.deleted")))
}
