"""``python -m lsbook sweep ... --executor {local,slurm}``: the options, their checks (a one-line
error, nothing submitted), and the sweep itself: the engine's local loop, a dry run, or a SLURM
submission with a summary of what is stored, running, failed and missing."""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from lsbook.cluster.grid import RunSpec, distillation_grid, expand_grid
from lsbook.cluster.slurm import (SlurmOptions, array_ids, check_slurm_ready, parse_slurm_time, submit_grid,
                                  wait_for)
from lsbook.cluster.status import FAILED, MISSING, Journal, first_line, format_status, grid_status, queued_jobs
from lsbook.errors import LsbookError
from lsbook.validation import check_choice, check_positive_int

EXECUTORS = ("local", "slurm")
DEFAULT_TIME = "4:00:00"  # per task; longer runs requeue themselves at the limit from their checkpoint


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
    if getattr(args, "threads", None) is not None:  # the engine's --threads, used by every task
        check_positive_int(args.threads, "threads")
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
    from lsbook.runtime import default_runs_root

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
                            log_dir=log_dir, device=getattr(args, "device", None),
                            threads=getattr(args, "threads", None))
    if submitted:
        print(f"submitted {len(submitted)} run(s) as SLURM job(s) {', '.join(array_ids(submitted.values()))}; "
              f"logs and journal in {log_dir}", flush=True)
    else:
        print("nothing to submit: every run is stored or running", flush=True)
    if args.wait and submitted:
        wait_for(submitted.values())
    final = grid_status(specs, store, journal, queued_jobs())
    print(format_status(final))
    unfinished = any(s.state == FAILED for s in final) or (args.wait and any(s.state == MISSING for s in final))
    return 1 if unfinished else 0


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
            print(f"FAILED   {spec.label()}: {type(error).__name__}: {first_line(str(error))}",
                  file=sys.stderr, flush=True)
    print(f"sweep: {len(specs)} run(s), {len(specs) - len(failed)} stored, {len(failed)} failed")
    return 1 if failed else 0
