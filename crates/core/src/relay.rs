//! Run events relayed between instances sharing one database: the instance that executes a
//! run sends its stream events to the instance whose client streams it (`NewRun::streamer`),
//! so that a `stream: true` request gets token deltas whichever instance picked the run up,
//! and API-only instances (`serve --no-workers`) stream at all.
//!
//! The relay only carries events; the state they announce is already stored. Events of one
//! execution are numbered (`seq`, from 1 per claim of the run), so a receiver delivers them in
//! order and notices a gap (a full send queue, a dropped connection) instead of passing it on:
//! the stream is then closed with an `error` event, as a stream that falls behind is.

use crate::store::StoreResult;
use assistd_wire::{RunId, StreamEvent};
use async_trait::async_trait;
use futures::stream::BoxStream;

/// One event of a run on its way to another instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayedEvent {
    /// The instance that sent it (every instance receives every event, its own included).
    pub instance: String,
    /// The execution that produced it (a claim's lease owner): `seq` counts within it.
    pub execution: String,
    /// The run.
    pub run_id: RunId,
    /// 1 for the execution's first event, then one more per event.
    pub seq: u64,
    /// The event.
    pub name: StreamEvent,
    /// Its object, serialized in the store's form (every field, whatever the reader's version).
    pub data: String,
}

/// The separator of the encoded fields: ids and event names never hold it, and the data
/// comes last, so it may.
const SEP: char = '\t';

impl RelayedEvent {
    /// The event as one line of text: the fields in order, then the data.
    pub fn encode(&self) -> String {
        let Self {
            instance,
            execution,
            run_id,
            seq,
            name,
            data,
        } = self;
        format!("{instance}{SEP}{execution}{SEP}{run_id}{SEP}{seq}{SEP}{name}{SEP}{data}")
    }

    /// Reads what [`RelayedEvent::encode`] wrote; `None` for anything else.
    pub fn decode(line: &str) -> Option<Self> {
        let mut parts = line.splitn(6, SEP);
        let instance = parts.next().filter(|s| !s.is_empty())?;
        let execution = parts.next().filter(|s| !s.is_empty())?;
        let run_id = parts.next().filter(|s| !s.is_empty())?;
        let seq = parts.next()?.parse().ok()?;
        let name = parts.next()?;
        let name = *StreamEvent::ALL.iter().find(|e| e.as_str() == name)?;
        let data = parts.next()?;
        Some(Self {
            instance: instance.to_owned(),
            execution: execution.to_owned(),
            run_id: RunId::from(run_id),
            seq,
            name,
            data: data.to_owned(),
        })
    }
}

/// Carries [`RelayedEvent`]s between the instances sharing a database.
#[async_trait]
pub trait StreamRelay: Send + Sync {
    /// Queues `event` for every instance, without waiting. `false`: the queue is full and the
    /// event is dropped (its receiver notices the gap).
    fn send(&self, event: RelayedEvent) -> bool;

    /// The events every instance sends from now on, in the order each sent them. The stream
    /// ends only when the backend is closed; a broken connection is re-established inside it
    /// (events sent meanwhile are lost, which their numbering reveals).
    async fn subscribe(&self) -> StoreResult<BoxStream<'static, RelayedEvent>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_and_garbage_is_refused() {
        let ev = RelayedEvent {
            instance: "i-1".to_owned(),
            execution: "w-1-7".to_owned(),
            run_id: RunId::from("run_abc"),
            seq: 42,
            name: StreamEvent::MessageDelta,
            data: "{\"text\":\"a\\tb\tc\"}".to_owned(),
        };
        assert_eq!(RelayedEvent::decode(&ev.encode()), Some(ev));
        for bad in [
            "",
            "i\tw\trun\tx\tthread.message.delta\t{}",
            "i\tw\trun\t1\tnot.an.event\t{}",
            "i\tw\trun\t1\tthread.message.delta",
            "\tw\trun\t1\tthread.message.delta\t{}",
        ] {
            assert_eq!(RelayedEvent::decode(bad), None, "{bad:?}");
        }
    }
}
