"""Where and how a run executes: the device, deterministic kernels, the checkpoint folder, one
trainer per run (a file lock), and atomic checkpoint files.

Shared by the one training loop (:mod:`lsbook.loop`) and the engines that call it
(:mod:`lsbook.train`, :mod:`lsbook.translation.run`).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from lsbook.errors import LsbookError
from lsbook.store import REPO_ROOT

CHECKPOINT_FORMAT = 1


def default_runs_root() -> Path:
    """Where checkpoints go: ``$LSBOOK_RUNS`` or ``<repo>/runs``."""
    return Path(os.environ.get("LSBOOK_RUNS") or REPO_ROOT / "runs")


def run_directory(key: str, runs_root: str | os.PathLike | None = None) -> Path:
    """The checkpoint folder of run ``key`` (created): ``runs_root`` or :func:`default_runs_root`."""
    folder = (Path(runs_root) if runs_root is not None else default_runs_root()) / key
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_run_config(folder: Path, config: dict[str, Any]) -> None:
    """``config.json`` beside the checkpoint: what the run in this folder is, for people."""
    (folder / "config.json").write_text(json.dumps(config, indent=1, sort_keys=True) + "\n")


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``None``/"auto": CUDA when present, else CPU; otherwise the named device, checked."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise LsbookError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from error
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise LsbookError(f"device {device!r} requested but CUDA is not available; use --device cpu")
    if chosen.type not in ("cpu", "cuda"):
        raise LsbookError(f"device {device!r} is not supported; use auto, cpu, cuda or cuda:N")
    return chosen


@contextlib.contextmanager
def deterministic_algorithms(device: torch.device) -> Iterator[None]:
    """On GPUs: deterministic kernels while training (restored afterwards), warning where none exists.

    On the CPU the kernels a run uses are deterministic already (tests/test_train.py checks bitwise
    equality), and switching the global flag there costs an import of torch's compiler stack.
    """
    if device.type != "cuda":
        yield
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    previous = (torch.are_deterministic_algorithms_enabled(),
                torch.is_deterministic_algorithms_warn_only_enabled(),
                torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = False, True
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = previous[2], previous[3]


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (one trainer per run; released when a process dies)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def write_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """torch.save to a temporary file in the same folder, fsync, then rename over ``path``:
    a reader never sees a half-written checkpoint."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_checkpoint(path: Path, **expected: Any) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if its ``format`` is ours and every ``expected`` field matches
    (e.g. ``key=``, ``engine_version=``); None when absent or unusable (training starts afresh)."""
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # noqa: BLE001 - a damaged checkpoint is not fatal
        print(f"warning: ignoring unreadable checkpoint {path} ({error}); training from the start",
              file=sys.stderr)
        return None
    wanted = {"format": CHECKPOINT_FORMAT, **expected}
    different = sorted(k for k, v in wanted.items() if state.get(k) != v)
    if different:
        print(f"warning: ignoring checkpoint {path} (another {', '.join(different)}); training from the start",
              file=sys.stderr)
        return None
    return state
