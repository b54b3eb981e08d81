//! Vector stores, their files and file batches (`/vector_stores`). The operations are new in v2
//! and clash with nothing in v1, so they answer under either header, in the one shape the spec
//! gives them.
//!
//! A search ranks the chunks ingestion indexed (lexically, for now); a file's content is still
//! an empty page (chunk text is not yet served back). Both check the whole request and that the
//! store and file exist.

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, quote};
use crate::extract::{ApiJson, RawQuery};
use assistd_core::search::{SearchError, SearchHit, SearchRequest};
use assistd_core::vector_stores::{self as vs, NewVectorStoreFile};
use assistd_wire::vector_stores::{
    ChunkingStrategyRequestParam, CreateVectorStoreFileBatchRequest, CreateVectorStoreFileRequest,
    CreateVectorStoreRequest, FileContentPart, SearchResultContent,
    UpdateVectorStoreFileAttributesRequest, UpdateVectorStoreRequest, VECTOR_STORE_DELETED,
    VECTOR_STORE_FILE_DELETED, VectorStoreFileBatchObject, VectorStoreFileContentResponse,
    VectorStoreFileObject, VectorStoreFileStatus, VectorStoreObject, VectorStoreSearchRequest,
    VectorStoreSearchResultItem, VectorStoreSearchResultsPage,
};
use assistd_wire::{DeletionStatus, FileBatchId, FileId, ListResponse, VectorStoreId};
use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};

/// A response the SDKs' pollers read, with the `openai-poll-after-ms` header they sleep for.
pub struct Polled<T>(u64, T);

impl<T> Polled<T> {
    fn new(s: &AppState, body: T) -> Self {
        Self(s.settings.poll_after_ms, body)
    }
}

impl<T: serde::Serialize> IntoResponse for Polled<T> {
    fn into_response(self) -> Response {
        ([("openai-poll-after-ms", self.0.to_string())], Json(self.1)).into_response()
    }
}

/// The `filter` query parameter of the file lists.
fn status_filter(q: &RawQuery) -> ApiResult<Option<VectorStoreFileStatus>> {
    match q.get("filter") {
        None => Ok(None),
        Some(f) => VectorStoreFileStatus::parse(f).map(Some).ok_or_else(|| {
            ApiError::invalid(
                format!(
                    "Invalid value for 'filter': expected one of 'in_progress', 'completed', 'failed', or 'cancelled', but got '{}' instead.",
                    quote(f)
                ),
                Some("filter".to_owned()),
            )
        }),
    }
}

/// `POST /vector_stores` (createVectorStore).
pub async fn create_vector_store(
    State(s): State<AppState>,
    Caller(p): Caller,
    ApiJson(req): ApiJson<CreateVectorStoreRequest>,
) -> ApiResult<Json<VectorStoreObject>> {
    vs::check_create(&req)?;
    let has_files = req.file_ids.as_ref().is_some_and(|f| !f.is_empty());
    let store = s.store.create_vector_store(&p, req.into()).await?;
    if has_files {
        s.files_queued();
    }
    Ok(Json(store))
}

/// `GET /vector_stores` (listVectorStores).
pub async fn list_vector_stores(
    State(s): State<AppState>,
    Caller(p): Caller,
    q: RawQuery,
) -> ApiResult<Json<ListResponse<VectorStoreObject>>> {
    let page = s.store.list_vector_stores(&p, &q.list_params()?).await?;
    Ok(Json(ListResponse::new(page.data, page.has_more)))
}

/// `GET /vector_stores/{vector_store_id}` (getVectorStore).
pub async fn get_vector_store(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<VectorStoreId>,
) -> ApiResult<Polled<VectorStoreObject>> {
    Ok(Polled::new(&s, s.store.get_vector_store(&p, &id).await?))
}

/// `POST /vector_stores/{vector_store_id}` (modifyVectorStore).
pub async fn modify_vector_store(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<VectorStoreId>,
    ApiJson(req): ApiJson<UpdateVectorStoreRequest>,
) -> ApiResult<Json<VectorStoreObject>> {
    vs::check_modify(&req)?;
    Ok(Json(s.store.modify_vector_store(&p, &id, req).await?))
}

/// `DELETE /vector_stores/{vector_store_id}` (deleteVectorStore).
pub async fn delete_vector_store(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<VectorStoreId>,
) -> ApiResult<Json<DeletionStatus>> {
    s.store.delete_vector_store(&p, &id).await?;
    Ok(Json(DeletionStatus::new(id, VECTOR_STORE_DELETED)))
}

