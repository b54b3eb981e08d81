//! Assistants and assistant files.

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{ApiJson, RawQuery};
use crate::version::{V1Only, Version, Versioned};
use assistd_core::validate;
use assistd_wire::{
    Assistant, AssistantFile, AssistantId, CreateAssistantFileRequest, CreateAssistantRequest,
    DeletionStatus, FileId, ListResponse, ModifyAssistantRequest, ToolResourcesRequest,
};
use axum::extract::{Path, State};

/// `POST /assistants` (createAssistant).
pub async fn create_assistant(
    State(s): State<AppState>,
    Caller(p): Caller,
    Version(v): Version,
    ApiJson(req): ApiJson<CreateAssistantRequest>,
) -> ApiResult<Versioned<Assistant>> {
    validate::create_assistant(&req)?;
    let creates_store = req
        .tool_resources
        .as_ref()
        .is_some_and(ToolResourcesRequest::creates_store);
    let assistant = s.store.create_assistant(&p, req).await?;
    if creates_store {
        s.files_queued();
    }
    Ok(Versioned(v, assistant))
}

/// `GET /assistants/{assistant_id}` (getAssistant).
pub async fn get_assistant(
    State(s): State<AppState>,
    Caller(p): Caller,
    Version(v): Version,
    Path(id): Path<AssistantId>,
) -> ApiResult<Versioned<Assistant>> {
    Ok(Versioned(v, s.store.get_assistant(&p, &id).await?))
}

/// `POST /assistants/{assistant_id}` (modifyAssistant).
pub async fn modify_assistant(
    State(s): State<AppState>,
    Caller(p): Caller,
    Version(v): Version,
    Path(id): Path<AssistantId>,
    ApiJson(req): ApiJson<ModifyAssistantRequest>,
) -> ApiResult<Versioned<Assistant>> {
    validate::modify_assistant(&req)?;
    Ok(Versioned(v, s.store.modify_assistant(&p, &id, req).await?))
}

/// `GET /assistants` (listAssistants).
pub async fn list_assistants(
    State(s): State<AppState>,
    Caller(p): Caller,
    Version(v): Version,
    q: RawQuery,
) -> ApiResult<Versioned<ListResponse<Assistant>>> {
    let page = s.store.list_assistants(&p, &q.list_params()?).await?;
    Ok(Versioned(v, ListResponse::new(page.data, page.has_more)))
}

/// `DELETE /assistants/{assistant_id}` (deleteAssistant).
pub async fn delete_assistant(
    State(s): State<AppState>,
    Caller(p): Caller,
    Version(v): Version,
    Path(id): Path<AssistantId>,
) -> ApiResult<Versioned<DeletionStatus>> {
    s.store.delete_assistant(&p, &id).await?;
    Ok(Versioned(v, DeletionStatus::new(id, "assistant.deleted")))
}

/// `POST /assistants/{assistant_id}/files` (createAssistantFile).
pub async fn create_assistant_file(
    State(s): State<AppState>,
    Caller(p): Caller,
    Version(v): Version,
    _: V1Only,
    Path(id): Path<AssistantId>,
    ApiJson(req): ApiJson<CreateAssistantFileRequest>,
) -> ApiResult<Versioned<AssistantFile>> {
    Ok(Versioned(
        v,
        s.store
            .create_assistant_file(&p, &id, &FileId::from(req.file_id))
            .await?,
    ))
}

/// `GET /assistants/{assistant_id}/files/{file_id}` (getAssistantFile).
pub async fn get_assistant_file(
    State(s): State<AppState>,
    Caller(p): Caller,
    Version(v): Version,
    _: V1Only,
    Path((id, file_id)): Path<(AssistantId, FileId)>,
) -> ApiResult<Versioned<AssistantFile>> {
    Ok(Versioned(
        v,
        s.store.get_assistant_file(&p, &id, &file_id).await?,
    ))
}

/// `GET /assistants/{assistant_id}/files` (listAssistantFiles).
pub async fn list_assistant_files(
    State(s): State<AppState>,
    Caller(p): Caller,
    Version(v): Version,
    _: V1Only,
    Path(id): Path<AssistantId>,
    q: RawQuery,
) -> ApiResult<Versioned<ListResponse<AssistantFile>>> {
    let page = s
        .store
        .list_assistant_files(&p, &id, &q.list_params()?)
        .await?;
    Ok(Versioned(v, ListResponse::new(page.data, page.has_more)))
}

/// `DELETE /assistants/{assistant_id}/files/{file_id}` (deleteAssistantFile).
pub async fn delete_assistant_file(
    State(s): State<AppState>,
    Caller(p): Caller,
    Version(v): Version,
    _: V1Only,
    Path((id, file_id)): Path<(AssistantId, FileId)>,
) -> ApiResult<Versioned<DeletionStatus>> {
    s.store.delete_assistant_file(&p, &id, &file_id).await?;
    Ok(Versioned(
        v,
        DeletionStatus::new(file_id, "assistant.file.deleted"),
    ))
}
