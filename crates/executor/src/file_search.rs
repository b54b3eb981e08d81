//! The `file_search` tool (v1's `retrieval`) in runs: what the model is offered, which stores
//! a run searches, how results are numbered for the model, and how the citation markers it
//! copies into its answer become `file_citation` annotations.
//!
//! Each search of a run has an ordinal `n` (0 for the run's first), each of its results an
//! index `m`; the model sees result `m` of search `n` introduced by the marker
//! `【n:m†filename】`. The results, with their text, are kept in the run step, so the markers of
//! the final answer are resolved from the steps alone, whichever worker wrote them.

use crate::events::EventBus;
use assistd_core::search::{SearchError, SearchHit, SearchRequest, Searcher};
use assistd_core::{Project, Store, StoreError};
use assistd_wire::{
    AssistantTool, FileCitation, FileSearchCall, FileSearchRanker, FileSearchRankingUsed,
    FileSearchResult, FileSearchResultContent, FunctionObject, Run, RunStep, RunStepDeltaObject,
    StepToolCall, StreamEvent, TextAnnotation, VectorStoreId,
};
use std::fmt::Write;

/// The name the model calls the tool by, in v1 and v2 alike.
pub const TOOL_NAME: &str = "file_search";

/// Results a search returns unless the tool's options say otherwise (OpenAI's default for
/// current models).
pub const DEFAULT_MAX_RESULTS: usize = 20;

/// Characters of a chunk kept as a v1 citation's `quote`.
const QUOTE_CHARS: usize = 500;

/// How to cite, for the model; in the tool's description and with up-front results.
pub const CITE_HOW: &str = "Each result begins with a citation marker such as 【0:1†notes.txt】. \
    When a result supports what you write, copy its marker exactly, right after the sentence.";

/// The function the model is offered for the tool.
pub fn function() -> FunctionObject {
    FunctionObject {
        name: TOOL_NAME.to_owned(),
        description: Some(format!(
            "Search the files the user has provided for passages relevant to a query. {CITE_HOW}"
        )),
        parameters: Some(serde_json::json!({
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "What to look for, in a few words."}
            },
            "required": ["query"],
        })),
        strict: None,
    }
}

/// How a run's searches go, from its `file_search` tool options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Results per search.
    pub max_results: usize,
    /// The ranker reported in the step.
    pub ranker: FileSearchRanker,
    /// Results below this score are left out.
    pub score_threshold: f64,
}

impl Default for Options {
    /// What a tool without options searches with.
    fn default() -> Self {
        Self {
            max_results: DEFAULT_MAX_RESULTS,
            ranker: FileSearchRanker::Auto,
            score_threshold: 0.0,
        }
    }
}

/// The run's `file_search` options, if the run has the tool.
pub fn options(run: &Run) -> Option<Options> {
    run.tools.iter().find_map(|t| match t {
        AssistantTool::FileSearch(opts) => {
            let default = Options::default();
            let opts = opts.as_ref();
            let ranking = opts.and_then(|o| o.ranking_options.as_ref());
            Some(Options {
                max_results: opts
                    .and_then(|o| o.max_num_results)
                    .map_or(default.max_results, usize::from),
                ranker: ranking.and_then(|r| r.ranker).unwrap_or(default.ranker),
                score_threshold: ranking.map_or(default.score_threshold, |r| r.score_threshold),
            })
        }
        _ => None,
    })
}

/// The stores a run searches: its assistant's and its thread's (v1 assistant files and
/// message files live in those stores too).
pub async fn run_stores(
    store: &dyn Store,
    project: &Project,
    run: &Run,
) -> Result<Vec<VectorStoreId>, StoreError> {
    let mut ids: Vec<String> = crate::resources::of_run(store, project, run)
        .await?
        .into_iter()
        .filter_map(|r| r.file_search)
        .flat_map(|f| f.vector_store_ids)
        .collect();
    ids.dedup();
    Ok(ids.into_iter().map(VectorStoreId::from).collect())
}

