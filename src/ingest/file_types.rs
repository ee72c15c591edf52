//! The file types a source accepts, as the original registers them: extension, media type
//! and how the text is cut into lines for an agent's view of the file.

/// How a file's text is cut into numbered lines for an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkingStrategy {
    /// Non-empty lines, indentation kept.
    Code,
    /// Non-empty lines, stripped.
    StructuredData,
    /// Sentences.
    Documentation,
    /// Words wrapped into lines of about 100 characters.
    Prose,
    /// Non-empty lines, stripped (the default).
    LineBased,
}

impl ChunkingStrategy {
    /// What a numbered unit is called in the view header.
    pub fn unit(self) -> &'static str {
        match self {
            ChunkingStrategy::Documentation => "sentences",
            ChunkingStrategy::Prose => "chunks",
            _ => "lines",
        }
    }
}

use ChunkingStrategy::{Code, Documentation, LineBased, Prose, StructuredData};

/// Extension, media type, strategy: every type an upload may have.
const FILE_TYPES: &[(&str, &str, ChunkingStrategy)] = &[
    (".pdf", "application/pdf", LineBased),
    (".txt", "text/plain", Prose),
    (".md", "text/markdown", Documentation),
    (".markdown", "text/markdown", Documentation),
    (".json", "application/json", StructuredData),
    (".jsonl", "application/jsonl", StructuredData),
    (".csv", "text/csv", StructuredData),
    (".py", "text/x-python", Code),
    (".js", "text/javascript", Code),
    (".ts", "text/x-typescript", Code),
    (".java", "text/x-java-source", Code),
    (".cpp", "text/x-c++", Code),
    (".cxx", "text/x-c++", Code),
    (".c", "text/x-c", Code),
    (".h", "text/x-c", Code),
    (".cs", "text/x-csharp", Code),
    (".php", "text/x-php", Code),
    (".rb", "text/x-ruby", Code),
    (".go", "text/x-go", Code),
    (".rs", "text/x-rust", Code),
    (".swift", "text/x-swift", Code),
    (".kt", "text/x-kotlin", Code),
    (".scala", "text/x-scala", Code),
    (".r", "text/x-r", Code),
    (".m", "text/x-objective-c", Code),
    (".html", "text/html", Code),
    (".htm", "text/html", Code),
    (".css", "text/css", StructuredData),
    (".scss", "text/x-scss", StructuredData),
    (".sass", "text/x-sass", StructuredData),
    (".less", "text/x-less", StructuredData),
    (".vue", "text/x-vue", Code),
    (".jsx", "text/x-jsx", Code),
    (".tsx", "text/x-tsx", Code),
    (".xml", "application/xml", StructuredData),
    (".yaml", "text/x-yaml", StructuredData),
    (".yml", "text/x-yaml", StructuredData),
    (".toml", "application/toml", StructuredData),
    (".ini", "text/x-ini", StructuredData),
    (".cfg", "text/x-conf", StructuredData),
    (".conf", "text/x-conf", StructuredData),
    (".sh", "text/x-shellscript", Code),
    (".bash", "text/x-shellscript", Code),
    (".ps1", "text/x-powershell", Code),
    (".bat", "text/x-batch", Code),
    (".cmd", "text/x-batch", Code),
    (".dockerfile", "text/x-dockerfile", Code),
    (".sql", "text/x-sql", Code),
];

/// Other media types accepted for the types above.
const ALIASES: &[&str] = &["text/x-markdown", "application/x-jsonlines", "text/xml"];

/// The media type a name's extension maps to when the type is guessed from the name (the
/// aliases registered last win, as with the original's mimetypes registrations).
const GUESS_OVERRIDES: &[(&str, &str)] = &[
    (".md", "text/x-markdown"),
    (".jsonl", "application/x-jsonlines"),
    (".xml", "text/xml"),
];

pub const PDF: &str = "application/pdf";

/// The lowercased extension of a file name, with its dot.
fn extension(file_name: &str) -> Option<String> {
    let base = file_name.rsplit('/').next().unwrap_or(file_name);
    let dot = base.rfind('.')?;
    (dot > 0 || base.len() > 1).then(|| base[dot..].to_ascii_lowercase())
}

fn is_allowed(media_type: &str) -> bool {
    FILE_TYPES.iter().any(|(_, m, _)| *m == media_type) || ALIASES.contains(&media_type)
}

/// The media type of an upload, from its declared `Content-Type` when that is an accepted
/// one, else from its name's extension; `None` when the file type is not accepted (415).
pub fn upload_media_type(content_type: Option<&str>, file_name: &str) -> Option<String> {
    let declared = content_type
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if is_allowed(&declared) {
        return Some(declared);
    }
    guess_media_type(file_name).filter(|m| is_allowed(m))
}

/// The media type a file name suggests, if its extension is known.
pub fn guess_media_type(file_name: &str) -> Option<String> {
    let ext = extension(file_name)?;
    if let Some((_, m)) = GUESS_OVERRIDES.iter().find(|(e, _)| *e == ext) {
        return Some((*m).to_owned());
    }
    FILE_TYPES
        .iter()
        .find(|(e, _, _)| *e == ext)
        .map(|(_, m, _)| (*m).to_owned())
}

/// How to cut a file's text into lines: by its media type when registered, else by its
/// name's extension, else line based.
pub fn strategy_for(media_type: Option<&str>, file_name: &str) -> ChunkingStrategy {
    if let Some(found) = media_type.and_then(|m| FILE_TYPES.iter().find(|(_, t, _)| *t == m)) {
        return found.2;
    }
    extension(file_name)
        .and_then(|ext| FILE_TYPES.iter().find(|(e, _, _)| *e == ext))
        .map_or(LineBased, |(_, _, s)| *s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_come_from_the_header_then_the_extension() {
        assert_eq!(
            upload_media_type(Some("text/plain; charset=utf-8"), "x.bin").as_deref(),
            Some("text/plain")
        );
        assert_eq!(
            upload_media_type(Some("application/octet-stream"), "notes.MD").as_deref(),
            Some("text/x-markdown")
        );
        assert_eq!(
            upload_media_type(None, "a.py").as_deref(),
            Some("text/x-python")
        );
        assert_eq!(upload_media_type(Some("image/png"), "a.png"), None);
        assert_eq!(upload_media_type(None, "noextension"), None);
    }

    #[test]
    fn strategies_follow_the_registry() {
        assert_eq!(strategy_for(Some("text/plain"), "a.txt"), Prose);
        assert_eq!(strategy_for(Some("text/x-markdown"), "a.md"), Documentation);
        assert_eq!(strategy_for(Some("text/x-python"), "a.py"), Code);
        assert_eq!(strategy_for(None, "a.unknown"), LineBased);
    }
}
