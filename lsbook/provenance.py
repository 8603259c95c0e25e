"""Where and how a run was made — git commit, versions, device, date — kept in its record but never
in its key; and the rule that a ``paper`` run starts only from committed code."""

from __future__ import annotations

import datetime as _dt
import functools
import os
import platform
import socket
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from lsbook import __version__
from lsbook.errors import LsbookError

REPO_ROOT = Path(__file__).resolve().parents[1]
DIFF_LIMIT = 200_000  # characters of `git diff HEAD` kept in the provenance of a run from a dirty tree


def provenance(device: Any, wall_seconds: float, **extra: Any) -> dict[str, Any]:
    """Where and how a run was made (not part of its key)."""
    import torch

    device = str(device)
    if device.startswith("cuda") and torch.cuda.is_available():
        device_name = torch.cuda.get_device_name(torch.device(device))
    else:
        device_name = _cpu_name()
    return {
        **code_version(),
        "lsbook_version": __version__,
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "device": device,
        "device_name": device_name,
        "torch_threads": torch.get_num_threads(),
        # The vector kernels ATen chose on this CPU (AVX2, AVX512, ...): with them the summation order,
        # so a run reproduces bit for bit only at the same capability (and the same MKL instructions).
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        **({"mkl_enable_instructions": os.environ["MKL_ENABLE_INSTRUCTIONS"]}
           if os.environ.get("MKL_ENABLE_INSTRUCTIONS") else {}),
        "wall_seconds": float(wall_seconds),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "hostname": socket.gethostname(),
        **extra,
    }


@functools.lru_cache(maxsize=1)
def code_version() -> dict[str, Any]:
    """The git commit (and whether the tree was dirty) of the code this process runs.

    Taken once, at the first call: trainers call it when a run starts, so a commit made while a
    long run trains is not recorded as the code that produced it.
    """
    commit = _git("rev-parse", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no")) if commit else None
    return {"git_commit": commit, "git_dirty": dirty}


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return "CPU: " + line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "CPU: " + (platform.processor() or platform.machine())


def check_clean_tree(profile: str, allow_dirty: bool = False) -> dict[str, Any]:
    """Refuse to start a ``paper`` run from a tree with uncommitted changes to tracked files.

    A paper run's record names the commit it ran; with ``allow_dirty`` it may start anyway, and the
    returned provenance entries keep ``git diff HEAD`` (the first DIFF_LIMIT characters).
    """
    if profile != "paper" or not code_version()["git_dirty"]:
        return {}
    if not allow_dirty:
        raise LsbookError("the git tree has uncommitted changes to tracked files, and a paper-profile run "
                          "records the commit it ran: commit them, or pass --allow-dirty (allow_dirty=True) "
                          "to keep the diff in the run's provenance")
    diff = working_tree_diff()
    return {"git_diff": diff[:DIFF_LIMIT], "git_diff_chars": len(diff), "git_diff_truncated": len(diff) > DIFF_LIMIT}


@functools.lru_cache(maxsize=1)
def working_tree_diff() -> str:
    """``git diff HEAD`` when the run starts (taken once, like :func:`code_version`)."""
    return _git("diff", "HEAD") or ""
