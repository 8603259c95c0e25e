#!/usr/bin/env bash
# The README's main command: set up, train whatever the book shows that is not stored yet, then
# build the book (HTML and PDF) from a clean _build at the profile in $LSBOOK_PROFILE (default: cpu).
# Stored runs in results/ are reused; after the first step the pages only read the store.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh book
export LSBOOK_PROFILE="${LSBOOK_PROFILE:-cpu}"
rm -rf _build
start=$(date +%s)
.venv/bin/python -m lsbook runs ensure --book --profile "$LSBOOK_PROFILE" --quiet
.venv/bin/jb build . -W -n --keep-going
.venv/bin/jb build . --builder pdflatex -W -n --keep-going
echo "== built _build/html/index.html and _build/latex/*.pdf at profile $LSBOOK_PROFILE in $(( $(date +%s) - start )) s"
