//! File search: the seams between ingestion (extract, chunk, embed, index) and search (lexical
//! and dense, fused), so that each side is written once and the run engine, the search endpoint
//! and the ingestion loop share them.
//!
//! - An [`Embedder`] turns texts into vectors: the built-in all-MiniLM-L6-v2 run by llama.cpp,
//!   or any OpenAI-compatible `/v1/embeddings` route.
//! - A [`Searcher`] answers a query over vector stores with hits whose scores are in `[0, 1]`,
//!   so that a `score_threshold` means the same thing for every query.

mod dense;
mod hybrid;

pub use dense::{StoreVectors, VectorCache, dot};
pub use hybrid::{HybridConfig, HybridSearcher, Ranking};

use crate::project::Project;
use assistd_wire::vector_stores::Attributes;
use assistd_wire::{FileId, VectorStoreId};
use async_trait::async_trait;

/// Why texts could not be embedded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EmbedError {
    /// Worth trying again later (a timeout, a 429 or 5xx from the route, a busy local model).
    pub retryable: bool,
    /// For the log and `last_error`; never carries a key.
    pub message: String,
}

/// An embedding model.
#[async_trait]
pub trait Embedder: Send + Sync {
    /// The model's name as a vector store records it (`all-MiniLM-L6-v2`, or the routed model's
    /// name): a store is searched densely only with the model that built it.
    fn model(&self) -> &str;
    /// The vectors of `texts`, in order, each L2-normalized (so a dot product is the cosine).
    /// A text longer than the model takes is embedded by the embedder's own documented rule.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError>;
}

/// One chunk of a file's extracted text, as ingestion produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChunk {
    /// Its text.
    pub text: String,
    /// Where it starts in the extracted text, in characters.
    pub start: i64,
    /// Where it ends (exclusive), in characters.
    pub end: i64,
    /// Its length in tokens.
    pub tokens: i64,
}

/// A query over one or more vector stores of one project.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest {
    /// The owner.
    pub project: Project,
    /// The stores searched (expired or missing ones answer nothing).
    pub vector_store_ids: Vec<VectorStoreId>,
    /// The query text.
    pub query: String,
    /// At most this many hits (1 to 50).
    pub max_results: usize,
    /// Hits scoring below this (0 to 1) are left out.
    pub score_threshold: f64,
    /// A checked `ComparisonFilter` or `CompoundFilter` over the files' attributes.
    pub filter: Option<serde_json::Value>,
}

/// One chunk found.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    /// The store it was found in.
    pub vector_store_id: VectorStoreId,
    /// The file.
    pub file_id: FileId,
    /// The file's name.
    pub filename: String,
    /// The file's attributes in that store.
    pub attributes: Option<Attributes>,
    /// The chunk's position in the file (0 for the first).
    pub chunk_index: i64,
    /// The chunk's text.
    pub text: String,
    /// The fused score, in `[0, 1]`, higher is better.
    pub score: f64,
}

/// Why a search failed (not "nothing found": that is an empty list).
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The query could not be embedded (the search may fall back to lexical only instead).
    #[error(transparent)]
    Embed(#[from] EmbedError),
}

/// Answers queries over vector stores.
#[async_trait]
pub trait Searcher: Send + Sync {
    /// The best hits for `req`, best first, at most `req.max_results`.
    async fn search(&self, req: &SearchRequest) -> Result<Vec<SearchHit>, SearchError>;
}

/// A chunk the lexical index matched, with the backend's raw relevance.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkMatch {
    /// The chunk's row: the key the dense index knows it by.
    pub seq: i64,
    /// The file.
    pub file_id: FileId,
    /// The file's name.
    pub filename: String,
    /// The file's attributes in the store.
    pub attributes: Option<Attributes>,
    /// The chunk's position in the file.
    pub chunk_index: i64,
    /// The chunk's text.
    pub text: String,
    /// Already in `[0, 1)`, saturating: `raw / (raw + k)` with the backend's own `k`, so the
    /// score of a chunk does not depend on what else the page holds (0 where the chunk was
    /// looked up by its row rather than matched).
    pub score: f64,
}

/// What a store's dense index holds now, for a cache to tell whether it is current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexState {
    /// Bumped whenever chunks are removed: a cache of another generation is rebuilt whole.
    pub generation: i64,
    /// Bumped by every batch of vectors written; chunks carry the version that embedded them.
    pub version: i64,
    /// The embedding model that built the vectors (`None`: none written yet).
    pub model: Option<String>,
}

/// One chunk's vector.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkVector {
    /// The chunk's row.
    pub seq: i64,
    /// The index version that wrote it.
    pub version: i64,
    /// L2-normalized.
    pub vector: Vec<f32>,
}

