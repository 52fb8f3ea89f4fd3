//! Whether the workspace answers a question at all, before anything is said.
//!
//! A cosine threshold alone cannot tell "a question about these documents" from
//! "a question that sounds like them": both land near some passage. So the
//! decision weighs several signals of one search, each cheap because the search
//! already did the work:
//!
//! - **cosine**: the best passage's cosine to the question (dense search);
//! - **coverage**: how much of the question's salient words, weighted by their
//!   rarity in the workspace, the best passage holds, and the best three;
//! - **support**: the same for the best single sentence of those passages,
//!   the one an extractive answer would quote;
//! - **unknown**: the weight of words the workspace never uses, not even one
//!   or two letters off (a typo of a word it uses is not a gap);
//! - **agreement**: how many of keyword search's first results dense search
//!   also ranks first.
//!
//! A logistic model turns them into a probability that the documents answer;
//! the bot answers when it reaches the bot's `answer_threshold`.

use std::collections::HashSet;

use serde::Serialize;
use utoipa::ToSchema;

use super::extractive::sentences;
use crate::rag::index::{TermUse, typo_edits};
use crate::rag::{Found, HEAD, Passage};

/// Passages whose words count as the answer's.
const PASSAGES: usize = 3;
/// A workspace of this many chunks is as sure as it can be that a word it
/// never uses is a gap: see [`rarity`].
const VOCABULARY_CHUNKS: f64 = 100.0;

/// The threshold of a bot that has none of its own. See [`WITH_DENSE`].
pub const DEFAULT_THRESHOLD: f32 = 0.5;

/// Coefficients of the logistic model: intercept, then one per signal in the
/// order of [`Signals::features`].
struct Model {
    intercept: f32,
    weights: [f32; FEATURES],
}

const FEATURES: usize = 7;

// Both models were fitted by `eval/fit.py` (L2-regularised logistic
// regression, λ = 0.1) on the tuning split of `eval/questions.jsonl`: 73
// answerable and 45 near-domain unanswerable questions over git's manual,
// all-MiniLM-L6-v2 embeddings, chunks of 1000/150. The held-out split never
// took part; `eval/README.md` reports on it.

/// With an embedding model (cosine and agreement known).
const WITH_DENSE: Model =
    Model { intercept: -12.538, weights: [3.998, 3.989, 2.103, 4.855, -2.589, 1.903, 2.783] };
/// Keyword search alone (no cosine, no agreement), fitted on keyword search's results.
const KEYWORD_ONLY: Model =
    Model { intercept: -14.602, weights: [0.0, 5.138, 3.173, 6.030, -1.771, 0.0, 3.743] };

/// The signals of one search, each in 0-1 but the cosine (-1 to 1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
pub struct Signals {
    /// The best cosine of any passage; absent without an embedding model.
    pub cosine: Option<f32>,
    /// Rarity-weighted share of the question's words in the best passage.
    pub coverage: f32,
    /// The same over the best three passages together.
    pub coverage_top3: f32,
    /// The same in the best single sentence of those passages.
    pub support: f32,
    /// Rarity-weighted share of the question's words the workspace never uses.
    pub unknown: f32,
    /// Share of keyword search's first five results that dense search also has in its first five.
    pub agreement: f32,
    /// The question's salient words.
    pub terms: usize,
}

impl Signals {
    fn features(&self) -> [f32; FEATURES] {
        #[allow(clippy::cast_precision_loss)]
        let terms = (1.0 + self.terms as f32).ln();
        [
            self.cosine.unwrap_or(0.0),
            self.coverage,
            self.coverage_top3,
            self.support,
            self.unknown,
            self.agreement,
            terms,
        ]
    }
}

/// The decision's inputs and its result.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct Answerability {
    /// The probability, 0-1, that the passages answer the question.
    pub score: f32,
    pub signals: Signals,
}

impl Answerability {
    /// Whether a bot with `threshold` (none: [`DEFAULT_THRESHOLD`]) answers.
    pub fn answers(&self, threshold: Option<f32>) -> bool {
        self.score >= threshold.unwrap_or(DEFAULT_THRESHOLD)
    }
}

/// Judges a search's results.
pub fn judge(found: &Found) -> Answerability {
    let signals = signals(found);
    let model = if signals.cosine.is_some() { &WITH_DENSE } else { &KEYWORD_ONLY };
    let logit = model.intercept
        + model.weights.iter().zip(signals.features()).map(|(weight, x)| weight * x).sum::<f32>();
    let score = if found.passages.is_empty() { 0.0 } else { 1.0 / (1.0 + (-logit).exp()) };
    Answerability { score, signals }
}

