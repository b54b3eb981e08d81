//! What the built-in model is asked and how its answer is read: the chat messages handed to the
//! model's own chat template, the JSON schemas that constrain decoding when functions are offered
//! or a JSON object is asked for, and the parsing of a constrained answer back into a function
//! call.
//!
//! The convention is the one SmolLM2's instruction tuning uses: the functions are listed as JSON
//! inside `<tools>` in the system message, and calls are answered as
//! `<tool_call>[{"name": ..., "arguments": {...}}, ...]</tool_call>`. With functions offered,
//! decoding is constrained to either that (each call's arguments valid against its function's
//! schema) or plain text that does not start with `<`, so the first character decides which of
//! the two the answer is.

use assistd_core::model::{ChatFormat, ChatMessage, ChatRequest, ToolChoice};
use assistd_wire::FunctionObject;
use serde_json::{Map, Value};

/// How the answer is constrained.
#[derive(Debug, Clone, PartialEq)]
pub enum Constraint {
    /// Free text.
    None,
    /// A JSON object (`response_format: json_object`).
    JsonObject,
    /// JSON following this schema (`response_format: json_schema`); `strict` says whether a
    /// schema the grammar converter cannot take fails the request (else it falls back to
    /// [`Constraint::JsonObject`]).
    JsonSchema {
        /// The schema.
        schema: Value,
        /// Whether the answer must follow it exactly.
        strict: bool,
    },
    /// A function call, or text when `allow_text`.
    Tools {
        /// The schema of the list of calls inside `<tool_call>`: items `{"name": const,
        /// "arguments": parameters}`, one branch per function.
        call_schema: Value,
        /// Whether a plain answer is allowed too (`tool_choice: auto`).
        allow_text: bool,
    },
}

/// The request as the model sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// `(role, content)` pairs for the chat template.
    pub messages: Vec<(String, String)>,
    /// The decoding constraint.
    pub constraint: Constraint,
}

/// Renders a request for a model whose template knows `system`, `user` and `assistant`.
pub fn render(req: &ChatRequest) -> Rendered {
    // A turn that follows function results answers them in text: a model this small otherwise
    // repeats the calls it sees in its context, turn after turn, until the run's turn limit.
    let answering_results = matches!(req.messages.last(), Some(ChatMessage::Tool { .. }));
    let offered: Vec<&FunctionObject> = match &req.tool_choice {
        ToolChoice::None => Vec::new(),
        ToolChoice::Auto if answering_results => Vec::new(),
        ToolChoice::Auto | ToolChoice::Required => req.tools.iter().collect(),
        ToolChoice::Function(name) => req.tools.iter().filter(|f| &f.name == name).collect(),
    };
    let mut system = Vec::new();
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    let mut call_names = std::collections::HashMap::new();
    for m in &req.messages {
        match m {
            ChatMessage::System(text) => system.push(text.clone()),
            ChatMessage::User(text) => messages.push(("user".to_owned(), text.clone())),
            ChatMessage::Assistant {
                content,
                tool_calls,
            } => {
                let mut parts: Vec<String> = content.iter().cloned().collect();
                if !tool_calls.is_empty() {
                    let calls: Vec<String> = tool_calls
                        .iter()
                        .map(|c| {
                            call_names.insert(c.id.clone(), c.name.clone());
                            let args: Value = serde_json::from_str(&c.arguments)
                                .unwrap_or_else(|_| Value::String(c.arguments.clone()));
                            call_json(&c.name, &args)
                        })
                        .collect();
                    parts.push(format!("{CALL_OPEN}[{}]{CALL_CLOSE}", calls.join(", ")));
                }
                messages.push(("assistant".to_owned(), parts.join("\n")));
            }
            ChatMessage::Tool {
                tool_call_id,
                content,
            } => {
                let name = call_names
                    .get(tool_call_id)
                    .map_or("the function", String::as_str);
                // Small chat models know no `tool` role: a function's result reads best as the
                // user reporting it.
                messages.push((
                    "user".to_owned(),
                    format!("The result of {name} is: {content}"),
                ));
            }
        }
    }
    let schema = || match &req.response_format {
        ChatFormat::JsonSchema(f) => f
            .schema
            .clone()
            .unwrap_or_else(|| serde_json::json!({"type": "object"})),
        _ => serde_json::json!({"type": "object"}),
    };
    if offered.is_empty() {
        match &req.response_format {
            ChatFormat::Text => {}
            ChatFormat::JsonObject => system.push("Answer with a single JSON object.".to_owned()),
            ChatFormat::JsonSchema(_) => system.push(format!(
                "Answer with a single JSON object that follows this JSON schema:\n{}",
                schema()
            )),
        }
    } else {
        system.push(tools_instructions(&offered, &req.tool_choice));
    }
    if !system.is_empty() {
        messages.insert(0, ("system".to_owned(), system.join("\n\n")));
    }
    let constraint = if offered.is_empty() {
        match &req.response_format {
            ChatFormat::Text => Constraint::None,
            ChatFormat::JsonObject => Constraint::JsonObject,
            ChatFormat::JsonSchema(f) => Constraint::JsonSchema {
                schema: schema(),
                strict: f.strict == Some(true),
            },
        }
    } else {
        // A forced function, or a run without parallel calls, makes one call per answer.
        let single = matches!(req.tool_choice, ToolChoice::Function(_))
            || req.parallel_tool_calls == Some(false);
        Constraint::Tools {
            call_schema: call_schema(&offered, single),
            allow_text: !matches!(
                req.tool_choice,
                ToolChoice::Function(_) | ToolChoice::Required
            ),
        }
    };
    Rendered {
        messages,
        constraint,
    }
}

