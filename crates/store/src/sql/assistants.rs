//! Assistants and assistant files.

use super::files::{check_attachable, dedup};
use super::vector_stores::{insert_file, insert_vector_store};
use super::{backend, d, list_scoped};
use crate::lock::RowLock;
use assistd_core::clock::now;
use assistd_core::ids::FreshId;
use assistd_core::validate::limits;
use assistd_core::vector_stores::{NewVectorStore, NewVectorStoreFile, VectorStoreOrigin};
use assistd_core::{
    AssistantStore, ListParams, ObjectKind, Page, Project, StoreError, StoreResult,
};
use assistd_wire::vector_stores::{ChunkingStrategy, ChunkingStrategyRequestParam};
use assistd_wire::{
    Assistant, AssistantFile, AssistantId, AssistantTool, CreateAssistantRequest, FileId, Metadata,
    ModifyAssistantRequest, ReasoningEffort, ResponseFormatOption, ToolResources,
    ToolResourcesRequest, VectorStoreHelper, VectorStoreId,
};
use async_trait::async_trait;
use sqlx::types::Json;
use sqlx::{Connection, FromRow, QueryBuilder};
use std::sync::LazyLock;

#[derive(FromRow)]
struct AssistantRow {
    id: AssistantId,
    created_at: i64,
    name: Option<String>,
    description: Option<String>,
    model: String,
    instructions: Option<String>,
    tools: Json<Vec<AssistantTool>>,
    file_ids: Json<Vec<String>>,
    metadata: Option<Json<Metadata>>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    response_format: Option<Json<ResponseFormatOption>>,
    vector_store_ids: Json<Vec<String>>,
    reasoning_effort: Option<String>,
}

impl From<AssistantRow> for Assistant {
    fn from(r: AssistantRow) -> Self {
        let tool_resources = ToolResources::shown(&r.tools.0, &r.file_ids.0, &r.vector_store_ids.0);
        Assistant {
            id: r.id,
            object: "assistant".to_owned(),
            created_at: r.created_at,
            name: r.name,
            description: r.description,
            model: r.model,
            instructions: r.instructions,
            tools: r.tools.0,
            file_ids: r.file_ids.0,
            tool_resources: Some(tool_resources),
            metadata: r.metadata.map(|m| m.0),
            temperature: r.temperature,
            top_p: r.top_p,
            response_format: r.response_format.map(|f| f.0),
            reasoning_effort: r
                .reasoning_effort
                .as_deref()
                .and_then(ReasoningEffort::parse),
        }
    }
}

/// Files are listed in the order the files were created, as the spec says. They are the
/// assistant's own files: v1's `file_ids`, v2's `code_interpreter` files (`docs/v2-mapping.md`).
static SELECT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT a.id, a.created_at, a.name, a.description, a.model, a.instructions, \
         a.tools, a.metadata, a.temperature, a.top_p, a.response_format, a.vector_store_ids, \
         a.reasoning_effort, \
         (SELECT {} FROM (SELECT af.file_id, f.seq FROM assistant_files af \
             JOIN files f ON f.id = af.file_id WHERE af.assistant_id = a.id ORDER BY f.seq) AS af) \
         AS file_ids FROM assistants a",
        d::json_array_agg("af.file_id", "af.seq")
    )
});

