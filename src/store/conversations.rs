//! Visitor sessions and their messages in the database. SQL shared by both
//! databases, like `queries.rs`; the reads and the write of the chat turn
//! differ per database (on SQLite they skip sqlx, see `inline_reads` and
//! `group_commit`) and are passed in.

use async_trait::async_trait;

use super::{StoreError, StoreResult};
use crate::model::{
    ChatSessionSummary, Message, NewChatSession, NewMessage, Page, SessionFilter, SessionState,
};

/// Visitor sessions and their messages.
#[async_trait]
pub trait Conversations: Send + Sync {
    async fn create_chat_session(&self, session: &NewChatSession) -> StoreResult<()>;
    async fn add_message(&self, message: &NewMessage) -> StoreResult<i64>;
    async fn list_chat_sessions(
        &self,
        bot_id: i64,
        active_since: i64,
        filter: &SessionFilter,
        page: Page,
    ) -> StoreResult<Vec<ChatSessionSummary>>;
    async fn chat_session(
        &self,
        bot_id: i64,
        session_id: &str,
        active_since: i64,
    ) -> StoreResult<Option<ChatSessionSummary>>;
    async fn session_messages(&self, bot_id: i64, session_id: &str) -> StoreResult<Vec<Message>>;
    /// The role and text of the last [`RECENT_TURNS`](super::RECENT_TURNS) messages of a session,
    /// oldest first (what a language model is shown of the conversation).
    async fn recent_turns(&self, bot_id: i64, session_id: &str) -> StoreResult<Vec<(String, String)>>;
    /// The bot's session `session_id` as a new message needs it: `None` when
    /// there is none; not `open` once it ended or was idle since before `active_since`.
    async fn session_state(
        &self,
        bot_id: i64,
        session_id: &str,
        active_since: i64,
    ) -> StoreResult<Option<SessionState>>;
}

#[derive(sqlx::FromRow)]
pub(super) struct SessionRow {
    session_id: String,
    visitor_id: Option<String>,
    started_at: i64,
    last_activity_at: i64,
    ended_at: Option<i64>,
    message_count: i64,
    unanswered_count: i64,
    first_message: Option<String>,
}

impl SessionRow {
    pub(super) fn summary(self, active_since: i64) -> ChatSessionSummary {
        let status = if self.ended_at.is_some() {
            "ended"
        } else if self.last_activity_at < active_since {
            "expired"
        } else {
            "active"
        };
        let end = self.ended_at.unwrap_or(self.last_activity_at);
        ChatSessionSummary {
            session_id: self.session_id,
            visitor_id: self.visitor_id,
            started_at: self.started_at,
            last_activity_at: self.last_activity_at,
            ended_at: self.ended_at,
            message_count: self.message_count,
            unanswered_count: self.unanswered_count,
            first_message: self.first_message,
            duration_seconds: (end - self.started_at).max(0) / 1000,
            status: status.to_owned(),
        }
    }
}

/// The columns of a [`SessionRow`], from `chat_sessions s`; a `WHERE` follows.
macro_rules! session_summary {
    () => {
        "SELECT s.session_id, s.visitor_id, s.started_at, s.last_activity_at, s.ended_at,
                (SELECT COUNT(*) FROM messages g WHERE g.session_id = s.id) AS message_count,
                (SELECT COUNT(*) FROM messages u
                  WHERE u.session_id = s.id AND u.unanswered = TRUE) AS unanswered_count,
                (SELECT substr(f.content, 1, 160) FROM messages f
                  WHERE f.session_id = s.id AND f.role = 'user' ORDER BY f.id LIMIT 1) AS first_message
           FROM chat_sessions s"
    };
}
pub(super) use session_summary;

#[derive(sqlx::FromRow)]
pub(super) struct MessageRow {
    id: i64,
    role: String,
    content: String,
    created_at: i64,
    sources: String,
}

impl TryFrom<MessageRow> for Message {
    type Error = StoreError;

    fn try_from(row: MessageRow) -> Result<Self, StoreError> {
        Ok(Message {
            id: row.id,
            role: row.role,
            content: row.content,
            created_at: row.created_at,
            sources: serde_json::from_str(&row.sources)?,
        })
    }
}

