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
//! The bus is in-process; with a [`StreamRelay`] (instances sharing a PostgreSQL database) it
//! also spans instances. A run executed here whose client streams it from another instance
//! (the claim's `streamer`) is *relayed*: each of its events also goes out, serialized in the
//! store's form, numbered within the execution. [`EventBus::deliver`] takes such an event from
//! another instance and hands it to this instance's subscribers as if it were published here,
//! in order; a gap in the numbering closes the run's channel after an `error` event instead of
//! passing a stream on with events missing.

use assistd_core::{Relayed, RelayedEvent, StreamRelay};
use assistd_wire::{
    ApiVersion, Message, MessageDeltaObject, Run, RunId, RunStep, RunStepDeltaObject, StreamEvent,
    Thread,
};
use serde::Serialize;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

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

    /// The event `name` whose object is `data` in the store's form (as relayed).
    pub fn from_store(name: StreamEvent, data: &str) -> serde_json::Result<Self> {
        use StreamEvent as E;
        Ok(match name {
            E::ThreadCreated => Self::new(name, &serde_json::from_str::<Thread>(data)?),
            E::RunCreated
            | E::RunQueued
            | E::RunInProgress
            | E::RunRequiresAction
            | E::RunCompleted
            | E::RunIncomplete
            | E::RunFailed
            | E::RunCancelling
            | E::RunCancelled
            | E::RunExpired => Self::new(name, &serde_json::from_str::<Run>(data)?),
            E::StepCreated
            | E::StepInProgress
            | E::StepCompleted
            | E::StepFailed
            | E::StepCancelled
            | E::StepExpired => Self::new(name, &serde_json::from_str::<RunStep>(data)?),
            E::StepDelta => Self::new(name, &serde_json::from_str::<RunStepDeltaObject>(data)?),
            E::MessageCreated
            | E::MessageInProgress
            | E::MessageCompleted
            | E::MessageIncomplete => Self::new(name, &serde_json::from_str::<Message>(data)?),
            E::MessageDelta => Self::new(name, &serde_json::from_str::<MessageDeltaObject>(data)?),
            E::Error => Self::new(name, &serde_json::from_str::<assistd_wire::Error>(data)?),
            // Never published: a stream writes it itself, as `[DONE]`.
            E::Done => Self::new(name, &serde_json::from_str::<serde_json::Value>(data)?),
        })
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

/// The per-run channels, and the relay to and from other instances.
pub struct EventBus {
    channels: Mutex<HashMap<RunId, broadcast::Sender<Event>>>,
    /// This instance, as a run's `streamer` names it.
    instance: String,
    relay: Option<Arc<dyn StreamRelay>>,
    /// Runs executed here and streamed from another instance.
    outgoing: Mutex<HashMap<RunId, Outgoing>>,
    /// Runs streamed here and executed elsewhere: the claim (`attempt`) whose events are
    /// delivered, and the number of the last one.
    incoming: Mutex<HashMap<RunId, (i64, u64)>>,
    /// Stops the loop receiving relayed events when the bus goes.
    closed: CancellationToken,
}

impl Drop for EventBus {
    fn drop(&mut self) {
        self.closed.cancel();
    }
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new(None)
    }
}

