//! Request validation: every limit the v1 spec documents, with OpenAI's wording and the
//! offending field in `param`. Structural errors (wrong types, unknown fields) are caught earlier
//! by deserialization; this module checks values.

use assistd_wire::{
    AssistantTool, CreateAssistantRequest, CreateMessageRequest, CreateRunRequest,
    CreateThreadAndRunRequest, CreateThreadRequest, FileSearchOptions, MessageRequestContent,
    MessageRequestContentPart, Metadata, ModifyAssistantRequest, NamedToolType, ToolChoiceOption,
    ToolResourcesRequest, TruncationObject, TruncationType,
};

/// A rejected value: answered as a 400 `invalid_request_error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    /// What is wrong, in OpenAI's wording.
    pub message: String,
    /// The field, as a path like `tools[3].function.name`.
    pub param: Option<String>,
}

impl Invalid {
    /// An error about `param`.
    pub fn new(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            param: Some(param.into()),
        }
    }
}

/// Result of a check.
pub type Checked = Result<(), Invalid>;

/// Limits from the v1 spec.
pub mod limits {
    /// Assistant name.
    pub const NAME: usize = 256;
    /// Assistant description.
    pub const DESCRIPTION: usize = 512;
    /// Instructions, and a message's content.
    pub const INSTRUCTIONS: usize = 256_000;
    /// Message content.
    pub const MESSAGE_CONTENT: usize = 256_000;
    /// Tools of an assistant.
    pub const ASSISTANT_TOOLS: usize = 128;
    /// Tools of a run.
    pub const RUN_TOOLS: usize = 20;
    /// Files of an assistant.
    pub const ASSISTANT_FILES: usize = 20;
    /// Files of a message.
    pub const MESSAGE_FILES: usize = 10;
    /// Attachments of one v2 message (our own limit: v2 sets none; the v1 view shows the first
    /// 10 files).
    pub const MESSAGE_ATTACHMENTS: usize = 20;
    /// Content parts of one v2 message (our own limit).
    pub const MESSAGE_PARTS: usize = 32;
    /// Characters of an `image_url.url` (our own limit; data URLs are large).
    pub const IMAGE_URL: usize = 10 * 1024 * 1024;
    /// Messages one request may carry (a new thread's `messages`, a run's
    /// `additional_messages`). Not in the v1 spec: this server's own limit, so that one request
    /// is one short write, whatever the body limit allows (a million tiny messages fit in 32 MiB
    /// and held SQLite's single writer for a minute).
    pub const MESSAGES_PER_REQUEST: usize = 32;
    /// Vector stores of an assistant's or a thread's `file_search` (v2).
    pub const VECTOR_STORES: usize = 1;
    /// Files of a vector store created through `tool_resources.file_search.vector_stores`: the
    /// spec allows a hundred million; this server takes as many as `createVectorStore` does, so
    /// one request stays one short write.
    pub const HELPER_STORE_FILES: usize = 500;
    /// Metadata pairs.
    pub const METADATA_PAIRS: usize = 16;
    /// Metadata key length.
    pub const METADATA_KEY: usize = 64;
    /// Metadata value length.
    pub const METADATA_VALUE: usize = 512;
    /// Function name length.
    pub const FUNCTION_NAME: usize = 64;
    /// Minimum of `max_prompt_tokens` / `max_completion_tokens`.
    pub const MIN_TOKEN_BUDGET: i64 = 256;
}

fn join(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_owned()
    } else {
        format!("{prefix}.{field}")
    }
}

/// A string of at most `max` characters.
pub fn max_len(param: &str, value: &str, max: usize) -> Checked {
    let len = value.chars().count();
    if len > max {
        return Err(Invalid::new(
            param,
            format!(
                "Invalid '{param}': string too long. Expected a string with maximum length {max}, but got a string with length {len} instead."
            ),
        ));
    }
    Ok(())
}

fn max_items<T>(param: &str, items: &[T], max: usize) -> Checked {
    if items.len() > max {
        return Err(Invalid::new(
            param,
            format!(
                "Invalid '{param}': array too long. Expected an array with maximum length {max}, but got an array with length {} instead.",
                items.len()
            ),
        ));
    }
    Ok(())
}

