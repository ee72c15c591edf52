"""The official Python client (letta-client, pinned in requirements.txt) against letta-rs.

Run by scripts/test.sh against a fresh server (embedded SQLite) whose OpenAI provider is the mock
in mock_openai.py. Every test creates what it needs under unique names, so the order does not
matter and a reused server is fine.
"""

import json
import time

import pytest
from letta_client.core.api_error import ApiError

from conftest import EMBEDDING, MODEL

DEFAULT_TOOLS = {"send_message", "conversation_search", "core_memory_append", "core_memory_replace"}


def assert_not_found(call, *args):
    with pytest.raises(ApiError) as info:
        call(*args)
    assert info.value.status_code == 404, info.value.body


def block_values(blocks):
    return {b.label: b.value for b in blocks}


# --- health and models --------------------------------------------------------------------------


def test_health(client):
    health = client.health.check()
    assert health.status == "ok"
    assert health.version == "0.8.12"


def test_models_list(client):
    models = client.models.list()
    by_model = {m.model: m for m in models}
    assert {"gpt-4o-mini", "gpt-4o"} <= set(by_model), [m.handle for m in models]
    mini = by_model["gpt-4o-mini"]
    assert mini.model_endpoint_type == "openai"
    assert mini.handle and mini.handle.endswith("/gpt-4o-mini")
    assert mini.context_window > 0
    assert mini.provider_name == "openai"


def test_embedding_models_list(client):
    models = client.embedding_models.list()
    for m in models:
        assert m.embedding_model and m.embedding_dim > 0 and m.handle, m


# --- agents -------------------------------------------------------------------------------------


def test_create_agent_resolves_handles_and_memory(client, make_agent, unique):
    name = unique("sdk-create")
    agent = make_agent(
        name=name,
        description="made by the SDK test",
        tags=["sdk", "create"],
        metadata={"suite": "sdk"},
        memory_blocks=[
            {"label": "human", "value": "Name: Ada"},
            {"label": "persona", "value": "I am a careful assistant.", "limit": 4000},
        ],
    )
    assert agent.id.startswith("agent-")
    assert agent.name == name
    assert agent.description == "made by the SDK test"
    assert sorted(agent.tags) == ["create", "sdk"]
    assert agent.metadata == {"suite": "sdk"}
    assert agent.agent_type == "memgpt_agent"
    assert agent.created_at is not None

    llm = agent.llm_config
    assert llm.model == "gpt-4o-mini"
    assert llm.model_endpoint_type == "openai"
    assert llm.handle.endswith("/gpt-4o-mini")
    assert 0 < llm.context_window <= 32000
    emb = agent.embedding_config
    assert emb.embedding_model == "text-embedding-3-small"
    assert emb.embedding_endpoint_type == "openai"
    assert emb.embedding_dim > 0

    assert block_values(agent.memory.blocks) == {"human": "Name: Ada", "persona": "I am a careful assistant."}
    limits = {b.label: b.limit for b in agent.memory.blocks}
    assert limits == {"human": 5000, "persona": 4000}
    assert all(b.id.startswith("block-") for b in agent.memory.blocks)

    assert {t.name for t in agent.tools} == DEFAULT_TOOLS
    assert {r.tool_name for r in agent.tool_rules} == DEFAULT_TOOLS
    # `system` holds the base instructions; memory is compiled into the first message.
    assert agent.system.startswith("<base_instructions>")
    assert len(agent.message_ids) >= 1


def test_retrieve_agent(client, make_agent):
    agent = make_agent(memory_blocks=[{"label": "human", "value": "likes tea"}], tags=["one"])
    got = client.agents.retrieve(agent.id)
    assert got.id == agent.id
    assert got.name == agent.name
    assert got.tags == ["one"]
    assert got.llm_config.handle == agent.llm_config.handle
    assert block_values(got.memory.blocks) == {"human": "likes tea"}
    assert got.message_ids == agent.message_ids


