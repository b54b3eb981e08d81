//! Vector stores: the store trait over vector stores, their files and batches, and the rules that
//! keep their counts honest.
//!
//! - `file_counts`, `usage_bytes` and the statuses of stores and batches are computed from the
//!   files' rows whenever an object is read (never kept as counters), so the SDK's batch poller,
//!   which loops while `file_counts.in_progress > 0`, sees numbers that add up at every moment.
//! - A file is in a store at most once: adding it again answers the existing entry.
//! - Request validation lives here too ([`check_create`], [`check_search`], ...), with OpenAI's
//!   limits and wording.

use crate::list::{ListParams, Page};
use crate::project::Project;
use crate::store::StoreResult;
use crate::validate::{Checked, Invalid, max_len, metadata};
use assistd_wire::vector_stores::{
    AttributeValue, Attributes, ChunkingStrategy, ChunkingStrategyRequestParam,
    CreateVectorStoreFileBatchRequest, CreateVectorStoreRequest, SearchQuery,
    UpdateVectorStoreRequest, VectorStoreExpirationAfter, VectorStoreFileBatchObject,
    VectorStoreFileObject, VectorStoreFileStatus, VectorStoreObject, VectorStoreSearchRequest,
};
use assistd_wire::{FileBatchId, FileId, Metadata, VectorStoreId};
use async_trait::async_trait;
use serde_json::Value;

/// Limits of the vector-store requests, as OpenAI sets them.
pub mod limits {
    /// Files of `CreateVectorStoreRequest.file_ids`.
    pub const CREATE_FILES: usize = 500;
    /// Files of one batch.
    pub const BATCH_FILES: usize = 2000;
    /// `expires_after.days`.
    pub const EXPIRY_DAYS: std::ops::RangeInclusive<i64> = 1..=365;
    /// `max_chunk_size_tokens`.
    pub const CHUNK_TOKENS: std::ops::RangeInclusive<i64> = 100..=4096;
    /// Attribute pairs.
    pub const ATTRIBUTES: usize = 16;
    /// Characters of an attribute key.
    pub const ATTRIBUTE_KEY: usize = 64;
    /// Characters of an attribute string value.
    pub const ATTRIBUTE_VALUE: usize = 512;
    /// `max_num_results` of a search.
    pub const SEARCH_RESULTS: std::ops::RangeInclusive<i64> = 1..=50;
    /// Queries of one search (our own bound: the spec sets none).
    pub const SEARCH_QUERIES: usize = 32;
    /// Characters of one query (our own bound).
    pub const SEARCH_QUERY: usize = 4096;
    /// Nesting of compound filters (our own bound, so a hostile filter cannot recurse deeply).
    pub const FILTER_DEPTH: usize = 8;
    /// Comparisons and compounds in one filter (our own bound).
    pub const FILTER_NODES: usize = 256;
    /// Characters of a store's name.
    pub const NAME: usize = 256;
}

/// How stale a store's `last_active_at` may be before a search moves it: expiry is counted in
/// days, and a write per search would put every search behind the database's writer.
pub const TOUCH_EVERY_SECS: i64 = 60;

/// Seconds in a day, for `expires_after.days`.
pub const DAY_SECS: i64 = 86_400;

/// Where a store came from: the API, or a mapping that made it on a caller's behalf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorStoreOrigin {
    /// `POST /vector_stores`.
    Api,
    /// The files of v2 message attachments for `file_search` (the thread's store).
    ThreadAttachments,
    /// A v1 assistant's retrieval files.
    AssistantFiles,
}

impl VectorStoreOrigin {
    /// The stored name (`NULL` for the API's own).
    pub fn as_db(self) -> Option<&'static str> {
        match self {
            Self::Api => None,
            Self::ThreadAttachments => Some("thread_attachments"),
            Self::AssistantFiles => Some("assistant_files"),
        }
    }
}

/// A store to create, with the files it starts with.
#[derive(Debug, Clone, PartialEq)]
pub struct NewVectorStore {
    /// The name.
    pub name: Option<String>,
    /// A description.
    pub description: Option<String>,
    /// The expiration policy.
    pub expires_after: Option<VectorStoreExpirationAfter>,
    /// Metadata.
    pub metadata: Option<Metadata>,
    /// Files added at creation, with their strategy.
    pub files: Vec<NewVectorStoreFile>,
    /// Who made it.
    pub origin: VectorStoreOrigin,
}

