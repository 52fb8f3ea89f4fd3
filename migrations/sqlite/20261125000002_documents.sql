-- Knowledge: documents, their original content, chunks, the processing queue and
-- the change feed that keeps every node's search index current.

CREATE TABLE documents (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    title        TEXT    NOT NULL,
    source       TEXT    NOT NULL,
    url          TEXT,
    kind         TEXT    NOT NULL,
    content_hash TEXT    NOT NULL,
    size_bytes   INTEGER NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('pending', 'processing', 'ready', 'failed')),
    error        TEXT,
    chunk_count  INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE UNIQUE INDEX documents_workspace_hash ON documents (workspace_id, kind, content_hash);

CREATE TABLE document_contents (
    document_id INTEGER PRIMARY KEY REFERENCES documents (id) ON DELETE CASCADE,
    content     BLOB    NOT NULL
);

CREATE TABLE chunks (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id  INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    workspace_id INTEGER NOT NULL,
    ordinal      INTEGER NOT NULL,
    heading_path TEXT    NOT NULL,
    anchor       TEXT,
    text         TEXT    NOT NULL
);
CREATE INDEX chunks_document ON chunks (document_id, ordinal);

CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id  INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    status       TEXT    NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX jobs_claim ON jobs (status, id);

CREATE TABLE index_changes (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL,
    document_id  INTEGER NOT NULL,
    created_at   INTEGER NOT NULL
);
