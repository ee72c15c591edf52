#!/usr/bin/env bash
# Benchmarks message batches with a model that answers at once (the test mock, run as
# `cargo run --example mock_llm`): one POST /v1/messages/batches of R sends spread round robin
# over N agents, polled until every send has ended; reports the batch's wall time, its
# throughput (sends/s), the items' final statuses and the server's peak memory (VmHWM), next to
# the same sends made one request at a time for comparison. Loopback only, bounded in count.
#
# Usage: bash scripts/bench_batch.sh [--postgres] [--agents N] [--requests R]
#                                    [--batch-concurrency C]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

BACKEND=sqlite
AGENTS=50
REQUESTS=1000
BATCH_CONCURRENCY=8
while [ $# -gt 0 ]; do
    case $1 in
    --postgres) BACKEND=postgres ;;
    --agents) AGENTS=${2:?}; shift ;;
    --requests) REQUESTS=${2:?}; shift ;;
    --batch-concurrency) BATCH_CONCURRENCY=${2:?}; shift ;;
    -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
    shift
done

WORK=$(mktemp -d -t letta-rs-bench-batch.XXXXXX)
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

section "Start ($BACKEND, batch concurrency $BATCH_CONCURRENCY)"
"$TARGET/examples/mock_llm" >"$WORK/mock.out" 2>&1 &
MOCK_PID=$!
for _ in $(seq 50); do grep -q MOCK_LLM_URL "$WORK/mock.out" && break; sleep 0.1; done
MOCK_BASE=$(sed -n 's/^MOCK_LLM_URL=//p' "$WORK/mock.out")
[ -n "$MOCK_BASE" ] || die "mock LLM did not start"
EXTRA=("LETTA_BATCH_CONCURRENCY=$BATCH_CONCURRENCY" "LETTA_BATCH_MAX_ITEMS=$REQUESTS")
if [ "$BACKEND" = postgres ]; then
    ensure_postgres
    PG_DB="letta_rs_bench_batch_$$"
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
IDLE_RSS=$(peak)

section "One batch of $REQUESTS sends over $AGENTS agents"
BATCH=$(python3 - "$SERVER_URL" "$WORK/agents.txt" "$REQUESTS" <<'PY'
import json, sys, time, urllib.request
url, agents_file, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
agents = [line.strip() for line in open(agents_file) if line.strip()]
requests = [{"agent_id": agents[i % len(agents)],
             "messages": [{"role": "user", "content": f"hello {i}"}]} for i in range(n)]
start = time.monotonic()
req = urllib.request.Request(url + "/v1/messages/batches", data=json.dumps({"requests": requests}).encode(),
                             headers={"content-type": "application/json"})
batch = json.load(urllib.request.urlopen(req))
accepted = time.monotonic() - start
while True:
    batch = json.load(urllib.request.urlopen(f"{url}/v1/messages/batches/{batch['id']}"))
    if batch["status"] in ("completed", "failed", "cancelled"):
        break
    time.sleep(0.05)
wall = time.monotonic() - start
print(json.dumps({"accepted_s": accepted, "wall_s": wall, "sends_per_s": n / wall,
                  "status": batch["status"], "counts": batch["metadata"]["counts"]}))
PY
)
note "$BATCH"
BATCH_RSS=$(peak)

section "The same sends one request at a time (concurrency $BATCH_CONCURRENCY)"
echo '{"messages": [{"role": "user", "content": "hello"}]}' >"$WORK/send.json"
SINGLE=$("$LOADGEN" --json --url "$SERVER_URL/v1/agents/{}/messages" --values-from "$WORK/agents.txt" \
    --method POST --body "@$WORK/send.json" --concurrency "$BATCH_CONCURRENCY" --requests "$REQUESTS")
note "$SINGLE"

section "Summary ($BACKEND, $(nproc) cores; the mock answers at once)"
printf 'batch:  %s sends in %.2f s (accepted in %.3f s): %.1f sends/s, final %s %s\n' "$REQUESTS" \
    "$(field "$BATCH" wall_s)" "$(field "$BATCH" accepted_s)" "$(field "$BATCH" sends_per_s)" \
    "$(field "$BATCH" status)" "$(field "$BATCH" counts)"
printf 'single: %.1f req/s, p50 %.2f ms, errors %s\n' "$(field "$SINGLE" rps)" \
    "$(field "$SINGLE" "latency_ms['p50']")" "$(field "$SINGLE" errors)"
echo "RSS: idle ${IDLE_RSS} MiB, peak after the batch ${BATCH_RSS} MiB, peak at the end $(peak) MiB"
