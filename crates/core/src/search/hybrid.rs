//! The searcher: lexical and dense candidates of each store, fused into one score in `[0, 1]`.
//!
//! Lexical relevance comes from the database's full-text index, already saturated into
//! `[0, 1)` by the backend; dense relevance is the cosine of the query's and the chunk's
//! vectors, clamped at 0. The fused score is their weighted sum, `w·dense + (1 − w)·lexical`:
//! both halves are scores of the chunk alone, not ranks within a page, so a `score_threshold`
//! means the same for every query. A chunk only the dense half found is scored with a lexical 0
//! (it shares no word with the query); one only the lexical half found gets its exact cosine,
//! since every vector of the store is at hand. A store whose vectors are missing or were built
//! by another model, or a query the embedder fails on, is searched lexically alone rather than
//! not at all.

use super::dense::VectorCache;
use super::{
    ChunkMatch, ChunkStore, Embedder, SearchError, SearchHit, SearchRequest, Searcher,
    lexical_terms, matches_filter,
};
use assistd_wire::VectorStoreId;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// Which halves a search uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ranking {
    /// The full-text index only.
    Lexical,
    /// Vectors only (lexical where a store has none).
    Dense,
    /// Both, fused.
    #[default]
    Hybrid,
}

/// Candidates read from each half per store before filters and the threshold apply.
const CANDIDATES: usize = 200;

/// How a [`HybridSearcher`] ranks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HybridConfig {
    /// Which halves are used.
    pub ranking: Ranking,
    /// `w` of the fused score, in `[0, 1]`.
    pub dense_weight: f64,
    /// Memory for the stores' vectors, in bytes.
    pub cache_bytes: usize,
}

/// Searches the one database's chunk index, lexically and (with an embedder) densely.
pub struct HybridSearcher {
    store: Arc<dyn ChunkStore>,
    embedder: Option<Arc<dyn Embedder>>,
    config: HybridConfig,
    cache: VectorCache,
}

impl HybridSearcher {
    /// A searcher over `store`; without `embedder` it is lexical whatever `config` says.
    pub fn new(
        store: Arc<dyn ChunkStore>,
        embedder: Option<Arc<dyn Embedder>>,
        config: HybridConfig,
    ) -> Self {
        let config = HybridConfig {
            ranking: if embedder.is_some() {
                config.ranking
            } else {
                Ranking::Lexical
            },
            dense_weight: config.dense_weight.clamp(0.0, 1.0),
            ..config
        };
        Self {
            cache: VectorCache::new(config.cache_bytes),
            store,
            embedder,
            config,
        }
    }

    /// How it ranks (after falling back to lexical without an embedder).
    pub fn config(&self) -> HybridConfig {
        self.config
    }

    /// The query's vector, or `None` when the search goes without one.
    async fn query_vector(&self, query: &str) -> Result<Option<Vec<f32>>, SearchError> {
        let Some(embedder) = self.embedder.as_ref() else {
            return Ok(None);
        };
        if self.config.ranking == Ranking::Lexical {
            return Ok(None);
        }
        match embedder.embed(&[query.to_owned()]).await {
            Ok(mut v) if v.len() == 1 => Ok(v.pop()),
            Ok(_) => {
                tracing::warn!("the embedder answered a query with no vector: lexical only");
                Ok(None)
            }
            Err(e) if self.config.ranking == Ranking::Dense => Err(e.into()),
            Err(e) => {
                tracing::warn!(error = %e, "embedding a query failed: lexical only");
                Ok(None)
            }
        }
    }

    /// The best hits of one store (at most `req.max_results`, filtered and thresholded).
    async fn search_store(
        &self,
        req: &SearchRequest,
        id: &VectorStoreId,
        terms: &[String],
        query: Option<&[f32]>,
    ) -> Result<Vec<SearchHit>, SearchError> {
        let mut scored = self.candidates(req, id, terms, query).await?;
        scored.retain(|(score, _)| *score >= req.score_threshold);
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        self.page(req, id, scored).await
    }

    /// Every candidate of one store with its score, in no order. The two halves are asked at
    /// once.
    async fn candidates(
        &self,
        req: &SearchRequest,
        id: &VectorStoreId,
        terms: &[String],
        query: Option<&[f32]>,
    ) -> Result<Vec<(f64, Candidate)>, SearchError> {
        let dense_only = self.config.ranking == Ranking::Dense;
        let lexical = async {
            if dense_only || terms.is_empty() {
                return Ok(Vec::new());
            }
            self.store
                .match_chunks(&req.project, id, terms, CANDIDATES)
                .await
        };
        let dense = async {
            match (query, self.embedder.as_ref()) {
                (Some(q), Some(embedder)) => self.nearest(req, id, q, embedder.model()).await,
                _ => Ok(None),
            }
        };
        let (lexical, dense) = tokio::join!(lexical, dense);
        let (lexical, dense) = (lexical?, dense?);
        if let (Some((vectors, nearest)), Some(q)) = (dense, query) {
            return Ok(self.fuse(lexical, &vectors, q, nearest));
        }
        // No vectors to rank by: the words are all there is, even when asked for dense.
        let lexical = if dense_only && !terms.is_empty() {
            self.store
                .match_chunks(&req.project, id, terms, CANDIDATES)
                .await?
        } else {
            lexical
        };
        Ok(lexical
            .into_iter()
            .map(|c| (c.score, Candidate::Read(c)))
            .collect())
    }

