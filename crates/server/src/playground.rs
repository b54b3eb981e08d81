//! The browser playground: static pages (`crates/server/playground/`, embedded at build time,
//! gzipped and hashed by `build.rs`) served at `/` and `/playground/*`. They call `/v1` like any
//! client, with the user's own key, so serving them needs no key and grants nothing.
//!
//! Every response carries a strict Content-Security-Policy (own scripts only, no inline code,
//! network only to this origin): the pages render user- and model-written text, and the policy
//! is the second line of defence behind their never interpreting it as HTML.

use crate::config::Settings;
use crate::error::ApiError;
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
    /// A quoted hash of `body`, the strong `ETag` of the identity representation.
    pub etag: &'static str,
    /// The same hash suffixed `-gz`, the strong `ETag` of the gzip representation (RFC 9110
    /// §8.8.3: each content coding is its own representation and needs its own validator).
    pub gzip_etag: &'static str,
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
    ApiError::unknown_route(method, uri.path()).into_response()
}

/// `asset`, gzipped when the client accepts it, or 304 when the client's copy of the
/// representation that would be sent is current. `no-cache`: browsers keep the files but
/// revalidate them (a cheap 304), since their names do not change when a new binary changes them.
fn serve(asset: &Asset, headers: &HeaderMap) -> Response {
    let gzip = accepts_gzip(headers);
    let etag = if gzip { asset.gzip_etag } else { asset.etag };
    let mut res = if none_match_fails(headers, etag) {
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
    h.insert(header::ETAG, HeaderValue::from_static(etag));
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

/// Whether `If-None-Match` makes a GET or HEAD of the representation tagged `etag` a 304
/// (RFC 9110 §13.1.2): the field is `*` (the resource exists), or one of its entity-tags
/// matches `etag` by weak comparison (`W/` ignored on either side). A malformed field is
/// ignored from the point it stops parsing, so it can only ever cost a full response.
fn none_match_fails(headers: &HeaderMap, etag: &str) -> bool {
    let wanted = etag.trim_start_matches("W/");
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.trim() == "*" || entity_tags(v).any(|t| t == wanted))
}

/// The opaque tags (with their quotes, without any `W/`) of a list of entity-tags, up to the
/// first malformed element. Tags may hold commas, so the list is scanned, not split.
fn entity_tags(mut list: &str) -> impl Iterator<Item = &str> {
    std::iter::from_fn(move || {
        list = list.trim_start_matches([' ', '\t', ',']);
        let rest = list.strip_prefix("W/").unwrap_or(list);
        let body = rest.strip_prefix('"')?;
        let end = body.find('"')?;
        let tag = &rest[..end + 2];
        list = &body[end + 1..];
        Some(tag)
    })
}

/// The `q` of one `Accept-Encoding` element's parameters: 1 when absent, `None` when invalid
/// (RFC 9110 §12.4.2: 0 to 1 with at most three decimals; the name is case-insensitive).
fn qvalue<'a>(mut params: impl Iterator<Item = &'a str>) -> Option<f32> {
    let Some(q) = params.find_map(|p| {
        let (name, value) = p.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("q")
            .then_some(value.trim())
    }) else {
        return Some(1.0);
    };
    let (int, frac) = q.split_once('.').unwrap_or((q, ""));
    let well_formed = matches!(int, "0" | "1")
        && frac.len() <= 3
        && frac.bytes().all(|b| b.is_ascii_digit())
        && (int == "0" || frac.bytes().all(|b| b == b'0'));
    well_formed.then(|| q.parse().ok()).flatten()
}

/// Whether `Accept-Encoding` makes gzip acceptable (RFC 9110 §12.5.3): its `q` if it is named
/// (`gzip` or `x-gzip`, any case), else that of `*`, must be above 0. An explicit `gzip;q=0`
/// thus refuses it whatever `*` says; an element with an invalid `q` counts as a refusal.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let (mut named, mut any): (Option<f32>, Option<f32>) = (None, None);
    for item in headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or_default().trim();
        let q = qvalue(parts).unwrap_or(0.0);
        let slot = if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            &mut named
        } else if coding == "*" {
            &mut any
        } else {
            continue;
        };
        // Named twice: the most cautious wins.
        *slot = Some(slot.map_or(q, |s| s.min(q)));
    }
    named.or(any).is_some_and(|q| q > 0.0)
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
    fn an_explicit_gzip_refusal_overrides_the_wildcard() {
        for refused in [
            "gzip;q=0, *",
            "*, gzip;q=0",
            "gzip; Q=0, *",
            "GZIP ; q = 0 , *",
            "gzip;q=0.000, *;q=1",
            "x-gzip;q=0, *",
            "*;q=0",
            "gzip;q=0.0001",
            "gzip;q=abc",
            "gzip;q=1.5",
            "identity",
        ] {
            assert!(!accepts_gzip(&with(refused)), "{refused:?} accepted gzip");
        }
        for accepted in [
            "gzip;q=0.001",
            "gzip ; Q=1.000",
            "*;q=0.5",
            "br;q=0, *",
            "x-gzip",
            "\tgzip\t",
        ] {
            assert!(accepts_gzip(&with(accepted)), "{accepted:?} refused gzip");
        }
    }

    #[test]
    fn if_none_match_lists_wildcards_and_weak_tags() {
        let tag = "\"abc\"";
        let inm = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(
                header::IF_NONE_MATCH,
                HeaderValue::from_str(v).expect("header"),
            );
            none_match_fails(&h, tag)
        };
        for hit in [
            "\"abc\"",
            "W/\"abc\"",
            "*",
            " * ",
            "\"x\", \"abc\"",
            "\"x,y\",W/\"abc\"",
            "\"x\" ,\t\"abc\" , ",
        ] {
            assert!(inm(hit), "{hit:?} did not match");
        }
        for miss in ["\"abc-gz\"", "abc", "\"ab\"", "\"x\", *", "w/\"abc\"", ""] {
            assert!(!inm(miss), "{miss:?} matched");
        }
        assert!(!none_match_fails(&HeaderMap::new(), tag));
    }

    #[test]
    fn each_coding_has_its_own_strong_tag() {
        for a in ASSETS {
            assert!(a.etag.starts_with('"') && a.etag.ends_with('"'));
            assert_eq!(a.gzip_etag, format!("{}-gz\"", &a.etag[..a.etag.len() - 1]));
        }
    }

    #[test]
    fn the_page_and_its_scripts_are_embedded() {
        for name in ["index.html", "app.js", "app.css"] {
            let a = find(name).unwrap_or_else(|| panic!("{name} is not embedded"));
            assert!(!a.body.is_empty() && a.gzip.len() < a.body.len());
        }
    }
}
