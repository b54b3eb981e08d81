//! Run events for streaming: the executor publishes each change of a run as the event the
//! Assistants stream protocol names (`thread.run.in_progress`, `thread.message.delta`, ...), with
//! a copy of the object; `stream: true` requests subscribe to their run's channel.
//!
//! The object is serialized by whoever reads it, in the reader's API version (v1 and v2 show a
//! run, a step or a message differently), at most once per version however many subscribers
//! share it: a run streamed to one client costs one serialization per event, as before, and a
//! token delta costs a clone of a small object.
//!
//! Channels are per run, created by the first subscriber and dropped when the last one leaves,
//! so publishing to a run nobody streams costs a map lookup. A subscriber holds a
//! [`Subscription`], which leaves the channel when dropped: a request that subscribes and then
//! fails (a bad body, a missing thread or run) frees its channel on whichever path it returns. Each channel holds a bounded number
//! of events: a reader that falls that far behind is told so and dropped instead of stalling the
//! run or growing memory.
//!
//! This bus is in-process. Streaming a run executed by another instance (several instances on
//! one PostgreSQL) needs the events relayed through the database, which is the scale-out work.

use assistd_wire::{ApiVersion, Run, RunId, RunStep, StreamEvent};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

/// Events a slow reader may lag behind before it is dropped.
pub const CHANNEL_CAPACITY: usize = 1024;

/// An event's object, serialized on demand in either API version.
trait Render: Send + Sync {
    fn render(&self, version: ApiVersion) -> serde_json::Result<String>;
}

impl<T: Serialize + Send + Sync> Render for T {
    fn render(&self, version: ApiVersion) -> serde_json::Result<String> {
        assistd_wire::version::with_version(version, || serde_json::to_string(self))
    }
}

/// The object of an event and its serializations, made when first asked for.
struct Payload {
    object: Box<dyn Render>,
    /// The object without its file-search results' content, when it has any (a step): what a
    /// stream that did not ask for it with `include[]` shows.
    lean: Option<Box<dyn Render>>,
    /// By version (v1, v2) and, for v2, whether the content is included.
    cache: [OnceLock<Arc<str>>; 3],
}

/// One server-sent event.
#[derive(Clone)]
pub struct Event {
    /// The `event:` name (as v2 knows it; see [`Event::name_for`]).
    pub name: StreamEvent,
    payload: Arc<Payload>,
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Event {
    /// The event `name` carrying (a copy of) `object`.
    pub fn new<T: Serialize + Clone + Send + Sync + 'static>(
        name: StreamEvent,
        object: &T,
    ) -> Self {
        // Steps are the one object with a part shown only on request; checking the type costs
        // a comparison, so every other event stays a plain copy.
        let lean = (object as &dyn std::any::Any)
            .downcast_ref::<RunStep>()
            .filter(|step| step.has_search_content())
            .map(|step| {
                let mut lean = step.clone();
                lean.hide_search_content();
                Box::new(lean) as Box<dyn Render>
            });
        Self {
            name,
            payload: Arc::new(Payload {
                object: Box::new(object.clone()),
                lean,
                cache: Default::default(),
            }),
        }
    }

    /// The `event:` name a client of `version` gets.
    pub fn name_for(&self, version: ApiVersion) -> &'static str {
        self.name.name_for(version)
    }

    /// The `data:` JSON a client of `version` gets; `include_content`: whether it asked for
    /// the file-search results' content (`include[]`, v2).
    pub fn data(&self, version: ApiVersion, include_content: bool) -> Arc<str> {
        let p = &*self.payload;
        let (cell, object) = match (version, &p.lean) {
            (ApiVersion::V2, Some(lean)) if !include_content => (&p.cache[2], lean),
            (ApiVersion::V2, _) => (&p.cache[1], &p.object),
            (ApiVersion::V1, _) => (&p.cache[0], &p.object),
        };
        Arc::clone(cell.get_or_init(|| {
            let data = object.render(version).unwrap_or_else(|e| {
                tracing::error!(error = %e, event = %self.name, "could not serialize a stream event");
                String::from("{}")
            });
            Arc::from(data)
        }))
    }

    /// The event announcing `run`'s current status (`thread.run.<status>`), with the run.
    pub fn run(run: &Run) -> Self {
        Self::new(StreamEvent::for_run_status(run.status), run)
    }

    /// Whether the stream of a run ends after this event (the run stopped or awaits the client).
    pub fn ends_stream(&self) -> bool {
        self.name.ends_stream()
    }
}