/// `POST /vector_stores/{vector_store_id}/files` (createVectorStoreFile).
pub async fn create_vector_store_file(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<VectorStoreId>,
    ApiJson(req): ApiJson<CreateVectorStoreFileRequest>,
) -> ApiResult<Json<VectorStoreFileObject>> {
    vs::check_file(
        &req.file_id,
        req.chunking_strategy.as_ref(),
        req.attributes.as_ref(),
    )?;
    let file = s
        .store
        .create_vector_store_file(
            &p,
            &id,
            NewVectorStoreFile {
                file_id: FileId::from(req.file_id),
                chunking_strategy: req
                    .chunking_strategy
                    .unwrap_or(ChunkingStrategyRequestParam::Auto)
                    .into(),
                attributes: req.attributes,
            },
        )
        .await?;
    s.files_queued();
    Ok(Json(file))
}

/// `GET /vector_stores/{vector_store_id}/files` (listVectorStoreFiles), with `filter`.
pub async fn list_vector_store_files(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<VectorStoreId>,
    q: RawQuery,
) -> ApiResult<Json<ListResponse<VectorStoreFileObject>>> {
    let filter = status_filter(&q)?;
    let page = s
        .store
        .list_vector_store_files(&p, &id, filter, &q.list_params()?)
        .await?;
    Ok(Json(ListResponse::new(page.data, page.has_more)))
}

/// `GET /vector_stores/{vector_store_id}/files/{file_id}` (getVectorStoreFile).
pub async fn get_vector_store_file(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path((id, file_id)): Path<(VectorStoreId, FileId)>,
) -> ApiResult<Polled<VectorStoreFileObject>> {
    Ok(Polled::new(
        &s,
        s.store.get_vector_store_file(&p, &id, &file_id).await?,
    ))
}

/// `POST /vector_stores/{vector_store_id}/files/{file_id}` (updateVectorStoreFileAttributes).
pub async fn update_vector_store_file_attributes(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path((id, file_id)): Path<(VectorStoreId, FileId)>,
    ApiJson(req): ApiJson<UpdateVectorStoreFileAttributesRequest>,
) -> ApiResult<Json<VectorStoreFileObject>> {
    let Some(attributes) = req.attributes else {
        return Err(ApiError::invalid(
            "Missing required parameter: 'attributes'.",
            Some("attributes".to_owned()),
        ));
    };
    vs::check_attributes("attributes", attributes.as_ref())?;
    Ok(Json(
        s.store
            .update_vector_store_file_attributes(&p, &id, &file_id, attributes)
            .await?,
    ))
}

/// `DELETE /vector_stores/{vector_store_id}/files/{file_id}` (deleteVectorStoreFile).
pub async fn delete_vector_store_file(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path((id, file_id)): Path<(VectorStoreId, FileId)>,
) -> ApiResult<Json<DeletionStatus>> {
    s.store.delete_vector_store_file(&p, &id, &file_id).await?;
    Ok(Json(DeletionStatus::new(
        file_id,
        VECTOR_STORE_FILE_DELETED,
    )))
}

/// `GET /vector_stores/{vector_store_id}/files/{file_id}/content`
/// (retrieveVectorStoreFileContent): the text ingestion extracted, put back together from the
/// file's overlapping chunks, one part per chunk; empty until the file is indexed. One page: the
/// operation takes no page token, and a file's text is bounded by the ingested size.
pub async fn retrieve_vector_store_file_content(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path((id, file_id)): Path<(VectorStoreId, FileId)>,
) -> ApiResult<Json<VectorStoreFileContentResponse>> {
    s.store.get_vector_store_file(&p, &id, &file_id).await?;
    let mut data = Vec::new();
    let (mut after, mut covered) = (-1_i64, 0_i64);
    loop {
        let page = s
            .store
            .file_chunks(&p, &id, &file_id, after, CONTENT_PAGE_CHUNKS)
            .await?;
        let last = page.len() < CONTENT_PAGE_CHUNKS;
        for (index, start, text) in page {
            let part = assistd_core::search::new_part(covered, start, &text);
            let len = i64::try_from(text.chars().count()).unwrap_or(i64::MAX);
            covered = covered.max(start.saturating_add(len));
            after = index;
            if !part.is_empty() {
                data.push(FileContentPart {
                    type_: "text".to_owned(),
                    text: part.to_owned(),
                });
            }
        }
        if last {
            break;
        }
    }
    Ok(Json(VectorStoreFileContentResponse {
        object: "vector_store.file_content.page".to_owned(),
        data,
        has_more: false,
        next_page: None,
    }))
}

/// Chunks read from the database at a time for a content page.
const CONTENT_PAGE_CHUNKS: usize = 500;

