"""Sweeps on a SLURM cluster through submitit (DESIGN.md, "Scaling out"; issue #8).

A sweep grid (recipe × α × seed × profile, and distillation students with their teachers) is
expanded into :class:`RunSpec` s. Each run is looked up in the results store (:mod:`lsbook.store`)
and in the journal of earlier submissions, so it is *stored*, *running* (queued or running in
SLURM), *failed* (its task raised; the log path says why) or *missing*. Missing and failed runs are
submitted as one SLURM job array (one task per run) with ``submitit``; students wait for their
teachers through ``afterok`` job dependencies. Every task calls :func:`lsbook.train.ensure_run`,
which resumes from the run's per-epoch checkpoint, so a task killed by ``scancel``, a time limit or
preemption completes when the sweep is submitted again (tasks that reach their time limit requeue
themselves). Records are written atomically by the store, so many tasks can share one store.

:func:`run_chapter_sweep` runs one chapter for a list of α as array tasks (papermill through
``python -m lsbook chapter run``), keeping one executed notebook per α.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import pickle
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from lsbook.errors import LsbookError
from lsbook.validation import check_choice, check_positive_int

EXECUTORS = ("local", "slurm")
STORED, RUNNING, FAILED, MISSING = "stored", "running", "failed", "missing"
DEFAULT_TIME = "4:00:00"  # per task; longer runs requeue themselves at the limit from their checkpoint
MAX_REQUEUES = 100  # how often a task may requeue itself after reaching its time limit
JOB_NAME = "lsbook"
JOURNAL_NAME = "submissions.jsonl"


# --- The grid ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: the arguments of :func:`lsbook.train.ensure_run` (picklable)."""

    recipe: str  # a name of lsbook.recipes.RECIPES (or of lsbook.experiments.variants.VARIANTS)
    profile: str  # smoke / cpu / paper
    alpha: float  # label-smoothing constant
    seed: int  # the run's seed
    overrides: tuple[tuple[str, Any], ...] = ()  # recipe fields changed after the profile (enter the key)
    teacher: "RunSpec | None" = None  # for a distillation student: its teacher's run
    distill_temperature: float | None = None  # the student's distillation temperature T
    distill_loss: str = "replication"  # the student's loss (lsbook.train.DISTILL_LOSSES)
    beta: float | None = None  # weight of the teacher term; None: the loss's default
    keep_model: bool = False  # store the final weights (teachers need them)
    smoothness: bool = False  # a student: also store its teacher's γ at T (seed Eq. 3) for the chapter

    def label(self) -> str:
        """A short human-readable name, e.g. ``fcn-fmnist [smoke] alpha=0.1 seed=0``."""
        text = f"{self.recipe} [{self.profile}] alpha={self.alpha:g} seed={self.seed}"
        if self.overrides:
            text += " " + " ".join(f"{k}={v}" for k, v in self.overrides)
        if self.teacher is not None:
            text += f" <- {self.teacher.recipe} alpha={self.teacher.alpha:g} at T={self.distill_temperature:g}"
        return text

    def resolved_recipe(self):
        """The recipe name (lsbook.recipes) or, for a study's variant, the resolved Recipe."""
        from lsbook.recipes import RECIPES

        if self.recipe in RECIPES:
            return self.recipe
        from lsbook.experiments.variants import resolve_recipe

        return resolve_recipe(self.recipe, self.profile)

    def _distill_kwargs(self, teacher) -> dict[str, Any]:
        if teacher is None:
            return {}
        return {"teacher": teacher, "distill_temperature": self.distill_temperature,
                "distill_loss": self.distill_loss, "beta": self.beta}

    def plan(self):
        """The engine's :class:`lsbook.train.RunPlan` (config and store key); trains nothing."""
        from lsbook.store import Record
        from lsbook.train import plan_run

        teacher = None
        if self.teacher is not None:  # only the teacher's key and dataset enter the student's plan
            teacher_plan = self.teacher.plan()
            teacher = Record(key=teacher_plan.key, config=teacher_plan.config, metrics={}, provenance={})
        return plan_run(self.resolved_recipe(), self.alpha, self.seed, self.profile,
                        overrides=dict(self.overrides) or None, **self._distill_kwargs(teacher))

    def train(self, store_root: str | None = None, runs_root: str | None = None, *, device: str | None = None,
              progress: bool = True):
        """Train (or resume, or just read) this run into the store; returns its Record."""
        from lsbook.store import Store
        from lsbook.train import ensure_run

        store = Store(store_root)
        teacher = None
        if self.teacher is not None:
            plan = self.teacher.plan()
            teacher = store.get(plan.key, plan.config)
            if teacher is None:
                raise LsbookError(f"teacher run {self.teacher.label()} is not in the store {store.root}; "
                                  "submit the teachers first (the sweep does this for you)")
        record = ensure_run(self.resolved_recipe(), self.alpha, self.seed, self.profile, store=store,
                            device=device, progress=progress, overrides=dict(self.overrides) or None,
                            keep_model=self.keep_model, runs_root=runs_root, **self._distill_kwargs(teacher))
        if self.smoothness and teacher is not None:
            from lsbook.experiments.smoothness import ensure_smoothness

            ensure_smoothness(teacher, [self.distill_temperature], store=store, device=device,
                              runs_root=runs_root)
        return record


