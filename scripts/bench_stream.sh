#!/usr/bin/env bash
# Benchmarks SSE message streams, POST /v1/agents/{id}/messages/stream, with the test mock as
# the model (`cargo run --example mock_llm`), measured by examples/streamgen.rs:
#   part 1: the mock answers at once; K sequential one-step streams (round robin over A agents)
#           with stream_tokens false and true, on a reused connection and on a new one per
#           stream: time to the first data frame and to [DONE];
#   part 2: the mock waits D ms (--delay-ms) per answer; N agents, N concurrent streams (one
#           per agent), stream_tokens false then true: errors, latencies, the latency added
#           to the model's D ms, and the server's peak RSS (VmHWM).
# Loopback only, bounded in count and time.
#
# Usage: bash scripts/bench_stream.sh [--postgres] [--part 1|2|all] [--sequential K]
#                                     [--agents A] [--streams N] [--delay-ms D] [--log-dir DIR]
# --log-dir keeps the server and mock logs and per-stream CSV timings there.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

BACKEND=sqlite
PART=all
SEQUENTIAL=200
SEQ_AGENTS=50
STREAMS=1000
DELAY_MS=2000
LOG_DIR=
while [ $# -gt 0 ]; do
    case $1 in
    --postgres) BACKEND=postgres ;;
    --part) PART=${2:?}; shift ;;
    --sequential) SEQUENTIAL=${2:?}; shift ;;
    --agents) SEQ_AGENTS=${2:?}; shift ;;
    --streams) STREAMS=${2:?}; shift ;;
    --delay-ms) DELAY_MS=${2:?}; shift ;;
    --log-dir) LOG_DIR=${2:?}; shift ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
    shift
done
case $PART in 1 | 2 | all) ;; *) die "--part takes 1, 2 or all" ;; esac

# Part 2 holds N client sockets, N server-side sockets plus N to the mock, and N in the mock;
# every process started below inherits this limit.
NEED_FDS=$((STREAMS * 3 + 1024))
[ "$NEED_FDS" -ge 8192 ] || NEED_FDS=8192
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$NEED_FDS" ]; then
    ulimit -n "$NEED_FDS" 2>/dev/null ||
        die "open-file limit $(ulimit -n) is below $NEED_FDS and cannot be raised (ulimit -Hn: $(ulimit -Hn))"
fi

