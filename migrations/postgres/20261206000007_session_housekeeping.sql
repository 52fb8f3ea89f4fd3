-- Housekeeping ends sessions left idle and, with widget.retention_days, deletes
-- old conversations: both look sessions up by their last activity.
CREATE INDEX chat_sessions_last_activity ON chat_sessions (last_activity_at);