/// Keeps a v1 assistant's retrieval files in a vector store, as OpenAI's migration did, so
/// that v2 (and `file_search`) sees them as `tool_resources.file_search`: while the assistant
/// has the tool and files, its own store (`origin = 'assistant_files'`) holds exactly its
/// files; otherwise that store goes. A store attached through v2 is never changed from here.
/// Called after every v1 write of an assistant's files (`may_create`), and after a change of
/// its tools, which cannot tell a v1 client from a v2 one and so only keeps an existing v1
/// store in step.
async fn sync_v1_store(
    conn: &mut d::Conn,
    project: &Project,
    id: &AssistantId,
    may_create: bool,
) -> StoreResult<()> {
    let (tools, stores): (Json<Vec<AssistantTool>>, Json<Vec<String>>) =
        sqlx::query_as("SELECT tools, vector_store_ids FROM assistants WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *conn)
            .await
            .map_err(backend)?;
    let files: Vec<String> =
        sqlx::query_scalar("SELECT file_id FROM assistant_files WHERE assistant_id = $1")
            .bind(id)
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)?;
    let own: Option<String> = match stores.0.first() {
        Some(store) => sqlx::query_scalar(
            "SELECT id FROM vector_stores WHERE id = $1 AND project = $2 AND origin = $3",
        )
        .bind(store)
        .bind(project.as_str())
        .bind(VectorStoreOrigin::AssistantFiles.as_db())
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?,
        None => None,
    };
    if !stores.0.is_empty() && own.is_none() {
        return Ok(());
    }
    let wanted = !files.is_empty()
        && tools
            .0
            .iter()
            .any(|t| matches!(t, AssistantTool::FileSearch(_)));
    match (own, wanted) {
        (Some(store), true) => {
            let store = VectorStoreId::from(store);
            sqlx::query(
                "DELETE FROM vector_store_files WHERE vector_store_id = $1 AND file_id NOT IN \
                 (SELECT file_id FROM assistant_files WHERE assistant_id = $2)",
            )
            .bind(&store)
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
            let at = now();
            for f in files {
                insert_file(conn, project, &store, &v1_store_file(f), at).await?;
            }
        }
        (Some(store), false) => {
            sqlx::query("DELETE FROM vector_stores WHERE id = $1")
                .bind(&store)
                .execute(&mut *conn)
                .await
                .map_err(backend)?;
            set_stores(conn, id, &[]).await?;
        }
        (None, true) if may_create => {
            let store = NewVectorStore {
                name: None,
                description: None,
                expires_after: None,
                metadata: None,
                files: files.into_iter().map(v1_store_file).collect(),
                origin: VectorStoreOrigin::AssistantFiles,
            };
            let store = insert_vector_store(conn, project, &store, "file_ids").await?;
            set_stores(conn, id, &[store.into_string()]).await?;
        }
        (None, _) => {}
    }
    Ok(())
}

fn v1_store_file(file_id: String) -> NewVectorStoreFile {
    NewVectorStoreFile {
        file_id: FileId::from(file_id),
        chunking_strategy: ChunkingStrategyRequestParam::Auto.into(),
        attributes: None,
    }
}

async fn set_stores(conn: &mut d::Conn, id: &AssistantId, stores: &[String]) -> StoreResult<()> {
    sqlx::query("UPDATE assistants SET vector_store_ids = $1 WHERE id = $2")
        .bind(Json(stores))
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    Ok(())
}

/// The files and vector stores a request gives an assistant's (or a thread's) tools, in either
/// version: v1's `file_ids`, v2's `tool_resources`. `None` leaves a list as it is.
pub(crate) struct Resources<'a> {
    /// The `code_interpreter` files (v1: all of the assistant's files).
    pub files: Option<Vec<String>>,
    /// Where the files were given, for errors.
    pub files_param: &'static str,
    /// The `file_search` vector stores.
    pub stores: Option<Vec<String>>,
    /// A store to create (and use) along with the owner.
    pub new_store: Option<&'a VectorStoreHelper>,
    /// Whether v1's `file_ids` were given (a v1 write of the files).
    pub v1_files: bool,
}

impl<'a> Resources<'a> {
    pub(crate) fn of(v1_files: Option<Vec<String>>, v2: Option<&'a ToolResourcesRequest>) -> Self {
        match v2 {
            Some(r) => Self {
                files: r.code_interpreter.as_ref().map(|c| c.file_ids.clone()),
                files_param: "tool_resources.code_interpreter.file_ids",
                stores: r
                    .file_search
                    .as_ref()
                    .and_then(|f| f.vector_store_ids.clone()),
                new_store: r
                    .file_search
                    .as_ref()
                    .and_then(|f| f.vector_stores.as_deref())
                    .and_then(<[_]>::first),
                v1_files: false,
            },
            None => Self {
                v1_files: v1_files.is_some(),
                files: v1_files,
                files_param: "file_ids",
                stores: None,
                new_store: None,
            },
        }
    }

