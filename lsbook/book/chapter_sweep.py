"""``python -m lsbook chapter-sweep NAME --alphas ...``: a chapter executed for each α of a list
(papermill through :func:`lsbook.book.execute.run_chapter`), as SLURM array tasks or here, one
executed notebook kept per α: papermill batches of a chapter at different α.

It runs chapters, so it belongs to the book layer; the SLURM machinery it submits with is the
engine's (:mod:`lsbook.cluster`), which never imports the book."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lsbook.book import execute
from lsbook.cluster.slurm import array_ids, check_slurm_ready, limit_threads, make_executor, submit_calls, wait_for
from lsbook.cluster.status import first_line, task_error
from lsbook.cluster.sweep import slurm_options
from lsbook.errors import LsbookError
from lsbook.validation import check_alpha


class ChapterTask:
    """One array task: execute a chapter at one α with papermill (:func:`lsbook.book.execute.run_chapter`),
    keeping the executed notebook as ``<output_dir>/<name>-alpha<α>.ipynb``."""

    def __init__(self, name: str, output_dir: str, parameters: Sequence[tuple[str, str]] = ()):
        self.name, self.output_dir, self.parameters = name, str(output_dir), tuple(parameters)

    def notebook(self, alpha: float) -> Path:
        return Path(self.output_dir) / f"{self.name}-alpha{alpha:g}.ipynb"

    def chapter_parameters(self, alpha: float) -> dict[str, Any]:
        """The chapter's parameters at this α: its α list is [A] (each task of a sweep trains one α;
        ``-p alphas [A]``, unlike ``-p alpha A``, which adds A to the chapter's grid)."""
        return execute.parse_parameters(self.name, [*self.parameters, ("alphas", f"[{float(alpha)!r}]")])

    def __call__(self, alpha: float) -> str:
        limit_threads()
        return str(execute.run_chapter(self.name, self.chapter_parameters(alpha), self.notebook(alpha), progress=False))

    def checkpoint(self, *args: Any, **kwargs: Any):
        """At the time limit: requeue; the chapter's runs resume from their checkpoints."""
        import submitit  # lazy: only a SLURM task at its time limit needs it (a slow import)

        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)


def run_chapter_sweep(args: argparse.Namespace) -> int:
    """``chapter-sweep NAME --alphas ...``: one papermill execution of the chapter per α, as SLURM
    array tasks (or here, one after another, with ``--executor local``)."""
    options = slurm_options(args)
    alphas = [check_alpha(a) for a in args.alphas]
    parameters = [(key, value) for key, value in (args.parameter or [])]
    if any(key in ("alpha", "alphas") for key, _ in parameters):
        raise LsbookError("-p alpha: give the α list with --alphas")
    output_dir = Path(args.output_dir).resolve() if args.output_dir else default_chapter_output(args.name)
    task = ChapterTask(args.name, str(output_dir), parameters)
    task.chapter_parameters(alphas[0])  # unknown chapter or parameter: a one-line error, nothing runs
    if args.dry_run:
        for alpha in alphas:
            state = "done   " if task.notebook(alpha).is_file() else "missing"
            print(f"{state} {task.notebook(alpha)}  parameters {task.chapter_parameters(alpha)}")
        return 0
    if args.executor == "local":
        failed = []
        for alpha in alphas:
            try:
                print(f"executed {task(alpha)}", flush=True)
            except Exception as error:  # noqa: BLE001 - report and go on with the other α
                failed.append(alpha)
                print(f"FAILED   alpha={alpha:g}: {type(error).__name__}: {first_line(str(error))}",
                      file=sys.stderr, flush=True)
        print(f"chapter {args.name}: {len(alphas) - len(failed)} of {len(alphas)} alpha(s) executed")
        return 1 if failed else 0
    check_slurm_ready(options.partition)
    log_dir = Path(args.log_dir).resolve() if args.log_dir else output_dir / "slurm-logs"
    executor = make_executor(options, log_dir, job_name=f"lsbook-{args.name}")
    jobs = submit_calls(executor, [(a,) for a in alphas], task, None)
    print(f"submitted chapter {args.name} for {len(alphas)} alpha(s) as SLURM job(s) "
          f"{', '.join(array_ids(str(j.job_id) for j in jobs))}; notebooks go to {output_dir}, logs to {log_dir}")
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


def default_chapter_output(name: str) -> Path:
    """``_build/papermill/NAME/``: beside ``chapter run``'s own outputs (lsbook.book.execute)."""
    return Path(execute.DEFAULT_OUTPUT_DIR) / name
