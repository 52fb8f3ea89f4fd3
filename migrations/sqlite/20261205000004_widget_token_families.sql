-- A widget token made by refreshing another belongs to the family of the token
-- the owner generated (`family_id` is that token's id; NULL for the generated
-- one itself). Revoking the generated token revokes every token refreshed from it.
ALTER TABLE widget_tokens ADD COLUMN family_id BIGINT REFERENCES widget_tokens (id) ON DELETE CASCADE;
CREATE INDEX widget_tokens_family ON widget_tokens (family_id);
