"""Where each run of a grid stands: stored (in the results store), running (queued or running in
SLURM, from the journal of submissions and ``squeue``), failed (its submitit task raised; with the
log path) or missing."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsbook.errors import LsbookError
from lsbook.sweep import GridRun

STORED, RUNNING, FAILED, MISSING = "stored", "running", "failed", "missing"
JOURNAL_NAME = "submissions.jsonl"  # in the log folder: one JSON line per submitted task


@dataclass
class RunStatus:
    """A run of the grid and what is known about it."""

    spec: GridRun
    key: str  # the run's store key
    state: str  # STORED, RUNNING, FAILED or MISSING
    job_id: str | None = None  # the SLURM job (array task) that last ran or runs it
    log: str | None = None  # that task's stderr log
    error: str | None = None  # the last line of its error, when it failed
    queue_state: str | None = None  # SLURM's state while queued: PENDING, RUNNING, ...


class Journal:
    """Which SLURM job ran which run: one JSON line per submitted task in ``folder``."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.path = self.folder / JOURNAL_NAME

    def add(self, entries: Iterable[dict[str, Any]]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        text = "".join(json.dumps(e, sort_keys=True) + "\n" for e in entries)
        with open(self.path, "a") as handle:  # one write per submission: lines stay whole
            handle.write(text)

    def latest(self) -> dict[str, dict[str, Any]]:
        """Run key -> its most recent submission."""
        if not self.path.is_file():
            return {}
        latest: dict[str, dict[str, Any]] = {}
        for line in self.path.read_text().splitlines():
            try:
                entry = json.loads(line)
                latest[entry["key"]] = entry
            except (json.JSONDecodeError, KeyError, TypeError):
                continue  # a line cut by a crash: ignore it
        return latest


def queued_jobs() -> dict[str, str]:
    """This user's SLURM jobs (array tasks one per line) -> state; empty without SLURM."""
    if shutil.which("squeue") is None:
        return {}
    done = subprocess.run(["squeue", "--me", "-h", "-r", "-o", "%i %T"], capture_output=True, text=True,
                          timeout=60)
    if done.returncode != 0:
        raise LsbookError(f"squeue failed: {first_line(done.stderr)}; is the SLURM controller reachable?")
    return dict(line.split(None, 1) for line in done.stdout.splitlines() if line.strip())


def task_error(result_pickle: str | None) -> str | None:
    """The last line of the traceback a failed submitit task left, or None (no failure recorded)."""
    if not result_pickle or not Path(result_pickle).is_file():
        return None
    try:
        with open(result_pickle, "rb") as handle:
            outcome, value = pickle.load(handle)
    except Exception:  # noqa: BLE001 - an unreadable result is not evidence of failure
        return None
    if outcome != "error":
        return None
    lines = [line for line in str(value).strip().splitlines() if line.strip()]
    return lines[-1] if lines else "unknown error"


def grid_status(specs: Sequence[GridRun], store, journal: Journal | None = None,
                queued: dict[str, str] | None = None) -> list[RunStatus]:
    """Stored / running / failed / missing for every run of the grid."""
    submitted = journal.latest() if journal is not None else {}
    queued = {} if queued is None else queued
    statuses = []
    for spec in specs:
        entry = submitted.get(spec.key, {})
        status = RunStatus(spec, spec.key, MISSING, entry.get("job_id"), entry.get("stderr"))
        record = store.get(spec.key, spec.config.as_dict())
        error = task_error(entry.get("result"))
        if record is not None and (record.has_model or not spec.keep_model):
            status.state = STORED
        elif status.job_id is not None and status.job_id in queued:
            status.state, status.queue_state = RUNNING, queued[status.job_id]
        elif error is not None:
            status.state, status.error = FAILED, error
        elif record is not None:  # a teacher without weights: a task adds them (from its checkpoint)
            status.error = "stored without the weights its students need"
        statuses.append(status)
    return statuses


def format_status(statuses: Sequence[RunStatus]) -> str:
    """The grid as a table plus a summary line (what --dry-run and every sweep print)."""
    lines = []
    for s in statuses:
        where = f"  job {s.job_id}" if s.job_id and s.state != STORED else ""
        where += f" ({s.queue_state})" if s.queue_state else ""
        why = f"  {s.error}" if s.error else ""
        log = f"  log {s.log}" if s.log and s.state in (FAILED, MISSING) else ""
        lines.append(f"{s.state:8} {s.key}  {s.spec.label()}{where}{why}{log}")
    lines.append(summary_line(statuses))
    return "\n".join(lines)


def summary_line(statuses: Sequence[RunStatus]) -> str:
    counts = {state: sum(s.state == state for s in statuses) for state in (STORED, RUNNING, FAILED, MISSING)}
    return f"{len(statuses)} runs: " + ", ".join(f"{n} {state}" for state, n in counts.items())


def first_line(text: str) -> str:
    """The first non-empty line of ``text`` (error messages stay one line)."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""
