"""``python -m lsbook``: every command of the package, parsed here; the work is done elsewhere.

- ``data status`` / ``data fetch NAME`` — datasets (lsbook.data);
- ``plan`` / ``train`` / ``runs`` — one run: what it would train, training it, the store's runs;
- ``sweep`` / ``distill`` — grids of runs, here (``--jobs``) or on SLURM (lsbook.cluster.sweep);
  ``distill SETUP`` and ``sweep SETUP --distillation`` run the same grid through the same code;
- ``mutual-info`` — runs with their mutual-information curve (lsbook.experiments.mutual_info);
- ``chapter list|run`` / ``chapter-sweep`` — chapters as notebooks (lsbook.book.execute).

Every argument is checked before anything runs. Only :class:`lsbook.errors.LsbookError` (bad
input, missing data, a damaged record) becomes a one-line message on stderr with exit status 2;
any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import torch

from lsbook.book.chapter_sweep import run_chapter_sweep
from lsbook import claims
from lsbook.book.execute import chapter_names, chapter_parameters, chapter_title, parse_parameters, run_chapter
from lsbook.book.settings import book_runs
from lsbook.cluster.sweep import DEFAULT_TIME, length_overrides, run_sweep, specs_from_args
from lsbook.data.acquire import dataset_status, fetch
from lsbook.data.registry import DATASETS, get_dataset
from lsbook.data.roots import data_root
from lsbook.errors import LsbookError
from lsbook.experiments.distillation_grid import SETUPS
from lsbook.experiments.mutual_info import MI_SETUPS, curve, ensure_curve
from lsbook.profiles import DEFAULT_PROFILE, PROFILES, resolve_profile
from lsbook.run_config import RunConfig
from lsbook.runs import ensure, run_config
from lsbook.runtime import pick_device
from lsbook.schedule import estimated_seconds, schedule_of
from lsbook.store import Store
from lsbook.train import find_run
from lsbook.validation import check_alpha, check_choice, check_positive_int


# --- the parser ----------------------------------------------------------------------------------

def _run_arguments(parser: argparse.ArgumentParser, *, length: bool = True, training: bool = True) -> None:
    """--profile; --epochs and --steps (``length``); for commands that train: device, threads, store, ..."""
    parser.add_argument("--profile", default=DEFAULT_PROFILE, help=f"{', '.join(PROFILES)} (default {DEFAULT_PROFILE})")
    if length:
        parser.add_argument("--epochs", type=int, default=None, help="override the profile's number of epochs")
        parser.add_argument("--steps", type=int, default=None,
                            help="override the run's length in optimiser steps (the recipes that count steps)")
    if not training:
        return
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda or cuda:N")
    if length:
        parser.add_argument("--keep-model", action="store_true", help="store the final weights too (teachers)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (default: torch's choice, one per core)")
    parser.add_argument("--results", default=None,
                        help="results store folder (default $LSBOOK_RESULTS or <repo>/results)")
    parser.add_argument("--allow-dirty", action="store_true",
                        help="let a paper-profile run start from uncommitted changes; the diff is kept "
                             "in its provenance")


def _cluster_arguments(parser: argparse.ArgumentParser, *, jobs: bool = True) -> None:
    """Where a grid runs: here (``--jobs`` at once) or as SLURM array tasks, and a dry run."""
    group = parser.add_argument_group("where the runs train")
    if jobs:
        group.add_argument("--jobs", type=int, default=1,
                           help="local: train this many runs at once, the CPU cores shared among them (default 1)")
    group.add_argument("--executor", default="local", metavar="{local,slurm}",
                       help="local: train here; slurm: one job-array task per missing run (default local)")
    group.add_argument("--partition", default=None, help="SLURM partition (default: the cluster's default)")
    group.add_argument("--time", default=DEFAULT_TIME,
                       help=f"time limit per task, SLURM syntax (default {DEFAULT_TIME}); a task at its "
                            "limit requeues itself and resumes from its checkpoint")
    group.add_argument("--gpus-per-task", type=int, default=None, help="GPUs per task")
    group.add_argument("--cpus-per-task", type=int, default=None, help="CPU cores per task")
    group.add_argument("--mem", default=None, help="memory per task, SLURM syntax (e.g. 16G)")
    group.add_argument("--max-parallel", type=int, default=None, help="at most this many tasks of the array at once")
    group.add_argument("--log-dir", default=None,
                       help="submitit's scripts, logs and the submission journal (default: slurm-logs/ next "
                            "to the results store; must be on the shared file system)")
    group.add_argument("--wait", action="store_true", help="slurm: wait until the submitted tasks end")
    group.add_argument("--dry-run", action="store_true",
                       help="print the grid with what is stored, missing, running or failed; train nothing")


def _distillation_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--temperatures", type=float, nargs="+", default=None,
                        help="teacher temperatures of M3 (must include 1; default: the study's)")
    parser.add_argument("--no-table4", action="store_true", help="skip Table 4's runs")
    parser.add_argument("--no-figure", action="store_true", help="skip the M1–M4 runs")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = argparse.ArgumentParser(prog="python -m lsbook", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = commands.add_parser("data", help="dataset status and downloads").add_subparsers(
        dest="data_command", required=True, metavar="ACTION")
    status = data.add_parser("status", help="list every dataset: present/missing, path, size")
    status.add_argument("--root", default=None, help="data root to inspect (default $LSBOOK_DATA or ~/.cache/lsbook)")
    status.set_defaults(func=cmd_data_status)
    fetching = data.add_parser("fetch", help="download and verify one dataset into the data root")
    fetching.add_argument("name", help="dataset: " + ", ".join(DATASETS))
    fetching.add_argument("--root", default=None, help="data root to write to (default $LSBOOK_DATA or ~/.cache/lsbook)")
    fetching.add_argument("--force", action="store_true", help="download again even if present")
    fetching.add_argument("--quiet", action="store_true", help="no progress bars")
    fetching.set_defaults(func=cmd_data_fetch)

    plan = commands.add_parser("plan", help="what a run would train (configuration, key, steps); trains nothing",
                               description="Resolve a run's configuration and key and print its training "
                                           "examples, steps per epoch, optimiser steps and learning-rate "
                                           "milestones in steps. No data is loaded.")
    plan.add_argument("recipe", help="recipe name, e.g. resnet56-cifar10 (lsbook.recipes.RECIPES)")
    plan.add_argument("--alpha", type=float, default=0.0, help="label smoothing alpha in [0, 1) (default 0)")
    plan.add_argument("--seed", type=int, default=0, help="random seed >= 0 (default 0)")
    _run_arguments(plan, training=False)
    plan.add_argument("--json", action="store_true", help="one JSON object instead of text")
    plan.set_defaults(func=cmd_plan)

    train = commands.add_parser("train", help="train one run into the results store (or show it if stored)")
    train.add_argument("recipe", help="recipe name, e.g. fcn-fmnist (lsbook.recipes.RECIPES)")
    train.add_argument("--alpha", type=float, default=0.0, help="label smoothing alpha in [0, 1) (default 0)")
    train.add_argument("--seed", type=int, default=0, help="random seed >= 0 (default 0)")
    _run_arguments(train)
    train.set_defaults(func=cmd_train)

    runs = commands.add_parser("runs", help="list the runs in the results store (and check their files); "
                                            "`runs ensure --book` trains every run the book shows")
    runs.add_argument("--recipe", default=None, help="only this recipe")
    runs.add_argument("--profile", default=None, help="only this profile")
    runs.add_argument("--results", default=None, help="results store folder (default $LSBOOK_RESULTS or <repo>/results)")
    runs.set_defaults(func=cmd_runs)
    runs_actions = runs.add_subparsers(dest="runs_action", metavar="ACTION")
    ensuring = runs_actions.add_parser("ensure", help="train whatever is missing of the runs the book's chapters show")
    ensuring.add_argument("--book", action="store_true", required=True,
                          help="the runs of every chapter at the profile (lsbook.book.settings.book_runs)")
    _run_arguments(ensuring, length=False)
    _cluster_arguments(ensuring)
    ensuring.set_defaults(func=cmd_runs_ensure)

    sweep = commands.add_parser("sweep", help="train a grid of alphas x seeds, skipping stored runs")
    sweep.add_argument("recipe", help="recipe name (or, with --distillation, a distillation study)")
    sweep.add_argument("--alphas", type=float, nargs="+", default=None, help="alphas in [0, 1)")
    sweep.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds >= 0 (default 0)")
    _run_arguments(sweep)
    sweep.add_argument("--distillation", action="store_true",
                       help=f"RECIPE names a distillation study ({', '.join(SETUPS)}): its teachers (--alphas "
                            "must include 0), baselines and students; students wait for their teachers")
    _distillation_arguments(sweep)
    _cluster_arguments(sweep)
    sweep.set_defaults(func=cmd_sweep)

    distill = commands.add_parser("distill", help="the distillation study (Table 4, Figures 7/8); "
                                                  "the same as sweep SETUP --distillation")
    distill.add_argument("recipe", metavar="setup", help=f"one of {', '.join(SETUPS)}")
    distill.add_argument("--alphas", type=float, nargs="+", default=None, help="teacher alphas (default: the study's)")
    distill.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds (default 0)")
    _run_arguments(distill)
    _distillation_arguments(distill)
    _cluster_arguments(distill)
    distill.set_defaults(func=cmd_sweep, distillation=True)

    mutual = commands.add_parser("mutual-info", help="train runs with the mutual-information curve")
    mutual.add_argument("setup", help=f"one of {', '.join(MI_SETUPS)}")
    mutual.add_argument("--alphas", type=float, nargs="+", default=None, help="alphas (default: the setup's)")
    mutual.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds (default 0)")
    _run_arguments(mutual, length=False)
    mutual.add_argument("--keep-model", action="store_true", help="store the final weights too (runs that also teach)")
    mutual.set_defaults(func=cmd_mutual_info)

    claims = commands.add_parser("claims", help="the claim ledger: each claim, our estimate with a 95 %% interval, "
                                                "and its verdict")
    claims.add_argument("--profile", default=None, help="smoke, cpu or paper (default $LSBOOK_PROFILE, else cpu); "
                                                        "cpu also uses the stored paper runs")
    claims.add_argument("--json", action="store_true", help="machine-readable rows, counts and rule")
    claims.add_argument("--chapter", action="append", default=None,
                        help="only this chapter's claims (repeatable; lsbook.claims.CHAPTERS)")
    claims.add_argument("--results", default=None,
                        help="results store folder (default $LSBOOK_RESULTS or <repo>/results)")
    claims.set_defaults(func=cmd_claims)

    chapter = commands.add_parser("chapter", help="run a chapter of the book with other parameters").add_subparsers(
        dest="chapter_command", required=True, metavar="{list,run}")
    chapter.add_parser("list", help="the chapters and their parameters").set_defaults(func=cmd_chapter_list)
    run = chapter.add_parser("run", help="execute one chapter with papermill and write the executed notebook",
                             description="Execute book/NAME.md with parameters injected (papermill). Example: "
                                         "python -m lsbook chapter run accuracy -p profile smoke -p alpha 0.1")
    run.add_argument("name", help="chapter name (python -m lsbook chapter list)")
    run.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("KEY", "VALUE"),
                     help="a parameter; VALUE is YAML (0.1, [0.0, 0.1], true, null); KEY may be the singular "
                          "of a list parameter (alpha -> alphas: [VALUE])")
    run.add_argument("-o", "--output", default=None, help="executed notebook (default _build/papermill/NAME-PARAMS.ipynb)")
    run.add_argument("--kernel", default="python3", help="Jupyter kernel name (default python3)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(func=cmd_chapter_run)

    chapters = commands.add_parser("chapter-sweep", help="execute a chapter for several alphas (locally or on SLURM)")
    chapters.add_argument("name", help="chapter name (python -m lsbook chapter list)")
    chapters.add_argument("--alphas", type=float, nargs="+", required=True, help="alphas in [0, 1)")
    chapters.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("KEY", "VALUE"),
                          help="another chapter parameter, the same for every alpha (e.g. -p profile paper)")
    chapters.add_argument("--output-dir", default=None, help="where the notebooks go (default _build/papermill/NAME/)")
    _cluster_arguments(chapters, jobs=False)
    chapters.set_defaults(func=cmd_chapter_sweep)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; LsbookError -> one line on stderr and exit status 2."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except LsbookError as error:
        lines = [line for line in str(error).strip().splitlines() if line.strip()]
        print(f"error: {lines[0] if lines else type(error).__name__}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader stopped early (`... | head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


# --- data ------------------------------------------------------------------------------------------

def human_size(size: int) -> str:
    """Bytes as a short human-readable string (1.2 GB, 30.1 MB)."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def cmd_data_status(args: argparse.Namespace) -> int:
    print(f"data root: {args.root if args.root is not None else data_root()}  (set LSBOOK_DATA to change it)")
    rows = dataset_status(args.root)
    width = max(len(row.name) for row in rows)
    for row in rows:
        if row.present:
            print(f"{row.name:<{width}}  present  {human_size(row.size_bytes):>9}  {row.path}")
        else:
            print(f"{row.name:<{width}}  missing  {'-':>9}  {row.path}  -> {row.fetch_command}")
    return 0


