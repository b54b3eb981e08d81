//! Assistants: every field round-tripped, modification semantics, attached files and their
//! limit, and what deleting an assistant leaves in place.

use super::{
    all_asc, assert_empty, assert_invalid, assert_invalid_reference, assert_not_found,
    assert_recent, assistant_req, call, function_tool, ids, md, new_assistant, new_run, project_a,
    require_tool_outputs, unix_now, upload, user_msg,
};
use assistd_core::{ListParams, ObjectKind, Store};
use assistd_wire::{
    AssistantId, AssistantTool, AssistantsApiResponseFormat, CreateAssistantRequest,
    CreateThreadRequest, FileId, ModifyAssistantRequest, ResponseFormatMode, ResponseFormatOption,
    ResponseFormatType, ToolResources,
};
use std::sync::Arc;

#[doc(hidden)]
#[macro_export]
macro_rules! __store_contract_assistants {
    ($factory:ident, $module:ident) => {
        $crate::store_contract_tests!(@cases $factory, $module;
            assistant_crud,
            assistant_create_checks_files,
            assistant_modify_semantics,
            assistant_files,
            assistant_file_limit,
            assistant_delete_keeps_threads_and_runs,
        );
    };
}
#[doc(hidden)]
pub use crate::__store_contract_assistants as cases;

/// Create, get, list and delete an assistant, with every field round-tripped.
pub async fn assistant_crud(store: Arc<dyn Store>) {
    let p = project_a();
    let f1 = upload(&store, &p, "assistants").await;
    let t0 = unix_now();
    let tools = vec![
        AssistantTool::CodeInterpreter,
        AssistantTool::FileSearch(None),
        function_tool("get_weather"),
    ];
    let full = store
        .create_assistant(
            &p,
            CreateAssistantRequest {
                tool_resources: None,
                reasoning_effort: None,
                model: "gpt-4-turbo".to_owned(),
                name: Some("Math tutor".to_owned()),
                description: Some("Helps with math.".to_owned()),
                instructions: Some("You are a personal math tutor.".to_owned()),
                tools: Some(tools.clone()),
                file_ids: Some(vec![f1.id.to_string()]),
                metadata: Some(md(&[("team", "math"), ("tier", "gold")])),
                temperature: Some(0.7),
                top_p: Some(0.9),
                response_format: Some(ResponseFormatOption::Format(AssistantsApiResponseFormat {
                    type_: ResponseFormatType::JsonObject,
                })),
            },
        )
        .await
        .expect("create full assistant");
    assert!(full.id.as_str().starts_with("asst_"), "id {}", full.id);
    assert_eq!(full.object, "assistant");
    assert_recent(full.created_at, t0, "assistant.created_at");
    assert_eq!(full.model, "gpt-4-turbo");
    assert_eq!(full.name.as_deref(), Some("Math tutor"));
    assert_eq!(full.description.as_deref(), Some("Helps with math."));
    assert_eq!(
        full.instructions.as_deref(),
        Some("You are a personal math tutor.")
    );
    assert_eq!(full.tools, tools);
    assert_eq!(full.file_ids, vec![f1.id.to_string()]);
    assert_eq!(
        full.metadata,
        Some(md(&[("team", "math"), ("tier", "gold")]))
    );
    assert_eq!(full.temperature, Some(0.7));
    assert_eq!(full.top_p, Some(0.9));
    assert_eq!(
        full.response_format,
        Some(ResponseFormatOption::Format(AssistantsApiResponseFormat {
            type_: ResponseFormatType::JsonObject
        }))
    );
    assert_eq!(store.get_assistant(&p, &full.id).await.unwrap(), full);

    let bare = store
        .create_assistant(&p, assistant_req("gpt-3.5-turbo"))
        .await
        .expect("create bare assistant");
    assert_ne!(bare.id, full.id);
    assert_eq!(bare.model, "gpt-3.5-turbo");
    assert_eq!(bare.name, None);
    assert_eq!(bare.description, None);
    assert_eq!(bare.instructions, None);
    assert!(bare.tools.is_empty());
    assert!(bare.file_ids.is_empty());
    assert_eq!(bare.metadata, None);
    assert_eq!(bare.temperature, None);
    assert_eq!(bare.top_p, None);
    assert_eq!(bare.response_format, None);
    assert_eq!(store.get_assistant(&p, &bare.id).await.unwrap(), bare);

    let page = store
        .list_assistants(&p, &ListParams::default())
        .await
        .unwrap();
    assert_eq!(
        page.data,
        vec![bare.clone(), full.clone()],
        "desc by default"
    );
    assert!(!page.has_more);
    let page = store.list_assistants(&p, &all_asc()).await.unwrap();
    assert_eq!(page.data, vec![full.clone(), bare.clone()]);

    store.delete_assistant(&p, &full.id).await.expect("delete");
    assert_not_found(
        store.get_assistant(&p, &full.id).await,
        ObjectKind::Assistant,
        &full.id,
    );
    assert_not_found(
        store.delete_assistant(&p, &full.id).await,
        ObjectKind::Assistant,
        &full.id,
    );
    assert_not_found(
        store
            .modify_assistant(&p, &full.id, ModifyAssistantRequest::default())
            .await,
        ObjectKind::Assistant,
        &full.id,
    );
    let page = store.list_assistants(&p, &all_asc()).await.unwrap();
    assert_eq!(page.data, vec![bare.clone()]);
    // The file stays; only the attachment went.
    assert_eq!(store.get_file(&p, &f1.id).await.unwrap(), f1);
    assert_not_found(
        store
            .get_assistant(&p, &AssistantId::from("asst_doesnotexist"))
            .await,
        ObjectKind::Assistant,
        "asst_doesnotexist",
    );
}