def test_list_agents_filters(client, make_agent, unique):
    tag_a, tag_b = unique("tag-a"), unique("tag-b")
    stem = unique("sdk-list")
    # A second apart, so the creation order is unambiguous even at one-second resolution.
    first = make_agent(name=f"{stem}-first", tags=[tag_a])
    time.sleep(1.05)
    second = make_agent(name=f"{stem}-second", tags=[tag_a, tag_b])
    time.sleep(1.05)
    third = make_agent(name=f"{stem}-THIRD", tags=[tag_b])

    by_name = client.agents.list(name=second.name)
    assert [a.id for a in by_name] == [second.id]

    any_tag = client.agents.list(tags=[tag_a])
    assert {a.id for a in any_tag} == {first.id, second.id}
    either = client.agents.list(tags=[tag_a, tag_b])
    assert {a.id for a in either} == {first.id, second.id, third.id}
    both = client.agents.list(tags=[tag_a, tag_b], match_all_tags=True)
    assert [a.id for a in both] == [second.id]

    # query_text: case-insensitive substring of the name.
    found = client.agents.list(query_text=stem.upper())
    assert {a.id for a in found} == {first.id, second.id, third.id}
    found = client.agents.list(query_text=f"{stem}-third")
    assert [a.id for a in found] == [third.id]

    # Newest first by default; limit cuts the page.
    page = client.agents.list(query_text=stem, limit=2)
    assert [a.id for a in page] == [third.id, second.id]
    oldest = client.agents.list(query_text=stem, limit=1, ascending=True)
    assert [a.id for a in oldest] == [first.id]
    rest = client.agents.list(query_text=stem, after=third.id)
    assert [a.id for a in rest] == [second.id, first.id]

    assert client.agents.list(name=unique("nobody")) == []
    assert client.agents.count() >= 3


def test_modify_agent(client, make_agent, unique):
    agent = make_agent(tags=["before"], description="old")
    new_name = unique("sdk-renamed")
    modified = client.agents.modify(agent.id, name=new_name, tags=["after", "x"], description="new")
    assert modified.id == agent.id
    assert modified.name == new_name
    assert sorted(modified.tags) == ["after", "x"]
    assert modified.description == "new"

    got = client.agents.retrieve(agent.id)
    assert got.name == new_name
    assert sorted(got.tags) == ["after", "x"]
    assert got.description == "new"
    # Fields not sent are left alone.
    assert got.llm_config.model == "gpt-4o-mini"
    assert [a.id for a in client.agents.list(tags=["before"]) if a.id == agent.id] == []


def test_delete_agent(client, make_agent):
    agent = make_agent(memory_blocks=[{"label": "human", "value": "x"}])
    block_id = agent.memory.blocks[0].id
    client.agents.delete(agent.id)
    assert_not_found(client.agents.retrieve, agent.id)
    assert client.agents.list(name=agent.name) == []
    # Deleting an agent keeps its blocks.
    assert client.blocks.retrieve(block_id).value == "x"
    client.blocks.delete(block_id)


def test_unknown_agent_is_404(client):
    assert_not_found(client.agents.retrieve, "agent-00000000-0000-4000-8000-000000000000")


def test_create_agent_with_unknown_model_fails(client, unique):
    with pytest.raises(ApiError) as info:
        client.agents.create(name=unique("sdk-bad"), model="openai/no-such-model", embedding=EMBEDDING)
    # Letta 0.8.12 answers 500; we answer 4xx and list the available handles
    # (docs/compatibility.md).
    assert 400 <= info.value.status_code < 500, info.value.body
    assert "no-such-model" in str(info.value.body)
    assert "gpt-4o-mini" in str(info.value.body)


def test_tags_list(client, make_agent, unique):
    stem = unique("sdktag")
    make_agent(tags=[f"{stem}-b", f"{stem}-a"])
    make_agent(tags=[f"{stem}-c", f"{stem}-a"])
    assert client.tags.list(query_text=stem) == [f"{stem}-a", f"{stem}-b", f"{stem}-c"]
    assert client.tags.list(query_text=stem, after=f"{stem}-a") == [f"{stem}-b", f"{stem}-c"]
    assert client.tags.list(query_text=stem, limit=1) == [f"{stem}-a"]


# --- blocks -------------------------------------------------------------------------------------


