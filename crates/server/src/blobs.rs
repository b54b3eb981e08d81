//! File bytes, kept in an object store (the local filesystem by default) through the
//! `object_store` crate, so S3-compatible storage slots in without touching handlers.

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, WriteMultipart};
use std::path::Path;
use std::sync::Arc;

/// Where uploaded bytes live.
#[derive(Debug, Clone)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
}

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The object store failed.
    #[error(transparent)]
    Store(#[from] object_store::Error),
    /// The upload was aborted by the caller's stream.
    #[error("upload aborted: {0}")]
    Aborted(String),
}

fn key(file_id: &str) -> ObjectPath {
    ObjectPath::from(format!("files/{file_id}"))
}

impl Blobs {
    /// Bytes under `<dir>` on the local filesystem.
    pub fn local(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let fs = LocalFileSystem::new_with_prefix(dir).map_err(std::io::Error::other)?;
        Ok(Self {
            store: Arc::new(fs),
        })
    }

    /// Any object store.
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self { store }
    }

    /// Streams `chunks` into the object for `file_id`, returning its size. The object becomes
    /// visible only when complete; on any error (including the stream's own) the partial upload
    /// is aborted and nothing is left behind.
    pub async fn put_stream<E: std::fmt::Display>(
        &self,
        file_id: &str,
        mut chunks: BoxStream<'_, Result<Bytes, E>>,
    ) -> Result<u64, (BlobError, Option<E>)> {
        let upload = self
            .store
            .put_multipart(&key(file_id))
            .await
            .map_err(|e| (BlobError::Store(e), None))?;
        let mut writer = WriteMultipart::new(upload);
        let mut size = 0u64;
        while let Some(chunk) = chunks.next().await {
            match chunk {
                Ok(bytes) => {
                    size += bytes.len() as u64;
                    if let Err(e) = writer.wait_for_capacity(4).await {
                        return Err((BlobError::Store(e), None));
                    }
                    writer.put(bytes);
                }
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err((BlobError::Aborted(e.to_string()), Some(e)));
                }
            }
        }
        writer
            .finish()
            .await
            .map_err(|e| (BlobError::Store(e), None))?;
        Ok(size)
    }

    /// The bytes of `file_id`, streamed.
    pub async fn get(
        &self,
        file_id: &str,
    ) -> Result<BoxStream<'static, Result<Bytes, object_store::Error>>, BlobError> {
        let res = self.store.get(&key(file_id)).await?;
        Ok(res.into_stream().map_err(Into::into).boxed())
    }

    /// Removes the bytes of `file_id` (absent is fine).
    pub async fn delete(&self, file_id: &str) -> Result<(), BlobError> {
        match self.store.delete(&key(file_id)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