/// Locks `m`, recovering from poisoning (the maps guarded here stay consistent).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl EventBus {
    /// A bus of its own instance; `relay`, when instances share the database.
    pub fn new(relay: Option<Arc<dyn StreamRelay>>) -> Self {
        Self {
            channels: Mutex::default(),
            instance: format!("i-{}", uuid::Uuid::new_v4().simple()),
            relay,
            outgoing: Mutex::default(),
            incoming: Mutex::default(),
            closed: CancellationToken::new(),
        }
    }

    /// Delivers the events other instances relay to this one's streams, from now until the
    /// bus is dropped (an instance that serves the API; a worker only sends).
    pub fn receive_relayed(self: &Arc<Self>) {
        let Some(relay) = self.relay.clone() else {
            return;
        };
        let bus = Arc::downgrade(self);
        let closed = self.closed.clone();
        let instance = self.instance.clone();
        tokio::spawn(async move {
            crate::follow::follow(
                "relayed stream events",
                &closed,
                || relay.subscribe(&instance),
                |next| {
                    let Some(bus) = bus.upgrade() else {
                        return ControlFlow::Break(());
                    };
                    match next {
                        Some(Relayed::Event(ev)) => bus.deliver(&ev),
                        // Lost, or subscribed again: whatever was sent meanwhile is gone.
                        Some(Relayed::Lost) | None => bus.relay_lost(),
                    }
                    ControlFlow::Continue(())
                },
            )
            .await;
        });
    }

    /// This instance's name, to record as the `streamer` of a run a client here streams.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Relays the events of `run_id`, executed here under its claim `attempt`, to its
    /// `streamer` when that is another instance (and instances share a relay), until the
    /// guard is dropped.
    pub fn relay_run(
        self: &Arc<Self>,
        run_id: &RunId,
        attempt: i64,
        streamer: Option<&str>,
    ) -> Option<RelayGuard> {
        let streamer = streamer.filter(|s| *s != self.instance)?;
        self.relay.as_ref()?;
        tracing::debug!(run_id = %run_id, streamer, "relaying the run's events");
        lock(&self.outgoing).insert(
            run_id.clone(),
            Outgoing {
                to: streamer.to_owned(),
                attempt,
                seq: 0,
            },
        );
        Some(RelayGuard {
            bus: Arc::clone(self),
            run_id: run_id.clone(),
            attempt,
        })
    }

    /// Sends the event to the run's streamer if the run is relayed.
    fn relay_out(&self, run_id: &RunId, name: StreamEvent, data: impl FnOnce() -> String) {
        let Some(relay) = &self.relay else {
            return;
        };
        if !lock(&self.outgoing).contains_key(run_id) {
            return;
        }
        // Serialized outside the lock every publish takes; numbered and queued under it, so
        // that events published at once (a turn's, a tool's) keep their numbers' order.
        let data = data();
        let mut outgoing = lock(&self.outgoing);
        let Some(out) = outgoing.get_mut(run_id) else {
            return;
        };
        out.seq += 1;
        let event = RelayedEvent {
            to: out.to.clone(),
            run_id: run_id.clone(),
            attempt: out.attempt,
            seq: out.seq,
            name,
            data,
        };
        if !relay.send(event) {
            tracing::warn!(run_id = %run_id, "the stream relay's queue is full: an event was dropped");
        }
    }

    /// The relay's connection was lost: the runs streamed here from elsewhere may have lost
    /// events, so their streams end with an `error` event (as after a gap).
    fn relay_lost(&self) {
        let mut channels = lock(&self.channels);
        let mut incoming = lock(&self.incoming);
        for (run_id, _) in incoming.drain() {
            if let Some(tx) = channels.remove(&run_id) {
                let _ = tx.send(Event::new(StreamEvent::Error, &relay_gap()));
            }
        }
    }

    /// Hands an event relayed from another instance to this instance's subscribers, if the
    /// run has any: in order, or, after a gap, an `error` event and the end of the channel.
    pub fn deliver(&self, ev: &RelayedEvent) {
        if ev.to != self.instance {
            return;
        }
        if !self.is_watched(&ev.run_id) {
            lock(&self.incoming).remove(&ev.run_id);
            return;
        }
        // Read outside the locks every publish and subscribe takes.
        let event = Event::from_store(ev.name, &ev.data);
        let mut channels = lock(&self.channels);
        let mut incoming = lock(&self.incoming);
        let Some(tx) = channels.get(&ev.run_id) else {
            return;
        };
        let deliver = match incoming.get(&ev.run_id) {
            Some(&(attempt, seq)) if ev.attempt == attempt => match ev.seq {
                s if s == seq + 1 => true,
                s if s <= seq => return,
                _ => false,
            },
            // An earlier execution's late events: not this stream's.
            Some(&(attempt, _)) if ev.attempt < attempt => return,
            // A later execution (the run resumed), or the first one this stream sees: a stream
            // subscribes before the run can be claimed, so it sees each execution from its
            // first event. Events of one that began before (a submit's stream receiving the
            // end of the turn that asked for the outputs) are not its own.
            Some(_) => ev.seq == 1,
            None if ev.seq == 1 => true,
            None => return,
        };
        if !deliver {
            tracing::warn!(run_id = %ev.run_id, attempt = ev.attempt, seq = ev.seq, "relayed events were lost");
            let _ = tx.send(Event::new(StreamEvent::Error, &relay_gap()));
            channels.remove(&ev.run_id);
            incoming.remove(&ev.run_id);
            return;
        }
        incoming.insert(ev.run_id.clone(), (ev.attempt, ev.seq));
        match event {
            Ok(event) => {
                let _ = tx.send(event);
            }
            Err(e) => {
                tracing::error!(run_id = %ev.run_id, event = %ev.name, error = %e, "could not read a relayed event");
            }
        }
    }

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
        self.relay_out(run_id, name, || {
            // Outside `with_version`: the store's form, which every version's view comes from.
            serde_json::to_string(object).unwrap_or_else(|e| {
                tracing::error!(error = %e, event = %name, "could not serialize a relayed event");
                String::from("{}")
            })
        });
        self.send(run_id, || Event::new(name, object));
    }

    /// Publishes the event of `run`'s current status, if anyone listens.
    pub fn publish_run(&self, run: &Run) {
        self.publish(&run.id, StreamEvent::for_run_status(run.status), run);
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

/// A run relayed to the instance streaming it.
struct Outgoing {
    /// That instance.
    to: String,
    /// The claim executing it here.
    attempt: i64,
    /// The number of its last event.
    seq: u64,
}

/// Relays a run's events while it lives ([`EventBus::relay_run`]).
pub struct RelayGuard {
    bus: Arc<EventBus>,
    run_id: RunId,
    attempt: i64,
}

impl Drop for RelayGuard {
    fn drop(&mut self) {
        let mut outgoing = lock(&self.bus.outgoing);
        // A later claim of the run here (this one lost its lease) relays on.
        if outgoing
            .get(&self.run_id)
            .is_some_and(|o| o.attempt == self.attempt)
        {
            outgoing.remove(&self.run_id);
        }
    }
}

/// What a stream is told when events relayed from the instance executing its run were lost.
fn relay_gap() -> assistd_wire::Error {
    assistd_wire::Error {
        message: "Events of this run were lost on their way from the instance executing it; the run goes on. Retrieve it to follow its progress.".to_owned(),
        type_: assistd_wire::ErrorType::ServerError.as_str().to_owned(),
        param: None,
        code: None,
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
            lock(&self.bus.incoming).remove(&self.run_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

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

    /// A completed step with one file search, whose result's content reads "found".
    fn search_step() -> RunStep {
        serde_json::from_value(serde_json::json!({
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
        .unwrap()
    }

    #[test]
    fn search_content_reaches_only_streams_that_asked_for_it() {
        let step = search_step();
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

    /// A relay that keeps what is sent to it.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<RelayedEvent>>);

    #[async_trait::async_trait]
    impl StreamRelay for Recorder {
        fn send(&self, event: RelayedEvent) -> bool {
            lock(&self.0).push(event);
            true
        }
        async fn subscribe(
            &self,
            _to: &str,
        ) -> assistd_core::StoreResult<futures::stream::BoxStream<'static, Relayed>> {
            Ok(futures::stream::pending().boxed())
        }
    }

    fn step_delta(id: &str) -> RunStepDeltaObject {
        serde_json::from_value(serde_json::json!({
            "id": id, "object": "thread.run.step.delta",
            "delta": {"step_details": {"type": "tool_calls", "tool_calls": []}}
        }))
        .unwrap()
    }

    #[test]
    fn a_run_streamed_elsewhere_is_relayed_numbered_and_delivered_there_in_order() {
        let recorder = Arc::new(Recorder::default());
        let here = Arc::new(EventBus::new(Some(recorder.clone())));
        let there = Arc::new(EventBus::default());
        let run = RunId::from("run_1");
        // Streamed here, or by nobody: nothing is relayed.
        assert!(here.relay_run(&run, 1, Some(here.instance())).is_none());
        assert!(here.relay_run(&run, 1, None).is_none());
        assert!(
            there.relay_run(&run, 1, Some("i-other")).is_none(),
            "no relay"
        );
        let guard = here.relay_run(&run, 1, Some(there.instance()));
        assert!(guard.is_some());
        let mut sub = there.subscribe(&run);
        for i in 0..3 {
            here.publish(
                &run,
                StreamEvent::StepDelta,
                &step_delta(&format!("step_{i}")),
            );
        }
        drop(guard);
        here.publish(&run, StreamEvent::StepDelta, &step_delta("after"));
        let sent = std::mem::take(&mut *lock(&recorder.0));
        assert_eq!(sent.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
        // Every instance receives them; the others ignore them.
        here.deliver(&sent[0]);
        for ev in sent {
            there.deliver(&ev);
        }
        for i in 0..3 {
            let ev = sub.rx.as_mut().unwrap().try_recv().unwrap();
            assert_eq!(ev.name, StreamEvent::StepDelta);
            assert!(
                ev.data(ApiVersion::V2, false)
                    .contains(&format!("step_{i}"))
            );
        }
        assert!(sub.rx.as_mut().unwrap().try_recv().is_err());
    }

    #[test]
    fn an_earlier_claim_ending_leaves_a_later_one_relayed() {
        let recorder = Arc::new(Recorder::default());
        let bus = Arc::new(EventBus::new(Some(recorder.clone())));
        let run = RunId::from("run_1");
        let first = bus.relay_run(&run, 1, Some("i-other"));
        let _second = bus.relay_run(&run, 2, Some("i-other"));
        drop(first);
        bus.publish(&run, StreamEvent::StepDelta, &step_delta("s"));
        let sent = std::mem::take(&mut *lock(&recorder.0));
        assert_eq!(sent.len(), 1);
        assert_eq!((sent[0].attempt, sent[0].seq), (2, 1));
    }

    #[test]
    fn a_gap_in_relayed_events_ends_the_stream_with_an_error() {
        let bus = Arc::new(EventBus::default());
        let run = RunId::from("run_1");
        let mut sub = bus.subscribe(&run);
        let ev = |attempt, seq| RelayedEvent {
            to: bus.instance().to_owned(),
            run_id: run.clone(),
            attempt,
            seq,
            name: StreamEvent::StepDelta,
            data: serde_json::to_string(&step_delta("s")).unwrap(),
        };
        // The end of an execution that began before the stream subscribed is not its own.
        bus.deliver(&ev(1, 7));
        bus.deliver(&ev(2, 1));
        bus.deliver(&ev(2, 2));
        // Late events of an earlier execution are passed over too.
        bus.deliver(&ev(1, 8));
        // A new execution (the run resumed) starts again at 1.
        bus.deliver(&ev(3, 1));
        bus.deliver(&ev(3, 3));
        let rx = sub.rx.as_mut().unwrap();
        for _ in 0..3 {
            assert_eq!(rx.try_recv().unwrap().name, StreamEvent::StepDelta);
        }
        let err = rx.try_recv().unwrap();
        assert_eq!(err.name, StreamEvent::Error);
        assert!(err.data(ApiVersion::V2, false).contains("lost"));
        assert!(matches!(
            rx.try_recv(),
            Err(broadcast::error::TryRecvError::Closed)
        ));
        // Nothing is kept for a run nobody here streams.
        drop(sub);
        bus.deliver(&ev(4, 1));
        assert!(lock(&bus.incoming).is_empty());
    }

    #[test]
    fn a_lost_relay_connection_ends_the_streams_it_fed_with_an_error() {
        let bus = Arc::new(EventBus::default());
        let (fed, local) = (RunId::from("run_1"), RunId::from("run_2"));
        let mut fed_sub = bus.subscribe(&fed);
        let mut local_sub = bus.subscribe(&local);
        bus.deliver(&RelayedEvent {
            to: bus.instance().to_owned(),
            run_id: fed.clone(),
            attempt: 1,
            seq: 1,
            name: StreamEvent::StepDelta,
            data: serde_json::to_string(&step_delta("s")).unwrap(),
        });
        bus.relay_lost();
        let rx = fed_sub.rx.as_mut().unwrap();
        assert_eq!(rx.try_recv().unwrap().name, StreamEvent::StepDelta);
        assert_eq!(rx.try_recv().unwrap().name, StreamEvent::Error);
        assert!(matches!(
            rx.try_recv(),
            Err(broadcast::error::TryRecvError::Closed)
        ));
        // A run executed here is not fed by the relay: its stream goes on.
        bus.publish(&local, StreamEvent::StepDelta, &step_delta("l"));
        assert!(local_sub.rx.as_mut().unwrap().try_recv().is_ok());
    }

    #[test]
    fn every_published_object_reads_back_from_its_relayed_form() {
        let run: Run = serde_json::from_value(serde_json::json!({
            "id": "run_1", "object": "thread.run", "created_at": 1, "thread_id": "thread_1",
            "assistant_id": "asst_1", "status": "incomplete", "required_action": null,
            "last_error": null, "expires_at": null, "started_at": 1, "cancelled_at": null,
            "failed_at": null, "completed_at": 2, "model": "m", "instructions": "",
            "tools": [{"type": "file_search"}], "file_ids": [], "metadata": {},
            "usage": null, "temperature": 1.0, "top_p": 1.0, "max_prompt_tokens": null,
            "max_completion_tokens": 5, "truncation_strategy": {"type": "auto", "last_messages": null},
            "incomplete_details": {"reason": "max_completion_tokens"},
            "response_format": "auto", "tool_choice": "auto", "parallel_tool_calls": true
        }))
        .unwrap();
        let message: Message = serde_json::from_value(serde_json::json!({
            "id": "msg_1", "object": "thread.message", "created_at": 1, "thread_id": "thread_1",
            "status": "completed", "incomplete_details": null, "completed_at": 2,
            "incomplete_at": null, "role": "assistant",
            "content": [{"type": "text", "text": {"value": "see 【0:0†a.txt】", "annotations": [{
                "type": "file_citation", "text": "【0:0†a.txt】", "start_index": 4,
                "end_index": 15, "file_citation": {"file_id": "file-1", "quote": "q"}
            }]}}],
            "assistant_id": "asst_1", "run_id": "run_1", "file_ids": ["file-2"],
            "attachments": [{"file_id": "file-2", "tools": [{"type": "file_search"}]}],
            "metadata": {}
        }))
        .unwrap();
        let step = search_step();
        let relayed = Arc::new(Recorder::default());
        let bus = Arc::new(EventBus::new(Some(relayed.clone())));
        let _guard = bus.relay_run(&run.id, 1, Some("i-other"));
        bus.publish_run(&run);
        bus.publish(&run.id, StreamEvent::MessageCompleted, &message);
        bus.publish(&run.id, StreamEvent::StepCompleted, &step);
        let direct = [
            Event::run(&run),
            Event::new(StreamEvent::MessageCompleted, &message),
            Event::new(StreamEvent::StepCompleted, &step),
        ];
        let sent = std::mem::take(&mut *lock(&relayed.0));
        assert_eq!(sent.len(), direct.len());
        for (sent, direct) in sent.iter().zip(direct) {
            let back = Event::from_store(sent.name, &sent.data).unwrap();
            for v in [ApiVersion::V1, ApiVersion::V2] {
                assert_eq!(back.name_for(v), direct.name_for(v));
                for include in [false, true] {
                    assert_eq!(back.data(v, include), direct.data(v, include), "{v:?}");
                }
            }
        }
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
