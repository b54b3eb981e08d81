//! The `code_interpreter` tool in runs: what the model is offered, which files the code reads,
//! how a call's code streams while the model writes it, how its outputs are recorded and
//! streamed, and how the answer's `sandbox:/mnt/data/…` links become `file_path` annotations
//! and its images `image_file` parts.
//!
//! The calls run through a [`CodeRunner`] (the server's sandbox); everything the answer needs
//! (the files each call wrote) is kept in the run's steps, so whichever worker writes the
//! answer finds it there.

use crate::events::EventBus;
use assistd_core::code::{CodeCall, CodeError, CodeOutcome, CodeRunner};
use assistd_core::{ListParams, Order, Project, Store, StoreError};
use assistd_wire::{
    AssistantTool, AttachmentTool, CodeInterpreterCall, CodeInterpreterFile, CodeInterpreterImage,
    CodeInterpreterOutput, FileId, FilePathRef, FunctionObject, Run, RunStep, RunStepDeltaObject,
    StepDetails, StepToolCall, StreamEvent, TextAnnotation,
};
use std::fmt::Write;

/// The name the model calls the tool by.
pub const TOOL_NAME: &str = "code_interpreter";

/// Where the files are, in the sandbox and in links to them.
const DATA_DIR: &str = "/mnt/data/";

/// How an answer links to a file the code wrote.
const LINK_PREFIX: &str = "sandbox:/mnt/data/";

/// Thread messages whose attachments are read for the code's files (the newest first).
const ATTACHMENT_MESSAGES: u32 = 100;

/// The function the model is offered for the tool.
pub fn function() -> FunctionObject {
    FunctionObject {
        name: TOOL_NAME.to_owned(),
        description: Some(
            "Run Python code in a stateful sandbox, like a Jupyter notebook: variables and \
             files last across calls within this conversation turn. numpy, pandas and \
             matplotlib are installed; there is no internet access. The user's files are in \
             /mnt/data. Save charts with matplotlib to /mnt/data as PNG files to show them to \
             the user, and write files the user should download to /mnt/data, then link them \
             in your answer as sandbox:/mnt/data/<name>. Print the values you need to see."
                .to_owned(),
        ),
        parameters: Some(serde_json::json!({
            "type": "object",
            "properties": {
                "code": {"type": "string", "description": "The Python code to run."}
            },
            "required": ["code"],
        })),
        strict: None,
    }
}

/// Whether the run has the tool.
pub fn wanted(run: &Run) -> bool {
    run.tools
        .iter()
        .any(|t| matches!(t, AssistantTool::CodeInterpreter))
}

/// The files the run's code reads: its assistant's and its thread's `code_interpreter` files
/// (v1's assistant files among them), and the files attached to the thread's newest messages
/// for the tool (v1's message files among them). An assistant or thread gone since the run
/// started adds none.
pub async fn run_files(
    store: &dyn Store,
    project: &Project,
    run: &Run,
) -> Result<Vec<FileId>, StoreError> {
    let mut ids: Vec<String> = crate::resources::of_run(store, project, run)
        .await?
        .into_iter()
        .filter_map(|r| r.code_interpreter)
        .flat_map(|c| c.file_ids)
        .collect();
    let params = ListParams {
        limit: ATTACHMENT_MESSAGES,
        order: Order::Desc,
        after: None,
        before: None,
    };
    let messages = store
        .list_messages(project, &run.thread_id, &params, None)
        .await?;
    for m in messages.data.iter().rev() {
        for a in m.attachments.iter().flatten() {
            if a.tools.contains(&AttachmentTool::CodeInterpreter) {
                ids.push(a.file_id.clone());
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    ids.retain(|id| seen.insert(id.clone()));
    Ok(ids.into_iter().map(FileId::from).collect())
}

/// The code of a call's arguments as far as they have arrived: the value of their `"code"`
/// string, decoded up to its last complete character (`None` before the string starts).
/// Models write the arguments as JSON, so the code streams while it is being written.
pub fn code_so_far(arguments: &str) -> Option<String> {
    let key = arguments.find("\"code\"")?;
    let rest = arguments[key + "\"code\"".len()..].trim_start();
    let rest = rest.strip_prefix(':')?.trim_start();
    let body = rest.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => break,
            '\\' => {
                let Some(e) = chars.next() else { break };
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'u' => {
                        let hex: String = chars.by_ref().take(4).collect();
                        if hex.len() < 4 {
                            break;
                        }
                        let Ok(unit) = u16::from_str_radix(&hex, 16) else {
                            break;
                        };
                        // A surrogate pair is written once its second half is in.
                        if (0xD800..0xDC00).contains(&unit) {
                            let low: String = chars.by_ref().take(6).collect();
                            let Some(low) = low
                                .strip_prefix("\\u")
                                .and_then(|h| u16::from_str_radix(h, 16).ok())
                            else {
                                break;
                            };
                            out.extend(
                                char::decode_utf16([unit, low])
                                    .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER)),
                            );
                        } else {
                            out.push(char::from_u32(unit.into()).unwrap_or('\u{fffd}'));
                        }
                    }
                    other => out.push(other),
                }
            }
            c => out.push(c),
        }
    }
    Some(out)
}