def expand_grid(recipe: str, alphas: Sequence[float], seeds: Sequence[int], profile: str, *,
                overrides: dict[str, Any] | None = None) -> list[RunSpec]:
    """Every run of a plain sweep: recipe × α × seed."""
    if not alphas:
        raise LsbookError("alphas: give at least one α")
    if not seeds:
        raise LsbookError("seeds: give at least one seed")
    frozen = tuple(sorted((overrides or {}).items()))
    return [RunSpec(recipe, profile, float(a), int(s), frozen) for s in seeds for a in alphas]


def distillation_grid(setup_name: str, alphas: Sequence[float], seeds: Sequence[int], profile: str, *,
                      temperatures: Sequence[float] | None = None,
                      overrides: dict[str, Any] | None = None) -> list[RunSpec]:
    """Every run of a distillation study of Section 6 (lsbook.experiments.distillation_grid:
    teachers with α, baselines, students at T, Table 4's pair), teachers first. Teachers keep their
    weights; students also store their teacher's γ at T, so the chapter finds everything stored."""
    from lsbook.experiments.distillation_grid import SETUPS
    from lsbook.experiments.distillation_grid import expand_grid as study_grid

    check_choice(setup_name, SETUPS, "distillation setup")
    setup = SETUPS[setup_name].reduced(alphas, temperatures)
    study = study_grid(setup, seeds)
    teachers = {s.teacher for s in study if s.teacher is not None}
    frozen = tuple(sorted((overrides or {}).items()))
    converted: dict[Any, RunSpec] = {}

    def convert(s) -> RunSpec:
        if s not in converted:
            teacher = convert(s.teacher) if s.teacher is not None else None
            distill = dict(distill_temperature=s.temperature, distill_loss=setup.distill_loss, beta=setup.beta,
                           smoothness=True) if teacher is not None else {}
            converted[s] = RunSpec(s.recipe, profile, float(s.alpha), int(s.seed), frozen, teacher=teacher,
                                   keep_model=s in teachers, **distill)
        return converted[s]

    return [convert(s) for s in study]


# --- Where each run stands ----------------------------------------------------------------------

@dataclass
class RunStatus:
    """A run of the grid and what is known about it."""

    spec: RunSpec
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
        raise LsbookError(f"squeue failed: {_first_line(done.stderr)}; is the SLURM controller reachable?")
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


def grid_status(specs: Sequence[RunSpec], store, journal: Journal | None = None,
                queued: dict[str, str] | None = None) -> list[RunStatus]:
    """Stored / running / failed / missing for every run of the grid."""
    submitted = journal.latest() if journal is not None else {}
    queued = {} if queued is None else queued
    statuses = []
    for spec in specs:
        plan = spec.plan()
        entry = submitted.get(plan.key, {})
        status = RunStatus(spec, plan.key, MISSING, entry.get("job_id"), entry.get("stderr"))
        record = store.get(plan.key, plan.config)
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


