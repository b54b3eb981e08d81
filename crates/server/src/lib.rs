//! The assistd HTTP server: the OpenAI Assistants API (v1 and v2), vector stores and the Files
//! API under `/v1`.
//!
//! `app` assembles storage and the router, `api` holds one module per resource with one
//! handler per operation, `extract` and `error` make every failure OpenAI's error envelope,
//! `listener` accepts connections under timeouts and a cap, `playground` serves the browser
//! playground at `/`.

pub mod api;
pub mod app;
pub mod auth;
pub mod blobs;
pub mod body_gate;
pub mod code;
pub mod config;
pub mod error;
pub mod extract;
pub mod ingest;
pub mod limits;
pub mod listener;
pub mod local;
pub mod playground;
pub mod private;
pub mod telemetry;
pub mod version;
