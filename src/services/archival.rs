//! Archival memory (spec groups-memory-tools §4): an agent's passages of text with their
//! embeddings. Inserting chunks the text and embeds every chunk before any row is written;
//! searching embeds the query and ranks the agent's passages by cosine distance.

use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::agents::AgentService;
use super::pyfmt::python_repr;
use super::{ServiceError, ServiceResult};
use crate::config::Config;
use crate::ingest::chunker;
use crate::llm::ProviderKeys;
use crate::llm::catalog::ModelCatalog;
use crate::llm::chat::LlmError;
use crate::llm::embeddings::{EmbeddingModel, EmbeddingSetupError, embedding_model_for};
use crate::schemas::Timestamp;
use crate::schemas::common::now;
use crate::schemas::llm_config::EmbeddingConfig;
use crate::schemas::new_id;
use crate::schemas::org::Actor;
use crate::schemas::passage::Passage;
use crate::store::DynStore;
use crate::store::{AgentRow, PassageFilter, ScoredPassage};

/// Results per page of the `archival_memory_search` tool.
pub const SEARCH_PAGE_SIZE: i64 = 5;

/// Storage units `GET /v1/embeddings/total_storage_size` accepts, with their size in bytes.
const STORAGE_UNITS: &[(&str, f64)] = &[
    ("B", 1.0),
    ("KB", 1024.0),
    ("MB", 1048576.0),
    ("GB", 1073741824.0),
    ("TB", 1099511627776.0),
];

/// `POST /v1/agents/{agent_id}/archival-memory`. Unknown fields are ignored.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateArchivalMemory {
    /// Text to write to archival memory.
    pub text: String,
}

/// `PATCH /v1/agents/{agent_id}/archival-memory/{memory_id}`. Unknown fields are refused.
/// `id` must be the path's `memory_id`; the ownership and audit fields (`agent_id`,
/// `organization_id`, `created_*`, `updated_at`, `last_updated_by_id`) are accepted and
/// ignored.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PassageUpdate {
    /// The id of the user that made this object.
    #[serde(default)]
    pub created_by_id: Option<String>,
    /// The id of the user that made this object.
    #[serde(default)]
    pub last_updated_by_id: Option<String>,
    /// The timestamp when the object was created.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub created_at: Option<String>,
    /// The timestamp when the object was last updated.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub updated_at: Option<String>,
    /// Whether this passage is deleted or not.
    #[serde(default)]
    #[schema(required = false, default = false)]
    pub is_deleted: Option<bool>,
    /// The unique identifier of the user associated with the passage.
    #[serde(default)]
    pub organization_id: Option<String>,
    /// The unique identifier of the agent associated with the passage.
    #[serde(default)]
    pub agent_id: Option<String>,
    /// The data source of the passage.
    #[serde(default)]
    pub source_id: Option<String>,
    /// The unique identifier of the file associated with the passage.
    #[serde(default)]
    pub file_id: Option<String>,
    /// The name of the file (only for source passages).
    #[serde(default)]
    pub file_name: Option<String>,
    /// The metadata of the passage (`metadata` is accepted too).
    #[serde(default, rename = "metadata_", alias = "metadata")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    /// The text of the passage.
    #[serde(default)]
    pub text: Option<String>,
    /// The embedding of the passage.
    #[serde(default)]
    pub embedding: Option<Vec<f32>>,
    /// The embedding configuration used by the passage.
    #[serde(default)]
    pub embedding_config: Option<EmbeddingConfig>,
    /// The unique identifier of the passage.
    pub id: String,
}

/// What `GET /v1/agents/{agent_id}/archival-memory` asks for.
#[derive(Debug, Clone, Default)]
pub struct PassageQuery {
    pub after: Option<String>,
    pub before: Option<String>,
    /// `None` (or 0): every match.
    pub limit: Option<i64>,
    /// Ranks the passages by similarity to this text.
    pub search: Option<String>,
    pub ascending: bool,
}

/// Agents' archival memory. Holds the store, the provider keys its embeddings use, and
/// the agents whose prompts it recompiles.
pub struct ArchivalService<'a> {
    store: &'a DynStore,
    providers: &'a ProviderKeys,
    agents: AgentService<'a>,
}

