-- Embedding vectors of chunks, one per chunk and model (during a change of model
-- the old vectors stay until the new ones are made).
-- A chunk whose vector is missing or of another model is (re-)embedded in the
-- background; every node loads the vectors into its own in-memory index.

CREATE TABLE chunk_vectors (
    chunk_id     BIGINT NOT NULL REFERENCES chunks (id) ON DELETE CASCADE,
    workspace_id BIGINT  NOT NULL,
    document_id  BIGINT  NOT NULL,
    model        TEXT    NOT NULL,
    -- little-endian f32, `dims` of them
    vector       BYTEA   NOT NULL,
    PRIMARY KEY (chunk_id, model)
);
CREATE INDEX chunk_vectors_document ON chunk_vectors (document_id);
