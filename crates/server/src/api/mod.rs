//! The `/v1` routes: one module per resource, one handler per operation of the spec, named after
//! its operationId.

pub mod assistants;
pub mod files;
pub mod messages;
pub mod runs;
pub mod stream;
pub mod threads;
pub mod vector_stores;

use crate::app::AppState;
use crate::auth::authenticate;
use crate::body_gate::{BodyGate, gate};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};

/// Every Assistants (v1 and v2), vector store and Files operation.
pub fn routes(state: AppState) -> Router {
    let json_limit = DefaultBodyLimit::max(state.settings.max_json_body_bytes);
    // Multipart framing adds a few hundred bytes around the file; allow for it so the 413 is
    // about the file, not the envelope.
    let upload_limit = DefaultBodyLimit::max(
        usize::try_from(state.settings.max_upload_bytes)
            .unwrap_or(usize::MAX)
            .saturating_add(64 * 1024),
    );
    let files = Router::new()
        .route("/files", get(files::list_files).post(files::create_file))
        .layer(upload_limit);
    let api = Router::new()
        .route(
            "/assistants",
            get(assistants::list_assistants).post(assistants::create_assistant),
        )
        .route(
            "/assistants/{assistant_id}",
            get(assistants::get_assistant)
                .post(assistants::modify_assistant)
                .delete(assistants::delete_assistant),
        )
        .route(
            "/assistants/{assistant_id}/files",
            get(assistants::list_assistant_files).post(assistants::create_assistant_file),
        )
        .route(
            "/assistants/{assistant_id}/files/{file_id}",
            get(assistants::get_assistant_file).delete(assistants::delete_assistant_file),
        )
        .route("/threads", post(threads::create_thread))
        .route("/threads/runs", post(runs::create_thread_and_run))
        .route(
            "/threads/{thread_id}",
            get(threads::get_thread)
                .post(threads::modify_thread)
                .delete(threads::delete_thread),
        )
        .route(
            "/threads/{thread_id}/messages",
            get(messages::list_messages).post(messages::create_message),
        )
        .route(
            "/threads/{thread_id}/messages/{message_id}",
            get(messages::get_message)
                .post(messages::modify_message)
                .delete(messages::delete_message),
        )
        .route(
            "/threads/{thread_id}/messages/{message_id}/files",
            get(messages::list_message_files),
        )
        .route(
            "/threads/{thread_id}/messages/{message_id}/files/{file_id}",
            get(messages::get_message_file),
        )
        .route(
            "/threads/{thread_id}/runs",
            get(runs::list_runs).post(runs::create_run),
        )
        .route(
            "/threads/{thread_id}/runs/{run_id}",
            get(runs::get_run).post(runs::modify_run),
        )
        .route(
            "/threads/{thread_id}/runs/{run_id}/submit_tool_outputs",
            post(runs::submit_tool_outputs_to_run),
        )
        .route(
            "/threads/{thread_id}/runs/{run_id}/cancel",
            post(runs::cancel_run),
        )
        .route(
            "/threads/{thread_id}/runs/{run_id}/steps",
            get(runs::list_run_steps),
        )
        .route(
            "/threads/{thread_id}/runs/{run_id}/steps/{step_id}",
            get(runs::get_run_step),
        )
        .route(
            "/files/{file_id}",
            get(files::retrieve_file).delete(files::delete_file),
        )
        .route("/files/{file_id}/content", get(files::download_file));
    vector_store_routes(api)
        .layer(json_limit)
        .layer(from_fn_with_state(BodyGate::new(&state.settings), gate))
        .merge(files)
        // Inside authentication, which names the project the rate is counted for.
        .route_layer(from_fn_with_state(
            state.limits.clone(),
            crate::limits::rate_limit,
        ))
        .route_layer(from_fn_with_state(state.auth.clone(), authenticate))
        .with_state(state)
}

/// The vector store operations (new in v2, served under either header).
fn vector_store_routes(api: Router<AppState>) -> Router<AppState> {
    api.route(
        "/vector_stores",
        get(vector_stores::list_vector_stores).post(vector_stores::create_vector_store),
    )
    .route(
        "/vector_stores/{vector_store_id}",
        get(vector_stores::get_vector_store)
            .post(vector_stores::modify_vector_store)
            .delete(vector_stores::delete_vector_store),
    )
    .route(
        "/vector_stores/{vector_store_id}/files",
        get(vector_stores::list_vector_store_files).post(vector_stores::create_vector_store_file),
    )
    .route(
        "/vector_stores/{vector_store_id}/files/{file_id}",
        get(vector_stores::get_vector_store_file)
            .post(vector_stores::update_vector_store_file_attributes)
            .delete(vector_stores::delete_vector_store_file),
    )
    .route(
        "/vector_stores/{vector_store_id}/files/{file_id}/content",
        get(vector_stores::retrieve_vector_store_file_content),
    )
    .route(
        "/vector_stores/{vector_store_id}/file_batches",
        post(vector_stores::create_vector_store_file_batch),
    )
    .route(
        "/vector_stores/{vector_store_id}/file_batches/{batch_id}",
        get(vector_stores::get_vector_store_file_batch),
    )
    .route(
        "/vector_stores/{vector_store_id}/file_batches/{batch_id}/cancel",
        post(vector_stores::cancel_vector_store_file_batch),
    )
    .route(
        "/vector_stores/{vector_store_id}/file_batches/{batch_id}/files",
        get(vector_stores::list_files_in_vector_store_batch),
    )
    .route(
        "/vector_stores/{vector_store_id}/search",
        post(vector_stores::search_vector_store),
    )
}