fn passage_missing(passage_id: &str) -> ServiceError {
    ServiceError::BadRequest(format!("Passage with id {passage_id} does not exist."))
}

fn passage_not_found(passage_id: &str) -> ServiceError {
    ServiceError::NotFound(format!(
        "Passage with id {passage_id} not found in database."
    ))
}

fn setup_error(err: EmbeddingSetupError) -> ServiceError {
    ServiceError::BadRequest(err.to_string())
}

/// A provider failure, naming the provider and its endpoint (never a key).
fn embedding_failure(model: &EmbeddingModel, err: LlmError) -> ServiceError {
    let status = err
        .status
        .map(|s| format!(" with HTTP {s}"))
        .unwrap_or_default();
    let message = format!(
        "Embedding provider {} ({}) failed{status}: {}",
        err.provider,
        model.endpoint(),
        err.message
    );
    ServiceError::Upstream(crate::services::UpstreamError {
        kind: err.kind,
        message,
        retry_after: err.retry_after,
    })
}

impl<'a> ArchivalService<'a> {
    pub fn new(
        store: &'a DynStore,
        config: &'a Config,
        models: &'a ModelCatalog,
        providers: &'a ProviderKeys,
    ) -> Self {
        ArchivalService {
            store,
            providers,
            agents: AgentService::new(store, config, models),
        }
    }