    /// The stores to attach: those named, or the one created here from the helper (validation
    /// has made sure there are not both). `None` leaves the current list.
    pub(crate) async fn stores(
        &self,
        conn: &mut d::Conn,
        project: &Project,
        prefix: &str,
    ) -> StoreResult<Option<Vec<String>>> {
        if let Some(helper) = self.new_store {
            let strategy: ChunkingStrategy = helper
                .chunking_strategy
                .unwrap_or(ChunkingStrategyRequestParam::Auto)
                .into();
            let store = NewVectorStore {
                name: None,
                description: None,
                expires_after: None,
                metadata: helper.metadata.clone(),
                files: dedup(&helper.file_ids)
                    .into_iter()
                    .map(|f| NewVectorStoreFile {
                        file_id: FileId::from(f),
                        chunking_strategy: strategy,
                        attributes: None,
                    })
                    .collect(),
                origin: VectorStoreOrigin::Api,
            };
            let param = format!("{prefix}tool_resources.file_search.vector_stores[0].file_ids");
            let id = insert_vector_store(conn, project, &store, &param).await?;
            return Ok(Some(vec![id.into_string()]));
        }
        if let Some(stores) = &self.stores {
            check_vector_stores(conn, project, stores).await?;
        }
        Ok(self.stores.clone())
    }
}

/// Fails unless every id names a vector store of the project.
async fn check_vector_stores(
    conn: &mut d::Conn,
    project: &Project,
    ids: &[String],
) -> StoreResult<()> {
    for (i, id) in ids.iter().enumerate() {
        let found: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM vector_stores WHERE id = $1 AND project = $2")
                .bind(id)
                .bind(project.as_str())
                .fetch_optional(&mut *conn)
                .await
                .map_err(backend)?;
        if found.is_none() {
            return Err(StoreError::InvalidReference {
                kind: ObjectKind::VectorStore,
                id: id.clone(),
                param: format!("tool_resources.file_search.vector_store_ids[{i}]"),
            });
        }
    }
    Ok(())
}

#[derive(FromRow)]
struct AssistantFileRow {
    file_id: String,
    created_at: i64,
    assistant_id: String,
}

impl From<AssistantFileRow> for AssistantFile {
    fn from(r: AssistantFileRow) -> Self {
        AssistantFile {
            id: r.file_id,
            object: "assistant.file".to_owned(),
            created_at: r.created_at,
            assistant_id: r.assistant_id,
        }
    }
}

async fn get(
    conn: impl sqlx::Executor<'_, Database = d::Db>,
    project: &Project,
    id: &AssistantId,
) -> StoreResult<Assistant> {
    sqlx::query_as::<_, AssistantRow>(&format!("{} WHERE a.id = $1 AND a.project = $2", *SELECT))
        .bind(id)
        .bind(project.as_str())
        .fetch_optional(conn)
        .await
        .map_err(backend)?
        .map(Into::into)
        .ok_or_else(|| StoreError::not_found(ObjectKind::Assistant, id))
}

/// Fails with a 404 unless the assistant exists in the project; with `lock`, also locks its row
/// until the transaction ends, so that reading the assistant (or counting its files) and writing
/// it back cannot interleave with another transaction doing the same.
async fn exists(
    conn: impl sqlx::Executor<'_, Database = d::Db>,
    project: &Project,
    id: &AssistantId,
    lock: bool,
) -> StoreResult<()> {
    let found: Option<i32> = sqlx::query_scalar(&format!(
        "SELECT 1 FROM assistants WHERE id = $1 AND project = $2{}",
        if lock {
            d::lock(RowLock::NoKeyUpdate)
        } else {
            ""
        }
    ))
    .bind(id)
    .bind(project.as_str())
    .fetch_optional(conn)
    .await
    .map_err(backend)?;
    found
        .map(|_| ())
        .ok_or_else(|| StoreError::not_found(ObjectKind::Assistant, id))
}

/// The tables that give an owner its own (`code_interpreter`) files.
#[derive(Debug, Clone, Copy)]
pub(crate) enum FileLinks {
    /// `assistant_files`
    Assistant,
    /// `thread_files`
    Thread,
}

