//! `assistd-bench search`: `file_search` at scale, each figure next to a floor measured in the
//! same run (not part of `all`: building the index takes minutes).
//!
//! 1. Search latency: a store of `--search-chunks` chunks (static chunking, 100 tokens, no
//!    overlap) on the server's SQLite, embedded through the bench's fake `/embeddings` route
//!    (deterministic 384-dimension vectors, so no model's cost hides the server's). Then
//!    `--searches` sequential searches of 2–5 words, in each mode (`hybrid`, the default, then
//!    the same data restarted as `lexical` and `dense`). Floors, in process on the same
//!    database file: the FTS5 `MATCH` the lexical half runs, the embedding route's round trip,
//!    and a brute-force cosine scan of the same vectors.
//! 2. Memory while ingesting: a `--large-upload-mb` text file (refused by the ingester past
//!    64 MiB of text or 5 M tokens) and a `--ingest-upload-mb` one that fits, each on a fresh
//!    server whose RSS is sampled every 100 ms from the upload's start to the file's final
//!    status.
//! 3. With `--embedding-model <gguf>`: ingestion throughput of the built-in embedder (one
//!    worker, one thread) against llama.cpp's `llama-bench` on the same GGUF file.
//!
//! The text is synthetic: English function words at the top of a Zipf-distributed vocabulary
//! of a few thousand made-up words, so BM25 sees realistic term statistics. Uploads are
//! generated as they are sent, so the bench never holds a large file in memory.

use crate::client::Conn;
use crate::report::quantile;
use crate::rng::Rng;
use crate::server::{Server, rss_of};
use anyhow::Context;
use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use std::cell::Cell;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The search scenario's settings.
#[derive(clap::Args, Debug, Clone)]
pub struct SearchArgs {
    /// Chunks in the searched store.
    #[arg(long, default_value_t = 100_000)]
    pub search_chunks: usize,
    /// Files the searched store's text is uploaded as.
    #[arg(long, default_value_t = 20)]
    pub search_files: usize,
    /// Searches per mode, one after another.
    #[arg(long, default_value_t = 500)]
    pub searches: usize,
    /// Size of the upload too large to ingest, MB.
    #[arg(long, default_value_t = 200)]
    pub large_upload_mb: usize,
    /// Size of the upload that is ingested whole, MB (under 64 MiB and 5 M tokens).
    #[arg(long, default_value_t = 19)]
    pub ingest_upload_mb: usize,
    /// The built-in embedding model's GGUF file: also measures ingestion with it, against
    /// `--llama-bench` on the same file.
    #[arg(long)]
    pub embedding_model: Option<PathBuf>,
    /// Chunks (default `auto` chunking, 800 tokens) embedded by the built-in model.
    #[arg(long, default_value_t = 200)]
    pub embed_chunks: usize,
}

impl SearchArgs {
    /// The tiny configuration of `--smoke`.
    pub fn shrink_for_smoke(&mut self) {
        self.search_chunks = self.search_chunks.min(2_000);
        self.search_files = self.search_files.min(4);
        self.searches = self.searches.min(20);
        self.large_upload_mb = self.large_upload_mb.min(3);
        self.ingest_upload_mb = self.ingest_upload_mb.min(1);
        self.embed_chunks = self.embed_chunks.min(10);
    }
}

const MB: usize = 1 << 20;
const BOUNDARY: &str = "assistd-bench-7d1f0c";
/// What the searched store is chunked into: the smallest chunks the API accepts, so the
/// store reaches its size with the least text.
const SEARCH_CHUNKING: &str =
    r#"{"type":"static","static":{"max_chunk_size_tokens":100,"chunk_overlap_tokens":0}}"#;

// ---------------------------------------------------------------------------------------------
// Text

/// The most frequent words of the synthetic vocabulary: English's own function words, so the
/// top of the distribution looks like real text.
const FUNCTION_WORDS: [&str; 40] = [
    "the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with", "be",
    "by", "on", "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have",
    "an", "had", "they", "you", "were", "their", "one", "all", "we", "can", "her", "has", "there",
];

/// Syllables of the made-up words (consonant + vowel: never an English word of four letters
/// or more, so they do not collide with the function words).
const SYLLABLES: [&str; 32] = [
    "ka", "lo", "mi", "ne", "ru", "ta", "po", "si", "de", "fa", "gu", "ho", "ji", "be", "vo", "ze",
    "ra", "le", "mo", "ni", "su", "te", "pa", "go", "di", "fe", "hu", "ki", "ba", "no", "ri", "sa",
];

