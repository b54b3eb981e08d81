//! Operability: log lines as text or JSON, OpenTelemetry traces exported over OTLP/HTTP when an
//! endpoint is configured, and Prometheus metrics at `/metrics` when enabled.
//!
//! One trace per request: the HTTP request's span (joining a caller's `traceparent`), the run it
//! queued (its execution, later, on a worker: see `ExecutorHandle::queued`), and the run's
//! upstream calls, which carry `traceparent` to the provider. Metric names are documented in
//! `docs/operations.md`.

use crate::app::AppState;
use crate::config::{LogFormat, Settings};
use crate::error::ApiError;
use assistd_wire::RunStatus;
use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, filter::LevelFilter};

/// What must be flushed at exit.
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans still buffered. The exporter's requests run on this runtime, so the
    /// blocking flush waits on a blocking thread, not on one of the runtime's workers.
    pub async fn shutdown(self) {
        if let Some(p) = self.traces {
            let flushed = tokio::task::spawn_blocking(move || p.shutdown()).await;
            if let Ok(Err(e)) = flushed {
                eprintln!("assistd: exporting the last traces failed: {e}");
            }
        }
    }
}

/// Where traces go.
enum Traces {
    /// Nowhere.
    Off,
    /// To this OTLP/HTTP traces URL.
    To(String),
    /// Where the standard `OTEL_EXPORTER_OTLP_*ENDPOINT` variables say (the exporter reads them).
    FromEnv,
}

/// The traces endpoint in effect: `otlp_endpoint` (a base URL, `/v1/traces` added unless
/// given), else the standard variables, else none.
fn traces_endpoint(settings: &Settings) -> Traces {
    if let Some(base) = settings.otlp_endpoint.as_deref().filter(|s| !s.is_empty()) {
        let base = base.trim_end_matches('/');
        return Traces::To(if base.ends_with("/v1/traces") {
            base.to_owned()
        } else {
            format!("{base}/v1/traces")
        });
    }
    let from_env = [
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ]
    .iter()
    .any(|v| std::env::var(v).is_ok_and(|v| !v.is_empty()));
    if from_env {
        Traces::FromEnv
    } else {
        Traces::Off
    }
}

/// Installs the global log subscriber (and the trace exporter when configured). Call once, in a
/// Tokio runtime.
pub fn init(settings: &Settings) -> anyhow::Result<Telemetry> {
    // llama.cpp narrates every model load, and PostgreSQL each `IF NOT EXISTS` that found the
    // object, at info level: their warnings are what matter.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,llama-cpp-2=warn,sqlx::postgres::notice=warn"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = match settings.log_format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Json => fmt.json().flatten_event(true).boxed(),
    };
    let (traces, otel) = match traces_endpoint(settings) {
        Traces::Off => (None, None),
        endpoint => {
            let provider = trace_provider(endpoint)?;
            let layer = tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("assistd"))
                // Spans are traced whatever `RUST_LOG` says of log lines.
                .with_filter(LevelFilter::INFO);
            opentelemetry::global::set_text_map_propagator(
                opentelemetry_sdk::propagation::TraceContextPropagator::new(),
            );
            (Some(provider), Some(layer))
        }
    };
    tracing_subscriber::registry()
        .with(otel)
        .with(fmt.with_filter(filter))
        .try_init()?;
    Ok(Telemetry { traces })
}

fn trace_provider(endpoint: Traces) -> anyhow::Result<SdkTracerProvider> {
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_http_client(OtlpClient {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            runtime: tokio::runtime::Handle::current(),
        });
    if let Traces::To(url) = endpoint {
        exporter = exporter.with_endpoint(url);
    }
    let mut resource = opentelemetry_sdk::Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("assistd");
    }
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter.build()?)
        .with_resource(resource.build())
        .build())
}

