-- Archival memory (agent passages) and a trigram index for conversation search.
--
-- Embeddings are stored at their true dimension: `embedding` holds little-endian f32 bytes
-- and `embedding_dim` their count (both NULL when the passage has no embedding). When the
-- pgvector extension is available the store adds, in code after the migrations, an
-- `embedding_vec vector` column (used instead of `embedding`) and one HNSW index per
-- dimension in use; those cannot live in a static migration because the extension may be
-- missing.

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
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ,
    embedding          BYTEA
);
-- Embeddings stay in the row (1536 f32 = 6 KB fits a page) rather than in TOAST: an exact
-- scan reads them sequentially, and the planner's costs see their size.
ALTER TABLE agent_passages ALTER COLUMN embedding SET STORAGE MAIN;
CREATE INDEX agent_passages_agent_created ON agent_passages (agent_id, created_at, id);
CREATE INDEX agent_passages_org ON agent_passages (organization_id);

-- conversation_search matches `search_text LIKE '%…%'`; a trigram GIN index serves that
-- form. pg_trgm ships with Postgres' contrib package, but a server without it must still
-- start: the search then scans the agent's messages instead.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX IF NOT EXISTS messages_search_text_trgm
        ON messages USING gin (search_text gin_trgm_ops);
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'pg_trgm is not available (%); conversation search runs without a trigram index', SQLERRM;
END
$$;
