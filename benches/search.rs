//! Search benchmark: prints figures, asserts nothing (not a timed test).
//!
//! Fills one workspace of a real SQLite store (in a temporary folder) with N synthetic
//! chunks: English-like text of ~1000 characters from a vocabulary of 4,000 words with a
//! Zipf distribution, ~20 chunks a document, one 384-dim unit vector each. Then opens
//! `KnowledgeBase` on it and measures `KnowledgeBase::search` (limit 5) by keyword and
//! hybrid, with a stub embedder that returns one fixed vector (the index work alone)
//! and with the real local model; the raw `KeywordIndex` and `VectorIndex` scans, the
//! query embedding alone, build and load times, and RSS.
//!
//!     cargo bench --bench search                          # 10,000 and 100,000 chunks
//!     cargo bench --bench search -- --chunks 100000 --queries 500
//!
//! The model comes from DOCENT_BENCH_MODEL_DIR (default target/models/all-MiniLM-L6-v2,
//! which `scripts/fetch-model target/models/all-MiniLM-L6-v2` installs); without it the
//! rows that need it are skipped.

use std::collections::HashSet;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use async_trait::async_trait;
use docent::config::{Config, EmbeddingProvider, EmbeddingsConfig};
use docent::model::encode_vector as encode;
use docent::rag::embed::{EmbedError, Embedder, LocalEmbedder, Purpose, normalize};
use docent::rag::index::{KeywordIndex, StopWords};
use docent::rag::vectors::VectorIndex;
use docent::rag::{KnowledgeBase, SearchMode};
use docent::store::Store;

const DIMS: usize = 384;
const VOCABULARY: usize = 4000;
/// Zipf exponent: the commonest word is ~11% of the text ("the" is ~6% of English).
const ZIPF_S: f64 = 1.0;
const CHUNK_CHARS: usize = 1000;
const CHUNKS_PER_DOCUMENT: usize = 20;
/// Documents written per transaction while filling the database.
const DOCUMENTS_PER_TX: usize = 250;
/// Queries run before timing starts (caches, lazy initialisation, the first allocations).
const WARMUP: usize = 50;
/// Candidates `KnowledgeBase::search` takes from each retriever (rag::search::CANDIDATES).
const CANDIDATES: usize = 50;
/// The local model's name (`LocalEmbedder` reports it as `local/{MODEL}`).
const MODEL: &str = "all-MiniLM-L6-v2";

/// Words the commonest ranks start with, so the text reads like English.
const COMMON: &[&str] = &[
    "the", "of", "and", "to", "a", "in", "is", "you", "that", "it", "for", "on", "with", "as", "are", "be",
    "this", "by", "or", "can", "your", "from", "an", "not", "if", "when", "use", "which", "will", "all",
    "file", "set", "its", "at", "each", "one", "new", "has", "more", "do", "may", "any", "other", "option",
    "only", "into", "than", "then", "also", "how", "we", "but", "name", "default", "after", "used", "first",
    "see", "command", "change", "must", "time", "list", "value", "data", "page", "user", "make", "run",
    "using", "so", "there", "their", "what", "out", "some", "two", "reset", "password", "account", "branch",
];
const ONSETS: &[&str] = &[
    "b", "c", "d", "f", "g", "h", "l", "m", "n", "p", "r", "s", "t", "v", "w", "br", "cl", "st", "tr", "sh",
];
const VOWELS: &[&str] = &["a", "e", "i", "o", "u", "ea", "ou", "ai"];
const CODAS: &[&str] = &["n", "r", "s", "t", "l", "nd", "st", "ck", "ng", "m"];

fn main() -> anyhow::Result<()> {
    let args = Args::parse()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(args))
}

struct Args {
    sizes: Vec<usize>,
    queries: usize,
}