fn range(param: &str, value: f64, min: f64, max: f64) -> Checked {
    if !value.is_finite() || value < min {
        return Err(Invalid::new(
            param,
            format!(
                "Invalid '{param}': decimal below minimum value. Expected a value >= {min}, but got {value} instead."
            ),
        ));
    }
    if value > max {
        return Err(Invalid::new(
            param,
            format!(
                "Invalid '{param}': decimal above maximum value. Expected a value <= {max}, but got {value} instead."
            ),
        ));
    }
    Ok(())
}

/// `temperature` in 0..=2.
pub fn temperature(param: &str, value: Option<f64>) -> Checked {
    value.map_or(Ok(()), |v| range(param, v, 0.0, 2.0))
}

/// `top_p` in 0..=1.
pub fn top_p(param: &str, value: Option<f64>) -> Checked {
    value.map_or(Ok(()), |v| range(param, v, 0.0, 1.0))
}

/// Up to 16 pairs, keys up to 64 characters, values up to 512.
pub fn metadata(param: &str, value: Option<&Metadata>) -> Checked {
    let Some(map) = value else { return Ok(()) };
    if map.len() > limits::METADATA_PAIRS {
        return Err(Invalid::new(
            param,
            format!(
                "Invalid '{param}': too many properties. Expected an object with at most {} properties, but got an object with {} properties instead.",
                limits::METADATA_PAIRS,
                map.len()
            ),
        ));
    }
    for (k, v) in map {
        let key_len = k.chars().count();
        if key_len > limits::METADATA_KEY {
            return Err(Invalid::new(
                param,
                format!(
                    "Invalid '{param}': metadata keys can be at most {} characters long, but key '{k}' has {key_len}.",
                    limits::METADATA_KEY
                ),
            ));
        }
        max_len(&format!("{param}.{k}"), v, limits::METADATA_VALUE)?;
    }
    Ok(())
}

/// Whether `name` is a valid function name: `[a-zA-Z0-9_-]{1,64}`.
pub fn is_function_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= limits::FUNCTION_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A tool list of at most `max` entries with valid function definitions.
pub fn tools(param: &str, tools: &[AssistantTool], max: usize) -> Checked {
    max_items(param, tools, max)?;
    let mut names = std::collections::HashSet::new();
    for (i, tool) in tools.iter().enumerate() {
        if let AssistantTool::FileSearch(Some(options)) = tool {
            file_search_options(&format!("{param}[{i}].file_search"), options)?;
        }
        if let AssistantTool::Function { function } = tool {
            let p = format!("{param}[{i}].function.name");
            if !is_function_name(&function.name) {
                return Err(Invalid::new(
                    &p,
                    format!(
                        "Invalid '{p}': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]{{1,64}}$'."
                    ),
                ));
            }
            if !names.insert(function.name.as_str()) {
                return Err(Invalid::new(
                    &p,
                    format!(
                        "Invalid '{p}': duplicate function name '{}'. Function names must be unique.",
                        function.name
                    ),
                ));
            }
            if let Some(params) = &function.parameters
                && !params.is_object()
            {
                let p = format!("{param}[{i}].function.parameters");
                return Err(Invalid::new(
                    &p,
                    format!("Invalid '{p}': expected a JSON Schema object."),
                ));
            }
        }
    }
    Ok(())
}

fn file_search_options(param: &str, options: &FileSearchOptions) -> Checked {
    if let Some(n) = options.max_num_results {
        range(&join(param, "max_num_results"), f64::from(n), 1.0, 50.0)?;
    }
    if let Some(r) = &options.ranking_options {
        range(
            &join(param, "ranking_options.score_threshold"),
            r.score_threshold,
            0.0,
            1.0,
        )?;
    }
    Ok(())
}