def test_block_lifecycle(client, make_block, unique):
    name = unique("sdk-block")
    block = make_block(label="persona", value="I speak French.", limit=300, name=name, description="who I am")
    assert block.id.startswith("block-")
    assert (block.label, block.value, block.limit, block.name) == ("persona", "I speak French.", 300, name)
    assert block.description == "who I am"
    assert block.is_template is False
    assert block.read_only is False

    got = client.blocks.retrieve(block.id)
    assert (got.id, got.label, got.value, got.limit) == (block.id, "persona", "I speak French.", 300)

    listed = client.blocks.list(label="persona")
    assert block.id in {b.id for b in listed}
    assert all(b.label == "persona" for b in listed)
    assert [b.id for b in client.blocks.list(name=name)] == [block.id]
    assert len(client.blocks.list(limit=1)) == 1

    modified = client.blocks.modify(block.id, value="Je parle français.", limit=500)
    assert (modified.value, modified.limit, modified.label) == ("Je parle français.", 500, "persona")
    assert client.blocks.retrieve(block.id).value == "Je parle français."

    deleted = client.blocks.delete(block.id)
    assert deleted.id == block.id
    assert_not_found(client.blocks.retrieve, block.id)


def test_block_value_over_limit_is_rejected(client):
    with pytest.raises(ApiError) as info:
        client.blocks.create(label="human", value="x" * 20, limit=10)
    assert info.value.status_code in (400, 422), info.value.body


# --- core memory (agent blocks) -------------------------------------------------------------------


def test_core_memory_blocks(client, make_agent, make_block):
    agent = make_agent(
        memory_blocks=[
            {"label": "human", "value": "Name: Ada"},
            {"label": "persona", "value": "I am helpful."},
        ]
    )
    blocks = client.agents.blocks.list(agent.id)
    assert block_values(blocks) == {"human": "Name: Ada", "persona": "I am helpful."}

    human = client.agents.blocks.retrieve(agent.id, "human")
    assert human.label == "human" and human.value == "Name: Ada"

    updated = client.agents.blocks.modify(agent.id, "human", value="Name: Ada Lovelace")
    assert updated.id == human.id
    assert updated.value == "Name: Ada Lovelace"
    assert client.agents.blocks.retrieve(agent.id, "human").value == "Name: Ada Lovelace"
    # The same block, seen from /v1/blocks and from the agent.
    assert client.blocks.retrieve(human.id).value == "Name: Ada Lovelace"
    refreshed = client.agents.retrieve(agent.id)
    assert block_values(refreshed.memory.blocks)["human"] == "Name: Ada Lovelace"

    assert_not_found(client.agents.blocks.retrieve, agent.id, "no-such-label")

    extra = make_block(label="notes", value="remember the milk")
    attached = client.agents.blocks.attach(agent.id, extra.id)
    assert block_values(attached.memory.blocks)["notes"] == "remember the milk"
    assert client.agents.blocks.retrieve(agent.id, "notes").id == extra.id

    detached = client.agents.blocks.detach(agent.id, extra.id)
    assert "notes" not in block_values(detached.memory.blocks)
    assert {b.label for b in client.agents.blocks.list(agent.id)} == {"human", "persona"}
    # Detaching does not delete the block.
    assert client.blocks.retrieve(extra.id).value == "remember the milk"


# --- identities ---------------------------------------------------------------------------------


def test_identity_lifecycle(client, make_identity, unique):
    key = unique("sdk-key")
    identity = make_identity(
        identifier_key=key,
        name="Ada",
        identity_type="user",
        properties=[{"key": "plan", "value": "pro", "type": "string"}],
    )
    assert identity.id.startswith("identity-")
    assert (identity.identifier_key, identity.name, identity.identity_type) == (key, "Ada", "user")
    assert [(p.key, p.value, p.type) for p in identity.properties] == [("plan", "pro", "string")]
    assert identity.agent_ids == [] and identity.block_ids == []

    got = client.identities.retrieve(identity.id)
    assert (got.id, got.identifier_key, got.name) == (identity.id, key, "Ada")

    listed = client.identities.list(identifier_key=key)
    assert [i.id for i in listed] == [identity.id]
    assert [i.id for i in client.identities.list(identifier_key=key, identity_type="user")] == [identity.id]
    assert client.identities.list(identifier_key=key, identity_type="org") == []
    assert client.identities.count() >= 1

    modified = client.identities.modify(
        identity.id, name="Ada L.", properties=[{"key": "seats", "value": 3, "type": "number"}]
    )
    assert modified.name == "Ada L."
    # PATCH merges properties by key.
    assert {p.key: p.value for p in modified.properties} == {"plan": "pro", "seats": 3}
    assert client.identities.retrieve(identity.id).name == "Ada L."

    client.identities.delete(identity.id)
    assert_not_found(client.identities.retrieve, identity.id)
    assert client.identities.list(identifier_key=key) == []


