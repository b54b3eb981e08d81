//! Messages: their fields and errors, the `run_id` filter, and a message's files.

use super::{
    WORKER, all_asc, assert_empty, assert_invalid, assert_invalid_reference, assert_not_found,
    assert_recent, claim, ids, md, msg_with_files, new_assistant, new_run, new_thread, params,
    project_a, turn, unix_now, upload, usage, user_msg,
};
use assistd_core::{ListParams, ObjectKind, Order, Store};
use assistd_wire::{
    CreateMessageRequest, FileId, MessageContent, MessageId, MessageRole, MessageStatus, RunId,
    ThreadId,
};
use std::sync::Arc;

#[doc(hidden)]
#[macro_export]
macro_rules! __store_contract_messages {
    ($factory:ident, $module:ident) => {
        $crate::store_contract_tests!(@cases $factory, $module;
            message_crud,
            message_run_id_filter,
            message_files,
            message_delete,
            attachments_go_to_the_threads_store,
        );
    };
}
#[doc(hidden)]
pub use crate::__store_contract_messages as cases;

/// Messages: create, get, modify metadata, list, and their 404s and reference errors.
pub async fn message_crud(store: Arc<dyn Store>) {
    let p = project_a();
    let f1 = upload(&store, &p, "assistants").await;
    let f2 = upload(&store, &p, "assistants").await;
    let tune = upload(&store, &p, "fine-tune").await;
    let thread = new_thread(&store, &p).await;
    let other = new_thread(&store, &p).await;

    let t0 = unix_now();
    let m1 = store
        .create_message(
            &p,
            &thread,
            CreateMessageRequest {
                role: MessageRole::User,
                content: "What is 2 + 2?".into(),
                file_ids: Some(vec![f1.id.to_string(), f2.id.to_string()]),
                attachments: None,
                metadata: Some(md(&[("k", "v")])),
            },
        )
        .await
        .unwrap();
    assert!(m1.id.as_str().starts_with("msg_"), "id {}", m1.id);
    assert_eq!(m1.object, "thread.message");
    assert_recent(m1.created_at, t0, "message.created_at");
    assert_eq!(m1.thread_id, thread);
    assert_eq!(m1.status, MessageStatus::Completed);
    assert_eq!(m1.incomplete_details, None);
    assert_eq!(m1.incomplete_at, None);
    assert_eq!(m1.role, MessageRole::User);
    assert_eq!(m1.content, vec![MessageContent::text("What is 2 + 2?")]);
    assert_eq!(m1.assistant_id, None);
    assert_eq!(m1.run_id, None);
    assert_eq!(m1.file_ids, vec![f1.id.to_string(), f2.id.to_string()]);
    assert_eq!(m1.metadata, Some(md(&[("k", "v")])));
    assert_eq!(store.get_message(&p, &thread, &m1.id).await.unwrap(), m1);

    let m2 = store
        .create_message(
            &p,
            &thread,
            CreateMessageRequest {
                role: MessageRole::Assistant,
                ..user_msg("4")
            },
        )
        .await
        .unwrap();
    assert_eq!(m2.role, MessageRole::Assistant);
    assert!(m2.file_ids.is_empty());
    assert_eq!(m2.metadata, None);

    let desc = store
        .list_messages(&p, &thread, &ListParams::default(), None)
        .await
        .unwrap();
    assert_eq!(desc.data, vec![m2.clone(), m1.clone()]);
    assert!(!desc.has_more);
    let asc = store
        .list_messages(&p, &thread, &all_asc(), None)
        .await
        .unwrap();
    assert_eq!(asc.data, vec![m1.clone(), m2.clone()]);
    assert_empty(
        store.list_messages(&p, &other, &all_asc(), None).await,
        "other thread's messages",
    );

    // Metadata.
    let same = store
        .modify_message(&p, &thread, &m1.id, None)
        .await
        .unwrap();
    assert_eq!(same, m1);
    let changed = store
        .modify_message(&p, &thread, &m1.id, Some(Some(md(&[("x", "y")]))))
        .await
        .unwrap();
    let mut want = m1.clone();
    want.metadata = Some(md(&[("x", "y")]));
    assert_eq!(changed, want);
    assert_eq!(store.get_message(&p, &thread, &m1.id).await.unwrap(), want);
    let cleared = store
        .modify_message(&p, &thread, &m1.id, Some(None))
        .await
        .unwrap();
    want.metadata = None;
    assert_eq!(cleared, want);
    assert_eq!(store.get_message(&p, &thread, &m1.id).await.unwrap(), want);

    // 404s.
    assert_not_found(
        store
            .get_message(&p, &thread, &MessageId::from("msg_nope"))
            .await,
        ObjectKind::Message,
        "msg_nope",
    );
    assert_not_found(
        store.get_message(&p, &other, &m1.id).await,
        ObjectKind::Message,
        &m1.id,
    );
    assert_not_found(
        store.modify_message(&p, &other, &m1.id, Some(None)).await,
        ObjectKind::Message,
        &m1.id,
    );
    assert_not_found(
        store
            .modify_message(&p, &thread, &MessageId::from("msg_nope"), None)
            .await,
        ObjectKind::Message,
        "msg_nope",
    );
    assert_not_found(
        store
            .get_message(&p, &ThreadId::from("thread_nope"), &m1.id)
            .await,
        ObjectKind::Thread,
        "thread_nope",
    );
    assert_not_found(
        store
            .create_message(&p, &ThreadId::from("thread_nope"), user_msg("x"))
            .await,
        ObjectKind::Thread,
        "thread_nope",
    );
    assert_not_found(
        store
            .list_messages(&p, &ThreadId::from("thread_nope"), &all_asc(), None)
            .await,
        ObjectKind::Thread,
        "thread_nope",
    );

    // Bad file references create nothing.
    let param = assert_invalid_reference(
        store
            .create_message(
                &p,
                &thread,
                msg_with_files("bad", &[f1.id.as_str(), "file-missing"]),
            )
            .await,
        ObjectKind::File,
        "file-missing",
    );
    assert!(param.starts_with("file_ids"), "param {param}");
    let param = assert_invalid(
        store
            .create_message(&p, &thread, msg_with_files("bad", &[tune.id.as_str()]))
            .await,
    );
    assert!(
        param.as_deref().is_some_and(|p| p.starts_with("file_ids")),
        "param {param:?}"
    );
    assert_eq!(
        ids(&store
            .list_messages(&p, &thread, &all_asc(), None)
            .await
            .unwrap()),
        vec![m1.id.to_string(), m2.id.to_string()]
    );
}

