//! The browser playground at `/`: served without a key, with its security headers, gzipped and
//! revalidated by `ETag`, small enough for a fast first load, and gone when the setting is off.
//! (What it does in a browser is tested in `conformance/playground`.)

use crate::common::*;
use reqwest::StatusCode;

/// The first-load budget of issue 16: everything the page loads, as sent (gzipped).
const FIRST_LOAD_BUDGET: usize = 300 * 1024;

/// What `/` loads: the page, then the files it names.
const PAGE_FILES: &[(&str, &str)] = &[
    ("/playground/app.css", "text/css; charset=utf-8"),
    ("/playground/app.js", "text/javascript; charset=utf-8"),
    ("/playground/dom.js", "text/javascript; charset=utf-8"),
    ("/playground/api.js", "text/javascript; charset=utf-8"),
];

async fn get(app: &TestApp, path: &str, gzip: bool) -> Resp {
    let mut req = app.http.get(format!("{}{path}", app.base));
    if gzip {
        req = req.header("accept-encoding", "gzip, deflate, br");
    }
    app.run_request(req).await
}

#[track_caller]
fn assert_security_headers(res: &Resp) {
    let csp = res.header("content-security-policy").unwrap_or_default();
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "img-src 'self' blob: data:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "CSP {csp:?} lacks {directive:?}");
    }
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
    assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(res.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(res.header("x-frame-options"), Some("DENY"));
    assert_eq!(res.header("cache-control"), Some("no-cache"));
    assert!(res.header("etag").is_some_and(|e| e.starts_with('"')));
}

