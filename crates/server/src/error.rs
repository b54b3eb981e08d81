//! `ApiError`: every failure answered as OpenAI's envelope
//! `{"error":{"message","type","param","code"}}` with the status OpenAI uses.

use assistd_core::StoreError;
use assistd_core::validate::Invalid;
use assistd_wire::{Error as WireError, ErrorResponse};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An error response.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Human-readable message.
    pub message: String,
    /// Envelope `type`.
    pub type_: &'static str,
    /// Offending field.
    pub param: Option<String>,
    /// Machine-readable code.
    pub code: Option<&'static str>,
}

impl ApiError {
    /// A 400 `invalid_request_error`.
    pub fn invalid(message: impl Into<String>, param: Option<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            type_: "invalid_request_error",
            param,
            code: None,
        }
    }

    /// Any status, as an `invalid_request_error`.
    pub fn with_status(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            type_: "invalid_request_error",
            param: None,
            code: None,
        }
    }

    /// Sets `code`.
    pub fn code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// A 500 that hides the cause from the client (it is logged).
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "The server had an error while processing your request. Sorry about that!"
                .to_owned(),
            type_: "server_error",
            param: None,
            code: None,
        }
    }

    /// The envelope.
    pub fn body(&self) -> ErrorResponse {
        ErrorResponse {
            error: WireError {
                message: self.message.clone(),
                type_: self.type_.to_owned(),
                param: self.param.clone(),
                code: self.code.map(str::to_owned),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
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
            StoreError::NotFound { .. } => Self::with_status(StatusCode::NOT_FOUND, e.to_string()),
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
