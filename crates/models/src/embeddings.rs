//! An embedder over any OpenAI-compatible `/embeddings` endpoint (OpenAI, Ollama, vLLM, TEI),
//! reached through the same routes as chat models: the embedding model's name picks the route,
//! which gives the base URL, the key and the name sent upstream.
//!
//! Retries are the caller's (the ingestion loop retries a batch, a search falls back to lexical
//! on a failed query): this client says whether a failure is worth retrying. As with chat, a
//! failure's message names the HTTP status and nothing the upstream sent; its body goes to the
//! log, masked.

use crate::redact::{loggable_url, mask_secrets};
use crate::router::{ModelRoute, RouteError, route_key};
use assistd_core::search::{EmbedError, Embedder};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The longest response body read from the route: 2,048 vectors of 3,072 floats as JSON text
/// is about 130 MB, so this bounds a batch well above what the ingestion loop sends.
const MAX_RESPONSE_BYTES: usize = 256 << 20;

/// An OpenAI-compatible embeddings route.
pub struct RouteEmbedder {
    http: reqwest::Client,
    url: String,
    log_url: String,
    api_key: Option<String>,
    /// The name vector stores record.
    model: String,
    /// The name sent upstream.
    upstream_model: String,
}

impl std::fmt::Debug for RouteEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteEmbedder")
            .field("url", &self.log_url)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl RouteEmbedder {
    /// The embedder of `model` over the first of `routes` whose pattern matches it; `None`
    /// when none does.
    pub fn routed(routes: &[ModelRoute], model: &str) -> Result<Option<Self>, RouteError> {
        for r in routes {
            let matcher = globset::Glob::new(&r.pattern)
                .map_err(|e| RouteError::Pattern {
                    pattern: r.pattern.clone(),
                    message: e.to_string(),
                })?
                .compile_matcher();
            if matcher.is_match(model) {
                return Self::new(r, model).map(Some);
            }
        }
        Ok(None)
    }

    /// The embedder of `model` over `route`.
    pub fn new(route: &ModelRoute, model: &str) -> Result<Self, RouteError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs_f64(route.connect_timeout_secs))
            .read_timeout(Duration::from_secs_f64(route.read_timeout_secs))
            .build()
            .map_err(|e| RouteError::Client {
                pattern: route.pattern.clone(),
                message: e.to_string(),
            })?;
        let url = format!("{}/embeddings", route.base_url.trim_end_matches('/'));
        Ok(Self {
            http,
            log_url: loggable_url(&url),
            url,
            api_key: route_key(route)?,
            model: model.to_owned(),
            upstream_model: route
                .upstream_model
                .clone()
                .unwrap_or_else(|| model.to_owned()),
        })
    }
}

fn failure(retryable: bool, message: String) -> EmbedError {
    EmbedError { retryable, message }
}

#[derive(Serialize)]
struct EmbeddingsRequest<'a> {
    model: &'a str,
    input: &'a [String],
    encoding_format: &'static str,
}

#[derive(Deserialize)]
struct EmbeddingsResponse {
    data: Vec<EmbeddingItem>,
}

#[derive(Deserialize)]
struct EmbeddingItem {
    #[serde(default)]
    index: Option<usize>,
    embedding: Vec<f32>,
}

#[async_trait]
impl Embedder for RouteEmbedder {
    fn model(&self) -> &str {
        &self.model
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let mut req = self.http.post(&self.url).json(&EmbeddingsRequest {
            model: &self.upstream_model,
            input: texts,
            encoding_format: "float",
        });
        if let Some(key) = &self.api_key {
            req = req.bearer_auth(key);
        }
        let secrets: Vec<&str> = self.api_key.as_deref().into_iter().collect();
        let mut resp = req.send().await.map_err(|e| {
            tracing::warn!(url = %self.log_url, error = %mask_secrets(&e.to_string(), &secrets),
                "the embeddings route is unreachable");
            failure(
                true,
                "The embedding model's route could not be reached.".to_owned(),
            )
        })?;
        let status = resp.status();
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(piece)) => {
                    body.extend_from_slice(&piece);
                    if body.len() > MAX_RESPONSE_BYTES {
                        return Err(failure(
                            false,
                            "The embedding model's route answered with too much data.".to_owned(),
                        ));
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(url = %self.log_url, error = %mask_secrets(&e.to_string(), &secrets),
                        "reading the embeddings route's answer failed");
                    return Err(failure(
                        true,
                        "The embedding model's route stopped answering.".to_owned(),
                    ));
                }
            }
        }
        if !status.is_success() {
            tracing::warn!(url = %self.log_url, %status,
                body = %mask_secrets(&String::from_utf8_lossy(&body), &secrets),
                "the embeddings route refused a request");
            let retryable = status.as_u16() == 429 || status.is_server_error();
            return Err(failure(
                retryable,
                format!(
                    "The embedding model's route answered HTTP {}.",
                    status.as_u16()
                ),
            ));
        }
        let parsed: EmbeddingsResponse = serde_json::from_slice(&body).map_err(|e| {
            tracing::warn!(url = %self.log_url, error = %e, "the embeddings route's answer is not an embeddings list");
            failure(false, "The embedding model's route answered with something other than embeddings.".to_owned())
        })?;
        if parsed.data.len() != texts.len() {
            return Err(failure(
                false,
                format!(
                    "The embedding model's route answered {} vectors for {} texts.",
                    parsed.data.len(),
                    texts.len()
                ),
            ));
        }
        // Items may come in any order; `index` says whose each is.
        let mut out: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        for (i, item) in parsed.data.into_iter().enumerate() {
            let at = item.index.unwrap_or(i);
            let slot = out.get_mut(at).ok_or_else(|| {
                failure(
                    false,
                    "The embedding model's route answered an index out of range.".to_owned(),
                )
            })?;
            *slot = Some(normalized(item.embedding));
        }
        out.into_iter()
            .map(|v| {
                v.filter(|v| !v.is_empty()).ok_or_else(|| {
                    failure(
                        false,
                        "The embedding model's route left a text without a vector.".to_owned(),
                    )
                })
            })
            .collect()
    }
}

/// `v` scaled to unit length (a zero vector stays zero), so a dot product is the cosine
/// whatever the route returns.
pub fn normalized(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        for x in &mut v {
            *x /= norm;
        }
    }
    v
}
