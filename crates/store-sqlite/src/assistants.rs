//! Assistants and assistant files.

use crate::files::{check_attachable, dedup};
use crate::json::{dec, dec_opt, enc, enc_opt};
use crate::{SqliteStore, backend, empty, fetch_page, now, resolve_cursors};
use assistd_core::ids::{IdKind, new_id};
use assistd_core::validate::limits;
use assistd_core::{
    AssistantStore, ListParams, ObjectKind, Page, Project, StoreError, StoreResult,
};
use assistd_wire::{Assistant, AssistantFile, CreateAssistantRequest, ModifyAssistantRequest};
use async_trait::async_trait;
use sqlx::{FromRow, QueryBuilder, Sqlite, SqliteConnection};

#[derive(FromRow)]
struct AssistantRow {
    id: String,
    created_at: i64,
    name: Option<String>,
    description: Option<String>,
    model: String,
    instructions: Option<String>,
    tools: String,
    file_ids: String,
    metadata: Option<String>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    response_format: Option<String>,
}

impl AssistantRow {
    fn into_wire(self) -> StoreResult<Assistant> {
        Ok(Assistant {
            id: self.id,
            object: "assistant".to_owned(),
            created_at: self.created_at,
            name: self.name,
            description: self.description,
            model: self.model,
            instructions: self.instructions,
            tools: dec(&self.tools)?,
            file_ids: dec(&self.file_ids)?,
            metadata: dec_opt(self.metadata.as_deref())?,
            temperature: self.temperature,
            top_p: self.top_p,
            response_format: dec_opt(self.response_format.as_deref())?,
        })
    }
}

/// Files are listed in the order the files were created, as the spec says.
const SELECT: &str = "SELECT a.id, a.created_at, a.name, a.description, a.model, a.instructions, \
    a.tools, a.metadata, a.temperature, a.top_p, a.response_format, \
    (SELECT json_group_array(file_id) FROM (SELECT af.file_id FROM assistant_files af \
        JOIN files f ON f.id = af.file_id WHERE af.assistant_id = a.id ORDER BY f.seq)) AS file_ids \
    FROM assistants a";

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

async fn get(conn: &mut SqliteConnection, project: &Project, id: &str) -> StoreResult<Assistant> {
    sqlx::query_as::<_, AssistantRow>(&format!("{SELECT} WHERE a.id = ? AND a.project = ?"))
        .bind(id)
        .bind(project.as_str())
        .fetch_optional(conn)
        .await
        .map_err(backend)?
        .ok_or_else(|| StoreError::not_found(ObjectKind::Assistant, id))?
        .into_wire()
}

async fn exists(conn: &mut SqliteConnection, project: &Project, id: &str) -> StoreResult<()> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM assistants WHERE id = ? AND project = ?")
            .bind(id)
            .bind(project.as_str())
            .fetch_optional(conn)
            .await
            .map_err(backend)?;
    found
        .map(|_| ())
        .ok_or_else(|| StoreError::not_found(ObjectKind::Assistant, id))
}

async fn attach(
    conn: &mut SqliteConnection,
    assistant_id: &str,
    file_ids: &[String],
    created_at: i64,
) -> StoreResult<()> {
    for f in file_ids {
        sqlx::query(
            "INSERT INTO assistant_files (assistant_id, file_id, created_at) VALUES (?, ?, ?) \
             ON CONFLICT (assistant_id, file_id) DO NOTHING",
        )
        .bind(assistant_id)
        .bind(f)
        .bind(created_at)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    }
    Ok(())
}

