//! Vector stores, their files and batches, and the ingestion queue over them: counts that add
//! up, batch membership and cancel, the claim and its lease, and the cascade of a file delete.

use super::{all_asc, assert_not_found, ids, md, project_a, project_b, upload};
use assistd_core::ingest::{IngestDone, IngestPhase, MAX_ATTEMPTS};
use assistd_core::search::{IndexState, NewChunk, query_terms};
use assistd_core::vector_stores::{NewVectorStore, NewVectorStoreFile, VectorStoreOrigin};
use assistd_core::{ObjectKind, Store, StoreError};
use assistd_wire::vector_stores::{
    ChunkingStrategy, FileCounts, UpdateVectorStoreRequest, VectorStoreExpirationAfter,
    VectorStoreExpirationAnchor, VectorStoreFileErrorCode, VectorStoreFileStatus,
    VectorStoreStatus,
};
use assistd_wire::{FileId, VectorStoreId};
use std::sync::Arc;
use std::time::Duration;

#[doc(hidden)]
#[macro_export]
macro_rules! __store_contract_vector_stores {
    ($factory:ident, $module:ident) => {
        $crate::store_contract_tests!(@cases $factory, $module;
            vector_store_crud,
            store_files_count_and_dedupe,
            batch_membership_and_cancel,
            ingest_claim_lease_and_outcomes,
            file_delete_cascades_from_stores,
            other_projects_see_nothing,
            completed_files_are_searchable_by_their_chunks,
            embeddings_resume_version_and_go_with_their_file,
        );
    };
}
#[doc(hidden)]
pub use crate::__store_contract_vector_stores as cases;

const LEASE: Duration = Duration::from_secs(60);

fn new_store(name: Option<&str>, files: &[&FileId]) -> NewVectorStore {
    NewVectorStore {
        name: name.map(str::to_owned),
        description: None,
        expires_after: None,
        metadata: None,
        files: files.iter().map(|f| vs_file(f)).collect(),
        origin: VectorStoreOrigin::Api,
    }
}

fn vs_file(id: &FileId) -> NewVectorStoreFile {
    NewVectorStoreFile {
        file_id: id.clone(),
        chunking_strategy: ChunkingStrategy::default(),
        attributes: None,
    }
}

/// Ingests every queued file with the record-only outcome; returns how many.
async fn drain(store: &Arc<dyn Store>) -> usize {
    let mut n = 0;
    while let Some(job) = store
        .claim_ingest("drain", LEASE, IngestPhase::Index)
        .await
        .unwrap()
    {
        assert!(
            store
                .index_chunks(
                    &job,
                    "drain",
                    &IngestDone {
                        usage_bytes: job.bytes,
                        chunks: Vec::new(),
                    },
                    true
                )
                .await
                .unwrap()
        );
        n += 1;
    }
    n
}

