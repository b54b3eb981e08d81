//! `ApiError`: every failure answered as OpenAI's envelope
//! `{"error":{"message","type","param","code"}}` with the status OpenAI uses.
//!
//! What a failure is ([`ErrorKind`]) decides its HTTP status, envelope `type` and `code`, in one
//! table ([`ErrorKind::parts`]); handlers only pick the kind and write the message.

use assistd_core::StoreError;
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
            message: message.into(),
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

    /// A 400 `invalid_request_error` about `param`.
    pub fn invalid(message: impl Into<String>, param: Option<String>) -> Self {
        Self {
            param,
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
        }
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