impl Args {
    fn parse() -> anyhow::Result<Self> {
        let mut args = Self { sizes: vec![10_000, 100_000], queries: 500 };
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--bench" => {} // cargo bench passes it
                "--chunks" => {
                    let list = it.next().context("--chunks needs a number or a list: 10000,100000")?;
                    args.sizes =
                        list.split(',').map(|n| n.replace('_', "").parse()).collect::<Result<_, _>>()?;
                }
                "--queries" => args.queries = it.next().context("--queries needs a number")?.parse()?,
                other => {
                    bail!("unknown argument {other:?}; usage: search [--chunks 10000,100000] [--queries 500]")
                }
            }
        }
        Ok(args)
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    println!("cores: {}, queries per row: {} after {WARMUP} warm-up", cores(), args.queries);
    let model_dir = std::env::var_os("DOCENT_BENCH_MODEL_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/models/all-MiniLM-L6-v2"),
        PathBuf::from,
    );
    let real: Option<Arc<dyn Embedder>> = if model_dir.join("model.safetensors").is_file() {
        let started = Instant::now();
        let embedder = LocalEmbedder::load(&model_dir, MODEL, 256, 1)?;
        println!(
            "real model: {} loaded in {} ms (1 thread)",
            model_dir.display(),
            started.elapsed().as_millis()
        );
        Some(Arc::new(embedder))
    } else {
        println!(
            "real model: none in {} (scripts/fetch-model installs it); rows skipped",
            model_dir.display()
        );
        None
    };
    // The stub stores and searches under the name the real model reports.
    let model = real.as_ref().map_or_else(|| format!("local/{MODEL}"), |e| e.model().to_owned());
    for &chunks in &args.sizes {
        bench_size(chunks, args.queries, &model, real.as_ref()).await?;
    }
    Ok(())
}

/// One size's database, queries and results table.
struct Bench {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    workspace: i64,
    /// Warm-up queries first, then the timed ones.
    texts: Vec<String>,
    /// Query vectors for the raw vector scan, one per text.
    vectors: Vec<Vec<f32>>,
    table: Table,
    /// Results seen in all, so that nothing is optimised away (and as a sanity check).
    hits: usize,
}

async fn bench_size(
    chunks: usize,
    queries: usize,
    model: &str,
    real: Option<&Arc<dyn Embedder>>,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = Arc::new(Config {
        data_dir: dir.path().to_owned(),
        embeddings: EmbeddingsConfig { provider: EmbeddingProvider::None, ..EmbeddingsConfig::default() },
        ..Config::default()
    });
    let mut rng = Rng(0x5EED ^ chunks as u64);
    let words = Words::new(&mut rng);
    println!("\n== {chunks} chunks, one workspace ==");
    let rss_start = rss_mib();
    let store = docent::store::connect(&config).await?;
    let started = Instant::now();
    let (workspace, documents) = fill(&config, store.as_ref(), chunks, model, &words, &mut rng).await?;
    let db_mib = std::fs::metadata(dir.path().join("docent.db"))?.len() as f64 / 1048576.0;
    println!(
        "database filled: {documents} documents, {chunks} chunks with vectors in {:.1} s ({db_mib:.0} MiB SQLite); \
         RSS {rss_start:.0} MiB before, {:.0} MiB after",
        started.elapsed().as_secs_f64(),
        rss_mib()
    );
    let mut bench = Bench {
        config,
        store,
        workspace,
        texts: (0..WARMUP + queries).map(|_| words.query(&mut rng)).collect(),
        vectors: (0..WARMUP + queries).map(|_| rng.unit_vector()).collect(),
        table: Table::default(),
        hits: 0,
    };
    let stub: Arc<dyn Embedder> = Arc::new(FixedQuery { model: model.to_owned(), vector: rng.unit_vector() });
    bench.knowledge_base(stub).await?;
    bench.raw_indexes(model).await?;
    if let Some(real) = real {
        bench.real_model(real).await?;
    }
    bench.table.print();
    println!(
        "(results returned in all: {}; RSS now {:.0} MiB, peak {:.0} MiB)",
        bench.hits,
        rss_mib(),
        hwm_mib()
    );
    bench.store.close().await;
    Ok(())
}

impl Bench {
    /// Builds the knowledge base's indexes and searches through it, with the stub embedder.
    async fn knowledge_base(&mut self, stub: Arc<dyn Embedder>) -> anyhow::Result<()> {
        let rss_before = rss_mib();
        let started = Instant::now();
        let kb = KnowledgeBase::open(Arc::clone(&self.config), Arc::clone(&self.store), Some(stub)).await?;
        println!(
            "KnowledgeBase::open, new index (tantivy build + vectors loaded): {:.1} s; \
             RSS {rss_before:.0} MiB before, {:.0} MiB after",
            started.elapsed().as_secs_f64(),
            rss_mib()
        );
        let (ws, hits) = (self.workspace, &mut self.hits);
        let keyword = measure(&self.texts, async |q, _| {
            *hits += kb.search(ws, q, 5, SearchMode::Keyword).await?.len();
            Ok(())
        })
        .await?;
        let hybrid = measure(&self.texts, async |q, _| {
            *hits += kb.search(ws, q, 5, SearchMode::Hybrid).await?.len();
            Ok(())
        })
        .await?;
        self.table.row("KnowledgeBase::search keyword, limit 5", keyword);
        self.table.row("KnowledgeBase::search hybrid, stub embedder", hybrid);
        Ok(())
    }

