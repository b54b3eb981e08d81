//! The first request a user makes, end to end.

use crate::common::TestApp;
use serde_json::json;

#[tokio::test]
async fn create_and_retrieve_an_assistant() {
    let app = TestApp::spawn().await;
    let created = app
        .post(
            "/assistants",
            json!({"model": "gpt-4", "name": "Math tutor"}),
        )
        .await
        .ok();
    assert!(created["id"].as_str().unwrap().starts_with("asst_"));
    let id = created["id"].as_str().unwrap();
    let got = app.get(&format!("/assistants/{id}")).await.ok();
    assert_eq!(got, created);
    app.stop().await;
}