#[tokio::test]
async fn playground_page_is_served_with_a_strict_policy() {
    let app = TestApp::spawn().await;
    let res = get(&app, "/", false).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(res.header("content-encoding"), None);
    assert_security_headers(&res);
    let html = String::from_utf8(res.bytes.clone()).expect("utf-8");
    assert!(html.contains(r#"<script type="module" src="/playground/app.js"></script>"#));
    // No inline script: the policy would block it, and the page must not need it.
    assert_eq!(html.matches("<script").count(), 1);
    // Every file is named by the page (the modules are preloaded), so none waits on another.
    for (path, _) in PAGE_FILES {
        assert!(html.contains(path), "{path} not linked");
    }
    app.stop().await;
}

#[tokio::test]
async fn playground_files_are_gzipped_typed_and_within_budget() {
    let app = TestApp::spawn().await;
    let page = get(&app, "/", true).await;
    assert_eq!(page.header("content-encoding"), Some("gzip"));
    assert_eq!(page.header("vary"), Some("Accept-Encoding"));
    let mut total = page.bytes.len();
    for (path, content_type) in PAGE_FILES {
        let gz = get(&app, path, true).await;
        assert_eq!(gz.status, StatusCode::OK, "{path}");
        assert_eq!(gz.header("content-type"), Some(*content_type), "{path}");
        assert_eq!(gz.header("content-encoding"), Some("gzip"), "{path}");
        assert_eq!(&gz.bytes[..2], &[0x1f, 0x8b], "{path} is not gzip");
        assert_security_headers(&gz);
        let plain = get(&app, path, false).await;
        assert_eq!(plain.header("content-encoding"), None, "{path}");
        assert!(
            gz.bytes.len() < plain.bytes.len(),
            "{path}: gzip is not smaller"
        );
        // Two representations, two strong validators (RFC 9110 §8.8.3).
        let (gz_tag, plain_tag) = (gz.header("etag").unwrap(), plain.header("etag").unwrap());
        assert_eq!(
            gz_tag,
            format!("{}-gz\"", plain_tag.trim_end_matches('"')),
            "{path}"
        );
        total += gz.bytes.len();
    }
    println!("playground first load: {total} bytes gzipped");
    assert!(
        total <= FIRST_LOAD_BUDGET,
        "first load is {total} bytes, over {FIRST_LOAD_BUDGET}"
    );
    app.stop().await;
}

async fn conditional(app: &TestApp, path: &str, inm: &str, encoding: Option<&str>) -> Resp {
    let mut req = app
        .http
        .get(format!("{}{path}", app.base))
        .header("if-none-match", inm);
    if let Some(e) = encoding {
        req = req.header("accept-encoding", e);
    }
    app.run_request(req).await
}

#[tokio::test]
async fn playground_files_revalidate_by_etag() {
    let app = TestApp::spawn().await;
    let path = "/playground/app.js";
    let gz = get(&app, path, true)
        .await
        .header("etag")
        .expect("etag")
        .to_owned();
    let plain = get(&app, path, false)
        .await
        .header("etag")
        .expect("etag")
        .to_owned();
    let gzip = Some("gzip, deflate, br");
    let weak = |t: &str| format!("W/{t}");
    // 304 when a tag matches the representation that would be served: by weak comparison,
    // anywhere in a list, or `*`; the 304 names that representation's tag.
    for (inm, encoding, tag) in [
        (gz.clone(), gzip, &gz),
        (plain.clone(), None, &plain),
        (weak(&gz), gzip, &gz),
        (format!("\"other\", {}", weak(&plain)), None, &plain),
        (format!("{plain},{gz}"), gzip, &gz),
        ("*".to_owned(), gzip, &gz),
        ("*".to_owned(), None, &plain),
        // An explicit refusal of gzip outweighs `*`: the identity tag is the one that counts.
        (plain.clone(), Some("gzip;q=0, *"), &plain),
    ] {
        let res = conditional(&app, path, &inm, encoding).await;
        assert_eq!(res.status, StatusCode::NOT_MODIFIED, "{inm} / {encoding:?}");
        assert!(res.bytes.is_empty());
        assert_eq!(
            res.header("etag"),
            Some(tag.as_str()),
            "{inm} / {encoding:?}"
        );
        assert_eq!(res.header("vary"), Some("Accept-Encoding"));
    }
    // The other coding's tag does not validate this one: the full body, with its own tag.
    for (inm, encoding, tag, coding) in [
        (&plain, gzip, &gz, Some("gzip")),
        (&gz, None, &plain, None),
        (&gz, Some("gzip;q=0, *"), &plain, None),
        (&gz, Some("GZIP; Q=0.000 , *"), &plain, None),
    ] {
        let res = conditional(&app, path, inm, encoding).await;
        assert_eq!(res.status, StatusCode::OK, "{inm} / {encoding:?}");
        assert!(!res.bytes.is_empty());
        assert_eq!(
            res.header("etag"),
            Some(tag.as_str()),
            "{inm} / {encoding:?}"
        );
        assert_eq!(
            res.header("content-encoding"),
            coding,
            "{inm} / {encoding:?}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn playground_unknown_files_and_methods_get_the_envelope() {
    let app = TestApp::spawn().await;
    for path in [
        "/playground/nope.js",
        "/playground/index.html",
        "/playground/",
    ] {
        let e = get(&app, path, true).await.err(404);
        assert_eq!(e["message"], format!("Invalid URL (GET {path})."));
    }
    app.stop().await;
}

/// Wrong methods on the playground's routes get the same 405 envelope as any other route's
/// (`/healthz`, `/v1/...`), not axum's bare 405.
#[tokio::test]
async fn playground_wrong_methods_get_the_405_envelope() {
    let app = TestApp::spawn().await;
    let call = |method: reqwest::Method, path: &str| {
        app.run_request(app.http.request(method, format!("{}{path}", app.base)))
    };
    let reference = call(reqwest::Method::POST, "/healthz").await;
    assert!(reference.header("x-request-id").is_some());
    let reference = reference.err(405);
    assert_eq!(
        reference["message"],
        "Invalid method for URL (POST /healthz)."
    );
    for (method, path) in [
        (reqwest::Method::POST, "/"),
        (reqwest::Method::PUT, "/"),
        (reqwest::Method::DELETE, "/"),
        (reqwest::Method::PATCH, "/"),
        (reqwest::Method::POST, "/playground/app.js"),
        (reqwest::Method::DELETE, "/playground/app.css"),
        (reqwest::Method::POST, "/playground/nope.js"),
    ] {
        let res = call(method.clone(), path).await;
        assert!(res.header("x-request-id").is_some(), "{method} {path}");
        let e = res.err(405);
        assert_eq!(e["type"], reference["type"], "{method} {path}");
        assert_eq!(e["code"], reference["code"], "{method} {path}");
        assert_eq!(e["param"], reference["param"], "{method} {path}");
        assert_eq!(
            e["message"],
            format!("Invalid method for URL ({method} {path}).")
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn playground_disabled_leaves_the_api_alone() {
    let app = TestApp::builder()
        .with(|s| s.playground.enabled = false)
        .spawn()
        .await;
    for path in ["/", "/playground/app.js"] {
        let e = get(&app, path, true).await.err(404);
        assert_eq!(e["type"], "invalid_request_error");
        assert_eq!(e["message"], format!("Invalid URL (GET {path})."));
    }
    assert_eq!(get(&app, "/healthz", false).await.status, StatusCode::OK);
    app.get("/assistants").await.ok();
    app.stop().await;
}

/// In open mode the page's own fetches (same origin, on a loopback address) reach the API.
#[tokio::test]
async fn playground_same_origin_calls_pass_open_mode() {
    let app = TestApp::builder()
        .with(|s| s.api_keys.clear())
        .spawn()
        .await;
    let res = app
        .run_request(
            app.http
                .get(app.url("/assistants"))
                .header("origin", &app.base)
                .header("sec-fetch-site", "same-origin")
                .header("openai-beta", "assistants=v2"),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.json);
    let page = get(&app, "/", false).await;
    assert_eq!(page.status, StatusCode::OK);
    app.stop().await;
}
