#!/usr/bin/env python3
"""Seeds a running letta-rs with a few agents, blocks, an identity and a passage, and writes a
schemathesis configuration that feeds their ids to the path parameters (most of the time; the
rest stay random), so the fuzzer reaches the code behind the lookups instead of a 404.

    python3 tests/fuzz/seed.py http://127.0.0.1:8283 /tmp/schemathesis.toml

Standard library only. Needs the server to resolve `openai/gpt-4o-mini` and
`openai/text-embedding-3-small` (scripts/test.sh points it at tests/sdk/mock_openai.py).
"""

import json
import sys
import urllib.request

# How often a path parameter takes a seeded id instead of a generated value.
SEEDED = 0.8


def call(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("content-type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


def toml_list(values):
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def main():
    base, out = sys.argv[1].rstrip("/"), sys.argv[2]
    agents = []
    for name in ("fuzz-a", "fuzz-b", "fuzz-c"):
        agent = call(base, "POST", "/v1/agents/", {
            "name": name,
            "model": "openai/gpt-4o-mini",
            "embedding": "openai/text-embedding-3-small",
            "memory_blocks": [
                {"label": "human", "value": "Name: Ada"},
                {"label": "persona", "value": "A helpful assistant."},
            ],
            "tags": ["fuzz"],
        })
        agents.append(agent)
    blocks = [call(base, "POST", "/v1/blocks/", {"label": f"notes-{i}", "value": "v"})["id"] for i in range(2)]
    blocks += [b["id"] for a in agents for b in a["memory"]["blocks"]]
    identity = call(base, "POST", "/v1/identities/", {
        "identifier_key": "fuzz-identity", "name": "Fuzz", "identity_type": "user",
        "agent_ids": [agents[0]["id"]], "block_ids": blocks[:1],
    })
    passages = []
    for agent in agents[:2]:
        passages += [p["id"] for p in call(base, "POST", f"/v1/agents/{agent['id']}/archival-memory",
                                           {"text": "The sky is blue."})]
    # One turn (answered by the mock model) gives a run, its steps and its messages.
    call(base, "POST", f"/v1/agents/{agents[0]['id']}/messages",
         {"messages": [{"role": "user", "content": "Hello"}]})
    runs = [r["id"] for r in call(base, "GET", "/v1/runs/")]
    steps = [st["id"] for st in call(base, "GET", "/v1/steps/")]
    messages = [m["id"] for a in agents for m in call(base, "GET", f"/v1/agents/{a['id']}/messages?limit=0")]
    tools = [t["id"] for t in call(base, "GET", "/v1/tools/")]
    users = [u["id"] for u in call(base, "GET", "/v1/admin/users/")]

    dictionaries = {
        "agent_id": [a["id"] for a in agents],
        "block_id": blocks,
        "block_label": ["human", "persona"],
        "identity_id": [identity["id"]],
        "run_id": runs,
        "job_id": runs,
        "step_id": steps,
        "memory_id": passages,
        "message_id": messages,
        "tool_id": tools,
        "user_id": users,
    }
    lines = []
    for name, values in dictionaries.items():
        lines += [f"[dictionaries.{name}]", f"values = {toml_list(values)}", ""]
    lines.append("[parameters]")
    for name in dictionaries:
        location = "header" if name == "user_id" else "path"
        lines.append(f'"{location}.{name}" = {{ dictionary = "{name}", probability = {SEEDED} }}')
    lines += [
        "",
        "# These routes call a model provider: the passage routes embed with the agent's embedding",
        "# provider (the fuzzer may point a seeded agent at any endpoint, PATCH",
        "# /v1/agents/{agent_id}), check_provider lists the models of a provider the fuzzer names",
        "# (unreachable from a machine without network). A 502 naming the provider is the",
        "# documented answer, not a server fault. Any other 5xx still fails.",
        "[[operations]]",
        'include-operation-id-regex = "^(create_passage|modify_passage|list_passages|check_provider)$"',
        'checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "502"]',
    ]
    with open(out, "w", encoding="utf-8") as fd:
        fd.write("\n".join(lines) + "\n")
    print(f"seeded {len(agents)} agents, {len(blocks)} blocks, {len(passages)} passages, "
          f"{len(messages)} messages, {len(tools)} tools, {len(runs)} runs, {len(steps)} steps")


if __name__ == "__main__":
    main()