def cmd_data_fetch(args: argparse.Namespace) -> int:
    info = get_dataset(args.name)
    folder = fetch(info.name, args.root, force=args.force, progress=not args.quiet)
    print(f"{info.name}: verified, in {folder}")
    return 0


# --- one run ---------------------------------------------------------------------------------------

def _config(args: argparse.Namespace) -> RunConfig:
    return run_config(args.recipe, args.alpha, args.seed, args.profile,
                      overrides=length_overrides(args.epochs, args.steps))


def plan_report(config: RunConfig) -> dict[str, Any]:
    """What ``config`` (lsbook.run_config.RunConfig) will train, in optimiser steps (lsbook.schedule)."""
    schedule = schedule_of(config.recipe)
    return {"key": config.key, "recipe": config.recipe.name, "profile": config.profile,
            "alpha": config.alpha, "seed": config.seed,
            "train_examples": schedule.train_examples, "batch_size": config.recipe.batch_size,
            "steps_per_epoch": schedule.steps_per_epoch, "epochs": schedule.epochs,
            "total_steps": schedule.total_steps, "lr": config.recipe.lr, "lr_schedule": schedule.kind,
            "lr_gamma": schedule.lr_gamma, "lr_milestone_steps": list(schedule.milestone_steps),
            "estimated_seconds": estimated_seconds(config.recipe), "config": config.as_dict()}


