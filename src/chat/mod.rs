//! The chat turn's answer: passages from the bot's workspace, and a reply made
//! from them — or the bot's fallback when nothing relevant enough was found.

pub mod extractive;

use serde::Serialize;
use utoipa::ToSchema;

use crate::rag::{KnowledgeBase, Passage, RagError, SearchMode};

/// What a bot says when its documents hold nothing relevant enough.
pub const DEFAULT_FALLBACK: &str = "I'm sorry, I couldn't find that in the documentation I have. \
     Could you rephrase your question, or ask about something else?";

/// Below this cosine between the question and its best passage, the documents
/// are taken not to hold the answer. Calibrated on `eval/`: at 0.40, 98% of the
/// answerable questions are answered and 19% of the unanswerable ones declined
/// (0.45: 94% and 56%); a wrong "I don't know" costs more than a weak quote.
/// Without an embedding model there is no cosine, and any keyword match answers.
pub const MIN_SIMILARITY: f32 = 0.40;

/// Passages retrieved for a question.
const PASSAGES: usize = 5;
/// Characters of a passage shown with a source.
const SNIPPET_CHARS: usize = 240;

/// A passage an answer drew on, as the widget shows it under the answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Source {
    pub title: String,
    /// The file name or URL the document came from.
    pub source: String,
    /// Where to read it (with the section's `#fragment`), when known.
    pub url: Option<String>,
    pub snippet: String,
}

impl Source {
    fn of(passage: &Passage) -> Self {
        let text = passage.hit.text.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut snippet: String = text.chars().take(SNIPPET_CHARS).collect();
        if text.chars().count() > SNIPPET_CHARS {
            snippet.push('…');
        }
        Self {
            title: passage.hit.title.clone(),
            source: passage.hit.source.clone(),
            url: passage.citation_url(),
            snippet,
        }
    }
}

/// A reply and what it is based on.
#[derive(Debug, Clone)]
pub struct Reply {
    pub text: String,
    pub sources: Vec<Source>,
    /// False when the fallback was given: the question goes on the unanswered list.
    pub answered: bool,
}

impl Reply {
    fn fallback(message: &str) -> Self {
        Self { text: message.to_owned(), sources: Vec::new(), answered: false }
    }
}

/// Answers `question` from the workspace's documents without a language model.
pub async fn answer(
    knowledge: &KnowledgeBase,
    workspace_id: i64,
    question: &str,
    fallback: &str,
) -> Result<Reply, RagError> {
    let passages = knowledge.search(workspace_id, question, PASSAGES, SearchMode::Hybrid).await?;
    if !relevant(&passages) {
        return Ok(Reply::fallback(fallback));
    }
    Ok(match extractive::answer(question, &passages) {
        Some((text, quoted)) => Reply {
            text,
            sources: quoted.iter().map(|&i| Source::of(&passages[i])).collect(),
            answered: true,
        },
        None => Reply::fallback(fallback),
    })
}

/// Whether the passages are close enough to the question to answer from.
fn relevant(passages: &[Passage]) -> bool {
    let best = passages.iter().filter_map(|p| p.similarity).reduce(f32::max);
    !passages.is_empty() && best.is_none_or(|cosine| cosine >= MIN_SIMILARITY)
}
