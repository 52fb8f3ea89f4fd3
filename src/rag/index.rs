//! This node's keyword index (BM25, tantivy), derived from the database.
//!
//! Each chunk is one tantivy document: its id, workspace, document, and a body of
//! title, heading path and text, stemmed for English. The commit payload records
//! the last change-feed sequence applied, so a restart resumes where it stopped;
//! an index that is missing or unreadable is rebuilt from the database.

use std::path::Path;
use std::sync::Mutex;

use tantivy::collector::{Count, TopDocs};
use tantivy::query::{BooleanQuery, BoostQuery, EnableScoring, FuzzyTermQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
    TokenStream,
};
use tantivy::{
    DocSet, Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TERMINATED, TantivyDocument, Term, doc,
};

use crate::model::IndexedChunk;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("search index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("search index folder: {0}")]
    Io(#[from] std::io::Error),
    #[error("search index writer lock poisoned")]
    Poisoned,
}

/// Distinct words of a query that are searched for; the rest are ignored.
const MAX_QUERY_TERMS: usize = 64;

/// Unknown words at least this long are looked up with typos allowed.
const MIN_FUZZY_LENGTH: usize = 4;
/// Edits a misspelt word of `length` letters may be from the word it means:
/// one, or two from eight letters on. Keyword search and answerability's
/// typo checks both go by it.
pub fn typo_edits(length: usize) -> u8 {
    if length >= 8 { 2 } else { 1 }
}

/// What a fuzzy match weighs (it scores 1, a BM25 term match a few points).
const FUZZY_BOOST: f32 = 1.5;

/// Words a question is full of that say nothing about what it asks: Lucene's
/// English stop words, and the pronouns and auxiliaries of questions ("how do I
/// ..."). They are in most passages, so their postings are the longest to walk
/// and they add little but noise to BM25; a query made only of them keeps them.
/// On `eval/`, leaving them out lifts keyword search alone (hit@1 0.461 to
/// 0.520) but not hybrid search (0.569 to 0.539), so it is the caller's choice.
const QUERY_STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no",
    "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to",
    "was", "will", "with", "i", "me", "my", "we", "our", "you", "your", "he", "she", "his", "her", "its",
    "do", "does", "did", "can", "could", "would", "should", "how", "what", "which", "who", "whom", "why",
    "where", "when", "am", "been", "have", "has", "had", "so", "than", "those", "from", "about",
];

/// Whether a search leaves out [`QUERY_STOP_WORDS`] (unless the query has nothing else).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopWords {
    Skip,
    Keep,
}

/// How one of a query's words stands in a workspace: how common it is there,
/// or, when no chunk has it, whether the workspace has a word it is a typo of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermUse {
    /// The word as indexed (lower case, stemmed).
    pub term: String,
    /// Live chunks of the workspace that contain it.
    pub chunks: u32,
    /// For a word in no chunk: whether a word of the workspace is one edit from
    /// it (two for words of eight letters or more).
    pub near: bool,
}

/// A query's salient words ([`keywords`]) as the workspace uses them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryTerms {
    pub terms: Vec<TermUse>,
    /// Live chunks in the workspace.
    pub chunks: u32,
}

/// tantivy's smallest per-thread indexing arena (15 MB).
const WRITER_ARENA_BYTES: usize = 15_000_000;

#[derive(Clone, Copy)]
struct Fields {
    chunk_id: Field,
    workspace_id: Field,
    document_id: Field,
    body: Field,
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let chunk_id = builder.add_u64_field("chunk_id", STORED | FAST | INDEXED);
    let workspace_id = builder.add_u64_field("workspace_id", INDEXED);
    let document_id = builder.add_u64_field("document_id", INDEXED);
    let body_options = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("en_stem")
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let body = builder.add_text_field("body", body_options);
    (builder.build(), Fields { chunk_id, workspace_id, document_id, body })
}

pub struct KeywordIndex {
    index: Index,
    /// Analyzers for queries: the body's (`en_stem`), and the same without stop words.
    query_words: TextAnalyzer,
    query_keywords: TextAnalyzer,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
}

/// Ids in tantivy are u64; database ids are positive i64.
fn id(value: i64) -> u64 {
    value.unsigned_abs()
}

impl KeywordIndex {
    /// Opens the index in `dir`, or makes a new empty one there (also when the one
    /// there is unreadable or of another schema: it is derived data).
    pub fn open(dir: &Path) -> Result<Self, IndexError> {
        std::fs::create_dir_all(dir)?;
        let (schema, fields) = schema();
        let index = match Index::open_in_dir(dir) {
            Ok(index) if index.schema() == schema => index,
            _ => {
                std::fs::remove_dir_all(dir)?;
                std::fs::create_dir_all(dir)?;
                Index::create_in_dir(dir, schema)?
            }
        };
        Self::with_index(index, fields)
    }