/// The exporter's HTTP client: the server's own reqwest (opentelemetry-http's would be another
/// major version of it). The batch exporter runs on a thread of its own, outside the runtime,
/// so each request is spawned onto the runtime and awaited from there.
#[derive(Debug)]
struct OtlpClient {
    http: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for OtlpClient {
    async fn send_bytes(
        &self,
        request: axum::http::Request<Bytes>,
    ) -> Result<axum::http::Response<Bytes>, opentelemetry_http::HttpError> {
        let request = reqwest::Request::try_from(request)?;
        let http = self.http.clone();
        let sent = self.runtime.spawn(async move {
            let res = http.execute(request).await?;
            let mut out = axum::http::Response::builder().status(res.status());
            if let Some(h) = out.headers_mut() {
                h.extend(res.headers().clone());
            }
            let body = res.bytes().await?;
            Ok::<_, opentelemetry_http::HttpError>(out.body(body)?)
        });
        sent.await?
    }
}

/// The span of one HTTP request: named by its route template (`POST /v1/threads/{thread_id}/runs`),
/// child of the caller's trace when it sends `traceparent`.
pub fn request_span(req: &Request<Body>) -> Span {
    let route = route_of(req);
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // The client's own id, sanitized by `assign_request_id`: for the log only.
    let client_request_id = req
        .extensions()
        .get::<crate::app::ClientRequestId>()
        .map_or("", |c| c.0.as_str());
    let span = tracing::info_span!(
        "request",
        otel.name = %format!("{} {route}", req.method()),
        otel.kind = "server",
        http.request.method = %req.method(),
        http.route = route,
        uri = %req.uri().path(),
        request_id,
        client_request_id,
        http.response.status_code = tracing::field::Empty,
    );
    let parent = opentelemetry::global::get_text_map_propagator(|p| {
        p.extract(&opentelemetry_http::HeaderExtractor(req.headers()))
    });
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
    span
}

/// Records the status on the request's span.
pub fn record_status(res: &Response, _latency: Duration, span: &Span) {
    span.record("http.response.status_code", res.status().as_u16());
}

/// The matched route template, never the raw path: metric labels stay few.
fn route_of<B>(req: &axum::http::Request<B>) -> &str {
    req.extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
}

/// Counts every request by method, route template and status, with its latency.
pub async fn track_http(req: Request, next: Next) -> Response {
    let method = match *req.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let route = route_of(&req).to_owned();
    let started = Instant::now();
    let res = next.run(req).await;
    let labels = [
        ("method", method.to_owned()),
        ("route", route),
        ("status", res.status().as_str().to_owned()),
    ];
    metrics::counter!("assistd_http_requests_total", &labels).increment(1);
    metrics::histogram!("assistd_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    res
}

/// Upper bounds of the latency histograms, in seconds: from a cached read to a long run.
const BUCKETS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// The process's Prometheus recorder, installed on first use (one per process: the `metrics`
/// facade is global).
fn prometheus() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let installed = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &BUCKETS)
                .and_then(PrometheusBuilder::install_recorder);
            match installed {
                Ok(handle) => {
                    // Histograms are drained by upkeep; a scrape does it too, this bounds memory
                    // when nobody scrapes.
                    let h = handle.clone();
                    tokio::spawn(async move {
                        loop {
                            tokio::time::sleep(Duration::from_secs(5)).await;
                            h.run_upkeep();
                        }
                    });
                    Some(handle)
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot install the metrics recorder");
                    None
                }
            }
        })
        .as_ref()
}

/// `/metrics` when `metrics_enabled`, else nothing. Installs the recorder (so that metrics are
/// recorded from the start).
pub fn metrics_routes(settings: &Settings) -> Router<AppState> {
    if settings.metrics_enabled && prometheus().is_some() {
        Router::new().route("/metrics", get(metrics))
    } else {
        Router::new()
    }
}

/// Prometheus text exposition of every metric, with the gauges read now: unfinished runs by
/// status (queued is the queue depth) and stream subscribers.
async fn metrics(State(state): State<AppState>) -> Response {
    let Some(handle) = prometheus() else {
        return ApiError::internal(&"the metrics recorder is not installed").into_response();
    };
    match state.store.count_unfinished_runs().await {
        Ok(counts) => {
            for status in [
                RunStatus::Queued,
                RunStatus::InProgress,
                RunStatus::RequiresAction,
                RunStatus::Cancelling,
            ] {
                let n = counts.iter().find(|(s, _)| *s == status).map_or(0, |c| c.1);
                #[expect(clippy::cast_precision_loss, reason = "a count of runs, below 2^52")]
                let n = n as f64;
                metrics::gauge!("assistd_runs", "status" => status.as_str()).set(n);
            }
        }
        Err(e) => tracing::warn!(error = %e, "counting runs for the metrics failed"),
    }
    #[expect(clippy::cast_precision_loss, reason = "a count of clients, below 2^52")]
    let subscribers = state.events.subscribers() as f64;
    metrics::gauge!("assistd_stream_subscribers").set(subscribers);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        handle.render(),
    )
        .into_response()
}