/// `tool_resources` of an assistant or a thread, at `prefix`; `helper` says whether
/// `file_search.vector_stores` (create requests only) is allowed.
pub fn tool_resources(prefix: &str, r: &ToolResourcesRequest, helper: bool) -> Checked {
    let p = join(prefix, "tool_resources");
    if let Some(c) = &r.code_interpreter {
        file_ids(
            &format!("{p}.code_interpreter.file_ids"),
            &c.file_ids,
            limits::ASSISTANT_FILES,
        )?;
    }
    let Some(f) = &r.file_search else {
        return Ok(());
    };
    let fp = format!("{p}.file_search");
    if let Some(ids) = &f.vector_store_ids {
        max_items(
            &format!("{fp}.vector_store_ids"),
            ids,
            limits::VECTOR_STORES,
        )?;
    }
    if let Some(stores) = &f.vector_stores {
        let sp = format!("{fp}.vector_stores");
        if !helper {
            return Err(Invalid::new(
                &sp,
                format!("Unrecognized request argument supplied: {sp}"),
            ));
        }
        if f.vector_store_ids.is_some() {
            return Err(Invalid::new(
                &fp,
                format!(
                    "Invalid '{fp}': give either 'vector_store_ids' or 'vector_stores', not both."
                ),
            ));
        }
        max_items(&sp, stores, limits::VECTOR_STORES)?;
        for (i, store) in stores.iter().enumerate() {
            file_ids(
                &format!("{sp}[{i}].file_ids"),
                &store.file_ids,
                limits::HELPER_STORE_FILES,
            )?;
            metadata(&format!("{sp}[{i}].metadata"), store.metadata.as_ref())?;
            if let Some(c) = &store.chunking_strategy {
                crate::vector_stores::check_chunking(&format!("{sp}[{i}].chunking_strategy"), c)?;
            }
        }
    }
    Ok(())
}

fn file_ids(param: &str, ids: &[String], max: usize) -> Checked {
    max_items(param, ids, max)?;
    for (i, id) in ids.iter().enumerate() {
        if id.is_empty() {
            let p = format!("{param}[{i}]");
            return Err(Invalid::new(&p, format!("Invalid '{p}': empty file id.")));
        }
    }
    Ok(())
}

fn model(param: &str, model: &str) -> Checked {
    if model.trim().is_empty() {
        return Err(Invalid::new(
            param,
            format!("Invalid '{param}': empty string. Expected a model name."),
        ));
    }
    max_len(param, model, 256)
}

/// `CreateAssistantRequest`.
pub fn create_assistant(req: &CreateAssistantRequest) -> Checked {
    model("model", &req.model)?;
    if let Some(name) = &req.name {
        max_len("name", name, limits::NAME)?;
    }
    if let Some(d) = &req.description {
        max_len("description", d, limits::DESCRIPTION)?;
    }
    if let Some(i) = &req.instructions {
        max_len("instructions", i, limits::INSTRUCTIONS)?;
    }
    if let Some(t) = &req.tools {
        tools("tools", t, limits::ASSISTANT_TOOLS)?;
    }
    if let Some(r) = &req.tool_resources {
        tool_resources("", r, true)?;
    }
    if let Some(f) = &req.file_ids {
        file_ids("file_ids", f, limits::ASSISTANT_FILES)?;
    }
    metadata("metadata", req.metadata.as_ref())?;
    temperature("temperature", req.temperature)?;
    top_p("top_p", req.top_p)
}

/// `ModifyAssistantRequest`.
pub fn modify_assistant(req: &ModifyAssistantRequest) -> Checked {
    if let Some(m) = &req.model {
        model("model", m)?;
    }
    if let Some(Some(name)) = &req.name {
        max_len("name", name, limits::NAME)?;
    }
    if let Some(Some(d)) = &req.description {
        max_len("description", d, limits::DESCRIPTION)?;
    }
    if let Some(Some(i)) = &req.instructions {
        max_len("instructions", i, limits::INSTRUCTIONS)?;
    }
    if let Some(t) = &req.tools {
        tools("tools", t, limits::ASSISTANT_TOOLS)?;
    }
    if let Some(r) = &req.tool_resources {
        tool_resources("", r, false)?;
    }
    if let Some(f) = &req.file_ids {
        file_ids("file_ids", f, limits::ASSISTANT_FILES)?;
    }
    if let Some(m) = &req.metadata {
        metadata("metadata", m.as_ref())?;
    }
    if let Some(t) = req.temperature {
        temperature("temperature", t)?;
    }
    if let Some(t) = req.top_p {
        top_p("top_p", t)?;
    }
    Ok(())
}

