//! Connections under abuse, over raw sockets: half-sent headers, idle keep-alives and dripped
//! bodies are cut by their deadlines; at the connection cap, slow clients give way so that
//! `/healthz` still answers; a long stream is never taken for an idle connection, but a client
//! that stops reading its response is.

use crate::common::{KEY_A, TestApp};
use crate::streaming::Reader;
use assistd_test_support::upstream::{FakeUpstream, Reply};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Generous: these tests assert that a connection is closed at all, not how promptly.
const CLOSE_WITHIN: Duration = Duration::from_secs(10);

async fn connect(app: &TestApp) -> TcpStream {
    let addr = app.base.trim_start_matches("http://");
    TcpStream::connect(addr).await.expect("connect")
}

/// Reads until the server closes the connection (end of stream or reset), returning what it
/// sent; `None` if it is still open after `within`.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(within, read).await.ok()?;
    Some(got)
}

/// Whether the server has closed `stream` (looking for at most `wait`).
async fn is_closed(stream: &mut TcpStream, wait: Duration) -> bool {
    read_until_closed(stream, wait).await.is_some()
}

/// Sends a whole `GET /healthz` and reads its response, leaving the connection open.
async fn healthz_on(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // `{"status":"ok"}` ends the response.
    while !got.ends_with(b"}") {
        let n = tokio::time::timeout(CLOSE_WITHIN, stream.read(&mut buf))
            .await
            .expect("response in time")
            .expect("read");
        assert!(n > 0, "closed before the response: {got:?}");
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// A connection that starts a request and never finishes its headers.
async fn slowloris(app: &TestApp) -> TcpStream {
    let mut s = connect(app).await;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .expect("write");
    s
}

#[tokio::test]
async fn half_sent_headers_are_closed_after_the_header_timeout() {
    let app = TestApp::builder()
        .with(|s| {
            s.header_timeout_secs = 0.5;
            s.idle_timeout_secs = 60.0;
        })
        .spawn()
        .await;
    let started = Instant::now();
    let mut s = slowloris(&app).await;
    let sent = read_until_closed(&mut s, CLOSE_WITHIN)
        .await
        .expect("half-sent headers are cut");
    assert!(sent.is_empty(), "no response to a request never sent");
    assert!(started.elapsed() >= Duration::from_millis(400));

    // On a kept-alive connection the next request's headers have the same deadline, counted
    // from their first byte, even though the idle timeout is long.
    let mut s = connect(&app).await;
    assert!(healthz_on(&mut s).await.starts_with("HTTP/1.1 200"));
    s.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    assert!(
        is_closed(&mut s, CLOSE_WITHIN).await,
        "the second request's headers are cut too"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_is_closed_after_the_idle_timeout_not_before() {
    let app = TestApp::builder()
        .with(|s| {
            s.header_timeout_secs = 30.0;
            s.idle_timeout_secs = 0.5;
        })
        .spawn()
        .await;
    let mut s = connect(&app).await;
    assert!(healthz_on(&mut s).await.starts_with("HTTP/1.1 200"));
    assert!(
        is_closed(&mut s, CLOSE_WITHIN).await,
        "an idle keep-alive is closed"
    );

    // The idle timeout is its own setting: a long one keeps the connection past a short header
    // timeout.
    let app2 = TestApp::builder()
        .with(|s| {
            s.header_timeout_secs = 0.5;
            s.idle_timeout_secs = 30.0;
        })
        .spawn()
        .await;
    let mut s = connect(&app2).await;
    assert!(healthz_on(&mut s).await.starts_with("HTTP/1.1 200"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        healthz_on(&mut s).await.starts_with("HTTP/1.1 200"),
        "still open after idling longer than the header timeout"
    );
    app.stop().await;
    app2.stop().await;
}

#[tokio::test]
async fn a_dripped_body_gets_408_and_the_connection_closes() {
    let app = TestApp::builder()
        .with(|s| s.body_timeout_secs = 0.5)
        .spawn()
        .await;
    let s = connect(&app).await;
    let (mut rd, mut wr) = s.into_split();
    let head = format!(
        "POST /v1/threads HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {KEY_A}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{"
    );
    wr.write_all(head.as_bytes()).await.unwrap();
    // One byte every 100 ms: 1,000 bytes would take 100 s.
    let drip = tokio::spawn(async move {
        for _ in 0..200 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if wr.write_all(b" ").await.is_err() {
                return;
            }
        }
    });
    let started = Instant::now();
    let mut got = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        while let Ok(n) = rd.read(&mut buf).await {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(CLOSE_WITHIN, read)
        .await
        .expect("a dripped body is cut");
    drip.abort();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("x-request-id: req_"),
        "{text}"
    );
    let body = &text[text.find("\r\n\r\n").expect("headers end") + 4..];
    let err: serde_json::Value = serde_json::from_str(body).expect("JSON envelope");
    assert_eq!(err["error"]["type"], "invalid_request_error", "{err}");
    assert!(started.elapsed() < CLOSE_WITHIN);
    app.stop().await;
}

#[tokio::test]
async fn at_the_connection_cap_slow_clients_give_way_and_healthz_answers() {
    const CAP: usize = 8;
    const EXTRA: usize = 4;
    let app = TestApp::builder()
        .with(|s| {
            s.max_connections = CAP;
            // Long: only the cap, not a deadline, may close these connections.
            s.header_timeout_secs = 60.0;
            s.idle_timeout_secs = 60.0;
        })
        .spawn()
        .await;
    // An attacker holds CAP + EXTRA connections that never finish their headers, and keeps
    // opening more; each time, the health check still answers.
    for round in 0..3 {
        let mut held = Vec::new();
        for _ in 0..CAP + EXTRA {
            held.push(slowloris(&app).await);
            // Accepted in order, so the oldest are the ones evicted.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let health = tokio::time::timeout(
            CLOSE_WITHIN,
            reqwest::Client::new()
                .get(format!("{}/healthz", app.base))
                .send(),
        )
        .await
        .unwrap_or_else(|_| panic!("round {round}: /healthz timed out"))
        .expect("healthz answered");
        assert_eq!(health.status(), 200, "round {round}");
        // CAP + EXTRA + 1 connections came to a server that holds CAP: at least EXTRA + 1
        // slowloris connections were closed, the oldest first, and the newest is still open.
        let mut closed = Vec::new();
        for (i, s) in held.iter_mut().enumerate() {
            if is_closed(s, Duration::from_millis(200)).await {
                closed.push(i);
            }
        }
        assert!(closed.len() > EXTRA, "round {round}: closed {closed:?}");
        assert!(closed.contains(&0), "round {round}: closed {closed:?}");
        assert!(
            !closed.contains(&(CAP + EXTRA - 1)),
            "round {round}: closed {closed:?}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_stream_longer_than_the_idle_timeout_completes_under_a_flood() {
    let up = FakeUpstream::start().await;
    up.push(Reply::Text {
        chunks: (0..8).map(|i| format!("w{i} ")).collect(),
        delay: Duration::from_millis(250),
        finish: "stop",
    });
    let url = up.url.clone();
    let app = TestApp::builder()
        .with(move |s| {
            s.workers = 1;
            s.upstream_url = Some(url);
            s.header_timeout_secs = 0.3;
            s.idle_timeout_secs = 0.3;
            s.body_timeout_secs = 0.3;
            s.max_connections = 8;
        })
        .spawn()
        .await;
    let asst = app.assistant().await;
    let thread = app.thread().await;
    app.message(&thread, "hello").await;
    let mut reader = Reader::open(
        &app,
        &format!("/threads/{thread}/runs"),
        json!({"assistant_id": asst, "stream": true}),
    )
    .await;
    // The stream takes about 2 s, well past every timeout, while slow clients fill the cap.
    let mut flood = Vec::new();
    for _ in 0..12 {
        flood.push(slowloris(&app).await);
    }
    let mut names = Vec::new();
    while let Some(ev) = reader.next().await {
        names.push(ev.name);
    }
    let deltas = names
        .iter()
        .filter(|n| *n == "thread.message.delta")
        .count();
    assert_eq!(deltas, 8, "{names:?}");
    assert!(
        names.iter().any(|n| n == "thread.run.completed"),
        "{names:?}"
    );
    assert_eq!(names.last().map(String::as_str), Some("done"), "{names:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_its_response_is_cut_after_the_idle_timeout() {
    let app = TestApp::builder()
        .with(|s| {
            s.idle_timeout_secs = 1.0;
            s.max_upload_bytes = 64 << 20;
        })
        .spawn()
        .await;
    // Far more than the socket buffers on both ends can hold.
    let size = 32 << 20;
    let file = app.upload("big.txt", vec![b'x'; size], "assistants").await;
    assert_eq!(file.status, 200, "{:?}", file.json);
    let id = file.json["id"].as_str().expect("file id").to_owned();

    let mut s = connect(&app).await;
    s.write_all(
        format!(
            "GET /v1/files/{id}/content HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {KEY_A}\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .expect("write");
    // Read nothing for well over the idle timeout: the server's writes stall...
    tokio::time::sleep(Duration::from_secs(4)).await;
    // ...and it gives up on the connection rather than hold it (and its slot) for ever.
    let got = read_until_closed(&mut s, CLOSE_WITHIN)
        .await
        .expect("the server closed the connection");
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&got[..got.len().min(200)])
    );
    assert!(
        got.len() < size,
        "cut short: {} of {size} bytes arrived",
        got.len()
    );

    // A client that reads gets the whole file.
    let whole = app.get(&format!("/files/{id}/content")).await;
    assert_eq!(whole.bytes.len(), size);
    app.stop().await;
}
