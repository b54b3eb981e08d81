//! Request extractors that answer every rejection with the OpenAI error envelope: JSON bodies
//! (strict: right content type, valid JSON, known fields, right types) and list query strings.

use crate::error::{ApiError, ErrorKind, TOO_LARGE, quote};
use assistd_core::{ListParams, Order};
use assistd_wire::ApiVersion;
use assistd_wire::version::{WRONG_VERSION, mode, with_version};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

/// A JSON body deserialized strictly into `T`.
pub struct ApiJson<T>(pub T);

/// A JSON body that may be absent (an empty body is `T::default()`).
pub struct OptionalJson<T>(pub T);

const NOT_JSON: &str = "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)";

async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<(bool, Bytes), ApiError> {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        });
    let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(ErrorKind::RequestTooLarge, TOO_LARGE)
        } else {
            ApiError::invalid(rejection.body_text(), None)
        }
    })?;
    Ok((is_json, bytes))
}

fn require_json_type(is_json: bool) -> Result<(), ApiError> {
    if is_json {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "Invalid Content-Type header, expected 'application/json'.",
            None,
        ))
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let version = request_version(&req);
        let (is_json, bytes) = body_bytes(req, state).await?;
        require_json_type(is_json)?;
        with_version(version, || parse_json(&bytes)).map(ApiJson)
    }
}

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let version = request_version(&req);
        let (is_json, bytes) = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        require_json_type(is_json)?;
        with_version(version, || parse_json(&bytes)).map(OptionalJson)
    }
}

/// The API version `auth::authenticate` found (v1 on routes outside it).
fn request_version(req: &Request) -> ApiVersion {
    req.extensions()
        .get::<ApiVersion>()
        .copied()
        .unwrap_or_default()
}

/// Deserializes `bytes`, naming the offending field in OpenAI's words on failure.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every request body of the API is an object; serde would otherwise read a JSON array
    // positionally into a struct's fields.
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        Some(b'[' | b'"' | b't' | b'f' | b'n' | b'-' | b'0'..=b'9') => {
            return Err(ApiError::invalid(
                "Invalid request body: expected a JSON object.",
                None,
            ));
        }
        _ => return Err(ApiError::invalid(NOT_JSON, None)),
    }
    if has_escaped_nul(bytes) {
        return Err(ApiError::invalid(
            "Invalid request body: strings cannot contain the null character (\\u0000).",
            None,
        ));
    }
    // The common case, a valid body, parses without tracking the path; only a rejected body is
    // parsed again with the path tracked, to name the offending field. (`from_slice` also
    // rejects anything but whitespace after the document.)
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        json_error(&path, &inner)
    })?;
    // A valid document followed by anything but whitespace is not JSON either.
    de.end().map_err(|_| ApiError::invalid(NOT_JSON, None))?;
    Ok(value)
}

/// Whether a JSON document holds `\u0000` (NUL can only arrive escaped: raw control characters
/// are not valid JSON). PostgreSQL cannot store NUL in text, so it is refused on every backend
/// alike. `\\u0000` (an escaped backslash, then `u0000`) is text, not NUL: an escape counts only
/// after an odd number of backslashes.
fn has_escaped_nul(bytes: &[u8]) -> bool {
    let mut i = 0;
    while let Some(pos) = bytes[i..].iter().position(|&b| b == b'\\') {
        let start = i + pos;
        let run = bytes[start..].iter().take_while(|&&b| b == b'\\').count();
        let after = start + run;
        if run % 2 == 1
            && bytes
                .get(after..after + 5)
                .is_some_and(|u| u.eq_ignore_ascii_case(b"u0000"))
        {
            return true;
        }
        i = after;
    }
    false
}

