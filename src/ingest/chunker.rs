//! Splits archival-memory text into passages the way the original does (spec
//! groups-memory-tools §4.3): chunks of at most `chunk_size` cl100k tokens, cut at paragraph
//! breaks first, then between sentences, then between clauses, words and finally characters;
//! each chunk after the first starts with up to [`CHUNK_OVERLAP`] tokens of the previous one.

/// Tokens of the previous chunk repeated at the start of the next.
pub const CHUNK_OVERLAP: usize = 200;

/// Chunk size used when an embedding configuration names none.
pub const DEFAULT_CHUNK_SIZE: usize = 300;

/// Paragraphs are separated by this.
const PARAGRAPH_SEPARATOR: &str = "\n\n\n";

/// Characters that end a clause (the original's secondary split).
const CLAUSE_ENDS: &[char] = &[',', '.', ';', '。', '？', '！'];

/// Words after which a period does not end a sentence.
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "inc", "ltd",
    "co", "no", "fig", "approx", "dept", "mt", "jan", "feb", "mar", "apr", "jun", "jul", "aug",
    "sep", "sept", "oct", "nov", "dec", "u.s", "a.m", "p.m",
];

/// A piece of text that fits in a chunk, with its size.
#[derive(Debug, Clone)]
struct Split {
    text: String,
    tokens: usize,
    is_sentence: bool,
}

fn token_count(text: &str) -> usize {
    tiktoken_rs::cl100k_base_singleton()
        .encode_with_special_tokens(text)
        .len()
}

/// The overlap used for a chunk size: [`CHUNK_OVERLAP`], or half the chunk size when that is
/// not larger (the original refuses chunk sizes below its overlap).
pub fn overlap_for(chunk_size: usize) -> usize {
    if chunk_size > CHUNK_OVERLAP {
        CHUNK_OVERLAP
    } else {
        chunk_size / 2
    }
}

/// The chunks of `text`, trimmed, none empty. A text that fits in one chunk gives exactly
/// one chunk (the trimmed text); a blank text gives none.
pub fn chunk_text(text: &str, chunk_size: usize) -> Vec<String> {
    let chunk_size = chunk_size.max(1);
    if text.trim().is_empty() {
        return Vec::new();
    }
    let splits = split(text, chunk_size);
    merge(splits, chunk_size, overlap_for(chunk_size))
}

/// The tokens of `text` when they are at most `limit`, else `None`. A text of more words
/// (runs of non-whitespace) than `limit` is too long without being encoded: cl100k's
/// pre-tokenizer never puts two words in one piece, so every word is at least one token of
/// its own. Encoding a whole file just to learn that it needs cutting used to cost more than
/// the rest of the chunking.
fn tokens_within(text: &str, limit: usize) -> Option<usize> {
    if text.split_whitespace().nth(limit).is_some() {
        return None;
    }
    let tokens = token_count(text);
    (tokens <= limit).then_some(tokens)
}

/// Cuts `text` into pieces of at most `chunk_size` tokens, by the coarsest rule that cuts it.
fn split(text: &str, chunk_size: usize) -> Vec<Split> {
    match tokens_within(text, chunk_size) {
        Some(tokens) => vec![Split {
            text: text.to_owned(),
            tokens,
            is_sentence: true,
        }],
        None => split_too_long(text, chunk_size),
    }
}

/// [`split`] of a text known to be longer than `chunk_size` tokens.
fn split_too_long(text: &str, chunk_size: usize) -> Vec<Split> {
    let (pieces, is_sentence) = split_once(text);
    if pieces.len() <= 1 {
        // One character of more tokens than a tiny chunk size (a CJK character or an emoji
        // is several): it cannot be cut, so it is a chunk of its own rather than a recursion
        // without end.
        return vec![Split {
            text: text.to_owned(),
            tokens: token_count(text),
            is_sentence,
        }];
    }
    let mut out = Vec::new();
    for piece in pieces {
        match tokens_within(&piece, chunk_size) {
            Some(tokens) => out.push(Split {
                text: piece,
                tokens,
                is_sentence,
            }),
            None => out.extend(split_too_long(&piece, chunk_size)),
        }
    }
    out
}

