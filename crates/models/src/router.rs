//! Routing by model name: an ordered table of glob patterns, first match wins.

use crate::openai::{OpenAiCompatible, RetryPolicy};
use assistd_core::model::{ChatRequest, ChatStream, ModelBackend, ModelError};
use async_trait::async_trait;
use futures::StreamExt;
use globset::{Glob, GlobMatcher};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// One route of the `[[models]]` table.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelRoute {
    /// Glob over model names (`gpt-4*`, `*`).
    #[serde(rename = "match")]
    pub pattern: String,
    /// The upstream's base URL, up to `/v1` (`https://api.openai.com/v1`).
    pub base_url: String,
    /// Name of the environment variable holding the upstream's API key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// The key itself (the `ASSISTD_UPSTREAM_API_KEY` shortcut); never logged.
    #[serde(default, skip_serializing)]
    pub api_key: Option<String>,
    /// The model name to send upstream (default: the run's).
    #[serde(default)]
    pub upstream_model: Option<String>,
    /// Seconds to establish a connection.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: f64,
    /// Seconds without a byte from the upstream before the request is abandoned.
    #[serde(default = "default_read_timeout")]
    pub read_timeout_secs: f64,
    /// Retries of a request that failed before streaming (429, 5xx, timeouts).
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// First backoff, doubled at each retry (a `Retry-After` header wins).
    #[serde(default = "default_backoff")]
    pub initial_backoff_secs: f64,
    /// Cap on one backoff.
    #[serde(default = "default_max_backoff")]
    pub max_backoff_secs: f64,
    /// Requests this process sends the upstream at once, at most; more runs wait their turn,
    /// `in_progress` and cancellable. Unset: as many as runs execute (`workers`).
    #[serde(default)]
    pub max_concurrent_requests: Option<usize>,
}

fn default_connect_timeout() -> f64 {
    10.0
}
fn default_read_timeout() -> f64 {
    120.0
}
fn default_max_retries() -> u32 {
    3
}
fn default_backoff() -> f64 {
    0.5
}
fn default_max_backoff() -> f64 {
    20.0
}

impl ModelRoute {
    /// A route sending every model to `base_url`.
    pub fn catch_all(base_url: &str, api_key: Option<String>) -> Self {
        Self {
            pattern: "*".to_owned(),
            base_url: base_url.to_owned(),
            api_key_env: None,
            api_key,
            upstream_model: None,
            connect_timeout_secs: default_connect_timeout(),
            read_timeout_secs: default_read_timeout(),
            max_retries: default_max_retries(),
            initial_backoff_secs: default_backoff(),
            max_backoff_secs: default_max_backoff(),
            max_concurrent_requests: None,
        }
    }
}

impl fmt::Debug for ModelRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelRoute")
            .field("match", &self.pattern)
            .field("base_url", &self.base_url)
            .field("api_key_env", &self.api_key_env)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("upstream_model", &self.upstream_model)
            .finish_non_exhaustive()
    }
}

/// The key of route `r`: its own, or the one its environment variable holds.
pub(crate) fn route_key(r: &ModelRoute) -> Result<Option<String>, RouteError> {
    match (&r.api_key, &r.api_key_env) {
        (Some(k), _) => Ok(Some(k.clone())),
        (None, Some(var)) => std::env::var(var)
            .map(Some)
            .map_err(|_| RouteError::MissingKey {
                pattern: r.pattern.clone(),
                var: var.clone(),
            }),
        (None, None) => Ok(None),
    }
}

/// A route that could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// The glob does not parse.
    #[error("invalid model pattern '{pattern}': {message}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// Why.
        message: String,
    },
    /// The key's environment variable is not set.
    #[error("model route '{pattern}': environment variable {var} (api_key_env) is not set")]
    MissingKey {
        /// The pattern.
        pattern: String,
        /// The variable.
        var: String,
    },
    /// The HTTP client could not be built.
    #[error("model route '{pattern}': {message}")]
    Client {
        /// The pattern.
        pattern: String,
        /// Why.
        message: String,
    },
}

/// Picks a backend by the request's model name.
pub struct ModelRouter {
    routes: Vec<(GlobMatcher, Arc<dyn ModelBackend>)>,
}

impl ModelRouter {
    /// Builds the routes, reading keys from the environment.
    pub fn new(routes: &[ModelRoute]) -> Result<Self, RouteError> {
        let mut built = Vec::with_capacity(routes.len());
        for r in routes {
            let matcher = Glob::new(&r.pattern)
                .map_err(|e| RouteError::Pattern {
                    pattern: r.pattern.clone(),
                    message: e.to_string(),
                })?
                .compile_matcher();
            let key = route_key(r)?;
            let backend = OpenAiCompatible::new(
                &r.base_url,
                key,
                r.upstream_model.clone(),
                Duration::from_secs_f64(r.connect_timeout_secs),
                Duration::from_secs_f64(r.read_timeout_secs),
                RetryPolicy {
                    max_retries: r.max_retries,
                    initial_backoff: Duration::from_secs_f64(r.initial_backoff_secs),
                    max_backoff: Duration::from_secs_f64(r.max_backoff_secs),
                },
            )
            .map_err(|e| RouteError::Client {
                pattern: r.pattern.clone(),
                message: e.to_string(),
            })?;
            let backend: Arc<dyn ModelBackend> = match r.max_concurrent_requests {
                Some(n) => Arc::new(Limited::new(Arc::new(backend), n)),
                None => Arc::new(backend),
            };
            built.push((matcher, backend));
        }
        Ok(Self { routes: built })
    }

