#!/usr/bin/env bash
# Benchmarks group sends of a release build on this machine (loopback only):
#   - a single agent's send vs a 3-member round-robin group's send (the mock answers at once):
#     the server's overhead per group turn, as a ratio to one agent's turn;
#   - a supervisor with 10 workers, each worker's model answer delayed by W ms: the wall time
#     of the send (workers in parallel: about one worker's delay plus the manager's two steps,
#     not ten delays);
#   - the server's RSS (VmRSS, VmHWM) before and after 100 concurrent 3-member round-robin
#     group streams (scripts/bench_group_streams.py).
# The model provider is tests/sdk/mock_openai.py with its chat answer wrapped: the supervisor
# calls send_message_to_all_agents_in_group first, everyone else echoes with send_message.
# Data in a temporary SQLite directory. Do not run it while the machine is busy.
#
# Usage: bash scripts/bench_groups.sh [--sends N] [--worker-delay-ms W]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

SENDS=30
WORKER_DELAY_MS=200
while [ $# -gt 0 ]; do
    case $1 in
    --sends) SENDS=${2:?}; shift ;;
    --worker-delay-ms) WORKER_DELAY_MS=${2:?}; shift ;;
    -h | --help)
        sed -n '2,13p' "$0"
        exit 0
        ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
    shift
done

WORK=$(mktemp -d -t letta-rs-bench-groups.XXXXXX)
MOCK_PID=
SERVER_PID=
cleanup() {
    stop_pid "$SERVER_PID"
    stop_pid "$MOCK_PID"
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

section "Build (release)"
cargo build --release --bin letta-rs || die "release build failed"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}/release

section "Start"
# The mock, with a chat answer that knows the supervisor's broadcast tool and delays workers.
cat >"$WORK/mock_groups.py" <<'EOF'
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
import mock_openai

DELAY = int(os.environ.get("WORKER_DELAY_MS", "0")) / 1000.0
BROADCAST = "send_message_to_all_agents_in_group"
echo = mock_openai.chat_reply


def reply(req):
    tools = [t.get("function", {}).get("name") for t in req.get("tools") or []]
    messages = req.get("messages") or []
    text = json.dumps(messages)
    # The manager broadcasts once per send: unless the last message is the broadcast's return
    # (its history holds earlier sends' returns, so the whole text cannot tell).
    last = messages[-1] if messages else {}
    if BROADCAST in tools and last.get("role") != "tool":
        call = {"id": "call_broadcast", "type": "function",
                "function": {"name": BROADCAST, "arguments": json.dumps({"message": "report"})}}
        answer = echo(req)
        answer["choices"][0]["message"]["tool_calls"] = [call]
        return answer
    if "[Incoming message from agent" in text and DELAY:
        time.sleep(DELAY)
    return echo(req)


mock_openai.chat_reply = reply
sys.argv = [sys.argv[0]] + sys.argv[2:]
mock_openai.main()
EOF
rm -f "$WORK/mock.port"
WORKER_DELAY_MS=$WORKER_DELAY_MS python3 "$WORK/mock_groups.py" "$ROOT/tests/sdk" --port 0 \
    --port-file "$WORK/mock.port" >"$WORK/mock.log" 2>&1 &
MOCK_PID=$!
for _ in $(seq 50); do [ -s "$WORK/mock.port" ] && break; sleep 0.1; done
[ -s "$WORK/mock.port" ] || die "mock did not start (see $WORK/mock.log)"
MOCK_BASE="http://127.0.0.1:$(cat "$WORK/mock.port")/v1"
mkdir -p "$WORK/data"
SERVER_RUST_LOG=warn start_letta "$TARGET/letta-rs" "$WORK/data" "$WORK/server.log"
wait_http_ok "$SERVER_URL/v1/health/" 60 "$SERVER_PID" || {
    tail -n 40 "$WORK/server.log" >&2
    die "server did not become healthy"
}
note "server $SERVER_URL (pid $SERVER_PID)"

section "Measure"
python3 - "$SERVER_URL" "$SENDS" "$WORKER_DELAY_MS" <<'EOF'
import json, statistics, sys, time, urllib.request

url, sends, delay_ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data, method=method,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        return json.loads(resp.read() or b"null")


def agent(name):
    return call("POST", "/v1/agents/", {
        "name": name, "model": "openai/gpt-4o-mini", "embedding": "openai/text-embedding-3-small",
        "memory_blocks": [{"label": "human", "value": "h"}, {"label": "persona", "value": f"I am {name}."}],
    })["id"]


def timed(path, n):
    body = {"messages": [{"role": "user", "content": "hello"}]}
    call("POST", path, body)  # warm-up
    took = []
    for _ in range(n):
        start = time.perf_counter()
        answer = call("POST", path, body)
        took.append((time.perf_counter() - start) * 1000)
        assert answer["stop_reason"]["stop_reason"] == "end_turn", answer["stop_reason"]
    return statistics.median(took), max(took)


single = agent("single")
members = [agent(f"rr{i}") for i in range(3)]
rr = call("POST", "/v1/groups/", {"agent_ids": members, "description": "bench"})["id"]
workers = [agent(f"w{i}") for i in range(10)]
boss = agent("boss")
sup = call("POST", "/v1/groups/", {"agent_ids": workers, "description": "bench",
                                   "manager_config": {"manager_type": "supervisor", "manager_agent_id": boss}})["id"]

one, _ = timed(f"/v1/agents/{single}/messages", sends)
three, _ = timed(f"/v1/groups/{rr}/messages", sends)
wall, worst = timed(f"/v1/groups/{sup}/messages", max(3, sends // 10))
print(f"| send                                 | median ms | note |")
print(f"|--------------------------------------|-----------|------|")
print(f"| single agent                         | {one:9.1f} | |")
print(f"| round robin, 3 members               | {three:9.1f} | {three / one:.2f}x the single agent (aim <= 3x) |")
print(f"| supervisor, 10 workers x {delay_ms} ms model | {wall:9.1f} | worst {worst:.1f} ms; serial would be >= {10 * delay_ms} ms |")
EOF

section "Memory: 100 concurrent group streams"
python3 "$ROOT/scripts/bench_group_streams.py" "$SERVER_URL" "$SERVER_PID"
