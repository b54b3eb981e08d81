//! Masks secrets in text bound for the operator's log: upstream error bodies and transport
//! errors can carry the upstream key (an upstream that echoes its `Authorization` header),
//! bearer tokens, `sk-…` keys, and URLs with passwords or signed query strings. Tenants never
//! see this text at all; the operator sees it with those parts replaced by `<redacted>`.

use regex::Regex;
use std::sync::LazyLock;

/// What replaces a secret.
pub const REDACTED: &str = "<redacted>";

/// The longest upstream text the log keeps: an error body is evidence, not a payload.
const MAX_LOGGED: usize = 2048;

static PATTERNS: LazyLock<[(Regex, &'static str); 4]> = LazyLock::new(|| {
    let re = |p: &str| Regex::new(p).expect("a valid built-in pattern");
    [
        // `Bearer <token>`, `Basic <token>` (header echoes, error messages).
        (
            re(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]+"),
            "$1 <redacted>",
        ),
        // OpenAI-style keys (`sk-…`, `sk-proj-…`) wherever they appear.
        (re(r"\bsk-[A-Za-z0-9_\-]{6,}"), "sk-<redacted>"),
        // URL userinfo: `scheme://user:password@host`.
        (
            re(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s@'\x22<>]+@"),
            "${1}<redacted>@",
        ),
        // Query parameters that are credentials (`?api_key=`, `&sig=`, `token=`, ...).
        (
            re(
                r"(?i)([?&;](?:[a-z0-9_\-]*(?:key|token|secret|passw(?:or)?d|sig|signature|auth|credential)[a-z0-9_\-]*)=)[^&#\s'\x22<>]+",
            ),
            "${1}<redacted>",
        ),
    ]
});

/// `text` with `secrets` (e.g. the upstream's key) and anything that looks like a credential
/// replaced by `<redacted>`, cut to a loggable length.
pub fn mask_secrets(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(s, REDACTED);
    }
    for (re, with) in PATTERNS.iter() {
        if let std::borrow::Cow::Owned(replaced) = re.replace_all(&out, *with) {
            out = replaced;
        }
    }
    if out.len() > MAX_LOGGED {
        let mut end = MAX_LOGGED;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push_str("…(cut)");
    }
    out
}

/// `url` without its userinfo and query: what a log line may name of an upstream.
pub fn loggable_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.to_string()
        }
        Err(_) => mask_secrets(url, &[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_tokens_and_url_secrets_are_masked() {
        let body = r#"{"error":{"message":"bad key","headers":{"authorization":"Bearer op-key-123456"}},"echo":"opkey-7890 sk-proj-abcdefgh12345 see https://bob:hunter2@up.example/v1?api_key=zzz&x=1&sig=qqq"}"#;
        let m = mask_secrets(body, &["opkey-7890"]);
        for secret in [
            "op-key-123456",
            "opkey-7890",
            "abcdefgh12345",
            "hunter2",
            "zzz",
            "qqq",
        ] {
            assert!(!m.contains(secret), "{secret} in {m}");
        }
        assert!(m.contains("Bearer <redacted>"), "{m}");
        assert!(
            m.contains("https://<redacted>@up.example/v1?api_key=<redacted>&x=1"),
            "{m}"
        );
        assert!(m.contains("bad key"), "the rest stays readable: {m}");
    }

    #[test]
    fn long_text_is_cut_on_a_char_boundary() {
        let m = mask_secrets(&"é".repeat(5000), &[]);
        assert!(m.len() < 2100 && m.ends_with("(cut)"));
    }

    #[test]
    fn loggable_urls_lose_userinfo_and_query() {
        assert_eq!(
            loggable_url("https://u:p@api.example.com/v1/chat/completions?key=k"),
            "https://api.example.com/v1/chat/completions"
        );
    }
}
