#!/usr/bin/env python3
"""RSS of the server (pid argv[2]) with 100 concurrent 3-member round-robin group streams; run by scripts/bench_groups.sh."""
import json, sys, threading, urllib.request
url, pid = sys.argv[1], sys.argv[2]
def call(method, path, body=None, raw=False):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data, method=method, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as resp:
        b = resp.read()
        return b if raw else json.loads(b or b"null")
def agent(name):
    return call("POST", "/v1/agents/", {"name": name, "model": "openai/gpt-4o-mini", "embedding": "openai/text-embedding-3-small",
        "memory_blocks": [{"label": "human", "value": "h"}, {"label": "persona", "value": f"I am {name}."}]})["id"]
def hwm():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(("VmHWM", "VmRSS")): print(line.strip())
groups = []
for g in range(100):
    members = [agent(f"g{g}m{i}") for i in range(3)]
    groups.append(call("POST", "/v1/groups/", {"agent_ids": members, "description": "bench"})["id"])
print("before streams:"); hwm()
ok = []
def stream(gid):
    body = call("POST", f"/v1/groups/{gid}/messages/stream", {"messages": [{"role": "user", "content": "hello"}]}, raw=True)
    ok.append(b"[DONE]" in body)
ts = [threading.Thread(target=stream, args=(g,)) for g in groups]
[t.start() for t in ts]; [t.join() for t in ts]
print(f"streams completed: {sum(ok)}/100"); hwm()