/// `POST /vector_stores/{vector_store_id}/file_batches` (createVectorStoreFileBatch).
pub async fn create_vector_store_file_batch(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<VectorStoreId>,
    ApiJson(req): ApiJson<CreateVectorStoreFileBatchRequest>,
) -> ApiResult<Json<VectorStoreFileBatchObject>> {
    vs::check_batch(&req)?;
    let field = if req.files.is_some() {
        "files"
    } else {
        "file_ids"
    };
    let files = vs::batch_files(req)
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            let param = if field == "files" {
                format!("files[{i}].file_id")
            } else {
                format!("file_ids[{i}]")
            };
            (f, param)
        })
        .collect();
    let batch = s
        .store
        .create_vector_store_file_batch(&p, &id, files)
        .await?;
    s.files_queued();
    Ok(Json(batch))
}

/// `GET /vector_stores/{vector_store_id}/file_batches/{batch_id}` (getVectorStoreFileBatch).
pub async fn get_vector_store_file_batch(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path((id, batch_id)): Path<(VectorStoreId, FileBatchId)>,
) -> ApiResult<Polled<VectorStoreFileBatchObject>> {
    Ok(Polled::new(
        &s,
        s.store
            .get_vector_store_file_batch(&p, &id, &batch_id)
            .await?,
    ))
}

/// `POST /vector_stores/{vector_store_id}/file_batches/{batch_id}/cancel`
/// (cancelVectorStoreFileBatch).
pub async fn cancel_vector_store_file_batch(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path((id, batch_id)): Path<(VectorStoreId, FileBatchId)>,
) -> ApiResult<Json<VectorStoreFileBatchObject>> {
    Ok(Json(
        s.store
            .cancel_vector_store_file_batch(&p, &id, &batch_id)
            .await?,
    ))
}

/// `GET /vector_stores/{vector_store_id}/file_batches/{batch_id}/files`
/// (listFilesInVectorStoreBatch), with `filter`.
pub async fn list_files_in_vector_store_batch(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path((id, batch_id)): Path<(VectorStoreId, FileBatchId)>,
    q: RawQuery,
) -> ApiResult<Json<ListResponse<VectorStoreFileObject>>> {
    let filter = status_filter(&q)?;
    let page = s
        .store
        .list_vector_store_file_batch_files(&p, &id, &batch_id, filter, &q.list_params()?)
        .await?;
    Ok(Json(ListResponse::new(page.data, page.has_more)))
}

/// Results of a search unless `max_num_results` says otherwise (OpenAI's default).
const DEFAULT_SEARCH_RESULTS: usize = 10;

/// `POST /vector_stores/{vector_store_id}/search` (searchVectorStore): the request is checked
/// whole and the store marked active; each query is searched, and the best chunks of all of
/// them come back, one result per chunk, best first.
pub async fn search_vector_store(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<VectorStoreId>,
    ApiJson(req): ApiJson<VectorStoreSearchRequest>,
) -> ApiResult<Json<VectorStoreSearchResultsPage>> {
    let queries = vs::check_search(&req)?;
    s.store.touch_vector_store(&p, &id).await?;
    let max_results = req
        .max_num_results
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(DEFAULT_SEARCH_RESULTS);
    let mut hits: Vec<SearchHit> = Vec::new();
    for query in &queries {
        let found = s
            .searcher
            .search(&SearchRequest {
                project: p.clone(),
                vector_store_ids: vec![id.clone()],
                query: query.clone(),
                max_results,
                score_threshold: req
                    .ranking_options
                    .as_ref()
                    .and_then(|r| r.score_threshold)
                    .unwrap_or(0.0),
                filter: req.filters.clone(),
            })
            .await
            .map_err(|e| match e {
                SearchError::Store(e) => ApiError::from(e),
                SearchError::Embed(e) => ApiError::internal(&e),
            })?;
        for hit in found {
            // A chunk several queries found counts once, with its best score.
            match hits
                .iter_mut()
                .find(|h| h.file_id == hit.file_id && h.chunk_index == hit.chunk_index)
            {
                Some(h) if h.score < hit.score => *h = hit,
                Some(_) => {}
                None => hits.push(hit),
            }
        }
    }
    hits.sort_by(|a, b| b.score.total_cmp(&a.score));
    hits.truncate(max_results);
    Ok(Json(VectorStoreSearchResultsPage {
        object: "vector_store.search_results.page".to_owned(),
        search_query: queries,
        data: hits
            .into_iter()
            .map(|h| VectorStoreSearchResultItem {
                file_id: h.file_id,
                filename: h.filename,
                score: h.score,
                attributes: h.attributes,
                content: vec![SearchResultContent {
                    type_: "text".to_owned(),
                    text: h.text,
                }],
            })
            .collect(),
        has_more: false,
        next_page: None,
    }))
}
