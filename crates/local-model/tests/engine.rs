//! The llama.cpp engine with the real built-in model: one slot of one thread and short answers,
//! so these stay fast. What the run engine makes of the events is tested in the server's suite.

#![cfg(feature = "llama")]
#![expect(
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::many_single_char_names,
    reason = "token counts of a short answer, compared across i64/u64; p, c, t… name usage sums"
)]

use assistd_core::model::{
    ChatEvent, ChatFormat, ChatMessage, ChatRequest, ChatStream, ModelBackend, ToolChoice,
};
use assistd_local_model::{EngineConfig, LocalModel};
use assistd_test_support::models::built_in_model;
use assistd_wire::{FunctionObject, JsonSchemaFormat};
use futures::StreamExt;
use serde_json::{Value, json};

async fn model(slots: usize) -> LocalModel {
    let path = built_in_model().await;
    tokio::task::spawn_blocking(move || {
        LocalModel::load(EngineConfig {
            path,
            slots,
            threads: 1,
            context_tokens: 1024,
            batch_tokens: 256,
            seed: Some(7),
        })
    })
    .await
    .unwrap()
    .expect("the built-in model loads")
}

fn ask(question: &str, max_tokens: i64) -> ChatRequest {
    ChatRequest {
        model: "any".into(),
        messages: vec![
            ChatMessage::System("You are a helpful assistant.".into()),
            ChatMessage::User(question.into()),
        ],
        max_tokens: Some(max_tokens),
        temperature: Some(0.7),
        ..ChatRequest::default()
    }
}

async fn collect(mut s: ChatStream) -> Vec<ChatEvent> {
    let mut out = Vec::new();
    while let Some(ev) = s.next().await {
        out.push(ev.expect("no error"));
    }
    out
}

fn text_of(events: &[ChatEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn answers_stream_in_pieces_with_exact_usage() {
    let m = model(1).await;
    let events = collect(m.chat(ask("Name three colors.", 40)).await.unwrap()).await;
    let pieces = events
        .iter()
        .filter(|e| matches!(e, ChatEvent::Text(_)))
        .count();
    assert!(pieces >= 2, "token by token: {events:?}");
    let text = text_of(&events);
    assert!(!text.trim().is_empty());
    let Some(ChatEvent::Usage {
        prompt_tokens,
        completion_tokens,
    }) = events
        .iter()
        .find(|e| matches!(e, ChatEvent::Usage { .. }))
        .cloned()
    else {
        panic!("no usage: {events:?}")
    };
    assert!((1..=40).contains(&completion_tokens), "{completion_tokens}");
    // The answer's text re-tokenizes to about as many tokens as were generated (merges at piece
    // boundaries can differ by a few).
    let retokenized = m.count_tokens(&text) as i64;
    assert!(
        (retokenized - completion_tokens).abs() <= 3,
        "{retokenized} vs {completion_tokens}"
    );
    assert!(prompt_tokens > 10, "{prompt_tokens}");
    let finish = events.last().unwrap();
    assert!(
        matches!(finish, ChatEvent::Finish(r) if r == "stop" || r == "length"),
        "{finish:?}"
    );
    let stats = m.stats();
    assert_eq!(stats.finished, 1);
    assert_eq!(stats.generated_tokens, completion_tokens as u64);
}

#[tokio::test]
async fn the_token_cap_ends_with_length() {
    let m = model(1).await;
    let events = collect(
        m.chat(ask("Write a long story about a dragon and a knight.", 5))
            .await
            .unwrap(),
    )
    .await;
    assert!(
        events.contains(&ChatEvent::Finish("length".into())),
        "{events:?}"
    );
    assert!(events.iter().any(|e| matches!(
        e,
        ChatEvent::Usage {
            completion_tokens: 5,
            ..
        }
    )));
}

fn weather() -> FunctionObject {
    serde_json::from_value(json!({
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}
            },
            "required": ["city", "unit"],
            "additionalProperties": false
        }
    }))
    .unwrap()
}

#[tokio::test]
async fn a_forced_function_gets_schema_valid_arguments() {
    let m = model(1).await;
    let req = ChatRequest {
        tools: vec![weather()],
        tool_choice: ToolChoice::Function("get_weather".into()),
        ..ask("What is the weather in Paris, in celsius?", 200)
    };
    let events = collect(m.chat(req).await.unwrap()).await;
    let calls: Vec<(&str, Value)> = events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::ToolCallDelta {
                name: Some(n),
                arguments,
                id: Some(id),
                ..
            } => {
                assert!(id.starts_with("call_"));
                Some((
                    n.as_str(),
                    serde_json::from_str(arguments).expect("JSON arguments"),
                ))
            }
            _ => None,
        })
        .collect();
    assert!(!calls.is_empty(), "{events:?}");
    for (name, args) in calls {
        assert_eq!(name, "get_weather");
        let obj = args.as_object().expect("an object");
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["city", "unit"], "{args}");
        assert!(obj["city"].is_string());
        assert!(["celsius", "fahrenheit"].contains(&obj["unit"].as_str().unwrap()));
    }
    assert_eq!(events.last(), Some(&ChatEvent::Finish("tool_calls".into())));
    assert_eq!(text_of(&events), "", "no text beside the call");
}