impl From<CreateVectorStoreRequest> for NewVectorStore {
    fn from(r: CreateVectorStoreRequest) -> Self {
        let strategy: ChunkingStrategy = r
            .chunking_strategy
            .unwrap_or(ChunkingStrategyRequestParam::Auto)
            .into();
        Self {
            name: r.name,
            description: r.description,
            expires_after: r.expires_after,
            metadata: r.metadata,
            files: r
                .file_ids
                .unwrap_or_default()
                .into_iter()
                .map(|id| NewVectorStoreFile {
                    file_id: FileId::from(id),
                    chunking_strategy: strategy,
                    attributes: None,
                })
                .collect(),
            origin: VectorStoreOrigin::Api,
        }
    }
}

/// A file to add to a store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewVectorStoreFile {
    /// The file.
    pub file_id: FileId,
    /// How it is chunked.
    pub chunking_strategy: ChunkingStrategy,
    /// Its attributes.
    pub attributes: Option<Attributes>,
}

/// The files of a batch request, each with its strategy and attributes resolved.
pub fn batch_files(req: CreateVectorStoreFileBatchRequest) -> Vec<NewVectorStoreFile> {
    let strategy: ChunkingStrategy = req
        .chunking_strategy
        .unwrap_or(ChunkingStrategyRequestParam::Auto)
        .into();
    let mut out: Vec<NewVectorStoreFile> = req
        .file_ids
        .unwrap_or_default()
        .into_iter()
        .map(|id| NewVectorStoreFile {
            file_id: FileId::from(id),
            chunking_strategy: strategy,
            attributes: req.attributes.clone(),
        })
        .collect();
    out.extend(
        req.files
            .unwrap_or_default()
            .into_iter()
            .map(|f| NewVectorStoreFile {
                file_id: FileId::from(f.file_id),
                chunking_strategy: f.chunking_strategy.map_or(strategy, Into::into),
                attributes: f.attributes.or_else(|| req.attributes.clone()),
            }),
    );
    out
}

/// Vector stores, their files and their file batches.
#[async_trait]
pub trait VectorStoreStore: Send + Sync {
    /// Creates a store with its files (each must be a file of this project; `param` of an error
    /// is `file_ids[i]`), atomically.
    async fn create_vector_store(
        &self,
        project: &Project,
        store: NewVectorStore,
    ) -> StoreResult<VectorStoreObject>;
    /// Reads a store.
    async fn get_vector_store(
        &self,
        project: &Project,
        id: &VectorStoreId,
    ) -> StoreResult<VectorStoreObject>;
    /// Applies a modification (a new `expires_after` counts from `last_active_at`).
    async fn modify_vector_store(
        &self,
        project: &Project,
        id: &VectorStoreId,
        patch: UpdateVectorStoreRequest,
    ) -> StoreResult<VectorStoreObject>;
    /// Marks a store active now (a search), moving its `expires_at`; a store marked within the
    /// last [`TOUCH_EVERY_SECS`] is left as it is, so that searches do not each take a write.
    async fn touch_vector_store(&self, project: &Project, id: &VectorStoreId) -> StoreResult<()>;
    /// Lists stores.
    async fn list_vector_stores(
        &self,
        project: &Project,
        params: &ListParams,
    ) -> StoreResult<Page<VectorStoreObject>>;
    /// Deletes a store with its files' entries and batches (the files themselves stay).
    async fn delete_vector_store(&self, project: &Project, id: &VectorStoreId) -> StoreResult<()>;
    /// Adds a file (`in_progress`, queued for ingestion); a file already there answers its entry.
    async fn create_vector_store_file(
        &self,
        project: &Project,
        id: &VectorStoreId,
        file: NewVectorStoreFile,
    ) -> StoreResult<VectorStoreFileObject>;
    /// Reads a store's file.
    async fn get_vector_store_file(
        &self,
        project: &Project,
        id: &VectorStoreId,
        file_id: &FileId,
    ) -> StoreResult<VectorStoreFileObject>;
    /// Replaces (or clears) a store file's attributes.
    async fn update_vector_store_file_attributes(
        &self,
        project: &Project,
        id: &VectorStoreId,
        file_id: &FileId,
        attributes: Option<Attributes>,
    ) -> StoreResult<VectorStoreFileObject>;
    /// Lists a store's files, optionally of one status.
    async fn list_vector_store_files(
        &self,
        project: &Project,
        id: &VectorStoreId,
        filter: Option<VectorStoreFileStatus>,
        params: &ListParams,
    ) -> StoreResult<Page<VectorStoreFileObject>>;
    /// Removes a file from a store (the file itself stays).
    async fn delete_vector_store_file(
        &self,
        project: &Project,
        id: &VectorStoreId,
        file_id: &FileId,
    ) -> StoreResult<()>;
    /// Adds files to a store as one batch, atomically (`param`s name `files[i]` / `file_ids[i]`
    /// as given by `param_of`).
    async fn create_vector_store_file_batch(
        &self,
        project: &Project,
        id: &VectorStoreId,
        files: Vec<(NewVectorStoreFile, String)>,
    ) -> StoreResult<VectorStoreFileBatchObject>;
    /// Reads a batch.
    async fn get_vector_store_file_batch(
        &self,
        project: &Project,
        id: &VectorStoreId,
        batch_id: &FileBatchId,
    ) -> StoreResult<VectorStoreFileBatchObject>;
    /// Cancels a batch: its `in_progress` files become `cancelled`, in one transaction. A
    /// batch that is no longer in progress is a 400.
    async fn cancel_vector_store_file_batch(
        &self,
        project: &Project,
        id: &VectorStoreId,
        batch_id: &FileBatchId,
    ) -> StoreResult<VectorStoreFileBatchObject>;
    /// Lists a batch's files, optionally of one status.
    async fn list_vector_store_file_batch_files(
        &self,
        project: &Project,
        id: &VectorStoreId,
        batch_id: &FileBatchId,
        filter: Option<VectorStoreFileStatus>,
        params: &ListParams,
    ) -> StoreResult<Page<VectorStoreFileObject>>;
}