/// A session's latest messages, newest first, as `(role, content)`: `$1` the
/// bot, `$2` the session id.
pub(super) const RECENT_TURNS: &str = concat!(
    "SELECT g.role, g.content
       FROM messages g JOIN chat_sessions s ON s.id = g.session_id
      WHERE s.bot_id = $1 AND s.session_id = $2 ORDER BY g.id DESC LIMIT ",
    super::recent_turns!()
);

/// A session's times and its newest message when that is the visitor's: `$1`
/// the bot, `$2` the session id. Read into [`session_state`].
pub(super) const SESSION_STATE: &str = "SELECT s.last_activity_at, s.ended_at, g.id, g.role,
            CASE WHEN g.role = 'user' THEN g.content END
       FROM chat_sessions s
       LEFT JOIN messages g ON g.id = (SELECT MAX(l.id) FROM messages l WHERE l.session_id = s.id)
      WHERE s.bot_id = $1 AND s.session_id = $2";

/// A row of [`SESSION_STATE`].
pub(super) type SessionStateRow = (i64, Option<i64>, Option<i64>, Option<String>, Option<String>);

pub(super) fn session_state(row: SessionStateRow, active_since: i64) -> SessionState {
    let (last, ended, id, role, content) = row;
    SessionState {
        open: ended.is_none() && last >= active_since,
        unanswered: match (id, role.as_deref(), content) {
            (Some(id), Some("user"), Some(content)) => Some((id, content)),
            _ => None,
        },
    }
}

/// Expands into `impl Conversations for $store` with the shared methods plus
/// `$extra`: `recent_turns`, `session_state` and `add_message`.
macro_rules! impl_conversations {
    ($store:ty, { $($extra:tt)* }) => {
        #[async_trait::async_trait]
        impl $crate::store::Conversations for $store {
            $($extra)*

            async fn create_chat_session(&self, session: &NewChatSession) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO chat_sessions (session_id, bot_id, token_id, visitor_id, started_at,
                                                last_activity_at, metadata)
                     VALUES ($1, $2, $3, $4, $5, $5, $6)",
                )
                .bind(&session.session_id)
                .bind(session.bot_id)
                .bind(session.token_id)
                .bind(&session.visitor_id)
                .bind(session.started_at)
                .bind(session.metadata.to_string())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn list_chat_sessions(
                &self,
                bot_id: i64,
                active_since: i64,
                filter: &SessionFilter,
                page: Page,
            ) -> StoreResult<Vec<ChatSessionSummary>> {
                let rows: Vec<$crate::store::conversations::SessionRow> = sqlx::query_as(concat!(
                    $crate::store::conversations::session_summary!(),
                    " WHERE s.bot_id = $1
                        AND ($4 IS NULL OR s.last_activity_at >= $4)
                        AND ($5 IS NULL OR s.started_at < $5)
                        AND ($6 = FALSE OR EXISTS (SELECT 1 FROM messages u
                                                    WHERE u.session_id = s.id AND u.unanswered = TRUE))
                      ORDER BY s.last_activity_at DESC, s.id DESC LIMIT $2 OFFSET $3",
                ))
                .bind(bot_id)
                .bind(page.limit)
                .bind(page.offset)
                .bind(filter.from)
                .bind(filter.to)
                .bind(filter.unanswered)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(|row| row.summary(active_since)).collect())
            }

            async fn chat_session(
                &self,
                bot_id: i64,
                session_id: &str,
                active_since: i64,
            ) -> StoreResult<Option<ChatSessionSummary>> {
                let row: Option<$crate::store::conversations::SessionRow> =
                    sqlx::query_as(concat!($crate::store::conversations::session_summary!(), " WHERE s.bot_id = $1 AND s.session_id = $2"))
                        .bind(bot_id)
                        .bind(session_id)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(|row| row.summary(active_since)))
            }

            async fn session_messages(&self, bot_id: i64, session_id: &str) -> StoreResult<Vec<Message>> {
                let rows: Vec<$crate::store::conversations::MessageRow> = sqlx::query_as(
                    "SELECT g.id, g.role, g.content, g.created_at, g.sources
                       FROM messages g JOIN chat_sessions s ON s.id = g.session_id
                      WHERE s.bot_id = $1 AND s.session_id = $2 ORDER BY g.id",
                )
                .bind(bot_id)
                .bind(session_id)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(Message::try_from).collect()
            }
        }
    };
}
pub(super) use impl_conversations;