# --- SLURM submission ----------------------------------------------------------------------------

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
    import submitit

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


def _limit_threads() -> None:
    """Use the CPUs SLURM gave the task, not every core of the node."""
    cpus = os.environ.get("SLURM_CPUS_PER_TASK")
    if cpus and cpus.isdigit():
        import torch

        torch.set_num_threads(int(cpus))


class TrainTask:
    """What one array task runs: ``spec.train`` into the shared store; requeued at its time limit."""

    def __init__(self, device: str | None = None):
        self.device = device  # None/"auto": CUDA when the task has a GPU, else CPU

    def __call__(self, spec: RunSpec, store_root: str, runs_root: str) -> str:
        _limit_threads()
        record = spec.train(store_root, runs_root, device=self.device, progress=False)
        print(f"stored {spec.label()} as {record.key} in {store_root} "
              f"(resumed {record.provenance.get('resumes', 0)} time(s))", flush=True)
        return record.key

    def checkpoint(self, *args: Any, **kwargs: Any):
        """submitit calls this at the time limit: requeue the same call; ensure_run resumes it."""
        import submitit

        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)


def _submit(executor, calls: Sequence[tuple], fn: Callable, dependency: str | None) -> list:
    """Submit ``fn(*call)`` for each call as one array (or one job); sbatch errors -> LsbookError."""
    executor.update_parameters(dependency=dependency)
    try:
        if len(calls) == 1:
            return [executor.submit(fn, *calls[0])]
        return executor.map_array(fn, *zip(*calls))
    except subprocess.CalledProcessError as error:
        output = error.output.decode(errors="replace") if isinstance(error.output, bytes) else str(error.output)
        raise LsbookError(f"sbatch rejected the sweep: {_first_line(output) or error}") from error


def _journal_entry(spec: RunSpec, key: str, job) -> dict[str, Any]:
    return {"key": key, "label": spec.label(), "job_id": str(job.job_id), "stdout": str(job.paths.stdout),
            "stderr": str(job.paths.stderr), "result": str(job.paths.result_pickle),
            "submitted": time.strftime("%Y-%m-%dT%H:%M:%S")}


def submit_grid(statuses: Sequence[RunStatus], options: SlurmOptions, *, store_root: str | os.PathLike,
                runs_root: str | os.PathLike, log_dir: str | os.PathLike,
                device: str | None = None) -> dict[str, str]:
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
    waves: dict[str | None, list[RunStatus]] = {None: [s for s in todo if s.spec.teacher is None]}
    task = TrainTask(device)
    _submit_wave(executor, journal, task, waves.pop(None), None, store_root, runs_root, submitted)
    for status in (s for s in todo if s.spec.teacher is not None):
        teacher_key = status.spec.teacher.plan().key
        teacher_job = submitted.get(teacher_key) or job_of.get(teacher_key)
        waves.setdefault(f"afterok:{teacher_job}" if teacher_job else None, []).append(status)
    for dependency, group in waves.items():
        _submit_wave(executor, journal, task, group, dependency, store_root, runs_root, submitted)
    return submitted


def _submit_wave(executor, journal: Journal, task: "TrainTask", group: Sequence[RunStatus], dependency: str | None,
                 store_root: str, runs_root: str, submitted: dict[str, str]) -> None:
    if not group:
        return
    jobs = _submit(executor, [(s.spec, store_root, runs_root) for s in group], task, dependency)
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


# --- Command line --------------------------------------------------------------------------------

