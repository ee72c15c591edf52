//! Turning an uploaded file's bytes into text, page by page: text formats are read as UTF-8,
//! PDFs are parsed here (the original sends them to a paid OCR service).

use super::file_types::PDF;

/// Most bytes a PDF's streams may inflate to while its text is read (a guard against
/// compression bombs).
const MAX_PDF_DECOMPRESSED_BYTES: usize = 512 * 1024 * 1024;

/// The text of a file, one entry per page (a text file is one page).
pub fn extract_pages(bytes: &[u8], media_type: &str) -> Result<Vec<String>, String> {
    if media_type == PDF {
        return pdf_pages(bytes);
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        format!(
            "The file is not valid UTF-8 text (invalid byte at offset {})",
            e.valid_up_to()
        )
    })?;
    // A byte-order mark is not part of the text.
    Ok(vec![text.trim_start_matches('\u{feff}').to_owned()])
}

fn pdf_pages(bytes: &[u8]) -> Result<Vec<String>, String> {
    let doc =
        lopdf::Document::load_mem(bytes).map_err(|e| format!("Could not read the PDF: {e}"))?;
    if doc.is_encrypted() {
        return Err("The PDF is encrypted; upload an unencrypted copy".to_owned());
    }
    let pages = doc.get_pages();
    if pages.is_empty() {
        return Err("The PDF has no pages".to_owned());
    }
    let mut out = Vec::with_capacity(pages.len());
    for number in pages.keys() {
        let text = doc
            .extract_text_with_limit(&[*number], MAX_PDF_DECOMPRESSED_BYTES)
            .map_err(|e| format!("Could not read the text of PDF page {number}: {e}"))?;
        out.push(text);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_must_be_utf8() {
        assert_eq!(extract_pages(b"hi", "text/plain").unwrap(), vec!["hi"]);
        let err = extract_pages(&[0x68, 0xff, 0x00], "text/plain").unwrap_err();
        assert!(err.contains("offset 1"), "{err}");
    }

    #[test]
    fn garbage_is_not_a_pdf() {
        let err = extract_pages(b"%PDF-1.4 nonsense", PDF).unwrap_err();
        assert!(err.starts_with("Could not read the PDF"), "{err}");
    }
}