/// The first rule that cuts `text` in more than one piece, and whether its pieces are whole
/// sentences (or paragraphs).
fn split_once(text: &str) -> (Vec<String>, bool) {
    let paragraphs = split_keep_separator(text, PARAGRAPH_SEPARATOR);
    if paragraphs.len() > 1 {
        return (paragraphs, true);
    }
    let sentences = split_sentences(text);
    if sentences.len() > 1 {
        return (sentences, true);
    }
    let clauses = split_clauses(text);
    if clauses.len() > 1 {
        return (clauses, false);
    }
    let words = split_keep_separator(text, " ");
    if words.len() > 1 {
        return (words, false);
    }
    (text.chars().map(String::from).collect(), false)
}

/// `text` cut at each `sep`, the separator kept at the start of the piece that follows it;
/// empty pieces dropped.
fn split_keep_separator(text: &str, sep: &str) -> Vec<String> {
    text.split(sep)
        .enumerate()
        .map(|(i, part)| {
            if i == 0 {
                part.to_owned()
            } else {
                format!("{sep}{part}")
            }
        })
        .filter(|p| !p.is_empty())
        .collect()
}

/// Clauses: each piece ends after a run of clause-ending characters. Nothing is dropped.
fn split_clauses(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        current.push(c);
        if CLAUSE_ENDS.contains(&c) && chars.peek().is_none_or(|n| !CLAUSE_ENDS.contains(n)) {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Sentences, each with the whitespace that follows it; whitespace before the first
/// sentence is dropped. A sentence ends at `.`, `!` or `?` (with any closing quotes or
/// brackets) followed by whitespace, unless the period closes a known abbreviation or an
/// initial.
fn split_sentences(text: &str) -> Vec<String> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut starts = Vec::new();
    let first = chars.iter().find(|(_, c)| !c.is_whitespace());
    let Some(&(first, _)) = first else {
        return Vec::new();
    };
    starts.push(first);
    let mut i = 0;
    while i < chars.len() {
        let (_, c) = chars[i];
        if matches!(c, '.' | '!' | '?') {
            let mut j = i + 1;
            while j < chars.len() && matches!(chars[j].1, '.' | '!' | '?') {
                j += 1;
            }
            while j < chars.len() && matches!(chars[j].1, '"' | '\'' | ')' | ']' | '”' | '’') {
                j += 1;
            }
            let followed_by_space = j < chars.len() && chars[j].1.is_whitespace();
            if followed_by_space && !(c == '.' && j == i + 1 && is_abbreviation(text, chars[i].0)) {
                let mut k = j;
                while k < chars.len() && chars[k].1.is_whitespace() {
                    k += 1;
                }
                if k < chars.len() {
                    starts.push(chars[k].0);
                }
                i = k;
                continue;
            }
            i = j;
            continue;
        }
        i += 1;
    }
    starts
        .iter()
        .enumerate()
        .map(|(n, &start)| {
            let end = starts.get(n + 1).copied().unwrap_or(text.len());
            text[start..end].to_owned()
        })
        .collect()
}

/// Whether the period at byte `dot` closes an abbreviation or a single-letter initial.
fn is_abbreviation(text: &str, dot: usize) -> bool {
    let before = &text[..dot];
    let word_start = before
        .rfind(|c: char| c.is_whitespace() || c == '(' || c == '"')
        .map(|i| i + before[i..].chars().next().map_or(1, char::len_utf8))
        .unwrap_or(0);
    let word = &before[word_start..];
    if word.is_empty() {
        return false;
    }
    let mut letters = word.chars();
    if let (Some(c), None) = (letters.next(), letters.next())
        && c.is_alphabetic()
        && c.is_uppercase()
    {
        return true;
    }
    let lower = word.to_lowercase();
    ABBREVIATIONS.contains(&lower.as_str())
}

/// Packs the pieces into chunks of at most `chunk_size` tokens; each new chunk starts with
/// the last pieces of the previous one that fit in `overlap` tokens.
fn merge(splits: Vec<Split>, chunk_size: usize, overlap: usize) -> Vec<String> {
    let mut chunks: Vec<String> = Vec::new();
    let mut current: Vec<(String, usize)> = Vec::new();
    let mut current_len = 0usize;
    let mut new_chunk = true;
    let mut queue = std::collections::VecDeque::from(splits);

    let close = |current: &mut Vec<(String, usize)>,
                 current_len: &mut usize,
                 new_chunk: &mut bool,
                 chunks: &mut Vec<String>| {
        chunks.push(current.iter().map(|(t, _)| t.as_str()).collect());
        let last = std::mem::take(current);
        *current_len = 0;
        *new_chunk = true;
        for (text, len) in last.into_iter().rev() {
            if *current_len + len > overlap {
                break;
            }
            *current_len += len;
            current.insert(0, (text, len));
        }
    };

    while let Some(next) = queue.front() {
        if current_len + next.tokens > chunk_size && !new_chunk {
            close(&mut current, &mut current_len, &mut new_chunk, &mut chunks);
        } else if next.is_sentence || current_len + next.tokens <= chunk_size || new_chunk {
            let Some(next) = queue.pop_front() else { break };
            current_len += next.tokens;
            current.push((next.text, next.tokens));
            new_chunk = false;
        } else {
            close(&mut current, &mut current_len, &mut new_chunk, &mut chunks);
        }
    }
    if !new_chunk {
        chunks.push(current.iter().map(|(t, _)| t.as_str()).collect());
    }
    chunks
        .into_iter()
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_text_gives_no_chunk_and_short_text_one_trimmed_chunk() {
        assert!(chunk_text("", 300).is_empty());
        assert!(chunk_text("  \n\t ", 300).is_empty());
        assert_eq!(
            chunk_text("  The capital of France is Paris.\n", 300),
            ["The capital of France is Paris."]
        );
    }

    #[test]
    fn sentences_keep_their_trailing_space_and_abbreviations_stay_whole() {
        assert_eq!(
            split_sentences("  Hello there. Mr. Smith went home! Did he? Yes."),
            ["Hello there. ", "Mr. Smith went home! ", "Did he? ", "Yes."]
        );
        assert_eq!(
            split_sentences("Pi is 3.14 roughly. J. R. R. Tolkien wrote it."),
            ["Pi is 3.14 roughly. ", "J. R. R. Tolkien wrote it."]
        );
        assert_eq!(
            split_sentences("He said \"stop.\" Then left."),
            ["He said \"stop.\" ", "Then left."]
        );
    }

    #[test]
    fn a_text_of_more_words_than_the_limit_has_more_tokens() {
        let samples = [
            "plain words in a row",
            "it's, they're: don't-stop! 12345678 x1y2 ;; -- ... ???",
            "  leading and trailing  \n\n spaces\t\ttabs\r\nlines  ",
            "üñíçødé wörds, ça va? 東京 タワー 北京 中文 文字",
            "emoji 🙂🙃 mixed👍 <|endoftext|>special a<|endoftext|>b",
            "a b c d e f g h i j k l m n o p q r s t u v w x y z",
            "'s 't 're 've 'm 'll 'd ' s '' \u{200b}zero\u{200b}width",
        ];
        for text in samples {
            let words = text.split_whitespace().count();
            assert!(token_count(text) >= words, "{text:?}");
            for limit in 0..words {
                assert_eq!(tokens_within(text, limit), None, "{text:?} at {limit}");
            }
            assert_eq!(tokens_within(text, 10_000), Some(token_count(text)));
        }
    }

    #[test]
    fn a_character_longer_than_a_tiny_chunk_is_a_chunk_of_its_own() {
        // Each of these characters is more than one token.
        let text = "东京塔。🙂 é";
        for size in 1..4 {
            let chunks = chunk_text(text, size);
            assert!(!chunks.is_empty());
            for c in ["东", "京", "塔", "🙂"] {
                assert!(
                    chunks.iter().any(|chunk| chunk.contains(c)),
                    "{c} at {size}"
                );
            }
        }
    }

    #[test]
    fn clauses_and_words_lose_nothing() {
        assert_eq!(split_clauses("a, b.. c;d"), ["a,", " b..", " c;", "d"]);
        assert_eq!(split_keep_separator("a  b c", " "), ["a", " ", " b", " c"]);
        assert_eq!(
            split_keep_separator("p1\n\n\np2\n\n\n", PARAGRAPH_SEPARATOR),
            ["p1", "\n\n\np2", "\n\n\n"]
        );
    }

    #[test]
    fn long_text_is_cut_at_sentences_within_the_size_with_overlap() {
        let sentences: Vec<String> = (0..60)
            .map(|i| format!("Sentence number {i} talks about topic {i} in some detail."))
            .collect();
        let text = sentences.join(" ");
        let chunks = chunk_text(&text, 100);
        assert!(chunks.len() > 2, "{chunks:?}");
        for chunk in &chunks {
            assert!(token_count(chunk) <= 100, "{chunk}");
            // Whole sentences only.
            assert!(chunk.starts_with("Sentence number "), "{chunk}");
            assert!(chunk.ends_with("detail."), "{chunk}");
        }
        // Every sentence is somewhere, in order.
        let mut last = 0;
        for sentence in &sentences {
            let found = chunks.iter().position(|c| c.contains(sentence.as_str()));
            let found = found.unwrap_or_else(|| panic!("{sentence} missing"));
            assert!(found >= last);
            last = found;
        }
        // Consecutive chunks overlap: the next starts with the end of the previous.
        for pair in chunks.windows(2) {
            let first_sentence_of_next = pair[1].split(" detail.").next().unwrap();
            assert!(pair[0].contains(first_sentence_of_next), "{pair:?}");
        }
    }

    #[test]
    fn default_size_chunks_overlap_by_up_to_200_tokens() {
        let text: String = (0..200)
            .map(|i| format!("Fact {i}: the item labelled {i} is stored on shelf {i}. "))
            .collect();
        let chunks = chunk_text(&text, DEFAULT_CHUNK_SIZE);
        assert!(chunks.len() >= 3);
        for pair in chunks.windows(2) {
            assert!(token_count(&pair[0]) <= DEFAULT_CHUNK_SIZE);
            // The shared part is at most the overlap and at least one sentence.
            let next_first = pair[1].split(". ").next().unwrap();
            assert!(pair[0].contains(next_first), "{pair:?}");
        }
        let shared: usize = {
            let (a, b) = (&chunks[0], &chunks[1]);
            let mut best = 0;
            for (i, _) in b.char_indices() {
                if a.ends_with(b[..i].trim_end()) {
                    best = i;
                }
            }
            token_count(&b[..best])
        };
        assert!(shared > 100 && shared <= CHUNK_OVERLAP, "{shared}");
    }

    #[test]
    fn paragraphs_are_preferred_and_unbroken_text_falls_back_to_words_and_chars() {
        let para = |w: &str| vec![w; 120].join(" ") + ".";
        let text = format!("{}\n\n\n{}", para("alpha"), para("beta"));
        let chunks = chunk_text(&text, 150);
        assert_eq!(chunks.len(), 2, "{chunks:?}");
        assert!(chunks[0].starts_with("alpha") && !chunks[0].contains("beta"));
        assert!(chunks[1].starts_with("beta"));

        let long_word = "x".repeat(3000);
        let chunks = chunk_text(&long_word, 50);
        assert!(chunks.len() > 1);
        assert!(chunks.iter().all(|c| token_count(c) <= 50));
    }

    #[test]
    fn small_chunk_sizes_use_half_overlap() {
        assert_eq!(overlap_for(300), 200);
        assert_eq!(overlap_for(201), 200);
        assert_eq!(overlap_for(200), 100);
        assert_eq!(overlap_for(1), 0);
    }
}