def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``sweep`` (and ``chapter-sweep``) that choose and size the executor."""
    group = parser.add_argument_group("cluster (SLURM through submitit)")
    group.add_argument("--executor", default="local", metavar="{local,slurm}",
                       help="local: train here, one run after another; slurm: one job-array task per "
                            "missing run (default local)")
    group.add_argument("--partition", default=None, help="SLURM partition (default: the cluster's default)")
    group.add_argument("--time", default=DEFAULT_TIME,
                       help=f"time limit per task, SLURM syntax (default {DEFAULT_TIME}); a task at its "
                            "limit requeues itself and resumes from its checkpoint")
    group.add_argument("--gpus-per-task", type=int, default=None, help="GPUs per task")
    group.add_argument("--cpus-per-task", type=int, default=None, help="CPU cores per task")
    group.add_argument("--mem", default=None, help="memory per task, SLURM syntax (e.g. 16G)")
    group.add_argument("--max-parallel", type=int, default=None,
                       help="at most this many tasks of the array at once")
    group.add_argument("--log-dir", default=None,
                       help="submitit's scripts, logs and the submission journal (default: "
                            "slurm-logs/ next to the results store; must be on the shared file system)")
    group.add_argument("--wait", action="store_true",
                       help="slurm: wait until the submitted tasks end, then print the summary")
    group.add_argument("--dry-run", action="store_true",
                       help="print the grid with what is stored, missing, running or failed; submit nothing")


def slurm_options(args: argparse.Namespace) -> SlurmOptions:
    """Check the cluster arguments (one-line LsbookError on bad input) and collect them."""
    check_choice(getattr(args, "executor", "local"), EXECUTORS, "executor")
    if args.max_parallel is not None:
        check_positive_int(args.max_parallel, "--max-parallel")
    for name in ("gpus_per_task", "cpus_per_task"):
        value = getattr(args, name)
        if value is not None:
            check_positive_int(value, "--" + name.replace("_", "-"), minimum=0 if name == "gpus_per_task" else 1)
    if args.mem is not None and not re.fullmatch(r"\d+[KMGT]?", str(args.mem)):
        raise LsbookError(f"--mem {args.mem!r} is not SLURM memory syntax (e.g. 16G or 4000M)")
    return SlurmOptions(partition=args.partition, time_min=parse_slurm_time(args.time),
                        gpus_per_task=args.gpus_per_task, cpus_per_task=args.cpus_per_task, mem=args.mem,
                        max_parallel=args.max_parallel)


def default_log_dir(store_root: Path) -> Path:
    """``slurm-logs`` beside the store, so it is on the same (shared) file system."""
    return Path(store_root).resolve().parent / "slurm-logs"


def add_distillation_arguments(parser: argparse.ArgumentParser) -> None:
    """``sweep SETUP --distillation``: the runs of a distillation study (seed Section 6)."""
    group = parser.add_argument_group("distillation study (seed Section 6)")
    group.add_argument("--distillation", action="store_true",
                       help="RECIPE names a distillation study of lsbook.experiments.distillation_grid "
                            "(fcn-mnist, fcn-fmnist, resnet56-alexnet-cifar10): sweep its teachers "
                            "(--alphas, which must include 0), baselines and students (--temperatures, "
                            "which must include 1); students wait for their teachers")
    group.add_argument("--temperatures", type=float, nargs="+", default=None,
                       help="the study's teacher temperatures (default: the study's)")


def specs_from_args(args: argparse.Namespace) -> list[RunSpec]:
    """The sweep grid named by the ``sweep`` arguments (``--epochs`` becomes a recipe override)."""
    epochs = getattr(args, "epochs", None)
    overrides = {"epochs": check_positive_int(epochs, "epochs")} if epochs is not None else None
    if getattr(args, "distillation", False):
        return distillation_grid(args.recipe, args.alphas, args.seeds, args.profile,
                                 temperatures=getattr(args, "temperatures", None), overrides=overrides)
    if getattr(args, "temperatures", None):
        raise LsbookError("--temperatures needs --distillation")
    specs = expand_grid(args.recipe, args.alphas, args.seeds, args.profile, overrides=overrides)
    if getattr(args, "keep_model", False):
        specs = [dataclasses.replace(s, keep_model=True) for s in specs]
    return specs


def run_sweep(args: argparse.Namespace, local: Callable[[argparse.Namespace], int] | None = None,
              specs: Sequence[RunSpec] | None = None) -> int:
    """``sweep``: the engine's local loop (``local(args)``), a dry run, or a SLURM submission.

    Every argument is checked, and every run planned, before anything is submitted.
    """
    from lsbook.store import Store
    from lsbook.train import default_runs_root

    options = slurm_options(args)  # validates --executor and the resources first
    specs = list(specs) if specs is not None else specs_from_args(args)
    store = Store(getattr(args, "results", None))
    log_dir = Path(args.log_dir) if args.log_dir else default_log_dir(store.root)
    journal = Journal(log_dir)
    slurm = args.executor == "slurm"
    if args.dry_run:
        for spec in specs:
            spec.plan()  # bad α, seed or recipe: a one-line error
        try:
            queued = queued_jobs()
        except LsbookError as error:  # no controller reachable: show what the store knows
            print(f"note: {error}", file=sys.stderr)
            queued = {}
        print(format_status(grid_status(specs, store, journal, queued)))
        return 0
    if not slurm:
        if local is not None and all(s.teacher is None for s in specs):
            return local(args)
        return run_locally(specs, store, device=getattr(args, "device", None),
                           progress=not getattr(args, "quiet", False))
    check_slurm_ready(options.partition)
    statuses = grid_status(specs, store, journal, queued_jobs())
    submitted = submit_grid(statuses, options, store_root=store.root, runs_root=default_runs_root(),
                            log_dir=log_dir, device=getattr(args, "device", None))
    if submitted:
        print(f"submitted {len(submitted)} run(s) as SLURM job(s) {', '.join(_array_ids(submitted.values()))}; "
              f"logs and journal in {log_dir}", flush=True)
    else:
        print("nothing to submit: every run is stored or running", flush=True)
    if args.wait and submitted:
        wait_for(submitted.values())
    final = grid_status(specs, store, journal, queued_jobs())
    print(format_status(final))
    return 1 if any(s.state == FAILED for s in final) or (args.wait and any(s.state == MISSING for s in final)) else 0


def run_locally(specs: Sequence[RunSpec], store, device: str | None = None, progress: bool = True) -> int:
    """A grid with students, here, one run after another (teachers first); failures are listed."""
    for spec in specs:
        spec.plan()
    failed = []
    for spec in sorted(specs, key=lambda s: s.teacher is not None):
        try:
            record = spec.train(str(store.root), device=device, progress=progress)
            print(f"stored   {spec.label()}: run {record.key}", flush=True)
        except KeyboardInterrupt:
            raise
        except Exception as error:  # noqa: BLE001 - report and go on with the grid
            failed.append(spec.label())
            print(f"FAILED   {spec.label()}: {type(error).__name__}: {_first_line(str(error))}",
                  file=sys.stderr, flush=True)
    print(f"sweep: {len(specs)} run(s), {len(specs) - len(failed)} stored, {len(failed)} failed")
    return 1 if failed else 0


# --- Chapters for a list of α (papermill batches) -----------------------------------------------

class ChapterTask:
    """One array task: execute a chapter at one α with papermill, through ``python -m lsbook chapter
    run`` (lsbook.chapters), keeping the executed notebook as ``<output_dir>/<name>-alpha<α>.ipynb``."""

    def __init__(self, name: str, output_dir: str, parameters: Sequence[tuple[str, str]] = ()):
        self.name, self.output_dir, self.parameters = name, str(output_dir), tuple(parameters)

    def notebook(self, alpha: float) -> Path:
        return Path(self.output_dir) / f"{self.name}-alpha{alpha:g}.ipynb"

    def command(self, alpha: float) -> list[str]:
        extra = [item for key, value in self.parameters for item in ("-p", key, value)]
        return [sys.executable, "-m", "lsbook", "chapter", "run", self.name, "-p", "alpha", repr(float(alpha)),
                *extra, "--output", str(self.notebook(alpha))]

    def __call__(self, alpha: float) -> str:
        _limit_threads()
        Path(self.output_dir).mkdir(parents=True, exist_ok=True)
        done = subprocess.run(self.command(alpha))
        if done.returncode != 0:
            raise RuntimeError(f"chapter {self.name} at alpha={alpha:g} failed (exit {done.returncode}); "
                               "see this task's log")
        return str(self.notebook(alpha))

    def checkpoint(self, *args: Any, **kwargs: Any):
        """At the time limit: requeue; the chapter's runs resume from their checkpoints."""
        import submitit

        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)


