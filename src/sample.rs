//! The sample workspace and bot of `docent migrate --sample`, so that a new
//! install has something to try. Running it again finds them instead of making more.

use sha2::{Digest, Sha256};

use crate::clock::now_ms;
use crate::rag::extract::Kind;
use crate::store::{AddOutcome, BotFields, NewDocument, StatsAt, Store, StoreResult};

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
    let existing = store
        .list_workspaces(owner_id)
        .await?
        .into_iter()
        .find(|w| w.name.to_lowercase() == WORKSPACE_NAME.to_lowercase());
    let workspace_id = match existing {
        Some(workspace) => workspace.id,
        None => {
            created = true;
            store.create_workspace(owner_id, WORKSPACE_NAME).await?.id
        }
    };
    let now = now_ms();
    let at = StatsAt { now, active_since: now };
    let bot = store
        .list_bots(owner_id, Some(workspace_id), at)
        .await?
        .into_iter()
        .find(|b| b.name.eq_ignore_ascii_case(BOT_NAME));
    let bot_created = bot.is_none();
    let bot_id = match bot {
        Some(bot) => bot.id,
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
