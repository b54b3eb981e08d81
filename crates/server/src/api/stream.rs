//! `stream: true`: a run's events as server-sent events, in the Assistants stream protocol.
//!
//! The handler subscribes to the run's channel *before* the run can be picked up (its id is
//! chosen before it is stored), sends the events it produced itself (`thread.created`,
//! `thread.run.created`, `thread.run.queued`), then forwards the executor's events until the run
//! ends or waits for tool outputs, and closes with `event: done` / `data: [DONE]`.
//!
//! A client that goes away only drops its subscription: the run goes on and is stored. A reader
//! too slow to keep up with the channel's bound gets an `error` event and the stream ends, so it
//! never stalls the run or holds unbounded memory. While the model is silent, keep-alive comments
//! flow; and every few seconds of silence the run is re-read from the store, so a stream still
//! ends if the run ended without an event reaching this process (expired by the sweeper, or
//! finished by another instance).
//!
//! Each stream speaks its request's API version: the objects are serialized in that version's
//! view, and a v1 client learns of an `incomplete` run as `thread.run.completed`, the only end
//! v1 knew for a run cut by its token budget.

use crate::app::AppState;
use crate::error::{ApiError, ErrorKind};
use assistd_core::Project;
use assistd_executor::{Event, Subscription};
use assistd_wire::{ApiVersion, Run, StreamEvent};
use assistd_wire::{RunId, ThreadId};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// How long the stream may be silent before the run is re-read from the store.
const RECHECK: Duration = Duration::from_secs(5);

fn sse(ev: &Event, st: &State) -> SseEvent {
    SseEvent::default()
        .event(ev.name_for(st.version))
        .data(&*ev.data(st.version, st.include_content))
}

/// The run's status event, if that status ends a stream.
fn status_event(run: &Run) -> Option<Event> {
    let ev = Event::run(run);
    ev.ends_stream().then_some(ev)
}

struct State {
    app: AppState,
    version: ApiVersion,
    /// Whether steps show their file-search results' content (`include[]`).
    include_content: bool,
    project: Project,
    thread_id: ThreadId,
    run_id: RunId,
    pending: VecDeque<Event>,
    /// Leaves the run's channel when the stream is dropped (ended, or the client went away).
    sub: Subscription,
    ended: bool,
    done_sent: bool,
}

/// The SSE response for the run `sub` listens to: `prelude` first, then the run's events.
pub fn run_stream(
    app: AppState,
    (version, include_content): (ApiVersion, bool),
    project: Project,
    thread_id: ThreadId,
    prelude: Vec<Event>,
    sub: Subscription,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let ended = prelude.iter().any(Event::ends_stream);
    let state = State {
        app,
        version,
        include_content,
        project,
        thread_id,
        run_id: sub.run_id().clone(),
        pending: prelude.into(),
        sub,
        ended,
        done_sent: false,
    };
    let stream = futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(ev) = st.pending.pop_front() {
                return Some((Ok(sse(&ev, &st)), st));
            }
            if st.ended {
                if st.done_sent {
                    return None;
                }
                st.done_sent = true;
                let done = SseEvent::default()
                    .event(StreamEvent::Done.as_str())
                    .data("[DONE]");
                return Some((Ok(done), st));
            }
            let next = tokio::time::timeout(RECHECK, st.sub.recv()).await;
            match next {
                Ok(Ok(ev)) => {
                    if ev.ends_stream() {
                        st.ended = true;
                    }
                    return Some((Ok(sse(&ev, &st)), st));
                }
                Ok(Err(RecvError::Lagged(missed))) => {
                    st.ended = true;
                    let err = ApiError::new(
                        ErrorKind::StreamLagged,
                        format!(
                            "The stream fell {missed} events behind and was closed; the run goes on. Retrieve it to follow its progress."
                        ),
                    );
                    st.pending
                        .push_back(Event::new(StreamEvent::Error, &err.error()));
                }
                Ok(Err(RecvError::Closed)) => st.ended = true,
                Err(_silence) => {
                    if let Ok(run) = st
                        .app
                        .store
                        .get_run(&st.project, &st.thread_id, &st.run_id)
                        .await
                        && let Some(ev) = status_event(&run)
                    {
                        st.ended = true;
                        st.pending.push_back(ev);
                    }
                }
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(10)))
}