def test_identity_upsert_creates_then_updates(client, unique):
    key = unique("sdk-upsert")
    created = client.identities.upsert(identifier_key=key, name="First", identity_type="org")
    try:
        assert created.id.startswith("identity-")
        assert (created.identifier_key, created.name, created.identity_type) == (key, "First", "org")
        updated = client.identities.upsert(identifier_key=key, name="Second", identity_type="other")
        assert updated.id == created.id
        assert (updated.name, updated.identity_type) == ("Second", "other")
        assert [i.id for i in client.identities.list(identifier_key=key)] == [created.id]
    finally:
        client.identities.delete(created.id)


def test_identity_properties_replace(client, make_identity):
    identity = make_identity(properties=[{"key": "plan", "value": "pro", "type": "string"}])
    client.identities.properties.upsert(
        identity.id,
        request=[{"key": "active", "value": True, "type": "boolean"}, {"key": "extra", "value": {"a": 1}, "type": "json"}],
    )
    props = {p.key: (p.value, p.type) for p in client.identities.retrieve(identity.id).properties}
    assert props == {"active": (True, "boolean"), "extra": ({"a": 1}, "json")}


def test_duplicate_identity_is_409(client, make_identity):
    identity = make_identity()
    with pytest.raises(ApiError) as info:
        client.identities.create(identifier_key=identity.identifier_key, name="again", identity_type="user")
    assert info.value.status_code == 409, info.value.body


def test_agents_and_identities_link(client, make_agent, make_identity):
    identity = make_identity()
    agent = make_agent(identity_ids=[identity.id])
    assert agent.identity_ids == [identity.id]
    assert client.identities.retrieve(identity.id).agent_ids == [agent.id]
    assert [a.id for a in client.agents.list(identity_id=identity.id)] == [agent.id]
    assert [a.id for a in client.agents.list(identifier_keys=[identity.identifier_key])] == [agent.id]


# --- tools --------------------------------------------------------------------------------------


def test_tools_list(client):
    tools = client.tools.list()
    names = {t.name for t in tools}
    assert DEFAULT_TOOLS <= names, names
    assert len(names) == len(tools), "tool names are unique per organization"
    for t in tools:
        assert t.id.startswith("tool-")
        assert t.json_schema and t.json_schema["name"] == t.name

    [send] = client.tools.list(name="send_message")
    assert send.tool_type == "letta_core"
    assert send.json_schema["parameters"]["required"] == ["message"]
    assert client.tools.list(name="no_such_tool") == []
    assert len(client.tools.list(limit=2)) == 2
    assert client.tools.retrieve(send.id).name == "send_message"


def _source(name, doc="Add two numbers."):
    return f'''def {name}(a: int, b: int) -> int:
    """
    {doc}

    Args:
        a (int): The first number.
        b (int): The second number.
    """
    print("adding")
    return a + b
'''


