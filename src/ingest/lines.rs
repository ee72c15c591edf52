//! An agent's view of a file: its text cut into numbered lines (sentences for documents,
//! wrapped lines for prose), with a header saying which part is shown.

use super::file_types::ChunkingStrategy;

/// Target length of a wrapped prose line.
const PROSE_LINE_CHARS: usize = 100;

/// The file's units (lines, sentences or wrapped chunks), unnumbered.
pub fn units(text: &str, strategy: ChunkingStrategy) -> Vec<String> {
    match strategy {
        ChunkingStrategy::Documentation => sentences(text),
        ChunkingStrategy::Prose => wrap_words(text, PROSE_LINE_CHARS),
        ChunkingStrategy::Code => text
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        ChunkingStrategy::StructuredData | ChunkingStrategy::LineBased => text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
    }
}

/// Splits after `.`, `!` or `?` where whitespace and then an uppercase letter follow;
/// whitespace inside a sentence collapses to one space.
fn sentences(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.trim().chars().collect();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < chars.len() {
        if matches!(chars[i], '.' | '!' | '?') {
            let mut j = i + 1;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            if j > i + 1 && j < chars.len() && chars[j].is_ascii_uppercase() {
                out.push(chars[start..=i].iter().collect::<String>());
                start = j;
                i = j;
                continue;
            }
        }
        i += 1;
    }
    if start < chars.len() {
        out.push(chars[start..].iter().collect());
    }
    out.into_iter()
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .collect()
}

/// Words joined into lines of about `target` characters.
fn wrap_words(text: &str, target: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut length = 0;
    for word in text.split_whitespace() {
        let n = word.chars().count();
        if !current.is_empty() && length + n + current.len() > target {
            lines.push(current.join(" "));
            current.clear();
            length = 0;
        }
        current.push(word);
        length += n;
    }
    if !current.is_empty() {
        lines.push(current.join(" "));
    }
    lines
}

/// A window of the file, 0-based `start` (inclusive) and `end` (exclusive).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub start: Option<usize>,
    pub end: Option<usize>,
}

/// The numbered lines of `window` with the header line first, e.g.
/// `[Viewing file start (out of 12 lines)]` then `1: …`. With `validate`, a window beyond
/// the file is an error naming the file.
pub fn render(
    file_name: &str,
    text: &str,
    strategy: ChunkingStrategy,
    window: Window,
    validate: bool,
) -> Result<Vec<String>, String> {
    let all = units(text, strategy);
    let total = all.len();
    let unit = strategy.unit();
    if validate {
        if let Some(start) = window.start
            && start >= total
        {
            return Err(format!(
                "File {file_name} has only {total} lines, but requested offset {} is out of range",
                start + 1
            ));
        }
        if let (Some(start), Some(end)) = (window.start, window.end)
            && end > total
        {
            return Err(format!(
                "File {file_name} has only {total} lines, but requested range {} to {end} extends beyond file bounds",
                start + 1
            ));
        }
    }
    let from = window.start.unwrap_or(0).min(total);
    let to = window.end.unwrap_or(total).clamp(from, total);
    let header = match (window.start, window.end) {
        (Some(s), Some(e)) => format!("[Viewing {unit} {} to {e} (out of {total} {unit})]", s + 1),
        (Some(s), None) => format!("[Viewing {unit} {} to end (out of {total} {unit})]", s + 1),
        _ => format!("[Viewing file start (out of {total} {unit})]"),
    };
    let mut out = Vec::with_capacity(to - from + 1);
    out.push(header);
    out.extend(
        all[from..to]
            .iter()
            .enumerate()
            .map(|(i, line)| format!("{}: {line}", from + i + 1)),
    );
    Ok(out)
}

/// The whole file as an agent first sees it when the file is opened.
pub fn full_view(file_name: &str, text: &str, strategy: ChunkingStrategy) -> String {
    render(file_name, text, strategy, Window::default(), false)
        .unwrap_or_default()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_keeps_indentation_and_drops_blank_lines() {
        let view = full_view("a.py", "def f():\n\n    return 1\n", ChunkingStrategy::Code);
        assert_eq!(
            view,
            "[Viewing file start (out of 2 lines)]\n1: def f():\n2:     return 1"
        );
    }

    #[test]
    fn documents_are_cut_into_sentences() {
        let got = units(
            "One two.  Three four! five. Six?",
            ChunkingStrategy::Documentation,
        );
        assert_eq!(got, vec!["One two.", "Three four! five.", "Six?"]);
    }

    #[test]
    fn prose_wraps_near_a_hundred_characters() {
        let text = "word ".repeat(60);
        let lines = units(&text, ChunkingStrategy::Prose);
        assert!(lines.iter().all(|l| l.len() <= 100), "{lines:?}");
        assert_eq!(lines.concat().matches("word").count(), 60);
    }

    #[test]
    fn windows_are_validated_and_numbered_from_their_start() {
        let text = "a\nb\nc\nd";
        let got = render(
            "f",
            text,
            ChunkingStrategy::LineBased,
            Window {
                start: Some(1),
                end: Some(3),
            },
            true,
        )
        .unwrap();
        assert_eq!(
            got,
            vec!["[Viewing lines 2 to 3 (out of 4 lines)]", "2: b", "3: c"]
        );
        let err = render(
            "f",
            text,
            ChunkingStrategy::LineBased,
            Window {
                start: Some(9),
                end: None,
            },
            true,
        )
        .unwrap_err();
        assert!(err.contains("has only 4 lines"), "{err}");
    }
}
