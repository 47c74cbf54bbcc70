#!/usr/bin/env bash
# Prepare a checkout: virtualenv with the pinned packages, front-end assets, translations.
# Idempotent and quick when nothing changed (stamp files record what was installed).
# Usage: scripts/setup.sh [--dev]
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[ "${1:-}" = "--dev" ] && extras="[dev]"

python_bin="${PYTHON:-}"
if [ -z "$python_bin" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      python_bin="$candidate"; break
    fi
  done
fi
[ -n "$python_bin" ] || { echo "BotMarket needs Python 3.11 (set PYTHON=/path/to/python3.11)." >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $python_bin"
  "$python_bin" -m venv .venv
fi

stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)${extras:+-dev}"
if [ ! -f "$stamp" ]; then
  echo "==> installing Python packages${extras:+ (with test tools)}"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".${extras}"
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# Front-end libraries come from npm at the versions package-lock.json pins.
if [ ! -f node_modules/.installed-stamp ] || [ package-lock.json -nt node_modules/.installed-stamp ]; then
  command -v npm >/dev/null 2>&1 || { echo "npm (Node.js) is needed for the UI's chart library." >&2; exit 1; }
  echo "==> installing front-end assets (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  touch node_modules/.installed-stamp
fi
mkdir -p static/vendor
cp node_modules/lightweight-charts/dist/lightweight-charts.standalone.production.js static/vendor/

.venv/bin/python manage.py compile_translations >/dev/null
.venv/bin/python manage.py collectstatic --noinput -v0
