//! Files of sources: upload (answered at once, ingested in the background), listing,
//! metadata and deletion. Holds only what it needs: the store, the provider keys (for the
//! embedding calls of the job), the replica (recorded on the files it ingests) and limits.

use std::sync::Arc;

use crate::ingest::file_types;
use crate::ingest::job::{self, IngestLimits, Upload, UploadContent};
use crate::llm::ProviderKeys;
use crate::replica::ReplicaId;
use crate::schemas::common::now;
use crate::schemas::file::FileMetadata;
use crate::schemas::org::Actor;
use crate::schemas::source::Source;
use crate::services::sources::source_not_found;
use crate::services::{ServiceError, ServiceResult};
use crate::store::{DynStore, Removed};

/// Longest file name kept (the original's limit), extension included.
const MAX_FILE_NAME_CHARS: usize = 255;

/// Why an upload is refused before anything is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadRefused {
    /// 415.
    UnsupportedMediaType(String),
    /// 413.
    TooLarge(String),
    /// 400.
    Bad(String),
}

/// The media type of an upload, or the original's 415 message.
pub fn accepted_media_type(
    content_type: Option<&str>,
    file_name: &str,
) -> Result<String, UploadRefused> {
    file_types::upload_media_type(content_type, file_name).ok_or_else(|| {
        let shown = content_type
            .and_then(|c| c.split(';').next())
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .unwrap_or("unknown");
        UploadRefused::UnsupportedMediaType(format!(
            "Unsupported file type: {shown} (filename: {file_name}). Supported types: PDF, text \
             files (.txt, .md), JSON, and code files (.py, .js, .java, etc.)."
        ))
    })
}

/// A file name without directories or control characters, cut to the length limit
/// (keeping its extension).
pub fn sanitize_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let clean: String = base.chars().filter(|c| !c.is_control()).collect();
    let clean = clean.trim().to_owned();
    if clean.chars().count() <= MAX_FILE_NAME_CHARS {
        return clean;
    }
    let (stem, ext) = split_extension(&clean);
    let keep = MAX_FILE_NAME_CHARS.saturating_sub(ext.chars().count());
    format!("{}{ext}", stem.chars().take(keep).collect::<String>())
}

fn split_extension(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name, ""),
    }
}

pub struct FileService<'a> {
    store: &'a DynStore,
    keys: &'a Arc<ProviderKeys>,
    replica: &'a ReplicaId,
    limits: IngestLimits,
}

impl<'a> FileService<'a> {
    pub fn new(
        store: &'a DynStore,
        keys: &'a Arc<ProviderKeys>,
        replica: &'a ReplicaId,
        limits: IngestLimits,
    ) -> Self {
        FileService {
            store,
            keys,
            replica,
            limits,
        }
    }

    /// Records the file (`pending`) and starts its ingestion in the background; answers at
    /// once with the file's metadata. The caller has checked the media type and size.
    pub async fn upload(
        &self,
        actor: &Actor,
        source_id: &str,
        original_name: &str,
        media_type: String,
        bytes: Vec<u8>,
    ) -> ServiceResult<FileMetadata> {
        let source = self
            .store
            .get_source(&actor.organization_id, source_id)
            .await?
            .ok_or_else(|| source_not_found(source_id))?;
        let original = sanitize_file_name(original_name);
        if original.is_empty() {
            return Err(ServiceError::BadRequest(
                "The uploaded file has no name".to_owned(),
            ));
        }
        if bytes.is_empty() {
            return Err(ServiceError::BadRequest(format!(
                "The file {original} is empty"
            )));
        }
        // Names are unique within the source: a repeated upload gets a numbered name.
        let (stem, ext) = split_extension(&original);
        let n = self.store.count_files_named(&source.id, &original).await?;
        let file_name = if n == 0 {
            format!("{}/{original}", source.name)
        } else {
            format!("{}/{stem}_({n}){ext}", source.name)
        };
        let file_type = file_types::guess_media_type(&original).unwrap_or(media_type);
        let ts = now();
        let file = FileMetadata {
            file_type: Some(file_type),
            file_size: Some(bytes.len() as i64),
            ..FileMetadata::pending(&actor.organization_id, &source.id, file_name, original, ts)
        };
        self.store.create_file(&file, self.replica).await?;
        let upload = Upload {
            file: file.clone(),
            source,
            content: UploadContent::Bytes(bytes),
            user_id: actor.user_id.clone(),
        };
        tokio::spawn(job::ingest(
            self.store.clone(),
            self.keys.clone(),
            upload,
            self.limits,
        ));
        Ok(file.strip_directory_prefix())
    }

    /// The replica recorded on the files this service ingests.
    pub fn replica(&self) -> &ReplicaId {
        self.replica
    }

    /// Starts the background ingestion of a file written with its text (an imported agent
    /// file): chunked, embedded and stored as passages with the source's embedding
    /// configuration, the file's status moving as on an upload. Call after the file is
    /// committed.
    pub fn ingest_text(&self, file: FileMetadata, source: Source, text: String, user_id: String) {
        let upload = Upload {
            file,
            source,
            content: UploadContent::Text(text),
            user_id,
        };
        tokio::spawn(job::ingest(
            self.store.clone(),
            self.keys.clone(),
            upload,
            self.limits,
        ));
    }

    pub async fn list(
        &self,
        actor: &Actor,
        source_id: &str,
        after: Option<&str>,
        limit: Option<i64>,
        include_content: bool,
    ) -> ServiceResult<Vec<FileMetadata>> {
        self.store
            .get_source(&actor.organization_id, source_id)
            .await?
            .ok_or_else(|| source_not_found(source_id))?;
        Ok(self
            .store
            .list_files(
                &actor.organization_id,
                source_id,
                after,
                limit,
                include_content,
            )
            .await?
            .into_iter()
            .map(FileMetadata::strip_directory_prefix)
            .collect())
    }

    /// The file of that source, or a 404.
    pub async fn get(
        &self,
        actor: &Actor,
        source_id: &str,
        file_id: &str,
        include_content: bool,
    ) -> ServiceResult<FileMetadata> {
        let file = self
            .store
            .get_file(&actor.organization_id, file_id, include_content)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("File with id={file_id} not found.")))?;
        if file.source_id != source_id {
            return Err(ServiceError::NotFound(format!(
                "File with id={file_id} not found in source {source_id}."
            )));
        }
        Ok(file.strip_directory_prefix())
    }

    /// Deletes the file of that source with its text, passages and agents' views of it
    /// (a job still ingesting it stops at its next write); returns the agents that had it.
    pub async fn delete(
        &self,
        actor: &Actor,
        source_id: &str,
        file_id: &str,
    ) -> ServiceResult<Removed<FileMetadata>> {
        self.get(actor, source_id, file_id, false).await?;
        self.store
            .delete_file(&actor.organization_id, file_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("File with id={file_id} not found.")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_directories_and_keep_their_extension_when_cut() {
        assert_eq!(sanitize_file_name("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_file_name("a\\b\\c.txt"), "c.txt");
        let long = format!("{}.md", "x".repeat(400));
        let cut = sanitize_file_name(&long);
        assert_eq!(cut.chars().count(), 255);
        assert!(cut.ends_with(".md"));
    }

    #[test]
    fn unknown_types_get_the_original_415_text() {
        let err = accepted_media_type(Some("image/png"), "a.png").unwrap_err();
        assert!(
            matches!(err, UploadRefused::UnsupportedMediaType(m) if m.starts_with("Unsupported file type: image/png (filename: a.png)"))
        );
    }
}