/// Common English words that are one token for cl100k and one wordpiece for BERT's uncased
/// vocabulary alike, for the built-in embedder's text: its tokens per chunk then equal the
/// chunk's stored (cl100k) token count, and the two sides of its floor count the same tokens.
const ENGLISH: &str = "\
    the of and to in is that for it was with on time year people way day man thing woman \
    life child world school state family student group country problem hand part place case \
    week company system program question work government number night point home water room \
    mother area money story fact month lot right study book eye job word business issue \
    side kind head house service friend father power hour game line end member law car city \
    community name team minute idea body information back parent face level office door \
    health person art war history party result change morning";

/// Words with Zipf-distributed frequencies.
pub struct Vocab {
    words: Vec<String>,
    /// Cumulative probability of ranks `0..=i`.
    cumulative: Vec<f64>,
}

impl Vocab {
    /// `size` words (the function words first), the word of rank r drawn with probability
    /// proportional to 1 / (r + 1).
    fn synthetic(size: usize) -> Self {
        let mut words: Vec<String> = FUNCTION_WORDS.iter().map(|w| (*w).to_owned()).collect();
        let n = SYLLABLES.len();
        let mut i = 0usize;
        while words.len() < size {
            // Two syllables for the first n², then three: shorter words are the commoner.
            let (len, mut j) = if i < n * n { (2, i) } else { (3, i - n * n) };
            let mut w = String::with_capacity(2 * len);
            for _ in 0..len {
                w.push_str(SYLLABLES[j % n]);
                j /= n;
            }
            words.push(w);
            i += 1;
        }
        Self::zipf(words)
    }

    /// The [`ENGLISH`] words, uniformly drawn.
    fn english() -> Self {
        let words: Vec<String> = ENGLISH.split_whitespace().map(str::to_owned).collect();
        let cumulative = (1..=words.len()).map(|i| ratio(i, words.len())).collect();
        Self { words, cumulative }
    }

    #[expect(clippy::cast_precision_loss, reason = "ranks are a few thousand")]
    fn zipf(words: Vec<String>) -> Self {
        let weights: Vec<f64> = (0..words.len()).map(|r| 1.0 / (r as f64 + 1.0)).collect();
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let cumulative = weights
            .iter()
            .map(|w| {
                acc += w / total;
                acc
            })
            .collect();
        Self { words, cumulative }
    }

    fn draw(&self, rng: &mut Rng) -> &str {
        let u = rng.unit();
        let i = self.cumulative.partition_point(|&c| c < u);
        &self.words[i.min(self.words.len() - 1)]
    }