/// A call as the model writes one: name first, as the decoding grammar orders it.
/// What opens an answer made of function calls.
pub const CALL_OPEN: &str = "<tool_call>";
/// What closes it.
pub const CALL_CLOSE: &str = "</tool_call>";

fn call_json(name: &str, arguments: &Value) -> String {
    format!(
        "{{\"name\": {}, \"arguments\": {arguments}}}",
        Value::String(name.to_owned())
    )
}

fn tools_instructions(offered: &[&FunctionObject], choice: &ToolChoice) -> String {
    let list: Vec<Value> = offered
        .iter()
        .map(|f| {
            let mut o = Map::new();
            o.insert("name".to_owned(), Value::String(f.name.clone()));
            if let Some(d) = &f.description {
                o.insert("description".to_owned(), Value::String(d.clone()));
            }
            o.insert("parameters".to_owned(), parameters(f));
            Value::Object(o)
        })
        .collect();
    let how = match choice {
        ToolChoice::Function(name) => {
            format!("Call the function {name} now, with arguments taken from the conversation.")
        }
        ToolChoice::Required => {
            "Call one of these functions now, with arguments taken from the conversation."
                .to_owned()
        }
        _ => {
            "If a function can answer the user, call it; otherwise answer in plain text.".to_owned()
        }
    };
    format!(
        "You can call functions. These are available:\n<tools>{}</tools>\n\n{how} To call \
         functions, reply with nothing but this format:\n{CALL_OPEN}[{{\"name\": \"func_name\", \
         \"arguments\": {{\"argument1\": \"value1\"}}}}]{CALL_CLOSE}",
        Value::Array(list)
    )
}

/// A function's parameters schema; a function declared without one takes an empty object.
fn parameters(f: &FunctionObject) -> Value {
    match &f.parameters {
        Some(p) if p.is_object() => p.clone(),
        _ => serde_json::json!({"type": "object", "properties": {}}),
    }
}

/// Calls in one answer at most: parallel calls are allowed, a runaway list is not.
const MAX_CALLS: usize = 8;

/// The schema of the call list; a forced function, or a run without parallel calls, calls once.
fn call_schema(offered: &[&FunctionObject], single: bool) -> Value {
    let branches: Vec<Value> = offered
        .iter()
        .map(|f| {
            serde_json::json!({
                "type": "object",
                "properties": {
                    "name": {"const": f.name},
                    "arguments": parameters(f),
                },
                "required": ["name", "arguments"],
                "additionalProperties": false,
            })
        })
        .collect();
    let item = match <[Value; 1]>::try_from(branches) {
        Ok([one]) => one,
        Err(many) => serde_json::json!({ "anyOf": many }),
    };
    let max = if single { 1 } else { MAX_CALLS };
    serde_json::json!({"type": "array", "items": item, "minItems": 1, "maxItems": max})
}