/// `CreateMessageRequest`, at `prefix` (empty for the top level).
pub fn create_message(prefix: &str, req: &CreateMessageRequest) -> Checked {
    let p = join(prefix, "content");
    match &req.content {
        MessageRequestContent::Text(text) => message_text(&p, text)?,
        MessageRequestContent::Parts(parts) => {
            if parts.is_empty() {
                return Err(Invalid::new(
                    &p,
                    format!(
                        "Invalid '{p}': empty array. Expected an array with minimum length 1, but got an empty array instead."
                    ),
                ));
            }
            max_items(&p, parts, limits::MESSAGE_PARTS)?;
            let mut total = 0;
            for (i, part) in parts.iter().enumerate() {
                let pp = format!("{p}[{i}]");
                match part {
                    MessageRequestContentPart::Text { text } => {
                        message_text(&format!("{pp}.text"), text)?;
                        total += text.chars().count();
                    }
                    MessageRequestContentPart::ImageFile { image_file } => {
                        if image_file.file_id.is_empty() {
                            return Err(Invalid::new(
                                format!("{pp}.image_file.file_id"),
                                format!(
                                    "Invalid '{pp}.image_file.file_id': empty string. Expected a non-empty value."
                                ),
                            ));
                        }
                    }
                    MessageRequestContentPart::ImageUrl { image_url } => {
                        let up = format!("{pp}.image_url.url");
                        max_len(&up, &image_url.url, limits::IMAGE_URL)?;
                        let scheme_ok = ["https://", "http://", "data:image/"]
                            .iter()
                            .any(|s| image_url.url.starts_with(s));
                        if !scheme_ok {
                            return Err(Invalid::new(
                                &up,
                                format!(
                                    "Invalid '{up}': expected an http(s) URL or a data:image/ URL."
                                ),
                            ));
                        }
                    }
                }
            }
            if total > limits::MESSAGE_CONTENT {
                return Err(Invalid::new(
                    &p,
                    format!(
                        "Invalid '{p}': the text parts hold {total} characters together; the maximum is {}.",
                        limits::MESSAGE_CONTENT
                    ),
                ));
            }
        }
    }
    if let Some(f) = &req.file_ids {
        file_ids(&join(prefix, "file_ids"), f, limits::MESSAGE_FILES)?;
    }
    if let Some(a) = &req.attachments {
        let ap = join(prefix, "attachments");
        max_items(&ap, a, limits::MESSAGE_ATTACHMENTS)?;
        for (i, att) in a.iter().enumerate() {
            if att.file_id.is_empty() {
                return Err(Invalid::new(
                    format!("{ap}[{i}].file_id"),
                    format!(
                        "Invalid '{ap}[{i}].file_id': empty string. Expected a non-empty value."
                    ),
                ));
            }
        }
    }
    metadata(&join(prefix, "metadata"), req.metadata.as_ref())
}

/// A message's text (or one text part): 1 to 256,000 characters.
fn message_text(p: &str, text: &str) -> Checked {
    if text.is_empty() {
        return Err(Invalid::new(
            p,
            format!(
                "Invalid '{p}': string too short. Expected a string with minimum length 1, but got an empty string instead."
            ),
        ));
    }
    max_len(p, text, limits::MESSAGE_CONTENT)
}

fn messages(prefix: &str, msgs: &[CreateMessageRequest]) -> Checked {
    max_items(prefix, msgs, limits::MESSAGES_PER_REQUEST)?;
    for (i, m) in msgs.iter().enumerate() {
        create_message(&format!("{prefix}[{i}]"), m)?;
    }
    Ok(())
}

/// `CreateThreadRequest`, at `prefix`.
pub fn create_thread(prefix: &str, req: &CreateThreadRequest) -> Checked {
    if let Some(r) = &req.tool_resources {
        tool_resources(prefix, r, true)?;
    }
    if let Some(m) = &req.messages {
        messages(&join(prefix, "messages"), m)?;
    }
    metadata(&join(prefix, "metadata"), req.metadata.as_ref())
}