    /// An index in memory, for tests and benchmarks.
    pub fn in_memory() -> Result<Self, IndexError> {
        let (schema, fields) = schema();
        Self::with_index(Index::create_in_ram(schema), fields)
    }

    fn with_index(index: Index, fields: Fields) -> Result<Self, IndexError> {
        // One indexing thread with the smallest arena: documents arrive a few at a
        // time, and the memory stays free for serving.
        let writer = index.writer_with_num_threads(1, WRITER_ARENA_BYTES)?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let query_words = index.tokenizers().get("en_stem").ok_or_else(|| {
            IndexError::Tantivy(tantivy::TantivyError::InvalidArgument("no en_stem tokenizer".into()))
        })?;
        Ok(Self {
            index,
            query_words,
            query_keywords: keyword_analyzer(),
            reader,
            writer: Mutex::new(writer),
            fields,
        })
    }

    /// The last change-feed sequence this index has applied (0 for a new index).
    pub fn applied(&self) -> i64 {
        self.index
            .load_metas()
            .ok()
            .and_then(|meta| meta.payload)
            .and_then(|payload| payload.parse().ok())
            .unwrap_or(0)
    }

    /// Replaces everything indexed for `document_id` with `chunks` (none: removes it).
    pub fn replace_document(&self, document_id: i64, chunks: &[IndexedChunk]) -> Result<(), IndexError> {
        let writer = self.writer.lock().map_err(|_| IndexError::Poisoned)?;
        writer.delete_term(Term::from_field_u64(self.fields.document_id, id(document_id)));
        for chunk in chunks {
            self.add(&writer, chunk)?;
        }
        Ok(())
    }

    /// Adds chunks without removing anything first (a rebuild from empty).
    pub fn add_chunks(&self, chunks: &[IndexedChunk]) -> Result<(), IndexError> {
        let writer = self.writer.lock().map_err(|_| IndexError::Poisoned)?;
        for chunk in chunks {
            self.add(&writer, chunk)?;
        }
        Ok(())
    }

    fn add(&self, writer: &IndexWriter, chunk: &IndexedChunk) -> Result<(), IndexError> {
        let f = self.fields;
        let body = format!("{}\n{}\n{}", chunk.title, chunk.heading_path, chunk.text);
        writer.add_document(doc!(
            f.chunk_id => id(chunk.id),
            f.workspace_id => id(chunk.workspace_id),
            f.document_id => id(chunk.document_id),
            f.body => body,
        ))?;
        Ok(())
    }

    /// Removes one workspace's chunks (before rebuilding it).
    pub fn remove_workspace(&self, workspace_id: i64) -> Result<(), IndexError> {
        let writer = self.writer.lock().map_err(|_| IndexError::Poisoned)?;
        writer.delete_term(Term::from_field_u64(self.fields.workspace_id, id(workspace_id)));
        Ok(())
    }

    /// Removes everything (before a rebuild).
    pub fn clear(&self) -> Result<(), IndexError> {
        let writer = self.writer.lock().map_err(|_| IndexError::Poisoned)?;
        writer.delete_all_documents()?;
        Ok(())
    }

    /// Makes the changes so far visible and durable, recording `seq` as applied.
    pub fn commit(&self, seq: i64) -> Result<(), IndexError> {
        {
            let mut writer = self.writer.lock().map_err(|_| IndexError::Poisoned)?;
            let mut prepared = writer.prepare_commit()?;
            prepared.set_payload(&seq.to_string());
            prepared.commit()?;
        }
        self.reader.reload()?;
        Ok(())
    }

