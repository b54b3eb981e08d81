//! The built-in embedding model with the real weights: token ids and vectors against a reference
//! (an independent fp32 BERT, `tests/data/golden-minilm.json`), the rule for long texts, and
//! queries served ahead of batches. The file comes from `ASSISTD_TEST_EMBEDDING_MODEL`, else it
//! is fetched and converted into `target/test-data/models`, as the chat model's tests do.

#![cfg(feature = "llama")]

use assistd_core::search::Embedder;
use assistd_local_model::{EmbedderConfig, LocalEmbedder};
use assistd_test_support::models::built_in_embedding_model as embedding_model;
use std::time::{Duration, Instant};

async fn embedder(workers: usize) -> LocalEmbedder {
    let path = embedding_model().await;
    tokio::task::spawn_blocking(move || {
        LocalEmbedder::load(EmbedderConfig {
            path,
            workers,
            threads: 1,
        })
    })
    .await
    .unwrap()
    .expect("the embedding model loads")
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f32]) -> f32 {
    dot(a, a).sqrt()
}

#[derive(serde::Deserialize)]
struct Golden {
    items: Vec<GoldenItem>,
}

#[derive(serde::Deserialize)]
struct GoldenItem {
    text: String,
    token_ids: Vec<i32>,
    embedding_l2: Vec<f32>,
}

#[tokio::test]
async fn matches_the_reference_model() {
    let golden: Golden =
        serde_json::from_str(include_str!("data/golden-minilm.json")).expect("golden JSON");
    let e = embedder(1).await;
    assert_eq!(e.model(), "all-MiniLM-L6-v2");
    assert_eq!(e.dimensions(), 384);
    let texts: Vec<String> = golden.items.iter().map(|i| i.text.clone()).collect();
    let vectors = e.embed(&texts).await.unwrap();
    assert_eq!(vectors.len(), golden.items.len());
    for (item, v) in golden.items.iter().zip(&vectors) {
        assert_eq!(e.tokens(&item.text), item.token_ids, "{}", item.text);
        assert_eq!(v.len(), 384);
        assert!((norm(v) - 1.0).abs() < 1e-4, "normalized");
        let cosine = dot(v, &item.embedding_l2) / norm(&item.embedding_l2);
        assert!(cosine > 0.9999, "{}: cosine {cosine}", item.text);
    }
    // A single text (the query path) gives the same vector.
    let one = e.embed(&texts[..1]).await.unwrap();
    assert!(dot(&one[0], &vectors[0]) > 0.999_99);
}

/// Prose of about `words` words, varied enough to tokenize like a document.
fn prose(words: usize) -> String {
    const WORDS: &[&str] = &[
        "the",
        "assistant",
        "retrieves",
        "relevant",
        "passages",
        "from",
        "uploaded",
        "files",
        "before",
        "answering",
        "questions",
        "about",
        "quarterly",
        "revenue",
        "forecasts",
        "and",
        "engineering",
        "roadmaps",
        "while",
        "vector",
        "stores",
        "keep",
        "chunks",
        "indexed",
        "with",
        "overlapping",
        "windows",
        "of",
        "tokens",
        "so",
        "that",
        "citations",
        "point",
        "to",
        "exact",
        "sentences",
        "in",
        "each",
        "document",
        "users",
        "upload",
        "contracts",
        "manuals",
        "spreadsheets",
        "presentations",
        "meeting",
        "notes",
    ];
    let mut out = String::new();
    for i in 0..words {
        // A fixed, irregular walk through the list; a period every 17 words.
        out.push_str(WORDS[(i * 7 + i / 3) % WORDS.len()]);
        out.push_str(if i % 17 == 16 { ". " } else { " " });
    }
    out
}

/// Prose whose tokenization is as close to `tokens` as whole words allow, from below.
fn prose_of_tokens(e: &LocalEmbedder, tokens: usize) -> String {
    let mut words = tokens;
    while e.tokens(&prose(words)).len() > tokens {
        words -= 1;
    }
    prose(words)
}

#[tokio::test]
async fn long_texts_are_windowed_and_empty_texts_embed() {
    let e = embedder(1).await;
    let long = prose_of_tokens(&e, 1000);
    let n = e.tokens(&long).len();
    assert!(n > 900 && n <= 1000, "{n}");
    let texts = vec![long.clone(), String::new(), "a".repeat(200_000)];
    let v = e.embed(&texts).await.unwrap();
    for x in &v {
        assert_eq!(x.len(), 384);
        assert!((norm(x) - 1.0).abs() < 1e-4);
    }
    // The whole text counts: the vector is close to, but not, its first window's.
    let head = prose_of_tokens(&e, 256);
    let first = e.embed(&[head]).await.unwrap();
    let c = dot(&v[0], &first[0]);
    assert!(c > 0.8 && c < 0.999_9, "cosine with the first window {c}");
    // An empty text is [CLS] [SEP].
    assert_eq!(e.tokens(""), [101, 102]);
    // A huge text is cut (to 64 KiB) rather than taking unbounded time.
    assert!(e.tokens(&texts[2]).len() < 70_000);
}

#[tokio::test]
async fn a_query_is_served_before_a_queued_batch() {
    let e = std::sync::Arc::new(embedder(1).await);
    let batch: Vec<String> = (0..40).map(|i| format!("{} {i}", prose(150))).collect();
    let ingest = {
        let e = e.clone();
        tokio::spawn(async move { e.embed(&batch).await })
    };
    // Let the worker start on the batch.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t = Instant::now();
    let q = e
        .embed(&["where are the roadmaps?".to_owned()])
        .await
        .unwrap();
    let waited = t.elapsed();
    assert_eq!(q[0].len(), 384);
    assert!(
        !ingest.is_finished(),
        "the query did not wait for the batch"
    );
    assert!(waited < Duration::from_secs(2), "query took {waited:?}");
    assert_eq!(ingest.await.unwrap().unwrap().len(), 40);

    // A batch whose caller went away is skipped, not computed: the next call is answered at
    // once.
    let many: Vec<String> = (0..200).map(|i| format!("{} {i}", prose(150))).collect();
    let dropped = tokio::time::timeout(Duration::from_millis(300), e.embed(&many)).await;
    assert!(dropped.is_err(), "200 texts take longer than that");
    let t = Instant::now();
    let two = e
        .embed(&["one".to_owned(), "two".to_owned()])
        .await
        .unwrap();
    assert_eq!(two.len(), 2);
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}

/// Throughput of one worker of one thread (`cargo test --release -p assistd-local-model --test
/// embedder -- --ignored --nocapture`).
#[tokio::test]
#[ignore = "a measurement: run it on purpose, in release"]
async fn measure_throughput() {
    let e = embedder(1).await;
    for (label, tokens, count) in [
        ("256-token", 256, 60),
        ("~1,000-wordpiece (~800 cl100k)", 1000, 20),
    ] {
        let text = prose_of_tokens(&e, tokens);
        let n = e.tokens(&text).len();
        let texts: Vec<String> = (0..count).map(|i| format!("{i} {text}")).collect();
        let t = Instant::now();
        e.embed(&texts).await.unwrap();
        let secs = t.elapsed().as_secs_f64();
        println!(
            "{label} texts ({n} tokens): {count} in {secs:.2} s = {:.2} chunks/s",
            f64::from(count) / secs
        );
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if let Some(line) = status.lines().find(|l| l.starts_with("VmHWM")) {
        println!("peak RSS: {line}");
    }
}