/// The code of a call's complete arguments (which `checked_calls` found to be JSON): the
/// `code` field, or the arguments themselves when a model sent the code bare.
pub fn code_of(arguments: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(arguments) {
        Ok(serde_json::Value::Object(o)) => match o.get("code") {
            Some(serde_json::Value::String(c)) => c.clone(),
            _ => String::new(),
        },
        Ok(serde_json::Value::String(c)) => c,
        _ => arguments.to_owned(),
    }
}

/// What the calls of a turn need.
pub struct RunCode<'a> {
    /// Storage.
    pub store: &'a dyn Store,
    /// Stream events.
    pub events: &'a EventBus,
    /// Runs the code.
    pub runner: &'a dyn CodeRunner,
    /// The run's owner.
    pub project: &'a Project,
    /// The run.
    pub run: &'a Run,
}

impl RunCode<'_> {
    /// Runs the `(stream index, call id, code)` calls of step `step_id` one after the other,
    /// streaming each call's outputs as it ends: the step's tool calls, in order.
    pub async fn calls(
        &self,
        step_id: &str,
        calls: Vec<(u32, String, String)>,
    ) -> Result<Vec<StepToolCall>, CodeError> {
        if calls.is_empty() {
            return Ok(Vec::new());
        }
        let files = run_files(self.store, self.project, self.run).await?;
        let mut done = Vec::with_capacity(calls.len());
        for (index, id, code) in calls {
            let outcome = self
                .runner
                .run(CodeCall {
                    project: self.project,
                    run: self.run,
                    files: &files,
                    code: &code,
                })
                .await?;
            let call = recorded(code, outcome);
            self.events.publish(
                &self.run.id,
                StreamEvent::StepDelta,
                &RunStepDeltaObject::code_interpreter(
                    step_id,
                    index,
                    None,
                    None,
                    Some(call.outputs.clone()),
                ),
            );
            done.push(StepToolCall::CodeInterpreter {
                id,
                code_interpreter: call,
            });
        }
        Ok(done)
    }
}

/// A call as the step records it: its logs (when it printed anything), then its images.
fn recorded(input: String, outcome: CodeOutcome) -> CodeInterpreterCall {
    let mut outputs = Vec::new();
    if !outcome.logs.is_empty() {
        outputs.push(CodeInterpreterOutput::Logs { logs: outcome.logs });
    }
    outputs.extend(outcome.files.iter().filter(|f| f.image).map(|f| {
        CodeInterpreterOutput::Image {
            image: CodeInterpreterImage {
                file_id: f.file_id.to_string(),
            },
        }
    }));
    CodeInterpreterCall {
        input,
        outputs,
        files: outcome
            .files
            .into_iter()
            .map(|f| CodeInterpreterFile {
                path: f.path,
                file_id: f.file_id.into_string(),
            })
            .collect(),
    }
}

