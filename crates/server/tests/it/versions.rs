//! The `OpenAI-Beta` switch: which API version a request gets, per request.

use crate::common::TestApp;
use reqwest::Method;

#[tokio::test]
async fn the_header_picks_the_version_per_request() {
    let app = TestApp::spawn().await;
    // No version at all is v1, as it always was.
    let res = app
        .run_request(app.http.get(app.url("/assistants")).bearer_auth(&app.key))
        .await;
    assert_eq!(res.status, 200, "{:?}", res.json);
    for beta in ["assistants=v1", "assistants=v2", "foo=bar, assistants=v2"] {
        let res = app
            .send_as(&app.key, beta, Method::GET, "/assistants", None)
            .await;
        assert_eq!(res.status, 200, "{beta}: {:?}", res.json);
    }
    for beta in ["assistants=v3", "assistants=v1, assistants=v2"] {
        let err = app
            .send_as(&app.key, beta, Method::GET, "/assistants", None)
            .await
            .err(400);
        assert_eq!(err["code"], "unsupported_api_version", "{beta}");
    }
}

#[tokio::test]
async fn v1_only_operations_are_unknown_routes_in_v2() {
    let app = TestApp::spawn().await;
    let asst = app.assistant().await;
    let path = format!("/assistants/{asst}/files");
    let err = app.v2().get(&path).await.err(404);
    assert_eq!(err["message"], format!("Invalid URL (GET /v1{path})."));
    app.get(&path).await.ok();
}