fn out_of_range(param: &str, got: i64, range: &std::ops::RangeInclusive<i64>) -> Invalid {
    if got < *range.start() {
        Invalid::new(
            param,
            format!(
                "Invalid '{param}': integer below minimum value. Expected a value >= {}, but got {got} instead.",
                range.start()
            ),
        )
    } else {
        Invalid::new(
            param,
            format!(
                "Invalid '{param}': integer above maximum value. Expected a value <= {}, but got {got} instead.",
                range.end()
            ),
        )
    }
}

fn too_many(param: &str, max: usize, got: usize) -> Invalid {
    Invalid::new(
        param,
        format!(
            "Invalid '{param}': array too long. Expected an array with maximum length {max}, but got an array with length {got} instead."
        ),
    )
}

fn empty_array(param: &str) -> Invalid {
    Invalid::new(
        param,
        format!(
            "Invalid '{param}': empty array. Expected an array with minimum length 1, but got an empty array instead."
        ),
    )
}

/// `expires_after`: `days` 1 to 365.
pub fn check_expires_after(param: &str, e: &VectorStoreExpirationAfter) -> Checked {
    if limits::EXPIRY_DAYS.contains(&e.days) {
        Ok(())
    } else {
        Err(out_of_range(
            &format!("{param}.days"),
            e.days,
            &limits::EXPIRY_DAYS,
        ))
    }
}

/// A chunking strategy: `max_chunk_size_tokens` 100 to 4096, the overlap at least 0 and at
/// most half of it.
pub fn check_chunking(param: &str, c: &ChunkingStrategyRequestParam) -> Checked {
    let ChunkingStrategyRequestParam::Static { static_: s } = c else {
        return Ok(());
    };
    let max_param = format!("{param}.static.max_chunk_size_tokens");
    if !limits::CHUNK_TOKENS.contains(&s.max_chunk_size_tokens) {
        return Err(out_of_range(
            &max_param,
            s.max_chunk_size_tokens,
            &limits::CHUNK_TOKENS,
        ));
    }
    let overlap = format!("{param}.static.chunk_overlap_tokens");
    if s.chunk_overlap_tokens < 0 {
        return Err(out_of_range(
            &overlap,
            s.chunk_overlap_tokens,
            &(0..=s.max_chunk_size_tokens / 2),
        ));
    }
    if s.chunk_overlap_tokens > s.max_chunk_size_tokens / 2 {
        return Err(Invalid::new(
            overlap,
            format!(
                "Invalid '{param}.static.chunk_overlap_tokens': chunk_overlap_tokens must be less than or equal to half of max_chunk_size_tokens ({}), but got {}.",
                s.max_chunk_size_tokens / 2,
                s.chunk_overlap_tokens
            ),
        ));
    }
    Ok(())
}