/// What the model reads of a call: what it printed and the files it wrote.
pub fn output(call: &CodeInterpreterCall) -> String {
    let mut out = String::new();
    for o in &call.outputs {
        if let CodeInterpreterOutput::Logs { logs } = o {
            out.push_str(logs);
        }
    }
    if !call.files.is_empty() {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str("Files written:");
        for f in &call.files {
            let _ = write!(out, " sandbox:{}", f.path);
        }
    }
    if out.is_empty() {
        out.push_str("(no output)");
    }
    out
}

/// The code interpreter calls of `steps`, in order.
fn calls(steps: &[RunStep]) -> impl Iterator<Item = &CodeInterpreterCall> {
    steps
        .iter()
        .flat_map(RunStep::tool_calls)
        .filter_map(|c| match c {
            StepToolCall::CodeInterpreter {
                code_interpreter, ..
            } => Some(code_interpreter),
            _ => None,
        })
}

/// The images the run's code drew since its last message (the next message shows them).
pub fn new_images(steps: &[RunStep]) -> Vec<String> {
    let since = steps
        .iter()
        .rposition(|s| matches!(s.step_details, StepDetails::MessageCreation { .. }))
        .map_or(0, |i| i + 1);
    calls(&steps[since..])
        .flat_map(|c| &c.outputs)
        .filter_map(|o| match o {
            CodeInterpreterOutput::Image { image } => Some(image.file_id.clone()),
            CodeInterpreterOutput::Logs { .. } => None,
        })
        .collect()
}

