"""Fixtures for the SDK tests: a client for the server at LETTA_BASE_URL (scripts/test.sh starts
one) and helpers that clean up what a test created."""

import os
import uuid

import pytest
from letta_client import Letta

MODEL = "openai/gpt-4o-mini"
EMBEDDING = "openai/text-embedding-3-small"


@pytest.fixture(scope="session")
def base_url():
    return os.environ.get("LETTA_BASE_URL", "http://127.0.0.1:8283")


@pytest.fixture(scope="session")
def client(base_url):
    return Letta(base_url=base_url, timeout=60)


@pytest.fixture
def unique():
    """Returns a name nobody else on the server uses: unique("agent") -> "agent-3f2a9c1d"."""
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:8]}"


def _delete_quietly(fn, *args):
    try:
        fn(*args)
    except Exception:  # already deleted by the test
        pass


@pytest.fixture
def make_agent(client, unique):
    """Creates agents (model and embedding filled in) and deletes them after the test."""
    created = []

    def make(**kwargs):
        kwargs.setdefault("name", unique("sdk-agent"))
        kwargs.setdefault("model", MODEL)
        kwargs.setdefault("embedding", EMBEDDING)
        agent = client.agents.create(**kwargs)
        created.append(agent.id)
        return agent

    yield make
    for agent_id in created:
        _delete_quietly(client.agents.delete, agent_id)


@pytest.fixture
def make_block(client, unique):
    created = []

    def make(**kwargs):
        kwargs.setdefault("label", "human")
        kwargs.setdefault("value", "The human's name is Ada.")
        block = client.blocks.create(**kwargs)
        created.append(block.id)
        return block

    yield make
    for block_id in created:
        _delete_quietly(client.blocks.delete, block_id)


@pytest.fixture
def make_identity(client, unique):
    created = []

    def make(**kwargs):
        kwargs.setdefault("identifier_key", unique("sdk-key"))
        kwargs.setdefault("name", unique("sdk-identity"))
        kwargs.setdefault("identity_type", "user")
        identity = client.identities.create(**kwargs)
        created.append(identity.id)
        return identity

    yield make
    for identity_id in created:
        _delete_quietly(client.identities.delete, identity_id)