    fn agents(&self) -> AgentService<'a> {
        self.agents
    }

    /// The vectors of `texts` under `config`, all or an error.
    pub async fn embed(
        &self,
        org_id: &str,
        config: &EmbeddingConfig,
        texts: &[String],
    ) -> ServiceResult<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        // A brought provider's model embeds with that provider's key.
        let keys =
            super::providers::embedding_keys(self.store.as_ref(), org_id, config, self.providers)
                .await?;
        let model = embedding_model_for(config, &keys).map_err(setup_error)?;
        model
            .embed(texts)
            .await
            .map_err(|err| embedding_failure(&model, err))
    }

    /// `POST …/archival-memory`: stores one passage per chunk of `text` and recompiles the
    /// agent's system prompt (its archival count changed). Blank text stores nothing.
    pub async fn insert(
        &self,
        actor: &Actor,
        agent_id: &str,
        text: &str,
    ) -> ServiceResult<Vec<Passage>> {
        let agents = self.agents();
        let row = agents.row(actor, agent_id).await?;
        let passages = self.insert_for(actor, &row, text).await?;
        if !passages.is_empty() {
            agents.rebuild_system_prompt(&row, Some(now())).await?;
        }
        Ok(passages)
    }

    /// Chunks, embeds and stores `text` as passages of the agent, without touching its
    /// system prompt. Every chunk is embedded before anything is written, and the rows are
    /// written in one transaction: on any failure nothing is stored.
    pub async fn insert_for(
        &self,
        actor: &Actor,
        row: &AgentRow,
        text: &str,
    ) -> ServiceResult<Vec<Passage>> {
        let config = &row.embedding_config;
        let chunk_size = config
            .embedding_chunk_size
            .and_then(|s| usize::try_from(s).ok())
            .filter(|s| *s > 0)
            .unwrap_or(chunker::DEFAULT_CHUNK_SIZE);
        let chunks = chunker::chunk_text(text, chunk_size);
        if chunks.is_empty() {
            return Ok(Vec::new());
        }
        let vectors = self.embed(&row.organization_id, config, &chunks).await?;
        let base = now();
        let passages: Vec<Passage> = chunks
            .into_iter()
            .zip(vectors)
            .enumerate()
            .map(|(i, (text, embedding))| {
                // Chunks keep their order in listings sorted by creation time.
                let created_at = base + chrono::Duration::microseconds(i as i64);
                new_passage(actor, row, text, embedding, created_at)
            })
            .collect();
        self.store.insert_passages(&passages).await?;
        Ok(passages)
    }

    /// `GET …/archival-memory`. Without `search`: the agent's passages in (created_at, id)
    /// order between the cursors. With `search`: the same passages ranked by similarity to
    /// it, nearest first. An unknown agent or cursor gives an empty list.
    pub async fn list(
        &self,
        actor: &Actor,
        agent_id: &str,
        query: &PassageQuery,
    ) -> ServiceResult<Vec<Passage>> {
        let limit = query.limit.filter(|l| *l > 0);
        let store = &self.store;
        let org = &actor.organization_id;
        let Some(search) = query.search.as_deref().filter(|s| !s.is_empty()) else {
            let filter = PassageFilter {
                after: query.after.clone(),
                before: query.before.clone(),
                limit,
                text_contains: None,
                ascending: query.ascending,
            };
            return Ok(store.list_passages(org, agent_id, &filter).await?);
        };
        let Some(row) = store.get_agent(org, agent_id).await? else {
            return Ok(Vec::new());
        };
        let total = store.count_agent_passages(&row.id).await?;
        if total == 0 {
            return Ok(Vec::new());
        }
        // Cursors bound the candidates by (created_at, id), as in the plain listing.
        let mut bounds: Vec<(Timestamp, String, bool)> = Vec::new();
        for (cursor, after) in [(&query.after, true), (&query.before, false)] {
            let Some(id) = cursor else { continue };
            match store.get_passage(org, id).await? {
                Some(p) if p.agent_id.as_deref() == Some(row.id.as_str()) => {
                    bounds.push((p.created_at, p.id, after))
                }
                _ => return Ok(Vec::new()),
            }
        }
        let fetch = if bounds.is_empty() {
            limit.unwrap_or(total)
        } else {
            total
        };
        let hits = self.search(actor, &row, search, 0, fetch).await?;
        let within = |p: &Passage| {
            bounds.iter().all(|(at, id, after)| {
                let key = (p.created_at, p.id.as_str());
                if *after {
                    key > (*at, id.as_str())
                } else {
                    key < (*at, id.as_str())
                }
            })
        };
        Ok(hits
            .into_iter()
            .map(|h| h.passage)
            .filter(within)
            .take(limit.map_or(usize::MAX, |l| l as usize))
            .collect())
    }

    /// The agent's passages nearest to `query` (embedded with the agent's embedding
    /// configuration), nearest first, `offset` skipped, at most `limit`.
    pub async fn search(
        &self,
        actor: &Actor,
        row: &AgentRow,
        query: &str,
        offset: i64,
        limit: i64,
    ) -> ServiceResult<Vec<ScoredPassage>> {
        let mut vectors = self
            .embed(
                &row.organization_id,
                &row.embedding_config,
                &[query.to_owned()],
            )
            .await?;
        let vector = vectors.pop().unwrap_or_default();
        Ok(self
            .store
            .search_passages(
                &actor.organization_id,
                &row.id,
                &vector,
                offset.max(0),
                limit.max(0),
            )
            .await?)
    }

    /// `PATCH …/archival-memory/{memory_id}`: writes the fields given; the text is embedded
    /// again when it (or the embedding configuration) changes and no embedding is given.
    /// Returns `[passage]`.
    pub async fn modify(
        &self,
        actor: &Actor,
        agent_id: &str,
        memory_id: &str,
        update: PassageUpdate,
    ) -> ServiceResult<Vec<Passage>> {
        if update.id != memory_id {
            return Err(ServiceError::BadRequest(format!(
                "The passage id in the body ({}) does not match memory_id ({memory_id})",
                update.id
            )));
        }
        if let Some(text) = update.text.as_deref()
            && text.trim().is_empty()
        {
            return Err(ServiceError::value_error(
                &["body", "text"],
                "text must not be empty",
                json!(text),
            ));
        }
        if update.embedding.as_ref().is_some_and(Vec::is_empty) {
            return Err(ServiceError::value_error(
                &["body", "embedding"],
                "embedding must not be empty",
                json!([]),
            ));
        }
        let store = &self.store;
        let org = &actor.organization_id;
        let mut passage = store
            .get_passage(org, memory_id)
            .await?
            .filter(|p| p.agent_id.as_deref() == Some(agent_id))
            .ok_or_else(|| passage_missing(memory_id))?;

        let text_changed = update.text.as_ref().is_some_and(|t| *t != passage.text);
        let config_changed = update
            .embedding_config
            .as_ref()
            .is_some_and(|c| Some(c) != passage.embedding_config.as_ref());
        if let Some(text) = update.text {
            passage.text = text;
        }
        if let Some(config) = update.embedding_config {
            passage.embedding_config = Some(config);
        }
        if let Some(embedding) = update.embedding {
            passage.embedding = Some(embedding);
        } else if text_changed || config_changed {
            let config = match passage.embedding_config.clone() {
                Some(config) => config,
                None => self.agents().row(actor, agent_id).await?.embedding_config,
            };
            let mut vectors = self
                .embed(&actor.organization_id, &config, &[passage.text.clone()])
                .await?;
            passage.embedding = vectors.pop();
            passage.embedding_config = Some(config);
        }
        if let Some(metadata) = update.metadata {
            passage.metadata = Some(metadata);
        }
        if update.source_id.is_some() {
            passage.source_id = update.source_id;
        }
        if update.file_id.is_some() {
            passage.file_id = update.file_id;
        }
        if update.file_name.is_some() {
            passage.file_name = update.file_name;
        }
        if let Some(is_deleted) = update.is_deleted {
            passage.is_deleted = is_deleted;
        }
        passage.updated_at = Some(now());
        passage.last_updated_by_id = Some(actor.user_id.clone());
        if !store.update_passage(&passage).await? {
            return Err(passage_missing(memory_id));
        }
        let stored = store
            .get_passage(org, memory_id)
            .await?
            .ok_or_else(|| passage_missing(memory_id))?;
        Ok(vec![stored])
    }

    /// `DELETE …/archival-memory/{memory_id}`: deletes the passage and recompiles its
    /// agent's system prompt. Returns the confirmation message.
    pub async fn delete(
        &self,
        actor: &Actor,
        agent_id: &str,
        memory_id: &str,
    ) -> ServiceResult<String> {
        let store = &self.store;
        let org = &actor.organization_id;
        store
            .get_passage(org, memory_id)
            .await?
            .filter(|p| p.agent_id.as_deref() == Some(agent_id))
            .ok_or_else(|| passage_not_found(memory_id))?;
        store
            .delete_passage(org, memory_id)
            .await?
            .ok_or_else(|| passage_not_found(memory_id))?;
        if let Some(row) = store.get_agent(org, agent_id).await? {
            self.agents()
                .rebuild_system_prompt(&row, Some(now()))
                .await?;
        }
        Ok(format!("Memory id={memory_id} successfully deleted"))
    }

    /// Number of passages the agent has (the system prompt's archival count).
    pub async fn count(&self, agent_id: &str) -> ServiceResult<i64> {
        Ok(self.store.count_agent_passages(agent_id).await?)
    }

    /// `GET /v1/embeddings/total_storage_size`: bytes of the organization's passages (text and
    /// embeddings) in `unit` (`B`, `KB`, `MB`, `GB`, `TB`).
    pub async fn storage_size(&self, actor: &Actor, unit: &str) -> ServiceResult<f64> {
        let Some((_, per_unit)) = STORAGE_UNITS.iter().find(|(name, _)| *name == unit) else {
            let names: Vec<String> = STORAGE_UNITS
                .iter()
                .map(|(n, _)| format!("'{n}'"))
                .collect();
            return Err(ServiceError::BadRequest(format!(
                "Invalid storage unit: {unit}. Must be one of [{}].",
                names.join(", ")
            )));
        };
        let bytes = self
            .store
            .passages_storage_bytes(&actor.organization_id)
            .await?;
        Ok(bytes as f64 / per_unit)
    }

    /// The `archival_memory_insert` tool: stores the passages and returns `None`, as the
    /// original's tool does (the caller recompiles the system prompt).
    pub async fn tool_insert(
        &self,
        actor: &Actor,
        agent_id: &str,
        content: &str,
    ) -> ServiceResult<String> {
        let row = self.agents().row(actor, agent_id).await?;
        self.insert_for(actor, &row, content).await?;
        Ok("None".to_owned())
    }

    /// The `archival_memory_search` tool: the five passages nearest to `query` from `start`
    /// on, rendered as the original renders its `(results, count)` tuple:
    /// `([{'timestamp': '…', 'content': '…'}], 1)`.
    pub async fn tool_search(
        &self,
        actor: &Actor,
        agent_id: &str,
        query: &str,
        start: i64,
    ) -> ServiceResult<String> {
        let row = self.agents().row(actor, agent_id).await?;
        let hits = self
            .search(actor, &row, query, start.max(0), SEARCH_PAGE_SIZE)
            .await?;
        Ok(format_search_results(&hits))
    }
}

