//! The run engine. Workers claim runnable runs from the store under a lease, renew it while they
//! work, and drive each run through the model turn by turn:
//!
//! - a text turn becomes an assistant message with its `message_creation` step, and ends the run;
//! - a turn of function calls becomes a `tool_calls` step and puts the run in `requires_action`,
//!   releasing it until the client submits the outputs (which queues it again).
//!
//! Durability comes from the store: every transition is one transaction conditional on the
//! lease; a worker that dies leaves a lease that expires, and whoever claims the run next first
//! discards the interrupted turn's partial message and step, then redoes the turn. A panic while
//! executing one run fails that run and nothing else.

pub mod code_interpreter;
pub mod events;
pub mod file_search;
mod follow;
pub mod ingest;
mod prompt;
mod resources;
#[cfg(test)]
mod testing;
mod turn;
mod worker;

pub use events::{Event, EventBus, Subscription};
pub use worker::{Executor, ExecutorConfig, ExecutorHandle, Reserved, Services};
