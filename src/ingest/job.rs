//! The file → passages job: parse, store the text, show the file to the agents of its
//! source, chunk, embed in batches and store the passages, recording progress on the file
//! (`parsing` → `embedding` → `completed`, or `error` with the reason). Every write checks
//! that the file still exists and is still being ingested, so deleting the file or its
//! source meanwhile (or start-up recovery marking it failed) simply stops the job.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::file_types::{self, ChunkingStrategy};
use super::{chunker, lines, parse};
use crate::llm::ProviderKeys;
use crate::llm::embeddings::{EmbeddingModel, embedding_model_for};
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
    /// How long the job may go without showing it is alive before any replica's sweep takes
    /// it for dead and fails the file; the job touches the file three times as often.
    pub stale_after: Duration,
}

impl IngestLimits {
    pub fn from_config(config: &crate::config::Config) -> Self {
        IngestLimits {
            max_text_chars: config.max_file_text_chars,
            stale_after: config.run_stale_after(),
        }
    }
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
    let started = Instant::now();
    // The heartbeat ends with the job; should it find the file ended by someone else (a
    // delete, or a sweep that took this job for dead), the job is dropped where it stands.
    let outcome = tokio::select! {
        outcome = run(&store, &keys, upload, limits) => outcome,
        gone = heartbeat(&store, &file_id, limits.stale_after / 3) => Err(gone),
    };
    match outcome {
        Ok((chunks, took)) => tracing::info!(
            file_id = %file_id,
            chunks,
            elapsed_ms = started.elapsed().as_millis() as u64,
            parse_ms = took.parse.as_millis() as u64,
            chunk_ms = took.chunk.as_millis() as u64,
            embed_ms = took.embed.as_millis() as u64,
            insert_ms = took.insert.as_millis() as u64,
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

/// Touches the file every `every` while the job runs, so other replicas' sweeps see it
/// alive even while one embedding call or a long parse takes longer than the stale timeout.
/// Returns only when the file is gone or has ended.
async fn heartbeat(store: &DynStore, file_id: &str, every: Duration) -> Stop {
    let every = every.max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(every).await;
        match store
            .update_file_progress(file_id, &FileProgress::default())
            .await
        {
            Ok(true) => {}
            Ok(false) => return Stop::Gone,
            Err(err) => {
                tracing::warn!(file_id = %file_id, error = %err, "could not record that a file's ingestion is alive")
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

/// Where a job's time went (logged with the file's end): text extraction, chunking, waiting
/// for the embedder and writing the passages; the rest is bookkeeping (progress, the text,
/// the agents' views).
#[derive(Debug, Default, Clone, Copy)]
struct StageTimes {
    parse: Duration,
    chunk: Duration,
    embed: Duration,
    insert: Duration,
}

async fn run(
    store: &DynStore,
    keys: &ProviderKeys,
    upload: Upload,
    limits: IngestLimits,
) -> Result<(usize, StageTimes), Stop> {
    let mut took = StageTimes::default();
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
    let clock = Instant::now();
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
    took.parse = clock.elapsed();
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
    let clock = Instant::now();
    let chunks: Vec<String> = tokio::task::spawn_blocking(move || {
        pages
            .iter()
            .flat_map(|page| chunker::chunk_text(page, chunk_size))
            .collect()
    })
    .await
    .map_err(|e| Stop::Failed(format!("Chunking the file failed: {e}")))?;
    took.chunk = clock.elapsed();
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
    let make = PassageMaker {
        file: &file,
        source: &source,
        file_name: &file_name,
        user_id: &user_id,
        base: now(),
    };
    embed_and_store(store, &model, &chunks, &make, &mut took).await?;
    progress(store, &file.id, status(FileProcessingStatus::Completed)).await?;
    Ok((chunks.len(), took))
}

/// Embeds the chunks slice by slice and writes each slice's passages while the next slice
/// is being embedded, so waiting for the embedder and writing to the database overlap and
/// the slower of the two sets the pace (with a remote embedder, the embedder).
async fn embed_and_store(
    store: &DynStore,
    model: &EmbeddingModel,
    chunks: &[String],
    make: &PassageMaker<'_>,
    took: &mut StageTimes,
) -> Result<(), Stop> {
    let file_id = make.file.id.as_str();
    let slice = model.inputs_in_flight().max(1);
    let mut embedded: Option<Vec<Passage>> = None;
    for (index, group) in chunks.chunks(slice).enumerate() {
        let embed = async {
            let clock = Instant::now();
            let vectors = model.embed(group).await.map_err(|err| {
                Stop::Failed(format!(
                    "Embedding provider {} ({}) failed: {}",
                    err.provider,
                    model.endpoint(),
                    err.message
                ))
            })?;
            Ok::<_, Stop>((vectors, clock.elapsed()))
        };
        let (vectors, stored) = tokio::join!(embed, insert(store, file_id, embedded.take()));
        // A file deleted meanwhile wins over an embedding failure: nothing left to record.
        took.insert += stored?;
        let (vectors, waited) = vectors?;
        took.embed += waited;
        embedded = Some(make.passages(index * slice, group, vectors));
    }
    took.insert += insert(store, file_id, embedded).await?;
    Ok(())
}

/// Writes one slice of the file's passages (nothing for `None`); the time it took.
async fn insert(
    store: &DynStore,
    file_id: &str,
    passages: Option<Vec<Passage>>,
) -> Result<Duration, Stop> {
    let Some(passages) = passages else {
        return Ok(Duration::ZERO);
    };
    let clock = Instant::now();
    if !store.insert_file_passages(file_id, &passages).await? {
        return Err(Stop::Gone);
    }
    Ok(clock.elapsed())
}

/// The passages of one file's chunks.
struct PassageMaker<'a> {
    file: &'a FileMetadata,
    source: &'a Source,
    file_name: &'a str,
    user_id: &'a str,
    /// Creation time of the first chunk; each next one is a microsecond later.
    base: crate::schemas::Timestamp,
}

impl PassageMaker<'_> {
    /// The passages of `texts` (chunks `first..` of the file) with their vectors.
    fn passages(&self, first: usize, texts: &[String], vectors: Vec<Vec<f32>>) -> Vec<Passage> {
        texts
            .iter()
            .zip(vectors)
            .enumerate()
            .map(|(i, (text, embedding))| Passage {
                created_by_id: Some(self.user_id.to_owned()),
                last_updated_by_id: Some(self.user_id.to_owned()),
                // Chunks keep their order in listings sorted by creation time.
                created_at: self.base + chrono::Duration::microseconds((first + i) as i64),
                updated_at: None,
                is_deleted: false,
                organization_id: self.file.organization_id.clone(),
                agent_id: None,
                source_id: Some(self.source.id.clone()),
                file_id: Some(self.file.id.clone()),
                file_name: Some(self.file_name.to_owned()),
                metadata: Some(serde_json::Map::new()),
                id: new_id("passage"),
                text: text.clone(),
                embedding: Some(embedding),
                embedding_config: Some(self.source.embedding_config.clone()),
            })
            .collect()
    }
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
