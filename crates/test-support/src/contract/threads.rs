//! Threads: creation with messages (all or nothing), metadata, and what deleting one takes
//! with it.

use super::{
    all_asc, assert_empty, assert_invalid, assert_invalid_reference, assert_not_found,
    assert_recent, call, md, msg_with_files, new_assistant, new_run, new_thread, project_a,
    require_tool_outputs, unix_now, upload, user_msg,
};
use assistd_core::{ObjectKind, Store};
use assistd_wire::{
    CreateMessageRequest, CreateThreadRequest, MessageContent, MessageRole, MessageStatus, ThreadId,
};
use std::sync::Arc;

#[doc(hidden)]
#[macro_export]
macro_rules! __store_contract_threads {
    ($factory:ident, $module:ident) => {
        $crate::store_contract_tests!(@cases $factory, $module;
            thread_create_with_messages,
            thread_create_is_atomic,
            thread_modify_delete,
            thread_delete_cascades,
            long_thread_and_widely_named_file_delete_whole,
        );
    };
}
#[doc(hidden)]
pub use crate::__store_contract_threads as cases;

/// A thread created with messages holds them, in order, with their fields.
pub async fn thread_create_with_messages(store: Arc<dyn Store>) {
    let p = project_a();
    let f1 = upload(&store, &p, "assistants").await;
    let t0 = unix_now();
    let thread = store
        .create_thread(
            &p,
            CreateThreadRequest {
                tool_resources: None,
                messages: Some(vec![
                    CreateMessageRequest {
                        metadata: Some(md(&[("n", "1")])),
                        ..user_msg("Hello")
                    },
                    CreateMessageRequest {
                        role: MessageRole::Assistant,
                        ..msg_with_files("Here is a file", &[f1.id.as_str()])
                    },
                ]),
                metadata: Some(md(&[("topic", "greetings")])),
            },
        )
        .await
        .unwrap();
    assert!(
        thread.id.as_str().starts_with("thread_"),
        "id {}",
        thread.id
    );
    assert_eq!(thread.object, "thread");
    assert_recent(thread.created_at, t0, "thread.created_at");
    assert_eq!(thread.metadata, Some(md(&[("topic", "greetings")])));
    assert_eq!(store.get_thread(&p, &thread.id).await.unwrap(), thread);

    let msgs = store
        .list_messages(&p, &thread.id, &all_asc(), None)
        .await
        .unwrap();
    assert!(!msgs.has_more);
    assert_eq!(msgs.data.len(), 2);
    let (m0, m1) = (&msgs.data[0], &msgs.data[1]);
    for m in [m0, m1] {
        assert!(m.id.as_str().starts_with("msg_"), "id {}", m.id);
        assert_eq!(m.object, "thread.message");
        assert_eq!(m.thread_id, thread.id);
        assert_eq!(m.status, MessageStatus::Completed);
        assert_eq!(m.incomplete_details, None);
        assert_eq!(m.assistant_id, None);
        assert_eq!(m.run_id, None);
        assert_recent(m.created_at, t0, "message.created_at");
    }
    assert_eq!(m0.role, MessageRole::User);
    assert_eq!(m0.content, vec![MessageContent::text("Hello")]);
    assert!(m0.file_ids.is_empty());
    assert_eq!(m0.metadata, Some(md(&[("n", "1")])));
    assert_eq!(m1.role, MessageRole::Assistant);
    assert_eq!(m1.content, vec![MessageContent::text("Here is a file")]);
    assert_eq!(m1.file_ids, vec![f1.id.to_string()]);
    assert_eq!(m1.metadata, None);
    assert_eq!(
        store.get_message(&p, &thread.id, &m0.id).await.unwrap(),
        *m0
    );
    assert_eq!(
        store.get_message(&p, &thread.id, &m1.id).await.unwrap(),
        *m1
    );

    let empty = store
        .create_thread(&p, CreateThreadRequest::default())
        .await
        .unwrap();
    assert_ne!(empty.id, thread.id);
    assert_eq!(empty.metadata, None);
    // Threads without files are returned as created, not read back: the same as stored.
    assert_eq!(store.get_thread(&p, &empty.id).await.unwrap(), empty);
    let plain = store
        .create_thread(
            &p,
            CreateThreadRequest {
                tool_resources: None,
                messages: Some(vec![user_msg("Hi")]),
                metadata: Some(md(&[("k", "v")])),
            },
        )
        .await
        .unwrap();
    assert_eq!(store.get_thread(&p, &plain.id).await.unwrap(), plain);
    assert_empty(
        store.list_messages(&p, &empty.id, &all_asc(), None).await,
        "messages of an empty thread",
    );
}

