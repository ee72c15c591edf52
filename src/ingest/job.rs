//! The file → passages job: parse, store the text, show the file to the agents of its
//! source, chunk, embed in batches and store the passages, recording progress on the file
//! (`parsing` → `embedding` → `completed`, or `error` with the reason). Every write checks
//! that the file still exists and is still being ingested, so deleting the file or its
//! source meanwhile (or start-up recovery marking it failed) simply stops the job.

use std::sync::Arc;

use super::file_types::{self, ChunkingStrategy};
use super::{chunker, lines, parse};
use crate::llm::ProviderKeys;
use crate::llm::embeddings::embedding_model_for;
use crate::schemas::common::now;
use crate::schemas::file::{FileMetadata, FileProcessingStatus};
use crate::schemas::new_id;
use crate::schemas::passage::Passage;
use crate::schemas::source::Source;
use crate::store::{DynStore, FileProgress, FileToOpen};

/// Most files open at once in an agent's context (the original's limit).
pub const MAX_FILES_OPEN: usize = 5;

/// Limits applied while ingesting.
#[derive(Debug, Clone, Copy)]
pub struct IngestLimits {
    /// Most characters of extracted text a file may have.
    pub max_text_chars: usize,
}

/// A file accepted for ingestion, with what it is ingested from.
pub struct Upload {
    pub file: FileMetadata,
    pub source: Source,
    pub content: UploadContent,
    /// The user who uploaded it (recorded on the passages).
    pub user_id: String,
}

/// What a file is ingested from.
pub enum UploadContent {
    /// An uploaded file: parsed, its text stored, and shown to the agents of its source.
    Bytes(Vec<u8>),
    /// Text already stored with the file (an imported agent file): chunked and embedded
    /// only; the agents' views of the file were restored from the agent file.
    Text(String),
}

/// Why the job stopped early.
enum Stop {
    /// The file was deleted or has already ended: nothing more to record.
    Gone,
    /// Processing failed: the file is marked `error` with this message.
    Failed(String),
}

impl From<crate::store::StoreError> for Stop {
    fn from(err: crate::store::StoreError) -> Self {
        Stop::Failed(format!("Storing the file failed: {err}"))
    }
}

/// Runs the job to its end; never panics, every failure is recorded on the file.
pub async fn ingest(
    store: DynStore,
    keys: Arc<ProviderKeys>,
    upload: Upload,
    limits: IngestLimits,
) {
    let file_id = upload.file.id.clone();
    let started = std::time::Instant::now();
    match run(&store, &keys, upload, limits).await {
        Ok(chunks) => tracing::info!(
            file_id = %file_id,
            chunks,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "file ingested"
        ),
        Err(Stop::Gone) => {
            tracing::info!(file_id = %file_id, "file deleted while it was ingested; job stopped")
        }
        Err(Stop::Failed(message)) => {
            tracing::warn!(file_id = %file_id, error = %message, "file ingestion failed");
            let progress = FileProgress {
                status: Some(FileProcessingStatus::Error),
                error_message: Some(message),
                ..FileProgress::default()
            };
            if let Err(err) = store.update_file_progress(&file_id, &progress).await {
                tracing::error!(file_id = %file_id, error = %err, "could not record a file's failure");
            }
        }
    }
}

async fn progress(store: &DynStore, file_id: &str, progress: FileProgress) -> Result<(), Stop> {
    if store.update_file_progress(file_id, &progress).await? {
        Ok(())
    } else {
        Err(Stop::Gone)
    }
}

fn status(status: FileProcessingStatus) -> FileProgress {
    FileProgress {
        status: Some(status),
        ..FileProgress::default()
    }
}