/// The chunk index of vector stores.
#[async_trait]
pub trait ChunkStore: Send + Sync {
    /// The best `limit` chunks of `in_progress` and `completed` files of `store_id` (an
    /// unexpired store of `project`; a file's chunks are searchable lexically while its vectors
    /// are still being computed) matching any of `terms` (lower-case words of letters and digits), best first.
    async fn match_chunks(
        &self,
        project: &Project,
        store_id: &VectorStoreId,
        terms: &[String],
        limit: usize,
    ) -> crate::store::StoreResult<Vec<ChunkMatch>>;

    /// The dense index's state of `store_id`; `None` when the store is missing, expired or
    /// another project's.
    async fn index_state(
        &self,
        project: &Project,
        store_id: &VectorStoreId,
    ) -> crate::store::StoreResult<Option<IndexState>>;

    /// At most `limit` vectors of `store_id` after `(after_version, after_seq)` in (version,
    /// row) order: `(v, 0)` starts after version `v`, and the last vector of a page continues
    /// it. Whatever the files' status: [`ChunkStore::chunks_by_seq`] decides what a search may
    /// show.
    async fn chunk_vectors(
        &self,
        project: &Project,
        store_id: &VectorStoreId,
        after_version: i64,
        after_seq: i64,
        limit: usize,
    ) -> crate::store::StoreResult<Vec<ChunkVector>>;

    /// Up to `limit` chunks of `file_id` in `store_id` after chunk `after_index` (-1 for the
    /// first), in order, as `(index, start, text)`: what the file's content page is made of.
    async fn file_chunks(
        &self,
        project: &Project,
        store_id: &VectorStoreId,
        file_id: &FileId,
        after_index: i64,
        limit: usize,
    ) -> crate::store::StoreResult<Vec<(i64, i64, String)>>;

    /// The chunks of `seqs` in `store_id` that a search may show (of files `in_progress` or
    /// `completed`, in an unexpired store), each with score 0, in no particular order.
    async fn chunks_by_seq(
        &self,
        project: &Project,
        store_id: &VectorStoreId,
        seqs: &[i64],
    ) -> crate::store::StoreResult<Vec<ChunkMatch>>;
}

/// English words too common to tell chunks apart (PostgreSQL's `english` configuration drops
/// the same): matching them costs a scan of most of the index for no ranking, so a query's
/// lexical terms leave them out, unless they are all it has. Sorted, for a binary search.
const STOP_WORDS: [&str; 64] = [
    "a", "about", "after", "all", "also", "an", "and", "any", "are", "as", "at", "be", "been",
    "but", "by", "can", "could", "did", "do", "does", "for", "from", "had", "has", "have", "he",
    "her", "his", "how", "i", "if", "in", "into", "is", "it", "its", "my", "no", "not", "of", "on",
    "or", "our", "she", "so", "than", "that", "the", "their", "them", "then", "there", "they",
    "this", "to", "was", "we", "were", "what", "when", "which", "who", "with", "you",
];

/// The terms a lexical search matches: [`query_terms`] without stop words (all of them when
/// the query has nothing else).
pub fn lexical_terms(query: &str) -> Vec<String> {
    let all = query_terms(query);
    let kept: Vec<String> = all
        .iter()
        .filter(|t| STOP_WORDS.binary_search(&t.as_str()).is_err())
        .cloned()
        .collect();
    if kept.is_empty() { all } else { kept }
}

/// The part of a chunk starting at character `start` that is new after text up to character
/// `covered` (chunks overlap): appended in order, the parts give back the extracted text.
pub fn new_part(covered: i64, start: i64, text: &str) -> &str {
    let skip = usize::try_from(covered.saturating_sub(start)).unwrap_or(0);
    text.char_indices()
        .nth(skip)
        .map_or("", |(at, _)| &text[at..])
}

/// Words of a query at most: a pasted page is not a query.
pub const MAX_QUERY_TERMS: usize = 64;

/// The lower-cased words (letters and digits) of `query`, each once, in order; at most
/// [`MAX_QUERY_TERMS`]. Only such words reach an index query, so punctuation never becomes
/// query syntax.
pub fn query_terms(query: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let w = w.to_lowercase();
        if !out.contains(&w) {
            out.push(w);
        }
        if out.len() == MAX_QUERY_TERMS {
            break;
        }
    }
    out
}

