//! File search ingestion without storage: [`extract`] takes a file's text out of its bytes, and
//! [`chunk`] cuts that text into windows of `cl100k_base` tokens with overlap, as OpenAI's
//! `static` chunking strategy does, each with character offsets back into the text.
//!
//! Nothing here touches the database, the server or the executor: the ingestion loop calls
//! these (on a blocking thread: both are CPU-bound) and stores what they return.

mod chunk;
mod extract;
mod office;

pub use chunk::{SNAP_TOKENS, Tokenized, chunk, count_tokens};
pub use extract::{
    ExtractError, ExtractErrorKind, Extracted, Format, Limits, MAX_FILE_TOKENS, extract,
    extract_with,
};
