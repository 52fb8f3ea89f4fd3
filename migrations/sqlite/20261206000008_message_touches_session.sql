-- A visitor's message is their session's activity: storing one moves the
-- session's last_activity_at forward in the same statement, so adding a
-- message is one round trip instead of a transaction of two. The bot's reply
-- follows at once and does not touch the session (one row and index write
-- less per turn).
CREATE TRIGGER messages_touch_session AFTER INSERT ON messages
WHEN NEW.role = 'user'
BEGIN
    UPDATE chat_sessions SET last_activity_at = NEW.created_at
     WHERE id = NEW.session_id AND last_activity_at < NEW.created_at;
END;