def test_custom_tool_lifecycle(client, unique):
    name = unique("sdk_add").replace("-", "_")
    tool = client.tools.create(source_code=_source(name), tags=["sdk"])
    try:
        assert tool.name == name
        assert tool.tool_type == "custom"
        assert tool.description == "Add two numbers."
        assert tool.return_char_limit == 6000
        assert tool.json_schema["parameters"]["required"] == ["a", "b"]
        assert [t.id for t in client.tools.list(name=name)] == [tool.id]

        with pytest.raises(ApiError) as info:
            client.tools.create(source_code=_source(name))
        assert info.value.status_code == 409, info.value.body

        upserted = client.tools.upsert(source_code=_source(name, "Sum two integers."), tags=["b"])
        assert upserted.id == tool.id
        assert upserted.description == "Sum two integers."
        assert upserted.tags == ["b"]

        renamed = name + "_v2"
        modified = client.tools.modify(tool.id, source_code=_source(renamed), return_char_limit=100)
        assert modified.id == tool.id
        assert modified.name == renamed
        assert modified.return_char_limit == 100
    finally:
        client.tools.delete(tool.id)
    assert_not_found(client.tools.retrieve, tool.id)
    with pytest.raises(ApiError) as info:
        client.tools.delete(tool.id)
    assert info.value.status_code == 400, info.value.body


def test_custom_tool_bad_source(client, unique):
    with pytest.raises(ApiError) as info:
        client.tools.create(source_code="def bare(a: int) -> int:\n    return a\n")
    assert info.value.status_code == 400, info.value.body
    assert client.tools.list(name="bare") == []


def test_run_tool_from_source(client, unique):
    ret = client.tools.run_tool_from_source(source_code=_source("add"), args={"a": 2, "b": 3})
    assert ret.status == "success"
    assert ret.tool_return == "5"
    assert ret.stdout == ["adding\n"]

    failing = _source("add").replace("return a + b", "return a / 0")
    ret = client.tools.run_tool_from_source(source_code=failing, args={"a": 1, "b": 0})
    assert ret.status == "error"
    assert "ZeroDivisionError" in ret.tool_return

    reader = '''def read_env(name: str) -> str:
    """
    Read a variable.

    Args:
        name (str): Its name.
    """
    import os
    return str(os.environ.get(name))
'''
    ret = client.tools.run_tool_from_source(
        source_code=reader, args={"name": "SDK_VAR"}, env_vars={"SDK_VAR": "visible"}
    )
    assert ret.tool_return == "visible"
    ret = client.tools.run_tool_from_source(source_code=reader, args={"name": "OPENAI_API_KEY"})
    assert ret.tool_return == "None"



# --- Messages: the agent loop through the SDK (the mock model echoes with send_message) ----


def test_send_message_and_list(client, make_agent):
    from letta_client import MessageCreate

    agent = make_agent()
    response = client.agents.messages.create(
        agent_id=agent.id,
        messages=[MessageCreate(role="user", content="hello sdk")],
    )
    kinds = [m.message_type for m in response.messages]
    assert kinds == ["reasoning_message", "assistant_message"]
    assert response.messages[1].content == "Echo: hello sdk"
    assert response.stop_reason.stop_reason == "end_turn"
    assert response.usage.step_count == 1
    assert response.usage.total_tokens == 120

    history = client.agents.messages.list(agent_id=agent.id, limit=3)
    assert [m.message_type for m in history] == ["user_message", "reasoning_message", "assistant_message"]
    assert history[0].content == "hello sdk"
    assert history[2].content == "Echo: hello sdk"

    raw = client.agents.messages.list(agent_id=agent.id, limit=3, use_assistant_message=False)
    assert [m.message_type for m in raw][-2:] == ["tool_call_message", "tool_return_message"]


def test_modify_message(client, make_agent):
    from letta_client import MessageCreate, UpdateAssistantMessage, UpdateUserMessage

    agent = make_agent()
    client.agents.messages.create(agent_id=agent.id, messages=[MessageCreate(role="user", content="original")])
    history = client.agents.messages.list(agent_id=agent.id, limit=3)
    user_msg, reply = history[0], history[2]

    changed = client.agents.messages.modify(
        agent_id=agent.id, message_id=user_msg.id, request=UpdateUserMessage(content="edited", message_type="user_message")
    )
    assert changed.message_type == "user_message"
    assert changed.content == "edited"

    changed = client.agents.messages.modify(
        agent_id=agent.id, message_id=reply.id, request=UpdateAssistantMessage(content="rewritten reply", message_type="assistant_message")
    )
    assert changed.message_type == "assistant_message"
    assert changed.content == "rewritten reply"
    after = client.agents.messages.list(agent_id=agent.id, limit=3)
    assert after[0].content == "edited"
    assert after[2].content == "rewritten reply"


