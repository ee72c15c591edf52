#!/usr/bin/env bash
# Benchmarks archival inserts: POST /v1/agents/{id}/archival-memory with a one-sentence text
# (one chunk: chunking, one embeddings call to the test mock run as
# `cargo run --example mock_llm`, one passage row, the system-prompt rebuild), at concurrency C
# across N agents, on SQLite and on Postgres. Loopback only, bounded in count and time.
#
# Usage: bash scripts/bench_archival.sh [--sqlite-only | --postgres-only] [--agents N]
#                                       [--concurrency C] [--duration-secs D]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

BACKENDS="sqlite postgres"
AGENTS=16
CONCURRENCY=8
DURATION=10
while [ $# -gt 0 ]; do
    case $1 in
    --sqlite-only) BACKENDS=sqlite ;;
    --postgres-only) BACKENDS=postgres ;;
    --agents) AGENTS=${2:?}; shift ;;
    --concurrency) CONCURRENCY=${2:?}; shift ;;
    --duration-secs) DURATION=${2:?}; shift ;;
    -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
    shift
done

WORK=$(mktemp -d -t letta-rs-bench-archival.XXXXXX)
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

"$TARGET/examples/mock_llm" >"$WORK/mock.out" 2>&1 &
MOCK_PID=$!
for _ in $(seq 50); do grep -q MOCK_LLM_URL "$WORK/mock.out" && break; sleep 0.1; done
MOCK_BASE=$(sed -n 's/^MOCK_LLM_URL=//p' "$WORK/mock.out")
[ -n "$MOCK_BASE" ] || die "mock LLM did not start"

field() { python3 -c 'import json, sys; d = json.loads(sys.argv[1]); print(eval(sys.argv[2], {}, d))' "$1" "$2"; }
echo '{"text": "The user mentioned that their favourite tea is a smoky lapsang souchong from Fujian."}' >"$WORK/insert.json"

declare -A RESULTS
for BACKEND in $BACKENDS; do
    section "Start ($BACKEND)"
    EXTRA=()
    if [ "$BACKEND" = postgres ]; then
        ensure_postgres
        PG_DB="letta_rs_bench_archival_$$"
        psql "$PG_ADMIN" -qc "CREATE DATABASE $PG_DB" >/dev/null || die "cannot create database $PG_DB"
        EXTRA+=("LETTA_PG_URI=postgres://postgres@127.0.0.1:5432/$PG_DB")
    fi
    rm -rf "$WORK/data" && mkdir -p "$WORK/data"
    SERVER_RUST_LOG=warn start_letta "$TARGET/letta-rs" "$WORK/data" "$WORK/server.log" "${EXTRA[@]}"
    wait_http_ok "$SERVER_URL/v1/health/" 60 "$SERVER_PID" || { tail -n 40 "$WORK/server.log" >&2; die "server did not start"; }

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

    section "$BACKEND: archival inserts at concurrency $CONCURRENCY across $AGENTS agents (${DURATION}s)"
    RES=$("$LOADGEN" --json --url "$SERVER_URL/v1/agents/{}/archival-memory" --values-from "$WORK/agents.txt" \
        --method POST --body "@$WORK/insert.json" --concurrency "$CONCURRENCY" --duration-secs "$DURATION")
    note "$RES"
    STORED=$(python3 - "$SERVER_URL" "$WORK/agents.txt" <<'PY'
import json, sys, urllib.request
url, path = sys.argv[1], sys.argv[2]
total = 0
for agent in open(path).read().split():
    total += len(json.load(urllib.request.urlopen(f"{url}/v1/agents/{agent}/archival-memory")))
print(total)
PY
)
    note "passages stored: $STORED"
    RESULTS[$BACKEND]=$RES

    stop_pid "$SERVER_PID"
    SERVER_PID=
    if [ -n "$PG_DB" ]; then
        psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB" >/dev/null 2>&1 || true
        PG_DB=
    fi
done

section "Summary ($(nproc) cores; the mock embeds at once; the original: 4.5 inserts/s)"
printf '| %-10s | %8s | %8s | %8s | %6s |\n' backend 'req/s' 'p50 ms' 'p95 ms' errors
printf '|%s|%s|%s|%s|%s|\n' ------------ ---------- ---------- ---------- --------
for BACKEND in $BACKENDS; do
    json=${RESULTS[$BACKEND]}
    printf '| %-10s | %8.1f | %8.2f | %8.2f | %6s |\n' "$BACKEND" "$(field "$json" rps)" \
        "$(field "$json" "latency_ms['p50']")" "$(field "$json" "latency_ms['p95']")" "$(field "$json" errors)"
done