/// The `run_id` filter keeps only messages written by that run: user messages (including a run's
/// `additional_messages`) never match a run filter, a message the run wrote does, and no filter
/// lists them all.
pub async fn message_run_id_filter(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let thread = new_thread(&store, &p).await;
    let m1 = store
        .create_message(&p, &thread, user_msg("before the run"))
        .await
        .unwrap();
    let mut nr = new_run(&asst);
    nr.additional_messages = vec![user_msg("added by the run request")];
    let run = store.create_run(&p, &thread, nr).await.unwrap();
    let all = store
        .list_messages(&p, &thread, &all_asc(), None)
        .await
        .unwrap();
    assert_eq!(all.data.len(), 2);
    assert_eq!(all.data[0], m1);
    assert_eq!(
        all.data[1].content,
        vec![MessageContent::text("added by the run request")]
    );
    assert_empty(
        store
            .list_messages(&p, &thread, &all_asc(), Some(&run.id))
            .await,
        "messages written by the run before it ran",
    );
    let claimed = claim(&store, WORKER, &run.id).await;
    let (written, step) = store.begin_message(&claimed.run, WORKER).await.unwrap();
    store
        .complete_message(
            &claimed.run,
            WORKER,
            &written.id,
            &step.id,
            &turn("Hi!", usage(3, 1)),
        )
        .await
        .unwrap();
    let written = store.get_message(&p, &thread, &written.id).await.unwrap();
    assert_eq!(
        store
            .list_messages(&p, &thread, &all_asc(), Some(&run.id))
            .await
            .unwrap()
            .data,
        vec![written.clone()],
        "messages written by the run"
    );
    assert_eq!(
        ids(&store
            .list_messages(&p, &thread, &all_asc(), None)
            .await
            .unwrap()),
        vec![
            m1.id.to_string(),
            all.data[1].id.to_string(),
            written.id.to_string()
        ]
    );
    assert_empty(
        store
            .list_messages(&p, &thread, &all_asc(), Some(&RunId::from("run_unknown")))
            .await,
        "messages of an unknown run",
    );
}

