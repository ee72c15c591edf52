#!/usr/bin/env bash
# Benchmarks the tool sandbox: per-call overhead of a custom tool that returns at once,
# cold (no warm pool: an interpreter started per call) and warm p50/p95, calls/s at
# concurrency 8, and the RSS of the idle warm pool. Runs `examples/sandbox_bench.rs`.
#
# Usage: bash scripts/bench_sandbox.sh [--calls N] [--pool N] [--bwrap auto|on|off]
#                                      [--python PATH] [--dev]
# `--dev` uses the dev profile (no release build; the Rust side is not what is measured).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

PROFILE=--release
ARGS=()
while [ $# -gt 0 ]; do
    case $1 in
    --calls | --pool | --bwrap) ARGS+=("$1" "${2:?}"); shift ;;
    --python) export PATH="$(dirname "${2:?}"):$PATH"; shift ;;
    --dev) PROFILE= ;;
    -h | --help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

cargo run -q $PROFILE --example sandbox_bench -- "${ARGS[@]}"
