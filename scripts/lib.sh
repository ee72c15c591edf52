# Shared helpers for scripts/test.sh and scripts/bench.sh. Source it; it defines functions only.
# shellcheck shell=bash

section() { printf '\n===== %s =====\n' "$*"; }
note() { printf '%s\n' "$*"; }
die() {
    printf '\nERROR: %s\n' "$*" >&2
    exit 1
}

# True when something accepts TCP connections on 127.0.0.1:$1.
tcp_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# Waits up to $2 seconds for 127.0.0.1:$1 to accept connections.
wait_tcp() {
    local port=$1 secs=$2 i
    for ((i = 0; i < secs * 5; i++)); do
        tcp_open "$port" && return 0
        sleep 0.2
    done
    return 1
}

APT_UPDATED=
apt_install() {
    command -v apt-get >/dev/null || die "apt-get not found: install $* by hand"
    [ "$(id -u)" = 0 ] || die "need root to apt-get install $* (or start the service yourself)"
    if [ -z "$APT_UPDATED" ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq || die "apt-get update failed"
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" </dev/null ||
        die "apt-get install $* failed"
}

# Newest Debian Postgres cluster version (e.g. 15), or nothing.
pg_version() { ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1; }

# Makes sure Postgres answers on 127.0.0.1:5432 with trust auth for user postgres.
ensure_postgres() {
    if tcp_open 5432; then
        note "postgres: already answering on 127.0.0.1:5432"
        return 0
    fi
    local installed=
    if [ -z "$(pg_version)" ] || ! command -v pg_ctlcluster >/dev/null; then
        note "postgres: no server installed; installing Debian's postgresql"
        apt_install postgresql
        installed=1
    fi
    local ver
    ver=$(pg_version)
    [ -n "$ver" ] || die "postgres: no cluster under /etc/postgresql after install"
    if [ -n "$installed" ]; then
        # Tests connect as postgres without a password over TCP.
        sed -ri 's/^(local|host)(\s+.*\s+)(peer|md5|scram-sha-256)\s*$/\1\2trust/' \
            "/etc/postgresql/$ver/main/pg_hba.conf"
    fi
    if tcp_open 5432; then
        # The package's own start-up already runs it; pick up the trust settings.
        pg_ctlcluster --skip-systemctl-redirect "$ver" main reload || true
        return 0
    fi
    note "postgres: starting cluster $ver/main"
    pg_ctlcluster --skip-systemctl-redirect "$ver" main start ||
        die "postgres: 'pg_ctlcluster $ver main start' failed (see /var/log/postgresql/)"
    wait_tcp 5432 30 || die "postgres: not answering on 127.0.0.1:5432 after start"
}

# Makes sure Redis answers on 127.0.0.1:6379.
ensure_redis() {
    if tcp_open 6379; then
        note "redis: already answering on 127.0.0.1:6379"
        return 0
    fi
    if ! command -v redis-server >/dev/null; then
        note "redis: not installed; installing Debian's redis-server"
        apt_install redis-server
        # The package may have started its own server.
        wait_tcp 6379 3 && return 0
    fi
    note "redis: starting"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
        --dir /tmp --logfile /tmp/letta-rs-redis.log >/dev/null ||
        die "redis: redis-server failed to start (see /tmp/letta-rs-redis.log)"
    wait_tcp 6379 20 || die "redis: not answering on 127.0.0.1:6379 after start"
}

# Prints a TCP port free on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts tests/sdk/mock_openai.py; sets MOCK_PID and MOCK_BASE (the OPENAI_API_BASE to use).
# $1: a scratch directory for its port file and log.
start_mock_openai() {
    local dir=$1 root
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    rm -f "$dir/mock.port"
    python3 "$root/tests/sdk/mock_openai.py" --port 0 --port-file "$dir/mock.port" >"$dir/mock.log" 2>&1 &
    MOCK_PID=$!
    local i
    for ((i = 0; i < 50; i++)); do
        [ -s "$dir/mock.port" ] && break
        kill -0 "$MOCK_PID" 2>/dev/null || {
            cat "$dir/mock.log" >&2
            die "mock OpenAI server exited at start"
        }
        sleep 0.1
    done
    [ -s "$dir/mock.port" ] || die "mock OpenAI server did not start (see $dir/mock.log)"
    MOCK_BASE="http://127.0.0.1:$(cat "$dir/mock.port")/v1"
}

# Starts the server binary $1 with its data (SQLite) in directory $2, logging to $3; any further
# arguments are extra NAME=VALUE settings. Only the settings given here reach the server (no
# inherited LETTA_*/DATABASE_URL/REDIS_URL, no .env: it runs in its data directory).
# Sets SERVER_PID, SERVER_PORT and SERVER_URL.
start_letta() {
    local bin=$1 data=$2 log=$3
    shift 3
    SERVER_PORT=$(free_port)
    (
        cd "$data" &&
            exec env -i PATH="$PATH" HOME="$data" \
                LETTA_HOST=127.0.0.1 LETTA_PORT="$SERVER_PORT" LETTA_DIR="$data" \
                OPENAI_API_KEY=sk-test OPENAI_API_BASE="${MOCK_BASE:?start_mock_openai first}" \
                RUST_LOG="${SERVER_RUST_LOG:-info}" "$@" "$bin"
    ) >"$log" 2>&1 &
    SERVER_PID=$!
    SERVER_URL="http://127.0.0.1:$SERVER_PORT"
}

# Waits up to $2 seconds for GET $1 to answer 200 while process $3 lives.
wait_http_ok() {
    local url=$1 secs=$2 pid=$3 i
    for ((i = 0; i < secs * 5; i++)); do
        kill -0 "$pid" 2>/dev/null || return 2
        if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$url" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    return 1
}

# Stops a process this script started: SIGTERM, then SIGKILL after 10 s.
stop_pid() {
    local pid=${1:-} i
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