/// A message's files: list (both orders, paged) and get, with their 404s.
pub async fn message_files(store: Arc<dyn Store>) {
    let p = project_a();
    let f1 = upload(&store, &p, "assistants").await;
    let f2 = upload(&store, &p, "assistants").await;
    let thread = new_thread(&store, &p).await;
    let t0 = unix_now();
    let msg = store
        .create_message(
            &p,
            &thread,
            msg_with_files("files", &[f1.id.as_str(), f2.id.as_str()]),
        )
        .await
        .unwrap();
    let plain = store
        .create_message(&p, &thread, user_msg("no files"))
        .await
        .unwrap();

    let asc = store
        .list_message_files(&p, &thread, &msg.id, &all_asc())
        .await
        .unwrap();
    assert_eq!(ids(&asc), vec![f1.id.to_string(), f2.id.to_string()]);
    assert!(!asc.has_more);
    for mf in &asc.data {
        assert_eq!(mf.object, "thread.message.file");
        assert_eq!(mf.message_id, msg.id.as_str());
        assert_recent(mf.created_at, t0, "message_file.created_at");
    }
    let desc = store
        .list_message_files(&p, &thread, &msg.id, &ListParams::default())
        .await
        .unwrap();
    assert_eq!(
        desc.data,
        asc.data.iter().rev().cloned().collect::<Vec<_>>()
    );
    let first = store
        .list_message_files(&p, &thread, &msg.id, &params(1, Order::Asc, None, None))
        .await
        .unwrap();
    assert_eq!(ids(&first), vec![f1.id.to_string()]);
    assert!(first.has_more);
    let second = store
        .list_message_files(
            &p,
            &thread,
            &msg.id,
            &params(1, Order::Asc, Some(f1.id.as_str()), None),
        )
        .await
        .unwrap();
    assert_eq!(ids(&second), vec![f2.id.to_string()]);
    assert!(!second.has_more);

    assert_eq!(
        store
            .get_message_file(&p, &thread, &msg.id, &f1.id)
            .await
            .unwrap(),
        asc.data[0]
    );
    assert_eq!(
        store
            .get_message_file(&p, &thread, &msg.id, &f2.id)
            .await
            .unwrap(),
        asc.data[1]
    );
    assert_empty(
        store
            .list_message_files(&p, &thread, &plain.id, &all_asc())
            .await,
        "files of a message without files",
    );
    assert_not_found(
        store.get_message_file(&p, &thread, &plain.id, &f1.id).await,
        ObjectKind::MessageFile,
        &f1.id,
    );
    assert_not_found(
        store
            .get_message_file(&p, &thread, &msg.id, &FileId::from("file-nope"))
            .await,
        ObjectKind::MessageFile,
        "file-nope",
    );
    assert_not_found(
        store
            .get_message_file(&p, &thread, &MessageId::from("msg_nope"), &f1.id)
            .await,
        ObjectKind::Message,
        "msg_nope",
    );
    assert_not_found(
        store
            .list_message_files(&p, &thread, &MessageId::from("msg_nope"), &all_asc())
            .await,
        ObjectKind::Message,
        "msg_nope",
    );
    assert_not_found(
        store
            .list_message_files(&p, &ThreadId::from("thread_nope"), &msg.id, &all_asc())
            .await,
        ObjectKind::Thread,
        "thread_nope",
    );
}

/// Deleting a message: gone from reads and lists with its file links (the file stays); a
/// message a run is writing cannot be deleted; a missing one is a 404.
pub async fn message_delete(store: Arc<dyn Store>) {
    let p = project_a();
    let thread = new_thread(&store, &p).await;
    let f = upload(&store, &p, "assistants").await;
    let keep = store
        .create_message(&p, &thread, user_msg("keep"))
        .await
        .unwrap();
    let gone = store
        .create_message(&p, &thread, msg_with_files("gone", &[f.id.as_str()]))
        .await
        .unwrap();
    store.delete_message(&p, &thread, &gone.id).await.unwrap();
    assert_not_found(
        store.get_message(&p, &thread, &gone.id).await,
        ObjectKind::Message,
        &gone.id,
    );
    assert_not_found(
        store.delete_message(&p, &thread, &gone.id).await,
        ObjectKind::Message,
        &gone.id,
    );
    let listed = store
        .list_messages(&p, &thread, &all_asc(), None)
        .await
        .unwrap();
    assert_eq!(ids(&listed), vec![keep.id.to_string()]);
    store.get_file(&p, &f.id).await.unwrap();
    assert_not_found(
        store
            .delete_message(&p, &ThreadId::from("thread_missing"), &keep.id)
            .await,
        ObjectKind::Thread,
        "thread_missing",
    );
    assert_not_found(
        store
            .delete_message(&super::project_b(), &thread, &keep.id)
            .await,
        ObjectKind::Thread,
        &thread,
    );

    // A message a run is writing stays.
    let assistant = new_assistant(&store, &p).await;
    let run = store
        .create_run(&p, &thread, new_run(&assistant))
        .await
        .unwrap();
    let claimed = claim(&store, WORKER, &run.id).await;
    let (writing, _) = store.begin_message(&claimed.run, WORKER).await.unwrap();
    assert_eq!(writing.status, MessageStatus::InProgress);
    assert_invalid(store.delete_message(&p, &thread, &writing.id).await);
    store.get_message(&p, &thread, &writing.id).await.unwrap();
}