    /// The best chunks of one workspace for `query`, as (chunk id, BM25 score).
    /// Any text is accepted: what the query syntax can't parse is read as words.
    pub fn search(
        &self,
        workspace_id: i64,
        query: &str,
        limit: usize,
        stop_words: StopWords,
    ) -> Result<Vec<(i64, f32)>, IndexError> {
        let f = self.fields;
        // Visitors' text is words, never query syntax: tantivy's parser recurses on
        // nesting and a few hundred "(" overflow the stack. Tokenize as the body
        // was tokenized and ask for any of the terms (BM25 ranks them).
        let mut terms = match stop_words {
            StopWords::Skip => self.terms(&mut self.query_keywords.clone(), query),
            StopWords::Keep => Vec::new(),
        };
        if terms.is_empty() {
            terms = self.terms(&mut self.query_words.clone(), query);
        }
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let searcher = self.reader.searcher();
        let workspace = Term::from_field_u64(f.workspace_id, id(workspace_id));
        let mut words: Vec<(Occur, Box<dyn Query>)> = Vec::with_capacity(terms.len());
        for term in terms {
            // A word no chunk of the workspace contains is most likely misspelt:
            // match the indexed words within one or two edits instead (a flat
            // score, below a real match). Only this workspace's chunks decide, so
            // the ranking says nothing about what other workspaces hold.
            let length = term.value().as_str().map_or(0, |t| t.chars().count());
            let query: Box<dyn Query> =
                if length >= MIN_FUZZY_LENGTH && !occurs_in(&searcher, &workspace, &term)? {
                    let fuzzy = FuzzyTermQuery::new(term, typo_edits(length), true);
                    Box::new(BoostQuery::new(Box::new(fuzzy), FUZZY_BOOST))
                } else {
                    Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs))
                };
            words.push((Occur::Should, query));
        }
        let text_query: Box<dyn Query> = Box::new(BooleanQuery::new(words));
        let workspace = TermQuery::new(workspace, IndexRecordOption::Basic);
        let query = BooleanQuery::new(vec![(Occur::Must, Box::new(workspace)), (Occur::Must, text_query)]);
        let top = searcher.search(&query, &TopDocs::with_limit(limit.max(1)).order_by_score())?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let doc: TantivyDocument = searcher.doc(address)?;
            if let Some(chunk_id) = doc.get_first(f.chunk_id).and_then(|v| v.as_u64()) {
                hits.push((i64::try_from(chunk_id).unwrap_or(i64::MAX), score));
            }
        }
        Ok(hits)
    }

    /// How the workspace uses the salient words of `query`: the rarity and
    /// typo signals of answerability. One count per word (and a typo probe per
    /// word no chunk has), each bounded by the workspace's chunks with the word.
    pub fn term_use(&self, workspace_id: i64, query: &str) -> Result<QueryTerms, IndexError> {
        let searcher = self.reader.searcher();
        let workspace = Term::from_field_u64(self.fields.workspace_id, id(workspace_id));
        let in_workspace =
            || -> Box<dyn Query> { Box::new(TermQuery::new(workspace.clone(), IndexRecordOption::Basic)) };
        let chunks = searcher.search(&*in_workspace(), &Count)?;
        let mut terms = Vec::new();
        for term in self.terms(&mut self.query_keywords.clone(), query) {
            let Some(text) = term.value().as_str().map(str::to_owned) else { continue };
            let count = if searcher.doc_freq(&term)? == 0 {
                0
            } else {
                let both = BooleanQuery::new(vec![
                    (Occur::Must, in_workspace()),
                    (Occur::Must, Box::new(TermQuery::new(term.clone(), IndexRecordOption::Basic))),
                ]);
                searcher.search(&both, &Count)?
            };
            let length = text.chars().count();
            let near = count == 0 && length >= MIN_FUZZY_LENGTH && {
                let fuzzy = BooleanQuery::new(vec![
                    (Occur::Must, in_workspace()),
                    (Occur::Must, Box::new(FuzzyTermQuery::new(term, typo_edits(length), true))),
                ]);
                matches_any(&searcher, &fuzzy)?
            };
            terms.push(TermUse { term: text, chunks: u32::try_from(count).unwrap_or(u32::MAX), near });
        }
        Ok(QueryTerms { terms, chunks: u32::try_from(chunks).unwrap_or(u32::MAX) })
    }

    /// The distinct terms `analyzer` finds in `query`, at most [`MAX_QUERY_TERMS`].
    fn terms(&self, analyzer: &mut TextAnalyzer, query: &str) -> Vec<Term> {
        let mut terms = Vec::new();
        let mut stream = analyzer.token_stream(query);
        while let Some(token) = stream.next() {
            let term = Term::from_field_text(self.fields.body, &token.text);
            if !terms.contains(&term) && terms.len() < MAX_QUERY_TERMS {
                terms.push(term);
            }
        }
        terms
    }
}

/// The stemmed words of `text` that say what it is about ([`QUERY_STOP_WORDS`] left out).
pub fn keywords(text: &str) -> Vec<String> {
    let mut analyzer = keyword_analyzer();
    let mut stream = analyzer.token_stream(text);
    let mut words = Vec::new();
    while let Some(token) = stream.next() {
        words.push(token.text.clone());
    }
    words
}

