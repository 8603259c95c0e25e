"""Where and how a run executes: the device, deterministic kernels, the checkpoint folder, one
trainer per run (a file lock), atomic checkpoint files and how often they are written.

Shared by the one training loop (:mod:`lsbook.loop`) and the engines that call it
(:mod:`lsbook.train`, :mod:`lsbook.translation.run`).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from lsbook.errors import LsbookError
from lsbook.store import REPO_ROOT

CHECKPOINT_FORMAT = 1
# How much training (wall-clock seconds) a killed run may lose at most: the checkpoint cadence
# (CheckpointCadence). $LSBOOK_CHECKPOINT_SECONDS overrides it; 0 writes one after every epoch.
CHECKPOINT_SECONDS = 60.0
CHECKPOINT_SECONDS_ENV = "LSBOOK_CHECKPOINT_SECONDS"


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


def checkpoint_seconds() -> float:
    """The cadence's interval: ``$LSBOOK_CHECKPOINT_SECONDS`` (seconds >= 0) or CHECKPOINT_SECONDS."""
    text = os.environ.get(CHECKPOINT_SECONDS_ENV, "").strip()
    if not text:
        return CHECKPOINT_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0.0 or seconds == float("inf"):
        raise LsbookError(f"${CHECKPOINT_SECONDS_ENV} must be a number of seconds >= 0, got {text!r}")
    return seconds


class CheckpointCadence:
    """When a training loop writes its checkpoint, asked at the end of each epoch.

    The rule: always after the last epoch; otherwise when waiting for the next epoch would leave
    more than ``seconds`` of training unsaved, i.e. when (time since the last checkpoint, or since
    the run started or resumed) + (this epoch's duration, the estimate of the next one) > ``seconds``.
    A run killed at any moment thus loses at most about ``seconds`` of wall-clock training (one
    epoch, where an epoch takes longer: every epoch is then written, as before) and resumes from
    its last checkpoint, bitwise as if never stopped. ``seconds`` = 0: after every epoch.
    The FCN's 5–10 s epochs: every 6–12 epochs instead of 100 writes of 19 MB per run.
    """

    def __init__(self, seconds: float | None = None, clock=time.monotonic) -> None:
        self.seconds = checkpoint_seconds() if seconds is None else float(seconds)
        self.clock = clock
        self.since = clock()

    def due(self, epoch_seconds: float, last: bool) -> bool:
        """Whether to write now, after an epoch of ``epoch_seconds`` (``last``: the run's last)."""
        return last or self.seconds <= 0.0 or (self.clock() - self.since) + epoch_seconds > self.seconds

    def written(self) -> None:
        """A checkpoint has just been written: the unsaved time starts again from zero."""
        self.since = self.clock()


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
