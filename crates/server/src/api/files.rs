//! Files: multipart upload streamed to the object store, listing, retrieval, deletion and
//! download. The bytes are stored completely before the File object exists, so a failed or
//! aborted upload leaves nothing behind.

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorKind, quote};
use crate::extract::RawQuery;
use assistd_core::ids::{IdKind, new_id};
use assistd_core::{NewFile, ObjectKind, StoreError};
use assistd_wire::{
    DeletionStatus, FILE_EXPIRY_SECS, FileId, ListFilesResponse, ListResponse, OpenAIFile,
    UPLOAD_PURPOSES,
};
use axum::Json;
use axum::body::Body;
use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Longest accepted filename, in bytes: names are stored, listed and sent back in headers.
pub const MAX_FILENAME_BYTES: usize = 512;
/// Longest `purpose` read: the longest valid one is a few bytes, so a longer field is refused
/// without being kept.
const MAX_PURPOSE_BYTES: usize = 64;
/// What the purpose errors list.
const PURPOSES_TEXT: &str =
    "'assistants', 'batch', 'fine-tune', 'vision', 'user_data', and 'evals'";
/// Most files one `GET /files` page holds (and its default), as v2 has it.
const MAX_FILES_PAGE: u32 = 10_000;

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
                "Invalid value for 'purpose': '{}'. Supported values are: {PURPOSES_TEXT}.",
                quote(p)
            ),
            Some("purpose".to_owned()),
        )),
    }
}

/// `expires_after` (v2): `anchor` `created_at` and `seconds` 3600 to 2592000, both required
/// when either is sent.
fn check_expires_after(anchor: Option<&str>, seconds: Option<&str>) -> ApiResult<Option<i64>> {
    let (anchor, seconds) = match (anchor, seconds) {
        (None, None) => return Ok(None),
        (Some(a), Some(s)) => (a, s),
        (None, Some(_)) => {
            return Err(ApiError::invalid(
                "Missing required parameter: 'expires_after.anchor'.",
                Some("expires_after.anchor".to_owned()),
            ));
        }
        (Some(_), None) => {
            return Err(ApiError::invalid(
                "Missing required parameter: 'expires_after.seconds'.",
                Some("expires_after.seconds".to_owned()),
            ));
        }
    };
    if anchor != "created_at" {
        return Err(ApiError::invalid(
            format!(
                "Invalid value for 'expires_after.anchor': '{}'. Supported values are: 'created_at'.",
                quote(anchor)
            ),
            Some("expires_after.anchor".to_owned()),
        ));
    }
    let secs: i64 = seconds.trim().parse().map_err(|_| {
        ApiError::invalid(
            format!(
                "Invalid type for 'expires_after.seconds': expected an integer, but got '{}' instead.",
                quote(seconds)
            ),
            Some("expires_after.seconds".to_owned()),
        )
    })?;
    if !FILE_EXPIRY_SECS.contains(&secs) {
        return Err(ApiError::invalid(
            format!(
                "Invalid 'expires_after.seconds': expected a value between {} and {}, but got {secs} instead.",
                FILE_EXPIRY_SECS.start(),
                FILE_EXPIRY_SECS.end()
            ),
            Some("expires_after.seconds".to_owned()),
        ));
    }
    Ok(Some(secs))
}

/// `POST /files` (createFile): multipart `file` + `purpose`, and v2's `expires_after`. The
/// same under either header (the v2 SDKs upload without `OpenAI-Beta`).
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
        let expires_after_secs =
            check_expires_after(upload.anchor.as_deref(), upload.seconds.as_deref())?;
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
                    expires_after_secs,
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
    /// `expires_after[anchor]`, as the SDKs flatten the object into form fields.
    anchor: Option<String>,
    /// `expires_after[seconds]`.
    seconds: Option<String>,
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
            "purpose" => upload.purpose = Some(read_short(field, limit, "purpose").await?),
            "expires_after[anchor]" => {
                upload.anchor = Some(read_short(field, limit, "expires_after[anchor]").await?);
            }
            "expires_after[seconds]" => {
                upload.seconds = Some(read_short(field, limit, "expires_after[seconds]").await?);
            }
            "file" => store_bytes(s, field, limit, &mut upload.stored).await?,
            other => {
                return Err(ApiError::invalid(
                    format!("Unrecognized request argument supplied: {}", quote(other)),
                    Some(other.to_owned()),
                ));
            }
        }
    }
    Ok(())
}

