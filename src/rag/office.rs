//! PDF and DOCX files: text with its place (PDF pages, DOCX headings).
//!
//! A PDF has no reliable headings, so each page is a section whose anchor is
//! `page=N`: browsers open `document.pdf#page=N` at that page, so citations land
//! where the passage is. A DOCX keeps its Word headings (`Heading1`...`Heading6`,
//! `Title`) as heading paths. Both parsers meet untrusted files: a panic inside
//! one becomes a readable error, and a DOCX's text part is read to a bounded size.

use std::io::{Cursor, Read};
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::extract::{ExtractError, Extracted, Outline, Section};

/// The largest `word/document.xml` read from a DOCX (it is compressed in the file).
const MAX_DOCX_XML: u64 = 64 * 1024 * 1024;

pub fn pdf(bytes: &[u8]) -> Result<Extracted, ExtractError> {
    if !bytes.starts_with(b"%PDF-") {
        return Err(ExtractError::Unreadable("The file is not a PDF (it does not start with %PDF-).".into()));
    }
    let pages = catch_unwind(AssertUnwindSafe(|| pdf_extract::extract_text_from_mem_by_pages(bytes)))
        .map_err(|_| ExtractError::Unreadable("The PDF is damaged and could not be read.".into()))?
        .map_err(|err| ExtractError::Unreadable(format!("The PDF could not be read: {err}.")))?;
    let sections = pages
        .into_iter()
        .enumerate()
        .map(|(i, text)| Section {
            headings: Vec::new(),
            anchor: Some(format!("page={}", i + 1)),
            text: tidy_pdf_text(&text),
        })
        .collect();
    Ok(Extracted { title: None, sections })
}

/// PDF text comes line by line as laid out; join lines into paragraphs
/// (a blank line stays a paragraph break) so that chunks split at sentences.
fn tidy_pdf_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for paragraph in text.split("\n\n") {
        let joined = paragraph.split_whitespace().collect::<Vec<_>>().join(" ");
        if !joined.is_empty() {
            out.push_str(&joined);
            out.push_str("\n\n");
        }
    }
    out.trim_end().to_owned()
}

pub fn docx(bytes: &[u8]) -> Result<Extracted, ExtractError> {
    let unreadable =
        |what: &str| ExtractError::Unreadable(format!("The DOCX file could not be read: {what}."));
    let mut archive =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|_| unreadable("it is not a ZIP archive"))?;
    let part = archive.by_name("word/document.xml").map_err(|_| unreadable("it has no word/document.xml"))?;
    let mut xml = String::new();
    part.take(MAX_DOCX_XML).read_to_string(&mut xml).map_err(|_| unreadable("its text part is damaged"))?;
    let document =
        roxmltree::Document::parse(&xml).map_err(|_| unreadable("its text part is not valid XML"))?;

    let mut outline = Outline::default();
    let mut title = None;
    for paragraph in document.descendants().filter(|n| n.has_tag_name((WORD, "p"))) {
        let text = paragraph_text(paragraph);
        if text.trim().is_empty() {
            continue;
        }
        match heading_level(paragraph) {
            Some(level) => {
                if title.is_none() && level <= 1 {
                    title = Some(text.trim().to_owned());
                }
                let anchor = super::extract::slug(&text);
                outline.heading(level, text.trim().to_owned(), Some(anchor).filter(|a| !a.is_empty()));
            }
            None => {
                outline.text.push_str(&text);
                outline.text.push_str("\n\n");
            }
        }
    }
    Ok(Extracted { title, sections: outline.finish() })
}

const WORD: &str = "http://schemas.openxmlformats.org/wordprocessingml/2006/main";

/// `Heading1`..`Heading6` (and `Title`, as level 0) from the paragraph's style.
fn heading_level(paragraph: roxmltree::Node<'_, '_>) -> Option<usize> {
    let style = paragraph
        .descendants()
        .find(|n| n.has_tag_name((WORD, "pStyle")))?
        .attribute((WORD, "val"))?
        .to_ascii_lowercase();
    if style == "title" {
        return Some(0); // above Heading1
    }
    let level: usize = style.strip_prefix("heading")?.trim().parse().ok()?;
    (1..=6).contains(&level).then_some(level)
}

fn paragraph_text(paragraph: roxmltree::Node<'_, '_>) -> String {
    let mut text = String::new();
    for node in paragraph.descendants() {
        if node.has_tag_name((WORD, "t")) {
            text.push_str(node.text().unwrap_or_default());
        } else if node.has_tag_name((WORD, "tab")) {
            text.push('\t');
        } else if node.has_tag_name((WORD, "br")) {
            text.push('\n');
        }
    }
    text
}
