#!/usr/bin/env bash
# Benchmarks file ingestion (upload → parse → chunk → embed → passages) on this machine:
#   - a 5 MB plain-text file,
#   - a 50-page PDF (text on every page, written by this script),
# each uploaded to a fresh source and polled until `completed`; prints the wall time from the
# upload to completion, the chunks, chunks and megabytes per second, and where the server's
# job spent its time (parse, chunk, waiting for the embedder, passage inserts; from its
# "file ingested" log line). The embedder is the tests' mock (examples/mock_llm.rs:
# deterministic vectors, no network), answering each request (one batch of the source's
# `batch_size`, 1024 for openai/text-embedding-3-small) after --embed-latency-ms; the data a
# temporary SQLite directory (--postgres: a fresh Postgres database).
#
# Usage: bash scripts/bench_ingest.sh [--debug] [--embed-latency-ms N] [--postgres]
#   --debug: the debug binary, no release build
# Reproduce the figures of the ingestion note:
#   bash scripts/bench_ingest.sh; bash scripts/bench_ingest.sh --embed-latency-ms 300
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

PROFILE=release
LATENCY_MS=0
POSTGRES=
while [ $# -gt 0 ]; do
    case $1 in
    --debug) PROFILE=debug ;;
    --embed-latency-ms)
        LATENCY_MS=${2:?--embed-latency-ms takes a number}
        shift
        ;;
    --postgres) POSTGRES=1 ;;
    -h | --help)
        sed -n '2,17p' "$0"
        exit 0
        ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
    shift
done

WORK=$(mktemp -d -t letta-rs-bench-ingest.XXXXXX)
MOCK_PID=
SERVER_PID=
PG_DB=
cleanup() {
    stop_pid "$SERVER_PID"
    stop_pid "$MOCK_PID"
    [ -n "$PG_DB" ] && psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE
section "Build ($PROFILE)"
if [ "$PROFILE" = release ]; then
    cargo build --release --bin letta-rs --example mock_llm || die "release build failed"
else
    cargo build --bin letta-rs --example mock_llm || die "build failed"
fi
[ -x "$TARGET/letta-rs" ] || die "no server binary at $TARGET/letta-rs"

section "Inputs"
python3 - "$WORK" <<'PY'
import sys

work = sys.argv[1]
words = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike "
         "november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu").split()
# ~5 MB of sentences in paragraphs.
out, size, i = [], 0, 0
while size < 5 * 1024 * 1024:
    sentence = " ".join(words[(i * 7 + k) % len(words)] for k in range(12)).capitalize() + "."
    out.append(sentence + ("\n\n" if i % 8 == 7 else " "))
    size += len(sentence) + 1
    i += 1
open(f"{work}/big.txt", "w").write("".join(out))

# A 50-page PDF, 40 lines of text per page, uncompressed content streams.
objs = []
def add(body):
    objs.append(body)
    return len(objs)
font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>")
pages_id = add(None)  # filled in below
kids = []
for p in range(50):
    lines = []
    for l in range(40):
        text = " ".join(words[(p * 40 + l + k) % len(words)] for k in range(9))
        lines.append(f"({text} page {p + 1} line {l + 1}) Tj T*")
    stream = ("BT /F1 10 Tf 12 TL 40 800 Td " + " ".join(lines) + " ET").encode()
    content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    kids.append(add(b"<< /Type /Page /Parent %d 0 R /Contents %d 0 R >>" % (pages_id, content)))
objs[pages_id - 1] = (b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % k for k in kids)
                      + b"] /Count %d /Resources << /Font << /F1 %d 0 R >> >> /MediaBox [0 0 595 842] >>"
                      % (len(kids), font))
catalog = add(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)
data, offsets = b"%PDF-1.4\n", []
for n, body in enumerate(objs, 1):
    offsets.append(len(data))
    data += b"%d 0 obj\n" % n + body + b"\nendobj\n"
xref = len(data)
data += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
data += b"".join(b"%010d 00000 n \n" % o for o in offsets)
data += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, catalog, xref)
open(f"{work}/big.pdf", "wb").write(data)
PY
note "text: $(stat -c %s "$WORK/big.txt") bytes; pdf: $(stat -c %s "$WORK/big.pdf") bytes, 50 pages"

"$TARGET/examples/mock_llm" --embedding-delay-ms "$LATENCY_MS" >"$WORK/mock.out" 2>&1 &
MOCK_PID=$!
for _ in $(seq 50); do grep -q MOCK_LLM_URL "$WORK/mock.out" && break; sleep 0.1; done
MOCK_BASE=$(sed -n 's/^MOCK_LLM_URL=//p' "$WORK/mock.out")
[ -n "$MOCK_BASE" ] || die "mock LLM did not start"
DB_SETTING=()
BACKEND=SQLite
if [ -n "$POSTGRES" ]; then
    PG_DB=letta_rs_bench_ingest_$$
    psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $PG_DB" || die "could not create $PG_DB"
    DB_SETTING=(LETTA_PG_URI="postgres://postgres@127.0.0.1:5432/$PG_DB")
    BACKEND=Postgres