def run_chapter_sweep(args: argparse.Namespace) -> int:
    """``chapter-sweep NAME --alphas ...``: one papermill execution of the chapter per α, as SLURM
    array tasks (or here, one after another, with ``--executor local``)."""
    from lsbook.validation import check_alpha

    options = slurm_options(args)
    alphas = [check_alpha(a) for a in args.alphas]
    if not alphas:
        raise LsbookError("--alphas: give at least one α")
    parameters = [(key, value) for key, value in (args.parameter or [])]
    if any(key == "alpha" for key, _ in parameters):
        raise LsbookError("-p alpha: give the α list with --alphas")
    output_dir = Path(args.output_dir or Path("executed") / args.name).resolve()
    task = ChapterTask(args.name, str(output_dir), parameters)
    if args.dry_run:
        for alpha in alphas:
            state = "done   " if task.notebook(alpha).is_file() else "missing"
            print(f"{state} {task.notebook(alpha)}  ({' '.join(task.command(alpha)[1:])})")
        return 0
    if args.executor == "local":
        failed = []
        for alpha in alphas:
            try:
                print(f"executed {task(alpha)}", flush=True)
            except RuntimeError as error:
                failed.append(alpha)
                print(f"FAILED   {error}", file=sys.stderr, flush=True)
        print(f"chapter {args.name}: {len(alphas) - len(failed)} of {len(alphas)} alpha(s) executed")
        return 1 if failed else 0
    check_slurm_ready(options.partition)
    log_dir = Path(args.log_dir).resolve() if args.log_dir else output_dir / "slurm-logs"
    executor = make_executor(options, log_dir, job_name=f"lsbook-{args.name}")
    jobs = _submit(executor, [(a,) for a in alphas], task, None)
    print(f"submitted chapter {args.name} for {len(alphas)} alpha(s) as SLURM job(s) "
          f"{', '.join(_array_ids(str(j.job_id) for j in jobs))}; notebooks go to {output_dir}, logs to {log_dir}")
    if not args.wait:
        return 0
    wait_for([str(j.job_id) for j in jobs])
    failed = 0
    for alpha, job in zip(alphas, jobs):
        error = task_error(str(job.paths.result_pickle))
        if task.notebook(alpha).is_file() and error is None:
            print(f"executed {task.notebook(alpha)}")
        else:
            failed += 1
            print(f"FAILED   alpha={alpha:g}: {error or 'no notebook written'}  log {job.paths.stderr}")
    print(f"chapter {args.name}: {len(alphas) - failed} of {len(alphas)} alpha(s) executed")
    return 1 if failed else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``chapter-sweep`` (a chapter for a list of α, locally or as a SLURM array)."""
    parser = subparsers.add_parser(
        "chapter-sweep", help="execute a chapter for several alphas (papermill; locally or on SLURM)",
        description="Execute one chapter per alpha with papermill, keeping one executed notebook per alpha.")
    parser.add_argument("name", help="chapter name (see python -m lsbook chapter list)")
    parser.add_argument("--alphas", type=float, nargs="+", required=True, help="alphas in [0, 1)")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("KEY", "VALUE"),
                        help="another chapter parameter, the same for every alpha (e.g. -p profile paper)")
    parser.add_argument("--output-dir", default=None,
                        help="where the executed notebooks go (default executed/NAME)")
    add_cluster_arguments(parser)
    parser.set_defaults(func=run_chapter_sweep)


def _array_ids(job_ids: Iterable[str]) -> list[str]:
    """``123_0, 123_1, 124`` -> ``123, 124``: the arrays, for people."""
    return sorted({j.split("_")[0] for j in job_ids}, key=lambda j: (len(j), j))


def _first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""
