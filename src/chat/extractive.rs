//! Answers without a language model: the sentences of the best passages that
//! share the most of the question's words, quoted with where they come from.
//!
//! A few sentences from one or two sources read as an answer; a whole passage
//! reads as a search result. Sentences keep their order in the passage, and
//! a sentence next to the best one is preferred to a distant one, so the quote
//! reads as connected text.

use std::collections::HashSet;

use crate::rag::Passage;
use crate::rag::index::keywords;

/// Passages whose sentences are considered.
const PASSAGES: usize = 3;
/// Sentences quoted from the best source, and from a second one.
const FROM_BEST: usize = 3;
/// Characters quoted at most from one source.
const MAX_QUOTE_CHARS: usize = 700;
/// Shorter fragments (headings, list bullets) are not worth quoting alone...
const MIN_SENTENCE_CHARS: usize = 25;
/// ...unless they are a short sentence of their own ("Orders ship in two days.").
const MIN_SHORT_SENTENCE_WORDS: usize = 3;

pub(super) struct Sentence {
    pub text: String,
    /// Position in its passage.
    index: usize,
    /// Its distinct salient words, stemmed ([`keywords`]).
    pub words: HashSet<String>,
    /// Distinct question words it contains.
    matched: usize,
}

/// The answer for `question` from `passages` (best first), with the positions of
/// the passages it quotes; `None` when there is nothing to quote.
pub fn answer(question: &str, passages: &[Passage]) -> Option<(String, Vec<usize>)> {
    let wanted: HashSet<String> = keywords(question).into_iter().collect();
    let mut quotes: Vec<(usize, String, String)> = Vec::new(); // (passage, where, quote)
    let mut best_matched = 0;
    for (rank, passage) in passages.iter().take(PASSAGES).enumerate() {
        let sentences = sentences(&passage.hit.text, &wanted);
        let matched = sentences.iter().map(|s| s.matched).max().unwrap_or(0);
        let quote = if rank == 0 {
            best_matched = matched;
            quote(&sentences, FROM_BEST)
        } else if matched > 0
            && matched >= best_matched
            && quotes.len() < 2
            && !is_same_place(passage, &passages[0])
        {
            // A second source that answers as well as the first is worth a line.
            quote(&sentences, 1)
        } else {
            None
        };
        if let Some(quote) = quote {
            quotes.push((rank, place(passage), quote));
        }
    }
    let (_, first_place, first_quote) = quotes.first()?;
    let mut reply = format!("From **{first_place}**:\n\n“{first_quote}”");
    for (_, place, quote) in quotes.iter().skip(1) {
        reply.push_str(&format!("\n\nAlso in **{place}**: “{quote}”"));
    }
    Some((reply, quotes.iter().map(|q| q.0).collect()))
}

fn is_same_place(a: &Passage, b: &Passage) -> bool {
    a.hit.document_id == b.hit.document_id && a.hit.heading_path == b.hit.heading_path
}

/// "Title › Section" (the heading path already starts with the title when it has one).
fn place(passage: &Passage) -> String {
    let hit = &passage.hit;
    let path = hit.heading_path.trim();
    let text = if path.is_empty() || path == hit.title {
        hit.title.clone()
    } else if path.starts_with(&hit.title) {
        path.to_owned()
    } else {
        format!("{} > {path}", hit.title)
    };
    text.replace(" > ", " › ").replace(['*', '`'], "")
}

/// The passage cut into sentences, with their matches. Lines wrapped inside a
/// paragraph are joined first (Markdown is often wrapped at 80-100 columns,
/// and a line's end is not a sentence's); a blank line, a list item, a heading,
/// a table row or a code line starts a block of its own.
pub(super) fn sentences(text: &str, wanted: &HashSet<String>) -> Vec<Sentence> {
    let mut out = Vec::new();
    for block in blocks(text) {
        let bytes = block.as_bytes();
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let ends =
                matches!(b, b'.' | b'!' | b'?') && bytes.get(i + 1).is_none_or(|n| n.is_ascii_whitespace());
            if ends || i + 1 == bytes.len() {
                push_sentence(&block[start..=i], wanted, &mut out);
                start = i + 1;
            }
        }
    }
    out
}

/// Paragraphs with their wrapped lines joined, and list items, headings, table
/// rows and code lines each alone.
fn blocks(text: &str) -> Vec<String> {
    let mut blocks: Vec<String> = Vec::new();
    let mut open = false; // whether the last block is a paragraph that may go on
    let mut in_code = false;
    for line in text.lines() {
        let trimmed = line.trim();
        let fence = trimmed.starts_with("```") || trimmed.starts_with("~~~");
        if fence {
            in_code = !in_code;
        }
        let alone = fence || in_code || starts_own_block(trimmed);
        if trimmed.is_empty() {
            open = false;
        } else if open && !alone {
            let last = blocks.last_mut().expect("an open block exists");
            last.push(' ');
            last.push_str(trimmed);
        } else {
            blocks.push(trimmed.to_owned());
            // A list item's wrapped lines continue it; a heading, a row or code does not.
            open = !fence && !in_code && !trimmed.starts_with(['#', '|']);
        }
    }
    blocks
}

/// Whether a line starts a block: a list item, a heading or a table row.
fn starts_own_block(line: &str) -> bool {
    let bullet = line.strip_prefix(['-', '*', '+', '•']).is_some_and(|rest| rest.starts_with(' '));
    let digits = line.len() - line.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let numbered = digits > 0 && line[digits..].starts_with(['.', ')']);
    bullet || numbered || line.starts_with(['#', '|'])
}

