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
    /// The instance streaming the run (every instance receives every event; the others
    /// ignore it).
    pub to: String,
    /// The run.
    pub run_id: RunId,
    /// The claim of the run that produced it (`ClaimedRun::attempt`): one per execution, so a
    /// later execution's events are told from an earlier one's.
    pub attempt: i64,
    /// 1 for the execution's first event, then one more per event.
    pub seq: u64,
    /// The event.
    pub name: StreamEvent,
    /// Its object, serialized in the store's form (every field, whatever the reader's version).
    pub data: String,
}

/// What a relay's subscription yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relayed {
    /// An event addressed to the subscriber.
    Event(RelayedEvent),
    /// The connection was lost (it is made again as the stream is polled on): events sent
    /// meanwhile are gone.
    Lost,
}

/// The separator of the encoded fields: ids and event names never hold it, and the data
/// comes last, so it may.
pub const SEP: char = '\t';

impl RelayedEvent {
    /// The event as one line of text: the fields in order (the addressee first, so that others
    /// skip it unread), then the data.
    pub fn encode(&self) -> String {
        let Self {
            to,
            run_id,
            attempt,
            seq,
            name,
            data,
        } = self;
        format!("{to}{SEP}{run_id}{SEP}{attempt}{SEP}{seq}{SEP}{name}{SEP}{data}")
    }

    /// Reads what [`RelayedEvent::encode`] wrote; `None` for anything else.
    pub fn decode(line: &str) -> Option<Self> {
        let mut parts = line.splitn(6, SEP);
        let to = parts.next().filter(|s| !s.is_empty())?;
        let run_id = parts.next().filter(|s| !s.is_empty())?;
        let attempt = parts.next()?.parse().ok()?;
        let seq = parts.next()?.parse().ok()?;
        let name = parts.next()?;
        let name = *StreamEvent::ALL.iter().find(|e| e.as_str() == name)?;
        let data = parts.next()?;
        Some(Self {
            to: to.to_owned(),
            run_id: RunId::from(run_id),
            attempt,
            seq,
            name,
            data: data.to_owned(),
        })
    }

    /// Whether an encoded event is addressed to `to`, read without decoding it.
    pub fn is_for(line: &str, to: &str) -> bool {
        line.strip_prefix(to)
            .is_some_and(|rest| rest.starts_with(SEP))
    }
}

/// Carries [`RelayedEvent`]s between the instances sharing a database.
#[async_trait]
pub trait StreamRelay: Send + Sync {
    /// Queues `event` for its addressee, without waiting. `false`: the queue is full and the
    /// event is dropped (its receiver notices the gap at the execution's next event).
    fn send(&self, event: RelayedEvent) -> bool;

    /// The events addressed to `to` from now on, in the order each instance sent them, and a
    /// [`Relayed::Lost`] whenever the connection was lost (made again at the next poll). The
    /// stream ends only when the backend fails for good; the caller then subscribes again.
    async fn subscribe(&self, to: &str) -> StoreResult<BoxStream<'static, Relayed>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_and_garbage_is_refused() {
        let ev = RelayedEvent {
            to: "i-1".to_owned(),
            run_id: RunId::from("run_abc"),
            attempt: 3,
            seq: 42,
            name: StreamEvent::MessageDelta,
            data: "{\"text\":\"a\\tb\tc\"}".to_owned(),
        };
        assert_eq!(RelayedEvent::decode(&ev.encode()), Some(ev.clone()));
        assert!(RelayedEvent::is_for(&ev.encode(), "i-1"));
        assert!(!RelayedEvent::is_for(&ev.encode(), "i-"));
        assert!(!RelayedEvent::is_for(&ev.encode(), "i-12"));
        for bad in [
            "",
            "i\trun\t1\tx\tthread.message.delta\t{}",
            "i\trun\tx\t1\tthread.message.delta\t{}",
            "i\trun\t1\t1\tnot.an.event\t{}",
            "i\trun\t1\t1\tthread.message.delta",
            "\trun\t1\t1\tthread.message.delta\t{}",
        ] {
            assert_eq!(RelayedEvent::decode(bad), None, "{bad:?}");
        }
    }
}