#[async_trait]
impl AssistantStore for SqliteStore {
    async fn create_assistant(
        &self,
        project: &Project,
        req: CreateAssistantRequest,
    ) -> StoreResult<Assistant> {
        let id = new_id(IdKind::Assistant);
        let created_at = now();
        let tools = req.tools.unwrap_or_default();
        let file_ids = dedup(&req.file_ids.unwrap_or_default());
        let mut tx = self.writer.begin().await.map_err(backend)?;
        check_attachable(&mut tx, project, &file_ids, "file_ids").await?;
        sqlx::query(
            "INSERT INTO assistants (id, project, created_at, name, description, model, \
             instructions, tools, metadata, temperature, top_p, response_format) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(project.as_str())
        .bind(created_at)
        .bind(&req.name)
        .bind(&req.description)
        .bind(&req.model)
        .bind(&req.instructions)
        .bind(enc(&tools)?)
        .bind(enc_opt(req.metadata.as_ref())?)
        .bind(req.temperature)
        .bind(req.top_p)
        .bind(enc_opt(req.response_format.as_ref())?)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        attach(&mut tx, &id, &file_ids, created_at).await?;
        let assistant = get(&mut tx, project, &id).await?;
        tx.commit().await.map_err(backend)?;
        Ok(assistant)
    }

    async fn get_assistant(&self, project: &Project, id: &str) -> StoreResult<Assistant> {
        let mut conn = self.reader.acquire().await.map_err(backend)?;
        get(&mut conn, project, id).await
    }

    async fn modify_assistant(
        &self,
        project: &Project,
        id: &str,
        req: ModifyAssistantRequest,
    ) -> StoreResult<Assistant> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let cur = get(&mut tx, project, id).await?;
        let tools = req.tools.unwrap_or(cur.tools);
        sqlx::query(
            "UPDATE assistants SET name = ?, description = ?, model = ?, instructions = ?, \
             tools = ?, metadata = ?, temperature = ?, top_p = ?, response_format = ? \
             WHERE id = ?",
        )
        .bind(req.name.unwrap_or(cur.name))
        .bind(req.description.unwrap_or(cur.description))
        .bind(req.model.unwrap_or(cur.model))
        .bind(req.instructions.unwrap_or(cur.instructions))
        .bind(enc(&tools)?)
        .bind(enc_opt(req.metadata.unwrap_or(cur.metadata).as_ref())?)
        .bind(req.temperature.unwrap_or(cur.temperature))
        .bind(req.top_p.unwrap_or(cur.top_p))
        .bind(enc_opt(
            req.response_format.unwrap_or(cur.response_format).as_ref(),
        )?)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if let Some(file_ids) = req.file_ids {
            let file_ids = dedup(&file_ids);
            check_attachable(&mut tx, project, &file_ids, "file_ids").await?;
            // The list replaces the attachments: files left out are detached, files kept keep
            // their original attachment time.
            let mut del =
                QueryBuilder::<Sqlite>::new("DELETE FROM assistant_files WHERE assistant_id = ");
            del.push_bind(id);
            if !file_ids.is_empty() {
                del.push(" AND file_id NOT IN (");
                let mut sep = del.separated(", ");
                for f in &file_ids {
                    sep.push_bind(f);
                }
                del.push(")");
            }
            del.build().execute(&mut *tx).await.map_err(backend)?;
            attach(&mut tx, id, &file_ids, now()).await?;
        }
        let assistant = get(&mut tx, project, id).await?;
        tx.commit().await.map_err(backend)?;
        Ok(assistant)
    }

    async fn list_assistants(
        &self,
        project: &Project,
        params: &ListParams,
    ) -> StoreResult<Page<Assistant>> {
        let cursors = resolve_cursors(params, |id| async move {
            sqlx::query_scalar("SELECT seq FROM assistants WHERE id = ? AND project = ?")
                .bind(id)
                .bind(project.as_str())
                .fetch_optional(&self.reader)
                .await
                .map_err(backend)
        })
        .await?;
        let Ok((after, before)) = cursors else {
            return Ok(empty());
        };
        let mut qb = QueryBuilder::<Sqlite>::new(SELECT);
        qb.push(" WHERE a.project = ").push_bind(project.as_str());
        fetch_page(
            &self.reader,
            qb,
            "a.seq",
            params,
            after,
            before,
            AssistantRow::into_wire,
        )
        .await
    }

