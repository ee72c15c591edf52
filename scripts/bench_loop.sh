#!/usr/bin/env bash
# Benchmarks the agent loop's own overhead with a model that answers at once (the test mock,
# run as `cargo run --example mock_llm`): POST /v1/agents/{id}/messages with one send_message
# step, sequentially on one agent (latency) and at concurrency C across N agents (throughput),
# plus the server's peak memory. Loopback only, bounded in count and time.
#
# Usage: bash scripts/bench_loop.sh [--postgres] [--agents N] [--concurrency C]
#                                   [--sequential K] [--duration-secs D]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

BACKEND=sqlite
AGENTS=50
CONCURRENCY=8
SEQUENTIAL=300
DURATION=10
while [ $# -gt 0 ]; do
    case $1 in
    --postgres) BACKEND=postgres ;;
    --agents) AGENTS=${2:?}; shift ;;
    --concurrency) CONCURRENCY=${2:?}; shift ;;
    --sequential) SEQUENTIAL=${2:?}; shift ;;
    --duration-secs) DURATION=${2:?}; shift ;;
    -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
    shift
done

WORK=$(mktemp -d -t letta-rs-bench-loop.XXXXXX)
MOCK_PID=
SERVER_PID=
PG_DB=
PG_ADMIN=postgres://postgres@127.0.0.1:5432/postgres
cleanup() {
    stop_pid "$SERVER_PID"
    stop_pid "$MOCK_PID"
    [ -z "$PG_DB" ] || psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

section "Build (release)"
cargo build --release --bin letta-rs --example loadgen --example mock_llm || die "release build failed"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}/release
LOADGEN=$TARGET/examples/loadgen

section "Start ($BACKEND)"
"$TARGET/examples/mock_llm" >"$WORK/mock.out" 2>&1 &
MOCK_PID=$!
for _ in $(seq 50); do grep -q MOCK_LLM_URL "$WORK/mock.out" && break; sleep 0.1; done
MOCK_BASE=$(sed -n 's/^MOCK_LLM_URL=//p' "$WORK/mock.out")
[ -n "$MOCK_BASE" ] || die "mock LLM did not start"
EXTRA=()
if [ "$BACKEND" = postgres ]; then
    ensure_postgres
    PG_DB="letta_rs_bench_loop_$$"
    psql "$PG_ADMIN" -qc "CREATE DATABASE $PG_DB" >/dev/null || die "cannot create database $PG_DB"
    EXTRA+=("LETTA_PG_URI=postgres://postgres@127.0.0.1:5432/$PG_DB")
fi
mkdir -p "$WORK/data"
SERVER_RUST_LOG=warn start_letta "$TARGET/letta-rs" "$WORK/data" "$WORK/server.log" "${EXTRA[@]}"
wait_http_ok "$SERVER_URL/v1/health/" 60 "$SERVER_PID" || { tail -n 40 "$WORK/server.log" >&2; die "server did not start"; }

peak() { awk '/^VmHWM:/ {printf "%.1f\n", $2 / 1024}' "/proc/$SERVER_PID/status"; }
field() { python3 -c 'import json, sys; d = json.loads(sys.argv[1]); print(eval(sys.argv[2], {}, d))' "$1" "$2"; }

section "Create $AGENTS agents"
python3 - "$SERVER_URL" "$AGENTS" >"$WORK/agents.txt" <<'PY'
import json, sys, urllib.request
url, n = sys.argv[1], int(sys.argv[2])
body = json.dumps({"model": "openai/gpt-4o-mini", "embedding": "openai/text-embedding-3-small",
                   "memory_blocks": [{"label": "human", "value": "Name: unknown"},
                                     {"label": "persona", "value": "I am a benchmark agent."}]}).encode()
for _ in range(n):
    req = urllib.request.Request(url + "/v1/agents/", data=body, headers={"content-type": "application/json"})
    print(json.load(urllib.request.urlopen(req))["id"])
PY
echo '{"messages": [{"role": "user", "content": "hello"}]}' >"$WORK/send.json"

# Round robin over the agents keeps each context short, so this measures the per-step cost
# rather than a history growing by three messages per request.
section "Sequential: $SEQUENTIAL sends, round robin over $AGENTS agents"
SEQ=$("$LOADGEN" --json --url "$SERVER_URL/v1/agents/{}/messages" --values-from "$WORK/agents.txt" \
    --method POST --body "@$WORK/send.json" --concurrency 1 --requests "$SEQUENTIAL")
note "$SEQ"

section "Concurrency $CONCURRENCY across $AGENTS agents (${DURATION}s)"
PAR=$("$LOADGEN" --json --url "$SERVER_URL/v1/agents/{}/messages" --values-from "$WORK/agents.txt" \
    --method POST --body "@$WORK/send.json" --concurrency "$CONCURRENCY" --duration-secs "$DURATION")
note "$PAR"

section "Summary ($BACKEND, $(nproc) cores; the mock answers at once)"
printf '| %-34s | %8s | %8s | %8s | %6s |\n' run 'req/s' 'p50 ms' 'p95 ms' errors
printf '|%s|%s|%s|%s|%s|\n' ------------------------------------ ---------- ---------- ---------- --------
for pair in "sequential, $AGENTS agents|$SEQ" "concurrency $CONCURRENCY, $AGENTS agents|$PAR"; do
    name=${pair%%|*}; json=${pair#*|}
    printf '| %-34s | %8.1f | %8.2f | %8.2f | %6s |\n' "$name" "$(field "$json" rps)" \
        "$(field "$json" "latency_ms['p50']")" "$(field "$json" "latency_ms['p95']")" "$(field "$json" errors)"
done
echo "peak RSS: $(peak) MiB"
