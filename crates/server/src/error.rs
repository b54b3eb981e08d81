//! `ApiError`: every failure answered as OpenAI's envelope
//! `{"error":{"message","type","param","code"}}` with the status OpenAI uses.
//!
//! What a failure is ([`ErrorKind`]) decides its HTTP status, envelope `type` and `code`, in one
//! table ([`ErrorKind::parts`]); handlers only pick the kind and write the message.

use assistd_core::StoreError;
use assistd_core::store::UNAVAILABLE_RETRY_AFTER;
use assistd_core::validate::Invalid;
use assistd_wire::{Error as WireError, ErrorResponse, ErrorType};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// What went wrong, as far as the client is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed or breaks a rule (400).
    InvalidRequest,
    /// `OpenAI-Beta` asks for an Assistants version other than v1 (400).
    UnsupportedApiVersion,
    /// No API key was presented (401).
    MissingApiKey,
    /// The API key presented is not one of ours (401).
    InvalidApiKey,
    /// Open mode refused a request addressed to a foreign name or sent by a foreign web page
    /// (403).
    ForbiddenOrigin,
    /// The request body did not arrive in time (408).
    RequestTimeout,
    /// No such route or object (404).
    NotFound,
    /// The route exists, not with this method (405).
    MethodNotAllowed,
    /// A JSON body over the configured limit (413).
    RequestTooLarge,
    /// An upload over the configured limit (413).
    FileTooLarge,
    /// A body refused by a layer before any extractor read it (413, without a code).
    BodyTooLarge,
    /// A rate limit or a limit on runs was reached; retry after a while (429).
    RateLimited,
    /// A quota is used up (stored bytes); retrying will not help until something is freed (429).
    QuotaExceeded,
    /// A stream client fell too far behind; only ever sent as a stream's `error` event.
    StreamLagged,
    /// Too many large bodies in flight; try again shortly (503).
    Overloaded,
    /// The database cannot be reached, or hand out a connection, for now; try again shortly
    /// (503).
    Unavailable,
    /// The server failed; the cause is logged, not shown (500).
    Internal,
    /// Another error status that left the router without the envelope (a framework
    /// rejection); its status is kept.
    Status(StatusCode),
}

impl ErrorKind {
    /// The HTTP status, envelope `type` and `code` of this kind.
    pub fn parts(self) -> (StatusCode, ErrorType, Option<&'static str>) {
        use ErrorType::{InvalidRequestError as Invalid, ServerError as Server};
        use StatusCode as S;
        match self {
            Self::InvalidRequest => (S::BAD_REQUEST, Invalid, None),
            Self::UnsupportedApiVersion => {
                (S::BAD_REQUEST, Invalid, Some("unsupported_api_version"))
            }
            Self::MissingApiKey => (S::UNAUTHORIZED, Invalid, None),
            Self::InvalidApiKey => (S::UNAUTHORIZED, Invalid, Some("invalid_api_key")),
            Self::ForbiddenOrigin => (S::FORBIDDEN, Invalid, None),
            Self::RequestTimeout => (S::REQUEST_TIMEOUT, Invalid, None),
            Self::NotFound => (S::NOT_FOUND, Invalid, None),
            Self::MethodNotAllowed => (S::METHOD_NOT_ALLOWED, Invalid, None),
            Self::RequestTooLarge => (S::PAYLOAD_TOO_LARGE, Invalid, Some("request_too_large")),
            Self::FileTooLarge => (S::PAYLOAD_TOO_LARGE, Invalid, Some("file_too_large")),
            Self::BodyTooLarge => (S::PAYLOAD_TOO_LARGE, Invalid, None),
            Self::RateLimited => (
                S::TOO_MANY_REQUESTS,
                ErrorType::Requests,
                Some("rate_limit_exceeded"),
            ),
            Self::QuotaExceeded => (
                S::TOO_MANY_REQUESTS,
                ErrorType::InsufficientQuota,
                Some("insufficient_quota"),
            ),
            Self::StreamLagged => (S::INTERNAL_SERVER_ERROR, Server, Some("stream_lagged")),
            Self::Overloaded | Self::Unavailable => (S::SERVICE_UNAVAILABLE, Server, None),
            Self::Internal => (S::INTERNAL_SERVER_ERROR, Server, None),
            Self::Status(status) if status.is_server_error() => (status, Server, None),
            Self::Status(status) => (status, Invalid, None),
        }
    }

    /// The kind of an error `status` that some layer answered without the envelope.
    pub fn of_status(status: StatusCode) -> Self {
        match status {
            StatusCode::METHOD_NOT_ALLOWED => Self::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => Self::BodyTooLarge,
            other => Self::Status(other),
        }
    }

    /// The HTTP status.
    pub fn status(self) -> StatusCode {
        self.parts().0
    }
}

/// What a body over a size limit is told, whichever limit refused it.
pub const TOO_LARGE: &str = "The request body is too large. Reduce its size and try again.";

