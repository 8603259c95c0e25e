"""Command line of the experiments: ``distill`` (Table 4, Figures 7/8) and ``mutual-info``.

``register(subparsers)`` adds them to ``python -m lsbook`` (lsbook.cli lists this module);
``python -m lsbook.experiments distill ...`` runs the same commands on their own.
"""

from __future__ import annotations

import argparse
import sys

from lsbook.profiles import PROFILES


def _distill(args: argparse.Namespace) -> int:
    from lsbook.experiments.distillation_grid import SETUPS, expand_grid, run_grid
    from lsbook.store import Store
    from lsbook.validation import check_choice

    check_choice(args.setup, SETUPS, "distillation setup")
    setup = SETUPS[args.setup].reduced(alphas=args.alphas, temperatures=args.temperatures)
    specs = expand_grid(setup, args.seeds, table4=not args.no_table4, figure=not args.no_figure)
    print(f"{setup.title} [{args.profile}]: {len(specs)} runs for seeds {args.seeds}", file=sys.stderr)

    def report(spec, error):
        print(f"failed: {spec.describe()}: {error}", file=sys.stderr)

    outcome = run_grid(setup, args.profile, args.seeds, store=Store(args.results), device=args.device,
                       table4=not args.no_table4, figure=not args.no_figure, on_error=report)
    print(f"{outcome['done']} runs stored, {len(outcome['failed'])} failed")
    for spec, message in outcome["failed"]:
        print(f"  {spec.describe()}: {message}")
    return 1 if outcome["failed"] else 0


def _mutual_info(args: argparse.Namespace) -> int:
    from lsbook.experiments.mutual_info import MI_SETUPS, curve, ensure_curve
    from lsbook.store import Store
    from lsbook.validation import check_alpha, check_choice

    check_choice(args.setup, MI_SETUPS, "mutual-information setup")
    setup = MI_SETUPS[args.setup]
    alphas = [check_alpha(a) for a in (args.alphas if args.alphas is not None else setup.alphas)]
    failures = 0
    for alpha in alphas:
        for seed in args.seeds:
            try:
                record = ensure_curve(setup, alpha, seed, args.profile, store=Store(args.results),
                                      device=args.device)
            except Exception as error:  # noqa: BLE001 - report and go on with the grid
                failures += 1
                print(f"failed: α={alpha:g} seed={seed}: {error}", file=sys.stderr)
                continue
            steps, values = curve(record)
            print(f"α={alpha:g} seed={seed}: run {record.key}, MI at steps {steps[0]}..{steps[-1]}: "
                  f"{values[0]:.3f} → max {values.max():.3f} → {values[-1]:.3f} nats")
    return 1 if failures else 0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", choices=PROFILES, default="cpu", help="run profile (default cpu)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds (default 0)")
    parser.add_argument("--alphas", type=float, nargs="+", default=None, help="α values (default: the setup's)")
    parser.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N")
    parser.add_argument("--results", default=None, help="results store folder (default <repo>/results)")


def register(subparsers) -> None:
    """Add the ``distill`` and ``mutual-info`` sub-commands."""
    from lsbook.experiments.distillation_grid import SETUPS
    from lsbook.experiments.mutual_info import MI_SETUPS

    distill = subparsers.add_parser("distill", help="run the distillation study (Table 4, Figures 7/8)")
    distill.add_argument("setup", help=f"one of {', '.join(SETUPS)}")
    _common(distill)
    distill.add_argument("--temperatures", type=float, nargs="+", default=None,
                         help="teacher temperatures of M3 (default: the setup's)")
    distill.add_argument("--no-table4", action="store_true", help="skip Table 4's runs")
    distill.add_argument("--no-figure", action="store_true", help="skip the M1–M4 runs")
    distill.set_defaults(func=_distill)

    mutual = subparsers.add_parser("mutual-info", help="train runs with the mutual-information curve")
    mutual.add_argument("setup", help=f"one of {', '.join(MI_SETUPS)}")
    _common(mutual)
    mutual.set_defaults(func=_mutual_info)


def main(argv: list[str] | None = None) -> int:
    """``python -m lsbook.experiments``: these commands alone, with lsbook.cli's error handling."""
    parser = argparse.ArgumentParser(prog="python -m lsbook.experiments")
    register(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__}",
              file=sys.stderr)
        return 2
