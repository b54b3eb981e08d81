//! Wire types of the OpenAI Assistants API (v1 and v2), vector stores and the Files API.
//!
//! Every type here keeps the name the OpenAPI spec gives it and serializes to exactly the JSON the
//! spec describes: nullable fields are always present (as `null`), never skipped. Request types
//! reject unknown fields, as OpenAI does. This crate knows nothing of HTTP frameworks or storage.

pub mod assistants;
pub mod common;
pub mod files;
pub mod ids;
pub mod messages;
pub mod runs;
pub mod steps;
pub mod stream;
pub mod threads;
pub mod vector_stores;
pub mod version;

pub use assistants::*;
pub use common::*;
pub use files::*;
pub use ids::*;
pub use messages::*;
pub use runs::*;
pub use steps::*;
pub use stream::*;
pub use threads::*;
pub use version::*;
