"""The runs of a grid, and the grid trained here, on this machine: plain grids and distillation
studies alike.

A :class:`GridRun` is one run of a sweep: its run configuration and what the sweep stores with it
(picklable, for worker processes and SLURM tasks). :func:`expand_grid` gives a plain grid (recipe ×
α × seed), :func:`distillation_grid` a distillation study of Section 6
(:mod:`lsbook.experiments.distillation_grid`). :func:`run_locally` trains a grid here; the SLURM
sweep (:mod:`lsbook.cluster`) submits the same runs as array tasks.

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
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any

import torch

from lsbook.errors import LsbookError
from lsbook.experiments.distillation_grid import SETUPS, DistillationSetup
from lsbook.experiments.distillation_grid import expand_grid as study_grid
from lsbook.experiments.smoothness import ensure_smoothness, find_smoothness, teacher_model
from lsbook.run_config import RunConfig
from lsbook.runs import ensure, run_config
from lsbook.runtime import pick_device
from lsbook.store import Record, Store
from lsbook.train import find_run
from lsbook.validation import check_choice, check_positive_int


@dataclass(frozen=True)
class GridRun:
    """One run of a sweep: its configuration, and what the sweep keeps beside its record."""

    config: RunConfig           # what the run is (its key)
    keep_model: bool = False    # store the final weights (teachers whose students train elsewhere)
    store_gamma: bool = False   # a student: store its teacher's γ at the student's temperature (seed Eq. 3)

    @property
    def key(self) -> str:
        return self.config.key

    @property
    def teacher_key(self) -> str | None:
        return None if self.config.distillation is None else self.config.distillation.teacher_key

    def label(self) -> str:
        """A short human-readable name, e.g. ``fcn-fmnist [smoke] alpha=0.1 seed=0``."""
        return self.config.label()

    def is_stored(self, store: Store) -> bool:
        """Whether ``store`` holds the run as the sweep wants it: with weights if it keeps them,
        and for a student with γ, its teacher's γ at the student's temperature."""
        record = find_run(self.config, store)
        if record is None or (self.keep_model and not record.has_model):
            return False
        if self.store_gamma and self.teacher_key is not None:
            teacher = store.get(self.teacher_key)
            return teacher is not None and find_smoothness(
                teacher, self.config.distillation.temperature, store) is not None
        return True

    def train(self, store_root: str | None = None, runs_root: str | None = None, *, device: str | None = None,
              progress: bool = True, allow_dirty: bool = False) -> Record:
        """Train (or resume, or just read) this run into the store; returns its Record.

        A student needs its teacher in the store; the teacher's weights come from the store, its
        finished local checkpoint, or (lost) a deterministic retraining of the teacher.
        """
        store = Store(store_root)
        teacher = None
        if self.teacher_key is not None:
            teacher = store.get(self.teacher_key)
            if teacher is None:
                raise LsbookError(f"teacher run {self.teacher_key} is not in the store {store.root}; "
                                  "train the teachers first (a sweep does this for you)")
            if find_run(self.config, store) is None:
                teacher_model(teacher, store, pick_device(device), runs_root)  # retrained if its weights are lost
        record = ensure(self.config, store=store, device=device, progress=progress, keep_model=self.keep_model,
                        runs_root=runs_root, allow_dirty=allow_dirty)
        if self.store_gamma and teacher is not None:
            ensure_smoothness(teacher, [self.config.distillation.temperature], store=store, device=device,
                              runs_root=runs_root)
        return record


def expand_grid(recipe: str, alphas: Sequence[float], seeds: Sequence[int], profile: str, *,
                overrides: dict[str, Any] | None = None, keep_model: bool = False) -> list[GridRun]:
    """Every run of a plain sweep: recipe × α × seed."""
    if not alphas:
        raise LsbookError("alphas: give at least one α")
    if not seeds:
        raise LsbookError("seeds: give at least one seed")
    return [GridRun(run_config(recipe, a, s, profile, overrides=overrides), keep_model=keep_model)
            for s in seeds for a in alphas]


def distillation_grid(setup: str | DistillationSetup, alphas: Sequence[float] | None, seeds: Sequence[int],
                      profile: str, *, temperatures: Sequence[float] | None = None, table4: bool = True,
                      figure: bool = True, overrides: dict[str, Any] | None = None,
                      keep_teachers: bool = True) -> list[GridRun]:
    """Every run of a distillation study of Section 6 (lsbook.experiments.distillation_grid:
    teachers with α, baselines, students at T, Table 4's pair), teachers first. ``setup`` is a name
    of its SETUPS or a set-up; ``alphas`` / ``temperatures`` reduce it (None: the set-up's own).
    Teachers keep their weights in the store if ``keep_teachers`` (tasks on other machines need
    them); students also store their teacher's γ at T, so the chapter finds everything stored."""
    if not isinstance(setup, DistillationSetup):
        check_choice(setup, SETUPS, "distillation setup")
        setup = SETUPS[setup]
    configs = study_grid(setup.reduced(alphas, temperatures, overrides), seeds, profile, table4=table4, figure=figure)
    teachers = {c.distillation.teacher_key for c in configs if c.distillation is not None}
    return [GridRun(c, keep_model=keep_teachers and c.key in teachers, store_gamma=c.distillation is not None)
            for c in configs]


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


def run_grid(setup: DistillationSetup, profile: str, seeds: Iterable[int], *, store: Store | None = None,
             device=None, progress: bool = True, table4: bool = True, figure: bool = True,
             runs_root=None, jobs: int = 1) -> dict:
    """Train every missing run of a distillation study and store γ for every distilled student,
    through the same local sweep as ``python -m lsbook distill`` (:func:`run_locally`).

    Returns {"done": n, "failed": [(GridRun, message), ...]}; a failed run's students are not started.
    """
    store = store or Store()
    specs = distillation_grid(setup, None, list(seeds), profile, table4=table4, figure=figure,
                              keep_teachers=False)
    outcome = run_locally(specs, store, jobs=jobs, device=device, progress=progress,
                          runs_root=None if runs_root is None else str(runs_root),
                          report=(lambda line: print(line, flush=True)) if progress else (lambda line: None))
    return {"done": len(outcome.stored) + len(outcome.trained), "failed": outcome.failed}
