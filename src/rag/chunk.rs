//! Sections into chunks of about `size` characters, split at the largest
//! boundary that fits (paragraphs, then sentences, then words), with `overlap`
//! characters repeated between neighbours so that no answer is cut in half
//! without a trace. A chunk never spans two sections, so it keeps one heading path.

use text_splitter::{ChunkConfig, MarkdownSplitter, TextSplitter};

use super::extract::{Kind, Section};
use crate::model::NewChunk;

/// Splits every section; `overlap` must be smaller than `size`.
pub fn chunk(kind: Kind, sections: &[Section], size: usize, overlap: usize) -> Vec<NewChunk> {
    let config = || ChunkConfig::new(size).with_overlap(overlap).unwrap_or_else(|_| ChunkConfig::new(size));
    let markdown = MarkdownSplitter::new(config());
    let text = TextSplitter::new(config());
    let mut chunks = Vec::new();
    for section in sections {
        let pieces: Vec<&str> = match kind {
            Kind::Markdown => markdown.chunks(&section.text).collect(),
            Kind::Text | Kind::Html | Kind::Pdf | Kind::Docx | Kind::Webpage => {
                text.chunks(&section.text).collect()
            }
        };
        for piece in pieces {
            let piece = piece.trim();
            if !piece.is_empty() {
                chunks.push(NewChunk {
                    heading_path: section.headings.join(" > "),
                    anchor: section.anchor.clone(),
                    text: piece.to_owned(),
                    vector: None,
                });
            }
        }
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_sections_split_at_sentences_and_keep_their_path() {
        let sentence = "Docent answers questions from your documents. ";
        let section = Section {
            headings: vec!["Guide".into(), "Install".into()],
            anchor: Some("install".into()),
            text: sentence.repeat(60),
        };
        let chunks = chunk(Kind::Text, &[section], 500, 100);
        assert!(chunks.len() >= 6, "{}", chunks.len());
        for c in &chunks {
            assert!(c.text.chars().count() <= 500);
            assert!(c.text.ends_with('.'), "split inside a sentence: {:?}", c.text);
            assert_eq!(c.heading_path, "Guide > Install");
            assert_eq!(c.anchor.as_deref(), Some("install"));
        }
    }
}
