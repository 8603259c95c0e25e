"""``python -m lsbook``: the command line of DESIGN.md ("Command-line contract").

Each group of commands lives beside the code it drives and registers itself here through a
``register(subparsers)`` function; a handler returns an exit status. User errors (any
``ValueError``, missing files) are printed as one line on stderr with exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Modules that add sub-commands: data (status, fetch), engine (train, runs, sweep), chapters
# (chapter), cluster (chapter-sweep), experiments (distill, mutual-info), claims (the claim ledger).
COMMAND_MODULES = ("lsbook.data.cli", "lsbook.engine_cli", "lsbook.chapters", "lsbook.cluster",
                   "lsbook.experiments.cli", "lsbook.claims")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lsbook", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
