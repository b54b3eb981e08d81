//! File bytes, kept in an object store through the `object_store` crate: a directory on the
//! local filesystem by default, or an S3 bucket (AWS or any S3-compatible server) when
//! `file_storage_url` names one. Handlers only ever see [`Blobs`].

use crate::config::Settings;
use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, PutPayload, RetryConfig, WriteMultipart};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Where uploaded bytes live.
#[derive(Clone)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
    /// The same store when it is a local directory, to make each file private once written
    /// (`object_store` creates files as the umask says).
    local: Option<Arc<LocalFileSystem>>,
    /// Where the bytes are, for logs: never credentials nor option values.
    location: String,
}

impl fmt::Debug for Blobs {
    // By hand: a store's own `Debug` shows its whole configuration, and which of its fields
    // are redacted is up to the `object_store` crate.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Blobs")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
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
    /// A stored file could not be made private.
    #[error("cannot make the stored file private: {0}")]
    Private(std::io::Error),
}

fn key(file_id: &str) -> ObjectPath {
    ObjectPath::from(format!("files/{file_id}"))
}

impl Blobs {
    /// The store `settings` name: `<data_dir>/files` without `file_storage_url`, else the
    /// location the URL names (`s3://bucket/prefix`, `file:///path`). A bucket is checked
    /// usable before this returns, so a wrong endpoint, a missing bucket or bad credentials
    /// stop start-up instead of failing the first upload.
    pub async fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let Some(url) = settings.file_storage_url.as_deref() else {
            let dir = settings.data_dir.join("files");
            return Self::local(&dir)
                .with_context(|| format!("cannot create the file directory {}", dir.display()));
        };
        match StorageUrl::parse(url, &settings.file_storage_options)? {
            StorageUrl::Local(dir) => Self::local(&dir).with_context(|| {
                format!(
                    "file_storage_url: cannot use the directory {}",
                    dir.display()
                )
            }),
            StorageUrl::S3(s3) => {
                let store = s3.build(s3.builder.clone())?;
                // Few, quick retries: at start-up a clear error now beats minutes of backoff
                // against an endpoint that is simply wrong.
                let probe = s3.build(s3.builder.clone().with_retry(RetryConfig {
                    max_retries: 2,
                    retry_timeout: Duration::from_secs(10),
                    ..RetryConfig::default()
                }))?;
                check_usable(probe.as_ref(), &s3.location).await?;
                tracing::info!(location = %s3.location, "file bytes in object storage");
                Ok(Self {
                    store,
                    local: None,
                    location: s3.location,
                })
            }
        }
    }

    /// Bytes under `<dir>` on the local filesystem.
    pub fn local(dir: &Path) -> std::io::Result<Self> {
        crate::private::create_dir(dir)?;
        let fs = Arc::new(LocalFileSystem::new_with_prefix(dir).map_err(std::io::Error::other)?);
        Ok(Self {
            store: fs.clone(),
            local: Some(fs),
            location: dir.display().to_string(),
        })
    }

    /// Any object store.
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        let location = store.to_string();
        Self {
            store,
            local: None,
            location,
        }
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
        if let Some(fs) = &self.local {
            // Inside the private data directory the short window before this is harmless.
            let path = fs
                .path_to_filesystem(&key(file_id))
                .map_err(|e| (BlobError::Store(e), None))?;
            crate::private::restrict_file(&path).map_err(|e| (BlobError::Private(e), None))?;
        }
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

/// What `file_storage_url` names.
enum StorageUrl {
    /// `file:///path`: a directory.
    Local(PathBuf),
    /// `s3://bucket/prefix` (or `s3a://`).
    S3(Box<S3Location>),
}

/// A bucket, the key prefix inside it and how to reach it.
struct S3Location {
    /// The URL and options applied over the `AWS_*` environment.
    builder: AmazonS3Builder,
    /// Keys live under this (the URL's path); empty for the bucket's root.
    prefix: ObjectPath,
    /// `s3://bucket/prefix`, safe to show.
    location: String,
}