/// The per-run channels.
#[derive(Default)]
pub struct EventBus {
    channels: Mutex<HashMap<RunId, broadcast::Sender<Event>>>,
}

/// Locks `m`, recovering from poisoning (the maps guarded here stay consistent).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl EventBus {
    /// Starts listening to `run_id` (before the run can make progress, so nothing is missed).
    pub fn subscribe(self: &Arc<Self>, run_id: &RunId) -> Subscription {
        let mut channels = lock(&self.channels);
        let rx = if let Some(tx) = channels.get(run_id) {
            tx.subscribe()
        } else {
            let (tx, rx) = broadcast::channel(CHANNEL_CAPACITY);
            channels.insert(run_id.clone(), tx);
            rx
        };
        Subscription {
            bus: Arc::clone(self),
            run_id: run_id.clone(),
            rx: Some(rx),
        }
    }

    /// Runs with a channel (someone streams them, or did and has not been noticed leaving).
    pub fn len(&self) -> usize {
        lock(&self.channels).len()
    }

    /// Whether no run has a channel.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether anyone listens to `run_id`.
    pub fn is_watched(&self, run_id: &RunId) -> bool {
        lock(&self.channels)
            .get(run_id)
            .is_some_and(|tx| tx.receiver_count() > 0)
    }

    /// Stream clients listening, over all runs (a metrics gauge).
    pub fn subscribers(&self) -> usize {
        lock(&self.channels)
            .values()
            .map(broadcast::Sender::receiver_count)
            .sum()
    }

    /// Publishes `object` as event `name` of `run_id`, if anyone listens.
    pub fn publish<T: Serialize + Clone + Send + Sync + 'static>(
        &self,
        run_id: &RunId,
        name: StreamEvent,
        object: &T,
    ) {
        self.send(run_id, || Event::new(name, object));
    }

    /// Publishes the event of `run`'s current status, if anyone listens.
    pub fn publish_run(&self, run: &Run) {
        self.send(&run.id, || Event::run(run));
    }

    /// Sends the event `make` builds (only if someone listens: copying is not free).
    fn send(&self, run_id: &RunId, make: impl FnOnce() -> Event) {
        let mut channels = lock(&self.channels);
        let Some(tx) = channels.get(run_id) else {
            return;
        };
        if tx.receiver_count() == 0 {
            channels.remove(run_id);
            return;
        }
        let _ = tx.send(make());
    }
}

/// One listener of a run's events. Dropping it leaves the channel, and removes the channel if
/// it was the last listener.
pub struct Subscription {
    bus: Arc<EventBus>,
    run_id: RunId,
    /// Always `Some` until dropped: taken in `drop` so that the receiver goes while the map is
    /// locked (two last listeners leaving at once would otherwise each see the other and both
    /// keep the channel).
    rx: Option<broadcast::Receiver<Event>>,
}

impl Subscription {
    /// The run listened to.
    pub fn run_id(&self) -> &RunId {
        &self.run_id
    }

