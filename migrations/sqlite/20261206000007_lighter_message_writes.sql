-- Every chat turn writes two messages, so each index on messages is paid for
-- twice a turn. Only unanswered questions need the unanswered index: a partial
-- index leaves ordinary messages out of it.
DROP INDEX messages_bot_unanswered;
CREATE INDEX messages_bot_unanswered ON messages (bot_id) WHERE unanswered = TRUE;