/// `en_stem` (as the body is indexed) with [`QUERY_STOP_WORDS`] removed before stemming.
fn keyword_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(StopWordFilter::remove(QUERY_STOP_WORDS.iter().map(|&w| w.to_owned())))
        .filter(Stemmer::new(Language::English))
        .build()
}

/// Whether a live chunk of the workspace contains `term`; stops at the first.
fn occurs_in(searcher: &Searcher, workspace: &Term, term: &Term) -> Result<bool, IndexError> {
    if searcher.doc_freq(term)? == 0 {
        return Ok(false); // in no workspace at all: the cheap answer
    }
    let both = BooleanQuery::new(vec![
        (
            Occur::Must,
            Box::new(TermQuery::new(workspace.clone(), IndexRecordOption::Basic)) as Box<dyn Query>,
        ),
        (Occur::Must, Box::new(TermQuery::new(term.clone(), IndexRecordOption::Basic))),
    ]);
    matches_any(searcher, &both)
}

/// Whether any live chunk matches `query`; stops at the first.
fn matches_any(searcher: &Searcher, query: &dyn Query) -> Result<bool, IndexError> {
    let weight = query.weight(EnableScoring::disabled_from_searcher(searcher))?;
    for segment in searcher.segment_readers() {
        let mut scorer = weight.scorer(segment, 1.0)?;
        let mut doc = scorer.doc();
        while doc != TERMINATED {
            if !segment.is_deleted(doc) {
                return Ok(true);
            }
            doc = scorer.advance();
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(id: i64, workspace_id: i64, document_id: i64, text: &str) -> IndexedChunk {
        IndexedChunk {
            id,
            workspace_id,
            document_id,
            title: "Guide".into(),
            heading_path: "Guide".into(),
            text: text.into(),
        }
    }

    #[test]
    fn searches_one_workspace_and_forgets_replaced_documents() {
        let index = KeywordIndex::in_memory().unwrap();
        index
            .add_chunks(&[
                chunk(1, 1, 10, "Resetting your password happens in Settings."),
                chunk(2, 1, 11, "Billing is monthly."),
                chunk(3, 2, 20, "Password resets for workspace two."),
            ])
            .unwrap();
        index.commit(7).unwrap();
        assert_eq!(index.applied(), 7);
        let hits = index.search(1, "how do I reset my password?", 10, StopWords::Skip).unwrap();
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), [1], "stemmed, one workspace");
        // Query syntax a visitor might type by accident is read as words.
        assert!(index.search(1, "password AND (\"unclosed", 10, StopWords::Keep).is_ok());
        assert!(index.search(1, "+-:^~*", 10, StopWords::Keep).unwrap().is_empty());
        let typo = index.search(1, "how do I reest my pasword?", 10, StopWords::Keep).unwrap();
        assert_eq!(typo.iter().map(|h| h.0).collect::<Vec<_>>(), [1], "misspelt words still match");
        // Whether another workspace holds the misspelling changes nothing here.
        index.add_chunks(&[chunk(4, 2, 21, "pasword reest")]).unwrap();
        index.commit(7).unwrap();
        let typo = index.search(1, "how do I reest my pasword?", 10, StopWords::Keep).unwrap();
        assert_eq!(typo.iter().map(|h| h.0).collect::<Vec<_>>(), [1], "decided by workspace 1 alone");
        let nested = format!("{}password", "(".repeat(5000));
        assert_eq!(
            index.search(1, &nested, 10, StopWords::Keep).unwrap().len(),
            1,
            "deep nesting is just punctuation"
        );

        index.replace_document(10, &[]).unwrap();
        index.commit(8).unwrap();
        assert!(index.search(1, "password", 10, StopWords::Keep).unwrap().is_empty());
    }

    #[test]
    fn stop_words_are_searched_only_when_the_query_has_nothing_else() {
        let index = KeywordIndex::in_memory().unwrap();
        index
            .add_chunks(&[
                chunk(1, 1, 10, "What is the plan, and how is it going to work?"),
                chunk(2, 1, 11, "Invoices are sent monthly."),
            ])
            .unwrap();
        index.commit(1).unwrap();
        let ids = |q: &str, stop_words| {
            let mut ids = index.search(1, q, 10, stop_words).unwrap().iter().map(|h| h.0).collect::<Vec<_>>();
            ids.sort_unstable();
            ids
        };
        assert_eq!(ids("how do I get the invoices?", StopWords::Skip), [2], "question words match nothing");
        assert_eq!(ids("how do I get the invoices?", StopWords::Keep), [1, 2], "question words match");
        assert_eq!(ids("what is it", StopWords::Skip), [1], "a query of stop words alone still searches");
    }
}
