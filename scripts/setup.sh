#!/usr/bin/env bash
# Set up everything lsbook needs on a Debian machine with Python 3.11.
#   bash scripts/setup.sh book   # the book: Python env + Fashion-MNIST + TeX for the PDF
#   bash scripts/setup.sh test   # the tests: Python env + Fashion-MNIST + Chromium + SLURM
# As root it installs the Debian packages; otherwise it prints the apt-get line to run.
set -euo pipefail
cd "$(dirname "$0")/.."
purpose="${1:-book}"

debian_packages=(dataset-fashion-mnist)
case "$purpose" in
  book) debian_packages+=(texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended
                          texlive-fonts-extra texlive-xetex latexmk fonts-freefont-otf) ;;
  test) debian_packages+=(chromium) ;;  # slurm-wlm + munge: scripts/install_slurm.sh
  *) echo "usage: $0 book|test" >&2; exit 2 ;;
esac

missing=()
for package in "${debian_packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "== apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "== not root: please run  sudo apt-get install --no-install-recommends ${missing[*]}" >&2
  fi
fi

[ "$purpose" = test ] && bash scripts/install_slurm.sh

python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv with $python"
  "$python" -m venv .venv
fi
echo "== pip install -r requirements.txt"
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -r requirements.txt
.venv/bin/pip install -q --no-deps -e .
# MathJax for the HTML book, served from the build so that formulas render offline (lsbook/book/mathjax.py).
.venv/bin/python -m lsbook.book.mathjax
.venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null
