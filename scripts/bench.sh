#!/usr/bin/env bash
# Benchmarks the common agent routes of a release build on this machine (loopback only):
#   - seeds N agents with POST /v1/agents/ (its latency is the create figure),
#   - GET /v1/agents/?limit=50 and GET /v1/agents/{id} at concurrency C for D seconds each,
#   - the server's memory (VmRSS, VmHWM) idle and after the load.
# The model provider is the mock in tests/sdk/mock_openai.py; the data lives in a temporary
# SQLite directory, or with --postgres in a fresh Postgres database that is dropped afterwards.
#
# Usage: bash scripts/bench.sh [--postgres] [--agents N] [--concurrency C] [--duration-secs D]
#                              [--seed-concurrency S]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

BACKEND=sqlite
AGENTS=1000
CONCURRENCY=16
DURATION=10
SEED_CONCURRENCY=4
while [ $# -gt 0 ]; do
    case $1 in
    --postgres) BACKEND=postgres ;;
    --agents) AGENTS=${2:?}; shift ;;
    --concurrency) CONCURRENCY=${2:?}; shift ;;
    --duration-secs) DURATION=${2:?}; shift ;;
    --seed-concurrency) SEED_CONCURRENCY=${2:?}; shift ;;
    -h | --help)
        sed -n '2,11p' "$0"
        exit 0
        ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
    shift
done

WORK=$(mktemp -d -t letta-rs-bench.XXXXXX)
MOCK_PID=
SERVER_PID=
PG_DB=
PG_ADMIN=postgres://postgres@127.0.0.1:5432/postgres
cleanup() {
    stop_pid "$SERVER_PID"
    stop_pid "$MOCK_PID"
    if [ -n "$PG_DB" ]; then
        psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

section "Build (release)"
cargo build --release --bin letta-rs --example loadgen || die "release build failed"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}/release
LOADGEN=$TARGET/examples/loadgen

section "Start ($BACKEND)"
start_mock_openai "$WORK"
EXTRA=()
if [ "$BACKEND" = postgres ]; then
    ensure_postgres
    PG_DB="letta_rs_bench_$$"
    psql "$PG_ADMIN" -qc "CREATE DATABASE $PG_DB" >/dev/null || die "cannot create database $PG_DB"
    EXTRA+=("LETTA_PG_URI=postgres://postgres@127.0.0.1:5432/$PG_DB")
fi
mkdir -p "$WORK/data"
SERVER_RUST_LOG=warn start_letta "$TARGET/letta-rs" "$WORK/data" "$WORK/server.log" "${EXTRA[@]}"
wait_http_ok "$SERVER_URL/v1/health/" 60 "$SERVER_PID" || {
    tail -n 40 "$WORK/server.log" >&2
    die "server did not become healthy"
}
note "server $SERVER_URL (pid $SERVER_PID)"

# "<VmRSS> <VmHWM>" in MiB.
memory() {
    awk '/^VmRSS:/ {rss = $2} /^VmHWM:/ {hwm = $2} END {printf "%.1f %.1f\n", rss / 1024, hwm / 1024}' \
        "/proc/$SERVER_PID/status"
}
sleep 1
read -r IDLE_RSS IDLE_HWM < <(memory)

# Runs loadgen with --json; prints its summary line, fails when every request failed.
load() {
    "$LOADGEN" --json "$@" || die "loadgen failed: $*"
}
field() { python3 -c 'import json, sys; d = json.loads(sys.argv[1]); print(eval(sys.argv[2], {}, d))' "$1" "$2"; }

section "Seed $AGENTS agents (POST /v1/agents/, concurrency $SEED_CONCURRENCY)"
cat >"$WORK/agent.json" <<'EOF'
{"name": "bench-agent", "model": "openai/gpt-4o-mini", "embedding": "openai/text-embedding-3-small",
 "tags": ["bench"],
 "memory_blocks": [{"label": "human", "value": "Name: unknown"},
                   {"label": "persona", "value": "I am a benchmark agent."}]}
EOF
CREATE=$(load --url "$SERVER_URL/v1/agents/" --method POST --body "@$WORK/agent.json" \
    --requests "$AGENTS" --concurrency "$SEED_CONCURRENCY")
note "$CREATE"
[ "$(field "$CREATE" errors)" = 0 ] || die "some agent creations failed: $CREATE"

AGENT_ID=$(python3 -c 'import json, sys, urllib.request
print(json.load(urllib.request.urlopen(sys.argv[1] + "/v1/agents/?limit=1"))[0]["id"])' "$SERVER_URL")

section "GET /v1/agents/?limit=50 (concurrency $CONCURRENCY, ${DURATION}s)"
LIST=$(load --url "$SERVER_URL/v1/agents/?limit=50" --concurrency "$CONCURRENCY" --duration-secs "$DURATION")
note "$LIST"

section "GET /v1/agents/{id} (concurrency $CONCURRENCY, ${DURATION}s)"
GET=$(load --url "$SERVER_URL/v1/agents/$AGENT_ID" --concurrency "$CONCURRENCY" --duration-secs "$DURATION")
note "$GET"

read -r LOAD_RSS LOAD_HWM < <(memory)

section "Summary ($BACKEND, $AGENTS agents, $(nproc) cores)"
row() {
    local name=$1 conc=$2 json=$3
    printf '| %-26s | %4s | %8.1f | %8.2f | %8.2f | %8.2f | %6s |\n' "$name" "$conc" \
        "$(field "$json" rps)" "$(field "$json" "latency_ms['p50']")" \
        "$(field "$json" "latency_ms['p95']")" "$(field "$json" "latency_ms['p99']")" \
        "$(field "$json" errors)"
}
printf '| %-26s | %4s | %8s | %8s | %8s | %8s | %6s |\n' route conc 'req/s' 'p50 ms' 'p95 ms' 'p99 ms' errors
printf '|%s|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..28})" ------ ---------- ---------- ---------- ---------- --------
row "POST /v1/agents/" "$SEED_CONCURRENCY" "$CREATE"
row "GET /v1/agents/?limit=50" "$CONCURRENCY" "$LIST"
row "GET /v1/agents/{id}" "$CONCURRENCY" "$GET"
echo
printf '| %-18s | %9s | %9s |\n' memory 'RSS MiB' 'peak MiB'
printf '|%s|%s|%s|\n' -------------------- ----------- -----------
printf '| %-18s | %9s | %9s |\n' "idle (started)" "$IDLE_RSS" "$IDLE_HWM"
printf '| %-18s | %9s | %9s |\n' "after the load" "$LOAD_RSS" "$LOAD_HWM"
