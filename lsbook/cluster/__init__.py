"""Sweeps on a SLURM cluster through submitit.

A sweep grid (recipe × α × seed × profile, or a distillation study of Section 6) is expanded into
:class:`lsbook.sweep.GridRun` s, as for a sweep trained here (:mod:`lsbook.sweep`). Each run is
looked up in the results store and in the journal of earlier submissions (:mod:`.status`): *stored*,
*running* (queued or running in SLURM), *failed* (its task raised; the log says why) or *missing*.
Missing and failed runs are submitted with ``submitit`` as one SLURM job array, one task per run;
students wait for their teachers through ``afterok`` job dependencies (:mod:`.slurm`). Every task
calls :func:`lsbook.train.ensure_run`, which resumes from the run's per-epoch checkpoint: a task
killed by ``scancel`` or a node failure completes when the sweep is submitted again, and a task at
its time limit (or preempted) requeues itself. The store writes each record atomically, so many
tasks can share it.

The command line (lsbook.cli): ``python -m lsbook sweep ... --executor slurm`` and ``distill``
(:mod:`.sweep`). ``python -m lsbook chapter-sweep NAME --alphas ...`` (a chapter per α with
papermill, as array tasks) submits through this package too; it runs chapters, so it lives in the
book layer (:mod:`lsbook.book.chapter_sweep`): nothing here imports :mod:`lsbook.book`.
"""

from lsbook.cluster.slurm import (MAX_REQUEUES, SlurmOptions, TrainTask, check_slurm_ready, make_executor,
                                  parse_slurm_time, submit_grid, wait_for)
from lsbook.cluster.status import (FAILED, MISSING, RUNNING, STORED, Journal, RunStatus, format_status,
                                   grid_status, queued_jobs, summary_line, task_error)
from lsbook.cluster.sweep import (DEFAULT_TIME, EXECUTORS, default_log_dir, length_overrides, run_sweep,
                                  slurm_options, specs_from_args)

__all__ = [
    "MAX_REQUEUES", "SlurmOptions", "TrainTask", "check_slurm_ready", "make_executor", "parse_slurm_time",
    "submit_grid", "wait_for",
    "FAILED", "MISSING", "RUNNING", "STORED", "Journal", "RunStatus", "format_status", "grid_status",
    "queued_jobs", "summary_line", "task_error",
    "DEFAULT_TIME", "EXECUTORS", "default_log_dir", "length_overrides", "run_sweep", "slurm_options",
    "specs_from_args",
]