def format_plan(report: dict[str, Any]) -> str:
    """:func:`plan_report` as lines for people, the configuration last."""
    epochs = report["total_steps"] / report["steps_per_epoch"]
    kind, milestones = report["lr_schedule"], report["lr_milestone_steps"]
    if kind == "linear":
        lr = f"{report['lr']:g}, decaying linearly to 0 over {report['total_steps']:,} steps"
    elif kind in ("multistep", "step") and milestones:
        shown = ", ".join(f"{m:,}" for m in milestones[:8])
        more = f", ... ({len(milestones)} in all)" if len(milestones) > 8 else ""
        lr = f"{report['lr']:g}, ×{report['lr_gamma']:g} at steps {shown}{more}"
    else:
        lr = f"{report['lr']:g}, constant"
    lines = [f"run {report['key']}: {report['recipe']} [{report['profile']}] alpha={report['alpha']:g} "
             f"seed={report['seed']}",
             f"  training examples  {report['train_examples']:,}",
             f"  steps per epoch    {report['steps_per_epoch']:,} (batches of {report['batch_size']})",
             f"  optimiser steps    {report['total_steps']:,} ({epochs:.6g} epochs)",
             f"  learning rate      {lr}",
             f"  estimated time     {_duration(report['estimated_seconds'])}",
             "  configuration (its hash is the key):"]
    config = dict(report["config"])
    recipe = config.pop("resolved_recipe", {})
    lines += [f"    {name} = {json.dumps(value, sort_keys=True)}" for name, value in sorted(config.items())]
    lines += [f"    resolved_recipe.{name} = {json.dumps(value, sort_keys=True)}" for name, value in sorted(recipe.items())]
    return "\n".join(lines)