/// Create, get, modify (name, expiry, metadata), list and delete; an unnamed store reads `""`.
pub async fn vector_store_crud(store: Arc<dyn Store>) {
    let p = project_a();
    let a = store
        .create_vector_store(&p, new_store(None, &[]))
        .await
        .unwrap();
    assert_eq!(a.object, "vector_store");
    assert_eq!(a.name, "");
    assert_eq!(a.status, VectorStoreStatus::Completed);
    assert_eq!(a.file_counts, FileCounts::default());
    assert_eq!(a.usage_bytes, 0);
    assert_eq!(a.expires_after, None);
    assert_eq!(a.expires_at, None);
    assert_eq!(a.last_active_at, Some(a.created_at));
    assert_eq!(store.get_vector_store(&p, &a.id).await.unwrap(), a);

    let b = store
        .create_vector_store(&p, new_store(Some("docs"), &[]))
        .await
        .unwrap();
    let after = VectorStoreExpirationAfter {
        anchor: VectorStoreExpirationAnchor::LastActiveAt,
        days: 2,
    };
    let modified = store
        .modify_vector_store(
            &p,
            &b.id,
            UpdateVectorStoreRequest {
                name: Some(Some("renamed".to_owned())),
                expires_after: Some(Some(after)),
                metadata: Some(Some(md(&[("k", "v")]))),
            },
        )
        .await
        .unwrap();
    assert_eq!(modified.name, "renamed");
    assert_eq!(modified.expires_after, Some(after));
    assert_eq!(modified.expires_at, Some(b.created_at + 2 * 86_400));
    assert_eq!(modified.metadata, Some(md(&[("k", "v")])));
    let cleared = store
        .modify_vector_store(
            &p,
            &b.id,
            UpdateVectorStoreRequest {
                name: Some(None),
                expires_after: Some(None),
                metadata: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(cleared.name, "");
    assert_eq!(cleared.expires_at, None);
    assert_eq!(cleared.metadata, Some(md(&[("k", "v")])));

    let page = store.list_vector_stores(&p, &all_asc()).await.unwrap();
    assert_eq!(
        ids(&page),
        vec![a.id.to_string(), b.id.to_string()],
        "oldest first"
    );
    store.delete_vector_store(&p, &a.id).await.unwrap();
    assert_not_found(
        store.get_vector_store(&p, &a.id).await,
        ObjectKind::VectorStore,
        &a.id,
    );
    assert_not_found(
        store.delete_vector_store(&p, &a.id).await,
        ObjectKind::VectorStore,
        &a.id,
    );
}

/// Files in a store: counted by status at every read, `usage_bytes` over completed ones, a
/// file added twice stays one entry, a missing or foreign file is refused with its `param`.
pub async fn store_files_count_and_dedupe(store: Arc<dyn Store>) {
    let p = project_a();
    let f1 = upload(&store, &p, "assistants").await;
    let f2 = upload(&store, &p, "assistants").await;
    let vs = store
        .create_vector_store(&p, new_store(Some("s"), &[&f1.id, &f2.id]))
        .await
        .unwrap();
    assert_eq!(vs.status, VectorStoreStatus::InProgress);
    assert_eq!(vs.file_counts, FileCounts::new(2, 0, 0, 0));
    let again = store
        .create_vector_store_file(&p, &vs.id, vs_file(&f1.id))
        .await
        .unwrap();
    assert_eq!(again.id, f1.id);
    assert_eq!(again.status, VectorStoreFileStatus::InProgress);
    assert_eq!(
        store
            .get_vector_store(&p, &vs.id)
            .await
            .unwrap()
            .file_counts
            .total,
        2,
        "a file added twice is there once"
    );
    assert_eq!(drain(&store).await, 2);
    let done = store.get_vector_store(&p, &vs.id).await.unwrap();
    assert_eq!(done.status, VectorStoreStatus::Completed);
    assert_eq!(done.file_counts, FileCounts::new(0, 2, 0, 0));
    assert_eq!(done.usage_bytes, f1.bytes + f2.bytes);
    let f = store
        .get_vector_store_file(&p, &vs.id, &f1.id)
        .await
        .unwrap();
    assert_eq!(f.status, VectorStoreFileStatus::Completed);
    assert_eq!(f.usage_bytes, f1.bytes);
    let listed = store
        .list_vector_store_files(
            &p,
            &vs.id,
            Some(VectorStoreFileStatus::Completed),
            &all_asc(),
        )
        .await
        .unwrap();
    assert_eq!(ids(&listed), vec![f1.id.to_string(), f2.id.to_string()]);
    assert!(
        store
            .list_vector_store_files(
                &p,
                &vs.id,
                Some(VectorStoreFileStatus::InProgress),
                &all_asc()
            )
            .await
            .unwrap()
            .data
            .is_empty()
    );

    match store
        .create_vector_store_file(&p, &vs.id, vs_file(&FileId::from("file-missing")))
        .await
    {
        Err(StoreError::InvalidReference { param, .. }) => assert_eq!(param, "file_id"),
        other => panic!("expected InvalidReference, got {other:?}"),
    }
    let foreign = upload(&store, &project_b(), "assistants").await;
    assert!(matches!(
        store
            .create_vector_store(&p, new_store(None, &[&f1.id, &foreign.id]))
            .await,
        Err(StoreError::InvalidReference { ref param, .. }) if param == "file_ids[1]"
    ));
    assert_not_found(
        store
            .create_vector_store_file(&p, &VectorStoreId::from("vs_missing"), vs_file(&f1.id))
            .await,
        ObjectKind::VectorStore,
        "vs_missing",
    );

    let attrs: assistd_wire::vector_stores::Attributes =
        serde_json::from_str(r#"{"lang":"en","n":3,"ok":true}"#).unwrap();
    let updated = store
        .update_vector_store_file_attributes(&p, &vs.id, &f2.id, Some(attrs.clone()))
        .await
        .unwrap();
    assert_eq!(updated.attributes, Some(attrs));
    store
        .delete_vector_store_file(&p, &vs.id, &f2.id)
        .await
        .unwrap();
    assert_not_found(
        store.get_vector_store_file(&p, &vs.id, &f2.id).await,
        ObjectKind::VectorStoreFile,
        &f2.id,
    );
    let after = store.get_vector_store(&p, &vs.id).await.unwrap();
    assert_eq!(after.file_counts, FileCounts::new(0, 1, 0, 0));
    assert_eq!(after.usage_bytes, f1.bytes);
    // The file itself stays.
    store.get_file(&p, &f2.id).await.unwrap();
}

/// A batch counts its own files; cancelling turns its `in_progress` files `cancelled` at once,
/// a cancelled file is never completed afterwards, and a finished batch cannot be cancelled.
pub async fn batch_membership_and_cancel(store: Arc<dyn Store>) {
    let p = project_a();
    let outside = upload(&store, &p, "assistants").await;
    let vs = store
        .create_vector_store(&p, new_store(None, &[&outside.id]))
        .await
        .unwrap();
    let f1 = upload(&store, &p, "assistants").await;
    let f2 = upload(&store, &p, "assistants").await;
    // A claim taken before the cancel must not complete the file after it.
    let claimed = store
        .claim_ingest("w1", LEASE, IngestPhase::Index)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.file_id, outside.id);
    let batch = store
        .create_vector_store_file_batch(
            &p,
            &vs.id,
            vec![
                (vs_file(&f1.id), "file_ids[0]".to_owned()),
                (vs_file(&f2.id), "file_ids[1]".to_owned()),
                (vs_file(&f2.id), "file_ids[2]".to_owned()),
            ],
        )
        .await
        .unwrap();
    assert_eq!(batch.object, "vector_store.files_batch");
    assert_eq!(batch.status, VectorStoreFileStatus::InProgress);
    assert_eq!(batch.file_counts, FileCounts::new(2, 0, 0, 0));
    let claimed_f1 = store
        .claim_ingest("w2", LEASE, IngestPhase::Index)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed_f1.file_id, f1.id);

    let cancelled = store
        .cancel_vector_store_file_batch(&p, &vs.id, &batch.id)
        .await
        .unwrap();
    assert_eq!(cancelled.status, VectorStoreFileStatus::Cancelled);
    assert_eq!(cancelled.file_counts, FileCounts::new(0, 0, 0, 2));
    assert!(
        !store
            .index_chunks(
                &claimed_f1,
                "w2",
                &IngestDone {
                    usage_bytes: 1,
                    chunks: Vec::new()
                },
                true
            )
            .await
            .unwrap(),
        "a cancelled file keeps its status"
    );
    // The store's other file is not the batch's: still in progress, then completed.
    let vs_now = store.get_vector_store(&p, &vs.id).await.unwrap();
    assert_eq!(vs_now.file_counts, FileCounts::new(1, 0, 0, 2));
    assert!(
        store
            .index_chunks(
                &claimed,
                "w1",
                &IngestDone {
                    usage_bytes: 5,
                    chunks: Vec::new()
                },
                true
            )
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .get_vector_store(&p, &vs.id)
            .await
            .unwrap()
            .file_counts,
        FileCounts::new(0, 1, 0, 2)
    );
    let files = store
        .list_vector_store_file_batch_files(
            &p,
            &vs.id,
            &batch.id,
            Some(VectorStoreFileStatus::Cancelled),
            &all_asc(),
        )
        .await
        .unwrap();
    assert_eq!(ids(&files), vec![f1.id.to_string(), f2.id.to_string()]);
    assert!(matches!(
        store
            .cancel_vector_store_file_batch(&p, &vs.id, &batch.id)
            .await,
        Err(StoreError::Invalid { .. })
    ));
    assert_not_found(
        store
            .get_vector_store_file_batch(&p, &vs.id, &assistd_wire::FileBatchId::from("vsfb_x"))
            .await,
        ObjectKind::FileBatch,
        "vsfb_x",
    );
}

/// The claim: one claimer per file, a live lease keeps others off, an expired one lets the
/// file be claimed again (and the stale owner's outcome is refused), and a file claimed too
/// often fails with `server_error`.
pub async fn ingest_claim_lease_and_outcomes(store: Arc<dyn Store>) {
    let p = project_a();
    let f1 = upload(&store, &p, "assistants").await;
    let vs = store
        .create_vector_store(&p, new_store(None, &[&f1.id]))
        .await
        .unwrap();
    let j1 = store
        .claim_ingest("a", Duration::from_millis(1), IngestPhase::Index)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(j1.attempt, 1);
    assert_eq!(j1.bytes, f1.bytes);
    assert_eq!(j1.vector_store_id, vs.id);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let j2 = store
        .claim_ingest("b", LEASE, IngestPhase::Index)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(j2.file_id, f1.id);
    assert_eq!(j2.attempt, 2);
    assert!(
        store
            .claim_ingest("c", LEASE, IngestPhase::Index)
            .await
            .unwrap()
            .is_none(),
        "a live lease keeps the file"
    );
    assert!(
        !store
            .index_chunks(
                &j1,
                "a",
                &IngestDone {
                    usage_bytes: 1,
                    chunks: Vec::new()
                },
                true
            )
            .await
            .unwrap(),
        "the stale owner's outcome is refused"
    );
    assert!(
        store
            .fail_ingest(
                &j2,
                "b",
                assistd_wire::vector_stores::VectorStoreFileError {
                    code: VectorStoreFileErrorCode::UnsupportedFile,
                    message: "no".to_owned(),
                }
            )
            .await
            .unwrap()
    );
    let f = store
        .get_vector_store_file(&p, &vs.id, &f1.id)
        .await
        .unwrap();
    assert_eq!(f.status, VectorStoreFileStatus::Failed);
    assert_eq!(
        f.last_error.map(|e| e.code),
        Some(VectorStoreFileErrorCode::UnsupportedFile)
    );

    // A file whose every claim dies is failed after MAX_ATTEMPTS.
    let f2 = upload(&store, &p, "assistants").await;
    store
        .create_vector_store_file(&p, &vs.id, vs_file(&f2.id))
        .await
        .unwrap();
    for _ in 0..MAX_ATTEMPTS {
        assert!(
            store
                .claim_ingest("dies", Duration::from_millis(1), IngestPhase::Index)
                .await
                .unwrap()
                .is_some()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        store
            .claim_ingest("next", LEASE, IngestPhase::Index)
            .await
            .unwrap()
            .is_none()
    );
    let f = store
        .get_vector_store_file(&p, &vs.id, &f2.id)
        .await
        .unwrap();
    assert_eq!(f.status, VectorStoreFileStatus::Failed);
    assert_eq!(
        f.last_error.map(|e| e.code),
        Some(VectorStoreFileErrorCode::ServerError)
    );
    let counts = store
        .get_vector_store(&p, &vs.id)
        .await
        .unwrap()
        .file_counts;
    assert_eq!(counts, FileCounts::new(0, 0, 2, 0));
}

/// Deleting a file (the Files API) removes it from every store and batch count.
pub async fn file_delete_cascades_from_stores(store: Arc<dyn Store>) {
    let p = project_a();
    let f1 = upload(&store, &p, "assistants").await;
    let f2 = upload(&store, &p, "assistants").await;
    let vs = store
        .create_vector_store(&p, new_store(None, &[&f1.id]))
        .await
        .unwrap();
    let batch = store
        .create_vector_store_file_batch(
            &p,
            &vs.id,
            vec![(vs_file(&f2.id), "file_ids[0]".to_owned())],
        )
        .await
        .unwrap();
    drain(&store).await;
    store.delete_file(&p, &f2.id).await.unwrap();
    let after = store.get_vector_store(&p, &vs.id).await.unwrap();
    assert_eq!(after.file_counts, FileCounts::new(0, 1, 0, 0));
    assert_eq!(after.usage_bytes, f1.bytes);
    let b = store
        .get_vector_store_file_batch(&p, &vs.id, &batch.id)
        .await
        .unwrap();
    assert_eq!(b.file_counts, FileCounts::default());
    // Deleting the store leaves the file.
    store.delete_vector_store(&p, &vs.id).await.unwrap();
    store.get_file(&p, &f1.id).await.unwrap();
}

/// Another project sees none of a store, its files or batches.
pub async fn other_projects_see_nothing(store: Arc<dyn Store>) {
    let (a, b) = (project_a(), project_b());
    let f = upload(&store, &a, "assistants").await;
    let vs = store
        .create_vector_store(&a, new_store(Some("mine"), &[&f.id]))
        .await
        .unwrap();
    let batch = store
        .create_vector_store_file_batch(&a, &vs.id, vec![(vs_file(&f.id), "f".to_owned())])
        .await
        .unwrap();
    assert_not_found(
        store.get_vector_store(&b, &vs.id).await,
        ObjectKind::VectorStore,
        &vs.id,
    );
    assert!(
        store
            .list_vector_stores(&b, &all_asc())
            .await
            .unwrap()
            .data
            .is_empty()
    );
    assert_not_found(
        store.get_vector_store_file(&b, &vs.id, &f.id).await,
        ObjectKind::VectorStore,
        &vs.id,
    );
    assert_not_found(
        store
            .list_vector_store_files(&b, &vs.id, None, &all_asc())
            .await,
        ObjectKind::VectorStore,
        &vs.id,
    );
    assert_not_found(
        store
            .get_vector_store_file_batch(&b, &vs.id, &batch.id)
            .await,
        ObjectKind::VectorStore,
        &vs.id,
    );
    assert_not_found(
        store
            .cancel_vector_store_file_batch(&b, &vs.id, &batch.id)
            .await,
        ObjectKind::VectorStore,
        &vs.id,
    );
    assert_not_found(
        store.delete_vector_store(&b, &vs.id).await,
        ObjectKind::VectorStore,
        &vs.id,
    );
    let bf = upload(&store, &b, "assistants").await;
    assert_not_found(
        store
            .create_vector_store_file(&b, &vs.id, vs_file(&bf.id))
            .await,
        ObjectKind::VectorStore,
        &vs.id,
    );
    store.get_vector_store(&a, &vs.id).await.unwrap();
}

/// A completed file's chunks (more than one `INSERT` holds) are found by their words, each
/// with its index and a score in [0, 1); removing the file from the store removes them.
pub async fn completed_files_are_searchable_by_their_chunks(store: Arc<dyn Store>) {
    let p = project_a();
    let f = upload(&store, &p, "assistants").await;
    let vs = store
        .create_vector_store(&p, new_store(None, &[&f.id]))
        .await
        .unwrap();
    let job = store
        .claim_ingest("w", LEASE, IngestPhase::Index)
        .await
        .unwrap()
        .unwrap();
    let n: i64 = 2_500;
    let chunks = (0..n)
        .map(|i| NewChunk {
            text: if i == 2_345 {
                "common words and one zeppelin".to_owned()
            } else {
                format!("common words number {i}")
            },
            start: i * 10,
            end: i * 10 + 10,
            tokens: 4,
        })
        .collect();
    let done = IngestDone {
        usage_bytes: 1,
        chunks,
    };
    assert!(store.index_chunks(&job, "w", &done, true).await.unwrap());
    let all = store
        .match_chunks(&p, &vs.id, &query_terms("common"), 5_000)
        .await
        .unwrap();
    assert_eq!(all.len(), 2_500);
    let mut indices: Vec<i64> = all.iter().map(|c| c.chunk_index).collect();
    indices.sort_unstable();
    assert_eq!(indices, (0..n).collect::<Vec<_>>());
    assert!(all.iter().all(|c| (0.0..1.0).contains(&c.score)));
    let rare = store
        .match_chunks(&p, &vs.id, &query_terms("Zeppelin!"), 10)
        .await
        .unwrap();
    assert_eq!(rare.len(), 1);
    assert_eq!(rare[0].chunk_index, 2_345);
    assert_eq!(rare[0].file_id, f.id);
    assert_eq!(rare[0].text, "common words and one zeppelin");
    // Another project sees nothing of it.
    assert!(
        store
            .match_chunks(&project_b(), &vs.id, &query_terms("zeppelin"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    store
        .delete_vector_store_file(&p, &vs.id, &f.id)
        .await
        .unwrap();
    assert!(
        store
            .match_chunks(&p, &vs.id, &query_terms("zeppelin"), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

fn chunk(text: &str) -> NewChunk {
    NewChunk {
        text: text.to_owned(),
        start: 0,
        end: 1,
        tokens: 1,
    }
}

/// Indexing leaves a file `in_progress` and searchable lexically; its embeddings are claimed
/// apart, written under the claim a batch at a time with a version each, resumed by the next
/// claimer when the first dies, refused from a claimer that lost the file, and kept to the
/// model that built the store. Removing a file from the store, or deleting the file, removes
/// its chunks and starts a new generation.
pub async fn embeddings_resume_version_and_go_with_their_file(store: Arc<dyn Store>) {
    let p = project_a();
    let (f, g) = (
        upload(&store, &p, "assistants").await,
        upload(&store, &p, "assistants").await,
    );
    let vs = store
        .create_vector_store(&p, new_store(None, &[&f.id]))
        .await
        .unwrap();
    let job = store
        .claim_ingest("i", LEASE, IngestPhase::Index)
        .await
        .unwrap()
        .unwrap();
    let done = IngestDone {
        usage_bytes: 30,
        chunks: vec![chunk("alpha one"), chunk("beta two"), chunk("gamma three")],
    };
    assert!(store.index_chunks(&job, "i", &done, false).await.unwrap());
    let file = store
        .get_vector_store_file(&p, &vs.id, &f.id)
        .await
        .unwrap();
    assert_eq!(file.status, VectorStoreFileStatus::InProgress);
    let found = store
        .match_chunks(&p, &vs.id, &query_terms("beta"), 10)
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "searchable lexically before its vectors");
    let state = |s: Option<IndexState>| s.expect("the store's index state");
    let before = state(store.index_state(&p, &vs.id).await.unwrap());
    assert_eq!((before.version, before.model.as_deref()), (0, None));
    assert!(
        store
            .index_state(&project_b(), &vs.id)
            .await
            .unwrap()
            .is_none()
    );

    assert!(
        store
            .claim_ingest("i2", LEASE, IngestPhase::Index)
            .await
            .unwrap()
            .is_none(),
        "an indexed file is not parsed again"
    );
    // The first embedder writes two vectors, then dies (its claim lapses).
    let e1 = store
        .claim_ingest("e1", LEASE, IngestPhase::Embed)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((e1.file_id.clone(), e1.attempt), (f.id.clone(), 1));
    let first = store.unembedded_chunks(&e1, 2).await.unwrap();
    assert_eq!(
        first.iter().map(|c| c.1.as_str()).collect::<Vec<_>>(),
        ["alpha one", "beta two"]
    );
    let vectors: Vec<(i64, Vec<f32>)> = first
        .iter()
        .map(|(seq, _)| (*seq, vec![0.6, 0.8]))
        .collect();
    assert!(
        store
            .store_embeddings(&e1, "e1", "m1", &vectors, Duration::from_millis(1))
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    let e2 = store
        .claim_ingest("e2", LEASE, IngestPhase::Embed)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e2.file_id, f.id);
    let rest = store.unembedded_chunks(&e2, 16).await.unwrap();
    assert_eq!(rest.len(), 1, "the next claim embeds only what is left");
    assert!(
        !store
            .store_embeddings(&e1, "e1", "m1", &vectors, LEASE)
            .await
            .unwrap(),
        "a claimer that lost the file writes nothing"
    );
    // Another model's vectors are not mixed into the store's.
    let last = vec![(rest[0].0, vec![1.0, 0.0])];
    assert!(
        store
            .store_embeddings(&e2, "e2", "m2", &last, LEASE)
            .await
            .unwrap()
    );
    assert_eq!(store.unembedded_chunks(&e2, 16).await.unwrap().len(), 1);
    assert!(
        store
            .store_embeddings(&e2, "e2", "m1", &last, LEASE)
            .await
            .unwrap()
    );
    let now = state(store.index_state(&p, &vs.id).await.unwrap());
    assert_eq!(now.model.as_deref(), Some("m1"));
    assert_eq!(now.generation, before.generation);
    assert!(now.version >= 2);
    let all = store.chunk_vectors(&p, &vs.id, 0, 0, 100).await.unwrap();
    assert_eq!(all.len(), 3);
    assert!(
        all.windows(2)
            .all(|w| (w[0].version, w[0].seq) < (w[1].version, w[1].seq))
    );
    assert_eq!(all[2].vector, vec![1.0, 0.0]);
    assert_eq!(all[0].vector, vec![0.6, 0.8]);
    // Paging continues after the last vector read.
    let after = store
        .chunk_vectors(&p, &vs.id, all[0].version, all[0].seq, 1)
        .await
        .unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].seq, all[1].seq);
    assert!(
        store
            .chunk_vectors(&project_b(), &vs.id, 0, 0, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.complete_ingest(&e2, "e2").await.unwrap());
    let file = store
        .get_vector_store_file(&p, &vs.id, &f.id)
        .await
        .unwrap();
    assert_eq!(file.status, VectorStoreFileStatus::Completed);
    assert_eq!(file.usage_bytes, 30);
    let seqs: Vec<i64> = all.iter().map(|c| c.seq).collect();
    let shown = store.chunks_by_seq(&p, &vs.id, &seqs).await.unwrap();
    assert_eq!(shown.len(), 3);
    assert!(shown.iter().all(|c| c.file_id == f.id && c.score == 0.0));
    assert!(
        store
            .chunks_by_seq(&project_b(), &vs.id, &seqs)
            .await
            .unwrap()
            .is_empty()
    );

    // Removing the file from the store takes its chunks and starts a new generation.
    store
        .delete_vector_store_file(&p, &vs.id, &f.id)
        .await
        .unwrap();
    let removed = state(store.index_state(&p, &vs.id).await.unwrap());
    assert!(removed.generation > now.generation);
    assert!(
        store
            .chunk_vectors(&p, &vs.id, 0, 0, 100)
            .await
            .unwrap()
            .is_empty()
    );

    // Deleting a file takes its chunks from every store.
    store
        .create_vector_store_file(&p, &vs.id, vs_file(&g.id))
        .await
        .unwrap();
    let jg = store
        .claim_ingest("i3", LEASE, IngestPhase::Index)
        .await
        .unwrap()
        .unwrap();
    let one = IngestDone {
        usage_bytes: 5,
        chunks: vec![chunk("delta four")],
    };
    assert!(store.index_chunks(&jg, "i3", &one, true).await.unwrap());
    assert_eq!(
        store
            .match_chunks(&p, &vs.id, &query_terms("delta"), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    store.delete_file(&p, &g.id).await.unwrap();
    assert!(
        store
            .match_chunks(&p, &vs.id, &query_terms("delta"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let gone = state(store.index_state(&p, &vs.id).await.unwrap());
    assert!(gone.generation > removed.generation);
}
