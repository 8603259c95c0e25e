#!/usr/bin/env bash
# The CIFAR-10 (JPEG re-encode) runs of ResNet-56 and AlexNet at the `paper` profile, in the order that
# makes the ledger's rows testable soonest: seed by seed, the ResNet's calibration runs (α 0 and 0.1
# carry the mutual-information probe and keep their weights, to teach), AlexNet's α 0 and 0.1, the
# ResNet at α 0.05, then Figure 8's students at T 1 and 4, and last those at T 2.
# Every command skips the runs already stored, and a killed run resumes from its checkpoint in
# $LSBOOK_RUNS, so the script can be stopped and started again at any point. Run it from a clean
# `git worktree` of a commit (the records name it), with LSBOOK_RUNS outside the worktree:
#   LSBOOK_RUNS=/work/runs bash scripts/cifar10_jpeg_campaign.sh
# About 70 minutes a ResNet-56 run, 20 an AlexNet run, on a 2-core CPU (`python -m lsbook plan RECIPE --profile paper`).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
lsbook() { echo "== $(date -u +%FT%T) lsbook $*"; "$python" -m lsbook "$@" --profile paper; }

for seed in 0 1 2; do
  lsbook mutual-info resnet56-cifar10-jpeg --alphas 0 0.1 --seeds "$seed" --keep-model
  lsbook sweep alexnet-cifar10-jpeg --alphas 0 0.1 --seeds "$seed"
  lsbook sweep resnet56-cifar10-jpeg --alphas 0.05 --seeds "$seed"
  if [ "$seed" -lt 2 ]; then
    lsbook distill resnet56-alexnet-cifar10-jpeg --seeds "$seed" --temperatures 1 4
  fi
done
lsbook distill resnet56-alexnet-cifar10-jpeg --seeds 0 1   # adds the students at T = 2