/// A short text field (`purpose`, `expires_after[…]`), read only as far as a valid value could
/// go: a longer one is refused, quoting its start, after the rest of it is read and dropped (so
/// the client gets the answer rather than a reset connection).
async fn read_short(mut field: Field<'_>, limit: u64, name: &str) -> ApiResult<String> {
    let mut bytes = Vec::new();
    let mut too_long = false;
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| multipart_error(&e, limit))?
    {
        if bytes.len() + chunk.len() > MAX_PURPOSE_BYTES {
            let room = MAX_PURPOSE_BYTES - bytes.len();
            bytes.extend_from_slice(&chunk[..room.min(chunk.len())]);
            too_long = true;
        } else if !too_long {
            bytes.extend_from_slice(&chunk);
        }
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    if too_long {
        return Err(ApiError::invalid(
            format!("Invalid value for '{name}': '{}…'.", quote(&text)),
            Some(name.to_owned()),
        ));
    }
    Ok(text)
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
    if filename.len() > MAX_FILENAME_BYTES {
        return Err(ApiError::invalid(
            format!(
                "Invalid 'file': the filename is {} bytes long; the maximum is {MAX_FILENAME_BYTES} bytes.",
                filename.len()
            ),
            Some("file".to_owned()),
        ));
    }
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

/// `GET /files` (listFiles), with the `purpose` filter and v2's paging: `limit` (1 to 10,000,
/// 10,000 by default), `order` (`desc` by default) and `after`.
pub async fn list_files(
    State(s): State<AppState>,
    Caller(p): Caller,
    q: RawQuery,
) -> ApiResult<Json<ListFilesResponse>> {
    let purpose = q.string("purpose")?;
    let params = q.list_params_up_to(MAX_FILES_PAGE, MAX_FILES_PAGE)?;
    let page = s.store.list_files(&p, purpose.as_deref(), &params).await?;
    Ok(Json(ListResponse::new(page.data, page.has_more)))
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

/// RFC 5987 `attr-char`: what `filename*` may carry unencoded.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `attachment` with the name twice (RFC 6266): `filename*=UTF-8''…` percent-encoded, exact, for
/// every current client; and a plain `filename="…"` for old ones, where anything but printable
/// ASCII (controls, bidi overrides, any non-ASCII) and the characters that quoting or decoding
/// would change (`"`, `\`, `%`) become `_`, so no client can be shown a reordered or spoofed name.
pub fn content_disposition(filename: &str) -> String {
    let fallback: String = filename
        .chars()
        .map(|c| {
            if c == ' ' || (c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '%')) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
        utf8_percent_encode(filename, ATTR_CHAR)
    )
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
    let disposition = content_disposition(&file.filename);
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

#[cfg(test)]
mod tests {
    use super::content_disposition;

    #[test]
    fn disposition_names_the_file_exactly_and_safely() {
        assert_eq!(
            content_disposition("report.txt"),
            "attachment; filename=\"report.txt\"; filename*=UTF-8''report.txt"
        );
        // U+202E RIGHT-TO-LEFT OVERRIDE would show "invoice_fdp.exe" as "invoice_exe.pdf".
        assert_eq!(
            content_disposition("invoice_\u{202e}fdp.exe"),
            "attachment; filename=\"invoice__fdp.exe\"; filename*=UTF-8''invoice_%E2%80%AEfdp.exe"
        );
        assert_eq!(
            content_disposition("a \"b\"\r\n%20é.txt"),
            "attachment; filename=\"a _b____20_.txt\"; filename*=UTF-8''a%20%22b%22%0D%0A%2520%C3%A9.txt"
        );
    }
}
