//! Files: multipart upload streamed to the object store, listing, retrieval, deletion and
//! download. The bytes are stored completely before the File object exists, so a failed or
//! aborted upload leaves nothing behind.

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::extract::RawQuery;
use assistd_core::ids::{IdKind, new_id};
use assistd_core::{NewFile, ObjectKind, StoreError};
use assistd_wire::{DeletionStatus, FileId, ListFilesResponse, OpenAIFile, UPLOAD_PURPOSES};
use axum::Json;
use axum::body::Body;
use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        ErrorKind::FileTooLarge,
        format!("File is too large: the maximum upload size is {limit} bytes."),
    )
}

fn multipart_error(e: &MultipartError, limit: u64) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(limit)
    } else {
        ApiError::invalid(format!("Invalid multipart body: {}", e.body_text()), None)
    }
}

fn check_purpose(purpose: Option<&str>) -> ApiResult<String> {
    match purpose {
        None => Err(ApiError::invalid(
            "Missing required parameter: 'purpose'.",
            Some("purpose".to_owned()),
        )),
        Some(p) if UPLOAD_PURPOSES.contains(&p) => Ok(p.to_owned()),
        Some(p) => Err(ApiError::invalid(
            format!(
                "Invalid value for 'purpose': '{p}'. Supported values are: 'fine-tune' and 'assistants'."
            ),
            Some("purpose".to_owned()),
        )),
    }
}

/// `POST /files` (createFile): multipart `file` + `purpose`.
pub async fn create_file(
    State(s): State<AppState>,
    Caller(p): Caller,
    req: Request,
) -> ApiResult<Json<OpenAIFile>> {
    let limit = s.settings.max_upload_bytes;
    let mut form = Multipart::from_request(req, &()).await.map_err(|e| {
        ApiError::invalid(
            format!(
                "Invalid request: file uploads must be sent as multipart/form-data with fields 'file' and 'purpose' ({}).",
                e.body_text()
            ),
            None,
        )
    })?;
    let mut upload = Upload::default();
    let outcome = async {
        read_form(&s, &mut form, limit, &mut upload).await?;
        let purpose = check_purpose(upload.purpose.as_deref())?;
        let Some(stored) = &upload.stored else {
            return Err(ApiError::invalid(
                "Missing required parameter: 'file'.",
                Some("file".to_owned()),
            ));
        };
        s.limits.admit_file(&*s.store, &p, stored.size).await?;
        Ok(s.store
            .create_file(
                &p,
                NewFile {
                    id: FileId::from(stored.id.clone()),
                    filename: stored.filename.clone(),
                    bytes: i64::try_from(stored.size).unwrap_or(i64::MAX),
                    purpose,
                },
            )
            .await?)
    }
    .await;
    match outcome {
        Ok(file) => Ok(Json(file)),
        Err(e) => {
            if let Some(StoredBytes { id, .. }) = &upload.stored
                && let Err(del) = s.blobs.delete(id).await
            {
                tracing::warn!(file_id = %id, error = %del, "could not remove the bytes of a rejected upload");
            }
            Err(e)
        }
    }
}

/// The fields of an upload read so far; whatever was stored is removed if the upload fails.
#[derive(Default)]
struct Upload {
    purpose: Option<String>,
    stored: Option<StoredBytes>,
}

/// The bytes of the `file` field, in the object store under the future File's id.
struct StoredBytes {
    id: String,
    filename: String,
    size: u64,
}

/// Reads the form's fields into `upload`, streaming the file to the object store.
async fn read_form(
    s: &AppState,
    form: &mut Multipart,
    limit: u64,
    upload: &mut Upload,
) -> ApiResult<()> {
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| multipart_error(&e, limit))?
    {
        match field.name().unwrap_or_default() {
            "purpose" => {
                upload.purpose = Some(field.text().await.map_err(|e| multipart_error(&e, limit))?);
            }
            "file" => store_bytes(s, field, limit, &mut upload.stored).await?,
            other => {
                return Err(ApiError::invalid(
                    format!("Unrecognized request argument supplied: {other}"),
                    Some(other.to_owned()),
                ));
            }
        }
    }
    Ok(())
}

/// Streams the `file` field to the object store, recording it in `stored` as soon as it is
/// there (so that it is cleaned up if anything fails after).
async fn store_bytes(
    s: &AppState,
    field: Field<'_>,
    limit: u64,
    stored: &mut Option<StoredBytes>,
) -> ApiResult<()> {
    if stored.is_some() {
        return Err(ApiError::invalid(
            "Only one 'file' may be uploaded per request.",
            Some("file".to_owned()),
        ));
    }
    let filename = field
        .file_name()
        .filter(|n| !n.is_empty())
        .unwrap_or("upload")
        .to_owned();
    let id = new_id(IdKind::File);
    let size = s
        .blobs
        .put_stream(&id, field.boxed())
        .await
        .map_err(|(e, cause)| match cause {
            Some(m) => multipart_error(&m, limit),
            None => ApiError::internal(&e),
        })?;
    *stored = Some(StoredBytes { id, filename, size });
    if size > limit {
        return Err(too_large(limit));
    }
    Ok(())
}

/// `GET /files` (listFiles), with the `purpose` filter.
pub async fn list_files(
    State(s): State<AppState>,
    Caller(p): Caller,
    q: RawQuery,
) -> ApiResult<Json<ListFilesResponse>> {
    let purpose = q.string("purpose")?;
    let data = s.store.list_files(&p, purpose.as_deref()).await?;
    Ok(Json(ListFilesResponse {
        object: "list".to_owned(),
        data,
    }))
}

/// `GET /files/{file_id}` (retrieveFile).
pub async fn retrieve_file(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<FileId>,
) -> ApiResult<Json<OpenAIFile>> {
    Ok(Json(s.store.get_file(&p, &id).await?))
}

/// `DELETE /files/{file_id}` (deleteFile): detaches it everywhere, then removes the bytes.
pub async fn delete_file(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<FileId>,
) -> ApiResult<Json<DeletionStatus>> {
    s.store.delete_file(&p, &id).await?;
    if let Err(e) = s.blobs.delete(id.as_str()).await {
        // The record is gone, so the bytes are unreachable; a leftover is only wasted space.
        tracing::warn!(file_id = %id, error = %e, "could not remove the bytes of a deleted file");
    }
    Ok(Json(DeletionStatus::new(id, "file")))
}

/// `GET /files/{file_id}/content` (downloadFile): the raw bytes.
pub async fn download_file(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<FileId>,
) -> ApiResult<Response> {
    let file = s.store.get_file(&p, &id).await?;
    let stream = s.blobs.get(id.as_str()).await.map_err(|e| match e {
        crate::blobs::BlobError::Store(object_store::Error::NotFound { .. }) => {
            ApiError::from(StoreError::not_found(ObjectKind::File, &id))
        }
        other => ApiError::internal(&other),
    })?;
    let disposition = format!(
        "attachment; filename=\"{}\"",
        file.filename.replace(['"', '\\', '\r', '\n'], "_")
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, file.bytes.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        Body::from_stream(stream.map(|r| r.map_err(std::io::Error::other))),
    )
        .into_response())
}