/// The `file_path` annotations of `text`: one per link `sandbox:/mnt/data/<path>` naming a
/// file the run's code wrote (the newest of that path). A link naming none is left as text.
/// Indices count characters, as the API's do.
pub fn annotate(text: &str, steps: &[RunStep]) -> Vec<TextAnnotation> {
    let written: Vec<&CodeInterpreterFile> = calls(steps).flat_map(|c| &c.files).collect();
    if written.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find(LINK_PREFIX) {
        let start = from + at;
        let path_start = start + LINK_PREFIX.len();
        let len = text[path_start..]
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | ']' | '"' | '\'' | '<' | '>'))
            .unwrap_or(text.len() - path_start);
        let end = path_start + len;
        let path = format!("{DATA_DIR}{}", &text[path_start..end]);
        // A link at the end of a sentence carries its period; the file's name does not.
        let trimmed = path.trim_end_matches(['.', ',', ';', ':', '!', '?']);
        let end = end - (path.len() - trimmed.len());
        if let Some(f) = written.iter().rev().find(|f| f.path == trimmed) {
            let start_chars = text[..start].chars().count();
            let link = &text[start..end];
            out.push(TextAnnotation::FilePath {
                text: link.to_owned(),
                file_path: FilePathRef {
                    file_id: f.file_id.clone(),
                },
                start_index: u32::try_from(start_chars).unwrap_or(u32::MAX),
                end_index: u32::try_from(start_chars + link.chars().count()).unwrap_or(u32::MAX),
            });
        }
        from = end.max(path_start);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::step;

    fn code_step(files: &[(&str, &str, bool)]) -> RunStep {
        let outcome = CodeOutcome {
            logs: "3\n".to_owned(),
            files: files
                .iter()
                .map(|(path, id, image)| assistd_core::code::CodeFile {
                    path: (*path).to_owned(),
                    file_id: FileId::from(*id),
                    image: *image,
                })
                .collect(),
        };
        step(&StepDetails::ToolCalls {
            tool_calls: vec![StepToolCall::CodeInterpreter {
                id: "call_1".to_owned(),
                code_interpreter: recorded("print(1 + 2)".to_owned(), outcome),
            }],
        })
    }

    #[test]
    fn code_streams_as_its_json_string_arrives() {
        assert_eq!(code_so_far(""), None);
        assert_eq!(code_so_far("{\"co"), None);
        assert_eq!(code_so_far("{\"code\": "), None);
        assert_eq!(code_so_far("{\"code\": \"pri").as_deref(), Some("pri"));
        assert_eq!(
            code_so_far("{\"code\": \"print(\\\"h\\u00e9\\\")\\n\\").as_deref(),
            Some("print(\"hé\")\n")
        );
        // Half an escape is held back until the rest arrives.
        assert_eq!(code_so_far("{\"code\":\"a\\u00").as_deref(), Some("a"));
        assert_eq!(code_so_far("{\"code\":\"\\ud83d").as_deref(), Some(""));
        assert_eq!(
            code_so_far("{\"code\":\"\\ud83d\\ude00!\"}").as_deref(),
            Some("😀!")
        );
        assert_eq!(code_of("{\"code\": \"x = 1\"}"), "x = 1");
        assert_eq!(code_of("\"x = 2\""), "x = 2");
    }

    #[test]
    fn logs_come_before_images_and_the_model_reads_both() {
        let s = code_step(&[
            ("/mnt/data/a.png", "file-a", true),
            ("/mnt/data/b.csv", "file-b", false),
        ]);
        let StepDetails::ToolCalls { tool_calls } = &s.step_details else {
            unreachable!()
        };
        let StepToolCall::CodeInterpreter {
            code_interpreter, ..
        } = &tool_calls[0]
        else {
            unreachable!()
        };
        assert_eq!(
            code_interpreter.outputs,
            vec![
                CodeInterpreterOutput::Logs {
                    logs: "3\n".to_owned()
                },
                CodeInterpreterOutput::Image {
                    image: CodeInterpreterImage {
                        file_id: "file-a".to_owned()
                    }
                },
            ]
        );
        assert_eq!(
            output(code_interpreter),
            "3\nFiles written: sandbox:/mnt/data/a.png sandbox:/mnt/data/b.csv"
        );
        assert_eq!(new_images(&[s]), vec!["file-a".to_owned()]);
    }

    #[test]
    fn images_already_shown_by_a_message_are_not_shown_again() {
        let shown = code_step(&[("/mnt/data/a.png", "file-a", true)]);
        let message = step(&StepDetails::MessageCreation {
            message_creation: assistd_wire::MessageCreation {
                message_id: "msg_1".to_owned(),
            },
        });
        let fresh = code_step(&[("/mnt/data/b.png", "file-b", true)]);
        assert_eq!(
            new_images(&[shown.clone(), message.clone()]),
            Vec::<String>::new()
        );
        assert_eq!(
            new_images(&[shown, message, fresh]),
            vec!["file-b".to_owned()]
        );
    }

    #[test]
    fn links_to_written_files_become_annotations_that_slice_the_text() {
        let steps = [code_step(&[
            ("/mnt/data/out/é.csv", "file-e", false),
            ("/mnt/data/b.csv", "file-b", false),
        ])];
        let text = "Voilà [the data](sandbox:/mnt/data/out/é.csv). Also sandbox:/mnt/data/b.csv. \
                    Not sandbox:/mnt/data/missing.csv";
        let notes = annotate(text, &steps);
        assert_eq!(notes.len(), 2);
        for (note, (link, file)) in notes.iter().zip([
            ("sandbox:/mnt/data/out/é.csv", "file-e"),
            ("sandbox:/mnt/data/b.csv", "file-b"),
        ]) {
            let TextAnnotation::FilePath {
                text: t,
                file_path,
                start_index,
                end_index,
            } = note
            else {
                panic!("not a file path: {note:?}");
            };
            crate::testing::assert_slices(text, *start_index, *end_index, link);
            assert_eq!(t, link);
            assert_eq!(file_path.file_id, file);
        }
        assert!(annotate(text, &[]).is_empty());
    }
}
