"""``python -m lsbook sweep`` and ``distill``: the grid their arguments name, the checks of the cluster
options (a one-line error, nothing submitted), and the sweep itself: here (lsbook.sweep, several
runs at once), a dry run, or a SLURM submission with a summary of what is stored, running, failed
and missing. The arguments themselves are defined in lsbook.cli."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lsbook.cluster.slurm import (SlurmOptions, array_ids, check_slurm_ready, parse_slurm_time, submit_grid,
                                  wait_for)
from lsbook.cluster.status import FAILED, MISSING, Journal, format_status, grid_status, queued_jobs
from lsbook.errors import LsbookError
from lsbook.provenance import check_clean_tree
from lsbook.runtime import default_runs_root
from lsbook.store import Store
from lsbook.sweep import GridRun, distillation_grid, expand_grid, run_locally
from lsbook.validation import check_choice, check_positive_int

EXECUTORS = ("local", "slurm")
DEFAULT_TIME = "4:00:00"  # per task; longer runs requeue themselves at the limit from their checkpoint


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


def specs_from_args(args: argparse.Namespace) -> list[GridRun]:
    """The grid that ``sweep`` or ``distill`` arguments name (``--epochs``/``--steps`` become recipe
    overrides). ``distill SETUP`` and ``sweep SETUP --distillation`` give the same grid."""
    overrides = length_overrides(getattr(args, "epochs", None), getattr(args, "steps", None))
    if getattr(args, "distillation", False):
        return distillation_grid(args.recipe, args.alphas, args.seeds, args.profile,
                                 temperatures=getattr(args, "temperatures", None),
                                 table4=not getattr(args, "no_table4", False),
                                 figure=not getattr(args, "no_figure", False), overrides=overrides,
                                 keep_teachers=args.executor == "slurm")
    if getattr(args, "temperatures", None):
        raise LsbookError("--temperatures needs --distillation")
    if args.alphas is None:
        raise LsbookError("--alphas: give at least one α")
    return expand_grid(args.recipe, args.alphas, args.seeds, args.profile, overrides=overrides,
                       keep_model=getattr(args, "keep_model", False))


def length_overrides(epochs: int | None, steps: int | None) -> dict[str, Any] | None:
    """``--epochs N`` / ``--steps N`` as recipe overrides (they enter the run's key)."""
    if epochs is not None and steps is not None:
        raise LsbookError("give --epochs or --steps, not both")
    if epochs is not None:
        return {"epochs": check_positive_int(epochs, "epochs")}
    if steps is not None:
        return {"epochs": None, "total_steps": check_positive_int(steps, "steps")}
    return None


def run_sweep(args: argparse.Namespace, specs: Sequence[GridRun] | None = None) -> int:
    """``sweep`` / ``distill``: train here (``--jobs`` at a time), print a dry run, or submit to SLURM.

    Every argument is checked, and every run configured, before anything trains or is submitted.
    """
    options = slurm_options(args)  # validates --executor and the resources first
    jobs = check_positive_int(getattr(args, "jobs", 1), "jobs")
    specs = list(specs) if specs is not None else specs_from_args(args)
    store = Store(getattr(args, "results", None))
    log_dir = Path(args.log_dir) if args.log_dir else default_log_dir(store.root)
    journal = Journal(log_dir)
    allow_dirty = getattr(args, "allow_dirty", False)
    if args.dry_run:
        try:
            queued = queued_jobs()
        except LsbookError as error:  # no controller reachable: show what the store knows
            print(f"note: {error}", file=sys.stderr)
            queued = {}
        print(format_status(grid_status(specs, store, journal, queued)))
        return 0
    if args.executor == "local":
        outcome = run_locally(specs, store, jobs=jobs, device=getattr(args, "device", None),
                              progress=not getattr(args, "quiet", False), allow_dirty=allow_dirty)
        print(f"sweep: {outcome.summary}")
        for spec, reason in outcome.failed:
            print(f"  failed: {spec.label()}: {reason}", file=sys.stderr)
        return 1 if outcome.failed else 0
    check_slurm_ready(options.partition)
    statuses = grid_status(specs, store, journal, queued_jobs())
    if any(s.state in (MISSING, FAILED) for s in statuses):
        check_clean_tree(specs[0].config.profile, allow_dirty)  # tasks run this tree's code
    submitted = submit_grid(statuses, options, store_root=store.root, runs_root=default_runs_root(),
                            log_dir=log_dir, device=getattr(args, "device", None),
                            threads=getattr(args, "threads", None), allow_dirty=allow_dirty)
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