    /// The next event, as [`broadcast::Receiver::recv`].
    pub async fn recv(&mut self) -> Result<Event, RecvError> {
        match &mut self.rx {
            Some(rx) => rx.recv().await,
            None => Err(RecvError::Closed),
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut channels = lock(&self.bus.channels);
        drop(self.rx.take());
        if channels
            .get(&self.run_id)
            .is_some_and(|tx| tx.receiver_count() == 0)
        {
            channels.remove(&self.run_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_reach_subscribers_and_channels_are_dropped_when_unused() {
        let bus = Arc::new(EventBus::default());
        let run = RunId::from("run_1");
        bus.publish(&run, StreamEvent::RunInProgress, &"nobody listens");
        assert!(!bus.is_watched(&run));
        let mut rx = bus.subscribe(&run);
        bus.publish(&run, StreamEvent::RunCompleted, &serde_json::Value::Null);
        let ev = rx.rx.as_mut().unwrap().try_recv().unwrap();
        assert_eq!(ev.name, StreamEvent::RunCompleted);
        assert!(ev.ends_stream());
        assert_eq!(&*ev.data(ApiVersion::V1, false), "null");
        drop(rx);
        assert!(bus.is_empty());
    }

    #[test]
    fn each_version_reads_its_own_form_once() {
        let bus = Arc::new(EventBus::default());
        let run_id = RunId::from("run_1");
        let mut rx = bus.subscribe(&run_id);
        bus.publish(
            &run_id,
            StreamEvent::RunIncomplete,
            &assistd_wire::RunStatus::Incomplete,
        );
        let ev = rx.rx.as_mut().unwrap().try_recv().unwrap();
        assert_eq!(ev.name_for(ApiVersion::V2), "thread.run.incomplete");
        assert_eq!(ev.name_for(ApiVersion::V1), "thread.run.completed");
        assert_eq!(&*ev.data(ApiVersion::V2, false), "\"incomplete\"");
        assert_eq!(&*ev.data(ApiVersion::V1, false), "\"completed\"");
        // A second reader of the same version shares the first one's serialization.
        assert!(Arc::ptr_eq(
            &ev.data(ApiVersion::V1, false),
            &ev.clone().data(ApiVersion::V1, false)
        ));
    }

    #[test]
    fn search_content_reaches_only_streams_that_asked_for_it() {
        let step: RunStep = serde_json::from_value(serde_json::json!({
            "id": "step_1", "object": "thread.run.step", "created_at": 1,
            "assistant_id": "asst_1", "thread_id": "thread_1", "run_id": "run_1",
            "type": "tool_calls", "status": "completed",
            "step_details": {"type": "tool_calls", "tool_calls": [{
                "type": "file_search", "id": "call_1",
                "file_search": {"results": [{
                    "file_id": "file-1", "file_name": "a.txt", "score": 0.5,
                    "content": [{"type": "text", "text": "found"}]
                }]}
            }]},
            "last_error": null, "expired_at": null, "cancelled_at": null, "failed_at": null,
            "completed_at": 2, "metadata": null, "usage": null
        }))
        .unwrap();
        let ev = Event::new(StreamEvent::StepCompleted, &step);
        assert!(ev.data(ApiVersion::V2, true).contains("found"));
        assert!(!ev.data(ApiVersion::V2, false).contains("found"));
        assert!(ev.data(ApiVersion::V2, false).contains("file-1"));
        assert!(ev.data(ApiVersion::V1, false).contains("\"retrieval\":{}"));
    }

    #[test]
    fn the_channel_goes_with_its_last_subscription() {
        let bus = Arc::new(EventBus::default());
        let run = RunId::from("run_1");
        let first = bus.subscribe(&run);
        let second = bus.subscribe(&run);
        let other = bus.subscribe(&RunId::from("run_2"));
        assert_eq!(bus.len(), 2);
        drop(first);
        assert_eq!(bus.len(), 2, "a listener is left");
        assert!(bus.is_watched(&run));
        drop(second);
        drop(other);
        assert!(bus.is_empty());
    }

    #[test]
    fn a_slow_reader_lags_instead_of_growing_memory() {
        let bus = Arc::new(EventBus::default());
        let run = RunId::from("r");
        let mut rx = bus.subscribe(&run);
        for i in 0..CHANNEL_CAPACITY + 10 {
            bus.publish(&run, StreamEvent::MessageDelta, &i);
        }
        assert!(matches!(
            rx.rx.as_mut().unwrap().try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(_))
        ));
    }
}