/// v2 attachments: kept as written, their distinct files become the message's `file_ids`, and
/// the `file_search` ones (with v1 message files) go into the thread's one vector store.
pub async fn attachments_go_to_the_threads_store(store: Arc<dyn Store>) {
    use assistd_wire::{Attachment, AttachmentTool};
    let p = project_a();
    let thread = new_thread(&store, &p).await;
    let (f1, f2, f3) = (
        upload(&store, &p, "assistants").await,
        upload(&store, &p, "assistants").await,
        upload(&store, &p, "assistants").await,
    );
    let attachments = vec![
        Attachment {
            file_id: f1.id.to_string(),
            tools: vec![AttachmentTool::FileSearch],
        },
        Attachment {
            file_id: f2.id.to_string(),
            tools: vec![AttachmentTool::CodeInterpreter],
        },
        Attachment {
            file_id: f1.id.to_string(),
            tools: vec![AttachmentTool::CodeInterpreter],
        },
    ];
    let msg = store
        .create_message(
            &p,
            &thread,
            CreateMessageRequest {
                attachments: Some(attachments.clone()),
                ..user_msg("files")
            },
        )
        .await
        .unwrap();
    assert_eq!(msg.file_ids, vec![f1.id.to_string(), f2.id.to_string()]);
    let read = store.get_message(&p, &thread, &msg.id).await.unwrap();
    assert_eq!(read.attachments, Some(attachments));
    assert_eq!(read.file_ids, msg.file_ids);
    let listed = store
        .list_messages(&p, &thread, &all_asc(), None)
        .await
        .unwrap();
    assert_eq!(listed.data, vec![read]);

    let stores = store.list_vector_stores(&p, &all_asc()).await.unwrap();
    assert_eq!(stores.data.len(), 1, "one store for the thread");
    let vs = &stores.data[0];
    assert_eq!(vs.expires_after.map(|e| e.days), Some(7));
    let files = store
        .list_vector_store_files(&p, &vs.id, None, &all_asc())
        .await
        .unwrap();
    assert_eq!(ids(&files), vec![f1.id.to_string()]);
    // A v1 message's files go to the same store.
    store
        .create_message(&p, &thread, msg_with_files("v1", &[f3.id.as_str()]))
        .await
        .unwrap();
    let files = store
        .list_vector_store_files(&p, &vs.id, None, &all_asc())
        .await
        .unwrap();
    assert_eq!(ids(&files), vec![f1.id.to_string(), f3.id.to_string()]);
    assert_eq!(
        store
            .list_vector_stores(&p, &all_asc())
            .await
            .unwrap()
            .data
            .len(),
        1
    );
    // A missing attachment file refuses the whole message.
    let before = store
        .list_messages(&p, &thread, &all_asc(), None)
        .await
        .unwrap()
        .data
        .len();
    let refused = store
        .create_message(
            &p,
            &thread,
            CreateMessageRequest {
                attachments: Some(vec![Attachment {
                    file_id: "file-missing".to_owned(),
                    tools: vec![AttachmentTool::FileSearch],
                }]),
                ..user_msg("x")
            },
        )
        .await;
    assert_eq!(
        assert_invalid_reference(refused, ObjectKind::File, "file-missing"),
        "attachments[0].file_id"
    );
    assert_eq!(
        store
            .list_messages(&p, &thread, &all_asc(), None)
            .await
            .unwrap()
            .data
            .len(),
        before
    );
}