impl FileLinks {
    /// The table and its owner column.
    fn table(self) -> (&'static str, &'static str) {
        match self {
            Self::Assistant => ("assistant_files", "assistant_id"),
            Self::Thread => ("thread_files", "thread_id"),
        }
    }
}

async fn attach(
    conn: &mut d::Conn,
    links: FileLinks,
    owner: &str,
    file_ids: &[String],
    created_at: i64,
) -> StoreResult<()> {
    let (table, column) = links.table();
    // One statement per file, in order: `seq` (the order of the owner's file list) follows
    // the request's order.
    for f in file_ids {
        sqlx::query(&format!(
            "INSERT INTO {table} ({column}, file_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT ({column}, file_id) DO NOTHING"
        ))
        .bind(owner)
        .bind(f)
        .bind(created_at)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    }
    Ok(())
}

/// Makes `file_ids` (checked and deduplicated) the owner's list: files left out are detached,
/// files kept keep their original attachment time.
pub(crate) async fn replace_files(
    conn: &mut d::Conn,
    links: FileLinks,
    owner: &str,
    file_ids: &[String],
) -> StoreResult<()> {
    let (table, column) = links.table();
    let mut detach = QueryBuilder::<d::Db>::new(format!("DELETE FROM {table} WHERE {column} = "));
    detach.push_bind(owner);
    if !file_ids.is_empty() {
        detach.push(" AND file_id NOT IN (");
        let mut kept = detach.separated(", ");
        for f in file_ids {
            kept.push_bind(f);
        }
        detach.push(")");
    }
    detach.build().execute(&mut *conn).await.map_err(backend)?;
    attach(conn, links, owner, file_ids, now()).await
}

async fn fetch_assistant_file(
    conn: impl sqlx::Executor<'_, Database = d::Db>,
    assistant_id: &AssistantId,
    file_id: &FileId,
) -> StoreResult<AssistantFile> {
    sqlx::query_as::<_, AssistantFileRow>(
        "SELECT file_id, created_at, assistant_id FROM assistant_files \
         WHERE assistant_id = $1 AND file_id = $2",
    )
    .bind(assistant_id)
    .bind(file_id)
    .fetch_optional(conn)
    .await
    .map_err(backend)?
    .map(Into::into)
    .ok_or_else(|| StoreError::not_found(ObjectKind::AssistantFile, file_id))
}