def _duration(seconds: float | None) -> str:
    """"52 min on this project's machine (2 cores, measured speeds)", or why there is no estimate."""
    if seconds is None:
        return "unknown: no speed of this model was measured on this project's machine"
    shown = f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min" if seconds >= 90 \
        else f"{seconds:.0f} s"
    return f"{shown} one at a time on this project's 2-core CPU (lsbook.schedule.MEASURED_SPEED)"


def cmd_plan(args: argparse.Namespace) -> int:
    report = plan_report(_config(args))
    print(json.dumps(report, indent=1, sort_keys=True) if args.json else format_plan(report))
    return 0


def _use_threads(threads: int | None) -> None:
    if threads is not None:
        torch.set_num_threads(check_positive_int(threads, "threads"))


def cmd_train(args: argparse.Namespace) -> int:
    config = _config(args)
    pick_device(args.device)
    if args.threads is not None:
        check_positive_int(args.threads, "threads")
    store = Store(args.results)
    stored = find_run(config, store)
    if stored is not None and (stored.has_model or not args.keep_model):
        print(run_summary(stored) + "\n  (already stored: not trained again)")
        return 0
    _use_threads(args.threads)
    record = ensure(config, store=store, device=args.device, progress=not args.quiet,
                    keep_model=args.keep_model, allow_dirty=args.allow_dirty)
    print(run_summary(record))
    return 0