fn token_budget(param: &str, value: Option<i64>) -> Checked {
    match value {
        Some(v) if v < limits::MIN_TOKEN_BUDGET => Err(Invalid::new(
            param,
            format!(
                "Invalid '{param}': integer below minimum value. Expected a value >= {}, but got {v} instead.",
                limits::MIN_TOKEN_BUDGET
            ),
        )),
        _ => Ok(()),
    }
}

fn truncation(t: Option<&TruncationObject>) -> Checked {
    let Some(t) = t else { return Ok(()) };
    match (t.type_, t.last_messages) {
        (_, Some(n)) if n < 1 => Err(Invalid::new(
            "truncation_strategy.last_messages",
            format!(
                "Invalid 'truncation_strategy.last_messages': integer below minimum value. Expected a value >= 1, but got {n} instead."
            ),
        )),
        (TruncationType::LastMessages, None) => Err(Invalid::new(
            "truncation_strategy.last_messages",
            "Invalid 'truncation_strategy.last_messages': required when type is 'last_messages'.",
        )),
        _ => Ok(()),
    }
}

fn tool_choice(choice: Option<&ToolChoiceOption>) -> Checked {
    if let Some(ToolChoiceOption::Named(named)) = choice {
        match (named.type_, &named.function) {
            (NamedToolType::Function, None) => {
                return Err(Invalid::new(
                    "tool_choice.function",
                    "Invalid 'tool_choice.function': required when type is 'function'.",
                ));
            }
            (NamedToolType::Function, Some(f)) if !is_function_name(&f.name) => {
                return Err(Invalid::new(
                    "tool_choice.function.name",
                    "Invalid 'tool_choice.function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]{1,64}$'.",
                ));
            }
            (NamedToolType::CodeInterpreter | NamedToolType::FileSearch, Some(_)) => {
                return Err(Invalid::new(
                    "tool_choice.function",
                    "Invalid 'tool_choice.function': only allowed when type is 'function'.",
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The run parameters shared by `CreateRunRequest` and `CreateThreadAndRunRequest`.
pub struct RunParams<'a> {
    /// `model`
    pub model: Option<&'a str>,
    /// `instructions`
    pub instructions: Option<&'a str>,
    /// `tools`
    pub tools: Option<&'a [AssistantTool]>,
    /// `metadata`
    pub metadata: Option<&'a Metadata>,
    /// `temperature`
    pub temperature: Option<f64>,
    /// `top_p`
    pub top_p: Option<f64>,
    /// `max_prompt_tokens`
    pub max_prompt_tokens: Option<i64>,
    /// `max_completion_tokens`
    pub max_completion_tokens: Option<i64>,
    /// `truncation_strategy`
    pub truncation_strategy: Option<&'a TruncationObject>,
    /// `tool_choice`
    pub tool_choice: Option<&'a ToolChoiceOption>,
}

/// The run parameters.
pub fn run_params(p: &RunParams<'_>) -> Checked {
    if let Some(m) = p.model {
        model("model", m)?;
    }
    if let Some(i) = p.instructions {
        max_len("instructions", i, limits::INSTRUCTIONS)?;
    }
    if let Some(t) = p.tools {
        tools("tools", t, limits::RUN_TOOLS)?;
    }
    metadata("metadata", p.metadata)?;
    temperature("temperature", p.temperature)?;
    top_p("top_p", p.top_p)?;
    token_budget("max_prompt_tokens", p.max_prompt_tokens)?;
    token_budget("max_completion_tokens", p.max_completion_tokens)?;
    truncation(p.truncation_strategy)?;
    tool_choice(p.tool_choice)
}

fn assistant_id(id: &str) -> Checked {
    if id.is_empty() {
        return Err(Invalid::new(
            "assistant_id",
            "Invalid 'assistant_id': empty string. Expected an assistant id.",
        ));
    }
    Ok(())
}

/// `CreateRunRequest`.
pub fn create_run(req: &CreateRunRequest) -> Checked {
    assistant_id(req.assistant_id.as_str())?;
    run_params(&RunParams {
        model: req.model.as_deref(),
        instructions: req.instructions.as_deref(),
        tools: req.tools.as_deref(),
        metadata: req.metadata.as_ref(),
        temperature: req.temperature,
        top_p: req.top_p,
        max_prompt_tokens: req.max_prompt_tokens,
        max_completion_tokens: req.max_completion_tokens,
        truncation_strategy: req.truncation_strategy.as_ref(),
        tool_choice: req.tool_choice.as_ref(),
    })?;
    if let Some(a) = &req.additional_instructions {
        max_len("additional_instructions", a, limits::INSTRUCTIONS)?;
    }
    if let Some(m) = &req.additional_messages {
        messages("additional_messages", m)?;
    }
    Ok(())
}

/// `CreateThreadAndRunRequest`.
pub fn create_thread_and_run(req: &CreateThreadAndRunRequest) -> Checked {
    assistant_id(req.assistant_id.as_str())?;
    if let Some(t) = &req.thread {
        create_thread("thread", t)?;
    }
    run_params(&RunParams {
        model: req.model.as_deref(),
        instructions: req.instructions.as_deref(),
        tools: req.tools.as_deref(),
        metadata: req.metadata.as_ref(),
        temperature: req.temperature,
        top_p: req.top_p,
        max_prompt_tokens: req.max_prompt_tokens,
        max_completion_tokens: req.max_completion_tokens,
        truncation_strategy: req.truncation_strategy.as_ref(),
        tool_choice: req.tool_choice.as_ref(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asst(model: &str) -> CreateAssistantRequest {
        serde_json::from_value(serde_json::json!({ "model": model })).unwrap()
    }

    #[test]
    fn name_limit_is_256_characters_not_bytes() {
        let mut req = asst("m");
        req.name = Some("é".repeat(256));
        assert!(create_assistant(&req).is_ok());
        req.name = Some("é".repeat(257));
        let err = create_assistant(&req).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("name"));
        assert!(
            err.message.contains("maximum length 256"),
            "{}",
            err.message
        );
    }

    #[test]
    fn metadata_limits() {
        let mut m = Metadata::new();
        for i in 0..16 {
            m.insert(format!("k{i}"), "v".into());
        }
        assert!(metadata("metadata", Some(&m)).is_ok());
        m.insert("k16".into(), "v".into());
        assert_eq!(
            metadata("metadata", Some(&m)).unwrap_err().param.as_deref(),
            Some("metadata")
        );
        let mut m = Metadata::new();
        m.insert("k".repeat(65), "v".into());
        assert!(metadata("metadata", Some(&m)).is_err());
        let mut m = Metadata::new();
        m.insert("k".into(), "v".repeat(513));
        assert_eq!(
            metadata("metadata", Some(&m)).unwrap_err().param.as_deref(),
            Some("metadata.k")
        );
    }

    #[test]
    fn function_names() {
        assert!(is_function_name("get_weather-2"));
        assert!(is_function_name(&"a".repeat(64)));
        assert!(!is_function_name(&"a".repeat(65)));
        assert!(!is_function_name(""));
        assert!(!is_function_name("get weather"));
        assert!(!is_function_name("größe"));
    }

    #[test]
    fn ranges() {
        assert!(temperature("temperature", Some(2.0)).is_ok());
        assert!(temperature("temperature", Some(2.01)).is_err());
        assert!(temperature("temperature", Some(-0.1)).is_err());
        assert!(top_p("top_p", Some(1.0)).is_ok());
        assert!(top_p("top_p", Some(1.5)).is_err());
    }

    #[test]
    fn nested_message_params_are_named() {
        let req: CreateThreadRequest = serde_json::from_value(serde_json::json!({
            "messages": [{"role": "user", "content": "hi"}, {"role": "user", "content": ""}]
        }))
        .unwrap();
        let err = create_thread("thread", &req).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("thread.messages[1].content"));
    }

    #[test]
    fn messages_per_request_are_capped() {
        let msgs = |n: usize| -> CreateThreadRequest {
            let one = serde_json::json!({"role": "user", "content": "x"});
            serde_json::from_value(serde_json::json!({ "messages": vec![one; n] })).unwrap()
        };
        assert!(create_thread("", &msgs(limits::MESSAGES_PER_REQUEST)).is_ok());
        let err = create_thread("thread", &msgs(limits::MESSAGES_PER_REQUEST + 1)).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("thread.messages"));
        assert!(err.message.contains("array too long"), "{}", err.message);
    }
}