WORK=$(mktemp -d -t letta-rs-bench-stream.XXXXXX)
MOCK_PID=
SERVER_PID=
PG_DB=
PG_ADMIN=postgres://postgres@127.0.0.1:5432/postgres
cleanup() {
    stop_pid "$SERVER_PID"
    stop_pid "$MOCK_PID"
    [ -z "$LOG_DIR" ] || { mkdir -p "$LOG_DIR" && cp "$WORK"/*.log "$WORK"/*.out "$WORK"/*.csv "$LOG_DIR"/ 2>/dev/null; } || true
    [ -z "$PG_DB" ] || psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

section "Build (release)"
cargo build --release --bin letta-rs --example streamgen --example mock_llm || die "release build failed"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}/release
STREAMGEN=$TARGET/examples/streamgen

EXTRA=()
if [ "$BACKEND" = postgres ]; then
    ensure_postgres
    PG_DB="letta_rs_bench_stream_$$"
    psql "$PG_ADMIN" -qc "CREATE DATABASE $PG_DB" >/dev/null || die "cannot create database $PG_DB"
    EXTRA+=("LETTA_PG_URI=postgres://postgres@127.0.0.1:5432/$PG_DB")
fi
mkdir -p "$WORK/data"

# Starts the mock (answering after $1 ms) and a fresh server process on the same database;
# $2 names the logs.
start_pair() {
    local delay=$1 name=$2
    stop_pid "$SERVER_PID"
    stop_pid "$MOCK_PID"
    "$TARGET/examples/mock_llm" --delay-ms "$delay" >"$WORK/mock-$name.out" 2>&1 &
    MOCK_PID=$!
    for _ in $(seq 50); do grep -q MOCK_LLM_URL "$WORK/mock-$name.out" && break; sleep 0.1; done
    MOCK_BASE=$(sed -n 's/^MOCK_LLM_URL=//p' "$WORK/mock-$name.out")
    [ -n "$MOCK_BASE" ] || die "mock LLM did not start"
    SERVER_LOG=$WORK/server-$name.log
    SERVER_RUST_LOG=warn start_letta "$TARGET/letta-rs" "$WORK/data" "$SERVER_LOG" "${EXTRA[@]}"
    wait_http_ok "$SERVER_URL/v1/health/" 60 "$SERVER_PID" || {
        tail -n 40 "$SERVER_LOG" >&2
        die "server did not start"
    }
}

# Server CPU time (user + system) so far, in ms.
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{printf "%d\n", ($14 + $15) * 1000 / hz}' "/proc/$SERVER_PID/stat"; }
kib() { awk -v k="$1" '$1 == k":" {printf "%.1f\n", $2 / 1024}' "/proc/$SERVER_PID/status"; }
field() { python3 -c 'import json, sys; d = json.loads(sys.argv[1]); print(eval(sys.argv[2], {}, d))' "$1" "$2"; }

# Creates $1 agents, 16 at a time, and writes their ids to $2.
create_agents() {
    python3 - "$SERVER_URL" "$1" >"$2" <<'PY' || die "agent creation failed"
import json, sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
url, n = sys.argv[1], int(sys.argv[2])
body = json.dumps({"model": "openai/gpt-4o-mini", "embedding": "openai/text-embedding-3-small",
                   "memory_blocks": [{"label": "human", "value": "Name: unknown"},
                                     {"label": "persona", "value": "I am a benchmark agent."}]}).encode()
def create(_):
    req = urllib.request.Request(url + "/v1/agents/", data=body, headers={"content-type": "application/json"})
    return json.load(urllib.request.urlopen(req, timeout=120))["id"]
with ThreadPoolExecutor(16) as pool:
    for agent_id in pool.map(create, range(n)):
        print(agent_id)
PY
    [ "$(wc -l <"$2")" -eq "$1" ] || die "expected $1 agent ids in $2"
}

# Warnings and errors the server logged: the count, then the 10 commonest messages (colour
# codes and timestamps cut).
server_complaints() {
    local lines
    lines=$(sed 's/\x1b\[[0-9;]*m//g' "$SERVER_LOG" | grep -E '^[^ ]+ +(WARN|ERROR) ' | cut -d' ' -f2- || true)
    if [ -z "$lines" ]; then
        note "server log: no WARN/ERROR lines"
        return 0
    fi
    note "server log: $(printf '%s\n' "$lines" | wc -l) WARN/ERROR lines; commonest:"
    printf '%s\n' "$lines" | sed -E 's/^ +//' | cut -c1-300 | sort | uniq -c | sort -rn | head -n 10
}

ROWS=()
row() { ROWS+=("$1|$2"); }

if [ "$PART" != 2 ]; then
    section "Part 1 ($BACKEND): mock answers at once; $SEQUENTIAL sequential streams over $SEQ_AGENTS agents"
    start_pair 0 part1
    create_agents "$SEQ_AGENTS" "$WORK/agents-seq.txt"
    # Warm-up (model list cache, connections, prepared statements).
    "$STREAMGEN" --json --url "$SERVER_URL" --agents "$WORK/agents-seq.txt" --rounds 10 >/dev/null
    # A client reusing its connection (as SDKs do) and one opening a new one per stream: the
    # two differ when small writes wait on delayed ACKs (Nagle), which only the first sees.
    for conn in reused fresh; do
        for tokens in false true; do
            flag=()
            [ "$tokens" = false ] || flag+=(--stream-tokens)
            [ "$conn" = reused ] || flag+=(--fresh-connections)
            cpu0=$(cpu_ms)
            out=$("$STREAMGEN" --json --url "$SERVER_URL" --agents "$WORK/agents-seq.txt" --streams 1 \
                --rounds "$SEQUENTIAL" --csv "$WORK/seq-$conn-tokens-$tokens.csv" "${flag[@]}") || true
            [ -n "$out" ] || die "streamgen printed nothing"
            note "$conn connection, stream_tokens=$tokens: $out"
            note "server CPU: $(( ($(cpu_ms) - cpu0) * 1000 / SEQUENTIAL )) us per stream"
            row "sequential, $conn conn, tokens=$tokens" "$out"
        done
    done
    note "server RSS $(kib VmRSS) MiB, peak $(kib VmHWM) MiB"
    server_complaints
fi

ADDED=()
if [ "$PART" != 1 ]; then
    section "Part 2 ($BACKEND): mock waits ${DELAY_MS} ms; $STREAMS concurrent streams"
    note "open-file limit: $(ulimit -n)"
    start_pair "$DELAY_MS" part2
    t0=$(date +%s.%N)
    create_agents "$STREAMS" "$WORK/agents-par.txt"
    note "created $STREAMS agents in $(python3 -c "import sys; print(round($(date +%s.%N) - $t0, 1))") s"
    note "server RSS before the streams: $(kib VmRSS) MiB (peak so far $(kib VmHWM) MiB)"
    for tokens in false true; do
        flag=()
        [ "$tokens" = false ] || flag=(--stream-tokens)
        note "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
        cpu0=$(cpu_ms)
        out=$("$STREAMGEN" --json --url "$SERVER_URL" --agents "$WORK/agents-par.txt" \
            --streams "$STREAMS" --rounds 1 --timeout-secs 120 --csv "$WORK/par-tokens-$tokens.csv" \
            "${flag[@]}") || true
        [ -n "$out" ] || die "streamgen printed nothing"
        note "stream_tokens=$tokens: $out"
        note "server CPU: $(( ($(cpu_ms) - cpu0) * 1000 / STREAMS )) us per stream"
        row "$STREAMS concurrent, tokens=$tokens" "$out"
        ADDED+=("stream_tokens=$tokens: total p99 $(field "$out" "total_ms['p99']") ms - $DELAY_MS ms = $(field "$out" "round(total_ms['p99'] - $DELAY_MS, 1)") ms")
        note "server RSS after: $(kib VmRSS) MiB, peak $(kib VmHWM) MiB"
    done
    PEAK2=$(kib VmHWM)
    server_complaints
fi

section "Summary ($BACKEND, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
printf '| %-38s | %7s | %6s | %9s | %9s | %9s | %9s | %9s | %9s | %8s |\n' run streams errors \
    'TTFE p50' 'TTFE p95' 'TTFE p99' 'total p50' 'total p95' 'total p99' 'streams/s'
printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' ---------------------------------------- --------- -------- \
    ----------- ----------- ----------- ----------- ----------- ----------- ----------
for pair in "${ROWS[@]}"; do
    name=${pair%%|*}; json=${pair#*|}
    printf '| %-38s | %7s | %6s | %9.1f | %9.1f | %9.1f | %9.1f | %9.1f | %9.1f | %8.1f |\n' "$name" \
        "$(field "$json" requests)" "$(field "$json" errors)" \
        "$(field "$json" "ttfe_ms['p50']")" "$(field "$json" "ttfe_ms['p95']")" "$(field "$json" "ttfe_ms['p99']")" \
        "$(field "$json" "total_ms['p50']")" "$(field "$json" "total_ms['p95']")" "$(field "$json" "total_ms['p99']")" \
        "$(field "$json" streams_per_sec)"
done
echo "times in ms; TTFE: time to the first data frame, total: time to data: [DONE]"
if [ "$PART" != 1 ]; then
    echo "added latency p99 (model takes $DELAY_MS ms):"
    for line in "${ADDED[@]}"; do echo "  $line"; done
    echo "server peak RSS (VmHWM) in part 2: $PEAK2 MiB"
fi
