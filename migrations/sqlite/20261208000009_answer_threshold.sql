-- How sure a bot must be that its documents answer before it answers (0-1);
-- NULL: Docent's default (chat::answerable::DEFAULT_THRESHOLD).
ALTER TABLE bots ADD COLUMN answer_threshold REAL;