fi
section "Start ($PROFILE build, $BACKEND, embedder latency ${LATENCY_MS} ms per request)"
mkdir -p "$WORK/data"
SERVER_RUST_LOG="warn,letta_rs::ingest=info" start_letta "$TARGET/letta-rs" "$WORK/data" "$WORK/server.log" "${DB_SETTING[@]}"
wait_http_ok "$SERVER_URL/v1/health/" 60 "$SERVER_PID" || {
    tail -n 40 "$WORK/server.log" >&2
    die "server did not become healthy"
}
note "server $SERVER_URL (pid $SERVER_PID)"

# Uploads $2 (media type $3) to a new source named $1 and waits for the end of its ingestion;
# prints "<seconds> <status> <total_chunks>".
ingest() {
    python3 - "$SERVER_URL" "$1" "$2" "$3" <<'PY'
import json, sys, time, urllib.request, uuid

base, name, path, media = sys.argv[1:]
def call(method, url, body=None, headers=None):
    req = urllib.request.Request(base + url, data=body, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.load(r)
source = call("POST", "/v1/sources/", json.dumps({"name": name, "embedding": "openai/text-embedding-3-small"}).encode(),
              {"content-type": "application/json"})
boundary = uuid.uuid4().hex
data = open(path, "rb").read()
body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path.rsplit('/', 1)[-1]}\"\r\n"
        f"Content-Type: {media}\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
t0 = time.monotonic()
file = call("POST", f"/v1/sources/{source['id']}/upload", body, {"content-type": f"multipart/form-data; boundary={boundary}"})
while True:
    meta = call("GET", f"/v1/sources/{source['id']}/files/{file['id']}")
    if meta["processing_status"] in ("completed", "error"):
        break
    time.sleep(0.05)
elapsed = time.monotonic() - t0
if meta["processing_status"] != "completed":
    print(meta, file=sys.stderr)
print(f"{elapsed:.2f} {meta['processing_status']} {meta.get('total_chunks') or 0} {file['id']}")
PY
}

# The job's stage times of file $1, from its "file ingested" log line.
stages() {
    python3 - "$WORK/server.log" "$1" <<'PY'
import re, sys

log, file_id = sys.argv[1:]
for line in open(log, errors="replace"):
    if "file ingested" in line and file_id in line:
        line = re.sub(r"\x1b\[[0-9;]*m", "", line)
        f = dict(re.findall(r"(\w+_ms)=(\d+)", line))
        print(" ".join(f.get(k, "?") for k in ("elapsed_ms", "parse_ms", "chunk_ms", "embed_ms", "insert_ms")))
        break
else:
    print("? ? ? ? ?")
PY
}

section "Ingest"
read -r TXT_S TXT_STATUS TXT_CHUNKS TXT_ID < <(ingest bench-text "$WORK/big.txt" text/plain)
read -r PDF_S PDF_STATUS PDF_CHUNKS PDF_ID < <(ingest bench-pdf "$WORK/big.pdf" application/pdf)
[ "$TXT_STATUS" = completed ] && [ "$PDF_STATUS" = completed ] || die "an ingestion failed"

section "Summary ($PROFILE build, $BACKEND, $(nproc) cores, mock embedder +${LATENCY_MS} ms per request)"
note "load: $(uptime | sed 's/.*load average/load average/')"
summary() {
    python3 -c 'import sys
name, secs, chunks, size = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print(f"| {name:<22} | {secs:8.2f} | {chunks:7d} | {chunks / secs:9.1f} | {size / secs / 1048576:6.2f} |")' "$@"
}
printf '| %-22s | %8s | %7s | %9s | %6s |\n' input seconds chunks chunks/s MB/s
printf '|%s|%s|%s|%s|%s|\n' ------------------------ ---------- --------- ----------- --------
summary "5 MB text" "$TXT_S" "$TXT_CHUNKS" "$(stat -c %s "$WORK/big.txt")"
summary "50-page PDF" "$PDF_S" "$PDF_CHUNKS" "$(stat -c %s "$WORK/big.pdf")"
echo
echo "Where the job's time went (ms; embed = waiting for the embedder, insert = passage writes):"
printf '| %-22s | %8s | %7s | %7s | %7s | %7s |\n' input job parse chunk embed insert
printf '|%s|%s|%s|%s|%s|%s|\n' ------------------------ ---------- --------- --------- --------- ---------
for row in "5 MB text:$TXT_ID" "50-page PDF:$PDF_ID"; do
    read -r job parse chunk embed insert < <(stages "${row#*:}")
    printf '| %-22s | %8s | %7s | %7s | %7s | %7s |\n' "${row%%:*}" "$job" "$parse" "$chunk" "$embed" "$insert"
done