impl S3Location {
    fn build(&self, builder: AmazonS3Builder) -> anyhow::Result<Arc<dyn ObjectStore>> {
        let s3: AmazonS3 = builder
            .build()
            .map_err(|e| anyhow!("file_storage_url {}: {e}", self.location))?;
        Ok(if self.prefix.as_ref().is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(PrefixStore::new(s3, self.prefix.clone()))
        })
    }
}

impl StorageUrl {
    /// Checks `url` and `options` without touching the network. Errors name the setting at
    /// fault and never echo an option's value, which may be a secret.
    fn parse(url: &str, options: &BTreeMap<String, String>) -> anyhow::Result<Self> {
        // The URL itself is not echoed either: it could carry a password.
        let parsed = url::Url::parse(url).map_err(|e| {
            anyhow!(
                "file_storage_url is not a valid URL ({e}); expected s3://bucket/prefix or \
                 file:///path"
            )
        })?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            bail!(
                "file_storage_url must not contain credentials: set AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY in the environment instead"
            );
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            bail!(
                "file_storage_url must not have a query or fragment: options go in \
                 [file_storage_options]"
            );
        }
        match parsed.scheme() {
            "s3" | "s3a" => {
                let bucket = parsed.host_str().unwrap_or_default();
                if bucket.is_empty() {
                    bail!("file_storage_url names no bucket: expected s3://bucket/prefix");
                }
                let prefix = ObjectPath::from_url_path(parsed.path())
                    .map_err(|e| anyhow!("file_storage_url has an invalid key prefix: {e}"))?;
                let mut builder = AmazonS3Builder::from_env();
                for (key, value) in options {
                    let key: AmazonS3ConfigKey = key.parse().map_err(|_| {
                        anyhow!(
                            "file_storage_options: unknown option '{key}' for s3:// storage \
                             (known: endpoint, region, allow_http, access_key_id, \
                             secret_access_key, session_token, ...)"
                        )
                    })?;
                    builder = builder.with_config(key, value.as_str());
                }
                // After the options and the environment, so the URL's bucket wins.
                let builder = builder.with_bucket_name(bucket);
                let location = if prefix.as_ref().is_empty() {
                    format!("s3://{bucket}")
                } else {
                    format!("s3://{bucket}/{prefix}")
                };
                Ok(Self::S3(Box::new(S3Location {
                    builder,
                    prefix,
                    location,
                })))
            }
            "file" => {
                if !options.is_empty() {
                    bail!("file_storage_options has no meaning for a file:// file_storage_url");
                }
                let dir = parsed.to_file_path().map_err(|()| {
                    anyhow!("file_storage_url: a file:// URL needs an absolute local path")
                })?;
                Ok(Self::Local(dir))
            }
            other => bail!(
                "file_storage_url: unsupported scheme '{other}': use s3://bucket/prefix (AWS S3 \
                 or an S3-compatible server, whose address goes in [file_storage_options] as \
                 `endpoint`) or file:///path"
            ),
        }
    }
}

