//! The knowledge commands of the command line: `ingest`, `search`, `reindex`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

use crate::clock::now_ms;
use crate::config::Config;
use crate::model::{AddOutcome, NewDocument};
use crate::rag::embed::{self, Embedder};
use crate::rag::extract::Kind;
use crate::rag::{KnowledgeBase, SearchMode, search_database};
use crate::store::{self, Store};
use crate::telemetry;

async fn open(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    telemetry::init(config.log_format, "warn");
    std::fs::create_dir_all(&config.data_dir)?;
    store::connect(config).await.context("cannot open the database")
}

/// The configured embedder, or none (keyword search) when it is not available.
fn embedder(config: &Config) -> anyhow::Result<Option<Arc<dyn Embedder>>> {
    embed::from_config(config).context("cannot load the embedding model")
}

async fn workspace(store: &dyn Store, id: i64) -> anyhow::Result<String> {
    store.workspace_name(id).await?.with_context(|| format!("there is no workspace {id}"))
}

/// Every file under `paths` (folders recursively, hidden entries skipped), sorted.
fn files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    fn walk(path: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
        let meta = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if meta.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| !p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.')))
                .collect();
            entries.sort();
            for entry in entries {
                walk(&entry, out)?;
            }
        } else {
            out.push(path.to_path_buf());
        }
        Ok(())
    }
    let mut out = Vec::new();
    for path in paths {
        walk(path, &mut out)?;
    }
    Ok(out)
}

