-- Foundation schema: organizations, users, agents, core-memory blocks, tools,
-- identities, tags, environment variables and messages.
-- JSON columns hold JSON text (TEXT, not JSONB, so object key order survives a round trip);
-- timestamps are TIMESTAMPTZ.

CREATE TABLE organizations (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    privileged_tools BOOLEAN NOT NULL DEFAULT FALSE,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE agents (
    id                      TEXT PRIMARY KEY,
    organization_id         TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    agent_type              TEXT NOT NULL,
    name                    TEXT NOT NULL,
    description             TEXT,
    system                  TEXT NOT NULL,
    message_ids             TEXT NOT NULL,
    response_format         TEXT,
    metadata                TEXT,
    llm_config              TEXT NOT NULL,
    embedding_config        TEXT NOT NULL,
    tool_rules              TEXT NOT NULL,
    project_id              TEXT,
    template_id             TEXT,
    base_template_id        TEXT,
    message_buffer_autoclear BOOLEAN NOT NULL,
    enable_sleeptime        BOOLEAN,
    last_run_completion     TIMESTAMPTZ,
    last_run_duration_ms    BIGINT,
    timezone                TEXT,
    created_by_id           TEXT,
    last_updated_by_id      TEXT,
    created_at              TIMESTAMPTZ NOT NULL,
    updated_at              TIMESTAMPTZ NOT NULL
);
CREATE INDEX agents_org_created ON agents (organization_id, created_at, id);
CREATE INDEX agents_org_name ON agents (organization_id, name);

CREATE TABLE agents_tags (
    agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    tag      TEXT NOT NULL,
    PRIMARY KEY (agent_id, tag)
);
CREATE INDEX agents_tags_tag ON agents_tags (tag);

CREATE TABLE blocks (
    id                    TEXT PRIMARY KEY,
    organization_id       TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    label                 TEXT NOT NULL,
    value                 TEXT NOT NULL,
    "limit"               BIGINT NOT NULL,
    template_name         TEXT,
    description           TEXT,
    is_template           BOOLEAN NOT NULL DEFAULT FALSE,
    preserve_on_migration BOOLEAN,
    read_only             BOOLEAN NOT NULL DEFAULT FALSE,
    metadata              TEXT,
    version               BIGINT NOT NULL DEFAULT 1,
    created_by_id         TEXT,
    last_updated_by_id    TEXT,
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL
);
CREATE INDEX blocks_org_created ON blocks (organization_id, created_at, id);

CREATE TABLE blocks_agents (
    agent_id    TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    block_id    TEXT NOT NULL REFERENCES blocks(id) ON DELETE CASCADE,
    block_label TEXT NOT NULL,
    position    BIGINT NOT NULL,
    PRIMARY KEY (agent_id, block_id),
    UNIQUE (agent_id, block_label)
);
CREATE INDEX blocks_agents_block ON blocks_agents (block_id);

CREATE TABLE tools (
    id                 TEXT PRIMARY KEY,
    organization_id    TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name               TEXT NOT NULL,
    tool_type          TEXT NOT NULL,
    description        TEXT,
    tags               TEXT NOT NULL,
    source_type        TEXT NOT NULL,
    source_code        TEXT,
    json_schema        TEXT,
    args_json_schema   TEXT,
    return_char_limit  BIGINT,
    pip_requirements   TEXT,
    metadata           TEXT,
    created_by_id      TEXT,
    last_updated_by_id TEXT,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    UNIQUE (organization_id, name)
);
CREATE INDEX tools_org_created ON tools (organization_id, created_at, id);

CREATE TABLE tools_agents (
    agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    tool_id  TEXT NOT NULL REFERENCES tools(id) ON DELETE CASCADE,
    PRIMARY KEY (agent_id, tool_id)
);
CREATE INDEX tools_agents_tool ON tools_agents (tool_id);

CREATE TABLE identities (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    identifier_key  TEXT NOT NULL,
    name            TEXT NOT NULL,
    identity_type   TEXT NOT NULL,
    project_id      TEXT,
    properties      TEXT NOT NULL,
    created_by_id      TEXT,
    last_updated_by_id TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
-- (identifier_key, project_id) is unique per organization with NULL project ids equal.
CREATE UNIQUE INDEX identities_key_project
    ON identities (organization_id, identifier_key, COALESCE(project_id, ''));
CREATE INDEX identities_org_created ON identities (organization_id, created_at, id);

CREATE TABLE identities_agents (
    identity_id TEXT NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    agent_id    TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    PRIMARY KEY (identity_id, agent_id)
);
CREATE INDEX identities_agents_agent ON identities_agents (agent_id);

CREATE TABLE identities_blocks (
    identity_id TEXT NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    block_id    TEXT NOT NULL REFERENCES blocks(id) ON DELETE CASCADE,
    PRIMARY KEY (identity_id, block_id)
);
CREATE INDEX identities_blocks_block ON identities_blocks (block_id);

CREATE TABLE agent_environment_variables (
    id                 TEXT PRIMARY KEY,
    organization_id    TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    agent_id           TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    key                TEXT NOT NULL,
    value              TEXT NOT NULL,
    description        TEXT,
    created_by_id      TEXT,
    last_updated_by_id TEXT,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    UNIQUE (agent_id, key)
);

CREATE TABLE messages (
    id                 TEXT PRIMARY KEY,
    sequence_id        BIGINT GENERATED BY DEFAULT AS IDENTITY UNIQUE,
    organization_id    TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    agent_id           TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    role               TEXT NOT NULL,
    content            TEXT NOT NULL,
    model              TEXT,
    name               TEXT,
    tool_calls         TEXT NOT NULL,
    tool_call_id       TEXT,
    tool_returns       TEXT NOT NULL,
    step_id            TEXT,
    otid               TEXT,
    group_id           TEXT,
    sender_id          TEXT,
    batch_item_id      TEXT,
    created_by_id      TEXT,
    last_updated_by_id TEXT,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL
);
CREATE INDEX messages_agent_seq ON messages (agent_id, sequence_id);