/// Runs one search of `query` and returns the call as the step records it (with the results'
/// text, which clients see only when `include[]` asks).
pub async fn search(
    searcher: &dyn Searcher,
    project: &Project,
    stores: &[VectorStoreId],
    query: &str,
    opts: Options,
) -> Result<FileSearchCall, StoreError> {
    let hits = if stores.is_empty() || query.trim().is_empty() {
        Vec::new()
    } else {
        let req = SearchRequest {
            project: project.clone(),
            vector_store_ids: stores.to_vec(),
            query: query.to_owned(),
            max_results: opts.max_results.clamp(1, 50),
            score_threshold: opts.score_threshold,
            filter: None,
        };
        match searcher.search(&req).await {
            Ok(hits) => hits,
            Err(SearchError::Store(e)) => return Err(e),
            // The model gets no results rather than a failed run; the log says why.
            Err(SearchError::Embed(e)) => {
                tracing::warn!(error = %e, "a file search could not embed its query");
                Vec::new()
            }
        }
    };
    Ok(FileSearchCall {
        query: Some(query.to_owned()),
        ranking_options: Some(FileSearchRankingUsed {
            ranker: opts.ranker,
            score_threshold: opts.score_threshold,
        }),
        results: Some(hits.into_iter().map(result).collect()),
    })
}

/// What the searches of a run need; its stores are read once for all the calls of a step.
pub struct RunSearch<'a> {
    /// Storage.
    pub store: &'a dyn Store,
    /// Stream events.
    pub events: &'a EventBus,
    /// The searcher.
    pub searcher: &'a dyn Searcher,
    /// The tool's options.
    pub opts: Options,
    /// The run's owner.
    pub project: &'a Project,
    /// The run.
    pub run: &'a Run,
}

impl RunSearch<'_> {
    /// Runs the `(call id, query)` searches of step `step_id`, announcing each call in the
    /// stream as it starts: the step's tool calls, in order.
    pub async fn calls(
        &self,
        step_id: &str,
        calls: Vec<(String, String)>,
    ) -> Result<Vec<StepToolCall>, StoreError> {
        let stores = run_stores(self.store, self.project, self.run).await?;
        let mut done = Vec::with_capacity(calls.len());
        for (index, (id, query)) in (0u32..).zip(calls) {
            self.events.publish(
                &self.run.id,
                StreamEvent::StepDelta,
                &RunStepDeltaObject::file_search(step_id, index, &id),
            );
            let found = search(self.searcher, self.project, &stores, &query, self.opts).await?;
            done.push(StepToolCall::FileSearch {
                id,
                file_search: found,
            });
        }
        Ok(done)
    }
}

fn result(hit: SearchHit) -> FileSearchResult {
    FileSearchResult {
        file_id: hit.file_id.to_string(),
        file_name: hit.filename,
        score: hit.score,
        content: Some(vec![FileSearchResultContent {
            type_: "text".to_owned(),
            text: hit.text,
        }]),
    }
}