def test_reset_messages(client, make_agent):
    from letta_client import MessageCreate

    agent = make_agent()
    client.agents.messages.create(agent_id=agent.id, messages=[MessageCreate(role="user", content="to forget")])
    state = client.agents.messages.reset(agent_id=agent.id)
    assert len(state.message_ids) == 1
    assert [m.message_type for m in client.agents.messages.list(agent_id=agent.id)] == ["system_message"]

    state = client.agents.messages.reset(agent_id=agent.id, add_default_initial_messages=True)
    assert len(state.message_ids) == 4


# --- Runs and jobs: each message request is a run -----------------------------------------------


def test_run_of_a_message_request(client, make_agent):
    from letta_client import MessageCreate

    agent = make_agent()
    client.agents.messages.create(agent_id=agent.id, messages=[MessageCreate(role="user", content="hello runs")])
    runs = client.runs.list(agent_ids=[agent.id])
    assert len(runs) == 1
    run = runs[0]
    assert run.id.startswith("run-")
    assert run.status == "completed" and run.completed_at is not None
    assert run.metadata["agent_id"] == agent.id
    assert client.runs.retrieve(run.id) == run
    assert client.runs.list_active(agent_ids=[agent.id]) == []

    messages = client.runs.messages.list(run_id=run.id)
    assert [m.message_type for m in messages] == ["user_message", "reasoning_message", "assistant_message"]
    assert messages[0].content == "hello runs"
    assert messages[2].content == "Echo: hello runs"
    assert [m.message_type for m in client.runs.messages.list(run_id=run.id, role="user")] == ["user_message"]
    newest_first = client.runs.messages.list(run_id=run.id, order="desc", role="assistant")
    assert [m.message_type for m in newest_first] == ["assistant_message", "reasoning_message"]

    usage = client.runs.usage.retrieve(run.id)
    assert usage.total_tokens == 120
    assert usage.prompt_tokens + usage.completion_tokens == 120
    steps = client.runs.steps.list(run_id=run.id)
    assert len(steps) == 1
    assert steps[0].job_id == run.id and steps[0].total_tokens == 120

    # Also a job; finished, so it cannot be cancelled any more.
    job = client.jobs.retrieve(run.id)
    assert job.id == run.id and job.job_type == "run"
    with pytest.raises(ApiError) as info:
        client.jobs.cancel_job(run.id)
    assert info.value.status_code == 409, info.value.body

    deleted = client.runs.delete(run.id)
    assert deleted.id == run.id
    assert_not_found(client.runs.retrieve, run.id)
    assert client.runs.list(agent_ids=[agent.id]) == []


def test_unknown_run_is_404(client):
    missing = "run-00000000-0000-4000-8000-000000000000"
    assert_not_found(client.runs.retrieve, missing)
    assert_not_found(client.runs.usage.retrieve, missing)
    assert_not_found(client.runs.messages.list, missing)
    assert_not_found(client.runs.delete, missing)
    assert_not_found(client.jobs.retrieve, missing)
    assert client.runs.steps.list(run_id=missing) == []
    assert all(job.job_type == "job" for job in client.jobs.list())


# --- Archival memory (passages); the mock's embeddings match identical texts only ------------------