    /// A query of 2–5 words drawn uniformly from the whole vocabulary (so mostly mid- and
    /// low-frequency words, as a person's query; sometimes a function word, as in real ones).
    fn query(&self, rng: &mut Rng) -> String {
        let n = 2 + rng.below(4);
        (0..n)
            .map(|_| self.words[rng.below(self.words.len())].as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[expect(clippy::cast_precision_loss, reason = "counts far below 2^52")]
fn ratio(a: usize, b: usize) -> f64 {
    a as f64 / b as f64
}

/// Sentences of 6–18 words, paragraphs of 3–7 sentences.
struct TextGen {
    vocab: Arc<Vocab>,
    rng: Rng,
}

impl TextGen {
    fn new(vocab: Arc<Vocab>, seed: u64) -> Self {
        Self {
            vocab,
            rng: Rng(seed),
        }
    }

    /// Appends whole paragraphs to `out` until it holds at least `bytes` bytes.
    fn fill(&mut self, out: &mut String, bytes: usize) {
        while out.len() < bytes {
            for _ in 0..3 + self.rng.below(5) {
                let words = 6 + self.rng.below(13);
                for k in 0..words {
                    let w = self.vocab.draw(&mut self.rng);
                    if k == 0 {
                        let mut c = w.chars();
                        if let Some(first) = c.next() {
                            out.extend(first.to_uppercase());
                            out.push_str(c.as_str());
                        }
                    } else {
                        out.push(' ');
                        out.push_str(w);
                    }
                }
                out.push_str(". ");
            }
            out.push_str("\n\n");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP

/// A keep-alive connection to the API.
struct Api {
    addr: String,
    conn: Conn,
}

impl Api {
    async fn open(addr: &str) -> anyhow::Result<Self> {
        Ok(Self {
            addr: addr.to_owned(),
            conn: Conn::open(addr).await?,
        })
    }

    /// Sends a request; returns the status and the body.
    async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> anyhow::Result<(u16, Bytes)> {
        if self.conn.raw().ready().await.is_err() {
            self.conn = Conn::open(&self.addr).await?;
        }
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.addr)
            .header("authorization", "Bearer sk-bench")
            .header("openai-beta", "assistants=v2");
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        let res = self.conn.raw().send_request(req).await?;
        let status = res.status().as_u16();
        Ok((status, res.into_body().collect().await?.to_bytes()))
    }

    /// Sends a request that must succeed; returns its JSON answer.
    async fn json(
        &mut self,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> anyhow::Result<serde_json::Value> {
        let (status, bytes) = self.send(method, path, body).await?;
        anyhow::ensure!(
            (200..300).contains(&status),
            "{path} answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
        Ok(serde_json::from_slice(&bytes)?)
    }
}

/// Uploads `bytes` bytes of `vocab`'s text as `filename` (`purpose=assistants`), generated
/// while it is sent; returns the file's id.
async fn upload(
    addr: &str,
    filename: &str,
    bytes: usize,
    vocab: Arc<Vocab>,
    seed: u64,
) -> anyhow::Result<String> {
    const PIECE: usize = 256 * 1024;
    let head = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nassistants\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: text/plain\r\n\r\n"
    );
    let tail = format!("\r\n--{BOUNDARY}--\r\n");
    let length = head.len() + bytes + tail.len();
    let text = futures::stream::unfold(
        (TextGen::new(vocab, seed), bytes),
        |(mut g, left)| async move {
            if left == 0 {
                return None;
            }
            let n = left.min(PIECE);
            let mut piece = String::with_capacity(n + 1024);
            g.fill(&mut piece, n);
            // ASCII only: any byte is a character boundary.
            piece.truncate(n);
            Some((Bytes::from(piece), (g, left - n)))
        },
    );
    let body = futures::stream::iter([Bytes::from(head)])
        .chain(text)
        .chain(futures::stream::iter([Bytes::from(tail)]))
        .map(|b| Ok::<_, std::io::Error>(Frame::data(b)))
        .boxed();
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::task::spawn_local(async move {
        let _ = conn.await;
    });
    let req = Request::builder()
        .method(Method::POST)
        .uri("/v1/files")
        .header("host", addr)
        .header("authorization", "Bearer sk-bench")
        .header("openai-beta", "assistants=v2")
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .header("content-length", length)
        .body(StreamBody::new(body))?;
    let res = sender.send_request(req).await?;
    let status = res.status().as_u16();
    let answer = res.into_body().collect().await?.to_bytes();
    anyhow::ensure!(
        status == 200,
        "upload answered {status}: {}",
        String::from_utf8_lossy(&answer)
    );
    let v: serde_json::Value = serde_json::from_slice(&answer)?;
    v["id"]
        .as_str()
        .map(str::to_owned)
        .context("the upload's answer has no id")
}

/// Creates a store of `files` (chunked as `chunking`, or the default); returns its id.
async fn create_store(
    api: &mut Api,
    files: &[String],
    chunking: Option<&str>,
) -> anyhow::Result<String> {
    let mut body = serde_json::json!({ "file_ids": files });
    if let Some(c) = chunking {
        body["chunking_strategy"] = serde_json::from_str(c)?;
    }
    let v = api
        .json(Method::POST, "/v1/vector_stores", Some(body.to_string()))
        .await?;
    v["id"]
        .as_str()
        .map(str::to_owned)
        .context("the store's answer has no id")
}

/// How long an ingestion may take before the bench gives up on it (every step of the bench
/// ends by itself).
const INGEST_LIMIT: Duration = Duration::from_secs(3600);

/// Polls the store until none of its files is in progress; returns its `file_counts`.
async fn wait_store(api: &mut Api, store: &str) -> anyhow::Result<serde_json::Value> {
    let started = Instant::now();
    loop {
        anyhow::ensure!(
            started.elapsed() < INGEST_LIMIT,
            "store {store} still ingesting after {INGEST_LIMIT:?}"
        );
        let v = api
            .json(Method::GET, &format!("/v1/vector_stores/{store}"), None)
            .await?;
        let counts = &v["file_counts"];
        if counts["in_progress"].as_u64() == Some(0) {
            return Ok(counts.clone());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls one file of a store until its status is final; returns the file object.
async fn wait_file(api: &mut Api, store: &str, file: &str) -> anyhow::Result<serde_json::Value> {
    let started = Instant::now();
    loop {
        anyhow::ensure!(
            started.elapsed() < INGEST_LIMIT,
            "file {file} still ingesting after {INGEST_LIMIT:?}"
        );
        let v = api
            .json(
                Method::GET,
                &format!("/v1/vector_stores/{store}/files/{file}"),
                None,
            )
            .await?;
        if v["status"].as_str() != Some("in_progress") {
            return Ok(v);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The table

/// One line of the table; `None` shows as a dash.
#[derive(Default)]
struct Line {
    name: String,
    count: usize,
    errors: usize,
    per_sec: Option<f64>,
    /// p50, p95, p99, max.
    latency: Option<[Duration; 4]>,
    rss: Option<u64>,
    peak_rss: Option<u64>,
    note: String,
}

impl Line {
    fn latencies(name: &str, mut v: Vec<Duration>, errors: usize, note: String) -> Self {
        v.sort_unstable();
        let total: Duration = v.iter().sum();
        Self {
            name: name.to_owned(),
            count: v.len(),
            errors,
            per_sec: (!total.is_zero()).then(|| ratio(v.len(), 1) / total.as_secs_f64()),
            latency: Some([
                quantile(&v, 0.50),
                quantile(&v, 0.95),
                quantile(&v, 0.99),
                v.last().copied().unwrap_or_default(),
            ]),
            note,
            ..Self::default()
        }
    }
}

#[expect(
    clippy::cast_precision_loss,
    reason = "a byte count shown with one decimal in megabytes"
)]
fn mb(b: u64) -> String {
    format!("{:.1}", b as f64 / (1024.0 * 1024.0))
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn table(lines: &[Line]) -> String {
    let mut out = String::from(
        "| measurement | count | errors | per s | p50 ms | p95 ms | p99 ms | max ms | RSS MB | peak RSS MB | setup |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    let dash = || "—".to_owned();
    for l in lines {
        let [p50, p95, p99, max] = l
            .latency
            .map_or_else(|| [dash(), dash(), dash(), dash()], |q| q.map(ms));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {p50} | {p95} | {p99} | {max} | {} | {} | {} |",
            l.name,
            l.count,
            l.errors,
            l.per_sec.map_or_else(dash, |r| format!("{r:.1}")),
            l.rss.map_or_else(dash, mb),
            l.peak_rss.map_or_else(dash, mb),
            l.note
        );
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The database, read directly

async fn open_db(data_dir: &Path) -> anyhow::Result<sqlx::SqlitePool> {
    let path = data_dir.join("assistd.db");
    let opts = SqliteConnectOptions::new().filename(&path).read_only(true);
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await
        .with_context(|| format!("opening {}", path.display()))
}

/// `(chunks, chunks with a vector, tokens)` of a store.
async fn chunk_counts(db: &sqlx::SqlitePool, store: &str) -> anyhow::Result<(i64, i64, i64)> {
    Ok(sqlx::query_as(
        "SELECT count(*), count(embedding), coalesce(sum(tokens), 0) FROM vector_store_chunks \
         WHERE vector_store_id = ?",
    )
    .bind(store)
    .fetch_one(db)
    .await?)
}

/// The FTS5 query the server's lexical half runs for `query`: its words, quoted, OR-ed.
fn fts_query(query: &str) -> String {
    query
        .split_whitespace()
        .map(|w| format!("\"{w}\""))
        .collect::<Vec<_>>()
        .join(" OR ")
}

// ---------------------------------------------------------------------------------------------
// The scenario

fn config(embed_base_url: &str, mode: &str) -> String {
    format!(
        "[embeddings]\nenabled = true\nmodel = \"bench-embed\"\nbatch = 256\n\n[search]\nmode = \"{mode}\"\n\n[[models]]\nmatch = \"bench-embed\"\nbase_url = \"{embed_base_url}\"\n"
    )
}

/// Runs the three parts and prints the table.
pub async fn run(
    assistd_bin: Option<PathBuf>,
    s: &SearchArgs,
    llama_bench: Option<&Path>,
) -> anyhow::Result<()> {
    let embed_url = crate::upstream::start(crate::upstream::UpstreamConfig {
        latency: Duration::ZERO,
        tokens: 1,
        tokens_per_sec: 0.0,
    })?;
    let vocab = Arc::new(Vocab::synthetic(4_000));
    let mut lines = Vec::new();
    search_latency(assistd_bin.clone(), s, &embed_url, &vocab, &mut lines).await?;
    // The made-up words cost cl100k about three bytes a token; English words about five, as
    // real text does, so the file that must fit 5 M tokens is English.
    let english = Arc::new(Vocab::english());
    for (mb_size, label) in [
        (s.large_upload_mb, "ingest one large upload"),
        (s.ingest_upload_mb, "ingest one upload that fits"),
    ] {
        lines.push(ingest_rss(assistd_bin.clone(), &embed_url, &english, mb_size, label).await?);
    }
    // A failure here still prints what the other parts measured, then fails the run.
    let builtin = if let Some(gguf) = &s.embedding_model {
        builtin_embedder(assistd_bin, gguf, s.embed_chunks, llama_bench, &mut lines).await
    } else {
        println!("no --embedding-model: the built-in embedder's throughput is skipped");
        Ok(())
    };
    println!();
    println!("{}", crate::report::machine_line());
    println!("{}", table(&lines));
    builtin?;
    let errors: usize = lines.iter().map(|l| l.errors).sum();
    anyhow::ensure!(errors == 0, "{errors} requests failed");
    Ok(())
}

/// Part 1: builds the store, searches it in each mode, and measures the floors.
async fn search_latency(
    assistd_bin: Option<PathBuf>,
    s: &SearchArgs,
    embed_url: &str,
    vocab: &Arc<Vocab>,
    lines: &mut Vec<Line>,
) -> anyhow::Result<()> {
    let mut server = Server::start(assistd_bin, &config(embed_url, "hybrid"), None).await?;
    let mut api = Api::open(&server.addr).await?;
    let (db, file_bytes) = file_bytes_per_search_file(&server, &mut api, s, vocab).await?;
    let (store, chunks) =
        ingest_searched_store(&server, &mut api, &db, s, vocab, file_bytes, lines).await?;

    let mut rng = Rng(42);
    let queries: Vec<String> = (0..s.searches).map(|_| vocab.query(&mut rng)).collect();
    for mode in ["hybrid", "lexical", "dense"] {
        if mode != "hybrid" {
            server = server.restart(&config(embed_url, mode)).await?;
            api = Api::open(&server.addr).await?;
        }
        lines.push(search_in_mode(&server, &mut api, &store, chunks, mode, &queries).await?);
    }
    server.stop().await;

    lines.push(floor_fts(&db, &store, &queries).await?);
    lines.push(floor_embedding_route(embed_url, &queries).await?);
    lines.push(floor_cosine_scan(&db, &store, &queries).await?);
    db.close().await;
    Ok(())
}

/// How large each of the `--search-files` files must be for the store to reach
/// `--search-chunks`, and the server's database opened for reading. It is found by putting one
/// small file through the same chunking (then deleted, so it is not in the index searched).
async fn file_bytes_per_search_file(
    server: &Server,
    api: &mut Api,
    s: &SearchArgs,
    vocab: &Arc<Vocab>,
) -> anyhow::Result<(sqlx::SqlitePool, usize)> {
    let sample_bytes = if s.search_chunks < 10_000 {
        100_000
    } else {
        MB
    };
    let sample = upload(&server.addr, "sample.txt", sample_bytes, vocab.clone(), 1).await?;
    let sample_store = create_store(api, &[sample], Some(SEARCH_CHUNKING)).await?;
    wait_store(api, &sample_store).await?;
    let db = open_db(&server.data_dir()).await?;
    let (sample_chunks, _, _) = chunk_counts(&db, &sample_store).await?;
    anyhow::ensure!(sample_chunks > 0, "the sample file made no chunks");
    api.json(
        Method::DELETE,
        &format!("/v1/vector_stores/{sample_store}"),
        None,
    )
    .await?;
    let bytes_per_chunk = ratio(sample_bytes, usize::try_from(sample_chunks)?);
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a positive file size of a few megabytes"
    )]
    let file_bytes = (bytes_per_chunk * ratio(s.search_chunks, s.search_files)).ceil() as usize;
    Ok((db, file_bytes))
}

/// Uploads the searched store's files and waits for the store to be ingested; adds its line
/// and returns the store's id and chunk count.
async fn ingest_searched_store(
    server: &Server,
    api: &mut Api,
    db: &sqlx::SqlitePool,
    s: &SearchArgs,
    vocab: &Arc<Vocab>,
    file_bytes: usize,
    lines: &mut Vec<Line>,
) -> anyhow::Result<(String, i64)> {
    let started = Instant::now();
    let mut files = Vec::new();
    for i in 0..s.search_files {
        let seed = 100 + u64::try_from(i)?;
        files.push(
            upload(
                &server.addr,
                &format!("doc-{i}.txt"),
                file_bytes,
                vocab.clone(),
                seed,
            )
            .await?,
        );
    }
    let uploaded = started.elapsed();
    let store = create_store(api, &files, Some(SEARCH_CHUNKING)).await?;
    let counts = wait_store(api, &store).await?;
    let ingested = started.elapsed().saturating_sub(uploaded);
    let (chunks, embedded, _) = chunk_counts(db, &store).await?;
    let failed = counts["failed"].as_u64().unwrap_or(0) + counts["cancelled"].as_u64().unwrap_or(0);
    let (rss, peak) = server.rss();
    lines.push(Line {
        name: "ingest the searched store (fake embedder)".to_owned(),
        count: usize::try_from(chunks)?,
        errors: usize::try_from(failed)?,
        per_sec: Some(ratio(usize::try_from(chunks)?, 1) / ingested.as_secs_f64()),
        rss: Some(rss),
        peak_rss: Some(peak),
        note: format!(
            "{} files of {:.1} MB, static 100/0 chunking, {embedded} chunks embedded (384 dims, batch 256); upload {:.1} s, then {:.1} s to completed; per s = chunks/s",
            s.search_files,
            ratio(file_bytes, MB),
            uploaded.as_secs_f64(),
            ingested.as_secs_f64()
        ),
        ..Line::default()
    });
    Ok((store, chunks))
}

/// `queries` searched one after another on a server started in `mode`.
async fn search_in_mode(
    server: &Server,
    api: &mut Api,
    store: &str,
    chunks: i64,
    mode: &str,
    queries: &[String],
) -> anyhow::Result<Line> {
    let path = format!("/v1/vector_stores/{store}/search");
    let search = |q: &str| serde_json::json!({"query": q, "max_num_results": 10}).to_string();
    // The first search after a start loads the store's vectors (dense and hybrid modes).
    let t = Instant::now();
    let (status, _) = api
        .send(Method::POST, &path, Some(search("warm up the cache")))
        .await?;
    let first = t.elapsed();
    anyhow::ensure!(status == 200, "search answered {status}");
    let (mut times, mut errors, mut hits) = (Vec::new(), 0, 0usize);
    for q in queries {
        let t = Instant::now();
        let (status, body) = api.send(Method::POST, &path, Some(search(q))).await?;
        let dt = t.elapsed();
        if status == 200 {
            times.push(dt);
            let v: serde_json::Value = serde_json::from_slice(&body)?;
            hits += v["data"].as_array().map_or(0, Vec::len);
        } else {
            errors += 1;
        }
    }
    let (rss, peak) = server.rss();
    let mut line = Line::latencies(
        &format!("search, {mode}"),
        times,
        errors,
        format!(
            "{} chunks, 2–5 word queries, max_num_results 10, sequential; {:.1} results/search; first search after start {:.0} ms",
            chunks,
            ratio(hits, queries.len()),
            first.as_secs_f64() * 1000.0
        ),
    );
    line.rss = Some(rss);
    line.peak_rss = Some(peak);
    Ok(line)
}

/// Floor 1: the FTS5 query of the lexical half, alone, on the same file.
async fn floor_fts(db: &sqlx::SqlitePool, store: &str, queries: &[String]) -> anyhow::Result<Line> {
    let mut times = Vec::new();
    for q in queries {
        let t = Instant::now();
        let rows: Vec<(i64, f64)> = sqlx::query_as(
            "SELECT c.seq, -bm25(vector_store_chunks_fts) AS raw FROM vector_store_chunks_fts \
             JOIN vector_store_chunks c ON c.seq = vector_store_chunks_fts.rowid \
             WHERE vector_store_chunks_fts MATCH ? AND c.vector_store_id = ? \
             ORDER BY raw DESC LIMIT 10",
        )
        .bind(fts_query(q))
        .bind(store)
        .fetch_all(db)
        .await?;
        times.push(t.elapsed());
        std::hint::black_box(rows);
    }
    Ok(Line::latencies(
        "floor: FTS5 MATCH + bm25, in process",
        times,
        0,
        "the same queries' words OR-ed, top 10 of the store, sqlx on the server's database file (no HTTP, no JSON, no dense half)".to_owned(),
    ))
}

/// Floor 2: the query's embedding, from the fake route directly.
async fn floor_embedding_route(embed_url: &str, queries: &[String]) -> anyhow::Result<Line> {
    let embed_addr = embed_url
        .trim_start_matches("http://")
        .trim_end_matches("/v1")
        .to_owned();
    let mut direct = Api::open(&embed_addr).await?;
    let mut times = Vec::new();
    let mut errors = 0;
    for q in queries {
        let body = serde_json::json!({"model": "bench-embed", "input": [q]}).to_string();
        let t = Instant::now();
        let (status, _) = direct
            .send(Method::POST, "/v1/embeddings", Some(body))
            .await?;
        if status == 200 {
            times.push(t.elapsed());
        } else {
            errors += 1;
        }
    }
    Ok(Line::latencies(
        "floor: fake /embeddings round trip",
        times,
        errors,
        "one query embedded by the route the server calls, over a keep-alive connection".to_owned(),
    ))
}

/// Floor 3: a brute-force cosine scan of the same vectors, in process.
async fn floor_cosine_scan(
    db: &sqlx::SqlitePool,
    store: &str,
    queries: &[String],
) -> anyhow::Result<Line> {
    let blobs: Vec<(Vec<u8>,)> = sqlx::query_as(
        "SELECT embedding FROM vector_store_chunks WHERE vector_store_id = ? AND embedding IS NOT NULL",
    )
    .bind(store)
    .fetch_all(db)
    .await?;
    let dims = crate::upstream::EMBEDDING_DIMS;
    let mut data: Vec<f32> = Vec::with_capacity(blobs.len() * dims);
    for (b,) in &blobs {
        anyhow::ensure!(b.len() == dims * 4, "a stored vector is {} bytes", b.len());
        data.extend(
            b.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        );
    }
    drop(blobs);
    let mut times = Vec::new();
    let mut scores = vec![0.0_f32; data.len() / dims];
    for q in queries {
        let t = Instant::now();
        let v = crate::upstream::embedding(q);
        for (s, row) in scores.iter_mut().zip(data.chunks_exact(dims)) {
            // The server's own dot product, so that the floor differs only in what surrounds it.
            *s = assistd_core::search::dot(row, &v);
        }
        let mut idx: Vec<usize> = (0..scores.len()).collect();
        let k = 10.min(idx.len());
        if k > 0 {
            idx.select_nth_unstable_by(k - 1, |&a, &b| scores[b].total_cmp(&scores[a]));
        }
        std::hint::black_box(&idx[..k]);
        times.push(t.elapsed());
    }
    Ok(Line::latencies(
        "floor: brute-force cosine scan, in process",
        times,
        0,
        format!(
            "{} vectors × {dims} dims, one thread, top 10 (what the dense half computes, without storage or HTTP)",
            data.len() / dims
        ),
    ))
}

/// Part 2: one upload of `mb_size` MB into a store on a fresh server, its RSS sampled every
/// 100 ms from the upload's start to the file's final status.
async fn ingest_rss(
    assistd_bin: Option<PathBuf>,
    embed_url: &str,
    vocab: &Arc<Vocab>,
    mb_size: usize,
    label: &str,
) -> anyhow::Result<Line> {
    let server = Server::start(assistd_bin, &config(embed_url, "hybrid"), None).await?;
    let pid = server.pid().context("the server exited")?;
    let peak = Rc::new(Cell::new(0u64));
    let stop = Rc::new(Cell::new(false));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        tokio::task::spawn_local(async move {
            while !stop.get() {
                peak.set(peak.get().max(rss_of(pid).0));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let started = Instant::now();
    let file = upload(&server.addr, "large.txt", mb_size * MB, vocab.clone(), 7).await?;
    let uploaded = started.elapsed();
    let mut api = Api::open(&server.addr).await?;
    let store = create_store(&mut api, std::slice::from_ref(&file), None).await?;
    let f = wait_file(&mut api, &store, &file).await?;
    let done = started.elapsed();
    stop.set(true);
    sampler.await?;
    let db = open_db(&server.data_dir()).await?;
    let (chunks, embedded, tokens) = chunk_counts(&db, &store).await?;
    db.close().await;
    let (rss, hwm) = server.rss();
    server.stop().await;
    let status = f["status"].as_str().unwrap_or("?").to_owned();
    let error = match &f["last_error"] {
        serde_json::Value::Null => String::new(),
        e => format!(
            " ({}: {})",
            e["code"].as_str().unwrap_or("?"),
            e["message"].as_str().unwrap_or("?")
        ),
    };
    Ok(Line {
        name: format!("{label}, {mb_size} MB"),
        count: usize::try_from(chunks)?,
        errors: 0,
        per_sec: (chunks > 0).then(|| {
            ratio(usize::try_from(chunks).unwrap_or(0), 1)
                / done.saturating_sub(uploaded).as_secs_f64()
        }),
        latency: None,
        rss: Some(rss),
        peak_rss: Some(hwm),
        note: format!(
            "status {status}{error}; upload {:.1} s, final status {:.1} s after the upload's start; {chunks} chunks ({embedded} embedded, {tokens} tokens, auto chunking); peak RSS sampled every 100 ms {} MB (peak column: the kernel's VmHWM); per s = chunks/s after the upload",
            uploaded.as_secs_f64(),
            done.as_secs_f64(),
            mb(peak.get())
        ),
    })
}

/// Part 3: the built-in embedder's ingestion throughput against llama-bench's prompt speed on
/// the same GGUF file.
async fn builtin_embedder(
    assistd_bin: Option<PathBuf>,
    gguf: &Path,
    target_chunks: usize,
    llama_bench: Option<&Path>,
    lines: &mut Vec<Line>,
) -> anyhow::Result<()> {
    anyhow::ensure!(gguf.is_file(), "no embedding model at {}", gguf.display());
    let config = format!(
        "[embeddings]\nenabled = true\npath = {:?}\nfetch = false\nworkers = 1\nthreads = 1\n",
        gguf.display().to_string()
    );
    let server = Server::start(assistd_bin, &config, None).await?;
    let vocab = Arc::new(Vocab::english());
    // `auto` chunking is 800-token chunks overlapping by 400, so each chunk adds ~400 tokens;
    // these words are about five bytes and one token each.
    let bytes = target_chunks * 400 * 5;
    let started = Instant::now();
    let file = upload(&server.addr, "english.txt", bytes, vocab, 3).await?;
    let mut api = Api::open(&server.addr).await?;
    let store = create_store(&mut api, std::slice::from_ref(&file), None).await?;
    let f = wait_file(&mut api, &store, &file).await?;
    let elapsed = started.elapsed();
    let db = open_db(&server.data_dir()).await?;
    let (chunks, embedded, tokens) = chunk_counts(&db, &store).await?;
    db.close().await;
    let (rss, peak) = server.rss();
    server.stop().await;
    let status = f["status"].as_str().unwrap_or("?");
    anyhow::ensure!(
        status == "completed",
        "the built-in embedder's file ended {status}: {}",
        f["last_error"]
    );
    // The embedder cuts a chunk into windows of at most 256 wordpieces, each with [CLS] and
    // [SEP]; for these words a wordpiece is a cl100k token.
    let chunks_n = usize::try_from(chunks)?;
    let tokens_n = usize::try_from(tokens)?;
    let windows: usize = chunks_n * (tokens_n / chunks_n.max(1)).div_ceil(254);
    let model_tokens = tokens_n + 2 * windows;
    let ours_tps = ratio(model_tokens, 1) / elapsed.as_secs_f64();
    lines.push(Line {
        name: "ingest with the built-in embedder".to_owned(),
        count: chunks_n,
        errors: 0,
        per_sec: Some(ratio(chunks_n, 1) / elapsed.as_secs_f64()),
        latency: None,
        rss: Some(rss),
        peak_rss: Some(peak),
        note: format!(
            "{embedded} chunks embedded, auto chunking, {model_tokens} model tokens ({tokens} text tokens + [CLS]/[SEP] of {windows} windows) in {:.1} s from the upload's start = {ours_tps:.0} tok/s; 1 worker, 1 thread; per s = chunks/s",
            elapsed.as_secs_f64()
        ),
    });
    let Some(bin) = llama_bench else {
        println!("no --llama-bench: the built-in embedder's floor is skipped");
        return Ok(());
    };
    let floor = crate::model::llama_bench(bin, gguf, 1, &["-p", "256", "-n", "0"])?;
    let (tps, sd) = (floor.tokens_per_sec, floor.stddev);
    let per_chunk = ratio(model_tokens, chunks_n.max(1));
    lines.push(Line {
        name: "floor: llama-bench, prompt of 256".to_owned(),
        count: chunks_n,
        per_sec: Some(tps / per_chunk),
        note: format!(
            "{tps:.0} ± {sd:.0} tok/s (-p 256 -n 0 -t 1), ÷ {per_chunk:.0} model tokens per chunk = chunks/s; ours is {:.0}% of it",
            100.0 * ours_tps / tps
        ),
        ..Line::default()
    });
    Ok(())
}
