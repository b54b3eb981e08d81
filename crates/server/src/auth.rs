//! Authentication (`Authorization: Bearer <key>` → [`Project`]), open mode's guard against web
//! pages, and the `OpenAI-Beta` version check, as one middleware in front of every `/v1` route.

use crate::config::ApiKey;
use crate::error::{ApiError, ErrorKind};
use crate::limits::Limits;
use assistd_core::Project;
use assistd_wire::ApiVersion;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// The project every request uses when no keys are configured.
pub const OPEN_PROJECT: &str = "default";

/// Maps keys to projects. Keys are held as SHA-256 digests and looked up by digest, so the
/// lookup's timing says nothing about how much of a guessed key was right.
#[derive(Debug, Clone)]
pub struct Auth {
    keys: Arc<HashMap<[u8; 32], Project>>,
    limits: Arc<Limits>,
}

impl Auth {
    /// From the configured keys (none means open mode), blocking addresses as `limits` say.
    pub fn new(keys: &[ApiKey], limits: Arc<Limits>) -> Self {
        let keys = keys
            .iter()
            .map(|k| (digest(k.secret()), Project::new(k.project())))
            .collect();
        Self {
            keys: Arc::new(keys),
            limits,
        }
    }

    /// Whether any key is accepted.
    pub fn is_open(&self) -> bool {
        self.keys.is_empty()
    }

    fn project(&self, headers: &HeaderMap) -> Result<Project, ApiError> {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .filter(|k| !k.is_empty());
        if self.is_open() {
            return Ok(Project::new(OPEN_PROJECT));
        }
        let Some(key) = presented else {
            return Err(ApiError::new(
                ErrorKind::MissingApiKey,
                "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            ));
        };
        self.keys.get(&digest(key)).cloned().ok_or_else(|| {
            ApiError::new(
                ErrorKind::InvalidApiKey,
                format!("Incorrect API key provided: {}.", mask(key)),
            )
        })
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Shows the start and end of a key, as OpenAI does, never the whole.
fn mask(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

/// Open mode trusts whoever reaches the loopback port, and that includes every web page the
/// developer's browser loads: a page can send requests to `127.0.0.1` (its `Origin` names the
/// page), or point its own domain at `127.0.0.1` by DNS rebinding (its `Host` keeps that
/// domain). So open mode serves only loopback names (`localhost`, `127.0.0.0/8`, `[::1]`, any
/// port) and, from browsers, only pages served from such names. Clients without `Origin` (SDKs,
/// curl) are unaffected.
fn check_local(req: &Request) -> Result<(), ApiError> {
    let headers = req.headers();
    let host = req
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            headers
                .get(header::HOST)
                .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned())
        });
    if let Some(host) = host
        && !is_loopback_origin(&format!("http://{host}"))
    {
        return Err(ApiError::new(
            ErrorKind::ForbiddenOrigin,
            "This server runs without API keys, so it only answers requests addressed to localhost or a loopback address. Use such an address, or configure API keys.",
        ));
    }
    let cross_site = || {
        headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
    };
    let trusted = match headers.get(header::ORIGIN) {
        Some(origin) => origin.to_str().is_ok_and(is_loopback_origin),
        None => !cross_site(),
    };
    if trusted {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorKind::ForbiddenOrigin,
            "This server runs without API keys, so it does not answer requests from web pages of other sites. Configure API keys to allow them.",
        ))
    }
}

/// Whether `origin` (`scheme://host[:port]`) names a loopback host.
fn is_loopback_origin(origin: &str) -> bool {
    match url::Url::parse(origin)
        .ok()
        .and_then(|u| u.host().map(|h| h.to_owned()))
    {
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost") || d.eq_ignore_ascii_case("localhost.")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.to_canonical().is_loopback(),
        None => false,
    }
}