#[async_trait]
impl AssistantStore for d::Store {
    async fn create_assistant(
        &self,
        project: &Project,
        req: CreateAssistantRequest,
    ) -> StoreResult<Assistant> {
        let id = AssistantId::fresh();
        let created_at = now();
        let tools = req.tools.unwrap_or_default();
        let resources = Resources::of(req.file_ids, req.tool_resources.as_ref());
        let file_ids = dedup(resources.files.as_deref().unwrap_or_default());
        // The write owns what it uses: the resources' store helper is copied out of the request.
        let Resources {
            files,
            files_param,
            stores,
            new_store,
            v1_files,
        } = resources;
        let new_store = new_store.cloned();
        let project = project.clone();
        self.write(move |conn| {
            Box::pin(async move {
                let project = &project;
                let resources = Resources {
                    files,
                    files_param,
                    stores,
                    new_store: new_store.as_ref(),
                    v1_files,
                };
                let mut tx = conn.begin().await.map_err(backend)?;
                check_attachable(&mut tx, project, &file_ids, resources.files_param).await?;
                let stores = resources
                    .stores(&mut tx, project, "")
                    .await?
                    .unwrap_or_default();
                sqlx::query(
                    "INSERT INTO assistants (id, project, created_at, name, description, model, \
                     instructions, tools, metadata, temperature, top_p, response_format, \
                     vector_store_ids, reasoning_effort) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                )
                .bind(&id)
                .bind(project.as_str())
                .bind(created_at)
                .bind(&req.name)
                .bind(&req.description)
                .bind(&req.model)
                .bind(&req.instructions)
                .bind(Json(&tools))
                .bind(req.metadata.as_ref().map(Json))
                .bind(req.temperature)
                .bind(req.top_p)
                .bind(req.response_format.as_ref().map(Json))
                .bind(Json(&stores))
                .bind(req.reasoning_effort.map(ReasoningEffort::as_str))
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
                attach(
                    &mut tx,
                    FileLinks::Assistant,
                    id.as_str(),
                    &file_ids,
                    created_at,
                )
                .await?;
                if resources.v1_files {
                    sync_v1_store(&mut tx, project, &id, true).await?;
                }
                let assistant = get(&mut *tx, project, &id).await?;
                tx.commit().await.map_err(backend)?;
                Ok(assistant)
            })
        })
        .await
    }

    async fn get_assistant(&self, project: &Project, id: &AssistantId) -> StoreResult<Assistant> {
        get(self.reader(), project, id).await
    }

    async fn modify_assistant(
        &self,
        project: &Project,
        id: &AssistantId,
        req: ModifyAssistantRequest,
    ) -> StoreResult<Assistant> {
        let (project, id) = (project.clone(), id.clone());
        self.write(move |conn| {
            Box::pin(async move {
                let (project, id) = (&project, &id);
                let mut tx = conn.begin().await.map_err(backend)?;
                exists(&mut *tx, project, id, true).await?;
                let cur = get(&mut *tx, project, id).await?;
                let tools_changed = req.tools.is_some();
                let tools = req.tools.unwrap_or(cur.tools);
                let resources = Resources::of(req.file_ids, req.tool_resources.as_ref());
                let stores = match resources.stores(&mut tx, project, "").await? {
                    Some(stores) => stores,
                    None => cur
                        .tool_resources
                        .and_then(|r| r.file_search)
                        .map(|f| f.vector_store_ids)
                        .unwrap_or_default(),
                };
                sqlx::query(
                    "UPDATE assistants SET name = $1, description = $2, model = $3, \
                     instructions = $4, tools = $5, metadata = $6, temperature = $7, top_p = $8, \
                     response_format = $9, vector_store_ids = $10, reasoning_effort = $11 \
                     WHERE id = $12",
                )
                .bind(req.name.unwrap_or(cur.name))
                .bind(req.description.unwrap_or(cur.description))
                .bind(req.model.unwrap_or(cur.model))
                .bind(req.instructions.unwrap_or(cur.instructions))
                .bind(Json(&tools))
                .bind(req.metadata.unwrap_or(cur.metadata).map(Json))
                .bind(req.temperature.unwrap_or(cur.temperature))
                .bind(req.top_p.unwrap_or(cur.top_p))
                .bind(req.response_format.unwrap_or(cur.response_format).map(Json))
                .bind(Json(&stores))
                .bind(
                    req.reasoning_effort
                        .unwrap_or(cur.reasoning_effort)
                        .map(ReasoningEffort::as_str),
                )
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
                if let Some(file_ids) = &resources.files {
                    let file_ids = dedup(file_ids);
                    check_attachable(&mut tx, project, &file_ids, resources.files_param).await?;
                    replace_files(&mut tx, FileLinks::Assistant, id.as_str(), &file_ids).await?;
                }
                if resources.v1_files || tools_changed {
                    sync_v1_store(&mut tx, project, id, resources.v1_files).await?;
                }
                let assistant = get(&mut *tx, project, id).await?;
                tx.commit().await.map_err(backend)?;
                Ok(assistant)
            })
        })
        .await
    }

    async fn list_assistants(
        &self,
        project: &Project,
        params: &ListParams,
    ) -> StoreResult<Page<Assistant>> {
        list_scoped(
            self.reader(),
            "SELECT seq FROM assistants WHERE id = $1 AND project = $2",
            &format!("{} WHERE a.project = ", *SELECT),
            "a.seq",
            project.as_str(),
            params,
            |r: AssistantRow| Ok(r.into()),
        )
        .await
    }

    async fn delete_assistant(&self, project: &Project, id: &AssistantId) -> StoreResult<()> {
        let (project, id) = (project.clone(), id.clone());
        self.write(move |conn| {
            Box::pin(async move {
                let kind = ObjectKind::Assistant;
                super::delete_owned(conn, "assistants", kind, id.as_str(), &project).await
            })
        })
        .await
    }

    async fn create_assistant_file(
        &self,
        project: &Project,
        assistant_id: &AssistantId,
        file_id: &FileId,
    ) -> StoreResult<AssistantFile> {
        let (project, assistant_id, file_id) =
            (project.clone(), assistant_id.clone(), file_id.clone());
        self.write(move |conn| {
            Box::pin(async move {
                let (project, assistant_id, file_id) = (&project, &assistant_id, &file_id);
                let mut tx = conn.begin().await.map_err(backend)?;
                // Locked, so that two concurrent attachments cannot both pass the limit check.
                exists(&mut *tx, project, assistant_id, true).await?;
                check_attachable(&mut tx, project, &[file_id.to_string()], "file_id")
                    .await
                    .map_err(|e| match e {
                        StoreError::InvalidReference { kind, id, .. } => {
                            StoreError::InvalidReference {
                                kind,
                                id,
                                param: "file_id".to_owned(),
                            }
                        }
                        StoreError::Invalid { message, .. } => StoreError::Invalid {
                            message: message.replace("'file_id[0]'", "'file_id'"),
                            param: Some("file_id".to_owned()),
                        },
                        other => other,
                    })?;
                let attached: Vec<String> = sqlx::query_scalar(
                    "SELECT file_id FROM assistant_files WHERE assistant_id = $1",
                )
                .bind(assistant_id)
                .fetch_all(&mut *tx)
                .await
                .map_err(backend)?;
                if !attached.iter().any(|f| f == file_id.as_str()) {
                    if attached.len() >= limits::ASSISTANT_FILES {
                        return Err(StoreError::invalid(
                            format!(
                                "Assistant '{assistant_id}' already has the maximum of {} \
                                 files attached.",
                                limits::ASSISTANT_FILES
                            ),
                            Some("file_id"),
                        ));
                    }
                    attach(
                        &mut tx,
                        FileLinks::Assistant,
                        assistant_id.as_str(),
                        &[file_id.to_string()],
                        now(),
                    )
                    .await?;
                    sync_v1_store(&mut tx, project, assistant_id, true).await?;
                }
                let row = fetch_assistant_file(&mut *tx, assistant_id, file_id).await?;
                tx.commit().await.map_err(backend)?;
                Ok(row)
            })
        })
        .await
    }

    async fn get_assistant_file(
        &self,
        project: &Project,
        assistant_id: &AssistantId,
        file_id: &FileId,
    ) -> StoreResult<AssistantFile> {
        exists(self.reader(), project, assistant_id, false).await?;
        fetch_assistant_file(self.reader(), assistant_id, file_id).await
    }

    async fn list_assistant_files(
        &self,
        project: &Project,
        assistant_id: &AssistantId,
        params: &ListParams,
    ) -> StoreResult<Page<AssistantFile>> {
        exists(self.reader(), project, assistant_id, false).await?;
        list_scoped(
            self.reader(),
            "SELECT seq FROM assistant_files WHERE file_id = $1 AND assistant_id = $2",
            "SELECT file_id, created_at, assistant_id FROM assistant_files WHERE assistant_id = ",
            "seq",
            assistant_id.as_str(),
            params,
            |r: AssistantFileRow| Ok(r.into()),
        )
        .await
    }

    async fn delete_assistant_file(
        &self,
        project: &Project,
        assistant_id: &AssistantId,
        file_id: &FileId,
    ) -> StoreResult<()> {
        let (project, assistant_id, file_id) =
            (project.clone(), assistant_id.clone(), file_id.clone());
        self.write(move |conn| {
            Box::pin(async move {
                let (project, assistant_id, file_id) = (&project, &assistant_id, &file_id);
                let mut tx = conn.begin().await.map_err(backend)?;
                exists(&mut *tx, project, assistant_id, false).await?;
                let deleted = sqlx::query(
                    "DELETE FROM assistant_files WHERE assistant_id = $1 AND file_id = $2",
                )
                .bind(assistant_id)
                .bind(file_id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?
                .rows_affected();
                if deleted == 0 {
                    return Err(StoreError::not_found(ObjectKind::AssistantFile, file_id));
                }
                sync_v1_store(&mut tx, project, assistant_id, true).await?;
                tx.commit().await.map_err(backend)
            })
        })
        .await
    }
}