    /// The same indexes, held directly: the keyword index the knowledge base built
    /// (on disk, reopened) and a vector index loaded from the database as it loads it.
    async fn raw_indexes(&mut self, model: &str) -> anyhow::Result<()> {
        let (ws, hits) = (self.workspace, &mut self.hits);
        let keywords = KeywordIndex::open(&self.config.data_dir.join("index"))?;
        let started = Instant::now();
        let vector_index = load_vectors(self.store.as_ref(), model, ws).await?;
        let loaded = started.elapsed();
        let (count, bytes) = vector_index.size();
        println!(
            "VectorIndex: {count} vectors, {:.1} MiB (int8 + ids + scales), loaded from SQLite in {:.2} s; \
             RSS {:.0} MiB",
            bytes as f64 / 1048576.0,
            loaded.as_secs_f64(),
            rss_mib()
        );
        let keyword = measure(&self.texts, async |q, _| {
            *hits += black_box(keywords.search(ws, q, CANDIDATES, StopWords::Keep)?).len();
            Ok(())
        })
        .await?;
        let vectors = &self.vectors;
        let dense = measure(&self.texts, async |_, i| {
            *hits += black_box(vector_index.search(ws, &vectors[i], CANDIDATES)).len();
            Ok(())
        })
        .await?;
        let both = measure(&self.texts, async |q, i| {
            *hits += keywords.search(ws, q, CANDIDATES, StopWords::Keep)?.len();
            *hits += black_box(vector_index.search(ws, &vectors[i], CANDIDATES)).len();
            Ok(())
        })
        .await?;
        let ids: Vec<i64> =
            keywords.search(ws, &self.texts[0], 15, StopWords::Keep)?.into_iter().map(|h| h.0).collect();
        let store = &self.store;
        let read_back = measure(&self.texts, async |_, _| {
            *hits += store.chunk_hits(ws, &ids).await?.len();
            Ok(())
        })
        .await?;
        let feed = measure(&self.texts, async |_, _| {
            black_box(store.last_index_change().await?);
            Ok(())
        })
        .await?;
        self.table.row("KeywordIndex::search, 50 candidates", keyword);
        self.table.row("VectorIndex::search, 50 candidates", dense);
        self.table.row("both raw scans, one after the other", both);
        self.table.row("Store::chunk_hits, 15 ids (read back)", read_back);
        self.table.row("Store::last_index_change (each search)", feed);
        Ok(())
    }

    /// Query embedding alone, then hybrid search end to end, with the real model.
    async fn real_model(&mut self, real: &Arc<dyn Embedder>) -> anyhow::Result<()> {
        let (ws, hits) = (self.workspace, &mut self.hits);
        let embedding = measure(&self.texts, async |q, _| {
            *hits += real.embed(vec![q.to_owned()], Purpose::Query).await?.len();
            Ok(())
        })
        .await?;
        let started = Instant::now();
        let kb =
            KnowledgeBase::open(Arc::clone(&self.config), Arc::clone(&self.store), Some(Arc::clone(real)))
                .await?;
        println!(
            "KnowledgeBase::open again (index on disk, vectors loaded): {:.2} s; RSS {:.0} MiB",
            started.elapsed().as_secs_f64(),
            rss_mib()
        );
        let hybrid = measure(&self.texts, async |q, _| {
            *hits += kb.search(ws, q, 5, SearchMode::Hybrid).await?.len();
            Ok(())
        })
        .await?;
        self.table.row("query embedding alone, real model", embedding);
        self.table.row("KnowledgeBase::search hybrid, real model", hybrid);
        Ok(())
    }
}