/// The API version `OpenAI-Beta` asks for: `assistants=v1`, `assistants=v2`, or v1 when the
/// header names no assistants version.
fn api_version(headers: &HeaderMap) -> Result<ApiVersion, ApiError> {
    let mut found: Option<ApiVersion> = None;
    for value in headers.get_all("openai-beta") {
        let value = value.to_str().unwrap_or_default();
        for token in value.split(',').map(str::trim) {
            let Some(version) = token.strip_prefix("assistants=") else {
                continue;
            };
            let version = match version {
                "v1" => ApiVersion::V1,
                "v2" => ApiVersion::V2,
                _ => {
                    return Err(ApiError::new(
                        ErrorKind::UnsupportedApiVersion,
                        format!(
                            "Invalid 'OpenAI-Beta' header: this server speaks 'assistants=v1' and 'assistants=v2', not '{token}'."
                        ),
                    ));
                }
            };
            if found.is_some_and(|f| f != version) {
                return Err(ApiError::new(
                    ErrorKind::UnsupportedApiVersion,
                    "Invalid 'OpenAI-Beta' header: it names both 'assistants=v1' and 'assistants=v2'; send one.",
                ));
            }
            found = Some(version);
        }
    }
    Ok(found.unwrap_or_default())
}

/// The middleware: authenticates, reads the API version, and hands both to handlers.
pub async fn authenticate(
    State(auth): State<Auth>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if auth.is_open() {
        check_local(&req)?;
    }
    // The peer's address, where the listener provides it (`app::start` does).
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(ip) = peer {
        auth.limits.auth().check(ip)?;
    }
    let project = auth.project(req.headers()).inspect_err(|e| {
        if let (Some(ip), ErrorKind::InvalidApiKey) = (peer, e.kind) {
            auth.limits.auth().failed(ip);
        }
    })?;
    let version = api_version(req.headers())?;
    req.extensions_mut().insert(project);
    req.extensions_mut().insert(version);
    Ok(next.run(req).await)
}

/// The caller's project, put in place by [`authenticate`].
pub struct Caller(pub Project);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Project>()
            .cloned()
            .map(Caller)
            .ok_or_else(|| ApiError::internal(&"route is missing the authentication layer"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keys() {
        assert_eq!(mask("sk-abcdefghijkl"), "sk-********ijkl");
        assert_eq!(mask("short"), "*****");
    }

    #[test]
    fn loopback_origins() {
        for ok in [
            "http://localhost",
            "http://LOCALHOST:3000",
            "http://127.0.0.1:8080",
            "http://127.0.0.2",
            "http://[::1]:8080",
            "https://localhost.",
        ] {
            assert!(is_loopback_origin(ok), "{ok}");
        }
        for bad in [
            "https://evil.example",
            "http://evil.example:8080",
            "http://localhost.evil.example",
            "http://127.0.0.1.nip.io",
            "http://10.0.0.1",
            "null",
            "",
            "http://",
        ] {
            assert!(!is_loopback_origin(bad), "{bad}");
        }
    }

    #[test]
    fn beta_header() {
        let version = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert("openai-beta", v.parse().unwrap());
            api_version(&h).map_err(|e| e.kind)
        };
        assert_eq!(api_version(&HeaderMap::new()).unwrap(), ApiVersion::V1);
        assert_eq!(version("assistants=v1"), Ok(ApiVersion::V1));
        assert_eq!(version("other=x, assistants=v2"), Ok(ApiVersion::V2));
        assert_eq!(version("other=x"), Ok(ApiVersion::V1));
        assert_eq!(
            version("assistants=v3"),
            Err(ErrorKind::UnsupportedApiVersion)
        );
        assert_eq!(
            version("assistants=v1,assistants=v2"),
            Err(ErrorKind::UnsupportedApiVersion)
        );
        let mut h = HeaderMap::new();
        h.append("openai-beta", "assistants=v2".parse().unwrap());
        h.append("openai-beta", "assistants=v2".parse().unwrap());
        assert_eq!(api_version(&h).unwrap(), ApiVersion::V2);
    }
}