/// Writes and deletes a small object under the prefix: exactly what uploads and deletions
/// need, where a listing would demand `s3:ListBucket`, which the server never uses otherwise.
async fn check_usable(store: &dyn ObjectStore, location: &str) -> anyhow::Result<()> {
    let key = ObjectPath::from(format!("startup-probe/{}", uuid::Uuid::new_v4()));
    let hint = |e: &object_store::Error| match e {
        object_store::Error::NotFound { .. } => {
            "the bucket does not exist, or the endpoint is not an S3 server"
        }
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => {
            "access denied: check the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) \
             and that they may write and delete objects under the prefix"
        }
        _ => "check file_storage_options (endpoint, region, allow_http) and the credentials",
    };
    store
        .put(&key, PutPayload::from_static(b"assistd start-up probe"))
        .await
        .map_err(|e| {
            anyhow!(
                "file_storage_url {location} is not usable: writing a probe object failed ({}): {e}",
                hint(&e)
            )
        })?;
    store.delete(&key).await.map_err(|e| {
        anyhow!(
            "file_storage_url {location} is not usable: deleting a probe object failed ({}): {e}",
            hint(&e)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(url: &str, options: &[(&str, &str)]) -> String {
        let options = options
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        match StorageUrl::parse(url, &options) {
            Ok(_) => panic!("{url} should be refused"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn s3_url_keeps_its_path_as_the_key_prefix() {
        let options = BTreeMap::from([
            ("endpoint".to_owned(), "http://127.0.0.1:9".to_owned()),
            ("allow_http".to_owned(), "true".to_owned()),
        ]);
        let Ok(StorageUrl::S3(s3)) = StorageUrl::parse("s3://bucket/some/prefix/", &options) else {
            panic!("an s3 URL is an S3 location");
        };
        assert_eq!(s3.prefix.as_ref(), "some/prefix");
        assert_eq!(s3.location, "s3://bucket/some/prefix");
        assert_eq!(
            s3.builder
                .get_config_value(&AmazonS3ConfigKey::Bucket)
                .as_deref(),
            Some("bucket")
        );
        let Ok(StorageUrl::S3(root)) = StorageUrl::parse("s3a://bucket", &BTreeMap::new()) else {
            panic!("an s3a URL is an S3 location");
        };
        assert!(root.prefix.as_ref().is_empty());
        assert_eq!(root.location, "s3://bucket");
    }

    #[test]
    fn file_url_is_a_directory() {
        let Ok(StorageUrl::Local(dir)) = StorageUrl::parse("file:///var/lib/x", &BTreeMap::new())
        else {
            panic!("a file URL is a directory");
        };
        assert_eq!(dir, PathBuf::from("/var/lib/x"));
        let e = parse_err("file:///var/lib/x", &[("endpoint", "http://x")]);
        assert!(e.contains("no meaning"), "{e}");
    }

    #[test]
    fn bad_s3_urls_and_options_are_refused_clearly() {
        let e = parse_err("not a url", &[]);
        assert!(e.contains("file_storage_url is not a valid URL"), "{e}");
        let e = parse_err("gs://bucket/prefix", &[]);
        assert!(e.contains("unsupported scheme 'gs'"), "{e}");
        let e = parse_err("s3:///prefix", &[]);
        assert!(e.contains("names no bucket"), "{e}");
        let e = parse_err("s3://bucket/a//b", &[]);
        assert!(e.contains("invalid key prefix"), "{e}");
        let e = parse_err("s3://bucket/p?region=x", &[]);
        assert!(e.contains("[file_storage_options]"), "{e}");
        let e = parse_err("s3://AKID:hunter2@bucket/p", &[]);
        assert!(e.contains("must not contain credentials"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        let e = parse_err("s3://bucket/p", &[("endpont", "top-secret-value")]);
        assert!(e.contains("unknown option 'endpont'"), "{e}");
        assert!(!e.contains("top-secret-value"), "{e}");
    }

    #[test]
    fn debug_shows_the_location_only() {
        let options = BTreeMap::from([
            ("access_key_id".to_owned(), "AKIDEXAMPLE".to_owned()),
            ("secret_access_key".to_owned(), "very-secret-key".to_owned()),
            ("allow_http".to_owned(), "true".to_owned()),
        ]);
        let Ok(StorageUrl::S3(s3)) = StorageUrl::parse("s3://bucket/p", &options) else {
            panic!("an s3 URL is an S3 location");
        };
        let blobs = Blobs {
            store: s3.build(s3.builder.clone()).expect("builds offline"),
            local: None,
            location: s3.location.clone(),
        };
        let shown = format!("{blobs:?}");
        assert_eq!(shown, "Blobs { location: \"s3://bucket/p\", .. }");
    }
}
