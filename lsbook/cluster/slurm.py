"""Submitting runs to SLURM with submitit: sbatch options, the task that trains one run, job arrays
with teacher → student dependencies, and waiting for the jobs."""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lsbook.cluster.status import FAILED, MISSING, RUNNING, Journal, RunStatus, first_line, queued_jobs
from lsbook.errors import LsbookError
from lsbook.sweep import GridRun

MAX_REQUEUES = 100  # how often a task may requeue itself after reaching its time limit
JOB_NAME = "lsbook"


@dataclass(frozen=True)
class SlurmOptions:
    """Resources of each array task (sbatch options)."""

    partition: str | None = None  # --partition; None: the cluster's default partition
    time_min: int = 240  # --time in minutes; a task at its limit requeues itself from its checkpoint
    gpus_per_task: int | None = None  # --gpus-per-task
    cpus_per_task: int | None = None  # --cpus-per-task (also torch's thread count in the task)
    mem: str | None = None  # --mem, SLURM syntax (e.g. 16G)
    max_parallel: int | None = None  # at most this many tasks of an array run at once (--array=...%N)


def parse_slurm_time(text: str) -> int:
    """SLURM's --time formats (M, M:S, H:M:S, D-H, D-H:M, D-H:M:S) -> whole minutes (rounded up)."""
    match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", str(text).strip())
    if not match:
        raise LsbookError(f"--time {text!r} is not a SLURM time (e.g. 90, 4:00:00 or 2-00:00:00)")
    days, a, b, c = (int(g) if g is not None else None for g in match.groups())
    if days is not None:  # D-H[:M[:S]]
        seconds = days * 86400 + a * 3600 + (b or 0) * 60 + (c or 0)
    elif c is not None:  # H:M:S
        seconds = a * 3600 + b * 60 + c
    elif b is not None:  # M:S
        seconds = a * 60 + b
    else:  # M
        seconds = a * 60
    if seconds <= 0:
        raise LsbookError(f"--time {text!r} must be longer than 0")
    return math.ceil(seconds / 60)


def check_slurm_ready(partition: str | None) -> None:
    """SLURM's commands are on PATH and the partition exists; otherwise a one-line LsbookError."""
    missing = [c for c in ("sbatch", "squeue", "sinfo", "srun") if shutil.which(c) is None]
    if missing:
        raise LsbookError(f"--executor slurm: {', '.join(missing)} not found on PATH; run the sweep on a "
                          "SLURM login node (or use --executor local)")
    if partition is None:
        return
    done = subprocess.run(["sinfo", "-h", "-p", partition, "-o", "%P"], capture_output=True, text=True,
                          timeout=60)
    if done.returncode != 0 or not done.stdout.strip():
        known = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, timeout=60)
        names = ", ".join(p.rstrip("*") for p in known.stdout.split()) or "none"
        raise LsbookError(f"--partition {partition!r} is not a partition of this SLURM cluster "
                          f"(partitions: {names})")


def make_executor(options: SlurmOptions, log_dir: Path, job_name: str = JOB_NAME):
    """A submitit SlurmExecutor for array tasks with ``options``; logs go to ``log_dir``."""
    import submitit  # lazy: a slow import, and only a SLURM submission needs it

    executor = submitit.SlurmExecutor(folder=log_dir, max_num_timeout=MAX_REQUEUES)
    extra: dict[str, Any] = {"kill-on-invalid-dep": "yes"}  # a failed teacher cancels its students
    if options.mem is not None:
        extra["mem"] = options.mem
    parameters: dict[str, Any] = {"job_name": job_name, "time": options.time_min,
                                  "additional_parameters": extra}
    for name in ("partition", "gpus_per_task", "cpus_per_task"):
        if getattr(options, name) is not None:
            parameters[name] = getattr(options, name)
    if options.max_parallel is not None:
        parameters["array_parallelism"] = options.max_parallel
    executor.update_parameters(**parameters)
    return executor


def limit_threads(threads: int | None = None) -> None:
    """Use ``threads`` (``--threads``) or else the CPUs SLURM gave the task, not every core of the node."""
    cpus = os.environ.get("SLURM_CPUS_PER_TASK")
    if threads is None and cpus and cpus.isdigit():
        threads = int(cpus)
    if threads is not None:
        torch.set_num_threads(threads)


