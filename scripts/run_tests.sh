#!/usr/bin/env bash
# The README's test command: set up, then unit tests + every chapter at the smoke profile + the
# HTML build checked in a headless browser.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
exec .venv/bin/python -m pytest -q -ra "$@"