async fn run(
    store: &DynStore,
    keys: &ProviderKeys,
    upload: Upload,
    limits: IngestLimits,
) -> Result<usize, Stop> {
    let Upload {
        file,
        source,
        content,
        user_id,
    } = upload;
    let file_name = file.file_name.clone().unwrap_or_default();
    let media_type = file.file_type.clone().unwrap_or_default();
    progress(store, &file.id, status(FileProcessingStatus::Parsing)).await?;

    let uploaded = matches!(content, UploadContent::Bytes(_));
    let pages = match content {
        UploadContent::Bytes(bytes) => {
            let media = media_type.clone();
            tokio::task::spawn_blocking(move || parse::extract_pages(&bytes, &media))
                .await
                .map_err(|e| Stop::Failed(format!("Parsing the file failed: {e}")))?
                .map_err(Stop::Failed)?
        }
        UploadContent::Text(text) => vec![text],
    };
    let text: String = pages.concat();
    let chars = text.chars().count();
    if chars > limits.max_text_chars {
        return Err(Stop::Failed(format!(
            "The file's text has {chars} characters; at most {} are accepted (LETTA_MAX_FILE_TEXT_CHARS)",
            limits.max_text_chars
        )));
    }
    if text.trim().is_empty() {
        return Err(Stop::Failed(
            "No text could be extracted from the file".to_owned(),
        ));
    }
    if uploaded && !store.set_file_content(&file.id, &text).await? {
        return Err(Stop::Gone);
    }
    progress(store, &file.id, status(FileProcessingStatus::Embedding)).await?;

    if uploaded {
        // The file is readable now: show it to every agent of the source.
        let strategy = file_types::strategy_for(Some(&media_type), &file_name);
        open_in_agents(store, &file, &source, &file_name, &text, strategy).await?;
    }

    let chunk_size = source
        .embedding_config
        .embedding_chunk_size
        .and_then(|s| usize::try_from(s).ok())
        .filter(|s| *s > 0)
        .unwrap_or(chunker::DEFAULT_CHUNK_SIZE);
    let chunks: Vec<String> = tokio::task::spawn_blocking(move || {
        pages
            .iter()
            .flat_map(|page| chunker::chunk_text(page, chunk_size))
            .collect()
    })
    .await
    .map_err(|e| Stop::Failed(format!("Chunking the file failed: {e}")))?;
    if chunks.is_empty() {
        return Err(Stop::Failed(
            "No chunks were created from the file's text".to_owned(),
        ));
    }
    progress(
        store,
        &file.id,
        FileProgress {
            total_chunks: Some(chunks.len() as i64),
            chunks_embedded: Some(0),
            ..FileProgress::default()
        },
    )
    .await?;

    let model = embedding_model_for(&source.embedding_config, keys)
        .map_err(|e| Stop::Failed(format!("Embedding setup failed: {e}")))?;
    let batch = usize::try_from(source.embedding_config.batch_size)
        .ok()
        .filter(|b| *b > 0)
        .unwrap_or(32)
        .saturating_mul(4);
    let base = now();
    for (group_index, group) in chunks.chunks(batch).enumerate() {
        let vectors = model.embed(group).await.map_err(|err| {
            Stop::Failed(format!(
                "Embedding provider {} ({}) failed: {}",
                err.provider,
                model.endpoint(),
                err.message
            ))
        })?;
        let passages: Vec<Passage> = group
            .iter()
            .zip(vectors)
            .enumerate()
            .map(|(i, (text, embedding))| {
                let n = (group_index * batch + i) as i64;
                Passage {
                    created_by_id: Some(user_id.clone()),
                    last_updated_by_id: Some(user_id.clone()),
                    // Chunks keep their order in listings sorted by creation time.
                    created_at: base + chrono::Duration::microseconds(n),
                    updated_at: None,
                    is_deleted: false,
                    organization_id: file.organization_id.clone(),
                    agent_id: None,
                    source_id: Some(source.id.clone()),
                    file_id: Some(file.id.clone()),
                    file_name: Some(file_name.clone()),
                    metadata: Some(serde_json::Map::new()),
                    id: new_id("passage"),
                    text: text.clone(),
                    embedding: Some(embedding),
                    embedding_config: Some(source.embedding_config.clone()),
                }
            })
            .collect();
        if !store.insert_file_passages(&file.id, &passages).await? {
            return Err(Stop::Gone);
        }
    }
    progress(store, &file.id, status(FileProcessingStatus::Completed)).await?;
    Ok(chunks.len())
}

async fn open_in_agents(
    store: &DynStore,
    file: &FileMetadata,
    source: &Source,
    file_name: &str,
    text: &str,
    strategy: ChunkingStrategy,
) -> Result<(), Stop> {
    let agent_ids = store.agents_of_source(&source.id).await?;
    if agent_ids.is_empty() {
        return Ok(());
    }
    let open = [FileToOpen {
        file_id: file.id.clone(),
        source_id: source.id.clone(),
        file_name: file_name.to_owned(),
        visible_content: lines::full_view(file_name, text, strategy),
    }];
    let org = file.organization_id.clone().unwrap_or_default();
    for agent_id in agent_ids {
        match store
            .open_files(&org, &agent_id, &open, MAX_FILES_OPEN)
            .await
        {
            Ok(_) => {}
            // The agent or the file went away meanwhile.
            Err(crate::store::StoreError::ForeignKey(_)) => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(())
}
