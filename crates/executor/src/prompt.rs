//! Prompt assembly: instructions, the thread's messages (truncated as the run asks), and the
//! run's own turns so far (its messages and its function calls with their outputs).
//!
//! The thread is read newest first, a page at a time, only back as far as the prompt takes
//! (`truncation_strategy.last_messages`, the token budget): a run on a thread of a million
//! messages reads a few pages, not the thread.

use crate::{code_interpreter, file_search};
use assistd_core::model::{ChatFormat, ChatMessage, ChatRequest, ToolCall, ToolChoice};
use assistd_core::{ClaimedRun, EngineStore, StoreResult};
use assistd_wire::{
    AssistantTool, Message, MessageContent, MessageId, MessageRole, NamedToolType,
    ResponseFormatOption, ResponseFormatType, RunStep, RunStepStatus, StepDetails, StepToolCall,
    ToolChoiceMode, ToolChoiceOption, TruncationType,
};

/// A rough token estimate (4 characters a token) used to honour `max_prompt_tokens` without a
/// tokenizer for every upstream.
pub fn estimate_tokens(text: &str) -> i64 {
    i64::try_from(text.chars().count().div_ceil(4).max(1)).unwrap_or(i64::MAX)
}

/// The text parts of a message, joined by newlines.
pub fn text_of(m: &Message) -> String {
    let mut out = String::new();
    for c in &m.content {
        if let MessageContent::Text { text } = c {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&text.value);
        }
    }
    out
}

fn thread_message(m: &Message) -> ChatMessage {
    let text = text_of(m);
    match m.role {
        MessageRole::User => ChatMessage::User(text),
        MessageRole::Assistant => ChatMessage::Assistant {
            content: Some(text),
            tool_calls: Vec::new(),
        },
    }
}

/// Messages read per page while the history is gathered.
pub const HISTORY_PAGE: u32 = 200;

/// Builds the model request for the next turn of `claim`: the thread's history is read from
/// `store` back as far as the run's truncation and what is left of its prompt budget
/// (`prompt_budget`) reach, and never beyond `max_history_tokens` (estimated), whatever the
/// run asks. `None` when not even the newest message fits what is left of the run's prompt
/// budget (with the instructions and the run's own turns): the run cannot go on.
pub async fn build(
    store: &dyn EngineStore,
    claim: &ClaimedRun,
    steps: &[RunStep],
    max_tokens: Option<i64>,
    prompt_budget: Option<i64>,
    max_history_tokens: i64,
    offer: Offer,
) -> StoreResult<Option<ChatRequest>> {
    let run = &claim.run;
    let system = system_prompt(claim);
    // The run's own messages are the text of its completed message steps: read only if it
    // has one.
    let own = if completed(steps)
        .any(|s| matches!(s.step_details, StepDetails::MessageCreation { .. }))
    {
        store.run_messages(&claim.project, &run.id).await?
    } else {
        Vec::new()
    };
    let turns = run_turns(&own, steps, offer.search == SearchMode::UpFront);
    let budget = prompt_budget.map_or(max_history_tokens, |b| b.min(max_history_tokens));
    let fixed = estimate_tokens(&system) + turns.iter().map(size).sum::<i64>();
    let (history, total) = history(store, claim, fixed, budget).await?;
    // The history stops before the budget, except for the newest message, which it always
    // keeps: over the run's own budget, that is the end of the run (a server-wide
    // `max_history_tokens` only trims).
    if prompt_budget.is_some_and(|b| total > b) {
        return Ok(None);
    }
    Ok(Some(request(
        claim, system, history, turns, max_tokens, offer,
    )))
}

/// Which built-in tools the model is offered as functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    /// How `file_search` reaches the model.
    pub search: SearchMode,
    /// Whether `code_interpreter` is offered.
    pub code: bool,
}

/// How the run's `file_search` reaches the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchMode {
    /// The run has no file search (or this server cannot search).
    Off,
    /// Offered as the function `file_search`, which the model calls when it wants.
    Tool,
    /// Run by the server on the user's last message before the first turn, its results put in
    /// the prompt (for models that do not call tools).
    UpFront,
}

