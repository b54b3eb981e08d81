//! Dense and fused search over HTTP, with the embeddings of an OpenAI-compatible route (the fake
//! upstream's bag-of-words vectors, so every score can be computed here): ingestion embeds each
//! chunk through the route, the search embeds the query, dense scores are the cosine, the fused
//! score mixes them with the lexical one, and the vectors an instance holds follow files added
//! and removed.

use crate::common::{TestApp, id_of};
use crate::file_search_runs::{ingested, upload};
use assistd_core::search::Ranking;
use assistd_test_support::upstream::{FakeUpstream, fake_embedding};
use serde_json::{Value, json};

const EMBEDDING_MODEL: &str = "fake-embed";

async fn app(up: &FakeUpstream, mode: Ranking) -> TestApp {
    let url = up.url.clone();
    TestApp::builder()
        .with(move |s| {
            s.upstream_url = Some(url);
            s.embeddings.enabled = Some(true);
            EMBEDDING_MODEL.clone_into(&mut s.embeddings.model);
            s.embeddings.batch = 2;
            s.search.mode = mode;
        })
        .spawn()
        .await
}

fn cosine(a: &str, b: &str) -> f64 {
    let (x, y) = (fake_embedding(a), fake_embedding(b));
    f64::from(x.iter().zip(&y).map(|(p, q)| p * q).sum::<f32>()).max(0.0)
}

async fn search(app: &TestApp, vs: &str, query: &str) -> Vec<Value> {
    app.v2()
        .post(
            &format!("/vector_stores/{vs}/search"),
            json!({"query": query, "max_num_results": 50}),
        )
        .await
        .ok()["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn text_of(hit: &Value) -> &str {
    hit["content"][0]["text"].as_str().unwrap_or_default()
}

const DOCS: [(&str, &str); 3] = [
    ("ships.txt", "ships sail the harbour at dawn"),
    ("trains.txt", "trains leave the station at noon"),
    ("birds.txt", "gulls circle the harbour ships"),
];

async fn store_of_docs(app: &TestApp) -> String {
    let mut ids = Vec::new();
    for (name, text) in DOCS {
        ids.push(upload(app, name, text).await);
    }
    let vs = id_of(
        &app.v2()
            .post("/vector_stores", json!({"file_ids": ids}))
            .await
            .ok(),
    );
    ingested(app, &vs, 3).await;
    vs
}

#[tokio::test]
async fn chunks_are_embedded_through_the_route_and_ranked_by_cosine() {
    let up = FakeUpstream::start().await;
    let app = app(&up, Ranking::Dense).await;
    let vs = store_of_docs(&app).await;

    let asked = up.embedding_requests();
    assert!(
        asked.iter().all(|r| r["model"] == EMBEDDING_MODEL),
        "{asked:?}"
    );
    let embedded: Vec<&str> = asked
        .iter()
        .flat_map(|r| r["input"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .collect();
    for (_, text) in DOCS {
        assert!(
            embedded.contains(&text),
            "{text} was not embedded: {embedded:?}"
        );
    }
    assert!(
        asked
            .iter()
            .all(|r| r["input"].as_array().map_or(0, Vec::len) <= 2),
        "batches are as configured"
    );

    let query = "harbour ships";
    let hits = search(&app, &vs, query).await;
    assert_eq!(hits.len(), 3, "{hits:?}");
    for h in &hits {
        let want = cosine(query, text_of(h));
        let got = h["score"].as_f64().unwrap_or(-1.0);
        assert!((got - want).abs() < 1e-5, "{h}: score {got}, cosine {want}");
    }
    assert!(
        hits.windows(2)
            .all(|w| w[0]["score"].as_f64() >= w[1]["score"].as_f64())
    );
    // The query went through the route too.
    assert!(
        up.embedding_requests()
            .iter()
            .any(|r| r["input"] == json!([query])),
        "the query was not embedded"
    );
}

#[tokio::test]
async fn fused_scores_mix_both_halves_and_follow_files_added_and_removed() {
    let up = FakeUpstream::start().await;
    let hybrid = app(&up, Ranking::Hybrid).await;
    let vs = store_of_docs(&hybrid).await;
    // A word of one file only (BM25 gives a word in most files of a tiny store no weight).
    let query = "dawn";
    let hits = search(&hybrid, &vs, query).await;
    // Every chunk has a cosine (the fake vectors' words collide); only those holding the word
    // have a lexical score, which lifts them above half their cosine.
    assert_eq!(hits.len(), 3, "{hits:?}");
    for h in &hits {
        let score = h["score"].as_f64().unwrap_or(-1.0);
        let dense = cosine(query, text_of(h));
        if text_of(h).contains(query) {
            assert!(
                score > 0.5 * dense + 0.01 && score < 0.5 * dense + 0.5,
                "half the cosine and half the lexical relevance: {h}, cosine {dense}"
            );
        } else {
            assert!(
                (score - 0.5 * dense).abs() < 1e-5,
                "half the cosine alone: {h}, cosine {dense}"
            );
        }
    }
    // Searched once (the vectors are now held in memory), then a file is added: it is found.
    let later = upload(&hybrid, "boats.txt", "boats moor at dawn").await;
    hybrid
        .v2()
        .post(
            &format!("/vector_stores/{vs}/files"),
            json!({"file_id": later}),
        )
        .await
        .ok();
    ingested(&hybrid, &vs, 4).await;
    let hits = search(&hybrid, &vs, query).await;
    assert!(hits.iter().any(|h| h["file_id"] == later), "{hits:?}");

    // A file removed from the store is gone from both halves at once.
    hybrid
        .v2()
        .delete(&format!("/vector_stores/{vs}/files/{later}"))
        .await
        .ok();
    let hits = search(&hybrid, &vs, query).await;
    assert!(hits.iter().all(|h| h["file_id"] != later), "{hits:?}");
    assert_eq!(hits.len(), 3);

    // The store remembers the model that built it.
    assert_eq!(
        hybrid.embedding_model_of(&vs).await.as_deref(),
        Some(EMBEDDING_MODEL)
    );
}