    async fn delete_assistant(&self, project: &Project, id: &str) -> StoreResult<()> {
        let deleted = sqlx::query("DELETE FROM assistants WHERE id = ? AND project = ?")
            .bind(id)
            .bind(project.as_str())
            .execute(&self.writer)
            .await
            .map_err(backend)?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::not_found(ObjectKind::Assistant, id));
        }
        Ok(())
    }

    async fn create_assistant_file(
        &self,
        project: &Project,
        assistant_id: &str,
        file_id: &str,
    ) -> StoreResult<AssistantFile> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        exists(&mut tx, project, assistant_id).await?;
        check_attachable(&mut tx, project, &[file_id.to_owned()], "file_id")
            .await
            .map_err(|e| match e {
                StoreError::InvalidReference { kind, id, .. } => StoreError::InvalidReference {
                    kind,
                    id,
                    param: "file_id".to_owned(),
                },
                StoreError::Invalid { message, .. } => StoreError::Invalid {
                    message: message.replace("'file_id[0]'", "'file_id'"),
                    param: Some("file_id".to_owned()),
                },
                other => other,
            })?;
        let attached: Vec<String> =
            sqlx::query_scalar("SELECT file_id FROM assistant_files WHERE assistant_id = ?")
                .bind(assistant_id)
                .fetch_all(&mut *tx)
                .await
                .map_err(backend)?;
        if !attached.iter().any(|f| f == file_id) {
            if attached.len() >= limits::ASSISTANT_FILES {
                return Err(StoreError::invalid(
                    format!(
                        "Assistant '{assistant_id}' already has the maximum of {} files attached.",
                        limits::ASSISTANT_FILES
                    ),
                    Some("file_id"),
                ));
            }
            attach(&mut tx, assistant_id, &[file_id.to_owned()], now()).await?;
        }
        let row = fetch_assistant_file(&mut tx, assistant_id, file_id).await?;
        tx.commit().await.map_err(backend)?;
        Ok(row)
    }

    async fn get_assistant_file(
        &self,
        project: &Project,
        assistant_id: &str,
        file_id: &str,
    ) -> StoreResult<AssistantFile> {
        let mut conn = self.reader.acquire().await.map_err(backend)?;
        exists(&mut conn, project, assistant_id).await?;
        fetch_assistant_file(&mut conn, assistant_id, file_id).await
    }

    async fn list_assistant_files(
        &self,
        project: &Project,
        assistant_id: &str,
        params: &ListParams,
    ) -> StoreResult<Page<AssistantFile>> {
        {
            let mut conn = self.reader.acquire().await.map_err(backend)?;
            exists(&mut conn, project, assistant_id).await?;
        }
        let cursors = resolve_cursors(params, |id| async move {
            sqlx::query_scalar(
                "SELECT seq FROM assistant_files WHERE assistant_id = ? AND file_id = ?",
            )
            .bind(assistant_id)
            .bind(id)
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)
        })
        .await?;
        let Ok((after, before)) = cursors else {
            return Ok(empty());
        };
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT file_id, created_at, assistant_id FROM assistant_files WHERE assistant_id = ",
        );
        qb.push_bind(assistant_id);
        fetch_page(
            &self.reader,
            qb,
            "seq",
            params,
            after,
            before,
            |r: AssistantFileRow| Ok(r.into()),
        )
        .await
    }

    async fn delete_assistant_file(
        &self,
        project: &Project,
        assistant_id: &str,
        file_id: &str,
    ) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        exists(&mut tx, project, assistant_id).await?;
        let deleted =
            sqlx::query("DELETE FROM assistant_files WHERE assistant_id = ? AND file_id = ?")
                .bind(assistant_id)
                .bind(file_id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?
                .rows_affected();
        if deleted == 0 {
            return Err(StoreError::not_found(ObjectKind::AssistantFile, file_id));
        }
        tx.commit().await.map_err(backend)
    }
}

async fn fetch_assistant_file(
    conn: &mut SqliteConnection,
    assistant_id: &str,
    file_id: &str,
) -> StoreResult<AssistantFile> {
    sqlx::query_as::<_, AssistantFileRow>(
        "SELECT file_id, created_at, assistant_id FROM assistant_files \
         WHERE assistant_id = ? AND file_id = ?",
    )
    .bind(assistant_id)
    .bind(file_id)
    .fetch_optional(conn)
    .await
    .map_err(backend)?
    .map(Into::into)
    .ok_or_else(|| StoreError::not_found(ObjectKind::AssistantFile, file_id))
}
