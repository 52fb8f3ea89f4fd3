//! Follow-up questions: "And on Windows?" after "How do I install Acme?" is
//! searched for as the conversation, not as its three words.
//!
//! A question leans on the conversation when it opens like a continuation
//! ("and ...", "what about ..."), is a bare phrase ("on Windows?"), or points
//! back with a pronoun ("what does it cost?"), and names little of its own.
//! Its search query is then the visitor's earlier questions, back to one that
//! stood on its own, followed by this one. Only the search uses it: the reply
//! still answers the question as it was asked.

use crate::rag::index::keywords;

/// Openings of a question that continues the one before.
const CONTINUATIONS: [&str; 9] =
    ["and", "what about", "how about", "also", "but", "or", "then", "same for", "same with"];
/// Openings of a bare phrase, a follow-up when it is short ("on Windows?").
const PHRASES: [&str; 6] = ["on", "in", "for", "with", "without", "via"];
/// Words that point back at something named earlier.
const POINTERS: [&str; 11] =
    ["it", "its", "that", "this", "these", "those", "they", "them", "their", "there", "one"];
/// A question naming more words of its own than this stands alone...
const MAX_OWN_WORDS: usize = 3;
/// ...and a bare phrase is a follow-up only with at most this many.
const MAX_PHRASE_WORDS: usize = 2;
/// Earlier questions a follow-up's query takes in at most.
const MAX_EARLIER: usize = 2;

/// Whether `question` leans on the questions before it.
pub fn leans_on_history(question: &str) -> bool {
    let own = keywords(question).len();
    if own > MAX_OWN_WORDS {
        return false;
    }
    let lower = question.to_lowercase();
    let words: Vec<&str> =
        lower.split(|c: char| !c.is_alphanumeric() && c != '\'').filter(|w| !w.is_empty()).collect();
    let opens_with = |opening: &str| {
        let opening: Vec<&str> = opening.split(' ').collect();
        words.starts_with(&opening)
    };
    CONTINUATIONS.iter().any(|o| opens_with(o))
        || (own <= MAX_PHRASE_WORDS && PHRASES.iter().any(|o| opens_with(o)))
        || words.iter().any(|w| POINTERS.contains(&w.trim_end_matches("'s")))
}

/// What to search for to answer `question`, given the conversation before
/// it (`(role, text)`, oldest first); only the visitor's questions count.
pub fn search_query(earlier: &[(String, String)], question: &str) -> String {
    if !leans_on_history(question) {
        return question.to_owned();
    }
    let asked = earlier.iter().filter(|(role, _)| role == "user").map(|(_, text)| text.as_str());
    let mut parts = vec![question];
    for asked in asked.rev().take(MAX_EARLIER) {
        parts.push(asked);
        if !leans_on_history(asked) {
            break;
        }
    }
    parts.reverse();
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follow_ups_are_told_from_questions_that_stand_alone() {
        let follow_ups = [
            "And on Windows?",
            "on windows?",
            "What about the Pro plan?",
            "What does it cost?",
            "Is that free?",
            "How do I install it?",
            "Same for macOS",
            "And?",
        ];
        for question in follow_ups {
            assert!(leans_on_history(question), "{question:?} is a follow-up");
        }
        let standalone = [
            "How do I install Acme on Windows?",
            "When are invoices sent?",
            "Can I use Ollama?",
            "Where is my data stored?",
            "In which file do I set the model and the base URL?",
            "Pricing",
        ];
        for question in standalone {
            assert!(!leans_on_history(question), "{question:?} stands alone");
        }
    }

    /// A conversation of these questions, each answered.
    fn asked(questions: &[&str]) -> Vec<(String, String)> {
        let turn = |role: &str, text: &str| (role.to_owned(), text.to_owned());
        questions
            .iter()
            .flat_map(|q| [turn("user", q), turn("assistant", "An answer about Windows.")])
            .collect()
    }

    #[test]
    fn a_follow_up_is_searched_with_the_questions_it_continues() {
        let earlier = asked(&["When are invoices sent?", "How do I install Acme?"]);
        assert_eq!(search_query(&earlier, "And on Windows?"), "How do I install Acme? And on Windows?");
        assert_eq!(search_query(&earlier, "Can I use Ollama?"), "Can I use Ollama?");
        assert_eq!(search_query(&[], "And on Windows?"), "And on Windows?", "nothing to lean on");
        // A chain of follow-ups goes back to the question that started it, and no further.
        let chain = asked(&["When are invoices sent?", "How do I install Acme?", "And on Windows?"]);
        assert_eq!(
            search_query(&chain, "What about macOS?"),
            "How do I install Acme? And on Windows? What about macOS?"
        );
    }
}
