-- Embedding vectors of chunks, one per chunk, with the model that made them.
-- A chunk whose vector is missing or of another model is (re-)embedded in the
-- background; every node loads the vectors into its own in-memory index.

CREATE TABLE chunk_vectors (
    chunk_id     BIGINT PRIMARY KEY REFERENCES chunks (id) ON DELETE CASCADE,
    workspace_id BIGINT  NOT NULL,
    document_id  BIGINT  NOT NULL,
    model        TEXT    NOT NULL,
    -- little-endian f32, `dims` of them
    vector       BYTEA   NOT NULL
);
CREATE INDEX chunk_vectors_document ON chunk_vectors (document_id);
