//! Tenancy: a project sees and uses nothing of another's.

use super::{
    all_asc, assert_empty, assert_invalid_reference, assert_not_found, assistant_req, call, ids,
    md, msg_with_files, new_assistant, new_run, new_thread, output, params, project_a, project_b,
    require_tool_outputs, upload, user_msg,
};
use assistd_core::{ObjectKind, Order, Store};
use assistd_wire::{CreateThreadRequest, ModifyAssistantRequest};
use std::sync::Arc;

#[doc(hidden)]
#[macro_export]
macro_rules! __store_contract_tenancy {
    ($factory:ident, $module:ident) => {
        $crate::store_contract_tests!(@cases $factory, $module;
            tenancy_assistants_and_files,
            tenancy_threads_messages_runs,
        );
    };
}
#[doc(hidden)]
pub use crate::__store_contract_tenancy as cases;

/// Project B sees nothing of project A's assistants and files, and cannot use A's files.
pub async fn tenancy_assistants_and_files(store: Arc<dyn Store>) {
    let (a, b) = (project_a(), project_b());
    let fa = upload(&store, &a, "assistants").await;
    let mut req = assistant_req("gpt-4-turbo");
    req.file_ids = Some(vec![fa.id.to_string()]);
    let asst = store.create_assistant(&a, req).await.unwrap();
    let fb = upload(&store, &b, "assistants").await;
    let asst_b = new_assistant(&store, &b).await;

    let id = &asst.id;
    assert_not_found(store.get_assistant(&b, id).await, ObjectKind::Assistant, id);
    assert_not_found(
        store
            .modify_assistant(
                &b,
                id,
                ModifyAssistantRequest {
                    name: Some(Some("hijacked".to_owned())),
                    ..Default::default()
                },
            )
            .await,
        ObjectKind::Assistant,
        id,
    );
    assert_not_found(
        store.delete_assistant(&b, id).await,
        ObjectKind::Assistant,
        id,
    );
    assert_not_found(
        store.create_assistant_file(&b, id, &fb.id).await,
        ObjectKind::Assistant,
        id,
    );
    assert_not_found(
        store.get_assistant_file(&b, id, &fa.id).await,
        ObjectKind::Assistant,
        id,
    );
    assert_not_found(
        store.list_assistant_files(&b, id, &all_asc()).await,
        ObjectKind::Assistant,
        id,
    );
    assert_not_found(
        store.delete_assistant_file(&b, id, &fa.id).await,
        ObjectKind::Assistant,
        id,
    );
    let listed = store.list_assistants(&b, &all_asc()).await.unwrap();
    assert_eq!(ids(&listed), vec![asst_b.to_string()]);
    for (after, before) in [(Some(id.as_str()), None), (None, Some(id.as_str()))] {
        assert_empty(
            store
                .list_assistants(&b, &params(10, Order::Asc, after, before))
                .await,
            "B listing with A's assistant as cursor",
        );
    }

    // A's file does not exist for B.
    assert_not_found(store.get_file(&b, &fa.id).await, ObjectKind::File, &fa.id);
    assert_not_found(
        store.delete_file(&b, &fa.id).await,
        ObjectKind::File,
        &fa.id,
    );
    assert_eq!(
        store
            .list_files(&b, None, &assistd_core::ListParams::default())
            .await
            .unwrap()
            .data,
        vec![fb.clone()]
    );
    assert_eq!(
        store
            .list_files(&b, Some("assistants"), &assistd_core::ListParams::default())
            .await
            .unwrap()
            .data,
        vec![fb.clone()]
    );
    assert_eq!(
        assert_invalid_reference(
            store.create_assistant_file(&b, &asst_b, &fa.id).await,
            ObjectKind::File,
            &fa.id,
        ),
        "file_id"
    );
    let mut req = assistant_req("gpt-4-turbo");
    req.file_ids = Some(vec![fa.id.to_string()]);
    assert_invalid_reference(
        store.create_assistant(&b, req).await,
        ObjectKind::File,
        &fa.id,
    );
    assert_invalid_reference(
        store
            .modify_assistant(
                &b,
                &asst_b,
                ModifyAssistantRequest {
                    file_ids: Some(vec![fa.id.to_string()]),
                    ..Default::default()
                },
            )
            .await,
        ObjectKind::File,
        &fa.id,
    );
    let thread_b = new_thread(&store, &b).await;
    assert_invalid_reference(
        store
            .create_message(&b, &thread_b, msg_with_files("steal", &[fa.id.as_str()]))
            .await,
        ObjectKind::File,
        &fa.id,
    );
    assert_invalid_reference(
        store
            .create_thread(
                &b,
                CreateThreadRequest {
                    tool_resources: None,
                    messages: Some(vec![msg_with_files("steal", &[fa.id.as_str()])]),
                    metadata: None,
                },
            )
            .await,
        ObjectKind::File,
        &fa.id,
    );

    // B deleting its own file does not touch A's attachments, and A is intact.
    store.delete_file(&b, &fb.id).await.unwrap();
    assert_eq!(store.get_assistant(&a, id).await.unwrap(), asst);
    assert_eq!(store.get_file(&a, &fa.id).await.unwrap(), fa);
    assert_eq!(
        store
            .list_files(&a, None, &assistd_core::ListParams::default())
            .await
            .unwrap()
            .data,
        vec![fa.clone()]
    );
    assert_eq!(
        ids(&store.list_assistants(&a, &all_asc()).await.unwrap()),
        vec![asst.id.to_string()]
    );
}

