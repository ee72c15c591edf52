-- Sources (collections of uploaded files), their files and the files' text, which agents a
-- source is attached to, and which files an agent has in its context (open or closed).
-- A file's chunks live in agent_passages beside archival memory, with agent_id NULL and
-- source_id/file_id set, so they are searched the same way.

CREATE TABLE sources (
    id                 TEXT PRIMARY KEY,
    organization_id    TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name               TEXT NOT NULL,
    description        TEXT,
    instructions       TEXT,
    embedding_config   TEXT NOT NULL,
    metadata           TEXT,
    created_by_id      TEXT,
    last_updated_by_id TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    UNIQUE (name, organization_id)
);
CREATE INDEX sources_org_created ON sources (organization_id, created_at, id);

CREATE TABLE sources_agents (
    agent_id   TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    source_id  TEXT NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    PRIMARY KEY (agent_id, source_id)
);
CREATE INDEX sources_agents_source ON sources_agents (source_id);

CREATE TABLE files (
    id                      TEXT PRIMARY KEY,
    organization_id         TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    source_id               TEXT NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    file_name               TEXT NOT NULL,
    original_file_name      TEXT NOT NULL,
    file_path               TEXT,
    file_type               TEXT,
    file_size               BIGINT,
    file_creation_date      TEXT,
    file_last_modified_date TEXT,
    processing_status       TEXT NOT NULL,
    error_message           TEXT,
    total_chunks            INTEGER,
    chunks_embedded         INTEGER,
    replica_id              TEXT,
    replica_incarnation     TEXT,
    created_by_id           TEXT,
    last_updated_by_id      TEXT,
    created_at              TEXT NOT NULL,
    updated_at              TEXT NOT NULL
);
CREATE INDEX files_source_created ON files (source_id, created_at, id);
CREATE INDEX files_unfinished ON files (processing_status)
    WHERE processing_status IN ('pending', 'parsing', 'embedding');

CREATE TABLE file_contents (
    file_id TEXT PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
    text    TEXT NOT NULL
);

CREATE TABLE files_agents (
    id               TEXT PRIMARY KEY,
    organization_id  TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    agent_id         TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    file_id          TEXT NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    source_id        TEXT NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    file_name        TEXT NOT NULL,
    is_open          BOOLEAN NOT NULL DEFAULT TRUE,
    visible_content  TEXT,
    last_accessed_at TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    UNIQUE (file_id, agent_id),
    UNIQUE (agent_id, file_name)
);

-- Source passages have no agent: SQLite cannot drop a NOT NULL, so the table is rebuilt
-- (nothing references it).
CREATE TABLE agent_passages_new (
    id                 TEXT PRIMARY KEY,
    organization_id    TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    agent_id           TEXT REFERENCES agents(id) ON DELETE CASCADE,
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
    embedding          BLOB
);
INSERT INTO agent_passages_new SELECT id, organization_id, agent_id, text, embedding_dim,
    embedding_config, metadata, source_id, file_id, file_name, is_deleted, created_by_id,
    last_updated_by_id, created_at, updated_at, embedding FROM agent_passages;
DROP TABLE agent_passages;
ALTER TABLE agent_passages_new RENAME TO agent_passages;
CREATE INDEX agent_passages_agent_created ON agent_passages (agent_id, created_at, id);
CREATE INDEX agent_passages_org ON agent_passages (organization_id);
CREATE INDEX agent_passages_source_file ON agent_passages (source_id, file_id, created_at, id)
    WHERE agent_id IS NULL;