fn new_passage(
    actor: &Actor,
    row: &AgentRow,
    text: String,
    embedding: Vec<f32>,
    created_at: Timestamp,
) -> Passage {
    Passage {
        created_by_id: Some(actor.user_id.clone()),
        last_updated_by_id: Some(actor.user_id.clone()),
        created_at,
        updated_at: Some(created_at),
        is_deleted: false,
        organization_id: Some(row.organization_id.clone()),
        agent_id: Some(row.id.clone()),
        source_id: None,
        file_id: None,
        file_name: None,
        metadata: Some(Map::new()),
        id: new_id("passage"),
        text,
        embedding: Some(embedding),
        embedding_config: Some(row.embedding_config.clone()),
    }
}

/// Python's `str()` of a naive datetime: `2025-07-01 10:00:00.123456`, without the
/// fraction when it is zero.
pub fn python_datetime(ts: Timestamp) -> String {
    let micros = ts.timestamp_subsec_micros();
    if micros == 0 {
        ts.format("%Y-%m-%d %H:%M:%S").to_string()
    } else {
        format!("{}.{micros:06}", ts.format("%Y-%m-%d %H:%M:%S"))
    }
}

/// `([{'timestamp': '…', 'content': '…'}, …], N)`.
pub fn format_search_results(hits: &[ScoredPassage]) -> String {
    let items: Vec<String> = hits
        .iter()
        .map(|h| {
            format!(
                "{{'timestamp': {}, 'content': {}}}",
                python_repr(&python_datetime(h.passage.created_at)),
                python_repr(&h.passage.text)
            )
        })
        .collect();
    format!("([{}], {})", items.join(", "), hits.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn python_datetimes() {
        let ts = chrono::Utc.with_ymd_and_hms(2025, 7, 1, 10, 0, 0).unwrap();
        assert_eq!(python_datetime(ts), "2025-07-01 10:00:00");
        let ts = ts + chrono::Duration::microseconds(123456);
        assert_eq!(python_datetime(ts), "2025-07-01 10:00:00.123456");
        let ts = ts + chrono::Duration::microseconds(-123450);
        assert_eq!(python_datetime(ts), "2025-07-01 10:00:00.000006");
    }

    #[test]
    fn search_results_render_as_a_python_tuple() {
        assert_eq!(format_search_results(&[]), "([], 0)");
        let ts = chrono::Utc.with_ymd_and_hms(2025, 7, 1, 10, 0, 0).unwrap();
        let passage = |text: &str| ScoredPassage {
            passage: Passage {
                created_by_id: None,
                last_updated_by_id: None,
                created_at: ts,
                updated_at: None,
                is_deleted: false,
                organization_id: None,
                agent_id: None,
                source_id: None,
                file_id: None,
                file_name: None,
                metadata: None,
                id: "passage-1".into(),
                text: text.into(),
                embedding: None,
                embedding_config: None,
            },
            distance: 0.0,
        };
        assert_eq!(
            format_search_results(&[passage("green tea"), passage("user's cat")]),
            "([{'timestamp': '2025-07-01 10:00:00', 'content': 'green tea'}, {'timestamp': '2025-07-01 10:00:00', 'content': \"user's cat\"}], 2)"
        );
    }

    #[test]
    fn passage_update_is_strict_and_accepts_both_metadata_names() {
        let update: PassageUpdate =
            serde_json::from_value(json!({"id": "passage-1", "metadata": {"a": 1}})).unwrap();
        assert_eq!(update.metadata.unwrap()["a"], 1);
        let update: PassageUpdate =
            serde_json::from_value(json!({"id": "passage-1", "metadata_": {"b": 2}})).unwrap();
        assert_eq!(update.metadata.unwrap()["b"], 2);
        assert!(
            serde_json::from_value::<PassageUpdate>(json!({"id": "p", "colour": "red"})).is_err()
        );
        assert!(serde_json::from_value::<PassageUpdate>(json!({"text": "x"})).is_err());
    }
}