/// Project B sees nothing of project A's threads, messages, runs and steps.
pub async fn tenancy_threads_messages_runs(store: Arc<dyn Store>) {
    let (a, b) = (project_a(), project_b());
    let fa = upload(&store, &a, "assistants").await;
    let asst = new_assistant(&store, &a).await;
    let thread = store
        .create_thread(
            &a,
            CreateThreadRequest {
                tool_resources: None,
                messages: Some(vec![msg_with_files("secret", &[fa.id.as_str()])]),
                metadata: Some(md(&[("owner", "a")])),
            },
        )
        .await
        .unwrap();
    let msg = store
        .list_messages(&a, &thread.id, &all_asc(), None)
        .await
        .unwrap()
        .data
        .remove(0);
    let run = store
        .create_run(&a, &thread.id, new_run(&asst))
        .await
        .unwrap();
    let (run, step) = require_tool_outputs(&store, &a, &run.id, vec![call("f", "{}")]).await;
    let call_id = run
        .required_action
        .clone()
        .unwrap()
        .submit_tool_outputs
        .tool_calls[0]
        .id
        .clone();
    let t = &thread.id;
    let nf = ObjectKind::Thread;

    assert_not_found(store.get_thread(&b, t).await, nf, t);
    assert_not_found(store.modify_thread(&b, t, Some(None), None).await, nf, t);
    assert_not_found(store.delete_thread(&b, t).await, nf, t);

    assert_not_found(store.create_message(&b, t, user_msg("x")).await, nf, t);
    assert_not_found(store.get_message(&b, t, &msg.id).await, nf, t);
    assert_not_found(
        store.modify_message(&b, t, &msg.id, Some(None)).await,
        nf,
        t,
    );
    assert_not_found(store.list_messages(&b, t, &all_asc(), None).await, nf, t);
    assert_not_found(
        store.list_message_files(&b, t, &msg.id, &all_asc()).await,
        nf,
        t,
    );
    assert_not_found(store.get_message_file(&b, t, &msg.id, &fa.id).await, nf, t);

    assert_not_found(store.create_run(&b, t, new_run(&asst)).await, nf, t);
    assert_not_found(store.get_run(&b, t, &run.id).await, nf, t);
    assert_not_found(store.modify_run(&b, t, &run.id, Some(None)).await, nf, t);
    assert_not_found(store.list_runs(&b, t, &all_asc()).await, nf, t);
    assert_not_found(store.cancel_run(&b, t, &run.id).await, nf, t);
    assert_not_found(
        store
            .submit_tool_outputs(&b, t, &run.id, vec![output(&call_id, "x")])
            .await,
        nf,
        t,
    );
    // The engine's reads are scoped to the project too.
    assert!(
        store
            .thread_history(&b, t, &run.id, None, 100)
            .await
            .unwrap()
            .is_empty(),
        "B reading A's thread through the engine"
    );
    assert!(
        store.run_messages(&b, &run.id).await.unwrap().is_empty(),
        "B reading A's run's messages through the engine"
    );
    assert!(
        store.run_steps(&b, &run.id).await.unwrap().is_empty(),
        "B reading A's steps through the engine"
    );
    assert_not_found(
        store.list_run_steps(&b, t, &run.id, &all_asc()).await,
        nf,
        t,
    );
    assert_not_found(store.get_run_step(&b, t, &run.id, &step.id).await, nf, t);

    // B's own thread cannot reach A's messages, runs or steps either.
    let tb = new_thread(&store, &b).await;
    assert_not_found(
        store.get_message(&b, &tb, &msg.id).await,
        ObjectKind::Message,
        &msg.id,
    );
    assert_not_found(
        store.get_run(&b, &tb, &run.id).await,
        ObjectKind::Run,
        &run.id,
    );
    assert_not_found(
        store.list_run_steps(&b, &tb, &run.id, &all_asc()).await,
        ObjectKind::Run,
        &run.id,
    );
    assert_empty(
        store
            .list_messages(
                &b,
                &tb,
                &params(10, Order::Asc, Some(msg.id.as_str()), None),
                None,
            )
            .await,
        "B's thread listed after A's message",
    );
    assert_invalid_reference(
        store
            .create_thread_and_run(
                &b,
                CreateThreadRequest {
                    tool_resources: None,
                    messages: Some(vec![msg_with_files("steal", &[fa.id.as_str()])]),
                    metadata: None,
                },
                new_run(&asst),
            )
            .await,
        ObjectKind::File,
        &fa.id,
    );

    // A's objects are untouched by B's attempts.
    assert_eq!(store.get_thread(&a, t).await.unwrap(), thread);
    assert_eq!(store.get_message(&a, t, &msg.id).await.unwrap(), msg);
    assert_eq!(store.get_run(&a, t, &run.id).await.unwrap(), run);
    assert_eq!(
        store.get_run_step(&a, t, &run.id, &step.id).await.unwrap(),
        step
    );
    assert_eq!(
        ids(&store.list_runs(&a, t, &all_asc()).await.unwrap()),
        vec![run.id.to_string()]
    );
}