/// The request from its parts.
fn request(
    claim: &ClaimedRun,
    system: String,
    history: Vec<ChatMessage>,
    turns: Vec<ChatMessage>,
    max_tokens: Option<i64>,
    offer: Offer,
) -> ChatRequest {
    let offer_search = offer.search == SearchMode::Tool;
    let run = &claim.run;
    // A named tool choice forces the run's first turn only: once its outputs are in, the model
    // answers them (forcing every turn would call the function forever).
    let called_already = !turns.is_empty();
    let mut prompt = Vec::with_capacity(history.len() + turns.len() + 1);
    if !system.is_empty() {
        prompt.push(ChatMessage::System(system));
    }
    prompt.extend(history);
    prompt.extend(turns);

    let tools = run
        .tools
        .iter()
        .filter_map(|t| match t {
            AssistantTool::Function { function } => Some(function.clone()),
            AssistantTool::FileSearch(_) if offer_search => Some(file_search::function()),
            AssistantTool::CodeInterpreter if offer.code => Some(code_interpreter::function()),
            _ => None,
        })
        .collect();
    ChatRequest {
        model: run.model.clone(),
        messages: prompt,
        tools,
        tool_choice: tool_choice(&run.tool_choice, called_already, offer),
        // What nobody set stays out: the upstream applies its own default.
        temperature: claim.sampling.temperature,
        top_p: claim.sampling.top_p,
        max_tokens,
        response_format: match &run.response_format {
            ResponseFormatOption::Format(f) if f.type_ == ResponseFormatType::JsonObject => {
                ChatFormat::JsonObject
            }
            ResponseFormatOption::JsonSchema(s) => ChatFormat::JsonSchema(s.json_schema.clone()),
            _ => ChatFormat::Text,
        },
        parallel_tool_calls: (!run.parallel_tool_calls).then_some(false),
        reasoning_effort: run.reasoning_effort,
    }
}

/// The run's instructions followed by its additional instructions.
fn system_prompt(claim: &ClaimedRun) -> String {
    let mut system = claim.run.instructions.clone();
    if let Some(extra) = claim
        .additional_instructions
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        if !system.is_empty() {
            system.push_str("\n\n");
        }
        system.push_str(extra);
    }
    system
}

/// The thread as it was before this run: completed messages written by anyone but this run,
/// oldest first; the newest of them only, as many as `truncation_strategy.last_messages` allows
/// and as fit `budget` with the `fixed` part of the prompt (the newest one always); with the
/// estimated size of the whole prompt.
async fn history(
    store: &dyn EngineStore,
    claim: &ClaimedRun,
    fixed: i64,
    budget: i64,
) -> StoreResult<(Vec<ChatMessage>, i64)> {
    let run = &claim.run;
    let most = match (
        run.truncation_strategy.type_,
        run.truncation_strategy.last_messages,
    ) {
        (TruncationType::LastMessages, Some(n)) => usize::try_from(n).unwrap_or(usize::MAX),
        _ => usize::MAX,
    };
    let mut newest_first = Vec::new();
    let mut total = fixed;
    let mut before: Option<MessageId> = None;
    'pages: while newest_first.len() < most {
        let page = store
            .thread_history(
                &claim.project,
                &run.thread_id,
                &run.id,
                before.as_ref(),
                HISTORY_PAGE,
            )
            .await?;
        let last_page = page.len() < HISTORY_PAGE as usize;
        before = page.last().map(|m| m.id.clone());
        for m in &page {
            let msg = thread_message(m);
            let cost = size(&msg);
            if newest_first.len() >= most
                || (!newest_first.is_empty() && total.saturating_add(cost) > budget)
            {
                break 'pages;
            }
            total = total.saturating_add(cost);
            newest_first.push(msg);
        }
        if last_page {
            break;
        }
    }
    newest_first.reverse();
    Ok((newest_first, total))
}

/// The steps whose turns the prompt shows: the completed ones.
fn completed(steps: &[RunStep]) -> impl Iterator<Item = &RunStep> {
    steps
        .iter()
        .filter(|s| s.status == RunStepStatus::Completed)
}