/// `attributes`: at most 16 keys of at most 64 characters; string values at most 512.
pub fn check_attributes(param: &str, attributes: Option<&Attributes>) -> Checked {
    let Some(map) = attributes else {
        return Ok(());
    };
    if map.len() > limits::ATTRIBUTES {
        return Err(Invalid::new(
            param,
            format!(
                "Invalid '{param}': too many properties. Expected an object with at most {} properties, but got an object with {} properties instead.",
                limits::ATTRIBUTES,
                map.len()
            ),
        ));
    }
    for (k, v) in map {
        let key_len = k.chars().count();
        if key_len > limits::ATTRIBUTE_KEY {
            return Err(Invalid::new(
                param,
                format!(
                    "Invalid '{param}': attribute keys can be at most {} characters long, but key '{}' has {key_len}.",
                    limits::ATTRIBUTE_KEY,
                    k.chars().take(limits::ATTRIBUTE_KEY).collect::<String>()
                ),
            ));
        }
        if let AttributeValue::String(s) = v {
            max_len(&format!("{param}.{k}"), s, limits::ATTRIBUTE_VALUE)?;
        }
    }
    Ok(())
}

fn check_file_ids(param: &str, ids: &[String], max: usize) -> Checked {
    if ids.len() > max {
        return Err(too_many(param, max, ids.len()));
    }
    for (i, id) in ids.iter().enumerate() {
        if id.is_empty() {
            return Err(Invalid::new(
                format!("{param}[{i}]"),
                format!("Invalid '{param}[{i}]': empty string. Expected a non-empty value."),
            ));
        }
    }
    Ok(())
}

/// `CreateVectorStoreRequest`.
pub fn check_create(req: &CreateVectorStoreRequest) -> Checked {
    if let Some(ids) = &req.file_ids {
        check_file_ids("file_ids", ids, limits::CREATE_FILES)?;
    }
    if let Some(name) = &req.name {
        max_len("name", name, limits::NAME)?;
    }
    if let Some(d) = &req.description {
        max_len("description", d, crate::validate::limits::DESCRIPTION)?;
    }
    if let Some(e) = &req.expires_after {
        check_expires_after("expires_after", e)?;
    }
    if let Some(c) = &req.chunking_strategy {
        if req.file_ids.as_ref().is_none_or(Vec::is_empty) {
            return Err(Invalid::new(
                "chunking_strategy",
                "Invalid 'chunking_strategy': only applicable if 'file_ids' is non-empty.",
            ));
        }
        check_chunking("chunking_strategy", c)?;
    }
    metadata("metadata", req.metadata.as_ref())
}

/// `UpdateVectorStoreRequest`.
pub fn check_modify(req: &UpdateVectorStoreRequest) -> Checked {
    if let Some(Some(name)) = &req.name {
        max_len("name", name, limits::NAME)?;
    }
    if let Some(Some(e)) = &req.expires_after {
        check_expires_after("expires_after", e)?;
    }
    if let Some(m) = &req.metadata {
        metadata("metadata", m.as_ref())?;
    }
    Ok(())
}

/// `CreateVectorStoreFileRequest`'s strategy and attributes.
pub fn check_file(
    file_id: &str,
    chunking: Option<&ChunkingStrategyRequestParam>,
    attributes: Option<&Attributes>,
) -> Checked {
    if file_id.is_empty() {
        return Err(Invalid::new(
            "file_id",
            "Invalid 'file_id': empty string. Expected a non-empty value.",
        ));
    }
    if let Some(c) = chunking {
        check_chunking("chunking_strategy", c)?;
    }
    check_attributes("attributes", attributes)
}

