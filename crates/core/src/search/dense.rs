//! The dense half of search: each vector store's vectors held in memory, brute-force cosine.
//!
//! The vectors live in the one database (so every instance sees the same index); each instance
//! keeps a copy per store and asks the database only what changed since it last looked
//! ([`IndexState`]): vectors written since are appended, and a removal (a new generation)
//! rebuilds the copy. A scan of 100,000 384-dimension vectors is ~38 M multiply-adds, a few
//! milliseconds, so no approximate index is needed at the sizes one store reaches; the copies
//! together stay under a budget, the least recently searched evicted first.

use super::{ChunkStore, ChunkVector, IndexState};
use crate::project::Project;
use crate::store::StoreResult;
use assistd_wire::VectorStoreId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::RwLock;

/// Vectors read per query while a copy loads.
const LOAD_PAGE: usize = 4096;

/// One store's vectors.
#[derive(Debug, Default)]
pub struct StoreVectors {
    generation: i64,
    /// The last vector loaded, in the store's (version, row) order.
    version: i64,
    last_seq: i64,
    model: Option<String>,
    dims: usize,
    seqs: Vec<i64>,
    data: Vec<f32>,
    by_seq: HashMap<i64, usize>,
}

impl StoreVectors {
    /// The model that built them.
    pub fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    /// How many vectors are held.
    pub fn len(&self) -> usize {
        self.seqs.len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }

    fn add(&mut self, v: &ChunkVector) {
        self.version = v.version;
        self.last_seq = v.seq;
        if self.dims == 0 {
            self.dims = v.vector.len();
        }
        // A vector of another width (a store re-embedded by another model) cannot be compared.
        if v.vector.len() != self.dims || self.dims == 0 {
            return;
        }
        if let Some(&i) = self.by_seq.get(&v.seq) {
            self.data[i * self.dims..(i + 1) * self.dims].copy_from_slice(&v.vector);
            return;
        }
        self.by_seq.insert(v.seq, self.seqs.len());
        self.seqs.push(v.seq);
        self.data.extend_from_slice(&v.vector);
    }

    /// The cosine of `query` with the chunk of row `seq`, if it has a vector.
    pub fn similarity(&self, query: &[f32], seq: i64) -> Option<f32> {
        let &i = self.by_seq.get(&seq)?;
        (query.len() == self.dims).then(|| dot(query, &self.data[i * self.dims..][..self.dims]))
    }

    /// The `k` rows most similar to `query` (L2-normalized, as the vectors are), best first.
    pub fn nearest(&self, query: &[f32], k: usize) -> Vec<(i64, f32)> {
        if query.len() != self.dims || self.dims == 0 || k == 0 {
            return Vec::new();
        }
        let mut scored: Vec<(i64, f32)> = self
            .data
            .chunks_exact(self.dims)
            .zip(&self.seqs)
            .map(|(v, &seq)| (seq, dot(query, v)))
            .collect();
        if scored.len() > k {
            scored.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
            scored.truncate(k);
        }
        scored.sort_unstable_by(|a, b| b.1.total_cmp(&a.1));
        scored
    }

    fn bytes(&self) -> usize {
        self.data.len() * 4 + self.seqs.len() * 32
    }
}

/// A dot product the compiler vectorizes: eight independent sums, since floating-point
/// addition is not reassociated on its own.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0_f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

struct Entry {
    vectors: Arc<RwLock<StoreVectors>>,
    last_used: AtomicU64,
}

/// The in-memory copies of the stores' vectors, under a byte budget.
pub struct VectorCache {
    budget_bytes: usize,
    entries: Mutex<HashMap<VectorStoreId, Arc<Entry>>>,
    tick: AtomicU64,
}

impl std::fmt::Debug for VectorCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VectorCache")
            .field("budget_bytes", &self.budget_bytes)
            .finish_non_exhaustive()
    }
}