/// `path` extended by `field`, unless the path already ends at it (`serde_path_to_error` includes
/// an unknown field in the path for plain structs, but not inside internally tagged enums).
fn join(path: &str, field: &str) -> String {
    if path == field || path.ends_with(&format!(".{field}")) {
        path.to_owned()
    } else if path.is_empty() || path == "." {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

fn between_backticks(msg: &str) -> Option<&str> {
    let start = msg.find('`')? + 1;
    let len = msg[start..].find('`')?;
    Some(&msg[start..start + len])
}

fn json_error(path: &str, e: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    if matches!(
        e.classify(),
        Category::Syntax | Category::Eof | Category::Io
    ) {
        return ApiError::invalid(NOT_JSON, None);
    }
    let msg = e.to_string();
    // serde_json appends " at line L column C"; the position means nothing to API users.
    let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
    let param = (!path.is_empty() && path != ".").then(|| path.to_owned());
    if msg.starts_with("unknown field") {
        let field = between_backticks(&msg).unwrap_or_default();
        let p = join(path, field);
        return ApiError::invalid(
            format!("Unrecognized request argument supplied: {p}"),
            Some(p),
        );
    }
    if msg == WRONG_VERSION {
        let hint = match mode() {
            assistd_wire::version::Mode::Api(ApiVersion::V2) => {
                "an Assistants v1 argument; this request is v2 ('OpenAI-Beta: assistants=v2')"
            }
            _ => "an Assistants v2 argument: send 'OpenAI-Beta: assistants=v2' to use it",
        };
        return ApiError::invalid(
            format!("Unrecognized request argument supplied: {path} ({hint})."),
            param,
        );
    }
    if msg.starts_with("missing field") {
        let field = between_backticks(&msg).unwrap_or_default();
        let p = join(path, field);
        return ApiError::invalid(format!("Missing required parameter: '{p}'."), Some(p));
    }
    if msg.starts_with("invalid type") && param.is_none() {
        return ApiError::invalid(
            format!("Invalid request body: {msg}. Expected a JSON object."),
            None,
        );
    }
    if msg.starts_with("unknown variant") || msg.starts_with("data did not match") {
        let shown = param.as_deref().unwrap_or("body");
        let detail = if msg.starts_with("data did not match") {
            "not one of the accepted forms".to_owned()
        } else {
            msg.clone()
        };
        return ApiError::invalid(format!("Invalid value for '{shown}': {detail}."), param);
    }
    let shown = param.as_deref().unwrap_or("body");
    // "invalid type: integer `1`, expected a string" reads better the other way round.
    let detail = msg
        .strip_prefix("invalid type: ")
        .and_then(|rest| rest.split_once(", expected "))
        .map(|(got, expected)| format!("expected {expected}, but got {got} instead"))
        .unwrap_or(msg);
    ApiError::invalid(format!("Invalid type for '{shown}': {detail}."), param)
}

/// Raw query parameters, parsed without rejecting duplicates or unknown names (OpenAI ignores
/// parameters it does not know).
pub struct RawQuery(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for RawQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(q)
            .map(RawQuery)
            .map_err(|_| ApiError::invalid("The query string could not be parsed.", None))
    }
}

impl RawQuery {
    /// The last value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A non-empty string parameter.
    pub fn string(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some("") => Err(ApiError::invalid(
                format!("Invalid '{name}': empty string. Expected a non-empty value."),
                Some(name.to_owned()),
            )),
            Some(v) => Ok(Some(v.to_owned())),
        }
    }

    /// `limit` (1 to 100, 20 by default), `order`, `after` and `before`.
    pub fn list_params(&self) -> Result<ListParams, ApiError> {
        self.list_params_up_to(100, ListParams::default().limit)
    }

    /// `limit` (1 to `max`, `default` when absent), `order`, `after` and `before`.
    pub fn list_params_up_to(&self, max: u32, default: u32) -> Result<ListParams, ApiError> {
        let mut p = ListParams {
            limit: default,
            ..ListParams::default()
        };
        if let Some(l) = self.get("limit") {
            let n: i64 = l.parse().map_err(|_| {
                ApiError::invalid(
                    format!(
                        "Invalid 'limit': expected an integer, but got '{}' instead.",
                        quote(l)
                    ),
                    Some("limit".to_owned()),
                )
            })?;
            if n < 1 {
                return Err(ApiError::invalid(
                    format!(
                        "Invalid 'limit': integer below minimum value. Expected a value >= 1, but got {n} instead."
                    ),
                    Some("limit".to_owned()),
                ));
            }
            let Ok(n) = u32::try_from(n)
                .map_err(drop)
                .and_then(|n| if n <= max { Ok(n) } else { Err(()) })
            else {
                return Err(ApiError::invalid(
                    format!(
                        "Invalid 'limit': integer above maximum value. Expected a value <= {max}, but got {n} instead."
                    ),
                    Some("limit".to_owned()),
                ));
            };
            p.limit = n;
        }
        if let Some(o) = self.get("order") {
            p.order = match o {
                "asc" => Order::Asc,
                "desc" => Order::Desc,
                other => {
                    return Err(ApiError::invalid(
                        format!(
                            "Invalid value for 'order': expected one of 'asc' or 'desc', but got '{}' instead.",
                            quote(other)
                        ),
                        Some("order".to_owned()),
                    ));
                }
            };
        }
        p.after = self.string("after")?;
        p.before = self.string("before")?;
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::has_escaped_nul;

    #[test]
    fn escaped_nul_is_found_but_escaped_backslashes_are_text() {
        assert!(has_escaped_nul(br#"{"a":"x\u0000y"}"#));
        assert!(has_escaped_nul(br#"{"a":"\\\u0000"}"#));
        assert!(has_escaped_nul(br#"{"a":"\U0000"}"#));
        assert!(!has_escaped_nul(br#"{"a":"\\u0000"}"#));
        assert!(
            has_escaped_nul(br#"{"a":"\u00001"}"#),
            "NUL followed by '1'"
        );
        assert!(!has_escaped_nul(br#"{"a":"\u0001"}"#));
        assert!(!has_escaped_nul(br#"{"a":"ends with \\"}"#));
    }
}