fn push_sentence(text: &str, wanted: &HashSet<String>, out: &mut Vec<Sentence>) {
    let text = text.trim().trim_start_matches(['-', '*', '•']).trim();
    let short = text.chars().count() < MIN_SENTENCE_CHARS;
    if short && (text.starts_with('#') || text.split_whitespace().count() < MIN_SHORT_SENTENCE_WORDS) {
        return;
    }
    let words: HashSet<String> = keywords(text).into_iter().collect();
    let matched = words.intersection(wanted).count();
    out.push(Sentence { text: text.to_owned(), index: out.len(), words, matched });
}

/// Up to `most` sentences: the best match and its best neighbours, in order.
fn quote(sentences: &[Sentence], most: usize) -> Option<String> {
    let best = sentences.iter().max_by_key(|s| (s.matched, std::cmp::Reverse(s.index)))?;
    let mut chosen = vec![best.index];
    let mut length = best.text.chars().count();
    // Then the neighbours, nearest first, while they add something and fit.
    for distance in 1..sentences.len() {
        for index in [best.index.checked_sub(distance), Some(best.index + distance)].into_iter().flatten() {
            let Some(s) = sentences.get(index) else { continue };
            let adds = s.matched > 0 || (distance == 1 && index > best.index);
            if chosen.len() < most && adds && length + s.text.chars().count() <= MAX_QUOTE_CHARS {
                chosen.push(index);
                length += s.text.chars().count();
            }
        }
    }
    chosen.sort_unstable();
    let quote: Vec<&str> = chosen.iter().map(|&i| sentences[i].text.as_str()).collect();
    Some(quote.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ChunkHit;

    fn passage(document_id: i64, title: &str, heading_path: &str, text: &str) -> Passage {
        Passage {
            hit: ChunkHit {
                chunk_id: document_id * 10,
                document_id,
                title: title.into(),
                source: format!("{title}.md"),
                url: None,
                heading_path: heading_path.into(),
                anchor: None,
                text: text.into(),
            },
            score: 1.0,
            similarity: None,
        }
    }

    #[test]
    fn quotes_the_sentences_that_answer_with_their_place() {
        let passages = [
            passage(
                1,
                "Guide",
                "Guide > Account",
                "Accounts are free for everyone who signs up. To reset your password, open Settings and choose \
                 Security. A reset link is then sent to your email address. Invoices are listed under Billing.",
            ),
            passage(2, "Pricing", "Pricing", "Plans are billed monthly and can be cancelled at any time."),
        ];
        let (reply, quoted) = answer("How do I reset my password?", &passages).unwrap();
        assert_eq!(quoted, [0]);
        assert!(reply.starts_with("From **Guide › Account**:"), "{reply}");
        assert!(reply.contains("To reset your password, open Settings and choose Security."), "{reply}");
        assert!(reply.contains("A reset link is then sent"), "the next sentence follows: {reply}");
        assert!(!reply.contains("Invoices"), "unrelated sentences stay out: {reply}");
        assert!(!reply.contains("Pricing"), "a source with none of the words is not quoted: {reply}");
    }

    #[test]
    fn wrapped_lines_make_one_sentence_and_list_items_stay_apart() {
        let text = "Docent talks to any server that speaks the OpenAI API: OpenAI itself,\n\
                    Ollama, vLLM or LM Studio. Set the base URL, the model name and, when\n\
                    the server needs one, an API key.\n\n\
                    - Ollama runs models on your own machine for free\n\
                    - vLLM serves many visitors at once on a GPU\n\n\
                    ```\nllm.base_url = \"http://localhost:11434/v1\"\n```";
        let passages = [passage(1, "LLM", "LLM > Servers", text)];
        let (reply, _) = answer("Which base URL do I set for Ollama?", &passages).unwrap();
        assert!(
            reply.contains("Set the base URL, the model name and, when the server needs one, an API key."),
            "a wrapped sentence is quoted whole: {reply}"
        );
        let sentences = sentences(text, &HashSet::new());
        let texts: Vec<&str> = sentences.iter().map(|s| s.text.as_str()).collect();
        assert!(texts.contains(&"Ollama runs models on your own machine for free"), "{texts:?}");
        assert!(texts.contains(&"vLLM serves many visitors at once on a GPU"), "{texts:?}");
        assert!(texts.contains(&"llm.base_url = \"http://localhost:11434/v1\""), "{texts:?}");
    }

    #[test]
    fn a_one_line_document_is_quoted_without_its_heading() {
        let passages = [passage(1, "Shipping", "Shipping", "# Shipping\nOrders ship in two days.")];
        let (reply, quoted) = answer("How long does shipping take?", &passages).unwrap();
        assert_eq!(reply, "From **Shipping**:\n\n“Orders ship in two days.”");
        assert_eq!(quoted, [0]);
        let headings = [passage(1, "Shipping", "Shipping", "# Shipping and returns\n## Ship fast")];
        assert!(answer("shipping", &headings).is_none(), "headings alone are not an answer");
    }

    #[test]
    fn no_passages_no_answer() {
        assert!(answer("anything", &[]).is_none());
        let tiny = [passage(1, "T", "T", "Short.")];
        assert!(answer("anything", &tiny).is_none(), "nothing long enough to quote");
    }
}
