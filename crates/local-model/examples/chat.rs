//! Asks the built-in model one question from the command line and streams the answer, with the
//! timing llama.cpp reports: `cargo run --release -p assistd-local-model --example chat -- \
//! MODEL.gguf "question" [tools.json]`. A quick way to see what a GGUF file does in assistd.

use assistd_core::model::{ChatEvent, ChatMessage, ChatRequest, ModelBackend};
use assistd_local_model::{EngineConfig, LocalModel};
use futures::StreamExt;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: chat MODEL.gguf QUESTION [TOOLS.json]"))?;
    let question = args
        .next()
        .unwrap_or_else(|| "Hello! Who are you?".to_owned());
    let tools = match args.next() {
        Some(f) => serde_json::from_str(&std::fs::read_to_string(f)?)?,
        None => Vec::new(),
    };
    let threads = std::env::var("THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2);
    let model = LocalModel::load(EngineConfig {
        path: path.into(),
        slots: 1,
        threads,
        context_tokens: 4096,
        batch_tokens: 512,
        seed: Some(1),
    })?;
    let req = ChatRequest {
        model: "local".to_owned(),
        messages: vec![ChatMessage::User(question)],
        tools,
        temperature: std::env::var("TEMP").ok().and_then(|t| t.parse().ok()),
        max_tokens: Some(200),
        tool_choice: match std::env::var("FORCE") {
            Ok(name) => assistd_core::model::ToolChoice::Function(name),
            Err(_) => assistd_core::model::ToolChoice::Auto,
        },
        ..ChatRequest::default()
    };
    let started = std::time::Instant::now();
    let mut stream = model.chat(req).await?;
    let mut first = None;
    while let Some(ev) = stream.next().await {
        first.get_or_insert_with(|| started.elapsed());
        match ev? {
            ChatEvent::Text(t) => print!("{t}"),
            other => println!("\n{other:?}"),
        }
    }
    println!(
        "first event after {:?}, all after {:?}",
        first.unwrap_or_default(),
        started.elapsed()
    );
    Ok(())
}