def test_passages_lifecycle(client, make_agent):
    agent = make_agent()
    facts = ["The user likes green tea.", "The capital of France is Paris.", "Rockets fly to the moon."]
    created = [client.agents.passages.create(agent_id=agent.id, text=fact) for fact in facts]
    assert [len(c) for c in created] == [1, 1, 1]
    first = created[0][0]
    assert first.id.startswith("passage-") and first.agent_id == agent.id
    assert first.text == facts[0] and len(first.embedding) == 1536
    assert first.embedding_config.embedding_model == "text-embedding-3-small"

    listed = client.agents.passages.list(agent_id=agent.id)
    assert [p.text for p in listed] == facts
    assert [p.text for p in client.agents.passages.list(agent_id=agent.id, ascending=False, limit=2)] == facts[::-1][:2]
    after = client.agents.passages.list(agent_id=agent.id, after=first.id)
    assert [p.text for p in after] == facts[1:]
    # `search` ranks by embedding similarity: the identical text comes first.
    found = client.agents.passages.list(agent_id=agent.id, search=facts[1], limit=1)
    assert [p.text for p in found] == [facts[1]]

    modified = client.agents.passages.modify(
        agent_id=agent.id, memory_id=first.id, id=first.id, text="The user likes oolong tea."
    )
    assert [p.text for p in modified] == ["The user likes oolong tea."]
    assert modified[0].embedding != first.embedding
    found = client.agents.passages.list(agent_id=agent.id, search="The user likes oolong tea.", limit=1)
    assert found[0].id == first.id

    client.agents.passages.delete(agent_id=agent.id, memory_id=first.id)
    assert [p.text for p in client.agents.passages.list(agent_id=agent.id)] == facts[1:]
    with pytest.raises(ApiError) as info:
        client.agents.passages.delete(agent_id=agent.id, memory_id=first.id)
    assert info.value.status_code == 404, info.value.body
    with pytest.raises(ApiError) as info:
        client.agents.passages.create(agent_id="agent-00000000-0000-4000-8000-000000000000", text="x")
    assert info.value.status_code == 404, info.value.body


def test_stream_steps_and_async_run(client, make_agent):
    from letta_client import MessageCreate

    agent = make_agent()
    chunks = list(
        client.agents.messages.create_stream(
            agent_id=agent.id,
            messages=[MessageCreate(role="user", content="hello stream")],
        )
    )
    kinds = [c.message_type for c in chunks]
    assert kinds == ["reasoning_message", "assistant_message", "stop_reason", "usage_statistics"]
    assert chunks[1].content == "Echo: hello stream"
    assert chunks[2].stop_reason == "end_turn"
    assert chunks[3].step_count == 1

    run = client.agents.messages.create_async(
        agent_id=agent.id,
        messages=[MessageCreate(role="user", content="in the background")],
    )
    assert run.status == "created"
    deadline = time.time() + 10
    while True:
        current = client.runs.retrieve(run_id=run.id)
        if current.status == "completed":
            break
        assert time.time() < deadline, current.status
        time.sleep(0.05)
    assert current.metadata["result"]["messages"][1]["content"] == "Echo: in the background"
    # Finished runs cannot be cancelled; the answer says so per run.
    assert client.agents.cancel_agent_run(agent_id=agent.id, request=[run.id]) == {run.id: "failed"}


# --- Groups: CRUD and a round-robin send through the official client ---------------------------


def test_group_lifecycle_and_send(client, make_agent, unique):
    from letta_client import MessageCreate, RoundRobinManager

    alice = make_agent(name=unique("alice"))
    bob = make_agent(name=unique("bob"))
    group = client.groups.create(
        agent_ids=[alice.id, bob.id],
        description="two echo agents",
        manager_config=RoundRobinManager(),
    )
    try:
        assert group.id.startswith("group-")
        assert group.manager_type == "round_robin"
        assert group.agent_ids == [alice.id, bob.id]
        assert group.id in [g.id for g in client.groups.list()]
        assert [g.id for g in client.groups.list(manager_type="round_robin") if g.id == group.id] == [group.id]
        assert client.groups.retrieve(group_id=group.id).description == "two echo agents"

        changed = client.groups.modify(group_id=group.id, description="renamed")
        assert changed.description == "renamed"

        response = client.groups.messages.create(
            group_id=group.id, messages=[MessageCreate(role="user", content="hello group")]
        )
        said = [(m.name, m.content) for m in response.messages if m.message_type == "assistant_message"]
        assert said == [(alice.name, "Echo: hello group"), (bob.name, "Echo: hello group")]
        assert response.stop_reason.stop_reason == "end_turn"
        assert response.usage.step_count == 2

        listed = client.groups.messages.list(group_id=group.id, limit=50)
        assert any(m.message_type == "assistant_message" for m in listed)
        assert [g.id for g in client.agents.groups.list(agent_id=bob.id)] == [group.id]
    finally:
        client.groups.delete(group_id=group.id)
    with pytest.raises(ApiError) as err:
        client.groups.retrieve(group_id=group.id)
    assert err.value.status_code == 404