/// `CreateVectorStoreFileBatchRequest`: exactly one of `file_ids` and `files`, 1 to 2000.
pub fn check_batch(req: &CreateVectorStoreFileBatchRequest) -> Checked {
    match (&req.file_ids, &req.files) {
        (None, None) => {
            return Err(Invalid::new(
                "file_ids",
                "Missing required parameter: 'file_ids' (or 'files').",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(Invalid::new(
                "files",
                "Invalid 'files': 'file_ids' and 'files' are mutually exclusive; send one of them.",
            ));
        }
        (Some(ids), None) => {
            if ids.is_empty() {
                return Err(empty_array("file_ids"));
            }
            check_file_ids("file_ids", ids, limits::BATCH_FILES)?;
        }
        (None, Some(files)) => {
            if files.is_empty() {
                return Err(empty_array("files"));
            }
            if files.len() > limits::BATCH_FILES {
                return Err(too_many("files", limits::BATCH_FILES, files.len()));
            }
            for (i, f) in files.iter().enumerate() {
                if f.file_id.is_empty() {
                    return Err(Invalid::new(
                        format!("files[{i}].file_id"),
                        format!(
                            "Invalid 'files[{i}].file_id': empty string. Expected a non-empty value."
                        ),
                    ));
                }
                if let Some(c) = &f.chunking_strategy {
                    check_chunking(&format!("files[{i}].chunking_strategy"), c)?;
                }
                check_attributes(&format!("files[{i}].attributes"), f.attributes.as_ref())?;
            }
        }
    }
    if let Some(c) = &req.chunking_strategy {
        check_chunking("chunking_strategy", c)?;
    }
    check_attributes("attributes", req.attributes.as_ref())
}

/// `VectorStoreSearchRequest`; answers the queries as a list.
pub fn check_search(req: &VectorStoreSearchRequest) -> Result<Vec<String>, Invalid> {
    let queries = match &req.query {
        SearchQuery::One(q) => vec![q.clone()],
        SearchQuery::Many(qs) => {
            if qs.is_empty() {
                return Err(empty_array("query"));
            }
            if qs.len() > limits::SEARCH_QUERIES {
                return Err(too_many("query", limits::SEARCH_QUERIES, qs.len()));
            }
            qs.clone()
        }
    };
    for (i, q) in queries.iter().enumerate() {
        let param = if matches!(req.query, SearchQuery::One(_)) {
            "query".to_owned()
        } else {
            format!("query[{i}]")
        };
        if q.trim().is_empty() {
            return Err(Invalid::new(
                &param,
                format!("Invalid '{param}': empty string. Expected a non-empty value."),
            ));
        }
        max_len(&param, q, limits::SEARCH_QUERY)?;
    }
    if let Some(n) = req.max_num_results
        && !limits::SEARCH_RESULTS.contains(&n)
    {
        return Err(out_of_range("max_num_results", n, &limits::SEARCH_RESULTS));
    }
    if let Some(t) = req.ranking_options.and_then(|r| r.score_threshold)
        && !(0.0..=1.0).contains(&t)
    {
        return Err(Invalid::new(
            "ranking_options.score_threshold",
            format!(
                "Invalid 'ranking_options.score_threshold': expected a number between 0 and 1, but got {t} instead."
            ),
        ));
    }
    if let Some(f) = &req.filters {
        let mut nodes = 0;
        check_filter("filters", f, 0, &mut nodes)?;
    }
    Ok(queries)
}

const COMPARISONS: [&str; 8] = ["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"];

/// A `ComparisonFilter` or a `CompoundFilter` (recursively), naming the offending path.
pub fn check_filter(param: &str, f: &Value, depth: usize, nodes: &mut usize) -> Checked {
    *nodes += 1;
    if *nodes > limits::FILTER_NODES || depth > limits::FILTER_DEPTH {
        return Err(Invalid::new(
            param,
            format!(
                "Invalid '{param}': the filter is too large (at most {} filters, nested at most {} deep).",
                limits::FILTER_NODES,
                limits::FILTER_DEPTH
            ),
        ));
    }
    let Value::Object(obj) = f else {
        return Err(Invalid::new(
            param,
            format!("Invalid type for '{param}': expected an object."),
        ));
    };
    let kind = match obj.get("type") {
        Some(Value::String(t)) => t.as_str(),
        None => {
            return Err(Invalid::new(
                format!("{param}.type"),
                format!("Missing required parameter: '{param}.type'."),
            ));
        }
        Some(_) => {
            return Err(Invalid::new(
                format!("{param}.type"),
                format!("Invalid type for '{param}.type': expected a string."),
            ));
        }
    };
    let allowed: &[&str] = if matches!(kind, "and" | "or") {
        &["type", "filters"]
    } else if COMPARISONS.contains(&kind) {
        &["type", "key", "value"]
    } else {
        return Err(Invalid::new(
            format!("{param}.type"),
            format!(
                "Invalid value: '{}'. Supported values are: 'eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'nin', 'and', and 'or'.",
                kind.chars().take(64).collect::<String>()
            ),
        ));
    };
    if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        let p = format!("{param}.{}", k.chars().take(64).collect::<String>());
        return Err(Invalid::new(
            &p,
            format!("Unrecognized request argument supplied: {p}"),
        ));
    }
    for k in &allowed[1..] {
        if !obj.contains_key(*k) {
            return Err(Invalid::new(
                format!("{param}.{k}"),
                format!("Missing required parameter: '{param}.{k}'."),
            ));
        }
    }
    if matches!(kind, "and" | "or") {
        let Some(Value::Array(filters)) = obj.get("filters") else {
            return Err(Invalid::new(
                format!("{param}.filters"),
                format!("Invalid type for '{param}.filters': expected an array."),
            ));
        };
        for (i, sub) in filters.iter().enumerate() {
            check_filter(&format!("{param}.filters[{i}]"), sub, depth + 1, nodes)?;
        }
        return Ok(());
    }
    if !matches!(obj.get("key"), Some(Value::String(_))) {
        return Err(Invalid::new(
            format!("{param}.key"),
            format!("Invalid type for '{param}.key': expected a string."),
        ));
    }
    let value_param = format!("{param}.value");
    match obj.get("value") {
        Some(Value::String(_) | Value::Number(_) | Value::Bool(_)) => Ok(()),
        Some(Value::Array(items))
            if items
                .iter()
                .all(|v| matches!(v, Value::String(_) | Value::Number(_))) =>
        {
            Ok(())
        }
        _ => Err(Invalid::new(
            &value_param,
            format!(
                "Invalid type for '{value_param}': expected a string, a number, a boolean, or an array of strings and numbers."
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn filter(v: &Value) -> Result<(), Option<String>> {
        let mut n = 0;
        check_filter("filters", v, 0, &mut n).map_err(|e| e.param)
    }

    #[test]
    fn filters_are_checked_with_their_path() {
        assert!(filter(&json!({"type":"eq","key":"a","value":1})).is_ok());
        assert!(
            filter(&json!({"type":"and","filters":[
                {"type":"in","key":"a","value":["x",2]},
                {"type":"or","filters":[{"type":"ne","key":"b","value":true}]}
            ]}))
            .is_ok()
        );
        assert_eq!(
            filter(&json!({"type":"and","filters":[{"type":"xx","key":"a","value":1}]})),
            Err(Some("filters.filters[0].type".to_owned()))
        );
        assert_eq!(
            filter(&json!({"type":"eq","key":"a"})),
            Err(Some("filters.value".to_owned()))
        );
        assert_eq!(
            filter(&json!({"type":"eq","key":"a","value":{"x":1}})),
            Err(Some("filters.value".to_owned()))
        );
        let mut deep = json!({"type":"eq","key":"a","value":1});
        for _ in 0..20 {
            deep = json!({"type":"and","filters":[deep]});
        }
        assert!(filter(&deep).is_err());
    }

    #[test]
    fn chunking_overlap_is_at_most_half() {
        let c = |max, overlap| {
            check_chunking(
                "chunking_strategy",
                &serde_json::from_value(json!({"type":"static","static":{
                    "max_chunk_size_tokens":max,"chunk_overlap_tokens":overlap}}))
                .unwrap(),
            )
            .map_err(|e| e.param)
        };
        assert!(c(800, 400).is_ok());
        assert_eq!(
            c(800, 401),
            Err(Some(
                "chunking_strategy.static.chunk_overlap_tokens".to_owned()
            ))
        );
        assert_eq!(
            c(99, 0),
            Err(Some(
                "chunking_strategy.static.max_chunk_size_tokens".to_owned()
            ))
        );
        assert_eq!(
            c(4097, 0),
            Err(Some(
                "chunking_strategy.static.max_chunk_size_tokens".to_owned()
            ))
        );
    }
}
