-- Groups of agents: the group and its manager settings, its participants in speaking
-- order, and the blocks shared by all of them. Messages already carry `group_id` (not a
-- foreign key: a deleted group's messages keep it).

CREATE TABLE groups (
    id                        TEXT PRIMARY KEY,
    organization_id           TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    description               TEXT NOT NULL,
    manager_type              TEXT NOT NULL,
    -- A manager cannot be deleted from under its group (the group goes first).
    manager_agent_id          TEXT REFERENCES agents(id) ON DELETE RESTRICT,
    termination_token         TEXT,
    max_turns                 BIGINT,
    sleeptime_agent_frequency BIGINT,
    turns_counter             BIGINT,
    last_processed_message_id TEXT,
    max_message_buffer_length BIGINT,
    min_message_buffer_length BIGINT,
    created_by_id             TEXT,
    last_updated_by_id        TEXT,
    created_at                TIMESTAMPTZ NOT NULL,
    updated_at                TIMESTAMPTZ NOT NULL
);
CREATE INDEX groups_org_created ON groups (organization_id, created_at, id);
CREATE INDEX groups_manager ON groups (manager_agent_id);

-- Participants only (never the manager); `position` is the speaking order.
CREATE TABLE groups_agents (
    group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    PRIMARY KEY (group_id, agent_id)
);
CREATE INDEX groups_agents_agent ON groups_agents (agent_id);

CREATE TABLE groups_blocks (
    group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    block_id TEXT NOT NULL REFERENCES blocks(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, block_id)
);
CREATE INDEX groups_blocks_block ON groups_blocks (block_id);

CREATE INDEX messages_group ON messages (group_id, created_at, id);
