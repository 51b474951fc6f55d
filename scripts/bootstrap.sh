#!/usr/bin/env bash
# Installs what is missing, idempotently: .venv with the locked Python packages, the project
# itself (editable), and the pinned npm packages (anvil, solc). A stamp of the lock files makes
# a second run with nothing changed return at once.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
UV_VERSION=0.13.8

"$PYTHON" - <<'PY' || { echo "perpflow needs Python 3.11 or newer (set PYTHON=...)" >&2; exit 1; }
import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY

stamp_of() {
  local f
  for f in requirements.lock pyproject.toml package.json package-lock.json; do
    if [ -f "$f" ]; then sha256sum "$f"; fi
  done | sha256sum | cut -d' ' -f1
}
want=$(stamp_of)
if [ -f .venv/.perpflow-stamp ] && [ "$(cat .venv/.perpflow-stamp)" = "$want" ]; then
  exit 0
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
[ -x .venv/bin/uv ] || .venv/bin/python -m pip install --quiet "uv==$UV_VERSION"
echo "bootstrap: installing locked Python packages into .venv" >&2
# Compiled once here: a process that starts (a worker, the CLI) then loads bytecode instead of
# compiling every module it imports, which takes seconds (and PYTHONDONTWRITEBYTECODE may be set).
.venv/bin/uv pip sync --quiet --compile-bytecode --python .venv/bin/python requirements.lock
.venv/bin/uv pip install --quiet --python .venv/bin/python --no-deps -e .
.venv/bin/python -m compileall -q -j 0 perpflow workflows activities workers >/dev/null
if [ -f package.json ]; then
  command -v npm >/dev/null || { echo "bootstrap: npm is required (Node.js 18+)" >&2; exit 1; }
  echo "bootstrap: installing pinned npm packages (anvil, solc)" >&2
  npm ci --silent --no-audit --no-fund
fi
echo "$want" > .venv/.perpflow-stamp
