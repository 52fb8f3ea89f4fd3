-- What a bot says when its documents hold nothing relevant ('' means Docent's
-- default), and the language model and temperature it asks for (NULL: the
-- server's llm.model and llm.temperature).
ALTER TABLE bots ADD COLUMN fallback_message TEXT NOT NULL DEFAULT '';
ALTER TABLE bots ADD COLUMN model TEXT;
ALTER TABLE bots ADD COLUMN temperature DOUBLE PRECISION;
-- A visitor's question the bot could not answer from its documents.
ALTER TABLE messages ADD COLUMN unanswered BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX messages_bot_unanswered ON messages (bot_id, unanswered);