impl VectorCache {
    /// A cache keeping at most about `budget_bytes` of vectors (a single store larger than
    /// that is still loaded to be searched, and evicted when another store is).
    pub fn new(budget_bytes: usize) -> Self {
        Self {
            budget_bytes,
            entries: Mutex::new(HashMap::new()),
            tick: AtomicU64::new(0),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<VectorStoreId, Arc<Entry>>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The current vectors of `store_id`, brought up to date with `state` (read just before).
    pub async fn current(
        &self,
        store: &dyn ChunkStore,
        project: &Project,
        store_id: &VectorStoreId,
        state: &IndexState,
    ) -> StoreResult<Arc<RwLock<StoreVectors>>> {
        let entry = {
            let mut entries = self.entries();
            entries
                .entry(store_id.clone())
                .or_insert_with(|| {
                    Arc::new(Entry {
                        vectors: Arc::new(RwLock::new(StoreVectors::default())),
                        last_used: AtomicU64::new(0),
                    })
                })
                .clone()
        };
        entry
            .last_used
            .store(self.tick.fetch_add(1, Ordering::Relaxed), Ordering::Relaxed);
        let fresh = {
            let v = entry.vectors.read().await;
            v.generation == state.generation && v.version >= state.version
        };
        if !fresh {
            // One refresher at a time; the others find it current when they get the lock.
            let mut v = entry.vectors.write().await;
            if v.generation != state.generation {
                *v = StoreVectors {
                    generation: state.generation,
                    ..StoreVectors::default()
                };
            }
            v.model.clone_from(&state.model);
            while v.version < state.version {
                let page = store
                    .chunk_vectors(project, store_id, v.version, v.last_seq, LOAD_PAGE)
                    .await?;
                let last = page.len() < LOAD_PAGE;
                for c in page {
                    v.add(&c);
                }
                if last {
                    // Vectors of a version being written now are there by the next look.
                    v.version = v.version.max(state.version);
                    break;
                }
            }
            drop(v);
            self.evict(store_id);
        }
        Ok(entry.vectors.clone())
    }

    /// Drops the least recently used copies other than `keep` while over budget.
    fn evict(&self, keep: &VectorStoreId) {
        let mut entries = self.entries();
        loop {
            let sizes: Vec<(VectorStoreId, usize, u64)> = entries
                .iter()
                .filter_map(|(id, e)| {
                    // A copy being refreshed or searched is left alone this time.
                    let bytes = e.vectors.try_read().ok()?.bytes();
                    Some((id.clone(), bytes, e.last_used.load(Ordering::Relaxed)))
                })
                .collect();
            if sizes.iter().map(|s| s.1).sum::<usize>() <= self.budget_bytes {
                return;
            }
            let Some(oldest) = sizes
                .iter()
                .filter(|s| &s.0 != keep)
                .min_by_key(|s| s.2)
                .map(|s| s.0.clone())
            else {
                return;
            };
            entries.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn nearest_ranks_by_cosine_and_skips_other_widths() {
        let mut s = StoreVectors::default();
        for (seq, v) in [
            (1, unit(&[1.0, 0.0, 0.0])),
            (2, unit(&[1.0, 1.0, 0.0])),
            (3, unit(&[0.0, 0.0, 1.0])),
            (4, unit(&[1.0, 0.0])),
        ] {
            s.add(&ChunkVector {
                seq,
                version: seq,
                vector: v,
            });
        }
        assert_eq!(s.len(), 3, "the 2-wide vector is not held");
        let q = unit(&[1.0, 0.2, 0.0]);
        let top = s.nearest(&q, 2);
        assert_eq!(top.iter().map(|t| t.0).collect::<Vec<_>>(), [1, 2]);
        assert!(top[0].1 > top[1].1);
        assert!((s.similarity(&q, 3).unwrap_or(1.0)).abs() < 1e-6);
        assert_eq!(s.similarity(&q, 9), None);
        assert!(
            s.nearest(&[1.0, 0.0], 2).is_empty(),
            "a query of another width"
        );
    }

    #[test]
    fn dot_matches_the_plain_sum_at_every_length() {
        for n in [0, 1, 7, 8, 9, 384] {
            #[expect(clippy::cast_precision_loss, reason = "small test values")]
            let a: Vec<f32> = (0..n).map(|i| (i as f32).sin()).collect();
            #[expect(clippy::cast_precision_loss, reason = "small test values")]
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.3).cos()).collect();
            let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - plain).abs() < 1e-4, "n = {n}");
        }
    }
}