/// `create_assistant` checks its `file_ids` and creates nothing when they are bad.
pub async fn assistant_create_checks_files(store: Arc<dyn Store>) {
    let p = project_a();
    let ok = upload(&store, &p, "assistants").await;
    let tune = upload(&store, &p, "fine-tune").await;
    let mut req = assistant_req("gpt-4-turbo");
    req.file_ids = Some(vec![ok.id.to_string(), "file-missing".to_owned()]);
    let param = assert_invalid_reference(
        store.create_assistant(&p, req).await,
        ObjectKind::File,
        "file-missing",
    );
    assert!(param.starts_with("file_ids"), "param {param}");
    let mut req = assistant_req("gpt-4-turbo");
    req.file_ids = Some(vec![tune.id.to_string()]);
    let param = assert_invalid(store.create_assistant(&p, req).await);
    assert!(
        param.as_deref().is_some_and(|p| p.starts_with("file_ids")),
        "param {param:?}"
    );
    assert_empty(
        store.list_assistants(&p, &all_asc()).await,
        "no assistant after failed creates",
    );
}

/// `modify_assistant`: absent fields stay, `Some(None)` clears, `file_ids` replaces the set,
/// and a failed modification changes nothing.
pub async fn assistant_modify_semantics(store: Arc<dyn Store>) {
    let p = project_a();
    let f1 = upload(&store, &p, "assistants").await;
    let f2 = upload(&store, &p, "assistants").await;
    let f3 = upload(&store, &p, "assistants").await;
    let tune = upload(&store, &p, "fine-tune").await;
    let orig = store
        .create_assistant(
            &p,
            CreateAssistantRequest {
                tool_resources: None,
                reasoning_effort: None,
                model: "gpt-4-turbo".to_owned(),
                name: Some("Name".to_owned()),
                description: Some("Description".to_owned()),
                instructions: Some("Instructions".to_owned()),
                tools: Some(vec![AssistantTool::FileSearch(None)]),
                file_ids: Some(vec![f1.id.to_string(), f2.id.to_string()]),
                metadata: Some(md(&[("a", "1")])),
                temperature: Some(1.5),
                top_p: Some(0.5),
                response_format: Some(ResponseFormatOption::Mode(ResponseFormatMode::Auto)),
            },
        )
        .await
        .unwrap();
    assert_eq!(orig.file_ids, vec![f1.id.to_string(), f2.id.to_string()]);
    let f1_link = store
        .get_assistant_file(&p, &orig.id, &f1.id)
        .await
        .unwrap();

    // Nothing given: nothing changes.
    let same = store
        .modify_assistant(&p, &orig.id, ModifyAssistantRequest::default())
        .await
        .unwrap();
    assert_eq!(same, orig);

    // Clear name, set model, leave the rest.
    let m = store
        .modify_assistant(
            &p,
            &orig.id,
            ModifyAssistantRequest {
                name: Some(None),
                model: Some("gpt-4".to_owned()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut want = orig.clone();
    want.name = None;
    "gpt-4".clone_into(&mut want.model);
    assert_eq!(m, want);
    assert_eq!(store.get_assistant(&p, &orig.id).await.unwrap(), want);

    // Replace or clear everything else that is nullable.
    let m = store
        .modify_assistant(
            &p,
            &orig.id,
            ModifyAssistantRequest {
                description: Some(None),
                instructions: Some(Some("New instructions".to_owned())),
                tools: Some(vec![function_tool("lookup")]),
                metadata: Some(Some(md(&[("b", "2")]))),
                temperature: Some(None),
                top_p: Some(Some(0.25)),
                response_format: Some(None),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    want.description = None;
    want.instructions = Some("New instructions".to_owned());
    want.tools = vec![function_tool("lookup")];
    want.metadata = Some(md(&[("b", "2")]));
    want.temperature = None;
    want.top_p = Some(0.25);
    want.response_format = None;
    want.tool_resources = Some(ToolResources::shown(&want.tools, &want.file_ids, &[]));
    assert_eq!(m, want);
    assert_eq!(store.get_assistant(&p, &orig.id).await.unwrap(), want);

    let m = store
        .modify_assistant(
            &p,
            &orig.id,
            ModifyAssistantRequest {
                metadata: Some(None),
                instructions: Some(None),
                tools: Some(Vec::new()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    want.metadata = None;
    want.instructions = None;
    want.tools = Vec::new();
    assert_eq!(m, want);

    // file_ids replaces the set: f2 is detached, f3 attached, f1 kept as it was.
    let m = store
        .modify_assistant(
            &p,
            &orig.id,
            ModifyAssistantRequest {
                file_ids: Some(vec![f3.id.to_string(), f1.id.to_string()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    want.file_ids = vec![f1.id.to_string(), f3.id.to_string()];
    want.tool_resources = Some(ToolResources::shown(&want.tools, &want.file_ids, &[]));
    assert_eq!(m, want, "file_ids ascending by file creation");
    assert_eq!(store.get_assistant(&p, &orig.id).await.unwrap(), want);
    assert_not_found(
        store.get_assistant_file(&p, &orig.id, &f2.id).await,
        ObjectKind::AssistantFile,
        &f2.id,
    );
    assert_eq!(
        store
            .get_assistant_file(&p, &orig.id, &f1.id)
            .await
            .unwrap(),
        f1_link
    );
    let links = store
        .list_assistant_files(&p, &orig.id, &all_asc())
        .await
        .unwrap();
    let mut linked = ids(&links);
    linked.sort();
    let mut want_linked = vec![f1.id.to_string(), f3.id.to_string()];
    want_linked.sort();
    assert_eq!(linked, want_linked);
    // The detached file itself stays.
    assert_eq!(store.get_file(&p, &f2.id).await.unwrap(), f2);

    // A failed modification (bad file) changes nothing, not even the fields that were valid.
    let r = store
        .modify_assistant(
            &p,
            &orig.id,
            ModifyAssistantRequest {
                name: Some(Some("Should not stick".to_owned())),
                file_ids: Some(vec![f2.id.to_string(), "file-missing".to_owned()]),
                ..Default::default()
            },
        )
        .await;
    let param = assert_invalid_reference(r, ObjectKind::File, "file-missing");
    assert!(param.starts_with("file_ids"), "param {param}");
    let r = store
        .modify_assistant(
            &p,
            &orig.id,
            ModifyAssistantRequest {
                name: Some(Some("Should not stick".to_owned())),
                file_ids: Some(vec![tune.id.to_string()]),
                ..Default::default()
            },
        )
        .await;
    assert_invalid(r);
    assert_eq!(store.get_assistant(&p, &orig.id).await.unwrap(), want);
    assert!(
        store
            .get_assistant_file(&p, &orig.id, &f2.id)
            .await
            .is_err()
    );

    // An empty list detaches everything.
    let m = store
        .modify_assistant(
            &p,
            &orig.id,
            ModifyAssistantRequest {
                file_ids: Some(Vec::new()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(m.file_ids.is_empty());
    assert_empty(
        store.list_assistant_files(&p, &orig.id, &all_asc()).await,
        "assistant files after file_ids: []",
    );
}

/// Attach (idempotent), get, list, detach, and the errors around them.
pub async fn assistant_files(store: Arc<dyn Store>) {
    let p = project_a();
    let asst = new_assistant(&store, &p).await;
    let f1 = upload(&store, &p, "assistants").await;
    let f2 = upload(&store, &p, "assistants").await;
    let tune = upload(&store, &p, "fine-tune").await;

    let t0 = unix_now();
    let a1 = store
        .create_assistant_file(&p, &asst, &f1.id)
        .await
        .unwrap();
    assert_eq!(a1.id, f1.id.as_str());
    assert_eq!(a1.object, "assistant.file");
    assert_eq!(a1.assistant_id, asst.as_str());
    assert_recent(a1.created_at, t0, "assistant_file.created_at");
    let again = store
        .create_assistant_file(&p, &asst, &f1.id)
        .await
        .expect("attaching twice is idempotent");
    assert_eq!(again, a1);
    assert_eq!(
        ids(&store
            .list_assistant_files(&p, &asst, &all_asc())
            .await
            .unwrap()),
        vec![f1.id.to_string()],
        "idempotent attach does not duplicate"
    );
    assert_eq!(
        store.get_assistant_file(&p, &asst, &f1.id).await.unwrap(),
        a1
    );

    let a2 = store
        .create_assistant_file(&p, &asst, &f2.id)
        .await
        .unwrap();
    let asc = store
        .list_assistant_files(&p, &asst, &all_asc())
        .await
        .unwrap();
    assert_eq!(asc.data, vec![a1.clone(), a2.clone()]);
    assert!(!asc.has_more);
    let desc = store
        .list_assistant_files(&p, &asst, &ListParams::default())
        .await
        .unwrap();
    assert_eq!(desc.data, vec![a2.clone(), a1.clone()]);
    assert_eq!(
        store.get_assistant(&p, &asst).await.unwrap().file_ids,
        vec![f1.id.to_string(), f2.id.to_string()]
    );

    // Detach.
    store
        .delete_assistant_file(&p, &asst, &f1.id)
        .await
        .unwrap();
    assert_not_found(
        store.get_assistant_file(&p, &asst, &f1.id).await,
        ObjectKind::AssistantFile,
        &f1.id,
    );
    assert_not_found(
        store.delete_assistant_file(&p, &asst, &f1.id).await,
        ObjectKind::AssistantFile,
        &f1.id,
    );
    assert_eq!(
        store.get_assistant(&p, &asst).await.unwrap().file_ids,
        vec![f2.id.to_string()]
    );
    assert_eq!(
        store
            .list_assistant_files(&p, &asst, &all_asc())
            .await
            .unwrap()
            .data,
        vec![a2.clone()]
    );
    assert_eq!(store.get_file(&p, &f1.id).await.unwrap(), f1, "file stays");

    // 404s on the path.
    let ghost = &AssistantId::from("asst_doesnotexist");
    assert_not_found(
        store.create_assistant_file(&p, ghost, &f1.id).await,
        ObjectKind::Assistant,
        ghost,
    );
    assert_not_found(
        store.get_assistant_file(&p, ghost, &f2.id).await,
        ObjectKind::Assistant,
        ghost,
    );
    assert_not_found(
        store.list_assistant_files(&p, ghost, &all_asc()).await,
        ObjectKind::Assistant,
        ghost,
    );
    assert_not_found(
        store.delete_assistant_file(&p, ghost, &f2.id).await,
        ObjectKind::Assistant,
        ghost,
    );
    assert_not_found(
        store
            .get_assistant_file(&p, &asst, &FileId::from("file-notattached"))
            .await,
        ObjectKind::AssistantFile,
        "file-notattached",
    );

    // Bad references.
    let param = assert_invalid_reference(
        store
            .create_assistant_file(&p, &asst, &FileId::from("file-missing"))
            .await,
        ObjectKind::File,
        "file-missing",
    );
    assert_eq!(param, "file_id");
    let param = assert_invalid(store.create_assistant_file(&p, &asst, &tune.id).await);
    assert_eq!(param.as_deref(), Some("file_id"));
    assert_eq!(
        store
            .list_assistant_files(&p, &asst, &all_asc())
            .await
            .unwrap()
            .data,
        vec![a2]
    );
}

/// At most 20 files per assistant: the 21st attachment is refused, re-attaching is still fine.
pub async fn assistant_file_limit(store: Arc<dyn Store>) {
    let p = project_a();
    let mut files = Vec::new();
    for _ in 0..21 {
        files.push(upload(&store, &p, "assistants").await.id);
    }
    let mut req = assistant_req("gpt-4-turbo");
    let names: Vec<String> = files.iter().map(String::from).collect();
    req.file_ids = Some(names[..20].to_vec());
    let asst = store.create_assistant(&p, req).await.unwrap();
    assert_eq!(asst.file_ids, names[..20]);
    assert_invalid(store.create_assistant_file(&p, &asst.id, &files[20]).await);
    store
        .create_assistant_file(&p, &asst.id, &files[3])
        .await
        .expect("re-attaching at the limit is idempotent");
    assert_eq!(
        store.get_assistant(&p, &asst.id).await.unwrap().file_ids,
        names[..20]
    );
    assert_not_found(
        store.get_assistant_file(&p, &asst.id, &files[20]).await,
        ObjectKind::AssistantFile,
        &files[20],
    );
    // After a detach there is room again.
    store
        .delete_assistant_file(&p, &asst.id, &files[0])
        .await
        .unwrap();
    store
        .create_assistant_file(&p, &asst.id, &files[20])
        .await
        .expect("room after a detach");
    assert_eq!(
        store.get_assistant(&p, &asst.id).await.unwrap().file_ids,
        names[1..]
    );
}

/// Deleting an assistant leaves the threads, messages, runs and steps that used it.
pub async fn assistant_delete_keeps_threads_and_runs(store: Arc<dyn Store>) {
    let p = project_a();
    let f1 = upload(&store, &p, "assistants").await;
    let mut req = assistant_req("gpt-4-turbo");
    req.file_ids = Some(vec![f1.id.to_string()]);
    let asst = store.create_assistant(&p, req).await.unwrap();
    let (thread, run) = store
        .create_thread_and_run(
            &p,
            CreateThreadRequest {
                tool_resources: None,
                messages: Some(vec![user_msg("hello")]),
                metadata: None,
            },
            new_run(&asst.id),
        )
        .await
        .unwrap();
    let (run, step) = require_tool_outputs(&store, &p, &run.id, vec![call("f", "{}")]).await;
    let msgs = store
        .list_messages(&p, &thread.id, &all_asc(), None)
        .await
        .unwrap();

    store.delete_assistant(&p, &asst.id).await.unwrap();
    assert_not_found(
        store.get_assistant(&p, &asst.id).await,
        ObjectKind::Assistant,
        &asst.id,
    );
    assert_not_found(
        store.list_assistant_files(&p, &asst.id, &all_asc()).await,
        ObjectKind::Assistant,
        &asst.id,
    );
    assert_eq!(store.get_thread(&p, &thread.id).await.unwrap(), thread);
    assert_eq!(
        store.get_run(&p, &thread.id, &run.id).await.unwrap(),
        run,
        "run intact, still naming the assistant"
    );
    assert_eq!(
        store
            .get_run_step(&p, &thread.id, &run.id, &step.id)
            .await
            .unwrap(),
        step
    );
    assert_eq!(
        store
            .list_messages(&p, &thread.id, &all_asc(), None)
            .await
            .unwrap(),
        msgs
    );
    assert_eq!(store.get_file(&p, &f1.id).await.unwrap(), f1);
}
