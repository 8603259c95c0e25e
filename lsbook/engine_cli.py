"""Command line of the training engine: ``train``, ``runs`` and ``sweep`` (DESIGN.md, "Command-line").

- ``python -m lsbook train RECIPE --alpha A --seed S --profile P [--device D] [--epochs N]``:
  one run into the store (a stored run is shown at once, without training; a killed run resumes);
- ``python -m lsbook runs [--recipe R] [--profile P]``: a table of the stored runs;
- ``python -m lsbook sweep RECIPE --alphas 0 0.1 --seeds 0 1 --profile P``: the grid, locally,
  skipping stored runs, going on after a failed run and listing failures at the end (exit 1).

Every argument is checked before anything runs: a bad one is a one-line error (exit 2, via
lsbook.cli) and nothing is written to the store.
"""

from __future__ import annotations

import argparse
import functools
import sys
import traceback
from typing import Any

from lsbook.validation import check_positive_int

DEFAULT_PROFILE = "cpu"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train``, ``runs`` and ``sweep`` sub-commands."""
    train = subparsers.add_parser("train", help="train one run into the results store (or show it if stored)",
                                  description="Train one run (recipe, alpha, seed, profile) into the results store.")
    train.add_argument("recipe", help="recipe name, e.g. fcn-fmnist (see lsbook.recipes.RECIPES)")
    train.add_argument("--alpha", type=float, default=0.0, help="label smoothing alpha in [0, 1) (default 0)")
    train.add_argument("--seed", type=int, default=0, help="random seed >= 0 (default 0)")
    _common(train)
    train.set_defaults(func=cmd_train)

    plan = subparsers.add_parser("plan", help="show what a run would train (configuration, key, steps), "
                                              "without training",
                                 description="Resolve a run's configuration and key and print its training "
                                             "examples, steps per epoch, total optimiser steps and learning-rate "
                                             "milestones in steps. Nothing is loaded or trained.")
    plan.add_argument("recipe", help="recipe name, e.g. resnet56-cifar10 (see lsbook.recipes.RECIPES)")
    plan.add_argument("--alpha", type=float, default=0.0, help="label smoothing alpha in [0, 1) (default 0)")
    plan.add_argument("--seed", type=int, default=0, help="random seed >= 0 (default 0)")
    plan.add_argument("--profile", default=DEFAULT_PROFILE, help="smoke, cpu or paper (default cpu)")
    plan.add_argument("--epochs", type=int, default=None, help="override the profile's number of epochs")
    plan.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    plan.set_defaults(func=cmd_plan)

    runs = subparsers.add_parser("runs", help="list the runs in the results store",
                                 description="List the stored runs (and any damaged or stale record).")
    runs.add_argument("--recipe", default=None, help="only this recipe")
    runs.add_argument("--profile", default=None, help="only this profile")
    runs.add_argument("--results", default=None, help="results store folder (default $LSBOOK_RESULTS or <repo>/results)")
    runs.set_defaults(func=cmd_runs)

    sweep = subparsers.add_parser("sweep", help="train a grid of alphas x seeds locally, skipping stored runs",
                                  description="Train every (alpha, seed) of a grid that is not stored yet.")
    sweep.add_argument("recipe", help="recipe name, e.g. fcn-fmnist")
    sweep.add_argument("--alphas", type=float, nargs="+", required=True, help="alphas in [0, 1)")
    sweep.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds >= 0 (default 0)")
    _common(sweep)
    from lsbook import cluster  # --executor slurm, --dry-run, distillation studies (lsbook.cluster)

    cluster.add_cluster_arguments(sweep)
    cluster.add_distillation_arguments(sweep)
    sweep.set_defaults(func=functools.partial(cluster.run_sweep, local=cmd_sweep))


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default=DEFAULT_PROFILE, help="smoke, cpu or paper (default cpu)")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda or cuda:N")
    parser.add_argument("--epochs", type=int, default=None, help="override the profile's number of epochs")
    parser.add_argument("--keep-model", action="store_true", help="store the final weights too (teachers)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (default: torch's choice, one per core)")
    parser.add_argument("--results", default=None, help="results store folder (default $LSBOOK_RESULTS or <repo>/results)")


def _threads(args: argparse.Namespace) -> int | None:
    """Check --threads (before anything runs); returns it or None."""
    if getattr(args, "threads", None) is None:
        return None
    return check_positive_int(args.threads, "threads")


def _use_threads(threads: int | None) -> None:
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def _overrides(args: argparse.Namespace) -> dict[str, Any] | None:
    if args.epochs is None:
        return None
    return {"epochs": check_positive_int(args.epochs, "epochs")}


def cmd_train(args: argparse.Namespace) -> int:
    from lsbook.store import Store
    from lsbook.runtime import pick_device
    from lsbook.train import ensure_run, plan_run

    overrides = _overrides(args)
    plan = plan_run(args.recipe, args.alpha, args.seed, args.profile, overrides=overrides)
    pick_device(args.device)
    _use_threads(_threads(args))
    store = Store(args.results)
    stored = store.get(plan.key, plan.config)
    if stored is not None and (stored.has_model or not args.keep_model):
        print(stored.summary() + "\n  (already stored: not trained again)")
        return 0
    record = ensure_run(args.recipe, args.alpha, args.seed, args.profile, store=store, device=args.device,
                        progress=not args.quiet, overrides=overrides, keep_model=args.keep_model)
    print(record.summary())
    return 0


def plan_report(plan) -> dict[str, Any]:
    """What ``plan`` (lsbook.train.RunPlan) will train, in optimiser steps (lsbook.schedule)."""
    from lsbook.schedule import schedule_of

    schedule = schedule_of(plan.recipe)
    return {"key": plan.key, "recipe": plan.recipe.name, "profile": plan.config["profile"],
            "alpha": plan.config["alpha"], "seed": plan.config["seed"],
            "train_examples": schedule.train_examples, "batch_size": plan.recipe.batch_size,
            "steps_per_epoch": schedule.steps_per_epoch, "epochs": schedule.epochs,
            "total_steps": schedule.total_steps, "lr": plan.recipe.lr, "lr_schedule": schedule.kind,
            "lr_gamma": schedule.lr_gamma, "lr_milestone_steps": list(schedule.milestone_steps),
            "config": plan.config}


def format_plan(report: dict[str, Any]) -> str:
    """``plan_report`` as lines for people, the configuration last."""
    import json

    epochs = report["total_steps"] / report["steps_per_epoch"]
    kind, milestones = report["lr_schedule"], report["lr_milestone_steps"]
    if kind == "linear":
        lr = f"{report['lr']:g}, decaying linearly to 0 over {report['total_steps']:,} steps"
    elif kind in ("multistep", "step") and milestones:
        shown = ", ".join(f"{m:,}" for m in milestones[:8]) + (f", ... ({len(milestones)} in all)"
                                                               if len(milestones) > 8 else "")
        lr = f"{report['lr']:g}, ×{report['lr_gamma']:g} at steps {shown}"
    else:
        lr = f"{report['lr']:g}, constant"
    lines = [f"run {report['key']}: {report['recipe']} [{report['profile']}] alpha={report['alpha']:g} "
             f"seed={report['seed']}",
             f"  training examples  {report['train_examples']:,}",
             f"  steps per epoch    {report['steps_per_epoch']:,} (batches of {report['batch_size']})",
             f"  optimiser steps    {report['total_steps']:,} ({epochs:g} epochs)",
             f"  learning rate      {lr}",
             "  configuration (its hash is the key):"]
    config = dict(report["config"])
    recipe = config.pop("resolved_recipe", {})
    lines += [f"    {name} = {json.dumps(value, sort_keys=True)}" for name, value in sorted(config.items())]
    lines += [f"    resolved_recipe.{name} = {json.dumps(value, sort_keys=True)}"
              for name, value in sorted(recipe.items())]
    return "\n".join(lines)


def cmd_plan(args: argparse.Namespace) -> int:
    import json

    from lsbook.train import plan_run

    report = plan_report(plan_run(args.recipe, args.alpha, args.seed, args.profile, overrides=_overrides(args)))
    print(json.dumps(report, indent=1, sort_keys=True) if args.json else format_plan(report))
    return 0


def runs_table(records: list) -> list[str]:
    """One line per record: key, recipe, profile, α, seed, teacher, epochs, accuracy, ECE, T, date."""
    header = f"{'key':16}  {'recipe':22} {'profile':7} {'alpha':>6} {'seed':>4} {'teacher':16} " \
             f"{'epochs':>6} {'test acc':>8} {'ECE':>6} {'T(val)':>6}  date"
    lines = [header]
    for record in sorted(records, key=lambda r: (r.config["recipe"], r.config["profile"],
                                                 r.config["alpha"], r.config["seed"], r.key)):
        c, m = record.config, record.metrics
        accuracy = f"{100 * m['test_accuracy']:.2f}" if "test_accuracy" in m else "-"
        ece = f"{m['test_ece']:.3f}" if "test_ece" in m else "-"
        temperature = f"{m['val_temperature']:.2f}" if "val_temperature" in m else "-"
        epochs = m.get("epochs", (c.get("resolved_recipe") or {}).get("epochs", "-"))
        lines.append(f"{record.key:16}  {c['recipe']:22} {c['profile']:7} {c['alpha']:6.3g} {c['seed']:4d} "
                     f"{(c.get('teacher_key') or '-'):16} {epochs:>6} {accuracy:>8} {ece:>6} "
                     f"{temperature:>6}  {record.provenance.get('date', '?')[:16]}")
    return lines


def cmd_runs(args: argparse.Namespace) -> int:
    from lsbook.store import Store

    store = Store(args.results)
    good, bad = store.scan()
    good = [r for r in good if (args.recipe is None or r.config["recipe"] == args.recipe)
            and (args.profile is None or r.config["profile"] == args.profile)]
    if good:
        print("\n".join(runs_table(good)))
    print(f"{len(good)} run(s) in {store.root}")
    for folder, reason in bad:
        print(f"problem: {reason}", file=sys.stderr)
    return 1 if bad else 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from lsbook.store import Store
    from lsbook.runtime import pick_device
    from lsbook.train import ensure_run, plan_run

    overrides = _overrides(args)
    pick_device(args.device)
    threads = _threads(args)
    grid = [(alpha, seed) for seed in args.seeds for alpha in args.alphas]
    plans = [plan_run(args.recipe, alpha, seed, args.profile, overrides=overrides) for alpha, seed in grid]
    _use_threads(threads)
    store = Store(args.results)
    trained, skipped, failed = 0, 0, []
    for (alpha, seed), plan in zip(grid, plans):
        label = f"{args.recipe} [{args.profile}] alpha={alpha:g} seed={seed}"
        try:
            stored = store.get(plan.key, plan.config)
            if stored is not None and (stored.has_model or not args.keep_model):
                print(f"stored   {label}: run {plan.key}", flush=True)
                skipped += 1
                continue
            print(f"training {label}: run {plan.key}", flush=True)
            record = ensure_run(args.recipe, alpha, seed, args.profile, store=store, device=args.device,
                                progress=not args.quiet, overrides=overrides, keep_model=args.keep_model)
            print(record.summary(), flush=True)
            trained += 1
        except KeyboardInterrupt:
            raise
        except Exception as error:  # noqa: BLE001 - report and go on with the grid
            message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            failed.append((label, f"{type(error).__name__}: {message}"))
            print(f"FAILED   {label}: {type(error).__name__}: {message}", file=sys.stderr, flush=True)
            if not isinstance(error, ValueError):
                traceback.print_exc(file=sys.stderr)
    print(f"sweep {args.recipe} [{args.profile}]: {len(grid)} run(s): {skipped} already stored, "
          f"{trained} trained, {len(failed)} failed")
    for label, reason in failed:
        print(f"  failed: {label}: {reason}", file=sys.stderr)
    return 1 if failed else 0
