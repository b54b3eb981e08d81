//! The domain of assistd: ids, projects, request validation, and the storage traits that every
//! backend implements, so that handlers never see a database; and the domain rules every store
//! applies alike (`transitions`, cursor resolution in `list`, the one `clock`).

pub mod clock;
pub mod code;
pub mod engine;
pub mod ids;
pub mod ingest;
pub mod list;
pub mod model;
pub mod project;
pub mod relay;
pub mod runs;
pub mod search;
pub mod signals;
pub mod store;
pub mod transitions;
pub mod validate;
pub mod validate_runs;
pub mod vector_stores;

pub use engine::{ClaimAtCreation, ClaimedRun, EngineStore, Lease, Sampling, TurnText};
pub use list::{Cursors, ListParams, Order, Page};
pub use project::Project;
pub use relay::{Relayed, RelayedEvent, StreamRelay};
pub use signals::{Signal, Signals};
pub use store::*;