/// The text of a result.
fn text_of(r: &FileSearchResult) -> String {
    r.content
        .iter()
        .flatten()
        .map(|c| c.text.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// What the model reads for search `n`: its results, numbered with their markers.
pub fn output(n: usize, call: &FileSearchCall) -> String {
    let results = call.results.as_deref().unwrap_or_default();
    if results.is_empty() {
        return "No results were found in the files.".to_owned();
    }
    let mut out = String::new();
    for (m, r) in results.iter().enumerate() {
        if !out.is_empty() {
            out.push_str("\n\n");
        }
        let _ = write!(out, "【{n}:{m}†{}】\n{}", r.file_name, text_of(r));
    }
    out
}

/// The file-search calls of `steps`, in the order their ordinals count them.
pub fn searches(steps: &[RunStep]) -> impl Iterator<Item = &FileSearchCall> {
    steps
        .iter()
        .flat_map(RunStep::tool_calls)
        .filter_map(|c| match c {
            StepToolCall::FileSearch { file_search, .. } => Some(file_search),
            _ => None,
        })
}

/// The `file_citation` annotations of `text`: one per marker `【n:m†…】` naming a result of
/// the run's searches (`steps`). A marker naming none (mistyped, made up) is left as text.
/// Indices count characters, as the API's do.
pub fn annotate(text: &str, steps: &[RunStep]) -> Vec<TextAnnotation> {
    let found: Vec<&FileSearchCall> = searches(steps).collect();
    let mut out = Vec::new();
    let mut chars = 0usize;
    let mut rest = text;
    while let Some(open) = rest.find('【') {
        chars += rest[..open].chars().count();
        let after = &rest[open..];
        let Some(close) = after.find('】') else {
            break;
        };
        let marker = &after[..close + '】'.len_utf8()];
        let len = marker.chars().count();
        let source = parse_marker(marker).and_then(|(n, m)| found.get(n)?.results.as_ref()?.get(m));
        if let Some(r) = source {
            out.push(TextAnnotation::FileCitation {
                text: marker.to_owned(),
                file_citation: FileCitation {
                    file_id: r.file_id.clone(),
                    quote: Some(text_of(r).chars().take(QUOTE_CHARS).collect()),
                },
                start_index: u32::try_from(chars).unwrap_or(u32::MAX),
                end_index: u32::try_from(chars + len).unwrap_or(u32::MAX),
            });
        }
        chars += len;
        rest = &after[marker.len()..];
    }
    out
}

/// `(n, m)` of a marker `【n:m†name】` (the name is not checked: models shorten it).
fn parse_marker(marker: &str) -> Option<(usize, usize)> {
    let inner = marker.strip_prefix('【')?.strip_suffix('】')?;
    let (nums, _name) = inner.split_once('†')?;
    let (n, m) = nums.split_once(':')?;
    Some((n.trim().parse().ok()?, m.trim().parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use assistd_wire::StepDetails;

    fn step(calls: Vec<FileSearchCall>) -> RunStep {
        let details = StepDetails::ToolCalls {
            tool_calls: calls
                .into_iter()
                .enumerate()
                .map(|(i, file_search)| StepToolCall::FileSearch {
                    id: format!("call_{i}"),
                    file_search,
                })
                .collect(),
        };
        crate::testing::step(&details)
    }

    fn call(files: &[(&str, &str, &str)]) -> FileSearchCall {
        FileSearchCall {
            query: Some("q".to_owned()),
            ranking_options: None,
            results: Some(
                files
                    .iter()
                    .map(|(id, name, text)| FileSearchResult {
                        file_id: (*id).to_owned(),
                        file_name: (*name).to_owned(),
                        score: 0.5,
                        content: Some(vec![FileSearchResultContent {
                            type_: "text".to_owned(),
                            text: (*text).to_owned(),
                        }]),
                    })
                    .collect(),
            ),
        }
    }

    #[test]
    fn output_numbers_results_with_their_markers() {
        let c = call(&[("file-a", "a.txt", "alpha"), ("file-b", "b.md", "beta")]);
        assert_eq!(output(3, &c), "【3:0†a.txt】\nalpha\n\n【3:1†b.md】\nbeta");
        assert_eq!(output(0, &call(&[])), "No results were found in the files.");
    }

    #[test]
    fn markers_become_annotations_that_slice_the_text_exactly() {
        let steps = vec![
            step(vec![call(&[("file-a", "a.txt", "alpha")])]),
            step(vec![call(&[
                ("file-b", "b.txt", "beta"),
                ("file-c", "é.txt", "gamma"),
            ])]),
        ];
        let text = "Déjà vu 【1:1†é.txt】 and 【0:0†a.txt】, not 【7:0†x】 or 【1:x】.";
        let notes = annotate(text, &steps);
        assert_eq!(notes.len(), 2);
        let expected = [
            ("【1:1†é.txt】", "file-c", "gamma"),
            ("【0:0†a.txt】", "file-a", "alpha"),
        ];
        for (note, (marker, file, quote)) in notes.iter().zip(expected) {
            let TextAnnotation::FileCitation {
                text: t,
                file_citation,
                start_index,
                end_index,
            } = note
            else {
                panic!("not a citation: {note:?}");
            };
            crate::testing::assert_slices(text, *start_index, *end_index, marker);
            assert_eq!(t, marker);
            assert_eq!(file_citation.file_id, file);
            assert_eq!(file_citation.quote.as_deref(), Some(quote));
        }
    }

    #[test]
    fn an_unclosed_marker_ends_the_scan() {
        let steps = vec![step(vec![call(&[("file-a", "a.txt", "alpha")])])];
        assert!(annotate("see 【0:0†a.txt", &steps).is_empty());
    }
}
