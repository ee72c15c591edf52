#!/usr/bin/env bash
# Times agent-file export and import of one agent holding 10,000 messages, on SQLite and (with
# BENCH_POSTGRES_URL, default the local test server) on Postgres, through the service layer.
# Run it on a quiet machine: the figures are wall-clock times.
#
# Usage: bash scripts/bench_agent_file.sh [--sqlite-only] [--messages N]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

export BENCH_POSTGRES_URL=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
while [ $# -gt 0 ]; do
    case $1 in
    --sqlite-only) unset BENCH_POSTGRES_URL ;;
    --messages) export BENCH_AGENT_FILE_MESSAGES=${2:?}; shift ;;
    -h | --help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
cargo bench --bench agent_file