/// A call parsed from a constrained answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedCall {
    /// Function name.
    pub name: String,
    /// Arguments as compact JSON.
    pub arguments: String,
}

/// Reads the calls out of an answer that started with `<`; `None` unless it is complete.
pub fn parse_calls(text: &str) -> Option<Vec<ParsedCall>> {
    let inner = text
        .trim()
        .strip_prefix(CALL_OPEN)?
        .strip_suffix(CALL_CLOSE)?;
    let list: Vec<Value> = serde_json::from_str(inner).ok()?;
    if list.is_empty() {
        return None;
    }
    list.into_iter()
        .map(|v| {
            let name = v.get("name")?.as_str()?.to_owned();
            let arguments = v.get("arguments")?;
            arguments.is_object().then(|| ParsedCall {
                name,
                arguments: arguments.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use assistd_core::model::ToolCall;

    fn weather() -> FunctionObject {
        serde_json::from_value(serde_json::json!({
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"]
            }
        }))
        .unwrap()
    }

    #[test]
    fn plain_chat_keeps_roles_and_merges_system() {
        let req = ChatRequest {
            messages: vec![
                ChatMessage::System("Be brief.".into()),
                ChatMessage::User("Hi".into()),
                ChatMessage::Assistant {
                    content: Some("Hello".into()),
                    tool_calls: vec![],
                },
                ChatMessage::User("Bye".into()),
            ],
            ..ChatRequest::default()
        };
        let r = render(&req);
        let roles: Vec<&str> = r.messages.iter().map(|(r, _)| r.as_str()).collect();
        assert_eq!(roles, ["system", "user", "assistant", "user"]);
        assert_eq!(r.messages[0].1, "Be brief.");
        assert_eq!(r.constraint, Constraint::None);
    }

    #[test]
    fn offered_functions_are_listed_and_constrained() {
        let req = ChatRequest {
            messages: vec![ChatMessage::User("Weather in Paris?".into())],
            tools: vec![weather()],
            ..ChatRequest::default()
        };
        let r = render(&req);
        assert_eq!(r.messages[0].0, "system");
        assert!(r.messages[0].1.contains("\"get_weather\""));
        let Constraint::Tools {
            call_schema,
            allow_text,
        } = r.constraint
        else {
            panic!("expected a tools constraint");
        };
        assert!(allow_text);
        let item = &call_schema["items"];
        assert_eq!(item["properties"]["name"]["const"], "get_weather");
        assert_eq!(item["properties"]["arguments"]["required"][0], "city");
    }

    #[test]
    fn forced_function_allows_no_text_and_none_offers_nothing() {
        let mut other = weather();
        other.name = "other".into();
        let req = ChatRequest {
            messages: vec![ChatMessage::User("x".into())],
            tools: vec![weather(), other],
            tool_choice: ToolChoice::Function("other".into()),
            ..ChatRequest::default()
        };
        let Constraint::Tools {
            call_schema,
            allow_text,
        } = render(&req).constraint
        else {
            panic!("expected a tools constraint");
        };
        assert!(!allow_text);
        assert_eq!(call_schema["items"]["properties"]["name"]["const"], "other");
        assert_eq!(
            call_schema["maxItems"], 1,
            "a forced function is called once"
        );

        let req = ChatRequest {
            tool_choice: ToolChoice::None,
            ..req
        };
        assert_eq!(render(&req).constraint, Constraint::None);
    }

    #[test]
    fn two_functions_give_one_branch_each() {
        let mut other = weather();
        other.name = "other".into();
        other.parameters = None;
        let req = ChatRequest {
            tools: vec![weather(), other],
            ..ChatRequest::default()
        };
        let Constraint::Tools { call_schema, .. } = render(&req).constraint else {
            panic!("expected a tools constraint");
        };
        let branches = call_schema["items"]["anyOf"].as_array().unwrap();
        assert_eq!(branches.len(), 2);
        assert_eq!(branches[1]["properties"]["arguments"]["type"], "object");
    }

    #[test]
    fn history_of_calls_reads_back_in_the_call_format() {
        let req = ChatRequest {
            messages: vec![
                ChatMessage::User("Weather?".into()),
                ChatMessage::Assistant {
                    content: None,
                    tool_calls: vec![ToolCall {
                        id: "call_1".into(),
                        name: "get_weather".into(),
                        arguments: r#"{"city":"Paris"}"#.into(),
                    }],
                },
                ChatMessage::Tool {
                    tool_call_id: "call_1".into(),
                    content: "22C".into(),
                },
            ],
            ..ChatRequest::default()
        };
        let r = render(&req);
        assert_eq!(
            r.messages[1].1,
            r#"<tool_call>[{"name": "get_weather", "arguments": {"city":"Paris"}}]</tool_call>"#
        );
        assert_eq!(
            r.messages[2],
            ("user".into(), "The result of get_weather is: 22C".into())
        );
    }

    #[test]
    fn after_function_results_the_turn_answers_in_text() {
        let req = ChatRequest {
            messages: vec![
                ChatMessage::User("Weather?".into()),
                ChatMessage::Assistant {
                    content: None,
                    tool_calls: vec![ToolCall {
                        id: "call_1".into(),
                        name: "get_weather".into(),
                        arguments: "{}".into(),
                    }],
                },
                ChatMessage::Tool {
                    tool_call_id: "call_1".into(),
                    content: "22C".into(),
                },
            ],
            tools: vec![weather()],
            ..ChatRequest::default()
        };
        assert_eq!(render(&req).constraint, Constraint::None);
    }

    #[test]
    fn json_object_is_asked_and_constrained() {
        let req = ChatRequest {
            messages: vec![ChatMessage::User("x".into())],
            response_format: ChatFormat::JsonObject,
            ..ChatRequest::default()
        };
        let r = render(&req);
        assert_eq!(r.constraint, Constraint::JsonObject);
        assert!(r.messages[0].1.contains("JSON object"));
    }

    #[test]
    fn json_schema_is_asked_and_constrained() {
        let schema =
            serde_json::json!({"type": "object", "properties": {"n": {"type": "integer"}}});
        let req = ChatRequest {
            messages: vec![ChatMessage::User("x".into())],
            response_format: ChatFormat::JsonSchema(assistd_wire::JsonSchemaFormat {
                name: "n".into(),
                description: None,
                schema: Some(schema.clone()),
                strict: Some(true),
            }),
            ..ChatRequest::default()
        };
        let r = render(&req);
        assert_eq!(
            r.constraint,
            Constraint::JsonSchema {
                schema,
                strict: true
            }
        );
        assert!(r.messages[0].1.contains("\"integer\""));
    }

    #[test]
    fn required_forces_a_call_and_no_parallel_calls_caps_the_list() {
        let req = ChatRequest {
            messages: vec![ChatMessage::User("Weather?".into())],
            tools: vec![weather()],
            tool_choice: ToolChoice::Required,
            parallel_tool_calls: Some(false),
            ..ChatRequest::default()
        };
        let Constraint::Tools {
            call_schema,
            allow_text,
        } = render(&req).constraint
        else {
            panic!("functions are offered");
        };
        assert!(!allow_text);
        assert_eq!(call_schema["maxItems"], 1);
    }

    #[test]
    fn calls_parse_only_when_whole() {
        assert_eq!(
            parse_calls(
                r#" <tool_call>[{"name": "f", "arguments": {"a": 1}}, {"name": "g", "arguments": {}}]</tool_call> "#
            ),
            Some(vec![
                ParsedCall {
                    name: "f".into(),
                    arguments: r#"{"a":1}"#.into()
                },
                ParsedCall {
                    name: "g".into(),
                    arguments: "{}".into()
                }
            ])
        );
        assert_eq!(
            parse_calls(r#"<tool_call>[{"name": "f", "arguments": {"a": "#),
            None
        );
        assert_eq!(
            parse_calls(r#"<tool_call>[{"name": "f", "arguments": 3}]</tool_call>"#),
            None
        );
        assert_eq!(parse_calls(r"<tool_call>[]</tool_call>"), None);
    }
}
