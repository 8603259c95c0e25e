"""A grid of runs trained here, on this machine: plain grids and distillation studies alike.

Every run is configured first (a bad α, seed or recipe stops the sweep before anything trains); stored
runs are skipped; teachers train before their students, and a student whose teacher failed is not
started. With ``jobs`` > 1, that many runs train at once, each in a worker process with
``cores // jobs`` torch threads; a student starts when its teacher is stored. Two workers never
train the same run: the run lock of :mod:`lsbook.runtime` serialises them. A failed run does not
stop the others; the outcome lists it.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context

from lsbook.cluster.grid import GridRun
from lsbook.errors import LsbookError
from lsbook.store import Store
from lsbook.validation import check_positive_int


@dataclass
class SweepOutcome:
    """What a local sweep did, run by run."""

    stored: list[GridRun] = field(default_factory=list)  # found in the store, not trained
    trained: list[GridRun] = field(default_factory=list)  # trained (or resumed) now
    failed: list[tuple[GridRun, str]] = field(default_factory=list)  # (run, one-line reason)

    @property
    def summary(self) -> str:
        total = len(self.stored) + len(self.trained) + len(self.failed)
        return (f"{total} run(s): {len(self.stored)} already stored, {len(self.trained)} trained, "
                f"{len(self.failed)} failed")


def threads_per_job(jobs: int, cores: int | None = None) -> int:
    """Torch threads for each of ``jobs`` concurrent runs: the cores shared out, at least one."""
    return max(1, (cores or os.cpu_count() or 1) // jobs)


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def _start_worker(threads: int) -> None:
    """Each worker process uses its share of the cores."""
    import torch

    torch.set_num_threads(threads)


def _train(spec: GridRun, store_root: str, runs_root: str | None, device: str | None, progress: bool,
           allow_dirty: bool) -> str:
    return spec.train(store_root, runs_root, device=device, progress=progress, allow_dirty=allow_dirty).key


def run_locally(specs: Sequence[GridRun], store: Store, *, jobs: int = 1, device: str | None = None,
                progress: bool = True, runs_root: str | None = None, allow_dirty: bool = False,
                report: Callable[[str], None] | None = None) -> SweepOutcome:
    """Train every run of ``specs`` that is not stored, ``jobs`` at a time; teachers first."""
    jobs = check_positive_int(jobs, "jobs")
    say = report or (lambda line: print(line, flush=True))
    outcome = SweepOutcome()  # every configuration was validated when it was made
    todo: list[GridRun] = []
    for spec in sorted(specs, key=lambda s: s.teacher_key is not None):
        if spec.is_stored(store):
            say(f"stored   {spec.label()}: run {spec.key}")
            outcome.stored.append(spec)
        else:
            todo.append(spec)
    done = {s.key for s in outcome.stored}
    failed_keys: set[str] = set()

    def teacher_ready(spec: GridRun) -> bool:
        return spec.teacher_key is None or spec.teacher_key in done or store.get(spec.teacher_key) is not None

    def finished(spec: GridRun, error: BaseException | None) -> None:
        key = spec.key
        if error is None:
            done.add(key)
            outcome.trained.append(spec)
            say(f"trained  {spec.label()}: run {key}")
            return
        failed_keys.add(key)
        outcome.failed.append((spec, _first_line(error)))
        print(f"FAILED   {spec.label()}: {_first_line(error)}", file=sys.stderr, flush=True)
        if not isinstance(error, LsbookError):  # a bug, not bad input: keep its traceback
            traceback.print_exception(error, file=sys.stderr)

    def blocked(spec: GridRun) -> bool:
        if spec.teacher_key in failed_keys:
            outcome.failed.append((spec, f"its teacher failed (run {spec.teacher_key})"))
            failed_keys.add(spec.key)
            return True
        return False

    if jobs == 1:
        for spec in todo:
            if blocked(spec):
                continue
            say(f"training {spec.label()}: run {spec.key}")
            try:
                _train(spec, str(store.root), runs_root, device, progress, allow_dirty)
            except KeyboardInterrupt:
                raise
            except Exception as error:  # noqa: BLE001 - report it and go on with the grid
                finished(spec, error)
            else:
                finished(spec, None)
        return outcome

    waiting = list(todo)
    running: dict[Future, GridRun] = {}
    context = get_context("spawn")  # a fresh interpreter per worker: no forked OpenMP state
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_start_worker,
                             initargs=(threads_per_job(jobs),)) as pool:
        while waiting or running:
            for spec in list(waiting):
                if blocked(spec):
                    waiting.remove(spec)
                elif teacher_ready(spec):
                    waiting.remove(spec)
                    say(f"training {spec.label()}: run {spec.key}")
                    running[pool.submit(_train, spec, str(store.root), runs_root, device, False,
                                        allow_dirty)] = spec
            if not running:
                break  # students whose teachers are neither stored nor in this grid
            ready, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in ready:
                spec = running.pop(future)
                finished(spec, future.exception())
    for spec in waiting:
        outcome.failed.append((spec, "its teacher is not in the store"))
    return outcome
