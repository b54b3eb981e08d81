//! The browser playground: static pages (`crates/server/playground/`, embedded at build time,
//! gzipped and hashed by `build.rs`) served at `/` and `/playground/*`. They call `/v1` like any
//! client, with the user's own key, so serving them needs no key and grants nothing.
//!
//! Every response carries a strict Content-Security-Policy (own scripts only, no inline code,
//! network only to this origin): the pages render user- and model-written text, and the policy
//! is the second line of defence behind their never interpreting it as HTML.

use crate::config::Settings;
use crate::error::{ApiError, ErrorKind};
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One embedded file.
pub struct Asset {
    /// Its name under `playground/`.
    pub name: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
    /// Its bytes gzipped.
    pub gzip: &'static [u8],
    /// A quoted hash of `body`, the strong `ETag`.
    pub etag: &'static str,
}

/// Every embedded file, sorted by name.
pub static ASSETS: &[Asset] = include!(concat!(env!("OUT_DIR"), "/playground_assets.rs"));

/// Scripts, styles and fetches from this origin only; images also from object URLs (files the
/// code interpreter made are fetched with the key, then shown as blobs); no framing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' blob: data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

/// The playground's routes, or none when the settings turn it off (then `/` falls through to
/// the 404 envelope like any unknown route).
pub fn routes<S: Clone + Send + Sync + 'static>(settings: &Settings) -> Router<S> {
    if !settings.playground.enabled {
        return Router::new();
    }
    Router::new()
        .route("/", get(index))
        .route("/playground/{name}", get(asset))
}

fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

async fn index(headers: HeaderMap, method: Method, uri: Uri) -> Response {
    match find("index.html") {
        Some(a) => serve(a, &headers),
        None => not_found(&method, &uri),
    }
}

async fn asset(Path(name): Path<String>, headers: HeaderMap, method: Method, uri: Uri) -> Response {
    // `index.html` is served at `/` only, so the page has one address.
    match find(&name).filter(|a| a.name != "index.html") {
        Some(a) => serve(a, &headers),
        None => not_found(&method, &uri),
    }
}

fn not_found(method: &Method, uri: &Uri) -> Response {
    ApiError::new(
        ErrorKind::NotFound,
        format!("Invalid URL ({method} {}).", uri.path()),
    )
    .into_response()
}

/// `asset`, gzipped when the client accepts it, or 304 when the client's copy is current.
/// `no-cache`: browsers keep the files but revalidate them (a cheap 304), since their names do
/// not change when a new binary changes them.
fn serve(asset: &Asset, headers: &HeaderMap) -> Response {
    let current = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == asset.etag || t == "*")
        });
    let gzip = accepts_gzip(headers);
    let mut res = if current {
        StatusCode::NOT_MODIFIED.into_response()
    } else if gzip {
        (
            [
                (header::CONTENT_TYPE, asset.content_type),
                (header::CONTENT_ENCODING, "gzip"),
            ],
            asset.gzip,
        )
            .into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
    };
    let h = res.headers_mut();
    h.insert(header::ETAG, HeaderValue::from_static(asset.etag));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

/// Whether `Accept-Encoding` lists `gzip` (or `*`) without `q=0`.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(value).expect("header"),
        );
        h
    }

    #[test]
    fn gzip_is_served_only_when_accepted() {
        assert!(accepts_gzip(&with("gzip, deflate, br")));
        assert!(accepts_gzip(&with("br;q=1.0, gzip;q=0.8")));
        assert!(accepts_gzip(&with("*")));
        assert!(!accepts_gzip(&with("gzip;q=0")));
        assert!(!accepts_gzip(&with("br, identity")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn the_page_and_its_scripts_are_embedded() {
        for name in ["index.html", "app.js", "app.css"] {
            let a = find(name).unwrap_or_else(|| panic!("{name} is not embedded"));
            assert!(!a.body.is_empty() && a.gzip.len() < a.body.len());
        }
    }
}