/// This run's turns so far: its answers, and its function calls followed by their outputs.
/// File searches are calls with their numbered results as output; `inline` (for models that
/// do not call tools) puts their results in a system message instead.
fn run_turns(messages: &[Message], steps: &[RunStep], inline: bool) -> Vec<ChatMessage> {
    let mut turns = Vec::new();
    let mut searches = 0usize;
    for step in completed(steps) {
        match &step.step_details {
            StepDetails::MessageCreation { message_creation } => {
                if let Some(m) = messages
                    .iter()
                    .find(|m| m.id == message_creation.message_id.as_str())
                {
                    turns.push(ChatMessage::Assistant {
                        content: Some(text_of(m)),
                        tool_calls: Vec::new(),
                    });
                }
            }
            StepDetails::ToolCalls { tool_calls } => {
                let mut calls = Vec::new();
                let mut outputs = Vec::new();
                for call in tool_calls {
                    match call {
                        StepToolCall::Function { id, function } => {
                            calls.push(ToolCall {
                                id: id.clone(),
                                name: function.name.clone(),
                                arguments: function.arguments.clone(),
                            });
                            outputs.push(ChatMessage::Tool {
                                tool_call_id: id.clone(),
                                content: function.output.clone().unwrap_or_default(),
                            });
                        }
                        StepToolCall::FileSearch { id, file_search } => {
                            let found = file_search::output(searches, file_search);
                            searches += 1;
                            let query = file_search.query.clone().unwrap_or_default();
                            if inline {
                                turns.push(ChatMessage::System(format!(
                                    "Passages from the user's files found for \"{query}\":\n\n\
                                     {found}\n\n{}",
                                    file_search::CITE_HOW
                                )));
                                continue;
                            }
                            calls.push(ToolCall {
                                id: id.clone(),
                                name: file_search::TOOL_NAME.to_owned(),
                                arguments: serde_json::json!({ "query": query }).to_string(),
                            });
                            outputs.push(ChatMessage::Tool {
                                tool_call_id: id.clone(),
                                content: found,
                            });
                        }
                        StepToolCall::CodeInterpreter {
                            id,
                            code_interpreter: call,
                        } => {
                            calls.push(ToolCall {
                                id: id.clone(),
                                name: code_interpreter::TOOL_NAME.to_owned(),
                                arguments: serde_json::json!({ "code": call.input }).to_string(),
                            });
                            outputs.push(ChatMessage::Tool {
                                tool_call_id: id.clone(),
                                content: code_interpreter::output(call),
                            });
                        }
                    }
                }
                if !calls.is_empty() {
                    turns.push(ChatMessage::Assistant {
                        content: None,
                        tool_calls: calls,
                    });
                    turns.extend(outputs);
                }
            }
        }
    }
    turns
}

/// The estimated tokens of a prompt message.
fn size(m: &ChatMessage) -> i64 {
    match m {
        ChatMessage::System(t) | ChatMessage::User(t) => estimate_tokens(t),
        ChatMessage::Assistant {
            content,
            tool_calls,
        } => {
            content.as_deref().map_or(0, estimate_tokens)
                + tool_calls
                    .iter()
                    .map(|c| estimate_tokens(&c.arguments))
                    .sum::<i64>()
        }
        ChatMessage::Tool { content, .. } => estimate_tokens(content),
    }
}

/// The model's tool choice for this turn.
fn tool_choice(choice: &ToolChoiceOption, called_already: bool, offer: Offer) -> ToolChoice {
    match choice {
        ToolChoiceOption::Mode(ToolChoiceMode::None) => ToolChoice::None,
        ToolChoiceOption::Mode(ToolChoiceMode::Auto) => ToolChoice::Auto,
        // Like a named function, `required` binds the turn that answers the user's message;
        // once calls were made, the model may answer their results in text.
        ToolChoiceOption::Named(_) | ToolChoiceOption::Mode(ToolChoiceMode::Required)
            if called_already =>
        {
            ToolChoice::Auto
        }
        ToolChoiceOption::Mode(ToolChoiceMode::Required) => ToolChoice::Required,
        ToolChoiceOption::Named(n) => match (&n.type_, &n.function) {
            (NamedToolType::Function, Some(f)) => ToolChoice::Function(f.name.clone()),
            (NamedToolType::FileSearch, _) if offer.search == SearchMode::Tool => {
                ToolChoice::Function(file_search::TOOL_NAME.to_owned())
            }
            (NamedToolType::CodeInterpreter, _) if offer.code => {
                ToolChoice::Function(code_interpreter::TOOL_NAME.to_owned())
            }
            _ => ToolChoice::Auto,
        },
    }
}