/// Whether a file's `attributes` pass a (checked) `ComparisonFilter` or `CompoundFilter`. A
/// comparison with a key the file lacks, or of values of different types, is false.
pub fn matches_filter(filter: &serde_json::Value, attributes: Option<&Attributes>) -> bool {
    use assistd_wire::vector_stores::AttributeValue;
    use std::cmp::Ordering;
    let kind = filter.get("type").and_then(serde_json::Value::as_str);
    if let Some(list) = filter.get("filters").and_then(serde_json::Value::as_array) {
        return match kind {
            Some("or") => list.iter().any(|f| matches_filter(f, attributes)),
            _ => list.iter().all(|f| matches_filter(f, attributes)),
        };
    }
    let Some(key) = filter.get("key").and_then(serde_json::Value::as_str) else {
        return false;
    };
    let (Some(have), Some(want)) = (attributes.and_then(|a| a.get(key)), filter.get("value"))
    else {
        return false;
    };
    let order = match (have, want) {
        (AttributeValue::String(a), serde_json::Value::String(b)) => Some(a.as_str().cmp(b)),
        (AttributeValue::Number(a), serde_json::Value::Number(b)) => a
            .as_f64()
            .zip(b.as_f64())
            .and_then(|(a, b)| a.partial_cmp(&b)),
        (AttributeValue::Bool(a), serde_json::Value::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    };
    let Some(order) = order else {
        return kind == Some("ne");
    };
    match kind {
        Some("eq") => order == Ordering::Equal,
        Some("ne") => order != Ordering::Equal,
        Some("gt") => order == Ordering::Greater,
        Some("gte") => order != Ordering::Less,
        Some("lt") => order == Ordering::Less,
        Some("lte") => order != Ordering::Greater,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use assistd_wire::vector_stores::AttributeValue;
    use serde_json::json;

    #[test]
    fn overlapping_chunks_stitch_back_into_the_text() {
        let text = "Déjà vu: the quick brown fox";
        let chars: Vec<char> = text.chars().collect();
        let piece = |a: usize, b: usize| chars[a..b].iter().collect::<String>();
        let chunks = [(0, piece(0, 12)), (6, piece(6, 20)), (15, piece(15, 28))];
        let mut out = String::new();
        let mut covered = 0;
        for (start, t) in &chunks {
            out.push_str(new_part(covered, *start, t));
            covered = covered.max(*start + i64::try_from(t.chars().count()).unwrap());
        }
        assert_eq!(out, text);
        assert_eq!(new_part(50, 0, "short"), "");
    }

    #[test]
    fn lexical_terms_leave_out_stop_words_unless_nothing_else_is_left() {
        assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]), "sorted");
        assert_eq!(
            lexical_terms("How do I open a file in the os module?"),
            ["open", "file", "os", "module"]
        );
        assert_eq!(
            lexical_terms("to be or not to be"),
            ["to", "be", "or", "not"]
        );
    }

    #[test]
    fn query_terms_are_plain_words_once() {
        assert_eq!(
            query_terms("When's the \"launch\"?? OR launch NEAR(x) -- Déjà"),
            ["when", "s", "the", "launch", "or", "near", "x", "déjà"]
        );
        assert!(query_terms("*** ()").is_empty());
        assert_eq!(query_terms(&"w ".repeat(1000)).len(), 1);
    }

    #[test]
    fn filters_compare_and_combine() {
        let attrs: Attributes = [
            ("team".to_owned(), AttributeValue::String("core".to_owned())),
            ("year".to_owned(), AttributeValue::Number(2024.into())),
            ("draft".to_owned(), AttributeValue::Bool(false)),
        ]
        .into_iter()
        .collect();
        let a = Some(&attrs);
        assert!(matches_filter(
            &json!({"type": "eq", "key": "team", "value": "core"}),
            a
        ));
        assert!(!matches_filter(
            &json!({"type": "eq", "key": "team", "value": "web"}),
            a
        ));
        assert!(matches_filter(
            &json!({"type": "gte", "key": "year", "value": 2024}),
            a
        ));
        assert!(!matches_filter(
            &json!({"type": "lt", "key": "year", "value": 2024}),
            a
        ));
        assert!(matches_filter(
            &json!({"type": "ne", "key": "draft", "value": true}),
            a
        ));
        assert!(!matches_filter(
            &json!({"type": "eq", "key": "missing", "value": 1}),
            a
        ));
        assert!(!matches_filter(
            &json!({"type": "eq", "key": "year", "value": "2024"}),
            a
        ));
        let both = json!({"type": "and", "filters": [
            {"type": "eq", "key": "team", "value": "core"},
            {"type": "or", "filters": [
                {"type": "gt", "key": "year", "value": 2030},
                {"type": "eq", "key": "draft", "value": false}
            ]}
        ]});
        assert!(matches_filter(&both, a));
        assert!(!matches_filter(&both, None));
    }
}