    /// Adds a backend for `pattern` after the configured routes (e.g. the built-in model).
    pub fn with_fallback(
        mut self,
        pattern: &str,
        backend: Arc<dyn ModelBackend>,
    ) -> Result<Self, RouteError> {
        let matcher = Glob::new(pattern)
            .map_err(|e| RouteError::Pattern {
                pattern: pattern.to_owned(),
                message: e.to_string(),
            })?
            .compile_matcher();
        self.routes.push((matcher, backend));
        Ok(self)
    }

    /// The backend for `model`, if any route matches.
    pub fn route(&self, model: &str) -> Option<&Arc<dyn ModelBackend>> {
        self.routes
            .iter()
            .find(|(m, _)| m.is_match(model))
            .map(|(_, b)| b)
    }
}

/// A backend sent at most so many requests at once: each holds a permit until its stream is
/// dropped (finished, failed or cancelled), so what is scarce (an upstream's connections or
/// capacity) bounds model calls, and not the number of runs a process executes.
struct Limited {
    inner: Arc<dyn ModelBackend>,
    permits: Arc<Semaphore>,
}

impl Limited {
    fn new(inner: Arc<dyn ModelBackend>, n: usize) -> Self {
        Self {
            inner,
            permits: Arc::new(Semaphore::new(n.max(1))),
        }
    }
}

#[async_trait]
impl ModelBackend for Limited {
    async fn chat(&self, req: ChatRequest) -> Result<ChatStream, ModelError> {
        // Waiting here is cancel-safe: a cancelled run drops this future, and its place.
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| ModelError::Transient {
                // Never closed; were it, the run would be retried.
                message: "the route's request limit is closed".to_owned(),
                retry_after: None,
            })?;
        let stream = self.inner.chat(req).await?;
        Ok(stream
            .map(move |item| {
                let _held = &permit;
                item
            })
            .boxed())
    }

    fn calls_tools(&self, model: &str) -> bool {
        self.inner.calls_tools(model)
    }
}

#[async_trait]
impl ModelBackend for ModelRouter {
    async fn chat(&self, req: ChatRequest) -> Result<ChatStream, ModelError> {
        match self.route(&req.model) {
            Some(b) => b.chat(req).await,
            None => Err(ModelError::NoRoute(req.model)),
        }
    }

    fn calls_tools(&self, model: &str) -> bool {
        self.route(model).is_none_or(|b| b.calls_tools(model))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_matching_route_wins() {
        let r = ModelRouter::new(&[
            ModelRoute::catch_all("http://127.0.0.1:1/v1", None).with_pattern("gpt-4*"),
            ModelRoute::catch_all("http://127.0.0.1:2/v1", None).with_pattern("llama-*"),
        ])
        .unwrap();
        assert!(r.route("gpt-4-turbo").is_some());
        assert!(r.route("llama-3").is_some());
        assert!(r.route("mistral").is_none());
    }

    /// Answers with a stream that never ends (until dropped).
    struct Endless;

    #[async_trait]
    impl ModelBackend for Endless {
        async fn chat(&self, _req: ChatRequest) -> Result<ChatStream, ModelError> {
            Ok(futures::stream::pending().boxed())
        }
    }

    #[tokio::test]
    async fn a_limited_route_sends_so_many_requests_at_once_and_frees_a_place_per_dropped_stream() {
        let limited = Limited::new(Arc::new(Endless), 2);
        let req = || ChatRequest {
            model: "m".to_owned(),
            ..ChatRequest::default()
        };
        let first = limited.chat(req()).await.unwrap();
        let _second = limited.chat(req()).await.unwrap();
        let third = tokio::time::timeout(Duration::from_millis(50), limited.chat(req())).await;
        assert!(third.is_err(), "a third request waits");
        drop(first);
        let third = tokio::time::timeout(Duration::from_secs(5), limited.chat(req())).await;
        assert!(
            third.is_ok_and(|r| r.is_ok()),
            "a dropped stream frees its place"
        );
    }

    #[test]
    fn missing_key_env_is_an_error() {
        let mut route = ModelRoute::catch_all("http://127.0.0.1:1/v1", None);
        route.api_key_env = Some("ASSISTD_TEST_SURELY_UNSET_VARIABLE".into());
        let err = ModelRouter::new(&[route]).err().unwrap().to_string();
        assert!(err.contains("ASSISTD_TEST_SURELY_UNSET_VARIABLE"), "{err}");
    }

    #[test]
    fn debug_hides_the_key() {
        let route = ModelRoute::catch_all("http://x/v1", Some("sk-secret".into()));
        assert!(!format!("{route:?}").contains("sk-secret"));
    }

    impl ModelRoute {
        fn with_pattern(mut self, p: &str) -> Self {
            self.pattern = p.to_owned();
            self
        }
    }
}