    /// Both halves' candidates scored as one: the lexical ones with their exact cosine, the
    /// dense-only ones with a lexical 0.
    fn fuse(
        &self,
        lexical: Vec<ChunkMatch>,
        vectors: &Vectors,
        query: &[f32],
        nearest: Vec<(i64, f32)>,
    ) -> Vec<(f64, Candidate)> {
        let dense_only = self.config.ranking == Ranking::Dense;
        let w = self.config.dense_weight;
        let score = |lex: f64, cos: Option<f32>| match cos {
            Some(c) if dense_only => f64::from(c.max(0.0)),
            Some(c) => w * f64::from(c.max(0.0)) + (1.0 - w) * lex,
            // Not embedded yet: its lexical score stands alone until it is.
            None => lex,
        };
        let mut scored = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for c in lexical {
            seen.insert(c.seq);
            scored.push((
                score(c.score, vectors.similarity(query, c.seq)),
                Candidate::Read(c),
            ));
        }
        for (seq, cos) in nearest {
            if !seen.contains(&seq) {
                scored.push((score(0.0, Some(cos)), Candidate::Unread(seq)));
            }
        }
        scored
    }

    /// The first `req.max_results` of `scored` (best first) that pass the filter. Chunks only
    /// the dense half found are read from the database in score order, only as many as the
    /// page needs.
    async fn page(
        &self,
        req: &SearchRequest,
        id: &VectorStoreId,
        scored: Vec<(f64, Candidate)>,
    ) -> Result<Vec<SearchHit>, SearchError> {
        let mut rest = scored.into_iter().peekable();
        let mut hits = Vec::new();
        while hits.len() < req.max_results && rest.peek().is_some() {
            // With a filter some candidates drop out: read a few more than still needed.
            let want = (req.max_results - hits.len()) * if req.filter.is_some() { 4 } else { 1 };
            let batch: Vec<(f64, Candidate)> = rest.by_ref().take(want).collect();
            let unread: Vec<i64> = batch
                .iter()
                .filter_map(|(_, c)| match c {
                    Candidate::Unread(seq) => Some(*seq),
                    Candidate::Read(_) => None,
                })
                .collect();
            let mut read: HashMap<i64, ChunkMatch> = self
                .store
                .chunks_by_seq(&req.project, id, &unread)
                .await?
                .into_iter()
                .map(|c| (c.seq, c))
                .collect();
            for (score, c) in batch {
                // A row not read back belongs to a file no search may show (failed, cancelled).
                let Some(c) = (match c {
                    Candidate::Read(c) => Some(c),
                    Candidate::Unread(seq) => read.remove(&seq),
                }) else {
                    continue;
                };
                if req
                    .filter
                    .as_ref()
                    .is_some_and(|f| !matches_filter(f, c.attributes.as_ref()))
                {
                    continue;
                }
                hits.push(SearchHit {
                    vector_store_id: id.clone(),
                    file_id: c.file_id,
                    filename: c.filename,
                    attributes: c.attributes,
                    chunk_index: c.chunk_index,
                    text: c.text,
                    score,
                });
            }
        }
        hits.truncate(req.max_results);
        Ok(hits)
    }

    /// The store's vectors (for exact cosines) and its nearest rows to `query`; `None` when
    /// the store has no vectors of `model`.
    async fn nearest(
        &self,
        req: &SearchRequest,
        id: &VectorStoreId,
        query: &[f32],
        model: &str,
    ) -> Result<Option<(Vectors, Vec<(i64, f32)>)>, SearchError> {
        let Some(state) = self.store.index_state(&req.project, id).await? else {
            return Ok(None);
        };
        if state.model.as_deref() != Some(model) {
            return Ok(None);
        }
        let vectors = self
            .cache
            .current(&*self.store, &req.project, id, &state)
            .await?
            .read_owned()
            .await;
        if vectors.is_empty() {
            return Ok(None);
        }
        let query = query.to_vec();
        // A scan of a large store is milliseconds of CPU: off the async threads.
        let scanned = tokio::task::spawn_blocking(move || {
            let nearest = vectors.nearest(&query, CANDIDATES);
            (vectors, nearest)
        })
        .await;
        match scanned {
            Ok(s) => Ok(Some(s)),
            Err(e) => {
                tracing::error!(error = %e, "scoring vectors failed: lexical only");
                Ok(None)
            }
        }
    }
}

/// A store's vectors, held for reading while a search scores them.
type Vectors = tokio::sync::OwnedRwLockReadGuard<super::dense::StoreVectors>;

/// A candidate of a store, before the page is cut.
enum Candidate {
    /// Found by the lexical half, with its text.
    Read(ChunkMatch),
    /// Found by the dense half only: its row, read when the page needs it.
    Unread(i64),
}

#[async_trait]
impl Searcher for HybridSearcher {
    async fn search(&self, req: &SearchRequest) -> Result<Vec<SearchHit>, SearchError> {
        let terms = lexical_terms(&req.query);
        let query = self.query_vector(&req.query).await?;
        if terms.is_empty() && query.is_none() {
            return Ok(Vec::new());
        }
        let mut hits = Vec::new();
        for id in &req.vector_store_ids {
            hits.extend(self.search_store(req, id, &terms, query.as_deref()).await?);
        }
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        hits.truncate(req.max_results);
        Ok(hits)
    }
}
