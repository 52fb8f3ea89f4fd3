//! The sample workspace and bot of `docent migrate --sample` (and `docent
//! serve --sample`), so that a new install has something to try. Running it
//! again finds them instead of making more. The demo page shows the sample bot
//! with a widget token kept in the data folder.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::auth::Auth;
use crate::auth::widget::WidgetError;
use crate::clock::now_ms;
use crate::model::{AddOutcome, BotFields, NewDocument, StatsAt};
use crate::rag::extract::Kind;
use crate::store::{Store, StoreResult};

pub const WORKSPACE_NAME: &str = "Sample workspace";
pub const BOT_NAME: &str = "Docent assistant";

/// The sample documents: about Docent itself, so the sample bot can answer
/// questions about it out of the box.
const DOCUMENTS: [(&str, &str); 3] = [
    ("What is Docent", include_str!("../assets/sample/what-is-docent.md")),
    ("Embedding the widget", include_str!("../assets/sample/embedding-the-widget.md")),
    ("Configuring an LLM", include_str!("../assets/sample/configuring-an-llm.md")),
];

#[derive(Debug)]
pub struct Sample {
    pub workspace_id: i64,
    pub bot_id: i64,
    /// Documents this call added (already present ones are not added again).
    pub documents_added: usize,
    /// Whether this call created anything.
    pub created: bool,
    /// Whether this call created the bot.
    pub bot_created: bool,
}

/// Finds or creates the sample workspace (owned by `owner_id`), its bot and its
/// documents; the documents' URLs point at the demo page served from `base_url`.
pub async fn ensure(store: &dyn Store, owner_id: i64, base_url: &str) -> StoreResult<Sample> {
    let mut created = false;
    let workspace_id = match find_workspace(store, owner_id).await? {
        Some(id) => id,
        None => {
            created = true;
            store.create_workspace(owner_id, WORKSPACE_NAME).await?.id
        }
    };
    let now = now_ms();
    let bot = find_bot(store, owner_id, workspace_id).await?;
    let bot_created = bot.is_none();
    let bot_id = match bot {
        Some(id) => id,
        None => {
            created = true;
            let mut bot = BotFields::new(workspace_id, BOT_NAME.to_owned());
            bot.system_prompt = "You answer questions about Docent, a self-hosted AI chat widget, \
                                 using only the documentation you are given. Be brief and cite sources."
                .to_owned();
            bot.welcome_message = "Hi! I can answer questions about Docent: what it is, how to embed the \
                                   widget and how to connect an LLM."
                .to_owned();
            store.create_bot(&bot, now).await?
        }
    };
    let mut documents_added = 0;
    for (title, text) in DOCUMENTS {
        let doc = NewDocument {
            workspace_id,
            title: title.to_owned(),
            source: format!("{}.md", crate::rag::extract::slug(title)),
            url: Some(format!("{base_url}/static/widget-demo.html")),
            kind: Kind::Markdown.as_str().to_owned(),
            content_hash: hex::encode(Sha256::digest(text.as_bytes())),
            content: text.as_bytes().to_vec(),
        };
        if let AddOutcome::Added(_) = store.add_document(&doc, now).await? {
            documents_added += 1;
        }
    }
    Ok(Sample { workspace_id, bot_id, created: created || documents_added > 0, documents_added, bot_created })
}

/// The file in the data folder that keeps the demo page's widget token.
const DEMO_TOKEN_FILE: &str = "demo-widget-token";
/// Lifetime of a demo page token; a new one is made when it no longer works.
const DEMO_TOKEN_DAYS: i64 = 365;

/// The sample workspace's id, among `owner_id`'s workspaces.
async fn find_workspace(store: &dyn Store, owner_id: i64) -> StoreResult<Option<i64>> {
    let workspaces = store.list_workspaces(owner_id).await?;
    Ok(workspaces.into_iter().find(|w| w.name.to_lowercase() == WORKSPACE_NAME.to_lowercase()).map(|w| w.id))
}

/// The sample bot's id in the sample workspace.
async fn find_bot(store: &dyn Store, owner_id: i64, workspace_id: i64) -> StoreResult<Option<i64>> {
    let now = now_ms();
    let bots = store.list_bots(owner_id, Some(workspace_id), StatsAt { now, active_since: now }).await?;
    Ok(bots.into_iter().find(|b| b.name.eq_ignore_ascii_case(BOT_NAME)).map(|b| b.id))
}

/// A widget token for the demo page: the one kept in `data_dir` while it still
/// works, else a new one (kept there in its place); `None` without a sample bot.
/// Each node keeps its own.
pub async fn demo_token(
    auth: &Auth,
    store: &dyn Store,
    data_dir: &Path,
) -> Result<Option<String>, WidgetError> {
    let Some(owner) = store.first_admin().await? else { return Ok(None) };
    let Some(workspace_id) = find_workspace(store, owner.id).await? else { return Ok(None) };
    let Some(bot_id) = find_bot(store, owner.id, workspace_id).await? else { return Ok(None) };
    let file = data_dir.join(DEMO_TOKEN_FILE);
    if let Ok(kept) = std::fs::read_to_string(&file) {
        let kept = kept.trim();
        if auth.visitor(kept).await.is_ok_and(|visitor| visitor.bot.id == bot_id) {
            return Ok(Some(kept.to_owned()));
        }
    }
    let issued = auth.generate_widget_token(bot_id, DEMO_TOKEN_DAYS, owner.id).await?;
    if let Err(err) = write_private(&file, &issued.token) {
        tracing::warn!(error = %err, file = %file.display(), "cannot keep the demo page's token; a new one is made at each start");
    }
    Ok(Some(issued.token))
}

/// Writes `text` to a file only its owner may read.
fn write_private(file: &Path, text: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(file)?, text.as_bytes())
}