#[tokio::test]
async fn json_object_answers_parse() {
    let m = model(1).await;
    let req = ChatRequest {
        response_format: ChatFormat::JsonObject,
        ..ask("Give the name and age of a fictional person.", 120)
    };
    let events = collect(m.chat(req).await.unwrap()).await;
    if events.contains(&ChatEvent::Finish("stop".into())) {
        let v: Value = serde_json::from_str(&text_of(&events)).expect("a JSON object");
        assert!(v.is_object());
    } else {
        // Cut off by the cap: still a prefix of an object.
        assert!(text_of(&events).trim_start().starts_with('{'), "{events:?}");
    }
}

#[tokio::test]
async fn json_schema_answers_follow_the_schema() {
    let m = model(1).await;
    let schema = json!({
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "age": {"type": "integer"}
        },
        "required": ["name", "age"],
        "additionalProperties": false
    });
    let req = ChatRequest {
        response_format: ChatFormat::JsonSchema(JsonSchemaFormat {
            name: "person".to_owned(),
            description: None,
            schema: Some(schema),
            strict: Some(true),
        }),
        ..ask("Give the name and age of a fictional person.", 200)
    };
    let events = collect(m.chat(req).await.unwrap()).await;
    if events.contains(&ChatEvent::Finish("stop".into())) {
        let v: Value = serde_json::from_str(&text_of(&events)).expect("a JSON object");
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["age", "name"], "{v}");
        assert!(v["name"].is_string() && v["age"].is_i64(), "{v}");
    } else {
        // Cut off by the cap: still a prefix of an object.
        assert!(text_of(&events).trim_start().starts_with('{'), "{events:?}");
    }
}

#[tokio::test]
async fn dropping_a_stream_stops_generation_and_skips_waiting_work() {
    // One slot: A generates, B waits behind it.
    let m = model(1).await;
    let mut a = m
        .chat(ask(
            "Write a very long story about the sea, with many chapters.",
            800,
        ))
        .await
        .unwrap();
    let first = a.next().await.unwrap().unwrap();
    assert!(matches!(first, ChatEvent::Text(_)), "{first:?}");
    let b = m.chat(ask("Say hello.", 20)).await.unwrap();
    assert_eq!(m.stats().waiting, 1, "B waits for the only slot");
    // Cancel B while it waits, then A while it generates.
    drop(b);
    drop(a);
    let at_drop = m.stats().generated_tokens;
    assert!(
        at_drop < 400,
        "A was far from done when dropped ({at_drop} tokens)"
    );
    let c = collect(m.chat(ask("Say hi.", 20)).await.unwrap()).await;
    let Some(ChatEvent::Usage {
        completion_tokens: c_tokens,
        ..
    }) = c
        .iter()
        .find(|e| matches!(e, ChatEvent::Usage { .. }))
        .cloned()
    else {
        panic!("{c:?}")
    };
    let s = m.stats();
    assert_eq!(s.skipped, 1, "B never started: {s:?}");
    assert_eq!(s.abandoned, 1, "A stopped: {s:?}");
    assert_eq!(s.finished, 1, "C ran: {s:?}");
    // A generated at most the token in flight when it was dropped.
    let after_drop = s.generated_tokens - at_drop - c_tokens as u64;
    assert!(
        after_drop <= 1,
        "A went on for {after_drop} tokens after the drop"
    );
}

#[tokio::test]
async fn a_continued_conversation_reuses_the_cached_prompt() {
    let m = model(1).await;
    let first = ask("What is the capital of Italy?", 16);
    collect(m.chat(first.clone()).await.unwrap()).await;
    let evaluated_once = m.stats().evaluated_tokens;
    let mut next = first;
    next.messages.push(ChatMessage::Assistant {
        content: Some("Rome.".into()),
        tool_calls: vec![],
    });
    next.messages
        .push(ChatMessage::User("And of France?".into()));
    let events = collect(m.chat(next).await.unwrap()).await;
    let Some(ChatEvent::Usage { prompt_tokens, .. }) = events
        .iter()
        .find(|e| matches!(e, ChatEvent::Usage { .. }))
        .cloned()
    else {
        panic!("{events:?}")
    };
    let evaluated_again = m.stats().evaluated_tokens - evaluated_once;
    assert!(
        (evaluated_again as i64) < prompt_tokens / 2,
        "only the new turn is evaluated: {evaluated_again} of {prompt_tokens}"
    );
}
