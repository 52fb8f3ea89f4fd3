//! The chat turn's answer: passages from the bot's workspace, whether they
//! answer the question at all ([`answerable`]), and a reply made from them —
//! or the bot's fallback when they do not.

pub mod answerable;
mod decline;
pub mod extractive;
mod follow_up;

use serde::Serialize;
use utoipa::ToSchema;

use crate::llm::ChatMessage;
use crate::rag::{Found, KnowledgeBase, Passage, RagError, SearchMode};

pub use answerable::{Answerability, judge};
pub use decline::{Declines, NO_ANSWER};
pub use follow_up::{leans_on_history, search_query};

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
    /// The bot's fallback: nothing to cite, and the question goes on the unanswered list.
    pub fn fallback(message: &str) -> Self {
        Self { text: message.to_owned(), sources: Vec::new(), answered: false }
    }
}

/// The passages for `question` in the workspace, best first, with what the
/// search saw (for [`judge`]).
pub async fn passages(
    knowledge: &KnowledgeBase,
    workspace_id: i64,
    question: &str,
) -> Result<Found, RagError> {
    knowledge.find(workspace_id, question, PASSAGES, SearchMode::Hybrid).await
}

/// The reply without a language model, from passages judged to answer:
/// quotes of them, or the fallback when none has a sentence worth quoting.
pub fn extractive_reply(question: &str, passages: &[Passage], fallback: &str) -> Reply {
    match extractive::answer(question, passages) {
        Some((text, quoted)) => Reply {
            text,
            sources: quoted.iter().map(|&i| Source::of(&passages[i])).collect(),
            answered: true,
        },
        None => Reply::fallback(fallback),
    }
}

/// The sources of a generated reply: the passages it was given.
pub fn sources(passages: &[Passage]) -> Vec<Source> {
    passages.iter().map(Source::of).collect()
}

/// What the model is told besides the bot's own instructions.
const RULES: &str = "Answer the visitor's question using only the numbered passages below, which come from \
     this website's documentation; never invent facts, links or commands. Be brief and friendly, answer in the \
     visitor's language, and use Markdown lists and code where they help. You may mention the title of a \
     passage you rely on.";
/// What the model is told to do when the passages do not answer; the
/// fallback message follows. The marker lets Docent tell such a reply apart.
const WHEN_NOT_FOUND: &str = "If the passages do not contain the answer, do not answer from anything else: \
     begin your reply with the marker";
/// The instructions when the bot has none of its own.
const DEFAULT_SYSTEM_PROMPT: &str = "You are the helpful assistant of this website.";

/// Tokens a text costs, roughly (four characters a token, as for English).
fn tokens(text: &str) -> usize {
    text.chars().count().div_ceil(4)
}

/// The prompt for a language model: the bot's instructions and the rules
/// (with what to say, after [`NO_ANSWER`], when the passages do not answer:
/// `fallback`) with the passages, then as much of the recent conversation as fits in `budget`
/// tokens (newest kept first), then the question. Passages that do not fit are
/// left out from the least relevant.
pub fn prompt(
    system_prompt: &str,
    passages: &[Passage],
    history: &[(String, String)],
    question: &str,
    fallback: &str,
    budget: usize,
) -> Vec<ChatMessage> {
    let instructions =
        if system_prompt.trim().is_empty() { DEFAULT_SYSTEM_PROMPT } else { system_prompt.trim() };
    let mut system = format!(
        "{instructions}\n\n{RULES} {WHEN_NOT_FOUND} {NO_ANSWER} and then only this message, in the visitor's \
         language: {fallback}\n\nPassages:"
    );
    let mut used = tokens(&system) + tokens(question);
    for (n, passage) in passages.iter().enumerate() {
        let hit = &passage.hit;
        let place = if hit.heading_path.is_empty() { hit.title.clone() } else { hit.heading_path.clone() };
        let block = format!("\n\n[{}] {place}\n{}", n + 1, hit.text.trim());
        if used + tokens(&block) > budget {
            break;
        }
        used += tokens(&block);
        system.push_str(&block);
    }
    let mut earlier = Vec::new();
    for (role, content) in history.iter().rev() {
        if used + tokens(content) > budget {
            break;
        }
        used += tokens(content);
        let role = if role == "assistant" { "assistant" } else { "user" };
        earlier.push(ChatMessage { role, content: content.clone() });
    }
    earlier.reverse();
    let mut messages = vec![ChatMessage { role: "system", content: system }];
    messages.extend(earlier);
    messages.push(ChatMessage { role: "user", content: question.to_owned() });
    messages
}