def run_summary(record) -> str:
    """A few lines for people: what the stored run is and its headline metrics."""
    c, m = record.config, record.metrics
    teacher = f", teacher {c['teacher_key']}" if c.get("teacher_key") else ""
    lines = [f"run {record.key}: {c['recipe']} [{c['profile']}] alpha={c['alpha']:g} seed={c['seed']}{teacher}"]
    for split in ("test", "val"):
        if f"{split}_accuracy" in m:
            lines.append(f"  {split}: accuracy {100 * m[f'{split}_accuracy']:.2f}%  "
                         f"NLL {m.get(f'{split}_nll', float('nan')):.4f}  ECE {m.get(f'{split}_ece', float('nan')):.4f}")
    if "val_temperature" in m:
        lines.append(f"  temperature fitted on val: T={m['val_temperature']:.3f}; "
                     f"test ECE at T {m.get('test_ece_at_val_temperature', float('nan')):.4f}")
    p = record.provenance
    lines.append(f"  trained {p.get('date', '?')} on {p.get('device', '?')} in "
                 f"{p.get('wall_seconds', 0):.1f} s; stored at {record.path}")
    return "\n".join(lines)


def runs_table(records: list) -> list[str]:
    """One line per record: key, recipe, profile, α, seed, teacher, distillation T, probe, epochs,
    test accuracy, ECE, T fitted on val, date."""
    header = (f"{'key':16}  {'recipe':22} {'profile':7} {'alpha':>6} {'seed':>4} {'teacher':16} {'T':>5} "
              f"{'probe':18} {'epochs':>6} {'test acc':>8} {'ECE':>6} {'T(val)':>6}  date")
    lines = [header]
    for record in sorted(records, key=lambda r: (r.config["recipe"], r.config["profile"], r.config["alpha"],
                                                 r.config["seed"], r.key)):
        c, m = record.config, record.metrics
        distill = c.get("distill") or {}
        temperature = distill.get("temperature", c.get("temperature"))  # a student's, or a γ record's
        probe = (c.get("step_callback") or "-").split("(")[0][:18]
        accuracy = f"{100 * m['test_accuracy']:.2f}" if "test_accuracy" in m else "-"
        ece = f"{m['test_ece']:.3f}" if "test_ece" in m else "-"
        fitted = f"{m['val_temperature']:.2f}" if "val_temperature" in m else "-"
        epochs = m.get("epochs", (c.get("resolved_recipe") or {}).get("epochs", "-"))
        lines.append(f"{record.key:16}  {c['recipe']:22} {c['profile']:7} {c['alpha']:6.3g} {c['seed']:4d} "
                     f"{(c.get('teacher_key') or '-'):16} {(f'{temperature:g}' if temperature else '-'):>5} "
                     f"{probe:18} {epochs if epochs is not None else '-':>6} {accuracy:>8} {ece:>6} "
                     f"{fitted:>6}  {record.provenance.get('date', '?')[:16]}")
    return lines