/// Characters of client input an error message quotes (see [`quote`]).
pub const QUOTE_CHARS: usize = 64;
/// Bytes of an error message or `param` at most: whatever a message quotes, an error never
/// carries unbounded input back.
const MAX_MESSAGE_BYTES: usize = 2048;
const MAX_PARAM_BYTES: usize = 256;

/// Client input as an error message quotes it: its first [`QUOTE_CHARS`] characters, and `…`
/// if there were more.
pub fn quote(input: &str) -> std::borrow::Cow<'_, str> {
    match input.char_indices().nth(QUOTE_CHARS) {
        None => input.into(),
        Some((end, _)) => format!("{}…", &input[..end]).into(),
    }
}

/// `s` cut to at most `max` bytes (on a character boundary), marked with `…` when cut.
fn capped(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max - '…'.len_utf8();
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

/// An error response.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// What went wrong: the status, `type` and `code`.
    pub kind: ErrorKind,
    /// Human-readable message.
    pub message: String,
    /// Offending field.
    pub param: Option<String>,
    /// The `Retry-After` header, in seconds.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error of `kind`, about no particular field.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: capped(message.into(), MAX_MESSAGE_BYTES),
            param: None,
            retry_after: None,
        }
    }

    /// The same error, telling the client to retry after `secs` seconds.
    #[must_use]
    pub fn retry_after(self, secs: u64) -> Self {
        Self {
            retry_after: Some(secs),
            ..self
        }
    }

    /// The 404 OpenAI answers a route it does not have with, naming the request's method and
    /// path.
    pub fn unknown_route(method: &axum::http::Method, path: &str) -> Self {
        Self::new(
            ErrorKind::NotFound,
            format!("Invalid URL ({method} {path})."),
        )
    }

    /// A 400 `invalid_request_error` about `param`.
    pub fn invalid(message: impl Into<String>, param: Option<String>) -> Self {
        Self {
            param: param.map(|p| capped(p, MAX_PARAM_BYTES)),
            ..Self::new(ErrorKind::InvalidRequest, message)
        }
    }

    /// A 500 that hides the cause from the client (it is logged).
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            ErrorKind::Internal,
            "The server had an error while processing your request. Sorry about that!",
        )
    }

    /// A 503 for a database out of reach or too busy to hand out a connection in time, which
    /// hides the cause from the client (it is logged) and tells it when to try again.
    pub fn unavailable(cause: &dyn std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "the database is out of reach or busy");
        Self::new(
            ErrorKind::Unavailable,
            "The server's storage is unavailable or busy at the moment. Please retry your request shortly.",
        )
        .retry_after(UNAVAILABLE_RETRY_AFTER.as_secs())
    }

    /// The envelope's `error`.
    pub fn error(&self) -> WireError {
        let (_, type_, code) = self.kind.parts();
        WireError {
            message: self.message.clone(),
            type_: type_.as_str().to_owned(),
            param: self.param.clone(),
            code: code.map(str::to_owned),
        }
    }

    /// The envelope.
    pub fn body(&self) -> ErrorResponse {
        ErrorResponse {
            error: self.error(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (self.kind.status(), Json(self.body())).into_response();
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        } else if self.kind == ErrorKind::QuotaExceeded {
            // The SDKs retry every 429 unless told not to; waiting frees no quota.
            res.headers_mut().insert(
                "x-should-retry",
                axum::http::HeaderValue::from_static("false"),
            );
        }
        if self.kind == ErrorKind::Unavailable {
            // Clients all told the same second would all come back at once after a failover.
            // The SDKs read `retry-after-ms` before `Retry-After`: spread it over half to one
            // and a half times the wait.
            let ms = self
                .retry_after
                .unwrap_or(UNAVAILABLE_RETRY_AFTER.as_secs())
                * 1000;
            res.headers_mut().insert(
                "retry-after-ms",
                rand::random_range(ms / 2..=ms * 3 / 2).into(),
            );
        }
        res
    }
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        Self::invalid(e.message, e.param)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { .. } => Self::new(ErrorKind::NotFound, e.to_string()),
            StoreError::InvalidReference { ref param, .. } => {
                Self::invalid(e.to_string(), Some(param.clone()))
            }
            StoreError::Invalid { message, param } => Self::invalid(message, param),
            StoreError::Backend(ref cause) => Self::internal(cause),
            StoreError::Unavailable(ref cause) => Self::unavailable(cause),
        }
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_messages_are_bounded() {
        assert_eq!(quote("short"), "short");
        let long = "é".repeat(1000);
        assert_eq!(quote(&long).chars().count(), QUOTE_CHARS + 1);
        let e = ApiError::invalid("x".repeat(1 << 20), Some("p".repeat(1 << 20)));
        assert!(e.message.len() <= MAX_MESSAGE_BYTES && e.message.ends_with('…'));
        assert!(e.param.is_some_and(|p| p.len() <= MAX_PARAM_BYTES));
        let e = ApiError::new(ErrorKind::InvalidRequest, "é".repeat(5000));
        assert!(e.message.len() <= MAX_MESSAGE_BYTES);
    }
}
