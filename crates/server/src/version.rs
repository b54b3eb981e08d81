//! The API version a request speaks, as an extractor, and responses rendered in that version.

use crate::error::ApiError;
use assistd_wire::ApiVersion;
use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The request's API version, put in place by [`crate::auth::authenticate`].
#[derive(Debug, Clone, Copy)]
pub struct Version(pub ApiVersion);

impl<S: Send + Sync> FromRequestParts<S> for Version {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<ApiVersion>()
            .copied()
            .map(Version)
            .ok_or_else(|| ApiError::internal(&"route is missing the authentication layer"))
    }
}

/// An operation that exists only in v1 (assistant files, message files): under v2 it answers as
/// an unknown route does, as OpenAI's v2 API did.
#[derive(Debug, Clone, Copy)]
pub struct V1Only;

impl<S: Send + Sync> FromRequestParts<S> for V1Only {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Version(version) = Version::from_request_parts(parts, state).await?;
        if version == ApiVersion::V1 {
            return Ok(Self);
        }
        // Inside the `/v1` nest the URI has lost its prefix; quote the one the client sent.
        let path = parts
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| parts.uri.path().to_owned(), |u| u.0.path().to_owned());
        Err(ApiError::unknown_route(&parts.method, &path))
    }
}

/// An object shown in the request's version (see `assistd_wire::version`).
pub struct Versioned<T>(pub ApiVersion, pub T);

impl<T: Serialize> IntoResponse for Versioned<T> {
    fn into_response(self) -> Response {
        match assistd_wire::version::to_vec(self.0, &self.1) {
            Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
            Err(e) => ApiError::internal(&e).into_response(),
        }
    }
}