fn signals(found: &Found) -> Signals {
    let evidence = &found.evidence;
    let terms = &evidence.terms.terms;
    let weights: Vec<f32> = terms.iter().map(|t| rarity(t, evidence.terms.chunks)).collect();
    let total: f32 = weights.iter().sum();
    let share = |covered: &dyn Fn(&TermUse) -> bool| -> f32 {
        if total <= 0.0 {
            return 0.0;
        }
        terms.iter().zip(&weights).filter(|(t, _)| covered(t)).map(|(_, w)| w).sum::<f32>() / total
    };
    let passages: Vec<Vec<HashSet<String>>> =
        found.passages.iter().take(PASSAGES).map(sentence_words).collect();
    let in_passage =
        |term: &TermUse, passage: &[HashSet<String>]| passage.iter().any(|words| contains(words, term));
    let coverage = passages.first().map_or(0.0, |first| share(&|t| in_passage(t, first)));
    let coverage_top3 = share(&|t| passages.iter().any(|p| in_passage(t, p)));
    let support = passages.iter().flatten().map(|words| share(&|t| contains(words, t))).fold(0.0, f32::max);

    let unknown = share(&|t| t.chunks == 0 && !t.near);
    let cosine = evidence.dense_head.first().map(|&(_, cosine)| cosine);
    #[allow(clippy::cast_precision_loss)]
    let agreement = if evidence.dense_head.is_empty() {
        0.0
    } else {
        let dense: HashSet<i64> = evidence.dense_head.iter().map(|&(id, _)| id).collect();
        evidence.keyword_head.iter().filter(|id| dense.contains(id)).count() as f32 / HEAD as f32
    };
    Signals { cosine, coverage, coverage_top3, support, unknown, agreement, terms: terms.len() }
}

/// The salient words of each sentence of a passage, and of its title and
/// heading path together (the keyword index reads them with the text, and
/// they say what every sentence under them is about).
fn sentence_words(passage: &Passage) -> Vec<HashSet<String>> {
    let hit = &passage.hit;
    let place = format!("{}\n{}", hit.title, hit.heading_path);
    let mut words: Vec<HashSet<String>> =
        sentences(&hit.text, &HashSet::new()).into_iter().map(|s| s.words).collect();
    words.push(crate::rag::index::keywords(&place).into_iter().collect());
    words
}

/// Whether `words` hold the term, or (for a typo) a word it is a typo of.
fn contains(words: &HashSet<String>, term: &TermUse) -> bool {
    words.contains(&term.term) || (term.near && words.iter().any(|w| is_typo_of(&term.term, w)))
}

/// A word's weight: its inverse document frequency in the workspace (BM25's),
/// scaled so that a word no chunk has weighs 1 — in a large workspace. That a
/// few pages never say "store" or "take" says little (they may say "keep" and
/// "last"); that a whole manual never does says much. So a word the workspace
/// never uses weighs 1 - e^(-chunks / 100): 0.1 for ten chunks, 0.63 for a
/// hundred, 1 for `eval/`'s 5,021, where the models were fitted.
fn rarity(term: &TermUse, chunks: u32) -> f32 {
    let n = f64::from(chunks);
    if term.chunks == 0 && !term.near {
        #[allow(clippy::cast_possible_truncation)]
        return (1.0 - (-n / VOCABULARY_CHUNKS).exp()) as f32;
    }
    let idf = |df: f64| (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
    #[allow(clippy::cast_possible_truncation)]
    let weight = (idf(f64::from(term.chunks.min(chunks))) / idf(0.0)) as f32;
    weight.clamp(0.0, 1.0)
}

/// Whether `typo` is within [`typo_edits`] of `word`, as the keyword index judges typos.
fn is_typo_of(typo: &str, word: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (typo.chars().collect(), word.chars().collect());
    let most = usize::from(typo_edits(a.len()));
    if a.len().abs_diff(b.len()) > most {
        return false;
    }
    // Damerau-Levenshtein (adjacent transpositions count one), as tantivy's.
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1).min(rows[i][j - 1] + 1).min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()] <= most
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_are_one_or_two_edits() {
        assert!(is_typo_of("pasword", "password"));
        assert!(is_typo_of("comit", "commit"));
        assert!(is_typo_of("recieve", "receive"), "a swap is one edit");
        assert!(!is_typo_of("cat", "dog"));
        assert!(is_typo_of("configuraton", "configuration"));
        assert!(!is_typo_of("merge", "mergetool"));
    }

    #[test]
    fn rare_words_weigh_more_and_unknown_ones_most() {
        let term = |chunks| TermUse { term: "w".into(), chunks, near: false };
        assert!((rarity(&term(0), 5000) - 1.0).abs() < 1e-6);
        assert!(rarity(&term(1), 100) > rarity(&term(30), 100));
        assert!(rarity(&term(100), 100) < 0.1);
        assert!(rarity(&term(2), 3) > 0.0, "small workspaces weigh too");
        assert!(rarity(&term(0), 10) < 0.1, "a few pages' missing word is no gap");
        assert!(rarity(&term(0), 5000) > 0.99);
    }
}
