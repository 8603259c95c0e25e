#!/usr/bin/env bash
# Publish the built book by hand: push _build/html to the gh-pages branch of `origin` with
# ghp-import (pinned in requirements.txt). .github/workflows/book.yml does the same on every push
# to main through GitHub's Pages actions; use one way or the other (Settings → Pages → Source:
# "Deploy from a branch", gh-pages, for this one).
#   bash scripts/publish.sh                # build first (scripts/build_book.sh) unless _build/html exists
#   bash scripts/publish.sh --skip-build   # publish _build/html as it is; never build
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: bash scripts/publish.sh [--skip-build]"

skip_build=false
for argument in "$@"; do
  case "$argument" in
    --skip-build) skip_build=true ;;
    -h|--help) echo "$usage"; exit 0 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done

if [ ! -f _build/html/index.html ]; then
  if $skip_build; then
    echo "publish.sh: _build/html/index.html is missing; build the book first (bash scripts/build_book.sh)" >&2
    exit 1
  fi
  bash scripts/build_book.sh
fi
# The PDF, where the build made one, is published beside the HTML (as the workflow does).
if [ -f _build/latex/lsbook.pdf ]; then
  cp _build/latex/lsbook.pdf _build/html/
fi

ghp_import=.venv/bin/ghp-import
[ -x "$ghp_import" ] || ghp_import=ghp-import
# -n: add .nojekyll (Sphinx's _static/ and _images/ folders); -p: push; -f: force the push.
"$ghp_import" -n -p -f _build/html
echo "== published _build/html to the gh-pages branch"