pub async fn ingest(config: Config, workspace_id: i64, paths: &[PathBuf]) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let store = open(&config).await?;
    let name = workspace(store.as_ref(), workspace_id).await?;
    let files = files(paths)?;
    let max = u64::from(config.ingest.max_file_mb) * 1024 * 1024;
    let started = Instant::now();
    let (mut added, mut duplicates, mut skipped) = (Vec::new(), 0, 0);
    for (i, path) in files.iter().enumerate() {
        let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        let progress = format!("[{}/{}]", i + 1, files.len());
        let Some(kind) = Kind::from_file_name(&file_name) else {
            println!("{progress} skipped {} (not .txt, .md, .html, .pdf or .docx)", path.display());
            skipped += 1;
            continue;
        };
        if std::fs::metadata(path)?.len() > max {
            println!("{progress} skipped {} (over ingest.max_file_mb)", path.display());
            skipped += 1;
            continue;
        }
        let content = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let title = crate::rag::extract::title_from_file_name(&file_name);
        let doc = NewDocument {
            workspace_id,
            title,
            source: file_name,
            url: None,
            kind: kind.as_str().to_owned(),
            content_hash: hex::encode(Sha256::digest(&content)),
            content,
        };
        match store.add_document(&doc, now_ms()).await? {
            AddOutcome::Added(d) => {
                println!("{progress} added {} (document {})", path.display(), d.id);
                added.push(d.id);
            }
            AddOutcome::Duplicate(d) => {
                println!("{progress} already there: {} (document {})", path.display(), d.id);
                duplicates += 1;
            }
        }
    }

    let mut progress = Progress::new(store.unsettled_documents(workspace_id).await?);
    if !process_pending(config.clone(), store.clone(), Some((workspace_id, &mut progress))).await? {
        loop {
            let unsettled = store.unsettled_documents(workspace_id).await?;
            progress.show(unsettled);
            if unsettled == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    progress.finish();
    let (mut chunks, mut failed) = (0, Vec::new());
    for id in &added {
        if let Some(doc) = store.document_by_id(*id).await? {
            chunks += doc.chunk_count;
            if doc.status == "failed" {
                failed.push(format!("{}: {}", doc.source, doc.error.unwrap_or_default()));
            }
        }
    }
    println!(
        "\nWorkspace {workspace_id} ({name}): {} documents added, {duplicates} already there, {skipped} skipped, \
         {chunks} chunks, {} failed, in {:.1} s",
        added.len(),
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    for failure in &failed {
        println!("  failed: {failure}");
    }
    store.close().await;
    if failed.is_empty() { Ok(()) } else { bail!("{} documents failed", failed.len()) }
}

/// Processes every queued job here, when no server holds this data folder's
/// index; returns false (and does nothing) when one does: its workers will.
/// `progress` follows one workspace's documents.
pub async fn process_pending(
    config: Arc<Config>,
    store: Arc<dyn Store>,
    mut progress: Option<(i64, &mut Progress)>,
) -> anyhow::Result<bool> {
    let embedder = embedder(&config)?;
    match KnowledgeBase::open(config, store.clone(), embedder).await {
        Ok(kb) => {
            while let Some(job) = store.claim_job(now_ms(), kb.lease_ms()).await? {
                kb.process(&job).await?;
                if let Some((workspace_id, progress)) = progress.as_mut() {
                    progress.show(store.unsettled_documents(*workspace_id).await?);
                }
            }
            Ok(true)
        }
        Err(err) if err.is_index_locked() => {
            println!("A server is using this data folder; its workers process the documents.");
            Ok(false)
        }
        Err(err) => Err(err).context("cannot open the search index"),
    }
}

/// How far processing has come, on standard error: a bar redrawn in place on a
/// terminal, a line per document otherwise (a log file, a pipe).
pub struct Progress {
    total: i64,
    shown: Option<i64>,
    started: Instant,
    terminal: bool,
}

impl Progress {
    const WIDTH: usize = 30;

    pub fn new(total: i64) -> Self {
        Self { total, shown: None, started: Instant::now(), terminal: std::io::stderr().is_terminal() }
    }

    /// Shows the state when `unsettled` documents are still waiting or being read.
    pub fn show(&mut self, unsettled: i64) {
        let done = (self.total - unsettled).clamp(0, self.total);
        if self.total == 0 || self.shown == Some(done) {
            return;
        }
        self.shown = Some(done);
        let elapsed = self.started.elapsed().as_secs_f64();
        let filled =
            usize::try_from(done).unwrap_or(0) * Self::WIDTH / usize::try_from(self.total).unwrap_or(1);
        let mut line = format!(
            "[{}{}] {done}/{} documents processed, {elapsed:.0} s",
            "#".repeat(filled),
            "-".repeat(Self::WIDTH - filled),
            self.total
        );
        if done > 0 && done < self.total {
            let left = elapsed / done as f64 * (self.total - done) as f64;
            line.push_str(&format!(", about {left:.0} s left"));
        }
        let mut err = std::io::stderr().lock();
        let _ = if self.terminal { write!(err, "\r{line}\x1b[K") } else { writeln!(err, "{line}") };
        let _ = err.flush();
    }

    /// Ends the bar's line.
    pub fn finish(&self) {
        if self.terminal && self.shown.is_some() {
            eprintln!();
        }
    }
}

pub async fn search(
    config: Config,
    workspace_id: i64,
    query: &str,
    limit: usize,
    mode: SearchMode,
) -> anyhow::Result<()> {
    let store = open(&config).await?;
    workspace(store.as_ref(), workspace_id).await?;
    let embedder = embedder(&config)?;
    if embedder.is_none() && mode != SearchMode::Keyword {
        eprintln!("(no embedding model: keyword search only)");
    }
    let passages =
        search_database(store.clone(), embedder, workspace_id, query, limit.clamp(1, 50), mode).await?;
    if passages.is_empty() {
        println!("No passage matches.");
    }
    for (rank, p) in passages.iter().enumerate() {
        let place =
            if p.hit.heading_path.is_empty() { String::new() } else { format!(" > {}", p.hit.heading_path) };
        let similarity = p.similarity.map(|s| format!(" cosine {s:.3}")).unwrap_or_default();
        println!(
            "{}. [{:.4}{similarity}] {}{place} (document {}, chunk {})",
            rank + 1,
            p.score,
            p.hit.title,
            p.hit.document_id,
            p.hit.chunk_id
        );
        let text: String = p.hit.text.split_whitespace().collect::<Vec<_>>().join(" ");
        let preview: String = text.chars().take(300).collect();
        println!("   {preview}{}\n", if text.chars().count() > 300 { "…" } else { "" });
    }
    store.close().await;
    Ok(())
}

pub async fn reindex(config: Config, workspace_id: Option<i64>) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let store = open(&config).await?;
    let kb = KnowledgeBase::open(config.clone(), store.clone(), embedder(&config)?)
        .await
        .context("cannot open the search index; stop the server that uses this data folder first")?;
    let chunks = match workspace_id {
        Some(id) => {
            workspace(store.as_ref(), id).await?;
            kb.rebuild_workspace(id).await?
        }
        None => kb.rebuild().await?,
    };
    println!("Search index rebuilt: {chunks} chunks.");
    store.close().await;
    Ok(())
}

/// Files of a sentence-transformers model that Docent reads.
const MODEL_FILES: [&str; 4] =
    ["config.json", "tokenizer.json", "model.safetensors", "sentence_bert_config.json"];

/// `docent model fetch`: downloads the model's files from the Hugging Face hub
/// into the model folder, each to a temporary name first, so an interrupted
/// download never leaves a half file that looks complete. (A plain HTTP client
/// is all this needs; it saves a second HTTP stack that `hf-hub` would bring.)
pub async fn fetch_model(config: Config, repo: Option<String>) -> anyhow::Result<()> {
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;

    // A model name with an owner ("BAAI/bge-small-en-v1.5") is a repository already.
    let model = &config.embeddings.model;
    let repo = repo.unwrap_or_else(|| {
        if model.contains('/') { model.clone() } else { format!("sentence-transformers/{model}") }
    });
    let dir = config.model_dir();
    tokio::fs::create_dir_all(&dir).await.with_context(|| format!("cannot create {}", dir.display()))?;
    let client =
        reqwest::Client::builder().user_agent(concat!("docent/", env!("CARGO_PKG_VERSION"))).build()?;
    for file in MODEL_FILES {
        let url = format!("https://huggingface.co/{repo}/resolve/main/{file}");
        let response = client.get(&url).send().await.with_context(|| format!("cannot reach {url}"))?;
        if !response.status().is_success() {
            if file == "sentence_bert_config.json" {
                continue; // optional
            }
            bail!("{url} answered {}", response.status());
        }
        let partial = dir.join(format!("{file}.part"));
        let written = async {
            let mut out = tokio::fs::File::create(&partial).await?;
            let mut body = response.bytes_stream();
            let mut bytes = 0u64;
            while let Some(piece) = body.next().await {
                let piece = piece.with_context(|| format!("download of {url} broke off"))?;
                bytes += piece.len() as u64;
                out.write_all(&piece).await?;
            }
            out.flush().await?;
            anyhow::Ok(bytes)
        }
        .await;
        let bytes = match written {
            Ok(bytes) => bytes,
            Err(err) => {
                let _ = tokio::fs::remove_file(&partial).await;
                return Err(err);
            }
        };
        tokio::fs::rename(&partial, dir.join(file)).await?;
        println!("{file}: {:.1} MB", bytes as f64 / 1e6);
    }
    println!("The model is in {}; restart the server to use it.", dir.display());
    Ok(())
}
