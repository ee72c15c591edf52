#!/usr/bin/env bash
# Checks that tool schemas derived by the sandbox match Letta 0.8.12's for a set of tool
# sources (scripts/schema_parity.py): downloads the released letta wheel (no dependencies)
# and docstring_parser + pydantic into a throw-away venv, then compares. Needs PyPI.
#
# Usage: bash scripts/check_schema_parity.sh [PYTHON]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${1:-python3}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

"$PY" -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q --disable-pip-version-check "docstring_parser==0.16" "pydantic>=2,<3"
"$WORK/venv/bin/pip" download -q --disable-pip-version-check --no-deps "letta==0.8.12" -d "$WORK/wheel"
"$WORK/venv/bin/python" - "$WORK" <<'PY'
import sys, zipfile, glob
work = sys.argv[1]
[whl] = glob.glob(work + "/wheel/letta-0.8.12-*.whl")
with zipfile.ZipFile(whl) as z:
    for name in ("schema_generator.py", "functions.py"):
        with open(work + "/" + name, "wb") as f:
            f.write(z.read("letta/functions/" + name))
PY
"$WORK/venv/bin/python" "$ROOT/scripts/schema_parity.py" "$WORK" "$ROOT/src/tools/sandbox/python/schema.py"
