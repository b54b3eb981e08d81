//! Prompt assembly: instructions, the thread's messages (truncated as the run asks), and the
//! run's own turns so far (its messages and its function calls with their outputs).

use assistd_core::ClaimedRun;
use assistd_core::model::{ChatMessage, ChatRequest, ToolCall, ToolChoice};
use assistd_wire::{
    AssistantTool, Message, MessageContent, MessageRole, MessageStatus, NamedToolType,
    ResponseFormatOption, ResponseFormatType, Run, RunStep, RunStepStatus, StepDetails,
    StepToolCall, ToolChoiceMode, ToolChoiceOption, TruncationType,
};

/// A rough token estimate (4 characters a token) used to honour `max_prompt_tokens` without a
/// tokenizer for every upstream.
pub fn estimate_tokens(text: &str) -> i64 {
    i64::try_from(text.chars().count().div_ceil(4).max(1)).unwrap_or(i64::MAX)
}

fn text_of(m: &Message) -> String {
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

/// Builds the model request for the next turn of `claim`.
pub fn build(
    claim: &ClaimedRun,
    messages: &[Message],
    steps: &[RunStep],
    max_tokens: Option<i64>,
) -> ChatRequest {
    let run = &claim.run;
    let system = system_prompt(claim);
    let mut history = history(run, messages);
    let turns = run_turns(messages, steps);
    if let Some(budget) = run.max_prompt_tokens {
        fit_budget(budget, &system, &turns, &mut history);
    }

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
            _ => None,
        })
        .collect();
    ChatRequest {
        model: run.model.clone(),
        messages: prompt,
        tools,
        tool_choice: tool_choice(&run.tool_choice, called_already),
        temperature: run.temperature,
        top_p: run.top_p,
        max_tokens,
        json_object: matches!(
            run.response_format,
            ResponseFormatOption::Format(ref f) if f.type_ == ResponseFormatType::JsonObject
        ),
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
/// truncated to the last ones if the run asks for it.
fn history(run: &Run, messages: &[Message]) -> Vec<ChatMessage> {
    let mut history: Vec<ChatMessage> = messages
        .iter()
        .filter(|m| m.run_id.as_ref() != Some(&run.id))
        .filter(|m| m.status != MessageStatus::InProgress)
        .map(thread_message)
        .collect();
    if run.truncation_strategy.type_ == TruncationType::LastMessages
        && let Some(n) = run.truncation_strategy.last_messages
    {
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        if history.len() > n {
            history.drain(..history.len() - n);
        }
    }
    history
}

/// This run's turns so far: its answers, and its function calls followed by their outputs.
fn run_turns(messages: &[Message], steps: &[RunStep]) -> Vec<ChatMessage> {
    let mut turns = Vec::new();
    for step in steps
        .iter()
        .filter(|s| s.status == RunStepStatus::Completed)
    {
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
                    if let StepToolCall::Function { id, function } = call {
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
                }
                turns.push(ChatMessage::Assistant {
                    content: None,
                    tool_calls: calls,
                });
                turns.extend(outputs);
            }
        }
    }
    turns
}

/// `max_prompt_tokens` (and `auto` truncation under it): drops the oldest thread messages until
/// the estimate fits `budget`, always keeping the last one.
fn fit_budget(budget: i64, system: &str, turns: &[ChatMessage], history: &mut Vec<ChatMessage>) {
    let size = |m: &ChatMessage| match m {
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
    };
    let fixed: i64 = estimate_tokens(system) + turns.iter().map(size).sum::<i64>();
    let mut total = fixed + history.iter().map(size).sum::<i64>();
    while total > budget && history.len() > 1 {
        total -= size(&history.remove(0));
    }
}

/// The model's tool choice for this turn.
fn tool_choice(choice: &ToolChoiceOption, called_already: bool) -> ToolChoice {
    match choice {
        ToolChoiceOption::Mode(ToolChoiceMode::None) => ToolChoice::None,
        ToolChoiceOption::Mode(ToolChoiceMode::Auto) => ToolChoice::Auto,
        ToolChoiceOption::Named(_) if called_already => ToolChoice::Auto,
        ToolChoiceOption::Named(n) => match (&n.type_, &n.function) {
            (NamedToolType::Function, Some(f)) => ToolChoice::Function(f.name.clone()),
            _ => ToolChoice::Auto,
        },
    }
}