class TrainTask:
    """What one array task runs: ``spec.train`` into the shared store; requeued at its time limit."""

    def __init__(self, device: str | None = None, threads: int | None = None, allow_dirty: bool = False):
        self.device = device  # None/"auto": CUDA when the task has a GPU, else CPU
        self.threads = threads  # torch's CPU threads; None: --cpus-per-task
        self.allow_dirty = allow_dirty  # paper runs from uncommitted code (the diff goes into provenance)

    def __call__(self, spec: GridRun, store_root: str, runs_root: str) -> str:
        limit_threads(self.threads)
        record = spec.train(store_root, runs_root, device=self.device, progress=False, allow_dirty=self.allow_dirty)
        print(f"stored {spec.label()} as {record.key} in {store_root} "
              f"(resumed {record.provenance.get('resumes', 0)} time(s))", flush=True)
        return record.key

    def checkpoint(self, *args: Any, **kwargs: Any):
        """submitit calls this at the time limit: requeue the same call; ensure_run resumes it."""
        import submitit  # lazy: a slow import, and only a task at its time limit needs it

        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)


def submit_calls(executor, calls: Sequence[tuple], fn: Callable, dependency: str | None) -> list:
    """Submit ``fn(*call)`` for each call as one array (or one job); sbatch errors -> LsbookError."""
    from submitit.core.utils import FailedJobError, FailedSubmissionError  # lazy: as in make_executor

    executor.update_parameters(dependency=dependency)
    printed = io.StringIO()  # submitit prints sbatch's stderr itself; it goes into our one line instead
    try:
        with contextlib.redirect_stderr(printed):
            if len(calls) == 1:
                return [executor.submit(fn, *calls[0])]
            return executor.map_array(fn, *zip(*calls))
    except (FailedJobError, FailedSubmissionError, subprocess.CalledProcessError) as error:
        reason = first_line(str(error)) or first_line(printed.getvalue()) or type(error).__name__
        raise LsbookError(f"sbatch rejected the submission: {reason}") from error


def _journal_entry(spec: GridRun, key: str, job) -> dict[str, Any]:
    return {"key": key, "label": spec.label(), "job_id": str(job.job_id), "stdout": str(job.paths.stdout),
            "stderr": str(job.paths.stderr), "result": str(job.paths.result_pickle),
            "submitted": time.strftime("%Y-%m-%dT%H:%M:%S")}


def submit_grid(statuses: Sequence[RunStatus], options: SlurmOptions, *, store_root: str | os.PathLike,
                runs_root: str | os.PathLike, log_dir: str | os.PathLike, device: str | None = None,
                threads: int | None = None, allow_dirty: bool = False) -> dict[str, str]:
    """Submit every missing or failed run; students depend on their teachers' jobs.

    Returns run key -> job id of what was submitted (the journal in ``log_dir`` keeps it too).
    """
    log_dir = Path(log_dir).resolve()
    journal = Journal(log_dir)
    executor = make_executor(options, log_dir)
    job_of = {s.key: s.job_id for s in statuses if s.state == RUNNING}
    todo = [s for s in statuses if s.state in (MISSING, FAILED)]
    submitted: dict[str, str] = {}
    store_root, runs_root = str(Path(store_root).resolve()), str(Path(runs_root).resolve())

    # Teachers and plain runs first, then students grouped by the teacher job they wait for.
    waves: dict[str | None, list[RunStatus]] = {None: [s for s in todo if s.spec.teacher_key is None]}
    task = TrainTask(device, threads, allow_dirty)
    _submit_wave(executor, journal, task, waves.pop(None), None, store_root, runs_root, submitted)
    for status in (s for s in todo if s.spec.teacher_key is not None):
        teacher_key = status.spec.teacher_key
        teacher_job = submitted.get(teacher_key) or job_of.get(teacher_key)
        waves.setdefault(f"afterok:{teacher_job}" if teacher_job else None, []).append(status)
    for dependency, group in waves.items():
        _submit_wave(executor, journal, task, group, dependency, store_root, runs_root, submitted)
    return submitted


def _submit_wave(executor, journal: Journal, task: "TrainTask", group: Sequence[RunStatus], dependency: str | None,
                 store_root: str, runs_root: str, submitted: dict[str, str]) -> None:
    if not group:
        return
    jobs = submit_calls(executor, [(s.spec, store_root, runs_root) for s in group], task, dependency)
    journal.add(_journal_entry(s.spec, s.key, job) for s, job in zip(group, jobs))
    for status, job in zip(group, jobs):
        submitted[status.key] = str(job.job_id)


def wait_for(job_ids: Iterable[str], poll_s: float = 5.0, timeout_s: float | None = None) -> None:
    """Block until none of ``job_ids`` is queued or running any more."""
    pending = set(job_ids)
    began = time.monotonic()
    while pending:
        pending &= set(queued_jobs())
        if not pending:
            return
        if timeout_s is not None and time.monotonic() - began > timeout_s:
            raise TimeoutError(f"jobs still queued after {timeout_s:.0f} s: {', '.join(sorted(pending))}")
        time.sleep(poll_s)


def array_ids(job_ids: Iterable[str]) -> list[str]:
    """``123_0, 123_1, 124`` -> ``123, 124``: the arrays, for people."""
    return sorted({j.split("_")[0] for j in job_ids}, key=lambda j: (len(j), j))
