-- Archival memory (agent passages). Embeddings are stored at their true dimension:
-- `embedding` holds little-endian f32 bytes and `embedding_dim` their count (both NULL when
-- the passage has no embedding); search is an exact cosine scan in the server.

CREATE TABLE agent_passages (
    id                 TEXT PRIMARY KEY,
    organization_id    TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    agent_id           TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    text               TEXT NOT NULL,
    embedding_dim      INTEGER,
    embedding_config   TEXT,
    metadata           TEXT,
    source_id          TEXT,
    file_id            TEXT,
    file_name          TEXT,
    is_deleted         BOOLEAN NOT NULL DEFAULT FALSE,
    created_by_id      TEXT,
    last_updated_by_id TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT,
    -- Last: SQLite reads the columns after a large value only through its overflow pages.
    embedding          BLOB
);
CREATE INDEX agent_passages_agent_created ON agent_passages (agent_id, created_at, id);
CREATE INDEX agent_passages_org ON agent_passages (organization_id);
