//! Run events for streaming: the executor publishes each change of a run as the event the
//! Assistants stream protocol names (`thread.run.in_progress`, `thread.message.delta`, ...), with
//! the object serialized once; `stream: true` requests subscribe to their run's channel.
//!
//! Channels are per run, created by the first subscriber and dropped when the last one leaves,
//! so publishing to a run nobody streams costs a map lookup. Each channel holds a bounded number
//! of events: a reader that falls that far behind is told so and dropped instead of stalling the
//! run or growing memory.
//!
//! This bus is in-process. Streaming a run executed by another instance (several instances on
//! one PostgreSQL) needs the events relayed through the database, which is the scale-out work.

use assistd_wire::{Run, RunId, StreamEvent};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Events a slow reader may lag behind before it is dropped.
pub const CHANNEL_CAPACITY: usize = 1024;

/// One server-sent event.
#[derive(Debug, Clone)]
pub struct Event {
    /// The `event:` name.
    pub name: StreamEvent,
    /// The `data:` JSON.
    pub data: Arc<str>,
}

impl Event {
    /// Serializes `object` as the data of event `name`.
    pub fn new<T: Serialize>(name: StreamEvent, object: &T) -> Self {
        let data = serde_json::to_string(object).unwrap_or_else(|e| {
            tracing::error!(error = %e, event = %name, "could not serialize a stream event");
            String::from("{}")
        });
        Self {
            name,
            data: Arc::from(data),
        }
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
    pub fn subscribe(&self, run_id: &RunId) -> broadcast::Receiver<Event> {
        let mut channels = lock(&self.channels);
        if let Some(tx) = channels.get(run_id) {
            return tx.subscribe();
        }
        let (tx, rx) = broadcast::channel(CHANNEL_CAPACITY);
        channels.insert(run_id.clone(), tx);
        rx
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
    pub fn publish<T: Serialize>(&self, run_id: &RunId, name: StreamEvent, object: &T) {
        self.send(run_id, || Event::new(name, object));
    }

    /// Publishes the event of `run`'s current status, if anyone listens.
    pub fn publish_run(&self, run: &Run) {
        self.send(&run.id, || Event::run(run));
    }

    /// Sends the event `make` builds (only if someone listens: serializing is not free).
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

    /// Forgets `run_id`'s channel if nobody listens any more.
    pub fn release(&self, run_id: &RunId) {
        let mut channels = lock(&self.channels);
        if channels
            .get(run_id)
            .is_some_and(|tx| tx.receiver_count() == 0)
        {
            channels.remove(run_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_reach_subscribers_and_channels_are_dropped_when_unused() {
        let bus = EventBus::default();
        let run = RunId::from("run_1");
        bus.publish(&run, StreamEvent::RunInProgress, &"nobody listens");
        assert!(!bus.is_watched(&run));
        let mut rx = bus.subscribe(&run);
        bus.publish(&run, StreamEvent::RunCompleted, &serde_json::Value::Null);
        let ev = rx.try_recv().unwrap();
        assert_eq!(ev.name, StreamEvent::RunCompleted);
        assert!(ev.ends_stream());
        assert_eq!(&*ev.data, "null");
        drop(rx);
        bus.release(&run);
        assert!(lock(&bus.channels).is_empty());
    }

    #[test]
    fn a_slow_reader_lags_instead_of_growing_memory() {
        let bus = EventBus::default();
        let run = RunId::from("r");
        let mut rx = bus.subscribe(&run);
        for i in 0..CHANNEL_CAPACITY + 10 {
            bus.publish(&run, StreamEvent::MessageDelta, &i);
        }
        assert!(matches!(
            rx.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(_))
        ));
    }
}
