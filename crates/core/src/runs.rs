//! How a run's effective parameters are resolved from its assistant and the request: the
//! request's overrides win, the assistant fills the rest, and OpenAI's defaults fill the gaps.

use crate::ids::FreshId;
use crate::store::NewRun;
use assistd_wire::{
    Assistant, AssistantTool, CreateMessageRequest, Metadata, ReasoningEffort,
    ResponseFormatOption, RunId, ToolChoiceOption, ToolResourcesRequest, TruncationObject,
};

/// The per-run parameters a request may set (`CreateRunRequest` and
/// `CreateThreadAndRunRequest` share them).
#[derive(Debug, Clone, Default)]
pub struct RunOverrides {
    /// `model`
    pub model: Option<String>,
    /// `instructions`
    pub instructions: Option<String>,
    /// `additional_instructions`
    pub additional_instructions: Option<String>,
    /// `additional_messages`
    pub additional_messages: Option<Vec<CreateMessageRequest>>,
    /// `tools`
    pub tools: Option<Vec<AssistantTool>>,
    /// `metadata`
    pub metadata: Option<Metadata>,
    /// `temperature`
    pub temperature: Option<f64>,
    /// `top_p`
    pub top_p: Option<f64>,
    /// `max_prompt_tokens`
    pub max_prompt_tokens: Option<i64>,
    /// `max_completion_tokens`
    pub max_completion_tokens: Option<i64>,
    /// `truncation_strategy`
    pub truncation_strategy: Option<TruncationObject>,
    /// `tool_choice`
    pub tool_choice: Option<ToolChoiceOption>,
    /// `response_format`
    pub response_format: Option<ResponseFormatOption>,
    /// `parallel_tool_calls` (v2)
    pub parallel_tool_calls: Option<bool>,
    /// `reasoning_effort` (v2)
    pub reasoning_effort: Option<ReasoningEffort>,
    /// createThreadAndRun's `tool_resources` (v2)
    pub tool_resources: Option<ToolResourcesRequest>,
}

/// What a run shows for a sampling parameter (`temperature`, `top_p`) that neither its request
/// nor its assistant set: OpenAI reports 1.0, the value the model then uses. The run stores
/// `None` for it, so that the upstream request leaves the parameter out.
pub const DEFAULT_SAMPLING: f64 = 1.0;

/// The sampling parameter a run shows, given what was `set` (see [`DEFAULT_SAMPLING`]).
pub fn reported_sampling(set: Option<f64>) -> Option<f64> {
    set.or(Some(DEFAULT_SAMPLING))
}

/// The run to enqueue for `assistant` with `overrides`, expiring `expires_after_secs` after
/// creation.
pub fn resolve(assistant: &Assistant, o: RunOverrides, expires_after_secs: i64) -> NewRun {
    NewRun {
        id: RunId::fresh(),
        streamer: None,
        assistant_id: assistant.id.clone(),
        model: o.model.unwrap_or_else(|| assistant.model.clone()),
        instructions: o
            .instructions
            .or_else(|| assistant.instructions.clone())
            .unwrap_or_default(),
        additional_instructions: o.additional_instructions,
        additional_messages: o.additional_messages.unwrap_or_default(),
        tools: o.tools.unwrap_or_else(|| assistant.tools.clone()),
        file_ids: assistant.file_ids.clone(),
        metadata: o.metadata,
        // Only what someone set: the upstream applies its own default to the rest (the run
        // still shows 1.0 for it, see `reported_sampling`).
        temperature: o.temperature.or(assistant.temperature),
        top_p: o.top_p.or(assistant.top_p),
        max_prompt_tokens: o.max_prompt_tokens,
        max_completion_tokens: o.max_completion_tokens,
        truncation_strategy: o.truncation_strategy.unwrap_or_default(),
        tool_choice: o.tool_choice.unwrap_or_default(),
        response_format: o
            .response_format
            .or_else(|| assistant.response_format.clone())
            .unwrap_or_default(),
        parallel_tool_calls: o.parallel_tool_calls.unwrap_or(true),
        // The run's own wins; else the assistant's.
        reasoning_effort: o.reasoning_effort.or(assistant.reasoning_effort),
        tool_resources: o.tool_resources,
        expires_after_secs,
    }
}
