#!/usr/bin/env bash
# Figures for Redis outages and crash restarts (issue 9), on Postgres with a private
# redis-server on a spare port and the benchmark mock LLM (answers at once):
#   1. time to answer a send (POST …/messages, one send_message step) with Redis up, frozen
#      (SIGSTOP: nothing answers) and killed — p50/p95/max over K sequential sends;
#   2. time from a restart after `kill -9` (a run in flight) to the crashed agent answering.
# Loopback only, bounded. Debug build by default (cheap); --release for release figures.
#
# Usage: bash scripts/bench_redis_faults.sh [--release] [--sends K]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

PROFILE=debug
SENDS=100
while [ $# -gt 0 ]; do
    case $1 in
    --release) PROFILE=release ;;
    --sends) SENDS=${2:?}; shift ;;
    -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
    shift
done

section "Build ($PROFILE)"
if [ "$PROFILE" = release ]; then
    cargo build --release --bin letta-rs --example mock_llm || die "build failed"
else
    cargo build --bin letta-rs --example mock_llm || die "build failed"
fi
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE
ensure_postgres
command -v redis-server >/dev/null || die "redis-server is not on PATH"

exec python3 - "$TARGET" "$SENDS" "$PROFILE" <<'PY'
import json, os, signal, socket, statistics, subprocess, sys, tempfile, time, urllib.request

target, sends, profile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
procs = []
dbs = []
ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def spawn(args, **kw):
    p = subprocess.Popen(args, **kw); procs.append(p); return p

def http(method, url, body=None, timeout=60):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, json.load(r)

def wait_ok(url, limit=60):
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            return http("GET", url, timeout=2)[1]
        except Exception:
            time.sleep(0.02)
    raise SystemExit(f"{url} did not answer")

def mock(delay_ms=0, port=0):
    p = spawn([f"{target}/examples/mock_llm", "--delay-ms", str(delay_ms), "--port", str(port)],
              stdout=subprocess.PIPE, text=True)
    for line in p.stdout:
        if line.startswith("MOCK_LLM_URL="):
            return p, line.strip().split("=", 1)[1]
    raise SystemExit("mock did not start")

def database():
    name = f"letta_rs_bench_faults_{os.getpid()}_{len(dbs)}"
    subprocess.run(["psql", ADMIN, "-qc", f"CREATE DATABASE {name}"], check=True, stdout=subprocess.DEVNULL)
    dbs.append(name)
    return f"postgres://postgres@127.0.0.1:5432/{name}"

def server(port, llm, db, redis=None):
    env = {"PATH": os.environ["PATH"], "HOME": tempfile.gettempdir(), "LETTA_HOST": "127.0.0.1",
           "LETTA_PORT": str(port), "DATABASE_URL": db, "OPENAI_API_KEY": "sk-bench",
           "OPENAI_API_BASE": llm, "RUST_LOG": "warn"}
    if redis:
        env["REDIS_URL"] = redis
    p = spawn([f"{target}/letta-rs"], env=env, stdout=subprocess.DEVNULL)
    return p, f"http://127.0.0.1:{port}"

def agent(base):
    return http("POST", base + "/v1/agents/", {
        "model": "openai/gpt-4o-mini", "embedding": "openai/text-embedding-3-small",
        "memory_blocks": [{"label": "human", "value": "Name: unknown"}, {"label": "persona", "value": "A bench agent."}]})[1]["id"]

def send(base, agent_id, text="hello"):
    t = time.perf_counter()
    status, _ = http("POST", f"{base}/v1/agents/{agent_id}/messages", {"messages": [{"role": "user", "content": text}]})
    assert status == 200
    return (time.perf_counter() - t) * 1000

def series(base):
    # Fresh agents for each series: histories that grow from one series to the next would
    # make later series slower whatever Redis does.
    agents = [agent(base) for _ in range(10)]
    ms = [send(base, agents[i % len(agents)]) for i in range(sends)]
    ms.sort()
    return ms[len(ms) // 2], ms[int(len(ms) * 0.95) - 1], ms[-1]

rows = []
try:
    _, llm = mock()
    # 1. Sends with Redis up, frozen and killed.
    rport = free_port()
    redis = spawn(["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                  stdout=subprocess.DEVNULL)
    time.sleep(0.3)
    _, base = server(free_port(), llm, database(), f"redis://127.0.0.1:{rport}")
    wait_ok(base + "/v1/health/")
    series(base)  # warm-up
    rows.append(("Redis up", *series(base), wait_ok(base + "/v1/health/").get("redis")))
    os.kill(redis.pid, signal.SIGSTOP)
    rows.append(("Redis frozen (SIGSTOP)", *series(base), wait_ok(base + "/v1/health/").get("redis")))
    os.kill(redis.pid, signal.SIGCONT)
    time.sleep(3)
    rows.append(("Redis back", *series(base), wait_ok(base + "/v1/health/").get("redis")))
    redis.kill(); redis.wait()
    rows.append(("Redis killed", *series(base), wait_ok(base + "/v1/health/").get("redis")))

    # 2. kill -9 with a run in flight, restart, first answer on the crashed agent.
    # The agent keeps its model endpoint: the slow model is replaced, on the same port, by
    # one that answers at once before the restart.
    mport = free_port()
    slow_proc, slow = mock(delay_ms=30000, port=mport)
    db = database()
    port = free_port()
    proc, base = server(port, slow, db)
    wait_ok(base + "/v1/health/")
    crashed = agent(base)
    run = http("POST", f"{base}/v1/agents/{crashed}/messages/async", {"messages": [{"role": "user", "content": "hi"}]})[1]["id"]
    time.sleep(1.0)  # the run holds the agent's lease, waiting on the model
    proc.kill(); proc.wait()
    slow_proc.kill(); slow_proc.wait()
    _, fast = mock(port=mport)
    started = time.perf_counter()
    proc, base = server(port, fast, db)
    health = wait_ok(base + "/v1/health/")
    up_ms = (time.perf_counter() - started) * 1000
    status = http("GET", f"{base}/v1/runs/{run}")[1]["status"]
    answer_ms = send(base, crashed, "are you there?")
    total_ms = (time.perf_counter() - started) * 1000
finally:
    for p in procs:
        try:
            p.kill(); p.wait(timeout=5)
        except Exception:
            pass
    for name in dbs:
        subprocess.run(["psql", ADMIN, "-qc", f"DROP DATABASE IF EXISTS {name}"], stdout=subprocess.DEVNULL)

print(f"\n===== Summary ({profile} build, Postgres, {os.cpu_count()} cores, {sends} sequential sends each) =====")
print(f"| {'send while':24} | {'p50 ms':>8} | {'p95 ms':>8} | {'max ms':>8} | health.redis |")
print(f"|{'-'*26}|{'-'*10}|{'-'*10}|{'-'*10}|--------------|")
for name, p50, p95, mx, h in rows:
    print(f"| {name:24} | {p50:8.1f} | {p95:8.1f} | {mx:8.1f} | {h or '-':12} |")
print(f"\nrestart after kill -9 (run in flight, lease TTL 30 s, stale after 60 s):")
print(f"  process start -> health OK      {up_ms:8.1f} ms")
print(f"  orphan run status at that time  {status}")
print(f"  first send on the crashed agent {answer_ms:8.1f} ms")
print(f"  process start -> agent answered {total_ms:8.1f} ms")
PY