def cmd_runs(args: argparse.Namespace) -> int:
    store = Store(args.results)
    good, bad = store.scan(check_arrays=True)
    good = [r for r in good if (args.recipe is None or r.config["recipe"] == args.recipe)
            and (args.profile is None or r.config["profile"] == args.profile)]
    if good:
        print("\n".join(runs_table(good)))
    print(f"{len(good)} run(s) in {store.root}")
    for _, reason in bad:
        print(f"problem: {reason}", file=sys.stderr)
    return 1 if bad else 0


def cmd_runs_ensure(args: argparse.Namespace) -> int:
    """Train every run the book shows at the profile that is not stored (or print them, --dry-run):
    the first step of scripts/build_book.sh, so that the pages only read the store."""
    profile = resolve_profile(args.profile)
    _use_threads(args.threads)
    specs = book_runs(profile)
    print(f"the book at the {profile} profile shows {len(specs)} run(s) of its own", flush=True)
    return run_sweep(args, specs) if specs else 0


# --- grids -----------------------------------------------------------------------------------------

def cmd_sweep(args: argparse.Namespace) -> int:
    specs = specs_from_args(args)
    if args.threads is not None:
        check_positive_int(args.threads, "threads")
    _use_threads(args.threads)
    return run_sweep(args, specs)


def cmd_mutual_info(args: argparse.Namespace) -> int:
    setup = MI_SETUPS[check_choice(args.setup, MI_SETUPS, "mutual-information setup")]
    alphas = [check_alpha(a) for a in (args.alphas if args.alphas is not None else setup.alphas)]
    _use_threads(args.threads)
    failures = 0
    for alpha in alphas:
        for seed in args.seeds:
            try:
                record = ensure_curve(setup, alpha, seed, args.profile, store=Store(args.results),
                                      device=args.device, progress=not args.quiet, allow_dirty=args.allow_dirty,
                                      keep_model=args.keep_model)
            except LsbookError as error:  # reported; the grid goes on
                failures += 1
                print(f"failed: α={alpha:g} seed={seed}: {error}", file=sys.stderr)
                continue
            steps, values = curve(record)
            print(f"α={alpha:g} seed={seed}: run {record.key}, MI at steps {steps[0]}..{steps[-1]}: "
                  f"{values[0]:.3f} → max {values.max():.3f} → {values[-1]:.3f} nats")
    return 1 if failures else 0


# --- chapters --------------------------------------------------------------------------------------

def cmd_claims(args: argparse.Namespace) -> int:
    """Print the claim ledger: an aligned table, or JSON with --json."""
    profile = resolve_profile(args.profile)
    chapters = [check_choice(c, claims.CHAPTERS, "chapter") for c in (args.chapter or [])]
    rows = claims.ledger(profile, store=Store(args.results), chapters=chapters or None)
    print(claims.ledger_json(rows, profile) if args.json else claims.ledger_text(rows))
    return 0


def cmd_chapter_list(args: argparse.Namespace) -> int:
    for name in chapter_names():
        print(f"{name}: {chapter_title(name)}")
        for key, info in chapter_parameters(name).items():
            print(f"    {key} = {info['default']}" + (f"  # {info['help']}" if info["help"] else ""))
    return 0


def cmd_chapter_run(args: argparse.Namespace) -> int:
    parameters = parse_parameters(args.name, [tuple(p) for p in args.parameter or []])
    print(run_chapter(args.name, parameters, args.output, kernel_name=args.kernel, progress=not args.quiet))
    return 0


def cmd_chapter_sweep(args: argparse.Namespace) -> int:
    return run_chapter_sweep(args)
