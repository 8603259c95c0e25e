#!/bin/sh
# Install a single-node SLURM (slurm-wlm) and munge so tests/test_cluster.py can run against a
# real scheduler, the one `python -m lsbook` submits the paper grid to through submitit.
# Idempotent: does nothing when both are installed.
# Needs root (apt-get); as another user it says so and exits 0, and the SLURM tests are skipped.
set -eu

if command -v slurmctld >/dev/null 2>&1 && command -v slurmd >/dev/null 2>&1 \
   && command -v munged >/dev/null 2>&1; then
    echo "install_slurm: slurm-wlm and munge already installed"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install_slurm: not root; skipping (run as root: apt-get install -y slurm-wlm munge)" >&2
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# Wait for another apt/dpkg run (e.g. a concurrent set-up step) instead of failing on its lock.
apt-get -o DPkg::Lock::Timeout=900 update -qq
apt-get -o DPkg::Lock::Timeout=900 install -y --no-install-recommends slurm-wlm munge
echo "install_slurm: installed slurm-wlm and munge"
