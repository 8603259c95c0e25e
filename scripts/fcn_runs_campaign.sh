#!/usr/bin/env bash
# The FCN runs that later-work rows and the Fashion-MNIST offset row wait for, at the `paper` profile,
# two at a time on 2 cores; every command skips stored runs and resumes killed ones ($LSBOOK_RUNS).
# Run it from a clean `git worktree` of a commit, with LSBOOK_RUNS outside the worktree:
#   LSBOOK_RUNS=/work/runs bash scripts/fcn_runs_campaign.sh
# The MNIST teachers of Table 2 were stored without their weights on AVX2 machines; the
# temperature study retrains them to distil from them, and ATEN_CPU_CAPABILITY=avx2 with
# MKL_ENABLE_INSTRUCTIONS=AVX2 makes an AVX-512 machine reproduce their bits (README, "Bit for bit").
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
lsbook() { echo "== $(date -u +%FT%T) lsbook $*"; "$python" -m lsbook "$@" --profile paper --jobs 2; }

# the Fashion-MNIST offset: the replication's three code choices together, then each alone (α = 0)
lsbook sweep fcn-fmnist-full-replication --alphas 0 --seeds 0 1 2
for choice in biasinit epochlr roundshift; do
  lsbook sweep "fcn-fmnist-full-$choice" --alphas 0 --seeds 0 1
done
# label noise (Lukasik et al. 2020): 20 % symmetric noise, α 0 and 0.1
lsbook sweep fcn-fmnist-noisy --alphas 0 0.1 --seeds 0 1 2
# a smoothed teacher at higher temperature (Chandrasegaran et al. 2022): both teachers, T 1, 2, 4, 8
ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 lsbook distill fcn-mnist-temperatures --seeds 0 1 2 --no-table4
