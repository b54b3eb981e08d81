//! Messages and message files. Every response goes through `Versioned`: a message's fields
//! differ by version (`file_ids` / `attachments`, the parts v1 knows).

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{ApiJson, RawQuery};
use crate::version::{V1Only, Version, Versioned};
use assistd_core::validate;
use assistd_wire::{
    CreateMessageRequest, DeletionStatus, FileId, ListResponse, Message, MessageFile, MessageId,
    ModifyMessageRequest, RunId, ThreadId,
};
use axum::extract::{Path, State};

/// Whether writing `req` may add files to the thread's vector store (to be ingested).
pub(crate) fn adds_files(req: &CreateMessageRequest) -> bool {
    req.attachments.as_ref().is_some_and(|a| !a.is_empty())
        || req.file_ids.as_ref().is_some_and(|f| !f.is_empty())
}

/// `POST /threads/{thread_id}/messages` (createMessage).
pub async fn create_message(
    State(s): State<AppState>,
    Caller(p): Caller,
    Version(v): Version,
    Path(thread_id): Path<ThreadId>,
    ApiJson(req): ApiJson<CreateMessageRequest>,
) -> ApiResult<Versioned<Message>> {
    validate::create_message("", &req)?;
    let files = adds_files(&req);
    let msg = s.store.create_message(&p, &thread_id, req).await?;
    if files {
        // Files for file_search went into the thread's vector store.
        s.files_queued();
    }
    Ok(Versioned(v, msg))
}

/// `DELETE /threads/{thread_id}/messages/{message_id}` (deleteMessage).
pub async fn delete_message(
    State(s): State<AppState>,
    Caller(p): Caller,
    Version(v): Version,
    Path((thread_id, message_id)): Path<(ThreadId, MessageId)>,
) -> ApiResult<Versioned<DeletionStatus>> {
    s.store.delete_message(&p, &thread_id, &message_id).await?;
    Ok(Versioned(
        v,
        DeletionStatus::new(message_id, "thread.message.deleted"),
    ))
}

/// `GET /threads/{thread_id}/messages/{message_id}` (getMessage).
pub async fn get_message(
    State(s): State<AppState>,
    Caller(p): Caller,
    Version(v): Version,
    Path((thread_id, message_id)): Path<(ThreadId, MessageId)>,
) -> ApiResult<Versioned<Message>> {
    Ok(Versioned(
        v,
        s.store.get_message(&p, &thread_id, &message_id).await?,
    ))
}

/// `POST /threads/{thread_id}/messages/{message_id}` (modifyMessage).
pub async fn modify_message(
    State(s): State<AppState>,
    Caller(p): Caller,
    Version(v): Version,
    Path((thread_id, message_id)): Path<(ThreadId, MessageId)>,
    ApiJson(req): ApiJson<ModifyMessageRequest>,
) -> ApiResult<Versioned<Message>> {
    if let Some(m) = &req.metadata {
        validate::metadata("metadata", m.as_ref())?;
    }
    Ok(Versioned(
        v,
        s.store
            .modify_message(&p, &thread_id, &message_id, req.metadata)
            .await?,
    ))
}

/// `GET /threads/{thread_id}/messages` (listMessages), with the `run_id` filter.
pub async fn list_messages(
    State(s): State<AppState>,
    Caller(p): Caller,
    Version(v): Version,
    Path(thread_id): Path<ThreadId>,
    q: RawQuery,
) -> ApiResult<Versioned<ListResponse<Message>>> {
    let params = q.list_params()?;
    let run_id = q.string("run_id")?.map(RunId::from);
    let page = s
        .store
        .list_messages(&p, &thread_id, &params, run_id.as_ref())
        .await?;
    Ok(Versioned(v, ListResponse::new(page.data, page.has_more)))
}

/// `GET /threads/{thread_id}/messages/{message_id}/files` (listMessageFiles).
pub async fn list_message_files(
    State(s): State<AppState>,
    Caller(p): Caller,
    Version(v): Version,
    _: V1Only,
    Path((thread_id, message_id)): Path<(ThreadId, MessageId)>,
    q: RawQuery,
) -> ApiResult<Versioned<ListResponse<MessageFile>>> {
    let page = s
        .store
        .list_message_files(&p, &thread_id, &message_id, &q.list_params()?)
        .await?;
    Ok(Versioned(v, ListResponse::new(page.data, page.has_more)))
}

/// `GET /threads/{thread_id}/messages/{message_id}/files/{file_id}` (getMessageFile).
pub async fn get_message_file(
    State(s): State<AppState>,
    Caller(p): Caller,
    Version(v): Version,
    _: V1Only,
    Path((thread_id, message_id, file_id)): Path<(ThreadId, MessageId, FileId)>,
) -> ApiResult<Versioned<MessageFile>> {
    Ok(Versioned(
        v,
        s.store
            .get_message_file(&p, &thread_id, &message_id, &file_id)
            .await?,
    ))
}
