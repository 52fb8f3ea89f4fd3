-- A visitor's message is their session's activity: storing one moves the
-- session's last_activity_at forward in the same statement, so adding a
-- message is one round trip instead of a transaction of two. The bot's reply
-- follows at once and does not touch the session (one row and index write
-- less per turn).
CREATE FUNCTION messages_touch_session() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE chat_sessions SET last_activity_at = NEW.created_at
     WHERE id = NEW.session_id AND last_activity_at < NEW.created_at;
    RETURN NULL;
END
$$;
CREATE TRIGGER messages_touch_session AFTER INSERT ON messages
    FOR EACH ROW WHEN (NEW.role = 'user') EXECUTE FUNCTION messages_touch_session();
