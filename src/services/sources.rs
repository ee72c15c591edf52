//! Sources (`/v1/sources`): named collections of files with one embedding configuration.
//! Holds only what it needs: the store and the model catalog (to resolve `embedding`
//! handles).

use crate::llm::catalog::ModelCatalog;
use crate::schemas::common::now;
use crate::schemas::new_id;
use crate::schemas::org::Actor;
use crate::schemas::passage::Passage;
use crate::schemas::source::{OrganizationSourcesStats, Source, SourceCreate, SourceUpdate};
use crate::services::{ServiceError, ServiceResult};
use crate::store::{Removed, Store, StoreError};

/// Chunk size of a source created from an `embedding` handle without one.
const DEFAULT_EMBEDDING_CHUNK_SIZE: i64 = 300;

pub struct SourceService<'a> {
    store: &'a dyn Store,
    models: &'a ModelCatalog,
}

pub fn source_not_found(source_id: &str) -> ServiceError {
    ServiceError::NotFound(format!("Source with id={source_id} not found."))
}

fn name_taken(name: &str) -> ServiceError {
    ServiceError::Conflict(format!("A source named '{name}' already exists"))
}

fn check_name(name: &str) -> ServiceResult<()> {
    if name.trim().is_empty() {
        return Err(ServiceError::BadRequest(
            "The source name must not be empty".to_owned(),
        ));
    }
    if name.contains('/') {
        // File names are `<source name>/<file name>`: a slash would make them ambiguous.
        return Err(ServiceError::BadRequest(format!(
            "The source name '{name}' must not contain '/'"
        )));
    }
    Ok(())
}

impl<'a> SourceService<'a> {
    pub fn new(store: &'a dyn Store, models: &'a ModelCatalog) -> Self {
        SourceService { store, models }
    }

    /// The source, or a 404.
    pub async fn get(&self, actor: &Actor, source_id: &str) -> ServiceResult<Source> {
        self.store
            .get_source(&actor.organization_id, source_id)
            .await?
            .ok_or_else(|| source_not_found(source_id))
    }

    pub async fn create(&self, actor: &Actor, req: SourceCreate) -> ServiceResult<Source> {
        check_name(&req.name)?;
        let embedding_config = match (req.embedding_config, req.embedding.as_deref()) {
            (Some(config), _) => config,
            (None, Some(handle)) => {
                self.models
                    .resolve_embedding(
                        handle,
                        Some(
                            req.embedding_chunk_size
                                .unwrap_or(DEFAULT_EMBEDDING_CHUNK_SIZE),
                        ),
                    )
                    .await?
            }
            (None, None) => {
                return Err(ServiceError::BadRequest(
                    "Must specify either embedding or embedding_config in request".to_owned(),
                ));
            }
        };
        let ts = now();
        let source = Source {
            id: new_id("source"),
            name: req.name,
            description: req.description,
            instructions: req.instructions,
            embedding_config,
            organization_id: Some(actor.organization_id.clone()),
            metadata: req.metadata,
            created_by_id: Some(actor.user_id.clone()),
            last_updated_by_id: Some(actor.user_id.clone()),
            created_at: Some(ts),
            updated_at: Some(ts),
        };
        match self.store.create_source(&source).await {
            Ok(()) => Ok(source),
            Err(StoreError::Unique(_)) => Err(name_taken(&source.name)),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn modify(
        &self,
        actor: &Actor,
        source_id: &str,
        update: SourceUpdate,
    ) -> ServiceResult<Source> {
        let mut source = self
            .store
            .get_source(&actor.organization_id, source_id)
            .await?
            .ok_or_else(|| {
                ServiceError::NotFound(format!("Source with id={source_id} does not exist."))
            })?;
        if let Some(name) = update.name {
            check_name(&name)?;
            source.name = name;
        }
        if let Some(d) = update.description {
            source.description = Some(d);
        }
        if let Some(i) = update.instructions {
            source.instructions = Some(i);
        }
        if let Some(m) = update.metadata {
            source.metadata = Some(m);
        }
        if let Some(c) = update.embedding_config {
            source.embedding_config = c;
        }
        source.updated_at = Some(now());
        source.last_updated_by_id = Some(actor.user_id.clone());
        match self.store.update_source(&source).await {
            Ok(true) => Ok(source),
            Ok(false) => Err(source_not_found(source_id)),
            Err(StoreError::Unique(_)) => Err(name_taken(&source.name)),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes the source, its files and passages, and detaches it from every agent; returns
    /// the agents it was attached to (their prompts need recompiling).
    pub async fn delete(&self, actor: &Actor, source_id: &str) -> ServiceResult<Removed<Source>> {
        self.store
            .delete_source(&actor.organization_id, source_id)
            .await?
            .ok_or_else(|| source_not_found(source_id))
    }

    pub async fn list(&self, actor: &Actor) -> ServiceResult<Vec<Source>> {
        Ok(self.store.list_sources(&actor.organization_id).await?)
    }

    pub async fn count(&self, actor: &Actor) -> ServiceResult<i64> {
        Ok(self.store.count_sources(&actor.organization_id).await?)
    }

    pub async fn id_by_name(&self, actor: &Actor, name: &str) -> ServiceResult<String> {
        self.store
            .get_source_by_name(&actor.organization_id, name)
            .await?
            .map(|s| s.id)
            .ok_or_else(|| ServiceError::NotFound(format!("Source with name={name} not found.")))
    }

    pub async fn metadata(&self, actor: &Actor) -> ServiceResult<OrganizationSourcesStats> {
        Ok(self.store.sources_metadata(&actor.organization_id).await?)
    }

    /// The source's passages in (created_at, id) order between the cursors; 404 for an
    /// unknown source.
    pub async fn passages(
        &self,
        actor: &Actor,
        source_id: &str,
        after: Option<&str>,
        before: Option<&str>,
        limit: Option<i64>,
    ) -> ServiceResult<Vec<Passage>> {
        let source = self.get(actor, source_id).await?;
        Ok(self
            .store
            .list_source_passages(&actor.organization_id, &source.id, after, before, limit)
            .await?)
    }
}