/// Times `f` on each query after the warm-up ones; `f` gets the query and its index.
async fn measure<F>(queries: &[String], mut f: F) -> anyhow::Result<Vec<Duration>>
where
    F: AsyncFnMut(&str, usize) -> anyhow::Result<()>,
{
    let mut times = Vec::with_capacity(queries.len().saturating_sub(WARMUP));
    for (i, q) in queries.iter().enumerate() {
        let started = Instant::now();
        f(q, i).await?;
        if i >= WARMUP {
            times.push(started.elapsed());
        }
    }
    Ok(times)
}

#[derive(Default)]
struct Table(Vec<(&'static str, Vec<Duration>)>);

impl Table {
    fn row(&mut self, name: &'static str, mut times: Vec<Duration>) {
        times.sort_unstable();
        self.0.push((name, times));
    }

    fn print(&self) {
        println!("{:<44} {:>5} {:>9} {:>9} {:>9} {:>9}", "ms per query", "n", "p50", "p99", "mean", "max");
        for (name, times) in &self.0 {
            let n = times.len().max(1);
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            let at = |q: f64| times.get(((n as f64 * q).ceil() as usize).clamp(1, n) - 1).copied();
            let mean = times.iter().sum::<Duration>() / n as u32;
            println!(
                "{name:<44} {:>5} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
                times.len(),
                ms(at(0.5).unwrap_or_default()),
                ms(at(0.99).unwrap_or_default()),
                ms(mean),
                ms(times.last().copied().unwrap_or_default())
            );
        }
    }
}

/// Returns the same vector for every text: hybrid search without the model's cost.
struct FixedQuery {
    model: String,
    vector: Vec<f32>,
}

#[async_trait]
impl Embedder for FixedQuery {
    fn model(&self) -> &str {
        &self.model
    }

    async fn embed(&self, texts: Vec<String>, _: Purpose) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(texts.iter().map(|_| self.vector.clone()).collect())
    }
}

/// Writes a user, one workspace and `chunks` chunks (documents of ~20) with their
/// vectors and change-feed entries, straight in SQL, in large transactions.
async fn fill(
    config: &Config,
    store: &dyn Store,
    chunks: usize,
    model: &str,
    words: &Words,
    rng: &mut Rng,
) -> anyhow::Result<(i64, usize)> {
    let user = store.create_user("bench", "not a password hash", true).await?;
    let workspace = store.create_workspace(user.id, "bench").await?.id;
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(config.data_dir.join("docent.db"));
    let pool = sqlx::sqlite::SqlitePoolOptions::new().max_connections(1).connect_with(options).await?;
    let now = docent::clock::now_ms();
    let (mut chunk_id, mut document_id) = (0i64, 0i64);
    while (chunk_id as usize) < chunks {
        let mut tx = pool.begin().await?;
        for _ in 0..DOCUMENTS_PER_TX {
            let left = chunks - chunk_id as usize;
            if left == 0 {
                break;
            }
            let count = (CHUNKS_PER_DOCUMENT - 5 + rng.below(11)).min(left);
            document_id += 1;
            let title = words.title(rng);
            sqlx::query(
                "INSERT INTO documents (id, workspace_id, title, source, url, kind, content_hash, size_bytes,
                                        status, chunk_count, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, 'markdown', $6, $7, 'ready', $8, $9, $9)",
            )
            .bind(document_id)
            .bind(workspace)
            .bind(&title)
            .bind(format!("page-{document_id}.md"))
            .bind(format!("https://docs.example.com/page-{document_id}"))
            .bind(format!("{document_id:016x}"))
            .bind((count * CHUNK_CHARS) as i64)
            .bind(count as i64)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let topic = rng.unit_vector();
            for ordinal in 0..count {
                chunk_id += 1;
                let heading = words.title(rng);
                sqlx::query(
                    "INSERT INTO chunks (id, document_id, workspace_id, ordinal, heading_path, anchor, text)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(chunk_id)
                .bind(document_id)
                .bind(workspace)
                .bind(ordinal as i64)
                .bind(format!("{title} > {heading}"))
                .bind(heading.to_lowercase().replace(' ', "-"))
                .bind(words.text(rng, CHUNK_CHARS))
                .execute(&mut *tx)
                .await?;
                // Chunks of a document lie near its topic, as real embeddings do.
                let mut vector: Vec<f32> = topic.iter().zip(rng.unit_vector()).map(|(t, n)| t + n).collect();
                normalize(&mut vector);
                sqlx::query(
                    "INSERT INTO chunk_vectors (chunk_id, workspace_id, document_id, model, vector)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(chunk_id)
                .bind(workspace)
                .bind(document_id)
                .bind(model)
                .bind(encode(&vector))
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query(
                "INSERT INTO index_changes (workspace_id, document_id, created_at) VALUES ($1, $2, $3)",
            )
            .bind(workspace)
            .bind(document_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
    }
    pool.close().await;
    Ok((workspace, document_id as usize))
}

/// A vector index of one workspace, loaded the way `KnowledgeBase` loads it.
async fn load_vectors(store: &dyn Store, model: &str, workspace: i64) -> anyhow::Result<VectorIndex> {
    let index = VectorIndex::new();
    let mut after = 0;
    loop {
        let batch = store.all_vectors(model, Some(workspace), after, 2000).await?;
        let Some(last) = batch.last() else { break };
        after = last.chunk_id;
        index.add(&batch);
    }
    Ok(index)
}

/// A vocabulary with Zipf-distributed ranks.
struct Words {
    words: Vec<String>,
    cumulative: Vec<f64>,
}

impl Words {
    fn new(rng: &mut Rng) -> Self {
        let mut words: Vec<String> = COMMON.iter().map(|w| (*w).to_owned()).collect();
        let mut seen: HashSet<String> = words.iter().cloned().collect();
        while words.len() < VOCABULARY {
            let mut word = String::new();
            for _ in 0..1 + rng.below(3) {
                word.push_str(ONSETS[rng.below(ONSETS.len())]);
                word.push_str(VOWELS[rng.below(VOWELS.len())]);
                if rng.below(3) == 0 {
                    word.push_str(CODAS[rng.below(CODAS.len())]);
                }
            }
            if word.len() >= 3 && seen.insert(word.clone()) {
                words.push(word);
            }
        }
        let mut total = 0.0;
        let cumulative = (1..=words.len())
            .map(|rank| {
                total += 1.0 / (rank as f64).powf(ZIPF_S);
                total
            })
            .collect();
        Self { words, cumulative }
    }

    fn word(&self, rng: &mut Rng) -> &str {
        let u = rng.unit() * self.cumulative.last().copied().unwrap_or(1.0);
        let rank = self.cumulative.partition_point(|&c| c < u);
        &self.words[rank.min(self.words.len() - 1)]
    }

    /// Sentences of 6 to 20 words until the text is `chars` long.
    fn text(&self, rng: &mut Rng, chars: usize) -> String {
        let mut text = String::with_capacity(chars + 200);
        while text.len() < chars {
            if !text.is_empty() {
                text.push(' ');
            }
            let words = 6 + rng.below(15);
            for i in 0..words {
                let word = self.word(rng);
                if i == 0 {
                    capitalised(word, &mut text);
                } else {
                    text.push(' ');
                    text.push_str(word);
                    if i + 1 < words && rng.below(12) == 0 {
                        text.push(',');
                    }
                }
            }
            text.push('.');
        }
        text
    }

    /// Two to four rarer words, capitalised.
    fn title(&self, rng: &mut Rng) -> String {
        let mut title = String::new();
        for i in 0..2 + rng.below(3) {
            if i > 0 {
                title.push(' ');
            }
            capitalised(&self.words[100 + rng.below(self.words.len() - 100)], &mut title);
        }
        title
    }

    /// Two to eight words, as a visitor might type them.
    fn query(&self, rng: &mut Rng) -> String {
        (0..2 + rng.below(7)).map(|_| self.word(rng)).collect::<Vec<_>>().join(" ")
    }
}

fn capitalised(word: &str, out: &mut String) {
    let mut chars = word.chars();
    if let Some(first) = chars.next() {
        out.extend(first.to_uppercase());
        out.push_str(chars.as_str());
    }
}

/// SplitMix64: deterministic and good enough for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn unit_vector(&mut self) -> Vec<f32> {
        let mut v: Vec<f32> = (0..DIMS).map(|_| self.unit() as f32 - 0.5).collect();
        normalize(&mut v);
        v
    }
}

fn proc_status_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.trim().strip_suffix("kB")?.trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

fn rss_mib() -> f64 {
    proc_status_mib("VmRSS:")
}

fn hwm_mib() -> f64 {
    proc_status_mib("VmHWM:")
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