/// A thread whose messages reference a missing or unattachable file is not created at all.
///
/// Threads cannot be listed, so the absence of the half-created thread is not observable through
/// the trait; this checks the errors and their `param`, and that the store stays usable.
pub async fn thread_create_is_atomic(store: Arc<dyn Store>) {
    let p = project_a();
    let f1 = upload(&store, &p, "assistants").await;
    let tune = upload(&store, &p, "fine-tune").await;
    let r = store
        .create_thread(
            &p,
            CreateThreadRequest {
                tool_resources: None,
                messages: Some(vec![
                    msg_with_files("atomic probe 1", &[f1.id.as_str()]),
                    msg_with_files("atomic probe 2", &["file-missing"]),
                ]),
                metadata: None,
            },
        )
        .await;
    let param = assert_invalid_reference(r, ObjectKind::File, "file-missing");
    assert!(param.starts_with("messages[1]"), "param {param}");
    let r = store
        .create_thread(
            &p,
            CreateThreadRequest {
                tool_resources: None,
                messages: Some(vec![msg_with_files("atomic probe 3", &[tune.id.as_str()])]),
                metadata: None,
            },
        )
        .await;
    let param = assert_invalid(r);
    assert!(
        param
            .as_deref()
            .is_some_and(|p| p.starts_with("messages[0]")),
        "param {param:?}"
    );
    // The store is still consistent: the same good message goes through on its own.
    let t = store
        .create_thread(
            &p,
            CreateThreadRequest {
                tool_resources: None,
                messages: Some(vec![msg_with_files("atomic probe 1", &[f1.id.as_str()])]),
                metadata: None,
            },
        )
        .await
        .unwrap();
    let msgs = store
        .list_messages(&p, &t.id, &all_asc(), None)
        .await
        .unwrap();
    assert_eq!(msgs.data.len(), 1);
    assert_eq!(msgs.data[0].file_ids, vec![f1.id.to_string()]);
}

/// Thread metadata: absent leaves it, a map replaces it, `Some(None)` clears it; then delete.
pub async fn thread_modify_delete(store: Arc<dyn Store>) {
    let p = project_a();
    let thread = store
        .create_thread(
            &p,
            CreateThreadRequest {
                tool_resources: None,
                messages: None,
                metadata: Some(md(&[("a", "1")])),
            },
        )
        .await
        .unwrap();
    let same = store
        .modify_thread(&p, &thread.id, None, None)
        .await
        .unwrap();
    assert_eq!(same, thread);
    let m = store
        .modify_thread(
            &p,
            &thread.id,
            Some(Some(md(&[("b", "2"), ("c", "3")]))),
            None,
        )
        .await
        .unwrap();
    assert_eq!(m.metadata, Some(md(&[("b", "2"), ("c", "3")])), "replaced");
    assert_eq!(
        (m.id.as_str(), m.created_at),
        (thread.id.as_str(), thread.created_at)
    );
    assert_eq!(store.get_thread(&p, &thread.id).await.unwrap(), m);
    let m = store
        .modify_thread(&p, &thread.id, Some(None), None)
        .await
        .unwrap();
    assert_eq!(m.metadata, None);
    assert_eq!(store.get_thread(&p, &thread.id).await.unwrap(), m);

    store.delete_thread(&p, &thread.id).await.unwrap();
    assert_not_found(
        store.get_thread(&p, &thread.id).await,
        ObjectKind::Thread,
        &thread.id,
    );
    assert_not_found(
        store.delete_thread(&p, &thread.id).await,
        ObjectKind::Thread,
        &thread.id,
    );
    assert_not_found(
        store.modify_thread(&p, &thread.id, None, None).await,
        ObjectKind::Thread,
        &thread.id,
    );
    assert_not_found(
        store
            .modify_thread(&p, &ThreadId::from("thread_nope"), Some(None), None)
            .await,
        ObjectKind::Thread,
        "thread_nope",
    );
}

