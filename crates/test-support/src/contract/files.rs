//! File records, and what deleting one detaches.

use super::{
    all_asc, assert_not_found, assert_recent, assistant_req, ids, msg_with_files, new_run,
    new_thread, project_a, unix_now, upload,
};
use assistd_core::ids::FreshId;
use assistd_core::{NewFile, ObjectKind, Store};
use assistd_wire::{FileId, ToolResources};
use std::sync::Arc;

#[doc(hidden)]
#[macro_export]
macro_rules! __store_contract_files {
    ($factory:ident, $module:ident) => {
        $crate::store_contract_tests!(@cases $factory, $module;
            files_crud,
            file_delete_detaches,
        );
    };
}
#[doc(hidden)]
pub use crate::__store_contract_files as cases;

/// File records: create, get, list (newest first, by purpose), delete.
pub async fn files_crud(store: Arc<dyn Store>) {
    let p = project_a();
    assert!(
        store
            .list_files(&p, None, &assistd_core::ListParams::default())
            .await
            .unwrap()
            .data
            .is_empty()
    );
    let t0 = unix_now();
    let id = FileId::fresh();
    let f1 = store
        .create_file(
            &p,
            NewFile {
                id: id.clone(),
                filename: "notes.md".to_owned(),
                bytes: 1234,
                purpose: "assistants".to_owned(),
                expires_after_secs: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(f1.id, id);
    assert_eq!(f1.object, "file");
    assert_eq!(f1.filename, "notes.md");
    assert_eq!(f1.bytes, 1234);
    assert_eq!(f1.purpose, "assistants");
    assert!(
        ["uploaded", "processed"].contains(&f1.status.as_str()),
        "status {}",
        f1.status
    );
    assert_eq!(f1.status_details, None);
    assert_recent(f1.created_at, t0, "file.created_at");
    assert_eq!(store.get_file(&p, &id).await.unwrap(), f1);

    let f2 = upload(&store, &p, "fine-tune").await;
    let f3 = upload(&store, &p, "assistants").await;
    assert_eq!(
        store
            .list_files(&p, None, &assistd_core::ListParams::default())
            .await
            .unwrap()
            .data,
        vec![f3.clone(), f2.clone(), f1.clone()],
        "newest first"
    );
    assert_eq!(
        store
            .list_files(&p, Some("assistants"), &assistd_core::ListParams::default())
            .await
            .unwrap()
            .data,
        vec![f3.clone(), f1.clone()]
    );
    assert_eq!(
        store
            .list_files(&p, Some("fine-tune"), &assistd_core::ListParams::default())
            .await
            .unwrap()
            .data,
        vec![f2.clone()]
    );
    assert!(
        store
            .list_files(
                &p,
                Some("assistants_output"),
                &assistd_core::ListParams::default()
            )
            .await
            .unwrap()
            .data
            .is_empty()
    );

    store.delete_file(&p, &f1.id).await.unwrap();
    assert_not_found(store.get_file(&p, &f1.id).await, ObjectKind::File, &f1.id);
    assert_not_found(
        store.delete_file(&p, &f1.id).await,
        ObjectKind::File,
        &f1.id,
    );
    assert_eq!(
        store
            .list_files(&p, None, &assistd_core::ListParams::default())
            .await
            .unwrap()
            .data,
        vec![f3.clone(), f2.clone()]
    );
    assert_not_found(
        store.get_file(&p, &FileId::from("file-nope")).await,
        ObjectKind::File,
        "file-nope",
    );
}

/// Deleting a file detaches it from assistants, messages and runs, and leaves them otherwise
/// intact.
pub async fn file_delete_detaches(store: Arc<dyn Store>) {
    let p = project_a();
    let f1 = upload(&store, &p, "assistants").await;
    let f2 = upload(&store, &p, "assistants").await;
    let mut req = assistant_req("gpt-4-turbo");
    req.file_ids = Some(vec![f1.id.to_string(), f2.id.to_string()]);
    let asst = store.create_assistant(&p, req).await.unwrap();
    let thread = new_thread(&store, &p).await;
    let msg = store
        .create_message(
            &p,
            &thread,
            msg_with_files("two files", &[f1.id.as_str(), f2.id.as_str()]),
        )
        .await
        .unwrap();
    let mut nr = new_run(&asst.id);
    nr.file_ids = vec![f1.id.to_string(), f2.id.to_string()];
    let run = store.create_run(&p, &thread, nr).await.unwrap();

    store.delete_file(&p, &f1.id).await.unwrap();

    let mut want = asst.clone();
    want.file_ids = vec![f2.id.to_string()];
    want.tool_resources = Some(ToolResources::shown(&want.tools, &want.file_ids, &[]));
    assert_eq!(store.get_assistant(&p, &asst.id).await.unwrap(), want);
    assert_not_found(
        store.get_assistant_file(&p, &asst.id, &f1.id).await,
        ObjectKind::AssistantFile,
        &f1.id,
    );
    assert_eq!(
        ids(&store
            .list_assistant_files(&p, &asst.id, &all_asc())
            .await
            .unwrap()),
        vec![f2.id.to_string()]
    );

    let mut want = msg.clone();
    want.file_ids = vec![f2.id.to_string()];
    assert_eq!(store.get_message(&p, &thread, &msg.id).await.unwrap(), want);
    assert_not_found(
        store.get_message_file(&p, &thread, &msg.id, &f1.id).await,
        ObjectKind::MessageFile,
        &f1.id,
    );
    assert_eq!(
        ids(&store
            .list_message_files(&p, &thread, &msg.id, &all_asc())
            .await
            .unwrap()),
        vec![f2.id.to_string()]
    );

    let mut want = run.clone();
    want.file_ids = vec![f2.id.to_string()];
    assert_eq!(store.get_run(&p, &thread, &run.id).await.unwrap(), want);

    assert_eq!(store.get_file(&p, &f2.id).await.unwrap(), f2);
}