# --- Sources and files (upload, background ingestion, attach to an agent) ---------------------------


def _wait_for_file(client, source_id, file_id):
    import time

    deadline = time.time() + 60
    while True:
        meta = client.sources.get_file_metadata(source_id=source_id, file_id=file_id)
        if meta.processing_status in ("completed", "error"):
            return meta
        assert time.time() < deadline, meta
        time.sleep(0.1)


def test_sources_and_files(client, make_agent, unique):
    from letta_client.core.api_error import ApiError

    name = unique("docs")
    source = client.sources.create(name=name, embedding="openai/text-embedding-3-small", description="Team docs")
    try:
        assert source.id.startswith("source-") and source.name == name
        assert client.sources.retrieve(source_id=source.id).description == "Team docs"
        assert client.sources.retrieve_by_name(source_name=name) == source.id
        assert source.id in [s.id for s in client.sources.list()]
        assert client.sources.count() >= 1
        renamed = client.sources.modify(source_id=source.id, description="All team docs")
        assert renamed.description == "All team docs"

        uploaded = client.sources.files.upload(
            source_id=source.id, file=("handbook.md", b"# Handbook\n\nThe office opens at nine. Lunch is at noon.", "text/markdown")
        )
        assert uploaded.processing_status == "pending" and uploaded.file_name == "handbook.md"
        done = _wait_for_file(client, source.id, uploaded.id)
        assert done.processing_status == "completed", done
        assert done.total_chunks == done.chunks_embedded >= 1
        files = client.sources.files.list(source_id=source.id)
        assert [f.id for f in files] == [uploaded.id]
        passages = client.sources.passages.list(source_id=source.id)
        assert passages and all(p.source_id == source.id for p in passages)

        with pytest.raises(ApiError) as info:
            client.sources.files.upload(source_id=source.id, file=("image.png", b"\x89PNG", "image/png"))
        assert info.value.status_code == 415, info.value.body

        agent = make_agent()
        attached = client.agents.sources.attach(agent_id=agent.id, source_id=source.id)
        assert "open_files" in [t.name for t in attached.tools]
        assert [s.id for s in client.agents.sources.list(agent_id=agent.id)] == [source.id]
        state = client.agents.retrieve(agent_id=agent.id)
        assert [b.label for b in state.memory.file_blocks] == [f"{name}/handbook.md"]
        detached = client.agents.sources.detach(agent_id=agent.id, source_id=source.id)
        assert detached.memory.file_blocks == []

        client.sources.files.delete(source_id=source.id, file_id=uploaded.id)
        assert client.sources.files.list(source_id=source.id) == []
    finally:
        client.sources.delete(source_id=source.id)
    with pytest.raises(ApiError) as info:
        client.sources.retrieve(source_id=source.id)
    assert info.value.status_code == 404, info.value.body
def test_agent_file_export_and_import(client, make_agent, unique):
    agent = make_agent(
        memory_blocks=[{"label": "human", "value": "likes tea"}],
        tags=["portable"],
        tool_exec_environment_variables={"API_KEY": "secret"},
    )
    exported = client.agents.export_file(agent.id)
    data = exported if isinstance(exported, dict) else json.loads(exported)
    assert data["version"] == "0.8.12"
    assert data["tool_exec_environment_variables"][0]["value"] == ""
    copy = client.agents.import_file(
        file=("agent.af", json.dumps(data).encode(), "application/json"),
        project_id="proj-sdk",
    )
    try:
        assert copy.id != agent.id
        assert copy.name == agent.name + "_copy"
        assert copy.project_id == "proj-sdk"
        assert copy.tags == ["portable"]
        assert block_values(copy.memory.blocks) == {"human": "likes tea"}
        assert len(copy.message_ids) == len(agent.message_ids)
        plain = client.agents.import_file(
            file=("agent.af", json.dumps(data).encode(), "application/json"),
            append_copy_suffix=False,
            strip_messages=True,
        )
        assert plain.name == agent.name
        assert len(plain.message_ids) == 1
        client.agents.delete(plain.id)
    finally:
        client.agents.delete(copy.id)
    assert_not_found(client.agents.export_file, "agent-00000000-0000-4000-8000-000000000000")