/// Deleting a thread takes its messages, message files, runs and steps with it, and nothing else.
pub async fn thread_delete_cascades(store: Arc<dyn Store>) {
    let p = project_a();
    let f1 = upload(&store, &p, "assistants").await;
    let asst = new_assistant(&store, &p).await;
    let thread = store
        .create_thread(
            &p,
            CreateThreadRequest {
                tool_resources: None,
                messages: Some(vec![msg_with_files("with a file", &[f1.id.as_str()])]),
                metadata: None,
            },
        )
        .await
        .unwrap();
    let other = new_thread(&store, &p).await;
    let other_msg = store
        .create_message(&p, &other, user_msg("survivor"))
        .await
        .unwrap();
    let msg = store
        .list_messages(&p, &thread.id, &all_asc(), None)
        .await
        .unwrap()
        .data
        .remove(0);
    let run = store
        .create_run(&p, &thread.id, new_run(&asst))
        .await
        .unwrap();
    let (_, step) = require_tool_outputs(&store, &p, &run.id, vec![call("f", "{}")]).await;
    // Created after `run` was claimed, so that the claim took `run`.
    let other_run = store.create_run(&p, &other, new_run(&asst)).await.unwrap();

    store.delete_thread(&p, &thread.id).await.unwrap();
    let t = &thread.id;
    assert_not_found(store.get_thread(&p, t).await, ObjectKind::Thread, t);
    assert_not_found(
        store.get_message(&p, t, &msg.id).await,
        ObjectKind::Thread,
        t,
    );
    assert_not_found(
        store.list_messages(&p, t, &all_asc(), None).await,
        ObjectKind::Thread,
        t,
    );
    assert_not_found(
        store.list_message_files(&p, t, &msg.id, &all_asc()).await,
        ObjectKind::Thread,
        t,
    );
    assert_not_found(
        store.get_message_file(&p, t, &msg.id, &f1.id).await,
        ObjectKind::Thread,
        t,
    );
    assert_not_found(store.get_run(&p, t, &run.id).await, ObjectKind::Thread, t);
    assert_not_found(
        store.list_runs(&p, t, &all_asc()).await,
        ObjectKind::Thread,
        t,
    );
    assert_not_found(
        store.list_run_steps(&p, t, &run.id, &all_asc()).await,
        ObjectKind::Thread,
        t,
    );
    assert_not_found(
        store.get_run_step(&p, t, &run.id, &step.id).await,
        ObjectKind::Thread,
        t,
    );
    assert_not_found(
        store.create_message(&p, t, user_msg("late")).await,
        ObjectKind::Thread,
        t,
    );
    assert_not_found(
        store.create_run(&p, t, new_run(&asst)).await,
        ObjectKind::Thread,
        t,
    );

    // Everything else stays.
    assert_eq!(store.get_file(&p, &f1.id).await.unwrap(), f1);
    store.get_assistant(&p, &asst).await.unwrap();
    assert_eq!(
        store.get_message(&p, &other, &other_msg.id).await.unwrap(),
        other_msg
    );
    assert_eq!(
        store.get_run(&p, &other, &other_run.id).await.unwrap(),
        other_run
    );
}

/// A thread longer than one delete batch, and a file named by more messages than one batch,
/// are deleted whole (the store deletes them a batch per transaction), and nothing else goes.
pub async fn long_thread_and_widely_named_file_delete_whole(store: Arc<dyn Store>) {
    const WITH_FILE: usize = 1_001;
    const PLAIN: usize = 500;
    let p = project_a();
    let f = upload(&store, &p, "assistants").await;
    let long = new_thread(&store, &p).await;
    let other = new_thread(&store, &p).await;
    for i in 0..WITH_FILE {
        store
            .create_message(
                &p,
                &long,
                msg_with_files(&format!("m{i}"), &[f.id.as_str()]),
            )
            .await
            .unwrap();
    }
    for i in 0..PLAIN {
        store
            .create_message(&p, &long, user_msg(&format!("plain {i}")))
            .await
            .unwrap();
    }
    let kept = store
        .create_message(&p, &other, msg_with_files("kept", &[f.id.as_str()]))
        .await
        .unwrap();

    store.delete_file(&p, &f.id).await.unwrap();
    assert_not_found(store.get_file(&p, &f.id).await, ObjectKind::File, &f.id);
    let mut seen = 0;
    let mut params = all_asc();
    loop {
        let page = store.list_messages(&p, &long, &params, None).await.unwrap();
        for m in &page.data {
            assert!(m.file_ids.is_empty(), "{} still names the file", m.id);
            seen += 1;
        }
        match (page.has_more, page.data.last()) {
            (true, Some(last)) => params.after = Some(last.id.to_string()),
            _ => break,
        }
    }
    assert_eq!(
        seen,
        WITH_FILE + PLAIN,
        "deleting a file keeps its messages"
    );
    let kept = store.get_message(&p, &other, &kept.id).await.unwrap();
    assert!(kept.file_ids.is_empty());
    assert_empty(
        store
            .list_message_files(&p, &other, &kept.id, &all_asc())
            .await,
        "a kept message's files after its file was deleted",
    );

    store.delete_thread(&p, &long).await.unwrap();
    assert_not_found(store.get_thread(&p, &long).await, ObjectKind::Thread, &long);
    assert_not_found(
        store.delete_thread(&p, &long).await,
        ObjectKind::Thread,
        &long,
    );
    let survivors = store
        .list_messages(&p, &other, &all_asc(), None)
        .await
        .unwrap();
    assert_eq!(survivors.data.len(), 1, "another thread's messages stay");
}
